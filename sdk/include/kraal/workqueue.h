/* kraal SDK — a controller work queue (after client-go's util/workqueue).
 *
 * Keys (strings such as "namespace/name") wait in FIFO order, each at most
 * once.  The queue hands keys to a handler on its kr_loop_t, at most
 * `max_in_flight` at a time and never the same key twice at once; the
 * handler answers each with kr_workqueue_done(), then or later.  A key added
 * again while it is being processed is processed once more after done.
 * Keys can also wait for a delay (add_after) or for a per-key exponential
 * back-off combined with an overall token bucket (add_rate_limited), like
 * client-go's DefaultControllerRateLimiter.
 *
 * Single-threaded: every function must be called on the loop's thread.
 * Handlers run from a loop timer, never from inside an add function.
 */
#ifndef KRAAL_WORKQUEUE_H
#define KRAAL_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kr_workqueue kr_workqueue_t;

/* Called for one key.  `key` is owned by the queue and stays valid until
 * kr_workqueue_done() for it returns.  The handler may add keys, call done
 * (for this key or others) or shut the queue down; it must not destroy the
 * queue. */
typedef void (*kr_workqueue_fn)(kr_workqueue_t *q, const char *key, void *ud);

/* Zero (or a NULL opts) picks the default of a field. */
typedef struct kr_workqueue_opts {
    const char *name;       /* for messages; copied; default "workqueue" */
    unsigned max_in_flight; /* keys handed out at once ("workers"); default 1 */
    uint64_t base_delay_ms; /* first back-off of a key; default 5 */
    uint64_t max_delay_ms;  /* back-off cap; default 1000000 (1000 s) */
    double qps;             /* overall token bucket rate; default 10; < 0 disables it */
    unsigned burst;         /* token bucket size; default 100 */
} kr_workqueue_opts_t;

/* NULL on failure (err says why).  Caller owns the queue; destroy it before
 * the loop. */
kr_workqueue_t *kr_workqueue_new(kr_loop_t *loop, const kr_workqueue_opts_t *opts,
                                 kr_workqueue_fn fn, void *ud, kr_error_t *err);
/* Frees every key, pending or in flight, and cancels the queue's timers.
 * Not from inside the queue's own handler. */
void kr_workqueue_destroy(kr_workqueue_t **self_p);

/* Queues `key` (copied) unless it is already waiting.  After shutdown the
 * key is dropped and 0 returned, as client-go does.  Fails with
 * KR_E_INVALID on a NULL or empty key. */
int kr_workqueue_add(kr_workqueue_t *q, const char *key, kr_error_t *err);
/* Queues `key` once `delay_ms` has passed (0 = now).  A key already waiting
 * for a delay keeps the earlier of both times. */
int kr_workqueue_add_after(kr_workqueue_t *q, const char *key, uint64_t delay_ms, kr_error_t *err);
/* Queues `key` after the longer of its own back-off (base * 2^requeues,
 * capped at max) and the token bucket's wait; counts one requeue. */
int kr_workqueue_add_rate_limited(kr_workqueue_t *q, const char *key, kr_error_t *err);
/* Stops the back-off of `key`: its requeue count goes back to 0.  It does
 * not remove the key from the queue. */
void kr_workqueue_forget(kr_workqueue_t *q, const char *key);
/* Times `key` was added rate-limited since it was last forgotten. */
unsigned kr_workqueue_num_requeues(const kr_workqueue_t *q, const char *key);

/* Ends the processing of a key handed to the handler; if it was added
 * again meanwhile, it is queued again.  KR_E_NOT_FOUND when `key` is not in
 * flight. */
int kr_workqueue_done(kr_workqueue_t *q, const char *key, kr_error_t *err);

/* Keys waiting to be handed out (not the delayed ones, not in flight). */
size_t kr_workqueue_len(const kr_workqueue_t *q);
/* Keys handed out and not done yet. */
size_t kr_workqueue_in_flight(const kr_workqueue_t *q);

/* Stops handing out keys and drops every later add and every delayed key.
 * Keys in flight may still be answered with done. */
void kr_workqueue_shutdown(kr_workqueue_t *q);
bool kr_workqueue_shutting_down(const kr_workqueue_t *q);

#ifdef __cplusplus
}
#endif
#endif
