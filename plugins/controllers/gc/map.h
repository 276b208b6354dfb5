/* The garbage collector's hash map: string keys to pointers, open
 * addressing with linear probing and backward-shift deletion, so that a
 * lookup in a graph of tens of thousands of objects costs one or two
 * probes and a delete leaves no tombstones behind.
 *
 * The map does not own its keys: a key must stay valid, unchanged, for as
 * long as its entry is in the map (the node's uid, the kind's name).
 * Single-threaded, like everything in the plugin.
 */
#ifndef KRAAL_GC_MAP_H
#define KRAAL_GC_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gc_map {
    struct gc_map_slot *slots; /* capacity slots, a power of two (or NULL) */
    size_t cap;
    size_t len;
} gc_map_t;

#define GC_MAP_INIT \
    {               \
        NULL, 0, 0  \
    }

/* FNV-1a of a NUL-terminated string. */
uint64_t gc_map_hash(const char *key);
/* The value of `key`, or NULL. */
void *gc_map_get(const gc_map_t *m, const char *key);
/* Sets `key` (not copied) to `val` (not NULL); replaces the value of a key
 * already present (keeping the key pointer first given).  Out of memory
 * aborts. */
void gc_map_put(gc_map_t *m, const char *key, void *val);
/* Removes `key`; returns its value, or NULL when absent. */
void *gc_map_del(gc_map_t *m, const char *key);
/* Frees the slots (not the keys or values). */
void gc_map_free(gc_map_t *m);

/* Iteration: for (size_t i = 0; gc_map_next(m, &i, &k, &v);) { ... }.
 * The map must not change during the iteration. */
bool gc_map_next(const gc_map_t *m, size_t *pos, const char **key, void **val);

#endif
