/* kr_controller_revisions_register against the real object API (broker,
 * API, sqlite store, as test_events): the kind is served afterwards, a
 * second registration (the other controller) is no error, and a
 * ControllerRevision without `revision` is refused by its schema. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <kraal/bus.h>
#include <kraal/controller.h>

#include "../support/api_fixture.h"

static api_fixture_t S;

static int start(void **state)
{
    (void)state;
    return api_fixture_start(&S, "revisions", NULL);
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

static void test_register_twice_and_use(void **state)
{
    (void)state;
    kr_error_t err;
    assert_int_equal(kr_controller_revisions_register(S.bus, &err), 0);
    assert_int_equal(kr_controller_revisions_register(S.bus, &err), 0); /* 409 */
    kr_reply_t r;
    kr_request_t req = {.op = "create",
                        .res = "apps/v1/controllerrevisions",
                        .ns = "default",
                        .obj = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"ControllerRevision\","
                                 "\"metadata\":{\"name\":\"web-1\"},\"revision\":1,"
                                 "\"data\":{\"spec\":{\"template\":{}}}}")};
    assert_int_equal(kr_bus_call(S.bus, &req, S.a, &r, 10000, &err), 0);
    assert_int_equal(r.code, 201);
    assert_int_equal(kr_value_map_int(r.obj, "revision", -1), 1);
    req.obj = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"ControllerRevision\","
                "\"metadata\":{\"name\":\"web-2\"}}");
    assert_int_equal(kr_bus_call(S.bus, &req, S.a, &r, 10000, &err), 0);
    assert_int_equal(r.code, 422);
    kr_request_t get = {
        .op = "get", .res = "apps/v1/controllerrevisions", .ns = "default", .name = "web-1"};
    assert_int_equal(kr_bus_call(S.bus, &get, S.a, &r, 10000, &err), 0);
    assert_int_equal(r.code, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_twice_and_use),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
