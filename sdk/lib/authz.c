/* The registration of authorizers (kraal/authz.h), kept in vtab.c. */
#include <kraal/authz.h>

#include "plugin_ctx.h"
#include "vtab.h"

int kr_authz_register(kr_plugin_ctx_t *ctx, const kr_authz_ops_t *ops, void *self, kr_error_t *err)
{
    if (ctx == NULL || ops == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST, "kr_authz_register: ctx and ops are required");
    if (ops->struct_size < sizeof(kr_authz_ops_t) || ops->authz_name == NULL ||
        ops->authorize == NULL || ops->rules == NULL || ops->check_grant == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "%s: the authorizer ops table is incomplete (every function is "
                            "required)",
                            ctx->name);
    return kr_vtab_add(KR_VTAB_AUTHZ, ctx, ctx->name, ops, self, "authorizer", err);
}

int kr_authz_find(const char *name, const kr_authz_ops_t **ops, void **self, kr_error_t *err)
{
    const void *o;
    int rc =
        kr_vtab_find(KR_VTAB_AUTHZ, name, &o, self, "authorizer",
                     "an authorization plugin must be listed before the plugins that use it", err);
    if (rc == 0)
        *ops = o;
    return rc;
}

int kr_authz_user_from_value(const kr_value_t *auth, kr_arena_t *arena, kr_authz_user_t *out,
                             kr_error_t *err)
{
    const char *name = kr_value_map_str(auth, "username");
    const kr_value_t *groups = kr_value_map_get(auth, "groups");
    size_t n = kr_value_type(groups) == KR_ARRAY ? kr_value_len(groups) : 0;
    if ((name == NULL || *name == '\0') && n == 0)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "the request's user has no username and no groups");
    const char *uid = kr_value_map_str(auth, "uid");
    *out = (kr_authz_user_t){.name = kr_arena_strdup(arena, name ? name : ""),
                             .uid = uid ? kr_arena_strdup(arena, uid) : NULL};
    if (n == 0)
        return 0;
    const char **g = kr_arena_alloc(arena, n * sizeof(*g));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = kr_value_as_str(kr_value_array_get(groups, i));
        if (s != NULL)
            g[k++] = kr_arena_strdup(arena, s);
    }
    out->groups = g;
    out->ngroups = k;
    return 0;
}
