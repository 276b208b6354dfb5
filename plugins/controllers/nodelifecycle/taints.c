/* The pure parts of the node lifecycle controller (taints.h). */
#include "taints.h"

#include <string.h>

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
