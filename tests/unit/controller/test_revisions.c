/* kraal/controller.h against the real object API (broker, API, sqlite
 * store, as test_events): kr_controller_revisions_register — the kind is
 * served afterwards, a second registration (the other controller) is no
 * error, a ControllerRevision without `revision` is refused by its schema;
 * kr_controller_ref_resolve over an informer's cache. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <kraal/bus.h>
#include <kraal/controller.h>
#include <kraal/informer.h>
#include <kraal/loop.h>

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

static void test_ref_resolve(void **state)
{
    (void)state;
    kr_error_t err;
    kr_reply_t r;
    kr_request_t req = {
        .op = "create",
        .res = "v1/configmaps",
        .ns = "default",
        .obj =
            J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"owner\"}}")};
    assert_int_equal(kr_bus_call(S.bus, &req, S.a, &r, 10000, &err), 0);
    assert_int_equal(r.code, 201);
    const char *uid = kr_value_as_str(kr_value_get(r.obj, "metadata.uid"));
    assert_non_null(uid);

    kr_loop_t *loop = kr_loop_new(&err);
    kr_bus_t *bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    assert_non_null(bus);
    assert_int_equal(kr_bus_attach(bus, loop, &err), 0);
    kr_informer_opts_t o = {.res = "v1/configmaps", .name = "test-resolve"};
    kr_informer_t *inf = kr_informer_new(loop, bus, &o, &err);
    assert_non_null(inf);
    assert_int_equal(kr_informer_start(inf, &err), 0);
    for (int i = 0; i < 500 && !kr_informer_has_synced(inf); i++)
        kr_loop_run_once(loop, 10, NULL);
    assert_true(kr_informer_has_synced(inf));

    char buf[400];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"owner\",\"uid\":\"%s\","
             "\"controller\":true}",
             uid);
    kr_value_t *ref = J(buf);
    const kr_value_t *got = kr_controller_ref_resolve(inf, "default", ref, "ConfigMap", NULL);
    assert_non_null(got);
    assert_string_equal(kr_value_as_str(kr_value_get(got, "metadata.name")), "owner");
    assert_non_null(kr_controller_ref_resolve(inf, "default", ref, "ConfigMap", "v1"));
    /* another group, another kind, another namespace: not ours */
    assert_null(kr_controller_ref_resolve(inf, "default", ref, "ConfigMap", "apps/"));
    assert_null(kr_controller_ref_resolve(inf, "default", ref, "ReplicaSet", NULL));
    assert_null(kr_controller_ref_resolve(inf, "other", ref, "ConfigMap", NULL));
    /* a reference with another uid: the object was replaced */
    assert_null(kr_controller_ref_resolve(
        inf, "default",
        J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"owner\",\"uid\":\"x\"}"),
        "ConfigMap", NULL));
    assert_null(kr_controller_ref_resolve(inf, "default", NULL, "ConfigMap", NULL));

    kr_informer_destroy(&inf);
    kr_bus_destroy(&bus);
    kr_loop_destroy(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_twice_and_use),
        cmocka_unit_test(test_ref_resolve),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
