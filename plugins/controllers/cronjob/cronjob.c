/* controller-cronjob: creates every CronJob's Jobs on its schedule, after
 * upstream's pkg/controller/cronjob/cronjob_controllerv2.go and utils.go.
 *
 * - Two informers (cronjobs, jobs) feed one queue of CronJob keys; a Job
 *   finds its CronJob by its controller reference.
 * - A sync reads both caches: finished Jobs leave status.active
 *   (SawCompletedJob), the latest completion of a succeeded Job becomes
 *   lastSuccessfulTime, active references whose Job is gone are dropped
 *   (MissingJob).  Then, unless the CronJob is being deleted, suspended or
 *   has an unknown timeZone or an unparseable schedule, the most recent
 *   activation not yet run (mostRecentScheduleTime, from lastScheduleTime
 *   or the creation time, bounded by startingDeadlineSeconds) is run: a Job
 *   named <cronjob>-<scheduled time in minutes since the epoch> (the name
 *   is the lock against running an activation twice) from the job
 *   template, annotated batch.kubernetes.io/cronjob-scheduled-timestamp,
 *   unless it is too late (MissSchedule), already run, or Forbid finds
 *   a Job still active (JobAlreadyActive); Replace deletes the active Jobs
 *   first.  Finished Jobs beyond successfulJobsHistoryLimit and
 *   failedJobsHistoryLimit are deleted, oldest first.
 * - The status (active, lastScheduleTime, lastSuccessfulTime) goes through
 *   cronjobs/status when it changed, and the key comes back 100 ms after the
 *   next activation.
 *
 * Times are the real clock's; schedules are read in spec.timeZone, or in
 * the server's local zone (Go's time.Local: $TZ, /etc/localtime) as the
 * kube-controller-manager does. */
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

#include "cron.h"

#define CJ_RES         "batch/v1/cronjobs"
#define JOB_RES        "batch/v1/jobs"
#define CJ_TIMEOUT_MS  10000
#define CJ_WAIT_SYNCED 100
#define SCHEDULED_ANN  "batch.kubernetes.io/cronjob-scheduled-timestamp"
/* nextScheduleDelta */
#define CJ_DELTA_MS 100

struct cj_conf {
    int64_t workers;
    const char *zoneinfo;
};

static const kr_config_entry_t cj_table[] = {
    {KR_CFG_INT, "workers", "5", offsetof(struct cj_conf, workers),
     "CronJobs synced at once (--concurrent-cron-job-syncs)"},
    {KR_CFG_STRING, "zoneinfo", NULL, offsetof(struct cj_conf, zoneinfo),
     "the tz database for spec.timeZone (default $ZONEINFO, else /usr/share/zoneinfo)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct cjc cjc_t;

/* The last Job created for each CronJob: a Job the caches show before the
 * CronJob's status names it is neither unexpected nor missing (upstream
 * asks the API server again in both cases). */
typedef struct cj_created {
    struct cj_created *next;
    char *key, *job;
} cj_created_t;

typedef struct cj_task {
    kr_synctask_t base;
    cjc_t *c;
    kr_value_t *cj; /* at sync time, apiVersion and kind set */
    const char *ns, *name;
    kr_value_t *status; /* the status being built */
    bool failed;
    bool write_status; /* the status may have changed */
    /* the schedule, for the requeue after the writes */
    bool scheduled;
    cron_sched_t sched;
    const cron_tz_t *tz; /* the schedule's: tz_owned, or the local zone */
    cron_tz_t *tz_owned; /* spec.timeZone's */
} cj_task_t;

typedef struct cj_op {
    cj_task_t *t;
    const char *job, *uid;
    int64_t scheduled; /* create: the activation */
} cj_op_t;

struct cjc {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct cj_conf conf;
    kr_informer_t *cjs, *jobs;
    kr_workqueue_t *q;
    kr_events_t *ev;
    cron_tz_t *local;
    kr_synctasks_t tasks;
    cj_created_t *created;
};

/* ---- helpers -------------------------------------------------------------- */

static const char *ns_of(const kr_value_t *obj)
{
    const char *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    return ns != NULL ? ns : "";
}

static int64_t ts_of(const kr_value_t *v)
{
    int64_t sec;
    int32_t nsec;
    const char *s = kr_value_as_str(v);
    return s != NULL && kr_time_parse(s, &sec, &nsec) ? sec : -1;
}

static void enqueue(cjc_t *c, const kr_value_t *cj)
{
    char key[600];
    if (kr_informer_key(cj, key, sizeof key) > 0)
        kr_workqueue_add(c->q, key, NULL);
}

static const kr_value_t *cj_of_job(cjc_t *c, const kr_value_t *job)
{
    return kr_controller_ref_resolve(c->cjs, ns_of(job), kr_controller_ref_of(job), "CronJob",
                                     "batch/");
}

/* "Complete" or "Failed" when the Job finished (IsJobFinished), else NULL. */
static const char *job_finished(const kr_value_t *job)
{
    const kr_value_t *conds = kr_value_get(job, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *cd = kr_value_array_get(conds, i);
        const char *ty = kr_value_map_str(cd, "type"), *st = kr_value_map_str(cd, "status");
        if (ty != NULL && st != NULL && strcmp(st, "True") == 0 &&
            (strcmp(ty, "Complete") == 0 || strcmp(ty, "Failed") == 0))
            return ty;
    }
    return NULL;
}

static cj_created_t *created_find(cjc_t *c, const char *key)
{
    for (cj_created_t *e = c->created; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static bool created_is(cjc_t *c, const char *key, const char *job)
{
    cj_created_t *e = created_find(c, key);
    return e != NULL && job != NULL && strcmp(e->job, job) == 0;
}

static void created_set(cjc_t *c, const char *key, const char *job)
{
    cj_created_t *e = created_find(c, key);
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        if (e == NULL)
            abort();
        e->key = strdup(key);
        e->next = c->created;
        c->created = e;
    } else {
        free(e->job);
    }
    e->job = strdup(job);
    if (e->key == NULL || e->job == NULL)
        abort();
}

static void created_forget(cjc_t *c, const char *key)
{
    for (cj_created_t **p = &c->created; *p != NULL; p = &(*p)->next)
        if (strcmp((*p)->key, key) == 0) {
            cj_created_t *e = *p;
            *p = e->next;
            free(e->key);
            free(e->job);
            free(e);
            return;
        }
}

/* ---- informer handlers ------------------------------------------------------ */

static void on_cj_add(kr_informer_t *inf, const kr_value_t *cj, void *ud)
{
    (void)inf;
    enqueue(ud, cj);
}

static void on_cj_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur, void *ud)
{
    (void)inf;
    (void)old;
    enqueue(ud, cur);
}

static void on_job_add(kr_informer_t *inf, const kr_value_t *job, void *ud)
{
    (void)inf;
    const kr_value_t *cj = cj_of_job(ud, job);
    if (cj != NULL)
        enqueue(ud, cj);
}

static void on_job_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *cur,
                          void *ud)
{
    (void)inf;
    if (old == cur)
        return;
    const kr_value_t *cj = cj_of_job(ud, cur), *ocj = cj_of_job(ud, old);
    if (cj != NULL)
        enqueue(ud, cj);
    if (ocj != NULL && ocj != cj)
        enqueue(ud, ocj);
}

/* What the Job cache keeps. */
static const kr_value_t *job_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const meta_keys[] = {"name",
                                            "namespace",
                                            "uid",
                                            "resourceVersion",
                                            "ownerReferences",
                                            "creationTimestamp",
                                            "deletionTimestamp"};
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a), *st = kr_value_map(a);
    for (size_t i = 0; i < sizeof meta_keys / sizeof meta_keys[0]; i++) {
        kr_value_t *v = kr_value_map_get(meta, meta_keys[i]);
        if (v != NULL)
            kr_value_map_set(a, m, meta_keys[i], v);
    }
    static const char *const st_keys[] = {"conditions", "startTime", "completionTime"};
    const kr_value_t *ost = kr_value_map_get(obj, "status");
    for (size_t i = 0; i < sizeof st_keys / sizeof st_keys[0]; i++) {
        kr_value_t *v = kr_value_map_get(ost, st_keys[i]);
        if (v != NULL)
            kr_value_map_set(a, st, st_keys[i], v);
    }
    kr_value_map_set(a, out, "metadata", m);
    kr_value_map_set(a, out, "status", st);
    return out;
}

/* ---- tasks ------------------------------------------------------------------- */

static cj_task_t *task_new(cjc_t *c, const char *key, const kr_value_t *cj)
{
    cj_task_t *t = kr_synctask_new(&c->tasks, sizeof *t, key);
    t->c = c;
    t->cj = kr_synctask_object(&t->base, cj, "batch/v1", "CronJob");
    t->ns = kr_value_as_str(kr_value_get(t->cj, "metadata.namespace"));
    t->name = kr_value_as_str(kr_value_get(t->cj, "metadata.name"));
    const kr_value_t *st = kr_value_map_get(cj, "status");
    t->status =
        kr_value_type(st) == KR_MAP ? kr_value_copy(t->base.a, st) : kr_value_map(t->base.a);
    return t;
}

/* kr_synctasks_t.on_free: spec.timeZone's zone */
static void task_free(kr_synctask_t *base)
{
    cron_tz_destroy(&((cj_task_t *)base)->tz_owned);
}

/* nextScheduleTimeDuration: 100 ms after the activation that follows the
 * most recent one (or the earliest time). */
static uint64_t next_delay_ms(const cj_task_t *t)
{
    int64_t now_ms = kr_time_now_ns() / 1000000, now = now_ms / 1000;
    int64_t earliest = ts_of(kr_value_map_get(t->status, "lastScheduleTime"));
    if (earliest < 0)
        earliest = ts_of(kr_value_get(t->cj, "metadata.creationTimestamp"));
    int64_t most, missed;
    if (!cron_most_recent(&t->sched, t->tz, earliest, now, -1, &most, &missed))
        return 0;
    int64_t next = cron_next(&t->sched, t->tz, most >= 0 ? most : earliest);
    if (next < 0)
        return 0;
    int64_t d = next * 1000 + CJ_DELTA_MS - now_ms;
    return d > 0 ? (uint64_t)d : 1;
}

static void task_done(cj_task_t *t)
{
    if (t->failed)
        kr_synctask_done(&t->base, KR_SYNCTASK_FAILED, 0);
    else
        kr_synctask_done(&t->base, KR_SYNCTASK_OK, t->scheduled ? next_delay_ms(t) : 0);
}

static cj_op_t *op_new(cj_task_t *t)
{
    cj_op_t *op = kr_arena_alloc(t->base.a, sizeof *op);
    memset(op, 0, sizeof *op);
    op->t = t;
    return op;
}

static bool task_send(cj_task_t *t, const kr_request_t *req, kr_reply_fn fn, cj_op_t *op)
{
    if (kr_synctask_send(&t->base, req, fn, op, NULL) < 0) {
        t->failed = true;
        return false;
    }
    return true;
}

static bool op_reply(cj_op_t *op)
{
    return kr_synctask_reply(&op->t->base);
}

/* Removes the reference to the Job with this uid from status.active. */
static bool active_remove(kr_value_t *status, const char *uid)
{
    kr_value_t *active = kr_value_map_get(status, "active");
    for (size_t i = 0; i < kr_value_len(active); i++) {
        const char *u = kr_value_map_str(kr_value_array_get(active, i), "uid");
        if (u != NULL && uid != NULL && strcmp(u, uid) == 0) {
            kr_value_array_remove(active, i);
            if (kr_value_len(active) == 0)
                kr_value_map_del(status, "active");
            return true;
        }
    }
    return false;
}

static void on_status(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    cj_op_t *op = ud;
    if (!op_reply(op))
        return;
    cj_task_t *t = op->t;
    if (r->code != 200 && r->code != 404) {
        t->failed = true;
        if (r->code != 409)
            kr_plugin_log(t->c->ctx, KR_LOG_INFO, kr_reply_msg(r),
                          "cronjob=\"%s\" op=status code=%d", t->base.key, r->code);
    }
    task_done(t);
}

/* Every write answered: the status, if it changed. */
static void task_finish(cj_task_t *t)
{
    cjc_t *c = t->c;
    const kr_value_t *cur = kr_informer_get(c->cjs, t->ns, t->name);
    const char *uid = kr_value_as_str(kr_value_get(t->cj, "metadata.uid"));
    const char *cuid = kr_value_as_str(kr_value_get(cur, "metadata.uid"));
    if (cur == NULL || uid == NULL || cuid == NULL || strcmp(uid, cuid) != 0 ||
        kr_value_equal(kr_value_map_get(cur, "status"), t->status)) {
        task_done(t);
        return;
    }
    kr_value_t *obj = kr_value_copy(t->base.a, cur);
    kr_value_map_set(t->base.a, obj, "status", t->status);
    kr_request_t req = {
        .op = "update", .res = CJ_RES, .ns = t->ns, .name = t->name, .sub = "status", .obj = obj};
    if (!task_send(t, &req, on_status, op_new(t)))
        task_done(t);
}

static void maybe_finish(cj_task_t *t)
{
    if (t->base.pending == 0)
        task_finish(t);
}

static void on_job_deleted(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    cj_op_t *op = ud;
    if (!op_reply(op))
        return;
    cj_task_t *t = op->t;
    cjc_t *c = t->c;
    if (r->code == 200 || r->code == 404) {
        active_remove(t->status, op->uid);
        if (r->code == 200)
            kr_events_record(c->ev, t->cj, KR_EVENT_NORMAL, "SuccessfulDelete", "Deleted job %s",
                             op->job);
    } else {
        t->failed = true;
        kr_events_record(c->ev, t->cj, KR_EVENT_WARNING, "FailedDelete", "Deleted job: %s",
                         kr_reply_msg(r));
    }
    maybe_finish(t);
}

/* deleteJob: background propagation, as upstream's jobControl. */
static void send_delete_job(cj_task_t *t, const kr_value_t *job)
{
    cj_op_t *op = op_new(t);
    op->job = kr_arena_strdup(t->base.a, kr_value_as_str(kr_value_get(job, "metadata.name")));
    op->uid = kr_arena_strdup(t->base.a, kr_value_as_str(kr_value_get(job, "metadata.uid")));
    kr_value_t *opts = kr_value_map(t->base.a);
    kr_value_map_set(t->base.a, opts, "propagationPolicy", kr_value_str(t->base.a, "Background"));
    kr_request_t req = {.op = "delete", .res = JOB_RES, .ns = t->ns, .name = op->job, .opts = opts};
    task_send(t, &req, on_job_deleted, op);
}

static kr_value_t *job_ref(kr_arena_t *a, const kr_value_t *job)
{
    kr_value_t *ref = kr_value_map(a);
    kr_value_map_set(a, ref, "apiVersion", kr_value_str(a, "batch/v1"));
    kr_value_map_set(a, ref, "kind", kr_value_str(a, "Job"));
    static const char *const keys[] = {"namespace", "name", "uid", "resourceVersion"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const kr_value_t *v = kr_value_get(job, kr_arena_printf(a, "metadata.%s", keys[i]));
        if (v != NULL)
            kr_value_map_set(a, ref, keys[i], kr_value_copy(a, v));
    }
    return ref;
}

static void active_add(kr_arena_t *a, kr_value_t *status, const kr_value_t *job)
{
    kr_value_t *active = kr_value_map_get(status, "active");
    if (kr_value_type(active) != KR_ARRAY) {
        active = kr_value_array(a);
        kr_value_map_set(a, status, "active", active);
    }
    kr_value_array_push(a, active, job_ref(a, job));
}

static void set_time(kr_arena_t *a, kr_value_t *status, const char *key, int64_t t)
{
    char buf[32];
    kr_time_format(t, buf, sizeof buf);
    kr_value_map_set(a, status, key, kr_value_str(a, buf));
}

static void on_job_created(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    cj_op_t *op = ud;
    if (!op_reply(op))
        return;
    cj_task_t *t = op->t;
    cjc_t *c = t->c;
    const kr_value_t *job = NULL;
    if (r->code == 201 || r->code == 200) {
        job = r->obj;
        kr_events_record(c->ev, t->cj, KR_EVENT_NORMAL, "SuccessfulCreate", "Created job %s",
                         op->job);
    } else if (r->code == 409) {
        /* the name is the lock: another actor (or this controller before a
         * restart) ran this activation, or a schedule more often than once
         * a minute met the minute's Job; as upstream, retried with a
         * back-off and no status change */
        t->failed = true;
        kr_plugin_log(c->ctx, KR_LOG_INFO, "Job already exists", "cronjob=\"%s\" job=\"%s\"",
                      t->base.key, op->job);
    } else {
        t->failed = true;
        kr_events_record(c->ev, t->cj, KR_EVENT_WARNING, "FailedCreate", "Error creating job: %s",
                         kr_reply_msg(r));
    }
    if (job != NULL) {
        created_set(c, t->base.key, op->job);
        const char *uid = kr_value_as_str(kr_value_get(job, "metadata.uid"));
        active_remove(t->status, uid);
        active_add(t->base.a, t->status, job);
        set_time(t->base.a, t->status, "lastScheduleTime", op->scheduled);
    }
    maybe_finish(t);
}

/* getJobFromTemplate2 */
static kr_value_t *job_from_template(cj_task_t *t, int64_t scheduled, const char *name)
{
    kr_arena_t *a = t->base.a;
    const kr_value_t *tmpl = kr_value_get(t->cj, "spec.jobTemplate");
    kr_value_t *job = kr_value_map(a), *meta = kr_value_map(a);
    kr_value_map_set(a, job, "apiVersion", kr_value_str(a, "batch/v1"));
    kr_value_map_set(a, job, "kind", kr_value_str(a, "Job"));
    kr_value_map_set(a, meta, "name", kr_value_str(a, name));
    kr_value_map_set(a, meta, "namespace", kr_value_str(a, t->ns));
    const kr_value_t *labels = kr_value_get(tmpl, "metadata.labels");
    if (kr_value_type(labels) == KR_MAP)
        kr_value_map_set(a, meta, "labels", kr_value_copy(a, labels));
    const kr_value_t *ann = kr_value_get(tmpl, "metadata.annotations");
    kr_value_t *anns = kr_value_type(ann) == KR_MAP ? kr_value_copy(a, ann) : kr_value_map(a);
    /* in spec.timeZone, or in UTC without one (time.LoadLocation("")) */
    char when[40];
    cron_tz_t *utc = t->tz_owned == NULL ? cron_tz_load("", NULL, NULL) : NULL;
    cron_format_rfc3339(scheduled, t->tz_owned != NULL ? t->tz_owned : utc, when, sizeof when);
    cron_tz_destroy(&utc);
    kr_value_map_set(a, anns, SCHEDULED_ANN, kr_value_str(a, when));
    kr_value_map_set(a, meta, "annotations", anns);
    kr_value_t *refs = kr_value_array(a);
    kr_value_array_push(a, refs, kr_controller_ref_new(a, t->cj));
    kr_value_map_set(a, meta, "ownerReferences", refs);
    kr_value_map_set(a, job, "metadata", meta);
    const kr_value_t *spec = kr_value_map_get(tmpl, "spec");
    kr_value_map_set(a, job, "spec", spec != NULL ? kr_value_copy(a, spec) : kr_value_map(a));
    return job;
}

/* ---- sync -------------------------------------------------------------------- */

typedef struct {
    const char *uid;
    const kr_value_t **jobs;
    size_t n, cap;
} jobs_t;

static bool collect(const kr_value_t *job, void *ud)
{
    jobs_t *j = ud;
    if (!kr_controlled_by(job, j->uid))
        return true;
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 16;
        j->jobs = realloc(j->jobs, j->cap * sizeof *j->jobs);
        if (j->jobs == NULL)
            abort();
    }
    j->jobs[j->n++] = job;
    return true;
}

static bool in_active(const kr_value_t *status, const char *key, const char *val)
{
    const kr_value_t *active = kr_value_map_get(status, "active");
    for (size_t i = 0; i < kr_value_len(active); i++) {
        const char *v = kr_value_map_str(kr_value_array_get(active, i), key);
        if (v != NULL && val != NULL && strcmp(v, val) == 0)
            return true;
    }
    return false;
}

/* byJobStartTime: started before not started, earlier first, then by name. */
static int cmp_start(const void *pa, const void *pb)
{
    const kr_value_t *a = *(const kr_value_t *const *)pa, *b = *(const kr_value_t *const *)pb;
    int64_t sa = ts_of(kr_value_get(a, "status.startTime"));
    int64_t sb = ts_of(kr_value_get(b, "status.startTime"));
    if (sa < 0 && sb >= 0)
        return 1;
    if (sb < 0 && sa >= 0)
        return -1;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    const char *na = kr_value_as_str(kr_value_get(a, "metadata.name"));
    const char *nb = kr_value_as_str(kr_value_get(b, "metadata.name"));
    return strcmp(na ? na : "", nb ? nb : "");
}

/* removeOldestJobs */
static void remove_oldest(cj_task_t *t, const kr_value_t **jobs, size_t n, const char *limit_key)
{
    const kr_value_t *lim = kr_value_get(t->cj, limit_key);
    if (kr_value_type(lim) != KR_INT)
        return;
    int64_t max = kr_value_as_int(lim, 0);
    if ((int64_t)n <= max)
        return;
    qsort(jobs, n, sizeof *jobs, cmp_start);
    for (size_t i = 0; i < n - (size_t)(max < 0 ? 0 : max); i++)
        if (kr_value_get(jobs[i], "metadata.deletionTimestamp") == NULL)
            send_delete_job(t, jobs[i]);
}

/* The part of syncCronJob that decides whether to run an activation now;
 * false when it runs none. */
static bool sync_schedule(cj_task_t *t, const kr_value_t **jobs, size_t njobs)
{
    cjc_t *c = t->c;
    const kr_value_t *spec = kr_value_map_get(t->cj, "spec");
    const char *tzname = kr_value_map_str(spec, "timeZone");
    t->tz = c->local;
    if (tzname != NULL) {
        kr_error_t err;
        t->tz_owned = cron_tz_load(tzname, c->conf.zoneinfo, &err);
        if (t->tz_owned == NULL) {
            kr_events_record(c->ev, t->cj, KR_EVENT_WARNING, "UnknownTimeZone",
                             "invalid timeZone: \"%s\": %s", tzname, err.message);
            return false;
        }
        t->tz = t->tz_owned;
    }
    const cron_tz_t *tz = t->tz;
    if (kr_value_as_bool(kr_value_map_get(spec, "suspend"), false))
        return false;
    const char *schedule = kr_value_map_str(spec, "schedule");
    const char *msg = NULL;
    if (schedule == NULL || !cron_parse(schedule, &t->sched, t->base.a, &msg)) {
        kr_events_record(c->ev, t->cj, KR_EVENT_WARNING, "UnparseableSchedule",
                         "unparseable schedule: \"%s\" : %s", schedule ? schedule : "",
                         msg ? msg : "");
        return false;
    }
    int64_t now = kr_time_now_ns() / 1000000000;
    int64_t earliest = ts_of(kr_value_map_get(t->status, "lastScheduleTime"));
    if (earliest < 0)
        earliest = ts_of(kr_value_get(t->cj, "metadata.creationTimestamp"));
    const kr_value_t *sds = kr_value_map_get(spec, "startingDeadlineSeconds");
    int64_t deadline = kr_value_type(sds) == KR_INT ? kr_value_as_int(sds, 0) : -1;
    int64_t scheduled, missed;
    if (!cron_most_recent(&t->sched, tz, earliest, now, deadline, &scheduled, &missed)) {
        kr_events_record(c->ev, t->cj, KR_EVENT_WARNING, "InvalidSchedule",
                         "invalid schedule: %s : %s", schedule,
                         "time difference between two schedules is less than 1 second");
        return false;
    }
    t->scheduled = true;
    if (missed > 100) {
        kr_events_record(c->ev, t->cj, KR_EVENT_WARNING, "TooManyMissedTimes",
                         "too many missed start times. Set or decrease "
                         ".spec.startingDeadlineSeconds or check clock skew");
        kr_plugin_log(c->ctx, KR_LOG_INFO, "too many missed times",
                      "cronjob=\"%s\" missed=%" PRId64, t->base.key, missed);
    }
    if (scheduled < 0)
        return false;
    if (deadline >= 0 && scheduled + deadline < now) {
        char when[48];
        cron_format_rfc1123z(scheduled, when, sizeof when);
        kr_events_record(c->ev, t->cj, KR_EVENT_WARNING, "MissSchedule",
                         "Missed scheduled time to start a job: %s", when);
        return false;
    }
    char *name = kr_arena_printf(t->base.a, "%s-%" PRId64, t->name, scheduled / 60);
    if (in_active(t->status, "name", name) ||
        ts_of(kr_value_map_get(t->status, "lastScheduleTime")) == scheduled)
        return false;
    const char *policy = kr_value_map_str(spec, "concurrencyPolicy");
    size_t nactive = kr_value_len(kr_value_map_get(t->status, "active"));
    if (policy != NULL && strcmp(policy, "Forbid") == 0 && nactive > 0) {
        kr_events_record(c->ev, t->cj, KR_EVENT_NORMAL, "JobAlreadyActive",
                         "Not starting job because prior execution is running and concurrency "
                         "policy is Forbid");
        return false;
    }
    if (policy != NULL && strcmp(policy, "Replace") == 0) {
        const kr_value_t *active = kr_value_map_get(t->status, "active");
        for (size_t i = 0; i < kr_value_len(active); i++) {
            const char *uid = kr_value_map_str(kr_value_array_get(active, i), "uid");
            for (size_t k = 0; k < njobs; k++) {
                const char *ju = kr_value_as_str(kr_value_get(jobs[k], "metadata.uid"));
                if (uid != NULL && ju != NULL && strcmp(ju, uid) == 0)
                    send_delete_job(t, jobs[k]);
            }
        }
    }
    cj_op_t *op = op_new(t);
    op->job = name;
    op->scheduled = scheduled;
    kr_request_t req = {
        .op = "create", .res = JOB_RES, .ns = t->ns, .obj = job_from_template(t, scheduled, name)};
    task_send(t, &req, on_job_created, op);
    return true;
}

static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    cjc_t *c = ud;
    if (!kr_informer_has_synced(c->cjs) || !kr_informer_has_synced(c->jobs)) {
        kr_workqueue_add_after(q, key, CJ_WAIT_SYNCED, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    const kr_value_t *cj = kr_informer_get_key(c->cjs, key);
    if (cj == NULL) {
        created_forget(c, key);
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    cj_task_t *t = task_new(c, key, cj);
    jobs_t j = {.uid = kr_value_as_str(kr_value_get(cj, "metadata.uid"))};
    if (j.uid == NULL)
        j.uid = "";
    kr_informer_each(c->jobs, ns_of(cj), collect, &j);

    const kr_value_t **ok = calloc(j.n + 1, sizeof *ok), **bad = calloc(j.n + 1, sizeof *bad);
    if (ok == NULL || bad == NULL)
        abort();
    size_t nok = 0, nbad = 0;
    int64_t last_ok = ts_of(kr_value_map_get(t->status, "lastSuccessfulTime"));
    for (size_t i = 0; i < j.n; i++) {
        const kr_value_t *job = j.jobs[i];
        const char *jname = kr_value_as_str(kr_value_get(job, "metadata.name"));
        const char *juid = kr_value_as_str(kr_value_get(job, "metadata.uid"));
        bool found = in_active(t->status, "uid", juid);
        const char *fin = job_finished(job);
        if (fin != NULL && strcmp(fin, "Complete") == 0)
            ok[nok++] = job;
        else if (fin != NULL)
            bad[nbad++] = job;
        if (!found && fin == NULL) {
            if (!created_is(c, key, jname))
                kr_events_record(c->ev, t->cj, KR_EVENT_WARNING, "UnexpectedJob",
                                 "Saw a job that the controller did not create or forgot: %s",
                                 jname);
        } else if (found && fin != NULL) {
            active_remove(t->status, juid);
            kr_events_record(c->ev, t->cj, KR_EVENT_NORMAL, "SawCompletedJob",
                             "Saw completed job: %s, condition: %s", jname, fin);
        } else if (fin != NULL && strcmp(fin, "Complete") == 0) {
            int64_t done = ts_of(kr_value_get(job, "status.completionTime"));
            if (done > last_ok) {
                last_ok = done;
                set_time(t->base.a, t->status, "lastSuccessfulTime", done);
            }
        }
    }
    /* active references whose Job is gone */
    kr_value_t *active = kr_value_map_get(t->status, "active");
    for (size_t i = kr_value_len(active); i-- > 0;) {
        const kr_value_t *ref = kr_value_array_get(active, i);
        const char *uid = kr_value_map_str(ref, "uid"), *name = kr_value_map_str(ref, "name");
        bool seen = false;
        for (size_t k = 0; k < j.n && !seen; k++) {
            const char *u = kr_value_as_str(kr_value_get(j.jobs[k], "metadata.uid"));
            seen = u != NULL && uid != NULL && strcmp(u, uid) == 0;
        }
        if (seen || created_is(c, key, name))
            continue;
        kr_events_record(c->ev, t->cj, KR_EVENT_NORMAL, "MissingJob", "Active job went missing: %s",
                         name ? name : "");
        kr_value_array_remove(active, i);
    }
    if (kr_value_map_get(t->status, "active") != NULL && kr_value_len(active) == 0)
        kr_value_map_del(t->status, "active");

    if (kr_value_get(cj, "metadata.deletionTimestamp") == NULL) {
        sync_schedule(t, j.jobs, j.n);
        /* cleanupFinishedJobs */
        remove_oldest(t, ok, nok, "spec.successfulJobsHistoryLimit");
        remove_oldest(t, bad, nbad, "spec.failedJobsHistoryLimit");
    }
    free(ok);
    free(bad);
    free(j.jobs);
    maybe_finish(t);
}

/* ---- life cycle ---------------------------------------------------------------- */

static void cj_fini(void *instance)
{
    cjc_t *c = instance;
    if (c->q != NULL)
        kr_workqueue_shutdown(c->q);
    kr_informer_destroy(&c->cjs);
    kr_informer_destroy(&c->jobs);
    kr_synctasks_detach(&c->tasks);
    kr_workqueue_destroy(&c->q);
    kr_events_destroy(&c->ev);
    while (c->created != NULL)
        created_forget(c, c->created->key);
    cron_tz_destroy(&c->local);
    free(c);
}

static void *cj_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct cj_conf *conf = config;
    if (kr_config_check_int("workers", conf->workers, 1, 256, err) < 0)
        return NULL;
    cjc_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->conf = *conf;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    c->tasks = (kr_synctasks_t){.bus = c->bus,
                                .ctx = ctx,
                                .label = "cronjob",
                                .timeout_ms = CJ_TIMEOUT_MS,
                                .on_free = task_free};
    c->local = cron_tz_local();
    kr_workqueue_opts_t qo = {
        .name = kr_plugin_name(ctx), .max_in_flight = (unsigned)conf->workers, .qps = -1};
    kr_informer_opts_t co = {
        .res = CJ_RES,
        .name = "cronjob-cronjobs",
        .handlers = {on_cj_add, on_cj_update, on_cj_add, c},
    };
    kr_informer_opts_t jo = {
        .res = JOB_RES,
        .name = "cronjob-jobs",
        .handlers = {on_job_add, on_job_update, on_job_add, c},
    };
    if ((c->ev = kr_events_new(c->bus, &(kr_events_opts_t){.component = "cronjob-controller"},
                               err)) == NULL ||
        (c->q = kr_workqueue_new(c->loop, &qo, sync_key, c, err)) == NULL ||
        (c->cjs = kr_informer_new(c->loop, c->bus, &co, err)) == NULL ||
        (c->jobs = kr_informer_new(c->loop, c->bus, &jo, err)) == NULL ||
        kr_informer_set_transform(c->jobs, job_transform, NULL, err) < 0 ||
        kr_informer_start(c->cjs, err) < 0 || kr_informer_start(c->jobs, err) < 0) {
        cj_fini(c);
        return NULL;
    }
    c->tasks.q = c->q;
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "cronjob",
    .version = "0.1.0",
    .description = "creates every CronJob's Jobs on its schedule (upstream's CronJobController v2)",
    .config = cj_table,
    .config_size = sizeof(struct cj_conf),
    .init = cj_init,
    .fini = cj_fini,
};
