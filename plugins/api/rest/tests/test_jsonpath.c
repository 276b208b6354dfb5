/* The printer columns' JSONPath (jsonpath.h): what client-go's jsonpath
 * selects for the paths CRD columns use, and the syntax it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/value.h>

#include "jsonpath.h"

static kr_arena_t *arena;
static kr_value_t *doc;

static const char doc_json[] =
    "{\"metadata\": {\"name\": \"w\", \"labels\": {\"app.kubernetes.io/name\": \"web\", "
    "\"tier\": \"front\"}},"
    " \"spec\": {\"containers\": [{\"name\": \"app\", \"image\": \"nginx\", \"port\": 80},"
    "                          {\"name\": \"log\", \"image\": \"busybox\", \"port\": 8080},"
    "                          {\"name\": \"db\", \"image\": \"postgres\", \"port\": 5432}],"
    "          \"replicas\": 3, \"ratio\": 0.5, \"paused\": false, \"none\": null},"
    " \"status\": {\"conditions\": [{\"type\": \"Available\", \"status\": \"False\"},"
    "                             {\"type\": \"Ready\", \"status\": \"True\"}]}}";

static int setup(void **state)
{
    (void)state;
    arena = kr_arena_new(0);
    kr_error_t err;
    assert_int_equal(kr_json_decode(arena, doc_json, strlen(doc_json), &doc, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_arena_destroy(&arena);
    return 0;
}

/* The values `path` selects, as text joined with " ". */
static const char *sel(const char *path)
{
    kr_error_t err;
    rest_jsonpath_t *jp = rest_jsonpath_compile(arena, path, &err);
    if (jp == NULL)
        fail_msg("%s: %s", path, err.message);
    const kr_value_t **vals;
    size_t n = rest_jsonpath_find(arena, jp, doc, &vals);
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            kr_buf_puts(&b, " ");
        kr_json_encode(vals[i], &b, KR_JSON_COMPACT, NULL);
    }
    const char *s = kr_arena_strdup(arena, b.data ? b.data : "");
    kr_buf_free(&b);
    if (n > 0)
        assert_ptr_equal(rest_jsonpath_first(jp, doc), vals[0]);
    else
        assert_null(rest_jsonpath_first(jp, doc));
    return s;
}

static void test_fields(void **state)
{
    (void)state;
    assert_string_equal(sel(".spec.replicas"), "3");
    assert_string_equal(sel(".metadata.name"), "\"w\"");
    assert_string_equal(sel("{.metadata.name}"), "\"w\"");
    assert_string_equal(sel("$.metadata.name"), "\"w\"");
    assert_string_equal(sel(".metadata.labels['app.kubernetes.io/name']"), "\"web\"");
    assert_string_equal(sel(".metadata.labels[\"tier\"]"), "\"front\"");
    assert_string_equal(sel(".metadata.labels.app\\.kubernetes\\.io/name"), "\"web\"");
    assert_string_equal(sel(".spec.none"), "null");
    /* Missing keys, indexes out of range and steps of the wrong type
     * select nothing (AllowMissingKeys). */
    assert_string_equal(sel(".spec.nothing"), "");
    assert_string_equal(sel(".spec.replicas.deeper"), "");
    assert_string_equal(sel(".spec.containers.name"), "");
    assert_string_equal(sel(".spec.containers[7].name"), "");
}

static void test_arrays(void **state)
{
    (void)state;
    assert_string_equal(sel(".spec.containers[*].name"), "\"app\" \"log\" \"db\"");
    assert_string_equal(sel(".spec.containers[1].image"), "\"busybox\"");
    assert_string_equal(sel(".spec.containers[-1].name"), "\"db\"");
    assert_string_equal(sel(".spec.containers[0:2].name"), "\"app\" \"log\"");
    assert_string_equal(sel(".spec.containers[1:].name"), "\"log\" \"db\"");
    assert_string_equal(sel(".spec.containers[:1].name"), "\"app\"");
    assert_string_equal(sel(".metadata.labels.*"), "\"web\" \"front\"");
}

static void test_filters(void **state)
{
    (void)state;
    assert_string_equal(sel(".status.conditions[?(@.type==\"Ready\")].status"), "\"True\"");
    assert_string_equal(sel(".status.conditions[?(@.type=='Available')].status"), "\"False\"");
    assert_string_equal(sel(".status.conditions[?(@.type != \"Ready\")].type"), "\"Available\"");
    assert_string_equal(sel(".spec.containers[?(@.port>80)].name"), "\"log\" \"db\"");
    assert_string_equal(sel(".spec.containers[?(@.port<=80)].name"), "\"app\"");
    assert_string_equal(sel(".spec.containers[?(@.port>=5432)].name"), "\"log\" \"db\"");
    assert_string_equal(sel(".spec.containers[?(@.port<1000)].name"), "\"app\"");
    assert_string_equal(sel(".spec.containers[?(@.image)].name"), "\"app\" \"log\" \"db\"");
    assert_string_equal(sel(".spec.containers[?(@.missing)].name"), "");
    assert_string_equal(sel(".status.conditions[?(@.type==\"Gone\")].status"), "");
}

static void test_syntax_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "..spec",           ".spec..x", ".spec.containers[0,1]",      ".spec.containers[0",
        ".a['unterminated", "{.spec",   ".spec.containers[?(@.a==)]", ".spec[?(x)]",
        ".a[?(@.b==1]",     ".a[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kr_error_t err;
        kr_error_clear(&err);
        if (rest_jsonpath_compile(arena, bad[i], &err) != NULL)
            fail_msg("%s compiled", bad[i]);
        assert_int_equal(err.reason, KR_E_BAD_REQUEST);
        assert_non_null(strstr(err.message, "offset"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_syntax_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
