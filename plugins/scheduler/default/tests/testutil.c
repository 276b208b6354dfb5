/* Test helpers for the default scheduler's steps (testutil.h). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

tctx_t *tc_new(void)
{
    tctx_t *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->arena = kr_arena_new(0);
    return c;
}

void tc_free(tctx_t *c)
{
    for (uint32_t i = 0; i < c->n_owned; i++)
        sched_pod_free(&c->owned[i]);
    kr_arena_destroy(&c->arena);
    free(c);
}

kr_value_t *tc_yaml(tctx_t *c, const char *text)
{
    kr_value_t *docs;
    kr_error_t err;
    if (kr_yaml_decode(c->arena, text, strlen(text), &docs, &err) < 0)
        fail_msg("yaml: %s", err.message);
    return kr_value_array_get(docs, 0);
}

static const kr_value_t *ns_labels(const kr_sched_snapshot_t *snap, const char *ns)
{
    const tctx_t *c = snap->ns_ud;
    for (uint32_t i = 0; i < c->n_ns; i++)
        if (strcmp(c->ns_names[i], ns) == 0)
            return c->ns_labels[i];
    return NULL;
}

/* Rebuilds the snapshot's lists after a change. */
static void refresh(tctx_t *c)
{
    c->snap = (kr_sched_snapshot_t){.nodes = c->node_ptrs,
                                    .n_nodes = c->n_nodes,
                                    .have_pods_with_affinity = c->with_aff,
                                    .have_pods_with_required_anti_affinity = c->with_anti,
                                    .ns_labels = ns_labels,
                                    .ns_ud = c};
    for (uint32_t i = 0; i < c->n_nodes; i++) {
        kr_sched_node_t *n = &c->nodes[i].n;
        c->node_ptrs[i] = n;
        if (n->n_pods_with_affinity > 0)
            c->with_aff[c->snap.n_have_pods_with_affinity++] = n;
        if (n->n_pods_with_required_anti_affinity > 0)
            c->with_anti[c->snap.n_have_pods_with_required_anti_affinity++] = n;
    }
}

static kr_sched_effect_t effect_of(const char *s)
{
    if (s != NULL && strcmp(s, "NoSchedule") == 0)
        return KR_SCHED_NO_SCHEDULE;
    if (s != NULL && strcmp(s, "PreferNoSchedule") == 0)
        return KR_SCHED_PREFER_NO_SCHEDULE;
    if (s != NULL && strcmp(s, "NoExecute") == 0)
        return KR_SCHED_NO_EXECUTE;
    return KR_SCHED_EFFECT_ANY;
}

uint32_t tc_node(tctx_t *c, const char *yaml)
{
    assert_true(c->n_nodes < T_MAX_NODES);
    tnode_t *tn = &c->nodes[c->n_nodes];
    memset(tn, 0, sizeof(*tn));
    kr_sched_node_t *n = &tn->n;
    const kr_value_t *obj = tc_yaml(c, yaml);
    n->obj = obj;
    n->name = kr_value_get(obj, "metadata.name")
                  ? kr_value_as_str(kr_value_get(obj, "metadata.name"))
                  : "";
    n->labels = kr_value_get(obj, "metadata.labels");
    n->unschedulable = kr_value_as_bool(kr_value_get(obj, "spec.unschedulable"), false);
    n->ready = 1;
    const kr_value_t *conds = kr_value_get(obj, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *cd = kr_value_array_get(conds, i);
        const char *type = kr_value_map_str(cd, "type"), *st = kr_value_map_str(cd, "status");
        if (type == NULL || st == NULL)
            continue;
        if (strcmp(type, "Ready") == 0)
            n->ready = strcmp(st, "True") == 0 ? 1 : strcmp(st, "False") == 0 ? 0 : -1;
        else if (strcmp(type, "NetworkUnavailable") == 0)
            n->network_unavailable = strcmp(st, "True") == 0;
    }
    const kr_value_t *alloc = kr_value_get(obj, "status.allocatable");
    if (alloc == NULL)
        alloc = kr_value_get(obj, "status.capacity");
    kr_error_t err;
    if (alloc != NULL && sched_resources_parse(c->arena, alloc, &n->allocatable, &err) < 0)
        fail_msg("allocatable: %s", err.message);
    const kr_value_t *taints = kr_value_get(obj, "spec.taints");
    for (size_t i = 0; i < kr_value_len(taints) && i < 8; i++) {
        const kr_value_t *t = kr_value_array_get(taints, i);
        const char *v = kr_value_map_str(t, "value");
        tn->taints[i] = (kr_sched_taint_t){kr_value_map_str(t, "key"), v ? v : "",
                                           effect_of(kr_value_map_str(t, "effect"))};
        n->n_taints++;
    }
    n->taints = tn->taints;
    n->pods = tn->pods;
    n->pods_with_affinity = tn->aff;
    n->pods_with_required_anti_affinity = tn->anti;
    n->used_ports = tn->ports;
    c->n_nodes++;
    refresh(c);
    return c->n_nodes - 1;
}

static sched_pod_t *new_pod(tctx_t *c, const char *yaml, bool keep)
{
    kr_error_t err;
    sched_pod_t *p = sched_pod_new(tc_yaml(c, yaml), keep, &err);
    if (p == NULL)
        fail_msg("pod: %s", err.message);
    assert_true(c->n_owned < T_MAX_PODS * 2);
    c->owned[c->n_owned++] = p;
    return p;
}

const kr_sched_pod_t *tc_place(tctx_t *c, uint32_t node, const char *yaml)
{
    assert_true(node < c->n_nodes);
    tnode_t *tn = &c->nodes[node];
    kr_sched_node_t *n = &tn->n;
    sched_pod_t *sp = new_pod(c, yaml, false);
    kr_sched_pod_t *p = &sp->pod;
    p->node_name = n->name;
    assert_true(n->n_pods < T_MAX_PODS);
    tn->pods[n->n_pods++] = p;
    sched_resources_add(c->arena, &n->requested, &p->requests, 1);
    n->nonzero_milli_cpu += p->nonzero_milli_cpu;
    n->nonzero_memory += p->nonzero_memory;
    for (uint32_t i = 0; i < p->n_ports && n->n_used_ports < T_MAX_PODS; i++)
        tn->ports[n->n_used_ports++] = p->ports[i];
    if (sched_pod_has_affinity(p))
        tn->aff[n->n_pods_with_affinity++] = p;
    if (sched_pod_has_required_anti_affinity(p))
        tn->anti[n->n_pods_with_required_anti_affinity++] = p;
    n->generation++;
    refresh(c);
    return p;
}

const kr_sched_pod_t *tc_pod(tctx_t *c, const char *yaml)
{
    return &new_pod(c, yaml, true)->pod;
}

void tc_namespace(tctx_t *c, const char *name, const char *labels_yaml)
{
    assert_true(c->n_ns < T_MAX_NS);
    c->ns_names[c->n_ns] = kr_arena_strdup(c->arena, name);
    c->ns_labels[c->n_ns] = tc_yaml(c, labels_yaml);
    c->n_ns++;
}

static void begin(tctx_t *c, tresult_t *r)
{
    memset(r, 0, sizeof(*r));
    c->cycle = (kr_sched_cycle_t){.arena = c->arena, .snapshot = &c->snap, .seq = 1};
}

void tc_filter(tctx_t *c, const kr_sched_step_ops_t *ops, const kr_sched_pod_t *pod, tresult_t *r)
{
    begin(c, r);
    void *state = NULL;
    if (ops->prefilter != NULL) {
        kr_sched_status_t st = {0};
        r->prefilter = ops->prefilter(c->self, &c->cycle, pod, &state, &st);
        if (r->prefilter == KR_SCHED_SKIP)
            goto out;
        if (r->prefilter != KR_SCHED_SUCCESS) {
            r->reason[0] = st.n_reasons ? st.reasons[0] : NULL;
            goto out;
        }
    }
    for (uint32_t i = 0; i < c->n_nodes; i++) {
        kr_sched_status_t st = {0};
        r->code[i] = ops->filter(c->self, state, pod, &c->nodes[i].n, &st);
        /* what a verdict says must agree with its code */
        assert_int_equal(st.code, r->code[i]);
        if (r->code[i] != KR_SCHED_SUCCESS)
            assert_true(st.n_reasons > 0);
        r->n_reasons[i] = st.n_reasons;
        for (uint32_t k = 0; k < st.n_reasons; k++)
            r->reasons[i][k] = st.reasons[k];
        r->reason[i] = st.n_reasons ? st.reasons[0] : NULL;
    }
out:
    if (ops->state_free != NULL && state != NULL)
        ops->state_free(c->self, state);
}

void tc_score(tctx_t *c, const kr_sched_step_ops_t *ops, const kr_sched_pod_t *pod, tresult_t *r)
{
    begin(c, r);
    void *state = NULL;
    kr_sched_status_t st = {0};
    if (ops->prefilter != NULL && ops->filter != NULL) {
        kr_sched_code_t code = ops->prefilter(c->self, &c->cycle, pod, &state, &st);
        assert_true(code == KR_SCHED_SUCCESS || code == KR_SCHED_SKIP);
    }
    r->prefilter = KR_SCHED_SUCCESS;
    if (ops->prescore != NULL)
        r->prefilter =
            ops->prescore(c->self, &c->cycle, pod, c->node_ptrs, c->n_nodes, &state, &st);
    if (r->prefilter == KR_SCHED_SUCCESS) {
        for (uint32_t i = 0; i < c->n_nodes; i++)
            assert_int_equal(ops->score(c->self, state, pod, &c->nodes[i].n, &r->score[i], &st),
                             KR_SCHED_SUCCESS);
        if (ops->normalize != NULL)
            assert_int_equal(
                ops->normalize(c->self, state, pod, c->node_ptrs, r->score, c->n_nodes, &st),
                KR_SCHED_SUCCESS);
        for (uint32_t i = 0; i < c->n_nodes; i++) {
            assert_true(r->score[i] >= 0);
            assert_true(r->score[i] <= KR_SCHED_MAX_NODE_SCORE);
        }
    }
    if (ops->state_free != NULL && state != NULL)
        ops->state_free(c->self, state);
}
