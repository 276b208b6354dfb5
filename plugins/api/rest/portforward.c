/* pods/portforward over SPDY (portforward.h).
 *
 * Runs on one serving thread: the upgraded socket is a loop fd, the agent
 * streams are on the thread's bus connection.  The session lives while its
 * socket is open and a connection lives while its agent stream is open
 * (refs).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "portforward.h"
#include "spdy.h"
#include "websocket.h"

#define PF_NODE_RES    "node-stream/"
#define PF_INPUT_OP    "node.stream.input"
#define PF_ACK_EVERY   (128 * 1024)
#define PF_INPUT_CHUNK (64 * 1024)
#define PF_TIMEOUT_MS  30000

typedef struct pf_conn pf_conn_t;

struct rest_pf {
    rest_loop_t *loop;
    kr_arena_t *a;
    const char *node, *ns, *pod, *uid;
    kr_value_t *auth; /* the requesting user */
    bool tunneled;
    unsigned refs;
    int sock;
    struct MHD_UpgradeResponseHandle *urh;
    rest_ws_t ws;
    rest_spdy_t *spdy;
    kr_buf_t out, frames;
    size_t out_off;
    bool closed;
    pf_conn_t *conns;
    unsigned next_session;
    rest_pf_t *up_next; /* sessions with a socket, for rest_pf_end */
};

static pthread_mutex_t upgraded_mu = PTHREAD_MUTEX_INITIALIZER;
static rest_pf_t *upgraded;

static void upgraded_remove(rest_pf_t *pf)
{
    pthread_mutex_lock(&upgraded_mu);
    for (rest_pf_t **q = &upgraded; *q; q = &(*q)->up_next)
        if (*q == pf) {
            *q = pf->up_next;
            break;
        }
    pthread_mutex_unlock(&upgraded_mu);
}

struct pf_conn {
    rest_pf_t *pf;
    pf_conn_t *next;
    char reqid[64];
    int port;
    uint32_t err_id, data_id;
    char session[64];
    uint64_t watch_id;
    bool watching, ready, done;
    unsigned refs;
    kr_buf_t inq;
    bool in_close, in_busy;
    uint64_t received, acked;
};

static void pf_unref(rest_pf_t *pf)
{
    if (--pf->refs > 0)
        return;
    rest_spdy_destroy(&pf->spdy);
    rest_ws_free(&pf->ws);
    kr_buf_free(&pf->out);
    kr_buf_free(&pf->frames);
    kr_arena_destroy(&pf->a);
    free(pf);
}

static void conn_unref(pf_conn_t *c)
{
    if (--c->refs > 0)
        return;
    rest_pf_t *pf = c->pf;
    for (pf_conn_t **p = &pf->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    kr_buf_free(&c->inq);
    free(c);
    pf_unref(pf);
}

/* Drops n references at once (0: none).  Two unref calls in a row read to
 * GCC's -Wuse-after-free (Release builds) as a use after free, although
 * the first can never be the last. */
static void conn_unref_n(pf_conn_t *c, unsigned n)
{
    if (n == 0)
        return;
    c->refs -= n - 1;
    conn_unref(c);
}

/* ---- output ---------------------------------------------------------------- */

static void pf_close(rest_pf_t *pf);

static void sock_interest(rest_pf_t *pf)
{
    if (pf->sock < 0)
        return;
    uint32_t ev = KR_LOOP_READ;
    if (pf->out.len > pf->out_off)
        ev |= KR_LOOP_WRITE;
    kr_loop_mod_fd(rest_loop_loop(pf->loop), pf->sock, ev, NULL);
}

static void input_pump(pf_conn_t *c);

/* Moves the SPDY frames made so far to the socket's buffer (in a
 * WebSocket message when tunneled) and writes what it can. */
static void pf_flush(rest_pf_t *pf)
{
    if (pf->frames.len > 0) {
        if (pf->tunneled)
            rest_ws_frame(&pf->out, REST_WS_BINARY, pf->frames.data, pf->frames.len);
        else
            kr_buf_append(&pf->out, pf->frames.data, pf->frames.len);
        kr_buf_reset(&pf->frames);
    }
    while (pf->sock >= 0 && pf->out.len > pf->out_off) {
        ssize_t n =
            send(pf->sock, pf->out.data + pf->out_off, pf->out.len - pf->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            pf_close(pf);
            return;
        }
        pf->out_off += (size_t)n;
    }
    if (pf->out_off == pf->out.len) {
        kr_buf_reset(&pf->out);
        pf->out_off = 0;
        /* everything received is delivered: acknowledge */
        for (pf_conn_t *c = pf->conns; c; c = c->next)
            input_pump(c);
    }
    sock_interest(pf);
}

/* ---- a connection's agent stream ------------------------------------------------ */

static void on_input_reply(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    (void)reply;
    pf_conn_t *c = ud;
    c->in_busy = false;
    input_pump(c);
    conn_unref(c);
}

static void input_pump(pf_conn_t *c)
{
    rest_pf_t *pf = c->pf;
    kr_bus_t *bus = rest_loop_bus(pf->loop);
    if (c->in_busy || !c->watching || !c->ready || bus == NULL)
        return;
    bool delivered = pf->out.len == pf->out_off;
    bool ack = delivered && c->received >= c->acked + PF_ACK_EVERY;
    if (c->inq.len == 0 && !c->in_close && !ack)
        return;
    kr_arena_t *a = kr_arena_new(1024);
    kr_value_t *o = kr_value_map(a);
    kr_value_map_set(a, o, "session", kr_value_str(a, c->session));
    size_t n = c->inq.len < PF_INPUT_CHUNK ? c->inq.len : PF_INPUT_CHUNK;
    if (n > 0)
        kr_value_map_set(a, o, "d", kr_value_strn(a, c->inq.data, n));
    bool close = c->in_close && n == c->inq.len;
    if (close)
        kr_value_map_set(a, o, "close", kr_value_bool(a, true));
    if (delivered)
        kr_value_map_set(a, o, "ack", kr_value_int(a, (int64_t)c->received));
    kr_request_t req = {.op = PF_INPUT_OP, .res = pf->node, .obj = o, .auth = pf->auth};
    if (kr_bus_send(bus, &req, on_input_reply, c, PF_TIMEOUT_MS, NULL, NULL) == 0) {
        c->refs++;
        c->in_busy = true;
        if (delivered)
            c->acked = c->received;
        if (close)
            c->in_close = false;
        if (n > 0) {
            memmove(c->inq.data, c->inq.data + n, c->inq.len - n);
            c->inq.len -= n;
        }
    }
    kr_arena_destroy(&a);
}

/* Ends a connection towards the client: the message (if any) on its error
 * stream, then both streams closed. */
static void conn_finish(pf_conn_t *c, const char *message)
{
    rest_pf_t *pf = c->pf;
    if (c->done)
        return;
    c->done = true;
    if (pf->closed)
        return;
    if (message != NULL)
        rest_spdy_data(&pf->frames, c->err_id, message, strlen(message), true);
    else
        rest_spdy_data(&pf->frames, c->err_id, NULL, 0, true);
    rest_spdy_data(&pf->frames, c->data_id, NULL, 0, true);
    pf_flush(pf);
}

static void on_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)id;
    pf_conn_t *c = ud;
    rest_pf_t *pf = c->pf;
    c->refs++;
    unsigned drop = 1; /* that one */
    if (strcmp(ev->type, "READY") == 0) {
        c->ready = true;
        input_pump(c);
    } else if (strcmp(ev->type, "DATA") == 0) {
        const kr_value_t *d = kr_value_map_get(ev->obj, "d");
        c->received += kr_value_len(d);
        if (!pf->closed && !c->done) {
            rest_spdy_data(&pf->frames, c->data_id, kr_value_as_str(d), kr_value_len(d), false);
            pf_flush(pf);
        }
    } else if (strcmp(ev->type, "ERROR") == 0) {
        c->watching = false;
        const char *st = kr_value_map_str(ev->obj, "status");
        if (st != NULL && strcmp(st, "Success") == 0) {
            conn_finish(c, NULL);
        } else {
            /* the kubelet's words (portforward.go) */
            const char *msg = kr_value_map_str(ev->obj, "message");
            char *m = kr_arena_printf(pf->a, "error forwarding port %d to pod %s, uid %s: %s",
                                      c->port, pf->pod, pf->uid, msg ? msg : "failed");
            conn_finish(c, m);
        }
        drop++; /* the stream's */
    }
    conn_unref_n(c, drop);
}

static void conn_start(pf_conn_t *c)
{
    rest_pf_t *pf = c->pf;
    kr_bus_t *bus = rest_loop_bus(pf->loop);
    kr_arena_t *a = kr_arena_new(1024);
    kr_value_t *o = kr_value_map(a);
    kr_value_map_set(a, o, "uid", kr_value_str(a, pf->uid));
    kr_value_map_set(a, o, "port", kr_value_int(a, c->port));
    kr_value_map_set(a, o, "session", kr_value_str(a, c->session));
    kr_request_t req = {
        .op = "watch",
        .res = kr_arena_printf(a, PF_NODE_RES "%s", pf->node),
        .sub = "portforward",
        .ns = pf->ns,
        .name = pf->pod,
        .obj = o,
        .auth = pf->auth,
    };
    kr_error_t err;
    if (bus != NULL && kr_bus_watch(bus, &req, on_event, c, &c->watch_id, &err) == 0) {
        c->watching = true;
        c->refs++;
    } else {
        conn_finish(c, bus ? err.message : "the bus is not reachable");
    }
    kr_arena_destroy(&a);
}

/* ---- SPDY callbacks ------------------------------------------------------------- */

static pf_conn_t *conn_by_stream(rest_pf_t *pf, uint32_t id)
{
    for (pf_conn_t *c = pf->conns; c; c = c->next)
        if (c->data_id == id || c->err_id == id)
            return c;
    return NULL;
}

static void on_stream(void *ud, uint32_t id, const kr_value_t *h, bool fin)
{
    (void)fin;
    rest_pf_t *pf = ud;
    const char *type = kr_value_map_str(h, "streamtype");
    const char *port = kr_value_map_str(h, "port");
    const char *reqid = kr_value_map_str(h, "requestid");
    rest_spdy_syn_reply(pf->spdy, &pf->frames, id, false);
    char *end = NULL;
    long p = port ? strtol(port, &end, 10) : 0;
    if (type == NULL || port == NULL || *end != '\0' || p <= 0 || p > 65535 ||
        (strcmp(type, "error") != 0 && strcmp(type, "data") != 0)) {
        rest_spdy_rst(&pf->frames, id, 1);
        return;
    }
    if (reqid == NULL)
        reqid = ""; /* kubectl before 1.6 sent none */
    pf_conn_t *c = NULL;
    for (c = pf->conns; c; c = c->next)
        if (strcmp(c->reqid, reqid) == 0 && !c->done)
            break;
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            abort();
        c->pf = pf;
        c->refs = 1; /* the session's, dropped when the session closes */
        pf->refs++;
        snprintf(c->reqid, sizeof c->reqid, "%s", reqid);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(c->session, sizeof c->session, "pf-%lx-%lx-%u", (long)ts.tv_sec, (long)ts.tv_nsec,
                 pf->next_session++);
        c->next = pf->conns;
        pf->conns = c;
    }
    c->port = (int)p;
    if (strcmp(type, "error") == 0)
        c->err_id = id;
    else
        c->data_id = id;
    if (c->err_id != 0 && c->data_id != 0 && !c->watching && !c->done)
        conn_start(c);
}

static void on_data(void *ud, uint32_t id, const uint8_t *d, size_t n, bool fin)
{
    rest_pf_t *pf = ud;
    pf_conn_t *c = conn_by_stream(pf, id);
    if (c == NULL || id != c->data_id || c->done)
        return;
    kr_buf_append(&c->inq, d, n);
    if (fin)
        c->in_close = true;
    input_pump(c);
}

/* Ends the connection's stream; returns the references the caller must
 * drop (the stream's, when it had one). */
static unsigned conn_stop(pf_conn_t *c)
{
    kr_bus_t *bus = rest_loop_bus(c->pf->loop);
    c->done = true;
    if (!c->watching)
        return 0;
    if (bus != NULL)
        kr_bus_unwatch(bus, c->watch_id, NULL);
    c->watching = false;
    return 1;
}

static void on_reset(void *ud, uint32_t id)
{
    pf_conn_t *c = conn_by_stream(ud, id);
    if (c != NULL)
        conn_unref_n(c, conn_stop(c));
}

static void on_goaway(void *ud)
{
    pf_close(ud);
}

/* ---- the socket ---------------------------------------------------------------- */

static void pf_close(rest_pf_t *pf)
{
    if (pf->closed)
        return;
    pf->closed = true;
    pf->refs++;
    if (pf->sock >= 0) {
        kr_loop_remove_fd(rest_loop_loop(pf->loop), pf->sock);
        upgraded_remove(pf);
        pf->sock = -1;
        MHD_upgrade_action(pf->urh, MHD_UPGRADE_ACTION_CLOSE);
    }
    /* every connection lets go of its stream and of the session's ref */
    pf_conn_t *c = pf->conns;
    while (c != NULL) {
        pf_conn_t *next = c->next;
        conn_unref_n(c, conn_stop(c) + 1); /* the stream's and the session's */
        c = next;
    }
    pf->refs--; /* the socket's; ours keeps pf alive until the unref below */
    pf_unref(pf);
}

static void feed(rest_pf_t *pf, const void *d, size_t n)
{
    if (rest_spdy_feed(pf->spdy, d, n, &pf->frames) < 0)
        pf_close(pf);
}

/* Bytes from the client: SPDY, or WebSocket messages carrying it. */
static void incoming(rest_pf_t *pf, const void *buf, size_t n)
{
    if (!pf->tunneled) {
        feed(pf, buf, n);
        return;
    }
    rest_ws_feed(&pf->ws, buf, n);
    int op;
    const uint8_t *d;
    size_t len;
    rest_ws_ev_t ev;
    while (!pf->closed &&
           (ev = rest_ws_next(&pf->ws, &pf->out, &op, &d, &len)) != REST_WS_EV_NONE) {
        if (ev != REST_WS_EV_MESSAGE) {
            pf_flush(pf); /* the answer to the close */
            pf_close(pf);
            break;
        }
        feed(pf, d, len);
    }
}

static void on_sock(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    rest_pf_t *pf = ud;
    pf->refs++;
    if (events & KR_LOOP_WRITE)
        pf_flush(pf);
    if (!pf->closed && (events & (KR_LOOP_READ | KR_LOOP_ERROR))) {
        char buf[32 * 1024];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            pf_close(pf);
        } else if (n > 0) {
            incoming(pf, buf, (size_t)n);
        }
        if (!pf->closed)
            pf_flush(pf);
    }
    pf_unref(pf);
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra,
                       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)conn;
    (void)con_cls;
    rest_pf_t *pf = cls;
    pf->sock = sock;
    pf->urh = urh;
    fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
    if (kr_loop_add_fd(rest_loop_loop(pf->loop), sock, KR_LOOP_READ, on_sock, pf, NULL) < 0) {
        pf_close(pf);
        return;
    }
    pthread_mutex_lock(&upgraded_mu);
    pf->up_next = upgraded;
    upgraded = pf;
    pthread_mutex_unlock(&upgraded_mu);
    pf->refs++;
    if (extra_len > 0)
        incoming(pf, extra, extra_len);
    if (!pf->closed)
        pf_flush(pf);
    pf_unref(pf);
}

void rest_pf_end(rest_loop_t *l)
{
    for (;;) {
        rest_pf_t *pf;
        pthread_mutex_lock(&upgraded_mu);
        for (pf = upgraded; pf != NULL && pf->loop != l; pf = pf->up_next)
            ;
        pthread_mutex_unlock(&upgraded_mu);
        if (pf == NULL)
            break;
        pf_close(pf);
    }
}

rest_pf_t *rest_pf_new(rest_loop_t *loop, const char *node, const char *ns, const char *pod,
                       const char *uid, const kr_value_t *auth, bool tunneled)
{
    rest_pf_t *pf = calloc(1, sizeof *pf);
    if (pf == NULL)
        abort();
    pf->loop = loop;
    pf->a = kr_arena_new(1024);
    pf->node = kr_arena_strdup(pf->a, node);
    pf->ns = kr_arena_strdup(pf->a, ns);
    pf->pod = kr_arena_strdup(pf->a, pod);
    pf->uid = kr_arena_strdup(pf->a, uid);
    pf->auth = kr_value_copy(pf->a, auth);
    pf->tunneled = tunneled;
    pf->refs = 1; /* the socket's, from on_upgrade to pf_close */
    pf->sock = -1;
    rest_spdy_cb_t cb = {on_stream, on_data, on_reset, on_goaway};
    pf->spdy = rest_spdy_new(&cb, pf);
    return pf;
}

struct MHD_Response *rest_pf_upgrade_response(rest_pf_t *pf, const char *ws_accept)
{
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, pf);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "Upgrade");
    if (pf->tunneled) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
        MHD_add_response_header(resp, "Sec-WebSocket-Accept", ws_accept);
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", REST_PF_WS_PROTOCOL);
    } else {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "SPDY/3.1");
        MHD_add_response_header(resp, "X-Stream-Protocol-Version", REST_PF_PROTOCOL);
    }
    return resp;
}
