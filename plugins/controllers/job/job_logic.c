/* controller-job: pure decisions (see job_logic.h). */
#include "job_logic.h"

#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>

int64_t job_want_active(int64_t completions, int64_t parallelism, int64_t succeeded, int64_t active)
{
    if (completions < 0)
        return succeeded > 0 ? active : parallelism;
    int64_t want = completions - succeeded;
    if (want > parallelism)
        want = parallelism;
    return want < 0 ? 0 : want;
}

int64_t job_backoff_remaining_ms(int64_t failures, int64_t last_failure_ms, int64_t now_ms)
{
    if (failures <= 0)
        return 0;
    int64_t d = JOB_BACKOFF_BASE_MS;
    for (int64_t i = 1; i < failures; i++) {
        d *= 2;
        if (d >= JOB_BACKOFF_MAX_MS) {
            d = JOB_BACKOFF_MAX_MS;
            break;
        }
    }
    int64_t elapsed = now_ms - last_failure_ms;
    return d < elapsed ? 0 : d - elapsed;
}

/* strconv.Atoi of a non-negative index: digits only, fits in int32. */
static int64_t parse_index(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    int64_t v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > INT32_MAX)
            return -1;
    }
    return v;
}

int64_t job_pod_index(const kr_value_t *pod)
{
    const char *s =
        kr_value_as_str(kr_value_get(pod, "metadata.annotations[\"" JOB_INDEX_ANNOTATION "\"]"));
    if (s == NULL)
        s = kr_value_as_str(kr_value_get(pod, "metadata.labels[\"" JOB_INDEX_ANNOTATION "\"]"));
    return parse_index(s);
}

/* One decimal at *p (no sign), advancing *p; -1 when none. */
static int64_t read_num(const char **p)
{
    const char *s = *p;
    int64_t v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > INT32_MAX)
            return -1;
        s++;
    }
    *p = s;
    return v;
}

bool job_indexes_parse(const char *s, uint8_t *set, int64_t n)
{
    if (s == NULL || *s == '\0')
        return true;
    const char *p = s;
    for (;;) {
        int64_t first = read_num(&p), last = first;
        if (first < 0)
            return false;
        if (*p == '-') {
            p++;
            last = read_num(&p);
            if (last < first)
                return false;
        }
        for (int64_t i = first; i <= last && i < n; i++)
            set[i] = 1;
        if (*p == '\0')
            return true;
        if (*p != ',')
            return false;
        p++;
    }
}

char *job_indexes_format(kr_arena_t *arena, const uint8_t *set, int64_t n)
{
    kr_buf_t b = KR_BUF_INIT;
    for (int64_t i = 0; i < n;) {
        if (!set[i]) {
            i++;
            continue;
        }
        int64_t j = i;
        while (j + 1 < n && set[j + 1])
            j++;
        if (b.len > 0)
            kr_buf_puts(&b, ",");
        if (j == i)
            kr_buf_printf(&b, "%lld", (long long)i);
        else
            kr_buf_printf(&b, "%lld-%lld", (long long)i, (long long)j);
        i = j + 1;
    }
    char *out = kr_arena_strdup(arena, b.data != NULL ? b.data : "");
    kr_buf_free(&b);
    return out;
}

int64_t job_first_pending(const uint8_t *succeeded, const uint8_t *active, int64_t n, int64_t count,
                          int64_t *out)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n && k < count; i++)
        if (!succeeded[i] && !active[i])
            out[k++] = i;
    return k;
}

static int64_t time_ms(const kr_value_t *v)
{
    int64_t sec;
    int32_t nsec;
    const char *s = kr_value_as_str(v);
    if (s == NULL || !kr_time_parse(s, &sec, &nsec))
        return -1;
    return sec * 1000 + nsec / 1000000;
}

int64_t job_pod_finish_ms(const kr_value_t *pod, int64_t dflt)
{
    int64_t best = -1;
    static const char *const lists[] = {"status.containerStatuses", "status.initContainerStatuses"};
    for (size_t l = 0; l < 2; l++) {
        const kr_value_t *cs = kr_value_get(pod, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            int64_t t =
                time_ms(kr_value_get(kr_value_array_get(cs, i), "state.terminated.finishedAt"));
            if (t > best)
                best = t;
        }
    }
    if (best < 0)
        best = time_ms(kr_value_get(pod, "metadata.deletionTimestamp"));
    if (best < 0)
        best = time_ms(kr_value_get(pod, "metadata.creationTimestamp"));
    return best < 0 ? dflt : best;
}

int64_t job_pod_restarts(const kr_value_t *pod)
{
    int64_t n = 0;
    static const char *const lists[] = {"status.containerStatuses", "status.initContainerStatuses"};
    for (size_t l = 0; l < 2; l++) {
        const kr_value_t *cs = kr_value_get(pod, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++)
            n += kr_value_map_int(kr_value_array_get(cs, i), "restartCount", 0);
    }
    return n;
}

int64_t job_slow_start_next(int64_t prev, int64_t left)
{
    int64_t n = prev <= 0 ? 1 : prev * 2;
    return n < left ? n : left;
}
