/* See map.h.  Slots hold the key's hash beside the pointers, so a probe
 * compares strings only when the hashes agree, and a resize rehashes
 * nothing. */
#include "map.h"

#include <stdlib.h>
#include <string.h>

struct gc_map_slot {
    const char *key; /* NULL: empty */
    uint64_t hash;
    void *val;
};

uint64_t gc_map_hash(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

/* The slot holding `key`, or the empty slot where it would go. */
static struct gc_map_slot *find(const gc_map_t *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct gc_map_slot *s = &m->slots[i];
        if (s->key == NULL || (s->hash == h && strcmp(s->key, key) == 0))
            return s;
    }
}

void *gc_map_get(const gc_map_t *m, const char *key)
{
    if (m->len == 0)
        return NULL;
    struct gc_map_slot *s = find(m, key, gc_map_hash(key));
    return s->key != NULL ? s->val : NULL;
}

static void grow(gc_map_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    struct gc_map_slot *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        abort();
    for (size_t i = 0; i < m->cap; i++) {
        struct gc_map_slot *s = &m->slots[i];
        if (s->key == NULL)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
}

void gc_map_put(gc_map_t *m, const char *key, void *val)
{
    /* at most 3/4 full: probes stay short */
    if ((m->len + 1) * 4 > m->cap * 3)
        grow(m);
    uint64_t h = gc_map_hash(key);
    struct gc_map_slot *s = find(m, key, h);
    if (s->key == NULL) {
        s->key = key;
        s->hash = h;
        m->len++;
    }
    s->val = val;
}

void *gc_map_del(gc_map_t *m, const char *key)
{
    if (m->len == 0)
        return NULL;
    struct gc_map_slot *s = find(m, key, gc_map_hash(key));
    if (s->key == NULL)
        return NULL;
    void *val = s->val;
    /* backward shift: move later entries of the run into the hole when
     * their home slot is not between the hole and themselves */
    size_t mask = m->cap - 1;
    size_t hole = (size_t)(s - m->slots);
    for (size_t j = (hole + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].key = NULL;
    m->slots[hole].val = NULL;
    m->len--;
    return val;
}

void gc_map_free(gc_map_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

bool gc_map_next(const gc_map_t *m, size_t *pos, const char **key, void **val)
{
    for (; *pos < m->cap; (*pos)++) {
        const struct gc_map_slot *s = &m->slots[*pos];
        if (s->key != NULL) {
            *key = s->key;
            *val = s->val;
            (*pos)++;
            return true;
        }
    }
    return false;
}
