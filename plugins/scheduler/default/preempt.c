/* See preempt.h. */
#include "preempt.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CANDIDATE_PERCENTAGE 10
#define MIN_CANDIDATES_ABSOLUTE  100

static const char NOT_HELPFUL[] = "Preemption is not helpful for scheduling";
static const char NO_VICTIMS[] = "No preemption victims found for incoming pod";

/* upstream's MoreImportantPod, by priority (we keep no start times) */
static int more_important(const void *a, const void *b)
{
    const kr_sched_pod_t *x = *(const kr_sched_pod_t *const *)a,
                         *y = *(const kr_sched_pod_t *const *)b;
    return x->priority > y->priority ? -1 : x->priority < y->priority;
}

kr_sched_code_t sched_select_victims(sched_run_t *r, const kr_sched_node_t *node,
                                     const kr_sched_pod_t ***victims, uint32_t *n_victims,
                                     kr_sched_status_t *st)
{
    kr_arena_t *a = r->cycle.arena;
    const sched_cnode_t *cn = (const sched_cnode_t *)(const void *)node;
    sched_nodebuf_t *nb = sched_node_clone(a, node);
    void **states = sched_run_clone_states(r, r->state);
    const kr_sched_pod_t **pot = kr_arena_alloc(a, (node->n_pods + 1) * sizeof *pot);
    uint32_t n_pot = 0;
    for (uint32_t i = 0; i < node->n_pods; i++) {
        const kr_sched_pod_t *p = node->pods[i];
        if (p->priority < r->pod->priority)
            pot[n_pot++] = p;
    }
    memset(st, 0, sizeof *st);
    if (n_pot == 0)
        return kr_sched_fail(st, KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE, NO_VICTIMS);
    for (uint32_t i = 0; i < n_pot; i++) {
        sched_node_remove_pod(nb, pot[i]);
        sched_run_remove_pod(r, states, pot[i], &nb->n);
    }
    kr_sched_code_t code = sched_run_filter(r, states, &nb->n, cn, st, NULL);
    if (code != KR_SCHED_SUCCESS)
        return code;
    qsort(pot, n_pot, sizeof *pot, more_important);
    const kr_sched_pod_t **v = kr_arena_alloc(a, n_pot * sizeof *v);
    uint32_t nv = 0;
    for (uint32_t i = 0; i < n_pot; i++) { /* reprieve as many as fit */
        sched_node_add_pod(nb, pot[i]);
        sched_run_add_pod(r, states, pot[i], &nb->n);
        kr_sched_status_t tmp;
        if (sched_run_filter(r, states, &nb->n, cn, &tmp, NULL) != KR_SCHED_SUCCESS) {
            sched_node_remove_pod(nb, pot[i]);
            sched_run_remove_pod(r, states, pot[i], &nb->n);
            v[nv++] = pot[i];
        }
    }
    *victims = v;
    *n_victims = nv;
    memset(st, 0, sizeof *st);
    return KR_SCHED_SUCCESS;
}

typedef struct candidate {
    const kr_sched_node_t *node;
    const kr_sched_pod_t **victims;
    uint32_t n_victims;
} candidate_t;

/* pickOneNodeForPreemption without PDBs or start times: lowest highest
 * victim priority, lowest sum of priorities, fewest victims, first. */
static const candidate_t *pick(const candidate_t *c, uint32_t n)
{
    const candidate_t *best = &c[0];
    int64_t b_high = 0, b_sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t high = c[i].n_victims != 0 ? c[i].victims[0]->priority : INT32_MIN, sum = 0;
        for (uint32_t j = 0; j < c[i].n_victims; j++)
            sum += (int64_t)c[i].victims[j]->priority + (int64_t)INT32_MAX + 1;
        if (i == 0 || high < b_high || (high == b_high && sum < b_sum) ||
            (high == b_high && sum == b_sum && c[i].n_victims < best->n_victims)) {
            best = &c[i];
            b_high = high;
            b_sum = sum;
        }
    }
    return best;
}

void sched_preempt(sched_run_t *r, const sched_result_t *res, const char *nominated, uint64_t rand,
                   sched_preemption_t *out)
{
    kr_arena_t *a = r->cycle.arena;
    const kr_sched_snapshot_t *snap = r->snap;
    memset(out, 0, sizeof *out);
    if (r->pod->preempt_never) {
        out->message = "preemption: not eligible due to preemptionPolicy=Never.";
        return;
    }
    if (snap->n_nodes == 0 || res->node_codes == NULL)
        return;
    if (nominated != NULL && *nominated != '\0') {
        /* eligible again only once the pods it preempted there are gone */
        const sched_cnode_t *cn = sched_cache_node(r->cache, nominated);
        bool unresolvable = false;
        for (uint32_t i = 0; i < snap->n_nodes; i++)
            if (cn != NULL && snap->nodes[i] == &cn->b.n)
                unresolvable = res->node_codes[i] == KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE;
        for (uint32_t i = 0; cn != NULL && !unresolvable && i < cn->b.n.n_pods; i++) {
            const kr_sched_pod_t *p = cn->b.n.pods[i];
            if (p->priority < r->pod->priority && p->terminating) {
                out->message = "preemption: not eligible due to a terminating pod on the "
                               "nominated node.";
                return;
            }
        }
    }
    sched_fiterr_t fe;
    sched_fiterr_init(&fe, a, snap->n_nodes);
    uint32_t n_pot = 0;
    for (uint32_t i = 0; i < snap->n_nodes; i++) {
        if (res->node_codes[i] == KR_SCHED_UNSCHEDULABLE)
            n_pot++;
        else
            sched_fiterr_add_n(&fe, NOT_HELPFUL, 1);
    }
    uint32_t want = n_pot * MIN_CANDIDATE_PERCENTAGE / 100;
    if (want < MIN_CANDIDATES_ABSOLUTE)
        want = MIN_CANDIDATES_ABSOLUTE;
    if (want > n_pot)
        want = n_pot;
    candidate_t *cands = kr_arena_alloc(a, (want + 1) * sizeof *cands);
    uint32_t nc = 0, start = snap->n_nodes != 0 ? (uint32_t)(rand % snap->n_nodes) : 0;
    for (uint32_t k = 0; k < snap->n_nodes && nc < want; k++) {
        uint32_t i = (start + k) % snap->n_nodes;
        if (res->node_codes[i] != KR_SCHED_UNSCHEDULABLE)
            continue;
        kr_sched_status_t st;
        candidate_t c = {.node = snap->nodes[i]};
        if (sched_select_victims(r, c.node, &c.victims, &c.n_victims, &st) == KR_SCHED_SUCCESS)
            cands[nc++] = c;
        else
            sched_fiterr_add(&fe, &st);
    }
    if (nc == 0) {
        /* ends with the FitError's full stop; the FailedScheduling message
         * adds its own after it, as upstream's does */
        out->message = kr_arena_printf(a, "preemption: %s", sched_fiterr_message(&fe));
        return;
    }
    const candidate_t *best = pick(cands, nc);
    out->found = true;
    out->node = best->node;
    out->victims = best->victims;
    out->n_victims = best->n_victims;
}
