/* The ServiceAccount admission (core/admission.c) through the object API
 * with api.admission_plugins [ServiceAccount]: what a created pod gets
 * (account defaulted, projected token volume, mounts, pull secrets), what
 * is refused in upstream's words, and what is left alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <kraal/bus.h>

#include "../support/api_fixture.h"
#include "admission.h"

static api_fixture_t S;

static int start(void **state)
{
    (void)state;
    kr_api_opts_t ao = {.admit_service_account = true};
    return api_fixture_start(&S, "sa-admission", &ao);
}

static int stop(void **state)
{
    (void)state;
    api_fixture_stop(&S);
    return 0;
}

static kr_value_t *Y(const char *s)
{
    return api_fixture_yaml(&S, s);
}

static kr_reply_t call(const char *op, const char *res, const char *ns, const char *obj)
{
    kr_request_t req = {.op = op, .res = res, .ns = ns, .obj = Y(obj)};
    kr_reply_t r;
    kr_error_t err;
    if (kr_bus_call(S.bus, &req, S.a, &r, 10000, &err) < 0)
        fail_msg("%s %s: no reply: %s", op, res, err.message);
    return r;
}

static kr_value_t *created(const char *res, const char *ns, const char *obj)
{
    kr_reply_t r = call("create", res, ns, obj);
    if (r.code != 201)
        fail_msg("create %s: %d %s", obj, r.code, kr_reply_msg(&r));
    return r.obj;
}

static const char *json(const kr_value_t *v)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_json_encode(v, &b, KR_JSON_COMPACT, NULL);
    const char *s = kr_arena_strdup(S.a, b.data ? b.data : "null");
    kr_buf_free(&b);
    return s;
}

static void setup_accounts(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    created("v1/namespaces", NULL, "{metadata: {name: team-a}}");
    created("v1/serviceaccounts", "team-a", "{metadata: {name: default}}");
    created("v1/serviceaccounts", "team-a",
            "{metadata: {name: robot}, imagePullSecrets: [{name: regcred}]}");
    created("v1/serviceaccounts", "team-a",
            "{metadata: {name: quiet}, automountServiceAccountToken: false}");
}

static void token_volume_and_mounts(void **state)
{
    (void)state;
    setup_accounts();
    kr_value_t *pod = created("v1/pods", "team-a",
                              "{metadata: {name: p1}, spec: {initContainers: [{name: i, image: "
                              "busybox}], containers: [{name: a, image: busybox}, {name: b, "
                              "image: busybox}]}}");
    kr_value_t *spec = kr_value_map_get(pod, "spec");
    assert_string_equal(kr_value_map_str(spec, "serviceAccountName"), "default");
    kr_value_t *vols = kr_value_map_get(spec, "volumes");
    assert_int_equal(kr_value_len(vols), 1);
    kr_value_t *vol = kr_value_array_get(vols, 0);
    const char *name = kr_value_map_str(vol, "name");
    assert_int_equal(strlen(name), strlen(KR_SA_VOLUME_PREFIX) + 5);
    assert_memory_equal(name, KR_SA_VOLUME_PREFIX, strlen(KR_SA_VOLUME_PREFIX));
    for (const char *c = name + strlen(KR_SA_VOLUME_PREFIX); *c; c++)
        assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *c));
    /* upstream's TokenVolumeSource, after the API's defaults */
    assert_string_equal(
        json(kr_value_map_get(vol, "projected")),
        "{\"defaultMode\":420,\"sources\":[{\"serviceAccountToken\":{\"expirationSeconds\":3607,"
        "\"path\":\"token\"}},{\"configMap\":{\"name\":\"kube-root-ca.crt\",\"items\":[{\"key\":"
        "\"ca.crt\",\"path\":\"ca.crt\"}]}},{\"downwardAPI\":{\"items\":[{\"fieldRef\":{"
        "\"apiVersion\":\"v1\",\"fieldPath\":\"metadata.namespace\"},\"path\":\"namespace\"}]}}]}");
    const char *want =
        kr_arena_printf(S.a,
                        "[{\"name\":\"%s\",\"readOnly\":true,"
                        "\"mountPath\":\"/var/run/secrets/kubernetes.io/serviceaccount\"}]",
                        name);
    assert_string_equal(json(kr_value_get(spec, "initContainers[0].volumeMounts")), want);
    assert_string_equal(json(kr_value_get(spec, "containers[0].volumeMounts")), want);
    assert_string_equal(json(kr_value_get(spec, "containers[1].volumeMounts")), want);
    /* the default account has no pull secrets: none added */
    assert_null(kr_value_map_get(spec, "imagePullSecrets"));
}

static void account_settings(void **state)
{
    (void)state;
    setup_accounts();
    /* the account's pull secrets when the pod has none */
    kr_value_t *spec = kr_value_map_get(
        created("v1/pods", "team-a",
                "{metadata: {name: p2}, spec: {serviceAccountName: robot, containers: [{name: "
                "a, image: busybox}]}}"),
        "spec");
    assert_string_equal(json(kr_value_map_get(spec, "imagePullSecrets")),
                        "[{\"name\":\"regcred\"}]");
    spec = kr_value_map_get(
        created("v1/pods", "team-a",
                "{metadata: {name: p3}, spec: {serviceAccountName: robot, imagePullSecrets: "
                "[{name: mine}], containers: [{name: a, image: busybox}]}}"),
        "spec");
    assert_string_equal(json(kr_value_map_get(spec, "imagePullSecrets")), "[{\"name\":\"mine\"}]");
    /* the account says no automount */
    spec = kr_value_map_get(created("v1/pods", "team-a",
                                    "{metadata: {name: p4}, spec: {serviceAccountName: quiet, "
                                    "containers: [{name: a, image: busybox}]}}"),
                            "spec");
    assert_null(kr_value_map_get(spec, "volumes"));
    assert_null(kr_value_get(spec, "containers[0].volumeMounts"));
    /* ... and the pod's own preference wins over it, both ways */
    spec = kr_value_map_get(created("v1/pods", "team-a",
                                    "{metadata: {name: p5}, spec: {serviceAccountName: quiet, "
                                    "automountServiceAccountToken: true, containers: [{name: a, "
                                    "image: busybox}]}}"),
                            "spec");
    assert_int_equal(kr_value_len(kr_value_map_get(spec, "volumes")), 1);
    spec = kr_value_map_get(created("v1/pods", "team-a",
                                    "{metadata: {name: p6}, spec: {automountServiceAccountToken: "
                                    "false, containers: [{name: a, image: busybox}]}}"),
                            "spec");
    assert_null(kr_value_map_get(spec, "volumes"));
    assert_string_equal(kr_value_map_str(spec, "serviceAccountName"), "default");
}

static void existing_mounts_and_volumes(void **state)
{
    (void)state;
    setup_accounts();
    /* a container with its own mount at the path keeps it; a volume of
     * the prefix is reused, not added again */
    kr_value_t *spec = kr_value_map_get(
        created("v1/pods", "team-a",
                "{metadata: {name: p7}, spec: {volumes: [{name: kube-api-access-mine, emptyDir: "
                "{}}], containers: [{name: a, image: busybox, volumeMounts: [{name: "
                "kube-api-access-mine, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}]},"
                " {name: b, image: busybox}]}}"),
        "spec");
    assert_int_equal(kr_value_len(kr_value_map_get(spec, "volumes")), 1);
    assert_int_equal(kr_value_len(kr_value_get(spec, "containers[0].volumeMounts")), 1);
    assert_string_equal(kr_value_as_str(kr_value_get(spec, "containers[1].volumeMounts[0].name")),
                        "kube-api-access-mine");
    /* every container has one already: no volume */
    spec = kr_value_map_get(
        created("v1/pods", "team-a",
                "{metadata: {name: p8}, spec: {volumes: [{name: own, emptyDir: {}}], containers: "
                "[{name: a, image: busybox, volumeMounts: [{name: own, mountPath: "
                "/var/run/secrets/kubernetes.io/serviceaccount}]}]}}"),
        "spec");
    assert_int_equal(kr_value_len(kr_value_map_get(spec, "volumes")), 1);
    assert_string_equal(kr_value_as_str(kr_value_get(spec, "volumes[0].name")), "own");
}

static void refused(void **state)
{
    (void)state;
    setup_accounts();
    kr_reply_t r = call("create", "v1/pods", "team-a",
                        "{metadata: {name: p9}, spec: {serviceAccountName: nosuch, containers: "
                        "[{name: a, image: busybox}]}}");
    assert_int_equal(r.code, 403);
    assert_string_equal(kr_reply_msg(&r),
                        "pods \"p9\" is forbidden: error looking up service account "
                        "team-a/nosuch: serviceaccount \"nosuch\" not found");
    /* no default account yet in a new namespace */
    created("v1/namespaces", NULL, "{metadata: {name: team-b}}");
    r = call("create", "v1/pods", "team-b",
             "{metadata: {name: p10}, spec: {containers: [{name: a, image: busybox}]}}");
    assert_int_equal(r.code, 403);
    assert_string_equal(kr_reply_msg(&r),
                        "pods \"p10\" is forbidden: error looking up service account "
                        "team-b/default: serviceaccount \"default\" not found");
    /* a namespace that does not exist is NamespaceLifecycle's answer */
    r = call("create", "v1/pods", "nowhere",
             "{metadata: {name: p11}, spec: {containers: [{name: a, image: busybox}]}}");
    assert_int_equal(r.code, 404);
    assert_string_equal(kr_reply_msg(&r), "namespaces \"nowhere\" not found");
}

static void mirror_pods(void **state)
{
    (void)state;
    setup_accounts();
    /* left as they are (no account, no volume) */
    kr_value_t *spec = kr_value_map_get(
        created("v1/pods", "team-a",
                "{metadata: {name: m1, annotations: {kubernetes.io/config.mirror: abc}}, spec: "
                "{nodeName: n1, containers: [{name: a, image: busybox}]}}"),
        "spec");
    assert_null(kr_value_map_get(spec, "volumes"));
    assert_null(kr_value_map_get(spec, "serviceAccountName"));
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"serviceAccountName: robot", "a mirror pod may not reference service accounts"},
        {"volumes: [{name: s, secret: {secretName: x}}]", "a mirror pod may not reference secrets"},
        {"volumes: [{name: t, projected: {sources: [{serviceAccountToken: {path: token}}]}}]",
         "a mirror pod may not use ServiceAccountToken volume projections"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kr_reply_t r =
            call("create", "v1/pods", "team-a",
                 kr_arena_printf(S.a,
                                 "{metadata: {name: m2, annotations: {kubernetes.io/config.mirror: "
                                 "abc}}, spec: {nodeName: n1, %s, containers: [{name: a, image: "
                                 "busybox}]}}",
                                 bad[i].spec));
        assert_int_equal(r.code, 403);
        assert_string_equal(kr_reply_msg(&r),
                            kr_arena_printf(S.a, "pods \"m2\" is forbidden: %s", bad[i].msg));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_volume_and_mounts),
        cmocka_unit_test(account_settings),
        cmocka_unit_test(existing_mounts_and_volumes),
        cmocka_unit_test(refused),
        cmocka_unit_test(mirror_pods),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
