/* Envelope validation: the checks every bus message passes before the
 * broker looks at it (DESIGN.md §3, docs/bus.md).  Zero-copy: the strings
 * point into the message bytes and are NOT NUL-terminated. */
#ifndef KRAAL_CORE_ENVELOPE_H
#define KRAAL_CORE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest op and resource names accepted. */
#define KR_ENVELOPE_NAME_MAX 253

typedef struct kr_env_str {
    const char *p; /* NULL when absent */
    size_t len;
} kr_env_str_t;

typedef struct kr_envelope {
    uint64_t id;
    bool has_id; /* set as soon as a valid id was seen, even if the rest is bad */
    kr_env_str_t op, res, ns, name, sub, rv;
} kr_envelope_t;

typedef enum kr_envelope_status {
    KR_ENVELOPE_OK = 0,
    KR_ENVELOPE_NOT_MSGPACK = -1, /* not exactly one well-formed msgpack object */
    KR_ENVELOPE_INVALID = -2,     /* msgpack, but not a valid request map */
} kr_envelope_status_t;

/* Validates one client message: a single msgpack map (no trailing bytes)
 * with v = 1 (uint), id (uint) and op (non-empty string), and, when present,
 * res/ns/name/sub/rv strings and opts/auth maps.  Unknown keys are ignored
 * so newer clients can add fields; duplicate keys are refused.  On failure
 * err (KR_E_BAD_REQUEST) says what was wrong in the client's terms. */
kr_envelope_status_t kr_envelope_parse(const void *data, size_t len, kr_envelope_t *env,
                                       kr_error_t *err);

/* True when `s` equals the NUL-terminated `lit`. */
bool kr_env_str_eq(kr_env_str_t s, const char *lit);

#ifdef __cplusplus
}
#endif
#endif
