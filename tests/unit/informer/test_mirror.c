/* The test controller (tests/plugins/mirror.c, informer + workqueue) run by
 * the plugin host against the fake API serving v1/configmaps: mirrors are
 * created, updated, restored and deleted, and a write that loses a race
 * (409 Conflict) is retried until it lands. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/loop.h>

#include "broker.h"
#include "fake_api.h"
#include "host.h"

#define CM "v1/configmaps"

typedef struct fx {
    kr_broker_t *broker;
    fake_api_t *fake;
    kr_host_t *host;
    kr_bus_t *bus;
    kr_arena_t *arena;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    f->broker = kr_broker_new(&bo, &err);
    if (f->broker == NULL || kr_broker_start(f->broker, &err) < 0)
        return -1;
    f->fake = fake_api_start(KR_BUS_INPROC_ENDPOINT, CM);
    f->bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    f->arena = kr_arena_new(0);
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT, .data_dir = "/tmp"};
    f->host = kr_host_new(&ho);
    kr_value_t *docs;
    const char *cfg = "{resync: 10s, retry_base: 20ms}";
    if (kr_yaml_decode(f->arena, cfg, strlen(cfg), &docs, &err) < 0)
        return -1;
    kr_plugin_spec_t spec = {.plugin = "test-mirror", .config = kr_value_array_get(docs, 0)};
    if (kr_host_start(f->host, &spec, &err) < 0) {
        fprintf(stderr, "mirror: %s\n", err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kr_host_destroy(&f->host);
    kr_bus_destroy(&f->bus);
    fake_api_stop(&f->fake);
    kr_broker_destroy(&f->broker);
    kr_arena_destroy(&f->arena);
    free(f);
    return 0;
}

static int call(fx_t *f, kr_value_t **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int call(fx_t *f, kr_value_t **out, const char *fmt, ...)
{
    char json[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    kr_arena_reset(f->arena);
    return fake_call(f->bus, f->arena, out, json);
}

#define SOURCE "{\"kraal.io/test-controller\":\"mirror\"}"

/* Creates or replaces ConfigMap default/<name> with data {k: <v>} and the
 * labels given in JSON (or none). */
static void put_cm(fx_t *f, const char *name, const char *labels, const char *v)
{
    char o[512];
    snprintf(o, sizeof o,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\""
             "%s%s},\"data\":{\"k\":\"%s\"}}",
             name, labels ? ",\"labels\":" : "", labels ? labels : "", v);
    int code =
        call(f, NULL, "{\"op\":\"create\",\"res\":\"" CM "\",\"ns\":\"default\",\"obj\":%s}", o);
    if (code == 409)
        code = call(f, NULL,
                    "{\"op\":\"update\",\"res\":\"" CM
                    "\",\"ns\":\"default\",\"name\":\"%s\",\"obj\":%s}",
                    name, o);
    assert_true(code == 200 || code == 201);
}

/* data.k of default/<name>, or NULL when there is no such ConfigMap. */
static const char *get_k(fx_t *f, const char *name, kr_value_t **obj)
{
    kr_value_t *o = NULL;
    int code =
        call(f, &o, "{\"op\":\"get\",\"res\":\"" CM "\",\"ns\":\"default\",\"name\":\"%s\"}", name);
    if (obj != NULL)
        *obj = o;
    return code == 200 ? kr_value_as_str(kr_value_get(o, "data.k")) : NULL;
}

/* Waits until default/<name> has data.k == want (NULL: until it is gone). */
static void wait_k(fx_t *f, const char *name, const char *want)
{
    uint64_t end = kr_time_ms() + 5000;
    for (;;) {
        const char *k = get_k(f, name, NULL);
        if (want == NULL ? k == NULL : k != NULL && strcmp(k, want) == 0)
            return;
        if (kr_time_ms() > end)
            fail_msg("%s: data.k is %s, want %s", name, k ? k : "(absent)",
                     want ? want : "(absent)");
        usleep(10 * 1000);
    }
}

static int64_t stat_of(fx_t *f, const char *key)
{
    kr_value_t *o = NULL;
    assert_int_equal(call(f, &o, "{\"op\":\"test.mirror.stats\"}"), 200);
    return kr_value_map_int(o, key, -1);
}

static void test_mirror_lifecycle(void **state)
{
    fx_t *f = *state;
    put_cm(f, "a", SOURCE, "v1");
    put_cm(f, "plain", NULL, "p");
    wait_k(f, "a-mirror", "v1");
    kr_value_t *m = NULL;
    get_k(f, "a-mirror", &m);
    assert_string_equal(kr_value_as_str(kr_value_get(m, "metadata.labels[\"kraal.io/mirror-of\"]")),
                        "a");
    assert_null(kr_value_get(m, "metadata.labels[\"kraal.io/test-controller\"]"));

    put_cm(f, "a", SOURCE, "v2");
    wait_k(f, "a-mirror", "v2");

    /* Someone edits the mirror: it is put back; someone deletes it: it
     * comes back. */
    put_cm(f, "a-mirror", "{\"kraal.io/mirror-of\":\"a\"}", "tampered");
    wait_k(f, "a-mirror", "v2");
    assert_int_equal(call(f, NULL,
                          "{\"op\":\"delete\",\"res\":\"" CM
                          "\",\"ns\":\"default\",\"name\":\"a-mirror\"}"),
                     200);
    wait_k(f, "a-mirror", "v2");

    /* The source goes: so does its mirror.  The unlabelled one never had
     * one. */
    assert_int_equal(
        call(f, NULL, "{\"op\":\"delete\",\"res\":\"" CM "\",\"ns\":\"default\",\"name\":\"a\"}"),
        200);
    wait_k(f, "a-mirror", NULL);
    assert_null(get_k(f, "plain-mirror", NULL));
    assert_int_equal(stat_of(f, "conflicts"), 0);
    assert_int_equal(stat_of(f, "sources"), 0);
}

static void test_mirror_conflict(void **state)
{
    fx_t *f = *state;
    put_cm(f, "b", SOURCE, "v1");
    wait_k(f, "b-mirror", "v1");
    /* Another writer changes b-mirror just before the controller's update,
     * which therefore carries a stale resourceVersion: 409, then a retry
     * from the queue once the mirror informer has the new state. */
    kr_value_t *o = NULL;
    assert_int_equal(call(f, &o,
                          "{\"op\":\"fake.ctl\",\"obj\":{\"do\":\"race\",\"ns\":\"default\","
                          "\"name\":\"b-mirror\"}}"),
                     200);
    put_cm(f, "b", SOURCE, "v2");
    wait_k(f, "b-mirror", "v2");
    assert_int_equal(stat_of(f, "conflicts"), 1);
    kr_value_t *m = NULL;
    get_k(f, "b-mirror", &m);
    /* the other writer's change survived the retry */
    assert_string_equal(kr_value_as_str(kr_value_get(m, "metadata.annotations.raced")), "true");
}

static int teardown_all(void **state)
{
    (void)state;
    kr_bus_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mirror_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mirror_conflict, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
