/* The bus broker (see broker.h and docs/bus.md).
 *
 * Single-threaded: everything below runs on the broker thread, except
 * kr_broker_stats() which only reads atomics.  The broker never blocks on a
 * send (ZMQ_DONTWAIT) and never drops a message silently: a peer whose pipe
 * is full gets a per-peer backlog retried on a short timer; a watch whose
 * backlog grows past its bound is expired with one ERROR event.
 */
#include "broker.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include <kraal/log.h>
#include <kraal/loop.h>

#include "bus_wire.h"
#include "thread.h"
#include "xalloc.h"

#define TAG "broker"

#define BK_WATCH_BYTES     (32u << 20) /* bytes queued per watch before it expires */
#define BK_MAX_WATCHES     4096        /* open watches per connection */
#define BK_FIRM_SLACK      4096  /* queued replies beyond max in-flight: peer stopped reading */
#define BK_PROBE_MS        1000  /* liveness probe of peers that hold state */
#define BK_PEER_IDLE_MS    10000 /* stateless peers are forgotten after this */
#define BK_RETRY_MAX_MS    32
#define BK_DRAIN_BATCH     4096
#define BK_HANDLER_BUCKETS 256
#define BK_MAX_FDS         8
#define BK_MAX_TICKS       8

/* ---- intrusive list ---------------------------------------------------- */

typedef struct dlink {
    struct dlink *prev, *next;
} dlink_t;

static void dl_init(dlink_t *h)
{
    h->prev = h->next = h;
}

static bool dl_empty(const dlink_t *h)
{
    return h->next == h;
}

static void dl_add(dlink_t *h, dlink_t *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static void dl_del(dlink_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- state ------------------------------------------------------------- */

struct bk_route;

typedef struct bk_out {
    struct bk_out *next;
    struct bk_route *watch; /* set for watch events: these may be discarded */
    bool counted;           /* sending it ends a request in flight */
    bool firm;              /* a reply or final event: never discarded */
    int nparts;
    size_t bytes;
    zmq_msg_t parts[3];
} bk_out_t;

typedef struct bk_peer {
    struct bk_peer *hnext;
    uint64_t hash;
    uint32_t in_flight;
    uint32_t n_watches;
    uint32_t n_served;
    uint64_t last_active;
    bool lost;      /* queued for cleanup */
    bool vanished;  /* cleanup counts peers_lost (else it said bye) */
    dlink_t client; /* routes where this peer asked */
    dlink_t provider;
    dlink_t retry_link;
    dlink_t lost_link;
    bk_out_t *bq_head, *bq_tail;
    size_t bq_len, bq_firm;
    /* a CURVE peer's allow-list entry, valid while clients_gen is the
     * broker's (an add may move the entries) */
    const kr_curve_client_t *ident;
    uint64_t ident_gen;
    /* With CURVE: the user id this routing id was first seen with (NULL:
     * a local peer).  A CURVE client may choose its routing id; one that
     * picks an id the broker holds state for under another identity is
     * refused, so it cannot answer for a provider that just left. */
    char *user;
    bool user_known;
    uint8_t rid_len;
    uint8_t rid[255];
} bk_peer_t;

typedef struct bk_route {
    struct bk_route *hnext;
    bk_peer_t *client, *provider; /* provider NULL: a core-local stream */
    kr_broker_cancel_fn cancel;   /* of a core-local stream */
    void *cancel_ud;
    uint64_t id;
    bool watch;
    bool counted;
    size_t queued, queued_bytes;
    dlink_t client_link, provider_link;
    char res[]; /* for messages; "" when the request had none */
} bk_route_t;

typedef struct bk_handler {
    struct bk_handler *next;
    char *op, *res; /* res "" = any resource */
    size_t op_len, res_len;
    kr_broker_fn fn;     /* core-local, or NULL */
    void *ud;            /* of fn */
    bk_peer_t *provider; /* routed, or NULL */
    bool no_reply;       /* "bye" */
    uint64_t requests;   /* answered here or routed, for "stats" */
} bk_handler_t;

typedef struct bk_stats {
    _Atomic uint64_t msgs_in, msgs_out, bad_frames, bad_envelopes, unknown_ops, too_large,
        watches_expired, peers_lost, backlogged;
} bk_stats_t;

typedef struct bk_fd {
    int fd;
    kr_broker_fd_fn fn;
    void *ud;
} bk_fd_t;

typedef struct bk_tick {
    uint64_t period, next;
    kr_broker_tick_fn fn;
    void *ud;
} bk_tick_t;

struct kr_broker_deferred {
    uint64_t id;
    uint8_t rid_len;
    uint8_t rid[255];
};

/* Reusable msgpack output buffer. */
typedef struct pk_buf {
    char *data;
    size_t len, cap;
} pk_buf_t;

struct kr_broker {
    void *sock; /* NULL for a detached broker */
    int stop_fd;
    pthread_t thread;
    bool started, stopped;
    char *ipc_path;
    size_t max_msg, watch_backlog, max_inflight;
    bk_stats_t st;

    bk_peer_t **peers;
    size_t peers_cap, peers_len;
    bk_route_t **routes;
    size_t routes_cap, routes_len;
    bk_handler_t *handlers[BK_HANDLER_BUCKETS];

    dlink_t retry;
    uint64_t retry_at;
    uint64_t retry_delay;
    dlink_t lost;
    uint64_t now, next_probe;

    pk_buf_t pk;
    msgpack_packer packer;

    bk_fd_t fds[BK_MAX_FDS];
    size_t n_fds;
    bk_tick_t ticks[BK_MAX_TICKS];
    size_t n_ticks;

    /* CURVE (docs/bus.md "Authentication"): the ZAP handler's socket and
     * the allow-list it answers from; NULL without CURVE */
    void *zap;
    kr_curve_clients_t *clients;
    uint64_t clients_gen; /* bumped by every change of the allow-list */
    kr_broker_gate_fn gate;
    void *gate_ud;
};

typedef struct bk_reqctx {
    bk_peer_t *peer;
    bool replied;
} bk_reqctx_t;

#define STAT_INC(b, f)                                                                            \
    atomic_store_explicit(&(b)->st.f, atomic_load_explicit(&(b)->st.f, memory_order_relaxed) + 1, \
                          memory_order_relaxed)

static bool deliver(kr_broker_t *b, bk_peer_t *p, zmq_msg_t *parts, int n, bk_route_t *watch,
                    bool counted, bool firm);

/* ---- msgpack output ---------------------------------------------------- */

static int pk_write(void *data, const char *buf, size_t len)
{
    pk_buf_t *pk = data;
    if (pk->len + len > pk->cap) {
        size_t cap = pk->cap ? pk->cap : 256;
        while (cap < pk->len + len)
            cap *= 2;
        pk->data = xrealloc(pk->data, cap);
        pk->cap = cap;
    }
    memcpy(pk->data + pk->len, buf, len);
    pk->len += len;
    return 0;
}

static msgpack_packer *pk_begin(kr_broker_t *b)
{
    b->pk.len = 0;
    return &b->packer;
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* The packed buffer as a message. */
static void pk_msg(kr_broker_t *b, zmq_msg_t *m)
{
    zmq_msg_init_size(m, b->pk.len);
    memcpy(zmq_msg_data(m), b->pk.data, b->pk.len);
}

/* Starts a reply map of `nfields` entries and writes v, id and code. */
static msgpack_packer *pk_reply_head(kr_broker_t *b, uint32_t nfields, uint64_t id, int code)
{
    msgpack_packer *pk = pk_begin(b);
    msgpack_pack_map(pk, nfields);
    pk_str(pk, "v");
    msgpack_pack_uint8(pk, 1);
    pk_str(pk, "id");
    msgpack_pack_uint64(pk, id);
    pk_str(pk, "code");
    msgpack_pack_int(pk, code);
    return pk;
}

/* metav1.Status for an error reason. */
static void pk_status(msgpack_packer *pk, kr_reason_t reason, const char *message)
{
    msgpack_pack_map(pk, 7);
    pk_str(pk, "kind");
    pk_str(pk, "Status");
    pk_str(pk, "apiVersion");
    pk_str(pk, "v1");
    pk_str(pk, "metadata");
    msgpack_pack_map(pk, 0);
    pk_str(pk, "status");
    pk_str(pk, "Failure");
    pk_str(pk, "message");
    pk_str(pk, message);
    pk_str(pk, "reason");
    pk_str(pk, kr_reason_name(reason));
    pk_str(pk, "code");
    msgpack_pack_int(pk, kr_reason_code(reason));
}

static void pk_error_reply(kr_broker_t *b, uint64_t id, kr_reason_t reason, const char *message)
{
    msgpack_packer *pk = pk_reply_head(b, 4, id, kr_reason_code(reason));
    pk_str(pk, "err");
    msgpack_pack_map(pk, 2);
    pk_str(pk, "reason");
    pk_str(pk, kr_reason_name(reason));
    pk_str(pk, "message");
    pk_str(pk, message);
}

static void pk_error_event(kr_broker_t *b, uint64_t id, kr_reason_t reason, const char *message)
{
    msgpack_packer *pk = pk_begin(b);
    msgpack_pack_map(pk, 4);
    pk_str(pk, "v");
    msgpack_pack_uint8(pk, 1);
    pk_str(pk, "id");
    msgpack_pack_uint64(pk, id);
    pk_str(pk, "type");
    pk_str(pk, "ERROR");
    pk_str(pk, "obj");
    pk_status(pk, reason, message);
}

/* ---- hashing ----------------------------------------------------------- */

static uint64_t hash_bytes(const void *data, size_t len, uint64_t h)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_BASIS 0xcbf29ce484222325ULL

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- peers ------------------------------------------------------------- */

static bk_peer_t *peer_find(kr_broker_t *b, const void *rid, size_t len, uint64_t h)
{
    if (b->peers_cap == 0)
        return NULL;
    for (bk_peer_t *p = b->peers[h & (b->peers_cap - 1)]; p; p = p->hnext)
        if (p->hash == h && p->rid_len == len && memcmp(p->rid, rid, len) == 0)
            return p;
    return NULL;
}

static void peers_grow(kr_broker_t *b)
{
    size_t cap = b->peers_cap ? b->peers_cap * 2 : 64;
    bk_peer_t **t = xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < b->peers_cap; i++) {
        bk_peer_t *p = b->peers[i];
        while (p) {
            bk_peer_t *next = p->hnext;
            p->hnext = t[p->hash & (cap - 1)];
            t[p->hash & (cap - 1)] = p;
            p = next;
        }
    }
    free(b->peers);
    b->peers = t;
    b->peers_cap = cap;
}

static bk_peer_t *peer_get(kr_broker_t *b, const void *rid, size_t len)
{
    if (len > 255)
        len = 255; /* ZeroMQ routing ids are at most 255 bytes */
    uint64_t h = hash_bytes(rid, len, FNV_BASIS);
    bk_peer_t *p = peer_find(b, rid, len, h);
    if (p != NULL)
        return p;
    if ((b->peers_len + 1) * 4 > b->peers_cap * 3)
        peers_grow(b);
    p = xcalloc(1, sizeof *p);
    p->hash = h;
    p->rid_len = (uint8_t)len;
    memcpy(p->rid, rid, len);
    dl_init(&p->client);
    dl_init(&p->provider);
    dl_init(&p->retry_link);
    dl_init(&p->lost_link);
    p->hnext = b->peers[h & (b->peers_cap - 1)];
    b->peers[h & (b->peers_cap - 1)] = p;
    b->peers_len++;
    return p;
}

static void peer_unlink(kr_broker_t *b, bk_peer_t *p)
{
    bk_peer_t **pp = &b->peers[p->hash & (b->peers_cap - 1)];
    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
    b->peers_len--;
}

static bool peer_stateless(const bk_peer_t *p)
{
    return p->in_flight == 0 && p->bq_head == NULL && p->n_served == 0 && dl_empty(&p->client) &&
           dl_empty(&p->provider) && !p->lost;
}

static void mark_lost(kr_broker_t *b, bk_peer_t *p, bool vanished)
{
    if (p->lost)
        return;
    p->lost = true;
    p->vanished = vanished;
    dl_add(&b->lost, &p->lost_link);
}

/* ---- routes ------------------------------------------------------------ */

static size_t route_slot(const kr_broker_t *b, const bk_peer_t *client, uint64_t id)
{
    return mix64((uint64_t)(uintptr_t)client ^ mix64(id)) & (b->routes_cap - 1);
}

static bk_route_t *route_find(kr_broker_t *b, const bk_peer_t *client, uint64_t id)
{
    if (b->routes_cap == 0)
        return NULL;
    for (bk_route_t *r = b->routes[route_slot(b, client, id)]; r; r = r->hnext)
        if (r->client == client && r->id == id)
            return r;
    return NULL;
}

static void routes_grow(kr_broker_t *b)
{
    size_t old = b->routes_cap;
    bk_route_t **t = b->routes;
    b->routes_cap = old ? old * 2 : 256;
    b->routes = xcalloc(b->routes_cap, sizeof *b->routes);
    for (size_t i = 0; i < old; i++) {
        bk_route_t *r = t[i];
        while (r) {
            bk_route_t *next = r->hnext;
            size_t s = route_slot(b, r->client, r->id);
            r->hnext = b->routes[s];
            b->routes[s] = r;
            r = next;
        }
    }
    free(t);
}

static bk_route_t *route_new(kr_broker_t *b, bk_peer_t *client, bk_peer_t *provider, uint64_t id,
                             kr_env_str_t res)
{
    if ((b->routes_len + 1) * 4 > b->routes_cap * 3)
        routes_grow(b);
    bk_route_t *r = xcalloc(1, sizeof *r + res.len + 1);
    r->client = client;
    r->provider = provider;
    r->id = id;
    if (res.len)
        memcpy(r->res, res.p, res.len);
    size_t s = route_slot(b, client, id);
    r->hnext = b->routes[s];
    b->routes[s] = r;
    b->routes_len++;
    dl_add(&client->client, &r->client_link);
    if (provider != NULL)
        dl_add(&provider->provider, &r->provider_link);
    else
        dl_init(&r->provider_link);
    return r;
}

static void out_free(bk_out_t *o)
{
    for (int i = 0; i < o->nparts; i++)
        zmq_msg_close(&o->parts[i]);
    free(o);
}

/* Drops the route.  Its events still queued to the client are discarded
 * (unwatch, expiry) or kept for delivery in order (the stream ended). */
static void route_free(kr_broker_t *b, bk_route_t *r, bool discard_events)
{
    bk_route_t **pp = &b->routes[route_slot(b, r->client, r->id)];
    while (*pp != r)
        pp = &(*pp)->hnext;
    *pp = r->hnext;
    b->routes_len--;
    dl_del(&r->client_link);
    dl_del(&r->provider_link);
    if (r->watch && r->client->n_watches > 0)
        r->client->n_watches--;
    if (r->queued > 0) {
        bk_peer_t *p = r->client;
        bk_out_t **op = &p->bq_head, *prev = NULL;
        while (*op) {
            bk_out_t *o = *op;
            if (o->watch == r) {
                if (discard_events) {
                    *op = o->next;
                    if (p->bq_tail == o)
                        p->bq_tail = prev;
                    p->bq_len--;
                    out_free(o);
                    continue;
                }
                o->watch = NULL;
            }
            prev = o;
            op = &o->next;
        }
    }
    free(r);
}

/* ---- handlers ---------------------------------------------------------- */

static size_t handler_slot(const char *op, size_t op_len, const char *res, size_t res_len)
{
    uint64_t h = hash_bytes(op, op_len, FNV_BASIS);
    h = hash_bytes("\0", 1, h);
    h = hash_bytes(res, res_len, h);
    return h & (BK_HANDLER_BUCKETS - 1);
}

static bk_handler_t *handler_find_exact(kr_broker_t *b, const char *op, size_t op_len,
                                        const char *res, size_t res_len)
{
    for (bk_handler_t *h = b->handlers[handler_slot(op, op_len, res, res_len)]; h; h = h->next)
        if (h->op_len == op_len && h->res_len == res_len && memcmp(h->op, op, op_len) == 0 &&
            memcmp(h->res, res, res_len) == 0)
            return h;
    return NULL;
}

/* op+res first, then op for any resource. */
static bk_handler_t *handler_find(kr_broker_t *b, kr_env_str_t op, kr_env_str_t res)
{
    bk_handler_t *h = NULL;
    if (res.len > 0)
        h = handler_find_exact(b, op.p, op.len, res.p, res.len);
    if (h == NULL)
        h = handler_find_exact(b, op.p, op.len, "", 0);
    return h;
}

static bk_handler_t *handler_add(kr_broker_t *b, const char *op, size_t op_len, const char *res,
                                 size_t res_len)
{
    bk_handler_t *h = xcalloc(1, sizeof *h);
    h->op = xstrndup(op, op_len);
    h->op_len = op_len;
    h->res = xstrndup(res ? res : "", res_len);
    h->res_len = res_len;
    size_t s = handler_slot(h->op, op_len, h->res, res_len);
    h->next = b->handlers[s];
    b->handlers[s] = h;
    return h;
}

static void handler_free(bk_handler_t *h)
{
    free(h->op);
    free(h->res);
    free(h);
}

static void handlers_drop_provider(kr_broker_t *b, bk_peer_t *p)
{
    for (size_t i = 0; i < BK_HANDLER_BUCKETS && p->n_served > 0; i++) {
        bk_handler_t **hp = &b->handlers[i];
        while (*hp) {
            bk_handler_t *h = *hp;
            if (h->provider == p) {
                *hp = h->next;
                handler_free(h);
                p->n_served--;
            } else {
                hp = &h->next;
            }
        }
    }
    p->n_served = 0;
}

/* ---- sending ----------------------------------------------------------- */

/* 0, or -errno (EAGAIN: pipe full, EHOSTUNREACH: peer gone).  On success
 * the parts are consumed; on failure nothing was sent. */
static int raw_send(kr_broker_t *b, const bk_peer_t *p, zmq_msg_t *parts, int n)
{
    if (zmq_send(b->sock, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -errno;
    /* ROUTER checks the pipe at the routing id; the rest cannot block */
    for (int i = 0; i < n; i++)
        zmq_msg_send(&parts[i], b->sock, (i + 1 < n ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    return 0;
}

static void retry_arm(kr_broker_t *b, bk_peer_t *p)
{
    if (dl_empty(&p->retry_link))
        dl_add(&b->retry, &p->retry_link);
    if (b->retry_at == 0) {
        b->retry_delay = 1;
        b->retry_at = b->now + 1;
    }
}

static void expire_watch(kr_broker_t *b, bk_route_t *r);

/* Sends parts[0..n) to peer p, or queues them behind its backlog.  Takes
 * ownership of the parts.  True when this expired (and freed) `watch`. */
static bool deliver(kr_broker_t *b, bk_peer_t *p, zmq_msg_t *parts, int n, bk_route_t *watch,
                    bool counted, bool firm)
{
    if (counted && p->in_flight > 0 && (b->sock == NULL || p->lost))
        p->in_flight--;
    if (b->sock == NULL || p->lost) {
        if (b->sock == NULL)
            STAT_INC(b, msgs_out);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
        return false;
    }
    if (p->bq_head == NULL) {
        int rc = raw_send(b, p, parts, n);
        if (rc == 0) {
            STAT_INC(b, msgs_out);
            if (counted && p->in_flight > 0)
                p->in_flight--;
            for (int i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
            return false;
        }
        if (rc != -EAGAIN) {
            for (int i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
            mark_lost(b, p, true);
            return false;
        }
    }
    bk_out_t *o = xcalloc(1, sizeof *o);
    o->watch = watch;
    o->counted = counted;
    o->firm = firm;
    o->nparts = n;
    for (int i = 0; i < n; i++) {
        zmq_msg_init(&o->parts[i]);
        zmq_msg_move(&o->parts[i], &parts[i]);
        zmq_msg_close(&parts[i]);
        o->bytes += zmq_msg_size(&o->parts[i]);
    }
    if (p->bq_tail)
        p->bq_tail->next = o;
    else
        p->bq_head = o;
    p->bq_tail = o;
    p->bq_len++;
    STAT_INC(b, backlogged);
    retry_arm(b, p);
    if (firm && ++p->bq_firm > b->max_inflight + BK_FIRM_SLACK) {
        KR_WARN(TAG, "peer stopped reading: dropping its state", "queued=%zu", p->bq_len);
        mark_lost(b, p, true);
        return false;
    }
    if (watch != NULL) {
        watch->queued++;
        watch->queued_bytes += o->bytes;
        if (watch->queued > b->watch_backlog || watch->queued_bytes > BK_WATCH_BYTES) {
            expire_watch(b, watch);
            return true;
        }
    }
    return false;
}

static void deliver_packed(kr_broker_t *b, bk_peer_t *p, bool counted, bool firm)
{
    zmq_msg_t m;
    pk_msg(b, &m);
    deliver(b, p, &m, 1, NULL, counted, firm);
}

static void send_error(kr_broker_t *b, bk_peer_t *p, uint64_t id, kr_reason_t reason,
                       const char *message, bool counted)
{
    pk_error_reply(b, id, reason, message);
    deliver_packed(b, p, counted, true);
}

/* Tells the provider that the watcher went away. */
static void send_cancel(kr_broker_t *b, bk_route_t *r)
{
    if (r->provider == NULL) {
        kr_broker_cancel_fn fn = r->cancel;
        r->cancel = NULL;
        if (fn != NULL)
            fn(b, (kr_broker_stream_t *)r, r->cancel_ud);
        return;
    }
    if (r->provider->lost)
        return;
    zmq_msg_t parts[2];
    zmq_msg_init_size(&parts[0], KR_WIRE_HDR_LEN);
    kr_wire_hdr_put(zmq_msg_data(&parts[0]), KR_WIRE_CANCEL, r->id);
    zmq_msg_init_size(&parts[1], r->client->rid_len);
    memcpy(zmq_msg_data(&parts[1]), r->client->rid, r->client->rid_len);
    deliver(b, r->provider, parts, 2, NULL, false, true);
}

static void expire_watch(kr_broker_t *b, bk_route_t *r)
{
    STAT_INC(b, watches_expired);
    bk_peer_t *client = r->client;
    char msg[512];
    snprintf(msg, sizeof msg,
             "watch of %s closed: the client could not keep up (more than %zu events queued)",
             r->res[0] ? r->res : "all resources", b->watch_backlog);
    uint64_t id = r->id;
    send_cancel(b, r);
    route_free(b, r, true);
    pk_error_event(b, id, KR_E_EXPIRED, msg);
    deliver_packed(b, client, false, true);
}

/* Tells the client its request will not be answered: the provider left. */
static void fail_route(kr_broker_t *b, bk_route_t *r, const char *why)
{
    bk_peer_t *client = r->client;
    char msg[512];
    snprintf(msg, sizeof msg, "the provider of %s%s%s %s", r->watch ? "this watch" : "op",
             r->res[0] ? " for " : "", r->res, why);
    uint64_t id = r->id;
    bool watch = r->watch, counted = r->counted;
    route_free(b, r, false);
    if (watch)
        pk_error_event(b, id, KR_E_SERVICE_UNAVAILABLE, msg);
    else
        pk_error_reply(b, id, KR_E_SERVICE_UNAVAILABLE, msg);
    deliver_packed(b, client, counted, true);
}

static void peer_free(kr_broker_t *b, bk_peer_t *p)
{
    while (p->bq_head) {
        bk_out_t *o = p->bq_head;
        p->bq_head = o->next;
        out_free(o);
    }
    if (!dl_empty(&p->retry_link))
        dl_del(&p->retry_link);
    peer_unlink(b, p);
    free(p->user);
    free(p);
}

/* Drops everything a departed peer held.  Runs after the message that
 * revealed the loss is handled, so callers never see a freed peer. */
static void process_lost(kr_broker_t *b)
{
    while (!dl_empty(&b->lost)) {
        bk_peer_t *p = container_of(b->lost.next, bk_peer_t, lost_link);
        dl_del(&p->lost_link);
        if (p->vanished)
            STAT_INC(b, peers_lost);
        while (!dl_empty(&p->client)) {
            bk_route_t *r = container_of(p->client.next, bk_route_t, client_link);
            if (r->watch && r->provider != p)
                send_cancel(b, r);
            route_free(b, r, true);
        }
        while (!dl_empty(&p->provider)) {
            bk_route_t *r = container_of(p->provider.next, bk_route_t, provider_link);
            fail_route(b, r, "has gone away");
        }
        handlers_drop_provider(b, p);
        peer_free(b, p);
    }
}

static void flush_backlogs(kr_broker_t *b)
{
    bool progress = false;
    dlink_t *l = b->retry.next;
    while (l != &b->retry) {
        bk_peer_t *p = container_of(l, bk_peer_t, retry_link);
        l = l->next;
        while (p->bq_head && !p->lost) {
            bk_out_t *o = p->bq_head;
            int rc = raw_send(b, p, o->parts, o->nparts);
            if (rc == -EAGAIN)
                break;
            if (rc < 0) {
                mark_lost(b, p, true);
                break;
            }
            progress = true;
            STAT_INC(b, msgs_out);
            p->bq_head = o->next;
            if (p->bq_head == NULL)
                p->bq_tail = NULL;
            p->bq_len--;
            if (o->firm && p->bq_firm > 0)
                p->bq_firm--;
            if (o->counted && p->in_flight > 0)
                p->in_flight--;
            if (o->watch) {
                o->watch->queued--;
                o->watch->queued_bytes -= o->bytes;
            }
            out_free(o);
        }
        if (p->bq_head == NULL || p->lost)
            dl_del(&p->retry_link);
    }
    if (dl_empty(&b->retry)) {
        b->retry_at = 0;
        return;
    }
    b->retry_delay =
        progress ? 1
                 : (b->retry_delay * 2 > BK_RETRY_MAX_MS ? BK_RETRY_MAX_MS : b->retry_delay * 2);
    b->retry_at = b->now + b->retry_delay;
}

/* Peers holding state get an empty frame: a send to a peer that is gone
 * fails with EHOSTUNREACH (ZMQ_ROUTER_MANDATORY), which is how a client
 * that vanished without "bye" is noticed even when nothing else is sent to
 * it.  Stateless peers idle for a while are forgotten. */
static void probe_peers(kr_broker_t *b)
{
    for (size_t i = 0; i < b->peers_cap; i++) {
        bk_peer_t *p = b->peers[i];
        while (p) {
            bk_peer_t *next = p->hnext;
            if (peer_stateless(p)) {
                if (b->now - p->last_active > BK_PEER_IDLE_MS) {
                    peer_unlink(b, p);
                    free(p);
                }
            } else if (!p->lost && b->sock != NULL) {
                if (zmq_send(b->sock, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
                    zmq_send(b->sock, "", 0, ZMQ_DONTWAIT);
                else if (errno == EHOSTUNREACH)
                    mark_lost(b, p, true);
            }
            p = next;
        }
    }
}

/* ---- request handling -------------------------------------------------- */

static bool is_watch_op(kr_env_str_t op)
{
    return kr_env_str_eq(op, "watch");
}

static void route_request(kr_broker_t *b, bk_peer_t *client, bk_handler_t *h,
                          const kr_envelope_t *env, zmq_msg_t *frame)
{
    bk_peer_t *prov = h->provider;
    char msg[512];
    if (prov->lost) {
        snprintf(msg, sizeof msg, "the provider of op \"%.*s\" has gone away", (int)env->op.len,
                 env->op.p);
        send_error(b, client, env->id, KR_E_SERVICE_UNAVAILABLE, msg, false);
        return;
    }
    if (route_find(b, client, env->id) != NULL) {
        snprintf(msg, sizeof msg, "request id %" PRIu64 " is already in flight on this connection",
                 env->id);
        send_error(b, client, env->id, KR_E_BAD_REQUEST, msg, false);
        return;
    }
    bool watch = is_watch_op(env->op);
    if (watch && client->n_watches >= BK_MAX_WATCHES) {
        snprintf(msg, sizeof msg, "too many watches open on this connection (limit %d)",
                 BK_MAX_WATCHES);
        send_error(b, client, env->id, KR_E_TOO_MANY_REQUESTS, msg, false);
        return;
    }
    bk_route_t *r = route_new(b, client, prov, env->id, env->res);
    r->watch = watch;
    if (watch) {
        client->n_watches++;
    } else {
        client->in_flight++;
        r->counted = true;
    }
    zmq_msg_t parts[3];
    zmq_msg_init_size(&parts[0], KR_WIRE_HDR_LEN);
    kr_wire_hdr_put(zmq_msg_data(&parts[0]), KR_WIRE_REQUEST, env->id);
    zmq_msg_init_size(&parts[1], client->rid_len);
    memcpy(zmq_msg_data(&parts[1]), client->rid, client->rid_len);
    zmq_msg_init(&parts[2]);
    zmq_msg_move(&parts[2], frame);
    deliver(b, prov, parts, 3, NULL, false, true);
}

static bool peer_auth(kr_broker_t *b, bk_peer_t *peer, kr_envelope_t *env, zmq_msg_t *frame,
                      const char *user, const char *const **groups);

static void client_message(kr_broker_t *b, bk_peer_t *peer, zmq_msg_t *frame, const char *user)
{
    const void *data = zmq_msg_data(frame);
    size_t len = zmq_msg_size(frame);
    const char *const *groups = NULL;
    kr_envelope_t env;
    kr_error_t err;
    char msg[KR_ERROR_MSG_MAX + 64];

    if (len > b->max_msg) {
        STAT_INC(b, too_large);
        /* the id is still worth finding so the client can match the reply */
        kr_envelope_parse(data, len, &env, NULL);
        snprintf(msg, sizeof msg, "Request entity too large: limit is %zu bytes, got %zu bytes",
                 b->max_msg, len);
        send_error(b, peer, env.has_id ? env.id : 0, KR_E_TOO_LARGE, msg, false);
        return;
    }
    kr_envelope_status_t st = kr_envelope_parse(data, len, &env, &err);
    if (st != KR_ENVELOPE_OK) {
        if (st == KR_ENVELOPE_NOT_MSGPACK)
            STAT_INC(b, bad_frames);
        else
            STAT_INC(b, bad_envelopes);
        send_error(b, peer, env.has_id ? env.id : 0, KR_E_BAD_REQUEST, err.message, false);
        return;
    }
    if (user != NULL) {
        if (!peer_auth(b, peer, &env, frame, user, &groups))
            return;
        data = zmq_msg_data(frame);
        len = zmq_msg_size(frame);
    }
    bk_handler_t *h = handler_find(b, env.op, env.res);
    if (h == NULL) {
        STAT_INC(b, unknown_ops);
        if (env.res.len > 0)
            snprintf(msg, sizeof msg, "op \"%.*s\" for \"%.*s\" is not served on the bus",
                     (int)env.op.len, env.op.p, (int)env.res.len, env.res.p);
        else
            snprintf(msg, sizeof msg, "op \"%.*s\" is not served on the bus", (int)env.op.len,
                     env.op.p);
        send_error(b, peer, env.id, KR_E_NOT_FOUND, msg, false);
        return;
    }
    h->requests++;
    if (h->no_reply) {
        h->fn(b,
              &(kr_broker_req_t){.env = &env,
                                 .data = data,
                                 .len = len,
                                 .peer_ = &(bk_reqctx_t){peer, true},
                                 .user = user,
                                 .groups = groups},
              h->ud);
        return;
    }
    if (peer->in_flight >= b->max_inflight) {
        snprintf(msg, sizeof msg,
                 "too many requests in flight on this connection (limit %zu): wait for replies",
                 b->max_inflight);
        send_error(b, peer, env.id, KR_E_TOO_MANY_REQUESTS, msg, false);
        return;
    }
    bk_reqctx_t ctx = {peer, false};
    kr_broker_req_t req = {
        .env = &env, .data = data, .len = len, .peer_ = &ctx, .user = user, .groups = groups};
    if (groups != NULL && b->gate != NULL) {
        peer->in_flight++;
        bool pass = b->gate(b, &req, b->gate_ud);
        if (!pass) {
            if (!ctx.replied)
                send_error(b, peer, env.id, KR_E_FORBIDDEN, "refused", true);
            return;
        }
        peer->in_flight--;
    }
    if (h->provider != NULL) {
        route_request(b, peer, h, &env, frame);
        return;
    }
    peer->in_flight++;
    h->fn(b, &req, h->ud);
    if (!ctx.replied) {
        snprintf(msg, sizeof msg, "the handler of op \"%.*s\" did not answer", (int)env.op.len,
                 env.op.p);
        send_error(b, peer, env.id, KR_E_INTERNAL, msg, true);
    }
}

/* ---- CURVE peers --------------------------------------------------------- */

/* A CURVE peer's request: an unknown key may only join; a known one's
 * `auth` is replaced by its identity (whatever it wrote there), so that
 * the core and the providers see who really sent it.  False when refused
 * (answered). */
static bool peer_auth(kr_broker_t *b, bk_peer_t *peer, kr_envelope_t *env, zmq_msg_t *frame,
                      const char *user, const char *const **groups)
{
    char msg[512];
    *groups = NULL;
    if (strncmp(user, KR_CURVE_UNJOINED_PREFIX, strlen(KR_CURVE_UNJOINED_PREFIX)) == 0) {
        if (!kr_env_str_eq(env->op, "node.join") && !kr_env_str_eq(env->op, "ping") &&
            !kr_env_str_eq(env->op, "bye")) {
            snprintf(msg, sizeof msg,
                     "Unauthorized: op \"%.*s\": the key of this connection is not in the bus "
                     "allow-list; join with a token first (kraal agent --token)",
                     (int)env->op.len, env->op.p);
            send_error(b, peer, env->id, KR_E_UNAUTHORIZED, msg, false);
            return false;
        }
    } else {
        /* the identity is the same for every message of a connection:
         * look it up once (the allow-list may hold thousands of nodes) */
        const kr_curve_client_t *c = peer->ident;
        if (c == NULL || peer->ident_gen != b->clients_gen || strcmp(c->identity, user) != 0) {
            c = kr_curve_clients_find_identity(b->clients, user);
            peer->ident = c;
            peer->ident_gen = b->clients_gen;
        }
        if (c == NULL) {
            send_error(b, peer, env->id, KR_E_UNAUTHORIZED,
                       "Unauthorized: the key of this connection is no longer in the bus "
                       "allow-list",
                       false);
            return false;
        }
        *groups = (const char *const *)c->groups;
        /* a remote plugin is trusted as an in-process one: what it says
         * in auth (a gateway's forwarded user) stands */
        for (char **g = c->groups; *g; g++)
            if (strcmp(*g, KR_CURVE_PLUGINS_GROUP) == 0)
                return true;
    }
    kr_mp_reader_t r = {zmq_msg_data(frame),
                        (const uint8_t *)zmq_msg_data(frame) + zmq_msg_size(frame)};
    kr_mp_obj_t m, k;
    kr_mp_read(&r, &m);
    kr_mp_reader_t body = r;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < m.len; i++) {
        kr_mp_read(&r, &k);
        kr_mp_skip(&r);
        if (!kr_mp_streq(&k, "auth"))
            keep++;
    }
    msgpack_packer *pk = pk_begin(b);
    msgpack_pack_map(pk, keep + 1);
    r = body;
    for (uint32_t i = 0; i < m.len; i++) {
        const uint8_t *start = r.p;
        kr_mp_read(&r, &k);
        kr_mp_skip(&r);
        if (!kr_mp_streq(&k, "auth"))
            pk_write(&b->pk, (const char *)start, (size_t)(r.p - start));
    }
    pk_str(pk, "auth");
    size_t ng = 0;
    while (*groups && (*groups)[ng])
        ng++;
    msgpack_pack_map(pk, ng > 0 ? 2 : 1);
    pk_str(pk, "username");
    pk_str(pk, user);
    if (ng > 0) {
        pk_str(pk, "groups");
        msgpack_pack_array(pk, ng);
        for (size_t i = 0; i < ng; i++)
            pk_str(pk, (*groups)[i]);
    }
    zmq_msg_close(frame);
    pk_msg(b, frame);
    /* the envelope's strings pointed into the old frame */
    kr_envelope_parse(zmq_msg_data(frame), zmq_msg_size(frame), env, NULL);
    return true;
}

/* One ZAP request (rfc.zeromq.org/spec/27): version, request id, domain,
 * address, routing id, mechanism, credentials.  Every CURVE client that
 * completed its handshake is let in (200); its user id is its identity
 * from the allow-list, or the unjoined prefix and its key, which may only
 * join.  NULL-mechanism connections never reach here on a CURVE endpoint. */
static void zap_handle(kr_broker_t *b)
{
    zmq_msg_t part[8];
    int n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t *m = &part[n < 8 ? n : 7];
        if (n >= 8)
            zmq_msg_close(m);
        zmq_msg_init(m);
        if (zmq_msg_recv(m, b->zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(m);
            if (n == 0)
                return;
            break;
        }
        more = zmq_msg_more(m);
        n++;
    }
    int kept = n < 8 ? n : 8;
    const char *code = "400", *text = "malformed ZAP request";
    char user[sizeof KR_CURVE_UNJOINED_PREFIX + KR_CURVE_KEY_LEN + 1] = "";
    const char *uid = "";
    if (kept >= 6 && zmq_msg_size(&part[5]) == 5 &&
        memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 && kept >= 7 &&
        zmq_msg_size(&part[6]) == 32) {
        char key[KR_CURVE_KEY_LEN + 1];
        zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
        const kr_curve_client_t *c = kr_curve_clients_find(b->clients, key);
        if (c != NULL) {
            uid = c->identity;
        } else {
            snprintf(user, sizeof user, "%s%s", KR_CURVE_UNJOINED_PREFIX, key);
            uid = user;
        }
        code = "200";
        text = "OK";
        KR_DEBUG(TAG, "CURVE client", "user=\"%s\"", uid);
    } else if (kept >= 6 && zmq_msg_size(&part[5]) == 4 &&
               memcmp(zmq_msg_data(&part[5]), "NULL", 4) == 0) {
        /* the local endpoints, if this ZeroMQ asks about them at all */
        code = "200";
        text = "OK";
    }
    if (kept >= 2) {
        zmq_send(b->zap, "1.0", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(b->zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]),
                 ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(b->zap, code, 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(b->zap, text, strlen(text), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(b->zap, uid, strlen(uid), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(b->zap, "", 0, ZMQ_DONTWAIT);
    }
    for (int i = 0; i < kept; i++)
        zmq_msg_close(&part[i]);
}

void kr_broker_set_gate(kr_broker_t *b, kr_broker_gate_fn fn, void *ud)
{
    b->gate = fn;
    b->gate_ud = ud;
}

int kr_broker_curve_allow(kr_broker_t *b, const char *key, const char *identity,
                          const char *const *groups, kr_error_t *err)
{
    if (b->clients == NULL)
        return kr_error_set(err, KR_E_INVALID, "the bus has no CURVE endpoint");
    b->clients_gen++;
    if (kr_curve_clients_add(b->clients, key, identity, groups, err) < 0)
        return -1;
    KR_INFO(TAG, "client key allowed", "identity=\"%s\" key=\"%s\"", identity, key);
    return 0;
}

int kr_broker_curve_revoke(kr_broker_t *b, const char *identity, kr_error_t *err)
{
    if (b->clients == NULL)
        return kr_error_set(err, KR_E_INVALID, "the bus has no CURVE endpoint");
    b->clients_gen++;
    if (kr_curve_clients_remove(b->clients, identity, err) < 0)
        return -1;
    KR_INFO(TAG, "client key revoked", "identity=\"%s\"", identity);
    return 0;
}

static void provider_message(kr_broker_t *b, bk_peer_t *prov, zmq_msg_t *frames)
{
    int kind = 0;
    uint64_t id = 0;
    if (!kr_wire_hdr_get(zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), &kind, &id) ||
        (kind != KR_WIRE_REPLY && kind != KR_WIRE_EVENT && kind != KR_WIRE_END)) {
        STAT_INC(b, bad_frames);
        send_error(b, prov, 0, KR_E_BAD_REQUEST,
                   "a bus message is one frame holding one msgpack map (got 3 frames that are "
                   "not a routed reply)",
                   false);
        return;
    }
    if (prov->n_served == 0 && dl_empty(&prov->provider)) {
        STAT_INC(b, bad_envelopes);
        send_error(b, prov, id, KR_E_FORBIDDEN,
                   "only a connection that serves ops may send routed replies", false);
        return;
    }
    size_t rid_len = zmq_msg_size(&frames[0]);
    bk_peer_t *client = rid_len <= 255
                            ? peer_find(b, zmq_msg_data(&frames[0]), rid_len,
                                        hash_bytes(zmq_msg_data(&frames[0]), rid_len, FNV_BASIS))
                            : NULL;
    bk_route_t *r = client ? route_find(b, client, id) : NULL;
    /* A reply for a request the broker no longer tracks is normal: the
     * client left, unwatched or was expired while this was in flight. */
    if (r == NULL || r->provider != prov)
        return;
    zmq_msg_t m;
    zmq_msg_init(&m);
    zmq_msg_move(&m, &frames[2]);
    if (kind == KR_WIRE_EVENT) {
        deliver(b, client, &m, 1, r->watch ? r : NULL, false, !r->watch);
        return;
    }
    bool counted = r->counted;
    route_free(b, r, false);
    deliver(b, client, &m, 1, NULL, counted, true);
}

static void handle(kr_broker_t *b, const void *rid, size_t rid_len, zmq_msg_t *frames,
                   size_t nframes, const char *user)
{
    STAT_INC(b, msgs_in);
    bk_peer_t *peer = peer_get(b, rid, rid_len);
    peer->last_active = b->now;
    if (b->zap != NULL) {
        if (!peer->user_known) {
            peer->user = user ? xstrdup(user) : NULL;
            peer->user_known = true;
        } else if ((peer->user == NULL) != (user == NULL) ||
                   (user != NULL && strcmp(peer->user, user) != 0)) {
            STAT_INC(b, bad_envelopes);
            send_error(b, peer, 0, KR_E_FORBIDDEN,
                       "this routing id is in use by another identity: connect with another "
                       "ZMQ_ROUTING_ID (or none)",
                       false);
            process_lost(b);
            return;
        }
    }
    if (peer->lost) {
        /* a message racing its sender's cleanup */
    } else if (nframes == 1) {
        client_message(b, peer, &frames[0], user);
    } else if (nframes == 3) {
        provider_message(b, peer, frames);
    } else {
        STAT_INC(b, bad_frames);
        char msg[160];
        snprintf(msg, sizeof msg,
                 "a bus message is one frame holding one msgpack map (got %zu frames)", nframes);
        send_error(b, peer, 0, KR_E_BAD_REQUEST, msg, false);
    }
    process_lost(b);
}

/* ---- built-in ops ------------------------------------------------------ */

static bk_peer_t *req_peer(const kr_broker_req_t *req)
{
    return ((bk_reqctx_t *)req->peer_)->peer;
}

static void reply_packed(kr_broker_t *b, const kr_broker_req_t *req)
{
    bk_reqctx_t *ctx = req->peer_;
    ctx->replied = true;
    deliver_packed(b, ctx->peer, true, true);
}

void kr_broker_fail(kr_broker_t *b, const kr_broker_req_t *req, kr_reason_t reason,
                    const char *message)
{
    bk_reqctx_t *ctx = req->peer_;
    if (ctx->replied)
        return;
    ctx->replied = true;
    send_error(b, ctx->peer, req->env->id, reason, message ? message : kr_strerror(reason), true);
}

int kr_broker_reply(kr_broker_t *b, const kr_broker_req_t *req, int code, const kr_value_t *obj,
                    kr_error_t *err)
{
    bk_reqctx_t *ctx = req->peer_;
    if (ctx->replied)
        return kr_error_set(err, KR_E_INTERNAL, "request %" PRIu64 " was already answered",
                            req->env->id);
    kr_buf_t body = KR_BUF_INIT;
    if (obj != NULL && kr_msgpack_encode(obj, &body, err) < 0) {
        kr_buf_free(&body);
        return -1;
    }
    msgpack_packer *pk = pk_reply_head(b, obj ? 4 : 3, req->env->id, code);
    if (obj != NULL) {
        pk_str(pk, "obj");
        pk_write(&b->pk, body.data, body.len);
    }
    kr_buf_free(&body);
    reply_packed(b, req);
    return 0;
}

/* A message of the packed head followed by `len` raw bytes. */
static void pk_msg_with(kr_broker_t *b, zmq_msg_t *m, const void *raw, size_t len)
{
    zmq_msg_init_size(m, b->pk.len + len);
    memcpy(zmq_msg_data(m), b->pk.data, b->pk.len);
    if (len > 0)
        memcpy((char *)zmq_msg_data(m) + b->pk.len, raw, len);
}

/* Packs {v, id, code, obj?} with obj left for pk_msg_with. */
static void pk_raw_reply_head(kr_broker_t *b, uint64_t id, int code, bool has_obj)
{
    msgpack_packer *pk = pk_reply_head(b, has_obj ? 4 : 3, id, code);
    if (has_obj)
        pk_str(pk, "obj");
}

/* Packs an error reply whose err map may carry details. */
static void pk_error_reply_details(kr_broker_t *b, uint64_t id, kr_reason_t reason,
                                   const char *message, const kr_value_t *details)
{
    kr_buf_t enc = KR_BUF_INIT;
    if (details != NULL && kr_msgpack_encode(details, &enc, NULL) < 0)
        kr_buf_reset(&enc);
    msgpack_packer *pk = pk_reply_head(b, 4, id, kr_reason_code(reason));
    pk_str(pk, "err");
    msgpack_pack_map(pk, enc.len > 0 ? 3 : 2);
    pk_str(pk, "reason");
    pk_str(pk, kr_reason_name(reason));
    pk_str(pk, "message");
    pk_str(pk, message ? message : kr_strerror(reason));
    if (enc.len > 0) {
        pk_str(pk, "details");
        pk_write(&b->pk, enc.data, enc.len);
    }
    kr_buf_free(&enc);
}

int kr_broker_reply_raw(kr_broker_t *b, const kr_broker_req_t *req, int code, const void *obj,
                        size_t len, kr_error_t *err)
{
    bk_reqctx_t *ctx = req->peer_;
    if (ctx->replied)
        return kr_error_set(err, KR_E_INTERNAL, "request %" PRIu64 " was already answered",
                            req->env->id);
    ctx->replied = true;
    pk_raw_reply_head(b, req->env->id, code, obj != NULL);
    zmq_msg_t m;
    pk_msg_with(b, &m, obj, obj ? len : 0);
    deliver(b, ctx->peer, &m, 1, NULL, true, true);
    return 0;
}

void kr_broker_fail_details(kr_broker_t *b, const kr_broker_req_t *req, kr_reason_t reason,
                            const char *message, const kr_value_t *details)
{
    bk_reqctx_t *ctx = req->peer_;
    if (ctx->replied)
        return;
    ctx->replied = true;
    pk_error_reply_details(b, req->env->id, reason, message, details);
    deliver_packed(b, ctx->peer, true, true);
}

/* ---- deferred answers -------------------------------------------------- */

kr_broker_deferred_t *kr_broker_defer(kr_broker_t *b, const kr_broker_req_t *req)
{
    (void)b;
    bk_reqctx_t *ctx = req->peer_;
    kr_broker_deferred_t *d = xcalloc(1, sizeof *d);
    d->id = req->env->id;
    d->rid_len = ctx->peer->rid_len;
    memcpy(d->rid, ctx->peer->rid, ctx->peer->rid_len);
    ctx->replied = true; /* the request stays in flight until the answer */
    return d;
}

/* The client of a deferred request, unless it went away meanwhile. */
static bk_peer_t *deferred_peer(kr_broker_t *b, const kr_broker_deferred_t *d)
{
    bk_peer_t *p = peer_find(b, d->rid, d->rid_len, hash_bytes(d->rid, d->rid_len, FNV_BASIS));
    return p != NULL && !p->lost ? p : NULL;
}

void kr_broker_deferred_reply_raw(kr_broker_t *b, kr_broker_deferred_t **d_p, int code,
                                  const void *obj, size_t len)
{
    kr_broker_deferred_t *d = *d_p;
    bk_peer_t *p = deferred_peer(b, d);
    if (p != NULL) {
        pk_raw_reply_head(b, d->id, code, obj != NULL);
        zmq_msg_t m;
        pk_msg_with(b, &m, obj, obj ? len : 0);
        deliver(b, p, &m, 1, NULL, true, true);
    }
    free(d);
    *d_p = NULL;
}

void kr_broker_deferred_fail(kr_broker_t *b, kr_broker_deferred_t **d_p, kr_reason_t reason,
                             const char *message, const kr_value_t *details)
{
    kr_broker_deferred_t *d = *d_p;
    bk_peer_t *p = deferred_peer(b, d);
    if (p != NULL) {
        pk_error_reply_details(b, d->id, reason, message, details);
        deliver_packed(b, p, true, true);
    }
    free(d);
    *d_p = NULL;
}

/* ---- core-local streams ------------------------------------------------ */

kr_broker_stream_t *kr_broker_stream_open(kr_broker_t *b, const kr_broker_req_t *req,
                                          kr_broker_cancel_fn cancel, void *ud)
{
    bk_reqctx_t *ctx = req->peer_;
    bk_peer_t *client = ctx->peer;
    char msg[160];
    if (ctx->replied)
        return NULL;
    if (route_find(b, client, req->env->id) != NULL) {
        snprintf(msg, sizeof msg, "request id %" PRIu64 " is already in flight on this connection",
                 req->env->id);
        kr_broker_fail(b, req, KR_E_BAD_REQUEST, msg);
        return NULL;
    }
    if (client->n_watches >= BK_MAX_WATCHES) {
        snprintf(msg, sizeof msg, "too many watches open on this connection (limit %d)",
                 BK_MAX_WATCHES);
        kr_broker_fail(b, req, KR_E_TOO_MANY_REQUESTS, msg);
        return NULL;
    }
    bk_route_t *r = route_new(b, client, NULL, req->env->id, req->env->res);
    r->watch = true;
    r->cancel = cancel;
    r->cancel_ud = ud;
    client->n_watches++;
    /* a stream is not a request in flight: its events are not counted */
    ctx->replied = true;
    if (client->in_flight > 0)
        client->in_flight--;
    return (kr_broker_stream_t *)r;
}

bool kr_broker_stream_event_raw(kr_broker_t *b, kr_broker_stream_t *s, const char *type,
                                const void *obj, size_t len)
{
    bk_route_t *r = (bk_route_t *)s;
    msgpack_packer *pk = pk_begin(b);
    msgpack_pack_map(pk, obj ? 4 : 3);
    pk_str(pk, "v");
    msgpack_pack_uint8(pk, 1);
    pk_str(pk, "id");
    msgpack_pack_uint64(pk, r->id);
    pk_str(pk, "type");
    pk_str(pk, type);
    if (obj)
        pk_str(pk, "obj");
    zmq_msg_t m;
    pk_msg_with(b, &m, obj, obj ? len : 0);
    return !deliver(b, r->client, &m, 1, r, false, false);
}

size_t kr_broker_stream_queued(const kr_broker_stream_t *s)
{
    return ((const bk_route_t *)s)->queued;
}

void kr_broker_stream_end(kr_broker_t *b, kr_broker_stream_t **s_p, kr_reason_t reason,
                          const char *message)
{
    bk_route_t *r = (bk_route_t *)*s_p;
    *s_p = NULL;
    bk_peer_t *client = r->client;
    uint64_t id = r->id;
    route_free(b, r, false);
    pk_error_event(b, id, reason, message ? message : kr_strerror(reason));
    deliver_packed(b, client, false, true);
}

/* ---- broker-thread fds and ticks --------------------------------------- */

int kr_broker_add_fd(kr_broker_t *b, int fd, kr_broker_fd_fn fn, void *ud, kr_error_t *err)
{
    if (b->started)
        return kr_error_set(err, KR_E_INVALID, "broker fds are added before the broker starts");
    if (b->n_fds >= BK_MAX_FDS)
        return kr_error_set(err, KR_E_TOO_MANY_REQUESTS, "the broker polls at most %d extra fds",
                            BK_MAX_FDS);
    b->fds[b->n_fds++] = (bk_fd_t){.fd = fd, .fn = fn, .ud = ud};
    return 0;
}

int kr_broker_add_tick(kr_broker_t *b, uint64_t period_ms, kr_broker_tick_fn fn, void *ud,
                       kr_error_t *err)
{
    if (b->started)
        return kr_error_set(err, KR_E_INVALID, "broker ticks are added before the broker starts");
    if (b->n_ticks >= BK_MAX_TICKS)
        return kr_error_set(err, KR_E_TOO_MANY_REQUESTS, "the broker runs at most %d ticks",
                            BK_MAX_TICKS);
    if (period_ms == 0)
        period_ms = 1;
    b->ticks[b->n_ticks++] =
        (bk_tick_t){.period = period_ms, .next = kr_time_ms() + period_ms, .fn = fn, .ud = ud};
    return 0;
}

static void op_ping(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    (void)ud;
    msgpack_packer *pk = pk_reply_head(b, 4, req->env->id, 200);
    pk_str(pk, "obj");
    msgpack_pack_map(pk, 1);
    pk_str(pk, "pong");
    msgpack_pack_true(pk);
    reply_packed(b, req);
}

static void reply_ok(kr_broker_t *b, const kr_broker_req_t *req)
{
    pk_reply_head(b, 3, req->env->id, 200);
    reply_packed(b, req);
}

static bool valid_served_name(kr_broker_t *b, const kr_broker_req_t *req, const char *what)
{
    const kr_envelope_t *env = req->env;
    char msg[256];
    if (env->name.p == NULL || env->name.len == 0) {
        snprintf(msg, sizeof msg, "%s: field \"name\" must hold the op to %s", what, what);
        kr_broker_fail(b, req, KR_E_BAD_REQUEST, msg);
        return false;
    }
    if (env->name.len > KR_ENVELOPE_NAME_MAX || memchr(env->name.p, '\0', env->name.len)) {
        snprintf(msg, sizeof msg, "%s: field \"name\" is not a valid op name", what);
        kr_broker_fail(b, req, KR_E_BAD_REQUEST, msg);
        return false;
    }
    return true;
}

static void op_serve(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    (void)ud;
    const kr_envelope_t *env = req->env;
    bk_peer_t *peer = req_peer(req);
    if (!valid_served_name(b, req, "serve"))
        return;
    bk_handler_t *h = handler_find_exact(b, env->name.p, env->name.len,
                                         env->res.p ? env->res.p : "", env->res.len);
    if (h != NULL && h->provider == peer) {
        reply_ok(b, req);
        return;
    }
    if (h != NULL) {
        char msg[700];
        snprintf(msg, sizeof msg, "op \"%.*s\"%s%.*s%s is already served by %s", (int)env->name.len,
                 env->name.p, env->res.len ? " for \"" : "", (int)env->res.len,
                 env->res.p ? env->res.p : "", env->res.len ? "\"" : "",
                 h->provider ? "another connection" : "the broker");
        kr_broker_fail(b, req, KR_E_ALREADY_EXISTS, msg);
        return;
    }
    h = handler_add(b, env->name.p, env->name.len, env->res.p, env->res.len);
    h->provider = peer;
    peer->n_served++;
    reply_ok(b, req);
}

static void op_unserve(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    (void)ud;
    const kr_envelope_t *env = req->env;
    bk_peer_t *peer = req_peer(req);
    if (!valid_served_name(b, req, "unserve"))
        return;
    const char *res = env->res.p ? env->res.p : "";
    size_t s = handler_slot(env->name.p, env->name.len, res, env->res.len);
    for (bk_handler_t **hp = &b->handlers[s]; *hp; hp = &(*hp)->next) {
        bk_handler_t *h = *hp;
        if (h->provider == peer && h->op_len == env->name.len && h->res_len == env->res.len &&
            memcmp(h->op, env->name.p, h->op_len) == 0 && memcmp(h->res, res, h->res_len) == 0) {
            *hp = h->next;
            handler_free(h);
            peer->n_served--;
            reply_ok(b, req);
            return;
        }
    }
    char msg[600];
    snprintf(msg, sizeof msg, "op \"%.*s\" is not served by this connection", (int)env->name.len,
             env->name.p);
    kr_broker_fail(b, req, KR_E_NOT_FOUND, msg);
}

static void op_unwatch(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    (void)ud;
    bk_peer_t *peer = req_peer(req);
    bk_route_t *r = route_find(b, peer, req->env->id);
    if (r == NULL || !r->watch) {
        char msg[128];
        snprintf(msg, sizeof msg, "watch %" PRIu64 " is not open on this connection", req->env->id);
        kr_broker_fail(b, req, KR_E_NOT_FOUND, msg);
        return;
    }
    send_cancel(b, r);
    route_free(b, r, true);
    reply_ok(b, req);
}

static void op_stats(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    (void)ud;
    kr_broker_stats_t s;
    kr_broker_stats(b, &s);
    static const char *const names[] = {"msgs_in",         "msgs_out",    "bad_frames",
                                        "bad_envelopes",   "unknown_ops", "too_large",
                                        "watches_expired", "peers_lost",  "backlogged"};
    const uint64_t vals[] = {s.msgs_in,         s.msgs_out,    s.bad_frames,
                             s.bad_envelopes,   s.unknown_ops, s.too_large,
                             s.watches_expired, s.peers_lost,  s.backlogged};
    msgpack_packer *pk = pk_reply_head(b, 4, req->env->id, 200);
    pk_str(pk, "obj");
    msgpack_pack_map(pk, 9 + 3);
    for (size_t i = 0; i < 9; i++) {
        pk_str(pk, names[i]);
        msgpack_pack_uint64(pk, vals[i]);
    }
    pk_str(pk, "peers");
    msgpack_pack_uint64(pk, b->peers_len);
    pk_str(pk, "routes");
    msgpack_pack_uint64(pk, b->routes_len);
    /* requests per op, and who serves it: a plugin's connection or the core */
    size_t n = 0;
    for (size_t i = 0; i < BK_HANDLER_BUCKETS; i++)
        for (bk_handler_t *h = b->handlers[i]; h; h = h->next)
            n++;
    pk_str(pk, "ops");
    msgpack_pack_array(pk, (uint32_t)n);
    for (size_t i = 0; i < BK_HANDLER_BUCKETS; i++) {
        for (bk_handler_t *h = b->handlers[i]; h; h = h->next) {
            msgpack_pack_map(pk, 4);
            pk_str(pk, "op");
            pk_str(pk, h->op);
            pk_str(pk, "res");
            pk_str(pk, h->res);
            pk_str(pk, "provider");
            pk_str(pk, h->provider ? "plugin" : "core");
            pk_str(pk, "requests");
            msgpack_pack_uint64(pk, h->requests);
        }
    }
    reply_packed(b, req);
}

static void op_bye(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    (void)ud;
    mark_lost(b, req_peer(req), false);
}

int kr_broker_handle(kr_broker_t *b, const char *op, const char *res, kr_broker_fn fn, void *ud,
                     kr_error_t *err)
{
    if (op == NULL || *op == '\0' || fn == NULL)
        return kr_error_set(err, KR_E_INVALID, "kr_broker_handle: op and fn are required");
    if (b->started)
        return kr_error_set(err, KR_E_INVALID,
                            "kr_broker_handle(\"%s\"): register handlers before the broker starts",
                            op);
    if (res == NULL)
        res = "";
    if (handler_find_exact(b, op, strlen(op), res, strlen(res)) != NULL)
        return kr_error_set(err, KR_E_ALREADY_EXISTS, "op \"%s\"%s%s%s is already handled", op,
                            *res ? " for \"" : "", res, *res ? "\"" : "");
    bk_handler_t *h = handler_add(b, op, strlen(op), res, strlen(res));
    h->fn = fn;
    h->ud = ud;
    return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

static kr_broker_t *broker_alloc(const kr_broker_opts_t *opts)
{
    kr_broker_t *b = xcalloc(1, sizeof *b);
    b->stop_fd = -1;
    b->max_msg = opts && opts->max_msg ? opts->max_msg : KR_BUS_MAX_MSG;
    b->watch_backlog = opts && opts->watch_backlog ? opts->watch_backlog : KR_BROKER_WATCH_BACKLOG;
    b->max_inflight = KR_BROKER_MAX_INFLIGHT;
    dl_init(&b->retry);
    dl_init(&b->lost);
    peers_grow(b);
    routes_grow(b);
    msgpack_packer_init(&b->packer, &b->pk, pk_write);
    b->now = kr_time_ms();
    b->next_probe = b->now + BK_PROBE_MS;
    static const struct {
        const char *op;
        kr_broker_fn fn;
    } builtins[] = {{"ping", op_ping},       {"serve", op_serve}, {"unserve", op_unserve},
                    {"unwatch", op_unwatch}, {"stats", op_stats}, {"bye", op_bye}};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        kr_broker_handle(b, builtins[i].op, NULL, builtins[i].fn, NULL, NULL);
        if (builtins[i].fn == op_bye)
            handler_find_exact(b, "bye", 3, "", 0)->no_reply = true;
    }
    return b;
}

kr_broker_t *kr_broker_new_detached(const kr_broker_opts_t *opts)
{
    return broker_alloc(opts);
}

static int set_int(void *sock, int opt, int v)
{
    return zmq_setsockopt(sock, opt, &v, sizeof v);
}

kr_broker_t *kr_broker_new(const kr_broker_opts_t *opts, kr_error_t *err)
{
    void *ctx = kr_bus_zmq_context();
    if (ctx == NULL) {
        kr_error_set(err, KR_E_INTERNAL, "bus: cannot create the ZeroMQ context");
        return NULL;
    }
    if (opts && opts->ipc_path) {
        struct sockaddr_un sun;
        if (strlen(opts->ipc_path) >= sizeof sun.sun_path) {
            kr_error_set(err, KR_E_INVALID,
                         "bus socket path \"%s\" is too long (at most %zu bytes)", opts->ipc_path,
                         sizeof sun.sun_path - 1);
            return NULL;
        }
    }
    kr_broker_t *b = broker_alloc(opts);
    b->sock = zmq_socket(ctx, ZMQ_ROUTER);
    if (b->sock == NULL) {
        kr_error_set(err, KR_E_INTERNAL, "bus: zmq_socket(ROUTER): %s", zmq_strerror(errno));
        kr_broker_destroy(&b);
        return NULL;
    }
    /* ZeroMQ itself cuts absurd frames (the connection is dropped); between
     * max_msg and this cap the broker still answers 413. */
    int64_t cap = (int64_t)b->max_msg * 2;
    zmq_setsockopt(b->sock, ZMQ_MAXMSGSIZE, &cap, sizeof cap);
    set_int(b->sock, ZMQ_ROUTER_MANDATORY, 1);
    set_int(b->sock, ZMQ_SNDHWM, 1000);
    set_int(b->sock, ZMQ_RCVHWM, 1000);
    set_int(b->sock, ZMQ_LINGER, 0);
    set_int(b->sock, ZMQ_HEARTBEAT_IVL, 2000);
    set_int(b->sock, ZMQ_HEARTBEAT_TIMEOUT, 6000);
    set_int(b->sock, ZMQ_HEARTBEAT_TTL, 6000);
    char ep[512];
    const char *which = KR_BUS_INPROC_ENDPOINT;
    if (zmq_bind(b->sock, KR_BUS_INPROC_ENDPOINT) != 0)
        goto bind_failed;
    if (opts && opts->ipc_path) {
        snprintf(ep, sizeof ep, "ipc://%s", opts->ipc_path);
        which = ep;
        if (zmq_bind(b->sock, ep) != 0)
            goto bind_failed;
        b->ipc_path = xstrndup(opts->ipc_path, strlen(opts->ipc_path));
        /* no authentication on the local socket: only its owner may connect */
        chmod(b->ipc_path, 0600);
    }
    if (opts && opts->tcp_endpoint && opts->curve != NULL) {
        /* Options are taken at bind: only the tcp listener is a CURVE
         * server; inproc and ipc stay as they were. */
        b->clients = kr_curve_clients_load(opts->curve_clients, err);
        if (b->clients == NULL) {
            kr_broker_destroy(&b);
            return NULL;
        }
        b->zap = zmq_socket(ctx, ZMQ_REP);
        which = "inproc://zeromq.zap.01";
        if (b->zap == NULL || zmq_bind(b->zap, "inproc://zeromq.zap.01") != 0)
            goto bind_failed;
        set_int(b->zap, ZMQ_LINGER, 0);
        set_int(b->sock, ZMQ_CURVE_SERVER, 1);
        zmq_setsockopt(b->sock, ZMQ_CURVE_SECRETKEY, opts->curve->secret_key, KR_CURVE_KEY_LEN);
        zmq_setsockopt(b->sock, ZMQ_ZAP_DOMAIN, "kraal", 5);
    }
    if (opts && opts->tcp_endpoint) {
        which = opts->tcp_endpoint;
        if (zmq_bind(b->sock, opts->tcp_endpoint) != 0)
            goto bind_failed;
    }
    b->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->stop_fd < 0) {
        kr_error_set(err, KR_E_INTERNAL, "bus: eventfd: %s", strerror(errno));
        kr_broker_destroy(&b);
        return NULL;
    }
    return b;
bind_failed:
    kr_error_set(err, errno == EADDRINUSE ? KR_E_ALREADY_EXISTS : KR_E_INVALID,
                 "bus: cannot bind %s: %s", which, zmq_strerror(errno));
    kr_broker_destroy(&b);
    return NULL;
}

static bool recv_one(kr_broker_t *b)
{
    zmq_msg_t rid, frames[4];
    zmq_msg_init(&rid);
    if (zmq_msg_recv(&rid, b->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rid);
        return false;
    }
    size_t n = 0;
    bool more = zmq_msg_more(&rid);
    while (more) {
        zmq_msg_t *m = &frames[n < 4 ? n : 3];
        if (n >= 4)
            zmq_msg_close(m); /* junk beyond 4 frames: keep only a count */
        zmq_msg_init(m);
        if (zmq_msg_recv(m, b->sock, 0) < 0) {
            zmq_msg_close(m);
            break;
        }
        more = zmq_msg_more(m);
        n++;
    }
    /* The ZAP user id of the connection (CURVE peers only: inproc, ipc and
     * plain tcp messages carry none, or an empty one) */
    const char *user = NULL;
    if (b->zap != NULL && n > 0) {
        user = zmq_msg_gets(&frames[0], "User-Id");
        if (user != NULL && user[0] == '\0')
            user = NULL;
    }
    handle(b, zmq_msg_data(&rid), zmq_msg_size(&rid), frames, n, user);
    for (size_t i = 0; i < n && i < 4; i++)
        zmq_msg_close(&frames[i]);
    zmq_msg_close(&rid);
    return true;
}

void kr_broker_feed(kr_broker_t *b, const void *rid, size_t rid_len, const void *const *frames,
                    const size_t *lens, size_t nframes)
{
    zmq_msg_t m[4];
    size_t n = nframes < 4 ? nframes : 4;
    for (size_t i = 0; i < n; i++) {
        zmq_msg_init_size(&m[i], lens[i]);
        if (lens[i])
            memcpy(zmq_msg_data(&m[i]), frames[i], lens[i]);
    }
    b->now = kr_time_ms();
    handle(b, rid, rid_len, m, nframes, NULL);
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&m[i]);
}

static void *broker_main(void *arg)
{
    kr_broker_t *b = arg;
    pthread_setname_np(pthread_self(), "kraal-broker");
    zmq_pollitem_t items[3 + BK_MAX_FDS] = {
        {.socket = b->sock, .events = ZMQ_POLLIN},
        {.fd = b->stop_fd, .events = ZMQ_POLLIN},
    };
    for (size_t i = 0; i < b->n_fds; i++)
        items[2 + i] = (zmq_pollitem_t){.fd = b->fds[i].fd, .events = ZMQ_POLLIN};
    int n_items = 2 + (int)b->n_fds;
    int zap_item = -1;
    if (b->zap != NULL) {
        zap_item = n_items++;
        items[zap_item] = (zmq_pollitem_t){.socket = b->zap, .events = ZMQ_POLLIN};
    }
    for (;;) {
        b->now = kr_time_ms();
        uint64_t next = b->next_probe;
        if (b->retry_at && b->retry_at < next)
            next = b->retry_at;
        for (size_t i = 0; i < b->n_ticks; i++)
            if (b->ticks[i].next < next)
                next = b->ticks[i].next;
        long timeout = next > b->now ? (long)(next - b->now) : 0;
        int rc = zmq_poll(items, n_items, timeout);
        if (rc < 0 && errno != EINTR) {
            KR_ERROR(TAG, "zmq_poll failed", "error=\"%s\"", zmq_strerror(errno));
            break;
        }
        if (items[1].revents & ZMQ_POLLIN)
            break;
        b->now = kr_time_ms();
        if (zap_item >= 0 && (items[zap_item].revents & ZMQ_POLLIN))
            for (int i = 0; i < 64; i++)
                zap_handle(b);
        for (size_t i = 0; i < b->n_fds; i++)
            if (items[2 + i].revents & ZMQ_POLLIN) {
                b->fds[i].fn(b, b->fds[i].fd, b->fds[i].ud);
                process_lost(b);
            }
        int got = 0;
        while (got < BK_DRAIN_BATCH && recv_one(b))
            got++;
        if (got > 0 && got < BK_DRAIN_BATCH) {
            /* Under load, letting the clients we just answered run before
             * we sleep means the next wakeup finds a batch instead of one
             * message: fewer context switches per round trip. */
            sched_yield();
            while (got < BK_DRAIN_BATCH && recv_one(b))
                got++;
        }
        b->now = kr_time_ms();
        if (b->retry_at && b->now >= b->retry_at)
            flush_backlogs(b);
        for (size_t i = 0; i < b->n_ticks; i++) {
            bk_tick_t *t = &b->ticks[i];
            if (b->now >= t->next) {
                t->next = b->now + t->period;
                t->fn(b, b->now, t->ud);
                process_lost(b);
            }
        }
        if (b->now >= b->next_probe) {
            probe_peers(b);
            b->next_probe = b->now + BK_PROBE_MS;
        }
        process_lost(b);
    }
    return NULL;
}

int kr_broker_start(kr_broker_t *b, kr_error_t *err)
{
    if (b->sock == NULL)
        return kr_error_set(err, KR_E_INVALID, "a detached broker cannot be started");
    if (b->started || b->stopped)
        return kr_error_set(err, KR_E_ALREADY_EXISTS, "the broker is already running");
    int rc = kr_thread_create(&b->thread, NULL, broker_main, b);
    if (rc != 0)
        return kr_error_set(err, KR_E_INTERNAL, "bus: cannot start the broker thread: %s",
                            strerror(rc));
    b->started = true;
    return 0;
}

void kr_broker_stop(kr_broker_t *b)
{
    if (b == NULL || !b->started)
        return;
    uint64_t one = 1;
    ssize_t w = write(b->stop_fd, &one, sizeof one);
    (void)w;
    pthread_join(b->thread, NULL);
    b->started = false;
    b->stopped = true;
}

void kr_broker_destroy(kr_broker_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_broker_t *b = *self_p;
    kr_broker_stop(b);
    /* every route first: a route is linked into its provider's list too,
     * and that peer may come later in the table */
    for (size_t i = 0; i < b->peers_cap; i++)
        for (bk_peer_t *p = b->peers[i]; p != NULL; p = p->hnext)
            while (!dl_empty(&p->client))
                route_free(b, container_of(p->client.next, bk_route_t, client_link), true);
    for (size_t i = 0; i < b->peers_cap; i++) {
        bk_peer_t *p = b->peers[i];
        while (p) {
            bk_peer_t *next = p->hnext;
            while (p->bq_head) {
                bk_out_t *o = p->bq_head;
                p->bq_head = o->next;
                out_free(o);
            }
            free(p->user);
            free(p);
            p = next;
        }
    }
    free(b->peers);
    free(b->routes);
    for (size_t i = 0; i < BK_HANDLER_BUCKETS; i++) {
        bk_handler_t *h = b->handlers[i];
        while (h) {
            bk_handler_t *next = h->next;
            handler_free(h);
            h = next;
        }
    }
    if (b->sock) {
        /* unbinding inproc is synchronous, closing is not: a new broker in
         * this process can bind the same endpoint at once */
        zmq_unbind(b->sock, KR_BUS_INPROC_ENDPOINT);
        zmq_close(b->sock);
    }
    if (b->zap) {
        zmq_unbind(b->zap, "inproc://zeromq.zap.01");
        zmq_close(b->zap);
    }
    kr_curve_clients_destroy(&b->clients);
    if (b->ipc_path) {
        unlink(b->ipc_path);
        free(b->ipc_path);
    }
    if (b->stop_fd >= 0)
        close(b->stop_fd);
    free(b->pk.data);
    free(b);
    *self_p = NULL;
}

void kr_broker_stats(const kr_broker_t *b, kr_broker_stats_t *out)
{
    bk_stats_t *s = (bk_stats_t *)&b->st;
    out->msgs_in = atomic_load(&s->msgs_in);
    out->msgs_out = atomic_load(&s->msgs_out);
    out->bad_frames = atomic_load(&s->bad_frames);
    out->bad_envelopes = atomic_load(&s->bad_envelopes);
    out->unknown_ops = atomic_load(&s->unknown_ops);
    out->too_large = atomic_load(&s->too_large);
    out->watches_expired = atomic_load(&s->watches_expired);
    out->peers_lost = atomic_load(&s->peers_lost);
    out->backlogged = atomic_load(&s->backlogged);
}
