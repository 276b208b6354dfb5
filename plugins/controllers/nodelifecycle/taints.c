/* The pure parts of the node lifecycle controller (taints.h). */
#include "taints.h"

#include <string.h>

static bool same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static const char *str_or_empty(const kr_value_t *m, const char *key)
{
    const char *s = kr_value_map_str(m, key);
    return s ? s : "";
}

bool nl_tolerates(const kr_value_t *tol, const kr_value_t *taint)
{
    const char *te = str_or_empty(tol, "effect"), *tk = str_or_empty(tol, "key");
    if (*te && strcmp(te, str_or_empty(taint, "effect")) != 0)
        return false;
    if (*tk && strcmp(tk, str_or_empty(taint, "key")) != 0)
        return false;
    const char *op = str_or_empty(tol, "operator");
    if (*op == '\0' || strcmp(op, "Equal") == 0)
        return strcmp(str_or_empty(tol, "value"), str_or_empty(taint, "value")) == 0;
    return strcmp(op, "Exists") == 0;
}

bool nl_tolerated_for(const kr_value_t *taints, const kr_value_t *tolerations, int64_t *min_s)
{
    size_t nt = kr_value_len(taints), used = 0;
    int64_t min = INT64_MAX;
    bool zero = false;
    *min_s = 0;
    if (nt == 0)
        return true;
    for (size_t i = 0; i < nt; i++) {
        const kr_value_t *taint = kr_value_array_get(taints, i);
        const kr_value_t *hit = NULL;
        for (size_t j = 0; j < kr_value_len(tolerations) && hit == NULL; j++)
            if (nl_tolerates(kr_value_array_get(tolerations, j), taint))
                hit = kr_value_array_get(tolerations, j);
        if (hit == NULL)
            return false;
        used++;
        const kr_value_t *s = kr_value_map_get(hit, "tolerationSeconds");
        if (kr_value_type(s) == KR_INT) {
            int64_t v = kr_value_as_int(s, 0);
            if (v <= 0)
                zero = true;
            else if (v < min)
                min = v;
        }
    }
    /* getMinTolerationTime over the tolerations used */
    if (used == 0 || zero)
        *min_s = 0;
    else
        *min_s = min == INT64_MAX ? -1 : min;
    return true;
}

const char *nl_condition_taint(const char *type, const char *status)
{
    if (type == NULL || status == NULL)
        return NULL;
    if (strcmp(type, "Ready") == 0)
        return strcmp(status, "False") == 0     ? NL_TAINT_NOT_READY
               : strcmp(status, "Unknown") == 0 ? NL_TAINT_UNREACHABLE
                                                : NULL;
    if (strcmp(status, "True") != 0)
        return NULL;
    if (strcmp(type, "MemoryPressure") == 0)
        return "node.kubernetes.io/memory-pressure";
    if (strcmp(type, "DiskPressure") == 0)
        return "node.kubernetes.io/disk-pressure";
    if (strcmp(type, "NetworkUnavailable") == 0)
        return "node.kubernetes.io/network-unavailable";
    if (strcmp(type, "PIDPressure") == 0)
        return "node.kubernetes.io/pid-pressure";
    return NULL;
}

bool nl_condition_taint_key(const char *key)
{
    static const char *const keys[] = {
        NL_TAINT_NOT_READY,
        NL_TAINT_UNREACHABLE,
        NL_TAINT_UNSCHEDULABLE,
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/network-unavailable",
        "node.kubernetes.io/pid-pressure",
    };
    for (size_t i = 0; key != NULL && i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

static bool taint_in(const kr_value_t *list, const char *key, const char *effect)
{
    for (size_t i = 0; i < kr_value_len(list); i++) {
        const kr_value_t *t = kr_value_array_get(list, i);
        if (same_str(kr_value_map_str(t, "key"), key) &&
            same_str(kr_value_map_str(t, "effect"), effect))
            return true;
    }
    return false;
}

static kr_value_t *new_taint(kr_arena_t *a, const char *key, const char *effect,
                             const char *time_added)
{
    kr_value_t *t = kr_value_map(a);
    kr_value_map_set(a, t, "key", kr_value_str(a, key));
    kr_value_map_set(a, t, "effect", kr_value_str(a, effect));
    if (time_added != NULL)
        kr_value_map_set(a, t, "timeAdded", kr_value_str(a, time_added));
    return t;
}

/* The node's taints as they should be: the others kept, the condition
 * NoSchedule taints from its conditions, the NoExecute ones from the
 * tainter's decision (kept as they are until it decides). */
kr_value_t *nl_desired_taints(kr_arena_t *a, const kr_value_t *node, nl_noexec_t nx,
                              const char *now)
{
    const kr_value_t *have = kr_value_get(node, "spec.taints");
    kr_value_t *want_ns = kr_value_array(a);
    const kr_value_t *conds = kr_value_get(node, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *cd = kr_value_array_get(conds, i);
        const char *key =
            nl_condition_taint(kr_value_map_str(cd, "type"), kr_value_map_str(cd, "status"));
        if (key != NULL && !taint_in(want_ns, key, "NoSchedule"))
            kr_value_array_push(a, want_ns, new_taint(a, key, "NoSchedule", NULL));
    }
    if (kr_value_as_bool(kr_value_get(node, "spec.unschedulable"), false))
        kr_value_array_push(a, want_ns, new_taint(a, NL_TAINT_UNSCHEDULABLE, "NoSchedule", NULL));
    const char *nx_key = nx == NX_NOT_READY     ? NL_TAINT_NOT_READY
                         : nx == NX_UNREACHABLE ? NL_TAINT_UNREACHABLE
                                                : NULL;
    kr_value_t *out = kr_value_array(a);
    for (size_t i = 0; i < kr_value_len(have); i++) {
        const kr_value_t *t = kr_value_array_get(have, i);
        const char *key = kr_value_map_str(t, "key"), *effect = kr_value_map_str(t, "effect");
        if (same_str(effect, "NoSchedule") && nl_condition_taint_key(key) &&
            !taint_in(want_ns, key, "NoSchedule"))
            continue; /* a condition taint whose condition is gone */
        if (nx != NX_KEEP && same_str(effect, "NoExecute") &&
            (same_str(key, NL_TAINT_NOT_READY) || same_str(key, NL_TAINT_UNREACHABLE)) &&
            !same_str(key, nx_key))
            continue;
        kr_value_array_push(a, out, kr_value_copy(a, t));
    }
    for (size_t i = 0; i < kr_value_len(want_ns); i++) {
        const kr_value_t *t = kr_value_array_get(want_ns, i);
        if (!taint_in(out, kr_value_map_str(t, "key"), "NoSchedule"))
            kr_value_array_push(a, out, kr_value_copy(a, t));
    }
    if (nx_key != NULL && !taint_in(out, nx_key, "NoExecute"))
        kr_value_array_push(a, out, new_taint(a, nx_key, "NoExecute", now));
    return out;
}

bool nl_same_taints(const kr_value_t *a, const kr_value_t *b)
{
    if (kr_value_len(a) != kr_value_len(b))
        return false;
    for (size_t i = 0; i < kr_value_len(a); i++) {
        const kr_value_t *t = kr_value_array_get(a, i);
        if (!taint_in(b, kr_value_map_str(t, "key"), kr_value_map_str(t, "effect")))
            return false;
    }
    return true;
}

kr_value_t *nl_beta_labels(kr_arena_t *a, const kr_value_t *labels)
{
    /* upstream's labelReconcileInfo: the stable label is the truth */
    static const char *const pairs[][2] = {
        {"kubernetes.io/os", "beta.kubernetes.io/os"},
        {"kubernetes.io/arch", "beta.kubernetes.io/arch"},
    };
    kr_value_t *out = NULL;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *primary = kr_value_map_str(labels, pairs[i][0]);
        const char *secondary = kr_value_map_str(labels, pairs[i][1]);
        if (primary == NULL || (secondary != NULL && strcmp(primary, secondary) == 0))
            continue;
        if (out == NULL)
            out = kr_value_map(a);
        kr_value_map_set(a, out, pairs[i][1], kr_value_str(a, primary));
    }
    return out;
}

const char *nl_zone_state_name(nl_zone_state_t s)
{
    switch (s) {
    case NL_ZONE_NORMAL:
        return "Normal";
    case NL_ZONE_PARTIAL:
        return "PartialDisruption";
    case NL_ZONE_FULL:
        return "FullDisruption";
    default:
        return "Initial";
    }
}

nl_zone_state_t nl_zone_state(int ready, int not_ready, double threshold)
{
    if (ready == 0 && not_ready > 0)
        return NL_ZONE_FULL;
    if (not_ready > 2 && (double)not_ready / (double)(not_ready + ready) >= threshold)
        return NL_ZONE_PARTIAL;
    return NL_ZONE_NORMAL;
}

void nl_bucket_init(nl_bucket_t *b, double qps, uint64_t now_ms)
{
    b->qps = qps;
    b->tokens = 1;
    b->last_ms = now_ms;
}

static void refill(nl_bucket_t *b, uint64_t now_ms)
{
    if (now_ms > b->last_ms && b->qps > 0) {
        b->tokens += (double)(now_ms - b->last_ms) / 1000.0 * b->qps;
        if (b->tokens > 1)
            b->tokens = 1;
    }
    b->last_ms = now_ms;
}

void nl_bucket_swap(nl_bucket_t *b, double qps, uint64_t now_ms)
{
    if (b->qps == qps)
        return;
    refill(b, now_ms);
    b->qps = qps;
}

bool nl_bucket_try(nl_bucket_t *b, uint64_t now_ms)
{
    if (b->qps <= 0)
        return false;
    refill(b, now_ms);
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}
