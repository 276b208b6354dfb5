/* Shared by the default scheduler's step tests: nodes and pods from YAML,
 * filled the way the scheduler's cache fills them, and a cycle that runs
 * one step the way the framework does (prefilter, filter per node;
 * prescore, score per node, normalize). */
#ifndef KRAAL_SCHED_TESTUTIL_H
#define KRAAL_SCHED_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <kraal/scheduler.h>

#include "podinfo.h"

#define T_MAX_NODES 16
#define T_MAX_PODS  64
#define T_MAX_NS    8

typedef struct tnode {
    kr_sched_node_t n;
    const kr_sched_pod_t *pods[T_MAX_PODS];
    const kr_sched_pod_t *aff[T_MAX_PODS];
    const kr_sched_pod_t *anti[T_MAX_PODS];
    kr_sched_taint_t taints[8];
    kr_sched_port_t ports[T_MAX_PODS];
} tnode_t;

typedef struct tctx {
    kr_arena_t *arena; /* nodes, YAML, cycle state */
    tnode_t nodes[T_MAX_NODES];
    uint32_t n_nodes;
    const kr_sched_node_t *node_ptrs[T_MAX_NODES];
    const kr_sched_node_t *with_aff[T_MAX_NODES];
    const kr_sched_node_t *with_anti[T_MAX_NODES];
    sched_pod_t *owned[T_MAX_PODS * 2];
    uint32_t n_owned;
    const char *ns_names[T_MAX_NS];
    const kr_value_t *ns_labels[T_MAX_NS];
    uint32_t n_ns;
    kr_sched_snapshot_t snap;
    kr_sched_cycle_t cycle;
    void *self; /* passed to the step's callbacks (NULL for the built-in steps) */
} tctx_t;

/* The result of a step over every node of the context. */
typedef struct tresult {
    kr_sched_code_t prefilter; /* or prescore for tc_score */
    kr_sched_code_t code[T_MAX_NODES];
    const char *reason[T_MAX_NODES]; /* first reason, or NULL */
    uint32_t n_reasons[T_MAX_NODES];
    const char *reasons[T_MAX_NODES][KR_SCHED_MAX_REASONS];
    int64_t score[T_MAX_NODES];
} tresult_t;

tctx_t *tc_new(void);
void tc_free(tctx_t *c);

/* The first YAML document of `text`, in the context's arena. */
kr_value_t *tc_yaml(tctx_t *c, const char *text);

/* A node from YAML (metadata.name/labels, spec.unschedulable/taints,
 * status.allocatable or capacity, status.conditions Ready and
 * NetworkUnavailable).  Returns its index. */
uint32_t tc_node(tctx_t *c, const char *yaml);
/* A pod from YAML placed on node `node` (bound: spec.nodeName set). */
const kr_sched_pod_t *tc_place(tctx_t *c, uint32_t node, const char *yaml);
/* The pod to schedule (keeps its object). */
const kr_sched_pod_t *tc_pod(tctx_t *c, const char *yaml);
/* Labels of a namespace, for namespaceSelector. */
void tc_namespace(tctx_t *c, const char *name, const char *labels_yaml);

/* Runs a step's prefilter then filter on every node.  With prefilter SKIP
 * every node passes (filter is not called), as the framework does. */
void tc_filter(tctx_t *c, const kr_sched_step_ops_t *ops, const kr_sched_pod_t *pod, tresult_t *r);
/* Runs prefilter (when the step filters), prescore, score on every node and
 * normalize, every node counting as feasible.  Prescore SKIP leaves every
 * score at 0. */
void tc_score(tctx_t *c, const kr_sched_step_ops_t *ops, const kr_sched_pod_t *pod, tresult_t *r);

#endif
