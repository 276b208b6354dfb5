/* Unit tests of the agent's pure parts (spec.h), with the cases upstream's
 * own tests use where it has them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "spec.h"

/* ---- expansion -------------------------------------------------------------------- */

static void test_expand(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    ag_env_t env = {0};
    ag_env_set(a, &env, "VAR_A", "A");
    ag_env_set(a, &env, "VAR_B", "B");
    ag_env_set(a, &env, "VAR_EMPTY", "");
    /* cases from third_party/forked/golang/expansion/expand_test.go */
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"$(VAR_A)", "A"},
        {"___$(VAR_B)___", "___B___"},
        {"$(VAR_A)-$(VAR_B)", "A-B"},
        {"$(VAR_DNE)", "$(VAR_DNE)"},
        {"$$(VAR_A)", "$(VAR_A)"},
        {"$$$(VAR_A)", "$A"},
        {"$$$$(VAR_A)", "$$(VAR_A)"},
        {"f00__(VAR_A)__", "f00__(VAR_A)__"},
        {"$(VAR_A", "$(VAR_A"},
        {"$VAR_A", "$VAR_A"},
        {"$", "$"},
        {"$(VAR_EMPTY)", ""},
        {"$()", "$()"}, /* an empty name is undefined too */
        {"$$", "$"},
        {"foo$$", "foo$"},
        {"$(VAR_A)$(VAR_B)$", "AB$"},
        {"$_", "$_"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(ag_expand(a, cases[i].in, &env), cases[i].want);
    kr_arena_destroy(&a);
}

/* ---- argv ---------------------------------------------------------------------------- */

static void test_argv(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    char *ep[] = {"/ep", "x", NULL};
    char *cmd[] = {"/cmd", "y", NULL};
    ag_env_t env = {0};
    ag_env_set(a, &env, "W", "world");
    const char **argv;
    size_t argc;
    kr_error_t err;
    /* nothing: entrypoint + cmd */
    assert_int_equal(ag_container_argv(a, yaml(a, "name: c"), ep, cmd, &env, &argv, &argc, &err),
                     0);
    assert_int_equal(argc, 4);
    assert_string_equal(argv[2], "/cmd");
    assert_null(argv[4]);
    /* command only: the image's cmd is not used */
    assert_int_equal(ag_container_argv(a, yaml(a, "command: [sh, -c, 'echo $(W)']"), ep, cmd, &env,
                                       &argv, &argc, &err),
                     0);
    assert_int_equal(argc, 3);
    assert_string_equal(argv[2], "echo world");
    /* args only: entrypoint + args */
    assert_int_equal(
        ag_container_argv(a, yaml(a, "args: [hello, $(W)]"), ep, cmd, &env, &argv, &argc, &err), 0);
    assert_int_equal(argc, 4);
    assert_string_equal(argv[0], "/ep");
    assert_string_equal(argv[3], "world");
    /* both */
    assert_int_equal(ag_container_argv(a, yaml(a, "{command: [a], args: [b]}"), ep, cmd, &env,
                                       &argv, &argc, &err),
                     0);
    assert_int_equal(argc, 2);
    assert_string_equal(argv[1], "b");
    /* nothing anywhere */
    assert_true(ag_container_argv(a, yaml(a, "name: c"), NULL, NULL, &env, &argv, &argc, &err) < 0);
    assert_string_equal(err.message, "no command specified");
    kr_arena_destroy(&a);
}

/* ---- environment ------------------------------------------------------------------ */

static int lookup(void *ud, const char *what, const char *ns, const char *name,
                  const kr_value_t **obj, kr_error_t *err)
{
    kr_arena_t *a = ud;
    assert_string_equal(ns, "ns1");
    if (strcmp(what, "configmaps") == 0 && strcmp(name, "cm") == 0) {
        *obj = yaml(a, "data: {greeting: hello, '1bad': x, other: o}");
        return 0;
    }
    if (strcmp(what, "secrets") == 0 && strcmp(name, "sec") == 0) {
        *obj = yaml(a, "data: {password: c2VjcmV0}"); /* "secret" */
        return 0;
    }
    return kr_error_set(err, KR_E_NOT_FOUND, "%s \"%s\" not found",
                        strcmp(what, "secrets") == 0 ? "secret" : "configmap", name);
}

static const char *pod_yaml =
    "metadata: {name: p1, namespace: ns1, uid: u-1, labels: {app: web, tier: fe}}\n"
    "spec:\n"
    "  nodeName: n1\n"
    "  serviceAccountName: sa1\n"
    "  containers:\n"
    "  - name: c\n"
    "    resources: {requests: {cpu: 250m, memory: 64Mi}, limits: {memory: 128Mi}}\n"
    "    envFrom:\n"
    "    - configMapRef: {name: cm}\n"
    "      prefix: CM_\n"
    "    - secretRef: {name: nope, optional: true}\n"
    "    env:\n"
    "    - {name: A, value: a}\n"
    "    - {name: B, value: '$(A)-$(CM_greeting)-$(Z)'}\n"
    "    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n"
    "    - {name: APP, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}\n"
    "    - {name: LABELS, valueFrom: {fieldRef: {fieldPath: metadata.labels}}}\n"
    "    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}\n"
    "    - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}\n"
    "    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}\n"
    "    - {name: HIP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}\n"
    "    - {name: G, valueFrom: {configMapKeyRef: {name: cm, key: greeting}}}\n"
    "    - {name: OPT, valueFrom: {configMapKeyRef: {name: cm, key: missing, optional: true}}}\n"
    "    - {name: PW, valueFrom: {secretKeyRef: {name: sec, key: password}}}\n"
    "    - {name: CPU_REQ, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}\n"
    "    - {name: CPU_LIM, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}\n"
    "    - {name: MEM_LIM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: "
    "1Mi}}}\n"
    "    - {name: A, value: again}\n";

static void test_env(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *pod = yaml(a, pod_yaml);
    ag_env_ctx_t ctx = {.pod = pod,
                        .pod_ip = "10.244.0.5",
                        .host_ip = "192.168.1.2",
                        .alloc_milli_cpu = 3500,
                        .alloc_memory = 1 << 30,
                        .lookup = lookup,
                        .ud = a};
    ag_env_t env = {0};
    kr_error_t err;
    const kr_value_t *c = kr_value_get(pod, "spec.containers[0]");
    assert_int_equal(ag_env_build(a, c, &ctx, &env, &err), 0);
    assert_string_equal(ag_env_get(&env, "CM_greeting"), "hello");
    assert_string_equal(ag_env_get(&env, "CM_other"), "o");
    assert_string_equal(ag_env_get(&env, "CM_1bad"), "x"); /* valid with the prefix */
    assert_string_equal(ag_env_get(&env, "B"), "a-hello-$(Z)");
    assert_string_equal(ag_env_get(&env, "A"), "again");
    assert_string_equal(env.kv[3].key, "A"); /* replaced in place, after the 3 CM_ keys */
    assert_string_equal(ag_env_get(&env, "NAME"), "p1");
    assert_string_equal(ag_env_get(&env, "APP"), "web");
    assert_string_equal(ag_env_get(&env, "LABELS"), "app=\"web\"\ntier=\"fe\"");
    assert_string_equal(ag_env_get(&env, "NODE"), "n1");
    assert_string_equal(ag_env_get(&env, "SA"), "sa1");
    assert_string_equal(ag_env_get(&env, "IP"), "10.244.0.5");
    assert_string_equal(ag_env_get(&env, "HIP"), "192.168.1.2");
    assert_string_equal(ag_env_get(&env, "G"), "hello");
    assert_null(ag_env_get(&env, "OPT"));
    assert_string_equal(ag_env_get(&env, "PW"), "secret");
    assert_string_equal(ag_env_get(&env, "CPU_REQ"), "250");
    assert_string_equal(ag_env_get(&env, "CPU_LIM"), "4"); /* allocatable 3.5 rounded up */
    assert_string_equal(ag_env_get(&env, "MEM_LIM"), "128");

    /* a missing key that is not optional */
    const kr_value_t *bad =
        yaml(a, "env: [{name: X, valueFrom: {configMapKeyRef: {name: cm, key: k}}}]");
    ag_env_t e2 = {0};
    assert_true(ag_env_build(a, bad, &ctx, &e2, &err) < 0);
    assert_string_equal(err.message, "couldn't find key k in ConfigMap ns1/cm");
    /* a missing object */
    bad = yaml(a, "env: [{name: X, valueFrom: {secretKeyRef: {name: gone, key: k}}}]");
    assert_true(ag_env_build(a, bad, &ctx, &e2, &err) < 0);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
    assert_string_equal(err.message, "secret \"gone\" not found");
    bad = yaml(a, "envFrom: [{configMapRef: {name: gone}}]");
    assert_true(ag_env_build(a, bad, &ctx, &e2, &err) < 0);
    assert_string_equal(err.message, "configmap \"gone\" not found");
    /* without a prefix an invalid key is skipped, as upstream does */
    ag_env_t e3 = {0};
    assert_int_equal(
        ag_env_build(a, yaml(a, "envFrom: [{configMapRef: {name: cm}}]"), &ctx, &e3, &err), 0);
    assert_null(ag_env_get(&e3, "1bad"));
    assert_string_equal(ag_env_get(&e3, "greeting"), "hello");
    kr_arena_destroy(&a);
}

/* ---- service variables (pkg/kubelet/envvars) ------------------------------------------- */

static const char *services_yaml =
    "- metadata: {name: foo-bar, namespace: ns1}\n"
    "  spec: {clusterIP: 1.2.3.4, ports: [{protocol: TCP, port: 8083}]}\n"
    "- metadata: {name: abc-123, namespace: ns1}\n"
    "  spec:\n"
    "    clusterIP: 5.6.7.8\n"
    "    ports: [{name: u-d-p, protocol: UDP, port: 8081}, {name: t-c-p, protocol: TCP, port: "
    "8082}]\n"
    "- metadata: {name: q-u-u-x, namespace: ns1}\n"
    "  spec: {clusterIP: 9.8.7.6, ports: [{port: 8084}, {name: '8085', protocol: TCP, port: "
    "8085}]}\n"
    "- metadata: {name: headless, namespace: ns1}\n"
    "  spec: {clusterIP: None, ports: [{port: 80}]}\n"
    "- metadata: {name: external, namespace: ns1}\n"
    "  spec: {clusterIP: '', ports: [{port: 80}]}\n"
    "- metadata: {name: other, namespace: ns2}\n"
    "  spec: {clusterIP: 1.1.1.1, ports: [{port: 80}]}\n"
    "- metadata: {name: v6, namespace: ns1}\n"
    "  spec: {clusterIP: 'fd00::1', ports: [{name: http, protocol: SCTP, port: 80}]}\n"
    "- metadata: {name: kubernetes, namespace: default}\n"
    "  spec: {clusterIP: 10.96.0.1, ports: [{name: https, protocol: TCP, port: 443}]}\n";

static ag_env_t service_env_of(kr_arena_t *a, const kr_value_t *svcs, const char *ns, bool links)
{
    const kr_value_t *list[16];
    size_t n = kr_value_len(svcs);
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++)
        list[i] = kr_value_array_get(svcs, i);
    ag_env_t env = {0};
    ag_service_env(a, list, n, ns, links, &env);
    return env;
}

static void test_service_env(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *svcs = yaml(a, services_yaml);
    ag_env_t env = service_env_of(a, svcs, "ns1", true);
    static const char *const want[][2] = {
        {"FOO_BAR_SERVICE_HOST", "1.2.3.4"},
        {"FOO_BAR_SERVICE_PORT", "8083"},
        {"FOO_BAR_PORT", "tcp://1.2.3.4:8083"},
        {"FOO_BAR_PORT_8083_TCP", "tcp://1.2.3.4:8083"},
        {"FOO_BAR_PORT_8083_TCP_PROTO", "tcp"},
        {"FOO_BAR_PORT_8083_TCP_PORT", "8083"},
        {"FOO_BAR_PORT_8083_TCP_ADDR", "1.2.3.4"},
        {"ABC_123_SERVICE_HOST", "5.6.7.8"},
        {"ABC_123_SERVICE_PORT", "8081"},
        {"ABC_123_SERVICE_PORT_U_D_P", "8081"},
        {"ABC_123_SERVICE_PORT_T_C_P", "8082"},
        {"ABC_123_PORT", "udp://5.6.7.8:8081"},
        {"ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"},
        {"ABC_123_PORT_8081_UDP_PROTO", "udp"},
        {"ABC_123_PORT_8081_UDP_PORT", "8081"},
        {"ABC_123_PORT_8081_UDP_ADDR", "5.6.7.8"},
        {"ABC_123_PORT_8082_TCP", "tcp://5.6.7.8:8082"},
        {"ABC_123_PORT_8082_TCP_PROTO", "tcp"},
        {"ABC_123_PORT_8082_TCP_PORT", "8082"},
        {"ABC_123_PORT_8082_TCP_ADDR", "5.6.7.8"},
        {"Q_U_U_X_SERVICE_HOST", "9.8.7.6"},
        {"Q_U_U_X_SERVICE_PORT", "8084"},
        {"Q_U_U_X_SERVICE_PORT_8085", "8085"},
        {"Q_U_U_X_PORT", "tcp://9.8.7.6:8084"},
        {"Q_U_U_X_PORT_8084_TCP", "tcp://9.8.7.6:8084"}, /* no protocol: TCP */
        {"Q_U_U_X_PORT_8084_TCP_PROTO", "tcp"},
        {"Q_U_U_X_PORT_8084_TCP_PORT", "8084"},
        {"Q_U_U_X_PORT_8084_TCP_ADDR", "9.8.7.6"},
        {"Q_U_U_X_PORT_8085_TCP", "tcp://9.8.7.6:8085"},
        {"Q_U_U_X_PORT_8085_TCP_PROTO", "tcp"},
        {"Q_U_U_X_PORT_8085_TCP_PORT", "8085"},
        {"Q_U_U_X_PORT_8085_TCP_ADDR", "9.8.7.6"},
        {"V6_SERVICE_HOST", "fd00::1"},
        {"V6_SERVICE_PORT", "80"},
        {"V6_SERVICE_PORT_HTTP", "80"},
        {"V6_PORT", "sctp://[fd00::1]:80"},
        {"V6_PORT_80_SCTP", "sctp://[fd00::1]:80"},
        {"V6_PORT_80_SCTP_PROTO", "sctp"},
        {"V6_PORT_80_SCTP_PORT", "80"},
        {"V6_PORT_80_SCTP_ADDR", "fd00::1"},
        {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
        {"KUBERNETES_SERVICE_PORT", "443"},
        {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
        {"KUBERNETES_PORT", "tcp://10.96.0.1:443"},
        {"KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"},
        {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
        {"KUBERNETES_PORT_443_TCP_PORT", "443"},
        {"KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"},
    };
    size_t nwant = sizeof want / sizeof *want;
    for (size_t i = 0; i < nwant; i++) {
        const char *got = ag_env_get(&env, want[i][0]);
        if (got == NULL)
            fail_msg("%s not set", want[i][0]);
        assert_string_equal(got, want[i][1]);
    }
    assert_int_equal(env.n, nwant); /* None, "", another namespace: nothing */
    /* in name order: abc-123 first, kubernetes among them */
    assert_string_equal(env.kv[0].key, "ABC_123_SERVICE_HOST");

    /* enableServiceLinks false: the master service only */
    env = service_env_of(a, svcs, "ns1", false);
    assert_int_equal(env.n, 8);
    for (size_t i = 0; i < env.n; i++)
        assert_int_equal(strncmp(env.kv[i].key, "KUBERNETES_", 11), 0);
    /* another namespace without Services of its own */
    env = service_env_of(a, svcs, "ns3", true);
    assert_int_equal(env.n, 8);
    assert_string_equal(ag_env_get(&env, "KUBERNETES_SERVICE_HOST"), "10.96.0.1");
    /* the namespace's own "kubernetes" wins over default's */
    const kr_value_t *mine = yaml(
        a, "- metadata: {name: kubernetes, namespace: ns1}\n"
           "  spec: {clusterIP: 10.96.5.5, ports: [{name: web, port: 80}]}\n"
           "- metadata: {name: kubernetes, namespace: default}\n"
           "  spec: {clusterIP: 10.96.0.1, ports: [{name: https, protocol: TCP, port: 443}]}\n");
    env = service_env_of(a, mine, "ns1", true);
    assert_string_equal(ag_env_get(&env, "KUBERNETES_SERVICE_HOST"), "10.96.5.5");
    assert_string_equal(ag_env_get(&env, "KUBERNETES_SERVICE_PORT_WEB"), "80");
    assert_null(ag_env_get(&env, "KUBERNETES_SERVICE_PORT_HTTPS"));
    /* ... unless service links are off: default's */
    env = service_env_of(a, mine, "ns1", false);
    assert_string_equal(ag_env_get(&env, "KUBERNETES_SERVICE_HOST"), "10.96.0.1");
    /* none at all */
    env = service_env_of(a, yaml(a, "[]"), "ns1", true);
    assert_int_equal(env.n, 0);
    kr_arena_destroy(&a);
}

/* The container's own variables win over the service variables, and
 * $(VAR) sees both (the container's first). */
static void test_env_services(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    ag_env_t svc_env = service_env_of(a, yaml(a, services_yaml), "ns1", true);
    const kr_value_t *pod = yaml(a, "metadata: {name: p, namespace: ns1}\n");
    ag_env_ctx_t ctx = {.pod = pod, .services = &svc_env};
    const kr_value_t *c = yaml(
        a, "env:\n"
           "- {name: URL, value: 'https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)'}\n"
           "- {name: FOO_BAR_SERVICE_HOST, value: mine}\n"
           "- {name: SEEN, value: '$(FOO_BAR_SERVICE_HOST)/$(FOO_BAR_SERVICE_PORT)'}\n"
           "- {name: LATER, value: '$(EARLY)'}\n"
           "- {name: EARLY, value: e}\n");
    ag_env_t env = {0};
    kr_error_t err;
    assert_int_equal(ag_env_build(a, c, &ctx, &env, &err), 0);
    assert_string_equal(ag_env_get(&env, "URL"), "https://10.96.0.1:443");
    assert_string_equal(ag_env_get(&env, "FOO_BAR_SERVICE_HOST"), "mine");
    assert_string_equal(ag_env_get(&env, "SEEN"), "mine/8083");
    assert_string_equal(ag_env_get(&env, "LATER"), "$(EARLY)");
    assert_string_equal(ag_env_get(&env, "KUBERNETES_PORT_443_TCP_ADDR"), "10.96.0.1");
    /* the container's first, in its order; then the services' */
    assert_string_equal(env.kv[0].key, "URL");
    assert_string_equal(env.kv[4].key, "EARLY");
    assert_int_equal(env.n, 5 + svc_env.n - 1);
    /* the argv sees them too */
    const char **argv;
    size_t argc;
    assert_int_equal(ag_container_argv(a, yaml(a, "args: ['$(ABC_123_SERVICE_PORT_T_C_P)']"),
                                       (char *[]){"/bin/sh", NULL}, NULL, &env, &argv, &argc, &err),
                     0);
    assert_string_equal(argv[1], "8082");
    kr_arena_destroy(&a);
}

/* ---- QoS and resources ----------------------------------------------------------------- */

static void test_qos(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"containers: [{name: a}]", "BestEffort"},
        {"containers: [{name: a, resources: {requests: {cpu: '0'}}}]", "BestEffort"},
        {"containers: [{name: a, resources: {limits: {cpu: 1, memory: 1Gi}, requests: {cpu: 1, "
         "memory: 1Gi}}}]",
         "Guaranteed"},
        {"containers: [{name: a, resources: {limits: {cpu: 1, memory: 1Gi}, requests: {cpu: 1000m, "
         "memory: 1024Mi}}}]",
         "Guaranteed"},
        {"containers: [{name: a, resources: {limits: {cpu: 1, memory: 1Gi}, requests: {cpu: 500m, "
         "memory: 1Gi}}}]",
         "Burstable"},
        {"containers: [{name: a, resources: {limits: {cpu: 1}, requests: {cpu: 1}}}]", "Burstable"},
        {"containers: [{name: a, resources: {limits: {cpu: 1, memory: 1Gi}, requests: {cpu: 1, "
         "memory: 1Gi}}}, {name: b}]",
         "Burstable"},
        {"containers: [{name: a, resources: {limits: {cpu: 1, memory: 1Gi}, requests: {cpu: 1, "
         "memory: 1Gi}}}]\ninitContainers: [{name: i, resources: {requests: {memory: 1Mi}}}]",
         "Burstable"},
        {"containers: [{name: a, resources: {requests: {memory: 10Mi}}}]", "Burstable"},
        /* requests defaulted from limits by the API */
        {"containers: [{name: a, resources: {limits: {cpu: 2, memory: 2Gi}, requests: {cpu: 2, "
         "memory: 2Gi, ephemeral-storage: 1Gi}}}]",
         "Guaranteed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = ag_qos_class(yaml(a, cases[i].spec));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: got %s, want %s", i, got, cases[i].want);
    }
    kr_arena_destroy(&a);
}

static void test_resources(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    /* MilliCPUToShares, milliCPUToQuota (helpers_linux_test.go) */
    assert_int_equal(ag_milli_cpu_to_shares(0), 2);
    assert_int_equal(ag_milli_cpu_to_shares(1), 2);
    assert_int_equal(ag_milli_cpu_to_shares(100), 102);
    assert_int_equal(ag_milli_cpu_to_shares(1000), 1024);
    assert_int_equal(ag_milli_cpu_to_shares(500000), 262144);
    assert_int_equal(ag_milli_cpu_to_quota(0, 100000), 0);
    assert_int_equal(ag_milli_cpu_to_quota(5, 100000), 1000);
    assert_int_equal(ag_milli_cpu_to_quota(9, 100000), 1000);
    assert_int_equal(ag_milli_cpu_to_quota(10, 100000), 1000);
    assert_int_equal(ag_milli_cpu_to_quota(200, 100000), 20000);
    assert_int_equal(ag_milli_cpu_to_quota(500, 100000), 50000);
    assert_int_equal(ag_milli_cpu_to_quota(1500, 100000), 150000);

    kr_rt_resources_t r;
    const kr_value_t *c = yaml(
        a, "resources: {requests: {cpu: 250m, memory: 1Gi}, limits: {cpu: 500m, memory: 2Gi}}");
    ag_container_resources(c, "Burstable", 8LL << 30, -1000, &r);
    assert_int_equal(r.cpu_shares, 256);
    assert_int_equal(r.cpu_quota, 50000);
    assert_int_equal(r.cpu_period, 100000);
    assert_int_equal(r.memory_limit, 2LL << 30);
    assert_int_equal(r.oom_score_adj, 875); /* 1000 - 1000*1Gi/8Gi */
    /* a limit alone: shares from the limit */
    ag_container_resources(yaml(a, "resources: {limits: {cpu: 2}}"), "Burstable", 8LL << 30, -1000,
                           &r);
    assert_int_equal(r.cpu_shares, 2048);
    assert_int_equal(r.cpu_quota, 200000);
    assert_int_equal(r.memory_limit, 0);
    assert_int_equal(r.oom_score_adj, 999);
    ag_container_resources(yaml(a, "name: x"), "BestEffort", 8LL << 30, -1000, &r);
    assert_int_equal(r.cpu_shares, 2);
    assert_int_equal(r.cpu_quota, 0);
    assert_int_equal(r.oom_score_adj, 1000);
    assert_int_equal(ag_oom_score_adj(c, "Guaranteed", 8LL << 30, -1000), -997);
    assert_int_equal(ag_oom_score_adj(c, "Guaranteed", 8LL << 30, 0), 0); /* the floor */
    /* a request above capacity: the burstable minimum */
    assert_int_equal(ag_oom_score_adj(yaml(a, "resources: {requests: {memory: 16Gi}}"), "Burstable",
                                      8LL << 30, -1000),
                     3);
    kr_arena_destroy(&a);
}

/* ---- back-off ------------------------------------------------------------------------- */

static void test_backoff(void **state)
{
    (void)state;
    ag_backoff_t b = {0};
    int64_t t = 1000000;
    /* first failure: no entry, restart at once */
    assert_false(ag_backoff_in_backoff_since(&b, t, t));
    ag_backoff_next(&b, t, t);
    assert_int_equal(b.backoff_ms, 10000);
    /* second failure 1 s later: 10 s back-off from its end */
    int64_t f2 = t + 1000;
    assert_true(ag_backoff_in_backoff_since(&b, f2, f2 + 5000));
    assert_false(ag_backoff_in_backoff_since(&b, f2, f2 + 10000));
    ag_backoff_next(&b, f2, f2 + 10000);
    assert_int_equal(b.backoff_ms, 20000);
    int64_t now = f2 + 10000;
    for (int i = 0; i < 6; i++)
        ag_backoff_next(&b, now, now);
    assert_int_equal(b.backoff_ms, 300000); /* capped at 5 min */
    /* a container that ran 10 min since the last restart starts over */
    int64_t later = now + 600001;
    assert_false(ag_backoff_in_backoff_since(&b, later, later));
    ag_backoff_next(&b, later, later);
    assert_int_equal(b.backoff_ms, 10000);

    char buf[32];
    static const struct {
        int64_t ms;
        const char *want;
    } d[] = {{10000, "10s"},   {20000, "20s"}, {80000, "1m20s"}, {160000, "2m40s"},
             {300000, "5m0s"}, {1500, "1.5s"}, {0, "0s"},        {3600000, "1h0m0s"}};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        ag_go_duration(d[i].ms, buf, sizeof buf);
        assert_string_equal(buf, d[i].want);
    }
}

/* ---- phase and conditions -------------------------------------------------------------- */

static const char *phase(kr_arena_t *a, const char *spec, const char *init, const char *st,
                         bool terminal)
{
    return ag_pod_phase(yaml(a, spec), init ? yaml(a, init) : NULL, st ? yaml(a, st) : NULL,
                        terminal);
}

#define RUNNING(n)   "{name: " n ", state: {running: {startedAt: t}}, ready: true}"
#define EXITED(n, c) "{name: " n ", state: {terminated: {exitCode: " c "}}}"
#define WAITING(n)   "{name: " n ", state: {waiting: {reason: ContainerCreating}}}"
#define CRASH(n, c)                                                                        \
    "{name: " n ", state: {waiting: {reason: CrashLoopBackOff}}, lastState: {terminated: " \
    "{exitCode: " c "}}}"

static void test_phase(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const char *two = "{restartPolicy: Always, containers: [{name: a}, {name: b}]}";
    assert_string_equal(phase(a, two, NULL, "[" RUNNING("a") ", " RUNNING("b") "]", false),
                        "Running");
    assert_string_equal(phase(a, two, NULL, "[" RUNNING("a") ", " WAITING("b") "]", false),
                        "Pending");
    assert_string_equal(phase(a, two, NULL, "[" RUNNING("a") "]", false), "Pending");
    assert_string_equal(phase(a, two, NULL, "[" RUNNING("a") ", " EXITED("b", "1") "]", false),
                        "Running");
    assert_string_equal(phase(a, two, NULL, "[" EXITED("a", "0") ", " EXITED("b", "1") "]", false),
                        "Running"); /* Always: restarting */
    assert_string_equal(phase(a, two, NULL, "[" CRASH("a", "1") ", " RUNNING("b") "]", false),
                        "Running");
    const char *never = "{restartPolicy: Never, containers: [{name: a}, {name: b}]}";
    assert_string_equal(
        phase(a, never, NULL, "[" EXITED("a", "0") ", " EXITED("b", "0") "]", false), "Succeeded");
    assert_string_equal(
        phase(a, never, NULL, "[" EXITED("a", "0") ", " EXITED("b", "2") "]", false), "Failed");
    const char *onf = "{restartPolicy: OnFailure, containers: [{name: a}]}";
    assert_string_equal(phase(a, onf, NULL, "[" EXITED("a", "1") "]", false), "Running");
    assert_string_equal(phase(a, onf, NULL, "[" EXITED("a", "0") "]", false), "Succeeded");
    /* terminal (deleted): Always pods end Succeeded or Failed */
    assert_string_equal(phase(a, two, NULL, "[" EXITED("a", "0") ", " EXITED("b", "143") "]", true),
                        "Failed");
    assert_string_equal(phase(a, two, NULL, "[" EXITED("a", "0") ", " EXITED("b", "0") "]", true),
                        "Succeeded");
    /* init containers */
    const char *init =
        "{restartPolicy: Never, initContainers: [{name: i}], containers: [{name: a}]}";
    assert_string_equal(phase(a, init, "[" RUNNING("i") "]", "[" WAITING("a") "]", false),
                        "Pending");
    assert_string_equal(phase(a, init, "[" EXITED("i", "1") "]", "[" WAITING("a") "]", false),
                        "Failed");
    const char *init_always =
        "{restartPolicy: Always, initContainers: [{name: i}], containers: [{name: a}]}";
    assert_string_equal(phase(a, init_always, "[" CRASH("i", "1") "]", "[" WAITING("a") "]", false),
                        "Pending");
    assert_string_equal(
        phase(a, init_always, "[" EXITED("i", "0") "]", "[" RUNNING("a") "]", false), "Running");
    kr_arena_destroy(&a);
}

static const kr_value_t *cond(const kr_value_t *conds, const char *type)
{
    for (size_t i = 0; i < kr_value_len(conds); i++)
        if (strcmp(kr_value_map_str(kr_value_array_get(conds, i), "type"), type) == 0)
            return kr_value_array_get(conds, i);
    fail_msg("no condition %s", type);
    return NULL;
}

static void test_conditions(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *spec =
        yaml(a, "{initContainers: [{name: i}], containers: [{name: a}, {name: b}]}");
    const kr_value_t *init = yaml(a, "[" RUNNING("i") "]");
    const kr_value_t *st = yaml(a, "[" WAITING("a") ", " WAITING("b") "]");
    const kr_value_t *old =
        yaml(a, "[{type: PodScheduled, status: 'True', lastTransitionTime: '2020-01-01T00:00:00Z'},"
                " {type: example.com/gate, status: 'True', lastTransitionTime: x}]");
    kr_value_t *c = ag_pod_conditions(a, spec, "Pending", init, st, true, old, "NOW");
    assert_int_equal(kr_value_len(c), 6);
    assert_string_equal(kr_value_map_str(kr_value_array_get(c, 0), "type"), "PodScheduled");
    assert_string_equal(kr_value_map_str(cond(c, "PodScheduled"), "lastTransitionTime"),
                        "2020-01-01T00:00:00Z");
    assert_string_equal(kr_value_map_str(cond(c, "PodReadyToStartContainers"), "status"), "True");
    const kr_value_t *ini = cond(c, "Initialized");
    assert_string_equal(kr_value_map_str(ini, "status"), "False");
    assert_string_equal(kr_value_map_str(ini, "reason"), "ContainersNotInitialized");
    assert_string_equal(kr_value_map_str(ini, "message"), "containers with incomplete status: [i]");
    const kr_value_t *cr = cond(c, "ContainersReady");
    assert_string_equal(kr_value_map_str(cr, "reason"), "ContainersNotReady");
    assert_string_equal(kr_value_map_str(cr, "message"), "containers with unready status: [a b]");
    assert_string_equal(kr_value_map_str(cond(c, "Ready"), "message"),
                        "containers with unready status: [a b]");
    assert_string_equal(kr_value_map_str(cond(c, "Ready"), "lastTransitionTime"), "NOW");
    assert_string_equal(kr_value_map_str(kr_value_array_get(c, 5), "type"), "example.com/gate");

    /* all ready: True, and the transition time moves only on a change */
    init = yaml(a, "[" EXITED("i", "0") "]");
    st = yaml(a, "[" RUNNING("a") ", " RUNNING("b") "]");
    kr_value_t *c2 = ag_pod_conditions(a, spec, "Running", init, st, true, c, "LATER");
    assert_string_equal(kr_value_map_str(cond(c2, "Ready"), "status"), "True");
    assert_string_equal(kr_value_map_str(cond(c2, "Ready"), "lastTransitionTime"), "LATER");
    assert_null(kr_value_map_get(cond(c2, "Ready"), "reason"));
    assert_string_equal(
        kr_value_map_str(cond(c2, "PodReadyToStartContainers"), "lastTransitionTime"), "NOW");
    kr_value_t *c3 = ag_pod_conditions(a, spec, "Running", init, st, true, c2, "EVEN_LATER");
    assert_true(kr_value_equal(c2, c3));

    /* succeeded: PodCompleted */
    const kr_value_t *done = yaml(a, "[" EXITED("a", "0") ", " EXITED("b", "0") "]");
    kr_value_t *c4 = ag_pod_conditions(a, spec, "Succeeded", init, done, false, c3, "END");
    assert_string_equal(kr_value_map_str(cond(c4, "Ready"), "reason"), "PodCompleted");
    assert_string_equal(kr_value_map_str(cond(c4, "Initialized"), "reason"), "PodCompleted");
    assert_string_equal(kr_value_map_str(cond(c4, "PodReadyToStartContainers"), "status"), "False");
    kr_value_t *c5 = ag_pod_conditions(a, spec, "Failed", init, done, false, c3, "END");
    assert_string_equal(kr_value_map_str(cond(c5, "ContainersReady"), "reason"), "PodFailed");
    /* unknown containers */
    kr_value_t *c6 = ag_pod_conditions(a, spec, "Pending", NULL, NULL, false, NULL, "T");
    assert_string_equal(kr_value_map_str(cond(c6, "Initialized"), "message"),
                        "containers with unknown status: [i]");
    assert_string_equal(kr_value_map_str(cond(c6, "ContainersReady"), "message"),
                        "containers with unknown status: [a b]");
    kr_arena_destroy(&a);
}

static void test_sidecars(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const char *spec =
        "{restartPolicy: Never, initContainers: [{name: side, restartPolicy: Always},"
        " {name: i}], containers: [{name: a}]}";
#define SIDE_RUNNING(started) \
    "{name: side, state: {running: {startedAt: t}}, ready: true, started: " started "}"
    /* a sidecar not started yet keeps the pod Pending and not Initialized */
    assert_string_equal(phase(a, spec, "[" SIDE_RUNNING("false") "]", "[" WAITING("a") "]", false),
                        "Pending");
    /* started, the regular init done, the app running: Running */
    assert_string_equal(phase(a, spec, "[" SIDE_RUNNING("true") ", " EXITED("i", "0") "]",
                              "[" RUNNING("a") "]", false),
                        "Running");
    /* the app done under Never while the sidecar still runs: Succeeded */
    assert_string_equal(phase(a, spec, "[" SIDE_RUNNING("true") ", " EXITED("i", "0") "]",
                              "[" EXITED("a", "0") "]", false),
                        "Succeeded");
    /* a sidecar crash-looping after the app started does not make it Pending */
    assert_string_equal(phase(a, spec, "[" CRASH("side", "1") ", " EXITED("i", "0") "]",
                              "[" RUNNING("a") "]", false),
                        "Running");
    const kr_value_t *sp = yaml(a, spec);
    kr_value_t *c = ag_pod_conditions(a, sp, "Pending", yaml(a, "[" SIDE_RUNNING("false") "]"),
                                      yaml(a, "[" WAITING("a") "]"), true, NULL, "T");
    assert_string_equal(kr_value_map_str(cond(c, "Initialized"), "message"),
                        "containers with unknown status: [i], containers with incomplete status: "
                        "[side]");
    /* an unready sidecar makes the pod unready */
    c = ag_pod_conditions(
        a, sp, "Running",
        yaml(a, "[{name: side, state: {running: {}}, ready: false, started: true}, " EXITED(
                    "i", "0") "]"),
        yaml(a, "[" RUNNING("a") "]"), true, NULL, "T");
    assert_string_equal(kr_value_map_str(cond(c, "Initialized"), "status"), "True");
    assert_string_equal(kr_value_map_str(cond(c, "ContainersReady"), "message"),
                        "containers with unready status: [side]");
#undef SIDE_RUNNING
    kr_arena_destroy(&a);
}

#define HOSTS_HEAD                                                                           \
    "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "  \
    "ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n" \
    "fe00::2\tip6-allrouters\n"

static void test_hosts_file(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    /* the pod's name as its hostname */
    const kr_value_t *pod = yaml(a, "metadata: {name: web-0, namespace: ns1}\nspec: {}");
    assert_string_equal(ag_hosts_file(a, pod, "10.244.1.7", "cluster.local"),
                        HOSTS_HEAD "10.244.1.7\tweb-0\n");
    /* hostname + subdomain: the FQDN first; hostAliases after */
    pod = yaml(a, "metadata: {name: p, namespace: ns1}\nspec: {hostname: h, subdomain: sub, "
                  "hostAliases: [{ip: 1.2.3.4, hostnames: [foo, bar]}]}");
    assert_string_equal(ag_hosts_file(a, pod, "10.244.1.8", "c.local"),
                        HOSTS_HEAD "10.244.1.8\th.sub.ns1.svc.c.local\th\n"
                                   "\n# Entries added by HostAliases.\n1.2.3.4\tfoo\tbar\n");
    /* a long name is cut to a DNS label, without a trailing '-' */
    pod = yaml(a, "metadata: {name: "
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-b, "
                  "namespace: d}\nspec: {}");
    assert_string_equal(ag_hosts_file(a, pod, "10.244.1.9", NULL), HOSTS_HEAD
                        "10.244.1.9\t"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
    kr_arena_destroy(&a);
}

static void test_resolv_conf(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const char *host = "# generated\nnameserver 192.168.1.1\nnameserver 192.168.1.2\n"
                       "search example.com\noptions edns0 ndots:2\n";
    const kr_value_t *pod = yaml(a, "metadata: {namespace: ns1}\nspec: {dnsPolicy: ClusterFirst}");
    /* no cluster DNS: the host's file, as the kubelet falls back */
    assert_string_equal(ag_resolv_conf(a, pod, host, NULL, NULL),
                        "nameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch example.com\n"
                        "options edns0 ndots:2\n");
    assert_string_equal(ag_resolv_conf(a, pod, host, "10.96.0.10", "cluster.local"),
                        "nameserver 10.96.0.10\nsearch ns1.svc.cluster.local svc.cluster.local "
                        "cluster.local example.com\noptions ndots:5\n");
    /* hostNetwork with ClusterFirst: the host's; ClusterFirstWithHostNet: the cluster's */
    pod = yaml(a, "metadata: {namespace: ns1}\nspec: {dnsPolicy: ClusterFirst, hostNetwork: true}");
    assert_string_equal(ag_resolv_conf(a, pod, host, "10.96.0.10", "c.local"),
                        "nameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch example.com\n"
                        "options edns0 ndots:2\n");
    pod = yaml(a, "metadata: {namespace: ns1}\nspec: {dnsPolicy: ClusterFirstWithHostNet, "
                  "hostNetwork: true}");
    assert_string_equal(ag_resolv_conf(a, pod, host, "10.96.0.10", "c.local"),
                        "nameserver 10.96.0.10\nsearch ns1.svc.c.local svc.c.local c.local "
                        "example.com\noptions ndots:5\n");
    /* None: dnsConfig only; options override by name */
    pod = yaml(a, "spec: {dnsPolicy: None, dnsConfig: {nameservers: [1.1.1.1], searches: [a.b], "
                  "options: [{name: ndots, value: '1'}, {name: rotate}]}}");
    assert_string_equal(ag_resolv_conf(a, pod, host, "10.96.0.10", "c.local"),
                        "nameserver 1.1.1.1\nsearch a.b\noptions ndots:1 rotate\n");
    pod = yaml(a, "spec: {dnsPolicy: Default, dnsConfig: {options: [{name: ndots, value: '3'}]}}");
    assert_string_equal(ag_resolv_conf(a, pod, host, "10.96.0.10", "c.local"),
                        "nameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch example.com\n"
                        "options edns0 ndots:3\n");
    kr_arena_destroy(&a);
}

static void test_termination_message(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const char *log = "2024-01-01T00:00:00.1Z stdout F first\n"
                      "2024-01-01T00:00:00.2Z stderr P part \n"
                      "2024-01-01T00:00:00.3Z stderr F one\n";
    assert_string_equal(ag_termination_message(a, "bye", "File", 1, log), "bye");
    assert_null(ag_termination_message(a, "", "File", 1, log));
    assert_null(ag_termination_message(a, NULL, "FallbackToLogsOnError", 0, log));
    assert_string_equal(ag_termination_message(a, "", "FallbackToLogsOnError", 1, log),
                        "first\npart one\n");
    /* the last 80 lines */
    kr_buf_t b = KR_BUF_INIT;
    for (int i = 0; i < 100; i++)
        kr_buf_printf(&b, "t stdout F line%d\n", i);
    const char *m = ag_termination_message(a, NULL, "FallbackToLogsOnError", 2, b.data);
    assert_memory_equal(m, "line20\n", 7);
    kr_buf_free(&b);
    kr_arena_destroy(&a);
}

static void test_times(void **state)
{
    (void)state;
    char buf[64];
    ag_time_str(1700000000123456789LL, buf, sizeof buf);
    assert_string_equal(buf, "2023-11-14T22:13:20Z");
    ag_time_str_micro(1700000000123456789LL, buf, sizeof buf);
    assert_string_equal(buf, "2023-11-14T22:13:20.123456Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),       cmocka_unit_test(test_argv),
        cmocka_unit_test(test_env),          cmocka_unit_test(test_qos),
        cmocka_unit_test(test_resources),    cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_phase),        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_times),        cmocka_unit_test(test_hosts_file),
        cmocka_unit_test(test_resolv_conf),  cmocka_unit_test(test_termination_message),
        cmocka_unit_test(test_sidecars),     cmocka_unit_test(test_service_env),
        cmocka_unit_test(test_env_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
