/* The per-process registry of scheduler steps (kraal/scheduler.h).
 *
 * Steps are looked up by name once, when a scheduler starts, and there are
 * a few dozen at most, so an array under a mutex is all it needs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/scheduler.h>

#include "plugin_ctx.h"

#define MAX_STEPS 64

typedef struct step_entry {
    const kr_plugin_ctx_t *ctx; /* identifies the plugin for unregistering */
    const kr_sched_step_ops_t *ops;
    void *self;
} step_entry_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static step_entry_t g_steps[MAX_STEPS];
static size_t g_n;

static bool ops_usable(const kr_sched_step_ops_t *o)
{
    return o->struct_size >= sizeof(kr_sched_step_ops_t) && o->name != NULL && o->name[0] != '\0' &&
           (o->prefilter != NULL || o->filter != NULL || o->prescore != NULL || o->score != NULL);
}

int kr_sched_step_register(kr_plugin_ctx_t *ctx, const kr_sched_step_ops_t *ops, void *self,
                           kr_error_t *err)
{
    if (ctx == NULL || ops == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "kr_sched_step_register: ctx and ops are required");
    if (!ctx->in_init)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "%s: a scheduler step can only be registered during init", ctx->name);
    if (!ops_usable(ops))
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "%s: a scheduler step needs a name and at least one of prefilter, "
                            "filter, prescore or score",
                            ctx->name);
    int rc = 0;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n; i++)
        if (strcmp(g_steps[i].ops->name, ops->name) == 0) {
            rc = kr_error_set(err, KR_E_ALREADY_EXISTS,
                              "a scheduler step named \"%s\" is already registered", ops->name);
            goto out;
        }
    if (g_n == MAX_STEPS) {
        rc = kr_error_set(err, KR_E_BAD_REQUEST, "%s: at most %d scheduler steps per process",
                          ctx->name, MAX_STEPS);
        goto out;
    }
    g_steps[g_n++] = (step_entry_t){.ctx = ctx, .ops = ops, .self = self};
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}

void kr_sched_step_unregister_ctx(const kr_plugin_ctx_t *ctx)
{
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n;)
        if (g_steps[i].ctx == ctx)
            g_steps[i] = g_steps[--g_n];
        else
            i++;
    pthread_mutex_unlock(&g_mu);
}

int kr_sched_step_find(const char *name, const kr_sched_step_ops_t **ops, void **self,
                       kr_error_t *err)
{
    int rc = 0;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n; i++)
        if (strcmp(g_steps[i].ops->name, name) == 0) {
            *ops = g_steps[i].ops;
            *self = g_steps[i].self;
            goto out;
        }
    char names[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < g_n && off < sizeof(names); i++)
        off += (size_t)snprintf(names + off, sizeof(names) - off, "%s\"%s\"", i ? ", " : "",
                                g_steps[i].ops->name);
    rc = kr_error_set(err, KR_E_NOT_FOUND,
                      "no scheduler step named \"%s\" is registered (registered: %s); a step's "
                      "plugin must be listed before the scheduler",
                      name, g_n ? names : "none");
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}
