/* Plugin instances on their threads, against a real in-process broker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "host.h"

struct fixture {
    kr_broker_t *broker;
    kr_host_t *host;
    kr_bus_t *client;
    kr_arena_t *arena;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    f->broker = kr_broker_new(&bo, &err);
    if (f->broker == NULL || kr_broker_start(f->broker, &err) < 0) {
        fprintf(stderr, "broker: %s\n", err.message);
        return -1;
    }
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT, .data_dir = "/tmp/kraal-test-data"};
    f->host = kr_host_new(&ho);
    f->client = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    f->arena = kr_arena_new(0);
    *state = f;
    return f->client ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    kr_host_destroy(&f->host);
    kr_bus_destroy(&f->client);
    kr_broker_destroy(&f->broker);
    kr_arena_destroy(&f->arena);
    free(f);
    kr_bus_shutdown();
    return 0;
}

static int call(struct fixture *f, const char *op, kr_reply_t *reply)
{
    kr_error_t err;
    kr_request_t req = {.op = op};
    int rc = kr_bus_call(f->client, &req, f->arena, reply, 5000, &err);
    if (rc < 0)
        fail_msg("call %s: %s", op, err.message);
    return reply->code;
}

static void test_start_call_stop(void **state)
{
    struct fixture *f = *state;
    kr_error_t err;
    kr_plugin_spec_t spec = {.plugin = "test-good"};
    if (kr_host_start(f->host, &spec, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(kr_host_count(f->host), 1);
    kr_reply_t r;
    assert_int_equal(call(f, "test.good", &r), 200);
    assert_string_equal(kr_value_map_str(r.obj, "instance"), "good");
    assert_string_equal(kr_value_map_str(r.obj, "data_dir"), "/tmp/kraal-test-data");
    assert_int_equal(kr_value_map_int(r.obj, "calls", 0), 1);
    assert_int_equal(call(f, "test.good", &r), 200);
    assert_int_equal(kr_value_map_int(r.obj, "calls", 0), 2);

    kr_host_stop_all(f->host);
    assert_int_equal(kr_host_count(f->host), 0);
    /* Its op went away with its connection. */
    int code = call(f, "test.good", &r);
    assert_true(code == 404 || code == 503);
}

static void test_duplicate_instance_name(void **state)
{
    struct fixture *f = *state;
    kr_error_t err;
    kr_plugin_spec_t spec = {.plugin = "test-good"};
    assert_int_equal(kr_host_start(f->host, &spec, &err), 0);
    assert_true(kr_host_start(f->host, &spec, &err) < 0);
    assert_int_equal(err.reason, KR_E_ALREADY_EXISTS);
    assert_non_null(strstr(err.message, "an instance named \"good\" is already running"));
    kr_plugin_spec_t other = {.plugin = "test-good", .name = "good2"};
    assert_int_equal(kr_host_start(f->host, &other, &err), 0);
    kr_reply_t r;
    assert_int_equal(call(f, "test.good.good2", &r), 200);
    assert_string_equal(kr_value_map_str(r.obj, "instance"), "good2");
    kr_host_stop_all(f->host);
}

static void test_init_failure_undone(void **state)
{
    struct fixture *f = *state;
    kr_error_t err;
    kr_plugin_spec_t bad = {.plugin = "test-initfail"};
    for (int i = 0; i < 3; i++) {
        assert_true(kr_host_start(f->host, &bad, &err) < 0);
        assert_int_equal(err.reason, KR_E_SERVICE_UNAVAILABLE);
        assert_non_null(strstr(err.message, "plugin \"initfail\" ("));
        assert_non_null(strstr(err.message, "test-initfail.so): init: database unreachable"));
        assert_int_equal(kr_host_count(f->host), 0);
    }
    /* The op it registered before failing went away with its connection. */
    kr_reply_t r;
    int code = call(f, "test.initfail", &r);
    assert_true(code == 404 || code == 503);
    kr_plugin_spec_t good = {.plugin = "test-good"};
    assert_int_equal(kr_host_start(f->host, &good, &err), 0);
    assert_int_equal(call(f, "test.good", &r), 200);
    kr_host_stop_all(f->host);
}

static void test_load_errors_name_the_file(void **state)
{
    struct fixture *f = *state;
    kr_error_t err;
    kr_plugin_spec_t abi = {.plugin = "test-abi"};
    assert_true(kr_host_start(f->host, &abi, &err) < 0);
    assert_non_null(strstr(err.message, "test-abi.so: plugin ABI 99.3 is not supported"));
    kr_plugin_spec_t missing = {.plugin = "test-missing"};
    assert_true(kr_host_start(f->host, &missing, &err) < 0);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
    assert_int_equal(kr_host_count(f->host), 0);
}

static void test_config_reaches_plugin(void **state)
{
    struct fixture *f = *state;
    kr_error_t err;
    kr_value_t *docs = NULL;
    const char *text = "s: set\nd: 10s\nv: [1]\n";
    assert_int_equal(kr_yaml_decode(f->arena, text, strlen(text), &docs, &err), 0);
    kr_plugin_spec_t spec = {.plugin = "test-cfg", .config = kr_value_array_get(docs, 0)};
    if (kr_host_start(f->host, &spec, &err) < 0)
        fail_msg("%s", err.message);
    kr_reply_t r;
    assert_int_equal(call(f, "test.cfg", &r), 200);
    assert_string_equal(kr_value_map_str(r.obj, "s"), "set");
    assert_int_equal(kr_value_map_int(r.obj, "i", 0), 42);
    assert_true(kr_value_as_bool(kr_value_map_get(r.obj, "b"), false));
    assert_true(kr_value_as_float(kr_value_map_get(r.obj, "f"), 0) == 1.5);
    assert_int_equal(kr_value_map_int(r.obj, "d", 0), 10000);
    assert_int_equal(kr_value_type(kr_value_map_get(r.obj, "v")), KR_ARRAY);
    assert_int_equal(kr_value_type(kr_value_map_get(r.obj, "nodflt")), KR_NULL);
    kr_host_stop_all(f->host);

    const char *bad = "port: 1\n";
    assert_int_equal(kr_yaml_decode(f->arena, bad, strlen(bad), &docs, &err), 0);
    spec.config = kr_value_array_get(docs, 0);
    spec.name = "cfg1";
    assert_true(kr_host_start(f->host, &spec, &err) < 0);
    assert_non_null(strstr(err.message, "plugin \"cfg1\": unknown config key \"port\""));
    assert_int_equal(kr_host_count(f->host), 0);
}

static void test_stop_in_reverse_order(void **state)
{
    struct fixture *f = *state;
    char log[] = "/tmp/kraal-test-fini-XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    close(fd);
    setenv("KRAAL_TEST_FINI_LOG", log, 1);
    kr_error_t err;
    const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        kr_plugin_spec_t spec = {.plugin = "test-good", .name = names[i]};
        assert_int_equal(kr_host_start(f->host, &spec, &err), 0);
    }
    kr_host_stop_all(f->host);
    unsetenv("KRAAL_TEST_FINI_LOG");
    FILE *in = fopen(log, "r");
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, in);
    fclose(in);
    unlink(log);
    buf[n] = '\0';
    assert_string_equal(buf, "c\nb\na\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_call_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_instance_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_failure_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_errors_name_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_reaches_plugin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_in_reverse_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
