/* Shared pieces of the built-in steps (step_util.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "step_util.h"

const char *sched_label(const kr_value_t *labels, const char *key)
{
    return labels == NULL ? NULL : kr_value_map_str(labels, key);
}

/* ---- taints and tolerations ------------------------------------------------ */

bool sched_toleration_tolerates(const kr_sched_toleration_t *t, const char *key, const char *value,
                                kr_sched_effect_t effect)
{
    if (t->effect != KR_SCHED_EFFECT_ANY && t->effect != effect)
        return false;
    if (t->key[0] != '\0' && strcmp(t->key, key) != 0)
        return false;
    return t->exists || strcmp(t->value, value) == 0;
}

bool sched_tolerates(const kr_sched_pod_t *pod, const char *key, const char *value,
                     kr_sched_effect_t effect)
{
    for (uint32_t i = 0; i < pod->n_tolerations; i++)
        if (sched_toleration_tolerates(&pod->tolerations[i], key, value, effect))
            return true;
    return false;
}

const kr_sched_taint_t *sched_untolerated_taint(const kr_sched_pod_t *pod,
                                                const kr_sched_node_t *node)
{
    for (uint32_t i = 0; i < node->n_taints; i++) {
        const kr_sched_taint_t *t = &node->taints[i];
        if (t->effect != KR_SCHED_NO_SCHEDULE && t->effect != KR_SCHED_NO_EXECUTE)
            continue;
        if (!sched_tolerates(pod, t->key, t->value, t->effect))
            return t;
    }
    return NULL;
}

/* ---- node selectors -------------------------------------------------------- */

static bool parse_int64(const char *s, int64_t *out)
{
    if (s == NULL || s[0] == '\0')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || s[0] == ' ' || s[0] == '\t' || s[0] == '\n')
        return false;
    *out = v;
    return true;
}

/* One NodeSelectorRequirement; false when the API would have refused it
 * (the term then matches nothing, as upstream's lazy-error selector). */
static bool compile_req(kr_arena_t *arena, const kr_value_t *e, bool field, sched_nsreq_t *r)
{
    const char *key = kr_value_map_str(e, "key");
    const char *op = kr_value_map_str(e, "operator");
    const kr_value_t *vals = kr_value_map_get(e, "values");
    size_t nv = kr_value_type(vals) == KR_ARRAY ? kr_value_len(vals) : 0;
    if (key == NULL || op == NULL)
        return false;
    *r = (sched_nsreq_t){.key = key, .field = field};
    if (strcmp(op, "In") == 0)
        r->op = SCHED_NS_IN;
    else if (strcmp(op, "NotIn") == 0)
        r->op = SCHED_NS_NOTIN;
    else if (strcmp(op, "Exists") == 0 && !field)
        r->op = SCHED_NS_EXISTS;
    else if (strcmp(op, "DoesNotExist") == 0 && !field)
        r->op = SCHED_NS_DOES_NOT_EXIST;
    else if (strcmp(op, "Gt") == 0 && !field)
        r->op = SCHED_NS_GT;
    else if (strcmp(op, "Lt") == 0 && !field)
        r->op = SCHED_NS_LT;
    else
        return false;
    if (field && (strcmp(key, "metadata.name") != 0 || nv != 1))
        return false;
    switch (r->op) {
    case SCHED_NS_IN:
    case SCHED_NS_NOTIN:
        if (nv == 0)
            return false;
        break;
    case SCHED_NS_EXISTS:
    case SCHED_NS_DOES_NOT_EXIST:
        if (nv != 0)
            return false;
        break;
    case SCHED_NS_GT:
    case SCHED_NS_LT:
        if (nv != 1 || !parse_int64(kr_value_as_str(kr_value_array_get(vals, 0)), &r->num))
            return false;
        return true;
    }
    const char **v = kr_arena_alloc(arena, (nv ? nv : 1) * sizeof(*v));
    for (size_t i = 0; i < nv; i++) {
        v[i] = kr_value_as_str(kr_value_array_get(vals, i));
        if (v[i] == NULL)
            return false;
    }
    r->values = v;
    r->n_values = (uint32_t)nv;
    return true;
}

static void compile_term(kr_arena_t *arena, const kr_value_t *term, sched_nsterm_t *out)
{
    const kr_value_t *me = kr_value_map_get(term, "matchExpressions");
    const kr_value_t *mf = kr_value_map_get(term, "matchFields");
    size_t ne = kr_value_type(me) == KR_ARRAY ? kr_value_len(me) : 0;
    size_t nf = kr_value_type(mf) == KR_ARRAY ? kr_value_len(mf) : 0;
    *out = (sched_nsterm_t){.valid = ne + nf > 0};
    if (ne + nf == 0)
        return;
    sched_nsreq_t *reqs = kr_arena_alloc(arena, (ne + nf) * sizeof(*reqs));
    for (size_t i = 0; i < ne + nf && out->valid; i++)
        out->valid =
            compile_req(arena, i < ne ? kr_value_array_get(me, i) : kr_value_array_get(mf, i - ne),
                        i >= ne, &reqs[i]);
    out->reqs = reqs;
    out->n = (uint32_t)(ne + nf);
}

void sched_nodeaff_compile(kr_arena_t *arena, const kr_value_t *pod_obj, sched_nodeaff_t *out)
{
    const kr_value_t *spec = kr_value_map_get(pod_obj, "spec");
    *out = (sched_nodeaff_t){0};
    const kr_value_t *ns = kr_value_map_get(spec, "nodeSelector");
    if (kr_value_type(ns) == KR_MAP && kr_value_len(ns) > 0)
        out->node_selector = ns;
    const kr_value_t *req =
        kr_value_get(spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
    if (kr_value_type(req) != KR_MAP)
        return;
    out->has_required = true;
    const kr_value_t *terms = kr_value_map_get(req, "nodeSelectorTerms");
    size_t n = kr_value_type(terms) == KR_ARRAY ? kr_value_len(terms) : 0;
    if (n == 0)
        return;
    sched_nsterm_t *t = kr_arena_alloc(arena, n * sizeof(*t));
    for (size_t i = 0; i < n; i++)
        compile_term(arena, kr_value_array_get(terms, i), &t[i]);
    out->terms = t;
    out->n_terms = (uint32_t)n;
}

bool sched_nodeaff_empty(const sched_nodeaff_t *na)
{
    return na->node_selector == NULL && !na->has_required;
}

static bool req_match(const sched_nsreq_t *r, const kr_sched_node_t *node)
{
    const char *v = r->field ? node->name : sched_label(node->labels, r->key);
    int64_t num;
    switch (r->op) {
    case SCHED_NS_IN:
    case SCHED_NS_NOTIN: {
        bool in = false;
        for (uint32_t i = 0; v != NULL && i < r->n_values && !in; i++)
            in = strcmp(v, r->values[i]) == 0;
        return r->op == SCHED_NS_IN ? in : !in;
    }
    case SCHED_NS_EXISTS:
        return v != NULL;
    case SCHED_NS_DOES_NOT_EXIST:
        return v == NULL;
    case SCHED_NS_GT:
        return parse_int64(v, &num) && num > r->num;
    case SCHED_NS_LT:
        return parse_int64(v, &num) && num < r->num;
    }
    return false;
}

bool sched_nsterm_match(const sched_nsterm_t *t, const kr_sched_node_t *node)
{
    if (!t->valid)
        return false;
    for (uint32_t i = 0; i < t->n; i++)
        if (!req_match(&t->reqs[i], node))
            return false;
    return true;
}

bool sched_nodeaff_match(const sched_nodeaff_t *na, const kr_sched_node_t *node)
{
    if (na->node_selector != NULL) {
        size_t n = kr_value_len(na->node_selector);
        for (size_t i = 0; i < n; i++) {
            const char *want = kr_value_as_str(kr_value_map_val(na->node_selector, i));
            const char *have = sched_label(node->labels, kr_value_map_key(na->node_selector, i));
            if (want == NULL || have == NULL || strcmp(want, have) != 0)
                return false;
        }
    }
    if (!na->has_required)
        return true;
    for (uint32_t i = 0; i < na->n_terms; i++)
        if (sched_nsterm_match(&na->terms[i], node))
            return true;
    return false;
}

uint32_t sched_nodeaff_preferred(kr_arena_t *arena, const kr_value_t *pod_obj,
                                 const sched_nsterm_t **out)
{
    const kr_value_t *pref = kr_value_get(
        pod_obj, "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution");
    size_t n = kr_value_type(pref) == KR_ARRAY ? kr_value_len(pref) : 0;
    *out = NULL;
    if (n == 0)
        return 0;
    sched_nsterm_t *t = kr_arena_alloc(arena, n * sizeof(*t));
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *p = kr_value_array_get(pref, i);
        int64_t w = kr_value_map_int(p, "weight", 0);
        if (w == 0)
            continue;
        compile_term(arena, kr_value_map_get(p, "preference"), &t[k]);
        t[k++].weight = (int32_t)w;
    }
    *out = t;
    return k;
}

/* ---- pod affinity terms ---------------------------------------------------- */

bool sched_term_matches(const kr_sched_pod_term_t *t, const kr_sched_pod_t *pod,
                        const kr_sched_snapshot_t *snap)
{
    bool ns_ok = false;
    for (uint32_t i = 0; i < t->n_namespaces && !ns_ok; i++)
        ns_ok = strcmp(t->namespaces[i], pod->ns) == 0;
    if (!ns_ok && t->ns_selector != NULL) {
        const kr_value_t *nsl =
            snap != NULL && snap->ns_labels != NULL ? snap->ns_labels(snap, pod->ns) : NULL;
        ns_ok = kr_labelsel_match(t->ns_selector, nsl);
    }
    return ns_ok && kr_labelsel_match(t->selector, pod->labels);
}

/* ---- topology-pair counters ------------------------------------------------ */

static uint64_t tp_hash(const char *key, const char *value)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

void sched_tpmap_init(sched_tpmap_t *m, kr_arena_t *arena, uint32_t hint)
{
    uint32_t cap = 8;
    while (cap < hint * 2 && cap < (1u << 30))
        cap <<= 1;
    m->arena = arena;
    m->cap = cap;
    m->used = m->nonzero = 0;
    m->e = kr_arena_alloc(arena, cap * sizeof(*m->e));
    memset(m->e, 0, cap * sizeof(*m->e));
}

static sched_tp_entry_t *tp_slot(const sched_tpmap_t *m, const char *key, const char *value,
                                 uint64_t h)
{
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        sched_tp_entry_t *e = &m->e[i];
        if (e->key == NULL ||
            (e->hash == h && strcmp(e->key, key) == 0 && strcmp(e->value, value) == 0))
            return e;
    }
}

sched_tp_entry_t *sched_tpmap_add(sched_tpmap_t *m, const char *key, const char *value,
                                  int64_t delta)
{
    if ((m->used + 1) * 4 > m->cap * 3) {
        sched_tpmap_t bigger;
        sched_tpmap_init(&bigger, m->arena, m->cap);
        for (uint32_t i = 0; i < m->cap; i++)
            if (m->e[i].key != NULL)
                *tp_slot(&bigger, m->e[i].key, m->e[i].value, m->e[i].hash) = m->e[i];
        bigger.used = m->used;
        bigger.nonzero = m->nonzero;
        *m = bigger;
    }
    uint64_t h = tp_hash(key, value);
    sched_tp_entry_t *e = tp_slot(m, key, value, h);
    if (e->key == NULL) {
        *e = (sched_tp_entry_t){.key = key, .value = value, .hash = h};
        m->used++;
    }
    bool was = e->count != 0;
    e->count += delta;
    m->nonzero += (e->count != 0) - was;
    return e;
}

const sched_tp_entry_t *sched_tpmap_find(const sched_tpmap_t *m, const char *key, const char *value)
{
    if (m->used == 0)
        return NULL;
    const sched_tp_entry_t *e = tp_slot(m, key, value, tp_hash(key, value));
    return e->key != NULL ? e : NULL;
}

int64_t sched_tpmap_get(const sched_tpmap_t *m, const char *key, const char *value)
{
    const sched_tp_entry_t *e = sched_tpmap_find(m, key, value);
    return e != NULL ? e->count : 0;
}

void sched_tpmap_clone(sched_tpmap_t *dst, const sched_tpmap_t *src, kr_arena_t *arena)
{
    *dst = *src;
    dst->arena = arena;
    dst->e = kr_arena_alloc(arena, src->cap * sizeof(*dst->e));
    memcpy(dst->e, src->e, src->cap * sizeof(*dst->e));
}

/* ---- failure messages ------------------------------------------------------ */

struct sched_msg {
    struct sched_msg *next;
    const char *key, *value;
    const char *text;
};

void sched_msgs_init(sched_msgs_t *m, kr_arena_t *arena)
{
    pthread_mutex_init(&m->mu, NULL);
    m->arena = arena;
    m->head = NULL;
}

const char *sched_msgs_taint(sched_msgs_t *m, const char *key, const char *value)
{
    pthread_mutex_lock(&m->mu);
    sched_msg_t *msg;
    for (msg = m->head; msg != NULL; msg = msg->next)
        if (strcmp(msg->key, key) == 0 && strcmp(msg->value, value) == 0)
            goto out;
    msg = kr_arena_alloc(m->arena, sizeof(*msg));
    msg->key = kr_arena_strdup(m->arena, key);
    msg->value = kr_arena_strdup(m->arena, value);
    msg->text = kr_arena_printf(m->arena, "node(s) had untolerated taint {%s: %s}", key, value);
    msg->next = m->head;
    m->head = msg;
out:
    pthread_mutex_unlock(&m->mu);
    return msg->text;
}

void sched_msgs_free(sched_msgs_t *m)
{
    m->head = NULL;
    pthread_mutex_destroy(&m->mu);
}

void sched_default_normalize(int64_t max_priority, bool reverse, int64_t *scores, uint32_t n)
{
    int64_t max = 0;
    for (uint32_t i = 0; i < n; i++)
        if (scores[i] > max)
            max = scores[i];
    if (max == 0) {
        if (reverse)
            for (uint32_t i = 0; i < n; i++)
                scores[i] = max_priority;
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        int64_t s = max_priority * scores[i] / max;
        scores[i] = reverse ? max_priority - s : s;
    }
}
