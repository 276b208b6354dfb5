/* The namespace controller's conditions (conditions.c), against upstream's
 * status_condition_utils_test.go: every condition in its ok form when
 * nothing failed; failures with upstream's reasons and sorted messages;
 * lastTransitionTime kept unless the status changes; nothing changed when
 * the same outcome comes twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conditions.h"

static const kr_value_t *cond(const kr_value_t *ns, const char *type)
{
    const kr_value_t *conds = kr_value_get(ns, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        if (strcmp(kr_value_map_str(c, "type"), type) == 0)
            return c;
    }
    return NULL;
}

static void expect_cond(const kr_value_t *ns, const char *type, const char *status,
                        const char *reason, const char *message)
{
    const kr_value_t *c = cond(ns, type);
    assert_non_null(c);
    assert_string_equal(kr_value_map_str(c, "status"), status);
    assert_string_equal(kr_value_map_str(c, "reason"), reason);
    assert_string_equal(kr_value_map_str(c, "message"), message);
}

static kr_value_t *new_ns(kr_arena_t *a)
{
    kr_value_t *ns = NULL;
    kr_error_t err;
    const char *j = "{\"metadata\":{\"name\":\"x\"},\"status\":{\"phase\":\"Terminating\"}}";
    assert_int_equal(kr_json_decode(a, j, strlen(j), &ns, &err), 0);
    return ns;
}

static void test_all_ok(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *ns = new_ns(a);
    ns_outcome_t o = {0};
    assert_true(ns_conditions_update(a, ns, &o, "2024-01-01T00:00:00Z"));
    assert_int_equal(kr_value_len(kr_value_get(ns, "status.conditions")), 5);
    expect_cond(ns, "NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered",
                "All resources successfully discovered");
    expect_cond(ns, "NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
                "All legacy kube types successfully parsed");
    expect_cond(ns, "NamespaceDeletionContentFailure", "False", "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization");
    expect_cond(ns, "NamespaceContentRemaining", "False", "ContentRemoved",
                "All content successfully removed");
    expect_cond(ns, "NamespaceFinalizersRemaining", "False", "ContentRemoved",
                "All content successfully removed");
    /* the same outcome again: nothing to write */
    assert_false(ns_conditions_update(a, ns, &o, "2024-01-01T00:00:09Z"));
    kr_arena_destroy(&a);
}

static void test_failures(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *ns = new_ns(a);
    ns_outcome_t ok = {0};
    assert_true(ns_conditions_update(a, ns, &ok, "2024-01-01T00:00:00Z"));
    const char *errs[] = {"zzz failed", "aaa failed"};
    ns_count_t rem[] = {{"pods.", 2}, {"deployments.apps", 1}, {"secrets.", 0}};
    ns_count_t fins[] = {{"example.com/hold", 3}, {"a.io/x", 1}};
    ns_outcome_t o = {.discovery_err = "the server is on fire",
                      .content_errs = errs,
                      .n_content_errs = 2,
                      .remaining = rem,
                      .n_remaining = 3,
                      .finalizers = fins,
                      .n_finalizers = 2};
    assert_true(ns_conditions_update(a, ns, &o, "2024-01-01T00:01:00Z"));
    assert_int_equal(kr_value_len(kr_value_get(ns, "status.conditions")), 5);
    expect_cond(ns, "NamespaceDeletionDiscoveryFailure", "True", "DiscoveryFailed",
                "the server is on fire");
    expect_cond(ns, "NamespaceDeletionContentFailure", "True", "ContentDeletionFailed",
                "Failed to delete all resource types, 2 remaining: aaa failed, zzz failed");
    expect_cond(ns, "NamespaceContentRemaining", "True", "SomeResourcesRemain",
                "Some resources are remaining: deployments.apps has 1 resource instances, pods. "
                "has 2 resource instances");
    expect_cond(ns, "NamespaceFinalizersRemaining", "True", "SomeFinalizerRemain",
                "Some finalizers are remaining: a.io/x in 1 resource instances, "
                "example.com/hold in 3 resource instances");
    /* a status change moves the transition time, the unchanged one keeps it */
    assert_string_equal(
        kr_value_map_str(cond(ns, "NamespaceContentRemaining"), "lastTransitionTime"),
        "2024-01-01T00:01:00Z");
    assert_string_equal(kr_value_map_str(cond(ns, "NamespaceDeletionGroupVersionParsingFailure"),
                                         "lastTransitionTime"),
                        "2024-01-01T00:00:00Z");
    /* a new message with the same status: changed, transition time kept */
    ns_count_t rem2[] = {{"pods.", 1}};
    ns_outcome_t o2 = o;
    o2.remaining = rem2;
    o2.n_remaining = 1;
    assert_true(ns_conditions_update(a, ns, &o2, "2024-01-01T00:02:00Z"));
    expect_cond(ns, "NamespaceContentRemaining", "True", "SomeResourcesRemain",
                "Some resources are remaining: pods. has 1 resource instances");
    assert_string_equal(
        kr_value_map_str(cond(ns, "NamespaceContentRemaining"), "lastTransitionTime"),
        "2024-01-01T00:01:00Z");
    /* back to ok */
    assert_true(ns_conditions_update(a, ns, &ok, "2024-01-01T00:03:00Z"));
    expect_cond(ns, "NamespaceContentRemaining", "False", "ContentRemoved",
                "All content successfully removed");
    assert_int_equal(kr_value_len(kr_value_get(ns, "status.conditions")), 5);
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_ok),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
