/* The scheduler's Event recorder: the core/v1 Events kube-scheduler's
 * events/v1 recorder produces (eventTime, action, reportingComponent
 * <scheduler name>, reportingInstance <scheduler name>-<host>, the name
 * <pod>.<hex nanoseconds>), written without ever blocking a cycle: a
 * record is queued and sent when fewer than `max_in_flight` writes are
 * waiting for their reply; beyond `max_queued` records, new ones are
 * dropped and counted (upstream's broadcaster drops as well when its
 * channel is full).  Single-threaded, on the scheduler's loop. */
#ifndef KRAAL_SCHED_EVENTS_H
#define KRAAL_SCHED_EVENTS_H

#include <stdint.h>

#include <kraal/bus.h>
#include <kraal/scheduler.h>

typedef struct sched_events sched_events_t;

typedef struct sched_events_stats {
    uint64_t written, failed, dropped, queued;
} sched_events_stats_t;

/* Strings are copied.  Caller owns the recorder. */
sched_events_t *sched_events_new(kr_bus_t *bus, const char *controller, const char *instance,
                                 uint32_t max_in_flight, uint32_t max_queued);
/* Writes nothing more; replies still in flight are dropped. */
void sched_events_destroy(sched_events_t **self_p);

typedef struct sched_event {
    const char *type;   /* "Normal", "Warning" */
    const char *reason; /* "Scheduled", "FailedScheduling", "Preempted" */
    const char *action; /* "Binding", "Scheduling", "Preempting" */
    const char *message;
    /* the regarding Pod, and an optional related one */
    const char *ns, *name, *uid, *rv;
    const char *rel_ns, *rel_name, *rel_uid;
} sched_event_t;

/* Queues a new Event; writes its name (<pod>.<hex>) to name_out (may be
 * NULL, else at least 300 bytes). */
void sched_events_record(sched_events_t *ev, const sched_event_t *e, char *name_out);
/* The Event `name` of namespace `ns` happened again: its series becomes
 * {count, lastObservedTime now} (a merge patch). */
void sched_events_repeat(sched_events_t *ev, const char *ns, const char *name, uint32_t count);

void sched_events_stats(const sched_events_t *ev, sched_events_stats_t *out);

/* "2026-11-24T10:00:00.123456Z" (metav1.MicroTime), and RFC 3339 seconds. */
void sched_time_micro(char *buf, size_t size);
void sched_time_rfc3339(char *buf, size_t size);

#endif
