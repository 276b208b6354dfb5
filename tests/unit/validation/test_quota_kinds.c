/* v1 LimitRange and ResourceQuota: defaults and validation
 * (core/builtin_quota.c), with the cases and messages of upstream's
 * pkg/apis/core/validation/validation_test.go (TestValidateLimitRange,
 * TestValidateResourceQuota) and pkg/apis/core/v1/defaults_test.go
 * (TestSetDefaultLimitRangeItem). */
#include "harness.h"

static void test_limitrange_defaults(void **state)
{
    (void)state;
    kr_validation_t v;
    /* a Container item: default from max, defaultRequest from default,
     * then from min; quantities in canonical form */
    kr_value_t *lr = Y("{metadata: {name: lr}, spec: {limits: ["
                       " {type: Container, max: {cpu: '100m'}, min: {memory: 100Mi},"
                       "  default: {memory: 1000Mi}},"
                       " {type: Pod, max: {cpu: '2000m'}}]}}");
    create("limitrange", lr, "default", &v);
    assert_valid(&v);
    assert_tree(kr_value_get(lr, "spec.limits[0]"),
                "{type: Container, max: {cpu: 100m}, min: {memory: 100Mi},"
                " default: {memory: 1000Mi, cpu: 100m},"
                " defaultRequest: {memory: 1000Mi, cpu: 100m}}");
    /* a Pod item gets no defaults */
    assert_tree(kr_value_get(lr, "spec.limits[1]"), "{type: Pod, max: {cpu: '2'}}");
}

static void test_limitrange_valid(void **state)
{
    (void)state;
    kr_validation_t v;
    static const char *const ok[] = {
        "{metadata: {name: abc}, spec: {limits: [{type: Pod, max: {cpu: 100m, memory: 10000},"
        " min: {cpu: 5m, memory: 100}, maxLimitRequestRatio: {cpu: 10}},"
        " {type: Container, max: {cpu: 100m, memory: 10000}, min: {cpu: 5m, memory: 100},"
        " default: {cpu: 10m, memory: 500}, defaultRequest: {cpu: 10m, memory: 500},"
        " maxLimitRequestRatio: {cpu: 20}}]}}",
        "{metadata: {name: thirdparty}, spec: {limits: [{type: thirdparty.com/foo,"
        " max: {thirdparty.com/test: 100}, min: {thirdparty.com/test: 5}}]}}",
        "{metadata: {name: pvc}, spec: {limits: [{type: PersistentVolumeClaim,"
        " max: {storage: 10Gi}, min: {storage: 5Gi}}]}}",
        "{metadata: {name: ratio}, spec: {limits: [{type: Pod, max: {cpu: '10'},"
        " min: {cpu: '5'}, maxLimitRequestRatio: {cpu: '2'}}]}}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        create("limitrange", Y(ok[i]), "default", &v);
        assert_valid(&v);
    }
}

static void test_limitrange_errors(void **state)
{
    (void)state;
    kr_validation_t v;
    create("limitrange", Y("{metadata: {name: ''}}"), "default", &v);
    assert_cause(&v, "metadata.name: Required value: name or generateName is required");
    create("limitrange", Y("{metadata: {name: '^Invalid'}}"), "default", &v);
    assert_cause_prefix(&v, "metadata.name: Invalid value: \"^Invalid\": a lowercase RFC 1123 "
                            "subdomain must consist of");

    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Pod, max: {cpu: 100m}},"
             " {type: Pod, min: {cpu: 10m}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[1].type: Duplicate value: \"Pod\"");

    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Pod, default: {cpu: 100m},"
             " defaultRequest: {cpu: 10m}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[0].default: Forbidden: may not be specified when `type` is "
                     "'Pod'");
    assert_cause(&v, "spec.limits[0].defaultRequest: Forbidden: may not be specified when `type` "
                     "is 'Pod'");

    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Pod, max: {cpu: 10m},"
             " min: {cpu: 100m}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[0].min[cpu]: Invalid value: 100m: min value 100m is greater "
                     "than max value 10m");

    /* default above max (upstream shows the max as the bad value) */
    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Container, max: {cpu: '1'},"
             " default: {cpu: '2'}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[0].default[cpu]: Invalid value: 1: default value 2 is greater "
                     "than max value 1");
    assert_cause(&v, "spec.limits[0].defaultRequest[cpu]: Invalid value: 2: default request "
                     "value 2 is greater than max value 1");

    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Container, default: {cpu: '1'},"
             " defaultRequest: {cpu: '2'}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[0].defaultRequest[cpu]: Invalid value: 2: default request "
                     "value 2 is greater than default limit value 1");

    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Container, min: {cpu: '2'},"
             " defaultRequest: {cpu: '1'}, default: {cpu: '3'}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[0].defaultRequest[cpu]: Invalid value: 1: min value 2 is "
                     "greater than default request value 1");

    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Pod,"
             " maxLimitRequestRatio: {cpu: 800m}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: 800m: ratio 800m "
                     "is less than 1");

    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Container, max: {cpu: '2'},"
             " min: {cpu: '1'}, maxLimitRequestRatio: {cpu: '3'}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: 3: ratio 3 is "
                     "greater than max/min = 2.000000");

    create("limitrange", Y("{metadata: {name: d}, spec: {limits: [{type: foo}]}}"), "default", &v);
    assert_cause(&v, "spec.limits[0].type: Invalid value: \"foo\": must be a standard limit "
                     "type or fully qualified");

    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: PersistentVolumeClaim,"
             " max: {cpu: '1'}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[0].limits: Required value: either minimum or maximum storage "
                     "value is required, but neither was provided");

    /* hugepages cannot overcommit */
    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Container,"
             " default: {hugepages-2Mi: 4Mi}, defaultRequest: {hugepages-2Mi: 2Mi}}]}}"),
           "default", &v);
    assert_cause(&v, "spec.limits[0].defaultRequest[hugepages-2Mi]: Invalid value: 2Mi: default "
                     "value 4Mi must equal to defaultRequest value 2Mi in hugepages-2Mi");

    /* a resource a container cannot have (type Pod: no defaults copy it) */
    create("limitrange",
           Y("{metadata: {name: d}, spec: {limits: [{type: Pod, max: {pods: '1'}}]}}"), "default",
           &v);
    assert_cause(&v, "spec.limits[0].max[pods]: Invalid value: \"pods\": must be a standard "
                     "resource for containers");
    assert_string_equal(message(&v, "", "LimitRange", "d"),
                        "LimitRange \"d\" is invalid: spec.limits[0].max[pods]: Invalid value: "
                        "\"pods\": must be a standard resource for containers");
}

static void test_quota_valid(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *q = Y("{metadata: {name: abc}, spec: {hard: {cpu: 100, memory: 10000,"
                      " requests.cpu: 100, limits.memory: 10000, pods: 5, services: 0,"
                      " count/deployments.apps: 3, requests.storage: 10Gi,"
                      " services.nodeports: 2}}, status: {used: {pods: 1}}}");
    create("resourcequota", q, "default", &v);
    assert_valid(&v);
    /* the status is the server's */
    assert_null(kr_value_map_get(q, "status"));
    assert_string_equal(kr_value_as_str(kr_value_get(q, "spec.hard.cpu")), "100");

    create("resourcequota",
           Y("{metadata: {name: s}, spec: {hard: {pods: 5, cpu: 1},"
             " scopes: [Terminating, NotBestEffort]}}"),
           "default", &v);
    assert_valid(&v);
    create("resourcequota",
           Y("{metadata: {name: s}, spec: {hard: {pods: 5}, scopeSelector: {matchExpressions:"
             " [{scopeName: PriorityClass, operator: In, values: [high]}]}}}"),
           "default", &v);
    assert_valid(&v);
}

static void test_quota_errors(void **state)
{
    (void)state;
    kr_validation_t v;
    create("resourcequota", Y("{metadata: {name: q}, spec: {hard: {cpu: '-1'}}}"), "default", &v);
    assert_cause(&v, "spec.hard[cpu]: Invalid value: \"-1\": must be greater than or equal to 0");

    create("resourcequota", Y("{metadata: {name: q}, spec: {hard: {pods: 100m}}}"), "default", &v);
    assert_cause(&v, "spec.hard[pods]: Invalid value: 100m: must be an integer");

    create("resourcequota", Y("{metadata: {name: q}, spec: {hard: {storage: 10Gi}}}"), "default",
           &v);
    assert_cause(&v, "spec.hard[storage]: Invalid value: \"storage\": must be a standard resource "
                     "for quota");

    create("resourcequota", Y("{metadata: {name: q}, spec: {hard: {'foo': '1'}}}"), "default", &v);
    assert_cause(&v, "spec.hard[foo]: Invalid value: \"foo\": must be a standard resource type or "
                     "fully qualified");

    create("resourcequota",
           Y("{metadata: {name: q}, spec: {hard: {cpu: '1'}, scopes: [BestEffort]}}"), "default",
           &v);
    assert_cause(&v, "spec.scopes: Invalid value: []core.ResourceQuotaScope{\"BestEffort\"}: "
                     "unsupported scope applied to resource");

    create("resourcequota",
           Y("{metadata: {name: q}, spec: {hard: {pods: '1'}, scopes: [Terminating,"
             " NotTerminating]}}"),
           "default", &v);
    assert_cause_prefix(&v, "spec.scopes: Invalid value: ");
    assert_cause_prefix(&v, "spec.scopes: Invalid value: []core.ResourceQuotaScope{"
                            "\"Terminating\", \"NotTerminating\"}: conflicting scopes");

    create("resourcequota", Y("{metadata: {name: q}, spec: {hard: {pods: '1'}, scopes: [Foo]}}"),
           "default", &v);
    assert_cause_prefix(&v, "spec.scopes: Invalid value: ");
}

static void test_quota_update(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *old = Y("{metadata: {name: q}, spec: {hard: {pods: '1'}, scopes: [BestEffort]},"
                        " status: {hard: {pods: '1'}, used: {pods: '0'}}}");
    create("resourcequota", old, "default", &v);
    assert_valid(&v);
    kr_value_set(arena, old, "status", Y("{hard: {pods: '1'}, used: {pods: '0'}}"), NULL);
    /* hard may change, scopes may not */
    kr_value_t *upd = kr_value_copy(arena, old);
    kr_value_set(arena, upd, "spec.hard.pods", kr_value_str(arena, "2"), NULL);
    update("resourcequota", upd, old, &v);
    assert_valid(&v);
    upd = kr_value_copy(arena, old);
    kr_value_set(arena, upd, "spec.scopes", Y("[NotBestEffort]"), NULL);
    update("resourcequota", upd, old, &v);
    assert_cause(&v, "spec.scopes: Invalid value: []core.ResourceQuotaScope{\"NotBestEffort\"}: "
                     "field is immutable");

    /* the status subresource checks names and quantities */
    kr_value_t *st = kr_value_copy(arena, old);
    kr_value_set(arena, st, "status.used", Y("{pods: '-1', bogus: '1'}"), NULL);
    kr_validation_init(&v, arena);
    kr_builtin_hooks("resourcequota")->validate_status(&v, st, old);
    assert_cause(&v, "status.used[pods]: Invalid value: \"-1\": must be greater than or equal to "
                     "0");
    assert_cause(&v, "status.used[bogus]: Invalid value: \"bogus\": must be a standard resource "
                     "type or fully qualified");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limitrange_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limitrange_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limitrange_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_update, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
