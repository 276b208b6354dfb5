/* Server-side apply (core/apply.c) against upstream's behaviour: create by
 * apply, fields dropped from a configuration removed unless another
 * manager owns them, fields of other managers left alone, conflicts in
 * upstream's words and force, the Apply entry's fieldsV1 for a ConfigMap
 * and a Deployment, timestamps kept by no-op applies, the errors. */
#include "fixture.h"

#include "apply.h"
#include "managed.h"

#include <stdio.h>

#define T1 "2024-05-01T10:00:00Z"
#define T2 "2024-05-01T11:00:00Z"
#define T3 "2024-05-01T12:00:00Z"

static kr_error_t err;
static kr_value_t *details;

/* Applies JSON `config` for manager; NULL with err/details set on failure. */
static kr_value_t *apply_opts(const kr_kind_t *kind, const kr_value_t *live, const char *config,
                              const char *manager, bool force, const char *now)
{
    kr_apply_opts_t o = {
        .manager = manager, .force = force, .name = NULL, .ns = "default", .now = now};
    kr_value_t *out = NULL;
    details = NULL;
    memset(&err, 0, sizeof err);
    if (kr_apply(arena, kind, live, J(config), &o, &out, &details, &err) < 0)
        return NULL;
    assert_non_null(out);
    return out;
}

static kr_value_t *apply_ok(const kr_kind_t *kind, const kr_value_t *live, const char *config,
                            const char *manager, const char *now)
{
    kr_value_t *out = apply_opts(kind, live, config, manager, false, now);
    if (out == NULL)
        fail_msg("apply failed: %s", err.message);
    return out;
}

static const char *data_of(const kr_value_t *obj)
{
    return S(kr_value_get(obj, "data"));
}

/* ---- ConfigMaps ------------------------------------------------------------- */

#define CM_A                                                                                   \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\",\"labels\":" \
    "{\"app\":\"web\"}},\"data\":{\"a\":\"1\",\"b\":\"2\"}}"
#define CM_B                                                                                   \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\",\"labels\":" \
    "{\"app\":\"web\"}},\"data\":{\"a\":\"1\"}}"

static void test_apply_creates(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    kr_apply_opts_t o = {.manager = "kubectl", .name = "cfg", .ns = "default", .now = T1};
    kr_value_t *out = NULL;
    assert_int_equal(kr_apply(arena, cm, NULL, J(CM_A), &o, &out, NULL, &err), 0);
    assert_string_equal(
        S(out), "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\","
                "\"labels\":{\"app\":\"web\"},\"managedFields\":[{\"manager\":\"kubectl\","
                "\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"time\":\"" T1 "\","
                "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{\"f:a\":{},\"f:b\":{}},"
                "\"f:metadata\":{\"f:labels\":{\"f:app\":{}}}}}]},\"data\":{\"a\":\"1\","
                "\"b\":\"2\"}}");
}

static void test_reapply_removes_what_it_no_longer_sets(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    kr_value_t *v1 = apply_ok(cm, NULL, CM_A, "kubectl", T1);
    kr_value_t *v2 = apply_ok(cm, v1, CM_B, "kubectl", T2);
    assert_string_equal(data_of(v2), "{\"a\":\"1\"}");
    assert_string_equal(fields_of(v2, "kubectl", "Apply"),
                        "{\"f:data\":{\"f:a\":{}},\"f:metadata\":{\"f:labels\":{\"f:app\":{}}}}");
    assert_string_equal(kr_value_map_str(entry_of(v2, "kubectl", "Apply"), "time"), T2);
    /* dropping the labels map drops the map */
    kr_value_t *v3 = apply_ok(cm, v2,
                              "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                              "\"name\":\"cfg\"},\"data\":{\"a\":\"1\"}}",
                              "kubectl", T3);
    assert_null(kr_value_get(v3, "metadata.labels"));
    assert_string_equal(fields_of(v3, "kubectl", "Apply"), "{\"f:data\":{\"f:a\":{}}}");
}

static void test_fields_of_other_managers_survive(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    kr_value_t *v1 = apply_ok(cm, NULL, CM_A, "kubectl", T1);
    /* an Update by another manager adds c */
    kr_value_t *v2 = kr_value_copy(arena, v1);
    kr_value_set(arena, v2, "data.c", kr_value_str(arena, "3"), NULL);
    kr_managed_update(arena, cm, v1, v2, "editor", NULL, T2);
    assert_string_equal(fields_of(v2, "editor", "Update"), "{\"f:data\":{\"f:c\":{}}}");
    /* the applier never owned c: it stays; b it owned goes */
    kr_value_t *v3 = apply_ok(cm, v2, CM_B, "kubectl", T3);
    assert_string_equal(data_of(v3), "{\"a\":\"1\",\"c\":\"3\"}");
    assert_string_equal(fields_of(v3, "editor", "Update"), "{\"f:data\":{\"f:c\":{}}}");

    /* a field two appliers share stays while one of them still applies it */
    kr_value_t *w1 = apply_ok(cm, NULL, CM_A, "kubectl", T1);
    kr_value_t *w2 = apply_ok(cm, w1,
                              "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                              "\"name\":\"cfg\"},\"data\":{\"b\":\"2\"}}",
                              "other", T2);
    assert_string_equal(fields_of(w2, "other", "Apply"), "{\"f:data\":{\"f:b\":{}}}");
    kr_value_t *w3 = apply_ok(cm, w2, CM_B, "kubectl", T3);
    assert_string_equal(data_of(w3), "{\"a\":\"1\",\"b\":\"2\"}");
    kr_value_t *w4 = apply_ok(cm, w3,
                              "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                              "\"name\":\"cfg\"}}",
                              "other", T3);
    assert_string_equal(data_of(w4), "{\"a\":\"1\"}");
    assert_null(entry_of(w4, "other", "Apply"));
}

static void test_noop_apply_keeps_the_time(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    kr_value_t *v1 = apply_ok(cm, NULL, CM_A, "kubectl", T1);
    kr_value_t *v2 = apply_ok(cm, v1, CM_A, "kubectl", T2);
    assert_true(kr_value_equal(v1, v2));
    assert_string_equal(kr_value_map_str(entry_of(v2, "kubectl", "Apply"), "time"), T1);
    /* the same values from a new manager: shared, the object unchanged, no
     * time for an entry that changed nothing */
    kr_value_t *v3 = apply_ok(cm, v2, CM_B, "second", T3);
    assert_string_equal(data_of(v3), data_of(v2));
    assert_string_equal(fields_of(v3, "second", "Apply"),
                        "{\"f:data\":{\"f:a\":{}},\"f:metadata\":{\"f:labels\":{\"f:app\":{}}}}");
    assert_null(kr_value_map_get(entry_of(v3, "second", "Apply"), "time"));
    assert_string_equal(fields_of(v3, "kubectl", "Apply"), fields_of(v2, "kubectl", "Apply"));
}

static void test_untracked_objects_are_owned_before_first_apply(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    kr_value_t *live = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                         "\"cfg\",\"uid\":\"u\"},\"data\":{\"x\":\"0\"}}");
    kr_value_t *out = apply_ok(cm, live, CM_B, "kubectl", T1);
    assert_string_equal(data_of(out), "{\"x\":\"0\",\"a\":\"1\"}");
    assert_string_equal(fields_of(out, "before-first-apply", "Update"),
                        "{\"f:data\":{\".\":{},\"f:x\":{}}}");
    /* Apply entries first */
    assert_string_equal(kr_value_map_str(kr_value_get(out, "metadata.managedFields[0]"), "manager"),
                        "kubectl");
}

static void test_last_applied_annotation_follows_kubectl(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    kr_value_t *live = apply_ok(cm, NULL, CM_A, "kubectl", T1);
    kr_value_set(arena, live,
                 "metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]",
                 kr_value_str(arena, "{}"), NULL);
    kr_value_t *out = apply_ok(cm, live, CM_B, "kubectl", T2);
    assert_string_equal(
        kr_value_as_str(kr_value_get(
            out, "metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]")),
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\","
        "\"labels\":{\"app\":\"web\"}},\"data\":{\"a\":\"1\"}}");
    /* other managers leave it alone */
    kr_value_t *o2 = apply_ok(cm, live, CM_B, "helm", T2);
    assert_string_equal(
        kr_value_as_str(kr_value_get(
            o2, "metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]")),
        "{}");
}

/* ---- Deployments -------------------------------------------------------------- */

#define DEPLOY(replicas, image, extra)                                                      \
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"  \
    "\"spec\":{\"replicas\":" replicas ",\"selector\":{\"matchLabels\":{\"app\":\"web\"}}," \
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":["  \
    "{\"name\":\"web\",\"image\":\"" image "\",\"ports\":[{\"containerPort\":80}]}" extra "]}}}}"

static void test_deployment_fields(void **state)
{
    (void)state;
    const kr_kind_t *d = K("apps", "deployments");
    kr_value_t *v1 = apply_ok(
        d, NULL, DEPLOY("2", "nginx:1.25", ",{\"name\":\"sidecar\",\"image\":\"busybox\"}"),
        "kubectl", T1);
    assert_string_equal(
        fields_of(v1, "kubectl", "Apply"),
        "{\"f:spec\":{\"f:replicas\":{},\"f:selector\":{},\"f:template\":{\"f:metadata\":{"
        "\"f:labels\":{\"f:app\":{}}},\"f:spec\":{\"f:containers\":{"
        "\"k:{\\\"name\\\":\\\"sidecar\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{}},"
        "\"k:{\\\"name\\\":\\\"web\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{},\"f:ports\":{"
        "\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},"
        "\"f:containerPort\":{}}}}}}}}}");
    /* the status a configuration may carry is not the applier's */
    kr_value_t *vs = apply_ok(d, NULL,
                              "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                              "\"name\":\"web\"},\"spec\":{\"paused\":true},\"status\":{"
                              "\"replicas\":3}}",
                              "kubectl", T1);
    assert_string_equal(fields_of(vs, "kubectl", "Apply"), "{\"f:spec\":{\"f:paused\":{}}}");

    /* a container dropped from the configuration leaves the object, in the
     * order upstream keeps */
    kr_value_t *v2 = apply_ok(d, v1, DEPLOY("2", "nginx:1.25", ""), "kubectl", T2);
    assert_string_equal(S(kr_value_get(v2, "spec.template.spec.containers")),
                        "[{\"name\":\"web\",\"image\":\"nginx:1.25\",\"ports\":[{"
                        "\"containerPort\":80}]}]");
    /* items keep the live order where the configuration does not change it */
    kr_value_t *v3 = apply_ok(
        d, v1, DEPLOY("2", "nginx:1.25", ",{\"name\":\"sidecar\",\"image\":\"busybox:2\"}"),
        "kubectl", T2);
    kr_value_t *names = kr_value_get(v3, "spec.template.spec.containers");
    assert_string_equal(kr_value_map_str(kr_value_array_get(names, 0), "name"), "web");
    assert_string_equal(kr_value_map_str(kr_value_array_get(names, 1), "image"), "busybox:2");
}

static void test_conflicts_and_force(void **state)
{
    (void)state;
    const kr_kind_t *d = K("apps", "deployments");
    kr_value_t *v1 = apply_ok(d, NULL, DEPLOY("2", "nginx:1.25", ""), "kubectl", T1);

    /* another applier changing replicas conflicts */
    const char *scale = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                        "\"name\":\"web\"},\"spec\":{\"replicas\":3}}";
    assert_null(apply_opts(d, v1, scale, "autoscaler", false, T2));
    assert_int_equal(err.reason, KR_E_CONFLICT);
    assert_string_equal(err.message,
                        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas");
    assert_string_equal(S(details), "{\"causes\":[{\"reason\":\"FieldManagerConflict\","
                                    "\"message\":\"conflict with \\\"kubectl\\\"\",\"field\":"
                                    "\".spec.replicas\"}]}");
    /* the same value is no conflict: the field is shared */
    kr_value_t *same = apply_opts(d, v1,
                                  "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
                                  "\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":2}}",
                                  "autoscaler", false, T2);
    assert_non_null(same);
    assert_string_equal(fields_of(same, "autoscaler", "Apply"), "{\"f:spec\":{\"f:replicas\":{}}}");
    assert_string_equal(fields_of(same, "kubectl", "Apply"), fields_of(v1, "kubectl", "Apply"));

    /* force takes the field over */
    kr_value_t *v2 = apply_opts(d, v1, scale, "autoscaler", true, T2);
    assert_non_null(v2);
    assert_int_equal(kr_value_as_int(kr_value_get(v2, "spec.replicas"), 0), 3);
    assert_string_equal(fields_of(v2, "autoscaler", "Apply"), "{\"f:spec\":{\"f:replicas\":{}}}");
    assert_null(strstr(fields_of(v2, "kubectl", "Apply"), "f:replicas"));
    /* and kubectl, applying its old value, now conflicts with the autoscaler */
    assert_null(apply_opts(d, v2, DEPLOY("2", "nginx:1.25", ""), "kubectl", false, T3));
    assert_string_equal(err.message, "Apply failed with 1 conflict: conflict with "
                                     "\"autoscaler\": .spec.replicas");

    /* an Update manager is named with its apiVersion; several conflicts are
     * listed per manager */
    kr_value_t *v3 = kr_value_copy(arena, v1);
    kr_value_t *c0 = kr_value_get(v3, "spec.template.spec.containers[0]");
    kr_value_map_set(arena, c0, "image", kr_value_str(arena, "nginx:1.26"));
    kr_value_set(arena, v3, "spec.replicas", kr_value_int(arena, 5), NULL);
    kr_managed_update(arena, d, v1, v3, "kubectl-edit", NULL, T2);
    assert_null(apply_opts(d, v3, DEPLOY("2", "nginx:1.27", ""), "kubectl", false, T3));
    assert_string_equal(err.message,
                        "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using "
                        "apps/v1:\n- .spec.replicas\n- "
                        ".spec.template.spec.containers[name=\"web\"].image");
    assert_int_equal(kr_value_len(kr_value_map_get(details, "causes")), 2);
    assert_string_equal(
        kr_value_map_str(kr_value_array_get(kr_value_map_get(details, "causes"), 1), "message"),
        "conflict with \"kubectl-edit\" using apps/v1");
}

/* ---- errors ------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    const kr_kind_t *d = K("apps", "deployments");
    const kr_kind_t *cm = K("", "configmaps");
    assert_null(apply_opts(d, NULL, CM_A, "kubectl", false, T1));
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
    assert_string_equal(err.message, "invalid object type: /v1, Kind=ConfigMap");
    assert_null(apply_opts(cm, NULL, "{\"kind\":\"ConfigMap\"}", "kubectl", false, T1));
    assert_string_equal(err.message, "invalid object type: /, Kind=ConfigMap");
    assert_null(apply_opts(cm, NULL, "[1]", "kubectl", false, T1));
    assert_string_equal(err.message, "error decoding YAML: error unmarshaling JSON: while "
                                     "decoding JSON: json: cannot unmarshal array into Go value "
                                     "of type map[string]interface {}");
    assert_null(apply_opts(cm, NULL,
                           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                           "\"cfg\",\"managedFields\":[]}}",
                           "kubectl", false, T1));
    assert_string_equal(err.message, "metadata.managedFields must be nil");

    /* items without their key, duplicates: the typed patch object */
    assert_null(apply_opts(d, NULL,
                           "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                           "\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"template\":{"
                           "\"spec\":{\"containers\":[{\"image\":\"x\"}]}}}}",
                           "kubectl", false, T1));
    assert_int_equal(err.reason, KR_E_INTERNAL);
    assert_string_equal(err.message,
                        "failed to create typed patch object (default/web; apps/v1, "
                        "Kind=Deployment): .spec.template.spec.containers: element 0: associative "
                        "list with keys has an element that omits key field \"name\" (and doesn't "
                        "have default value)");
    assert_null(apply_opts(d, NULL,
                           DEPLOY("1", "a",
                                  ",{\"name\":\"web\"}],\"initContainers\":["
                                  "{\"name\":\"i\"},{\"name\":\"i\"}"),
                           "kubectl", false, T1));
    assert_string_equal(err.message,
                        "failed to create typed patch object (/web; apps/v1, Kind=Deployment): "
                        "errors:\n  .spec.template.spec.containers: duplicate entries for key "
                        "[name=\"web\"]\n  .spec.template.spec.initContainers: duplicate entries "
                        "for key [name=\"i\"]");

    /* an object created must carry the request's name */
    kr_apply_opts_t o = {.manager = "kubectl", .name = "cfg", .ns = "default", .now = T1};
    kr_value_t *out = NULL;
    assert_true(kr_apply(arena, cm, NULL,
                         J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{}}"), &o, &out,
                         NULL, &err) < 0);
    assert_string_equal(err.message, "the name of the object (cfg based on URL) was "
                                     "undeterminable: name must be provided");
    o.name = "other";
    assert_true(kr_apply(arena, cm, NULL, J(CM_A), &o, &out, NULL, &err) < 0);
    assert_string_equal(err.message,
                        "the name of the object (cfg) does not match the name on the URL (other)");
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reapply_removes_what_it_no_longer_sets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fields_of_other_managers_survive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noop_apply_keeps_the_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untracked_objects_are_owned_before_first_apply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_last_applied_annotation_follows_kubectl, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deployment_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_and_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
