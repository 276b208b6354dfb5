/* The scheduling queue (queue.c): activeQ order (priority, then age),
 * back-off doubling up to its cap, unschedulable pods moved back only by
 * the events their rejecting steps named (or any, with none named), into
 * backoffQ while their back-off runs, the 5-minute flush, updates that
 * move a pod and updates that do not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/scheduler.h>

#include "queue.h"

static sched_pod_t *pod(const char *name, int prio)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"uid-%s\"},"
             "\"spec\":{\"priority\":%d,\"containers\":[{\"name\":\"c\"}]}}",
             name, name, prio);
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *obj;
    assert_int_equal(kr_json_decode(a, json, strlen(json), &obj, NULL), 0);
    kr_error_t err;
    sched_pod_t *sp = sched_pod_new(obj, false, &err);
    assert_non_null(sp);
    kr_arena_destroy(&a);
    return sp;
}

static sched_qpod_t *add(sched_queue_t *q, const char *name, int prio, uint64_t now)
{
    sched_pod_t *sp = pod(name, prio);
    sched_qpod_t *p = sched_queue_add(q, &sp, now);
    assert_non_null(p);
    assert_null(sp);
    return p;
}

static const char *pop_name(sched_queue_t *q, uint64_t now)
{
    sched_qpod_t *p = sched_queue_pop(q, now);
    return p != NULL ? p->sp->pod.name : "(none)";
}

static void test_order(void **state)
{
    (void)state;
    sched_queue_t *q = sched_queue_new(1000, 10000, 0);
    add(q, "low-old", 0, 10);
    add(q, "high", 100, 30);
    add(q, "low-new", 0, 20);
    add(q, "mid", 5, 40);
    add(q, "low-same-time", 0, 20); /* same time as low-new: added after it */
    assert_string_equal(pop_name(q, 50), "high");
    assert_string_equal(pop_name(q, 50), "mid");
    assert_string_equal(pop_name(q, 50), "low-old");
    assert_string_equal(pop_name(q, 50), "low-new");
    assert_string_equal(pop_name(q, 50), "low-same-time");
    assert_string_equal(pop_name(q, 50), "(none)");
    /* a duplicate uid is refused */
    sched_pod_t *dup = pod("high", 1);
    assert_null(sched_queue_add(q, &dup, 60));
    assert_non_null(dup);
    sched_pod_free(&dup);
    sched_queue_stats_t st;
    sched_queue_stats(q, &st);
    assert_int_equal(st.inflight, 5);
    sched_queue_destroy(&q);
    assert_null(q);
}

static void test_backoff(void **state)
{
    (void)state;
    sched_queue_t *q = sched_queue_new(1000, 10000, 0);
    sched_qpod_t *p = add(q, "a", 0, 0);
    uint64_t now = 0;
    const uint64_t want[] = {1000, 2000, 4000, 8000, 10000, 10000};
    for (int i = 0; i < 6; i++) {
        assert_ptr_equal(sched_queue_pop(q, now), p);
        assert_int_equal(p->attempts, i + 1);
        sched_queue_backoff(q, p, now);
        assert_int_equal(sched_queue_backoff_until(q, p) - now, want[i]);
        assert_int_equal(sched_queue_next_backoff(q), now + want[i]);
        /* not before its back-off ends */
        assert_null(sched_queue_pop(q, now + want[i] - 1));
        now += want[i];
    }
    assert_ptr_equal(sched_queue_pop(q, now), p);
    sched_queue_remove(q, p);
    assert_int_equal(sched_queue_next_backoff(q), UINT64_MAX);
    sched_queue_destroy(&q);
}

static void test_unschedulable_events(void **state)
{
    (void)state;
    sched_queue_t *q = sched_queue_new(1000, 10000, 0);
    sched_qpod_t *a = add(q, "a", 0, 0), *b = add(q, "b", 0, 1), *c = add(q, "c", 0, 2);
    assert_ptr_equal(sched_queue_pop(q, 10), a);
    assert_ptr_equal(sched_queue_pop(q, 10), b);
    assert_ptr_equal(sched_queue_pop(q, 10), c);
    sched_queue_unschedulable(q, a, KR_SCHED_EV_NODE_ADD | KR_SCHED_EV_NODE_UPDATE, 10);
    sched_queue_unschedulable(q, b, KR_SCHED_EV_POD_DELETE, 10);
    sched_queue_unschedulable(q, c, 0, 10); /* any event */
    sched_queue_stats_t st;
    sched_queue_stats(q, &st);
    assert_int_equal(st.unschedulable, 3);
    assert_null(sched_queue_pop(q, 5000));

    /* a namespace event: only c (any event) */
    assert_int_equal(sched_queue_move(q, KR_SCHED_EV_NAMESPACE, 5000), 1);
    assert_int_equal(c->state, SCHED_Q_ACTIVE); /* its 1 s back-off ended at 1010 */
    /* a pod deleted early: b goes to backoffQ, its back-off runs until 1010 */
    assert_int_equal(sched_queue_move(q, KR_SCHED_EV_POD_DELETE, 500), 1);
    assert_int_equal(b->state, SCHED_Q_BACKOFF);
    assert_ptr_equal(sched_queue_pop(q, 500), c);
    assert_null(sched_queue_pop(q, 1009));
    assert_ptr_equal(sched_queue_pop(q, 1010), b);
    /* a stays until a node event */
    assert_int_equal(sched_queue_move(q, KR_SCHED_EV_POD_ADD, 6000), 0);
    assert_int_equal(a->state, SCHED_Q_UNSCHED);
    assert_int_equal(sched_queue_move(q, KR_SCHED_EV_NODE_UPDATE, 6000), 1);
    assert_ptr_equal(sched_queue_pop(q, 6000), a);
    sched_queue_destroy(&q);
}

static void test_flush_leftover(void **state)
{
    (void)state;
    sched_queue_t *q = sched_queue_new(1000, 10000, 0);
    sched_qpod_t *a = add(q, "a", 0, 0);
    assert_ptr_equal(sched_queue_pop(q, 0), a);
    sched_queue_unschedulable(q, a, KR_SCHED_EV_NODE_ADD, 100);
    sched_queue_flush(q, 100 + 5 * 60 * 1000);
    assert_int_equal(a->state, SCHED_Q_UNSCHED); /* exactly 5 min: not yet */
    sched_queue_flush(q, 100 + 5 * 60 * 1000 + 1);
    assert_int_equal(a->state, SCHED_Q_ACTIVE);
    /* a configured limit */
    sched_queue_t *q2 = sched_queue_new(1000, 10000, 2000);
    sched_qpod_t *b = add(q2, "b", 0, 0);
    assert_ptr_equal(sched_queue_pop(q2, 0), b);
    sched_queue_unschedulable(q2, b, KR_SCHED_EV_NODE_ADD, 0);
    sched_queue_flush(q2, 2001);
    assert_ptr_equal(sched_queue_pop(q2, 2001), b);
    sched_queue_destroy(&q2);
    sched_queue_destroy(&q);
}

static void test_update(void **state)
{
    (void)state;
    sched_queue_t *q = sched_queue_new(1000, 10000, 0);
    sched_qpod_t *a = add(q, "a", 0, 0), *b = add(q, "b", 0, 0);
    sched_qpod_t *p1 = sched_queue_pop(q, 0), *p2 = sched_queue_pop(q, 0);
    assert_ptr_equal(p1, a);
    assert_ptr_equal(p2, b);
    sched_queue_unschedulable(q, a, KR_SCHED_EV_NODE_ADD, 0);
    sched_queue_unschedulable(q, b, KR_SCHED_EV_NODE_ADD, 0);
    /* a status-only change: stays */
    sched_pod_t *sp = pod("a", 0);
    sched_queue_update(q, a, &sp, false, 5000);
    assert_null(sp);
    assert_int_equal(a->state, SCHED_Q_UNSCHED);
    /* a spec change: may fit now */
    sp = pod("b", 0);
    sched_queue_update(q, b, &sp, true, 5000);
    assert_int_equal(b->state, SCHED_Q_ACTIVE);
    /* a priority change reorders activeQ */
    sched_qpod_t *c = add(q, "c", 0, 1);
    assert_ptr_equal(sched_queue_get(q, "uid-c"), c);
    sp = pod("c", 50);
    sched_queue_update(q, c, &sp, true, 5000);
    assert_ptr_equal(sched_queue_pop(q, 5000), c);
    assert_ptr_equal(sched_queue_pop(q, 5000), b);
    sched_queue_remove(q, a);
    assert_null(sched_queue_get(q, "uid-a"));
    sched_queue_destroy(&q);
}

/* 20,000 pods through the heap: pops come out in order */
static void test_many(void **state)
{
    (void)state;
    sched_queue_t *q = sched_queue_new(1000, 10000, 0);
    char name[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "p%d", i);
        add(q, name, (i * 7919) % 13, (uint64_t)i);
    }
    int last_prio = 1 << 30;
    uint64_t last_ts = 0;
    for (int i = 0; i < 20000; i++) {
        sched_qpod_t *p = sched_queue_pop(q, 100000);
        assert_non_null(p);
        assert_true(p->priority <= last_prio);
        if (p->priority == last_prio)
            assert_true(p->timestamp_ms > last_ts);
        last_prio = p->priority;
        last_ts = p->timestamp_ms;
        sched_queue_remove(q, p);
    }
    assert_null(sched_queue_pop(q, 100000));
    sched_queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_unschedulable_events),
        cmocka_unit_test(test_flush_leftover),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
