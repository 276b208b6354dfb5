/* The scheduling framework: a profile (the filter and score steps a
 * scheduler runs, resolved by name once) and one cycle over it, after
 * kube-scheduler's schedule_one.go and frameworkruntime:
 *
 *   prefilter  every filter step, in order; SKIP drops its filter for this
 *              pod, UNSCHEDULABLE rejects the pod on every node at once
 *   filter     node after node from a rotating start, every filter in
 *              order, stopping at the first that fails; stops after
 *              numFeasibleNodesToFind feasible nodes; a node with pods
 *              nominated there by preemption (of at least the pod's
 *              priority) is checked with them added as well
 *   prescore   every score step with a weight, over the feasible nodes
 *   score      per node, then normalize, times the weight, summed
 *   select     the highest sum, a random one among equals
 *
 * A single feasible node is chosen without scoring, as upstream.  The
 * pod's status.nominatedNodeName, when set and the node fits, is chosen
 * before any other node is examined. */
#ifndef KRAAL_SCHED_FRAMEWORK_H
#define KRAAL_SCHED_FRAMEWORK_H

#include <stdbool.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/scheduler.h>
#include <kraal/value.h>

#include "cache.h"
#include "fiterr.h"

typedef struct sched_step_ref {
    const kr_sched_step_ops_t *ops;
    void *self;
    bool filter;    /* a filter of the profile */
    int64_t weight; /* its score weight; 0: not scored */
} sched_step_ref_t;

typedef struct sched_profile {
    uint32_t n_steps;
    sched_step_ref_t *steps; /* each step once: filters in order, then score-only steps */
    uint32_t n_filters, n_scores;
    uint32_t *filters, *scores; /* indexes into steps, in run order */
    int32_t pct_to_score;       /* percentageOfNodesToScore; 0: adaptive */
    uint32_t next_start;        /* where the next cycle starts looking */
    uint64_t rand;              /* xorshift state for ties */
    unsigned events;            /* union of the filters' events (0 in any: every event) */
} sched_profile_t;

/* Resolves the names: the built-in steps first, then kr_sched_step_find
 * (steps of plugins started before the scheduler).  `filters` and
 * `scores` (with `weights`) may be NULL for the default profile of
 * steps.h.  A name that resolves to nothing, a filter step without filter
 * callback, a score step without score callback or a weight outside
 * 1..100 fails with KR_E_INVALID naming it.  Caller owns the profile. */
sched_profile_t *sched_profile_new(const char *const *filters, uint32_t n_filters,
                                   const char *const *scores, const int64_t *weights,
                                   uint32_t n_scores, int32_t pct_to_score, kr_error_t *err);
void sched_profile_destroy(sched_profile_t **self_p);

/* upstream's numFeasibleNodesToFind */
uint32_t sched_num_feasible_to_find(int32_t pct, uint32_t n_nodes);

/* One cycle of one pod. */
typedef struct sched_run {
    sched_profile_t *prof;
    sched_cache_t *cache; /* the nodes by name, the nominated pods */
    kr_sched_cycle_t cycle;
    const kr_sched_pod_t *pod;
    const kr_sched_snapshot_t *snap;
    void **state; /* per step of the profile */
    bool *skip_filter, *skip_score;
    bool prefiltered;
} sched_run_t;

typedef struct sched_result {
    kr_sched_code_t code; /* SUCCESS, UNSCHEDULABLE (fit says why) or ERROR */
    const kr_sched_node_t *node;
    /* ERROR: what failed; UNSCHEDULABLE: the whole message when there is
     * no node at all ("no nodes available to schedule pods") */
    const char *error;
    sched_fiterr_t fit;  /* UNSCHEDULABLE */
    uint8_t *node_codes; /* UNSCHEDULABLE: each snapshot node's kr_sched_code_t */
    unsigned events;     /* UNSCHEDULABLE: what may make it fit (0: anything) */
    uint32_t examined, feasible;
} sched_result_t;

/* Starts a cycle (nothing runs yet); everything lives in `arena`. */
void sched_run_init(sched_run_t *r, sched_profile_t *prof, sched_cache_t *cache, kr_arena_t *arena,
                    const kr_sched_snapshot_t *snap, const kr_sched_pod_t *pod, uint64_t seq);
/* prefilter, filter, score, select.  `nominated` (may be NULL or ""): the
 * pod's status.nominatedNodeName. */
void sched_run_schedule(sched_run_t *r, const char *nominated, sched_result_t *out);
/* Frees the steps' states (state_free).  Always after sched_run_init. */
void sched_run_fini(sched_run_t *r);

/* For preemption: copies of the steps' states that can take pods in and
 * out (state_clone; a step without one shares its state, which then must
 * not depend on other nodes' pods).  In the cycle's arena. */
void **sched_run_clone_states(sched_run_t *r, void *const *from);
void sched_run_remove_pod(sched_run_t *r, void **states, const kr_sched_pod_t *victim,
                          const kr_sched_node_t *node);
void sched_run_add_pod(sched_run_t *r, void **states, const kr_sched_pod_t *added,
                       const kr_sched_node_t *node);
/* Runs the filters on `node` with `states` (NULL: the cycle's own), the
 * pods nominated to `nominated_from` (a cache node, may be NULL) of at
 * least the pod's priority counted too.  Returns the code; *failed_step
 * (may be NULL) the index of the step that failed. */
kr_sched_code_t sched_run_filter(sched_run_t *r, void **states, const kr_sched_node_t *node,
                                 const sched_cnode_t *nominated_from, kr_sched_status_t *st,
                                 uint32_t *failed_step);

#endif
