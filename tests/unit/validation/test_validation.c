/* The field-error collector and the shared rules (core/validation.c): the
 * exact texts the API server answers (field.Error.ErrorBody, NewInvalid,
 * apimachinery's util/validation messages) and ObjectMeta validation. */
#include "harness.h"

#define SUBDOMAIN_MSG                                                                             \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "  \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used " \
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define LABEL_MSG                                                                                \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and " \
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "   \
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define DNS1035_MSG                                                                              \
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an " \
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "         \
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
#define QNAME_PART_MSG                                                                             \
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "  \
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for " \
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"

static kr_validation_t fresh(void)
{
    kr_validation_t v;
    kr_validation_init(&v, arena);
    return v;
}

/* ---- field.Error bodies --------------------------------------------------- */

static void test_error_bodies(void **state)
{
    (void)state;
    kr_validation_t v = fresh();
    kr_field_required(&v, "spec.containers", NULL);
    kr_field_required(&v, "metadata.name", "name or generateName is required");
    kr_field_invalid(&v, "spec.replicas", kr_value_int(arena, -1),
                     "must be greater than or equal to 0");
    static const char *const rps[] = {"Always", "OnFailure", "Never", NULL};
    kr_field_not_supported(&v, "spec.restartPolicy", kr_value_str(arena, "Sometimes"), rps);
    kr_field_duplicate(&v, "spec.containers[1].name", kr_value_str(arena, "web"));
    kr_field_forbidden(&v, "spec.ephemeralContainers", "cannot be set on create");
    kr_field_error(&v, KR_FIELD_NOT_FOUND, "spec.containers[0].volumeMounts[0].name",
                   kr_value_str(arena, "data"), NULL);
    kr_field_error(&v, KR_FIELD_TOO_LONG, "metadata.annotations", kr_value_str(arena, "x"),
                   "must have at most %d bytes", 262144);
    kr_field_error(&v, KR_FIELD_TOO_MANY, "spec.items", kr_value_int(arena, 5),
                   "must have at most %d items", 4);
    kr_field_invalid(&v, "spec.activeDeadlineSeconds", NULL,
                     "must not update from a positive integer to nil value");
    kr_field_invalid(&v, "spec.enabled", kr_value_bool(arena, true), "must be false");
    kr_field_invalid(&v, "spec.ratio", kr_value_float(arena, 1.5), "must be whole");
    assert_int_equal(kr_validation_count(&v), 12);
    assert_false(kr_validation_ok(&v));
    assert_cause(&v, "spec.containers: Required value");
    assert_cause(&v, "metadata.name: Required value: name or generateName is required");
    assert_cause(&v, "spec.replicas: Invalid value: -1: must be greater than or equal to 0");
    assert_cause(&v, "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: "
                     "\"Always\", \"OnFailure\", \"Never\"");
    assert_cause(&v, "spec.containers[1].name: Duplicate value: \"web\"");
    assert_cause(&v, "spec.ephemeralContainers: Forbidden: cannot be set on create");
    assert_cause(&v, "spec.containers[0].volumeMounts[0].name: Not found: \"data\"");
    /* Too long never prints the value */
    assert_cause(&v, "metadata.annotations: Too long: must have at most 262144 bytes");
    assert_cause(&v, "spec.items: Too many: 5: must have at most 4 items");
    assert_cause(&v, "spec.activeDeadlineSeconds: Invalid value: null: must not update from a "
                     "positive integer to nil value");
    assert_cause(&v, "spec.enabled: Invalid value: true: must be false");
    assert_cause(&v, "spec.ratio: Invalid value: 1.5: must be whole");
    /* the machine-readable reason of each cause */
    const kr_value_t *c = kr_value_array_get(v.causes, 3);
    assert_string_equal(kr_value_map_str(c, "reason"), "FieldValueNotSupported");
    assert_string_equal(kr_value_map_str(c, "field"), "spec.restartPolicy");
    assert_string_equal(kr_value_map_str(kr_value_array_get(v.causes, 0), "reason"),
                        "FieldValueRequired");
    assert_string_equal(kr_value_map_str(kr_value_array_get(v.causes, 7), "reason"),
                        "FieldValueTooLong");
}

static void test_bad_values_print_as_go(void **state)
{
    (void)state;
    kr_validation_t v = fresh();
    /* %q: quotes, backslashes, control characters escaped; UTF-8 kept */
    kr_field_invalid(&v, "a", kr_value_str(arena, "say \"hi\"\\\n\t\x01 \xc3\xa9"), "bad");
    assert_cause(&v, "a: Invalid value: \"say \\\"hi\\\"\\\\\\n\\t\\x01 \xc3\xa9\": bad");
    /* a stray byte is escaped */
    v = fresh();
    kr_field_invalid(&v, "a", kr_value_str(arena, "x\xffy"), "bad");
    assert_cause(&v, "a: Invalid value: \"x\\xffy\": bad");
    /* []string and map[string]string as fmt prints them (keys sorted) */
    v = fresh();
    kr_field_invalid(&v, "spec.clusterIPs", Y("[10.0.0.1, 10.0.0.2]"), "x");
    kr_field_invalid(&v, "spec.template.metadata.labels", Y("{b: '2', a: '1'}"), "y");
    assert_cause(&v, "spec.clusterIPs: Invalid value: []string{\"10.0.0.1\", \"10.0.0.2\"}: x");
    assert_cause(&v, "spec.template.metadata.labels: Invalid value: "
                     "map[string]string{\"a\":\"1\", \"b\":\"2\"}: y");
}

/* ---- NewInvalid ------------------------------------------------------------- */

static void test_invalid_error_message(void **state)
{
    (void)state;
    kr_validation_t v = fresh();
    kr_field_required(&v, "spec.containers", NULL);
    kr_error_t err;
    assert_int_equal(kr_validation_error(&v, "", "Pod", "web", &err), -KR_E_INVALID);
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_string_equal(err.message, "Pod \"web\" is invalid: spec.containers: Required value");

    /* several: in brackets, each distinct text once */
    kr_field_invalid(&v, "spec.replicas", kr_value_int(arena, -1),
                     "must be greater than or equal to 0");
    kr_field_required(&v, "spec.containers", NULL);
    assert_string_equal(message(&v, "apps", "Deployment", "web"),
                        "Deployment.apps \"web\" is invalid: [spec.containers: Required value, "
                        "spec.replicas: Invalid value: -1: must be greater than or equal to 0]");
    /* but the details keep every cause */
    kr_value_t *d = kr_validation_details(&v, arena, "apps", "Deployment", "web");
    assert_tree(
        d, "name: web\n"
           "group: apps\n"
           "kind: Deployment\n"
           "causes:\n"
           "- {reason: FieldValueRequired, message: Required value, field: spec.containers}\n"
           "- reason: FieldValueInvalid\n"
           "  message: 'Invalid value: -1: must be greater than or equal to 0'\n"
           "  field: spec.replicas\n"
           "- {reason: FieldValueRequired, message: Required value, field: spec.containers}\n");
    /* the core group is left out */
    d = kr_validation_details(&v, arena, "", "Pod", "web");
    assert_null(kr_value_map_get(d, "group"));
    assert_string_equal(kr_value_map_str(d, "kind"), "Pod");

    /* nothing to report */
    kr_validation_t ok = fresh();
    assert_true(kr_validation_ok(&ok));
    assert_int_equal(kr_validation_error(&ok, "", "Pod", "web", &err), 0);
}

/* ---- names ---------------------------------------------------------------------- */

static void test_name_rules(void **state)
{
    (void)state;
    assert_null(kr_dns1123_subdomain_error("web.example-1"));
    assert_string_equal(kr_dns1123_subdomain_error("Web"), SUBDOMAIN_MSG);
    assert_string_equal(kr_dns1123_subdomain_error("a..b"), SUBDOMAIN_MSG);
    assert_string_equal(kr_dns1123_subdomain_error("-a"), SUBDOMAIN_MSG);
    char long_name[300];
    memset(long_name, 'a', 254);
    long_name[254] = '\0';
    assert_string_equal(kr_dns1123_subdomain_error(long_name),
                        "must be no more than 253 characters");

    assert_null(kr_dns1123_label_error("kube-system"));
    assert_string_equal(kr_dns1123_label_error("a.b"), "must not contain dots");
    assert_string_equal(kr_dns1123_label_error("My_NS"), LABEL_MSG);
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_string_equal(kr_dns1123_label_error(long_name), "must be no more than 63 characters");

    assert_null(kr_dns1035_label_error("my-svc"));
    assert_string_equal(kr_dns1035_label_error("1web"), DNS1035_MSG);
    assert_string_equal(kr_dns1035_label_error("web-"), DNS1035_MSG);

    assert_null(kr_path_segment_name_error("web.17c8f5e2a1b3"));
    assert_string_equal(kr_path_segment_name_error(".."), "may not be '..'");
    assert_string_equal(kr_path_segment_name_error("a/b"), "may not contain '/'");
    assert_string_equal(kr_path_segment_name_error("a%b"), "may not contain '%'");
}

static kr_value_t *meta(const char *yaml)
{
    return Y(yaml);
}

static void test_object_meta_names(void **state)
{
    (void)state;
    kr_validation_t v = fresh();
    kr_validate_object_meta(&v, meta("{name: A, namespace: default}"), NULL, true,
                            KR_NAME_DNS1123_SUBDOMAIN);
    assert_int_equal(kr_validation_count(&v), 1);
    assert_string_equal(
        message(&v, "", "Pod", "A"),
        "Pod \"A\" is invalid: metadata.name: Invalid value: \"A\": " SUBDOMAIN_MSG);

    v = fresh();
    kr_validate_object_meta(&v, meta("{namespace: default}"), NULL, true,
                            KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause(&v, "metadata.name: Required value: name or generateName is required");

    /* generateName may end in '-'; the generated name is checked too */
    v = fresh();
    kr_validate_object_meta(&v, meta("{generateName: web-, name: web-x7k2p, namespace: default}"),
                            NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_valid(&v);
    v = fresh();
    kr_validate_object_meta(&v, meta("{generateName: Web-, name: Web-x7k2p, namespace: default}"),
                            NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause(&v, "metadata.generateName: Invalid value: \"Web-\": " SUBDOMAIN_MSG);
    assert_cause(&v, "metadata.name: Invalid value: \"Web-x7k2p\": " SUBDOMAIN_MSG);

    /* namespace: required for namespaced kinds, refused for the others */
    v = fresh();
    kr_validate_object_meta(&v, meta("{name: web}"), NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause(&v, "metadata.namespace: Required value");
    v = fresh();
    kr_validate_object_meta(&v, meta("{name: web, namespace: Bad.NS}"), NULL, true,
                            KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause(&v, "metadata.namespace: Invalid value: \"Bad.NS\": " LABEL_MSG);
    v = fresh();
    kr_validate_object_meta(&v, meta("{name: node-1, namespace: default}"), NULL, false,
                            KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause(&v, "metadata.namespace: Forbidden: not allowed on this type");

    /* Namespace names are labels, Service names DNS-1035 labels */
    v = fresh();
    kr_validate_object_meta(&v, meta("{name: my.ns}"), NULL, false, KR_NAME_DNS1123_LABEL);
    assert_cause(&v, "metadata.name: Invalid value: \"my.ns\": must not contain dots");
    v = fresh();
    kr_validate_object_meta(&v, meta("{name: 1web, namespace: default}"), NULL, true,
                            KR_NAME_DNS1035_LABEL);
    assert_cause(&v, "metadata.name: Invalid value: \"1web\": " DNS1035_MSG);
}

static void test_object_meta_labels_annotations(void **state)
{
    (void)state;
    kr_validation_t v = fresh();
    kr_validate_object_meta(&v,
                            meta("name: web\nnamespace: default\nlabels:\n"
                                 "  app.kubernetes.io/name: web\n"
                                 "  'bad key': x\n"
                                 "  tier: 'not valid!'\n"
                                 "  /empty-prefix: x\n"
                                 "annotations:\n"
                                 "  Example.COM/Mixed-Case: ok\n"
                                 "  'a/b/c': x\n"),
                            NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_int_equal(kr_validation_count(&v), 4);
    assert_cause(&v, "metadata.labels: Invalid value: \"bad key\": " QNAME_PART_MSG);
    assert_cause(&v, "metadata.labels: Invalid value: \"not valid!\": a valid label must be an "
                     "empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                     "must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                     "'my_value',  or '12345', regex used for validation is "
                     "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
    assert_cause(&v, "metadata.labels: Invalid value: \"/empty-prefix\": prefix part must be "
                     "non-empty");
    assert_cause(&v, "metadata.annotations: Invalid value: \"a/b/c\": a qualified name must "
                     "consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                     "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                     "'123-abc', regex used for validation is "
                     "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
                     "prefix and '/' (e.g. 'example.com/MyName')");

    /* label values: at most 63 characters */
    char y[256];
    snprintf(y, sizeof y, "{name: web, namespace: default, labels: {app: '%0*d'}}", 64, 0);
    v = fresh();
    kr_validate_object_meta(&v, meta(y), NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause_prefix(&v, "metadata.labels: Invalid value: \"0000");
    assert_string_equal(kr_value_map_str(kr_value_array_get(v.causes, 0), "message") +
                            strlen(kr_value_map_str(kr_value_array_get(v.causes, 0), "message")) -
                            strlen("must be no more than 63 characters"),
                        "must be no more than 63 characters");

    /* annotations: 256 KiB in total */
    kr_value_t *m = meta("{name: web, namespace: default, annotations: {}}");
    size_t big = 256 * 1024 - 3;
    char *s = kr_arena_alloc(arena, big + 1);
    memset(s, 'x', big);
    s[big] = '\0';
    kr_value_map_set(arena, kr_value_map_get(m, "annotations"), "big", kr_value_str(arena, s));
    v = fresh();
    kr_validate_object_meta(&v, m, NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_valid(&v); /* 3 + 262141 bytes: exactly the limit */
    kr_value_map_set(arena, kr_value_map_get(m, "annotations"), "a", kr_value_str(arena, ""));
    v = fresh();
    kr_validate_object_meta(&v, m, NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause(&v, "metadata.annotations: Too long: must have at most 262144 bytes");
}

static void test_object_meta_owners_finalizers(void **state)
{
    (void)state;
    kr_validation_t v = fresh();
    kr_validate_object_meta(
        &v,
        meta("name: web\nnamespace: default\n"
             "ownerReferences:\n"
             "- {apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: u1, controller: true}\n"
             "- {apiVersion: apps/v1, kind: ReplicaSet, name: web-2, uid: u2, controller: true}\n"
             "- {apiVersion: '', kind: '', name: '', uid: ''}\n"
             "finalizers: [kubernetes, example.com/cleanup, mine, orphan, foregroundDeletion]\n"),
        NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause_prefix(&v, "metadata.ownerReferences: Invalid value: []v1.OwnerReference{"
                            "v1.OwnerReference{APIVersion:\"apps/v1\", Kind:\"ReplicaSet\", "
                            "Name:\"web-1\", UID:\"u1\", Controller:(*bool)(true), "
                            "BlockOwnerDeletion:(*bool)(nil)}, ");
    const char *dup = "Only one reference can have Controller set to true. Found \"true\" in "
                      "references for ReplicaSet/web-1 and ReplicaSet/web-2";
    bool found = false;
    for (size_t i = 0; i < kr_validation_count(&v); i++) {
        const char *msg = kr_value_map_str(kr_value_array_get(v.causes, i), "message");
        found |= strstr(msg, dup) != NULL;
    }
    assert_true(found);
    assert_cause(&v,
                 "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be "
                 "empty");
    assert_cause(&v, "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty");
    assert_cause(&v, "metadata.ownerReferences.name: Invalid value: \"\": must not be empty");
    assert_cause(&v, "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty");
    assert_cause(&v, "metadata.finalizers[2]: Invalid value: \"mine\": name is neither a standard "
                     "finalizer name nor is it fully qualified");
    assert_cause(&v, "metadata.finalizers: Invalid value: []string{\"kubernetes\", "
                     "\"example.com/cleanup\", \"mine\", \"orphan\", \"foregroundDeletion\"}: "
                     "finalizer orphan and foregroundDeletion cannot be both set");

    /* an Event cannot own anything */
    v = fresh();
    kr_validate_object_meta(&v,
                            meta("{name: web, namespace: default, ownerReferences: "
                                 "[{apiVersion: v1, kind: Event, name: e, uid: u}]}"),
                            NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause(&v,
                 "metadata.ownerReferences: Invalid value: v1.OwnerReference{APIVersion:\"v1\", "
                 "Kind:\"Event\", Name:\"e\", UID:\"u\", Controller:(*bool)(nil), "
                 "BlockOwnerDeletion:(*bool)(nil)}: /v1, Kind=Event is disallowed from being an "
                 "owner");
    assert_int_equal(kr_validation_count(&v), 1);
}

static void test_object_meta_update(void **state)
{
    (void)state;
    kr_value_t *old = meta("{name: web, namespace: default, uid: u1, generation: 3, "
                           "creationTimestamp: '2024-05-01T10:00:00Z'}");
    kr_validation_t v = fresh();
    kr_validate_object_meta(&v, kr_value_copy(arena, old), old, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_valid(&v);

    v = fresh();
    kr_validate_object_meta(&v,
                            meta("{name: web2, namespace: other, uid: u2, generation: 2, "
                                 "creationTimestamp: '2024-06-01T00:00:00Z'}"),
                            old, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause(&v, "metadata.name: Invalid value: \"web2\": field is immutable");
    assert_cause(&v, "metadata.namespace: Invalid value: \"other\": field is immutable");
    assert_cause(&v, "metadata.uid: Invalid value: \"u2\": field is immutable");
    assert_cause(&v, "metadata.creationTimestamp: Invalid value: 2024-06-01 00:00:00 +0000 UTC: "
                     "field is immutable");
    assert_cause(&v, "metadata.generation: Invalid value: 2: must not be decremented");
    assert_int_equal(kr_validation_count(&v), 5);

    /* a terminating object takes no new finalizer */
    kr_value_t *dying = meta("{name: web, namespace: default, uid: u1, "
                             "creationTimestamp: '2024-05-01T10:00:00Z', "
                             "deletionTimestamp: '2024-05-02T10:00:00Z', finalizers: [a.io/x]}");
    kr_value_t *nw = kr_value_copy(arena, dying);
    kr_value_map_set(arena, nw, "finalizers", Y("[a.io/x, b.io/y]"));
    v = fresh();
    kr_validate_object_meta(&v, nw, dying, true, KR_NAME_DNS1123_SUBDOMAIN);
    assert_cause(&v, "metadata.finalizers: Forbidden: no new finalizers can be added if the object "
                     "is being deleted, found new finalizers []string{\"b.io/y\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_error_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values_print_as_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_error_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_meta_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_meta_labels_annotations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_meta_owners_finalizers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_meta_update, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
