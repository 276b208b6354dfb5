/* Pod network set-up time: what network-bridge's pod_add does for one
 * sandbox (an address from the IPAM files, a veth pair on the bridge with
 * hairpin on, eth0's address, lo up, the default route), then pod_del
 * (the veth deleted, the address released).  Prints figures only.
 *
 *   bench_network [pods] [threads]   (default 100 pods, 1 thread; root)
 *
 * The bench runs in a network namespace of its own (unshare), holding the
 * bridge; each pod's namespace is made beforehand by a child process (the
 * runtime's part, not timed) and named by /proc/<pid>/ns/net.  With
 * threads > 1 the pods are wired in parallel, as the agent's workers do.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipam.h"
#include "link.h"

#define PODS_MAX 250

static int npods = 100, nthreads = 1;
static pid_t kids[PODS_MAX];
static char ns_path[PODS_MAX][64], ids[PODS_MAX][40];
static double add_ms[PODS_MAX], del_ms[PODS_MAX];
static br_ipam_t *ipam;
static int bridge_index;
static int next_pod;
static pthread_mutex_t next_mu = PTHREAD_MUTEX_INITIALIZER;
static int failures;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int take(void)
{
    pthread_mutex_lock(&next_mu);
    int i = next_pod < npods ? next_pod++ : -1;
    pthread_mutex_unlock(&next_mu);
    return i;
}

/* The plugin's pod_add: address, then links. */
static void *adder(void *arg)
{
    (void)arg;
    for (int i; (i = take()) >= 0;) {
        kr_error_t err;
        double t0 = now_ms();
        struct in_addr ip;
        char host_if[IFNAMSIZ];
        br_link_veth_name(ids[i], host_if);
        br_pod_link_t pl = {.netns_path = ns_path[i],
                            .host_if = host_if,
                            .bridge_ifindex = bridge_index,
                            .mtu = 1500,
                            .hairpin = true,
                            .gw = br_ipam_gateway(ipam),
                            .prefix = br_ipam_prefix(ipam)};
        if (br_ipam_alloc(ipam, ids[i], &ip, NULL, &err) < 0 ||
            (pl.ip = ip, br_link_pod_add(&pl, &err)) < 0) {
            fprintf(stderr, "pod %d: %s\n", i, err.message);
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
            continue;
        }
        add_ms[i] = now_ms() - t0;
    }
    return NULL;
}

static void *deleter(void *arg)
{
    (void)arg;
    for (int i; (i = take()) >= 0;) {
        kr_error_t err;
        double t0 = now_ms();
        char host_if[IFNAMSIZ];
        br_link_veth_name(ids[i], host_if);
        if (br_link_del(host_if, &err) < 0 || br_ipam_release(ipam, ids[i], &err) < 0) {
            fprintf(stderr, "pod %d: %s\n", i, err.message);
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
            continue;
        }
        del_ms[i] = now_ms() - t0;
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, double wall)
{
    qsort(v, (size_t)npods, sizeof *v, cmp_d);
    double sum = 0;
    for (int i = 0; i < npods; i++)
        sum += v[i];
    printf("%-8s pods=%d threads=%d  mean %.2f ms  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  "
           "(%.0f pods/s)\n",
           what, npods, nthreads, sum / npods, v[npods / 2], v[npods * 9 / 10],
           v[(npods * 99) / 100], v[npods - 1], wall > 0 ? npods * 1000.0 / wall : 0.0);
}

static void run(void *(*fn)(void *), double *wall)
{
    pthread_t th[16];
    next_pod = 0;
    double t0 = now_ms();
    for (int t = 0; t < nthreads; t++)
        pthread_create(&th[t], NULL, fn, NULL);
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    *wall = now_ms() - t0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        npods = atoi(argv[1]);
    if (argc > 2)
        nthreads = atoi(argv[2]);
    if (npods < 1 || npods > PODS_MAX || nthreads < 1 || nthreads > 16) {
        fprintf(stderr, "usage: bench_network [pods 1..%d] [threads 1..16]\n", PODS_MAX);
        return 2;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "bench_network: unshare(CLONE_NEWNET): %s (needs root)\n", strerror(errno));
        return 1;
    }
    char dir[] = "/tmp/bench_network.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    kr_error_t err;
    ipam = br_ipam_open(dir, "10.244.1.0/24", &err);
    if (ipam == NULL ||
        br_link_bridge_ensure("kraal0", 1500, br_ipam_gateway(ipam), 24, &bridge_index, &err) < 0) {
        fprintf(stderr, "bench_network: %s\n", err.message);
        return 1;
    }
    /* the sandboxes' namespaces: the runtime's work, made before the clock */
    for (int i = 0; i < npods; i++) {
        int p[2];
        if (pipe(p) < 0)
            return 1;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            if (unshare(CLONE_NEWNET) < 0)
                _exit(1);
            if (write(p[1], "x", 1) != 1)
                _exit(1);
            pause();
            _exit(0);
        }
        close(p[1]);
        char c;
        if (read(p[0], &c, 1) != 1) {
            fprintf(stderr, "bench_network: a namespace child failed\n");
            return 1;
        }
        close(p[0]);
        kids[i] = pid;
        snprintf(ns_path[i], sizeof ns_path[i], "/proc/%d/ns/net", (int)pid);
        snprintf(ids[i], sizeof ids[i], "%016x%016x", (unsigned)i * 2654435761u, (unsigned)pid);
    }
    double wall_add, wall_del;
    run(adder, &wall_add);
    printf("bench_network: pod network set-up through netlink (network-bridge)\n");
    report("pod_add", add_ms, wall_add);
    /* idempotence: ADD again for every pod (an agent's restart) */
    double t0 = now_ms();
    next_pod = 0;
    adder(NULL);
    double readd = (now_ms() - t0) / npods;
    run(deleter, &wall_del);
    printf("%-8s pods=%d          mean %.2f ms (ADD of a wired sandbox, agent restart)\n", "re-add",
           npods, readd);
    report("pod_del", del_ms, wall_del);
    printf("failures %d, addresses left %zu\n", failures, br_ipam_used(ipam));
    for (int i = 0; i < npods; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    br_ipam_destroy(&ipam);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return failures > 0;
}
