/* auth-rbac loaded through the real plugin host next to the object API
 * (tests/unit/support/api_fixture): the vtable found by name answers from
 * the bootstrap policy at once, follows RoleBindings written through the
 * API, and stays consistent while worker threads ask it and the policy
 * changes under them (the snapshot swap, under ASan). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kraal/authz.h>

#include "api_fixture.h"
#include "yaml.h"

#define RB_RES "rbac.authorization.k8s.io/v1/rolebindings"

static api_fixture_t S;
static const kr_authz_ops_t *ops;
static void *self;

static int setup(void **state)
{
    (void)state;
    if (api_fixture_start(&S, "rbac", NULL) < 0)
        return -1;
    kr_error_t err;
    kr_plugin_spec_t spec = {.plugin = "auth-rbac"};
    if (kr_host_start(S.host, &spec, &err) < 0 || kr_authz_find("rbac", &ops, &self, &err) < 0) {
        fprintf(stderr, "auth-rbac: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    api_fixture_stop(&S);
    return 0;
}

static int call(const char *yaml, kr_reply_t *r)
{
    kr_value_t *req = obj_yaml(S.a, yaml);
    kr_request_t rq = {.op = kr_value_map_str(req, "op"),
                       .res = kr_value_map_str(req, "res"),
                       .ns = kr_value_map_str(req, "ns"),
                       .name = kr_value_map_str(req, "name"),
                       .obj = kr_value_map_get(req, "obj")};
    kr_error_t err;
    if (kr_bus_call(S.bus, &rq, S.a, r, 10000, &err) < 0)
        fail_msg("%s: %s", yaml, err.message);
    return r->code;
}

static kr_authz_decision_t ask(const char *user, const char *group, const char *verb,
                               const char *resource, const char *ns)
{
    const char *groups[] = {group};
    kr_authz_user_t u = {.name = user, .groups = groups, .ngroups = group ? 1 : 0};
    kr_authz_attrs_t at = {.user = &u,
                           .verb = verb,
                           .resource_request = true,
                           .group = "",
                           .resource = resource,
                           .ns = ns};
    char reason[256];
    return ops->authorize(self, &at, reason, sizeof reason);
}

/* Polls (5 s at most) until `user` gets `want` for list pods in ns. */
static bool becomes(const char *user, const char *ns, kr_authz_decision_t want)
{
    for (int i = 0; i < 500; i++) {
        if (ask(user, "system:authenticated", "list", "pods", ns) == want)
            return true;
        usleep(10000);
    }
    return false;
}

static void test_bootstrap_and_bindings(void **state)
{
    (void)state;
    /* the bootstrap policy counts before anything was listed by an informer */
    kr_authz_user_t u = {
        .name = "jane", .groups = (const char *[]){"system:authenticated"}, .ngroups = 1};
    kr_authz_attrs_t at = {.user = &u, .verb = "get", .path = "/apis"};
    char reason[256];
    assert_int_equal(ops->authorize(self, &at, reason, sizeof reason), KR_AUTHZ_ALLOW);
    assert_string_equal(reason, "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of "
                                "ClusterRole \"system:discovery\" to Group "
                                "\"system:authenticated\"");
    assert_int_equal(ask("jane", "system:authenticated", "list", "pods", "team"),
                     KR_AUTHZ_NO_OPINION);
    kr_reply_t r;
    assert_int_equal(call("{op: create, res: v1/namespaces, obj: {metadata: {name: team}}}", &r),
                     201);
    assert_int_equal(
        call("{op: create, res: " RB_RES ", ns: team, obj: {metadata: {name: jv, namespace: team},"
             " roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view},"
             " subjects: [{kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}]}}",
             &r),
        201);
    assert_true(becomes("jane", "team", KR_AUTHZ_ALLOW));
    /* rules and check_grant answer from the same snapshot */
    kr_value_t *res, *nonres;
    bool incomplete;
    const char *eval_err;
    kr_error_t err;
    assert_int_equal(ops->rules(self, &u, "team", S.a, &res, &nonres, &incomplete, &eval_err, &err),
                     0);
    assert_true(kr_value_len(res) > 3);
    assert_true(kr_value_len(nonres) >= 2);
    const kr_value_t *role =
        obj_yaml(S.a, "{metadata: {name: r, namespace: team},"
                      " rules: [{apiGroups: [''], resources: [pods], verbs: [get, create]}]}");
    assert_true(ops->check_grant(self, &u, "Role", role, S.a, &err) < 0);
    assert_int_equal(err.reason, KR_E_FORBIDDEN);
    assert_string_equal(err.message,
                        "user \"jane\" (groups=[\"system:authenticated\"]) is "
                        "attempting to grant RBAC permissions not currently held:\n"
                        "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"create\"]}");
    /* deleted: gone */
    assert_int_equal(call("{op: delete, res: " RB_RES ", ns: team, name: jv}", &r), 200);
    assert_true(becomes("jane", "team", KR_AUTHZ_NO_OPINION));
}

typedef struct worker {
    pthread_t t;
    atomic_bool *stop;
    unsigned long asked, wrong;
} worker_t;

static void *work(void *ud)
{
    worker_t *w = ud;
    while (!atomic_load(w->stop)) {
        /* "steady" is bound for the whole test; "churn" comes and goes */
        if (ask("steady", NULL, "list", "pods", "team") != KR_AUTHZ_ALLOW)
            w->wrong++;
        if (ask("nobody", NULL, "list", "pods", "team") != KR_AUTHZ_NO_OPINION)
            w->wrong++;
        ask("churn", NULL, "get", "pods", "team");
        w->asked += 3;
    }
    return NULL;
}

static void test_threads_while_the_policy_changes(void **state)
{
    (void)state;
    kr_reply_t r;
    assert_int_equal(
        call("{op: create, res: " RB_RES ", ns: team, obj: {metadata: {name: steady, namespace: "
             "team}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "
             "view}, subjects: [{kind: User, name: steady, apiGroup: "
             "rbac.authorization.k8s.io}]}}",
             &r),
        201);
    assert_true(becomes("steady", "team", KR_AUTHZ_ALLOW));
    atomic_bool stop = false;
    worker_t w[4] = {0};
    for (int i = 0; i < 4; i++) {
        w[i].stop = &stop;
        assert_int_equal(pthread_create(&w[i].t, NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 40; i++) {
        char y[512];
        snprintf(y, sizeof y,
                 "{op: create, res: " RB_RES ", ns: team, obj: {metadata: {name: churn-%d, "
                 "namespace: team}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
                 "ClusterRole, name: edit}, subjects: [{kind: User, name: churn, apiGroup: "
                 "rbac.authorization.k8s.io}]}}",
                 i);
        assert_int_equal(call(y, &r), 201);
        if (i % 2 == 1) {
            snprintf(y, sizeof y, "{op: delete, res: " RB_RES ", ns: team, name: churn-%d}", i - 1);
            assert_int_equal(call(y, &r), 200);
        }
        usleep(5000);
    }
    atomic_store(&stop, true);
    unsigned long asked = 0, wrong = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(w[i].t, NULL);
        asked += w[i].asked;
        wrong += w[i].wrong;
    }
    assert_true(asked > 0);
    assert_int_equal(wrong, 0);
    /* churn-39 is left: churn may edit pods */
    for (int i = 0; i < 500 && ask("churn", NULL, "create", "pods", "team") != KR_AUTHZ_ALLOW; i++)
        usleep(10000);
    assert_int_equal(ask("churn", NULL, "create", "pods", "team"), KR_AUTHZ_ALLOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap_and_bindings),
        cmocka_unit_test(test_threads_while_the_policy_changes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
