/* Filters that read one field of the node: NodeUnschedulable, NodeName,
 * NodeConditions and NodePorts (upstream's nodeunschedulable, nodename and
 * nodeports plugins; NodeConditions has no upstream plugin, see below). */
#include <string.h>

#include "step_util.h"

/* ---- NodeUnschedulable ------------------------------------------------------ */

static kr_sched_code_t unschedulable_filter(void *self, const void *state,
                                            const kr_sched_pod_t *pod, const kr_sched_node_t *node,
                                            kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    if (!node->unschedulable)
        return KR_SCHED_SUCCESS;
    /* a pod that tolerates the unschedulable taint tolerates spec.unschedulable */
    if (sched_tolerates(pod, "node.kubernetes.io/unschedulable", "", KR_SCHED_NO_SCHEDULE))
        return KR_SCHED_SUCCESS;
    return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE, "node(s) were unschedulable");
}

const kr_sched_step_ops_t sched_step_node_unschedulable = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "NodeUnschedulable",
    .events = KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE,
    .filter = unschedulable_filter,
};

/* ---- NodeName --------------------------------------------------------------- */

static kr_sched_code_t name_prefilter(void *self, kr_sched_cycle_t *cycle,
                                      const kr_sched_pod_t *pod, void **state,
                                      kr_sched_status_t *st)
{
    (void)self;
    (void)cycle;
    (void)state;
    (void)st;
    return pod->node_name[0] == '\0' ? KR_SCHED_SKIP : KR_SCHED_SUCCESS;
}

static kr_sched_code_t name_filter(void *self, const void *state, const kr_sched_pod_t *pod,
                                   const kr_sched_node_t *node, kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    if (pod->node_name[0] == '\0' || strcmp(pod->node_name, node->name) == 0)
        return KR_SCHED_SUCCESS;
    return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE,
                         "node(s) didn't match the requested node name");
}

const kr_sched_step_ops_t sched_step_node_name = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "NodeName",
    .events = KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE,
    .prefilter = name_prefilter,
    .filter = name_filter,
};

/* ---- NodeConditions ----------------------------------------------------------
 * Upstream filters no condition: the node lifecycle controller taints a node
 * that is not ready (Ready False), unreachable (Ready Unknown) or without
 * network, and TaintToleration rejects the pod.  This step reads the
 * conditions as those NoSchedule taints, so a pod tolerating them (as
 * DaemonSet pods do) still lands, with TaintToleration's message. */

#define TAINT_NOT_READY       "node.kubernetes.io/not-ready"
#define TAINT_UNREACHABLE     "node.kubernetes.io/unreachable"
#define TAINT_NETWORK_UNAVAIL "node.kubernetes.io/network-unavailable"

static kr_sched_code_t conditions_filter(void *self, const void *state, const kr_sched_pod_t *pod,
                                         const kr_sched_node_t *node, kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    if (node->ready == 0 && !sched_tolerates(pod, TAINT_NOT_READY, "", KR_SCHED_NO_SCHEDULE))
        return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE,
                             "node(s) had untolerated taint {" TAINT_NOT_READY ": }");
    if (node->ready < 0 && !sched_tolerates(pod, TAINT_UNREACHABLE, "", KR_SCHED_NO_SCHEDULE))
        return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE,
                             "node(s) had untolerated taint {" TAINT_UNREACHABLE ": }");
    if (node->network_unavailable &&
        !sched_tolerates(pod, TAINT_NETWORK_UNAVAIL, "", KR_SCHED_NO_SCHEDULE))
        return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE,
                             "node(s) had untolerated taint {" TAINT_NETWORK_UNAVAIL ": }");
    return KR_SCHED_SUCCESS;
}

const kr_sched_step_ops_t sched_step_node_conditions = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "NodeConditions",
    .events = KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE,
    .filter = conditions_filter,
};

/* ---- NodePorts --------------------------------------------------------------- */

static bool any_ip(const char *ip)
{
    return ip[0] == '\0' || strcmp(ip, "0.0.0.0") == 0;
}

/* HostPortInfo.CheckConflict: the same protocol and port on the same IP,
 * or on any IP when either side binds 0.0.0.0. */
static bool port_conflicts(const kr_sched_port_t *want, const kr_sched_port_t *used)
{
    if (want->port != used->port || strcmp(want->protocol, used->protocol) != 0)
        return false;
    return any_ip(want->host_ip) || any_ip(used->host_ip) ||
           strcmp(want->host_ip, used->host_ip) == 0;
}

static kr_sched_code_t ports_prefilter(void *self, kr_sched_cycle_t *cycle,
                                       const kr_sched_pod_t *pod, void **state,
                                       kr_sched_status_t *st)
{
    (void)self;
    (void)cycle;
    (void)state;
    (void)st;
    return pod->n_ports == 0 ? KR_SCHED_SKIP : KR_SCHED_SUCCESS;
}

static kr_sched_code_t ports_filter(void *self, const void *state, const kr_sched_pod_t *pod,
                                    const kr_sched_node_t *node, kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    for (uint32_t i = 0; i < pod->n_ports; i++)
        for (uint32_t j = 0; j < node->n_used_ports; j++)
            if (port_conflicts(&pod->ports[i], &node->used_ports[j]))
                return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE,
                                     "node(s) didn't have free ports for the requested pod ports");
    return KR_SCHED_SUCCESS;
}

const kr_sched_step_ops_t sched_step_node_ports = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "NodePorts",
    .events = KR_SCHED_EV_POD_DELETE | KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE,
    .prefilter = ports_prefilter,
    .filter = ports_filter,
};
