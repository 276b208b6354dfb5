/* controller-nodelifecycle: upstream's NodeLifecycleController
 * (pkg/controller/nodelifecycle/node_lifecycle_controller.go) with the
 * taint eviction controller (pkg/controller/tainteviction) in one plugin.
 *
 * Node health.  Every node_monitor_period (5 s) each node's health signal
 * is looked at: its Lease kube-node-lease/<node> (renewTime) and the Ready
 * condition's lastHeartbeatTime.  The controller remembers when it last
 * saw either change, on its own clock (upstream's probeTimestamp, so that
 * clock skew between nodes does not matter); a node not heard from for
 * node_monitor_grace_period (40 s; node_startup_grace_period, 60 s, for a
 * node that never posted Ready) gets Ready, MemoryPressure, DiskPressure
 * and PIDPressure set to Unknown ("NodeStatusUnknown", "Kubelet stopped
 * posting node status.") through nodes/status.  When Ready leaves True the
 * node gets a NodeNotReady Event and its pods' Ready condition is set to
 * False (MarkPodsNotReady, a NodeNotReady Event on each pod).
 *
 * Taints.  TaintNodesByCondition: a node's conditions are mirrored as
 * NoSchedule taints (Ready False → node.kubernetes.io/not-ready, Unknown →
 * unreachable, memory/disk/pid-pressure, network-unavailable,
 * spec.unschedulable → unschedulable).  A node not ready or unreachable
 * gets the not-ready or unreachable NoExecute taint, at most
 * node_eviction_rate nodes a second per zone (0.1: one every 10 s;
 * secondary_node_eviction_rate in a zone where at least
 * unhealthy_zone_threshold of more than 2 nodes are down and the zone has
 * more than large_cluster_size_threshold nodes, none in a smaller one;
 * none at all while every zone is down, when the controller rather
 * assumes it is cut off itself); both go when the node is Ready again.
 *
 * Taint eviction.  A pod on a node with NoExecute taints it does not
 * tolerate is deleted at once; one whose tolerations have
 * tolerationSeconds is deleted that long after the taint was seen (the
 * DefaultTolerationSeconds admission gives every pod 300 s); tolerations
 * without seconds keep it.  Before a deletion the pod gets the
 * DisruptionTarget condition (DeletionByTaintManager) and an Event
 * TaintManagerEviction "Marking for deletion Pod ns/name"; a planned
 * deletion undone (taint gone, pod gone) gets "Cancelling deletion of Pod
 * ns/name".
 *
 * Writes: node taints as a JSON merge patch of spec.taints carrying the
 * cached resourceVersion (a 409 is retried from the fresher cache), node
 * conditions as an update of nodes/status built from the cached node, pod
 * conditions as strategic merge patches of pods/status.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>
#include <kraal/events.h>
#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/synctask.h>
#include <kraal/workqueue.h>

#include "taints.h"

#define NL_TIMEOUT_MS        10000
#define NL_TAINTER_PERIOD_MS 100 /* upstream's NodeEvictionPeriod */
#define NL_EVICT_RETRIES     5
#define NL_EVICT_RETRY_MS    10
#define NL_MAX_INFLIGHT      512 /* requests on the bus at once (it refuses past 1,024) */
#define NL_BUSY_RETRY_MS     100
#define NL_EXCLUDE_LABEL     "node.kubernetes.io/exclude-disruption"
#define NL_LEASE_NS          "kube-node-lease"
#define NL_STRATEGIC         "application/strategic-merge-patch+json"
#define NL_MERGE             "application/merge-patch+json"

struct nl_conf {
    int64_t monitor_period_ms;
    int64_t grace_ms;
    int64_t startup_grace_ms;
    double eviction_rate;
    double secondary_eviction_rate;
    int64_t large_cluster;
    double unhealthy_threshold;
};

static const kr_config_entry_t nl_table[] = {
    {KR_CFG_DURATION, "node_monitor_period", "5s", offsetof(struct nl_conf, monitor_period_ms),
     "how often node health is checked (--node-monitor-period)"},
    {KR_CFG_DURATION, "node_monitor_grace_period", "40s", offsetof(struct nl_conf, grace_ms),
     "a node not heard from (Lease, status) this long is Unknown (--node-monitor-grace-period)"},
    {KR_CFG_DURATION, "node_startup_grace_period", "60s",
     offsetof(struct nl_conf, startup_grace_ms),
     "the same for a node that never posted its status (--node-startup-grace-period)"},
    {KR_CFG_FLOAT, "node_eviction_rate", "0.1", offsetof(struct nl_conf, eviction_rate),
     "nodes per second and zone that get a NoExecute taint (--node-eviction-rate)"},
    {KR_CFG_FLOAT, "secondary_node_eviction_rate", "0.01",
     offsetof(struct nl_conf, secondary_eviction_rate),
     "the same in a partly disrupted large zone (--secondary-node-eviction-rate)"},
    {KR_CFG_INT, "large_cluster_size_threshold", "50", offsetof(struct nl_conf, large_cluster),
     "zones with more nodes are large (--large-cluster-size-threshold)"},
    {KR_CFG_FLOAT, "unhealthy_zone_threshold", "0.55",
     offsetof(struct nl_conf, unhealthy_threshold),
     "share of not-ready nodes (more than 2) that makes a zone partly disrupted "
     "(--unhealthy-zone-threshold)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct nl nl_t;
typedef struct nl_zone nl_zone_t;

/* Per node: the health seen (nodeHealthData), the tainter's decision and
 * the taint eviction's NoExecute taints. */
typedef struct nl_node {
    struct nl_node *next; /* hash chain */
    char *name;
    bool known;      /* in knownNodeSet: RegisteredNode was recorded */
    bool has_health; /* nodeHealth != nil */
    bool saved_ready;
    char *saved_hb, *saved_tr, *saved_lease;
    uint64_t probe_ms;
    nl_zone_t *zone;
    nl_noexec_t noexec;
    bool status_inflight;
    bool retry_mark; /* nodesToRetry: MarkPodsNotReady must run again */
    kr_arena_t *tx_arena;
    kr_value_t *tx_taints; /* NoExecute taints (taintedNodes), NULL: none */
    bool seen;             /* in the current monitor pass */
} nl_node_t;

/* A zone's NoExecute tainter (RateLimitedTimedQueue) and state. */
struct nl_zone {
    struct nl_zone *next;
    char *key;
    nl_zone_state_t state;
    nl_bucket_t bucket;
    char **queue; /* node names, FIFO */
    size_t qlen, qcap;
    int ready, not_ready; /* this pass */
    bool present;         /* has nodes in this pass */
};

/* A planned pod deletion (TimedWorkerQueue's worker). */
typedef struct nl_evict {
    struct nl_evict *next;
    nl_t *c;
    char *key; /* ns/name */
    uint64_t created_ms, fire_ms, timer;
    unsigned attempts;
    bool running; /* fired: the deletion is under way */
} nl_evict_t;

/* The pods of one node, by key (upstream's spec.nodeName index), so that
 * a node's change costs its pods, not every pod of the cluster. */
typedef struct nl_podidx {
    struct nl_podidx *next;
    char *node;
    char **keys;
    size_t n, cap;
} nl_podidx_t;

/* A request in flight; fini orphans it (c = NULL). */
typedef struct nl_req {
    nl_t *c;
    struct nl_req *prev, *next;
    int what;
    char key[];
} nl_req_t;

enum { REQ_STATUS, REQ_TAINTS, REQ_POD_READY, REQ_EVICT_PATCH, REQ_EVICT_DELETE };

#define NL_BUCKETS 1024

struct nl {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct nl_conf conf;
    kr_informer_t *nodes, *leases, *pods;
    kr_workqueue_t *node_q; /* taint writes, per node */
    kr_events_t *ev_node, *ev_taint;
    nl_node_t *buckets[NL_BUCKETS];
    size_t nnodes;
    nl_zone_t *zones;
    nl_evict_t *evicts[NL_BUCKETS];
    nl_podidx_t *podidx[NL_BUCKETS];
    nl_req_t *reqs;
    unsigned inflight;
    unsigned pass_unknown; /* nodes set Unknown in the current pass */
    uint64_t monitor_timer, tainter_timer;
    bool all_full; /* every zone fully disrupted (master disruption mode) */
    kr_arena_t *scratch;
    /* counters */
    uint64_t unknown_set, noexec_tainted, evicted, pods_not_ready, evictions_cancelled;
};

/* ---- small helpers -------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL)
        abort();
    return d;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? xstrdup(s) : NULL;
}

static bool same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static const kr_value_t *node_condition(const kr_value_t *node, const char *type)
{
    const kr_value_t *conds = kr_value_get(node, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        if (same_str(kr_value_map_str(c, "type"), type))
            return c;
    }
    return NULL;
}

static const char *ready_status(const kr_value_t *node)
{
    return kr_value_map_str(node_condition(node, "Ready"), "status");
}

static void now_rfc3339(char *buf, size_t size)
{
    kr_time_format(kr_time_now_ns() / 1000000000, buf, size);
}

static bool has_taint(const kr_value_t *node, const char *key, const char *effect)
{
    const kr_value_t *taints = kr_value_get(node, "spec.taints");
    for (size_t i = 0; i < kr_value_len(taints); i++) {
        const kr_value_t *t = kr_value_array_get(taints, i);
        if (same_str(kr_value_map_str(t, "key"), key) &&
            same_str(kr_value_map_str(t, "effect"), effect))
            return true;
    }
    return false;
}

/* nodetopology.GetZoneKey: region and zone labels (GA, else beta). */
static char *zone_key_of(const kr_value_t *node)
{
    const kr_value_t *l = kr_value_get(node, "metadata.labels");
    const char *region = kr_value_map_str(l, "topology.kubernetes.io/region");
    const char *zone = kr_value_map_str(l, "topology.kubernetes.io/zone");
    if (region == NULL)
        region = kr_value_map_str(l, "failure-domain.beta.kubernetes.io/region");
    if (zone == NULL)
        zone = kr_value_map_str(l, "failure-domain.beta.kubernetes.io/zone");
    size_t len = strlen(region ? region : "") + strlen(zone ? zone : "") + 4;
    char *k = malloc(len);
    if (k == NULL)
        abort();
    /* upstream joins them with ":\x00:"; printable here, for logs */
    snprintf(k, len, "%s:%s", region ? region : "", zone ? zone : "");
    return k;
}

/* ---- nodes and zones ------------------------------------------------------------------ */

static nl_node_t *node_get(nl_t *c, const char *name)
{
    for (nl_node_t *n = c->buckets[hash_str(name) % NL_BUCKETS]; n != NULL; n = n->next)
        if (strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

static nl_node_t *node_ensure(nl_t *c, const char *name)
{
    nl_node_t *n = node_get(c, name);
    if (n != NULL)
        return n;
    n = calloc(1, sizeof *n);
    if (n == NULL)
        abort();
    n->name = xstrdup(name);
    n->noexec = NX_KEEP;
    size_t b = hash_str(name) % NL_BUCKETS;
    n->next = c->buckets[b];
    c->buckets[b] = n;
    c->nnodes++;
    return n;
}

static void zone_dequeue(nl_zone_t *z, const char *name);

static void node_free(nl_node_t *n)
{
    free(n->name);
    free(n->saved_hb);
    free(n->saved_tr);
    free(n->saved_lease);
    kr_arena_destroy(&n->tx_arena);
    free(n);
}

static void node_remove(nl_t *c, const char *name)
{
    for (nl_node_t **pp = &c->buckets[hash_str(name) % NL_BUCKETS]; *pp != NULL;
         pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) != 0)
            continue;
        nl_node_t *n = *pp;
        *pp = n->next;
        if (n->zone != NULL)
            zone_dequeue(n->zone, n->name);
        node_free(n);
        c->nnodes--;
        return;
    }
}

static nl_zone_t *zone_ensure(nl_t *c, const char *key)
{
    for (nl_zone_t *z = c->zones; z != NULL; z = z->next)
        if (strcmp(z->key, key) == 0)
            return z;
    nl_zone_t *z = calloc(1, sizeof *z);
    if (z == NULL)
        abort();
    z->key = xstrdup(key);
    z->state = NL_ZONE_INITIAL;
    nl_bucket_init(&z->bucket, c->conf.eviction_rate, kr_loop_now(c->loop));
    z->next = c->zones;
    c->zones = z;
    kr_plugin_log(c->ctx, KR_LOG_INFO, "Initializing eviction metric for zone", "zone=\"%s\"", key);
    return z;
}

static void zone_dequeue(nl_zone_t *z, const char *name)
{
    for (size_t i = 0; i < z->qlen; i++)
        if (strcmp(z->queue[i], name) == 0) {
            free(z->queue[i]);
            memmove(&z->queue[i], &z->queue[i + 1], (z->qlen - i - 1) * sizeof *z->queue);
            z->qlen--;
            return;
        }
}

static void zone_enqueue(nl_zone_t *z, const char *name)
{
    for (size_t i = 0; i < z->qlen; i++)
        if (strcmp(z->queue[i], name) == 0)
            return;
    if (z->qlen == z->qcap) {
        z->qcap = z->qcap ? 2 * z->qcap : 8;
        z->queue = realloc(z->queue, z->qcap * sizeof *z->queue);
        if (z->queue == NULL)
            abort();
    }
    z->queue[z->qlen++] = xstrdup(name);
}

/* ---- requests ------------------------------------------------------------------------------ */

static nl_req_t *req_new(nl_t *c, int what, const char *key)
{
    size_t len = strlen(key) + 1;
    nl_req_t *r = calloc(1, sizeof *r + len);
    if (r == NULL)
        abort();
    memcpy(r->key, key, len);
    r->c = c;
    r->what = what;
    r->next = c->reqs;
    if (c->reqs != NULL)
        c->reqs->prev = r;
    c->reqs = r;
    return r;
}

static void req_unlink(nl_req_t *r)
{
    nl_t *c = r->c;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
}

/* Sends; false (logged, ticket freed) when the request could not go. */
/* Sends; false (logged unless the controller has NL_MAX_INFLIGHT requests
 * out already) when the request could not go: the caller tries later. */
static bool req_send(nl_t *c, const kr_request_t *req, kr_reply_fn fn, int what, const char *key)
{
    if (c->inflight >= NL_MAX_INFLIGHT)
        return false;
    nl_req_t *r = req_new(c, what, key);
    kr_error_t err;
    if (kr_bus_send(c->bus, req, fn, r, NL_TIMEOUT_MS, NULL, &err) < 0) {
        kr_plugin_log(c->ctx, KR_LOG_WARN, err.message, "op=%s res=%s key=%s", req->op, req->res,
                      key);
        req_unlink(r);
        free(r);
        return false;
    }
    c->inflight++;
    return true;
}

/* The start of a reply callback: the controller, or NULL after fini. */
static nl_t *req_done(nl_req_t *r)
{
    nl_t *c = r->c;
    if (c != NULL) {
        req_unlink(r);
        c->inflight--;
    }
    return c;
}

static bool time_before(const char *a, const char *b);

static kr_value_t *patch_opts(kr_arena_t *a, const char *type)
{
    kr_value_t *o = kr_value_map(a);
    kr_value_map_set(a, o, "patchType", kr_value_str(a, type));
    return o;
}

/* ---- events ------------------------------------------------------------------------------------ */

static void node_event(nl_t *c, const kr_value_t *node, const char *type, const char *reason,
                       const char *msg)
{
    kr_objref_t ref = {.api_version = "v1",
                       .kind = "Node",
                       .name = kr_value_as_str(kr_value_get(node, "metadata.name")),
                       .uid = kr_value_as_str(kr_value_get(node, "metadata.uid"))};
    if (ref.name != NULL)
        kr_events_record_ref(c->ev_node, &ref, type, reason, "%s", msg);
}

static void pod_event(kr_events_t *ev, const char *key, const char *uid, const char *type,
                      const char *reason, const char *msg)
{
    char ns[256];
    const char *slash = strchr(key, '/');
    if (slash == NULL || (size_t)(slash - key) >= sizeof ns)
        return;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    kr_objref_t ref = {.api_version = "v1", .kind = "Pod", .ns = ns, .name = slash + 1, .uid = uid};
    kr_events_record_ref(ev, &ref, type, reason, "%s", msg);
}

/* ---- node taints (doNoScheduleTaintingPass, SwapNodeControllerTaint) ------------------------ */

static void node_sync(nl_t *c, const char *name)
{
    kr_workqueue_add(c->node_q, name, NULL);
}

static void on_taints(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    nl_req_t *rq = ud;
    nl_t *c = req_done(rq);
    if (c != NULL) {
        if (r->code >= 300 && r->code != 404) {
            kr_plugin_log(c->ctx, r->code == 409 ? KR_LOG_INFO : KR_LOG_WARN, kr_reply_msg(r),
                          "node=%s action=\"update taints\" code=%d", rq->key, r->code);
            kr_workqueue_add_rate_limited(c->node_q, rq->key, NULL);
        } else {
            kr_workqueue_forget(c->node_q, rq->key);
        }
        kr_workqueue_done(c->node_q, rq->key, NULL);
    }
    free(rq);
}

static void node_sync_key(kr_workqueue_t *q, const char *name, void *ud)
{
    nl_t *c = ud;
    const kr_value_t *node = kr_informer_get(c->nodes, NULL, name);
    if (node == NULL) {
        kr_workqueue_forget(q, name);
        kr_workqueue_done(q, name, NULL);
        return;
    }
    nl_node_t *n = node_get(c, name);
    kr_arena_t *a = c->scratch;
    kr_arena_reset(a);
    char now[32];
    now_rfc3339(now, sizeof now);
    kr_value_t *want = nl_desired_taints(a, node, n ? n->noexec : NX_KEEP, now);
    kr_value_t *labels = nl_beta_labels(a, kr_value_get(node, "metadata.labels"));
    bool taints_ok = nl_same_taints(want, kr_value_get(node, "spec.taints"));
    if (taints_ok && labels == NULL) {
        kr_workqueue_forget(q, name);
        kr_workqueue_done(q, name, NULL);
        return;
    }
    kr_value_t *patch = kr_value_map(a), *meta = kr_value_map(a), *spec = kr_value_map(a);
    kr_value_map_set(a, patch, "metadata", meta);
    kr_value_map_set(a, meta, "resourceVersion",
                     kr_value_copy(a, kr_value_get(node, "metadata.resourceVersion")));
    if (labels != NULL) /* reconcileNodeLabels */
        kr_value_map_set(a, meta, "labels", labels);
    if (!taints_ok) {
        kr_value_map_set(a, patch, "spec", spec);
        kr_value_map_set(a, spec, "taints", kr_value_len(want) ? want : kr_value_null(a));
    }
    kr_request_t req = {.op = "patch",
                        .res = "v1/nodes",
                        .name = name,
                        .obj = patch,
                        .opts = patch_opts(a, NL_MERGE)};
    if (!req_send(c, &req, on_taints, REQ_TAINTS, name)) {
        kr_workqueue_add_rate_limited(q, name, NULL);
        kr_workqueue_done(q, name, NULL);
    }
}

/* ---- pods: MarkPodsNotReady ------------------------------------------------------------------ */

static void on_pod_ready(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    nl_req_t *rq = ud;
    nl_t *c = req_done(rq);
    if (c != NULL) {
        if (r->code == 404) {
            /* gone already: nothing left to do */
        } else {
            if (r->code >= 300) {
                kr_plugin_log(c->ctx, KR_LOG_INFO, kr_reply_msg(r),
                              "pod=%s action=\"mark not ready\" code=%d", rq->key, r->code);
                /* nodesToRetry: the next pass marks the node's pods again */
                const char *node = kr_value_as_str(
                    kr_value_get(kr_informer_get_key(c->pods, rq->key), "spec.nodeName"));
                nl_node_t *n = node ? node_get(c, node) : NULL;
                if (n != NULL)
                    n->retry_mark = true;
            } else
                c->pods_not_ready++;
            /* upstream records it after the update, failed or not */
            pod_event(c->ev_node, rq->key, NULL, KR_EVENT_WARNING, "NodeNotReady",
                      "Node is not ready");
        }
    }
    free(rq);
}

/* Ready False on one pod (UpdatePodCondition: the transition time moves
 * with the status). */
static void mark_pod_not_ready(nl_t *c, const kr_value_t *pod)
{
    const kr_value_t *conds = kr_value_get(pod, "status.conditions");
    const kr_value_t *ready = NULL;
    for (size_t i = 0; i < kr_value_len(conds) && ready == NULL; i++)
        if (same_str(kr_value_map_str(kr_value_array_get(conds, i), "type"), "Ready"))
            ready = kr_value_array_get(conds, i);
    if (ready == NULL || same_str(kr_value_map_str(ready, "status"), "False"))
        return;
    char key[600];
    if (kr_informer_key(pod, key, sizeof key) < 0)
        return;
    kr_arena_t *a = c->scratch;
    kr_value_t *cond = kr_value_copy(a, ready);
    char ts[32];
    now_rfc3339(ts, sizeof ts);
    kr_value_map_set(a, cond, "status", kr_value_str(a, "False"));
    kr_value_map_set(a, cond, "lastTransitionTime", kr_value_str(a, ts));
    kr_value_t *patch = kr_value_map(a), *st = kr_value_map(a), *arr = kr_value_array(a);
    kr_value_array_push(a, arr, cond);
    kr_value_map_set(a, st, "conditions", arr);
    kr_value_map_set(a, patch, "status", st);
    kr_request_t req = {.op = "patch",
                        .res = "v1/pods",
                        .ns = kr_value_as_str(kr_value_get(pod, "metadata.namespace")),
                        .name = kr_value_as_str(kr_value_get(pod, "metadata.name")),
                        .sub = "status",
                        .obj = patch,
                        .opts = patch_opts(a, NL_STRATEGIC)};
    if (!req_send(c, &req, on_pod_ready, REQ_POD_READY, key)) {
        nl_node_t *n = node_get(c, kr_value_as_str(kr_value_get(pod, "spec.nodeName")) ?: "");
        if (n != NULL)
            n->retry_mark = true; /* the next pass marks the node's pods again */
    }
}

static nl_podidx_t **podidx_slot(nl_t *c, const char *node)
{
    nl_podidx_t **pp = &c->podidx[hash_str(node) % NL_BUCKETS];
    while (*pp != NULL && strcmp((*pp)->node, node) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void podidx_add(nl_t *c, const char *node, const char *key)
{
    nl_podidx_t **pp = podidx_slot(c, node);
    if (*pp == NULL) {
        *pp = calloc(1, sizeof **pp);
        if (*pp == NULL)
            abort();
        (*pp)->node = xstrdup(node);
    }
    nl_podidx_t *x = *pp;
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->keys[i], key) == 0)
            return;
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 8;
        x->keys = realloc(x->keys, x->cap * sizeof *x->keys);
        if (x->keys == NULL)
            abort();
    }
    x->keys[x->n++] = xstrdup(key);
}

static void podidx_free(nl_podidx_t *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->keys[i]);
    free(x->keys);
    free(x->node);
    free(x);
}

static void podidx_del(nl_t *c, const char *node, const char *key)
{
    nl_podidx_t **pp = podidx_slot(c, node);
    nl_podidx_t *x = *pp;
    if (x == NULL)
        return;
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->keys[i], key) == 0) {
            free(x->keys[i]);
            x->keys[i] = x->keys[--x->n]; /* order does not matter */
            break;
        }
    if (x->n == 0) {
        *pp = x->next;
        podidx_free(x);
    }
}

/* Calls fn for every cached pod bound to `node`; fn must not change the
 * pod cache (it only sends requests). */
static void each_pod_on_node(nl_t *c, const char *node,
                             void (*fn)(nl_t *c, const kr_value_t *pod, void *ud), void *ud)
{
    nl_podidx_t *x = *podidx_slot(c, node);
    for (size_t i = 0; x != NULL && i < x->n; i++) {
        const kr_value_t *pod = kr_informer_get_key(c->pods, x->keys[i]);
        if (pod != NULL && same_str(kr_value_as_str(kr_value_get(pod, "spec.nodeName")), node))
            fn(c, pod, ud);
    }
}

static void mark_not_ready_fn(nl_t *c, const kr_value_t *pod, void *ud)
{
    (void)ud;
    mark_pod_not_ready(c, pod);
}

/* ---- taint eviction ------------------------------------------------------------------------------ */

static nl_evict_t **evict_slot(nl_t *c, const char *key)
{
    nl_evict_t **pp = &c->evicts[hash_str(key) % NL_BUCKETS];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void evict_free(nl_evict_t *e)
{
    free(e->key);
    free(e);
}

static void evict_remove(nl_t *c, nl_evict_t *e)
{
    nl_evict_t **pp = evict_slot(c, e->key);
    if (*pp == e)
        *pp = e->next;
    if (e->timer != 0)
        kr_loop_cancel_timer(c->loop, e->timer);
    evict_free(e);
}

/* cancelWorkWithEvent: a planned (not yet started) deletion is dropped. */
static void evict_cancel(nl_t *c, const char *key)
{
    nl_evict_t *e = *evict_slot(c, key);
    if (e == NULL || e->running)
        return;
    evict_remove(c, e);
    c->evictions_cancelled++;
    char msg[700];
    snprintf(msg, sizeof msg, "Cancelling deletion of Pod %s", key);
    pod_event(c->ev_taint, key, NULL, KR_EVENT_NORMAL, "TaintManagerEviction", msg);
}

static void evict_fire(kr_loop_t *loop, uint64_t id, void *ud);

static void evict_retry(nl_t *c, nl_evict_t *e, const kr_reply_t *r, const char *action)
{
    kr_plugin_log(c->ctx, KR_LOG_WARN, kr_reply_msg(r), "pod=%s action=\"%s\" code=%d attempt=%u",
                  e->key, action, r->code, e->attempts);
    if (e->attempts >= NL_EVICT_RETRIES) {
        evict_remove(c, e);
        return;
    }
    e->timer = kr_loop_add_timer(c->loop, NL_EVICT_RETRY_MS, 0, evict_fire, e);
}

static void on_evict_delete(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    nl_req_t *rq = ud;
    nl_t *c = req_done(rq);
    if (c != NULL) {
        nl_evict_t *e = *evict_slot(c, rq->key);
        if (e != NULL) {
            if (r->code < 300 || r->code == 404) {
                if (r->code < 300)
                    c->evicted++;
                evict_remove(c, e);
            } else {
                evict_retry(c, e, r, "delete");
            }
        }
    }
    free(rq);
}

/* The bus is busy (NL_MAX_INFLIGHT): the same step a little later, not
 * counted as an attempt. */
static void evict_busy(nl_t *c, nl_evict_t *e)
{
    if (e->attempts > 0)
        e->attempts--;
    e->timer = kr_loop_add_timer(c->loop, NL_BUSY_RETRY_MS, 0, evict_fire, e);
}

static void evict_delete(nl_t *c, nl_evict_t *e)
{
    const char *slash = strchr(e->key, '/');
    char ns[256];
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - e->key), e->key);
    kr_request_t req = {.op = "delete", .res = "v1/pods", .ns = ns, .name = slash + 1};
    if (!req_send(c, &req, on_evict_delete, REQ_EVICT_DELETE, e->key))
        evict_busy(c, e);
}

static void on_evict_patch(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    nl_req_t *rq = ud;
    nl_t *c = req_done(rq);
    if (c != NULL) {
        nl_evict_t *e = *evict_slot(c, rq->key);
        if (e != NULL) {
            if (r->code == 404)
                evict_remove(c, e);
            else if (r->code >= 300)
                evict_retry(c, e, r, "add condition DisruptionTarget");
            else
                evict_delete(c, e);
        }
    }
    free(rq);
}

/* addConditionAndDeletePod: DisruptionTarget, then the delete. */
static void evict_fire(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    nl_evict_t *e = ud;
    nl_t *c = e->c;
    e->timer = 0;
    if (!e->running) {
        e->running = true;
        kr_plugin_log(c->ctx, KR_LOG_INFO, "Deleting pod",
                      "controller=taint-eviction-controller "
                      "pod=%s",
                      e->key);
        char msg[700];
        snprintf(msg, sizeof msg, "Marking for deletion Pod %s", e->key);
        pod_event(c->ev_taint, e->key, NULL, KR_EVENT_NORMAL, "TaintManagerEviction", msg);
    }
    e->attempts++;
    const kr_value_t *pod = kr_informer_get_key(c->pods, e->key);
    if (pod == NULL) {
        evict_remove(c, e);
        return;
    }
    const kr_value_t *conds = kr_value_get(pod, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *cd = kr_value_array_get(conds, i);
        if (same_str(kr_value_map_str(cd, "type"), "DisruptionTarget") &&
            same_str(kr_value_map_str(cd, "status"), "True") &&
            same_str(kr_value_map_str(cd, "reason"), "DeletionByTaintManager")) {
            evict_delete(c, e);
            return;
        }
    }
    kr_arena_t *a = c->scratch;
    kr_arena_reset(a);
    char ts[32];
    now_rfc3339(ts, sizeof ts);
    kr_value_t *cond = kr_value_map(a);
    kr_value_map_set(a, cond, "type", kr_value_str(a, "DisruptionTarget"));
    kr_value_map_set(a, cond, "status", kr_value_str(a, "True"));
    kr_value_map_set(a, cond, "lastTransitionTime", kr_value_str(a, ts));
    kr_value_map_set(a, cond, "reason", kr_value_str(a, "DeletionByTaintManager"));
    kr_value_map_set(a, cond, "message",
                     kr_value_str(a, "Taint manager: deleting due to NoExecute taint"));
    kr_value_t *patch = kr_value_map(a), *st = kr_value_map(a), *arr = kr_value_array(a);
    kr_value_array_push(a, arr, cond);
    kr_value_map_set(a, st, "conditions", arr);
    kr_value_map_set(a, patch, "status", st);
    kr_request_t req = {.op = "patch",
                        .res = "v1/pods",
                        .ns = kr_value_as_str(kr_value_get(pod, "metadata.namespace")),
                        .name = kr_value_as_str(kr_value_get(pod, "metadata.name")),
                        .sub = "status",
                        .obj = patch,
                        .opts = patch_opts(a, NL_STRATEGIC)};
    if (!req_send(c, &req, on_evict_patch, REQ_EVICT_PATCH, e->key))
        evict_busy(c, e);
}

/* AddWork(key, createdAt, fireAt) */
static void evict_add(nl_t *c, const char *key, uint64_t created_ms, uint64_t fire_ms)
{
    nl_evict_t **pp = evict_slot(c, key);
    if (*pp != NULL)
        return;
    nl_evict_t *e = calloc(1, sizeof *e);
    if (e == NULL)
        abort();
    e->c = c;
    e->key = xstrdup(key);
    e->created_ms = created_ms;
    e->fire_ms = fire_ms;
    uint64_t now = kr_loop_now(c->loop);
    e->timer = kr_loop_add_timer(c->loop, fire_ms > now ? fire_ms - now : 0, 0, evict_fire, e);
    *pp = e;
}

/* processPodOnNode */
static void process_pod_on_node(nl_t *c, const kr_value_t *pod, const kr_value_t *taints,
                                uint64_t now)
{
    char key[600];
    if (kr_informer_key(pod, key, sizeof key) < 0)
        return;
    if (kr_value_len(taints) == 0) {
        evict_cancel(c, key);
        return;
    }
    int64_t min_s = 0;
    if (!nl_tolerated_for(taints, kr_value_get(pod, "spec.tolerations"), &min_s)) {
        /* not all taints tolerated: deleted at once */
        evict_cancel(c, key);
        evict_add(c, key, now, now);
        return;
    }
    if (min_s < 0) {
        evict_cancel(c, key);
        return;
    }
    uint64_t start = now, trigger = now + (uint64_t)min_s * 1000;
    nl_evict_t *e = *evict_slot(c, key);
    if (e != NULL) {
        start = e->created_ms;
        if (start + (uint64_t)min_s * 1000 < trigger)
            return;
        evict_cancel(c, key);
    }
    evict_add(c, key, start, start + (uint64_t)min_s * 1000);
}

static void taint_pod_fn(nl_t *c, const kr_value_t *pod, void *ud)
{
    const kr_value_t *taints = ud;
    process_pod_on_node(c, pod, taints, kr_loop_now(c->loop));
}

static void cancel_pod_fn(nl_t *c, const kr_value_t *pod, void *ud)
{
    (void)ud;
    char key[600];
    if (kr_informer_key(pod, key, sizeof key) > 0)
        evict_cancel(c, key);
}

static kr_value_t *noexec_taints(kr_arena_t *a, const kr_value_t *node)
{
    const kr_value_t *taints = kr_value_get(node, "spec.taints");
    kr_value_t *out = kr_value_array(a);
    for (size_t i = 0; i < kr_value_len(taints); i++) {
        const kr_value_t *t = kr_value_array_get(taints, i);
        if (same_str(kr_value_map_str(t, "effect"), "NoExecute"))
            kr_value_array_push(a, out, kr_value_copy(a, t));
    }
    return out;
}

/* handleNodeUpdate: the node's NoExecute taints changed. */
static void taint_node_update(nl_t *c, const kr_value_t *node)
{
    const char *name = kr_value_as_str(kr_value_get(node, "metadata.name"));
    if (name == NULL)
        return;
    nl_node_t *n = node_ensure(c, name);
    kr_arena_destroy(&n->tx_arena);
    n->tx_taints = NULL;
    kr_arena_t *a = kr_arena_new(512);
    kr_value_t *taints = noexec_taints(a, node);
    if (kr_value_len(taints) == 0) {
        kr_arena_destroy(&a);
        each_pod_on_node(c, name, cancel_pod_fn, NULL);
        return;
    }
    n->tx_arena = a;
    n->tx_taints = taints;
    each_pod_on_node(c, name, taint_pod_fn, taints);
}

/* ---- informer handlers ------------------------------------------------------------------------------ */

static bool same_noexec(const kr_value_t *a, const kr_value_t *b)
{
    kr_arena_t *ar = kr_arena_new(512);
    bool same = kr_value_equal(noexec_taints(ar, a), noexec_taints(ar, b));
    kr_arena_destroy(&ar);
    return same;
}

static uint64_t observe_health(nl_t *c, nl_node_t *n, const kr_value_t *node);

static void node_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    nl_t *c = ud;
    const char *name = kr_value_as_str(kr_value_get(obj, "metadata.name"));
    if (name == NULL)
        return;
    node_sync(c, name);
    observe_health(c, node_ensure(c, name), obj);
    taint_node_update(c, obj);
}

static void node_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                        void *ud)
{
    (void)inf;
    nl_t *c = ud;
    const char *name = kr_value_as_str(kr_value_get(new_obj, "metadata.name"));
    if (name == NULL)
        return;
    node_sync(c, name);
    observe_health(c, node_ensure(c, name), new_obj);
    if (old_obj != new_obj && !same_noexec(old_obj, new_obj))
        taint_node_update(c, new_obj);
}

static void node_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    nl_t *c = ud;
    const char *name = kr_value_as_str(kr_value_get(obj, "metadata.name"));
    if (name == NULL)
        return;
    nl_node_t *n = node_get(c, name);
    if (n != NULL && n->known) {
        char msg[600];
        snprintf(msg, sizeof msg, "Node %s event: Removing Node %s from Controller", name, name);
        node_event(c, obj, KR_EVENT_NORMAL, "RemovingNode", msg);
    }
    node_remove(c, name);
}

/* podUpdated (both controllers): a pod newly on a node. */
static void pod_changed(nl_t *c, const kr_value_t *old_pod, const kr_value_t *pod)
{
    const char *node = kr_value_as_str(kr_value_get(pod, "spec.nodeName"));
    if (node == NULL || *node == '\0')
        return;
    bool moved =
        old_pod == NULL || !same_str(node, kr_value_as_str(kr_value_get(old_pod, "spec.nodeName")));
    if (!moved && kr_value_equal(kr_value_get(old_pod, "spec.tolerations"),
                                 kr_value_get(pod, "spec.tolerations")))
        return;
    nl_node_t *n = node_get(c, node);
    if (moved && n != NULL && n->has_health) {
        const char *rs = ready_status(kr_informer_get(c->nodes, NULL, node));
        if (rs != NULL && strcmp(rs, "True") != 0)
            mark_pod_not_ready(c, pod);
    }
    if (n != NULL && n->tx_taints != NULL)
        process_pod_on_node(c, pod, n->tx_taints, kr_loop_now(c->loop));
}

/* Keeps the node index: the pod's key under its node (and no longer
 * under the one it had). */
static void pod_index(nl_t *c, const kr_value_t *old_pod, const kr_value_t *pod)
{
    const kr_value_t *any = pod != NULL ? pod : old_pod;
    char key[600];
    if (kr_informer_key(any, key, sizeof key) < 0)
        return;
    const char *was = kr_value_as_str(kr_value_get(old_pod, "spec.nodeName"));
    const char *now = kr_value_as_str(kr_value_get(pod, "spec.nodeName"));
    if (same_str(was, now))
        return;
    if (was != NULL && *was)
        podidx_del(c, was, key);
    if (now != NULL && *now)
        podidx_add(c, now, key);
}

static void pod_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    nl_t *c = ud;
    pod_index(c, NULL, obj);
    kr_arena_reset(c->scratch);
    pod_changed(c, NULL, obj);
}

static void pod_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                       void *ud)
{
    (void)inf;
    nl_t *c = ud;
    if (old_obj == new_obj)
        return;
    pod_index(c, old_obj, new_obj);
    kr_arena_reset(c->scratch);
    pod_changed(c, old_obj, new_obj);
}

static void pod_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    nl_t *c = ud;
    pod_index(c, obj, NULL);
    char key[600];
    if (kr_informer_key(obj, key, sizeof key) > 0)
        evict_cancel(c, key);
}

/* A renewed Lease is seen when its event arrives, not at the next monitor
 * pass: the grace period then counts from the renewal (upstream notices
 * it at the pass, up to a monitor period later). */
static void lease_seen(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    nl_t *c = ud;
    const char *name = kr_value_as_str(kr_value_get(obj, "metadata.name"));
    const char *renew = kr_value_as_str(kr_value_get(obj, "spec.renewTime"));
    nl_node_t *n = name ? node_get(c, name) : NULL;
    if (n == NULL || renew == NULL || !n->has_health)
        return;
    if (n->saved_lease == NULL || time_before(n->saved_lease, renew)) {
        set_str(&n->saved_lease, renew);
        n->probe_ms = kr_loop_now(c->loop);
    }
}

static void lease_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    lease_seen(inf, obj, ud);
}

static void lease_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                         void *ud)
{
    (void)old_obj;
    lease_seen(inf, new_obj, ud);
}

/* What the pod cache keeps: what the two controllers read. */
static const kr_value_t *pod_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    kr_value_t *out = kr_value_map(a), *meta = kr_value_map(a), *spec = kr_value_map(a),
               *st = kr_value_map(a);
    static const char *const mkeys[] = {"name", "namespace", "uid", "resourceVersion",
                                        "deletionTimestamp"};
    const kr_value_t *m = kr_value_map_get(obj, "metadata");
    for (size_t i = 0; i < sizeof mkeys / sizeof mkeys[0]; i++)
        if (kr_value_map_get(m, mkeys[i]) != NULL)
            kr_value_map_set(a, meta, mkeys[i], kr_value_copy(a, kr_value_map_get(m, mkeys[i])));
    const kr_value_t *v;
    if ((v = kr_value_get(obj, "spec.nodeName")) != NULL)
        kr_value_map_set(a, spec, "nodeName", kr_value_copy(a, v));
    if ((v = kr_value_get(obj, "spec.tolerations")) != NULL)
        kr_value_map_set(a, spec, "tolerations", kr_value_copy(a, v));
    if ((v = kr_value_get(obj, "status.phase")) != NULL)
        kr_value_map_set(a, st, "phase", kr_value_copy(a, v));
    if ((v = kr_value_get(obj, "status.conditions")) != NULL)
        kr_value_map_set(a, st, "conditions", kr_value_copy(a, v));
    kr_value_map_set(a, out, "metadata", meta);
    kr_value_map_set(a, out, "spec", spec);
    kr_value_map_set(a, out, "status", st);
    return out;
}

/* ---- the NoExecute tainter (doNoExecuteTaintingPass) ---------------------------------------------- */

static void on_tainter(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)id;
    nl_t *c = ud;
    uint64_t now = kr_loop_now(loop);
    for (nl_zone_t *z = c->zones; z != NULL; z = z->next) {
        while (z->qlen > 0) {
            const char *name = z->queue[0];
            const kr_value_t *node = kr_informer_get(c->nodes, NULL, name);
            nl_node_t *n = node_get(c, name);
            const char *rs = ready_status(node);
            if (node == NULL || n == NULL || rs == NULL || strcmp(rs, "True") == 0) {
                /* gone, or ready again: no taint */
                zone_dequeue(z, name);
                continue;
            }
            if (!nl_bucket_try(&z->bucket, now))
                break;
            n->noexec = strcmp(rs, "False") == 0 ? NX_NOT_READY : NX_UNREACHABLE;
            c->noexec_tainted++;
            kr_plugin_log(c->ctx, KR_LOG_INFO, "tainting node NoExecute",
                          "node=%s taint=%s zone=\"%s\"", name,
                          n->noexec == NX_NOT_READY ? NL_TAINT_NOT_READY : NL_TAINT_UNREACHABLE,
                          z->key);
            node_sync(c, name);
            zone_dequeue(z, name);
        }
    }
}

/* markNodeForTainting */
static void mark_for_tainting(nl_t *c, nl_node_t *n, const kr_value_t *node, nl_noexec_t want)
{
    const char *key = want == NX_NOT_READY ? NL_TAINT_NOT_READY : NL_TAINT_UNREACHABLE;
    if (has_taint(node, key, "NoExecute") || n->noexec == want)
        return; /* tainted already (or decided) */
    (void)c;
    zone_enqueue(n->zone, n->name);
}

/* markNodeAsReachable */
static void mark_reachable(nl_t *c, nl_node_t *n)
{
    n->noexec = NX_NONE;
    if (n->zone != NULL)
        zone_dequeue(n->zone, n->name);
    node_sync(c, n->name);
}

/* processTaintBaseEviction */
static void taint_base_eviction(nl_t *c, nl_node_t *n, const kr_value_t *node, const char *observed)
{
    if (strcmp(observed, "False") == 0) {
        if (has_taint(node, NL_TAINT_UNREACHABLE, "NoExecute")) {
            n->noexec = NX_NOT_READY; /* swapped at once */
            node_sync(c, n->name);
        } else {
            mark_for_tainting(c, n, node, NX_NOT_READY);
        }
    } else if (strcmp(observed, "Unknown") == 0) {
        if (has_taint(node, NL_TAINT_NOT_READY, "NoExecute")) {
            n->noexec = NX_UNREACHABLE;
            node_sync(c, n->name);
        } else {
            mark_for_tainting(c, n, node, NX_UNREACHABLE);
        }
    } else if (strcmp(observed, "True") == 0) {
        if (n->noexec != NX_NONE || has_taint(node, NL_TAINT_NOT_READY, "NoExecute") ||
            has_taint(node, NL_TAINT_UNREACHABLE, "NoExecute"))
            mark_reachable(c, n);
    }
}

/* ---- node health (monitorNodeHealth) ------------------------------------------------------------- */

static void on_status(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    nl_req_t *rq = ud;
    nl_t *c = req_done(rq);
    if (c != NULL) {
        nl_node_t *n = node_get(c, rq->key);
        if (n != NULL)
            n->status_inflight = false;
        if (r->code >= 300)
            kr_plugin_log(c->ctx, r->code == 409 ? KR_LOG_INFO : KR_LOG_WARN, kr_reply_msg(r),
                          "node=%s action=\"update node health\" code=%d", rq->key, r->code);
        else
            c->unknown_set++;
    }
    free(rq);
}

static int64_t wall_ms(void)
{
    return kr_time_now_ns() / 1000000;
}

static uint64_t loop_ms_of(nl_t *c, const char *rfc3339)
{
    int64_t sec = 0;
    int32_t nsec = 0;
    uint64_t now = kr_loop_now(c->loop);
    if (rfc3339 == NULL || !kr_time_parse(rfc3339, &sec, &nsec))
        return now;
    int64_t ago = wall_ms() - (sec * 1000 + nsec / 1000000);
    if (ago <= 0)
        return now;
    return (uint64_t)ago < now ? now - (uint64_t)ago : 0;
}

/* RFC 3339 times compare as times: the Lease's renewTime is a MicroTime. */
static bool time_before(const char *a, const char *b)
{
    int64_t sa = 0, sb = 0;
    int32_t na = 0, nb = 0;
    if (!kr_time_parse(a, &sa, &na) || !kr_time_parse(b, &sb, &nb))
        return !same_str(a, b);
    return sa < sb || (sa == sb && na < nb);
}

typedef struct health {
    const char *observed; /* Ready before this pass's update; "Unknown" when absent */
    const char *current;  /* Ready after it; NULL when the node has none */
} health_t;

/* tryUpdateNodeHealth */
/* The signs of life of a node (its Ready heartbeat, its Lease), noted on
 * the controller's clock when they change: at each monitor pass as
 * upstream, and also when the node's or the Lease's event arrives, so
 * that the grace period counts from the last sign itself rather than from
 * the pass that noticed it.  Returns the grace period the node has. */
static uint64_t observe_health(nl_t *c, nl_node_t *n, const kr_value_t *node)
{
    uint64_t now = kr_loop_now(c->loop);
    const kr_value_t *ready = node_condition(node, "Ready");
    uint64_t grace;
    const char *hb = kr_value_map_str(ready, "lastHeartbeatTime"),
               *tr = kr_value_map_str(ready, "lastTransitionTime");
    if (ready == NULL) {
        grace = (uint64_t)c->conf.startup_grace_ms;
        if (!n->has_health) {
            n->has_health = true;
            n->probe_ms =
                loop_ms_of(c, kr_value_as_str(kr_value_get(node, "metadata.creationTimestamp")));
        }
        n->saved_ready = false;
    } else {
        grace = (uint64_t)c->conf.grace_ms;
        if (!n->has_health || !n->saved_ready) {
            n->probe_ms = now;
        } else if (!same_str(n->saved_hb, hb)) {
            n->probe_ms = now;
        }
        n->has_health = true;
        n->saved_ready = true;
        set_str(&n->saved_hb, hb);
        set_str(&n->saved_tr, tr);
    }
    /* the Lease renewed: always a sign of life */
    const kr_value_t *lease = kr_informer_get(c->leases, NL_LEASE_NS, n->name);
    const char *renew = kr_value_as_str(kr_value_get(lease, "spec.renewTime"));
    if (renew != NULL && (n->saved_lease == NULL || time_before(n->saved_lease, renew))) {
        set_str(&n->saved_lease, renew);
        n->probe_ms = now;
    }
    return grace;
}

static health_t node_health(nl_t *c, nl_node_t *n, const kr_value_t *node)
{
    uint64_t now = kr_loop_now(c->loop);
    const kr_value_t *ready = node_condition(node, "Ready");
    health_t h = {"Unknown", NULL};
    if (ready != NULL) {
        h.observed = kr_value_map_str(ready, "status") ?: "Unknown";
        h.current = h.observed;
    }
    uint64_t grace = observe_health(c, n, node);
    if (now <= n->probe_ms + grace)
        return h;
    /* not heard from for the grace period: its kubelet conditions are Unknown */
    static const char *const types[] = {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"};
    kr_arena_t *a = c->scratch;
    kr_value_t *upd = kr_value_copy(a, node);
    kr_value_t *st = kr_value_map_get(upd, "status");
    if (kr_value_type(st) != KR_MAP) {
        st = kr_value_map(a);
        kr_value_map_set(a, upd, "status", st);
    }
    kr_value_t *conds = kr_value_map_get(st, "conditions");
    if (kr_value_type(conds) != KR_ARRAY) {
        conds = kr_value_array(a);
        kr_value_map_set(a, st, "conditions", conds);
    }
    char ts[32];
    now_rfc3339(ts, sizeof ts);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        kr_value_t *cd = NULL;
        for (size_t i = 0; i < kr_value_len(conds) && cd == NULL; i++)
            if (same_str(kr_value_map_str(kr_value_array_get(conds, i), "type"), types[t]))
                cd = kr_value_array_get(conds, i);
        if (cd == NULL) {
            cd = kr_value_map(a);
            kr_value_map_set(a, cd, "type", kr_value_str(a, types[t]));
            kr_value_map_set(a, cd, "status", kr_value_str(a, "Unknown"));
            kr_value_map_set(a, cd, "lastHeartbeatTime",
                             kr_value_copy(a, kr_value_get(node, "metadata.creationTimestamp")));
            kr_value_map_set(a, cd, "lastTransitionTime", kr_value_str(a, ts));
            kr_value_map_set(a, cd, "reason", kr_value_str(a, "NodeStatusNeverUpdated"));
            kr_value_map_set(a, cd, "message",
                             kr_value_str(a, "Kubelet never posted node status."));
            kr_value_array_push(a, conds, cd);
        } else if (!same_str(kr_value_map_str(cd, "status"), "Unknown")) {
            kr_value_map_set(a, cd, "status", kr_value_str(a, "Unknown"));
            kr_value_map_set(a, cd, "reason", kr_value_str(a, "NodeStatusUnknown"));
            kr_value_map_set(a, cd, "message",
                             kr_value_str(a, "Kubelet stopped posting node status."));
            kr_value_map_set(a, cd, "lastTransitionTime", kr_value_str(a, ts));
        }
    }
    h.current = "Unknown";
    if (ready != NULL && same_str(h.observed, "Unknown"))
        return h; /* Unknown already: nothing to write */
    if (n->status_inflight)
        return h;
    kr_request_t req = {
        .op = "update", .res = "v1/nodes", .name = n->name, .sub = "status", .obj = upd};
    if (req_send(c, &req, on_status, REQ_STATUS, n->name)) {
        n->status_inflight = true;
        /* a thousand nodes may go at once: one line each only at debug,
         * the pass logs how many */
        c->pass_unknown++;
        kr_plugin_log(c->ctx, c->pass_unknown <= 10 ? KR_LOG_INFO : KR_LOG_DEBUG,
                      "node hasn't been updated: its conditions are Unknown",
                      "node=%s since_ms=%llu", n->name, (unsigned long long)(now - n->probe_ms));
    } else {
        h.current = h.observed; /* the next pass tries again */
    }
    return h;
}

typedef struct monitor {
    nl_t *c;
} monitor_t;

static bool monitor_visit(const kr_value_t *node, void *ud)
{
    nl_t *c = ((monitor_t *)ud)->c;
    const char *name = kr_value_as_str(kr_value_get(node, "metadata.name"));
    if (name == NULL)
        return true;
    kr_arena_reset(c->scratch);
    nl_node_t *n = node_ensure(c, name);
    n->seen = true;
    char *zk = zone_key_of(node);
    if (n->zone == NULL || strcmp(n->zone->key, zk) != 0) {
        if (n->zone != NULL)
            zone_dequeue(n->zone, n->name);
        n->zone = zone_ensure(c, zk);
    }
    free(zk);
    if (!n->known) {
        n->known = true;
        char msg[600];
        snprintf(msg, sizeof msg, "Node %s event: Registered Node %s in Controller", name, name);
        node_event(c, node, KR_EVENT_NORMAL, "RegisteredNode", msg);
        mark_reachable(c, n);
    }
    health_t h = node_health(c, n, node);
    if (kr_value_get(node, "metadata.labels[\"" NL_EXCLUDE_LABEL "\"]") == NULL) {
        if (h.current != NULL && strcmp(h.current, "True") == 0)
            n->zone->ready++;
        else
            n->zone->not_ready++;
        n->zone->present = true;
    }
    if (h.current == NULL)
        return true;
    if (!c->all_full)
        taint_base_eviction(c, n, node, h.observed);
    bool became_not_ready = strcmp(h.current, "True") != 0 && strcmp(h.observed, "True") == 0;
    if (became_not_ready) {
        char msg[600];
        snprintf(msg, sizeof msg, "Node %s status is now: NodeNotReady", name);
        node_event(c, node, KR_EVENT_NORMAL, "NodeNotReady", msg);
    }
    if (became_not_ready || (n->retry_mark && strcmp(h.observed, "True") != 0)) {
        each_pod_on_node(c, name, mark_not_ready_fn, NULL);
        n->retry_mark = false;
    }
    return true;
}

/* handleDisruption */
static void handle_disruption(nl_t *c)
{
    bool all_full = true, any = false;
    for (nl_zone_t *z = c->zones; z != NULL; z = z->next) {
        if (!z->present)
            continue;
        any = true;
        if (nl_zone_state(z->ready, z->not_ready, c->conf.unhealthy_threshold) != NL_ZONE_FULL)
            all_full = false;
    }
    if (!any)
        return;
    bool all_was_full = true;
    for (nl_zone_t *z = c->zones; z != NULL; z = z->next)
        if (z->present && z->state != NL_ZONE_FULL)
            all_was_full = false;
    uint64_t now = kr_loop_now(c->loop);
    if (all_full && all_was_full)
        return;
    if (all_full) {
        kr_plugin_log(c->ctx, KR_LOG_INFO,
                      "Controller detected that all Nodes are not-Ready. Entering master "
                      "disruption mode",
                      "zones=%s", "all");
        c->all_full = true;
        for (size_t b = 0; b < NL_BUCKETS; b++)
            for (nl_node_t *n = c->buckets[b]; n != NULL; n = n->next)
                if (n->seen)
                    mark_reachable(c, n);
        for (nl_zone_t *z = c->zones; z != NULL; z = z->next) {
            nl_bucket_swap(&z->bucket, 0, now);
            z->state = NL_ZONE_FULL;
        }
        return;
    }
    bool exiting = c->all_full || all_was_full;
    if (exiting) {
        if (c->all_full)
            kr_plugin_log(c->ctx, KR_LOG_INFO,
                          "Controller detected that some Nodes are Ready. Exiting master "
                          "disruption mode",
                          "zones=%s", "some");
        c->all_full = false;
        for (size_t b = 0; b < NL_BUCKETS; b++)
            for (nl_node_t *n = c->buckets[b]; n != NULL; n = n->next)
                n->probe_ms = now;
    }
    for (nl_zone_t *z = c->zones; z != NULL; z = z->next) {
        if (!z->present)
            continue;
        int size = z->ready + z->not_ready;
        nl_zone_state_t ns = nl_zone_state(z->ready, z->not_ready, c->conf.unhealthy_threshold);
        /* leaving master disruption mode every zone gets its rate back */
        if (ns == z->state && !exiting)
            continue;
        if (ns != z->state)
            kr_plugin_log(c->ctx, KR_LOG_INFO, "Controller detected that zone is now in new state",
                          "zone=\"%s\" newState=%s", z->key, nl_zone_state_name(ns));
        double qps = c->conf.eviction_rate;
        if (ns == NL_ZONE_PARTIAL)
            qps = size > c->conf.large_cluster ? c->conf.secondary_eviction_rate : 0;
        nl_bucket_swap(&z->bucket, qps, now);
        z->state = ns;
    }
}

static void on_monitor(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    nl_t *c = ud;
    if (!kr_informer_has_synced(c->nodes) || !kr_informer_has_synced(c->leases) ||
        !kr_informer_has_synced(c->pods))
        return;
    for (nl_zone_t *z = c->zones; z != NULL; z = z->next) {
        z->ready = z->not_ready = 0;
        z->present = false;
    }
    for (size_t b = 0; b < NL_BUCKETS; b++)
        for (nl_node_t *n = c->buckets[b]; n != NULL; n = n->next)
            n->seen = false;
    monitor_t m = {c};
    c->pass_unknown = 0;
    kr_informer_each(c->nodes, NULL, monitor_visit, &m);
    if (c->pass_unknown > 10)
        kr_plugin_log(c->ctx, KR_LOG_INFO, "nodes not heard from set Unknown", "nodes=%u",
                      c->pass_unknown);
    handle_disruption(c);
}

/* ---- stats ------------------------------------------------------------------------------------------ */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    nl_t *c = ud;
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *obj = kr_value_map(a);
    const kr_stat_t cnt[] = {
        {"nodes", c->nnodes},
        {"unknownSet", c->unknown_set},
        {"noExecuteTainted", c->noexec_tainted},
        {"evicted", c->evicted},
        {"evictionsCancelled", c->evictions_cancelled},
        {"podsMarkedNotReady", c->pods_not_ready},
    };
    kr_stats_put(a, obj, cnt, sizeof cnt / sizeof cnt[0]);
    kr_value_t *zones = kr_value_map(a);
    for (nl_zone_t *z = c->zones; z != NULL; z = z->next)
        kr_value_map_set(a, zones, z->key, kr_value_str(a, nl_zone_state_name(z->state)));
    kr_value_map_set(a, obj, "zones", zones);
    kr_call_reply(call, 200, obj, NULL);
}

/* ---- life cycle ---------------------------------------------------------------------------------------- */

static void nl_fini(void *instance)
{
    nl_t *c = instance;
    if (c->node_q != NULL)
        kr_workqueue_shutdown(c->node_q);
    if (c->monitor_timer != 0)
        kr_loop_cancel_timer(c->loop, c->monitor_timer);
    if (c->tainter_timer != 0)
        kr_loop_cancel_timer(c->loop, c->tainter_timer);
    kr_informer_destroy(&c->nodes);
    kr_informer_destroy(&c->leases);
    kr_informer_destroy(&c->pods);
    for (nl_req_t *r = c->reqs; r != NULL; r = r->next)
        r->c = NULL;
    kr_workqueue_destroy(&c->node_q);
    for (size_t b = 0; b < NL_BUCKETS; b++) {
        while (c->buckets[b] != NULL) {
            nl_node_t *n = c->buckets[b];
            c->buckets[b] = n->next;
            node_free(n);
        }
        while (c->podidx[b] != NULL) {
            nl_podidx_t *x = c->podidx[b];
            c->podidx[b] = x->next;
            podidx_free(x);
        }
        while (c->evicts[b] != NULL) {
            nl_evict_t *e = c->evicts[b];
            c->evicts[b] = e->next;
            if (e->timer != 0)
                kr_loop_cancel_timer(c->loop, e->timer);
            evict_free(e);
        }
    }
    while (c->zones != NULL) {
        nl_zone_t *z = c->zones;
        c->zones = z->next;
        for (size_t i = 0; i < z->qlen; i++)
            free(z->queue[i]);
        free(z->queue);
        free(z->key);
        free(z);
    }
    kr_events_destroy(&c->ev_node);
    kr_events_destroy(&c->ev_taint);
    kr_arena_destroy(&c->scratch);
    free(c);
}

static void *nl_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct nl_conf *conf = config;
    if (conf->monitor_period_ms < 10 || conf->grace_ms < 1 || conf->startup_grace_ms < 1) {
        kr_error_set(err, KR_E_INVALID,
                     "node_monitor_period (>= 10ms), node_monitor_grace_period, "
                     "node_startup_grace_period: must be positive");
        return NULL;
    }
    if (conf->eviction_rate < 0 || conf->secondary_eviction_rate < 0 ||
        conf->unhealthy_threshold <= 0 || conf->unhealthy_threshold > 1) {
        kr_error_set(err, KR_E_INVALID,
                     "node_eviction_rate, secondary_node_eviction_rate: must be >= 0; "
                     "unhealthy_zone_threshold: in (0, 1]");
        return NULL;
    }
    nl_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->conf = *conf;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    c->scratch = kr_arena_new(0);
    c->ev_node = kr_events_new(c->bus, &(kr_events_opts_t){.component = "node-controller"}, err);
    if (c->ev_node != NULL)
        c->ev_taint = kr_events_new(
            c->bus, &(kr_events_opts_t){.component = "taint-eviction-controller"}, err);
    kr_workqueue_opts_t qo = {.name = "node_lifecycle_controller", .max_in_flight = 8};
    if (c->ev_taint != NULL)
        c->node_q = kr_workqueue_new(c->loop, &qo, node_sync_key, c, err);
    if (c->node_q == NULL) {
        nl_fini(c);
        return NULL;
    }
    kr_informer_opts_t no = {.res = "v1/nodes",
                             .name = "nodelifecycle nodes",
                             .handlers = {node_add, node_update, node_delete, c}};
    kr_informer_opts_t lo = {.res = "coordination.k8s.io/v1/leases",
                             .ns = NL_LEASE_NS,
                             .name = "nodelifecycle leases",
                             .handlers = {lease_add, lease_update, NULL, c}};
    kr_informer_opts_t po = {.res = "v1/pods",
                             .name = "nodelifecycle pods",
                             .page_size = 1000,
                             .handlers = {pod_add, pod_update, pod_delete, c}};
    c->nodes = kr_informer_new(c->loop, c->bus, &no, err);
    c->leases = c->nodes ? kr_informer_new(c->loop, c->bus, &lo, err) : NULL;
    c->pods = c->leases ? kr_informer_new(c->loop, c->bus, &po, err) : NULL;
    if (c->pods == NULL || kr_informer_set_transform(c->pods, pod_transform, c, err) < 0 ||
        kr_informer_start(c->nodes, err) < 0 || kr_informer_start(c->leases, err) < 0 ||
        kr_informer_start(c->pods, err) < 0 ||
        kr_bus_serve(c->bus, "nodelifecycle.stats", NULL, on_stats, c, 5000, err) < 0) {
        nl_fini(c);
        return NULL;
    }
    c->monitor_timer = kr_loop_add_timer(c->loop, (uint64_t)conf->monitor_period_ms,
                                         (uint64_t)conf->monitor_period_ms, on_monitor, c);
    c->tainter_timer =
        kr_loop_add_timer(c->loop, NL_TAINTER_PERIOD_MS, NL_TAINTER_PERIOD_MS, on_tainter, c);
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "nodelifecycle",
    .version = "0.1.0",
    .description = "node health from Leases, NotReady/Unknown conditions, not-ready and "
                   "unreachable taints, and eviction of pods that do not tolerate them",
    .config = nl_table,
    .config_size = sizeof(struct nl_conf),
    .init = nl_init,
    .fini = nl_fini,
};
