/* managedFields: the fieldsV1 set format and its operations as
 * structured-merge-diff defines them, the sets read off objects through
 * the kinds' schemas, and what create/update/patch record (upstream's
 * FieldManager.Update): entries per manager, the timestamp only when a
 * write changes something, ownership moving with changed fields, the cap
 * on Update managers, and the option checks. */
#include "fixture.h"

#include "managed.h"

#include <stdio.h>

static kr_fieldset_t *F(const char *fields_json)
{
    kr_fieldset_t *s = NULL;
    kr_error_t err;
    if (kr_fieldset_from_fields(arena, J(fields_json), &s, &err) < 0)
        fail_msg("bad fieldsV1 %s: %s", fields_json, err.message);
    return s;
}

static const char *FS(const kr_fieldset_t *s)
{
    return S(kr_fieldset_to_fields(arena, s));
}

/* ---- the set format ----------------------------------------------------- */

static void test_fields_round_trip_in_upstream_order(void **state)
{
    (void)state;
    /* "." first, then elements in PathElement order: fields by name,
     * keys field by field with numbers compared as numbers */
    kr_fieldset_t *s = F("{\"f:spec\":{\"f:ports\":{"
                         "\"k:{\\\"port\\\":443,\\\"protocol\\\":\\\"TCP\\\"}\":{},"
                         "\"k:{\\\"port\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},"
                         "\"f:port\":{}}},\"f:b\":{},\"f:a\":{}},"
                         "\"f:metadata\":{\"f:labels\":{\"f:app\":{},\".\":{}}}}");
    assert_string_equal(FS(s), "{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{}}},"
                               "\"f:spec\":{\"f:a\":{},\"f:b\":{},\"f:ports\":{"
                               "\"k:{\\\"port\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},"
                               "\"f:port\":{}},"
                               "\"k:{\\\"port\\\":443,\\\"protocol\\\":\\\"TCP\\\"}\":{}}}}");
    /* indexes as numbers, values by type then value; unknown types dropped */
    s = F("{\"i:10\":{},\"i:9\":{},\"x:y\":{}}");
    assert_string_equal(FS(s), "{\"i:9\":{},\"i:10\":{}}");
    s = F("{\"f:finalizers\":{\"v:\\\"b\\\"\":{},\"v:\\\"a\\\"\":{}}}");
    assert_string_equal(FS(s), "{\"f:finalizers\":{\"v:\\\"a\\\"\":{},\"v:\\\"b\\\"\":{}}}");
    /* a node with only unknown children is a member */
    s = F("{\"f:a\":{\"z:q\":{}}}");
    assert_string_equal(FS(s), "{\"f:a\":{}}");
    /* malformed elements */
    kr_fieldset_t *bad = NULL;
    kr_error_t err;
    assert_true(kr_fieldset_from_fields(arena, J("{\"f\":{}}"), &bad, &err) < 0);
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
    assert_true(kr_fieldset_from_fields(arena, J("{\"k:[1]\":{}}"), &bad, &err) < 0);
    assert_true(kr_fieldset_from_fields(arena, J("{\"f:a\":3}"), &bad, &err) < 0);
}

static void test_set_operations(void **state)
{
    (void)state;
    kr_fieldset_t *a = F("{\"f:a\":{\".\":{},\"f:b\":{},\"f:c\":{}},\"f:d\":{}}");
    kr_fieldset_t *b = F("{\"f:a\":{\"f:c\":{},\"f:e\":{}},\"f:f\":{}}");
    assert_string_equal(FS(kr_fieldset_union(arena, a, b)),
                        "{\"f:a\":{\".\":{},\"f:b\":{},\"f:c\":{},\"f:e\":{}},\"f:d\":{},"
                        "\"f:f\":{}}");
    assert_string_equal(FS(kr_fieldset_intersection(arena, a, b)), "{\"f:a\":{\"f:c\":{}}}");
    /* path by path: a.b stays though b's a is not a member */
    assert_string_equal(FS(kr_fieldset_difference(arena, a, b)),
                        "{\"f:a\":{\".\":{},\"f:b\":{}},\"f:d\":{}}");
    /* recursive: everything below a member of b goes */
    kr_fieldset_t *m = F("{\"f:a\":{}}");
    assert_string_equal(FS(kr_fieldset_difference(arena, a, m)),
                        "{\"f:a\":{\"f:b\":{},\"f:c\":{}},\"f:d\":{}}");
    assert_string_equal(FS(kr_fieldset_recursive_difference(arena, a, m)), "{\"f:d\":{}}");
    assert_true(kr_fieldset_empty(kr_fieldset_difference(arena, a, a)));
    assert_true(kr_fieldset_equal(kr_fieldset_union(arena, a, a), a));
    /* the empty path adds nothing */
    kr_fieldset_t *e = kr_fieldset_new(arena);
    kr_fieldset_insert(arena, e, NULL, 0);
    assert_true(kr_fieldset_empty(e));
    kr_pe_t p[2] = {{.type = KR_PE_FIELD, .name = "a"}, {.type = KR_PE_FIELD, .name = "c"}};
    assert_true(kr_fieldset_has(a, p, 2));
    assert_true(kr_fieldset_has(a, p, 1));
    assert_false(kr_fieldset_has(b, p, 1));
}

static void test_path_strings(void **state)
{
    (void)state;
    kr_pe_t p[5] = {
        {.type = KR_PE_FIELD, .name = "spec"},
        {.type = KR_PE_FIELD, .name = "containers"},
        {.type = KR_PE_KEY, .value = J("{\"name\":\"web\"}")},
        {.type = KR_PE_FIELD, .name = "ports"},
        {.type = KR_PE_KEY, .value = J("{\"containerPort\":80,\"protocol\":\"TCP\"}")},
    };
    assert_string_equal(kr_path_string(arena, p, 5),
                        ".spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"]");
    kr_pe_t q[3] = {{.type = KR_PE_FIELD, .name = "metadata"},
                    {.type = KR_PE_FIELD, .name = "finalizers"},
                    {.type = KR_PE_VALUE, .value = J("\"x\"")}};
    assert_string_equal(kr_path_string(arena, q, 3), ".metadata.finalizers[=\"x\"]");
    kr_pe_t i = {.type = KR_PE_INDEX, .index = 3};
    assert_string_equal(kr_path_string(arena, &i, 1), "[3]");
}

/* ---- sets of objects ---------------------------------------------------- */

static const char deployment[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
    "\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":"
    "{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":"
    "{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\",\"ports\":[{\"containerPort\":"
    "80}]}]}}}}";

static void test_object_sets(void **state)
{
    (void)state;
    kr_typed_t t;
    kr_typed_init(&t, arena, K("apps", "deployments"));
    kr_fieldset_t *s = kr_typed_to_set(&t, J(deployment));
    assert_int_equal(t.nerrors, 0);
    /* containers keyed by name, ports by containerPort and protocol (its
     * default), the selector atomic, struct fields only through leaves */
    assert_string_equal(
        FS(s), "{\"f:apiVersion\":{},\"f:kind\":{},\"f:metadata\":{\"f:labels\":{\"f:app\":{}},"
               "\"f:name\":{}},\"f:spec\":{\"f:replicas\":{},\"f:selector\":{},\"f:template\":{"
               "\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},\"f:spec\":{\"f:containers\":{"
               "\"k:{\\\"name\\\":\\\"web\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{},"
               "\"f:ports\":{\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{"
               "\".\":{},\"f:containerPort\":{}}}}}}}}}");
    /* named struct fields become members where pruning needs them */
    assert_string_equal(FS(kr_typed_ensure_named(&t, F("{\"f:spec\":{\"f:template\":{"
                                                       "\"f:metadata\":{\"f:labels\":{"
                                                       "\"f:app\":{}}}}}}"))),
                        "{\"f:spec\":{\".\":{},\"f:template\":{\".\":{},\"f:metadata\":{\".\":{},"
                        "\"f:labels\":{\".\":{},\"f:app\":{}}}}}}");
    /* items must carry their keys */
    kr_fieldset_t *bad = kr_typed_to_set(
        &t, J("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}}}"));
    (void)bad;
    assert_int_equal(t.nerrors, 1);
    assert_string_equal(kr_typed_error(&t),
                        ".spec.template.spec.containers: element 0: associative list with keys "
                        "has an element that omits key field \"name\" (and doesn't have default "
                        "value)");
    kr_typed_fini(&t);

    /* fields no schema describes: maps granular, lists atomic */
    kr_typed_init(&t, arena, K("", "configmaps"));
    s = kr_typed_to_set(&t, J("{\"data\":{\"a\":\"1\"},\"extra\":{\"x\":[1,2],\"y\":{}}}"));
    assert_string_equal(FS(s), "{\"f:data\":{\"f:a\":{}},\"f:extra\":{\".\":{},\"f:x\":{},"
                               "\"f:y\":{}}}");
    kr_typed_fini(&t);
}

static void test_compare(void **state)
{
    (void)state;
    kr_typed_t t;
    kr_typed_init(&t, arena, K("", "configmaps"));
    kr_comparison_t c;
    kr_typed_compare(&t,
                     J("{\"data\":{\"a\":\"1\",\"b\":\"2\"},\"metadata\":{\"labels\":"
                       "{\"x\":\"1\"}}}"),
                     J("{\"data\":{\"a\":\"9\",\"c\":\"3\"},\"metadata\":{}}"), &c);
    assert_string_equal(FS(c.modified), "{\"f:data\":{\"f:a\":{}}}");
    assert_string_equal(FS(c.added), "{\"f:data\":{\"f:c\":{}}}");
    /* a map that went away goes with all it held */
    assert_string_equal(FS(c.removed),
                        "{\"f:data\":{\"f:b\":{}},\"f:metadata\":{\"f:labels\":{\".\":{},"
                        "\"f:x\":{}}}}");
    kr_typed_fini(&t);
}

/* ---- what writes record ----------------------------------------------------- */

#define T1 "2024-05-01T10:00:00Z"
#define T2 "2024-05-01T11:00:00Z"
#define T3 "2024-05-01T12:00:00Z"

static void test_create_records_an_update_entry(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    kr_value_t *obj = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                        "\"cfg\",\"namespace\":\"default\",\"uid\":\"u1\",\"labels\":{\"app\":"
                        "\"web\"}},\"data\":{\"key\":\"v\"}}");
    kr_managed_update(arena, cm, NULL, obj, "kubectl-create", NULL, T1);
    assert_string_equal(S(kr_value_get(obj, "metadata.managedFields")),
                        "[{\"manager\":\"kubectl-create\",\"operation\":\"Update\",\"apiVersion\":"
                        "\"v1\",\"time\":\"" T1 "\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{"
                        "\"f:data\":{\".\":{},\"f:key\":{}},\"f:metadata\":{\"f:labels\":{\".\":"
                        "{},\"f:app\":{}}}}}]");
}

static void test_create_deployment_against_the_empty_object(void **state)
{
    (void)state;
    /* spec, template, its metadata and spec, and strategy exist in the
     * empty Go object, so only what they hold is new ("." only on maps
     * and items the create added) */
    const kr_kind_t *d = K("apps", "deployments");
    kr_value_t *obj = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                        "\"name\":\"web\"},\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":"
                        "{\"app\":\"web\"}},\"strategy\":{\"type\":\"RollingUpdate\","
                        "\"rollingUpdate\":{\"maxSurge\":\"25%\"}},\"template\":{\"metadata\":{"
                        "\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"web\","
                        "\"image\":\"nginx\",\"resources\":{}}]}}}}");
    kr_managed_update(arena, d, NULL, obj, "kubectl-create", NULL, T1);
    assert_string_equal(fields_of(obj, "kubectl-create", "Update"),
                        "{\"f:spec\":{\"f:replicas\":{},\"f:selector\":{},\"f:strategy\":{"
                        "\"f:rollingUpdate\":{\".\":{},\"f:maxSurge\":{}},\"f:type\":{}},"
                        "\"f:template\":{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{}}},"
                        "\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"web\\\"}\":{\".\":{},"
                        "\"f:image\":{},\"f:name\":{},\"f:resources\":{}}}}}}}");
}

static void test_updates_move_ownership_per_manager(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    kr_value_t *v1 = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                       "\"cfg\"},\"data\":{\"a\":\"1\",\"b\":\"2\"}}");
    kr_managed_update(arena, cm, NULL, v1, "creator", NULL, T1);

    /* another manager changes a, adds c: a moves, b stays */
    kr_value_t *v2 = kr_value_copy(arena, v1);
    kr_value_set(arena, v2, "data.a", kr_value_str(arena, "9"), NULL);
    kr_value_set(arena, v2, "data.c", kr_value_str(arena, "3"), NULL);
    kr_managed_update(arena, cm, v1, v2, "editor", NULL, T2);
    assert_string_equal(fields_of(v2, "creator", "Update"), "{\"f:data\":{\".\":{},\"f:b\":{}}}");
    assert_string_equal(fields_of(v2, "editor", "Update"), "{\"f:data\":{\"f:a\":{},\"f:c\":{}}}");
    assert_string_equal(kr_value_map_str(entry_of(v2, "editor", "Update"), "time"), T2);
    assert_string_equal(kr_value_map_str(entry_of(v2, "creator", "Update"), "time"), T1);
    /* entries sorted by time */
    assert_string_equal(kr_value_map_str(kr_value_get(v2, "metadata.managedFields[0]"), "manager"),
                        "creator");

    /* a write that changes nothing keeps every entry and time */
    kr_value_t *v3 = kr_value_copy(arena, v2);
    kr_managed_update(arena, cm, v2, v3, "editor", NULL, T3);
    assert_string_equal(S(kr_value_get(v3, "metadata.managedFields")),
                        S(kr_value_get(v2, "metadata.managedFields")));

    /* the same manager again: its entry grows, its time moves; removing a
     * field takes it from whoever owned it */
    kr_value_t *v4 = kr_value_copy(arena, v3);
    kr_value_map_del(kr_value_get(v4, "data"), "b");
    kr_value_set(arena, v4, "data.d", kr_value_str(arena, "4"), NULL);
    kr_managed_update(arena, cm, v3, v4, "editor", NULL, T3);
    assert_string_equal(fields_of(v4, "creator", "Update"), "{\"f:data\":{}}");
    assert_string_equal(fields_of(v4, "editor", "Update"),
                        "{\"f:data\":{\"f:a\":{},\"f:c\":{},\"f:d\":{}}}");
    assert_string_equal(kr_value_map_str(entry_of(v4, "editor", "Update"), "time"), T3);

    /* a write through a subresource is its own entry */
    kr_value_t *v5 = kr_value_copy(arena, v4);
    kr_value_set(arena, v5, "data.e", kr_value_str(arena, "5"), NULL);
    kr_managed_update(arena, cm, v4, v5, "editor", "scale", T3);
    const kr_value_t *es = kr_value_get(v5, "metadata.managedFields[2]");
    assert_string_equal(kr_value_map_str(es, "subresource"), "scale");
    assert_string_equal(S(kr_value_map_get(es, "fieldsV1")), "{\"f:data\":{\"f:e\":{}}}");
}

static void test_untracked_objects_and_resets(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    /* an object stored without managedFields stays without them */
    kr_value_t *live = J("{\"metadata\":{\"name\":\"cfg\"},\"data\":{\"a\":\"1\"}}");
    kr_value_t *obj = J("{\"metadata\":{\"name\":\"cfg\"},\"data\":{\"a\":\"2\"}}");
    kr_managed_update(arena, cm, live, obj, "editor", NULL, T1);
    assert_null(kr_value_get(obj, "metadata.managedFields"));

    /* [] resets them */
    kr_value_t *v1 = J("{\"metadata\":{\"name\":\"cfg\"},\"data\":{\"a\":\"1\"}}");
    kr_managed_update(arena, cm, NULL, v1, "creator", NULL, T1);
    assert_non_null(kr_value_get(v1, "metadata.managedFields"));
    kr_value_t *v2 = kr_value_copy(arena, v1);
    kr_value_set(arena, v2, "metadata.managedFields", kr_value_array(arena), NULL);
    kr_value_set(arena, v2, "data.a", kr_value_str(arena, "2"), NULL);
    kr_managed_update(arena, cm, v1, v2, "editor", NULL, T2);
    assert_null(kr_value_get(v2, "metadata.managedFields"));

    /* a client's own (valid) managedFields are taken as they are */
    kr_value_t *v3 = kr_value_copy(arena, v1);
    kr_value_set(arena, v3, "metadata.managedFields",
                 J("[{\"manager\":\"m\",\"operation\":\"Update\",\"apiVersion\":\"v1\","
                   "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{\"f:a\":{}}}}]"),
                 NULL);
    kr_managed_update(arena, cm, v1, v3, "editor", NULL, T2);
    assert_string_equal(fields_of(v3, "m", "Update"), "{\"f:data\":{\"f:a\":{}}}");
    assert_null(entry_of(v3, "creator", "Update"));

    /* invalid ones are ignored in favour of the stored ones */
    kr_value_t *v4 = kr_value_copy(arena, v1);
    kr_value_set(arena, v4, "metadata.managedFields",
                 J("[{\"manager\":\"m\",\"operation\":\"Patch\",\"apiVersion\":\"v1\"}]"), NULL);
    kr_managed_update(arena, cm, v1, v4, "editor", NULL, T2);
    assert_non_null(entry_of(v4, "creator", "Update"));
    assert_null(entry_of(v4, "m", "Update"));
}

static void test_decode_errors(void **state)
{
    (void)state;
    kr_managed_t m;
    kr_error_t err;
    assert_true(kr_managed_decode(arena, J("[{\"operation\":\"Patch\",\"apiVersion\":\"v1\"}]"), &m,
                                  &err) < 0);
    assert_string_equal(err.message, "operation must be `Apply` or `Update`");
    assert_true(kr_managed_decode(arena, J("[{\"operation\":\"Apply\"}]"), &m, &err) < 0);
    assert_string_equal(err.message, "apiVersion must not be empty");
    assert_true(kr_managed_decode(arena, J("[{\"operation\":\"Apply\",\"apiVersion\":\"v1\"}]"), &m,
                                  &err) < 0);
    assert_string_equal(err.message, "missing fieldsType in managed fields entry 0");
    assert_true(kr_managed_decode(arena,
                                  J("[{\"operation\":\"Apply\",\"apiVersion\":\"v1\","
                                    "\"fieldsType\":\"FieldsV2\"}]"),
                                  &m, &err) < 0);
    assert_string_equal(err.message, "invalid fieldsType \"FieldsV2\" in managed fields entry 0");
    /* identities: Apply entries without their apiVersion */
    assert_string_equal(kr_managed_id(arena, "kubectl", true, "apps/v1", NULL),
                        "{\"manager\":\"kubectl\",\"operation\":\"Apply\"}");
    assert_string_equal(kr_managed_id(arena, "x", false, "apps/v1", "status"),
                        "{\"manager\":\"x\",\"operation\":\"Update\",\"apiVersion\":\"apps/v1\","
                        "\"subresource\":\"status\"}");
}

static void test_update_managers_are_capped(void **state)
{
    (void)state;
    const kr_kind_t *cm = K("", "configmaps");
    /* 12 managers, each adding its own key an hour after the last */
    kr_value_t *live = J("{\"metadata\":{\"name\":\"cfg\"},\"data\":{}}");
    kr_value_set(arena, live, "metadata.managedFields",
                 J("[{\"manager\":\"seed\",\"operation\":\"Apply\",\"apiVersion\":\"v1\","
                   "\"time\":\"2024-05-01T09:00:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":"
                   "{\"f:metadata\":{\"f:labels\":{}}}}]"),
                 NULL);
    for (int i = 0; i < 12; i++) {
        kr_value_t *next = kr_value_copy(arena, live);
        char key[16], manager[16], ts[32];
        snprintf(key, sizeof key, "data.k%02d", i);
        snprintf(manager, sizeof manager, "m%02d", i);
        snprintf(ts, sizeof ts, "2024-05-01T%02d:00:00Z", 10 + i);
        kr_value_set(arena, next, key, kr_value_str(arena, "x"), NULL);
        kr_managed_update(arena, cm, live, next, manager, NULL, ts);
        live = next;
    }
    const kr_value_t *mf = kr_value_get(live, "metadata.managedFields");
    /* the Apply entry and 10 Update entries: the three oldest updaters
     * became one "ancient-changes" entry with the newest time of them */
    assert_int_equal(kr_value_len(mf), 11);
    assert_null(entry_of(live, "m00", "Update"));
    assert_null(entry_of(live, "m01", "Update"));
    assert_null(entry_of(live, "m02", "Update"));
    assert_non_null(entry_of(live, "m03", "Update"));
    assert_non_null(entry_of(live, "seed", "Apply"));
    assert_string_equal(fields_of(live, "ancient-changes", "Update"),
                        "{\"f:data\":{\"f:k00\":{},\"f:k01\":{},\"f:k02\":{}}}");
    assert_string_equal(kr_value_map_str(entry_of(live, "ancient-changes", "Update"), "time"),
                        "2024-05-01T12:00:00Z");
}

static void test_manager_names_and_options(void **state)
{
    (void)state;
    assert_string_equal(kr_managed_manager_name(arena, "kubectl-edit", "kubectl/v1.30"),
                        "kubectl-edit");
    assert_string_equal(
        kr_managed_manager_name(arena, NULL, "kubectl/v1.30.0 (linux/amd64) kubernetes/abc"),
        "kubectl");
    assert_string_equal(kr_managed_manager_name(arena, "", "Go-http-client/1.1"), "Go-http-client");
    assert_string_equal(kr_managed_manager_name(arena, NULL, NULL), "unknown");
    assert_string_equal(kr_managed_manager_name(arena, NULL, "a\tb/1"), "ab");

    kr_validation_t v;
    kr_error_t err;
    kr_validation_init(&v, arena);
    kr_managed_check_options(&v, true, "", false);
    kr_validation_error(&v, "meta.k8s.io", "PatchOptions", "", &err);
    assert_string_equal(err.message, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                                     "Required value: is required for apply patch");
    kr_validation_init(&v, arena);
    kr_managed_check_options(&v, false, "me", true);
    kr_validation_error(&v, "meta.k8s.io", "PatchOptions", "", &err);
    assert_string_equal(err.message, "PatchOptions.meta.k8s.io \"\" is invalid: force: "
                                     "Forbidden: may not be specified for non-apply patch");
    kr_validation_init(&v, arena);
    kr_managed_check_options(&v, true, "kubectl", true);
    assert_true(kr_validation_ok(&v));
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    kr_validation_init(&v, arena);
    kr_managed_check_options(&v, false, longname, false);
    kr_validation_error(&v, "meta.k8s.io", "UpdateOptions", "", &err);
    assert_string_equal(err.message, "UpdateOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                                     "Too long: must have at most 128 bytes");
    kr_validation_init(&v, arena);
    kr_managed_check_options(&v, false, "a\tb", false);
    kr_validation_error(&v, "meta.k8s.io", "CreateOptions", "", &err);
    assert_string_equal(err.message, "CreateOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                                     "Invalid value: \"a\\tb\": invalid character U+0009 (at "
                                     "position 1)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields_round_trip_in_upstream_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_records_an_update_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_deployment_against_the_empty_object, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_updates_move_ownership_per_manager, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untracked_objects_and_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_managers_are_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manager_names_and_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
