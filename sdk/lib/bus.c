/* The bus client: one DEALER socket per kr_bus_t (see bus.h, bus_wire.h and
 * docs/bus.md).
 *
 * Replies are matched to requests by id through a hash table; async
 * timeouts sit in a min-heap so that each message costs O(1) and each
 * timeout O(log n).  Messages that arrive while a synchronous call waits
 * for its own reply are queued in an inbox and dispatched later, in order.
 */
#include <kraal/bus.h>
#include <kraal/log.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <zmq.h>

#include "bus_wire.h"
#include "heap.h"
#include "xalloc.h"

#define TAG "bus"

#define BUS_HWM         1000
#define BUS_SNDTIMEO_MS 10000 /* a send blocks at most this long on a full pipe */
#define BUS_BATCH       256   /* messages dispatched per loop iteration */

/* ---- process-wide context ---------------------------------------------- */

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static void *volatile zctx;

void *kr_bus_zmq_context(void)
{
    void *c = __atomic_load_n(&zctx, __ATOMIC_ACQUIRE);
    if (c != NULL)
        return c;
    pthread_mutex_lock(&ctx_lock);
    if (zctx == NULL) {
        c = zmq_ctx_new();
        if (c != NULL) {
            /* Broker + clients are many sockets but little I/O per socket. */
            zmq_ctx_set(c, ZMQ_MAX_SOCKETS, 65536);
            zmq_ctx_set(c, ZMQ_BLOCKY, 0);
        }
        __atomic_store_n(&zctx, c, __ATOMIC_RELEASE);
    }
    c = zctx;
    pthread_mutex_unlock(&ctx_lock);
    return c;
}

void kr_bus_shutdown(void)
{
    pthread_mutex_lock(&ctx_lock);
    void *c = zctx;
    __atomic_store_n(&zctx, NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ctx_lock);
    if (c != NULL)
        zmq_ctx_term(c);
}

/* ---- CURVE keys for tcp ------------------------------------------------- */

static struct {
    bool on;
    char server[41], pub[41], sec[41];
} curve;

static bool z85_key(const char *s)
{
    uint8_t raw[32];
    return s != NULL && strlen(s) == 40 && zmq_z85_decode(raw, s) != NULL;
}

int kr_bus_set_curve(const char *server_key, const char *public_key, const char *secret_key,
                     kr_error_t *err)
{
    if (server_key != NULL &&
        (!z85_key(server_key) || !z85_key(public_key) || !z85_key(secret_key)))
        return kr_error_set(err, KR_E_INVALID,
                            "bus: a CURVE key is 40 characters of Z85 (zmq_curve_keypair)");
    pthread_mutex_lock(&ctx_lock);
    curve.on = server_key != NULL;
    if (curve.on) {
        memcpy(curve.server, server_key, 41);
        memcpy(curve.pub, public_key, 41);
        memcpy(curve.sec, secret_key, 41);
    } else {
        explicit_bzero(curve.sec, sizeof curve.sec);
    }
    pthread_mutex_unlock(&ctx_lock);
    return 0;
}

/* ---- state ------------------------------------------------------------- */

enum { P_ASYNC, P_WATCH };

typedef struct bus_pending {
    struct bus_pending *hnext;
    uint64_t id;
    int kind;
    kr_reply_fn rfn;
    kr_event_fn efn;
    void *ud;
    kr_heap_node_t timeout; /* key = deadline, seq = id; only with a timeout */
    int timeout_ms;
} bus_pending_t;

typedef struct inmsg {
    struct inmsg *next;
    int n;
    zmq_msg_t parts[3];
} inmsg_t;

typedef struct serve_entry {
    struct serve_entry *next;
    char *op, *res; /* res NULL = any */
    kr_handler_fn fn;
    void *ud;
} serve_entry_t;

struct kr_call {
    struct kr_call *hnext; /* in bus->kept */
    kr_bus_t *bus;
    kr_arena_t *arena;
    kr_value_t *msg;
    const char *op;
    uint64_t id;
    bool in_handler, kept, answered, in_table, is_watch;
    kr_cancel_fn cancel;
    void *cancel_ud;
    uint8_t rid_len;
    uint8_t rid[255];
};

struct kr_bus {
    void *sock;
    uint64_t next_id;
    kr_arena_t *scratch;
    kr_buf_t out;

    bus_pending_t **pend;
    size_t pend_cap, pend_len;
    kr_heap_t heap;

    inmsg_t *inbox_head, *inbox_tail;
    size_t inbox_len;

    serve_entry_t *serves;
    kr_call_t **kept;
    size_t kept_cap;

    int rcvtimeo; /* current ZMQ_RCVTIMEO */
    kr_loop_t *loop;
    int fd;
    uint64_t prep_id, timer_id, timer_deadline;

    /* ipc:// and tcp://: a monitor of the connection (a PAIR socket fed by
     * zmq_socket_monitor), so that a lost broker ends our watches and
     * requests at once and a new one gets our ops again; NULL on inproc:// */
    void *mon;
    int mon_fd;
    bool lost;
};

/* ---- pending table and timeout heap ------------------------------------ */

static void pend_grow(kr_bus_t *bus)
{
    size_t cap = bus->pend_cap ? bus->pend_cap * 2 : 256;
    bus_pending_t **t = xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < bus->pend_cap; i++) {
        bus_pending_t *p = bus->pend[i];
        while (p) {
            bus_pending_t *next = p->hnext;
            p->hnext = t[p->id & (cap - 1)];
            t[p->id & (cap - 1)] = p;
            p = next;
        }
    }
    free(bus->pend);
    bus->pend = t;
    bus->pend_cap = cap;
}

static void pend_add(kr_bus_t *bus, bus_pending_t *p)
{
    if (bus->pend_len + 1 > bus->pend_cap)
        pend_grow(bus);
    size_t s = p->id & (bus->pend_cap - 1);
    p->hnext = bus->pend[s];
    bus->pend[s] = p;
    bus->pend_len++;
}

static bus_pending_t *pend_find(kr_bus_t *bus, uint64_t id)
{
    if (bus->pend_cap == 0)
        return NULL;
    for (bus_pending_t *p = bus->pend[id & (bus->pend_cap - 1)]; p; p = p->hnext)
        if (p->id == id)
            return p;
    return NULL;
}

#define PENDING_OF(n) KR_CONTAINER_OF(n, bus_pending_t, timeout)

/* Removes p from the table and the heap; caller frees it. */
static void pend_remove(kr_bus_t *bus, bus_pending_t *p)
{
    bus_pending_t **pp = &bus->pend[p->id & (bus->pend_cap - 1)];
    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
    bus->pend_len--;
    if (kr_heap_in(&p->timeout))
        kr_heap_remove(&bus->heap, &p->timeout);
}

/* ---- kept calls (for cancels) ------------------------------------------ */

static size_t call_slot(const kr_bus_t *bus, const uint8_t *rid, size_t len, uint64_t id)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ id;
    for (size_t i = 0; i < len; i++) {
        h ^= rid[i];
        h *= 0x100000001b3ULL;
    }
    return (size_t)(h ^ (h >> 29)) & (bus->kept_cap - 1);
}

static void kept_add(kr_bus_t *bus, kr_call_t *c)
{
    if (bus->kept_cap == 0) {
        bus->kept_cap = 1024;
        bus->kept = xcalloc(bus->kept_cap, sizeof *bus->kept);
    }
    size_t s = call_slot(bus, c->rid, c->rid_len, c->id);
    c->hnext = bus->kept[s];
    bus->kept[s] = c;
    c->in_table = true;
}

static kr_call_t *kept_find(kr_bus_t *bus, const void *rid, size_t len, uint64_t id)
{
    if (bus->kept_cap == 0 || len > 255)
        return NULL;
    for (kr_call_t *c = bus->kept[call_slot(bus, rid, len, id)]; c; c = c->hnext)
        if (c->id == id && c->rid_len == len && memcmp(c->rid, rid, len) == 0)
            return c;
    return NULL;
}

static void call_free(kr_call_t *c)
{
    if (c->in_table) {
        kr_bus_t *bus = c->bus;
        kr_call_t **pp = &bus->kept[call_slot(bus, c->rid, c->rid_len, c->id)];
        while (*pp != c)
            pp = &(*pp)->hnext;
        *pp = c->hnext;
    }
    kr_arena_destroy(&c->arena);
    free(c);
}

/* ---- connect / destroy ------------------------------------------------- */

static int set_int(void *sock, int opt, int v)
{
    return zmq_setsockopt(sock, opt, &v, sizeof v);
}

static void on_mon_fd(kr_loop_t *loop, int fd, uint32_t events, void *ud);

/* Watches the connection.  The monitor is set up after zmq_connect: its
 * first CONNECTED event may then be missed, which only means a first
 * connection is not told apart from a later one until the next event. */
static int monitor_open(kr_bus_t *bus, void *ctx, kr_error_t *err)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://kraal-bus-monitor-%p", (void *)bus);
    if (zmq_socket_monitor(bus->sock, ep, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) != 0)
        return kr_error_set(err, KR_E_INTERNAL, "bus: zmq_socket_monitor: %s", zmq_strerror(errno));
    bus->mon = zmq_socket(ctx, ZMQ_PAIR);
    if (bus->mon == NULL || zmq_connect(bus->mon, ep) != 0)
        return kr_error_set(err, KR_E_INTERNAL, "bus: the connection monitor: %s",
                            zmq_strerror(errno));
    set_int(bus->mon, ZMQ_LINGER, 0);
    return 0;
}

kr_bus_t *kr_bus_connect(const char *endpoint, kr_error_t *err)
{
    if (endpoint == NULL ||
        (strncmp(endpoint, "inproc://", 9) != 0 && strncmp(endpoint, "ipc://", 6) != 0 &&
         strncmp(endpoint, "tcp://", 6) != 0)) {
        kr_error_set(err, KR_E_INVALID,
                     "bus endpoint \"%s\": must start with inproc://, ipc:// or tcp://",
                     endpoint ? endpoint : "");
        return NULL;
    }
    void *ctx = kr_bus_zmq_context();
    if (ctx == NULL) {
        kr_error_set(err, KR_E_INTERNAL, "bus: cannot create the ZeroMQ context");
        return NULL;
    }
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    if (sock == NULL) {
        kr_error_set(err, KR_E_INTERNAL, "bus: zmq_socket(DEALER): %s", zmq_strerror(errno));
        return NULL;
    }
    set_int(sock, ZMQ_SNDHWM, BUS_HWM);
    set_int(sock, ZMQ_RCVHWM, BUS_HWM);
    set_int(sock, ZMQ_SNDTIMEO, BUS_SNDTIMEO_MS);
    set_int(sock, ZMQ_LINGER, 200);
    set_int(sock, ZMQ_HEARTBEAT_IVL, 2000);
    set_int(sock, ZMQ_HEARTBEAT_TIMEOUT, 6000);
    set_int(sock, ZMQ_HEARTBEAT_TTL, 6000);
    if (strncmp(endpoint, "tcp://", 6) == 0) {
        pthread_mutex_lock(&ctx_lock);
        if (curve.on) {
            zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, curve.server, 40);
            zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, curve.pub, 40);
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, curve.sec, 40);
        }
        pthread_mutex_unlock(&ctx_lock);
    }
    if (zmq_connect(sock, endpoint) != 0) {
        kr_error_set(err, KR_E_INVALID, "bus: cannot connect to %s: %s", endpoint,
                     zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
    kr_bus_t *bus = xcalloc(1, sizeof *bus);
    bus->sock = sock;
    bus->scratch = kr_arena_new(0);
    bus->fd = -1;
    bus->mon_fd = -1;
    bus->rcvtimeo = -1;
    if (strncmp(endpoint, "inproc://", 9) != 0 && monitor_open(bus, ctx, err) < 0) {
        kr_bus_destroy(&bus);
        return NULL;
    }
    return bus;
}

static void reply_from_msg(kr_reply_t *reply, const kr_value_t *msg);
static void deliver_watch_end(kr_bus_t *bus, bus_pending_t *p, kr_reason_t reason,
                              const char *message);

/* Ends every request in flight (503) and every watch (ERROR 503).  The
 * callbacks may send new requests: those are not ended (the set is taken
 * before the first callback runs). */
static void fail_pending(kr_bus_t *bus, const char *message)
{
    if (bus->pend_len == 0)
        return;
    size_t n = 0;
    bus_pending_t **all = xmalloc(bus->pend_len * sizeof *all);
    for (size_t i = 0; i < bus->pend_cap; i++)
        for (bus_pending_t *p = bus->pend[i]; p != NULL; p = p->hnext)
            all[n++] = p;
    for (size_t i = 0; i < n; i++)
        pend_remove(bus, all[i]);
    for (size_t i = 0; i < n; i++) {
        bus_pending_t *p = all[i];
        if (p->kind == P_ASYNC) {
            kr_reply_t r = {.code = 503, .reason = KR_E_SERVICE_UNAVAILABLE, .message = message};
            p->rfn(bus, &r, p->ud);
        } else {
            deliver_watch_end(bus, p, KR_E_SERVICE_UNAVAILABLE, message);
        }
        kr_arena_reset(bus->scratch);
        free(p);
    }
    free(all);
}

static void on_reserved(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    char *op = ud;
    if (reply->code != 200)
        KR_WARN(TAG, "cannot serve an op again after a reconnection", "op=%s error=\"%s\"", op,
                reply->message ? reply->message : "");
    free(op);
}

/* Reads the connection monitor: a lost connection ends what is pending
 * (the broker that was to answer is gone, and a restarted one knows none
 * of it), and the connection after a loss tells the broker again which
 * ops we serve. */
static void monitor_poll(kr_bus_t *bus)
{
    if (bus->mon == NULL)
        return;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, bus->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&part) >= sizeof event)
            memcpy(&event, zmq_msg_data(&part), sizeof event);
        bool more = zmq_msg_more(&part);
        zmq_msg_close(&part);
        while (more) { /* the endpoint frame */
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, bus->mon, 0) < 0)
                more = false;
            else
                more = zmq_msg_more(&part);
            zmq_msg_close(&part);
        }
        if (event == ZMQ_EVENT_DISCONNECTED) {
            bus->lost = true;
            fail_pending(bus, "the connection to the server was lost");
        } else if (event == ZMQ_EVENT_CONNECTED) {
            if (bus->lost)
                for (serve_entry_t *s = bus->serves; s != NULL; s = s->next) {
                    kr_request_t req = {.op = "serve", .name = s->op, .res = s->res};
                    char *op = xstrdup(s->op);
                    kr_error_t err;
                    if (kr_bus_send(bus, &req, on_reserved, op, 10000, NULL, &err) < 0) {
                        KR_WARN(TAG, "cannot serve an op again after a reconnection",
                                "op=%s error=\"%s\"", op, err.message);
                        free(op);
                    }
                }
            bus->lost = false;
        }
    }
}

void kr_bus_destroy(kr_bus_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_bus_t *bus = *self_p;
    /* Tell the broker first so it drops our watches and registrations now
     * rather than at its next liveness probe. */
    static const uint8_t bye[] = {0x83, 0xa1, 'v', 0x01, 0xa2, 'i', 'd', 0x00,
                                  0xa2, 'o',  'p', 0xa3, 'b',  'y', 'e'};
    zmq_send(bus->sock, bye, sizeof bye, ZMQ_DONTWAIT);
    if (bus->loop != NULL) {
        kr_loop_remove_fd(bus->loop, bus->fd);
        if (bus->mon_fd >= 0)
            kr_loop_remove_fd(bus->loop, bus->mon_fd);
        kr_loop_remove_prepare(bus->loop, bus->prep_id);
        if (bus->timer_id)
            kr_loop_cancel_timer(bus->loop, bus->timer_id);
    }
    fail_pending(bus, "the bus connection was closed");
    for (size_t i = 0; i < bus->kept_cap; i++) {
        while (bus->kept[i]) {
            kr_call_t *c = bus->kept[i];
            if (c->cancel)
                c->cancel(bus, c, c->cancel_ud);
            call_free(c);
        }
    }
    while (bus->inbox_head) {
        inmsg_t *m = bus->inbox_head;
        bus->inbox_head = m->next;
        for (int i = 0; i < m->n; i++)
            zmq_msg_close(&m->parts[i]);
        free(m);
    }
    while (bus->serves) {
        serve_entry_t *s = bus->serves;
        bus->serves = s->next;
        free(s->op);
        free(s->res);
        free(s);
    }
    if (bus->mon != NULL) {
        zmq_socket_monitor(bus->sock, NULL, 0);
        zmq_close(bus->mon);
    }
    zmq_close(bus->sock);
    kr_arena_destroy(&bus->scratch);
    kr_buf_free(&bus->out);
    free(bus->pend);
    kr_heap_free(&bus->heap);
    free(bus->kept);
    free(bus);
    *self_p = NULL;
}

/* ---- encoding and sending ---------------------------------------------- */

static int buf_write(void *data, const char *b, size_t len)
{
    kr_buf_append(data, b, len);
    return 0;
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static int encode_request(kr_bus_t *bus, const kr_request_t *req, const char *op, uint64_t id,
                          kr_error_t *err)
{
    kr_buf_reset(&bus->out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &bus->out, buf_write);
    const char *keys[] = {"res", "ns", "name", "sub", "rv"};
    const char *strs[] = {req->res, req->ns, req->name, req->sub, req->rv};
    const char *vkeys[] = {"obj", "opts", "auth"};
    const kr_value_t *vals[] = {req->obj, req->opts, req->auth};
    size_t n = 3;
    for (size_t i = 0; i < 5; i++)
        n += strs[i] != NULL;
    for (size_t i = 0; i < 3; i++)
        n += vals[i] != NULL;
    msgpack_pack_map(&pk, n);
    pk_str(&pk, "v");
    msgpack_pack_uint8(&pk, KR_BUS_PROTO_VERSION);
    pk_str(&pk, "id");
    msgpack_pack_uint64(&pk, id);
    pk_str(&pk, "op");
    pk_str(&pk, op);
    for (size_t i = 0; i < 5; i++) {
        if (strs[i] != NULL) {
            pk_str(&pk, keys[i]);
            pk_str(&pk, strs[i]);
        }
    }
    for (size_t i = 0; i < 3; i++) {
        if (vals[i] != NULL) {
            pk_str(&pk, vkeys[i]);
            if (kr_msgpack_encode(vals[i], &bus->out, err) < 0)
                return kr_error_wrap(err, "encoding field \"%s\" of op \"%s\"", vkeys[i], op);
        }
    }
    if (bus->out.len > KR_BUS_MAX_MSG)
        return kr_error_set(
            err, KR_E_TOO_LARGE,
            "Request entity too large: limit is %u bytes, got %zu bytes (op \"%s\")",
            KR_BUS_MAX_MSG, bus->out.len, op);
    return 0;
}

static int send_frames(kr_bus_t *bus, const void *const *data, const size_t *len, int n,
                       kr_error_t *err)
{
    for (int i = 0; i < n; i++) {
        while (zmq_send(bus->sock, data[i], len[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return kr_error_set(err, KR_E_SERVICE_UNAVAILABLE,
                                    "bus: the connection to the broker is full (no progress "
                                    "for %d ms)",
                                    BUS_SNDTIMEO_MS);
            return kr_error_set(err, KR_E_INTERNAL, "bus: send failed: %s", zmq_strerror(errno));
        }
    }
    return 0;
}

static int send_request(kr_bus_t *bus, const kr_request_t *req, const char *op, uint64_t id,
                        kr_error_t *err)
{
    if (op == NULL || *op == '\0')
        return kr_error_set(err, KR_E_INVALID, "bus: a request needs an op");
    int rc = encode_request(bus, req, op, id, err);
    if (rc < 0)
        return rc;
    const void *d = bus->out.data;
    size_t l = bus->out.len;
    return send_frames(bus, &d, &l, 1, err);
}

/* ---- receiving --------------------------------------------------------- */

/* Reads one message (all its frames).  NULL when none is ready (flags =
 * ZMQ_DONTWAIT) or on error. */
static inmsg_t *recv_msg(kr_bus_t *bus, int flags)
{
    inmsg_t *m = malloc(sizeof *m);
    if (m == NULL)
        abort();
    m->next = NULL;
    m->n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t *part = &m->parts[m->n < 3 ? m->n : 2];
        if (m->n >= 3)
            zmq_msg_close(part); /* more frames than any valid message: keep the count */
        zmq_msg_init(part);
        if (zmq_msg_recv(part, bus->sock, m->n == 0 ? flags : 0) < 0) {
            zmq_msg_close(part);
            if (m->n == 0) {
                free(m);
                return NULL;
            }
            break;
        }
        more = zmq_msg_more(part);
        m->n++;
    }
    if (m->n > 3) {
        for (int i = 0; i < 3; i++)
            zmq_msg_close(&m->parts[i]);
        m->n = 0; /* dispatched as nothing */
    }
    return m;
}

static void inmsg_free(inmsg_t *m)
{
    for (int i = 0; i < m->n; i++)
        zmq_msg_close(&m->parts[i]);
    free(m);
}

static void inbox_push(kr_bus_t *bus, inmsg_t *m)
{
    if (bus->inbox_tail)
        bus->inbox_tail->next = m;
    else
        bus->inbox_head = m;
    bus->inbox_tail = m;
    bus->inbox_len++;
}

static inmsg_t *inbox_pop(kr_bus_t *bus)
{
    inmsg_t *m = bus->inbox_head;
    if (m) {
        bus->inbox_head = m->next;
        if (bus->inbox_head == NULL)
            bus->inbox_tail = NULL;
        bus->inbox_len--;
    }
    return m;
}

static void reply_from_msg(kr_reply_t *reply, const kr_value_t *msg)
{
    memset(reply, 0, sizeof *reply);
    reply->msg = msg;
    reply->code = (int)kr_value_map_int(msg, "code", 500);
    reply->obj = kr_value_map_get(msg, "obj");
    kr_value_t *e = kr_value_map_get(msg, "err");
    if (e != NULL) {
        reply->message = kr_value_map_str(e, "message");
        const char *reason = kr_value_map_str(e, "reason");
        reply->reason = reason ? kr_reason_from_name(reason) : kr_reason_from_code(reply->code);
        reply->details = kr_value_map_get(e, "details");
    } else {
        reply->reason = kr_reason_from_code(reply->code);
    }
    if (reply->code >= 200 && reply->code < 300)
        reply->reason = KR_E_OK;
}

static void deliver_watch_end(kr_bus_t *bus, bus_pending_t *p, kr_reason_t reason,
                              const char *message)
{
    kr_value_t *st = kr_status_new(bus->scratch, reason, message);
    kr_event_t ev = {.type = "ERROR", .obj = st, .msg = NULL};
    p->efn(bus, p->id, &ev, p->ud);
}

/* A message for one of our own requests or watches. */
static void dispatch_own(kr_bus_t *bus, zmq_msg_t *part)
{
    size_t len = zmq_msg_size(part);
    if (len == 0)
        return; /* the broker's liveness probe */
    uint64_t id;
    bool is_event;
    if (!kr_wire_peek(zmq_msg_data(part), len, &id, &is_event)) {
        KR_WARN(TAG, "dropped a malformed message from the broker", "bytes=%zu", len);
        return;
    }
    bus_pending_t *p = pend_find(bus, id);
    if (p == NULL)
        return; /* timed out, unwatched or cancelled: nobody waits for it */
    kr_value_t *msg = NULL;
    kr_error_t err;
    int rc = kr_msgpack_decode(bus->scratch, zmq_msg_data(part), len, &msg, &err);
    if (p->kind == P_ASYNC) {
        if (is_event)
            return; /* events are for watches only */
        pend_remove(bus, p);
        kr_reply_t reply;
        if (rc < 0) {
            memset(&reply, 0, sizeof reply);
            reply.code = 500;
            reply.reason = KR_E_INTERNAL;
            reply.message = kr_arena_printf(bus->scratch, "undecodable reply: %s", err.message);
        } else {
            reply_from_msg(&reply, msg);
        }
        p->rfn(bus, &reply, p->ud);
        free(p);
        return;
    }
    /* a watch */
    if (rc < 0) {
        pend_remove(bus, p);
        deliver_watch_end(bus, p, KR_E_INTERNAL, "undecodable watch event");
        free(p);
        return;
    }
    if (!is_event) {
        /* a final reply ends the stream: a refusal (404, 403, ...) or the
         * provider closing it */
        kr_reply_t reply;
        reply_from_msg(&reply, msg);
        pend_remove(bus, p);
        if (reply.code >= 200 && reply.code < 300)
            deliver_watch_end(bus, p, KR_E_GONE, "the watch was closed by its provider");
        else
            deliver_watch_end(bus, p, reply.reason,
                              reply.message ? reply.message : kr_strerror(reply.reason));
        free(p);
        return;
    }
    kr_event_t ev = {
        .type = kr_value_map_str(msg, "type"), .obj = kr_value_map_get(msg, "obj"), .msg = msg};
    if (ev.type == NULL)
        ev.type = "ERROR";
    bool last = strcmp(ev.type, "ERROR") == 0;
    if (last)
        pend_remove(bus, p);
    p->efn(bus, id, &ev, p->ud);
    if (last)
        free(p);
}

static serve_entry_t *serve_find(kr_bus_t *bus, const char *op, const char *res)
{
    serve_entry_t *any = NULL;
    for (serve_entry_t *s = bus->serves; s; s = s->next) {
        if (strcmp(s->op, op) != 0)
            continue;
        if (s->res == NULL)
            any = s;
        else if (res != NULL && strcmp(s->res, res) == 0)
            return s;
    }
    return any;
}

static int call_send(kr_call_t *c, int kind, kr_error_t *err)
{
    kr_bus_t *bus = c->bus;
    uint8_t hdr[KR_WIRE_HDR_LEN];
    kr_wire_hdr_put(hdr, kind, c->id);
    const void *d[3] = {c->rid, hdr, bus->out.data};
    size_t l[3] = {c->rid_len, sizeof hdr, bus->out.len};
    return send_frames(bus, d, l, 3, err);
}

/* A request the broker routed to us. */
static void dispatch_call(kr_bus_t *bus, inmsg_t *m)
{
    int kind;
    uint64_t id;
    if (!kr_wire_hdr_get(zmq_msg_data(&m->parts[0]), zmq_msg_size(&m->parts[0]), &kind, &id))
        return;
    size_t rid_len = zmq_msg_size(&m->parts[1]);
    if (rid_len > 255)
        return;
    if (kind == KR_WIRE_CANCEL && m->n == 2) {
        kr_call_t *c = kept_find(bus, zmq_msg_data(&m->parts[1]), rid_len, id);
        if (c != NULL) {
            if (c->cancel)
                c->cancel(bus, c, c->cancel_ud);
            call_free(c);
        }
        return;
    }
    if (kind != KR_WIRE_REQUEST || m->n != 3)
        return;
    kr_call_t *c = xcalloc(1, sizeof *c);
    c->bus = bus;
    c->id = id;
    c->rid_len = (uint8_t)rid_len;
    memcpy(c->rid, zmq_msg_data(&m->parts[1]), rid_len);
    c->arena = kr_arena_new(0);
    kr_error_t err;
    if (kr_msgpack_decode(c->arena, zmq_msg_data(&m->parts[2]), zmq_msg_size(&m->parts[2]), &c->msg,
                          &err) < 0) {
        kr_call_fail(c, KR_E_BAD_REQUEST, err.message, NULL);
        return;
    }
    c->op = kr_value_map_str(c->msg, "op");
    const char *res = kr_value_map_str(c->msg, "res");
    c->is_watch = c->op && strcmp(c->op, "watch") == 0;
    serve_entry_t *s = c->op ? serve_find(bus, c->op, res) : NULL;
    if (s == NULL) {
        char *msg = kr_arena_printf(c->arena, "op \"%s\" is not served by this connection",
                                    c->op ? c->op : "");
        kr_call_fail(c, KR_E_NOT_FOUND, msg, NULL);
        return;
    }
    c->in_handler = true;
    s->fn(bus, c, s->ud);
    c->in_handler = false;
    if (c->answered) {
        call_free(c);
    } else if (c->kept) {
        kept_add(bus, c);
    } else {
        char *msg = kr_arena_printf(c->arena, "the handler of op \"%s\" did not answer", c->op);
        kr_call_fail(c, KR_E_INTERNAL, msg, NULL);
    }
}

static void dispatch_one(kr_bus_t *bus, inmsg_t *m)
{
    if (m->n == 1)
        dispatch_own(bus, &m->parts[0]);
    else if (m->n == 2 || m->n == 3)
        dispatch_call(bus, m);
    kr_arena_reset(bus->scratch);
    inmsg_free(m);
}

static void fire_timeouts(kr_bus_t *bus, uint64_t now)
{
    kr_heap_node_t *top;
    while ((top = kr_heap_top(&bus->heap)) != NULL && top->key <= now) {
        bus_pending_t *p = PENDING_OF(top);
        pend_remove(bus, p);
        char *msg = kr_arena_printf(bus->scratch, "no reply within %d ms", p->timeout_ms);
        kr_reply_t r = {.code = 504, .reason = KR_E_TIMEOUT, .message = msg};
        p->rfn(bus, &r, p->ud);
        kr_arena_reset(bus->scratch);
        free(p);
    }
}

static void arm_loop_timer(kr_bus_t *bus);

/* Dispatches queued then newly arrived messages, at most `max`. */
static int dispatch_ready(kr_bus_t *bus, int max)
{
    monitor_poll(bus);
    int n = 0;
    while (n < max && bus->inbox_head) {
        dispatch_one(bus, inbox_pop(bus));
        n++;
    }
    while (n < max) {
        inmsg_t *m = recv_msg(bus, ZMQ_DONTWAIT);
        if (m == NULL)
            break;
        dispatch_one(bus, m);
        n++;
    }
    fire_timeouts(bus, kr_time_ms());
    return n;
}

int kr_bus_dispatch(kr_bus_t *bus, int timeout_ms, kr_error_t *err)
{
    int n = dispatch_ready(bus, INT32_MAX);
    if (n > 0 || timeout_ms == 0)
        return n;
    uint64_t start = kr_time_ms();
    for (;;) {
        uint64_t now = kr_time_ms();
        long wait = -1;
        if (timeout_ms >= 0)
            wait =
                (long)(start + (uint64_t)timeout_ms > now ? start + (uint64_t)timeout_ms - now : 0);
        if (kr_heap_top(&bus->heap) != NULL) {
            uint64_t d = kr_heap_top(&bus->heap)->key;
            long until = d > now ? (long)(d - now) : 0;
            if (wait < 0 || until < wait)
                wait = until;
        }
        zmq_pollitem_t it = {.socket = bus->sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&it, 1, wait);
        if (rc < 0 && errno != EINTR)
            return kr_error_set(err, KR_E_INTERNAL, "bus: poll failed: %s", zmq_strerror(errno));
        n = dispatch_ready(bus, INT32_MAX);
        if (n > 0)
            return n;
        if (timeout_ms >= 0 && kr_time_ms() >= start + (uint64_t)timeout_ms)
            return 0;
    }
}

/* ---- requests ---------------------------------------------------------- */

const char *kr_reply_msg(const kr_reply_t *reply)
{
    return reply->message != NULL ? reply->message : kr_strerror(reply->reason);
}

int kr_bus_call(kr_bus_t *bus, const kr_request_t *req, kr_arena_t *arena, kr_reply_t *reply,
                int timeout_ms, kr_error_t *err)
{
    uint64_t id = ++bus->next_id;
    int rc = send_request(bus, req, req->op, id, err);
    if (rc < 0)
        return rc;
    uint64_t deadline = timeout_ms >= 0 ? kr_time_ms() + (uint64_t)timeout_ms : 0;
    for (;;) {
        /* A blocking receive with ZMQ_RCVTIMEO costs one wait, where
         * zmq_poll then zmq_msg_recv costs two passes over the socket. */
        int wait = -1;
        if (timeout_ms >= 0) {
            uint64_t now = kr_time_ms();
            if (now >= deadline)
                break;
            wait = (int)(deadline - now);
        }
        if (wait != bus->rcvtimeo) {
            zmq_setsockopt(bus->sock, ZMQ_RCVTIMEO, &wait, sizeof wait);
            bus->rcvtimeo = wait;
        }
        inmsg_t *m = recv_msg(bus, 0);
        if (m == NULL) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return kr_error_set(err, KR_E_INTERNAL, "bus: receive failed: %s", zmq_strerror(errno));
        }
        uint64_t got;
        bool is_event;
        if (m->n == 1 &&
            kr_wire_peek(zmq_msg_data(&m->parts[0]), zmq_msg_size(&m->parts[0]), &got, &is_event) &&
            got == id && !is_event) {
            kr_value_t *msg;
            rc = kr_msgpack_decode(arena, zmq_msg_data(&m->parts[0]), zmq_msg_size(&m->parts[0]),
                                   &msg, err);
            inmsg_free(m);
            if (rc < 0)
                return kr_error_wrap(err, "bus: undecodable reply to op \"%s\"", req->op);
            reply_from_msg(reply, msg);
            return 0;
        }
        if (m->n == 1 && zmq_msg_size(&m->parts[0]) == 0)
            inmsg_free(m); /* liveness probe */
        else
            inbox_push(bus, m);
    }
    return kr_error_set(err, KR_E_TIMEOUT, "bus: no reply to op \"%s\" within %d ms", req->op,
                        timeout_ms);
}

/* Sends a request under a fresh id and records it as pending in *out. */
static int send_pending(kr_bus_t *bus, const kr_request_t *req, const char *op, int kind, void *ud,
                        bus_pending_t **out, kr_error_t *err)
{
    uint64_t id = ++bus->next_id;
    int rc = send_request(bus, req, op, id, err);
    if (rc < 0)
        return rc;
    bus_pending_t *p = xcalloc(1, sizeof *p);
    p->id = id;
    p->kind = kind;
    p->ud = ud;
    p->timeout.idx = KR_HEAP_NONE;
    pend_add(bus, p);
    *out = p;
    return 0;
}

int kr_bus_send(kr_bus_t *bus, const kr_request_t *req, kr_reply_fn fn, void *ud, int timeout_ms,
                uint64_t *id_out, kr_error_t *err)
{
    if (fn == NULL)
        return kr_error_set(err, KR_E_INVALID, "kr_bus_send: a reply callback is required");
    bus_pending_t *p;
    int rc = send_pending(bus, req, req->op, P_ASYNC, ud, &p, err);
    if (rc < 0)
        return rc;
    uint64_t id = p->id;
    p->rfn = fn;
    p->timeout_ms = timeout_ms;
    if (timeout_ms >= 0) {
        p->timeout.key = kr_time_ms() + (uint64_t)timeout_ms;
        p->timeout.seq = id;
        kr_heap_push(&bus->heap, &p->timeout);
        arm_loop_timer(bus);
    }
    if (id_out)
        *id_out = id;
    return 0;
}

int kr_bus_watch(kr_bus_t *bus, const kr_request_t *req, kr_event_fn fn, void *ud,
                 uint64_t *watch_id, kr_error_t *err)
{
    if (fn == NULL)
        return kr_error_set(err, KR_E_INVALID, "kr_bus_watch: an event callback is required");
    bus_pending_t *p;
    int rc = send_pending(bus, req, "watch", P_WATCH, ud, &p, err);
    if (rc < 0)
        return rc;
    uint64_t id = p->id;
    p->efn = fn;
    if (watch_id)
        *watch_id = id;
    return 0;
}

int kr_bus_unwatch(kr_bus_t *bus, uint64_t watch_id, kr_error_t *err)
{
    bus_pending_t *p = pend_find(bus, watch_id);
    if (p == NULL || p->kind != P_WATCH)
        return kr_error_set(err, KR_E_NOT_FOUND, "watch %" PRIu64 " is not open", watch_id);
    pend_remove(bus, p);
    free(p);
    /* unwatch carries the watch's own id; its reply finds no pending entry
     * and is dropped, as are events still in flight */
    kr_request_t req = {.op = "unwatch"};
    return send_request(bus, &req, "unwatch", watch_id, err);
}

/* ---- loop integration -------------------------------------------------- */

static bool zmq_readable(kr_bus_t *bus)
{
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(bus->sock, ZMQ_EVENTS, &ev, &sz) != 0)
        return false;
    return (ev & ZMQ_POLLIN) != 0;
}

/* ZMQ_FD is edge-triggered and any socket operation (including sends from
 * callbacks) may consume the edge, so before every wait we ask ZMQ_EVENTS
 * and dispatch a batch; returning true keeps the loop from blocking while
 * messages remain. */
static bool on_prepare(kr_loop_t *loop, void *ud)
{
    (void)loop;
    kr_bus_t *bus = ud;
    monitor_poll(bus);
    if (bus->inbox_head || zmq_readable(bus))
        dispatch_ready(bus, BUS_BATCH);
    arm_loop_timer(bus);
    return bus->inbox_head != NULL || zmq_readable(bus);
}

static void on_fd(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)fd;
    (void)events;
    kr_bus_t *bus = ud;
    dispatch_ready(bus, BUS_BATCH);
}

static void on_mon_fd(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)fd;
    (void)events;
    monitor_poll(ud);
}

static void on_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    kr_bus_t *bus = ud;
    bus->timer_id = 0;
    bus->timer_deadline = 0;
    fire_timeouts(bus, kr_time_ms());
    arm_loop_timer(bus);
}

/* Keeps one loop timer at the earliest request deadline. */
static void arm_loop_timer(kr_bus_t *bus)
{
    if (bus->loop == NULL)
        return;
    uint64_t want = kr_heap_top(&bus->heap) ? kr_heap_top(&bus->heap)->key : 0;
    if (want == bus->timer_deadline)
        return;
    if (bus->timer_id && (want == 0 || want < bus->timer_deadline)) {
        kr_loop_cancel_timer(bus->loop, bus->timer_id);
        bus->timer_id = 0;
        bus->timer_deadline = 0;
    }
    if (want != 0 && bus->timer_id == 0) {
        uint64_t now = kr_time_ms();
        bus->timer_id = kr_loop_add_timer(bus->loop, want > now ? want - now : 0, 0, on_timer, bus);
        bus->timer_deadline = want;
    }
}

int kr_bus_attach(kr_bus_t *bus, kr_loop_t *loop, kr_error_t *err)
{
    if (bus->loop != NULL)
        return kr_error_set(err, KR_E_ALREADY_EXISTS, "bus: the connection is already attached");
    int fd;
    size_t sz = sizeof fd;
    if (zmq_getsockopt(bus->sock, ZMQ_FD, &fd, &sz) != 0)
        return kr_error_set(err, KR_E_INTERNAL, "bus: ZMQ_FD: %s", zmq_strerror(errno));
    int rc = kr_loop_add_fd(loop, fd, KR_LOOP_READ, on_fd, bus, err);
    if (rc < 0)
        return rc;
    if (bus->mon != NULL) {
        int mfd;
        sz = sizeof mfd;
        if (zmq_getsockopt(bus->mon, ZMQ_FD, &mfd, &sz) != 0 ||
            kr_loop_add_fd(loop, mfd, KR_LOOP_READ, on_mon_fd, bus, err) < 0) {
            kr_loop_remove_fd(loop, fd);
            return kr_error_set(err, KR_E_INTERNAL, "bus: the connection monitor's fd");
        }
        bus->mon_fd = mfd;
    }
    bus->loop = loop;
    bus->fd = fd;
    bus->prep_id = kr_loop_add_prepare(loop, on_prepare, bus);
    arm_loop_timer(bus);
    return 0;
}

/* ---- serving ----------------------------------------------------------- */

int kr_bus_serve(kr_bus_t *bus, const char *op, const char *res, kr_handler_fn fn, void *ud,
                 int timeout_ms, kr_error_t *err)
{
    if (op == NULL || *op == '\0' || fn == NULL)
        return kr_error_set(err, KR_E_INVALID, "kr_bus_serve: op and handler are required");
    kr_arena_t *arena = kr_arena_new(0);
    kr_request_t req = {.op = "serve", .name = op, .res = res};
    kr_reply_t reply;
    int rc = kr_bus_call(bus, &req, arena, &reply, timeout_ms, err);
    if (rc == 0 && reply.code != 200)
        rc = kr_error_set(err, reply.reason, "%s",
                          reply.message ? reply.message : kr_strerror(reply.reason));
    kr_arena_destroy(&arena);
    if (rc < 0)
        return rc;
    /* Replace a local entry for the same op/res (serve is idempotent). */
    for (serve_entry_t *s = bus->serves; s; s = s->next) {
        if (strcmp(s->op, op) == 0 &&
            ((s->res == NULL && res == NULL) || (s->res && res && strcmp(s->res, res) == 0))) {
            s->fn = fn;
            s->ud = ud;
            return 0;
        }
    }
    serve_entry_t *s = xcalloc(1, sizeof *s);
    s->op = xstrdup(op);
    s->res = res ? xstrdup(res) : NULL;
    s->fn = fn;
    s->ud = ud;
    s->next = bus->serves;
    bus->serves = s;
    return 0;
}

const kr_value_t *kr_call_msg(const kr_call_t *call)
{
    return call->msg;
}

const char *kr_call_op(const kr_call_t *call)
{
    return call->op;
}

const char *kr_call_field(const kr_call_t *call, const char *key)
{
    return kr_value_map_str(call->msg, key);
}

uint64_t kr_call_id(const kr_call_t *call)
{
    return call->id;
}

kr_arena_t *kr_call_arena(kr_call_t *call)
{
    return call->arena;
}

void kr_call_keep(kr_call_t *call)
{
    call->kept = true;
}

void kr_call_on_cancel(kr_call_t *call, kr_cancel_fn fn, void *ud)
{
    call->cancel = fn;
    call->cancel_ud = ud;
}

/* Final message sent: free now, or let the dispatcher do it if we are still
 * inside the handler. */
static void call_done(kr_call_t *c)
{
    c->answered = true;
    if (!c->in_handler)
        call_free(c);
}

static void pk_head(kr_bus_t *bus, msgpack_packer *pk, uint64_t id, size_t nfields)
{
    kr_buf_reset(&bus->out);
    msgpack_packer_init(pk, &bus->out, buf_write);
    msgpack_pack_map(pk, nfields);
    pk_str(pk, "v");
    msgpack_pack_uint8(pk, KR_BUS_PROTO_VERSION);
    pk_str(pk, "id");
    msgpack_pack_uint64(pk, id);
}

static int check_size(kr_bus_t *bus, kr_error_t *err)
{
    if (bus->out.len > KR_BUS_MAX_MSG)
        return kr_error_set(err, KR_E_TOO_LARGE,
                            "Request entity too large: limit is %u bytes, got %zu bytes",
                            KR_BUS_MAX_MSG, bus->out.len);
    return 0;
}

int kr_call_reply(kr_call_t *call, int code, const kr_value_t *obj, kr_error_t *err)
{
    if (call->answered)
        return kr_error_set(err, KR_E_INTERNAL, "call %" PRIu64 " was already answered", call->id);
    kr_bus_t *bus = call->bus;
    msgpack_packer pk;
    pk_head(bus, &pk, call->id, obj ? 4 : 3);
    pk_str(&pk, "code");
    msgpack_pack_int(&pk, code);
    if (obj != NULL) {
        pk_str(&pk, "obj");
        if (kr_msgpack_encode(obj, &bus->out, err) < 0)
            return kr_call_fail(call, KR_E_INTERNAL, err ? err->message : "encoding failed", NULL);
    }
    if (check_size(bus, err) < 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "the reply is larger than %u bytes", KR_BUS_MAX_MSG);
        kr_call_fail(call, KR_E_INTERNAL, msg, NULL);
        return -(int)KR_E_TOO_LARGE;
    }
    int rc = call_send(call, KR_WIRE_REPLY, err);
    call_done(call);
    return rc;
}

int kr_call_fail(kr_call_t *call, kr_reason_t reason, const char *message, kr_error_t *err)
{
    if (call->answered)
        return kr_error_set(err, KR_E_INTERNAL, "call %" PRIu64 " was already answered", call->id);
    kr_bus_t *bus = call->bus;
    if (reason == KR_E_OK)
        reason = KR_E_INTERNAL;
    msgpack_packer pk;
    pk_head(bus, &pk, call->id, 4);
    pk_str(&pk, "code");
    msgpack_pack_int(&pk, kr_reason_code(reason));
    pk_str(&pk, "err");
    msgpack_pack_map(&pk, 2);
    pk_str(&pk, "reason");
    pk_str(&pk, kr_reason_name(reason));
    pk_str(&pk, "message");
    pk_str(&pk, message ? message : kr_strerror(reason));
    int rc = call_send(call, KR_WIRE_REPLY, err);
    call_done(call);
    return rc;
}

static int event_encode(kr_call_t *call, const char *type, const kr_value_t *obj, kr_error_t *err)
{
    kr_bus_t *bus = call->bus;
    msgpack_packer pk;
    pk_head(bus, &pk, call->id, 4);
    pk_str(&pk, "type");
    pk_str(&pk, type);
    pk_str(&pk, "obj");
    if (obj == NULL)
        msgpack_pack_nil(&pk);
    else if (kr_msgpack_encode(obj, &bus->out, err) < 0)
        return -1;
    return check_size(bus, err);
}

int kr_call_event(kr_call_t *call, const char *type, const kr_value_t *obj, kr_error_t *err)
{
    if (call->answered)
        return kr_error_set(err, KR_E_INTERNAL, "call %" PRIu64 " was already answered", call->id);
    if (type == NULL || strcmp(type, "ERROR") == 0)
        return kr_error_set(err, KR_E_INVALID,
                            "kr_call_event: use kr_call_end to send an ERROR event");
    int rc = event_encode(call, type, obj, err);
    if (rc < 0)
        return rc;
    return call_send(call, KR_WIRE_EVENT, err);
}

int kr_call_end(kr_call_t *call, kr_reason_t reason, const char *message, kr_error_t *err)
{
    if (call->answered)
        return kr_error_set(err, KR_E_INTERNAL, "call %" PRIu64 " was already answered", call->id);
    kr_arena_t *a = call->arena;
    int rc = event_encode(call, "ERROR",
                          kr_status_new(a, reason, message ? message : kr_strerror(reason)), err);
    if (rc == 0)
        rc = call_send(call, KR_WIRE_END, err);
    call_done(call);
    return rc;
}

/* ---- helpers ----------------------------------------------------------- */

kr_value_t *kr_status_new(kr_arena_t *arena, kr_reason_t reason, const char *message)
{
    kr_value_t *st = kr_value_map(arena);
    kr_value_map_set(arena, st, "kind", kr_value_str(arena, "Status"));
    kr_value_map_set(arena, st, "apiVersion", kr_value_str(arena, "v1"));
    kr_value_map_set(arena, st, "metadata", kr_value_map(arena));
    kr_value_map_set(arena, st, "status",
                     kr_value_str(arena, reason == KR_E_OK ? "Success" : "Failure"));
    kr_value_map_set(arena, st, "message", kr_value_str(arena, message ? message : ""));
    if (reason != KR_E_OK)
        kr_value_map_set(arena, st, "reason", kr_value_str(arena, kr_reason_name(reason)));
    kr_value_map_set(arena, st, "code", kr_value_int(arena, kr_reason_code(reason)));
    return st;
}
