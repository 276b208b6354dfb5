/* controller-replicaset: scale-down order, status and batches (rs_pods.h). */
#include "rs_pods.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>

static const kr_value_t *ready_condition(const kr_value_t *pod)
{
    const kr_value_t *conds = kr_value_get(pod, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        const char *t = kr_value_map_str(c, "type");
        if (t != NULL && strcmp(t, "Ready") == 0)
            return c;
    }
    return NULL;
}

static int phase_ordinal(const kr_value_t *pod)
{
    const char *p = kr_value_as_str(kr_value_get(pod, "status.phase"));
    if (p != NULL && strcmp(p, "Unknown") == 0)
        return 1;
    if (p != NULL && strcmp(p, "Running") == 0)
        return 2;
    return 0;
}

static int64_t max_restarts(const kr_value_t *pod)
{
    int64_t m = 0;
    const kr_value_t *st = kr_value_get(pod, "status.containerStatuses");
    for (size_t i = 0; i < kr_value_len(st); i++) {
        int64_t r = kr_value_map_int(kr_value_array_get(st, i), "restartCount", 0);
        if (r > m)
            m = r;
    }
    return m;
}

/* getDeletionCostFromPodAnnotations: an int32; absent or invalid is 0. */
static int64_t deletion_cost(const kr_value_t *pod)
{
    const char *s =
        kr_value_as_str(kr_value_get(pod, "metadata.annotations[\"" RS_DELETION_COST "\"]"));
    if (s == NULL || *s == '\0')
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < INT32_MIN || v > INT32_MAX)
        return 0;
    return v;
}

static bool time_of(const char *s, int64_t *ns)
{
    int64_t sec;
    int32_t nsec;
    if (s == NULL || !kr_time_parse(s, &sec, &nsec))
        return false;
    *ns = sec * 1000000000 + nsec;
    return true;
}

/* log2 of the time since t, -1 when t is not in the past. */
static int64_t log_rank(int64_t t_ns, int64_t now_ns)
{
    int64_t d = now_ns - t_ns;
    return d > 0 ? (int64_t)log2((double)d) : -1;
}

/* Step 6 and 8: a zero time first, else newer first by powers of two of
 * their age, equal powers by uid.  `*decided` false when both times are
 * equal (the next criterion decides). */
static int cmp_times(const kr_value_t *a, const kr_value_t *b, const char *ta, const char *tb,
                     int64_t now_ns, bool *decided)
{
    int64_t xa = 0, xb = 0;
    bool za = !time_of(ta, &xa), zb = !time_of(tb, &xb);
    *decided = true;
    if (za || zb) {
        if (za == zb) {
            *decided = false;
            return 0;
        }
        return za ? -1 : 1;
    }
    if (xa == xb) {
        *decided = false;
        return 0;
    }
    int64_t d = log_rank(xa, now_ns) - log_rank(xb, now_ns);
    if (d != 0)
        return d < 0 ? -1 : 1;
    const char *ua = kr_value_as_str(kr_value_get(a, "metadata.uid"));
    const char *ub = kr_value_as_str(kr_value_get(b, "metadata.uid"));
    int c = strcmp(ua ? ua : "", ub ? ub : "");
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

int rs_ranked_cmp(const rs_ranked_t *ra, const rs_ranked_t *rb, int64_t now_ns)
{
    const kr_value_t *a = ra->pod, *b = rb->pod;
    const char *na = kr_value_as_str(kr_value_get(a, "spec.nodeName"));
    const char *nb = kr_value_as_str(kr_value_get(b, "spec.nodeName"));
    bool ua = na == NULL || *na == '\0', ub = nb == NULL || *nb == '\0';
    if (ua != ub)
        return ua ? -1 : 1;
    int pa = phase_ordinal(a), pb = phase_ordinal(b);
    if (pa != pb)
        return pa < pb ? -1 : 1;
    bool ya = kr_pod_is_ready(a), yb = kr_pod_is_ready(b);
    if (ya != yb)
        return ya ? 1 : -1;
    int64_t ca = deletion_cost(a), cb = deletion_cost(b);
    if (ca != cb)
        return ca < cb ? -1 : 1;
    if (ra->rank != rb->rank)
        return ra->rank > rb->rank ? -1 : 1;
    bool decided;
    int c;
    if (ya && yb) {
        c = cmp_times(a, b, kr_value_map_str(ready_condition(a), "lastTransitionTime"),
                      kr_value_map_str(ready_condition(b), "lastTransitionTime"), now_ns, &decided);
        if (decided)
            return c;
    }
    int64_t xa = max_restarts(a), xb = max_restarts(b);
    if (xa != xb)
        return xa > xb ? -1 : 1;
    c = cmp_times(a, b, kr_value_as_str(kr_value_get(a, "metadata.creationTimestamp")),
                  kr_value_as_str(kr_value_get(b, "metadata.creationTimestamp")), now_ns, &decided);
    return decided ? c : 0;
}

typedef struct {
    rs_ranked_t r;
    size_t index; /* ties keep the input order */
} rs_sortable_t;

static int64_t sort_now_ns;

static int sortable_cmp(const void *x, const void *y)
{
    const rs_sortable_t *a = x, *b = y;
    int c = rs_ranked_cmp(&a->r, &b->r, sort_now_ns);
    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
}

static const char *node_of(const kr_value_t *pod)
{
    const char *n = kr_value_as_str(kr_value_get(pod, "spec.nodeName"));
    return n != NULL ? n : "";
}

void rs_pods_to_delete(const kr_value_t **pods, size_t n, const kr_value_t *const *related,
                       size_t n_related, size_t diff, int64_t now_ns)
{
    if (diff >= n)
        return;
    rs_sortable_t *s = calloc(n, sizeof *s);
    if (s == NULL)
        abort();
    /* ranks: active related pods on the same node (a node's count found by
     * a scan of `related`; a few thousand pods at most per controller) */
    for (size_t i = 0; i < n; i++) {
        s[i].r.pod = pods[i];
        s[i].index = i;
        const char *node = node_of(pods[i]);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(node_of(pods[j]), node) == 0) {
                s[i].r.rank = s[j].r.rank;
                goto ranked;
            }
        }
        for (size_t j = 0; j < n_related; j++)
            if (kr_pod_is_active(related[j]) && strcmp(node_of(related[j]), node) == 0)
                s[i].r.rank++;
    ranked:;
    }
    sort_now_ns = now_ns;
    qsort(s, n, sizeof *s, sortable_cmp);
    for (size_t i = 0; i < n; i++)
        pods[i] = s[i].r.pod;
    free(s);
}

/* Every label of the template is on the pod with the same value. */
static bool fully_labeled(const kr_value_t *pod, const kr_value_t *tlabels)
{
    const kr_value_t *labels = kr_value_get(pod, "metadata.labels");
    for (size_t i = 0; i < kr_value_len(tlabels); i++) {
        const char *want = kr_value_as_str(kr_value_map_val(tlabels, i));
        const char *have = kr_value_map_str(labels, kr_value_map_key(tlabels, i));
        if (want == NULL || have == NULL || strcmp(want, have) != 0)
            return false;
    }
    return true;
}

void rs_counts_of(const kr_value_t *const *pods, size_t n, const kr_value_t *template_labels,
                  int64_t min_ready_seconds, int64_t now_sec, rs_counts_t *out)
{
    memset(out, 0, sizeof *out);
    out->replicas = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        if (fully_labeled(pods[i], template_labels))
            out->fully_labeled++;
        if (!kr_pod_is_ready(pods[i]))
            continue;
        out->ready++;
        if (kr_pod_is_available(pods[i], min_ready_seconds, now_sec)) {
            out->available++;
            continue;
        }
        int64_t since, left = min_ready_seconds;
        int32_t nsec;
        const char *t = kr_value_map_str(ready_condition(pods[i]), "lastTransitionTime");
        if (t != NULL && kr_time_parse(t, &since, &nsec))
            left = since + min_ready_seconds - now_sec;
        if (left < 1)
            left = 1;
        if (out->next_available_s == 0 || left < out->next_available_s)
            out->next_available_s = left;
    }
}

static const kr_value_t *find_condition(const kr_value_t *status, const char *type, size_t *at)
{
    const kr_value_t *conds = kr_value_map_get(status, "conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        const char *t = kr_value_map_str(c, "type");
        if (t != NULL && strcmp(t, type) == 0) {
            if (at != NULL)
                *at = i;
            return c;
        }
    }
    return NULL;
}

kr_value_t *rs_status_new(kr_arena_t *a, const kr_value_t *old_status, const rs_counts_t *c,
                          int64_t generation, const char *manage_err, bool creating,
                          int64_t now_sec)
{
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(a, st, "replicas", kr_value_int(a, c->replicas));
    kr_value_map_set(a, st, "fullyLabeledReplicas", kr_value_int(a, c->fully_labeled));
    kr_value_map_set(a, st, "readyReplicas", kr_value_int(a, c->ready));
    kr_value_map_set(a, st, "availableReplicas", kr_value_int(a, c->available));
    kr_value_map_set(a, st, "observedGeneration", kr_value_int(a, generation));
    const kr_value_t *old_conds = kr_value_map_get(old_status, "conditions");
    kr_value_t *conds = kr_value_array(a);
    bool has_failure = find_condition(old_status, "ReplicaFailure", NULL) != NULL;
    for (size_t i = 0; i < kr_value_len(old_conds); i++) {
        const kr_value_t *cd = kr_value_array_get(old_conds, i);
        const char *t = kr_value_map_str(cd, "type");
        if (manage_err == NULL && t != NULL && strcmp(t, "ReplicaFailure") == 0)
            continue; /* RemoveCondition */
        kr_value_array_push(a, conds, kr_value_copy(a, cd));
    }
    if (manage_err != NULL && !has_failure) {
        char ts[32];
        kr_time_format(now_sec, ts, sizeof ts);
        kr_value_t *cd = kr_value_map(a);
        kr_value_map_set(a, cd, "type", kr_value_str(a, "ReplicaFailure"));
        kr_value_map_set(a, cd, "status", kr_value_str(a, "True"));
        kr_value_map_set(a, cd, "lastTransitionTime", kr_value_str(a, ts));
        kr_value_map_set(a, cd, "reason",
                         kr_value_str(a, creating ? "FailedCreate" : "FailedDelete"));
        kr_value_map_set(a, cd, "message", kr_value_str(a, manage_err));
        kr_value_array_push(a, conds, cd);
    }
    if (kr_value_len(conds) > 0)
        kr_value_map_set(a, st, "conditions", conds);
    return st;
}

bool rs_status_changed(const kr_value_t *old_status, const kr_value_t *new_status)
{
    static const char *const keys[] = {"replicas", "fullyLabeledReplicas", "readyReplicas",
                                       "availableReplicas", "observedGeneration"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (kr_value_map_int(old_status, keys[i], 0) != kr_value_map_int(new_status, keys[i], 0))
            return true;
    const kr_value_t *oc = kr_value_map_get(old_status, "conditions");
    const kr_value_t *nc = kr_value_map_get(new_status, "conditions");
    if (kr_value_len(oc) == 0 && kr_value_len(nc) == 0)
        return false;
    return !kr_value_equal(oc, nc);
}

int64_t rs_slow_start_next(int64_t last, int64_t remaining)
{
    int64_t b = last <= 0 ? 1 : last * 2;
    return b < remaining ? b : remaining;
}
