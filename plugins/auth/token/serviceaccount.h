/* auth-token's ServiceAccount tokens over the bus (docs/auth.md):
 *
 *   authn.tokenrequest  {ns, name: the account, obj: TokenRequest, auth?}
 *                       -> 201 the TokenRequest with status {token,
 *                       expirationTimestamp}; upstream's TokenREST.Create
 *                       (pkg/registry/core/serviceaccount/storage/token.go).
 *                       The REST gateway routes POST
 *                       .../serviceaccounts/<name>/token here after
 *                       authorizing create on serviceaccounts/token; the
 *                       node agent asks it for its pods' projected tokens.
 *
 * and the authenticator half: a bearer JWT of our issuer is verified
 * (signature, time, audience) and the objects it names must still exist
 * with the same uids (upstream's validator in pkg/serviceaccount/claims.go).
 */
#ifndef KRAAL_AUTH_TOKEN_SERVICEACCOUNT_H
#define KRAAL_AUTH_TOKEN_SERVICEACCOUNT_H

#include <kraal/plugin.h>

#include "satoken.h"

typedef struct token_sa {
    kr_plugin_ctx_t *ctx;
    satoken_key_t *key;
    const char *issuer;
    const char **audiences; /* the API server's audiences (--api-audiences) */
    size_t naudiences;
} token_sa_t;

/* Serves authn.tokenrequest with `sa` (which must outlive the bus). */
int token_sa_serve(token_sa_t *sa, kr_error_t *err);

/* A bearer token for "authn.token": 0 when it is not one of our JWTs
 * (the caller looks it up elsewhere); 1 with *user = {username, uid,
 * groups, extra} in arena; < 0 with err (KR_E_UNAUTHORIZED and the
 * reason, which is logged, not shown to the client). */
int token_sa_authenticate(token_sa_t *sa, kr_arena_t *arena, const char *token, kr_value_t **user,
                          kr_error_t *err);

#endif
