/* Watches over HTTP: a chunked stream of JSON watch events per request.
 *
 * A worker thread starts the stream and hands it to the plugin's loop
 * thread, which holds every watch on the plugin's bus connection.  Events
 * are encoded there into the stream's buffer; MHD's worker drains it from
 * the content reader and suspends the connection when it is empty, and the
 * loop thread resumes it when there is more.  A stream is shared by the
 * two sides and freed when both are done with it (refs).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"

#define STREAM_MAX_BUFFER (16u << 20) /* a client this far behind is cut off */

typedef struct stream stream_t;
struct stream {
    rest_watches_t *w;
    pthread_mutex_t mu; /* guards the fields up to `refs` */
    kr_buf_t buf;
    size_t off;     /* read position in buf */
    bool ended;     /* no more events: end the HTTP stream once drained */
    bool suspended; /* the connection waits for data */
    bool gone;      /* MHD is done with the connection: never touch it */
    int refs;
    struct MHD_Connection *conn;
    /* loop thread only */
    kr_arena_t *arena; /* the request and the table descriptor */
    kr_request_t req;
    const kr_value_t *table_kind;
    rest_table_include_t include;
    uint64_t timeout_ms;
    uint64_t watch_id;
    uint64_t timer;
    bool watching;
    stream_t *next_active, *prev_active;
    /* the hand-over queue, under w->qmu */
    stream_t *next_queued;
    bool queued, want_start, want_stop;
};

struct rest_watches {
    rest_gw_t *gw;
    int efd;
    pthread_mutex_t qmu;
    stream_t *queue;  /* hand-over from workers to the loop */
    stream_t *active; /* loop thread only */
    kr_arena_t *scratch;
};

static void stream_unref(stream_t *s)
{
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left > 0)
        return;
    kr_buf_free(&s->buf);
    kr_arena_destroy(&s->arena);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void enqueue(rest_watches_t *w, stream_t *s, bool stop)
{
    pthread_mutex_lock(&w->qmu);
    if (stop)
        s->want_stop = true;
    else
        s->want_start = true;
    if (!s->queued) {
        s->queued = true;
        s->next_queued = w->queue;
        w->queue = s;
    }
    pthread_mutex_unlock(&w->qmu);
    uint64_t one = 1;
    ssize_t n = write(w->efd, &one, sizeof one);
    (void)n; /* the counter cannot overflow in practice; a full one still wakes */
}

/* Under s->mu: wakes the connection when it waits. */
static void wake_locked(stream_t *s)
{
    if (s->suspended && !s->gone) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

/* Loop thread: ends the stream from the server's side. */
static void stream_end(stream_t *s)
{
    rest_watches_t *w = s->w;
    if (s->watching) {
        kr_bus_unwatch(kr_plugin_bus(w->gw->ctx), s->watch_id, NULL);
        s->watching = false;
    }
    if (s->timer != 0) {
        kr_loop_cancel_timer(kr_plugin_loop(w->gw->ctx), s->timer);
        s->timer = 0;
    }
    pthread_mutex_lock(&s->mu);
    s->ended = true;
    wake_locked(s);
    pthread_mutex_unlock(&s->mu);
}

static void active_remove(rest_watches_t *w, stream_t *s)
{
    if (s->prev_active != NULL)
        s->prev_active->next_active = s->next_active;
    else if (w->active == s)
        w->active = s->next_active;
    if (s->next_active != NULL)
        s->next_active->prev_active = s->prev_active;
    s->next_active = s->prev_active = NULL;
}

/* ---- the loop side ---------------------------------------------------------- */

static void on_event(kr_bus_t *bus, uint64_t watch_id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)watch_id;
    stream_t *s = ud;
    kr_arena_t *a = s->w->scratch;
    const kr_value_t *obj = ev->obj;
    bool error = strcmp(ev->type, "ERROR") == 0;
    if (s->table_kind != NULL && !error && strcmp(ev->type, "BOOKMARK") != 0 && obj != NULL) {
        kr_error_t err;
        kr_value_t *t = rest_table(a, s->table_kind, obj, s->include, (int64_t)time(NULL), &err);
        if (t != NULL)
            obj = t;
    }
    kr_value_t *line = kr_value_map(a);
    kr_value_map_set(a, line, "type", kr_value_str(a, ev->type));
    kr_value_map_set(a, line, "object", obj ? (kr_value_t *)obj : kr_value_map(a));
    pthread_mutex_lock(&s->mu);
    bool overflow = s->buf.len - s->off > STREAM_MAX_BUFFER;
    if (!overflow && !s->gone) {
        kr_json_encode(line, &s->buf, KR_JSON_COMPACT, NULL);
        kr_buf_append(&s->buf, "\n", 1);
        wake_locked(s);
    }
    pthread_mutex_unlock(&s->mu);
    kr_arena_reset(a);
    if (error) {
        s->watching = false; /* the bus closed it */
        stream_end(s);
    } else if (overflow) {
        kr_plugin_log(s->w->gw->ctx, KR_LOG_WARN, "watch client too slow, stream ended", "res=%s",
                      s->req.res);
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

static void start(rest_watches_t *w, stream_t *s)
{
    kr_error_t err;
    pthread_mutex_lock(&s->mu);
    bool gone = s->gone;
    pthread_mutex_unlock(&s->mu);
    if (gone)
        return;
    if (kr_bus_watch(kr_plugin_bus(w->gw->ctx), &s->req, on_event, s, &s->watch_id, &err) < 0) {
        kr_arena_t *a = w->scratch;
        kr_value_t *line = kr_value_map(a);
        kr_value_map_set(a, line, "type", kr_value_str(a, "ERROR"));
        kr_value_map_set(a, line, "object", kr_status_new(a, err.reason, err.message));
        pthread_mutex_lock(&s->mu);
        kr_json_encode(line, &s->buf, KR_JSON_COMPACT, NULL);
        kr_buf_append(&s->buf, "\n", 1);
        pthread_mutex_unlock(&s->mu);
        kr_arena_reset(a);
        stream_end(s);
        return;
    }
    s->watching = true;
    s->timer = kr_loop_add_timer(kr_plugin_loop(w->gw->ctx), s->timeout_ms, 0, on_timeout, s);
}

/* Takes the hand-over queue; `closing` ends what it would start. */
static void drain(rest_watches_t *w, bool closing)
{
    pthread_mutex_lock(&w->qmu);
    stream_t *q = w->queue;
    w->queue = NULL;
    /* the queue is LIFO: reverse it, so streams start in arrival order */
    stream_t *in_order = NULL;
    while (q != NULL) {
        stream_t *next = q->next_queued;
        q->next_queued = in_order;
        q->queued = false;
        in_order = q;
        q = next;
    }
    pthread_mutex_unlock(&w->qmu);
    while (in_order != NULL) {
        stream_t *s = in_order;
        in_order = s->next_queued;
        pthread_mutex_lock(&w->qmu);
        bool do_start = s->want_start, do_stop = s->want_stop;
        s->want_start = s->want_stop = false;
        pthread_mutex_unlock(&w->qmu);
        if (do_start) {
            s->next_active = w->active;
            if (w->active != NULL)
                w->active->prev_active = s;
            w->active = s;
            if (closing)
                stream_end(s);
            else
                start(w, s);
        }
        if (do_stop) {
            stream_end(s);
            active_remove(w, s);
            stream_unref(s); /* the loop's reference */
        }
    }
}

static void on_queue(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)events;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
    drain(ud, false);
}

/* ---- the MHD side ------------------------------------------------------------ */

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_t *s = cls;
    ssize_t n = 0;
    pthread_mutex_lock(&s->mu);
    size_t avail = s->buf.len - s->off;
    if (avail > 0) {
        n = (ssize_t)(avail < max ? avail : max);
        memcpy(buf, s->buf.data + s->off, (size_t)n);
        s->off += (size_t)n;
        if (s->off == s->buf.len) {
            kr_buf_reset(&s->buf);
            s->off = 0;
        }
    } else if (s->ended) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* nothing to send: park the connection until the loop has more */
        s->suspended = true;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void reader_done(void *cls)
{
    stream_t *s = cls;
    pthread_mutex_lock(&s->mu);
    s->gone = true;
    pthread_mutex_unlock(&s->mu);
    enqueue(s->w, s, true);
    stream_unref(s); /* MHD's reference */
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
    pthread_mutex_init(&s->mu, NULL);
    s->w = w;
    s->refs = 2; /* MHD's response and the loop */
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
    s->timeout_ms = timeout_ms;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, reader, s, reader_done);
    if (resp == NULL) {
        s->refs = 1;
        stream_unref(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
    enqueue(w, s, false);
    enum MHD_Result rc = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

rest_watches_t *rest_watches_new(rest_gw_t *gw, kr_error_t *err)
{
    rest_watches_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        abort();
    w->gw = gw;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) {
        kr_error_set(err, KR_E_INTERNAL, "eventfd: %s", strerror(errno));
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->qmu, NULL);
    w->scratch = kr_arena_new(64 * 1024);
    if (kr_loop_add_fd(kr_plugin_loop(gw->ctx), w->efd, KR_LOOP_READ, on_queue, w, err) < 0) {
        kr_arena_destroy(&w->scratch);
        close(w->efd);
        free(w);
        return NULL;
    }
    return w;
}

void rest_watches_end_all(rest_watches_t *w)
{
    if (w == NULL)
        return;
    drain(w, true);
    for (stream_t *s = w->active; s != NULL; s = s->next_active)
        stream_end(s);
}

void rest_watches_destroy(rest_watches_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    rest_watches_t *w = *self_p;
    /* MHD has stopped: every stream's MHD side is done and queued a stop */
    drain(w, true);
    while (w->active != NULL) {
        stream_t *s = w->active;
        active_remove(w, s);
        stream_unref(s);
    }
    kr_loop_remove_fd(kr_plugin_loop(w->gw->ctx), w->efd);
    close(w->efd);
    kr_arena_destroy(&w->scratch);
    pthread_mutex_destroy(&w->qmu);
    free(w);
    *self_p = NULL;
}
