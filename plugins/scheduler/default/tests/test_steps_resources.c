/* NodeResourcesFit, LeastAllocated, MostAllocated and BalancedAllocation,
 * with cases from upstream's fit_test.go, least_allocated_test.go,
 * most_allocated_test.go and balanced_allocation_test.go. */
#include <string.h>

#include "step_util.h"
#include "steps.h"
#include "testutil.h"

#define OK  KR_SCHED_SUCCESS
#define UN  KR_SCHED_UNSCHEDULABLE
#define UNR KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE

/* fit_test.go's node: makeAllocatableResources(10, 20, 32, 5, 20, 5) */
#define FIT_NODE(pods)                                                                       \
    "metadata: {name: n}\nstatus: {allocatable: {cpu: 10m, memory: '20', pods: '" pods "', " \
    "example.com/aaa: '5', hugepages-2Mi: '5', ephemeral-storage: '20'}}"

/* A pod: containers and init containers as "cpu/mem" pairs (cpu in
 * millicores, memory in bytes), extra resource entries appended raw. */
static char *pod_yaml(kr_arena_t *a, const char *containers, const char *inits)
{
    return kr_arena_printf(a, "metadata: {name: p}\nspec: {containers: [%s], initContainers: [%s]}",
                           containers, inits);
}

#define C(cpu, mem) "{name: c, resources: {requests: {cpu: " #cpu "m, memory: '" #mem "'}}}"

typedef struct fitcase {
    const char *name;
    const char *pod, *inits; /* containers */
    const char *existing;    /* containers of the pod already on the node, or NULL */
    const char *pods;        /* allocatable pods */
    kr_sched_code_t code;
    const char *reasons[3];
} fitcase_t;

static void test_fit(void **unused)
{
    (void)unused;
    static const fitcase_t cases[] = {
        {"no resources requested always fits", "", "", C(10, 20), "32", OK, {NULL}},
        {"too many resources fails",
         C(1, 1),
         "",
         C(10, 20),
         "32",
         UN,
         {"Insufficient cpu", "Insufficient memory"}},
        {"too many resources fails due to init container cpu",
         C(1, 1),
         C(3, 1),
         C(8, 19),
         "32",
         UN,
         {"Insufficient cpu"}},
        {"too many resources fails due to highest init container cpu",
         C(1, 1),
         C(3, 1) "," C(2, 1),
         C(8, 19),
         "32",
         UN,
         {"Insufficient cpu"}},
        {"too many resources fails due to init container memory",
         C(1, 1),
         C(1, 3),
         C(9, 19),
         "32",
         UN,
         {"Insufficient memory"}},
        {"init container fits because it's the max, not sum, of containers and init containers",
         C(1, 1),
         C(1, 1),
         C(9, 19),
         "32",
         OK,
         {NULL}},
        {"both resources fit", C(1, 1), "", C(5, 5), "32", OK, {NULL}},
        {"one resource memory fits", C(2, 1), "", C(9, 5), "32", UN, {"Insufficient cpu"}},
        {"one resource cpu fits", C(1, 2), "", C(5, 19), "32", UN, {"Insufficient memory"}},
        {"equal edge case", C(5, 1), "", C(5, 19), "32", OK, {NULL}},
        {"equal edge case for init container", C(4, 1), C(5, 1), C(5, 19), "32", OK, {NULL}},
        {"extended resource fits",
         "{name: c, resources: {requests: {example.com/aaa: '1'}}}",
         "",
         NULL,
         "32",
         OK,
         {NULL}},
        {"extended resource allocatable enforced",
         "{name: c, resources: {requests: {example.com/aaa: '1'}}}",
         "",
         "{name: c, resources: {requests: {example.com/aaa: '5'}}}",
         "32",
         UN,
         {"Insufficient example.com/aaa"}},
        /* more than the node has at all: preemption cannot help */
        {"extended resource capacity enforced",
         "{name: c, resources: {requests: {example.com/aaa: '10'}}}",
         "",
         NULL,
         "32",
         UNR,
         {"Insufficient example.com/aaa"}},
        {"extended resource allocatable enforced for unknown resource",
         "{name: c, resources: {requests: {example.com/bbb: '1'}}}",
         "",
         NULL,
         "32",
         UNR,
         {"Insufficient example.com/bbb"}},
        {"hugepages resource allocatable enforced",
         "{name: c, resources: {requests: {hugepages-2Mi: '6'}}}",
         "",
         NULL,
         "32",
         UNR,
         {"Insufficient hugepages-2Mi"}},
        {"too many cpu for the node at all", C(11, 1), "", NULL, "32", UNR, {"Insufficient cpu"}},
        {"ephemeral-storage",
         "{name: c, resources: {requests: {ephemeral-storage: '21'}}}",
         "",
         NULL,
         "32",
         UNR,
         {"Insufficient ephemeral-storage"}},
        /* enoughPodsTests */
        {"even without specified resources, predicate fails when there's no space for "
         "additional pod",
         "",
         "",
         C(10, 20),
         "1",
         UN,
         {"Too many pods"}},
        {"even if both resources fit, predicate fails when there's no space for additional pod",
         C(1, 1),
         "",
         C(5, 5),
         "1",
         UN,
         {"Too many pods"}},
        {"even for equal edge case, predicate fails when there's no space for additional pod",
         C(5, 1),
         "",
         C(5, 19),
         "1",
         UN,
         {"Too many pods"}},
        {"even for equal edge case, predicate fails when there's no space for additional pod due "
         "to init container",
         C(5, 1),
         C(5, 1),
         C(5, 19),
         "1",
         UN,
         {"Too many pods"}},
        {"no space and too much",
         C(6, 30),
         "",
         C(5, 19),
         "1",
         UNR,
         {"Too many pods", "Insufficient cpu", "Insufficient memory"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const fitcase_t *fc = &cases[i];
        tctx_t *c = tc_new();
        uint32_t n = tc_node(c, kr_arena_printf(c->arena, FIT_NODE("%s"), fc->pods));
        if (fc->existing != NULL)
            tc_place(c, n, pod_yaml(c->arena, fc->existing, ""));
        tresult_t r;
        tc_filter(c, sched_builtin_step("NodeResourcesFit"),
                  tc_pod(c, pod_yaml(c->arena, fc->pod, fc->inits)), &r);
        if (r.code[0] != fc->code)
            fail_msg("%s: code %d, want %d (%s)", fc->name, r.code[0], fc->code,
                     r.reason[0] ? r.reason[0] : "");
        uint32_t want = 0;
        while (want < 3 && fc->reasons[want] != NULL)
            want++;
        if (r.n_reasons[0] != want)
            fail_msg("%s: %u reasons, want %u", fc->name, r.n_reasons[0], want);
        for (uint32_t k = 0; k < want; k++)
            if (strcmp(r.reasons[0][k], fc->reasons[k]) != 0)
                fail_msg("%s: reason %u \"%s\", want \"%s\"", fc->name, k, r.reasons[0][k],
                         fc->reasons[k]);
        tc_free(c);
    }
}

/* ---- scores ---------------------------------------------------------------- */

/* upstream's score tables count "4000" cpu as cores: the ratios are what
 * matters, so the nodes here are in millicores and the pods alike */
#define NODE(name, cpu, mem) \
    "metadata: {name: " name "}\nstatus: {allocatable: {cpu: '" cpu "', memory: '" mem "'}}"
#define REQ(cpu, mem) "{name: c, resources: {requests: {cpu: '" cpu "', memory: '" mem "'}}}"
#define POD(...)      "metadata: {name: p}\nspec: {containers: [" __VA_ARGS__ "]}"

typedef struct scorecase {
    const char *name;
    const char *pod;
    const char *nodes[2];
    const char *existing[2][2]; /* per node, up to two pods */
    kr_sched_code_t prescore;
    int64_t want[2];
} scorecase_t;

static void run_scores(const char *step, const scorecase_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const scorecase_t *sc = &cases[i];
        tctx_t *c = tc_new();
        for (uint32_t k = 0; k < 2; k++) {
            tc_node(c, sc->nodes[k]);
            for (int j = 0; j < 2 && sc->existing[k][j] != NULL; j++)
                tc_place(c, k, sc->existing[k][j]);
        }
        tresult_t r;
        tc_score(c, sched_builtin_step(step), tc_pod(c, sc->pod), &r);
        if (r.prefilter != sc->prescore)
            fail_msg("%s: %s: prescore %d, want %d", step, sc->name, r.prefilter, sc->prescore);
        for (uint32_t k = 0; k < 2; k++)
            if (r.score[k] != sc->want[k])
                fail_msg("%s: %s: node%u scores %lld, want %lld", step, sc->name, k + 1,
                         (long long)r.score[k], (long long)sc->want[k]);
        tc_free(c);
    }
}

#define EMPTY POD()

static void test_least_allocated(void **unused)
{
    (void)unused;
    static const scorecase_t cases[] = {
        {"nothing scheduled, nothing requested",
         EMPTY,
         {NODE("node1", "4000", "10000"), NODE("node2", "4000", "10000")},
         {{NULL}, {NULL}},
         OK,
         {100, 100}},
        {"nothing scheduled, resources requested, differently sized nodes",
         POD(REQ("1000", "2000") "," REQ("2000", "3000")),
         {NODE("node1", "4000", "10000"), NODE("node2", "6000", "10000")},
         {{NULL}, {NULL}},
         OK,
         {37, 50}},
        {"no resources requested, pods scheduled",
         EMPTY,
         {NODE("node1", "4000", "10000"), NODE("node2", "4000", "10000")},
         {{EMPTY, EMPTY}, {EMPTY, EMPTY}},
         OK,
         {100, 100}},
        {"no resources requested, pods scheduled with resources",
         EMPTY,
         {NODE("node1", "10000", "20000"), NODE("node2", "10000", "20000")},
         {{POD(REQ("3000", "0")), POD(REQ("3000", "0"))},
          {POD(REQ("3000", "0")), POD(REQ("3000", "5000"))}},
         OK,
         {70, 57}},
        {"resources requested, pods scheduled with resources",
         POD(REQ("1000", "2000") "," REQ("2000", "3000")),
         {NODE("node1", "10000", "20000"), NODE("node2", "10000", "20000")},
         {{POD(REQ("3000", "0"))}, {POD(REQ("3000", "5000"))}},
         OK,
         {57, 45}},
        {"resources requested, pods scheduled with resources, differently sized nodes",
         POD(REQ("1000", "2000") "," REQ("2000", "3000")),
         {NODE("node1", "10000", "20000"), NODE("node2", "10000", "50000")},
         {{POD(REQ("3000", "0"))}, {POD(REQ("3000", "5000"))}},
         OK,
         {57, 60}},
        {"requested resources exceed node capacity",
         POD(REQ("3000", "0")),
         {NODE("node1", "4000", "10000"), NODE("node2", "4000", "10000")},
         {{POD(REQ("3000", "0"))}, {POD(REQ("3000", "5000"))}},
         OK,
         {50, 25}},
        {"zero node resources, pods scheduled with resources",
         EMPTY,
         {"metadata: {name: node1}", "metadata: {name: node2}"},
         {{POD(REQ("3000", "0"))}, {POD(REQ("3000", "5000"))}},
         OK,
         {0, 0}},
        /* a container without requests counts 100m and 200Mi */
        {"non-zero requests",
         POD("{name: c}"),
         {NODE("node1", "1", "400Mi"), NODE("node2", "2", "800Mi")},
         {{NULL}, {NULL}},
         OK,
         {70, 85}},
    };
    run_scores("NodeResourcesLeastAllocated", cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_most_allocated(void **unused)
{
    (void)unused;
    static const scorecase_t cases[] = {
        {"nothing scheduled, nothing requested",
         EMPTY,
         {NODE("node1", "4000", "10000"), NODE("node2", "4000", "10000")},
         {{NULL}, {NULL}},
         OK,
         {0, 0}},
        {"nothing scheduled, resources requested, differently sized nodes",
         POD(REQ("1000", "2000") "," REQ("2000", "3000")),
         {NODE("node1", "4000", "10000"), NODE("node2", "6000", "10000")},
         {{NULL}, {NULL}},
         OK,
         {62, 50}},
        {"resources requested, pods scheduled with resources",
         POD(REQ("1000", "2000") "," REQ("2000", "3000")),
         {NODE("node1", "10000", "20000"), NODE("node2", "10000", "20000")},
         {{POD(REQ("3000", "0"))}, {POD(REQ("3000", "5000"))}},
         OK,
         {42, 55}},
        {"resources requested with more than the node, pods scheduled with resources",
         POD(REQ("2000", "13000")),
         {NODE("node1", "4000", "10000"), NODE("node2", "10000", "20000")},
         {{POD(REQ("3000", "0"))}, {POD(REQ("3000", "5000"))}},
         OK,
         {100, 70}},
    };
    run_scores("NodeResourcesMostAllocated", cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_balanced_allocation(void **unused)
{
    (void)unused;
    static const scorecase_t cases[] = {
        /* best-effort pods skip the step (kubernetes#129138) */
        {"nothing scheduled, nothing requested",
         EMPTY,
         {NODE("node1", "4000", "10000"), NODE("node2", "4000", "10000")},
         {{NULL}, {NULL}},
         KR_SCHED_SKIP,
         {0, 0}},
        {"nothing scheduled, resources requested, differently sized nodes",
         POD(REQ("1000", "2000") "," REQ("2000", "3000")),
         {NODE("node1", "4000", "10000"), NODE("node2", "6000", "10000")},
         {{NULL}, {NULL}},
         OK,
         {87, 100}},
        {"resources requested, pods scheduled with resources",
         POD(REQ("1000", "2000") "," REQ("2000", "3000")),
         {NODE("node1", "10000", "20000"), NODE("node2", "10000", "20000")},
         {{POD(REQ("3000", "0"))}, {POD(REQ("3000", "5000"))}},
         OK,
         {82, 95}},
        {"resources requested, pods scheduled with resources, differently sized nodes",
         POD(REQ("1000", "2000") "," REQ("2000", "3000")),
         {NODE("node1", "10000", "20000"), NODE("node2", "10000", "50000")},
         {{POD(REQ("3000", "0"))}, {POD(REQ("3000", "5000"))}},
         OK,
         {82, 80}},
        {"requested resources at node capacity",
         POD(REQ("3000", "0")),
         {NODE("node1", "4000", "10000"), NODE("node2", "4000", "10000")},
         {{POD(REQ("3000", "0"))}, {POD(REQ("3000", "5000"))}},
         OK,
         {50, 75}},
        /* the real requests count, not the non-zero ones */
        {"a container without requests counts nothing",
         POD(REQ("1000", "0") ", {name: d}"),
         {NODE("node1", "4000", "10000"), NODE("node2", "2000", "10000")},
         {{NULL}, {NULL}},
         OK,
         {87, 75}},
    };
    run_scores("NodeResourcesBalancedAllocation", cases, sizeof(cases) / sizeof(cases[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit),
        cmocka_unit_test(test_least_allocated),
        cmocka_unit_test(test_most_allocated),
        cmocka_unit_test(test_balanced_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
