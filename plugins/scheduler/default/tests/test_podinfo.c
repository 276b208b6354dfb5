/* podinfo.c: what the scheduler reads of a pod, parsed once. */
#include <string.h>

#include "testutil.h"

#define MI (1024LL * 1024)

static void test_requests_init_containers(void **unused)
{
    (void)unused;
    tctx_t *c = tc_new();
    /* computePodResourceRequest's example: CPU 3, memory 3G */
    const kr_sched_pod_t *p =
        tc_pod(c, "metadata: {name: p}\n"
                  "spec:\n"
                  "  initContainers:\n"
                  "  - {name: ic1, resources: {requests: {cpu: '2', memory: 1G}}}\n"
                  "  - {name: ic2, resources: {requests: {cpu: '2', memory: 3G}}}\n"
                  "  containers:\n"
                  "  - {name: c1, resources: {requests: {cpu: '2', memory: 1G}}}\n"
                  "  - {name: c2, resources: {requests: {cpu: '1', memory: 1G}}}\n");
    assert_int_equal(p->requests.milli_cpu, 3000);
    assert_int_equal(p->requests.memory, 3000000000LL);
    assert_int_equal(p->requests.pods, 1);
    assert_int_equal(p->nonzero_milli_cpu, 3000);
    assert_int_equal(p->nonzero_memory, 3000000000LL);
    assert_string_equal(p->ns, "default");
    tc_free(c);
}

static void test_requests_sidecars_overhead(void **unused)
{
    (void)unused;
    tctx_t *c = tc_new();
    /* the sidecar runs beside the app containers and beside the init
     * container declared after it; overhead comes on top */
    const kr_sched_pod_t *p = tc_pod(
        c, "metadata: {name: p, namespace: ns1}\n"
           "spec:\n"
           "  overhead: {cpu: 10m, memory: 1Mi}\n"
           "  initContainers:\n"
           "  - {name: i1, resources: {requests: {cpu: '2', memory: 1G}}}\n"
           "  - name: sc\n"
           "    restartPolicy: Always\n"
           "    resources: {requests: {cpu: 500m, example.com/foo: 3}}\n"
           "  - {name: i2, resources: {requests: {cpu: '2', memory: 3G, example.com/foo: 1}}}\n"
           "  containers:\n"
           "  - {name: c1, resources: {requests: {cpu: '2', memory: 1G}}}\n"
           "  - {name: c2, resources: {requests: {memory: 1G, ephemeral-storage: 1Gi}}}\n");
    assert_int_equal(p->requests.milli_cpu, 2510);
    assert_int_equal(p->requests.memory, 3000000000LL + MI);
    assert_int_equal(p->requests.ephemeral_storage, 1024 * MI);
    assert_int_equal(p->requests.n_scalar, 1);
    assert_string_equal(p->requests.scalar[0].name, "example.com/foo");
    assert_int_equal(p->requests.scalar[0].value, 4); /* i2 (1) + the sidecar (3) */
    /* c2 counts 100m; the sidecar 200Mi */
    assert_int_equal(p->nonzero_milli_cpu, 2610);
    assert_int_equal(p->nonzero_memory, 3000000000LL + 200 * MI + MI);
    tc_free(c);
}

static void test_requests_nonzero_and_pod_level(void **unused)
{
    (void)unused;
    tctx_t *c = tc_new();
    const kr_sched_pod_t *p = tc_pod(c, "metadata: {name: p}\n"
                                        "spec:\n"
                                        "  containers:\n"
                                        "  - {name: a}\n"
                                        "  - {name: b, resources: {requests: {cpu: '0'}}}\n");
    assert_int_equal(p->requests.milli_cpu, 0);
    assert_int_equal(p->requests.memory, 0);
    /* an explicit 0 is a request; a missing one counts the default */
    assert_int_equal(p->nonzero_milli_cpu, 100);
    assert_int_equal(p->nonzero_memory, 400 * MI);

    p = tc_pod(c, "metadata: {name: q}\n"
                  "spec:\n"
                  "  resources: {requests: {cpu: '4'}}\n"
                  "  containers:\n"
                  "  - {name: a, resources: {requests: {cpu: '1', memory: 1Gi}}}\n");
    assert_int_equal(p->requests.milli_cpu, 4000);
    assert_int_equal(p->requests.memory, 1024 * MI);
    assert_int_equal(p->nonzero_milli_cpu, 4000);
    tc_free(c);
}

static void test_ports_tolerations(void **unused)
{
    (void)unused;
    tctx_t *c = tc_new();
    const kr_sched_pod_t *p = tc_pod(
        c, "metadata: {name: p}\n"
           "spec:\n"
           "  initContainers:\n"
           "  - {name: i, ports: [{containerPort: 1, hostPort: 7000}]}\n"
           "  - {name: s, restartPolicy: Always, ports: [{containerPort: 1, hostPort: 7001}]}\n"
           "  containers:\n"
           "  - name: c\n"
           "    ports:\n"
           "    - {containerPort: 80}\n"
           "    - {containerPort: 81, hostPort: 8080}\n"
           "    - {containerPort: 82, hostPort: 8081, protocol: UDP, hostIP: 10.0.0.1}\n"
           "    - {containerPort: 83, hostPort: 8082, hostIP: 0.0.0.0}\n"
           "  tolerations:\n"
           "  - {key: a, operator: Exists}\n"
           "  - {key: b, value: c, effect: NoSchedule}\n"
           "  - {operator: Exists, effect: NoExecute}\n"
           "  - {key: d, operator: Bogus}\n");
    /* the sidecar's port counts, the plain init container's does not */
    assert_int_equal(p->n_ports, 4);
    assert_int_equal(p->ports[0].port, 7001);
    assert_int_equal(p->ports[1].port, 8080);
    assert_string_equal(p->ports[1].protocol, "TCP");
    assert_string_equal(p->ports[1].host_ip, "");
    assert_string_equal(p->ports[2].protocol, "UDP");
    assert_string_equal(p->ports[2].host_ip, "10.0.0.1");
    assert_string_equal(p->ports[3].host_ip, "");
    assert_int_equal(p->n_tolerations, 3);
    assert_true(p->tolerations[0].exists);
    assert_string_equal(p->tolerations[1].value, "c");
    assert_int_equal(p->tolerations[1].effect, KR_SCHED_NO_SCHEDULE);
    assert_string_equal(p->tolerations[2].key, "");
    assert_int_equal(p->tolerations[2].effect, KR_SCHED_NO_EXECUTE);
    tc_free(c);
}

static void test_affinity_terms(void **unused)
{
    (void)unused;
    tctx_t *c = tc_new();
    const kr_sched_pod_t *p =
        tc_place(c, tc_node(c, "metadata: {name: n1}\n"),
                 "metadata: {name: p, namespace: ns1, labels: {app: web, tier: fe}}\n"
                 "spec:\n"
                 "  affinity:\n"
                 "    podAffinity:\n"
                 "      requiredDuringSchedulingIgnoredDuringExecution:\n"
                 "      - labelSelector: {matchLabels: {app: db}}\n"
                 "        namespaces: [other]\n"
                 "        topologyKey: zone\n"
                 "      preferredDuringSchedulingIgnoredDuringExecution:\n"
                 "      - weight: 30\n"
                 "        podAffinityTerm:\n"
                 "          labelSelector: {matchLabels: {app: cache}}\n"
                 "          namespaceSelector: {}\n"
                 "          topologyKey: kubernetes.io/hostname\n"
                 "    podAntiAffinity:\n"
                 "      requiredDuringSchedulingIgnoredDuringExecution:\n"
                 "      - labelSelector: {matchLabels: {app: web}}\n"
                 "        topologyKey: kubernetes.io/hostname\n"
                 "        matchLabelKeys: [tier, absent]\n"
                 "        mismatchLabelKeys: [app]\n");
    assert_null(p->obj);
    assert_true(sched_pod_has_affinity(p));
    assert_true(sched_pod_has_required_anti_affinity(p));
    assert_int_equal(p->n_required_affinity, 1);
    assert_int_equal(p->required_affinity[0].n_namespaces, 1);
    assert_string_equal(p->required_affinity[0].namespaces[0], "other");
    assert_null(p->required_affinity[0].ns_selector);
    assert_string_equal(p->required_affinity[0].topology_key, "zone");
    assert_int_equal(p->n_preferred_affinity, 1);
    assert_int_equal(p->preferred_affinity[0].weight, 30);
    assert_int_equal(p->preferred_affinity[0].n_namespaces, 0);
    assert_true(kr_labelsel_empty(p->preferred_affinity[0].ns_selector));
    /* no namespaces and no selector: the pod's own namespace */
    assert_int_equal(p->required_anti_affinity[0].n_namespaces, 1);
    assert_string_equal(p->required_anti_affinity[0].namespaces[0], "ns1");
    kr_buf_t b = KR_BUF_INIT;
    kr_labelsel_string(p->required_anti_affinity[0].selector, &b);
    assert_string_equal(b.data, "app=web,app notin (web),tier in (fe)");
    kr_buf_free(&b);
    assert_true(kr_value_equal(p->labels, tc_yaml(c, "{app: web, tier: fe}")));

    /* matchLabelKeys cannot turn a null selector (nothing) into one */
    const kr_sched_pod_t *n = tc_pod(c, "metadata: {name: n, labels: {app: web}}\n"
                                        "spec:\n"
                                        "  affinity:\n"
                                        "    podAffinity:\n"
                                        "      requiredDuringSchedulingIgnoredDuringExecution:\n"
                                        "      - {topologyKey: zone, matchLabelKeys: [app]}\n");
    assert_false(kr_labelsel_match(n->required_affinity[0].selector, n->labels));
    assert_false(kr_labelsel_match(n->required_affinity[0].selector, NULL));

    const kr_sched_pod_t *q = tc_pod(c, "metadata: {name: q}\n");
    assert_false(sched_pod_has_affinity(q));
    assert_null(q->labels);
    tc_free(c);
}

static void test_errors(void **unused)
{
    (void)unused;
    tctx_t *c = tc_new();
    kr_error_t err;
    sched_pod_t *p = sched_pod_new(
        tc_yaml(c, "metadata: {name: bad}\n"
                   "spec: {containers: [{name: a, resources: {requests: {cpu: 1x}}}]}\n"),
        false, &err);
    assert_null(p);
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_non_null(strstr(err.message, "pod \"bad\": spec.containers[0].resources.requests[cpu]"));
    assert_non_null(strstr(err.message, "quantities must match the regular expression"));

    p = sched_pod_new(tc_yaml(c, "metadata: {name: sel}\n"
                                 "spec:\n"
                                 "  affinity:\n"
                                 "    podAntiAffinity:\n"
                                 "      requiredDuringSchedulingIgnoredDuringExecution:\n"
                                 "      - labelSelector: {matchLabels: {app: a}}\n"
                                 "        topologyKey: zone\n"
                                 "      - labelSelector:\n"
                                 "          matchExpressions: [{key: app, operator: Bogus}]\n"
                                 "        topologyKey: zone\n"),
                      false, &err);
    assert_null(p); /* the selector of the first term is freed (ASan) */
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_non_null(strstr(err.message, "requiredDuringSchedulingIgnoredDuringExecution[1]"));
    tc_free(c);
}

static void test_resources_parse_add(void **unused)
{
    (void)unused;
    tctx_t *c = tc_new();
    kr_sched_resources_t alloc, acc = {0};
    kr_error_t err;
    assert_int_equal(sched_resources_parse(c->arena,
                                           tc_yaml(c, "{cpu: '4', memory: 8Gi, pods: '110', "
                                                      "nvidia.com/gpu: '2', hugepages-2Mi: 4Mi, "
                                                      "ephemeral-storage: 10Gi, example.com/a: 1, "
                                                      "kubernetes.io/x: 1, foo: 3}"),
                                           &alloc, &err),
                     0);
    assert_int_equal(alloc.milli_cpu, 4000);
    assert_int_equal(alloc.memory, 8192 * MI);
    assert_int_equal(alloc.pods, 110);
    assert_int_equal(alloc.ephemeral_storage, 10240 * MI);
    /* scalars sorted by name; kubernetes.io/ and unqualified names are not */
    assert_int_equal(alloc.n_scalar, 3);
    assert_string_equal(alloc.scalar[0].name, "example.com/a");
    assert_string_equal(alloc.scalar[1].name, "hugepages-2Mi");
    assert_int_equal(alloc.scalar[1].value, 4 * MI);
    assert_string_equal(alloc.scalar[2].name, "nvidia.com/gpu");

    sched_resources_add(c->arena, &acc, &alloc, 1);
    sched_resources_add(c->arena, &acc, &alloc, 1);
    kr_sched_resources_t one;
    assert_int_equal(
        sched_resources_parse(c->arena, tc_yaml(c, "{cpu: 1, a.io/z: 5, a.io/b: 1}"), &one, &err),
        0);
    sched_resources_add(c->arena, &acc, &one, -1);
    assert_int_equal(acc.milli_cpu, 7000);
    assert_int_equal(acc.pods, 220);
    assert_int_equal(acc.n_scalar, 5);
    assert_string_equal(acc.scalar[0].name, "a.io/b");
    assert_int_equal(acc.scalar[0].value, -1);
    assert_string_equal(acc.scalar[4].name, "nvidia.com/gpu");
    assert_int_equal(acc.scalar[4].value, 4);
    assert_string_equal(acc.scalar[3].name, "hugepages-2Mi");
    assert_string_equal(acc.scalar[1].name, "a.io/z");
    assert_int_equal(acc.scalar[1].value, -5);

    assert_true(sched_resources_parse(c->arena, tc_yaml(c, "{memory: lots}"), &one, &err) < 0);
    assert_non_null(strstr(err.message, "resources[memory]"));
    tc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_init_containers),
        cmocka_unit_test(test_requests_sidecars_overhead),
        cmocka_unit_test(test_requests_nonzero_and_pod_level),
        cmocka_unit_test(test_ports_tolerations),
        cmocka_unit_test(test_affinity_terms),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_resources_parse_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
