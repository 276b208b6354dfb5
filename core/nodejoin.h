/* node.join: a CURVE client whose key is not in the bus allow-list trades
 * a bootstrap token for an identity (docs/bus.md "Joining").  The token is
 * upstream's bootstrap token, a Secret kube-system/bootstrap-token-<id> of
 * type bootstrap.kubernetes.io/token, checked as upstream's bootstrap
 * token authenticator does (plugin/pkg/auth/authenticator/token/bootstrap).
 *
 *   {op: node.join, obj: {token: "<id>.<secret>", nodeName: "n1"}}
 *     -> {identity: "system:node:n1", groups: ["system:nodes", "system:authenticated"]}
 *   {op: node.join, obj: {token, plugin: "sched"}}   (a token whose Secret
 *     has auth-extra-groups system:kraal-plugins)
 *     -> {identity: "system:kraal:sched", groups: ["system:kraal-plugins", ...]}
 *
 * The key is added to the allow-list; the client then reconnects (a
 * connection keeps the identity of its handshake). */
#ifndef KRAAL_CORE_NODEJOIN_H
#define KRAAL_CORE_NODEJOIN_H

#include <stdint.h>

#include <kraal/error.h>
#include <kraal/value.h>

#include "api.h"
#include "broker.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KR_BOOTSTRAP_TOKEN_TYPE "bootstrap.kubernetes.io/token"
#define KR_BOOTSTRAP_SECRET_PFX "bootstrap-token-"

typedef struct kr_nodejoin kr_nodejoin_t;

/* Serves node.join in the broker thread (before kr_broker_start).  NULL
 * with err.  Caller owns it; destroy after the broker thread stopped. */
kr_nodejoin_t *kr_nodejoin_new(kr_broker_t *b, kr_api_t *api, kr_error_t *err);
void kr_nodejoin_destroy(kr_nodejoin_t **self_p);

/* Checks `token` ("<id>.<secret>") against the bootstrap-token Secret
 * `secret` (NULL = not found) at `now` (unix seconds).  0 when valid, with
 * the Secret's auth-extra-groups in *extra_groups (a string in the Secret's
 * arena, or NULL); else KR_E_UNAUTHORIZED and err says why (for the log:
 * the client is told only that the token is invalid). */
int kr_bootstrap_token_check(const char *token, const kr_value_t *secret, int64_t now,
                             const char **extra_groups, kr_arena_t *arena, kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
