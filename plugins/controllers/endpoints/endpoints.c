/* controller-endpoints: the Endpoints and the EndpointSlices of every
 * Service with a selector, after upstream's endpoint controller
 * (pkg/controller/endpoint/endpoints_controller.go) and EndpointSlice
 * controller (pkg/controller/endpointslice, k8s.io/endpointslice).
 *
 * - Five informers (services, pods, endpoints, endpointslices, nodes) feed
 *   one queue of Service keys.  A pod event queues the Services of its
 *   namespace whose selector matches it (before and after a change of
 *   labels) when something an endpoint shows changed: readiness, IPs,
 *   deletion, phase, hostname or subdomain.  A deleted Endpoints, or an
 *   EndpointSlice of ours changed by someone else, queues its Service.
 * - One sync does both jobs of the two upstream controllers on the caches:
 *   the Endpoints of the Service's name (ep_subsets_build; written only
 *   when its subsets, labels or over-capacity annotation differ) and its
 *   EndpointSlices (es_reconcile: incremental creates, updates and
 *   deletes).  Pod and Service changes date the writes with the
 *   endpoints.kubernetes.io/last-change-trigger-time annotation.
 * - A cache that has not seen our last write yet (ep_state.h) makes the
 *   sync wait and try again, so a lagging informer never makes a second
 *   slice or a conflicting update.
 * - A Service gone: its Endpoints are deleted (when the deletion was
 *   watched, or when they carry our managed-by label: at a start, an
 *   Endpoints left without its Service); its slices go with the garbage
 *   collector (ownerReference), as upstream.
 *
 * A key stays in flight until every request of its sync is answered. */
#include <inttypes.h>
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

#include "ep_build.h"
#include "ep_state.h"

#define SVC_RES          "v1/services"
#define POD_RES          "v1/pods"
#define EP_RES           "v1/endpoints"
#define ES_RES           "discovery.k8s.io/v1/endpointslices"
#define NODE_RES         "v1/nodes"
#define EP_TIMEOUT_MS    10000
#define EP_WAIT_SYNCED   100
#define ES_CHANGE_MIN_MS 1000 /* endpointSliceChangeMinSyncDelay */
#define EP_MAX_RETRIES   15   /* maxRetries */

struct ep_conf {
    int64_t workers;
    int64_t max_per_slice;
    int64_t batch_ms;
    int64_t resync_ms;
    bool endpoints;
    bool slices;
};

static const kr_config_entry_t ep_table[] = {
    {KR_CFG_INT, "workers", "5", offsetof(struct ep_conf, workers),
     "Services synced at once (--concurrent-service-endpoint-syncs)"},
    {KR_CFG_INT, "max_endpoints_per_slice", "100", offsetof(struct ep_conf, max_per_slice),
     "most endpoints in one EndpointSlice (--max-endpoints-per-slice, 1..1000)"},
    {KR_CFG_DURATION, "endpoint_updates_batch_period", "0s", offsetof(struct ep_conf, batch_ms),
     "how long a pod change waits before its Services are synced, so that changes batch "
     "(--endpoint-updates-batch-period)"},
    {KR_CFG_DURATION, "resync", "0s", offsetof(struct ep_conf, resync_ms),
     "how often every Service is synced again (0: only on changes)"},
    {KR_CFG_BOOL, "endpoints", "true", offsetof(struct ep_conf, endpoints),
     "write v1 Endpoints (the endpoint controller)"},
    {KR_CFG_BOOL, "endpoint_slices", "true", offsetof(struct ep_conf, slices),
     "write discovery.k8s.io/v1 EndpointSlices (the EndpointSlice controller)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct epc epc_t;

/* The writes of one sync (kraal/synctask.h: fini detaches a task, its
 * last reply frees it). */
typedef struct ep_task {
    kr_synctask_t base;
    epc_t *c;
    kr_value_t *svc; /* a copy, apiVersion and kind set (for Events) */
    const char *ns, *name;
    bool failed;
    const char *slice_err; /* the first EndpointSlice write error */
} ep_task_t;

enum { OP_EP_CREATE, OP_EP_UPDATE, OP_EP_DELETE, OP_ES_CREATE, OP_ES_UPDATE, OP_ES_DELETE };

typedef struct ep_op {
    ep_task_t *t;
    int kind;
    kr_value_t *obj;       /* what was written (Endpoints ops) */
    const char *slice_uid; /* OP_ES_DELETE */
    const char *slice;     /* name, for messages */
} ep_op_t;

struct epc {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct ep_conf conf;
    kr_informer_t *svcs, *pods, *eps, *slices, *nodes;
    kr_workqueue_t *q;
    kr_events_t *ev_ep, *ev_es;
    ep_states_t *st;
    kr_synctasks_t tasks;
    uint64_t syncs, stale, ep_writes, ep_deletes, es_creates, es_updates, es_deletes, failures;
};

/* ---- keys ------------------------------------------------------------------------ */

static const char *ns_of(const kr_value_t *obj)
{
    const char *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    return ns != NULL ? ns : "";
}

static void enqueue_obj(epc_t *c, const kr_value_t *obj, uint64_t after_ms)
{
    char key[600];
    if (kr_informer_key(obj, key, sizeof key) > 0)
        kr_workqueue_add_after(c->q, key, after_ms, NULL);
}

typedef struct {
    epc_t *c;
    const kr_value_t *labels;
    uint64_t after_ms;
} match_ctx_t;

static bool enqueue_if_selects(const kr_value_t *svc, void *ud)
{
    match_ctx_t *m = ud;
    if (ep_service_selects(svc) &&
        ep_selector_matches(kr_value_get(svc, "spec.selector"), m->labels))
        enqueue_obj(m->c, svc, m->after_ms);
    return true;
}

/* GetPodServiceMemberships: queues the Services that select the pod. */
static void enqueue_services_of(epc_t *c, const kr_value_t *pod)
{
    match_ctx_t m = {c, kr_value_get(pod, "metadata.labels"), (uint64_t)c->conf.batch_ms};
    kr_informer_each(c->svcs, ns_of(pod), enqueue_if_selects, &m);
}

/* ---- pods ------------------------------------------------------------------------ */

static void on_pod_add(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    enqueue_services_of(ud, pod);
}

static bool same_at(const kr_value_t *x, const kr_value_t *y, const char *path)
{
    return kr_value_equal(kr_value_get(x, path), kr_value_get(y, path));
}

/* podEndpointsChanged, and the phase: a pod that finished is no endpoint. */
static bool pod_endpoint_changed(const kr_value_t *old, const kr_value_t *cur)
{
    return !same_at(old, cur, "metadata.deletionTimestamp") ||
           kr_pod_is_ready(old) != kr_pod_is_ready(cur) || !same_at(old, cur, "status.podIPs") ||
           !same_at(old, cur, "status.podIP") || !same_at(old, cur, "status.phase");
}

static void on_pod_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    (void)inf;
    epc_t *c = ud;
    if (old == cur || same_at(old, cur, "metadata.resourceVersion"))
        return; /* a resync */
    bool labels_changed = !same_at(old, cur, "metadata.labels") ||
                          !same_at(old, cur, "spec.hostname") ||
                          !same_at(old, cur, "spec.subdomain");
    if (!labels_changed && !pod_endpoint_changed(old, cur))
        return;
    enqueue_services_of(c, cur);
    if (labels_changed)
        enqueue_services_of(c, old);
}

static void on_pod_delete(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    enqueue_services_of(ud, pod);
}

static void keep(kr_arena_t *a, kr_value_t *to, const kr_value_t *from, const char *const *keys,
                 size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kr_value_t *v = kr_value_map_get(from, keys[i]);
        if (v != NULL)
            kr_value_map_set(a, to, keys[i], v);
    }
}

/* Of each container, its ports (and the restartPolicy that makes an init
 * container a sidecar). */
static kr_value_t *keep_containers(kr_arena_t *a, const kr_value_t *list)
{
    static const char *const keys[] = {"name", "ports", "restartPolicy"};
    kr_value_t *out = kr_value_array(a);
    for (size_t i = 0; i < kr_value_len(list); i++) {
        kr_value_t *c = kr_value_map(a);
        keep(a, c, kr_value_array_get(list, i), keys, 3);
        kr_value_array_push(a, out, c);
    }
    return out;
}

/* What the pod cache keeps: the fields an endpoint and the handlers read. */
static const kr_value_t *pod_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const meta_keys[] = {"name",   "namespace",       "uid",
                                            "labels", "resourceVersion", "deletionTimestamp"};
    static const char *const spec_keys[] = {"nodeName", "hostname", "subdomain"};
    static const char *const status_keys[] = {"phase", "podIP", "podIPs"};
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a), *spec = kr_value_map(a);
    kr_value_t *st = kr_value_map(a);
    keep(a, m, kr_value_map_get(obj, "metadata"), meta_keys, 6);
    kr_value_map_set(a, out, "metadata", m);
    const kr_value_t *ospec = kr_value_map_get(obj, "spec");
    keep(a, spec, ospec, spec_keys, 3);
    kr_value_map_set(a, spec, "containers",
                     keep_containers(a, kr_value_map_get(ospec, "containers")));
    if (kr_value_map_get(ospec, "initContainers") != NULL)
        kr_value_map_set(a, spec, "initContainers",
                         keep_containers(a, kr_value_map_get(ospec, "initContainers")));
    kr_value_map_set(a, out, "spec", spec);
    const kr_value_t *ost = kr_value_map_get(obj, "status");
    keep(a, st, ost, status_keys, 3);
    const kr_value_t *conds = kr_value_map_get(ost, "conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        kr_value_t *cond = kr_value_array_get(conds, i);
        const char *type = kr_value_map_str(cond, "type");
        if (type != NULL && strcmp(type, "Ready") == 0) {
            kr_value_t *arr = kr_value_array(a);
            kr_value_array_push(a, arr, cond);
            kr_value_map_set(a, st, "conditions", arr);
        }
    }
    kr_value_map_set(a, out, "status", st);
    return out;
}

/* Of a node, its name and zone. */
static const kr_value_t *node_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const meta_keys[] = {"name", "resourceVersion"};
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a);
    keep(a, m, kr_value_map_get(obj, "metadata"), meta_keys, 2);
    kr_value_t *zone = kr_value_get(obj, "metadata.labels[\"" EP_ZONE_LABEL "\"]");
    if (zone != NULL) {
        kr_value_t *l = kr_value_map(a);
        kr_value_map_set(a, l, EP_ZONE_LABEL, zone);
        kr_value_map_set(a, m, "labels", l);
    }
    kr_value_map_set(a, out, "metadata", m);
    return out;
}

/* ---- Services, Endpoints, EndpointSlices ------------------------------------------ */

static void on_svc_add(kr_informer_t *inf, const kr_value_t *svc, void *ud)
{
    (void)inf;
    enqueue_obj(ud, svc, 0);
}

static void on_svc_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    (void)inf;
    (void)old;
    enqueue_obj(ud, cur, 0);
}

static void on_svc_delete(kr_informer_t *inf, const kr_value_t *svc, void *ud)
{
    (void)inf;
    epc_t *c = ud;
    char key[600];
    if (kr_informer_key(svc, key, sizeof key) <= 0)
        return;
    ep_states_get(c->st, key, true)->deleted_seen = true;
    kr_workqueue_add(c->q, key, NULL);
}

/* checkLeftoverEndpoints: the first list queues every Endpoints' Service,
 * so that an Endpoints whose Service went while we were down goes too. */
static void on_ep_add(kr_informer_t *inf, const kr_value_t *ep, void *ud)
{
    if (!kr_informer_has_synced(inf))
        enqueue_obj(ud, ep, 0);
}

static void on_ep_delete(kr_informer_t *inf, const kr_value_t *ep, void *ud)
{
    (void)inf;
    epc_t *c = ud;
    char key[600];
    if (kr_informer_key(ep, key, sizeof key) <= 0)
        return;
    ep_svc_state_t *s = ep_states_get(c->st, key, false);
    if (s != NULL)
        s->endpoints_rv = 0;
    kr_workqueue_add(c->q, key, NULL);
}

static bool slice_is_ours(const kr_value_t *slice)
{
    const char *m =
        kr_value_as_str(kr_value_get(slice, "metadata.labels[\"" ES_LABEL_MANAGED_BY "\"]"));
    return m != NULL && strcmp(m, ES_CONTROLLER_NAME) == 0;
}

static const char *slice_service(const kr_value_t *slice)
{
    return kr_value_as_str(kr_value_get(slice, "metadata.labels[\"" ES_LABEL_SERVICE_NAME "\"]"));
}

/* ServiceControllerKey, or false when the slice names no Service. */
static bool slice_key(const kr_value_t *slice, char *key, size_t size)
{
    const char *svc = slice_service(slice);
    if (svc == NULL || *svc == '\0')
        return false;
    int n = snprintf(key, size, "%s/%s", ns_of(slice), svc);
    return n > 0 && (size_t)n < size;
}

static void queue_for_slice(epc_t *c, const kr_value_t *slice)
{
    char key[600];
    if (slice_key(slice, key, sizeof key)) {
        uint64_t after = (uint64_t)c->conf.batch_ms;
        kr_workqueue_add_after(c->q, key, after > ES_CHANGE_MIN_MS ? after : ES_CHANGE_MIN_MS,
                               NULL);
    }
}

static bool slice_should_sync(epc_t *c, const kr_value_t *slice)
{
    char key[600];
    if (!slice_key(slice, key, sizeof key))
        return true;
    return ep_state_slice_should_sync(
        ep_states_get(c->st, key, false), kr_value_as_str(kr_value_get(slice, "metadata.uid")),
        ep_rv_num(kr_value_as_str(kr_value_get(slice, "metadata.resourceVersion"))));
}

static void on_es_add(kr_informer_t *inf, const kr_value_t *slice, void *ud)
{
    (void)inf;
    epc_t *c = ud;
    if (slice_is_ours(slice) && slice_should_sync(c, slice))
        queue_for_slice(c, slice);
}

static void on_es_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur, void *ud)
{
    (void)inf;
    epc_t *c = ud;
    if (old == cur)
        return;
    const char *a = slice_service(old), *b = slice_service(cur);
    if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0)) {
        queue_for_slice(c, cur);
        queue_for_slice(c, old);
        return;
    }
    if (slice_is_ours(old) != slice_is_ours(cur) ||
        (slice_is_ours(cur) && slice_should_sync(c, cur)))
        queue_for_slice(c, cur);
}

static void on_es_delete(kr_informer_t *inf, const kr_value_t *slice, void *ud)
{
    (void)inf;
    epc_t *c = ud;
    char key[600];
    if (!slice_is_ours(slice) || !slice_key(slice, key, sizeof key))
        return;
    /* HandleDeletion: a deletion we did not make is a change to undo —
     * also of a slice written before a restart, which upstream's tracker
     * does not know and leaves deleted until the Service's next change */
    ep_svc_state_t *s = ep_states_get(c->st, key, false);
    const char *uid = kr_value_as_str(kr_value_get(slice, "metadata.uid"));
    if (s == NULL || ep_state_slice_forget(s, uid) != EP_DELETION_EXPECTED)
        queue_for_slice(c, slice);
}

/* ---- tasks ----------------------------------------------------------------------- */

static ep_task_t *task_new(epc_t *c, const char *key, const kr_value_t *svc)
{
    ep_task_t *t = kr_synctask_new(&c->tasks, sizeof *t, key);
    t->c = c;
    if (svc != NULL)
        t->svc = kr_synctask_object(&t->base, svc, "v1", "Service");
    const char *slash = strchr(t->base.key, '/');
    t->ns = slash != NULL ? kr_arena_strndup(t->base.a, t->base.key, (size_t)(slash - t->base.key))
                          : "";
    t->name = slash != NULL ? slash + 1 : t->base.key;
    return t;
}

/* handleErr: a failed sync comes back with the key's back-off, at most
 * maxRetries times in a row. */
static void task_finish(ep_task_t *t)
{
    epc_t *c = t->c;
    if (t->slice_err != NULL && t->svc != NULL)
        kr_events_record(c->ev_es, t->svc, KR_EVENT_WARNING, "FailedToUpdateEndpointSlices",
                         "Error updating Endpoint Slices for Service %s/%s: %s", t->ns, t->name,
                         t->slice_err);
    bool retry = t->failed && kr_workqueue_num_requeues(c->q, t->base.key) < EP_MAX_RETRIES;
    if (t->failed) {
        c->failures++;
        if (!retry)
            kr_plugin_log(c->ctx, KR_LOG_WARN, "dropping service out of the queue",
                          "service=\"%s\"", t->base.key);
    }
    kr_synctask_done(&t->base, retry ? KR_SYNCTASK_FAILED : KR_SYNCTASK_OK, 0);
}

static void maybe_finish(ep_task_t *t)
{
    if (t->base.pending == 0)
        task_finish(t);
}

static ep_op_t *op_new(ep_task_t *t, int kind)
{
    ep_op_t *op = kr_arena_alloc(t->base.a, sizeof *op);
    memset(op, 0, sizeof *op);
    op->t = t;
    op->kind = kind;
    return op;
}

static void on_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud);

static void task_send(ep_task_t *t, ep_op_t *op, const kr_request_t *req)
{
    if (kr_synctask_send(&t->base, req, on_reply, op, NULL) < 0)
        t->failed = true;
}

static kr_value_t *uid_precondition(kr_arena_t *a, const char *uid)
{
    kr_value_t *opts = kr_value_map(a), *pre = kr_value_map(a);
    kr_value_map_set(a, pre, "uid", kr_value_str(a, uid));
    kr_value_map_set(a, opts, "preconditions", pre);
    return opts;
}

static void reply_endpoints(ep_op_t *op, const kr_reply_t *r)
{
    ep_task_t *t = op->t;
    epc_t *c = t->c;
    bool ok = r->code >= 200 && r->code < 300;
    if (op->kind == OP_EP_DELETE) {
        if (!ok && r->code != 404)
            t->failed = true;
        else if (ok)
            c->ep_deletes++;
        return;
    }
    if (ok) {
        c->ep_writes++;
        ep_svc_state_t *s = ep_states_get(c->st, t->base.key, true);
        s->endpoints_rv =
            ep_rv_num(kr_value_as_str(kr_value_get(r->obj, "metadata.resourceVersion")));
        return;
    }
    if (op->kind == OP_EP_CREATE && kr_reply_namespace_terminating(r))
        return;
    t->failed = true;
    const char *msg = r->message ? r->message : kr_reason_name(r->reason);
    if (op->kind == OP_EP_CREATE)
        kr_events_record(c->ev_ep, op->obj, KR_EVENT_WARNING, "FailedToCreateEndpoint",
                         "Failed to create endpoint for service %s/%s: %s", t->ns, t->name, msg);
    else
        kr_events_record(c->ev_ep, op->obj, KR_EVENT_WARNING, "FailedToUpdateEndpoint",
                         "Failed to update endpoint %s/%s: %s", t->ns, t->name, msg);
}

static void reply_slice(ep_op_t *op, const kr_reply_t *r)
{
    ep_task_t *t = op->t;
    epc_t *c = t->c;
    bool ok = r->code >= 200 && r->code < 300;
    ep_svc_state_t *s = ep_states_get(c->st, t->base.key, true);
    const char *msg = r->message ? r->message : kr_reason_name(r->reason);
    if (op->kind == OP_ES_DELETE) {
        if (ok || r->code == 404) {
            c->es_deletes += ok;
            return;
        }
        ep_state_slice_forget(s, op->slice_uid);
        t->failed = true;
        if (t->slice_err == NULL)
            t->slice_err = kr_arena_printf(
                t->base.a, "failed to delete %s EndpointSlice for Service %s/%s: %s", op->slice,
                t->ns, t->name, msg);
        return;
    }
    if (ok) {
        if (op->kind == OP_ES_CREATE)
            c->es_creates++;
        else
            c->es_updates++;
        ep_state_slice_set(
            s, kr_value_as_str(kr_value_get(r->obj, "metadata.uid")),
            ep_rv_num(kr_value_as_str(kr_value_get(r->obj, "metadata.resourceVersion"))));
        return;
    }
    if (op->kind == OP_ES_CREATE && kr_reply_namespace_terminating(r))
        return;
    t->failed = true;
    if (t->slice_err == NULL)
        t->slice_err =
            op->kind == OP_ES_CREATE
                ? kr_arena_printf(t->base.a, "failed to create EndpointSlice for Service %s/%s: %s",
                                  t->ns, t->name, msg)
                : kr_arena_printf(t->base.a,
                                  "failed to update %s EndpointSlice for Service %s/%s: %s",
                                  op->slice, t->ns, t->name, msg);
}

static void on_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ep_op_t *op = ud;
    ep_task_t *t = op->t;
    if (!kr_synctask_reply(&t->base))
        return;
    if (op->kind <= OP_EP_DELETE)
        reply_endpoints(op, r);
    else
        reply_slice(op, r);
    maybe_finish(t);
}

/* ---- sync: Endpoints ---------------------------------------------------------------- */

static void sync_endpoints(ep_task_t *t, ep_svc_state_t *s, const kr_value_t *svc,
                           const kr_value_t *const *pods, size_t n, const char *trigger)
{
    epc_t *c = t->c;
    kr_arena_t *a = t->base.a;
    const kr_value_t *cur = kr_informer_get(c->eps, t->ns, t->name);
    int64_t cur_rv = ep_rv_num(kr_value_as_str(kr_value_get(cur, "metadata.resourceVersion")));
    if (s->endpoints_rv > 0 && cur_rv < s->endpoints_rv) {
        /* the cache has not seen our last write yet */
        c->stale++;
        t->failed = true;
        return;
    }
    size_t ready, not_ready;
    kr_value_t *subsets = ep_subsets_build(a, svc, pods, n, &ready, &not_ready);
    kr_value_t *labels = ep_endpoints_labels(a, svc);
    if (cur != NULL && ep_endpoints_current(cur, subsets, labels))
        return;
    kr_value_t *obj;
    if (cur != NULL) {
        obj = kr_value_copy(a, cur);
    } else {
        obj = kr_value_map(a);
        kr_value_t *meta = kr_value_map(a);
        kr_value_map_set(a, meta, "name", kr_value_str(a, t->name));
        kr_value_map_set(a, meta, "namespace", kr_value_str(a, t->ns));
        kr_value_map_set(a, obj, "metadata", meta);
    }
    kr_value_map_set(a, obj, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, obj, "kind", kr_value_str(a, "Endpoints"));
    kr_value_map_set(a, kr_value_map_get(obj, "metadata"), "labels", labels);
    ep_set_trigger_time(a, obj, trigger);
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    kr_value_t *ann = kr_value_map_get(meta, "annotations");
    if (ep_subsets_truncate(a, subsets, EP_MAX_CAPACITY)) {
        if (ann == NULL) {
            ann = kr_value_map(a);
            kr_value_map_set(a, meta, "annotations", ann);
        }
        kr_value_map_set(a, ann, EP_ANN_OVER_CAPACITY, kr_value_str(a, "truncated"));
    } else if (ann != NULL) {
        kr_value_map_del(ann, EP_ANN_OVER_CAPACITY);
        if (kr_value_len(ann) == 0)
            kr_value_map_del(meta, "annotations");
    }
    if (kr_value_len(subsets) > 0)
        kr_value_map_set(a, obj, "subsets", subsets);
    else
        kr_value_map_del(obj, "subsets");
    ep_op_t *op = op_new(t, cur != NULL ? OP_EP_UPDATE : OP_EP_CREATE);
    op->obj = obj;
    kr_request_t req = {.op = cur != NULL ? "update" : "create",
                        .res = EP_RES,
                        .ns = t->ns,
                        .name = cur != NULL ? t->name : NULL,
                        .obj = obj};
    kr_plugin_log(c->ctx, KR_LOG_DEBUG, "update endpoints", "service=\"%s\" ready=%zu notready=%zu",
                  t->base.key, ready, not_ready);
    task_send(t, op, &req);
}

/* ---- sync: EndpointSlices ----------------------------------------------------------- */

typedef struct {
    const char *svc;
    const kr_value_t **v;
    size_t n, cap;
} slices_ctx_t;

static bool collect_slice(const kr_value_t *slice, void *ud)
{
    slices_ctx_t *x = ud;
    const char *svc = slice_service(slice);
    if (svc == NULL || strcmp(svc, x->svc) != 0 || !slice_is_ours(slice) ||
        kr_value_get(slice, "metadata.deletionTimestamp") != NULL)
        return true;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 8;
        x->v = realloc(x->v, x->cap * sizeof *x->v);
        if (x->v == NULL)
            abort();
    }
    x->v[x->n++] = slice;
    return true;
}

static bool node_lookup(const char *name, const char **zone, void *ud)
{
    epc_t *c = ud;
    const kr_value_t *node = name != NULL && *name ? kr_informer_get(c->nodes, NULL, name) : NULL;
    if (node == NULL)
        return false;
    *zone = kr_value_as_str(kr_value_get(node, "metadata.labels[\"" EP_ZONE_LABEL "\"]"));
    return true;
}

static void sync_slices(ep_task_t *t, ep_svc_state_t *s, const kr_value_t *svc,
                        const kr_value_t *const *pods, size_t n, const char *trigger)
{
    epc_t *c = t->c;
    kr_arena_t *a = t->base.a;
    slices_ctx_t x = {.svc = t->name};
    kr_informer_each(c->slices, t->ns, collect_slice, &x);
    ep_state_service_uid(s, kr_value_as_str(kr_value_get(svc, "metadata.uid")));
    if (ep_state_slices_stale(s, x.v, x.n)) {
        c->stale++;
        t->failed = true;
        free(x.v);
        return;
    }
    es_plan_t plan;
    es_reconcile(a, svc, pods, n, x.v, x.n, (size_t)c->conf.max_per_slice, node_lookup, c, &plan);
    if (plan.skipped > 0) {
        /* a pod on a node we do not know yet: its Service is synced again */
        t->failed = true;
        if (t->slice_err == NULL)
            t->slice_err = kr_arena_printf(a, "skipping %zu Pods for Service %s/%s: Node Not Found",
                                           plan.skipped, t->ns, t->name);
    }
    for (size_t i = 0; i < plan.ncreate; i++) {
        ep_set_trigger_time(a, plan.create[i], trigger);
        ep_op_t *op = op_new(t, OP_ES_CREATE);
        kr_request_t req = {.op = "create", .res = ES_RES, .ns = t->ns, .obj = plan.create[i]};
        task_send(t, op, &req);
    }
    for (size_t i = 0; i < plan.nupdate; i++) {
        ep_set_trigger_time(a, plan.update[i], trigger);
        ep_op_t *op = op_new(t, OP_ES_UPDATE);
        op->slice = kr_value_as_str(kr_value_get(plan.update[i], "metadata.name"));
        kr_request_t req = {
            .op = "update", .res = ES_RES, .ns = t->ns, .name = op->slice, .obj = plan.update[i]};
        task_send(t, op, &req);
    }
    for (size_t i = 0; i < plan.ndel; i++) {
        ep_op_t *op = op_new(t, OP_ES_DELETE);
        op->slice = kr_arena_strdup(a, kr_value_as_str(kr_value_get(plan.del[i], "metadata.name")));
        op->slice_uid =
            kr_arena_strdup(a, kr_value_as_str(kr_value_get(plan.del[i], "metadata.uid")));
        ep_state_slice_set(s, op->slice_uid, EP_DELETION_EXPECTED);
        kr_request_t req = {.op = "delete",
                            .res = ES_RES,
                            .ns = t->ns,
                            .name = op->slice,
                            .opts = uid_precondition(a, op->slice_uid)};
        task_send(t, op, &req);
    }
    free(x.v);
}

/* ---- sync ---------------------------------------------------------------------------- */

typedef struct {
    const kr_value_t *selector;
    const kr_value_t **v;
    size_t n, cap;
} pods_ctx_t;

static bool collect_pod(const kr_value_t *pod, void *ud)
{
    pods_ctx_t *x = ud;
    if (!ep_selector_matches(x->selector, kr_value_get(pod, "metadata.labels")))
        return true;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->v = realloc(x->v, x->cap * sizeof *x->v);
        if (x->v == NULL)
            abort();
    }
    x->v[x->n++] = pod;
    return true;
}

/* The Service is gone: its Endpoints go when the deletion was watched or
 * when they are ours (upstream deletes them in both cases; an Endpoints
 * someone wrote by hand without the label survives a restart here). */
static void sync_gone(epc_t *c, const char *key)
{
    ep_svc_state_t *s = ep_states_get(c->st, key, false);
    bool seen = s != NULL && s->deleted_seen;
    ep_states_drop(c->st, key);
    const kr_value_t *ep = c->eps != NULL ? kr_informer_get_key(c->eps, key) : NULL;
    const char *managed =
        kr_value_as_str(kr_value_get(ep, "metadata.labels[\"" EP_LABEL_MANAGED_BY "\"]"));
    ep_task_t *t = task_new(c, key, NULL);
    if (c->conf.endpoints && ep != NULL &&
        (seen || (managed != NULL && strcmp(managed, EP_CONTROLLER_NAME) == 0))) {
        ep_op_t *op = op_new(t, OP_EP_DELETE);
        const char *uid = kr_value_as_str(kr_value_get(ep, "metadata.uid"));
        kr_request_t req = {.op = "delete",
                            .res = EP_RES,
                            .ns = t->ns,
                            .name = t->name,
                            .opts = uid != NULL ? uid_precondition(t->base.a, uid) : NULL};
        task_send(t, op, &req);
    }
    maybe_finish(t);
}

static bool all_synced(const epc_t *c)
{
    return kr_informer_has_synced(c->svcs) && kr_informer_has_synced(c->pods) &&
           kr_informer_has_synced(c->nodes) &&
           (!c->conf.endpoints || kr_informer_has_synced(c->eps)) &&
           (!c->conf.slices || kr_informer_has_synced(c->slices));
}

static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    epc_t *c = ud;
    if (!all_synced(c)) {
        kr_workqueue_add_after(q, key, EP_WAIT_SYNCED, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    c->syncs++;
    const kr_value_t *svc = kr_informer_get_key(c->svcs, key);
    if (svc == NULL) {
        sync_gone(c, key);
        return;
    }
    if (!ep_service_selects(svc)) {
        /* ExternalName, or no selector: their endpoints are the user's */
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    pods_ctx_t pc = {.selector = kr_value_get(svc, "spec.selector")};
    kr_informer_each(c->pods, ns_of(svc), collect_pod, &pc);
    ep_svc_state_t *s = ep_states_get(c->st, key, true);
    s->deleted_seen = false;
    int64_t when = ep_state_trigger_time(s, svc, pc.v, pc.n);
    ep_task_t *t = task_new(c, key, svc);
    const char *trigger = NULL;
    if (when > 0) {
        char buf[40];
        kr_time_format(when / 1000000000, buf, sizeof buf);
        trigger = kr_arena_strdup(t->base.a, buf);
    }
    if (c->conf.endpoints)
        sync_endpoints(t, s, svc, pc.v, pc.n, trigger);
    if (c->conf.slices)
        sync_slices(t, s, svc, pc.v, pc.n, trigger);
    free(pc.v);
    maybe_finish(t);
}

/* ---- stats op ------------------------------------------------------------------------ */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    epc_t *c = ud;
    const kr_stat_t n[] = {{"services", kr_informer_len(c->svcs)},
                           {"pods", kr_informer_len(c->pods)},
                           {"endpoints", c->eps ? kr_informer_len(c->eps) : 0},
                           {"endpointslices", c->slices ? kr_informer_len(c->slices) : 0},
                           {"tracked", ep_states_len(c->st)},
                           {"syncs", c->syncs},
                           {"stale", c->stale},
                           {"endpoints_writes", c->ep_writes},
                           {"endpoints_deletes", c->ep_deletes},
                           {"slice_creates", c->es_creates},
                           {"slice_updates", c->es_updates},
                           {"slice_deletes", c->es_deletes},
                           {"failures", c->failures}};
    kr_stats_reply(call, n, sizeof n / sizeof n[0]);
}

/* ---- life cycle ---------------------------------------------------------------------- */

static void ep_fini(void *instance)
{
    epc_t *c = instance;
    if (c->q != NULL)
        kr_workqueue_shutdown(c->q);
    kr_informer_destroy(&c->svcs);
    kr_informer_destroy(&c->pods);
    kr_informer_destroy(&c->eps);
    kr_informer_destroy(&c->slices);
    kr_informer_destroy(&c->nodes);
    kr_synctasks_detach(&c->tasks);
    kr_workqueue_destroy(&c->q);
    kr_events_destroy(&c->ev_ep);
    kr_events_destroy(&c->ev_es);
    ep_states_destroy(&c->st);
    free(c);
}

static void *ep_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct ep_conf *conf = config;
    if (kr_config_check_int("workers", conf->workers, 1, 256, err) < 0)
        return NULL;
    if (conf->max_per_slice < 1 || conf->max_per_slice > 1000) {
        kr_error_set(err, KR_E_INVALID, "max_endpoints_per_slice: must be between 1 and 1000");
        return NULL;
    }
    epc_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->conf = *conf;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    c->tasks = (kr_synctasks_t){
        .bus = c->bus, .ctx = ctx, .label = "service", .timeout_ms = EP_TIMEOUT_MS};
    c->st = ep_states_new();
    kr_workqueue_opts_t qo = {.name = kr_plugin_name(ctx),
                              .max_in_flight = (unsigned)conf->workers};
    kr_informer_opts_t so = {
        .res = SVC_RES,
        .resync_ms = (uint64_t)conf->resync_ms,
        .name = "endpoints-services",
        .handlers = {on_svc_add, on_svc_update, on_svc_delete, c},
    };
    kr_informer_opts_t po = {
        .res = POD_RES,
        .name = "endpoints-pods",
        .page_size = 1000,
        .handlers = {on_pod_add, on_pod_update, on_pod_delete, c},
    };
    kr_informer_opts_t eo = {
        .res = EP_RES,
        .name = "endpoints-endpoints",
        .handlers = {on_ep_add, NULL, on_ep_delete, c},
    };
    kr_informer_opts_t eso = {
        .res = ES_RES,
        .name = "endpoints-endpointslices",
        .handlers = {on_es_add, on_es_update, on_es_delete, c},
    };
    kr_informer_opts_t no = {.res = NODE_RES, .name = "endpoints-nodes", .page_size = 1000};
    if ((c->ev_ep = kr_events_new(c->bus, &(kr_events_opts_t){.component = "endpoint-controller"},
                                  err)) == NULL ||
        (c->ev_es = kr_events_new(
             c->bus, &(kr_events_opts_t){.component = "endpoint-slice-controller"}, err)) == NULL ||
        (c->q = kr_workqueue_new(c->loop, &qo, sync_key, c, err)) == NULL ||
        (c->svcs = kr_informer_new(c->loop, c->bus, &so, err)) == NULL ||
        (c->pods = kr_informer_new(c->loop, c->bus, &po, err)) == NULL ||
        (c->nodes = kr_informer_new(c->loop, c->bus, &no, err)) == NULL ||
        kr_informer_set_transform(c->pods, pod_transform, NULL, err) < 0 ||
        kr_informer_set_transform(c->nodes, node_transform, NULL, err) < 0 ||
        (conf->endpoints && (c->eps = kr_informer_new(c->loop, c->bus, &eo, err)) == NULL) ||
        (conf->slices && (c->slices = kr_informer_new(c->loop, c->bus, &eso, err)) == NULL) ||
        kr_informer_start(c->svcs, err) < 0 || kr_informer_start(c->pods, err) < 0 ||
        kr_informer_start(c->nodes, err) < 0 ||
        (c->eps != NULL && kr_informer_start(c->eps, err) < 0) ||
        (c->slices != NULL && kr_informer_start(c->slices, err) < 0) ||
        kr_bus_serve(c->bus, "controller.endpoints.stats", NULL, on_stats, c, 5000, err) < 0) {
        ep_fini(c);
        return NULL;
    }
    c->tasks.q = c->q;
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "endpoints",
    .version = "0.1.0",
    .description = "the Endpoints and EndpointSlices of every Service with a selector "
                   "(upstream's endpoint and EndpointSlice controllers)",
    .config = ep_table,
    .config_size = sizeof(struct ep_conf),
    .init = ep_init,
    .fini = ep_fini,
};
