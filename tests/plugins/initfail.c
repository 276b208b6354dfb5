/* A plugin whose init fails after registering an op: the host must undo
 * the load (the op disappears with its bus connection). */
#include <stdlib.h>

#include <kraal/plugin.h>

static void initfail_handle(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    (void)ud;
    kr_call_reply(call, 200, NULL, NULL);
}

static void *initfail_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    (void)config;
    /* Allocated and freed again: ASan checks the failure path leaks nothing. */
    char *scratch = malloc(64);
    kr_bus_serve(kr_plugin_bus(ctx), "test.initfail", NULL, initfail_handle, NULL, 5000, NULL);
    free(scratch);
    kr_error_set(err, KR_E_SERVICE_UNAVAILABLE, "database unreachable");
    return NULL;
}

static void initfail_fini(void *instance)
{
    /* Never called: there is no instance. */
    abort();
    (void)instance;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,      .kind = "test",        .name = "initfail",
    .init = initfail_init, .fini = initfail_fini,
};
