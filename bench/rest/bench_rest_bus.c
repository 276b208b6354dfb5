/* The bus side of bench/rest: the operations run.sh times through the REST
 * gateway, made here directly on a running server's bus, so that the two
 * can be set side by side.  Prints figures only, never pass/fail.
 *
 *   bench_rest_bus --endpoint EP [--clients N] [--window W] [--seconds S] OP ARGS
 *
 *   seed NS COUNT        namespace NS with COUNT pods pod-000000 ...
 *   namespaces NS...     creates the namespaces (an existing one is fine)
 *   get NS NAME          gets of one pod for S seconds
 *   list NS              lists of the namespace for S seconds
 *   create NS PREFIX     pod creates (PREFIX-<client>-<i>) for S seconds
 *   configmaps NS COUNT  COUNT ConfigMap creates cm-000000 ... (watch fan-out)
 *   watch NS WATCHERS EVENTS
 *                        WATCHERS watchers of NS's ConfigMaps, each on its own
 *                        connection, then EVENTS ConfigMap creates; counts
 *                        that every watcher got every event
 *   template             prints the pod every create sends, with NAME where
 *                        the name goes (run.sh sends the same through wrk)
 *
 * N client threads each keep W requests in flight on their own connection
 * (as wrk's threads keep their connections busy), so N x W is the number of
 * requests outstanding.  The result is one line:
 *
 *   get reqs=... secs=... rate=... p50_ms=... p99_ms=... errors=...
 *
 * in the format run.sh prints for the HTTP side.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/log.h>
#include <kraal/loop.h>
#include <kraal/value.h>

#define CALL_TIMEOUT_MS 60000
#define MAX_LAT         (1u << 22) /* latencies kept per client */

/* The pod every create sends: bench_api's pod (one container with ports,
 * env and resources). */
static const char pod_json[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"NAME\","
    "\"labels\":{\"app\":\"web\",\"tier\":\"frontend\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\","
    "\"ports\":[{\"containerPort\":80}],\"env\":[{\"name\":\"MODE\",\"value\":\"prod\"}],"
    "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},"
    "\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}}}]}}";

static const char *endpoint;
static int n_clients = 2, window = 32;
static double seconds = 10;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void print_result(const char *op, size_t reqs, uint64_t elapsed_us, uint32_t *lat,
                         size_t n_lat, long errors)
{
    qsort(lat, n_lat, sizeof *lat, cmp_u32);
    double secs = (double)elapsed_us / 1e6;
    printf("%s reqs=%zu secs=%.2f rate=%.0f p50_ms=%.3f p99_ms=%.3f errors=%ld\n", op, reqs, secs,
           secs > 0 ? (double)reqs / secs : 0, n_lat ? lat[n_lat / 2] / 1000.0 : 0,
           n_lat ? lat[n_lat * 99 / 100] / 1000.0 : 0, errors);
    fflush(stdout);
}

/* ---- clients with a window of requests in flight ---------------------------- */

typedef enum { OP_GET, OP_LIST, OP_CREATE_POD, OP_CREATE_CM } op_t;

typedef struct client client_t;

typedef struct slot {
    client_t *c;
    uint64_t t0;
} slot_t;

struct client {
    pthread_t th;
    int idx;
    op_t op;
    const char *ns, *name, *prefix;
    long count;      /* > 0: send this many; 0: until the deadline */
    uint64_t end_us; /* the deadline of a timed run */
    long sent, done, errors, inflight;
    uint32_t *lat;
    size_t n_lat;
    kr_bus_t *bus;
    kr_arena_t *scratch; /* a request's name and body, reset per send */
    kr_value_t *pod;     /* the pod template, its name set per send */
    slot_t *slots;
};

static atomic_int go;

static void client_send(client_t *c, slot_t *s);

static void client_reply(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    slot_t *s = ud;
    client_t *c = s->c;
    uint64_t t = now_us();
    if (c->n_lat < MAX_LAT) {
        uint64_t us = t - s->t0;
        c->lat[c->n_lat++] = (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us);
    }
    if (reply->code != 200 && reply->code != 201 && c->errors++ < 3)
        fprintf(stderr, "bench_rest_bus: %d %s\n", reply->code,
                reply->message ? reply->message : "");
    c->done++;
    c->inflight--;
    client_send(c, s);
}

static void client_send(client_t *c, slot_t *s)
{
    if (c->count > 0 ? c->sent >= c->count : now_us() >= c->end_us)
        return;
    long i = c->sent++;
    kr_arena_reset(c->scratch);
    kr_request_t req = {.ns = c->ns};
    switch (c->op) {
    case OP_GET:
        req = (kr_request_t){.op = "get", .res = "v1/pods", .ns = c->ns, .name = c->name};
        break;
    case OP_LIST:
        req = (kr_request_t){.op = "list", .res = "v1/pods", .ns = c->ns};
        break;
    case OP_CREATE_POD: {
        const char *name = c->count > 0
                               ? kr_arena_printf(c->scratch, "%s-%06ld", c->prefix, i)
                               : kr_arena_printf(c->scratch, "%s-%d-%ld", c->prefix, c->idx, i);
        kr_value_set(c->scratch, c->pod, "metadata.name", kr_value_str(c->scratch, name), NULL);
        req = (kr_request_t){.op = "create", .res = "v1/pods", .ns = c->ns, .obj = c->pod};
        break;
    }
    case OP_CREATE_CM: {
        char doc[128];
        snprintf(doc, sizeof doc,
                 "{\"metadata\":{\"name\":\"cm-%06ld\"},\"data\":{\"k\":\"v-%ld\"}}", i, i);
        kr_value_t *obj = NULL;
        kr_json_decode(c->scratch, doc, strlen(doc), &obj, NULL);
        req = (kr_request_t){.op = "create", .res = "v1/configmaps", .ns = c->ns, .obj = obj};
        break;
    }
    }
    s->t0 = now_us();
    kr_error_t err;
    if (kr_bus_send(c->bus, &req, client_reply, s, CALL_TIMEOUT_MS, NULL, &err) < 0) {
        if (c->errors++ < 3)
            fprintf(stderr, "bench_rest_bus: send: %s\n", err.message);
        c->done++;
        return;
    }
    c->inflight++;
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    while (!atomic_load(&go))
        usleep(100);
    if (c->count == 0)
        c->end_us = now_us() + (uint64_t)(seconds * 1e6);
    for (int i = 0; i < window; i++)
        client_send(c, &c->slots[i]);
    /* bounded: every request times out after CALL_TIMEOUT_MS; a counted
     * run gets ten minutes */
    uint64_t hard_end =
        now_us() +
        (c->count > 0 ? 600000000u : (uint64_t)(seconds * 1e6) + (CALL_TIMEOUT_MS + 5000) * 1000u);
    while (c->inflight > 0 && now_us() < hard_end)
        if (kr_bus_dispatch(c->bus, 100, NULL) < 0)
            break;
    return NULL;
}

/* Runs `op` on n_clients clients with `window` in flight each: `count`
 * requests in all, or for `seconds` when count is 0.  Returns the errors. */
static long run_clients(const char *label, op_t op, const char *ns, const char *name,
                        const char *prefix, long count)
{
    client_t *cs = calloc((size_t)n_clients, sizeof *cs);
    kr_arena_t *tmpl = kr_arena_new(0);
    for (int i = 0; i < n_clients; i++) {
        client_t *c = &cs[i];
        *c = (client_t){.idx = i, .op = op, .ns = ns, .name = name, .prefix = prefix};
        if (count > 0)
            c->count = count / n_clients + (i < count % n_clients);
        c->lat = malloc(MAX_LAT * sizeof *c->lat);
        c->slots = calloc((size_t)window, sizeof *c->slots);
        for (int k = 0; k < window; k++)
            c->slots[k].c = c;
        c->scratch = kr_arena_new(0);
        if (op == OP_CREATE_POD)
            kr_json_decode(tmpl, pod_json, strlen(pod_json), &c->pod, NULL);
        c->bus = kr_bus_connect(endpoint, NULL);
        if (c->bus == NULL) {
            fprintf(stderr, "bench_rest_bus: cannot connect to %s\n", endpoint);
            exit(1);
        }
    }
    /* count mode with several clients: each names its own range */
    long base = 0;
    for (int i = 0; i < n_clients && count > 0; i++) {
        cs[i].sent = base;
        base += cs[i].count;
        cs[i].count = base;
    }
    for (int i = 0; i < n_clients; i++)
        pthread_create(&cs[i].th, NULL, client_main, &cs[i]);
    usleep(100000); /* connections up before the clock starts */
    uint64_t t0 = now_us();
    atomic_store(&go, 1);
    size_t reqs = 0, n_lat = 0;
    long errors = 0;
    for (int i = 0; i < n_clients; i++) {
        pthread_join(cs[i].th, NULL);
        reqs += (size_t)cs[i].done;
        errors += cs[i].errors + cs[i].inflight;
        n_lat += cs[i].n_lat;
    }
    uint64_t elapsed = now_us() - t0;
    atomic_store(&go, 0);
    uint32_t *lat = malloc((n_lat ? n_lat : 1) * sizeof *lat);
    size_t k = 0;
    for (int i = 0; i < n_clients; i++) {
        memcpy(lat + k, cs[i].lat, cs[i].n_lat * sizeof *lat);
        k += cs[i].n_lat;
    }
    if (label != NULL)
        print_result(label, reqs, elapsed, lat, n_lat, errors);
    free(lat);
    for (int i = 0; i < n_clients; i++) {
        kr_bus_destroy(&cs[i].bus);
        kr_arena_destroy(&cs[i].scratch);
        free(cs[i].lat);
        free(cs[i].slots);
    }
    kr_arena_destroy(&tmpl);
    free(cs);
    return errors;
}

/* ---- namespaces ------------------------------------------------------------- */

static int create_namespace(kr_bus_t *bus, const char *name)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *obj = kr_value_map(a);
    kr_value_set(a, obj, "metadata.name", kr_value_str(a, name), NULL);
    kr_request_t req = {.op = "create", .res = "v1/namespaces", .obj = obj};
    kr_reply_t reply;
    kr_error_t err;
    int rc = 0;
    if (kr_bus_call(bus, &req, a, &reply, CALL_TIMEOUT_MS, &err) < 0) {
        fprintf(stderr, "bench_rest_bus: namespace %s: %s\n", name, err.message);
        rc = -1;
    } else if (reply.code != 201 && reply.code != 409) {
        fprintf(stderr, "bench_rest_bus: namespace %s: %d %s\n", name, reply.code,
                reply.message ? reply.message : "");
        rc = -1;
    }
    kr_arena_destroy(&a);
    return rc;
}

static int create_namespaces(char **names, int n)
{
    kr_bus_t *bus = kr_bus_connect(endpoint, NULL);
    int rc = bus ? 0 : -1;
    for (int i = 0; i < n && rc == 0; i++)
        rc = create_namespace(bus, names[i]);
    kr_bus_destroy(&bus);
    return rc;
}

/* ---- watch fan-out ------------------------------------------------------------ */

typedef struct watcher {
    pthread_t th;
    const char *ns;
    atomic_int got, errors, ready;
    _Atomic uint64_t last_us;
} watcher_t;

static atomic_int watch_stop;

static void watcher_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)id;
    watcher_t *w = ud;
    if (strcmp(ev->type, "ADDED") == 0) {
        atomic_fetch_add(&w->got, 1);
        atomic_store(&w->last_us, now_us());
    } else if (strcmp(ev->type, "ERROR") == 0) {
        atomic_fetch_add(&w->errors, 1);
    }
}

static void *watcher_main(void *arg)
{
    watcher_t *w = arg;
    kr_bus_t *bus = kr_bus_connect(endpoint, NULL);
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t lr = {.op = "list", .res = "v1/configmaps", .ns = w->ns};
    kr_reply_t reply;
    if (bus == NULL || kr_bus_call(bus, &lr, a, &reply, CALL_TIMEOUT_MS, NULL) < 0 ||
        reply.code != 200) {
        atomic_fetch_add(&w->errors, 1);
        atomic_store(&w->ready, 1);
        kr_arena_destroy(&a);
        kr_bus_destroy(&bus);
        return NULL;
    }
    /* from the list's version on, so no event falls between list and watch */
    const char *rv = kr_value_as_str(kr_value_get(reply.obj, "metadata.resourceVersion"));
    kr_request_t wr = {.res = "v1/configmaps", .ns = w->ns, .rv = rv};
    if (kr_bus_watch(bus, &wr, watcher_event, w, NULL, NULL) < 0)
        atomic_fetch_add(&w->errors, 1);
    atomic_store(&w->ready, 1);
    while (!atomic_load(&watch_stop) && atomic_load(&w->errors) == 0)
        kr_bus_dispatch(bus, 50, NULL);
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    return NULL;
}

static int run_fanout(const char *ns, int n_watchers, long events)
{
    watcher_t *ws = calloc((size_t)n_watchers, sizeof *ws);
    for (int i = 0; i < n_watchers; i++) {
        ws[i].ns = ns;
        pthread_create(&ws[i].th, NULL, watcher_main, &ws[i]);
    }
    for (int i = 0; i < n_watchers; i++)
        for (int k = 0; k < 30000 && !atomic_load(&ws[i].ready); k++)
            usleep(1000);
    uint64_t t0 = now_us();
    long write_errors = run_clients(NULL, OP_CREATE_CM, ns, NULL, NULL, events);
    long created = events - write_errors;
    uint64_t deadline = now_us() + 60000000u;
    int complete = 0, errors = 0;
    while (now_us() < deadline) {
        complete = errors = 0;
        for (int i = 0; i < n_watchers; i++) {
            complete += atomic_load(&ws[i].got) >= created;
            errors += atomic_load(&ws[i].errors) > 0;
        }
        if (complete + errors >= n_watchers)
            break;
        usleep(1000);
    }
    atomic_store(&watch_stop, 1);
    uint64_t last = t0;
    long delivered = 0;
    for (int i = 0; i < n_watchers; i++) {
        pthread_join(ws[i].th, NULL);
        delivered += atomic_load(&ws[i].got);
        if (atomic_load(&ws[i].last_us) > last)
            last = atomic_load(&ws[i].last_us);
    }
    double secs = (double)(last - t0) / 1e6;
    printf("watch watchers=%d events=%ld complete=%d delivered=%ld secs=%.2f rate=%.0f "
           "errors=%ld\n",
           n_watchers, created, complete, delivered, secs, secs > 0 ? delivered / secs : 0,
           (long)errors + write_errors);
    free(ws);
    return complete == n_watchers ? 0 : 1;
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_rest_bus --endpoint EP [--clients N] [--window W] [--seconds S] OP ARGS\n"
            "  seed NS COUNT | namespaces NS... | get NS NAME | list NS | create NS PREFIX\n"
            "  | configmaps NS COUNT | watch NS WATCHERS EVENTS | template\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--endpoint") == 0)
            endpoint = argv[i + 1];
        else if (strcmp(argv[i], "--clients") == 0)
            n_clients = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--window") == 0)
            window = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else
            usage();
    }
    if (i >= argc)
        usage();
    const char *op = argv[i++];
    int nargs = argc - i;
    char **args = argv + i;
    if (strcmp(op, "template") == 0) {
        puts(pod_json);
        return 0;
    }
    if (endpoint == NULL || n_clients < 1 || window < 1 || seconds <= 0)
        usage();
    kr_log_set_level(KR_LOG_WARN);
    int rc = 0;
    if (strcmp(op, "seed") == 0 && nargs == 2) {
        rc = create_namespaces(args, 1) < 0 ||
             run_clients("seed", OP_CREATE_POD, args[0], NULL, "pod", atol(args[1])) > 0;
    } else if (strcmp(op, "namespaces") == 0 && nargs >= 1) {
        rc = create_namespaces(args, nargs) < 0;
    } else if (strcmp(op, "get") == 0 && nargs == 2) {
        run_clients("get", OP_GET, args[0], args[1], NULL, 0);
    } else if (strcmp(op, "list") == 0 && nargs == 1) {
        run_clients("list", OP_LIST, args[0], NULL, NULL, 0);
    } else if (strcmp(op, "create") == 0 && nargs == 2) {
        run_clients("create", OP_CREATE_POD, args[0], NULL, args[1], 0);
    } else if (strcmp(op, "configmaps") == 0 && nargs == 2) {
        rc = run_clients("configmaps", OP_CREATE_CM, args[0], NULL, NULL, atol(args[1])) > 0;
    } else if (strcmp(op, "watch") == 0 && nargs == 3) {
        rc = run_fanout(args[0], atoi(args[1]), atol(args[2]));
    } else {
        usage();
    }
    kr_bus_shutdown();
    return rc;
}
