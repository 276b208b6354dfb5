/* The framework (framework.c, fiterr.c, preempt.c) with the built-in
 * steps over a real cache: the FailedScheduling message (histogram sorted
 * as upstream's sort.Strings, prefilter and postfilter parts),
 * numFeasibleNodesToFind, profiles resolved by name, cycles that place or
 * reject, nominated pods counted, and preemption's victims and node
 * choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/scheduler.h>

#include "framework.h"
#include "preempt.h"

static kr_arena_t *g_a;

static int setup(void **state)
{
    (void)state;
    g_a = kr_arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_arena_destroy(&g_a);
    return 0;
}

static kr_value_t *yaml(const char *text)
{
    kr_value_t *docs;
    kr_error_t err;
    if (kr_yaml_decode(g_a, text, strlen(text), &docs, &err) < 0)
        fail_msg("yaml: %s", err.message);
    return kr_value_array_get(docs, 0);
}

static void add_node(sched_cache_t *c, const char *name, const char *cpu, const char *spec)
{
    const char *t =
        kr_arena_printf(g_a,
                        "metadata: {name: %s, labels: {kubernetes.io/hostname: %s}}\n"
                        "spec: %s\n"
                        "status: {allocatable: {cpu: '%s', memory: 8Gi, pods: '110'}}\n",
                        name, name, spec != NULL ? spec : "{}", cpu);
    assert_int_equal(sched_cache_set_node(c, yaml(t), NULL, NULL), 0);
}

static sched_pod_t *pod(const char *name, const char *node, const char *cpu, int prio,
                        const char *more)
{
    const char *t =
        kr_arena_printf(g_a,
                        "metadata: {name: %s, namespace: default, uid: uid-%s}\n"
                        "spec:\n  nodeName: '%s'\n  priority: %d\n"
                        "  containers: [{name: c, resources: {requests: {cpu: '%s'}}}]\n%s",
                        name, name, node, prio, cpu, more != NULL ? more : "");
    kr_error_t err;
    sched_pod_t *sp = sched_pod_new(yaml(t), true, &err);
    if (sp == NULL)
        fail_msg("pod: %s", err.message);
    return sp;
}

static void place(sched_cache_t *c, const char *name, const char *node, const char *cpu, int prio)
{
    sched_pod_t *sp = pod(name, node, cpu, prio, NULL);
    sched_cache_set_pod(c, &sp);
}

/* ---- the message ----------------------------------------------------------------- */

static void test_fiterr_message(void **state)
{
    (void)state;
    sched_fiterr_t f;
    sched_fiterr_init(&f, g_a, 3);
    kr_sched_status_t cpu = {KR_SCHED_UNSCHEDULABLE, 1, {"Insufficient cpu"}};
    kr_sched_status_t both = {
        KR_SCHED_UNSCHEDULABLE, 2, {"Insufficient cpu", "Insufficient memory"}};
    kr_sched_status_t taint = {
        KR_SCHED_UNSCHEDULABLE_AND_UNRESOLVABLE, 1, {"node(s) had untolerated taint {k: v}"}};
    sched_fiterr_add(&f, &cpu);
    sched_fiterr_add(&f, &both);
    sched_fiterr_add(&f, &taint);
    assert_string_equal(sched_fiterr_message(&f),
                        "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had "
                        "untolerated taint {k: v}, 2 Insufficient cpu.");
    /* sorted as strings: "10 ..." before "9 ..." */
    sched_fiterr_init(&f, g_a, 19);
    sched_fiterr_add_n(&f, "Insufficient cpu", 9);
    sched_fiterr_add_n(&f, "node(s) didn't match Pod's node affinity/selector", 10);
    f.postfilter_msg = "preemption: 0/19 nodes are available: 19 Preemption is not helpful for "
                       "scheduling.";
    assert_string_equal(sched_fiterr_message(&f),
                        "0/19 nodes are available: 10 node(s) didn't match Pod's node "
                        "affinity/selector, 9 Insufficient cpu. preemption: 0/19 nodes are "
                        "available: 19 Preemption is not helpful for scheduling..");
    /* a prefilter's message replaces the histogram */
    sched_fiterr_init(&f, g_a, 2);
    sched_fiterr_add_n(&f, "ignored", 2);
    f.prefilter_msg = "node(s) didn't satisfy plugin(s) [NodeAffinity]";
    assert_string_equal(
        sched_fiterr_message(&f),
        "0/2 nodes are available: node(s) didn't satisfy plugin(s) [NodeAffinity].");
    assert_string_equal(sched_status_message(g_a, &both), "Insufficient cpu, Insufficient memory");
}

static void test_num_feasible(void **state)
{
    (void)state;
    assert_int_equal(sched_num_feasible_to_find(0, 50), 50);
    assert_int_equal(sched_num_feasible_to_find(0, 100), 100);
    assert_int_equal(sched_num_feasible_to_find(0, 200), 100); /* 49 % = 98: at least 100 */
    assert_int_equal(sched_num_feasible_to_find(0, 1000), 420);
    assert_int_equal(sched_num_feasible_to_find(0, 5000), 500);
    assert_int_equal(sched_num_feasible_to_find(0, 100000), 5000); /* at least 5 % */
    assert_int_equal(sched_num_feasible_to_find(30, 1000), 300);
    assert_int_equal(sched_num_feasible_to_find(100, 1000), 1000);
}

static void test_profile(void **state)
{
    (void)state;
    kr_error_t err;
    sched_profile_t *p = sched_profile_new(NULL, 0, NULL, NULL, 0, 0, &err);
    assert_non_null(p);
    assert_int_equal(p->n_filters, 9);
    assert_int_equal(p->n_scores, 6);
    sched_profile_destroy(&p);
    const char *filters[] = {"NodeResourcesFit", "TaintToleration"};
    const char *scores[] = {"NodeResourcesMostAllocated"};
    int64_t w[] = {5};
    p = sched_profile_new(filters, 2, scores, w, 1, 0, &err);
    assert_non_null(p);
    assert_int_equal(p->n_steps, 3);
    assert_string_equal(p->steps[p->filters[1]].ops->name, "TaintToleration");
    assert_int_equal(p->steps[p->scores[0]].weight, 5);
    sched_profile_destroy(&p);
    const char *bad[] = {"NoSuchStep"};
    assert_null(sched_profile_new(bad, 1, NULL, NULL, 0, 0, &err));
    assert_non_null(strstr(err.message, "unknown scheduler step \"NoSuchStep\""));
    int64_t w0[] = {0};
    assert_null(sched_profile_new(NULL, 0, scores, w0, 1, 0, &err));
    assert_non_null(strstr(err.message, "must be in the range 1-100"));
    const char *notscore[] = {"NodeName"};
    assert_null(sched_profile_new(NULL, 0, notscore, w, 1, 0, &err));
    assert_non_null(strstr(err.message, "does not score"));
}

/* ---- cycles ----------------------------------------------------------------------- */

typedef struct fixture {
    sched_cache_t *cache;
    sched_profile_t *prof;
    kr_arena_t *arena;
    uint64_t seq;
} fixture_t;

static void fx_init(fixture_t *fx)
{
    fx->cache = sched_cache_new();
    kr_error_t err;
    fx->prof = sched_profile_new(NULL, 0, NULL, NULL, 0, 0, &err);
    assert_non_null(fx->prof);
    fx->arena = kr_arena_new(0);
    fx->seq = 0;
}

static void fx_fini(fixture_t *fx)
{
    sched_cache_destroy(&fx->cache);
    sched_profile_destroy(&fx->prof);
    kr_arena_destroy(&fx->arena);
}

/* One cycle; returns the chosen node's name or the message, in g_a. */
static const char *cycle(fixture_t *fx, const kr_sched_pod_t *p, const char *nominated)
{
    kr_arena_reset(fx->arena);
    sched_run_t r;
    sched_result_t res;
    sched_run_init(&r, fx->prof, fx->cache, fx->arena, sched_cache_snapshot(fx->cache), p,
                   ++fx->seq);
    sched_run_schedule(&r, nominated, &res);
    const char *out;
    if (res.code == KR_SCHED_SUCCESS)
        out = kr_arena_strdup(g_a, res.node->name);
    else if (res.code == KR_SCHED_ERROR)
        out = kr_arena_printf(g_a, "error: %s", res.error);
    else {
        sched_preemption_t pre;
        sched_preempt(&r, &res, nominated, 0, &pre);
        if (pre.found) {
            kr_buf_t b = KR_BUF_INIT;
            kr_buf_printf(&b, "preempt on %s:", pre.node->name);
            for (uint32_t i = 0; i < pre.n_victims; i++)
                kr_buf_printf(&b, " %s", pre.victims[i]->name);
            out = kr_arena_strdup(g_a, b.data);
            kr_buf_free(&b);
        } else {
            res.fit.postfilter_msg = pre.message;
            out = kr_arena_strdup(g_a, res.error ? res.error : sched_fiterr_message(&res.fit));
        }
    }
    sched_run_fini(&r);
    return out;
}

static void test_cycle_places_and_rejects(void **state)
{
    (void)state;
    fixture_t fx;
    fx_init(&fx);
    sched_pod_t *p = pod("p", "", "1", 0, NULL);
    assert_string_equal(cycle(&fx, &p->pod, NULL), "no nodes available to schedule pods");
    add_node(fx.cache, "small-1", "2", NULL);
    add_node(fx.cache, "small-2", "2", NULL);
    add_node(fx.cache, "tainted", "8", "{taints: [{key: k, value: v, effect: NoSchedule}]}");
    sched_pod_free(&p);

    /* requests that fit exactly */
    p = pod("exact", "", "2", 0, NULL);
    const char *got = cycle(&fx, &p->pod, NULL);
    assert_true(strcmp(got, "small-1") == 0 || strcmp(got, "small-2") == 0);
    sched_pod_free(&p);

    /* too big for both small nodes, the big one is tainted: preemption
     * cannot help anywhere (more than the small nodes have at all) */
    p = pod("big", "", "3", 0, NULL);
    assert_string_equal(cycle(&fx, &p->pod, NULL),
                        "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 "
                        "Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is "
                        "not helpful for scheduling..");
    sched_pod_free(&p);
    /* fits the small nodes' size but not what is left: no victims at priority 0 */
    place(fx.cache, "hog1", "small-1", "2", 0);
    place(fx.cache, "hog2", "small-2", "2", 0);
    p = pod("mid", "", "1", 0, NULL);
    assert_string_equal(cycle(&fx, &p->pod, NULL),
                        "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 "
                        "Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is "
                        "not helpful for scheduling, 2 No preemption victims found for incoming "
                        "pod..");
    assert_true(sched_cache_remove_pod(fx.cache, "uid-hog1"));
    assert_true(sched_cache_remove_pod(fx.cache, "uid-hog2"));
    sched_pod_free(&p);
    /* tolerated: the tainted node it is */
    p = pod("tol", "", "3", 0,
            "  tolerations: [{key: k, operator: Equal, value: v, effect: NoSchedule}]\n");
    assert_string_equal(cycle(&fx, &p->pod, NULL), "tainted");
    sched_pod_free(&p);

    /* least allocated: with small-1 busy, small-2 wins */
    place(fx.cache, "busy", "small-1", "1500m", 0);
    for (int i = 0; i < 5; i++) {
        p = pod("spread", "", "100m", 0, NULL);
        assert_string_equal(cycle(&fx, &p->pod, NULL), "small-2");
        sched_pod_free(&p);
    }
    /* preemptionPolicy Never */
    p = pod("never", "", "3", 10, "  preemptionPolicy: Never\n");
    assert_string_equal(
        cycle(&fx, &p->pod, NULL),
        "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 "
        "Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never..");
    sched_pod_free(&p);
    fx_fini(&fx);
}

static void test_nominated(void **state)
{
    (void)state;
    fixture_t fx;
    fx_init(&fx);
    add_node(fx.cache, "n1", "2", NULL);
    add_node(fx.cache, "n2", "2", NULL);
    /* a high-priority pod nominated to n1 holds its room against lower ones */
    sched_pod_t *high = pod("high", "", "2", 100, NULL);
    sched_cache_nominate(fx.cache, &high->pod, "n1");
    for (int i = 0; i < 4; i++) {
        sched_pod_t *p = pod("low", "", "1", 0, NULL);
        assert_string_equal(cycle(&fx, &p->pod, NULL), "n2");
        sched_pod_free(&p);
    }
    /* not against a pod of higher priority */
    place(fx.cache, "filler", "n2", "2", 0);
    sched_pod_t *p = pod("higher", "", "1", 1000, NULL);
    assert_string_equal(cycle(&fx, &p->pod, NULL), "n1");
    sched_pod_free(&p);
    /* the nominated pod itself goes straight to its node */
    assert_string_equal(cycle(&fx, &high->pod, "n1"), "n1");
    sched_cache_unnominate(fx.cache, &high->pod);
    sched_pod_free(&high);
    fx_fini(&fx);
}

static void test_preemption_victims(void **state)
{
    (void)state;
    fixture_t fx;
    fx_init(&fx);
    add_node(fx.cache, "n1", "4", NULL);
    place(fx.cache, "low", "n1", "2", 1);
    place(fx.cache, "mid", "n1", "1", 5);
    place(fx.cache, "top", "n1", "1", 100);
    /* 2 cpu at priority 10: low and mid can go; mid (more important) is
     * reprieved, low is enough */
    sched_pod_t *p = pod("pre", "", "2", 10, NULL);
    assert_string_equal(cycle(&fx, &p->pod, NULL), "preempt on n1: low");
    sched_pod_free(&p);
    /* 3 cpu: both must go */
    p = pod("pre3", "", "3", 10, NULL);
    assert_string_equal(cycle(&fx, &p->pod, NULL), "preempt on n1: mid low");
    sched_pod_free(&p);
    /* 4 cpu: even without every lower pod it does not fit */
    p = pod("pre4", "", "4", 10, NULL);
    assert_string_equal(cycle(&fx, &p->pod, NULL),
                        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                        "available: 1 Insufficient cpu..");
    sched_pod_free(&p);
    /* priority 0: nothing lower to preempt */
    p = pod("pre0", "", "1", 0, NULL);
    assert_string_equal(cycle(&fx, &p->pod, NULL),
                        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                        "available: 1 No preemption victims found for incoming pod..");
    sched_pod_free(&p);
    fx_fini(&fx);
}

static void test_preemption_node_choice(void **state)
{
    (void)state;
    fixture_t fx;
    fx_init(&fx);
    add_node(fx.cache, "a", "2", NULL);
    add_node(fx.cache, "b", "2", NULL);
    add_node(fx.cache, "c", "2", NULL);
    place(fx.cache, "a1", "a", "2", 5); /* highest victim 5 */
    place(fx.cache, "b1", "b", "1", 1); /* highest victim 1, two victims */
    place(fx.cache, "b2", "b", "1", 1);
    place(fx.cache, "c1", "c", "1", 1); /* highest victim 1, sum lower than b's */
    place(fx.cache, "c2", "c", "1", 0);
    sched_pod_t *p = pod("pre", "", "2", 10, NULL);
    assert_string_equal(cycle(&fx, &p->pod, NULL), "preempt on c: c1 c2");
    sched_pod_free(&p);
    fx_fini(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fiterr_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_num_feasible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle_places_and_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nominated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preemption_victims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preemption_node_choice, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
