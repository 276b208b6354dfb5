/* NodeUnschedulable, NodeName, NodeConditions, NodePorts and TaintToleration,
 * with cases from upstream's node_unschedulable_test.go, node_name_test.go,
 * node_ports_test.go and taint_toleration_test.go. */
#include <string.h>

#include "step_util.h"
#include "steps.h"
#include "testutil.h"

#define OK  KR_SCHED_SUCCESS
#define UN  KR_SCHED_UNSCHEDULABLE
#define UNR KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE

typedef struct fcase {
    const char *name;
    const char *pod;  /* spec of the pod to place */
    const char *node; /* the node, YAML */
    kr_sched_code_t code;
    const char *reason;
} fcase_t;

/* Each case: one pod against one node. */
static void run_cases(const char *step, const fcase_t *cases, size_t n)
{
    const kr_sched_step_ops_t *ops = sched_builtin_step(step);
    assert_non_null(ops);
    for (size_t i = 0; i < n; i++) {
        tctx_t *c = tc_new();
        tc_node(c, cases[i].node);
        char *pod = kr_arena_printf(c->arena, "metadata: {name: p, namespace: default}\nspec: %s\n",
                                    cases[i].pod);
        tresult_t r;
        tc_filter(c, ops, tc_pod(c, pod), &r);
        if (r.code[0] != cases[i].code ||
            (cases[i].reason != NULL &&
             (r.reason[0] == NULL || strcmp(r.reason[0], cases[i].reason) != 0)))
            fail_msg("%s: %s: got code %d reason \"%s\", want %d \"%s\"", step, cases[i].name,
                     r.code[0], r.reason[0] ? r.reason[0] : "", cases[i].code,
                     cases[i].reason ? cases[i].reason : "");
        tc_free(c);
    }
}

static void test_node_unschedulable(void **unused)
{
    (void)unused;
    static const char *un = "node(s) were unschedulable";
    const fcase_t cases[] = {
        {"does not schedule pod to unschedulable node", "{}",
         "metadata: {name: n}\nspec: {unschedulable: true}", UNR, un},
        {"schedule pod to normal node", "{}", "metadata: {name: n}\nspec: {unschedulable: false}",
         OK, NULL},
        {"schedule pod with toleration to unschedulable node", "{}",
         "metadata: {name: n}\nspec: {unschedulable: false}", OK, NULL},
        {"schedule pod with toleration to unschedulable node",
         "{tolerations: [{key: node.kubernetes.io/unschedulable, effect: NoSchedule}]}",
         "metadata: {name: n}\nspec: {unschedulable: true}", OK, NULL},
        {"a toleration of another effect does not do",
         "{tolerations: [{key: "
         "node.kubernetes.io/unschedulable, "
         "operator: Exists, effect: NoExecute}]}",
         "metadata: {name: n}\nspec: {unschedulable: true}", UNR, un},
    };
    run_cases("NodeUnschedulable", cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_node_name(void **unused)
{
    (void)unused;
    const fcase_t cases[] = {
        {"no host specified", "{}", "metadata: {name: foo}", OK, NULL},
        {"host matches", "{nodeName: foo}", "metadata: {name: foo}", OK, NULL},
        {"host doesn't match", "{nodeName: bar}", "metadata: {name: foo}", UNR,
         "node(s) didn't match the requested node name"},
    };
    run_cases("NodeName", cases, sizeof(cases) / sizeof(cases[0]));
    /* nothing to check without spec.nodeName: skipped */
    tctx_t *c = tc_new();
    tc_node(c, "metadata: {name: foo}");
    tresult_t r;
    tc_filter(c, &sched_step_node_name, tc_pod(c, "metadata: {name: p}"), &r);
    assert_int_equal(r.prefilter, KR_SCHED_SKIP);
    tc_free(c);
}

static void test_node_conditions(void **unused)
{
    (void)unused;
    const fcase_t cases[] = {
        {"ready", "{}",
         "metadata: {name: n}\nstatus: {conditions: [{type: Ready, status: 'True'}]}", OK, NULL},
        {"no Ready condition yet", "{}", "metadata: {name: n}", OK, NULL},
        {"not ready", "{}",
         "metadata: {name: n}\nstatus: {conditions: [{type: Ready, status: 'False'}]}", UNR,
         "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"},
        {"unknown", "{}",
         "metadata: {name: n}\nstatus: {conditions: [{type: Ready, status: Unknown}]}", UNR,
         "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"},
        {"no network", "{}",
         "metadata: {name: n}\nstatus: {conditions: [{type: NetworkUnavailable, status: 'True'}]}",
         UNR, "node(s) had untolerated taint {node.kubernetes.io/network-unavailable: }"},
        {"network back", "{}",
         "metadata: {name: n}\nstatus: {conditions: [{type: NetworkUnavailable, status: 'False'}]}",
         OK, NULL},
        {"not ready, tolerated (a DaemonSet pod)",
         "{tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists}]}",
         "metadata: {name: n}\nstatus: {conditions: [{type: Ready, status: 'False'}]}", OK, NULL},
        {"unreachable, tolerated for NoExecute only",
         "{tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: "
         "NoExecute}]}",
         "metadata: {name: n}\nstatus: {conditions: [{type: Ready, status: Unknown}]}", UNR,
         "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"},
        {"everything tolerated", "{tolerations: [{operator: Exists}]}",
         "metadata: {name: n}\nstatus: {conditions: [{type: Ready, status: Unknown}, {type: "
         "NetworkUnavailable, status: 'True'}]}",
         OK, NULL},
    };
    run_cases("NodeConditions", cases, sizeof(cases) / sizeof(cases[0]));
}

#define PORTS(...) "{containers: [{name: c, ports: [" __VA_ARGS__ "]}]}"

static void test_node_ports(void **unused)
{
    (void)unused;
    static const char *no = "node(s) didn't have free ports for the requested pod ports";
    /* upstream TestNodePorts: (pod ports, ports in use on the node) */
    static const struct {
        const char *name, *pod, *used;
        bool fits;
    } cases[] = {
        {"same udp port", PORTS("{hostPort: 8080, protocol: UDP, hostIP: 127.0.0.1}"),
         PORTS("{hostPort: 8080, protocol: UDP, hostIP: 127.0.0.1}"), false},
        {"different protocol", PORTS("{hostPort: 8080, protocol: UDP, hostIP: 127.0.0.1}"),
         PORTS("{hostPort: 8080, protocol: TCP, hostIP: 127.0.0.1}"), true},
        {"different port", PORTS("{hostPort: 8080, protocol: TCP, hostIP: 127.0.0.1}"),
         PORTS("{hostPort: 8081, protocol: TCP, hostIP: 127.0.0.1}"), true},
        {"second tcp port conflict",
         PORTS("{hostPort: 8080, protocol: TCP, hostIP: 127.0.0.1}, {hostPort: 8081, protocol: "
               "TCP, hostIP: 127.0.0.1}"),
         PORTS("{hostPort: 8081, protocol: TCP, hostIP: 127.0.0.1}"), false},
        {"first tcp port conflict due to 0.0.0.0 hostIP",
         PORTS("{hostPort: 8001, protocol: TCP, hostIP: 10.0.10.10}, {hostPort: 8001, protocol: "
               "TCP, hostIP: 0.0.0.0}"),
         PORTS("{hostPort: 8001, protocol: TCP, hostIP: 127.0.0.1}"), false},
        {"first tcp port conflict due to 0.0.0.0 hostIP in use",
         PORTS("{hostPort: 8001, protocol: TCP, hostIP: 10.0.10.10}"),
         PORTS("{hostPort: 8001, protocol: TCP, hostIP: 0.0.0.0}"), false},
        {"UDP hostPort conflict due to 0.0.0.0 hostIP",
         PORTS("{hostPort: 8001, protocol: UDP, hostIP: 0.0.0.0}"),
         PORTS("{hostPort: 8001, protocol: UDP, hostIP: 127.0.0.1}"), false},
        {"no conflict with different hostIPs",
         PORTS("{hostPort: 8001, protocol: TCP, hostIP: 10.0.10.10}"),
         PORTS("{hostPort: 8001, protocol: TCP, hostIP: 10.0.10.11}"), true},
        {"empty protocol is TCP", PORTS("{hostPort: 8001}"),
         PORTS("{hostPort: 8001, protocol: TCP}"), false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tctx_t *c = tc_new();
        uint32_t n = tc_node(c, "metadata: {name: n}");
        tc_place(c, n, kr_arena_printf(c->arena, "metadata: {name: e}\nspec: %s", cases[i].used));
        tresult_t r;
        tc_filter(
            c, &sched_step_node_ports,
            tc_pod(c, kr_arena_printf(c->arena, "metadata: {name: p}\nspec: %s", cases[i].pod)),
            &r);
        if ((r.code[0] == OK) != cases[i].fits)
            fail_msg("NodePorts: %s: got %d", cases[i].name, r.code[0]);
        if (!cases[i].fits) {
            assert_int_equal(r.code[0], UN);
            assert_string_equal(r.reason[0], no);
        }
        tc_free(c);
    }
    tctx_t *c = tc_new();
    tc_node(c, "metadata: {name: n}");
    tresult_t r;
    tc_filter(c, &sched_step_node_ports, tc_pod(c, "metadata: {name: p}\nspec: " PORTS("{}")), &r);
    assert_int_equal(r.prefilter, KR_SCHED_SKIP);
    tc_free(c);
}

#define TAINTS(...) "metadata: {name: n}\nspec: {taints: [" __VA_ARGS__ "]}"

static void test_taint_filter(void **unused)
{
    (void)unused;
    const fcase_t cases[] = {
        {"A pod having no tolerations can't be scheduled onto a node with nonempty taints", "{}",
         TAINTS("{key: dedicated, value: user1, effect: NoSchedule}"), UNR,
         "node(s) had untolerated taint {dedicated: user1}"},
        {"A pod which can be scheduled on a dedicated node assigned to user1 with effect "
         "NoSchedule",
         "{tolerations: [{key: dedicated, value: user1, effect: NoSchedule}]}",
         TAINTS("{key: dedicated, value: user1, effect: NoSchedule}"), OK, NULL},
        {"A pod which can't be scheduled on a dedicated node assigned to user2 with effect "
         "NoSchedule",
         "{tolerations: [{key: dedicated, operator: Equal, value: user2, effect: NoSchedule}]}",
         TAINTS("{key: dedicated, value: user1, effect: NoSchedule}"), UNR,
         "node(s) had untolerated taint {dedicated: user1}"},
        {"A pod can be scheduled onto the node, with a toleration uses operator Exists that "
         "tolerates the taints on the node",
         "{tolerations: [{key: foo, operator: Exists, effect: NoSchedule}]}",
         TAINTS("{key: foo, value: bar, effect: NoSchedule}"), OK, NULL},
        {"A pod has multiple tolerations, node has multiple taints, all the taints are "
         "tolerated, pod can be scheduled onto the node",
         "{tolerations: [{key: dedicated, operator: Equal, value: user2, effect: NoSchedule}, "
         "{key: foo, operator: Exists, effect: NoSchedule}]}",
         TAINTS("{key: dedicated, value: user2, effect: NoSchedule}, {key: foo, value: bar, "
                "effect: NoSchedule}"),
         OK, NULL},
        {"A pod has a toleration that keys and values match the taint on the node, but "
         "(non-empty) effect doesn't match, can't be scheduled onto the node",
         "{tolerations: [{key: foo, operator: Equal, value: bar, effect: PreferNoSchedule}]}",
         TAINTS("{key: foo, value: bar, effect: NoSchedule}"), UNR,
         "node(s) had untolerated taint {foo: bar}"},
        {"The pod has a toleration that keys and values match the taint on the node, the effect "
         "of toleration is empty, and the effect of taint is NoSchedule. Pod can be scheduled "
         "onto the node",
         "{tolerations: [{key: foo, operator: Equal, value: bar}]}",
         TAINTS("{key: foo, value: bar, effect: NoSchedule}"), OK, NULL},
        {"The pod has a toleration that key and value don't match the taint on the node, but the "
         "effect of taint on node is PreferNoSchedule. Pod can be scheduled onto the node",
         "{tolerations: [{key: dedicated, operator: Equal, value: user2, effect: NoSchedule}]}",
         TAINTS("{key: dedicated, value: user1, effect: PreferNoSchedule}"), OK, NULL},
        {"The pod has no toleration, but the effect of taint on node is PreferNoSchedule. Pod can "
         "be scheduled onto the node",
         "{}", TAINTS("{key: dedicated, value: user1, effect: PreferNoSchedule}"), OK, NULL},
        {"The pod has no toleration, and the effect of taint on node is NoExecute", "{}",
         TAINTS("{key: foo, value: bar, effect: NoExecute}"), UNR,
         "node(s) had untolerated taint {foo: bar}"},
        {"the first untolerated taint is named", "{tolerations: [{key: a, operator: Exists}]}",
         TAINTS("{key: a, value: x, effect: NoSchedule}, {key: b, effect: NoSchedule}"), UNR,
         "node(s) had untolerated taint {b: }"},
    };
    run_cases("TaintToleration", cases, sizeof(cases) / sizeof(cases[0]));
}

/* The same message for many nodes is built once and is the same string. */
static void test_taint_filter_messages_shared(void **unused)
{
    (void)unused;
    tctx_t *c = tc_new();
    for (int i = 0; i < 4; i++)
        tc_node(c, i == 3 ? TAINTS("{key: other, effect: NoExecute}")
                          : TAINTS("{key: dedicated, value: gpu, effect: NoSchedule}"));
    tresult_t r;
    tc_filter(c, &sched_step_taint_toleration, tc_pod(c, "metadata: {name: p}"), &r);
    assert_string_equal(r.reason[0], "node(s) had untolerated taint {dedicated: gpu}");
    assert_ptr_equal(r.reason[0], r.reason[1]);
    assert_ptr_equal(r.reason[0], r.reason[2]);
    assert_string_equal(r.reason[3], "node(s) had untolerated taint {other: }");
    tc_free(c);
}

typedef struct scase {
    const char *name;
    const char *tolerations;
    const char *nodes[3];
    int64_t want[3];
} scase_t;

static void test_taint_score(void **unused)
{
    (void)unused;
    static const scase_t cases[] = {
        {"node with taints tolerated by the pod, gets a higher score than those node with "
         "intolerable taints",
         "[{key: foo, operator: Equal, value: bar, effect: PreferNoSchedule}]",
         {TAINTS("{key: foo, value: bar, effect: PreferNoSchedule}"),
          TAINTS("{key: foo, value: blah, effect: PreferNoSchedule}"), NULL},
         {100, 0}},
        {"the nodes that all of their taints are tolerated by the pod, get the same score, no "
         "matter how many tolerable taints a node has",
         "[{key: cpu-type, operator: Equal, value: arm64, effect: PreferNoSchedule}, {key: "
         "disk-type, operator: Equal, value: ssd, effect: PreferNoSchedule}]",
         {TAINTS(), TAINTS("{key: cpu-type, value: arm64, effect: PreferNoSchedule}"),
          TAINTS("{key: cpu-type, value: arm64, effect: PreferNoSchedule}, {key: disk-type, "
                 "value: ssd, effect: PreferNoSchedule}")},
         {100, 100, 100}},
        {"the more intolerable taints a node has, the lower score it gets.",
         "[{key: foo, operator: Equal, value: bar, effect: PreferNoSchedule}]",
         {TAINTS(), TAINTS("{key: cpu-type, value: arm64, effect: PreferNoSchedule}"),
          TAINTS("{key: cpu-type, value: arm64, effect: PreferNoSchedule}, {key: disk-type, "
                 "value: ssd, effect: PreferNoSchedule}")},
         {100, 50, 0}},
        {"only taints and tolerations that have effect PreferNoSchedule are checked by "
         "prioritizeTaintToleration function",
         "[{key: cpu-type, operator: Equal, value: arm64, effect: NoSchedule}, {key: disk-type, "
         "operator: Equal, value: ssd, effect: NoSchedule}]",
         {TAINTS(), TAINTS("{key: cpu-type, value: arm64, effect: NoSchedule}"),
          TAINTS("{key: cpu-type, value: arm64, effect: PreferNoSchedule}, {key: disk-type, "
                 "value: ssd, effect: PreferNoSchedule}")},
         {100, 100, 0}},
        {"Default behaviour No taints and tolerations, lands on node with no taints",
         "[]",
         {TAINTS(), TAINTS("{key: cpu-type, value: arm64, effect: PreferNoSchedule}"), NULL},
         {100, 0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tctx_t *c = tc_new();
        for (int k = 0; k < 3 && cases[i].nodes[k] != NULL; k++)
            tc_node(c, cases[i].nodes[k]);
        tresult_t r;
        tc_score(c, &sched_step_taint_toleration,
                 tc_pod(c, kr_arena_printf(c->arena, "metadata: {name: p}\nspec: {tolerations: %s}",
                                           cases[i].tolerations)),
                 &r);
        assert_int_equal(r.prefilter, KR_SCHED_SUCCESS);
        for (uint32_t k = 0; k < c->n_nodes; k++)
            if (r.score[k] != cases[i].want[k])
                fail_msg("%s: node %u: score %lld, want %lld", cases[i].name, k,
                         (long long)r.score[k], (long long)cases[i].want[k]);
        tc_free(c);
    }
    /* no PreferNoSchedule taint anywhere: every node would score 100 */
    tctx_t *c = tc_new();
    tc_node(c, TAINTS("{key: a, effect: NoSchedule}"));
    tc_node(c, TAINTS());
    tresult_t r;
    tc_score(c, &sched_step_taint_toleration, tc_pod(c, "metadata: {name: p}"), &r);
    assert_int_equal(r.prefilter, KR_SCHED_SKIP);
    tc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_unschedulable),
        cmocka_unit_test(test_node_name),
        cmocka_unit_test(test_node_conditions),
        cmocka_unit_test(test_node_ports),
        cmocka_unit_test(test_taint_filter),
        cmocka_unit_test(test_taint_filter_messages_shared),
        cmocka_unit_test(test_taint_score),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
