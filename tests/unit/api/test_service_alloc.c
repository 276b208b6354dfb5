/* Service ClusterIP / NodePort allocation through the object API (the
 * real broker, API and sqlite store): create fills the values, upstream's
 * errors for values taken or out of range, a delete frees them once it is
 * committed, a dry run keeps nothing, and after a restart the allocators
 * hold what the store holds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../support/api_fixture.h"

static api_fixture_t S;
static const kr_api_opts_t opts = {.service_cidr = "10.97.0.0/16",
                                   .service_node_port_range = "31000-31999"};

static int start(void **state)
{
    (void)state;
    return api_fixture_start(&S, "svcalloc", &opts);
}

static int stop(void **state)
{
    (void)state;
    api_fixture_stop(&S);
    return 0;
}

static kr_reply_t call(const char *op, const char *name, const char *json, const char *dry)
{
    kr_value_t *obj = NULL;
    kr_error_t err;
    if (json != NULL && kr_json_decode(S.a, json, strlen(json), &obj, &err) < 0)
        fail_msg("bad document: %s", err.message);
    kr_value_t *o = NULL;
    if (dry != NULL) {
        o = kr_value_map(S.a);
        kr_value_map_set(S.a, o, "dryRun", kr_value_str(S.a, dry));
    }
    kr_request_t req = {
        .op = op, .res = "v1/services", .ns = "default", .name = name, .obj = obj, .opts = o};
    kr_reply_t r;
    if (kr_bus_call(S.bus, &req, S.a, &r, 10000, &err) < 0)
        fail_msg("%s: no reply: %s", op, err.message);
    return r;
}

static const char *create_svc(const char *name, const char *spec, int want_code)
{
    kr_reply_t r = call(
        "create", NULL,
        kr_arena_printf(S.a, "{\"metadata\":{\"name\":\"%s\"},\"spec\":%s}", name, spec), NULL);
    if (r.code != want_code)
        fail_msg("create %s: %d %s", name, r.code, r.message ? r.message : "");
    return r.code == 201 ? kr_value_as_str(kr_value_get(r.obj, "spec.clusterIP")) : r.message;
}

static void test_create_delete_reuse(void **state)
{
    (void)state;
    const char *ip = create_svc("a", "{\"ports\":[{\"port\":80}]}", 201);
    assert_non_null(ip);
    assert_int_equal(strncmp(ip, "10.97.", 6), 0);
    /* kubectl create service nodeport: a node port from the range */
    kr_reply_t r = call("create", NULL,
                        "{\"metadata\":{\"name\":\"np\"},\"spec\":{\"type\":\"NodePort\","
                        "\"ports\":[{\"port\":80}]}}",
                        NULL);
    assert_int_equal(r.code, 201);
    assert_in_range(kr_value_as_int(kr_value_get(r.obj, "spec.ports[0].nodePort"), 0), 31000,
                    31999);

    /* the same IP again: taken; another range: refused */
    const char *msg = create_svc(
        "b", kr_arena_printf(S.a, "{\"clusterIP\":\"%s\",\"ports\":[{\"port\":80}]}", ip), 422);
    assert_string_equal(msg, kr_arena_printf(S.a,
                                             "Service \"b\" is invalid: spec.clusterIPs: Invalid "
                                             "value: []string{\"%s\"}: failed to allocate IP %s: "
                                             "provided IP is already allocated",
                                             ip, ip));
    msg = create_svc("b", "{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}", 422);
    assert_string_equal(msg,
                        "Service \"b\" is invalid: spec.clusterIPs: Invalid value: "
                        "[]string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided "
                        "IP is not in the valid range. The range of valid IPs is 10.97.0.0/16");
    msg = create_svc("b", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":30080}]}",
                     422);
    assert_string_equal(msg, "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: "
                             "30080: provided port is not in the valid range. The range of valid "
                             "ports is 31000-31999");

    /* a dry run answers the IP it would take and keeps none */
    r = call("create", NULL,
             "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"clusterIP\":\"10.97.0.20\","
             "\"ports\":[{\"port\":80}]}}",
             "All");
    assert_int_equal(r.code, 201);
    create_svc("e", "{\"clusterIP\":\"10.97.0.20\",\"ports\":[{\"port\":80}]}", 201);

    /* deleted: the IP is free again */
    assert_int_equal(call("delete", "a", NULL, NULL).code, 200);
    const char *again = create_svc(
        "b", kr_arena_printf(S.a, "{\"clusterIP\":\"%s\",\"ports\":[{\"port\":80}]}", ip), 201);
    assert_string_equal(again, ip);

    /* ExternalName gets none; headless keeps None */
    r = call("create", NULL,
             "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"type\":\"ExternalName\","
             "\"externalName\":\"example.com\"}}",
             NULL);
    assert_int_equal(r.code, 201);
    assert_null(kr_value_get(r.obj, "spec.clusterIP"));
    assert_string_equal(create_svc("h", "{\"clusterIP\":\"None\",\"ports\":[{\"port\":80}]}", 201),
                        "None");
}

static void test_restart_reloads(void **state)
{
    (void)state;
    create_svc("r1", "{\"clusterIP\":\"10.97.0.30\",\"ports\":[{\"port\":80}]}", 201);
    create_svc("r2",
               "{\"type\":\"NodePort\",\"clusterIP\":\"10.97.0.31\",\"ports\":[{\"port\":80,"
               "\"nodePort\":31030}]}",
               201);
    assert_int_equal(api_fixture_restart(&S, &opts), 0);
    const char *msg =
        create_svc("r3", "{\"clusterIP\":\"10.97.0.30\",\"ports\":[{\"port\":80}]}", 422);
    assert_non_null(strstr(msg, "provided IP is already allocated"));
    msg = create_svc("r3", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":31030}]}",
                     422);
    assert_string_equal(msg, "Service \"r3\" is invalid: spec.ports[0].nodePort: Invalid value: "
                             "31030: provided port is already allocated");
    /* the Services made before the restart still free theirs */
    assert_int_equal(call("delete", "r2", NULL, NULL).code, 200);
    create_svc("r3", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":31030}]}", 201);
    create_svc("r4", "{\"clusterIP\":\"10.97.0.31\",\"ports\":[{\"port\":80}]}", 201);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_delete_reuse),
        cmocka_unit_test(test_restart_reloads),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
