/* NodeResourcesFit and the resource scores (upstream noderesources/fit.go,
 * least_allocated.go, most_allocated.go, balanced_allocation.go and
 * resource_allocation.go), over cpu and memory with weight 1 each, the
 * default NodeResourcesFitArgs / NodeResourcesBalancedAllocationArgs. */
#include <math.h>
#include <string.h>

#include "step_util.h"

/* ---- NodeResourcesFit ------------------------------------------------------- */

typedef struct fit_state {
    const char **scalar_reasons; /* "Insufficient <name>" per requested scalar */
} fit_state_t;

static int64_t scalar_value(const kr_sched_resources_t *r, const char *name)
{
    for (uint32_t i = 0; i < r->n_scalar; i++) {
        int c = strcmp(r->scalar[i].name, name);
        if (c == 0)
            return r->scalar[i].value;
        if (c > 0)
            break; /* sorted by name */
    }
    return 0;
}

static kr_sched_code_t fit_prefilter(void *self, kr_sched_cycle_t *cycle, const kr_sched_pod_t *pod,
                                     void **state, kr_sched_status_t *st)
{
    (void)self;
    (void)st;
    /* no skip: "Too many pods" applies to every pod */
    const kr_sched_resources_t *r = &pod->requests;
    if (r->n_scalar == 0)
        return KR_SCHED_SUCCESS;
    fit_state_t *s = kr_arena_alloc(cycle->arena, sizeof(*s));
    s->scalar_reasons = kr_arena_alloc(cycle->arena, r->n_scalar * sizeof(*s->scalar_reasons));
    for (uint32_t i = 0; i < r->n_scalar; i++)
        s->scalar_reasons[i] = kr_arena_printf(cycle->arena, "Insufficient %s", r->scalar[i].name);
    *state = s;
    return KR_SCHED_SUCCESS;
}

static void fit_fail(kr_sched_status_t *st, const char *reason, bool unresolvable)
{
    /* Unschedulable unless the request exceeds what the node has at all, which
     * no preemption can cure */
    kr_sched_code_t code = st->code == KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE || unresolvable
                               ? KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE
                               : KR_SCHED_UNSCHEDULABLE;
    kr_sched_fail(st, code, reason);
}

static kr_sched_code_t fit_filter(void *self, const void *state, const kr_sched_pod_t *pod,
                                  const kr_sched_node_t *node, kr_sched_status_t *st)
{
    (void)self;
    const fit_state_t *s = state;
    const kr_sched_resources_t *req = &pod->requests;
    const kr_sched_resources_t *alloc = &node->allocatable;
    const kr_sched_resources_t *used = &node->requested;
    st->code = KR_SCHED_SUCCESS;
    if ((int64_t)node->n_pods + 1 > alloc->pods)
        fit_fail(st, "Too many pods", false);
    if (req->milli_cpu == 0 && req->memory == 0 && req->ephemeral_storage == 0 &&
        req->n_scalar == 0)
        return st->code;
    if (req->milli_cpu > 0 && req->milli_cpu > alloc->milli_cpu - used->milli_cpu)
        fit_fail(st, "Insufficient cpu", req->milli_cpu > alloc->milli_cpu);
    if (req->memory > 0 && req->memory > alloc->memory - used->memory)
        fit_fail(st, "Insufficient memory", req->memory > alloc->memory);
    if (req->ephemeral_storage > 0 &&
        req->ephemeral_storage > alloc->ephemeral_storage - used->ephemeral_storage)
        fit_fail(st, "Insufficient ephemeral-storage",
                 req->ephemeral_storage > alloc->ephemeral_storage);
    for (uint32_t i = 0; i < req->n_scalar; i++) {
        int64_t want = req->scalar[i].value;
        if (want == 0)
            continue;
        int64_t have = scalar_value(alloc, req->scalar[i].name);
        if (want > have - scalar_value(used, req->scalar[i].name))
            fit_fail(st, s != NULL ? s->scalar_reasons[i] : "Insufficient resources", want > have);
    }
    return st->code;
}

const kr_sched_step_ops_t sched_step_fit = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "NodeResourcesFit",
    .events = KR_SCHED_EV_POD_DELETE | KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE,
    .prefilter = fit_prefilter,
    .filter = fit_filter,
};

/* ---- scores ------------------------------------------------------------------ */

static int64_t least_requested(int64_t requested, int64_t capacity)
{
    if (capacity == 0 || requested > capacity)
        return 0;
    return (capacity - requested) * KR_SCHED_MAX_NODE_SCORE / capacity;
}

static int64_t most_requested(int64_t requested, int64_t capacity)
{
    if (capacity == 0)
        return 0;
    if (requested > capacity)
        requested = capacity; /* a node over its capacity scores as full */
    return requested * KR_SCHED_MAX_NODE_SCORE / capacity;
}

/* leastResourceScorer / mostResourceScorer: the weighted mean over the
 * resources the node has (non-zero requests: a pod asking nothing still
 * counts 100m and 200Mi). */
static int64_t weighted(int64_t (*fn)(int64_t, int64_t), const kr_sched_pod_t *pod,
                        const kr_sched_node_t *node)
{
    int64_t sum = 0, weights = 0;
    if (node->allocatable.milli_cpu != 0) {
        sum += fn(node->nonzero_milli_cpu + pod->nonzero_milli_cpu, node->allocatable.milli_cpu);
        weights++;
    }
    if (node->allocatable.memory != 0) {
        sum += fn(node->nonzero_memory + pod->nonzero_memory, node->allocatable.memory);
        weights++;
    }
    return weights == 0 ? 0 : sum / weights;
}

static kr_sched_code_t least_score(void *self, const void *state, const kr_sched_pod_t *pod,
                                   const kr_sched_node_t *node, int64_t *score,
                                   kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    (void)st;
    *score = weighted(least_requested, pod, node);
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t most_score(void *self, const void *state, const kr_sched_pod_t *pod,
                                  const kr_sched_node_t *node, int64_t *score,
                                  kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    (void)st;
    *score = weighted(most_requested, pod, node);
    return KR_SCHED_SUCCESS;
}

const kr_sched_step_ops_t sched_step_least_allocated = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "NodeResourcesLeastAllocated",
    .score = least_score,
};

const kr_sched_step_ops_t sched_step_most_allocated = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "NodeResourcesMostAllocated",
    .score = most_score,
};

/* BalancedAllocation reads the real requests (useRequested), not the
 * non-zero ones, and skips best-effort pods, so that pods asking nothing do
 * not all pile onto the same "balanced" node (kubernetes#129138). */
static kr_sched_code_t balanced_prescore(void *self, kr_sched_cycle_t *cycle,
                                         const kr_sched_pod_t *pod,
                                         const kr_sched_node_t *const *nodes, uint32_t n_nodes,
                                         void **state, kr_sched_status_t *st)
{
    (void)self;
    (void)cycle;
    (void)nodes;
    (void)n_nodes;
    (void)state;
    (void)st;
    if (pod->requests.milli_cpu == 0 && pod->requests.memory == 0)
        return KR_SCHED_SKIP;
    return KR_SCHED_SUCCESS;
}

static kr_sched_code_t balanced_score(void *self, const void *state, const kr_sched_pod_t *pod,
                                      const kr_sched_node_t *node, int64_t *score,
                                      kr_sched_status_t *st)
{
    (void)self;
    (void)state;
    (void)st;
    double f[2];
    int n = 0;
    int64_t req[2] = {node->requested.milli_cpu + pod->requests.milli_cpu,
                      node->requested.memory + pod->requests.memory};
    int64_t alloc[2] = {node->allocatable.milli_cpu, node->allocatable.memory};
    for (int i = 0; i < 2; i++) {
        if (alloc[i] == 0)
            continue;
        double fr = (double)req[i] / (double)alloc[i];
        f[n++] = fr > 1 ? 1 : fr;
    }
    /* with two resources the standard deviation is half their difference */
    double sd = n == 2 ? fabs((f[0] - f[1]) / 2) : 0;
    *score = (int64_t)((1 - sd) * (double)KR_SCHED_MAX_NODE_SCORE);
    return KR_SCHED_SUCCESS;
}

const kr_sched_step_ops_t sched_step_balanced_allocation = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "NodeResourcesBalancedAllocation",
    .prescore = balanced_prescore,
    .score = balanced_score,
};
