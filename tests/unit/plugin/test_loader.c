/* The plugin loader against real .so files (tests/plugins). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_loader.h"

static char plugin_dir[4096];

static const char *plugin_file(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", plugin_dir, name);
    return path;
}

static int setup(void **state)
{
    (void)state;
    const char *env = getenv("KRAAL_PLUGIN_PATH");
    if (env == NULL) {
        fprintf(stderr, "KRAAL_PLUGIN_PATH is not set (run through ctest)\n");
        return -1;
    }
    snprintf(plugin_dir, sizeof plugin_dir, "%s", env);
    char *colon = strchr(plugin_dir, ':');
    if (colon)
        *colon = '\0';
    /* The loader reports files found by search with symlinks resolved. */
    char *real = realpath(plugin_dir, NULL);
    if (real == NULL)
        return -1;
    snprintf(plugin_dir, sizeof plugin_dir, "%s", real);
    free(real);
    return 0;
}

static void test_good_by_path(void **state)
{
    (void)state;
    kr_error_t err;
    kr_module_t *m = kr_module_load(plugin_file("test-good.so"), &err);
    assert_non_null(m);
    assert_string_equal(m->desc.name, "good");
    assert_string_equal(m->desc.kind, "test");
    assert_string_equal(m->desc.version, "0.0.1");
    assert_non_null(m->desc.init);
    assert_int_equal(m->desc.abi_major, KR_ABI_MAJOR);
    assert_string_equal(m->path, plugin_file("test-good.so"));
    kr_module_destroy(&m);
    assert_null(m);
    kr_module_destroy(&m); /* NULL is fine */
}

static void test_good_by_name(void **state)
{
    (void)state;
    kr_error_t err;
    kr_module_t *m = kr_module_open("test-good", NULL, &err);
    assert_non_null(m);
    assert_string_equal(m->path, plugin_file("test-good.so"));
    /* A second load of the same file is a second, independent module. */
    kr_module_t *m2 = kr_module_open("test-good.so", NULL, &err);
    assert_non_null(m2);
    kr_module_destroy(&m);
    assert_string_equal(m2->desc.name, "good");
    kr_module_destroy(&m2);
}

static void test_search_order(void **state)
{
    (void)state;
    kr_error_t err;
    /* The config's plugin_path is searched when the env does not have it. */
    char *saved = strdup(getenv("KRAAL_PLUGIN_PATH"));
    setenv("KRAAL_PLUGIN_PATH", "/nonexistent-a:/nonexistent-b", 1);
    const char *dirs[] = {"/nonexistent-c", plugin_dir, NULL};
    char *p = kr_module_resolve("test-good", dirs, &err);
    assert_non_null(p);
    assert_string_equal(p, plugin_file("test-good.so"));
    free(p);

    p = kr_module_resolve("no-such-plugin", dirs, &err);
    assert_null(p);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
    assert_non_null(strstr(err.message, "plugin \"no-such-plugin\": no-such-plugin.so not found"));
    assert_non_null(strstr(err.message, "/nonexistent-a, /nonexistent-b, /nonexistent-c"));
    setenv("KRAAL_PLUGIN_PATH", saved, 1);
    free(saved);
}

static void test_path_as_is(void **state)
{
    (void)state;
    kr_error_t err;
    char *p = kr_module_resolve("./no/such/file.so", NULL, &err);
    assert_null(p);
    assert_string_equal(err.message, "./no/such/file.so: No such file or directory");
    kr_module_t *m = kr_module_open("/no/such/file.so", NULL, &err);
    assert_null(m);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
}

static void test_missing_symbol(void **state)
{
    (void)state;
    kr_error_t err;
    const char *path = plugin_file("test-nosym.so");
    kr_module_t *m = kr_module_load(path, &err);
    assert_null(m);
    char want[4400];
    snprintf(want, sizeof want, "%s: not a kraal plugin: undefined symbol kraal_plugin", path);
    assert_string_equal(err.message, want);
}

static void test_abi_mismatch(void **state)
{
    (void)state;
    kr_error_t err;
    const char *path = plugin_file("test-abi.so");
    kr_module_t *m = kr_module_load(path, &err);
    assert_null(m);
    assert_int_equal(err.reason, KR_E_INVALID);
    char want[4400];
    snprintf(want, sizeof want, "%s: plugin ABI 99.3 is not supported by this kraal (ABI %d.%d)",
             path, KR_ABI_MAJOR, KR_ABI_MINOR);
    assert_string_equal(err.message, want);
}

static void test_short_struct(void **state)
{
    (void)state;
    kr_error_t err;
    const char *path = plugin_file("test-short.so");
    kr_module_t *m = kr_module_load(path, &err);
    assert_null(m);
    char want[4400];
    snprintf(want, sizeof want,
             "%s: plugin descriptor is 8 bytes, smaller than the ABI 1.0 layout (%zu bytes)", path,
             (size_t)KR_PLUGIN_V1_SIZE);
    assert_string_equal(err.message, want);
}

static void test_not_a_shared_object(void **state)
{
    (void)state;
    char path[] = "/tmp/kraal-test-notso-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello\n", 6), 6);
    close(fd);
    kr_error_t err;
    kr_module_t *m = kr_module_load(path, &err);
    assert_null(m);
    assert_int_equal(strncmp(err.message, path, strlen(path)), 0);
    assert_non_null(strstr(err.message, "cannot load plugin"));
    unlink(path);
}

static void test_failed_loads_leave_good_loadable(void **state)
{
    (void)state;
    kr_error_t err;
    for (int i = 0; i < 3; i++) {
        assert_null(kr_module_open("test-abi", NULL, &err));
        assert_null(kr_module_open("test-short", NULL, &err));
        assert_null(kr_module_open("test-nosym", NULL, &err));
        kr_module_t *m = kr_module_open("test-good", NULL, &err);
        assert_non_null(m);
        kr_module_destroy(&m);
    }
}

static void test_config_table_checked(void **state)
{
    (void)state;
    kr_error_t err;
    kr_module_t *m = kr_module_open("test-cfg", NULL, &err);
    assert_non_null(m);
    assert_non_null(m->desc.config);
    assert_int_equal(m->desc.config[0].type, KR_CFG_STRING);
    kr_module_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_by_path),
        cmocka_unit_test(test_good_by_name),
        cmocka_unit_test(test_search_order),
        cmocka_unit_test(test_path_as_is),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_abi_mismatch),
        cmocka_unit_test(test_short_struct),
        cmocka_unit_test(test_not_a_shared_object),
        cmocka_unit_test(test_failed_loads_leave_good_loadable),
        cmocka_unit_test(test_config_table_checked),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
