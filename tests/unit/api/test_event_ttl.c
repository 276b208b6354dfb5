/* Events expire their TTL after their last write (upstream's --event-ttl),
 * as ordinary deletes a watcher sees; other kinds never do.  A 2 s TTL on
 * the real API (broker, API, sqlite store). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kraal/loop.h>

#include "../support/api_fixture.h"

static api_fixture_t S;

static int start(void **state)
{
    (void)state;
    kr_api_opts_t o = {.event_ttl_ms = 2000};
    return api_fixture_start(&S, "event-ttl", &o);
}

static int stop(void **state)
{
    (void)state;
    api_fixture_stop(&S);
    return 0;
}

static int call(const char *op, const char *res, const char *name, const char *json)
{
    kr_value_t *obj = NULL;
    kr_error_t err;
    if (json != NULL && kr_json_decode(S.a, json, strlen(json), &obj, &err) < 0)
        fail_msg("bad document: %s", err.message);
    kr_request_t req = {.op = op, .res = res, .ns = "default", .name = name, .obj = obj};
    kr_reply_t r;
    if (kr_bus_call(S.bus, &req, S.a, &r, 10000, &err) < 0)
        fail_msg("%s: no reply: %s", op, err.message);
    return r.code;
}

typedef struct seen {
    int deleted;
    char name[64];
} seen_t;

static void on_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)id;
    seen_t *s = ud;
    if (strcmp(ev->type, "DELETED") == 0) {
        s->deleted++;
        snprintf(s->name, sizeof s->name, "%s",
                 kr_value_as_str(kr_value_get(ev->obj, "metadata.name")));
    }
}

static void test_events_expire(void **state)
{
    (void)state;
    seen_t seen = {0};
    kr_request_t w = {.res = "v1/events", .ns = "default"};
    assert_int_equal(kr_bus_watch(S.bus, &w, on_event, &seen, NULL, NULL), 0);
    assert_int_equal(call("create", "v1/events", NULL,
                          "{\"metadata\":{\"name\":\"old\"},\"involvedObject\":{\"kind\":\"Pod\","
                          "\"name\":\"p\",\"namespace\":\"default\"},\"reason\":\"R\","
                          "\"message\":\"m\",\"type\":\"Normal\"}"),
                     201);
    assert_int_equal(call("create", "v1/configmaps", NULL, "{\"metadata\":{\"name\":\"cm\"}}"),
                     201);
    /* written again after 1.5 s: its TTL starts over */
    usleep(1500 * 1000);
    assert_int_equal(call("create", "v1/events", NULL,
                          "{\"metadata\":{\"name\":\"fresh\"},\"involvedObject\":{\"kind\":\"Pod\","
                          "\"name\":\"p\",\"namespace\":\"default\"},\"reason\":\"R\","
                          "\"message\":\"m\",\"type\":\"Normal\"}"),
                     201);
    uint64_t t0 = kr_time_ms();
    while (seen.deleted == 0 && kr_time_ms() - t0 < 8000)
        kr_bus_dispatch(S.bus, 100, NULL);
    assert_int_equal(seen.deleted, 1);
    assert_string_equal(seen.name, "old");
    assert_int_equal(call("get", "v1/events", "old", NULL), 404);
    /* the newer one is still there for a moment, then goes too */
    assert_int_equal(call("get", "v1/events", "fresh", NULL), 200);
    while (seen.deleted < 2 && kr_time_ms() - t0 < 10000)
        kr_bus_dispatch(S.bus, 100, NULL);
    assert_int_equal(seen.deleted, 2);
    assert_int_equal(call("get", "v1/events", "fresh", NULL), 404);
    assert_int_equal(call("get", "v1/configmaps", "cm", NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_expire),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
