/* network-proxy: kube-proxy's iptables mode, through libiptc
 * (docs/network-proxy.md).
 *
 * Informers on Services and EndpointSlices feed the model (model.c); a
 * change marks its Service pending and asks for a sync, at most one per
 * min_sync_period (upstream's BoundedFrequencyRunner); every sync_period a
 * full sync rewrites all our chains, which repairs what someone else
 * changed in them.  A sync rebuilds only our chains, in one commit per
 * table, under the xtables lock (sync.c).  The first sync waits until both
 * informers have listed, so a restart never removes rules it is about to
 * write again.  Rules stay when the plugin stops, as kube-proxy's do: the
 * Services keep working while the agent restarts.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/informer.h>
#include <kraal/plugin.h>

#include "conntrack.h"
#include "model.h"
#include "rules.h"
#include "sync.h"

#define PROXY_SLICE_LABEL "kubernetes.io/service-name"
#define PROXY_POLL_MS     50
#define PROXY_RETRY_MAX   30000

struct proxy_conf {
    const char *node_name;
    const char *node_ip;
    int64_t sync_period_ms;
    int64_t min_sync_period_ms;
    bool masquerade_all;
    const char *cluster_cidr;
    int64_t lock_wait_ms;
};

static const kr_config_entry_t proxy_table[] = {
    {KR_CFG_STRING, "node_name", NULL, offsetof(struct proxy_conf, node_name),
     "this node's name (the agent's node_name), for logs"},
    {KR_CFG_STRING, "node_ip", NULL, offsetof(struct proxy_conf, node_ip),
     "this node's InternalIP (the agent's node_ip), for logs"},
    {KR_CFG_DURATION, "sync_period", "30s", offsetof(struct proxy_conf, sync_period_ms),
     "period of the full sync that rewrites every chain (kube-proxy's --iptables-sync-period)"},
    {KR_CFG_DURATION, "min_sync_period", "1s", offsetof(struct proxy_conf, min_sync_period_ms),
     "shortest time between two syncs (--iptables-min-sync-period); 0 syncs at every change"},
    {KR_CFG_BOOL, "masquerade_all", "false", offsetof(struct proxy_conf, masquerade_all),
     "masquerade every packet sent to a ClusterIP (--masquerade-all)"},
    {KR_CFG_STRING, "cluster_cidr", NULL, offsetof(struct proxy_conf, cluster_cidr),
     "the pod network (10.244.0.0/16): packets from outside it to a ClusterIP are masqueraded "
     "(--cluster-cidr); unset: only hairpin and NodePort traffic is"},
    {KR_CFG_DURATION, "lock_wait", "5s", offsetof(struct proxy_conf, lock_wait_ms),
     "longest wait for the xtables lock (iptables -w)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct proxy {
    kr_plugin_ctx_t *ctx;
    kr_loop_t *loop;
    const struct proxy_conf *conf;
    proxy_opts_t opts;
    kr_informer_t *svcs, *slices;
    proxy_model_t *model;
    uint64_t poll_timer, sync_timer, full_timer;
    uint64_t last_sync_ms;
    uint64_t retry_ms; /* back-off after a failed sync; 0 after a success */
    bool started;      /* both informers listed: syncs may run */
    bool full_due;     /* the next sync is a full one */
    bool filter_due;   /* the filter table needs a write */
    bool entries_due;  /* KRAAL-SERVICES and KRAAL-NODEPORTS need a write */
} proxy_t;

static void sync_now(kr_loop_t *loop, uint64_t id, void *ud);
static void clear_stale(proxy_t *p);

/* Asks for a sync, no sooner than min_sync_period after the last one. */
static void schedule(proxy_t *p)
{
    if (!p->started || p->sync_timer)
        return;
    uint64_t now = kr_loop_now(p->loop),
             at = p->last_sync_ms + (uint64_t)p->conf->min_sync_period_ms;
    if (p->retry_ms)
        at = p->last_sync_ms + p->retry_ms;
    p->sync_timer = kr_loop_add_timer(p->loop, at > now ? at - now : 0, 0, sync_now, p);
}

static const kr_value_t *lookup(void *ud, bool slice, const char *key)
{
    proxy_t *p = ud;
    return kr_informer_get_key(slice ? p->slices : p->svcs, key);
}

static void sync_now(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    proxy_t *p = ud;
    p->sync_timer = 0;
    bool entries = false;
    size_t changed = proxy_model_update(p->model, lookup, p, &entries);
    if (entries)
        p->entries_due = p->filter_due = true;
    size_t n;
    proxy_svcport_t *const *sps = proxy_model_svcports(p->model, &n);
    bool full = p->full_due;
    if (!full && !changed && !p->retry_ms)
        return;
    kr_error_t err;
    proxy_sync_result_t res;
    uint64_t t0 = kr_time_ms();
    unsigned what = (full ? PROXY_SYNC_FULL : 0) | (p->filter_due ? PROXY_SYNC_FILTER : 0) |
                    (p->entries_due ? PROXY_SYNC_ENTRIES : 0);
    int rc = proxy_sync(sps, n, &p->opts, what, (int)p->conf->lock_wait_ms, &res, &err);
    p->last_sync_ms = kr_loop_now(p->loop);
    if (rc < 0) {
        p->retry_ms = p->retry_ms ? p->retry_ms * 2 : 1000;
        if (p->retry_ms > PROXY_RETRY_MAX)
            p->retry_ms = PROXY_RETRY_MAX;
        kr_plugin_log(p->ctx, KR_LOG_ERROR, "syncing the Service rules failed",
                      "error=\"%s\" retry_ms=%llu", err.message, (unsigned long long)p->retry_ms);
        schedule(p);
        return;
    }
    p->retry_ms = 0;
    clear_stale(p);
    p->full_due = false;
    p->filter_due = false;
    p->entries_due = false;
    kr_plugin_log(p->ctx, full ? KR_LOG_DEBUG : KR_LOG_INFO, "synced the Service rules",
                  "full=%s svcports=%zu changed=%zu chains_written=%zu chains_removed=%zu "
                  "rules=%zu ms=%llu",
                  full ? "true" : "false", n, changed, res.chains_written, res.chains_removed,
                  res.rules, (unsigned long long)(kr_time_ms() - t0));
    if (proxy_model_pending(p->model))
        schedule(p);
}

/* After the rules changed: the UDP flows that still go to a removed
 * endpoint (or were rejected) start over.  A failure only costs those
 * flows their conntrack timeout, so it is logged, not retried. */
static void clear_stale(proxy_t *p)
{
    size_t n;
    proxy_ct_stale_t *items = proxy_model_take_stale(p->model, &n);
    if (n == 0) {
        free(items);
        return;
    }
    kr_error_t err;
    int deleted = proxy_conntrack_clear(items, n, &err);
    if (deleted < 0)
        kr_plugin_log(p->ctx, KR_LOG_WARN, "clearing stale UDP conntrack entries failed",
                      "error=\"%s\"", err.message);
    else if (deleted > 0)
        kr_plugin_log(p->ctx, KR_LOG_INFO, "cleared stale UDP conntrack entries", "entries=%d",
                      deleted);
    free(items);
}

static bool relink_slice(const kr_value_t *obj, void *ud);
static bool touch_svc(const kr_value_t *obj, void *ud);

/* The full sync rebuilds the model from the caches too, as kube-proxy's
 * does from its maps: a Service whose events went astray is right again
 * within one sync_period. */
static void full_tick(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    proxy_t *p = ud;
    proxy_model_unlink_all(p->model);
    kr_informer_each(p->slices, NULL, relink_slice, p);
    kr_informer_each(p->svcs, NULL, touch_svc, p);
    p->full_due = true;
    schedule(p);
}

static void poll_synced(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)id;
    proxy_t *p = ud;
    if (!kr_informer_has_synced(p->svcs) || !kr_informer_has_synced(p->slices))
        return;
    kr_loop_cancel_timer(loop, p->poll_timer);
    p->poll_timer = 0;
    p->started = true;
    p->full_due = true;
    p->filter_due = true;
    schedule(p);
    if (p->conf->sync_period_ms > 0)
        p->full_timer = kr_loop_add_timer(loop, (uint64_t)p->conf->sync_period_ms,
                                          (uint64_t)p->conf->sync_period_ms, full_tick, p);
}

/* ------------------------------------------------------------------ */
/* Informer handlers */

static void svc_changed(proxy_t *p, const kr_value_t *obj)
{
    char key[512];
    if (kr_informer_key(obj, key, sizeof(key)) < 0)
        return;
    proxy_model_touch(p->model, key);
    schedule(p);
}

static void svc_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    svc_changed(ud, obj);
}

static void svc_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                       void *ud)
{
    (void)inf;
    if (old_obj == new_obj)
        return; /* a resync: the full sync timer covers it */
    svc_changed(ud, new_obj);
}

static void slice_changed(proxy_t *p, const kr_value_t *obj, bool gone)
{
    char key[512], svc_key[512];
    if (kr_informer_key(obj, key, sizeof(key)) < 0)
        return;
    const char *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    const kr_value_t *labels = kr_value_get(obj, "metadata.labels");
    const char *svc = kr_value_map_str(labels, PROXY_SLICE_LABEL);
    bool linked = !gone && ns && svc && *svc &&
                  snprintf(svc_key, sizeof(svc_key), "%s/%s", ns, svc) < (int)sizeof(svc_key);
    proxy_model_link_slice(p->model, key, linked ? svc_key : NULL);
    schedule(p);
}

static bool relink_slice(const kr_value_t *obj, void *ud)
{
    slice_changed(ud, obj, false);
    return true;
}

static bool touch_svc(const kr_value_t *obj, void *ud)
{
    svc_changed(ud, obj);
    return true;
}

static void slice_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    slice_changed(ud, obj, false);
}

static void slice_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                         void *ud)
{
    (void)inf;
    if (old_obj == new_obj)
        return;
    slice_changed(ud, new_obj, false);
}

static void slice_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    slice_changed(ud, obj, true);
}

/* ------------------------------------------------------------------ */
/* Plugin */

static int parse_cidr(const char *s, uint32_t *addr, int *prefix, kr_error_t *err)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    char *end = NULL;
    long len = slash ? strtol(slash + 1, &end, 10) : -1;
    if (!slash || (size_t)(slash - s) >= sizeof(ip) || !end || *end || len < 0 || len > 32)
        return kr_error_set(err, KR_E_INVALID, "cluster_cidr: invalid CIDR address: %s", s);
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = 0;
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return kr_error_set(err, KR_E_INVALID, "cluster_cidr: invalid CIDR address: %s", s);
    *addr = a.s_addr;
    *prefix = (int)len;
    return 0;
}

static void proxy_fini(void *instance)
{
    proxy_t *p = instance;
    if (!p)
        return;
    kr_informer_destroy(&p->svcs);
    kr_informer_destroy(&p->slices);
    if (p->poll_timer)
        kr_loop_cancel_timer(p->loop, p->poll_timer);
    if (p->sync_timer)
        kr_loop_cancel_timer(p->loop, p->sync_timer);
    if (p->full_timer)
        kr_loop_cancel_timer(p->loop, p->full_timer);
    proxy_model_destroy(&p->model);
    free(p);
}

static void *proxy_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct proxy_conf *conf = config;
    if (conf->min_sync_period_ms < 0 || conf->sync_period_ms < 0 || conf->lock_wait_ms < 0) {
        kr_error_set(err, KR_E_INVALID, "sync_period, min_sync_period and lock_wait must be >= 0");
        return NULL;
    }
    proxy_t *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->ctx = ctx;
    p->loop = kr_plugin_loop(ctx);
    p->conf = conf;
    p->opts.masquerade_all = conf->masquerade_all;
    p->opts.comments = false;
    if (conf->cluster_cidr &&
        parse_cidr(conf->cluster_cidr, &p->opts.cluster_cidr, &p->opts.cluster_prefix, err) < 0) {
        free(p);
        return NULL;
    }
    p->model = proxy_model_new();
    kr_informer_opts_t so = {
        .res = "v1/services",
        .name = "network-proxy services",
        .handlers = {.on_add = svc_add, .on_update = svc_update, .on_delete = svc_add, .ud = p},
    };
    kr_informer_opts_t lo = {
        .res = "discovery.k8s.io/v1/endpointslices",
        .label_selector = PROXY_SLICE_LABEL,
        .name = "network-proxy endpointslices",
        .handlers = {.on_add = slice_add,
                     .on_update = slice_update,
                     .on_delete = slice_delete,
                     .ud = p},
    };
    kr_bus_t *bus = kr_plugin_bus(ctx);
    if (!(p->svcs = kr_informer_new(p->loop, bus, &so, err)) ||
        !(p->slices = kr_informer_new(p->loop, bus, &lo, err)) ||
        kr_informer_start(p->svcs, err) < 0 || kr_informer_start(p->slices, err) < 0) {
        proxy_fini(p);
        return NULL;
    }
    p->poll_timer = kr_loop_add_timer(p->loop, PROXY_POLL_MS, PROXY_POLL_MS, poll_synced, p);
    kr_plugin_log(ctx, KR_LOG_INFO, "network-proxy started", "node=%s node_ip=%s",
                  conf->node_name ? conf->node_name : "", conf->node_ip ? conf->node_ip : "");
    return p;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "network",
    .name = "proxy",
    .version = "0.1.0",
    .description = "Services to nat rules through libiptc (kube-proxy's iptables mode)",
    .config = proxy_table,
    .config_size = sizeof(struct proxy_conf),
    .init = proxy_init,
    .fini = proxy_fini,
};
