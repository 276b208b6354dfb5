/* kraal SDK — the bus client.
 *
 * A kr_bus_t is one connection (a ZeroMQ DEALER socket) to the broker, used
 * by one thread only.  Messages are msgpack maps (DESIGN.md §3):
 *
 *   request  {v:1, id, op, res?, ns?, name?, sub?, rv?, obj?, opts?, auth?}
 *   reply    {v:1, id, code, obj?, err?: {reason, message, details?}}
 *   event    {v:1, id, type: ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, obj}
 *
 * Many requests may be in flight on one connection; replies are matched by
 * id.  A watch streams its events over the same connection, tagged with the
 * watch request's id.  A connection can also *serve* ops: the broker then
 * routes matching requests to it (see kr_bus_serve).
 */
#ifndef KRAAL_BUS_H
#define KRAAL_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/loop.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KR_BUS_PROTO_VERSION 1
/* Largest message accepted on the bus; larger ones get 413. */
#define KR_BUS_MAX_MSG (3u << 20)

typedef struct kr_bus kr_bus_t;

/* The process-wide ZeroMQ context; inproc:// endpoints only work within it.
 * Created on first use, terminated by kr_bus_shutdown(). */
void *kr_bus_zmq_context(void);
/* Terminates the shared context; call once at process exit, after every
 * kr_bus_t and broker is destroyed. */
void kr_bus_shutdown(void);

/* Connects to a broker at inproc://, ipc:// or tcp://.  The connection is
 * asynchronous: a broker that is not there yet makes calls time out, not
 * fail.  NULL on failure.  Caller owns the connection. */
kr_bus_t *kr_bus_connect(const char *endpoint, kr_error_t *err);

/* CURVE for the tcp:// connections this process makes from now on
 * (docs/bus.md "Authentication"): the server's public key and our key
 * pair, Z85 text of 40 characters each; NULL server_key = plain tcp again.
 * Copied.  Thread-safe.  KR_E_INVALID for a malformed key. */
int kr_bus_set_curve(const char *server_key, const char *public_key, const char *secret_key,
                     kr_error_t *err);
/* Pending async callbacks are called with KR_E_SERVICE_UNAVAILABLE. */
void kr_bus_destroy(kr_bus_t **self_p);

/* What to send.  Unset fields are omitted from the message. */
typedef struct kr_request {
    const char *op; /* required */
    const char *res, *ns, *name, *sub, *rv;
    const kr_value_t *obj, *opts, *auth;
} kr_request_t;

/* What came back.  Everything points into the arena of the call (sync) or
 * into an arena freed when the callback returns (async): copy what you keep. */
typedef struct kr_reply {
    int code;              /* HTTP-like status: 200, 201, 404, ... */
    kr_reason_t reason;    /* KR_E_OK for 2xx */
    const char *message;   /* err.message, or NULL */
    kr_value_t *obj;       /* reply object, or NULL */
    kr_value_t *details;   /* err.details, or NULL */
    const kr_value_t *msg; /* the whole decoded message */
} kr_reply_t;

/* The reply's message, else kr_strerror(reason): never NULL; owned as the
 * reply's fields are. */
const char *kr_reply_msg(const kr_reply_t *reply);

/* Sends a request and waits up to timeout_ms (-1 = forever) for its reply.
 * Returns 0 when a reply arrived (check reply->code: an error reply is still
 * a reply), < 0 when none did (KR_E_TIMEOUT, KR_E_TOO_LARGE, ...).
 * Messages for other requests and watches that arrive meanwhile are kept and
 * dispatched later by kr_bus_dispatch() or the attached loop. */
int kr_bus_call(kr_bus_t *bus, const kr_request_t *req, kr_arena_t *arena, kr_reply_t *reply,
                int timeout_ms, kr_error_t *err);

typedef void (*kr_reply_fn)(kr_bus_t *bus, const kr_reply_t *reply, void *ud);

/* Sends a request; `fn` is called exactly once, with the reply, or with code
 * 504/KR_E_TIMEOUT after timeout_ms (-1 = never), or 503 when the connection
 * is destroyed first.  `id_out` (may be NULL) receives the request id. */
int kr_bus_send(kr_bus_t *bus, const kr_request_t *req, kr_reply_fn fn, void *ud, int timeout_ms,
                uint64_t *id_out, kr_error_t *err);

typedef struct kr_event {
    const char *type;      /* "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" */
    kr_value_t *obj;       /* the object; for ERROR a metav1.Status map */
    const kr_value_t *msg; /* the whole decoded message */
} kr_event_t;

/* Called for each event.  After an ERROR event the watch is closed and fn is
 * not called again for it. */
typedef void (*kr_event_fn)(kr_bus_t *bus, uint64_t watch_id, const kr_event_t *ev, void *ud);

/* Starts a watch (req->op is ignored: "watch" is sent).  A refused watch
 * (e.g. 404) arrives as one ERROR event. */
int kr_bus_watch(kr_bus_t *bus, const kr_request_t *req, kr_event_fn fn, void *ud,
                 uint64_t *watch_id, kr_error_t *err);
/* Stops a watch; no callback runs for it afterwards. */
int kr_bus_unwatch(kr_bus_t *bus, uint64_t watch_id, kr_error_t *err);

/* Reads and dispatches what has arrived, waiting up to timeout_ms for the
 * first message.  Returns the number of messages dispatched or < 0. */
int kr_bus_dispatch(kr_bus_t *bus, int timeout_ms, kr_error_t *err);
/* Lets `loop` dispatch this connection's messages and timeouts. */
int kr_bus_attach(kr_bus_t *bus, kr_loop_t *loop, kr_error_t *err);

/* ---- serving ----------------------------------------------------------- */

/* An incoming request routed to this connection. */
typedef struct kr_call kr_call_t;

/* The handler gets the call; unless it calls kr_call_keep() the call must be
 * answered (kr_call_reply / kr_call_fail) before the handler returns. */
typedef void (*kr_handler_fn)(kr_bus_t *bus, kr_call_t *call, void *ud);

/* Asks the broker to route requests with this op (and resource, or NULL for
 * any) to this connection.  Synchronous; a second provider for the same
 * op/res is refused with KR_E_ALREADY_EXISTS. */
int kr_bus_serve(kr_bus_t *bus, const char *op, const char *res, kr_handler_fn fn, void *ud,
                 int timeout_ms, kr_error_t *err);

/* The decoded request (valid while the call lives) and its fields. */
const kr_value_t *kr_call_msg(const kr_call_t *call);
const char *kr_call_op(const kr_call_t *call);
const char *kr_call_field(const kr_call_t *call, const char *key); /* "res", "ns", ... */
uint64_t kr_call_id(const kr_call_t *call);
/* An arena that lives as long as the call. */
kr_arena_t *kr_call_arena(kr_call_t *call);

/* Takes the call out of the handler's scope: it stays valid until answered
 * (or, for a stream, ended).  Needed for async answers and watches. */
void kr_call_keep(kr_call_t *call);

/* Final answer; the call is freed (the pointer is invalid afterwards). */
int kr_call_reply(kr_call_t *call, int code, const kr_value_t *obj, kr_error_t *err);
int kr_call_fail(kr_call_t *call, kr_reason_t reason, const char *message, kr_error_t *err);

/* Streams: send events on a kept "watch" call.  When the watcher goes away
 * (unwatch, disconnect, lag) the cancel callback runs and the call is freed. */
typedef void (*kr_cancel_fn)(kr_bus_t *bus, kr_call_t *call, void *ud);
void kr_call_on_cancel(kr_call_t *call, kr_cancel_fn fn, void *ud);
int kr_call_event(kr_call_t *call, const char *type, const kr_value_t *obj, kr_error_t *err);
/* Ends a stream from the provider's side with an ERROR event built from
 * reason/message (Kubernetes Status); the call is freed. */
int kr_call_end(kr_call_t *call, kr_reason_t reason, const char *message, kr_error_t *err);

/* ---- helpers ----------------------------------------------------------- */

/* A metav1.Status map for an error reason and message. Owned by arena. */
kr_value_t *kr_status_new(kr_arena_t *arena, kr_reason_t reason, const char *message);

#ifdef __cplusplus
}
#endif
#endif
