/* controller-deployment: rolls Deployments out through ReplicaSets, after
 * upstream's pkg/controller/deployment (deployment_controller.go, sync.go,
 * rolling.go, recreate.go, progress.go).
 *
 * - Three informers (deployments, replicasets, pods — the pods only for
 *   Recreate, which waits until the old pods are gone) feed one queue of
 *   Deployment keys; a ReplicaSet event finds its Deployment by the
 *   controller reference (an orphan queues every Deployment whose selector
 *   matches it).
 * - A sync takes the Deployment's ReplicaSets from the cache (adopting
 *   matching orphans, releasing those that stopped matching, as
 *   ControllerRefManager), finds the new one (template equal but for
 *   pod-template-hash) and plans what upstream's sync would write, in the
 *   same order and with the same early returns: the revision annotations
 *   of the new ReplicaSet, a scaling event or a paused Deployment scaled
 *   proportionally, or one step of the rollout (Recreate: old to 0, wait for
 *   their pods, new up; RollingUpdate: the new one up within maxSurge,
 *   then the old ones down within maxUnavailable), the cleanup of old
 *   ReplicaSets beyond revisionHistoryLimit, and the status with its
 *   Progressing and Available conditions.
 * - Upstream writes one object after another within a sync; here a sync
 *   sends its writes at once (each ReplicaSet written once with everything
 *   planned for it, with its resourceVersion: a stale cache costs a 409 and
 *   a retry), then the status as a merge patch of deployments/status.  The
 *   next step starts from the ReplicaSet events the writes cause.
 * - A Deployment waiting for its progress deadline is synced again when the
 *   deadline passes. */
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
#include <kraal/selector.h>
#include <kraal/synctask.h>
#include <kraal/workqueue.h>

#include "dep_util.h"

#define DP_RES        "apps/v1/deployments"
#define RS_RES        "apps/v1/replicasets"
#define POD_RES       "v1/pods"
#define DP_TIMEOUT_MS 10000
#define DP_WAIT_SYNC  100
#define SMP           "application/strategic-merge-patch+json"
#define MERGE         "application/merge-patch+json"

struct dp_conf {
    int64_t workers;
    int64_t resync_ms;
};

static const kr_config_entry_t dp_table[] = {
    {KR_CFG_INT, "workers", "5", offsetof(struct dp_conf, workers),
     "Deployments synced at once (--concurrent-deployment-syncs)"},
    {KR_CFG_DURATION, "resync", "0s", offsetof(struct dp_conf, resync_ms),
     "how often every Deployment is synced again (0: only on changes)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct dpc dpc_t;

/* A ReplicaSet of the sync: a copy the plan changes. */
typedef struct dp_rs {
    kr_value_t *obj;
    int64_t was; /* spec.replicas in the cache (0 for one to create) */
    bool create; /* not in the API yet */
    bool dirty;  /* to write */
    bool remove; /* to delete (history cleanup) */
} dp_rs_t;

typedef struct dp_task {
    kr_synctask_t base;
    dpc_t *c;
    kr_value_t *d; /* the Deployment at sync time, apiVersion and kind set */
    const char *ns, *name;
    dp_rs_t *rss;
    size_t n;
    kr_value_t *status;    /* the status to write, or NULL */
    const char *revision;  /* the Deployment's revision annotation to set, or NULL */
    bool status_anyway;    /* a failed create: its condition is still written */
    kr_value_t *adoptions; /* [{name, patch}] sent once the Deployment is rechecked */
    bool failed;
    uint64_t recheck_ms;
} dp_task_t;

typedef struct dp_op {
    dp_task_t *t;
    dp_rs_t *rs;
} dp_op_t;

struct dpc {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct dp_conf conf;
    kr_informer_t *dpi, *rsi, *pods;
    kr_workqueue_t *q;
    kr_events_t *ev;
    kr_synctasks_t tasks;
    uint64_t syncs, rs_creates, rs_updates, rs_deletes, status_writes, conflicts, failures;
};

static void task_status(dp_task_t *t);

/* ---- keys --------------------------------------------------------------------- */

static const char *ns_of(const kr_value_t *obj)
{
    const char *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    return ns != NULL ? ns : "";
}

static void enqueue(dpc_t *c, const kr_value_t *d)
{
    char key[600];
    if (kr_informer_key(d, key, sizeof key) > 0)
        kr_workqueue_add(c->q, key, NULL);
}

/* The cached Deployment a controller reference names, or NULL. */
static const kr_value_t *resolve_ref(dpc_t *c, const char *ns, const kr_value_t *ref)
{
    return kr_controller_ref_resolve(c->dpi, ns, ref, "Deployment", NULL);
}

typedef struct {
    dpc_t *c;
    const kr_value_t *labels;
} match_ctx_t;

static bool enqueue_if_matches(const kr_value_t *d, void *ud)
{
    match_ctx_t *m = ud;
    kr_labelsel_t *sel = kr_labelsel_from_object(kr_value_get(d, "spec.selector"), NULL);
    if (sel != NULL && !kr_labelsel_empty(sel) && kr_labelsel_match(sel, m->labels))
        enqueue(m->c, d);
    kr_labelsel_destroy(&sel);
    return true;
}

static void rs_changed(dpc_t *c, const kr_value_t *rs)
{
    const kr_value_t *ref = kr_controller_ref_of(rs);
    if (ref != NULL) {
        const kr_value_t *d = resolve_ref(c, ns_of(rs), ref);
        if (d != NULL)
            enqueue(c, d);
        return;
    }
    match_ctx_t m = {c, kr_value_get(rs, "metadata.labels")};
    kr_informer_each(c->dpi, ns_of(rs), enqueue_if_matches, &m);
}

static void on_rs_add(kr_informer_t *inf, const kr_value_t *rs, void *ud)
{
    (void)inf;
    rs_changed(ud, rs);
}

static void on_rs_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur, void *ud)
{
    (void)inf;
    dpc_t *c = ud;
    if (old == cur)
        return;
    const kr_value_t *oref = kr_controller_ref_of(old), *cref = kr_controller_ref_of(cur);
    const char *ou = kr_value_map_str(oref, "uid"), *cu = kr_value_map_str(cref, "uid");
    if (ou != NULL && (cu == NULL || strcmp(ou, cu) != 0)) {
        const kr_value_t *d = resolve_ref(c, ns_of(old), oref);
        if (d != NULL)
            enqueue(c, d);
    }
    rs_changed(c, cur);
}

static void on_d_add(kr_informer_t *inf, const kr_value_t *d, void *ud)
{
    (void)inf;
    enqueue(ud, d);
}

static void on_d_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur, void *ud)
{
    (void)inf;
    (void)old;
    enqueue(ud, cur);
}

/* A Recreate Deployment waits for its old pods to be gone. */
static void on_pod_delete(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    dpc_t *c = ud;
    const kr_value_t *ref = kr_controller_ref_of(pod);
    const char *kind = kr_value_map_str(ref, "kind");
    if (kind == NULL || strcmp(kind, "ReplicaSet") != 0)
        return;
    const kr_value_t *rs = kr_informer_get(c->rsi, ns_of(pod), kr_value_map_str(ref, "name"));
    const kr_value_t *d = rs ? resolve_ref(c, ns_of(rs), kr_controller_ref_of(rs)) : NULL;
    if (d != NULL && !dp_is_rolling(d))
        enqueue(c, d);
}

static void on_pod_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    const char *p = kr_value_as_str(kr_value_get(cur, "status.phase"));
    if (old != cur && p != NULL && (strcmp(p, "Succeeded") == 0 || strcmp(p, "Failed") == 0))
        on_pod_delete(inf, cur, ud);
}

/* What the pod cache keeps: who owns the pod and its phase. */
static const kr_value_t *pod_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const keep[] = {
        "name", "namespace", "uid", "resourceVersion", "ownerReferences", "deletionTimestamp"};
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a), *s = kr_value_map(a);
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        kr_value_t *v = kr_value_map_get(meta, keep[i]);
        if (v != NULL)
            kr_value_map_set(a, m, keep[i], v);
    }
    kr_value_map_set(a, out, "metadata", m);
    kr_value_t *phase = kr_value_get(obj, "status.phase");
    if (phase != NULL)
        kr_value_map_set(a, s, "phase", phase);
    kr_value_map_set(a, out, "status", s);
    return out;
}

/* ---- tasks -------------------------------------------------------------------- */

/* kr_synctasks_t.on_free: the ReplicaSets of the sync */
static void task_free(kr_synctask_t *base)
{
    free(((dp_task_t *)base)->rss);
}

static void task_done(dp_task_t *t)
{
    kr_synctask_done(&t->base, t->failed ? KR_SYNCTASK_FAILED : KR_SYNCTASK_OK, t->recheck_ms);
}

static dp_op_t *op_new(dp_task_t *t, dp_rs_t *rs)
{
    dp_op_t *op = kr_arena_alloc(t->base.a, sizeof *op);
    op->t = t;
    op->rs = rs;
    return op;
}

static void send(dp_task_t *t, const kr_request_t *req, kr_reply_fn fn, dp_op_t *op)
{
    if (kr_synctask_send(&t->base, req, fn, op, NULL) < 0)
        t->failed = true;
}

/* Common reply bookkeeping; false when the task is detached or others are
 * still pending. */
static bool op_reply(dp_op_t *op, const kr_reply_t *r, const char *what)
{
    dp_task_t *t = op->t;
    if (!kr_synctask_reply(&t->base))
        return false;
    if (r != NULL && (r->code < 200 || r->code >= 300) && r->code != 404) {
        t->failed = true;
        if (r->code == 409)
            t->c->conflicts++;
        else
            t->c->failures++;
        kr_plugin_log(t->c->ctx, r->code == 409 ? KR_LOG_DEBUG : KR_LOG_INFO, kr_reply_msg(r),
                      "deployment=\"%s\" op=\"%s\" code=%d", t->base.key, what, r->code);
    }
    return true;
}

static const char *rs_name(const dp_rs_t *rs)
{
    return kr_value_as_str(kr_value_get(rs->obj, "metadata.name"));
}

static void scaled_event(dp_task_t *t, const dp_rs_t *rs, int64_t from, int64_t to)
{
    if (from == to)
        return;
    kr_events_record(t->c->ev, t->d, KR_EVENT_NORMAL, "ScalingReplicaSet",
                     "Scaled %s replica set %s from %" PRId64 " to %" PRId64,
                     to > from ? "up" : "down", rs_name(rs), from, to);
}

static void after_writes(dp_task_t *t)
{
    if (t->base.pending > 0)
        return;
    if (t->status == NULL || (t->failed && !t->status_anyway))
        task_done(t);
    else
        task_status(t);
}

static void on_rs_created(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    dp_op_t *op = ud;
    dp_task_t *t = op->t;
    bool collision = false;
    if (r->code == 409 && r->reason == KR_E_ALREADY_EXISTS && t->base.set != NULL) {
        /* a slow cache, or a hash collision (another template) */
        const kr_value_t *cur = kr_informer_get(t->c->rsi, t->ns, rs_name(op->rs));
        const char *duid = kr_value_as_str(kr_value_get(t->d, "metadata.uid"));
        if (cur != NULL && kr_controlled_by(cur, duid) &&
            dp_templates_equal(kr_value_get(cur, "spec.template"),
                               kr_value_get(t->d, "spec.template"))) {
            if (kr_synctask_reply(&t->base))
                after_writes(t);
            return;
        }
        collision = cur != NULL;
    }
    if (!op_reply(op, r, "create replicaset"))
        return;
    if (r->code == 201 || r->code == 200) {
        t->c->rs_creates++;
        int64_t n = dp_rs_replicas(op->rs->obj);
        if (n > 0)
            kr_events_record(t->c->ev, t->d, KR_EVENT_NORMAL, "ScalingReplicaSet",
                             "Scaled up replica set %s from 0 to %" PRId64, rs_name(op->rs), n);
    } else if (collision && t->status != NULL) {
        /* the next sync hashes with collisionCount + 1 */
        int64_t cc = kr_value_as_int(kr_value_get(t->d, "status.collisionCount"), 0);
        kr_value_map_set(t->base.a, t->status, "collisionCount", kr_value_int(t->base.a, cc + 1));
        t->status_anyway = true;
    } else if (r->code != 409) {
        const char *msg = kr_arena_printf(t->base.a, "Failed to create new replica set \"%s\": %s",
                                          rs_name(op->rs), kr_reply_msg(r));
        kr_events_record(t->c->ev, t->d, KR_EVENT_WARNING, "ReplicaSetCreateError", "%s", msg);
        if (dp_has_progress_deadline(t->d) && t->status != NULL) {
            dp_set_condition(t->base.a, t->status, "Progressing", "False", "ReplicaSetCreateError",
                             msg, kr_time_now_ns() / 1000000000);
            t->status_anyway = true;
        }
    }
    after_writes(t);
}

static void on_rs_updated(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    dp_op_t *op = ud;
    if (!op_reply(op, r, "update replicaset"))
        return;
    dp_task_t *t = op->t;
    if (r->code == 200) {
        t->c->rs_updates++;
        scaled_event(t, op->rs, op->rs->was, dp_rs_replicas(op->rs->obj));
    }
    after_writes(t);
}

static void on_plain(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    dp_op_t *op = ud;
    if (!op_reply(op, r, op->rs != NULL ? "delete replicaset" : "write"))
        return;
    if (op->rs != NULL && r->code == 200)
        op->t->c->rs_deletes++;
    after_writes(op->t);
}

static void on_status(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    dp_op_t *op = ud;
    if (!op_reply(op, r, "status"))
        return;
    if (r->code == 200)
        op->t->c->status_writes++;
    task_done(op->t);
}

/* The status, when it changed, as a merge patch (the Deployment's
 * resourceVersion moved with our own annotation patch). */
static void task_status(dp_task_t *t)
{
    const kr_value_t *cur = kr_informer_get(t->c->dpi, t->ns, t->name);
    const kr_value_t *old = kr_value_map_get(cur != NULL ? cur : t->d, "status");
    if (kr_value_equal(old, t->status)) {
        task_done(t);
        return;
    }
    kr_value_t *st = kr_value_copy(t->base.a, t->status);
    /* merge patch: a field gone is written null */
    for (size_t i = 0; i < kr_value_len(old); i++)
        if (kr_value_map_get(st, kr_value_map_key(old, i)) == NULL)
            kr_value_map_set(t->base.a, st, kr_value_map_key(old, i), kr_value_null(t->base.a));
    kr_value_t *patch = kr_value_map(t->base.a), *opts = kr_value_map(t->base.a);
    kr_value_map_set(t->base.a, patch, "status", st);
    kr_value_map_set(t->base.a, opts, "patchType", kr_value_str(t->base.a, MERGE));
    kr_request_t req = {.op = "patch",
                        .res = DP_RES,
                        .ns = t->ns,
                        .name = t->name,
                        .sub = "status",
                        .obj = patch,
                        .opts = opts};
    send(t, &req, on_status, op_new(t, NULL));
    if (t->base.pending == 0)
        task_done(t);
}

/* Sends everything planned; the status follows once all are answered. */
static void task_write(dp_task_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        dp_rs_t *rs = &t->rss[i];
        if (rs->create) {
            kr_request_t req = {.op = "create", .res = RS_RES, .ns = t->ns, .obj = rs->obj};
            send(t, &req, on_rs_created, op_new(t, rs));
        } else if (rs->remove) {
            kr_value_t *opts = kr_value_map(t->base.a), *pre = kr_value_map(t->base.a);
            kr_value_map_set(t->base.a, pre, "uid",
                             kr_value_copy(t->base.a, kr_value_get(rs->obj, "metadata.uid")));
            kr_value_map_set(
                t->base.a, pre, "resourceVersion",
                kr_value_copy(t->base.a, kr_value_get(rs->obj, "metadata.resourceVersion")));
            kr_value_map_set(t->base.a, opts, "preconditions", pre);
            kr_request_t req = {
                .op = "delete", .res = RS_RES, .ns = t->ns, .name = rs_name(rs), .opts = opts};
            send(t, &req, on_plain, op_new(t, rs));
        } else if (rs->dirty) {
            kr_request_t req = {
                .op = "update", .res = RS_RES, .ns = t->ns, .name = rs_name(rs), .obj = rs->obj};
            send(t, &req, on_rs_updated, op_new(t, rs));
        }
    }
    if (t->revision != NULL) {
        kr_value_t *patch = kr_value_map(t->base.a), *opts = kr_value_map(t->base.a);
        kr_value_set(t->base.a, patch, "metadata.annotations[\"" DP_REVISION "\"]",
                     kr_value_str(t->base.a, t->revision), NULL);
        kr_value_map_set(t->base.a, opts, "patchType", kr_value_str(t->base.a, MERGE));
        kr_request_t req = {
            .op = "patch", .res = DP_RES, .ns = t->ns, .name = t->name, .obj = patch, .opts = opts};
        send(t, &req, on_plain, op_new(t, NULL));
    }
    after_writes(t);
}

/* ---- the plan ------------------------------------------------------------------ */

typedef struct {
    dpc_t *c;
    dp_task_t *t;
    kr_labelsel_t *sel;
    const char *uid;
    bool deleting;
} claim_ctx_t;

static void push_rs(dp_task_t *t, kr_value_t *obj, bool create)
{
    t->rss = realloc(t->rss, (t->n + 1) * sizeof *t->rss);
    if (t->rss == NULL)
        abort();
    t->rss[t->n++] =
        (dp_rs_t){.obj = obj, .was = create ? 0 : dp_rs_replicas(obj), .create = create};
}

static void send_claim(dp_task_t *t, const char *name, const kr_value_t *patch)
{
    kr_value_t *opts = kr_value_map(t->base.a);
    kr_value_map_set(t->base.a, opts, "patchType", kr_value_str(t->base.a, SMP));
    kr_request_t req = {.op = "patch",
                        .res = RS_RES,
                        .ns = t->ns,
                        .name = kr_arena_strdup(t->base.a, name),
                        .obj = patch,
                        .opts = opts};
    send(t, &req, on_plain, op_new(t, NULL));
}

/* getReplicaSetsForDeployment: ours, matching orphans (adopted), ours
 * that stopped matching (released). */
static bool claim_one(const kr_value_t *rs, void *ud)
{
    claim_ctx_t *cl = ud;
    dp_task_t *t = cl->t;
    const kr_value_t *ref = kr_controller_ref_of(rs);
    bool match = kr_labelsel_match(cl->sel, kr_value_get(rs, "metadata.labels"));
    bool adopt = false, release = false;
    if (ref != NULL) {
        const char *u = kr_value_map_str(ref, "uid");
        if (u == NULL || strcmp(u, cl->uid) != 0)
            return true;
        release = !match && !cl->deleting;
        if (!match)
            goto patch;
    } else {
        if (!match || cl->deleting || kr_value_get(rs, "metadata.deletionTimestamp") != NULL)
            return true;
        adopt = true;
    }
    push_rs(t, kr_value_copy(t->base.a, rs), false);
patch:
    if (adopt) {
        kr_value_t *x = kr_value_map(t->base.a);
        kr_value_map_set(t->base.a, x, "name",
                         kr_value_copy(t->base.a, kr_value_get(rs, "metadata.name")));
        kr_value_map_set(t->base.a, x, "patch", kr_controller_ref_patch(t->base.a, t->d, rs, true));
        if (t->adoptions == NULL)
            t->adoptions = kr_value_array(t->base.a);
        kr_value_array_push(t->base.a, t->adoptions, x);
    } else if (release) {
        send_claim(t, kr_value_as_str(kr_value_get(rs, "metadata.name")),
                   kr_controller_ref_patch(t->base.a, t->d, rs, false));
    }
    return true;
}

/* RecheckDeletionTimestamp (ControllerRefManager's canAdopt): the
 * Deployment read from the API, not the cache, must still be this one and
 * not being deleted before orphans are adopted. */
static void on_rechecked(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    dp_op_t *op = ud;
    if (!op_reply(op, r, "get deployment"))
        return;
    dp_task_t *t = op->t;
    const char *want = kr_value_as_str(kr_value_get(t->d, "metadata.uid"));
    const char *got = r->code == 200 ? kr_value_as_str(kr_value_get(r->obj, "metadata.uid")) : NULL;
    if (got != NULL && want != NULL && strcmp(got, want) == 0 &&
        kr_value_get(r->obj, "metadata.deletionTimestamp") == NULL) {
        for (size_t i = 0; i < kr_value_len(t->adoptions); i++) {
            const kr_value_t *x = kr_value_array_get(t->adoptions, i);
            send_claim(t, kr_value_map_str(x, "name"), kr_value_map_get(x, "patch"));
        }
    } else {
        t->failed = true;
        kr_plugin_log(t->c->ctx, KR_LOG_INFO, "not adopting: the Deployment is gone or deleting",
                      "deployment=\"%s\"", t->base.key);
    }
    after_writes(t);
}

/* oldPodsRunning: old ReplicaSets with pods, or pods of theirs not finished. */
typedef struct {
    const char **uids;
    size_t n;
    bool running;
} old_pods_t;

static bool old_pod_one(const kr_value_t *pod, void *ud)
{
    old_pods_t *o = ud;
    const char *owner = kr_value_map_str(kr_controller_ref_of(pod), "uid");
    if (owner == NULL)
        return true;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->uids[i], owner) == 0) {
            const char *p = kr_value_as_str(kr_value_get(pod, "status.phase"));
            if (p == NULL || (strcmp(p, "Succeeded") != 0 && strcmp(p, "Failed") != 0)) {
                o->running = true;
                return false;
            }
        }
    return true;
}

static bool old_pods_running(dpc_t *c, dp_task_t *t, long new_idx)
{
    old_pods_t o = {0};
    o.uids = kr_arena_alloc(t->base.a, (t->n + 1) * sizeof *o.uids);
    for (size_t i = 0; i < t->n; i++) {
        if ((long)i == new_idx || t->rss[i].create)
            continue;
        if (dp_rs_status(t->rss[i].obj, "replicas") > 0)
            return true;
        o.uids[o.n++] = kr_value_as_str(kr_value_get(t->rss[i].obj, "metadata.uid"));
    }
    if (o.n > 0)
        kr_informer_each(c->pods, t->ns, old_pod_one, &o);
    return o.running;
}

/* scaleReplicaSet: the size and the desired/max-replicas annotations. */
static void plan_scale(dp_task_t *t, dp_rs_t *rs, int64_t to)
{
    int64_t want = dp_replicas(t->d);
    int64_t max = want + dp_max_surge(t->d);
    bool size = dp_rs_replicas(rs->obj) != to;
    if (!size && !dp_replicas_annotations_need_update(rs->obj, want, max))
        return;
    kr_value_set(t->base.a, rs->obj, "spec.replicas", kr_value_int(t->base.a, to), NULL);
    dp_set_replicas_annotations(t->base.a, rs->obj, want, max);
    rs->dirty = true;
}

/* The new ReplicaSet of a Deployment that has none (getNewReplicaSet). */
static dp_rs_t *plan_create(dp_task_t *t, int64_t revision)
{
    kr_arena_t *a = t->base.a;
    const kr_value_t *d = t->d;
    int64_t cc = kr_value_get(d, "status.collisionCount") != NULL
                     ? kr_value_as_int(kr_value_get(d, "status.collisionCount"), 0)
                     : -1;
    char hash[16];
    dp_hash(kr_value_get(d, "spec.template"), cc, hash, sizeof hash);
    kr_value_t *tmpl = kr_value_copy(a, kr_value_get(d, "spec.template"));
    kr_value_set(a, tmpl, "metadata.labels[\"" DP_HASH_LABEL "\"]", kr_value_str(a, hash), NULL);
    kr_value_t *sel = kr_value_copy(a, kr_value_get(d, "spec.selector"));
    kr_value_set(a, sel, "matchLabels[\"" DP_HASH_LABEL "\"]", kr_value_str(a, hash), NULL);
    kr_value_t *rs = kr_value_map(a), *meta = kr_value_map(a), *spec = kr_value_map(a);
    kr_value_map_set(a, rs, "apiVersion", kr_value_str(a, "apps/v1"));
    kr_value_map_set(a, rs, "kind", kr_value_str(a, "ReplicaSet"));
    kr_value_map_set(a, meta, "name", kr_value_str(a, kr_arena_printf(a, "%s-%s", t->name, hash)));
    kr_value_map_set(a, meta, "namespace", kr_value_str(a, t->ns));
    kr_value_map_set(a, meta, "labels", kr_value_copy(a, kr_value_get(tmpl, "metadata.labels")));
    kr_value_t *refs = kr_value_array(a);
    kr_value_array_push(a, refs, kr_controller_ref_new(a, d));
    kr_value_map_set(a, meta, "ownerReferences", refs);
    kr_value_map_set(a, rs, "metadata", meta);
    kr_value_map_set(a, spec, "replicas", kr_value_int(a, 0));
    kr_value_map_set(a, spec, "minReadySeconds",
                     kr_value_int(a, kr_value_as_int(kr_value_get(d, "spec.minReadySeconds"), 0)));
    kr_value_map_set(a, spec, "selector", sel);
    kr_value_map_set(a, spec, "template", tmpl);
    kr_value_map_set(a, rs, "spec", spec);
    push_rs(t, rs, true);
    dp_rs_t *n = &t->rss[t->n - 1];
    kr_value_t **all = kr_arena_alloc(a, t->n * sizeof *all);
    for (size_t i = 0; i < t->n; i++)
        all[i] = t->rss[i].obj;
    kr_value_set(a, rs, "spec.replicas", kr_value_int(a, dp_new_rs_new_replicas(d, all, t->n, rs)),
                 NULL);
    dp_set_new_rs_annotations(a, d, rs, revision, false);
    if (dp_has_progress_deadline(d)) {
        kr_value_t *st = kr_value_map_get(t->d, "status");
        if (kr_value_type(st) != KR_MAP) {
            st = kr_value_map(a);
            kr_value_map_set(a, t->d, "status", st);
        }
        dp_set_condition(a, st, "Progressing", "True", "NewReplicaSetCreated",
                         kr_arena_printf(a, "Created new replica set \"%s\"", rs_name(n)),
                         kr_time_now_ns() / 1000000000);
    }
    return n;
}

/* cleanupDeployment: old ReplicaSets beyond revisionHistoryLimit, oldest
 * revisions first, only those with no pods. */
static void plan_cleanup(dp_task_t *t, long new_idx)
{
    const kr_value_t *lim = kr_value_get(t->d, "spec.revisionHistoryLimit");
    if (kr_value_type(lim) != KR_INT)
        return;
    kr_value_t **old = kr_arena_alloc(t->base.a, (t->n + 1) * sizeof *old);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if ((long)i != new_idx && !t->rss[i].create &&
            kr_value_get(t->rss[i].obj, "metadata.deletionTimestamp") == NULL)
            old[n++] = t->rss[i].obj;
    int64_t diff = (int64_t)n - kr_value_as_int(lim, 10);
    if (diff <= 0)
        return;
    dp_sort_by_revision(old, n);
    for (int64_t i = 0; i < diff; i++) {
        const kr_value_t *rs = old[i];
        if (dp_rs_status(rs, "replicas") != 0 || dp_rs_replicas(rs) != 0 ||
            kr_value_as_int(kr_value_get(rs, "metadata.generation"), 0) >
                dp_rs_status(rs, "observedGeneration"))
            continue;
        for (size_t j = 0; j < t->n; j++)
            if (t->rss[j].obj == rs && !t->rss[j].dirty)
                t->rss[j].remove = true;
    }
}

static kr_value_t **all_objs(dp_task_t *t)
{
    kr_value_t **all = kr_arena_alloc(t->base.a, (t->n + 1) * sizeof *all);
    for (size_t i = 0; i < t->n; i++)
        all[i] = t->rss[i].obj;
    return all;
}

/* syncRolloutStatus (rollout = true) or syncDeploymentStatus. */
static void plan_status(dp_task_t *t, long new_idx, bool rollout)
{
    int64_t now = kr_time_now_ns() / 1000000000;
    kr_value_t **all = all_objs(t);
    const kr_value_t *new_rs = new_idx >= 0 ? t->rss[new_idx].obj : NULL;
    /* a ReplicaSet about to be created has no status yet */
    kr_value_t *st = dp_status(t->base.a, t->d, all, t->n, new_rs, now);
    if (rollout) {
        dp_rollout_conditions(t->base.a, t->d, st, all, t->n, new_rs, now);
        t->recheck_ms = dp_progress_recheck_ms(t->d, st, now);
    }
    t->status = st;
}

/* checkPausedConditions, on the task's copy of the Deployment. */
static void paused_conditions(dp_task_t *t)
{
    if (!dp_has_progress_deadline(t->d))
        return;
    kr_value_t *st = kr_value_map_get(t->d, "status");
    if (kr_value_type(st) != KR_MAP) {
        st = kr_value_map(t->base.a);
        kr_value_map_set(t->base.a, t->d, "status", st);
    }
    const char *r = kr_value_map_str(dp_get_condition(st, "Progressing"), "reason");
    if (r != NULL && strcmp(r, "ProgressDeadlineExceeded") == 0)
        return;
    bool paused = kr_value_as_bool(kr_value_get(t->d, "spec.paused"), false);
    bool exists = r != NULL && strcmp(r, "DeploymentPaused") == 0;
    int64_t now = kr_time_now_ns() / 1000000000;
    if (paused && !exists)
        dp_set_condition(t->base.a, st, "Progressing", "Unknown", "DeploymentPaused",
                         "Deployment is paused", now);
    else if (!paused && exists)
        dp_set_condition(t->base.a, st, "Progressing", "Unknown", "DeploymentResumed",
                         "Deployment is resumed", now);
}

static void plan(dpc_t *c, dp_task_t *t)
{
    const kr_value_t *d = t->d;
    bool deleting = kr_value_get(d, "metadata.deletionTimestamp") != NULL;
    long new_idx = -1;
    kr_value_t **all = all_objs(t);
    new_idx = dp_find_new(d, all, t->n);
    if (deleting) {
        plan_status(t, new_idx, false);
        return;
    }
    paused_conditions(t);
    int64_t max_old = 0;
    for (size_t i = 0; i < t->n; i++)
        if ((long)i != new_idx && dp_revision(t->rss[i].obj) > max_old)
            max_old = dp_revision(t->rss[i].obj);
    int64_t new_revision = max_old + 1;
    int64_t now = kr_time_now_ns() / 1000000000;

    /* getNewReplicaSet for an existing new ReplicaSet: its annotations and
     * minReadySeconds, then the Deployment's revision */
    if (new_idx >= 0) {
        dp_rs_t *n = &t->rss[new_idx];
        bool changed = dp_set_new_rs_annotations(t->base.a, d, n->obj, new_revision, true);
        int64_t mrs = kr_value_as_int(kr_value_get(d, "spec.minReadySeconds"), 0);
        if (kr_value_as_int(kr_value_get(n->obj, "spec.minReadySeconds"), 0) != mrs) {
            kr_value_set(t->base.a, n->obj, "spec.minReadySeconds", kr_value_int(t->base.a, mrs),
                         NULL);
            changed = true;
        }
        if (changed) {
            n->dirty = true;
        } else {
            const char *rev =
                kr_value_map_str(kr_value_get(n->obj, "metadata.annotations"), DP_REVISION);
            const char *drev =
                kr_value_map_str(kr_value_get(d, "metadata.annotations"), DP_REVISION);
            if (rev != NULL && (drev == NULL || strcmp(rev, drev) != 0))
                t->revision = kr_arena_strdup(t->base.a, rev);
            kr_value_t *st = kr_value_map_get(t->d, "status");
            if (dp_has_progress_deadline(d) && dp_get_condition(st, "Progressing") == NULL) {
                if (kr_value_type(st) != KR_MAP) {
                    st = kr_value_map(t->base.a);
                    kr_value_map_set(t->base.a, t->d, "status", st);
                }
                dp_set_condition(
                    t->base.a, st, "Progressing", "True", "FoundNewReplicaSet",
                    kr_arena_printf(t->base.a, "Found new replica set \"%s\"", rs_name(n)), now);
            }
        }
    }

    /* isScalingEvent: an active ReplicaSet sized for another replicas */
    bool scaling = false;
    for (size_t i = 0; i < t->n; i++) {
        int64_t want = dp_int_annotation(t->rss[i].obj, DP_DESIRED_REPLICAS);
        if (dp_rs_replicas(t->rss[i].obj) > 0 && want >= 0 && want != dp_replicas(d))
            scaling = true;
    }
    bool paused = kr_value_as_bool(kr_value_get(d, "spec.paused"), false);
    if (paused || scaling) {
        int64_t *sizes = kr_arena_alloc(t->base.a, (t->n + 1) * sizeof *sizes);
        all = all_objs(t);
        if (dp_proportional_sizes(d, all, t->n, new_idx >= 0 ? all[new_idx] : NULL, sizes))
            for (size_t i = 0; i < t->n; i++)
                plan_scale(t, &t->rss[i], sizes[i]);
        if (paused)
            plan_cleanup(t, new_idx);
        plan_status(t, new_idx, false);
        return;
    }

    bool rolling = dp_is_rolling(d);
    if (!rolling) {
        /* rolloutRecreate */
        bool scaled = false;
        for (size_t i = 0; i < t->n; i++)
            if ((long)i != new_idx && dp_rs_replicas(t->rss[i].obj) > 0) {
                plan_scale(t, &t->rss[i], 0);
                scaled = true;
            }
        if (scaled || old_pods_running(c, t, new_idx)) {
            plan_status(t, new_idx, true);
            return;
        }
        if (new_idx < 0) {
            plan_create(t, new_revision);
            new_idx = (long)t->n - 1;
            t->revision = kr_arena_printf(t->base.a, "%" PRId64, new_revision);
        } else if (dp_rs_replicas(t->rss[new_idx].obj) != dp_replicas(d)) {
            plan_scale(t, &t->rss[new_idx], dp_replicas(d));
        }
    } else {
        /* rolloutRolling */
        bool created = false;
        if (new_idx < 0) {
            plan_create(t, new_revision);
            new_idx = (long)t->n - 1;
            created = true;
            t->revision = kr_arena_printf(t->base.a, "%" PRId64, new_revision);
        }
        dp_rs_t *n = &t->rss[new_idx];
        int64_t want = dp_replicas(d);
        bool scaled_up = false;
        if (!created && dp_rs_replicas(n->obj) != want) {
            int64_t to = want;
            if (dp_rs_replicas(n->obj) < want) {
                all = all_objs(t);
                to = dp_new_rs_new_replicas(d, all, t->n, n->obj);
            }
            scaled_up = to != dp_rs_replicas(n->obj);
            plan_scale(t, n, to);
        }
        if (scaled_up) {
            plan_status(t, new_idx, true);
            return;
        }
        /* reconcileOldReplicaSets */
        kr_value_t **old = kr_arena_alloc(t->base.a, (t->n + 1) * sizeof *old);
        size_t nold = 0;
        for (size_t i = 0; i < t->n; i++)
            if ((long)i != new_idx && dp_rs_replicas(t->rss[i].obj) > 0)
                old[nold++] = t->rss[i].obj;
        int64_t *sizes = kr_arena_alloc(t->base.a, (nold + 1) * sizeof *sizes);
        if (dp_rolling_old_sizes(d, old, nold, n->obj, sizes) > 0) {
            for (size_t i = 0; i < nold; i++)
                for (size_t j = 0; j < t->n; j++)
                    if (t->rss[j].obj == old[i])
                        plan_scale(t, &t->rss[j], sizes[i]);
            plan_status(t, new_idx, true);
            return;
        }
    }
    if (dp_complete(d, kr_value_map_get(d, "status")))
        plan_cleanup(t, new_idx);
    plan_status(t, new_idx, true);
}

static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    dpc_t *c = ud;
    if (!kr_informer_has_synced(c->dpi) || !kr_informer_has_synced(c->rsi) ||
        !kr_informer_has_synced(c->pods)) {
        kr_workqueue_add_after(q, key, DP_WAIT_SYNC, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    c->syncs++;
    const kr_value_t *d = kr_informer_get_key(c->dpi, key);
    if (d == NULL) {
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    dp_task_t *t = kr_synctask_new(&c->tasks, sizeof *t, key);
    t->c = c;
    t->d = kr_synctask_object(&t->base, d, "apps/v1", "Deployment");
    t->ns = ns_of(t->d);
    t->name = kr_value_as_str(kr_value_get(t->d, "metadata.name"));

    kr_error_t err;
    claim_ctx_t cl = {.c = c, .t = t};
    cl.sel = kr_labelsel_from_object(kr_value_get(d, "spec.selector"), &err);
    if (cl.sel == NULL || kr_labelsel_empty(cl.sel)) {
        if (cl.sel != NULL)
            kr_events_record(c->ev, t->d, KR_EVENT_WARNING, "SelectingAll",
                             "This deployment is selecting all pods. A non-empty selector is "
                             "required.");
        kr_labelsel_destroy(&cl.sel);
        int64_t gen = kr_value_as_int(kr_value_get(d, "metadata.generation"), 0);
        if (kr_value_as_int(kr_value_get(d, "status.observedGeneration"), 0) < gen) {
            t->status = kr_value_copy(t->base.a, kr_value_get(d, "status"));
            if (kr_value_type(t->status) != KR_MAP)
                t->status = kr_value_map(t->base.a);
            kr_value_map_set(t->base.a, t->status, "observedGeneration",
                             kr_value_int(t->base.a, gen));
        }
        after_writes(t);
        return;
    }
    cl.uid = kr_value_as_str(kr_value_get(d, "metadata.uid"));
    if (cl.uid == NULL)
        cl.uid = "";
    cl.deleting = kr_value_get(d, "metadata.deletionTimestamp") != NULL;
    kr_informer_each(c->rsi, t->ns, claim_one, &cl);
    kr_labelsel_destroy(&cl.sel);
    if (t->adoptions != NULL) {
        kr_request_t req = {.op = "get", .res = DP_RES, .ns = t->ns, .name = t->name};
        send(t, &req, on_rechecked, op_new(t, NULL));
    }
    plan(c, t);
    task_write(t);
}

/* ---- stats op ------------------------------------------------------------------ */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    dpc_t *c = ud;
    const kr_stat_t n[] = {{"deployments", kr_informer_len(c->dpi)},
                           {"replicasets", kr_informer_len(c->rsi)},
                           {"syncs", c->syncs},
                           {"rs_creates", c->rs_creates},
                           {"rs_updates", c->rs_updates},
                           {"rs_deletes", c->rs_deletes},
                           {"status_writes", c->status_writes},
                           {"conflicts", c->conflicts},
                           {"failures", c->failures}};
    kr_stats_reply(call, n, sizeof n / sizeof n[0]);
}

/* ---- life cycle ---------------------------------------------------------------- */

static void dp_fini(void *instance)
{
    dpc_t *c = instance;
    if (c->q != NULL)
        kr_workqueue_shutdown(c->q);
    kr_informer_destroy(&c->dpi);
    kr_informer_destroy(&c->rsi);
    kr_informer_destroy(&c->pods);
    kr_synctasks_detach(&c->tasks);
    kr_workqueue_destroy(&c->q);
    kr_events_destroy(&c->ev);
    free(c);
}

static void *dp_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct dp_conf *conf = config;
    if (kr_config_check_int("workers", conf->workers, 1, 256, err) < 0)
        return NULL;
    dpc_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->conf = *conf;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    c->tasks = (kr_synctasks_t){.bus = c->bus,
                                .ctx = ctx,
                                .label = "deployment",
                                .timeout_ms = DP_TIMEOUT_MS,
                                .arena_size = 16384,
                                .on_free = task_free};
    /* the queue's default rate limiter is DefaultControllerRateLimiter's:
     * 5 ms doubling per key up to 1000 s, and 10 qps / 100 burst overall */
    kr_workqueue_opts_t qo = {.name = kr_plugin_name(ctx),
                              .max_in_flight = (unsigned)conf->workers};
    kr_informer_opts_t dopt = {
        .res = DP_RES,
        .resync_ms = (uint64_t)conf->resync_ms,
        .name = "deployment-deployments",
        .handlers = {on_d_add, on_d_update, NULL, c},
    };
    kr_informer_opts_t ropt = {
        .res = RS_RES,
        .name = "deployment-replicasets",
        .handlers = {on_rs_add, on_rs_update, on_rs_add, c},
    };
    kr_informer_opts_t popt = {
        .res = POD_RES,
        .name = "deployment-pods",
        .page_size = 1000,
        .handlers = {NULL, on_pod_update, on_pod_delete, c},
    };
    if ((c->ev = kr_events_new(c->bus, &(kr_events_opts_t){.component = "deployment-controller"},
                               err)) == NULL ||
        (c->q = kr_workqueue_new(c->loop, &qo, sync_key, c, err)) == NULL ||
        (c->dpi = kr_informer_new(c->loop, c->bus, &dopt, err)) == NULL ||
        (c->rsi = kr_informer_new(c->loop, c->bus, &ropt, err)) == NULL ||
        (c->pods = kr_informer_new(c->loop, c->bus, &popt, err)) == NULL ||
        kr_informer_set_transform(c->pods, pod_transform, NULL, err) < 0 ||
        kr_informer_start(c->dpi, err) < 0 || kr_informer_start(c->rsi, err) < 0 ||
        kr_informer_start(c->pods, err) < 0 ||
        kr_bus_serve(c->bus, "controller.deployment.stats", NULL, on_stats, c, 5000, err) < 0) {
        dp_fini(c);
        return NULL;
    }
    c->tasks.q = c->q;
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "deployment",
    .version = "0.1.0",
    .description = "rolls Deployments out through ReplicaSets (upstream's DeploymentController)",
    .config = dp_table,
    .config_size = sizeof(struct dp_conf),
    .init = dp_init,
    .fini = dp_fini,
};
