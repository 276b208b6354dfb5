/* Unit tests of the ReplicaSet controller's pure parts: the scale-down
 * order (upstream's ActivePodsWithRanks cases), status counts and
 * conditions, slow-start batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/controller.h>

#include "rs_pods.h"

#define NOW_S 1700000000LL
#define NOW   (NOW_S * 1000000000LL)

static kr_arena_t *A;

static kr_value_t *json(const char *s)
{
    kr_value_t *v = NULL;
    assert_int_equal(kr_json_decode(A, s, strlen(s), &v, NULL), 0);
    return v;
}

/* name, node, phase, ready since (seconds before NOW, -1: not ready),
 * restarts, created (seconds before NOW), deletion cost (NULL: none) */
static kr_value_t *pod(const char *name, const char *node, const char *phase, int64_t ready_ago,
                       int restarts, int64_t created_ago, const char *cost)
{
    char rt[32], ct[32];
    kr_time_format(NOW_S - ready_ago, rt, sizeof rt);
    kr_time_format(NOW_S - created_ago, ct, sizeof ct);
    return json(kr_arena_printf(
        A,
        "{\"metadata\":{\"name\":\"%s\",\"uid\":\"uid-%s\",\"creationTimestamp\":\"%s\"%s%s%s},"
        "\"spec\":{\"nodeName\":\"%s\"},\"status\":{\"phase\":\"%s\",\"conditions\":[{\"type\":"
        "\"Ready\",\"status\":\"%s\",\"lastTransitionTime\":\"%s\"}],\"containerStatuses\":[{"
        "\"restartCount\":%d}]}}",
        name, name, ct, cost ? ",\"annotations\":{\"" RS_DELETION_COST "\":\"" : "",
        cost ? cost : "", cost ? "\"}" : "", node, phase, ready_ago >= 0 ? "True" : "False", rt,
        restarts));
}

static const char *name_of(const kr_value_t *p)
{
    return kr_value_as_str(kr_value_get(p, "metadata.name"));
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

static int cmp(const kr_value_t *a, const kr_value_t *b, int ra, int rb)
{
    rs_ranked_t x = {a, ra}, y = {b, rb};
    return rs_ranked_cmp(&x, &y, NOW);
}

static void test_order_steps(void **state)
{
    (void)state;
    kr_value_t *ready = pod("r", "n1", "Running", 100, 0, 200, NULL);
    /* 1. unassigned first */
    assert_true(cmp(pod("u", "", "Pending", -1, 0, 10, NULL), ready, 0, 0) < 0);
    /* 2. Pending < Unknown < Running */
    assert_true(cmp(pod("p", "n1", "Pending", -1, 0, 10, NULL),
                    pod("k", "n1", "Unknown", -1, 0, 10, NULL), 0, 0) < 0);
    assert_true(cmp(pod("k", "n1", "Unknown", -1, 0, 10, NULL),
                    pod("x", "n1", "Running", -1, 0, 10, NULL), 0, 0) < 0);
    /* 3. not ready first */
    assert_true(cmp(pod("nr", "n1", "Running", -1, 0, 10, NULL), ready, 0, 0) < 0);
    /* 4. lower deletion cost first, before rank */
    assert_true(cmp(pod("c1", "n1", "Running", 100, 0, 200, "-5"),
                    pod("c2", "n1", "Running", 100, 0, 200, "10"), 0, 5) < 0);
    /* an invalid cost reads as 0 */
    assert_int_equal(cmp(pod("c3", "n1", "Running", 100, 0, 200, "x"),
                         pod("c4", "n1", "Running", 100, 0, 200, NULL), 0, 0),
                     0);
    /* 5. doubled up first */
    assert_true(cmp(pod("d1", "n1", "Running", 100, 0, 200, NULL),
                    pod("d2", "n2", "Running", 100, 0, 200, NULL), 3, 1) < 0);
    /* 6. ready for less time first, by powers of two: 10 s vs 1000 s */
    assert_true(cmp(pod("y1", "n1", "Running", 10, 0, 2000, NULL),
                    pod("y2", "n1", "Running", 1000, 0, 2000, NULL), 0, 0) < 0);
    /* same power of two (100 s and 101 s = 2^36 ns bucket): uid decides */
    assert_true(cmp(pod("a", "n1", "Running", 100, 0, 2000, NULL),
                    pod("b", "n1", "Running", 101, 0, 2000, NULL), 0, 0) < 0);
    /* 7. more restarts first */
    assert_true(cmp(pod("m1", "n1", "Running", 100, 5, 200, NULL),
                    pod("m2", "n1", "Running", 100, 1, 200, NULL), 0, 0) < 0);
    /* 8. newer first */
    assert_true(cmp(pod("o1", "n1", "Running", 100, 0, 300, NULL),
                    pod("o2", "n1", "Running", 100, 0, 5000, NULL), 0, 0) < 0);
}

static void test_pods_to_delete(void **state)
{
    (void)state;
    /* three ready pods, two of the family on n1 (one of another
     * ReplicaSet): the n1 pod of this one goes first */
    kr_value_t *a = pod("a", "n1", "Running", 100, 0, 200, NULL);
    kr_value_t *b = pod("b", "n2", "Running", 100, 0, 200, NULL);
    kr_value_t *c = pod("c", "n3", "Running", 100, 0, 200, NULL);
    kr_value_t *other = pod("other", "n1", "Running", 100, 0, 200, NULL);
    const kr_value_t *pods[] = {b, c, a};
    const kr_value_t *related[] = {a, b, c, other};
    rs_pods_to_delete(pods, 3, related, 4, 1, NOW);
    assert_string_equal(name_of(pods[0]), "a");
    /* diff >= n: the order is kept */
    const kr_value_t *two[] = {b, a};
    rs_pods_to_delete(two, 2, related, 4, 2, NOW);
    assert_string_equal(name_of(two[0]), "b");
    /* a not ready pod goes before the doubled up one */
    kr_value_t *nr = pod("nr", "n2", "Running", -1, 0, 200, NULL);
    const kr_value_t *p3[] = {a, b, nr};
    const kr_value_t *r3[] = {a, b, nr, other};
    rs_pods_to_delete(p3, 3, r3, 4, 2, NOW);
    assert_string_equal(name_of(p3[0]), "nr");
    assert_string_equal(name_of(p3[1]), "a");
}

static void test_counts(void **state)
{
    (void)state;
    kr_value_t *labels = json("{\"app\":\"web\",\"tier\":\"fe\"}");
    kr_value_t *p1 = pod("p1", "n1", "Running", 100, 0, 200, NULL);
    kr_value_t *p2 = pod("p2", "n1", "Running", 3, 0, 200, NULL);
    kr_value_t *p3 = pod("p3", "n1", "Running", -1, 0, 200, NULL);
    kr_value_set(A, p1, "metadata.labels", json("{\"app\":\"web\",\"tier\":\"fe\",\"x\":\"y\"}"),
                 NULL);
    kr_value_set(A, p2, "metadata.labels", json("{\"app\":\"web\"}"), NULL);
    const kr_value_t *pods[] = {p1, p2, p3};
    rs_counts_t c;
    rs_counts_of(pods, 3, labels, 10, NOW_S, &c);
    assert_int_equal(c.replicas, 3);
    assert_int_equal(c.fully_labeled, 1);
    assert_int_equal(c.ready, 2);
    assert_int_equal(c.available, 1);
    assert_int_equal(c.next_available_s, 7); /* p2: ready 3 s of 10 */
    rs_counts_of(pods, 3, labels, 0, NOW_S, &c);
    assert_int_equal(c.available, 2);
    assert_int_equal(c.next_available_s, 0);
}

static void test_status(void **state)
{
    (void)state;
    rs_counts_t c = {.replicas = 2, .fully_labeled = 2, .ready = 1, .available = 1};
    kr_value_t *st = rs_status_new(A, NULL, &c, 3, "pods \"x\" is forbidden: quota", true, NOW_S);
    assert_int_equal(kr_value_map_int(st, "observedGeneration", 0), 3);
    const kr_value_t *cd = kr_value_get(st, "conditions[0]");
    assert_string_equal(kr_value_map_str(cd, "type"), "ReplicaFailure");
    assert_string_equal(kr_value_map_str(cd, "reason"), "FailedCreate");
    assert_string_equal(kr_value_map_str(cd, "message"), "pods \"x\" is forbidden: quota");
    assert_true(rs_status_changed(NULL, st));
    /* the error persists: the condition stays as it was */
    kr_value_t *again = rs_status_new(A, st, &c, 3, "another error", true, NOW_S + 5);
    assert_false(rs_status_changed(st, again));
    /* no error any more: removed */
    kr_value_t *ok = rs_status_new(A, st, &c, 3, NULL, true, NOW_S + 9);
    assert_null(kr_value_map_get(ok, "conditions"));
    assert_true(rs_status_changed(st, ok));
    c.available = 2;
    assert_true(rs_status_changed(ok, rs_status_new(A, ok, &c, 3, NULL, true, NOW_S)));
    /* a delete error */
    st = rs_status_new(A, NULL, &c, 3, "boom", false, NOW_S);
    assert_string_equal(kr_value_as_str(kr_value_get(st, "conditions[0].reason")), "FailedDelete");
}

static void test_slow_start(void **state)
{
    (void)state;
    int64_t left = 1000, last = 0, batches = 0, sizes[16];
    while (left > 0) {
        last = rs_slow_start_next(last, left);
        sizes[batches++] = last;
        left -= last;
    }
    assert_int_equal(batches, 10); /* 1+2+...+256 = 511, then 489 */
    assert_int_equal(sizes[0], 1);
    assert_int_equal(sizes[8], 256);
    assert_int_equal(sizes[9], 489);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pods_to_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_start, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
