/* controller-deployment: hash, revisions, sizes, status (dep_util.h). */
#include "dep_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>

/* ---- hash ------------------------------------------------------------------ */

typedef struct {
    const kr_value_t *map;
    size_t i;
} key_ref_t;

static int key_cmp(const void *x, const void *y)
{
    const key_ref_t *a = x, *b = y;
    return strcmp(kr_value_map_key(a->map, a->i), kr_value_map_key(b->map, b->i));
}

/* Go's semantic equality sees no difference between a field absent, null,
 * an empty map or an empty list (kubectl rollout undo sends
 * `creationTimestamp: null` in the template it copies back). */
static bool is_empty(const kr_value_t *v)
{
    kr_type_t t = kr_value_type(v);
    return t == KR_NULL || ((t == KR_MAP || t == KR_ARRAY) && kr_value_len(v) == 0);
}

static bool sem_equal(const kr_value_t *a, const kr_value_t *b)
{
    if (is_empty(a) || is_empty(b))
        return is_empty(a) && is_empty(b);
    if (kr_value_type(a) != kr_value_type(b))
        return false;
    if (kr_value_type(a) == KR_MAP) {
        for (size_t i = 0; i < kr_value_len(a); i++)
            if (!sem_equal(kr_value_map_val(a, i), kr_value_map_get(b, kr_value_map_key(a, i))))
                return false;
        for (size_t i = 0; i < kr_value_len(b); i++)
            if (kr_value_map_get(a, kr_value_map_key(b, i)) == NULL &&
                !is_empty(kr_value_map_val(b, i)))
                return false;
        return true;
    }
    if (kr_value_type(a) == KR_ARRAY) {
        if (kr_value_len(a) != kr_value_len(b))
            return false;
        for (size_t i = 0; i < kr_value_len(a); i++)
            if (!sem_equal(kr_value_array_get(a, i), kr_value_array_get(b, i)))
                return false;
        return true;
    }
    return kr_value_equal(a, b);
}

/* JSON with map keys sorted and empty fields left out (see is_empty),
 * scalars as kr_json_encode writes them. */
static void canonical(kr_buf_t *b, const kr_value_t *v)
{
    switch (kr_value_type(v)) {
    case KR_MAP: {
        size_t n = kr_value_len(v);
        key_ref_t *keys = calloc(n ? n : 1, sizeof *keys);
        if (keys == NULL)
            abort();
        for (size_t i = 0; i < n; i++)
            keys[i] = (key_ref_t){v, i};
        qsort(keys, n, sizeof *keys, key_cmp);
        kr_buf_puts(b, "{");
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (is_empty(kr_value_map_val(v, keys[i].i)))
                continue;
            kr_arena_t *tmp = kr_arena_new(256);
            if (!first)
                kr_buf_puts(b, ",");
            first = false;
            kr_json_encode(kr_value_str(tmp, kr_value_map_key(v, keys[i].i)), b, KR_JSON_COMPACT,
                           NULL);
            kr_arena_destroy(&tmp);
            kr_buf_puts(b, ":");
            canonical(b, kr_value_map_val(v, keys[i].i));
        }
        kr_buf_puts(b, "}");
        free(keys);
        break;
    }
    case KR_ARRAY:
        kr_buf_puts(b, "[");
        for (size_t i = 0; i < kr_value_len(v); i++) {
            if (i > 0)
                kr_buf_puts(b, ",");
            canonical(b, kr_value_array_get(v, i));
        }
        kr_buf_puts(b, "]");
        break;
    default:
        kr_json_encode(v, b, KR_JSON_COMPACT, NULL);
        break;
    }
}

void dp_hash(const kr_value_t *tmpl, int64_t collision_count, char *out, size_t size)
{
    kr_buf_t b = KR_BUF_INIT;
    canonical(&b, tmpl);
    kr_controller_hash(b.data, b.len, collision_count, out, size);
    kr_buf_free(&b);
}

static const kr_value_t *without_hash(kr_arena_t *a, const kr_value_t *tmpl)
{
    if (kr_value_get(tmpl, "metadata.labels[\"" DP_HASH_LABEL "\"]") == NULL)
        return tmpl;
    kr_value_t *c = kr_value_copy(a, tmpl);
    kr_value_t *labels = kr_value_get(c, "metadata.labels");
    kr_value_map_del(labels, DP_HASH_LABEL);
    if (kr_value_len(labels) == 0)
        kr_value_map_del(kr_value_map_get(c, "metadata"), "labels");
    return c;
}

bool dp_templates_equal(const kr_value_t *a, const kr_value_t *b)
{
    kr_arena_t *tmp = kr_arena_new(0);
    const kr_value_t *x = without_hash(tmp, a), *y = without_hash(tmp, b);
    bool eq = sem_equal(x, y);
    kr_arena_destroy(&tmp);
    return eq;
}

/* ---- spec ------------------------------------------------------------------ */

int64_t dp_replicas(const kr_value_t *obj)
{
    return kr_value_as_int(kr_value_get(obj, "spec.replicas"), 1);
}

bool dp_is_rolling(const kr_value_t *d)
{
    const char *t = kr_value_as_str(kr_value_get(d, "spec.strategy.type"));
    return t == NULL || strcmp(t, "RollingUpdate") == 0;
}

bool dp_has_progress_deadline(const kr_value_t *d)
{
    const kr_value_t *p = kr_value_get(d, "spec.progressDeadlineSeconds");
    return kr_value_type(p) == KR_INT && kr_value_as_int(p, 0) != INT32_MAX;
}

int64_t dp_int_or_percent(const kr_value_t *v, int64_t total, bool round_up)
{
    if (kr_value_type(v) == KR_INT)
        return kr_value_as_int(v, 0);
    const char *s = kr_value_as_str(v);
    if (s == NULL)
        return -1;
    size_t len = strlen(s);
    if (len < 2 || s[len - 1] != '%')
        return -1;
    char *end;
    errno = 0;
    long long pct = strtoll(s, &end, 10);
    if (errno != 0 || end != s + len - 1)
        return -1;
    double x = (double)pct * (double)total / 100.0;
    return (int64_t)(round_up ? ceil(x) : floor(x));
}

void dp_fenceposts(const kr_value_t *d, int64_t *surge, int64_t *unavailable)
{
    int64_t r = dp_replicas(d);
    const kr_value_t *ru = kr_value_get(d, "spec.strategy.rollingUpdate");
    const kr_value_t *ms = kr_value_map_get(ru, "maxSurge");
    const kr_value_t *mu = kr_value_map_get(ru, "maxUnavailable");
    *surge = ms != NULL ? dp_int_or_percent(ms, r, true) : (r * 25 + 99) / 100;
    *unavailable = mu != NULL ? dp_int_or_percent(mu, r, false) : r * 25 / 100;
    if (*surge < 0)
        *surge = 0;
    if (*unavailable < 0)
        *unavailable = 0;
    if (*surge == 0 && *unavailable == 0)
        *unavailable = 1;
}

int64_t dp_max_surge(const kr_value_t *d)
{
    if (!dp_is_rolling(d))
        return 0;
    int64_t s, u;
    dp_fenceposts(d, &s, &u);
    return s;
}

int64_t dp_max_unavailable(const kr_value_t *d)
{
    int64_t r = dp_replicas(d);
    if (!dp_is_rolling(d) || r == 0)
        return 0;
    int64_t s, u;
    dp_fenceposts(d, &s, &u);
    return u > r ? r : u;
}

/* ---- ReplicaSets ------------------------------------------------------------ */

int64_t dp_rs_replicas(const kr_value_t *rs)
{
    return kr_value_as_int(kr_value_get(rs, "spec.replicas"), 0);
}

int64_t dp_rs_status(const kr_value_t *rs, const char *field)
{
    return kr_value_map_int(kr_value_map_get(rs, "status"), field, 0);
}

int64_t dp_int_annotation(const kr_value_t *obj, const char *key)
{
    const char *s = kr_value_map_str(kr_value_get(obj, "metadata.annotations"), key);
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return -1;
    return v;
}

int64_t dp_revision(const kr_value_t *obj)
{
    int64_t r = dp_int_annotation(obj, DP_REVISION);
    return r < 0 ? 0 : r;
}

static int64_t created_ns(const kr_value_t *obj)
{
    int64_t s;
    int32_t ns;
    const char *t = kr_value_as_str(kr_value_get(obj, "metadata.creationTimestamp"));
    if (t == NULL || !kr_time_parse(t, &s, &ns))
        return 0;
    return s * 1000000000 + ns;
}

static int by_creation(const void *x, const void *y)
{
    const kr_value_t *a = *(kr_value_t *const *)x, *b = *(kr_value_t *const *)y;
    int64_t ca = created_ns(a), cb = created_ns(b);
    if (ca != cb)
        return ca < cb ? -1 : 1;
    const char *na = kr_value_as_str(kr_value_get(a, "metadata.name"));
    const char *nb = kr_value_as_str(kr_value_get(b, "metadata.name"));
    return strcmp(na ? na : "", nb ? nb : "");
}

static int by_revision(const void *x, const void *y)
{
    const kr_value_t *a = *(kr_value_t *const *)x, *b = *(kr_value_t *const *)y;
    int64_t ra = dp_revision(a), rb = dp_revision(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return by_creation(x, y);
}

void dp_sort_by_creation(kr_value_t **rss, size_t n)
{
    qsort(rss, n, sizeof *rss, by_creation);
}

void dp_sort_by_revision(kr_value_t **rss, size_t n)
{
    qsort(rss, n, sizeof *rss, by_revision);
}

long dp_find_new(const kr_value_t *d, kr_value_t *const *rss, size_t n)
{
    const kr_value_t *tmpl = kr_value_get(d, "spec.template");
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        if (!dp_templates_equal(kr_value_get(rss[i], "spec.template"), tmpl))
            continue;
        /* several equal templates (an old controller's doing): the oldest */
        if (best < 0 || by_creation(&rss[i], &rss[best]) < 0)
            best = (long)i;
    }
    return best;
}

static int64_t sum_replicas(kr_value_t *const *rss, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        if (rss[i] != NULL)
            s += dp_rs_replicas(rss[i]);
    return s;
}

static int64_t sum_status(kr_value_t *const *rss, size_t n, const char *field)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        if (rss[i] != NULL)
            s += dp_rs_status(rss[i], field);
    return s;
}

int64_t dp_new_rs_new_replicas(const kr_value_t *d, kr_value_t *const *all, size_t n,
                               const kr_value_t *new_rs)
{
    int64_t want = dp_replicas(d);
    if (!dp_is_rolling(d))
        return want;
    int64_t cur = sum_replicas(all, n);
    int64_t max_total = want + dp_max_surge(d);
    int64_t have = dp_rs_replicas(new_rs);
    if (cur >= max_total)
        return have;
    int64_t up = max_total - cur;
    if (up > want - have)
        up = want - have;
    return have + up;
}

bool dp_is_saturated(const kr_value_t *d, const kr_value_t *rs)
{
    if (rs == NULL)
        return false;
    int64_t want = dp_replicas(d);
    return dp_rs_replicas(rs) == want && dp_int_annotation(rs, DP_DESIRED_REPLICAS) == want &&
           dp_rs_status(rs, "availableReplicas") == want;
}

static kr_value_t *annotations_of(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    kr_value_t *ann = kr_value_map_get(meta, "annotations");
    if (kr_value_type(ann) != KR_MAP) {
        ann = kr_value_map(a);
        kr_value_map_set(a, meta, "annotations", ann);
    }
    return ann;
}

static bool skip_copy(const char *k)
{
    static const char *const skip[] = {"kubectl.kubernetes.io/last-applied-configuration",
                                       DP_REVISION,
                                       DP_REVISION_HISTORY,
                                       DP_DESIRED_REPLICAS,
                                       DP_MAX_REPLICAS,
                                       "deprecated.deployment.rollback.to"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcmp(k, skip[i]) == 0)
            return true;
    return false;
}

static bool set_str(kr_arena_t *a, kr_value_t *map, const char *k, const char *v)
{
    const char *cur = kr_value_map_str(map, k);
    if (cur != NULL && strcmp(cur, v) == 0)
        return false;
    kr_value_map_set(a, map, k, kr_value_str(a, v));
    return true;
}

bool dp_set_replicas_annotations(kr_arena_t *a, kr_value_t *rs, int64_t desired, int64_t max)
{
    kr_value_t *ann = annotations_of(a, rs);
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)desired);
    bool changed = set_str(a, ann, DP_DESIRED_REPLICAS, buf);
    snprintf(buf, sizeof buf, "%lld", (long long)max);
    changed |= set_str(a, ann, DP_MAX_REPLICAS, buf);
    return changed;
}

bool dp_replicas_annotations_need_update(const kr_value_t *rs, int64_t desired, int64_t max)
{
    return dp_int_annotation(rs, DP_DESIRED_REPLICAS) != desired ||
           dp_int_annotation(rs, DP_MAX_REPLICAS) != max;
}

bool dp_set_new_rs_annotations(kr_arena_t *a, const kr_value_t *d, kr_value_t *rs,
                               int64_t new_revision, bool exists)
{
    kr_value_t *ann = annotations_of(a, rs);
    bool changed = false;
    const kr_value_t *dann = kr_value_get(d, "metadata.annotations");
    for (size_t i = 0; i < kr_value_len(dann); i++) {
        const char *k = kr_value_map_key(dann, i);
        const char *v = kr_value_as_str(kr_value_map_val(dann, i));
        if (v == NULL || skip_copy(k))
            continue;
        changed |= set_str(a, ann, k, v);
    }
    const char *old = kr_value_map_str(ann, DP_REVISION);
    int64_t old_rev = 0;
    if (old != NULL) {
        char *end;
        errno = 0;
        long long x = strtoll(old, &end, 10);
        if (errno != 0 || *end != '\0')
            return changed; /* not a number: left alone, as upstream */
        old_rev = x;
    }
    if (old_rev < new_revision) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)new_revision);
        if (old != NULL) {
            /* rolled back to this ReplicaSet: keep its old revision */
            const char *hist = kr_value_map_str(ann, DP_REVISION_HISTORY);
            if (hist == NULL || *hist == '\0') {
                kr_value_map_set(a, ann, DP_REVISION_HISTORY, kr_value_str(a, old));
            } else {
                size_t total = strlen(hist) + strlen(old) + 1;
                const char *start = hist;
                while (total > DP_MAX_HISTORY_CHARS && start != NULL) {
                    const char *comma = strchr(start, ',');
                    size_t part = comma ? (size_t)(comma - start) : strlen(start);
                    total -= part + 1;
                    start = comma ? comma + 1 : NULL;
                }
                if (total <= DP_MAX_HISTORY_CHARS)
                    kr_value_map_set(a, ann, DP_REVISION_HISTORY,
                                     kr_value_str(a, start != NULL && *start
                                                         ? kr_arena_printf(a, "%s,%s", start, old)
                                                         : old));
            }
        }
        kr_value_map_set(a, ann, DP_REVISION, kr_value_str(a, buf));
        changed = true;
    }
    if (!exists &&
        dp_set_replicas_annotations(a, rs, dp_replicas(d), dp_replicas(d) + dp_max_surge(d)))
        changed = true;
    return changed;
}

/* getReplicaSetFraction */
static int64_t rs_fraction(const kr_value_t *rs, const kr_value_t *d)
{
    int64_t want = dp_replicas(d);
    if (want == 0)
        return -dp_rs_replicas(rs);
    int64_t max_now = want + dp_max_surge(d);
    int64_t before = dp_int_annotation(rs, DP_MAX_REPLICAS);
    if (before <= 0) {
        before = kr_value_as_int(kr_value_get(d, "status.replicas"), 0);
        if (before == 0)
            return 0;
    }
    double size = (double)(dp_rs_replicas(rs) * max_now) / (double)before;
    return (int64_t)llround(size) - dp_rs_replicas(rs);
}

/* GetProportion */
static int64_t proportion(const kr_value_t *rs, const kr_value_t *d, int64_t to_add, int64_t added)
{
    if (rs == NULL || dp_rs_replicas(rs) == 0 || to_add == 0 || to_add == added)
        return 0;
    int64_t f = rs_fraction(rs, d);
    int64_t allowed = to_add - added;
    if (to_add > 0)
        return f < allowed ? f : allowed;
    return f > allowed ? f : allowed;
}

typedef struct {
    const kr_value_t *rs;
    size_t index;
} sized_t;

static int by_size_newer(const void *x, const void *y)
{
    const sized_t *a = x, *b = y;
    int64_t sa = dp_rs_replicas(a->rs), sb = dp_rs_replicas(b->rs);
    if (sa != sb)
        return sa > sb ? -1 : 1;
    kr_value_t *const ra = (kr_value_t *)a->rs, *const rb = (kr_value_t *)b->rs;
    return by_creation(&rb, &ra);
}

static int by_size_older(const void *x, const void *y)
{
    const sized_t *a = x, *b = y;
    int64_t sa = dp_rs_replicas(a->rs), sb = dp_rs_replicas(b->rs);
    if (sa != sb)
        return sa > sb ? -1 : 1;
    kr_value_t *const ra = (kr_value_t *)a->rs, *const rb = (kr_value_t *)b->rs;
    return by_creation(&ra, &rb);
}

bool dp_proportional_sizes(const kr_value_t *d, kr_value_t *const *rss, size_t n,
                           const kr_value_t *new_rs, int64_t *sizes)
{
    int64_t want = dp_replicas(d);
    for (size_t i = 0; i < n; i++)
        sizes[i] = dp_rs_replicas(rss[i]);
    /* FindActiveOrLatest: one active ReplicaSet (or none: the newest) gets
     * everything */
    size_t active = 0, last = 0;
    for (size_t i = 0; i < n; i++)
        if (dp_rs_replicas(rss[i]) > 0) {
            active++;
            last = i;
        }
    if (n > 0 && active <= 1) {
        size_t target = last;
        if (active == 0) {
            long newest = -1;
            for (size_t i = 0; i < n; i++) {
                if (rss[i] == new_rs) {
                    newest = (long)i;
                    break;
                }
                if (newest < 0 || by_creation(&rss[i], &rss[newest]) > 0)
                    newest = (long)i;
            }
            target = (size_t)newest;
        }
        if (sizes[target] == want)
            return false;
        sizes[target] = want;
        return true;
    }
    if (dp_is_saturated(d, new_rs)) {
        bool changed = false;
        for (size_t i = 0; i < n; i++)
            if (rss[i] != new_rs && sizes[i] != 0) {
                sizes[i] = 0;
                changed = true;
            }
        return changed;
    }
    if (!dp_is_rolling(d))
        return false;
    sized_t *s = calloc(n, sizeof *s);
    if (s == NULL)
        abort();
    size_t m = 0;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (dp_rs_replicas(rss[i]) > 0) {
            s[m++] = (sized_t){rss[i], i};
            total += dp_rs_replicas(rss[i]);
        }
    int64_t allowed = want > 0 ? want + dp_max_surge(d) : 0;
    int64_t to_add = allowed - total;
    if (to_add > 0)
        qsort(s, m, sizeof *s, by_size_newer);
    else if (to_add < 0)
        qsort(s, m, sizeof *s, by_size_older);
    int64_t added = 0;
    for (size_t i = 0; i < m; i++) {
        int64_t p = proportion(s[i].rs, d, to_add, added);
        sizes[s[i].index] = dp_rs_replicas(s[i].rs) + p;
        added += p;
    }
    if (m > 0 && to_add != 0) {
        size_t k = s[0].index;
        sizes[k] += to_add - added;
        if (sizes[k] < 0)
            sizes[k] = 0;
    }
    free(s);
    bool changed = false;
    for (size_t i = 0; i < n; i++)
        changed |= sizes[i] != dp_rs_replicas(rss[i]);
    return changed;
}

int64_t dp_rolling_old_sizes(const kr_value_t *d, kr_value_t **old, size_t n,
                             const kr_value_t *new_rs, int64_t *sizes)
{
    dp_sort_by_creation(old, n);
    for (size_t i = 0; i < n; i++)
        sizes[i] = dp_rs_replicas(old[i]);
    int64_t old_count = sum_replicas(old, n);
    if (old_count == 0)
        return 0;
    int64_t all = old_count + dp_rs_replicas(new_rs);
    int64_t min_available = dp_replicas(d) - dp_max_unavailable(d);
    int64_t new_unavailable = dp_rs_replicas(new_rs) - dp_rs_status(new_rs, "availableReplicas");
    int64_t max_scaled_down = all - min_available - new_unavailable;
    if (max_scaled_down <= 0)
        return 0;
    /* cleanupUnhealthyReplicas */
    int64_t cleaned = 0;
    for (size_t i = 0; i < n && cleaned < max_scaled_down; i++) {
        int64_t avail = dp_rs_status(old[i], "availableReplicas");
        if (sizes[i] == 0 || sizes[i] == avail)
            continue;
        int64_t down = sizes[i] - avail;
        if (down > max_scaled_down - cleaned)
            down = max_scaled_down - cleaned;
        if (down < 0)
            continue;
        sizes[i] -= down;
        cleaned += down;
    }
    /* scaleDownOldReplicaSetsForRollingUpdate: availability from the
     * ReplicaSets' status, which the cleanup did not change */
    int64_t available =
        sum_status(old, n, "availableReplicas") + dp_rs_status(new_rs, "availableReplicas");
    int64_t scaled = 0;
    if (available > min_available) {
        int64_t total = available - min_available;
        for (size_t i = 0; i < n && scaled < total; i++) {
            if (sizes[i] == 0)
                continue;
            int64_t down = sizes[i] < total - scaled ? sizes[i] : total - scaled;
            sizes[i] -= down;
            scaled += down;
        }
    }
    return cleaned + scaled;
}

/* ---- status ----------------------------------------------------------------- */

const kr_value_t *dp_get_condition(const kr_value_t *status, const char *type)
{
    const kr_value_t *conds = kr_value_map_get(status, "conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        const char *t = kr_value_map_str(c, "type");
        if (t != NULL && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

void dp_remove_condition(kr_value_t *status, const char *type)
{
    kr_value_t *conds = kr_value_map_get(status, "conditions");
    for (size_t i = 0; i < kr_value_len(conds);) {
        const char *t = kr_value_map_str(kr_value_array_get(conds, i), "type");
        if (t != NULL && strcmp(t, type) == 0)
            kr_value_array_remove(conds, i);
        else
            i++;
    }
}

void dp_set_condition(kr_arena_t *a, kr_value_t *status, const char *type, const char *cstatus,
                      const char *reason, const char *message, int64_t now_sec)
{
    const kr_value_t *cur = dp_get_condition(status, type);
    const char *cs = kr_value_map_str(cur, "status"), *cr = kr_value_map_str(cur, "reason");
    if (cur != NULL && cs != NULL && cr != NULL && strcmp(cs, cstatus) == 0 &&
        strcmp(cr, reason) == 0)
        return;
    char now[32];
    kr_time_format(now_sec, now, sizeof now);
    const char *transition = now;
    if (cur != NULL && cs != NULL && strcmp(cs, cstatus) == 0 &&
        kr_value_map_str(cur, "lastTransitionTime") != NULL)
        transition = kr_arena_strdup(a, kr_value_map_str(cur, "lastTransitionTime"));
    kr_value_t *c = kr_value_map(a);
    kr_value_map_set(a, c, "type", kr_value_str(a, type));
    kr_value_map_set(a, c, "status", kr_value_str(a, cstatus));
    kr_value_map_set(a, c, "lastUpdateTime", kr_value_str(a, now));
    kr_value_map_set(a, c, "lastTransitionTime", kr_value_str(a, transition));
    kr_value_map_set(a, c, "reason", kr_value_str(a, reason));
    kr_value_map_set(a, c, "message", kr_value_str(a, message));
    dp_remove_condition(status, type);
    kr_value_t *conds = kr_value_map_get(status, "conditions");
    if (kr_value_type(conds) != KR_ARRAY) {
        conds = kr_value_array(a);
        kr_value_map_set(a, status, "conditions", conds);
    }
    kr_value_array_push(a, conds, c);
}

kr_value_t *dp_status(kr_arena_t *a, const kr_value_t *d, kr_value_t *const *all, size_t n,
                      const kr_value_t *new_rs, int64_t now_sec)
{
    int64_t available = sum_status(all, n, "availableReplicas");
    int64_t unavailable = sum_replicas(all, n) - available;
    if (unavailable < 0)
        unavailable = 0;
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(a, st, "observedGeneration",
                     kr_value_int(a, kr_value_as_int(kr_value_get(d, "metadata.generation"), 0)));
    kr_value_map_set(a, st, "replicas", kr_value_int(a, sum_status(all, n, "replicas")));
    kr_value_map_set(a, st, "updatedReplicas",
                     kr_value_int(a, new_rs ? dp_rs_status(new_rs, "replicas") : 0));
    kr_value_map_set(a, st, "readyReplicas", kr_value_int(a, sum_status(all, n, "readyReplicas")));
    kr_value_map_set(a, st, "availableReplicas", kr_value_int(a, available));
    kr_value_map_set(a, st, "unavailableReplicas", kr_value_int(a, unavailable));
    const kr_value_t *cc = kr_value_get(d, "status.collisionCount");
    if (cc != NULL)
        kr_value_map_set(a, st, "collisionCount", kr_value_copy(a, cc));
    const kr_value_t *conds = kr_value_get(d, "status.conditions");
    if (kr_value_len(conds) > 0)
        kr_value_map_set(a, st, "conditions", kr_value_copy(a, conds));
    if (available >= dp_replicas(d) - dp_max_unavailable(d))
        dp_set_condition(a, st, "Available", "True", "MinimumReplicasAvailable",
                         "Deployment has minimum availability.", now_sec);
    else
        dp_set_condition(a, st, "Available", "False", "MinimumReplicasUnavailable",
                         "Deployment does not have minimum availability.", now_sec);
    return st;
}

bool dp_complete(const kr_value_t *d, const kr_value_t *st)
{
    int64_t want = dp_replicas(d);
    return kr_value_map_int(st, "updatedReplicas", -1) == want &&
           kr_value_map_int(st, "replicas", -1) == want &&
           kr_value_map_int(st, "availableReplicas", -1) == want &&
           kr_value_map_int(st, "observedGeneration", 0) >=
               kr_value_as_int(kr_value_get(d, "metadata.generation"), 0);
}

/* DeploymentProgressing: more updated, fewer old, more ready or available. */
static bool progressing(const kr_value_t *d, const kr_value_t *st)
{
    const kr_value_t *old = kr_value_map_get(d, "status");
    int64_t ou = kr_value_map_int(old, "updatedReplicas", 0),
            nu = kr_value_map_int(st, "updatedReplicas", 0);
    int64_t oold = kr_value_map_int(old, "replicas", 0) - ou;
    int64_t nold = kr_value_map_int(st, "replicas", 0) - nu;
    return nu > ou || nold < oold ||
           kr_value_map_int(st, "readyReplicas", 0) > kr_value_map_int(old, "readyReplicas", 0) ||
           kr_value_map_int(st, "availableReplicas", 0) >
               kr_value_map_int(old, "availableReplicas", 0);
}

static int64_t time_sec(const kr_value_t *c, const char *field)
{
    int64_t s;
    int32_t ns;
    const char *t = kr_value_map_str(c, field);
    return t != NULL && kr_time_parse(t, &s, &ns) ? s : 0;
}

/* DeploymentTimedOut */
static bool timed_out(const kr_value_t *d, const kr_value_t *st, int64_t now_sec)
{
    if (!dp_has_progress_deadline(d))
        return false;
    const kr_value_t *c = dp_get_condition(st, "Progressing");
    const char *r = kr_value_map_str(c, "reason");
    if (c == NULL || r == NULL || strcmp(r, "NewReplicaSetAvailable") == 0)
        return false;
    if (strcmp(r, "ProgressDeadlineExceeded") == 0)
        return true;
    int64_t deadline = kr_value_as_int(kr_value_get(d, "spec.progressDeadlineSeconds"), 600);
    return time_sec(c, "lastUpdateTime") + deadline < now_sec;
}

void dp_rollout_conditions(kr_arena_t *a, const kr_value_t *d, kr_value_t *st,
                           kr_value_t *const *all, size_t n, const kr_value_t *new_rs,
                           int64_t now_sec)
{
    if (!dp_has_progress_deadline(d))
        dp_remove_condition(st, "Progressing");
    const kr_value_t *cur = dp_get_condition(kr_value_map_get(d, "status"), "Progressing");
    const char *cur_reason = kr_value_map_str(cur, "reason");
    bool done = kr_value_map_int(st, "replicas", 0) == kr_value_map_int(st, "updatedReplicas", 0) &&
                cur_reason != NULL && strcmp(cur_reason, "NewReplicaSetAvailable") == 0;
    const char *dname = kr_value_as_str(kr_value_get(d, "metadata.name"));
    const char *rname = new_rs ? kr_value_as_str(kr_value_get(new_rs, "metadata.name")) : NULL;
    const char *what = rname ? kr_arena_printf(a, "ReplicaSet \"%s\"", rname)
                             : kr_arena_printf(a, "Deployment \"%s\"", dname ? dname : "");
    if (dp_has_progress_deadline(d) && !done) {
        if (dp_complete(d, st)) {
            dp_set_condition(a, st, "Progressing", "True", "NewReplicaSetAvailable",
                             kr_arena_printf(a, "%s has successfully progressed.", what), now_sec);
        } else if (progressing(d, st)) {
            /* ReplicaSetUpdated: lastUpdateTime moves on even with the same reason */
            const char *keep = NULL;
            const char *cs = kr_value_map_str(cur, "status");
            if (cur != NULL && cs != NULL && strcmp(cs, "True") == 0)
                keep = kr_value_map_str(cur, "lastTransitionTime");
            if (keep != NULL)
                keep = kr_arena_strdup(a, keep);
            dp_remove_condition(st, "Progressing");
            dp_set_condition(a, st, "Progressing", "True", "ReplicaSetUpdated",
                             kr_arena_printf(a, "%s is progressing.", what), now_sec);
            if (keep != NULL) {
                kr_value_t *c = (kr_value_t *)dp_get_condition(st, "Progressing");
                kr_value_map_set(a, c, "lastTransitionTime", kr_value_str(a, keep));
            }
        } else if (timed_out(d, st, now_sec)) {
            dp_set_condition(a, st, "Progressing", "False", "ProgressDeadlineExceeded",
                             kr_arena_printf(a, "%s has timed out progressing.", what), now_sec);
        }
    }
    /* getReplicaFailures: the new ReplicaSet's first, then the others' */
    const kr_value_t *failure = NULL;
    for (int pass = 0; pass < 2 && failure == NULL; pass++)
        for (size_t i = 0; i < n && failure == NULL; i++) {
            if ((pass == 0) != (all[i] == new_rs))
                continue;
            const kr_value_t *c =
                dp_get_condition(kr_value_map_get(all[i], "status"), "ReplicaFailure");
            const char *cs = kr_value_map_str(c, "status");
            if (c != NULL && cs != NULL && strcmp(cs, "True") == 0)
                failure = c;
        }
    if (failure != NULL) {
        const char *r = kr_value_map_str(failure, "reason"),
                   *m = kr_value_map_str(failure, "message");
        dp_set_condition(a, st, "ReplicaFailure", "True", r ? r : "", m ? m : "", now_sec);
    } else {
        dp_remove_condition(st, "ReplicaFailure");
    }
}

uint64_t dp_progress_recheck_ms(const kr_value_t *d, const kr_value_t *new_status, int64_t now_sec)
{
    const kr_value_t *c = dp_get_condition(kr_value_map_get(d, "status"), "Progressing");
    if (!dp_has_progress_deadline(d) || c == NULL)
        return 0;
    const char *r = kr_value_map_str(c, "reason");
    if (dp_complete(d, new_status) || (r != NULL && strcmp(r, "ProgressDeadlineExceeded") == 0))
        return 0;
    int64_t deadline = kr_value_as_int(kr_value_get(d, "spec.progressDeadlineSeconds"), 600);
    int64_t after = time_sec(c, "lastUpdateTime") + deadline - now_sec;
    return after < 1 ? 1000 : (uint64_t)(after + 1) * 1000;
}
