/* auth-rbac — Kubernetes RBAC authorization (kraal/authz.h).
 *
 * Informers on Roles, ClusterRoles, RoleBindings and ClusterRoleBindings
 * feed an immutable snapshot (rbac_eval.c) in which bindings are indexed by
 * subject, so a decision looks at the bindings of the asking user and its
 * groups only, never at every binding.  Events mark the snapshot stale; the
 * next loop turn builds a new one and swaps it in under a write lock, while
 * the vtable (called from the gateway's workers and the core's broker
 * thread) reads the current one under a read lock.
 *
 * At start, before anything asks, the plugin creates or reconciles the
 * bootstrap policy (rbac_policy.c, as kube-apiserver's
 * rbac/bootstrap-roles post-start hook), aggregates the aggregated
 * ClusterRoles once and builds its first snapshot from a synchronous list,
 * so the REST gateway listed after it never meets an empty policy.  Then
 * the ClusterRole aggregation controller keeps aggregated roles' rules
 * current (pkg/controller/clusterroleaggregation).
 *
 * Ops served (for a gateway in another process):
 *   authz.review {user, verb, resourceAttributes | nonResourceAttributes}
 *                -> {allowed, denied, reason}  (SubjectAccessReview status)
 *   authz.rules  {user, namespace} -> {resourceRules, nonResourceRules,
 *                incomplete, evaluationError?}  (SelfSubjectRulesReview status)
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/authz.h>
#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/workqueue.h>

#include "rbac.h"

#define RBAC_RES_ROLES   RBAC_GROUP "/v1/roles"
#define RBAC_RES_CROLES  RBAC_GROUP "/v1/clusterroles"
#define RBAC_RES_RBS     RBAC_GROUP "/v1/rolebindings"
#define RBAC_RES_CRBS    RBAC_GROUP "/v1/clusterrolebindings"
#define RBAC_TIMEOUT_MS  10000
#define RBAC_RETRY_MS    100
#define RBAC_REBUILD_MS  50 /* at most one snapshot per this, in a burst of writes */
#define RBAC_AGG_PASSES  5
#define RBAC_WRITE_TRIES 3
#define RBAC_REASON_MAX  1024

struct rbac_conf {
    bool bootstrap;
    bool aggregate;
};

static const kr_config_entry_t rbac_config[] = {
    {KR_CFG_BOOL, "bootstrap", "true", offsetof(struct rbac_conf, bootstrap),
     "create the bootstrap ClusterRoles and ClusterRoleBindings at start and add what they "
     "miss to those annotated rbac.authorization.kubernetes.io/autoupdate: \"true\""},
    {KR_CFG_BOOL, "aggregate", "true", offsetof(struct rbac_conf, aggregate),
     "run the ClusterRole aggregation controller (aggregationRule.clusterRoleSelectors)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

static const char *const rbac_res[4] = {RBAC_RES_ROLES, RBAC_RES_CROLES, RBAC_RES_RBS,
                                        RBAC_RES_CRBS};
static const char *const rbac_kinds[4] = {"Role", "ClusterRole", "RoleBinding",
                                          "ClusterRoleBinding"};

typedef struct rbac_plugin rbac_plugin_t;

/* One aggregation update in flight; `p` is NULL once fini ran (the bus
 * answers every request when it goes, after fini). */
typedef struct rbac_write {
    struct rbac_write *prev, *next;
    rbac_plugin_t *p;
    char name[];
} rbac_write_t;

struct rbac_plugin {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    const struct rbac_conf *conf;
    pthread_rwlock_t lock;
    rbac_snap_t *snap; /* under lock; never NULL */
    kr_informer_t *inf[4];
    uint64_t rebuild_timer;
    uint64_t rebuilt_at; /* kr_loop_now of the last snapshot */
    kr_workqueue_t *aggq;
    rbac_write_t *writes;
};

/* ---- the snapshot ---------------------------------------------------------------- */

static void swap_snapshot(rbac_plugin_t *p, rbac_snap_t *snap)
{
    pthread_rwlock_wrlock(&p->lock);
    rbac_snap_t *old = p->snap;
    p->snap = snap;
    pthread_rwlock_unlock(&p->lock);
    rbac_snap_destroy(&old);
}

typedef struct rbac_add_ctx {
    rbac_snap_t *snap;
    const char *kind;
} rbac_add_ctx_t;

static bool add_cached(const kr_value_t *obj, void *ud)
{
    rbac_add_ctx_t *c = ud;
    rbac_snap_add(c->snap, c->kind, obj);
    return true;
}

static void rebuild(kr_loop_t *loop, uint64_t timer, void *ud)
{
    (void)timer;
    rbac_plugin_t *p = ud;
    p->rebuild_timer = 0;
    for (int i = 0; i < 4; i++)
        if (!kr_informer_has_synced(p->inf[i])) {
            /* a half-listed policy would deny what the first snapshot allows */
            p->rebuild_timer = kr_loop_add_timer(loop, RBAC_RETRY_MS, 0, rebuild, p);
            return;
        }
    rbac_snap_t *snap = rbac_snap_new();
    for (int i = 0; i < 4; i++) {
        rbac_add_ctx_t c = {snap, rbac_kinds[i]};
        kr_informer_each(p->inf[i], NULL, add_cached, &c);
    }
    rbac_snap_finish(snap);
    swap_snapshot(p, snap);
    p->rebuilt_at = kr_loop_now(loop);
}

/* A change counts at the next loop turn; in a burst (a policy being
 * loaded: thousands of events) the snapshot is built again at most every
 * RBAC_REBUILD_MS, not once per event. */
static void schedule_rebuild(rbac_plugin_t *p)
{
    if (p->rebuild_timer != 0)
        return;
    uint64_t now = kr_loop_now(p->loop), next = p->rebuilt_at + RBAC_REBUILD_MS;
    p->rebuild_timer = kr_loop_add_timer(p->loop, next > now ? next - now : 0, 0, rebuild, p);
}

/* ---- the vtable -------------------------------------------------------------------- */

static kr_authz_decision_t vt_authorize(void *self, const kr_authz_attrs_t *attrs, char *reason,
                                        size_t reason_len)
{
    rbac_plugin_t *p = self;
    pthread_rwlock_rdlock(&p->lock);
    kr_authz_decision_t d = rbac_authorize(p->snap, attrs, reason, reason_len);
    pthread_rwlock_unlock(&p->lock);
    return d;
}

static int vt_rules(void *self, const kr_authz_user_t *user, const char *ns, kr_arena_t *arena,
                    kr_value_t **resource_rules, kr_value_t **non_resource_rules, bool *incomplete,
                    const char **evaluation_error, kr_error_t *err)
{
    rbac_plugin_t *p = self;
    pthread_rwlock_rdlock(&p->lock);
    int rc = rbac_rules_review(p->snap, user, ns, arena, resource_rules, non_resource_rules,
                               incomplete, evaluation_error, err);
    pthread_rwlock_unlock(&p->lock);
    return rc;
}

static int vt_check_grant(void *self, const kr_authz_user_t *user, const char *kind,
                          const kr_value_t *obj, kr_arena_t *arena, kr_error_t *err)
{
    rbac_plugin_t *p = self;
    pthread_rwlock_rdlock(&p->lock);
    int rc = rbac_check_grant(p->snap, user, kind, obj, arena, err);
    pthread_rwlock_unlock(&p->lock);
    return rc;
}

static const kr_authz_ops_t rbac_ops = {
    .struct_size = sizeof(kr_authz_ops_t),
    .authz_name = "rbac",
    .authorize = vt_authorize,
    .rules = vt_rules,
    .check_grant = vt_check_grant,
};

/* ---- bus ops ---------------------------------------------------------------------- */

static const char *str_or_null(const kr_value_t *m, const char *key)
{
    const char *s = kr_value_map_str(m, key);
    return s != NULL && *s != '\0' ? s : NULL;
}

/* The request's obj and its user; a call without one is answered. */
static int call_user(kr_call_t *call, const kr_value_t **obj, kr_authz_user_t *user)
{
    kr_error_t err;
    *obj = kr_value_map_get(kr_call_msg(call), "obj");
    if (kr_authz_user_from_value(kr_value_map_get(*obj, "user"), kr_call_arena(call), user, &err) <
        0) {
        kr_call_fail(call, err.reason, err.message, NULL);
        return -1;
    }
    return 0;
}

/* authz.review: the SubjectAccessReview spec's shape, verb at the top (as
 * the REST gateway sends it) or in the attributes (as in a review). */
static void op_review(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    rbac_plugin_t *p = ud;
    kr_arena_t *a = kr_call_arena(call);
    const kr_value_t *obj;
    kr_authz_user_t user;
    if (call_user(call, &obj, &user) < 0)
        return;
    const kr_value_t *ra = kr_value_map_get(obj, "resourceAttributes"),
                     *na = kr_value_map_get(obj, "nonResourceAttributes");
    kr_authz_attrs_t at = {.user = &user, .resource_request = kr_value_type(ra) == KR_MAP};
    const kr_value_t *attrs = at.resource_request ? ra : na;
    if (!at.resource_request && kr_value_type(na) != KR_MAP) {
        kr_call_fail(call, KR_E_BAD_REQUEST,
                     "authz.review: resourceAttributes or nonResourceAttributes is required", NULL);
        return;
    }
    at.verb = str_or_null(obj, "verb") ? str_or_null(obj, "verb") : str_or_null(attrs, "verb");
    if (at.verb == NULL) {
        kr_call_fail(call, KR_E_BAD_REQUEST, "authz.review: verb is required", NULL);
        return;
    }
    if (at.resource_request) {
        const char *g = kr_value_map_str(ra, "group");
        at.group = g ? g : "";
        at.version = str_or_null(ra, "version");
        at.resource = kr_value_map_str(ra, "resource") ? kr_value_map_str(ra, "resource") : "";
        at.subresource = str_or_null(ra, "subresource");
        at.ns = str_or_null(ra, "namespace");
        at.name = str_or_null(ra, "name");
    } else {
        at.path = kr_value_map_str(na, "path") ? kr_value_map_str(na, "path") : "";
    }
    char reason[RBAC_REASON_MAX];
    kr_authz_decision_t d = vt_authorize(p, &at, reason, sizeof reason);
    kr_value_t *out = kr_value_map(a);
    kr_value_map_set(a, out, "allowed", kr_value_bool(a, d == KR_AUTHZ_ALLOW));
    kr_value_map_set(a, out, "denied", kr_value_bool(a, d == KR_AUTHZ_DENY));
    kr_value_map_set(a, out, "reason", kr_value_str(a, reason));
    kr_call_reply(call, 200, out, NULL);
}

/* authz.rules: the SelfSubjectRulesReview status. */
static void op_rules(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    rbac_plugin_t *p = ud;
    kr_arena_t *a = kr_call_arena(call);
    const kr_value_t *obj;
    kr_authz_user_t user;
    kr_error_t err;
    if (call_user(call, &obj, &user) < 0)
        return;
    kr_value_t *res, *nonres;
    bool incomplete;
    const char *eval_err;
    if (vt_rules(p, &user, kr_value_map_str(obj, "namespace"), a, &res, &nonres, &incomplete,
                 &eval_err, &err) < 0) {
        kr_call_fail(call, err.reason, err.message, NULL);
        return;
    }
    kr_value_t *out = kr_value_map(a);
    kr_value_map_set(a, out, "resourceRules", res);
    kr_value_map_set(a, out, "nonResourceRules", nonres);
    kr_value_map_set(a, out, "incomplete", kr_value_bool(a, incomplete));
    if (eval_err != NULL)
        kr_value_map_set(a, out, "evaluationError", kr_value_str(a, eval_err));
    kr_call_reply(call, 200, out, NULL);
}

/* ---- synchronous requests at start -------------------------------------------------- */

static int call_sync(rbac_plugin_t *p, kr_arena_t *a, const char *op, const char *res,
                     const char *name, const kr_value_t *obj, kr_reply_t *reply)
{
    kr_request_t req = {.op = op, .res = res, .name = name, .obj = obj};
    kr_error_t err;
    if (kr_bus_call(p->bus, &req, a, reply, RBAC_TIMEOUT_MS, &err) < 0) {
        reply->code = kr_reason_code(err.reason);
        reply->reason = err.reason;
        reply->message = kr_arena_strdup(a, err.message);
        return -1;
    }
    return 0;
}

static bool ok(const kr_reply_t *r)
{
    return r->code >= 200 && r->code < 300;
}

/* One bootstrap object: created when missing, reconciled when not
 * protected (ensureRBACPolicy); a write that lost a race is tried again. */
static void ensure_object(rbac_plugin_t *p, kr_arena_t *a, const char *res, const char *kind,
                          const kr_value_t *expected, bool binding)
{
    const char *name = kr_value_as_str(kr_value_get(expected, "metadata.name"));
    for (int attempt = 0; attempt < RBAC_WRITE_TRIES; attempt++) {
        kr_reply_t r;
        call_sync(p, a, "get", res, name, NULL, &r);
        if (r.code == 404) {
            call_sync(p, a, "create", res, NULL, expected, &r);
            if (ok(&r)) {
                kr_plugin_log(p->ctx, KR_LOG_INFO, "created the bootstrap object",
                              "kind=%s name=%s", kind, name);
                return;
            }
        } else if (ok(&r)) {
            bool protect = false;
            rbac_reconcile_op_t op;
            kr_value_t *out = binding ? rbac_reconcile_binding(a, r.obj, expected, &protect, &op)
                                      : rbac_reconcile_role(a, r.obj, expected, &protect, &op);
            if (op == RBAC_RECONCILE_NONE)
                return;
            if (protect) {
                kr_plugin_log(p->ctx, KR_LOG_WARN,
                              "a bootstrap object differs and is not reconciled (autoupdate "
                              "false)",
                              "kind=%s name=%s", kind, name);
                return;
            }
            if (op == RBAC_RECONCILE_RECREATE) {
                call_sync(p, a, "delete", res, name, NULL, &r);
                if (ok(&r) || r.code == 404)
                    call_sync(p, a, "create", res, NULL, out, &r);
            } else {
                call_sync(p, a, "update", res, name, out, &r);
            }
            if (ok(&r)) {
                kr_plugin_log(p->ctx, KR_LOG_INFO, "reconciled the bootstrap object",
                              "kind=%s name=%s", kind, name);
                return;
            }
        }
        if (r.code != 409) {
            kr_plugin_log(p->ctx, KR_LOG_WARN, "cannot ensure the bootstrap object",
                          "kind=%s name=%s code=%d error=\"%s\"", kind, name, r.code,
                          kr_reply_msg(&r));
            return;
        }
    }
    kr_plugin_log(p->ctx, KR_LOG_WARN, "cannot ensure the bootstrap object: conflicts",
                  "kind=%s name=%s", kind, name);
}

static void ensure_policy(rbac_plugin_t *p)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *roles, *bindings;
    kr_error_t err;
    if (rbac_bootstrap_policy(a, &roles, &bindings, &err) < 0) {
        kr_plugin_log(p->ctx, KR_LOG_ERROR, "no bootstrap policy", "error=\"%s\"", err.message);
    } else {
        for (size_t i = 0; i < kr_value_len(roles); i++)
            ensure_object(p, a, RBAC_RES_CROLES, "ClusterRole", kr_value_array_get(roles, i),
                          false);
        for (size_t i = 0; i < kr_value_len(bindings); i++)
            ensure_object(p, a, RBAC_RES_CRBS, "ClusterRoleBinding",
                          kr_value_array_get(bindings, i), true);
    }
    kr_arena_destroy(&a);
}

/* The aggregated ClusterRoles of `list` brought up to date, in passes
 * until none changes (admin gathers edit, which gathers view). */
static void aggregate_sync(rbac_plugin_t *p, kr_arena_t *a, kr_value_t *items)
{
    size_t n = kr_value_len(items);
    if (n == 0)
        return;
    const kr_value_t **all = malloc(n * sizeof *all);
    if (all == NULL)
        abort();
    for (int pass = 0; pass < RBAC_AGG_PASSES; pass++) {
        bool changed = false;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++)
                all[j] = kr_value_array_get(items, j);
            kr_value_t *role = kr_value_array_get(items, i);
            int rc;
            kr_error_t err;
            kr_value_t *rules = rbac_aggregate(a, role, all, n, &rc, &err);
            if (rules == NULL)
                continue;
            kr_value_t *upd = kr_value_copy(a, role);
            kr_value_map_set(a, upd, "rules", rules);
            const char *name = kr_value_as_str(kr_value_get(role, "metadata.name"));
            kr_reply_t r;
            call_sync(p, a, "update", RBAC_RES_CROLES, name, upd, &r);
            if (!ok(&r) || r.obj == NULL) {
                kr_plugin_log(p->ctx, KR_LOG_WARN, "cannot aggregate the ClusterRole",
                              "name=%s code=%d error=\"%s\"", name, r.code, kr_reply_msg(&r));
                continue;
            }
            kr_value_array_set(a, items, i, r.obj);
            changed = true;
        }
        if (!changed)
            break;
    }
    free(all);
}

/* The first snapshot, from a synchronous list of the four kinds. */
static void initial_snapshot(rbac_plugin_t *p)
{
    kr_arena_t *a = kr_arena_new(0);
    rbac_snap_t *snap = rbac_snap_new();
    for (int i = 0; i < 4; i++) {
        kr_reply_t r;
        call_sync(p, a, "list", rbac_res[i], NULL, NULL, &r);
        if (!ok(&r)) {
            kr_plugin_log(p->ctx, KR_LOG_WARN, "cannot list", "res=%s code=%d error=\"%s\"",
                          rbac_res[i], r.code, kr_reply_msg(&r));
            continue;
        }
        kr_value_t *items = kr_value_map_get(r.obj, "items");
        if (i == 1 && p->conf->aggregate)
            aggregate_sync(p, a, items);
        for (size_t j = 0; j < kr_value_len(items); j++)
            rbac_snap_add(snap, rbac_kinds[i], kr_value_array_get(items, j));
    }
    rbac_snap_finish(snap);
    swap_snapshot(p, snap);
    kr_arena_destroy(&a);
}

/* ---- the aggregation controller ------------------------------------------------------ */

static void write_unlink(rbac_plugin_t *p, rbac_write_t *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        p->writes = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
}

static void on_aggregated(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    rbac_write_t *w = ud;
    rbac_plugin_t *p = w->p;
    if (p != NULL) {
        if (ok(reply)) {
            kr_workqueue_forget(p->aggq, w->name);
        } else {
            if (reply->code != 409)
                kr_plugin_log(p->ctx, KR_LOG_WARN, "cannot aggregate the ClusterRole",
                              "name=%s code=%d error=\"%s\"", w->name, reply->code,
                              kr_reply_msg(reply));
            kr_workqueue_add_rate_limited(p->aggq, w->name, NULL);
        }
        kr_workqueue_done(p->aggq, w->name, NULL);
        write_unlink(p, w);
    }
    free(w);
}

typedef struct rbac_roles {
    const kr_value_t **v;
    size_t n, cap;
} rbac_roles_t;

static bool collect_role(const kr_value_t *obj, void *ud)
{
    rbac_roles_t *r = ud;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        if (r->v == NULL)
            abort();
    }
    r->v[r->n++] = obj;
    return true;
}

/* syncClusterRole */
static void sync_aggregated(kr_workqueue_t *q, const char *key, void *ud)
{
    rbac_plugin_t *p = ud;
    kr_informer_t *inf = p->inf[1];
    const kr_value_t *role = kr_informer_get(inf, NULL, key);
    if (role == NULL) {
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    rbac_roles_t all = {0};
    kr_informer_each(inf, NULL, collect_role, &all);
    kr_arena_t *a = kr_arena_new(0);
    int rc;
    kr_error_t err;
    kr_value_t *rules = rbac_aggregate(a, role, all.v, all.n, &rc, &err);
    free(all.v);
    if (rules == NULL) {
        if (rc < 0)
            kr_plugin_log(p->ctx, KR_LOG_WARN, "cannot aggregate the ClusterRole",
                          "name=%s error=\"%s\"", key, err.message);
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        kr_arena_destroy(&a);
        return;
    }
    kr_value_t *upd = kr_value_copy(a, role);
    kr_value_map_set(a, upd, "rules", rules);
    size_t len = strlen(key);
    rbac_write_t *w = calloc(1, sizeof *w + len + 1);
    if (w == NULL)
        abort();
    memcpy(w->name, key, len + 1);
    w->p = p;
    kr_request_t req = {.op = "update", .res = RBAC_RES_CROLES, .name = key, .obj = upd};
    if (kr_bus_send(p->bus, &req, on_aggregated, w, RBAC_TIMEOUT_MS, NULL, &err) < 0) {
        kr_plugin_log(p->ctx, KR_LOG_WARN, "cannot send the ClusterRole update",
                      "name=%s error=\"%s\"", key, err.message);
        free(w);
        kr_workqueue_add_rate_limited(q, key, NULL);
        kr_workqueue_done(q, key, NULL);
    } else {
        w->next = p->writes;
        if (p->writes != NULL)
            p->writes->prev = w;
        p->writes = w;
    }
    kr_arena_destroy(&a);
}

static bool enqueue_aggregated(const kr_value_t *obj, void *ud)
{
    rbac_plugin_t *p = ud;
    const char *name = kr_value_as_str(kr_value_get(obj, "metadata.name"));
    if (name != NULL && kr_value_type(kr_value_map_get(obj, "aggregationRule")) == KR_MAP)
        kr_workqueue_add(p->aggq, name, NULL);
    return true;
}

/* ---- informer handlers ----------------------------------------------------------------- */

static void changed(rbac_plugin_t *p, kr_informer_t *inf)
{
    schedule_rebuild(p);
    /* any ClusterRole may be one an aggregation selects: every aggregated
     * role is looked at again, as upstream's controller does */
    if (inf == p->inf[1] && p->aggq != NULL)
        kr_informer_each(inf, NULL, enqueue_aggregated, p);
}

static void on_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)obj;
    changed(ud, inf);
}

static void on_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *obj, void *ud)
{
    if (old != obj) /* not a resync */
        changed(ud, inf);
}

static void on_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)obj;
    changed(ud, inf);
}

/* What the caches of Roles and bindings keep: the policy and the names.
 * ClusterRoles are kept whole: the aggregation controller writes them
 * back. */
static const kr_value_t *keep_policy(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const meta_keys[] = {"name", "namespace", "uid", "resourceVersion"};
    static const char *const keys[] = {"rules", "roleRef", "subjects"};
    kr_value_t *out = kr_value_map(a), *meta = kr_value_map(a);
    const kr_value_t *m = kr_value_map_get(obj, "metadata");
    for (size_t i = 0; i < sizeof meta_keys / sizeof meta_keys[0]; i++) {
        const kr_value_t *v = kr_value_map_get(m, meta_keys[i]);
        if (v != NULL)
            kr_value_map_set(a, meta, meta_keys[i], kr_value_copy(a, v));
    }
    kr_value_map_set(a, out, "metadata", meta);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const kr_value_t *v = kr_value_map_get(obj, keys[i]);
        if (v != NULL)
            kr_value_map_set(a, out, keys[i], kr_value_copy(a, v));
    }
    return out;
}

/* ---- life cycle ------------------------------------------------------------------------ */

static void rbac_fini(void *instance)
{
    rbac_plugin_t *p = instance;
    if (p->aggq != NULL)
        kr_workqueue_shutdown(p->aggq);
    for (int i = 0; i < 4; i++)
        kr_informer_destroy(&p->inf[i]);
    kr_workqueue_destroy(&p->aggq);
    if (p->rebuild_timer != 0)
        kr_loop_cancel_timer(p->loop, p->rebuild_timer);
    for (rbac_write_t *w = p->writes; w != NULL; w = w->next)
        w->p = NULL;
    /* the registration ended before fini: a reader still inside holds the
     * read lock, which the write lock waits for */
    pthread_rwlock_wrlock(&p->lock);
    rbac_snap_destroy(&p->snap);
    pthread_rwlock_unlock(&p->lock);
    pthread_rwlock_destroy(&p->lock);
    free(p);
}

static void *rbac_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    rbac_plugin_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    p->ctx = ctx;
    p->conf = config;
    p->bus = kr_plugin_bus(ctx);
    p->loop = kr_plugin_loop(ctx);
    pthread_rwlock_init(&p->lock, NULL);
    p->snap = rbac_snap_new();
    rbac_snap_finish(p->snap);
    if (p->conf->bootstrap)
        ensure_policy(p);
    initial_snapshot(p);
    kr_workqueue_opts_t qo = {.name = "clusterrole-aggregation", .qps = -1};
    if (p->conf->aggregate &&
        (p->aggq = kr_workqueue_new(p->loop, &qo, sync_aggregated, p, err)) == NULL) {
        rbac_fini(p);
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        kr_informer_opts_t io = {
            .res = rbac_res[i],
            .handlers = {on_add, on_update, on_delete, p},
        };
        if ((p->inf[i] = kr_informer_new(p->loop, p->bus, &io, err)) == NULL ||
            (i != 1 && kr_informer_set_transform(p->inf[i], keep_policy, NULL, err) < 0)) {
            rbac_fini(p);
            return NULL;
        }
    }
    if (kr_authz_register(ctx, &rbac_ops, p, err) < 0 ||
        kr_bus_serve(p->bus, "authz.review", NULL, op_review, p, RBAC_TIMEOUT_MS, err) < 0 ||
        kr_bus_serve(p->bus, "authz.rules", NULL, op_rules, p, RBAC_TIMEOUT_MS, err) < 0) {
        rbac_fini(p);
        return NULL;
    }
    for (int i = 0; i < 4; i++)
        if (kr_informer_start(p->inf[i], err) < 0) {
            rbac_fini(p);
            return NULL;
        }
    pthread_rwlock_rdlock(&p->lock);
    kr_plugin_log(ctx, KR_LOG_INFO, "RBAC authorizer started",
                  "roles=%zu clusterroles=%zu rolebindings=%zu clusterrolebindings=%zu",
                  rbac_snap_count(p->snap, "Role"), rbac_snap_count(p->snap, "ClusterRole"),
                  rbac_snap_count(p->snap, "RoleBinding"),
                  rbac_snap_count(p->snap, "ClusterRoleBinding"));
    pthread_rwlock_unlock(&p->lock);
    return p;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "auth",
    .name = "rbac",
    .version = "0.1.0",
    .description = "RBAC authorization: Roles, ClusterRoles and their bindings, the bootstrap "
                   "policy and ClusterRole aggregation (kube-apiserver's RBAC authorizer)",
    .config = rbac_config,
    .config_size = sizeof(struct rbac_conf),
    .init = rbac_init,
    .fini = rbac_fini,
};
