/* Test authorizer for the core's escalation hook (core/api.c,
 * api: {authorizer: grant}): its check_grant refuses, with
 * upstream's wording, a Role or ClusterRole that grants the verb "*" and a
 * binding to the ClusterRole "cluster-admin", and allows anything else.
 * It also refuses a binding whose roleRef has no apiGroup, which the
 * core's defaults always set: that refusal would mean the hook ran before
 * them.  authorize and rules have no opinion (the gateway does not use
 * this plugin). */
#include <string.h>

#include <kraal/authz.h>
#include <kraal/plugin.h>

/* `user "x" (groups=["a" "b"])`, as upstream's %q of the name and groups. */
static void who(kr_buf_t *b, const kr_authz_user_t *user)
{
    kr_buf_printf(b, "user \"%s\" (groups=[", user->name);
    for (size_t i = 0; i < user->ngroups; i++)
        kr_buf_printf(b, "%s\"%s\"", i ? " " : "", user->groups[i]);
    kr_buf_puts(b, "])");
}

static bool has_star_verb(const kr_value_t *rules)
{
    for (size_t i = 0; i < kr_value_len(rules); i++) {
        const kr_value_t *verbs = kr_value_map_get(kr_value_array_get(rules, i), "verbs");
        for (size_t j = 0; j < kr_value_len(verbs); j++) {
            const char *v = kr_value_as_str(kr_value_array_get(verbs, j));
            if (v != NULL && strcmp(v, "*") == 0)
                return true;
        }
    }
    return false;
}

static int grant_check(void *self, const kr_authz_user_t *user, const char *kind,
                       const kr_value_t *obj, kr_arena_t *arena, kr_error_t *err)
{
    (void)self;
    (void)arena;
    bool role = strcmp(kind, "Role") == 0 || strcmp(kind, "ClusterRole") == 0;
    bool binding = strcmp(kind, "RoleBinding") == 0 || strcmp(kind, "ClusterRoleBinding") == 0;
    if (!role && !binding)
        return kr_error_set(err, KR_E_INTERNAL, "test-grant: asked about a %s", kind);
    const char *missing = NULL;
    if (role && has_star_verb(kr_value_map_get(obj, "rules")))
        missing = "{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}";
    if (binding) {
        const kr_value_t *ref = kr_value_map_get(obj, "roleRef");
        if (kr_value_map_str(ref, "apiGroup") == NULL)
            return kr_error_set(err, KR_E_FORBIDDEN, "test-grant: roleRef.apiGroup not defaulted");
        const char *name = kr_value_map_str(ref, "name");
        if (name != NULL && strcmp(name, "cluster-admin") == 0)
            missing = "{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}\n"
                      "{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}";
    }
    if (missing == NULL)
        return 0;
    kr_buf_t b = KR_BUF_INIT;
    who(&b, user);
    kr_buf_printf(&b, " is attempting to grant RBAC permissions not currently held:\n%s", missing);
    kr_error_set(err, KR_E_FORBIDDEN, "%s", b.data);
    kr_buf_free(&b);
    return -KR_E_FORBIDDEN;
}

static kr_authz_decision_t grant_authorize(void *self, const kr_authz_attrs_t *attrs, char *reason,
                                           size_t reason_len)
{
    (void)self;
    (void)attrs;
    if (reason_len > 0)
        reason[0] = '\0';
    return KR_AUTHZ_NO_OPINION;
}

static int grant_rules(void *self, const kr_authz_user_t *user, const char *ns, kr_arena_t *arena,
                       kr_value_t **resource_rules, kr_value_t **non_resource_rules,
                       bool *incomplete, const char **evaluation_error, kr_error_t *err)
{
    (void)self;
    (void)user;
    (void)ns;
    (void)err;
    *resource_rules = kr_value_array(arena);
    *non_resource_rules = kr_value_array(arena);
    *incomplete = false;
    *evaluation_error = NULL;
    return 0;
}

static const kr_authz_ops_t grant_ops = {
    .struct_size = sizeof(kr_authz_ops_t),
    .authz_name = "test-grant",
    .authorize = grant_authorize,
    .rules = grant_rules,
    .check_grant = grant_check,
};

static void *grant_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    (void)config;
    if (kr_authz_register(ctx, &grant_ops, NULL, err) < 0)
        return NULL;
    return ctx;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER, .kind = "test", .name = "grant", .version = "1.0.0", .init = grant_init,
};
