/* Private: the bus wire format shared by the client (sdk/lib/bus.c), the
 * broker (core/broker.c) and envelope validation (core/envelope.c).
 * See docs/bus.md for the protocol.
 *
 * Frames as seen by the DEALER side (the broker's ROUTER adds/strips the
 * peer's routing id in front):
 *
 *   client   -> broker    [msg]                      request
 *   broker   -> client    [msg]                      reply or watch event
 *   broker   -> provider  [hdr R id][client][msg]    routed request
 *   broker   -> provider  [hdr C id][client]         cancel (watcher gone)
 *   provider -> broker    [client][hdr F id][msg]    final reply
 *   provider -> broker    [client][hdr E id][msg]    stream event
 *   provider -> broker    [client][hdr X id][msg]    last stream event (ERROR)
 *   broker   -> any       []                         liveness probe; ignored
 *
 * hdr is 9 bytes: one kind byte and the request id as big-endian uint64.
 *
 * This header also holds a zero-allocation msgpack reader: the broker only
 * looks at a few top-level keys of each message and forwards the rest as
 * bytes, so decoding whole trees (msgpack_unpack or the value tree) would be
 * wasted work on the hot path.
 */
#ifndef KRAAL_BUS_WIRE_H
#define KRAAL_BUS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KR_WIRE_HDR_LEN 9

enum {
    KR_WIRE_REQUEST = 'R',
    KR_WIRE_CANCEL = 'C',
    KR_WIRE_REPLY = 'F',
    KR_WIRE_EVENT = 'E',
    KR_WIRE_END = 'X',
};

static inline void kr_wire_hdr_put(uint8_t *b, int kind, uint64_t id)
{
    b[0] = (uint8_t)kind;
    for (int i = 0; i < 8; i++)
        b[1 + i] = (uint8_t)(id >> (56 - 8 * i));
}

static inline bool kr_wire_hdr_get(const void *data, size_t len, int *kind, uint64_t *id)
{
    const uint8_t *b = data;
    if (len != KR_WIRE_HDR_LEN)
        return false;
    *kind = b[0];
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[1 + i];
    *id = v;
    return true;
}

/* ---- msgpack reader ---------------------------------------------------- */

typedef enum kr_mp_type {
    KR_MP_NIL,
    KR_MP_BOOL,
    KR_MP_UINT,
    KR_MP_INT, /* negative integers only */
    KR_MP_FLOAT,
    KR_MP_STR,
    KR_MP_BIN,
    KR_MP_EXT,
    KR_MP_ARRAY,
    KR_MP_MAP,
} kr_mp_type_t;

typedef struct kr_mp_obj {
    kr_mp_type_t type;
    bool b;
    uint64_t u;
    int64_t i;
    double f;
    const char *s; /* str/bin/ext payload (not NUL-terminated) */
    uint32_t len;  /* payload bytes, or element count of array/map */
} kr_mp_obj_t;

typedef struct kr_mp_reader {
    const uint8_t *p, *end;
} kr_mp_reader_t;

static inline bool kr_mp_take(kr_mp_reader_t *r, size_t n, const uint8_t **out)
{
    if ((size_t)(r->end - r->p) < n)
        return false;
    *out = r->p;
    r->p += n;
    return true;
}

static inline uint64_t kr_mp_be(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | b[i];
    return v;
}

/* Reads one item.  Strings, bins and exts are consumed whole; for arrays and
 * maps only the header is consumed and `len` holds the element count.
 * Returns false on truncated or invalid input. */
static inline bool kr_mp_read(kr_mp_reader_t *r, kr_mp_obj_t *o)
{
    const uint8_t *b;
    if (!kr_mp_take(r, 1, &b))
        return false;
    uint8_t c = b[0];
    int n = 0; /* bytes of a following length or scalar */
    memset(o, 0, sizeof *o);
    if (c <= 0x7f) {
        o->type = KR_MP_UINT;
        o->u = c;
        return true;
    }
    if (c >= 0xe0) {
        o->type = KR_MP_INT;
        o->i = (int8_t)c;
        return true;
    }
    if (c >= 0x80 && c <= 0x8f) {
        o->type = KR_MP_MAP;
        o->len = c & 0x0f;
        return true;
    }
    if (c >= 0x90 && c <= 0x9f) {
        o->type = KR_MP_ARRAY;
        o->len = c & 0x0f;
        return true;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        o->type = KR_MP_STR;
        o->len = c & 0x1f;
        goto payload;
    }
    switch (c) {
    case 0xc0:
        o->type = KR_MP_NIL;
        return true;
    case 0xc2:
    case 0xc3:
        o->type = KR_MP_BOOL;
        o->b = c == 0xc3;
        return true;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        o->type = KR_MP_BIN;
        n = 1 << (c - 0xc4);
        goto length;
    case 0xd9:
    case 0xda:
    case 0xdb:
        o->type = KR_MP_STR;
        n = 1 << (c - 0xd9);
        goto length;
    case 0xc7:
    case 0xc8:
    case 0xc9:
        o->type = KR_MP_EXT;
        n = 1 << (c - 0xc7);
        if (!kr_mp_take(r, (size_t)n, &b))
            return false;
        if (kr_mp_be(b, n) >= UINT32_MAX)
            return false;
        o->len = (uint32_t)kr_mp_be(b, n) + 1; /* + the type byte */
        goto payload;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        o->type = KR_MP_EXT;
        o->len = (1u << (c - 0xd4)) + 1;
        goto payload;
    case 0xca:
        if (!kr_mp_take(r, 4, &b))
            return false;
        {
            uint32_t u = (uint32_t)kr_mp_be(b, 4);
            float f;
            memcpy(&f, &u, 4);
            o->type = KR_MP_FLOAT;
            o->f = f;
        }
        return true;
    case 0xcb:
        if (!kr_mp_take(r, 8, &b))
            return false;
        {
            uint64_t u = kr_mp_be(b, 8);
            memcpy(&o->f, &u, 8);
            o->type = KR_MP_FLOAT;
        }
        return true;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        n = 1 << (c - 0xcc);
        if (!kr_mp_take(r, (size_t)n, &b))
            return false;
        o->type = KR_MP_UINT;
        o->u = kr_mp_be(b, n);
        return true;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        n = 1 << (c - 0xd0);
        if (!kr_mp_take(r, (size_t)n, &b))
            return false;
        uint64_t u = kr_mp_be(b, n);
        int64_t v;
        if (n == 1)
            v = (int8_t)u;
        else if (n == 2)
            v = (int16_t)u;
        else if (n == 4)
            v = (int32_t)u;
        else
            memcpy(&v, &u, 8);
        /* a signed encoding of a non-negative number is still a uint */
        if (v >= 0) {
            o->type = KR_MP_UINT;
            o->u = (uint64_t)v;
        } else {
            o->type = KR_MP_INT;
            o->i = v;
        }
        return true;
    }
    case 0xdc:
    case 0xdd:
        n = c == 0xdc ? 2 : 4;
        if (!kr_mp_take(r, (size_t)n, &b))
            return false;
        o->type = KR_MP_ARRAY;
        o->len = (uint32_t)kr_mp_be(b, n);
        return true;
    case 0xde:
    case 0xdf:
        n = c == 0xde ? 2 : 4;
        if (!kr_mp_take(r, (size_t)n, &b))
            return false;
        o->type = KR_MP_MAP;
        o->len = (uint32_t)kr_mp_be(b, n);
        return true;
    default: /* 0xc1 is never used */
        return false;
    }
length:
    if (!kr_mp_take(r, (size_t)n, &b))
        return false;
    o->len = (uint32_t)kr_mp_be(b, n);
payload:
    if (!kr_mp_take(r, o->len, &b))
        return false;
    o->s = (const char *)b;
    return true;
}

/* Skips one whole object, however nested, without recursion: a container
 * only adds its element count to the number of items still to read. */
static inline bool kr_mp_skip(kr_mp_reader_t *r)
{
    uint64_t pending = 1;
    kr_mp_obj_t o;
    while (pending > 0) {
        if (!kr_mp_read(r, &o))
            return false;
        pending--;
        if (o.type == KR_MP_ARRAY)
            pending += o.len;
        else if (o.type == KR_MP_MAP)
            pending += 2ull * o.len;
        /* each item takes at least one byte: a count beyond the input is
         * caught as truncation, so no explicit bound is needed */
        if (pending > (uint64_t)(r->end - r->p))
            return false;
    }
    return true;
}

static inline bool kr_mp_streq(const kr_mp_obj_t *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == KR_MP_STR && o->len == n && memcmp(o->s, s, n) == 0;
}

/* Peeks at a message from the broker: its id and whether it is a watch
 * event (has "type") rather than a reply (has "code").  False when the
 * message is not a map with a uint id. */
static inline bool kr_wire_peek(const void *data, size_t len, uint64_t *id, bool *is_event)
{
    kr_mp_reader_t r = {data, (const uint8_t *)data + len};
    kr_mp_obj_t o, v;
    *id = 0;
    *is_event = false;
    if (!kr_mp_read(&r, &o) || o.type != KR_MP_MAP)
        return false;
    bool have_id = false;
    for (uint32_t i = 0; i < o.len; i++) {
        if (!kr_mp_read(&r, &v) || v.type != KR_MP_STR)
            return false;
        if (v.len == 2 && memcmp(v.s, "id", 2) == 0) {
            kr_mp_obj_t x;
            if (!kr_mp_read(&r, &x) || x.type != KR_MP_UINT)
                return false;
            *id = x.u;
            have_id = true;
            continue;
        }
        if (v.len == 4 && memcmp(v.s, "type", 4) == 0)
            *is_event = true;
        if (!kr_mp_skip(&r))
            return false;
    }
    return have_id;
}

#endif
