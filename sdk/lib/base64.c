/* base64 as Go's encoding/base64 (kraal/base64.h). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <kraal/base64.h>

static const char std_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void kr_base64_encode(kr_buf_t *out, const void *data, size_t len, kr_b64_t enc)
{
    const char *chars = enc == KR_B64_RAW_URL ? url_chars : std_chars;
    bool pad = enc == KR_B64_STD;
    const unsigned char *p = data;
    kr_buf_reserve(out, (len + 2) / 3 * 4);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        char q[4] = {chars[(v >> 18) & 63], chars[(v >> 12) & 63], chars[(v >> 6) & 63],
                     chars[v & 63]};
        size_t n = i + 2 < len ? 4 : i + 1 < len ? 3 : 2;
        if (pad)
            for (size_t k = n; k < 4; k++)
                q[k] = '=';
        kr_buf_append(out, q, pad ? 4 : n);
    }
}

static int value_of(char c, kr_b64_t enc)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (enc == KR_B64_RAW_URL ? '-' : '+'))
        return 62;
    if (c == (enc == KR_B64_RAW_URL ? '_' : '/'))
        return 63;
    return -1;
}

bool kr_base64_is_char(char c, kr_b64_t enc)
{
    return value_of(c, enc) >= 0;
}

static int corrupt(size_t *bad, size_t at)
{
    if (bad != NULL)
        *bad = at;
    return -1;
}

/* The offsets are Go's (encoding/base64 decodeQuantum): an illegal byte
 * or a misplaced '=' is named where it stands, a second '=' that is
 * missing one byte before where it should be, garbage after the padding
 * where it starts, and an incomplete last quantum without padding where
 * that quantum's characters end minus their number. */
int kr_base64_decode(kr_buf_t *out, const char *s, size_t len, kr_b64_t enc, size_t *bad)
{
    bool std = enc == KR_B64_STD;
    uint32_t acc = 0;
    int quad = 0; /* characters of the current quantum */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\r' || c == '\n')
            continue; /* Go skips them in either alphabet */
        if (c == '=' && std) {
            if (quad < 2)
                return corrupt(bad, i);
            size_t j = i + 1;
            if (quad == 2) { /* "==" is expected */
                while (j < len && (s[j] == '\r' || s[j] == '\n'))
                    j++;
                if (j == len)
                    return corrupt(bad, len);
                if (s[j] != '=')
                    return corrupt(bad, j - 1);
                j++;
            }
            while (j < len && (s[j] == '\r' || s[j] == '\n'))
                j++;
            if (j < len)
                return corrupt(bad, j); /* trailing garbage */
            unsigned char o[2] = {(unsigned char)(acc >> (quad == 2 ? 4 : 10)),
                                  (unsigned char)(acc >> 2)};
            kr_buf_append(out, o, quad == 2 ? 1 : 2);
            return 0;
        }
        int v = value_of(c, enc);
        if (v < 0)
            return corrupt(bad, i);
        acc = acc << 6 | (uint32_t)v;
        if (++quad == 4) {
            unsigned char o[3] = {(unsigned char)(acc >> 16), (unsigned char)(acc >> 8),
                                  (unsigned char)acc};
            kr_buf_append(out, o, 3);
            acc = 0;
            quad = 0;
        }
    }
    if (quad == 0)
        return 0;
    if (std || quad == 1)
        return corrupt(bad, len - (size_t)quad);
    unsigned char o[2] = {(unsigned char)(acc >> (quad == 2 ? 4 : 10)), (unsigned char)(acc >> 2)};
    kr_buf_append(out, o, quad == 2 ? 1 : 2);
    return 0;
}

char *kr_base64_decode_str(kr_arena_t *arena, const char *s, kr_b64_t enc, size_t *len_out)
{
    if (s == NULL)
        return NULL;
    kr_buf_t buf = KR_BUF_INIT;
    char *out = NULL;
    if (kr_base64_decode(&buf, s, strlen(s), enc, NULL) == 0) {
        out = kr_arena_alloc(arena, buf.len + 1);
        if (buf.len > 0)
            memcpy(out, buf.data, buf.len);
        out[buf.len] = '\0';
        if (len_out != NULL)
            *len_out = buf.len;
    }
    kr_buf_free(&buf);
    return out;
}
