/* NodeAffinity and InterPodAffinity, with cases from upstream's
 * node_affinity_test.go and interpodaffinity/{filtering,scoring}_test.go. */
#include <string.h>

#include "step_util.h"
#include "steps.h"
#include "testutil.h"

#define OK  KR_SCHED_SUCCESS
#define UN  KR_SCHED_UNSCHEDULABLE
#define UNR KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE

static const char *na_msg = "node(s) didn't match Pod's node affinity/selector";

#define REQUIRED(...)                                                             \
    "{affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: " \
    "{nodeSelectorTerms: [" __VA_ARGS__ "]}}}}"
#define EXPR(key, op, ...) "{key: " key ", operator: " op ", values: [" __VA_ARGS__ "]}"

static void test_node_affinity_filter(void **unused)
{
    (void)unused;
    static const struct {
        const char *name, *spec, *labels;
        bool fits;
    } cases[] = {
        {"missing labels", "{nodeSelector: {foo: bar}}", "{}", false},
        {"same labels", "{nodeSelector: {foo: bar}}", "{foo: bar}", true},
        {"node labels are superset", "{nodeSelector: {foo: bar}}", "{foo: bar, baz: blah}", true},
        {"node labels are subset", "{nodeSelector: {foo: bar, baz: blah}}", "{foo: bar}", false},
        {"Pod with matchExpressions using In operator that matches the existing node",
         REQUIRED("{matchExpressions: [" EXPR("foo", "In", "bar, value2") "]}"), "{foo: bar}",
         true},
        {"Pod with matchExpressions using Gt operator that matches the existing node",
         REQUIRED("{matchExpressions: [" EXPR("kernel-version", "Gt", "'0204'") "]}"),
         "{kernel-version: '0206'}", true},
        {"Gt: an equal value does not match",
         REQUIRED("{matchExpressions: [" EXPR("kernel-version", "Gt", "'206'") "]}"),
         "{kernel-version: '0206'}", false},
        {"Lt with a label that is not a number",
         REQUIRED("{matchExpressions: [" EXPR("kernel-version", "Lt", "'300'") "]}"),
         "{kernel-version: 2a}", false},
        {"Pod with matchExpressions using NotIn operator that matches the existing node",
         REQUIRED("{matchExpressions: [" EXPR("mem-type", "NotIn", "DDR, DDR2") "]}"),
         "{mem-type: DDR3}", true},
        {"Pod with matchExpressions using Exists operator that matches the existing node",
         REQUIRED("{matchExpressions: [{key: GPU, operator: Exists}]}"), "{GPU: NVIDIA-GRID-K1}",
         true},
        {"DoesNotExist", REQUIRED("{matchExpressions: [{key: GPU, operator: DoesNotExist}]}"),
         "{GPU: NVIDIA-GRID-K1}", false},
        {"Pod with affinity that don't match node's labels won't schedule onto the node",
         REQUIRED("{matchExpressions: [" EXPR("foo", "In", "value1, value2") "]}"), "{foo: bar}",
         false},
        {"Pod with empty MatchExpressions is not a valid value will match no objects and won't "
         "schedule onto the node",
         REQUIRED("{matchExpressions: []}"), "{foo: bar}", false},
        {"Pod with no NodeSelectorTerms matches no node", REQUIRED(), "{foo: bar}", false},
        {"Pod with Affinity but nil NodeSelector will schedule onto a node",
         "{affinity: {nodeAffinity: {}}}", "{foo: bar}", true},
        {"Pod with multiple matchExpressions ANDed that matches the existing node",
         REQUIRED("{matchExpressions: [{key: GPU, operator: Exists}, " EXPR("GPU", "NotIn",
                                                                            "AMD, INTER") "]}"),
         "{GPU: NVIDIA-GRID-K1}", true},
        {"Pod with multiple matchExpressions ANDed that doesn't match the existing node",
         REQUIRED("{matchExpressions: [{key: GPU, operator: Exists}, " EXPR("GPU", "In",
                                                                            "AMD, INTER") "]}"),
         "{GPU: NVIDIA-GRID-K1}", false},
        {"Pod with multiple NodeSelectorTerms ORed in affinity, matches the node's labels and "
         "will schedule onto the node",
         REQUIRED("{matchExpressions: [" EXPR(
             "foo", "In", "bar, value2") "]}, {matchExpressions: "
                                         "[" EXPR("diffkey", "In", "wrong, value2") "]}"),
         "{foo: bar}", true},
        {"Pod with an Affinity and a PodSpec.NodeSelector(the old thing that we are deprecating) "
         "both are satisfied, will schedule onto the node",
         "{nodeSelector: {foo: bar}, affinity: {nodeAffinity: "
         "{requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: "
         "[{key: foo, operator: Exists}]}]}}}}",
         "{foo: bar}", true},
        {"Pod with an Affinity matches node's labels but the PodSpec.NodeSelector(the old thing "
         "that we are deprecating) is not satisfied, won't schedule onto the node",
         "{nodeSelector: {foo: bar}, affinity: {nodeAffinity: "
         "{requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: "
         "[{key: foo, operator: Exists}]}]}}}}",
         "{foo: barrrrrr}", false},
        {"Pod with matchFields using In operator that matches the existing node",
         REQUIRED("{matchFields: [" EXPR("metadata.name", "In", "node1") "]}"), "{}", true},
        {"Pod with matchFields using In operator that does not match the existing node",
         REQUIRED("{matchFields: [" EXPR("metadata.name", "In", "node2") "]}"), "{}", false},
        {"Pod with two terms: matchFields does not match, but matchExpressions matches",
         REQUIRED("{matchFields: [" EXPR("metadata.name", "In", "node2") "]}, {matchExpressions: "
                                                                         "[" EXPR("foo", "In",
                                                                                  "bar") "]}"),
         "{foo: bar}", true},
        {"Pod with one term: matchFields does not match, but matchExpressions matches",
         REQUIRED("{matchFields: [" EXPR("metadata.name", "In", "node2") "], matchExpressions: "
                                                                         "[" EXPR("foo", "In",
                                                                                  "bar") "]}"),
         "{foo: bar}", false},
        {"Pod with one term: both matchFields and matchExpressions match",
         REQUIRED(
             "{matchFields: [" EXPR("metadata.name", "NotIn",
                                    "node2") "], "
                                             "matchExpressions: [" EXPR("foo", "In", "bar") "]}"),
         "{foo: bar}", true},
        {"Pod with two terms: both matchFields and matchExpressions do not match",
         REQUIRED("{matchFields: [" EXPR("metadata.name", "In",
                                         "node2") "]}, {matchExpressions: "
                                                  "[" EXPR("foo", "In", "not-match-to-bar") "]}"),
         "{foo: bar}", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tctx_t *c = tc_new();
        tc_node(c,
                kr_arena_printf(c->arena, "metadata: {name: node1, labels: %s}", cases[i].labels));
        tresult_t r;
        tc_filter(
            c, &sched_step_node_affinity,
            tc_pod(c, kr_arena_printf(c->arena, "metadata: {name: p}\nspec: %s", cases[i].spec)),
            &r);
        if ((r.code[0] == OK) != cases[i].fits)
            fail_msg("%s: code %d", cases[i].name, r.code[0]);
        if (!cases[i].fits) {
            assert_int_equal(r.code[0], UNR);
            assert_string_equal(r.reason[0], na_msg);
        }
        tc_free(c);
    }
    tctx_t *c = tc_new();
    tc_node(c, "metadata: {name: node1}");
    tresult_t r;
    tc_filter(c, &sched_step_node_affinity, tc_pod(c, "metadata: {name: p}"), &r);
    assert_int_equal(r.prefilter, KR_SCHED_SKIP);
    tc_free(c);
}

#define PREFERRED(...)                                      \
    "metadata: {name: p}\nspec: {affinity: {nodeAffinity: " \
    "{preferredDuringSchedulingIgnoredDuringExecution: [" __VA_ARGS__ "]}}}"
#define AFFINITY1 \
    PREFERRED("{weight: 2, preference: {matchExpressions: [" EXPR("foo", "In", "bar") "]}}")
#define AFFINITY2                                                                             \
    PREFERRED("{weight: 2, preference: {matchExpressions: [" EXPR(                            \
        "foo", "In", "bar") "]}}, "                                                           \
                            "{weight: 4, preference: {matchExpressions: [" EXPR(              \
                                "key", "In",                                                  \
                                "value") "]}}, "                                              \
                                         "{weight: 5, preference: {matchExpressions: [" EXPR( \
                                             "foo", "In",                                     \
                                             "bar") ", " EXPR("key", "In",                    \
                                                              "value") ", " EXPR("az", "In",  \
                                                                                 "az1") "]}}")

static void test_node_affinity_score(void **unused)
{
    (void)unused;
    static const struct {
        const char *name, *pod, *labels[3];
        kr_sched_code_t prescore;
        int64_t want[3];
    } cases[] = {
        {"all nodes are same priority as NodeAffinity is nil",
         "metadata: {name: p}",
         {"{foo: bar}", "{key: value}", "{az: az1}"},
         KR_SCHED_SKIP,
         {0, 0, 0}},
        {"no node matches preferred scheduling requirements in NodeAffinity of pod so all nodes' "
         "priority is zero",
         AFFINITY1,
         {"{abc: az11, def: az22}", "{abc: az11, def: az22}", "{abc: az11, def: az22}"},
         OK,
         {0, 0, 0}},
        {"only machine1 matches the preferred scheduling requirements of pod",
         AFFINITY1,
         {"{foo: bar}", "{key: value}", "{az: az1}"},
         OK,
         {100, 0, 0}},
        {"all machines matches the preferred scheduling requirements of pod but with different "
         "priorities",
         AFFINITY2,
         {"{foo: bar}", "{foo: bar, key: value, az: az1}", "{key: value}"},
         OK,
         {18, 100, 36}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tctx_t *c = tc_new();
        for (int k = 0; k < 3; k++)
            tc_node(c, kr_arena_printf(c->arena, "metadata: {name: n%d, labels: %s}", k,
                                       cases[i].labels[k]));
        tresult_t r;
        tc_score(c, &sched_step_node_affinity, tc_pod(c, cases[i].pod), &r);
        assert_int_equal(r.prefilter, cases[i].prescore);
        for (int k = 0; k < 3; k++)
            if (r.score[k] != cases[i].want[k])
                fail_msg("%s: node %d: %lld, want %lld", cases[i].name, k, (long long)r.score[k],
                         (long long)cases[i].want[k]);
        tc_free(c);
    }
}

/* ---- InterPodAffinity ------------------------------------------------------- */

#define POD_TERM(sel, key) "{labelSelector: " sel ", topologyKey: " key "}"
#define AFF(kind, when, ...) \
    "affinity: {" kind ": {" when "DuringSchedulingIgnoredDuringExecution: [" __VA_ARGS__ "]}}"

static const char *aff_msg = "node(s) didn't match pod affinity rules";
static const char *anti_msg = "node(s) didn't match pod anti-affinity rules";
static const char *existing_msg = "node(s) didn't satisfy existing pods anti-affinity rules";

/* Three nodes: n0 and n1 in region r1 / zone z1, n2 in region r2 / zone z2,
 * and n3 without labels. */
static tctx_t *ipa_cluster(void)
{
    tctx_t *c = tc_new();
    tc_node(c, "metadata: {name: n0, labels: {region: r1, zone: z1, kubernetes.io/hostname: n0}}");
    tc_node(c, "metadata: {name: n1, labels: {region: r1, zone: z1, kubernetes.io/hostname: n1}}");
    tc_node(c, "metadata: {name: n2, labels: {region: r2, zone: z2, kubernetes.io/hostname: n2}}");
    tc_node(c, "metadata: {name: n3}");
    return c;
}

static void expect(const tresult_t *r, uint32_t n, const kr_sched_code_t *codes,
                   const char *const *reasons, const char *what)
{
    for (uint32_t i = 0; i < n; i++) {
        if (r->code[i] != codes[i])
            fail_msg("%s: node %u: code %d, want %d (%s)", what, i, r->code[i], codes[i],
                     r->reason[i] ? r->reason[i] : "");
        if (codes[i] != OK && strcmp(r->reason[i], reasons[i]) != 0)
            fail_msg("%s: node %u: \"%s\", want \"%s\"", what, i, r->reason[i], reasons[i]);
    }
}

static void test_interpod_required_affinity(void **unused)
{
    (void)unused;
    tresult_t r;
    tctx_t *c = ipa_cluster();
    /* nothing anywhere: skipped */
    tc_filter(c, &sched_step_inter_pod_affinity, tc_pod(c, "metadata: {name: p}"), &r);
    assert_int_equal(r.prefilter, KR_SCHED_SKIP);

    tc_place(c, 0, "metadata: {name: e, labels: {service: securityscan}}");
    const char *in_region =
        "metadata: {name: p}\nspec: {" AFF("podAffinity", "required",
                                           POD_TERM("{matchExpressions: [{key: service, operator: "
                                                    "In, values: [securityscan, value2]}]}",
                                                    "region")) "}";
    tc_filter(c, &sched_step_inter_pod_affinity, tc_pod(c, in_region), &r);
    {
        /* n1 shares n0's region; n2 does not; n3 lacks the topology label */
        const kr_sched_code_t codes[] = {OK, OK, UNR, UNR};
        const char *reasons[] = {NULL, NULL, aff_msg, aff_msg};
        expect(&r, 4, codes, reasons, "affinity In region");
    }
    /* the existing pod is in another namespace than the term names */
    tc_filter(c, &sched_step_inter_pod_affinity,
              tc_pod(c, "metadata: {name: p}\nspec: {" AFF(
                            "podAffinity", "required",
                            "{labelSelector: {matchLabels: {service: securityscan}}, namespaces: "
                            "[DiffNameSpace], topologyKey: region}") "}"),
              &r);
    {
        const kr_sched_code_t codes[] = {UNR, UNR, UNR, UNR};
        const char *reasons[] = {aff_msg, aff_msg, aff_msg, aff_msg};
        expect(&r, 4, codes, reasons, "affinity in another namespace");
    }
    /* the first pod of a group with affinity to itself goes anywhere with the label */
    tc_filter(c, &sched_step_inter_pod_affinity,
              tc_pod(c, "metadata: {name: p, labels: {app: first}}\nspec: {" AFF(
                            "podAffinity", "required",
                            POD_TERM("{matchLabels: {app: first}}", "zone")) "}"),
              &r);
    {
        const kr_sched_code_t codes[] = {OK, OK, OK, UNR};
        const char *reasons[] = {NULL, NULL, NULL, aff_msg};
        expect(&r, 4, codes, reasons, "self affinity");
    }
    /* ... but not when it does not match its own terms */
    tc_filter(c, &sched_step_inter_pod_affinity,
              tc_pod(c, "metadata: {name: p, labels: {app: other}}\nspec: {" AFF(
                            "podAffinity", "required",
                            POD_TERM("{matchLabels: {app: first}}", "zone")) "}"),
              &r);
    assert_int_equal(r.code[0], UNR);
    tc_free(c);
}

static void test_interpod_namespace_selector(void **unused)
{
    (void)unused;
    tresult_t r;
    tctx_t *c = ipa_cluster();
    tc_namespace(c, "team-a", "{team: a}");
    tc_namespace(c, "team-b", "{team: b}");
    tc_place(c, 2, "metadata: {name: e, namespace: team-a, labels: {app: db}}");
    const char *pod = "metadata: {name: p, namespace: default}\nspec: {" AFF(
        "podAffinity", "required",
        "{labelSelector: {matchLabels: {app: db}}, namespaceSelector: {matchLabels: {team: "
        "a}}, topologyKey: region}") "}";
    tc_filter(c, &sched_step_inter_pod_affinity, tc_pod(c, pod), &r);
    {
        const kr_sched_code_t codes[] = {UNR, UNR, OK, UNR};
        const char *reasons[] = {aff_msg, aff_msg, NULL, aff_msg};
        expect(&r, 4, codes, reasons, "namespaceSelector");
    }
    tc_filter(c, &sched_step_inter_pod_affinity,
              tc_pod(c, "metadata: {name: p}\nspec: {" AFF(
                            "podAffinity", "required",
                            "{labelSelector: {matchLabels: {app: db}}, namespaceSelector: "
                            "{matchLabels: {team: b}}, topologyKey: region}") "}"),
              &r);
    assert_int_equal(r.code[2], UNR);
    tc_free(c);
}

static void test_interpod_anti_affinity(void **unused)
{
    (void)unused;
    tresult_t r;
    tctx_t *c = ipa_cluster();
    const kr_sched_pod_t *e =
        tc_place(c, 0, "metadata: {name: e, labels: {service: securityscan}}");
    const kr_sched_pod_t *pod =
        tc_pod(c, "metadata: {name: p}\nspec: {" AFF(
                      "podAntiAffinity", "required",
                      POD_TERM("{matchLabels: {service: securityscan}}", "zone")) "}");
    const kr_sched_step_ops_t *ops = &sched_step_inter_pod_affinity;
    tc_filter(c, ops, pod, &r);
    {
        /* no zone label on n3: nothing to be anti-affine with */
        const kr_sched_code_t codes[] = {UN, UN, OK, OK};
        const char *reasons[] = {anti_msg, anti_msg, NULL, NULL};
        expect(&r, 4, codes, reasons, "anti-affinity zone");
    }

    /* preemption: with `e` gone from a copy of the state, zone z1 is free;
     * the original state still counts it */
    c->cycle = (kr_sched_cycle_t){.arena = c->arena, .snapshot = &c->snap};
    void *state = NULL;
    kr_sched_status_t st = {0};
    assert_int_equal(ops->prefilter(NULL, &c->cycle, pod, &state, &st), OK);
    void *copy = ops->state_clone(NULL, &c->cycle, state);
    ops->state_remove_pod(NULL, copy, pod, e, c->node_ptrs[0]);
    memset(&st, 0, sizeof(st));
    assert_int_equal(ops->filter(NULL, copy, pod, c->node_ptrs[1], &st), OK);
    assert_int_equal(ops->filter(NULL, state, pod, c->node_ptrs[1], &st), UN);
    ops->state_add_pod(NULL, copy, pod, e, c->node_ptrs[2]);
    memset(&st, 0, sizeof(st));
    assert_int_equal(ops->filter(NULL, copy, pod, c->node_ptrs[2], &st), UN);
    assert_int_equal(ops->filter(NULL, copy, pod, c->node_ptrs[0], &st), OK);
    tc_free(c);
}

static void test_interpod_existing_anti_affinity(void **unused)
{
    (void)unused;
    tresult_t r;
    tctx_t *c = ipa_cluster();
    /* an existing pod that wants no security=S2 pod in its zone */
    const kr_sched_pod_t *e = tc_place(
        c, 1,
        "metadata: {name: e}\nspec: {" AFF("podAntiAffinity", "required",
                                           POD_TERM("{matchLabels: {security: S2}}", "zone")) "}");
    const kr_sched_pod_t *pod = tc_pod(c, "metadata: {name: p, labels: {security: S2}}");
    tc_filter(c, &sched_step_inter_pod_affinity, pod, &r);
    {
        const kr_sched_code_t codes[] = {UN, UN, OK, OK};
        const char *reasons[] = {existing_msg, existing_msg, NULL, NULL};
        expect(&r, 4, codes, reasons, "existing anti-affinity");
    }
    /* a pod it does not select is welcome */
    tc_filter(c, &sched_step_inter_pod_affinity, tc_pod(c, "metadata: {name: q, labels: {x: y}}"),
              &r);
    assert_int_equal(r.prefilter, KR_SCHED_SKIP);

    /* preemption: removing the existing pod lifts its rule */
    const kr_sched_step_ops_t *ops = &sched_step_inter_pod_affinity;
    c->cycle = (kr_sched_cycle_t){.arena = c->arena, .snapshot = &c->snap};
    void *state = NULL;
    kr_sched_status_t st = {0};
    assert_int_equal(ops->prefilter(NULL, &c->cycle, pod, &state, &st), OK);
    void *copy = ops->state_clone(NULL, &c->cycle, state);
    ops->state_remove_pod(NULL, copy, pod, e, c->node_ptrs[1]);
    assert_int_equal(ops->filter(NULL, copy, pod, c->node_ptrs[0], &st), OK);
    tc_free(c);
}

static void test_interpod_score(void **unused)
{
    (void)unused;
    tresult_t r;
    const kr_sched_step_ops_t *ops = &sched_step_inter_pod_affinity;
    tctx_t *c = ipa_cluster();
    tc_place(c, 0, "metadata: {name: e, labels: {security: S1}}");
    /* no terms anywhere: nothing to score */
    tc_score(c, ops, tc_pod(c, "metadata: {name: p, labels: {security: S1}}"), &r);
    assert_int_equal(r.prefilter, KR_SCHED_SKIP);

    /* Affinity: pod that matches topology key & pods in nodes will get high score comparing to
     * others which doesn't match either pods in nodes or in topology key */
    tc_score(c, ops,
             tc_pod(c, "metadata: {name: p}\nspec: {" AFF(
                           "podAffinity", "preferred",
                           "{weight: 5, podAffinityTerm: " POD_TERM("{matchLabels: {security: S1}}",
                                                                    "region") "}") "}"),
             &r);
    assert_int_equal(r.prefilter, OK);
    assert_int_equal(r.score[0], 100);
    assert_int_equal(r.score[1], 100);
    assert_int_equal(r.score[2], 0);
    assert_int_equal(r.score[3], 0);

    /* Anti-affinity: the same term the other way round */
    tc_score(c, ops,
             tc_pod(c, "metadata: {name: p}\nspec: {" AFF(
                           "podAntiAffinity", "preferred",
                           "{weight: 5, podAffinityTerm: " POD_TERM("{matchLabels: {security: S1}}",
                                                                    "region") "}") "}"),
             &r);
    assert_int_equal(r.score[0], 0);
    assert_int_equal(r.score[1], 0);
    assert_int_equal(r.score[2], 100);
    assert_int_equal(r.score[3], 100);
    tc_free(c);

    /* symmetry: placed pods' preferred and required terms score the incoming pod */
    c = ipa_cluster();
    tc_place(c, 2,
             "metadata: {name: e1}\nspec: {" AFF(
                 "podAffinity", "preferred",
                 "{weight: 5, podAffinityTerm: " POD_TERM("{matchLabels: {security: S1}}",
                                                          "region") "}") "}");
    tc_place(c, 0,
             "metadata: {name: e2}\nspec: {" AFF(
                 "podAffinity", "required",
                 POD_TERM("{matchLabels: {security: S1}}", "kubernetes.io/hostname")) "}");
    tc_score(c, ops, tc_pod(c, "metadata: {name: p, labels: {security: S1}}"), &r);
    assert_int_equal(r.prefilter, OK);
    /* n2: 5 (region r2), n0: 1 (hardPodAffinityWeight, its hostname) */
    assert_int_equal(r.score[2], 100);
    assert_int_equal(r.score[0], 20);
    assert_int_equal(r.score[1], 0);
    assert_int_equal(r.score[3], 0);
    tc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_affinity_filter),
        cmocka_unit_test(test_node_affinity_score),
        cmocka_unit_test(test_interpod_required_affinity),
        cmocka_unit_test(test_interpod_namespace_selector),
        cmocka_unit_test(test_interpod_anti_affinity),
        cmocka_unit_test(test_interpod_existing_anti_affinity),
        cmocka_unit_test(test_interpod_score),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
