/* Unit tests of the endpoints controller's pure parts: ports resolution,
 * which pods are endpoints, the Endpoints subsets (repacked and sorted,
 * truncated), and the EndpointSlice reconcile plan (creates, updates,
 * deletes; upstream's reconciler_test cases in spirit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ep_build.h"

static kr_arena_t *A;

static kr_value_t *json(const char *s)
{
    kr_value_t *v = NULL;
    assert_int_equal(kr_json_decode(A, s, strlen(s), &v, NULL), 0);
    return v;
}

static const char *enc(const kr_value_t *v)
{
    kr_buf_t b = KR_BUF_INIT;
    assert_int_equal(kr_json_encode(v, &b, KR_JSON_COMPACT, NULL), 0);
    const char *s = kr_arena_strdup(A, b.data);
    kr_buf_free(&b);
    return s;
}

static const char *str(const kr_value_t *v, const char *path)
{
    const char *s = kr_value_as_str(kr_value_get(v, path));
    return s != NULL ? s : "";
}

/* name, ip ("" none), ready, extra metadata JSON, extra spec JSON */
static kr_value_t *pod_x(const char *name, const char *ip, bool ready, const char *meta,
                         const char *spec)
{
    return json(kr_arena_printf(
        A,
        "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"uid-%s\","
        "\"labels\":{\"app\":\"web\"}%s},"
        "\"spec\":{\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"c\",\"ports\":["
        "{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}]}]%s},"
        "\"status\":{\"phase\":\"Running\"%s%s%s%s,\"conditions\":[{\"type\":\"Ready\","
        "\"status\":\"%s\"}]}}",
        name, name, meta ? meta : "", spec ? spec : "", *ip ? ",\"podIP\":\"" : "", ip,
        *ip ? "\",\"podIPs\":[{\"ip\":\"" : "", *ip ? kr_arena_printf(A, "%s\"}]", ip) : "",
        ready ? "True" : "False"));
}

static kr_value_t *pod(const char *name, const char *ip, bool ready)
{
    return pod_x(name, ip, ready, NULL, NULL);
}

static kr_value_t *svc_x(const char *spec_extra, const char *ports)
{
    return json(kr_arena_printf(
        A,
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
        "\"namespace\":\"default\",\"uid\":\"svc-uid\",\"labels\":{\"tier\":\"fe\"},"
        "\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
        "\"spec\":{\"selector\":{\"app\":\"web\"},\"clusterIP\":\"10.96.0.5\","
        "\"ipFamilies\":[\"IPv4\"],\"ports\":%s%s}}",
        ports, spec_extra ? spec_extra : ""));
}

static kr_value_t *svc(void)
{
    return svc_x(NULL, "[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\",\"protocol\":"
                       "\"TCP\"}]");
}

/* The Service with spec.<field> set to a string. */
static kr_value_t *svc_with(kr_value_t *s, const char *path, const char *v)
{
    assert_int_equal(kr_value_set(A, s, path, kr_value_str(A, v), NULL), 0);
    return s;
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

/* ---- pods and ports ---- */

static void test_find_port(void **state)
{
    (void)state;
    kr_value_t *p =
        pod_x("a", "10.0.0.1", true, NULL,
              ",\"initContainers\":[{\"name\":\"side\",\"restartPolicy\":\"Always\","
              "\"ports\":[{\"name\":\"metrics\",\"containerPort\":9090}]},"
              "{\"name\":\"init\",\"ports\":[{\"name\":\"once\",\"containerPort\":7}]}]");
    assert_int_equal(ep_find_port(p, json("{\"targetPort\":8443,\"protocol\":\"TCP\"}")), 8443);
    assert_int_equal(ep_find_port(p, json("{\"targetPort\":\"http\",\"protocol\":\"TCP\"}")), 8080);
    /* the named port must have the service port's protocol */
    assert_int_equal(ep_find_port(p, json("{\"targetPort\":\"http\",\"protocol\":\"UDP\"}")), -1);
    assert_int_equal(ep_find_port(p, json("{\"targetPort\":\"nope\",\"protocol\":\"TCP\"}")), -1);
    /* a sidecar's port counts (protocol TCP by default), a plain init container's does not */
    assert_int_equal(ep_find_port(p, json("{\"targetPort\":\"metrics\"}")), 9090);
    assert_int_equal(ep_find_port(p, json("{\"targetPort\":\"once\"}")), -1);
}

static void test_pod_in_endpoints(void **state)
{
    (void)state;
    assert_true(ep_pod_in_endpoints(pod("a", "10.0.0.1", false), false));
    assert_false(ep_pod_in_endpoints(pod("a", "", true), true));
    kr_value_t *done = pod("a", "10.0.0.1", true);
    kr_value_set(A, done, "status.phase", kr_value_str(A, "Succeeded"), NULL);
    assert_false(ep_pod_in_endpoints(done, true));
    kr_value_t *term =
        pod_x("a", "10.0.0.1", true, ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"", NULL);
    assert_false(ep_pod_in_endpoints(term, false));
    assert_true(ep_pod_in_endpoints(term, true));
    assert_string_equal(ep_pod_ip(svc(), pod("a", "10.0.0.1", true)), "10.0.0.1");
    assert_null(
        ep_pod_ip(svc_with(svc(), "spec.ipFamilies[0]", "IPv6"), pod("a", "10.0.0.1", true)));
    /* selector: every pair must be a label */
    assert_true(
        ep_selector_matches(json("{\"app\":\"web\"}"), json("{\"app\":\"web\",\"x\":\"y\"}")));
    assert_false(ep_selector_matches(json("{\"app\":\"web\",\"x\":\"z\"}"),
                                     json("{\"app\":\"web\",\"x\":\"y\"}")));
    assert_true(ep_service_selects(svc()));
    assert_false(ep_service_selects(json("{\"spec\":{\"ports\":[]}}")));
    assert_false(ep_service_selects(
        json("{\"spec\":{\"type\":\"ExternalName\",\"selector\":{\"a\":\"b\"}}}")));
}

/* ---- Endpoints ---- */

static void test_subsets_ready_and_sorted(void **state)
{
    (void)state;
    const kr_value_t *pods[] = {pod("c", "10.0.0.9", true), pod("a", "10.0.0.10", true),
                                pod("b", "10.0.0.2", false), pod("d", "", true)};
    size_t r, nr;
    kr_value_t *ss = ep_subsets_build(A, svc(), pods, 4, &r, &nr);
    assert_int_equal(r, 2);
    assert_int_equal(nr, 1);
    assert_string_equal(
        enc(ss),
        "[{\"addresses\":[{\"ip\":\"10.0.0.10\",\"nodeName\":\"node-1\",\"targetRef\":{\"kind\":"
        "\"Pod\",\"namespace\":\"default\",\"name\":\"a\",\"uid\":\"uid-a\"}},{\"ip\":\"10.0.0.9\","
        "\"nodeName\":\"node-1\",\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"default\","
        "\"name\":\"c\",\"uid\":\"uid-c\"}}],\"notReadyAddresses\":[{\"ip\":\"10.0.0.2\","
        "\"nodeName\":\"node-1\",\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"default\","
        "\"name\":\"b\",\"uid\":\"uid-b\"}}],\"ports\":[{\"name\":\"http\",\"port\":8080,"
        "\"protocol\":\"TCP\"}]}]");
    /* publishNotReadyAddresses: every pod with an IP is ready */
    ss = ep_subsets_build(
        A, svc_x(",\"publishNotReadyAddresses\":true", "[{\"port\":80,\"targetPort\":8080}]"), pods,
        4, &r, &nr);
    assert_int_equal(r, 3);
    assert_int_equal(nr, 0);
    assert_null(kr_value_get(ss, "[0].notReadyAddresses"));
    assert_string_equal(enc(kr_value_get(ss, "[0].ports")),
                        "[{\"port\":8080,\"protocol\":\"TCP\"}]");
}

static void test_subsets_named_ports_differ(void **state)
{
    (void)state;
    /* pod b serves "http" on 9000: its own subset; both serve metrics 9100 */
    const char *more = ",{\"name\":\"metrics\",\"containerPort\":9100}";
    kr_value_t *a = pod("a", "10.0.0.1", true), *b = pod("b", "10.0.0.2", true);
    kr_value_array_push(A, kr_value_get(a, "spec.containers[0].ports"),
                        json(kr_arena_printf(A, "%s", more + 1)));
    kr_value_set(A, b, "spec.containers[0].ports[0].containerPort", kr_value_int(A, 9000), NULL);
    kr_value_array_push(A, kr_value_get(b, "spec.containers[0].ports"), json(more + 1));
    const kr_value_t *pods[] = {a, b};
    kr_value_t *s = svc_x(NULL, "[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\"},"
                                "{\"name\":\"metrics\",\"port\":91,\"targetPort\":\"metrics\"}]");
    size_t r, nr;
    kr_value_t *ss = ep_subsets_build(A, s, pods, 2, &r, &nr);
    assert_int_equal(kr_value_len(ss), 3);
    assert_int_equal(kr_value_as_int(kr_value_get(ss, "[0].ports[0].port"), 0), 8080);
    assert_string_equal(str(ss, "[0].addresses[0].ip"), "10.0.0.1");
    assert_int_equal(kr_value_as_int(kr_value_get(ss, "[1].ports[0].port"), 0), 9000);
    assert_string_equal(str(ss, "[1].addresses[0].ip"), "10.0.0.2");
    assert_int_equal(kr_value_as_int(kr_value_get(ss, "[2].ports[0].port"), 0), 9100);
    assert_int_equal(kr_value_len(kr_value_get(ss, "[2].addresses")), 2);
    /* the same two ports on the same pods: one subset with both ports */
    kr_value_set(A, b, "spec.containers[0].ports[0].containerPort", kr_value_int(A, 8080), NULL);
    ss = ep_subsets_build(A, s, pods, 2, &r, &nr);
    assert_int_equal(kr_value_len(ss), 1);
    assert_string_equal(enc(kr_value_get(ss, "[0].ports")),
                        "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"},{\"name\":"
                        "\"metrics\",\"port\":9100,\"protocol\":\"TCP\"}]");
}

static void test_subsets_headless_hostname(void **state)
{
    (void)state;
    const kr_value_t *pods[] = {
        pod_x("a", "10.0.0.1", true, NULL, ",\"hostname\":\"a0\",\"subdomain\":\"web\""),
        pod_x("b", "10.0.0.2", true, NULL, ",\"hostname\":\"b0\",\"subdomain\":\"other\"")};
    size_t r, nr;
    kr_value_t *ss = ep_subsets_build(A, svc_with(svc_x(NULL, "[]"), "spec.clusterIP", "None"),
                                      pods, 2, &r, &nr);
    assert_int_equal(kr_value_len(ss), 1);
    assert_null(kr_value_get(ss, "[0].ports"));
    assert_string_equal(str(ss, "[0].addresses[0].hostname"), "a0");
    assert_null(kr_value_get(ss, "[0].addresses[1].hostname"));
    /* a Service with a cluster IP and no ports gets no addresses */
    ss = ep_subsets_build(A, svc_x(NULL, "[]"), pods, 2, &r, &nr);
    assert_int_equal(kr_value_len(ss), 0);
    kr_value_t *labels =
        ep_endpoints_labels(A, svc_with(svc_x(NULL, "[]"), "spec.clusterIP", "None"));
    assert_string_equal(enc(labels),
                        "{\"tier\":\"fe\",\"endpoints.kubernetes.io/managed-by\":"
                        "\"endpoint-controller\",\"service.kubernetes.io/headless\":\"\"}");
}

static void test_subsets_truncate_equal(void **state)
{
    (void)state;
    kr_value_t *ss =
        json("[{\"addresses\":[{\"ip\":\"1\"},{\"ip\":\"2\"},{\"ip\":\"3\"}],"
             "\"notReadyAddresses\":[{\"ip\":\"4\"}]},"
             "{\"addresses\":[{\"ip\":\"5\"}],\"notReadyAddresses\":[{\"ip\":\"6\"}]}]");
    assert_false(ep_subsets_truncate(A, kr_value_copy(A, ss), 6));
    /* 4 ready fit in 5: not-ready ones share the one place left (rounded up) */
    kr_value_t *t = kr_value_copy(A, ss);
    assert_true(ep_subsets_truncate(A, t, 5));
    assert_string_equal(enc(t), "[{\"addresses\":[{\"ip\":\"1\"},{\"ip\":\"2\"},{\"ip\":\"3\"}],"
                                "\"notReadyAddresses\":[{\"ip\":\"4\"}]},{\"addresses\":[{\"ip\":"
                                "\"5\"}]}]");
    /* more ready than room: ready ones only, each subset its share */
    t = kr_value_copy(A, ss);
    assert_true(ep_subsets_truncate(A, t, 2));
    assert_string_equal(enc(t), "[{\"addresses\":[{\"ip\":\"1\"},{\"ip\":\"2\"}]}]");
    /* equality ignores the pods' resourceVersion, a missing list is empty */
    kr_value_t *x = json("[{\"addresses\":[{\"ip\":\"1\",\"targetRef\":{\"name\":\"a\","
                         "\"resourceVersion\":\"5\"}}],\"ports\":[]}]");
    kr_value_t *y = json("[{\"addresses\":[{\"ip\":\"1\",\"targetRef\":{\"name\":\"a\"}}]}]");
    assert_true(ep_subsets_equal(x, y));
    kr_value_set(A, y, "[0].addresses[0].ip", kr_value_str(A, "2"), NULL);
    assert_false(ep_subsets_equal(x, y));
    assert_true(ep_subsets_equal(NULL, json("[]")));
}

static void test_endpoints_current(void **state)
{
    (void)state;
    kr_value_t *s = svc();
    const kr_value_t *pods[] = {pod("a", "10.0.0.1", true)};
    size_t r, nr;
    kr_value_t *ss = ep_subsets_build(A, s, pods, 1, &r, &nr);
    kr_value_t *labels = ep_endpoints_labels(A, s);
    kr_value_t *cur = json("{\"metadata\":{\"name\":\"web\",\"labels\":{}}}");
    kr_value_set(A, cur, "subsets", kr_value_copy(A, ss), NULL);
    assert_false(ep_endpoints_current(cur, ss, labels)); /* labels differ */
    kr_value_set(A, cur, "metadata.labels", kr_value_copy(A, labels), NULL);
    assert_true(ep_endpoints_current(cur, ss, labels));
    kr_value_set(A, cur, "metadata.labels[\"" EP_LABEL_HEADLESS "\"]", kr_value_str(A, ""), NULL);
    assert_true(ep_endpoints_current(cur, ss, labels)); /* the headless label aside */
    kr_value_set(A, cur, "metadata.annotations",
                 json("{\"" EP_ANN_OVER_CAPACITY "\":\"truncated\"}"), NULL);
    assert_false(ep_endpoints_current(cur, ss, labels));
}

/* ---- EndpointSlices ---- */

static bool nodes_all(const char *node, const char **zone, void *ud)
{
    (void)ud;
    *zone = strcmp(node, "node-1") == 0 ? "zone-a" : NULL;
    return strcmp(node, "gone") != 0;
}

/* The slices that would exist after the plan, as the API would store
 * them: creates named web-<i>, uids and resourceVersions given. */
static const kr_value_t **apply_plan(const es_plan_t *p, const kr_value_t *const *old, size_t nold,
                                     size_t *n)
{
    const kr_value_t **out = kr_arena_alloc(A, (nold + p->ncreate + 1) * sizeof *out);
    *n = 0;
    for (size_t i = 0; i < nold; i++) {
        bool gone = false;
        for (size_t j = 0; j < p->ndel; j++)
            gone = gone || p->del[j] == old[i];
        for (size_t j = 0; j < p->nupdate; j++)
            gone = gone ||
                   strcmp(str(p->update[j], "metadata.name"), str(old[i], "metadata.name")) == 0;
        if (!gone)
            out[(*n)++] = old[i];
    }
    for (size_t j = 0; j < p->nupdate; j++)
        out[(*n)++] = p->update[j];
    static int seq;
    for (size_t j = 0; j < p->ncreate; j++) {
        kr_value_t *s = kr_value_copy(A, p->create[j]);
        seq++;
        kr_value_set(A, s, "metadata.name", kr_value_str(A, kr_arena_printf(A, "web-%d", seq)),
                     NULL);
        kr_value_set(A, s, "metadata.uid", kr_value_str(A, kr_arena_printf(A, "s%d", seq)), NULL);
        kr_value_set(A, s, "metadata.resourceVersion", kr_value_str(A, "7"), NULL);
        out[(*n)++] = s;
    }
    return out;
}

static void test_slices_create_then_steady(void **state)
{
    (void)state;
    kr_value_t *s = svc();
    const kr_value_t *pods[] = {pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", true),
                                pod("c", "10.0.0.3", true)};
    es_plan_t p;
    es_reconcile(A, s, pods, 3, NULL, 0, 100, nodes_all, NULL, &p);
    assert_int_equal(p.ncreate, 1);
    assert_int_equal(p.nupdate + p.ndel, 0);
    assert_int_equal(p.added, 3);
    kr_value_t *c = p.create[0];
    assert_string_equal(str(c, "metadata.generateName"), "web-");
    assert_string_equal(str(c, "addressType"), "IPv4");
    assert_string_equal(enc(kr_value_get(c, "metadata.labels")),
                        "{\"tier\":\"fe\",\"kubernetes.io/service-name\":\"web\","
                        "\"endpointslice.kubernetes.io/managed-by\":"
                        "\"endpointslice-controller.k8s.io\"}");
    assert_string_equal(enc(kr_value_get(c, "metadata.ownerReferences")),
                        "[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"name\":\"web\",\"uid\":"
                        "\"svc-uid\",\"controller\":true,\"blockOwnerDeletion\":true}]");
    assert_string_equal(enc(kr_value_get(c, "ports")),
                        "[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]");
    assert_int_equal(kr_value_len(kr_value_get(c, "endpoints")), 3);
    assert_string_equal(enc(kr_value_get(c, "endpoints[0]")),
                        "{\"addresses\":[\"10.0.0.1\"],\"conditions\":{\"ready\":true,\"serving\":"
                        "true,\"terminating\":false},\"targetRef\":{\"kind\":\"Pod\",\"namespace\":"
                        "\"default\",\"name\":\"a\",\"uid\":\"uid-a\"},\"nodeName\":\"node-1\","
                        "\"zone\":\"zone-a\"}");
    size_t n;
    const kr_value_t **now = apply_plan(&p, NULL, 0, &n);
    es_reconcile(A, s, pods, 3, now, n, 100, nodes_all, NULL, &p);
    assert_int_equal(p.ncreate + p.nupdate + p.ndel, 0);
}

static void test_slices_unready_and_removed(void **state)
{
    (void)state;
    kr_value_t *s = svc();
    const kr_value_t *pods[] = {pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", true),
                                pod("c", "10.0.0.3", true)};
    es_plan_t p;
    es_reconcile(A, s, pods, 3, NULL, 0, 100, nodes_all, NULL, &p);
    size_t n;
    const kr_value_t **now = apply_plan(&p, NULL, 0, &n);
    const char *name = str(now[0], "metadata.name");
    /* b turns unready: one update, in place */
    pods[1] = pod("b", "10.0.0.2", false);
    es_reconcile(A, s, pods, 3, now, n, 100, nodes_all, NULL, &p);
    assert_int_equal(p.nupdate, 1);
    assert_int_equal(p.ncreate + p.ndel, 0);
    assert_string_equal(str(p.update[0], "metadata.name"), name);
    assert_string_equal(str(p.update[0], "metadata.resourceVersion"), "7");
    assert_string_equal(enc(kr_value_get(p.update[0], "endpoints[1].conditions")),
                        "{\"ready\":false,\"serving\":false,\"terminating\":false}");
    now = apply_plan(&p, now, n, &n);
    /* a terminating pod stays, ready false, terminating true */
    pods[2] = pod_x("c", "10.0.0.3", true, ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"", NULL);
    es_reconcile(A, s, pods, 3, now, n, 100, nodes_all, NULL, &p);
    assert_int_equal(p.nupdate, 1);
    assert_string_equal(enc(kr_value_get(p.update[0], "endpoints[2].conditions")),
                        "{\"ready\":false,\"serving\":true,\"terminating\":true}");
    now = apply_plan(&p, now, n, &n);
    /* c goes: the slice keeps a and b */
    es_reconcile(A, s, pods, 2, now, n, 100, nodes_all, NULL, &p);
    assert_int_equal(p.nupdate, 1);
    assert_int_equal(p.removed, 1);
    assert_int_equal(kr_value_len(kr_value_get(p.update[0], "endpoints")), 2);
    now = apply_plan(&p, now, n, &n);
    /* every pod goes: the slice becomes the placeholder (an update, not delete + create) */
    es_reconcile(A, s, pods, 0, now, n, 100, nodes_all, NULL, &p);
    assert_int_equal(p.ncreate + p.ndel, 0);
    assert_int_equal(p.nupdate, 1);
    assert_string_equal(str(p.update[0], "metadata.name"), name);
    assert_int_equal(kr_value_len(kr_value_get(p.update[0], "endpoints")), 0);
    assert_int_equal(kr_value_len(kr_value_get(p.update[0], "ports")), 0);
    now = apply_plan(&p, now, n, &n);
    /* the placeholder stays as it is */
    es_reconcile(A, s, pods, 0, now, n, 100, nodes_all, NULL, &p);
    assert_int_equal(p.ncreate + p.nupdate + p.ndel, 0);
}

static void test_slices_max_and_fill(void **state)
{
    (void)state;
    kr_value_t *s = svc();
    const kr_value_t *pods[6];
    for (int i = 0; i < 6; i++)
        pods[i] = pod(kr_arena_printf(A, "p%d", i), kr_arena_printf(A, "10.0.1.%d", i), true);
    es_plan_t p;
    es_reconcile(A, s, pods, 5, NULL, 0, 2, nodes_all, NULL, &p);
    assert_int_equal(p.ncreate, 3);
    size_t total = 0;
    for (size_t i = 0; i < p.ncreate; i++) {
        size_t k = kr_value_len(kr_value_get(p.create[i], "endpoints"));
        assert_true(k <= 2);
        total += k;
    }
    assert_int_equal(total, 5);
    size_t n;
    const kr_value_t **now = apply_plan(&p, NULL, 0, &n);
    /* a sixth pod fills the slice that has room instead of a new one */
    es_reconcile(A, s, pods, 6, now, n, 2, nodes_all, NULL, &p);
    assert_int_equal(p.ncreate + p.ndel, 0);
    assert_int_equal(p.nupdate, 1);
    assert_int_equal(kr_value_len(kr_value_get(p.update[0], "endpoints")), 2);
}

static void test_slices_ports_and_owner(void **state)
{
    (void)state;
    kr_value_t *s = svc();
    kr_value_t *b = pod("b", "10.0.0.2", true);
    kr_value_set(A, b, "spec.containers[0].ports[0].containerPort", kr_value_int(A, 9000), NULL);
    const kr_value_t *pods[] = {pod("a", "10.0.0.1", true), b, pod("x", "10.0.0.9", true)};
    kr_value_set(A, (kr_value_t *)pods[2], "spec.nodeName", kr_value_str(A, "gone"), NULL);
    /* a slice of the same name's earlier Service: deleted, not reused */
    kr_value_t *stale = json("{\"metadata\":{\"name\":\"web-old\",\"namespace\":\"default\","
                             "\"uid\":\"old\",\"resourceVersion\":\"3\",\"ownerReferences\":[{"
                             "\"apiVersion\":\"v1\",\"kind\":\"Service\",\"name\":\"web\","
                             "\"uid\":\"other\"}]},\"addressType\":\"IPv4\",\"endpoints\":[],"
                             "\"ports\":[]}");
    const kr_value_t *old[] = {stale};
    es_plan_t p;
    es_reconcile(A, s, pods, 3, old, 1, 100, nodes_all, NULL, &p);
    /* one slice per set of ports; the pod on a missing node is left out */
    assert_int_equal(p.ncreate, 2);
    assert_int_equal(p.nupdate, 0);
    assert_int_equal(p.ndel, 1);
    assert_ptr_equal(p.del[0], stale);
    assert_int_equal(p.skipped, 1);
    assert_int_equal(kr_value_as_int(kr_value_get(p.create[0], "ports[0].port"), 0) +
                         kr_value_as_int(kr_value_get(p.create[1], "ports[0].port"), 0),
                     8080 + 9000);
    /* owned by this Service: the slice is reused for the new ports */
    kr_value_set(A, stale, "metadata.ownerReferences[0].uid", kr_value_str(A, "svc-uid"), NULL);
    const kr_value_t *one[] = {pods[0]};
    es_reconcile(A, s, one, 1, old, 1, 100, nodes_all, NULL, &p);
    assert_int_equal(p.ncreate + p.ndel, 0);
    assert_int_equal(p.nupdate, 1);
    assert_string_equal(str(p.update[0], "metadata.name"), "web-old");
    assert_string_equal(str(p.update[0], "metadata.resourceVersion"), "3");
    /* a headless Service's slices say so */
    kr_value_t *hl = svc_with(svc(), "spec.clusterIP", "None");
    es_reconcile(A, hl, one, 1, NULL, 0, 100, nodes_all, NULL, &p);
    assert_int_equal(p.ncreate, 1);
    assert_non_null(kr_value_get(p.create[0], "metadata.labels[\"" EP_LABEL_HEADLESS "\"]"));
    /* a Service being deleted gets no new slices */
    kr_value_set(A, s, "metadata.deletionTimestamp", kr_value_str(A, "2026-01-01T00:00:00Z"), NULL);
    es_reconcile(A, s, one, 1, NULL, 0, 100, nodes_all, NULL, &p);
    assert_int_equal(p.ncreate, 0);
}

static void test_keys(void **state)
{
    (void)state;
    assert_string_equal(
        es_endpoint_key(A, json("{\"addresses\":[\"b\",\"a\"],\"hostname\":\"h\",\"targetRef\":{"
                                "\"namespace\":\"n\",\"name\":\"p\"}}")),
        "a,b\x1fh\x1fn/p");
    assert_string_equal(es_ports_key(A, json("[{\"name\":\"b\",\"port\":2,\"protocol\":\"TCP\"},"
                                             "{\"name\":\"a\",\"port\":1,\"protocol\":\"UDP\"}]")),
                        es_ports_key(A, json("[{\"name\":\"a\",\"port\":1,\"protocol\":\"UDP\"},"
                                             "{\"name\":\"b\",\"port\":2,\"protocol\":\"TCP\"}]")));
    kr_value_t *o = json("{\"metadata\":{\"name\":\"x\"}}");
    ep_set_trigger_time(A, o, "2026-01-01T00:00:00Z");
    assert_string_equal(str(o, "metadata.annotations[\"" EP_ANN_TRIGGER_TIME "\"]"),
                        "2026-01-01T00:00:00Z");
    ep_set_trigger_time(A, o, NULL);
    assert_null(kr_value_get(o, "metadata.annotations"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_in_endpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subsets_ready_and_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subsets_named_ports_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subsets_headless_hostname, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subsets_truncate_equal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endpoints_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slices_create_then_steady, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slices_unready_and_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slices_max_and_fill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slices_ports_and_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
