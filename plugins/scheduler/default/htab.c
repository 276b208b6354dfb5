/* See htab.h.  Chained buckets, doubled when the load reaches one record a
 * bucket; the hash is kept in the record, so growing compares no strings. */
#include "htab.h"

#include <stdlib.h>
#include <string.h>

static uint64_t key_hash(const char *key)
{
    /* FNV-1a: uids and node names are short */
    uint64_t h = 0xcbf29ce484222325ull;
    while (*key != '\0')
        h = (h ^ (unsigned char)*key++) * 0x100000001b3ull;
    return h;
}

sched_hnode_t *sched_htab_get(const sched_htab_t *t, const char *key)
{
    if (t->len == 0)
        return NULL;
    uint64_t h = key_hash(key);
    for (sched_hnode_t *n = t->buckets[h & (t->nbuckets - 1)]; n != NULL; n = n->next)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

static void rehash(sched_htab_t *t, size_t nb)
{
    sched_hnode_t **b = calloc(nb, sizeof *b);
    if (b == NULL)
        abort();
    for (size_t i = 0; i < t->nbuckets; i++)
        for (sched_hnode_t *n = t->buckets[i], *next; n != NULL; n = next) {
            next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
}

void sched_htab_put(sched_htab_t *t, sched_hnode_t *n, const char *key)
{
    if (t->len >= t->nbuckets)
        rehash(t, t->nbuckets != 0 ? t->nbuckets * 2 : 64);
    n->key = key;
    n->hash = key_hash(key);
    sched_hnode_t **head = &t->buckets[n->hash & (t->nbuckets - 1)];
    n->next = *head;
    *head = n;
    t->len++;
}

void sched_htab_del(sched_htab_t *t, sched_hnode_t *n)
{
    sched_hnode_t **pp = &t->buckets[n->hash & (t->nbuckets - 1)];
    while (*pp != n)
        pp = &(*pp)->next;
    *pp = n->next;
    n->next = NULL;
    t->len--;
}

void sched_htab_free(sched_htab_t *t)
{
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

sched_hnode_t *sched_htab_next(const sched_htab_t *t, sched_hiter_t *it)
{
    sched_hnode_t *n = it->next;
    while (n == NULL) {
        if (it->bucket >= t->nbuckets)
            return NULL;
        n = t->buckets[it->bucket++];
    }
    it->next = n->next; /* read now: the caller may delete n */
    return n;
}
