/* See queue.h.  Two binary heaps of sched_qpod_t pointers (each pod knows
 * its index, so removal is O(log n)), a doubly linked list for the
 * unschedulable pods (a cluster event walks only those) and a hash table
 * by uid over all of them. */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

#include <kraal/scheduler.h>

#define DEFAULT_MAX_UNSCHED_MS (5 * 60 * 1000)

typedef struct heap {
    sched_qpod_t **v;
    size_t len, cap;
    bool (*less)(const sched_qpod_t *a, const sched_qpod_t *b, const sched_queue_t *q);
} heap_t;

struct sched_queue {
    uint64_t initial_ms, max_ms, max_unsched_ms;
    uint64_t seq;
    sched_htab_t by_uid;
    heap_t active, backoff;
    sched_qpod_t *unsched; /* head of the list */
    size_t n_unsched, n_inflight;
};

/* ---- heaps ----------------------------------------------------------------- */

static bool active_less(const sched_qpod_t *a, const sched_qpod_t *b, const sched_queue_t *q)
{
    (void)q;
    if (a->priority != b->priority)
        return a->priority > b->priority;
    if (a->timestamp_ms != b->timestamp_ms)
        return a->timestamp_ms < b->timestamp_ms;
    return a->seq < b->seq;
}

static bool backoff_less(const sched_qpod_t *a, const sched_qpod_t *b, const sched_queue_t *q)
{
    uint64_t x = sched_queue_backoff_until(q, a), y = sched_queue_backoff_until(q, b);
    return x != y ? x < y : a->seq < b->seq;
}

static void heap_set(heap_t *h, size_t i, sched_qpod_t *p)
{
    h->v[i] = p;
    p->hidx = i;
}

static void heap_up(heap_t *h, size_t i, const sched_queue_t *q)
{
    sched_qpod_t *p = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!h->less(p, h->v[parent], q))
            break;
        heap_set(h, i, h->v[parent]);
        i = parent;
    }
    heap_set(h, i, p);
}

static void heap_down(heap_t *h, size_t i, const sched_queue_t *q)
{
    sched_qpod_t *p = h->v[i];
    for (;;) {
        size_t best = i, l = 2 * i + 1, r = l + 1;
        const sched_qpod_t *bp = p;
        if (l < h->len && h->less(h->v[l], bp, q)) {
            best = l;
            bp = h->v[l];
        }
        if (r < h->len && h->less(h->v[r], bp, q))
            best = r;
        if (best == i)
            break;
        heap_set(h, i, h->v[best]);
        i = best;
    }
    heap_set(h, i, p);
}

static void heap_push(heap_t *h, sched_qpod_t *p, const sched_queue_t *q)
{
    if (h->len == h->cap) {
        h->cap = h->cap != 0 ? h->cap * 2 : 256;
        h->v = realloc(h->v, h->cap * sizeof *h->v);
        if (h->v == NULL)
            abort();
    }
    heap_set(h, h->len++, p);
    heap_up(h, p->hidx, q);
}

static void heap_remove(heap_t *h, sched_qpod_t *p, const sched_queue_t *q)
{
    size_t i = p->hidx;
    sched_qpod_t *last = h->v[--h->len];
    if (last != p) {
        heap_set(h, i, last);
        heap_up(h, i, q);
        heap_down(h, last->hidx, q);
    }
}

/* ---- states ---------------------------------------------------------------- */

/* Takes `p` out of whatever sub-queue holds it. */
static void detach(sched_queue_t *q, sched_qpod_t *p)
{
    switch (p->state) {
    case SCHED_Q_ACTIVE:
        heap_remove(&q->active, p, q);
        break;
    case SCHED_Q_BACKOFF:
        heap_remove(&q->backoff, p, q);
        break;
    case SCHED_Q_UNSCHED:
        if (p->uprev != NULL)
            p->uprev->unext = p->unext;
        else
            q->unsched = p->unext;
        if (p->unext != NULL)
            p->unext->uprev = p->uprev;
        p->uprev = p->unext = NULL;
        q->n_unsched--;
        break;
    case SCHED_Q_INFLIGHT:
        q->n_inflight--;
        break;
    }
    p->state = 0;
}

static void to_active(sched_queue_t *q, sched_qpod_t *p)
{
    p->state = SCHED_Q_ACTIVE;
    heap_push(&q->active, p, q);
}

static void to_backoff(sched_queue_t *q, sched_qpod_t *p)
{
    p->state = SCHED_Q_BACKOFF;
    heap_push(&q->backoff, p, q);
}

/* Out of unschedulable (or anywhere): backoffQ while backing off, else activeQ. */
static void requeue(sched_queue_t *q, sched_qpod_t *p, uint64_t now)
{
    detach(q, p);
    if (sched_queue_backoff_until(q, p) > now)
        to_backoff(q, p);
    else
        to_active(q, p);
}

uint64_t sched_queue_backoff_until(const sched_queue_t *q, const sched_qpod_t *p)
{
    if (p->attempts == 0)
        return p->timestamp_ms;
    uint64_t d = q->initial_ms;
    for (uint32_t i = 1; i < p->attempts && d < q->max_ms; i++)
        d *= 2;
    if (d > q->max_ms)
        d = q->max_ms;
    return p->timestamp_ms + d;
}

/* ---- API -------------------------------------------------------------------- */

sched_queue_t *sched_queue_new(uint64_t initial_backoff_ms, uint64_t max_backoff_ms,
                               uint64_t max_unsched_ms)
{
    sched_queue_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        abort();
    q->initial_ms = initial_backoff_ms != 0 ? initial_backoff_ms : 1;
    q->max_ms = max_backoff_ms >= q->initial_ms ? max_backoff_ms : q->initial_ms;
    q->max_unsched_ms = max_unsched_ms != 0 ? max_unsched_ms : DEFAULT_MAX_UNSCHED_MS;
    q->active.less = active_less;
    q->backoff.less = backoff_less;
    return q;
}

static void qpod_free(sched_qpod_t *p)
{
    sched_pod_free(&p->sp);
    free(p->uid);
    free(p->ev_message);
    free(p->ev_name);
    free(p);
}

void sched_queue_destroy(sched_queue_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sched_queue_t *q = *self_p;
    sched_hiter_t it = {0};
    for (sched_hnode_t *n; (n = sched_htab_next(&q->by_uid, &it)) != NULL;)
        qpod_free(SCHED_CONTAINER(n, sched_qpod_t, hn));
    sched_htab_free(&q->by_uid);
    free(q->active.v);
    free(q->backoff.v);
    free(q);
    *self_p = NULL;
}

sched_qpod_t *sched_queue_get(const sched_queue_t *q, const char *uid)
{
    sched_hnode_t *n = sched_htab_get(&q->by_uid, uid);
    return n != NULL ? SCHED_CONTAINER(n, sched_qpod_t, hn) : NULL;
}

sched_qpod_t *sched_queue_add(sched_queue_t *q, sched_pod_t **sp, uint64_t now)
{
    if (sched_queue_get(q, (*sp)->pod.uid) != NULL)
        return NULL;
    sched_qpod_t *p = calloc(1, sizeof *p);
    if (p == NULL || (p->uid = strdup((*sp)->pod.uid)) == NULL)
        abort();
    p->sp = *sp;
    *sp = NULL;
    p->priority = p->sp->pod.priority;
    p->timestamp_ms = now;
    p->seq = ++q->seq;
    sched_htab_put(&q->by_uid, &p->hn, p->uid);
    to_active(q, p);
    return p;
}

void sched_queue_update(sched_queue_t *q, sched_qpod_t *p, sched_pod_t **sp, bool changed,
                        uint64_t now)
{
    sched_pod_free(&p->sp);
    p->sp = *sp;
    *sp = NULL;
    int32_t prio = p->sp->pod.priority;
    switch (p->state) {
    case SCHED_Q_ACTIVE:
    case SCHED_Q_BACKOFF:
        if (prio != p->priority) { /* a new place in its heap */
            sched_qstate_t was = p->state;
            detach(q, p);
            p->priority = prio;
            if (was == SCHED_Q_BACKOFF)
                to_backoff(q, p);
            else
                to_active(q, p);
        }
        break;
    case SCHED_Q_UNSCHED:
        p->priority = prio;
        if (changed)
            requeue(q, p, now);
        break;
    case SCHED_Q_INFLIGHT:
        p->priority = prio;
        break;
    }
}

void sched_queue_remove(sched_queue_t *q, sched_qpod_t *p)
{
    detach(q, p);
    sched_htab_del(&q->by_uid, &p->hn);
    qpod_free(p);
}

void sched_queue_flush(sched_queue_t *q, uint64_t now)
{
    sched_qpod_t *top;
    while ((top = q->backoff.len > 0 ? q->backoff.v[0] : NULL) != NULL &&
           sched_queue_backoff_until(q, top) <= now) {
        detach(q, top);
        to_active(q, top);
    }
    for (sched_qpod_t *p = q->unsched, *next; p != NULL; p = next) {
        next = p->unext;
        if (now - p->timestamp_ms > q->max_unsched_ms)
            requeue(q, p, now);
    }
}

sched_qpod_t *sched_queue_pop(sched_queue_t *q, uint64_t now)
{
    sched_qpod_t *top;
    while ((top = q->backoff.len > 0 ? q->backoff.v[0] : NULL) != NULL &&
           sched_queue_backoff_until(q, top) <= now) {
        detach(q, top);
        to_active(q, top);
    }
    if (q->active.len == 0)
        return NULL;
    sched_qpod_t *p = q->active.v[0];
    detach(q, p);
    p->state = SCHED_Q_INFLIGHT;
    p->attempts++;
    q->n_inflight++;
    return p;
}

void sched_queue_unschedulable(sched_queue_t *q, sched_qpod_t *p, unsigned events, uint64_t now)
{
    detach(q, p);
    p->timestamp_ms = now;
    p->events = events;
    p->state = SCHED_Q_UNSCHED;
    p->uprev = NULL;
    p->unext = q->unsched;
    if (q->unsched != NULL)
        q->unsched->uprev = p;
    q->unsched = p;
    q->n_unsched++;
}

void sched_queue_backoff(sched_queue_t *q, sched_qpod_t *p, uint64_t now)
{
    detach(q, p);
    p->timestamp_ms = now;
    to_backoff(q, p);
}

size_t sched_queue_move(sched_queue_t *q, unsigned event, uint64_t now)
{
    size_t moved = 0;
    for (sched_qpod_t *p = q->unsched, *next; p != NULL; p = next) {
        next = p->unext;
        if (p->events == 0 || (p->events & event) != 0) {
            requeue(q, p, now);
            moved++;
        }
    }
    return moved;
}

uint64_t sched_queue_next_backoff(const sched_queue_t *q)
{
    return q->backoff.len > 0 ? sched_queue_backoff_until(q, q->backoff.v[0]) : UINT64_MAX;
}

void sched_queue_stats(const sched_queue_t *q, sched_queue_stats_t *out)
{
    out->active = q->active.len;
    out->backoff = q->backoff.len;
    out->unschedulable = q->n_unsched;
    out->inflight = q->n_inflight;
}
