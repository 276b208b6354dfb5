/* The event recorder (kraal/events.h), after client-go's tools/record:
 * EventAggregator, eventLogger and the spam filter of EventCorrelator,
 * with the broadcaster's bounded queue in front of the bus.
 *
 * Each of the three keeps what it remembers in a small LRU (4096 entries
 * each, client-go's maxLruCacheEntries): a hash table for lookups and a
 * list for the age order. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kraal/events.h>
#include <kraal/log.h>

#include "xalloc.h"

#define TAG "events"

#define LRU_MAX          4096
#define LRU_BUCKETS      8192 /* a power of two */
#define AGG_MAX_EVENTS   10   /* client-go's defaultAggregateMaxEvents */
#define AGG_INTERVAL_S   600  /* defaultAggregateIntervalInSeconds */
#define SPAM_BURST       25   /* defaultSpamBurst */
#define SPAM_REFILL_S    300  /* one token per defaultSpamQPS = 1/300 */
#define AGG_PREFIX       "(combined from similar events): "
#define MERGE_PATCH_TYPE "application/merge-patch+json"

/* ---- a string-keyed LRU ------------------------------------------------------ */

typedef struct lru_ent {
    struct lru_ent *hnext;       /* hash chain */
    struct lru_ent *prev, *next; /* age order: head is the newest */
    uint64_t hash;
    char *key;
    union {
        struct { /* aggregator */
            int64_t last_s;
            unsigned n;
            uint64_t msgs[AGG_MAX_EVENTS];
        } agg;
        struct { /* logger */
            char *name;
            char first_ts[32];
            int64_t count;
        } log;
        struct { /* spam filter */
            double tokens;
            int64_t last_s;
        } spam;
    } u;
} lru_ent_t;

typedef struct lru {
    lru_ent_t *buckets[LRU_BUCKETS];
    lru_ent_t head; /* sentinel of the age list */
    size_t n;
    void (*free_payload)(lru_ent_t *e);
} lru_t;

static uint64_t hash_bytes(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void lru_init(lru_t *l, void (*free_payload)(lru_ent_t *))
{
    memset(l, 0, sizeof *l);
    l->head.prev = l->head.next = &l->head;
    l->free_payload = free_payload;
}

static void lru_unlink(lru_ent_t *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_push_front(lru_t *l, lru_ent_t *e)
{
    e->next = l->head.next;
    e->prev = &l->head;
    l->head.next->prev = e;
    l->head.next = e;
}

static void lru_drop(lru_t *l, lru_ent_t *e)
{
    lru_ent_t **pp = &l->buckets[e->hash & (LRU_BUCKETS - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    if (l->free_payload)
        l->free_payload(e);
    free(e->key);
    free(e);
    l->n--;
}

/* The entry of `key`, made the newest; created (zeroed payload) when
 * absent, evicting the oldest beyond LRU_MAX.  *created says which. */
static lru_ent_t *lru_get(lru_t *l, const char *key, bool *created)
{
    uint64_t h = hash_bytes(key);
    for (lru_ent_t *e = l->buckets[h & (LRU_BUCKETS - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0) {
            lru_unlink(e);
            lru_push_front(l, e);
            *created = false;
            return e;
        }
    if (l->n == LRU_MAX)
        lru_drop(l, l->head.prev);
    lru_ent_t *e = xcalloc(1, sizeof *e);
    e->hash = h;
    e->key = xstrdup(key);
    e->hnext = l->buckets[h & (LRU_BUCKETS - 1)];
    l->buckets[h & (LRU_BUCKETS - 1)] = e;
    lru_push_front(l, e);
    l->n++;
    *created = true;
    return e;
}

static void lru_clear(lru_t *l)
{
    while (l->head.next != &l->head)
        lru_drop(l, l->head.next);
}

static void free_log_payload(lru_ent_t *e)
{
    free(e->u.log.name);
}

/* ---- the recorder ------------------------------------------------------------ */

typedef struct ev_write {
    struct ev_write *next;
    kr_arena_t *arena;
    kr_request_t req;
    kr_value_t *create_obj; /* a patch's fallback when the Event is gone (404) */
} ev_write_t;

/* A write in flight: the recorder may be destroyed before its reply. */
typedef struct ev_ticket {
    kr_events_t *ev; /* NULL once the recorder is gone */
    ev_write_t *w;
    struct ev_ticket *prev, *next;
} ev_ticket_t;

struct kr_events {
    kr_bus_t *bus;
    char *component, *host, *instance;
    unsigned max_in_flight, max_queued, in_flight, n_queued;
    int timeout_ms;
    ev_write_t *head, *tail;
    ev_ticket_t *tickets;
    lru_t agg, log, spam;
    kr_events_stats_t stats;
};

kr_events_t *kr_events_new(kr_bus_t *bus, const kr_events_opts_t *opts, kr_error_t *err)
{
    if (bus == NULL || opts == NULL || opts->component == NULL || opts->component[0] == '\0') {
        kr_error_set(err, KR_E_INVALID, "an event recorder needs a bus and a component");
        return NULL;
    }
    kr_events_t *ev = xcalloc(1, sizeof *ev);
    ev->bus = bus;
    ev->component = xstrdup(opts->component);
    ev->host = opts->host && *opts->host ? xstrdup(opts->host) : NULL;
    ev->instance = xstrdup(opts->instance && *opts->instance ? opts->instance
                           : ev->host                        ? ev->host
                                                             : ev->component);
    ev->max_in_flight = opts->max_in_flight ? opts->max_in_flight : 16;
    ev->max_queued = opts->max_queued ? opts->max_queued : 1000;
    ev->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
    lru_init(&ev->agg, NULL);
    lru_init(&ev->log, free_log_payload);
    lru_init(&ev->spam, NULL);
    return ev;
}

static void write_free(ev_write_t *w)
{
    kr_arena_destroy(&w->arena);
    free(w);
}

void kr_events_destroy(kr_events_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_events_t *ev = *self_p;
    *self_p = NULL;
    for (ev_ticket_t *t = ev->tickets; t != NULL; t = t->next)
        t->ev = NULL;
    while (ev->head != NULL) {
        ev_write_t *w = ev->head;
        ev->head = w->next;
        write_free(w);
    }
    lru_clear(&ev->agg);
    lru_clear(&ev->log);
    lru_clear(&ev->spam);
    free(ev->component);
    free(ev->host);
    free(ev->instance);
    free(ev);
}

void kr_events_stats(const kr_events_t *ev, kr_events_stats_t *out)
{
    *out = ev->stats;
}

bool kr_objref_of(const kr_value_t *obj, kr_objref_t *ref)
{
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    memset(ref, 0, sizeof *ref);
    ref->api_version = kr_value_map_str(obj, "apiVersion");
    ref->kind = kr_value_map_str(obj, "kind");
    ref->ns = kr_value_map_str(meta, "namespace");
    ref->name = kr_value_map_str(meta, "name");
    ref->uid = kr_value_map_str(meta, "uid");
    ref->resource_version = kr_value_map_str(meta, "resourceVersion");
    return ref->kind != NULL && ref->name != NULL;
}

static void pump(kr_events_t *ev);

static void on_written(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    ev_ticket_t *t = ud;
    kr_events_t *ev = t->ev;
    ev_write_t *w = t->w;
    if (ev == NULL) { /* the recorder is gone */
        write_free(w);
        free(t);
        return;
    }
    if (t->prev)
        t->prev->next = t->next;
    else
        ev->tickets = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t);
    ev->in_flight--;
    if (reply->code == 404 && w->create_obj != NULL) {
        /* the Event we counted on expired: create it again, as client-go */
        w->req = (kr_request_t){
            .op = "create", .res = "v1/events", .ns = w->req.ns, .obj = w->create_obj};
        w->create_obj = NULL;
        w->next = ev->head;
        ev->head = w;
        if (ev->tail == NULL)
            ev->tail = w;
        ev->n_queued++;
        pump(ev);
        return;
    }
    if (reply->code >= 300) {
        ev->stats.failed++;
        KR_DEBUG(TAG, "event not written", "component=%s code=%d error=\"%s\"", ev->component,
                 reply->code, reply->message ? reply->message : "");
    }
    write_free(w);
    pump(ev);
}

static void pump(kr_events_t *ev)
{
    while (ev->head != NULL && ev->in_flight < ev->max_in_flight) {
        ev_write_t *w = ev->head;
        ev->head = w->next;
        if (ev->head == NULL)
            ev->tail = NULL;
        ev->n_queued--;
        ev_ticket_t *t = xcalloc(1, sizeof *t);
        t->ev = ev;
        t->w = w;
        t->next = ev->tickets;
        if (ev->tickets)
            ev->tickets->prev = t;
        ev->tickets = t;
        ev->in_flight++;
        kr_error_t err;
        if (kr_bus_send(ev->bus, &w->req, on_written, t, ev->timeout_ms, NULL, &err) < 0) {
            /* the callback does not run: undo and give up on this one */
            ev->tickets = t->next;
            if (t->next)
                t->next->prev = NULL;
            free(t);
            ev->in_flight--;
            ev->stats.failed++;
            write_free(w);
        }
    }
}

static void enqueue(kr_events_t *ev, ev_write_t *w)
{
    if (ev->n_queued >= ev->max_queued) {
        ev->stats.queue_dropped++;
        write_free(w);
        return;
    }
    if (ev->tail)
        ev->tail->next = w;
    else
        ev->head = w;
    ev->tail = w;
    ev->n_queued++;
    pump(ev);
}

static void put_str(kr_arena_t *a, kr_value_t *m, const char *k, const char *v)
{
    if (v != NULL && *v)
        kr_value_map_set(a, m, k, kr_value_str(a, v));
}

static void rfc3339(int64_t s, char *buf, size_t size)
{
    time_t t = (time_t)s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static kr_value_t *event_obj(kr_events_t *ev, kr_arena_t *a, const kr_objref_t *ref, const char *ns,
                             const char *name, const char *type, const char *reason,
                             const char *message, const char *first, const char *last,
                             int64_t count)
{
    kr_value_t *o = kr_value_map(a), *meta = kr_value_map(a), *inv = kr_value_map(a),
               *src = kr_value_map(a);
    put_str(a, o, "apiVersion", "v1");
    put_str(a, o, "kind", "Event");
    put_str(a, meta, "name", name);
    put_str(a, meta, "namespace", ns);
    kr_value_map_set(a, o, "metadata", meta);
    put_str(a, inv, "apiVersion", ref->api_version);
    put_str(a, inv, "kind", ref->kind);
    put_str(a, inv, "namespace", ref->ns);
    put_str(a, inv, "name", ref->name);
    put_str(a, inv, "uid", ref->uid);
    put_str(a, inv, "resourceVersion", ref->resource_version);
    put_str(a, inv, "fieldPath", ref->field_path);
    kr_value_map_set(a, o, "involvedObject", inv);
    put_str(a, o, "reason", reason);
    put_str(a, o, "message", message);
    put_str(a, src, "component", ev->component);
    put_str(a, src, "host", ev->host);
    kr_value_map_set(a, o, "source", src);
    put_str(a, o, "firstTimestamp", first);
    put_str(a, o, "lastTimestamp", last);
    kr_value_map_set(a, o, "count", kr_value_int(a, count));
    put_str(a, o, "type", type);
    kr_value_map_set(a, o, "eventTime", kr_value_null(a));
    put_str(a, o, "reportingComponent", ev->component);
    put_str(a, o, "reportingInstance", ev->instance);
    return o;
}

/* client-go's spam filter: false when the source+object is out of tokens. */
static bool spam_allow(kr_events_t *ev, const kr_objref_t *ref, int64_t now_s)
{
    char key[1024];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", ev->component,
             ev->host ? ev->host : "", ref->kind, ref->ns ? ref->ns : "", ref->name,
             ref->uid ? ref->uid : "", ref->api_version ? ref->api_version : "");
    bool created;
    lru_ent_t *e = lru_get(&ev->spam, key, &created);
    if (created) {
        e->u.spam.tokens = SPAM_BURST;
        e->u.spam.last_s = now_s;
    } else if (now_s > e->u.spam.last_s) {
        e->u.spam.tokens += (double)(now_s - e->u.spam.last_s) / SPAM_REFILL_S;
        if (e->u.spam.tokens > SPAM_BURST)
            e->u.spam.tokens = SPAM_BURST;
        e->u.spam.last_s = now_s;
    }
    if (e->u.spam.tokens < 1)
        return false;
    e->u.spam.tokens -= 1;
    return true;
}

static void record(kr_events_t *ev, const kr_objref_t *ref, const char *type, const char *reason,
                   const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static void record(kr_events_t *ev, const kr_objref_t *ref, const char *type, const char *reason,
                   const char *fmt, va_list ap)
{
    ev->stats.recorded++;
    if (ref == NULL || ref->kind == NULL || ref->name == NULL)
        return;
    int64_t now_s = (int64_t)time(NULL);
    if (!spam_allow(ev, ref, now_s)) {
        ev->stats.spam_dropped++;
        return;
    }
    char message[1024];
    vsnprintf(message, sizeof message, fmt, ap);

    /* the aggregator: the key without the message */
    char objkey[1024], key[2048];
    snprintf(objkey, sizeof objkey, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s",
             ev->component, ev->host ? ev->host : "", ref->kind, ref->ns ? ref->ns : "", ref->name,
             ref->field_path ? ref->field_path : "", ref->uid ? ref->uid : "",
             ref->api_version ? ref->api_version : "", type, reason);
    bool created;
    lru_ent_t *agg = lru_get(&ev->agg, objkey, &created);
    if (now_s - agg->u.agg.last_s > AGG_INTERVAL_S)
        agg->u.agg.n = 0; /* the window is over */
    agg->u.agg.last_s = now_s;
    uint64_t mh = hash_bytes(message);
    bool known = false;
    for (unsigned i = 0; i < agg->u.agg.n && !known; i++)
        known = agg->u.agg.msgs[i] == mh;
    if (!known && agg->u.agg.n < AGG_MAX_EVENTS)
        agg->u.agg.msgs[agg->u.agg.n++] = mh;
    bool combined = !known && agg->u.agg.n >= AGG_MAX_EVENTS;
    char combined_msg[sizeof message + sizeof AGG_PREFIX];
    const char *msg = message;
    if (combined) {
        snprintf(combined_msg, sizeof combined_msg, "%s%s", AGG_PREFIX, message);
        msg = combined_msg;
        snprintf(key, sizeof key, "%s", objkey);
        ev->stats.aggregated++;
    } else {
        snprintf(key, sizeof key, "%s\x1f%s", objkey, message);
    }

    /* the logger: count up an Event we wrote before, or create one */
    char now[32];
    rfc3339(now_s, now, sizeof now);
    const char *ns = ref->ns && *ref->ns ? ref->ns : "default";
    lru_ent_t *le = lru_get(&ev->log, key, &created);
    ev_write_t *w = xcalloc(1, sizeof *w);
    w->arena = kr_arena_new(2048);
    kr_arena_t *a = w->arena;
    if (created) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        le->u.log.name = xstrdup(kr_arena_printf(
            a, "%s.%llx", ref->name,
            (unsigned long long)((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec)));
        snprintf(le->u.log.first_ts, sizeof le->u.log.first_ts, "%s", now);
        le->u.log.count = 1;
        w->req = (kr_request_t){
            .op = "create",
            .res = "v1/events",
            .ns = kr_arena_strdup(a, ns),
            .obj = event_obj(ev, a, ref, ns, le->u.log.name, type, reason, msg, now, now, 1)};
        ev->stats.created++;
    } else {
        le->u.log.count++;
        kr_value_t *patch = kr_value_map(a);
        kr_value_map_set(a, patch, "count", kr_value_int(a, le->u.log.count));
        put_str(a, patch, "lastTimestamp", now);
        put_str(a, patch, "message", msg);
        kr_value_t *opts = kr_value_map(a);
        put_str(a, opts, "patchType", MERGE_PATCH_TYPE);
        w->req = (kr_request_t){.op = "patch",
                                .res = "v1/events",
                                .ns = kr_arena_strdup(a, ns),
                                .name = kr_arena_strdup(a, le->u.log.name),
                                .obj = patch,
                                .opts = opts};
        w->create_obj = event_obj(ev, a, ref, ns, le->u.log.name, type, reason, msg,
                                  le->u.log.first_ts, now, le->u.log.count);
        ev->stats.patched++;
    }
    enqueue(ev, w);
}

void kr_events_record_ref(kr_events_t *ev, const kr_objref_t *ref, const char *type,
                          const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(ev, ref, type, reason, fmt, ap);
    va_end(ap);
}

void kr_events_record(kr_events_t *ev, const kr_value_t *obj, const char *type, const char *reason,
                      const char *fmt, ...)
{
    kr_objref_t ref;
    if (!kr_objref_of(obj, &ref)) {
        ev->stats.recorded++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    record(ev, &ref, type, reason, fmt, ap);
    va_end(ap);
}
