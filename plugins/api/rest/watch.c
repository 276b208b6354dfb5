/* Watches over HTTP: a chunked stream of JSON watch events per request.
 *
 * A stream lives on the serving thread of its connection (server.c): its
 * bus watch is on that thread's bus connection, its events are encoded
 * there into the stream's buffer, and MHD, on the same thread, drains the
 * buffer from the content reader, suspending the connection while it is
 * empty; an event resumes it.  So the watches of a gateway are spread over
 * its threads and bus connections, and nothing here needs a lock.
 *
 * Many watchers usually watch the same thing (informers, kubectl -w): an
 * event line is encoded once per thread and shared by every stream that
 * gets the same event in the same format (`enc` below), instead of once per
 * watcher: with 100 watchers of a burst of creates the single encoder of
 * every copy fell behind the broker, which ended every watch with 410.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"

#define STREAM_MAX_BUFFER (16u << 20) /* a client this far behind is cut off */
#define ENC_SLOTS         256         /* recent event lines, direct-mapped by key */

typedef struct stream stream_t;
struct stream {
    rest_watches_t *w;
    struct MHD_Connection *conn;
    kr_buf_t buf;
    size_t off;        /* read position in buf */
    bool ended;        /* no more events: end the HTTP stream once drained */
    bool suspended;    /* the connection waits for data */
    kr_arena_t *arena; /* the request and the table descriptor */
    kr_request_t req;
    const kr_value_t *table_kind;
    rest_table_include_t include;
    uint64_t watch_id;
    uint64_t timer;
    bool watching;
    stream_t *next, *prev; /* w->active */
};

/* One encoded event line and what identifies it: the event type and the
 * object's apiVersion, kind, namespace, name and resourceVersion.  A
 * resourceVersion names one write, and a write reaches every watcher of its
 * object as the same object (only the type differs, when a selector stops
 * or starts matching), so equal keys mean equal lines. */
typedef struct enc_slot {
    uint64_t hash;
    kr_buf_t key;
    kr_buf_t line;
} enc_slot_t;

struct rest_watches {
    rest_loop_t *loop;
    stream_t *active;
    kr_arena_t *scratch;
    kr_buf_t key; /* the key being looked up */
    enc_slot_t enc[ENC_SLOTS];
};

/* ---- streams ---------------------------------------------------------------- */

static kr_bus_t *watches_bus(rest_watches_t *w)
{
    return rest_loop_bus(w->loop);
}

static void wake(stream_t *s)
{
    if (s->suspended) {
        s->suspended = false;
        rest_loop_resume(s->conn);
    }
}

/* Ends the stream from the server's side: the client gets what is
 * buffered, then the end of the chunked stream. */
static void stream_end(stream_t *s)
{
    kr_bus_t *bus = watches_bus(s->w);
    if (s->watching && bus != NULL)
        kr_bus_unwatch(bus, s->watch_id, NULL);
    s->watching = false;
    if (s->timer != 0)
        kr_loop_cancel_timer(rest_loop_loop(s->w->loop), s->timer);
    s->timer = 0;
    s->ended = true;
    wake(s);
}

static void stream_free(stream_t *s)
{
    rest_watches_t *w = s->w;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        w->active = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    kr_buf_free(&s->buf);
    kr_arena_destroy(&s->arena);
    free(s);
}

/* ---- encoding ------------------------------------------------------------- */

/* {"type":...,"object":...} and a newline, as upstream's watch stream;
 * written out rather than built as a map, to spare a tree per line. */
static void put_line(kr_buf_t *out, kr_arena_t *scratch, const char *type, const kr_value_t *obj)
{
    kr_buf_puts(out, "{\"type\":");
    kr_json_encode(kr_value_str(scratch, type), out, KR_JSON_COMPACT, NULL);
    kr_buf_puts(out, ",\"object\":");
    if (obj != NULL)
        kr_json_encode(obj, out, KR_JSON_COMPACT, NULL);
    else
        kr_buf_puts(out, "{}");
    kr_buf_puts(out, "}\n");
}

static void key_part(kr_buf_t *key, const char *s)
{
    kr_buf_append(key, s != NULL ? s : "", s != NULL ? strlen(s) + 1 : 1);
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211u;
    return h;
}

/* The shared line of an ADDED, MODIFIED or DELETED event in plain JSON;
 * NULL when the event has no resourceVersion to name it by. */
static const kr_buf_t *shared_line(rest_watches_t *w, const kr_event_t *ev)
{
    const kr_value_t *meta = kr_value_map_get(ev->obj, "metadata");
    const char *rv = kr_value_map_str(meta, "resourceVersion");
    if (rv == NULL || *rv == '\0')
        return NULL;
    kr_buf_t *key = &w->key;
    kr_buf_reset(key);
    key_part(key, ev->type);
    key_part(key, kr_value_map_str(ev->obj, "apiVersion"));
    key_part(key, kr_value_map_str(ev->obj, "kind"));
    key_part(key, kr_value_map_str(meta, "namespace"));
    key_part(key, kr_value_map_str(meta, "name"));
    key_part(key, rv);
    uint64_t h = fnv1a(key->data, key->len);
    enc_slot_t *e = &w->enc[h % ENC_SLOTS];
    if (e->hash == h && e->key.len == key->len && memcmp(e->key.data, key->data, key->len) == 0)
        return &e->line;
    e->hash = h;
    kr_buf_reset(&e->key);
    kr_buf_append(&e->key, key->data, key->len);
    kr_buf_reset(&e->line);
    put_line(&e->line, w->scratch, ev->type, ev->obj);
    kr_arena_reset(w->scratch);
    return &e->line;
}

/* ---- the bus side ------------------------------------------------------------ */

static void on_event(kr_bus_t *bus, uint64_t watch_id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)watch_id;
    stream_t *s = ud;
    rest_watches_t *w = s->w;
    bool error = strcmp(ev->type, "ERROR") == 0;
    bool overflow = s->buf.len - s->off > STREAM_MAX_BUFFER;
    if (!overflow) {
        bool object_event = !error && strcmp(ev->type, "BOOKMARK") != 0 && ev->obj != NULL;
        const kr_buf_t *line = NULL;
        if (object_event && s->table_kind == NULL)
            line = shared_line(w, ev);
        if (line != NULL) {
            kr_buf_append(&s->buf, line->data, line->len);
        } else {
            const kr_value_t *obj = ev->obj;
            if (object_event && s->table_kind != NULL) {
                kr_error_t err;
                kr_value_t *t = rest_table(w->scratch, s->table_kind, obj, s->include,
                                           (int64_t)time(NULL), &err);
                if (t != NULL)
                    obj = t;
            }
            put_line(&s->buf, w->scratch, ev->type, obj);
            kr_arena_reset(w->scratch);
        }
        wake(s);
    }
    if (error) {
        s->watching = false; /* the bus closed it */
        stream_end(s);
    } else if (overflow) {
        kr_plugin_log(rest_loop_gw(w->loop)->ctx, KR_LOG_WARN,
                      "watch client too slow, stream ended", "res=%s", s->req.res);
        stream_end(s);
    }
}

static void on_timeout(kr_loop_t *loop, uint64_t timer_id, void *ud)
{
    (void)loop;
    (void)timer_id;
    stream_t *s = ud;
    s->timer = 0;
    stream_end(s);
}

/* ---- the MHD side ------------------------------------------------------------ */

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_t *s = cls;
    size_t avail = s->buf.len - s->off;
    if (avail > 0) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, s->buf.data + s->off, n);
        s->off += n;
        if (s->off == s->buf.len) {
            kr_buf_reset(&s->buf);
            s->off = 0;
        }
        return (ssize_t)n;
    }
    if (s->ended)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* nothing to send: park the connection until an event comes */
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    return 0;
}

/* MHD is done with the response: the client went away or got the end. */
static void reader_done(void *cls)
{
    stream_t *s = cls;
    s->suspended = false; /* the connection is gone: never resume it */
    stream_end(s);
    stream_free(s);
}

static const kr_value_t *copy_or_null(kr_arena_t *a, const kr_value_t *v)
{
    return v != NULL ? kr_value_copy(a, v) : NULL;
}

static const char *dup_or_null(kr_arena_t *a, const char *s)
{
    return s != NULL ? kr_arena_strdup(a, s) : NULL;
}

enum MHD_Result rest_watch_start(rest_watches_t *w, struct MHD_Connection *conn,
                                 const kr_request_t *req, const kr_value_t *table_kind,
                                 rest_table_include_t include, uint64_t timeout_ms)
{
    stream_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        abort();
    s->w = w;
    s->conn = conn;
    s->arena = kr_arena_new(4096);
    s->req = (kr_request_t){
        .op = "watch",
        .res = dup_or_null(s->arena, req->res),
        .ns = dup_or_null(s->arena, req->ns),
        .name = dup_or_null(s->arena, req->name),
        .rv = dup_or_null(s->arena, req->rv),
        .opts = copy_or_null(s->arena, req->opts),
        .auth = copy_or_null(s->arena, req->auth),
    };
    s->table_kind = copy_or_null(s->arena, table_kind);
    s->include = include;
    s->next = w->active;
    if (w->active != NULL)
        w->active->prev = s;
    w->active = s;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, reader, s, reader_done);
    if (resp == NULL) {
        stream_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
    kr_error_t err;
    kr_bus_t *bus = watches_bus(w);
    if (bus == NULL) {
        kr_error_set(&err, KR_E_SERVICE_UNAVAILABLE, "the bus is not reachable");
    } else if (kr_bus_watch(bus, &s->req, on_event, s, &s->watch_id, &err) == 0) {
        s->watching = true;
        s->timer = kr_loop_add_timer(rest_loop_loop(w->loop), timeout_ms, 0, on_timeout, s);
    }
    if (!s->watching) {
        put_line(&s->buf, w->scratch, "ERROR", kr_status_new(w->scratch, err.reason, err.message));
        kr_arena_reset(w->scratch);
        s->ended = true;
    }
    enum MHD_Result rc = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp); /* MHD holds it; reader_done frees the stream */
    return rc;
}

rest_watches_t *rest_watches_new(rest_loop_t *loop)
{
    rest_watches_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        abort();
    w->loop = loop;
    w->scratch = kr_arena_new(64 * 1024);
    return w;
}

void rest_watches_end(rest_watches_t *w)
{
    if (w == NULL)
        return;
    for (stream_t *s = w->active; s != NULL; s = s->next)
        stream_end(s);
}

void rest_watches_destroy(rest_watches_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    rest_watches_t *w = *self_p;
    /* MHD has stopped and called reader_done for every stream it held;
     * only a stream whose response was never queued can be left */
    while (w->active != NULL)
        stream_free(w->active);
    for (size_t i = 0; i < ENC_SLOTS; i++) {
        kr_buf_free(&w->enc[i].key);
        kr_buf_free(&w->enc[i].line);
    }
    kr_buf_free(&w->key);
    kr_arena_destroy(&w->scratch);
    free(w);
    *self_p = NULL;
}
