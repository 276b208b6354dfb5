/* The event recorder (kraal/events.h) against the real object API in one
 * process — a broker, the API and the sqlite store plugin on a temp dir,
 * as test_api — so what it writes is what `kubectl get events` reads:
 * the Event's fields, dedup by count, aggregation of similar events, the
 * spam filter, the bounded queue, and a counted Event that was deleted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/events.h>
#include <kraal/log.h>

#include "../support/api_fixture.h"

static api_fixture_t S;

static int start(void **state)
{
    (void)state;
    return api_fixture_start(&S, "events", NULL);
}

static int stop(void **state)
{
    (void)state;
    api_fixture_stop(&S);
    return 0;
}

static kr_value_t *J(const char *s)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(S.a, s, strlen(s), &v, &err) < 0)
        fail_msg("bad test document: %s: %s", err.message, s);
    return v;
}

/* Dispatches replies until the recorder has nothing queued or in flight:
 * until no reply came for 300 ms, at most 15 s.  The quiet time is what
 * the API may take to answer one write on a loaded machine (under the
 * sanitizers with the CI's other tests at a load of 9, 50 ms was not
 * enough: a create still in flight looked settled). */
static void settle(void)
{
    kr_error_t err;
    for (int i = 0; i < 50; i++)
        if (kr_bus_dispatch(S.bus, 300, &err) == 0)
            return;
    fail_msg("the recorder did not settle");
}

/* The Events of namespace ns whose involvedObject is `name`, by name. */
static kr_value_t *events_of(const char *ns, const char *name)
{
    kr_request_t req = {.op = "list", .res = "v1/events", .ns = ns};
    kr_reply_t r;
    kr_error_t err;
    assert_int_equal(kr_bus_call(S.bus, &req, S.a, &r, 10000, &err), 0);
    assert_int_equal(r.code, 200);
    kr_value_t *out = kr_value_array(S.a);
    kr_value_t *items = kr_value_map_get(r.obj, "items");
    for (size_t i = 0; i < kr_value_len(items); i++) {
        kr_value_t *e = kr_value_array_get(items, i);
        const char *n = kr_value_as_str(kr_value_get(e, "involvedObject.name"));
        if (n != NULL && strcmp(n, name) == 0)
            kr_value_array_push(S.a, out, e);
    }
    return out;
}

static const char *str(const kr_value_t *obj, const char *path)
{
    const char *s = kr_value_as_str(kr_value_get(obj, path));
    return s != NULL ? s : "";
}

static kr_events_t *recorder(unsigned in_flight, unsigned queued)
{
    kr_error_t err;
    kr_events_opts_t o = {.component = "test-controller",
                          .host = "node-1",
                          .max_in_flight = in_flight,
                          .max_queued = queued};
    kr_events_t *ev = kr_events_new(S.bus, &o, &err);
    assert_non_null(ev);
    return ev;
}

static kr_value_t *pod(const char *name)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\",\"uid\":\"u-%s\",\"resourceVersion\":\"7\"}}",
             name, name);
    return J(buf);
}

static void test_create_then_count(void **state)
{
    (void)state;
    kr_events_t *ev = recorder(0, 0);
    kr_value_t *p = pod("web");
    kr_events_record(ev, p, KR_EVENT_NORMAL, "Scheduled", "Successfully assigned default/%s to %s",
                     "web", "node-1");
    settle();
    kr_value_t *list = events_of("default", "web");
    assert_int_equal(kr_value_len(list), 1);
    kr_value_t *e = kr_value_array_get(list, 0);
    assert_string_equal(str(e, "reason"), "Scheduled");
    assert_string_equal(str(e, "message"), "Successfully assigned default/web to node-1");
    assert_string_equal(str(e, "type"), "Normal");
    assert_string_equal(str(e, "involvedObject.kind"), "Pod");
    assert_string_equal(str(e, "involvedObject.apiVersion"), "v1");
    assert_string_equal(str(e, "involvedObject.uid"), "u-web");
    assert_string_equal(str(e, "involvedObject.resourceVersion"), "7");
    assert_string_equal(str(e, "source.component"), "test-controller");
    assert_string_equal(str(e, "source.host"), "node-1");
    assert_string_equal(str(e, "reportingComponent"), "test-controller");
    assert_string_equal(str(e, "reportingInstance"), "node-1");
    assert_int_equal(kr_value_as_int(kr_value_get(e, "count"), 0), 1);
    assert_true(strncmp(str(e, "metadata.name"), "web.", 4) == 0);
    assert_true(strlen(str(e, "firstTimestamp")) == 20);
    char name[128];
    snprintf(name, sizeof name, "%s", str(e, "metadata.name"));

    /* the same event twice more: one Event, count 3 */
    for (int i = 0; i < 2; i++)
        kr_events_record(ev, p, KR_EVENT_NORMAL, "Scheduled",
                         "Successfully assigned default/web to node-1");
    settle();
    list = events_of("default", "web");
    assert_int_equal(kr_value_len(list), 1);
    e = kr_value_array_get(list, 0);
    assert_string_equal(str(e, "metadata.name"), name);
    assert_int_equal(kr_value_as_int(kr_value_get(e, "count"), 0), 3);

    /* deleted meanwhile (expired): the next one creates it again, count 4 */
    kr_request_t del = {.op = "delete", .res = "v1/events", .ns = "default", .name = name};
    kr_reply_t r;
    kr_error_t err;
    assert_int_equal(kr_bus_call(S.bus, &del, S.a, &r, 10000, &err), 0);
    assert_int_equal(r.code, 200);
    kr_events_record(ev, p, KR_EVENT_NORMAL, "Scheduled",
                     "Successfully assigned default/web to node-1");
    settle();
    list = events_of("default", "web");
    assert_int_equal(kr_value_len(list), 1);
    assert_int_equal(kr_value_as_int(kr_value_get(kr_value_array_get(list, 0), "count"), 0), 4);

    /* a cluster-scoped object's events go to "default" */
    kr_value_t *node =
        J("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n9\"}}");
    kr_events_record(ev, node, KR_EVENT_WARNING, "NodeNotReady", "Node n9 status is now: %s",
                     "NodeNotReady");
    settle();
    list = events_of("default", "n9");
    assert_int_equal(kr_value_len(list), 1);
    assert_string_equal(str(kr_value_array_get(list, 0), "type"), "Warning");
    assert_string_equal(str(kr_value_array_get(list, 0), "involvedObject.namespace"), "");
    kr_events_stats_t st;
    kr_events_stats(ev, &st);
    assert_int_equal(st.created, 2);
    assert_int_equal(st.patched, 3);
    assert_int_equal(st.failed, 0);
    kr_events_destroy(&ev);
}

static void test_aggregate_similar(void **state)
{
    (void)state;
    kr_events_t *ev = recorder(0, 0);
    kr_value_t *p = pod("agg");
    /* 12 different messages of one reason: 9 Events of their own, then one
     * combined Event counted up for the 10th to 12th */
    for (int i = 0; i < 12; i++)
        kr_events_record(ev, p, KR_EVENT_WARNING, "FailedCreate", "attempt %d failed", i);
    settle();
    kr_value_t *list = events_of("default", "agg");
    assert_int_equal(kr_value_len(list), 10);
    int combined = 0;
    for (size_t i = 0; i < kr_value_len(list); i++) {
        kr_value_t *e = kr_value_array_get(list, i);
        if (strncmp(str(e, "message"), "(combined from similar events): ", 32) == 0) {
            combined++;
            assert_string_equal(str(e, "message"),
                                "(combined from similar events): attempt 11 failed");
            assert_int_equal(kr_value_as_int(kr_value_get(e, "count"), 0), 3);
        }
    }
    assert_int_equal(combined, 1);
    kr_events_destroy(&ev);
}

static void test_spam_filter_and_queue(void **state)
{
    (void)state;
    kr_events_t *ev = recorder(0, 0);
    kr_value_t *p = pod("spam");
    for (int i = 0; i < 30; i++)
        kr_events_record(ev, p, KR_EVENT_NORMAL, "Pulled", "same message");
    settle();
    kr_events_stats_t st;
    kr_events_stats(ev, &st);
    assert_int_equal(st.recorded, 30);
    assert_int_equal(st.spam_dropped, 5);
    kr_value_t *list = events_of("default", "spam");
    assert_int_equal(kr_value_len(list), 1);
    assert_int_equal(kr_value_as_int(kr_value_get(kr_value_array_get(list, 0), "count"), 0), 25);
    kr_events_destroy(&ev);

    /* one write in flight, two queued: the rest are dropped and counted */
    ev = recorder(1, 2);
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof name, "q%d", i);
        kr_events_record(ev, pod(name), KR_EVENT_NORMAL, "Created", "created %s", name);
    }
    kr_events_stats(ev, &st);
    assert_int_equal(st.queue_dropped, 3);
    settle();
    assert_int_equal(kr_value_len(events_of("default", "q0")), 1);
    assert_int_equal(kr_value_len(events_of("default", "q2")), 1);
    assert_int_equal(kr_value_len(events_of("default", "q3")), 0);
    /* destroyed with writes in flight: their replies find no recorder */
    kr_events_record(ev, pod("late"), KR_EVENT_NORMAL, "Created", "late");
    kr_events_destroy(&ev);
    settle();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_then_count),
        cmocka_unit_test(test_aggregate_similar),
        cmocka_unit_test(test_spam_filter_and_queue),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
