/* The gateway's Prometheus metrics, with upstream's names where upstream
 * has the metric (apiserver_request_total, apiserver_request_duration_seconds,
 * apiserver_current_inflight_requests, apiserver_longrunning_requests).
 * Thread-safe. */
#ifndef KRAAL_REST_METRICS_H
#define KRAAL_REST_METRICS_H

#include <stdbool.h>

#include <kraal/value.h>

typedef struct rest_metrics rest_metrics_t;

/* What a request was, for its labels.  Strings are copied. */
typedef struct rest_metric_req {
    const char *verb;     /* "GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "APPLY",
                             "DELETE", "DELETECOLLECTION"; NULL for other paths */
    const char *group;    /* "" for the core group */
    const char *version;  /* "v1" */
    const char *resource; /* "pods" */
    const char *sub;      /* "" when none */
    const char *scope;    /* "resource", "namespace" or "cluster" */
    bool dry_run;
} rest_metric_req_t;

rest_metrics_t *rest_metrics_new(void);
void rest_metrics_destroy(rest_metrics_t **self_p);

/* A finished request: counts it by code and its duration. */
void rest_metrics_observe(rest_metrics_t *m, const rest_metric_req_t *r, int code, double seconds);
/* A watch opened (+1) or closed (-1). */
void rest_metrics_longrunning(rest_metrics_t *m, const rest_metric_req_t *r, int delta);

/* Appends every metric in the text exposition format (version 0.0.4);
 * `inflight_read` and `inflight_write` are the current in-flight gauges. */
void rest_metrics_render(rest_metrics_t *m, long inflight_read, long inflight_write, kr_buf_t *out);

/* Appends each integer of a flat counter map ({msgs_in: 5, ...}) as
 * `<prefix><key>` counters (the bus's and the core's own statistics). */
void rest_metrics_render_counters(kr_buf_t *out, const char *prefix, const kr_value_t *counters);

#endif
