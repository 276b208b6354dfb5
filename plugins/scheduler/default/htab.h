/* The scheduler's hash tables: string keys (pod uids, node names) to the
 * scheduler's own records, which embed a sched_hnode_t (intrusive), so an
 * insert allocates nothing but the occasional bucket array and a lookup in
 * tens of thousands of pods is one or two string compares.
 *
 * The table never owns the records or their keys: a key must stay valid and
 * unchanged while its record is in the table.  Single-threaded. */
#ifndef KRAAL_SCHED_HTAB_H
#define KRAAL_SCHED_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sched_hnode {
    struct sched_hnode *next; /* bucket chain */
    uint64_t hash;
    const char *key;
} sched_hnode_t;

typedef struct sched_htab {
    sched_hnode_t **buckets; /* nbuckets, a power of two; NULL while empty */
    size_t nbuckets;
    size_t len;
} sched_htab_t;

#define SCHED_HTAB_INIT \
    {                   \
        NULL, 0, 0      \
    }

/* The record whose key is `key`, or NULL. */
sched_hnode_t *sched_htab_get(const sched_htab_t *t, const char *key);
/* Inserts `n` under `key` (the caller checked it is absent). */
void sched_htab_put(sched_htab_t *t, sched_hnode_t *n, const char *key);
/* Unlinks `n`, which must be in the table. */
void sched_htab_del(sched_htab_t *t, sched_hnode_t *n);
/* Frees the buckets, not the records. */
void sched_htab_free(sched_htab_t *t);

/* Iteration: for (sched_hiter_t it = {0}; (n = sched_htab_next(t, &it)) != NULL;).
 * The current record may be deleted during the iteration, no other. */
typedef struct sched_hiter {
    size_t bucket;
    sched_hnode_t *next;
} sched_hiter_t;
sched_hnode_t *sched_htab_next(const sched_htab_t *t, sched_hiter_t *it);

#define SCHED_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
