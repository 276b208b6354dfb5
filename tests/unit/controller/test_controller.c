/* kraal/controller.h: times, expectations, controller references, pod
 * readiness and availability, pods from templates and the scale-down
 * order, with the cases of upstream's controller_utils_test.go. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>

static kr_arena_t *A;

static kr_value_t *J(const char *s)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_yaml_decode(A, s, strlen(s), &v, &err) < 0)
        fail_msg("bad test document: %s", err.message);
    return kr_value_array_get(v, 0);
}

static void test_times(void **state)
{
    (void)state;
    int64_t s;
    int32_t ns;
    assert_true(kr_time_parse("1970-01-01T00:00:00Z", &s, &ns));
    assert_int_equal(s, 0);
    assert_true(kr_time_parse("2026-11-24T01:02:03.5Z", &s, &ns));
    assert_int_equal(ns, 500000000);
    char buf[40];
    kr_time_format(s, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-24T01:02:03Z");
    kr_time_format_micro(s * 1000000000 + 123456789, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-24T01:02:03.123456Z");
    int64_t s2;
    assert_true(kr_time_parse("2026-11-24T03:02:03+02:00", &s2, NULL));
    assert_int_equal(s2, s);
    assert_false(kr_time_parse("2026-02-29T00:00:00Z", &s, NULL)); /* not a leap year */
    assert_false(kr_time_parse("2026-11-24 01:02:03Z", &s, NULL));
    assert_false(kr_time_parse("2026-11-24T01:02:03", &s, NULL));
    assert_false(kr_time_parse("2026-11-24T01:02:03.Z", &s, NULL));
    assert_false(kr_time_parse(NULL, &s, NULL));
    assert_true(kr_time_now_ns() > 1700000000LL * 1000000000LL);
}

static void test_expectations(void **state)
{
    (void)state;
    kr_expectations_t *e = kr_expectations_new(1000);
    assert_true(kr_expectations_satisfied(e, "ns/rs", 0)); /* unknown key */
    kr_expectations_set(e, "ns/rs", 2, NULL, 0, 100);
    assert_false(kr_expectations_satisfied(e, "ns/rs", 200));
    kr_expectations_creation_observed(e, "ns/rs");
    assert_false(kr_expectations_satisfied(e, "ns/rs", 200));
    kr_expectations_creation_observed(e, "ns/rs");
    assert_true(kr_expectations_satisfied(e, "ns/rs", 200));
    /* tracked deletions: only the expected uids count */
    const char *uids[] = {"a", "b"};
    kr_expectations_set(e, "ns/rs", 0, uids, 2, 300);
    kr_expectations_deletion_observed(e, "ns/rs", "zzz");
    kr_expectations_deletion_observed(e, "ns/rs", "a");
    assert_false(kr_expectations_satisfied(e, "ns/rs", 400));
    kr_expectations_deletion_observed(e, "ns/rs", "a"); /* twice: still one */
    assert_false(kr_expectations_satisfied(e, "ns/rs", 400));
    kr_expectations_deletion_observed(e, "ns/rs", "b");
    assert_true(kr_expectations_satisfied(e, "ns/rs", 400));
    /* untracked deletions, and the TTL */
    kr_expectations_set(e, "ns/other", 0, NULL, 3, 1000);
    kr_expectations_deletion_observed(e, "ns/other", NULL);
    assert_false(kr_expectations_satisfied(e, "ns/other", 1500));
    assert_true(kr_expectations_satisfied(e, "ns/other", 2001)); /* expired */
    kr_expectations_delete(e, "ns/other");
    assert_true(kr_expectations_satisfied(e, "ns/other", 1500));
    kr_expectations_destroy(&e);
    assert_null(e);
}

static void test_controller_refs(void **state)
{
    (void)state;
    kr_value_t *rs = J("apiVersion: apps/v1\nkind: ReplicaSet\n"
                       "metadata: {name: web, namespace: prod, uid: u1}\n");
    kr_value_t *ref = kr_controller_ref_new(A, rs);
    assert_string_equal(kr_value_map_str(ref, "apiVersion"), "apps/v1");
    assert_string_equal(kr_value_map_str(ref, "kind"), "ReplicaSet");
    assert_string_equal(kr_value_map_str(ref, "name"), "web");
    assert_string_equal(kr_value_map_str(ref, "uid"), "u1");
    assert_true(kr_value_as_bool(kr_value_map_get(ref, "controller"), false));
    assert_true(kr_value_as_bool(kr_value_map_get(ref, "blockOwnerDeletion"), false));
    kr_value_t *pod = J("metadata:\n  ownerReferences:\n"
                        "  - {kind: Foo, name: x, uid: u0}\n"
                        "  - {kind: ReplicaSet, name: web, uid: u1, controller: true}\n");
    assert_string_equal(kr_value_map_str(kr_controller_ref_of(pod), "name"), "web");
    assert_true(kr_controlled_by(pod, "u1"));
    assert_false(kr_controlled_by(pod, "u0"));
    assert_null(kr_controller_ref_of(J("metadata: {name: a}\n")));
}

/* ControllerRefManager's patches: adopt adds our controller reference,
 * release deletes the reference with our uid; both carry the object's uid
 * (the precondition that keeps a replaced object untouched). */
static void test_ref_patches(void **state)
{
    (void)state;
    kr_value_t *rs = J("apiVersion: apps/v1\nkind: ReplicaSet\n"
                       "metadata: {name: web, namespace: prod, uid: u1}\n");
    kr_value_t *pod = J("metadata: {name: web-x, uid: p9}\n");
    kr_value_t *p = kr_controller_ref_patch(A, rs, pod, true);
    assert_string_equal(kr_value_as_str(kr_value_get(p, "metadata.uid")), "p9");
    kr_value_t *refs = kr_value_get(p, "metadata.ownerReferences");
    assert_int_equal(kr_value_len(refs), 1);
    assert_true(kr_value_equal(kr_value_array_get(refs, 0), kr_controller_ref_new(A, rs)));
    assert_int_equal(kr_value_len(kr_value_get(p, "metadata")), 2);
    p = kr_controller_ref_patch(A, rs, pod, false);
    refs = kr_value_get(p, "metadata.ownerReferences");
    assert_int_equal(kr_value_len(refs), 1);
    assert_true(kr_value_equal(kr_value_array_get(refs, 0), J("{$patch: delete, uid: u1}\n")));
    assert_string_equal(kr_value_as_str(kr_value_get(p, "metadata.uid")), "p9");
}

/* The hash's tail: FNV-1a 32 ("foobar" is 0xbf9cf968 = 3214735720), the
 * collision count as 4 little-endian bytes, SafeEncodeString. */
static void test_hash(void **state)
{
    (void)state;
    char h[16];
    kr_controller_hash("foobar", 6, -1, h, sizeof h);
    assert_string_equal(h, "7658c79c64");
    kr_controller_hash("foobar", 6, 1, h, sizeof h);
    assert_string_equal(h, "58d8b9845");
    kr_controller_hash(NULL, 0, -1, h, sizeof h); /* 2166136261, the offset basis */
    assert_string_equal(h, "65bb57b6b5");
    char small[4];
    kr_controller_hash("foobar", 6, -1, small, sizeof small);
    assert_string_equal(small, "765");
}

static void test_pods(void **state)
{
    (void)state;
    assert_true(kr_pod_is_active(J("status: {phase: Running}\n")));
    assert_false(kr_pod_is_active(J("status: {phase: Succeeded}\n")));
    assert_false(kr_pod_is_active(J("status: {phase: Failed}\n")));
    assert_false(kr_pod_is_active(J("metadata: {deletionTimestamp: '2026-01-01T00:00:00Z'}\n")));
    kr_value_t *ready = J("status:\n  conditions:\n  - {type: PodScheduled, status: 'True'}\n"
                          "  - {type: Ready, status: 'True', "
                          "lastTransitionTime: '2026-01-01T00:00:00Z'}\n");
    int64_t t0;
    assert_true(kr_time_parse("2026-01-01T00:00:00Z", &t0, NULL));
    assert_true(kr_pod_is_ready(ready));
    assert_true(kr_pod_is_available(ready, 0, t0));
    assert_false(kr_pod_is_available(ready, 10, t0 + 10)); /* ready for exactly 10 s: not yet */
    assert_true(kr_pod_is_available(ready, 10, t0 + 11));
    assert_false(kr_pod_is_ready(J("status: {conditions: [{type: Ready, status: 'False'}]}\n")));

    kr_value_t *rs = J("apiVersion: apps/v1\nkind: ReplicaSet\n"
                       "metadata: {name: web, namespace: prod, uid: u1}\n");
    kr_value_t *tmpl = J("metadata:\n  labels: {app: web}\n  annotations: {a: b}\n"
                         "spec:\n  containers: [{name: c, image: busybox}]\n");
    kr_value_t *pod = kr_pod_from_template(A, tmpl, rs, NULL);
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "metadata.generateName")), "web-");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "metadata.namespace")), "prod");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "metadata.labels.app")), "web");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "metadata.annotations.a")), "b");
    assert_true(kr_controlled_by(pod, "u1"));
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "spec.containers[0].image")), "busybox");
    assert_null(kr_value_get(pod, "metadata.name"));
    pod = kr_pod_from_template(A, tmpl, rs, "web-0");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "metadata.name")), "web-0");
    assert_null(kr_value_get(pod, "metadata.generateName"));
}

/* controller_utils_test.go TestSortingActivePods: each pod must sort
 * before every later one. */
static void test_deletion_order(void **state)
{
    (void)state;
    const char *docs[] = {
        "spec: {}\nstatus: {phase: Pending}\n",                 /* unassigned */
        "spec: {nodeName: node-a}\nstatus: {phase: Pending}\n", /* pending */
        "spec: {nodeName: node-a}\nstatus: {phase: Unknown}\n", /* unknown */
        "spec: {nodeName: node-a}\nstatus: {phase: Running}\n", /* running, not ready */
        "spec: {nodeName: node-a}\nstatus:\n  phase: Running\n  conditions: [{type: Ready, status: "
        "'True', lastTransitionTime: '2026-01-01T00:10:00Z'}]\n"
        "  containerStatuses: [{restartCount: 3}]\n", /* ready recently, restarts */
        "spec: {nodeName: node-a}\nstatus:\n  phase: Running\n  conditions: [{type: Ready, status: "
        "'True', lastTransitionTime: '2026-01-01T00:10:00Z'}]\n",
        "spec: {nodeName: node-a}\nstatus:\n  phase: Running\n  conditions: [{type: Ready, status: "
        "'True', lastTransitionTime: '2026-01-01T00:00:00Z'}]\n"
        "metadata: {creationTimestamp: '2026-01-01T00:00:05Z'}\n", /* ready longer, newer */
        "spec: {nodeName: node-a}\nstatus:\n  phase: Running\n  conditions: [{type: Ready, status: "
        "'True', lastTransitionTime: '2026-01-01T00:00:00Z'}]\n"
        "metadata: {creationTimestamp: '2026-01-01T00:00:01Z'}\n", /* older */
    };
    size_t n = sizeof docs / sizeof docs[0];
    kr_value_t *pods[8];
    for (size_t i = 0; i < n; i++)
        pods[i] = J(docs[i]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = kr_pod_cmp_deletion(pods[i], pods[j]);
            if ((i < j && c >= 0) || (i > j && c <= 0) || (i == j && c != 0))
                fail_msg("pods %zu and %zu compare %d", i, j, c);
        }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_expectations),
        cmocka_unit_test(test_controller_refs),
        cmocka_unit_test(test_pods),
        cmocka_unit_test(test_deletion_order),
        cmocka_unit_test(test_ref_patches),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
