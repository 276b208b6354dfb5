/* Kind schemas: the embedded Kubernetes schemas found by path through
 * $ref, list merge keys, type checks in a CRD's words, and a plugin
 * schema's own constraints and defaults. */
#include "fixture.h"

#include "validation.h"

#include <stdio.h>

static const kr_kind_t *K(const char *group, const char *name)
{
    const kr_kind_t *k = kr_registry_find(reg, group, name);
    if (k == NULL)
        fail_msg("no kind %s", name);
    return k;
}

/* The causes kr_schema_check finds, as one upstream message ("" if none). */
static const char *check(const kr_kind_t *k, const kr_value_t *obj)
{
    kr_validation_t v;
    kr_validation_init(&v, arena);
    kr_schema_check(&v, k, obj);
    if (kr_validation_ok(&v))
        return "";
    kr_error_t err;
    assert_int_equal(kr_validation_error(&v, k->group, k->kind, "web", &err), -KR_E_INVALID);
    return kr_arena_strdup(arena, err.message);
}

static void assert_has(const char *msg, const char *want)
{
    if (strstr(msg, want) == NULL)
        fail_msg("message \"%s\"\n  lacks \"%s\"", msg, want);
}

static const char deployment[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
    "\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":"
    "{\"app\":\"web\"}},\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
    "{\"maxSurge\":\"25%\",\"maxUnavailable\":1}},\"template\":{\"metadata\":{\"labels\":"
    "{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\","
    "\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}],\"resources\":{\"limits\":"
    "{\"cpu\":\"500m\",\"memory\":\"128Mi\"},\"requests\":{\"cpu\":0.25}}}]}}},"
    "\"status\":{\"replicas\":3,\"readyReplicas\":2}}";

/* ---- lookups through $ref ---------------------------------------------- */

static void schema_at_follows_refs(void **state)
{
    (void)state;
    const kr_kind_t *d = K("apps", "deployments");
    /* DeploymentSpec.template is a $ref to PodTemplateSpec, whose spec is a
     * $ref to PodSpec. */
    const kr_value_t *podspec = kr_schema_at(d, "spec.template.spec");
    assert_non_null(podspec);
    assert_non_null(
        strstr(kr_value_map_str(podspec, "description"), "PodSpec is a description of a pod."));
    assert_non_null(kr_value_get(podspec, "properties.containers"));
    /* Array items, by index or stepped through. */
    const kr_value_t *image = kr_schema_at(d, "spec.template.spec.containers[0].image");
    assert_string_equal(kr_value_map_str(image, "type"), "string");
    assert_ptr_equal(kr_schema_at(d, "spec.template.spec.containers.image"), image);
    assert_string_equal(kr_value_map_str(kr_schema_at(d, "spec.template.spec.containers"), "type"),
                        "array");
    /* Maps: any key of labels is a string, any resource a quantity. */
    const kr_value_t *label = kr_schema_at(d, "metadata.labels[\"app.kubernetes.io/name\"]");
    assert_string_equal(kr_value_map_str(label, "type"), "string");
    assert_string_equal(
        kr_value_map_str(kr_schema_at(d, "spec.template.spec.containers[0].resources.limits.cpu"),
                         "format"),
        "quantity");
    assert_string_equal(
        kr_value_map_str(kr_schema_at(d, "spec.strategy.rollingUpdate.maxSurge"), "format"),
        "int-or-string");
    /* CronJob (v1beta1's shape under batch/v1) reaches the pod template. */
    const kr_value_t *cj =
        kr_schema_at(K("batch", "cronjobs"), "spec.jobTemplate.spec.template.spec.restartPolicy");
    assert_string_equal(kr_value_map_str(cj, "type"), "string");
    /* The root, and what the schema does not say. */
    assert_ptr_equal(kr_schema_at(d, ""), d->schema);
    assert_null(kr_schema_at(d, "spec.nonsense"));
    assert_null(kr_schema_at(d, "spec.replicas.deeper"));
    assert_null(kr_schema_at(d, "spec..replicas"));
    assert_null(kr_schema_at(d, "spec.template.spec.containers[x]"));
}

static void merge_keys(void **state)
{
    (void)state;
    const kr_kind_t *d = K("apps", "deploy");
    const kr_kind_t *po = K("", "pods");
    const kr_kind_t *svc = K("", "svc");
    assert_string_equal(kr_schema_merge_key(d, "spec.template.spec.containers"), "name");
    assert_string_equal(kr_schema_merge_key(po, "spec.containers"), "name");
    assert_string_equal(kr_schema_merge_key(po, "spec.initContainers"), "name");
    assert_string_equal(kr_schema_merge_key(po, "spec.volumes"), "name");
    assert_string_equal(kr_schema_merge_key(po, "spec.containers[0].ports"), "containerPort");
    assert_string_equal(kr_schema_merge_key(po, "spec.containers[0].env"), "name");
    assert_string_equal(kr_schema_merge_key(po, "spec.containers[0].volumeMounts"), "mountPath");
    assert_string_equal(kr_schema_merge_key(po, "status.conditions"), "type");
    assert_string_equal(kr_schema_merge_key(svc, "spec.ports"), "port");
    assert_string_equal(kr_schema_merge_key(K("", "no"), "status.addresses"), "type");
    assert_string_equal(kr_schema_merge_key(d, "metadata.ownerReferences"), "uid");
    /* Lists that are replaced whole. */
    assert_null(kr_schema_merge_key(po, "spec.containers[0].args"));
    assert_null(kr_schema_merge_key(po, "spec.containers[0].command"));
    assert_null(kr_schema_merge_key(po, "metadata.finalizers"));
    assert_null(kr_schema_merge_key(po, "spec.nonsense"));
    assert_null(kr_schema_merge_key(NULL, "spec.containers"));
}

/* ---- type checks on built-ins ------------------------------------------ */

static void valid_objects_pass(void **state)
{
    (void)state;
    const kr_kind_t *d = K("apps", "deployments");
    assert_string_equal(check(d, J(deployment)), "");
    /* A whole number written as a float is an integer. */
    kr_value_t *obj = J(deployment);
    assert_int_equal(kr_value_set(arena, obj, "spec.replicas", kr_value_float(arena, 3.0), NULL),
                     0);
    assert_string_equal(check(d, obj), "");
    /* null is an absent field. */
    assert_string_equal(check(d, J("{\"spec\":{\"replicas\":null,\"paused\":null}}")), "");
    assert_string_equal(
        check(K("", "services"),
              J("{\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"targetPort\":\"http\","
                "\"nodePort\":30080}]}}")),
        "");
    assert_string_equal(
        check(K("", "secrets"), J("{\"type\":\"Opaque\",\"data\":{\"a\":\"aGVsbG8=\",\"b\":\"\","
                                  "\"c\":\"aGk=\\n\"}}")),
        "");
}

static void unknown_fields_are_kept_unchecked(void **state)
{
    (void)state;
    /* Fields newer than the embedded schema (1.14): CronJob timeZone,
     * Pod ephemeralContainers, Service ipFamilies... */
    kr_value_t *cj = J("{\"spec\":{\"schedule\":\"*/5 * * * *\",\"timeZone\":\"Etc/UTC\","
                       "\"future\":{\"x\":[1,true]}}}");
    assert_string_equal(check(K("batch", "cj"), cj), "");
    assert_string_equal(kr_value_as_str(kr_value_get(cj, "spec.timeZone")), "Etc/UTC");
    assert_non_null(kr_value_get(cj, "spec.future.x[1]"));
    assert_string_equal(
        check(K("", "po"), J("{\"spec\":{\"ephemeralContainers\":[{\"name\":1}],"
                             "\"containers\":[{\"name\":\"a\",\"resizePolicy\":7}]}}")),
        "");
}

/* The Deployment above with one field set to a YAML value; its check
 * must say `want`. */
static void deployment_with(const char *path, const char *yaml, const char *want)
{
    kr_value_t *obj = J(deployment), *docs = NULL;
    kr_error_t err;
    assert_int_equal(kr_yaml_decode(arena, yaml, strlen(yaml), &docs, &err), 0);
    assert_int_equal(kr_value_set(arena, obj, path, kr_value_array_get(docs, 0), &err), 0);
    assert_has(check(K("apps", "deployments"), obj), want);
}

static void type_errors_read_like_a_crds(void **state)
{
    (void)state;
    deployment_with("spec.replicas", "'3'",
                    "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of "
                    "type integer: \"string\"");
    deployment_with("spec.replicas", "1.5",
                    "spec.replicas: Invalid value: \"number\": spec.replicas in body must be of "
                    "type integer: \"number\"");
    deployment_with("spec.template.spec.containers[0].image", "5",
                    "spec.template.spec.containers[0].image: Invalid value: \"integer\": "
                    "spec.template.spec.containers[0].image in body must be of type string: "
                    "\"integer\"");
    deployment_with("spec.strategy.rollingUpdate.maxSurge", "true",
                    "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"boolean\": "
                    "spec.strategy.rollingUpdate.maxSurge in body must be of type "
                    "integer,string: \"boolean\"");
    deployment_with("spec.template.spec.containers", "{}",
                    "spec.template.spec.containers: Invalid value: \"object\": "
                    "spec.template.spec.containers in body must be of type array: \"object\"");
    deployment_with("metadata.labels", "{app: web, tier: 3}",
                    "metadata.labels[tier]: Invalid value: \"integer\"");
    deployment_with("spec.paused", "'yes'",
                    "spec.paused in body must be of type boolean: \"string\"");
    /* Quantities are parsed. */
    deployment_with("spec.template.spec.containers[0].resources.limits.cpu", "half",
                    "spec.template.spec.containers[0].resources.limits[cpu]: Invalid value: "
                    "\"half\": quantities must match the regular expression");
    deployment_with("spec.template.spec.containers[0].resources.limits.cpu", "true",
                    "must be of type string,number: \"boolean\"");

    const kr_kind_t *d = K("apps", "deployments");
    kr_value_t *obj;
    /* Every error is reported, not just the first. */
    obj = J(deployment);
    kr_value_set(arena, obj, "spec.replicas", kr_value_str(arena, "3"), NULL);
    kr_value_set(arena, obj, "spec.minReadySeconds", kr_value_str(arena, "5"), NULL);
    kr_validation_t v;
    kr_validation_init(&v, arena);
    kr_schema_check(&v, d, obj);
    assert_int_equal(kr_validation_count(&v), 2);

    /* Secret data is base64; the value is not repeated in the error. */
    const char *msg = check(K("", "secrets"), J("{\"data\":{\"password\":\"hunter2!\"}}"));
    assert_has(msg, "data[password]: Invalid value: \"<secret contents redacted>\": illegal "
                    "base64 data at input byte 7");
    assert_null(strstr(msg, "hunter2"));
    /* Elsewhere bytes are no secret. */
    assert_has(check(K("", "cm"), J("{\"binaryData\":{\"b\":\"YQ=\"}}")),
               "binaryData[b]: Invalid value: \"YQ=\": illegal base64 data at input byte");

    /* An int-or-string port accepts both, nothing else. */
    const kr_kind_t *svc = K("", "services");
    assert_string_equal(check(svc, J("{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080}]}}")),
                        "");
    assert_has(check(svc, J("{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":[8080]}]}}")),
               "spec.ports[0].targetPort in body must be of type integer,string: \"array\"");
}

static void builtin_required_is_left_to_validation(void **state)
{
    (void)state;
    /* Go types decode a missing field as its zero value: Kubernetes'
     * validation (the kind's hooks), not the schema, says what is
     * required, so a status update without imageID is no schema error. */
    assert_string_equal(check(K("", "po"), J("{\"status\":{\"containerStatuses\":[{\"name\":"
                                             "\"web\",\"ready\":true}]}}")),
                        "");
}

/* ---- a plugin kind's schema -------------------------------------------- */

static const kr_kind_t *widget(void)
{
    kr_error_t err;
    const kr_kind_t *k = kr_registry_add(
        reg,
        J("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
          "\"plural\":\"widgets\",\"namespaced\":true,\"schema\":{\"openAPIV3Schema\":{"
          "\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\","
          "\"required\":[\"color\"],\"properties\":{"
          "\"color\":{\"type\":\"string\",\"enum\":[\"red\",\"green\"]},"
          "\"replicas\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10,\"default\":1},"
          "\"name\":{\"type\":\"string\",\"maxLength\":5,\"minLength\":1},"
          "\"mode\":{\"type\":\"string\",\"default\":\"fast\"},"
          "\"port\":{\"x-kubernetes-int-or-string\":true},"
          "\"tags\":{\"type\":\"array\",\"maxItems\":2,\"items\":{\"type\":\"string\"}},"
          "\"tls\":{\"type\":\"object\",\"default\":{},\"properties\":{"
          "\"enabled\":{\"type\":\"boolean\",\"default\":false},"
          "\"port\":{\"type\":\"integer\",\"default\":443}}},"
          "\"backends\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
          "\"name\":{\"type\":\"string\"},\"weight\":{\"type\":\"integer\",\"default\":100}}},"
          "\"x-kubernetes-list-type\":\"map\",\"x-kubernetes-list-map-keys\":[\"name\"]},"
          "\"limits\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\","
          "\"minimum\":1}},"
          "\"extra\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}"
          "}}}}}}"),
        &err);
    if (k == NULL)
        fail_msg("kr_registry_add: %s", err.message);
    return k;
}

static void plugin_schema_constraints(void **state)
{
    (void)state;
    const kr_kind_t *w = widget();
    assert_string_equal(
        check(w, J("{\"spec\":{\"color\":\"red\",\"replicas\":10,\"name\":\"abcde\","
                   "\"port\":\"http\",\"tags\":[\"a\",\"b\"],\"limits\":{\"x\":1},"
                   "\"extra\":{\"anything\":[1]}}}")),
        "");
    assert_has(check(w, J("{\"spec\":{}}")), "spec.color: Required value");
    assert_has(check(w, J("{\"spec\":{\"color\":\"blue\"}}")),
               "spec.color: Unsupported value: \"blue\": supported values: \"red\", \"green\"");
    assert_has(check(w, J("{\"spec\":{\"color\":\"red\",\"replicas\":-1}}")),
               "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than "
               "or equal to 0");
    assert_has(check(w, J("{\"spec\":{\"color\":\"red\",\"replicas\":11}}")),
               "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or "
               "equal to 10");
    assert_has(check(w, J("{\"spec\":{\"color\":\"red\",\"name\":\"abcdef\"}}")),
               "spec.name: Too long: may not be more than 5 bytes");
    /* maxLength counts characters, not bytes. */
    assert_string_equal(
        check(w, J("{\"spec\":{\"color\":\"red\",\"name\":\"\xc3\xa9t\xc3\xa9s\"}}")), "");
    assert_has(check(w, J("{\"spec\":{\"color\":\"red\",\"name\":\"\"}}")),
               "spec.name in body should be at least 1 chars long");
    assert_has(check(w, J("{\"spec\":{\"color\":\"red\",\"tags\":[\"a\",\"b\",\"c\"]}}")),
               "spec.tags: Too many: 3: must have at most 2 items");
    assert_has(check(w, J("{\"spec\":{\"color\":\"red\",\"tags\":[\"a\",2]}}")),
               "spec.tags[1]: Invalid value: \"integer\": spec.tags[1] in body must be of type "
               "string: \"integer\"");
    assert_has(check(w, J("{\"spec\":{\"color\":\"red\",\"port\":1.5}}")),
               "spec.port in body must be of type integer,string: \"number\"");
    assert_has(check(w, J("{\"spec\":{\"color\":\"red\",\"limits\":{\"cpu\":0}}}")),
               "spec.limits[cpu]: Invalid value: 0: spec.limits[cpu] in body should be greater "
               "than or equal to 1");
    assert_has(check(w, J("[]")),
               "Invalid value: \"array\": body must be of type object: \"array\"");
}

static void plugin_schema_defaults(void **state)
{
    (void)state;
    const kr_kind_t *w = widget();
    kr_value_t *obj = J("{\"spec\":{\"color\":\"red\",\"mode\":\"slow\",\"replicas\":null,"
                        "\"backends\":[{\"name\":\"a\"},{\"name\":\"b\",\"weight\":5}]}}");
    kr_schema_defaults(arena, w, obj);
    assert_int_equal(kr_value_as_int(kr_value_get(obj, "spec.replicas"), -1), 1);
    assert_string_equal(kr_value_as_str(kr_value_get(obj, "spec.mode")), "slow");
    /* A defaulted object is defaulted inside too. */
    assert_false(kr_value_as_bool(kr_value_get(obj, "spec.tls.enabled"), true));
    assert_int_equal(kr_value_as_int(kr_value_get(obj, "spec.tls.port"), -1), 443);
    /* Array items get their defaults; given values stay. */
    assert_int_equal(kr_value_as_int(kr_value_get(obj, "spec.backends[0].weight"), -1), 100);
    assert_int_equal(kr_value_as_int(kr_value_get(obj, "spec.backends[1].weight"), -1), 5);
    /* No default, no field. */
    assert_null(kr_value_get(obj, "spec.name"));
    assert_string_equal(check(w, obj), "");
    /* A missing parent without a default stays missing. */
    kr_value_t *empty = J("{}");
    kr_schema_defaults(arena, w, empty);
    assert_int_equal(kr_value_len(empty), 0);
    /* The default is copied, not shared between objects. */
    kr_value_t *a = J("{\"spec\":{}}"), *b = J("{\"spec\":{}}");
    kr_schema_defaults(arena, w, a);
    kr_schema_defaults(arena, w, b);
    kr_value_set(arena, a, "spec.tls.port", kr_value_int(arena, 8443), NULL);
    assert_int_equal(kr_value_as_int(kr_value_get(b, "spec.tls.port"), -1), 443);
    /* A keyed list merges on its key. */
    assert_string_equal(kr_schema_merge_key(w, "spec.backends"), "name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(schema_at_follows_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(merge_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(valid_objects_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_fields_are_kept_unchecked, setup, teardown),
        cmocka_unit_test_setup_teardown(type_errors_read_like_a_crds, setup, teardown),
        cmocka_unit_test_setup_teardown(builtin_required_is_left_to_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(plugin_schema_constraints, setup, teardown),
        cmocka_unit_test_setup_teardown(plugin_schema_defaults, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
