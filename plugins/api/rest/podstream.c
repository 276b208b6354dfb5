/* pods/log, pods/exec, pods/attach (podstream.h).
 *
 * Everything of a request runs on its serving thread: the pod's get and
 * the agent's stream are on that thread's bus connection, the log body is
 * drained by MHD there, and an upgraded WebSocket's socket is one more fd
 * of that thread's loop.  A request's state lives until the last of its
 * holders lets go (refs): the bus stream, an input request in flight, the
 * HTTP body reader, the upgraded socket.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "podstream.h"
#include "portforward.h"
#include "spdy.h"
#include "websocket.h"

#define PS_NODE_RES    "node-stream/" /* agent-node's stream.h */
#define PS_INPUT_OP    "node.stream.input"
#define PS_ACK_EVERY   (128 * 1024) /* delivered bytes between two acks */
#define PS_INPUT_CHUNK (64 * 1024)
#define PS_INPUT_MAX   (1u << 20) /* queued stdin before the socket is not read */
#define PS_OUT_MAX     (4u << 20) /* unsent output: the agent's window keeps it lower */
#define PS_CLOSE_WAIT  30000      /* ms for the client to close after the last frames */
#define PS_TIMEOUT_MS  30000      /* for the pod's get and input requests */
#define PS_V5          "v5.channel.k8s.io"
#define PS_V4          "v4.channel.k8s.io"
#define PS_STATUS_OK   "{\"metadata\":{},\"status\":\"Success\"}"

typedef enum { K_LOG, K_EXEC, K_ATTACH, K_PF } kind_t;
typedef enum { ST_POD, ST_FIRST, ST_BODY, ST_UPGRADED, ST_DONE } state_t;

typedef struct ps {
    rest_gw_t *gw;
    rest_loop_t *loop;
    struct MHD_Connection *conn;
    struct MHD_Response **later;
    unsigned *later_code;
    kr_arena_t *a;
    unsigned refs;
    kind_t kind;
    state_t state;
    const char *ns, *name, *sub, *node;
    /* parameters */
    const char *container;
    kr_value_t *command;
    bool in, out, err, tty;
    bool follow;
    kr_value_t *params; /* obj of the agent's stream */
    kr_value_t *auth;   /* the requesting user, forwarded to the agent */
    const char *proto;  /* the WebSocket subprotocol chosen */
    bool spdy;          /* the client asked for SPDY/3.1 (kubectl before 1.30) */
    char accept[29];
    char session[40];
    /* the agent's stream */
    uint64_t watch_id;
    bool watching;
    uint64_t received, acked; /* DATA bytes, and those acknowledged */
    bool ack_in_flight;
    /* the HTTP log body */
    kr_buf_t body;
    size_t body_off;
    bool ended, suspended;
    /* the WebSocket */
    int sock;
    struct MHD_UpgradeResponseHandle *urh;
    rest_ws_t ws;
    kr_buf_t wout;
    size_t wout_off;
    uint64_t out_data; /* DATA bytes queued in wout, acknowledged once written */
    bool closing;      /* the last frames are queued: close once sent */
    uint64_t close_timer;
    struct ps *up_next; /* the upgraded sessions, for rest_podstream_end */
    /* SPDY: a stream per channel, opened by the client after the upgrade;
     * output for a channel whose stream is not open yet waits in pend */
    rest_spdy_t *sp;
    uint32_t sid[5];
    kr_buf_t pend[4];
    const char *final_status; /* the exit's status, once known */
    bool finishing, spdy_done;
    /* input to the agent */
    kr_buf_t inq;
    bool in_close, in_busy;
    int64_t cols, rows;
} ps_t;

/* Upgraded sessions of every serving thread: a stopping gateway closes
 * them before MHD stops (their loop no longer runs their timers). */
static pthread_mutex_t upgraded_mu = PTHREAD_MUTEX_INITIALIZER;
static ps_t *upgraded;

static void upgraded_add(ps_t *p)
{
    pthread_mutex_lock(&upgraded_mu);
    p->up_next = upgraded;
    upgraded = p;
    pthread_mutex_unlock(&upgraded_mu);
}

static void upgraded_remove(ps_t *p)
{
    pthread_mutex_lock(&upgraded_mu);
    for (ps_t **q = &upgraded; *q; q = &(*q)->up_next)
        if (*q == p) {
            *q = p->up_next;
            break;
        }
    pthread_mutex_unlock(&upgraded_mu);
}

static void ws_close_now(ps_t *p);

void rest_podstream_end(rest_loop_t *l)
{
    for (;;) {
        ps_t *p;
        pthread_mutex_lock(&upgraded_mu);
        for (p = upgraded; p != NULL && p->loop != l; p = p->up_next)
            ;
        pthread_mutex_unlock(&upgraded_mu);
        if (p == NULL)
            break;
        ws_close_now(p);
    }
    rest_pf_end(l);
}

static void ps_unref(ps_t *p)
{
    if (--p->refs > 0)
        return;
    if (p->close_timer)
        kr_loop_cancel_timer(rest_loop_loop(p->loop), p->close_timer);
    kr_buf_free(&p->body);
    kr_buf_free(&p->wout);
    kr_buf_free(&p->inq);
    rest_ws_free(&p->ws);
    rest_spdy_destroy(&p->sp);
    for (int i = 0; i < 4; i++)
        kr_buf_free(&p->pend[i]);
    kr_arena_destroy(&p->a);
    free(p);
}

/* Drops n references at once.  Two ps_unref calls in a row read to GCC's
 * -Wuse-after-free (Release builds) as a use after free, although the
 * first can never be the last. */
static void ps_unref_n(ps_t *p, unsigned n)
{
    p->refs -= n - 1;
    ps_unref(p);
}

bool rest_podstream_sub(const char *sub)
{
    return sub != NULL && (strcmp(sub, "log") == 0 || strcmp(sub, "exec") == 0 ||
                           strcmp(sub, "attach") == 0 || strcmp(sub, "portforward") == 0);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool rest_podstream_long_running(struct MHD_Connection *conn, const char *url)
{
    if (strncmp(url, "/api/v1/namespaces/", 19) != 0 || strstr(url, "/pods/") == NULL)
        return false;
    if (ends_with(url, "/exec") || ends_with(url, "/attach") || ends_with(url, "/portforward"))
        return true;
    const char *f = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "follow");
    return ends_with(url, "/log") && f != NULL && strcmp(f, "true") == 0;
}

/* ---- answers ----------------------------------------------------------------- */

static struct MHD_Response *json_response(const kr_value_t *v)
{
    kr_buf_t buf = KR_BUF_INIT;
    kr_json_encode(v, &buf, KR_JSON_COMPACT, NULL);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(buf.len, buf.data ? buf.data : (char *)"{}",
                                        buf.data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
    return resp;
}

static struct MHD_Response *status_response(kr_arena_t *a, kr_reason_t reason, int code,
                                            const char *message, unsigned *code_out)
{
    kr_value_t *st = kr_status_new(a, reason, message);
    if (code > 0)
        kr_value_map_set(a, st, "code", kr_value_int(a, code));
    *code_out = (unsigned)(code > 0 ? code : kr_reason_code(reason));
    return json_response(st);
}

/* The deferred answer: MHD takes it when the connection resumes. */
static void answer(ps_t *p, unsigned code, struct MHD_Response *resp)
{
    *p->later = resp;
    *p->later_code = code;
    p->later = NULL;
    rest_loop_resume(p->conn);
}

static void answer_status(ps_t *p, kr_reason_t reason, int code, const char *message)
{
    unsigned c;
    struct MHD_Response *resp = status_response(p->a, reason, code, message, &c);
    p->state = ST_DONE;
    answer(p, c, resp);
}

/* ---- input and acknowledgements to the agent ---------------------------------- */

static kr_bus_t *ps_bus(ps_t *p)
{
    return rest_loop_bus(p->loop);
}

static void input_pump(ps_t *p);

static void on_input_reply(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    (void)reply;
    ps_t *p = ud;
    p->in_busy = false;
    if (p->watching)
        input_pump(p);
    ps_unref(p);
}

static void sock_interest(ps_t *p);

/* Sends queued stdin, a resize or a close, one request at a time (the
 * agent answers when it has room), and acknowledgements. */
static void input_pump(ps_t *p)
{
    kr_bus_t *bus = ps_bus(p);
    if (p->in_busy || !p->watching || bus == NULL)
        return;
    bool ack = p->acked + PS_ACK_EVERY <= p->received - p->out_data - p->body.len + p->body_off;
    if (p->inq.len == 0 && !p->in_close && p->cols == 0 && !ack)
        return;
    kr_arena_t *a = kr_arena_new(1024);
    kr_value_t *o = kr_value_map(a);
    kr_value_map_set(a, o, "session", kr_value_str(a, p->session));
    size_t n = p->inq.len < PS_INPUT_CHUNK ? p->inq.len : PS_INPUT_CHUNK;
    if (n > 0)
        kr_value_map_set(a, o, "d", kr_value_strn(a, p->inq.data, n));
    if (p->in_close && n == p->inq.len)
        kr_value_map_set(a, o, "close", kr_value_bool(a, true));
    if (p->cols > 0) {
        kr_value_t *r = kr_value_map(a);
        kr_value_map_set(a, r, "width", kr_value_int(a, p->cols));
        kr_value_map_set(a, r, "height", kr_value_int(a, p->rows));
        kr_value_map_set(a, o, "resize", r);
    }
    uint64_t delivered = p->received - p->out_data - (p->body.len - p->body_off);
    kr_value_map_set(a, o, "ack", kr_value_int(a, (int64_t)delivered));
    kr_request_t req = {.op = PS_INPUT_OP, .res = p->node, .obj = o, .auth = p->auth};
    if (kr_bus_send(bus, &req, on_input_reply, p, PS_TIMEOUT_MS, NULL, NULL) == 0) {
        p->refs++;
        p->in_busy = true;
        p->acked = delivered;
        if (p->in_close && n == p->inq.len)
            p->in_close = false;
        p->cols = p->rows = 0;
        if (n > 0) {
            memmove(p->inq.data, p->inq.data + n, p->inq.len - n);
            p->inq.len -= n;
        }
        if (p->sock >= 0)
            sock_interest(p);
    }
    kr_arena_destroy(&a);
}

/* ---- the WebSocket ------------------------------------------------------------ */

static void on_sock(kr_loop_t *loop, int fd, uint32_t events, void *ud);
static void sock_events(ps_t *p, int fd, uint32_t events);
static void incoming(ps_t *p, const char *buf, size_t n);
static void on_close_timer(kr_loop_t *loop, uint64_t id, void *ud);

static void ws_close_now(ps_t *p)
{
    if (p->sock < 0)
        return;
    kr_loop_remove_fd(rest_loop_loop(p->loop), p->sock);
    upgraded_remove(p);
    p->sock = -1;
    MHD_upgrade_action(p->urh, MHD_UPGRADE_ACTION_CLOSE);
    p->urh = NULL;
    if (p->watching && ps_bus(p) != NULL)
        kr_bus_unwatch(ps_bus(p), p->watch_id, NULL);
    unsigned drop = 1; /* the socket's */
    if (p->watching) {
        p->watching = false;
        drop++; /* the stream's reference */
    }
    ps_unref_n(p, drop);
}

static void sock_interest(ps_t *p)
{
    uint32_t ev = 0;
    if (!p->closing && !p->ws.closed && p->inq.len < PS_INPUT_MAX)
        ev |= KR_LOOP_READ;
    if (p->wout.len > p->wout_off)
        ev |= KR_LOOP_WRITE;
    kr_loop_mod_fd(rest_loop_loop(p->loop), p->sock, ev, NULL);
}

/* Writes what it can; false when the socket is gone (p may be freed). */
static bool ws_flush(ps_t *p)
{
    if (p->sock < 0)
        return false;
    while (p->wout.len > p->wout_off) {
        ssize_t n =
            send(p->sock, p->wout.data + p->wout_off, p->wout.len - p->wout_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            ws_close_now(p);
            return false;
        }
        p->wout_off += (size_t)n;
    }
    if (p->wout_off == p->wout.len) {
        kr_buf_reset(&p->wout);
        p->wout_off = 0;
        p->out_data = 0;
        if (p->closing) {
            ws_close_now(p);
            return false;
        }
    }
    sock_interest(p);
    input_pump(p);
    return true;
}

static void on_close_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    ps_t *p = ud;
    p->close_timer = 0;
    ws_close_now(p);
}

/* The bound on how long the last frames may take to go out. */
static void arm_close(ps_t *p)
{
    if (p->close_timer == 0)
        p->close_timer =
            kr_loop_add_timer(rest_loop_loop(p->loop), PS_CLOSE_WAIT, 0, on_close_timer, p);
}

/* Output on a channel: a WebSocket message [ch][data], or data on the
 * client's SPDY stream of that type. */
static void out_channel(ps_t *p, int ch, const void *d, size_t n)
{
    if (p->sp == NULL && !p->spdy) {
        rest_ws_channel_frame(&p->wout, (uint8_t)ch, d, n);
        return;
    }
    if (p->sid[ch] == 0)
        kr_buf_append(&p->pend[ch], d, n);
    else if (n > 0)
        rest_spdy_data(&p->wout, p->sid[ch], d, n, false);
}

/* SPDY's end: the status on the error stream and every stream closed, as
 * soon as the client has opened its streams. */
static bool spdy_finish(ps_t *p)
{
    /* the client opens every stream it asked for: the output kept for
     * one not open yet must reach it first */
    bool want[5] = {p->in, p->out, p->err, true, p->tty};
    for (int ch = 0; ch < 5; ch++)
        if (want[ch] && p->sid[ch] == 0)
            return false;
    if (p->closing || p->spdy_done)
        return false;
    p->spdy_done = true;
    const char *st = p->final_status ? p->final_status : PS_STATUS_OK;
    rest_spdy_data(&p->wout, p->sid[3], st, strlen(st), true);
    for (int ch = 1; ch <= 2; ch++)
        if (p->sid[ch] != 0)
            rest_spdy_data(&p->wout, p->sid[ch], NULL, 0, true);
    return true;
}

/* Queues the last frames: the status on the error channel, then a close
 * frame (WebSocket).  The connection is closed by the client (kubectl
 * does once it has read everything) or by the timer: closing it here
 * once the frames are handed to MHD could cut what MHD still forwards
 * to a TLS client. */
static void ws_finish(ps_t *p, const char *status_json)
{
    if (p->closing || p->finishing)
        return;
    if (p->spdy) {
        p->final_status = status_json;
        p->finishing = true;
        arm_close(p);
        spdy_finish(p);
    } else {
        if (status_json != NULL)
            rest_ws_channel_frame(&p->wout, 3, status_json, strlen(status_json));
        rest_ws_close_frame(&p->wout, 1000, NULL);
        p->finishing = true;
        arm_close(p);
    }
    ws_flush(p);
}

/* remotecommand.TerminalSize objects, {"Width":80,"Height":24}; over SPDY
 * one after another on the resize stream: the last whole one counts. */
static void resize(ps_t *p, const uint8_t *d, size_t n)
{
    const char *s = (const char *)d, *open = NULL, *close = NULL;
    for (size_t i = n; i > 0 && open == NULL; i--) {
        if (s[i - 1] == '}' && close == NULL)
            close = s + i;
        else if (s[i - 1] == '{' && close != NULL)
            open = s + i - 1;
    }
    kr_value_t *v = NULL;
    if (open != NULL && kr_json_decode(p->a, open, (size_t)(close - open), &v, NULL) == 0) {
        p->cols = kr_value_map_int(v, "Width", 0);
        p->rows = kr_value_map_int(v, "Height", 0);
    }
}

/* A message from the client: [channel][data]. */
static void ws_message(ps_t *p, const uint8_t *d, size_t n)
{
    if (n == 0)
        return;
    switch (d[0]) {
    case 0:
        if (p->in)
            kr_buf_append(&p->inq, d + 1, n - 1);
        break;
    case 4:
        resize(p, d + 1, n - 1);
        break;
    case 255:
        /* v5: the client closed one of its streams */
        if (n >= 2 && d[1] == 0 && strcmp(p->proto, PS_V5) == 0)
            p->in_close = true;
        break;
    default:
        break;
    }
    input_pump(p);
}

static void on_sock(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    ps_t *p = ud;
    p->refs++;
    sock_events(p, fd, events);
    ps_unref(p);
}

static void sock_events(ps_t *p, int fd, uint32_t events)
{
    if ((events & KR_LOOP_WRITE) && !ws_flush(p))
        return;
    if (!(events & (KR_LOOP_READ | KR_LOOP_ERROR)))
        return;
    char buf[32 * 1024];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        ws_close_now(p);
        return;
    }
    incoming(p, buf, (size_t)n);
}

/* ---- SPDY streams (kubectl before 1.30) ------------------------------------- */

static int stream_channel(const char *type)
{
    static const char *const names[] = {"stdin", "stdout", "stderr", "error", "resize"};
    for (int i = 0; type != NULL && i < 5; i++)
        if (strcmp(type, names[i]) == 0)
            return i;
    return -1;
}

static void sp_stream(void *ud, uint32_t id, const kr_value_t *h, bool fin)
{
    (void)fin;
    ps_t *p = ud;
    int ch = stream_channel(kr_value_map_str(h, "streamtype"));
    rest_spdy_syn_reply(p->sp, &p->wout, id, false);
    if (ch < 0 || p->sid[ch] != 0) {
        rest_spdy_rst(&p->wout, id, 1);
        return;
    }
    p->sid[ch] = id;
    if (ch < 4 && p->pend[ch].len > 0) {
        rest_spdy_data(&p->wout, id, p->pend[ch].data, p->pend[ch].len, false);
        kr_buf_free(&p->pend[ch]);
    }
    if (p->finishing)
        spdy_finish(p);
}

static void sp_data(void *ud, uint32_t id, const uint8_t *d, size_t n, bool fin)
{
    ps_t *p = ud;
    if (id == p->sid[0] && id != 0) {
        if (p->in)
            kr_buf_append(&p->inq, d, n);
        if (fin)
            p->in_close = true;
    } else if (id == p->sid[4] && id != 0) {
        resize(p, d, n);
    }
    input_pump(p);
}

static void sp_goaway(void *ud)
{
    ps_t *p = ud;
    if (!p->closing) {
        p->closing = true;
        arm_close(p);
    }
}

/* Bytes from the client, SPDY or WebSocket. */
static void incoming(ps_t *p, const char *buf, size_t n)
{
    if (p->sp != NULL) {
        if (rest_spdy_feed(p->sp, buf, n, &p->wout) < 0)
            sp_goaway(p);
        ws_flush(p);
        return;
    }
    rest_ws_feed(&p->ws, buf, n);
    for (;;) {
        int op;
        const uint8_t *d;
        size_t len;
        rest_ws_ev_t ev = rest_ws_next(&p->ws, &p->wout, &op, &d, &len);
        if (ev == REST_WS_EV_NONE)
            break;
        if (ev == REST_WS_EV_MESSAGE) {
            ws_message(p, d, len);
            continue;
        }
        /* the client closed, or broke the protocol: the answer is queued;
         * what the process still prints is not wanted any more */
        p->closing = true;
        arm_close(p);
        break;
    }
    ws_flush(p);
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra,
                       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)conn;
    (void)con_cls;
    ps_t *p = cls;
    p->sock = sock;
    p->urh = urh;
    fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
    if (kr_loop_add_fd(rest_loop_loop(p->loop), sock, KR_LOOP_READ, on_sock, p, NULL) < 0) {
        p->sock = -1;
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        ps_unref(p);
        return;
    }
    upgraded_add(p);
    if (p->spdy) {
        rest_spdy_cb_t cb = {sp_stream, sp_data, NULL, sp_goaway};
        p->sp = rest_spdy_new(&cb, p);
    }
    p->refs++;
    if (extra_len > 0)
        incoming(p, extra, extra_len);
    ws_flush(p);
    ps_unref(p);
}

/* Holds a reference for on_upgrade, which MHD calls once the 101 went
 * out (never when the client left before: that reference is lost). */
static struct MHD_Response *upgrade_response(ps_t *p)
{
    p->refs++;
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, p);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "Upgrade");
    if (p->spdy) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "SPDY/3.1");
        MHD_add_response_header(resp, "X-Stream-Protocol-Version", p->proto);
        return resp;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", p->accept);
    MHD_add_response_header(resp, "Sec-WebSocket-Protocol", p->proto);
    return resp;
}

/* ---- the HTTP log body ---------------------------------------------------------- */

static void body_wake(ps_t *p)
{
    if (p->suspended) {
        p->suspended = false;
        rest_loop_resume(p->conn);
    }
}

static ssize_t body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ps_t *p = cls;
    size_t avail = p->body.len - p->body_off;
    if (avail > 0) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, p->body.data + p->body_off, n);
        p->body_off += n;
        if (p->body_off == p->body.len) {
            kr_buf_reset(&p->body);
            p->body_off = 0;
        }
        input_pump(p); /* acknowledges what went out */
        return (ssize_t)n;
    }
    if (p->ended)
        return MHD_CONTENT_READER_END_OF_STREAM;
    p->suspended = true;
    MHD_suspend_connection(p->conn);
    return 0;
}

static void body_done(void *cls)
{
    ps_t *p = cls;
    p->suspended = false;
    p->ended = true;
    if (p->watching && ps_bus(p) != NULL)
        kr_bus_unwatch(ps_bus(p), p->watch_id, NULL);
    unsigned drop = 1;
    if (p->watching) {
        p->watching = false;
        drop++;
    }
    ps_unref_n(p, drop);
}

static struct MHD_Response *body_response(ps_t *p)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, body_reader, p, body_done);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
    p->refs++;
    return resp;
}

/* ---- the agent's stream ------------------------------------------------------------ */

static const char *exit_status(kr_arena_t *a, const kr_value_t *command, int64_t code)
{
    if (code == 0)
        return PS_STATUS_OK;
    /* the kubelet's status for a non-zero exit (remotecommand) */
    kr_buf_t cmd = KR_BUF_INIT;
    for (size_t i = 0; i < kr_value_len(command); i++) {
        const char *arg = kr_value_as_str(kr_value_array_get(command, i));
        kr_buf_printf(&cmd, "%s%s", i ? " " : "", arg ? arg : "");
    }
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(a, st, "metadata", kr_value_map(a));
    kr_value_map_set(a, st, "status", kr_value_str(a, "Failure"));
    kr_value_map_set(
        a, st, "message",
        kr_value_str(a, kr_arena_printf(a,
                                        "command terminated with non-zero exit code: error "
                                        "executing command [%s], exit code %lld",
                                        cmd.data ? cmd.data : "", (long long)code)));
    kr_value_map_set(a, st, "reason", kr_value_str(a, "NonZeroExitCode"));
    kr_value_t *cause = kr_value_map(a);
    kr_value_map_set(a, cause, "reason", kr_value_str(a, "ExitCode"));
    kr_value_map_set(a, cause, "message",
                     kr_value_str(a, kr_arena_printf(a, "%lld", (long long)code)));
    kr_value_t *causes = kr_value_array(a);
    kr_value_array_push(a, causes, cause);
    kr_value_t *det = kr_value_map(a);
    kr_value_map_set(a, det, "causes", causes);
    kr_value_map_set(a, st, "details", det);
    kr_buf_free(&cmd);
    kr_buf_t out = KR_BUF_INIT;
    kr_json_encode(st, &out, KR_JSON_COMPACT, NULL);
    char *s = kr_arena_strdup(a, out.data ? out.data : "{}");
    kr_buf_free(&out);
    return s;
}

static const char *failure_status(kr_arena_t *a, const kr_value_t *st)
{
    kr_buf_t out = KR_BUF_INIT;
    kr_json_encode(st, &out, KR_JSON_COMPACT, NULL);
    char *s = kr_arena_strdup(a, out.data ? out.data : "{}");
    kr_buf_free(&out);
    return s;
}

static void on_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)id;
    ps_t *p = ud;
    p->refs++;         /* a flush may close the socket and drop the others */
    unsigned drop = 1; /* that one */
    bool end = strcmp(ev->type, "ERROR") == 0;
    const char *st_status = end ? kr_value_map_str(ev->obj, "status") : NULL;
    bool ok = st_status != NULL && strcmp(st_status, "Success") == 0;
    if (end)
        p->watching = false;

    if (p->state == ST_FIRST) {
        if (end && !ok) {
            const char *msg = kr_value_map_str(ev->obj, "message");
            int64_t code = kr_value_map_int(ev->obj, "code", 500);
            kr_reason_t reason = kr_reason_from_name(kr_value_map_str(ev->obj, "reason"));
            if (msg != NULL && strncmp(msg, "op \"watch\" for", 14) == 0) {
                msg =
                    kr_arena_printf(p->a, "no node agent serves streams for node \"%s\"", p->node);
                reason = KR_E_SERVICE_UNAVAILABLE;
                code = 503;
            }
            answer_status(p, reason, (int)code, msg ? msg : "the stream failed");
            ps_unref_n(p, 2);
            return;
        }
        if (p->kind == K_LOG) {
            p->state = ST_BODY;
            answer(p, 200, body_response(p));
        } else if (strcmp(ev->type, "READY") == 0) {
            p->state = ST_UPGRADED;
            answer(p, MHD_HTTP_SWITCHING_PROTOCOLS, upgrade_response(p));
            ps_unref(p);
            return;
        } else if (end) {
            answer_status(p, KR_E_INTERNAL, 500, "the stream ended before it started");
            ps_unref_n(p, 2);
            return;
        }
    }
    if (strcmp(ev->type, "DATA") == 0) {
        const kr_value_t *d = kr_value_map_get(ev->obj, "d");
        int64_t ch = kr_value_map_int(ev->obj, "ch", 1);
        size_t n = kr_value_len(d);
        p->received += n;
        if (p->kind == K_LOG) {
            kr_buf_append(&p->body, kr_value_as_str(d), n);
            body_wake(p);
        } else if ((ch == 1 && p->out) || (ch == 2 && p->err)) {
            out_channel(p, (int)ch, kr_value_as_str(d), n);
            p->out_data += n;
            ws_flush(p);
        } else {
            ws_flush(p); /* output nobody asked for counts as delivered */
        }
    } else if (strcmp(ev->type, "EXIT") == 0) {
        ws_finish(p, exit_status(p->a, p->command, kr_value_map_int(ev->obj, "code", -1)));
    } else if (end) {
        if (p->kind == K_LOG) {
            p->ended = true;
            body_wake(p);
        } else if (ok) {
            ws_finish(p, p->kind == K_EXEC ? NULL : PS_STATUS_OK);
        } else {
            ws_finish(p, failure_status(p->a, ev->obj));
        }
        drop++; /* the stream's reference */
    }
    ps_unref_n(p, drop);
}

/* ---- the pod --------------------------------------------------------------------- */

static const kr_value_t *find_named(const kr_value_t *arr, const char *name)
{
    for (size_t i = 0; i < kr_value_len(arr); i++) {
        const kr_value_t *c = kr_value_array_get(arr, i);
        const char *n = kr_value_map_str(c, "name");
        if (n != NULL && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

static void names(kr_buf_t *b, const kr_value_t *arr)
{
    kr_buf_puts(b, "[");
    for (size_t i = 0; i < kr_value_len(arr); i++) {
        const char *n = kr_value_map_str(kr_value_array_get(arr, i), "name");
        kr_buf_printf(b, "%s%s", i ? " " : "", n ? n : "");
    }
    kr_buf_puts(b, "]");
}

/* The container the request names, or its default, as the API server
 * picks it; NULL with the message in *msg. */
static const char *pick_container(ps_t *p, const kr_value_t *spec, const char **msg)
{
    const kr_value_t *cs = kr_value_map_get(spec, "containers");
    const kr_value_t *ics = kr_value_map_get(spec, "initContainers");
    const kr_value_t *ecs = kr_value_map_get(spec, "ephemeralContainers");
    if (p->container == NULL || *p->container == '\0') {
        if (kr_value_len(cs) == 1)
            return kr_value_map_str(kr_value_array_get(cs, 0), "name");
        kr_buf_t b = KR_BUF_INIT;
        kr_buf_printf(&b,
                      "a container name must be specified for pod %s, choose one of: ", p->name);
        names(&b, cs);
        if (kr_value_len(ics) > 0) {
            kr_buf_puts(&b, " or one of the init containers: ");
            names(&b, ics);
        }
        if (kr_value_len(ecs) > 0) {
            kr_buf_puts(&b, " or one of the ephemeral containers: ");
            names(&b, ecs);
        }
        *msg = kr_arena_strdup(p->a, b.data);
        kr_buf_free(&b);
        return NULL;
    }
    if (find_named(cs, p->container) || find_named(ics, p->container) ||
        find_named(ecs, p->container))
        return p->container;
    *msg = kr_arena_printf(p->a, "container %s is not valid for pod %s", p->container, p->name);
    return NULL;
}

/* Which restart's log file (the agent names them by attempt), as the
 * kubelet's validateContainerLogStatus picks the container. */
static int log_attempt(ps_t *p, const kr_value_t *pod, const char *cname, bool previous,
                       int64_t *attempt, const char **msg)
{
    const kr_value_t *status = kr_value_map_get(pod, "status");
    const kr_value_t *cst = NULL;
    static const char *const lists[] = {"containerStatuses", "initContainerStatuses",
                                        "ephemeralContainerStatuses"};
    for (size_t i = 0; i < 3 && cst == NULL; i++)
        cst = find_named(kr_value_map_get(status, lists[i]), cname);
    if (cst == NULL) {
        *msg = kr_arena_printf(p->a, "container \"%s\" in pod \"%s\" is not available", cname,
                               p->name);
        return -1;
    }
    int64_t restarts = kr_value_map_int(cst, "restartCount", 0);
    const kr_value_t *state = kr_value_map_get(cst, "state");
    const kr_value_t *last = kr_value_get(cst, "lastState.terminated");
    const kr_value_t *waiting = kr_value_map_get(state, "waiting");
    /* the agent's restartCount is the attempt of its newest container:
     * running or terminated it is the current one, waiting (a back-off)
     * it is lastState's */
    int64_t last_attempt = waiting != NULL ? restarts : restarts - 1;
    if (previous) {
        if (last == NULL || last_attempt < 0) {
            *msg = kr_arena_printf(p->a,
                                   "previous terminated container \"%s\" in pod \"%s\" not found",
                                   cname, p->name);
            return -1;
        }
        *attempt = last_attempt;
        return 0;
    }
    if (kr_value_map_get(state, "running") != NULL ||
        kr_value_map_get(state, "terminated") != NULL) {
        *attempt = restarts;
        return 0;
    }
    if (last != NULL && last_attempt >= 0) {
        *attempt = last_attempt;
        return 0;
    }
    const char *reason = kr_value_map_str(waiting, "reason");
    if (reason != NULL && strcmp(reason, "ErrImagePull") == 0)
        *msg = kr_arena_printf(p->a,
                               "container \"%s\" in pod \"%s\" is waiting to start: image can't be "
                               "pulled",
                               cname, p->name);
    else if (reason != NULL && strcmp(reason, "ImagePullBackOff") == 0)
        *msg = kr_arena_printf(p->a,
                               "container \"%s\" in pod \"%s\" is waiting to start: trying and "
                               "failing to pull image",
                               cname, p->name);
    else if (reason != NULL)
        *msg = kr_arena_printf(p->a, "container \"%s\" in pod \"%s\" is waiting to start: %s",
                               cname, p->name, reason);
    else
        *msg = kr_arena_printf(p->a,
                               "container \"%s\" in pod \"%s\" is waiting to start - no logs yet",
                               cname, p->name);
    return -1;
}

static void on_pod(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    ps_t *p = ud;
    if (reply->code != 200 || reply->obj == NULL) {
        kr_reason_t reason = reply->reason != KR_E_OK ? reply->reason : KR_E_INTERNAL;
        answer_status(p, reason, reply->code,
                      reply->message ? reply->message : kr_strerror(reason));
        ps_unref(p);
        return;
    }
    const kr_value_t *pod = reply->obj;
    const kr_value_t *spec = kr_value_map_get(pod, "spec");
    const char *msg = NULL;
    const char *cname = p->kind == K_PF ? "" : pick_container(p, spec, &msg);
    if (cname == NULL) {
        answer_status(p, KR_E_BAD_REQUEST, 400, msg);
        ps_unref(p);
        return;
    }
    const char *node = kr_value_map_str(spec, "nodeName");
    if (node == NULL || *node == '\0') {
        answer_status(p, KR_E_BAD_REQUEST, 400,
                      kr_arena_printf(p->a, "pod %s does not have a host assigned", p->name));
        ps_unref(p);
        return;
    }
    p->node = kr_arena_strdup(p->a, node);
    const char *phase =
        kr_value_get(pod, "status.phase") ? kr_value_as_str(kr_value_get(pod, "status.phase")) : "";
    if ((p->kind == K_EXEC || p->kind == K_ATTACH) && phase != NULL &&
        (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
        answer_status(p, KR_E_BAD_REQUEST, 400,
                      kr_arena_printf(p->a,
                                      "cannot %s into a container in a completed pod; current "
                                      "phase is %s",
                                      p->kind == K_EXEC ? "exec" : "attach", phase));
        ps_unref(p);
        return;
    }
    kr_arena_t *a = p->a;
    kr_value_t *o = p->params;
    const char *uid = kr_value_as_str(kr_value_get(pod, "metadata.uid"));
    kr_value_map_set(a, o, "uid", kr_value_str(a, uid ? uid : ""));
    kr_value_map_set(a, o, "container", kr_value_str(a, cname));
    kr_value_map_set(a, o, "session", kr_value_str(a, p->session));
    if (p->kind == K_LOG) {
        int64_t attempt;
        if (log_attempt(p, pod, cname, kr_value_as_bool(kr_value_map_get(o, "previous"), false),
                        &attempt, &msg) < 0) {
            answer_status(p, KR_E_BAD_REQUEST, 400, msg);
            ps_unref(p);
            return;
        }
        kr_value_map_set(a, o, "attempt", kr_value_int(a, attempt));
    }
    if (p->kind == K_PF) {
        rest_pf_t *pf =
            rest_pf_new(p->loop, node, p->ns, p->name, uid ? uid : "", p->auth, !p->spdy);
        p->state = ST_DONE;
        answer(p, MHD_HTTP_SWITCHING_PROTOCOLS, rest_pf_upgrade_response(pf, p->accept));
        ps_unref(p);
        return;
    }
    kr_request_t req = {
        .op = "watch",
        .res = kr_arena_printf(a, PS_NODE_RES "%s", node),
        .sub = p->sub,
        .ns = p->ns,
        .name = p->name,
        .obj = o,
        .auth = p->auth,
    };
    kr_error_t err;
    if (kr_bus_watch(bus, &req, on_event, p, &p->watch_id, &err) < 0) {
        answer_status(p, err.reason, 0, err.message);
        ps_unref(p);
        return;
    }
    p->watching = true;
    p->state = ST_FIRST;
    /* the pod's reference becomes the stream's */
}

/* ---- the request -------------------------------------------------------------------- */

static enum MHD_Result collect_command(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    ps_t *p = cls;
    if (strcmp(key, "command") == 0)
        kr_value_array_push(p->a, p->command, kr_value_str(p->a, value ? value : ""));
    return MHD_YES;
}

static const char *q(struct MHD_Connection *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static bool qbool(struct MHD_Connection *conn, const char *key)
{
    const char *v = q(conn, key);
    return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* A PodLogOptions integer; false with *msg when it is not one, or below min. */
static bool log_int(ps_t *p, const char *key, int64_t min, const char *rule, const char **msg)
{
    const char *v = q(p->conn, key);
    if (v == NULL || *v == '\0')
        return true;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end != '\0') {
        *msg = kr_arena_printf(p->a, "invalid value for %s: %s", key, v);
        return false;
    }
    if (n < min) {
        *msg = kr_arena_printf(p->a, "PodLogOptions \"%s\" is invalid: %s: Invalid value: %lld: %s",
                               p->name, key, n, rule);
        return false;
    }
    kr_value_map_set(p->a, p->params, key, kr_value_int(p->a, n));
    return true;
}

static const char *log_params(ps_t *p)
{
    const char *msg = NULL;
    kr_value_t *o = p->params;
    if (!log_int(p, "tailLines", 0, "must be greater than or equal to 0", &msg) ||
        !log_int(p, "limitBytes", 1, "must be greater than 0", &msg) ||
        !log_int(p, "sinceSeconds", 1, "must be greater than 0", &msg))
        return msg;
    const char *since_time = q(p->conn, "sinceTime");
    int64_t since_s = kr_value_map_int(o, "sinceSeconds", 0);
    if (since_s > 0 && since_time != NULL)
        return kr_arena_printf(p->a,
                               "PodLogOptions \"%s\" is invalid: : Forbidden: at most one of "
                               "`sinceTime` or `sinceSeconds` may be specified",
                               p->name);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (since_s > 0)
        kr_value_map_set(
            p->a, o, "sinceNs",
            kr_value_int(p->a, ((int64_t)now.tv_sec - since_s) * 1000000000 + now.tv_nsec));
    if (since_time != NULL && *since_time != '\0') {
        struct tm tm = {0};
        const char *end = strptime(since_time, "%Y-%m-%dT%H:%M:%S", &tm);
        if (end == NULL)
            return kr_arena_printf(p->a, "invalid value for sinceTime: %s", since_time);
        kr_value_map_set(p->a, o, "sinceNs", kr_value_int(p->a, (int64_t)timegm(&tm) * 1000000000));
    }
    p->follow = qbool(p->conn, "follow");
    kr_value_map_set(p->a, o, "follow", kr_value_bool(p->a, p->follow));
    kr_value_map_set(p->a, o, "timestamps", kr_value_bool(p->a, qbool(p->conn, "timestamps")));
    kr_value_map_set(p->a, o, "previous", kr_value_bool(p->a, qbool(p->conn, "previous")));
    return NULL;
}

/* Port-forward: SPDY/3.1 (portforward.k8s.io), directly or tunneled in a
 * WebSocket. */
static bool pf_params(ps_t *p, const char **msg)
{
    struct MHD_Connection *c = p->conn;
    const char *up = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *protos = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
    const char *spdy_protos =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Stream-Protocol-Version");
    if (up != NULL && strcasecmp(up, "websocket") == 0 && key != NULL && protos != NULL &&
        strstr(protos, REST_PF_WS_PROTOCOL) != NULL) {
        rest_ws_accept(key, p->accept);
        return true;
    }
    if (up != NULL && strncasecmp(up, "SPDY/3.1", 8) == 0 && spdy_protos != NULL &&
        strstr(spdy_protos, REST_PF_PROTOCOL) != NULL) {
        p->spdy = true;
        return true;
    }
    *msg = up != NULL ? "unable to upgrade: unable to negotiate protocol: the server supports "
                        "[" REST_PF_PROTOCOL "] over SPDY/3.1 or WebSocket"
                      : "Upgrade request required";
    return false;
}

/* X-Stream-Protocol-Version may come as several headers. */
static enum MHD_Result has_v4(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    (void)kind;
    if (strcasecmp(key, "X-Stream-Protocol-Version") == 0 && value != NULL &&
        strstr(value, PS_V4) != NULL)
        *(bool *)cls = true;
    return MHD_YES;
}

/* The WebSocket handshake's checks and the subprotocol; NULL with *msg. */
static bool ws_params(ps_t *p, const char **msg)
{
    struct MHD_Connection *c = p->conn;
    const char *up = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *protos = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
    if (up != NULL && strncasecmp(up, "SPDY/3.1", 8) == 0) {
        /* kubectl before 1.30, or its fallback after a refused WebSocket:
         * streams per channel, v4's status on the error stream */
        const char *v =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Stream-Protocol-Version");
        bool v4 = false;
        MHD_get_connection_values(c, MHD_HEADER_KIND, has_v4, &v4);
        if (!v4) {
            *msg = kr_arena_printf(p->a,
                                   "unable to upgrade: unable to negotiate protocol: client "
                                   "supports [%s], server supports [" PS_V4 "]",
                                   v ? v : "");
            return false;
        }
        p->spdy = true;
        p->proto = PS_V4;
        return true;
    }
    if (up == NULL || strcasecmp(up, "websocket") != 0 || key == NULL) {
        *msg = "Upgrade request required";
        return false;
    }
    p->proto = NULL;
    if (protos != NULL && strstr(protos, PS_V5) != NULL)
        p->proto = PS_V5;
    else if (protos != NULL && strstr(protos, PS_V4) != NULL)
        p->proto = PS_V4;
    if (p->proto == NULL) {
        *msg = kr_arena_printf(p->a,
                               "unable to upgrade: unable to negotiate protocol: client "
                               "supports %s, server supports [" PS_V5 " " PS_V4 "]",
                               protos ? protos : "[]");
        return false;
    }
    rest_ws_accept(key, p->accept);
    return true;
}

struct MHD_Response *rest_podstream_start(rest_gw_t *gw, struct MHD_Connection *conn,
                                          const char *method, const rest_route_t *route,
                                          const kr_value_t *user, struct MHD_Response **later,
                                          unsigned *later_code, unsigned *code)
{
    ps_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    p->gw = gw;
    p->loop = rest_loop_self();
    p->conn = conn;
    p->later = later;
    p->later_code = later_code;
    p->a = kr_arena_new(4096);
    p->auth = kr_value_copy(p->a, user);
    p->refs = 1;
    p->sock = -1;
    p->ns = kr_arena_strdup(p->a, route->ns ? route->ns : "");
    p->name = kr_arena_strdup(p->a, route->name);
    p->sub = kr_arena_strdup(p->a, route->sub);
    p->container = q(conn, "container") ? kr_arena_strdup(p->a, q(conn, "container")) : NULL;
    p->params = kr_value_map(p->a);
    p->kind = strcmp(p->sub, "log") == 0      ? K_LOG
              : strcmp(p->sub, "exec") == 0   ? K_EXEC
              : strcmp(p->sub, "attach") == 0 ? K_ATTACH
                                              : K_PF;
    const char *msg = NULL;
    kr_reason_t reason = KR_E_BAD_REQUEST;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(p->session, sizeof p->session, "%lx-%lx-%p", (long)ts.tv_sec, (long)ts.tv_nsec,
             (void *)p);
    if (p->kind == K_LOG) {
        if (strcmp(method, "GET") != 0) {
            reason = KR_E_METHOD_NOT_ALLOWED;
            msg = "the server does not allow this method on the requested resource";
        } else {
            msg = log_params(p);
            if (msg != NULL && strstr(msg, "is invalid") != NULL)
                reason = KR_E_INVALID;
        }
    } else if (p->kind == K_PF) {
        pf_params(p, &msg);
    } else {
        p->command = kr_value_array(p->a);
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_command, p);
        p->in = qbool(conn, "stdin");
        p->out = qbool(conn, "stdout");
        p->err = qbool(conn, "stderr");
        p->tty = qbool(conn, "tty");
        if (p->tty)
            p->err = false; /* a terminal has one output */
        if (p->kind == K_EXEC && kr_value_len(p->command) == 0)
            msg = "you must specify at least 1 command";
        else if (!p->in && !p->out && !p->err)
            msg = "you must specify at least one of stdin, stdout, stderr";
        else
            ws_params(p, &msg);
        kr_value_map_set(p->a, p->params, "command", p->command);
        kr_value_map_set(p->a, p->params, "stdin", kr_value_bool(p->a, p->in));
        kr_value_map_set(p->a, p->params, "tty", kr_value_bool(p->a, p->tty));
    }
    if (msg != NULL) {
        struct MHD_Response *resp = status_response(p->a, reason, 0, msg, code);
        ps_unref(p);
        return resp;
    }
    kr_bus_t *bus = ps_bus(p);
    kr_request_t req = {.op = "get", .res = "v1/pods", .ns = p->ns, .name = p->name};
    kr_error_t err;
    if (bus == NULL || kr_bus_send(bus, &req, on_pod, p, PS_TIMEOUT_MS, NULL, &err) < 0) {
        struct MHD_Response *resp =
            status_response(p->a, KR_E_SERVICE_UNAVAILABLE, 0, "the bus is not reachable", code);
        ps_unref(p);
        return resp;
    }
    return NULL;
}
