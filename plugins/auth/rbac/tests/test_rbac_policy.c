/* auth-rbac's bootstrap policy, its reconciliation (upstream's
 * reconcile_role_test.go, reconcile_rolebindings_test.go) and the
 * ClusterRole aggregation (clusterroleaggregation_controller_test.go). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbac.h"
#include "yaml.h"

static const kr_value_t *by_name(const kr_value_t *list, const char *name)
{
    for (size_t i = 0; i < kr_value_len(list); i++) {
        const kr_value_t *o = kr_value_array_get(list, i);
        const char *n = kr_value_as_str(kr_value_get(o, "metadata.name"));
        if (n != NULL && strcmp(n, name) == 0)
            return o;
    }
    return NULL;
}

static void test_bootstrap_policy(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *roles, *bindings;
    kr_error_t err;
    assert_int_equal(rbac_bootstrap_policy(a, &roles, &bindings, &err), 0);
    static const char *const want[] = {"cluster-admin",
                                       "admin",
                                       "edit",
                                       "view",
                                       "system:aggregate-to-admin",
                                       "system:aggregate-to-edit",
                                       "system:aggregate-to-view",
                                       "system:basic-user",
                                       "system:discovery",
                                       "system:public-info-viewer",
                                       "system:node",
                                       "system:node-proxier"};
    assert_int_equal(kr_value_len(roles), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const kr_value_t *r = by_name(roles, want[i]);
        assert_non_null(r);
        assert_string_equal(kr_value_map_str(r, "kind"), "ClusterRole");
        assert_string_equal(kr_value_map_str(r, "apiVersion"), "rbac.authorization.k8s.io/v1");
        assert_string_equal(
            kr_value_map_str(kr_value_get(r, "metadata.annotations"), RBAC_AUTOUPDATE), "true");
        assert_string_equal(kr_value_map_str(kr_value_get(r, "metadata.labels"), RBAC_BOOTSTRAP_L),
                            "rbac-defaults");
    }
    assert_string_equal(kr_value_as_str(kr_value_get(by_name(roles, "edit"),
                                                     "metadata.labels[\"rbac.authorization.k8s.io/"
                                                     "aggregate-to-admin\"]")),
                        "true");
    assert_string_equal(kr_value_as_str(kr_value_get(by_name(roles, "system:public-info-viewer"),
                                                     "rules[0].nonResourceURLs[0]")),
                        "/healthz");
    /* the bindings */
    const kr_value_t *b = by_name(bindings, "cluster-admin");
    assert_string_equal(kr_value_as_str(kr_value_get(b, "subjects[0].name")), "system:masters");
    assert_string_equal(kr_value_as_str(kr_value_get(b, "roleRef.name")), "cluster-admin");
    b = by_name(bindings, "system:public-info-viewer");
    assert_int_equal(kr_value_len(kr_value_get(b, "subjects")), 2);
    assert_string_equal(kr_value_as_str(kr_value_get(b, "subjects[1].name")),
                        "system:unauthenticated");
    assert_non_null(by_name(bindings, "system:basic-user"));
    assert_non_null(by_name(bindings, "system:discovery"));
    /* the agents' roles, bound to their group (docs/bus.md) */
    b = by_name(bindings, "system:node");
    assert_string_equal(kr_value_as_str(kr_value_get(b, "subjects[0].name")), "system:nodes");
    assert_string_equal(kr_value_as_str(kr_value_get(b, "roleRef.name")), "system:node");
    b = by_name(bindings, "system:node-proxier");
    assert_string_equal(kr_value_as_str(kr_value_get(b, "subjects[0].name")), "system:nodes");
    assert_int_equal(kr_value_len(bindings), 6);

    /* evaluated: an authenticated user may discover and review itself,
     * anyone may read /healthz, system:masters may do anything */
    rbac_snap_t *s = rbac_snap_new();
    for (size_t i = 0; i < kr_value_len(roles); i++)
        rbac_snap_add(s, "ClusterRole", kr_value_array_get(roles, i));
    for (size_t i = 0; i < kr_value_len(bindings); i++)
        rbac_snap_add(s, "ClusterRoleBinding", kr_value_array_get(bindings, i));
    rbac_snap_finish(s);
    const char *authn[] = {"system:authenticated"}, *anon[] = {"system:unauthenticated"},
               *masters[] = {"system:masters"};
    kr_authz_user_t jane = {.name = "jane", .groups = authn, .ngroups = 1};
    kr_authz_user_t nobody = {.name = "system:anonymous", .groups = anon, .ngroups = 1};
    kr_authz_user_t root = {.name = "root", .groups = masters, .ngroups = 1};
    kr_authz_attrs_t at = {.user = &jane, .verb = "get", .path = "/apis/apps/v1"};
    char reason[256];
    assert_int_equal(rbac_authorize(s, &at, reason, sizeof reason), KR_AUTHZ_ALLOW);
    assert_string_equal(reason, "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of "
                                "ClusterRole \"system:discovery\" to Group "
                                "\"system:authenticated\"");
    at.user = &nobody;
    assert_int_equal(rbac_authorize(s, &at, NULL, 0), KR_AUTHZ_NO_OPINION);
    at.path = "/version";
    assert_int_equal(rbac_authorize(s, &at, NULL, 0), KR_AUTHZ_ALLOW);
    kr_authz_attrs_t ssar = {.user = &jane,
                             .verb = "create",
                             .resource_request = true,
                             .group = "authorization.k8s.io",
                             .resource = "selfsubjectaccessreviews"};
    assert_int_equal(rbac_authorize(s, &ssar, NULL, 0), KR_AUTHZ_ALLOW);
    ssar.resource = "subjectaccessreviews";
    assert_int_equal(rbac_authorize(s, &ssar, NULL, 0), KR_AUTHZ_NO_OPINION);
    ssar.user = &root;
    assert_int_equal(rbac_authorize(s, &ssar, NULL, 0), KR_AUTHZ_ALLOW);
    /* a joined agent (system:nodes): its pods' status, its lease, the
     * proxy's endpointslices; not Secrets' writes nor namespaces' lists */
    const char *nodes[] = {"system:nodes", "system:authenticated"};
    kr_authz_user_t node = {.name = "system:node:n1", .groups = nodes, .ngroups = 2};
    kr_authz_attrs_t na = {.user = &node,
                           .verb = "patch",
                           .resource_request = true,
                           .group = "",
                           .resource = "pods",
                           .subresource = "status",
                           .ns = "default",
                           .name = "p"};
    assert_int_equal(rbac_authorize(s, &na, NULL, 0), KR_AUTHZ_ALLOW);
    na.subresource = NULL;
    assert_int_equal(rbac_authorize(s, &na, NULL, 0), KR_AUTHZ_NO_OPINION);
    na = (kr_authz_attrs_t){.user = &node,
                            .verb = "update",
                            .resource_request = true,
                            .group = "coordination.k8s.io",
                            .resource = "leases",
                            .ns = "kube-node-lease",
                            .name = "n1"};
    assert_int_equal(rbac_authorize(s, &na, NULL, 0), KR_AUTHZ_ALLOW);
    na.group = "discovery.k8s.io";
    na.resource = "endpointslices";
    na.verb = "watch";
    assert_int_equal(rbac_authorize(s, &na, NULL, 0), KR_AUTHZ_ALLOW);
    na.group = "";
    na.resource = "secrets";
    assert_int_equal(rbac_authorize(s, &na, NULL, 0), KR_AUTHZ_ALLOW);
    na.verb = "create";
    assert_int_equal(rbac_authorize(s, &na, NULL, 0), KR_AUTHZ_NO_OPINION);
    na.resource = "namespaces";
    na.verb = "list";
    assert_int_equal(rbac_authorize(s, &na, NULL, 0), KR_AUTHZ_NO_OPINION);
    rbac_snap_destroy(&s);
    kr_arena_destroy(&a);
}

/* ---- reconciliation -------------------------------------------------------------------- */

static void test_reconcile_role(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *expected =
        obj_yaml(a, "metadata:\n"
                    "  name: r\n"
                    "  labels: {kubernetes.io/bootstrapping: rbac-defaults, added: 'yes'}\n"
                    "  annotations: {rbac.authorization.kubernetes.io/autoupdate: 'true'}\n"
                    "rules:\n"
                    "- {verbs: [get, list], apiGroups: [''], resources: [pods]}\n");
    bool protect;
    rbac_reconcile_op_t op;
    /* equal: nothing to do */
    assert_null(rbac_reconcile_role(a, expected, expected, &protect, &op));
    assert_int_equal(op, RBAC_RECONCILE_NONE);
    assert_false(protect);
    /* a missing verb is added (broken down), extra rules and labels stay,
     * an existing label keeps its value */
    const kr_value_t *existing =
        obj_yaml(a, "metadata:\n"
                    "  name: r\n"
                    "  resourceVersion: '7'\n"
                    "  labels: {kubernetes.io/bootstrapping: mine, extra: x}\n"
                    "  annotations: {rbac.authorization.kubernetes.io/autoupdate: 'true'}\n"
                    "rules:\n"
                    "- {verbs: [get], apiGroups: [''], resources: [pods]}\n"
                    "- {verbs: [delete], apiGroups: [''], resources: [secrets]}\n");
    kr_value_t *out = rbac_reconcile_role(a, existing, expected, &protect, &op);
    assert_non_null(out);
    assert_int_equal(op, RBAC_RECONCILE_UPDATE);
    assert_false(protect);
    assert_int_equal(kr_value_len(kr_value_get(out, "rules")), 3);
    assert_string_equal(kr_value_as_str(kr_value_get(out, "rules[1].resources[0]")), "secrets");
    assert_string_equal(kr_value_as_str(kr_value_get(out, "rules[2].verbs[0]")), "list");
    assert_int_equal(kr_value_len(kr_value_get(out, "rules[2].verbs")), 1);
    assert_string_equal(kr_value_as_str(kr_value_get(out, "metadata.labels.extra")), "x");
    assert_string_equal(kr_value_as_str(kr_value_get(out, "metadata.labels.added")), "yes");
    assert_string_equal(
        kr_value_as_str(kr_value_get(out, "metadata.labels[\"kubernetes.io/bootstrapping\"]")),
        "mine");
    assert_string_equal(kr_value_as_str(kr_value_get(out, "metadata.resourceVersion")), "7");
    /* covered by a wider rule: no change */
    const kr_value_t *wider =
        obj_yaml(a, "metadata:\n"
                    "  name: r\n"
                    "  labels: {kubernetes.io/bootstrapping: rbac-defaults, added: 'yes'}\n"
                    "  annotations: {rbac.authorization.kubernetes.io/autoupdate: 'true'}\n"
                    "rules: [{verbs: ['*'], apiGroups: ['*'], resources: ['*']}]\n");
    assert_null(rbac_reconcile_role(a, wider, expected, &protect, &op));
    /* autoupdate "false": protected */
    const kr_value_t *mine =
        obj_yaml(a, "metadata:\n"
                    "  name: r\n"
                    "  annotations: {rbac.authorization.kubernetes.io/autoupdate: 'false'}\n"
                    "rules: []\n");
    assert_non_null(rbac_reconcile_role(a, mine, expected, &protect, &op));
    assert_true(protect);
    /* aggregation: a missing selector is added, the rules gathered stay */
    const kr_value_t *eagg =
        obj_yaml(a, "metadata: {name: admin}\n"
                    "aggregationRule:\n"
                    "  clusterRoleSelectors:\n"
                    "  - matchLabels: {rbac.authorization.k8s.io/aggregate-to-admin: 'true'}\n");
    const kr_value_t *agg =
        obj_yaml(a, "metadata: {name: admin}\n"
                    "aggregationRule:\n"
                    "  clusterRoleSelectors:\n"
                    "  - matchLabels: {custom: 'true'}\n"
                    "rules: [{verbs: [get], apiGroups: [''], resources: [pods]}]\n");
    out = rbac_reconcile_role(a, agg, eagg, &protect, &op);
    assert_non_null(out);
    assert_int_equal(kr_value_len(kr_value_get(out, "aggregationRule.clusterRoleSelectors")), 2);
    assert_int_equal(kr_value_len(kr_value_get(out, "rules")), 1);
    assert_null(rbac_reconcile_role(a, out, eagg, &protect, &op));
    /* an aggregation the expected role does not have goes */
    out = rbac_reconcile_role(a, agg, obj_yaml(a, "metadata: {name: admin}\n"), &protect, &op);
    assert_non_null(out);
    assert_null(kr_value_get(out, "aggregationRule"));
    kr_arena_destroy(&a);
}

static void test_reconcile_binding(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *expected = obj_yaml(
        a, "metadata: {name: b, annotations: {rbac.authorization.kubernetes.io/autoupdate: "
           "'true'}}\n"
           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}\n"
           "subjects:\n"
           "- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: g1}\n"
           "- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: g2}\n");
    bool protect;
    rbac_reconcile_op_t op;
    assert_null(rbac_reconcile_binding(a, expected, expected, &protect, &op));
    const kr_value_t *existing = obj_yaml(
        a, "metadata: {name: b, annotations: {rbac.authorization.kubernetes.io/autoupdate: "
           "'true'}}\n"
           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}\n"
           "subjects:\n"
           "- {apiGroup: rbac.authorization.k8s.io, kind: User, name: extra}\n"
           "- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: g2}\n");
    kr_value_t *out = rbac_reconcile_binding(a, existing, expected, &protect, &op);
    assert_non_null(out);
    assert_int_equal(op, RBAC_RECONCILE_UPDATE);
    assert_int_equal(kr_value_len(kr_value_get(out, "subjects")), 3);
    assert_string_equal(kr_value_as_str(kr_value_get(out, "subjects[0].name")), "extra");
    assert_string_equal(kr_value_as_str(kr_value_get(out, "subjects[2].name")), "g1");
    /* another roleRef: made again as expected */
    const kr_value_t *other = obj_yaml(
        a, "metadata: {name: b}\n"
           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: other}\n");
    out = rbac_reconcile_binding(a, other, expected, &protect, &op);
    assert_int_equal(op, RBAC_RECONCILE_RECREATE);
    assert_string_equal(kr_value_as_str(kr_value_get(out, "roleRef.name")), "r");
    kr_arena_destroy(&a);
}

/* ---- aggregation ------------------------------------------------------------------------ */

static void test_aggregate(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *roles[] = {
        obj_yaml(a, "metadata: {name: target}\n"
                    "aggregationRule:\n"
                    "  clusterRoleSelectors:\n"
                    "  - matchLabels: {foo: bar}\n"
                    "  - matchLabels: {foo: baz}\n"
                    "rules: [{verbs: [old], apiGroups: [''], resources: [x]}]\n"),
        obj_yaml(a, "metadata: {name: two, labels: {foo: bar}}\n"
                    "rules: [{verbs: [get], apiGroups: [''], resources: [pods]},\n"
                    "        {verbs: [list], apiGroups: [''], resources: [pods]}]\n"),
        obj_yaml(a, "metadata: {name: one, labels: {foo: bar}}\n"
                    "rules: [{verbs: [list], apiGroups: [''], resources: [pods]}]\n"),
        obj_yaml(a, "metadata: {name: three, labels: {foo: baz}}\n"
                    "rules: [{verbs: [get], apiGroups: [''], resources: [pods]},\n"
                    "        {verbs: [watch], apiGroups: [''], resources: [pods]}]\n"),
        obj_yaml(a, "metadata: {name: unrelated, labels: {foo: other}}\n"
                    "rules: [{verbs: ['*'], apiGroups: ['*'], resources: ['*']}]\n"),
    };
    int rc;
    kr_error_t err;
    kr_value_t *rules = rbac_aggregate(a, roles[0], roles, 5, &rc, &err);
    assert_int_equal(rc, 0);
    assert_non_null(rules);
    /* name order within a selector (one, two), selectors in order, no duplicates */
    assert_int_equal(kr_value_len(rules), 3);
    assert_string_equal(kr_value_as_str(kr_value_get(rules, "[0].verbs[0]")), "list");
    assert_string_equal(kr_value_as_str(kr_value_get(rules, "[1].verbs[0]")), "get");
    assert_string_equal(kr_value_as_str(kr_value_get(rules, "[2].verbs[0]")), "watch");
    /* up to date: nothing to write */
    kr_value_t *done = kr_value_copy(a, roles[0]);
    kr_value_map_set(a, done, "rules", rules);
    assert_null(rbac_aggregate(a, done, roles, 5, &rc, &err));
    assert_int_equal(rc, 0);
    /* not aggregated: nothing */
    assert_null(rbac_aggregate(a, roles[1], roles, 5, &rc, &err));
    /* a role selecting itself does not gather its own rules */
    const kr_value_t *self = obj_yaml(a, "metadata: {name: self, labels: {foo: bar}}\n"
                                         "aggregationRule: {clusterRoleSelectors: "
                                         "[{matchLabels: {foo: bar}}]}\n");
    const kr_value_t *with_self[] = {self, roles[2]};
    rules = rbac_aggregate(a, self, with_self, 2, &rc, &err);
    assert_int_equal(kr_value_len(rules), 1);
    /* no selected role and no rules: nothing to write; rules but none selected: emptied */
    const kr_value_t *empty = obj_yaml(a, "metadata: {name: e}\n"
                                          "aggregationRule: {clusterRoleSelectors: "
                                          "[{matchLabels: {none: x}}]}\n");
    assert_null(rbac_aggregate(a, empty, roles, 5, &rc, &err));
    const kr_value_t *stale = obj_yaml(a, "metadata: {name: e}\n"
                                          "aggregationRule: {clusterRoleSelectors: "
                                          "[{matchLabels: {none: x}}]}\n"
                                          "rules: [{verbs: [get], resources: [x]}]\n");
    rules = rbac_aggregate(a, stale, roles, 5, &rc, &err);
    assert_non_null(rules);
    assert_int_equal(kr_value_len(rules), 0);
    /* a bad selector */
    const kr_value_t *bad = obj_yaml(a, "metadata: {name: bad}\n"
                                        "aggregationRule: {clusterRoleSelectors: "
                                        "[{matchExpressions: [{key: a, operator: Bogus}]}]}\n");
    assert_null(rbac_aggregate(a, bad, roles, 5, &rc, &err));
    assert_true(rc < 0);
    kr_arena_destroy(&a);
}

/* The bootstrap admin/edit/view chain converges in passes. */
static void test_aggregate_bootstrap(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *roles, *bindings;
    assert_int_equal(rbac_bootstrap_policy(a, &roles, &bindings, NULL), 0);
    size_t n = kr_value_len(roles);
    const kr_value_t **all = calloc(n, sizeof *all);
    for (int pass = 0; pass < 5; pass++) {
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++)
                all[j] = kr_value_array_get(roles, j);
            int rc;
            kr_value_t *role = kr_value_array_get(roles, i);
            kr_value_t *rules = rbac_aggregate(a, role, all, n, &rc, NULL);
            if (rules != NULL)
                kr_value_map_set(a, role, "rules", rules);
        }
    }
    rbac_snap_t *s = rbac_snap_new();
    for (size_t i = 0; i < n; i++)
        rbac_snap_add(s, "ClusterRole", kr_value_array_get(roles, i));
    kr_value_t *rbs = obj_yaml(a, "[{metadata: {name: v, namespace: ns}, roleRef: {kind: "
                                  "ClusterRole, name: view}, subjects: [{kind: User, name: "
                                  "viewer}]},\n"
                                  " {metadata: {name: e, namespace: ns}, roleRef: {kind: "
                                  "ClusterRole, name: edit}, subjects: [{kind: User, name: "
                                  "editor}]},\n"
                                  " {metadata: {name: a, namespace: ns}, roleRef: {kind: "
                                  "ClusterRole, name: admin}, subjects: [{kind: User, name: "
                                  "admin}]}]");
    for (size_t i = 0; i < kr_value_len(rbs); i++)
        rbac_snap_add(s, "RoleBinding", kr_value_array_get(rbs, i));
    rbac_snap_finish(s);
    struct {
        const char *user, *verb, *group, *resource;
        kr_authz_decision_t want;
    } cases[] = {
        {"viewer", "list", "", "pods", KR_AUTHZ_ALLOW},
        {"viewer", "create", "", "pods", KR_AUTHZ_NO_OPINION},
        {"viewer", "get", "", "secrets", KR_AUTHZ_NO_OPINION},
        {"editor", "list", "apps", "deployments", KR_AUTHZ_ALLOW},
        {"editor", "create", "apps", "deployments", KR_AUTHZ_ALLOW},
        {"editor", "get", "", "secrets", KR_AUTHZ_ALLOW},
        {"editor", "create", RBAC_GROUP, "roles", KR_AUTHZ_NO_OPINION},
        {"admin", "create", RBAC_GROUP, "roles", KR_AUTHZ_ALLOW},
        {"admin", "delete", "", "pods", KR_AUTHZ_ALLOW},
        {"admin", "list", "", "namespaces", KR_AUTHZ_ALLOW},
        {"admin", "create", "", "namespaces", KR_AUTHZ_NO_OPINION},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kr_authz_user_t u = {.name = cases[i].user};
        kr_authz_attrs_t at = {.user = &u,
                               .verb = cases[i].verb,
                               .resource_request = true,
                               .group = cases[i].group,
                               .resource = cases[i].resource,
                               .ns = "ns"};
        if (rbac_authorize(s, &at, NULL, 0) != cases[i].want)
            fail_msg("%s %s %s/%s: want %d", cases[i].user, cases[i].verb, cases[i].group,
                     cases[i].resource, cases[i].want);
    }
    rbac_snap_destroy(&s);
    free(all);
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap_policy),    cmocka_unit_test(test_reconcile_role),
        cmocka_unit_test(test_reconcile_binding),   cmocka_unit_test(test_aggregate),
        cmocka_unit_test(test_aggregate_bootstrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
