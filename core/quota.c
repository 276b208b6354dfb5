/* LimitRanger and ResourceQuota admission, and quota usage (quota.h). */
#include "quota.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kraal/controller.h>

#include "builtin_internal.h"

/* ---- quantities ------------------------------------------------------------------ */

static void normalize(kr_quantity_t *q)
{
    while (q->unscaled != 0 && q->unscaled % 10 == 0) {
        q->unscaled /= 10;
        q->scale++;
    }
    if (q->unscaled == 0)
        q->scale = 0;
}

/* x * 10^e in 128 bits; false when it leaves that range */
static bool scale_up(__int128 x, int32_t e, __int128 *out)
{
    const __int128 lim = (__int128)INT64_MAX * 1000000000;
    for (int32_t i = 0; i < e; i++) {
        if (x > lim || x < -lim)
            return false;
        x *= 10;
    }
    *out = x;
    return true;
}

kr_quantity_t kr_quantity_add(const kr_quantity_t *a, const kr_quantity_t *b)
{
    kr_quantity_t r = {.format = a->unscaled != 0 ? a->format : b->format};
    if (a->unscaled == 0 || b->unscaled == 0) {
        const kr_quantity_t *n = a->unscaled == 0 ? b : a;
        r.unscaled = n->unscaled;
        r.scale = n->scale;
        return r;
    }
    int32_t s = a->scale < b->scale ? a->scale : b->scale;
    __int128 x, y;
    if (!scale_up(a->unscaled, a->scale - s, &x) || !scale_up(b->unscaled, b->scale - s, &y)) {
        /* far apart in magnitude: the smaller one does not show */
        r = kr_quantity_cmp(a, b) >= 0 ? *a : *b;
        return r;
    }
    __int128 sum = x + y;
    /* fold to 64 bits, dropping precision below what fits */
    while (sum > INT64_MAX || sum < INT64_MIN) {
        sum /= 10;
        s++;
    }
    r.unscaled = (int64_t)sum;
    r.scale = s;
    normalize(&r);
    return r;
}

static const char *qtext(kr_arena_t *a, const kr_quantity_t *q)
{
    char buf[64];
    kr_quantity_format(q, buf, sizeof buf);
    return kr_arena_strdup(a, buf);
}

/* ---- resource lists: names and quantities, in insertion order ------------------- */

typedef struct rl {
    size_t n, cap;
    const char **names;
    kr_quantity_t *q;
} rl_t;

static kr_quantity_t *rl_get(const rl_t *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return &l->q[i];
    return NULL;
}

static void rl_set(kr_arena_t *a, rl_t *l, const char *name, const kr_quantity_t *q)
{
    kr_quantity_t *have = rl_get(l, name);
    if (have != NULL) {
        *have = *q;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        const char **names = kr_arena_alloc(a, cap * sizeof *names);
        kr_quantity_t *qs = kr_arena_alloc(a, cap * sizeof *qs);
        if (l->n) {
            memcpy(names, l->names, l->n * sizeof *names);
            memcpy(qs, l->q, l->n * sizeof *qs);
        }
        l->names = names;
        l->q = qs;
        l->cap = cap;
    }
    l->names[l->n] = name;
    l->q[l->n++] = *q;
}

static void rl_add(kr_arena_t *a, rl_t *l, const char *name, const kr_quantity_t *q)
{
    kr_quantity_t *have = rl_get(l, name);
    if (have != NULL)
        *have = kr_quantity_add(have, q);
    else
        rl_set(a, l, name, q);
}

static void rl_max(kr_arena_t *a, rl_t *l, const char *name, const kr_quantity_t *q)
{
    kr_quantity_t *have = rl_get(l, name);
    if (have == NULL)
        rl_set(a, l, name, q);
    else if (kr_quantity_cmp(q, have) > 0)
        *have = *q;
}

/* A ResourceList value (name -> quantity); entries that do not parse are
 * left out (validation refused them). */
static rl_t rl_of(kr_arena_t *a, const kr_value_t *list)
{
    rl_t l = {0};
    for (size_t i = 0; i < kr_value_len(list); i++) {
        kr_quantity_t q;
        kr_error_t err;
        if (kr_value_type(list) == KR_MAP && kr_value_quantity(kr_value_map_val(list, i), &q, &err))
            rl_set(a, &l, kr_value_map_key(list, i), &q);
    }
    return l;
}

static const kr_quantity_t one = {.unscaled = 1, .scale = 0, .format = KR_QFMT_DECIMAL_SI};

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* ---- reading the namespace --------------------------------------------------------- */

typedef struct collect {
    kr_arena_t *a;
    kr_value_t *items;
} collect_t;

static bool collect_one(kr_objrec_t *rec, void *ud)
{
    collect_t *c = ud;
    kr_value_array_push(c->a, c->items, kr_objrec_decode(rec, c->a));
    return true;
}

/* The objects (decoded) of a kind in ns, in name order; empty when the kind
 * is not there. */
static kr_value_t *list_objs(kr_arena_t *a, const kr_quota_src_t *src, const char *plural,
                             const char *ns)
{
    collect_t c = {.a = a, .items = kr_value_array(a)};
    src->walk(src->ctx, "", plural, ns, collect_one, &c);
    return c.items;
}

/* ---- LimitRanger ------------------------------------------------------------------- */

static kr_value_t *containers_of(const kr_value_t *pod, const char *which)
{
    return kr_array_at(kr_map_at(pod, "spec"), which);
}

/* mergeContainerResources: the defaults a container does not set, and the
 * annotation's words for them. */
static void merge_container(kr_arena_t *a, kr_value_t *c, const kr_value_t *def_req,
                            const kr_value_t *def_lim, const char *prefix, kr_buf_t *ann,
                            size_t *nann)
{
    const char *cname = kr_str_or_empty(c, "name");
    static const char *const kinds[2] = {"request", "limit"};
    const kr_value_t *defs[2] = {def_req, def_lim};
    static const char *const keys[2] = {"requests", "limits"};
    const char *set[2] = {NULL, NULL};
    for (int w = 0; w < 2; w++) {
        size_t n = kr_value_len(defs[w]);
        if (n == 0)
            continue;
        kr_value_t *res = kr_ensure_map(a, c, "resources");
        kr_value_t *list = res ? kr_ensure_map(a, res, keys[w]) : NULL;
        if (list == NULL)
            continue; /* not a map: validation refused it */
        const char **names = kr_arena_alloc(a, n * sizeof *names);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const char *rn = kr_value_map_key(defs[w], i);
            if (kr_value_map_get(list, rn) != NULL)
                continue;
            kr_value_map_set(a, list, rn, kr_value_copy(a, kr_value_map_val(defs[w], i)));
            names[k++] = rn;
        }
        if (kr_value_len(list) == 0)
            kr_value_map_del(res, keys[w]);
        if (k == 0)
            continue;
        qsort(names, k, sizeof *names, cmp_str);
        kr_buf_t b = KR_BUF_INIT;
        for (size_t i = 0; i < k; i++)
            kr_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
        set[w] = kr_arena_strdup(a, b.data);
        kr_buf_free(&b);
    }
    for (int w = 0; w < 2; w++)
        if (set[w] != NULL)
            kr_buf_printf(ann, "%s%s %s for %s %s", (*nann)++ ? "; " : "", set[w], kinds[w], prefix,
                          cname);
}

/* PodMutateLimitFunc for one LimitRange */
static void limitrange_default(kr_arena_t *a, const kr_value_t *lr, kr_value_t *pod)
{
    kr_value_t *req = kr_value_map(a), *lim = kr_value_map(a);
    const kr_value_t *items = kr_array_at(kr_map_at(lr, "spec"), "limits");
    for (size_t i = 0; i < kr_value_len(items); i++) {
        const kr_value_t *it = kr_value_array_get(items, i);
        if (strcmp(kr_str_or_empty(it, "type"), "Container") != 0)
            continue;
        for (int w = 0; w < 2; w++) {
            const kr_value_t *d = kr_map_at(it, w ? "default" : "defaultRequest");
            for (size_t j = 0; j < kr_value_len(d); j++)
                kr_value_map_set(a, w ? lim : req, kr_value_map_key(d, j),
                                 kr_value_copy(a, kr_value_map_val(d, j)));
        }
    }
    if (kr_value_len(req) == 0 && kr_value_len(lim) == 0)
        return;
    kr_buf_t ann = KR_BUF_INIT;
    size_t nann = 0;
    static const char *const which[2] = {"containers", "initContainers"};
    static const char *const prefix[2] = {"container", "init container"};
    for (int w = 0; w < 2; w++) {
        kr_value_t *cs = containers_of(pod, which[w]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            kr_value_t *c = kr_value_array_get(cs, i);
            if (kr_value_type(c) == KR_MAP)
                merge_container(a, c, req, lim, prefix[w], &ann, &nann);
        }
    }
    if (nann > 0) {
        kr_value_t *meta = kr_ensure_map(a, pod, "metadata");
        kr_value_t *anns = meta ? kr_ensure_map(a, meta, "annotations") : NULL;
        if (anns != NULL)
            kr_value_map_set(
                a, anns, "kubernetes.io/limit-ranger",
                kr_value_str(a, kr_arena_printf(a, "LimitRanger plugin set: %s", ann.data)));
    }
    kr_buf_free(&ann);
}

void kr_admit_pod_limits_default(kr_arena_t *arena, const kr_quota_src_t *src, const char *ns,
                                 kr_value_t *pod)
{
    if (kr_value_type(kr_value_map_get(pod, "spec")) != KR_MAP)
        return;
    kr_value_t *lrs = list_objs(arena, src, "limitranges", ns);
    for (size_t i = 0; i < kr_value_len(lrs); i++)
        limitrange_default(arena, kr_value_array_get(lrs, i), pod);
}

/* Upstream's errors of one LimitRange, deduplicated (utilerrors.Aggregate) */
typedef struct errs {
    kr_arena_t *a;
    const char **msg;
    size_t n, cap;
} errs_t;

static void errs_add(errs_t *e, const char *m)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->msg[i], m) == 0)
            return;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        const char **msg = kr_arena_alloc(e->a, cap * sizeof *msg);
        if (e->n)
            memcpy(msg, e->msg, e->n * sizeof *msg);
        e->msg = msg;
        e->cap = cap;
    }
    e->msg[e->n++] = m;
}

#define MAX_MILLI (INT64_MAX / 1000)

/* requestLimitEnforcedValues: milli precision when nothing overflows */
static void enforced_values(const kr_quantity_t *req, const kr_quantity_t *lim,
                            const kr_quantity_t *enf, int64_t out[3])
{
    const kr_quantity_t *qs[3] = {req, lim, enf};
    bool milli = true;
    for (int i = 0; i < 3; i++) {
        out[i] = qs[i] ? kr_quantity_value(qs[i]) : 0;
        milli &= out[i] <= MAX_MILLI;
    }
    if (milli)
        for (int i = 0; i < 3; i++)
            out[i] = qs[i] ? kr_quantity_milli(qs[i]) : 0;
}

/* minConstraint, maxConstraint, limitRequestRatioConstraint */
static void constraint(errs_t *e, int which, const char *type, const char *res,
                       const kr_quantity_t *enf, const rl_t *reqs, const rl_t *lims)
{
    kr_arena_t *a = e->a;
    const kr_quantity_t *req = rl_get(reqs, res), *lim = rl_get(lims, res);
    int64_t v[3];
    enforced_values(req, lim, enf, v);
    const char *es = qtext(a, enf);
    if (which == 0) {
        if (req == NULL)
            errs_add(e,
                     kr_arena_printf(a, "minimum %s usage per %s is %s.  No request is specified",
                                     res, type, es));
        else if (v[0] < v[2])
            errs_add(e, kr_arena_printf(a, "minimum %s usage per %s is %s, but request is %s", res,
                                        type, es, qtext(a, req)));
        else if (lim != NULL && v[1] < v[2])
            errs_add(e, kr_arena_printf(a, "minimum %s usage per %s is %s, but limit is %s", res,
                                        type, es, qtext(a, lim)));
    } else if (which == 1) {
        if (lim == NULL)
            errs_add(e, kr_arena_printf(a, "maximum %s usage per %s is %s.  No limit is specified",
                                        res, type, es));
        else if (v[1] > v[2])
            errs_add(e, kr_arena_printf(a, "maximum %s usage per %s is %s, but limit is %s", res,
                                        type, es, qtext(a, lim)));
        else if (req != NULL && v[0] > v[2])
            errs_add(e, kr_arena_printf(a, "maximum %s usage per %s is %s, but request is %s", res,
                                        type, es, qtext(a, req)));
    } else {
        if (req == NULL || v[0] == 0) {
            errs_add(e, kr_arena_printf(a,
                                        "%s max limit to request ratio per %s is %s, but no "
                                        "request is specified or request is 0",
                                        res, type, es));
            return;
        }
        if (lim == NULL || v[1] == 0) {
            errs_add(e, kr_arena_printf(a,
                                        "%s max limit to request ratio per %s is %s, but no limit "
                                        "is specified or limit is 0",
                                        res, type, es));
            return;
        }
        double observed = (double)v[1] / (double)v[0], shown = observed;
        double max = (double)kr_quantity_value(enf);
        if (kr_quantity_value(enf) <= MAX_MILLI) {
            observed *= 1000;
            max = (double)kr_quantity_milli(enf);
        }
        if (observed > max)
            errs_add(e, kr_arena_printf(a,
                                        "%s max limit to request ratio per %s is %s, but "
                                        "provided ratio is %f",
                                        res, type, es, shown));
    }
}

static const char *const constraint_lists[3] = {"min", "max", "maxLimitRequestRatio"};

static void check_item(errs_t *e, const kr_value_t *item, const char *type, const rl_t *reqs,
                       const rl_t *lims)
{
    for (int w = 0; w < 3; w++) {
        const kr_value_t *list = kr_map_at(item, constraint_lists[w]);
        for (size_t i = 0; i < kr_value_len(list); i++) {
            kr_quantity_t q;
            kr_error_t err;
            if (kr_value_quantity(kr_value_map_val(list, i), &q, &err))
                constraint(e, w, type, kr_value_map_key(list, i), &q, reqs, lims);
        }
    }
}

static rl_t container_list(kr_arena_t *a, const kr_value_t *c, const char *which)
{
    return rl_of(a, kr_map_at(kr_map_at(c, "resources"), which));
}

static bool is_sidecar(const kr_value_t *c)
{
    return strcmp(kr_str_or_empty(c, "restartPolicy"), "Always") == 0;
}

/* resourcehelper.PodRequests / PodLimits without overhead: the sum of the
 * containers (and sidecars), or the largest init container when more. */
static rl_t pod_total(kr_arena_t *a, const kr_value_t *pod, const char *which)
{
    rl_t sum = {0}, sidecars = {0}, init = {0};
    const kr_value_t *cs = containers_of(pod, "containers");
    for (size_t i = 0; i < kr_value_len(cs); i++) {
        rl_t l = container_list(a, kr_value_array_get(cs, i), which);
        for (size_t k = 0; k < l.n; k++)
            rl_add(a, &sum, l.names[k], &l.q[k]);
    }
    const kr_value_t *ics = containers_of(pod, "initContainers");
    for (size_t i = 0; i < kr_value_len(ics); i++) {
        const kr_value_t *c = kr_value_array_get(ics, i);
        rl_t l = container_list(a, c, which);
        if (is_sidecar(c)) {
            for (size_t k = 0; k < l.n; k++)
                rl_add(a, &sidecars, l.names[k], &l.q[k]);
            for (size_t k = 0; k < sidecars.n; k++)
                rl_max(a, &init, sidecars.names[k], &sidecars.q[k]);
        } else {
            rl_t tmp = {0};
            for (size_t k = 0; k < l.n; k++)
                rl_add(a, &tmp, l.names[k], &l.q[k]);
            for (size_t k = 0; k < sidecars.n; k++)
                rl_add(a, &tmp, sidecars.names[k], &sidecars.q[k]);
            for (size_t k = 0; k < tmp.n; k++)
                rl_max(a, &init, tmp.names[k], &tmp.q[k]);
        }
    }
    for (size_t k = 0; k < sidecars.n; k++)
        rl_add(a, &sum, sidecars.names[k], &sidecars.q[k]);
    for (size_t k = 0; k < init.n; k++)
        rl_max(a, &sum, init.names[k], &init.q[k]);
    return sum;
}

/* PodValidateLimitFunc for one LimitRange */
static void limitrange_check(errs_t *e, const kr_value_t *lr, const kr_value_t *pod)
{
    kr_arena_t *a = e->a;
    const kr_value_t *items = kr_array_at(kr_map_at(lr, "spec"), "limits");
    static const char *const which[2] = {"containers", "initContainers"};
    for (size_t i = 0; i < kr_value_len(items); i++) {
        const kr_value_t *it = kr_value_array_get(items, i);
        const char *type = kr_str_or_empty(it, "type");
        if (strcmp(type, "Container") == 0) {
            for (int w = 0; w < 2; w++) {
                const kr_value_t *cs = containers_of(pod, which[w]);
                for (size_t j = 0; j < kr_value_len(cs); j++) {
                    const kr_value_t *c = kr_value_array_get(cs, j);
                    rl_t reqs = container_list(a, c, "requests");
                    rl_t lims = container_list(a, c, "limits");
                    check_item(e, it, type, &reqs, &lims);
                }
            }
        } else if (strcmp(type, "Pod") == 0) {
            rl_t reqs = pod_total(a, pod, "requests"), lims = pod_total(a, pod, "limits");
            check_item(e, it, type, &reqs, &lims);
        }
    }
}

/* utilerrors.Aggregate's Error(): one message, or "[a, b]" */
static int errs_fail(const errs_t *e, kr_error_t *err)
{
    if (e->n == 1)
        return kr_error_set(err, KR_E_FORBIDDEN, "%s", e->msg[0]);
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "[");
    for (size_t i = 0; i < e->n; i++)
        kr_buf_printf(&b, "%s%s", i ? ", " : "", e->msg[i]);
    kr_buf_puts(&b, "]");
    int rc = kr_error_set(err, KR_E_FORBIDDEN, "%s", b.data);
    kr_buf_free(&b);
    return rc;
}

int kr_admit_pod_limits(kr_arena_t *arena, const kr_quota_src_t *src, const char *ns,
                        const kr_value_t *pod, kr_error_t *err)
{
    kr_value_t *lrs = list_objs(arena, src, "limitranges", ns);
    for (size_t i = 0; i < kr_value_len(lrs); i++) {
        errs_t e = {.a = arena};
        limitrange_check(&e, kr_value_array_get(lrs, i), pod);
        if (e.n > 0)
            return errs_fail(&e, err); /* the first LimitRange that refuses */
    }
    return 0;
}

/* ---- ResourceQuota: what counts for which kind ------------------------------------- */

/* Core resources whose quota name is their plural (the generic object
 * count evaluators' legacy names). */
static const char *const legacy_counts[] = {"services",
                                            "secrets",
                                            "configmaps",
                                            "resourcequotas",
                                            "persistentvolumeclaims",
                                            "replicationcontrollers",
                                            NULL};

static const char *const pod_compute[] = {"cpu",
                                          "memory",
                                          "ephemeral-storage",
                                          "requests.cpu",
                                          "requests.memory",
                                          "requests.ephemeral-storage",
                                          "limits.cpu",
                                          "limits.memory",
                                          "limits.ephemeral-storage",
                                          NULL};

/* The constraint set (pods.go's validationSet): a quota on these needs
 * every container to set them. */
static const char *const pod_required[] = {
    "cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory", NULL};

static bool is_hugepages(const char *name)
{
    return strncmp(name, "hugepages-", 10) == 0 || strncmp(name, "requests.hugepages-", 19) == 0;
}

static bool is_extended(const char *name)
{
    return strchr(name, '/') != NULL && strstr(name, "kubernetes.io/") == NULL;
}

/* "count/<plural>" or "count/<plural>.<group>" of the kind */
static bool is_count_of(const char *name, const char *group, const char *plural)
{
    if (strncmp(name, "count/", 6) != 0)
        return false;
    name += 6;
    size_t pl = strlen(plural);
    if (strncmp(name, plural, pl) != 0)
        return false;
    if (*group == '\0')
        return name[pl] == '\0';
    return name[pl] == '.' && strcmp(name + pl + 1, group) == 0;
}

static bool is_pods(const char *group, const char *plural)
{
    return *group == '\0' && strcmp(plural, "pods") == 0;
}

static bool is_services(const char *group, const char *plural)
{
    return *group == '\0' && strcmp(plural, "services") == 0;
}

/* The evaluator's MatchingResources: whether quota resource `name` counts
 * objects of this kind. */
static bool tracks(const char *name, const char *group, const char *plural)
{
    if (is_count_of(name, group, plural))
        return true;
    if (*group == '\0' && kr_str_in(plural, legacy_counts) && strcmp(name, plural) == 0)
        return true;
    if (is_pods(group, plural))
        return strcmp(name, "pods") == 0 || kr_str_in(name, pod_compute) || is_hugepages(name) ||
               (strncmp(name, "requests.", 9) == 0 && is_extended(name + 9));
    if (is_services(group, plural))
        return strcmp(name, "services.nodeports") == 0 ||
               strcmp(name, "services.loadbalancers") == 0;
    return false;
}

static bool pod_terminal(const kr_value_t *pod)
{
    const char *phase = kr_str_or_empty(kr_map_at(pod, "status"), "phase");
    return strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
}

/* podComputeUsageHelper */
static void pod_compute_usage(kr_arena_t *a, rl_t *out, const rl_t *reqs, const rl_t *lims)
{
    static const char *const base[] = {"cpu", "memory", "ephemeral-storage", NULL};
    for (size_t i = 0; base[i] != NULL; i++) {
        const kr_quantity_t *r = rl_get(reqs, base[i]), *l = rl_get(lims, base[i]);
        if (r != NULL) {
            rl_set(a, out, base[i], r);
            rl_set(a, out, kr_arena_printf(a, "requests.%s", base[i]), r);
        }
        if (l != NULL)
            rl_set(a, out, kr_arena_printf(a, "limits.%s", base[i]), l);
    }
    for (size_t i = 0; i < reqs->n; i++) {
        const char *n = reqs->names[i];
        if (strncmp(n, "hugepages-", 10) == 0) {
            rl_set(a, out, n, &reqs->q[i]);
            rl_set(a, out, kr_arena_printf(a, "requests.%s", n), &reqs->q[i]);
        } else if (is_extended(n)) {
            rl_set(a, out, kr_arena_printf(a, "requests.%s", n), &reqs->q[i]);
        }
    }
}

/* PodUsageFunc: the object count always; pods and compute while it runs */
static rl_t pod_usage(kr_arena_t *a, const kr_value_t *pod)
{
    rl_t u = {0};
    rl_set(a, &u, "count/pods", &one);
    if (pod_terminal(pod))
        return u;
    rl_set(a, &u, "pods", &one);
    rl_t reqs = pod_total(a, pod, "requests"), lims = pod_total(a, pod, "limits");
    pod_compute_usage(a, &u, &reqs, &lims);
    return u;
}

/* the service evaluator: node ports and load balancers */
static rl_t service_usage(kr_arena_t *a, const kr_value_t *svc)
{
    rl_t u = {0};
    rl_set(a, &u, "services", &one);
    rl_set(a, &u, "count/services", &one);
    const kr_value_t *spec = kr_map_at(svc, "spec");
    const char *type = kr_str_or_empty(spec, "type");
    kr_quantity_t ports = {.unscaled = (int64_t)kr_value_len(kr_array_at(spec, "ports")),
                           .format = KR_QFMT_DECIMAL_SI};
    normalize(&ports);
    if (strcmp(type, "NodePort") == 0) {
        rl_set(a, &u, "services.nodeports", &ports);
    } else if (strcmp(type, "LoadBalancer") == 0) {
        rl_set(a, &u, "services.loadbalancers", &one);
        const kr_value_t *alloc = kr_value_map_get(spec, "allocateLoadBalancerNodePorts");
        if (alloc == NULL || kr_value_type(alloc) == KR_NULL || kr_value_as_bool(alloc, true))
            rl_set(a, &u, "services.nodeports", &ports);
    }
    return u;
}

/* The usage of one new object of the kind */
static rl_t object_usage(kr_arena_t *a, const char *group, const char *plural,
                         const kr_value_t *obj)
{
    if (is_pods(group, plural))
        return pod_usage(a, obj);
    if (is_services(group, plural))
        return service_usage(a, obj);
    rl_t u = {0};
    rl_set(a, &u,
           *group ? kr_arena_printf(a, "count/%s.%s", plural, group)
                  : kr_arena_printf(a, "count/%s", plural),
           &one);
    if (*group == '\0' && kr_str_in(plural, legacy_counts))
        rl_set(a, &u, plural, &one);
    return u;
}

/* ---- ResourceQuota: scopes -------------------------------------------------------- */

typedef struct scope_req {
    const char *scope, *op;
    const kr_value_t *values;
} scope_req_t;

/* getScopeSelectorsFromQuota: spec.scopes (as Exists) and the
 * scopeSelector's expressions; how many, at most `max`. */
static size_t quota_scopes(const kr_value_t *quota, scope_req_t *out, size_t max)
{
    const kr_value_t *spec = kr_map_at(quota, "spec");
    const kr_value_t *scopes = kr_array_at(spec, "scopes");
    const kr_value_t *exprs = kr_array_at(kr_map_at(spec, "scopeSelector"), "matchExpressions");
    size_t n = 0;
    for (size_t i = 0; i < kr_value_len(scopes) && n < max; i++)
        out[n++] = (scope_req_t){kr_as_str(kr_value_array_get(scopes, i)), "Exists", NULL};
    for (size_t i = 0; i < kr_value_len(exprs) && n < max; i++) {
        const kr_value_t *e = kr_value_array_get(exprs, i);
        out[n++] = (scope_req_t){kr_str_or_empty(e, "scopeName"), kr_str_or_empty(e, "operator"),
                                 kr_array_at(e, "values")};
    }
    return n;
}

static bool str_in_values(const char *s, const kr_value_t *values)
{
    for (size_t i = 0; i < kr_value_len(values); i++)
        if (strcmp(s, kr_as_str(kr_value_array_get(values, i))) == 0)
            return true;
    return false;
}

/* usesCrossNamespacePodAffinity */
static bool cross_namespace_affinity(const kr_value_t *spec)
{
    static const char *const kinds[2] = {"podAffinity", "podAntiAffinity"};
    static const char *const lists[2] = {"requiredDuringSchedulingIgnoredDuringExecution",
                                         "preferredDuringSchedulingIgnoredDuringExecution"};
    const kr_value_t *aff = kr_map_at(spec, "affinity");
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < 2; l++) {
            const kr_value_t *terms = kr_array_at(kr_map_at(aff, kinds[k]), lists[l]);
            for (size_t i = 0; i < kr_value_len(terms); i++) {
                const kr_value_t *t = kr_value_array_get(terms, i);
                if (l == 1)
                    t = kr_map_at(t, "podAffinityTerm");
                if (kr_value_len(kr_array_at(t, "namespaces")) > 0 ||
                    kr_map_at(t, "namespaceSelector") != NULL)
                    return true;
            }
        }
    return false;
}

/* What quota needs of a pod: its scopes' inputs and its usage. */
typedef struct pod_facts {
    bool terminating, best_effort, cross_ns;
    const char *priority_class; /* "" for none */
    int64_t free_after;         /* deleted: when its grace has passed twice (s), else 0 */
    rl_t usage;
} pod_facts_t;

static void pod_facts_of(kr_arena_t *a, const kr_value_t *pod, pod_facts_t *f)
{
    const kr_value_t *spec = kr_map_at(pod, "spec");
    int64_t ads;
    f->terminating = kr_int_at(spec, "activeDeadlineSeconds", &ads) && ads >= 0;
    f->best_effort = strcmp(kr_pod_qos_class(spec), "BestEffort") == 0;
    f->cross_ns = cross_namespace_affinity(spec);
    f->priority_class = kr_str_or_empty(spec, "priorityClassName");
    f->usage = pod_usage(a, pod);
    /* QuotaV1Pod: a pod stuck terminating (its node lost) stops counting
     * once deletionTimestamp + deletionGracePeriodSeconds has passed */
    const kr_value_t *meta = kr_map_at(pod, "metadata");
    int64_t del, grace;
    int32_t nsec;
    f->free_after = 0;
    if (kr_time_parse(kr_str_or_empty(meta, "deletionTimestamp"), &del, &nsec) &&
        kr_int_at(meta, "deletionGracePeriodSeconds", &grace))
        f->free_after = del + grace + (nsec > 0);
}

/* What the pod uses now: only its object count once its grace is over. */
static rl_t pod_facts_usage(kr_arena_t *a, const pod_facts_t *f)
{
    if (f->free_after == 0 || time(NULL) < f->free_after)
        return f->usage;
    rl_t u = {0};
    rl_set(a, &u, "count/pods", &one);
    return u;
}

/* podMatchesScopeFunc */
static bool pod_matches_scope(const scope_req_t *s, const pod_facts_t *f)
{
    if (strcmp(s->scope, "Terminating") == 0)
        return f->terminating;
    if (strcmp(s->scope, "NotTerminating") == 0)
        return !f->terminating;
    if (strcmp(s->scope, "BestEffort") == 0)
        return f->best_effort;
    if (strcmp(s->scope, "NotBestEffort") == 0)
        return !f->best_effort;
    if (strcmp(s->scope, "CrossNamespacePodAffinity") == 0)
        return f->cross_ns;
    if (strcmp(s->scope, "PriorityClass") == 0) {
        /* a label set {PriorityClass: <name>}: the key is always there */
        const char *pc = f->priority_class;
        if (strcmp(s->op, "Exists") == 0)
            return *pc != '\0';
        if (strcmp(s->op, "In") == 0)
            return str_in_values(pc, s->values);
        if (strcmp(s->op, "NotIn") == 0)
            return !str_in_values(pc, s->values);
        return false;
    }
    return false;
}

#define MAX_SCOPES 16

/* evaluator.Matches without the resources: the quota's scopes select the
 * object (only pods have scopes; a scoped quota counts nothing else).
 * `pod`: the pod's facts, NULL for another kind. */
static bool scopes_match(const kr_value_t *quota, const pod_facts_t *pod)
{
    scope_req_t s[MAX_SCOPES];
    size_t n = quota_scopes(quota, s, MAX_SCOPES);
    if (n == 0)
        return true;
    if (pod == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!pod_matches_scope(&s[i], pod))
            return false;
    return true;
}

/* ---- the pods' facts, kept by revision ---------------------------------------------
 *
 * Counting a namespace's pods at each create would decode every pod each
 * time (2 us a pod).  A record's revision names one immutable state, so
 * its facts are kept by revision: a walk decodes only the states it has
 * not seen.  The table grows by doubling; when it does, only the entries
 * used since the last growth are kept (gone states fall out). */

typedef struct centry {
    int64_t rev; /* 0: an empty slot */
    bool used;
    bool terminating, best_effort, cross_ns;
    char *priority_class;
    int64_t free_after;
    size_t n;
    char **names;
    kr_quantity_t *q;
} centry_t;

struct kr_quota_cache {
    centry_t *slots;
    size_t cap, count; /* cap a power of two */
};

kr_quota_cache_t *kr_quota_cache_new(void)
{
    kr_quota_cache_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    return c;
}

static void centry_free(centry_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->names[i]);
    free(e->names);
    free(e->q);
    free(e->priority_class);
    memset(e, 0, sizeof *e);
}

void kr_quota_cache_destroy(kr_quota_cache_t **c_p)
{
    if (c_p == NULL || *c_p == NULL)
        return;
    kr_quota_cache_t *c = *c_p;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].rev != 0)
            centry_free(&c->slots[i]);
    free(c->slots);
    free(c);
    *c_p = NULL;
}

static size_t slot_of(const kr_quota_cache_t *c, int64_t rev)
{
    uint64_t h = (uint64_t)rev * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 17) & (c->cap - 1);
    while (c->slots[i].rev != 0 && c->slots[i].rev != rev)
        i = (i + 1) & (c->cap - 1);
    return i;
}

static centry_t *cache_find(kr_quota_cache_t *c, int64_t rev)
{
    if (c->cap == 0)
        return NULL;
    centry_t *e = &c->slots[slot_of(c, rev)];
    if (e->rev != rev)
        return NULL;
    e->used = true;
    return e;
}

/* A bigger table with the entries used since the last growth. */
static void cache_grow(kr_quota_cache_t *c)
{
    size_t used = 0;
    for (size_t i = 0; i < c->cap; i++)
        used += c->slots[i].rev != 0 && c->slots[i].used;
    size_t cap = 1024;
    while (cap < 4 * (used + 1))
        cap *= 2;
    centry_t *old = c->slots;
    size_t old_cap = c->cap;
    c->slots = calloc(cap, sizeof *c->slots);
    if (c->slots == NULL)
        abort();
    c->cap = cap;
    c->count = 0;
    for (size_t i = 0; i < old_cap; i++) {
        centry_t *e = &old[i];
        if (e->rev == 0)
            continue;
        if (!e->used) {
            centry_free(e);
            continue;
        }
        e->used = false;
        c->slots[slot_of(c, e->rev)] = *e;
        c->count++;
    }
    free(old);
}

static char *xstrdup_or_die(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static void cache_put(kr_quota_cache_t *c, int64_t rev, const pod_facts_t *f)
{
    if (2 * (c->count + 1) > c->cap)
        cache_grow(c);
    centry_t *e = &c->slots[slot_of(c, rev)];
    if (e->rev == rev)
        return;
    e->rev = rev;
    e->used = true;
    e->terminating = f->terminating;
    e->best_effort = f->best_effort;
    e->cross_ns = f->cross_ns;
    e->priority_class = xstrdup_or_die(f->priority_class);
    e->free_after = f->free_after;
    e->n = f->usage.n;
    e->names = calloc(e->n + 1, sizeof *e->names);
    e->q = calloc(e->n + 1, sizeof *e->q);
    if (e->names == NULL || e->q == NULL)
        abort();
    for (size_t i = 0; i < e->n; i++) {
        e->names[i] = xstrdup_or_die(f->usage.names[i]);
        e->q[i] = f->usage.q[i];
    }
    c->count++;
}

/* The facts of a stored pod state: kept ones, else decoded (and kept). */
static void pod_facts_rec(kr_arena_t *a, kr_quota_cache_t *c, const kr_objrec_t *rec,
                          pod_facts_t *f)
{
    centry_t *e = c != NULL ? cache_find(c, rec->rev) : NULL;
    if (e != NULL) {
        f->terminating = e->terminating;
        f->best_effort = e->best_effort;
        f->cross_ns = e->cross_ns;
        f->priority_class = e->priority_class;
        f->free_after = e->free_after;
        /* read only: the arrays stay the entry's until the walk ends */
        f->usage = (rl_t){.n = e->n, .cap = e->n, .names = (const char **)e->names, .q = e->q};
        return;
    }
    pod_facts_of(a, kr_objrec_decode(rec, a), f);
    if (c != NULL && rec->rev > 0)
        cache_put(c, rec->rev, f);
}

/* ---- ResourceQuota: usage ------------------------------------------------------------ */

typedef struct usage_walk {
    kr_arena_t *a;
    kr_quota_cache_t *cache;
    const kr_value_t *quota;
    bool pods;
    rl_t *total;
    size_t count;
} usage_walk_t;

static bool usage_visit(kr_objrec_t *rec, void *ud)
{
    usage_walk_t *w = ud;
    rl_t u;
    if (w->pods) {
        pod_facts_t f;
        pod_facts_rec(w->a, w->cache, rec, &f);
        if (!scopes_match(w->quota, &f))
            return true;
        u = pod_facts_usage(w->a, &f);
    } else {
        u = service_usage(w->a, kr_objrec_decode(rec, w->a));
    }
    for (size_t i = 0; i < u.n; i++) {
        kr_quantity_t *have = rl_get(w->total, u.names[i]);
        if (have != NULL)
            *have = kr_quantity_add(have, &u.q[i]);
        else /* a copy: a kept entry's name may go when the table grows */
            rl_set(w->a, w->total, kr_arena_strdup(w->a, u.names[i]), &u.q[i]);
    }
    return true;
}

static bool count_visit(kr_objrec_t *rec, void *ud)
{
    (void)rec;
    ((usage_walk_t *)ud)->count++;
    return true;
}

/* Splits "deployments.apps" into plural and group ("" for core). */
static void split_resource(kr_arena_t *a, const char *res, const char **plural, const char **group)
{
    const char *dot = strchr(res, '.');
    if (dot == NULL) {
        *plural = res;
        *group = "";
        return;
    }
    *plural = kr_arena_strndup(a, res, (size_t)(dot - res));
    *group = dot + 1;
}

/* The usage of every resource in `names` in ns under `quota`. */
static rl_t namespace_usage(kr_arena_t *a, const kr_quota_src_t *src, const kr_value_t *quota,
                            const char *ns, const char *const *names, size_t n)
{
    rl_t total = {0}, out = {0};
    bool pods = false, svcs = false;
    for (size_t i = 0; i < n; i++) {
        pods |= tracks(names[i], "", "pods");
        svcs |= tracks(names[i], "", "services");
    }
    if (pods) {
        usage_walk_t w = {
            .a = a, .cache = src->cache, .quota = quota, .pods = true, .total = &total};
        src->walk(src->ctx, "", "pods", ns, usage_visit, &w);
    }
    if (svcs && scopes_match(quota, NULL)) {
        usage_walk_t w = {.a = a, .quota = quota, .pods = false, .total = &total};
        src->walk(src->ctx, "", "services", ns, usage_visit, &w);
    }
    kr_quantity_t zero = {.unscaled = 0, .format = KR_QFMT_DECIMAL_SI};
    for (size_t i = 0; i < n; i++) {
        const kr_quantity_t *q = rl_get(&total, names[i]);
        if (q != NULL) {
            rl_set(a, &out, names[i], q);
            continue;
        }
        const char *plural = NULL, *group = "";
        if (strncmp(names[i], "count/", 6) == 0)
            split_resource(a, names[i] + 6, &plural, &group);
        else if (kr_str_in(names[i], legacy_counts))
            plural = names[i];
        if (plural != NULL && !is_pods(group, plural) && !is_services(group, plural) &&
            scopes_match(quota, NULL)) {
            usage_walk_t w = {.a = a};
            src->walk(src->ctx, group, plural, ns, count_visit, &w);
            kr_quantity_t c = {.unscaled = (int64_t)w.count, .format = KR_QFMT_DECIMAL_SI};
            normalize(&c);
            rl_set(a, &out, names[i], &c);
        } else {
            rl_set(a, &out, names[i], &zero);
        }
    }
    return out;
}

kr_value_t *kr_quota_usage(kr_arena_t *arena, const kr_quota_src_t *src, const kr_value_t *quota)
{
    const kr_value_t *hard = kr_map_at(kr_map_at(quota, "spec"), "hard");
    const char *ns = kr_str_or_empty(kr_map_at(quota, "metadata"), "namespace");
    size_t n = kr_value_len(hard);
    const char **names = kr_arena_alloc(arena, (n + 1) * sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = kr_value_map_key(hard, i);
    rl_t used = namespace_usage(arena, src, quota, ns, names, n);
    kr_value_t *out = kr_value_map(arena);
    for (size_t i = 0; i < used.n; i++)
        kr_value_map_set(arena, out, used.names[i], kr_value_str(arena, qtext(arena, &used.q[i])));
    return out;
}

kr_value_t *kr_quota_status(kr_arena_t *arena, const kr_quota_src_t *src, const kr_value_t *quota)
{
    kr_value_t *st = kr_value_map(arena);
    const kr_value_t *hard = kr_map_at(kr_map_at(quota, "spec"), "hard");
    if (kr_value_len(hard) == 0)
        return st; /* empty lists are left out, as upstream's omitempty */
    kr_value_map_set(arena, st, "hard", kr_value_copy(arena, hard));
    kr_value_map_set(arena, st, "used", kr_quota_usage(arena, src, quota));
    return st;
}

/* ---- ResourceQuota: admission ------------------------------------------------------ */

/* prettyPrint: "a=1,b=2", names sorted */
static const char *pretty(kr_arena_t *a, const rl_t *l)
{
    const char **names = kr_arena_alloc(a, (l->n + 1) * sizeof *names);
    for (size_t i = 0; i < l->n; i++)
        names[i] = l->names[i];
    qsort(names, l->n, sizeof *names, cmp_str);
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "");
    for (size_t i = 0; i < l->n; i++)
        kr_buf_printf(&b, "%s%s=%s", i ? "," : "", names[i], qtext(a, rl_get(l, names[i])));
    const char *s = kr_arena_strdup(a, b.data);
    kr_buf_free(&b);
    return s;
}

/* podEvaluator.Constraints: each container sets what the quota's
 * cpu/memory resources need; "" when they all do. */
static const char *pod_constraints(kr_arena_t *a, const kr_value_t *hard, const kr_value_t *pod)
{
    const char *req[8];
    size_t nreq = 0;
    for (size_t i = 0; i < kr_value_len(hard) && nreq < 8; i++) {
        const char *k = kr_value_map_key(hard, i);
        if (kr_str_in(k, pod_required))
            req[nreq++] = k;
    }
    if (nreq == 0)
        return "";
    qsort(req, nreq, sizeof *req, cmp_str);
    kr_value_t *missing = kr_value_map(a); /* resource -> {container: true} */
    static const char *const which[2] = {"containers", "initContainers"};
    for (int w = 0; w < 2; w++) {
        const kr_value_t *cs = containers_of(pod, which[w]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *c = kr_value_array_get(cs, i);
            rl_t reqs = container_list(a, c, "requests"), lims = container_list(a, c, "limits");
            rl_t u = {0};
            pod_compute_usage(a, &u, &reqs, &lims);
            for (size_t r = 0; r < nreq; r++) {
                if (rl_get(&u, req[r]) != NULL)
                    continue;
                kr_value_t *set = kr_value_map_get(missing, req[r]);
                if (set == NULL) {
                    set = kr_value_map(a);
                    kr_value_map_set(a, missing, req[r], set);
                }
                kr_value_map_set(a, set, kr_str_or_empty(c, "name"), kr_value_bool(a, true));
            }
        }
    }
    if (kr_value_len(missing) == 0)
        return "";
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "must specify ");
    size_t out = 0;
    for (size_t r = 0; r < nreq; r++) {
        const kr_value_t *set = kr_value_map_get(missing, req[r]);
        if (set == NULL)
            continue;
        size_t n = kr_value_len(set);
        const char **cn = kr_arena_alloc(a, n * sizeof *cn);
        for (size_t i = 0; i < n; i++)
            cn[i] = kr_value_map_key(set, i);
        qsort(cn, n, sizeof *cn, cmp_str);
        kr_buf_printf(&b, "%s%s for: ", out++ ? "; " : "", req[r]);
        for (size_t i = 0; i < n; i++)
            kr_buf_printf(&b, "%s%s", i ? "," : "", cn[i]);
    }
    const char *s = kr_arena_strdup(a, b.data);
    kr_buf_free(&b);
    return s;
}

/* The resources of `hard` this kind's evaluator tracks */
static size_t matching(kr_arena_t *a, const kr_value_t *hard, const char *group, const char *plural,
                       const char ***out)
{
    size_t n = kr_value_len(hard), k = 0;
    const char **names = kr_arena_alloc(a, (n + 1) * sizeof *names);
    for (size_t i = 0; i < n; i++)
        if (tracks(kr_value_map_key(hard, i), group, plural))
            names[k++] = kr_value_map_key(hard, i);
    *out = names;
    return k;
}

int kr_admit_quota(kr_arena_t *arena, const kr_quota_src_t *src, const char *group,
                   const char *plural, const char *ns, const kr_value_t *obj, const kr_value_t *old,
                   kr_error_t *err)
{
    if (old != NULL && !is_services(group, plural))
        return 0; /* the other evaluators handle creates only */
    kr_value_t *quotas = list_objs(arena, src, "resourcequotas", ns);
    size_t nq = kr_value_len(quotas);
    if (nq == 0)
        return 0;
    bool pod = is_pods(group, plural);
    pod_facts_t facts;
    if (pod)
        pod_facts_of(arena, obj, &facts);
    /* the quotas that match the object; constraints first, as upstream */
    bool *interesting = kr_arena_alloc(arena, nq * sizeof *interesting);
    for (size_t i = 0; i < nq; i++) {
        const kr_value_t *q = kr_value_array_get(quotas, i);
        const kr_value_t *hard = kr_map_at(kr_map_at(q, "spec"), "hard");
        const char **names;
        interesting[i] = matching(arena, hard, group, plural, &names) > 0 &&
                         scopes_match(q, pod ? &facts : NULL);
        if (!interesting[i] || !pod)
            continue;
        const char *missing = pod_constraints(arena, hard, obj);
        if (*missing)
            return kr_error_set(err, KR_E_FORBIDDEN, "failed quota: %s: %s",
                                kr_str_or_empty(kr_map_at(q, "metadata"), "name"), missing);
    }
    rl_t delta = object_usage(arena, group, plural, obj);
    if (old != NULL) {
        /* quota.SubtractWithNonNegativeResult(new, old) */
        rl_t prev = object_usage(arena, group, plural, old);
        for (size_t k = 0; k < delta.n; k++) {
            const kr_quantity_t *p = rl_get(&prev, delta.names[k]);
            if (p == NULL)
                continue;
            kr_quantity_t neg = *p;
            neg.unscaled = -neg.unscaled;
            kr_quantity_t d = kr_quantity_add(&delta.q[k], &neg);
            if (d.unscaled < 0)
                d.unscaled = 0;
            delta.q[k] = d;
        }
    }
    for (size_t i = 0; i < nq; i++) {
        if (!interesting[i])
            continue;
        const kr_value_t *q = kr_value_array_get(quotas, i);
        const kr_value_t *hard_v = kr_map_at(kr_map_at(q, "spec"), "hard");
        rl_t hard = rl_of(arena, hard_v);
        /* quota.Mask(delta, hard) without zeros */
        rl_t requested = {0};
        for (size_t k = 0; k < delta.n; k++)
            if (rl_get(&hard, delta.names[k]) != NULL && delta.q[k].unscaled != 0)
                rl_set(arena, &requested, delta.names[k], &delta.q[k]);
        if (requested.n == 0)
            continue;
        rl_t used = namespace_usage(arena, src, q, ns, requested.names, requested.n);
        rl_t f_req = {0}, f_used = {0}, f_hard = {0};
        for (size_t k = 0; k < requested.n; k++) {
            const char *name = requested.names[k];
            kr_quantity_t *u = rl_get(&used, name);
            kr_quantity_t nu = u != NULL ? kr_quantity_add(u, &requested.q[k]) : requested.q[k];
            kr_quantity_t *h = rl_get(&hard, name);
            if (kr_quantity_cmp(&nu, h) <= 0)
                continue;
            rl_set(arena, &f_req, name, &requested.q[k]);
            if (u != NULL)
                rl_set(arena, &f_used, name, u);
            rl_set(arena, &f_hard, name, h);
        }
        if (f_req.n > 0)
            return kr_error_set(
                err, KR_E_FORBIDDEN, "exceeded quota: %s, requested: %s, used: %s, limited: %s",
                kr_str_or_empty(kr_map_at(q, "metadata"), "name"), pretty(arena, &f_req),
                pretty(arena, &f_used), pretty(arena, &f_hard));
    }
    return 0;
}
