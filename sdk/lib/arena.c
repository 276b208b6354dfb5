/* Chunked bump allocator: values of one request or message live and die
 * together, so they are freed all at once. */
#include "value_internal.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xalloc.h"

#define ARENA_ALIGN         KR_ARENA_ALIGN
#define ARENA_DEFAULT_CHUNK 8192
#define ARENA_MAX_CHUNK     (1u << 20)

static struct kr_arena_chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(struct kr_arena_chunk)) {
        fprintf(stderr, "kraal: arena allocation of %zu bytes is too large\n", size);
        abort();
    }
    struct kr_arena_chunk *c = xmalloc(sizeof(*c) + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

/* Frees the chunks of list c but `keep` (the first chunk, which lives in
 * the arena's own allocation). */
static void chunks_free(struct kr_arena_chunk *c, const struct kr_arena_chunk *keep)
{
    while (c != NULL) {
        struct kr_arena_chunk *next = c->next;
        if (c != keep)
            free(c);
        c = next;
    }
}

/* The smallest spare chunk of at least `size` bytes, unlinked, or NULL. */
static struct kr_arena_chunk *spare_take(kr_arena_t *self, size_t size)
{
    struct kr_arena_chunk **best = NULL;
    for (struct kr_arena_chunk **pp = &self->spare; *pp != NULL; pp = &(*pp)->next) {
        size_t have = (*pp)->size;
        if (have >= size && (best == NULL || have < (*best)->size)) {
            best = pp;
            if (have == size)
                break;
        }
    }
    if (best == NULL)
        return NULL;
    struct kr_arena_chunk *c = *best;
    *best = c->next;
    c->next = NULL;
    c->used = 0;
    return c;
}

static struct kr_arena_chunk *chunk_get(kr_arena_t *self, size_t size)
{
    struct kr_arena_chunk *c = spare_take(self, size);
    return c != NULL ? c : chunk_new(size);
}

/* The arena and its first chunk are one allocation: tens of thousands of
 * small arenas (a cached object's, a parsed pod's) each save a malloc
 * header and its rounding, and a new arena is one malloc instead of two.
 * The first chunk is never freed on its own (reset keeps it). */
#define ARENA_HEAD ((sizeof(kr_arena_t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

kr_arena_t *kr_arena_new(size_t chunk)
{
    if (chunk == 0)
        chunk = ARENA_DEFAULT_CHUNK;
    if (chunk > SIZE_MAX - ARENA_HEAD - sizeof(struct kr_arena_chunk) - ARENA_ALIGN) {
        fprintf(stderr, "kraal: arena allocation of %zu bytes is too large\n", chunk);
        abort();
    }
    chunk = (chunk + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    kr_arena_t *self = xmalloc(ARENA_HEAD + sizeof(struct kr_arena_chunk) + chunk);
    struct kr_arena_chunk *first = (struct kr_arena_chunk *)(void *)((char *)self + ARENA_HEAD);
    first->next = NULL;
    first->size = chunk;
    first->used = 0;
    self->first = self->head = first;
    self->spare = NULL;
    self->first_size = chunk;
    self->next_size = chunk;
    self->used = 0;
    return self;
}

void kr_arena_destroy(kr_arena_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_arena_t *self = *self_p;
    chunks_free(self->head, self->first);
    chunks_free(self->spare, NULL);
    free(self);
    *self_p = NULL;
}

void kr_arena_reset(kr_arena_t *self)
{
    if (self == NULL)
        return;
    /* The chunks of this round become the spares of the next, in the order
     * they were taken, so that a round of the same shape reuses them one
     * for one and touches no new page.  Spares the round did not need are
     * freed: what an arena keeps is what its last round used. */
    chunks_free(self->spare, NULL);
    self->spare = NULL;
    struct kr_arena_chunk *c = self->head;
    while (c != NULL) {
        struct kr_arena_chunk *next = c->next;
        if (c != self->first) {
            c->next = self->spare;
            self->spare = c;
        }
        c = next;
    }
    self->head = self->first;
    self->first->next = NULL;
    self->first->used = 0;
    self->next_size = self->first_size;
    self->used = 0;
}

/* Bumps `size` bytes at alignment `align` (a power of two <= ARENA_ALIGN);
 * kr_arena_bump (value_internal.h) is its inline fast path. */
void *kr_arena_bump_slow(kr_arena_t *self, size_t size, size_t align)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - ARENA_ALIGN) {
        fprintf(stderr, "kraal: arena allocation of %zu bytes is too large\n", size);
        abort();
    }
    struct kr_arena_chunk *h = self->head;
    size_t off = (h->used + align - 1) & ~(align - 1);
    if (off <= h->size && h->size - off >= size) {
        self->used += off - h->used + size; /* padding counts as handed out */
        h->used = off + size;
        return h->data + off;
    }
    /* A big allocation gets a chunk of its own, linked behind the current
     * one so the space left in the current chunk is not wasted. */
    if (size > self->next_size / 4) {
        struct kr_arena_chunk *c = chunk_get(self, size);
        c->used = size;
        c->next = h->next;
        h->next = c;
        self->used += size;
        return c->data;
    }
    if (self->next_size < ARENA_MAX_CHUNK)
        self->next_size *= 2;
    struct kr_arena_chunk *c = chunk_get(self, self->next_size);
    c->next = h;
    self->head = c;
    c->used = size;
    self->used += size;
    return c->data;
}

void *kr_arena_alloc(kr_arena_t *self, size_t size)
{
    return kr_arena_bump(self, size, ARENA_ALIGN);
}

char *kr_arena_strndup(kr_arena_t *self, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        abort();
    /* text needs no alignment: packing strings saves ~8 bytes each */
    char *p = kr_arena_bump(self, n + 1, 1);
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *kr_arena_strdup(kr_arena_t *self, const char *s)
{
    return kr_arena_strndup(self, s, strlen(s));
}

char *kr_arena_printf(kr_arena_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = kr_arena_alloc(self, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t kr_arena_used(const kr_arena_t *self)
{
    return self == NULL ? 0 : self->used;
}
