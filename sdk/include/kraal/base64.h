/* kraal SDK — base64 as Go's encoding/base64 writes and reads it.
 *
 * The API's []byte fields (a Secret's data, a ConfigMap's binaryData) are
 * base64 in JSON, the way Go's encoding/json writes them: StdEncoding,
 * with padding.  JWTs (ServiceAccount tokens) are RawURLEncoding: the
 * URL alphabet without padding.  One implementation serves both, with
 * Go's decoding rules and error offsets, so that a validation message
 * names the byte Go would name ("illegal base64 data at input byte 4").
 *
 * Thread-safe (no state); the output buffer is the caller's.
 */
#ifndef KRAAL_BASE64_H
#define KRAAL_BASE64_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kr_b64 {
    KR_B64_STD = 0, /* StdEncoding: A-Z a-z 0-9 + /, '=' padding */
    KR_B64_RAW_URL, /* RawURLEncoding: A-Z a-z 0-9 - _, no padding */
} kr_b64_t;

/* Whether `c` is a character of the alphabet (not '='). */
bool kr_base64_is_char(char c, kr_b64_t enc);

/* Appends the encoding of data[0..len) to `out` (no NUL is added). */
void kr_base64_encode(kr_buf_t *out, const void *data, size_t len, kr_b64_t enc);

/* Appends the decoding of s[0..len) to `out`.  Returns 0, or -1 with *bad
 * (may be NULL) set to the offset Go's CorruptInputError names (an
 * illegal byte, a misplaced or missing '=', garbage after the padding, an
 * incomplete last quantum).  As Go's decoder, both skip '\r' and '\n';
 * KR_B64_STD requires padding to a multiple of 4; KR_B64_RAW_URL has no
 * padding and refuses a lone last character.  `out` keeps what was
 * appended before the error. */
int kr_base64_decode(kr_buf_t *out, const char *s, size_t len, kr_b64_t enc, size_t *bad);

/* The decoding of the string `s` in `arena`, NUL-terminated (the bytes may
 * hold NULs too: *len_out, which may be NULL, is their number), or NULL
 * when `s` is NULL or not valid base64. */
char *kr_base64_decode_str(kr_arena_t *arena, const char *s, kr_b64_t enc, size_t *len_out);

#ifdef __cplusplus
}
#endif

#endif
