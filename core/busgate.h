/* The bus gate: authorization of the requests of CURVE peers (agents and
 * remote plugins on the tcp endpoint), in the broker thread, before they
 * are answered or routed (docs/auth.md, docs/bus.md "Identities").
 *
 * The peer's identity is its ZAP user id (broker.h kr_broker_req_t.user,
 * groups from the allow-list); then:
 *   - system:masters and system:kraal-plugins: allowed (remote plugins are
 *     trusted as in-process ones are, until plugins declare their rules);
 *   - object ops (get, list, watch, create, update, patch, delete,
 *     deletecollection): the authorizer named by api.authorizer decides as
 *     for a REST request (none named: allowed, as AlwaysAllow), then
 *     NodeRestriction for node identities (system:node:<name> in group
 *     system:nodes), as upstream's admission plugin: a node may modify only
 *     its own Node and its own Lease, and only the pods bound to it;
 *   - serve/unserve: a node may serve only its own streams (op "watch" for
 *     node-stream/<name> and node.stream.input for <name>); others may not;
 *   - ping, bye, unwatch, node.join, kinds, openapi: allowed;
 *   - authn.tokenrequest (auth-token): as create on serviceaccounts/token,
 *     for a node only for an account its pods run as, bound to a pod;
 *   - a node's reads of Secrets and ConfigMaps: only those its pods
 *     reference (upstream's Node authorizer graph);
 *   - every other op: refused. */
#ifndef KRAAL_CORE_BUSGATE_H
#define KRAAL_CORE_BUSGATE_H

#include <kraal/error.h>

#include "api.h"
#include "broker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kr_busgate kr_busgate_t;

/* Installs the gate on `b` (before kr_broker_start).  `authorizer` (may be
 * NULL) is copied; it is looked up at each request since it registers
 * later.  Caller owns the gate; destroy after the broker thread stopped. */
kr_busgate_t *kr_busgate_new(kr_broker_t *b, kr_api_t *api, const char *authorizer);
void kr_busgate_destroy(kr_busgate_t **self_p);

/* NodeRestriction alone, for tests: may node `node` do `verb` on `res`
 * ns/name with `obj` (the request's object, may be NULL), the stored
 * object being `stored` (may be NULL)?  0, or KR_E_FORBIDDEN with
 * upstream's message. */
int kr_node_restriction(const char *node, const char *verb, const char *res, const char *ns,
                        const char *name, const kr_value_t *obj, const kr_value_t *stored,
                        kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
