/* rbac.authorization.k8s.io/v1: defaults and validation of Role,
 * ClusterRole, RoleBinding and ClusterRoleBinding (core/builtin_rbac.c),
 * with the cases and messages of upstream's
 * pkg/apis/rbac/validation/validation_test.go. */
#include "harness.h"

#define RBAC "rbac.authorization.k8s.io"

static void test_role(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *r = Y("{metadata: {name: 'system:pod-reader'},"
                      " rules: [{verbs: [get, list], apiGroups: [''], resources: [pods]}]}");
    create("role", r, "default", &v);
    assert_valid(&v);
    /* a Role may grant nothing (rules is optional) */
    create("role", Y("{metadata: {name: empty}}"), "default", &v);
    assert_valid(&v);

    /* ValidateRBACName: a path segment, nothing more */
    create("role", Y("{metadata: {name: 'a/b%c'}}"), "default", &v);
    assert_cause(&v, "metadata.name: Invalid value: \"a/b%c\": may not contain '/'");
    assert_cause(&v, "metadata.name: Invalid value: \"a/b%c\": may not contain '%'");
    create("role", Y("{metadata: {name: '..'}}"), "default", &v);
    assert_cause(&v, "metadata.name: Invalid value: \"..\": may not be '..'");
    create("role", Y("{metadata: {name: r}}"), NULL, &v);
    assert_cause(&v, "metadata.namespace: Required value");

    /* ValidatePolicyRule in a namespace */
    kr_value_t *bad = Y("{metadata: {name: r}, rules: ["
                        " {apiGroups: [''], resources: [pods]},"
                        " {verbs: [get], nonResourceURLs: ['/healthz']},"
                        " {verbs: [get]},"
                        " {verbs: [get], apiGroups: [''], resources: [pods, secrets],"
                        "  resourceNames: [x]}]}");
    create("role", bad, "default", &v);
    assert_cause(&v, "rules[0].verbs: Required value: verbs must contain at least one value");
    assert_cause(&v, "rules[1].nonResourceURLs: Invalid value: []string{\"/healthz\"}: "
                     "namespaced rules cannot apply to non-resource URLs");
    assert_cause(&v, "rules[2].apiGroups: Required value: resource rules must supply at least "
                     "one api group");
    assert_cause(&v, "rules[2].resources: Required value: resource rules must supply at least "
                     "one resource");
    /* resource names over several resources are allowed since 1.13 */
    assert_int_equal(kr_validation_count(&v), 4);
    assert_string_equal(message(&v, RBAC, "Role", "r"),
                        "Role.rbac.authorization.k8s.io \"r\" is invalid: [rules[0].verbs: "
                        "Required value: verbs must contain at least one value, "
                        "rules[1].nonResourceURLs: Invalid value: []string{\"/healthz\"}: "
                        "namespaced rules cannot apply to non-resource URLs, rules[2].apiGroups: "
                        "Required value: resource rules must supply at least one api group, "
                        "rules[2].resources: Required value: resource rules must supply at least "
                        "one resource]");

    /* an update runs the create checks and the metadata update checks */
    kr_value_t *upd = kr_value_copy(arena, r);
    kr_value_set(arena, upd, "rules[0].verbs", Y("[]"), NULL);
    update("role", upd, r, &v);
    assert_cause(&v, "rules[0].verbs: Required value: verbs must contain at least one value");
    upd = kr_value_copy(arena, r);
    kr_value_set(arena, upd, "rules[0].verbs", Y("['*']"), NULL);
    update("role", upd, r, &v);
    assert_valid(&v);
}

static void test_clusterrole(void **state)
{
    (void)state;
    kr_validation_t v;
    /* cluster-wide rules may name non-resource URLs, alone */
    kr_value_t *cr = Y("{metadata: {name: 'system:discovery'}, rules: ["
                       " {verbs: [get], nonResourceURLs: ['/api', '/api/*', '/healthz']},"
                       " {verbs: ['*'], apiGroups: ['*'], resources: ['*']}]}");
    create("clusterrole", cr, NULL, &v);
    assert_valid(&v);
    create("clusterrole", Y("{metadata: {name: c, namespace: default}}"), NULL, &v);
    assert_cause(&v, "metadata.namespace: Forbidden: not allowed on this type");
    kr_value_t *bad = Y("{metadata: {name: c}, rules: ["
                        " {verbs: [get], nonResourceURLs: ['/x'], apiGroups: ['']}]}");
    create("clusterrole", bad, NULL, &v);
    assert_int_equal(kr_validation_count(&v), 1);
    assert_cause(&v, "rules[0].nonResourceURLs: Invalid value: []string{\"/x\"}: rules cannot "
                     "apply to both regular resources and non-resource URLs");

    /* aggregationRule: at least one selector, each a valid one */
    kr_value_t *agg = Y("{metadata: {name: monitoring}, aggregationRule: {clusterRoleSelectors: ["
                        " {matchLabels: {rbac.example.com/aggregate-to-monitoring: 'true'}}]}}");
    create("clusterrole", agg, NULL, &v);
    assert_valid(&v);
    create("clusterrole",
           Y("{metadata: {name: monitoring}, aggregationRule: {clusterRoleSelectors: []}}"), NULL,
           &v);
    assert_cause(&v, "aggregationRule.clusterRoleSelectors: Required value: at least one "
                     "clusterRoleSelector required if aggregationRule is non-nil");
    create("clusterrole", Y("{metadata: {name: monitoring}, aggregationRule: {}}"), NULL, &v);
    assert_cause(&v, "aggregationRule.clusterRoleSelectors: Required value: at least one "
                     "clusterRoleSelector required if aggregationRule is non-nil");
    create("clusterrole",
           Y("{metadata: {name: monitoring}, aggregationRule: {clusterRoleSelectors: ["
             " {matchExpressions: [{key: a, operator: Foo}]}]}}"),
           NULL, &v);
    assert_cause(&v, "aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator: "
                     "Invalid value: \"Foo\": not a valid selector operator");
    assert_cause(&v, "aggregationRule.clusterRoleSelectors[0]: Invalid value: \"null\": invalid "
                     "label selector.");
    create("clusterrole",
           Y("{metadata: {name: monitoring}, aggregationRule: {clusterRoleSelectors: ["
             " {matchLabels: {'a b': c}}]}}"),
           NULL, &v);
    assert_cause_prefix(&v, "aggregationRule.clusterRoleSelectors[0].matchLabels: Invalid value: "
                            "\"a b\": name part must consist of alphanumeric characters");
}

static void test_binding_defaults(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *rb = Y("{metadata: {name: read-pods}, roleRef: {kind: Role, name: pod-reader},"
                       " subjects: [{kind: User, name: jane}, {kind: Group, name: devs},"
                       " {kind: ServiceAccount, name: robot}]}");
    create("rolebinding", rb, "default", &v);
    assert_valid(&v);
    assert_tree(kr_value_get(rb, "roleRef"),
                "{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}");
    assert_tree(kr_value_get(rb, "subjects"),
                "[{kind: User, name: jane, apiGroup: rbac.authorization.k8s.io},"
                " {kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io},"
                " {kind: ServiceAccount, name: robot}]");
    /* a given apiGroup stays (and is then checked) */
    kr_value_t *crb = Y("{metadata: {name: x}, roleRef: {apiGroup: foo, kind: ClusterRole,"
                        " name: view}, subjects: [{kind: User, name: u, apiGroup: bar}]}");
    create("clusterrolebinding", crb, NULL, &v);
    assert_string_equal(kr_value_as_str(kr_value_get(crb, "roleRef.apiGroup")), "foo");
    assert_cause(&v, "roleRef.apiGroup: Unsupported value: \"foo\": supported values: "
                     "\"rbac.authorization.k8s.io\"");
    assert_cause(&v, "subjects[0].apiGroup: Unsupported value: \"bar\": supported values: "
                     "\"rbac.authorization.k8s.io\"");
    /* no roleRef at all: upstream's empty struct, defaulted, then refused */
    kr_value_t *none = Y("{metadata: {name: x}}");
    create("clusterrolebinding", none, NULL, &v);
    assert_int_equal(kr_validation_count(&v), 2);
    assert_cause(&v, "roleRef.kind: Unsupported value: \"\": supported values: \"ClusterRole\"");
    assert_cause(&v, "roleRef.name: Required value");
}

static void test_binding_errors(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *rb =
        Y("{metadata: {name: b}, roleRef: {kind: Foo, name: 'a/b'}, subjects: ["
          " {kind: Robot, name: r},"
          " {kind: ServiceAccount, name: Bad_Name, apiGroup: rbac.authorization.k8s.io},"
          " {kind: User, name: ''},"
          " {kind: ServiceAccount, name: sa}]}");
    create("rolebinding", rb, "default", &v);
    assert_cause(&v, "roleRef.kind: Unsupported value: \"Foo\": supported values: \"Role\", "
                     "\"ClusterRole\"");
    assert_cause(&v, "roleRef.name: Invalid value: \"a/b\": may not contain '/'");
    assert_cause(&v, "subjects[0].kind: Unsupported value: \"Robot\": supported values: "
                     "\"ServiceAccount\", \"User\", \"Group\"");
    assert_cause_prefix(&v, "subjects[1].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 "
                            "subdomain must consist of");
    assert_cause(&v, "subjects[1].apiGroup: Unsupported value: \"rbac.authorization.k8s.io\": "
                     "supported values: \"\"");
    assert_cause(&v, "subjects[2].name: Required value");
    /* a RoleBinding's ServiceAccount may leave out its namespace */
    assert_int_equal(kr_validation_count(&v), 6);

    /* a ClusterRoleBinding: ClusterRoles only, ServiceAccounts with their
     * namespace */
    kr_value_t *crb = Y("{metadata: {name: b}, roleRef: {kind: Role, name: r}, subjects: ["
                        " {kind: ServiceAccount, name: sa},"
                        " {kind: ServiceAccount, name: sa, namespace: kube-system}]}");
    create("clusterrolebinding", crb, NULL, &v);
    assert_int_equal(kr_validation_count(&v), 2);
    assert_cause(&v, "roleRef.kind: Unsupported value: \"Role\": supported values: "
                     "\"ClusterRole\"");
    assert_cause(&v, "subjects[0].namespace: Required value");
    create("clusterrolebinding",
           Y("{metadata: {name: b, namespace: default},"
             " roleRef: {kind: ClusterRole, name: view}}"),
           NULL, &v);
    assert_cause(&v, "metadata.namespace: Forbidden: not allowed on this type");
}

static void test_binding_update(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *old = Y("{metadata: {name: b}, roleRef: {kind: ClusterRole, name: view},"
                        " subjects: [{kind: User, name: jane}]}");
    create("rolebinding", old, "default", &v);
    assert_valid(&v);
    /* subjects may change */
    kr_value_t *upd = kr_value_copy(arena, old);
    kr_value_set(arena, upd, "subjects", Y("[{kind: Group, name: devs}]"), NULL);
    update("rolebinding", upd, old, &v);
    assert_valid(&v);
    /* the role may not */
    upd = kr_value_copy(arena, old);
    kr_value_set(arena, upd, "roleRef.name", kr_value_str(arena, "edit"), NULL);
    update("rolebinding", upd, old, &v);
    assert_int_equal(kr_validation_count(&v), 1);
    assert_string_equal(message(&v, RBAC, "RoleBinding", "b"),
                        "RoleBinding.rbac.authorization.k8s.io \"b\" is invalid: roleRef: "
                        "Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", "
                        "Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef");
    /* a roleRef without apiGroup is the same role once defaulted */
    kr_value_t *cold = Y("{metadata: {name: c}, roleRef: {kind: ClusterRole, name: view}}");
    create("clusterrolebinding", cold, NULL, &v);
    upd = Y("{metadata: {name: c}, roleRef: {kind: ClusterRole, name: view}}");
    update("clusterrolebinding", upd, cold, &v);
    assert_valid(&v);
    upd = Y("{metadata: {name: c}, roleRef: {kind: ClusterRole, name: view, apiGroup: x}}");
    update("clusterrolebinding", upd, cold, &v);
    assert_cause(&v, "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"x\", Kind:\"ClusterRole\", "
                     "Name:\"view\"}: cannot change roleRef");
}

/* validation_test.go's tables (TestValidateClusterRoleBinding,
 * TestValidateRoleBinding, the role tests): each bad object has errors of
 * one type, all at one field. */
static void test_upstream_tables(void **state)
{
    (void)state;
    static const struct {
        const char *kind, *ns, *obj, *reason, *field;
    } cases[] = {
        /* a valid one of each, reason NULL */
        {"clusterrolebinding", NULL,
         "{metadata: {name: master}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "ClusterRole, name: valid}, subjects: [{name: validsaname, namespace: foo, kind: "
         "ServiceAccount}, {name: valid@username, kind: User}, {name: valid@groupname, kind: "
         "Group}]}",
         NULL, NULL},
        {"rolebinding", "default",
         "{metadata: {name: master}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, "
         "name: valid}, subjects: [{name: validsaname, kind: ServiceAccount}, {name: "
         "valid@username, kind: User}, {name: valid@groupname, kind: Group}]}",
         NULL, NULL},
        {"clusterrole", NULL,
         "{metadata: {name: default}, rules: [{verbs: [get], "
         "nonResourceURLs: ['/*']}]}",
         NULL, NULL},
        {"role", "default",
         "{metadata: {name: default}, rules: [{verbs: [get], apiGroups: [v1], "
         "resources: [pods]}]}",
         NULL, NULL},
        /* bad group, bad kind, a Role from a ClusterRoleBinding, no name */
        {"clusterrolebinding", NULL,
         "{metadata: {name: default}, roleRef: {apiGroup: rbac.GroupName, kind: ClusterRole, "
         "name: valid}}",
         "FieldValueNotSupported", "roleRef.apiGroup"},
        {"clusterrolebinding", NULL,
         "{metadata: {name: default}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "Type, name: valid}}",
         "FieldValueNotSupported", "roleRef.kind"},
        {"clusterrolebinding", NULL,
         "{metadata: {name: default}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "Role, name: valid}}",
         "FieldValueNotSupported", "roleRef.kind"},
        {"clusterrolebinding", NULL,
         "{metadata: {}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, "
         "name: valid}}",
         "FieldValueRequired", "metadata.name"},
        {"clusterrolebinding", NULL,
         "{metadata: {name: default}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "ClusterRole}}",
         "FieldValueRequired", "roleRef.name"},
        {"clusterrolebinding", NULL,
         "{metadata: {name: master}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "ClusterRole, name: valid}, subjects: [{name: subject}]}",
         "FieldValueNotSupported", "subjects[0].kind"},
        {"clusterrolebinding", NULL,
         "{metadata: {name: master}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "ClusterRole, name: valid}, subjects: [{namespace: foo, name: 'subject:bad', kind: "
         "ServiceAccount}]}",
         "FieldValueInvalid", "subjects[0].name"},
        {"clusterrolebinding", NULL,
         "{metadata: {name: master}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "ClusterRole, name: valid}, subjects: [{name: good, kind: ServiceAccount}]}",
         "FieldValueRequired", "subjects[0].namespace"},
        {"clusterrolebinding", NULL,
         "{metadata: {name: master}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "ClusterRole, name: valid}, subjects: [{namespace: foo, kind: ServiceAccount}]}",
         "FieldValueRequired", "subjects[0].name"},
        {"rolebinding", "default",
         "{metadata: {name: default}, roleRef: {apiGroup: rbac.GroupName, kind: ClusterRole, "
         "name: valid}}",
         "FieldValueNotSupported", "roleRef.apiGroup"},
        {"rolebinding", "default",
         "{metadata: {name: default}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "Type, name: valid}}",
         "FieldValueNotSupported", "roleRef.kind"},
        {"rolebinding", NULL,
         "{metadata: {name: default}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "
         "Role, name: valid}}",
         "FieldValueRequired", "metadata.namespace"},
        {"rolebinding", "default",
         "{metadata: {name: master}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, "
         "name: valid}, subjects: [{name: 'subject:bad', kind: ServiceAccount}]}",
         "FieldValueInvalid", "subjects[0].name"},
        {"rolebinding", "default",
         "{metadata: {name: master}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, "
         "name: valid}, subjects: [{kind: ServiceAccount}]}",
         "FieldValueRequired", "subjects[0].name"},
        {"role", NULL, "{metadata: {name: default}}", "FieldValueRequired", "metadata.namespace"},
        {"role", "default", "{metadata: {}}", "FieldValueRequired", "metadata.name"},
        {"role", "default",
         "{metadata: {name: default}, rules: [{verbs: [get], "
         "nonResourceURLs: ['/*']}]}",
         "FieldValueInvalid", "rules[0].nonResourceURLs"},
        {"clusterrole", NULL,
         "{metadata: {name: default}, rules: [{verbs: [], "
         "nonResourceURLs: ['/*']}]}",
         "FieldValueRequired", "rules[0].verbs"},
        {"role", "default",
         "{metadata: {name: default}, rules: [{verbs: [get], "
         "nonResourceURLs: ['/*'], apiGroups: [v1], resources: [pods]}]}",
         "FieldValueInvalid", "rules[0].nonResourceURLs"},
        {"role", "default",
         "{metadata: {name: default}, rules: [{verbs: [get], resources: "
         "[pods]}]}",
         "FieldValueRequired", "rules[0].apiGroups"},
        {"role", "default",
         "{metadata: {name: default}, rules: [{verbs: [get], apiGroups: "
         "[v1]}]}",
         "FieldValueRequired", "rules[0].resources"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kr_validation_t v;
        kr_value_t *obj = Y(cases[i].obj);
        create(cases[i].kind, obj, cases[i].ns, &v);
        /* ns NULL: no namespace at all (a namespaced kind's error case) */
        if (cases[i].reason == NULL) {
            assert_valid(&v);
            continue;
        }
        if (kr_validation_count(&v) == 0)
            fail_msg("case %zu (%s): no error", i, cases[i].obj);
        for (size_t j = 0; j < kr_validation_count(&v); j++) {
            const kr_value_t *c = kr_value_array_get(v.causes, j);
            if (strcmp(kr_value_map_str(c, "reason"), cases[i].reason) != 0 ||
                strcmp(kr_value_map_str(c, "field"), cases[i].field) != 0)
                fail_msg("case %zu (%s): %s", i, cases[i].obj, to_json(v.causes));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clusterrole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binding_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binding_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binding_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_tables, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
