/* InterPodAffinity (upstream interpodaffinity/{filtering,scoring}.go).
 *
 * Filter: the pod's required affinity and anti-affinity terms against the
 * pods already placed, and the required anti-affinity terms of placed pods
 * against this pod.  Prefilter counts, per (topology key, value), the pods
 * that match; filter then only looks the node's labels up.
 * Score: the preferred terms of the pod and of the placed pods (and the
 * placed pods' required affinity terms, with hardPodAffinityWeight 1),
 * summed per topology value and min-max normalized. */
#include <string.h>

#include "step_util.h"

#define HARD_POD_AFFINITY_WEIGHT 1

typedef struct ipa_state {
    const kr_sched_snapshot_t *snap;
    /* filter */
    sched_tpmap_t existing_anti; /* placed pods' anti-affinity terms matching the pod */
    sched_tpmap_t affinity;      /* placed pods matching all the pod's affinity terms */
    sched_tpmap_t anti;          /* placed pods matching one of its anti-affinity terms */
    bool self_match;             /* the pod matches all its own affinity terms */
    /* score */
    sched_tpmap_t score;
    uint32_t n_keys; /* the distinct topology keys in `score` */
    const char **keys;
} ipa_state_t;

static bool matches_all(const kr_sched_pod_term_t *terms, uint32_t n, const kr_sched_pod_t *p,
                        const kr_sched_snapshot_t *snap)
{
    if (n == 0)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!sched_term_matches(&terms[i], p, snap))
            return false;
    return true;
}

static void count_at(sched_tpmap_t *m, const kr_sched_node_t *node, const char *key, int64_t d)
{
    const char *v = sched_label(node->labels, key);
    if (v != NULL)
        sched_tpmap_add(m, key, v, d);
}

/* preFilterState.updateWithPod: `p` (placed on `node`) counted with `d`. */
static void update_with_pod(ipa_state_t *s, const kr_sched_pod_t *pod, const kr_sched_pod_t *p,
                            const kr_sched_node_t *node, int64_t d)
{
    for (uint32_t i = 0; i < p->n_required_anti_affinity; i++)
        if (sched_term_matches(&p->required_anti_affinity[i], pod, s->snap))
            count_at(&s->existing_anti, node, p->required_anti_affinity[i].topology_key, d);
    if (matches_all(pod->required_affinity, pod->n_required_affinity, p, s->snap))
        for (uint32_t i = 0; i < pod->n_required_affinity; i++)
            count_at(&s->affinity, node, pod->required_affinity[i].topology_key, d);
    for (uint32_t i = 0; i < pod->n_required_anti_affinity; i++)
        if (sched_term_matches(&pod->required_anti_affinity[i], p, s->snap))
            count_at(&s->anti, node, pod->required_anti_affinity[i].topology_key, d);
}

static kr_sched_code_t ipa_prefilter(void *self, kr_sched_cycle_t *cycle, const kr_sched_pod_t *pod,
                                     void **state, kr_sched_status_t *st)
{
    (void)self;
    (void)st;
    const kr_sched_snapshot_t *snap = cycle->snapshot;
    ipa_state_t *s = kr_arena_alloc(cycle->arena, sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->snap = snap;
    sched_tpmap_init(&s->existing_anti, cycle->arena, 8);
    sched_tpmap_init(&s->affinity, cycle->arena, 8);
    sched_tpmap_init(&s->anti, cycle->arena, 8);
    for (uint32_t k = 0; k < snap->n_have_pods_with_required_anti_affinity; k++) {
        const kr_sched_node_t *node = snap->have_pods_with_required_anti_affinity[k];
        for (uint32_t j = 0; j < node->n_pods_with_required_anti_affinity; j++) {
            const kr_sched_pod_t *p = node->pods_with_required_anti_affinity[j];
            for (uint32_t i = 0; i < p->n_required_anti_affinity; i++)
                if (sched_term_matches(&p->required_anti_affinity[i], pod, snap))
                    count_at(&s->existing_anti, node, p->required_anti_affinity[i].topology_key, 1);
        }
    }
    if (pod->n_required_affinity + pod->n_required_anti_affinity > 0) {
        for (uint32_t k = 0; k < snap->n_nodes; k++) {
            const kr_sched_node_t *node = snap->nodes[k];
            for (uint32_t j = 0; j < node->n_pods; j++) {
                const kr_sched_pod_t *p = node->pods[j];
                if (matches_all(pod->required_affinity, pod->n_required_affinity, p, snap))
                    for (uint32_t i = 0; i < pod->n_required_affinity; i++)
                        count_at(&s->affinity, node, pod->required_affinity[i].topology_key, 1);
                for (uint32_t i = 0; i < pod->n_required_anti_affinity; i++)
                    if (sched_term_matches(&pod->required_anti_affinity[i], p, snap))
                        count_at(&s->anti, node, pod->required_anti_affinity[i].topology_key, 1);
            }
        }
        s->self_match = matches_all(pod->required_affinity, pod->n_required_affinity, pod, snap);
    } else if (s->existing_anti.nonzero == 0) {
        return KR_SCHED_SKIP;
    }
    *state = s;
    return KR_SCHED_SUCCESS;
}

static bool satisfies_affinity(const ipa_state_t *s, const kr_sched_pod_t *pod,
                               const kr_sched_node_t *node)
{
    bool pods_exist = true;
    for (uint32_t i = 0; i < pod->n_required_affinity; i++) {
        const char *key = pod->required_affinity[i].topology_key;
        const char *v = sched_label(node->labels, key);
        if (v == NULL)
            return false; /* every topology label must be on the node */
        if (sched_tpmap_get(&s->affinity, key, v) <= 0)
            pods_exist = false;
    }
    /* the first pod of a group with affinity to itself may go anywhere that
     * has the topology labels, when no pod anywhere matches yet */
    return pods_exist || (s->affinity.nonzero == 0 && s->self_match);
}

static bool satisfies_anti_affinity(const ipa_state_t *s, const kr_sched_pod_t *pod,
                                    const kr_sched_node_t *node)
{
    if (s->anti.nonzero == 0)
        return true;
    for (uint32_t i = 0; i < pod->n_required_anti_affinity; i++) {
        const char *key = pod->required_anti_affinity[i].topology_key;
        const char *v = sched_label(node->labels, key);
        if (v != NULL && sched_tpmap_get(&s->anti, key, v) > 0)
            return false;
    }
    return true;
}

static bool satisfies_existing_anti_affinity(const ipa_state_t *s, const kr_sched_node_t *node)
{
    if (s->existing_anti.nonzero == 0)
        return true;
    size_t n = kr_value_type(node->labels) == KR_MAP ? kr_value_len(node->labels) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = kr_value_as_str(kr_value_map_val(node->labels, i));
        if (v != NULL &&
            sched_tpmap_get(&s->existing_anti, kr_value_map_key(node->labels, i), v) > 0)
            return false;
    }
    return true;
}

static kr_sched_code_t ipa_filter(void *self, const void *state, const kr_sched_pod_t *pod,
                                  const kr_sched_node_t *node, kr_sched_status_t *st)
{
    (void)self;
    const ipa_state_t *s = state;
    if (s == NULL)
        return KR_SCHED_SUCCESS;
    if (!satisfies_affinity(s, pod, node))
        return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE,
                             "node(s) didn't match pod affinity rules");
    if (!satisfies_anti_affinity(s, pod, node))
        return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE,
                             "node(s) didn't match pod anti-affinity rules");
    if (!satisfies_existing_anti_affinity(s, node))
        return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE,
                             "node(s) didn't satisfy existing pods anti-affinity rules");
    return KR_SCHED_SUCCESS;
}

static void *ipa_state_clone(void *self, kr_sched_cycle_t *cycle, const void *state)
{
    (void)self;
    const ipa_state_t *src = state;
    if (src == NULL)
        return NULL;
    ipa_state_t *s = kr_arena_alloc(cycle->arena, sizeof(*s));
    *s = *src;
    sched_tpmap_clone(&s->existing_anti, &src->existing_anti, cycle->arena);
    sched_tpmap_clone(&s->affinity, &src->affinity, cycle->arena);
    sched_tpmap_clone(&s->anti, &src->anti, cycle->arena);
    return s;
}

static void ipa_remove_pod(void *self, void *state, const kr_sched_pod_t *pod,
                           const kr_sched_pod_t *victim, const kr_sched_node_t *node)
{
    (void)self;
    if (state != NULL)
        update_with_pod(state, pod, victim, node, -1);
}

static void ipa_add_pod(void *self, void *state, const kr_sched_pod_t *pod,
                        const kr_sched_pod_t *added, const kr_sched_node_t *node)
{
    (void)self;
    if (state != NULL)
        update_with_pod(state, pod, added, node, 1);
}

/* ---- score --------------------------------------------------------------------- */

static void score_term(ipa_state_t *s, const kr_sched_pod_term_t *t, int64_t weight,
                       const kr_sched_pod_t *p, const kr_sched_node_t *node)
{
    if (!sched_term_matches(t, p, s->snap))
        return;
    const char *v = sched_label(node->labels, t->topology_key);
    if (v == NULL)
        return;
    sched_tpmap_add(&s->score, t->topology_key, v, weight);
}

static void score_terms(ipa_state_t *s, const kr_sched_pod_term_t *terms, uint32_t n, int64_t sign,
                        const kr_sched_pod_t *p, const kr_sched_node_t *node)
{
    for (uint32_t i = 0; i < n; i++)
        score_term(s, &terms[i], sign * terms[i].weight, p, node);
}

/* processExistingPod */
static void score_existing(ipa_state_t *s, const kr_sched_pod_t *pod, const kr_sched_pod_t *p,
                           const kr_sched_node_t *node)
{
    score_terms(s, pod->preferred_affinity, pod->n_preferred_affinity, 1, p, node);
    score_terms(s, pod->preferred_anti_affinity, pod->n_preferred_anti_affinity, -1, p, node);
    for (uint32_t i = 0; i < p->n_required_affinity; i++)
        score_term(s, &p->required_affinity[i], HARD_POD_AFFINITY_WEIGHT, pod, node);
    score_terms(s, p->preferred_affinity, p->n_preferred_affinity, 1, pod, node);
    score_terms(s, p->preferred_anti_affinity, p->n_preferred_anti_affinity, -1, pod, node);
}

static kr_sched_code_t ipa_prescore(void *self, kr_sched_cycle_t *cycle, const kr_sched_pod_t *pod,
                                    const kr_sched_node_t *const *nodes, uint32_t n_nodes,
                                    void **state, kr_sched_status_t *st)
{
    (void)self;
    (void)nodes;
    (void)st;
    if (n_nodes == 0)
        return KR_SCHED_SKIP;
    const kr_sched_snapshot_t *snap = cycle->snapshot;
    ipa_state_t *s = *state;
    if (s == NULL) {
        s = kr_arena_alloc(cycle->arena, sizeof(*s));
        memset(s, 0, sizeof(*s));
        s->snap = snap;
        *state = s;
    }
    sched_tpmap_init(&s->score, cycle->arena, 16);
    /* without preferred terms of its own, only placed pods with affinity
     * terms can score the pod */
    bool own = pod->n_preferred_affinity + pod->n_preferred_anti_affinity > 0;
    uint32_t nn = own ? snap->n_nodes : snap->n_have_pods_with_affinity;
    for (uint32_t k = 0; k < nn; k++) {
        const kr_sched_node_t *node = own ? snap->nodes[k] : snap->have_pods_with_affinity[k];
        if (kr_value_len(node->labels) == 0)
            continue;
        uint32_t np = own ? node->n_pods : node->n_pods_with_affinity;
        for (uint32_t j = 0; j < np; j++)
            score_existing(s, pod, own ? node->pods[j] : node->pods_with_affinity[j], node);
    }
    if (s->score.used == 0)
        return KR_SCHED_SKIP;
    /* the distinct topology keys, so that score looks each up once */
    s->keys = kr_arena_alloc(cycle->arena, s->score.used * sizeof(*s->keys));
    s->n_keys = 0;
    for (uint32_t i = 0; i < s->score.cap; i++) {
        const char *key = s->score.e[i].key;
        if (key == NULL)
            continue;
        bool seen = false;
        for (uint32_t j = 0; j < s->n_keys && !seen; j++)
            seen = strcmp(s->keys[j], key) == 0;
        if (!seen)
            s->keys[s->n_keys++] = key;
    }
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t ipa_score(void *self, const void *state, const kr_sched_pod_t *pod,
                                 const kr_sched_node_t *node, int64_t *score, kr_sched_status_t *st)
{
    (void)self;
    (void)pod;
    (void)st;
    const ipa_state_t *s = state;
    int64_t sum = 0;
    for (uint32_t i = 0; s != NULL && i < s->n_keys; i++) {
        const char *v = sched_label(node->labels, s->keys[i]);
        if (v != NULL)
            sum += sched_tpmap_get(&s->score, s->keys[i], v);
    }
    *score = sum;
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t ipa_normalize(void *self, const void *state, const kr_sched_pod_t *pod,
                                     const kr_sched_node_t *const *nodes, int64_t *scores,
                                     uint32_t n_nodes, kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    (void)pod;
    (void)nodes;
    (void)st;
    if (n_nodes == 0)
        return KR_SCHED_SUCCESS;
    int64_t min = INT64_MAX, max = INT64_MIN;
    for (uint32_t i = 0; i < n_nodes; i++) {
        if (scores[i] > max)
            max = scores[i];
        if (scores[i] < min)
            min = scores[i];
    }
    int64_t diff = max - min;
    for (uint32_t i = 0; i < n_nodes; i++) {
        double f = 0;
        if (diff > 0)
            f = (double)KR_SCHED_MAX_NODE_SCORE * ((double)(scores[i] - min) / (double)diff);
        scores[i] = (int64_t)f;
    }
    return KR_SCHED_SUCCESS;
}

const kr_sched_step_ops_t sched_step_inter_pod_affinity = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "InterPodAffinity",
    .events = KR_SCHED_EV_POD_ADD | KR_SCHED_EV_POD_UPDATE | KR_SCHED_EV_POD_DELETE |
              KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE | KR_SCHED_EV_NAMESPACE,
    .prefilter = ipa_prefilter,
    .filter = ipa_filter,
    .prescore = ipa_prescore,
    .score = ipa_score,
    .normalize = ipa_normalize,
    .state_clone = ipa_state_clone,
    .state_remove_pod = ipa_remove_pod,
    .state_add_pod = ipa_add_pod,
};
