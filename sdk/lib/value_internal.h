/* Private layout of the value tree, shared by the converters in sdk/lib. */
#ifndef KRAAL_VALUE_INTERNAL_H
#define KRAAL_VALUE_INTERNAL_H

#include <kraal/value.h>

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

/* Shared between the files of libkraal, not part of its ABI: direct calls,
 * no PLT. */
#define KR_INTERNAL __attribute__((visibility("hidden")))

/* ---- arena (arena.c), laid out here so allocation inlines --------------- */

#define KR_ARENA_ALIGN 16

struct kr_arena_chunk {
    struct kr_arena_chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    alignas(KR_ARENA_ALIGN) unsigned char data[];
};

struct kr_arena {
    struct kr_arena_chunk *head;  /* chunk being bumped; big allocations sit behind it */
    struct kr_arena_chunk *first; /* kept by reset */
    struct kr_arena_chunk *spare; /* the last round's chunks, oldest first, reused before malloc */
    size_t next_size;
    size_t first_size;
    size_t used;
};

/* Everything kr_arena_bump does not do inline: zero sizes, a new chunk. */
KR_INTERNAL void *kr_arena_bump_slow(kr_arena_t *self, size_t size, size_t align);

/* `size` bytes at alignment `align` (a power of two <= KR_ARENA_ALIGN);
 * the common case, room in the current chunk, without a call: decoders
 * allocate once per node, string and container. */
static inline void *kr_arena_bump(kr_arena_t *self, size_t size, size_t align)
{
    struct kr_arena_chunk *h = self->head;
    size_t off = (h->used + align - 1) & ~(align - 1);
    if (__builtin_expect(size != 0 && off <= h->size && h->size - off >= size, 1)) {
        self->used += off - h->used + size; /* padding counts as handed out */
        h->used = off + size;
        return h->data + off;
    }
    return kr_arena_bump_slow(self, size, align);
}

/* ---- values ------------------------------------------------------------- */

/* Maps up to this many entries are searched linearly; past it they get a
 * hash index so that lookups (and decoding with duplicate detection) stay
 * O(1) expected. */
#define KR_MAP_INDEX_MIN 16

/* 24 bytes.  `hash` is the low half of kr_value_hash(key), filled in
 * once the map has an index (0 before). */
typedef struct kr_map_entry {
    const char *key; /* NUL-terminated; keylen is authoritative */
    uint32_t keylen;
    uint32_t hash;
    kr_value_t *val;
} kr_map_entry_t;

/* A node is 16 bytes: a list of 10,000 pods has ~1 million of them.  What
 * only a non-empty container needs (its capacity, a map's hash index)
 * sits in a header just before its items or entries, so scalars and
 * empty containers (most of a managedFields set is empty maps) pay
 * nothing for it. */
struct kr_value {
    uint8_t type; /* kr_type_t */
    uint32_t len; /* string bytes, array items, map entries */
    union {
        bool b;
        int64_t i;
        double d;
        char *s;              /* KR_STR: NUL-terminated; len is authoritative */
        kr_value_t **items;   /* KR_ARRAY: after a kr_array_hdr_t, or NULL */
        kr_map_entry_t *ents; /* KR_MAP: after a kr_map_hdr_t, or NULL */
    } u;
};

_Static_assert(sizeof(struct kr_value) == 16, "value nodes are 16 bytes");
_Static_assert(sizeof(kr_map_entry_t) == 24, "map entries are 24 bytes");

typedef struct kr_array_hdr {
    uint64_t cap;
} kr_array_hdr_t;

typedef struct kr_map_hdr {
    uint32_t cap;
    uint32_t index_cap; /* power of two, 0 = no index */
    uint32_t *index;    /* open addressing, slot = entry index + 1 */
} kr_map_hdr_t;

static inline kr_map_hdr_t *kr_map_hdr(const kr_value_t *map)
{
    return map->u.ents == NULL ? NULL : (kr_map_hdr_t *)map->u.ents - 1;
}

/* Strings, arrays and maps hold at most this many bytes or items (the
 * length is 32 bits); more aborts, like running out of memory.  Decoders
 * refuse such input before it gets here. */
#define KR_VALUE_MAX_LEN UINT32_MAX

KR_INTERNAL uint64_t kr_value_hash(const char *key, size_t len);

/* ---- shared keys (value_keys.c) ------------------------------------------ */

/* A read-only copy of `key` when it is one of the keys Kubernetes objects
 * use (field names and their managedFields forms "f:name"), else NULL:
 * decoders point map keys at it instead of copying them into the arena. */
KR_INTERNAL const char *kr_value_common_key(const char *key, size_t len);

#define KR_COMMON_MAX_LEN 64
#define KR_COMMON_SLOTS   2048 /* power of two, load < 1/2 */

/* 8 KiB: stays in the L1 cache while a decoder probes it for every key.
 * A slot holds the key's offset in kr_common_blob (0: empty), its length
 * and 8 more bits of its hash, so that a probe reads the key itself only
 * on a likely hit.  Filled once at load, read-only after. */
typedef struct kr_common_slot {
    uint16_t off;
    uint8_t len;
    uint8_t tag;
} kr_common_slot_t;

KR_INTERNAL extern kr_common_slot_t kr_common_slots[KR_COMMON_SLOTS];
/* The keys, NUL-separated, with 8 bytes of padding after the last. */
KR_INTERNAL extern const char kr_common_blob[];

/* Little-endian 8-byte load: the first byte of p in the low bits, so that
 * masking keeps the first n bytes. */
static inline uint64_t kr_load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* The first 8 bytes (masked to len) and the last 8 (when len > 8) of a
 * key: what the hash reads, and, for keys up to 16 bytes, the whole key. */
typedef struct kr_words {
    uint64_t a, b;
} kr_words_t;

static inline kr_words_t kr_words_of(const char *key, size_t len)
{
    kr_words_t w;
    w.a = kr_load8(key);
    if (len < 8)
        w.a &= (1ULL << (8 * len)) - 1;
    w.b = len > 8 ? kr_load8(key + len - 8) : 0;
    return w;
}

/* A few multiplies over the words and the length: cheap enough to try on
 * every key a decoder reads, and the table's keys spread well. */
static inline uint32_t kr_common_hash(kr_words_t w, size_t len)
{
    uint64_t h = (w.a * 0x9e3779b97f4a7c15ULL) ^ ((w.b + len) * 0xc2b2ae3d27d4eb4fULL);
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static inline const char *kr_common_find(const char *key, size_t len, kr_words_t w)
{
    uint32_t h = kr_common_hash(w, len);
    uint8_t tag = (uint8_t)(h >> 24);
    for (size_t slot = h & (KR_COMMON_SLOTS - 1);; slot = (slot + 1) & (KR_COMMON_SLOTS - 1)) {
        kr_common_slot_t s = kr_common_slots[slot];
        if (s.off == 0)
            return NULL;
        if (s.len != len || s.tag != tag)
            continue;
        const char *k = kr_common_blob + s.off;
        kr_words_t kw = kr_words_of(k, len);
        if (kw.a == w.a && kw.b == w.b && (len <= 16 || memcmp(k + 8, key + 8, len - 16) == 0))
            return k;
    }
}

/* ---- the key extension of kraal's msgpack (value_msgpack.c) ---------------
 *
 * A map key that is one of the common keys is encoded as a msgpack ext of
 * type KR_MP_KEY_EXT whose 1 or 2 data bytes (big-endian) are the key's
 * ordinal in kr_common_blob, from 1: "lastTransitionTime" takes 3 bytes
 * instead of 19.  The ordinals are part of the bus and store encoding, so
 * kr_common_blob only ever grows at its end. */
#define KR_MP_KEY_EXT 0x6b /* 'k' */

/* The ordinal of the key starting at kr_common_blob[off], 0 when none. */
KR_INTERNAL extern uint16_t kr_common_id_of_off[];
/* Offset in kr_common_blob and length of each ordinal (index 0 unused). */
KR_INTERNAL extern uint16_t kr_common_off_of_id[];
KR_INTERNAL extern uint8_t kr_common_len_of_id[];
KR_INTERNAL extern uint16_t kr_common_ids; /* the highest ordinal */
KR_INTERNAL extern const size_t kr_common_blob_size;

/* kr_value_common_key for a key that may not be read 8 bytes at a time. */
KR_INTERNAL const char *kr_value_common_key_tail(const char *key, size_t len);

/* The same for a key followed by at least `readable` - len more bytes
 * that may be read (not used), a decoder's input: inline, and 8 bytes at
 * a time when readable >= 8. */
static inline const char *kr_value_common_key_in(const char *key, size_t len, size_t readable)
{
    if (len == 0 || len > KR_COMMON_MAX_LEN)
        return NULL;
    if (readable < 8)
        return kr_value_common_key_tail(key, len);
    return kr_common_find(key, len, kr_words_of(key, len));
}

/* Map set with a key the caller already put in `arena` (no copy). */
KR_INTERNAL void kr_value_map_set_owned(kr_arena_t *arena, kr_value_t *map, const char *key,
                                        size_t keylen, kr_value_t *val);
KR_INTERNAL void kr_value_map_setn(kr_arena_t *arena, kr_value_t *map, const char *key,
                                   size_t keylen, kr_value_t *val);
/* A string value around `s`, which must already be NUL-terminated in `arena`. */
KR_INTERNAL kr_value_t *kr_value_str_owned(kr_arena_t *arena, char *s, size_t len);
/* Pre-sizes an array or map so a decoder that knows the count allocates once. */
KR_INTERNAL void kr_value_reserve(kr_arena_t *arena, kr_value_t *v, size_t n);
KR_INTERNAL const char *kr_value_str_ptr(const kr_value_t *v, size_t *len);

/* Shortest text that reads back as the same double; adds ".0" when the
 * text would otherwise read back as an integer.  `buf` needs 32 bytes.
 * Returns the length. */
KR_INTERNAL int kr_float_format(double d, char *buf, size_t size);

#endif
