/* Value tree: arena, constructors, arrays, maps, paths, copy and equal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <kraal/value.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static void test_arena(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(256);
    for (size_t sz = 1; sz < 5000; sz = sz * 3 + 1) {
        unsigned char *p = kr_arena_alloc(a, sz);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, sz);
    }
    void *big = kr_arena_alloc(a, 1 << 20); /* gets its own chunk */
    assert_int_equal((uintptr_t)big % 16, 0);
    memset(big, 1, 1 << 20);
    assert_true(kr_arena_used(a) >= (1u << 20));
    assert_string_equal(kr_arena_printf(a, "%s-%d", "x", 42), "x-42");
    assert_string_equal(kr_arena_strndup(a, "hello", 3), "hel");
    kr_arena_reset(a);
    assert_int_equal(kr_arena_used(a), 0);
    assert_string_equal(kr_arena_strdup(a, "again"), "again");
    kr_arena_destroy(&a);
    assert_null(a);
    kr_arena_destroy(&a); /* NULL is fine */
    kr_arena_destroy(NULL);
}

/* A round of the same shape after a reset reuses the chunks of the last
 * round: the same addresses come back, so a relist touches no new page. */
static void test_arena_reuse(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    enum { N = 5000 }; /* spans several chunks of growing size */
    static void *first[N];
    for (int i = 0; i < N; i++)
        first[i] = kr_arena_alloc(a, 96);
    void *big = kr_arena_alloc(a, 300000);
    kr_arena_reset(a);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(kr_arena_alloc(a, 96), first[i]);
    assert_ptr_equal(kr_arena_alloc(a, 300000), big);
    assert_int_equal(kr_arena_used(a), N * 96 + 300000);
    /* a small round, then a big one again: still correct memory */
    kr_arena_reset(a);
    memset(kr_arena_alloc(a, 10), 1, 10);
    kr_arena_reset(a);
    for (int i = 0; i < N; i++)
        memset(kr_arena_alloc(a, 96), 2, 96);
    kr_arena_destroy(&a);
}

static void test_buf(void **state)
{
    (void)state;
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "abc");
    kr_buf_printf(&b, "-%d-", 7);
    kr_buf_append(&b, "\0z", 2);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "abc-7-\0z", 8);
    assert_int_equal(b.data[b.len], '\0');
    kr_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    kr_buf_free(&b);
    assert_null(b.data);
}

static void test_scalars(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    assert_int_equal(kr_value_type(NULL), KR_NULL);
    assert_int_equal(kr_value_as_int(kr_value_int(a, INT64_MIN), 0), INT64_MIN);
    assert_int_equal(kr_value_as_int(kr_value_int(a, INT64_MAX), 0), INT64_MAX);
    assert_int_equal(kr_value_as_int(kr_value_float(a, 1.0), 7), 7); /* ints only */
    assert_true(kr_value_as_float(kr_value_int(a, 3), 0) == 3.0);
    assert_true(kr_value_as_bool(kr_value_bool(a, true), false));
    assert_false(kr_value_as_bool(kr_value_str(a, "true"), false));
    kr_value_t *s = kr_value_strn(a, "a\0b", 3);
    assert_int_equal(kr_value_len(s), 3);
    assert_memory_equal(kr_value_as_str(s), "a\0b", 4);
    assert_null(kr_value_as_str(kr_value_int(a, 1)));
    assert_string_equal(kr_type_name(KR_MAP), "map");
    assert_string_equal(kr_type_name(KR_STR), "string");
    assert_false(kr_value_equal(kr_value_int(a, 1), kr_value_float(a, 1.0)));
    assert_true(kr_value_equal(NULL, kr_value_null(a)));
    kr_arena_destroy(&a);
}

static void test_array(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *arr = kr_value_array(a);
    for (int i = 0; i < 1000; i++)
        kr_value_array_push(a, arr, kr_value_int(a, i));
    assert_int_equal(kr_value_len(arr), 1000);
    assert_int_equal(kr_value_as_int(kr_value_array_get(arr, 999), -1), 999);
    assert_null(kr_value_array_get(arr, 1000));
    assert_true(kr_value_array_remove(arr, 0));
    assert_false(kr_value_array_remove(arr, 999));
    assert_int_equal(kr_value_len(arr), 999);
    assert_int_equal(kr_value_as_int(kr_value_array_get(arr, 0), -1), 1);
    /* insert at the front, in the middle and at the end (== len appends) */
    assert_true(kr_value_array_insert(a, arr, 0, kr_value_int(a, -1)));
    assert_true(kr_value_array_insert(a, arr, 500, kr_value_str(a, "mid")));
    assert_true(kr_value_array_insert(a, arr, 1001, kr_value_int(a, 7777)));
    assert_false(kr_value_array_insert(a, arr, 1003, kr_value_int(a, 0)));
    assert_int_equal(kr_value_len(arr), 1002);
    assert_int_equal(kr_value_as_int(kr_value_array_get(arr, 0), 0), -1);
    assert_int_equal(kr_value_as_int(kr_value_array_get(arr, 1), 0), 1);
    assert_string_equal(kr_value_as_str(kr_value_array_get(arr, 500)), "mid");
    assert_int_equal(kr_value_as_int(kr_value_array_get(arr, 501), 0), 500);
    assert_int_equal(kr_value_as_int(kr_value_array_get(arr, 1001), 0), 7777);
    assert_true(kr_value_array_set(a, arr, 1, kr_value_bool(a, true)));
    assert_true(kr_value_as_bool(kr_value_array_get(arr, 1), false));
    assert_false(kr_value_array_set(a, arr, 1002, kr_value_int(a, 0)));
    kr_arena_destroy(&a);
}

static void test_map_order_and_replace(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "b", kr_value_int(a, 1));
    kr_value_map_set(a, m, "a", kr_value_int(a, 2));
    kr_value_map_set(a, m, "c", kr_value_int(a, 3));
    kr_value_map_set(a, m, "b", kr_value_str(a, "x")); /* keeps position */
    assert_int_equal(kr_value_len(m), 3);
    assert_string_equal(kr_value_map_key(m, 0), "b");
    assert_string_equal(kr_value_map_str(m, "b"), "x");
    assert_string_equal(kr_value_map_key(m, 1), "a");
    assert_true(kr_value_map_del(m, "a"));
    assert_false(kr_value_map_del(m, "a"));
    assert_string_equal(kr_value_map_key(m, 1), "c");
    assert_int_equal(kr_value_map_int(m, "c", 0), 3);
    assert_int_equal(kr_value_map_int(m, "zz", -5), -5);
    assert_null(kr_value_map_key(m, 2));
    kr_arena_destroy(&a);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double fill_map(int n)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *m = kr_value_map(a);
    char key[32];
    double t0 = now();
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        kr_value_map_set(a, m, key, kr_value_int(a, i));
    }
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(kr_value_map_int(m, key, -1), i);
    }
    double t = now() - t0;
    assert_int_equal(kr_value_len(m), n);
    /* Delete in the middle, then everything after it is still found. */
    assert_true(kr_value_map_del(m, "key-5"));
    assert_null(kr_value_map_get(m, "key-5"));
    snprintf(key, sizeof(key), "key-%d", n - 1);
    assert_int_equal(kr_value_map_int(m, key, -1), n - 1);
    assert_string_equal(kr_value_map_key(m, 5), "key-6");
    kr_arena_destroy(&a);
    return t;
}

static void test_big_map_linear(void **state)
{
    (void)state;
    /* 160,000 keys: a linear-scan map needs ~1.3e10 key comparisons
     * (minutes); the hashed one takes tens of milliseconds.  The bound is
     * absolute and wide so a loaded machine or ASan cannot make it flaky. */
    double t = fill_map(160000);
    assert_true(t < 5.0);
}

static kr_value_t *sample(kr_arena_t *a)
{
    kr_value_t *root = kr_value_map(a);
    kr_error_t err;
    assert_int_equal(kr_value_set(a, root, "metadata.name", kr_value_str(a, "web"), &err), 0);
    assert_int_equal(kr_value_set(a, root, "metadata.labels[\"app.kubernetes.io/name\"]",
                                  kr_value_str(a, "web"), &err),
                     0);
    kr_value_t *containers = kr_value_array(a);
    kr_value_t *c0 = kr_value_map(a);
    kr_value_map_set(a, c0, "image", kr_value_str(a, "nginx:1.25"));
    kr_value_array_push(a, containers, c0);
    assert_int_equal(kr_value_set(a, root, "spec.template.spec.containers", containers, &err), 0);
    return root;
}

static void test_paths(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *root = sample(a);
    kr_error_t err;
    assert_string_equal(kr_value_as_str(kr_value_get(root, "metadata.name")), "web");
    assert_string_equal(
        kr_value_as_str(kr_value_get(root, "metadata.labels[\"app.kubernetes.io/name\"]")), "web");
    assert_string_equal(
        kr_value_as_str(kr_value_get(root, "spec.template.spec.containers[0].image")),
        "nginx:1.25");
    assert_null(kr_value_get(root, "spec.template.spec.containers[1].image"));
    assert_null(kr_value_get(root, "metadata.name.x"));
    assert_null(kr_value_get(root, "metadata..name"));
    assert_true(kr_value_get(root, "") == root);

    kr_value_t *list = kr_value_get(root, "spec.template.spec.containers");
    assert_string_equal(kr_value_as_str(kr_value_get(list, "[0].image")), "nginx:1.25");

    /* Replace through an index; quoted keys with escapes. */
    assert_int_equal(kr_value_set(a, root, "spec.template.spec.containers[0].image",
                                  kr_value_str(a, "nginx:1.26"), &err),
                     0);
    assert_string_equal(
        kr_value_as_str(kr_value_get(root, "spec.template.spec.containers[0].image")),
        "nginx:1.26");
    assert_int_equal(
        kr_value_set(a, root, "metadata.annotations[\"a\\\"b\\\\c\"]", kr_value_int(a, 1), &err),
        0);
    assert_int_equal(kr_value_map_int(kr_value_get(root, "metadata.annotations"), "a\"b\\c", 0), 1);

    /* Errors: malformed, through a scalar, missing index, no array created. */
    static const char *const bad[] = {"a..b", "a[", "a[x]",  "a[\"x]",     "a[\"x\"", ".a",
                                      "a.",   "a]", "a[0]b", "a[\"\\n\"]", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = kr_value_set(a, root, bad[i], kr_value_null(a), &err);
        if (rc >= 0)
            fail_msg("path %s accepted", bad[i]);
        assert_int_equal(err.reason, KR_E_BAD_REQUEST);
        assert_non_null(strstr(err.message, "path \""));
    }
    assert_true(kr_value_set(a, root, "a[\"x", kr_value_null(a), &err) < 0);
    assert_non_null(strstr(err.message, "offset 4"));
    assert_true(kr_value_set(a, root, "metadata.name.first", kr_value_null(a), &err) < 0);
    assert_non_null(strstr(err.message, "in a string"));
    assert_true(kr_value_set(a, root, "spec.template.spec.containers[3]", kr_value_null(a), &err) <
                0);
    assert_non_null(strstr(err.message, "out of range"));
    assert_true(kr_value_set(a, root, "status.conditions[0].type", kr_value_null(a), &err) < 0);
    assert_null(kr_value_get(root, "status")); /* nothing half-created */
    kr_arena_destroy(&a);
}

static void test_copy_equal(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_arena_t *b = kr_arena_new(0);
    kr_value_t *root = sample(a);
    kr_value_t *big = kr_value_map(a);
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        kr_value_map_set(a, big, key, kr_value_int(a, i));
    }
    kr_value_map_set(a, root, "big", big);
    kr_value_t *c = kr_value_copy(b, root);
    kr_arena_destroy(&a); /* the copy owns nothing of the source */
    root = sample(b);
    kr_value_t *big2 = kr_value_map(b);
    for (int i = 99; i >= 0; i--) { /* other order: maps compare as sets */
        snprintf(key, sizeof(key), "k%d", i);
        kr_value_map_set(b, big2, key, kr_value_int(b, i));
    }
    kr_value_map_set(b, root, "big", big2);
    assert_true(kr_value_equal(c, root));
    assert_int_equal(kr_value_map_int(kr_value_map_get(c, "big"), "k77", -1), 77);
    kr_value_map_set(b, big2, "k7", kr_value_float(b, 7.0));
    assert_false(kr_value_equal(c, root));
    kr_value_map_set(b, big2, "k7", kr_value_int(b, 7));
    kr_value_map_set(b, big2, "k100", kr_value_int(b, 100));
    assert_false(kr_value_equal(c, root));
    kr_arena_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_arena_reuse),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_array),
        cmocka_unit_test(test_map_order_and_replace),
        cmocka_unit_test(test_big_map_linear),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_copy_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
