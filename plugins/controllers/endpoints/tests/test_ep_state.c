/* Unit tests of what the endpoints controller remembers between syncs:
 * the per-Service table, the EndpointSlice write tracker (stale caches,
 * changes made by others) and the last-change trigger time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ep_state.h"

static kr_arena_t *A;

static kr_value_t *json(const char *s)
{
    kr_value_t *v = NULL;
    assert_int_equal(kr_json_decode(A, s, strlen(s), &v, NULL), 0);
    return v;
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

static void test_table(void **state)
{
    (void)state;
    ep_states_t *t = ep_states_new();
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "ns/svc-%d", i);
        ep_states_get(t, key, true)->endpoints_rv = i + 1;
    }
    assert_int_equal(ep_states_len(t), 1000);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(key, sizeof key, "ns/svc-%d", i);
        ep_states_drop(t, key);
    }
    assert_int_equal(ep_states_len(t), 500);
    assert_null(ep_states_get(t, "ns/svc-10", false));
    assert_int_equal(ep_states_get(t, "ns/svc-11", false)->endpoints_rv, 12);
    assert_int_equal(ep_rv_num("123"), 123);
    assert_int_equal(ep_rv_num("12x"), 0);
    assert_int_equal(ep_rv_num(NULL), 0);
    ep_states_destroy(&t);
    assert_null(t);
}

static kr_value_t *slice(const char *uid, const char *rv)
{
    return json(
        kr_arena_printf(A, "{\"metadata\":{\"uid\":\"%s\",\"resourceVersion\":\"%s\"}}", uid, rv));
}

static void test_slices(void **state)
{
    (void)state;
    ep_states_t *t = ep_states_new();
    ep_svc_state_t *s = ep_states_get(t, "default/web", true);
    ep_state_service_uid(s, "svc-1");
    const kr_value_t *none[1];
    assert_false(ep_state_slices_stale(s, none, 0));
    /* our create of s1 at rv 10: a cache without it, or with an older s1, is stale */
    ep_state_slice_set(s, "s1", 10);
    assert_true(ep_state_slices_stale(s, none, 0));
    const kr_value_t *old[] = {slice("s1", "9")};
    assert_true(ep_state_slices_stale(s, old, 1));
    const kr_value_t *cur[] = {slice("s1", "10")};
    assert_false(ep_state_slices_stale(s, cur, 1));
    /* our own write is no reason to sync; someone else's is */
    assert_false(ep_state_slice_should_sync(s, "s1", 10));
    assert_true(ep_state_slice_should_sync(s, "s1", 11));
    assert_true(ep_state_slice_should_sync(s, "s2", 1));
    assert_true(ep_state_slice_should_sync(NULL, "s1", 1));
    /* a slice we deleted and the cache still shows: stale; once gone: not */
    ep_state_slice_set(s, "s1", EP_DELETION_EXPECTED);
    assert_true(ep_state_slices_stale(s, cur, 1));
    assert_false(ep_state_slices_stale(s, none, 0));
    assert_int_equal(ep_state_slice_forget(s, "s1"), EP_DELETION_EXPECTED);
    assert_int_equal(ep_state_slice_forget(s, "s1"), 0);
    /* a Service of the same name with another uid forgets the old writes */
    ep_state_slice_set(s, "s3", 20);
    assert_true(ep_state_slices_stale(s, none, 0));
    ep_state_service_uid(s, "svc-2");
    assert_false(ep_state_slices_stale(s, none, 0));
    ep_states_destroy(&t);
}

static kr_value_t *pod(const char *name, const char *ready_at)
{
    return json(kr_arena_printf(A,
                                "{\"metadata\":{\"name\":\"%s\"},\"status\":{\"conditions\":["
                                "{\"type\":\"PodScheduled\",\"lastTransitionTime\":"
                                "\"2020-01-01T00:00:00Z\"},{\"type\":\"Ready\",\"status\":"
                                "\"True\",\"lastTransitionTime\":\"%s\"}]}}",
                                name, ready_at));
}

#define T(s) ((int64_t)(s)*1000000000)

static void test_trigger_time(void **state)
{
    (void)state;
    ep_states_t *t = ep_states_new();
    ep_svc_state_t *s = ep_states_get(t, "default/web", true);
    kr_value_t *svc = json("{\"metadata\":{\"creationTimestamp\":\"2026-01-01T00:00:00Z\"}}");
    int64_t created = T(1767225600);
    const kr_value_t *pods[] = {pod("a", "2026-01-01T00:00:10Z"), pod("b", "2026-01-01T00:00:20Z")};
    /* the first sync: the Service's creation */
    assert_int_equal(ep_state_trigger_time(s, svc, pods, 2), created);
    /* nothing changed: no trigger time */
    assert_int_equal(ep_state_trigger_time(s, svc, pods, 2), 0);
    /* b and a new pod c changed: the earliest of their transitions */
    pods[1] = pod("b", "2026-01-01T00:01:00Z");
    const kr_value_t *three[] = {pods[0], pods[1], pod("c", "2026-01-01T00:00:50Z")};
    assert_int_equal(ep_state_trigger_time(s, svc, three, 3), created + T(50));
    /* a pod that goes changes nothing by itself (its Ready time is gone) */
    assert_int_equal(ep_state_trigger_time(s, svc, three, 2), 0);
    ep_states_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trigger_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
