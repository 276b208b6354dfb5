/* The default scheduler's built-in step table (steps.h), in the order and
 * with the weights of kube-scheduler's default profile. */
#include <string.h>

#include "step_util.h"
#include "steps.h"

const sched_builtin_step_t sched_builtin_steps[] = {
    {&sched_step_node_unschedulable, 1, 0},
    {&sched_step_node_name, 1, 0},
    {&sched_step_node_conditions, 1, 0},
    {&sched_step_taint_toleration, 1, 3},
    {&sched_step_node_affinity, 1, 2},
    {&sched_step_node_ports, 1, 0},
    {&sched_step_fit, 1, 0},
    {&sched_step_topology_spread, 1, 2},
    {&sched_step_inter_pod_affinity, 1, 2},
    {&sched_step_least_allocated, 0, 1},
    {&sched_step_balanced_allocation, 0, 1},
    {&sched_step_most_allocated, 0, 0},
};

const size_t sched_builtin_steps_len = sizeof(sched_builtin_steps) / sizeof(sched_builtin_steps[0]);

const kr_sched_step_ops_t *sched_builtin_step(const char *name)
{
    for (size_t i = 0; i < sched_builtin_steps_len; i++)
        if (strcmp(sched_builtin_steps[i].ops->name, name) == 0)
            return sched_builtin_steps[i].ops;
    return NULL;
}
