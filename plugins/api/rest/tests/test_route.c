/* Kubernetes REST paths -> what they name. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "route.h"

static rest_route_t parse(const char *path)
{
    static char buf[1024];
    rest_route_t r;
    rest_route_parse(path, buf, sizeof buf, &r);
    return r;
}

static void check_str(const char *got, const char *want)
{
    if (want == NULL)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

static void check_res(const char *path, const char *group, const char *version, const char *res,
                      const char *ns, const char *name, const char *sub)
{
    rest_route_t r = parse(path);
    assert_int_equal(r.kind, REST_ROUTE_RESOURCE);
    check_str(r.group, group);
    check_str(r.version, version);
    check_str(r.resource, res);
    check_str(r.ns, ns);
    check_str(r.name, name);
    check_str(r.sub, sub);
}

static void test_resources(void **state)
{
    (void)state;
    check_res("/api/v1/pods", "", "v1", "pods", NULL, NULL, NULL);
    check_res("/api/v1/namespaces/default/pods", "", "v1", "pods", "default", NULL, NULL);
    check_res("/api/v1/namespaces/default/pods/web", "", "v1", "pods", "default", "web", NULL);
    check_res("/api/v1/namespaces/default/pods/web/status", "", "v1", "pods", "default", "web",
              "status");
    check_res("/api/v1/namespaces/default/pods/web/binding", "", "v1", "pods", "default", "web",
              "binding");
    check_res("/api/v1/nodes/n1", "", "v1", "nodes", NULL, "n1", NULL);
    check_res("/apis/apps/v1/namespaces/x/deployments/web/scale", "apps", "v1", "deployments", "x",
              "web", "scale");
    check_res("/apis/apps/v1/deployments", "apps", "v1", "deployments", NULL, NULL, NULL);
    check_res("/apis/batch/v1/namespaces/x/jobs/", "batch", "v1", "jobs", "x", NULL, NULL);
}

static void test_namespaces(void **state)
{
    (void)state;
    check_res("/api/v1/namespaces", "", "v1", "namespaces", NULL, NULL, NULL);
    check_res("/api/v1/namespaces/web", "", "v1", "namespaces", NULL, "web", NULL);
    check_res("/api/v1/namespaces/web/status", "", "v1", "namespaces", NULL, "web", "status");
    check_res("/api/v1/namespaces/web/finalize", "", "v1", "namespaces", NULL, "web", "finalize");
    /* any other word after a namespace is a resource in it */
    check_res("/api/v1/namespaces/web/configmaps", "", "v1", "configmaps", "web", NULL, NULL);
    /* in other groups "status" is a resource name like any other */
    check_res("/apis/x.io/v1/namespaces/web/status", "x.io", "v1", "status", "web", NULL, NULL);
}

static void test_others(void **state)
{
    (void)state;
    assert_int_equal(parse("/version").kind, REST_ROUTE_VERSION);
    assert_int_equal(parse("/healthz").kind, REST_ROUTE_HEALTH);
    assert_string_equal(parse("/readyz/ping").check, "readyz");
    assert_int_equal(parse("/metrics").kind, REST_ROUTE_METRICS);
    assert_int_equal(parse("/api").kind, REST_ROUTE_API);
    assert_int_equal(parse("/apis").kind, REST_ROUTE_APIS);
    rest_route_t r = parse("/apis/apps");
    assert_int_equal(r.kind, REST_ROUTE_GROUP);
    assert_string_equal(r.group, "apps");
    assert_int_equal(parse("/api/v1").kind, REST_ROUTE_GROUP_VERSION);
    r = parse("/apis/apps/v1");
    assert_int_equal(r.kind, REST_ROUTE_GROUP_VERSION);
    assert_string_equal(r.version, "v1");
    assert_int_equal(parse("/openapi/v2").kind, REST_ROUTE_OPENAPI_V2);
    r = parse("/openapi/v3");
    assert_int_equal(r.kind, REST_ROUTE_OPENAPI_V3);
    assert_null(r.gv_path);
    r = parse("/openapi/v3/apis/apps/v1");
    assert_int_equal(r.kind, REST_ROUTE_OPENAPI_V3);
    assert_string_equal(r.gv_path, "apis/apps/v1");
}

static void test_not_found(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "api",
        "/",
        "/nothing",
        "/api/v2/pods",
        "/api/v1/namespaces/x/pods/a/b/c",
        "/api/v1//pods",
        "/apis/apps/v1/a/b/c/d",
        "/openapi/v4",
        "/healthz/a/b",
        "/a/b/c/d/e/f/g/h/i/j/k/l",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(parse(bad[i]).kind, REST_ROUTE_NOT_FOUND);
    /* longer than the buffer */
    char buf[8];
    rest_route_t r;
    rest_route_parse("/api/v1/pods", buf, sizeof buf, &r);
    assert_int_equal(r.kind, REST_ROUTE_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_namespaces),
        cmocka_unit_test(test_others),
        cmocka_unit_test(test_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
