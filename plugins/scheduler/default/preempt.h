/* Preemption, after upstream's DefaultPreemption PostFilter
 * (pkg/scheduler/framework/preemption/preemption.go and
 * plugins/defaultpreemption/default_preemption.go):
 *
 * - a pod with preemptionPolicy Never does not preempt; neither does one
 *   whose nominated node still has a terminating lower-priority pod;
 * - candidates are the nodes that failed with UNSCHEDULABLE (not
 *   UNSCHEDULABLE_AND_UNRESOLVABLE: removing pods cannot fix a taint);
 * - on each, every lower-priority pod is removed; if the pod then fits,
 *   the victims are reprieved one by one, most important first (higher
 *   priority), as long as the pod still fits;
 * - among the candidates, the node whose most important victim has the
 *   lowest priority wins, then the lowest sum of priorities, then the
 *   fewest victims, then the first found (pickOneNodeForPreemption; there
 *   are no PodDisruptionBudgets, so none is violated).
 *
 * The caller deletes the victims, nominates the pod to the node and
 * requeues it. */
#ifndef KRAAL_SCHED_PREEMPT_H
#define KRAAL_SCHED_PREEMPT_H

#include <stdbool.h>
#include <stdint.h>

#include "framework.h"

typedef struct sched_preemption {
    bool found;
    const kr_sched_node_t *node;
    uint32_t n_victims;
    const kr_sched_pod_t **victims; /* in the cycle's arena; pods of the cache */
    /* !found: the PostFilter message ("preemption: 0/3 nodes are
     * available: ..."), or NULL when preemption did not run at all */
    const char *message;
} sched_preemption_t;

/* After sched_run_schedule answered UNSCHEDULABLE in `res`.  `nominated`:
 * the pod's status.nominatedNodeName (may be NULL).  `rand` picks where
 * the candidate search starts. */
void sched_preempt(sched_run_t *r, const sched_result_t *res, const char *nominated, uint64_t rand,
                   sched_preemption_t *out);

/* The victims on one node (the step of upstream's SelectVictimsOnNode):
 * KR_SCHED_SUCCESS with *victims, or why the node cannot help (`st`). */
kr_sched_code_t sched_select_victims(sched_run_t *r, const kr_sched_node_t *node,
                                     const kr_sched_pod_t ***victims, uint32_t *n_victims,
                                     kr_sched_status_t *st);

#endif
