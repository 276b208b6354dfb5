/* The scheduler's cache, after kube-scheduler's backend/cache: every node
 * (kr_sched_node_t: allocatable, labels, taints, conditions, and the pods
 * on it with their summed requests and host ports) and every pod on a node,
 * by uid.  A pod counts against its node from the moment the scheduler
 * chooses it (assume), before the binding is confirmed; the informer's
 * update with spec.nodeName confirms it, a failed binding forgets it.
 *
 * The snapshot of a cycle is the cache itself: the scheduler's thread is
 * the only one that changes the cache, and it never does during a cycle
 * (informer events and binding replies are handled between cycles), so a
 * cycle reads the nodes in place and nothing is copied per cycle.  The
 * node list and its affinity subsets are rebuilt only when nodes come or
 * go, or a node's pods with affinity change.
 *
 * Pods the scheduler placed itself or that preemption nominated are
 * pointers the cache does not own (see sched_cache_nominate).
 * Single-threaded. */
#ifndef KRAAL_SCHED_CACHE_H
#define KRAAL_SCHED_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/scheduler.h>
#include <kraal/value.h>

#include "htab.h"
#include "podinfo.h"

/* A kr_sched_node_t with the room its arrays have.  A live node keeps its
 * arrays on the heap (`arrays` NULL); a copy made for one cycle
 * (sched_node_clone) keeps them in the cycle's arena. */
typedef struct sched_nodebuf {
    kr_sched_node_t n;
    kr_arena_t *arrays;  /* NULL: heap */
    kr_arena_t *scalars; /* requested extended resources */
    uint32_t cap_pods, cap_aff, cap_anti, cap_ports;
} sched_nodebuf_t;

typedef struct sched_cnode {
    sched_nodebuf_t b; /* first: a kr_sched_node_t * of the cache is a sched_cnode_t * */
    sched_hnode_t hn;
    char *name;
    kr_arena_t *arena; /* what the Node object parses into (reset when it changes) */
    bool present;      /* false: the Node is gone, its pods are not yet */
    /* pods nominated to this node by preemption (not owned) */
    uint32_t n_nominated, cap_nominated;
    const kr_sched_pod_t **nominated;
} sched_cnode_t;

typedef struct sched_cache sched_cache_t;

sched_cache_t *sched_cache_new(void);
/* Frees every node and the pods the cache owns. */
void sched_cache_destroy(sched_cache_t **self_p);

/* The namespaces' labels for snapshot->ns_labels. */
void sched_cache_set_ns_labels(sched_cache_t *c,
                               const kr_value_t *(*fn)(const kr_sched_snapshot_t *, const char *),
                               void *ud);

/* Adds or updates the node of `node_obj` (a Node; the cache points into
 * it, so the caller keeps it alive and unchanged until the next set or
 * remove of that node — the informer's cached object is).  *changed (may
 * be NULL) tells whether anything a step reads changed (allocatable,
 * labels, taints, conditions, unschedulable): only then may a pod that
 * did not fit fit now.  Fails (KR_E_INVALID) on an allocatable that does
 * not parse; the node is then kept with nothing allocatable. */
int sched_cache_set_node(sched_cache_t *c, const kr_value_t *node_obj, bool *changed,
                         kr_error_t *err);
/* The Node is gone; its pods stay counted until they go too. */
void sched_cache_remove_node(sched_cache_t *c, const char *name);
sched_cnode_t *sched_cache_node(const sched_cache_t *c, const char *name);

/* A pod on a node (sp->pod.node_name set), new or changed: takes *sp.
 * An assumed pod of that uid is confirmed (replaced, moved if the node
 * differs).  Returns true when the pod was not known before. */
bool sched_cache_set_pod(sched_cache_t *c, sched_pod_t **sp);
/* The pod is gone (deleted, finished, or unassigned).  Returns true when
 * the cache had it. */
bool sched_cache_remove_pod(sched_cache_t *c, const char *uid);
/* The cache's pod of `uid`, or NULL; *assumed (may be NULL) whether it is
 * only assumed. */
const sched_pod_t *sched_cache_pod(const sched_cache_t *c, const char *uid, bool *assumed);

/* The resourceVersion of the object the cache's pod of `uid` was parsed
 * from (0: unknown), so that an unchanged pod listed again need not be
 * parsed again.  set does nothing for a pod the cache does not have. */
void sched_cache_set_pod_rv(sched_cache_t *c, const char *uid, uint64_t rv);
uint64_t sched_cache_pod_rv(const sched_cache_t *c, const char *uid);

/* The scheduler chose `node` for *sp: takes *sp and counts it there at
 * once (pod.node_name set to node).  KR_E_NOT_FOUND when the node is
 * unknown, KR_E_ALREADY_EXISTS when the uid is in the cache (*sp is then
 * left to the caller). */
int sched_cache_assume(sched_cache_t *c, sched_pod_t **sp, const char *node, kr_error_t *err);
/* The binding failed: takes the assumed pod out and gives it back (node_name
 * ""); NULL when the pod is not assumed (confirmed meanwhile, or gone). */
sched_pod_t *sched_cache_forget(sched_cache_t *c, const char *uid);

/* Every present node and the subsets, for one cycle. */
const kr_sched_snapshot_t *sched_cache_snapshot(sched_cache_t *c);
size_t sched_cache_node_count(const sched_cache_t *c);
size_t sched_cache_pod_count(const sched_cache_t *c);

/* Preemption nominated `pod` (a pending pod the caller owns) to `node`:
 * its requests count there for pods of lower or equal priority until
 * sched_cache_unnominate.  A pod is nominated to one node at most. */
void sched_cache_nominate(sched_cache_t *c, const kr_sched_pod_t *pod, const char *node);
void sched_cache_unnominate(sched_cache_t *c, const kr_sched_pod_t *pod);
/* How many pods are nominated over all nodes (a cycle checks no node's
 * list while there are none). */
uint32_t sched_cache_nominated(const sched_cache_t *c);

/* ---- node copies for "what if" questions (preemption, nominated pods) ---- */

/* A copy of `n` whose pods can change without touching `n`: arrays and
 * requested scalars in `arena`. */
sched_nodebuf_t *sched_node_clone(kr_arena_t *arena, const kr_sched_node_t *n);
void sched_node_add_pod(sched_nodebuf_t *b, const kr_sched_pod_t *p);
/* Removes `p` (by pointer); false when it is not on the node. */
bool sched_node_remove_pod(sched_nodebuf_t *b, const kr_sched_pod_t *p);

#endif
