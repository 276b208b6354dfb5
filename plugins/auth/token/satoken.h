/* ServiceAccount tokens: upstream's bound-token JWTs (pkg/serviceaccount),
 * signed RS256 with one RSA key, and their verification.
 *
 * Pure functions of the key, the claims and the clock: no bus, no files
 * other than the key, so that the unit tests can sign and verify without a
 * server.  token.c uses them for the "authn.tokenrequest" op (issuing) and
 * in "authn.token" (a bearer token that is a JWT of our issuer).
 */
#ifndef KRAAL_AUTH_SATOKEN_H
#define KRAAL_AUTH_SATOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/value.h>

/* kube-apiserver's defaults: --service-account-issuer (also the default
 * --api-audiences) and the leeway of go-jose's time checks. */
#define SATOKEN_DEFAULT_ISSUER "https://kubernetes.default.svc.cluster.local"
#define SATOKEN_LEEWAY_S       60

typedef struct satoken_key satoken_key_t;

/* The private claims and the registered ones a token carries.  Strings
 * point into the arena of whoever filled it. */
typedef struct satoken_claims {
    const char *iss, *sub, *jti;
    const char **aud;
    size_t naud;
    int64_t iat, nbf, exp;
    const char *ns, *sa_name, *sa_uid;
    const char *pod_name, *pod_uid;       /* NULL: not bound to a pod */
    const char *secret_name, *secret_uid; /* NULL: not bound to a Secret */
} satoken_claims_t;

/* Loads the RSA key at `path` (PEM, PKCS#1 or PKCS#8), or when it does not
 * exist makes a 2048-bit one and writes it there 0600 (its directory made
 * 0700).  Caller owns the result. */
satoken_key_t *satoken_key_load(const char *path, kr_error_t *err);
void satoken_key_destroy(satoken_key_t **self_p);
/* The key id of the header: base64url (no padding) of the SHA-256 of the
 * public key's DER (PKIX), as upstream's keyIDFromPublicKey.  Owned by
 * the key. */
const char *satoken_key_id(const satoken_key_t *key);

/* The JWT of `c` (header {alg: RS256, kid}); malloc'd, caller frees. */
char *satoken_sign(const satoken_key_t *key, const satoken_claims_t *c, kr_error_t *err);

/* Whether `token` has the shape of a JWS compact serialization (three
 * base64url parts), i.e. is worth verifying rather than looking up. */
bool satoken_is_jwt(const char *token);

/* Verifies `token` at time `now`: 1 with *out filled (in arena) when it is
 * a valid token of `issuer` for one of `audiences`; 0 when it is not one
 * of our issuer's (another authenticator's to judge); < 0 with err
 * (KR_E_UNAUTHORIZED) and upstream's reason when it is ours but bad: bad
 * signature, expired ("service account token has expired"), not valid yet,
 * wrong audience.  The objects it names are not checked here. */
int satoken_verify(const satoken_key_t *key, kr_arena_t *arena, const char *token,
                   const char *issuer, const char *const *audiences, size_t naudiences, int64_t now,
                   satoken_claims_t *out, kr_error_t *err);

/* A random UUID (v4), as the jti claim; buf has 37 bytes. */
void satoken_uuid(char *buf);

#endif
