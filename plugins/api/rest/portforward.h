/* pods/portforward (docs/rest.md, "Pod streams"): kubectl's SPDY
 * port-forward protocol (portforward.k8s.io), over an HTTP upgrade to
 * SPDY/3.1 or tunneled in a WebSocket (SPDY/3.1+portforward.k8s.io, kubectl
 * 1.30+).  Each forwarded connection is a pair of client streams (error and
 * data, one requestid) and one stream to the node agent, which connects to
 * 127.0.0.1:port inside the pod's network namespace.
 */
#ifndef KRAAL_REST_PORTFORWARD_H
#define KRAAL_REST_PORTFORWARD_H

#include <stdbool.h>

#include "gateway.h"

#define REST_PF_PROTOCOL    "portforward.k8s.io"
#define REST_PF_WS_PROTOCOL "SPDY/3.1+portforward.k8s.io"

typedef struct rest_pf rest_pf_t;

/* A session for a checked pod on the calling serving thread; `tunneled`
 * when the SPDY bytes travel in WebSocket messages; `auth` the requesting
 * user, forwarded in the agent's streams.  Strings and auth are copied. */
rest_pf_t *rest_pf_new(rest_loop_t *loop, const char *node, const char *ns, const char *pod,
                       const char *uid, const kr_value_t *auth, bool tunneled);
/* The 101 answer: MHD calls the session's upgrade handler, which takes the
 * session over (without that call it is never freed: MHD gives no notice). */
struct MHD_Response *rest_pf_upgrade_response(rest_pf_t *pf, const char *ws_accept);

/* Closes the sessions of a serving thread (rest_podstream_end). */
void rest_pf_end(rest_loop_t *l);

#endif
