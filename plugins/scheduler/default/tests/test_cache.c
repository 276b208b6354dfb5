/* The scheduler's cache (cache.c): nodes parsed from Node objects (with
 * "did anything a step reads change"), pods on nodes with their requests
 * summed, assume / confirm / forget, ghosts of deleted nodes, the
 * snapshot's subsets, nominated pods, and node copies for preemption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/scheduler.h>

#include "cache.h"

static kr_arena_t *g_a;

static kr_value_t *yaml(const char *text)
{
    kr_value_t *docs;
    kr_error_t err;
    if (kr_yaml_decode(g_a, text, strlen(text), &docs, &err) < 0)
        fail_msg("yaml: %s", err.message);
    return kr_value_array_get(docs, 0);
}

static sched_pod_t *pod(const char *text)
{
    kr_error_t err;
    sched_pod_t *sp = sched_pod_new(yaml(text), false, &err);
    if (sp == NULL)
        fail_msg("pod: %s", err.message);
    return sp;
}

static const kr_value_t *node_yaml(const char *name, const char *cpu, const char *extra)
{
    char buf[2048];
    snprintf(
        buf, sizeof buf,
        "metadata: {name: %s, labels: {zone: a}}\n"
        "status:\n"
        "  allocatable: {cpu: '%s', memory: 8Gi, pods: '110', nvidia.com/gpu: '2'}\n"
        "  conditions: [{type: Ready, status: 'True', lastHeartbeatTime: '2026-01-01T00:00:00Z'}]\n"
        "%s",
        name, cpu, extra != NULL ? extra : "");
    return yaml(buf);
}

static const char *pod_on(const char *name, const char *node, const char *cpu)
{
    return kr_arena_printf(g_a,
                           "metadata: {name: %s, namespace: default, uid: uid-%s}\n"
                           "spec:\n  nodeName: '%s'\n"
                           "  containers: [{name: c, resources: {requests: {cpu: '%s', "
                           "nvidia.com/gpu: '1'}}}]\n",
                           name, name, node, cpu);
}

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

static const kr_sched_node_t *node(sched_cache_t *c, const char *name)
{
    sched_cnode_t *cn = sched_cache_node(c, name);
    assert_non_null(cn);
    return &cn->b.n;
}

static void test_nodes(void **state)
{
    (void)state;
    sched_cache_t *c = sched_cache_new();
    bool changed;
    assert_int_equal(sched_cache_set_node(c, node_yaml("n1", "4", NULL), &changed, NULL), 0);
    assert_true(changed);
    const kr_sched_node_t *n = node(c, "n1");
    assert_string_equal(n->name, "n1");
    assert_int_equal(n->allocatable.milli_cpu, 4000);
    assert_int_equal(n->allocatable.memory, 8LL << 30);
    assert_int_equal(n->allocatable.pods, 110);
    assert_int_equal(n->allocatable.n_scalar, 1);
    assert_string_equal(n->allocatable.scalar[0].name, "nvidia.com/gpu");
    assert_int_equal(n->ready, 1);
    assert_string_equal(kr_value_map_str(n->labels, "zone"), "a");

    /* a heartbeat only: nothing a step reads */
    const kr_value_t *hb =
        yaml("metadata: {name: n1, labels: {zone: a}}\n"
             "status:\n"
             "  allocatable: {cpu: '4', memory: 8Gi, pods: '110', nvidia.com/gpu: '2'}\n"
             "  conditions: [{type: Ready, status: 'True', lastHeartbeatTime: "
             "'2026-01-01T00:00:10Z'}]\n");
    assert_int_equal(sched_cache_set_node(c, hb, &changed, NULL), 0);
    assert_false(changed);
    /* taints, not ready, unschedulable: changed */
    const kr_value_t *tainted = yaml("metadata: {name: n1, labels: {zone: a}}\n"
                                     "spec: {unschedulable: true, taints: [{key: k, value: v, "
                                     "effect: NoSchedule}, {key: x, effect: PreferNoSchedule}]}\n"
                                     "status:\n"
                                     "  allocatable: {cpu: '4', memory: 8Gi, pods: '110'}\n"
                                     "  conditions: [{type: Ready, status: 'False'}, {type: "
                                     "NetworkUnavailable, status: 'True'}]\n");
    assert_int_equal(sched_cache_set_node(c, tainted, &changed, NULL), 0);
    assert_true(changed);
    n = node(c, "n1");
    assert_true(n->unschedulable);
    assert_int_equal(n->ready, 0);
    assert_true(n->network_unavailable);
    assert_int_equal(n->n_taints, 2);
    assert_string_equal(n->taints[0].key, "k");
    assert_string_equal(n->taints[0].value, "v");
    assert_int_equal(n->taints[0].effect, KR_SCHED_NO_SCHEDULE);
    assert_string_equal(n->taints[1].value, "");
    assert_int_equal(n->taints[1].effect, KR_SCHED_PREFER_NO_SCHEDULE);
    /* Unknown readiness, capacity when there is no allocatable */
    assert_int_equal(
        sched_cache_set_node(
            c,
            yaml("metadata: {name: n2}\n"
                 "status: {capacity: {cpu: 500m}, conditions: [{type: Ready, status: Unknown}]}\n"),
            &changed, NULL),
        0);
    assert_int_equal(node(c, "n2")->ready, -1);
    assert_int_equal(node(c, "n2")->allocatable.milli_cpu, 500);
    /* a bad quantity: refused with the field, node kept with nothing */
    kr_error_t err;
    assert_true(
        sched_cache_set_node(c, yaml("metadata: {name: n3}\nstatus: {allocatable: {cpu: lots}}\n"),
                             &changed, &err) < 0);
    assert_non_null(strstr(err.message, "n3"));
    assert_int_equal(node(c, "n3")->allocatable.milli_cpu, 0);
    const kr_sched_snapshot_t *snap = sched_cache_snapshot(c);
    assert_int_equal(snap->n_nodes, 3);
    sched_cache_remove_node(c, "n3");
    assert_null(sched_cache_node(c, "n3"));
    assert_int_equal(sched_cache_snapshot(c)->n_nodes, 2);
    sched_cache_destroy(&c);
}

static void test_assume_confirm_forget(void **state)
{
    (void)state;
    sched_cache_t *c = sched_cache_new();
    assert_int_equal(sched_cache_set_node(c, node_yaml("n1", "4", NULL), NULL, NULL), 0);
    const kr_sched_node_t *n = node(c, "n1");
    uint64_t gen = n->generation;

    /* assume: counted at once */
    sched_pod_t *sp = pod(pod_on("a", "", "1500m"));
    assert_int_equal(sched_cache_assume(c, &sp, "n1", NULL), 0);
    assert_null(sp);
    assert_int_equal(n->requested.milli_cpu, 1500);
    assert_int_equal(n->requested.pods, 1);
    assert_int_equal(n->requested.n_scalar, 1);
    assert_int_equal(n->requested.scalar[0].value, 1);
    assert_int_equal(n->n_pods, 1);
    assert_string_equal(n->pods[0]->node_name, "n1");
    assert_true(n->generation > gen);
    bool assumed;
    assert_non_null(sched_cache_pod(c, "uid-a", &assumed));
    assert_true(assumed);
    /* the same uid twice is refused */
    sched_pod_t *again = pod(pod_on("a", "", "1"));
    kr_error_t err;
    assert_int_equal(sched_cache_assume(c, &again, "n1", &err), -KR_E_ALREADY_EXISTS);
    sched_pod_free(&again);
    assert_int_equal(sched_cache_assume(c, &again, "nope", &err), -KR_E_NOT_FOUND);

    /* confirm: the informer shows it bound; counted once */
    sp = pod(pod_on("a", "n1", "1500m"));
    assert_false(sched_cache_set_pod(c, &sp));
    assert_int_equal(n->requested.milli_cpu, 1500);
    assert_int_equal(n->n_pods, 1);
    assert_non_null(sched_cache_pod(c, "uid-a", &assumed));
    assert_false(assumed);
    /* forgetting a confirmed pod does nothing */
    assert_null(sched_cache_forget(c, "uid-a"));
    assert_int_equal(n->requested.milli_cpu, 1500);

    /* assume b then forget it: back to a alone */
    sp = pod(pod_on("b", "", "2"));
    assert_int_equal(sched_cache_assume(c, &sp, "n1", NULL), 0);
    assert_int_equal(n->requested.milli_cpu, 3500);
    assert_int_equal(n->requested.pods, 2);
    sched_pod_t *back = sched_cache_forget(c, "uid-b");
    assert_non_null(back);
    assert_string_equal(back->pod.node_name, "");
    assert_string_equal(back->pod.name, "b");
    sched_pod_free(&back);
    assert_int_equal(n->requested.milli_cpu, 1500);
    assert_int_equal(n->requested.pods, 1);
    assert_int_equal(n->requested.scalar[0].value, 1);

    /* a pod bound elsewhere than assumed moves */
    assert_int_equal(sched_cache_set_node(c, node_yaml("n2", "4", NULL), NULL, NULL), 0);
    sp = pod(pod_on("c", "", "1"));
    assert_int_equal(sched_cache_assume(c, &sp, "n1", NULL), 0);
    sp = pod(pod_on("c", "n2", "1"));
    assert_false(sched_cache_set_pod(c, &sp));
    assert_int_equal(n->requested.milli_cpu, 1500);
    assert_int_equal(node(c, "n2")->requested.milli_cpu, 1000);

    /* removal */
    assert_true(sched_cache_remove_pod(c, "uid-a"));
    assert_false(sched_cache_remove_pod(c, "uid-a"));
    assert_int_equal(n->requested.milli_cpu, 0);
    assert_int_equal(n->requested.pods, 0);
    assert_int_equal(n->requested.scalar[0].value, 0);
    assert_int_equal(n->n_pods, 0);
    assert_int_equal(sched_cache_pod_count(c), 1);
    sched_cache_destroy(&c);
}

static void test_ghost_and_snapshot(void **state)
{
    (void)state;
    sched_cache_t *c = sched_cache_new();
    /* a pod on a node not seen yet */
    sched_pod_t *sp = pod(pod_on("a", "later", "1"));
    assert_true(sched_cache_set_pod(c, &sp));
    assert_int_equal(sched_cache_snapshot(c)->n_nodes, 0);
    assert_int_equal(sched_cache_set_node(c, node_yaml("later", "2", NULL), NULL, NULL), 0);
    const kr_sched_snapshot_t *snap = sched_cache_snapshot(c);
    assert_int_equal(snap->n_nodes, 1);
    assert_int_equal(snap->nodes[0]->requested.milli_cpu, 1000);
    assert_int_equal(snap->n_have_pods_with_affinity, 0);

    /* a pod with anti-affinity on it: in both subsets */
    sp = pod(
        "metadata: {name: aff, namespace: default, uid: uid-aff, labels: {app: web}}\n"
        "spec:\n  nodeName: later\n  containers: [{name: c}]\n"
        "  affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: "
        "[{labelSelector: {matchLabels: {app: web}}, topologyKey: kubernetes.io/hostname}]}}\n");
    assert_true(sched_cache_set_pod(c, &sp));
    snap = sched_cache_snapshot(c);
    assert_int_equal(snap->n_have_pods_with_affinity, 1);
    assert_int_equal(snap->n_have_pods_with_required_anti_affinity, 1);
    assert_int_equal(snap->nodes[0]->n_pods_with_required_anti_affinity, 1);
    assert_true(sched_cache_remove_pod(c, "uid-aff"));
    snap = sched_cache_snapshot(c);
    assert_int_equal(snap->n_have_pods_with_affinity, 0);

    /* the Node goes, its pod stays counted on the ghost until it goes */
    sched_cache_remove_node(c, "later");
    assert_int_equal(sched_cache_snapshot(c)->n_nodes, 0);
    assert_non_null(sched_cache_node(c, "later"));
    assert_true(sched_cache_remove_pod(c, "uid-a"));
    assert_null(sched_cache_node(c, "later"));
    sched_cache_destroy(&c);
}

static void test_nominate_and_clone(void **state)
{
    (void)state;
    sched_cache_t *c = sched_cache_new();
    assert_int_equal(sched_cache_set_node(c, node_yaml("n1", "4", NULL), NULL, NULL), 0);
    assert_int_equal(sched_cache_set_node(c, node_yaml("n2", "4", NULL), NULL, NULL), 0);
    sched_pod_t *pending = pod(pod_on("p", "", "1"));
    sched_cache_nominate(c, &pending->pod, "n1");
    assert_int_equal(sched_cache_node(c, "n1")->n_nominated, 1);
    sched_cache_nominate(c, &pending->pod, "n2"); /* one node at a time */
    assert_int_equal(sched_cache_node(c, "n1")->n_nominated, 0);
    assert_int_equal(sched_cache_node(c, "n2")->n_nominated, 1);
    sched_cache_unnominate(c, &pending->pod);
    assert_int_equal(sched_cache_node(c, "n2")->n_nominated, 0);

    sched_pod_t *a = pod(pod_on("a", "n1", "1")), *b = pod(pod_on("b", "n1", "2"));
    const kr_sched_pod_t *pa = &a->pod, *pb = &b->pod;
    assert_true(sched_cache_set_pod(c, &a));
    assert_true(sched_cache_set_pod(c, &b));
    const kr_sched_node_t *n = node(c, "n1");
    kr_arena_t *ca = kr_arena_new(0);
    sched_nodebuf_t *copy = sched_node_clone(ca, n);
    assert_true(sched_node_remove_pod(copy, pa));
    assert_false(sched_node_remove_pod(copy, pa));
    assert_true(sched_node_remove_pod(copy, pb));
    assert_int_equal(copy->n.requested.milli_cpu, 0);
    assert_int_equal(copy->n.requested.scalar[0].value, 0);
    assert_int_equal(copy->n.n_pods, 0);
    sched_node_add_pod(copy, &pending->pod);
    assert_int_equal(copy->n.requested.milli_cpu, 1000);
    /* the cache's node is untouched */
    assert_int_equal(n->requested.milli_cpu, 3000);
    assert_int_equal(n->requested.scalar[0].value, 2);
    assert_int_equal(n->n_pods, 2);
    kr_arena_destroy(&ca);
    sched_pod_free(&pending);
    sched_cache_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assume_confirm_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ghost_and_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nominate_and_clone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
