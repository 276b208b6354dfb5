/* agent-node: the node's streams for `kubectl logs`, `exec`, `attach`,
 * `cp` and `port-forward` (docs/agent.md, "Streams").
 *
 * They run on a thread of their own, with their own loop and bus
 * connection, so that neither a slow client nor a big log ever holds up
 * the agent's loop thread; the calls that block (exec_start, exec_wait, a
 * connect inside the pod's network namespace) run on short-lived threads
 * and hand their result back through a pipe.
 */
#ifndef KRAAL_AGENT_STREAM_H
#define KRAAL_AGENT_STREAM_H

#include <kraal/error.h>

#include "agent.h"

/* The bus resource the streams of a node are served under, for op
 * "watch" (the gateway opens them with kr_bus_watch); input to a stream
 * goes to op AG_STREAM_INPUT_OP with res = the node's name. */
#define AG_STREAM_RES_PREFIX "node-stream/"
#define AG_STREAM_INPUT_OP   "node.stream.input"
/* Bytes sent on a stream and not acknowledged yet before it pauses. */
#define AG_STREAM_WINDOW (1u << 20)

typedef struct ag_streams ag_streams_t;

/* Starts the streams thread for conf->node_name.  `conf` must outlive it.
 * NULL with err on failure.  Caller owns it. */
ag_streams_t *ag_streams_new(const ag_conf_t *conf, kr_error_t *err);
/* Ends every stream (exec'd processes are killed) and stops the thread. */
void ag_streams_destroy(ag_streams_t **self_p);

/* Sets cfg's open_stdin, stdin_once and tty from the pod's container
 * (stdin, stdinOnce, tty): what `kubectl attach -i` and `-t` need the
 * runtime to keep.  Called where the container's config is built. */
void ag_stream_container_io(const kr_value_t *container, kr_rt_container_config_t *cfg);

#endif
