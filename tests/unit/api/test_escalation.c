/* The object API's escalation hook (core/api.c check_escalation) against
 * an authorizer registered in the test's process: which writes reach
 * check_grant, with what user, kind and object (defaulted and patched),
 * and what a refusal answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <kraal/authz.h>
#include <kraal/bus.h>

#include "../support/api_fixture.h"
#include "plugin_ctx.h"

static api_fixture_t S;

/* What the fake authorizer saw last, and how often it was asked. */
static struct {
    int calls;
    char user[64];
    char groups[128];
    char kind[64];
    char obj[2048];
    char ref_group[64]; /* roleRef.apiGroup of a binding */
    bool refuse;        /* answer Forbidden "not allowed here" */
    bool not_found;     /* answer NotFound for the binding's role */
} seen;

static int fake_check_grant(void *self, const kr_authz_user_t *user, const char *kind,
                            const kr_value_t *obj, kr_arena_t *arena, kr_error_t *err)
{
    (void)self;
    (void)arena;
    seen.calls++;
    snprintf(seen.user, sizeof seen.user, "%s", user->name);
    seen.groups[0] = '\0';
    for (size_t i = 0; i < user->ngroups; i++)
        snprintf(seen.groups + strlen(seen.groups), sizeof seen.groups - strlen(seen.groups),
                 "%s%s", i ? "," : "", user->groups[i]);
    snprintf(seen.kind, sizeof seen.kind, "%s", kind);
    kr_buf_t b = KR_BUF_INIT;
    kr_json_encode(obj, &b, KR_JSON_COMPACT, NULL);
    snprintf(seen.obj, sizeof seen.obj, "%s", b.data ? b.data : "");
    kr_buf_free(&b);
    const char *g = kr_value_as_str(kr_value_get(obj, "roleRef.apiGroup"));
    snprintf(seen.ref_group, sizeof seen.ref_group, "%s", g ? g : "(none)");
    if (seen.refuse)
        return kr_error_set(err, KR_E_FORBIDDEN, "not allowed here");
    if (seen.not_found)
        return kr_error_set(err, KR_E_NOT_FOUND,
                            "clusterroles.rbac.authorization.k8s.io \"nope\" not found");
    return 0;
}

static kr_authz_decision_t fake_authorize(void *self, const kr_authz_attrs_t *attrs, char *reason,
                                          size_t reason_len)
{
    (void)self;
    (void)attrs;
    if (reason_len > 0)
        reason[0] = '\0';
    return KR_AUTHZ_NO_OPINION;
}

static int fake_rules(void *self, const kr_authz_user_t *user, const char *ns, kr_arena_t *arena,
                      kr_value_t **rr, kr_value_t **nrr, bool *incomplete, const char **eval_err,
                      kr_error_t *err)
{
    (void)self;
    (void)user;
    (void)ns;
    (void)err;
    *rr = kr_value_array(arena);
    *nrr = kr_value_array(arena);
    *incomplete = false;
    *eval_err = NULL;
    return 0;
}

static const kr_authz_ops_t fake_ops = {
    .struct_size = sizeof(kr_authz_ops_t),
    .authz_name = "fake",
    .authorize = fake_authorize,
    .rules = fake_rules,
    .check_grant = fake_check_grant,
};

/* An instance context as the host gives one to a plugin's init. */
static kr_plugin_ctx_t fake_ctx = {.name = "fake", .in_init = true};

static int start(void **state)
{
    (void)state;
    kr_error_t err;
    if (kr_authz_register(&fake_ctx, &fake_ops, NULL, &err) < 0) {
        fprintf(stderr, "register: %s\n", err.message);
        return -1;
    }
    kr_api_opts_t ao = {.authorizer = "fake"};
    return api_fixture_start(&S, "escalation", &ao);
}

static int stop(void **state)
{
    (void)state;
    api_fixture_stop(&S);
    kr_vtab_unregister_ctx(&fake_ctx);
    return 0;
}

static kr_value_t *Y(const char *s)
{
    return api_fixture_yaml(&S, s);
}

#define JANE "{username: jane, uid: '42', groups: [devs, 'system:authenticated']}"

static kr_reply_t call(const char *op, const char *res, const char *ns, const char *name,
                       const char *obj, const char *opts, const char *auth)
{
    kr_request_t req = {.op = op,
                        .res = res,
                        .ns = ns,
                        .name = name,
                        .obj = Y(obj),
                        .opts = Y(opts),
                        .auth = Y(auth)};
    kr_reply_t r;
    kr_error_t err;
    if (kr_bus_call(S.bus, &req, S.a, &r, 10000, &err) < 0)
        fail_msg("%s %s: no reply: %s", op, res, err.message);
    return r;
}

#define ROLES    "rbac.authorization.k8s.io/v1/roles"
#define BINDINGS "rbac.authorization.k8s.io/v1/rolebindings"
#define CROLES   "rbac.authorization.k8s.io/v1/clusterroles"

static void expect_code(kr_reply_t r, int code)
{
    if (r.code != code)
        fail_msg("code %d (want %d): %s", r.code, code, kr_reply_msg(&r));
}

static void refused_with_upstream_message(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    seen.refuse = true;
    kr_reply_t r = call("create", ROLES, "default", NULL,
                        "{metadata: {name: r1}, rules: [{verbs: ['*'], apiGroups: [''],"
                        " resources: [pods]}]}",
                        NULL, JANE);
    expect_code(r, 403);
    assert_int_equal(r.reason, KR_E_FORBIDDEN);
    assert_string_equal(kr_reply_msg(&r),
                        "roles.rbac.authorization.k8s.io \"r1\" is forbidden: not allowed here");
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.user, "jane");
    assert_string_equal(seen.groups, "devs,system:authenticated");
    assert_string_equal(seen.kind, "Role");
    assert_non_null(strstr(seen.obj, "\"verbs\":[\"*\"]"));
    expect_code(call("get", ROLES, "default", "r1", NULL, NULL, NULL), 404);
    /* a dry run is refused alike */
    r = call("create", ROLES, "default", NULL, "{metadata: {name: r1}}", "{dryRun: All}", JANE);
    expect_code(r, 403);
    assert_int_equal(seen.calls, 2);
}

static void allowed_and_defaulted(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    /* the binding reaches the check with its defaults set */
    kr_reply_t r = call("create", BINDINGS, "default", NULL,
                        "{metadata: {name: b1}, roleRef: {kind: ClusterRole, name: view},"
                        " subjects: [{kind: User, name: joe}]}",
                        NULL, JANE);
    expect_code(r, 201);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.kind, "RoleBinding");
    assert_string_equal(seen.ref_group, "rbac.authorization.k8s.io");
    /* an invalid object is refused before validation runs (upstream's
     * order), and validated when allowed */
    seen.refuse = true;
    r = call("create", BINDINGS, "default", NULL, "{metadata: {name: b2}, roleRef: {kind: Foo}}",
             NULL, JANE);
    expect_code(r, 403);
    seen.refuse = false;
    r = call("create", BINDINGS, "default", NULL, "{metadata: {name: b2}, roleRef: {kind: Foo}}",
             NULL, JANE);
    expect_code(r, 422);
    assert_int_equal(seen.calls, 3);
}

/* An error that is not a refusal (the binding's role does not exist)
 * goes back as the authorizer said it, as upstream's policybased storage
 * returns GetRoleReferenceRules' error. */
static void other_errors_unwrapped(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    seen.not_found = true;
    kr_reply_t r = call("create", BINDINGS, "default", NULL,
                        "{metadata: {name: b9}, roleRef: {kind: ClusterRole, name: nope},"
                        " subjects: [{kind: User, name: joe}]}",
                        NULL, JANE);
    expect_code(r, 404);
    assert_int_equal(r.reason, KR_E_NOT_FOUND);
    assert_string_equal(kr_reply_msg(&r),
                        "clusterroles.rbac.authorization.k8s.io \"nope\" not found");
    assert_int_equal(seen.calls, 1);
}

static void who_is_not_asked(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    seen.refuse = true;
    /* no auth: a plugin of the server's process */
    expect_code(call("create", CROLES, NULL, NULL, "{metadata: {name: c1}}", NULL, NULL), 201);
    /* system:masters (upstream's EscalationAllowed) */
    expect_code(call("create", CROLES, NULL, NULL, "{metadata: {name: c2}}", NULL,
                     "{username: admin, groups: ['system:masters', 'system:authenticated']}"),
                201);
    /* other kinds */
    expect_code(
        call("create", "v1/configmaps", "default", NULL, "{metadata: {name: cm}}", NULL, JANE),
        201);
    assert_int_equal(seen.calls, 0);
    /* deletes are not checked (upstream's storage checks creates and
     * updates only) */
    expect_code(call("delete", CROLES, NULL, "c2", NULL, NULL, JANE), 200);
    assert_int_equal(seen.calls, 0);
}

static void updates_patches_apply(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    expect_code(call("create", CROLES, NULL, NULL,
                     "{metadata: {name: u1, finalizers: [example.com/x]},"
                     " rules: [{verbs: [get], apiGroups: [''], resources: [pods]}]}",
                     NULL, NULL),
                201);
    seen.refuse = true;
    /* a merge patch: the check sees the patched rules */
    kr_reply_t r =
        call("patch", CROLES, NULL, "u1",
             "{rules: [{verbs: [get, escalate], apiGroups: [''], resources: [pods]}]}", NULL, JANE);
    expect_code(r, 403);
    assert_string_equal(kr_reply_msg(&r),
                        "clusterroles.rbac.authorization.k8s.io \"u1\" is forbidden: not "
                        "allowed here");
    assert_string_equal(seen.kind, "ClusterRole");
    assert_non_null(strstr(seen.obj, "\"escalate\""));
    /* server-side apply */
    r = call("patch", CROLES, NULL, "u1",
             "{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: u1},"
             " rules: [{verbs: [list], apiGroups: [''], resources: [pods]}]}",
             "{patchType: application/apply-patch+yaml, fieldManager: jane, force: true}", JANE);
    expect_code(r, 403);
    assert_non_null(strstr(seen.obj, "\"list\""));
    /* an update */
    r = call("update", CROLES, NULL, "u1",
             "{metadata: {name: u1, labels: {a: b}},"
             " rules: [{verbs: [get], apiGroups: [''], resources: [pods]}]}",
             NULL, JANE);
    expect_code(r, 403);
    assert_int_equal(seen.calls, 3);
    /* the collector's fields alone are not checked */
    r = call("patch", CROLES, NULL, "u1", "{metadata: {finalizers: null}}", NULL, JANE);
    expect_code(r, 200);
    assert_int_equal(seen.calls, 3);
    r = call("get", CROLES, NULL, "u1", NULL, NULL, NULL);
    assert_null(kr_value_get(r.obj, "metadata.finalizers"));
}

static void authorizer_missing(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    kr_api_opts_t ao = {.authorizer = "nobody"};
    assert_int_equal(api_fixture_restart(&S, &ao), 0);
    kr_reply_t r = call("create", ROLES, "default", NULL, "{metadata: {name: m}}", NULL, JANE);
    expect_code(r, 500);
    assert_string_equal(kr_reply_msg(&r),
                        "api.authorizer: no authorizer named \"nobody\" is registered "
                        "(registered: \"fake\"); an authorization plugin must be listed before "
                        "the plugins that use it");
    /* without auth nothing needs the authorizer */
    expect_code(call("create", ROLES, "default", NULL, "{metadata: {name: m}}", NULL, NULL), 201);
    assert_int_equal(seen.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refused_with_upstream_message), cmocka_unit_test(allowed_and_defaulted),
        cmocka_unit_test(other_errors_unwrapped),        cmocka_unit_test(who_is_not_asked),
        cmocka_unit_test(updates_patches_apply),         cmocka_unit_test(authorizer_missing),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
