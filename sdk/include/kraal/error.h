/* kraal SDK — the one error type.
 *
 * Functions that can fail return a negative int and take `kr_error_t *err`
 * as their last parameter.  `err` may be NULL when the caller does not want
 * the message.  Codes follow Kubernetes Status semantics so that every layer
 * (bus, REST gateway, plugins) maps them one to one.
 */
#ifndef KRAAL_ERROR_H
#define KRAAL_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(ENUM, http code, Kubernetes Status reason) */
#define KR_REASON_MAP(X)                                   \
    X(OK, 200, "")                                         \
    X(BAD_REQUEST, 400, "BadRequest")                      \
    X(UNAUTHORIZED, 401, "Unauthorized")                   \
    X(FORBIDDEN, 403, "Forbidden")                         \
    X(NOT_FOUND, 404, "NotFound")                          \
    X(METHOD_NOT_ALLOWED, 405, "MethodNotAllowed")         \
    X(NOT_ACCEPTABLE, 406, "NotAcceptable")                \
    X(ALREADY_EXISTS, 409, "AlreadyExists")                \
    X(CONFLICT, 409, "Conflict")                           \
    X(GONE, 410, "Gone")                                   \
    X(EXPIRED, 410, "Expired")                             \
    X(TOO_LARGE, 413, "RequestEntityTooLarge")             \
    X(UNSUPPORTED_MEDIA_TYPE, 415, "UnsupportedMediaType") \
    X(INVALID, 422, "Invalid")                             \
    X(TOO_MANY_REQUESTS, 429, "TooManyRequests")           \
    X(INTERNAL, 500, "InternalError")                      \
    X(SERVER_TIMEOUT, 500, "ServerTimeout")                \
    X(SERVICE_UNAVAILABLE, 503, "ServiceUnavailable")      \
    X(TIMEOUT, 504, "Timeout")                             \
    X(INSUFFICIENT_STORAGE, 507, "InsufficientStorage")

typedef enum kr_reason {
#define KR_REASON_ENUM(name, code, str) KR_E_##name,
    KR_REASON_MAP(KR_REASON_ENUM)
#undef KR_REASON_ENUM
        KR_E__COUNT
} kr_reason_t;

#define KR_ERROR_MSG_MAX 512

typedef struct kr_error {
    kr_reason_t reason;
    char message[KR_ERROR_MSG_MAX];
} kr_error_t;

/* HTTP status code of a reason (e.g. 404 for KR_E_NOT_FOUND). */
int kr_reason_code(kr_reason_t reason);

/* Kubernetes Status reason string ("NotFound"); "" for KR_E_OK. */
const char *kr_reason_name(kr_reason_t reason);

/* Reverse of kr_reason_name(); KR_E_INTERNAL for an unknown name. */
kr_reason_t kr_reason_from_name(const char *name);

/* The reason a bare HTTP code stands for (first match in the map). */
kr_reason_t kr_reason_from_code(int code);

/* Short human text for a reason ("not found"). Static string. */
const char *kr_strerror(kr_reason_t reason);

/* Fills `err` (if not NULL) and returns -(int)reason (always < 0). */
int kr_error_set(kr_error_t *err, kr_reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes context to an error already set: "loading x.so: <old message>".
 * Returns -(int)err->reason, or -KR_E_INTERNAL when err is NULL. */
int kr_error_wrap(kr_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets to KR_E_OK with an empty message. */
void kr_error_clear(kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
