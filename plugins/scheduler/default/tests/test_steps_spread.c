/* PodTopologySpread, with cases after upstream's podtopologyspread
 * filtering_test.go (TestSingleConstraint) and scoring_test.go. */
#include <string.h>

#include "step_util.h"
#include "steps.h"
#include "testutil.h"

#define OK  KR_SCHED_SUCCESS
#define UN  KR_SCHED_UNSCHEDULABLE
#define UNR KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE

static const char *skew_msg = "node(s) didn't match pod topology spread constraints";
static const char *label_msg =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/* A constraint on `key` with selector "foo exists". */
#define TSC(skew, key, when, extra)                                       \
    "{maxSkew: " #skew ", topologyKey: " key ", whenUnsatisfiable: " when \
    ", labelSelector: {matchExpressions: [{key: foo, operator: Exists}]}" extra "}"
#define SPREAD_POD(labels, ...)                                     \
    "metadata: {name: p, namespace: default, labels: " labels "}\n" \
    "spec: {topologySpreadConstraints: [" __VA_ARGS__ "]}"

/* node-a and node-b in zone1, node-x and node-y in zone2 (upstream's). */
static tctx_t *cluster(bool zone_on_b)
{
    tctx_t *c = tc_new();
    tc_node(c, "metadata: {name: node-a, labels: {zone: zone1, node: node-a, "
               "kubernetes.io/hostname: node-a}}");
    tc_node(c, zone_on_b ? "metadata: {name: node-b, labels: {zone: zone1, node: node-b, "
                           "kubernetes.io/hostname: node-b}}"
                         : "metadata: {name: node-b, labels: {node: node-b, "
                           "kubernetes.io/hostname: node-b}}");
    tc_node(c, "metadata: {name: node-x, labels: {zone: zone2, node: node-x, "
               "kubernetes.io/hostname: node-x}}");
    tc_node(c, "metadata: {name: node-y, labels: {zone: zone2, node: node-y, "
               "kubernetes.io/hostname: node-y}}");
    return c;
}

/* `counts` matching pods (label foo) on each node. */
static void place(tctx_t *c, const int counts[4], const char *ns)
{
    for (uint32_t n = 0; n < 4; n++)
        for (int k = 0; k < counts[n]; k++)
            tc_place(c, n,
                     kr_arena_printf(c->arena,
                                     "metadata: {name: p-%u-%d, namespace: %s, labels: {foo: ''}}",
                                     n, k, ns));
}

static void filter_expect(tctx_t *c, const char *pod, const kr_sched_code_t want[4],
                          const char *what)
{
    tresult_t r;
    tc_filter(c, &sched_step_topology_spread, tc_pod(c, pod), &r);
    for (uint32_t i = 0; i < 4; i++) {
        if (r.code[i] != want[i])
            fail_msg("%s: node %u: code %d, want %d (%s)", what, i, r.code[i], want[i],
                     r.reason[i] ? r.reason[i] : "");
        if (want[i] == UN)
            assert_string_equal(r.reason[i], skew_msg);
        if (want[i] == UNR)
            assert_string_equal(r.reason[i], label_msg);
    }
}

static void test_filter_single_constraint(void **unused)
{
    (void)unused;
    const char *zone_pod = SPREAD_POD("{foo: ''}", TSC(1, "zone", "DoNotSchedule", ""));
    tctx_t *c = cluster(true);
    {
        const kr_sched_code_t want[4] = {OK, OK, OK, OK};
        filter_expect(c, zone_pod, want, "no existing pods");
        filter_expect(c,
                      SPREAD_POD("{foo: ''}", "{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: "
                                              "DoNotSchedule, labelSelector: {matchExpressions: "
                                              "[{key: bar, operator: Exists}]}}"),
                      want, "no existing pods, incoming pod doesn't match itself");
    }
    {
        /* pods of other namespaces do not count */
        const int counts[4] = {2, 1, 0, 0};
        place(c, counts, "ns2");
        const kr_sched_code_t want[4] = {OK, OK, OK, OK};
        filter_expect(c, zone_pod, want, "existing pods in a different namespace do not count");
    }
    tc_free(c);

    c = cluster(true);
    {
        const int counts[4] = {2, 1, 0, 3};
        place(c, counts, "default");
        const kr_sched_code_t want[4] = {OK, OK, OK, OK};
        filter_expect(c, zone_pod, want, "pods spread across zones as 3/3, all nodes fit");
        const kr_sched_code_t hosts[4] = {UN, UN, OK, UN};
        filter_expect(c, SPREAD_POD("{foo: ''}", TSC(1, "node", "DoNotSchedule", "")), hosts,
                      "pods spread across nodes as 2/1/0/3, only node-x fits");
        const kr_sched_code_t skew2[4] = {UN, OK, OK, UN};
        filter_expect(c, SPREAD_POD("{foo: ''}", TSC(2, "node", "DoNotSchedule", "")), skew2,
                      "pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit");
        const kr_sched_code_t nomatch[4] = {UN, OK, OK, UN};
        filter_expect(c, SPREAD_POD("{bar: ''}", TSC(1, "node", "DoNotSchedule", "")), nomatch,
                      "pods spread across nodes as 2/1/0/3, but pod doesn't match itself");
        const kr_sched_code_t rack[4] = {UNR, UNR, UNR, UNR};
        filter_expect(c, SPREAD_POD("{foo: ''}", TSC(1, "rack", "DoNotSchedule", "")), rack,
                      "pod cannot be scheduled as all nodes don't have label 'rack'");
        /* ScheduleAnyway constraints do not filter */
        tresult_t r;
        tc_filter(c, &sched_step_topology_spread,
                  tc_pod(c, SPREAD_POD("{foo: ''}", TSC(1, "node", "ScheduleAnyway", ""))), &r);
        assert_int_equal(r.prefilter, KR_SCHED_SKIP);
    }
    tc_free(c);

    c = cluster(false);
    {
        const int counts[4] = {1, 1, 1, 1};
        place(c, counts, "default");
        const kr_sched_code_t want[4] = {OK, UNR, UN, UN};
        filter_expect(c, zone_pod, want,
                      "pods spread across zones as 1/2 due to absence of label 'zone' on node-b");
    }
    tc_free(c);
}

static void test_filter_min_domains_policies(void **unused)
{
    (void)unused;
    tctx_t *c = cluster(true);
    const int counts[4] = {1, 0, 1, 0};
    place(c, counts, "default");
    {
        /* two domains, fewer than minDomains 3: the global minimum counts as 0 */
        const kr_sched_code_t want[4] = {UN, UN, UN, UN};
        filter_expect(c,
                      SPREAD_POD("{foo: ''}", TSC(1, "zone", "DoNotSchedule", ", minDomains: 3")),
                      want, "minDomains bigger than the number of domains");
        const kr_sched_code_t ok[4] = {OK, OK, OK, OK};
        filter_expect(c,
                      SPREAD_POD("{foo: ''}", TSC(1, "zone", "DoNotSchedule", ", minDomains: 2")),
                      ok, "minDomains met");
    }
    tc_free(c);

    c = cluster(true);
    const int one[4] = {1, 0, 0, 0};
    place(c, one, "default");
    {
        /* nodeAffinityPolicy Honor (default): zone2 is outside the pod's
         * node selector, so zone1 is the only domain and its minimum is 1
         * (NodeAffinity, not this step, keeps the pod out of zone2) */
        const kr_sched_code_t honor[4] = {OK, OK, OK, OK};
        filter_expect(
            c,
            "metadata: {name: p, labels: {foo: ''}}\nspec: {nodeSelector: {zone: "
            "zone1}, topologySpreadConstraints: [" TSC(1, "zone", "DoNotSchedule", "") "]}",
            honor, "nodeAffinityPolicy Honor");
        const kr_sched_code_t ignore[4] = {UN, UN, OK, OK};
        filter_expect(c,
                      "metadata: {name: p, labels: {foo: ''}}\nspec: {nodeSelector: {zone: "
                      "zone1}, topologySpreadConstraints: [" TSC(
                          1, "zone", "DoNotSchedule", ", nodeAffinityPolicy: Ignore") "]}",
                      ignore, "nodeAffinityPolicy Ignore");
    }
    tc_free(c);

    /* nodeTaintsPolicy: zone2's nodes are tainted */
    c = tc_new();
    tc_node(c, "metadata: {name: node-a, labels: {zone: zone1}}");
    tc_node(c, "metadata: {name: node-b, labels: {zone: zone1}}");
    tc_node(c, "metadata: {name: node-x, labels: {zone: zone2}}\nspec: {taints: [{key: k, effect: "
               "NoSchedule}]}");
    tc_node(c, "metadata: {name: node-y, labels: {zone: zone2}}\nspec: {taints: [{key: k, effect: "
               "NoSchedule}]}");
    place(c, one, "default");
    {
        const kr_sched_code_t ignore[4] = {UN, UN, OK, OK};
        filter_expect(c, SPREAD_POD("{foo: ''}", TSC(1, "zone", "DoNotSchedule", "")), ignore,
                      "nodeTaintsPolicy Ignore (default)");
        const kr_sched_code_t honor[4] = {OK, OK, OK, OK};
        filter_expect(
            c,
            SPREAD_POD("{foo: ''}", TSC(1, "zone", "DoNotSchedule", ", nodeTaintsPolicy: Honor")),
            honor, "nodeTaintsPolicy Honor");
    }
    tc_free(c);
}

static void test_filter_match_label_keys_terminating(void **unused)
{
    (void)unused;
    tctx_t *c = cluster(true);
    tc_place(c, 0, "metadata: {name: e1, labels: {foo: '', app: b}}");
    tc_place(c, 1, "metadata: {name: e2, labels: {foo: '', app: b}}");
    tc_place(c, 1,
             "metadata: {name: e3, labels: {foo: '', app: a}, deletionTimestamp: "
             "'2026-01-01T00:00:00Z'}");
    {
        const kr_sched_code_t plain[4] = {UN, UN, OK, OK};
        filter_expect(c, SPREAD_POD("{foo: '', app: a}", TSC(1, "zone", "DoNotSchedule", "")),
                      plain, "without matchLabelKeys");
        /* only app=a pods count, and the terminating one does not */
        const kr_sched_code_t keys[4] = {OK, OK, OK, OK};
        filter_expect(c,
                      SPREAD_POD("{foo: '', app: a}",
                                 TSC(1, "zone", "DoNotSchedule", ", matchLabelKeys: [app]")),
                      keys, "matchLabelKeys");
    }
    tc_free(c);
}

static void test_filter_preemption(void **unused)
{
    (void)unused;
    const kr_sched_step_ops_t *ops = &sched_step_topology_spread;
    tctx_t *c = cluster(true);
    const kr_sched_pod_t *a1 = tc_place(c, 0, "metadata: {name: a1, labels: {foo: ''}}");
    const kr_sched_pod_t *a2 = tc_place(c, 0, "metadata: {name: a2, labels: {foo: ''}}");
    const kr_sched_pod_t *pod =
        tc_pod(c, SPREAD_POD("{foo: ''}", TSC(1, "kubernetes.io/hostname", "DoNotSchedule", "")));
    c->cycle = (kr_sched_cycle_t){.arena = c->arena, .snapshot = &c->snap};
    void *state = NULL;
    kr_sched_status_t st = {0};
    assert_int_equal(ops->prefilter(NULL, &c->cycle, pod, &state, &st), OK);
    assert_int_equal(ops->filter(NULL, state, pod, c->node_ptrs[0], &st), UN);
    void *copy = ops->state_clone(NULL, &c->cycle, state);
    ops->state_remove_pod(NULL, copy, pod, a1, c->node_ptrs[0]);
    memset(&st, 0, sizeof(st));
    assert_int_equal(ops->filter(NULL, copy, pod, c->node_ptrs[0], &st), UN);
    ops->state_remove_pod(NULL, copy, pod, a2, c->node_ptrs[0]);
    memset(&st, 0, sizeof(st));
    assert_int_equal(ops->filter(NULL, copy, pod, c->node_ptrs[0], &st), OK);
    /* the original is untouched; adding to node-x makes it the fuller one */
    assert_int_equal(ops->filter(NULL, state, pod, c->node_ptrs[0], &st), UN);
    ops->state_add_pod(NULL, copy, pod, a1, c->node_ptrs[2]);
    ops->state_add_pod(NULL, copy, pod, a2, c->node_ptrs[2]);
    memset(&st, 0, sizeof(st));
    assert_int_equal(ops->filter(NULL, copy, pod, c->node_ptrs[2], &st), UN);
    ops->state_free(NULL, copy); /* a clone owns nothing */
    ops->state_free(NULL, state);
    tc_free(c);
}

static void score_expect(tctx_t *c, const char *pod, const int64_t want[4], const char *what)
{
    tresult_t r;
    tc_score(c, &sched_step_topology_spread, tc_pod(c, pod), &r);
    assert_int_equal(r.prefilter, OK);
    for (uint32_t i = 0; i < 4; i++)
        if (r.score[i] != want[i])
            fail_msg("%s: node %u: %lld, want %lld", what, i, (long long)r.score[i],
                     (long long)want[i]);
}

static void test_score(void **unused)
{
    (void)unused;
    tctx_t *c = cluster(true);
    {
        const int64_t want[4] = {100, 100, 100, 100};
        score_expect(c, SPREAD_POD("{foo: ''}", TSC(1, "node", "ScheduleAnyway", "")), want,
                     "one constraint on node, no existing pods");
    }
    const int counts[4] = {2, 1, 0, 3};
    place(c, counts, "default");
    {
        /* weight log(4+2); raw scores round(2w)=4, round(w)=2, 0, round(3w)=5;
         * normalized 100*(max+min-s)/max */
        const int64_t want[4] = {20, 60, 100, 0};
        score_expect(c, SPREAD_POD("{foo: ''}", TSC(1, "node", "ScheduleAnyway", "")), want,
                     "one constraint on node, all 4 nodes are candidates");
        /* kubernetes.io/hostname counts per node in score, with the same weight */
        score_expect(
            c, SPREAD_POD("{foo: ''}", TSC(1, "kubernetes.io/hostname", "ScheduleAnyway", "")),
            want, "one constraint on hostname");
        /* zones 3/3: all equal */
        const int64_t zones[4] = {100, 100, 100, 100};
        score_expect(c, SPREAD_POD("{foo: ''}", TSC(1, "zone", "ScheduleAnyway", "")), zones,
                     "one constraint on zone, 3/3");
    }
    tresult_t r;
    tc_score(c, &sched_step_topology_spread, tc_pod(c, "metadata: {name: p}"), &r);
    assert_int_equal(r.prefilter, KR_SCHED_SKIP);
    tc_free(c);

    /* a node without the zone label is ignored (scores 0) */
    c = tc_new();
    tc_node(c, "metadata: {name: node-a, labels: {zone: zone1}}");
    tc_node(c, "metadata: {name: node-b, labels: {zone: zone1}}");
    tc_node(c, "metadata: {name: node-x, labels: {zone: zone2}}");
    tc_node(c, "metadata: {name: node-y}");
    const int ones[4] = {1, 1, 1, 1};
    place(c, ones, "default");
    {
        /* zone1: 2 pods, zone2: 1 (node-y's pod is in no zone); weight log(4):
         * raw 3, 3, 1; normalized over 1..3 */
        const int64_t want[4] = {33, 33, 100, 0};
        score_expect(c, SPREAD_POD("{foo: ''}", TSC(1, "zone", "ScheduleAnyway", "")), want,
                     "zone with an ignored node");
        /* maxSkew adds maxSkew-1 to every node's raw score: 5, 5, 3 */
        const int64_t skew3[4] = {60, 60, 100, 0};
        score_expect(c, SPREAD_POD("{foo: ''}", TSC(3, "zone", "ScheduleAnyway", "")), skew3,
                     "zone with maxSkew 3");
    }
    tc_free(c);
}

/* the counters under the spread and inter-pod steps: growth past the
 * hint, upstream's "entries that drop to 0 are gone" count, clones */
static void test_tpmap(void **unused)
{
    (void)unused;
    kr_arena_t *a = kr_arena_new(0);
    sched_tpmap_t m;
    sched_tpmap_init(&m, a, 2);
    char *values[200];
    for (int i = 0; i < 200; i++) {
        values[i] = kr_arena_printf(a, "v%d", i);
        sched_tpmap_add(&m, "zone", values[i], i % 3);
    }
    assert_int_equal(m.used, 200);
    assert_int_equal(m.nonzero, 200 - 67); /* i % 3 == 0 adds 0 */
    for (int i = 0; i < 200; i++)
        assert_int_equal(sched_tpmap_get(&m, "zone", values[i]), i % 3);
    assert_int_equal(sched_tpmap_get(&m, "region", "v1"), 0);
    assert_null(sched_tpmap_find(&m, "zone", "nope"));
    sched_tpmap_t copy;
    sched_tpmap_clone(&copy, &m, a);
    sched_tpmap_add(&copy, "zone", "v1", -1);
    assert_int_equal(copy.nonzero, m.nonzero - 1);
    assert_int_equal(sched_tpmap_get(&copy, "zone", "v1"), 0);
    assert_int_equal(sched_tpmap_get(&m, "zone", "v1"), 1);
    sched_tpmap_add(&copy, "zone", "v1", 2);
    assert_int_equal(copy.nonzero, m.nonzero);

    int64_t scores[3] = {0, 5, 10};
    sched_default_normalize(100, true, scores, 3);
    assert_int_equal(scores[0], 100);
    assert_int_equal(scores[1], 50);
    assert_int_equal(scores[2], 0);
    int64_t zeros[2] = {0, 0};
    sched_default_normalize(100, true, zeros, 2);
    assert_int_equal(zeros[0], 100);
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_single_constraint),
        cmocka_unit_test(test_filter_min_domains_policies),
        cmocka_unit_test(test_filter_match_label_keys_terminating),
        cmocka_unit_test(test_filter_preemption),
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_tpmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
