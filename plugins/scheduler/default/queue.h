/* The scheduling queue, after kube-scheduler's PriorityQueue
 * (pkg/scheduler/backend/queue/scheduling_queue.go):
 *
 *   activeQ         a heap: higher spec.priority first, then the pod that
 *                   entered the queue first; the scheduler pops from here.
 *   backoffQ        pods waiting out their back-off (initial * 2^(attempts-1),
 *                   capped) before they go back to activeQ.
 *   unschedulable   pods no node fits; each remembers the cluster events
 *                   the steps that rejected it registered, and goes back to
 *                   activeQ (or backoffQ while its back-off runs) when one
 *                   of them happens, or after `max_unsched_ms` (5 min)
 *                   whatever happens.
 *
 * A popped pod is in flight: the scheduler gives it back with
 * sched_queue_unschedulable (no node fits), sched_queue_backoff (an error,
 * a failed binding) or ends it with sched_queue_remove (bound, deleted).
 * Time is passed in (milliseconds, any monotonic origin), so the queue is
 * tested without a clock.  Single-threaded. */
#ifndef KRAAL_SCHED_QUEUE_H
#define KRAAL_SCHED_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htab.h"
#include "podinfo.h"

typedef enum sched_qstate {
    SCHED_Q_ACTIVE = 1,
    SCHED_Q_BACKOFF,
    SCHED_Q_UNSCHED,
    SCHED_Q_INFLIGHT,
} sched_qstate_t;

typedef struct sched_qpod {
    sched_hnode_t hn; /* by uid */
    char *uid;        /* the key (owned) */
    /* the parsed pod with its object (owned); NULL while it is lent out
     * (the cache holds it as an assumed pod during its binding) */
    sched_pod_t *sp;
    int32_t priority;
    uint64_t timestamp_ms; /* entered the queue (or its current sub-queue); orders activeQ */
    uint64_t seq;          /* ties of priority and timestamp: first added first */
    uint32_t attempts;     /* scheduling attempts so far */
    unsigned events;       /* KR_SCHED_EV_* that may make it fit; 0: any */
    sched_qstate_t state;
    size_t hidx;                      /* in activeQ or backoffQ */
    struct sched_qpod *uprev, *unext; /* the unschedulable list */
    /* the scheduler's: the last FailedScheduling Event of this pod */
    char *ev_message, *ev_name;
    uint32_t ev_count;
    uint64_t ev_written_ms;
} sched_qpod_t;

typedef struct sched_queue sched_queue_t;

/* Back-offs in milliseconds; max_unsched_ms 0 picks 5 minutes. */
sched_queue_t *sched_queue_new(uint64_t initial_backoff_ms, uint64_t max_backoff_ms,
                               uint64_t max_unsched_ms);
/* Frees every pod still queued (in flight ones too). */
void sched_queue_destroy(sched_queue_t **self_p);

/* A new pending pod: into activeQ.  Takes *sp (nulled).  NULL when its uid
 * is queued already (then *sp is left to the caller). */
sched_qpod_t *sched_queue_add(sched_queue_t *q, sched_pod_t **sp, uint64_t now);
sched_qpod_t *sched_queue_get(const sched_queue_t *q, const char *uid);

/* A queued pod changed: takes *sp in place of the old one.  A pod waiting
 * in unschedulable whose spec or labels changed (`changed`) may fit now:
 * it moves to backoffQ or activeQ, as upstream's Update.  A pod in flight
 * keeps its state (the scheduler decides when it comes back). */
void sched_queue_update(sched_queue_t *q, sched_qpod_t *p, sched_pod_t **sp, bool changed,
                        uint64_t now);

/* Removes and frees a pod in any state (bound, deleted, assigned by
 * someone else). */
void sched_queue_remove(sched_queue_t *q, sched_qpod_t *p);

/* Moves pods whose back-off ended from backoffQ to activeQ, and pods
 * unschedulable for longer than max_unsched_ms to backoffQ/activeQ. */
void sched_queue_flush(sched_queue_t *q, uint64_t now);

/* The next pod to schedule (after a flush of backoffQ), now in flight
 * with one more attempt; NULL when activeQ is empty. */
sched_qpod_t *sched_queue_pop(sched_queue_t *q, uint64_t now);

/* In-flight pod back: no node fits; `events` (KR_SCHED_EV_*, 0: any) may
 * make it fit. */
void sched_queue_unschedulable(sched_queue_t *q, sched_qpod_t *p, unsigned events, uint64_t now);
/* In-flight pod back after an error or a failed binding: backoffQ. */
void sched_queue_backoff(sched_queue_t *q, sched_qpod_t *p, uint64_t now);

/* A cluster event happened: every unschedulable pod waiting for one of
 * `event` goes to activeQ, or backoffQ while its back-off runs.  Returns
 * how many moved. */
size_t sched_queue_move(sched_queue_t *q, unsigned event, uint64_t now);

/* When the back-off of pod `p` ends (after `attempts` attempts). */
uint64_t sched_queue_backoff_until(const sched_queue_t *q, const sched_qpod_t *p);
/* The earliest moment backoffQ has a pod to release, or UINT64_MAX. */
uint64_t sched_queue_next_backoff(const sched_queue_t *q);

typedef struct sched_queue_stats {
    size_t active, backoff, unschedulable, inflight;
} sched_queue_stats_t;
void sched_queue_stats(const sched_queue_t *q, sched_queue_stats_t *out);

#endif
