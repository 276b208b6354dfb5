/* The reviews (review.c) and the authorizer modes behind them (auth.c),
 * without a server: a gateway whose authorizer is this file's vtable (the
 * RBAC mode) or AlwaysAllow.  What the vtable is asked is recorded, so
 * that the attributes a review makes of its spec are checked too. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gateway.h"

/* ---- a recording authorizer -------------------------------------------------- */

static struct {
    kr_authz_decision_t answer;
    const char *reason;
    char user[64], verb[32], group[64], version[16], resource[64], sub[32], ns[64], name[64],
        path[64];
    bool resource_request;
    size_t ngroups;
    char groups[4][64];
    int calls;
} seen;

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "(null)");
}

static kr_authz_decision_t t_authorize(void *self, const kr_authz_attrs_t *at, char *reason,
                                       size_t reason_len)
{
    (void)self;
    seen.calls++;
    copy(seen.user, sizeof seen.user, at->user->name);
    seen.ngroups = at->user->ngroups;
    for (size_t i = 0; i < at->user->ngroups && i < 4; i++)
        copy(seen.groups[i], sizeof seen.groups[i], at->user->groups[i]);
    copy(seen.verb, sizeof seen.verb, at->verb);
    seen.resource_request = at->resource_request;
    copy(seen.group, sizeof seen.group, at->group);
    copy(seen.version, sizeof seen.version, at->version);
    copy(seen.resource, sizeof seen.resource, at->resource);
    copy(seen.sub, sizeof seen.sub, at->subresource);
    copy(seen.ns, sizeof seen.ns, at->ns);
    copy(seen.name, sizeof seen.name, at->name);
    copy(seen.path, sizeof seen.path, at->path);
    snprintf(reason, reason_len, "%s", seen.reason);
    return seen.answer;
}

static int t_rules(void *self, const kr_authz_user_t *user, const char *ns, kr_arena_t *a,
                   kr_value_t **res, kr_value_t **nonres, bool *incomplete, const char **eval,
                   kr_error_t *err)
{
    (void)self;
    (void)err;
    copy(seen.user, sizeof seen.user, user->name);
    copy(seen.ns, sizeof seen.ns, ns);
    static const char rules[] =
        "[{\"verbs\":[\"get\"],\"apiGroups\":[\"\"],\"resources\":[\"pods\"]}]";
    kr_json_decode(a, rules, strlen(rules), res, NULL);
    *nonres = NULL; /* the gateway answers [] */
    *incomplete = true;
    *eval = "a binding refers to a missing role";
    return 0;
}

static int t_check_grant(void *self, const kr_authz_user_t *user, const char *kind,
                         const kr_value_t *obj, kr_arena_t *arena, kr_error_t *err)
{
    (void)self, (void)user, (void)kind, (void)obj, (void)arena, (void)err;
    return 0;
}

static const kr_authz_ops_t t_ops = {
    .struct_size = sizeof(kr_authz_ops_t),
    .authz_name = "test",
    .authorize = t_authorize,
    .rules = t_rules,
    .check_grant = t_check_grant,
};

/* ---- helpers ------------------------------------------------------------------- */

static rest_gw_t gw_of(rest_authz_mode_t mode)
{
    return (rest_gw_t){.authz_mode = mode, .authz = &t_ops};
}

static kr_value_t *json(kr_arena_t *a, const char *s)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(a, s, strlen(s), &v, &err) < 0)
        fail_msg("bad JSON in the test: %s: %s", s, err.message);
    return v;
}

static void assert_json(const kr_value_t *v, const char *want)
{
    kr_buf_t b = KR_BUF_INIT;
    assert_int_equal(kr_json_encode(v, &b, KR_JSON_COMPACT, NULL), 0);
    kr_buf_append(&b, "", 1);
    if (strcmp(b.data, want) != 0)
        fail_msg("got  %s\nwant %s", b.data, want);
    kr_buf_free(&b);
}

static const char *const JANE =
    "{\"username\":\"jane\",\"uid\":\"u1\",\"groups\":[\"team\",\"system:authenticated\"]}";

/* Creates a review; returns the answer or NULL with err/details. */
static kr_value_t *review(rest_gw_t *gw, kr_arena_t *a, const char *group, const char *version,
                          const char *resource, const char *ns, const char *body, kr_error_t *err,
                          kr_value_t **details)
{
    kr_value_t *out = NULL, *d = NULL;
    memset(&seen, 0, sizeof seen);
    seen.answer = KR_AUTHZ_ALLOW;
    seen.reason = "because";
    int rc = rest_review_create(gw, NULL, a, json(a, JANE), group, version, resource, ns,
                                json(a, body), &out, &d, err);
    if (details != NULL)
        *details = d;
    return rc < 0 ? NULL : out;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_self_access_review(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    rest_gw_t gw = gw_of(REST_AUTHZ_RBAC);
    kr_error_t err;
    kr_value_t *r = review(&gw, a, "authorization.k8s.io", "v1", "selfsubjectaccessreviews", NULL,
                           "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{\"resourceAttributes\":"
                           "{\"namespace\":\"team-a\",\"verb\":\"get\",\"group\":\"apps\","
                           "\"resource\":\"deployments\",\"subresource\":\"scale\",\"name\":"
                           "\"web\"}}}",
                           &err, NULL);
    assert_non_null(r);
    assert_json(r,
                "{\"kind\":\"SelfSubjectAccessReview\",\"apiVersion\":\"authorization.k8s.io/"
                "v1\",\"metadata\":{\"creationTimestamp\":null},\"spec\":{\"resourceAttributes\":"
                "{\"namespace\":\"team-a\",\"verb\":\"get\",\"group\":\"apps\",\"resource\":"
                "\"deployments\",\"subresource\":\"scale\",\"name\":\"web\"}},\"status\":"
                "{\"allowed\":true,\"reason\":\"because\"}}");
    /* the requester, as it is, with an empty version meaning every one */
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.user, "jane");
    assert_int_equal(seen.ngroups, 2);
    assert_true(seen.resource_request);
    assert_string_equal(seen.version, "*");
    assert_string_equal(seen.sub, "scale");
    assert_string_equal(seen.ns, "team-a");
    assert_string_equal(seen.name, "web");

    /* a deny says denied; a non-resource review asks the path */
    memset(&seen, 0, sizeof seen);
    seen.answer = KR_AUTHZ_DENY;
    seen.reason = "";
    kr_value_t *out = NULL, *det = NULL;
    assert_int_equal(rest_review_create(&gw, NULL, a, json(a, JANE), "authorization.k8s.io", "v1",
                                        "selfsubjectaccessreviews", NULL,
                                        json(a, "{\"spec\":{\"nonResourceAttributes\":{\"path\":"
                                                "\"/healthz\",\"verb\":\"get\"}}}"),
                                        &out, &det, &err),
                     0);
    assert_json(kr_value_get(out, "status"), "{\"allowed\":false,\"denied\":true}");
    assert_false(seen.resource_request);
    assert_string_equal(seen.path, "/healthz");
    assert_string_equal(seen.verb, "get");
    kr_arena_destroy(&a);
}

static void test_subject_access_review(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    rest_gw_t gw = gw_of(REST_AUTHZ_RBAC);
    kr_error_t err;
    /* the spec's user, exactly: no system:authenticated is added */
    kr_value_t *r = review(&gw, a, "authorization.k8s.io", "v1", "subjectaccessreviews", NULL,
                           "{\"spec\":{\"user\":\"bob\",\"groups\":[\"g1\"],\"resourceAttributes\":"
                           "{\"verb\":\"list\",\"resource\":\"pods\",\"version\":\"v1\"}}}",
                           &err, NULL);
    assert_non_null(r);
    assert_string_equal(seen.user, "bob");
    assert_int_equal(seen.ngroups, 1);
    assert_string_equal(seen.groups[0], "g1");
    assert_string_equal(seen.version, "v1");
    assert_string_equal(seen.ns, "(null)");
    /* groups only: the user is "" */
    r = review(&gw, a, "authorization.k8s.io", "v1", "subjectaccessreviews", NULL,
               "{\"spec\":{\"groups\":[\"g2\"],\"nonResourceAttributes\":{\"path\":\"/x\"}}}", &err,
               NULL);
    assert_non_null(r);
    assert_string_equal(seen.user, "");
    assert_string_equal(seen.groups[0], "g2");

    /* upstream's validation, as one Invalid with every cause */
    kr_value_t *details = NULL;
    r = review(&gw, a, "authorization.k8s.io", "v1", "subjectaccessreviews", NULL,
               "{\"metadata\":{\"name\":\"x\"},\"spec\":{}}", &err, &details);
    assert_null(r);
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_string_equal(err.message,
                        "SubjectAccessReview.authorization.k8s.io \"\" is invalid: "
                        "[spec.resourceAttributes: Invalid value: \"null\": exactly one of "
                        "nonResourceAttributes or resourceAttributes must be specified, spec.user: "
                        "Invalid value: \"\": at least one of user or group must be specified, "
                        "metadata: Invalid value: {\"name\":\"x\"}: must be empty]");
    assert_int_equal(kr_value_len(kr_value_map_get(details, "causes")), 3);
    assert_string_equal(kr_value_map_str(details, "kind"), "SubjectAccessReview");
    assert_int_equal(seen.calls, 0);
    kr_arena_destroy(&a);
}

static void test_local_subject_access_review(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    rest_gw_t gw = gw_of(REST_AUTHZ_RBAC);
    kr_error_t err;
    kr_value_t *details = NULL;
    /* the namespace comes from the path when the object has none */
    kr_value_t *r =
        review(&gw, a, "authorization.k8s.io", "v1", "localsubjectaccessreviews", "team-a",
               "{\"spec\":{\"user\":\"bob\",\"resourceAttributes\":{\"namespace\":"
               "\"team-a\",\"verb\":\"get\",\"resource\":\"pods\"}}}",
               &err, &details);
    assert_non_null(r);
    assert_string_equal(kr_value_as_str(kr_value_get(r, "metadata.namespace")), "team-a");
    assert_string_equal(seen.ns, "team-a");
    r = review(&gw, a, "authorization.k8s.io", "v1", "localsubjectaccessreviews", "team-a",
               "{\"spec\":{\"user\":\"bob\",\"resourceAttributes\":{\"namespace\":\"other\"}}}",
               &err, &details);
    assert_null(r);
    assert_string_equal(err.message,
                        "LocalSubjectAccessReview.authorization.k8s.io \"\" is invalid: "
                        "spec.resourceAttributes.namespace: Invalid value: \"other\": must match "
                        "metadata.namespace");
    r = review(&gw, a, "authorization.k8s.io", "v1", "localsubjectaccessreviews", "team-a",
               "{\"metadata\":{\"namespace\":\"b\"},\"spec\":{\"user\":\"bob\"}}", &err, &details);
    assert_null(r);
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
    assert_string_equal(err.message, "the namespace of the provided object does not match the "
                                     "namespace sent on the request");
    r = review(&gw, a, "authorization.k8s.io", "v1", "localsubjectaccessreviews", "team-a",
               "{\"spec\":{\"user\":\"bob\",\"nonResourceAttributes\":{\"path\":\"/x\"}}}", &err,
               &details);
    assert_null(r);
    assert_non_null(strstr(err.message, "spec.nonResourceAttributes: Invalid value: "
                                        "{\"path\":\"/x\"}: disallowed on this kind of request"));
    /* a field of the wrong type fails the decoding, as Go's */
    r = review(&gw, a, "authorization.k8s.io", "v1", "localsubjectaccessreviews", "team-a",
               "{\"spec\":{\"user\":7}}", &err, &details);
    assert_null(r);
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
    assert_string_equal(err.message,
                        "LocalSubjectAccessReview in version \"v1\" cannot be handled as a "
                        "LocalSubjectAccessReview: json: cannot unmarshal number into Go struct "
                        "field SubjectAccessReviewSpec.spec.user of type string");
    r = review(&gw, a, "authorization.k8s.io", "v1", "subjectaccessreviews", NULL,
               "{\"spec\":{\"user\":\"u\",\"extra\":{\"k\":[\"a\",1]}}}", &err, &details);
    assert_null(r);
    assert_non_null(strstr(err.message, "cannot unmarshal number into Go struct field "
                                        "SubjectAccessReviewSpec.spec.extra of type "
                                        "map[string]v1.ExtraValue"));
    r = review(&gw, a, "authorization.k8s.io", "v1", "selfsubjectaccessreviews", NULL,
               "{\"spec\":5}", &err, &details);
    assert_null(r);
    assert_non_null(strstr(err.message, "cannot unmarshal number into Go struct field "
                                        "SelfSubjectAccessReview.spec of type "
                                        "v1.SelfSubjectAccessReviewSpec"));
    /* a field another kind has is unknown here, and ignored */
    r = review(&gw, a, "authorization.k8s.io", "v1", "selfsubjectaccessreviews", NULL,
               "{\"spec\":{\"user\":7,\"nonResourceAttributes\":{\"path\":\"/x\"}}}", &err,
               &details);
    assert_non_null(r);
    /* another kind in the body */
    r = review(&gw, a, "authorization.k8s.io", "v1", "localsubjectaccessreviews", "team-a",
               "{\"kind\":\"SubjectAccessReview\"}", &err, &details);
    assert_null(r);
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
    kr_arena_destroy(&a);
}

static void test_rules_review(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    rest_gw_t gw = gw_of(REST_AUTHZ_RBAC);
    kr_error_t err;
    kr_value_t *r = review(&gw, a, "authorization.k8s.io", "v1", "selfsubjectrulesreviews", NULL,
                           "{\"spec\":{\"namespace\":\"team-a\"}}", &err, NULL);
    assert_non_null(r);
    assert_json(r, "{\"kind\":\"SelfSubjectRulesReview\",\"apiVersion\":\"authorization.k8s.io/"
                   "v1\",\"metadata\":{\"creationTimestamp\":null},\"spec\":{},\"status\":{"
                   "\"resourceRules\":[{\"verbs\":[\"get\"],\"apiGroups\":[\"\"],\"resources\":["
                   "\"pods\"]}],\"nonResourceRules\":[],\"incomplete\":true,\"evaluationError\":"
                   "\"a binding refers to a missing role\"}}");
    assert_string_equal(seen.user, "jane");
    assert_string_equal(seen.ns, "team-a");
    r = review(&gw, a, "authorization.k8s.io", "v1", "selfsubjectrulesreviews", NULL,
               "{\"spec\":{}}", &err, NULL);
    assert_null(r);
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
    assert_string_equal(err.message, "no namespace on request");
    /* AlwaysAllow: everything */
    rest_gw_t allow = gw_of(REST_AUTHZ_ALWAYS_ALLOW);
    r = review(&allow, a, "authorization.k8s.io", "v1", "selfsubjectrulesreviews", NULL,
               "{\"spec\":{\"namespace\":\"x\"}}", &err, NULL);
    assert_json(
        kr_value_get(r, "status"),
        "{\"resourceRules\":[{\"verbs\":[\"*\"],\"apiGroups\":[\"*\"],\"resources\":[\"*\"]}"
        "],\"nonResourceRules\":[{\"verbs\":[\"*\"],\"nonResourceURLs\":[\"*\"]}],"
        "\"incomplete\":false}");
    kr_arena_destroy(&a);
}

static void test_self_subject_review(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    rest_gw_t gw = gw_of(REST_AUTHZ_RBAC);
    kr_error_t err;
    kr_value_t *r = review(&gw, a, "authentication.k8s.io", "v1beta1", "selfsubjectreviews", NULL,
                           "{}", &err, NULL);
    assert_non_null(r);
    assert_json(r, "{\"kind\":\"SelfSubjectReview\",\"apiVersion\":\"authentication.k8s.io/"
                   "v1beta1\",\"metadata\":{\"creationTimestamp\":null},\"status\":{\"userInfo\":"
                   "{\"username\":\"jane\",\"uid\":\"u1\",\"groups\":[\"team\","
                   "\"system:authenticated\"]}}}");
    assert_int_equal(seen.calls, 0);
    kr_arena_destroy(&a);
}

static void test_discovery_kinds(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    assert_true(rest_review_is("authorization.k8s.io", "v1", "selfsubjectaccessreviews"));
    assert_true(rest_review_is("authentication.k8s.io", "v1beta1", "selfsubjectreviews"));
    assert_false(rest_review_is("authentication.k8s.io", "v1", "tokenreviews"));
    assert_false(rest_review_is("", "v1", "pods"));
    kr_value_t *k = rest_review_kinds(a);
    assert_int_equal(kr_value_len(k), 6);
    assert_json(
        kr_value_array_get(k, 2),
        "{\"group\":\"authorization.k8s.io\",\"version\":\"v1\",\"kind\":"
        "\"LocalSubjectAccessReview\",\"plural\":\"localsubjectaccessreviews\",\"singular\":"
        "\"localsubjectaccessreview\",\"namespaced\":true,\"verbs\":[\"create\"]}");
    kr_arena_destroy(&a);
}

/* The request filter: upstream's 403 wording, with the reason when there is one. */
static void test_forbidden(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    rest_gw_t gw = gw_of(REST_AUTHZ_RBAC);
    kr_error_t err;
    memset(&seen, 0, sizeof seen);
    seen.answer = KR_AUTHZ_NO_OPINION;
    seen.reason = "";
    rest_attrs_t at = {.verb = "delete",
                       .group = "apps",
                       .version = "v1",
                       .resource = "deployments",
                       .ns = "team-a",
                       .name = "web"};
    assert_int_equal(rest_authorize(&gw, NULL, a, json(a, JANE), &at, &err), -1);
    assert_int_equal(err.reason, KR_E_FORBIDDEN);
    assert_string_equal(err.message,
                        "deployments.apps \"web\" is forbidden: User \"jane\" cannot delete "
                        "resource \"deployments\" in API group \"apps\" in the namespace "
                        "\"team-a\"");
    seen.answer = KR_AUTHZ_DENY;
    seen.reason = "no way";
    rest_attrs_t np = {.verb = "get", .path = "/metrics"};
    assert_int_equal(rest_authorize(&gw, NULL, a, json(a, JANE), &np, &err), -1);
    assert_string_equal(err.message,
                        "forbidden: User \"jane\" cannot get path \"/metrics\": no way");
    seen.answer = KR_AUTHZ_ALLOW;
    assert_int_equal(rest_authorize(&gw, NULL, a, json(a, JANE), &np, &err), 0);
    /* AlwaysAllow never asks */
    rest_gw_t allow = gw_of(REST_AUTHZ_ALWAYS_ALLOW);
    seen.calls = 0;
    assert_int_equal(rest_authorize(&allow, NULL, a, json(a, JANE), &at, &err), 0);
    assert_int_equal(seen.calls, 0);
    /* the anonymous user */
    assert_json(rest_anonymous_user(a),
                "{\"username\":\"system:anonymous\",\"groups\":[\"system:unauthenticated\"]}");
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_access_review),
        cmocka_unit_test(test_subject_access_review),
        cmocka_unit_test(test_local_subject_access_review),
        cmocka_unit_test(test_rules_review),
        cmocka_unit_test(test_self_subject_review),
        cmocka_unit_test(test_discovery_kinds),
        cmocka_unit_test(test_forbidden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
