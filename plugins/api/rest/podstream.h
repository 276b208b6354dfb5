/* The pods' streaming subresources: log, exec, attach (docs/rest.md,
 * "Pod streams").  The gateway reads the pod, checks what the API server
 * checks, and opens a stream to the node agent of the pod's node over the
 * bus (docs/agent.md, "Streams"); a log is sent back as a (chunked) HTTP
 * body, exec and attach over a WebSocket speaking v5.channel.k8s.io or
 * v4.channel.k8s.io.
 */
#ifndef KRAAL_REST_PODSTREAM_H
#define KRAAL_REST_PODSTREAM_H

#include <stdbool.h>

#include "gateway.h"
#include "route.h"

/* Whether a pod subresource is one of these. */
bool rest_podstream_sub(const char *sub);
/* Whether the request is long-running (a followed log, exec, attach,
 * port-forward), so that it does not count against max-requests-inflight. */
bool rest_podstream_long_running(struct MHD_Connection *conn, const char *url);

/* Starts serving the request of `user` (copied; forwarded in the `auth` of
 * the agent's stream) on the calling serving thread.  Returns a
 * response to queue now (with *code), or NULL when the answer comes later:
 * the caller then suspends the connection; the answer is stored in
 * *later / *later_code and the connection resumed. */
struct MHD_Response *rest_podstream_start(rest_gw_t *gw, struct MHD_Connection *conn,
                                          const char *method, const rest_route_t *route,
                                          const kr_value_t *user, struct MHD_Response **later,
                                          unsigned *later_code, unsigned *code);

/* Closes the upgraded connections of a serving thread (exec, attach,
 * port-forward): called by a stopping gateway before its MHD stops. */
void rest_podstream_end(rest_loop_t *l);

#endif
