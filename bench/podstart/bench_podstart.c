/* The client of bench/podstart (run.sh drives it): pod start latency through
 * a running server's bus and, for the floor and the peer, the same latency
 * of N commands launched at once.  Prints figures only, never pass/fail.
 *
 *   bench_podstart --endpoint EP node NAME SECONDS
 *       waits until Node NAME is Ready (the agent registered), at most SECONDS
 *   bench_podstart --endpoint EP pods NS NODE COUNT POD.yaml SECONDS
 *       creates COUNT pods from POD.yaml (metadata.name <name>-<i>,
 *       spec.nodeName NODE), all COUNT in flight on one connection, and
 *       times each from its create's send to the watch event that shows it
 *       Ready; gives up after SECONDS
 *   bench_podstart --endpoint EP delete NS GRACE SECONDS
 *       deletes every pod of NS with gracePeriodSeconds GRACE and waits
 *       until the watch saw each one go
 *   bench_podstart spawn COUNT LOGDIR -- ARGV...
 *       starts ARGV COUNT times at once (every "%d" in an argument becomes
 *       the index), each with stdin /dev/null and its output in LOGDIR/<i>.log,
 *       and times each from its spawn to its exit (which must be 0)
 *
 * Option --samples FILE appends one line "<label> <count> <microseconds>"
 * per pod or command (run.sh pools the runs from it); --label names the
 * result line (default "kraal" for pods, "spawn" for spawn).  The result:
 *
 *   LABEL n=COUNT ok=K p50_ms=... p99_ms=... max_ms=... all_ms=... errors=E
 *
 * all_ms is from the first send (spawn) to the last Ready (exit).  Pods add
 * a second line with the p50 of each step as the watch saw it:
 *
 *   LABEL-steps n=COUNT api_ms=... status_ms=... running_ms=... ready_ms=... t0_mono_us=...
 *
 * api: the create's reply; status: the agent's first status write (the
 * pod's first MODIFIED event); running: the first event whose container
 * state is running; ready: the Ready condition True.  t0_mono_us is the
 * first send on CLOCK_MONOTONIC, to line the run up with a trace (perf
 * record -k mono).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/log.h>
#include <kraal/value.h>

#define CALL_TIMEOUT_MS 30000
#define MAX_COUNT       10000

extern char **environ;

static const char *endpoint, *samples_path, *label;

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

/* Nearest rank: the smallest sample with at least p of them at or below it
 * (the p99 of 50 samples is the largest). */
static double pct_ms(const uint64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1000.0;
}

/* Prints the result line and appends the samples.  `lat` holds the
 * latencies of the `ok` successes; it is sorted here. */
static void report(const char *what, int count, uint64_t *lat, size_t ok, uint64_t all_us,
                   long errors)
{
    qsort(lat, ok, sizeof *lat, cmp_u64);
    printf("%s n=%d ok=%zu p50_ms=%.1f p99_ms=%.1f max_ms=%.1f all_ms=%.1f errors=%ld\n", what,
           count, ok, pct_ms(lat, ok, 0.50), pct_ms(lat, ok, 0.99), ok ? lat[ok - 1] / 1000.0 : 0,
           all_us / 1000.0, errors);
    if (samples_path != NULL) {
        FILE *f = fopen(samples_path, "a");
        if (f == NULL) {
            fprintf(stderr, "bench_podstart: %s: %s\n", samples_path, strerror(errno));
            return;
        }
        for (size_t i = 0; i < ok; i++)
            fprintf(f, "%s %d %llu\n", what, count, (unsigned long long)lat[i]);
        fclose(f);
    }
    fflush(stdout);
}

static kr_bus_t *connect_or_die(void)
{
    kr_error_t err;
    kr_bus_t *bus = kr_bus_connect(endpoint, &err);
    if (bus == NULL) {
        fprintf(stderr, "bench_podstart: cannot connect to %s: %s\n", endpoint, err.message);
        exit(1);
    }
    return bus;
}

/* ---- the node ------------------------------------------------------------------- */

static bool cond_true(const kr_value_t *obj, const char *type)
{
    const kr_value_t *conds = kr_value_get(obj, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        const char *t = kr_value_map_str(c, "type"), *s = kr_value_map_str(c, "status");
        if (t != NULL && strcmp(t, type) == 0)
            return s != NULL && strcmp(s, "True") == 0;
    }
    return false;
}

static int wait_node(const char *name, double seconds)
{
    kr_bus_t *bus = connect_or_die();
    kr_arena_t *a = kr_arena_new(0);
    uint64_t deadline = now_us() + (uint64_t)(seconds * 1e6);
    int rc = 1;
    while (now_us() < deadline) {
        kr_arena_reset(a);
        kr_request_t req = {.op = "get", .res = "v1/nodes", .name = name};
        kr_reply_t reply;
        if (kr_bus_call(bus, &req, a, &reply, 2000, NULL) == 0 && reply.code == 200 &&
            cond_true(reply.obj, "Ready")) {
            rc = 0;
            break;
        }
        usleep(100000);
    }
    if (rc != 0)
        fprintf(stderr, "bench_podstart: node %s not Ready after %.0f s\n", name, seconds);
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    return rc;
}

/* ---- pods ----------------------------------------------------------------------- */

typedef struct pod {
    char name[128];
    uint64_t sent, created, status, running, ready;
    bool failed, deleted;
} pod_t;

typedef struct run {
    pod_t *pods;
    int count;
    int ready, gone, errors;
    uint64_t watch_id;
    bool watch_ended;
} run_t;

static pod_t *pod_by_name(run_t *r, const char *name)
{
    for (int i = 0; name != NULL && i < r->count; i++)
        if (strcmp(r->pods[i].name, name) == 0)
            return &r->pods[i];
    return NULL;
}

static bool container_running(const kr_value_t *obj)
{
    const kr_value_t *st = kr_value_get(obj, "status.containerStatuses");
    if (kr_value_len(st) == 0)
        return false;
    for (size_t i = 0; i < kr_value_len(st); i++)
        if (kr_value_get(kr_value_array_get(st, i), "state.running") == NULL)
            return false;
    return true;
}

static void on_pod_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)id;
    run_t *r = ud;
    uint64_t t = now_us();
    if (strcmp(ev->type, "ERROR") == 0) {
        fprintf(stderr, "bench_podstart: the watch ended: %s\n",
                kr_value_map_str(ev->obj, "message") ?: "?");
        r->watch_ended = true;
        return;
    }
    pod_t *p = pod_by_name(r, kr_value_as_str(kr_value_get(ev->obj, "metadata.name")));
    if (p == NULL)
        return;
    if (strcmp(ev->type, "DELETED") == 0) {
        if (!p->deleted)
            r->gone++;
        p->deleted = true;
        p->failed = p->ready == 0; /* a pod run stops waiting for it */
        return;
    }
    if (strcmp(ev->type, "MODIFIED") == 0 && p->status == 0)
        p->status = t;
    if (p->running == 0 && container_running(ev->obj))
        p->running = t;
    if (p->ready == 0 && !p->failed && cond_true(ev->obj, "Ready")) {
        p->ready = t;
        r->ready++;
    }
}

static void on_create(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    pod_t *p = ud;
    p->created = now_us();
    if (reply->code != 201) {
        fprintf(stderr, "bench_podstart: create %s: %d %s\n", p->name, reply->code,
                reply->message ? reply->message : "");
        p->failed = true;
    }
}

/* Starts a watch of the pods of `ns` from a fresh list, so no event falls
 * between the two.  Returns the list's items count or -1. */
static int watch_pods(kr_bus_t *bus, kr_arena_t *a, const char *ns, run_t *r)
{
    kr_request_t lr = {.op = "list", .res = "v1/pods", .ns = ns};
    kr_reply_t reply;
    kr_error_t err;
    if (kr_bus_call(bus, &lr, a, &reply, CALL_TIMEOUT_MS, &err) < 0 || reply.code != 200) {
        fprintf(stderr, "bench_podstart: list pods: %s\n",
                reply.code ? (reply.message ?: "") : err.message);
        return -1;
    }
    const char *rv = kr_value_as_str(kr_value_get(reply.obj, "metadata.resourceVersion"));
    kr_request_t wr = {.res = "v1/pods", .ns = ns, .rv = rv};
    if (kr_bus_watch(bus, &wr, on_pod_event, r, &r->watch_id, &err) < 0) {
        fprintf(stderr, "bench_podstart: watch: %s\n", err.message);
        return -1;
    }
    return (int)kr_value_len(kr_value_map_get(reply.obj, "items"));
}

static kr_value_t *load_pod(kr_arena_t *a, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_podstart: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    kr_value_t *docs = NULL;
    kr_error_t err;
    if (kr_yaml_decode(a, buf, n, &docs, &err) < 0 || kr_value_len(docs) != 1) {
        fprintf(stderr, "bench_podstart: %s: one pod document expected%s%s\n", path,
                docs == NULL ? ": " : "", docs == NULL ? err.message : "");
        return NULL;
    }
    return kr_value_array_get(docs, 0);
}

static double step_ms(pod_t *pods, int n, size_t off)
{
    uint64_t *v = malloc((size_t)n * sizeof *v);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        uint64_t t = *(uint64_t *)((char *)&pods[i] + off);
        if (t != 0)
            v[k++] = t - pods[i].sent;
    }
    qsort(v, k, sizeof *v, cmp_u64);
    double ms = pct_ms(v, k, 0.5);
    free(v);
    return ms;
}

static int run_pods(const char *ns, const char *node, int count, const char *pod_file,
                    double seconds)
{
    kr_arena_t *a = kr_arena_new(0), *scratch = kr_arena_new(0);
    kr_value_t *tmpl = load_pod(a, pod_file);
    if (tmpl == NULL)
        return 1;
    const char *base = kr_value_as_str(kr_value_get(tmpl, "metadata.name")) ?: "pod";
    kr_value_set(a, tmpl, "spec.nodeName", kr_value_str(a, node), NULL);
    run_t r = {.pods = calloc((size_t)count, sizeof(pod_t)), .count = count};
    for (int i = 0; i < count; i++)
        snprintf(r.pods[i].name, sizeof r.pods[i].name, "%s-%d", base, i);
    kr_bus_t *bus = connect_or_die();
    if (watch_pods(bus, a, ns, &r) < 0)
        return 1;
    uint64_t t0 = now_us();
    for (int i = 0; i < count; i++) {
        pod_t *p = &r.pods[i];
        kr_arena_reset(scratch);
        kr_value_set(scratch, tmpl, "metadata.name", kr_value_str(scratch, p->name), NULL);
        kr_request_t req = {.op = "create", .res = "v1/pods", .ns = ns, .obj = tmpl};
        kr_error_t err;
        p->sent = now_us();
        if (kr_bus_send(bus, &req, on_create, p, CALL_TIMEOUT_MS, NULL, &err) < 0) {
            fprintf(stderr, "bench_podstart: send: %s\n", err.message);
            p->failed = true;
        }
    }
    /* bounded by `seconds`; every pod Ready, failed or the watch gone ends it */
    uint64_t deadline = t0 + (uint64_t)(seconds * 1e6);
    for (;;) {
        int settled = 0;
        for (int i = 0; i < count; i++)
            settled += r.pods[i].ready != 0 || r.pods[i].failed;
        if (settled == count || r.watch_ended || now_us() >= deadline)
            break;
        kr_bus_dispatch(bus, 50, NULL);
    }
    uint64_t *lat = malloc((size_t)count * sizeof *lat), last = t0;
    size_t ok = 0;
    long errors = 0;
    for (int i = 0; i < count; i++) {
        pod_t *p = &r.pods[i];
        if (p->ready != 0) {
            lat[ok++] = p->ready - p->sent;
            if (p->ready > last)
                last = p->ready;
        } else {
            errors++;
        }
    }
    report(label ? label : "kraal", count, lat, ok, last - t0, errors);
    printf("%s-steps n=%d api_ms=%.1f status_ms=%.1f running_ms=%.1f ready_ms=%.1f "
           "t0_mono_us=%llu\n",
           label ? label : "kraal", count, step_ms(r.pods, count, offsetof(pod_t, created)),
           step_ms(r.pods, count, offsetof(pod_t, status)),
           step_ms(r.pods, count, offsetof(pod_t, running)),
           step_ms(r.pods, count, offsetof(pod_t, ready)), (unsigned long long)t0);
    free(lat);
    kr_bus_unwatch(bus, r.watch_id, NULL);
    free(r.pods);
    kr_bus_destroy(&bus);
    kr_arena_destroy(&scratch);
    kr_arena_destroy(&a);
    return errors > 0;
}

/* Every pod of `ns` deleted; waits until the watch saw each DELETED (the
 * agent deletes an object for good once its containers are gone). */
static int run_delete(const char *ns, int grace, double seconds)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_bus_t *bus = connect_or_die();
    kr_request_t lr = {.op = "list", .res = "v1/pods", .ns = ns};
    kr_reply_t reply;
    if (kr_bus_call(bus, &lr, a, &reply, CALL_TIMEOUT_MS, NULL) < 0 || reply.code != 200) {
        fprintf(stderr, "bench_podstart: list pods of %s failed\n", ns);
        return 1;
    }
    const kr_value_t *items = kr_value_map_get(reply.obj, "items");
    run_t r = {.count = (int)kr_value_len(items)};
    r.pods = calloc((size_t)r.count + 1, sizeof(pod_t));
    for (int i = 0; i < r.count; i++)
        snprintf(
            r.pods[i].name, sizeof r.pods[i].name, "%s",
            kr_value_as_str(kr_value_get(kr_value_array_get(items, (size_t)i), "metadata.name"))
                ?: "");
    const char *rv = kr_value_as_str(kr_value_get(reply.obj, "metadata.resourceVersion"));
    kr_request_t wr = {.res = "v1/pods", .ns = ns, .rv = rv};
    kr_error_t err;
    if (kr_bus_watch(bus, &wr, on_pod_event, &r, &r.watch_id, &err) < 0) {
        fprintf(stderr, "bench_podstart: watch: %s\n", err.message);
        return 1;
    }
    kr_value_t *opts = kr_value_map(a);
    kr_value_map_set(a, opts, "gracePeriodSeconds", kr_value_int(a, grace));
    uint64_t t0 = now_us();
    for (int i = 0; i < r.count; i++) {
        kr_request_t dr = {
            .op = "delete", .res = "v1/pods", .ns = ns, .name = r.pods[i].name, .opts = opts};
        kr_reply_t dreply;
        if (kr_bus_call(bus, &dr, a, &dreply, CALL_TIMEOUT_MS, NULL) < 0 ||
            (dreply.code != 200 && dreply.code != 404)) {
            fprintf(stderr, "bench_podstart: delete %s failed\n", r.pods[i].name);
            r.errors++;
        }
    }
    uint64_t deadline = t0 + (uint64_t)(seconds * 1e6);
    while (r.gone < r.count && !r.watch_ended && now_us() < deadline)
        kr_bus_dispatch(bus, 50, NULL);
    printf("delete n=%d gone=%d all_ms=%.1f errors=%d\n", r.count, r.gone, (now_us() - t0) / 1000.0,
           r.errors);
    kr_bus_unwatch(bus, r.watch_id, NULL);
    free(r.pods);
    kr_bus_destroy(&bus);
    kr_arena_destroy(&a);
    return r.gone < r.count || r.errors > 0;
}

/* ---- commands launched at once ----------------------------------------------------- */

/* `arg` with every "%d" replaced by `i`.  Caller frees. */
static char *subst_index(const char *arg, int i)
{
    char num[16];
    int nlen = snprintf(num, sizeof num, "%d", i);
    size_t cap = strlen(arg) * (size_t)(nlen > 2 ? nlen - 1 : 1) + 1, len = 0;
    char *out = malloc(cap);
    for (const char *p = arg; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'd') {
            memcpy(out + len, num, (size_t)nlen);
            len += (size_t)nlen;
            p++;
        } else {
            out[len++] = *p;
        }
    }
    out[len] = '\0';
    return out;
}

static int run_spawn(int count, const char *logdir, char **argv, int argc)
{
    pid_t *pids = calloc((size_t)count, sizeof *pids);
    uint64_t *t_start = calloc((size_t)count, sizeof *t_start);
    uint64_t *lat = calloc((size_t)count, sizeof *lat);
    char **args = calloc((size_t)argc + 1, sizeof *args);
    long errors = 0;
    uint64_t t0 = now_us(), last = t0;
    for (int i = 0; i < count; i++) {
        for (int k = 0; k < argc; k++)
            args[k] = subst_index(argv[k], i);
        char log[4096];
        snprintf(log, sizeof log, "%s/%d.log", logdir, i);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        t_start[i] = now_us();
        int rc = posix_spawnp(&pids[i], args[0], &fa, NULL, args, environ);
        posix_spawn_file_actions_destroy(&fa);
        for (int k = 0; k < argc; k++)
            free(args[k]);
        if (rc != 0) {
            fprintf(stderr, "bench_podstart: spawn %s: %s\n", argv[0], strerror(rc));
            pids[i] = 0;
            errors++;
        }
    }
    size_t ok = 0;
    int running = count - (int)errors;
    /* bounded: every command is killed after 120 s */
    uint64_t deadline = now_us() + 120000000u;
    while (running > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        uint64_t t = now_us();
        if (pid == 0) {
            if (t >= deadline) {
                for (int i = 0; i < count; i++)
                    if (pids[i] > 0)
                        kill(pids[i], SIGKILL);
                deadline = UINT64_MAX;
            }
            usleep(200);
            continue;
        }
        if (pid < 0)
            break;
        running--;
        for (int i = 0; i < count; i++) {
            if (pids[i] != pid)
                continue;
            pids[i] = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                lat[ok++] = t - t_start[i];
                if (t > last)
                    last = t;
            } else {
                errors++;
                fprintf(stderr, "bench_podstart: command %d ended with status %d (see %s/%d.log)\n",
                        i, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), logdir,
                        i);
            }
        }
    }
    report(label ? label : "spawn", count, lat, ok, last - t0, errors);
    free(args);
    free(pids);
    free(t_start);
    free(lat);
    return errors > 0;
}

/* ---- main ------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_podstart [--endpoint EP] [--samples FILE] [--label L] OP ARGS\n"
                    "  node NAME SECONDS | pods NS NODE COUNT POD.yaml SECONDS\n"
                    "  | delete NS GRACE SECONDS | spawn COUNT LOGDIR -- ARGV...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '\0'; i += 2) {
        if (strcmp(argv[i], "--endpoint") == 0)
            endpoint = argv[i + 1];
        else if (strcmp(argv[i], "--samples") == 0)
            samples_path = argv[i + 1];
        else if (strcmp(argv[i], "--label") == 0)
            label = argv[i + 1];
        else
            usage();
    }
    if (i >= argc)
        usage();
    const char *op = argv[i++];
    int nargs = argc - i;
    char **args = argv + i;
    kr_log_set_level(KR_LOG_WARN);
    int rc;
    if (strcmp(op, "spawn") == 0 && nargs >= 4 && strcmp(args[2], "--") == 0) {
        int count = atoi(args[0]);
        if (count < 1 || count > MAX_COUNT)
            usage();
        return run_spawn(count, args[1], args + 3, nargs - 3);
    }
    if (endpoint == NULL)
        usage();
    if (strcmp(op, "node") == 0 && nargs == 2) {
        rc = wait_node(args[0], atof(args[1]));
    } else if (strcmp(op, "pods") == 0 && nargs == 5) {
        int count = atoi(args[2]);
        if (count < 1 || count > MAX_COUNT)
            usage();
        rc = run_pods(args[0], args[1], count, args[3], atof(args[4]));
    } else if (strcmp(op, "delete") == 0 && nargs == 3) {
        rc = run_delete(args[0], atoi(args[1]), atof(args[2]));
    } else {
        usage();
    }
    kr_bus_shutdown();
    return rc;
}
