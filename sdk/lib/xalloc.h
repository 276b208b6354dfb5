/* Allocation that cannot fail: out of memory aborts (STYLE.md, "Errors").
 * Private to libkraal and the core; plugins use their own or the arena. */
#ifndef KRAAL_XALLOC_H
#define KRAAL_XALLOC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noreturn, cold)) static inline void xalloc_fail(size_t n)
{
    fprintf(stderr, "kraal: out of memory (%zu bytes)\n", n);
    abort();
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        xalloc_fail(n);
    return p;
}

static inline void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (p == NULL)
        xalloc_fail(n * sz);
    return p;
}

static inline void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        xalloc_fail(n);
    return q;
}

static inline char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (p == NULL)
        xalloc_fail(n);
    return p;
}

static inline char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        xalloc_fail(strlen(s) + 1);
    return p;
}

#endif
