/* The one error type: reasons, codes and messages. */
#include <kraal/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
    const char *text;
} reasons[KR_E__COUNT] = {
#define KR_REASON_ROW(e, c, s) [KR_E_##e] = {c, s, #e},
    KR_REASON_MAP(KR_REASON_ROW)
#undef KR_REASON_ROW
};

static int valid(kr_reason_t r)
{
    return (unsigned)r < KR_E__COUNT;
}

int kr_reason_code(kr_reason_t reason)
{
    return valid(reason) ? reasons[reason].code : 500;
}

const char *kr_reason_name(kr_reason_t reason)
{
    return valid(reason) ? reasons[reason].name : "InternalError";
}

kr_reason_t kr_reason_from_name(const char *name)
{
    if (name == NULL)
        return KR_E_INTERNAL;
    for (int r = 0; r < KR_E__COUNT; r++)
        if (strcmp(reasons[r].name, name) == 0)
            return (kr_reason_t)r;
    return KR_E_INTERNAL;
}

kr_reason_t kr_reason_from_code(int code)
{
    if (code >= 200 && code < 300)
        return KR_E_OK;
    for (int r = 0; r < KR_E__COUNT; r++)
        if (reasons[r].code == code)
            return (kr_reason_t)r;
    return code >= 500 ? KR_E_INTERNAL : KR_E_BAD_REQUEST;
}

const char *kr_strerror(kr_reason_t reason)
{
    static const char *const text[KR_E__COUNT] = {
        [KR_E_OK] = "success",
        [KR_E_BAD_REQUEST] = "bad request",
        [KR_E_UNAUTHORIZED] = "unauthorized",
        [KR_E_FORBIDDEN] = "forbidden",
        [KR_E_NOT_FOUND] = "not found",
        [KR_E_METHOD_NOT_ALLOWED] = "method not allowed",
        [KR_E_NOT_ACCEPTABLE] = "not acceptable",
        [KR_E_ALREADY_EXISTS] = "already exists",
        [KR_E_CONFLICT] = "conflict",
        [KR_E_GONE] = "gone",
        [KR_E_EXPIRED] = "expired",
        [KR_E_TOO_LARGE] = "request entity too large",
        [KR_E_UNSUPPORTED_MEDIA_TYPE] = "unsupported media type",
        [KR_E_INVALID] = "invalid",
        [KR_E_TOO_MANY_REQUESTS] = "too many requests",
        [KR_E_INTERNAL] = "internal error",
        [KR_E_SERVER_TIMEOUT] = "server timeout",
        [KR_E_SERVICE_UNAVAILABLE] = "service unavailable",
        [KR_E_TIMEOUT] = "timeout",
        [KR_E_INSUFFICIENT_STORAGE] = "insufficient storage",
    };
    return valid(reason) && text[reason] ? text[reason] : "unknown error";
}

int kr_error_set(kr_error_t *err, kr_reason_t reason, const char *fmt, ...)
{
    if (!valid(reason) || reason == KR_E_OK)
        reason = KR_E_INTERNAL;
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->reason = reason;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return -(int)reason;
}

int kr_error_wrap(kr_error_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return -(int)KR_E_INTERNAL;
    char old[KR_ERROR_MSG_MAX];
    memcpy(old, err->message, sizeof old);
    old[sizeof old - 1] = '\0';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used < sizeof err->message - 1) {
        size_t room = sizeof err->message - used;
        size_t oldlen = strnlen(old, sizeof old);
        char *p = err->message + used;
        /* ": " then as much of the old message as fits */
        size_t sep = room > 2 ? 2 : room - 1;
        memcpy(p, ": ", sep);
        p += sep;
        room -= sep;
        size_t take = oldlen < room - 1 ? oldlen : room - 1;
        memcpy(p, old, take);
        p[take] = '\0';
    }
    if (!valid(err->reason) || err->reason == KR_E_OK)
        err->reason = KR_E_INTERNAL;
    return -(int)err->reason;
}

void kr_error_clear(kr_error_t *err)
{
    if (err != NULL) {
        err->reason = KR_E_OK;
        err->message[0] = '\0';
    }
}
