/* The object API under load: an in-process server (broker + API + the
 * sqlite store plugin on a temp dir, as `kraal server` runs them) and bus
 * clients over inproc or ipc.  Prints figures only, never pass/fail.
 *
 *   bench_api [--objects N] [--window W] [--seconds S] [--transport inproc|ipc|both]
 *   bench_api --handlers [--objects N]   only the API handlers' own cost (for perf)
 *
 * Cases, for 1 and 16 client threads (each keeping W requests in flight
 * for writes, one synchronous call at a time for reads unless a window is
 * named):
 *   create   N pods (durable: answered after the store's fsync)
 *   update   each pod once (a label change)
 *   get      random pods for S seconds; then 10 N gets with W in flight per
 *            client, the pattern of a gateway multiplexing its connections
 *   list     a namespace of 1,000 pods and all 10,000
 *   watch    100 watchers on their own connections, N/4 ConfigMap creates,
 *            every watcher must receive every event
 * and the process RSS with the pods loaded.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/loop.h>

#include <msgpack.h>
#include <zmq.h>

#include "api.h"
#include "broker.h"
#include "host.h"

#define MAX_LAT (1u << 22)

static const char *endpoint;
static int window = 32;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct lat {
    uint32_t *us;
    size_t n;
} lat_t;

static void lat_add(lat_t *l, uint64_t us)
{
    if (l->n < MAX_LAT)
        l->us[l->n++] = (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us);
}

static void report(const char *what, int clients, size_t ops, uint64_t elapsed_us, lat_t *l,
                   int errors)
{
    qsort(l->us, l->n, sizeof *l->us, cmp_u32);
    double p50 = l->n ? l->us[l->n / 2] / 1000.0 : 0,
           p99 = l->n ? l->us[l->n * 99 / 100] / 1000.0 : 0;
    printf("  %-22s clients=%-2d ops=%-7zu %9.0f ops/s  p50=%7.3f ms  p99=%7.3f ms%s\n", what,
           clients, ops, ops * 1e6 / (double)(elapsed_us ? elapsed_us : 1), p50, p99,
           errors ? "  (ERRORS)" : "");
    if (errors)
        printf("    errors=%d\n", errors);
}

/* ---- objects ---------------------------------------------------------- */

static kr_value_t *pod(kr_arena_t *a, const char *ns, const char *name, int i)
{
    char doc[1024];
    snprintf(doc, sizeof doc,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"%s\",\"labels\":{\"app\":\"web-%d\",\"tier\":\"frontend\"}},"
             "\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\","
             "\"ports\":[{\"containerPort\":80}],\"env\":[{\"name\":\"MODE\",\"value\":\"prod\"}],"
             "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},"
             "\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}}}]}}",
             name, ns, i % 100);
    kr_value_t *v = NULL;
    kr_json_decode(a, doc, strlen(doc), &v, NULL);
    return v;
}

static void pod_name(char *buf, size_t n, int client, int i)
{
    snprintf(buf, n, "pod-%02d-%06d", client, i);
}

static const char *pod_ns(int i)
{
    static const char *const ns[] = {"bench-0", "bench-1", "bench-2", "bench-3", "bench-4",
                                     "bench-5", "bench-6", "bench-7", "bench-8", "bench-9"};
    return ns[i % 10];
}

/* ---- pipelined writers ---------------------------------------------------- */

typedef struct writer {
    pthread_t th;
    int idx, count, sent, done, errors;
    int pods; /* pods this client created (for gets) */
    const char *op;
    lat_t lat;
    kr_bus_t *bus;
    uint64_t *t0; /* per in-flight slot */
} writer_t;

static atomic_int go;

static void w_send(writer_t *w);

static void w_reply(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    writer_t *w = *(writer_t **)ud;
    uint64_t *t0 = (uint64_t *)((writer_t **)ud + 1);
    lat_add(&w->lat, now_us() - *t0);
    if (reply->code != 200 && reply->code != 201) {
        if (w->errors++ < 3)
            fprintf(stderr, "    %s: %d %s\n", w->op, reply->code,
                    reply->message ? reply->message : "");
    }
    free(ud);
    w->done++;
    w_send(w);
}

static void w_send(writer_t *w)
{
    if (w->sent >= w->count)
        return;
    int i = w->sent++;
    kr_arena_t *a = kr_arena_new(4096);
    char name[64];
    bool get = strcmp(w->op, "get") == 0;
    if (get)
        i %= w->pods; /* the pods this client created */
    pod_name(name, sizeof name, w->idx, i);
    const char *ns = pod_ns(i);
    kr_value_t *obj = get ? NULL : pod(a, ns, name, i);
    if (strcmp(w->op, "update") == 0)
        kr_value_set(a, obj, "metadata.labels.rev", kr_value_str(a, "2"), NULL);
    kr_request_t req = {.op = w->op, .res = "v1/pods", .ns = ns, .obj = obj};
    if (strcmp(w->op, "create") != 0)
        req.name = name;
    void *ud = malloc(sizeof(writer_t *) + sizeof(uint64_t));
    *(writer_t **)ud = w;
    *(uint64_t *)((writer_t **)ud + 1) = now_us();
    if (kr_bus_send(w->bus, &req, w_reply, ud, 30000, NULL, NULL) < 0) {
        free(ud);
        w->errors++;
        w->done++;
    }
    kr_arena_destroy(&a);
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    w->bus = kr_bus_connect(endpoint, NULL);
    while (!atomic_load(&go))
        usleep(50);
    for (int i = 0; i < window; i++)
        w_send(w);
    while (w->done < w->count)
        if (kr_bus_dispatch(w->bus, 1000, NULL) < 0)
            break;
    kr_bus_destroy(&w->bus);
    return NULL;
}

static void run_writers(const char *op, int clients, int total, int pods)
{
    writer_t *ws = calloc((size_t)clients, sizeof *ws);
    lat_t all = {.us = malloc(MAX_LAT * sizeof(uint32_t))};
    for (int c = 0; c < clients; c++) {
        ws[c] = (writer_t){.idx = c, .count = total / clients, .op = op, .pods = pods};
        ws[c].lat.us = malloc(MAX_LAT * sizeof(uint32_t));
        pthread_create(&ws[c].th, NULL, writer_main, &ws[c]);
    }
    usleep(50000);
    uint64_t t0 = now_us();
    atomic_store(&go, 1);
    int errors = 0;
    size_t ops = 0;
    for (int c = 0; c < clients; c++) {
        pthread_join(ws[c].th, NULL);
        errors += ws[c].errors;
        ops += (size_t)ws[c].done;
        for (size_t i = 0; i < ws[c].lat.n; i++)
            lat_add(&all, ws[c].lat.us[i]);
        free(ws[c].lat.us);
    }
    uint64_t el = now_us() - t0;
    atomic_store(&go, 0);
    char what[64];
    snprintf(what, sizeof what, "%s (window %d)", op, window);
    report(what, clients, ops, el, &all, errors);
    free(all.us);
    free(ws);
}

/* ---- synchronous readers -------------------------------------------------- */

typedef struct reader {
    pthread_t th;
    int idx, clients, errors;
    const char *what;
    uint64_t ms;
    size_t n, bytes;
    lat_t lat;
    int count; /* pods per client created */
    const char *list_ns;
    int reps;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    kr_bus_t *bus = kr_bus_connect(endpoint, NULL);
    kr_arena_t *a = kr_arena_new(0);
    unsigned seed = (unsigned)r->idx * 7919u + 1;
    while (!atomic_load(&go))
        usleep(50);
    uint64_t end = kr_time_ms() + r->ms;
    for (int rep = 0; r->reps ? rep < r->reps : kr_time_ms() < end; rep++) {
        kr_request_t req;
        char name[64];
        if (strcmp(r->what, "get") == 0) {
            int c = (int)(rand_r(&seed) % (unsigned)r->clients);
            int i = (int)(rand_r(&seed) % (unsigned)r->count);
            pod_name(name, sizeof name, c, i);
            req = (kr_request_t){.op = "get", .res = "v1/pods", .ns = pod_ns(i), .name = name};
        } else {
            req = (kr_request_t){.op = "list", .res = "v1/pods", .ns = r->list_ns};
        }
        kr_reply_t reply;
        uint64_t t0 = now_us();
        if (kr_bus_call(bus, &req, a, &reply, 30000, NULL) < 0 || reply.code != 200)
            r->errors++;
        else if (strcmp(r->what, "list") == 0)
            r->bytes = kr_value_len(kr_value_map_get(reply.obj, "items"));
        lat_add(&r->lat, now_us() - t0);
        r->n++;
        kr_arena_reset(a);
    }
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    return NULL;
}

static size_t run_readers(const char *what, int clients, int writers, int count, uint64_t ms,
                          const char *list_ns, int reps, const char *label)
{
    reader_t *rs = calloc((size_t)clients, sizeof *rs);
    lat_t all = {.us = malloc(MAX_LAT * sizeof(uint32_t))};
    for (int c = 0; c < clients; c++) {
        rs[c] = (reader_t){.idx = c,
                           .clients = writers,
                           .what = what,
                           .ms = ms,
                           .count = count,
                           .list_ns = list_ns,
                           .reps = reps};
        rs[c].lat.us = malloc(MAX_LAT * sizeof(uint32_t));
        pthread_create(&rs[c].th, NULL, reader_main, &rs[c]);
    }
    usleep(50000);
    uint64_t t0 = now_us();
    atomic_store(&go, 1);
    size_t ops = 0, items = 0;
    int errors = 0;
    for (int c = 0; c < clients; c++) {
        pthread_join(rs[c].th, NULL);
        ops += rs[c].n;
        errors += rs[c].errors;
        items = rs[c].bytes;
        for (size_t i = 0; i < rs[c].lat.n; i++)
            lat_add(&all, rs[c].lat.us[i]);
        free(rs[c].lat.us);
    }
    uint64_t el = now_us() - t0;
    atomic_store(&go, 0);
    report(label, clients, ops, el, &all, errors);
    free(all.us);
    free(rs);
    return items;
}

/* ---- list latency without the client's decode ----------------------------- */

/* Times a list from sending the request to the last byte of the reply on a
 * plain DEALER socket: the server's share of a list, which the decode of
 * the reply into a value tree (timed by run_readers) adds to. */
static void run_raw_list(const char *ns, int reps, const char *label)
{
    void *sock = zmq_socket(kr_bus_zmq_context(), ZMQ_DEALER);
    zmq_connect(sock, endpoint);
    lat_t l = {.us = malloc((size_t)reps * sizeof(uint32_t))};
    size_t bytes = 0;
    uint64_t decode_us = 0;
    for (int i = 0; i < reps; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, ns ? 5 : 4);
        const char *kv[] = {"v", NULL, "id", NULL, "op", "list", "res", "v1/pods", "ns", ns};
        for (int k = 0; k < (ns ? 10 : 8); k += 2) {
            msgpack_pack_str(&pk, strlen(kv[k]));
            msgpack_pack_str_body(&pk, kv[k], strlen(kv[k]));
            if (k == 0)
                msgpack_pack_uint8(&pk, 1);
            else if (k == 2)
                msgpack_pack_uint64(&pk, (uint64_t)i + 1);
            else {
                msgpack_pack_str(&pk, strlen(kv[k + 1]));
                msgpack_pack_str_body(&pk, kv[k + 1], strlen(kv[k + 1]));
            }
        }
        uint64_t t0 = now_us();
        zmq_send(sock, sb.data, sb.size, 0);
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock, 0);
        lat_add(&l, now_us() - t0);
        bytes = zmq_msg_size(&m);
        uint64_t d0 = now_us();
        kr_arena_t *da = kr_arena_new(0);
        kr_value_t *tree = NULL;
        kr_msgpack_decode(da, zmq_msg_data(&m), zmq_msg_size(&m), &tree, NULL);
        decode_us += now_us() - d0;
        kr_arena_destroy(&da);
        zmq_msg_close(&m);
        msgpack_sbuffer_destroy(&sb);
    }
    qsort(l.us, l.n, sizeof *l.us, cmp_u32);
    printf("  %-22s p50=%7.3f ms  p99=%7.3f ms  (reply %.1f MiB; decoding it takes %.3f ms more)\n",
           label, l.us[l.n / 2] / 1000.0, l.us[l.n * 99 / 100] / 1000.0, bytes / 1048576.0,
           decode_us / 1000.0 / reps);
    free(l.us);
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(sock);
}

/* ---- watch fan-out ----------------------------------------------------------- */

typedef struct watcher {
    pthread_t th;
    int expect;
    atomic_int got;
    int errors;
    uint64_t last_us;
    atomic_int ready;
} watcher_t;

static void w_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)id;
    watcher_t *w = ud;
    if (strcmp(ev->type, "ADDED") == 0) {
        atomic_fetch_add(&w->got, 1);
        w->last_us = now_us();
    } else if (strcmp(ev->type, "ERROR") == 0) {
        w->errors++;
    }
}

static atomic_int watch_stop;

static void *watcher_main(void *arg)
{
    watcher_t *w = arg;
    kr_bus_t *bus = kr_bus_connect(endpoint, NULL);
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t lr = {.op = "list", .res = "v1/configmaps", .ns = "fanout"};
    kr_reply_t reply;
    kr_bus_call(bus, &lr, a, &reply, 30000, NULL);
    const char *rv = kr_value_as_str(kr_value_get(reply.obj, "metadata.resourceVersion"));
    kr_request_t wr = {.res = "v1/configmaps", .ns = "fanout", .rv = rv};
    kr_bus_watch(bus, &wr, w_event, w, NULL, NULL);
    atomic_store(&w->ready, 1);
    while (!atomic_load(&watch_stop) && w->errors == 0)
        kr_bus_dispatch(bus, 50, NULL);
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    return NULL;
}

static void run_fanout(int n_watchers, int events)
{
    watcher_t *ws = calloc((size_t)n_watchers, sizeof *ws);
    for (int i = 0; i < n_watchers; i++)
        pthread_create(&ws[i].th, NULL, watcher_main, &ws[i]);
    for (int i = 0; i < n_watchers; i++)
        while (!atomic_load(&ws[i].ready))
            usleep(1000);
    kr_bus_t *bus = kr_bus_connect(endpoint, NULL);
    kr_arena_t *a = kr_arena_new(0);
    uint64_t t0 = now_us();
    int created = 0;
    for (int i = 0; i < events; i++) {
        char doc[256];
        snprintf(doc, sizeof doc,
                 "{\"metadata\":{\"name\":\"cm-%06d\"},\"data\":{\"k\":\"value-%d\"}}", i, i);
        kr_value_t *obj = NULL;
        kr_json_decode(a, doc, strlen(doc), &obj, NULL);
        kr_request_t req = {.op = "create", .res = "v1/configmaps", .ns = "fanout", .obj = obj};
        kr_reply_t reply;
        if (kr_bus_call(bus, &req, a, &reply, 30000, NULL) == 0 && reply.code == 201)
            created++;
        kr_arena_reset(a);
    }
    uint64_t t_writes = now_us() - t0;
    uint64_t deadline = kr_time_ms() + 60000;
    int complete = 0, errors = 0;
    while (kr_time_ms() < deadline) {
        complete = 0;
        errors = 0;
        for (int i = 0; i < n_watchers; i++) {
            complete += atomic_load(&ws[i].got) == created;
            errors += ws[i].errors;
        }
        if (complete + errors >= n_watchers)
            break;
        usleep(1000);
    }
    uint64_t last = 0;
    for (int i = 0; i < n_watchers; i++)
        if (ws[i].last_us > last)
            last = ws[i].last_us;
    atomic_store(&watch_stop, 1);
    for (int i = 0; i < n_watchers; i++)
        pthread_join(ws[i].th, NULL);
    atomic_store(&watch_stop, 0);
    long delivered = 0;
    for (int i = 0; i < n_watchers; i++)
        delivered += atomic_load(&ws[i].got);
    double secs = (double)(last - t0) / 1e6;
    printf("  watch fan-out          watchers=%d events=%d  all events to all watchers: %s "
           "(%d complete, %d errors)\n",
           n_watchers, created, complete == n_watchers ? "yes" : "NO", complete, errors);
    printf("    creates %.0f/s (sync, 1 client); %ld events delivered in %.3f s = %.0f "
           "events/s\n",
           created * 1e6 / (double)t_writes, delivered, secs, secs > 0 ? delivered / secs : 0);
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    free(ws);
}

/* ---- the API's own cost per request ------------------------------------------ */

static int acc_range(void *s, kr_store_kv_fn fn, void *ud, int64_t *rev, int64_t *c, kr_error_t *e)
{
    (void)s, (void)fn, (void)ud, (void)e;
    *rev = 0;
    *c = 0;
    return 0;
}

static int acc_history(void *s, int64_t a, kr_store_event_fn fn, void *ud, kr_error_t *e)
{
    (void)s, (void)a, (void)fn, (void)ud, (void)e;
    return 0;
}

static int acc_txn(void *s, kr_store_write_t *w, size_t n, kr_error_t *e)
{
    (void)s, (void)e;
    for (size_t i = 0; i < n; i++)
        w[i].result = 0;
    return 0;
}

static int acc_compact(void *s, int64_t r, kr_error_t *e)
{
    (void)s, (void)r, (void)e;
    return 0;
}

static void feed_json(kr_broker_t *b, kr_arena_t *a, const char *json, kr_buf_t *out)
{
    kr_value_t *v = NULL;
    kr_json_decode(a, json, strlen(json), &v, NULL);
    kr_buf_reset(out);
    kr_msgpack_encode(v, out, NULL);
    if (b != NULL) {
        const void *f[1] = {out->data};
        size_t l[1] = {out->len};
        kr_broker_feed(b, "c", 1, f, l, 1);
    }
}

/* The API handlers alone, in one thread: a detached broker (no sockets)
 * and a store that accepts everything, so the figure is the broker
 * thread's work per request without ZeroMQ and without the disk. */
static void run_handler_cost(int objects)
{
    /* no read op: every kind is cached, as the figure always measured */
    static const kr_store_ops_t ops = {
        sizeof(kr_store_ops_t), acc_range, acc_history, acc_txn, acc_compact, NULL};
    kr_broker_t *b = kr_broker_new_detached(NULL);
    kr_api_t *api = kr_api_new(b, NULL, NULL);
    kr_api_take_store(api, &ops, NULL, NULL);
    kr_api_open(api, NULL);
    kr_arena_t *a = kr_arena_new(0);
    kr_buf_t m = KR_BUF_INIT;
    uint64_t t0 = now_us();
    for (int i = 0; i < objects; i++) {
        char name[64];
        pod_name(name, sizeof name, 0, i);
        kr_value_t *p = pod(a, "default", name, i);
        kr_value_t *req = kr_value_map(a);
        kr_value_map_set(a, req, "v", kr_value_int(a, 1));
        kr_value_map_set(a, req, "id", kr_value_int(a, i + 1));
        kr_value_map_set(a, req, "op", kr_value_str(a, "create"));
        kr_value_map_set(a, req, "res", kr_value_str(a, "v1/pods"));
        kr_value_map_set(a, req, "ns", kr_value_str(a, "default"));
        kr_value_map_set(a, req, "obj", p);
        kr_buf_reset(&m);
        kr_msgpack_encode(req, &m, NULL);
        const void *f[1] = {m.data};
        size_t l[1] = {m.len};
        kr_broker_feed(b, "c", 1, f, l, 1);
        kr_arena_reset(a);
        if (i % 256 == 255)
            kr_api_drain(api);
    }
    kr_api_drain(api);
    double create_us = (double)(now_us() - t0) / objects;
    char get[256];
    snprintf(get, sizeof get,
             "{\"v\":1,\"id\":7,\"op\":\"get\",\"res\":\"v1/pods\",\"ns\":\"default\","
             "\"name\":\"pod-00-%06d\"}",
             objects / 2);
    feed_json(NULL, a, get, &m);
    const int n = 1000000;
    t0 = now_us();
    for (int i = 0; i < n; i++) {
        const void *f[1] = {m.data};
        size_t l[1] = {m.len};
        kr_broker_feed(b, "c", 1, f, l, 1);
    }
    double get_us = (double)(now_us() - t0) / n;
    feed_json(NULL, a, "{\"v\":1,\"id\":8,\"op\":\"list\",\"res\":\"v1/pods\"}", &m);
    t0 = now_us();
    for (int i = 0; i < 20; i++) {
        const void *f[1] = {m.data};
        size_t l[1] = {m.len};
        kr_broker_feed(b, "c", 1, f, l, 1);
    }
    double list_ms = (double)(now_us() - t0) / 20 / 1000.0;
    printf("API handlers alone (one thread, no ZeroMQ, no disk; %d pods):\n", objects);
    printf("  create %.2f us (incl. group commit to an accept-all store), get %.2f us, list of all "
           "%.2f ms\n",
           create_us, get_us, list_ms);
    kr_buf_free(&m);
    kr_arena_destroy(&a);
    kr_api_destroy(&api);
    kr_broker_destroy(&b);
}

/* ---- server -------------------------------------------------------------------- */

typedef struct server {
    kr_broker_t *broker;
    kr_api_t *api;
    kr_host_t *host;
    char dir[64], ipc[128], ep[160];
} server_t;

static int server_start(server_t *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/kraal-bench-api-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(s->ipc, sizeof s->ipc, "%s/bus.sock", s->dir);
    kr_error_t err;
    kr_broker_opts_t bo = {.ipc_path = s->ipc};
    s->broker = kr_broker_new(&bo, &err);
    s->api = s->broker ? kr_api_new(s->broker, NULL, &err) : NULL;
    if (s->api == NULL) {
        fprintf(stderr, "bench_api: %s\n", err.message);
        return -1;
    }
    static const char *const path[] = {KRAAL_BENCH_PLUGIN_DIR, NULL};
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT,
                         .plugin_path = path,
                         .data_dir = s->dir,
                         .run_dir = s->dir,
                         .register_store = kr_api_take_store,
                         .register_ud = s->api};
    s->host = kr_host_new(&ho);
    kr_plugin_spec_t spec = {.plugin = "store-sqlite", .config = NULL};
    kr_arena_t *a = kr_arena_new(0);
    spec.config = kr_value_map(a);
    int rc = kr_host_start(s->host, &spec, &err);
    kr_arena_destroy(&a);
    if (rc < 0 || kr_api_open(s->api, &err) < 0 || kr_broker_start(s->broker, &err) < 0) {
        fprintf(stderr, "bench_api: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void server_stop(server_t *s)
{
    kr_broker_stop(s->broker);
    kr_api_destroy(&s->api);
    kr_host_destroy(&s->host);
    kr_broker_destroy(&s->broker);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_api: could not remove %s\n", s->dir);
}

static void create_namespaces(void)
{
    kr_bus_t *bus = kr_bus_connect(endpoint, NULL);
    kr_arena_t *a = kr_arena_new(0);
    for (int i = 0; i <= 10; i++) {
        const char *name = i < 10 ? pod_ns(i) : "fanout";
        char doc[128];
        snprintf(doc, sizeof doc, "{\"metadata\":{\"name\":\"%s\"}}", name);
        kr_value_t *obj = NULL;
        kr_json_decode(a, doc, strlen(doc), &obj, NULL);
        kr_request_t req = {.op = "create", .res = "v1/namespaces", .obj = obj};
        kr_reply_t reply;
        if (kr_bus_call(bus, &req, a, &reply, 10000, NULL) < 0 || reply.code != 201)
            fprintf(stderr, "bench_api: namespace %s: %d %s\n", name, reply.code,
                    reply.message ? reply.message : "");
        kr_arena_reset(a);
    }
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
}

static void run_transport(const char *transport, int objects, uint64_t seconds)
{
    for (int clients = 1; clients <= 16; clients *= 16) {
        server_t s;
        memset(&s, 0, sizeof s);
        if (server_start(&s) < 0)
            exit(1);
        if (strcmp(transport, "ipc") == 0) {
            snprintf(s.ep, sizeof s.ep, "ipc://%s", s.ipc);
            endpoint = s.ep;
        } else {
            endpoint = KR_BUS_INPROC_ENDPOINT;
        }
        printf("%s, %d client%s:\n", transport, clients, clients > 1 ? "s" : "");
        create_namespaces();
        long rss0 = rss_kib();
        int per = objects / clients;
        run_writers("create", clients, objects, per);
        long rss1 = rss_kib();
        run_writers("update", clients, objects, per);
        long rss2 = rss_kib();
        run_readers("get", clients, clients, per, seconds * 1000, NULL, 0, "get");
        run_writers("get", clients, objects * 10, per);
        size_t n1 = run_readers("list", 1, clients, per, 0, "bench-3", 50, "list 1 namespace");
        size_t n2 = run_readers("list", 1, clients, per, 0, NULL, 20, "list all");
        printf("    (list sizes: %zu and %zu pods)\n", n1, n2);
        run_raw_list("bench-3", 50, "list 1 namespace, raw");
        run_raw_list(NULL, 20, "list all, raw");
        printf("  RSS %ld KiB before, %ld KiB with %d pods (%.1f MiB), %ld KiB after updating "
               "them (old versions in the watch window); whole process\n",
               rss0, rss1, objects, rss1 / 1024.0, rss2);
        if (clients == 16)
            run_fanout(100, objects / 4 > 2000 ? 2000 : objects / 4);
        server_stop(&s);
    }
}

int main(int argc, char **argv)
{
    int objects = 10000;
    uint64_t seconds = 2;
    const char *transport = "both";
    bool handlers_only = false;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--handlers") == 0) {
            handlers_only = true;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(argv[0]));
            argc--;
            break;
        }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--objects") == 0)
            objects = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--window") == 0)
            window = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = (uint64_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--transport") == 0)
            transport = argv[i + 1];
    }
    kr_log_set_level(KR_LOG_WARN);
    printf("bench_api: %d pods, window %d, %d cores\n", objects, window,
           (int)sysconf(_SC_NPROCESSORS_ONLN));
    if (!handlers_only && strcmp(transport, "ipc") != 0)
        run_transport("inproc", objects, seconds);
    if (!handlers_only && strcmp(transport, "inproc") != 0)
        run_transport("ipc", objects, seconds);
    /* last, so the RSS figures above are of the first server only */
    run_handler_cost(objects);
    kr_bus_shutdown();
    return 0;
}
