/* Bus round trips: "ping" answered by the broker and "echo" routed through
 * a provider, over inproc, ipc and tcp, with 1 and 16 client threads each
 * doing synchronous kr_bus_call in a loop.  Prints figures only.
 *
 *   bench_bus [seconds-per-case] [curve]   (default 2)
 *
 * With "curve" the tcp endpoint is a CURVE server, as `kraal server` makes
 * it (docs/bus.md), and the clients' key is in its allow-list as a node:
 * the tcp rows then include the encryption and the broker's identity
 * handling (its `auth` rewrite; no gate, no authorizer). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include <kraal/bus.h>
#include <kraal/loop.h>

#include "broker.h"

typedef struct worker {
    pthread_t th;
    const char *endpoint;
    const char *op;
    uint64_t ms;
    size_t n;
    uint32_t *lat_us; /* one per call, up to cap */
    size_t cap;
    int errors;
} worker_t;

static atomic_int go;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    kr_bus_t *bus = kr_bus_connect(w->endpoint, NULL);
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t req = {.op = w->op};
    kr_reply_t r;
    /* warm up the connection before the clock starts */
    for (int i = 0; i < 100; i++) {
        kr_bus_call(bus, &req, a, &r, 5000, NULL);
        kr_arena_reset(a);
    }
    while (!atomic_load(&go))
        usleep(100);
    struct timespec t0, t1;
    uint64_t end = kr_time_ms() + w->ms;
    while (kr_time_ms() < end) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (kr_bus_call(bus, &req, a, &r, 5000, NULL) < 0 || r.code != 200)
            w->errors++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        kr_arena_reset(a);
        if (w->n < w->cap)
            w->lat_us[w->n] =
                (uint32_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
        w->n++;
    }
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void run_case(const char *label, const char *endpoint, const char *op, int clients,
                     uint64_t ms)
{
    worker_t *w = calloc((size_t)clients, sizeof *w);
    atomic_store(&go, 0);
    for (int i = 0; i < clients; i++) {
        w[i].endpoint = endpoint;
        w[i].op = op;
        w[i].ms = ms;
        w[i].cap = 4000000;
        w[i].lat_us = malloc(w[i].cap * sizeof *w[i].lat_us);
        pthread_create(&w[i].th, NULL, worker_main, &w[i]);
    }
    usleep(200 * 1000);
    uint64_t t0 = kr_time_ms();
    atomic_store(&go, 1);
    size_t total = 0, stored = 0;
    int errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(w[i].th, NULL);
        total += w[i].n;
        stored += w[i].n < w[i].cap ? w[i].n : w[i].cap;
        errors += w[i].errors;
    }
    uint64_t took = kr_time_ms() - t0;
    uint32_t *all = malloc((stored ? stored : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        size_t n = w[i].n < w[i].cap ? w[i].n : w[i].cap;
        memcpy(all + k, w[i].lat_us, n * sizeof *all);
        k += n;
        free(w[i].lat_us);
    }
    qsort(all, stored, sizeof *all, cmp_u32);
    double rate = took ? (double)total * 1000.0 / (double)took : 0;
    printf("%-7s %-5s clients=%-2d  %9.0f round trips/s  p50=%5u us  p99=%6u us  errors=%d\n",
           label, op, clients, rate, stored ? all[stored / 2] : 0,
           stored ? all[(size_t)((double)stored * 0.99)] : 0, errors);
    fflush(stdout);
    free(all);
    free(w);
}

typedef struct echo_provider {
    pthread_t th;
    kr_loop_t *loop;
    atomic_int ready;
} echo_provider_t;

static void on_echo(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    (void)ud;
    kr_call_reply(call, 200, kr_value_map_get(kr_call_msg(call), "obj"), NULL);
}

static void *provider_main(void *arg)
{
    echo_provider_t *p = arg;
    kr_error_t err;
    p->loop = kr_loop_new(&err);
    kr_bus_t *bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    kr_bus_attach(bus, p->loop, &err);
    if (kr_bus_serve(bus, "echo", NULL, on_echo, NULL, 5000, &err) < 0) {
        fprintf(stderr, "serve: %s\n", err.message);
        exit(1);
    }
    atomic_store(&p->ready, 1);
    kr_loop_run(p->loop, &err);
    kr_bus_destroy(&bus);
    kr_loop_destroy(&p->loop);
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t ms = (argc > 1 ? (uint64_t)atof(argv[1]) * 1000 : 2000);
    char dir[] = "/tmp/kraal-bench-bus-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char sock[128], ipc[160];
    snprintf(sock, sizeof sock, "%s/bus.sock", dir);
    snprintf(ipc, sizeof ipc, "ipc://%s", sock);
    const char *tcp = "tcp://127.0.0.1:17440";
    kr_broker_opts_t o = {.ipc_path = sock, .tcp_endpoint = tcp};
    kr_error_t err;
    bool curve = argc > 2 && strcmp(argv[2], "curve") == 0;
    kr_curve_keypair_t server, client;
    char clients[160];
    if (curve) {
        snprintf(clients, sizeof clients, "%s/clients", dir);
        FILE *f = fopen(clients, "w");
        if (f == NULL || zmq_curve_keypair(server.public_key, server.secret_key) != 0 ||
            zmq_curve_keypair(client.public_key, client.secret_key) != 0) {
            fprintf(stderr, "curve keys\n");
            return 1;
        }
        fprintf(f, "%s system:node:bench system:nodes,system:authenticated\n", client.public_key);
        fclose(f);
        o.curve = &server;
        o.curve_clients = clients;
        if (kr_bus_set_curve(server.public_key, client.public_key, client.secret_key, &err) < 0) {
            fprintf(stderr, "curve: %s\n", err.message);
            return 1;
        }
    }
    kr_broker_t *b = kr_broker_new(&o, &err);
    if (b == NULL || kr_broker_start(b, &err) < 0) {
        fprintf(stderr, "broker: %s\n", err.message);
        return 1;
    }
    echo_provider_t prov = {0};
    pthread_create(&prov.th, NULL, provider_main, &prov);
    while (!atomic_load(&prov.ready))
        usleep(1000);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("bench_bus: %ld CPUs, %.1f s per case, tcp %s\n", cpus, (double)ms / 1000.0,
           curve ? "with CURVE" : "plain");
    const struct {
        const char *label, *ep;
    } eps[] = {{"inproc", KR_BUS_INPROC_ENDPOINT}, {"ipc", ipc}, {"tcp", tcp}};
    for (size_t e = 0; e < 3; e++) {
        run_case(eps[e].label, eps[e].ep, "ping", 1, ms);
        run_case(eps[e].label, eps[e].ep, "ping", 16, ms);
    }
    run_case("inproc", KR_BUS_INPROC_ENDPOINT, "echo", 1, ms);
    run_case("inproc", KR_BUS_INPROC_ENDPOINT, "echo", 16, ms);
    run_case("ipc", ipc, "echo", 16, ms);
    kr_broker_stats_t st;
    kr_broker_stats(b, &st);
    printf("broker: msgs_in=%llu msgs_out=%llu backlogged=%llu\n", (unsigned long long)st.msgs_in,
           (unsigned long long)st.msgs_out, (unsigned long long)st.backlogged);
    kr_loop_stop(prov.loop);
    pthread_join(prov.th, NULL);
    kr_broker_destroy(&b);
    kr_bus_shutdown();
    if (curve)
        unlink(clients);
    rmdir(dir);
    return 0;
}
