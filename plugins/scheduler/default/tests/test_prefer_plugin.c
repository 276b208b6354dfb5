/* tests/plugins/sched_prefer.c, the example step shipped as its own .so:
 * started by the plugin host, its init registers "PreferLabel", which the
 * scheduler would find by name; stopping the plugin unregisters it. */
#include <string.h>

#include "broker.h"
#include "host.h"
#include "testutil.h"

static void score_nodes(const char *label_key, const char *label_value, int64_t want)
{
    const kr_sched_step_ops_t *ops;
    void *self;
    kr_error_t err;
    if (kr_sched_step_find("PreferLabel", &ops, &self, &err) < 0)
        fail_msg("%s", err.message);
    assert_null(ops->filter);
    tctx_t *c = tc_new();
    c->self = self;
    tc_node(c, kr_arena_printf(c->arena, "metadata: {name: n, labels: {'%s': '%s'}}", label_key,
                               label_value));
    tresult_t r;
    tc_score(c, ops, tc_pod(c, "metadata: {name: p}"), &r);
    assert_int_equal(r.score[0], want);
    tc_free(c);
}

static void test_prefer_plugin(void **unused)
{
    (void)unused;
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    kr_broker_t *broker = kr_broker_new(&bo, &err);
    assert_non_null(broker);
    assert_int_equal(kr_broker_start(broker, &err), 0);
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT, .data_dir = "/tmp/kraal-test-data"};
    kr_host_t *host = kr_host_new(&ho);
    kr_arena_t *a = kr_arena_new(0);

    kr_plugin_spec_t spec = {.plugin = "test-sched-prefer", .config = kr_value_map(a)};
    if (kr_host_start(host, &spec, &err) < 0)
        fail_msg("%s", err.message);
    score_nodes("kraal.io/preferred", "true", 100);
    score_nodes("kraal.io/preferred", "false", 0);
    score_nodes("other", "true", 0);
    /* a second instance cannot take the same step name */
    kr_plugin_spec_t again = {
        .plugin = "test-sched-prefer", .name = "again", .config = kr_value_map(a)};
    assert_true(kr_host_start(host, &again, &err) < 0);
    assert_non_null(strstr(err.message, "a scheduler step named \"PreferLabel\" is already "
                                        "registered"));
    kr_host_stop_all(host);
    const kr_sched_step_ops_t *ops;
    void *self;
    assert_true(kr_sched_step_find("PreferLabel", &ops, &self, &err) < 0);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);

    /* the config's label: key=value, or a key alone for any value */
    kr_value_t *cfg = kr_value_map(a);
    kr_value_map_set(a, cfg, "label", kr_value_str(a, "disk=ssd"));
    spec.config = cfg;
    assert_int_equal(kr_host_start(host, &spec, &err), 0);
    score_nodes("disk", "ssd", 100);
    score_nodes("disk", "hdd", 0);
    score_nodes("kraal.io/preferred", "true", 0);
    kr_host_stop_all(host);
    kr_value_map_set(a, cfg, "label", kr_value_str(a, "gpu"));
    assert_int_equal(kr_host_start(host, &spec, &err), 0);
    score_nodes("gpu", "anything", 100);
    kr_host_stop_all(host);
    kr_value_map_set(a, cfg, "label", kr_value_str(a, "=x"));
    assert_true(kr_host_start(host, &spec, &err) < 0);
    assert_non_null(strstr(err.message, "label: must be key=value or key, not \"=x\""));

    kr_host_destroy(&host);
    kr_broker_destroy(&broker);
    kr_arena_destroy(&a);
    kr_bus_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefer_plugin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
