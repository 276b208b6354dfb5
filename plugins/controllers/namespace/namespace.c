/* controller-namespace: deletes what a terminating namespace holds, then
 * lets the API remove it — upstream's NamespaceController
 * (pkg/controller/namespace, deletion/namespaced_resources_deleter.go).
 *
 * The API marks a deleted namespace Terminating (deletionTimestamp,
 * status.phase) and keeps it while spec.finalizers holds "kubernetes",
 * which every namespace gets at its creation.  For each such namespace a
 * pass:
 *
 * 1. looks the namespaced kinds up ("kinds", at most once a second; a
 *    failure is the NamespaceDeletionDiscoveryFailure condition and the
 *    pass goes on with the kinds known before);
 * 2. estimates how long graceful pod deletions may take (the largest
 *    terminationGracePeriodSeconds of the namespace's live pods, 0 once
 *    that long has passed since the namespace's deletion);
 * 3. for every kind: deletecollection in the namespace (Background) — or,
 *    when the API refuses it (405, 404), a list and a delete per object —
 *    then a list to see what is left: objects with finalizers are waited
 *    for (15 s estimated, as upstream), objects without finalizers while
 *    no estimate explains them are an error ("unexpected items still
 *    remain in namespace: ...");
 * 4. writes upstream's five status conditions when they changed;
 * 5. if something is left, looks again later: after the estimate's half
 *    as upstream, but no later than a short back-off (0.5 s doubling), so
 *    that `kubectl delete namespace` returns soon after the last pod is
 *    gone; on errors the key goes back rate-limited (5 ms doubling to
 *    60 s, upstream's nsControllerRateLimiter);
 * 6. once empty, removes "kubernetes" from spec.finalizers through
 *    namespaces/finalize; the API deletes the namespace when no finalizer
 *    is left.
 *
 * The namespace comes from an informer (only terminating ones are queued);
 * writes carry its resourceVersion, so a stale cache costs a 409 and a
 * retry, never a wrong write.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>
#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/synctask.h>
#include <kraal/workqueue.h>

#include "conditions.h"

#define NS_TIMEOUT_MS       30000
#define NS_FINALIZER        "kubernetes"
#define NS_FINALIZER_EST_S  15 /* upstream's finalizerEstimateSeconds */
#define NS_DISCOVERY_TTL_MS 1000
#define NS_RECHECK_BASE_MS  500
#define NS_RECHECK_STEPS    5 /* 0.5 s doubling up to 16 s */

struct ns_conf {
    int64_t workers;
    int64_t resync_ms;
    int64_t retry_base_ms;
    int64_t retry_max_ms;
};

static const kr_config_entry_t ns_table[] = {
    {KR_CFG_INT, "workers", "10", offsetof(struct ns_conf, workers),
     "namespaces deleted at once (upstream's --concurrent-namespace-syncs)"},
    {KR_CFG_DURATION, "resync", "5m", offsetof(struct ns_conf, resync_ms),
     "how often every terminating namespace is looked at again (--namespace-sync-period)"},
    {KR_CFG_DURATION, "retry_base", "5ms", offsetof(struct ns_conf, retry_base_ms),
     "first retry delay of a failed pass (doubles up to retry_max)"},
    {KR_CFG_DURATION, "retry_max", "60s", offsetof(struct ns_conf, retry_max_ms),
     "longest retry delay of a failed pass"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

/* A namespaced kind from "kinds". */
typedef struct ns_kind {
    char *res;      /* "apps/v1/deployments" */
    char *gr;       /* "deployments.apps" (upstream's "<resource>.<group>") */
    char *gvr;      /* "apps/v1, Resource=deployments" (GroupVersionResource.String) */
    bool no_delcol; /* the API refused deletecollection: delete one by one */
} ns_kind_t;

typedef struct ns_ctl ns_ctl_t;

/* Per kind, within a pass. */
typedef struct ns_item {
    ns_kind_t kind; /* a copy in the pass's arena: a lookup meanwhile may replace the kinds */
    int64_t remaining;
    const char *err;
    kr_value_t *fin_names; /* finalizer → count, a map */
    unsigned deletes;      /* one-by-one deletes in flight */
    bool each;             /* delete one by one */
} ns_item_t;

/* One pass over one namespace (kraal/synctask.h: the bus cannot cancel a
 * request, so fini detaches a pass and its last reply frees it). */
typedef struct ns_pass {
    kr_synctask_t base;
    ns_ctl_t *c;
    const char *name;
    kr_value_t *ns; /* the namespace, as last read or written */
    int64_t deleted_at;
    int64_t estimate;
    const char *discovery_err;
    ns_item_t *items;
    size_t nitems;
    unsigned kinds_left;
    bool errors; /* discovery or a kind failed: retried rate-limited */
} ns_pass_t;

/* A reply of a pass: which item it concerns, if any. */
typedef struct ns_req {
    ns_pass_t *p;
    ns_item_t *item;
} ns_req_t;

/* Per-namespace re-check counts (few namespaces terminate at once). */
typedef struct ns_recheck {
    struct ns_recheck *next;
    unsigned n;
    char name[];
} ns_recheck_t;

struct ns_ctl {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    struct ns_conf conf;
    kr_informer_t *namespaces;
    kr_workqueue_t *queue;
    kr_synctasks_t passes;
    ns_recheck_t *rechecks;
    /* discovery */
    ns_kind_t *kinds;
    size_t nkinds;
    uint64_t kinds_at; /* loop ms of the last successful lookup; 0: never */
    /* counters */
    uint64_t finalized, passes_run, failures;
};

static void pass_start_content(ns_pass_t *p);
static void pass_end(ns_pass_t *p);

/* ---- small helpers -------------------------------------------------------------- */

static bool reply_ok(const kr_reply_t *r)
{
    return r->code >= 200 && r->code < 300;
}

static bool terminating(const kr_value_t *ns)
{
    const kr_value_t *ts = kr_value_get(ns, "metadata.deletionTimestamp");
    return kr_value_as_str(ts) != NULL && *kr_value_as_str(ts) != '\0';
}

static void now_rfc3339(char *buf, size_t size)
{
    kr_time_format(kr_time_now_ns() / 1000000000, buf, size);
}

static ns_recheck_t **recheck_find(ns_ctl_t *c, const char *name)
{
    ns_recheck_t **pp = &c->rechecks;
    while (*pp != NULL && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void recheck_forget(ns_ctl_t *c, const char *name)
{
    ns_recheck_t **pp = recheck_find(c, name);
    if (*pp != NULL) {
        ns_recheck_t *r = *pp;
        *pp = r->next;
        free(r);
    }
}

/* The next re-check delay of a namespace with content left. */
static uint64_t recheck_delay(ns_ctl_t *c, const char *name, int64_t estimate_s)
{
    ns_recheck_t **pp = recheck_find(c, name);
    if (*pp == NULL) {
        size_t len = strlen(name) + 1;
        *pp = calloc(1, sizeof **pp + len);
        if (*pp == NULL)
            abort();
        memcpy((*pp)->name, name, len);
    }
    unsigned n = (*pp)->n < NS_RECHECK_STEPS ? (*pp)->n : NS_RECHECK_STEPS;
    (*pp)->n++;
    uint64_t backoff = (uint64_t)NS_RECHECK_BASE_MS << n;
    uint64_t half = (uint64_t)(estimate_s > 0 ? estimate_s : 1) * 500;
    return backoff < half ? backoff : half;
}

/* ---- informer --------------------------------------------------------------------- */

static void enqueue(ns_ctl_t *c, const kr_value_t *ns)
{
    /* upstream queues only namespaces being deleted */
    if (!terminating(ns))
        return;
    char key[300];
    if (kr_informer_key(ns, key, sizeof key) > 0)
        kr_workqueue_add(c->queue, key, NULL);
}

static void on_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    enqueue(ud, obj);
}

static void on_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                      void *ud)
{
    (void)inf;
    (void)old_obj;
    enqueue(ud, new_obj);
}

static void on_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    ns_ctl_t *c = ud;
    const char *name = kr_value_as_str(kr_value_get(obj, "metadata.name"));
    if (name != NULL)
        recheck_forget(c, name);
}

/* ---- passes ------------------------------------------------------------------------- */

static ns_pass_t *pass_new(ns_ctl_t *c, const char *key)
{
    ns_pass_t *p = kr_synctask_new(&c->passes, sizeof *p, key);
    p->c = c;
    p->name = p->base.key;
    c->passes_run++;
    return p;
}

typedef enum { END_FORGET, END_RATE_LIMITED, END_AFTER } ns_end_t;

/* Ends the pass and its key. */
static void pass_finish(ns_pass_t *p, ns_end_t how, uint64_t after_ms)
{
    ns_ctl_t *c = p->c;
    if (how == END_FORGET) {
        recheck_forget(c, p->name);
        kr_synctask_done(&p->base, KR_SYNCTASK_OK, 0);
    } else if (how == END_RATE_LIMITED) {
        c->failures++;
        kr_synctask_done(&p->base, KR_SYNCTASK_FAILED, 0);
    } else {
        kr_synctask_done(&p->base, after_ms > 0 ? KR_SYNCTASK_OK : KR_SYNCTASK_AGAIN, after_ms);
    }
}

static bool pass_send(ns_pass_t *p, const kr_request_t *req, kr_reply_fn fn, ns_item_t *item)
{
    ns_req_t *rq = kr_arena_alloc(p->base.a, sizeof *rq);
    rq->p = p;
    rq->item = item;
    return kr_synctask_send(&p->base, req, fn, rq, NULL) == 0;
}

/* The start of every reply callback: the pass, or NULL when fini ran. */
static ns_pass_t *pass_reply(void *ud, ns_item_t **item)
{
    ns_req_t *rq = ud;
    ns_pass_t *p = rq->p;
    if (!kr_synctask_reply(&p->base))
        return NULL;
    if (item != NULL)
        *item = rq->item;
    return p;
}

/* ---- step 6: finalize ------------------------------------------------------------------ */

static void on_finalized(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ns_pass_t *p = pass_reply(ud, NULL);
    if (p == NULL)
        return;
    if (reply_ok(r) || r->code == 404) {
        p->c->finalized++;
        kr_plugin_log(p->c->ctx, KR_LOG_INFO, "namespace finalized", "namespace=%s", p->name);
        pass_finish(p, END_FORGET, 0);
        return;
    }
    kr_plugin_log(p->c->ctx, r->code == 409 ? KR_LOG_INFO : KR_LOG_WARN, kr_reply_msg(r),
                  "namespace=%s action=finalize code=%d", p->name, r->code);
    pass_finish(p, END_RATE_LIMITED, 0);
}

/* upstream's finalizeNamespace: spec.finalizers without ours, sorted */
static void finalize(ns_pass_t *p)
{
    kr_arena_t *a = p->base.a;
    const kr_value_t *fins = kr_value_get(p->ns, "spec.finalizers");
    size_t n = kr_value_len(fins);
    const char **keep = kr_arena_alloc(a, (n ? n : 1) * sizeof *keep);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *f = kr_value_as_str(kr_value_array_get(fins, i));
        if (f == NULL || strcmp(f, NS_FINALIZER) == 0)
            continue;
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = strcmp(keep[j], f) == 0;
        if (!dup)
            keep[k++] = f;
    }
    for (size_t i = 1; i < k; i++) /* a few names: insertion sort */
        for (size_t j = i; j > 0 && strcmp(keep[j - 1], keep[j]) > 0; j--) {
            const char *t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    kr_value_t *body = kr_value_copy(a, p->ns);
    kr_value_t *arr = kr_value_array(a);
    for (size_t i = 0; i < k; i++)
        kr_value_array_push(a, arr, kr_value_str(a, keep[i]));
    kr_value_set(a, body, "spec.finalizers", arr, NULL);
    kr_request_t req = {
        .op = "update", .res = "v1/namespaces", .name = p->name, .sub = "finalize", .obj = body};
    if (!pass_send(p, &req, on_finalized, NULL))
        pass_finish(p, END_RATE_LIMITED, 0);
}

/* ---- steps 4 and 5: conditions, then finalize or wait -------------------------------------- */

static void decide(ns_pass_t *p, bool errors)
{
    if (errors) {
        pass_finish(p, END_RATE_LIMITED, 0);
        return;
    }
    if (p->estimate > 0) {
        uint64_t after = recheck_delay(p->c, p->name, p->estimate);
        kr_plugin_log(p->c->ctx, KR_LOG_DEBUG, "content remains",
                      "namespace=%s estimate_s=%lld "
                      "recheck_ms=%llu",
                      p->name, (long long)p->estimate, (unsigned long long)after);
        pass_finish(p, END_AFTER, after);
        return;
    }
    finalize(p);
}

static void on_status(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ns_pass_t *p = pass_reply(ud, NULL);
    if (p == NULL)
        return;
    if (reply_ok(r) && r->obj != NULL) {
        p->ns = kr_value_copy(p->base.a, r->obj);
    } else {
        /* upstream only logs a failed condition update */
        kr_plugin_log(p->c->ctx, KR_LOG_WARN, kr_reply_msg(r),
                      "namespace=%s action=\"update status conditions\" code=%d", p->name, r->code);
        if (r->code == 409 || r->code == 404) {
            pass_finish(p, END_RATE_LIMITED, 0);
            return;
        }
    }
    decide(p, p->errors);
}

/* After every kind: the conditions, then the decision. */
static void pass_end(ns_pass_t *p)
{
    kr_arena_t *a = p->base.a;
    const char **errs = kr_arena_alloc(a, (p->nitems + 1) * sizeof *errs);
    ns_count_t *rem = kr_arena_alloc(a, (p->nitems + 1) * sizeof *rem);
    size_t nerr = 0, nrem = 0;
    kr_value_t *fin_totals = kr_value_map(a);
    for (size_t i = 0; i < p->nitems; i++) {
        ns_item_t *it = &p->items[i];
        if (it->err != NULL)
            errs[nerr++] = it->err;
        if (it->remaining > 0) {
            rem[nrem++] = (ns_count_t){it->kind.gr, it->remaining};
            for (size_t j = 0; j < kr_value_len(it->fin_names); j++) {
                const char *f = kr_value_map_key(it->fin_names, j);
                int64_t n = kr_value_as_int(kr_value_map_val(it->fin_names, j), 0);
                kr_value_map_set(a, fin_totals, f,
                                 kr_value_int(a, kr_value_map_int(fin_totals, f, 0) + n));
            }
        }
    }
    size_t nfin = kr_value_len(fin_totals);
    ns_count_t *fins = kr_arena_alloc(a, (nfin + 1) * sizeof *fins);
    for (size_t j = 0; j < nfin; j++)
        fins[j] = (ns_count_t){kr_value_map_key(fin_totals, j),
                               kr_value_as_int(kr_value_map_val(fin_totals, j), 0)};
    ns_outcome_t o = {.discovery_err = p->discovery_err,
                      .content_errs = errs,
                      .n_content_errs = nerr,
                      .remaining = rem,
                      .n_remaining = nrem,
                      .finalizers = fins,
                      .n_finalizers = nfin};
    p->errors = nerr > 0 || p->discovery_err != NULL;
    char now[32];
    now_rfc3339(now, sizeof now);
    kr_value_t *body = kr_value_copy(a, p->ns);
    if (!ns_conditions_update(a, body, &o, now)) {
        decide(p, p->errors);
        return;
    }
    kr_request_t req = {
        .op = "update", .res = "v1/namespaces", .name = p->name, .sub = "status", .obj = body};
    if (!pass_send(p, &req, on_status, NULL))
        pass_finish(p, END_RATE_LIMITED, 0);
}

/* ---- step 3: per kind ----------------------------------------------------------------------- */

static void item_done(ns_pass_t *p)
{
    if (--p->kinds_left == 0)
        pass_end(p);
}

static void list_send(ns_pass_t *p, ns_item_t *it);
static void on_delete_each(kr_bus_t *bus, const kr_reply_t *r, void *ud);

/* The verifying list (or, for a kind without deletecollection, the list
 * whose objects are deleted one by one). */
static void on_list(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ns_item_t *it;
    ns_pass_t *p = pass_reply(ud, &it);
    if (p == NULL)
        return;
    if (r->code == 405 || r->code == 404) { /* the kind cannot be listed: nothing to verify */
        item_done(p);
        return;
    }
    if (!reply_ok(r)) {
        it->err = kr_arena_strdup(p->base.a, kr_reply_msg(r));
        item_done(p);
        return;
    }
    const kr_value_t *items = kr_value_map_get(r->obj, "items");
    size_t n = kr_value_len(items);
    if (it->each) {
        /* upstream's deleteEachItem, then the verifying list */
        it->each = false;
        kr_value_t *opts = kr_value_map(p->base.a);
        kr_value_map_set(p->base.a, opts, "propagationPolicy",
                         kr_value_str(p->base.a, "Background"));
        for (size_t i = 0; i < n; i++) {
            const char *name =
                kr_value_as_str(kr_value_get(kr_value_array_get(items, i), "metadata.name"));
            if (name == NULL)
                continue;
            kr_request_t req = {.op = "delete",
                                .res = it->kind.res,
                                .ns = p->name,
                                .name = kr_arena_strdup(p->base.a, name),
                                .opts = opts};
            if (pass_send(p, &req, on_delete_each, it))
                it->deletes++;
        }
        if (it->deletes == 0)
            list_send(p, it);
        return;
    }
    it->remaining = (int64_t)n;
    if (n == 0) {
        item_done(p);
        return;
    }
    it->fin_names = kr_value_map(p->base.a);
    bool any_fin = false;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *fins = kr_value_get(kr_value_array_get(items, i), "metadata.finalizers");
        for (size_t j = 0; j < kr_value_len(fins); j++) {
            const char *f = kr_value_as_str(kr_value_array_get(fins, j));
            if (f == NULL)
                continue;
            any_fin = true;
            kr_value_map_set(p->base.a, it->fin_names, f,
                             kr_value_int(p->base.a, kr_value_map_int(it->fin_names, f, 0) + 1));
        }
    }
    /* upstream's deleteAllContentForGroupVersionResource: graceful pods
     * are explained by the estimate, finalizers by 15 s; anything else
     * left is an error */
    if (p->estimate == 0) {
        if (any_fin)
            p->estimate = NS_FINALIZER_EST_S;
        else
            it->err = kr_arena_printf(p->base.a,
                                      "unexpected items still remain in namespace: %s for gvr: %s",
                                      p->name, it->kind.gvr);
    }
    item_done(p);
}

static void list_send(ns_pass_t *p, ns_item_t *it)
{
    kr_request_t req = {.op = "list", .res = it->kind.res, .ns = p->name};
    if (!pass_send(p, &req, on_list, it)) {
        it->err = "the list could not be sent";
        item_done(p);
    }
}

static void on_delete_each(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ns_item_t *it;
    ns_pass_t *p = pass_reply(ud, &it);
    if (p == NULL)
        return;
    if (!reply_ok(r) && r->code != 404 && r->code != 405 && it->err == NULL)
        it->err = kr_arena_strdup(p->base.a, kr_reply_msg(r));
    if (--it->deletes > 0)
        return;
    if (it->err != NULL)
        item_done(p);
    else
        list_send(p, it);
}

static void on_deletecollection(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ns_item_t *it;
    ns_pass_t *p = pass_reply(ud, &it);
    if (p == NULL)
        return;
    if (r->code == 405 || r->code == 404) {
        /* remembered, as upstream's operationNotSupportedCache */
        for (size_t i = 0; i < p->c->nkinds; i++)
            if (strcmp(p->c->kinds[i].res, it->kind.res) == 0)
                p->c->kinds[i].no_delcol = true;
        it->each = true;
    } else if (!reply_ok(r)) {
        it->err = kr_arena_strdup(p->base.a, kr_reply_msg(r));
        item_done(p);
        return;
    }
    list_send(p, it);
}

static void item_start(ns_pass_t *p, ns_item_t *it)
{
    if (it->kind.no_delcol) {
        it->each = true;
        list_send(p, it);
        return;
    }
    kr_value_t *opts = kr_value_map(p->base.a);
    /* never the orphan finalizer: everything in the namespace goes */
    kr_value_map_set(p->base.a, opts, "propagationPolicy", kr_value_str(p->base.a, "Background"));
    kr_request_t req = {.op = "deletecollection", .res = it->kind.res, .ns = p->name, .opts = opts};
    if (!pass_send(p, &req, on_deletecollection, it)) {
        it->err = "the deletecollection could not be sent";
        item_done(p);
    }
}

/* ---- step 2: the pods' grace estimate ------------------------------------------------------- */

static void on_pods(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ns_pass_t *p = pass_reply(ud, NULL);
    if (p == NULL)
        return;
    if (!reply_ok(r)) {
        /* upstream fails the pods' resource with the list's error */
        kr_plugin_log(p->c->ctx, KR_LOG_WARN, kr_reply_msg(r),
                      "namespace=%s action=\"estimate pod termination\" code=%d", p->name, r->code);
        pass_finish(p, END_RATE_LIMITED, 0);
        return;
    }
    const kr_value_t *items = kr_value_map_get(r->obj, "items");
    int64_t est = 0;
    for (size_t i = 0; i < kr_value_len(items); i++) {
        const kr_value_t *pod = kr_value_array_get(items, i);
        const char *phase = kr_value_as_str(kr_value_get(pod, "status.phase"));
        if (phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
            continue;
        int64_t g = kr_value_as_int(kr_value_get(pod, "spec.terminationGracePeriodSeconds"), 0);
        if (g > est)
            est = g;
    }
    /* the estimate counts from the namespace's deletion */
    int64_t now = kr_time_now_ns() / 1000000000;
    if (now - p->deleted_at >= est)
        est = 0;
    p->estimate = est;
    p->kinds_left = (unsigned)p->nitems;
    if (p->nitems == 0) {
        pass_end(p);
        return;
    }
    /* items[] is complete before the first reply can come back */
    for (size_t i = 0; i < p->nitems; i++)
        item_start(p, &p->items[i]);
}

static void pass_start_content(ns_pass_t *p)
{
    ns_ctl_t *c = p->c;
    p->items = kr_arena_alloc(p->base.a, (c->nkinds ? c->nkinds : 1) * sizeof *p->items);
    memset(p->items, 0, (c->nkinds ? c->nkinds : 1) * sizeof *p->items);
    p->nitems = c->nkinds;
    for (size_t i = 0; i < c->nkinds; i++)
        p->items[i].kind = (ns_kind_t){.res = kr_arena_strdup(p->base.a, c->kinds[i].res),
                                       .gr = kr_arena_strdup(p->base.a, c->kinds[i].gr),
                                       .gvr = kr_arena_strdup(p->base.a, c->kinds[i].gvr),
                                       .no_delcol = c->kinds[i].no_delcol};
    kr_request_t req = {.op = "list", .res = "v1/pods", .ns = p->name};
    if (!pass_send(p, &req, on_pods, NULL))
        pass_finish(p, END_RATE_LIMITED, 0);
}

/* ---- step 1: discovery ---------------------------------------------------------------------------- */

static void kinds_free(ns_ctl_t *c)
{
    for (size_t i = 0; i < c->nkinds; i++) {
        free(c->kinds[i].res);
        free(c->kinds[i].gr);
        free(c->kinds[i].gvr);
    }
    free(c->kinds);
    c->kinds = NULL;
    c->nkinds = 0;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (s == NULL)
        abort();
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

/* Keeps the namespaced kinds of a "kinds" answer; what was known of a
 * kind (no deletecollection) stays known. */
static void kinds_take(ns_ctl_t *c, const kr_value_t *items)
{
    size_t n = kr_value_len(items), k = 0;
    ns_kind_t *kinds = calloc(n ? n : 1, sizeof *kinds);
    if (kinds == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *d = kr_value_array_get(items, i);
        const char *group = kr_value_map_str(d, "group") ?: "",
                   *version = kr_value_map_str(d, "version"), *kind = kr_value_map_str(d, "kind"),
                   *plural = kr_value_map_str(d, "plural");
        if (version == NULL || kind == NULL || plural == NULL ||
            !kr_value_as_bool(kr_value_map_get(d, "namespaced"), false))
            continue;
        /* Binding is create-only: nothing to list or delete */
        if (*group == '\0' && strcmp(kind, "Binding") == 0)
            continue;
        ns_kind_t *nk = &kinds[k++];
        nk->res = *group ? xprintf("%s/%s/%s", group, version, plural)
                         : xprintf("%s/%s", version, plural);
        nk->gr = xprintf("%s.%s", plural, group);
        nk->gvr = xprintf("%s/%s, Resource=%s", group, version, plural);
        for (size_t j = 0; j < c->nkinds; j++)
            if (strcmp(c->kinds[j].res, nk->res) == 0)
                nk->no_delcol = c->kinds[j].no_delcol;
    }
    kinds_free(c);
    c->kinds = kinds;
    c->nkinds = k;
}

static void on_kinds(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ns_pass_t *p = pass_reply(ud, NULL);
    if (p == NULL)
        return;
    if (reply_ok(r)) {
        kinds_take(p->c, kr_value_map_get(r->obj, "items"));
        p->c->kinds_at = kr_loop_now(p->c->loop);
    } else {
        /* discovery errors are not fatal: the kinds known before are used */
        p->discovery_err = kr_arena_strdup(p->base.a, kr_reply_msg(r));
        kr_plugin_log(p->c->ctx, KR_LOG_WARN, p->discovery_err, "namespace=%s op=kinds code=%d",
                      p->name, r->code);
    }
    pass_start_content(p);
}

/* ---- sync ---------------------------------------------------------------------------------- */

static void on_phase(kr_bus_t *bus, const kr_reply_t *r, void *ud);

static void pass_discover(ns_pass_t *p)
{
    ns_ctl_t *c = p->c;
    if (c->kinds_at != 0 && kr_loop_now(c->loop) - c->kinds_at < NS_DISCOVERY_TTL_MS) {
        pass_start_content(p);
        return;
    }
    kr_request_t req = {.op = "kinds"};
    if (!pass_send(p, &req, on_kinds, NULL))
        pass_finish(p, END_RATE_LIMITED, 0);
}

/* upstream's updateNamespaceStatusFunc: phase Terminating (the API sets
 * it with the deletion; this covers a namespace written otherwise) */
static void on_phase(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ns_pass_t *p = pass_reply(ud, NULL);
    if (p == NULL)
        return;
    if (!reply_ok(r) || r->obj == NULL) {
        if (r->code == 404) {
            pass_finish(p, END_FORGET, 0);
            return;
        }
        kr_plugin_log(p->c->ctx, r->code == 409 ? KR_LOG_INFO : KR_LOG_WARN, kr_reply_msg(r),
                      "namespace=%s action=\"set phase Terminating\" code=%d", p->name, r->code);
        pass_finish(p, END_RATE_LIMITED, 0);
        return;
    }
    p->ns = kr_value_copy(p->base.a, r->obj);
    pass_discover(p);
}

static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    ns_ctl_t *c = ud;
    const kr_value_t *ns = kr_informer_get_key(c->namespaces, key);
    if (ns == NULL || !terminating(ns)) {
        if (ns == NULL)
            recheck_forget(c, key);
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL); /* `key` is the queue's: done frees it */
        return;
    }
    /* finalized already: the API removes it once other finalizers go */
    bool ours = false;
    const kr_value_t *fins = kr_value_get(ns, "spec.finalizers");
    for (size_t i = 0; i < kr_value_len(fins) && !ours; i++)
        ours = strcmp(kr_value_as_str(kr_value_array_get(fins, i)) ?: "", NS_FINALIZER) == 0;
    if (!ours) {
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    ns_pass_t *p = pass_new(c, key);
    p->ns = kr_value_copy(p->base.a, ns);
    int64_t sec = 0;
    int32_t nsec = 0;
    kr_time_parse(kr_value_as_str(kr_value_get(ns, "metadata.deletionTimestamp")), &sec, &nsec);
    p->deleted_at = sec;
    const char *phase = kr_value_as_str(kr_value_get(ns, "status.phase"));
    if (phase != NULL && strcmp(phase, "Terminating") == 0) {
        pass_discover(p);
        return;
    }
    kr_value_t *body = kr_value_copy(p->base.a, ns);
    kr_value_set(p->base.a, body, "status.phase", kr_value_str(p->base.a, "Terminating"), NULL);
    kr_request_t req = {
        .op = "update", .res = "v1/namespaces", .name = p->name, .sub = "status", .obj = body};
    if (!pass_send(p, &req, on_phase, NULL))
        pass_finish(p, END_RATE_LIMITED, 0);
}

/* ---- stats ------------------------------------------------------------------------------------ */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    ns_ctl_t *c = ud;
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "synced", kr_value_bool(a, kr_informer_has_synced(c->namespaces)));
    const kr_stat_t n[] = {{"kinds", c->nkinds},
                           {"passes", c->passes_run},
                           {"finalized", c->finalized},
                           {"failures", c->failures}};
    kr_stats_put(a, obj, n, sizeof n / sizeof n[0]);
    kr_call_reply(call, 200, obj, NULL);
}

/* ---- life cycle ----------------------------------------------------------------------------------- */

static void ns_fini(void *instance)
{
    ns_ctl_t *c = instance;
    if (c->queue != NULL)
        kr_workqueue_shutdown(c->queue);
    kr_informer_destroy(&c->namespaces);
    kr_synctasks_detach(&c->passes);
    kr_workqueue_destroy(&c->queue);
    while (c->rechecks != NULL) {
        ns_recheck_t *r = c->rechecks;
        c->rechecks = r->next;
        free(r);
    }
    kinds_free(c);
    free(c);
}

static void *ns_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct ns_conf *conf = config;
    if (kr_config_check_int("workers", conf->workers, 1, 100, err) < 0)
        return NULL;
    if (conf->retry_base_ms < 1 || conf->retry_max_ms < conf->retry_base_ms) {
        kr_error_set(err, KR_E_INVALID, "retry_base, retry_max: must be > 0, base <= max");
        return NULL;
    }
    ns_ctl_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->conf = *conf;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    c->passes = (kr_synctasks_t){
        .bus = c->bus, .ctx = ctx, .label = "namespace", .timeout_ms = NS_TIMEOUT_MS};
    kr_workqueue_opts_t qo = {.name = "namespace",
                              .max_in_flight = (unsigned)conf->workers,
                              .base_delay_ms = (uint64_t)conf->retry_base_ms,
                              .max_delay_ms = (uint64_t)conf->retry_max_ms};
    c->queue = kr_workqueue_new(c->loop, &qo, sync_key, c, err);
    kr_informer_opts_t io = {.res = "v1/namespaces",
                             .name = "namespace controller",
                             .resync_ms = (uint64_t)conf->resync_ms,
                             .handlers = {on_add, on_update, on_delete, c}};
    if (c->queue != NULL)
        c->namespaces = kr_informer_new(c->loop, c->bus, &io, err);
    if (c->namespaces == NULL || kr_informer_start(c->namespaces, err) < 0 ||
        kr_bus_serve(c->bus, "namespace.stats", NULL, on_stats, c, 5000, err) < 0) {
        ns_fini(c);
        return NULL;
    }
    c->passes.q = c->queue;
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "namespace",
    .version = "0.1.0",
    .description = "deletes everything in a terminating namespace, then finalizes it",
    .config = ns_table,
    .config_size = sizeof(struct ns_conf),
    .init = ns_init,
    .fini = ns_fini,
};
