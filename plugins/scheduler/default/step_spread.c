/* PodTopologySpread (upstream podtopologyspread/{common,filtering,scoring}.go):
 * DoNotSchedule constraints filter, ScheduleAnyway constraints score.
 * Pods are counted once per cycle in prefilter / prescore into per-domain
 * counters; filter and score read them.  Cluster-level default constraints
 * (which upstream derives from the Services and ReplicaSets a pod belongs
 * to) are not applied: a pod without constraints skips the step. */
#include <math.h>
#include <string.h>

#include "podinfo.h"
#include "step_util.h"

#define LABEL_HOSTNAME "kubernetes.io/hostname"

typedef struct tsc {
    int32_t max_skew;
    int32_t min_domains;
    const char *key;
    kr_labelsel_t *sel;
    bool honor_affinity; /* nodeAffinityPolicy Honor (the default) */
    bool honor_taints;   /* nodeTaintsPolicy Honor (default Ignore) */
} tsc_t;

typedef struct crit_path {
    const char *value;
    int64_t num;
} crit_path_t;

typedef struct spread_state {
    bool owner;         /* owns the selectors; clones do not */
    sched_nodeaff_t na; /* the pod's required node affinity */
    /* filter: DoNotSchedule */
    uint32_t n;
    tsc_t *c;
    sched_tpmap_t *counts;   /* per constraint: (key, value) -> matching pods */
    crit_path_t (*paths)[2]; /* per constraint: the two smallest domains */
    /* score: ScheduleAnyway */
    uint32_t sn;
    tsc_t *sc;
    sched_tpmap_t *scounts;
    double *sweight;
} spread_state_t;

/* ---- constraints ------------------------------------------------------------ */

static void free_constraints(tsc_t *c, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        kr_labelsel_destroy(&c[i].sel);
}

/* matchLabelKeys: `key in (the pod's value)` for each key the pod has */
static kr_labelsel_t *constraint_selector(const kr_value_t *c, const kr_sched_pod_t *pod,
                                          kr_error_t *err)
{
    return sched_selector_with_keys(kr_value_map_get(c, "labelSelector"), pod->labels,
                                    kr_value_map_get(c, "matchLabelKeys"), NULL, err);
}

/* filterTopologySpreadConstraints: the constraints with whenUnsatisfiable
 * == `action`, defaults applied.  Returns the count, or -1 with `*reason`
 * set (in the arena) when a selector does not parse. */
static int parse_constraints(kr_arena_t *arena, const kr_sched_pod_t *pod, const char *action,
                             tsc_t **out, const char **reason)
{
    const kr_value_t *arr = kr_value_get(pod->obj, "spec.topologySpreadConstraints");
    size_t n = kr_value_type(arr) == KR_ARRAY ? kr_value_len(arr) : 0;
    uint32_t k = 0;
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *w = kr_value_map_str(kr_value_array_get(arr, i), "whenUnsatisfiable");
        k += w != NULL && strcmp(w, action) == 0;
    }
    if (k == 0)
        return 0;
    tsc_t *c = kr_arena_alloc(arena, k * sizeof(*c));
    memset(c, 0, k * sizeof(*c));
    k = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *item = kr_value_array_get(arr, i);
        const char *w = kr_value_map_str(item, "whenUnsatisfiable");
        if (w == NULL || strcmp(w, action) != 0)
            continue;
        kr_error_t err;
        tsc_t *t = &c[k];
        t->sel = constraint_selector(item, pod, &err);
        if (t->sel == NULL) {
            free_constraints(c, k);
            *reason = kr_arena_printf(
                arena, "spec.topologySpreadConstraints[%zu].labelSelector: %s", i, err.message);
            return -1;
        }
        k++;
        t->max_skew = (int32_t)kr_value_map_int(item, "maxSkew", 1);
        t->min_domains = (int32_t)kr_value_map_int(item, "minDomains", 1);
        const char *key = kr_value_map_str(item, "topologyKey");
        t->key = key != NULL ? key : "";
        const char *ap = kr_value_map_str(item, "nodeAffinityPolicy");
        const char *tp = kr_value_map_str(item, "nodeTaintsPolicy");
        t->honor_affinity = ap == NULL || strcmp(ap, "Ignore") != 0;
        t->honor_taints = tp != NULL && strcmp(tp, "Honor") == 0;
    }
    *out = c;
    return (int)k;
}

static bool has_all_keys(const kr_sched_node_t *node, const tsc_t *c, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (sched_label(node->labels, c[i].key) == NULL)
            return false;
    return true;
}

static bool include_node(const spread_state_t *s, const tsc_t *c, const kr_sched_pod_t *pod,
                         const kr_sched_node_t *node)
{
    if (c->honor_affinity && !sched_nodeaff_match(&s->na, node))
        return false;
    return !c->honor_taints || sched_untolerated_taint(pod, node) == NULL;
}

/* countPodsMatchSelector: the pod's namespace, terminating pods left out;
 * an empty selector counts nothing. */
static int64_t count_matching(const kr_sched_node_t *node, const kr_labelsel_t *sel, const char *ns)
{
    if (kr_labelsel_empty(sel))
        return 0;
    int64_t n = 0;
    for (uint32_t i = 0; i < node->n_pods; i++) {
        const kr_sched_pod_t *p = node->pods[i];
        if (p->terminating || strcmp(p->ns, ns) != 0)
            continue;
        n += kr_labelsel_match(sel, p->labels);
    }
    return n;
}

static spread_state_t *state_new(kr_sched_cycle_t *cycle, const kr_sched_pod_t *pod)
{
    spread_state_t *s = kr_arena_alloc(cycle->arena, sizeof(*s));
    *s = (spread_state_t){.owner = true};
    sched_nodeaff_compile(cycle->arena, pod->obj, &s->na);
    return s;
}

static void spread_state_free(void *self, void *state)
{
    (void)self;
    spread_state_t *s = state;
    if (s == NULL || !s->owner)
        return;
    free_constraints(s->c, s->n);
    free_constraints(s->sc, s->sn);
    s->n = s->sn = 0;
}

/* ---- filter -------------------------------------------------------------------- */

/* criticalPaths.update */
static void path_update(crit_path_t p[2], const char *value, int64_t num)
{
    int i = -1;
    if (p[0].value != NULL && strcmp(value, p[0].value) == 0)
        i = 0;
    else if (p[1].value != NULL && strcmp(value, p[1].value) == 0)
        i = 1;
    if (i >= 0) {
        p[i].num = num;
        if (p[0].num > p[1].num) {
            crit_path_t t = p[0];
            p[0] = p[1];
            p[1] = t;
        }
    } else if (num < p[0].num) {
        p[1] = p[0];
        p[0] = (crit_path_t){value, num};
    } else if (num < p[1].num) {
        p[1] = (crit_path_t){value, num};
    }
}

static kr_sched_code_t spread_prefilter(void *self, kr_sched_cycle_t *cycle,
                                        const kr_sched_pod_t *pod, void **state,
                                        kr_sched_status_t *st)
{
    (void)self;
    tsc_t *c;
    const char *reason = NULL;
    int n = parse_constraints(cycle->arena, pod, "DoNotSchedule", &c, &reason);
    if (n < 0)
        return kr_sched_fail(st, KR_SCHED_ERROR, reason);
    if (n == 0)
        return KR_SCHED_SKIP;
    spread_state_t *s = state_new(cycle, pod);
    s->n = (uint32_t)n;
    s->c = c;
    const kr_sched_snapshot_t *snap = cycle->snapshot;
    s->counts = kr_arena_alloc(cycle->arena, s->n * sizeof(*s->counts));
    s->paths = kr_arena_alloc(cycle->arena, s->n * sizeof(*s->paths));
    for (uint32_t i = 0; i < s->n; i++) {
        bool host = strcmp(c[i].key, LABEL_HOSTNAME) == 0;
        sched_tpmap_init(&s->counts[i], cycle->arena, host ? snap->n_nodes : 16);
    }
    for (uint32_t k = 0; k < snap->n_nodes; k++) {
        const kr_sched_node_t *node = snap->nodes[k];
        if (!has_all_keys(node, c, s->n))
            continue;
        for (uint32_t i = 0; i < s->n; i++) {
            if (!include_node(s, &c[i], pod, node))
                continue;
            sched_tpmap_add(&s->counts[i], c[i].key, sched_label(node->labels, c[i].key),
                            count_matching(node, c[i].sel, pod->ns));
        }
    }
    for (uint32_t i = 0; i < s->n; i++) {
        s->paths[i][0] = s->paths[i][1] = (crit_path_t){NULL, INT32_MAX};
        const sched_tpmap_t *m = &s->counts[i];
        for (uint32_t j = 0; j < m->cap; j++)
            if (m->e[j].key != NULL)
                path_update(s->paths[i], m->e[j].value, m->e[j].count);
    }
    *state = s;
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t spread_filter(void *self, const void *state, const kr_sched_pod_t *pod,
                                     const kr_sched_node_t *node, kr_sched_status_t *st)
{
    (void)self;
    const spread_state_t *s = state;
    for (uint32_t i = 0; s != NULL && i < s->n; i++) {
        const tsc_t *c = &s->c[i];
        const char *v = sched_label(node->labels, c->key);
        if (v == NULL)
            return kr_sched_fail(
                st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE,
                "node(s) didn't match pod topology spread constraints (missing required label)");
        int64_t min = s->paths[i][0].num;
        if (s->counts[i].used < (uint32_t)(c->min_domains > 0 ? c->min_domains : 0))
            min = 0; /* fewer eligible domains than minDomains: the global minimum is 0 */
        int64_t self_match = kr_labelsel_match(c->sel, pod->labels) ? 1 : 0;
        int64_t skew = sched_tpmap_get(&s->counts[i], c->key, v) + self_match - min;
        if (skew > c->max_skew)
            return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE,
                                 "node(s) didn't match pod topology spread constraints");
    }
    return KR_SCHED_SUCCESS;
}

static void *spread_state_clone(void *self, kr_sched_cycle_t *cycle, const void *state)
{
    (void)self;
    const spread_state_t *src = state;
    if (src == NULL)
        return NULL;
    spread_state_t *s = kr_arena_alloc(cycle->arena, sizeof(*s));
    *s = *src;
    s->owner = false;
    s->counts = kr_arena_alloc(cycle->arena, (src->n ? src->n : 1) * sizeof(*s->counts));
    s->paths = kr_arena_alloc(cycle->arena, (src->n ? src->n : 1) * sizeof(*s->paths));
    for (uint32_t i = 0; i < src->n; i++) {
        sched_tpmap_clone(&s->counts[i], &src->counts[i], cycle->arena);
        memcpy(s->paths[i], src->paths[i], sizeof(s->paths[i]));
    }
    return s;
}

/* preFilterState.updateWithPod */
static void spread_update(spread_state_t *s, const kr_sched_pod_t *pod, const kr_sched_pod_t *p,
                          const kr_sched_node_t *node, int64_t delta)
{
    if (s == NULL || node == NULL || strcmp(p->ns, pod->ns) != 0)
        return;
    if (!has_all_keys(node, s->c, s->n))
        return;
    for (uint32_t i = 0; i < s->n; i++) {
        if (!kr_labelsel_match(s->c[i].sel, p->labels) || !include_node(s, &s->c[i], pod, node))
            continue;
        sched_tp_entry_t *e = sched_tpmap_add(&s->counts[i], s->c[i].key,
                                              sched_label(node->labels, s->c[i].key), delta);
        path_update(s->paths[i], e->value, e->count);
    }
}

static void spread_remove_pod(void *self, void *state, const kr_sched_pod_t *pod,
                              const kr_sched_pod_t *victim, const kr_sched_node_t *node)
{
    (void)self;
    spread_update(state, pod, victim, node, -1);
}

static void spread_add_pod(void *self, void *state, const kr_sched_pod_t *pod,
                           const kr_sched_pod_t *added, const kr_sched_node_t *node)
{
    (void)self;
    spread_update(state, pod, added, node, 1);
}

/* ---- score --------------------------------------------------------------------- */

static kr_sched_code_t spread_prescore(void *self, kr_sched_cycle_t *cycle,
                                       const kr_sched_pod_t *pod,
                                       const kr_sched_node_t *const *nodes, uint32_t n_nodes,
                                       void **state, kr_sched_status_t *st)
{
    (void)self;
    if (n_nodes == 0)
        return KR_SCHED_SKIP;
    tsc_t *c;
    const char *reason = NULL;
    int n = parse_constraints(cycle->arena, pod, "ScheduleAnyway", &c, &reason);
    if (n < 0)
        return kr_sched_fail(st, KR_SCHED_ERROR, reason);
    if (n == 0)
        return KR_SCHED_SKIP;
    spread_state_t *s = *state;
    if (s == NULL) {
        s = state_new(cycle, pod);
        *state = s;
    }
    s->sn = (uint32_t)n;
    s->sc = c;
    s->scounts = kr_arena_alloc(cycle->arena, s->sn * sizeof(*s->scounts));
    s->sweight = kr_arena_alloc(cycle->arena, s->sn * sizeof(*s->sweight));
    /* the domains of the feasible nodes that have every key */
    uint32_t ignored = 0;
    for (uint32_t i = 0; i < s->sn; i++)
        sched_tpmap_init(&s->scounts[i], cycle->arena, 16);
    for (uint32_t k = 0; k < n_nodes; k++) {
        if (!has_all_keys(nodes[k], c, s->sn)) {
            ignored++;
            continue;
        }
        for (uint32_t i = 0; i < s->sn; i++)
            if (strcmp(c[i].key, LABEL_HOSTNAME) != 0)
                sched_tpmap_add(&s->scounts[i], c[i].key, sched_label(nodes[k]->labels, c[i].key),
                                0);
    }
    for (uint32_t i = 0; i < s->sn; i++) {
        uint32_t size =
            strcmp(c[i].key, LABEL_HOSTNAME) == 0 ? n_nodes - ignored : s->scounts[i].used;
        s->sweight[i] = log((double)size + 2);
    }
    /* the matching pods of every eligible node of the cluster, per domain */
    const kr_sched_snapshot_t *snap = cycle->snapshot;
    for (uint32_t k = 0; k < snap->n_nodes; k++) {
        const kr_sched_node_t *node = snap->nodes[k];
        if (!has_all_keys(node, c, s->sn))
            continue;
        for (uint32_t i = 0; i < s->sn; i++) {
            if (strcmp(c[i].key, LABEL_HOSTNAME) == 0 || !include_node(s, &c[i], pod, node))
                continue;
            const char *v = sched_label(node->labels, c[i].key);
            if (sched_tpmap_find(&s->scounts[i], c[i].key, v) == NULL)
                continue; /* a domain with no feasible node scores nothing */
            sched_tpmap_add(&s->scounts[i], c[i].key, v, count_matching(node, c[i].sel, pod->ns));
        }
    }
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t spread_score(void *self, const void *state, const kr_sched_pod_t *pod,
                                    const kr_sched_node_t *node, int64_t *score,
                                    kr_sched_status_t *st)
{
    (void)self;
    (void)st;
    const spread_state_t *s = state;
    *score = 0;
    if (s == NULL || !has_all_keys(node, s->sc, s->sn))
        return KR_SCHED_SUCCESS; /* an ignored node */
    double sum = 0;
    for (uint32_t i = 0; i < s->sn; i++) {
        const tsc_t *c = &s->sc[i];
        const char *v = sched_label(node->labels, c->key);
        int64_t cnt = strcmp(c->key, LABEL_HOSTNAME) == 0
                          ? count_matching(node, c->sel, pod->ns)
                          : sched_tpmap_get(&s->scounts[i], c->key, v);
        sum += (double)cnt * s->sweight[i] + (double)(c->max_skew - 1);
    }
    *score = (int64_t)llround(sum);
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t spread_normalize(void *self, const void *state, const kr_sched_pod_t *pod,
                                        const kr_sched_node_t *const *nodes, int64_t *scores,
                                        uint32_t n_nodes, kr_sched_status_t *st)
{
    (void)self;
    (void)pod;
    (void)st;
    const spread_state_t *s = state;
    if (s == NULL)
        return KR_SCHED_SUCCESS;
    int64_t min = INT64_MAX, max = 0;
    for (uint32_t i = 0; i < n_nodes; i++) {
        if (!has_all_keys(nodes[i], s->sc, s->sn))
            continue;
        if (scores[i] < min)
            min = scores[i];
        if (scores[i] > max)
            max = scores[i];
    }
    for (uint32_t i = 0; i < n_nodes; i++) {
        if (!has_all_keys(nodes[i], s->sc, s->sn))
            scores[i] = 0;
        else if (max == 0)
            scores[i] = KR_SCHED_MAX_NODE_SCORE;
        else
            scores[i] = KR_SCHED_MAX_NODE_SCORE * (max + min - scores[i]) / max;
    }
    return KR_SCHED_SUCCESS;
}

const kr_sched_step_ops_t sched_step_topology_spread = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "PodTopologySpread",
    .events = KR_SCHED_EV_POD_ADD | KR_SCHED_EV_POD_UPDATE | KR_SCHED_EV_POD_DELETE |
              KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE,
    .prefilter = spread_prefilter,
    .filter = spread_filter,
    .prescore = spread_prescore,
    .score = spread_score,
    .normalize = spread_normalize,
    .state_free = spread_state_free,
    .state_clone = spread_state_clone,
    .state_remove_pod = spread_remove_pod,
    .state_add_pod = spread_add_pod,
};
