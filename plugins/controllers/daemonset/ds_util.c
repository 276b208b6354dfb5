/* controller-daemonset: pure parts (see ds_util.h). */
#include "ds_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>

/* ---- tolerations and taints ---------------------------------------------------- */

static const char *str_or_empty(const kr_value_t *m, const char *key)
{
    const char *s = kr_value_map_str(m, key);
    return s != NULL ? s : "";
}

/* v1.Toleration.MatchToleration: same key, effect, operator and value. */
static bool same_toleration(const kr_value_t *a, const kr_value_t *b)
{
    static const char *const keys[] = {"key", "effect", "operator", "value"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(str_or_empty(a, keys[i]), str_or_empty(b, keys[i])) != 0)
            return false;
    return true;
}

/* AddOrUpdateTolerationInPodSpec. */
static void add_toleration(kr_arena_t *a, kr_value_t *spec, const char *key, const char *effect)
{
    kr_value_t *t = kr_value_map(a);
    kr_value_map_set(a, t, "key", kr_value_str(a, key));
    kr_value_map_set(a, t, "operator", kr_value_str(a, "Exists"));
    kr_value_map_set(a, t, "effect", kr_value_str(a, effect));
    kr_value_t *tols = kr_value_map_get(spec, "tolerations");
    if (kr_value_type(tols) != KR_ARRAY) {
        tols = kr_value_array(a);
        kr_value_map_set(a, spec, "tolerations", tols);
    }
    for (size_t i = 0; i < kr_value_len(tols); i++) {
        kr_value_t *cur = kr_value_array_get(tols, i);
        if (!same_toleration(cur, t))
            continue;
        if (!kr_value_equal(cur, t))
            kr_value_array_set(a, tols, i, t);
        return;
    }
    kr_value_array_push(a, tols, t);
}

void ds_add_daemon_tolerations(kr_arena_t *a, kr_value_t *spec)
{
    /* DaemonSet pods survive taint-based eviction and tolerate the
     * conditions' taints (TaintNodesByCondition) */
    add_toleration(a, spec, "node.kubernetes.io/not-ready", "NoExecute");
    add_toleration(a, spec, "node.kubernetes.io/unreachable", "NoExecute");
    add_toleration(a, spec, "node.kubernetes.io/disk-pressure", "NoSchedule");
    add_toleration(a, spec, "node.kubernetes.io/memory-pressure", "NoSchedule");
    add_toleration(a, spec, "node.kubernetes.io/pid-pressure", "NoSchedule");
    add_toleration(a, spec, "node.kubernetes.io/unschedulable", "NoSchedule");
    if (kr_value_as_bool(kr_value_map_get(spec, "hostNetwork"), false))
        add_toleration(a, spec, "node.kubernetes.io/network-unavailable", "NoSchedule");
}

bool ds_tolerates(const kr_value_t *t, const kr_value_t *taint)
{
    const char *effect = str_or_empty(t, "effect"), *key = str_or_empty(t, "key");
    if (*effect && strcmp(effect, str_or_empty(taint, "effect")) != 0)
        return false;
    if (*key && strcmp(key, str_or_empty(taint, "key")) != 0)
        return false;
    const char *op = str_or_empty(t, "operator");
    if (*op == '\0' || strcmp(op, "Equal") == 0)
        return strcmp(str_or_empty(t, "value"), str_or_empty(taint, "value")) == 0;
    return strcmp(op, "Exists") == 0;
}

/* FindMatchingUntoleratedTaint over the taints of the given effects. */
static bool untolerated(const kr_value_t *taints, const kr_value_t *tols, bool no_schedule)
{
    for (size_t i = 0; i < kr_value_len(taints); i++) {
        const kr_value_t *taint = kr_value_array_get(taints, i);
        const char *effect = str_or_empty(taint, "effect");
        if (strcmp(effect, "NoExecute") != 0 && !(no_schedule && strcmp(effect, "NoSchedule") == 0))
            continue;
        bool ok = false;
        for (size_t j = 0; j < kr_value_len(tols) && !ok; j++)
            ok = ds_tolerates(kr_value_array_get(tols, j), taint);
        if (!ok)
            return true;
    }
    return false;
}

/* ---- node affinity --------------------------------------------------------------- */

static bool parse_i64(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool in_values(const kr_value_t *vals, const char *s)
{
    for (size_t i = 0; i < kr_value_len(vals); i++) {
        const char *v = kr_value_as_str(kr_value_array_get(vals, i));
        if (v != NULL && s != NULL && strcmp(v, s) == 0)
            return true;
    }
    return false;
}

/* One NodeSelectorRequirement; *ok false when the API would refuse it. */
static bool req_match(const kr_value_t *e, const kr_value_t *node, bool field, bool *ok)
{
    const char *key = kr_value_map_str(e, "key"), *op = kr_value_map_str(e, "operator");
    const kr_value_t *vals = kr_value_map_get(e, "values");
    size_t nv = kr_value_type(vals) == KR_ARRAY ? kr_value_len(vals) : 0;
    *ok = key != NULL && op != NULL;
    if (!*ok)
        return false;
    const char *have;
    bool present;
    if (field) {
        *ok = strcmp(key, "metadata.name") == 0 && nv == 1 &&
              (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0);
        have = kr_value_as_str(kr_value_get(node, "metadata.name"));
        present = true;
    } else {
        const kr_value_t *lv = kr_value_map_get(kr_value_get(node, "metadata.labels"), key);
        have = kr_value_as_str(lv);
        present = lv != NULL;
    }
    if (!*ok)
        return false;
    if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
        *ok = nv > 0;
        bool in = present && in_values(vals, have);
        return strcmp(op, "In") == 0 ? in : !in;
    }
    if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) {
        *ok = nv == 0;
        return strcmp(op, "Exists") == 0 ? present : !present;
    }
    if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
        int64_t want, got;
        *ok = nv == 1 && parse_i64(kr_value_as_str(kr_value_array_get(vals, 0)), &want);
        if (!*ok || !present || !parse_i64(have, &got))
            return false;
        return strcmp(op, "Gt") == 0 ? got > want : got < want;
    }
    *ok = false;
    return false;
}

static bool term_match(const kr_value_t *term, const kr_value_t *node)
{
    const kr_value_t *me = kr_value_map_get(term, "matchExpressions");
    const kr_value_t *mf = kr_value_map_get(term, "matchFields");
    if (kr_value_len(me) + kr_value_len(mf) == 0)
        return false; /* an empty term selects nothing */
    bool all = true;
    for (int f = 0; f < 2; f++) {
        const kr_value_t *reqs = f ? mf : me;
        for (size_t i = 0; i < kr_value_len(reqs); i++) {
            bool ok;
            bool m = req_match(kr_value_array_get(reqs, i), node, f == 1, &ok);
            if (!ok)
                return false;
            all = all && m;
        }
    }
    return all;
}

bool ds_node_affinity_match(const kr_value_t *spec, const kr_value_t *node)
{
    const kr_value_t *sel = kr_value_map_get(spec, "nodeSelector");
    const kr_value_t *labels = kr_value_get(node, "metadata.labels");
    for (size_t i = 0; i < kr_value_len(sel); i++) {
        const char *want = kr_value_as_str(kr_value_map_val(sel, i));
        const char *have = kr_value_map_str(labels, kr_value_map_key(sel, i));
        if (want == NULL || have == NULL || strcmp(want, have) != 0)
            return false;
    }
    const kr_value_t *req =
        kr_value_get(spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
    if (kr_value_type(req) != KR_MAP)
        return true;
    const kr_value_t *terms = kr_value_map_get(req, "nodeSelectorTerms");
    for (size_t i = 0; i < kr_value_len(terms); i++)
        if (term_match(kr_value_array_get(terms, i), node))
            return true;
    return false;
}

const kr_value_t *ds_pod_tolerations(kr_arena_t *a, const kr_value_t *ds)
{
    /* NewPod: the template's tolerations plus the daemon ones */
    const kr_value_t *spec = kr_value_get(ds, "spec.template.spec");
    kr_value_t *ps = kr_value_map(a);
    const kr_value_t *tols = kr_value_map_get(spec, "tolerations");
    if (tols != NULL)
        kr_value_map_set(a, ps, "tolerations", kr_value_copy(a, tols));
    const kr_value_t *hn = kr_value_map_get(spec, "hostNetwork");
    if (hn != NULL)
        kr_value_map_set(a, ps, "hostNetwork", kr_value_copy(a, hn));
    ds_add_daemon_tolerations(a, ps);
    return kr_value_map_get(ps, "tolerations");
}

void ds_node_should_run_tols(const kr_value_t *ds, const kr_value_t *tols, const kr_value_t *node,
                             bool *should_run, bool *should_continue)
{
    *should_run = *should_continue = false;
    const kr_value_t *spec = kr_value_get(ds, "spec.template.spec");
    const char *node_name = kr_value_as_str(kr_value_get(node, "metadata.name"));
    const char *want = kr_value_map_str(spec, "nodeName");
    if (node_name == NULL || (want != NULL && *want && strcmp(want, node_name) != 0))
        return;
    if (!ds_node_affinity_match(spec, node))
        return;
    const kr_value_t *taints = kr_value_get(node, "spec.taints");
    if (!untolerated(taints, tols, true))
        *should_run = *should_continue = true;
    else
        /* scheduled daemon pods stay while they tolerate the NoExecute taints */
        *should_continue = !untolerated(taints, tols, false);
}

void ds_node_should_run(const kr_value_t *ds, const kr_value_t *node, bool *should_run,
                        bool *should_continue)
{
    kr_arena_t *a = kr_arena_new(1024);
    ds_node_should_run_tols(ds, ds_pod_tolerations(a, ds), node, should_run, should_continue);
    kr_arena_destroy(&a);
}

const char *ds_target_node(const kr_value_t *pod)
{
    const char *n = kr_value_as_str(kr_value_get(pod, "spec.nodeName"));
    if (n != NULL && *n)
        return n;
    const kr_value_t *terms = kr_value_get(
        pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
             "nodeSelectorTerms");
    for (size_t i = 0; i < kr_value_len(terms); i++) {
        const kr_value_t *mf = kr_value_map_get(kr_value_array_get(terms, i), "matchFields");
        for (size_t j = 0; j < kr_value_len(mf); j++) {
            const kr_value_t *e = kr_value_array_get(mf, j);
            if (strcmp(str_or_empty(e, "key"), "metadata.name") != 0 ||
                strcmp(str_or_empty(e, "operator"), "In") != 0)
                continue;
            const kr_value_t *vals = kr_value_map_get(e, "values");
            return kr_value_len(vals) == 1 ? kr_value_as_str(kr_value_array_get(vals, 0)) : NULL;
        }
    }
    return NULL;
}

kr_value_t *ds_pod_for_node(kr_arena_t *a, const kr_value_t *ds, const char *hash, const char *node)
{
    kr_value_t *pod = kr_pod_from_template(a, kr_value_get(ds, "spec.template"), ds, NULL);
    kr_value_t *meta = kr_value_map_get(pod, "metadata");
    kr_value_t *labels = kr_value_map_get(meta, "labels");
    if (labels == NULL) {
        labels = kr_value_map(a);
        kr_value_map_set(a, meta, "labels", labels);
    }
    const char *gen = kr_value_map_str(kr_value_get(ds, "metadata.annotations"), DS_GENERATION_ANN);
    if (gen != NULL)
        kr_value_map_set(a, labels, DS_GENERATION_LABEL, kr_value_str(a, gen));
    if (hash != NULL && *hash)
        kr_value_map_set(a, labels, DS_HASH_LABEL, kr_value_str(a, hash));
    kr_value_t *spec = kr_value_map_get(pod, "spec");
    ds_add_daemon_tolerations(a, spec);
    /* ReplaceDaemonSetPodNodeNameNodeAffinity: the scheduler places it */
    kr_value_t *req = kr_value_map(a), *vals = kr_value_array(a);
    kr_value_map_set(a, req, "key", kr_value_str(a, "metadata.name"));
    kr_value_map_set(a, req, "operator", kr_value_str(a, "In"));
    kr_value_array_push(a, vals, kr_value_str(a, node));
    kr_value_map_set(a, req, "values", vals);
    kr_value_t *term = kr_value_map(a), *mf = kr_value_array(a), *terms = kr_value_array(a);
    kr_value_array_push(a, mf, req);
    kr_value_map_set(a, term, "matchFields", mf);
    kr_value_array_push(a, terms, term);
    kr_value_t *aff = kr_value_map_get(spec, "affinity");
    if (kr_value_type(aff) != KR_MAP) {
        aff = kr_value_map(a);
        kr_value_map_set(a, spec, "affinity", aff);
    }
    kr_value_t *na = kr_value_map_get(aff, "nodeAffinity");
    if (kr_value_type(na) != KR_MAP) {
        na = kr_value_map(a);
        kr_value_map_set(a, aff, "nodeAffinity", na);
    }
    kr_value_t *rq = kr_value_map_get(na, "requiredDuringSchedulingIgnoredDuringExecution");
    if (kr_value_type(rq) != KR_MAP) {
        rq = kr_value_map(a);
        kr_value_map_set(a, na, "requiredDuringSchedulingIgnoredDuringExecution", rq);
    }
    kr_value_map_set(a, rq, "nodeSelectorTerms", terms);
    return pod;
}

bool ds_pod_updated(const kr_value_t *ds, const kr_value_t *pod, const char *hash)
{
    const kr_value_t *labels = kr_value_get(pod, "metadata.labels");
    const char *gen = kr_value_map_str(kr_value_get(ds, "metadata.annotations"), DS_GENERATION_ANN);
    const char *pgen = kr_value_map_str(labels, DS_GENERATION_LABEL);
    if (gen != NULL && pgen != NULL && strcmp(gen, pgen) == 0)
        return true;
    const char *ph = kr_value_map_str(labels, DS_HASH_LABEL);
    return hash != NULL && *hash && ph != NULL && strcmp(ph, hash) == 0;
}

static int64_t created_ns(const kr_value_t *pod)
{
    int64_t s = 0;
    int32_t ns = 0;
    const char *t = kr_value_as_str(kr_value_get(pod, "metadata.creationTimestamp"));
    if (t == NULL || !kr_time_parse(t, &s, &ns))
        return 0;
    return s * 1000000000 + ns;
}

int ds_pod_cmp_age(const kr_value_t *a, const kr_value_t *b)
{
    const char *na = kr_value_as_str(kr_value_get(a, "spec.nodeName"));
    const char *nb = kr_value_as_str(kr_value_get(b, "spec.nodeName"));
    bool sa = na != NULL && *na, sb = nb != NULL && *nb;
    if (sa != sb)
        return sa ? -1 : 1;
    int64_t ta = created_ns(a), tb = created_ns(b);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    const char *ma = kr_value_as_str(kr_value_get(a, "metadata.name"));
    const char *mb = kr_value_as_str(kr_value_get(b, "metadata.name"));
    return strcmp(ma ? ma : "", mb ? mb : "");
}

/* ---- rolling update --------------------------------------------------------------- */

int64_t ds_int_or_percent(const kr_value_t *v, int64_t total, bool round_up)
{
    if (kr_value_type(v) == KR_INT)
        return kr_value_as_int(v, 0);
    const char *s = kr_value_as_str(v);
    if (s == NULL)
        return -1;
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != '%')
        return -1;
    char buf[32];
    if (n - 1 >= sizeof buf)
        return -1;
    memcpy(buf, s, n - 1);
    buf[n - 1] = '\0';
    int64_t p;
    if (!parse_i64(buf, &p))
        return -1;
    return round_up ? (p * total + 99) / 100 : p * total / 100;
}

void ds_update_limits(const kr_value_t *ds, int64_t desired, int64_t *max_surge,
                      int64_t *max_unavailable)
{
    *max_surge = *max_unavailable = 0;
    const kr_value_t *us = kr_value_get(ds, "spec.updateStrategy");
    const char *type = kr_value_map_str(us, "type");
    const kr_value_t *ru = kr_value_map_get(us, "rollingUpdate");
    if (type != NULL && strcmp(type, "RollingUpdate") == 0 && kr_value_type(ru) == KR_MAP) {
        const kr_value_t *mu = kr_value_map_get(ru, "maxUnavailable");
        const kr_value_t *ms = kr_value_map_get(ru, "maxSurge");
        *max_unavailable = mu != NULL ? ds_int_or_percent(mu, desired, true) : 1;
        *max_surge = ms != NULL ? ds_int_or_percent(ms, desired, true) : 0;
        if (*max_unavailable < 0)
            *max_unavailable = 0;
        if (*max_surge < 0)
            *max_surge = 0;
    }
    /* an impossible configuration obeys unavailability 1 */
    if (desired > 0 && *max_unavailable == 0 && *max_surge == 0)
        *max_unavailable = 1;
}

static size_t *scratch(size_t n)
{
    size_t *p = malloc((n ? n : 1) * sizeof *p);
    if (p == NULL)
        abort();
    return p;
}

void ds_rolling_pick(const ds_node_state_t *nodes, size_t n, int64_t desired, int64_t max_surge,
                     int64_t max_unavailable, size_t *del, size_t *n_del, size_t *create,
                     size_t *n_create)
{
    *n_del = *n_create = 0;
    if (max_surge == 0) {
        /* delete just enough old pods to stay under maxUnavailable; the
         * manage loop creates the new ones */
        int64_t unavailable = 0;
        size_t *cand = scratch(n), n_cand = 0;
        for (size_t i = 0; i < n; i++) {
            const ds_node_state_t *s = &nodes[i];
            if (s->excess) {
                unavailable++;
                continue;
            }
            if ((s->old_pod == NULL) == (s->new_pod == NULL)) {
                unavailable++;
            } else if (s->new_pod != NULL) {
                if (!s->new_available)
                    unavailable++;
            } else if (!s->old_available) {
                del[(*n_del)++] = i; /* not available: replace it at once */
                unavailable++;
            } else if (unavailable < max_unavailable) {
                cand[n_cand++] = i;
            }
        }
        int64_t left = max_unavailable - unavailable;
        for (size_t i = 0; left > 0 && i < n_cand; i++, left--)
            del[(*n_del)++] = cand[i];
        free(cand);
        return;
    }
    /* surge: a new pod beside each old one, at most maxSurge at a time; an
     * old pod goes once its new one is available */
    int64_t surge = 0, available = 0;
    size_t *cand = scratch(n), n_cand = 0, *sunset = scratch(n), n_sunset = 0;
    for (size_t i = 0; i < n; i++) {
        const ds_node_state_t *s = &nodes[i];
        if (s->excess) {
            surge++;
            continue;
        }
        if (s->old_pod != NULL ? s->old_available : s->new_pod != NULL && s->new_available)
            available++;
        if (s->old_pod == NULL)
            continue;
        if (s->new_pod == NULL) {
            if (!s->old_available) {
                if (!s->should_run)
                    del[(*n_del)++] = i;
                else
                    create[(*n_create)++] = i;
            } else if (!s->should_run) {
                sunset[n_sunset++] = i;
            } else if (surge < max_surge) {
                cand[n_cand++] = i;
            }
        } else if (!s->new_available) {
            surge++;
        } else {
            del[(*n_del)++] = i;
        }
    }
    int64_t left = max_surge - surge;
    for (size_t i = 0; left > 0 && i < n_cand; i++, left--)
        create[(*n_create)++] = cand[i];
    /* pods on nodes that should no longer run one, within maxUnavailable */
    int64_t unavailable = desired - available;
    for (size_t i = 0; i < n_sunset && unavailable < max_unavailable; i++, unavailable++)
        del[(*n_del)++] = sunset[i];
    free(cand);
    free(sunset);
}

/* ---- back-off ----------------------------------------------------------------------- */

#define DS_BACKOFF_INIT_MS 1000
#define DS_BACKOFF_MAX_MS  (15 * 60 * 1000)

bool ds_backoff_waiting(const ds_backoff_t *b, int64_t now_ms, int64_t *wait_ms)
{
    if (b->last_ms == 0 || now_ms - b->last_ms >= b->delay_ms)
        return false;
    *wait_ms = b->delay_ms - (now_ms - b->last_ms);
    return true;
}

void ds_backoff_next(ds_backoff_t *b, int64_t now_ms)
{
    if (b->last_ms == 0 || now_ms - b->last_ms > 2 * (int64_t)DS_BACKOFF_MAX_MS)
        b->delay_ms = DS_BACKOFF_INIT_MS;
    else
        b->delay_ms = b->delay_ms * 2 > DS_BACKOFF_MAX_MS ? DS_BACKOFF_MAX_MS : b->delay_ms * 2;
    b->last_ms = now_ms;
}

/* ---- revisions ---------------------------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* JSON with map keys sorted, so the hash does not depend on key order. */
static void sorted_json(kr_buf_t *b, const kr_value_t *v)
{
    if (kr_value_type(v) == KR_ARRAY) {
        kr_buf_puts(b, "[");
        for (size_t i = 0; i < kr_value_len(v); i++) {
            if (i)
                kr_buf_puts(b, ",");
            sorted_json(b, kr_value_array_get(v, i));
        }
        kr_buf_puts(b, "]");
        return;
    }
    if (kr_value_type(v) != KR_MAP) {
        kr_json_encode(v, b, KR_JSON_COMPACT, NULL);
        return;
    }
    size_t n = kr_value_len(v);
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (keys == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        keys[i] = kr_value_map_key(v, i);
    qsort(keys, n, sizeof *keys, key_cmp);
    kr_buf_puts(b, "{");
    for (size_t i = 0; i < n; i++) {
        kr_buf_printf(b, "%s\"%s\":", i ? "," : "", keys[i]);
        sorted_json(b, kr_value_map_get(v, keys[i]));
    }
    kr_buf_puts(b, "}");
    free(keys);
}

void ds_hash(const kr_value_t *tmpl, int64_t collision_count, char *out, size_t size)
{
    kr_buf_t b = KR_BUF_INIT;
    sorted_json(&b, tmpl);
    kr_controller_hash(b.data, b.len, collision_count, out, size);
    kr_buf_free(&b);
}

kr_value_t *ds_revision_data(kr_arena_t *a, const kr_value_t *ds)
{
    kr_value_t *tmpl = kr_value_copy(a, kr_value_get(ds, "spec.template"));
    if (kr_value_type(tmpl) != KR_MAP)
        tmpl = kr_value_map(a);
    kr_value_map_set(a, tmpl, "$patch", kr_value_str(a, "replace"));
    kr_value_t *spec = kr_value_map(a), *data = kr_value_map(a);
    kr_value_map_set(a, spec, "template", tmpl);
    kr_value_map_set(a, data, "spec", spec);
    return data;
}

bool ds_revision_matches(const kr_value_t *ds, const kr_value_t *rev)
{
    const kr_value_t *rt = kr_value_get(rev, "data.spec.template");
    const kr_value_t *dt = kr_value_get(ds, "spec.template");
    if (kr_value_type(rt) != KR_MAP || kr_value_type(dt) != KR_MAP)
        return false;
    if (kr_value_len(rt) != kr_value_len(dt) + 1 || kr_value_map_get(rt, "$patch") == NULL)
        return false;
    for (size_t i = 0; i < kr_value_len(dt); i++)
        if (!kr_value_equal(kr_value_map_val(dt, i), kr_value_map_get(rt, kr_value_map_key(dt, i))))
            return false;
    return true;
}
