/* controller-job: runs every Job's pods to completion, after upstream's
 * pkg/controller/job/job_controller.go (and the TTL-after-finished
 * controller for ttlSecondsAfterFinished).
 *
 * - Two informers (jobs, pods) feed one queue of Job keys; a pod finds its
 *   Job by its controller reference and counts the creations and deletions
 *   the Job's expectations wait for.
 * - A sync reads both caches.  The pods the Job controls are active
 *   (neither terminal nor being deleted), terminating, succeeded or failed.
 *   Pods are created with the batch.kubernetes.io/job-tracking
 *   finalizer and counted as upstream does (trackJobStatusAndRemoveFinalizers),
 *   one step per sync, each after the previous one is in the stored status:
 *   a finished pod (failed: Failed, or being deleted) is recorded in
 *   status.uncountedTerminatedPods (an Indexed success in completedIndexes),
 *   then loses its finalizer, then is counted in succeeded/failed.  A pod
 *   with the finalizer and no Job (or a finished one) loses it through its
 *   own "pod:<ns>/<name>" key (the orphan queue); pods the controller
 *   deletes because too many run lose it first and never count as failed.
 * - Failure first (failed > backoffLimit, restarts past it with
 *   restartPolicy OnFailure, activeDeadlineSeconds passed), then success
 *   (completions reached, or a first success with no completions and no
 *   pod left): the interim FailureTarget or SuccessCriteriaMet condition is
 *   written, the remaining active pods are deleted, and once no pod runs or
 *   terminates the terminal Failed or Complete condition follows with the
 *   same reason, as upstream does since 1.31.
 * - Otherwise, when its expectations are satisfied, the sync deletes what
 *   runs beyond wantActive (suspend: everything) and creates what is
 *   missing, after the pod failure back-off (10 s doubling per failure
 *   since the last success, at most 6 min), in slow-start batches of at
 *   most 500; Indexed Jobs create the lowest missing indexes.
 * - Then the status goes through jobs/status when it changed.  A finished
 *   Job with ttlSecondsAfterFinished is deleted (propagation Foreground,
 *   its uid as precondition, as the TTL-after-finished controller does)
 *   once that many seconds have passed since it finished.
 *
 * A key stays in flight until every request of its sync has been
 * answered. */
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

#include "job_logic.h"

#define JOB_RES         "batch/v1/jobs"
#define POD_RES         "v1/pods"
#define JOB_TIMEOUT_MS  10000
#define JOB_WAIT_SYNCED 100
#define TRACKING        "batch.kubernetes.io/job-tracking"
#define ORPHAN_PREFIX   "pod:"
#define SMP             "application/strategic-merge-patch+json"

struct job_conf {
    int64_t workers;
    int64_t resync_ms;
};

static const kr_config_entry_t job_table[] = {
    {KR_CFG_INT, "workers", "5", offsetof(struct job_conf, workers),
     "Jobs synced at once (--concurrent-job-syncs)"},
    {KR_CFG_DURATION, "resync", "0s", offsetof(struct job_conf, resync_ms),
     "how often every Job is synced again (0: only on changes and timers)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct jc jc_t;

/* What a sync decided, and the writes it sends (kraal/synctask.h: fini
 * detaches a task, its last reply frees it). */
typedef struct job_task {
    kr_synctask_t base;
    jc_t *c;
    kr_value_t *job; /* the Job at sync time, apiVersion and kind set */
    const char *ns, *name;
    kr_value_t **create; /* pods to create, in order */
    int64_t ncreate, next_create, batch, created;
    int64_t deleted;
    const char *manage_err;
    kr_value_t *status;  /* the status to write, counts before the writes */
    int64_t active_base; /* active pods minus the ones deleted */
    uint64_t after_ms;   /* sync again after this (0: no timer) */
} job_task_t;

typedef struct job_op {
    job_task_t *t;
    const char *pod, *uid;
} job_op_t;

struct jc {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct job_conf conf;
    kr_informer_t *jobs, *pods;
    kr_workqueue_t *q;
    kr_expectations_t *exp;
    kr_events_t *ev;
    kr_synctasks_t tasks;
};

static void task_create_batch(job_task_t *t);
static void task_finish(job_task_t *t);

/* ---- keys and owners ------------------------------------------------------- */

static const char *ns_of(const kr_value_t *obj)
{
    const char *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    return ns != NULL ? ns : "";
}

static void enqueue(jc_t *c, const kr_value_t *job)
{
    char key[600];
    if (kr_informer_key(job, key, sizeof key) > 0)
        kr_workqueue_add(c->q, key, NULL);
}

/* The Job a pod's controller reference names, when cached with that uid. */
static const kr_value_t *job_of_pod(jc_t *c, const kr_value_t *pod)
{
    return kr_controller_ref_resolve(c->jobs, ns_of(pod), kr_controller_ref_of(pod), "Job",
                                     "batch/");
}

static bool has_tracking(const kr_value_t *pod)
{
    const kr_value_t *fins = kr_value_get(pod, "metadata.finalizers");
    for (size_t i = 0; i < kr_value_len(fins); i++) {
        const char *f = kr_value_as_str(kr_value_array_get(fins, i));
        if (f != NULL && strcmp(f, TRACKING) == 0)
            return true;
    }
    return false;
}

static bool job_finished(const kr_value_t *job)
{
    const kr_value_t *conds = kr_value_get(job, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *cd = kr_value_array_get(conds, i);
        const char *ty = kr_value_map_str(cd, "type"), *st = kr_value_map_str(cd, "status");
        if (ty != NULL && st != NULL && strcmp(st, "True") == 0 &&
            (strcmp(ty, "Complete") == 0 || strcmp(ty, "Failed") == 0))
            return true;
    }
    return false;
}

/* A pod that keeps the tracking finalizer with no Job (or a finished one)
 * to count it: its own key, whose sync removes the finalizer (upstream's
 * orphan queue). */
static void enqueue_orphan(jc_t *c, const kr_value_t *pod, const kr_value_t *job)
{
    char key[600];
    if (!has_tracking(pod) || (job != NULL && !job_finished(job)))
        return;
    memcpy(key, ORPHAN_PREFIX, sizeof ORPHAN_PREFIX - 1);
    if (kr_informer_key(pod, key + sizeof ORPHAN_PREFIX - 1,
                        sizeof key - sizeof ORPHAN_PREFIX + 1) > 0)
        kr_workqueue_add(c->q, key, NULL);
}

/* ---- pod events ------------------------------------------------------------ */

static void pod_deleted(jc_t *c, const kr_value_t *pod)
{
    const kr_value_t *job = job_of_pod(c, pod);
    enqueue_orphan(c, pod, job);
    char key[600];
    if (job == NULL || kr_informer_key(job, key, sizeof key) <= 0)
        return;
    kr_expectations_deletion_observed(c->exp, key,
                                      kr_value_as_str(kr_value_get(pod, "metadata.uid")));
    kr_workqueue_add(c->q, key, NULL);
}

static void on_pod_add(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    jc_t *c = ud;
    if (kr_value_get(pod, "metadata.deletionTimestamp") != NULL) {
        pod_deleted(c, pod);
        return;
    }
    const kr_value_t *job = job_of_pod(c, pod);
    enqueue_orphan(c, pod, job);
    char key[600];
    if (job != NULL && kr_informer_key(job, key, sizeof key) > 0) {
        kr_expectations_creation_observed(c->exp, key);
        kr_workqueue_add(c->q, key, NULL);
    }
}

static void on_pod_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    (void)inf;
    jc_t *c = ud;
    if (old == cur)
        return;
    if (kr_value_get(cur, "metadata.deletionTimestamp") != NULL &&
        kr_value_get(old, "metadata.deletionTimestamp") == NULL) {
        pod_deleted(c, cur);
        return;
    }
    const kr_value_t *job = job_of_pod(c, cur);
    enqueue_orphan(c, cur, job);
    if (job != NULL)
        enqueue(c, job);
    const kr_value_t *ojob = job_of_pod(c, old);
    if (ojob != NULL && ojob != job)
        enqueue(c, ojob);
}

static void on_pod_delete(kr_informer_t *inf, const kr_value_t *pod, void *ud)
{
    (void)inf;
    /* by uid: a deletion already seen with its deletionTimestamp does not
     * count twice */
    pod_deleted(ud, pod);
}

static void keep(kr_arena_t *a, kr_value_t *dst, const kr_value_t *src, const char *key)
{
    kr_value_t *v = kr_value_map_get(src, key);
    if (v != NULL)
        kr_value_map_set(a, dst, key, v);
}

/* The container statuses as the sync reads them: restarts and when each
 * terminated. */
static kr_value_t *keep_statuses(kr_arena_t *a, const kr_value_t *cs)
{
    kr_value_t *arr = kr_value_array(a);
    for (size_t i = 0; i < kr_value_len(cs); i++) {
        const kr_value_t *s = kr_value_array_get(cs, i);
        kr_value_t *e = kr_value_map(a);
        keep(a, e, s, "restartCount");
        kr_value_t *fin = kr_value_get(s, "state.terminated.finishedAt");
        if (fin != NULL) {
            kr_value_t *st = kr_value_map(a), *term = kr_value_map(a);
            kr_value_map_set(a, term, "finishedAt", fin);
            kr_value_map_set(a, st, "terminated", term);
            kr_value_map_set(a, e, "state", st);
        }
        kr_value_array_push(a, arr, e);
    }
    return arr;
}

/* What the pod cache keeps: what the sync, the deletion order and the
 * handlers read. */
static const kr_value_t *pod_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const meta_keys[] = {"name",
                                            "namespace",
                                            "uid",
                                            "resourceVersion",
                                            "ownerReferences",
                                            "finalizers",
                                            "deletionTimestamp",
                                            "creationTimestamp"};
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a);
    for (size_t i = 0; i < sizeof meta_keys / sizeof meta_keys[0]; i++)
        keep(a, m, meta, meta_keys[i]);
    static const char *const idx_in[] = {"annotations", "labels"};
    for (size_t i = 0; i < 2; i++) {
        kr_value_t *v = kr_value_map_get(kr_value_map_get(meta, idx_in[i]), JOB_INDEX_ANNOTATION);
        if (v != NULL) {
            kr_value_t *mm = kr_value_map(a);
            kr_value_map_set(a, mm, JOB_INDEX_ANNOTATION, v);
            kr_value_map_set(a, m, idx_in[i], mm);
        }
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
    keep(a, s, st, "phase");
    keep(a, s, st, "conditions");
    static const char *const lists[] = {"containerStatuses", "initContainerStatuses"};
    for (size_t i = 0; i < 2; i++) {
        const kr_value_t *cs = kr_value_map_get(st, lists[i]);
        if (kr_value_len(cs) > 0)
            kr_value_map_set(a, s, lists[i], keep_statuses(a, cs));
    }
    kr_value_map_set(a, out, "status", s);
    return out;
}

/* ---- Job events -------------------------------------------------------------- */

static void on_job_add(kr_informer_t *inf, const kr_value_t *job, void *ud)
{
    (void)inf;
    enqueue(ud, job);
}

typedef struct {
    jc_t *c;
    const char *uid;
} orphans_t;

static bool orphan_one(const kr_value_t *pod, void *ud)
{
    orphans_t *o = ud;
    if (kr_controlled_by(pod, o->uid))
        enqueue_orphan(o->c, pod, NULL);
    return true;
}

/* A deleted Job's pods keep no tracking finalizer. */
static void on_job_delete(kr_informer_t *inf, const kr_value_t *job, void *ud)
{
    (void)inf;
    orphans_t o = {ud, kr_value_as_str(kr_value_get(job, "metadata.uid"))};
    enqueue(ud, job);
    if (o.uid != NULL)
        kr_informer_each(((jc_t *)ud)->pods, ns_of(job), orphan_one, &o);
}

static void on_job_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    (void)inf;
    (void)old;
    enqueue(ud, cur);
}

/* ---- tasks ------------------------------------------------------------------- */

static job_task_t *task_new(jc_t *c, const char *key, const kr_value_t *job)
{
    job_task_t *t = kr_synctask_new(&c->tasks, sizeof *t, key);
    t->c = c;
    t->job = kr_synctask_object(&t->base, job, "batch/v1", "Job");
    t->ns = kr_value_as_str(kr_value_get(t->job, "metadata.namespace"));
    t->name = kr_value_as_str(kr_value_get(t->job, "metadata.name"));
    return t;
}

static void task_done(job_task_t *t, bool failed)
{
    kr_synctask_done(&t->base, failed ? KR_SYNCTASK_FAILED : KR_SYNCTASK_OK, t->after_ms);
}

static job_op_t *op_new(job_task_t *t)
{
    job_op_t *op = kr_arena_alloc(t->base.a, sizeof *op);
    memset(op, 0, sizeof *op);
    op->t = t;
    return op;
}

static bool task_send(job_task_t *t, const kr_request_t *req, kr_reply_fn fn, job_op_t *op)
{
    return kr_synctask_send(&t->base, req, fn, op, NULL) == 0;
}

/* A reply came; false when fini detached the task. */
static bool op_reply(job_op_t *op)
{
    return kr_synctask_reply(&op->t->base);
}

static void maybe_finish(job_task_t *t)
{
    if (t->base.pending > 0)
        return;
    if (t->next_create < t->ncreate && t->manage_err == NULL) {
        task_create_batch(t);
        if (t->base.pending > 0)
            return;
    }
    task_finish(t);
}

static void on_created(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    job_op_t *op = ud;
    if (!op_reply(op))
        return;
    job_task_t *t = op->t;
    jc_t *c = t->c;
    if (r->code == 201 || r->code == 200) {
        t->created++;
        kr_events_record(c->ev, t->job, KR_EVENT_NORMAL, "SuccessfulCreate", "Created pod: %s",
                         kr_value_as_str(kr_value_get(r->obj, "metadata.name")));
    } else if (r->code == 504) {
        /* the pod may exist: its creation will be seen, or the expectations
         * expire */
        t->created++;
    } else {
        const char *msg = kr_reply_msg(r);
        kr_events_record(c->ev, t->job, KR_EVENT_WARNING, "FailedCreate", "Error creating: %s",
                         msg);
        kr_expectations_creation_observed(c->exp, t->base.key);
        if (t->manage_err == NULL)
            t->manage_err = kr_arena_strdup(t->base.a, msg);
        kr_plugin_log(c->ctx, KR_LOG_INFO, msg, "job=\"%s\" op=create code=%d", t->base.key,
                      r->code);
    }
    if (t->base.pending > 0)
        return;
    if (t->manage_err != NULL) {
        /* the rest of the slow start is skipped: not expected any more */
        for (; t->next_create < t->ncreate; t->next_create++)
            kr_expectations_creation_observed(c->exp, t->base.key);
    }
    maybe_finish(t);
}

/* slowStartBatch: 1, 2, 4, ... pods at once. */
static void task_create_batch(job_task_t *t)
{
    t->batch = job_slow_start_next(t->batch, t->ncreate - t->next_create);
    for (int64_t i = 0; i < t->batch; i++) {
        job_op_t *op = op_new(t);
        kr_request_t req = {
            .op = "create", .res = POD_RES, .ns = t->ns, .obj = t->create[t->next_create++]};
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
    job_op_t *op = ud;
    if (!op_reply(op))
        return;
    job_task_t *t = op->t;
    jc_t *c = t->c;
    if (r->code == 200) {
        t->deleted++;
        kr_events_record(c->ev, t->job, KR_EVENT_NORMAL, "SuccessfulDelete", "Deleted pod: %s",
                         op->pod);
    } else {
        kr_expectations_deletion_observed(c->exp, t->base.key, op->uid);
        if (r->code != 404) {
            const char *msg = kr_reply_msg(r);
            kr_events_record(c->ev, t->job, KR_EVENT_WARNING, "FailedDelete", "Error deleting: %s",
                             msg);
            if (t->manage_err == NULL)
                t->manage_err = kr_arena_strdup(t->base.a, msg);
        }
    }
    maybe_finish(t);
}

static void on_status(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    job_op_t *op = ud;
    if (!op_reply(op))
        return;
    job_task_t *t = op->t;
    bool failed = t->manage_err != NULL;
    if (r->code != 200 && r->code != 404) {
        failed = true;
        if (r->code != 409)
            kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r), "job=\"%s\" op=status code=%d",
                          t->base.key, r->code);
    }
    task_done(t, failed);
}

static void on_ttl_deleted(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    job_op_t *op = ud;
    if (!op_reply(op))
        return;
    job_task_t *t = op->t;
    /* 409: the precondition failed, a new Job of that name; 404: gone */
    bool failed = r->code != 200 && r->code != 404 && r->code != 409;
    if (failed)
        kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r), "job=\"%s\" op=ttl-delete code=%d",
                      t->base.key, r->code);
    task_done(t, failed);
}

/* ---- status ------------------------------------------------------------------ */

static const kr_value_t *find_cond(const kr_value_t *status, const char *type)
{
    const kr_value_t *conds = kr_value_map_get(status, "conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *cd = kr_value_array_get(conds, i);
        const char *ty = kr_value_map_str(cd, "type");
        if (ty != NULL && strcmp(ty, type) == 0)
            return cd;
    }
    return NULL;
}

static bool cond_true(const kr_value_t *status, const char *type)
{
    const char *s = kr_value_map_str(find_cond(status, type), "status");
    return s != NULL && strcmp(s, "True") == 0;
}

/* Sets a condition in `conds` (an array in `a`): a new one, or the
 * existing one of that type with a new status (lastTransitionTime moves
 * only when the status changes, as upstream's updateConditions does). */
static void set_cond(kr_arena_t *a, kr_value_t *conds, const char *type, const char *status,
                     const char *reason, const char *message, const char *now)
{
    kr_value_t *cd = NULL;
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const char *ty = kr_value_map_str(kr_value_array_get(conds, i), "type");
        if (ty != NULL && strcmp(ty, type) == 0)
            cd = kr_value_array_get(conds, i);
    }
    if (cd != NULL) {
        const char *old = kr_value_map_str(cd, "status");
        if (old != NULL && strcmp(old, status) == 0)
            return;
    } else {
        cd = kr_value_map(a);
        kr_value_map_set(a, cd, "type", kr_value_str(a, type));
        kr_value_array_push(a, conds, cd);
    }
    kr_value_map_set(a, cd, "status", kr_value_str(a, status));
    kr_value_map_set(a, cd, "lastProbeTime", kr_value_str(a, now));
    kr_value_map_set(a, cd, "lastTransitionTime", kr_value_str(a, now));
    kr_value_map_set(a, cd, "reason", kr_value_str(a, reason));
    kr_value_map_set(a, cd, "message", kr_value_str(a, message));
}

static void set_int(kr_arena_t *a, kr_value_t *m, const char *key, int64_t v, bool omit_zero)
{
    if (v == 0 && omit_zero)
        kr_value_map_del(m, key);
    else
        kr_value_map_set(a, m, key, kr_value_int(a, v));
}

/* The status write, if the status changed, then the end of the key. */
static void task_finish(job_task_t *t)
{
    jc_t *c = t->c;
    if (t->status == NULL) {
        task_done(t, t->manage_err != NULL);
        return;
    }
    const kr_value_t *cur = kr_informer_get(c->jobs, t->ns, t->name);
    const char *uid = kr_value_as_str(kr_value_get(t->job, "metadata.uid"));
    const char *cuid = kr_value_as_str(kr_value_get(cur, "metadata.uid"));
    if (cur == NULL || uid == NULL || cuid == NULL || strcmp(uid, cuid) != 0) {
        task_done(t, false);
        return;
    }
    /* upstream counts the pods it just created as active */
    set_int(t->base.a, t->status, "active", t->active_base + t->created, true);
    const kr_value_t *old = kr_value_map_get(cur, "status");
    if (kr_value_equal(old, t->status)) {
        task_done(t, t->manage_err != NULL);
        return;
    }
    kr_value_t *obj = kr_value_copy(t->base.a, cur);
    kr_value_map_set(t->base.a, obj, "status", t->status);
    kr_request_t req = {
        .op = "update", .res = JOB_RES, .ns = t->ns, .name = t->name, .sub = "status", .obj = obj};
    if (!task_send(t, &req, on_status, op_new(t)))
        task_done(t, true);
}

/* ---- sync -------------------------------------------------------------------- */

typedef struct {
    const char *uid;
    const kr_value_t **active, **succeeded, **failed, **all;
    size_t nactive, nsucceeded, nfailed, nall, cap_a, cap_s, cap_f, cap_all;
    int64_t ready, terminating;
} pods_t;

static void push(const kr_value_t ***arr, size_t *n, size_t *cap, const kr_value_t *v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *arr = realloc(*arr, *cap * sizeof **arr);
        if (*arr == NULL)
            abort();
    }
    (*arr)[(*n)++] = v;
}

static bool classify(const kr_value_t *pod, void *ud)
{
    pods_t *p = ud;
    if (!kr_controlled_by(pod, p->uid))
        return true;
    push(&p->all, &p->nall, &p->cap_all, pod);
    const char *phase = kr_value_as_str(kr_value_get(pod, "status.phase"));
    if (phase != NULL && strcmp(phase, "Succeeded") == 0)
        push(&p->succeeded, &p->nsucceeded, &p->cap_s, pod);
    else if (phase != NULL && strcmp(phase, "Failed") == 0)
        push(&p->failed, &p->nfailed, &p->cap_f, pod);
    else if (kr_value_get(pod, "metadata.deletionTimestamp") != NULL)
        p->terminating++;
    else {
        push(&p->active, &p->nactive, &p->cap_a, pod);
        if (kr_pod_is_ready(pod))
            p->ready++;
    }
    return true;
}

/* The array of uids at `key` of uncountedTerminatedPods (made if absent). */
static kr_value_t *uid_list(kr_arena_t *a, kr_value_t *unc, const char *key)
{
    kr_value_t *l = kr_value_map_get(unc, key);
    if (kr_value_type(l) != KR_ARRAY) {
        l = kr_value_array(a);
        kr_value_map_set(a, unc, key, l);
    }
    return l;
}

static bool uid_in(const kr_value_t *list, const char *uid)
{
    for (size_t i = 0; i < kr_value_len(list); i++) {
        const char *u = kr_value_as_str(kr_value_array_get(list, i));
        if (u != NULL && strcmp(u, uid) == 0)
            return true;
    }
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted uids of the pods that still have the tracking finalizer (few:
 * the running ones and those not counted yet), in a heap array the caller
 * frees. */
static const char **tracked_uids(const kr_value_t *const *pods, size_t n, size_t *out_n)
{
    const char **uids = calloc(n + 1, sizeof *uids);
    if (uids == NULL)
        abort();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *u = kr_value_as_str(kr_value_get(pods[i], "metadata.uid"));
        if (u != NULL && has_tracking(pods[i]))
            uids[k++] = u;
    }
    qsort(uids, k, sizeof *uids, cmp_str);
    *out_n = k;
    return uids;
}

/* Removes from `list` the uids whose pod is gone or no longer has the
 * tracking finalizer, and returns how many: they are counted now. */
static int64_t count_untracked(kr_value_t *list, const char **tracked, size_t ntracked)
{
    int64_t counted = 0;
    for (size_t i = kr_value_len(list); i-- > 0;) {
        const char *uid = kr_value_as_str(kr_value_array_get(list, i));
        if (uid == NULL || bsearch(&uid, tracked, ntracked, sizeof *tracked, cmp_str) == NULL) {
            kr_value_array_remove(list, i);
            counted++;
        }
    }
    return counted;
}

static int cmp_deletion(const void *a, const void *b)
{
    return kr_pod_cmp_deletion(*(const kr_value_t *const *)a, *(const kr_value_t *const *)b);
}

/* An Indexed pod made from the template: its index in the annotation and
 * label, its name and hostname, JOB_COMPLETION_INDEX in every container. */
static void index_pod(kr_arena_t *a, kr_value_t *pod, const char *job, int64_t i)
{
    char idx[24];
    snprintf(idx, sizeof idx, "%lld", (long long)i);
    kr_value_t *meta = kr_value_map_get(pod, "metadata");
    kr_value_map_set(a, meta, "generateName",
                     kr_value_str(a, kr_arena_printf(a, "%s-%s-", job, idx)));
    static const char *const where[] = {"annotations", "labels"};
    for (size_t w = 0; w < 2; w++) {
        kr_value_t *m = kr_value_map_get(meta, where[w]);
        if (kr_value_type(m) != KR_MAP) {
            m = kr_value_map(a);
            kr_value_map_set(a, meta, where[w], m);
        }
        kr_value_map_set(a, m, JOB_INDEX_ANNOTATION, kr_value_str(a, idx));
    }
    kr_value_t *spec = kr_value_map_get(pod, "spec");
    kr_value_map_set(a, spec, "hostname", kr_value_str(a, kr_arena_printf(a, "%s-%s", job, idx)));
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        kr_value_t *cs = kr_value_map_get(spec, lists[l]);
        for (size_t k = 0; k < kr_value_len(cs); k++) {
            kr_value_t *ct = kr_value_array_get(cs, k);
            kr_value_t *env = kr_value_map_get(ct, "env");
            bool has = false;
            for (size_t e = 0; e < kr_value_len(env); e++) {
                const char *n = kr_value_map_str(kr_value_array_get(env, e), "name");
                has = has || (n != NULL && strcmp(n, JOB_INDEX_ENV) == 0);
            }
            if (has)
                continue;
            if (kr_value_type(env) != KR_ARRAY) {
                env = kr_value_array(a);
                kr_value_map_set(a, ct, "env", env);
            }
            kr_value_t *ev = kr_value_map(a), *vf = kr_value_map(a), *fr = kr_value_map(a);
            kr_value_map_set(a, fr, "fieldPath",
                             kr_value_str(a, "metadata.annotations['" JOB_INDEX_ANNOTATION "']"));
            kr_value_map_set(a, vf, "fieldRef", fr);
            kr_value_map_set(a, ev, "name", kr_value_str(a, JOB_INDEX_ENV));
            kr_value_map_set(a, ev, "valueFrom", vf);
            kr_value_array_push(a, env, ev);
        }
    }
}

static int64_t ts_of(const kr_value_t *v)
{
    int64_t sec;
    int32_t nsec;
    const char *s = kr_value_as_str(v);
    return s != NULL && kr_time_parse(s, &sec, &nsec) ? sec : -1;
}

static void later(uint64_t *after_ms, int64_t ms)
{
    if (ms <= 0)
        ms = 1;
    if (*after_ms == 0 || (uint64_t)ms < *after_ms)
        *after_ms = (uint64_t)ms;
}

static void send_delete_pods(job_task_t *t, const kr_value_t *const *pods, size_t n)
{
    jc_t *c = t->c;
    for (size_t i = 0; i < n; i++) {
        job_op_t *op = op_new(t);
        op->uid =
            kr_arena_strdup(t->base.a, kr_value_as_str(kr_value_get(pods[i], "metadata.uid")));
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

static void add_tracking(kr_arena_t *a, kr_value_t *pod)
{
    kr_value_t *meta = kr_value_map_get(pod, "metadata");
    kr_value_t *fins = kr_value_map_get(meta, "finalizers");
    if (kr_value_type(fins) != KR_ARRAY) {
        fins = kr_value_array(a);
        kr_value_map_set(a, meta, "finalizers", fins);
    }
    if (!has_tracking(pod))
        kr_value_array_push(a, fins, kr_value_str(a, TRACKING));
}

static void on_untracked(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    job_op_t *op = ud;
    if (!op_reply(op))
        return;
    job_task_t *t = op->t;
    if (r->code != 200 && r->code != 404) {
        kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r),
                      "job=\"%s\" pod=\"%s\" op=untrack code=%d", t->base.key, op->pod, r->code);
        if (t->manage_err == NULL)
            t->manage_err = kr_arena_strdup(t->base.a, kr_reply_msg(r));
    }
    maybe_finish(t);
}

/* removeTrackingFinalizerPatch, with the pod's uid so that a pod of the
 * same name made since is never touched. */
static void send_untrack(job_task_t *t, const kr_value_t *const *pods, size_t n)
{
    kr_arena_t *a = t->base.a;
    kr_value_t *opts = kr_value_map(a);
    kr_value_map_set(a, opts, "patchType", kr_value_str(a, SMP));
    for (size_t i = 0; i < n; i++) {
        if (!has_tracking(pods[i]))
            continue;
        job_op_t *op = op_new(t);
        op->pod = kr_arena_strdup(a, kr_value_as_str(kr_value_get(pods[i], "metadata.name")));
        const char *pns = kr_value_as_str(kr_value_get(pods[i], "metadata.namespace"));
        kr_value_t *patch = kr_value_map(a), *meta = kr_value_map(a), *list = kr_value_array(a);
        kr_value_array_push(a, list, kr_value_str(a, TRACKING));
        kr_value_map_set(a, meta, "$deleteFromPrimitiveList/finalizers", list);
        kr_value_map_set(a, meta, "uid", kr_value_copy(a, kr_value_get(pods[i], "metadata.uid")));
        kr_value_map_set(a, patch, "metadata", meta);
        kr_request_t req = {.op = "patch",
                            .res = POD_RES,
                            .ns = pns != NULL ? pns : t->ns,
                            .name = op->pod,
                            .obj = patch,
                            .opts = opts};
        if (!task_send(t, &req, on_untracked, op) && t->manage_err == NULL)
            t->manage_err = "the bus refused the request";
    }
}

/* A pod of no Job (or of a finished one) that keeps the tracking
 * finalizer: it goes. */
static void sync_orphan(jc_t *c, const char *key)
{
    const kr_value_t *pod = kr_informer_get_key(c->pods, key + sizeof ORPHAN_PREFIX - 1);
    const kr_value_t *job = pod != NULL ? job_of_pod(c, pod) : NULL;
    if (pod == NULL || !has_tracking(pod) || (job != NULL && !job_finished(job))) {
        kr_workqueue_forget(c->q, key);
        kr_workqueue_done(c->q, key, NULL);
        return;
    }
    job_task_t *t = task_new(c, key, pod);
    send_untrack(t, &pod, 1);
    maybe_finish(t);
}

/* A finished Job: deleted once ttlSecondsAfterFinished has passed. */
static void sync_finished(jc_t *c, const char *key, const kr_value_t *job, const kr_value_t *fin)
{
    const kr_value_t *ttl = kr_value_get(job, "spec.ttlSecondsAfterFinished");
    int64_t at = ts_of(kr_value_map_get(fin, "lastTransitionTime"));
    if (kr_value_type(ttl) != KR_INT || at < 0 ||
        kr_value_get(job, "metadata.deletionTimestamp") != NULL) {
        kr_workqueue_forget(c->q, key);
        kr_workqueue_done(c->q, key, NULL);
        return;
    }
    int64_t left_ms = (at + kr_value_as_int(ttl, 0)) * 1000 - kr_time_now_ns() / 1000000;
    if (left_ms > 0) {
        kr_workqueue_forget(c->q, key);
        kr_workqueue_add_after(c->q, key, (uint64_t)left_ms, NULL);
        kr_workqueue_done(c->q, key, NULL);
        return;
    }
    job_task_t *t = task_new(c, key, job);
    kr_value_t *opts = kr_value_map(t->base.a), *pre = kr_value_map(t->base.a);
    kr_value_map_set(t->base.a, pre, "uid",
                     kr_value_copy(t->base.a, kr_value_get(job, "metadata.uid")));
    kr_value_map_set(t->base.a, opts, "preconditions", pre);
    kr_value_map_set(t->base.a, opts, "propagationPolicy", kr_value_str(t->base.a, "Foreground"));
    kr_request_t req = {.op = "delete", .res = JOB_RES, .ns = t->ns, .name = t->name, .opts = opts};
    if (!task_send(t, &req, on_ttl_deleted, op_new(t)))
        task_done(t, true);
}

#define REASON_BACKOFF  "BackoffLimitExceeded"
#define MSG_BACKOFF     "Job has reached the specified backoff limit"
#define REASON_DEADLINE "DeadlineExceeded"
#define MSG_DEADLINE    "Job was active longer than specified deadline"
#define REASON_DONE     "CompletionsReached"
#define MSG_DONE        "Reached expected number of succeeded pods"

static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    jc_t *c = ud;
    if (!kr_informer_has_synced(c->jobs) || !kr_informer_has_synced(c->pods)) {
        kr_workqueue_add_after(q, key, JOB_WAIT_SYNCED, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    if (strncmp(key, ORPHAN_PREFIX, sizeof ORPHAN_PREFIX - 1) == 0) {
        sync_orphan(c, key);
        return;
    }
    const kr_value_t *job = kr_informer_get_key(c->jobs, key);
    if (job == NULL) {
        kr_expectations_delete(c->exp, key);
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    const kr_value_t *ost = kr_value_map_get(job, "status");
    const kr_value_t *fin = NULL;
    if (cond_true(ost, "Complete"))
        fin = find_cond(ost, "Complete");
    else if (cond_true(ost, "Failed"))
        fin = find_cond(ost, "Failed");
    if (fin != NULL) {
        sync_finished(c, key, job, fin);
        return;
    }

    int64_t now_ns = kr_time_now_ns(), now_s = now_ns / 1000000000, now_ms = now_ns / 1000000;
    char now[32];
    kr_time_format(now_s, now, sizeof now);
    pods_t p = {.uid = kr_value_as_str(kr_value_get(job, "metadata.uid"))};
    if (p.uid == NULL)
        p.uid = "";
    kr_informer_each(c->pods, ns_of(job), classify, &p);

    job_task_t *t = task_new(c, key, job);
    kr_arena_t *a = t->base.a;
    const kr_value_t *spec = kr_value_map_get(t->job, "spec");
    const char *mode = kr_value_map_str(spec, "completionMode");
    bool indexed = mode != NULL && strcmp(mode, "Indexed") == 0;
    const kr_value_t *compv = kr_value_map_get(spec, "completions");
    int64_t completions = kr_value_type(compv) == KR_INT ? kr_value_as_int(compv, 1) : -1;
    int64_t parallelism = kr_value_map_int(spec, "parallelism", 1);
    int64_t backoff_limit = kr_value_map_int(spec, "backoffLimit", 6);
    bool suspend = kr_value_as_bool(kr_value_map_get(spec, "suspend"), false);
    bool deleting = kr_value_get(job, "metadata.deletionTimestamp") != NULL;
    if (indexed && (completions < 0 || completions > JOB_MAX_INDEXES))
        indexed = false; /* validation refuses these */

    kr_value_t *st =
        ost != NULL && kr_value_type(ost) == KR_MAP ? kr_value_copy(a, ost) : kr_value_map(a);
    kr_value_t *conds = kr_value_map_get(st, "conditions");
    if (kr_value_type(conds) != KR_ARRAY) {
        conds = kr_value_array(a);
        kr_value_map_set(a, st, "conditions", conds);
    }

    /* counts: a finished pod with the tracking finalizer is first
     * recorded in uncountedTerminatedPods (an Indexed success in
     * completedIndexes), then its finalizer goes, then it is counted
     * (trackJobStatusAndRemoveFinalizers, over several syncs: each step
     * only after the previous one is in the stored status) */
    kr_value_t *unc = kr_value_map_get(st, "uncountedTerminatedPods");
    if (kr_value_type(unc) != KR_MAP) {
        unc = kr_value_map(a);
        kr_value_map_set(a, st, "uncountedTerminatedPods", unc);
    }
    kr_value_t *unc_s = uid_list(a, unc, "succeeded"), *unc_f = uid_list(a, unc, "failed");
    const kr_value_t *old_s = kr_value_copy(a, unc_s), *old_f = kr_value_copy(a, unc_f);
    int64_t succeeded = kr_value_map_int(st, "succeeded", 0);
    int64_t failed = kr_value_map_int(st, "failed", 0);
    /* recorded pods now gone or untracked are counted */
    size_t ntracked;
    const char **tracked = tracked_uids(p.all, p.nall, &ntracked);
    succeeded += count_untracked(unc_s, tracked, ntracked);
    failed += count_untracked(unc_f, tracked, ntracked);
    free(tracked);
    uint8_t *done_set = NULL, *active_set = NULL, *old_done = NULL;
    if (indexed) {
        done_set = kr_arena_alloc(a, (size_t)completions + 1);
        old_done = kr_arena_alloc(a, (size_t)completions + 1);
        active_set = kr_arena_alloc(a, (size_t)completions + 1);
        memset(done_set, 0, (size_t)completions + 1);
        memset(active_set, 0, (size_t)completions + 1);
        job_indexes_parse(kr_value_map_str(st, "completedIndexes"), done_set, completions);
        memcpy(old_done, done_set, (size_t)completions + 1);
    }
    const kr_value_t **untrack = calloc(p.nall + 1, sizeof *untrack);
    if (untrack == NULL)
        abort();
    size_t nuntrack = 0;
    bool recorded = false;
    for (size_t i = 0; i < p.nall; i++) {
        const kr_value_t *pod = p.all[i];
        if (!has_tracking(pod))
            continue;
        const char *uid = kr_value_as_str(kr_value_get(pod, "metadata.uid"));
        const char *phase = kr_value_as_str(kr_value_get(pod, "status.phase"));
        bool ok = phase != NULL && strcmp(phase, "Succeeded") == 0;
        /* isPodFailed: a pod being deleted counts as failed */
        bool bad = !ok && ((phase != NULL && strcmp(phase, "Failed") == 0) ||
                           kr_value_get(pod, "metadata.deletionTimestamp") != NULL);
        bool stored;
        if (ok && indexed) {
            int64_t ix = job_pod_index(pod);
            bool valid = ix >= 0 && ix < completions;
            if (valid && !done_set[ix]) {
                done_set[ix] = 1;
                recorded = true;
            }
            stored = !valid || old_done[ix];
        } else if (ok || bad) {
            kr_value_t *list = ok ? unc_s : unc_f;
            if (uid != NULL && !uid_in(list, uid)) {
                kr_value_array_push(a, list, kr_value_str(a, uid));
                recorded = true;
            }
            stored = uid != NULL && uid_in(ok ? old_s : old_f, uid);
        } else {
            continue;
        }
        if (stored)
            untrack[nuntrack++] = pod;
    }
    int64_t succeeded_all = succeeded + (int64_t)kr_value_len(unc_s);
    int64_t failed_all = failed + (int64_t)kr_value_len(unc_f);
    if (indexed) {
        succeeded_all = 0;
        for (int64_t i = 0; i < completions; i++)
            succeeded_all += done_set[i];
        succeeded = succeeded_all;
        const char *ci = job_indexes_format(a, done_set, completions);
        if (*ci != '\0') /* omitempty */
            kr_value_map_set(a, st, "completedIndexes", kr_value_str(a, ci));
        else
            kr_value_map_del(st, "completedIndexes");
    }
    if (kr_value_len(unc_s) == 0)
        kr_value_map_del(unc, "succeeded");
    if (kr_value_len(unc_f) == 0)
        kr_value_map_del(unc, "failed");
    bool uncounted = kr_value_len(unc_s) > 0 || kr_value_len(unc_f) > 0 || recorded;

    /* suspend and resume; startTime */
    if (suspend && !deleting && !cond_true(st, "Suspended")) {
        set_cond(a, conds, "Suspended", "True", "JobSuspended", "Job suspended", now);
        kr_events_record(c->ev, t->job, KR_EVENT_NORMAL, "Suspended", "Job suspended");
    } else if (!suspend && cond_true(st, "Suspended")) {
        set_cond(a, conds, "Suspended", "False", "JobResumed", "Job resumed", now);
        kr_events_record(c->ev, t->job, KR_EVENT_NORMAL, "Resumed", "Job resumed");
        /* the deadline counts from the resumption */
        kr_value_map_set(a, st, "startTime", kr_value_str(a, now));
    }
    if (!suspend && kr_value_map_get(st, "startTime") == NULL)
        kr_value_map_set(a, st, "startTime", kr_value_str(a, now));
    int64_t start = ts_of(kr_value_map_get(st, "startTime"));

    /* failure first, then success */
    const char *restart = kr_value_as_str(kr_value_get(spec, "template.spec.restartPolicy"));
    bool finishing = cond_true(st, "FailureTarget") || cond_true(st, "SuccessCriteriaMet");
    if (!finishing && !deleting) {
        int64_t restarts = 0;
        if (restart != NULL && strcmp(restart, "OnFailure") == 0)
            for (size_t i = 0; i < p.nactive; i++)
                restarts += job_pod_restarts(p.active[i]);
        bool past_restarts = restart != NULL && strcmp(restart, "OnFailure") == 0 &&
                             (backoff_limit == 0 ? restarts > 0 : restarts >= backoff_limit);
        const kr_value_t *adl = kr_value_map_get(spec, "activeDeadlineSeconds");
        bool past_deadline = false;
        if (kr_value_type(adl) == KR_INT && !suspend && start >= 0) {
            int64_t left_ms = (start + kr_value_as_int(adl, 0)) * 1000 - now_ms;
            if (left_ms <= 0)
                past_deadline = true;
            else
                later(&t->after_ms, left_ms);
        }
        if (failed_all > backoff_limit || past_restarts) {
            set_cond(a, conds, "FailureTarget", "True", REASON_BACKOFF, MSG_BACKOFF, now);
            finishing = true;
        } else if (past_deadline) {
            set_cond(a, conds, "FailureTarget", "True", REASON_DEADLINE, MSG_DEADLINE, now);
            finishing = true;
        } else if (completions >= 0 ? succeeded_all >= completions
                                    : succeeded_all > 0 && p.nactive == 0) {
            set_cond(a, conds, "SuccessCriteriaMet", "True", REASON_DONE, MSG_DONE, now);
            finishing = true;
        }
    }

    uint64_t now_exp = kr_time_ms();
    bool satisfied = kr_expectations_satisfied(c->exp, key, now_exp);
    kr_plugin_log(c->ctx, KR_LOG_DEBUG, "sync",
                  "job=\"%s\" active=%zu succeeded=%" PRId64 " failed=%" PRId64
                  " terminating=%" PRId64 " finishing=%d satisfied=%d",
                  key, p.nactive, succeeded_all, failed_all, p.terminating, finishing, satisfied);
    const kr_value_t **del = calloc(p.nactive + 1, sizeof *del);
    if (del == NULL)
        abort();
    size_t ndel = 0;
    int64_t *idx = NULL;
    int64_t ncreate = 0;
    if (finishing) {
        /* the remaining pods go, counted as failed ("when the job is
         * considered finished, every non-terminated pod is considered
         * failed"); the terminal condition waits for them */
        if (satisfied)
            for (size_t i = 0; i < p.nactive; i++) {
                const char *uid = kr_value_as_str(kr_value_get(p.active[i], "metadata.uid"));
                bool ok_ix = !indexed || (job_pod_index(p.active[i]) >= 0 &&
                                          job_pod_index(p.active[i]) < completions);
                if (has_tracking(p.active[i]) && uid != NULL && ok_ix && !uid_in(unc_f, uid)) {
                    kr_value_array_push(a, uid_list(a, unc, "failed"), kr_value_str(a, uid));
                    uncounted = true;
                }
                del[ndel++] = p.active[i];
            }
        if (p.nactive == 0 && p.terminating == 0 && !uncounted) {
            bool ok = cond_true(st, "SuccessCriteriaMet");
            const kr_value_t *ft = find_cond(st, ok ? "SuccessCriteriaMet" : "FailureTarget");
            const char *reason = kr_value_map_str(ft, "reason");
            const char *msg = kr_value_map_str(ft, "message");
            set_cond(a, conds, ok ? "Complete" : "Failed", "True", reason ? reason : "",
                     msg ? msg : "", now);
            if (ok) {
                kr_value_map_set(a, st, "completionTime", kr_value_str(a, now));
                kr_events_record(c->ev, t->job, KR_EVENT_NORMAL, "Completed", "Job completed");
            } else {
                kr_events_record(c->ev, t->job, KR_EVENT_WARNING, reason ? reason : "Failed", "%s",
                                 msg ? msg : "");
            }
            const kr_value_t *ttl = kr_value_get(spec, "ttlSecondsAfterFinished");
            if (kr_value_type(ttl) == KR_INT)
                later(&t->after_ms, kr_value_as_int(ttl, 0) * 1000 + 1);
        }
    } else if (satisfied && !deleting) {
        /* manageJob */
        const kr_value_t **keep = calloc(p.nactive + 1, sizeof *keep);
        if (keep == NULL)
            abort();
        size_t nkeep = 0;
        if (indexed) {
            /* out of range, duplicate or already succeeded indexes go first */
            for (size_t i = 0; i < p.nactive; i++) {
                int64_t ix = job_pod_index(p.active[i]);
                if (ix < 0 || ix >= completions || done_set[ix] || active_set[ix])
                    del[ndel++] = p.active[i];
                else {
                    active_set[ix] = 1;
                    keep[nkeep++] = p.active[i];
                }
            }
        } else {
            for (size_t i = 0; i < p.nactive; i++)
                keep[nkeep++] = p.active[i];
        }
        int64_t want =
            suspend ? 0 : job_want_active(completions, parallelism, succeeded_all, (int64_t)nkeep);
        if ((int64_t)nkeep > want) {
            qsort(keep, nkeep, sizeof *keep, cmp_deletion);
            for (size_t i = 0; i < nkeep - (size_t)want; i++)
                del[ndel++] = keep[i];
        } else if ((int64_t)nkeep < want) {
            /* the back-off counts the failures since the last success */
            int64_t last_ok = -1, last_fail = -1, failures = 0;
            for (size_t i = 0; i < p.nsucceeded; i++) {
                int64_t f = job_pod_finish_ms(p.succeeded[i], now_ms);
                if (f > last_ok)
                    last_ok = f;
            }
            for (size_t i = 0; i < p.nfailed; i++) {
                int64_t f = job_pod_finish_ms(p.failed[i], now_ms);
                if (f > last_ok)
                    failures++;
                if (f > last_fail)
                    last_fail = f;
            }
            int64_t wait = job_backoff_remaining_ms(failures, last_fail, now_ms);
            if (wait > 0) {
                kr_plugin_log(c->ctx, KR_LOG_DEBUG, "pod failure back-off",
                              "job=\"%s\" failures=%" PRId64 " wait_ms=%" PRId64, key, failures,
                              wait);
                later(&t->after_ms, wait);
            } else {
                ncreate = want - (int64_t)nkeep;
                if (ncreate > JOB_MAX_PER_SYNC)
                    ncreate = JOB_MAX_PER_SYNC;
                if (indexed) {
                    idx = calloc((size_t)ncreate + 1, sizeof *idx);
                    if (idx == NULL)
                        abort();
                    ncreate = job_first_pending(done_set, active_set, completions, ncreate, idx);
                }
            }
        }
        if (ndel > JOB_MAX_PER_SYNC)
            ndel = JOB_MAX_PER_SYNC;
        free(keep);
    }

    /* expectations before any write */
    const char **uids = kr_arena_alloc(a, (ndel + 1) * sizeof *uids);
    for (size_t i = 0; i < ndel; i++)
        uids[i] = kr_arena_strdup(a, kr_value_as_str(kr_value_get(del[i], "metadata.uid")));
    if (ncreate > 0 || ndel > 0)
        kr_expectations_set(c->exp, key, ncreate, uids, ndel, now_exp);
    if (ncreate > 0) {
        t->create = kr_arena_alloc(a, (size_t)ncreate * sizeof *t->create);
        const kr_value_t *tmpl = kr_value_map_get(spec, "template");
        for (int64_t i = 0; i < ncreate; i++) {
            t->create[i] = kr_pod_from_template(a, tmpl, t->job, NULL);
            add_tracking(a, t->create[i]);
            if (indexed)
                index_pod(a, t->create[i], t->name, idx[i]);
        }
        t->ncreate = ncreate;
    }

    set_int(a, st, "succeeded", succeeded, true);
    set_int(a, st, "failed", failed, true);
    set_int(a, st, "ready", p.ready, false);
    set_int(a, st, "terminating", p.terminating, false);
    if (kr_value_len(conds) == 0)
        kr_value_map_del(st, "conditions");
    t->active_base = (int64_t)p.nactive - (int64_t)ndel;
    t->status = st;

    /* pods deleted because too many run (or suspend) lose the finalizer
     * first, so that they do not count as failed (deleteJobPods); the
     * broker keeps our requests in order */
    if (!finishing)
        send_untrack(t, del, ndel);
    send_delete_pods(t, del, ndel);
    send_untrack(t, untrack, nuntrack);
    free(untrack);
    free(del);
    free(idx);
    free(p.active);
    free(p.succeeded);
    free(p.all);
    free(p.failed);
    if (t->ncreate > 0)
        task_create_batch(t);
    maybe_finish(t);
}

/* ---- life cycle -------------------------------------------------------------- */

static void job_fini(void *instance)
{
    jc_t *c = instance;
    if (c->q != NULL)
        kr_workqueue_shutdown(c->q);
    kr_informer_destroy(&c->jobs);
    kr_informer_destroy(&c->pods);
    kr_synctasks_detach(&c->tasks);
    kr_workqueue_destroy(&c->q);
    kr_events_destroy(&c->ev);
    kr_expectations_destroy(&c->exp);
    free(c);
}

static void *job_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct job_conf *conf = config;
    if (kr_config_check_int("workers", conf->workers, 1, 256, err) < 0)
        return NULL;
    jc_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->conf = *conf;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    c->exp = kr_expectations_new(0);
    c->tasks =
        (kr_synctasks_t){.bus = c->bus, .ctx = ctx, .label = "job", .timeout_ms = JOB_TIMEOUT_MS};
    kr_workqueue_opts_t qo = {
        .name = kr_plugin_name(ctx), .max_in_flight = (unsigned)conf->workers, .qps = -1};
    kr_informer_opts_t jo = {
        .res = JOB_RES,
        .resync_ms = (uint64_t)conf->resync_ms,
        .name = "job-jobs",
        .handlers = {on_job_add, on_job_update, on_job_delete, c},
    };
    kr_informer_opts_t po = {
        .res = POD_RES,
        .name = "job-pods",
        .page_size = 1000,
        .handlers = {on_pod_add, on_pod_update, on_pod_delete, c},
    };
    if ((c->ev = kr_events_new(c->bus, &(kr_events_opts_t){.component = "job-controller"}, err)) ==
            NULL ||
        (c->q = kr_workqueue_new(c->loop, &qo, sync_key, c, err)) == NULL ||
        (c->jobs = kr_informer_new(c->loop, c->bus, &jo, err)) == NULL ||
        (c->pods = kr_informer_new(c->loop, c->bus, &po, err)) == NULL ||
        kr_informer_set_transform(c->pods, pod_transform, NULL, err) < 0 ||
        kr_informer_start(c->jobs, err) < 0 || kr_informer_start(c->pods, err) < 0) {
        job_fini(c);
        return NULL;
    }
    c->tasks.q = c->q;
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "job",
    .version = "0.1.0",
    .description = "runs every Job's pods to completion (upstream's Job and TTL-after-finished "
                   "controllers)",
    .config = job_table,
    .config_size = sizeof(struct job_conf),
    .init = job_init,
    .fini = job_fini,
};
