/* Private layout of the value tree, shared by the converters in sdk/lib. */
#ifndef KRAAL_VALUE_INTERNAL_H
#define KRAAL_VALUE_INTERNAL_H

#include <kraal/value.h>

#include <stdalign.h>
#include <stdint.h>

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

/* A read-only copy of `key` when it is one of the keys Kubernetes objects
 * use (field names and their managedFields forms "f:name"), else NULL:
 * decoders point map keys at it instead of copying them into the arena. */
KR_INTERNAL const char *kr_value_common_key(const char *key, size_t len);
/* The same for a key followed by at least `readable` - len more bytes
 * that may be read (not used): a decoder's input.  Faster when readable
 * >= len + 8. */
KR_INTERNAL const char *kr_value_common_key_in(const char *key, size_t len, size_t readable);

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
