/* kraal/synctask.h: a sync task counts its requests in flight, and the
 * last reply tells the work queue done/forget/requeue; fini detaches the
 * tasks still waiting and their last reply frees them; the stats op.
 * Everything runs on a real loop, bus and broker (the broker answers
 * "ping"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/bus.h>
#include <kraal/synctask.h>
#include <kraal/workqueue.h>

#include "broker.h"

typedef struct my_task {
    kr_synctask_t base;
    int *freed; /* counts on_free */
    int replies;
    int n; /* which sync of the test */
} my_task_t;

typedef struct fx {
    kr_broker_t *broker;
    kr_loop_t *loop;
    kr_bus_t *bus;
    kr_workqueue_t *q;
    kr_synctasks_t tasks;
    kr_synctask_end_t end[4]; /* how the test's n-th sync ends */
    uint64_t after_ms[4];
    int syncs, freed, failed_sends;
} fx_t;

static void on_free(kr_synctask_t *t)
{
    my_task_t *m = (my_task_t *)t;
    (*m->freed)++;
}

static void on_ping(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    my_task_t *t = ud;
    if (!kr_synctask_reply(&t->base))
        return;
    assert_int_equal(r->code, 200);
    t->replies++;
    if (t->base.pending == 0) {
        fx_t *f = (fx_t *)((char *)t->base.set - offsetof(fx_t, tasks));
        assert_int_equal(t->replies, 2);
        kr_synctask_done(&t->base, f->end[t->n], f->after_ms[t->n]);
    }
}

static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    (void)q;
    fx_t *f = ud;
    f->syncs++;
    my_task_t *t = kr_synctask_new(&f->tasks, sizeof *t, key);
    assert_string_equal(t->base.key, key);
    assert_ptr_equal(t->base.set, &f->tasks);
    t->freed = &f->freed;
    t->n = f->syncs - 1 < 4 ? f->syncs - 1 : 3;
    kr_request_t ping = {.op = "ping"};
    assert_int_equal(kr_synctask_send(&t->base, &ping, on_ping, t, NULL), 0);
    /* a request that cannot go out is not pending */
    kr_request_t bad = {.op = NULL};
    kr_error_t err;
    if (kr_synctask_send(&t->base, &bad, on_ping, t, &err) < 0) {
        assert_int_equal(err.reason, KR_E_INVALID);
        f->failed_sends++;
    }
    assert_int_equal(kr_synctask_send(&t->base, &ping, on_ping, t, NULL), 0);
    assert_int_equal(t->base.pending, 2);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    kr_error_t err;
    kr_broker_opts_t o = {0};
    f->broker = kr_broker_new(&o, &err);
    assert_non_null(f->broker);
    assert_int_equal(kr_broker_start(f->broker, &err), 0);
    f->loop = kr_loop_new(&err);
    f->bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    assert_non_null(f->bus);
    assert_int_equal(kr_bus_attach(f->bus, f->loop, &err), 0);
    kr_workqueue_opts_t qo = {.name = "synctask-test", .max_in_flight = 4, .qps = -1};
    f->q = kr_workqueue_new(f->loop, &qo, sync_key, f, &err);
    assert_non_null(f->q);
    f->tasks = (kr_synctasks_t){
        .q = f->q, .bus = f->bus, .label = "thing", .timeout_ms = 5000, .on_free = on_free};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kr_workqueue_shutdown(f->q);
    kr_synctasks_detach(&f->tasks);
    kr_workqueue_destroy(&f->q);
    kr_bus_destroy(&f->bus);
    kr_loop_destroy(&f->loop);
    kr_broker_destroy(&f->broker);
    free(f);
    return 0;
}

/* Runs the loop until `*n` reaches `want` (at most 5 s). */
static void run_until(fx_t *f, const int *n, int want)
{
    uint64_t end = kr_time_ms() + 5000;
    while (*n < want && kr_time_ms() < end)
        assert_true(kr_loop_run_once(f->loop, 20, NULL) >= 0);
    assert_int_equal(*n, want);
}

static void test_ok_forgets(void **state)
{
    fx_t *f = *state;
    f->end[0] = KR_SYNCTASK_OK;
    kr_workqueue_add(f->q, "ns/a", NULL);
    run_until(f, &f->freed, 1);
    assert_int_equal(f->syncs, 1);
    assert_int_equal(f->failed_sends, 1);
    assert_int_equal(kr_workqueue_in_flight(f->q), 0);
    assert_int_equal(kr_workqueue_num_requeues(f->q, "ns/a"), 0);
    assert_null(f->tasks.head);
}

static void test_failed_requeues_with_backoff(void **state)
{
    fx_t *f = *state;
    f->end[0] = KR_SYNCTASK_FAILED;
    f->end[1] = KR_SYNCTASK_OK;
    kr_workqueue_add(f->q, "ns/b", NULL);
    run_until(f, &f->freed, 1);
    assert_int_equal(kr_workqueue_num_requeues(f->q, "ns/b"), 1);
    /* the back-off (5 ms) brings it back; a success forgets it */
    run_until(f, &f->freed, 2);
    assert_int_equal(f->syncs, 2);
    assert_int_equal(kr_workqueue_num_requeues(f->q, "ns/b"), 0);
}

static void test_again_and_after(void **state)
{
    fx_t *f = *state;
    f->end[0] = KR_SYNCTASK_AGAIN;
    f->end[1] = KR_SYNCTASK_OK;
    f->after_ms[1] = 100;
    f->end[2] = KR_SYNCTASK_OK;
    kr_workqueue_add(f->q, "ns/c", NULL);
    run_until(f, &f->syncs, 2); /* queued again at once */
    run_until(f, &f->freed, 2);
    uint64_t t0 = kr_time_ms();
    run_until(f, &f->syncs, 3); /* after 100 ms */
    assert_true(kr_time_ms() - t0 >= 80);
    run_until(f, &f->freed, 3);
    assert_int_equal(kr_workqueue_len(f->q), 0);
}

/* fini with requests in flight: the tasks outlive the list, their last
 * reply frees them (ASan checks no reply touches freed memory). */
static void test_detach(void **state)
{
    fx_t *f = *state;
    kr_workqueue_add(f->q, "ns/d", NULL);
    kr_workqueue_add(f->q, "ns/e", NULL);
    run_until(f, &f->syncs, 2);
    /* one task with nothing pending: freed by detach itself */
    my_task_t *idle = kr_synctask_new(&f->tasks, sizeof *idle, "ns/idle");
    idle->freed = &f->freed;
    /* the two syncs' replies may all be in already (a busy machine runs
     * the broker between the loop's turns): count who still waits */
    int waiting = 0;
    for (kr_synctask_t *t = f->tasks.head; t != NULL; t = t->next)
        waiting += t->pending > 0;
    int before = f->freed;
    kr_workqueue_shutdown(f->q);
    kr_synctasks_detach(&f->tasks);
    assert_null(f->tasks.head);
    assert_int_equal(f->freed, before + 1);
    run_until(f, &f->freed, before + 1 + waiting);
}

static void test_object(void **state)
{
    fx_t *f = *state;
    my_task_t *t = kr_synctask_new(&f->tasks, sizeof *t, "ns/o");
    t->freed = &f->freed;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *obj = NULL;
    const char *src = "{\"metadata\":{\"name\":\"o\"}}";
    assert_int_equal(kr_json_decode(a, src, strlen(src), &obj, NULL), 0);
    kr_value_t *c = kr_synctask_object(&t->base, obj, "apps/v1", "ReplicaSet");
    assert_string_equal(kr_value_map_str(c, "apiVersion"), "apps/v1");
    assert_string_equal(kr_value_map_str(c, "kind"), "ReplicaSet");
    assert_null(kr_value_map_get(obj, "kind")); /* a copy */
    kr_value_map_set(a, obj, "kind", kr_value_str(a, "Other"));
    c = kr_synctask_object(&t->base, obj, "apps/v1", "ReplicaSet");
    assert_string_equal(kr_value_map_str(c, "kind"), "Other");
    kr_arena_destroy(&a);
    kr_synctask_free(&t->base);
    assert_null(f->tasks.head);
    assert_int_equal(f->freed, 1);
}

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    (void)ud;
    const kr_stat_t n[] = {{"syncs", 3}, {"failures", 0}, {"big", UINT64_C(1) << 40}};
    kr_stats_reply(call, n, sizeof n / sizeof n[0]);
}

static void on_stats_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    int *got = ud;
    assert_int_equal(r->code, 200);
    assert_int_equal(kr_value_len(r->obj), 3);
    assert_int_equal(kr_value_map_int(r->obj, "syncs", -1), 3);
    assert_int_equal(kr_value_map_int(r->obj, "failures", -1), 0);
    assert_int_equal(kr_value_map_int(r->obj, "big", -1), INT64_C(1) << 40);
    *got = 1;
}

static void test_stats_reply(void **state)
{
    fx_t *f = *state;
    kr_error_t err;
    assert_int_equal(kr_bus_serve(f->bus, "test.synctask.stats", NULL, on_stats, f, 5000, &err), 0);
    kr_bus_t *client = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    assert_non_null(client);
    int got = 0;
    kr_request_t req = {.op = "test.synctask.stats"};
    assert_int_equal(kr_bus_send(client, &req, on_stats_reply, &got, 5000, NULL, &err), 0);
    uint64_t end = kr_time_ms() + 5000;
    while (!got && kr_time_ms() < end) {
        kr_loop_run_once(f->loop, 10, NULL);
        kr_bus_dispatch(client, 10, NULL);
    }
    assert_true(got);
    kr_bus_destroy(&client);
}

/* kr_stats_put beside other fields, as the gc's stats (synced: bool). */
static void test_stats_put(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "synced", kr_value_bool(a, true));
    const kr_stat_t n[] = {{"nodes", 7}, {"failures", 0}};
    kr_stats_put(a, m, n, 2);
    assert_int_equal(kr_value_len(m), 3);
    assert_true(kr_value_as_bool(kr_value_map_get(m, "synced"), false));
    assert_int_equal(kr_value_map_int(m, "nodes", -1), 7);
    assert_int_equal(kr_value_map_int(m, "failures", -1), 0);
    kr_arena_destroy(&a);
}

/* kr_reply_msg: the message, else the reason's text. */
static void test_reply_msg(void **state)
{
    (void)state;
    kr_reply_t r = {
        .code = 409, .reason = KR_E_CONFLICT, .message = "the object has been modified"};
    assert_string_equal(kr_reply_msg(&r), "the object has been modified");
    r.message = NULL;
    assert_string_equal(kr_reply_msg(&r), kr_strerror(KR_E_CONFLICT));
    assert_non_null(kr_reply_msg(&r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_forgets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_requeues_with_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_again_and_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_reply, setup, teardown),
        cmocka_unit_test(test_stats_put),
        cmocka_unit_test(test_reply_msg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
