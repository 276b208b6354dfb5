/* Store durability costs: the fsync of this machine, store-sqlite's txn
 * throughput for batches of 1, 16, 256 and 4096 writes (each txn one
 * durable commit), and the core's group commit fed by one thread.  Prints
 * figures only.
 *
 *   bench_store [dir] [seconds-per-case]   (default: a new dir under /tmp, 2 s)
 *
 * The store-sqlite plugin is loaded through the plugin host, as kraal server
 * does; the directory should be on the disk the data directory will use.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kraal/loop.h>
#include <kraal/store.h>

#include "broker.h"
#include "commit.h"
#include "host.h"

#define VALUE_SIZE 1024 /* about a small Pod in msgpack */

static const kr_store_ops_t *ops;
static void *store;

static int capture(void *ud, const kr_store_ops_t *o, void *self, kr_error_t *err)
{
    (void)ud;
    (void)err;
    ops = o;
    store = self;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Overwrites one 4 KiB block and fsyncs it, as a WAL append does. */
static void bench_fsync(const char *dir, double secs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/fsync.bench", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        return;
    }
    static char block[4096];
    memset(block, 'x', sizeof block);
    enum { MAX = 100000 };
    static double lat[MAX];
    size_t n = 0;
    off_t off = 0;
    double end = now_s() + secs;
    while (now_s() < end && n < MAX) {
        if (pwrite(fd, block, sizeof block, off) != (ssize_t)sizeof block)
            break;
        double t0 = now_s();
        if (fsync(fd) < 0)
            break;
        lat[n++] = now_s() - t0;
        off = (off + (off_t)sizeof block) % (1 << 20);
    }
    close(fd);
    unlink(path);
    if (n == 0)
        return;
    qsort(lat, n, sizeof lat[0], cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += lat[i];
    printf("fsync (4 KiB pwrite + fsync)   %6zu fsyncs  mean %7.1f us  p50 %7.1f us  p99 %7.1f "
           "us\n",
           n, sum / (double)n * 1e6, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6);
}

static int64_t next_rev;
static uint64_t next_key;

static void fill_puts(kr_store_write_t *w, char (*keys)[40], size_t n, const char *value)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "core/pods/bench/pod-%010" PRIu64, next_key++);
        w[i] = (kr_store_write_t){
            .op = KR_STORE_PUT,
            .key = keys[i],
            .key_len = strlen(keys[i]),
            .value = value,
            .value_len = VALUE_SIZE,
            .rev = ++next_rev,
        };
    }
}

static void bench_txn(size_t batch, double secs, const char *value)
{
    kr_store_write_t *w = calloc(batch, sizeof *w);
    char(*keys)[40] = calloc(batch, sizeof *keys);
    kr_error_t err;
    size_t txns = 0;
    double t0 = now_s(), end = t0 + secs;
    /* At least a few transactions, however long the big ones take. */
    while (now_s() < end || txns < 3) {
        fill_puts(w, keys, batch, value);
        if (ops->txn(store, w, batch, &err) < 0) {
            fprintf(stderr, "txn: %s\n", err.message);
            break;
        }
        txns++;
    }
    double el = now_s() - t0;
    printf("txn of %4zu writes               %6zu txns  %9.2f ms/txn  %9.0f txns/s  %9.0f "
           "writes/s\n",
           batch, txns, el / (double)txns * 1e3, (double)txns / el, (double)(txns * batch) / el);
    free(keys);
    free(w);
}

/* One thread submits N writes at once and takes the results as they come,
 * as the broker thread does under load. */
static void bench_commit(size_t n, const char *value)
{
    kr_error_t err;
    kr_commit_t *c = kr_commit_new(ops, store, &err);
    if (c == NULL) {
        fprintf(stderr, "commit: %s\n", err.message);
        return;
    }
    kr_commit_item_t *items = calloc(n, sizeof *items);
    kr_store_write_t *w = calloc(n, sizeof *w);
    char(*keys)[40] = calloc(n, sizeof *keys);
    fill_puts(w, keys, n, value);
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        items[i].w = w[i];
        kr_commit_submit(c, &items[i]);
    }
    size_t done = 0, failed = 0;
    while (done < n) {
        for (kr_commit_item_t *it = kr_commit_take_done(c); it; it = it->next, done++)
            failed += it->status < 0 || it->w.result < 0;
        if (done < n)
            usleep(200);
    }
    double el = now_s() - t0;
    kr_commit_stats_t st;
    kr_commit_stats(c, &st);
    printf("kr_commit, %zu writes submitted  %6" PRIu64 " txns  %9.1f ms total  %9.0f writes/s  "
           "(largest batch %" PRIu64 ", failed %zu)\n",
           n, st.batches, el * 1e3, (double)n / el, st.max_batch, failed);
    kr_commit_destroy(&c);
    free(keys);
    free(w);
    free(items);
}

static int skip_kv(const kr_store_kv_t *kv, void *ud)
{
    (void)kv;
    (void)ud;
    return 0;
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/kraal-bench-store-XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    if (dir == NULL) {
        perror("mkdtemp");
        return 1;
    }
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    kr_broker_t *b = kr_broker_new(&bo, &err);
    if (b == NULL || kr_broker_start(b, &err) < 0) {
        fprintf(stderr, "broker: %s\n", err.message);
        return 1;
    }
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT,
                         .data_dir = dir,
                         .run_dir = dir,
                         .register_store = capture};
    kr_host_t *host = kr_host_new(&ho);
    kr_plugin_spec_t spec = {.plugin = "store-sqlite"};
    if (kr_host_start(host, &spec, &err) < 0) {
        fprintf(stderr, "store-sqlite: %s\n", err.message);
        kr_host_destroy(&host);
        kr_broker_destroy(&b);
        kr_bus_shutdown();
        return 1;
    }
    int64_t rev = 0;
    if (ops->range(store, skip_kv, NULL, &rev, NULL, &err) < 0) {
        fprintf(stderr, "range: %s\n", err.message);
        return 1;
    }
    next_rev = rev;
    next_key = (uint64_t)rev;
    printf("bench_store: dir %s, %.1f s per case, values of %d bytes\n", dir, secs, VALUE_SIZE);

    static char value[VALUE_SIZE];
    memset(value, 'v', sizeof value);
    bench_fsync(dir, secs);
    static const size_t batches[] = {1, 16, 256, 4096};
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
        bench_txn(batches[i], secs, value);
    bench_commit(50000, value);

    kr_host_destroy(&host);
    kr_broker_destroy(&b);
    kr_bus_shutdown();
    if (argc <= 1) {
        char path[4096];
        static const char *const files[] = {"kraal.db", "kraal.db-wal", "kraal.db-shm"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    return 0;
}
