/* controller-gc: the garbage collector, after upstream's
 * pkg/controller/garbagecollector (graph_builder.go, garbagecollector.go).
 *
 * - It learns every kind from the "kinds" op (at start, and again —
 *   at most once per `discovery_interval` — when an ownerReference names
 *   a kind it does not know) and keeps one informer per kind, whose events
 *   maintain the owner → dependents graph by uid (graph.h).
 * - The graph queues uids in two work queues, as upstream's attemptToDelete
 *   and attemptToOrphan.  A worker never trusts the graph for a decision
 *   that deletes: it reads the object and each of its owners from the API
 *   (an owner is gone when a GET by name answers 404 or another uid; those
 *   answers are remembered in the graph's absent-owner cache) and writes
 *   with preconditions (delete: uid and resourceVersion; patch: the
 *   resourceVersion it read), so a stale cache costs a 409 and a retry
 *   through the queue's rate limiting, never a wrong delete.
 * - Background: an object whose owners are all gone is deleted (with the
 *   policy its own finalizers ask for, Background otherwise); one with an
 *   owner left loses the references to the gone ones.
 * - Orphan: an owner deleting with the `orphan` finalizer: every
 *   dependent loses its reference to it (JSON merge patch of
 *   ownerReferences at the cached resourceVersion), then the finalizer
 *   goes and the API deletes the owner.
 * - Foreground: an owner deleting with `foregroundDeletion`: its dependents
 *   are deleted (Foreground for those that have dependents of their own,
 *   so it recurses); the finalizer goes once no dependent with
 *   blockOwnerDeletion=true is left.
 *
 * Workers start once every informer of the first discovery has listed
 * (upstream waits for its monitors to sync too), or after `sync_timeout`.
 * Each failure is logged once, naming the object, at the place where it
 * is handled; "gc.stats" answers counters for tests and operators.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/synctask.h>
#include <kraal/workqueue.h>

#include "graph.h"
#include "map.h"

#define GC_TIMEOUT_MS      10000 /* per request */
#define GC_ORPHAN_WINDOW   16    /* patches in flight per orphaning owner */
#define GC_READY_CHECK_MS  100
#define GC_DISCOVERY_RETRY 1000 /* first retry of a failed kinds lookup, doubling */
#define GC_DISCOVERY_MAX   30000
#define GC_MERGE_PATCH     "application/merge-patch+json"

struct gc_conf {
    int64_t workers;
    int64_t discovery_ms;
    int64_t retry_base_ms;
    int64_t absent_cache;
    int64_t sync_timeout_ms;
    int64_t resync_ms;
};

static const kr_config_entry_t gc_table[] = {
    {KR_CFG_INT, "workers", "8", offsetof(struct gc_conf, workers),
     "objects looked at at once, per queue (attemptToDelete, attemptToOrphan)"},
    {KR_CFG_DURATION, "discovery_interval", "10s", offsetof(struct gc_conf, discovery_ms),
     "least time between two lookups of the kinds caused by references to unknown kinds"},
    {KR_CFG_DURATION, "retry_base", "5ms", offsetof(struct gc_conf, retry_base_ms),
     "first retry delay of a failed object (doubles up to 1000 s)"},
    {KR_CFG_INT, "absent_cache", "500", offsetof(struct gc_conf, absent_cache),
     "owners remembered as verified absent"},
    {KR_CFG_DURATION, "sync_timeout", "60s", offsetof(struct gc_conf, sync_timeout_ms),
     "longest wait for the first lists before the workers start anyway"},
    {KR_CFG_DURATION, "resync_period", "30s", offsetof(struct gc_conf, resync_ms),
     "how often the kinds are looked up again, so that kinds registered later (a plugin's) "
     "are watched too (upstream's periodic Sync)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct gc gc_t;

/* One watched kind. */
typedef struct gc_kind {
    gc_t *gc;
    char *api_version, *kind, *res;
    char *gk; /* "group\tKind": the key in gc->kind_by_gk */
    bool namespaced;
    bool stopped; /* the API refused its list: informer gone */
    kr_informer_t *inf;
} gc_kind_t;

typedef enum { TASK_DELETE, TASK_ORPHAN } gc_task_type_t;
enum { REF_SOLID, REF_DANGLING, REF_WAITING };
typedef enum { FIN_FORGET, FIN_REQUEUE, FIN_OK } gc_finish_t;

/* One key being worked on (kraal/synctask.h: the bus cannot cancel a
 * request, so fini detaches a task and its last reply frees it). */
typedef struct gc_task {
    kr_synctask_t base;
    gc_t *gc;
    gc_task_type_t type;
    kr_workqueue_t *q;
    /* the object: request coordinates and a name for logs */
    const char *res, *ns, *name, *desc;
    /* delete */
    const kr_value_t *latest;
    const kr_value_t *refs;
    size_t nrefs, i;
    unsigned char *cls;
    const char *then_delete; /* policy to delete with after an unblock patch */
    /* orphan */
    char **deps;
    size_t ndeps, next_dep;
    unsigned outstanding;
    bool failed;
} gc_task_t;

/* One request of a task. */
typedef struct gc_req {
    gc_task_t *t;
    const char *action; /* "delete", "patch ownerReferences", ... */
    const char *desc;   /* the object it concerns */
} gc_req_t;

/* A key handed out before the graph was ready. */
typedef struct gc_held {
    kr_workqueue_t *q;
    const char *key;
} gc_held_t;

struct gc {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct gc_conf conf;
    gc_graph_t *graph;
    gc_kind_t **kinds;
    size_t nkinds;
    gc_map_t kind_by_gk;
    kr_workqueue_t *del_q, *orphan_q;
    kr_synctasks_t del_tasks, orphan_tasks; /* one list per queue */
    kr_arena_t *scratch;
    /* discovery */
    struct gc_discovery *disc;
    bool disc_again;
    uint64_t disc_timer, disc_last;
    unsigned disc_failures;
    /* start */
    bool ready;
    uint64_t ready_timer, started_ms;
    uint64_t resync_timer; /* discover_request every resync_period */
    gc_held_t *held;
    size_t nheld, held_cap;
    uint64_t stop_timer;
    /* counters */
    uint64_t deletes, ref_patches, finalizers, conflicts, failures, discoveries, absent_found;
};

typedef struct gc_discovery {
    gc_t *gc;
} gc_discovery_t;

static void del_sync(kr_workqueue_t *q, const char *key, void *ud);
static void orphan_sync(kr_workqueue_t *q, const char *key, void *ud);
static void discover_request(gc_t *gc);

/* ---- kinds ------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static char *gk_key(const char *api_version, const char *kind)
{
    size_t glen = gc_group_len(api_version);
    size_t len = glen + strlen(kind) + 2;
    char *k = malloc(len);
    if (k == NULL)
        abort();
    snprintf(k, len, "%.*s\t%s", (int)glen, api_version, kind);
    return k;
}

/* The kind of an apiVersion (any version of its group) and kind, or NULL. */
static gc_kind_t *kind_find(gc_t *gc, const char *api_version, const char *kind)
{
    if (api_version == NULL || kind == NULL)
        return NULL;
    char buf[256];
    size_t glen = gc_group_len(api_version);
    int n = snprintf(buf, sizeof buf, "%.*s\t%s", (int)glen, api_version, kind);
    if (n < 0 || (size_t)n >= sizeof buf)
        return NULL;
    return gc_map_get(&gc->kind_by_gk, buf);
}

static void kind_free(gc_kind_t *k)
{
    kr_informer_destroy(&k->inf);
    free(k->api_version);
    free(k->kind);
    free(k->res);
    free(k->gk);
    free(k);
}

static void inf_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    gc_kind_t *k = ud;
    gc_graph_observe(k->gc->graph, k->api_version, k->kind, NULL, obj);
}

static void inf_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                       void *ud)
{
    (void)inf;
    gc_kind_t *k = ud;
    if (old_obj != new_obj) /* a resync changes nothing in the graph */
        gc_graph_observe(k->gc->graph, k->api_version, k->kind, old_obj, new_obj);
}

static void inf_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    gc_kind_t *k = ud;
    gc_graph_deleted(k->gc->graph, obj);
}

/* Informers of kinds the API will not list are destroyed from a timer: not
 * from inside their own callback. */
static void stop_refused(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    gc_t *gc = ud;
    gc->stop_timer = 0;
    for (size_t i = 0; i < gc->nkinds; i++)
        if (gc->kinds[i]->stopped && gc->kinds[i]->inf != NULL)
            kr_informer_destroy(&gc->kinds[i]->inf);
}

static void inf_error(kr_informer_t *inf, const kr_error_t *err, uint64_t retry_ms, void *ud)
{
    (void)inf;
    (void)retry_ms;
    gc_kind_t *k = ud;
    /* the informer logs its failures itself; a kind that cannot be listed
     * (a create-only kind) is not watched at all */
    if (err->reason == KR_E_METHOD_NOT_ALLOWED && !k->stopped) {
        k->stopped = true;
        kr_plugin_log(k->gc->ctx, KR_LOG_INFO, "kind not watched: the API does not list it",
                      "res=%s", k->res);
        if (k->gc->stop_timer == 0)
            k->gc->stop_timer = kr_loop_add_timer(k->gc->loop, 0, 0, stop_refused, k->gc);
    }
}

/* Adds and starts the informer of a kind descriptor from "kinds", unless
 * the kind is known already or cannot be listed. */
static void kind_add(gc_t *gc, const kr_value_t *d)
{
    const char *group = kr_value_map_str(d, "group"), *version = kr_value_map_str(d, "version"),
               *kind = kr_value_map_str(d, "kind"), *plural = kr_value_map_str(d, "plural");
    if (version == NULL || kind == NULL || plural == NULL)
        return;
    if (group == NULL)
        group = "";
    /* Binding is create-only: nothing to list, watch or delete */
    if (*group == '\0' && strcmp(kind, "Binding") == 0)
        return;
    char av[256];
    int n = *group ? snprintf(av, sizeof av, "%s/%s", group, version)
                   : snprintf(av, sizeof av, "%s", version);
    if (n < 0 || (size_t)n >= sizeof av || kind_find(gc, av, kind) != NULL)
        return;
    gc_kind_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        abort();
    k->gc = gc;
    k->api_version = xstrdup(av);
    k->kind = xstrdup(kind);
    size_t rlen = strlen(av) + strlen(plural) + 2;
    k->res = malloc(rlen);
    if (k->res == NULL)
        abort();
    snprintf(k->res, rlen, "%s/%s", av, plural);
    k->gk = gk_key(av, kind);
    k->namespaced = kr_value_as_bool(kr_value_map_get(d, "namespaced"), false);
    char name[300];
    snprintf(name, sizeof name, "gc %s", k->res);
    kr_informer_opts_t o = {
        .res = k->res,
        .name = name,
        .handlers = {inf_add, inf_update, inf_delete, k},
        .on_error = inf_error,
        .error_ud = k,
    };
    kr_error_t err;
    k->inf = kr_informer_new(gc->loop, gc->bus, &o, &err);
    if (k->inf == NULL || kr_informer_start(k->inf, &err) < 0) {
        kr_plugin_log(gc->ctx, KR_LOG_ERROR, err.message, "res=%s", k->res);
        kind_free(k);
        return;
    }
    if (gc->nkinds % 16 == 0) {
        gc_kind_t **nk = realloc(gc->kinds, (gc->nkinds + 16) * sizeof *nk);
        if (nk == NULL)
            abort();
        gc->kinds = nk;
    }
    gc->kinds[gc->nkinds++] = k;
    gc_map_put(&gc->kind_by_gk, k->gk, k);
}

/* ---- discovery ------------------------------------------------------------------ */

static void discover_send(gc_t *gc);

/* upstream's GarbageCollector.Sync: kinds registered after the start (a
 * plugin's, e.g. ControllerRevision) are watched within a period even when
 * nothing refers to them as an owner */
static void on_resync_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    discover_request(ud);
}

static void on_disc_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    gc_t *gc = ud;
    gc->disc_timer = 0;
    discover_send(gc);
}

static void on_kinds(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    gc_discovery_t *d = ud;
    gc_t *gc = d->gc;
    free(d);
    if (gc == NULL)
        return;
    gc->disc = NULL;
    if (r->code != 200) {
        uint64_t wait = GC_DISCOVERY_RETRY << (gc->disc_failures < 5 ? gc->disc_failures : 5);
        if (wait > GC_DISCOVERY_MAX)
            wait = GC_DISCOVERY_MAX;
        gc->disc_failures++;
        kr_plugin_log(gc->ctx, KR_LOG_WARN, kr_reply_msg(r), "op=kinds code=%d retry_ms=%llu",
                      r->code, (unsigned long long)wait);
        if (gc->disc_timer == 0)
            gc->disc_timer = kr_loop_add_timer(gc->loop, wait, 0, on_disc_timer, gc);
        return;
    }
    gc->disc_failures = 0;
    gc->discoveries++;
    const kr_value_t *items = kr_value_map_get(r->obj, "items");
    size_t before = gc->nkinds;
    for (size_t i = 0; i < kr_value_len(items); i++)
        kind_add(gc, kr_value_array_get(items, i));
    if (gc->nkinds != before)
        kr_plugin_log(gc->ctx, KR_LOG_INFO, "kinds watched", "kinds=%zu new=%zu", gc->nkinds,
                      gc->nkinds - before);
    if (gc->disc_again) {
        gc->disc_again = false;
        discover_request(gc);
    }
}

static void discover_send(gc_t *gc)
{
    if (gc->disc != NULL)
        return;
    gc_discovery_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        abort();
    d->gc = gc;
    kr_request_t req = {.op = "kinds"};
    kr_error_t err;
    gc->disc_last = kr_loop_now(gc->loop);
    if (kr_bus_send(gc->bus, &req, on_kinds, d, GC_TIMEOUT_MS, NULL, &err) < 0) {
        free(d);
        kr_plugin_log(gc->ctx, KR_LOG_WARN, err.message, "op=kinds retry_ms=%d",
                      GC_DISCOVERY_RETRY);
        if (gc->disc_timer == 0)
            gc->disc_timer = kr_loop_add_timer(gc->loop, GC_DISCOVERY_RETRY, 0, on_disc_timer, gc);
        return;
    }
    gc->disc = d;
}

/* Looks the kinds up again, at most once per discovery_interval. */
static void discover_request(gc_t *gc)
{
    if (gc->disc != NULL) {
        gc->disc_again = true;
        return;
    }
    if (gc->disc_timer != 0)
        return;
    uint64_t now = kr_loop_now(gc->loop), next = gc->disc_last + (uint64_t)gc->conf.discovery_ms;
    if (gc->disc_last != 0 && now < next) {
        gc->disc_timer = kr_loop_add_timer(gc->loop, next - now, 0, on_disc_timer, gc);
        return;
    }
    discover_send(gc);
}

/* ---- graph hooks -------------------------------------------------------------------- */

static void hook_attempt_delete(gc_graph_t *g, const char *uid, void *ud)
{
    (void)g;
    kr_workqueue_add(((gc_t *)ud)->del_q, uid, NULL);
}

static void hook_attempt_orphan(gc_graph_t *g, const char *uid, void *ud)
{
    (void)g;
    kr_workqueue_add(((gc_t *)ud)->orphan_q, uid, NULL);
}

static void hook_new_virtual(gc_graph_t *g, const gc_node_t *n, void *ud)
{
    (void)g;
    gc_t *gc = ud;
    if (kind_find(gc, n->api_version, n->kind) == NULL)
        discover_request(gc);
}

/* ---- tasks -------------------------------------------------------------------------------- */

static gc_task_t *task_new(gc_t *gc, kr_workqueue_t *q, gc_task_type_t type, const char *key)
{
    gc_task_t *t =
        kr_synctask_new(q == gc->del_q ? &gc->del_tasks : &gc->orphan_tasks, sizeof *t, key);
    t->gc = gc;
    t->q = q;
    t->type = type;
    return t;
}

/* Sets the request coordinates of the task's object from a node. */
static void task_target(gc_task_t *t, const gc_kind_t *k, const gc_node_t *n)
{
    t->res = kr_arena_strdup(t->base.a, k->res);
    t->ns = k->namespaced ? kr_arena_strdup(t->base.a, n->ns) : NULL;
    t->name = kr_arena_strdup(t->base.a, n->name);
    t->desc = k->namespaced ? kr_arena_printf(t->base.a, "%s %s/%s", n->kind, n->ns, n->name)
                            : kr_arena_printf(t->base.a, "%s %s", n->kind, n->name);
}

/* Ends the task's key: forgotten, or back in the queue with its back-off.
 * FIN_OK forgets, except for an object not observed yet (upstream requeues
 * a virtual node until its informer shows it). */
static void task_finish(gc_task_t *t, gc_finish_t how)
{
    gc_t *gc = t->gc;
    if (how == FIN_OK && t->type == TASK_DELETE) {
        const gc_node_t *n = gc_graph_get(gc->graph, t->base.key);
        if (n != NULL && !n->observed)
            how = FIN_REQUEUE;
    }
    kr_synctask_done(&t->base, how == FIN_REQUEUE ? KR_SYNCTASK_FAILED : KR_SYNCTASK_OK, 0);
}

static void log_reply(gc_t *gc, const gc_task_t *t, const char *action, const char *desc,
                      const kr_reply_t *r)
{
    kr_plugin_log(gc->ctx, r->code == 409 ? KR_LOG_INFO : KR_LOG_WARN, kr_reply_msg(r),
                  "action=\"%s\" object=\"%s\" uid=%s code=%d requeues=%u", action, desc,
                  t->base.key, r->code, kr_workqueue_num_requeues(t->q, t->base.key));
    if (r->code == 409)
        gc->conflicts++;
    else
        gc->failures++;
}

/* Sends a request for the task; false (logged) when it could not go. */
static bool task_send(gc_task_t *t, const kr_request_t *req, kr_reply_fn fn, const char *action,
                      const char *desc)
{
    gc_req_t *rq = kr_arena_alloc(t->base.a, sizeof *rq);
    rq->t = t;
    rq->action = action;
    rq->desc = desc;
    kr_error_t err;
    if (kr_synctask_send(&t->base, req, fn, rq, &err) < 0) {
        kr_plugin_log(t->gc->ctx, KR_LOG_WARN, err.message, "action=\"%s\" object=\"%s\"", action,
                      desc);
        t->gc->failures++;
        return false;
    }
    return true;
}

/* The start of every reply callback: the task, or NULL when fini ran
 * (the task is then freed with its last reply). */
static gc_task_t *task_reply(void *ud, gc_req_t **rq_out)
{
    gc_req_t *rq = ud;
    gc_task_t *t = rq->t;
    if (!kr_synctask_reply(&t->base))
        return NULL;
    *rq_out = rq;
    return t;
}

static bool reply_ok(const kr_reply_t *r)
{
    return r->code >= 200 && r->code < 300;
}

/* {"metadata": {<key>: val (null when empty), "resourceVersion": rv}} */
static kr_value_t *meta_patch(kr_arena_t *a, const char *key, kr_value_t *val, const char *rv)
{
    kr_value_t *p = kr_value_map(a), *m = kr_value_map(a);
    kr_value_map_set(a, p, "metadata", m);
    kr_value_map_set(a, m, key, kr_value_len(val) > 0 ? val : kr_value_null(a));
    if (rv != NULL)
        kr_value_map_set(a, m, "resourceVersion", kr_value_str(a, rv));
    return p;
}

static kr_value_t *patch_opts(kr_arena_t *a)
{
    kr_value_t *o = kr_value_map(a);
    kr_value_map_set(a, o, "patchType", kr_value_str(a, GC_MERGE_PATCH));
    return o;
}

/* ---- attemptToDelete -------------------------------------------------------------------- */

static void on_written(kr_bus_t *bus, const kr_reply_t *r, void *ud);
static void classify_next(gc_task_t *t);

/* The object of the task's key does not exist (404, or another uid under
 * its name): for a virtual node, upstream's virtual delete event. */
static void item_absent(gc_task_t *t)
{
    gc_t *gc = t->gc;
    gc_node_t *n = gc_graph_get(gc->graph, t->base.key);
    if (n == NULL || n->observed)
        return; /* its informer will tell */
    gc->absent_found++;
    gc_graph_mark_absent(gc->graph, n->uid, n->api_version, n->kind, t->ns ? t->ns : "", n->name);
    gc_graph_absent(gc->graph, t->base.key);
}

static const char *latest_rv(const gc_task_t *t)
{
    return kr_value_as_str(kr_value_get(t->latest, "metadata.resourceVersion"));
}

static void send_delete(gc_task_t *t, const char *policy, const char *rv)
{
    kr_arena_t *a = t->base.a;
    kr_value_t *opts = kr_value_map(a), *pre = kr_value_map(a);
    kr_value_map_set(a, opts, "propagationPolicy", kr_value_str(a, policy));
    kr_value_map_set(a, pre, "uid", kr_value_str(a, t->base.key));
    if (rv != NULL)
        kr_value_map_set(a, pre, "resourceVersion", kr_value_str(a, rv));
    kr_value_map_set(a, opts, "preconditions", pre);
    kr_request_t req = {.op = "delete", .res = t->res, .ns = t->ns, .name = t->name, .opts = opts};
    const char *action = kr_arena_printf(a, "delete (propagationPolicy %s)", policy);
    if (!task_send(t, &req, on_written, action, t->desc))
        task_finish(t, FIN_REQUEUE);
}

static void send_patch(gc_task_t *t, kr_value_t *patch, const char *action)
{
    kr_request_t req = {.op = "patch",
                        .res = t->res,
                        .ns = t->ns,
                        .name = t->name,
                        .obj = patch,
                        .opts = patch_opts(t->base.a)};
    if (!task_send(t, &req, on_written, action, t->desc))
        task_finish(t, FIN_REQUEUE);
}

/* Removes `finalizer` from the latest state of the task's object. */
static void remove_finalizer(gc_task_t *t, const char *finalizer)
{
    const kr_value_t *fins = kr_value_get(t->latest, "metadata.finalizers");
    kr_value_t *rest = kr_value_array(t->base.a);
    bool found = false;
    for (size_t i = 0; i < kr_value_len(fins) && kr_value_type(fins) == KR_ARRAY; i++) {
        const kr_value_t *f = kr_value_array_get(fins, i);
        if (strcmp(kr_value_as_str(f) ?: "", finalizer) == 0)
            found = true;
        else
            kr_value_array_push(t->base.a, rest, kr_value_copy(t->base.a, f));
    }
    if (!found) {
        task_finish(t, FIN_FORGET);
        return;
    }
    send_patch(t, meta_patch(t->base.a, "finalizers", rest, latest_rv(t)),
               strcmp(finalizer, GC_FINALIZER_ORPHAN) == 0 ? "remove finalizer orphan"
                                                           : "remove finalizer foregroundDeletion");
}

/* upstream's processDeletingDependentsItem */
static void deleting_dependents(gc_task_t *t, const gc_node_t *n)
{
    if (n->nblocking == 0) {
        remove_finalizer(t, GC_FINALIZER_FOREGROUND);
        return;
    }
    for (const gc_edge_t *e = n->deps; e != NULL; e = e->next)
        if (e->block && !e->dep->deleting_deps)
            kr_workqueue_add(t->gc->del_q, e->dep->uid, NULL);
    task_finish(t, FIN_FORGET);
}

/* The references of the latest state (only the solid ones when
 * `solid_only`), with blockOwnerDeletion cleared when `unblock`. */
static kr_value_t *refs_filtered(gc_task_t *t, bool solid_only, bool unblock)
{
    kr_value_t *out = kr_value_array(t->base.a);
    for (size_t i = 0; i < t->nrefs; i++) {
        if (solid_only && t->cls[i] != REF_SOLID)
            continue;
        kr_value_t *ref = kr_value_copy(t->base.a, kr_value_array_get(t->refs, i));
        if (unblock && kr_value_as_bool(kr_value_map_get(ref, "blockOwnerDeletion"), false))
            kr_value_map_set(t->base.a, ref, "blockOwnerDeletion", kr_value_bool(t->base.a, false));
        kr_value_array_push(t->base.a, out, ref);
    }
    return out;
}

/* upstream's attemptToDeleteItem, once every reference is classified */
static void decide(gc_task_t *t)
{
    size_t solid = 0, dangling = 0, waiting = 0;
    for (size_t i = 0; i < t->nrefs; i++) {
        solid += t->cls[i] == REF_SOLID;
        dangling += t->cls[i] == REF_DANGLING;
        waiting += t->cls[i] == REF_WAITING;
    }
    const gc_node_t *n = gc_graph_get(t->gc->graph, t->base.key);
    if (solid > 0) {
        if (dangling == 0 && waiting == 0) {
            task_finish(t, FIN_OK);
            return;
        }
        /* an owner is left: only the references to the gone ones (and to
         * owners waiting for their dependents, which would wait forever)
         * go */
        send_patch(
            t,
            meta_patch(t->base.a, "ownerReferences", refs_filtered(t, true, false), latest_rv(t)),
            "remove ownerReferences");
        return;
    }
    if (waiting > 0 && n != NULL && n->ndeps > 0) {
        /* it has dependents of its own: Foreground, so that its owner
         * waits for them too.  A dependent already deleting its own
         * dependents may be waiting for us (a cycle): our references stop
         * blocking first, as upstream does. */
        for (const gc_edge_t *e = n->deps; e != NULL; e = e->next)
            if (e->dep->deleting_deps) {
                t->then_delete = "Foreground";
                send_patch(t,
                           meta_patch(t->base.a, "ownerReferences", refs_filtered(t, false, true),
                                      latest_rv(t)),
                           "unblock ownerReferences");
                return;
            }
        send_delete(t, "Foreground", latest_rv(t));
        return;
    }
    /* no owner left: deleted, with the policy its own finalizers ask for */
    const char *policy = gc_has_finalizer(t->latest, GC_FINALIZER_ORPHAN)       ? "Orphan"
                         : gc_has_finalizer(t->latest, GC_FINALIZER_FOREGROUND) ? "Foreground"
                                                                                : "Background";
    send_delete(t, policy, latest_rv(t));
}

static void on_owner(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    gc_req_t *rq;
    gc_task_t *t = task_reply(ud, &rq);
    if (t == NULL)
        return;
    const kr_value_t *ref = kr_value_array_get(t->refs, t->i);
    const char *uid = kr_value_map_str(ref, "uid");
    const char *got = kr_value_as_str(kr_value_get(r->obj, "metadata.uid"));
    if (r->code == 404 || (r->code == 200 && (got == NULL || strcmp(got, uid) != 0))) {
        const gc_kind_t *k =
            kind_find(t->gc, kr_value_map_str(ref, "apiVersion"), kr_value_map_str(ref, "kind"));
        const char *ons = k != NULL && k->namespaced ? t->ns : "";
        gc_graph_mark_absent(t->gc->graph, uid, kr_value_map_str(ref, "apiVersion"),
                             kr_value_map_str(ref, "kind"), ons ? ons : "",
                             kr_value_map_str(ref, "name") ?: "");
        t->cls[t->i] = REF_DANGLING;
    } else if (r->code == 200) {
        t->cls[t->i] = gc_being_deleted(r->obj) && gc_has_finalizer(r->obj, GC_FINALIZER_FOREGROUND)
                           ? REF_WAITING
                           : REF_SOLID;
    } else {
        log_reply(t->gc, t, rq->action, rq->desc, r);
        task_finish(t, FIN_REQUEUE);
        return;
    }
    t->i++;
    classify_next(t);
}

/* upstream's classifyReferences, one owner at a time */
static void classify_next(gc_task_t *t)
{
    gc_t *gc = t->gc;
    for (; t->i < t->nrefs; t->i++) {
        const kr_value_t *ref = kr_value_array_get(t->refs, t->i);
        const char *uid = kr_value_map_str(ref, "uid"), *av = kr_value_map_str(ref, "apiVersion"),
                   *kind = kr_value_map_str(ref, "kind"), *name = kr_value_map_str(ref, "name");
        if (uid == NULL || av == NULL || kind == NULL || name == NULL) {
            t->cls[t->i] = REF_SOLID; /* not ours to judge */
            continue;
        }
        const gc_kind_t *k = kind_find(gc, av, kind);
        if (k == NULL) {
            /* maybe a kind registered since the last lookup */
            discover_request(gc);
            kr_plugin_log(gc->ctx, KR_LOG_WARN, "owner of an unknown kind, will retry",
                          "object=\"%s\" uid=%s owner=\"%s %s\" requeues=%u", t->desc, t->base.key,
                          av, kind, kr_workqueue_num_requeues(t->q, t->base.key));
            gc->failures++;
            task_finish(t, FIN_REQUEUE);
            return;
        }
        if (k->namespaced && t->ns == NULL) {
            /* never resolves: upstream's namespacedOwnerOfClusterScopedObjectErr */
            kr_plugin_log(gc->ctx, KR_LOG_WARN,
                          "cluster-scoped object refers to a namespaced owner",
                          "object=\"%s\" uid=%s owner=\"%s %s\"", t->desc, t->base.key, kind, name);
            gc->failures++;
            task_finish(t, FIN_FORGET);
            return;
        }
        const char *ons = k->namespaced ? t->ns : NULL;
        if (gc_graph_is_absent(gc->graph, uid, av, kind, ons ? ons : "", name)) {
            t->cls[t->i] = REF_DANGLING;
            continue;
        }
        kr_request_t req = {.op = "get", .res = k->res, .ns = ons, .name = name};
        const char *desc = ons ? kr_arena_printf(t->base.a, "%s %s/%s", kind, ons, name)
                               : kr_arena_printf(t->base.a, "%s %s", kind, name);
        if (!task_send(t, &req, on_owner, "get owner", desc))
            task_finish(t, FIN_REQUEUE);
        return;
    }
    decide(t);
}

static void on_item(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    gc_req_t *rq;
    gc_task_t *t = task_reply(ud, &rq);
    if (t == NULL)
        return;
    const char *got = kr_value_as_str(kr_value_get(r->obj, "metadata.uid"));
    if (r->code == 404 || (r->code == 200 && (got == NULL || strcmp(got, t->base.key) != 0))) {
        item_absent(t);
        task_finish(t, FIN_FORGET);
        return;
    }
    if (r->code != 200) {
        log_reply(t->gc, t, rq->action, rq->desc, r);
        task_finish(t, FIN_REQUEUE);
        return;
    }
    const gc_node_t *n = gc_graph_get(t->gc->graph, t->base.key);
    if (n == NULL) {
        task_finish(t, FIN_FORGET);
        return;
    }
    t->latest = kr_value_copy(t->base.a, r->obj);
    if (n->deleting_deps) {
        deleting_dependents(t, n);
        return;
    }
    t->refs = kr_value_get(t->latest, "metadata.ownerReferences");
    t->nrefs = kr_value_type(t->refs) == KR_ARRAY ? kr_value_len(t->refs) : 0;
    if (t->nrefs == 0) {
        task_finish(t, FIN_OK);
        return;
    }
    t->cls = kr_arena_alloc(t->base.a, t->nrefs);
    t->i = 0;
    classify_next(t);
}

/* A write of a delete or orphan task (delete, patch) answered. */
static void on_written(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    gc_req_t *rq;
    gc_task_t *t = task_reply(ud, &rq);
    if (t == NULL)
        return;
    gc_t *gc = t->gc;
    if (reply_ok(r)) {
        if (strncmp(rq->action, "delete", 6) == 0)
            gc->deletes++;
        else if (strncmp(rq->action, "remove finalizer", 16) == 0)
            gc->finalizers++;
        else
            gc->ref_patches++;
        kr_plugin_log(gc->ctx, KR_LOG_DEBUG, "garbage collected",
                      "action=\"%s\" object=\"%s\" uid=%s", rq->action, rq->desc, t->base.key);
        if (t->then_delete != NULL) {
            const char *policy = t->then_delete;
            t->then_delete = NULL;
            send_delete(t, policy,
                        kr_value_as_str(kr_value_get(r->obj, "metadata.resourceVersion")));
            return;
        }
        task_finish(t, FIN_OK);
        return;
    }
    if (r->code == 404) {
        /* gone meanwhile: nothing left to do for it */
        if (t->type == TASK_DELETE)
            item_absent(t);
        task_finish(t, FIN_FORGET);
        return;
    }
    /* 409: the object changed since it was read; the retry reads it again */
    log_reply(gc, t, rq->action, rq->desc, r);
    task_finish(t, FIN_REQUEUE);
}

/* ---- start gate ---------------------------------------------------------------------------- */

static void hold(gc_t *gc, kr_workqueue_t *q, const char *key)
{
    if (gc->nheld == gc->held_cap) {
        size_t ncap = gc->held_cap ? gc->held_cap * 2 : 16;
        gc_held_t *nh = realloc(gc->held, ncap * sizeof *nh);
        if (nh == NULL)
            abort();
        gc->held = nh;
        gc->held_cap = ncap;
    }
    gc->held[gc->nheld++] = (gc_held_t){q, key};
}

/* The workers start when the first discovery has answered and every
 * informer has delivered its first list, or after sync_timeout. */
static void on_ready_check(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)id;
    gc_t *gc = ud;
    bool synced = gc->discoveries > 0;
    size_t unsynced = 0;
    for (size_t i = 0; i < gc->nkinds; i++) {
        const gc_kind_t *k = gc->kinds[i];
        if (k->inf != NULL && !k->stopped && !kr_informer_has_synced(k->inf))
            unsynced++;
    }
    synced = synced && unsynced == 0;
    uint64_t waited = kr_loop_now(loop) - gc->started_ms;
    if (!synced && waited < (uint64_t)gc->conf.sync_timeout_ms)
        return;
    kr_loop_cancel_timer(loop, gc->ready_timer);
    gc->ready_timer = 0;
    gc->ready = true;
    if (synced)
        kr_plugin_log(gc->ctx, KR_LOG_INFO, "graph synced",
                      "kinds=%zu nodes=%zu virtual=%zu ms=%llu", gc->nkinds,
                      gc_graph_len(gc->graph), gc_graph_virtual(gc->graph),
                      (unsigned long long)waited);
    else
        kr_plugin_log(gc->ctx, KR_LOG_WARN, "graph not synced, starting anyway",
                      "kinds=%zu unsynced=%zu discovered=%s ms=%llu", gc->nkinds, unsynced,
                      gc->discoveries > 0 ? "yes" : "no", (unsigned long long)waited);
    gc_held_t *held = gc->held;
    size_t nheld = gc->nheld;
    gc->held = NULL;
    gc->nheld = gc->held_cap = 0;
    for (size_t i = 0; i < nheld; i++) {
        if (held[i].q == gc->del_q)
            del_sync(held[i].q, held[i].key, gc);
        else
            orphan_sync(held[i].q, held[i].key, gc);
    }
    free(held);
}

/* ---- the queues' handlers ----------------------------------------------------------------- */

static void del_sync(kr_workqueue_t *q, const char *key, void *ud)
{
    gc_t *gc = ud;
    if (!gc->ready) {
        hold(gc, q, key);
        return;
    }
    const gc_node_t *n = gc_graph_get(gc->graph, key);
    /* being deleted, not for its dependents: wait for the final deletion */
    if (n == NULL || (n->observed && n->being_deleted && !n->deleting_deps)) {
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    const gc_kind_t *k = kind_find(gc, n->api_version, n->kind);
    if (k == NULL) {
        discover_request(gc);
        kr_plugin_log(gc->ctx, KR_LOG_WARN, "object of an unknown kind, will retry",
                      "object=\"%s %s %s/%s\" uid=%s requeues=%u", n->api_version, n->kind, n->ns,
                      n->name, key, kr_workqueue_num_requeues(q, key));
        gc->failures++;
        kr_workqueue_add_rate_limited(q, key, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    gc_task_t *t = task_new(gc, q, TASK_DELETE, key);
    task_target(t, k, n);
    kr_request_t req = {.op = "get", .res = t->res, .ns = t->ns, .name = t->name};
    if (!task_send(t, &req, on_item, "get", t->desc))
        task_finish(t, FIN_REQUEUE);
}

/* ---- attemptToOrphan ------------------------------------------------------------------------ */

static void orphan_pump(gc_task_t *t);

static void on_orphaned(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    gc_req_t *rq;
    gc_task_t *t = task_reply(ud, &rq);
    if (t == NULL)
        return;
    t->outstanding--;
    if (reply_ok(r)) {
        t->gc->ref_patches++;
    } else if (r->code != 404) {
        log_reply(t->gc, t, rq->action, rq->desc, r);
        t->failed = true;
    }
    orphan_pump(t);
}

/* Patches dependents away from the owner, GC_ORPHAN_WINDOW at a time,
 * then removes the owner's orphan finalizer.  Each dependent is read from
 * its informer's cache: its resourceVersion makes the patch fail (409,
 * retried) if the cache is behind. */
static void orphan_pump(gc_task_t *t)
{
    gc_t *gc = t->gc;
    while (t->outstanding < GC_ORPHAN_WINDOW && t->next_dep < t->ndeps) {
        const char *uid = t->deps[t->next_dep++];
        const gc_node_t *d = gc_graph_get(gc->graph, uid);
        const gc_kind_t *k =
            d != NULL && d->observed ? kind_find(gc, d->api_version, d->kind) : NULL;
        if (k == NULL || k->inf == NULL)
            continue;
        const char *dns = k->namespaced ? d->ns : NULL;
        const kr_value_t *obj = kr_informer_get(k->inf, dns, d->name);
        const char *ouid = kr_value_as_str(kr_value_get(obj, "metadata.uid"));
        if (obj == NULL || ouid == NULL || strcmp(ouid, uid) != 0)
            continue;
        kr_arena_reset(gc->scratch);
        const kr_value_t *refs = kr_value_get(obj, "metadata.ownerReferences");
        kr_value_t *rest = kr_value_array(gc->scratch);
        bool found = false;
        for (size_t i = 0; i < kr_value_len(refs) && kr_value_type(refs) == KR_ARRAY; i++) {
            const kr_value_t *ref = kr_value_array_get(refs, i);
            if (strcmp(kr_value_map_str(ref, "uid") ?: "", t->base.key) == 0)
                found = true;
            else
                kr_value_array_push(gc->scratch, rest, kr_value_copy(gc->scratch, ref));
        }
        if (!found)
            continue;
        const char *rv = kr_value_as_str(kr_value_get(obj, "metadata.resourceVersion"));
        kr_request_t req = {.op = "patch",
                            .res = k->res,
                            .ns = dns,
                            .name = d->name,
                            .obj = meta_patch(gc->scratch, "ownerReferences", rest, rv),
                            .opts = patch_opts(gc->scratch)};
        const char *desc = dns ? kr_arena_printf(t->base.a, "%s %s/%s", d->kind, dns, d->name)
                               : kr_arena_printf(t->base.a, "%s %s", d->kind, d->name);
        if (!task_send(t, &req, on_orphaned, "orphan dependent", desc)) {
            t->failed = true;
            continue;
        }
        t->outstanding++;
    }
    if (t->outstanding > 0)
        return;
    if (t->failed) {
        task_finish(t, FIN_REQUEUE);
        return;
    }
    /* every dependent is orphaned: the owner may go */
    const gc_node_t *n = gc_graph_get(gc->graph, t->base.key);
    const gc_kind_t *k = n != NULL && n->observed ? kind_find(gc, n->api_version, n->kind) : NULL;
    const kr_value_t *owner =
        k != NULL && k->inf != NULL ? kr_informer_get(k->inf, t->ns, t->name) : NULL;
    const char *ouid = kr_value_as_str(kr_value_get(owner, "metadata.uid"));
    if (owner == NULL || ouid == NULL || strcmp(ouid, t->base.key) != 0) {
        task_finish(t, FIN_FORGET);
        return;
    }
    t->latest = kr_value_copy(t->base.a, owner);
    remove_finalizer(t, GC_FINALIZER_ORPHAN);
}

static void orphan_sync(kr_workqueue_t *q, const char *key, void *ud)
{
    gc_t *gc = ud;
    if (!gc->ready) {
        hold(gc, q, key);
        return;
    }
    const gc_node_t *n = gc_graph_get(gc->graph, key);
    const gc_kind_t *k = n != NULL && n->observed ? kind_find(gc, n->api_version, n->kind) : NULL;
    const kr_value_t *owner = k != NULL && k->inf != NULL
                                  ? kr_informer_get(k->inf, k->namespaced ? n->ns : NULL, n->name)
                                  : NULL;
    /* only an owner still deleting with the orphan finalizer */
    if (owner == NULL || !gc_being_deleted(owner) ||
        !gc_has_finalizer(owner, GC_FINALIZER_ORPHAN)) {
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    gc_task_t *t = task_new(gc, q, TASK_ORPHAN, key);
    task_target(t, k, n);
    t->ndeps = n->ndeps;
    t->deps = kr_arena_alloc(t->base.a, (n->ndeps ? n->ndeps : 1) * sizeof *t->deps);
    size_t i = 0;
    for (const gc_edge_t *e = n->deps; e != NULL; e = e->next)
        t->deps[i++] = kr_arena_strdup(t->base.a, e->dep->uid);
    orphan_pump(t);
}

/* ---- stats op ----------------------------------------------------------------------------------- */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    gc_t *gc = ud;
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "synced", kr_value_bool(a, gc->ready));
    const kr_stat_t c[] = {
        {"kinds", gc->nkinds},
        {"nodes", gc_graph_len(gc->graph)},
        {"virtual", gc_graph_virtual(gc->graph)},
        {"attemptToDelete", kr_workqueue_len(gc->del_q) + kr_workqueue_in_flight(gc->del_q)},
        {"attemptToOrphan", kr_workqueue_len(gc->orphan_q) + kr_workqueue_in_flight(gc->orphan_q)},
        {"deletes", gc->deletes},
        {"refPatches", gc->ref_patches},
        {"finalizersRemoved", gc->finalizers},
        {"absentFound", gc->absent_found},
        {"conflicts", gc->conflicts},
        {"failures", gc->failures},
        {"discoveries", gc->discoveries},
    };
    kr_stats_put(a, obj, c, sizeof c / sizeof c[0]);
    kr_call_reply(call, 200, obj, NULL);
}

/* ---- life cycle ---------------------------------------------------------------------------------- */

static void gc_fini(void *instance)
{
    gc_t *gc = instance;
    if (gc->del_q != NULL)
        kr_workqueue_shutdown(gc->del_q);
    if (gc->orphan_q != NULL)
        kr_workqueue_shutdown(gc->orphan_q);
    for (size_t i = 0; i < gc->nkinds; i++)
        kind_free(gc->kinds[i]);
    free(gc->kinds);
    gc_map_free(&gc->kind_by_gk);
    kr_synctasks_detach(&gc->del_tasks);
    kr_synctasks_detach(&gc->orphan_tasks);
    if (gc->disc != NULL)
        gc->disc->gc = NULL;
    if (gc->disc_timer != 0)
        kr_loop_cancel_timer(gc->loop, gc->disc_timer);
    if (gc->ready_timer != 0)
        kr_loop_cancel_timer(gc->loop, gc->ready_timer);
    if (gc->resync_timer != 0)
        kr_loop_cancel_timer(gc->loop, gc->resync_timer);
    if (gc->stop_timer != 0)
        kr_loop_cancel_timer(gc->loop, gc->stop_timer);
    free(gc->held);
    kr_workqueue_destroy(&gc->del_q);
    kr_workqueue_destroy(&gc->orphan_q);
    gc_graph_destroy(&gc->graph);
    kr_arena_destroy(&gc->scratch);
    free(gc);
}

static void *gc_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct gc_conf *conf = config;
    if (kr_config_check_int("workers", conf->workers, 1, 64, err) < 0)
        return NULL;
    if (conf->absent_cache < 1 || conf->absent_cache > 1000000) {
        kr_error_set(err, KR_E_INVALID, "absent_cache: must be between 1 and 1000000");
        return NULL;
    }
    gc_t *gc = calloc(1, sizeof *gc);
    if (gc == NULL)
        abort();
    gc->ctx = ctx;
    gc->conf = *conf;
    gc->bus = kr_plugin_bus(ctx);
    gc->loop = kr_plugin_loop(ctx);
    /* no label: task_send logs the action and the object itself */
    gc->del_tasks = (kr_synctasks_t){.bus = gc->bus, .ctx = ctx, .timeout_ms = GC_TIMEOUT_MS};
    gc->orphan_tasks = gc->del_tasks;
    gc->scratch = kr_arena_new(0);
    gc->started_ms = kr_loop_now(gc->loop);
    gc_graph_hooks_t hooks = {hook_attempt_delete, hook_attempt_orphan, hook_new_virtual, gc};
    gc->graph = gc_graph_new(&hooks, (size_t)conf->absent_cache);
    kr_workqueue_opts_t dq = {.name = "gc attemptToDelete",
                              .max_in_flight = (unsigned)conf->workers,
                              .base_delay_ms = (uint64_t)conf->retry_base_ms};
    kr_workqueue_opts_t oq = dq;
    oq.name = "gc attemptToOrphan";
    gc->del_q = kr_workqueue_new(gc->loop, &dq, del_sync, gc, err);
    gc->orphan_q = gc->del_q ? kr_workqueue_new(gc->loop, &oq, orphan_sync, gc, err) : NULL;
    if (gc->orphan_q == NULL ||
        kr_bus_serve(gc->bus, "gc.stats", NULL, on_stats, gc, 5000, err) < 0) {
        gc_fini(gc);
        return NULL;
    }
    gc->del_tasks.q = gc->del_q;
    gc->orphan_tasks.q = gc->orphan_q;
    gc->ready_timer =
        kr_loop_add_timer(gc->loop, GC_READY_CHECK_MS, GC_READY_CHECK_MS, on_ready_check, gc);
    if (conf->resync_ms > 0)
        gc->resync_timer = kr_loop_add_timer(gc->loop, (uint64_t)conf->resync_ms,
                                             (uint64_t)conf->resync_ms, on_resync_timer, gc);
    discover_send(gc);
    return gc;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "gc",
    .version = "0.1.0",
    .description = "garbage collector: deletes objects whose owners are gone, orphans "
                   "dependents, and deletes in the foreground",
    .config = gc_table,
    .config_size = sizeof(struct gc_conf),
    .init = gc_init,
    .fini = gc_fini,
};
