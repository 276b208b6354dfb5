/* controller-replicaset: keeps spec.replicas pods for every ReplicaSet,
 * after upstream's pkg/controller/replicaset/replica_set.go.
 *
 * - Two informers (replicasets, pods) feed one queue of ReplicaSet keys.
 *   Pod events find their ReplicaSet by the controller reference (and count
 *   the creations and deletions the ReplicaSet's expectations wait for), an
 *   orphan pod queues every ReplicaSet whose selector matches it.
 * - A sync reads both caches: the active pods of the namespace that the
 *   ReplicaSet controls and that match its selector are its pods; matching
 *   orphans are adopted and controlled pods that stopped matching are
 *   released (strategic merge patches of ownerReferences carrying the pod's
 *   uid, as ControllerRefManager writes them).  An adopted pod counts as the
 *   ReplicaSet's at once: a failed adoption makes the sync create fewer pods,
 *   never more.
 * - Only when its expectations are satisfied does a sync create (slow-start
 *   batches of 1, 2, 4, ... at most burst_replicas per sync) or delete (the
 *   pods ranked by rs_pods_to_delete); each write is counted in the
 *   expectations before it is sent, so a cache that lags never makes a
 *   second sync act on the same difference.
 * - Then the status (counts, observedGeneration, the ReplicaFailure
 *   condition of a failed create or delete) goes through
 *   replicasets/status when it changed; a ReplicaSet with ready pods not yet
 *   available for minReadySeconds is synced again when the first of them
 *   becomes available.
 *
 * A key stays in flight (the queue never hands it out twice) until every
 * request of its sync has been answered. */
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

#include "rs_pods.h"

#define RS_RES         "apps/v1/replicasets"
#define POD_RES        "v1/pods"
#define RS_TIMEOUT_MS  10000
#define RS_WAIT_SYNCED 100
#define SMP            "application/strategic-merge-patch+json"

struct rs_conf {
    int64_t workers;
    int64_t burst;
    int64_t resync_ms;
};

static const kr_config_entry_t rs_table[] = {
    {KR_CFG_INT, "workers", "5", offsetof(struct rs_conf, workers),
     "ReplicaSets synced at once (--concurrent-replicaset-syncs)"},
    {KR_CFG_INT, "burst_replicas", "500", offsetof(struct rs_conf, burst),
     "most pods one sync creates or deletes"},
    {KR_CFG_DURATION, "resync", "0s", offsetof(struct rs_conf, resync_ms),
     "how often every ReplicaSet is synced again (0: only on changes)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct rsc rsc_t;

/* The writes of one sync (kraal/synctask.h: fini detaches a task, its
 * last reply frees it). */
typedef struct rs_task {
    kr_synctask_t base;
    rsc_t *c;
    kr_value_t *rs; /* the ReplicaSet at sync time, apiVersion and kind set */
    const char *ns, *name;
    kr_value_t *pod; /* what to create */
    int64_t to_create, batch, batch_left;
    bool claim_failed;
    const kr_value_t **adopt; /* orphans to adopt once the ReplicaSet is rechecked */
    size_t nadopt;
    const char *manage_err; /* the first create or delete error */
    bool creating;
    bool status_write;
    rs_counts_t counts;
} rs_task_t;

/* One request of a task. */
typedef struct rs_op {
    rs_task_t *t;
    const char *pod, *uid; /* delete */
} rs_op_t;

struct rsc {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct rs_conf conf;
    kr_informer_t *rsi, *pods;
    kr_workqueue_t *q;
    kr_expectations_t *exp;
    kr_events_t *ev;
    kr_synctasks_t tasks;
    uint64_t syncs, creates, deletes, adopts, releases, status_writes, failures;
};

static void task_create_batch(rs_task_t *t);
static void task_finish(rs_task_t *t);

/* ---- keys and owners ---------------------------------------------------------- */

static void enqueue(rsc_t *c, const kr_value_t *rs)
{
    char key[600];
    if (kr_informer_key(rs, key, sizeof key) > 0)
        kr_workqueue_add(c->q, key, NULL);
}

/* The ReplicaSet a controller reference names, when cached with that uid. */
static const kr_value_t *resolve_ref(rsc_t *c, const char *ns, const kr_value_t *ref)
{
    return kr_controller_ref_resolve(c->rsi, ns, ref, "ReplicaSet", "apps/");
}

typedef struct {
    rsc_t *c;
    const kr_value_t *labels;
} match_ctx_t;

static bool enqueue_if_matches(const kr_value_t *rs, void *ud)
{
    match_ctx_t *m = ud;
    kr_labelsel_t *sel = kr_labelsel_from_object(kr_value_get(rs, "spec.selector"), NULL);
    if (sel != NULL && !kr_labelsel_empty(sel) && kr_labelsel_match(sel, m->labels))
        enqueue(m->c, rs);
    kr_labelsel_destroy(&sel);
    return true;
}

/* getPodReplicaSets: an orphan queues every ReplicaSet that could adopt it. */
static void enqueue_matching(rsc_t *c, const kr_value_t *pod)
{
    match_ctx_t m = {c, kr_value_get(pod, "metadata.labels")};
    kr_informer_each(c->rsi, kr_value_as_str(kr_value_get(pod, "metadata.namespace")),
                     enqueue_if_matches, &m);
}

static const char *ns_of(const kr_value_t *obj)
{
    const char *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    return ns != NULL ? ns : "";
}

/* ---- pod events --------------------------------------------------------------- */

static void pod_deleted(rsc_t *c, const kr_value_t *pod)
{
    const kr_value_t *rs = resolve_ref(c, ns_of(pod), kr_controller_ref_of(pod));
    if (rs == NULL)
        return;
    char key[600];
    if (kr_informer_key(rs, key, sizeof key) <= 0)
        return;
    kr_expectations_deletion_observed(c->exp, key,
                                      kr_value_as_str(kr_value_get(pod, "metadata.uid")));
    kr_workqueue_add(c->q, key, NULL);
}

static void on_pod_add(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    rsc_t *c = ud;
    if (kr_value_get(pod, "metadata.deletionTimestamp") != NULL) {
        /* a restarted controller sees a pod being deleted as an add */
        pod_deleted(c, pod);
        return;
    }
    const kr_value_t *ref = kr_controller_ref_of(pod);
    if (ref != NULL) {
        const kr_value_t *rs = resolve_ref(c, ns_of(pod), ref);
        char key[600];
        if (rs != NULL && kr_informer_key(rs, key, sizeof key) > 0) {
            kr_expectations_creation_observed(c->exp, key);
            kr_workqueue_add(c->q, key, NULL);
        }
        return;
    }
    enqueue_matching(c, pod);
}

static bool same_ref(const kr_value_t *a, const kr_value_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    const char *ua = kr_value_map_str(a, "uid"), *ub = kr_value_map_str(b, "uid");
    return ua != NULL && ub != NULL && strcmp(ua, ub) == 0;
}

static void on_pod_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    (void)inf;
    rsc_t *c = ud;
    if (old == cur)
        return; /* a resync: the ReplicaSets' own resync covers it */
    bool labels_changed =
        !kr_value_equal(kr_value_get(old, "metadata.labels"), kr_value_get(cur, "metadata.labels"));
    if (kr_value_get(cur, "metadata.deletionTimestamp") != NULL) {
        /* a graceful delete: counts as the deletion the expectations wait for */
        pod_deleted(c, cur);
        if (labels_changed)
            pod_deleted(c, old);
        return;
    }
    const kr_value_t *cref = kr_controller_ref_of(cur), *oref = kr_controller_ref_of(old);
    bool ref_changed = !same_ref(cref, oref);
    if (ref_changed && oref != NULL) {
        const kr_value_t *ors = resolve_ref(c, ns_of(old), oref);
        if (ors != NULL)
            enqueue(c, ors);
    }
    if (cref != NULL) {
        const kr_value_t *rs = resolve_ref(c, ns_of(cur), cref);
        if (rs == NULL)
            return;
        enqueue(c, rs);
        int64_t mrs = kr_value_as_int(kr_value_get(rs, "spec.minReadySeconds"), 0);
        if (mrs > 0 && !kr_pod_is_ready(old) && kr_pod_is_ready(cur)) {
            char key[600];
            if (kr_informer_key(rs, key, sizeof key) > 0)
                kr_workqueue_add_after(c->q, key, (uint64_t)mrs * 1000, NULL);
        }
        return;
    }
    if (labels_changed || ref_changed)
        enqueue_matching(c, cur);
}

static void on_pod_delete(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    pod_deleted(ud, pod);
}

/* What the pod cache keeps: the fields the sync, the ranking and the
 * handlers read (a pod's spec and most of its status are never read). */
static const kr_value_t *pod_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const meta_keys[] = {"name",
                                            "namespace",
                                            "uid",
                                            "resourceVersion",
                                            "labels",
                                            "ownerReferences",
                                            "deletionTimestamp",
                                            "creationTimestamp"};
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a);
    for (size_t i = 0; i < sizeof meta_keys / sizeof meta_keys[0]; i++) {
        kr_value_t *v = kr_value_map_get(meta, meta_keys[i]);
        if (v != NULL)
            kr_value_map_set(a, m, meta_keys[i], v);
    }
    kr_value_t *cost = kr_value_get(meta, "annotations[\"" RS_DELETION_COST "\"]");
    if (cost != NULL) {
        kr_value_t *ann = kr_value_map(a);
        kr_value_map_set(a, ann, RS_DELETION_COST, cost);
        kr_value_map_set(a, m, "annotations", ann);
    }
    kr_value_map_set(a, out, "metadata", m);
    kr_value_t *node = kr_value_get(obj, "spec.nodeName");
    if (node != NULL) {
        kr_value_t *spec = kr_value_map(a);
        kr_value_map_set(a, spec, "nodeName", node);
        kr_value_map_set(a, out, "spec", spec);
    }
    const kr_value_t *st = kr_value_map_get(obj, "status");
    kr_value_t *s = kr_value_map(a);
    static const char *const status_keys[] = {"phase", "conditions"};
    for (size_t i = 0; i < 2; i++) {
        kr_value_t *v = kr_value_map_get(st, status_keys[i]);
        if (v != NULL)
            kr_value_map_set(a, s, status_keys[i], v);
    }
    const kr_value_t *cs = kr_value_map_get(st, "containerStatuses");
    if (kr_value_len(cs) > 0) {
        kr_value_t *arr = kr_value_array(a);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            kr_value_t *e = kr_value_map(a);
            kr_value_map_set(
                a, e, "restartCount",
                kr_value_int(a, kr_value_map_int(kr_value_array_get(cs, i), "restartCount", 0)));
            kr_value_array_push(a, arr, e);
        }
        kr_value_map_set(a, s, "containerStatuses", arr);
    }
    kr_value_map_set(a, out, "status", s);
    return out;
}

/* ---- ReplicaSet events -------------------------------------------------------- */

static void on_rs_add(kr_informer_t *inf, const kr_value_t *rs, void *ud)
{
    (void)inf;
    enqueue(ud, rs);
}

static void on_rs_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur, void *ud)
{
    (void)inf;
    (void)old;
    enqueue(ud, cur);
}

/* ---- tasks -------------------------------------------------------------------- */

static rs_task_t *task_new(rsc_t *c, const char *key, const kr_value_t *rs)
{
    rs_task_t *t = kr_synctask_new(&c->tasks, sizeof *t, key);
    t->c = c;
    t->rs = kr_synctask_object(&t->base, rs, "apps/v1", "ReplicaSet");
    t->ns = kr_value_as_str(kr_value_get(t->rs, "metadata.namespace"));
    t->name = kr_value_as_str(kr_value_get(t->rs, "metadata.name"));
    return t;
}

/* Ends the key's processing: back in the queue with a back-off after a
 * failure, again after `after_ms` when something waits for time. */
static void task_done(rs_task_t *t, bool failed, uint64_t after_ms)
{
    kr_synctask_done(&t->base, failed ? KR_SYNCTASK_FAILED : KR_SYNCTASK_OK, after_ms);
}

static bool task_send(rs_task_t *t, const kr_request_t *req, kr_reply_fn fn, rs_op_t *op)
{
    return kr_synctask_send(&t->base, req, fn, op, NULL) == 0;
}

static rs_op_t *op_new(rs_task_t *t)
{
    rs_op_t *op = kr_arena_alloc(t->base.a, sizeof *op);
    memset(op, 0, sizeof *op);
    op->t = t;
    return op;
}

/* A reply came: the task ends once nothing is pending and no batch is left. */
static bool op_reply(rs_op_t *op)
{
    return kr_synctask_reply(&op->t->base);
}

static void maybe_finish(rs_task_t *t)
{
    if (t->base.pending > 0)
        return;
    if (t->to_create > 0 && t->manage_err == NULL) {
        task_create_batch(t);
        if (t->base.pending > 0)
            return;
    }
    task_finish(t);
}

static void on_created(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    rs_op_t *op = ud;
    if (!op_reply(op))
        return;
    rs_task_t *t = op->t;
    rsc_t *c = t->c;
    if (r->code == 201 || r->code == 200) {
        c->creates++;
        kr_events_record(c->ev, t->rs, KR_EVENT_NORMAL, "SuccessfulCreate", "Created pod: %s",
                         kr_value_as_str(kr_value_get(r->obj, "metadata.name")));
    } else if (r->code == 504) {
        /* the pod may exist: its creation will be seen, or the
         * expectations expire */
    } else {
        c->failures++;
        const char *msg = kr_reply_msg(r);
        kr_events_record(c->ev, t->rs, KR_EVENT_WARNING, "FailedCreate", "Error creating: %s", msg);
        kr_expectations_creation_observed(c->exp, t->base.key);
        if (t->manage_err == NULL)
            t->manage_err = kr_arena_strdup(t->base.a, msg);
        kr_plugin_log(c->ctx, KR_LOG_INFO, msg, "replicaset=\"%s\" op=create code=%d", t->base.key,
                      r->code);
    }
    if (t->base.pending > 0)
        return;
    if (t->manage_err != NULL) {
        /* the rest of the slow start is skipped: not expected any more */
        for (int64_t i = 0; i < t->to_create; i++)
            kr_expectations_creation_observed(c->exp, t->base.key);
        t->to_create = 0;
    }
    maybe_finish(t);
}

/* slowStartBatch: the next batch, 1, 2, 4, ... pods sent at once. */
static void task_create_batch(rs_task_t *t)
{
    t->batch = rs_slow_start_next(t->batch, t->to_create);
    int64_t n = t->batch;
    for (int64_t i = 0; i < n; i++) {
        rs_op_t *op = op_new(t);
        kr_request_t req = {.op = "create", .res = POD_RES, .ns = t->ns, .obj = t->pod};
        t->to_create--;
        if (!task_send(t, &req, on_created, op)) {
            kr_expectations_creation_observed(t->c->exp, t->base.key);
            if (t->manage_err == NULL)
                t->manage_err = "the bus refused the request";
        }
    }
}

static void on_deleted(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    rs_op_t *op = ud;
    if (!op_reply(op))
        return;
    rs_task_t *t = op->t;
    rsc_t *c = t->c;
    if (r->code == 200) {
        c->deletes++;
        kr_events_record(c->ev, t->rs, KR_EVENT_NORMAL, "SuccessfulDelete", "Deleted pod: %s",
                         op->pod);
    } else {
        /* the informer will not see this deletion */
        kr_expectations_deletion_observed(c->exp, t->base.key, op->uid);
        if (r->code != 404) {
            c->failures++;
            const char *msg = kr_reply_msg(r);
            kr_events_record(c->ev, t->rs, KR_EVENT_WARNING, "FailedDelete", "Error deleting: %s",
                             msg);
            if (t->manage_err == NULL)
                t->manage_err = kr_arena_strdup(t->base.a, msg);
        }
    }
    maybe_finish(t);
}

static void on_patched(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    rs_op_t *op = ud;
    if (!op_reply(op))
        return;
    rs_task_t *t = op->t;
    if (r->code != 200 && r->code != 404) {
        /* another controller took it first, or the pod changed: next sync */
        t->claim_failed = true;
        kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r),
                      "replicaset=\"%s\" pod=\"%s\" op=claim code=%d", t->base.key, op->pod,
                      r->code);
    }
    maybe_finish(t);
}

static void on_status(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    rs_op_t *op = ud;
    if (!op_reply(op))
        return;
    rs_task_t *t = op->t;
    bool failed = t->manage_err != NULL || t->claim_failed;
    if (r->code != 200 && r->code != 404) {
        failed = true;
        if (r->code != 409)
            kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r),
                          "replicaset=\"%s\" op=status code=%d", t->base.key, r->code);
    } else {
        t->c->status_writes++;
    }
    task_done(t, failed, (uint64_t)t->counts.next_available_s * 1000);
}

/* The status write, if the status changed, then the end of the key. */
static void task_finish(rs_task_t *t)
{
    rsc_t *c = t->c;
    const kr_value_t *cur = kr_informer_get(c->rsi, t->ns, t->name);
    const char *uid = kr_value_as_str(kr_value_get(t->rs, "metadata.uid"));
    const char *cuid = kr_value_as_str(kr_value_get(cur, "metadata.uid"));
    bool failed = t->manage_err != NULL || t->claim_failed;
    if (cur == NULL || uid == NULL || cuid == NULL || strcmp(uid, cuid) != 0) {
        task_done(t, failed, 0);
        return;
    }
    int64_t now = kr_time_now_ns() / 1000000000;
    const kr_value_t *old_status = kr_value_map_get(cur, "status");
    kr_value_t *st = rs_status_new(t->base.a, old_status, &t->counts,
                                   kr_value_as_int(kr_value_get(t->rs, "metadata.generation"), 0),
                                   t->manage_err, t->creating, now);
    if (!rs_status_changed(old_status, st)) {
        task_done(t, failed, (uint64_t)t->counts.next_available_s * 1000);
        return;
    }
    kr_value_t *obj = kr_value_copy(t->base.a, cur);
    kr_value_map_set(t->base.a, obj, "status", st);
    rs_op_t *op = op_new(t);
    kr_request_t req = {
        .op = "update", .res = RS_RES, .ns = t->ns, .name = t->name, .sub = "status", .obj = obj};
    if (!task_send(t, &req, on_status, op))
        task_done(t, true, 0);
}

/* ---- sync ----------------------------------------------------------------------- */

typedef struct {
    const char *uid;
    kr_labelsel_t *sel;
    bool deleting;
    const kr_value_t **mine;
    size_t nmine, cap;
    const kr_value_t **adopt, **release;
    size_t nadopt, nrelease, cap_adopt, cap_release;
} claim_t;

static void push(const kr_value_t ***arr, size_t *n, size_t *cap, const kr_value_t *v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *arr = realloc(*arr, *cap * sizeof **arr);
        if (*arr == NULL)
            abort();
    }
    (*arr)[(*n)++] = v;
}

/* claimPods over the active pods of the namespace. */
static bool claim_one(const kr_value_t *pod, void *ud)
{
    claim_t *cl = ud;
    if (!kr_pod_is_active(pod))
        return true;
    const kr_value_t *ref = kr_controller_ref_of(pod);
    bool match = kr_labelsel_match(cl->sel, kr_value_get(pod, "metadata.labels"));
    if (ref != NULL) {
        const char *ruid = kr_value_map_str(ref, "uid");
        if (ruid == NULL || strcmp(ruid, cl->uid) != 0)
            return true;
        if (match)
            push(&cl->mine, &cl->nmine, &cl->cap, pod);
        else if (!cl->deleting)
            push(&cl->release, &cl->nrelease, &cl->cap_release, pod);
        return true;
    }
    if (match && !cl->deleting) {
        push(&cl->adopt, &cl->nadopt, &cl->cap_adopt, pod);
        push(&cl->mine, &cl->nmine, &cl->cap, pod);
    }
    return true;
}

typedef struct {
    const char *owner_uid; /* the ReplicaSet's controller */
    const char **uids;     /* ReplicaSets of the family */
    size_t n, cap;
    const kr_value_t **pods;
    size_t npods, cap_pods;
} related_t;

static void push_uid(related_t *r, const char *uid)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->uids = realloc(r->uids, r->cap * sizeof *r->uids);
        if (r->uids == NULL)
            abort();
    }
    r->uids[r->n++] = uid;
}

static bool family_one(const kr_value_t *rs, void *ud)
{
    related_t *r = ud;
    const char *o = kr_value_map_str(kr_controller_ref_of(rs), "uid");
    const char *uid = kr_value_as_str(kr_value_get(rs, "metadata.uid"));
    if (o != NULL && uid != NULL && strcmp(o, r->owner_uid) == 0)
        push_uid(r, uid);
    return true;
}

static bool related_one(const kr_value_t *pod, void *ud)
{
    related_t *r = ud;
    const char *ruid = kr_value_map_str(kr_controller_ref_of(pod), "uid");
    if (ruid == NULL)
        return true;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->uids[i], ruid) == 0) {
            push(&r->pods, &r->npods, &r->cap_pods, pod);
            break;
        }
    return true;
}

/* getIndirectlyRelatedPods: the pods of every ReplicaSet with the same
 * controller (a Deployment's old and new ReplicaSets), or this one's. */
static void related_pods(rsc_t *c, const kr_value_t *rs, const char *ns, related_t *r)
{
    r->owner_uid = kr_value_map_str(kr_controller_ref_of(rs), "uid");
    if (r->owner_uid != NULL)
        kr_informer_each(c->rsi, ns, family_one, r);
    if (r->n == 0)
        push_uid(r, kr_value_as_str(kr_value_get(rs, "metadata.uid")));
    kr_informer_each(c->pods, ns, related_one, r);
}

static void send_claims(rs_task_t *t, const kr_value_t *const *pods, size_t n, bool adopt)
{
    rsc_t *c = t->c;
    kr_value_t *opts = kr_value_map(t->base.a);
    kr_value_map_set(t->base.a, opts, "patchType", kr_value_str(t->base.a, SMP));
    for (size_t i = 0; i < n; i++) {
        rs_op_t *op = op_new(t);
        op->pod =
            kr_arena_strdup(t->base.a, kr_value_as_str(kr_value_get(pods[i], "metadata.name")));
        kr_request_t req = {.op = "patch",
                            .res = POD_RES,
                            .ns = t->ns,
                            .name = op->pod,
                            .obj = kr_controller_ref_patch(t->base.a, t->rs, pods[i], adopt),
                            .opts = opts};
        if (task_send(t, &req, on_patched, op)) {
            if (adopt)
                c->adopts++;
            else
                c->releases++;
        } else {
            t->claim_failed = true;
        }
    }
}

/* RecheckDeletionTimestamp (ControllerRefManager's canAdopt): the
 * ReplicaSet read from the API, not the cache, must still be this one and
 * not being deleted before orphans are adopted. */
static void on_rechecked(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    rs_op_t *op = ud;
    if (!op_reply(op))
        return;
    rs_task_t *t = op->t;
    const char *want = kr_value_as_str(kr_value_get(t->rs, "metadata.uid"));
    const char *got = r->code == 200 ? kr_value_as_str(kr_value_get(r->obj, "metadata.uid")) : NULL;
    if (got != NULL && want != NULL && strcmp(got, want) == 0 &&
        kr_value_get(r->obj, "metadata.deletionTimestamp") == NULL) {
        send_claims(t, t->adopt, t->nadopt, true);
    } else {
        t->claim_failed = true;
        const char *msg =
            got == NULL || strcmp(got, want ? want : "") != 0
                ? kr_arena_printf(t->base.a,
                                  "original ReplicaSet %s is gone: got uid %s, wanted %s",
                                  t->base.key, got ? got : "(none)", want ? want : "")
                : kr_arena_printf(
                      t->base.a, "ReplicaSet %s has just been deleted at %s", t->base.key,
                      kr_value_as_str(kr_value_get(r->obj, "metadata.deletionTimestamp")));
        kr_plugin_log(t->c->ctx, KR_LOG_INFO, msg, "replicaset=\"%s\" op=adopt", t->base.key);
    }
    maybe_finish(t);
}

static void send_adoptions(rs_task_t *t, const kr_value_t *const *pods, size_t n)
{
    if (n == 0)
        return;
    t->adopt = kr_arena_alloc(t->base.a, n * sizeof *t->adopt);
    for (size_t i = 0; i < n; i++)
        t->adopt[i] = kr_value_copy(t->base.a, pods[i]);
    t->nadopt = n;
    kr_request_t req = {.op = "get", .res = RS_RES, .ns = t->ns, .name = t->name};
    if (!task_send(t, &req, on_rechecked, op_new(t)))
        t->claim_failed = true;
}

static void send_deletes(rs_task_t *t, const kr_value_t **pods, size_t n)
{
    rsc_t *c = t->c;
    const char **uids = kr_arena_alloc(t->base.a, (n ? n : 1) * sizeof *uids);
    for (size_t i = 0; i < n; i++)
        uids[i] =
            kr_arena_strdup(t->base.a, kr_value_as_str(kr_value_get(pods[i], "metadata.uid")));
    kr_expectations_set(c->exp, t->base.key, 0, uids, n, kr_time_ms());
    for (size_t i = 0; i < n; i++) {
        rs_op_t *op = op_new(t);
        op->uid = uids[i];
        op->pod =
            kr_arena_strdup(t->base.a, kr_value_as_str(kr_value_get(pods[i], "metadata.name")));
        kr_value_t *opts = kr_value_map(t->base.a), *pre = kr_value_map(t->base.a);
        kr_value_map_set(t->base.a, pre, "uid", kr_value_str(t->base.a, op->uid));
        kr_value_map_set(t->base.a, opts, "preconditions", pre);
        kr_request_t req = {
            .op = "delete", .res = POD_RES, .ns = t->ns, .name = op->pod, .opts = opts};
        if (!task_send(t, &req, on_deleted, op)) {
            kr_expectations_deletion_observed(c->exp, t->base.key, op->uid);
            if (t->manage_err == NULL)
                t->manage_err = "the bus refused the request";
        }
    }
}

static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    rsc_t *c = ud;
    if (!kr_informer_has_synced(c->rsi) || !kr_informer_has_synced(c->pods)) {
        kr_workqueue_add_after(q, key, RS_WAIT_SYNCED, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    c->syncs++;
    const kr_value_t *rs = kr_informer_get_key(c->rsi, key);
    if (rs == NULL) {
        kr_expectations_delete(c->exp, key);
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    kr_error_t err;
    claim_t cl = {0};
    cl.sel = kr_labelsel_from_object(kr_value_get(rs, "spec.selector"), &err);
    if (cl.sel == NULL) {
        /* validation keeps such selectors out; nothing to retry */
        kr_plugin_log(c->ctx, KR_LOG_WARN, err.message, "replicaset=\"%s\"", key);
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    cl.uid = kr_value_as_str(kr_value_get(rs, "metadata.uid"));
    cl.deleting = kr_value_get(rs, "metadata.deletionTimestamp") != NULL;
    if (cl.uid == NULL)
        cl.uid = "";
    const char *ns = ns_of(rs);
    kr_informer_each(c->pods, ns, claim_one, &cl);

    uint64_t now_ms = kr_time_ms();
    bool needs_sync = kr_expectations_satisfied(c->exp, key, now_ms);
    rs_task_t *t = task_new(c, key, rs);
    send_adoptions(t, cl.adopt, cl.nadopt);
    send_claims(t, cl.release, cl.nrelease, false);

    int64_t replicas = kr_value_as_int(kr_value_get(rs, "spec.replicas"), 1);
    int64_t diff = (int64_t)cl.nmine - replicas;
    t->creating = diff < 0;
    if (needs_sync && !cl.deleting && diff < 0) {
        int64_t n = -diff < c->conf.burst ? -diff : c->conf.burst;
        kr_expectations_set(c->exp, key, n, NULL, 0, now_ms);
        t->pod = kr_pod_from_template(t->base.a, kr_value_get(t->rs, "spec.template"), t->rs, NULL);
        t->to_create = n;
    } else if (needs_sync && !cl.deleting && diff > 0) {
        size_t n = (size_t)(diff < c->conf.burst ? diff : c->conf.burst);
        related_t rel = {0};
        related_pods(c, rs, ns, &rel);
        rs_pods_to_delete(cl.mine, cl.nmine, rel.pods, rel.npods, n, kr_time_now_ns());
        send_deletes(t, cl.mine, n);
        free(rel.pods);
        free(rel.uids);
    }
    rs_counts_of(cl.mine, cl.nmine, kr_value_get(rs, "spec.template.metadata.labels"),
                 kr_value_as_int(kr_value_get(rs, "spec.minReadySeconds"), 0),
                 kr_time_now_ns() / 1000000000, &t->counts);
    free(cl.mine);
    free(cl.adopt);
    free(cl.release);
    kr_labelsel_destroy(&cl.sel);
    if (t->to_create > 0)
        task_create_batch(t);
    maybe_finish(t);
}

/* ---- stats op ------------------------------------------------------------------ */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    rsc_t *c = ud;
    const kr_stat_t n[] = {{"replicasets", kr_informer_len(c->rsi)},
                           {"pods", kr_informer_len(c->pods)},
                           {"syncs", c->syncs},
                           {"creates", c->creates},
                           {"deletes", c->deletes},
                           {"adopts", c->adopts},
                           {"releases", c->releases},
                           {"status_writes", c->status_writes},
                           {"failures", c->failures}};
    kr_stats_reply(call, n, sizeof n / sizeof n[0]);
}

/* ---- life cycle ---------------------------------------------------------------- */

static void rs_fini(void *instance)
{
    rsc_t *c = instance;
    if (c->q != NULL)
        kr_workqueue_shutdown(c->q);
    kr_informer_destroy(&c->rsi);
    kr_informer_destroy(&c->pods);
    kr_synctasks_detach(&c->tasks);
    kr_workqueue_destroy(&c->q);
    kr_events_destroy(&c->ev);
    kr_expectations_destroy(&c->exp);
    free(c);
}

static void *rs_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct rs_conf *conf = config;
    if (kr_config_check_int("workers", conf->workers, 1, 256, err) < 0)
        return NULL;
    if (conf->burst < 1) {
        kr_error_set(err, KR_E_INVALID, "burst_replicas: must be at least 1");
        return NULL;
    }
    rsc_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->conf = *conf;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    c->exp = kr_expectations_new(0);
    c->tasks = (kr_synctasks_t){
        .bus = c->bus, .ctx = ctx, .label = "replicaset", .timeout_ms = RS_TIMEOUT_MS};
    /* the queue's default rate limiter is DefaultControllerRateLimiter's:
     * 5 ms doubling per key up to 1000 s, and 10 qps / 100 burst overall */
    kr_workqueue_opts_t qo = {.name = kr_plugin_name(ctx),
                              .max_in_flight = (unsigned)conf->workers};
    kr_informer_opts_t ro = {
        .res = RS_RES,
        .resync_ms = (uint64_t)conf->resync_ms,
        .name = "replicaset-replicasets",
        .handlers = {on_rs_add, on_rs_update, on_rs_add, c},
    };
    kr_informer_opts_t po = {
        .res = POD_RES,
        .name = "replicaset-pods",
        .page_size = 1000,
        .handlers = {on_pod_add, on_pod_update, on_pod_delete, c},
    };
    if ((c->ev = kr_events_new(c->bus, &(kr_events_opts_t){.component = "replicaset-controller"},
                               err)) == NULL ||
        (c->q = kr_workqueue_new(c->loop, &qo, sync_key, c, err)) == NULL ||
        (c->rsi = kr_informer_new(c->loop, c->bus, &ro, err)) == NULL ||
        (c->pods = kr_informer_new(c->loop, c->bus, &po, err)) == NULL ||
        kr_informer_set_transform(c->pods, pod_transform, NULL, err) < 0 ||
        kr_informer_start(c->rsi, err) < 0 || kr_informer_start(c->pods, err) < 0 ||
        kr_bus_serve(c->bus, "controller.replicaset.stats", NULL, on_stats, c, 5000, err) < 0) {
        rs_fini(c);
        return NULL;
    }
    c->tasks.q = c->q;
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "replicaset",
    .version = "0.1.0",
    .description =
        "keeps spec.replicas pods for every ReplicaSet (upstream's ReplicaSetController)",
    .config = rs_table,
    .config_size = sizeof(struct rs_conf),
    .init = rs_init,
    .fini = rs_fini,
};
