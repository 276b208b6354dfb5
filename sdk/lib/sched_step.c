/* The registration of scheduler steps (kraal/scheduler.h), kept in
 * vtab.c under each step's own name. */
#include <kraal/scheduler.h>

#include "plugin_ctx.h"
#include "vtab.h"

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
    if (!ops_usable(ops))
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "%s: a scheduler step needs a name and at least one of prefilter, "
                            "filter, prescore or score",
                            ctx->name);
    return kr_vtab_add(KR_VTAB_SCHED_STEP, ctx, ops->name, ops, self, "scheduler step", err);
}

int kr_sched_step_find(const char *name, const kr_sched_step_ops_t **ops, void **self,
                       kr_error_t *err)
{
    const void *o;
    int rc = kr_vtab_find(KR_VTAB_SCHED_STEP, name, &o, self, "scheduler step",
                          "a step's plugin must be listed before the scheduler", err);
    if (rc == 0)
        *ops = o;
    return rc;
}
