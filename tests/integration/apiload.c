/* kraal-apiload — drives the object API of a running server for the
 * durability tests.
 *
 *   kraal-apiload load ENDPOINT CLIENTS COUNT ACKDIR
 *       CLIENTS threads, each with its own bus connection, create COUNT
 *       ConfigMaps "load-<client>-<i>" in namespace default, 8 requests in
 *       flight each.  Every create answered 201 is appended to
 *       ACKDIR/<client>.acked (name and resourceVersion) before the next
 *       request is sent; other answers go to ACKDIR/<client>.failed with
 *       their code.  Stops when COUNT are answered or the server is gone
 *       (no reply for 3 s).  Prints "acked=N failed=N".
 *
 *   kraal-apiload verify ENDPOINT ACKDIR
 *       Lists the ConfigMaps of namespace default and checks that every
 *       acknowledged create is there with the content it was created with,
 *       that every "load-" object present (acknowledged or not) is whole,
 *       and that a new create gets a resourceVersion above every one seen.
 *       Prints "present=N acked=N max_rv=N new_rv=N"; exit 1 on a failure.
 *
 *   kraal-apiload fill ENDPOINT PREFIX SIZE
 *       Creates ConfigMaps PREFIX-<i> of SIZE bytes until a create fails;
 *       prints "created=N code=<code> reason=<reason> message=<message>".
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/bus.h>
#include <kraal/value.h>

#define WINDOW     8
#define TIMEOUT_MS 3000

typedef struct client {
    int idx, count;
    const char *endpoint, *ackdir;
    int acked, failed, sent, answered;
    bool gone;
    FILE *ack, *bad;
    kr_bus_t *bus;
} client_t;

/* The payload is a function of the name, so a torn object shows. */
static void payload(const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (size_t i = 0; i + 1 < size; i++)
        out[i] = (char)('a' + (name[i % n] + (int)i) % 26);
    out[size - 1] = '\0';
}

static kr_value_t *configmap(kr_arena_t *a, const char *name, size_t size)
{
    kr_value_t *cm = kr_value_map(a);
    kr_value_map_set(a, cm, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, cm, "kind", kr_value_str(a, "ConfigMap"));
    kr_value_t *meta = kr_value_map(a);
    kr_value_map_set(a, meta, "name", kr_value_str(a, name));
    kr_value_map_set(a, cm, "metadata", meta);
    kr_value_t *data = kr_value_map(a);
    char *p = kr_arena_alloc(a, size + 1);
    payload(name, p, size + 1);
    kr_value_map_set(a, data, "payload", kr_value_str(a, p));
    kr_value_map_set(a, cm, "data", data);
    return cm;
}

static void on_reply(kr_bus_t *bus, const kr_reply_t *reply, void *ud);

static void send_next(client_t *c)
{
    if (c->sent >= c->count || c->gone)
        return;
    kr_arena_t *a = kr_arena_new(0);
    char name[64];
    snprintf(name, sizeof name, "load-%d-%d", c->idx, c->sent);
    kr_request_t req = {
        .op = "create", .res = "v1/configmaps", .ns = "default", .obj = configmap(a, name, 200)};
    kr_error_t err;
    char *tag = strdup(name);
    if (kr_bus_send(c->bus, &req, on_reply, tag, TIMEOUT_MS, NULL, &err) < 0) {
        free(tag);
        c->gone = true;
    } else {
        c->sent++;
    }
    kr_arena_destroy(&a);
}

static __thread client_t *tls_client; /* the thread's client, for callbacks */

static void on_reply(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    client_t *c = tls_client;
    char *name = ud;
    c->answered++;
    if (reply->code == 201) {
        const char *rv = kr_value_as_str(kr_value_get(reply->obj, "metadata.resourceVersion"));
        fprintf(c->ack, "%s %s\n", name, rv ? rv : "?");
        fflush(c->ack);
        c->acked++;
    } else {
        fprintf(c->bad, "%s %d %s\n", name, reply->code, reply->message ? reply->message : "");
        fflush(c->bad);
        c->failed++;
        if (reply->code == 504 || reply->code == 503)
            c->gone = true;
    }
    free(name);
    send_next(c);
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    tls_client = c;
    char path[4096];
    snprintf(path, sizeof path, "%s/%d.acked", c->ackdir, c->idx);
    c->ack = fopen(path, "w");
    snprintf(path, sizeof path, "%s/%d.failed", c->ackdir, c->idx);
    c->bad = fopen(path, "w");
    kr_error_t err;
    c->bus = kr_bus_connect(c->endpoint, &err);
    if (c->ack == NULL || c->bad == NULL || c->bus == NULL) {
        fprintf(stderr, "client %d: cannot start\n", c->idx);
        c->gone = true;
        return NULL;
    }
    for (int i = 0; i < WINDOW; i++)
        send_next(c);
    while (c->answered < c->sent)
        if (kr_bus_dispatch(c->bus, 200, &err) < 0)
            break;
    kr_bus_destroy(&c->bus);
    fclose(c->ack);
    fclose(c->bad);
    return NULL;
}

static int cmd_load(const char *ep, int clients, int count, const char *ackdir)
{
    client_t *cs = calloc((size_t)clients, sizeof *cs);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    for (int i = 0; i < clients; i++) {
        cs[i] = (client_t){.idx = i, .count = count, .endpoint = ep, .ackdir = ackdir};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    int acked = 0, failed = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        acked += cs[i].acked;
        failed += cs[i].failed;
    }
    printf("acked=%d failed=%d\n", acked, failed);
    free(cs);
    free(th);
    return 0;
}

static int64_t rv_of(const kr_value_t *obj)
{
    const char *s = kr_value_as_str(kr_value_get(obj, "metadata.resourceVersion"));
    return s ? strtoll(s, NULL, 10) : -1;
}

static int cmd_verify(const char *ep, const char *ackdir)
{
    kr_error_t err;
    kr_bus_t *bus = kr_bus_connect(ep, &err);
    kr_arena_t *a = kr_arena_new(0);
    kr_reply_t reply;
    kr_request_t req = {.op = "list", .res = "v1/configmaps", .ns = "default"};
    if (bus == NULL || kr_bus_call(bus, &req, a, &reply, 10000, &err) < 0 || reply.code != 200) {
        fprintf(stderr, "verify: list failed: %s\n", bus ? err.message : "no bus");
        return 1;
    }
    const kr_value_t *items = kr_value_map_get(reply.obj, "items");
    size_t n = kr_value_len(items);
    int bad = 0, present = 0;
    int64_t max_rv = 0;
    const char *list_rv = kr_value_as_str(kr_value_get(reply.obj, "metadata.resourceVersion"));
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *it = kr_value_array_get(items, i);
        const char *name = kr_value_as_str(kr_value_get(it, "metadata.name"));
        int64_t rv = rv_of(it);
        if (rv > max_rv)
            max_rv = rv;
        if (name == NULL || strncmp(name, "load-", 5) != 0)
            continue;
        present++;
        char want[201];
        payload(name, want, sizeof want);
        const char *got = kr_value_as_str(kr_value_get(it, "data.payload"));
        if (got == NULL || strcmp(got, want) != 0 || rv <= 0 ||
            kr_value_as_str(kr_value_get(it, "metadata.uid")) == NULL) {
            fprintf(stderr, "verify: %s is not whole\n", name);
            bad++;
        }
    }
    /* every acknowledged create is present, with its revision */
    int acked = 0;
    for (int c = 0;; c++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%d.acked", ackdir, c);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            break;
        char name[128], rv[32];
        while (fscanf(f, "%127s %31s", name, rv) == 2) {
            acked++;
            bool found = false;
            for (size_t i = 0; i < n && !found; i++) {
                const kr_value_t *it = kr_value_array_get(items, i);
                const char *nm = kr_value_as_str(kr_value_get(it, "metadata.name"));
                found = nm && strcmp(nm, name) == 0 && rv_of(it) == strtoll(rv, NULL, 10);
            }
            if (!found) {
                fprintf(stderr, "verify: acknowledged %s (rv %s) is missing\n", name, rv);
                bad++;
            }
        }
        fclose(f);
    }
    /* revisions continue upward */
    kr_request_t cr = {.op = "create",
                       .res = "v1/configmaps",
                       .ns = "default",
                       .obj = configmap(a, "after-restart", 10)};
    int64_t new_rv = -1;
    if (kr_bus_call(bus, &cr, a, &reply, 10000, &err) < 0 || reply.code != 201) {
        fprintf(stderr, "verify: create after restart failed (%d %s)\n", reply.code,
                reply.message ? reply.message : err.message);
        bad++;
    } else {
        new_rv = rv_of(reply.obj);
        if (new_rv <= max_rv || (list_rv && new_rv <= strtoll(list_rv, NULL, 10))) {
            fprintf(stderr, "verify: new rv %" PRId64 " is not above %" PRId64 "\n", new_rv,
                    max_rv);
            bad++;
        }
    }
    printf("present=%d acked=%d max_rv=%" PRId64 " new_rv=%" PRId64 "\n", present, acked, max_rv,
           new_rv);
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    return bad ? 1 : 0;
}

static int cmd_fill(const char *ep, const char *prefix, size_t size)
{
    kr_error_t err;
    kr_bus_t *bus = kr_bus_connect(ep, &err);
    if (bus == NULL)
        return 1;
    int created = 0;
    for (;;) {
        kr_arena_t *a = kr_arena_new(0);
        char name[64];
        snprintf(name, sizeof name, "%s-%d", prefix, created);
        kr_request_t req = {.op = "create",
                            .res = "v1/configmaps",
                            .ns = "default",
                            .obj = configmap(a, name, size)};
        kr_reply_t reply;
        if (kr_bus_call(bus, &req, a, &reply, 10000, &err) < 0) {
            printf("created=%d code=0 reason=Timeout message=%s\n", created, err.message);
            kr_arena_destroy(&a);
            break;
        }
        if (reply.code != 201) {
            printf("created=%d code=%d reason=%s message=%s\n", created, reply.code,
                   kr_reason_name(reply.reason), reply.message ? reply.message : "");
            kr_arena_destroy(&a);
            break;
        }
        created++;
        kr_arena_destroy(&a);
        if (created > 1000000)
            break;
    }
    kr_bus_destroy(&bus);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "load") == 0)
        return cmd_load(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
    if (argc == 4 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "fill") == 0)
        return cmd_fill(argv[2], argv[3], (size_t)atol(argv[4]));
    fputs("usage: kraal-apiload load ENDPOINT CLIENTS COUNT ACKDIR\n"
          "       kraal-apiload verify ENDPOINT ACKDIR\n"
          "       kraal-apiload fill ENDPOINT PREFIX SIZE\n",
          stderr);
    return 2;
}
