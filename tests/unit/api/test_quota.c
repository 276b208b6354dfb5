/* LimitRanger and ResourceQuota admission through the object API
 * (core/quota.c, called by core/api.c on creates): the cases of upstream's
 * plugin/pkg/admission/limitranger/admission_test.go (TestPodLimitFunc,
 * the defaults and their annotation) and
 * plugin/pkg/admission/resourcequota/admission_test.go (below and above
 * the limits, the constraints, object counts, scopes, terminal pods),
 * answered as the API answers them, and creates racing for the last unit
 * of a quota. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <kraal/bus.h>

#include "../support/api_fixture.h"

static api_fixture_t S;

static int start(void **state)
{
    (void)state;
    kr_api_opts_t ao = {0};
    return api_fixture_start(&S, "quota", &ao);
}

static int stop(void **state)
{
    (void)state;
    api_fixture_stop(&S);
    return 0;
}

static kr_value_t *Y(const char *s)
{
    return api_fixture_yaml(&S, s);
}

static kr_reply_t call(const char *op, const char *res, const char *ns, const char *name,
                       const char *obj)
{
    kr_request_t req = {.op = op, .res = res, .ns = ns, .name = name, .obj = Y(obj)};
    kr_reply_t r;
    kr_error_t err;
    if (kr_bus_call(S.bus, &req, S.a, &r, 10000, &err) < 0)
        fail_msg("%s %s: no reply: %s", op, res, err.message);
    return r;
}

#define PODS   "v1/pods"
#define LRS    "v1/limitranges"
#define QUOTAS "v1/resourcequotas"

static kr_reply_t expect(kr_reply_t r, int code)
{
    if (r.code != code)
        fail_msg("code %d (want %d): %s", r.code, code, kr_reply_msg(&r));
    return r;
}

static void refused(kr_reply_t r, const char *msg)
{
    expect(r, 403);
    assert_int_equal(r.reason, KR_E_FORBIDDEN);
    assert_string_equal(kr_reply_msg(&r), msg);
}

static void namespace(const char *ns)
{
    expect(call("create", "v1/namespaces", NULL, NULL,
                kr_arena_printf(S.a, "{metadata: {name: %s}}", ns)),
           201);
}

/* A pod of one container "c" with the given resources (YAML, or NULL). */
static kr_reply_t pod(const char *ns, const char *name, const char *resources)
{
    return call("create", PODS, ns, NULL,
                kr_arena_printf(S.a,
                                "{metadata: {name: %s}, spec: {containers: [{name: c, image: i"
                                "%s%s}]}}",
                                name, resources ? ", resources: " : "",
                                resources ? resources : ""));
}

static const char *str_at(const kr_value_t *obj, const char *path)
{
    const char *s = kr_value_as_str(kr_value_get(obj, path));
    return s ? s : "(none)";
}

/* ---- LimitRanger ----------------------------------------------------------------- */

static void limitrange_defaults_and_annotation(void **state)
{
    (void)state;
    namespace("lr-defaults");
    expect(call("create", LRS, "lr-defaults", NULL,
                "{metadata: {name: defaults}, spec: {limits: [{type: Container,"
                " default: {cpu: 500m, memory: 256Mi}, defaultRequest: {cpu: 100m}}]}}"),
           201);
    /* the LimitRange was defaulted: defaultRequest.memory from default */
    kr_reply_t lr = expect(call("get", LRS, "lr-defaults", "defaults", NULL), 200);
    assert_string_equal(str_at(lr.obj, "spec.limits[0].defaultRequest.memory"), "256Mi");

    kr_reply_t r = expect(pod("lr-defaults", "p1", NULL), 201);
    assert_string_equal(str_at(r.obj, "spec.containers[0].resources.requests.cpu"), "100m");
    assert_string_equal(str_at(r.obj, "spec.containers[0].resources.requests.memory"), "256Mi");
    assert_string_equal(str_at(r.obj, "spec.containers[0].resources.limits.cpu"), "500m");
    assert_string_equal(str_at(r.obj, "spec.containers[0].resources.limits.memory"), "256Mi");
    assert_string_equal(
        kr_value_as_str(kr_value_map_get(kr_value_get(r.obj, "metadata.annotations"),
                                         "kubernetes.io/limit-ranger")),
        "LimitRanger plugin set: cpu, memory request for container c; cpu, "
        "memory limit for container c");
    /* the QoS class is computed from the defaulted resources */
    assert_string_equal(str_at(r.obj, "status.qosClass"), "Burstable");

    /* what a container sets stays; a limit without a request defaults
     * the request to the limit first (the pod's own defaults) */
    r = expect(pod("lr-defaults", "p2", "{limits: {cpu: '2'}}"), 201);
    assert_string_equal(str_at(r.obj, "spec.containers[0].resources.limits.cpu"), "2");
    assert_string_equal(str_at(r.obj, "spec.containers[0].resources.requests.cpu"), "2");
    assert_string_equal(str_at(r.obj, "spec.containers[0].resources.limits.memory"), "256Mi");
    assert_string_equal(
        kr_value_as_str(kr_value_map_get(kr_value_get(r.obj, "metadata.annotations"),
                                         "kubernetes.io/limit-ranger")),
        "LimitRanger plugin set: memory request for container c; memory limit "
        "for container c");

    /* init containers too */
    r = expect(call("create", PODS, "lr-defaults", NULL,
                    "{metadata: {name: p3}, spec: {initContainers: [{name: init, image: i}],"
                    " containers: [{name: c, image: i, resources: {requests: {cpu: 200m,"
                    " memory: 1Mi}, limits: {cpu: 200m, memory: 1Mi}}}]}}"),
               201);
    assert_string_equal(str_at(r.obj, "spec.initContainers[0].resources.requests.cpu"), "100m");
    assert_string_equal(
        kr_value_as_str(kr_value_map_get(kr_value_get(r.obj, "metadata.annotations"),
                                         "kubernetes.io/limit-ranger")),
        "LimitRanger plugin set: cpu, memory request for init container init; "
        "cpu, memory limit for init container init");
}

static void limitrange_container_constraints(void **state)
{
    (void)state;
    namespace("lr-container");
    expect(call("create", LRS, "lr-container", NULL,
                "{metadata: {name: limits}, spec: {limits: [{type: Container,"
                " max: {cpu: '1', memory: 1Gi}, min: {cpu: 50m, memory: 10Mi},"
                " maxLimitRequestRatio: {cpu: '4'}}]}}"),
           201);
    /* defaults from max and min keep a bare container inside the range */
    kr_reply_t r = expect(pod("lr-container", "bare", NULL), 201);
    assert_string_equal(str_at(r.obj, "spec.containers[0].resources.limits.cpu"), "1");
    assert_string_equal(str_at(r.obj, "spec.containers[0].resources.requests.cpu"), "1");

    refused(pod("lr-container", "big", "{limits: {cpu: '2'}}"),
            "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2");
    refused(pod("lr-container", "small",
                "{requests: {memory: 5Mi, cpu: 100m}, limits: {memory: 5Mi, cpu: 100m}}"),
            "pods \"small\" is forbidden: minimum memory usage per Container is 10Mi, but "
            "request is 5Mi");
    refused(pod("lr-container", "bursty", "{requests: {cpu: 100m}, limits: {cpu: 500m}}"),
            "pods \"bursty\" is forbidden: cpu max limit to request ratio per Container is 4, but "
            "provided ratio is 5.000000");
    /* several at once: upstream's aggregate "[a, b]" */
    refused(pod("lr-container", "both",
                "{requests: {memory: 5Mi, cpu: 2}, limits: {memory: 2Gi, cpu: 2}}"),
            "pods \"both\" is forbidden: [minimum memory usage per Container is 10Mi, but "
            "request is 5Mi, maximum cpu usage per Container is 1, but limit is 2, maximum "
            "memory usage per Container is 1Gi, but limit is 2Gi]");
    expect(call("get", PODS, "lr-container", "big", NULL), 404);
}

static void limitrange_pod_constraints(void **state)
{
    (void)state;
    namespace("lr-pod");
    expect(call("create", LRS, "lr-pod", NULL,
                "{metadata: {name: pod}, spec: {limits: [{type: Pod, max: {cpu: '1'},"
                " min: {memory: 10Mi}}]}}"),
           201);
    kr_reply_t r = call("create", PODS, "lr-pod", NULL,
                        "{metadata: {name: two}, spec: {containers: ["
                        "{name: a, image: i, resources: {limits: {cpu: 600m, memory: 10Mi}}},"
                        "{name: b, image: i, resources: {limits: {cpu: 600m, memory: 10Mi}}}]}}");
    refused(r, "pods \"two\" is forbidden: maximum cpu usage per Pod is 1, but limit is 1200m");
    /* the largest init container counts when more than the sum */
    r = call("create", PODS, "lr-pod", NULL,
             "{metadata: {name: init}, spec: {initContainers: ["
             "{name: i, image: i, resources: {limits: {cpu: '2', memory: 10Mi}}}],"
             " containers: [{name: a, image: i, resources: {limits: {cpu: 100m,"
             " memory: 10Mi}}}]}}");
    refused(r, "pods \"init\" is forbidden: maximum cpu usage per Pod is 1, but limit is 2");
    /* no request for a min: refused */
    refused(pod("lr-pod", "none", "{limits: {cpu: 100m}}"),
            "pods \"none\" is forbidden: minimum memory usage per Pod is 10Mi.  No request is "
            "specified");
    expect(pod("lr-pod", "fits", "{limits: {cpu: 500m, memory: 20Mi}}"), 201);
}

/* ---- ResourceQuota ------------------------------------------------------------------- */

static void quota_compute(void **state)
{
    (void)state;
    namespace("q-compute");
    expect(call("create", QUOTAS, "q-compute", NULL,
                "{metadata: {name: q}, spec: {hard: {requests.cpu: '2', pods: '3'}}}"),
           201);
    expect(pod("q-compute", "a", "{requests: {cpu: '1'}}"), 201);
    /* the brief's example: 1 of 2 used, 2 more asked */
    refused(pod("q-compute", "x", "{requests: {cpu: '2'}}"),
            "pods \"x\" is forbidden: exceeded quota: q, requested: requests.cpu=2, used: "
            "requests.cpu=1, limited: requests.cpu=2");
    expect(pod("q-compute", "b", "{requests: {cpu: 500m}}"), 201);
    expect(pod("q-compute", "c", "{requests: {cpu: 500m}}"), 201);
    /* two resources over at once, sorted */
    refused(pod("q-compute", "d", "{requests: {cpu: 100m}}"),
            "pods \"d\" is forbidden: exceeded quota: q, requested: pods=1,requests.cpu=100m, "
            "used: pods=3,requests.cpu=2, limited: pods=3,requests.cpu=2");
    /* a container without the request the quota covers */
    refused(pod("q-compute", "e", NULL),
            "pods \"e\" is forbidden: failed quota: q: must specify requests.cpu for: c");

    /* a terminal pod does not count: status Succeeded frees its share */
    kr_reply_t a = expect(call("get", PODS, "q-compute", "a", NULL), 200);
    kr_value_set(S.a, a.obj, "status.phase", kr_value_str(S.a, "Succeeded"), NULL);
    kr_request_t req = {
        .op = "update", .res = PODS, .ns = "q-compute", .name = "a", .sub = "status", .obj = a.obj};
    kr_reply_t r;
    kr_error_t err;
    assert_int_equal(kr_bus_call(S.bus, &req, S.a, &r, 10000, &err), 0);
    expect(r, 200);
    expect(pod("q-compute", "d", "{requests: {cpu: 100m}}"), 201);
    /* a deleted one neither */
    expect(call("delete", PODS, "q-compute", "b", NULL), 200);
    expect(pod("q-compute", "f", "{requests: {cpu: 400m}}"), 201);
}

static void quota_limits_must_be_set(void **state)
{
    (void)state;
    namespace("q-limits");
    expect(call("create", QUOTAS, "q-limits", NULL,
                "{metadata: {name: lim}, spec: {hard: {limits.cpu: '1', limits.memory: 1Gi,"
                " requests.memory: 1Gi}}}"),
           201);
    kr_reply_t r = call("create", PODS, "q-limits", NULL,
                        "{metadata: {name: x}, spec: {containers: ["
                        "{name: b, image: i, resources: {requests: {memory: 1Mi}}},"
                        "{name: a, image: i}]}}");
    refused(r, "pods \"x\" is forbidden: failed quota: lim: must specify limits.cpu for: a,b; "
               "limits.memory for: a,b; requests.memory for: a");
    expect(pod("q-limits", "ok", "{limits: {cpu: 500m, memory: 512Mi}}"), 201);
    refused(pod("q-limits", "over", "{limits: {cpu: 500m, memory: 600Mi}}"),
            "pods \"over\" is forbidden: exceeded quota: lim, requested: "
            "limits.memory=600Mi,requests.memory=600Mi, used: "
            "limits.memory=512Mi,requests.memory=512Mi, limited: "
            "limits.memory=1Gi,requests.memory=1Gi");
}

static void quota_object_counts(void **state)
{
    (void)state;
    namespace("q-count");
    expect(call("create", QUOTAS, "q-count", NULL,
                "{metadata: {name: objects}, spec: {hard: {count/configmaps: '1', secrets: '1',"
                " services.nodeports: '1', count/deployments.apps: '0'}}}"),
           201);
    expect(call("create", "v1/configmaps", "q-count", NULL, "{metadata: {name: a}}"), 201);
    refused(call("create", "v1/configmaps", "q-count", NULL, "{metadata: {name: b}}"),
            "configmaps \"b\" is forbidden: exceeded quota: objects, requested: "
            "count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1");
    expect(call("create", "v1/secrets", "q-count", NULL, "{metadata: {name: s1}}"), 201);
    refused(call("create", "v1/secrets", "q-count", NULL, "{metadata: {name: s2}}"),
            "secrets \"s2\" is forbidden: exceeded quota: objects, requested: secrets=1, used: "
            "secrets=1, limited: secrets=1");
    refused(call("create", "apps/v1/deployments", "q-count", NULL,
                 "{metadata: {name: d}, spec: {selector: {matchLabels: {a: b}}, template:"
                 " {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}}"),
            "deployments.apps \"d\" is forbidden: exceeded quota: objects, requested: "
            "count/deployments.apps=1, used: count/deployments.apps=0, limited: "
            "count/deployments.apps=0");
    /* a ClusterIP service uses no node port; a NodePort one with two ports
     * needs two */
    expect(call("create", "v1/services", "q-count", NULL,
                "{metadata: {name: ip}, spec: {ports: [{port: 80}]}}"),
           201);
    refused(call("create", "v1/services", "q-count", NULL,
                 "{metadata: {name: np}, spec: {type: NodePort, ports: [{port: 80, name: a},"
                 " {port: 81, name: b}]}}"),
            "services \"np\" is forbidden: exceeded quota: objects, requested: "
            "services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1");
    /* an update is charged what it adds: ClusterIP to NodePort takes the
     * port it exposes */
    kr_reply_t ip = expect(call("get", "v1/services", "q-count", "ip", NULL), 200);
    kr_value_set(S.a, ip.obj, "spec.type", kr_value_str(S.a, "NodePort"), NULL);
    kr_value_set(S.a, ip.obj, "spec.ports", Y("[{port: 80, name: a}, {port: 81, name: b}]"), NULL);
    kr_value_map_del(kr_value_get(ip.obj, "spec.ports[0]"), "nodePort");
    kr_request_t up = {
        .op = "update", .res = "v1/services", .ns = "q-count", .name = "ip", .obj = ip.obj};
    kr_reply_t r;
    kr_error_t err;
    assert_int_equal(kr_bus_call(S.bus, &up, S.a, &r, 10000, &err), 0);
    refused(r, "services \"ip\" is forbidden: exceeded quota: objects, requested: "
               "services.nodeports=2, used: services.nodeports=0, limited: "
               "services.nodeports=1");
    kr_value_set(S.a, ip.obj, "spec.ports", Y("[{port: 80}]"), NULL);
    assert_int_equal(kr_bus_call(S.bus, &up, S.a, &r, 10000, &err), 0);
    expect(r, 200);
    /* the same again (a label): nothing more to charge */
    kr_reply_t np = expect(call("get", "v1/services", "q-count", "ip", NULL), 200);
    kr_value_set(S.a, np.obj, "metadata.labels", Y("{a: b}"), NULL);
    up.obj = np.obj;
    assert_int_equal(kr_bus_call(S.bus, &up, S.a, &r, 10000, &err), 0);
    expect(r, 200);
    /* other namespaces are not counted */
    namespace("q-count-other");
    expect(call("create", "v1/configmaps", "q-count-other", NULL, "{metadata: {name: b}}"), 201);
}

static void quota_scopes(void **state)
{
    (void)state;
    namespace("q-scope");
    expect(call("create", QUOTAS, "q-scope", NULL,
                "{metadata: {name: besteffort}, spec: {hard: {pods: '1'},"
                " scopes: [BestEffort]}}"),
           201);
    expect(pod("q-scope", "be1", NULL), 201);
    refused(pod("q-scope", "be2", NULL),
            "pods \"be2\" is forbidden: exceeded quota: besteffort, requested: pods=1, used: "
            "pods=1, limited: pods=1");
    /* a pod with requests is not BestEffort: not counted */
    expect(pod("q-scope", "burst", "{requests: {cpu: 100m}}"), 201);
    expect(pod("q-scope", "burst2", "{requests: {cpu: 100m}}"), 201);

    /* PriorityClass through a scope selector */
    namespace("q-prio");
    expect(call("create", "scheduling.k8s.io/v1/priorityclasses", NULL, NULL,
                "{metadata: {name: high}, value: 1000}"),
           201);
    expect(call("create", QUOTAS, "q-prio", NULL,
                "{metadata: {name: high}, spec: {hard: {pods: '1'}, scopeSelector:"
                " {matchExpressions: [{scopeName: PriorityClass, operator: In,"
                " values: [high]}]}}}"),
           201);
#define HIGH_POD(name)                                                         \
    "{metadata: {name: " name "}, spec: {priorityClassName: high, containers:" \
    " [{name: c, image: i}]}}"
    expect(call("create", PODS, "q-prio", NULL, HIGH_POD("h1")), 201);
    refused(call("create", PODS, "q-prio", NULL, HIGH_POD("h2")),
            "pods \"h2\" is forbidden: exceeded quota: high, requested: pods=1, used: pods=1, "
            "limited: pods=1");
    expect(pod("q-prio", "plain", NULL), 201);
}

/* A pod stuck terminating (its node gone) stops counting once its
 * deletionTimestamp plus its grace period has passed (QuotaV1Pod). */
static void quota_stuck_terminating(void **state)
{
    (void)state;
    namespace("q-stuck");
    expect(
        call("create", QUOTAS, "q-stuck", NULL, "{metadata: {name: q}, spec: {hard: {pods: '1'}}}"),
        201);
    expect(call("create", PODS, "q-stuck", NULL,
                "{metadata: {name: bound}, spec: {nodeName: gone, containers: [{name: c,"
                " image: i}]}}"),
           201);
    kr_request_t del = {.op = "delete",
                        .res = PODS,
                        .ns = "q-stuck",
                        .name = "bound",
                        .opts = Y("{gracePeriodSeconds: 1}")};
    kr_reply_t r;
    kr_error_t err;
    assert_int_equal(kr_bus_call(S.bus, &del, S.a, &r, 10000, &err), 0);
    expect(r, 200);
    /* still there, terminating: it counts for its grace */
    kr_reply_t got = expect(call("get", PODS, "q-stuck", "bound", NULL), 200);
    assert_non_null(kr_value_get(got.obj, "metadata.deletionTimestamp"));
    refused(pod("q-stuck", "next", NULL),
            "pods \"next\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, "
            "limited: pods=1");
    /* deletionTimestamp is now + 1 s; one more second of grace after it */
    for (int i = 0; i < 40; i++) {
        kr_reply_t p = pod("q-stuck", "next", NULL);
        if (p.code == 201)
            return;
        assert_int_equal(p.code, 403);
        kr_bus_dispatch(S.bus, 100, &err);
    }
    fail_msg("the stuck pod still counts after 4 s");
}

/* The quota's status as JSON once it is `want` (polled up to 5 s). */
static void wait_status(const char *ns, const char *name, const char *want)
{
    const kr_value_t *w = Y(want);
    kr_value_t *have = NULL;
    for (int i = 0; i < 100; i++) {
        kr_reply_t r = expect(call("get", QUOTAS, ns, name, NULL), 200);
        have = kr_value_map_get(r.obj, "status");
        if (kr_value_equal(have, w))
            return;
        kr_error_t err;
        kr_bus_dispatch(S.bus, 50, &err);
    }
    kr_buf_t b = KR_BUF_INIT;
    kr_json_encode(have, &b, KR_JSON_COMPACT, NULL);
    fail_msg("status of %s/%s: %s, want %s", ns, name, b.data ? b.data : "null", want);
}

static void quota_status(void **state)
{
    (void)state;
    namespace("q-status");
    expect(pod("q-status", "before", "{requests: {cpu: 250m, memory: 64Mi}}"), 201);
    kr_reply_t r = expect(call("create", QUOTAS, "q-status", NULL,
                               "{metadata: {name: q}, spec: {hard: {pods: '5', requests.cpu: '2',"
                               " services: '2', count/configmaps: '3'}},"
                               " status: {used: {pods: '4'}}}"),
                          201);
    /* a client's status is dropped on create; the server fills it */
    assert_null(kr_value_map_get(r.obj, "status"));
    wait_status("q-status", "q",
                "{hard: {pods: '5', requests.cpu: '2', services: '2',"
                " count/configmaps: '3'},"
                " used: {pods: '1', requests.cpu: 250m, services: '0',"
                " count/configmaps: '0'}}");
    expect(pod("q-status", "two", "{requests: {cpu: 500m}}"), 201);
    expect(call("create", "v1/configmaps", "q-status", NULL, "{metadata: {name: c}}"), 201);
    wait_status("q-status", "q",
                "{hard: {pods: '5', requests.cpu: '2', services: '2',"
                " count/configmaps: '3'},"
                " used: {pods: '2', requests.cpu: 750m, services: '0',"
                " count/configmaps: '1'}}");
    expect(call("delete", PODS, "q-status", "before", NULL), 200);
    /* a new spec.hard shows in status.hard */
    kr_reply_t q = expect(call("get", QUOTAS, "q-status", "q", NULL), 200);
    kr_value_set(S.a, q.obj, "spec.hard", Y("{pods: '10'}"), NULL);
    kr_request_t req = {.op = "update", .res = QUOTAS, .ns = "q-status", .name = "q", .obj = q.obj};
    kr_error_t err;
    assert_int_equal(kr_bus_call(S.bus, &req, S.a, &r, 10000, &err), 0);
    expect(r, 200);
    wait_status("q-status", "q", "{hard: {pods: '10'}, used: {pods: '1'}}");
}

/* Enough pods to make the kept facts' table grow (past 512 entries, with
 * deletes among the creates): the count stays exact. */
static void quota_many_pods(void **state)
{
    (void)state;
    namespace("q-many");
    expect(call("create", QUOTAS, "q-many", NULL,
                "{metadata: {name: q}, spec: {hard: {pods: '1100', requests.cpu: '1100'}}}"),
           201);
    for (int i = 0; i < 1100; i++) {
        kr_arena_reset(S.a);
        expect(pod("q-many", kr_arena_printf(S.a, "p%d", i), "{requests: {cpu: '1'}}"), 201);
        if (i % 100 != 99)
            continue;
        /* a delete now and then, made up at once */
        expect(call("delete", PODS, "q-many", kr_arena_printf(S.a, "p%d", i - 50), NULL), 200);
        expect(pod("q-many", kr_arena_printf(S.a, "p%d-again", i - 50), "{requests: {cpu: '1'}}"),
               201);
    }
    refused(pod("q-many", "over", "{requests: {cpu: '1'}}"),
            "pods \"over\" is forbidden: exceeded quota: q, requested: pods=1,requests.cpu=1, "
            "used: pods=1100,requests.cpu=1100, limited: pods=1100,requests.cpu=1100");
    expect(call("delete", PODS, "q-many", "p7", NULL), 200);
    expect(pod("q-many", "fits", "{requests: {cpu: '1'}}"), 201);
}

/* Creates sent together, all in flight at once: exactly the quota's worth
 * pass (the ones admitted but not yet committed count). */
static int replies_201, replies_403, replies;

static void on_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    (void)ud;
    replies++;
    if (r->code == 201)
        replies_201++;
    else if (r->code == 403)
        replies_403++;
    else
        fprintf(stderr, "unexpected reply %d: %s\n", r->code, kr_reply_msg(r));
}

static void quota_racing_creates(void **state)
{
    (void)state;
    namespace("q-race");
    expect(call("create", QUOTAS, "q-race", NULL,
                "{metadata: {name: five}, spec: {hard: {count/configmaps: '5'}}}"),
           201);
    enum { N = 40 };
    replies = replies_201 = replies_403 = 0;
    for (int i = 0; i < N; i++) {
        kr_request_t req = {.op = "create",
                            .res = "v1/configmaps",
                            .ns = "q-race",
                            .obj = Y(kr_arena_printf(S.a, "{metadata: {name: cm%d}}", i))};
        kr_error_t err;
        if (kr_bus_send(S.bus, &req, on_reply, NULL, 10000, NULL, &err) < 0)
            fail_msg("send: %s", err.message);
    }
    for (int i = 0; i < 200 && replies < N; i++) {
        kr_error_t err;
        kr_bus_dispatch(S.bus, 100, &err);
    }
    assert_int_equal(replies, N);
    assert_int_equal(replies_201, 5);
    assert_int_equal(replies_403, N - 5);
    kr_reply_t list = expect(call("list", "v1/configmaps", "q-race", NULL, NULL), 200);
    assert_int_equal(kr_value_len(kr_value_map_get(list.obj, "items")), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limitrange_defaults_and_annotation),
        cmocka_unit_test(limitrange_container_constraints),
        cmocka_unit_test(limitrange_pod_constraints),
        cmocka_unit_test(quota_compute),
        cmocka_unit_test(quota_limits_must_be_set),
        cmocka_unit_test(quota_object_counts),
        cmocka_unit_test(quota_scopes),
        cmocka_unit_test(quota_stuck_terminating),
        cmocka_unit_test(quota_status),
        cmocka_unit_test(quota_many_pods),
        cmocka_unit_test(quota_racing_creates),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
