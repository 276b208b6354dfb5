/* The bus broker: one ROUTER socket bound on inproc://, ipc:// and
 * optionally tcp://, run on its own thread.  It validates every message,
 * answers the built-in ops itself and routes the others to the connection
 * that serves them (docs/bus.md has the protocol). */
#ifndef KRAAL_CORE_BROKER_H
#define KRAAL_CORE_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include <kraal/bus.h>
#include <kraal/error.h>
#include <kraal/value.h>

#include "curve.h"
#include "envelope.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KR_BUS_INPROC_ENDPOINT "inproc://kraal-bus"

/* Defaults of kr_broker_opts_t. */
#define KR_BROKER_WATCH_BACKLOG 1024 /* events queued per watch */
#define KR_BROKER_MAX_INFLIGHT  1024 /* requests without a reply, per connection */

typedef struct kr_broker kr_broker_t;

typedef struct kr_broker_opts {
    const char *ipc_path;     /* socket file, e.g. <run_dir>/bus.sock; NULL = no ipc */
    const char *tcp_endpoint; /* e.g. "tcp://127.0.0.1:7440"; NULL = no tcp */
    size_t max_msg;           /* 0 = KR_BUS_MAX_MSG */
    size_t watch_backlog;     /* per-peer queued messages before a watch is expired; 0 = default */
    /* CURVE on the tcp endpoint (docs/bus.md "Authentication"): the
     * server's key pair (copied) and the allow-list file of client keys;
     * NULL = plain tcp (a loopback address only, which the config checks). */
    const kr_curve_keypair_t *curve;
    const char *curve_clients;
} kr_broker_opts_t;

/* Binds all endpoints (inproc always, in kr_bus_zmq_context()).  NULL on
 * failure (err names the endpoint).  Caller owns the broker. */
kr_broker_t *kr_broker_new(const kr_broker_opts_t *opts, kr_error_t *err);
/* Runs the broker on its own thread. */
int kr_broker_start(kr_broker_t *b, kr_error_t *err);
/* Stops the thread (idempotent); the socket stays open so the owner of
 * core-local streams can still end them before kr_broker_destroy. */
void kr_broker_stop(kr_broker_t *b);
/* Stops the thread, closes the socket, unlinks the ipc file. */
void kr_broker_destroy(kr_broker_t **self_p);

/* Snapshot of the counters (thread-safe, atomics). */
typedef struct kr_broker_stats {
    uint64_t msgs_in, msgs_out, bad_frames, bad_envelopes, unknown_ops, too_large, watches_expired,
        peers_lost, backlogged;
} kr_broker_stats_t;
void kr_broker_stats(const kr_broker_t *b, kr_broker_stats_t *out);

/* ---- core-local handlers ------------------------------------------------
 *
 * Ops answered inside the broker thread (the built-ins "ping", "serve",
 * "unserve", "unwatch", "stats" and "bye" are registered this way).  A
 * handler must answer before it returns, with exactly one of the reply
 * functions below.  Register handlers before kr_broker_start(). */

typedef struct kr_broker_req {
    const kr_envelope_t *env; /* validated envelope (strings not NUL-terminated) */
    const void *data;         /* the whole request message */
    size_t len;
    void *peer_; /* private */
    /* Who sent it: the ZAP user id of a CURVE peer (its identity from the
     * allow-list, or KR_CURVE_UNJOINED_PREFIX + its key), and that
     * identity's groups (NULL-terminated); both NULL for inproc, ipc and
     * plain tcp peers, which are trusted.  A CURVE peer's own `auth` was
     * replaced by this user before the message reached anyone. */
    const char *user;
    const char *const *groups;
} kr_broker_req_t;

typedef void (*kr_broker_fn)(kr_broker_t *b, const kr_broker_req_t *req, void *ud);

/* Serves `op` for resource `res` (NULL = any resource) in the broker
 * thread.  KR_E_ALREADY_EXISTS when op/res is already registered. */
int kr_broker_handle(kr_broker_t *b, const char *op, const char *res, kr_broker_fn fn, void *ud,
                     kr_error_t *err);

/* Reply {v:1, id, code, obj?}; obj (may be NULL) is encoded as msgpack. */
int kr_broker_reply(kr_broker_t *b, const kr_broker_req_t *req, int code, const kr_value_t *obj,
                    kr_error_t *err);
/* Error reply {v:1, id, code, err:{reason, message}}. */
void kr_broker_fail(kr_broker_t *b, const kr_broker_req_t *req, kr_reason_t reason,
                    const char *message);

/* Reply whose obj is already msgpack (`obj` NULL/0 = no obj): the bytes
 * are spliced into the reply as they are. */
int kr_broker_reply_raw(kr_broker_t *b, const kr_broker_req_t *req, int code, const void *obj,
                        size_t len, kr_error_t *err);
/* Error reply with a metav1.StatusDetails map (may be NULL). */
void kr_broker_fail_details(kr_broker_t *b, const kr_broker_req_t *req, kr_reason_t reason,
                            const char *message, const kr_value_t *details);

/* The gate: runs in the broker thread for every request of a CURVE peer
 * that is in the allow-list, before it is answered or routed.  Returns
 * true to let it through; otherwise it has answered (kr_broker_fail). */
typedef bool (*kr_broker_gate_fn)(kr_broker_t *b, const kr_broker_req_t *req, void *ud);
/* Before kr_broker_start. */
void kr_broker_set_gate(kr_broker_t *b, kr_broker_gate_fn fn, void *ud);

/* Adds a client key to the allow-list (and its file) as `identity` with
 * `groups`; new connections with that key get the identity (a connection
 * keeps the user id of its handshake, so a joining agent reconnects).
 * Broker thread only (a handler's). */
int kr_broker_curve_allow(kr_broker_t *b, const char *key, const char *identity,
                          const char *const *groups, kr_error_t *err);
/* Drops `identity`'s key from the allow-list (and its file): its
 * connections are answered 401 from their next message on.  Broker thread
 * only.  KR_E_NOT_FOUND when it has none. */
int kr_broker_curve_revoke(kr_broker_t *b, const char *identity, kr_error_t *err);

/* ---- deferred answers ---------------------------------------------------
 *
 * A handler that cannot answer before it returns (a write waiting for the
 * store) takes a deferred handle instead; the request then counts as in
 * flight until the handle is answered.  If the client goes away meanwhile,
 * the answer is dropped.  Handles are used in the broker thread only. */
typedef struct kr_broker_deferred kr_broker_deferred_t;

/* Caller owns the handle until it answers with one of the two below. */
kr_broker_deferred_t *kr_broker_defer(kr_broker_t *b, const kr_broker_req_t *req);
void kr_broker_deferred_reply_raw(kr_broker_t *b, kr_broker_deferred_t **d, int code,
                                  const void *obj, size_t len);
void kr_broker_deferred_fail(kr_broker_t *b, kr_broker_deferred_t **d, kr_reason_t reason,
                             const char *message, const kr_value_t *details);

/* ---- core-local streams (watches) ---------------------------------------
 *
 * A "watch" handled in the broker thread opens a stream: events go to the
 * client tagged with the request id, with the same backlog rules as routed
 * watches (a client that lags past the backlog gets ERROR/Expired and the
 * stream is closed).  The cancel callback runs exactly once when the
 * stream closes for any reason other than kr_broker_stream_end (unwatch,
 * client gone, expiry); the handle is invalid once it has run. */
typedef struct kr_broker_stream kr_broker_stream_t;
typedef void (*kr_broker_cancel_fn)(kr_broker_t *b, kr_broker_stream_t *s, void *ud);

/* Turns the request into a stream (this answers it).  NULL when the
 * connection has too many watches open (the client got 429). */
kr_broker_stream_t *kr_broker_stream_open(kr_broker_t *b, const kr_broker_req_t *req,
                                          kr_broker_cancel_fn cancel, void *ud);
/* Sends {v:1, id, type, obj} with obj already msgpack.  Returns false when
 * the stream was closed by this send (the client lagged: cancel has run). */
bool kr_broker_stream_event_raw(kr_broker_t *b, kr_broker_stream_t *s, const char *type,
                                const void *obj, size_t len);
/* Events of this stream waiting in the broker's backlog (its ZeroMQ pipe
 * is full): a producer with more to send should wait until this is 0. */
size_t kr_broker_stream_queued(const kr_broker_stream_t *s);
/* Ends the stream with an ERROR event (Kubernetes Status); cancel does not
 * run; the handle is freed. */
void kr_broker_stream_end(kr_broker_t *b, kr_broker_stream_t **s, kr_reason_t reason,
                          const char *message);

/* ---- broker-thread fds and ticks ----------------------------------------
 * Register before kr_broker_start.  fn runs in the broker thread. */
typedef void (*kr_broker_fd_fn)(kr_broker_t *b, int fd, void *ud);
int kr_broker_add_fd(kr_broker_t *b, int fd, kr_broker_fd_fn fn, void *ud, kr_error_t *err);
typedef void (*kr_broker_tick_fn)(kr_broker_t *b, uint64_t now_ms, void *ud);
/* fn runs about every period_ms. */
int kr_broker_add_tick(kr_broker_t *b, uint64_t period_ms, kr_broker_tick_fn fn, void *ud,
                       kr_error_t *err);

/* ---- for tests and the fuzzer ----------------------------------------- */

/* A broker with no socket: kr_broker_feed() runs the message handling and
 * replies are counted in msgs_out and dropped.  Never started. */
kr_broker_t *kr_broker_new_detached(const kr_broker_opts_t *opts);
/* Handles one incoming message exactly as the broker thread does: `frames`
 * are the frames after the sender's routing id `rid`. */
void kr_broker_feed(kr_broker_t *b, const void *rid, size_t rid_len, const void *const *frames,
                    const size_t *lens, size_t nframes);

#ifdef __cplusplus
}
#endif
#endif
