/* Work queue: dedup, re-add while in flight, max_in_flight, add_after order,
 * rate-limited back-off and forget, 50,000 keys, shutdown with keys pending,
 * refusals.  Every test drives a real kr_loop_t. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/loop.h>
#include <kraal/workqueue.h>

#define MAX_SEEN 64

typedef struct rec {
    kr_loop_t *loop;
    bool sync_done; /* call done from inside the handler */
    int calls;
    char seen[MAX_SEEN][32];
    uint64_t seen_at[MAX_SEEN];
    char flight[MAX_SEEN][32]; /* keys in flight, to catch concurrent hand-outs */
    int nflight;
    int max_flight;
} rec_t;

static int flight_find(const rec_t *r, const char *key)
{
    for (int i = 0; i < r->nflight; i++)
        if (strcmp(r->flight[i], key) == 0)
            return i;
    return -1;
}

static void record(kr_workqueue_t *q, const char *key, void *ud)
{
    rec_t *r = ud;
    assert_int_equal(flight_find(r, key), -1);
    assert_true(r->nflight < MAX_SEEN);
    snprintf(r->flight[r->nflight++], sizeof r->flight[0], "%s", key);
    if (r->nflight > r->max_flight)
        r->max_flight = r->nflight;
    if (r->calls < MAX_SEEN) {
        snprintf(r->seen[r->calls], sizeof r->seen[0], "%s", key);
        r->seen_at[r->calls] = kr_time_ms();
    }
    r->calls++;
    if (r->sync_done) {
        r->nflight--;
        assert_int_equal(kr_workqueue_done(q, key, NULL), 0);
    }
}

/* Ends the processing of `key` the way an asynchronous handler would. */
static void finish(kr_workqueue_t *q, rec_t *r, const char *key)
{
    int i = flight_find(r, key);
    assert_true(i >= 0);
    memmove(r->flight[i], r->flight[i + 1], (size_t)(r->nflight - i - 1) * sizeof r->flight[0]);
    r->nflight--;
    assert_int_equal(kr_workqueue_done(q, key, NULL), 0);
}

static void run_for(kr_loop_t *loop, uint64_t ms)
{
    uint64_t end = kr_time_ms() + ms;
    while (kr_time_ms() < end)
        assert_true(kr_loop_run_once(loop, 1, NULL) >= 0);
}

/* Runs until `r->calls` reaches `n` or 2 s pass. */
static void run_until_calls(kr_loop_t *loop, const rec_t *r, int n)
{
    uint64_t end = kr_time_ms() + 2000;
    while (r->calls < n && kr_time_ms() < end)
        assert_true(kr_loop_run_once(loop, 5, NULL) >= 0);
    assert_int_equal(r->calls, n);
}

static kr_workqueue_t *make(kr_loop_t *loop, const kr_workqueue_opts_t *o, rec_t *r)
{
    kr_error_t err;
    r->loop = loop;
    kr_workqueue_t *q = kr_workqueue_new(loop, o, record, r, &err);
    assert_non_null(q);
    return q;
}

static void test_dedup_waiting(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {.sync_done = true};
    kr_workqueue_t *q = make(loop, NULL, &r);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kr_workqueue_add(q, "default/web", NULL), 0);
    assert_int_equal(kr_workqueue_add(q, "default/db", NULL), 0);
    assert_int_equal(kr_workqueue_len(q), 2);
    assert_int_equal(r.calls, 0); /* never from inside add() */
    run_until_calls(loop, &r, 2);
    run_for(loop, 20);
    assert_int_equal(r.calls, 2);
    assert_string_equal(r.seen[0], "default/web");
    assert_string_equal(r.seen[1], "default/db");
    assert_int_equal(kr_workqueue_len(q), 0);
    kr_workqueue_destroy(&q);
    assert_null(q);
    kr_loop_destroy(&loop);
}

static void test_readd_while_processing(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {0};
    kr_workqueue_opts_t o = {.max_in_flight = 4};
    kr_workqueue_t *q = make(loop, &o, &r);
    assert_int_equal(kr_workqueue_add(q, "ns/a", NULL), 0);
    run_until_calls(loop, &r, 1);
    assert_int_equal(kr_workqueue_in_flight(q), 1);
    /* Added twice while in flight, with free workers: still not handed out. */
    assert_int_equal(kr_workqueue_add(q, "ns/a", NULL), 0);
    assert_int_equal(kr_workqueue_add(q, "ns/a", NULL), 0);
    assert_int_equal(kr_workqueue_len(q), 0);
    run_for(loop, 20);
    assert_int_equal(r.calls, 1);
    finish(q, &r, "ns/a");
    assert_int_equal(kr_workqueue_len(q), 1);
    run_until_calls(loop, &r, 2);
    finish(q, &r, "ns/a");
    run_for(loop, 20);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.max_flight, 1);
    assert_int_equal(kr_workqueue_in_flight(q), 0);
    kr_error_t err;
    assert_int_equal(kr_workqueue_done(q, "ns/a", &err), -KR_E_NOT_FOUND);
    assert_non_null(strstr(err.message, "ns/a"));
    kr_workqueue_destroy(&q);
    kr_loop_destroy(&loop);
}

static void test_max_in_flight(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {0};
    kr_workqueue_opts_t o = {.max_in_flight = 3};
    kr_workqueue_t *q = make(loop, &o, &r);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "ns/k%d", i);
        assert_int_equal(kr_workqueue_add(q, key, NULL), 0);
    }
    int finished = 0;
    uint64_t end = kr_time_ms() + 2000;
    while (finished < 10 && kr_time_ms() < end) {
        assert_true(kr_loop_run_once(loop, 5, NULL) >= 0);
        assert_true(r.nflight <= 3);
        assert_int_equal(kr_workqueue_in_flight(q), (size_t)r.nflight);
        if (r.nflight == 3 || (r.nflight > 0 && kr_workqueue_len(q) == 0)) {
            char first[32];
            snprintf(first, sizeof first, "%s", r.flight[0]);
            finish(q, &r, first);
            finished++;
        }
    }
    assert_int_equal(finished, 10);
    assert_int_equal(r.calls, 10);
    assert_int_equal(r.max_flight, 3);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "ns/k%d", i);
        assert_string_equal(r.seen[i], key);
    }
    kr_workqueue_destroy(&q);
    kr_loop_destroy(&loop);
}

static void test_add_after_order(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {.sync_done = true};
    kr_workqueue_t *q = make(loop, NULL, &r);
    uint64_t t0 = kr_time_ms();
    assert_int_equal(kr_workqueue_add_after(q, "c", 60, NULL), 0);
    assert_int_equal(kr_workqueue_add_after(q, "a", 20, NULL), 0);
    assert_int_equal(kr_workqueue_add_after(q, "b", 40, NULL), 0);
    assert_int_equal(kr_workqueue_add_after(q, "d", 500, NULL), 0);
    /* A delayed key keeps the earlier time: d moves ahead of everything. */
    assert_int_equal(kr_workqueue_add_after(q, "d", 5, NULL), 0);
    /* ... and a later time does not push c back. */
    assert_int_equal(kr_workqueue_add_after(q, "c", 5000, NULL), 0);
    assert_int_equal(kr_workqueue_len(q), 0);
    run_until_calls(loop, &r, 4);
    assert_string_equal(r.seen[0], "d");
    assert_string_equal(r.seen[1], "a");
    assert_string_equal(r.seen[2], "b");
    assert_string_equal(r.seen[3], "c");
    assert_true(r.seen_at[0] >= t0 + 5);
    assert_true(r.seen_at[1] >= t0 + 20);
    assert_true(r.seen_at[2] >= t0 + 40);
    assert_true(r.seen_at[3] >= t0 + 60);
    run_for(loop, 20);
    assert_int_equal(r.calls, 4);
    /* Zero delay is a plain add. */
    assert_int_equal(kr_workqueue_add_after(q, "e", 0, NULL), 0);
    assert_int_equal(kr_workqueue_len(q), 1);
    run_until_calls(loop, &r, 5);
    kr_workqueue_destroy(&q);
    kr_loop_destroy(&loop);
}

static void test_backoff_grows_and_caps(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {.sync_done = true};
    kr_workqueue_opts_t o = {.base_delay_ms = 1, .max_delay_ms = 8, .qps = -1};
    kr_workqueue_t *q = make(loop, &o, &r);
    /* Expected waits: 1 2 4 8 8 8 8 8 8 8 8 8 ms, each a lower bound. */
    uint64_t want = 1;
    uint64_t t_start = kr_time_ms();
    for (int i = 0; i < 12; i++) {
        uint64_t t0 = kr_time_ms();
        assert_int_equal(kr_workqueue_add_rate_limited(q, "ns/flaky", NULL), 0);
        assert_int_equal(kr_workqueue_num_requeues(q, "ns/flaky"), (unsigned)(i + 1));
        assert_int_equal(kr_workqueue_len(q), 0); /* delayed, not waiting */
        run_until_calls(loop, &r, i + 1);
        assert_true(r.seen_at[i] >= t0 + want);
        want = want * 2 > 8 ? 8 : want * 2;
    }
    /* Uncapped, the last waits alone would take 2^11 ms. */
    assert_true(kr_time_ms() - t_start < 1500);
    kr_workqueue_destroy(&q);
    kr_loop_destroy(&loop);
}

static void test_forget_resets(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {.sync_done = true};
    kr_workqueue_opts_t o = {.base_delay_ms = 1, .max_delay_ms = 1000, .qps = -1};
    kr_workqueue_t *q = make(loop, &o, &r);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(kr_workqueue_add_rate_limited(q, "ns/x", NULL), 0);
        run_until_calls(loop, &r, i + 1);
    }
    assert_int_equal(kr_workqueue_num_requeues(q, "ns/x"), 6);
    assert_int_equal(kr_workqueue_num_requeues(q, "ns/other"), 0);
    kr_workqueue_forget(q, "ns/x");
    assert_int_equal(kr_workqueue_num_requeues(q, "ns/x"), 0);
    /* Back at the base delay: 1 ms, not 64 ms. */
    uint64_t t0 = kr_time_ms();
    assert_int_equal(kr_workqueue_add_rate_limited(q, "ns/x", NULL), 0);
    assert_int_equal(kr_workqueue_num_requeues(q, "ns/x"), 1);
    run_until_calls(loop, &r, 7);
    assert_true(r.seen_at[6] >= t0 + 1);
    assert_true(r.seen_at[6] < t0 + 60);
    kr_workqueue_forget(q, "ns/x");
    kr_workqueue_forget(q, "ns/never-seen");
    kr_workqueue_destroy(&q);
    kr_loop_destroy(&loop);
}

static void test_token_bucket(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {.sync_done = true};
    /* 100 qps, burst 2: the 3rd, 4th and 5th distinct keys wait about
     * 10, 20 and 30 ms although their own back-off is 1 ms. */
    kr_workqueue_opts_t o = {.base_delay_ms = 1, .qps = 100, .burst = 2, .max_in_flight = 8};
    kr_workqueue_t *q = make(loop, &o, &r);
    uint64_t t0 = kr_time_ms();
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "ns/b%d", i);
        assert_int_equal(kr_workqueue_add_rate_limited(q, key, NULL), 0);
    }
    run_until_calls(loop, &r, 5);
    assert_string_equal(r.seen[4], "ns/b4");
    assert_true(r.seen_at[4] >= t0 + 29);
    assert_true(r.seen_at[4] < t0 + 1000);
    kr_workqueue_destroy(&q);
    kr_loop_destroy(&loop);
}

typedef struct bulk {
    int calls;
} bulk_t;

static void bulk_sync(kr_workqueue_t *q, const char *key, void *ud)
{
    bulk_t *b = ud;
    b->calls++;
    assert_int_equal(kr_workqueue_done(q, key, NULL), 0);
}

static void test_50k_keys(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    bulk_t b = {0};
    kr_workqueue_opts_t o = {.max_in_flight = 4};
    kr_workqueue_t *q = kr_workqueue_new(loop, &o, bulk_sync, &b, NULL);
    assert_non_null(q);
    enum { N = 50000 };
    char key[48];
    uint64_t t0 = kr_time_ms();
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "namespace-%d/replicaset-%d", i % 97, i);
            assert_int_equal(kr_workqueue_add(q, key, NULL), 0);
        }
    }
    assert_int_equal(kr_workqueue_len(q), N);
    uint64_t end = t0 + 5000;
    while (b.calls < N && kr_time_ms() < end)
        assert_true(kr_loop_run_once(loop, 5, NULL) >= 0);
    uint64_t took = kr_time_ms() - t0;
    assert_int_equal(b.calls, N);
    assert_int_equal(kr_workqueue_len(q), 0);
    print_message("50000 keys (100000 adds) queued and processed in %llu ms\n",
                  (unsigned long long)took);
    assert_true(took < 1000);
    kr_workqueue_destroy(&q);
    kr_loop_destroy(&loop);
}

static void test_shutdown_pending(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {0};
    kr_workqueue_opts_t o = {.max_in_flight = 2, .base_delay_ms = 1};
    kr_workqueue_t *q = make(loop, &o, &r);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "ns/p%d", i);
        assert_int_equal(kr_workqueue_add(q, key, NULL), 0);
        snprintf(key, sizeof key, "ns/d%d", i);
        assert_int_equal(kr_workqueue_add_after(q, key, 10 + (uint64_t)i, NULL), 0);
        snprintf(key, sizeof key, "ns/r%d", i);
        assert_int_equal(kr_workqueue_add_rate_limited(q, key, NULL), 0);
    }
    run_until_calls(loop, &r, 2);
    assert_int_equal(kr_workqueue_add(q, "ns/p0", NULL), 0); /* re-added in flight */
    kr_workqueue_shutdown(q);
    assert_true(kr_workqueue_shutting_down(q));
    assert_int_equal(kr_workqueue_add(q, "ns/late", NULL), 0);
    assert_int_equal(kr_workqueue_add_after(q, "ns/late2", 1, NULL), 0);
    /* In-flight keys are still answered, nothing more is handed out. */
    finish(q, &r, "ns/p0");
    finish(q, &r, "ns/p1");
    run_for(loop, 40);
    assert_int_equal(r.calls, 2);
    assert_int_equal(kr_workqueue_in_flight(q), 0);
    kr_workqueue_destroy(&q);
    kr_workqueue_destroy(&q); /* NULL is fine */
    kr_loop_destroy(&loop);
}

static void test_destroy_in_flight(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {0};
    kr_workqueue_t *q = make(loop, NULL, &r);
    assert_int_equal(kr_workqueue_add(q, "ns/a", NULL), 0);
    assert_int_equal(kr_workqueue_add(q, "ns/b", NULL), 0);
    assert_int_equal(kr_workqueue_add_after(q, "ns/c", 10000, NULL), 0);
    run_until_calls(loop, &r, 1);
    /* Destroyed without shutdown, a key in flight and timers armed. */
    kr_workqueue_destroy(&q);
    run_for(loop, 10);
    assert_int_equal(r.calls, 1);
    kr_loop_destroy(&loop);
}

static void test_refusals(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    rec_t r = {0};
    kr_error_t err;
    kr_workqueue_opts_t bad = {.name = "rs", .base_delay_ms = 10, .max_delay_ms = 5};
    assert_null(kr_workqueue_new(loop, &bad, record, &r, &err));
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_non_null(strstr(err.message, "max_delay_ms"));
    assert_null(kr_workqueue_new(NULL, NULL, record, &r, &err));
    assert_null(kr_workqueue_new(loop, NULL, NULL, &r, &err));
    kr_workqueue_t *q = make(loop, NULL, &r);
    assert_int_equal(kr_workqueue_add(q, NULL, &err), -KR_E_INVALID);
    assert_int_equal(kr_workqueue_add(q, "", &err), -KR_E_INVALID);
    assert_non_null(strstr(err.message, "Required value"));
    assert_int_equal(kr_workqueue_add_after(q, "", 5, NULL), -KR_E_INVALID);
    assert_int_equal(kr_workqueue_add_rate_limited(q, NULL, NULL), -KR_E_INVALID);
    assert_int_equal(kr_workqueue_done(q, "ns/nothing", NULL), -KR_E_NOT_FOUND);
    /* Refusals changed nothing. */
    assert_int_equal(kr_workqueue_len(q), 0);
    assert_int_equal(kr_workqueue_num_requeues(q, NULL), 0);
    run_for(loop, 10);
    assert_int_equal(r.calls, 0);
    kr_workqueue_destroy(&q);
    kr_loop_destroy(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_waiting),
        cmocka_unit_test(test_readd_while_processing),
        cmocka_unit_test(test_max_in_flight),
        cmocka_unit_test(test_add_after_order),
        cmocka_unit_test(test_backoff_grows_and_caps),
        cmocka_unit_test(test_forget_resets),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_50k_keys),
        cmocka_unit_test(test_shutdown_pending),
        cmocka_unit_test(test_destroy_in_flight),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
