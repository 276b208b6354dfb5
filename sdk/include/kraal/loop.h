/* kraal SDK — the event loop every plugin instance runs on.
 *
 * One loop per thread.  It waits on file descriptors (epoll), timers and the
 * thread's bus connection (see kr_bus_attach) and calls back into plugin
 * code; callbacks must not block.  Only kr_loop_stop() may be called from
 * another thread (or a signal handler).
 */
#ifndef KRAAL_LOOP_H
#define KRAAL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <kraal/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kr_loop kr_loop_t;

enum {
    KR_LOOP_READ = 1u << 0,
    KR_LOOP_WRITE = 1u << 1,
    KR_LOOP_ERROR = 1u << 2, /* reported only: error or hang-up */
};

typedef void (*kr_fd_fn)(kr_loop_t *loop, int fd, uint32_t events, void *ud);
typedef void (*kr_timer_fn)(kr_loop_t *loop, uint64_t timer_id, void *ud);
/* Runs before every wait.  Returns true if it found work already pending
 * (then the loop polls without blocking).  Used for edge-triggered sources
 * such as ZeroMQ sockets. */
typedef bool (*kr_prepare_fn)(kr_loop_t *loop, void *ud);

/* NULL on failure (err says why). Caller owns the loop. */
kr_loop_t *kr_loop_new(kr_error_t *err);
/* Must be called on the loop's thread, after it stopped running. */
void kr_loop_destroy(kr_loop_t **self_p);

/* One callback per fd; adding an fd twice fails with KR_E_ALREADY_EXISTS. */
int kr_loop_add_fd(kr_loop_t *loop, int fd, uint32_t events, kr_fd_fn fn, void *ud,
                   kr_error_t *err);
int kr_loop_mod_fd(kr_loop_t *loop, int fd, uint32_t events, kr_error_t *err);
/* Safe to call from inside any callback, including the fd's own. */
int kr_loop_remove_fd(kr_loop_t *loop, int fd);

/* Fires after `delay_ms`, then every `repeat_ms` if non-zero. Returns a
 * non-zero id. Safe to add or cancel timers from inside callbacks. */
uint64_t kr_loop_add_timer(kr_loop_t *loop, uint64_t delay_ms, uint64_t repeat_ms, kr_timer_fn fn,
                           void *ud);
bool kr_loop_cancel_timer(kr_loop_t *loop, uint64_t timer_id);

/* Registers a prepare hook; returns an id for kr_loop_remove_prepare. */
uint64_t kr_loop_add_prepare(kr_loop_t *loop, kr_prepare_fn fn, void *ud);
bool kr_loop_remove_prepare(kr_loop_t *loop, uint64_t id);

/* Runs until kr_loop_stop(). Returns 0, or < 0 on an epoll failure. */
int kr_loop_run(kr_loop_t *loop, kr_error_t *err);
/* One iteration, waiting at most timeout_ms (-1 = until something happens).
 * Returns the number of callbacks run, or < 0 on failure. */
int kr_loop_run_once(kr_loop_t *loop, int timeout_ms, kr_error_t *err);
/* Thread-safe and async-signal-safe. */
void kr_loop_stop(kr_loop_t *loop);
bool kr_loop_stopped(const kr_loop_t *loop);

/* Monotonic milliseconds, refreshed at each iteration. */
uint64_t kr_loop_now(kr_loop_t *loop);
/* Monotonic milliseconds, read from the clock now. */
uint64_t kr_time_ms(void);

#ifdef __cplusplus
}
#endif
#endif
