/* TaintToleration (upstream tainttoleration/taint_toleration.go): a filter
 * on the NoSchedule and NoExecute taints the pod does not tolerate, and a
 * score that counts the PreferNoSchedule taints it does not tolerate,
 * reverse-normalized so that the node with the fewest scores highest. */
#include "step_util.h"

typedef struct taint_state {
    sched_msgs_t msgs; /* "node(s) had untolerated taint {k: v}", one per taint */
} taint_state_t;

static kr_sched_code_t taint_prefilter(void *self, kr_sched_cycle_t *cycle,
                                       const kr_sched_pod_t *pod, void **state,
                                       kr_sched_status_t *st)
{
    (void)self;
    (void)pod;
    (void)st;
    /* the state itself is in the arena; only the lock needs freeing */
    taint_state_t *s = kr_arena_alloc(cycle->arena, sizeof(*s));
    sched_msgs_init(&s->msgs, cycle->arena);
    *state = s;
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t taint_filter(void *self, const void *state, const kr_sched_pod_t *pod,
                                    const kr_sched_node_t *node, kr_sched_status_t *st)
{
    (void)self;
    const kr_sched_taint_t *t = sched_untolerated_taint(pod, node);
    if (t == NULL)
        return KR_SCHED_SUCCESS;
    /* the message cache is the one thing filters share: it locks */
    taint_state_t *s = (taint_state_t *)state;
    const char *msg =
        s != NULL ? sched_msgs_taint(&s->msgs, t->key, t->value) : "node(s) had untolerated taint";
    return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE, msg);
}

/* Only a pod's PreferNoSchedule (or effect-less) tolerations count. */
static int64_t intolerable_prefer_taints(const kr_sched_pod_t *pod, const kr_sched_node_t *node)
{
    int64_t n = 0;
    for (uint32_t i = 0; i < node->n_taints; i++) {
        const kr_sched_taint_t *t = &node->taints[i];
        if (t->effect != KR_SCHED_PREFER_NO_SCHEDULE)
            continue;
        bool tolerated = false;
        for (uint32_t j = 0; j < pod->n_tolerations && !tolerated; j++) {
            const kr_sched_toleration_t *tol = &pod->tolerations[j];
            if (tol->effect != KR_SCHED_EFFECT_ANY && tol->effect != KR_SCHED_PREFER_NO_SCHEDULE)
                continue;
            tolerated = sched_toleration_tolerates(tol, t->key, t->value, t->effect);
        }
        n += !tolerated;
    }
    return n;
}

/* With no PreferNoSchedule taint on any feasible node every node scores the
 * same (100 after the reverse normalization), which changes no placement:
 * the step is skipped. */
static kr_sched_code_t taint_prescore(void *self, kr_sched_cycle_t *cycle,
                                      const kr_sched_pod_t *pod,
                                      const kr_sched_node_t *const *nodes, uint32_t n_nodes,
                                      void **state, kr_sched_status_t *st)
{
    (void)self;
    (void)cycle;
    (void)pod;
    (void)state;
    (void)st;
    for (uint32_t i = 0; i < n_nodes; i++)
        for (uint32_t j = 0; j < nodes[i]->n_taints; j++)
            if (nodes[i]->taints[j].effect == KR_SCHED_PREFER_NO_SCHEDULE)
                return KR_SCHED_SUCCESS;
    return KR_SCHED_SKIP;
}

static kr_sched_code_t taint_score(void *self, const void *state, const kr_sched_pod_t *pod,
                                   const kr_sched_node_t *node, int64_t *score,
                                   kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    (void)st;
    *score = intolerable_prefer_taints(pod, node);
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t taint_normalize(void *self, const void *state, const kr_sched_pod_t *pod,
                                       const kr_sched_node_t *const *nodes, int64_t *scores,
                                       uint32_t n_nodes, kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    (void)pod;
    (void)nodes;
    (void)st;
    sched_default_normalize(KR_SCHED_MAX_NODE_SCORE, true, scores, n_nodes);
    return KR_SCHED_SUCCESS;
}

static void taint_state_free(void *self, void *state)
{
    (void)self;
    taint_state_t *s = state;
    if (s == NULL)
        return;
    sched_msgs_free(&s->msgs);
}

const kr_sched_step_ops_t sched_step_taint_toleration = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "TaintToleration",
    .events = KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE,
    .prefilter = taint_prefilter,
    .filter = taint_filter,
    .prescore = taint_prescore,
    .score = taint_score,
    .normalize = taint_normalize,
    .state_free = taint_state_free,
};
