/* The node lifecycle controller's pure parts (taints.c): toleration
 * matching as Toleration.ToleratesTaint, the taint eviction's
 * GetMatchingTolerations + getMinTolerationTime (upstream's
 * TestGetMinTolerationTime cases), the condition taints, ComputeZoneState
 * and the burst-1 token bucket of the NoExecute tainter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "taints.h"

static kr_value_t *json(kr_arena_t *a, const char *j)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    assert_int_equal(kr_json_decode(a, j, strlen(j), &v, &err), 0);
    return v;
}

static void test_tolerates(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *taint =
        json(a, "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}");
    const kr_value_t *vtaint = json(a, "{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoExecute\"}");
    assert_true(nl_tolerates(json(a, "{\"operator\":\"Exists\"}"), taint));
    assert_true(nl_tolerates(
        json(a, "{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\"}"), taint));
    assert_false(
        nl_tolerates(json(a, "{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
                             "\"effect\":\"NoSchedule\"}"),
                     taint));
    assert_false(nl_tolerates(
        json(a, "{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\"}"), taint));
    /* Equal (the default operator) compares values */
    assert_true(nl_tolerates(json(a, "{\"key\":\"k\",\"value\":\"v\"}"), vtaint));
    assert_false(
        nl_tolerates(json(a, "{\"key\":\"k\",\"value\":\"w\",\"operator\":\"Equal\"}"), vtaint));
    assert_false(nl_tolerates(json(a, "{\"key\":\"k\",\"operator\":\"Lt\"}"), vtaint));
    kr_arena_destroy(&a);
}

static void test_min_toleration(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *taints =
        json(a, "[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"},"
                "{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"}]");
    int64_t s = 99;
    /* no tolerations: not tolerated */
    assert_false(nl_tolerated_for(taints, json(a, "[]"), &s));
    /* one of two taints tolerated: not tolerated */
    assert_false(nl_tolerated_for(
        taints, json(a, "[{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\"}]"),
        &s));
    /* both, the shorter time wins */
    assert_true(nl_tolerated_for(
        taints,
        json(a, "[{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
                "\"tolerationSeconds\":300},{\"key\":\"node.kubernetes.io/not-ready\","
                "\"operator\":\"Exists\",\"tolerationSeconds\":20}]"),
        &s));
    assert_int_equal(s, 20);
    /* for ever */
    assert_true(nl_tolerated_for(taints, json(a, "[{\"operator\":\"Exists\"}]"), &s));
    assert_int_equal(s, -1);
    /* one without seconds, one with: the one with */
    assert_true(nl_tolerated_for(
        taints,
        json(a, "[{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\"},"
                "{\"operator\":\"Exists\",\"tolerationSeconds\":5}]"),
        &s));
    assert_int_equal(s, 5);
    /* zero or negative: at once */
    assert_true(nl_tolerated_for(
        taints, json(a, "[{\"operator\":\"Exists\",\"tolerationSeconds\":-3}]"), &s));
    assert_int_equal(s, 0);
    /* no taints: nothing to tolerate */
    assert_true(nl_tolerated_for(json(a, "[]"), json(a, "[]"), &s));
    assert_int_equal(s, 0);
    kr_arena_destroy(&a);
}

static void test_condition_taints(void **state)
{
    (void)state;
    assert_string_equal(nl_condition_taint("Ready", "False"), "node.kubernetes.io/not-ready");
    assert_string_equal(nl_condition_taint("Ready", "Unknown"), "node.kubernetes.io/unreachable");
    assert_null(nl_condition_taint("Ready", "True"));
    assert_string_equal(nl_condition_taint("MemoryPressure", "True"),
                        "node.kubernetes.io/memory-pressure");
    assert_null(nl_condition_taint("MemoryPressure", "Unknown"));
    assert_string_equal(nl_condition_taint("NetworkUnavailable", "True"),
                        "node.kubernetes.io/network-unavailable");
    assert_null(nl_condition_taint("Frobbed", "True"));
    assert_true(nl_condition_taint_key("node.kubernetes.io/unschedulable"));
    assert_false(nl_condition_taint_key("example.com/mine"));
}

static void test_zone_state(void **state)
{
    (void)state;
    assert_int_equal(nl_zone_state(0, 1, 0.55), NL_ZONE_FULL);
    assert_int_equal(nl_zone_state(0, 0, 0.55), NL_ZONE_NORMAL);
    assert_int_equal(nl_zone_state(1, 1, 0.55), NL_ZONE_NORMAL);  /* 2 not ready: not > 2 */
    assert_int_equal(nl_zone_state(2, 3, 0.55), NL_ZONE_PARTIAL); /* 3/5 >= 0.55 */
    assert_int_equal(nl_zone_state(3, 3, 0.55), NL_ZONE_NORMAL);  /* 0.5 */
    assert_string_equal(nl_zone_state_name(NL_ZONE_PARTIAL), "PartialDisruption");
}

static void test_bucket(void **state)
{
    (void)state;
    nl_bucket_t b;
    nl_bucket_init(&b, 0.1, 1000);
    assert_true(nl_bucket_try(&b, 1000)); /* starts full: the first at once */
    assert_false(nl_bucket_try(&b, 1000));
    assert_false(nl_bucket_try(&b, 9000));
    assert_true(nl_bucket_try(&b, 11000)); /* 10 s later */
    assert_false(nl_bucket_try(&b, 11100));
    nl_bucket_swap(&b, 0, 12000); /* all zones down: nothing */
    assert_false(nl_bucket_try(&b, 100000));
    nl_bucket_swap(&b, 10, 100000);
    assert_true(nl_bucket_try(&b, 100100));
    /* a full bucket holds one token, however long it waited */
    assert_true(nl_bucket_try(&b, 900000));
    assert_false(nl_bucket_try(&b, 900000));
}

static const char *taint_list(kr_arena_t *a, const kr_value_t *taints)
{
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < kr_value_len(taints); i++) {
        const kr_value_t *t = kr_value_array_get(taints, i);
        const char *ta = kr_value_map_str(t, "timeAdded");
        kr_buf_printf(&b, "%s:%s%s%s ", kr_value_map_str(t, "key"), kr_value_map_str(t, "effect"),
                      ta ? "@" : "", ta ? ta : "");
    }
    const char *out = kr_arena_strdup(a, b.data ? b.data : "");
    kr_buf_free(&b);
    return out;
}

static void test_desired_taints(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const char *now = "2024-01-01T00:00:09Z";
    /* unreachable: the condition taint and, once decided, the NoExecute one;
     * a user's taint stays first */
    kr_value_t *n1 =
        json(a, "{\"spec\":{\"taints\":[{\"key\":\"dedicated\",\"value\":\"gpu\","
                "\"effect\":\"NoSchedule\"}]},\"status\":{\"conditions\":[{\"type\":\"Ready\","
                "\"status\":\"Unknown\"},{\"type\":\"MemoryPressure\",\"status\":\"Unknown\"}]}}");
    assert_string_equal(taint_list(a, nl_desired_taints(a, n1, NX_KEEP, now)),
                        "dedicated:NoSchedule node.kubernetes.io/unreachable:NoSchedule ");
    kr_value_t *t1 = nl_desired_taints(a, n1, NX_UNREACHABLE, now);
    assert_string_equal(taint_list(a, t1), "dedicated:NoSchedule node.kubernetes.io/unreachable:"
                                           "NoSchedule node.kubernetes.io/unreachable:NoExecute@"
                                           "2024-01-01T00:00:09Z ");
    assert_false(nl_same_taints(t1, kr_value_get(n1, "spec.taints")));
    /* not ready now: swapped; the taints already there keep their time */
    kr_value_t *n2 =
        json(a, "{\"spec\":{\"unschedulable\":true,\"taints\":[{\"key\":\"node.kubernetes.io/"
                "unreachable\",\"effect\":\"NoExecute\",\"timeAdded\":\"2024-01-01T00:00:01Z\"},"
                "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\"}]},"
                "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}");
    assert_string_equal(taint_list(a, nl_desired_taints(a, n2, NX_KEEP, now)),
                        "node.kubernetes.io/unreachable:NoExecute@2024-01-01T00:00:01Z "
                        "node.kubernetes.io/not-ready:NoSchedule "
                        "node.kubernetes.io/unschedulable:NoSchedule ");
    assert_string_equal(taint_list(a, nl_desired_taints(a, n2, NX_NOT_READY, now)),
                        "node.kubernetes.io/not-ready:NoSchedule "
                        "node.kubernetes.io/unschedulable:NoSchedule "
                        "node.kubernetes.io/not-ready:NoExecute@2024-01-01T00:00:09Z ");
    /* ready again: every controller taint goes, a user's NoExecute stays */
    kr_value_t *n3 = json(
        a, "{\"spec\":{\"taints\":[{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":"
           "\"NoExecute\"},{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoSchedule\"},"
           "{\"key\":\"x\",\"effect\":\"NoExecute\"}]},\"status\":{\"conditions\":[{\"type\":"
           "\"Ready\",\"status\":\"True\"},{\"type\":\"DiskPressure\",\"status\":\"True\"}]}}");
    kr_value_t *t3 = nl_desired_taints(a, n3, NX_NONE, now);
    assert_string_equal(taint_list(a, t3),
                        "x:NoExecute node.kubernetes.io/disk-pressure:NoSchedule ");
    /* nothing to change: the same set, whatever the order */
    kr_value_t *n4 =
        json(a, "{\"spec\":{\"taints\":[{\"key\":\"node.kubernetes.io/disk-pressure\",\"effect\":"
                "\"NoSchedule\"},{\"key\":\"x\",\"effect\":\"NoExecute\"}]},\"status\":{"
                "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":"
                "\"DiskPressure\",\"status\":\"True\"}]}}");
    assert_true(
        nl_same_taints(nl_desired_taints(a, n4, NX_NONE, now), kr_value_get(n4, "spec.taints")));
    kr_arena_destroy(&a);
}

static void test_beta_labels(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    assert_null(nl_beta_labels(a, json(a, "{\"kubernetes.io/os\":\"linux\","
                                          "\"beta.kubernetes.io/os\":\"linux\"}")));
    assert_null(nl_beta_labels(a, json(a, "{\"beta.kubernetes.io/os\":\"windows\"}")));
    kr_value_t *l = nl_beta_labels(a, json(a, "{\"kubernetes.io/os\":\"linux\","
                                              "\"kubernetes.io/arch\":\"amd64\","
                                              "\"beta.kubernetes.io/arch\":\"arm64\"}"));
    assert_non_null(l);
    assert_int_equal(kr_value_len(l), 2);
    assert_string_equal(kr_value_map_str(l, "beta.kubernetes.io/os"), "linux");
    assert_string_equal(kr_value_map_str(l, "beta.kubernetes.io/arch"), "amd64");
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tolerates),        cmocka_unit_test(test_min_toleration),
        cmocka_unit_test(test_condition_taints), cmocka_unit_test(test_zone_state),
        cmocka_unit_test(test_bucket),           cmocka_unit_test(test_desired_taints),
        cmocka_unit_test(test_beta_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
