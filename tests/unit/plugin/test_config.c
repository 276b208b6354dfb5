/* Config tables applied to a plugin's map, Go durations, and the server
 * config file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/plugin.h>

#include "config.h"

struct conf {
    const char *s;
    int64_t i;
    bool b;
    double f;
    int64_t d;
    const kr_value_t *v;
    const char *nodflt;
    int64_t zero;
};

static const kr_config_entry_t table[] = {
    {KR_CFG_STRING, "s", "hello", offsetof(struct conf, s), ""},
    {KR_CFG_INT, "i", "-7", offsetof(struct conf, i), ""},
    {KR_CFG_BOOL, "b", "true", offsetof(struct conf, b), ""},
    {KR_CFG_FLOAT, "f", "2.5", offsetof(struct conf, f), ""},
    {KR_CFG_DURATION, "d", "1m30s", offsetof(struct conf, d), ""},
    {KR_CFG_VALUE, "v", "{a: [1, 2]}", offsetof(struct conf, v), ""},
    {KR_CFG_STRING, "nodflt", NULL, offsetof(struct conf, nodflt), ""},
    {KR_CFG_INT, "zero", NULL, offsetof(struct conf, zero), ""},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

static kr_value_t *yaml(kr_arena_t *a, const char *text)
{
    kr_value_t *docs = NULL;
    kr_error_t err;
    if (kr_yaml_decode(a, text, strlen(text), &docs, &err) < 0)
        fail_msg("yaml: %s", err.message);
    return kr_value_array_get(docs, 0);
}

static void test_defaults(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    assert_int_equal(kr_config_table_check(table, sizeof(struct conf), &err), 0);
    void *out = NULL;
    assert_int_equal(kr_config_apply("t", table, sizeof(struct conf), NULL, a, &out, &err), 0);
    struct conf *c = out;
    assert_string_equal(c->s, "hello");
    assert_int_equal(c->i, -7);
    assert_true(c->b);
    assert_true(c->f == 2.5);
    assert_int_equal(c->d, 90000);
    assert_int_equal(kr_value_type(c->v), KR_MAP);
    assert_int_equal(kr_value_len(kr_value_map_get(c->v, "a")), 2);
    assert_null(c->nodflt);
    assert_int_equal(c->zero, 0);
    free(out);
    kr_arena_destroy(&a);
}

static void test_every_type_set(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    kr_value_t *map = yaml(a, "s: world\ni: 8080\nb: false\nf: 3\nd: 250ms\n"
                              "v: [x, {y: z}]\nnodflt: set\nzero: ~\n");
    void *out = NULL;
    assert_int_equal(kr_config_apply("t", table, sizeof(struct conf), map, a, &out, &err), 0);
    struct conf *c = out;
    assert_string_equal(c->s, "world");
    assert_int_equal(c->i, 8080);
    assert_false(c->b);
    assert_true(c->f == 3.0); /* an integer is a fine number */
    assert_int_equal(c->d, 250);
    assert_int_equal(kr_value_type(c->v), KR_ARRAY);
    assert_string_equal(c->nodflt, "set");
    assert_int_equal(c->zero, 0); /* null = not set */
    free(out);
    kr_arena_destroy(&a);
}

static void expect_error(const char *text, const char *message)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    void *out = (void *)1;
    int rc = kr_config_apply("echo", table, sizeof(struct conf), yaml(a, text), a, &out, &err);
    assert_true(rc < 0);
    assert_null(out);
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_string_equal(err.message, message);
    kr_arena_destroy(&a);
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_error("s: x\ngreting: hi\n", "plugin \"echo\": unknown config key \"greting\"");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("i: \"8080\"", "plugin \"echo\": config key \"i\": must be an integer");
    expect_error("i: 1.5", "plugin \"echo\": config key \"i\": must be an integer");
    expect_error("s: 12", "plugin \"echo\": config key \"s\": must be a string");
    expect_error("s: [a]", "plugin \"echo\": config key \"s\": must be a string");
    expect_error("b: yes please", "plugin \"echo\": config key \"b\": must be a boolean");
    expect_error("f: fast", "plugin \"echo\": config key \"f\": must be a number");
    expect_error("d: 10", "plugin \"echo\": config key \"d\": must be a duration such as "
                          "\"250ms\", \"10s\" or \"1m30s\"");
    expect_error("d: 10 s", "plugin \"echo\": config key \"d\": unknown unit in duration \"10 s\"");
    expect_error("d: \"-1s\"", "plugin \"echo\": config key \"d\": must not be negative");
    expect_error("[1, 2]", "plugin \"echo\": config: must be a map");
}

static void test_no_table(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    void *out = NULL;
    assert_int_equal(kr_config_apply("good", NULL, 0, yaml(a, "{}"), a, &out, &err), 0);
    assert_non_null(out); /* always a struct, even an empty one */
    free(out);
    assert_true(kr_config_apply("good", NULL, 0, yaml(a, "x: 1"), a, &out, &err) < 0);
    assert_string_equal(err.message, "plugin \"good\": unknown config key \"x\"");
    kr_arena_destroy(&a);
}

static void test_bad_tables(void **state)
{
    (void)state;
    kr_error_t err;
    const kr_config_entry_t outside[] = {
        {KR_CFG_INT, "x", NULL, 8, ""},
        {KR_CFG_END, NULL, NULL, 0, NULL},
    };
    assert_true(kr_config_table_check(outside, 8, &err) < 0);
    assert_string_equal(err.message, "config table: key \"x\": field at offset 8 does not fit "
                                     "in config_size 8");
    const kr_config_entry_t twice[] = {
        {KR_CFG_INT, "x", NULL, 0, ""},
        {KR_CFG_INT, "x", NULL, 8, ""},
        {KR_CFG_END, NULL, NULL, 0, NULL},
    };
    assert_true(kr_config_table_check(twice, 16, &err) < 0);
    assert_string_equal(err.message, "config table: key \"x\" appears twice");
    const kr_config_entry_t bad_default[] = {
        {KR_CFG_INT, "port", "eighty", 0, ""},
        {KR_CFG_END, NULL, NULL, 0, NULL},
    };
    assert_true(kr_config_table_check(bad_default, 8, &err) < 0);
    assert_string_equal(err.message,
                        "config table: key \"port\": default \"eighty\": must be an integer");
    const kr_config_entry_t misaligned[] = {
        {KR_CFG_INT, "x", NULL, 4, ""},
        {KR_CFG_END, NULL, NULL, 0, NULL},
    };
    assert_true(kr_config_table_check(misaligned, 16, &err) < 0);
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {
        {"0", 0},           {"250ms", 250},    {"10s", 10000},     {"1m30s", 90000},
        {"1h", 3600000},    {"1.5h", 5400000}, {"1.5s", 1500},     {".5s", 500},
        {"2h45m", 9900000}, {"1500us", 1},     {"999999ns", 0},    {"+5s", 5000},
        {"-2s", -2000},     {"1\xc2\xb5s", 0}, {"3m0.5s", 180500}, {"5.s", 5000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -12345;
        kr_error_t err;
        if (kr_duration_parse(ok[i].in, &ms, &err) < 0)
            fail_msg("%s: %s", ok[i].in, err.message);
        if (ms != ok[i].ms)
            fail_msg("%s: got %lld, want %lld", ok[i].in, (long long)ms, (long long)ok[i].ms);
    }
    static const char *const bad[] = {
        "", "s", "10", "1x", "1.s.", "-", "1h 30m", ".s", "9999999999999999999h", "3000000h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        kr_error_t err;
        if (kr_duration_parse(bad[i], &ms, &err) >= 0)
            fail_msg("\"%s\" was accepted as %lld", bad[i], (long long)ms);
        assert_int_equal(err.reason, KR_E_INVALID);
    }
}

/* ---- the server config file ---------------------------------------------- */

static void test_server_config_full(void **state)
{
    (void)state;
    const char *text = "data_dir: /var/lib/kraal-t\n"
                       "run_dir: run            # relative: next to the file\n"
                       "log_level: warn\n"
                       "bus:\n  tcp: tcp://127.0.0.1:7440\n"
                       "plugin_path: [/opt/kraal/plugins, plugins]\n"
                       "api:\n  event_ttl: 30m\n  default_not_ready_toleration_seconds: 0\n"
                       "  default_unreachable_toleration_seconds: 60\n"
                       "  service_cluster_ip_range: 10.100.0.0/16\n"
                       "  service_node_port_range: 31000-31999\n"
                       "  authorizer: rbac\n"
                       "  encryption_config: keys/enc.yaml\n"
                       "  admission_plugins: [ServiceAccount]\n"
                       "plugins:\n"
                       "  - plugin: example-echo\n"
                       "    name: echo\n"
                       "    config: {greeting: hello}\n"
                       "  - plugin: ./lib/x.so\n";
    kr_server_config_t *cfg = kr_server_config_new();
    kr_error_t err;
    if (kr_server_config_parse(cfg, "/etc/kraal/kraal.yaml", text, strlen(text), &err) < 0)
        fail_msg("%s", err.message);
    assert_string_equal(cfg->data_dir, "/var/lib/kraal-t");
    assert_string_equal(cfg->run_dir, "/etc/kraal/run");
    assert_int_equal(cfg->log_level, KR_LOG_WARN);
    assert_string_equal(cfg->bus_tcp, "tcp://127.0.0.1:7440");
    assert_true(cfg->bus_curve); /* on unless turned off */
    assert_int_equal(cfg->event_ttl_ms, 30 * 60 * 1000);
    assert_int_equal(cfg->not_ready_toleration_s, -1); /* 0 s: the API's "none" */
    assert_int_equal(cfg->unreachable_toleration_s, 60);
    assert_string_equal(cfg->service_cidr, "10.100.0.0/16");
    assert_string_equal(cfg->service_node_port_range, "31000-31999");
    assert_string_equal(cfg->authorizer, "rbac");
    assert_string_equal(cfg->encryption_config, "/etc/kraal/keys/enc.yaml");
    assert_true(cfg->admit_service_account);
    assert_string_equal(cfg->plugin_path[0], "/opt/kraal/plugins");
    assert_string_equal(cfg->plugin_path[1], "/etc/kraal/plugins");
    assert_null(cfg->plugin_path[2]);
    assert_int_equal(cfg->n_plugins, 2);
    assert_string_equal(cfg->plugins[0].plugin, "example-echo");
    assert_string_equal(cfg->plugins[0].name, "echo");
    assert_string_equal(kr_value_map_str(cfg->plugins[0].config, "greeting"), "hello");
    assert_string_equal(cfg->plugins[1].plugin, "/etc/kraal/./lib/x.so");
    assert_null(cfg->plugins[1].name);
    assert_int_equal(kr_value_type(cfg->plugins[1].config), KR_MAP);
    assert_int_equal(kr_value_len(cfg->plugins[1].config), 0);
    kr_server_config_destroy(&cfg);
    assert_null(cfg);
}

static void test_server_config_defaults(void **state)
{
    (void)state;
    kr_server_config_t *cfg = kr_server_config_new();
    kr_error_t err;
    assert_int_equal(kr_server_config_parse(cfg, "kraal.yaml", "", 0, &err), 0);
    assert_string_equal(cfg->data_dir, KR_DEFAULT_DATA_DIR);
    assert_string_equal(cfg->run_dir, KR_DEFAULT_RUN_DIR);
    assert_int_equal(cfg->log_level, KR_LOG_INFO);
    assert_null(cfg->bus_tcp);
    assert_true(cfg->bus_curve);
    assert_null(cfg->authorizer); /* no escalation check unless named */
    assert_null(cfg->plugin_path[0]);
    assert_int_equal(cfg->n_plugins, 0);
    assert_null(cfg->encryption_config);      /* <data_dir>/encryption-config.yaml */
    assert_false(cfg->admit_service_account); /* minimal configs have no default accounts */
    kr_server_config_destroy(&cfg);
}

static void expect_server_error(const char *text, const char *message)
{
    kr_server_config_t *cfg = kr_server_config_new();
    kr_error_t err;
    int rc = kr_server_config_parse(cfg, "kraal.yaml", text, strlen(text), &err);
    if (rc >= 0)
        fail_msg("accepted: %s", text);
    assert_string_equal(err.message, message);
    kr_server_config_destroy(&cfg);
}

static void test_server_config_errors(void **state)
{
    (void)state;
    expect_server_error("datadir: /x\n",
                        "kraal.yaml: unknown key \"datadir\" (known: data_dir, run_dir, "
                        "log_level, bus, plugin_path, store, api, plugins)");
    expect_server_error("api: {service_cluster_ip_range: 10.96.0.0}\n",
                        "kraal.yaml: api.service_cluster_ip_range: Invalid value: \"10.96.0.0\": "
                        "must be an IPv4 CIDR such as 10.96.0.0/12");
    expect_server_error("api: {service_node_port_range: 30000-}\n",
                        "kraal.yaml: api.service_node_port_range: Invalid value: \"30000-\": must "
                        "be a port range such as 30000-32767 (1-65535)");
    expect_server_error("api: {event_ttl: soon}\n",
                        "kraal.yaml: api.event_ttl: Invalid value: \"soon\": must be a positive "
                        "duration such as \"1h\" or \"30m\"");
    expect_server_error("api: {default_not_ready_toleration_seconds: -1}\n",
                        "kraal.yaml: api.default_not_ready_toleration_seconds: must be an "
                        "integer >= 0");
    expect_server_error("api: {ttl: 1h}\n",
                        "kraal.yaml: api: unknown key \"ttl\" (known: event_ttl, "
                        "default_not_ready_toleration_seconds, "
                        "default_unreachable_toleration_seconds, service_cluster_ip_range, "
                        "service_node_port_range, authorizer, encryption_config, "
                        "admission_plugins)");
    expect_server_error("api: {admission_plugins: ServiceAccount}\n",
                        "kraal.yaml: api.admission_plugins: must be a list of names");
    expect_server_error("api: {admission_plugins: [ServiceAccount, LimitRanger]}\n",
                        "kraal.yaml: api.admission_plugins[1]: Unsupported value: "
                        "\"LimitRanger\": supported values: \"ServiceAccount\"");
    expect_server_error("api: {authorizer: [rbac]}\n",
                        "kraal.yaml: api.authorizer: must be a string");
    expect_server_error("api: {authorizer: 'a b'}\n",
                        "kraal.yaml: api.authorizer: Invalid value: \"a b\": must be 1-63 "
                        "letters, digits, '-', '_' or '.'");
    expect_server_error("api: {encryption_config: \"\"}\n",
                        "kraal.yaml: api.encryption_config: must not be empty");
    expect_server_error("plugins:\n  - plugin: x\n    config: [1]\n",
                        "kraal.yaml: plugins[0].config: must be a map");
    expect_server_error("plugins:\n  - plugin: a\n    name: e\n  - plugin: b\n    name: e\n",
                        "kraal.yaml: plugins[1].name: Duplicate value: \"e\" (also plugins[0])");
    expect_server_error("plugins:\n  - name: e\n", "kraal.yaml: plugins[0].plugin: Required value");
    expect_server_error("plugins:\n  - plugin: a\n    nmae: e\n",
                        "kraal.yaml: plugins[0]: unknown key \"nmae\" (known: plugin, name, "
                        "config)");
    expect_server_error("plugins: example-echo\n", "kraal.yaml: plugins: must be a list");
    expect_server_error("plugins: [example-echo]\n", "kraal.yaml: plugins[0]: must be a map");
    expect_server_error("data_dir: 7\n", "kraal.yaml: data_dir: must be a string");
    expect_server_error("run_dir: \"\"\n", "kraal.yaml: run_dir: must not be empty");
    expect_server_error("log_level: loud\n", "kraal.yaml: log_level: Unsupported value: "
                                             "\"loud\": must be one of debug, info, warn, error");
    expect_server_error("bus: {tcp: 127.0.0.1:7440}\n",
                        "kraal.yaml: bus.tcp: Invalid value: \"127.0.0.1:7440\": must be "
                        "tcp://HOST:PORT");
    expect_server_error("bus: {ipc: x}\n",
                        "kraal.yaml: bus: unknown key \"ipc\" (known: tcp, curve)");
    /* an unauthenticated bus only on loopback, like api-rest's tls: false */
    expect_server_error("bus: {tcp: \"tcp://10.1.2.3:7440\", curve: false}\n",
                        "kraal.yaml: bus.curve: Invalid value: false: the tcp endpoint "
                        "\"tcp://10.1.2.3:7440\" is not a loopback address; an unauthenticated "
                        "bus is allowed on 127.0.0.0/8 and ::1 only");
    expect_server_error("bus: {curve: false, tcp: \"tcp://0.0.0.0:7440\"}\n",
                        "kraal.yaml: bus.curve: Invalid value: false: the tcp endpoint "
                        "\"tcp://0.0.0.0:7440\" is not a loopback address; an unauthenticated "
                        "bus is allowed on 127.0.0.0/8 and ::1 only");
    expect_server_error("bus: {curve: yes please}\n",
                        "kraal.yaml: bus.curve: must be true or false");
    expect_server_error("plugin_path: /opt\n", "kraal.yaml: plugin_path: must be a list of "
                                               "directories");
    expect_server_error("plugins:\n  - plugin: a\n    name: \"bad name\"\n",
                        "kraal.yaml: plugins[0].name: Invalid value: \"bad name\": must be 1-63 "
                        "letters, digits, '-', '_' or '.'");
    expect_server_error("- a\n- b\n", "kraal.yaml: must be a map");
    expect_server_error("a: 1\n---\nb: 2\n", "kraal.yaml: must hold one YAML document, found 2");
}

/* curve: false is accepted on loopback addresses only */
static void test_server_config_bus_curve(void **state)
{
    (void)state;
    const char *ok[] = {"bus: {tcp: \"tcp://127.0.0.1:7440\", curve: false}\n",
                        "bus: {curve: false, tcp: \"tcp://127.9.9.9:1\"}\n",
                        "bus: {tcp: \"tcp://localhost:7440\", curve: false}\n",
                        "bus: {tcp: \"tcp://[::1]:7440\", curve: false}\n",
                        "bus: {curve: false}\n"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        kr_server_config_t *cfg = kr_server_config_new();
        kr_error_t err;
        if (kr_server_config_parse(cfg, "kraal.yaml", ok[i], strlen(ok[i]), &err) < 0)
            fail_msg("%s: %s", ok[i], err.message);
        assert_false(cfg->bus_curve);
        kr_server_config_destroy(&cfg);
    }
}

static void test_server_config_load(void **state)
{
    (void)state;
    kr_server_config_t *cfg = kr_server_config_new();
    kr_error_t err;
    assert_true(kr_server_config_load(cfg, "/nonexistent/kraal.yaml", &err) < 0);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
    assert_string_equal(err.message, "/nonexistent/kraal.yaml: No such file or directory");

    char path[] = "/tmp/kraal-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "log_level: debug\nplugins:\n  - plugin: test-good\n";
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    assert_int_equal(kr_server_config_load(cfg, path, &err), 0);
    assert_int_equal(cfg->log_level, KR_LOG_DEBUG);
    assert_int_equal(cfg->n_plugins, 1);
    assert_string_equal(cfg->file, path);
    unlink(path);
    kr_server_config_destroy(&cfg);
}

/* kr_config_check_int: the range check of init, inclusive at both ends. */
static void test_check_int(void **state)
{
    (void)state;
    kr_error_t err;
    assert_int_equal(kr_config_check_int("workers", 1, 1, 256, &err), 0);
    assert_int_equal(kr_config_check_int("workers", 256, 1, 256, &err), 0);
    assert_true(kr_config_check_int("workers", 0, 1, 256, &err) < 0);
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_string_equal(err.message, "workers: must be between 1 and 256");
    assert_true(kr_config_check_int("workers", 257, 1, 256, &err) < 0);
    assert_true(kr_config_check_int("n", INT64_MIN, -5, 5, NULL) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_int),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_type_set),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_no_table),
        cmocka_unit_test(test_bad_tables),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_server_config_full),
        cmocka_unit_test(test_server_config_defaults),
        cmocka_unit_test(test_server_config_errors),
        cmocka_unit_test(test_server_config_bus_curve),
        cmocka_unit_test(test_server_config_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
