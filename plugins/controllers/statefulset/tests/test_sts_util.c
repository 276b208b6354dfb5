/* Unit tests of the StatefulSet controller's pure parts: ordinal parsing,
 * the pod made for an ordinal, the revision hash, and one sync's
 * decisions (OrderedReady and Parallel creation, scale-down in reverse,
 * the rolling update from the highest ordinal down with a partition) with
 * the status they leave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/controller.h>

#include "sts_util.h"

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

static void test_ordinals(void **state)
{
    (void)state;
    size_t pl = 0;
    assert_int_equal(sts_ordinal("web-0", &pl), 0);
    assert_int_equal(pl, 3);
    assert_int_equal(sts_ordinal("my-web-12", &pl), 12);
    assert_int_equal(pl, 6);
    assert_int_equal(sts_ordinal("web", NULL), -1);
    assert_int_equal(sts_ordinal("web-", NULL), -1);
    assert_int_equal(sts_ordinal("web-x1", NULL), -1);
    assert_int_equal(sts_ordinal("-1", NULL), -1);
    assert_true(sts_is_member("web", "web-3"));
    assert_false(sts_is_member("web", "web-db-3"));
    assert_false(sts_is_member("web", "webx-3"));
    assert_false(sts_is_member("web", "web-3a"));
}

/* A set of `replicas` with policy and strategy. */
static kr_value_t *set_of(int replicas, const char *policy, const char *strategy)
{
    return json(kr_arena_printf(
        A,
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"web\","
        "\"namespace\":\"default\",\"uid\":\"u1\"},\"spec\":{\"replicas\":%d,\"serviceName\":"
        "\"nginx\",\"podManagementPolicy\":\"%s\",\"updateStrategy\":%s,\"selector\":{"
        "\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":"
        "\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}",
        replicas, policy, strategy));
}

#define ROLLING "{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"partition\":0}}"

static void test_new_pod(void **state)
{
    (void)state;
    kr_value_t *set = set_of(3, "OrderedReady", ROLLING);
    kr_value_set(A, set, "spec.volumeClaimTemplates",
                 json("[{\"metadata\":{\"name\":\"www\"},\"spec\":{}}]"), NULL);
    kr_value_set(A, set, "spec.template.spec.volumes",
                 json("[{\"name\":\"www\",\"emptyDir\":{}},{\"name\":\"tmp\",\"emptyDir\":{}}]"),
                 NULL);
    kr_value_t *pod = sts_new_pod(A, set, kr_value_get(set, "spec.template"), "web-abc", 2);
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "metadata.name")), "web-2");
    assert_null(kr_value_get(pod, "metadata.generateName"));
    const kr_value_t *l = kr_value_get(pod, "metadata.labels");
    assert_string_equal(kr_value_map_str(l, STS_POD_NAME_LABEL), "web-2");
    assert_string_equal(kr_value_map_str(l, STS_POD_INDEX_LABEL), "2");
    assert_string_equal(kr_value_map_str(l, STS_REVISION_LABEL), "web-abc");
    assert_string_equal(kr_value_map_str(l, "app"), "web");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "spec.hostname")), "web-2");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "spec.subdomain")), "nginx");
    assert_true(kr_controlled_by(pod, "u1"));
    /* the claim's volume replaces the template's volume of that name */
    assert_true(kr_value_equal(
        kr_value_get(pod, "spec.volumes"),
        json("[{\"name\":\"www\",\"persistentVolumeClaim\":{\"claimName\":\"www-web-2\"}},"
             "{\"name\":\"tmp\",\"emptyDir\":{}}]")));
    assert_true(sts_identity_matches(set, pod));
    kr_value_map_del(kr_value_get(pod, "metadata.labels"), STS_POD_NAME_LABEL);
    assert_false(sts_identity_matches(set, pod));
}

static void test_revision_hash(void **state)
{
    (void)state;
    char h[16], h2[16];
    /* FNV-1 32 of "{}" is 1450640401 (computed independently), mapped
     * digit by digit through the alphabet */
    sts_revision_hash(json("{}"), -1, h, sizeof h);
    char want[16];
    const char *dec = "1450640401", *alpha = "bcdfghjklmnpqrstvwxz2456789";
    size_t i = 0;
    for (; dec[i]; i++)
        want[i] = alpha[(unsigned char)dec[i] % 27];
    want[i] = '\0';
    assert_string_equal(h, want);
    kr_value_t *set = set_of(1, "OrderedReady", ROLLING);
    kr_value_t *data = sts_revision_data(A, set);
    sts_revision_hash(data, 0, h, sizeof h);
    sts_revision_hash(data, 1, h2, sizeof h2);
    assert_string_not_equal(h, h2);
    /* key order does not matter */
    sts_revision_hash(json("{\"b\":1,\"a\":\"<&>\"}"), -1, h, sizeof h);
    sts_revision_hash(json("{\"a\":\"<&>\",\"b\":1}"), -1, h2, sizeof h2);
    assert_string_equal(h, h2);
    kr_value_t *rev = json("{}");
    kr_value_map_set(A, rev, "data", data);
    assert_true(kr_value_equal(sts_revision_template(A, rev), kr_value_get(set, "spec.template")));
}

/* A pod of the set: ordinal, revision, phase, ready. */
static kr_value_t *pod(int ord, const char *rev, const char *phase, bool ready)
{
    return json(kr_arena_printf(
        A,
        "{\"metadata\":{\"name\":\"web-%d\",\"uid\":\"p%d\",\"labels\":{\"app\":\"web\","
        "\"" STS_POD_NAME_LABEL "\":\"web-%d\",\"" STS_REVISION_LABEL "\":\"%s\"}},"
        "\"status\":{\"phase\":\"%s\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\","
        "\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"}]}}",
        ord, ord, ord, rev, phase, ready ? "True" : "False"));
}

static size_t plan(const kr_value_t *set, const kr_value_t *const *pods, size_t n,
                   sts_action_t **acts, sts_status_t *st)
{
    sts_plan_in_t in = {.set = set,
                        .current_revision = "web-a",
                        .update_revision = "web-b",
                        .current_template = kr_value_get(set, "spec.template"),
                        .update_template = kr_value_get(set, "spec.template"),
                        .pods = pods,
                        .npods = n,
                        .now_s = 1700000000};
    return sts_plan(A, &in, acts, st);
}

static const char *act_pod(const sts_action_t *a)
{
    return kr_value_as_str(kr_value_get(a->pod, "metadata.name"));
}

static void test_ordered_ready(void **state)
{
    (void)state;
    sts_action_t *acts;
    sts_status_t st;
    kr_value_t *set = set_of(3, "OrderedReady", ROLLING);
    /* nothing yet: web-0 only */
    assert_int_equal(plan(set, NULL, 0, &acts, &st), 1);
    assert_int_equal(acts[0].kind, STS_CREATE);
    assert_string_equal(act_pod(&acts[0]), "web-0");
    /* web-0 not ready: wait */
    const kr_value_t *p[3] = {pod(0, "web-b", "Running", false)};
    assert_int_equal(plan(set, p, 1, &acts, &st), 0);
    p[0] = pod(0, "web-b", "Pending", false);
    assert_int_equal(plan(set, p, 1, &acts, &st), 0);
    /* web-0 Running and Ready: web-1 */
    p[0] = pod(0, "web-b", "Running", true);
    assert_int_equal(plan(set, p, 1, &acts, &st), 1);
    assert_string_equal(act_pod(&acts[0]), "web-1");
    assert_string_equal(
        kr_value_as_str(kr_value_get(acts[0].pod, "metadata.labels." STS_REVISION_LABEL)), "web-b");
    assert_int_equal(st.replicas, 1);
    assert_int_equal(st.ready, 1);
    /* all there and ready: nothing; the rolling update is complete */
    p[1] = pod(1, "web-b", "Running", true);
    p[2] = pod(2, "web-b", "Running", true);
    assert_int_equal(plan(set, p, 3, &acts, &st), 0);
    assert_int_equal(st.replicas, 3);
    assert_int_equal(st.updated, 3);
    assert_int_equal(st.current, 3);
    assert_string_equal(st.current_revision, "web-b");
    /* a failed pod is deleted (recreated later) and blocks the rest */
    p[1] = pod(1, "web-b", "Failed", false);
    assert_int_equal(plan(set, p, 3, &acts, &st), 1);
    assert_int_equal(acts[0].kind, STS_DELETE);
    assert_string_equal(acts[0].why, "failed");
    /* ordinals.start */
    kr_value_set(A, set, "spec.ordinals", json("{\"start\":5}"), NULL);
    assert_int_equal(plan(set, NULL, 0, &acts, &st), 1);
    assert_string_equal(act_pod(&acts[0]), "web-5");
}

static void test_parallel(void **state)
{
    (void)state;
    sts_action_t *acts;
    sts_status_t st;
    kr_value_t *set = set_of(3, "Parallel", ROLLING);
    assert_int_equal(plan(set, NULL, 0, &acts, &st), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(acts[i].kind, STS_CREATE);
    /* scale to 0 at once */
    set = set_of(0, "Parallel", ROLLING);
    const kr_value_t *p[3] = {pod(0, "web-b", "Running", true), pod(1, "web-b", "Pending", false),
                              pod(2, "web-b", "Running", true)};
    assert_int_equal(plan(set, p, 3, &acts, &st), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(acts[i].kind, STS_DELETE);
}

static void test_scale_down(void **state)
{
    (void)state;
    sts_action_t *acts;
    sts_status_t st;
    kr_value_t *set = set_of(0, "OrderedReady", ROLLING);
    const kr_value_t *p[3] = {pod(0, "web-b", "Running", true), pod(2, "web-b", "Running", true),
                              pod(1, "web-b", "Running", true)};
    /* the highest ordinal first, one at a time */
    assert_int_equal(plan(set, p, 3, &acts, &st), 1);
    assert_int_equal(acts[0].kind, STS_DELETE);
    assert_string_equal(act_pod(&acts[0]), "web-2");
    /* while it terminates nothing else goes */
    kr_value_t *term = pod(2, "web-b", "Running", true);
    kr_value_set(A, term, "metadata.deletionTimestamp", kr_value_str(A, "2024-01-01T00:00:00Z"),
                 NULL);
    p[1] = term;
    assert_int_equal(plan(set, p, 3, &acts, &st), 0);
    /* an unhealthy pod blocks the scale-down unless it is the first
     * unhealthy one */
    const kr_value_t *q[2] = {pod(0, "web-b", "Running", false), pod(2, "web-b", "Running", true)};
    /* web-0 is the first unhealthy, so web-2 (ready) still goes first */
    assert_int_equal(plan(set, q, 2, &acts, &st), 1);
    assert_string_equal(act_pod(&acts[0]), "web-2");
    q[1] = pod(2, "web-b", "Running", false);
    q[0] = pod(0, "web-b", "Running", false);
    /* web-2 not ready and not the first unhealthy (web-0 is): blocked */
    assert_int_equal(plan(set, q, 2, &acts, &st), 0);
}

static void test_rolling_update(void **state)
{
    (void)state;
    sts_action_t *acts;
    sts_status_t st;
    kr_value_t *set = set_of(3, "OrderedReady", ROLLING);
    const kr_value_t *p[3] = {pod(0, "web-a", "Running", true), pod(1, "web-a", "Running", true),
                              pod(2, "web-a", "Running", true)};
    assert_int_equal(plan(set, p, 3, &acts, &st), 1);
    assert_int_equal(acts[0].kind, STS_DELETE);
    assert_string_equal(acts[0].why, "update");
    assert_string_equal(act_pod(&acts[0]), "web-2");
    assert_int_equal(st.current, 2); /* one fewer after the delete */
    assert_string_equal(st.current_revision, "web-a");
    /* web-2 updated but not ready: wait */
    p[2] = pod(2, "web-b", "Running", false);
    assert_int_equal(plan(set, p, 3, &acts, &st), 0);
    p[2] = pod(2, "web-b", "Running", true);
    assert_int_equal(plan(set, p, 3, &acts, &st), 1);
    assert_string_equal(act_pod(&acts[0]), "web-1");
    assert_int_equal(st.updated, 1);
    /* partition 2: web-0 and web-1 stay at the current revision */
    set = set_of(3, "OrderedReady",
                 "{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"partition\":2}}");
    assert_int_equal(plan(set, p, 3, &acts, &st), 0);
    /* and a missing pod below the partition is made from the current revision */
    const kr_value_t *q[2] = {pod(1, "web-a", "Running", true), pod(2, "web-b", "Running", true)};
    assert_int_equal(plan(set, q, 2, &acts, &st), 1);
    assert_string_equal(act_pod(&acts[0]), "web-0");
    assert_string_equal(
        kr_value_as_str(kr_value_get(acts[0].pod, "metadata.labels." STS_REVISION_LABEL)), "web-a");
    /* OnDelete: nothing is deleted for an update */
    set = set_of(3, "OrderedReady", "{\"type\":\"OnDelete\"}");
    p[2] = pod(2, "web-a", "Running", true);
    assert_int_equal(plan(set, p, 3, &acts, &st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ordinals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_pod, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revision_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ordered_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scale_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolling_update, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
