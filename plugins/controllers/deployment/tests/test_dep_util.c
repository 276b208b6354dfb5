/* Unit tests of the Deployment controller's pure parts, with cases from
 * upstream's deployment_util_test.go, rolling_test.go and sync_test.go
 * (TestResolveFenceposts, TestNewRSNewReplicas, TestScale's proportional
 * cases, TestReconcileOldReplicaSets, TestMaxUnavailable), the hash and the
 * revision annotations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/controller.h>

#include "dep_util.h"

static kr_arena_t *A;

static kr_value_t *json(const char *s)
{
    kr_value_t *v = NULL;
    assert_int_equal(kr_json_decode(A, s, strlen(s), &v, NULL), 0);
    return v;
}

/* A rolling Deployment; surge/unavailable as JSON ("1", "\"25%\"") or NULL. */
static kr_value_t *dep(int64_t replicas, const char *surge, const char *unavail)
{
    return json(kr_arena_printf(
        A,
        "{\"metadata\":{\"name\":\"web\",\"uid\":\"d1\",\"generation\":1},\"spec\":{\"replicas\":"
        "%lld,\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{%s%s%s%s%s}},"
        "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{"
        "\"name\":\"c\",\"image\":\"v2\"}]}}}}",
        (long long)replicas, surge ? "\"maxSurge\":" : "", surge ? surge : "",
        surge && unavail ? "," : "", unavail ? "\"maxUnavailable\":" : "", unavail ? unavail : ""));
}

/* name, created (seconds), spec replicas, available, max-replicas annotation (-1: none) */
static kr_value_t *rs(const char *name, int64_t created, int64_t replicas, int64_t available,
                      int64_t max)
{
    char ts[32];
    kr_time_format(1700000000 + created, ts, sizeof ts);
    return json(kr_arena_printf(
        A,
        "{\"metadata\":{\"name\":\"%s\",\"creationTimestamp\":\"%s\",\"annotations\":{%s}},"
        "\"spec\":{\"replicas\":%lld},\"status\":{\"replicas\":%lld,\"availableReplicas\":%lld}}",
        name, ts,
        max >= 0 ? kr_arena_printf(A, "\"" DP_MAX_REPLICAS "\":\"%lld\"", (long long)max) : "",
        (long long)replicas, (long long)replicas, (long long)available));
}

static int setup(void **state)
{
    (void)state;
    A = kr_arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_arena_destroy(&A);
    return 0;
}

static void test_fenceposts(void **state)
{
    (void)state;
    int64_t s, u;
    /* defaults 25%/25%: surge rounds up, unavailable down */
    dp_fenceposts(dep(10, NULL, NULL), &s, &u);
    assert_int_equal(s, 3);
    assert_int_equal(u, 2);
    dp_fenceposts(dep(1, "\"0%\"", "\"0%\""), &s, &u);
    assert_int_equal(s, 0);
    assert_int_equal(u, 1); /* both zero: unavailable 1 */
    dp_fenceposts(dep(5, "\"10%\"", "\"10%\""), &s, &u);
    assert_int_equal(s, 1);
    assert_int_equal(u, 0);
    dp_fenceposts(dep(6, "2", "1"), &s, &u);
    assert_int_equal(s, 2);
    assert_int_equal(u, 1);
    /* MaxUnavailable is capped at replicas, 0 for 0 replicas */
    assert_int_equal(dp_max_unavailable(dep(2, "1", "5")), 2);
    assert_int_equal(dp_max_unavailable(dep(0, "1", "1")), 0);
    kr_value_t *rec = dep(3, NULL, NULL);
    kr_value_set(A, rec, "spec.strategy", json("{\"type\":\"Recreate\"}"), NULL);
    assert_int_equal(dp_max_surge(rec), 0);
    assert_int_equal(dp_new_rs_new_replicas(rec, NULL, 0, NULL), 3);
    assert_int_equal(dp_int_or_percent(json("\"x%\""), 10, true), -1);
}

static void test_new_rs_new_replicas(void **state)
{
    (void)state;
    /* TestNewRSNewReplicas: 1 replica, surge 1: the new one gets 1 */
    kr_value_t *d = dep(1, "1", "0");
    kr_value_t *new_rs = rs("web-new", 10, 0, 0, -1);
    kr_value_t *old = rs("web-old", 0, 1, 1, -1);
    kr_value_t *all[] = {old, new_rs};
    assert_int_equal(dp_new_rs_new_replicas(d, all, 2, new_rs), 1);
    /* 10 replicas, surge 3, old 10: the new one gets 3 */
    d = dep(10, "3", "0");
    kr_value_set(A, old, "spec.replicas", kr_value_int(A, 10), NULL);
    assert_int_equal(dp_new_rs_new_replicas(d, all, 2, new_rs), 3);
    /* at max total: no change */
    kr_value_set(A, new_rs, "spec.replicas", kr_value_int(A, 3), NULL);
    assert_int_equal(dp_new_rs_new_replicas(d, all, 2, new_rs), 3);
    /* never above replicas */
    kr_value_set(A, old, "spec.replicas", kr_value_int(A, 0), NULL);
    kr_value_set(A, new_rs, "spec.replicas", kr_value_int(A, 9), NULL);
    assert_int_equal(dp_new_rs_new_replicas(d, all, 2, new_rs), 10);
}

static void test_old_sizes(void **state)
{
    (void)state;
    /* 10 replicas, maxUnavailable 2, old 10 all available, new 3 none
     * available: maxScaledDown = 13 - 8 - 3 = 2; available 10 - 8 = 2 */
    kr_value_t *d = dep(10, "3", "2");
    kr_value_t *new_rs = rs("web-new", 10, 3, 0, -1);
    kr_value_t *old[] = {rs("web-old", 0, 10, 10, -1)};
    int64_t sizes[2];
    assert_int_equal(dp_rolling_old_sizes(d, old, 1, new_rs, sizes), 2);
    assert_int_equal(sizes[0], 8);
    /* unhealthy old replicas go first: old 10 with 5 available */
    kr_value_t *old2[] = {rs("web-old", 0, 10, 5, -1)};
    new_rs = rs("web-new", 10, 0, 0, -1);
    /* maxScaledDown = 10 - 8 - 0 = 2: 2 unhealthy cleaned, none more (5 <= 8) */
    assert_int_equal(dp_rolling_old_sizes(d, old2, 1, new_rs, sizes), 2);
    assert_int_equal(sizes[0], 8);
    /* nothing can go: maxScaledDown <= 0 */
    kr_value_t *old3[] = {rs("web-old", 0, 8, 8, -1)};
    assert_int_equal(dp_rolling_old_sizes(d, old3, 1, new_rs, sizes), 0);
    assert_int_equal(sizes[0], 8);
    /* two old: oldest first */
    kr_value_t *old4[] = {rs("b", 5, 5, 5, -1), rs("a", 1, 5, 5, -1)};
    new_rs = rs("web-new", 10, 3, 3, -1);
    /* all 13, min 8, new unavailable 0: maxScaledDown 5; available 13-8 = 5 */
    assert_int_equal(dp_rolling_old_sizes(d, old4, 2, new_rs, sizes), 5);
    assert_string_equal(kr_value_as_str(kr_value_get(old4[0], "metadata.name")), "a");
    assert_int_equal(sizes[0], 0);
    assert_int_equal(sizes[1], 5);
}

static void test_proportional(void **state)
{
    (void)state;
    /* TestScale "proportional scaling: 5 -> 10": 10 replicas, surge 3 (25%);
     * old 3 (annotated max 6), new 3: both double (max 13 / 6) */
    kr_value_t *d = dep(10, NULL, NULL);
    kr_value_t *new_rs = rs("web-new", 10, 3, 3, 6);
    kr_value_t *old = rs("web-old", 0, 3, 3, 6);
    kr_value_t *all[] = {new_rs, old};
    int64_t sizes[2];
    assert_true(dp_proportional_sizes(d, all, 2, new_rs, sizes));
    /* allowed 13, have 6, to add 7: each 3 * 13 / 6 = 6.5 -> +4 (rounded),
     * capped by what is left: 4 + 3 */
    assert_int_equal(sizes[0] + sizes[1], 13);
    assert_true(sizes[0] >= 6 && sizes[1] >= 6);
    /* scale down 10 -> 5 with max 13 annotated: 8 + 5 of 13 */
    d = dep(5, NULL, NULL); /* surge 2 -> allowed 7 */
    kr_value_t *n2 = rs("web-new", 10, 8, 8, 13), *o2 = rs("web-old", 0, 5, 5, 13);
    kr_value_t *all2[] = {n2, o2};
    assert_true(dp_proportional_sizes(d, all2, 2, n2, sizes));
    assert_int_equal(sizes[0] + sizes[1], 7);
    assert_int_equal(sizes[0], 4); /* 8 * 7 / 13 = 4.3 */
    assert_int_equal(sizes[1], 3); /* 5 * 7 / 13 = 2.7 -> 3 */
    /* one active ReplicaSet takes everything */
    kr_value_t *only = rs("web-new", 10, 3, 3, 4), *empty = rs("web-old", 0, 0, 0, 4);
    kr_value_t *all3[] = {only, empty};
    d = dep(7, NULL, NULL);
    assert_true(dp_proportional_sizes(d, all3, 2, only, sizes));
    assert_int_equal(sizes[0], 7);
    assert_int_equal(sizes[1], 0);
    /* to 0: everything down */
    d = dep(0, NULL, NULL);
    assert_true(dp_proportional_sizes(d, all2, 2, n2, sizes));
    assert_int_equal(sizes[0], 0);
    assert_int_equal(sizes[1], 0);
}

static void test_hash(void **state)
{
    (void)state;
    kr_value_t *t1 =
        json("{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}},\"spec\":{\"x\":1}}");
    kr_value_t *t2 = json("{\"spec\":{\"x\":1},\"metadata\":{\"labels\":{\"b\":\"2\",\"a\":\"1\"},"
                          "\"creationTimestamp\":null}}");
    char h1[16], h2[16], h3[16], h4[16];
    dp_hash(t1, -1, h1, sizeof h1);
    dp_hash(t2, -1, h2, sizeof h2);
    dp_hash(t1, 1, h3, sizeof h3);
    dp_hash(t1, 2, h4, sizeof h4);
    assert_string_equal(h1, h2); /* key order and empty fields do not count */
    assert_string_not_equal(h1, h3);
    assert_string_not_equal(h3, h4);
    for (const char *p = h1; *p; p++)
        assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *p));
    /* the FNV-32a vectors are kraal/controller.h's (test_controller) */
    /* EqualIgnoreHash */
    kr_value_t *t3 = kr_value_copy(A, t1);
    kr_value_set(A, t3, "metadata.labels[\"" DP_HASH_LABEL "\"]", kr_value_str(A, "abc"), NULL);
    assert_true(dp_templates_equal(t1, t3));
    assert_true(dp_templates_equal(t2, t3));
    kr_value_set(A, t3, "spec.x", kr_value_int(A, 2), NULL);
    assert_false(dp_templates_equal(t1, t3));
}

static void test_annotations(void **state)
{
    (void)state;
    kr_value_t *d = dep(4, "1", "1");
    kr_value_set(A, d, "metadata.annotations",
                 json("{\"kubernetes.io/change-cause\":\"v2\",\"" DP_REVISION "\":\"9\"}"), NULL);
    kr_value_t *r = rs("web-new", 0, 0, 0, -1);
    assert_true(dp_set_new_rs_annotations(A, d, r, 1, false));
    const kr_value_t *ann = kr_value_get(r, "metadata.annotations");
    assert_string_equal(kr_value_map_str(ann, DP_REVISION), "1");
    assert_string_equal(kr_value_map_str(ann, "kubernetes.io/change-cause"), "v2");
    assert_string_equal(kr_value_map_str(ann, DP_DESIRED_REPLICAS), "4");
    assert_string_equal(kr_value_map_str(ann, DP_MAX_REPLICAS), "5");
    assert_null(kr_value_map_get(ann, DP_REVISION_HISTORY));
    assert_false(dp_set_new_rs_annotations(A, d, r, 1, true));
    /* rolled back to: revision 3, history 1, then 5 with history 1,3 */
    assert_true(dp_set_new_rs_annotations(A, d, r, 3, true));
    assert_string_equal(kr_value_map_str(ann, DP_REVISION), "3");
    assert_string_equal(kr_value_map_str(ann, DP_REVISION_HISTORY), "1");
    assert_true(dp_set_new_rs_annotations(A, d, r, 5, true));
    assert_string_equal(kr_value_map_str(ann, DP_REVISION_HISTORY), "1,3");
    /* a lower revision never goes down */
    assert_false(dp_set_new_rs_annotations(A, d, r, 2, true));
    assert_int_equal(dp_revision(r), 5);
}

static void test_status(void **state)
{
    (void)state;
    kr_value_t *d = dep(4, "1", "1");
    kr_value_set(A, d, "spec.progressDeadlineSeconds", kr_value_int(A, 600), NULL);
    kr_value_t *new_rs = rs("web-new", 10, 4, 4, -1), *old = rs("web-old", 0, 0, 0, -1);
    kr_value_set(A, new_rs, "status.readyReplicas", kr_value_int(A, 4), NULL);
    kr_value_t *all[] = {new_rs, old};
    kr_value_t *st = dp_status(A, d, all, 2, new_rs, 1000);
    assert_int_equal(kr_value_map_int(st, "replicas", -1), 4);
    assert_int_equal(kr_value_map_int(st, "updatedReplicas", -1), 4);
    assert_int_equal(kr_value_map_int(st, "availableReplicas", -1), 4);
    assert_int_equal(kr_value_map_int(st, "unavailableReplicas", -1), 0);
    assert_string_equal(kr_value_map_str(dp_get_condition(st, "Available"), "reason"),
                        "MinimumReplicasAvailable");
    dp_rollout_conditions(A, d, st, all, 2, new_rs, 1000);
    const kr_value_t *p = dp_get_condition(st, "Progressing");
    assert_string_equal(kr_value_map_str(p, "reason"), "NewReplicaSetAvailable");
    assert_string_equal(kr_value_map_str(p, "message"),
                        "ReplicaSet \"web-new\" has successfully progressed.");
    assert_true(dp_complete(d, st));
    /* under minimum, a stale ReplicaSetUpdated past the deadline: timed out */
    kr_value_set(A, new_rs, "status.availableReplicas", kr_value_int(A, 1), NULL);
    kr_value_t *d2 = kr_value_copy(A, d);
    kr_value_t *st0 = kr_value_map(A);
    dp_set_condition(A, st0, "Progressing", "True", "ReplicaSetUpdated", "x", 100);
    kr_value_map_set(A, st0, "availableReplicas", kr_value_int(A, 1));
    kr_value_map_set(A, st0, "updatedReplicas", kr_value_int(A, 4));
    kr_value_map_set(A, st0, "replicas", kr_value_int(A, 4));
    kr_value_map_set(A, st0, "readyReplicas", kr_value_int(A, 4));
    kr_value_map_set(A, d2, "status", st0);
    st = dp_status(A, d2, all, 2, new_rs, 1000);
    assert_string_equal(kr_value_map_str(dp_get_condition(st, "Available"), "reason"),
                        "MinimumReplicasUnavailable");
    dp_rollout_conditions(A, d2, st, all, 2, new_rs, 1000);
    p = dp_get_condition(st, "Progressing");
    assert_string_equal(kr_value_map_str(p, "reason"), "ProgressDeadlineExceeded");
    assert_string_equal(kr_value_map_str(p, "status"), "False");
    /* before the deadline: recheck when it passes */
    st = dp_status(A, d2, all, 2, new_rs, 200);
    assert_int_equal(dp_progress_recheck_ms(d2, st, 200), (100 + 600 - 200 + 1) * 1000);
    /* set_condition keeps lastTransitionTime for the same status */
    kr_value_t *s2 = kr_value_map(A);
    dp_set_condition(A, s2, "Available", "True", "A", "m", 100);
    dp_set_condition(A, s2, "Available", "True", "B", "m", 200);
    char t100[32];
    kr_time_format(100, t100, sizeof t100);
    assert_string_equal(kr_value_map_str(dp_get_condition(s2, "Available"), "lastTransitionTime"),
                        t100);
    assert_string_equal(kr_value_map_str(dp_get_condition(s2, "Available"), "reason"), "B");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fenceposts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_rs_new_replicas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proportional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
