/* msgpack <-> value tree.  Our own parser decodes straight into the tree
 * (no msgpack_zone copy), checking every declared length against the bytes
 * left before allocating anything.
 *
 * Decoding is what a client pays for every reply (a list of 10,000 pods is
 * a million nodes), so its common path makes no calls: nodes, strings and
 * containers come from the arena's inline fast path, containers are sized
 * once from their declared counts, and Kubernetes' own map keys are shared
 * read-only strings (value_keys.c) rather than copies. */
#include "value_internal.h"

#include <inttypes.h>
#include <string.h>

struct mp_reader {
    kr_arena_t *arena;
    const unsigned char *p;
    size_t len;
    size_t off;
    kr_error_t *err;
};

static int mp_truncated(struct mp_reader *r, const char *what, size_t need)
{
    return kr_error_set(r->err, KR_E_BAD_REQUEST,
                        "msgpack: %s at offset %zu needs %zu bytes but only %zu remain", what,
                        r->off, need, r->len - r->off);
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads an n-byte big-endian length or number after the type byte. */
static int mp_uint(struct mp_reader *r, int n, uint64_t *out)
{
    if (r->len - r->off < (size_t)n)
        return mp_truncated(r, "value", (size_t)n);
    *out = be(r->p + r->off, n);
    r->off += (size_t)n;
    return 0;
}

static inline kr_value_t *mp_node(struct mp_reader *r, kr_type_t type)
{
    kr_value_t *v = kr_arena_bump(r->arena, sizeof(*v), KR_ARENA_ALIGN);
    v->type = (uint8_t)type;
    v->len = 0;
    v->u.i = 0;
    return v;
}

static inline kr_value_t *mp_int(struct mp_reader *r, int64_t i)
{
    kr_value_t *v = mp_node(r, KR_INT);
    v->u.i = i;
    return v;
}

static int mp_value(struct mp_reader *r, int depth, kr_value_t **out);

static inline int mp_str(struct mp_reader *r, uint64_t n, kr_value_t **out)
{
    if (n > r->len - r->off)
        return kr_error_set(r->err, KR_E_BAD_REQUEST,
                            "msgpack: string at offset %zu declares %" PRIu64
                            " bytes but only %zu remain",
                            r->off, n, r->len - r->off);
    /* n <= the input left, and str32 keeps it under 2^32 */
    char *s = kr_arena_bump(r->arena, (size_t)n + 1, 1);
    memcpy(s, r->p + r->off, (size_t)n);
    s[n] = '\0';
    kr_value_t *v = mp_node(r, KR_STR);
    v->u.s = s;
    v->len = (uint32_t)n;
    r->off += (size_t)n;
    *out = v;
    return 0;
}

static int mp_array(struct mp_reader *r, uint64_t n, int depth, kr_value_t **out)
{
    /* Every element takes at least one byte. */
    if (n > r->len - r->off)
        return kr_error_set(r->err, KR_E_BAD_REQUEST,
                            "msgpack: array at offset %zu declares %" PRIu64
                            " items but only %zu bytes remain",
                            r->off, n, r->len - r->off);
    kr_value_t *a = mp_node(r, KR_ARRAY);
    kr_value_reserve(r->arena, a, (size_t)n);
    for (uint64_t i = 0; i < n; i++) {
        kr_value_t *item = NULL;
        int rc = mp_value(r, depth + 1, &item);
        if (rc < 0)
            return rc;
        a->u.items[a->len++] = item;
    }
    *out = a;
    return 0;
}

static inline int mp_key(struct mp_reader *r, int depth, const char **key, size_t *keylen)
{
    if (r->off >= r->len)
        return mp_truncated(r, "map key", 1);
    unsigned char b = r->p[r->off];
    uint64_t n = 0;
    int rc = 0;
    if ((b & 0xe0) == 0xa0) {
        n = b & 0x1f;
        r->off++;
    } else if (b == 0xd9 || b == 0xc4) {
        r->off++;
        rc = mp_uint(r, 1, &n);
    } else if (b == 0xda || b == 0xc5) {
        r->off++;
        rc = mp_uint(r, 2, &n);
    } else if (b == 0xdb || b == 0xc6) {
        r->off++;
        rc = mp_uint(r, 4, &n);
    } else if (b == 0xd4 || b == 0xd5) {
        /* a common key by its ordinal (value_internal.h) */
        size_t at = r->off, size = b == 0xd4 ? 1 : 2;
        if (r->len - r->off < 2 + size)
            return mp_truncated(r, "map key", 2 + size);
        if (r->p[r->off + 1] != KR_MP_KEY_EXT)
            return kr_error_set(r->err, KR_E_BAD_REQUEST,
                                "msgpack: map key at offset %zu is an ext of type %d, not a key",
                                at, (int)(int8_t)r->p[r->off + 1]);
        unsigned id = r->p[r->off + 2];
        if (size == 2)
            id = id << 8 | r->p[r->off + 3];
        if (id == 0 || id > kr_common_ids)
            return kr_error_set(r->err, KR_E_BAD_REQUEST,
                                "msgpack: map key at offset %zu names key %u, which this "
                                "version does not know (it knows %u)",
                                at, id, (unsigned)kr_common_ids);
        r->off += 2 + size;
        *key = kr_common_blob + kr_common_off_of_id[id];
        *keylen = kr_common_len_of_id[id];
        return 0;
    } else {
        return kr_error_set(r->err, KR_E_BAD_REQUEST,
                            "msgpack: map key at depth %d is not a string (offset %zu)", depth,
                            r->off);
    }
    if (rc < 0)
        return rc;
    size_t left = r->len - r->off;
    if (n > left)
        return kr_error_set(r->err, KR_E_BAD_REQUEST,
                            "msgpack: map key at offset %zu declares %" PRIu64
                            " bytes but only %zu remain",
                            r->off, n, left);
    /* Kubernetes' own keys are shared, not copied: in a list of pods they
     * are nearly all of the keys (and a third of the bytes). */
    const char *text = (const char *)r->p + r->off;
    const char *common = kr_value_common_key_in(text, (size_t)n, left);
    if (common == NULL) {
        char *s = kr_arena_bump(r->arena, (size_t)n + 1, 1);
        memcpy(s, text, (size_t)n);
        s[n] = '\0';
        common = s;
    }
    *key = common;
    *keylen = (size_t)n;
    r->off += (size_t)n;
    return 0;
}

static int mp_map(struct mp_reader *r, uint64_t n, int depth, kr_value_t **out)
{
    /* Every entry takes at least two bytes (key and value). */
    if (n > (r->len - r->off) / 2)
        return kr_error_set(r->err, KR_E_BAD_REQUEST,
                            "msgpack: map at offset %zu declares %" PRIu64
                            " entries but only %zu bytes remain",
                            r->off, n, r->len - r->off);
    kr_value_t *m = mp_node(r, KR_MAP);
    kr_value_reserve(r->arena, m, (size_t)n);
    for (uint64_t i = 0; i < n; i++) {
        const char *key = NULL;
        size_t keylen = 0;
        kr_value_t *val = NULL;
        int rc = mp_key(r, depth + 1, &key, &keylen);
        if (rc < 0)
            return rc;
        rc = mp_value(r, depth + 1, &val);
        if (rc < 0)
            return rc;
        if (n > KR_MAP_INDEX_MIN) {
            /* Duplicate keys: last wins, as in JSON. */
            kr_value_map_set_owned(r->arena, m, key, keylen, val);
            continue;
        }
        /* A small map never gets an index: look for a duplicate in place
         * (shared keys compare by pointer) and append. */
        kr_map_entry_t *ents = m->u.ents;
        uint32_t j = 0;
        for (; j < m->len; j++)
            if (ents[j].keylen == keylen &&
                (ents[j].key == key || memcmp(ents[j].key, key, keylen) == 0))
                break;
        if (j < m->len)
            ents[j].val = val;
        else
            ents[m->len++] = (kr_map_entry_t){key, (uint32_t)keylen, 0, val};
    }
    *out = m;
    return 0;
}

static int mp_value(struct mp_reader *r, int depth, kr_value_t **out)
{
    if (r->off >= r->len)
        return mp_truncated(r, "value", 1);
    size_t start = r->off;
    unsigned char b = r->p[r->off++];
    uint64_t n = 0;
    int rc;

    if ((b & 0xe0) == 0xa0)
        return mp_str(r, b & 0x1f, out);
    if (b <= 0x7f) {
        *out = mp_int(r, b);
        return 0;
    }
    if (b >= 0xe0) {
        *out = mp_int(r, (int8_t)b);
        return 0;
    }
    if ((b & 0xf0) == 0x90 || (b & 0xf0) == 0x80 || b == 0xdc || b == 0xdd || b == 0xde ||
        b == 0xdf) {
        if (depth >= KR_VALUE_MAX_DEPTH)
            return kr_error_set(r->err, KR_E_BAD_REQUEST,
                                "msgpack: nesting at offset %zu is deeper than %d levels", start,
                                KR_VALUE_MAX_DEPTH);
        bool is_map = (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
        if ((b & 0xf0) == 0x90 || (b & 0xf0) == 0x80)
            n = b & 0x0f;
        else if ((rc = mp_uint(r, (b == 0xdc || b == 0xde) ? 2 : 4, &n)) < 0)
            return rc;
        return is_map ? mp_map(r, n, depth, out) : mp_array(r, n, depth, out);
    }
    switch (b) {
    case 0xc0:
        *out = mp_node(r, KR_NULL);
        return 0;
    case 0xc2:
    case 0xc3:
        *out = mp_node(r, KR_BOOL);
        (*out)->u.b = b == 0xc3;
        return 0;
    case 0xc4: /* bin 8/16/32 read as strings: JSON and YAML have no bytes */
    case 0xd9:
        if ((rc = mp_uint(r, 1, &n)) < 0)
            return rc;
        return mp_str(r, n, out);
    case 0xc5:
    case 0xda:
        if ((rc = mp_uint(r, 2, &n)) < 0)
            return rc;
        return mp_str(r, n, out);
    case 0xc6:
    case 0xdb:
        if ((rc = mp_uint(r, 4, &n)) < 0)
            return rc;
        return mp_str(r, n, out);
    case 0xca: {
        if ((rc = mp_uint(r, 4, &n)) < 0)
            return rc;
        uint32_t u = (uint32_t)n;
        float f;
        memcpy(&f, &u, sizeof(f));
        *out = mp_node(r, KR_FLOAT);
        (*out)->u.d = f;
        return 0;
    }
    case 0xcb: {
        if ((rc = mp_uint(r, 8, &n)) < 0)
            return rc;
        double d;
        memcpy(&d, &n, sizeof(d));
        *out = mp_node(r, KR_FLOAT);
        (*out)->u.d = d;
        return 0;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        if ((rc = mp_uint(r, 1 << (b - 0xcc), &n)) < 0)
            return rc;
        if (n > (uint64_t)INT64_MAX)
            return kr_error_set(r->err, KR_E_BAD_REQUEST,
                                "msgpack: integer %" PRIu64
                                " at offset %zu overflows int64 (Kubernetes integers are int64)",
                                n, start);
        *out = mp_int(r, (int64_t)n);
        return 0;
    case 0xd0:
        if ((rc = mp_uint(r, 1, &n)) < 0)
            return rc;
        *out = mp_int(r, (int8_t)n);
        return 0;
    case 0xd1:
        if ((rc = mp_uint(r, 2, &n)) < 0)
            return rc;
        *out = mp_int(r, (int16_t)n);
        return 0;
    case 0xd2:
        if ((rc = mp_uint(r, 4, &n)) < 0)
            return rc;
        *out = mp_int(r, (int32_t)n);
        return 0;
    case 0xd3:
        if ((rc = mp_uint(r, 8, &n)) < 0)
            return rc;
        *out = mp_int(r, (int64_t)n);
        return 0;
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return kr_error_set(r->err, KR_E_BAD_REQUEST,
                            "msgpack: ext type at offset %zu is not supported", start);
    default:
        return kr_error_set(r->err, KR_E_BAD_REQUEST,
                            "msgpack: invalid type byte 0x%02x at offset %zu", b, start);
    }
}

int kr_msgpack_decode(kr_arena_t *arena, const void *data, size_t len, kr_value_t **out,
                      kr_error_t *err)
{
    if (out != NULL)
        *out = NULL;
    if (data == NULL && len > 0)
        return kr_error_set(err, KR_E_BAD_REQUEST, "msgpack: no input");
    struct mp_reader r = {arena, data, len, 0, err};
    if (len == 0)
        return kr_error_set(err, KR_E_BAD_REQUEST, "msgpack: empty input");
    kr_value_t *v = NULL;
    int rc = mp_value(&r, 0, &v);
    if (rc < 0)
        return rc;
    if (r.off != len)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "msgpack: %zu unexpected bytes after the value at offset %zu",
                            len - r.off, r.off);
    if (out != NULL)
        *out = v;
    return 0;
}

/* ---- encode ------------------------------------------------------------ */

/* Room for n more bytes at the end of out: the common case (room left)
 * without a call.  The encoder NUL-terminates once, at the end. */
static inline unsigned char *put_room(kr_buf_t *out, size_t n)
{
    if (out->data == NULL || out->cap - out->len < n + 1)
        kr_buf_reserve(out, n);
    unsigned char *p = (unsigned char *)out->data + out->len;
    out->len += n;
    return p;
}

static inline void put_byte(kr_buf_t *out, unsigned char c)
{
    *put_room(out, 1) = c;
}

static inline void put_be(kr_buf_t *out, unsigned char tag, uint64_t v, int n)
{
    unsigned char *b = put_room(out, (size_t)n + 1);
    b[0] = tag;
    for (int i = 0; i < n; i++)
        b[1 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

static void put_int(kr_buf_t *out, int64_t i)
{
    if (i >= 0) {
        if (i <= 0x7f)
            put_byte(out, (unsigned char)i);
        else if (i <= 0xff)
            put_be(out, 0xcc, (uint64_t)i, 1);
        else if (i <= 0xffff)
            put_be(out, 0xcd, (uint64_t)i, 2);
        else if (i <= 0xffffffffLL)
            put_be(out, 0xce, (uint64_t)i, 4);
        else
            put_be(out, 0xcf, (uint64_t)i, 8);
    } else if (i >= -32) {
        put_byte(out, (unsigned char)(int8_t)i);
    } else if (i >= INT8_MIN) {
        put_be(out, 0xd0, (uint8_t)(int8_t)i, 1);
    } else if (i >= INT16_MIN) {
        put_be(out, 0xd1, (uint16_t)(int16_t)i, 2);
    } else if (i >= INT32_MIN) {
        put_be(out, 0xd2, (uint32_t)(int32_t)i, 4);
    } else {
        put_be(out, 0xd3, (uint64_t)i, 8);
    }
}

static inline void put_len(kr_buf_t *out, size_t n, unsigned char fix, size_t fixmax,
                           unsigned char t8, unsigned char t16, unsigned char t32)
{
    if (n <= fixmax)
        put_byte(out, (unsigned char)(fix | n));
    else if (t8 != 0 && n <= 0xff)
        put_be(out, t8, n, 1);
    else if (n <= 0xffff)
        put_be(out, t16, n, 2);
    else
        put_be(out, t32, n, 4);
}

static inline void put_str(kr_buf_t *out, const char *s, size_t n)
{
    put_len(out, n, 0xa0, 31, 0xd9, 0xda, 0xdb);
    if (n > 0)
        memcpy(put_room(out, n), s, n);
}

/* A map key: a common key as its ordinal when that is shorter. */
static inline void put_key(kr_buf_t *out, const char *k, size_t n)
{
    if (n >= 3 && n <= KR_COMMON_MAX_LEN) {
        /* decoded keys point into the table already; others are looked up */
        uintptr_t at = (uintptr_t)k - (uintptr_t)kr_common_blob;
        const char *c = at < kr_common_blob_size ? k : kr_value_common_key_tail(k, n);
        if (c != NULL) {
            unsigned id = kr_common_id_of_off[(uintptr_t)c - (uintptr_t)kr_common_blob];
            if (id != 0 && id <= 0xff) {
                unsigned char *p = put_room(out, 3);
                p[0] = 0xd4, p[1] = KR_MP_KEY_EXT, p[2] = (unsigned char)id;
                return;
            }
            if (id != 0 && n >= 4) {
                unsigned char *p = put_room(out, 4);
                p[0] = 0xd5, p[1] = KR_MP_KEY_EXT, p[2] = (unsigned char)(id >> 8),
                p[3] = (unsigned char)id;
                return;
            }
        }
    }
    put_str(out, k, n);
}

static int mp_encode(const kr_value_t *v, kr_buf_t *out, int depth, kr_error_t *err)
{
    switch (kr_value_type(v)) {
    case KR_NULL:
        put_byte(out, 0xc0);
        return 0;
    case KR_BOOL:
        put_byte(out, v->u.b ? 0xc3 : 0xc2);
        return 0;
    case KR_INT:
        put_int(out, v->u.i);
        return 0;
    case KR_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, sizeof(bits));
        put_be(out, 0xcb, bits, 8);
        return 0;
    }
    case KR_STR:
        put_str(out, v->u.s, v->len);
        return 0;
    case KR_ARRAY:
    case KR_MAP:
        break;
    }
    if (depth >= KR_VALUE_MAX_DEPTH)
        return kr_error_set(err, KR_E_BAD_REQUEST, "msgpack: value nests deeper than %d levels",
                            KR_VALUE_MAX_DEPTH);
    if (v->type == KR_ARRAY) {
        put_len(out, v->len, 0x90, 15, 0, 0xdc, 0xdd);
        for (size_t i = 0; i < v->len; i++) {
            int rc = mp_encode(v->u.items[i], out, depth + 1, err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    put_len(out, v->len, 0x80, 15, 0, 0xde, 0xdf);
    for (size_t i = 0; i < v->len; i++) {
        const kr_map_entry_t *e = &v->u.ents[i];
        put_key(out, e->key, e->keylen);
        int rc = mp_encode(e->val, out, depth + 1, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int kr_msgpack_encode(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    size_t start = out->len;
    int rc = mp_encode(v, out, 0, err);
    if (rc < 0)
        out->len = start;
    if (out->data != NULL)
        out->data[out->len] = '\0';
    return rc;
}
