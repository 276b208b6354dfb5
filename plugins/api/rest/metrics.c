/* The gateway's Prometheus metrics (see metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upstream's buckets for apiserver_request_duration_seconds. */
static const double buckets[] = {0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0,
                                 3.0,   4.0,   5.0,  6.0, 8.0, 10,  15,  20,  30,  45,   60};
#define NBUCKETS  (sizeof buckets / sizeof buckets[0])
#define MAX_CODES 16
#define NSLOTS    1024 /* open addressing; series beyond that share "other" */

typedef struct series {
    char *labels; /* the label set without code, rendered: verb="GET",group="",... */
    unsigned long codes[MAX_CODES][2]; /* {code, count} */
    unsigned long bucket[NBUCKETS];    /* cumulative at render */
    unsigned long count;
    double sum;
    long longrunning;
} series_t;

struct rest_metrics {
    pthread_mutex_t mu;
    series_t *slots[NSLOTS];
    size_t used;
};

rest_metrics_t *rest_metrics_new(void)
{
    rest_metrics_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        abort();
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void rest_metrics_destroy(rest_metrics_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    rest_metrics_t *m = *self_p;
    for (size_t i = 0; i < NSLOTS; i++) {
        if (m->slots[i] != NULL) {
            free(m->slots[i]->labels);
            free(m->slots[i]);
        }
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
    *self_p = NULL;
}

/* Label values come from the request path: escape what the text format
 * needs escaped. */
static void put_label(char *buf, size_t size, size_t *n, const char *key, const char *val)
{
    int w = snprintf(buf + *n, size - *n, "%s%s=\"", *n ? "," : "", key);
    if (w < 0 || (size_t)w >= size - *n)
        return;
    *n += (size_t)w;
    for (const char *p = val ? val : ""; *p && *n + 3 < size; p++) {
        if (*p == '"' || *p == '\\' || *p == '\n') {
            buf[(*n)++] = '\\';
            buf[(*n)++] = *p == '\n' ? 'n' : *p;
        } else {
            buf[(*n)++] = *p;
        }
    }
    if (*n + 1 < size)
        buf[(*n)++] = '"';
    buf[*n] = '\0';
}

static void render_labels(const rest_metric_req_t *r, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    put_label(buf, size, &n, "component", "apiserver");
    put_label(buf, size, &n, "dry_run", r->dry_run ? "All" : "");
    put_label(buf, size, &n, "group", r->group);
    put_label(buf, size, &n, "resource", r->resource);
    put_label(buf, size, &n, "scope", r->scope);
    put_label(buf, size, &n, "subresource", r->sub);
    put_label(buf, size, &n, "verb", r->verb);
    put_label(buf, size, &n, "version", r->version);
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Under m->mu: the series of a label set, made on first use; NULL when the
 * table is full (the observation is dropped rather than mislabelled). */
static series_t *find(rest_metrics_t *m, const char *labels)
{
    size_t i = hash(labels) % NSLOTS;
    for (size_t probe = 0; probe < NSLOTS; probe++, i = (i + 1) % NSLOTS) {
        series_t *s = m->slots[i];
        if (s == NULL) {
            if (m->used >= NSLOTS * 3 / 4)
                return NULL;
            s = calloc(1, sizeof *s);
            if (s == NULL || (s->labels = strdup(labels)) == NULL)
                abort();
            m->slots[i] = s;
            m->used++;
            return s;
        }
        if (strcmp(s->labels, labels) == 0)
            return s;
    }
    return NULL;
}

void rest_metrics_observe(rest_metrics_t *m, const rest_metric_req_t *r, int code, double seconds)
{
    char labels[512];
    render_labels(r, labels, sizeof labels);
    pthread_mutex_lock(&m->mu);
    series_t *s = find(m, labels);
    if (s != NULL) {
        for (size_t i = 0; i < MAX_CODES; i++) {
            if (s->codes[i][0] == (unsigned long)code || s->codes[i][0] == 0) {
                s->codes[i][0] = (unsigned long)code;
                s->codes[i][1]++;
                break;
            }
        }
        for (size_t i = 0; i < NBUCKETS; i++) {
            if (seconds <= buckets[i]) {
                s->bucket[i]++;
                break;
            }
        }
        s->count++;
        s->sum += seconds;
    }
    pthread_mutex_unlock(&m->mu);
}

void rest_metrics_longrunning(rest_metrics_t *m, const rest_metric_req_t *r, int delta)
{
    char labels[512];
    render_labels(r, labels, sizeof labels);
    pthread_mutex_lock(&m->mu);
    series_t *s = find(m, labels);
    if (s != NULL)
        s->longrunning += delta;
    pthread_mutex_unlock(&m->mu);
}

void rest_metrics_render(rest_metrics_t *m, long inflight_read, long inflight_write, kr_buf_t *out)
{
    pthread_mutex_lock(&m->mu);
    kr_buf_puts(out, "# HELP apiserver_request_total Counter of apiserver requests broken out "
                     "for each verb, dry run value, group, version, resource, scope, component, "
                     "and HTTP response code.\n# TYPE apiserver_request_total counter\n");
    for (size_t i = 0; i < NSLOTS; i++) {
        series_t *s = m->slots[i];
        for (size_t c = 0; s != NULL && c < MAX_CODES && s->codes[c][0] != 0; c++)
            kr_buf_printf(out, "apiserver_request_total{code=\"%lu\",%s} %lu\n", s->codes[c][0],
                          s->labels, s->codes[c][1]);
    }
    kr_buf_puts(out, "# HELP apiserver_request_duration_seconds Response latency distribution "
                     "in seconds for each verb, dry run value, group, version, resource, "
                     "subresource, scope and component.\n"
                     "# TYPE apiserver_request_duration_seconds histogram\n");
    for (size_t i = 0; i < NSLOTS; i++) {
        series_t *s = m->slots[i];
        if (s == NULL || s->count == 0)
            continue;
        unsigned long cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += s->bucket[b];
            kr_buf_printf(out, "apiserver_request_duration_seconds_bucket{%s,le=\"%g\"} %lu\n",
                          s->labels, buckets[b], cum);
        }
        kr_buf_printf(out, "apiserver_request_duration_seconds_bucket{%s,le=\"+Inf\"} %lu\n",
                      s->labels, s->count);
        kr_buf_printf(out, "apiserver_request_duration_seconds_sum{%s} %.6f\n", s->labels, s->sum);
        kr_buf_printf(out, "apiserver_request_duration_seconds_count{%s} %lu\n", s->labels,
                      s->count);
    }
    kr_buf_puts(out, "# HELP apiserver_longrunning_requests Gauge of all active long-running "
                     "apiserver requests broken out by verb, group, version, resource, scope and "
                     "component.\n# TYPE apiserver_longrunning_requests gauge\n");
    for (size_t i = 0; i < NSLOTS; i++) {
        series_t *s = m->slots[i];
        if (s != NULL && (s->longrunning != 0 || strstr(s->labels, "verb=\"WATCH\"") != NULL))
            kr_buf_printf(out, "apiserver_longrunning_requests{%s} %ld\n", s->labels,
                          s->longrunning);
    }
    pthread_mutex_unlock(&m->mu);
    kr_buf_printf(out,
                  "# HELP apiserver_current_inflight_requests Maximal number of currently used "
                  "inflight request limit of this apiserver per request kind in last second.\n"
                  "# TYPE apiserver_current_inflight_requests gauge\n"
                  "apiserver_current_inflight_requests{request_kind=\"mutating\"} %ld\n"
                  "apiserver_current_inflight_requests{request_kind=\"readOnly\"} %ld\n",
                  inflight_write, inflight_read);
}

void rest_metrics_render_counters(kr_buf_t *out, const char *prefix, const kr_value_t *counters)
{
    /* the few figures that go down as well as up */
    static const char *const gauges[] = {"peers", "routes", "backlogged", NULL};
    for (size_t i = 0; i < kr_value_len(counters); i++) {
        const kr_value_t *v = kr_value_map_val(counters, i);
        const char *key = kr_value_map_key(counters, i);
        if (kr_value_type(v) == KR_ARRAY && strcmp(key, "ops") == 0) {
            kr_buf_printf(out,
                          "# HELP %srequests_total Requests per op, by who serves it (a "
                          "plugin or the core).\n# TYPE %srequests_total counter\n",
                          prefix, prefix);
            for (size_t j = 0; j < kr_value_len(v); j++) {
                const kr_value_t *op = kr_value_array_get(v, j);
                char labels[512];
                size_t n = 0;
                labels[0] = '\0';
                put_label(labels, sizeof labels, &n, "op", kr_value_map_str(op, "op"));
                put_label(labels, sizeof labels, &n, "provider", kr_value_map_str(op, "provider"));
                put_label(labels, sizeof labels, &n, "res", kr_value_map_str(op, "res"));
                kr_buf_printf(out, "%srequests_total{%s} %lld\n", prefix, labels,
                              (long long)kr_value_map_int(op, "requests", 0));
            }
            continue;
        }
        if (kr_value_type(v) != KR_INT)
            continue;
        bool gauge = false;
        for (const char *const *g = gauges; *g != NULL && !gauge; g++)
            gauge = strcmp(key, *g) == 0;
        if (gauge)
            kr_buf_printf(out, "# TYPE %s%s gauge\n%s%s %lld\n", prefix, key, prefix, key,
                          (long long)kr_value_as_int(v, 0));
        else
            kr_buf_printf(out, "# TYPE %s%s_total counter\n%s%s_total %lld\n", prefix, key, prefix,
                          key, (long long)kr_value_as_int(v, 0));
    }
}
