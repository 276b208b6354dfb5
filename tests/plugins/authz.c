/* Test authorizer: serves "authz.review" as an RBAC plugin would, allowing
 * everything but writes by the user "viewer" (reason "viewers only read"),
 * so that the REST gateway's authorization path can be tested for real. */
#include <string.h>

#include <kraal/plugin.h>

static void review(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    (void)ud;
    const kr_value_t *obj = kr_value_map_get(kr_call_msg(call), "obj");
    const char *user = kr_value_as_str(kr_value_get(obj, "user.username"));
    const char *verb = kr_value_map_str(obj, "verb");
    bool read = verb != NULL && (strcmp(verb, "get") == 0 || strcmp(verb, "list") == 0 ||
                                 strcmp(verb, "watch") == 0);
    bool allowed = read || user == NULL || strcmp(user, "viewer") != 0;
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *out = kr_value_map(a);
    kr_value_map_set(a, out, "allowed", kr_value_bool(a, allowed));
    if (!allowed)
        kr_value_map_set(a, out, "reason", kr_value_str(a, "viewers only read"));
    kr_call_reply(call, 200, out, NULL);
}

static void *authz_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    (void)config;
    if (kr_bus_serve(kr_plugin_bus(ctx), "authz.review", NULL, review, NULL, 5000, err) < 0)
        return NULL;
    return ctx;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER, .kind = "test", .name = "authz", .version = "1.0.0", .init = authz_init,
};
