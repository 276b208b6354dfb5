/* kraal SDK — scheduler steps: the filter and score plugins of a scheduler.
 *
 * A scheduler (plugins/scheduler/default) places each pending pod in a
 * *cycle*, after the Kubernetes scheduling framework:
 *
 *   prefilter  once per pod: read the pod, build the step's cycle state
 *   filter     per node: may the pod run here?  (all filters must pass)
 *   prescore   once per pod, over the nodes that passed
 *   score      per feasible node: 0..KR_SCHED_MAX_NODE_SCORE, or any int64
 *              when the step normalizes
 *   normalize  once, over every feasible node's score of this step
 *
 * and the node with the highest weighted sum wins (ties broken at random
 * among the best, as upstream's selectHost).  A scheduler's own steps are
 * its own table; any other step is registered by name in a per-process
 * registry: a vendor ships it as a plugin of its own (any kind, e.g.
 * "scheduler-step") whose init calls kr_sched_step_register, lists that
 * plugin in the server's config *before* the scheduler, and names the step
 * in the scheduler's config — no rebuild of the scheduler.  The scheduler
 * resolves the names of its config once, in its init (its own table first,
 * then the registry).
 *
 * The data a step reads — the pod being placed, every node with the pods on
 * it, the snapshot of all nodes — is the scheduler's, parsed once when an
 * object changes (requests summed, taints and tolerations split, affinity
 * selectors compiled), and immutable for the duration of a cycle.  Steps
 * never write it and never keep pointers into it past the callback (their
 * cycle state may point into it until state_free).
 *
 * Threading: every callback of one cycle runs on the scheduler's thread,
 * except filter and score, which the scheduler may call for different nodes
 * from several threads at once; they read their cycle state, never write
 * it.  Register and unregister are thread-safe.
 */
#ifndef KRAAL_SCHEDULER_H
#define KRAAL_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/plugin.h>
#include <kraal/selector.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KR_SCHED_MAX_NODE_SCORE 100

/* ---- what steps read ------------------------------------------------------- */

typedef struct kr_sched_scalar {
    const char *name; /* "nvidia.com/gpu", "hugepages-2Mi" */
    int64_t value;    /* in the resource's base unit (a count, bytes) */
} kr_sched_scalar_t;

/* Resource amounts in base units. */
typedef struct kr_sched_resources {
    int64_t milli_cpu;
    int64_t memory;            /* bytes */
    int64_t ephemeral_storage; /* bytes */
    int64_t pods;              /* allocatable: how many pods; requested: how many there are */
    uint32_t n_scalar;
    const kr_sched_scalar_t *scalar; /* extended resources, sorted by name */
} kr_sched_resources_t;

typedef enum kr_sched_effect {
    KR_SCHED_EFFECT_ANY = 0, /* a toleration with no effect tolerates every effect */
    KR_SCHED_NO_SCHEDULE,
    KR_SCHED_PREFER_NO_SCHEDULE,
    KR_SCHED_NO_EXECUTE,
} kr_sched_effect_t;

typedef struct kr_sched_taint {
    const char *key;
    const char *value; /* "" when none */
    kr_sched_effect_t effect;
} kr_sched_taint_t;

typedef struct kr_sched_toleration {
    const char *key;   /* "" with exists: tolerates every taint */
    const char *value; /* "" when none */
    bool exists;       /* operator Exists (else Equal) */
    kr_sched_effect_t effect;
} kr_sched_toleration_t;

typedef struct kr_sched_port {
    const char *protocol; /* "TCP", "UDP", "SCTP" */
    const char *host_ip;  /* "" means 0.0.0.0 */
    int32_t port;         /* hostPort */
} kr_sched_port_t;

/* A (anti-)affinity term of a pod, compiled (upstream's AffinityTerm). */
typedef struct kr_sched_pod_term {
    kr_labelsel_t *selector;       /* labelSelector (with matchLabelKeys merged); never NULL */
    kr_labelsel_t *ns_selector;    /* namespaceSelector; NULL when absent */
    uint32_t n_namespaces;         /* namespaces; with no ns_selector and none listed, */
    const char *const *namespaces; /*   the pod's own namespace */
    const char *topology_key;
    int32_t weight; /* preferred terms: 1..100; required terms: 0 */
} kr_sched_pod_term_t;

/* A pod as the scheduler sees it.  For the pod being placed every field is
 * set; for pods already on nodes (bound or assumed) `obj` is NULL — steps
 * read the parsed fields only. */
typedef struct kr_sched_pod {
    const kr_value_t *obj; /* the whole Pod: the pod being placed only */
    const char *ns;
    const char *name;
    const char *uid;
    const char *node_name;    /* spec.nodeName, or the assumed node; "" when none */
    const kr_value_t *labels; /* metadata.labels map, or NULL */
    int32_t priority;         /* spec.priority (0 when absent) */
    bool preempt_never;       /* spec.preemptionPolicy == Never */
    bool terminating;         /* metadata.deletionTimestamp set */
    /* computePodResourceRequest: max(sum of app containers + restartable
     * init containers, each init container + the sidecars before it) +
     * spec.overhead; pods = 1 */
    kr_sched_resources_t requests;
    /* the same with 100m cpu / 200Mi memory for containers that request
     * none (upstream's non-zero requests, used by scores only) */
    int64_t nonzero_milli_cpu;
    int64_t nonzero_memory;
    uint32_t n_ports;
    const kr_sched_port_t *ports; /* hostPorts of every container (hostPort > 0) */
    uint32_t n_tolerations;
    const kr_sched_toleration_t *tolerations;
    /* spec.affinity.podAffinity / podAntiAffinity */
    uint32_t n_required_affinity, n_required_anti_affinity;
    uint32_t n_preferred_affinity, n_preferred_anti_affinity;
    const kr_sched_pod_term_t *required_affinity;
    const kr_sched_pod_term_t *required_anti_affinity;
    const kr_sched_pod_term_t *preferred_affinity;
    const kr_sched_pod_term_t *preferred_anti_affinity;
} kr_sched_pod_t;

typedef struct kr_sched_node {
    const char *name;
    const kr_value_t *obj;    /* the Node */
    const kr_value_t *labels; /* metadata.labels map, or NULL */
    bool unschedulable;       /* spec.unschedulable */
    /* condition Ready: 1 True (or no Ready condition yet: a Node created
     * by hand is schedulable until the node lifecycle marks it), 0 False,
     * -1 Unknown */
    int8_t ready;
    bool network_unavailable;         /* condition NetworkUnavailable is True */
    kr_sched_resources_t allocatable; /* status.allocatable (capacity when absent) */
    kr_sched_resources_t requested;   /* sum of the pods' requests; pods = their number */
    int64_t nonzero_milli_cpu;        /* sum of the pods' non-zero requests */
    int64_t nonzero_memory;
    uint32_t n_taints;
    const kr_sched_taint_t *taints;
    uint32_t n_pods;
    const kr_sched_pod_t *const *pods; /* bound and assumed pods, terminating ones included */
    /* the subsets with any affinity term, and with required anti-affinity */
    uint32_t n_pods_with_affinity;
    const kr_sched_pod_t *const *pods_with_affinity;
    uint32_t n_pods_with_required_anti_affinity;
    const kr_sched_pod_t *const *pods_with_required_anti_affinity;
    uint32_t n_used_ports;
    const kr_sched_port_t *used_ports; /* hostPorts in use on the node */
    uint64_t generation;               /* moves whenever anything above changes */
} kr_sched_node_t;

/* Every node of the cluster in this cycle, with the subsets steps that
 * look across nodes need. */
typedef struct kr_sched_snapshot {
    uint32_t n_nodes;
    const kr_sched_node_t *const *nodes;
    uint32_t n_have_pods_with_affinity;
    const kr_sched_node_t *const *have_pods_with_affinity;
    uint32_t n_have_pods_with_required_anti_affinity;
    const kr_sched_node_t *const *have_pods_with_required_anti_affinity;
    /* The labels of namespace `ns` (for namespaceSelector), NULL when the
     * namespace is unknown or has none. */
    const kr_value_t *(*ns_labels)(const struct kr_sched_snapshot *snap, const char *ns);
    void *ns_ud; /* the scheduler's, for ns_labels */
} kr_sched_snapshot_t;

/* ---- what steps answer ----------------------------------------------------- */

typedef enum kr_sched_code {
    KR_SCHED_SUCCESS = 0,
    /* the pod does not fit this node; preempting pods of the node may help */
    KR_SCHED_UNSCHEDULABLE,
    /* the pod does not fit and preemption cannot help (a taint, a selector) */
    KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE,
    /* prefilter/prescore: this step has nothing to check or score for this
     * pod; its filter/score are not called in this cycle */
    KR_SCHED_SKIP,
    /* something went wrong (not the pod's fault): the pod is retried later */
    KR_SCHED_ERROR,
} kr_sched_code_t;

#define KR_SCHED_MAX_REASONS 4

/* A step's verdict.  `reasons` are in Kubernetes' words, as they appear in
 * the FailedScheduling message ("Insufficient cpu", "node(s) didn't match
 * Pod's node affinity/selector", "node(s) had untolerated taint {k: v}");
 * a filter may give several (cpu and memory).  Strings are static or in the
 * cycle's arena. */
typedef struct kr_sched_status {
    kr_sched_code_t code;
    uint32_t n_reasons;
    const char *reasons[KR_SCHED_MAX_REASONS];
} kr_sched_status_t;

/* Sets code and one reason; returns code (so `return kr_sched_fail(...)`). */
static inline kr_sched_code_t kr_sched_fail(kr_sched_status_t *st, kr_sched_code_t code,
                                            const char *reason)
{
    st->code = code;
    if (reason != NULL && st->n_reasons < KR_SCHED_MAX_REASONS)
        st->reasons[st->n_reasons++] = reason;
    return code;
}

/* One scheduling attempt of one pod, filled by the scheduler.  The arena
 * lives until the cycle ends (after state_free has run for every step);
 * steps allocate their state and reason strings there.  (A plain struct,
 * not accessors: a step .so cannot call into the scheduler's .so.) */
typedef struct kr_sched_cycle {
    kr_arena_t *arena;
    const kr_sched_snapshot_t *snapshot;
    uint64_t seq;    /* the scheduler's cycle counter */
    void *scheduler; /* the scheduler's own; steps leave it alone */
} kr_sched_cycle_t;

/* Which cluster events may make a pod that this step rejected fit
 * (upstream's EventsToRegister); the queue moves the pod from unschedulable
 * back to active on these only.  A step that names none gets every event. */
enum {
    KR_SCHED_EV_NODE_ADD = 1u << 0,
    KR_SCHED_EV_NODE_UPDATE = 1u << 1, /* labels, taints, allocatable, conditions */
    KR_SCHED_EV_POD_DELETE = 1u << 2,  /* a pod left a node (deleted, finished) */
    KR_SCHED_EV_POD_ADD = 1u << 3,     /* a pod landed on a node */
    KR_SCHED_EV_POD_UPDATE = 1u << 4,  /* an assigned pod's labels changed */
    KR_SCHED_EV_NAMESPACE = 1u << 5,   /* a namespace's labels changed */
};

/* A step.  Every callback may be NULL (a pure score step has no filter).
 * `self` is the pointer given at registration.  `state` is what prefilter
 * (or, for score, prescore — when both exist, prescore receives
 * prefilter's state in *state and may replace it) stored; NULL when the
 * step has no prefilter/prescore. */
typedef struct kr_sched_step_ops {
    uint32_t struct_size; /* sizeof(kr_sched_step_ops_t) at build time */
    const char *name;     /* "NodeResourcesFit": the name configs use */
    unsigned events;      /* KR_SCHED_EV_* (0: all) */

    kr_sched_code_t (*prefilter)(void *self, kr_sched_cycle_t *cycle, const kr_sched_pod_t *pod,
                                 void **state, kr_sched_status_t *st);
    kr_sched_code_t (*filter)(void *self, const void *state, const kr_sched_pod_t *pod,
                              const kr_sched_node_t *node, kr_sched_status_t *st);
    kr_sched_code_t (*prescore)(void *self, kr_sched_cycle_t *cycle, const kr_sched_pod_t *pod,
                                const kr_sched_node_t *const *nodes, uint32_t n_nodes, void **state,
                                kr_sched_status_t *st);
    /* KR_SCHED_SUCCESS with *score set, or KR_SCHED_ERROR */
    kr_sched_code_t (*score)(void *self, const void *state, const kr_sched_pod_t *pod,
                             const kr_sched_node_t *node, int64_t *score, kr_sched_status_t *st);
    /* rescales scores[i] (of nodes[i]) to 0..KR_SCHED_MAX_NODE_SCORE */
    kr_sched_code_t (*normalize)(void *self, const void *state, const kr_sched_pod_t *pod,
                                 const kr_sched_node_t *const *nodes, int64_t *scores,
                                 uint32_t n_nodes, kr_sched_status_t *st);
    /* Frees the state of prefilter/prescore (memory outside the cycle's
     * arena); may be NULL. */
    void (*state_free)(void *self, void *state);

    /* Preemption (upstream's PreFilterExtensions).  To ask "would the pod fit
     * if these pods were gone", the scheduler copies the step's prefilter
     * state, removes or adds pods and runs filter again.  A step whose
     * prefilter state depends on pods of other nodes (inter-pod affinity,
     * topology spread) provides all three; one that reads only the node in
     * filter needs none. */
    void *(*state_clone)(void *self, kr_sched_cycle_t *cycle, const void *state);
    void (*state_remove_pod)(void *self, void *state, const kr_sched_pod_t *pod,
                             const kr_sched_pod_t *victim, const kr_sched_node_t *node);
    void (*state_add_pod)(void *self, void *state, const kr_sched_pod_t *pod,
                          const kr_sched_pod_t *added, const kr_sched_node_t *node);
} kr_sched_step_ops_t;

/* ---- the registry ---------------------------------------------------------- */

/* Registers a step under ops->name for this process.  Only during the
 * plugin's init; the step stays registered until the plugin stops (the
 * host unregisters it before fini).  `ops` and `self` must stay valid until
 * then.  KR_E_ALREADY_EXISTS when the name is taken, KR_E_BAD_REQUEST
 * outside init or with an ops table that has no name or no callback. */
int kr_sched_step_register(kr_plugin_ctx_t *ctx, const kr_sched_step_ops_t *ops, void *self,
                           kr_error_t *err);

/* Finds a step by name.  KR_E_NOT_FOUND with a message naming the
 * registered steps when there is none.  The pointers stay valid until the
 * registering plugin stops: a scheduler must only use steps of plugins
 * listed before it (which stop after it). */
int kr_sched_step_find(const char *name, const kr_sched_step_ops_t **ops, void **self,
                       kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
