/* The scheduler under load, against a running `kraal server` with hollow
 * nodes (bench/scheduler/run.sh starts both).  Prints figures only, never
 * pass/fail.
 *
 *   bench_scheduler --server ENDPOINT --nodes N --pods P [--window W] [--prefix hollow-node]
 *                   [--timeout S] [--ns bench]
 *
 * Waits until N nodes named <prefix>-<i> are Ready, watches the pods of
 * the namespace, then creates P pods (one container, cpu 10m, memory
 * 16Mi, no nodeName) with W creates in flight on one connection, as fast
 * as the API answers.  A pod is bound when an event shows spec.nodeName
 * set.  Prints the create rate, pods/s from the first create sent to the
 * last pod bound, the create-to-bound latency (p50, p99, max: from the
 * moment its create was sent), and how long until every pod was Running.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/loop.h>

typedef struct bench {
    kr_bus_t *bus;
    const char *ns, *prefix;
    int pods, window;
    int sent, answered, created, create_errors;
    int bound, running;
    uint64_t *sent_us, *created_us, *bound_us; /* per pod, 0 = not yet */
    char rv[32];                               /* of the last event, to watch again */
    int rewatches;
    bool done; /* the watch's end at disconnect is no news */
    unsigned char *is_running;
    uint64_t t_first_sent, t_last_bound, t_last_created, t_last_running;
    char first_error[256];
} bench_t;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "p-000123" -> 123; -1 for a name of no pod of this run. */
static int pod_index(const bench_t *b, const char *name)
{
    if (name == NULL || strncmp(name, "p-", 2) != 0)
        return -1;
    char *end;
    long i = strtol(name + 2, &end, 10);
    return *end == '\0' && i >= 0 && i < b->pods ? (int)i : -1;
}

static kr_value_t *pod_obj(kr_arena_t *a, const char *ns, int i)
{
    char doc[768];
    snprintf(doc, sizeof doc,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p-%06d\","
             "\"namespace\":\"%s\",\"labels\":{\"app\":\"bench\"}},"
             "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"registry.k8s.io/pause:3.9\","
             "\"resources\":{\"requests\":{\"cpu\":\"10m\",\"memory\":\"16Mi\"}}}]}}",
             i, ns);
    kr_value_t *v = NULL;
    if (kr_json_decode(a, doc, strlen(doc), &v, NULL) < 0)
        abort();
    return v;
}

static void send_next(bench_t *b);

static bench_t B;

static void on_created(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    bench_t *b = &B;
    int i = (int)(intptr_t)ud;
    b->answered++;
    if (r->code == 201) {
        b->created++;
        b->t_last_created = now_us();
        b->created_us[i] = b->t_last_created;
    } else {
        if (b->create_errors++ == 0)
            snprintf(b->first_error, sizeof b->first_error, "%d %.200s", r->code,
                     r->message ? r->message : "");
    }
    send_next(b);
}

static void send_next(bench_t *b)
{
    if (b->sent >= b->pods)
        return;
    int i = b->sent++;
    kr_arena_t *a = kr_arena_new(2048);
    kr_request_t req = {.op = "create", .res = "v1/pods", .ns = b->ns, .obj = pod_obj(a, b->ns, i)};
    uint64_t t = now_us();
    if (b->t_first_sent == 0)
        b->t_first_sent = t;
    b->sent_us[i] = t;
    kr_error_t err;
    if (kr_bus_send(b->bus, &req, on_created, (void *)(intptr_t)i, 60000, NULL, &err) < 0) {
        b->answered++;
        if (b->create_errors++ == 0)
            snprintf(b->first_error, sizeof b->first_error, "send: %.200s", err.message);
    }
    kr_arena_destroy(&a);
}

static void on_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud);

static int watch_from(bench_t *b, const char *rv, kr_error_t *err)
{
    kr_request_t wr = {.res = "v1/pods", .ns = b->ns, .rv = rv};
    return kr_bus_watch(b->bus, &wr, on_event, b, NULL, err);
}

static void on_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)id;
    bench_t *b = ud;
    if (b->done)
        return;
    if (strcmp(ev->type, "ERROR") == 0) {
        /* the broker ends a watch that lags; go on from the last event */
        kr_error_t err;
        if (++b->rewatches > 20 || watch_from(b, b->rv, &err) < 0) {
            fprintf(stderr, "bench_scheduler: the pod watch ended: %s\n",
                    kr_value_map_str(ev->obj, "message") ?: "?");
            exit(1);
        }
        return;
    }
    const char *rv = kr_value_as_str(kr_value_get(ev->obj, "metadata.resourceVersion"));
    if (rv != NULL)
        snprintf(b->rv, sizeof b->rv, "%s", rv);
    if (strcmp(ev->type, "ADDED") != 0 && strcmp(ev->type, "MODIFIED") != 0)
        return;
    int i = pod_index(b, kr_value_as_str(kr_value_get(ev->obj, "metadata.name")));
    if (i < 0)
        return;
    uint64_t t = now_us();
    const char *node = kr_value_as_str(kr_value_get(ev->obj, "spec.nodeName"));
    if (node != NULL && *node && b->bound_us[i] == 0) {
        b->bound_us[i] = t;
        b->bound++;
        b->t_last_bound = t;
    }
    const char *phase = kr_value_as_str(kr_value_get(ev->obj, "status.phase"));
    if (phase != NULL && strcmp(phase, "Running") == 0 && !b->is_running[i]) {
        b->is_running[i] = 1;
        b->running++;
        b->t_last_running = t;
    }
}

/* Nodes <prefix>-<i> with Ready True, listed 500 at a time (5,000 Nodes
 * are more than one bus message holds). */
static int ready_nodes(bench_t *b)
{
    kr_arena_t *a = kr_arena_new(0);
    int n = 0;
    size_t plen = strlen(b->prefix);
    char cont[512] = "";
    for (int page = 0; page < 10000; page++) {
        kr_value_t *opts = kr_value_map(a);
        kr_value_map_set(a, opts, "limit", kr_value_int(a, 500));
        if (cont[0])
            kr_value_map_set(a, opts, "continue", kr_value_str(a, cont));
        kr_request_t req = {.op = "list", .res = "v1/nodes", .opts = opts};
        kr_reply_t r;
        if (kr_bus_call(b->bus, &req, a, &r, 60000, NULL) < 0 || r.code != 200)
            break;
        const kr_value_t *items = kr_value_map_get(r.obj, "items");
        for (size_t i = 0; i < kr_value_len(items); i++) {
            const kr_value_t *node = kr_value_array_get(items, i);
            const char *name = kr_value_as_str(kr_value_get(node, "metadata.name")) ?: "";
            if (strncmp(name, b->prefix, plen) != 0 || name[plen] != '-')
                continue;
            const kr_value_t *conds = kr_value_get(node, "status.conditions");
            for (size_t c = 0; c < kr_value_len(conds); c++) {
                const kr_value_t *cond = kr_value_array_get(conds, c);
                if (strcmp(kr_value_map_str(cond, "type") ?: "", "Ready") == 0 &&
                    strcmp(kr_value_map_str(cond, "status") ?: "", "True") == 0)
                    n++;
            }
        }
        const char *next = kr_value_as_str(kr_value_get(r.obj, "metadata.continue"));
        if (next == NULL || *next == '\0')
            break;
        snprintf(cont, sizeof cont, "%s", next);
        kr_arena_reset(a);
    }
    kr_arena_destroy(&a);
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_scheduler --server ENDPOINT --nodes N --pods P [--window W] "
                    "[--prefix hollow-node] [--timeout S] [--ns bench]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *server = NULL;
    int nodes = 0, timeout_s = 600;
    B.ns = "bench";
    B.prefix = "hollow-node";
    B.window = 256;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        if (strcmp(argv[i], "--server") == 0)
            server = v;
        else if (strcmp(argv[i], "--nodes") == 0)
            nodes = atoi(v);
        else if (strcmp(argv[i], "--pods") == 0)
            B.pods = atoi(v);
        else if (strcmp(argv[i], "--window") == 0)
            B.window = atoi(v);
        else if (strcmp(argv[i], "--prefix") == 0)
            B.prefix = v;
        else if (strcmp(argv[i], "--timeout") == 0)
            timeout_s = atoi(v);
        else if (strcmp(argv[i], "--ns") == 0)
            B.ns = v;
        else
            usage();
        i++;
    }
    if (server == NULL || nodes < 1 || B.pods < 1 || B.window < 1)
        usage();
    B.sent_us = calloc((size_t)B.pods, sizeof *B.sent_us);
    B.bound_us = calloc((size_t)B.pods, sizeof *B.bound_us);
    B.created_us = calloc((size_t)B.pods, sizeof *B.created_us);
    B.is_running = calloc((size_t)B.pods, 1);
    kr_error_t err;
    B.bus = kr_bus_connect(server, &err);
    if (B.bus == NULL || B.sent_us == NULL || B.bound_us == NULL || B.created_us == NULL ||
        B.is_running == NULL) {
        fprintf(stderr, "bench_scheduler: %s\n", B.bus ? "out of memory" : err.message);
        return 1;
    }

    uint64_t t0 = now_us();
    int ready = 0;
    while ((ready = ready_nodes(&B)) < nodes) {
        if (now_us() - t0 > (uint64_t)timeout_s * 1000000u) {
            fprintf(stderr, "bench_scheduler: %d of %d nodes Ready after %d s\n", ready, nodes,
                    timeout_s);
            return 1;
        }
        usleep(500000);
    }
    printf("  nodes Ready            %d after %.1f s\n", ready, (now_us() - t0) / 1e6);

    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *nsobj = NULL;
    char doc[256];
    snprintf(doc, sizeof doc,
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", B.ns);
    kr_json_decode(a, doc, strlen(doc), &nsobj, NULL);
    kr_request_t nsreq = {.op = "create", .res = "v1/namespaces", .obj = nsobj};
    kr_reply_t r;
    if (kr_bus_call(B.bus, &nsreq, a, &r, 30000, &err) < 0 || (r.code != 201 && r.code != 409)) {
        fprintf(stderr, "bench_scheduler: namespace %s: %d %s\n", B.ns, r.code,
                r.message ? r.message : err.message);
        return 1;
    }
    kr_request_t lr = {.op = "list", .res = "v1/pods", .ns = B.ns};
    if (kr_bus_call(B.bus, &lr, a, &r, 60000, &err) < 0 || r.code != 200) {
        fprintf(stderr, "bench_scheduler: list pods failed\n");
        return 1;
    }
    if (kr_value_len(kr_value_map_get(r.obj, "items")) > 0) {
        fprintf(stderr, "bench_scheduler: namespace %s has pods already\n", B.ns);
        return 1;
    }
    snprintf(B.rv, sizeof B.rv, "%s",
             kr_value_as_str(kr_value_get(r.obj, "metadata.resourceVersion")) ?: "");
    if (watch_from(&B, B.rv, &err) < 0) {
        fprintf(stderr, "bench_scheduler: watch: %s\n", err.message);
        return 1;
    }
    kr_arena_destroy(&a);

    for (int i = 0; i < B.window; i++)
        send_next(&B);
    /* until every pod is bound, or nothing moved for a minute */
    uint64_t last_progress = now_us();
    int last_seen = 0;
    while (B.bound < B.pods || B.answered < B.pods) {
        if (kr_bus_dispatch(B.bus, 200, NULL) < 0)
            break;
        if (B.bound + B.answered != last_seen) {
            last_seen = B.bound + B.answered;
            last_progress = now_us();
        } else if (now_us() - last_progress > 60000000u) {
            break;
        }
        if (B.answered == B.pods && B.bound >= B.created)
            break; /* every created pod is bound; the others failed */
    }
    /* the hollow nodes run them: until every bound pod is Running (30 s more at most) */
    uint64_t wait_end = now_us() + 30000000u;
    while (B.running < B.bound && now_us() < wait_end)
        kr_bus_dispatch(B.bus, 200, NULL);

    /* from the create sent (what a client sees), and from its answer (the
     * pod exists: the scheduler's part alone, without the window's queue) */
    uint64_t *lat = calloc((size_t)B.pods, sizeof *lat),
             *lat2 = calloc((size_t)B.pods, sizeof *lat2);
    size_t n = 0, n2 = 0;
    for (int i = 0; i < B.pods; i++) {
        if (B.bound_us[i] != 0 && B.sent_us[i] != 0)
            lat[n++] = B.bound_us[i] - B.sent_us[i];
        if (B.bound_us[i] != 0 && B.created_us[i] != 0)
            lat2[n2++] = B.bound_us[i] > B.created_us[i] ? B.bound_us[i] - B.created_us[i] : 0;
    }
    qsort(lat, n, sizeof *lat, cmp_u64);
    qsort(lat2, n2, sizeof *lat2, cmp_u64);
    double create_s = (B.t_last_created - B.t_first_sent) / 1e6;
    double bind_s = (B.t_last_bound - B.t_first_sent) / 1e6;
    printf("  pods created           %d of %d in %.2f s (%.0f creates/s, window %d)\n", B.created,
           B.pods, create_s, B.created / (create_s > 0 ? create_s : 1), B.window);
    if (B.create_errors)
        printf("  create errors          %d (first: %s)\n", B.create_errors, B.first_error);
    printf("  pods bound             %d in %.2f s: %.0f pods/s (first create to last bound)%s\n",
           B.bound, bind_s, B.bound / (bind_s > 0 ? bind_s : 1),
           B.bound < B.pods ? "  (INCOMPLETE: not every pod was bound)" : "");
    if (n > 0)
        printf("  create-to-bound        p50 %.1f ms  p99 %.1f ms  max %.1f ms\n",
               lat[n / 2] / 1000.0, lat[n * 99 / 100] / 1000.0, lat[n - 1] / 1000.0);
    if (n2 > 0)
        printf("  created-to-bound       p50 %.1f ms  p99 %.1f ms  max %.1f ms (from the 201)\n",
               lat2[n2 / 2] / 1000.0, lat2[n2 * 99 / 100] / 1000.0, lat2[n2 - 1] / 1000.0);
    if (B.rewatches)
        printf("  pod watch restarted    %d times (the broker ended it: lag)\n", B.rewatches);
    printf("  pods Running           %d, the last %.2f s after the first create\n", B.running,
           B.running ? (B.t_last_running - B.t_first_sent) / 1e6 : 0.0);
    free(lat);
    free(lat2);
    free(B.sent_us);
    free(B.created_us);
    free(B.bound_us);
    free(B.is_running);
    B.done = true;
    kr_bus_destroy(&B.bus);
    kr_bus_shutdown();
    return B.bound == B.pods ? 0 : 3;
}
