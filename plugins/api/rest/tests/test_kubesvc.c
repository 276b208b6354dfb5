/* The kubernetes Service's pure parts: its objects, what counts as changed,
 * the repair, the first service address and the advertised address. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "kubesvc.h"

static const rest_kubesvc_conf_t conf = {
    .cluster_ip = "10.96.0.1", .address = "192.168.7.9", .port = 6443};

static kr_value_t *parse(kr_arena_t *a, const char *json)
{
    kr_value_t *v = NULL;
    assert_int_equal(kr_json_decode(a, json, strlen(json), &v, NULL), 0);
    return v;
}

static void test_first_ip(void **state)
{
    (void)state;
    char buf[INET_ADDRSTRLEN];
    kr_error_t err;
    assert_int_equal(rest_first_service_ip("10.96.0.0/12", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "10.96.0.1");
    /* host bits cleared first */
    assert_int_equal(rest_first_service_ip("10.100.77.3/16", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "10.100.0.1");
    assert_int_equal(rest_first_service_ip("172.30.0.0/30", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "172.30.0.1");
    static const char *const bad[] = {
        "10.96.0.0", "10.96.0.0/", "10.96.0.0/31", "10.96.0.0/x", "fd00::/64", "nope/12", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_true(rest_first_service_ip(bad[i], buf, sizeof buf, &err) < 0);
        assert_int_equal(err.reason, KR_E_INVALID);
        assert_non_null(strstr(err.message, "must be an IPv4 CIDR"));
    }
}

static void test_advertise(void **state)
{
    (void)state;
    char buf[INET6_ADDRSTRLEN];
    kr_error_t err;
    assert_int_equal(rest_advertise_address("10.1.2.3", "0.0.0.0", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "10.1.2.3");
    assert_int_equal(rest_advertise_address(NULL, "192.168.1.2", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "192.168.1.2");
    assert_int_equal(rest_advertise_address("", "fd00::5", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "fd00::5");
    /* unspecified or loopback listen address: the host's, never loopback */
    static const char *const listens[] = {"0.0.0.0", "127.0.0.1", "::", "::1"};
    for (size_t i = 0; i < sizeof listens / sizeof *listens; i++) {
        assert_int_equal(rest_advertise_address(NULL, listens[i], buf, sizeof buf, &err), 0);
        struct in_addr in;
        if (*buf != '\0') {
            assert_int_equal(inet_pton(AF_INET, buf, &in), 1);
            assert_int_not_equal(ntohl(in.s_addr) >> 24, 127);
        }
    }
    static const char *const bad[] = {"127.0.0.1", "0.0.0.0", "169.254.1.1", "::1",
                                      "fe80::1",   "host",    "10.1.2.300"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_true(rest_advertise_address(bad[i], "0.0.0.0", buf, sizeof buf, &err) < 0);
        assert_non_null(strstr(err.message, "advertise_address"));
    }
}

static void test_desired(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *svc = rest_kubesvc_desired(a, &conf, KR_SVCKEEPER_SERVICE);
    assert_string_equal(kr_value_as_str(kr_value_get(svc, "metadata.labels.component")),
                        "apiserver");
    assert_string_equal(kr_value_as_str(kr_value_get(svc, "metadata.labels.provider")),
                        "kubernetes");
    assert_string_equal(kr_value_as_str(kr_value_get(svc, "spec.clusterIP")), "10.96.0.1");
    assert_string_equal(kr_value_as_str(kr_value_get(svc, "spec.type")), "ClusterIP");
    assert_string_equal(kr_value_as_str(kr_value_get(svc, "spec.sessionAffinity")), "None");
    assert_string_equal(kr_value_as_str(kr_value_get(svc, "spec.ports[0].name")), "https");
    assert_int_equal(kr_value_as_int(kr_value_get(svc, "spec.ports[0].port"), 0), 443);
    assert_int_equal(kr_value_as_int(kr_value_get(svc, "spec.ports[0].targetPort"), 0), 6443);
    assert_null(kr_value_get(svc, "spec.selector"));

    kr_value_t *eps = rest_kubesvc_desired(a, &conf, KR_SVCKEEPER_ENDPOINTS);
    assert_string_equal(
        kr_value_as_str(kr_value_get(eps, "metadata.labels[\"endpointslice.kubernetes.io/"
                                          "skip-mirror\"]")),
        "true");
    assert_string_equal(kr_value_as_str(kr_value_get(eps, "subsets[0].addresses[0].ip")),
                        "192.168.7.9");
    assert_int_equal(kr_value_as_int(kr_value_get(eps, "subsets[0].ports[0].port"), 0), 6443);

    kr_value_t *sl = rest_kubesvc_desired(a, &conf, KR_SVCKEEPER_SLICE);
    assert_string_equal(kr_value_as_str(kr_value_get(sl, "addressType")), "IPv4");
    assert_int_equal(kr_value_len(kr_value_get(sl, "metadata.labels")), 1);
    assert_string_equal(
        kr_value_as_str(kr_value_get(sl, "metadata.labels[\"kubernetes.io/service-name\"]")),
        "kubernetes");
    assert_string_equal(kr_value_as_str(kr_value_get(sl, "endpoints[0].addresses[0]")),
                        "192.168.7.9");
    assert_true(kr_value_as_bool(kr_value_get(sl, "endpoints[0].conditions.ready"), false));
    assert_int_equal(kr_value_as_int(kr_value_get(sl, "ports[0].port"), 0), 6443);

    rest_kubesvc_conf_t c6 = conf;
    c6.address = "fd00::7";
    sl = rest_kubesvc_desired(a, &c6, KR_SVCKEEPER_SLICE);
    assert_string_equal(kr_value_as_str(kr_value_get(sl, "addressType")), "IPv6");
    kr_arena_destroy(&a);
}

/* As stored: what the API adds does not count as a change. */
static void test_up_to_date(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *svc_want = rest_kubesvc_desired(a, &conf, KR_SVCKEEPER_SERVICE);
    kr_value_t *stored = parse(
        a, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"kubernetes\","
           "\"namespace\":\"default\",\"uid\":\"u1\",\"resourceVersion\":\"7\",\"labels\":{"
           "\"component\":\"apiserver\",\"provider\":\"kubernetes\",\"extra\":\"x\"}},"
           "\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.96.0.1\",\"clusterIPs\":["
           "\"10.96.0.1\"],\"ipFamilies\":[\"IPv4\"],\"sessionAffinity\":\"None\",\"ports\":[{"
           "\"name\":\"https\",\"protocol\":\"TCP\",\"port\":443,\"targetPort\":6443}]},"
           "\"status\":{\"loadBalancer\":{}}}");
    assert_true(
        kr_svckeeper_up_to_date(stored, svc_want, KR_SVCKEEPER_SERVICE, KR_SVCKEEPER_EXACT_LABELS));
    assert_true(kr_svckeeper_up_to_date(svc_want, svc_want, KR_SVCKEEPER_SERVICE,
                                        KR_SVCKEEPER_EXACT_LABELS));

    /* changed by hand: each one is repaired */
    static const char *const edits[][2] = {
        {"spec.ports[0].targetPort", "8443"},
        {"spec.ports[0].port", "444"},
        {"spec.type", "\"NodePort\""},
        {"spec.selector", "{\"app\":\"x\"}"},
        {"metadata.labels.component", "\"other\""},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        kr_value_t *cur = kr_value_copy(a, stored);
        assert_int_equal(kr_value_set(a, cur, edits[i][0], parse(a, edits[i][1]), NULL), 0);
        assert_false(kr_svckeeper_up_to_date(cur, svc_want, KR_SVCKEEPER_SERVICE,
                                             KR_SVCKEEPER_EXACT_LABELS));
        kr_value_t *fixed =
            kr_svckeeper_repair(a, cur, svc_want, KR_SVCKEEPER_SERVICE, KR_SVCKEEPER_EXACT_LABELS);
        assert_true(kr_svckeeper_up_to_date(fixed, svc_want, KR_SVCKEEPER_SERVICE,
                                            KR_SVCKEEPER_EXACT_LABELS));
        /* what the API allocated and other labels stay */
        assert_string_equal(kr_value_as_str(kr_value_get(fixed, "metadata.uid")), "u1");
        assert_string_equal(kr_value_as_str(kr_value_get(fixed, "spec.clusterIPs[0]")),
                            "10.96.0.1");
        assert_string_equal(kr_value_as_str(kr_value_get(fixed, "metadata.labels.extra")), "x");
    }

    kr_value_t *eps_want = rest_kubesvc_desired(a, &conf, KR_SVCKEEPER_ENDPOINTS);
    kr_value_t *eps = kr_value_copy(a, eps_want);
    kr_value_set(a, eps, "metadata.uid", parse(a, "\"e1\""), NULL);
    assert_true(
        kr_svckeeper_up_to_date(eps, eps_want, KR_SVCKEEPER_ENDPOINTS, KR_SVCKEEPER_EXACT_LABELS));
    static const char *const eps_edits[][2] = {
        {"subsets[0].addresses[0].ip", "\"10.0.0.1\""},
        {"subsets[0].ports[0].port", "1"},
        {"metadata.labels.extra", "\"x\""}, /* exact: upstream sets the labels */
        {"subsets[0].notReadyAddresses", "[{\"ip\":\"10.0.0.2\"}]"},
    };
    for (size_t i = 0; i < sizeof eps_edits / sizeof *eps_edits; i++) {
        kr_value_t *cur = kr_value_copy(a, eps);
        assert_int_equal(kr_value_set(a, cur, eps_edits[i][0], parse(a, eps_edits[i][1]), NULL), 0);
        assert_false(kr_svckeeper_up_to_date(cur, eps_want, KR_SVCKEEPER_ENDPOINTS,
                                             KR_SVCKEEPER_EXACT_LABELS));
        kr_value_t *fixed = kr_svckeeper_repair(a, cur, eps_want, KR_SVCKEEPER_ENDPOINTS,
                                                KR_SVCKEEPER_EXACT_LABELS);
        assert_true(kr_svckeeper_up_to_date(fixed, eps_want, KR_SVCKEEPER_ENDPOINTS,
                                            KR_SVCKEEPER_EXACT_LABELS));
        assert_string_equal(kr_value_as_str(kr_value_get(fixed, "metadata.uid")), "e1");
    }
    kr_value_t *cur = kr_value_copy(a, eps);
    kr_value_map_del(cur, "subsets");
    assert_false(
        kr_svckeeper_up_to_date(cur, eps_want, KR_SVCKEEPER_ENDPOINTS, KR_SVCKEEPER_EXACT_LABELS));

    kr_value_t *sl_want = rest_kubesvc_desired(a, &conf, KR_SVCKEEPER_SLICE);
    kr_value_t *sl = kr_value_copy(a, sl_want);
    /* the API's defaults of the conditions */
    kr_value_set(a, sl, "endpoints[0].conditions",
                 parse(a, "{\"ready\":true,\"serving\":true,\"terminating\":false}"), NULL);
    assert_true(
        kr_svckeeper_up_to_date(sl, sl_want, KR_SVCKEEPER_SLICE, KR_SVCKEEPER_EXACT_LABELS));
    static const char *const sl_edits[][2] = {
        {"endpoints[0].addresses[0]", "\"10.0.0.1\""},
        {"endpoints[0].conditions.ready", "false"},
        {"ports[0].port", "1"},
        {"addressType", "\"IPv6\""},
        {"metadata.labels[\"endpointslice.kubernetes.io/managed-by\"]", "\"x\""},
    };
    for (size_t i = 0; i < sizeof sl_edits / sizeof *sl_edits; i++) {
        cur = kr_value_copy(a, sl);
        assert_int_equal(kr_value_set(a, cur, sl_edits[i][0], parse(a, sl_edits[i][1]), NULL), 0);
        assert_false(
            kr_svckeeper_up_to_date(cur, sl_want, KR_SVCKEEPER_SLICE, KR_SVCKEEPER_EXACT_LABELS));
        assert_true(kr_svckeeper_up_to_date(
            kr_svckeeper_repair(a, cur, sl_want, KR_SVCKEEPER_SLICE, KR_SVCKEEPER_EXACT_LABELS),
            sl_want, KR_SVCKEEPER_SLICE, KR_SVCKEEPER_EXACT_LABELS));
    }
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_ip),
        cmocka_unit_test(test_advertise),
        cmocka_unit_test(test_desired),
        cmocka_unit_test(test_up_to_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
