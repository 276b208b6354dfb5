/* Broker + client: many requests in flight, sync calls among async
 * replies, timeouts, routing to providers (409, 503), watches, slow
 * watchers expired with one ERROR, vanished peers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include <kraal/loop.h>

#include "bus_test.h"

#define THINGS "test/v1/things"

/* ---- a provider on its own thread -------------------------------------- */

typedef struct provider {
    const char *endpoint;
    pthread_t th;
    kr_loop_t *loop;
    kr_bus_t *bus;
    atomic_int ready;
    atomic_int watches; /* watch calls received */
    atomic_int cancels; /* cancel callbacks run */
    atomic_int flood_done;
    kr_call_t *hung; /* a kept "hang" call */
} provider_t;

static void on_echo(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    (void)ud;
    kr_value_t *obj = kr_value_map_get(kr_call_msg(call), "obj");
    kr_call_reply(call, 200, obj, NULL);
}

static void on_hang(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    provider_t *p = ud;
    kr_call_keep(call); /* never answered */
    p->hung = call;
}

static void on_cancel(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    (void)call;
    provider_t *p = ud;
    atomic_fetch_add(&p->cancels, 1);
}

static void on_watch(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    provider_t *p = ud;
    kr_call_keep(call);
    kr_call_on_cancel(call, on_cancel, p);
    atomic_fetch_add(&p->watches, 1);
    kr_arena_t *a = kr_call_arena(call);
    const char *name = kr_call_field(call, "name");
    int n = name && strcmp(name, "flood") == 0 ? 200000 : 3;
    kr_value_t *obj = kr_value_map(a);
    for (int i = 0; i < n; i++) {
        kr_value_map_set(a, obj, "seq", kr_value_int(a, i));
        if (kr_call_event(call, "ADDED", obj, NULL) < 0)
            break;
    }
    if (n > 3)
        atomic_store(&p->flood_done, 1);
}

static void *provider_main(void *arg)
{
    provider_t *p = arg;
    kr_error_t err;
    p->loop = kr_loop_new(&err);
    p->bus = kr_bus_connect(p->endpoint, &err);
    assert_non_null(p->bus);
    assert_int_equal(kr_bus_attach(p->bus, p->loop, &err), 0);
    assert_int_equal(kr_bus_serve(p->bus, "echo", NULL, on_echo, p, 5000, &err), 0);
    assert_int_equal(kr_bus_serve(p->bus, "hang", NULL, on_hang, p, 5000, &err), 0);
    assert_int_equal(kr_bus_serve(p->bus, "watch", THINGS, on_watch, p, 5000, &err), 0);
    atomic_store(&p->ready, 1);
    kr_loop_run(p->loop, &err);
    if (p->bus)
        kr_bus_destroy(&p->bus);
    kr_loop_destroy(&p->loop);
    return NULL;
}

static void provider_start(provider_t *p, const char *endpoint)
{
    memset(p, 0, sizeof *p);
    p->endpoint = endpoint;
    pthread_create(&p->th, NULL, provider_main, p);
    for (int i = 0; i < 500 && !atomic_load(&p->ready); i++)
        usleep(10 * 1000);
    assert_true(atomic_load(&p->ready));
}

static void provider_stop(provider_t *p)
{
    kr_loop_stop(p->loop);
    pthread_join(p->th, NULL);
}

/* ---- async pings ------------------------------------------------------- */

typedef struct tally {
    int n, bad, codes[600];
    uint64_t ids[1000];
    int order[8], norder;
} tally_t;

static void on_ping(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    tally_t *t = ud;
    uint64_t id = (uint64_t)kr_value_map_int(r->msg, "id", -1);
    if (r->code != 200 || !kr_value_as_bool(kr_value_map_get(r->obj, "pong"), false) ||
        id != t->ids[t->n])
        t->bad++;
    t->n++;
}

static void dispatch_until(kr_bus_t *bus, int *counter, int want, int ms)
{
    uint64_t end = kr_time_ms() + (uint64_t)ms;
    while (*counter < want && kr_time_ms() < end)
        assert_true(kr_bus_dispatch(bus, 50, NULL) >= 0);
}

static void test_many_in_flight(void **state)
{
    (void)state;
    test_broker_t tb;
    tb_start(&tb, 0);
    kr_bus_t *bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, NULL);
    tally_t *t = calloc(1, sizeof *t);
    kr_request_t ping = {.op = "ping"};
    for (int i = 0; i < 1000; i++)
        assert_int_equal(kr_bus_send(bus, &ping, on_ping, t, 5000, &t->ids[i], NULL), 0);
    dispatch_until(bus, &t->n, 1000, 5000);
    assert_int_equal(t->n, 1000);
    assert_int_equal(t->bad, 0);

    /* a sync call while async replies arrive: they are kept for later */
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 100; i++)
        kr_bus_send(bus, &ping, on_ping, t, 5000, &t->ids[i], NULL);
    kr_arena_t *a = kr_arena_new(0);
    kr_reply_t r;
    assert_int_equal(kr_bus_call(bus, &ping, a, &r, 5000, NULL), 0);
    assert_int_equal(r.code, 200);
    assert_int_equal(t->n, 0);
    dispatch_until(bus, &t->n, 100, 5000);
    assert_int_equal(t->n, 100);
    assert_int_equal(t->bad, 0);
    kr_arena_destroy(&a);
    free(t);
    kr_bus_destroy(&bus);
    tb_stop(&tb);
}

/* ---- timeouts ---------------------------------------------------------- */

static void on_timeout(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    tally_t *t = ud;
    t->codes[t->n] = r->code;
    t->order[t->norder++] = r->reason == KR_E_TIMEOUT ? (int)(intptr_t)0 : -1;
    t->n++;
}

static int order_seen[3], order_n;
static void on_timeout_ordered(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    assert_int_equal(r->code, 504);
    assert_int_equal(r->reason, KR_E_TIMEOUT);
    order_seen[order_n++] = (int)(intptr_t)ud;
}

static void test_timeouts(void **state)
{
    (void)state;
    test_broker_t tb;
    tb_start(&tb, 0);
    provider_t p;
    provider_start(&p, KR_BUS_INPROC_ENDPOINT);
    kr_bus_t *bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, NULL);
    kr_request_t hang = {.op = "hang"};
    order_n = 0;
    kr_bus_send(bus, &hang, on_timeout_ordered, (void *)3, 300, NULL, NULL);
    kr_bus_send(bus, &hang, on_timeout_ordered, (void *)1, 50, NULL, NULL);
    kr_bus_send(bus, &hang, on_timeout_ordered, (void *)2, 150, NULL, NULL);
    uint64_t t0 = kr_time_ms();
    dispatch_until(bus, &order_n, 3, 3000);
    uint64_t took = kr_time_ms() - t0;
    assert_int_equal(order_n, 3);
    assert_int_equal(order_seen[0], 1);
    assert_int_equal(order_seen[1], 2);
    assert_int_equal(order_seen[2], 3);
    assert_true(took >= 290 && took < 2000);
    /* sync call timeout */
    kr_arena_t *a = kr_arena_new(0);
    kr_reply_t r;
    kr_error_t err;
    t0 = kr_time_ms();
    assert_int_equal(kr_bus_call(bus, &hang, a, &r, 100, &err), -(int)KR_E_TIMEOUT);
    assert_true(kr_time_ms() - t0 >= 95);
    /* the timeouts also fire through an attached loop */
    kr_loop_t *loop = kr_loop_new(NULL);
    assert_int_equal(kr_bus_attach(bus, loop, NULL), 0);
    tally_t *t = calloc(1, sizeof *t);
    kr_bus_send(bus, &hang, on_timeout, t, 80, NULL, NULL);
    uint64_t end = kr_time_ms() + 3000;
    while (t->n == 0 && kr_time_ms() < end)
        kr_loop_run_once(loop, 100, NULL);
    assert_int_equal(t->n, 1);
    assert_int_equal(t->codes[0], 504);
    free(t);
    kr_bus_destroy(&bus);
    kr_loop_destroy(&loop);
    kr_arena_destroy(&a);
    provider_stop(&p);
    tb_stop(&tb);
}

/* ---- routing ----------------------------------------------------------- */

static void test_routing(void **state)
{
    (void)state;
    test_broker_t tb;
    tb_start(&tb, 0);
    provider_t p;
    provider_start(&p, KR_BUS_INPROC_ENDPOINT);
    kr_bus_t *bus = kr_bus_connect(tb.ipc, NULL); /* client over ipc, provider inproc */
    kr_arena_t *a = kr_arena_new(0);
    kr_reply_t r;
    kr_error_t err;

    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "hello", kr_value_str(a, "world"));
    kr_request_t echo = {.op = "echo", .res = "v1/pods", .obj = obj};
    for (int i = 0; i < 50; i++) {
        assert_int_equal(kr_bus_call(bus, &echo, a, &r, 5000, &err), 0);
        assert_int_equal(r.code, 200);
        assert_true(kr_value_equal(r.obj, obj));
    }
    /* a second provider of the same op is refused */
    kr_bus_t *second = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, NULL);
    assert_int_equal(kr_bus_serve(second, "echo", NULL, on_echo, NULL, 5000, &err),
                     -(int)KR_E_ALREADY_EXISTS);
    assert_non_null(strstr(err.message, "already served"));
    /* but a different resource of the same op is fine */
    assert_int_equal(kr_bus_serve(second, "watch", "v1/other", on_watch, NULL, 5000, &err), 0);
    kr_bus_destroy(&second);

    /* provider gone with a request pending -> 503 */
    tally_t *t = calloc(1, sizeof *t);
    kr_request_t hang = {.op = "hang"};
    assert_int_equal(kr_bus_send(bus, &hang, on_timeout, t, 10000, NULL, NULL), 0);
    usleep(100 * 1000);
    provider_stop(&p);
    dispatch_until(bus, &t->n, 1, 5000);
    assert_int_equal(t->n, 1);
    assert_int_equal(t->codes[0], 503);
    free(t);
    /* and nobody serves echo any more */
    assert_int_equal(kr_bus_call(bus, &echo, a, &r, 5000, &err), 0);
    assert_int_equal(r.code, 404);
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    tb_stop(&tb);
}

/* ---- watches ----------------------------------------------------------- */

typedef struct wstate {
    int events, errors, after_error;
    int last_seq;
    const char *err_reason;
    int err_code;
    char err_msg[256];
} wstate_t;

static void on_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)id;
    wstate_t *w = ud;
    if (w->errors)
        w->after_error++;
    if (strcmp(ev->type, "ERROR") == 0) {
        w->errors++;
        w->err_code = (int)kr_value_map_int(ev->obj, "code", 0);
        w->err_reason = kr_value_map_str(ev->obj, "reason") &&
                                strcmp(kr_value_map_str(ev->obj, "reason"), "Expired") == 0
                            ? "Expired"
                            : "other";
        snprintf(w->err_msg, sizeof w->err_msg, "%s", kr_value_map_str(ev->obj, "message"));
        return;
    }
    w->events++;
    w->last_seq = (int)kr_value_map_int(ev->obj, "seq", -1);
}

static void test_watch_unwatch(void **state)
{
    (void)state;
    test_broker_t tb;
    tb_start(&tb, 0);
    provider_t p;
    provider_start(&p, KR_BUS_INPROC_ENDPOINT);
    kr_bus_t *bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, NULL);
    wstate_t w = {0};
    uint64_t wid;
    kr_request_t req = {.res = THINGS};
    assert_int_equal(kr_bus_watch(bus, &req, on_event, &w, &wid, NULL), 0);
    dispatch_until(bus, &w.events, 3, 5000);
    assert_int_equal(w.events, 3);
    assert_int_equal(w.last_seq, 2);
    assert_int_equal(kr_bus_unwatch(bus, wid, NULL), 0);
    for (int i = 0; i < 300 && atomic_load(&p.cancels) == 0; i++)
        usleep(10 * 1000);
    assert_int_equal(atomic_load(&p.cancels), 1);
    /* a watch of a resource nobody serves arrives as one ERROR event */
    wstate_t w2 = {0};
    kr_request_t other = {.res = "v1/nothing"};
    assert_int_equal(kr_bus_watch(bus, &other, on_event, &w2, NULL, NULL), 0);
    dispatch_until(bus, &w2.errors, 1, 5000);
    assert_int_equal(w2.errors, 1);
    assert_int_equal(w2.err_code, 404);
    kr_bus_destroy(&bus);
    provider_stop(&p);
    tb_stop(&tb);
}

typedef struct hung_reply {
    int n, code;
} hung_reply_t;

static void on_hung_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    hung_reply_t *h = ud;
    h->n++;
    h->code = r->code;
}

/* The broker goes away (a server killed) and another one takes its ipc
 * path: a client's watch and its request in flight end at once with 503
 * instead of waiting for a timeout, and a provider serves its ops on the
 * new broker without doing anything. */
static void test_broker_restart(void **state)
{
    (void)state;
    test_broker_t tb;
    tb_start(&tb, 0);
    provider_t p;
    provider_start(&p, tb.ipc);
    kr_bus_t *bus = kr_bus_connect(tb.ipc, NULL);
    assert_non_null(bus);
    wstate_t w = {0};
    kr_request_t req = {.res = THINGS};
    assert_int_equal(kr_bus_watch(bus, &req, on_event, &w, NULL, NULL), 0);
    dispatch_until(bus, &w.events, 3, 5000);
    assert_int_equal(w.events, 3);
    hung_reply_t h = {0};
    kr_request_t hang = {.op = "hang"};
    assert_int_equal(kr_bus_send(bus, &hang, on_hung_reply, &h, -1, NULL, NULL), 0);
    usleep(200 * 1000);
    assert_int_equal(kr_bus_dispatch(bus, 0, NULL), 0);

    uint64_t t0 = kr_time_ms();
    kr_broker_destroy(&tb.b);
    dispatch_until(bus, &w.errors, 1, 5000);
    dispatch_until(bus, &h.n, 1, 5000);
    assert_int_equal(w.errors, 1);
    assert_int_equal(w.err_code, 503);
    assert_string_equal(w.err_msg, "the connection to the server was lost");
    assert_int_equal(h.n, 1);
    assert_int_equal(h.code, 503);
    assert_true(kr_time_ms() - t0 < 3000); /* not a request timeout */

    kr_broker_opts_t o = {.ipc_path = tb.sock};
    kr_error_t err;
    tb.b = kr_broker_new(&o, &err);
    assert_non_null(tb.b);
    assert_int_equal(kr_broker_start(tb.b, &err), 0);
    /* the provider told the new broker it serves echo */
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t echo = {.op = "echo", .obj = kr_value_map(a)};
    int code = 0;
    for (int i = 0; i < 100 && code != 200; i++) {
        kr_reply_t r;
        if (kr_bus_call(bus, &echo, a, &r, 1000, NULL) == 0)
            code = r.code;
        if (code != 200)
            usleep(50 * 1000);
    }
    assert_int_equal(code, 200);
    /* and a new watch works */
    wstate_t w2 = {0};
    assert_int_equal(kr_bus_watch(bus, &req, on_event, &w2, NULL, NULL), 0);
    dispatch_until(bus, &w2.events, 3, 5000);
    assert_int_equal(w2.events, 3);
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    provider_stop(&p);
    tb_stop(&tb);
}

typedef struct pinger {
    atomic_int stop;
    atomic_int ok;
    atomic_int slow; /* pings that took more than 1 s */
} pinger_t;

static void *pinger_main(void *arg)
{
    pinger_t *pg = arg;
    kr_bus_t *bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, NULL);
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t ping = {.op = "ping"};
    while (!atomic_load(&pg->stop)) {
        kr_reply_t r;
        uint64_t t0 = kr_time_ms();
        if (kr_bus_call(bus, &ping, a, &r, 5000, NULL) == 0 && r.code == 200)
            atomic_fetch_add(&pg->ok, 1);
        if (kr_time_ms() - t0 > 1000)
            atomic_fetch_add(&pg->slow, 1);
        kr_arena_reset(a);
        usleep(1000);
    }
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    return NULL;
}

static void test_slow_watcher(void **state)
{
    (void)state;
    test_broker_t tb;
    tb_start(&tb, 0);
    provider_t p;
    provider_start(&p, KR_BUS_INPROC_ENDPOINT);
    pinger_t pg = {0};
    pthread_t pth;
    pthread_create(&pth, NULL, pinger_main, &pg);

    kr_bus_t *bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, NULL);
    wstate_t w = {0};
    kr_request_t req = {.res = THINGS, .name = "flood"};
    assert_int_equal(kr_bus_watch(bus, &req, on_event, &w, NULL, NULL), 0);
    /* do not read until the provider has sent all 200k events */
    for (int i = 0; i < 3000 && !atomic_load(&p.flood_done); i++)
        usleep(10 * 1000);
    assert_true(atomic_load(&p.flood_done));
    for (int i = 0; i < 300 && atomic_load(&p.cancels) == 0; i++)
        usleep(10 * 1000);
    assert_int_equal(atomic_load(&p.cancels), 1);

    kr_broker_stats_t st;
    kr_broker_stats(tb.b, &st);
    assert_int_equal(st.watches_expired, 1);

    /* now read: events, then exactly one ERROR Expired, then nothing */
    dispatch_until(bus, &w.errors, 1, 10000);
    for (int i = 0; i < 5; i++)
        kr_bus_dispatch(bus, 50, NULL);
    assert_int_equal(w.errors, 1);
    assert_int_equal(w.after_error, 0);
    assert_string_equal(w.err_reason, "Expired");
    assert_int_equal(w.err_code, 410);
    assert_non_null(strstr(w.err_msg, "could not keep up"));
    assert_true(w.events > 0);
    /* bounded: what was buffered is far less than what was sent, and the
     * events seen are a prefix of the stream */
    assert_true(w.events < 20000);
    assert_int_equal(w.last_seq, w.events - 1);

    atomic_store(&pg.stop, 1);
    pthread_join(pth, NULL);
    assert_true(atomic_load(&pg.ok) > 10);
    assert_int_equal(atomic_load(&pg.slow), 0);
    kr_bus_destroy(&bus);
    provider_stop(&p);
    tb_stop(&tb);
}

/* A raw client opens a watch and vanishes without "bye": the broker's
 * liveness probe notices and cancels the watch at the provider. */
static void test_vanished_watcher(void **state)
{
    (void)state;
    test_broker_t tb;
    tb_start(&tb, 0);
    provider_t p;
    provider_start(&p, KR_BUS_INPROC_ENDPOINT);
    void *s = raw_connect(KR_BUS_INPROC_ENDPOINT);
    mp_t m;
    mp_init(&m);
    msgpack_pack_map(&m.pk, 4);
    mp_str(&m, "v");
    msgpack_pack_int(&m.pk, 1);
    mp_str(&m, "id");
    msgpack_pack_int(&m.pk, 1);
    mp_str(&m, "op");
    mp_str(&m, "watch");
    mp_str(&m, "res");
    mp_str(&m, THINGS);
    assert_true(zmq_send(s, m.sb.data, m.sb.size, 0) > 0);
    msgpack_sbuffer_destroy(&m.sb);
    for (int i = 0; i < 300 && atomic_load(&p.watches) == 0; i++)
        usleep(10 * 1000);
    assert_int_equal(atomic_load(&p.watches), 1);
    uint64_t t0 = kr_time_ms();
    zmq_close(s);
    while (atomic_load(&p.cancels) == 0 && kr_time_ms() - t0 < 5000)
        usleep(10 * 1000);
    assert_int_equal(atomic_load(&p.cancels), 1);
    kr_broker_stats_t st;
    kr_broker_stats(tb.b, &st);
    assert_true(st.peers_lost >= 1);
    provider_stop(&p);
    tb_stop(&tb);
}

/* Requests routed through the broker without sockets (the fuzzer's path). */
static void test_detached_feed(void **state)
{
    (void)state;
    kr_broker_t *b = kr_broker_new_detached(NULL);
    static const char ping[] = "\x83\xa1v\x01\xa2id\x05\xa2op\xa4ping";
    const void *f[1] = {ping};
    size_t l[1] = {sizeof ping - 1};
    kr_broker_feed(b, "peer", 4, f, l, 1);
    f[0] = "\xc1";
    l[0] = 1;
    kr_broker_feed(b, "peer", 4, f, l, 1);
    kr_broker_stats_t st;
    kr_broker_stats(b, &st);
    assert_int_equal(st.msgs_in, 2);
    assert_int_equal(st.msgs_out, 2);
    assert_int_equal(st.bad_frames, 1);
    kr_broker_destroy(&b);
    assert_null(b);
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
        cmocka_unit_test(test_many_in_flight), cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_routing),        cmocka_unit_test(test_watch_unwatch),
        cmocka_unit_test(test_slow_watcher),   cmocka_unit_test(test_vanished_watcher),
        cmocka_unit_test(test_detached_feed),  cmocka_unit_test(test_broker_restart),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
