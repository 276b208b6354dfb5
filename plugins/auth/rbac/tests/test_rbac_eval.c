/* auth-rbac's evaluation on value trees, from upstream's tables:
 * plugin/pkg/auth/authorizer/rbac/rbac_test.go (TestAuthorizer,
 * TestRuleMatches), pkg/registry/rbac/validation/rule_test.go and
 * policy_comparator_test.go, escalation_check_test.go, and the index with
 * many bindings. */
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

/* ---- helpers ---------------------------------------------------------------------- */

/* A snapshot from YAML: {roles, clusterRoles, roleBindings, clusterRoleBindings}. */
static rbac_snap_t *snap_yaml(const char *yaml)
{
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *doc = obj_yaml(a, yaml);
    static const char *const keys[4][2] = {{"roles", "Role"},
                                           {"clusterRoles", "ClusterRole"},
                                           {"roleBindings", "RoleBinding"},
                                           {"clusterRoleBindings", "ClusterRoleBinding"}};
    rbac_snap_t *s = rbac_snap_new();
    for (int k = 0; k < 4; k++) {
        const kr_value_t *list = kr_value_map_get(doc, keys[k][0]);
        for (size_t i = 0; i < kr_value_len(list); i++)
            rbac_snap_add(s, keys[k][1], kr_value_array_get(list, i));
    }
    rbac_snap_finish(s);
    kr_arena_destroy(&a);
    return s;
}

typedef struct user_buf {
    const char *groups[8];
    kr_authz_user_t u;
    char buf[256];
} user_buf_t;

/* "name" and "g1,g2" (NULL or "": none). */
static const kr_authz_user_t *mkuser(user_buf_t *ub, const char *name, const char *groups)
{
    memset(ub, 0, sizeof *ub);
    ub->u.name = name;
    if (groups != NULL && *groups) {
        snprintf(ub->buf, sizeof ub->buf, "%s", groups);
        for (char *save = NULL, *t = strtok_r(ub->buf, ",", &save); t && ub->u.ngroups < 8;
             t = strtok_r(NULL, ",", &save))
            ub->groups[ub->u.ngroups++] = t;
    }
    ub->u.groups = ub->groups;
    return &ub->u;
}

static kr_authz_decision_t res_req(const rbac_snap_t *s, const char *user, const char *groups,
                                   const char *verb, const char *group, const char *resource,
                                   const char *sub, const char *ns, const char *name, char *reason,
                                   size_t len)
{
    user_buf_t ub;
    kr_authz_attrs_t at = {.user = mkuser(&ub, user, groups),
                           .verb = verb,
                           .resource_request = true,
                           .group = group,
                           .resource = resource,
                           .subresource = sub,
                           .ns = ns,
                           .name = name};
    return rbac_authorize(s, &at, reason, len);
}

static bool allows(const rbac_snap_t *s, const char *user, const char *groups, const char *verb,
                   const char *resource, const char *sub, const char *ns)
{
    return res_req(s, user, groups, verb, "", resource, sub, ns, NULL, NULL, 0) == KR_AUTHZ_ALLOW;
}

static bool url_allows(const rbac_snap_t *s, const char *user, const char *groups, const char *verb,
                       const char *path)
{
    user_buf_t ub;
    kr_authz_attrs_t at = {
        .user = mkuser(&ub, user, groups), .verb = verb, .resource_request = false, .path = path};
    return rbac_authorize(s, &at, NULL, 0) == KR_AUTHZ_ALLOW;
}

/* ---- TestAuthorizer --------------------------------------------------------------- */

static void test_authorizer_bindings(void **state)
{
    (void)state;
    rbac_snap_t *s = snap_yaml(
        "clusterRoles:\n"
        "- metadata: {name: admin}\n"
        "  rules: [{verbs: ['*'], apiGroups: ['*'], resources: ['*'], nonResourceURLs: ['*']}]\n"
        "roleBindings:\n"
        "- metadata: {name: rb, namespace: ns1}\n"
        "  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}\n"
        "  subjects: [{kind: User, name: admin}, {kind: Group, name: admins}]\n");
    assert_true(allows(s, "admin", "", "get", "Pods", NULL, "ns1"));
    assert_true(allows(s, "admin", "", "watch", "Pods", NULL, "ns1"));
    assert_true(allows(s, "admin", "group1", "watch", "Foobar", NULL, "ns1"));
    assert_true(allows(s, "joe", "admins", "watch", "Foobar", NULL, "ns1"));
    assert_true(allows(s, "joe", "group1,admins", "watch", "Foobar", NULL, "ns1"));
    assert_false(allows(s, "admin", "", "GET", "Pods", NULL, "ns2"));
    assert_false(allows(s, "admin", "", "GET", "Nodes", NULL, ""));
    assert_false(allows(s, "admin", "admins", "GET", "Pods", NULL, "ns2"));
    assert_false(allows(s, "admin", "admins", "GET", "Nodes", NULL, ""));
    assert_false(allows(s, "joe", "", "get", "Pods", NULL, "ns1"));
    rbac_snap_destroy(&s);
}

static void test_authorizer_non_resource_urls(void **state)
{
    (void)state;
    rbac_snap_t *s = snap_yaml(
        "clusterRoles:\n"
        "- metadata: {name: non-resource-url-getter}\n"
        "  rules: [{verbs: [get], apiGroups: [''], resources: [''], nonResourceURLs: [/apis]}]\n"
        "- metadata: {name: non-resource-url}\n"
        "  rules: [{verbs: ['*'], apiGroups: [''], resources: [''], nonResourceURLs: [/apis]}]\n"
        "- metadata: {name: non-resource-url-prefix}\n"
        "  rules: [{verbs: [get], apiGroups: [''], resources: [''], nonResourceURLs: "
        "['/apis/*']}]\n"
        "clusterRoleBindings:\n"
        "- metadata: {name: a}\n"
        "  roleRef: {kind: ClusterRole, name: non-resource-url-getter}\n"
        "  subjects: [{kind: User, name: foo}, {kind: Group, name: bar}]\n"
        "- metadata: {name: b}\n"
        "  roleRef: {kind: ClusterRole, name: non-resource-url}\n"
        "  subjects: [{kind: User, name: admin}, {kind: Group, name: admin}]\n"
        "- metadata: {name: c}\n"
        "  roleRef: {kind: ClusterRole, name: non-resource-url-prefix}\n"
        "  subjects: [{kind: User, name: prefixed}, {kind: Group, name: prefixed}]\n");
    assert_true(url_allows(s, "foo", "", "get", "/apis"));
    assert_true(url_allows(s, "", "bar", "get", "/apis"));
    assert_true(url_allows(s, "admin", "", "get", "/apis"));
    assert_true(url_allows(s, "", "admin", "get", "/apis"));
    assert_true(url_allows(s, "admin", "", "watch", "/apis"));
    assert_true(url_allows(s, "", "admin", "watch", "/apis"));
    assert_true(url_allows(s, "prefixed", "", "get", "/apis/v1"));
    assert_true(url_allows(s, "", "prefixed", "get", "/apis/v1"));
    assert_true(url_allows(s, "prefixed", "", "get", "/apis/v1/foobar"));
    assert_true(url_allows(s, "", "prefixed", "get", "/apis/v1/foorbar"));
    /* wrong verb */
    assert_false(url_allows(s, "foo", "", "watch", "/apis"));
    assert_false(url_allows(s, "", "bar", "watch", "/apis"));
    /* wrong path */
    assert_false(url_allows(s, "foo", "", "get", "/api/v1"));
    assert_false(url_allows(s, "", "bar", "get", "/api/v1"));
    assert_false(url_allows(s, "admin", "", "get", "/api/v1"));
    assert_false(url_allows(s, "", "admin", "get", "/api/v1"));
    /* not covered by prefix */
    assert_false(url_allows(s, "prefixed", "", "get", "/api/v1"));
    assert_false(url_allows(s, "", "prefixed", "get", "/api/v1"));
    rbac_snap_destroy(&s);
}

static void test_authorizer_subresources(void **state)
{
    (void)state;
    rbac_snap_t *s = snap_yaml(
        "clusterRoles:\n"
        "- metadata: {name: admin}\n"
        "  rules: [{verbs: ['*'], apiGroups: ['*'], resources: [pods], nonResourceURLs: ['*']}]\n"
        "- metadata: {name: status}\n"
        "  rules: [{verbs: ['*'], apiGroups: ['*'], resources: [pods/status]}]\n"
        "roleBindings:\n"
        "- metadata: {name: rb, namespace: ns1}\n"
        "  roleRef: {kind: ClusterRole, name: admin}\n"
        "  subjects: [{kind: User, name: admin}]\n"
        "- metadata: {name: rb, namespace: ns2}\n"
        "  roleRef: {kind: ClusterRole, name: status}\n"
        "  subjects: [{kind: User, name: admin}]\n");
    assert_true(allows(s, "admin", "", "get", "pods", NULL, "ns1"));
    assert_false(allows(s, "admin", "", "get", "pods", "status", "ns1"));
    assert_true(allows(s, "admin", "", "get", "pods", "status", "ns2"));
    assert_false(allows(s, "admin", "", "get", "pods", NULL, "ns2"));
    rbac_snap_destroy(&s);
}

/* ---- TestRuleMatches --------------------------------------------------------------- */

static rbac_rule_t rule_yaml(kr_arena_t *a, const char *yaml)
{
    rbac_rule_t r;
    rbac_rule_parse(a, obj_yaml(a, yaml), &r);
    return r;
}

static bool rule_res(const rbac_rule_t *r, const char *verb, const char *group,
                     const char *resource, const char *sub, const char *name)
{
    kr_authz_user_t u = {.name = "u"};
    kr_authz_attrs_t at = {.user = &u,
                           .verb = verb,
                           .resource_request = true,
                           .group = group,
                           .resource = resource,
                           .subresource = sub,
                           .name = name};
    return rbac_rule_allows(&at, r);
}

static bool rule_url(const rbac_rule_t *r, const char *verb, const char *path)
{
    kr_authz_user_t u = {.name = "u"};
    kr_authz_attrs_t at = {.user = &u, .verb = verb, .path = path};
    return rbac_rule_allows(&at, r);
}

static void test_rule_matches(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    /* star verb, exact match other */
    rbac_rule_t r = rule_yaml(a, "{verbs: ['*'], apiGroups: [group1], resources: [resource1]}");
    assert_true(rule_res(&r, "verb1", "group1", "resource1", NULL, NULL));
    assert_false(rule_res(&r, "verb1", "group2", "resource1", NULL, NULL));
    assert_false(rule_res(&r, "verb1", "group1", "resource2", NULL, NULL));
    assert_true(rule_res(&r, "verb2", "group1", "resource1", NULL, NULL));
    /* star group */
    r = rule_yaml(a, "{verbs: [verb1], apiGroups: ['*'], resources: [resource1]}");
    assert_true(rule_res(&r, "verb1", "group1", "resource1", NULL, NULL));
    assert_true(rule_res(&r, "verb1", "group2", "resource1", NULL, NULL));
    assert_false(rule_res(&r, "verb1", "group1", "resource2", NULL, NULL));
    assert_false(rule_res(&r, "verb2", "group1", "resource1", NULL, NULL));
    /* star resource */
    r = rule_yaml(a, "{verbs: [verb1], apiGroups: [group1], resources: ['*']}");
    assert_true(rule_res(&r, "verb1", "group1", "resource1", NULL, NULL));
    assert_true(rule_res(&r, "verb1", "group1", "resource2", NULL, NULL));
    assert_true(rule_res(&r, "verb1", "group1", "resource2", "sub", NULL));
    assert_false(rule_res(&r, "verb1", "group2", "resource1", NULL, NULL));
    /* tuple expansion */
    r = rule_yaml(a, "{verbs: [verb1, verb2], apiGroups: [group1, group2], resources: "
                     "[resource1, resource2]}");
    assert_true(rule_res(&r, "verb2", "group2", "resource2", NULL, NULL));
    assert_true(rule_res(&r, "verb1", "group2", "resource1", NULL, NULL));
    assert_false(rule_res(&r, "verb3", "group2", "resource1", NULL, NULL));
    /* subresource expansion */
    r = rule_yaml(a, "{verbs: ['*'], apiGroups: ['*'], resources: [resource1/subresource1]}");
    assert_true(rule_res(&r, "verb1", "group1", "resource1", "subresource1", NULL));
    assert_false(rule_res(&r, "verb1", "group2", "resource1", "subresource2", NULL));
    assert_false(rule_res(&r, "verb1", "group1", "resource2", "subresource1", NULL));
    assert_false(rule_res(&r, "verb1", "group1", "resource1", NULL, NULL));
    /* star nonresource */
    r = rule_yaml(a, "{verbs: [verb1], nonResourceURLs: ['*']}");
    assert_true(rule_url(&r, "verb1", "/foo"));
    assert_true(rule_url(&r, "verb1", "/foo/bar/one"));
    assert_false(rule_url(&r, "verb2", "/foo"));
    /* star nonresource subpath */
    r = rule_yaml(a, "{verbs: [verb1], nonResourceURLs: ['/foo/*']}");
    assert_false(rule_url(&r, "verb1", "/foo"));
    assert_true(rule_url(&r, "verb1", "/foo/bar"));
    assert_true(rule_url(&r, "verb1", "/foo/baz/one"));
    assert_false(rule_url(&r, "verb1", "/notfoo"));
    assert_false(rule_url(&r, "verb2", "/foo/bar"));
    /* star verb, exact nonresource */
    r = rule_yaml(a, "{verbs: ['*'], nonResourceURLs: [/foo, /foo/bar/one]}");
    assert_true(rule_url(&r, "verb1", "/foo"));
    assert_false(rule_url(&r, "verb1", "/foo/bar"));
    assert_true(rule_url(&r, "verb1", "/foo/bar/one"));
    assert_false(rule_url(&r, "verb1", "/foo/baz/one"));
    /* resource names */
    r = rule_yaml(a, "{verbs: [get], apiGroups: [''], resources: [pods], resourceNames: [a, b]}");
    assert_true(rule_res(&r, "get", "", "pods", NULL, "a"));
    assert_true(rule_res(&r, "get", "", "pods", NULL, "b"));
    assert_false(rule_res(&r, "get", "", "pods", NULL, "c"));
    assert_false(rule_res(&r, "get", "", "pods", NULL, NULL)); /* a list has no name */
    /* subresources of every resource */
    r = rule_yaml(a, "{verbs: [get], apiGroups: [''], resources: ['*/scale']}");
    assert_true(rule_res(&r, "get", "", "deployments", "scale", NULL));
    assert_true(rule_res(&r, "get", "", "replicasets", "scale", NULL));
    assert_false(rule_res(&r, "get", "", "deployments", "status", NULL));
    assert_false(rule_res(&r, "get", "", "deployments", NULL, NULL));
    /* a resource's own "*" is not a wildcard of its subresources (upstream
     * compares a rule "pods/\*" as it is) */
    r = rule_yaml(a, "{verbs: [get], apiGroups: [''], resources: ['pods/*']}");
    assert_false(rule_res(&r, "get", "", "pods", "log", NULL));
    kr_arena_destroy(&a);
}

/* ---- reasons, subjects, masters ------------------------------------------------------ */

static const char reason_policy[] =
    "roles:\n"
    "- metadata: {name: reader, namespace: ns1}\n"
    "  rules: [{verbs: [get], apiGroups: [''], resources: [pods]}]\n"
    "clusterRoles:\n"
    "- metadata: {name: viewer}\n"
    "  rules: [{verbs: [list], apiGroups: [''], resources: [pods, nodes]}]\n"
    "roleBindings:\n"
    "- metadata: {name: read-pods, namespace: ns1}\n"
    "  roleRef: {kind: Role, name: reader}\n"
    "  subjects: [{kind: ServiceAccount, name: robot}, {kind: User, name: jane}]\n"
    "- metadata: {name: view, namespace: ns1}\n"
    "  roleRef: {kind: ClusterRole, name: viewer}\n"
    "  subjects: [{kind: ServiceAccount, name: robot, namespace: other}]\n"
    "- metadata: {name: dangling, namespace: ns2}\n"
    "  roleRef: {kind: Role, name: gone}\n"
    "  subjects: [{kind: User, name: jane}]\n"
    "- metadata: {name: dangling2, namespace: ns2}\n"
    "  roleRef: {kind: ClusterRole, name: gone-too}\n"
    "  subjects: [{kind: Group, name: devs}]\n"
    "clusterRoleBindings:\n"
    "- metadata: {name: view-all}\n"
    "  roleRef: {kind: ClusterRole, name: viewer}\n"
    "  subjects: [{kind: User, name: bob}, {kind: Group, name: viewers}]\n"
    "- metadata: {name: sa-no-ns}\n"
    "  roleRef: {kind: ClusterRole, name: viewer}\n"
    "  subjects: [{kind: ServiceAccount, name: lost}]\n";

static void test_reasons(void **state)
{
    (void)state;
    rbac_snap_t *s = snap_yaml(reason_policy);
    char reason[512];
    assert_int_equal(
        res_req(s, "bob", "", "list", "", "nodes", NULL, "", NULL, reason, sizeof reason),
        KR_AUTHZ_ALLOW);
    assert_string_equal(reason, "RBAC: allowed by ClusterRoleBinding \"view-all\" of ClusterRole "
                                "\"viewer\" to User \"bob\"");
    /* the first subject that applies names the reason */
    assert_int_equal(
        res_req(s, "bob", "viewers", "list", "", "pods", NULL, "ns1", NULL, reason, sizeof reason),
        KR_AUTHZ_ALLOW);
    assert_string_equal(reason, "RBAC: allowed by ClusterRoleBinding \"view-all\" of ClusterRole "
                                "\"viewer\" to User \"bob\"");
    assert_int_equal(
        res_req(s, "amy", "viewers", "list", "", "pods", NULL, "ns1", NULL, reason, sizeof reason),
        KR_AUTHZ_ALLOW);
    assert_string_equal(reason, "RBAC: allowed by ClusterRoleBinding \"view-all\" of ClusterRole "
                                "\"viewer\" to Group \"viewers\"");
    /* a ServiceAccount without a namespace is the binding's */
    assert_int_equal(res_req(s, "system:serviceaccount:ns1:robot", "", "get", "", "pods", NULL,
                             "ns1", "p", reason, sizeof reason),
                     KR_AUTHZ_ALLOW);
    assert_string_equal(reason, "RBAC: allowed by RoleBinding \"read-pods/ns1\" of Role "
                                "\"reader\" to ServiceAccount \"robot/ns1\"");
    assert_int_equal(res_req(s, "system:serviceaccount:other:robot", "", "list", "", "pods", NULL,
                             "ns1", NULL, reason, sizeof reason),
                     KR_AUTHZ_ALLOW);
    assert_string_equal(reason, "RBAC: allowed by RoleBinding \"view/ns1\" of ClusterRole "
                                "\"viewer\" to ServiceAccount \"robot/other\"");
    /* a RoleBinding's rules stay in its namespace */
    assert_int_equal(res_req(s, "system:serviceaccount:ns1:robot", "", "get", "", "pods", NULL,
                             "ns3", NULL, reason, sizeof reason),
                     KR_AUTHZ_NO_OPINION);
    assert_string_equal(reason, "");
    assert_int_equal(res_req(s, "system:serviceaccount:other:robot", "", "get", "", "pods", NULL,
                             "ns1", NULL, reason, sizeof reason),
                     KR_AUTHZ_NO_OPINION);
    /* a ServiceAccount subject of a ClusterRoleBinding needs its namespace */
    assert_false(allows(s, "system:serviceaccount::lost", "", "list", "pods", NULL, ""));
    assert_false(allows(s, "system:serviceaccount:default:lost", "", "list", "pods", NULL, ""));
    /* a role that is not there: no opinion, the error as the reason */
    assert_int_equal(
        res_req(s, "jane", "", "get", "", "pods", NULL, "ns2", NULL, reason, sizeof reason),
        KR_AUTHZ_NO_OPINION);
    assert_string_equal(reason, "RBAC: role.rbac.authorization.k8s.io \"gone\" not found");
    assert_int_equal(
        res_req(s, "jane", "devs", "get", "", "pods", NULL, "ns2", NULL, reason, sizeof reason),
        KR_AUTHZ_NO_OPINION);
    assert_string_equal(reason, "RBAC: [role.rbac.authorization.k8s.io \"gone\" not found, "
                                "clusterrole.rbac.authorization.k8s.io \"gone-too\" not found]");
    /* a later rule allows in spite of an earlier error */
    assert_int_equal(
        res_req(s, "jane", "", "get", "", "pods", NULL, "ns1", NULL, reason, sizeof reason),
        KR_AUTHZ_ALLOW);
    /* names are quoted as Go's %q does */
    rbac_snap_t *odd = snap_yaml("clusterRoles:\n"
                                 "- metadata: {name: 'r\"1'}\n"
                                 "  rules: [{verbs: [get], nonResourceURLs: ['*']}]\n"
                                 "clusterRoleBindings:\n"
                                 "- metadata: {name: 'b\\1'}\n"
                                 "  roleRef: {kind: ClusterRole, name: 'r\"1'}\n"
                                 "  subjects: [{kind: User, name: \"we\\tird\"}]\n");
    user_buf_t ub;
    kr_authz_attrs_t at = {.user = mkuser(&ub, "we\tird", ""), .verb = "get", .path = "/x"};
    assert_int_equal(rbac_authorize(odd, &at, reason, sizeof reason), KR_AUTHZ_ALLOW);
    assert_string_equal(reason, "RBAC: allowed by ClusterRoleBinding \"b\\\\1\" of ClusterRole "
                                "\"r\\\"1\" to User \"we\\tird\"");
    rbac_snap_destroy(&odd);
    /* truncation keeps a NUL */
    char small[8];
    res_req(s, "bob", "", "list", "", "nodes", NULL, "", NULL, small, sizeof small);
    assert_string_equal(small, "RBAC: a");
    rbac_snap_destroy(&s);
}

static void test_masters(void **state)
{
    (void)state;
    rbac_snap_t *s = snap_yaml("{}");
    char reason[64] = "x";
    assert_int_equal(res_req(s, "root", "system:authenticated,system:masters", "delete", "apps",
                             "deployments", NULL, "ns", "d", reason, sizeof reason),
                     KR_AUTHZ_ALLOW);
    assert_string_equal(reason, "");
    assert_true(url_allows(s, "root", "system:masters", "get", "/metrics"));
    assert_false(url_allows(s, "root", "system:authenticated", "get", "/metrics"));
    /* no snapshot yet: masters only */
    user_buf_t ub;
    kr_authz_attrs_t at = {.user = mkuser(&ub, "x", "system:masters"), .verb = "get", .path = "/"};
    assert_int_equal(rbac_authorize(NULL, &at, NULL, 0), KR_AUTHZ_ALLOW);
    at.user = mkuser(&ub, "x", "");
    assert_int_equal(rbac_authorize(NULL, &at, NULL, 0), KR_AUTHZ_NO_OPINION);
    rbac_snap_destroy(&s);
}

/* ---- RulesFor (rule_test.go TestDefaultRuleResolver) -------------------------------- */

static void test_rules_review(void **state)
{
    (void)state;
    rbac_snap_t *s = snap_yaml(
        "roles:\n"
        "- metadata: {name: readthings, namespace: namespace1}\n"
        "  rules:\n"
        "  - {verbs: [get, list], apiGroups: [''], resources: [pods], resourceNames: [a]}\n"
        "clusterRoles:\n"
        "- metadata: {name: cluster-admin}\n"
        "  rules:\n"
        "  - {verbs: ['*'], apiGroups: ['*'], resources: ['*']}\n"
        "  - {verbs: ['*'], nonResourceURLs: ['*']}\n"
        "- metadata: {name: write-nodes}\n"
        "  rules: [{verbs: [create, update], apiGroups: [''], resources: [nodes]}]\n"
        "roleBindings:\n"
        "- metadata: {name: readthings, namespace: namespace1}\n"
        "  roleRef: {kind: Role, name: readthings}\n"
        "  subjects: [{kind: Group, name: foobar}]\n"
        "- metadata: {name: broken, namespace: namespace1}\n"
        "  roleRef: {kind: Role, name: missing}\n"
        "  subjects: [{kind: User, name: foobar}]\n"
        "clusterRoleBindings:\n"
        "- metadata: {name: cluster-admins}\n"
        "  roleRef: {kind: ClusterRole, name: cluster-admin}\n"
        "  subjects: [{kind: Group, name: admin}]\n"
        "- metadata: {name: nodes}\n"
        "  roleRef: {kind: ClusterRole, name: write-nodes}\n"
        "  subjects: [{kind: User, name: foobar}]\n");
    kr_arena_t *a = kr_arena_new(0);
    user_buf_t ub;
    kr_value_t *res, *nonres;
    bool incomplete = true;
    const char *eval_err = "x";
    /* cluster-wide: the ClusterRoleBinding's rules only */
    assert_int_equal(rbac_rules_review(s, mkuser(&ub, "foobar", "foobar"), "", a, &res, &nonres,
                                       &incomplete, &eval_err, NULL),
                     0);
    assert_false(incomplete);
    assert_null(eval_err);
    assert_int_equal(kr_value_len(res), 1);
    assert_int_equal(kr_value_len(nonres), 0);
    assert_string_equal(kr_value_as_str(kr_value_get(res, "[0].resources[0]")), "nodes");
    /* in a namespace: its RoleBindings too, and the broken one's error */
    rbac_rules_review(s, mkuser(&ub, "foobar", "foobar"), "namespace1", a, &res, &nonres,
                      &incomplete, &eval_err, NULL);
    assert_int_equal(kr_value_len(res), 2);
    assert_string_equal(kr_value_as_str(kr_value_get(res, "[1].resourceNames[0]")), "a");
    assert_string_equal(kr_value_as_str(kr_value_get(res, "[1].verbs[1]")), "list");
    assert_string_equal(eval_err, "role.rbac.authorization.k8s.io \"missing\" not found");
    /* an admin: one resource rule, one non-resource rule */
    rbac_rules_review(s, mkuser(&ub, "root", "admin"), "namespace1", a, &res, &nonres, &incomplete,
                      &eval_err, NULL);
    assert_int_equal(kr_value_len(res), 1);
    assert_int_equal(kr_value_len(nonres), 1);
    assert_string_equal(kr_value_as_str(kr_value_get(nonres, "[0].nonResourceURLs[0]")), "*");
    assert_null(kr_value_get(res, "[0].resourceNames"));
    /* nobody */
    rbac_rules_review(s, mkuser(&ub, "nobody", ""), "namespace1", a, &res, &nonres, &incomplete,
                      &eval_err, NULL);
    assert_int_equal(kr_value_len(res), 0);
    assert_int_equal(kr_value_len(nonres), 0);
    kr_arena_destroy(&a);
    rbac_snap_destroy(&s);
}

/* ---- Covers (policy_comparator_test.go) --------------------------------------------- */

static rbac_rule_t *rules_yaml(kr_arena_t *a, const char *yaml, size_t *n)
{
    rbac_rule_t *r;
    *n = rbac_rules_parse(a, obj_yaml(a, yaml), &r);
    return r;
}

static bool covers(kr_arena_t *a, const char *owner, const char *servant, size_t *nmissing)
{
    size_t no, ns;
    rbac_rule_t *o = rules_yaml(a, owner, &no), *s = rules_yaml(a, servant, &ns), *missing;
    return rbac_covers(a, o, no, s, ns, &missing, nmissing);
}

static void test_covers(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    size_t n;
    /* exact match */
    assert_true(covers(a, "[{verbs: [get], apiGroups: [''], resources: [builds]}]",
                       "[{verbs: [get], apiGroups: [''], resources: [builds]}]", &n));
    /* multiple rules required to cover */
    assert_true(covers(a,
                       "[{verbs: [get], apiGroups: [v1], resources: [builds]},"
                       " {verbs: [list], apiGroups: [v1], resources: [builds]}]",
                       "[{verbs: [get, list], apiGroups: [v1], resources: [builds]}]", &n));
    /* single non-covered rule among several */
    assert_false(covers(a,
                        "[{verbs: [get], apiGroups: [v1], resources: [builds]},"
                        " {verbs: [list], apiGroups: [v1], resources: [builds]}]",
                        "[{verbs: [get, list, delete], apiGroups: [v1], resources: [builds, "
                        "pods]}]",
                        &n));
    assert_int_equal(n, 4); /* delete builds, get/list/delete pods */
    /* star verb, star group, star resource */
    assert_true(covers(a, "[{verbs: ['*'], apiGroups: ['*'], resources: ['*']}]",
                       "[{verbs: [get, list], apiGroups: [a, b], resources: [x/y, z]}]", &n));
    /* "*\/subresource" covers every resource's subresource */
    assert_true(covers(a, "[{verbs: [get], apiGroups: [''], resources: ['*/status']}]",
                       "[{verbs: [get], apiGroups: [''], resources: [pods/status]}]", &n));
    assert_false(covers(a, "[{verbs: [get], apiGroups: [''], resources: ['*/status']}]",
                        "[{verbs: [get], apiGroups: [''], resources: [pods]}]", &n));
    /* resource names */
    assert_true(covers(a, "[{verbs: [get], apiGroups: [''], resources: [pods]}]",
                       "[{verbs: [get], apiGroups: [''], resources: [pods], resourceNames: [a]}]",
                       &n));
    assert_false(covers(a,
                        "[{verbs: [get], apiGroups: [''], resources: [pods], resourceNames: "
                        "[a]}]",
                        "[{verbs: [get], apiGroups: [''], resources: [pods]}]", &n));
    assert_false(covers(a,
                        "[{verbs: [get], apiGroups: [''], resources: [pods], resourceNames: "
                        "[a]}]",
                        "[{verbs: [get], apiGroups: [''], resources: [pods], resourceNames: "
                        "[a, b]}]",
                        &n));
    assert_int_equal(n, 1);
    /* non-resource URLs, exact and prefix */
    assert_true(covers(a, "[{verbs: [get], nonResourceURLs: ['/foo/*']}]",
                       "[{verbs: [get], nonResourceURLs: [/foo/bar, '/foo/baz/*']}]", &n));
    assert_false(covers(a, "[{verbs: [get], nonResourceURLs: ['/foo/*']}]",
                        "[{verbs: [get], nonResourceURLs: [/foo]}]", &n));
    assert_true(covers(a, "[{verbs: ['*'], nonResourceURLs: ['*']}]",
                       "[{verbs: [get], nonResourceURLs: [/healthz]}]", &n));
    kr_arena_destroy(&a);
}

/* ---- escalation (escalation_check_test.go, the policybased storages) ---------------- */

static const char escalation_policy[] =
    "roles:\n"
    "- metadata: {name: pod-reader, namespace: team}\n"
    "  rules: [{verbs: [get], apiGroups: [''], resources: [pods]}]\n"
    "- metadata: {name: pod-admin, namespace: team}\n"
    "  rules: [{verbs: ['*'], apiGroups: [''], resources: [pods]}]\n"
    "clusterRoles:\n"
    "- metadata: {name: escalator}\n"
    "  rules: [{verbs: [escalate], apiGroups: [rbac.authorization.k8s.io], resources: [roles]}]\n"
    "- metadata: {name: binder}\n"
    "  rules: [{verbs: [bind], apiGroups: [rbac.authorization.k8s.io], resources: [roles],\n"
    "           resourceNames: [pod-admin]}]\n"
    "- metadata: {name: cluster-admin}\n"
    "  rules: [{verbs: ['*'], apiGroups: ['*'], resources: ['*']},\n"
    "          {verbs: ['*'], nonResourceURLs: ['*']}]\n"
    "roleBindings:\n"
    "- metadata: {name: bob-reads, namespace: team}\n"
    "  roleRef: {kind: Role, name: pod-reader}\n"
    "  subjects: [{kind: User, name: bob}, {kind: User, name: eve}, {kind: User, name: ben}]\n"
    "- metadata: {name: eve-escalates, namespace: team}\n"
    "  roleRef: {kind: ClusterRole, name: escalator}\n"
    "  subjects: [{kind: User, name: eve}]\n"
    "- metadata: {name: ben-binds, namespace: team}\n"
    "  roleRef: {kind: ClusterRole, name: binder}\n"
    "  subjects: [{kind: User, name: ben}]\n"
    "clusterRoleBindings:\n"
    "- metadata: {name: admins}\n"
    "  roleRef: {kind: ClusterRole, name: cluster-admin}\n"
    "  subjects: [{kind: User, name: root}]\n";

static void test_escalation_roles(void **state)
{
    (void)state;
    rbac_snap_t *s = snap_yaml(escalation_policy);
    kr_arena_t *a = kr_arena_new(0);
    user_buf_t ub;
    kr_error_t err;
    const kr_value_t *role = obj_yaml(
        a, "metadata: {name: more, namespace: team}\n"
           "rules: [{verbs: [get, list, watch], apiGroups: ['', apps], resources: [pods]}]\n");
    /* a subset of what bob holds: allowed */
    const kr_value_t *less = obj_yaml(
        a, "metadata: {name: less, namespace: team}\n"
           "rules: [{verbs: [get], apiGroups: [''], resources: [pods], resourceNames: [p]}]\n");
    assert_int_equal(
        rbac_check_grant(s, mkuser(&ub, "bob", "system:authenticated"), "Role", less, a, &err), 0);
    /* more than bob holds: refused, compacted and sorted as upstream prints it */
    assert_true(
        rbac_check_grant(s, mkuser(&ub, "bob", "system:authenticated"), "Role", role, a, &err) < 0);
    assert_int_equal(err.reason, KR_E_FORBIDDEN);
    assert_string_equal(
        err.message, "user \"bob\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC "
                     "permissions not currently held:\n"
                     "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"list\" \"watch\"]}\n"
                     "{APIGroups:[\"apps\"], Resources:[\"pods\"], Verbs:[\"get\" \"list\" "
                     "\"watch\"]}");
    /* in another namespace bob holds nothing */
    const kr_value_t *elsewhere =
        obj_yaml(a, "metadata: {name: less, namespace: other}\n"
                    "rules: [{verbs: [get], apiGroups: [''], resources: [pods]}]\n");
    assert_true(rbac_check_grant(s, mkuser(&ub, "bob", ""), "Role", elsewhere, a, &err) < 0);
    assert_string_equal(
        err.message,
        "user \"bob\" (groups=[]) is attempting to grant RBAC permissions not currently "
        "held:\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\"]}");
    /* escalate on roles: allowed whatever the rules */
    assert_int_equal(rbac_check_grant(s, mkuser(&ub, "eve", ""), "Role", role, a, &err), 0);
    /* ... in its namespace only */
    const kr_value_t *eve_other =
        obj_yaml(a, "metadata: {name: x, namespace: other}\n"
                    "rules: [{verbs: [get], apiGroups: [''], resources: [pods]}]\n");
    assert_true(rbac_check_grant(s, mkuser(&ub, "eve", ""), "Role", eve_other, a, &err) < 0);
    /* system:masters: anything */
    assert_int_equal(rbac_check_grant(s, mkuser(&ub, "x", "system:masters"), "Role", role, a, &err),
                     0);
    /* a ClusterRole is checked against cluster-wide rules */
    const kr_value_t *crole =
        obj_yaml(a, "metadata: {name: c}\n"
                    "rules: [{verbs: [get], apiGroups: [''], resources: [pods]}]\n");
    assert_true(rbac_check_grant(s, mkuser(&ub, "bob", ""), "ClusterRole", crole, a, &err) < 0);
    assert_non_null(strstr(err.message, "user \"bob\" (groups=[]) is attempting to grant"));
    assert_int_equal(rbac_check_grant(s, mkuser(&ub, "root", ""), "ClusterRole", crole, a, &err),
                     0);
    /* an aggregationRule needs * on *.* */
    const kr_value_t *agg =
        obj_yaml(a, "metadata: {name: agg}\n"
                    "aggregationRule: {clusterRoleSelectors: [{matchLabels: {a: b}}]}\n");
    assert_true(rbac_check_grant(s, mkuser(&ub, "bob", ""), "ClusterRole", agg, a, &err) < 0);
    assert_string_equal(err.message,
                        "must have cluster-admin privileges to use the aggregationRule");
    assert_int_equal(rbac_check_grant(s, mkuser(&ub, "root", ""), "ClusterRole", agg, a, &err), 0);
    kr_arena_destroy(&a);
    rbac_snap_destroy(&s);
}

static void test_escalation_bindings(void **state)
{
    (void)state;
    rbac_snap_t *s = snap_yaml(escalation_policy);
    kr_arena_t *a = kr_arena_new(0);
    user_buf_t ub;
    kr_error_t err;
    const kr_value_t *to_reader =
        obj_yaml(a, "metadata: {name: b1, namespace: team}\n"
                    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}\n"
                    "subjects: [{kind: User, name: amy}]\n");
    const kr_value_t *to_admin =
        obj_yaml(a, "metadata: {name: b2, namespace: team}\n"
                    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-admin}\n"
                    "subjects: [{kind: User, name: amy}]\n");
    /* bob holds pod-reader's rules: may bind it, not pod-admin */
    assert_int_equal(rbac_check_grant(s, mkuser(&ub, "bob", ""), "RoleBinding", to_reader, a, &err),
                     0);
    assert_true(rbac_check_grant(s, mkuser(&ub, "bob", ""), "RoleBinding", to_admin, a, &err) < 0);
    assert_int_equal(err.reason, KR_E_FORBIDDEN);
    assert_string_equal(
        err.message,
        "user \"bob\" (groups=[]) is attempting to grant RBAC permissions not currently "
        "held:\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"*\"]}");
    /* ben may "bind" pod-admin by name */
    assert_int_equal(rbac_check_grant(s, mkuser(&ub, "ben", ""), "RoleBinding", to_admin, a, &err),
                     0);
    /* a role that is not there */
    const kr_value_t *dangling = obj_yaml(
        a, "metadata: {name: b3}\n"
           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: nope}\n");
    assert_true(
        rbac_check_grant(s, mkuser(&ub, "bob", ""), "ClusterRoleBinding", dangling, a, &err) < 0);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
    assert_string_equal(err.message, "clusterroles.rbac.authorization.k8s.io \"nope\" not found");
    /* a ClusterRoleBinding to cluster-admin: root yes, bob no */
    const kr_value_t *crb =
        obj_yaml(a, "metadata: {name: b4}\n"
                    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "
                    "cluster-admin}\n");
    assert_int_equal(
        rbac_check_grant(s, mkuser(&ub, "root", ""), "ClusterRoleBinding", crb, a, &err), 0);
    assert_true(
        rbac_check_grant(s, mkuser(&ub, "bob", "g1,g2"), "ClusterRoleBinding", crb, a, &err) < 0);
    assert_string_equal(
        err.message,
        "user \"bob\" (groups=[\"g1\" \"g2\"]) is attempting to grant RBAC permissions "
        "not currently held:\n{APIGroups:[\"*\"], Resources:[\"*\"], "
        "Verbs:[\"*\"]}\n{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}");
    assert_true(rbac_check_grant(s, mkuser(&ub, "bob", ""), "Pod", crb, a, &err) < 0);
    kr_arena_destroy(&a);
    rbac_snap_destroy(&s);
}

/* ---- the index with many bindings ------------------------------------------------------ */

static void test_index_many(void **state)
{
    (void)state;
    enum { N = 1000 };
    kr_arena_t *a = kr_arena_new(0);
    rbac_snap_t *s = rbac_snap_new();
    for (int i = 0; i < N; i++) {
        char y[512];
        /* role i lets user-i get the configmap cm-i in ns-(i%10) */
        snprintf(y, sizeof y,
                 "metadata: {name: role-%d, namespace: ns-%d}\n"
                 "rules: [{verbs: [get], apiGroups: [''], resources: [configmaps], "
                 "resourceNames: [cm-%d]}]\n",
                 i, i % 10, i);
        rbac_snap_add(s, "Role", obj_yaml(a, y));
        snprintf(y, sizeof y,
                 "metadata: {name: rb-%d, namespace: ns-%d}\n"
                 "roleRef: {kind: Role, name: role-%d}\n"
                 "subjects: [{kind: User, name: user-%d}, {kind: Group, name: team-%d}]\n",
                 i, i % 10, i, i, i % 7);
        rbac_snap_add(s, "RoleBinding", obj_yaml(a, y));
        snprintf(y, sizeof y,
                 "metadata: {name: crb-%d}\n"
                 "roleRef: {kind: ClusterRole, name: cr-%d}\n"
                 "subjects: [{kind: User, name: user-%d}]\n",
                 i, i, i);
        rbac_snap_add(s, "ClusterRoleBinding", obj_yaml(a, y));
        snprintf(y, sizeof y,
                 "metadata: {name: cr-%d}\n"
                 "rules: [{verbs: [list], apiGroups: [''], resources: [nodes], resourceNames: "
                 "[node-%d]}]\n",
                 i, i);
        rbac_snap_add(s, "ClusterRole", obj_yaml(a, y));
    }
    rbac_snap_finish(s);
    assert_int_equal(rbac_snap_count(s, "RoleBinding"), N);
    assert_int_equal(rbac_snap_count(s, "ClusterRole"), N);
    for (int i = 0; i < N; i++) {
        char user[32], ns[32], cm[32], other_ns[32], node[32], group[32];
        snprintf(user, sizeof user, "user-%d", i);
        snprintf(ns, sizeof ns, "ns-%d", i % 10);
        snprintf(other_ns, sizeof other_ns, "ns-%d", (i + 1) % 10);
        snprintf(cm, sizeof cm, "cm-%d", i);
        snprintf(node, sizeof node, "node-%d", i);
        snprintf(group, sizeof group, "team-%d", i % 7);
        char reason[256], want[256];
        assert_int_equal(
            res_req(s, user, "", "get", "", "configmaps", NULL, ns, cm, reason, sizeof reason),
            KR_AUTHZ_ALLOW);
        snprintf(want, sizeof want,
                 "RBAC: allowed by RoleBinding \"rb-%d/%s\" of Role \"role-%d\" to User \"%s\"", i,
                 ns, i, user);
        assert_string_equal(reason, want);
        assert_int_equal(res_req(s, user, "", "get", "", "configmaps", NULL, other_ns, cm, NULL, 0),
                         KR_AUTHZ_NO_OPINION);
        assert_int_equal(res_req(s, user, "", "list", "", "nodes", NULL, "", node, NULL, 0),
                         KR_AUTHZ_ALLOW);
        assert_int_equal(res_req(s, "stranger", "", "list", "", "nodes", NULL, "", node, NULL, 0),
                         KR_AUTHZ_NO_OPINION);
        /* through the group: the first binding of that group in the namespace
         * that holds this configmap is rb-i's */
        assert_int_equal(res_req(s, "someone", group, "get", "", "configmaps", NULL, ns, cm, reason,
                                 sizeof reason),
                         KR_AUTHZ_ALLOW);
        snprintf(want, sizeof want,
                 "RBAC: allowed by RoleBinding \"rb-%d/%s\" of Role \"role-%d\" to Group \"%s\"", i,
                 ns, i, group);
        assert_string_equal(reason, want);
    }
    kr_arena_destroy(&a);
    rbac_snap_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authorizer_bindings),
        cmocka_unit_test(test_authorizer_non_resource_urls),
        cmocka_unit_test(test_authorizer_subresources),
        cmocka_unit_test(test_rule_matches),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_masters),
        cmocka_unit_test(test_rules_review),
        cmocka_unit_test(test_covers),
        cmocka_unit_test(test_escalation_roles),
        cmocka_unit_test(test_escalation_bindings),
        cmocka_unit_test(test_index_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
