/* The informer (see informer.h and docs/sdk.md): a chained hash table of
 * cached objects keyed by "namespace/name", fed by a paged list and then a
 * watch, on one loop.
 *
 * At any time the informer is doing exactly one of: listing (one list page
 * in flight, the pages collected in `pending`), watching (one watch open),
 * or waiting for its retry timer.  A relist builds `pending` apart and
 * swaps it in at the end, so a list that fails half-way leaves the cache
 * as it was and the handlers see only complete differences.
 *
 * Each cached object lives in an arena of its own with its record and key,
 * sized to fit (they are copied once into a scratch arena to measure them):
 * one allocation per object, and replacing or deleting one object frees
 * exactly its memory.
 *
 * The bus client cannot cancel an async request, so a list page in flight
 * carries a small ticket instead of the informer: destroy orphans the
 * ticket and the reply (or the 504/503 that always comes) frees it.
 */
#include <kraal/informer.h>
#include <kraal/log.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value_internal.h"
#include "xalloc.h"

#define TAG "informer"

#define INF_PAGE_SIZE          500
#define INF_REQUEST_TIMEOUT_MS 30000
#define INF_WATCH_TIMEOUT_MS   300000
#define INF_BACKOFF_BASE_MS    800
#define INF_BACKOFF_MAX_MS     30000
#define INF_KEY_MAX            600 /* namespace (63) + '/' + name (253), with room */

typedef struct inf_obj {
    struct inf_obj *next; /* hash chain */
    uint64_t hash;
    kr_arena_t *arena; /* holds this record, its key and obj */
    kr_value_t *obj;
    const char *rv; /* metadata.resourceVersion, or NULL */
    /* metadata.namespace is the key's first nslen bytes (0: cluster-scoped):
     * a transform may leave it out of obj */
    uint32_t nslen;
    char key[];
} inf_obj_t;

typedef struct inf_table {
    inf_obj_t **b;
    size_t nb; /* power of two, 0 before the first insert */
    size_t n;
} inf_table_t;

typedef struct inf_ticket {
    kr_informer_t *inf; /* NULL once the informer is gone */
} inf_ticket_t;

struct kr_informer {
    kr_loop_t *loop;
    kr_bus_t *bus;
    char *res, *ns, *labels, *fields, *name;
    uint64_t resync_ms;
    unsigned page_size;
    int request_timeout_ms;
    uint64_t watch_timeout_ms, backoff_base_ms, backoff_max_ms;
    kr_informer_error_fn on_error;
    void *error_ud;

    kr_informer_handlers_t *handlers;
    size_t nhandlers;

    inf_table_t cache;

    /* listing */
    inf_table_t pending;
    char *list_rv;        /* resourceVersion of the list's first page */
    char *cont;           /* continue token of the next page */
    bool full_list;       /* no limit: a continue token expired */
    inf_ticket_t *ticket; /* the page in flight */

    /* watching */
    char *rv;
    uint64_t watch_id;
    uint64_t watch_since; /* kr_time_ms() when the watch was opened */
    bool watching;

    uint64_t watch_timer, retry_timer, resync_timer;
    unsigned failures; /* since the last watch event: sets the back-off */
    bool started, synced, in_handler;
    uint64_t rand_state;
    kr_arena_t *scratch; /* requests and measuring copies */
    kr_informer_transform_fn transform;
    void *transform_ud;
    kr_arena_t *tscratch; /* the transform's results, before they are copied */
    kr_informer_stats_t stats;
};

/* ---- hash table ---------------------------------------------------------- */

static inf_obj_t *tbl_find(const inf_table_t *t, const char *key, uint64_t h)
{
    if (t->nb == 0)
        return NULL;
    for (inf_obj_t *o = t->b[h & (t->nb - 1)]; o != NULL; o = o->next)
        if (o->hash == h && strcmp(o->key, key) == 0)
            return o;
    return NULL;
}

static void tbl_insert(inf_table_t *t, inf_obj_t *o)
{
    if (t->n >= t->nb) {
        size_t nb = t->nb ? t->nb * 2 : 64;
        inf_obj_t **b = xcalloc(nb, sizeof *b);
        for (size_t i = 0; i < t->nb; i++) {
            inf_obj_t *p = t->b[i];
            while (p != NULL) {
                inf_obj_t *next = p->next;
                p->next = b[p->hash & (nb - 1)];
                b[p->hash & (nb - 1)] = p;
                p = next;
            }
        }
        free(t->b);
        t->b = b;
        t->nb = nb;
    }
    inf_obj_t **slot = &t->b[o->hash & (t->nb - 1)];
    o->next = *slot;
    *slot = o;
    t->n++;
}

/* Puts `repl` where `old` is (same key); the caller frees old. */
static void tbl_replace(inf_table_t *t, inf_obj_t *old, inf_obj_t *repl)
{
    inf_obj_t **pp = &t->b[old->hash & (t->nb - 1)];
    while (*pp != old)
        pp = &(*pp)->next;
    repl->next = old->next;
    *pp = repl;
}

static void tbl_unlink(inf_table_t *t, inf_obj_t *o)
{
    inf_obj_t **pp = &t->b[o->hash & (t->nb - 1)];
    while (*pp != o)
        pp = &(*pp)->next;
    *pp = o->next;
    t->n--;
}

static void obj_free(inf_obj_t *o)
{
    kr_arena_t *a = o->arena; /* o lives in it */
    kr_arena_destroy(&a);
}

static void tbl_free(inf_table_t *t)
{
    for (size_t i = 0; i < t->nb; i++) {
        inf_obj_t *o = t->b[i];
        while (o != NULL) {
            inf_obj_t *next = o->next;
            obj_free(o);
            o = next;
        }
    }
    free(t->b);
    memset(t, 0, sizeof *t);
}

/* ---- objects ------------------------------------------------------------- */

/* "ns/name", or "name" without a namespace; -1 when it does not fit. */
static int format_key(char *buf, size_t size, const char *ns, const char *name)
{
    int n = ns != NULL && *ns != '\0' ? snprintf(buf, size, "%s/%s", ns, name)
                                      : snprintf(buf, size, "%s", name);
    return n >= 0 && (size_t)n < size ? n : -1;
}

int kr_informer_key(const kr_value_t *obj, char *buf, size_t size)
{
    const kr_value_t *md = kr_value_map_get(obj, "metadata");
    const char *name = kr_value_map_str(md, "name");
    if (name == NULL || *name == '\0' || buf == NULL)
        return -1;
    return format_key(buf, size, kr_value_map_str(md, "namespace"), name);
}

static const char *obj_rv(const kr_value_t *obj)
{
    return kr_value_map_str(kr_value_map_get(obj, "metadata"), "resourceVersion");
}

/* A cache record holding a copy of `src`; NULL when src has no name. */
static inf_obj_t *obj_new(kr_informer_t *inf, const kr_value_t *src)
{
    char key[INF_KEY_MAX];
    int klen = kr_informer_key(src, key, sizeof key);
    if (klen < 0)
        return NULL;
    const char *ns = kr_value_map_str(kr_value_map_get(src, "metadata"), "namespace");
    uint32_t nslen = ns != NULL ? (uint32_t)strlen(ns) : 0;
    if (inf->transform != NULL) {
        kr_arena_reset(inf->tscratch);
        const kr_value_t *t = inf->transform(inf->tscratch, src, inf->transform_ud);
        if (t != NULL)
            src = t;
    }
    /* Measure the record and the tree, then make the same allocations in
     * an arena of exactly that size. */
    size_t osize = sizeof(inf_obj_t) + (size_t)klen + 1;
    kr_arena_reset(inf->scratch);
    kr_arena_alloc(inf->scratch, osize);
    kr_value_copy(inf->scratch, src);
    size_t need = kr_arena_used(inf->scratch);
    kr_arena_reset(inf->scratch);
    kr_arena_t *a = kr_arena_new(need);
    inf_obj_t *o = kr_arena_alloc(a, osize);
    memset(o, 0, sizeof *o);
    memcpy(o->key, key, (size_t)klen + 1);
    o->hash = kr_value_hash(key, (size_t)klen);
    o->arena = a;
    o->nslen = nslen;
    o->obj = kr_value_copy(a, src);
    o->rv = obj_rv(o->obj);
    return o;
}

static bool rv_parse(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* -1, 0, 1 when both are revisions; 2 when they cannot be compared. */
static int rv_cmp(const char *a, const char *b)
{
    uint64_t x, y;
    if (!rv_parse(a, &x) || !rv_parse(b, &y))
        return 2;
    return x < y ? -1 : x > y;
}

static bool same_version(const inf_obj_t *a, const inf_obj_t *b)
{
    if (a->rv != NULL && b->rv != NULL)
        return strcmp(a->rv, b->rv) == 0;
    return kr_value_equal(a->obj, b->obj);
}

static void set_str(char **dst, const char *s)
{
    char *copy = s != NULL ? xstrdup(s) : NULL;
    free(*dst);
    *dst = copy;
}

/* ---- handlers ------------------------------------------------------------ */

static void call_add(kr_informer_t *inf, const kr_value_t *obj)
{
    inf->in_handler = true;
    for (size_t i = 0; i < inf->nhandlers; i++)
        if (inf->handlers[i].on_add != NULL)
            inf->handlers[i].on_add(inf, obj, inf->handlers[i].ud);
    inf->in_handler = false;
}

static void call_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj)
{
    inf->in_handler = true;
    for (size_t i = 0; i < inf->nhandlers; i++)
        if (inf->handlers[i].on_update != NULL)
            inf->handlers[i].on_update(inf, old_obj, new_obj, inf->handlers[i].ud);
    inf->in_handler = false;
}

static void call_delete(kr_informer_t *inf, const kr_value_t *obj)
{
    inf->in_handler = true;
    for (size_t i = 0; i < inf->nhandlers; i++)
        if (inf->handlers[i].on_delete != NULL)
            inf->handlers[i].on_delete(inf, obj, inf->handlers[i].ud);
    inf->in_handler = false;
}

/* ---- failures and back-off ----------------------------------------------- */

static void list_begin(kr_informer_t *inf);

static void on_retry(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    kr_informer_t *inf = ud;
    inf->retry_timer = 0;
    list_begin(inf);
}

static uint64_t next_rand(kr_informer_t *inf)
{
    uint64_t x = inf->rand_state; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    inf->rand_state = x;
    return x;
}

/* base * 2^failures, capped, minus up to a quarter of jitter so that many
 * informers failing together do not come back together. */
static uint64_t backoff_next(kr_informer_t *inf)
{
    uint64_t d = inf->backoff_base_ms;
    for (unsigned i = 0; i < inf->failures && d < inf->backoff_max_ms; i++)
        d *= 2;
    if (d > inf->backoff_max_ms)
        d = inf->backoff_max_ms;
    if (d >= 4)
        d -= next_rand(inf) % (d / 4);
    return d;
}

/* The list or the watch failed: relist after a back-off, or at once after
 * a first Expired (a watch that falls out of the window is normal; one
 * that keeps failing right after a list is not, and backs off). */
static void failed(kr_informer_t *inf, bool expired, kr_reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void failed(kr_informer_t *inf, bool expired, kr_reason_t reason, const char *fmt, ...)
{
    kr_error_t err;
    err.reason = reason == KR_E_OK ? KR_E_INTERNAL : reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    uint64_t delay = expired && inf->failures == 0 ? 0 : backoff_next(inf);
    inf->failures++;
    inf->stats.failures++;
    /* The message goes in msg, which the logger quotes and escapes. */
    kr_log(expired ? KR_LOG_INFO : KR_LOG_WARN, TAG, err.message,
           "informer=\"%s\" reason=%s retry_ms=%" PRIu64, inf->name, kr_reason_name(err.reason),
           delay);
    if (inf->on_error != NULL) {
        inf->in_handler = true;
        inf->on_error(inf, &err, delay, inf->error_ud);
        inf->in_handler = false;
    }
    if (inf->retry_timer != 0)
        kr_loop_cancel_timer(inf->loop, inf->retry_timer);
    inf->retry_timer = kr_loop_add_timer(inf->loop, delay, 0, on_retry, inf);
}

/* ---- watch --------------------------------------------------------------- */

static void watch_begin(kr_informer_t *inf);

static void watch_stop_timer(kr_informer_t *inf)
{
    if (inf->watch_timer != 0) {
        kr_loop_cancel_timer(inf->loop, inf->watch_timer);
        inf->watch_timer = 0;
    }
}

static void on_watch_timeout(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    kr_informer_t *inf = ud;
    inf->watch_timer = 0;
    if (!inf->watching)
        return;
    kr_bus_unwatch(inf->bus, inf->watch_id, NULL);
    inf->watching = false;
    inf->failures = 0;
    watch_begin(inf);
}

static void apply_event(kr_informer_t *inf, bool deleted, const kr_value_t *obj)
{
    const char *rv = obj_rv(obj);
    char key[INF_KEY_MAX];
    int klen = kr_informer_key(obj, key, sizeof key);
    if (klen < 0) {
        KR_WARN(TAG, "dropped a watch event without metadata.name", "informer=\"%s\"", inf->name);
        return;
    }
    inf_obj_t *old = tbl_find(&inf->cache, key, kr_value_hash(key, (size_t)klen));
    if (deleted) {
        /* A delete older than the cached state is of an earlier incarnation. */
        if (old != NULL && rv_cmp(rv, old->rv) != -1) {
            tbl_unlink(&inf->cache, old);
            call_delete(inf, obj);
            obj_free(old);
        }
    } else if (old == NULL) {
        inf_obj_t *o = obj_new(inf, obj);
        tbl_insert(&inf->cache, o);
        call_add(inf, o->obj);
    } else if (rv_cmp(rv, old->rv) == 1 || rv_cmp(rv, old->rv) == 2) {
        inf_obj_t *o = obj_new(inf, obj);
        tbl_replace(&inf->cache, old, o);
        call_update(inf, old->obj, o->obj);
        obj_free(old);
    }
    inf->stats.events++;
}

static void on_event(kr_bus_t *bus, uint64_t watch_id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    kr_informer_t *inf = ud;
    if (!inf->watching || watch_id != inf->watch_id)
        return;
    const char *type = ev->type;
    if (strcmp(type, "ERROR") == 0) {
        inf->watching = false;
        watch_stop_timer(inf);
        /* A watch that stayed up longer than the back-off cap was healthy:
         * its end starts a new series of failures. */
        if (kr_time_ms() - inf->watch_since >= inf->backoff_max_ms)
            inf->failures = 0;
        int64_t code = kr_value_map_int(ev->obj, "code", 500);
        const char *rs = kr_value_map_str(ev->obj, "reason");
        const char *msg = kr_value_map_str(ev->obj, "message");
        kr_reason_t reason = rs != NULL ? kr_reason_from_name(rs) : kr_reason_from_code((int)code);
        bool expired = code == 410 || reason == KR_E_EXPIRED || reason == KR_E_GONE;
        failed(inf, expired, reason, "watch of %s: %s", inf->res,
               msg != NULL ? msg : kr_strerror(reason));
        return;
    }
    if (strcmp(type, "BOOKMARK") == 0) {
        const char *rv = obj_rv(ev->obj);
        if (rv != NULL)
            set_str(&inf->rv, rv);
        inf->stats.bookmarks++;
        inf->failures = 0;
        return;
    }
    bool deleted = strcmp(type, "DELETED") == 0;
    if (!deleted && strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0) {
        KR_WARN(TAG, "dropped a watch event of unknown type", "informer=\"%s\" type=\"%s\"",
                inf->name, type);
        return;
    }
    if (kr_value_type(ev->obj) != KR_MAP) {
        KR_WARN(TAG, "dropped a watch event without an object", "informer=\"%s\" type=%s",
                inf->name, type);
        return;
    }
    inf->failures = 0;
    apply_event(inf, deleted, ev->obj);
    const char *rv = obj_rv(ev->obj);
    if (rv != NULL)
        set_str(&inf->rv, rv);
}

/* Selectors as the API takes them in opts; NULL when there are none. */
static kr_value_t *selector_opts(kr_informer_t *inf)
{
    kr_arena_t *a = inf->scratch;
    kr_value_t *opts = kr_value_map(a);
    if (inf->labels != NULL)
        kr_value_map_set(a, opts, "labelSelector", kr_value_str(a, inf->labels));
    if (inf->fields != NULL)
        kr_value_map_set(a, opts, "fieldSelector", kr_value_str(a, inf->fields));
    return opts;
}

static void watch_begin(kr_informer_t *inf)
{
    kr_arena_reset(inf->scratch);
    kr_value_t *opts = selector_opts(inf);
    kr_value_map_set(inf->scratch, opts, "allowWatchBookmarks", kr_value_bool(inf->scratch, true));
    kr_request_t req = {.res = inf->res, .ns = inf->ns, .rv = inf->rv, .opts = opts};
    kr_error_t err;
    if (kr_bus_watch(inf->bus, &req, on_event, inf, &inf->watch_id, &err) < 0) {
        failed(inf, false, err.reason, "watch of %s: %s", inf->res, err.message);
        return;
    }
    inf->watching = true;
    inf->watch_since = kr_time_ms();
    inf->stats.watches++;
    /* 1x to 2x the timeout, like client-go's watch timeoutSeconds, so that
     * many informers do not all restart at once. */
    uint64_t t = inf->watch_timeout_ms + next_rand(inf) % inf->watch_timeout_ms;
    inf->watch_timer = kr_loop_add_timer(inf->loop, t, 0, on_watch_timeout, inf);
}

/* ---- list ---------------------------------------------------------------- */

/* Makes the cache what the list said, telling the handlers the difference:
 * deletes first, then adds and updates. */
static void replace_cache(kr_informer_t *inf)
{
    inf_table_t *c = &inf->cache;
    for (size_t i = 0; i < c->nb; i++) {
        inf_obj_t **pp = &c->b[i];
        while (*pp != NULL) {
            inf_obj_t *o = *pp;
            if (tbl_find(&inf->pending, o->key, o->hash) != NULL) {
                pp = &o->next;
                continue;
            }
            *pp = o->next;
            c->n--;
            call_delete(inf, o->obj);
            obj_free(o);
        }
    }
    inf_table_t p = inf->pending;
    memset(&inf->pending, 0, sizeof inf->pending);
    for (size_t i = 0; i < p.nb; i++) {
        inf_obj_t *o = p.b[i];
        while (o != NULL) {
            inf_obj_t *next = o->next;
            inf_obj_t *old = tbl_find(c, o->key, o->hash);
            if (old == NULL) {
                tbl_insert(c, o);
                call_add(inf, o->obj);
            } else if (same_version(old, o)) {
                obj_free(o);
            } else {
                tbl_replace(c, old, o);
                call_update(inf, old->obj, o->obj);
                obj_free(old);
            }
            o = next;
        }
    }
    free(p.b);
}

static void list_finish(kr_informer_t *inf)
{
    set_str(&inf->rv, inf->list_rv);
    replace_cache(inf);
    inf->synced = true;
    inf->stats.lists++;
    watch_begin(inf);
}

static void send_page(kr_informer_t *inf);

static void on_list_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    inf_ticket_t *t = ud;
    kr_informer_t *inf = t->inf;
    free(t);
    if (inf == NULL)
        return; /* destroyed meanwhile */
    inf->ticket = NULL;
    if (r->code == 410 && inf->cont != NULL) {
        /* The snapshot behind the continue token is gone: list again, whole
         * (client-go's pager does the same). */
        KR_INFO(TAG, "continue token expired, listing without paging", "informer=\"%s\"",
                inf->name);
        tbl_free(&inf->pending);
        set_str(&inf->list_rv, NULL);
        set_str(&inf->cont, NULL);
        inf->full_list = true;
        send_page(inf);
        return;
    }
    if (r->code != 200) {
        failed(inf, false, r->reason, "list of %s: %s", inf->res,
               r->message != NULL ? r->message : kr_strerror(r->reason));
        return;
    }
    const kr_value_t *items = kr_value_map_get(r->obj, "items");
    const kr_value_t *md = kr_value_map_get(r->obj, "metadata");
    const char *rv = kr_value_map_str(md, "resourceVersion");
    if (kr_value_type(items) != KR_ARRAY && kr_value_type(items) != KR_NULL) {
        failed(inf, false, KR_E_INTERNAL, "list of %s: the reply's items is not a list", inf->res);
        return;
    }
    if (inf->list_rv == NULL) {
        if (rv == NULL || *rv == '\0') {
            failed(inf, false, KR_E_INTERNAL, "list of %s: the reply has no resourceVersion",
                   inf->res);
            return;
        }
        set_str(&inf->list_rv, rv);
    }
    inf->stats.pages++;
    for (size_t i = 0; i < kr_value_len(items); i++) {
        inf_obj_t *o = obj_new(inf, kr_value_array_get(items, i));
        if (o == NULL) {
            KR_WARN(TAG, "dropped a listed object without metadata.name", "informer=\"%s\"",
                    inf->name);
            continue;
        }
        inf_obj_t *dup = tbl_find(&inf->pending, o->key, o->hash);
        if (dup != NULL) {
            tbl_replace(&inf->pending, dup, o);
            obj_free(dup);
        } else {
            tbl_insert(&inf->pending, o);
        }
    }
    const char *cont = kr_value_map_str(md, "continue");
    if (cont != NULL && *cont != '\0') {
        set_str(&inf->cont, cont);
        send_page(inf);
        return;
    }
    set_str(&inf->cont, NULL);
    list_finish(inf);
}

static void send_page(kr_informer_t *inf)
{
    kr_arena_reset(inf->scratch);
    kr_arena_t *a = inf->scratch;
    kr_value_t *opts = selector_opts(inf);
    if (!inf->full_list)
        kr_value_map_set(a, opts, "limit", kr_value_int(a, inf->page_size));
    if (inf->cont != NULL)
        kr_value_map_set(a, opts, "continue", kr_value_str(a, inf->cont));
    kr_request_t req = {.op = "list", .res = inf->res, .ns = inf->ns, .opts = opts};
    inf_ticket_t *t = xcalloc(1, sizeof *t);
    t->inf = inf;
    kr_error_t err;
    if (kr_bus_send(inf->bus, &req, on_list_reply, t, inf->request_timeout_ms, NULL, &err) < 0) {
        free(t);
        failed(inf, false, err.reason, "list of %s: %s", inf->res, err.message);
        return;
    }
    inf->ticket = t;
}

static void list_begin(kr_informer_t *inf)
{
    tbl_free(&inf->pending);
    set_str(&inf->list_rv, NULL);
    set_str(&inf->cont, NULL);
    inf->full_list = false;
    send_page(inf);
}

/* ---- resync -------------------------------------------------------------- */

static void on_resync(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    kr_informer_t *inf = ud;
    if (!inf->synced)
        return;
    inf->stats.resyncs++;
    const inf_table_t *c = &inf->cache;
    for (size_t i = 0; i < c->nb; i++)
        for (const inf_obj_t *o = c->b[i]; o != NULL; o = o->next)
            call_update(inf, o->obj, o->obj);
}

/* ---- public -------------------------------------------------------------- */

static char *dup_opt(const char *s)
{
    return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

kr_informer_t *kr_informer_new(kr_loop_t *loop, kr_bus_t *bus, const kr_informer_opts_t *opts,
                               kr_error_t *err)
{
    if (loop == NULL || bus == NULL) {
        kr_error_set(err, KR_E_INVALID, "informer: a loop and a bus connection are required");
        return NULL;
    }
    if (opts == NULL || opts->res == NULL || *opts->res == '\0') {
        kr_error_set(err, KR_E_INVALID, "informer: res is required (e.g. \"v1/pods\")");
        return NULL;
    }
    if (opts->request_timeout_ms < 0) {
        kr_error_set(err, KR_E_INVALID, "informer %s: request_timeout_ms must be >= 0", opts->res);
        return NULL;
    }
    kr_informer_t *inf = xcalloc(1, sizeof *inf);
    inf->loop = loop;
    inf->bus = bus;
    inf->res = xstrdup(opts->res);
    inf->ns = dup_opt(opts->ns);
    inf->labels = dup_opt(opts->label_selector);
    inf->fields = dup_opt(opts->field_selector);
    inf->name = xstrdup(opts->name != NULL && *opts->name != '\0' ? opts->name : opts->res);
    inf->resync_ms = opts->resync_ms;
    inf->page_size = opts->page_size ? opts->page_size : INF_PAGE_SIZE;
    inf->request_timeout_ms =
        opts->request_timeout_ms ? opts->request_timeout_ms : INF_REQUEST_TIMEOUT_MS;
    inf->watch_timeout_ms = opts->watch_timeout_ms ? opts->watch_timeout_ms : INF_WATCH_TIMEOUT_MS;
    inf->backoff_base_ms = opts->backoff_base_ms ? opts->backoff_base_ms : INF_BACKOFF_BASE_MS;
    inf->backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : INF_BACKOFF_MAX_MS;
    if (inf->backoff_max_ms < inf->backoff_base_ms)
        inf->backoff_max_ms = inf->backoff_base_ms;
    inf->on_error = opts->on_error;
    inf->error_ud = opts->error_ud;
    inf->rand_state = (kr_time_ms() ^ (uint64_t)(uintptr_t)inf) | 1;
    inf->scratch = kr_arena_new(0);
    const kr_informer_handlers_t *h = &opts->handlers;
    if (h->on_add != NULL || h->on_update != NULL || h->on_delete != NULL) {
        inf->handlers = xmalloc(sizeof *inf->handlers);
        inf->handlers[0] = *h;
        inf->nhandlers = 1;
    }
    return inf;
}

int kr_informer_set_transform(kr_informer_t *inf, kr_informer_transform_fn fn, void *ud,
                              kr_error_t *err)
{
    if (inf->started)
        return kr_error_set(err, KR_E_ALREADY_EXISTS,
                            "informer \"%s\": the transform is set before the start", inf->name);
    inf->transform = fn;
    inf->transform_ud = ud;
    if (fn != NULL && inf->tscratch == NULL)
        inf->tscratch = kr_arena_new(0);
    return 0;
}

void kr_informer_destroy(kr_informer_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_informer_t *inf = *self_p;
    if (inf->watching)
        kr_bus_unwatch(inf->bus, inf->watch_id, NULL);
    if (inf->ticket != NULL)
        inf->ticket->inf = NULL;
    watch_stop_timer(inf);
    if (inf->retry_timer != 0)
        kr_loop_cancel_timer(inf->loop, inf->retry_timer);
    if (inf->resync_timer != 0)
        kr_loop_cancel_timer(inf->loop, inf->resync_timer);
    tbl_free(&inf->cache);
    tbl_free(&inf->pending);
    free(inf->res);
    free(inf->ns);
    free(inf->labels);
    free(inf->fields);
    free(inf->name);
    free(inf->list_rv);
    free(inf->cont);
    free(inf->rv);
    free(inf->handlers);
    kr_arena_destroy(&inf->scratch);
    kr_arena_destroy(&inf->tscratch);
    free(inf);
    *self_p = NULL;
}

int kr_informer_add_handlers(kr_informer_t *inf, const kr_informer_handlers_t *h, kr_error_t *err)
{
    if (h == NULL)
        return kr_error_set(err, KR_E_INVALID, "informer %s: no handlers given", inf->name);
    if (inf->in_handler)
        return kr_error_set(err, KR_E_INVALID,
                            "informer %s: handlers cannot be added from inside a handler",
                            inf->name);
    inf->handlers = xrealloc(inf->handlers, (inf->nhandlers + 1) * sizeof *inf->handlers);
    inf->handlers[inf->nhandlers++] = *h;
    if (h->on_add != NULL) {
        inf->in_handler = true;
        const inf_table_t *c = &inf->cache;
        for (size_t i = 0; i < c->nb; i++)
            for (const inf_obj_t *o = c->b[i]; o != NULL; o = o->next)
                h->on_add(inf, o->obj, h->ud);
        inf->in_handler = false;
    }
    return 0;
}

int kr_informer_start(kr_informer_t *inf, kr_error_t *err)
{
    if (inf->started)
        return kr_error_set(err, KR_E_ALREADY_EXISTS, "informer %s: already started", inf->name);
    inf->started = true;
    if (inf->resync_ms > 0)
        inf->resync_timer =
            kr_loop_add_timer(inf->loop, inf->resync_ms, inf->resync_ms, on_resync, inf);
    list_begin(inf);
    return 0;
}

bool kr_informer_has_synced(const kr_informer_t *inf)
{
    return inf->synced;
}

const kr_value_t *kr_informer_get_key(const kr_informer_t *inf, const char *key)
{
    if (key == NULL)
        return NULL;
    const inf_obj_t *o = tbl_find(&inf->cache, key, kr_value_hash(key, strlen(key)));
    return o != NULL ? o->obj : NULL;
}

const kr_value_t *kr_informer_get(const kr_informer_t *inf, const char *ns, const char *name)
{
    if (name == NULL)
        return NULL;
    char key[INF_KEY_MAX];
    if (format_key(key, sizeof key, ns, name) < 0)
        return NULL;
    return kr_informer_get_key(inf, key);
}

size_t kr_informer_len(const kr_informer_t *inf)
{
    return inf->cache.n;
}

size_t kr_informer_each(const kr_informer_t *inf, const char *ns, kr_informer_each_fn fn, void *ud)
{
    size_t n = 0;
    const inf_table_t *c = &inf->cache;
    for (size_t i = 0; i < c->nb; i++) {
        for (const inf_obj_t *o = c->b[i]; o != NULL; o = o->next) {
            if (ns != NULL && (strlen(ns) != o->nslen || memcmp(ns, o->key, o->nslen) != 0))
                continue;
            n++;
            if (!fn(o->obj, ud))
                return n;
        }
    }
    return n;
}

const char *kr_informer_resource_version(const kr_informer_t *inf)
{
    return inf->rv;
}

void kr_informer_stats(const kr_informer_t *inf, kr_informer_stats_t *out)
{
    *out = inf->stats;
}
