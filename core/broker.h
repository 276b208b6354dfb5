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
} kr_broker_opts_t;

/* Binds all endpoints (inproc always, in kr_bus_zmq_context()).  NULL on
 * failure (err names the endpoint).  Caller owns the broker. */
kr_broker_t *kr_broker_new(const kr_broker_opts_t *opts, kr_error_t *err);
/* Runs the broker on its own thread. */
int kr_broker_start(kr_broker_t *b, kr_error_t *err);
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
