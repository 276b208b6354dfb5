/* See framework.h. */
#include "framework.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "steps.h"

#define MIN_FEASIBLE_NODES      100
#define MIN_FEASIBLE_PERCENTAGE 5

/* ---- profile ------------------------------------------------------------------- */

static int resolve(const char *name, const kr_sched_step_ops_t **ops, void **self, kr_error_t *err)
{
    *ops = sched_builtin_step(name);
    *self = NULL;
    if (*ops != NULL)
        return 0;
    kr_error_t e;
    if (kr_sched_step_find(name, ops, self, &e) < 0)
        return kr_error_set(err, KR_E_INVALID, "unknown scheduler step \"%s\": %s", name,
                            e.message);
    return 0;
}

/* The index of the step in the profile, added if new. */
static int add_step(sched_profile_t *p, const char *name, uint32_t *idx, kr_error_t *err)
{
    const kr_sched_step_ops_t *ops;
    void *self;
    if (resolve(name, &ops, &self, err) < 0)
        return -1;
    for (uint32_t i = 0; i < p->n_steps; i++)
        if (p->steps[i].ops == ops) {
            *idx = i;
            return 0;
        }
    p->steps[p->n_steps] = (sched_step_ref_t){.ops = ops, .self = self};
    *idx = p->n_steps++;
    return 0;
}

static int add_filter(sched_profile_t *p, const char *name, kr_error_t *err)
{
    uint32_t i;
    if (add_step(p, name, &i, err) < 0)
        return -1;
    const kr_sched_step_ops_t *ops = p->steps[i].ops;
    if (ops->filter == NULL && ops->prefilter == NULL)
        return kr_error_set(err, KR_E_INVALID, "scheduler step \"%s\" is not a filter", name);
    if (p->steps[i].filter)
        return kr_error_set(err, KR_E_INVALID, "filter \"%s\" is listed twice", name);
    p->steps[i].filter = true;
    p->filters[p->n_filters++] = i;
    return 0;
}

static int add_score(sched_profile_t *p, const char *name, int64_t weight, kr_error_t *err)
{
    uint32_t i;
    if (add_step(p, name, &i, err) < 0)
        return -1;
    if (p->steps[i].ops->score == NULL)
        return kr_error_set(err, KR_E_INVALID, "scheduler step \"%s\" does not score", name);
    /* upstream's validation: weights 1..100 (0 would mean "not enabled") */
    if (weight < 1 || weight > 100)
        return kr_error_set(err, KR_E_INVALID,
                            "score \"%s\": weight %lld: must be in the range 1-100", name,
                            (long long)weight);
    if (p->steps[i].weight != 0)
        return kr_error_set(err, KR_E_INVALID, "score \"%s\" is listed twice", name);
    p->steps[i].weight = weight;
    p->scores[p->n_scores++] = i;
    return 0;
}

sched_profile_t *sched_profile_new(const char *const *filters, uint32_t n_filters,
                                   const char *const *scores, const int64_t *weights,
                                   uint32_t n_scores, int32_t pct_to_score, kr_error_t *err)
{
    uint32_t room = (filters != NULL ? n_filters : (uint32_t)sched_builtin_steps_len) +
                    (scores != NULL ? n_scores : (uint32_t)sched_builtin_steps_len);
    sched_profile_t *p = calloc(1, sizeof *p);
    if (p == NULL || (p->steps = calloc(room + 1, sizeof *p->steps)) == NULL ||
        (p->filters = calloc(room + 1, sizeof *p->filters)) == NULL ||
        (p->scores = calloc(room + 1, sizeof *p->scores)) == NULL)
        abort();
    p->pct_to_score = pct_to_score;
    p->rand = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull | 1;
    int rc = 0;
    if (filters != NULL) {
        for (uint32_t i = 0; i < n_filters && rc == 0; i++)
            rc = add_filter(p, filters[i], err);
    } else {
        for (size_t i = 0; i < sched_builtin_steps_len && rc == 0; i++)
            if (sched_builtin_steps[i].filter)
                rc = add_filter(p, sched_builtin_steps[i].ops->name, err);
    }
    if (scores != NULL) {
        for (uint32_t i = 0; i < n_scores && rc == 0; i++)
            rc = add_score(p, scores[i], weights[i], err);
    } else {
        for (size_t i = 0; i < sched_builtin_steps_len && rc == 0; i++)
            if (sched_builtin_steps[i].score_weight > 0)
                rc = add_score(p, sched_builtin_steps[i].ops->name,
                               sched_builtin_steps[i].score_weight, err);
    }
    if (rc < 0) {
        sched_profile_destroy(&p);
        return NULL;
    }
    bool any = false;
    for (uint32_t i = 0; i < p->n_filters; i++) {
        unsigned ev = p->steps[p->filters[i]].ops->events;
        any = any || ev == 0;
        p->events |= ev;
    }
    if (any)
        p->events = 0;
    return p;
}

void sched_profile_destroy(sched_profile_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    free((*self_p)->steps);
    free((*self_p)->filters);
    free((*self_p)->scores);
    free(*self_p);
    *self_p = NULL;
}

uint32_t sched_num_feasible_to_find(int32_t pct, uint32_t n)
{
    if (n < MIN_FEASIBLE_NODES || pct >= 100)
        return n;
    int64_t p = pct;
    if (p <= 0) {
        p = 50 - (int64_t)n / 125;
        if (p < MIN_FEASIBLE_PERCENTAGE)
            p = MIN_FEASIBLE_PERCENTAGE;
    }
    uint64_t k = (uint64_t)n * (uint64_t)p / 100;
    return k < MIN_FEASIBLE_NODES ? MIN_FEASIBLE_NODES : (uint32_t)k;
}

/* ---- a cycle ------------------------------------------------------------------- */

void sched_run_init(sched_run_t *r, sched_profile_t *prof, sched_cache_t *cache, kr_arena_t *arena,
                    const kr_sched_snapshot_t *snap, const kr_sched_pod_t *pod, uint64_t seq)
{
    memset(r, 0, sizeof *r);
    r->prof = prof;
    r->cache = cache;
    r->pod = pod;
    r->snap = snap;
    r->cycle = (kr_sched_cycle_t){.arena = arena, .snapshot = snap, .seq = seq, .scheduler = r};
    size_t n = prof->n_steps != 0 ? prof->n_steps : 1;
    r->state = kr_arena_alloc(arena, n * sizeof *r->state);
    r->skip_filter = kr_arena_alloc(arena, n * sizeof *r->skip_filter);
    r->skip_score = kr_arena_alloc(arena, n * sizeof *r->skip_score);
    memset(r->state, 0, n * sizeof *r->state);
    memset(r->skip_filter, 0, n * sizeof *r->skip_filter);
    memset(r->skip_score, 0, n * sizeof *r->skip_score);
}

void sched_run_fini(sched_run_t *r)
{
    for (uint32_t i = 0; i < r->prof->n_steps; i++) {
        const sched_step_ref_t *s = &r->prof->steps[i];
        if (r->state[i] != NULL && s->ops->state_free != NULL)
            s->ops->state_free(s->self, r->state[i]);
        r->state[i] = NULL;
    }
}

static kr_sched_code_t filter_plain(sched_run_t *r, void **states, const kr_sched_node_t *node,
                                    kr_sched_status_t *st, uint32_t *failed_step)
{
    const sched_profile_t *p = r->prof;
    for (uint32_t k = 0; k < p->n_filters; k++) {
        uint32_t i = p->filters[k];
        const sched_step_ref_t *s = &p->steps[i];
        if (r->skip_filter[i] || s->ops->filter == NULL)
            continue;
        st->code = KR_SCHED_SUCCESS;
        st->n_reasons = 0;
        kr_sched_code_t code = s->ops->filter(s->self, states[i], r->pod, node, st);
        if (code == KR_SCHED_SUCCESS || code == KR_SCHED_SKIP)
            continue;
        st->code = code;
        if (failed_step != NULL)
            *failed_step = i;
        return code;
    }
    st->code = KR_SCHED_SUCCESS;
    return KR_SCHED_SUCCESS;
}

kr_sched_code_t sched_run_filter(sched_run_t *r, void **states, const kr_sched_node_t *node,
                                 const sched_cnode_t *nominated_from, kr_sched_status_t *st,
                                 uint32_t *failed_step)
{
    if (states == NULL)
        states = r->state;
    if (nominated_from != NULL && nominated_from->n_nominated != 0) {
        /* upstream's RunFilterPluginsWithNominatedPods: pods nominated here
         * with at least this pod's priority count as if already placed */
        sched_nodebuf_t *nb = NULL;
        void **with = NULL;
        for (uint32_t k = 0; k < nominated_from->n_nominated; k++) {
            const kr_sched_pod_t *np = nominated_from->nominated[k];
            if (np->priority < r->pod->priority || strcmp(np->uid, r->pod->uid) == 0)
                continue;
            if (nb == NULL) {
                nb = sched_node_clone(r->cycle.arena, node);
                with = sched_run_clone_states(r, states);
            }
            sched_node_add_pod(nb, np);
            sched_run_add_pod(r, with, np, &nb->n);
        }
        if (nb != NULL) {
            kr_sched_code_t code = filter_plain(r, with, &nb->n, st, failed_step);
            if (code != KR_SCHED_SUCCESS)
                return code;
        }
    }
    return filter_plain(r, states, node, st, failed_step);
}

void **sched_run_clone_states(sched_run_t *r, void *const *from)
{
    const sched_profile_t *p = r->prof;
    void **s = kr_arena_alloc(r->cycle.arena, (p->n_steps + 1) * sizeof *s);
    for (uint32_t i = 0; i < p->n_steps; i++) {
        const sched_step_ref_t *st = &p->steps[i];
        s[i] = from[i] != NULL && st->ops->state_clone != NULL
                   ? st->ops->state_clone(st->self, &r->cycle, from[i])
                   : from[i];
    }
    return s;
}

void sched_run_remove_pod(sched_run_t *r, void **states, const kr_sched_pod_t *victim,
                          const kr_sched_node_t *node)
{
    const sched_profile_t *p = r->prof;
    for (uint32_t i = 0; i < p->n_steps; i++) {
        const sched_step_ref_t *s = &p->steps[i];
        if (states[i] != NULL && s->ops->state_remove_pod != NULL && !r->skip_filter[i])
            s->ops->state_remove_pod(s->self, states[i], r->pod, victim, node);
    }
}

void sched_run_add_pod(sched_run_t *r, void **states, const kr_sched_pod_t *added,
                       const kr_sched_node_t *node)
{
    const sched_profile_t *p = r->prof;
    for (uint32_t i = 0; i < p->n_steps; i++) {
        const sched_step_ref_t *s = &p->steps[i];
        if (states[i] != NULL && s->ops->state_add_pod != NULL && !r->skip_filter[i])
            s->ops->state_add_pod(s->self, states[i], r->pod, added, node);
    }
}

static uint64_t next_rand(sched_profile_t *p)
{
    uint64_t x = p->rand;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p->rand = x;
    return x;
}

static void fail_error(sched_run_t *r, sched_result_t *out, const char *point, uint32_t step,
                       const kr_sched_status_t *st)
{
    out->code = KR_SCHED_ERROR;
    out->error =
        kr_arena_printf(r->cycle.arena, "running %s plugin \"%s\": %s", point,
                        r->prof->steps[step].ops->name, sched_status_message(r->cycle.arena, st));
}

static void add_events(sched_result_t *out, const sched_step_ref_t *s, bool *any)
{
    if (s->ops->events == 0)
        *any = true;
    out->events |= s->ops->events;
}

/* prefilter of every filter step; false when the cycle ends here */
static bool prefilter(sched_run_t *r, sched_result_t *out)
{
    sched_profile_t *p = r->prof;
    for (uint32_t k = 0; k < p->n_filters; k++) {
        uint32_t i = p->filters[k];
        const sched_step_ref_t *s = &p->steps[i];
        if (s->ops->prefilter == NULL)
            continue;
        kr_sched_status_t st = {0};
        kr_sched_code_t code = s->ops->prefilter(s->self, &r->cycle, r->pod, &r->state[i], &st);
        if (code == KR_SCHED_SUCCESS)
            continue;
        if (code == KR_SCHED_SKIP) {
            r->skip_filter[i] = true;
            continue;
        }
        if (code == KR_SCHED_ERROR) {
            fail_error(r, out, "PreFilter", i, &st);
            return false;
        }
        /* rejected on every node at once */
        out->code = KR_SCHED_UNSCHEDULABLE;
        out->fit.prefilter_msg = sched_status_message(r->cycle.arena, &st);
        memset(out->node_codes, code, r->snap->n_nodes);
        bool any = false;
        add_events(out, s, &any);
        if (any)
            out->events = 0;
        return false;
    }
    return true;
}

static void score(sched_run_t *r, const kr_sched_node_t **feasible, uint32_t nf,
                  sched_result_t *out)
{
    sched_profile_t *p = r->prof;
    kr_arena_t *a = r->cycle.arena;
    int64_t *total = kr_arena_alloc(a, nf * sizeof *total);
    int64_t *sc = kr_arena_alloc(a, nf * sizeof *sc);
    memset(total, 0, nf * sizeof *total);
    for (uint32_t k = 0; k < p->n_scores; k++) {
        uint32_t i = p->scores[k];
        const sched_step_ref_t *s = &p->steps[i];
        if (s->ops->prescore == NULL)
            continue;
        kr_sched_status_t st = {0};
        kr_sched_code_t code =
            s->ops->prescore(s->self, &r->cycle, r->pod, feasible, nf, &r->state[i], &st);
        if (code == KR_SCHED_SKIP)
            r->skip_score[i] = true;
        else if (code != KR_SCHED_SUCCESS) {
            fail_error(r, out, "PreScore", i, &st);
            return;
        }
    }
    for (uint32_t k = 0; k < p->n_scores; k++) {
        uint32_t i = p->scores[k];
        const sched_step_ref_t *s = &p->steps[i];
        if (r->skip_score[i])
            continue;
        kr_sched_status_t st = {0};
        for (uint32_t j = 0; j < nf; j++) {
            sc[j] = 0;
            if (s->ops->score(s->self, r->state[i], r->pod, feasible[j], &sc[j], &st) !=
                KR_SCHED_SUCCESS) {
                fail_error(r, out, "Score", i, &st);
                return;
            }
        }
        if (s->ops->normalize != NULL && s->ops->normalize(s->self, r->state[i], r->pod, feasible,
                                                           sc, nf, &st) != KR_SCHED_SUCCESS) {
            fail_error(r, out, "NormalizeScore", i, &st);
            return;
        }
        for (uint32_t j = 0; j < nf; j++) {
            if (sc[j] < 0 || sc[j] > KR_SCHED_MAX_NODE_SCORE) {
                out->code = KR_SCHED_ERROR;
                out->error =
                    kr_arena_printf(a,
                                    "plugin \"%s\" returns an invalid score %lld, it should in the "
                                    "range of [0, %d] after normalizing",
                                    s->ops->name, (long long)sc[j], KR_SCHED_MAX_NODE_SCORE);
                return;
            }
            total[j] += sc[j] * s->weight;
        }
    }
    /* selectHost: the best, a uniformly random one among equals */
    uint32_t best = 0, ties = 1;
    for (uint32_t j = 1; j < nf; j++) {
        if (total[j] > total[best]) {
            best = j;
            ties = 1;
        } else if (total[j] == total[best] && next_rand(p) % ++ties == 0) {
            best = j;
        }
    }
    out->code = KR_SCHED_SUCCESS;
    out->node = feasible[best];
}

void sched_run_schedule(sched_run_t *r, const char *nominated, sched_result_t *out)
{
    sched_profile_t *p = r->prof;
    kr_arena_t *a = r->cycle.arena;
    uint32_t n = r->snap->n_nodes;
    memset(out, 0, sizeof *out);
    sched_fiterr_init(&out->fit, a, n);
    if (n == 0) {
        out->code = KR_SCHED_UNSCHEDULABLE;
        out->error = "no nodes available to schedule pods";
        return;
    }
    out->node_codes = kr_arena_alloc(a, n);
    memset(out->node_codes, KR_SCHED_SUCCESS, n);
    if (!r->prefiltered) {
        r->prefiltered = true;
        if (!prefilter(r, out))
            return;
    }
    kr_sched_status_t st;
    if (nominated != NULL && *nominated != '\0') { /* upstream's evaluateNominatedNode */
        const sched_cnode_t *cn = sched_cache_node(r->cache, nominated);
        if (cn != NULL && cn->present &&
            sched_run_filter(r, NULL, &cn->b.n, cn, &st, NULL) == KR_SCHED_SUCCESS) {
            out->code = KR_SCHED_SUCCESS;
            out->node = &cn->b.n;
            out->examined = out->feasible = 1;
            return;
        }
    }
    uint32_t want = sched_num_feasible_to_find(p->pct_to_score, n);
    const kr_sched_node_t **feasible = kr_arena_alloc(a, want * sizeof *feasible);
    uint32_t nf = 0, start = p->next_start % n, k;
    bool any = false;
    /* nominations are rare: no node's list is looked at while there are none */
    bool nominations = r->cache != NULL && sched_cache_nominated(r->cache) != 0;
    for (k = 0; k < n && nf < want; k++) {
        uint32_t idx = start + k < n ? start + k : start + k - n;
        const kr_sched_node_t *node = r->snap->nodes[idx];
        uint32_t failed = 0;
        /* snapshot nodes are the cache's: their nominated pods are beside them */
        const sched_cnode_t *cn = nominations ? (const sched_cnode_t *)(const void *)node : NULL;
        kr_sched_code_t code = sched_run_filter(r, NULL, node, cn, &st, &failed);
        if (code == KR_SCHED_SUCCESS) {
            feasible[nf++] = node;
        } else if (code == KR_SCHED_ERROR) {
            fail_error(r, out, "Filter", failed, &st);
            return;
        } else {
            out->node_codes[idx] = (uint8_t)code;
            sched_fiterr_add(&out->fit, &st);
            add_events(out, &p->steps[failed], &any);
        }
    }
    p->next_start = (start + k) % n;
    out->examined = k;
    out->feasible = nf;
    if (nf == 0) {
        out->code = KR_SCHED_UNSCHEDULABLE;
        if (any)
            out->events = 0;
        return;
    }
    out->events = 0;
    if (nf == 1) {
        out->code = KR_SCHED_SUCCESS;
        out->node = feasible[0];
        return;
    }
    score(r, feasible, nf, out);
}
