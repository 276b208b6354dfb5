/* Private layout of the value tree, shared by the converters in sdk/lib. */
#ifndef KRAAL_VALUE_INTERNAL_H
#define KRAAL_VALUE_INTERNAL_H

#include <kraal/value.h>

#include <stdint.h>

/* Maps up to this many entries are searched linearly; past it they get a
 * hash index so that lookups (and decoding with duplicate detection) stay
 * O(1) expected. */
#define KR_MAP_INDEX_MIN 16

typedef struct kr_map_entry {
    const char *key;
    size_t keylen;
    uint64_t hash;
    kr_value_t *val;
} kr_map_entry_t;

struct kr_value {
    kr_type_t type;
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            char *ptr; /* NUL-terminated; len is authoritative */
            size_t len;
        } str;
        struct {
            kr_value_t **items;
            size_t len, cap;
        } arr;
        struct {
            kr_map_entry_t *ents;
            size_t len, cap;
            uint32_t *index;  /* open addressing, slot = entry index + 1 */
            size_t index_cap; /* power of two, 0 = no index */
        } map;
    } u;
};

uint64_t kr_value_hash(const char *key, size_t len);

/* Map set with a key the caller already put in `arena` (no copy). */
void kr_value_map_set_owned(kr_arena_t *arena, kr_value_t *map, const char *key, size_t keylen,
                            kr_value_t *val);
void kr_value_map_setn(kr_arena_t *arena, kr_value_t *map, const char *key, size_t keylen,
                       kr_value_t *val);
/* A string value around `s`, which must already be NUL-terminated in `arena`. */
kr_value_t *kr_value_str_owned(kr_arena_t *arena, char *s, size_t len);
/* Pre-sizes an array or map so a decoder that knows the count allocates once. */
void kr_value_reserve(kr_arena_t *arena, kr_value_t *v, size_t n);
const char *kr_value_str_ptr(const kr_value_t *v, size_t *len);

/* Shortest text that reads back as the same double; adds ".0" when the
 * text would otherwise read back as an integer.  `buf` needs 32 bytes.
 * Returns the length. */
int kr_float_format(double d, char *buf, size_t size);

#endif
