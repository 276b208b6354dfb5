/* NodeAffinity (upstream nodeaffinity/node_affinity.go): spec.nodeSelector
 * and the required node affinity as a filter, the preferred terms' weights
 * as a score normalized to 0..100.  Both are compiled once per cycle from
 * the pod's object, in the cycle's arena. */
#include "step_util.h"

typedef struct na_state {
    sched_nodeaff_t required;
    uint32_t n_preferred;
    const sched_nsterm_t *preferred;
} na_state_t;

static kr_sched_code_t na_prefilter(void *self, kr_sched_cycle_t *cycle, const kr_sched_pod_t *pod,
                                    void **state, kr_sched_status_t *st)
{
    (void)self;
    (void)st;
    na_state_t *s = kr_arena_alloc(cycle->arena, sizeof(*s));
    *s = (na_state_t){0};
    sched_nodeaff_compile(cycle->arena, pod->obj, &s->required);
    if (sched_nodeaff_empty(&s->required))
        return KR_SCHED_SKIP;
    *state = s;
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t na_filter(void *self, const void *state, const kr_sched_pod_t *pod,
                                 const kr_sched_node_t *node, kr_sched_status_t *st)
{
    (void)self;
    (void)pod;
    const na_state_t *s = state;
    if (s == NULL || sched_nodeaff_match(&s->required, node))
        return KR_SCHED_SUCCESS;
    return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE,
                         "node(s) didn't match Pod's node affinity/selector");
}

static kr_sched_code_t na_prescore(void *self, kr_sched_cycle_t *cycle, const kr_sched_pod_t *pod,
                                   const kr_sched_node_t *const *nodes, uint32_t n_nodes,
                                   void **state, kr_sched_status_t *st)
{
    (void)self;
    (void)nodes;
    (void)n_nodes;
    (void)st;
    na_state_t *s = *state;
    if (s == NULL) {
        s = kr_arena_alloc(cycle->arena, sizeof(*s));
        *s = (na_state_t){0};
    }
    s->n_preferred = sched_nodeaff_preferred(cycle->arena, pod->obj, &s->preferred);
    *state = s;
    return s->n_preferred == 0 ? KR_SCHED_SKIP : KR_SCHED_SUCCESS;
}

static kr_sched_code_t na_score(void *self, const void *state, const kr_sched_pod_t *pod,
                                const kr_sched_node_t *node, int64_t *score, kr_sched_status_t *st)
{
    (void)self;
    (void)pod;
    (void)st;
    const na_state_t *s = state;
    int64_t sum = 0;
    for (uint32_t i = 0; s != NULL && i < s->n_preferred; i++)
        if (sched_nsterm_match(&s->preferred[i], node))
            sum += s->preferred[i].weight;
    *score = sum;
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t na_normalize(void *self, const void *state, const kr_sched_pod_t *pod,
                                    const kr_sched_node_t *const *nodes, int64_t *scores,
                                    uint32_t n_nodes, kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    (void)pod;
    (void)nodes;
    (void)st;
    sched_default_normalize(KR_SCHED_MAX_NODE_SCORE, false, scores, n_nodes);
    return KR_SCHED_SUCCESS;
}

const kr_sched_step_ops_t sched_step_node_affinity = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "NodeAffinity",
    .events = KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE,
    .prefilter = na_prefilter,
    .filter = na_filter,
    .prescore = na_prescore,
    .score = na_score,
    .normalize = na_normalize,
};
