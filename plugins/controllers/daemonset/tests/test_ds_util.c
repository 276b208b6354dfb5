/* Unit tests of the DaemonSet controller's pure parts: eligibility
 * (nodeSelector, node affinity, taints against the template's and the
 * daemon tolerations), the pod made for a node, the rolling update's
 * picks, the failed-pod back-off and the revision hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/controller.h>

#include "ds_util.h"

static kr_arena_t *A;

static kr_value_t *json(const char *s)
{
    kr_value_t *v = NULL;
    assert_int_equal(kr_json_decode(A, s, strlen(s), &v, NULL), 0);
    return v;
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

/* A DaemonSet whose pod spec is `spec` (JSON). */
static kr_value_t *ds_with(const char *spec)
{
    return json(kr_arena_printf(
        A,
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"ds\","
        "\"namespace\":\"default\",\"uid\":\"u1\"},\"spec\":{\"selector\":{\"matchLabels\":{"
        "\"app\":\"d\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"d\"}},\"spec\":%s}}}",
        spec));
}

static kr_value_t *node(const char *name, const char *labels, const char *taints)
{
    return json(kr_arena_printf(
        A, "{\"metadata\":{\"name\":\"%s\",\"labels\":%s},\"spec\":{\"taints\":%s}}", name,
        labels ? labels : "{}", taints ? taints : "[]"));
}

static void run(const kr_value_t *ds, const kr_value_t *n, bool want_run, bool want_cont)
{
    bool r, c;
    ds_node_should_run(ds, n, &r, &c);
    assert_int_equal(r, want_run);
    assert_int_equal(c, want_cont);
}

static void test_eligibility(void **state)
{
    (void)state;
    kr_value_t *plain = ds_with("{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}");
    run(plain, node("n1", NULL, NULL), true, true);
    /* nodeSelector */
    kr_value_t *sel = ds_with("{\"nodeSelector\":{\"disk\":\"ssd\"},\"containers\":[]}");
    run(sel, node("n1", "{\"disk\":\"ssd\"}", NULL), true, true);
    run(sel, node("n1", "{\"disk\":\"hdd\"}", NULL), false, false);
    run(sel, node("n1", NULL, NULL), false, false);
    /* required node affinity: terms are ORed, requirements ANDed */
    kr_value_t *aff = ds_with(
        "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{"
        "\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\","
        "\"values\":[\"a\",\"b\"]},{\"key\":\"cpu\",\"operator\":\"Gt\",\"values\":[\"4\"]}]},"
        "{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"special\"]}"
        "]}"
        "]}}},\"containers\":[]}");
    run(aff, node("n1", "{\"zone\":\"a\",\"cpu\":\"8\"}", NULL), true, true);
    run(aff, node("n1", "{\"zone\":\"a\",\"cpu\":\"4\"}", NULL), false, false);
    run(aff, node("n1", "{\"zone\":\"c\",\"cpu\":\"8\"}", NULL), false, false);
    run(aff, node("special", NULL, NULL), true, true);
    /* spec.nodeName */
    run(ds_with("{\"nodeName\":\"n2\",\"containers\":[]}"), node("n1", NULL, NULL), false, false);
    /* a NoSchedule taint: not created, an existing pod stays */
    const char *nosched = "[{\"key\":\"dedicated\",\"value\":\"x\",\"effect\":\"NoSchedule\"}]";
    run(plain, node("n1", NULL, nosched), false, true);
    /* NoExecute: gone too */
    const char *noexec = "[{\"key\":\"dedicated\",\"value\":\"x\",\"effect\":\"NoExecute\"}]";
    run(plain, node("n1", NULL, noexec), false, false);
    /* tolerated by the template */
    kr_value_t *tol = ds_with("{\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\","
                              "\"value\":\"x\"}],\"containers\":[]}");
    run(tol, node("n1", NULL, noexec), true, true);
    kr_value_t *tol_other = ds_with("{\"tolerations\":[{\"key\":\"dedicated\",\"operator\":"
                                    "\"Equal\",\"value\":\"y\"}],\"containers\":[]}");
    run(tol_other, node("n1", NULL, nosched), false, true);
    /* the daemon tolerations: conditions' taints never keep a daemon pod out */
    run(plain,
        node("n1", NULL,
             "[{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"},"
             "{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"},"
             "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"},"
             "{\"key\":\"node.kubernetes.io/memory-pressure\",\"effect\":\"NoSchedule\"},"
             "{\"key\":\"node.kubernetes.io/disk-pressure\",\"effect\":\"NoSchedule\"},"
             "{\"key\":\"node.kubernetes.io/pid-pressure\",\"effect\":\"NoSchedule\"}]"),
        true, true);
    const char *netun = "[{\"key\":\"node.kubernetes.io/network-unavailable\",\"effect\":"
                        "\"NoSchedule\"}]";
    run(plain, node("n1", NULL, netun), false, true);
    run(ds_with("{\"hostNetwork\":true,\"containers\":[]}"), node("n1", NULL, netun), true, true);
    /* PreferNoSchedule never counts */
    run(plain, node("n1", NULL, "[{\"key\":\"k\",\"effect\":\"PreferNoSchedule\"}]"), true, true);
}

static void test_tolerates(void **state)
{
    (void)state;
    kr_value_t *taint = json("{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoSchedule\"}");
    assert_true(ds_tolerates(json("{\"operator\":\"Exists\"}"), taint));
    assert_true(ds_tolerates(json("{\"key\":\"k\",\"operator\":\"Exists\"}"), taint));
    assert_true(ds_tolerates(json("{\"key\":\"k\",\"value\":\"v\"}"), taint));
    assert_false(ds_tolerates(json("{\"key\":\"k\",\"value\":\"w\"}"), taint));
    assert_false(ds_tolerates(
        json("{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoExecute\"}"), taint));
    assert_false(ds_tolerates(json("{\"key\":\"j\",\"operator\":\"Exists\"}"), taint));
}

static void test_pod_for_node(void **state)
{
    (void)state;
    kr_value_t *ds = ds_with(
        "{\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
        "\"effect\":\"NoExecute\",\"tolerationSeconds\":5}],\"affinity\":{\"nodeAffinity\":{"
        "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[{"
        "\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"Exists\"}]}]}}},"
        "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}");
    kr_value_set(A, ds, "metadata.annotations", json("{\"" DS_GENERATION_ANN "\":\"3\"}"), NULL);
    kr_value_t *pod = ds_pod_for_node(A, ds, "abc123", "n7");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "metadata.generateName")), "ds-");
    assert_string_equal(
        kr_value_as_str(kr_value_get(pod, "metadata.labels[\"" DS_HASH_LABEL "\"]")), "abc123");
    assert_string_equal(
        kr_value_as_str(kr_value_get(pod, "metadata.labels[\"" DS_GENERATION_LABEL "\"]")), "3");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "metadata.labels.app")), "d");
    assert_true(kr_controlled_by(pod, "u1"));
    /* the required terms are replaced by the node's name */
    assert_true(kr_value_equal(
        kr_value_get(pod,
                     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"),
        json("{\"nodeSelectorTerms\":[{\"matchFields\":[{\"key\":\"metadata.name\","
             "\"operator\":\"In\",\"values\":[\"n7\"]}]}]}")));
    assert_string_equal(ds_target_node(pod), "n7");
    /* six daemon tolerations, the template's not-ready one replaced
     * (tolerationSeconds dropped) rather than doubled */
    const kr_value_t *tols = kr_value_get(pod, "spec.tolerations");
    assert_int_equal(kr_value_len(tols), 6);
    assert_null(kr_value_get(tols, "[0].tolerationSeconds"));
    assert_string_equal(kr_value_as_str(kr_value_get(tols, "[0].key")),
                        "node.kubernetes.io/not-ready");
    assert_true(ds_pod_updated(ds, pod, "other")); /* by the generation */
    assert_true(ds_pod_updated(ds_with("{}"), pod, "abc123"));
    assert_false(ds_pod_updated(ds_with("{}"), pod, "other"));
    /* the bound node wins over the affinity */
    kr_value_set(A, pod, "spec.nodeName", kr_value_str(A, "n8"), NULL);
    assert_string_equal(ds_target_node(pod), "n8");
    assert_null(ds_target_node(json("{\"spec\":{}}")));
}

static void test_limits(void **state)
{
    (void)state;
    int64_t s, u;
    kr_value_t *ds = ds_with("{}");
    kr_value_set(A, ds, "spec.updateStrategy",
                 json("{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":\"25%\","
                      "\"maxSurge\":0}}"),
                 NULL);
    ds_update_limits(ds, 10, &s, &u);
    assert_int_equal(u, 3); /* rounded up */
    assert_int_equal(s, 0);
    kr_value_set(A, ds, "spec.updateStrategy",
                 json("{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":0,"
                      "\"maxSurge\":\"10%\"}}"),
                 NULL);
    ds_update_limits(ds, 10, &s, &u);
    assert_int_equal(s, 1);
    assert_int_equal(u, 0);
    kr_value_set(A, ds, "spec.updateStrategy", json("{\"type\":\"OnDelete\"}"), NULL);
    ds_update_limits(ds, 10, &s, &u);
    assert_int_equal(s + u, 1); /* both 0: unavailability 1 */
    assert_int_equal(ds_int_or_percent(kr_value_str(A, "x%"), 10, true), -1);
}

static kr_value_t *P1, *P2;

static void test_rolling_pick(void **state)
{
    (void)state;
    P1 = json("{}");
    P2 = json("{}");
    size_t del[8], cre[8], nd, nc;
    /* no surge, maxUnavailable 1: one available old pod deleted at a time */
    ds_node_state_t n[4] = {
        {.node = "a", .old_pod = P1, .old_available = true, .should_run = true},
        {.node = "b", .old_pod = P1, .old_available = true, .should_run = true},
        {.node = "c", .old_pod = P1, .old_available = true, .should_run = true},
        {.node = "d", .new_pod = P2, .new_available = true, .should_run = true},
    };
    ds_rolling_pick(n, 4, 4, 0, 1, del, &nd, cre, &nc);
    assert_int_equal(nd, 1);
    assert_int_equal(del[0], 0);
    assert_int_equal(nc, 0);
    /* a new pod not yet available uses up the budget */
    n[3].new_available = false;
    ds_rolling_pick(n, 4, 4, 0, 1, del, &nd, cre, &nc);
    assert_int_equal(nd, 0);
    /* an unavailable old pod is replaced whatever the budget */
    n[1].old_available = false;
    ds_rolling_pick(n, 4, 4, 0, 1, del, &nd, cre, &nc);
    assert_int_equal(nd, 1);
    assert_int_equal(del[0], 1);
    /* maxUnavailable 2 with nothing unavailable: two at once */
    n[1].old_available = true;
    n[3].new_available = true;
    ds_rolling_pick(n, 4, 4, 0, 2, del, &nd, cre, &nc);
    assert_int_equal(nd, 2);
    /* a node with no pod counts as unavailable */
    ds_node_state_t e[2] = {
        {.node = "a", .should_run = true},
        {.node = "b", .old_pod = P1, .old_available = true, .should_run = true},
    };
    ds_rolling_pick(e, 2, 2, 0, 1, del, &nd, cre, &nc);
    assert_int_equal(nd, 0);
    /* surge 1: a new pod beside one old pod; once available the old goes */
    ds_node_state_t s[3] = {
        {.node = "a", .old_pod = P1, .old_available = true, .should_run = true},
        {.node = "b", .old_pod = P1, .old_available = true, .should_run = true},
        {.node = "c", .old_pod = P1, .old_available = true, .should_run = true},
    };
    ds_rolling_pick(s, 3, 3, 1, 0, del, &nd, cre, &nc);
    assert_int_equal(nc, 1);
    assert_int_equal(cre[0], 0);
    assert_int_equal(nd, 0);
    s[0].new_pod = P2;
    ds_rolling_pick(s, 3, 3, 1, 0, del, &nd, cre, &nc);
    assert_int_equal(nc + nd, 0); /* waiting for the new one */
    s[0].new_available = true;
    ds_rolling_pick(s, 3, 3, 1, 0, del, &nd, cre, &nc);
    assert_int_equal(nd, 1);
    assert_int_equal(del[0], 0);
    assert_int_equal(nc, 1);
    assert_int_equal(cre[0], 1);
}

static void test_backoff(void **state)
{
    (void)state;
    ds_backoff_t b = {0};
    int64_t w;
    assert_false(ds_backoff_waiting(&b, 1000, &w));
    ds_backoff_next(&b, 1000);
    assert_true(ds_backoff_waiting(&b, 1500, &w));
    assert_int_equal(w, 500);
    assert_false(ds_backoff_waiting(&b, 2000, &w));
    ds_backoff_next(&b, 2000);
    assert_int_equal(b.delay_ms, 2000);
    for (int i = 0; i < 20; i++)
        ds_backoff_next(&b, 3000);
    assert_int_equal(b.delay_ms, 15 * 60 * 1000);
    /* forgotten after twice the cap */
    ds_backoff_next(&b, 3000 + 2 * 15 * 60 * 1000 + 1);
    assert_int_equal(b.delay_ms, 1000);
}

static void test_revisions(void **state)
{
    (void)state;
    kr_value_t *ds = ds_with("{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}");
    char h1[16], h2[16], h3[16], h4[16];
    ds_hash(kr_value_get(ds, "spec.template"), -1, h1, sizeof h1);
    /* key order does not matter */
    ds_hash(json("{\"spec\":{\"containers\":[{\"image\":\"i\",\"name\":\"c\"}]},"
                 "\"metadata\":{\"labels\":{\"app\":\"d\"}}}"),
            -1, h2, sizeof h2);
    assert_string_equal(h1, h2);
    ds_hash(kr_value_get(ds, "spec.template"), 1, h3, sizeof h3);
    assert_string_not_equal(h1, h3);
    ds_hash(kr_value_get(ds_with("{\"containers\":[{\"name\":\"c\",\"image\":\"j\"}]}"),
                         "spec.template"),
            -1, h4, sizeof h4);
    assert_string_not_equal(h1, h4);
    for (const char *p = h1; *p; p++)
        assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *p));
    kr_value_t *rev = json("{}");
    kr_value_map_set(A, rev, "data", ds_revision_data(A, ds));
    assert_string_equal(kr_value_as_str(kr_value_get(rev, "data.spec.template[\"$patch\"]")),
                        "replace");
    assert_true(ds_revision_matches(ds, rev));
    assert_false(
        ds_revision_matches(ds_with("{\"containers\":[{\"name\":\"c\",\"image\":\"j\"}]}"), rev));
}

static void test_age_order(void **state)
{
    (void)state;
    kr_value_t *a = json("{\"metadata\":{\"name\":\"a\",\"creationTimestamp\":"
                         "\"2024-01-01T00:00:02Z\"},\"spec\":{\"nodeName\":\"n\"}}");
    kr_value_t *b = json("{\"metadata\":{\"name\":\"b\",\"creationTimestamp\":"
                         "\"2024-01-01T00:00:01Z\"},\"spec\":{}}");
    kr_value_t *c = json("{\"metadata\":{\"name\":\"c\",\"creationTimestamp\":"
                         "\"2024-01-01T00:00:01Z\"},\"spec\":{\"nodeName\":\"n\"}}");
    assert_true(ds_pod_cmp_age(a, b) < 0); /* scheduled first */
    assert_true(ds_pod_cmp_age(c, a) < 0); /* then older */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eligibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tolerates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_for_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolling_pick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_age_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
