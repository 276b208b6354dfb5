/* controller-daemonset: one pod per eligible node for every DaemonSet,
 * after upstream's pkg/controller/daemon (daemon_controller.go, update.go).
 *
 * - Four informers (daemonsets, pods, nodes, controllerrevisions) feed one
 *   queue of DaemonSet keys: a pod by its controller reference (counting
 *   the creations and deletions the expectations wait for) or, an orphan,
 *   every DaemonSet whose selector matches it; a node added, removed or
 *   with other labels or taints every DaemonSet; a revision its owner.
 * - A sync first settles the history (constructHistory): the
 *   ControllerRevision whose data is the current template, created as
 *   "<ds>-<hash>" with the next revision number when missing (a name taken
 *   by another template bumps status.collisionCount), duplicates deleted,
 *   its number raised above the old ones.  Such a write ends the sync: the
 *   next one works from the cache that shows it.
 * - Then, with the expectations satisfied, manage(): pods claimed (orphans
 *   that match adopted, controlled pods that stop matching released),
 *   grouped by the node they are on or aimed at (spec.nodeName, else the
 *   matchFields metadata.name the controller gave them); a node that
 *   should run the pod and has none gets one, created with that node
 *   affinity so the scheduler binds it; pods of nodes that should not keep
 *   them, surplus pods, succeeded pods and failed pods (with a per-node
 *   back-off) are deleted.  When manage() has nothing to do the rolling
 *   update (maxUnavailable or maxSurge) picks old pods to delete or nodes
 *   to surge on; old revisions beyond revisionHistoryLimit whose hash no
 *   pod carries are deleted.
 * - Last the status (counts, observedGeneration when the sync could act)
 *   through daemonsets/status when it changed.
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
#include <kraal/selector.h>
#include <kraal/synctask.h>
#include <kraal/workqueue.h>

#include "ds_util.h"

#define DS_RES         "apps/v1/daemonsets"
#define POD_RES        "v1/pods"
#define NODE_RES       "v1/nodes"
#define REV_RES        "apps/v1/controllerrevisions"
#define DS_TIMEOUT_MS  10000
#define DS_WAIT_SYNCED 100
#define SMP            "application/strategic-merge-patch+json"

struct ds_conf {
    int64_t workers;
    int64_t burst;
    int64_t resync_ms;
};

static const kr_config_entry_t ds_table[] = {
    {KR_CFG_INT, "workers", "2", offsetof(struct ds_conf, workers),
     "DaemonSets synced at once (--concurrent-daemonset-syncs)"},
    {KR_CFG_INT, "burst_replicas", "250", offsetof(struct ds_conf, burst),
     "most pods one sync creates or deletes"},
    {KR_CFG_DURATION, "resync", "0s", offsetof(struct ds_conf, resync_ms),
     "how often every DaemonSet is synced again (0: only on changes)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct dsc dsc_t;

/* The failed-pod back-off of one DaemonSet on one node. */
typedef struct ds_fail {
    struct ds_fail *next;
    ds_backoff_t b;
    char key[]; /* "<ns>/<ds>/<node>" */
} ds_fail_t;

typedef struct ds_counts {
    int64_t desired, current, misscheduled, ready, updated, available;
} ds_counts_t;

/* The writes of one sync (kraal/synctask.h: fini detaches a task, its
 * last reply frees it). */
typedef struct ds_task {
    kr_synctask_t base;
    dsc_t *c;
    kr_value_t *ds; /* the DaemonSet at sync time, apiVersion and kind set */
    const char *ns, *name;
    bool failed;       /* retry with a back-off */
    bool again;        /* sync once more at once (history written) */
    bool write_status; /* counts below are valid */
    bool observed;     /* raise observedGeneration */
    uint64_t after_ms; /* sync again after this (minReadySeconds, back-off) */
    ds_counts_t counts;
    /* slowStartBatch: the nodes to create a pod on, sent 1, 2, 4, ... at a
     * time; a batch with an error stops the rest */
    const char **create;
    size_t ncreate, next_create;
    size_t batch;
    bool create_failed;
    const char *hash;
} ds_task_t;

typedef struct ds_op {
    ds_task_t *t;
    const char *pod, *uid, *node;
} ds_op_t;

struct dsc {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct ds_conf conf;
    kr_informer_t *dsi, *pods, *nodes, *revs;
    kr_workqueue_t *q;
    kr_expectations_t *exp;
    kr_events_t *ev;
    kr_synctasks_t tasks;
    ds_fail_t *fails;
    uint64_t syncs, creates, deletes, adopts, releases, revisions, status_writes, failures;
};

/* ---- keys ---------------------------------------------------------------------- */

static void enqueue(dsc_t *c, const kr_value_t *ds)
{
    char key[600];
    if (kr_informer_key(ds, key, sizeof key) > 0)
        kr_workqueue_add(c->q, key, NULL);
}

static const char *ns_of(const kr_value_t *obj)
{
    const char *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    return ns != NULL ? ns : "";
}

static const char *uid_of(const kr_value_t *obj)
{
    return kr_value_as_str(kr_value_get(obj, "metadata.uid"));
}

static const char *name_of(const kr_value_t *obj)
{
    return kr_value_as_str(kr_value_get(obj, "metadata.name"));
}

/* The DaemonSet a controller reference names, when cached with that uid. */
static const kr_value_t *resolve_ref(dsc_t *c, const char *ns, const kr_value_t *ref)
{
    return kr_controller_ref_resolve(c->dsi, ns, ref, "DaemonSet", NULL);
}

static bool enqueue_one(const kr_value_t *ds, void *ud)
{
    enqueue(ud, ds);
    return true;
}

static void enqueue_all(dsc_t *c)
{
    kr_informer_each(c->dsi, NULL, enqueue_one, c);
}

typedef struct {
    dsc_t *c;
    const kr_value_t *labels;
} match_ctx_t;

static bool enqueue_if_matches(const kr_value_t *ds, void *ud)
{
    match_ctx_t *m = ud;
    kr_labelsel_t *sel = kr_labelsel_from_object(kr_value_get(ds, "spec.selector"), NULL);
    if (sel != NULL && !kr_labelsel_empty(sel) && kr_labelsel_match(sel, m->labels))
        enqueue(m->c, ds);
    kr_labelsel_destroy(&sel);
    return true;
}

/* getDaemonSetsForPod: an orphan queues every DaemonSet that could adopt it. */
static void enqueue_matching(dsc_t *c, const kr_value_t *pod)
{
    match_ctx_t m = {c, kr_value_get(pod, "metadata.labels")};
    kr_informer_each(c->dsi, ns_of(pod), enqueue_if_matches, &m);
}

/* ---- pod events ------------------------------------------------------------------ */

static void pod_deleted(dsc_t *c, const kr_value_t *pod)
{
    const kr_value_t *ds = resolve_ref(c, ns_of(pod), kr_controller_ref_of(pod));
    char key[600];
    if (ds == NULL || kr_informer_key(ds, key, sizeof key) <= 0)
        return;
    kr_expectations_deletion_observed(c->exp, key, uid_of(pod));
    kr_workqueue_add(c->q, key, NULL);
}

static void on_pod_add(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    dsc_t *c = ud;
    if (kr_value_get(pod, "metadata.deletionTimestamp") != NULL) {
        pod_deleted(c, pod); /* a restarted controller sees it as an add */
        return;
    }
    const kr_value_t *ref = kr_controller_ref_of(pod);
    if (ref == NULL) {
        enqueue_matching(c, pod);
        return;
    }
    const kr_value_t *ds = resolve_ref(c, ns_of(pod), ref);
    char key[600];
    if (ds != NULL && kr_informer_key(ds, key, sizeof key) > 0) {
        kr_expectations_creation_observed(c->exp, key);
        kr_workqueue_add(c->q, key, NULL);
    }
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
    dsc_t *c = ud;
    if (old == cur)
        return; /* a resync: the DaemonSets' own resync covers it */
    bool labels_changed =
        !kr_value_equal(kr_value_get(old, "metadata.labels"), kr_value_get(cur, "metadata.labels"));
    if (kr_value_get(cur, "metadata.deletionTimestamp") != NULL) {
        pod_deleted(c, cur);
        return;
    }
    const kr_value_t *cref = kr_controller_ref_of(cur), *oref = kr_controller_ref_of(old);
    if (!same_ref(cref, oref) && oref != NULL) {
        const kr_value_t *ods = resolve_ref(c, ns_of(old), oref);
        if (ods != NULL)
            enqueue(c, ods);
    }
    if (cref == NULL) {
        if (labels_changed || !same_ref(cref, oref))
            enqueue_matching(c, cur);
        return;
    }
    const kr_value_t *ds = resolve_ref(c, ns_of(cur), cref);
    if (ds == NULL)
        return;
    enqueue(c, ds);
    int64_t mrs = kr_value_as_int(kr_value_get(ds, "spec.minReadySeconds"), 0);
    char key[600];
    if (mrs > 0 && !kr_pod_is_ready(old) && kr_pod_is_ready(cur) &&
        kr_informer_key(ds, key, sizeof key) > 0)
        kr_workqueue_add_after(c->q, key, (uint64_t)mrs * 1000, NULL);
}

static void on_pod_delete(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    pod_deleted(ud, pod);
}

static void keep(kr_arena_t *a, kr_value_t *dst, const kr_value_t *src, const char *const *keys,
                 size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kr_value_t *v = kr_value_map_get(src, keys[i]);
        if (v != NULL)
            kr_value_map_set(a, dst, keys[i], v);
    }
}

/* What the pod cache keeps: what the sync, the status and the handlers read. */
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
    static const char *const status_keys[] = {"phase", "conditions"};
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a), *s = kr_value_map(a);
    kr_value_t *spec = kr_value_map(a);
    keep(a, m, kr_value_map_get(obj, "metadata"), meta_keys, 8);
    keep(a, s, kr_value_map_get(obj, "status"), status_keys, 2);
    kr_value_t *node = kr_value_get(obj, "spec.nodeName");
    if (node != NULL)
        kr_value_map_set(a, spec, "nodeName", node);
    kr_value_t *aff = kr_value_get(obj, "spec.affinity");
    if (aff != NULL)
        kr_value_map_set(a, spec, "affinity", aff);
    kr_value_map_set(a, out, "metadata", m);
    kr_value_map_set(a, out, "spec", spec);
    kr_value_map_set(a, out, "status", s);
    return out;
}

/* Nodes: name, labels and taints are all eligibility reads. */
static const kr_value_t *node_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const meta_keys[] = {"name", "uid", "resourceVersion", "labels"};
    static const char *const spec_keys[] = {"taints", "unschedulable"};
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a), *s = kr_value_map(a);
    keep(a, m, kr_value_map_get(obj, "metadata"), meta_keys, 4);
    keep(a, s, kr_value_map_get(obj, "spec"), spec_keys, 2);
    kr_value_map_set(a, out, "metadata", m);
    kr_value_map_set(a, out, "spec", s);
    return out;
}

/* ---- other events ------------------------------------------------------------------ */

static void on_ds_add(kr_informer_t *inf, const kr_value_t *ds, void *ud)
{
    (void)inf;
    enqueue(ud, ds);
}

static void on_ds_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur, void *ud)
{
    (void)inf;
    (void)old;
    enqueue(ud, cur);
}

static void on_node_add(kr_informer_t *inf, const kr_value_t *node, void *ud)
{
    (void)inf;
    (void)node;
    enqueue_all(ud);
}

static void on_node_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                           void *ud)
{
    (void)inf;
    /* the transform keeps only what eligibility reads */
    if (old == cur)
        return;
    if (!kr_value_equal(kr_value_get(old, "metadata.labels"),
                        kr_value_get(cur, "metadata.labels")) ||
        !kr_value_equal(kr_value_get(old, "spec"), kr_value_get(cur, "spec")))
        enqueue_all(ud);
}

static void on_rev_event(dsc_t *c, const kr_value_t *rev)
{
    const kr_value_t *ds = resolve_ref(c, ns_of(rev), kr_controller_ref_of(rev));
    if (ds != NULL)
        enqueue(c, ds);
}

static void on_rev_add(kr_informer_t *inf, const kr_value_t *rev, void *ud)
{
    (void)inf;
    on_rev_event(ud, rev);
}

static void on_rev_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    (void)inf;
    if (old != cur)
        on_rev_event(ud, cur);
}

/* ---- failed pods' back-off ------------------------------------------------------------ */

static ds_backoff_t *backoff_of(dsc_t *c, const char *dskey, const char *node)
{
    size_t n = strlen(dskey) + strlen(node) + 2;
    char *key = malloc(n);
    if (key == NULL)
        abort();
    snprintf(key, n, "%s/%s", dskey, node);
    for (ds_fail_t *f = c->fails; f != NULL; f = f->next)
        if (strcmp(f->key, key) == 0) {
            free(key);
            return &f->b;
        }
    ds_fail_t *f = calloc(1, sizeof *f + n);
    if (f == NULL)
        abort();
    memcpy(f->key, key, n);
    free(key);
    f->next = c->fails;
    c->fails = f;
    return &f->b;
}

/* Forgets the back-offs of a deleted DaemonSet. */
static void backoff_forget(dsc_t *c, const char *dskey)
{
    size_t n = strlen(dskey);
    for (ds_fail_t **p = &c->fails; *p != NULL;) {
        ds_fail_t *f = *p;
        if (strncmp(f->key, dskey, n) == 0 && f->key[n] == '/') {
            *p = f->next;
            free(f);
        } else {
            p = &f->next;
        }
    }
}

/* ---- tasks ------------------------------------------------------------------------------ */

static ds_task_t *task_new(dsc_t *c, const char *key, const kr_value_t *ds)
{
    ds_task_t *t = kr_synctask_new(&c->tasks, sizeof *t, key);
    t->c = c;
    t->ds = kr_synctask_object(&t->base, ds, "apps/v1", "DaemonSet");
    t->ns = ns_of(t->ds);
    t->name = name_of(t->ds);
    return t;
}

static void task_done(ds_task_t *t)
{
    kr_synctask_done(&t->base,
                     t->failed  ? KR_SYNCTASK_FAILED
                     : t->again ? KR_SYNCTASK_AGAIN
                                : KR_SYNCTASK_OK,
                     t->after_ms);
}

static ds_op_t *op_new(ds_task_t *t)
{
    ds_op_t *op = kr_arena_alloc(t->base.a, sizeof *op);
    memset(op, 0, sizeof *op);
    op->t = t;
    return op;
}

static bool task_send(ds_task_t *t, const kr_request_t *req, kr_reply_fn fn, ds_op_t *op)
{
    if (kr_synctask_send(&t->base, req, fn, op, NULL) < 0) {
        t->failed = true;
        return false;
    }
    return true;
}

/* A reply came; false when fini detached the task. */
static bool op_reply(ds_op_t *op)
{
    return kr_synctask_reply(&op->t->base);
}

static void task_finish(ds_task_t *t);

static void send_create_batch(ds_task_t *t);

static void maybe_finish(ds_task_t *t)
{
    if (t->base.pending > 0)
        return;
    if (t->next_create < t->ncreate) {
        if (!t->create_failed) {
            send_create_batch(t);
            if (t->base.pending > 0)
                return;
        }
        /* the skipped creations are not expected any more: the next sync
         * starts a slow start again */
        for (; t->next_create < t->ncreate; t->next_create++)
            kr_expectations_creation_observed(t->c->exp, t->base.key);
    }
    task_finish(t);
}

static void on_status(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ds_op_t *op = ud;
    if (!op_reply(op))
        return;
    ds_task_t *t = op->t;
    if (r->code == 200) {
        t->c->status_writes++;
    } else if (r->code != 404) {
        t->failed = true;
        if (r->code != 409)
            kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r),
                          "daemonset=\"%s\" op=status code=%d", t->base.key, r->code);
    }
    task_done(t);
}

/* The counts as status fields, set in `st` (a map in `a`). */
static void status_set(kr_arena_t *a, kr_value_t *st, const ds_counts_t *n)
{
    const struct {
        const char *k;
        int64_t v;
    } f[] = {
        {"currentNumberScheduled", n->current},          {"numberMisscheduled", n->misscheduled},
        {"desiredNumberScheduled", n->desired},          {"numberReady", n->ready},
        {"updatedNumberScheduled", n->updated},          {"numberAvailable", n->available},
        {"numberUnavailable", n->desired - n->available}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        kr_value_map_set(a, st, f[i].k, kr_value_int(a, f[i].v));
}

/* storeDaemonSetStatus, when something changed, then the end of the key. */
static void task_finish(ds_task_t *t)
{
    dsc_t *c = t->c;
    const kr_value_t *cur = kr_informer_get(c->dsi, t->ns, t->name);
    const char *uid = uid_of(t->ds), *cuid = uid_of(cur);
    if (!t->write_status || cur == NULL || uid == NULL || cuid == NULL || strcmp(uid, cuid) != 0) {
        task_done(t);
        return;
    }
    const kr_value_t *st = kr_value_map_get(cur, "status");
    int64_t gen = kr_value_as_int(kr_value_get(t->ds, "metadata.generation"), 0);
    kr_arena_t *a = t->base.a;
    kr_value_t *ns = kr_value_copy(a, st);
    if (kr_value_type(ns) != KR_MAP)
        ns = kr_value_map(a);
    status_set(a, ns, &t->counts);
    if (t->observed && kr_value_map_int(ns, "observedGeneration", 0) < gen)
        kr_value_map_set(a, ns, "observedGeneration", kr_value_int(a, gen));
    if (kr_value_equal(ns, st)) {
        task_done(t);
        return;
    }
    kr_value_t *obj = kr_value_copy(a, cur);
    kr_value_map_set(a, obj, "status", ns);
    kr_request_t req = {
        .op = "update", .res = DS_RES, .ns = t->ns, .name = t->name, .sub = "status", .obj = obj};
    if (!task_send(t, &req, on_status, op_new(t)))
        task_done(t);
}

/* ---- writes -------------------------------------------------------------------------------- */

static void on_created(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ds_op_t *op = ud;
    if (!op_reply(op))
        return;
    ds_task_t *t = op->t;
    dsc_t *c = t->c;
    if (r->code == 201 || r->code == 200) {
        c->creates++;
        kr_events_record(c->ev, t->ds, KR_EVENT_NORMAL, "SuccessfulCreate", "Created pod: %s",
                         name_of(r->obj));
    } else if (r->code != 504) {
        /* a timed-out create may still happen: its pod will be seen, or
         * the expectations expire */
        c->failures++;
        t->failed = true;
        t->create_failed = true;
        kr_expectations_creation_observed(c->exp, t->base.key);
        kr_events_record(c->ev, t->ds, KR_EVENT_WARNING, "FailedCreate", "Error creating: %s",
                         kr_reply_msg(r));
        kr_plugin_log(c->ctx, KR_LOG_INFO, kr_reply_msg(r),
                      "daemonset=\"%s\" node=\"%s\" op=create code=%d", t->base.key, op->node,
                      r->code);
    }
    maybe_finish(t);
}

static void on_deleted(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ds_op_t *op = ud;
    if (!op_reply(op))
        return;
    ds_task_t *t = op->t;
    dsc_t *c = t->c;
    if (r->code == 200) {
        c->deletes++;
        kr_events_record(c->ev, t->ds, KR_EVENT_NORMAL, "SuccessfulDelete", "Deleted pod: %s",
                         op->pod);
    } else {
        kr_expectations_deletion_observed(c->exp, t->base.key, op->uid);
        if (r->code != 404) {
            c->failures++;
            t->failed = true;
            kr_events_record(c->ev, t->ds, KR_EVENT_WARNING, "FailedDelete", "Error deleting: %s",
                             kr_reply_msg(r));
        }
    }
    maybe_finish(t);
}

/* Revision, claim and history writes: a failure retries the key. */
static void on_written(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ds_op_t *op = ud;
    if (!op_reply(op))
        return;
    ds_task_t *t = op->t;
    if (r->code >= 300 && r->code != 404) {
        t->failed = true;
        if (r->code != 409)
            kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r), "daemonset=\"%s\" code=%d",
                          t->base.key, r->code);
    }
    maybe_finish(t);
}

static void send_create(ds_task_t *t, const char *hash, const char *node);

static void send_create_batch(ds_task_t *t)
{
    size_t left = t->ncreate - t->next_create;
    t->batch = t->batch == 0 ? 1 : t->batch * 2;
    if (t->batch > left)
        t->batch = left;
    for (size_t i = 0; i < t->batch; i++)
        send_create(t, t->hash, t->create[t->next_create++]);
}

static void send_create(ds_task_t *t, const char *hash, const char *node)
{
    ds_op_t *op = op_new(t);
    op->node = kr_arena_strdup(t->base.a, node);
    kr_request_t req = {.op = "create",
                        .res = POD_RES,
                        .ns = t->ns,
                        .obj = ds_pod_for_node(t->base.a, t->ds, hash, node)};
    if (!task_send(t, &req, on_created, op)) {
        t->create_failed = true;
        kr_expectations_creation_observed(t->c->exp, t->base.key);
    }
}

/* A delete with a uid precondition; `force`: gracePeriodSeconds 0. */
static void send_delete(ds_task_t *t, const char *res, const kr_value_t *obj, kr_reply_fn fn,
                        bool force)
{
    ds_op_t *op = op_new(t);
    op->pod = kr_arena_strdup(t->base.a, name_of(obj));
    op->uid = kr_arena_strdup(t->base.a, uid_of(obj));
    kr_value_t *opts = kr_value_map(t->base.a), *pre = kr_value_map(t->base.a);
    kr_value_map_set(t->base.a, pre, "uid", kr_value_str(t->base.a, op->uid ? op->uid : ""));
    kr_value_map_set(t->base.a, opts, "preconditions", pre);
    if (force)
        kr_value_map_set(t->base.a, opts, "gracePeriodSeconds", kr_value_int(t->base.a, 0));
    kr_request_t req = {.op = "delete", .res = res, .ns = t->ns, .name = op->pod, .opts = opts};
    if (!task_send(t, &req, fn, op) && fn == on_deleted)
        kr_expectations_deletion_observed(t->c->exp, t->base.key, op->uid);
}

/* ---- history (constructHistory, snapshot, cleanupHistory) ---------------------------------------- */

typedef struct {
    const kr_value_t *ds;
    const char *uid;
    const kr_value_t **cur, **old;
    size_t ncur, nold, cap;
} hist_t;

static bool hist_one(const kr_value_t *rev, void *ud)
{
    hist_t *h = ud;
    if (!kr_controlled_by(rev, h->uid))
        return true;
    if (ds_revision_matches(h->ds, rev))
        h->cur[h->ncur++] = rev;
    else
        h->old[h->nold++] = rev;
    return true;
}

static int rev_cmp(const void *a, const void *b)
{
    int64_t ra = kr_value_map_int(*(const kr_value_t *const *)a, "revision", 0);
    int64_t rb = kr_value_map_int(*(const kr_value_t *const *)b, "revision", 0);
    return ra < rb ? -1 : ra > rb;
}

/* Returns the current revision's hash (in t->base.a), or NULL when the history
 * needed a write first (sent; the sync ends there). */
static const char *settle_history(ds_task_t *t, const kr_value_t *ds, hist_t *h)
{
    dsc_t *c = t->c;
    kr_arena_t *a = t->base.a;
    size_t n = kr_informer_len(c->revs);
    h->ds = ds;
    h->uid = uid_of(ds);
    h->cur = calloc(n + 1, sizeof *h->cur);
    h->old = calloc(n + 1, sizeof *h->old);
    if (h->cur == NULL || h->old == NULL)
        abort();
    kr_informer_each(c->revs, t->ns, hist_one, h);
    qsort(h->old, h->nold, sizeof *h->old, rev_cmp);
    int64_t next = h->nold > 0 ? kr_value_map_int(h->old[h->nold - 1], "revision", 0) + 1 : 1;
    if (h->ncur == 0) {
        const kr_value_t *cc = kr_value_get(ds, "status.collisionCount");
        char hash[16];
        ds_hash(kr_value_get(ds, "spec.template"), cc ? kr_value_as_int(cc, 0) : -1, hash,
                sizeof hash);
        const char *name = kr_arena_printf(a, "%s-%s", t->name, hash);
        const kr_value_t *taken = kr_informer_get(c->revs, t->ns, name);
        if (taken != NULL) {
            if (ds_revision_matches(ds, taken))
                return kr_arena_strdup(a, hash); /* made earlier, not ours: upstream uses it */
            /* a hash collision: the next count gives another name */
            kr_value_t *obj = kr_value_copy(a, ds);
            kr_value_t *st = kr_value_map_get(obj, "status");
            if (kr_value_type(st) != KR_MAP) {
                st = kr_value_map(a);
                kr_value_map_set(a, obj, "status", st);
            }
            kr_value_map_set(a, st, "collisionCount",
                             kr_value_int(a, (cc ? kr_value_as_int(cc, 0) : 0) + 1));
            kr_plugin_log(c->ctx, KR_LOG_INFO, "hash collision, bumping collisionCount",
                          "daemonset=\"%s\" revision=\"%s\"", t->base.key, name);
            kr_request_t req = {.op = "update",
                                .res = DS_RES,
                                .ns = t->ns,
                                .name = t->name,
                                .sub = "status",
                                .obj = obj};
            task_send(t, &req, on_written, op_new(t));
            t->again = true;
            return NULL;
        }
        kr_value_t *rev = kr_value_map(a), *meta = kr_value_map(a), *refs = kr_value_array(a);
        kr_value_map_set(a, rev, "apiVersion", kr_value_str(a, "apps/v1"));
        kr_value_map_set(a, rev, "kind", kr_value_str(a, "ControllerRevision"));
        kr_value_map_set(a, meta, "name", kr_value_str(a, name));
        kr_value_map_set(a, meta, "namespace", kr_value_str(a, t->ns));
        kr_value_t *labels = kr_value_copy(a, kr_value_get(ds, "spec.template.metadata.labels"));
        if (kr_value_type(labels) != KR_MAP)
            labels = kr_value_map(a);
        kr_value_map_set(a, labels, DS_HASH_LABEL, kr_value_str(a, hash));
        kr_value_map_set(a, meta, "labels", labels);
        const kr_value_t *ann = kr_value_get(ds, "metadata.annotations");
        if (kr_value_len(ann) > 0)
            kr_value_map_set(a, meta, "annotations", kr_value_copy(a, ann));
        kr_value_array_push(a, refs, kr_controller_ref_new(a, t->ds));
        kr_value_map_set(a, meta, "ownerReferences", refs);
        kr_value_map_set(a, rev, "metadata", meta);
        kr_value_map_set(a, rev, "data", ds_revision_data(a, ds));
        kr_value_map_set(a, rev, "revision", kr_value_int(a, next));
        kr_request_t req = {.op = "create", .res = REV_RES, .ns = t->ns, .obj = rev};
        if (task_send(t, &req, on_written, op_new(t)))
            c->revisions++;
        t->again = true;
        return NULL;
    }
    /* dedupCurHistories: the newest stays */
    qsort(h->cur, h->ncur, sizeof *h->cur, rev_cmp);
    const kr_value_t *cur = h->cur[h->ncur - 1];
    bool wrote = false;
    for (size_t i = 0; i + 1 < h->ncur; i++) {
        send_delete(t, REV_RES, h->cur[i], on_written, false);
        wrote = true;
    }
    if (kr_value_map_int(cur, "revision", 0) < next) {
        kr_value_t *obj = kr_value_copy(a, cur);
        kr_value_map_set(a, obj, "revision", kr_value_int(a, next));
        kr_request_t req = {
            .op = "update", .res = REV_RES, .ns = t->ns, .name = name_of(cur), .obj = obj};
        task_send(t, &req, on_written, op_new(t));
        wrote = true;
    }
    if (wrote) {
        t->again = true;
        return NULL;
    }
    const char *hash = kr_value_map_str(kr_value_get(cur, "metadata.labels"), DS_HASH_LABEL);
    /* a revision without the label is known by its name, as upstream labels it */
    return kr_arena_strdup(a, hash != NULL ? hash : name_of(cur));
}

/* ---- pods by node ------------------------------------------------------------------------------ */

typedef struct {
    const char *node;
    const kr_value_t *pod;
} np_t;

typedef struct {
    const char *uid;
    kr_labelsel_t *sel;
    bool deleting;
    np_t *pods; /* claimed pods with a target node, sorted by node then age */
    size_t n, cap;
    const kr_value_t **adopt, **release;
    size_t nadopt, nrelease, cap_adopt, cap_release;
} claim_t;

static void push_ptr(const kr_value_t ***arr, size_t *n, size_t *cap, const kr_value_t *v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *arr = realloc(*arr, *cap * sizeof **arr);
        if (*arr == NULL)
            abort();
    }
    (*arr)[(*n)++] = v;
}

static void push_np(claim_t *cl, const kr_value_t *pod)
{
    /* terminal pods being deleted are the kubelet's or the pod GC's */
    const char *phase = kr_value_as_str(kr_value_get(pod, "status.phase"));
    bool terminal =
        phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
    if (terminal && kr_value_get(pod, "metadata.deletionTimestamp") != NULL)
        return;
    const char *node = ds_target_node(pod);
    if (node == NULL)
        return;
    if (cl->n == cl->cap) {
        cl->cap = cl->cap ? cl->cap * 2 : 16;
        cl->pods = realloc(cl->pods, cl->cap * sizeof *cl->pods);
        if (cl->pods == NULL)
            abort();
    }
    cl->pods[cl->n++] = (np_t){node, pod};
}

/* ClaimPods: controlled pods that match, matching orphans (adopted). */
static bool claim_one(const kr_value_t *pod, void *ud)
{
    claim_t *cl = ud;
    const kr_value_t *ref = kr_controller_ref_of(pod);
    bool match = kr_labelsel_match(cl->sel, kr_value_get(pod, "metadata.labels"));
    if (ref != NULL) {
        const char *ruid = kr_value_map_str(ref, "uid");
        if (ruid == NULL || strcmp(ruid, cl->uid) != 0)
            return true;
        if (match)
            push_np(cl, pod);
        else if (!cl->deleting)
            push_ptr(&cl->release, &cl->nrelease, &cl->cap_release, pod);
        return true;
    }
    if (match && !cl->deleting && kr_value_get(pod, "metadata.deletionTimestamp") == NULL) {
        push_ptr(&cl->adopt, &cl->nadopt, &cl->cap_adopt, pod);
        push_np(cl, pod);
    }
    return true;
}

static int np_cmp(const void *a, const void *b)
{
    const np_t *x = a, *y = b;
    int r = strcmp(x->node, y->node);
    return r != 0 ? r : ds_pod_cmp_age(x->pod, y->pod);
}

/* The claimed pods on `node`: [*first, *first + returned). */
static size_t pods_on(const claim_t *cl, const char *node, size_t *first)
{
    size_t lo = 0, hi = cl->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(cl->pods[mid].node, node) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < cl->n && strcmp(cl->pods[end].node, node) == 0)
        end++;
    *first = lo;
    return end - lo;
}

static void send_claims(ds_task_t *t, const kr_value_t *const *pods, size_t n, bool adopt)
{
    kr_value_t *opts = kr_value_map(t->base.a);
    kr_value_map_set(t->base.a, opts, "patchType", kr_value_str(t->base.a, SMP));
    for (size_t i = 0; i < n; i++) {
        kr_request_t req = {.op = "patch",
                            .res = POD_RES,
                            .ns = t->ns,
                            .name = kr_arena_strdup(t->base.a, name_of(pods[i])),
                            .obj = kr_controller_ref_patch(t->base.a, t->ds, pods[i], adopt),
                            .opts = opts};
        if (task_send(t, &req, on_written, op_new(t))) {
            if (adopt)
                t->c->adopts++;
            else
                t->c->releases++;
        }
    }
}

/* ---- sync ------------------------------------------------------------------------------------- */

static bool collect_node(const kr_value_t *node, void *ud)
{
    const kr_value_t ***arr = ud;
    **arr = node;
    (*arr)++;
    return true;
}

static bool pod_failed(const kr_value_t *pod, const char *phase)
{
    const char *p = kr_value_as_str(kr_value_get(pod, "status.phase"));
    return p != NULL && strcmp(p, phase) == 0;
}

typedef struct {
    const kr_value_t **del;
    size_t ndel, cap_del;
    const char **create;
    size_t ncreate;
} plan_t;

/* podsShouldBeOnNode for one node. */
static void plan_node(ds_task_t *t, const claim_t *cl, const kr_value_t *ds, const char *node,
                      bool should_run, bool should_continue, const char *hash, plan_t *p)
{
    size_t first, n = pods_on(cl, node, &first);
    if (should_run && n == 0) {
        p->create[p->ncreate++] = node;
        return;
    }
    if (!should_continue) {
        for (size_t i = 0; i < n; i++)
            if (kr_value_get(cl->pods[first + i].pod, "metadata.deletionTimestamp") == NULL)
                push_ptr(&p->del, &p->ndel, &p->cap_del, cl->pods[first + i].pod);
        return;
    }
    const kr_value_t **running = calloc(n ? n : 1, sizeof *running);
    size_t nrun = 0;
    if (running == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *pod = cl->pods[first + i].pod;
        if (kr_value_get(pod, "metadata.deletionTimestamp") != NULL)
            continue;
        if (pod_failed(pod, "Failed")) {
            ds_backoff_t *b = backoff_of(t->c, t->base.key, node);
            int64_t now = (int64_t)kr_time_ms(), wait;
            if (ds_backoff_waiting(b, now, &wait)) {
                if (t->after_ms == 0 || (uint64_t)wait < t->after_ms)
                    t->after_ms = (uint64_t)wait;
                continue;
            }
            ds_backoff_next(b, now);
            kr_events_record(t->c->ev, t->ds, KR_EVENT_WARNING, "FailedDaemonPod",
                             "Found failed daemon pod %s/%s on node %s, will try to kill it", t->ns,
                             name_of(pod), node);
            push_ptr(&p->del, &p->ndel, &p->cap_del, pod);
        } else if (pod_failed(pod, "Succeeded")) {
            push_ptr(&p->del, &p->ndel, &p->cap_del, pod);
        } else {
            running[nrun++] = pod;
        }
    }
    if (nrun <= 1) {
        free(running);
        return;
    }
    int64_t surge, unav;
    ds_update_limits(ds, 1, &surge, &unav);
    if (surge == 0) {
        /* without surge only the oldest stays (the pods are sorted by age) */
        for (size_t i = 1; i < nrun; i++)
            push_ptr(&p->del, &p->ndel, &p->cap_del, running[i]);
        free(running);
        return;
    }
    /* with surge, an old and a new pod stay while the old one is ready and
     * the new one not yet available */
    const kr_value_t *oldest_new = NULL, *oldest_old = NULL;
    for (size_t i = 0; i < nrun; i++) {
        bool is_new = ds_pod_updated(ds, running[i], hash);
        if (is_new && oldest_new == NULL)
            oldest_new = running[i];
        else if (!is_new && oldest_old == NULL)
            oldest_old = running[i];
        else
            push_ptr(&p->del, &p->ndel, &p->cap_del, running[i]);
    }
    int64_t mrs = kr_value_as_int(kr_value_get(ds, "spec.minReadySeconds"), 0);
    if (oldest_new != NULL && oldest_old != NULL &&
        (!kr_pod_is_ready(oldest_old) ||
         kr_pod_is_available(oldest_new, mrs, kr_time_now_ns() / 1000000000)))
        push_ptr(&p->del, &p->ndel, &p->cap_del, oldest_old);
    free(running);
}

/* `nodes` sorted by name. */
static bool node_exists(const kr_value_t *const *nodes, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(name_of(nodes[mid]), name);
        if (r == 0)
            return true;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int node_cmp(const void *a, const void *b)
{
    return strcmp(name_of(*(const kr_value_t *const *)a), name_of(*(const kr_value_t *const *)b));
}

/* updateDaemonSetStatus's counts. */
static void count_status(const kr_value_t *ds, const kr_value_t *const *nodes, const bool *runs,
                         size_t nn, const claim_t *cl, const char *hash, ds_counts_t *out,
                         bool *pending)
{
    memset(out, 0, sizeof *out);
    int64_t mrs = kr_value_as_int(kr_value_get(ds, "spec.minReadySeconds"), 0);
    int64_t now = kr_time_now_ns() / 1000000000;
    *pending = false;
    for (size_t i = 0; i < nn; i++) {
        bool run = runs[2 * i];
        size_t first, n = pods_on(cl, name_of(nodes[i]), &first);
        if (!run) {
            if (n > 0)
                out->misscheduled++;
            continue;
        }
        out->desired++;
        if (n == 0)
            continue;
        out->current++;
        const kr_value_t *pod = cl->pods[first].pod; /* the oldest */
        if (kr_pod_is_ready(pod)) {
            out->ready++;
            if (kr_pod_is_available(pod, mrs, now))
                out->available++;
            else
                *pending = true;
        }
        if (ds_pod_updated(ds, pod, hash))
            out->updated++;
    }
}

/* rollingUpdate: the node states of the nodes with pods or that should
 * have one, then ds_rolling_pick. */
static void plan_rolling(const kr_value_t *ds, const kr_value_t *const *nodes, const bool *runs,
                         size_t nn, const claim_t *cl, const char *hash, plan_t *p)
{
    ds_node_state_t *st = calloc(nn + cl->n + 1, sizeof *st);
    size_t *del = calloc(nn + cl->n + 1, sizeof *del), *cre = calloc(nn + cl->n + 1, sizeof *cre);
    if (st == NULL || del == NULL || cre == NULL)
        abort();
    int64_t mrs = kr_value_as_int(kr_value_get(ds, "spec.minReadySeconds"), 0);
    int64_t now = kr_time_now_ns() / 1000000000;
    size_t n = 0;
    int64_t desired = 0;
    for (size_t i = 0; i < nn; i++) {
        bool run = runs[2 * i];
        size_t first, np = pods_on(cl, name_of(nodes[i]), &first);
        if (run)
            desired++;
        if (!run && np == 0)
            continue;
        ds_node_state_t *s = &st[n++];
        s->node = name_of(nodes[i]);
        s->should_run = run;
        for (size_t j = 0; j < np; j++) {
            const kr_value_t *pod = cl->pods[first + j].pod;
            if (kr_value_get(pod, "metadata.deletionTimestamp") != NULL)
                continue;
            const kr_value_t **slot = ds_pod_updated(ds, pod, hash) ? &s->new_pod : &s->old_pod;
            if (*slot != NULL)
                s->excess = true;
            *slot = pod;
        }
        s->new_available = s->new_pod != NULL && kr_pod_is_available(s->new_pod, mrs, now);
        s->old_available = s->old_pod != NULL && kr_pod_is_available(s->old_pod, mrs, now);
    }
    int64_t surge, unav;
    ds_update_limits(ds, desired, &surge, &unav);
    size_t ndel, ncre;
    ds_rolling_pick(st, n, desired, surge, unav, del, &ndel, cre, &ncre);
    for (size_t i = 0; i < ndel; i++)
        push_ptr(&p->del, &p->ndel, &p->cap_del, st[del[i]].old_pod);
    for (size_t i = 0; i < ncre; i++)
        p->create[p->ncreate++] = st[cre[i]].node;
    free(st);
    free(del);
    free(cre);
}

static bool hash_live(const claim_t *cl, const char *hash)
{
    for (size_t i = 0; hash != NULL && i < cl->n; i++) {
        const char *h =
            kr_value_map_str(kr_value_get(cl->pods[i].pod, "metadata.labels"), DS_HASH_LABEL);
        if (h != NULL && strcmp(h, hash) == 0)
            return true;
    }
    return false;
}

static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    dsc_t *c = ud;
    if (!kr_informer_has_synced(c->dsi) || !kr_informer_has_synced(c->pods) ||
        !kr_informer_has_synced(c->nodes) || !kr_informer_has_synced(c->revs)) {
        kr_workqueue_add_after(q, key, DS_WAIT_SYNCED, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    c->syncs++;
    const kr_value_t *ds = kr_informer_get_key(c->dsi, key);
    if (ds == NULL) {
        kr_expectations_delete(c->exp, key);
        backoff_forget(c, key);
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    ds_task_t *t = task_new(c, key, ds);
    const kr_value_t *sel_obj = kr_value_get(ds, "spec.selector");
    if (kr_value_type(sel_obj) == KR_MAP && kr_value_len(sel_obj) == 0) {
        kr_events_record(c->ev, t->ds, KR_EVENT_WARNING, "SelectingAll",
                         "This daemon set is selecting all pods. A non-empty selector is "
                         "required.");
        task_done(t);
        return;
    }
    /* a DaemonSet being deleted: its history may be gone already, so no
     * status can be trusted (upstream returns here too) */
    if (kr_value_get(ds, "metadata.deletionTimestamp") != NULL) {
        task_done(t);
        return;
    }
    kr_error_t err;
    claim_t cl = {0};
    cl.sel = kr_labelsel_from_object(sel_obj, &err);
    if (cl.sel == NULL) {
        kr_plugin_log(c->ctx, KR_LOG_WARN, err.message, "daemonset=\"%s\"", key);
        task_done(t);
        return;
    }
    hist_t h = {0};
    const char *hash = settle_history(t, ds, &h);
    if (hash == NULL) {
        free(h.cur);
        free(h.old);
        kr_labelsel_destroy(&cl.sel);
        maybe_finish(t);
        return;
    }
    cl.uid = uid_of(ds) ? uid_of(ds) : "";
    kr_informer_each(c->pods, t->ns, claim_one, &cl);
    if (cl.n > 1)
        qsort(cl.pods, cl.n, sizeof *cl.pods, np_cmp);
    size_t nn = kr_informer_len(c->nodes);
    const kr_value_t **nodes = calloc(nn + 1, sizeof *nodes), **np = nodes;
    if (nodes == NULL)
        abort();
    kr_informer_each(c->nodes, NULL, collect_node, &np);
    nn = (size_t)(np - nodes);
    if (nn > 1)
        qsort(nodes, nn, sizeof *nodes, node_cmp);
    /* NodeShouldRunDaemonPod once per node: should_run, should_continue */
    bool *runs = calloc(2 * nn + 2, sizeof *runs);
    if (runs == NULL)
        abort();
    const kr_value_t *tols = ds_pod_tolerations(t->base.a, ds);
    for (size_t i = 0; i < nn; i++)
        ds_node_should_run_tols(ds, tols, nodes[i], &runs[2 * i], &runs[2 * i + 1]);

    send_claims(t, cl.adopt, cl.nadopt, true);
    send_claims(t, cl.release, cl.nrelease, false);

    uint64_t now_ms = kr_time_ms();
    t->observed = kr_expectations_satisfied(c->exp, key, now_ms);
    if (t->observed) {
        /* manage() */
        plan_t p = {0};
        p.create = calloc(nn + cl.n + 1, sizeof *p.create);
        if (p.create == NULL)
            abort();
        /* pods of nodes that are gone, being deleted or not: upstream
         * leaves the bound ones to the pod GC, which kraal does not have,
         * and which deletes them at once (no kubelet will finish a
         * graceful deletion there) */
        size_t nforce = 0;
        for (size_t i = 0; i < cl.n; i++)
            if (!node_exists(nodes, nn, cl.pods[i].node)) {
                push_ptr(&p.del, &p.ndel, &p.cap_del, cl.pods[i].pod);
                nforce++;
            }
        for (size_t i = 0; i < nn; i++) {
            plan_node(t, &cl, ds, name_of(nodes[i]), runs[2 * i], runs[2 * i + 1], hash, &p);
        }
        if (p.ncreate + p.ndel == 0) {
            const char *type = kr_value_as_str(kr_value_get(ds, "spec.updateStrategy.type"));
            if (type != NULL && strcmp(type, "RollingUpdate") == 0)
                plan_rolling(ds, nodes, runs, nn, &cl, hash, &p);
        }
        size_t burst = (size_t)c->conf.burst;
        size_t ncre = p.ncreate < burst ? p.ncreate : burst;
        size_t ndel = p.ndel < burst ? p.ndel : burst;
        if (ncre + ndel > 0) {
            const char **uids = kr_arena_alloc(t->base.a, (ndel ? ndel : 1) * sizeof *uids);
            for (size_t i = 0; i < ndel; i++)
                uids[i] = kr_arena_strdup(t->base.a, uid_of(p.del[i]));
            kr_expectations_set(c->exp, key, (int64_t)ncre, uids, ndel, now_ms);
            t->create = kr_arena_alloc(t->base.a, (ncre ? ncre : 1) * sizeof *t->create);
            for (size_t i = 0; i < ncre; i++)
                t->create[i] = kr_arena_strdup(t->base.a, p.create[i]);
            t->ncreate = ncre;
            t->hash = kr_arena_strdup(t->base.a, hash);
            if (ncre > 0)
                send_create_batch(t);
            for (size_t i = 0; i < ndel; i++)
                send_delete(t, POD_RES, p.del[i], on_deleted, i < nforce);
        }
        free(p.create);
        free(p.del);
        /* cleanupHistory: the oldest revisions beyond the limit whose hash
         * no pod carries */
        int64_t limit = kr_value_as_int(kr_value_get(ds, "spec.revisionHistoryLimit"), 10);
        int64_t kill = (int64_t)h.nold - limit;
        for (size_t i = 0; kill > 0 && i < h.nold; i++) {
            if (hash_live(&cl, kr_value_map_str(kr_value_get(h.old[i], "metadata.labels"),
                                                DS_HASH_LABEL)))
                continue;
            send_delete(t, REV_RES, h.old[i], on_written, false);
            kill--;
        }
    }
    bool pending;
    count_status(ds, nodes, runs, nn, &cl, hash, &t->counts, &pending);
    t->write_status = true;
    int64_t mrs = kr_value_as_int(kr_value_get(ds, "spec.minReadySeconds"), 0);
    if (mrs > 0 && pending && (t->after_ms == 0 || t->after_ms > (uint64_t)mrs * 1000))
        t->after_ms = (uint64_t)mrs * 1000;
    free(runs);
    free(nodes);
    free(h.cur);
    free(h.old);
    free(cl.pods);
    free(cl.adopt);
    free(cl.release);
    kr_labelsel_destroy(&cl.sel);
    maybe_finish(t);
}

/* ---- stats op ---------------------------------------------------------------------------------- */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    dsc_t *c = ud;
    const kr_stat_t n[] = {{"daemonsets", kr_informer_len(c->dsi)},
                           {"pods", kr_informer_len(c->pods)},
                           {"nodes", kr_informer_len(c->nodes)},
                           {"syncs", c->syncs},
                           {"creates", c->creates},
                           {"deletes", c->deletes},
                           {"adopts", c->adopts},
                           {"releases", c->releases},
                           {"revisions", c->revisions},
                           {"status_writes", c->status_writes},
                           {"failures", c->failures}};
    kr_stats_reply(call, n, sizeof n / sizeof n[0]);
}

/* ---- life cycle -------------------------------------------------------------------------------- */

static void ds_fini(void *instance)
{
    dsc_t *c = instance;
    if (c->q != NULL)
        kr_workqueue_shutdown(c->q);
    kr_informer_destroy(&c->dsi);
    kr_informer_destroy(&c->pods);
    kr_informer_destroy(&c->nodes);
    kr_informer_destroy(&c->revs);
    kr_synctasks_detach(&c->tasks);
    while (c->fails != NULL) {
        ds_fail_t *f = c->fails;
        c->fails = f->next;
        free(f);
    }
    kr_workqueue_destroy(&c->q);
    kr_events_destroy(&c->ev);
    kr_expectations_destroy(&c->exp);
    free(c);
}

static void *ds_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct ds_conf *conf = config;
    if (kr_config_check_int("workers", conf->workers, 1, 256, err) < 0)
        return NULL;
    if (conf->burst < 1) {
        kr_error_set(err, KR_E_INVALID, "burst_replicas: must be at least 1");
        return NULL;
    }
    dsc_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->conf = *conf;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    c->exp = kr_expectations_new(0);
    c->tasks = (kr_synctasks_t){
        .bus = c->bus, .ctx = ctx, .label = "daemonset", .timeout_ms = DS_TIMEOUT_MS};
    kr_workqueue_opts_t qo = {
        .name = kr_plugin_name(ctx), .max_in_flight = (unsigned)conf->workers, .qps = -1};
    kr_informer_opts_t dso = {
        .res = DS_RES,
        .resync_ms = (uint64_t)conf->resync_ms,
        .name = "daemonset-daemonsets",
        .handlers = {on_ds_add, on_ds_update, on_ds_add, c},
    };
    kr_informer_opts_t po = {
        .res = POD_RES,
        .name = "daemonset-pods",
        .page_size = 1000,
        .handlers = {on_pod_add, on_pod_update, on_pod_delete, c},
    };
    kr_informer_opts_t no = {
        .res = NODE_RES,
        .name = "daemonset-nodes",
        .page_size = 1000,
        .handlers = {on_node_add, on_node_update, on_node_add, c},
    };
    kr_informer_opts_t ro = {
        .res = REV_RES,
        .name = "daemonset-revisions",
        .handlers = {on_rev_add, on_rev_update, on_rev_add, c},
    };
    if (kr_controller_revisions_register(c->bus, err) < 0 ||
        (c->ev = kr_events_new(c->bus, &(kr_events_opts_t){.component = "daemonset-controller"},
                               err)) == NULL ||
        (c->q = kr_workqueue_new(c->loop, &qo, sync_key, c, err)) == NULL ||
        (c->dsi = kr_informer_new(c->loop, c->bus, &dso, err)) == NULL ||
        (c->pods = kr_informer_new(c->loop, c->bus, &po, err)) == NULL ||
        (c->nodes = kr_informer_new(c->loop, c->bus, &no, err)) == NULL ||
        (c->revs = kr_informer_new(c->loop, c->bus, &ro, err)) == NULL ||
        kr_informer_set_transform(c->pods, pod_transform, NULL, err) < 0 ||
        kr_informer_set_transform(c->nodes, node_transform, NULL, err) < 0 ||
        kr_informer_start(c->dsi, err) < 0 || kr_informer_start(c->pods, err) < 0 ||
        kr_informer_start(c->nodes, err) < 0 || kr_informer_start(c->revs, err) < 0 ||
        kr_bus_serve(c->bus, "controller.daemonset.stats", NULL, on_stats, c, 5000, err) < 0) {
        ds_fini(c);
        return NULL;
    }
    c->tasks.q = c->q;
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "daemonset",
    .version = "0.1.0",
    .description = "runs one pod of every DaemonSet on each eligible node (upstream's "
                   "DaemonSetsController)",
    .config = ds_table,
    .config_size = sizeof(struct ds_conf),
    .init = ds_init,
    .fini = ds_fini,
};
