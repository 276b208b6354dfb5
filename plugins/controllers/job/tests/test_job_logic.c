/* Unit tests of the Job controller's pure decisions: how many pods should
 * run, the pod failure back-off, completion indexes and their compressed
 * form, finish times (upstream's job_controller_test.go,
 * indexed_job_utils_test.go and backoff_utils_test.go cases). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "job_logic.h"

static kr_arena_t *A;

static kr_value_t *json(const char *s)
{
    kr_value_t *v = NULL;
    assert_int_equal(kr_json_decode(A, s, strlen(s), &v, NULL), 0);
    return v;
}

static void test_want_active(void **state)
{
    (void)state;
    /* completions 5, parallelism 2 */
    assert_int_equal(job_want_active(5, 2, 0, 0), 2);
    assert_int_equal(job_want_active(5, 2, 4, 1), 1); /* one completion left */
    assert_int_equal(job_want_active(5, 2, 5, 0), 0);
    assert_int_equal(job_want_active(5, 2, 7, 0), 0); /* never negative */
    assert_int_equal(job_want_active(5, 10, 0, 0), 5);
    /* no completions: parallelism until a first success, then what runs */
    assert_int_equal(job_want_active(-1, 3, 0, 1), 3);
    assert_int_equal(job_want_active(-1, 3, 1, 2), 2);
    assert_int_equal(job_want_active(-1, 3, 1, 0), 0);
    /* parallelism 0 */
    assert_int_equal(job_want_active(5, 0, 0, 0), 0);
}

static void test_backoff(void **state)
{
    (void)state;
    const int64_t now = 1700000000000LL;
    assert_int_equal(job_backoff_remaining_ms(0, now, now), 0);
    assert_int_equal(job_backoff_remaining_ms(1, now, now), 10000);
    assert_int_equal(job_backoff_remaining_ms(1, now - 4000, now), 6000);
    assert_int_equal(job_backoff_remaining_ms(1, now - 11000, now), 0);
    assert_int_equal(job_backoff_remaining_ms(2, now, now), 20000);
    assert_int_equal(job_backoff_remaining_ms(3, now - 5000, now), 35000);
    assert_int_equal(job_backoff_remaining_ms(6, now, now), 320000);
    /* capped at 6 min from the 7th failure on */
    assert_int_equal(job_backoff_remaining_ms(7, now, now), 360000);
    assert_int_equal(job_backoff_remaining_ms(100, now, now), 360000);
    assert_int_equal(job_backoff_remaining_ms(100, now - 360001, now), 0);
    /* exactly at the end: nothing left */
    assert_int_equal(job_backoff_remaining_ms(1, now - 10000, now), 0);
}

static void test_pod_index(void **state)
{
    (void)state;
    assert_int_equal(job_pod_index(json("{\"metadata\":{\"annotations\":{"
                                        "\"batch.kubernetes.io/job-completion-index\":\"3\"}}}")),
                     3);
    /* the label when the annotation is missing */
    assert_int_equal(job_pod_index(json("{\"metadata\":{\"labels\":{"
                                        "\"batch.kubernetes.io/job-completion-index\":\"12\"}}}")),
                     12);
    assert_int_equal(job_pod_index(json("{\"metadata\":{\"annotations\":{"
                                        "\"batch.kubernetes.io/job-completion-index\":\"-1\"}}}")),
                     -1);
    assert_int_equal(job_pod_index(json("{\"metadata\":{\"annotations\":{"
                                        "\"batch.kubernetes.io/job-completion-index\":\"x\"}}}")),
                     -1);
    assert_int_equal(job_pod_index(json("{\"metadata\":{}}")), -1);
}

static void test_indexes(void **state)
{
    (void)state;
    uint8_t set[10] = {0};
    assert_true(job_indexes_parse("1,3-5,7", set, 10));
    const uint8_t want[10] = {0, 1, 0, 1, 1, 1, 0, 1, 0, 0};
    assert_memory_equal(set, want, 10);
    assert_string_equal(job_indexes_format(A, set, 10), "1,3-5,7");
    /* out of range is ignored; a single-element range */
    uint8_t s2[4] = {0};
    assert_true(job_indexes_parse("0,2-2,3-9", s2, 4));
    assert_string_equal(job_indexes_format(A, s2, 4), "0,2-3");
    assert_true(job_indexes_parse("", s2, 4));
    uint8_t none[3] = {0};
    assert_string_equal(job_indexes_format(A, none, 3), "");
    /* malformed */
    uint8_t s3[8] = {0};
    assert_false(job_indexes_parse("1,a", s3, 8));
    assert_true(s3[1]);
    assert_false(job_indexes_parse("5-2", s3, 8));
    assert_false(job_indexes_parse("1,", s3, 8));
    uint8_t all[5] = {1, 1, 1, 1, 1};
    assert_string_equal(job_indexes_format(A, all, 5), "0-4");
}

static void test_first_pending(void **state)
{
    (void)state;
    const uint8_t done[6] = {1, 0, 0, 1, 0, 0};
    const uint8_t active[6] = {0, 1, 0, 0, 0, 0};
    int64_t out[6];
    assert_int_equal(job_first_pending(done, active, 6, 2, out), 2);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 4);
    assert_int_equal(job_first_pending(done, active, 6, 10, out), 3);
    assert_int_equal(out[2], 5);
    assert_int_equal(job_first_pending(done, active, 6, 0, out), 0);
}

static void test_finish_time(void **state)
{
    (void)state;
    kr_value_t *p = json(
        "{\"metadata\":{\"creationTimestamp\":\"2023-11-14T22:13:00Z\"},\"status\":{"
        "\"containerStatuses\":[{\"state\":{\"terminated\":{\"finishedAt\":\"2023-11-14T22:13:"
        "20Z\"}}},"
        "{\"state\":{\"terminated\":{\"finishedAt\":\"2023-11-14T22:13:25Z\"}}}],"
        "\"initContainerStatuses\":[{\"restartCount\":2,\"state\":{\"terminated\":{\"finishedAt\":"
        "\"2023-11-14T22:13:10Z\"}}}]}}");
    assert_int_equal(job_pod_finish_ms(p, 7), 1700000005000LL);
    assert_int_equal(job_pod_restarts(p), 2);
    /* no container finished: the creation time; nothing: the default */
    assert_int_equal(job_pod_finish_ms(json("{\"metadata\":{\"creationTimestamp\":"
                                            "\"2023-11-14T22:13:00Z\"}}"),
                                       7),
                     1699999980000LL);
    assert_int_equal(job_pod_finish_ms(json("{}"), 7), 7);
}

static void test_slow_start(void **state)
{
    (void)state;
    int64_t left = 10, prev = 0, got[8], n = 0;
    while (left > 0) {
        prev = job_slow_start_next(prev, left);
        got[n++] = prev;
        left -= prev;
    }
    assert_int_equal(n, 4);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], 2);
    assert_int_equal(got[2], 4);
    assert_int_equal(got[3], 3);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_want_active),   cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_pod_index),     cmocka_unit_test(test_indexes),
        cmocka_unit_test(test_first_pending), cmocka_unit_test(test_finish_time),
        cmocka_unit_test(test_slow_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
