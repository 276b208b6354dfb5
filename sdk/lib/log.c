/* Levelled logfmt logging: one write(2) per record so that lines from
 * different threads (and processes sharing the fd) never interleave. */
#include <kraal/log.h>

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static atomic_int log_level = KR_LOG_INFO;
static atomic_int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void kr_log_set_level(kr_log_level_t level)
{
    if (level < KR_LOG_DEBUG)
        level = KR_LOG_DEBUG;
    if (level > KR_LOG_ERROR)
        level = KR_LOG_ERROR;
    atomic_store(&log_level, (int)level);
}

kr_log_level_t kr_log_get_level(void)
{
    return (kr_log_level_t)atomic_load(&log_level);
}

int kr_log_level_parse(const char *name, kr_log_level_t *level, kr_error_t *err)
{
    for (int i = 0; name != NULL && i <= KR_LOG_ERROR; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *level = (kr_log_level_t)i;
            return 0;
        }
    }
    if (name != NULL && strcasecmp(name, "warning") == 0) {
        *level = KR_LOG_WARN;
        return 0;
    }
    return kr_error_set(err, KR_E_INVALID,
                        "log level \"%s\": must be one of debug, info, warn, error",
                        name ? name : "");
}

void kr_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

static size_t put_quoted(char *buf, size_t pos, size_t cap, const char *s)
{
    if (pos + 1 < cap)
        buf[pos++] = '"';
    for (const char *p = s; *p && pos + 6 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c == '\n') {
            buf[pos++] = '\\';
            buf[pos++] = 'n';
        } else if (c == '\t') {
            buf[pos++] = '\\';
            buf[pos++] = 't';
        } else if (c < ' ' || c == 0x7f) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\x%02x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    if (pos + 1 < cap)
        buf[pos++] = '"';
    return pos;
}

/* Appends `s` as a logfmt value: bare when it needs no quoting, otherwise
 * double-quoted with \" \\ \n \t escaped and control bytes as \xNN. */
static size_t put_value(char *buf, size_t pos, size_t cap, const char *s)
{
    bool bare = s[0] != '\0';
    for (const char *p = s; *p && bare; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            bare = false;
    if (bare) {
        size_t n = strlen(s);
        if (pos + n >= cap)
            n = cap > pos + 1 ? cap - pos - 1 : 0;
        memcpy(buf + pos, s, n);
        return pos + n;
    }
    return put_quoted(buf, pos, cap, s);
}

void kr_log(kr_log_level_t level, const char *tag, const char *msg, const char *kvfmt, ...)
{
    if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    if (level < KR_LOG_DEBUG || level > KR_LOG_ERROR)
        level = KR_LOG_ERROR;
    int saved_errno = errno;
    char buf[LOG_LINE_MAX];
    /* Keep room for the newline that always ends the record. */
    const size_t cap = sizeof buf - 1;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, cap,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s tag=", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, level_names[level]);
    size_t pos = n > 0 ? (size_t)n : 0;
    pos = put_value(buf, pos, cap, tag && *tag ? tag : "kraal");
    if (pos + 5 < cap) {
        memcpy(buf + pos, " msg=", 5);
        pos += 5;
        /* msg is always quoted so that readers can rely on its shape */
        pos = put_quoted(buf, pos, cap, msg ? msg : "");
    }
    if (kvfmt != NULL && kvfmt[0] != '\0' && pos + 1 < cap) {
        buf[pos++] = ' ';
        va_list ap;
        va_start(ap, kvfmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        int k = vsnprintf(buf + pos, cap - pos, kvfmt, ap);
#pragma GCC diagnostic pop
        va_end(ap);
        if (k > 0)
            pos += (size_t)k < cap - pos ? (size_t)k : cap - pos - 1;
        else
            pos--; /* no key=value pairs after all: no trailing space */
    }
    /* A caller's value with a newline must not split the record. */
    for (size_t i = 0; i < pos; i++)
        if (buf[i] == '\n')
            buf[i] = ' ';
    buf[pos++] = '\n';
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    const char *p = buf;
    while (pos > 0) {
        ssize_t w = write(fd, p, pos);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        pos -= (size_t)w;
    }
    errno = saved_errno;
}
