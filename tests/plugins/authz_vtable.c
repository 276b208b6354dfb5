/* Test authorizer: registers a kr_authz_ops_t (kraal/authz.h) as an RBAC
 * plugin does, so that the REST gateway's authorization_mode RBAC (the
 * in-process vtable) is tested for real, independently of the RBAC
 * plugin's own policy.  Its policy is a fixed table of rules:
 *
 *   group system:masters        everything             ("test: masters")
 *   user banned                 DENY everything        ("test: banned")
 *   group system:authenticated  create the self reviews (as system:basic-user),
 *                               get discovery paths (as system:discovery)
 *   user viewer                 get, list, watch on every resource
 *   user editor                 everything on configmaps in namespace team-a
 *   user one                    get, list, watch the configmap c1 of team-a
 *   user impersonator           impersonate users and groups, and the
 *                               serviceaccounts of namespace team-a
 *   group system:unauthenticated get /version and /healthz
 *
 * Anything else is a no-opinion with an empty reason.  `rules` answers the
 * table's rules that apply to the user in the namespace; `check_grant`
 * refuses every user but system:masters (the gateway never calls it). */
#include <stdio.h>
#include <string.h>

#include <kraal/authz.h>
#include <kraal/plugin.h>

typedef struct rule {
    const char *subject; /* "user:<name>" or "group:<name>" */
    const char *ns;      /* NULL: every namespace and the cluster scope */
    const char *const *verbs, *const *groups, *const *resources, *const *urls;
    kr_authz_decision_t decision;
    const char *reason;
    const char *const *names; /* NULL: any (resourceNames) */
} rule_t;

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static const rule_t rules[] = {
    {"group:system:masters", NULL, L("*"), L("*"), L("*"), NULL, KR_AUTHZ_ALLOW, "test: masters",
     NULL},
    {"group:system:masters", NULL, L("*"), NULL, NULL, L("*"), KR_AUTHZ_ALLOW, "test: masters",
     NULL},
    {"user:banned", NULL, L("*"), L("*"), L("*"), NULL, KR_AUTHZ_DENY, "test: banned", NULL},
    {"group:system:authenticated", NULL, L("create"), L("authorization.k8s.io"),
     L("selfsubjectaccessreviews", "selfsubjectrulesreviews"), NULL, KR_AUTHZ_ALLOW, "", NULL},
    {"group:system:authenticated", NULL, L("create"), L("authentication.k8s.io"),
     L("selfsubjectreviews"), NULL, KR_AUTHZ_ALLOW, "", NULL},
    {"group:system:authenticated", NULL, L("get"), NULL, NULL,
     L("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/openapi", "/openapi/*", "/version",
       "/version/"),
     KR_AUTHZ_ALLOW, "", NULL},
    {"user:viewer", NULL, L("get", "list", "watch"), L("*"), L("*"), NULL, KR_AUTHZ_ALLOW,
     "test: viewers read", NULL},
    {"user:editor", "team-a", L("*"), L(""), L("configmaps"), NULL, KR_AUTHZ_ALLOW,
     "test: editors edit configmaps", NULL},
    {"user:one", "team-a", L("get", "list", "watch"), L(""), L("configmaps"), NULL, KR_AUTHZ_ALLOW,
     "", L("c1")},
    {"user:impersonator", NULL, L("impersonate"), L(""), L("users", "groups"), NULL, KR_AUTHZ_ALLOW,
     "", NULL},
    {"user:impersonator", "team-a", L("impersonate"), L(""), L("serviceaccounts"), NULL,
     KR_AUTHZ_ALLOW, "", NULL},
    {"group:system:unauthenticated", NULL, L("get"), NULL, NULL, L("/version", "/healthz"),
     KR_AUTHZ_ALLOW, "", NULL},
};
#define NRULES (sizeof rules / sizeof *rules)

/* "*" matches everything, "x*" every string starting with x. */
static bool in(const char *const *list, const char *s)
{
    for (; list != NULL && *list != NULL; list++) {
        size_t n = strlen(*list);
        if (strcmp(*list, s) == 0 ||
            (n > 0 && (*list)[n - 1] == '*' && strncmp(*list, s, n - 1) == 0))
            return true;
    }
    return false;
}

static bool applies(const rule_t *r, const kr_authz_user_t *u, const char *ns)
{
    if (r->ns != NULL && (ns == NULL || strcmp(r->ns, ns) != 0))
        return false;
    if (strncmp(r->subject, "user:", 5) == 0)
        return strcmp(r->subject + 5, u->name) == 0;
    for (size_t i = 0; i < u->ngroups; i++)
        if (strcmp(r->subject + 6, u->groups[i]) == 0)
            return true;
    return false;
}

static kr_authz_decision_t vt_authorize(void *self, const kr_authz_attrs_t *at, char *reason,
                                        size_t reason_len)
{
    (void)self;
    for (size_t i = 0; i < NRULES; i++) {
        const rule_t *r = &rules[i];
        if (!applies(r, at->user, at->ns) || !in(r->verbs, at->verb))
            continue;
        bool match;
        if (at->resource_request) {
            char res[256];
            if (at->subresource != NULL && *at->subresource != '\0')
                snprintf(res, sizeof res, "%s/%s", at->resource, at->subresource);
            else
                snprintf(res, sizeof res, "%s", at->resource);
            match = r->resources != NULL && in(r->groups, at->group) && in(r->resources, res) &&
                    (r->names == NULL || (at->name != NULL && in(r->names, at->name)));
        } else {
            match = r->urls != NULL && in(r->urls, at->path);
        }
        if (match) {
            if (reason_len > 0)
                snprintf(reason, reason_len, "%s", r->reason);
            return r->decision;
        }
    }
    if (reason_len > 0)
        reason[0] = '\0';
    return KR_AUTHZ_NO_OPINION;
}

static kr_value_t *strs(kr_arena_t *a, const char *const *list)
{
    kr_value_t *arr = kr_value_array(a);
    for (; list != NULL && *list != NULL; list++)
        kr_value_array_push(a, arr, kr_value_str(a, *list));
    return arr;
}

static int vt_rules(void *self, const kr_authz_user_t *user, const char *ns, kr_arena_t *a,
                    kr_value_t **resource_rules, kr_value_t **non_resource_rules, bool *incomplete,
                    const char **evaluation_error, kr_error_t *err)
{
    (void)self;
    (void)err;
    *resource_rules = kr_value_array(a);
    *non_resource_rules = kr_value_array(a);
    for (size_t i = 0; i < NRULES; i++) {
        const rule_t *r = &rules[i];
        if (r->decision != KR_AUTHZ_ALLOW || !applies(r, user, ns))
            continue;
        kr_value_t *m = kr_value_map(a);
        kr_value_map_set(a, m, "verbs", strs(a, r->verbs));
        if (r->resources != NULL) {
            kr_value_map_set(a, m, "apiGroups", strs(a, r->groups));
            kr_value_map_set(a, m, "resources", strs(a, r->resources));
            if (r->names != NULL)
                kr_value_map_set(a, m, "resourceNames", strs(a, r->names));
            kr_value_array_push(a, *resource_rules, m);
        } else {
            kr_value_map_set(a, m, "nonResourceURLs", strs(a, r->urls));
            kr_value_array_push(a, *non_resource_rules, m);
        }
    }
    *incomplete = false;
    *evaluation_error = NULL;
    return 0;
}

static int vt_check_grant(void *self, const kr_authz_user_t *user, const char *kind,
                          const kr_value_t *obj, kr_arena_t *arena, kr_error_t *err)
{
    (void)self;
    (void)obj;
    (void)arena;
    for (size_t i = 0; i < user->ngroups; i++)
        if (strcmp(user->groups[i], "system:masters") == 0)
            return 0;
    return kr_error_set(err, KR_E_FORBIDDEN, "test: user \"%s\" may not write a %s", user->name,
                        kind);
}

static const kr_authz_ops_t vt_ops = {
    .struct_size = sizeof(kr_authz_ops_t),
    .authz_name = "test-table",
    .authorize = vt_authorize,
    .rules = vt_rules,
    .check_grant = vt_check_grant,
};

static void *vt_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    (void)config;
    if (kr_authz_register(ctx, &vt_ops, NULL, err) < 0)
        return NULL;
    return ctx;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER, .kind = "test", .name = "authz-vtable", .version = "1.0.0", .init = vt_init,
};
