/* An intrusive binary min-heap ordered by (key, seq), private to libkraal.
 *
 * One implementation for every "what is due next" question: the loop's
 * timers, the bus client's request deadlines, the workqueue's delayed keys.
 * A user embeds kr_heap_node_t in its own struct, sets key (a deadline) and
 * seq (a tie-breaker, e.g. a creation counter, so equal keys pop in order)
 * and gets its struct back with KR_CONTAINER_OF.  The heap stores pointers
 * only; it never owns the nodes.  Push, remove and update are O(log n).
 */
#ifndef KRAAL_HEAP_H
#define KRAAL_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xalloc.h"

#define KR_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define KR_HEAP_NONE SIZE_MAX

typedef struct kr_heap_node {
    uint64_t key;
    uint64_t seq;
    size_t idx; /* KR_HEAP_NONE when not in a heap */
} kr_heap_node_t;

typedef struct kr_heap {
    kr_heap_node_t **v;
    size_t len, cap;
} kr_heap_t;

static inline bool kr_heap_in(const kr_heap_node_t *n)
{
    return n->idx != KR_HEAP_NONE;
}

static inline kr_heap_node_t *kr_heap_top(const kr_heap_t *h)
{
    return h->len > 0 ? h->v[0] : NULL;
}

static inline bool kr_heap__less(const kr_heap_node_t *a, const kr_heap_node_t *b)
{
    return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static inline void kr_heap__set(kr_heap_t *h, size_t i, kr_heap_node_t *n)
{
    h->v[i] = n;
    n->idx = i;
}

static inline void kr_heap__up(kr_heap_t *h, size_t i)
{
    kr_heap_node_t *n = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!kr_heap__less(n, h->v[p]))
            break;
        kr_heap__set(h, i, h->v[p]);
        i = p;
    }
    kr_heap__set(h, i, n);
}

static inline void kr_heap__down(kr_heap_t *h, size_t i)
{
    kr_heap_node_t *n = h->v[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        kr_heap_node_t *best = n;
        if (l < h->len && kr_heap__less(h->v[l], best)) {
            m = l;
            best = h->v[l];
        }
        if (r < h->len && kr_heap__less(h->v[r], best))
            m = r;
        if (m == i)
            break;
        kr_heap__set(h, i, h->v[m]);
        i = m;
    }
    kr_heap__set(h, i, n);
}

static inline void kr_heap_push(kr_heap_t *h, kr_heap_node_t *n)
{
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = xrealloc(h->v, h->cap * sizeof *h->v);
    }
    kr_heap__set(h, h->len++, n);
    kr_heap__up(h, n->idx);
}

/* Removes a node that is in the heap. */
static inline void kr_heap_remove(kr_heap_t *h, kr_heap_node_t *n)
{
    size_t i = n->idx;
    kr_heap_node_t *last = h->v[--h->len];
    n->idx = KR_HEAP_NONE;
    if (i == h->len)
        return;
    kr_heap__set(h, i, last);
    kr_heap__down(h, i);
    kr_heap__up(h, last->idx);
}

/* Restores order after the key of a node in the heap changed. */
static inline void kr_heap_update(kr_heap_t *h, kr_heap_node_t *n)
{
    kr_heap__down(h, n->idx);
    kr_heap__up(h, n->idx);
}

/* Frees the pointer array (not the nodes). */
static inline void kr_heap_free(kr_heap_t *h)
{
    free(h->v);
    h->v = NULL;
    h->len = h->cap = 0;
}

#endif
