/* agent-node's token cache (token.c) against a fake TokenRequest server on
 * a real broker: what is asked (bound to the pod, the source's audience
 * and lifetime), when the cached token is reused and when it is asked
 * again (the kubelet's 80 % / 24 h rule), what a refusal says. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "broker.h"
#include "testutil.h"

#define NOW INT64_C(1800000000)

static kr_broker_t *broker;
static kr_bus_t *server, *client;
static pthread_t thread;
static atomic_bool stop;
static atomic_int calls;
static _Atomic int64_t granted;         /* the lifetime the server grants (0: as asked) */
static _Atomic int64_t issued_at = NOW; /* the server's "now" */
static char last[1024];                 /* the last request's ns, name and obj */

static void format_time(int64_t sec, char *buf, size_t size)
{
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void serve(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    (void)ud;
    calls++;
    kr_arena_t *a = kr_call_arena(call);
    const kr_value_t *obj = kr_value_map_get(kr_call_msg(call), "obj");
    kr_buf_t b = KR_BUF_INIT;
    kr_json_encode(obj, &b, KR_JSON_COMPACT, NULL);
    snprintf(last, sizeof last, "%s/%s %s", kr_call_field(call, "ns"), kr_call_field(call, "name"),
             b.data);
    kr_buf_free(&b);
    if (strcmp(kr_call_field(call, "name"), "nosuch") == 0) {
        kr_call_fail(call, KR_E_NOT_FOUND, "serviceaccounts \"nosuch\" not found", NULL);
        return;
    }
    kr_value_t *tr = kr_value_copy(a, obj);
    int64_t ttl =
        granted ? granted : kr_value_as_int(kr_value_get(tr, "spec.expirationSeconds"), 0);
    kr_value_set(a, tr, "spec.expirationSeconds", kr_value_int(a, ttl), NULL);
    char ts[32];
    format_time(issued_at + ttl, ts, sizeof ts);
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(a, st, "token",
                     kr_value_str(a, kr_arena_printf(a, "token-%d", atomic_load(&calls))));
    kr_value_map_set(a, st, "expirationTimestamp", kr_value_str(a, ts));
    kr_value_map_set(a, tr, "status", st);
    kr_call_reply(call, 201, tr, NULL);
}

static void *run(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        kr_bus_dispatch(server, 20, NULL);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    broker = kr_broker_new(&bo, &err);
    if (broker == NULL || kr_broker_start(broker, &err) < 0)
        return -1;
    server = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    client = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    if (server == NULL || client == NULL ||
        kr_bus_serve(server, "authn.tokenrequest", NULL, serve, NULL, 5000, &err) < 0)
        return -1;
    return pthread_create(&thread, NULL, run, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&stop, true);
    pthread_join(thread, NULL);
    kr_bus_destroy(&client);
    kr_bus_destroy(&server);
    kr_broker_destroy(&broker);
    kr_bus_shutdown();
    return 0;
}

static void test_refresh_rule(void **state)
{
    (void)state;
    /* 3607 s: due from 80 % of the lifetime on */
    int64_t exp = NOW + 3607;
    assert_false(ag_token_needs_refresh(exp, 3607, NOW));
    assert_false(ag_token_needs_refresh(exp, 3607, exp - 722));
    assert_true(ag_token_needs_refresh(exp, 3607, exp - 721));
    assert_true(ag_token_needs_refresh(exp, 3607, exp + 1));
    /* a year: due after 24 h */
    int64_t year = 365 * 24 * 3600;
    assert_false(ag_token_needs_refresh(NOW + year, year, NOW + 24 * 3600 - 1));
    assert_true(ag_token_needs_refresh(NOW + year, year, NOW + 24 * 3600));
}

static const char *get(kr_arena_t *a, const kr_value_t *pod, const kr_value_t *src, ag_tokens_t *t,
                       int64_t now)
{
    const char *tok = NULL;
    kr_error_t err;
    if (ag_tokens_get(t, client, a, pod, src, now, &tok, &err) < 0)
        fail_msg("ag_tokens_get: %s", err.message);
    return tok;
}

static void test_cache(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    ag_tokens_t *t = ag_tokens_new();
    const kr_value_t *pod = yaml(a, "{metadata: {name: web, namespace: team-a, uid: u1}, spec: "
                                    "{serviceAccountName: robot}}");
    const kr_value_t *src = yaml(a, "{path: token, expirationSeconds: 3607}");
    calls = 0;
    issued_at = NOW;
    assert_string_equal(get(a, pod, src, t, NOW), "token-1");
    assert_string_equal(last, "team-a/robot {\"apiVersion\":\"authentication.k8s.io/v1\","
                              "\"kind\":\"TokenRequest\",\"spec\":{\"expirationSeconds\":3607,"
                              "\"boundObjectRef\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
                              "\"name\":\"web\",\"uid\":\"u1\"}}}");
    /* reused until 80 % of its lifetime */
    assert_string_equal(get(a, pod, src, t, NOW + 1), "token-1");
    assert_string_equal(get(a, pod, src, t, NOW + 2885), "token-1");
    assert_int_equal(calls, 1);
    issued_at = NOW + 2886;
    assert_string_equal(get(a, pod, src, t, NOW + 2886), "token-2");
    assert_int_equal(calls, 2);
    assert_string_equal(get(a, pod, src, t, NOW + 2887), "token-2");
    /* another audience is another token; so is another pod */
    const kr_value_t *vault = yaml(a, "{path: vault, audience: vault, expirationSeconds: 600}");
    assert_string_equal(get(a, pod, vault, t, NOW + 2887), "token-3");
    assert_non_null(strstr(last, "\"audiences\":[\"vault\"],\"expirationSeconds\":600"));
    const kr_value_t *pod2 =
        yaml(a, "{metadata: {name: db, namespace: team-a, uid: u2}, spec: {}}");
    assert_string_equal(get(a, pod2, src, t, NOW + 2887), "token-4");
    assert_non_null(strstr(last, "team-a/default ")); /* no account named: default */
    /* forgotten with its pod */
    ag_tokens_forget(t, "u1");
    assert_string_equal(get(a, pod, src, t, NOW + 2888), "token-5");
    assert_string_equal(get(a, pod2, src, t, NOW + 2888), "token-4");
    /* the lifetime granted counts, not the one asked */
    granted = 7200;
    const kr_value_t *pod3 = yaml(a, "{metadata: {name: c, namespace: n, uid: u3}, spec: {}}");
    issued_at = NOW;
    assert_string_equal(get(a, pod3, src, t, NOW), "token-6");
    assert_string_equal(get(a, pod3, src, t, NOW + 5000), "token-6");
    granted = 0;
    ag_tokens_destroy(&t);
    kr_arena_destroy(&a);
}

static void test_refused(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    ag_tokens_t *t = ag_tokens_new();
    const kr_value_t *pod = yaml(a, "{metadata: {name: web, namespace: team-a, uid: u9}, spec: "
                                    "{serviceAccountName: nosuch}}");
    const kr_value_t *src = yaml(a, "{path: token}");
    const char *tok = NULL;
    kr_error_t err;
    assert_true(ag_tokens_get(t, client, a, pod, src, NOW, &tok, &err) < 0);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
    assert_string_equal(err.message, "failed to fetch token: serviceaccounts \"nosuch\" not found");
    /* no connection */
    assert_true(ag_tokens_get(t, NULL, a, pod, src, NOW, &tok, &err) < 0);
    assert_int_equal(err.reason, KR_E_SERVICE_UNAVAILABLE);
    ag_tokens_destroy(&t);
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_rule),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
