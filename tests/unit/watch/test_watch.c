/* The watch hub over a real broker and real bus clients: replay from a
 * revision, 410 for an old one, snapshot then live without gap or
 * duplicate while events arrive, selector transitions, namespaces,
 * bookmarks, 100 watchers, cancel on unwatch and disconnect, lagging
 * watchers expired, shutdown.
 *
 * Everything the hub does runs on the broker thread: the test hands it
 * closures through an eventfd (world_run) and the broker's tick feeds the
 * catching-up watchers, as the API does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/loop.h>

#include "broker.h"
#include "cache.h"
#include <kraal/selector.h>
#include "watch.h"

#include "../cache/test_kinds.h"

#define PODS   "v1/pods"
#define THINGS "example.com/v1/things"

/* ---- the server side: broker, hub, live objects ------------------------ */

typedef struct hist {
    int64_t rev;
    kr_watch_type_t type;
    const kr_kind_t *kind;
    char ns[16], name[32];
} hist_t;

typedef struct job {
    struct job *next;
    void (*fn)(void *arg);
    void *arg;
    bool done;
} job_t;

typedef struct world {
    char dir[64], sock[PATH_MAX];
    kr_broker_t *b;
    kr_watch_hub_t *hub;
    kr_objmap_t *pods, *things;
    int64_t rev;
    hist_t *hist; /* every published event, in order */
    size_t n_hist, cap_hist;
    uint64_t publish_ns; /* time spent in kr_watch_publish */
    int efd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *jobs;
    kr_arena_t *a; /* broker thread scratch */
} world_t;

static world_t W;

static void on_jobs(kr_broker_t *b, int fd, void *ud)
{
    (void)b;
    world_t *w = ud;
    uint64_t v;
    if (read(fd, &v, sizeof v) < 0)
        return;
    pthread_mutex_lock(&w->mu);
    job_t *jobs = w->jobs;
    w->jobs = NULL;
    pthread_mutex_unlock(&w->mu);
    /* oldest first */
    job_t *rev = NULL;
    while (jobs) {
        job_t *next = jobs->next;
        jobs->next = rev;
        rev = jobs;
        jobs = next;
    }
    for (job_t *j = rev, *next; j; j = next) {
        next = j->next;
        j->fn(j->arg);
        pthread_mutex_lock(&w->mu);
        j->done = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

/* Runs fn(arg) on the broker thread and waits for it. */
static void world_run(void (*fn)(void *), void *arg)
{
    job_t j = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&W.mu);
    j.next = W.jobs;
    W.jobs = &j;
    pthread_mutex_unlock(&W.mu);
    uint64_t one = 1;
    assert_int_equal(write(W.efd, &one, sizeof one), sizeof one);
    pthread_mutex_lock(&W.mu);
    while (!j.done)
        pthread_cond_wait(&W.cv, &W.mu);
    pthread_mutex_unlock(&W.mu);
}

static void on_tick(kr_broker_t *b, uint64_t now, void *ud)
{
    (void)b;
    world_t *w = ud;
    if (w->hub)
        kr_watch_tick(w->hub, now);
}

static const char *opt_str(const kr_value_t *opts, const char *key)
{
    return kr_value_map_str(opts, key);
}

static void op_watch(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    world_t *w = ud;
    kr_arena_t *a = w->a;
    kr_value_t *msg = NULL;
    kr_error_t err;
    assert_int_equal(kr_msgpack_decode(a, req->data, req->len, &msg, &err), 0);
    const kr_kind_t *kind =
        strcmp(kr_value_map_str(msg, "res"), PODS) == 0 ? &pod_kind : &thing_kind;
    const kr_value_t *opts = kr_value_map_get(msg, "opts");
    kr_watch_opts_t o = {.kind = kind, .ns = kr_value_map_str(msg, "ns")};
    const char *ls = opt_str(opts, "labelSelector"), *fs = opt_str(opts, "fieldSelector");
    if (ls && (o.labels = kr_labelsel_parse(ls, &err)) == NULL) {
        kr_broker_fail(b, req, err.reason, err.message);
        goto out;
    }
    if (fs && (o.fields = kr_fieldsel_parse(fs, &err)) == NULL) {
        kr_labelsel_destroy(&o.labels);
        kr_broker_fail(b, req, err.reason, err.message);
        goto out;
    }
    const char *rv = kr_value_map_str(msg, "rv");
    o.from_rev = rv ? strtoll(rv, NULL, 10) : 0;
    o.bookmarks = kr_value_as_bool(kr_value_map_get(opts, "allowWatchBookmarks"), false);
    o.initial_events_end = kr_value_as_bool(kr_value_map_get(opts, "sendInitialEvents"), false);
    const kr_objmap_t *live = kind == &pod_kind ? w->pods : w->things;
    if (kr_watch_open(w->hub, req, &o, live, w->rev, &err) < 0)
        kr_broker_fail(b, req, err.reason, err.message);
    assert_null(o.labels); /* taken in every case */
    assert_null(o.fields);
out:
    kr_arena_reset(a);
}

static void world_start(size_t window, uint64_t bookmark_ms, size_t watch_backlog)
{
    memset(&W, 0, sizeof W);
    snprintf(W.dir, sizeof W.dir, "/tmp/kraal-watch-test-XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    snprintf(W.sock, sizeof W.sock, "%s/bus.sock", W.dir);
    kr_broker_opts_t bo = {.ipc_path = W.sock, .watch_backlog = watch_backlog};
    kr_error_t err;
    W.b = kr_broker_new(&bo, &err);
    assert_non_null(W.b);
    W.hub = kr_watch_hub_new(W.b, window, bookmark_ms, 0);
    W.pods = kr_objmap_new();
    W.things = kr_objmap_new();
    W.a = kr_arena_new(0);
    W.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(W.efd >= 0);
    pthread_mutex_init(&W.mu, NULL);
    pthread_cond_init(&W.cv, NULL);
    assert_int_equal(kr_broker_handle(W.b, "watch", NULL, op_watch, &W, &err), 0);
    assert_int_equal(kr_broker_add_fd(W.b, W.efd, on_jobs, &W, &err), 0);
    assert_int_equal(kr_broker_add_tick(W.b, 2, on_tick, &W, &err), 0);
    assert_int_equal(kr_broker_start(W.b, &err), 0);
}

static void destroy_hub(void *arg)
{
    (void)arg;
    kr_watch_hub_destroy(&W.hub);
}

static void world_stop(void)
{
    world_run(destroy_hub, NULL);
    kr_broker_destroy(&W.b);
    kr_objmap_destroy(&W.pods);
    kr_objmap_destroy(&W.things);
    kr_arena_destroy(&W.a);
    free(W.hist);
    close(W.efd);
    pthread_mutex_destroy(&W.mu);
    pthread_cond_destroy(&W.cv);
    rmdir(W.dir);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void record(kr_watch_type_t type, const kr_objrec_t *rec)
{
    if (W.n_hist == W.cap_hist) {
        W.cap_hist = W.cap_hist ? W.cap_hist * 2 : 1024;
        W.hist = realloc(W.hist, W.cap_hist * sizeof *W.hist);
    }
    hist_t *h = &W.hist[W.n_hist++];
    h->rev = rec->rev;
    h->type = type;
    h->kind = rec->kind;
    snprintf(h->ns, sizeof h->ns, "%s", rec->ns);
    snprintf(h->name, sizeof h->name, "%s", rec->name);
}

static void publish(kr_watch_type_t type, kr_objrec_t *rec, kr_objrec_t *prev)
{
    record(type, rec);
    uint64_t t0 = now_ns();
    kr_watch_publish(W.hub, type, rec, prev);
    W.publish_ns += now_ns() - t0;
    kr_watch_progress(W.hub, rec->rev);
}

/* Creates or updates an object (broker thread).  labels: "k=v,k2=v2". */
static void put(const kr_kind_t *kind, const char *ns, const char *name, const char *labels,
                const char *node, size_t pad)
{
    kr_arena_t *a = W.a;
    int64_t rev = ++W.rev;
    kr_value_t *obj = kr_value_map(a), *meta = kr_value_map(a), *spec = kr_value_map(a);
    kr_value_map_set(a, obj, "apiVersion", kr_value_str(a, kind->api_version));
    kr_value_map_set(a, obj, "kind", kr_value_str(a, kind->kind));
    kr_value_map_set(a, meta, "name", kr_value_str(a, name));
    kr_value_map_set(a, meta, "namespace", kr_value_str(a, ns));
    kr_value_map_set(a, meta, "resourceVersion",
                     kr_value_str(a, kr_arena_printf(a, "%" PRId64, rev)));
    if (labels && *labels) {
        kr_value_t *l = kr_value_map(a);
        char *dup = kr_arena_strdup(a, labels), *save = NULL;
        for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            *eq = '\0';
            kr_value_map_set(a, l, tok, kr_value_str(a, eq + 1));
        }
        kr_value_map_set(a, meta, "labels", l);
    }
    kr_value_map_set(a, obj, "metadata", meta);
    if (node)
        kr_value_map_set(a, spec, "nodeName", kr_value_str(a, node));
    if (pad) {
        char *p = kr_arena_alloc(a, pad + 1);
        memset(p, 'x', pad);
        p[pad] = '\0';
        kr_value_map_set(a, spec, "pad", kr_value_str(a, p));
    }
    kr_value_map_set(a, obj, "spec", spec);
    kr_error_t err;
    kr_objrec_t *rec = kr_objrec_new(kind, obj, rev, rev, &err);
    assert_non_null(rec);
    kr_objmap_t *live = kind == &pod_kind ? W.pods : W.things;
    kr_objrec_t *prev = kr_objrec_ref(kr_objmap_get(live, ns, name));
    kr_objmap_put(live, kr_objrec_ref(rec));
    publish(prev ? KR_WATCH_MODIFIED : KR_WATCH_ADDED, rec, prev);
    kr_objrec_unref(&prev);
    kr_objrec_unref(&rec);
    kr_arena_reset(a);
}

/* Deletes an object (broker thread): the final state carries the delete's
 * revision, as the API publishes it. */
static void del(const kr_kind_t *kind, const char *ns, const char *name)
{
    kr_objmap_t *live = kind == &pod_kind ? W.pods : W.things;
    kr_objrec_t *prev = kr_objmap_remove(live, ns, name);
    assert_non_null(prev);
    int64_t rev = ++W.rev;
    kr_value_t *obj = kr_objrec_decode(prev, W.a);
    kr_value_map_set(W.a, kr_value_map_get(obj, "metadata"), "resourceVersion",
                     kr_value_str(W.a, kr_arena_printf(W.a, "%" PRId64, rev)));
    kr_objrec_t *fin = kr_objrec_new(kind, obj, rev, prev->create_rev, NULL);
    assert_non_null(fin);
    publish(KR_WATCH_DELETED, fin, prev);
    kr_objrec_unref(&fin);
    kr_objrec_unref(&prev);
    kr_arena_reset(W.a);
}

/* ---- broker-thread closures ------------------------------------------ */

typedef struct create_many {
    const char *ns, *prefix;
    int n;
    size_t pad;
} create_many_t;

static void do_create_many(void *arg)
{
    create_many_t *c = arg;
    char name[32];
    for (int i = 0; i < c->n; i++) {
        snprintf(name, sizeof name, "%s-%05d", c->prefix, i);
        put(&pod_kind, c->ns, name, "app=web", NULL, c->pad);
    }
}

static void create_many(const char *ns, const char *prefix, int n, size_t pad)
{
    create_many_t c = {ns, prefix, n, pad};
    world_run(do_create_many, &c);
}

static void do_stats(void *arg)
{
    kr_watch_stats(W.hub, arg);
}

static kr_watch_stats_t stats(void)
{
    kr_watch_stats_t s;
    world_run(do_stats, &s);
    return s;
}

static void do_read_rev(void *arg)
{
    *(int64_t *)arg = W.rev;
}

static int64_t current_rev(void)
{
    int64_t r;
    world_run(do_read_rev, &r);
    return r;
}

/* ---- the client side ----------------------------------------------------- */

typedef struct ev {
    char type[12];
    char kind[16], ns[16], name[32], app[16], node[16];
    int64_t rv;
    bool init_end;
    char reason[32];
    char message[256];
    int code;
} ev_t;

typedef struct evlog {
    ev_t *ev;
    size_t n, cap;
    size_t errors;
    uint64_t id;
} evlog_t;

static void copy_str(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s ? s : "");
}

static void on_event(kr_bus_t *bus, uint64_t id, const kr_event_t *e, void *ud)
{
    (void)bus;
    (void)id;
    evlog_t *l = ud;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->ev = realloc(l->ev, l->cap * sizeof *l->ev);
    }
    ev_t *ev = &l->ev[l->n++];
    memset(ev, 0, sizeof *ev);
    copy_str(ev->type, sizeof ev->type, e->type);
    if (strcmp(e->type, "ERROR") == 0) {
        l->errors++;
        copy_str(ev->reason, sizeof ev->reason, kr_value_map_str(e->obj, "reason"));
        copy_str(ev->message, sizeof ev->message, kr_value_map_str(e->obj, "message"));
        ev->code = (int)kr_value_map_int(e->obj, "code", 0);
        return;
    }
    const kr_value_t *meta = kr_value_map_get(e->obj, "metadata");
    copy_str(ev->kind, sizeof ev->kind, kr_value_map_str(e->obj, "kind"));
    copy_str(ev->ns, sizeof ev->ns, kr_value_map_str(meta, "namespace"));
    copy_str(ev->name, sizeof ev->name, kr_value_map_str(meta, "name"));
    copy_str(ev->app, sizeof ev->app, kr_value_as_str(kr_value_get(meta, "labels.app")));
    copy_str(ev->node, sizeof ev->node, kr_value_as_str(kr_value_get(e->obj, "spec.nodeName")));
    const char *rv = kr_value_map_str(meta, "resourceVersion");
    ev->rv = rv ? strtoll(rv, NULL, 10) : -1;
    ev->init_end =
        kr_value_as_str(kr_value_get(meta, "annotations[\"k8s.io/initial-events-end\"]")) != NULL;
}

static kr_bus_t *client(void)
{
    kr_error_t err;
    kr_bus_t *bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    assert_non_null(bus);
    return bus;
}

typedef struct wopts {
    const char *res, *ns, *rv, *labels, *fields;
    bool bookmarks, initial_events;
} wopts_t;

static void watch(kr_bus_t *bus, evlog_t *log, wopts_t o)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *opts = kr_value_map(a);
    if (o.labels)
        kr_value_map_set(a, opts, "labelSelector", kr_value_str(a, o.labels));
    if (o.fields)
        kr_value_map_set(a, opts, "fieldSelector", kr_value_str(a, o.fields));
    if (o.bookmarks)
        kr_value_map_set(a, opts, "allowWatchBookmarks", kr_value_bool(a, true));
    if (o.initial_events)
        kr_value_map_set(a, opts, "sendInitialEvents", kr_value_bool(a, true));
    kr_request_t req = {.res = o.res ? o.res : PODS, .ns = o.ns, .rv = o.rv, .opts = opts};
    kr_error_t err;
    assert_int_equal(kr_bus_watch(bus, &req, on_event, log, &log->id, &err), 0);
    kr_arena_destroy(&a);
}

/* Dispatches until log holds n events (or an ERROR), at most timeout_ms. */
static void pump(kr_bus_t *bus, evlog_t *log, size_t n, int timeout_ms)
{
    uint64_t end = kr_time_ms() + (uint64_t)timeout_ms;
    while (log->n < n && log->errors == 0 && kr_time_ms() < end)
        kr_bus_dispatch(bus, 5, NULL);
}

/* Dispatches for a while, whatever arrives. */
static void pump_for(kr_bus_t *bus, int ms)
{
    uint64_t end = kr_time_ms() + (uint64_t)ms;
    while (kr_time_ms() < end)
        kr_bus_dispatch(bus, 5, NULL);
}

/* Waits (on the broker's view) until the hub counts `watchers` watchers,
 * none catching up. */
static void wait_watchers(size_t watchers)
{
    kr_watch_stats_t s = {0};
    for (int i = 0; i < 1000; i++) {
        s = stats();
        if (s.watchers == watchers && s.catching_up == 0)
            return;
        usleep(2000);
    }
    fail_msg("hub has %zu watchers (%zu catching up), want %zu", s.watchers, s.catching_up,
             watchers);
}

static void log_free(evlog_t *l)
{
    free(l->ev);
    memset(l, 0, sizeof *l);
}

static void assert_ev(const ev_t *ev, const char *type, const char *name, int64_t rv)
{
    if (strcmp(ev->type, type) != 0 || strcmp(ev->name, name) != 0 || ev->rv != rv)
        fail_msg("event %s %s rv=%" PRId64 " (%s), want %s %s rv=%" PRId64, ev->type, ev->name,
                 ev->rv, ev->message, type, name, rv);
}

/* The events of `log` from index `from` are exactly the history entries of
 * `kind` with rev > after, in order. */
static void assert_history_after(const evlog_t *log, size_t from, const kr_kind_t *kind,
                                 int64_t after)
{
    size_t k = from;
    for (size_t i = 0; i < W.n_hist; i++) {
        const hist_t *h = &W.hist[i];
        if (h->kind != kind || h->rev <= after)
            continue;
        if (k >= log->n)
            fail_msg("missing event rev %" PRId64 " (got %zu events)", h->rev, log->n - from);
        assert_ev(&log->ev[k++], kr_watch_type_name(h->type), h->name, h->rev);
    }
    assert_int_equal(k, log->n);
}

/* ---- tests ------------------------------------------------------------- */

static void test_replay_from_revision(void **state)
{
    (void)state;
    world_start(0, 0, 0);
    create_many("default", "p", 10, 0);
    world_run(do_create_many, &(create_many_t){"default", "p", 3, 0}); /* MODIFIED 11..13 */
    kr_bus_t *bus = client();
    evlog_t log = {0};
    watch(bus, &log, (wopts_t){.rv = "7"});
    pump(bus, &log, 6, 5000);
    assert_int_equal(log.n, 6);
    assert_ev(&log.ev[0], "ADDED", "p-00007", 8);
    assert_ev(&log.ev[2], "ADDED", "p-00009", 10);
    assert_ev(&log.ev[3], "MODIFIED", "p-00000", 11);
    assert_ev(&log.ev[5], "MODIFIED", "p-00002", 13);
    assert_string_equal(log.ev[0].kind, "Pod");
    /* then live */
    world_run(do_create_many, &(create_many_t){"default", "q", 2, 0});
    pump(bus, &log, 8, 5000);
    assert_history_after(&log, 0, &pod_kind, 7);

    /* a watch at the current revision sees only what comes next; one from
     * a future revision skips what comes before it */
    evlog_t now = {0}, future = {0};
    watch(bus, &now, (wopts_t){.rv = "15"});
    watch(bus, &future, (wopts_t){.rv = "17"});
    wait_watchers(3);
    world_run(do_create_many, &(create_many_t){"default", "r", 3, 0}); /* 16..18 */
    pump(bus, &now, 3, 5000);
    pump(bus, &future, 1, 5000);
    pump_for(bus, 50);
    assert_history_after(&now, 0, &pod_kind, 15);
    assert_history_after(&future, 0, &pod_kind, 17);
    assert_int_equal(future.n, 1);
    assert_int_equal(log.errors + now.errors + future.errors, 0);
    kr_bus_destroy(&bus);
    log_free(&log);
    log_free(&now);
    log_free(&future);
    world_stop();
}

static void do_oldest(void *arg)
{
    *(int64_t *)arg = kr_watch_oldest(W.hub, &pod_kind);
}

static void test_expired_revision(void **state)
{
    (void)state;
    world_start(8, 0, 0);
    int64_t oldest;
    world_run(do_oldest, &oldest);
    assert_int_equal(oldest, 0); /* nothing left the window yet */
    create_many("default", "p", 20, 0);
    world_run(do_oldest, &oldest);
    assert_int_equal(oldest, 12); /* events 13..20 are kept */

    kr_bus_t *bus = client();
    evlog_t old = {0}, edge = {0};
    watch(bus, &old, (wopts_t){.rv = "3"});
    pump(bus, &old, 1, 5000);
    assert_int_equal(old.n, 1);
    assert_string_equal(old.ev[0].type, "ERROR");
    assert_string_equal(old.ev[0].reason, "Expired");
    assert_int_equal(old.ev[0].code, 410);
    assert_string_equal(old.ev[0].message, "too old resource version: 3 (12)");

    /* the oldest revision itself still replays */
    watch(bus, &edge, (wopts_t){.rv = "12"});
    pump(bus, &edge, 8, 5000);
    assert_history_after(&edge, 0, &pod_kind, 12);

    /* another kind has its own window: still complete from 0 */
    evlog_t things = {0};
    watch(bus, &things, (wopts_t){.res = THINGS, .rv = "1"});
    wait_watchers(2);
    kr_bus_destroy(&bus);
    log_free(&old);
    log_free(&edge);
    log_free(&things);
    world_stop();
}

/* A publisher thread changes objects while a slow client reads a 20,000
 * object snapshot. */
typedef struct churn {
    int ops;
    atomic_int done;
} churn_t;

static void do_churn_one(void *arg)
{
    int i = *(int *)arg;
    char name[32];
    switch (i % 4) {
    case 0:
    case 1: /* modify an object of the snapshot */
        snprintf(name, sizeof name, "p-%05d", (i * 7919) % 20000);
        put(&pod_kind, "default", name, "app=web", "n1", 0);
        break;
    case 2: /* create */
        snprintf(name, sizeof name, "new-%05d", i);
        put(&pod_kind, "default", name, "app=web", NULL, 0);
        break;
    case 3: /* delete one of the snapshot that is still there */
        snprintf(name, sizeof name, "p-%05d", (i * 104729) % 20000);
        if (kr_objmap_get(W.pods, "default", name))
            del(&pod_kind, "default", name);
        break;
    }
}

static void *churn_main(void *arg)
{
    churn_t *c = arg;
    for (int i = 0; i < c->ops; i++) {
        world_run(do_churn_one, &i);
        usleep(100);
    }
    atomic_store(&c->done, 1);
    return NULL;
}

static int hist_cmp_name(const void *pa, const void *pb)
{
    const hist_t *a = pa, *b = pb;
    return strcmp(a->name, b->name);
}

static void test_snapshot_then_live(void **state)
{
    (void)state;
    world_start(0, 0, 0);
    create_many("default", "p", 20000, 64);
    kr_bus_t *bus = client();
    evlog_t log = {0};
    watch(bus, &log, (wopts_t){.bookmarks = true, .initial_events = true});
    churn_t c = {.ops = 3000};
    pthread_t th;
    pthread_create(&th, NULL, churn_main, &c);
    /* a slow reader: 200 events, then a pause */
    size_t seen = 0, scanned = 0;
    int64_t rev_at_end = 0; /* the revision when the snapshot's end arrived */
    /* until the churn is over and the snapshot's end has arrived (on a
     * loaded machine the churn may finish first) */
    uint64_t deadline = kr_time_ms() + 60000;
    while ((!atomic_load(&c.done) || rev_at_end == 0) && log.errors == 0 &&
           kr_time_ms() < deadline) {
        kr_bus_dispatch(bus, 5, NULL);
        for (; scanned < log.n && rev_at_end == 0; scanned++)
            if (strcmp(log.ev[scanned].type, "BOOKMARK") == 0)
                rev_at_end = current_rev();
        if (log.n - seen >= 200) {
            seen = log.n;
            usleep(1000);
        }
    }
    pthread_join(th, NULL);
    int64_t last = current_rev();
    uint64_t end = kr_time_ms() + 20000;
    while ((log.n == 0 || log.ev[log.n - 1].rv != last) && log.errors == 0 && kr_time_ms() < end)
        kr_bus_dispatch(bus, 5, NULL);
    assert_int_equal(log.errors, 0);

    /* ADDED for the snapshot, one bookmark, then every event after it */
    size_t k = 0;
    while (k < log.n && strcmp(log.ev[k].type, "BOOKMARK") != 0)
        k++;
    assert_true(k < log.n);
    assert_true(log.ev[k].init_end);
    int64_t snap_rev = log.ev[k].rv;
    assert_true(snap_rev >= 20000);
    /* events were published while the snapshot was being sent (how many
     * depends on the machine's load) */
    assert_true(rev_at_end > snap_rev);

    /* the snapshot: the state at snap_rev, each object once */
    hist_t *state_at = calloc(W.n_hist, sizeof *state_at);
    size_t n_state = 0;
    for (size_t i = 0; i < W.n_hist && W.hist[i].rev <= snap_rev; i++)
        state_at[n_state++] = W.hist[i];
    qsort(state_at, n_state, sizeof *state_at, hist_cmp_name); /* stable enough: see below */
    /* keep the last version of each name; drop deleted ones */
    hist_t *want = calloc(n_state, sizeof *want);
    size_t n_want = 0;
    for (size_t i = 0; i < n_state;) {
        size_t j = i;
        hist_t best = state_at[i];
        for (; j < n_state && strcmp(state_at[j].name, state_at[i].name) == 0; j++)
            if (state_at[j].rev > best.rev)
                best = state_at[j];
        if (best.type != KR_WATCH_DELETED)
            want[n_want++] = best;
        i = j;
    }
    assert_int_equal(k, n_want);
    hist_t *got = calloc(k, sizeof *got);
    for (size_t i = 0; i < k; i++) {
        assert_string_equal(log.ev[i].type, "ADDED");
        copy_str(got[i].name, sizeof got[i].name, log.ev[i].name);
        got[i].rev = log.ev[i].rv;
    }
    qsort(got, k, sizeof *got, hist_cmp_name);
    for (size_t i = 0; i < k; i++) {
        assert_string_equal(got[i].name, want[i].name);
        assert_int_equal(got[i].rev, want[i].rev);
    }
    /* after the bookmark: exactly the events after snap_rev, in order */
    evlog_t tail = {.ev = log.ev + k + 1, .n = log.n - k - 1};
    assert_history_after(&tail, 0, &pod_kind, snap_rev);
    print_message("snapshot of %zu objects, then %zu events live\n", k, tail.n);
    free(state_at);
    free(want);
    free(got);
    kr_bus_destroy(&bus);
    log_free(&log);
    world_stop();
}

/* Label and field changes: ADDED/MODIFIED/DELETED as in the cacher.  Rev 1
 * is an unrelated object, so that a replay from rev 1 sees them all. */
static void do_transitions(void *arg)
{
    (void)arg;
    put(&pod_kind, "zzz", "warm", NULL, NULL, 0);           /* 1: - */
    put(&pod_kind, "default", "x", "app=web", NULL, 0);     /* 2: ADDED x */
    put(&pod_kind, "default", "y", "app=db", NULL, 0);      /* 3: - */
    put(&pod_kind, "default", "x", "app=db", NULL, 0);      /* 4: DELETED x (app=web) */
    put(&pod_kind, "default", "x", "app=web", NULL, 0);     /* 5: ADDED x */
    put(&pod_kind, "default", "x", "app=web,v=2", "n1", 0); /* 6: MODIFIED x; field: ADDED */
    del(&pod_kind, "default", "x");                         /* 7: DELETED x */
    put(&pod_kind, "default", "y", "app=web", NULL, 0);     /* 8: ADDED y */
    put(&pod_kind, "default", "z", "app=db", "n1", 0);      /* 9: field: ADDED z */
    put(&pod_kind, "default", "z", "app=db", "n2", 0);      /* 10: field: DELETED z (n1) */
    del(&pod_kind, "default", "y");                         /* 11: DELETED y */
    put(&pod_kind, "other", "w", "app=web", "n1", 0);       /* 12: field: ADDED w */
}

static void assert_label_sequence(const evlog_t *l)
{
    assert_int_equal(l->n, 7);
    assert_ev(&l->ev[0], "ADDED", "x", 2);
    /* stopped matching: the previous object at the event's revision */
    assert_ev(&l->ev[1], "DELETED", "x", 4);
    assert_string_equal(l->ev[1].app, "web");
    assert_ev(&l->ev[2], "ADDED", "x", 5);
    assert_ev(&l->ev[3], "MODIFIED", "x", 6);
    assert_ev(&l->ev[4], "DELETED", "x", 7);
    assert_ev(&l->ev[5], "ADDED", "y", 8);
    assert_ev(&l->ev[6], "DELETED", "y", 11);
}

static void assert_field_sequence(const evlog_t *l)
{
    assert_int_equal(l->n, 5);
    assert_ev(&l->ev[0], "ADDED", "x", 6);
    assert_ev(&l->ev[1], "DELETED", "x", 7);
    assert_ev(&l->ev[2], "ADDED", "z", 9);
    assert_ev(&l->ev[3], "DELETED", "z", 10);
    assert_string_equal(l->ev[3].node, "n1");
    assert_ev(&l->ev[4], "ADDED", "w", 12);
}

static void test_selector_transitions(void **state)
{
    (void)state;
    world_start(0, 0, 0);
    kr_bus_t *bus = client();
    evlog_t labels = {0}, fields = {0}, both = {0};
    watch(bus, &labels, (wopts_t){.ns = "default", .labels = "app=web"});
    watch(bus, &fields, (wopts_t){.fields = "spec.nodeName=n1"});
    watch(bus, &both, (wopts_t){.labels = "app in (web)", .fields = "spec.nodeName=n1"});
    /* watchers indexed by node (n2, and pods on no node) and one that is
     * not (!=): each sees exactly its transitions */
    evlog_t n2 = {0}, none = {0}, not_n1 = {0};
    watch(bus, &n2, (wopts_t){.fields = "spec.nodeName=n2"});
    watch(bus, &none, (wopts_t){.fields = "spec.nodeName="});
    watch(bus, &not_n1, (wopts_t){.ns = "default", .fields = "spec.nodeName!=n1"});
    wait_watchers(6);
    world_run(do_transitions, NULL);
    pump(bus, &labels, 7, 5000);
    pump(bus, &fields, 5, 5000);
    pump(bus, &both, 3, 5000);
    pump(bus, &n2, 1, 5000);
    pump(bus, &none, 8, 5000);
    pump(bus, &not_n1, 8, 5000);
    pump_for(bus, 30);
    assert_label_sequence(&labels);
    assert_field_sequence(&fields);
    assert_int_equal(n2.n, 1);
    assert_ev(&n2.ev[0], "ADDED", "z", 10);
    assert_int_equal(none.n, 8);
    assert_ev(&none.ev[0], "ADDED", "warm", 1);
    assert_ev(&none.ev[1], "ADDED", "x", 2);
    assert_ev(&none.ev[2], "ADDED", "y", 3);
    assert_ev(&none.ev[3], "MODIFIED", "x", 4);
    assert_ev(&none.ev[4], "MODIFIED", "x", 5);
    assert_ev(&none.ev[5], "DELETED", "x", 6); /* bound to n1: left the selection */
    assert_ev(&none.ev[6], "MODIFIED", "y", 8);
    assert_ev(&none.ev[7], "DELETED", "y", 11);
    assert_int_equal(not_n1.n, 8);
    assert_ev(&not_n1.ev[4], "DELETED", "x", 6);
    assert_ev(&not_n1.ev[5], "MODIFIED", "y", 8);
    assert_ev(&not_n1.ev[6], "ADDED", "z", 10); /* moved off n1 */
    assert_ev(&not_n1.ev[7], "DELETED", "y", 11);
    assert_int_equal(both.n, 3);
    assert_ev(&both.ev[0], "ADDED", "x", 6);
    assert_ev(&both.ev[1], "DELETED", "x", 7);
    assert_ev(&both.ev[2], "ADDED", "w", 12);

    /* replayed from the window: the same transitions */
    evlog_t rl = {0}, rf = {0}, snap = {0};
    watch(bus, &rl, (wopts_t){.ns = "default", .rv = "1", .labels = "app=web"});
    watch(bus, &rf, (wopts_t){.rv = "1", .fields = "spec.nodeName=n1"});
    /* a snapshot holds only what matches now */
    watch(bus, &snap, (wopts_t){.fields = "spec.nodeName=n1"});
    pump(bus, &rl, 7, 5000);
    pump(bus, &rf, 5, 5000);
    pump(bus, &snap, 1, 5000);
    pump_for(bus, 30);
    assert_label_sequence(&rl);
    assert_field_sequence(&rf);
    assert_int_equal(snap.n, 1);
    assert_ev(&snap.ev[0], "ADDED", "w", 12);
    kr_bus_destroy(&bus);
    log_free(&n2);
    log_free(&none);
    log_free(&not_n1);
    log_free(&rl);
    log_free(&rf);
    log_free(&snap);
    log_free(&labels);
    log_free(&fields);
    log_free(&both);
    world_stop();
}

static void do_namespaces(void *arg)
{
    (void)arg;
    put(&pod_kind, "a", "p1", NULL, NULL, 0);   /* 1 */
    put(&pod_kind, "b", "p1", NULL, NULL, 0);   /* 2 */
    put(&pod_kind, "ab", "p1", NULL, NULL, 0);  /* 3 */
    put(&pod_kind, "a", "p2", NULL, NULL, 0);   /* 4 */
    put(&thing_kind, "a", "t1", NULL, NULL, 0); /* 5: another kind */
}

static void do_namespaces_more(void *arg)
{
    (void)arg;
    put(&pod_kind, "b", "p2", NULL, NULL, 0);   /* 6 */
    put(&pod_kind, "a", "p3", NULL, NULL, 0);   /* 7 */
    del(&pod_kind, "a", "p1");                  /* 8 */
    put(&thing_kind, "a", "t2", NULL, NULL, 0); /* 9 */
}

static void test_namespace_filter(void **state)
{
    (void)state;
    world_start(0, 0, 0);
    world_run(do_namespaces, NULL);
    kr_bus_t *bus = client();
    evlog_t a = {0}, all = {0}, things = {0};
    watch(bus, &a, (wopts_t){.ns = "a"});
    watch(bus, &all, (wopts_t){0});
    watch(bus, &things, (wopts_t){.res = THINGS, .ns = "a"});
    pump(bus, &a, 2, 5000);
    pump(bus, &all, 4, 5000);
    pump(bus, &things, 1, 5000);
    wait_watchers(3);
    world_run(do_namespaces_more, NULL);
    pump(bus, &a, 4, 5000);
    pump(bus, &all, 7, 5000);
    pump(bus, &things, 2, 5000);
    pump_for(bus, 30);
    /* the snapshot in (namespace, name) order, then the live events */
    assert_int_equal(a.n, 4);
    assert_ev(&a.ev[0], "ADDED", "p1", 1);
    assert_ev(&a.ev[1], "ADDED", "p2", 4);
    assert_ev(&a.ev[2], "ADDED", "p3", 7);
    assert_ev(&a.ev[3], "DELETED", "p1", 8);
    for (size_t i = 0; i < a.n; i++)
        assert_string_equal(a.ev[i].ns, "a");
    assert_int_equal(all.n, 7);
    assert_string_equal(all.ev[2].ns, "ab");
    assert_string_equal(all.ev[3].ns, "b");
    assert_int_equal(things.n, 2);
    assert_ev(&things.ev[0], "ADDED", "t1", 5);
    assert_ev(&things.ev[1], "ADDED", "t2", 9);
    assert_string_equal(things.ev[0].kind, "Thing");
    kr_bus_destroy(&bus);
    log_free(&a);
    log_free(&all);
    log_free(&things);
    world_stop();
}

typedef struct progress_arg {
    int64_t rev;
} progress_arg_t;

static void do_progress(void *arg)
{
    progress_arg_t *p = arg;
    kr_watch_progress(W.hub, p->rev);
}

static size_t count_type(const evlog_t *l, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += strcmp(l->ev[i].type, type) == 0;
    return n;
}

static void test_bookmarks(void **state)
{
    (void)state;
    world_start(0, 30, 0);
    create_many("default", "p", 3, 0);
    kr_bus_t *bus = client();
    evlog_t bm = {0}, plain = {0}, init = {0}, init_rv = {0};
    watch(bus, &bm, (wopts_t){.rv = "3", .bookmarks = true});
    watch(bus, &plain, (wopts_t){.rv = "3"});
    watch(bus, &init, (wopts_t){.bookmarks = true, .initial_events = true});
    /* sendInitialEvents from a revision: no initial events, the end at once */
    watch(bus, &init_rv, (wopts_t){.rv = "2", .bookmarks = true, .initial_events = true});
    wait_watchers(4);
    create_many("other", "q", 2, 0);                     /* 4, 5 */
    world_run(do_progress, &(progress_arg_t){.rev = 9}); /* the store moved on */
    pump_for(bus, 200);

    assert_int_equal(plain.n, 2);
    assert_int_equal(count_type(&plain, "BOOKMARK"), 0);

    /* periodic bookmarks carry the progress revision and the kind */
    assert_true(count_type(&bm, "BOOKMARK") >= 3);
    assert_ev(&bm.ev[0], "ADDED", "q-00000", 4);
    assert_ev(&bm.ev[1], "ADDED", "q-00001", 5);
    for (size_t i = 2; i < bm.n; i++) {
        assert_string_equal(bm.ev[i].type, "BOOKMARK");
        assert_int_equal(bm.ev[i].rv, 9);
        assert_string_equal(bm.ev[i].kind, "Pod");
        assert_false(bm.ev[i].init_end);
    }

    /* snapshot, the initial-events-end bookmark at its revision, then live */
    assert_true(init.n >= 7);
    assert_ev(&init.ev[0], "ADDED", "p-00000", 1);
    assert_ev(&init.ev[2], "ADDED", "p-00002", 3);
    assert_string_equal(init.ev[3].type, "BOOKMARK");
    assert_true(init.ev[3].init_end);
    assert_int_equal(init.ev[3].rv, 3);
    assert_ev(&init.ev[4], "ADDED", "q-00000", 4);
    assert_ev(&init.ev[5], "ADDED", "q-00001", 5);
    assert_string_equal(init.ev[6].type, "BOOKMARK");
    assert_false(init.ev[6].init_end);

    assert_string_equal(init_rv.ev[0].type, "BOOKMARK");
    assert_true(init_rv.ev[0].init_end);
    assert_int_equal(init_rv.ev[0].rv, 2);
    assert_ev(&init_rv.ev[1], "ADDED", "p-00002", 3);
    kr_bus_destroy(&bus);
    log_free(&bm);
    log_free(&plain);
    log_free(&init);
    log_free(&init_rv);
    world_stop();
}

/* 100 watchers on 4 connections, 2,000 events in batches: each watcher
 * gets every event once, in order. */
typedef struct batch {
    int from, n;
} batch_t;

static void do_batch(void *arg)
{
    batch_t *b = arg;
    char name[32];
    for (int i = b->from; i < b->from + b->n; i++) {
        snprintf(name, sizeof name, "p-%04d", i % 700);
        if (i % 10 == 9 && kr_objmap_get(W.pods, "default", name))
            del(&pod_kind, "default", name);
        else
            put(&pod_kind, "default", name, "app=web", NULL, 200);
    }
}

static void test_hundred_watchers(void **state)
{
    (void)state;
    enum { CONNS = 4, PER = 25, EVENTS = 2000, BATCH = 100 };
    world_start(0, 0, 0);
    kr_bus_t *bus[CONNS];
    evlog_t *logs = calloc(CONNS * PER, sizeof *logs);
    for (int c = 0; c < CONNS; c++) {
        bus[c] = client();
        for (int i = 0; i < PER; i++)
            watch(bus[c], &logs[c * PER + i], (wopts_t){0});
    }
    wait_watchers(CONNS * PER);
    uint64_t publish_ns = 0;
    for (int from = 0; from < EVENTS; from += BATCH) {
        uint64_t before = W.publish_ns;
        world_run(do_batch, &(batch_t){from, BATCH});
        publish_ns += W.publish_ns - before;
        uint64_t end = kr_time_ms() + 10000;
        for (;;) {
            bool all = true;
            for (int c = 0; c < CONNS; c++) {
                kr_bus_dispatch(bus[c], 0, NULL);
                for (int i = 0; i < PER; i++)
                    all = all && logs[c * PER + i].n >= (size_t)(from + BATCH);
            }
            if (all || kr_time_ms() > end)
                break;
            kr_bus_dispatch(bus[0], 1, NULL);
        }
    }
    for (int c = 0; c < CONNS; c++)
        pump_for(bus[c], 10);
    for (int i = 0; i < CONNS * PER; i++) {
        assert_int_equal(logs[i].errors, 0);
        assert_history_after(&logs[i], 0, &pod_kind, 0);
    }
    kr_watch_stats_t s = stats();
    assert_int_equal(s.events_published, EVENTS);
    assert_int_equal(s.events_sent, EVENTS * CONNS * PER);
    print_message("publish with %d watchers: %.1f us per event (%.2f us per delivery)\n",
                  CONNS * PER, (double)publish_ns / EVENTS / 1000.0,
                  (double)publish_ns / EVENTS / (CONNS * PER) / 1000.0);
    for (int c = 0; c < CONNS; c++)
        kr_bus_destroy(&bus[c]);
    for (int i = 0; i < CONNS * PER; i++)
        log_free(&logs[i]);
    free(logs);
    world_stop();
}

static void test_cancel(void **state)
{
    (void)state;
    world_start(0, 0, 0);
    kr_bus_t *a = client(), *b = client();
    evlog_t la = {0}, lb = {0}, lb2 = {0};
    watch(a, &la, (wopts_t){0});
    watch(b, &lb, (wopts_t){0});
    watch(b, &lb2, (wopts_t){.ns = "x"});
    wait_watchers(3);
    create_many("default", "p", 1, 0);
    pump(a, &la, 1, 5000);
    pump(b, &lb, 1, 5000);

    /* unwatch */
    kr_error_t err;
    assert_int_equal(kr_bus_unwatch(a, la.id, &err), 0);
    pump_for(a, 20);
    wait_watchers(2);
    /* the client going away */
    kr_bus_destroy(&b);
    wait_watchers(0);
    kr_watch_stats_t s = stats();
    create_many("default", "q", 5, 0);
    kr_watch_stats_t s2 = stats();
    assert_int_equal(s2.events_sent, s.events_sent); /* nobody left to send to */
    assert_int_equal(s2.events_published, s.events_published + 5);
    assert_int_equal(la.errors, 0);
    kr_bus_destroy(&a);
    log_free(&la);
    log_free(&lb);
    log_free(&lb2);
    world_stop();
}

/* A live watcher that stops reading is expired by the broker: it gets
 * what fitted in its queue, in order, then ERROR/Expired. */
static void test_lagging_watcher(void **state)
{
    (void)state;
    world_start(0, 0, 64);
    kr_bus_t *slow = client(), *fast = client();
    evlog_t ls = {0}, lf = {0};
    watch(slow, &ls, (wopts_t){0});
    watch(fast, &lf, (wopts_t){.ns = "other"});
    wait_watchers(2);
    create_many("default", "p", 5000, 512);
    kr_watch_stats_t s = stats();
    assert_int_equal(s.watchers, 1); /* the slow one is gone */
    assert_int_equal(s.expired, 1);
    pump(slow, &ls, 6000, 10000);
    assert_int_equal(ls.errors, 1);
    const ev_t *last = &ls.ev[ls.n - 1];
    assert_string_equal(last->type, "ERROR");
    assert_string_equal(last->reason, "Expired");
    assert_int_equal(last->code, 410);
    /* before the error: a prefix of the history, no gap */
    assert_true(ls.n > 1 && ls.n < 5001);
    for (size_t i = 0; i + 1 < ls.n; i++)
        assert_int_equal(ls.ev[i].rv, (int64_t)i + 1);
    /* the other watcher is unaffected */
    create_many("other", "q", 3, 0);
    pump(fast, &lf, 3, 5000);
    assert_int_equal(lf.n, 3);
    assert_int_equal(lf.errors, 0);
    kr_bus_destroy(&slow);
    kr_bus_destroy(&fast);
    log_free(&ls);
    log_free(&lf);
    world_stop();
}

/* A snapshot reader that does not read while the window rolls past its
 * snapshot revision gets ERROR/Expired from the hub, not a gap. */
static void test_catch_up_falls_out_of_window(void **state)
{
    (void)state;
    world_start(100, 0, 0);
    create_many("default", "p", 5000, 256);
    kr_bus_t *bus = client();
    evlog_t log = {0};
    watch(bus, &log, (wopts_t){0});
    usleep(20000); /* the hub fills the pipe and waits */
    kr_watch_stats_t s = stats();
    assert_int_equal(s.catching_up, 1);
    create_many("default", "q", 150, 0); /* the window moves past 5000 */
    for (int i = 0; i < 100 && stats().watchers > 0; i++)
        usleep(2000);
    s = stats();
    assert_int_equal(s.watchers, 0);
    assert_int_equal(s.expired, 1);
    pump(bus, &log, 10000, 10000);
    assert_int_equal(log.errors, 1);
    const ev_t *last = &log.ev[log.n - 1];
    assert_string_equal(last->reason, "Expired");
    assert_int_equal(last->code, 410);
    assert_non_null(strstr(last->message, "could not catch up"));
    assert_non_null(strstr(last->message, "too old resource version: 5000 (5050)"));
    assert_true(log.n > 1 && log.n < 5001);
    for (size_t i = 0; i + 1 < log.n; i++)
        assert_string_equal(log.ev[i].type, "ADDED");
    kr_bus_destroy(&bus);
    log_free(&log);
    world_stop();
}

static void test_shutdown_ends_streams(void **state)
{
    (void)state;
    world_start(0, 0, 0);
    create_many("default", "p", 2, 0);
    kr_bus_t *bus = client();
    evlog_t l1 = {0}, l2 = {0};
    watch(bus, &l1, (wopts_t){0});
    watch(bus, &l2, (wopts_t){.rv = "1", .res = THINGS});
    wait_watchers(2);
    world_run(destroy_hub, NULL);
    pump(bus, &l1, 100, 5000);
    pump(bus, &l2, 100, 5000);
    assert_int_equal(l1.n, 3);
    assert_string_equal(l1.ev[2].type, "ERROR");
    assert_string_equal(l1.ev[2].reason, "ServiceUnavailable");
    assert_int_equal(l2.n, 1);
    assert_string_equal(l2.ev[0].reason, "ServiceUnavailable");
    kr_bus_destroy(&bus);
    log_free(&l1);
    log_free(&l2);
    world_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_from_revision),
        cmocka_unit_test(test_expired_revision),
        cmocka_unit_test(test_snapshot_then_live),
        cmocka_unit_test(test_selector_transitions),
        cmocka_unit_test(test_namespace_filter),
        cmocka_unit_test(test_bookmarks),
        cmocka_unit_test(test_hundred_watchers),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_lagging_watcher),
        cmocka_unit_test(test_catch_up_falls_out_of_window),
        cmocka_unit_test(test_shutdown_ends_streams),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    kr_bus_shutdown();
    return rc;
}
