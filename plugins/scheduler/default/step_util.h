/* What several built-in steps share: taint/toleration matching
 * (v1helper.TolerationsTolerateTaint), the pod's node selector and required
 * node affinity compiled once per cycle (component-helpers nodeaffinity),
 * topology-pair counters, and a cache of failure messages that a filter
 * running on several threads can fill without allocating per node. */
#ifndef KRAAL_SCHED_STEP_UTIL_H
#define KRAAL_SCHED_STEP_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <kraal/scheduler.h>

/* ---- labels, taints, tolerations ---------------------------------------- */

/* The value of label `key` in a labels map, or NULL when absent. */
const char *sched_label(const kr_value_t *labels, const char *key);

bool sched_toleration_tolerates(const kr_sched_toleration_t *t, const char *key, const char *value,
                                kr_sched_effect_t effect);
bool sched_tolerates(const kr_sched_pod_t *pod, const char *key, const char *value,
                     kr_sched_effect_t effect);
/* FindMatchingUntoleratedTaint with DoNotScheduleTaintsFilterFunc: the
 * first NoSchedule or NoExecute taint of the node the pod does not
 * tolerate, or NULL. */
const kr_sched_taint_t *sched_untolerated_taint(const kr_sched_pod_t *pod,
                                                const kr_sched_node_t *node);

/* ---- node selectors -------------------------------------------------------- */

typedef enum sched_nsop {
    SCHED_NS_IN,
    SCHED_NS_NOTIN,
    SCHED_NS_EXISTS,
    SCHED_NS_DOES_NOT_EXIST,
    SCHED_NS_GT,
    SCHED_NS_LT,
} sched_nsop_t;

typedef struct sched_nsreq {
    const char *key;
    sched_nsop_t op;
    bool field; /* matchFields (metadata.name) */
    uint32_t n_values;
    const char *const *values;
    int64_t num; /* Gt, Lt */
} sched_nsreq_t;

/* A NodeSelectorTerm: its requirements ANDed.  An empty or invalid term
 * matches nothing, as upstream's. */
typedef struct sched_nsterm {
    uint32_t n;
    const sched_nsreq_t *reqs;
    bool valid;
    int32_t weight; /* preferred terms */
} sched_nsterm_t;

/* nodeaffinity.GetRequiredNodeAffinity: spec.nodeSelector and the required
 * node affinity terms (ORed); strings point into the pod's object. */
typedef struct sched_nodeaff {
    const kr_value_t *node_selector; /* a map with entries, or NULL */
    bool has_required;               /* requiredDuringScheduling... present */
    uint32_t n_terms;
    const sched_nsterm_t *terms;
} sched_nodeaff_t;

/* Compiles the pod's required node affinity into `out` (in `arena`). */
void sched_nodeaff_compile(kr_arena_t *arena, const kr_value_t *pod_obj, sched_nodeaff_t *out);
/* True when the pod has no node selector and no required node affinity. */
bool sched_nodeaff_empty(const sched_nodeaff_t *na);
bool sched_nodeaff_match(const sched_nodeaff_t *na, const kr_sched_node_t *node);

/* The pod's preferred node affinity terms (weight != 0), in `arena`. */
uint32_t sched_nodeaff_preferred(kr_arena_t *arena, const kr_value_t *pod_obj,
                                 const sched_nsterm_t **out);
bool sched_nsterm_match(const sched_nsterm_t *t, const kr_sched_node_t *node);

/* ---- pod affinity terms ---------------------------------------------------- */

/* AffinityTerm.Matches: `pod` is in one of the term's namespaces (or its
 * namespace's labels match the namespaceSelector) and its labels match the
 * selector. */
bool sched_term_matches(const kr_sched_pod_term_t *t, const kr_sched_pod_t *pod,
                        const kr_sched_snapshot_t *snap);

/* ---- topology-pair counters ------------------------------------------------ */

/* (topology key, value) -> count, open addressing in an arena.  Keys and
 * values are not copied: they must outlive the map (node labels and pod
 * terms live for the cycle).  `nonzero` counts the entries whose count is
 * not 0, what upstream's maps hold after deleting entries that drop to 0. */
typedef struct sched_tp_entry {
    const char *key; /* NULL: free slot */
    const char *value;
    uint64_t hash;
    int64_t count;
} sched_tp_entry_t;

typedef struct sched_tpmap {
    kr_arena_t *arena;
    uint32_t cap, used, nonzero;
    sched_tp_entry_t *e;
} sched_tpmap_t;

void sched_tpmap_init(sched_tpmap_t *m, kr_arena_t *arena, uint32_t hint);
/* Adds `delta` to (key, value), creating it at 0 first. Returns the entry. */
sched_tp_entry_t *sched_tpmap_add(sched_tpmap_t *m, const char *key, const char *value,
                                  int64_t delta);
/* The entry or NULL. Never allocates. */
const sched_tp_entry_t *sched_tpmap_find(const sched_tpmap_t *m, const char *key,
                                         const char *value);
int64_t sched_tpmap_get(const sched_tpmap_t *m, const char *key, const char *value);
/* A copy in `arena` (preemption's state_clone). */
void sched_tpmap_clone(sched_tpmap_t *dst, const sched_tpmap_t *src, kr_arena_t *arena);

/* ---- failure messages ------------------------------------------------------ */

/* Interned messages "node(s) had untolerated taint {key: value}" for
 * filters: built once per distinct (key, value) in a cycle, in the cycle's
 * arena (reasons must outlive the step's state: the scheduler counts and
 * prints them after the cycle's states are freed), under a lock, so that a
 * filter called for many nodes, from several threads, allocates only on the
 * first node that fails the same way.  A scheduler that runs filters on
 * several threads must itself leave the arena alone while they run.
 * sched_msgs_free destroys the lock only. */
typedef struct sched_msg sched_msg_t;
typedef struct sched_msgs {
    pthread_mutex_t mu;
    kr_arena_t *arena;
    sched_msg_t *head;
} sched_msgs_t;

void sched_msgs_init(sched_msgs_t *m, kr_arena_t *arena);
const char *sched_msgs_taint(sched_msgs_t *m, const char *key, const char *value);
void sched_msgs_free(sched_msgs_t *m);

/* DefaultNormalizeScore: scales to 0..max by the highest score, reversed
 * (max - score) when `reverse`. */
void sched_default_normalize(int64_t max_priority, bool reverse, int64_t *scores, uint32_t n);

/* ---- the built-in steps (step_*.c), listed in steps.c ---------------------- */

extern const kr_sched_step_ops_t sched_step_node_unschedulable;
extern const kr_sched_step_ops_t sched_step_node_name;
extern const kr_sched_step_ops_t sched_step_node_conditions;
extern const kr_sched_step_ops_t sched_step_node_ports;
extern const kr_sched_step_ops_t sched_step_taint_toleration;
extern const kr_sched_step_ops_t sched_step_node_affinity;
extern const kr_sched_step_ops_t sched_step_fit;
extern const kr_sched_step_ops_t sched_step_least_allocated;
extern const kr_sched_step_ops_t sched_step_most_allocated;
extern const kr_sched_step_ops_t sched_step_balanced_allocation;
extern const kr_sched_step_ops_t sched_step_topology_spread;
extern const kr_sched_step_ops_t sched_step_inter_pod_affinity;

#endif
