/* scheduler-default: assigns pending pods to nodes through pods/binding, as
 * kube-scheduler does (docs/scheduler.md).
 *
 * - Informers on nodes, pods (all of them but finished ones: pods on nodes
 *   fill the cache, pending pods whose spec.schedulerName is ours go to
 *   the queue) and namespaces (labels for namespaceSelector).
 * - Cycles run from a zero-delay timer, a batch at a time, so that watch
 *   events and replies are handled between batches; a cycle never waits
 *   for anything.  The chosen node is assumed in the cache at once and
 *   the binding sent; the next pod is scheduled without waiting for the
 *   reply.  A failed binding forgets the assumption and retries the pod
 *   after its back-off.
 * - A pod that fits nowhere gets PodScheduled=False (Unschedulable) and a
 *   FailedScheduling Event with upstream's message, then waits in the
 *   queue for an event that may make it fit; preemption may first delete
 *   lower-priority pods and nominate the pod to their node.
 *
 * Every async request carries a ticket, not the scheduler: fini orphans
 * the tickets and the replies (or the bus's 503s) free them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/scheduler.h>

#include "cache.h"
#include "events.h"
#include "framework.h"
#include "podinfo.h"
#include "preempt.h"
#include "queue.h"

#define WRITE_TIMEOUT_MS   30000
#define BATCH_MAX_PODS     512
#define BATCH_MAX_MS       20
#define TICK_MS            1000
#define SYNC_POLL_MS       20
#define EVENT_REPEAT_MS    60000
#define DEFAULT_SCHED_NAME "default-scheduler"

struct sched_conf {
    const char *scheduler_name;
    const kr_value_t *filters;
    const kr_value_t *scores;
    int64_t pct_to_score;
    int64_t initial_backoff_ms;
    int64_t max_backoff_ms;
    int64_t max_unsched_ms;
    int64_t max_writes;
    int64_t event_writes;
    int64_t event_queue;
};

static const kr_config_entry_t sched_config[] = {
    {KR_CFG_STRING, "scheduler_name", DEFAULT_SCHED_NAME,
     offsetof(struct sched_conf, scheduler_name),
     "the spec.schedulerName of the pods this instance places (profiles[].schedulerName)"},
    {KR_CFG_VALUE, "filters", NULL, offsetof(struct sched_conf, filters),
     "filter steps in order (a list of names); absent: the default profile"},
    {KR_CFG_VALUE, "scores", NULL, offsetof(struct sched_conf, scores),
     "score steps and their weights (a map name: weight 1-100); absent: the default profile"},
    {KR_CFG_INT, "percentage_of_nodes_to_score", "0", offsetof(struct sched_conf, pct_to_score),
     "percentageOfNodesToScore: 0 is upstream's adaptive 50 - nodes/125 %, at least 5 %"},
    {KR_CFG_DURATION, "pod_initial_backoff", "1s", offsetof(struct sched_conf, initial_backoff_ms),
     "podInitialBackoffSeconds: the first back-off of a pod that failed"},
    {KR_CFG_DURATION, "pod_max_backoff", "10s", offsetof(struct sched_conf, max_backoff_ms),
     "podMaxBackoffSeconds: the longest back-off"},
    {KR_CFG_DURATION, "pod_max_in_unschedulable", "5m", offsetof(struct sched_conf, max_unsched_ms),
     "how long an unschedulable pod waits for an event before it is tried again anyway"},
    {KR_CFG_INT, "max_writes_in_flight", "512", offsetof(struct sched_conf, max_writes),
     "bindings, status patches and deletes sent and not yet answered before scheduling pauses "
     "(with event_writes_in_flight, below the bus's 1,024 requests a connection)"},
    {KR_CFG_INT, "event_writes_in_flight", "64", offsetof(struct sched_conf, event_writes),
     "Event writes sent and not yet answered"},
    {KR_CFG_INT, "event_queue", "20000", offsetof(struct sched_conf, event_queue),
     "Events waiting to be written before new ones are dropped"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef enum { T_BIND, T_STATUS, T_DELETE } ticket_kind_t;

typedef struct sched sched_t;

typedef struct ticket {
    sched_t *s; /* NULL once fini ran */
    struct ticket *prev, *next;
    ticket_kind_t kind;
    uint64_t sent_ms;
    char *uid, *ns, *name, *node;
} ticket_t;

struct sched {
    kr_plugin_ctx_t *ctx;
    kr_loop_t *loop;
    kr_bus_t *bus;
    const struct sched_conf *conf;
    sched_profile_t *prof;
    sched_queue_t *queue;
    sched_cache_t *cache;
    sched_events_t *events;
    kr_informer_t *nodes, *pods, *nss;
    kr_arena_t *cycle_arena;
    uint64_t seq, rand;
    uint64_t kick_timer, tick_timer, sync_timer;
    bool synced;
    uint32_t bindings;   /* of writes: bindings */
    uint32_t writes;     /* every write in flight but Events */
    sched_htab_t parsed; /* pods on nodes parsed by the transform, for their handler */
    ticket_t *tickets;
    struct {
        uint64_t attempts, scheduled, unschedulable, errors, bind_failures, preemptions, victims;
        uint64_t cycle_ns, cycle_max_ns; /* schedule_one, from the pop to the binding sent */
        uint64_t bind_ms, bind_max_ms;   /* binding sent to its reply */
        uint64_t wait_ms, wait_max_ms;   /* queued (or back in activeQ) to popped */
    } st;
};

/* ---- helpers ----------------------------------------------------------------------- */

static uint64_t now_ms(sched_t *s)
{
    return kr_loop_now(s->loop);
}

static const char *meta_str(const kr_value_t *obj, const char *key)
{
    return kr_value_map_str(kr_value_map_get(obj, "metadata"), key);
}

static const char *nominated_of(const kr_value_t *obj)
{
    const char *n = kr_value_as_str(kr_value_get(obj, "status.nominatedNodeName"));
    return n != NULL ? n : "";
}

static bool ours(const sched_t *s, const kr_value_t *obj)
{
    const char *n = kr_value_as_str(kr_value_get(obj, "spec.schedulerName"));
    return strcmp(n != NULL && *n ? n : DEFAULT_SCHED_NAME, s->conf->scheduler_name) == 0;
}

static bool finished(const kr_value_t *obj)
{
    const char *phase = kr_value_as_str(kr_value_get(obj, "status.phase"));
    return phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static char *xstrdup0(const char *s)
{
    char *d = strdup(s != NULL ? s : "");
    if (d == NULL)
        abort();
    return d;
}

static ticket_t *ticket_new(sched_t *s, ticket_kind_t kind, const kr_sched_pod_t *pod,
                            const char *node)
{
    ticket_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        abort();
    t->s = s;
    t->kind = kind;
    t->uid = xstrdup0(pod->uid);
    t->ns = xstrdup0(pod->ns);
    t->name = xstrdup0(pod->name);
    t->node = node != NULL ? xstrdup0(node) : NULL;
    t->next = s->tickets;
    if (s->tickets != NULL)
        s->tickets->prev = t;
    s->tickets = t;
    s->writes++;
    return t;
}

static void kick(sched_t *s);

/* Unlinks the ticket; returns its scheduler (NULL after fini). */
static sched_t *ticket_take(ticket_t *t)
{
    sched_t *s = t->s;
    if (s != NULL) {
        if (t->prev != NULL)
            t->prev->next = t->next;
        else
            s->tickets = t->next;
        if (t->next != NULL)
            t->next->prev = t->prev;
        /* below the limit again: scheduling may go on */
        if (s->writes-- == (uint32_t)s->conf->max_writes)
            kick(s);
    }
    return s;
}

static void ticket_free(ticket_t *t)
{
    free(t->uid);
    free(t->ns);
    free(t->name);
    free(t->node);
    free(t);
}

static void send(sched_t *s, const kr_request_t *req, kr_reply_fn fn, ticket_t *t)
{
    kr_error_t err;
    if (kr_bus_send(s->bus, req, fn, t, WRITE_TIMEOUT_MS, NULL, &err) < 0) {
        /* the callback will not run: answer it ourselves */
        kr_reply_t r = {
            .code = kr_reason_code(err.reason), .reason = err.reason, .message = err.message};
        fn(s->bus, &r, t);
    }
}

/* ---- writes -------------------------------------------------------------------------- */

static void on_written(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ticket_t *t = ud;
    sched_t *s = ticket_take(t);
    if (s != NULL && r->code >= 300 && r->code != 404)
        kr_plugin_log(s->ctx, KR_LOG_WARN, r->message ? r->message : "write failed",
                      "op=%s pod=%s/%s code=%d", t->kind == T_DELETE ? "delete" : "status", t->ns,
                      t->name, r->code);
    ticket_free(t);
}

static kr_value_t *condition(kr_arena_t *a, const char *type, const char *status,
                             const char *reason, const char *message, const char *since)
{
    kr_value_t *c = kr_value_map(a);
    kr_value_map_set(a, c, "type", kr_value_str(a, type));
    kr_value_map_set(a, c, "status", kr_value_str(a, status));
    kr_value_map_set(a, c, "lastProbeTime", kr_value_null(a));
    kr_value_map_set(a, c, "lastTransitionTime", kr_value_str(a, since));
    kr_value_map_set(a, c, "reason", kr_value_str(a, reason));
    kr_value_map_set(a, c, "message", kr_value_str(a, message));
    return c;
}

/* pods/status as a strategic merge patch: conditions merge by type */
static void patch_status(sched_t *s, const kr_sched_pod_t *pod, kr_value_t *status, kr_arena_t *a)
{
    kr_value_t *patch = kr_value_map(a), *opts = kr_value_map(a);
    kr_value_map_set(a, patch, "status", status);
    kr_value_map_set(a, opts, "patchType",
                     kr_value_str(a, "application/strategic-merge-patch+json"));
    kr_request_t req = {.op = "patch",
                        .res = "v1/pods",
                        .ns = pod->ns,
                        .name = pod->name,
                        .sub = "status",
                        .obj = patch,
                        .opts = opts};
    send(s, &req, on_written, ticket_new(s, T_STATUS, pod, NULL));
}

/* upstream's updatePod after a failure: PodScheduled False with the
 * message, and the nominated node; nothing when both are as they are */
static void write_failure(sched_t *s, const kr_sched_pod_t *pod, const char *reason,
                          const char *message, const char *nominate)
{
    const kr_value_t *obj = pod->obj;
    const kr_value_t *conds = kr_value_get(obj, "status.conditions"), *cur = NULL;
    for (size_t i = 0; i < kr_value_len(conds) && kr_value_type(conds) == KR_ARRAY; i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        if (strcmp(kr_value_map_str(c, "type") ?: "", "PodScheduled") == 0)
            cur = c;
    }
    bool same_cond = cur != NULL && strcmp(kr_value_map_str(cur, "status") ?: "", "False") == 0 &&
                     strcmp(kr_value_map_str(cur, "reason") ?: "", reason) == 0 &&
                     strcmp(kr_value_map_str(cur, "message") ?: "", message) == 0;
    bool same_nom = nominate == NULL || strcmp(nominated_of(obj), nominate) == 0;
    if (same_cond && same_nom)
        return;
    kr_arena_t *a = kr_arena_new(2048);
    char since[40];
    const char *old_since = kr_value_map_str(cur, "lastTransitionTime");
    if (cur != NULL && strcmp(kr_value_map_str(cur, "status") ?: "", "False") == 0 && old_since)
        snprintf(since, sizeof since, "%s", old_since);
    else
        sched_time_rfc3339(since, sizeof since);
    kr_value_t *status = kr_value_map(a), *list = kr_value_array(a);
    kr_value_array_push(a, list, condition(a, "PodScheduled", "False", reason, message, since));
    kr_value_map_set(a, status, "conditions", list);
    if (!same_nom)
        kr_value_map_set(a, status, "nominatedNodeName",
                         *nominate ? kr_value_str(a, nominate) : kr_value_null(a));
    patch_status(s, pod, status, a);
    kr_arena_destroy(&a);
}

static void event_for(sched_t *s, const kr_sched_pod_t *pod, const char *type, const char *reason,
                      const char *action, const char *message, const kr_sched_pod_t *related,
                      char *name_out)
{
    sched_event_t e = {
        .type = type,
        .reason = reason,
        .action = action,
        .message = message,
        .ns = pod->ns,
        .name = pod->name,
        .uid = pod->uid,
        .rv = pod->obj != NULL ? meta_str(pod->obj, "resourceVersion") : NULL,
    };
    if (related != NULL) {
        e.rel_ns = related->ns;
        e.rel_name = related->name;
        e.rel_uid = related->uid;
    }
    sched_events_record(s->events, &e, name_out);
}

/* FailedScheduling: a new Event for a new message; a repeat of the last
 * one only bumps its series, at most once a minute */
static void failed_event(sched_t *s, sched_qpod_t *qp, const char *message)
{
    uint64_t now = now_ms(s);
    const kr_sched_pod_t *pod = &qp->sp->pod;
    if (qp->ev_message != NULL && strcmp(qp->ev_message, message) == 0) {
        qp->ev_count++;
        if (now - qp->ev_written_ms >= EVENT_REPEAT_MS) {
            sched_events_repeat(s->events, pod->ns, qp->ev_name, qp->ev_count);
            qp->ev_written_ms = now;
        }
        return;
    }
    char name[300];
    event_for(s, pod, "Warning", "FailedScheduling", "Scheduling", message, NULL, name);
    free(qp->ev_message);
    free(qp->ev_name);
    qp->ev_message = xstrdup0(message);
    qp->ev_name = xstrdup0(name);
    qp->ev_count = 1;
    qp->ev_written_ms = now;
}

/* ---- binding ------------------------------------------------------------------------- */

static void unnominate(sched_t *s, sched_qpod_t *qp)
{
    if (qp->sp != NULL)
        sched_cache_unnominate(s->cache, &qp->sp->pod);
}

static void nominate_from_status(sched_t *s, sched_qpod_t *qp)
{
    const char *n = nominated_of(qp->sp->pod.obj);
    if (*n)
        sched_cache_nominate(s->cache, &qp->sp->pod, n);
}

static void on_bound(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ticket_t *t = ud;
    sched_t *s = ticket_take(t);
    if (s == NULL) {
        ticket_free(t);
        return;
    }
    s->bindings--;
    uint64_t rtt = kr_time_ms() - t->sent_ms;
    s->st.bind_ms += rtt;
    if (rtt > s->st.bind_max_ms)
        s->st.bind_max_ms = rtt;
    sched_qpod_t *qp = sched_queue_get(s->queue, t->uid);
    if (r->code < 300) {
        s->st.scheduled++;
        char msg[800];
        snprintf(msg, sizeof msg, "Successfully assigned %s/%s to %s", t->ns, t->name, t->node);
        bool assumed;
        const sched_pod_t *sp = sched_cache_pod(s->cache, t->uid, &assumed);
        kr_sched_pod_t ref = {
            .ns = t->ns, .name = t->name, .uid = t->uid, .obj = sp != NULL ? sp->pod.obj : NULL};
        event_for(s, &ref, "Normal", "Scheduled", "Binding", msg, NULL, NULL);
        if (qp != NULL)
            sched_queue_remove(s->queue, qp);
    } else {
        s->st.bind_failures++;
        sched_pod_t *sp = sched_cache_forget(s->cache, t->uid);
        kr_plugin_log(s->ctx, KR_LOG_INFO, r->message ? r->message : "binding failed",
                      "pod=%s/%s node=%s code=%d", t->ns, t->name, t->node, r->code);
        if (qp == NULL || sp == NULL || r->code == 404) {
            /* gone, or placed meanwhile (the informer confirmed it) */
            sched_pod_free(&sp);
            if (qp != NULL && qp->sp == NULL)
                sched_queue_remove(s->queue, qp);
        } else {
            qp->sp = sp;
            /* upstream: the binding cycle's error is a SchedulerError, its message the
             * bind plugin's */
            char msg[1024];
            snprintf(msg, sizeof msg, "running Bind plugin \"DefaultBinder\": %s",
                     r->message ? r->message : kr_reason_name(r->reason));
            write_failure(s, &sp->pod, "SchedulerError", msg, NULL);
            failed_event(s, qp, msg);
            sched_queue_backoff(s->queue, qp, now_ms(s));
        }
    }
    ticket_free(t);
    kick(s);
}

static void bind(sched_t *s, const kr_sched_pod_t *pod, const char *node)
{
    kr_arena_t *a = kr_arena_new(1024);
    kr_value_t *b = kr_value_map(a), *meta = kr_value_map(a), *target = kr_value_map(a);
    kr_value_map_set(a, b, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, b, "kind", kr_value_str(a, "Binding"));
    kr_value_map_set(a, meta, "name", kr_value_str(a, pod->name));
    kr_value_map_set(a, meta, "namespace", kr_value_str(a, pod->ns));
    kr_value_map_set(a, meta, "uid", kr_value_str(a, pod->uid));
    kr_value_map_set(a, b, "metadata", meta);
    kr_value_map_set(a, target, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, target, "kind", kr_value_str(a, "Node"));
    kr_value_map_set(a, target, "name", kr_value_str(a, node));
    kr_value_map_set(a, b, "target", target);
    kr_request_t req = {.op = "create",
                        .res = "v1/pods",
                        .ns = pod->ns,
                        .name = pod->name,
                        .sub = "binding",
                        .obj = b};
    s->bindings++;
    ticket_t *t = ticket_new(s, T_BIND, pod, node);
    t->sent_ms = kr_time_ms();
    send(s, &req, on_bound, t);
    kr_arena_destroy(&a);
}

/* ---- preemption ------------------------------------------------------------------------ */

/* upstream's prepareCandidate: the victims get the DisruptionTarget
 * condition, a Preempted Event and a graceful delete; lower-priority pods
 * nominated to the node lose their nomination */
static void preempt_victims(sched_t *s, const kr_sched_pod_t *pod, const sched_preemption_t *p)
{
    char since[40];
    sched_time_rfc3339(since, sizeof since);
    char reason_msg[300];
    snprintf(reason_msg, sizeof reason_msg, "%s: preempting to accommodate a higher priority pod",
             s->conf->scheduler_name);
    for (uint32_t i = 0; i < p->n_victims; i++) {
        const kr_sched_pod_t *v = p->victims[i];
        kr_arena_t *a = kr_arena_new(1024);
        kr_value_t *status = kr_value_map(a), *list = kr_value_array(a);
        kr_value_array_push(
            a, list,
            condition(a, "DisruptionTarget", "True", "PreemptionByScheduler", reason_msg, since));
        kr_value_map_set(a, status, "conditions", list);
        patch_status(s, v, status, a);
        kr_value_t *opts = kr_value_map(a), *pre = kr_value_map(a);
        kr_value_map_set(a, pre, "uid", kr_value_str(a, v->uid));
        kr_value_map_set(a, opts, "preconditions", pre);
        kr_request_t req = {
            .op = "delete", .res = "v1/pods", .ns = v->ns, .name = v->name, .opts = opts};
        send(s, &req, on_written, ticket_new(s, T_DELETE, v, NULL));
        char msg[600];
        snprintf(msg, sizeof msg, "Preempted by pod %s on node %s", pod->uid, p->node->name);
        event_for(s, v, "Normal", "Preempted", "Preempting", msg, pod, NULL);
        kr_arena_destroy(&a);
        s->st.victims++;
    }
    sched_cnode_t *cn = sched_cache_node(s->cache, p->node->name);
    for (uint32_t i = 0; cn != NULL && i < cn->n_nominated;) {
        const kr_sched_pod_t *np = cn->nominated[i];
        if (np->priority >= pod->priority || strcmp(np->uid, pod->uid) == 0) {
            i++;
            continue;
        }
        kr_arena_t *a = kr_arena_new(256);
        kr_value_t *status = kr_value_map(a);
        kr_value_map_set(a, status, "nominatedNodeName", kr_value_null(a));
        patch_status(s, np, status, a);
        kr_arena_destroy(&a);
        sched_cache_unnominate(s->cache, np); /* swaps the last one into i */
        cn = sched_cache_node(s->cache, p->node->name);
    }
}

/* ---- one cycle ------------------------------------------------------------------------- */

static void schedule_one(sched_t *s, sched_qpod_t *qp)
{
    const kr_sched_pod_t *pod = &qp->sp->pod;
    uint64_t now = now_ms(s);
    if (pod->terminating) { /* upstream's skipPodSchedule: the delete will follow */
        unnominate(s, qp);
        sched_queue_remove(s->queue, qp);
        return;
    }
    s->st.attempts++;
    kr_arena_reset(s->cycle_arena);
    const kr_sched_snapshot_t *snap = sched_cache_snapshot(s->cache);
    const char *nominated = kr_arena_strdup(s->cycle_arena, nominated_of(pod->obj));
    sched_run_t run;
    sched_result_t res;
    sched_run_init(&run, s->prof, s->cache, s->cycle_arena, snap, pod, ++s->seq);
    sched_run_schedule(&run, nominated, &res);

    if (res.code == KR_SCHED_SUCCESS) {
        const char *node = kr_arena_strdup(s->cycle_arena, res.node->name);
        sched_run_fini(&run);
        unnominate(s, qp);
        kr_error_t err;
        if (sched_cache_assume(s->cache, &qp->sp, node, &err) < 0) {
            kr_plugin_log(s->ctx, KR_LOG_WARN, err.message, "pod=%s/%s", pod->ns, pod->name);
            sched_queue_backoff(s->queue, qp, now);
            return;
        }
        /* qp->sp is the cache's now; `pod` still points to it */
        bind(s, pod, node);
        return;
    }
    if (res.code == KR_SCHED_ERROR) {
        s->st.errors++;
        const char *msg = kr_arena_strdup(s->cycle_arena, res.error);
        sched_run_fini(&run);
        kr_plugin_log(s->ctx, KR_LOG_WARN, msg, "pod=%s/%s", pod->ns, pod->name);
        write_failure(s, pod, "SchedulerError", msg, NULL);
        failed_event(s, qp, msg);
        sched_queue_backoff(s->queue, qp, now);
        return;
    }
    s->st.unschedulable++;
    const char *nominate = NULL;
    if (res.error == NULL) { /* PostFilter: preemption */
        sched_preemption_t pre;
        s->rand = s->rand * 6364136223846793005ull + 1442695040888963407ull;
        sched_preempt(&run, &res, nominated, s->rand >> 17, &pre);
        if (pre.found) {
            s->st.preemptions++;
            nominate = kr_arena_strdup(s->cycle_arena, pre.node->name);
            preempt_victims(s, pod, &pre);
        } else {
            res.fit.postfilter_msg = pre.message;
            if (pre.message != NULL && *nominated)
                nominate = ""; /* upstream clears a nomination that no longer holds */
        }
    }
    const char *msg = res.error != NULL ? res.error : sched_fiterr_message(&res.fit);
    sched_run_fini(&run);
    write_failure(s, pod, "Unschedulable", msg, nominate);
    failed_event(s, qp, msg);
    if (nominate != NULL && *nominate)
        sched_cache_nominate(s->cache, pod, nominate);
    else if (nominate != NULL)
        unnominate(s, qp);
    sched_queue_unschedulable(s->queue, qp, res.events, now);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_kick(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    sched_t *s = ud;
    s->kick_timer = 0;
    uint64_t t0 = kr_time_ms();
    for (int i = 0; i < BATCH_MAX_PODS; i++) {
        if (s->writes >= (uint64_t)s->conf->max_writes)
            return; /* a reply kicks again */
        sched_qpod_t *qp = sched_queue_pop(s->queue, now_ms(s));
        if (qp == NULL)
            return;
        uint64_t c0 = mono_ns(), waited = now_ms(s) - qp->timestamp_ms;
        s->st.wait_ms += waited;
        if (waited > s->st.wait_max_ms)
            s->st.wait_max_ms = waited;
        schedule_one(s, qp);
        uint64_t dt = mono_ns() - c0;
        s->st.cycle_ns += dt;
        if (dt > s->st.cycle_max_ns)
            s->st.cycle_max_ns = dt;
        if (dt > 20000000u) /* a cycle is ~0.1 ms: say which one took 20 */
            kr_plugin_log(s->ctx, KR_LOG_INFO, "slow scheduling cycle", "ms=%.1f nodes=%zu",
                          (double)dt / 1e6, sched_cache_node_count(s->cache));
        if (kr_time_ms() - t0 >= BATCH_MAX_MS)
            break;
    }
    kick(s);
}

static void kick(sched_t *s)
{
    if (s->synced && s->kick_timer == 0)
        s->kick_timer = kr_loop_add_timer(s->loop, 0, 0, on_kick, s);
}

static void moved(sched_t *s, unsigned event)
{
    if (sched_queue_move(s->queue, event, now_ms(s)) > 0)
        kick(s);
}

/* ---- pods parsed in the informer's transform --------------------------------------------- */

/* A pod on a node is parsed while the informer still holds the whole object
 * (in its transform), and the informer keeps only its name, uid and
 * resourceVersion: the handler that follows takes the parse from here. */
typedef struct parsed {
    sched_hnode_t hn;
    char *uid;
    uint64_t rv;
    sched_pod_t *sp;
} parsed_t;

static uint64_t rv_of(const kr_value_t *obj)
{
    const char *s = meta_str(obj, "resourceVersion");
    return s != NULL ? strtoull(s, NULL, 10) : 0;
}

static void parsed_drop(sched_t *s, const char *uid)
{
    sched_hnode_t *h = sched_htab_get(&s->parsed, uid);
    if (h == NULL)
        return;
    parsed_t *p = SCHED_CONTAINER(h, parsed_t, hn);
    sched_htab_del(&s->parsed, h);
    sched_pod_free(&p->sp);
    free(p->uid);
    free(p);
}

static void parsed_put(sched_t *s, const char *uid, uint64_t rv, sched_pod_t *sp)
{
    parsed_drop(s, uid);
    parsed_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    p->uid = xstrdup0(uid);
    p->rv = rv;
    p->sp = sp;
    sched_htab_put(&s->parsed, &p->hn, p->uid);
}

/* The parse of `uid` at `rv`, taken (caller owns it), or NULL. */
static sched_pod_t *parsed_take(sched_t *s, const char *uid, uint64_t rv)
{
    sched_hnode_t *h = sched_htab_get(&s->parsed, uid);
    if (h == NULL)
        return NULL;
    parsed_t *p = SCHED_CONTAINER(h, parsed_t, hn);
    sched_pod_t *sp = p->rv == rv ? p->sp : NULL;
    if (sp != NULL)
        p->sp = NULL;
    parsed_drop(s, uid);
    return sp;
}

/* ---- pods ------------------------------------------------------------------------------- */

static void pod_gone(sched_t *s, const kr_value_t *obj)
{
    const char *uid = meta_str(obj, "uid");
    if (uid == NULL)
        return;
    bool freed = false, assumed;
    parsed_drop(s, uid);
    sched_qpod_t *qp = sched_queue_get(s->queue, uid);
    if (qp != NULL) {
        unnominate(s, qp);
        sched_queue_remove(s->queue, qp);
    }
    /* an assumed pod (binding in flight or not yet confirmed) is forgotten */
    if (sched_cache_pod(s->cache, uid, &assumed) != NULL && assumed) {
        sched_pod_t *sp = sched_cache_forget(s->cache, uid);
        sched_pod_free(&sp);
        freed = true;
    } else {
        freed = sched_cache_remove_pod(s->cache, uid);
    }
    if (freed)
        moved(s, KR_SCHED_EV_POD_DELETE);
}

static bool spec_changed(const kr_value_t *old, const kr_value_t *obj)
{
    /* upstream's isPodUpdated: anything but status and bookkeeping */
    return old == NULL ||
           !kr_value_equal(kr_value_map_get(old, "spec"), kr_value_map_get(obj, "spec")) ||
           !kr_value_equal(kr_value_get(old, "metadata.labels"),
                           kr_value_get(obj, "metadata.labels")) ||
           !kr_value_equal(kr_value_get(old, "metadata.annotations"),
                           kr_value_get(obj, "metadata.annotations"));
}

static void pod_changed(sched_t *s, const kr_value_t *old, const kr_value_t *obj)
{
    if (finished(obj)) {
        pod_gone(s, obj);
        return;
    }
    const char *uid = meta_str(obj, "uid");
    if (uid == NULL)
        return;
    const char *node = kr_value_as_str(kr_value_get(obj, "spec.nodeName"));
    bool assumed;
    const sched_pod_t *cached = sched_cache_pod(s->cache, uid, &assumed);
    sched_qpod_t *qp = sched_queue_get(s->queue, uid);
    if (node != NULL && *node != '\0') {
        uint64_t rv = rv_of(obj);
        sched_pod_t *sp = parsed_take(s, uid, rv);
        if (sp == NULL) /* did not parse: the transform said why */
            return;
        if (qp != NULL) {
            unnominate(s, qp);
            if (qp->sp != NULL) /* placed by someone else */
                sched_queue_remove(s->queue, qp);
            /* else: our binding's reply removes it */
        }
        bool labels_changed = cached != NULL && !kr_value_equal(cached->pod.labels, sp->pod.labels);
        bool added = sched_cache_set_pod(s->cache, &sp) || (cached != NULL && assumed);
        sched_cache_set_pod_rv(s->cache, uid, rv);
        if (added)
            moved(s, KR_SCHED_EV_POD_ADD);
        else if (labels_changed)
            moved(s, KR_SCHED_EV_POD_UPDATE);
        return;
    }
    if (!ours(s, obj))
        return; /* another scheduler's */
    if (kr_value_len(kr_value_get(obj, "spec.schedulingGates")) > 0) {
        /* upstream's SchedulingGates PreEnqueue: not queued until the
         * gates are gone (the API set PodScheduled=False SchedulingGated) */
        if (qp != NULL && qp->sp != NULL) {
            unnominate(s, qp);
            sched_queue_remove(s->queue, qp);
        }
        return;
    }
    kr_error_t err;
    sched_pod_t *sp = sched_pod_new(obj, false, &err);
    if (sp == NULL) {
        kr_plugin_log(s->ctx, KR_LOG_WARN, err.message, "pod=%s/%s", meta_str(obj, "namespace"),
                      meta_str(obj, "name"));
        return;
    }
    /* a pending pod of ours: the queue's copy points into the informer's
     * object, which this update replaces */
    sp->pod.obj = obj;
    if (cached != NULL && assumed) { /* binding in flight: keep the assumption current */
        ((sched_pod_t *)cached)->pod.obj = obj;
        sched_pod_free(&sp);
        return;
    }
    if (qp == NULL) {
        qp = sched_queue_add(s->queue, &sp, now_ms(s));
        nominate_from_status(s, qp);
        kick(s);
        return;
    }
    unnominate(s, qp);
    bool changed = spec_changed(old, obj);
    sched_queue_update(s->queue, qp, &sp, changed, now_ms(s));
    nominate_from_status(s, qp);
    if (changed)
        kick(s);
}

static void on_pod_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    pod_changed(ud, NULL, obj);
}

static void on_pod_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *obj,
                          void *ud)
{
    (void)inf;
    if (old != obj) /* a resync changes nothing here */
        pod_changed(ud, old, obj);
}

static void on_pod_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    pod_gone(ud, obj);
}

/* ---- what the informers keep ------------------------------------------------------------ */

/* Copies map entries `keys` of `from` that are present into `to`. */
static void keep(kr_arena_t *a, kr_value_t *to, const kr_value_t *from, const char *const *keys)
{
    for (; *keys != NULL; keys++) {
        const kr_value_t *v = kr_value_map_get(from, *keys);
        if (v != NULL)
            kr_value_map_set(a, to, *keys, (kr_value_t *)v);
    }
}

static kr_value_t *kept(kr_arena_t *a, const kr_value_t *from, const char *const *keys)
{
    kr_value_t *m = kr_value_map(a);
    keep(a, m, from, keys);
    return m;
}

/* A pending pod of ours as the informer keeps it: whole (the steps read
 * it) but for metadata.managedFields, which nothing here reads and which
 * are a third of a pod created through the API — thousands of pods wait
 * in the queue when creates outrun the scheduler.  NULL (kept as it is)
 * when it has none. */
static const kr_value_t *pending_kept(kr_arena_t *a, const kr_value_t *obj)
{
    const kr_value_t *md = kr_value_map_get(obj, "metadata");
    if (kr_value_map_get(md, "managedFields") == NULL)
        return NULL;
    kr_value_t *out = kr_value_map(a), *m = kr_value_map(a);
    for (size_t i = 0; i < kr_value_len(md); i++)
        if (strcmp(kr_value_map_key(md, i), "managedFields") != 0)
            kr_value_map_set(a, m, kr_value_map_key(md, i), kr_value_map_val(md, i));
    for (size_t i = 0; i < kr_value_len(obj); i++) {
        const char *k = kr_value_map_key(obj, i);
        kr_value_map_set(a, out, k, strcmp(k, "metadata") == 0 ? m : kr_value_map_val(obj, i));
    }
    return out;
}

/* The pod informer keeps a pending pod of ours whole (pending_kept).
 * A pod on a node is parsed here, while the whole object is at hand, for
 * the handler that follows (unless the cache has it at this
 * resourceVersion already: a relist), and the informer keeps only what the
 * handlers read of it: uid, resourceVersion, node, and the phase once it
 * is finished — tens of thousands of pods cost their parse and ~250 bytes
 * each, not their objects.  Name and namespace are the informer's key;
 * logs and Events name pods from the whole object or the parse. */
static const kr_value_t *pod_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    sched_t *s = ud;
    const char *node = kr_value_as_str(kr_value_get(obj, "spec.nodeName"));
    bool assigned = node != NULL && *node != '\0';
    if (!assigned && ours(s, obj))
        return pending_kept(a, obj);
    const char *uid = meta_str(obj, "uid");
    if (assigned && uid != NULL && !finished(obj)) {
        uint64_t rv = rv_of(obj);
        if (rv == 0 || sched_cache_pod_rv(s->cache, uid) != rv) {
            kr_error_t err;
            sched_pod_t *sp = sched_pod_new(obj, false, &err);
            if (sp != NULL)
                parsed_put(s, uid, rv, sp);
            else
                kr_plugin_log(s->ctx, KR_LOG_WARN, err.message, "pod=%s/%s",
                              meta_str(obj, "namespace"), meta_str(obj, "name"));
        }
    }
    static const char *const mkeys[] = {"uid", "resourceVersion", NULL};
    /* a pod on a node stays there: whose it was (schedulerName, read by
     * ours() for pending pods only) is not asked again */
    static const char *const skeys[] = {"schedulerName", "nodeName", NULL};
    static const char *const stkeys[] = {"phase", NULL};
    kr_value_t *out = kr_value_map(a);
    kr_value_map_set(a, out, "metadata", kept(a, kr_value_map_get(obj, "metadata"), mkeys));
    kr_value_map_set(a, out, "spec",
                     kept(a, kr_value_map_get(obj, "spec"), assigned ? skeys + 1 : skeys));
    if (finished(obj)) /* finished() of the kept copy reads it; a running pod's is not read */
        kr_value_map_set(a, out, "status", kept(a, kr_value_map_get(obj, "status"), stkeys));
    return out;
}

/* The node informer keeps what the cache parses (labels, taints,
 * unschedulable, allocatable, the type and status of the conditions it
 * reads: Ready and NetworkUnavailable): no images, addresses, nodeInfo,
 * heartbeat times or pressure conditions (those reach the scheduler as
 * taints). */
static const kr_value_t *node_transform(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const mkeys[] = {"name", "uid", "resourceVersion", "labels", NULL};
    static const char *const skeys[] = {"unschedulable", "taints", NULL};
    static const char *const stkeys[] = {"capacity", "allocatable", NULL};
    static const char *const ckeys[] = {"type", "status", NULL};
    kr_value_t *out = kr_value_map(a);
    kr_value_map_set(a, out, "metadata", kept(a, kr_value_map_get(obj, "metadata"), mkeys));
    kr_value_map_set(a, out, "spec", kept(a, kr_value_map_get(obj, "spec"), skeys));
    const kr_value_t *status = kr_value_map_get(obj, "status");
    /* capacity only stands in for a missing allocatable */
    bool alloc = kr_value_map_get(status, "allocatable") != NULL;
    kr_value_t *st = kept(a, status, alloc ? stkeys + 1 : stkeys), *conds = kr_value_array(a);
    const kr_value_t *cl = kr_value_map_get(status, "conditions");
    for (size_t i = 0; i < kr_value_len(cl); i++) {
        const kr_value_t *c = kr_value_array_get(cl, i);
        const char *type = kr_value_map_str(c, "type");
        if (type != NULL && (strcmp(type, "Ready") == 0 || strcmp(type, "NetworkUnavailable") == 0))
            kr_value_array_push(a, conds, kept(a, c, ckeys));
    }
    kr_value_map_set(a, st, "conditions", conds);
    kr_value_map_set(a, out, "status", st);
    return out;
}

/* ---- nodes and namespaces ------------------------------------------------------------- */

static void node_set(sched_t *s, const kr_value_t *obj, bool added)
{
    bool changed = false;
    kr_error_t err;
    if (sched_cache_set_node(s->cache, obj, &changed, &err) < 0)
        kr_plugin_log(s->ctx, KR_LOG_WARN, err.message, "node=%s", meta_str(obj, "name") ?: "");
    if (added)
        moved(s, KR_SCHED_EV_NODE_ADD);
    else if (changed)
        moved(s, KR_SCHED_EV_NODE_UPDATE);
}

static void on_node_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    node_set(ud, obj, true);
}

static void on_node_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *obj,
                           void *ud)
{
    (void)inf;
    if (old != obj)
        node_set(ud, obj, false);
}

static void on_node_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    const char *name = meta_str(obj, "name");
    if (name != NULL)
        sched_cache_remove_node(((sched_t *)ud)->cache, name);
}

static void on_ns_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    if (kr_value_len(kr_value_get(obj, "metadata.labels")) > 0)
        moved(ud, KR_SCHED_EV_NAMESPACE);
}

static void on_ns_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *obj, void *ud)
{
    (void)inf;
    if (old != obj &&
        !kr_value_equal(kr_value_get(old, "metadata.labels"), kr_value_get(obj, "metadata.labels")))
        moved(ud, KR_SCHED_EV_NAMESPACE);
}

static const kr_value_t *ns_labels(const kr_sched_snapshot_t *snap, const char *ns)
{
    const sched_t *s = snap->ns_ud;
    const kr_value_t *labels = kr_value_get(kr_informer_get(s->nss, NULL, ns), "metadata.labels");
    return kr_value_type(labels) == KR_MAP ? labels : NULL;
}

/* ---- timers and stats ------------------------------------------------------------------ */

static void on_tick(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    sched_t *s = ud;
    sched_queue_flush(s->queue, now_ms(s));
    sched_queue_stats_t q;
    sched_queue_stats(s->queue, &q);
    if (q.active > 0)
        kick(s);
}

static void on_sync_poll(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    sched_t *s = ud;
    if (!kr_informer_has_synced(s->nodes) || !kr_informer_has_synced(s->pods) ||
        !kr_informer_has_synced(s->nss))
        return;
    kr_loop_cancel_timer(s->loop, id);
    s->sync_timer = 0;
    s->synced = true;
    kr_plugin_log(s->ctx, KR_LOG_INFO, "scheduler synced", "nodes=%zu pods=%zu",
                  sched_cache_node_count(s->cache), sched_cache_pod_count(s->cache));
    kick(s);
}

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    sched_t *s = ud;
    kr_arena_t *a = kr_call_arena(call);
    sched_queue_stats_t q;
    sched_queue_stats(s->queue, &q);
    sched_events_stats_t e;
    sched_events_stats(s->events, &e);
    kr_value_t *o = kr_value_map(a);
#define PUT(k, v) kr_value_map_set(a, o, k, kr_value_int(a, (int64_t)(v)))
    PUT("attempts", s->st.attempts);
    PUT("scheduled", s->st.scheduled);
    PUT("unschedulable", s->st.unschedulable);
    PUT("errors", s->st.errors);
    PUT("bindFailures", s->st.bind_failures);
    PUT("preemptions", s->st.preemptions);
    PUT("victims", s->st.victims);
    PUT("cycleMicrosTotal", s->st.cycle_ns / 1000);
    PUT("cycleMicrosAvg", s->st.attempts ? s->st.cycle_ns / 1000 / s->st.attempts : 0);
    PUT("cycleMicrosMax", s->st.cycle_max_ns / 1000);
    PUT("queueWaitMillisAvg", s->st.attempts ? s->st.wait_ms / s->st.attempts : 0);
    PUT("queueWaitMillisMax", s->st.wait_max_ms);
    uint64_t binds = s->st.scheduled + s->st.bind_failures;
    PUT("bindMillisAvg", binds ? s->st.bind_ms / binds : 0);
    PUT("bindMillisMax", s->st.bind_max_ms);
    PUT("bindingsInFlight", s->bindings);
    PUT("writesInFlight", s->writes);
    PUT("activeQ", q.active);
    PUT("backoffQ", q.backoff);
    PUT("unschedulablePods", q.unschedulable);
    PUT("nodes", sched_cache_node_count(s->cache));
    PUT("pods", sched_cache_pod_count(s->cache));
    PUT("eventsWritten", e.written);
    PUT("eventsFailed", e.failed);
    PUT("eventsDropped", e.dropped);
#undef PUT
    kr_value_map_set(a, o, "schedulerName", kr_value_str(a, s->conf->scheduler_name));
    kr_value_map_set(a, o, "synced", kr_value_bool(a, s->synced));
    kr_call_reply(call, 200, o, NULL);
}

/* ---- init / fini ------------------------------------------------------------------------ */

static sched_profile_t *profile_from(const struct sched_conf *c, kr_error_t *err)
{
    const kr_value_t *f = c->filters, *sc = c->scores;
    if (f != NULL && kr_value_type(f) != KR_NULL && kr_value_type(f) != KR_ARRAY) {
        kr_error_set(err, KR_E_INVALID, "config key \"filters\": must be a list of step names");
        return NULL;
    }
    if (sc != NULL && kr_value_type(sc) != KR_NULL && kr_value_type(sc) != KR_MAP) {
        kr_error_set(err, KR_E_INVALID,
                     "config key \"scores\": must be a map of step names to weights");
        return NULL;
    }
    bool has_f = kr_value_type(f) == KR_ARRAY, has_s = kr_value_type(sc) == KR_MAP;
    size_t nf = has_f ? kr_value_len(f) : 0, ns = has_s ? kr_value_len(sc) : 0;
    const char **fn = calloc(nf + 1, sizeof *fn), **sn = calloc(ns + 1, sizeof *sn);
    int64_t *w = calloc(ns + 1, sizeof *w);
    if (fn == NULL || sn == NULL || w == NULL)
        abort();
    sched_profile_t *p = NULL;
    for (size_t i = 0; i < nf; i++)
        if ((fn[i] = kr_value_as_str(kr_value_array_get(f, i))) == NULL) {
            kr_error_set(err, KR_E_INVALID, "config key \"filters\": item %zu: must be a string",
                         i);
            goto out;
        }
    for (size_t i = 0; i < ns; i++) {
        sn[i] = kr_value_map_key(sc, i);
        const kr_value_t *v = kr_value_map_val(sc, i);
        if (kr_value_type(v) != KR_INT) {
            kr_error_set(err, KR_E_INVALID, "config key \"scores\": \"%s\": must be an integer",
                         sn[i]);
            goto out;
        }
        w[i] = kr_value_as_int(v, 0);
    }
    p = sched_profile_new(has_f ? fn : NULL, (uint32_t)nf, has_s ? sn : NULL, w, (uint32_t)ns,
                          (int32_t)c->pct_to_score, err);
out:
    free(fn);
    free(sn);
    free(w);
    return p;
}

static void sched_fini(void *instance);

static void *sched_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct sched_conf *c = config;
    if (c->scheduler_name == NULL || *c->scheduler_name == '\0') {
        kr_error_set(err, KR_E_INVALID, "config key \"scheduler_name\": must not be empty");
        return NULL;
    }
    if (c->max_writes < 1 || c->event_writes < 1 || c->max_writes + c->event_writes > 1000) {
        kr_error_set(err, KR_E_INVALID,
                     "config keys \"max_writes_in_flight\" and \"event_writes_in_flight\": each at "
                     "least 1, together at most 1000 (the bus takes 1,024 requests in flight on a "
                     "connection)");
        return NULL;
    }
    if (c->pct_to_score < 0 || c->pct_to_score > 100) {
        kr_error_set(err, KR_E_INVALID,
                     "config key \"percentage_of_nodes_to_score\": must be in the range 0-100");
        return NULL;
    }
    sched_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        abort();
    s->ctx = ctx;
    s->loop = kr_plugin_loop(ctx);
    s->bus = kr_plugin_bus(ctx);
    s->conf = c;
    s->rand = kr_time_ms() | 1;
    if ((s->prof = profile_from(c, err)) == NULL) {
        free(s);
        return NULL;
    }
    s->queue = sched_queue_new((uint64_t)c->initial_backoff_ms, (uint64_t)c->max_backoff_ms,
                               (uint64_t)c->max_unsched_ms);
    s->cache = sched_cache_new();
    sched_cache_set_ns_labels(s->cache, ns_labels, s);
    s->cycle_arena = kr_arena_new(64 * 1024);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char instance[600];
    snprintf(instance, sizeof instance, "%s-%s", c->scheduler_name, host);
    s->events = sched_events_new(s->bus, c->scheduler_name, instance, (uint32_t)c->event_writes,
                                 (uint32_t)c->event_queue);

    /* upstream's scheduler lists pods without the finished ones */
    kr_informer_opts_t po = {
        .res = "v1/pods",
        .field_selector = "status.phase!=Succeeded,status.phase!=Failed",
        .page_size = 1000,
        .name = "scheduler-pods",
        .handlers = {on_pod_add, on_pod_update, on_pod_delete, s},
    };
    kr_informer_opts_t no = {
        .res = "v1/nodes",
        .page_size = 1000,
        .name = "scheduler-nodes",
        .handlers = {on_node_add, on_node_update, on_node_delete, s},
    };
    kr_informer_opts_t nso = {
        .res = "v1/namespaces",
        .name = "scheduler-namespaces",
        .handlers = {on_ns_add, on_ns_update, NULL, s},
    };
    if ((s->nodes = kr_informer_new(s->loop, s->bus, &no, err)) == NULL ||
        (s->pods = kr_informer_new(s->loop, s->bus, &po, err)) == NULL ||
        (s->nss = kr_informer_new(s->loop, s->bus, &nso, err)) == NULL ||
        kr_informer_set_transform(s->pods, pod_transform, s, err) < 0 ||
        kr_informer_set_transform(s->nodes, node_transform, NULL, err) < 0 ||
        kr_informer_start(s->nodes, err) < 0 || kr_informer_start(s->nss, err) < 0 ||
        kr_informer_start(s->pods, err) < 0)
        goto fail;
    if (kr_bus_serve(s->bus, "sched.stats", c->scheduler_name, on_stats, s, 5000, err) < 0)
        goto fail;
    s->tick_timer = kr_loop_add_timer(s->loop, TICK_MS, TICK_MS, on_tick, s);
    s->sync_timer = kr_loop_add_timer(s->loop, SYNC_POLL_MS, SYNC_POLL_MS, on_sync_poll, s);
    kr_plugin_log(ctx, KR_LOG_INFO, "scheduler started", "schedulerName=%s filters=%u scores=%u",
                  c->scheduler_name, s->prof->n_filters, s->prof->n_scores);
    return s;
fail:
    sched_fini(s);
    return NULL;
}

static void sched_fini(void *instance)
{
    sched_t *s = instance;
    if (s == NULL)
        return;
    if (s->kick_timer != 0)
        kr_loop_cancel_timer(s->loop, s->kick_timer);
    if (s->tick_timer != 0)
        kr_loop_cancel_timer(s->loop, s->tick_timer);
    if (s->sync_timer != 0)
        kr_loop_cancel_timer(s->loop, s->sync_timer);
    kr_informer_destroy(&s->pods);
    kr_informer_destroy(&s->nodes);
    kr_informer_destroy(&s->nss);
    for (ticket_t *t = s->tickets; t != NULL; t = t->next)
        t->s = NULL;
    sched_events_destroy(&s->events);
    /* assumed pods lent by queue entries are freed by the cache */
    sched_hiter_t it = {0};
    for (sched_hnode_t *h; (h = sched_htab_next(&s->parsed, &it)) != NULL;)
        parsed_drop(s, SCHED_CONTAINER(h, parsed_t, hn)->uid);
    sched_htab_free(&s->parsed);
    sched_queue_destroy(&s->queue);
    sched_cache_destroy(&s->cache);
    sched_profile_destroy(&s->prof);
    kr_arena_destroy(&s->cycle_arena);
    free(s);
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "scheduler",
    .name = "default",
    .version = "1.0.0",
    .description = "Assigns pending pods to nodes (kube-scheduler's framework: queue, cache, "
                   "filter and score steps, preemption)",
    .config = sched_config,
    .config_size = sizeof(struct sched_conf),
    .init = sched_init,
    .fini = sched_fini,
};
