/* The workload controllers under load, against a running `kraal server`
 * with hollow nodes (bench/controllers/run.sh starts both).  Prints
 * figures only, never pass/fail.
 *
 *   bench_controllers --server ENDPOINT --nodes N --scenario big|many
 *                     [--replicas R] [--deployments D] [--timeout S]
 *
 * big:  one Deployment of R replicas (default 1,000; maxSurge/
 *       maxUnavailable 25%) from its create to all available, then a
 *       rolling update of it (another image) to all available again;
 * many: D Deployments (default 100) of 10 replicas each, created at once,
 *       to all of them available.
 * A Deployment is done when its status says so: observedGeneration at
 * least its generation, replicas = updatedReplicas = availableReplicas =
 * spec.replicas.  For each phase: seconds, and the API's writes per
 * second over it (the resourceVersion went up by one per write: pods,
 * bindings, statuses, ReplicaSets, Events). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kraal/bus.h>

static kr_bus_t *bus;
static const char *ns = "bench";
static int timeout_s = 300;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int call(kr_arena_t *a, const kr_request_t *req, kr_reply_t *r)
{
    if (kr_bus_call(bus, req, a, r, 60000, NULL) < 0)
        return -1;
    return r->code;
}

static kr_value_t *json(kr_arena_t *a, const char *s)
{
    kr_value_t *v = NULL;
    if (kr_json_decode(a, s, strlen(s), &v, NULL) < 0)
        abort();
    return v;
}

/* The store's revision: a list's resourceVersion. */
static long long revision(void)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *opts = kr_value_map(a);
    kr_value_map_set(a, opts, "limit", kr_value_int(a, 1));
    kr_request_t req = {.op = "list", .res = "v1/namespaces", .opts = opts};
    kr_reply_t r;
    long long rv = -1;
    if (call(a, &req, &r) == 200) {
        const char *s = kr_value_as_str(kr_value_get(r.obj, "metadata.resourceVersion"));
        rv = s ? atoll(s) : -1;
    }
    kr_arena_destroy(&a);
    return rv;
}

static int ready_nodes(void)
{
    kr_arena_t *a = kr_arena_new(0);
    int n = 0;
    kr_request_t req = {.op = "list", .res = "v1/nodes"};
    kr_reply_t r;
    if (call(a, &req, &r) == 200) {
        const kr_value_t *items = kr_value_map_get(r.obj, "items");
        for (size_t i = 0; i < kr_value_len(items); i++) {
            const kr_value_t *conds =
                kr_value_get(kr_value_array_get(items, i), "status.conditions");
            for (size_t c = 0; c < kr_value_len(conds); c++) {
                const kr_value_t *cd = kr_value_array_get(conds, c);
                const char *t = kr_value_map_str(cd, "type"), *s = kr_value_map_str(cd, "status");
                if (t && s && strcmp(t, "Ready") == 0 && strcmp(s, "True") == 0)
                    n++;
            }
        }
    }
    kr_arena_destroy(&a);
    return n;
}

static const char *deployment_doc(kr_arena_t *a, const char *name, int replicas, const char *image)
{
    return kr_arena_printf(
        a,
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"%s\","
        "\"namespace\":\"%s\"},\"spec\":{\"replicas\":%d,\"selector\":{\"matchLabels\":{\"app\":"
        "\"%s\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"%s\"}},\"spec\":{"
        "\"containers\":[{\"name\":\"c\",\"image\":\"%s\",\"resources\":{\"requests\":{\"cpu\":"
        "\"1m\",\"memory\":\"1Mi\"}}}]}}}}",
        name, ns, replicas, name, name, image);
}

/* Deployments of the namespace that are done; `*total` all of them. */
static int done_deployments(int *total, int *available_pods)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t req = {.op = "list", .res = "apps/v1/deployments", .ns = ns};
    kr_reply_t r;
    int done = 0;
    *total = 0;
    *available_pods = 0;
    if (call(a, &req, &r) == 200) {
        const kr_value_t *items = kr_value_map_get(r.obj, "items");
        *total = (int)kr_value_len(items);
        for (size_t i = 0; i < kr_value_len(items); i++) {
            const kr_value_t *d = kr_value_array_get(items, i);
            const kr_value_t *st = kr_value_map_get(d, "status");
            int64_t want = kr_value_as_int(kr_value_get(d, "spec.replicas"), 1);
            *available_pods += (int)kr_value_map_int(st, "availableReplicas", 0);
            if (kr_value_map_int(st, "observedGeneration", 0) >=
                    kr_value_as_int(kr_value_get(d, "metadata.generation"), 0) &&
                kr_value_map_int(st, "replicas", -1) == want &&
                kr_value_map_int(st, "updatedReplicas", -1) == want &&
                kr_value_map_int(st, "availableReplicas", -1) == want)
                done++;
        }
    }
    kr_arena_destroy(&a);
    return done;
}

/* Waits until `want` Deployments are done; prints the phase. */
static int wait_done(const char *phase, int want, double t0, long long rv0)
{
    int total = 0, avail = 0, done = 0;
    while ((done = done_deployments(&total, &avail)) < want) {
        if (now_s() - t0 > timeout_s) {
            printf("  %-28s NOT DONE after %d s: %d of %d Deployments, %d pods available\n", phase,
                   timeout_s, done, want, avail);
            return -1;
        }
        usleep(10000);
    }
    double secs = now_s() - t0;
    long long rv1 = revision();
    printf("  %-28s %7.2f s   %6lld API writes (%.0f/s), %d pods available\n", phase, secs,
           rv1 - rv0, (double)(rv1 - rv0) / secs, avail);
    return 0;
}

static int create_deployment(const char *name, int replicas, const char *image)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t req = {.op = "create",
                        .res = "apps/v1/deployments",
                        .ns = ns,
                        .obj = json(a, deployment_doc(a, name, replicas, image))};
    kr_reply_t r;
    int code = call(a, &req, &r);
    if (code != 201)
        fprintf(stderr, "bench_controllers: create %s: %d %s\n", name, code,
                r.message ? r.message : "");
    kr_arena_destroy(&a);
    return code == 201 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *server = NULL, *scenario = "big";
    int nodes = 0, replicas = 1000, deployments = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--server") == 0)
            server = argv[i + 1];
        else if (strcmp(argv[i], "--nodes") == 0)
            nodes = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--scenario") == 0)
            scenario = argv[i + 1];
        else if (strcmp(argv[i], "--replicas") == 0)
            replicas = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--deployments") == 0)
            deployments = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout") == 0)
            timeout_s = atoi(argv[i + 1]);
    }
    if (server == NULL || nodes < 1 || replicas < 1 || deployments < 1) {
        fprintf(stderr, "usage: bench_controllers --server ENDPOINT --nodes N --scenario big|many "
                        "[--replicas R] [--deployments D] [--timeout S]\n");
        return 2;
    }
    kr_error_t err;
    if ((bus = kr_bus_connect(server, &err)) == NULL) {
        fprintf(stderr, "bench_controllers: %s\n", err.message);
        return 1;
    }
    double t0 = now_s();
    int ready = 0;
    while ((ready = ready_nodes()) < nodes) {
        if (now_s() - t0 > 120) {
            fprintf(stderr, "bench_controllers: %d of %d nodes Ready\n", ready, nodes);
            return 1;
        }
        usleep(100000);
    }
    printf("  nodes Ready                  %d after %.1f s\n", ready, now_s() - t0);
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t nsreq = {
        .op = "create",
        .res = "v1/namespaces",
        .obj = json(a, kr_arena_printf(a,
                                       "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                                       "\"metadata\":{\"name\":\"%s\"}}",
                                       ns))};
    kr_reply_t r;
    call(a, &nsreq, &r);
    int rc = 0;
    if (strcmp(scenario, "big") == 0) {
        long long rv0 = revision();
        t0 = now_s();
        if (create_deployment("big", replicas, "registry.k8s.io/pause:3.9") < 0)
            return 1;
        rc |= wait_done(kr_arena_printf(a, "create -> %d available", replicas), 1, t0, rv0);
        rv0 = revision();
        t0 = now_s();
        kr_value_t *opts = kr_value_map(a);
        kr_value_map_set(a, opts, "patchType", kr_value_str(a, "application/merge-patch+json"));
        kr_request_t patch = {
            .op = "patch",
            .res = "apps/v1/deployments",
            .ns = ns,
            .name = "big",
            .opts = opts,
            .obj = json(a, "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                           "\"image\":\"registry.k8s.io/pause:3.10\",\"resources\":{"
                           "\"requests\":{\"cpu\":\"1m\",\"memory\":\"1Mi\"}}}]}}}}")};
        if (call(a, &patch, &r) != 200) {
            fprintf(stderr, "bench_controllers: patch: %d %s\n", r.code, r.message ?: "");
            return 1;
        }
        rc |= wait_done("rolling update -> available", 1, t0, rv0);
    } else {
        long long rv0 = revision();
        t0 = now_s();
        for (int i = 0; i < deployments; i++)
            if (create_deployment(kr_arena_printf(a, "d-%03d", i), 10,
                                  "registry.k8s.io/pause:3.9") < 0)
                return 1;
        printf("  %d creates sent              %.2f s\n", deployments, now_s() - t0);
        rc |= wait_done(kr_arena_printf(a, "%d x 10 -> available", deployments), deployments, t0,
                        rv0);
    }
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    kr_bus_shutdown();
    return rc ? 1 : 0;
}
