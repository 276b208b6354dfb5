/* Watches (see watch.h): per kind, a ring of the last `window` events and
 * the list of its watchers.
 *
 * A watcher is in one of three phases.  SNAPSHOT: it sends ADDED for the
 * records it took references to at open.  REPLAY: it reads the ring after
 * its position.  LIVE: publish sends it each new event at once.  The first
 * two are fed from kr_watch_tick at the pace the client drains its stream,
 * so a slow reader of a big snapshot neither fills the broker's backlog
 * nor misses an event: what is published meanwhile waits in the ring, and
 * a watcher whose position leaves the ring is ended with Expired.
 *
 * Watchers of pods that select one node (`spec.nodeName=X`: every node
 * agent) are also indexed by that node, as upstream's watch cache
 * indexes pod watchers (its IndexedTrigger): an event is matched against
 * the watchers of its pod's node (before and after) and the unindexed
 * ones only, not against thousands of agents.
 *
 * The broker may close a stream inside kr_broker_stream_event_raw (the
 * client lagged) and then runs our cancel callback; while the hub is
 * iterating (`busy`), such a watcher is only marked dead and freed once
 * the iteration is over. */
#include "watch.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/loop.h>

#include "xalloc.h"

/* A catching-up stream is fed while fewer of its events than this wait in
 * the broker's backlog (its ZeroMQ pipe is full beyond that); far below the
 * broker's watch_backlog, so catching up never expires a stream. */
#define CATCHUP_QUEUED 16
/* Events one catching-up watcher sends per tick, so that a big snapshot
 * does not hold the broker thread. */
#define CATCHUP_BATCH 2048
#define RING_MIN      64

#define INITIAL_EVENTS_END "k8s.io/initial-events-end"

/* Buckets of the per-kind watcher index (a power of two). */
#define INDEX_BUCKETS 1024

typedef struct wevent {
    int64_t rev;
    kr_objrec_t *obj, *prev;
    kr_watch_type_t type;
} wevent_t;

typedef struct wlink {
    struct wlink *prev, *next;
} wlink_t;

typedef enum wphase { W_SNAPSHOT, W_REPLAY, W_LIVE } wphase_t;

typedef struct wkind wkind_t;

typedef struct watcher {
    wlink_t link; /* first: the list links are the watcher */
    /* publish: in the kind's unindexed list, or in the bucket of `ikey` */
    wlink_t plink;
    char *ikey; /* the exact value of the kind's index field, or NULL */
    wkind_t *wk;
    kr_watch_hub_t *hub;
    kr_broker_stream_t *s; /* NULL once the stream is closed */
    char *ns;
    kr_labelsel_t *ls;
    kr_fieldsel_t *fs;
    bool bookmarks, initial_events_end, dead;
    wphase_t phase;
    kr_objrec_t **snap; /* SNAPSHOT: references still to send */
    size_t snap_n, snap_i;
    int64_t pos; /* every event up to this revision has been handled */
    uint64_t next_bookmark;
} watcher_t;

struct wkind {
    const kr_kind_t *kind;
    wevent_t *ring;
    size_t cap, head, len;
    int64_t oldest;   /* every event after it is in the ring */
    wlink_t watchers; /* all of them */
    size_t n_watchers;
    const char *index_field; /* "spec.nodeName" for pods, else NULL */
    wlink_t unindexed;       /* publish visits these... */
    wlink_t *buckets;        /* ...and the buckets of the event (lazy) */
};

struct kr_watch_hub {
    kr_broker_t *b;
    size_t window;
    uint64_t bookmark_ms;
    int64_t base_rev, progress_rev;
    wkind_t **kinds;
    size_t n_kinds;
    int busy;
    size_t n_dead;
    /* DELETED for an object that stopped matching: its previous state at
     * the event's revision, encoded once per event. */
    const wevent_t *gone_ev;
    kr_buf_t gone;
    kr_buf_t bookmark;
    kr_arena_t *scratch;
    uint64_t published, sent, expired;
};

const char *kr_watch_type_name(kr_watch_type_t type)
{
    switch (type) {
    case KR_WATCH_ADDED:
        return "ADDED";
    case KR_WATCH_MODIFIED:
        return "MODIFIED";
    case KR_WATCH_DELETED:
        return "DELETED";
    }
    return "UNKNOWN";
}

/* ---- kinds and rings ------------------------------------------------------ */

static wkind_t *wkind_find(const kr_watch_hub_t *h, const kr_kind_t *kind)
{
    for (size_t i = 0; i < h->n_kinds; i++)
        if (h->kinds[i]->kind == kind)
            return h->kinds[i];
    return NULL;
}

static wkind_t *wkind_get(kr_watch_hub_t *h, const kr_kind_t *kind)
{
    wkind_t *wk = wkind_find(h, kind);
    if (wk != NULL)
        return wk;
    wk = xcalloc(1, sizeof *wk);
    wk->kind = kind;
    wk->oldest = h->base_rev;
    wk->watchers.prev = wk->watchers.next = &wk->watchers;
    wk->unindexed.prev = wk->unindexed.next = &wk->unindexed;
    if (strcmp(kind->res, "v1/pods") == 0)
        wk->index_field = "spec.nodeName";
    h->kinds = xrealloc(h->kinds, (h->n_kinds + 1) * sizeof *h->kinds);
    h->kinds[h->n_kinds++] = wk;
    return wk;
}

static wevent_t *ev_at(const wkind_t *wk, size_t i)
{
    return &wk->ring[(wk->head + i) % wk->cap];
}

/* Index of the first event after revision `rev` (len when none). */
static size_t ring_after(const wkind_t *wk, int64_t rev)
{
    size_t lo = 0, hi = wk->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ev_at(wk, mid)->rev <= rev)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void ring_push(kr_watch_hub_t *h, wkind_t *wk, kr_watch_type_t type, kr_objrec_t *obj,
                      kr_objrec_t *prev)
{
    if (wk->len == h->window) {
        wevent_t *e = ev_at(wk, 0);
        wk->oldest = e->rev;
        kr_objrec_unref(&e->obj);
        kr_objrec_unref(&e->prev);
        wk->head = (wk->head + 1) % wk->cap;
        wk->len--;
    }
    if (wk->len == wk->cap) {
        size_t cap = wk->cap < RING_MIN ? RING_MIN : wk->cap * 2;
        if (cap > h->window)
            cap = h->window;
        wevent_t *ring = xmalloc(cap * sizeof *ring);
        for (size_t i = 0; i < wk->len; i++)
            ring[i] = *ev_at(wk, i);
        free(wk->ring);
        wk->ring = ring;
        wk->cap = cap;
        wk->head = 0;
    }
    *ev_at(wk, wk->len++) = (wevent_t){
        .rev = obj->rev,
        .obj = kr_objrec_ref(obj),
        .prev = kr_objrec_ref(prev),
        .type = type,
    };
}

/* ---- watchers ------------------------------------------------------------- */

static void link_append(wlink_t *head, wlink_t *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void link_remove(wlink_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static size_t bucket_of(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (size_t)(h & (INDEX_BUCKETS - 1));
}

/* The value of the kind's index field in a record ("" when absent, as a
 * field selector reads it). */
static const char *index_value(const wkind_t *wk, const kr_objrec_t *rec)
{
    const char *v = kr_objrec_field(rec, wk->index_field);
    return v != NULL ? v : "";
}

static void watcher_index(wkind_t *wk, watcher_t *w)
{
    const char *v = wk->index_field && w->fs ? kr_fieldsel_exact(w->fs, wk->index_field) : NULL;
    if (v == NULL) {
        link_append(&wk->unindexed, &w->plink);
        return;
    }
    if (wk->buckets == NULL) {
        wk->buckets = xmalloc(INDEX_BUCKETS * sizeof *wk->buckets);
        for (size_t i = 0; i < INDEX_BUCKETS; i++)
            wk->buckets[i].prev = wk->buckets[i].next = &wk->buckets[i];
    }
    w->ikey = xstrdup(v);
    link_append(&wk->buckets[bucket_of(v)], &w->plink);
}

static void watcher_free(watcher_t *w)
{
    link_remove(&w->link);
    link_remove(&w->plink);
    free(w->ikey);
    w->wk->n_watchers--;
    for (size_t i = w->snap_i; i < w->snap_n; i++)
        kr_objrec_unref(&w->snap[i]);
    free(w->snap);
    kr_labelsel_destroy(&w->ls);
    kr_fieldsel_destroy(&w->fs);
    free(w->ns);
    free(w);
}

/* The watcher leaves: at once, or after the current iteration. */
static void watcher_drop(kr_watch_hub_t *h, watcher_t *w)
{
    if (w->dead)
        return;
    if (h->busy > 0) {
        w->dead = true;
        h->n_dead++;
    } else {
        watcher_free(w);
    }
}

static void on_cancel(kr_broker_t *b, kr_broker_stream_t *s, void *ud)
{
    (void)b;
    (void)s;
    watcher_t *w = ud;
    w->s = NULL;
    watcher_drop(w->hub, w);
}

static void enter(kr_watch_hub_t *h)
{
    h->busy++;
}

static void leave(kr_watch_hub_t *h)
{
    if (--h->busy > 0 || h->n_dead == 0)
        return;
    for (size_t i = 0; i < h->n_kinds; i++) {
        wlink_t *head = &h->kinds[i]->watchers;
        for (wlink_t *l = head->next, *next; l != head; l = next) {
            next = l->next;
            watcher_t *w = (watcher_t *)l;
            if (w->dead)
                watcher_free(w);
        }
    }
    h->n_dead = 0;
}

static void end_watcher(kr_watch_hub_t *h, watcher_t *w, kr_reason_t reason, const char *msg)
{
    if (w->s != NULL)
        kr_broker_stream_end(h->b, &w->s, reason, msg);
    watcher_drop(h, w);
}

static bool matches(const watcher_t *w, const kr_objrec_t *rec)
{
    if (w->ns != NULL && strcmp(w->ns, rec->ns) != 0)
        return false;
    if (w->ls != NULL && !kr_labelsel_match(w->ls, rec->labels))
        return false;
    return w->fs == NULL || kr_objrec_fieldsel_match(rec, w->fs);
}

/* False when the stream is gone (the broker closed it for lag). */
static bool send_raw(kr_watch_hub_t *h, watcher_t *w, const char *type, const void *data,
                     size_t len)
{
    if (w->s == NULL)
        return false;
    if (!kr_broker_stream_event_raw(h->b, w->s, type, data, len)) {
        h->expired++;
        return false;
    }
    h->sent++;
    return true;
}

static bool send_bookmark(kr_watch_hub_t *h, watcher_t *w, int64_t rev, bool initial_end)
{
    kr_arena_t *a = h->scratch;
    const kr_kind_t *k = w->wk->kind;
    kr_value_t *obj = kr_value_map(a), *meta = kr_value_map(a);
    kr_value_map_set(a, obj, "kind", kr_value_str(a, k->kind));
    kr_value_map_set(a, obj, "apiVersion", kr_value_str(a, k->api_version));
    kr_value_map_set(a, meta, "resourceVersion",
                     kr_value_str(a, kr_arena_printf(a, "%" PRId64, rev)));
    if (initial_end) {
        kr_value_t *ann = kr_value_map(a);
        kr_value_map_set(a, ann, INITIAL_EVENTS_END, kr_value_str(a, "true"));
        kr_value_map_set(a, meta, "annotations", ann);
    }
    kr_value_map_set(a, obj, "metadata", meta);
    kr_buf_reset(&h->bookmark);
    kr_msgpack_encode(obj, &h->bookmark, NULL);
    kr_arena_reset(a);
    return send_raw(h, w, "BOOKMARK", h->bookmark.data, h->bookmark.len);
}

/* The previous state of ev's object with metadata.resourceVersion set to
 * the event's revision (upstream's DELETED for "stopped matching"). */
static const kr_buf_t *gone_bytes(kr_watch_hub_t *h, const wevent_t *ev)
{
    if (h->gone_ev == ev)
        return &h->gone;
    kr_arena_t *a = h->scratch;
    kr_value_t *obj = kr_objrec_decode(ev->prev, a);
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    if (kr_value_type(meta) == KR_MAP)
        kr_value_map_set(a, meta, "resourceVersion",
                         kr_value_str(a, kr_arena_printf(a, "%" PRId64, ev->rev)));
    kr_buf_reset(&h->gone);
    kr_msgpack_encode(obj, &h->gone, NULL);
    kr_arena_reset(a);
    h->gone_ev = ev;
    return &h->gone;
}

/* Sends what `ev` means to this watcher's selection (cacheWatcher's
 * convertToWatchEvent).  False when the stream is gone. */
static bool send_event(kr_watch_hub_t *h, watcher_t *w, const wevent_t *ev)
{
    const kr_objrec_t *old = ev->prev;
    if (ev->type == KR_WATCH_DELETED && old == NULL)
        old = ev->obj;
    bool cur_ok = ev->type != KR_WATCH_DELETED && matches(w, ev->obj);
    bool old_ok = old != NULL && matches(w, old);
    if (cur_ok)
        return send_raw(h, w, old_ok ? "MODIFIED" : "ADDED", ev->obj->data, ev->obj->len);
    if (!old_ok)
        return true;
    if (ev->type == KR_WATCH_DELETED) /* obj is the final state at the delete's revision */
        return send_raw(h, w, "DELETED", ev->obj->data, ev->obj->len);
    const kr_buf_t *gone = gone_bytes(h, ev);
    return send_raw(h, w, "DELETED", gone->data, gone->len);
}

/* Catch-up: sends snapshot and ring events while the stream drains. */
static void feed(kr_watch_hub_t *h, watcher_t *w)
{
    wkind_t *wk = w->wk;
    size_t budget = CATCHUP_BATCH, i = SIZE_MAX;
    while (!w->dead && w->phase != W_LIVE) {
        if (w->pos < wk->oldest) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "the watch could not catch up with the event window: too old resource "
                     "version: %" PRId64 " (%" PRId64 ")",
                     w->pos, wk->oldest);
            h->expired++;
            end_watcher(h, w, KR_E_EXPIRED, msg);
            return;
        }
        if (budget == 0 || kr_broker_stream_queued(w->s) >= CATCHUP_QUEUED)
            return;
        budget--;
        if (w->phase == W_SNAPSHOT) {
            if (w->snap_i < w->snap_n) {
                kr_objrec_t *r = w->snap[w->snap_i];
                w->snap[w->snap_i++] = NULL;
                send_raw(h, w, "ADDED", r->data, r->len);
                kr_objrec_unref(&r);
                continue;
            }
            free(w->snap);
            w->snap = NULL;
            w->snap_n = w->snap_i = 0;
            w->phase = W_REPLAY;
            if (w->initial_events_end)
                send_bookmark(h, w, w->pos, true);
            continue;
        }
        if (i == SIZE_MAX)
            i = ring_after(wk, w->pos);
        if (i >= wk->len) {
            w->phase = W_LIVE;
            return;
        }
        const wevent_t *ev = ev_at(wk, i++);
        w->pos = ev->rev;
        send_event(h, w, ev);
    }
}

/* ---- the hub -------------------------------------------------------------- */

kr_watch_hub_t *kr_watch_hub_new(kr_broker_t *b, size_t window, uint64_t bookmark_ms,
                                 int64_t base_rev)
{
    kr_watch_hub_t *h = xcalloc(1, sizeof *h);
    h->b = b;
    h->window = window ? window : KR_WATCH_WINDOW;
    h->bookmark_ms = bookmark_ms ? bookmark_ms : KR_WATCH_BOOKMARK_MS;
    h->base_rev = h->progress_rev = base_rev;
    h->scratch = kr_arena_new(4096);
    return h;
}

void kr_watch_hub_destroy(kr_watch_hub_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_watch_hub_t *h = *self_p;
    *self_p = NULL;
    for (size_t k = 0; k < h->n_kinds; k++) {
        wkind_t *wk = h->kinds[k];
        while (wk->watchers.next != &wk->watchers) {
            watcher_t *w = (watcher_t *)wk->watchers.next;
            if (w->s != NULL)
                kr_broker_stream_end(h->b, &w->s, KR_E_SERVICE_UNAVAILABLE,
                                     "the watch cache is shutting down");
            watcher_free(w);
        }
        for (size_t i = 0; i < wk->len; i++) {
            wevent_t *e = ev_at(wk, i);
            kr_objrec_unref(&e->obj);
            kr_objrec_unref(&e->prev);
        }
        free(wk->ring);
        free(wk->buckets);
        free(wk);
    }
    free(h->kinds);
    kr_buf_free(&h->gone);
    kr_buf_free(&h->bookmark);
    kr_arena_destroy(&h->scratch);
    free(h);
}

typedef struct snap_ctx {
    watcher_t *w;
    size_t cap;
} snap_ctx_t;

static bool snap_visit(kr_objrec_t *rec, void *ud)
{
    snap_ctx_t *c = ud;
    watcher_t *w = c->w;
    if (!matches(w, rec))
        return true;
    if (w->snap_n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        w->snap = xrealloc(w->snap, c->cap * sizeof *w->snap);
    }
    w->snap[w->snap_n++] = kr_objrec_ref(rec);
    return true;
}

int kr_watch_open(kr_watch_hub_t *h, const kr_broker_req_t *req, kr_watch_opts_t *opts,
                  const kr_objmap_t *live, int64_t rev, kr_error_t *err)
{
    kr_labelsel_t *ls = opts->labels;
    kr_fieldsel_t *fs = opts->fields;
    opts->labels = NULL;
    opts->fields = NULL;
    wkind_t *wk = wkind_get(h, opts->kind);
    if (opts->from_rev > 0 && opts->from_rev < wk->oldest) {
        kr_labelsel_destroy(&ls);
        kr_fieldsel_destroy(&fs);
        return kr_error_set(err, KR_E_EXPIRED,
                            "too old resource version: %" PRId64 " (%" PRId64 ")", opts->from_rev,
                            wk->oldest);
    }
    watcher_t *w = xcalloc(1, sizeof *w);
    w->hub = h;
    w->wk = wk;
    w->ns = opts->ns != NULL ? xstrdup(opts->ns) : NULL;
    w->ls = ls;
    w->fs = fs;
    w->bookmarks = opts->bookmarks;
    w->initial_events_end = opts->bookmarks && opts->initial_events_end;
    w->next_bookmark = kr_time_ms() + h->bookmark_ms;
    link_append(&wk->watchers, &w->link);
    watcher_index(wk, w);
    wk->n_watchers++;
    w->s = kr_broker_stream_open(h->b, req, on_cancel, w);
    if (w->s == NULL) {
        watcher_free(w);
        return kr_error_set(err, KR_E_TOO_MANY_REQUESTS,
                            "too many watches open on this connection");
    }
    enter(h);
    if (opts->from_rev > 0) {
        w->phase = W_REPLAY;
        w->pos = opts->from_rev;
        /* no initial events: they end at once */
        if (w->initial_events_end)
            send_bookmark(h, w, w->pos, true);
    } else {
        w->phase = W_SNAPSHOT;
        w->pos = rev;
        snap_ctx_t c = {.w = w};
        kr_objmap_walk(live, w->ns, NULL, NULL, snap_visit, &c);
    }
    feed(h, w);
    leave(h);
    return 0;
}

/* Sends `ev` to the live watchers of a publish list. */
static void publish_list(kr_watch_hub_t *h, wlink_t *head, const wevent_t *ev)
{
    for (wlink_t *l = head->next; l != head; l = l->next) {
        watcher_t *w = (watcher_t *)((char *)l - offsetof(watcher_t, plink));
        if (w->dead || w->phase != W_LIVE || ev->rev <= w->pos)
            continue;
        w->pos = ev->rev;
        send_event(h, w, ev);
    }
}

void kr_watch_publish(kr_watch_hub_t *h, kr_watch_type_t type, kr_objrec_t *obj, kr_objrec_t *prev)
{
    wkind_t *wk = wkind_get(h, obj->kind);
    enter(h);
    ring_push(h, wk, type, obj, prev);
    h->published++;
    h->gone_ev = NULL;
    const wevent_t *ev = ev_at(wk, wk->len - 1);
    publish_list(h, &wk->unindexed, ev);
    if (wk->buckets != NULL) {
        size_t b = bucket_of(index_value(wk, obj));
        publish_list(h, &wk->buckets[b], ev);
        if (prev != NULL) {
            size_t pb = bucket_of(index_value(wk, prev));
            if (pb != b)
                publish_list(h, &wk->buckets[pb], ev);
        }
    }
    leave(h);
}

void kr_watch_progress(kr_watch_hub_t *h, int64_t rev)
{
    if (rev > h->progress_rev)
        h->progress_rev = rev;
}

int64_t kr_watch_oldest(const kr_watch_hub_t *h, const kr_kind_t *kind)
{
    const wkind_t *wk = wkind_find(h, kind);
    return wk != NULL ? wk->oldest : h->base_rev;
}

void kr_watch_tick(kr_watch_hub_t *h, uint64_t now_ms)
{
    enter(h);
    for (size_t k = 0; k < h->n_kinds; k++) {
        wkind_t *wk = h->kinds[k];
        for (wlink_t *l = wk->watchers.next; l != &wk->watchers; l = l->next) {
            watcher_t *w = (watcher_t *)l;
            if (w->dead)
                continue;
            if (w->phase != W_LIVE) {
                feed(h, w);
                continue;
            }
            if (!w->bookmarks || now_ms < w->next_bookmark)
                continue;
            w->next_bookmark = now_ms + h->bookmark_ms;
            /* a watch from a future revision has nothing to mark yet */
            if (h->progress_rev >= w->pos)
                send_bookmark(h, w, h->progress_rev, false);
        }
    }
    leave(h);
}

void kr_watch_stats(const kr_watch_hub_t *h, kr_watch_stats_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < h->n_kinds; k++) {
        const wkind_t *wk = h->kinds[k];
        for (const wlink_t *l = wk->watchers.next; l != &wk->watchers; l = l->next) {
            const watcher_t *w = (const watcher_t *)l;
            if (w->dead)
                continue;
            out->watchers++;
            if (w->phase != W_LIVE)
                out->catching_up++;
        }
    }
    out->events_published = h->published;
    out->events_sent = h->sent;
    out->expired = h->expired;
}
