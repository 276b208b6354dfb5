/* network-bridge — the pod network of a node (the CNI bridge + host-local
 * + host-gw scheme): a Linux bridge holding the first address of the
 * node's podCIDR, a veth pair per sandbox, addresses persisted one file
 * each, a route to every other node's podCIDR via its InternalIP, and the
 * masquerade of pod traffic that leaves the cluster range.  Design and
 * config: docs/network-bridge.md.
 *
 * Threads: the plugin's loop thread runs the Node informer; what it learns
 * (the podCIDR: the range, the bridge; the other nodes: the routes) it
 * applies there.  The agent's worker threads call the vtable.  `lock`
 * guards the range: the vtable holds it shared for a whole call, a new
 * range takes it exclusively, so no call ever sees an ipam go away.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kraal/fs.h>
#include <kraal/informer.h>
#include <kraal/network.h>
#include <kraal/plugin.h>

#include "ipam.h"
#include "link.h"
#include "masq.h"

#define BR_RANGE_FILE "range" /* the podCIDR of the last run, for DEL and GC before ready */
#define BR_WHY_MAX    1024

typedef struct br_conf {
    const char *bridge;
    const char *cluster_cidr;
    const char *node_name;
    int64_t mtu;
    bool masquerade;
    bool hairpin;
} br_conf_t;

static const kr_config_entry_t br_config[] = {
    {KR_CFG_STRING, "bridge", "kraal0", offsetof(br_conf_t, bridge),
     "name of the node's bridge; it gets the first address of the node's podCIDR"},
    {KR_CFG_STRING, "cluster_cidr", "10.244.0.0/16", offsetof(br_conf_t, cluster_cidr),
     "the range of every node's podCIDR; pod traffic leaving it is masqueraded"},
    {KR_CFG_STRING, "node_name", NULL, offsetof(br_conf_t, node_name),
     "this node's name, as the agent registers it (default: the host name, lower case)"},
    {KR_CFG_INT, "mtu", "1500", offsetof(br_conf_t, mtu), "MTU of the bridge and of the veths"},
    {KR_CFG_BOOL, "masquerade", "true", offsetof(br_conf_t, masquerade),
     "masquerade pod traffic from cluster_cidr to outside cluster_cidr (chain KRAAL-POD-MASQ)"},
    {KR_CFG_BOOL, "hairpin", "true", offsetof(br_conf_t, hairpin),
     "hairpin mode on the pods' bridge ports (a pod reaches itself through a Service)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct bridge {
    kr_plugin_ctx_t *ctx;
    const br_conf_t *conf;
    kr_network_ops_t ops;
    char node_name[256];
    char dir[4096]; /* <data_dir>/network/<instance> */
    pthread_rwlock_t lock;
    /* under lock */
    br_ipam_t *ipam; /* NULL before a range is known */
    char pod_cidr[64];
    int bridge_ifindex;
    bool ready;
    char why[BR_WHY_MAX]; /* why not ready */
    /* loop thread only */
    kr_informer_t *nodes;
    br_route_t *routes; /* applied */
    size_t nroutes;
    bool routes_failed; /* try again on the next event */
    bool masq_done;     /* checked since the last resync */
} bridge_t;

/* ---- the vtable (any thread) ------------------------------------------------ */

static bool br_ready(void *self, char *msg, size_t msg_len)
{
    bridge_t *b = self;
    pthread_rwlock_rdlock(&b->lock);
    bool ok = b->ready;
    if (!ok && msg != NULL && msg_len > 0)
        snprintf(msg, msg_len, "%s", b->why);
    pthread_rwlock_unlock(&b->lock);
    return ok;
}

static int br_pod_add(void *self, const kr_net_pod_t *pod, kr_net_attachment_t *out,
                      kr_error_t *err)
{
    bridge_t *b = self;
    if (pod->sandbox_id == NULL || pod->sandbox_id[0] == '\0')
        return kr_error_set(err, KR_E_INVALID, "no sandbox id");
    if (pod->netns_path == NULL || pod->netns_path[0] == '\0')
        return kr_error_set(err, KR_E_INVALID, "sandbox %s has no network namespace",
                            pod->sandbox_id);
    pthread_rwlock_rdlock(&b->lock);
    if (!b->ready) {
        /* a restarted agent's sandboxes keep the address they hold (the
         * range of the last run); the repair waits for the next ADD */
        struct in_addr held;
        if (b->ipam != NULL && br_ipam_lookup(b->ipam, pod->sandbox_id, &held) == 0) {
            inet_ntop(AF_INET, &held, out->ip, sizeof out->ip);
            struct in_addr gw = br_ipam_gateway(b->ipam);
            inet_ntop(AF_INET, &gw, out->gateway, sizeof out->gateway);
            out->prefix_len = br_ipam_prefix(b->ipam);
            pthread_rwlock_unlock(&b->lock);
            return 0;
        }
        int rc = kr_error_set(err, KR_E_SERVICE_UNAVAILABLE, "network is not ready: %s", b->why);
        pthread_rwlock_unlock(&b->lock);
        return rc;
    }
    struct in_addr ip;
    bool fresh;
    int rc = br_ipam_alloc(b->ipam, pod->sandbox_id, &ip, &fresh, err);
    if (rc < 0) {
        pthread_rwlock_unlock(&b->lock);
        return rc;
    }
    br_pod_link_t pl = {
        .netns_path = pod->netns_path,
        .bridge_ifindex = b->bridge_ifindex,
        .mtu = (int)b->conf->mtu,
        .hairpin = b->conf->hairpin,
        .ip = ip,
        .gw = br_ipam_gateway(b->ipam),
        .prefix = br_ipam_prefix(b->ipam),
    };
    char host_if[IFNAMSIZ];
    br_link_veth_name(pod->sandbox_id, host_if);
    pl.host_if = host_if;
    rc = br_link_pod_add(&pl, err);
    if (rc < 0 && fresh) {
        /* a failed ADD leaves nothing behind: the agent retries with a new sandbox */
        kr_error_t e2;
        br_ipam_release(b->ipam, pod->sandbox_id, &e2);
        br_link_del(host_if, &e2);
    }
    if (rc == 0) {
        inet_ntop(AF_INET, &ip, out->ip, sizeof out->ip);
        inet_ntop(AF_INET, &pl.gw, out->gateway, sizeof out->gateway);
        out->prefix_len = pl.prefix;
    }
    pthread_rwlock_unlock(&b->lock);
    return rc;
}

static int br_pod_del(void *self, const kr_net_pod_t *pod, kr_error_t *err)
{
    bridge_t *b = self;
    if (pod->sandbox_id == NULL || pod->sandbox_id[0] == '\0')
        return kr_error_set(err, KR_E_INVALID, "no sandbox id");
    char host_if[IFNAMSIZ];
    br_link_veth_name(pod->sandbox_id, host_if);
    int rc = br_link_del(host_if, err);
    pthread_rwlock_rdlock(&b->lock);
    if (b->ipam != NULL && br_ipam_release(b->ipam, pod->sandbox_id, err) < 0)
        rc = -KR_E_INTERNAL;
    pthread_rwlock_unlock(&b->lock);
    return rc;
}

typedef struct released {
    char (*ids)[128];
    size_t n, cap;
} released_t;

static void on_released(const char *sandbox_id, void *ud)
{
    released_t *r = ud;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->ids = realloc(r->ids, r->cap * sizeof *r->ids);
        if (r->ids == NULL)
            abort();
    }
    snprintf(r->ids[r->n++], sizeof r->ids[0], "%s", sandbox_id);
}

static int br_gc(void *self, const char *const *live_ids, size_t n_live, kr_error_t *err)
{
    bridge_t *b = self;
    released_t r = {0};
    int rc = 0;
    pthread_rwlock_rdlock(&b->lock);
    if (b->ipam != NULL)
        rc = br_ipam_gc(b->ipam, live_ids, n_live, on_released, &r, err);
    pthread_rwlock_unlock(&b->lock);
    for (size_t i = 0; i < r.n; i++) {
        char host_if[IFNAMSIZ];
        kr_error_t e2;
        br_link_veth_name(r.ids[i], host_if);
        if (br_link_del(host_if, &e2) < 0)
            kr_plugin_log(b->ctx, KR_LOG_WARN, e2.message, "sandbox=%s", r.ids[i]);
    }
    if (r.n > 0)
        kr_plugin_log(b->ctx, KR_LOG_INFO, "released the addresses of gone sandboxes", "count=%zu",
                      r.n);
    free(r.ids);
    return rc < 0 ? rc : 0;
}

/* ---- the node's range (loop thread) ------------------------------------------ */

static void set_not_ready(bridge_t *b, const char *why)
{
    pthread_rwlock_wrlock(&b->lock);
    b->ready = false;
    snprintf(b->why, sizeof b->why, "%s", why);
    pthread_rwlock_unlock(&b->lock);
}

/* Opens the range and makes the bridge; under the exclusive lock. */
static int range_apply_locked(bridge_t *b, const char *cidr, kr_error_t *err)
{
    br_ipam_t *ipam = br_ipam_open(b->dir, cidr, err);
    if (ipam == NULL)
        return -KR_E_INVALID;
    int ifindex;
    if (br_link_bridge_ensure(b->conf->bridge, (int)b->conf->mtu, br_ipam_gateway(ipam),
                              br_ipam_prefix(ipam), &ifindex, err) < 0) {
        br_ipam_destroy(&ipam);
        return -KR_E_INTERNAL;
    }
    br_ipam_destroy(&b->ipam);
    b->ipam = ipam;
    b->bridge_ifindex = ifindex;
    snprintf(b->pod_cidr, sizeof b->pod_cidr, "%s", cidr);
    return 0;
}

static void range_save(bridge_t *b, const char *cidr)
{
    char path[4200], line[80];
    snprintf(path, sizeof path, "%s/%s", b->dir, BR_RANGE_FILE);
    int n = snprintf(line, sizeof line, "%s\n", cidr);
    kr_error_t err;
    if (kr_file_write_atomic(path, line, (size_t)n, 0644, &err) < 0)
        kr_plugin_log(b->ctx, KR_LOG_WARN, "saving the pod range", "error=\"%s\"", err.message);
}

/* The resync puts back a bridge (or its address, its up flag) that was
 * taken away; the loop thread is the only writer of the range. */
static void bridge_check(bridge_t *b)
{
    kr_error_t err;
    int ifindex;
    if (br_link_bridge_ensure(b->conf->bridge, (int)b->conf->mtu, br_ipam_gateway(b->ipam),
                              br_ipam_prefix(b->ipam), &ifindex, &err) < 0) {
        kr_plugin_log(b->ctx, KR_LOG_WARN, "checking the bridge", "error=\"%s\"", err.message);
        return;
    }
    if (ifindex == b->bridge_ifindex)
        return;
    kr_plugin_log(b->ctx, KR_LOG_WARN, "the bridge was made again; pods wired before are not on it",
                  "bridge=%s", b->conf->bridge);
    pthread_rwlock_wrlock(&b->lock);
    b->bridge_ifindex = ifindex;
    pthread_rwlock_unlock(&b->lock);
}

static void own_node(bridge_t *b, bool resync)
{
    const kr_value_t *node = kr_informer_get(b->nodes, NULL, b->node_name);
    const char *cidr = kr_value_as_str(kr_value_get(node, "spec.podCIDR"));
    if (cidr == NULL || *cidr == '\0') {
        char why[BR_WHY_MAX];
        snprintf(why, sizeof why, "no podCIDR is assigned to node \"%s\" yet", b->node_name);
        pthread_rwlock_rdlock(&b->lock);
        bool same = !b->ready && strcmp(b->why, why) == 0;
        pthread_rwlock_unlock(&b->lock);
        if (!same && !b->ready)
            set_not_ready(b, why);
        return; /* a range once known stays: a Node is not given another one */
    }
    pthread_rwlock_rdlock(&b->lock);
    bool same = b->ready && strcmp(b->pod_cidr, cidr) == 0;
    pthread_rwlock_unlock(&b->lock);
    if (same) {
        if (resync)
            bridge_check(b);
        return;
    }
    kr_error_t err;
    pthread_rwlock_wrlock(&b->lock);
    int rc = range_apply_locked(b, cidr, &err);
    if (rc == 0) {
        b->ready = true;
        b->why[0] = '\0';
    } else {
        b->ready = false;
        snprintf(b->why, sizeof b->why, "podCIDR %s: %s", cidr, err.message);
    }
    pthread_rwlock_unlock(&b->lock);
    if (rc < 0) {
        kr_plugin_log(b->ctx, KR_LOG_ERROR, "the pod network cannot be set up", "error=\"%s\"",
                      err.message);
        return;
    }
    range_save(b, cidr);
    kr_plugin_log(b->ctx, KR_LOG_INFO, "pod network ready", "node=%s podCIDR=%s bridge=%s",
                  b->node_name, cidr, b->conf->bridge);
}

/* ---- routes to the other nodes (loop thread) --------------------------------- */

typedef struct routes_acc {
    bridge_t *b;
    br_route_t *r;
    size_t n, cap;
} routes_acc_t;

static bool parse_cidr4(const char *s, struct in_addr *net, int *prefix)
{
    char buf[64];
    if (s == NULL || snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
        return false;
    char *slash = strchr(buf, '/'), *end;
    if (slash == NULL)
        return false;
    *slash = '\0';
    long p = strtol(slash + 1, &end, 10);
    if (*end != '\0' || p < 0 || p > 32 || inet_pton(AF_INET, buf, net) != 1)
        return false;
    *prefix = (int)p;
    return true;
}

static bool route_of(const kr_value_t *node, void *ud)
{
    routes_acc_t *acc = ud;
    const char *name = kr_value_as_str(kr_value_get(node, "metadata.name"));
    if (name == NULL || strcmp(name, acc->b->node_name) == 0)
        return true;
    br_route_t r;
    if (!parse_cidr4(kr_value_as_str(kr_value_get(node, "spec.podCIDR")), &r.dst, &r.prefix))
        return true;
    const kr_value_t *addrs = kr_value_get(node, "status.addresses");
    const char *ip = NULL;
    for (size_t i = 0; i < kr_value_len(addrs) && ip == NULL; i++) {
        const kr_value_t *a = kr_value_array_get(addrs, i);
        if (strcmp(kr_value_map_str(a, "type") ?: "", "InternalIP") == 0)
            ip = kr_value_map_str(a, "address");
    }
    if (ip == NULL || inet_pton(AF_INET, ip, &r.via) != 1)
        return true;
    if (acc->n == acc->cap) {
        acc->cap = acc->cap ? acc->cap * 2 : 8;
        acc->r = realloc(acc->r, acc->cap * sizeof *acc->r);
        if (acc->r == NULL)
            abort();
    }
    acc->r[acc->n++] = r;
    return true;
}

static int route_cmp(const void *x, const void *y)
{
    const br_route_t *a = x, *b = y;
    if (a->dst.s_addr != b->dst.s_addr)
        return ntohl(a->dst.s_addr) < ntohl(b->dst.s_addr) ? -1 : 1;
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    return a->via.s_addr == b->via.s_addr                ? 0
           : ntohl(a->via.s_addr) < ntohl(b->via.s_addr) ? -1
                                                         : 1;
}

static void routes_sync(bridge_t *b, bool force)
{
    routes_acc_t acc = {.b = b};
    kr_informer_each(b->nodes, NULL, route_of, &acc);
    if (acc.n > 1)
        qsort(acc.r, acc.n, sizeof *acc.r, route_cmp);
    bool same =
        acc.n == b->nroutes && (acc.n == 0 || memcmp(acc.r, b->routes, acc.n * sizeof *acc.r) == 0);
    if (same && !force && !b->routes_failed) {
        free(acc.r);
        return;
    }
    kr_error_t err;
    b->routes_failed = br_link_routes_sync(acc.r, acc.n, &err) < 0;
    if (b->routes_failed)
        kr_plugin_log(b->ctx, KR_LOG_WARN, "routes to other nodes", "error=\"%s\"", err.message);
    else if (!same)
        kr_plugin_log(b->ctx, KR_LOG_INFO, "routes to other nodes' pods", "count=%zu", acc.n);
    free(b->routes);
    b->routes = acc.r;
    b->nroutes = acc.n;
}

static void nodes_changed(bridge_t *b, bool resync)
{
    own_node(b, resync);
    routes_sync(b, resync);
    if (b->conf->masquerade && !b->masq_done) {
        kr_error_t err;
        int rc = br_masq_ensure(b->conf->cluster_cidr, &err);
        if (rc < 0)
            kr_plugin_log(b->ctx, KR_LOG_WARN, "pod masquerade", "error=\"%s\"", err.message);
        else if (rc == 1)
            kr_plugin_log(b->ctx, KR_LOG_INFO, "pod masquerade set", "chain=%s cluster_cidr=%s",
                          BR_MASQ_CHAIN, b->conf->cluster_cidr);
        b->masq_done = rc >= 0;
    }
}

static void on_node_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    (void)obj;
    nodes_changed(ud, false);
}

static void on_node_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                           void *ud)
{
    (void)inf;
    bridge_t *b = ud;
    bool resync = old_obj == new_obj;
    if (resync) {
        /* once per resync period, not once per node */
        const char *name = kr_value_as_str(kr_value_get(new_obj, "metadata.name"));
        if (name == NULL || strcmp(name, b->node_name) != 0)
            return;
        b->masq_done = false; /* a flushed table gets its rule back */
    }
    nodes_changed(b, resync);
}

static void on_node_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    (void)obj;
    nodes_changed(ud, false);
}

/* ---- init and fini --------------------------------------------------------------- */

static void br_fini(void *instance)
{
    bridge_t *b = instance;
    if (b == NULL)
        return;
    kr_informer_destroy(&b->nodes);
    br_ipam_destroy(&b->ipam);
    free(b->routes);
    pthread_rwlock_destroy(&b->lock);
    free(b);
}

/* The range of the last run: DEL and GC work before the Node is seen
 * again (an agent restarted while the server is away). */
static void range_load(bridge_t *b)
{
    char path[4200], cidr[64] = "";
    snprintf(path, sizeof path, "%s/%s", b->dir, BR_RANGE_FILE);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    if (fgets(cidr, sizeof cidr, f) != NULL) {
        cidr[strcspn(cidr, "\n")] = '\0';
        kr_error_t err;
        b->ipam = br_ipam_open(b->dir, cidr, &err);
    }
    fclose(f);
}

static void *br_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const br_conf_t *conf = config;
    struct in_addr net;
    int prefix;
    if (!parse_cidr4(conf->cluster_cidr, &net, &prefix)) {
        kr_error_set(err, KR_E_INVALID, "cluster_cidr: invalid CIDR address: %s",
                     conf->cluster_cidr ? conf->cluster_cidr : "");
        return NULL;
    }
    if (conf->mtu < 576 || conf->mtu > 65535) {
        kr_error_set(err, KR_E_INVALID, "mtu: must be between 576 and 65535");
        return NULL;
    }
    if (conf->bridge == NULL || *conf->bridge == '\0' || strlen(conf->bridge) >= IFNAMSIZ) {
        kr_error_set(err, KR_E_INVALID, "bridge: must be 1 to %d characters", IFNAMSIZ - 1);
        return NULL;
    }
    bridge_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        abort();
    b->ctx = ctx;
    b->conf = conf;
    pthread_rwlock_init(&b->lock, NULL);
    if (conf->node_name != NULL && *conf->node_name) {
        snprintf(b->node_name, sizeof b->node_name, "%s", conf->node_name);
    } else {
        if (gethostname(b->node_name, sizeof b->node_name - 1) < 0)
            snprintf(b->node_name, sizeof b->node_name, "localhost");
        for (char *c = b->node_name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    }
    snprintf(b->why, sizeof b->why, "no podCIDR is assigned to node \"%s\" yet", b->node_name);
    snprintf(b->dir, sizeof b->dir, "%s/network/%s", kr_plugin_data_dir(ctx), kr_plugin_name(ctx));
    if (kr_mkdir_p(b->dir, 0755, err) < 0) {
        br_fini(b);
        return NULL;
    }
    range_load(b);
    /* forwarding between the bridge and the node's interfaces; bridged
     * packets through iptables, so that pod -> Service -> pod on one node
     * is DNATed and un-DNATed by conntrack (per namespace on this kernel) */
    if (br_sysctl_set("net.ipv4.ip_forward", "1", err) < 0) {
        br_fini(b);
        return NULL;
    }
    kr_error_t e2;
    if (br_sysctl_set("net.bridge.bridge-nf-call-iptables", "1", &e2) < 0)
        kr_plugin_log(ctx, KR_LOG_WARN, "pod -> Service -> pod on one node needs br_netfilter",
                      "error=\"%s\"", e2.message);
    kr_informer_opts_t no = {.res = "v1/nodes",
                             .name = "network-bridge nodes",
                             .resync_ms = 60000,
                             .handlers = {on_node_add, on_node_update, on_node_delete, b}};
    b->nodes = kr_informer_new(kr_plugin_loop(ctx), kr_plugin_bus(ctx), &no, err);
    if (b->nodes == NULL || kr_informer_start(b->nodes, err) < 0) {
        br_fini(b);
        return NULL;
    }
    b->ops = (kr_network_ops_t){
        .struct_size = sizeof(kr_network_ops_t),
        .network_name = "bridge",
        .ready = br_ready,
        .pod_add = br_pod_add,
        .pod_del = br_pod_del,
        .gc = br_gc,
    };
    if (kr_network_register(ctx, &b->ops, b, err) < 0) {
        br_fini(b);
        return NULL;
    }
    kr_plugin_log(ctx, KR_LOG_INFO, "pod network waiting for the node's podCIDR",
                  "node=%s bridge=%s cluster_cidr=%s dir=%s", b->node_name, conf->bridge,
                  conf->cluster_cidr, b->dir);
    return b;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "network",
    .name = "bridge",
    .version = "0.1.0",
    .description = "pod network: a bridge, a veth per pod, host-gw routes between nodes",
    .config = br_config,
    .config_size = sizeof(br_conf_t),
    .init = br_init,
    .fini = br_fini,
};
