/* See events.h. */
#include "events.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kraal/value.h>

#define EVENT_TIMEOUT_MS 30000

typedef struct ev_rec {
    struct ev_rec *next;
    kr_arena_t *arena;
    kr_request_t req;
} ev_rec_t;

typedef struct ev_ticket {
    sched_events_t *ev; /* NULL once the recorder is gone */
    struct ev_ticket *prev, *next;
} ev_ticket_t;

struct sched_events {
    kr_bus_t *bus;
    char *controller, *instance;
    uint32_t max_in_flight, max_queued, in_flight, n_queued;
    ev_rec_t *head, *tail;
    ev_ticket_t *tickets;
    uint64_t seq;
    sched_events_stats_t stats;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sched_time_micro(char *buf, size_t size)
{
    int64_t ns = now_ns();
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[24]; /* 19 characters: the bound keeps -Wformat-truncation quiet */
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%06dZ", s, (int)(ns % 1000000000 / 1000));
}

void sched_time_rfc3339(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

sched_events_t *sched_events_new(kr_bus_t *bus, const char *controller, const char *instance,
                                 uint32_t max_in_flight, uint32_t max_queued)
{
    sched_events_t *ev = calloc(1, sizeof *ev);
    if (ev == NULL || (ev->controller = strdup(controller)) == NULL ||
        (ev->instance = strdup(instance)) == NULL)
        abort();
    ev->bus = bus;
    ev->max_in_flight = max_in_flight != 0 ? max_in_flight : 1;
    ev->max_queued = max_queued;
    return ev;
}

static void rec_free(ev_rec_t *r)
{
    kr_arena_destroy(&r->arena);
    free(r);
}

static void pump(sched_events_t *ev);

static void on_reply(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    ev_ticket_t *t = ud;
    sched_events_t *ev = t->ev;
    if (ev != NULL) {
        if (t->prev != NULL)
            t->prev->next = t->next;
        else
            ev->tickets = t->next;
        if (t->next != NULL)
            t->next->prev = t->prev;
        ev->in_flight--;
        if (reply->code < 300)
            ev->stats.written++;
        else
            ev->stats.failed++;
        pump(ev);
    }
    free(t);
}

static void pump(sched_events_t *ev)
{
    while (ev->head != NULL && ev->in_flight < ev->max_in_flight) {
        ev_rec_t *r = ev->head;
        ev->head = r->next;
        if (ev->head == NULL)
            ev->tail = NULL;
        ev->n_queued--;
        ev_ticket_t *t = calloc(1, sizeof *t);
        if (t == NULL)
            abort();
        t->ev = ev;
        if (kr_bus_send(ev->bus, &r->req, on_reply, t, EVENT_TIMEOUT_MS, NULL, NULL) < 0) {
            free(t);
            ev->stats.failed++;
        } else {
            t->next = ev->tickets;
            if (ev->tickets != NULL)
                ev->tickets->prev = t;
            ev->tickets = t;
            ev->in_flight++;
        }
        rec_free(r);
    }
}

static void enqueue(sched_events_t *ev, ev_rec_t *r)
{
    if (ev->max_queued != 0 && ev->n_queued >= ev->max_queued) {
        ev->stats.dropped++;
        rec_free(r);
        return;
    }
    if (ev->tail != NULL)
        ev->tail->next = r;
    else
        ev->head = r;
    ev->tail = r;
    ev->n_queued++;
    ev->stats.queued++;
    pump(ev);
}

static void set_str(kr_arena_t *a, kr_value_t *m, const char *k, const char *v)
{
    if (v != NULL)
        kr_value_map_set(a, m, k, kr_value_str(a, v));
}

static kr_value_t *pod_ref(kr_arena_t *a, const char *ns, const char *name, const char *uid,
                           const char *rv)
{
    kr_value_t *r = kr_value_map(a);
    set_str(a, r, "apiVersion", "v1");
    set_str(a, r, "kind", "Pod");
    set_str(a, r, "namespace", ns);
    set_str(a, r, "name", name);
    set_str(a, r, "uid", uid);
    set_str(a, r, "resourceVersion", rv);
    return r;
}

void sched_events_record(sched_events_t *ev, const sched_event_t *e, char *name_out)
{
    ev_rec_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    kr_arena_t *a = r->arena = kr_arena_new(2048);
    char name[300], when[40];
    /* upstream's <regarding name>.<hex UnixNano>; the sequence keeps two
     * events of one nanosecond apart */
    snprintf(name, sizeof name, "%s.%" PRIx64, e->name, (uint64_t)now_ns() + ev->seq++);
    if (name_out != NULL)
        memcpy(name_out, name, strlen(name) + 1);
    sched_time_micro(when, sizeof when);
    kr_value_t *o = kr_value_map(a), *meta = kr_value_map(a), *src = kr_value_map(a);
    set_str(a, o, "apiVersion", "v1");
    set_str(a, o, "kind", "Event");
    set_str(a, meta, "name", name);
    set_str(a, meta, "namespace", e->ns);
    kr_value_map_set(a, o, "metadata", meta);
    kr_value_map_set(a, o, "involvedObject", pod_ref(a, e->ns, e->name, e->uid, e->rv));
    if (e->rel_name != NULL)
        kr_value_map_set(a, o, "related", pod_ref(a, e->rel_ns, e->rel_name, e->rel_uid, NULL));
    set_str(a, o, "reason", e->reason);
    /* the API refuses notes over 1 kB (events/v1 validation) */
    size_t len = strlen(e->message);
    if (len > 1024)
        kr_value_map_set(a, o, "message",
                         kr_value_str(a, kr_arena_printf(a, "%.1021s...", e->message)));
    else
        set_str(a, o, "message", e->message);
    set_str(a, o, "type", e->type);
    set_str(a, o, "action", e->action);
    set_str(a, o, "eventTime", when);
    set_str(a, src, "component", ev->controller);
    kr_value_map_set(a, o, "source", src);
    set_str(a, o, "reportingComponent", ev->controller);
    set_str(a, o, "reportingInstance", ev->instance);
    /* Events wait in the queue by thousands when the API is busy (up to
     * event_queue: 20,000 Scheduled events after a burst of bindings):
     * each keeps a copy in an arena of the size it needs (~1 KB), not the
     * 2 KB it was built in. */
    kr_arena_t *exact = kr_arena_new(kr_arena_used(a));
    r->req = (kr_request_t){.op = "create",
                            .res = "v1/events",
                            .ns = kr_arena_strdup(exact, e->ns),
                            .obj = kr_value_copy(exact, o)};
    kr_arena_destroy(&r->arena);
    r->arena = exact;
    enqueue(ev, r);
}

void sched_events_repeat(sched_events_t *ev, const char *ns, const char *name, uint32_t count)
{
    ev_rec_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    kr_arena_t *a = r->arena = kr_arena_new(512);
    char when[40];
    sched_time_micro(when, sizeof when);
    kr_value_t *patch = kr_value_map(a), *series = kr_value_map(a), *opts = kr_value_map(a);
    kr_value_map_set(a, series, "count", kr_value_int(a, count));
    set_str(a, series, "lastObservedTime", when);
    kr_value_map_set(a, patch, "series", series);
    set_str(a, opts, "patchType", "application/merge-patch+json");
    r->req = (kr_request_t){.op = "patch",
                            .res = "v1/events",
                            .ns = kr_arena_strdup(a, ns),
                            .name = kr_arena_strdup(a, name),
                            .obj = patch,
                            .opts = opts};
    enqueue(ev, r);
}

void sched_events_stats(const sched_events_t *ev, sched_events_stats_t *out)
{
    *out = ev->stats;
}

void sched_events_destroy(sched_events_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sched_events_t *ev = *self_p;
    for (ev_rec_t *r = ev->head, *next; r != NULL; r = next) {
        next = r->next;
        rec_free(r);
    }
    for (ev_ticket_t *t = ev->tickets; t != NULL; t = t->next)
        t->ev = NULL; /* the reply (or the bus's 503) frees it */
    free(ev->controller);
    free(ev->instance);
    free(ev);
    *self_p = NULL;
}
