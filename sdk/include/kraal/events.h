/* kraal SDK — an event recorder: the Events that `kubectl describe` and
 * `kubectl get events` show, written the way client-go's EventRecorder
 * and EventCorrelator write them.
 *
 *   kr_events_t *ev = kr_events_new(kr_plugin_bus(ctx),
 *       &(kr_events_opts_t){.component = "replicaset-controller"}, err);
 *   kr_events_record(ev, rs, KR_EVENT_NORMAL, "SuccessfulCreate",
 *                    "Created pod: %s", name);
 *
 * - Asynchronous: recording never blocks; the recorder keeps at most
 *   `max_in_flight` writes on the bus and `max_queued` waiting (beyond
 *   that an event is dropped and counted, as client-go's broadcaster
 *   drops when its channel is full).  A failed write is logged at debug
 *   level and forgotten: events are best effort, as upstream.
 * - Deduplicated: an event equal to a recent one (same source, object,
 *   type, reason and message) is not created again: the existing Event's
 *   `count` and `lastTimestamp` are patched (client-go's eventLogger).
 * - Aggregated: when one object gets more than 10 events of the same
 *   reason with different messages within 10 minutes, they become one
 *   Event "(combined from similar events): <latest message>" (client-go's
 *   EventAggregator).
 * - Spam-filtered: each source+object has a token bucket of 25 events,
 *   refilled by one every 5 minutes (client-go's spam filter); what it
 *   refuses is dropped and counted.
 * - The Event: name `<object name>.<hex unix nanoseconds>`, in the
 *   object's namespace ("default" for cluster-scoped objects),
 *   involvedObject from the object (apiVersion, kind, name, namespace,
 *   uid, resourceVersion), source {component, host}, reportingComponent,
 *   reportingInstance, firstTimestamp, lastTimestamp, count, type.
 *
 * Threading: the bus's thread only (a plugin's loop thread), like the bus.
 */
#ifndef KRAAL_EVENTS_H
#define KRAAL_EVENTS_H

#include <stdint.h>

#include <kraal/bus.h>
#include <kraal/error.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KR_EVENT_NORMAL  "Normal"
#define KR_EVENT_WARNING "Warning"

typedef struct kr_events kr_events_t;

typedef struct kr_events_opts {
    const char *component;  /* required: source.component, reportingComponent */
    const char *host;       /* source.host (a node agent's node); NULL: none */
    const char *instance;   /* reportingInstance; default host, else component */
    unsigned max_in_flight; /* default 16 */
    unsigned max_queued;    /* default 1000 */
    int timeout_ms;         /* per write; default 10000 */
} kr_events_opts_t;

/* `bus` must outlive the recorder.  Strings are copied.  NULL with
 * KR_E_INVALID when component is missing.  Caller owns the recorder. */
kr_events_t *kr_events_new(kr_bus_t *bus, const kr_events_opts_t *opts, kr_error_t *err);
/* Forgets queued events; writes in flight complete without it. */
void kr_events_destroy(kr_events_t **self_p);

/* A reference to the object an event is about. */
typedef struct kr_objref {
    const char *api_version; /* "v1", "apps/v1" */
    const char *kind;
    const char *ns; /* NULL or "" for cluster-scoped objects */
    const char *name;
    const char *uid;
    const char *resource_version; /* may be NULL */
    const char *field_path;       /* "spec.containers{web}"; may be NULL */
} kr_objref_t;

/* Fills `ref` from an object (apiVersion, kind, metadata); the strings
 * point into `obj`.  False when obj has no kind or metadata.name. */
bool kr_objref_of(const kr_value_t *obj, kr_objref_t *ref);

/* Records an event about `obj` (a whole object, as an informer hands it
 * out).  type: KR_EVENT_NORMAL or KR_EVENT_WARNING. */
void kr_events_record(kr_events_t *ev, const kr_value_t *obj, const char *type, const char *reason,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void kr_events_record_ref(kr_events_t *ev, const kr_objref_t *ref, const char *type,
                          const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

typedef struct kr_events_stats {
    uint64_t recorded;   /* calls */
    uint64_t created;    /* Events created */
    uint64_t patched;    /* Events whose count went up */
    uint64_t aggregated; /* events folded into a "combined" one */
    uint64_t spam_dropped;
    uint64_t queue_dropped;
    uint64_t failed; /* writes the API refused or that timed out */
} kr_events_stats_t;
void kr_events_stats(const kr_events_t *ev, kr_events_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
