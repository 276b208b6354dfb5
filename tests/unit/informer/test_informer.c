/* Informer against a fake API served on a real broker by another thread:
 * paged initial list, add/update/delete events, bookmarks and watch
 * restarts, ERROR 410 -> relist with the right difference, a provider
 * restart -> relist after an exponential, capped back-off, resync, a
 * continue token that expires, namespaces, selectors, late handlers,
 * destroy with a request in flight, 10,000 objects. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/informer.h>
#include <kraal/loop.h>

#include "broker.h"
#include "fake_api.h"

#define WIDGETS "test.kraal.io/v1/widgets"
#define LOGN    256

typedef struct rec {
    kr_informer_t *inf;
    int adds, updates, deletes, resyncs;
    int bad; /* handler saw a cache that did not match the event */
    char log[LOGN][96];
    int nlog;
} rec_t;

typedef struct errs {
    int n;
    kr_reason_t reason[64];
    uint64_t retry[64], at[64];
} errs_t;

typedef struct fx {
    kr_broker_t *broker;
    fake_api_t *fake;
    kr_loop_t *loop;
    kr_bus_t *bus;
    kr_arena_t *arena;
    kr_informer_t *inf;
    rec_t rec;
    errs_t errs;
} fx_t;

/* ---- recording handlers -------------------------------------------------- */

static const char *data_of(const kr_value_t *obj)
{
    const char *d = kr_value_as_str(kr_value_get(obj, "spec.data"));
    return d != NULL ? d : "?";
}

static void logf_(rec_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(rec_t *r, const char *fmt, ...)
{
    if (r->nlog == LOGN)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->log[r->nlog++], sizeof r->log[0], fmt, ap);
    va_end(ap);
}

static void on_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    rec_t *r = ud;
    char key[128];
    assert_true(kr_informer_key(obj, key, sizeof key) > 0);
    if (kr_informer_get_key(inf, key) != obj)
        r->bad++;
    r->adds++;
    logf_(r, "add %s=%s", key, data_of(obj));
}

static void on_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                      void *ud)
{
    rec_t *r = ud;
    char key[128];
    assert_true(kr_informer_key(new_obj, key, sizeof key) > 0);
    if (kr_informer_get_key(inf, key) != new_obj)
        r->bad++;
    if (old_obj == new_obj) {
        r->resyncs++;
        logf_(r, "resync %s", key);
        return;
    }
    r->updates++;
    logf_(r, "update %s=%s->%s", key, data_of(old_obj), data_of(new_obj));
}

static void on_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    rec_t *r = ud;
    char key[128];
    assert_true(kr_informer_key(obj, key, sizeof key) > 0);
    if (kr_informer_get_key(inf, key) != NULL)
        r->bad++;
    r->deletes++;
    logf_(r, "delete %s=%s", key, data_of(obj));
}

static int log_find(const rec_t *r, const char *line)
{
    for (int i = 0; i < r->nlog; i++)
        if (strcmp(r->log[i], line) == 0)
            return i;
    return -1;
}

static void on_error(kr_informer_t *inf, const kr_error_t *err, uint64_t retry_ms, void *ud)
{
    (void)inf;
    errs_t *e = ud;
    if (e->n < 64) {
        e->reason[e->n] = err->reason;
        e->retry[e->n] = retry_ms;
        e->at[e->n] = kr_time_ms();
        e->n++;
    }
}

/* ---- fixture ------------------------------------------------------------- */

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    f->broker = kr_broker_new(&bo, &err);
    if (f->broker == NULL || kr_broker_start(f->broker, &err) < 0) {
        fprintf(stderr, "broker: %s\n", err.message);
        return -1;
    }
    f->fake = fake_api_start(KR_BUS_INPROC_ENDPOINT, WIDGETS);
    f->loop = kr_loop_new(&err);
    f->bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    if (f->loop == NULL || f->bus == NULL || kr_bus_attach(f->bus, f->loop, &err) < 0)
        return -1;
    f->arena = kr_arena_new(0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kr_informer_destroy(&f->inf);
    kr_bus_destroy(&f->bus);
    kr_loop_destroy(&f->loop);
    fake_api_stop(&f->fake);
    kr_broker_destroy(&f->broker);
    kr_arena_destroy(&f->arena);
    free(f);
    return 0;
}

static void run_for(fx_t *f, uint64_t ms)
{
    uint64_t end = kr_time_ms() + ms;
    while (kr_time_ms() < end)
        assert_true(kr_loop_run_once(f->loop, 5, NULL) >= 0);
}

/* Runs the loop until cond holds; fails after ms. */
#define RUN_UNTIL(f, cond, ms)                                         \
    do {                                                               \
        uint64_t end_ = kr_time_ms() + (ms);                           \
        while (!(cond) && kr_time_ms() < end_)                         \
            assert_true(kr_loop_run_once((f)->loop, 5, NULL) >= 0);    \
        if (!(cond))                                                   \
            fail_msg("%s: still false after %d ms", #cond, (int)(ms)); \
    } while (0)

static int call(fx_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int call(fx_t *f, const char *fmt, ...)
{
    char json[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    kr_arena_reset(f->arena);
    return fake_call(f->bus, f->arena, NULL, json);
}

/* Creates or replaces a widget with these labels (JSON). */
static void put_labels(fx_t *f, const char *ns, const char *name, const char *data,
                       const char *labels)
{
    char o[512];
    snprintf(o, sizeof o,
             "{\"apiVersion\":\"test.kraal.io/v1\",\"kind\":\"Widget\","
             "\"metadata\":{\"name\":\"%s\",\"labels\":%s},\"spec\":{\"data\":\"%s\"}}",
             name, labels, data);
    int code =
        call(f, "{\"op\":\"create\",\"res\":\"" WIDGETS "\",\"ns\":\"%s\",\"obj\":%s}", ns, o);
    if (code == 409)
        code = call(f,
                    "{\"op\":\"update\",\"res\":\"" WIDGETS
                    "\",\"ns\":\"%s\",\"name\":\"%s\",\"obj\":%s}",
                    ns, name, o);
    assert_true(code == 200 || code == 201);
}

/* Creates or replaces a widget labelled app=w. */
static void put(fx_t *f, const char *ns, const char *name, const char *data)
{
    put_labels(f, ns, name, data, "{\"app\":\"w\"}");
}

static void del(fx_t *f, const char *ns, const char *name)
{
    assert_int_equal(
        call(f, "{\"op\":\"delete\",\"res\":\"" WIDGETS "\",\"ns\":\"%s\",\"name\":\"%s\"}", ns,
             name),
        200);
}

/* A fake.ctl request; returns the fake's revision after it. */
static int64_t ctl(fx_t *f, const char *obj)
{
    char json[512];
    snprintf(json, sizeof json, "{\"op\":\"fake.ctl\",\"obj\":%s}", obj);
    kr_arena_reset(f->arena);
    kr_value_t *out = NULL;
    assert_int_equal(fake_call(f->bus, f->arena, &out, json), 200);
    return kr_value_map_int(out, "rev", -1);
}

static kr_informer_opts_t base_opts(fx_t *f)
{
    kr_informer_opts_t o = {
        .res = WIDGETS,
        .handlers = {on_add, on_update, on_delete, &f->rec},
        .on_error = on_error,
        .error_ud = &f->errs,
        .backoff_base_ms = 100,
        .backoff_max_ms = 400,
        .request_timeout_ms = 2000,
    };
    return o;
}

static void start(fx_t *f, const kr_informer_opts_t *o)
{
    kr_error_t err;
    f->inf = kr_informer_new(f->loop, f->bus, o, &err);
    assert_non_null(f->inf);
    f->rec.inf = f->inf;
    assert_int_equal(kr_informer_start(f->inf, &err), 0);
}

static void sync_with(fx_t *f, const kr_informer_opts_t *o)
{
    start(f, o);
    assert_false(kr_informer_has_synced(f->inf));
    RUN_UNTIL(f, kr_informer_has_synced(f->inf), 5000);
}

static void rec_clear(rec_t *r)
{
    kr_informer_t *inf = r->inf;
    memset(r, 0, sizeof *r);
    r->inf = inf;
}

static const char *data_at(fx_t *f, const char *ns, const char *name)
{
    const kr_value_t *o = kr_informer_get(f->inf, ns, name);
    return o != NULL ? data_of(o) : NULL;
}

static bool count_ns(const kr_value_t *obj, void *ud)
{
    (void)obj;
    (*(int *)ud)++;
    return true;
}

/* ---- tests --------------------------------------------------------------- */

static void test_list_paging(void **state)
{
    fx_t *f = *state;
    char name[32], data[32];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof name, "w%02d", i);
        snprintf(data, sizeof data, "d%02d", i);
        put(f, "a", name, data);
    }
    put(f, "b", "w01", "b1");
    put(f, "b", "w02", "b2");
    put(f, "b", "w03", "b3");
    int64_t rev = ctl(f, "{\"do\":\"rev\"}");

    kr_informer_opts_t o = base_opts(f);
    o.page_size = 10;
    o.label_selector = "app=w";
    o.field_selector = "metadata.name!=nothing";
    sync_with(f, &o);

    assert_int_equal(f->rec.adds, 28);
    assert_int_equal(f->rec.updates + f->rec.deletes + f->rec.bad, 0);
    assert_int_equal(kr_informer_len(f->inf), 28);
    assert_string_equal(data_at(f, "a", "w07"), "d07");
    assert_string_equal(data_of(kr_informer_get_key(f->inf, "b/w02")), "b2");
    assert_null(kr_informer_get(f->inf, "a", "w99"));
    assert_null(kr_informer_get(f->inf, NULL, "w07"));
    int na = 0, nall = 0;
    assert_int_equal(kr_informer_each(f->inf, "a", count_ns, &na), 25);
    assert_int_equal(na, 25);
    kr_informer_each(f->inf, NULL, count_ns, &nall);
    assert_int_equal(nall, 28);
    char rv[32];
    snprintf(rv, sizeof rv, "%" PRId64, rev);
    assert_string_equal(kr_informer_resource_version(f->inf), rv);

    /* 3 pages of at most 10 following the continue token, then one watch
     * from the list's resourceVersion, selectors passed on every time. */
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);
    fake_req_t reqs[64];
    int n = fake_api_reqs(f->fake, reqs, 64), lists = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(reqs[i].op, "list") == 0) {
            assert_int_equal(reqs[i].limit, 10);
            assert_string_equal(reqs[i].labels, "app=w");
            assert_string_equal(reqs[i].fields, "metadata.name!=nothing");
            assert_string_equal(reqs[i].ns, "");
            assert_true(lists == 0 ? reqs[i].cont[0] == '\0' : reqs[i].cont[0] != '\0');
            lists++;
        } else if (strcmp(reqs[i].op, "watch") == 0) {
            assert_string_equal(reqs[i].rv, rv);
            assert_true(reqs[i].bookmarks);
            assert_string_equal(reqs[i].labels, "app=w");
            assert_string_equal(reqs[i].fields, "metadata.name!=nothing");
        }
    }
    assert_int_equal(lists, 3);
    kr_informer_stats_t st;
    kr_informer_stats(f->inf, &st);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.pages, 3);
    assert_int_equal(st.watches, 1);
    assert_int_equal(f->errs.n, 0);
}

static void test_keys(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *v;
    const char *js = "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\"}},"
                     "{\"metadata\":{\"name\":\"node1\"}},{\"metadata\":{}},{}]";
    assert_int_equal(kr_json_decode(a, js, strlen(js), &v, NULL), 0);
    char buf[16];
    assert_int_equal(kr_informer_key(kr_value_array_get(v, 0), buf, sizeof buf), 8);
    assert_string_equal(buf, "prod/web");
    assert_int_equal(kr_informer_key(kr_value_array_get(v, 1), buf, sizeof buf), 5);
    assert_string_equal(buf, "node1");
    assert_int_equal(kr_informer_key(kr_value_array_get(v, 2), buf, sizeof buf), -1);
    assert_int_equal(kr_informer_key(kr_value_array_get(v, 3), buf, sizeof buf), -1);
    assert_int_equal(kr_informer_key(kr_value_array_get(v, 0), buf, 8), -1); /* no room for NUL */
    kr_arena_destroy(&a);
}

static void test_events(void **state)
{
    fx_t *f = *state;
    put(f, "a", "w1", "d1");
    put(f, "a", "w2", "d2");
    kr_informer_opts_t o = base_opts(f);
    sync_with(f, &o);
    assert_int_equal(f->rec.adds, 2);
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);

    put(f, "a", "w3", "d3");
    RUN_UNTIL(f, f->rec.adds == 3, 2000);
    assert_true(log_find(&f->rec, "add a/w3=d3") >= 0);
    put(f, "a", "w1", "new1");
    RUN_UNTIL(f, f->rec.updates == 1, 2000);
    assert_true(log_find(&f->rec, "update a/w1=d1->new1") >= 0);
    assert_string_equal(data_at(f, "a", "w1"), "new1");
    del(f, "a", "w2");
    RUN_UNTIL(f, f->rec.deletes == 1, 2000);
    assert_true(log_find(&f->rec, "delete a/w2=d2") >= 0);
    assert_null(kr_informer_get(f->inf, "a", "w2"));
    assert_int_equal(kr_informer_len(f->inf), 2);
    assert_int_equal(f->rec.bad, 0);

    char rv[32];
    snprintf(rv, sizeof rv, "%" PRId64, ctl(f, "{\"do\":\"rev\"}"));
    assert_string_equal(kr_informer_resource_version(f->inf), rv);
    kr_informer_stats_t st;
    kr_informer_stats(f->inf, &st);
    assert_int_equal(st.events, 3);
    assert_int_equal(st.lists, 1);
    assert_int_equal(f->errs.n, 0);
}

static void test_namespace(void **state)
{
    fx_t *f = *state;
    put(f, "a", "w1", "a1");
    put(f, "b", "w1", "b1");
    put(f, "b", "w2", "b2");
    kr_informer_opts_t o = base_opts(f);
    o.ns = "b";
    sync_with(f, &o);
    assert_int_equal(f->rec.adds, 2);
    assert_null(kr_informer_get(f->inf, "a", "w1"));
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);
    put(f, "a", "w9", "a9");
    put(f, "b", "w9", "b9");
    RUN_UNTIL(f, f->rec.adds == 3, 2000);
    run_for(f, 50);
    assert_int_equal(f->rec.adds, 3);
    assert_true(log_find(&f->rec, "add b/w9=b9") >= 0);
    fake_req_t reqs[8];
    int n = fake_api_reqs(f->fake, reqs, 8);
    for (int i = 0; i < n; i++)
        if (strcmp(reqs[i].op, "list") == 0 || strcmp(reqs[i].op, "watch") == 0)
            assert_string_equal(reqs[i].ns, "b");
}

/* An object that stops matching the selector leaves the cache
 * (DELETED), one that starts to match enters it (ADDED). */
static void test_selector_moves(void **state)
{
    fx_t *f = *state;
    put(f, "a", "w1", "d1");
    put_labels(f, "a", "w2", "d2", "{\"app\":\"other\"}");
    kr_informer_opts_t o = base_opts(f);
    o.label_selector = "app=w";
    sync_with(f, &o);
    assert_int_equal(kr_informer_len(f->inf), 1);
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);
    put_labels(f, "a", "w1", "d1b", "{\"app\":\"other\"}");
    RUN_UNTIL(f, f->rec.deletes == 1, 2000);
    assert_true(log_find(&f->rec, "delete a/w1=d1") >= 0);
    put(f, "a", "w2", "d2b");
    RUN_UNTIL(f, f->rec.adds == 2, 2000);
    assert_true(log_find(&f->rec, "add a/w2=d2b") >= 0);
    assert_null(kr_informer_get(f->inf, "a", "w1"));
    assert_string_equal(data_at(f, "a", "w2"), "d2b");
    assert_int_equal(f->rec.updates + f->rec.bad, 0);
}

static void test_bookmark_and_watch_restart(void **state)
{
    fx_t *f = *state;
    put(f, "a", "w1", "d1");
    kr_informer_opts_t o = base_opts(f);
    o.watch_timeout_ms = 400;
    sync_with(f, &o);
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);
    const char *listed = kr_informer_resource_version(f->inf);
    char rv0[32];
    snprintf(rv0, sizeof rv0, "%s", listed);

    /* Other kinds moved the revision; a bookmark tells the informer. */
    int64_t rev = ctl(f, "{\"do\":\"bump\",\"n\":7}");
    ctl(f, "{\"do\":\"bookmark\"}");
    kr_informer_stats_t st;
    RUN_UNTIL(f, (kr_informer_stats(f->inf, &st), st.bookmarks == 1), 2000);
    char rv[32];
    snprintf(rv, sizeof rv, "%" PRId64, rev);
    assert_string_equal(kr_informer_resource_version(f->inf), rv);
    assert_string_not_equal(rv0, rv);
    assert_int_equal(f->rec.adds, 1);
    assert_int_equal(f->rec.updates + f->rec.deletes, 0);

    /* After 1-2x watch_timeout_ms the watch is replaced from the bookmark's
     * revision, without a relist; the old stream is cancelled. */
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 2, 2000);
    fake_req_t reqs[16];
    int n = fake_api_reqs(f->fake, reqs, 16);
    assert_string_equal(reqs[n - 1].op, "watch");
    assert_string_equal(reqs[n - 1].rv, rv);
    assert_int_equal(fake_api_count(f->fake, "list"), 1);
    RUN_UNTIL(f, fake_api_cancels(f->fake) == 1, 2000);
    put(f, "a", "w2", "d2");
    RUN_UNTIL(f, f->rec.adds == 2, 2000);
    assert_int_equal(f->errs.n, 0);
}

/* Syncs with w1, w2, w3, then changes the objects while every event is
 * lost: w1 updated, w2 deleted, w4 created, w3 untouched. */
static void sync_then_lose_events(fx_t *f, const kr_informer_opts_t *o)
{
    put(f, "a", "w1", "d1");
    put(f, "a", "w2", "d2");
    put(f, "a", "w3", "d3");
    sync_with(f, o);
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);
    rec_clear(&f->rec);
    ctl(f, "{\"do\":\"quiet\"}");
    put(f, "a", "w1", "new1");
    del(f, "a", "w2");
    put(f, "a", "w4", "d4");
    ctl(f, "{\"do\":\"loud\"}");
}

/* What a relist after sync_then_lose_events must deliver: the difference,
 * deletes first, nothing for w3; then a new watch that carries on. */
static void expect_difference(fx_t *f)
{
    assert_int_equal(f->rec.nlog, 3);
    assert_int_equal(log_find(&f->rec, "delete a/w2=d2"), 0);
    assert_true(log_find(&f->rec, "update a/w1=d1->new1") > 0);
    assert_true(log_find(&f->rec, "add a/w4=d4") > 0);
    assert_int_equal(f->rec.bad, 0);
    assert_int_equal(kr_informer_len(f->inf), 3);
    assert_string_equal(data_at(f, "a", "w3"), "d3");
    assert_int_equal(fake_api_count(f->fake, "list"), 2);

    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 2, 2000);
    put(f, "a", "w5", "d5");
    RUN_UNTIL(f, f->rec.adds == 2, 2000);
    assert_true(log_find(&f->rec, "add a/w5=d5") >= 0);
}

static void test_expired_relist(void **state)
{
    fx_t *f = *state;
    kr_informer_opts_t o = base_opts(f);
    sync_then_lose_events(f, &o);
    uint64_t t0 = kr_time_ms();
    ctl(f, "{\"do\":\"expire\"}");
    kr_informer_stats_t st;
    RUN_UNTIL(f, (kr_informer_stats(f->inf, &st), st.lists == 2), 2000);

    /* Expired relists at once (retry 0), no back-off. */
    assert_int_equal(f->errs.n, 1);
    assert_int_equal(f->errs.reason[0], KR_E_EXPIRED);
    assert_int_equal(f->errs.retry[0], 0);
    fake_req_t reqs[32];
    int n = fake_api_reqs(f->fake, reqs, 32);
    const fake_req_t *relist = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(reqs[i].op, "list") == 0)
            relist = &reqs[i];
    assert_true(relist->at_ms - t0 < 100);
    expect_difference(f);
}

static void test_provider_restart(void **state)
{
    fx_t *f = *state;
    kr_informer_opts_t o = base_opts(f); /* back-off 100 ms .. 400 ms */
    sync_then_lose_events(f, &o);
    uint64_t t0 = kr_time_ms();
    ctl(f, "{\"do\":\"restart\",\"down_ms\":1500}");
    kr_informer_stats_t st;
    RUN_UNTIL(f, (kr_informer_stats(f->inf, &st), st.lists == 2), 6000);
    uint64_t took = kr_time_ms() - t0;

    /* The broken watch, then lists refused while nobody serves them, each
     * retried after a longer wait up to the cap: never a busy loop. */
    const errs_t *e = &f->errs;
    assert_true(e->n >= 4 && e->n <= 10);
    assert_int_equal(e->reason[0], KR_E_SERVICE_UNAVAILABLE);
    for (int i = 1; i < e->n; i++)
        assert_int_equal(e->reason[i], KR_E_NOT_FOUND);
    assert_true(e->retry[0] >= 75 && e->retry[0] <= 100);
    assert_true(e->retry[1] >= 150 && e->retry[1] <= 200);
    for (int i = 2; i < e->n; i++)
        assert_true(e->retry[i] >= 300 && e->retry[i] <= 400);
    for (int i = 0; i + 1 < e->n; i++)
        assert_true(e->at[i + 1] - e->at[i] + 2 >= e->retry[i]);
    assert_true(took >= 1500);
    assert_true(took < 1500 + 400 + 500);

    /* The relist delivered what changed while the provider was away. */
    expect_difference(f);
}

static void test_resync(void **state)
{
    fx_t *f = *state;
    put(f, "a", "w1", "d1");
    put(f, "a", "w2", "d2");
    put(f, "b", "w3", "d3");
    kr_informer_opts_t o = base_opts(f);
    o.resync_ms = 100;
    sync_with(f, &o);
    rec_clear(&f->rec);
    run_for(f, 460);
    kr_informer_stats_t st;
    kr_informer_stats(f->inf, &st);
    assert_true(st.resyncs >= 3 && st.resyncs <= 5);
    assert_int_equal(f->rec.resyncs, 3 * (int)st.resyncs);
    assert_int_equal(f->rec.adds + f->rec.updates + f->rec.deletes + f->rec.bad, 0);
    assert_true(log_find(&f->rec, "resync a/w1") >= 0);
    assert_true(log_find(&f->rec, "resync a/w2") >= 0);
    assert_true(log_find(&f->rec, "resync b/w3") >= 0);
}

static void test_continue_expired(void **state)
{
    fx_t *f = *state;
    char name[32];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof name, "w%02d", i);
        put(f, "a", name, "x");
    }
    ctl(f, "{\"do\":\"expire_continue\"}");
    kr_informer_opts_t o = base_opts(f);
    o.page_size = 10;
    sync_with(f, &o);
    /* Page 1, page 2 refused 410, then the whole list without a limit;
     * every object delivered once. */
    assert_int_equal(f->rec.adds, 25);
    assert_int_equal(kr_informer_len(f->inf), 25);
    fake_req_t reqs[16];
    int n = fake_api_reqs(f->fake, reqs, 16), k = 0;
    int64_t limits[3];
    bool cont[3];
    for (int i = 0; i < n && k < 3; i++) {
        if (strcmp(reqs[i].op, "list") == 0) {
            limits[k] = reqs[i].limit;
            cont[k++] = reqs[i].cont[0] != '\0';
        }
    }
    assert_int_equal(k, 3);
    assert_int_equal(limits[0], 10);
    assert_false(cont[0]);
    assert_int_equal(limits[1], 10);
    assert_true(cont[1]);
    assert_int_equal(limits[2], 0);
    assert_false(cont[2]);
    assert_int_equal(fake_api_count(f->fake, "list"), 3);
}

static void test_late_handlers(void **state)
{
    fx_t *f = *state;
    put(f, "a", "w1", "d1");
    put(f, "a", "w2", "d2");
    kr_informer_opts_t o = base_opts(f);
    sync_with(f, &o);
    rec_t second = {.inf = f->inf};
    kr_informer_handlers_t h = {on_add, on_update, on_delete, &second};
    assert_int_equal(kr_informer_add_handlers(f->inf, &h, NULL), 0);
    assert_int_equal(second.adds, 2); /* the cache, replayed at once */
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);
    put(f, "a", "w3", "d3");
    RUN_UNTIL(f, f->rec.adds == 3 && second.adds == 3, 2000);
    assert_int_equal(second.bad, 0);
}

static void test_destroy(void **state)
{
    fx_t *f = *state;
    put(f, "a", "w1", "d1");
    kr_informer_opts_t o = base_opts(f);

    /* A list page in flight: its reply arrives after the informer is gone. */
    start(f, &o);
    kr_informer_destroy(&f->inf);
    assert_null(f->inf);
    RUN_UNTIL(f, fake_api_count(f->fake, "list") == 1, 2000);
    run_for(f, 50);
    assert_int_equal(f->rec.adds, 0);

    /* A watch open: unwatched on destroy, no handler afterwards. */
    sync_with(f, &o);
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);
    kr_informer_destroy(&f->inf);
    RUN_UNTIL(f, fake_api_cancels(f->fake) == 1, 2000);
    rec_clear(&f->rec);
    put(f, "a", "w2", "d2");
    run_for(f, 50);
    assert_int_equal(f->rec.nlog, 0);
    kr_informer_destroy(&f->inf); /* NULL is fine */
}

static void add_inside(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)obj;
    kr_error_t err;
    kr_informer_handlers_t h = {0};
    *(int *)ud = kr_informer_add_handlers(inf, &h, &err);
}

static void test_refusals(void **state)
{
    fx_t *f = *state;
    kr_error_t err;
    assert_null(kr_informer_new(f->loop, f->bus, NULL, &err));
    assert_int_equal(err.reason, KR_E_INVALID);
    kr_informer_opts_t o = {.res = ""};
    assert_null(kr_informer_new(f->loop, f->bus, &o, &err));
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_non_null(strstr(err.message, "res is required"));
    o.res = WIDGETS;
    assert_null(kr_informer_new(NULL, f->bus, &o, &err));

    put(f, "a", "w1", "d1");
    int rc = 1;
    o.handlers = (kr_informer_handlers_t){.on_add = add_inside, .ud = &rc};
    f->inf = kr_informer_new(f->loop, f->bus, &o, &err);
    assert_int_equal(kr_informer_start(f->inf, &err), 0);
    assert_int_equal(kr_informer_start(f->inf, &err), -(int)KR_E_ALREADY_EXISTS);
    RUN_UNTIL(f, kr_informer_has_synced(f->inf), 2000);
    assert_int_equal(rc, -(int)KR_E_INVALID);
}

/* kr_informer_set_transform: the cache and the handlers get the kept form
 * (no labels here) of listed and watched objects; NULL keeps an object
 * whole; a relist of unchanged objects changes nothing; too late after
 * the start. */
static const kr_value_t *strip_labels(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (*(int *)ud)++;
    const kr_value_t *md = kr_value_map_get(obj, "metadata");
    if (strcmp(kr_value_map_str(md, "name"), "whole") == 0)
        return NULL;
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a);
    static const char *const keep[] = {"name", "namespace", "resourceVersion"};
    for (size_t i = 0; i < 3; i++)
        if (kr_value_map_get(md, keep[i]) != NULL)
            kr_value_map_set(a, m, keep[i], kr_value_copy(a, kr_value_map_get(md, keep[i])));
    kr_value_map_set(a, out, "metadata", m);
    kr_value_map_set(a, out, "spec", kr_value_copy(a, kr_value_map_get(obj, "spec")));
    return out;
}

static void test_transform(void **state)
{
    fx_t *f = *state;
    put(f, "a", "w1", "d1");
    put(f, "a", "whole", "dw");
    kr_informer_opts_t o = base_opts(f);
    kr_error_t err;
    int calls = 0;
    f->inf = kr_informer_new(f->loop, f->bus, &o, &err);
    assert_non_null(f->inf);
    f->rec.inf = f->inf;
    assert_int_equal(kr_informer_set_transform(f->inf, strip_labels, &calls, &err), 0);
    assert_int_equal(kr_informer_start(f->inf, &err), 0);
    RUN_UNTIL(f, kr_informer_has_synced(f->inf), 5000);
    assert_int_equal(f->rec.adds, 2);
    assert_int_equal(calls, 2);
    assert_null(kr_value_get(kr_informer_get(f->inf, "a", "w1"), "metadata.labels"));
    assert_string_equal(data_at(f, "a", "w1"), "d1");
    assert_non_null(kr_value_get(kr_informer_get(f->inf, "a", "whole"), "metadata.labels"));
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);
    put(f, "a", "w1", "new1");
    RUN_UNTIL(f, f->rec.updates == 1, 2000);
    assert_true(log_find(&f->rec, "update a/w1=d1->new1") >= 0);
    assert_null(kr_value_get(kr_informer_get(f->inf, "a", "w1"), "metadata.labels"));
    assert_int_equal(calls, 3);
    /* a relist: the objects are transformed again, compared by
     * resourceVersion (kept), and nothing changed */
    ctl(f, "{\"do\":\"expire\"}");
    kr_informer_stats_t st;
    RUN_UNTIL(f, (kr_informer_stats(f->inf, &st), st.lists == 2), 2000);
    assert_int_equal(f->rec.updates, 1);
    assert_int_equal(f->rec.adds, 2);
    assert_int_equal(calls, 5);
    assert_int_equal(kr_informer_set_transform(f->inf, NULL, NULL, &err), -KR_E_ALREADY_EXISTS);
}

/* Keeps metadata.name and resourceVersion only: no namespace. */
static const kr_value_t *strip_namespace(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    const kr_value_t *md = kr_value_map_get(obj, "metadata");
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a);
    kr_value_map_set(a, m, "name", kr_value_copy(a, kr_value_map_get(md, "name")));
    kr_value_map_set(a, m, "resourceVersion",
                     kr_value_copy(a, kr_value_map_get(md, "resourceVersion")));
    kr_value_map_set(a, out, "metadata", m);
    return out;
}

/* The namespace of a cached object is its key's, not its (transformed)
 * object's: each() filters by it even when the transform drops it. */
static void test_transform_namespace(void **state)
{
    fx_t *f = *state;
    put(f, "a", "x", "d1");
    put(f, "b", "y", "d2");
    put(f, "b", "z", "d3");
    put(f, "bb", "w", "d4");
    kr_informer_opts_t o = base_opts(f);
    o.handlers.on_add = NULL; /* it looks objects up by their own key */
    kr_error_t err;
    f->inf = kr_informer_new(f->loop, f->bus, &o, &err);
    assert_non_null(f->inf);
    f->rec.inf = f->inf;
    assert_int_equal(kr_informer_set_transform(f->inf, strip_namespace, NULL, &err), 0);
    assert_int_equal(kr_informer_start(f->inf, &err), 0);
    RUN_UNTIL(f, kr_informer_has_synced(f->inf), 5000);
    assert_int_equal(kr_informer_len(f->inf), 4);
    const kr_value_t *y = kr_informer_get(f->inf, "b", "y");
    assert_non_null(y);
    assert_null(kr_value_get(y, "metadata.namespace"));
    int na = 0, nb = 0, nbb = 0, none = 0;
    assert_int_equal(kr_informer_each(f->inf, "a", count_ns, &na), 1);
    assert_int_equal(kr_informer_each(f->inf, "b", count_ns, &nb), 2);
    assert_int_equal(kr_informer_each(f->inf, "bb", count_ns, &nbb), 1);
    assert_int_equal(kr_informer_each(f->inf, "", count_ns, &none), 0);
    assert_int_equal(na + nb + nbb + none, 4);
}

static void test_many_objects(void **state)
{
    fx_t *f = *state;
    enum { N = 10000 };
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "w%05d", i);
        put(f, i % 2 ? "odd" : "even", name, "x");
    }
    kr_informer_opts_t o = base_opts(f);
    o.page_size = 1000;
    o.handlers.on_add = NULL; /* counted below, not logged */
    uint64_t t0 = kr_time_ms();
    sync_with(f, &o);
    uint64_t took = kr_time_ms() - t0;
    assert_int_equal(kr_informer_len(f->inf), N);
    kr_informer_stats_t st;
    kr_informer_stats(f->inf, &st);
    assert_int_equal(st.pages, N / 1000);
    int even = 0;
    kr_informer_each(f->inf, "even", count_ns, &even);
    assert_int_equal(even, N / 2);
    assert_string_equal(data_at(f, "odd", "w09999"), "x");
    print_message("%d objects listed in %" PRIu64 " ms\n", N, took);

    /* A relist with nothing changed tells the handlers nothing. */
    RUN_UNTIL(f, fake_api_count(f->fake, "watch") == 1, 2000);
    rec_clear(&f->rec);
    ctl(f, "{\"do\":\"expire\"}");
    RUN_UNTIL(f, (kr_informer_stats(f->inf, &st), st.lists == 2), 5000);
    assert_int_equal(f->rec.nlog, 0);
    assert_int_equal(kr_informer_len(f->inf), N);
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
        cmocka_unit_test(test_keys),
        cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selector_moves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bookmark_and_watch_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_relist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_handlers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transform_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_objects, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
