/* `kraal` subcommands that ask the local server over its ipc socket
 * (<run_dir>/bus.sock): `kraal secrets`, `kraal token`. */
#ifndef KRAAL_CMD_LOCAL_H
#define KRAAL_CMD_LOCAL_H

#include <kraal/bus.h>
#include <kraal/value.h>

/* Sends `req` to the server of `run_dir` and waits up to timeout_ms for
 * the reply.  A ping goes first, so that a socket left by a server that is
 * gone is said at once ("no server answers at ... (is it running?)")
 * instead of after the whole timeout.  Returns 0 with *reply (in `arena`)
 * on a 2xx reply; otherwise prints "<who>: <why>" on stderr and returns 1.
 * Ends the bus library's context (kr_bus_shutdown) before returning: one
 * call per process. */
int kraal_local_call(const char *who, const char *run_dir, const kr_request_t *req, int timeout_ms,
                     kr_arena_t *arena, kr_reply_t *reply);

#endif
