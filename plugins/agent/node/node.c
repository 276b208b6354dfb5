/* agent-node: the Node and its Lease, after the kubelet's
 * kubelet_node_status.go (registerWithAPIServer, setNodeStatus with the
 * nodestatus setters) and the node lease controller
 * (component-helpers/apimachinery/lease).
 *
 * Everything here runs on the loop thread, with asynchronous bus calls.
 * Writes are unconditional updates (no resourceVersion): the agent is
 * the only writer of its Node's status and of its Lease.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"

#define NODE_TIMEOUT_MS 10000
#define LEASE_NS        "kube-node-lease"
#define LEASE_RES       "coordination.k8s.io/v1/leases"

struct ag_node {
    ag_node_opts_t o;
    kr_arena_t *a;          /* status_old lives here */
    kr_value_t *status_old; /* the last status written (for transition times) */
    char uid[128];          /* the Node's uid, once known */
    bool registered;
    bool status_busy, lease_busy;
    uint64_t reported_ms; /* loop time of the last status write */
    uint64_t status_timer, lease_timer;
    struct node_life *life;
};

/* Replies may arrive after ag_node_destroy (the host closes the bus after
 * fini): they find life->n NULL and only drop their reference. */
typedef struct node_life {
    ag_node_t *n;
    unsigned refs;
} node_life_t;

/* ---- machine facts ------------------------------------------------------------ */

int64_t ag_node_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

int64_t ag_node_mem_total(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    int64_t kb = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "MemTotal: %" SCNd64 " kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

int64_t ag_node_fs_capacity(const char *dir)
{
    struct statvfs st;
    if (statvfs(dir, &st) < 0)
        return 0;
    return (int64_t)st.f_blocks * (int64_t)st.f_frsize;
}

void ag_node_first_ipv4(char *buf, size_t len)
{
    struct ifaddrs *ifs = NULL;
    buf[0] = '\0';
    if (getifaddrs(&ifs) < 0)
        return;
    for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
            (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, buf,
                  (socklen_t)len);
        break;
    }
    freeifaddrs(ifs);
}

/* The first line of a file, trimmed; "" when unreadable. */
static const char *first_line(kr_arena_t *a, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512] = "";
    if (f != NULL) {
        if (fgets(line, sizeof line, f) == NULL)
            line[0] = '\0';
        fclose(f);
    }
    line[strcspn(line, "\r\n")] = '\0';
    return kr_arena_strdup(a, line);
}

static const char *os_image(kr_arena_t *a)
{
    FILE *f = fopen("/etc/os-release", "r");
    char line[512];
    const char *out = "Linux";
    if (f == NULL)
        return out;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0)
            continue;
        char *v = line + 12;
        v[strcspn(v, "\r\n")] = '\0';
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        out = kr_arena_strdup(a, v);
        break;
    }
    fclose(f);
    return out;
}

/* The machine's facts for nodeInfo, read once: an agent hosting many
 * nodes builds a Node object per node and period. */
static struct {
    pthread_once_t once;
    char machine_id[128], system_uuid[128], boot_id[128], kernel[128], os_image[256];
} facts = {.once = PTHREAD_ONCE_INIT};

static void facts_read(void)
{
    kr_arena_t *a = kr_arena_new(0);
    snprintf(facts.machine_id, sizeof facts.machine_id, "%s", first_line(a, "/etc/machine-id"));
    snprintf(facts.system_uuid, sizeof facts.system_uuid, "%s",
             first_line(a, "/sys/class/dmi/id/product_uuid"));
    snprintf(facts.boot_id, sizeof facts.boot_id, "%s",
             first_line(a, "/proc/sys/kernel/random/boot_id"));
    snprintf(facts.os_image, sizeof facts.os_image, "%s", os_image(a));
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(facts.kernel, sizeof facts.kernel, "%s", u.release);
    kr_arena_destroy(&a);
}

/* ---- objects ----------------------------------------------------------------------- */

static kr_value_t *str(kr_arena_t *a, const char *s)
{
    return kr_value_str(a, s);
}

static const char *cpu_q(kr_arena_t *a, int64_t milli)
{
    return milli % 1000 == 0 ? kr_arena_printf(a, "%" PRId64, milli / 1000)
                             : kr_arena_printf(a, "%" PRId64 "m", milli);
}

static const char *bytes_q(kr_arena_t *a, int64_t bytes)
{
    return bytes % 1024 == 0 ? kr_arena_printf(a, "%" PRId64 "Ki", bytes / 1024)
                             : kr_arena_printf(a, "%" PRId64, bytes);
}

static kr_value_t *condition(kr_arena_t *a, const char *type, const char *status,
                             const char *reason, const char *msg, const kr_value_t *old_status,
                             const char *now)
{
    kr_value_t *c = kr_value_map(a);
    kr_value_map_set(a, c, "type", str(a, type));
    kr_value_map_set(a, c, "status", str(a, status));
    kr_value_map_set(a, c, "lastHeartbeatTime", str(a, now));
    const char *ltt = now;
    const kr_value_t *conds = kr_value_map_get(old_status, "conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *o = kr_value_array_get(conds, i);
        if (strcmp(kr_value_map_str(o, "type") ?: "", type) == 0 &&
            strcmp(kr_value_map_str(o, "status") ?: "", status) == 0 &&
            kr_value_map_str(o, "lastTransitionTime") != NULL)
            ltt = kr_value_map_str(o, "lastTransitionTime");
    }
    kr_value_map_set(a, c, "lastTransitionTime", str(a, ltt));
    kr_value_map_set(a, c, "reason", str(a, reason));
    kr_value_map_set(a, c, "message", str(a, msg));
    return c;
}

kr_value_t *ag_node_object(kr_arena_t *a, const ag_node_opts_t *o, const kr_value_t *old_status,
                           const char *now)
{
    const ag_conf_t *c = o->conf;
    kr_value_t *node = kr_value_map(a);
    kr_value_map_set(a, node, "apiVersion", str(a, "v1"));
    kr_value_map_set(a, node, "kind", str(a, "Node"));
    kr_value_t *meta = kr_value_map(a), *labels = kr_value_map(a);
    kr_value_map_set(a, meta, "name", str(a, c->node_name));
    kr_value_map_set(a, labels, "beta.kubernetes.io/arch", str(a, "amd64"));
    kr_value_map_set(a, labels, "beta.kubernetes.io/os", str(a, "linux"));
    kr_value_map_set(a, labels, "kubernetes.io/arch", str(a, "amd64"));
    kr_value_map_set(a, labels, "kubernetes.io/hostname", str(a, c->node_name));
    kr_value_map_set(a, labels, "kubernetes.io/os", str(a, "linux"));
    for (size_t i = 0; i < o->n_labels; i++)
        kr_value_map_set(a, labels, o->labels[i].key, str(a, o->labels[i].value));
    kr_value_map_set(a, meta, "labels", labels);
    kr_value_t *ann = kr_value_map(a);
    kr_value_map_set(a, ann, "volumes.kubernetes.io/controller-managed-attach-detach",
                     str(a, "true"));
    kr_value_map_set(a, meta, "annotations", ann);
    kr_value_map_set(a, node, "metadata", meta);
    kr_value_map_set(a, node, "spec", kr_value_map(a));

    kr_value_t *st = kr_value_map(a), *cap = kr_value_map(a), *alloc = kr_value_map(a);
    kr_value_map_set(a, cap, "cpu", str(a, cpu_q(a, o->capacity_milli_cpu)));
    kr_value_map_set(a, cap, "ephemeral-storage", str(a, bytes_q(a, o->capacity_ephemeral)));
    kr_value_map_set(a, cap, "memory", str(a, bytes_q(a, c->memory_capacity)));
    kr_value_map_set(a, cap, "pods", str(a, kr_arena_printf(a, "%" PRId64, o->capacity_pods)));
    kr_value_map_set(a, alloc, "cpu", str(a, cpu_q(a, c->alloc_milli_cpu)));
    kr_value_map_set(a, alloc, "ephemeral-storage", str(a, bytes_q(a, c->alloc_ephemeral)));
    kr_value_map_set(a, alloc, "memory", str(a, bytes_q(a, c->alloc_memory)));
    kr_value_map_set(a, alloc, "pods", str(a, kr_arena_printf(a, "%" PRId64, o->capacity_pods)));
    kr_value_map_set(a, st, "capacity", cap);
    kr_value_map_set(a, st, "allocatable", alloc);

    /* the kubelet's setters, in its order; no pressure is measured yet */
    static const char *const conds_tbl[][4] = {
        {"MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"},
        {"DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
        {"PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
        {"Ready", "True", "KubeletReady", "kubelet is posting ready status"},
    };
    kr_value_t *conds = kr_value_array(a);
    for (size_t i = 0; i < sizeof conds_tbl / sizeof conds_tbl[0]; i++) {
        const char *status = conds_tbl[i][1], *reason = conds_tbl[i][2], *msg = conds_tbl[i][3];
        char why[512] = "";
        if (strcmp(conds_tbl[i][0], "Ready") == 0 && c->net != NULL &&
            !c->net->ready(c->net_self, why, sizeof why)) {
            /* the kubelet's runtimeState.runtimeErrors: no pod can be wired yet */
            status = "False";
            reason = "KubeletNotReady";
            msg = kr_arena_printf(a,
                                  "container runtime network not ready: NetworkReady=false "
                                  "reason:NetworkPluginNotReady message:%s",
                                  why);
        }
        kr_value_array_push(a, conds,
                            condition(a, conds_tbl[i][0], status, reason, msg, old_status, now));
    }
    kr_value_map_set(a, st, "conditions", conds);

    kr_value_t *addrs = kr_value_array(a);
    if (c->host_ip != NULL && *c->host_ip) {
        kr_value_t *ip = kr_value_map(a);
        kr_value_map_set(a, ip, "type", str(a, "InternalIP"));
        kr_value_map_set(a, ip, "address", str(a, c->host_ip));
        kr_value_array_push(a, addrs, ip);
    }
    kr_value_t *hn = kr_value_map(a);
    kr_value_map_set(a, hn, "type", str(a, "Hostname"));
    kr_value_map_set(a, hn, "address", str(a, c->node_name));
    kr_value_array_push(a, addrs, hn);
    kr_value_map_set(a, st, "addresses", addrs);

    kr_value_t *ep = kr_value_map(a), *kep = kr_value_map(a);
    kr_value_map_set(a, kep, "Port", kr_value_int(a, 10250));
    kr_value_map_set(a, ep, "kubeletEndpoint", kep);
    kr_value_map_set(a, st, "daemonEndpoints", ep);

    pthread_once(&facts.once, facts_read);
    kr_value_t *ni = kr_value_map(a);
    kr_value_map_set(a, ni, "machineID", str(a, facts.machine_id));
    kr_value_map_set(a, ni, "systemUUID", str(a, facts.system_uuid));
    kr_value_map_set(a, ni, "bootID", str(a, facts.boot_id));
    kr_value_map_set(a, ni, "kernelVersion", str(a, facts.kernel));
    kr_value_map_set(a, ni, "osImage", str(a, facts.os_image));
    kr_value_map_set(a, ni, "containerRuntimeVersion",
                     str(a, o->runtime_version ? o->runtime_version : ""));
    kr_value_map_set(a, ni, "kubeletVersion", str(a, AG_KUBELET_VERSION));
    kr_value_map_set(a, ni, "kubeProxyVersion", str(a, AG_KUBELET_VERSION));
    kr_value_map_set(a, ni, "operatingSystem", str(a, "linux"));
    kr_value_map_set(a, ni, "architecture", str(a, "amd64"));
    kr_value_map_set(a, st, "nodeInfo", ni);
    kr_value_map_set(a, node, "status", st);
    return node;
}

kr_value_t *ag_lease_object(kr_arena_t *a, const char *node, const char *node_uid,
                            const char *renew_time)
{
    kr_value_t *l = kr_value_map(a), *meta = kr_value_map(a), *spec = kr_value_map(a);
    kr_value_map_set(a, l, "apiVersion", str(a, "coordination.k8s.io/v1"));
    kr_value_map_set(a, l, "kind", str(a, "Lease"));
    kr_value_map_set(a, meta, "name", str(a, node));
    kr_value_map_set(a, meta, "namespace", str(a, LEASE_NS));
    if (node_uid != NULL && *node_uid) {
        /* setNodeOwnerFunc: the Node owns its Lease (no controller flag) */
        kr_value_t *refs = kr_value_array(a), *r = kr_value_map(a);
        kr_value_map_set(a, r, "apiVersion", str(a, "v1"));
        kr_value_map_set(a, r, "kind", str(a, "Node"));
        kr_value_map_set(a, r, "name", str(a, node));
        kr_value_map_set(a, r, "uid", str(a, node_uid));
        kr_value_array_push(a, refs, r);
        kr_value_map_set(a, meta, "ownerReferences", refs);
    }
    kr_value_map_set(a, l, "metadata", meta);
    kr_value_map_set(a, spec, "holderIdentity", str(a, node));
    kr_value_map_set(a, spec, "leaseDurationSeconds", kr_value_int(a, 40));
    kr_value_map_set(a, spec, "renewTime", str(a, renew_time));
    kr_value_map_set(a, l, "spec", spec);
    return l;
}

/* ---- requests ------------------------------------------------------------------------ */

typedef enum { REQ_GET, REQ_CREATE, REQ_STATUS, REQ_LEASE, REQ_LEASE_CREATE } node_req_t;

typedef struct node_ticket {
    node_life_t *life;
    node_req_t what;
} node_ticket_t;

static void on_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud);

/* Keeps a copy of `st` as the last status, in an arena of its size: an
 * agent of thousands of nodes keeps one each. */
static void keep_status(ag_node_t *n, const kr_value_t *st)
{
    kr_arena_t *m = kr_arena_new(0);
    kr_value_copy(m, st);
    size_t need = kr_arena_used(m);
    kr_arena_destroy(&m);
    kr_arena_t *keep = kr_arena_new(need + 64);
    n->status_old = kr_value_copy(keep, st);
    kr_arena_destroy(&n->a);
    n->a = keep;
}

static void node_send(ag_node_t *n, node_req_t what, const kr_request_t *req)
{
    node_ticket_t *t = malloc(sizeof *t);
    if (t == NULL)
        abort();
    t->life = n->life;
    t->what = what;
    n->life->refs++;
    kr_error_t err;
    if (ag_sendq_send(n->o.sendq, req, on_reply, t, NODE_TIMEOUT_MS, &err) < 0) {
        kr_plugin_log(n->o.ctx, KR_LOG_WARN, err.message, "node=%s", n->o.conf->node_name);
        n->life->refs--;
        free(t);
        if (what == REQ_STATUS || what == REQ_GET || what == REQ_CREATE)
            n->status_busy = false;
        else
            n->lease_busy = false;
    }
}

static void node_get(ag_node_t *n)
{
    kr_request_t req = {.op = "get", .res = "v1/nodes", .name = n->o.conf->node_name};
    n->status_busy = true;
    node_send(n, REQ_GET, &req);
}

/* Whether the status differs from the one written last, heartbeat times
 * aside (nodeStatusHasChanged). */
static bool status_changed(kr_arena_t *a, const kr_value_t *st, const kr_value_t *old)
{
    if (old == NULL)
        return true;
    kr_value_t *cmp = kr_value_copy(a, st);
    const kr_value_t *conds = kr_value_map_get(cmp, "conditions");
    const kr_value_t *oconds = kr_value_map_get(old, "conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        kr_value_t *c = kr_value_array_get(conds, i);
        const char *type = kr_value_map_str(c, "type") ?: "";
        for (size_t j = 0; j < kr_value_len(oconds); j++) {
            const kr_value_t *o = kr_value_array_get(oconds, j);
            const kr_value_t *hb = kr_value_map_get(o, "lastHeartbeatTime");
            if (hb != NULL && strcmp(kr_value_map_str(o, "type") ?: "", type) == 0)
                kr_value_map_set(a, c, "lastHeartbeatTime", kr_value_copy(a, hb));
        }
    }
    return !kr_value_equal(cmp, old);
}

/* `force`: written whatever changed (registration, a create). */
static void node_write(ag_node_t *n, bool create, bool force)
{
    kr_arena_t *a = kr_arena_new(0);
    char now[40];
    ag_time_str(ag_now_ns(), now, sizeof now);
    kr_value_t *obj = ag_node_object(a, &n->o, n->status_old, now);
    uint64_t now_ms = kr_loop_now(n->o.loop);
    /* tryUpdateNodeStatus: the Lease is the heartbeat; the status goes out
     * when it changed or nodeStatusReportFrequency passed */
    if (!create && !force && n->o.report_period_ms > 0 &&
        now_ms - n->reported_ms < (uint64_t)n->o.report_period_ms &&
        !status_changed(a, kr_value_map_get(obj, "status"), n->status_old)) {
        kr_arena_destroy(&a);
        return;
    }
    n->reported_ms = now_ms;
    kr_request_t req = {.op = create ? "create" : "update",
                        .res = "v1/nodes",
                        .name = create ? NULL : n->o.conf->node_name,
                        .sub = create ? NULL : "status",
                        .obj = obj};
    /* remembered before the reply: the next write keeps its times */
    keep_status(n, kr_value_map_get(obj, "status"));
    n->status_busy = true;
    node_send(n, create ? REQ_CREATE : REQ_STATUS, &req);
    kr_arena_destroy(&a);
}

static void lease_write(ag_node_t *n, bool create)
{
    kr_arena_t *a = kr_arena_new(0);
    char now[40];
    ag_time_str_micro(ag_now_ns(), now, sizeof now);
    kr_value_t *obj = ag_lease_object(a, n->o.conf->node_name, n->uid, now);
    kr_request_t req = {.op = create ? "create" : "update",
                        .res = LEASE_RES,
                        .ns = LEASE_NS,
                        .name = create ? NULL : n->o.conf->node_name,
                        .obj = obj};
    n->lease_busy = true;
    node_send(n, create ? REQ_LEASE_CREATE : REQ_LEASE, &req);
    kr_arena_destroy(&a);
}

static void keep_uid(ag_node_t *n, const kr_value_t *obj)
{
    const char *uid = kr_value_as_str(kr_value_get(obj, "metadata.uid"));
    bool first = n->uid[0] == '\0';
    if (uid != NULL)
        snprintf(n->uid, sizeof n->uid, "%s", uid);
    /* the first renewal as soon as the Node (its owner) exists */
    if (first && n->uid[0] != '\0' && !n->lease_busy)
        lease_write(n, false);
}

static void on_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    node_ticket_t *t = ud;
    node_life_t *life = t->life;
    node_req_t what = t->what;
    free(t);
    life->refs--;
    ag_node_t *n = life->n;
    if (n == NULL) {
        if (life->refs == 0)
            free(life);
        return;
    }
    const char *node = n->o.conf->node_name;
    switch (what) {
    case REQ_GET:
        n->status_busy = false;
        if (r->code == 200) {
            keep_uid(n, r->obj);
            keep_status(n, kr_value_map_get(r->obj, "status"));
            n->registered = true;
            kr_plugin_log(n->o.ctx, KR_LOG_INFO, "node registered already", "node=%s", node);
            node_write(n, false, true);
        } else if (r->code == 404) {
            node_write(n, true, true);
        } else {
            kr_plugin_log(n->o.ctx, KR_LOG_WARN, r->message ? r->message : "node get failed",
                          "node=%s code=%d", node, r->code);
        }
        break;
    case REQ_CREATE:
    case REQ_STATUS:
        n->status_busy = false;
        if (r->code == 200 || r->code == 201) {
            keep_uid(n, r->obj);
            if (!n->registered)
                kr_plugin_log(n->o.ctx, KR_LOG_INFO, "node registered", "node=%s", node);
            n->registered = true;
            if (what == REQ_CREATE)
                node_write(n, false, true); /* a create may drop the status; write it */
        } else if (r->code == 404 || r->code == 409) {
            n->registered = false;
            node_get(n); /* deleted meanwhile, or created by someone else */
        } else {
            kr_plugin_log(n->o.ctx, KR_LOG_WARN,
                          r->message ? r->message : "updating node status failed",
                          "node=%s code=%d", node, r->code);
        }
        break;
    case REQ_LEASE:
    case REQ_LEASE_CREATE:
        n->lease_busy = false;
        if (r->code == 404 && what == REQ_LEASE) {
            lease_write(n, true);
        } else if (r->code == 409 && what == REQ_LEASE_CREATE) {
            lease_write(n, false);
        } else if (r->code != 200 && r->code != 201) {
            kr_plugin_log(n->o.ctx, KR_LOG_WARN, r->message ? r->message : "lease renewal failed",
                          "node=%s code=%d", node, r->code);
        }
        break;
    }
}

static void on_status_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    ag_node_t *n = ud;
    if (n->status_busy)
        return;
    if (!n->registered)
        node_get(n);
    else
        node_write(n, false, false);
}

static void on_lease_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    ag_node_t *n = ud;
    /* the lease names its Node as owner: renew once the uid is known */
    if (!n->lease_busy && n->uid[0] != '\0')
        lease_write(n, false);
}

ag_node_t *ag_node_new(const ag_node_opts_t *opts, kr_error_t *err)
{
    (void)err;
    ag_node_t *n = calloc(1, sizeof *n);
    node_life_t *life = calloc(1, sizeof *life);
    if (n == NULL || life == NULL)
        abort();
    n->o = *opts;
    n->a = kr_arena_new(64);
    n->life = life;
    life->n = n;
    node_get(n);
    n->status_timer =
        kr_loop_add_timer(opts->loop, (uint64_t)(opts->status_period_ms + opts->status_offset_ms),
                          (uint64_t)opts->status_period_ms, on_status_timer, n);
    n->lease_timer =
        kr_loop_add_timer(opts->loop, (uint64_t)(opts->lease_period_ms + opts->lease_offset_ms),
                          (uint64_t)opts->lease_period_ms, on_lease_timer, n);
    return n;
}

void ag_node_destroy(ag_node_t **self_p)
{
    ag_node_t *n = self_p ? *self_p : NULL;
    if (n == NULL)
        return;
    kr_loop_cancel_timer(n->o.loop, n->status_timer);
    kr_loop_cancel_timer(n->o.loop, n->lease_timer);
    n->life->n = NULL;
    if (n->life->refs == 0)
        free(n->life);
    kr_arena_destroy(&n->a);
    free(n);
    *self_p = NULL;
}
