/* Named vtables of a process (vtab.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_ctx.h"
#include "vtab.h"
#include "xalloc.h"

#define MAX_VTABS 128

typedef struct vtab_entry {
    kr_vtab_kind_t kind;
    const kr_plugin_ctx_t *ctx; /* identifies the instance for unregistering */
    char *name;
    const void *ops;
    void *self;
} vtab_entry_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static vtab_entry_t g_tab[MAX_VTABS];
static size_t g_n;

int kr_vtab_add(kr_vtab_kind_t kind, const kr_plugin_ctx_t *ctx, const char *name, const void *ops,
                void *self, const char *what, kr_error_t *err)
{
    if (!ctx->in_init)
        return kr_error_set(err, KR_E_BAD_REQUEST, "%s: a %s can only be registered during init",
                            ctx->name, what);
    int rc = 0;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n; i++)
        if (g_tab[i].kind == kind && strcmp(g_tab[i].name, name) == 0) {
            rc = kr_error_set(err, KR_E_ALREADY_EXISTS, "a %s named \"%s\" is already registered",
                              what, name);
            goto out;
        }
    if (g_n == MAX_VTABS) {
        rc = kr_error_set(err, KR_E_BAD_REQUEST, "%s: at most %d registrations per process",
                          ctx->name, MAX_VTABS);
        goto out;
    }
    g_tab[g_n++] =
        (vtab_entry_t){.kind = kind, .ctx = ctx, .name = xstrdup(name), .ops = ops, .self = self};
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}

void kr_vtab_unregister_ctx(const kr_plugin_ctx_t *ctx)
{
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n;)
        if (g_tab[i].ctx == ctx) {
            free(g_tab[i].name);
            g_tab[i] = g_tab[--g_n];
        } else {
            i++;
        }
    pthread_mutex_unlock(&g_mu);
}

int kr_vtab_find(kr_vtab_kind_t kind, const char *name, const void **ops, void **self,
                 const char *what, const char *hint, kr_error_t *err)
{
    int rc = 0;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n; i++)
        if (g_tab[i].kind == kind && strcmp(g_tab[i].name, name) == 0) {
            *ops = g_tab[i].ops;
            *self = g_tab[i].self;
            goto out;
        }
    char names[512] = "";
    size_t off = 0, found = 0;
    for (size_t i = 0; i < g_n && off < sizeof(names); i++)
        if (g_tab[i].kind == kind)
            off += (size_t)snprintf(names + off, sizeof(names) - off, "%s\"%s\"",
                                    found++ ? ", " : "", g_tab[i].name);
    rc = kr_error_set(err, KR_E_NOT_FOUND, "no %s named \"%s\" is registered (registered: %s)%s%s",
                      what, name, found ? names : "none", hint ? "; " : "", hint ? hint : "");
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}
