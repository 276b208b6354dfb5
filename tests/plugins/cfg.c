/* A plugin with a config table of every type; "test.cfg" replies with the
 * filled struct so tests can see what the host gave the plugin. */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <kraal/plugin.h>

struct cfg_conf {
    const char *s;
    int64_t i;
    bool b;
    double f;
    int64_t d;
    const kr_value_t *v;
    const char *nodflt;
};

static const kr_config_entry_t cfg_table[] = {
    {KR_CFG_STRING, "s", "dflt", offsetof(struct cfg_conf, s), "a string"},
    {KR_CFG_INT, "i", "42", offsetof(struct cfg_conf, i), "an integer"},
    {KR_CFG_BOOL, "b", "true", offsetof(struct cfg_conf, b), "a boolean"},
    {KR_CFG_FLOAT, "f", "1.5", offsetof(struct cfg_conf, f), "a float"},
    {KR_CFG_DURATION, "d", "1m30s", offsetof(struct cfg_conf, d), "a duration"},
    {KR_CFG_VALUE, "v", "{a: [1, 2]}", offsetof(struct cfg_conf, v), "any value"},
    {KR_CFG_STRING, "nodflt", NULL, offsetof(struct cfg_conf, nodflt), "no default"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

struct cfg {
    const struct cfg_conf *conf;
};

static void cfg_handle(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    const struct cfg_conf *c = ((struct cfg *)ud)->conf;
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "s", kr_value_str(a, c->s));
    kr_value_map_set(a, obj, "i", kr_value_int(a, c->i));
    kr_value_map_set(a, obj, "b", kr_value_bool(a, c->b));
    kr_value_map_set(a, obj, "f", kr_value_float(a, c->f));
    kr_value_map_set(a, obj, "d", kr_value_int(a, c->d));
    kr_value_map_set(a, obj, "v", kr_value_copy(a, c->v));
    kr_value_map_set(a, obj, "nodflt", c->nodflt ? kr_value_str(a, c->nodflt) : kr_value_null(a));
    kr_call_reply(call, 200, obj, NULL);
}

static void *cfg_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    struct cfg *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->conf = config;
    if (kr_bus_serve(kr_plugin_bus(ctx), "test.cfg", NULL, cfg_handle, self, 5000, err) < 0) {
        free(self);
        return NULL;
    }
    return self;
}

static void cfg_fini(void *instance)
{
    free(instance);
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "test",
    .name = "cfg",
    .config = cfg_table,
    .config_size = sizeof(struct cfg_conf),
    .init = cfg_init,
    .fini = cfg_fini,
};
