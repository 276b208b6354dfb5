/* controller-statefulset: pods with stable names and hostnames for every
 * StatefulSet, after upstream's pkg/controller/statefulset
 * (stateful_set.go, stateful_set_control.go, stateful_pod_control.go).
 *
 * - Three informers (statefulsets, pods, controllerrevisions) feed one
 *   queue of StatefulSet keys: a pod by its controller reference (counting
 *   the creations and deletions the expectations wait for) or, an orphan,
 *   every StatefulSet whose selector matches it; a revision its owner.
 * - A sync first settles the history (getStatefulSetRevisions): the update
 *   revision is the newest ControllerRevision if its data is the current
 *   template, an older equal one renumbered (a rollback), or a new one
 *   "<set>-<hash>" (a name taken by other data bumps the collision count).
 *   Such a write ends the sync; the next one works from the cache that
 *   shows it.
 * - Then the set's pods are claimed (members "<set>-<ordinal>" matching
 *   the selector; orphans adopted, strays released) and sts_plan decides
 *   (updateStatefulSet): OrderedReady creates or deletes one pod at a time
 *   and only when every predecessor is Running and Ready, Parallel all at
 *   once; a RollingUpdate deletes the highest ordinal at or above the
 *   partition that is not at the update revision, one at a time; OnDelete
 *   waits for the user.  Writes are counted in the expectations first.
 * - Old revisions beyond revisionHistoryLimit that no pod uses are
 *   deleted, then the status (counts, revisions, observedGeneration,
 *   collisionCount) goes through statefulsets/status when it changed.
 *
 * PersistentVolumeClaims: the pods get their claim volumes
 * "<template>-<set>-<ordinal>" as upstream's, but the claims themselves are
 * not created: the core has no PersistentVolumeClaim kind yet. */
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

#include "sts_util.h"

#define STS_RES         "apps/v1/statefulsets"
#define POD_RES         "v1/pods"
#define REV_RES         "apps/v1/controllerrevisions"
#define STS_TIMEOUT_MS  10000
#define STS_WAIT_SYNCED 100
#define SMP             "application/strategic-merge-patch+json"

struct sts_conf {
    int64_t workers;
    int64_t resync_ms;
};

static const kr_config_entry_t sts_table[] = {
    {KR_CFG_INT, "workers", "5", offsetof(struct sts_conf, workers),
     "StatefulSets synced at once (--concurrent-statefulset-syncs)"},
    {KR_CFG_DURATION, "resync", "0s", offsetof(struct sts_conf, resync_ms),
     "how often every StatefulSet is synced again (0: only on changes)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct stsc stsc_t;

/* The writes of one sync (kraal/synctask.h: fini detaches a task, its
 * last reply frees it). */
typedef struct sts_task {
    kr_synctask_t base;
    stsc_t *c;
    kr_value_t *set; /* the StatefulSet at sync time, apiVersion and kind set */
    const char *ns, *name;
    bool failed;       /* retry with a back-off */
    bool again;        /* sync once more at once (history written) */
    bool write_status; /* status below is valid */
    uint64_t after_ms; /* sync again after this (minReadySeconds) */
    sts_status_t status;
    int64_t collision_count;
} sts_task_t;

typedef struct sts_op {
    sts_task_t *t;
    const char *pod, *uid;
} sts_op_t;

struct stsc {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct sts_conf conf;
    kr_informer_t *sets, *pods, *revs;
    kr_workqueue_t *q;
    kr_expectations_t *exp;
    kr_events_t *ev;
    kr_synctasks_t tasks;
    uint64_t syncs, creates, deletes, updates, adopts, releases, revisions, status_writes, failures;
};

/* ---- keys ------------------------------------------------------------------------ */

static void enqueue(stsc_t *c, const kr_value_t *set)
{
    char key[600];
    if (kr_informer_key(set, key, sizeof key) > 0)
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

/* The StatefulSet a controller reference names, when cached with that uid. */
static const kr_value_t *resolve_ref(stsc_t *c, const char *ns, const kr_value_t *ref)
{
    return kr_controller_ref_resolve(c->sets, ns, ref, "StatefulSet", NULL);
}

typedef struct {
    stsc_t *c;
    const kr_value_t *pod;
} match_ctx_t;

static bool enqueue_if_matches(const kr_value_t *set, void *ud)
{
    match_ctx_t *m = ud;
    if (!sts_is_member(name_of(set), name_of(m->pod)))
        return true;
    kr_labelsel_t *sel = kr_labelsel_from_object(kr_value_get(set, "spec.selector"), NULL);
    if (sel != NULL && !kr_labelsel_empty(sel) &&
        kr_labelsel_match(sel, kr_value_get(m->pod, "metadata.labels")))
        enqueue(m->c, set);
    kr_labelsel_destroy(&sel);
    return true;
}

/* getStatefulSetsForPod: an orphan queues every set that could adopt it. */
static void enqueue_matching(stsc_t *c, const kr_value_t *pod)
{
    match_ctx_t m = {c, pod};
    kr_informer_each(c->sets, ns_of(pod), enqueue_if_matches, &m);
}

/* ---- pod events -------------------------------------------------------------------- */

static void pod_deleted(stsc_t *c, const kr_value_t *pod)
{
    const kr_value_t *set = resolve_ref(c, ns_of(pod), kr_controller_ref_of(pod));
    char key[600];
    if (set == NULL || kr_informer_key(set, key, sizeof key) <= 0)
        return;
    kr_expectations_deletion_observed(c->exp, key, uid_of(pod));
    kr_workqueue_add(c->q, key, NULL);
}

static void on_pod_add(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    stsc_t *c = ud;
    if (kr_value_get(pod, "metadata.deletionTimestamp") != NULL) {
        pod_deleted(c, pod);
        return;
    }
    const kr_value_t *ref = kr_controller_ref_of(pod);
    if (ref == NULL) {
        enqueue_matching(c, pod);
        return;
    }
    const kr_value_t *set = resolve_ref(c, ns_of(pod), ref);
    char key[600];
    if (set != NULL && kr_informer_key(set, key, sizeof key) > 0) {
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
    stsc_t *c = ud;
    if (old == cur)
        return;
    if (kr_value_get(cur, "metadata.deletionTimestamp") != NULL &&
        kr_value_get(old, "metadata.deletionTimestamp") == NULL) {
        pod_deleted(c, cur);
        return;
    }
    const kr_value_t *cref = kr_controller_ref_of(cur), *oref = kr_controller_ref_of(old);
    if (!same_ref(cref, oref) && oref != NULL) {
        const kr_value_t *oset = resolve_ref(c, ns_of(old), oref);
        if (oset != NULL)
            enqueue(c, oset);
    }
    if (cref == NULL) {
        if (!kr_value_equal(kr_value_get(old, "metadata.labels"),
                            kr_value_get(cur, "metadata.labels")) ||
            !same_ref(cref, oref))
            enqueue_matching(c, cur);
        return;
    }
    const kr_value_t *set = resolve_ref(c, ns_of(cur), cref);
    if (set == NULL)
        return;
    enqueue(c, set);
    int64_t mrs = kr_value_as_int(kr_value_get(set, "spec.minReadySeconds"), 0);
    char key[600];
    if (mrs > 0 && !kr_pod_is_ready(old) && kr_pod_is_ready(cur) &&
        kr_informer_key(set, key, sizeof key) > 0)
        kr_workqueue_add_after(c->q, key, (uint64_t)mrs * 1000, NULL);
}

static void on_pod_delete(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    pod_deleted(ud, pod);
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
    const kr_value_t *meta = kr_value_map_get(obj, "metadata"),
                     *st = kr_value_map_get(obj, "status");
    for (size_t i = 0; i < sizeof meta_keys / sizeof meta_keys[0]; i++) {
        kr_value_t *v = kr_value_map_get(meta, meta_keys[i]);
        if (v != NULL)
            kr_value_map_set(a, m, meta_keys[i], v);
    }
    for (size_t i = 0; i < sizeof status_keys / sizeof status_keys[0]; i++) {
        kr_value_t *v = kr_value_map_get(st, status_keys[i]);
        if (v != NULL)
            kr_value_map_set(a, s, status_keys[i], v);
    }
    kr_value_map_set(a, out, "metadata", m);
    kr_value_map_set(a, out, "status", s);
    return out;
}

/* ---- set and revision events --------------------------------------------------------- */

static void on_set_add(kr_informer_t *inf, const kr_value_t *set, void *ud)
{
    (void)inf;
    enqueue(ud, set);
}

static void on_set_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    (void)inf;
    (void)old;
    enqueue(ud, cur);
}

static void on_rev_add(kr_informer_t *inf, const kr_value_t *rev, void *ud)
{
    (void)inf;
    stsc_t *c = ud;
    const kr_value_t *set = resolve_ref(c, ns_of(rev), kr_controller_ref_of(rev));
    if (set != NULL)
        enqueue(c, set);
}

static void on_rev_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    if (old != cur)
        on_rev_add(inf, cur, ud);
}

/* ---- tasks ------------------------------------------------------------------------------ */

static sts_task_t *task_new(stsc_t *c, const char *key, const kr_value_t *set)
{
    sts_task_t *t = kr_synctask_new(&c->tasks, sizeof *t, key);
    t->c = c;
    t->set = kr_synctask_object(&t->base, set, "apps/v1", "StatefulSet");
    t->ns = ns_of(t->set);
    t->name = name_of(t->set);
    return t;
}

static void task_done(sts_task_t *t)
{
    kr_synctask_done(&t->base,
                     t->failed  ? KR_SYNCTASK_FAILED
                     : t->again ? KR_SYNCTASK_AGAIN
                                : KR_SYNCTASK_OK,
                     t->after_ms);
}

static sts_op_t *op_new(sts_task_t *t, const kr_value_t *pod)
{
    sts_op_t *op = kr_arena_alloc(t->base.a, sizeof *op);
    memset(op, 0, sizeof *op);
    op->t = t;
    if (pod != NULL) {
        op->pod = kr_arena_strdup(t->base.a, name_of(pod));
        const char *uid = uid_of(pod);
        op->uid = uid != NULL ? kr_arena_strdup(t->base.a, uid) : NULL;
    }
    return op;
}

static bool task_send(sts_task_t *t, const kr_request_t *req, kr_reply_fn fn, sts_op_t *op)
{
    if (kr_synctask_send(&t->base, req, fn, op, NULL) < 0) {
        t->failed = true;
        return false;
    }
    return true;
}

static bool op_reply(sts_op_t *op)
{
    return kr_synctask_reply(&op->t->base);
}

static void task_finish(sts_task_t *t);

static void maybe_finish(sts_task_t *t)
{
    if (t->base.pending == 0)
        task_finish(t);
}

static void on_status(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    sts_op_t *op = ud;
    if (!op_reply(op))
        return;
    sts_task_t *t = op->t;
    if (r->code == 200) {
        t->c->status_writes++;
    } else if (r->code != 404) {
        t->failed = true;
        if (r->code != 409)
            kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r),
                          "statefulset=\"%s\" op=status code=%d", t->base.key, r->code);
    }
    task_done(t);
}

/* updateStatefulSetStatus, when something changed, then the end of the key. */
static void task_finish(sts_task_t *t)
{
    stsc_t *c = t->c;
    const kr_value_t *cur = kr_informer_get(c->sets, t->ns, t->name);
    const char *uid = uid_of(t->set), *cuid = uid_of(cur);
    if (!t->write_status || cur == NULL || uid == NULL || cuid == NULL || strcmp(uid, cuid) != 0) {
        task_done(t);
        return;
    }
    kr_arena_t *a = t->base.a;
    const kr_value_t *st = kr_value_map_get(cur, "status");
    kr_value_t *ns = kr_value_copy(a, st);
    if (kr_value_type(ns) != KR_MAP)
        ns = kr_value_map(a);
    const sts_status_t *s = &t->status;
    const struct {
        const char *k;
        int64_t v;
    } f[] = {
        {"observedGeneration", kr_value_as_int(kr_value_get(t->set, "metadata.generation"), 0)},
        {"replicas", s->replicas},
        {"readyReplicas", s->ready},
        {"currentReplicas", s->current},
        {"updatedReplicas", s->updated},
        {"availableReplicas", s->available},
        {"collisionCount", t->collision_count}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        kr_value_map_set(a, ns, f[i].k, kr_value_int(a, f[i].v));
    kr_value_map_set(a, ns, "currentRevision", kr_value_str(a, s->current_revision));
    kr_value_map_set(a, ns, "updateRevision", kr_value_str(a, s->update_revision));
    if (kr_value_equal(ns, st)) {
        task_done(t);
        return;
    }
    kr_value_t *obj = kr_value_copy(a, cur);
    kr_value_map_set(a, obj, "status", ns);
    kr_request_t req = {
        .op = "update", .res = STS_RES, .ns = t->ns, .name = t->name, .sub = "status", .obj = obj};
    if (!task_send(t, &req, on_status, op_new(t, NULL)))
        task_done(t);
}

/* ---- writes -------------------------------------------------------------------------------- */

/* recordPodEvent's words. */
static void pod_event(sts_task_t *t, const char *verb, const char *pod, const kr_reply_t *r)
{
    char title[16];
    snprintf(title, sizeof title, "%c%s", verb[0] - 'a' + 'A', verb + 1);
    if (r == NULL)
        kr_events_record(t->c->ev, t->set, KR_EVENT_NORMAL,
                         strcmp(verb, "create") == 0   ? "SuccessfulCreate"
                         : strcmp(verb, "delete") == 0 ? "SuccessfulDelete"
                                                       : "SuccessfulUpdate",
                         "%s Pod %s in StatefulSet %s successful", verb, pod, t->name);
    else
        kr_events_record(t->c->ev, t->set, KR_EVENT_WARNING,
                         strcmp(verb, "create") == 0   ? "FailedCreate"
                         : strcmp(verb, "delete") == 0 ? "FailedDelete"
                                                       : "FailedUpdate",
                         "%s Pod %s in StatefulSet %s failed error: %s", verb, pod, t->name,
                         kr_reply_msg(r));
}

static void on_created(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    sts_op_t *op = ud;
    if (!op_reply(op))
        return;
    sts_task_t *t = op->t;
    stsc_t *c = t->c;
    if (r->code == 201 || r->code == 200) {
        c->creates++;
        pod_event(t, "create", op->pod, NULL);
    } else if (r->code != 504) {
        kr_expectations_creation_observed(c->exp, t->base.key);
        if (r->reason != KR_E_ALREADY_EXISTS) {
            /* an existing pod is no news: the cache was behind */
            c->failures++;
            t->failed = true;
            pod_event(t, "create", op->pod, r);
        }
    }
    maybe_finish(t);
}

static void on_deleted(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    sts_op_t *op = ud;
    if (!op_reply(op))
        return;
    sts_task_t *t = op->t;
    stsc_t *c = t->c;
    if (r->code == 200) {
        c->deletes++;
        pod_event(t, "delete", op->pod, NULL);
    } else {
        kr_expectations_deletion_observed(c->exp, t->base.key, op->uid);
        if (r->code != 404) {
            c->failures++;
            t->failed = true;
            pod_event(t, "delete", op->pod, r);
        }
    }
    maybe_finish(t);
}

static void on_updated(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    sts_op_t *op = ud;
    if (!op_reply(op))
        return;
    sts_task_t *t = op->t;
    if (r->code == 200) {
        t->c->updates++;
        pod_event(t, "update", op->pod, NULL);
    } else if (r->code != 404) {
        t->failed = true;
        pod_event(t, "update", op->pod, r);
    }
    maybe_finish(t);
}

/* Revision, claim and status writes: a failure retries the key. */
static void on_written(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    sts_op_t *op = ud;
    if (!op_reply(op))
        return;
    sts_task_t *t = op->t;
    if (r->code >= 300 && r->code != 404) {
        t->failed = true;
        if (r->code != 409)
            kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r), "statefulset=\"%s\" code=%d",
                          t->base.key, r->code);
    }
    maybe_finish(t);
}

static void send_delete(sts_task_t *t, const char *res, const kr_value_t *obj, kr_reply_fn fn)
{
    sts_op_t *op = op_new(t, obj);
    kr_value_t *opts = kr_value_map(t->base.a), *pre = kr_value_map(t->base.a);
    kr_value_map_set(t->base.a, pre, "uid", kr_value_str(t->base.a, op->uid ? op->uid : ""));
    kr_value_map_set(t->base.a, opts, "preconditions", pre);
    kr_request_t req = {.op = "delete", .res = res, .ns = t->ns, .name = op->pod, .opts = opts};
    if (!task_send(t, &req, fn, op) && fn == on_deleted)
        kr_expectations_deletion_observed(t->c->exp, t->base.key, op->uid);
}

/* ---- history (getStatefulSetRevisions, truncateHistory) ------------------------------------------ */

typedef struct {
    const char *uid;
    const kr_value_t **revs;
    size_t n;
} hist_t;

static bool hist_one(const kr_value_t *rev, void *ud)
{
    hist_t *h = ud;
    if (kr_controlled_by(rev, h->uid))
        h->revs[h->n++] = rev;
    return true;
}

/* SortControllerRevisions: by revision, then by name. */
static int rev_cmp(const void *a, const void *b)
{
    const kr_value_t *x = *(const kr_value_t *const *)a, *y = *(const kr_value_t *const *)b;
    int64_t rx = kr_value_map_int(x, "revision", 0), ry = kr_value_map_int(y, "revision", 0);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return strcmp(name_of(x), name_of(y));
}

static kr_value_t *new_revision(sts_task_t *t, const kr_value_t *set, const kr_value_t *data,
                                const char *name, const char *hash, int64_t revision)
{
    kr_arena_t *a = t->base.a;
    kr_value_t *rev = kr_value_map(a), *meta = kr_value_map(a), *refs = kr_value_array(a);
    kr_value_map_set(a, rev, "apiVersion", kr_value_str(a, "apps/v1"));
    kr_value_map_set(a, rev, "kind", kr_value_str(a, "ControllerRevision"));
    kr_value_map_set(a, meta, "name", kr_value_str(a, name));
    kr_value_map_set(a, meta, "namespace", kr_value_str(a, t->ns));
    kr_value_t *labels = kr_value_copy(a, kr_value_get(set, "spec.template.metadata.labels"));
    if (kr_value_type(labels) != KR_MAP)
        labels = kr_value_map(a);
    kr_value_map_set(a, labels, STS_REVISION_LABEL, kr_value_str(a, hash));
    kr_value_map_set(a, meta, "labels", labels);
    const kr_value_t *ann = kr_value_get(set, "metadata.annotations");
    if (kr_value_len(ann) > 0)
        kr_value_map_set(a, meta, "annotations", kr_value_copy(a, ann));
    kr_value_array_push(a, refs, kr_controller_ref_new(a, t->set));
    kr_value_map_set(a, meta, "ownerReferences", refs);
    kr_value_map_set(a, rev, "metadata", meta);
    kr_value_map_set(a, rev, "data", kr_value_copy(a, data));
    kr_value_map_set(a, rev, "revision", kr_value_int(a, revision));
    return rev;
}

/* The current and update revisions (in *cur, *upd), or false when a
 * history write was sent first (the sync ends there). */
static bool settle_history(sts_task_t *t, const kr_value_t *set, hist_t *h, const kr_value_t **cur,
                           const kr_value_t **upd)
{
    stsc_t *c = t->c;
    kr_arena_t *a = t->base.a;
    h->uid = uid_of(set);
    h->revs = calloc(kr_informer_len(c->revs) + 1, sizeof *h->revs);
    if (h->revs == NULL)
        abort();
    kr_informer_each(c->revs, t->ns, hist_one, h);
    if (h->n > 1)
        qsort(h->revs, h->n, sizeof *h->revs, rev_cmp);
    kr_value_t *data = sts_revision_data(a, set);
    int64_t next = h->n > 0 ? kr_value_map_int(h->revs[h->n - 1], "revision", 0) + 1 : 1;
    const kr_value_t *equal = NULL;
    for (size_t i = 0; i < h->n; i++)
        if (kr_value_equal(kr_value_map_get(h->revs[i], "data"), data))
            equal = h->revs[i];
    t->collision_count = kr_value_as_int(kr_value_get(set, "status.collisionCount"), 0);
    if (equal != NULL && equal == h->revs[h->n - 1]) {
        *upd = equal;
    } else if (equal != NULL) {
        /* a rollback: the equal revision becomes the newest */
        kr_value_t *obj = kr_value_copy(a, equal);
        kr_value_map_set(a, obj, "revision", kr_value_int(a, next));
        kr_request_t req = {
            .op = "update", .res = REV_RES, .ns = t->ns, .name = name_of(equal), .obj = obj};
        task_send(t, &req, on_written, op_new(t, NULL));
        t->again = true;
        return false;
    } else {
        /* CreateControllerRevision: a taken name with other data is a
         * collision; the next count gives another name */
        int64_t cc = t->collision_count;
        char hash[16];
        const char *name = NULL;
        for (int i = 0; i < 64; i++, cc++) {
            sts_revision_hash(data, cc, hash, sizeof hash);
            name = kr_arena_printf(a, "%s-%s", t->name, hash);
            const kr_value_t *taken = kr_informer_get(c->revs, t->ns, name);
            if (taken == NULL)
                break;
            if (kr_value_equal(kr_value_map_get(taken, "data"), data)) {
                name = NULL; /* made earlier, not ours: upstream takes it */
                *upd = taken;
                break;
            }
        }
        if (name != NULL) {
            kr_request_t req = {.op = "create",
                                .res = REV_RES,
                                .ns = t->ns,
                                .obj = new_revision(t, set, data, name, hash, next)};
            if (task_send(t, &req, on_written, op_new(t, NULL)))
                c->revisions++;
            if (cc != t->collision_count) {
                kr_value_t *obj = kr_value_copy(a, set);
                kr_value_t *st = kr_value_map_get(obj, "status");
                if (kr_value_type(st) != KR_MAP) {
                    st = kr_value_map(a);
                    kr_value_map_set(a, obj, "status", st);
                }
                kr_value_map_set(a, st, "collisionCount", kr_value_int(a, cc));
                kr_request_t sreq = {.op = "update",
                                     .res = STS_RES,
                                     .ns = t->ns,
                                     .name = t->name,
                                     .sub = "status",
                                     .obj = obj};
                task_send(t, &sreq, on_written, op_new(t, NULL));
            }
            t->again = true;
            return false;
        }
    }
    const char *cur_name = kr_value_as_str(kr_value_get(set, "status.currentRevision"));
    *cur = *upd;
    for (size_t i = 0; cur_name != NULL && i < h->n; i++)
        if (strcmp(name_of(h->revs[i]), cur_name) == 0)
            *cur = h->revs[i];
    return true;
}

/* ---- pods ------------------------------------------------------------------------------------ */

typedef struct {
    const char *uid, *set_name;
    kr_labelsel_t *sel;
    bool deleting;
    const kr_value_t **mine, **adopt, **release;
    size_t nmine, nadopt, nrelease, cap_mine, cap_adopt, cap_release;
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

/* ClaimPods with the isMemberOf filter. */
static bool claim_one(const kr_value_t *pod, void *ud)
{
    claim_t *cl = ud;
    const kr_value_t *ref = kr_controller_ref_of(pod);
    bool match = kr_labelsel_match(cl->sel, kr_value_get(pod, "metadata.labels")) &&
                 sts_is_member(cl->set_name, name_of(pod));
    if (ref != NULL) {
        const char *ruid = kr_value_map_str(ref, "uid");
        if (ruid == NULL || strcmp(ruid, cl->uid) != 0)
            return true;
        if (match)
            push_ptr(&cl->mine, &cl->nmine, &cl->cap_mine, pod);
        else if (!cl->deleting)
            push_ptr(&cl->release, &cl->nrelease, &cl->cap_release, pod);
        return true;
    }
    if (match && !cl->deleting && kr_value_get(pod, "metadata.deletionTimestamp") == NULL) {
        push_ptr(&cl->adopt, &cl->nadopt, &cl->cap_adopt, pod);
        push_ptr(&cl->mine, &cl->nmine, &cl->cap_mine, pod);
    }
    return true;
}

static void send_claims(sts_task_t *t, const kr_value_t *const *pods, size_t n, bool adopt)
{
    kr_arena_t *a = t->base.a;
    kr_value_t *opts = kr_value_map(a);
    kr_value_map_set(a, opts, "patchType", kr_value_str(a, SMP));
    for (size_t i = 0; i < n; i++) {
        kr_value_t *patch = kr_controller_ref_patch(a, t->set, pods[i], adopt);
        sts_op_t *op = op_new(t, pods[i]);
        kr_request_t req = {.op = "patch",
                            .res = POD_RES,
                            .ns = t->ns,
                            .name = op->pod,
                            .obj = patch,
                            .opts = opts};
        if (task_send(t, &req, on_written, op)) {
            if (adopt)
                t->c->adopts++;
            else
                t->c->releases++;
        }
    }
}

/* UpdateStatefulPod for identity: the pod-name and pod-index labels. */
static void send_relabel(sts_task_t *t, const kr_value_t *pod)
{
    kr_arena_t *a = t->base.a;
    kr_value_t *patch = kr_value_map(a), *meta = kr_value_map(a), *labels = kr_value_map(a);
    const char *name = name_of(pod);
    kr_value_map_set(a, labels, STS_POD_NAME_LABEL, kr_value_str(a, name));
    kr_value_map_set(a, labels, STS_POD_INDEX_LABEL,
                     kr_value_str(a, kr_arena_printf(a, "%" PRId64, sts_ordinal(name, NULL))));
    kr_value_map_set(a, meta, "labels", labels);
    kr_value_map_set(a, patch, "metadata", meta);
    kr_value_t *opts = kr_value_map(a);
    kr_value_map_set(a, opts, "patchType", kr_value_str(a, "application/merge-patch+json"));
    sts_op_t *op = op_new(t, pod);
    kr_request_t req = {
        .op = "patch", .res = POD_RES, .ns = t->ns, .name = op->pod, .obj = patch, .opts = opts};
    task_send(t, &req, on_updated, op);
}

/* ---- sync ------------------------------------------------------------------------------------- */

static void run_actions(sts_task_t *t, const sts_action_t *acts, size_t n, uint64_t now_ms)
{
    stsc_t *c = t->c;
    size_t adds = 0, dels = 0;
    for (size_t i = 0; i < n; i++) {
        if (acts[i].kind == STS_CREATE)
            adds++;
        else if (acts[i].kind == STS_DELETE)
            dels++;
    }
    const char **uids = kr_arena_alloc(t->base.a, (dels ? dels : 1) * sizeof *uids);
    dels = 0;
    for (size_t i = 0; i < n; i++)
        if (acts[i].kind == STS_DELETE)
            uids[dels++] = kr_arena_strdup(t->base.a, uid_of(acts[i].pod));
    if (adds + dels > 0)
        kr_expectations_set(c->exp, t->base.key, (int64_t)adds, uids, dels, now_ms);
    for (size_t i = 0; i < n; i++) {
        const sts_action_t *ac = &acts[i];
        if (ac->kind == STS_CREATE) {
            kr_request_t req = {.op = "create", .res = POD_RES, .ns = t->ns, .obj = ac->pod};
            if (!task_send(t, &req, on_created, op_new(t, ac->pod)))
                kr_expectations_creation_observed(c->exp, t->base.key);
        } else if (ac->kind == STS_DELETE) {
            if (strcmp(ac->why, "failed") == 0)
                kr_events_record(c->ev, t->set, KR_EVENT_WARNING, "RecreatingFailedPod",
                                 "StatefulSet %s/%s is recreating failed Pod %s", t->ns, t->name,
                                 name_of(ac->pod));
            else if (strcmp(ac->why, "succeeded") == 0)
                kr_events_record(c->ev, t->set, KR_EVENT_NORMAL, "RecreatingTerminatedPod",
                                 "StatefulSet %s/%s is recreating terminated Pod %s", t->ns,
                                 t->name, name_of(ac->pod));
            send_delete(t, POD_RES, ac->pod, on_deleted);
        } else {
            send_relabel(t, ac->pod);
        }
    }
}

static bool live_revision(const kr_value_t *const *pods, size_t n, const sts_status_t *st,
                          const char *name)
{
    if (strcmp(name, st->current_revision) == 0 || strcmp(name, st->update_revision) == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        const char *r =
            kr_value_map_str(kr_value_get(pods[i], "metadata.labels"), STS_REVISION_LABEL);
        if (r != NULL && strcmp(r, name) == 0)
            return true;
    }
    return false;
}

static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    stsc_t *c = ud;
    if (!kr_informer_has_synced(c->sets) || !kr_informer_has_synced(c->pods) ||
        !kr_informer_has_synced(c->revs)) {
        kr_workqueue_add_after(q, key, STS_WAIT_SYNCED, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    c->syncs++;
    const kr_value_t *set = kr_informer_get_key(c->sets, key);
    if (set == NULL) {
        kr_expectations_delete(c->exp, key);
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    sts_task_t *t = task_new(c, key, set);
    kr_error_t err;
    claim_t cl = {0};
    cl.sel = kr_labelsel_from_object(kr_value_get(set, "spec.selector"), &err);
    if (cl.sel == NULL) {
        kr_plugin_log(c->ctx, KR_LOG_WARN, err.message, "statefulset=\"%s\"", key);
        task_done(t);
        return;
    }
    hist_t h = {0};
    const kr_value_t *cur = NULL, *upd = NULL;
    if (!settle_history(t, set, &h, &cur, &upd)) {
        free(h.revs);
        kr_labelsel_destroy(&cl.sel);
        maybe_finish(t);
        return;
    }
    cl.uid = uid_of(set) ? uid_of(set) : "";
    cl.set_name = t->name;
    cl.deleting = kr_value_get(set, "metadata.deletionTimestamp") != NULL;
    kr_informer_each(c->pods, t->ns, claim_one, &cl);
    send_claims(t, cl.adopt, cl.nadopt, true);
    send_claims(t, cl.release, cl.nrelease, false);

    uint64_t now_ms = kr_time_ms();
    sts_plan_in_t in = {
        .set = t->set,
        .current_revision = kr_arena_strdup(t->base.a, name_of(cur)),
        .update_revision = kr_arena_strdup(t->base.a, name_of(upd)),
        .current_template = sts_revision_template(t->base.a, cur),
        .update_template = kr_value_get(t->set, "spec.template"),
        .pods = cl.mine,
        .npods = cl.nmine,
        .now_s = kr_time_now_ns() / 1000000000,
    };
    sts_action_t *acts;
    size_t nacts = sts_plan(t->base.a, &in, &acts, &t->status);
    if (kr_expectations_satisfied(c->exp, key, now_ms))
        run_actions(t, acts, nacts, now_ms);
    t->write_status = true;
    /* truncateHistory: the oldest revisions beyond the limit no pod uses */
    int64_t limit = kr_value_as_int(kr_value_get(set, "spec.revisionHistoryLimit"), 10);
    size_t nhist = 0;
    for (size_t i = 0; i < h.n; i++)
        if (!live_revision(cl.mine, cl.nmine, &t->status, name_of(h.revs[i])))
            nhist++;
    for (size_t i = 0; (int64_t)nhist > limit && i < h.n; i++)
        if (!live_revision(cl.mine, cl.nmine, &t->status, name_of(h.revs[i]))) {
            send_delete(t, REV_RES, h.revs[i], on_written);
            nhist--;
        }
    int64_t mrs = kr_value_as_int(kr_value_get(set, "spec.minReadySeconds"), 0);
    if (mrs > 0 && t->status.ready != t->status.available)
        t->after_ms = (uint64_t)mrs * 1000;
    free(h.revs);
    free(cl.mine);
    free(cl.adopt);
    free(cl.release);
    kr_labelsel_destroy(&cl.sel);
    maybe_finish(t);
}

/* ---- stats op ---------------------------------------------------------------------------------- */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    stsc_t *c = ud;
    const kr_stat_t n[] = {{"statefulsets", kr_informer_len(c->sets)},
                           {"pods", kr_informer_len(c->pods)},
                           {"syncs", c->syncs},
                           {"creates", c->creates},
                           {"deletes", c->deletes},
                           {"updates", c->updates},
                           {"adopts", c->adopts},
                           {"releases", c->releases},
                           {"revisions", c->revisions},
                           {"status_writes", c->status_writes},
                           {"failures", c->failures}};
    kr_stats_reply(call, n, sizeof n / sizeof n[0]);
}

/* ---- life cycle -------------------------------------------------------------------------------- */

static void sts_fini(void *instance)
{
    stsc_t *c = instance;
    if (c->q != NULL)
        kr_workqueue_shutdown(c->q);
    kr_informer_destroy(&c->sets);
    kr_informer_destroy(&c->pods);
    kr_informer_destroy(&c->revs);
    kr_synctasks_detach(&c->tasks);
    kr_workqueue_destroy(&c->q);
    kr_events_destroy(&c->ev);
    kr_expectations_destroy(&c->exp);
    free(c);
}

static void *sts_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct sts_conf *conf = config;
    if (kr_config_check_int("workers", conf->workers, 1, 256, err) < 0)
        return NULL;
    stsc_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->conf = *conf;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    c->exp = kr_expectations_new(0);
    c->tasks = (kr_synctasks_t){
        .bus = c->bus, .ctx = ctx, .label = "statefulset", .timeout_ms = STS_TIMEOUT_MS};
    kr_workqueue_opts_t qo = {
        .name = kr_plugin_name(ctx), .max_in_flight = (unsigned)conf->workers, .qps = -1};
    kr_informer_opts_t so = {
        .res = STS_RES,
        .resync_ms = (uint64_t)conf->resync_ms,
        .name = "statefulset-statefulsets",
        .handlers = {on_set_add, on_set_update, on_set_add, c},
    };
    kr_informer_opts_t po = {
        .res = POD_RES,
        .name = "statefulset-pods",
        .page_size = 1000,
        .handlers = {on_pod_add, on_pod_update, on_pod_delete, c},
    };
    kr_informer_opts_t ro = {
        .res = REV_RES,
        .name = "statefulset-revisions",
        .handlers = {on_rev_add, on_rev_update, on_rev_add, c},
    };
    if (kr_controller_revisions_register(c->bus, err) < 0 ||
        (c->ev = kr_events_new(c->bus, &(kr_events_opts_t){.component = "statefulset-controller"},
                               err)) == NULL ||
        (c->q = kr_workqueue_new(c->loop, &qo, sync_key, c, err)) == NULL ||
        (c->sets = kr_informer_new(c->loop, c->bus, &so, err)) == NULL ||
        (c->pods = kr_informer_new(c->loop, c->bus, &po, err)) == NULL ||
        (c->revs = kr_informer_new(c->loop, c->bus, &ro, err)) == NULL ||
        kr_informer_set_transform(c->pods, pod_transform, NULL, err) < 0 ||
        kr_informer_start(c->sets, err) < 0 || kr_informer_start(c->pods, err) < 0 ||
        kr_informer_start(c->revs, err) < 0 ||
        kr_bus_serve(c->bus, "controller.statefulset.stats", NULL, on_stats, c, 5000, err) < 0) {
        sts_fini(c);
        return NULL;
    }
    c->tasks.q = c->q;
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "statefulset",
    .version = "0.1.0",
    .description = "runs the ordered, stably named pods of every StatefulSet (upstream's "
                   "StatefulSetController)",
    .config = sts_table,
    .config_size = sizeof(struct sts_conf),
    .init = sts_init,
    .fini = sts_fini,
};
