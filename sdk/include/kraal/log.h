/* kraal SDK — levelled, structured logging.
 *
 * One line per record, logfmt style:
 *   ts=2026-11-23T10:00:00.123Z level=info tag=echo msg="plugin started" port=7440
 * `kvfmt` is a printf format for the key=value part ("" for none).  Values
 * that may hold spaces should be quoted by the caller ("path=\"%s\"").
 * Thread-safe: each record is written with one write(2).
 */
#ifndef KRAAL_LOG_H
#define KRAAL_LOG_H

#include <kraal/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kr_log_level {
    KR_LOG_DEBUG = 0,
    KR_LOG_INFO,
    KR_LOG_WARN,
    KR_LOG_ERROR,
} kr_log_level_t;

void kr_log_set_level(kr_log_level_t level);
kr_log_level_t kr_log_get_level(void);
/* "debug"|"info"|"warn"|"error" -> level; KR_E_INVALID otherwise. */
int kr_log_level_parse(const char *name, kr_log_level_t *level, kr_error_t *err);
/* Where records go (default 2, stderr). */
void kr_log_set_fd(int fd);

void kr_log(kr_log_level_t level, const char *tag, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 4, 5)));

#define KR_DEBUG(tag, msg, ...) kr_log(KR_LOG_DEBUG, tag, msg, __VA_ARGS__)
#define KR_INFO(tag, msg, ...)  kr_log(KR_LOG_INFO, tag, msg, __VA_ARGS__)
#define KR_WARN(tag, msg, ...)  kr_log(KR_LOG_WARN, tag, msg, __VA_ARGS__)
#define KR_ERROR(tag, msg, ...) kr_log(KR_LOG_ERROR, tag, msg, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
