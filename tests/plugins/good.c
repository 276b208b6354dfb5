/* A well-formed plugin: serves "test.good" and, when $KRAAL_TEST_FINI_LOG
 * names a file, appends its instance name there from fini (tests check the
 * stop order with it). */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include <kraal/plugin.h>

struct good {
    kr_plugin_ctx_t *ctx;
    int calls;
};

static void good_handle(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    struct good *g = ud;
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "instance", kr_value_str(a, kr_plugin_name(g->ctx)));
    kr_value_map_set(a, obj, "calls", kr_value_int(a, ++g->calls));
    kr_value_map_set(a, obj, "data_dir", kr_value_str(a, kr_plugin_data_dir(g->ctx)));
    kr_call_reply(call, 200, obj, NULL);
}

static void *good_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    (void)config;
    struct good *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->ctx = ctx;
    /* Each instance serves its own op so that several can run at once. */
    char op[128];
    snprintf(op, sizeof op, "test.good.%s", kr_plugin_name(ctx));
    if (kr_bus_serve(kr_plugin_bus(ctx), op, NULL, good_handle, g, 5000, err) < 0 ||
        (strcmp(kr_plugin_name(ctx), "good") == 0 &&
         kr_bus_serve(kr_plugin_bus(ctx), "test.good", NULL, good_handle, g, 5000, err) < 0)) {
        free(g);
        return NULL;
    }
    return g;
}

static void good_fini(void *instance)
{
    struct good *g = instance;
    const char *log = getenv("KRAAL_TEST_FINI_LOG");
    if (log != NULL) {
        FILE *f = fopen(log, "a");
        if (f != NULL) {
            fprintf(f, "%s\n", kr_plugin_name(g->ctx));
            fclose(f);
        }
    }
    free(g);
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,   .kind = "test",    .name = "good",
    .version = "0.0.1", .init = good_init, .fini = good_fini,
};
