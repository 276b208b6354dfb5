/* The default scheduler's own filter and score steps (kraal/scheduler.h),
 * after kube-scheduler's in-tree plugins, with upstream's names, messages
 * and default weights. */
#ifndef KRAAL_SCHED_STEPS_H
#define KRAAL_SCHED_STEPS_H

#include <stddef.h>

#include <kraal/scheduler.h>

typedef struct sched_builtin_step {
    const kr_sched_step_ops_t *ops;
    int filter;       /* 1: a filter step of the default profile */
    int score_weight; /* weight in the default profile; 0: not scored by default */
} sched_builtin_step_t;

/* Every built-in step, in the order the default profile runs them:
 *   filters  NodeUnschedulable, NodeName, NodeConditions, TaintToleration,
 *            NodeAffinity, NodePorts, NodeResourcesFit, PodTopologySpread,
 *            InterPodAffinity
 *   scores   TaintToleration 3, NodeAffinity 2, PodTopologySpread 2,
 *            InterPodAffinity 2, NodeResourcesLeastAllocated 1,
 *            NodeResourcesBalancedAllocation 1
 * (NodeResourcesMostAllocated is built in but not in the default profile.)
 * `self` of every built-in step is NULL. */
extern const sched_builtin_step_t sched_builtin_steps[];
extern const size_t sched_builtin_steps_len;

/* The built-in step named `name`, or NULL. */
const kr_sched_step_ops_t *sched_builtin_step(const char *name);

#endif
