/* The Service keeper (kraal/svckeeper.h): what counts as changed and the
 * repair, in both label modes; then a keeper on its own loop against the
 * real object API (broker, API, sqlite store, as test_events) that makes
 * the three objects, makes a deleted one again and puts a changed one
 * back, keeping what the API allocated. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <kraal/bus.h>
#include <kraal/loop.h>
#include <kraal/svckeeper.h>

#include "../support/api_fixture.h"
#include "plugin_ctx.h"

static api_fixture_t S;

static int start(void **state)
{
    (void)state;
    return api_fixture_start(&S, "svckeeper", NULL);
}

static int stop(void **state)
{
    (void)state;
    api_fixture_stop(&S);
    return 0;
}

static kr_value_t *J(kr_arena_t *a, const char *s)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(a, s, strlen(s), &v, &err) < 0)
        fail_msg("bad test document: %s: %s", err.message, s);
    return v;
}

#define SVC                                                                                      \
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"demo\",\"namespace\":" \
    "\"default\",\"labels\":{\"app\":\"demo\"}},\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":" \
    "\"10.96.0.77\",\"ports\":[{\"name\":\"a\",\"protocol\":\"UDP\",\"port\":53,\"targetPort\":" \
    "5353},{\"name\":\"b\",\"protocol\":\"TCP\",\"port\":53,\"targetPort\":5353}]}}"
#define EPS                                                                                        \
    "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"demo\",\"namespace\":" \
    "\"default\",\"labels\":{\"endpointslice.kubernetes.io/skip-mirror\":\"true\"}},\"subsets\":[" \
    "{\"addresses\":[{\"ip\":\"192.0.2.5\"}],\"ports\":[{\"name\":\"a\",\"port\":5353,"            \
    "\"protocol\":\"UDP\"},{\"name\":\"b\",\"port\":5353,\"protocol\":\"TCP\"}]}]}"
#define SLICE                                                                                      \
    "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":"   \
    "\"demo\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"demo\","      \
    "\"endpointslice.kubernetes.io/managed-by\":\"test.kraal.io\"}},\"addressType\":\"IPv4\","     \
    "\"endpoints\":[{\"addresses\":[\"192.0.2.5\"],\"conditions\":{\"ready\":true}}],\"ports\":[{" \
    "\"name\":\"a\",\"protocol\":\"UDP\",\"port\":5353},{\"name\":\"b\",\"protocol\":\"TCP\","     \
    "\"port\":5353}]}"

/* Each edit makes `stored` out of date; the repair of it is up to date and
 * keeps metadata.uid. */
static void edits_repaired(kr_arena_t *a, const kr_value_t *stored, const kr_value_t *want,
                           kr_svckeeper_obj_t which, unsigned flags, const char *const (*edits)[2],
                           size_t n)
{
    assert_true(kr_svckeeper_up_to_date(stored, want, which, flags));
    for (size_t i = 0; i < n; i++) {
        kr_value_t *cur = kr_value_copy(a, stored);
        if (kr_value_set(a, cur, edits[i][0], J(a, edits[i][1]), NULL) < 0)
            fail_msg("cannot set %s", edits[i][0]);
        if (kr_svckeeper_up_to_date(cur, want, which, flags))
            fail_msg("%s=%s not seen", edits[i][0], edits[i][1]);
        kr_value_t *fixed = kr_svckeeper_repair(a, cur, want, which, flags);
        if (!kr_svckeeper_up_to_date(fixed, want, which, flags))
            fail_msg("%s=%s not repaired", edits[i][0], edits[i][1]);
        assert_string_equal(kr_value_as_str(kr_value_get(fixed, "metadata.uid")), "u1");
    }
}

static void test_compare(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *svc = J(a, SVC), *eps = J(a, EPS), *sl = J(a, SLICE);

    kr_value_t *s = kr_value_copy(a, svc);
    kr_value_set(a, s, "metadata.uid", J(a, "\"u1\""), NULL);
    kr_value_set(a, s, "metadata.labels.other", J(a, "\"x\""), NULL);
    kr_value_set(a, s, "spec.clusterIP", J(a, "\"10.96.5.5\""), NULL); /* immutable: not ours */
    kr_value_set(a, s, "spec.clusterIPs", J(a, "[\"10.96.5.5\"]"), NULL);
    static const char *const svc_edits[][2] = {
        {"spec.ports[1].targetPort", "1"},
        {"spec.ports[0].protocol", "\"TCP\""},
        {"spec.ports", "[]"},
        {"spec.type", "\"NodePort\""},
        {"spec.selector", "{\"a\":\"b\"}"},
        {"metadata.labels.app", "\"x\""},
    };
    for (unsigned flags = 0; flags <= KR_SVCKEEPER_EXACT_LABELS; flags++) {
        edits_repaired(a, s, svc, KR_SVCKEEPER_SERVICE, flags, svc_edits,
                       sizeof svc_edits / sizeof *svc_edits);
        kr_value_t *cur = kr_value_copy(a, s);
        kr_value_set(a, cur, "spec.ports[0].port", J(a, "54"), NULL);
        kr_value_t *fixed = kr_svckeeper_repair(a, cur, svc, KR_SVCKEEPER_SERVICE, flags);
        /* the Service's other labels and what the API allocated stay */
        assert_string_equal(kr_value_as_str(kr_value_get(fixed, "metadata.labels.other")), "x");
        assert_string_equal(kr_value_as_str(kr_value_get(fixed, "spec.clusterIP")), "10.96.5.5");
        assert_int_equal(kr_value_as_int(kr_value_get(fixed, "spec.ports[0].port"), 0), 53);
    }

    kr_value_t *e = kr_value_copy(a, eps);
    kr_value_set(a, e, "metadata.uid", J(a, "\"u1\""), NULL);
    /* what the API adds to an address is not compared */
    kr_value_set(a, e, "subsets[0].addresses[0].nodeName", J(a, "\"n1\""), NULL);
    static const char *const eps_edits[][2] = {
        {"subsets[0].addresses[0].ip", "\"192.0.2.6\""},
        {"subsets[0].ports[1].port", "1"},
        {"subsets[0].notReadyAddresses", "[{\"ip\":\"192.0.2.7\"}]"},
        {"subsets",
         "[{\"addresses\":[{\"ip\":\"192.0.2.5\"}],\"ports\":[{\"name\":\"a\",\"port\":5353,"
         "\"protocol\":\"UDP\"},{\"name\":\"b\",\"port\":5353,\"protocol\":\"TCP\"}]},"
         "{\"addresses\":[{\"ip\":\"192.0.2.7\"}]}]"},
        {"subsets", "[]"},
        {"metadata.labels[\"endpointslice.kubernetes.io/skip-mirror\"]", "\"false\""},
    };
    kr_value_t *sc = kr_value_copy(a, sl);
    kr_value_set(a, sc, "metadata.uid", J(a, "\"u1\""), NULL);
    /* the API's defaults of the conditions */
    kr_value_set(a, sc, "endpoints[0].conditions",
                 J(a, "{\"ready\":true,\"serving\":true,\"terminating\":false}"), NULL);
    static const char *const sl_edits[][2] = {
        {"endpoints[0].addresses[0]", "\"192.0.2.6\""},
        {"endpoints[0].conditions.ready", "false"},
        {"endpoints", "[]"},
        {"ports[0].port", "1"},
        {"addressType", "\"IPv6\""},
        {"metadata.labels[\"endpointslice.kubernetes.io/managed-by\"]", "\"x\""},
    };
    for (unsigned flags = 0; flags <= KR_SVCKEEPER_EXACT_LABELS; flags++) {
        edits_repaired(a, e, eps, KR_SVCKEEPER_ENDPOINTS, flags, eps_edits,
                       sizeof eps_edits / sizeof *eps_edits);
        edits_repaired(a, sc, sl, KR_SVCKEEPER_SLICE, flags, sl_edits,
                       sizeof sl_edits / sizeof *sl_edits);
    }

    /* a condition left out reads as ready (upstream's nil) */
    kr_value_t *cur = kr_value_copy(a, sl);
    kr_value_map_del(kr_value_get(cur, "endpoints[0]"), "conditions");
    assert_true(kr_svckeeper_up_to_date(cur, sl, KR_SVCKEEPER_SLICE, 0));

    /* another label: fine among others, out of date when exact (and the
     * repair drops it); a repair among others keeps it */
    static const kr_svckeeper_obj_t kinds[] = {KR_SVCKEEPER_ENDPOINTS, KR_SVCKEEPER_SLICE};
    const kr_value_t *wants[] = {e, sc};
    for (size_t i = 0; i < 2; i++) {
        cur = kr_value_copy(a, wants[i]);
        kr_value_set(a, cur, "metadata.labels.extra", J(a, "\"x\""), NULL);
        assert_true(kr_svckeeper_up_to_date(cur, wants[i], kinds[i], 0));
        assert_false(kr_svckeeper_up_to_date(cur, wants[i], kinds[i], KR_SVCKEEPER_EXACT_LABELS));
        kr_value_t *fixed =
            kr_svckeeper_repair(a, cur, wants[i], kinds[i], KR_SVCKEEPER_EXACT_LABELS);
        assert_null(kr_value_get(fixed, "metadata.labels.extra"));
        kr_value_map_del(kr_value_get(cur, "metadata.labels"),
                         i == 0 ? "endpointslice.kubernetes.io/skip-mirror"
                                : "kubernetes.io/service-name");
        assert_false(kr_svckeeper_up_to_date(cur, wants[i], kinds[i], 0));
        fixed = kr_svckeeper_repair(a, cur, wants[i], kinds[i], 0);
        assert_true(kr_svckeeper_up_to_date(fixed, wants[i], kinds[i], KR_SVCKEEPER_EXACT_LABELS) ==
                    false);
        assert_true(kr_svckeeper_up_to_date(fixed, wants[i], kinds[i], 0));
        assert_string_equal(kr_value_as_str(kr_value_get(fixed, "metadata.labels.extra")), "x");
    }
    kr_arena_destroy(&a);
}

static void test_invalid(void **state)
{
    (void)state;
    kr_error_t err;
    struct kr_plugin_ctx ctx = {.name = "test"};
    kr_svckeeper_opts_t o = {.ns = "default", .name = "demo"};
    assert_null(kr_svckeeper_new(&ctx, &o, &err));
    assert_int_equal(err.reason, KR_E_INVALID);
    kr_svckeeper_destroy(NULL);
    kr_svckeeper_poke(NULL);
}

/* ---- against the API ---------------------------------------------------------------------------- */

static const char *const res[KR_SVCKEEPER_N] = {"v1/services", "v1/endpoints",
                                                "discovery.k8s.io/v1/endpointslices"};

/* The stored object (in S.a), or NULL when there is none. */
static kr_value_t *get(kr_svckeeper_obj_t which)
{
    kr_request_t rq = {.op = "get", .res = res[which], .ns = "default", .name = "demo"};
    kr_reply_t r;
    kr_error_t err;
    assert_int_equal(kr_bus_call(S.bus, &rq, S.a, &r, 10000, &err), 0);
    if (r.code == 404)
        return NULL;
    assert_int_equal(r.code, 200);
    return r.obj;
}

/* Runs the keeper's loop until `which` is stored up to date and, when uid
 * is set, with another uid; at most 10 s. */
static kr_value_t *wait_kept(kr_loop_t *loop, const kr_value_t *want, kr_svckeeper_obj_t which,
                             const char *old_uid)
{
    kr_error_t err;
    for (int i = 0; i < 200; i++) {
        assert_true(kr_loop_run_once(loop, 50, &err) >= 0);
        kr_value_t *cur = get(which);
        const char *uid = kr_value_as_str(kr_value_get(cur, "metadata.uid"));
        if (cur != NULL && kr_svckeeper_up_to_date(cur, want, which, KR_SVCKEEPER_EXACT_LABELS) &&
            (old_uid == NULL || strcmp(uid, old_uid) != 0))
            return cur;
    }
    fail_msg("%s not kept", res[which]);
    return NULL;
}

/* The keeper's side, as a plugin instance has it: freed by the teardown
 * also when the test fails half way, so that the fixture can stop. */
static struct {
    kr_loop_t *loop;
    kr_bus_t *bus;
    struct kr_plugin_ctx ctx;
    kr_svckeeper_t *k;
} K;

static int keeper_setup(void **state)
{
    (void)state;
    kr_error_t err;
    K.loop = kr_loop_new(&err);
    K.bus = K.loop != NULL ? kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err) : NULL;
    if (K.bus == NULL || kr_bus_attach(K.bus, K.loop, &err) < 0)
        return -1;
    K.ctx = (struct kr_plugin_ctx){
        .name = "svckeeper-test", .loop = K.loop, .bus = K.bus, .config = kr_value_map(S.a)};
    return 0;
}

static int keeper_teardown(void **state)
{
    (void)state;
    kr_svckeeper_destroy(&K.k);
    kr_bus_destroy(&K.bus);
    kr_loop_destroy(&K.loop);
    return 0;
}

static void test_keeper(void **state)
{
    (void)state;
    kr_error_t err;
    kr_loop_t *loop = K.loop;
    kr_value_t *want[KR_SVCKEEPER_N] = {J(S.a, SVC), J(S.a, EPS), J(S.a, SLICE)};
    kr_svckeeper_opts_t o = {.ns = "default",
                             .name = "demo",
                             .want = {want[0], want[1], want[2]},
                             .period_ms = 1000,
                             .flags = KR_SVCKEEPER_EXACT_LABELS};
    K.k = kr_svckeeper_new(&K.ctx, &o, &err);
    assert_non_null(K.k);

    /* made, with the clusterIP asked for */
    kr_value_t *svc = wait_kept(loop, want[0], KR_SVCKEEPER_SERVICE, NULL);
    assert_string_equal(kr_value_as_str(kr_value_get(svc, "spec.clusterIP")), "10.96.0.77");
    kr_value_t *eps = wait_kept(loop, want[1], KR_SVCKEEPER_ENDPOINTS, NULL);
    wait_kept(loop, want[2], KR_SVCKEEPER_SLICE, NULL);

    /* deleted: made again */
    kr_request_t rq = {.op = "delete", .res = res[1], .ns = "default", .name = "demo"};
    kr_reply_t r;
    assert_int_equal(kr_bus_call(S.bus, &rq, S.a, &r, 10000, &err), 0);
    assert_int_equal(r.code, 200);
    wait_kept(loop, want[1], KR_SVCKEEPER_ENDPOINTS,
              kr_value_as_str(kr_value_get(eps, "metadata.uid")));

    /* changed: put back, the same object with the user's labels */
    const char *uid = kr_value_as_str(kr_value_get(svc, "metadata.uid"));
    kr_value_t *changed = kr_value_copy(S.a, svc);
    kr_value_set(S.a, changed, "spec.ports[0].targetPort", J(S.a, "9999"), NULL);
    kr_value_set(S.a, changed, "spec.selector", J(S.a, "{\"app\":\"demo\"}"), NULL);
    kr_value_set(S.a, changed, "metadata.labels.user", J(S.a, "\"kept\""), NULL);
    kr_request_t up = {
        .op = "update", .res = res[0], .ns = "default", .name = "demo", .obj = changed};
    assert_int_equal(kr_bus_call(S.bus, &up, S.a, &r, 10000, &err), 0);
    assert_int_equal(r.code, 200);
    assert_false(kr_svckeeper_up_to_date(r.obj, want[0], KR_SVCKEEPER_SERVICE, 0));
    svc = wait_kept(loop, want[0], KR_SVCKEEPER_SERVICE, NULL);
    assert_string_equal(kr_value_as_str(kr_value_get(svc, "metadata.uid")), uid);
    assert_string_equal(kr_value_as_str(kr_value_get(svc, "metadata.labels.user")), "kept");

    /* destroyed with the loop still running: nothing written after */
    kr_svckeeper_destroy(&K.k);
    assert_null(K.k);
    rq.res = res[2];
    assert_int_equal(kr_bus_call(S.bus, &rq, S.a, &r, 10000, &err), 0);
    assert_int_equal(r.code, 200);
    for (int i = 0; i < 30; i++)
        assert_true(kr_loop_run_once(loop, 50, &err) >= 0);
    assert_null(get(KR_SVCKEEPER_SLICE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test_setup_teardown(test_keeper, keeper_setup, keeper_teardown),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
