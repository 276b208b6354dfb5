/* controller-nodeipam: gives every Node a pod CIDR, after upstream's
 * node-ipam-controller with the RangeAllocator
 * (pkg/controller/nodeipam/ipam/range_allocator.go).
 *
 * - The cluster CIDR (cluster_cidr, 10.244.0.0/16) is cut into subnets of
 *   node_cidr_mask_size (24) bits: cidrset.c.  A Node informer (kept to
 *   names and pod CIDRs) marks the subnets every Node holds — on the first
 *   list before anything is handed out, so a restart never hands out a
 *   subnet twice (occupyCIDRs); the Nodes are the record.
 * - A Node without spec.podCIDRs goes through a queue: the next free
 *   subnet (round robin, as AllocateNext) is patched into spec.podCIDR and
 *   spec.podCIDRs (PatchNodeCIDRs, a merge patch).  The API allows that
 *   once ("node updates may not change podCIDR except from \"\" to
 *   valid").
 * - A failed patch is tried again (cidrUpdateRetries, 3), then the Node
 *   gets a CIDRAssignmentFailed event and the subnet goes back; a patch
 *   that timed out keeps its subnet for the Node (it may have been
 *   written: upstream accepts the leak, here the Node's next try reuses
 *   it).  A full range records CIDRNotAvailable on the Node and retries
 *   with a back-off, and at once when a subnet is released.
 * - A deleted Node's subnets are released (ReleaseCIDR).
 * Events are the cidrAllocator's, as upstream's RecordNodeStatusChange
 * writes them: Normal, "Node <name> status is now: <reason>". */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/events.h>
#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/workqueue.h>

#include "cidrset.h"

#define IPAM_NODES          "v1/nodes"
#define IPAM_TIMEOUT_MS     10000
#define IPAM_UPDATE_RETRIES 3 /* cidrUpdateRetries */
#define IPAM_WAIT_SYNCED_MS 100
#define IPAM_CIDR_MAX       24 /* "255.255.255.255/32" and NUL */

struct ipam_conf {
    const char *cluster_cidr;
    int64_t node_cidr_mask_size;
};

static const kr_config_entry_t ipam_table[] = {
    {KR_CFG_STRING, "cluster_cidr", "10.244.0.0/16", offsetof(struct ipam_conf, cluster_cidr),
     "the IPv4 range the nodes' pod CIDRs are cut from (--cluster-cidr)"},
    {KR_CFG_INT, "node_cidr_mask_size", "24", offsetof(struct ipam_conf, node_cidr_mask_size),
     "prefix length of each node's pod CIDR (--node-cidr-mask-size)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct ipam ipam_t;

/* A subnet handed to a Node whose patch is in flight, or timed out (then
 * `limbo`: no request, the subnet kept for the Node's next try). */
typedef struct ipam_req {
    struct ipam_req *prev, *next;
    ipam_t *c; /* NULL after fini */
    uint32_t index;
    unsigned tries;
    bool limbo;
    bool node_gone;
    char name[];
} ipam_req_t;

struct ipam {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    ipam_cidrset_t set;
    kr_informer_t *nodes;
    kr_workqueue_t *q;
    kr_events_t *ev;
    ipam_req_t *reqs;
};

/* ---- nodes ------------------------------------------------------------------------- */

static const char *node_name(const kr_value_t *node)
{
    return kr_value_as_str(kr_value_get(node, "metadata.name"));
}

/* spec.podCIDRs, or spec.podCIDR alone as a list of one (NULL: none). */
static size_t node_cidrs(const kr_value_t *node, const char **out, size_t max)
{
    const kr_value_t *list = kr_value_get(node, "spec.podCIDRs");
    size_t n = 0;
    for (size_t i = 0; i < kr_value_len(list) && n < max; i++) {
        const char *s = kr_value_as_str(kr_value_array_get(list, i));
        if (s != NULL && *s)
            out[n++] = s;
    }
    const char *one = kr_value_as_str(kr_value_get(node, "spec.podCIDR"));
    if (n == 0 && one != NULL && *one && max > 0)
        out[n++] = one;
    return n;
}

/* What the cache keeps of a Node: its name, uid and pod CIDRs. */
static const kr_value_t *node_transform(kr_arena_t *a, const kr_value_t *node, void *ud)
{
    (void)ud;
    kr_value_t *out = kr_value_map(a), *meta = kr_value_map(a), *spec = kr_value_map(a);
    static const char *const keep[] = {"name", "uid", "resourceVersion"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const kr_value_t *v = kr_value_get(kr_value_map_get(node, "metadata"), keep[i]);
        if (v != NULL)
            kr_value_map_set(a, meta, keep[i], kr_value_copy(a, v));
    }
    const kr_value_t *ns = kr_value_map_get(node, "spec");
    static const char *const kspec[] = {"podCIDR", "podCIDRs"};
    for (size_t i = 0; i < 2; i++) {
        const kr_value_t *v = kr_value_map_get(ns, kspec[i]);
        if (v != NULL)
            kr_value_map_set(a, spec, kspec[i], kr_value_copy(a, v));
    }
    kr_value_map_set(a, out, "metadata", meta);
    kr_value_map_set(a, out, "spec", spec);
    return out;
}

/* RecordNodeStatusChange */
static void node_status_event(ipam_t *c, const char *name, const char *status)
{
    const kr_value_t *node = kr_informer_get(c->nodes, NULL, name);
    kr_objref_t ref = {.api_version = "v1",
                       .kind = "Node",
                       .name = name,
                       .uid = kr_value_as_str(kr_value_get(node, "metadata.uid"))};
    kr_events_record_ref(c->ev, &ref, KR_EVENT_NORMAL, status, "Node %s status is now: %s", name,
                         status);
}

/* ---- requests ------------------------------------------------------------------------ */

static ipam_req_t *req_find(ipam_t *c, const char *name)
{
    for (ipam_req_t *r = c->reqs; r != NULL; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static void req_unlink(ipam_t *c, ipam_req_t *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static ipam_req_t *req_new(ipam_t *c, const char *name, uint32_t index)
{
    size_t len = strlen(name);
    ipam_req_t *r = calloc(1, sizeof *r + len + 1);
    if (r == NULL)
        abort();
    memcpy(r->name, name, len + 1);
    r->c = c;
    r->index = index;
    r->next = c->reqs;
    if (c->reqs != NULL)
        c->reqs->prev = r;
    c->reqs = r;
    return r;
}

/* Drops a request, giving its subnet back. */
static void req_release(ipam_t *c, ipam_req_t *r)
{
    ipam_cidrset_release_index(&c->set, r->index, r->name);
    req_unlink(c, r);
    free(r);
}

static void enqueue_waiting(ipam_t *c);
static void send_patch(ipam_t *c, ipam_req_t *r);

static void on_patch(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    ipam_req_t *r = ud;
    ipam_t *c = r->c;
    if (c == NULL) {
        free(r);
        return;
    }
    char cidr[IPAM_CIDR_MAX];
    ipam_cidrset_format(&c->set, r->index, cidr, sizeof cidr);
    if (reply->code == 200) {
        kr_plugin_log(c->ctx, KR_LOG_INFO, "Set node PodCIDR", "node=%s podCIDRs=[%s]", r->name,
                      cidr);
        kr_workqueue_forget(c->q, r->name);
        req_unlink(c, r);
        free(r);
        return;
    }
    const char *msg = reply->message ? reply->message : "";
    if (r->node_gone || reply->code == 404) {
        req_release(c, r);
        enqueue_waiting(c);
        return;
    }
    if (reply->code == 409 || reply->code == 422) {
        /* the Node got a CIDR meanwhile (another writer): what it has is
         * marked by its next sync */
        kr_plugin_log(c->ctx, KR_LOG_WARN,
                      "Node already has a CIDR allocated; releasing the new one",
                      "node=%s podCIDR=%s error=\"%s\"", r->name, cidr, msg);
        kr_workqueue_add(c->q, r->name, NULL);
        req_release(c, r);
        return;
    }
    if (++r->tries < IPAM_UPDATE_RETRIES) {
        send_patch(c, r);
        return;
    }
    kr_plugin_log(c->ctx, KR_LOG_ERROR, "Failed to update node PodCIDR after multiple attempts",
                  "node=%s podCIDRs=[%s] code=%d error=\"%s\"", r->name, cidr, reply->code, msg);
    node_status_event(c, r->name, "CIDRAssignmentFailed");
    kr_workqueue_add_rate_limited(c->q, r->name, NULL);
    if (reply->code == 504) {
        r->limbo = true; /* it may have been written: the next try reuses it */
        return;
    }
    req_release(c, r);
}

/* PatchNodeCIDRs: {"spec":{"podCIDR":c,"podCIDRs":[c]}} as a merge patch. */
static void send_patch(ipam_t *c, ipam_req_t *r)
{
    kr_arena_t *a = kr_arena_new(1024);
    char cidr[IPAM_CIDR_MAX];
    ipam_cidrset_format(&c->set, r->index, cidr, sizeof cidr);
    kr_value_t *patch = kr_value_map(a), *spec = kr_value_map(a), *list = kr_value_array(a);
    kr_value_array_push(a, list, kr_value_str(a, cidr));
    kr_value_map_set(a, spec, "podCIDR", kr_value_str(a, cidr));
    kr_value_map_set(a, spec, "podCIDRs", list);
    kr_value_map_set(a, patch, "spec", spec);
    kr_value_t *opts = kr_value_map(a);
    kr_value_map_set(a, opts, "patchType", kr_value_str(a, "application/merge-patch+json"));
    kr_request_t req = {
        .op = "patch", .res = IPAM_NODES, .name = r->name, .obj = patch, .opts = opts};
    kr_error_t err;
    r->limbo = false;
    if (kr_bus_send(c->bus, &req, on_patch, r, IPAM_TIMEOUT_MS, NULL, &err) < 0) {
        kr_plugin_log(c->ctx, KR_LOG_WARN, "cannot send the node patch", "node=%s error=\"%s\"",
                      r->name, err.message);
        r->limbo = true;
        kr_workqueue_add_rate_limited(c->q, r->name, NULL);
    }
    kr_arena_destroy(&a);
}

/* ---- the queue --------------------------------------------------------------------- */

/* occupyCIDRs: marks what the Node holds. */
static void occupy(ipam_t *c, const char *name, const char *const *cidrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *other = NULL;
        int rc = ipam_cidrset_occupy(&c->set, cidrs[i], name, &other);
        if (rc == 0)
            kr_plugin_log(c->ctx, KR_LOG_WARN, "Node's pod CIDR is not in the cluster CIDR",
                          "node=%s podCIDR=%s", name, cidrs[i]);
        else if (rc < 0)
            kr_plugin_log(c->ctx, KR_LOG_ERROR, "Node's pod CIDR is another node's",
                          "node=%s podCIDR=%s other=%s", name, cidrs[i], other);
    }
}

static void sync_node(kr_workqueue_t *q, const char *key, void *ud)
{
    ipam_t *c = ud;
    if (!kr_informer_has_synced(c->nodes)) {
        /* nothing is handed out before every Node's CIDR is marked */
        kr_workqueue_add_after(q, key, IPAM_WAIT_SYNCED_MS, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    const kr_value_t *node = kr_informer_get(c->nodes, NULL, key);
    const char *cidrs[2];
    ipam_req_t *r = req_find(c, key);
    if (node == NULL || node_cidrs(node, cidrs, 2) > 0) {
        if (node != NULL)
            occupy(c, key, cidrs, node_cidrs(node, cidrs, 2));
        if (r != NULL && r->limbo) {
            /* the timed-out patch either went through (the subnet is the
             * Node's now) or not (it goes back) */
            bool mine = false;
            char cidr[IPAM_CIDR_MAX];
            ipam_cidrset_format(&c->set, r->index, cidr, sizeof cidr);
            for (size_t i = 0; node != NULL && i < node_cidrs(node, cidrs, 2); i++)
                mine = mine || strcmp(cidrs[i], cidr) == 0;
            if (mine) {
                req_unlink(c, r);
                free(r);
            } else {
                req_release(c, r);
            }
        }
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    if (r != NULL) {
        if (r->limbo) {
            r->tries = 0;
            send_patch(c, r);
        }
        kr_workqueue_done(q, key, NULL);
        return;
    }
    uint32_t index;
    if (!ipam_cidrset_allocate(&c->set, key, &index)) {
        kr_plugin_log(c->ctx, KR_LOG_WARN, "failed to allocate a pod CIDR: the range is full",
                      "node=%s cluster_cidr_subnets=%" PRIu32, key, c->set.n);
        node_status_event(c, key, "CIDRNotAvailable");
        kr_workqueue_add_rate_limited(q, key, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    send_patch(c, req_new(c, key, index));
    kr_workqueue_done(q, key, NULL);
}

static bool enqueue_one(const kr_value_t *node, void *ud)
{
    ipam_t *c = ud;
    const char *cidrs[1];
    const char *name = node_name(node);
    if (name != NULL && node_cidrs(node, cidrs, 1) == 0)
        kr_workqueue_add(c->q, name, NULL);
    return true;
}

/* A subnet came free: the Nodes still waiting try again at once. */
static void enqueue_waiting(ipam_t *c)
{
    kr_informer_each(c->nodes, NULL, enqueue_one, c);
}

/* ---- handlers ------------------------------------------------------------------------ */

static void on_node(kr_informer_t *inf, const kr_value_t *node, void *ud)
{
    (void)inf;
    ipam_t *c = ud;
    const char *name = node_name(node);
    const char *cidrs[2];
    if (name == NULL)
        return;
    size_t n = node_cidrs(node, cidrs, 2);
    if (n > 0)
        occupy(c, name, cidrs, n);
    else
        kr_workqueue_add(c->q, name, NULL);
}

static void on_node_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *node,
                           void *ud)
{
    (void)old;
    on_node(inf, node, ud);
}

static void on_node_delete(kr_informer_t *inf, const kr_value_t *node, void *ud)
{
    (void)inf;
    ipam_t *c = ud;
    const char *name = node_name(node);
    const char *cidrs[2];
    if (name == NULL)
        return;
    size_t freed = 0, n = node_cidrs(node, cidrs, 2);
    for (size_t i = 0; i < n; i++)
        freed += ipam_cidrset_release(&c->set, cidrs[i], name);
    ipam_req_t *r = req_find(c, name);
    if (r != NULL && r->limbo) {
        req_release(c, r);
        freed++;
    } else if (r != NULL) {
        r->node_gone = true; /* released when its reply comes */
    }
    if (freed > 0) {
        kr_plugin_log(c->ctx, KR_LOG_INFO, "Released the pod CIDR of a deleted node",
                      "node=%s podCIDRs=%zu", name, freed);
        enqueue_waiting(c);
    }
}

/* ---- life cycle ---------------------------------------------------------------------- */

static void ipam_fini(void *instance)
{
    ipam_t *c = instance;
    if (c->q != NULL)
        kr_workqueue_shutdown(c->q);
    kr_informer_destroy(&c->nodes);
    kr_workqueue_destroy(&c->q);
    /* requests in flight are freed by their callbacks (the bus answers
     * them when it goes); the others now */
    for (ipam_req_t *r = c->reqs; r != NULL;) {
        ipam_req_t *next = r->next;
        r->c = NULL;
        if (r->limbo)
            free(r);
        r = next;
    }
    kr_events_destroy(&c->ev);
    ipam_cidrset_fini(&c->set);
    free(c);
}

static void *ipam_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct ipam_conf *conf = config;
    ipam_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    if (conf->node_cidr_mask_size < 0 || conf->node_cidr_mask_size > 32) {
        kr_error_set(err, KR_E_INVALID,
                     "node_cidr_mask_size: Invalid value: %" PRId64 ": must be between 0 and 32",
                     conf->node_cidr_mask_size);
        free(c);
        return NULL;
    }
    if (ipam_cidrset_init(&c->set, conf->cluster_cidr, (int)conf->node_cidr_mask_size, err) < 0) {
        ipam_cidrset_fini(&c->set);
        free(c);
        return NULL;
    }
    kr_workqueue_opts_t qo = {.name = kr_plugin_name(ctx), .max_in_flight = 1, .qps = -1};
    kr_informer_opts_t no = {
        .res = IPAM_NODES,
        .name = "nodeipam-nodes",
        .handlers = {on_node, on_node_update, on_node_delete, c},
    };
    if ((c->ev = kr_events_new(c->bus, &(kr_events_opts_t){.component = "cidrAllocator"}, err)) ==
            NULL ||
        (c->q = kr_workqueue_new(c->loop, &qo, sync_node, c, err)) == NULL ||
        (c->nodes = kr_informer_new(c->loop, c->bus, &no, err)) == NULL ||
        kr_informer_set_transform(c->nodes, node_transform, NULL, err) < 0 ||
        kr_informer_start(c->nodes, err) < 0) {
        ipam_fini(c);
        return NULL;
    }
    kr_plugin_log(ctx, KR_LOG_INFO, "node IPAM started",
                  "cluster_cidr=%s node_cidr_mask_size=%d "
                  "node_cidrs=%" PRIu32,
                  conf->cluster_cidr, c->set.mask, c->set.n);
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "nodeipam",
    .version = "0.1.0",
    .description = "gives every Node a pod CIDR from the cluster CIDR (upstream's "
                   "node-ipam-controller, RangeAllocator)",
    .config = ipam_table,
    .config_size = sizeof(struct ipam_conf),
    .init = ipam_init,
    .fini = ipam_fini,
};
