/* controller-serviceaccount: a ServiceAccount named "default" in every
 * namespace, after upstream's serviceaccount-controller
 * (pkg/controller/serviceaccount/serviceaccounts_controller.go).
 *
 * A Namespace informer and a ServiceAccount informer (kept to names) feed
 * one queue of namespace names: a namespace added or changed, or one of
 * its ServiceAccounts deleted, is synced.  A sync of an Active namespace
 * creates each account of `service_accounts` (default: just "default")
 * that the cache does not hold; a namespace that is not Active (being
 * deleted) is left alone, and a create refused because the namespace is
 * terminating or because the account exists already is not an error.
 * Other failures are retried with the queue's back-off.  The pods'
 * ServiceAccount admission needs the account before a pod of the
 * namespace can be created, so this controller is what makes a new
 * namespace usable. */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>
#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/workqueue.h>

#define SA_NAMESPACES     "v1/namespaces"
#define SA_ACCOUNTS       "v1/serviceaccounts"
#define SA_TIMEOUT_MS     10000
#define SA_IN_FLIGHT      8
#define SA_MAX_ACCOUNTS   16
#define SA_WAIT_SYNCED_MS 100

struct sa_conf {
    const char *service_accounts;
};

static const kr_config_entry_t sa_table[] = {
    {KR_CFG_STRING, "service_accounts", "default", offsetof(struct sa_conf, service_accounts),
     "comma-separated names of the ServiceAccounts every namespace gets"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct sa_ctl sa_ctl_t;

/* One namespace's creates in flight: the queue's key is done when the
 * last reply is in. */
typedef struct sa_sync {
    struct sa_sync *prev, *next;
    sa_ctl_t *c; /* NULL after fini */
    unsigned pending;
    bool failed;
    char ns[];
} sa_sync_t;

struct sa_ctl {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    char *names_buf;
    const char *names[SA_MAX_ACCOUNTS];
    size_t nnames;
    kr_informer_t *nss, *sas;
    kr_workqueue_t *q;
    sa_sync_t *syncs;
};

/* ---- syncs ----------------------------------------------------------------------- */

static void sync_unlink(sa_ctl_t *c, sa_sync_t *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->syncs = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
}

static void sync_finish(sa_sync_t *s)
{
    sa_ctl_t *c = s->c;
    if (c != NULL) {
        if (s->failed)
            kr_workqueue_add_rate_limited(c->q, s->ns, NULL);
        else
            kr_workqueue_forget(c->q, s->ns);
        kr_workqueue_done(c->q, s->ns, NULL);
        sync_unlink(c, s);
    }
    free(s);
}

static void on_create(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    sa_sync_t *s = ud;
    if (s->c != NULL && reply->code != 201 && reply->code != 200 && reply->code != 409 &&
        !kr_reply_namespace_terminating(reply)) {
        kr_plugin_log(s->c->ctx, KR_LOG_WARN, "cannot create the namespace's ServiceAccount",
                      "namespace=%s code=%d error=\"%s\"", s->ns, reply->code, kr_reply_msg(reply));
        s->failed = true;
    }
    if (--s->pending == 0)
        sync_finish(s);
}

static int send_create(sa_ctl_t *c, sa_sync_t *s, const char *name)
{
    kr_arena_t *a = kr_arena_new(512);
    kr_value_t *obj = kr_value_map(a), *meta = kr_value_map(a);
    kr_value_map_set(a, obj, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, obj, "kind", kr_value_str(a, "ServiceAccount"));
    kr_value_map_set(a, meta, "name", kr_value_str(a, name));
    kr_value_map_set(a, meta, "namespace", kr_value_str(a, s->ns));
    kr_value_map_set(a, obj, "metadata", meta);
    kr_request_t req = {.op = "create", .res = SA_ACCOUNTS, .ns = s->ns, .obj = obj};
    kr_error_t err;
    int rc = kr_bus_send(c->bus, &req, on_create, s, SA_TIMEOUT_MS, NULL, &err);
    if (rc < 0)
        kr_plugin_log(c->ctx, KR_LOG_WARN, "cannot send the ServiceAccount create",
                      "namespace=%s name=%s error=\"%s\"", s->ns, name, err.message);
    kr_arena_destroy(&a);
    return rc;
}

/* syncNamespace */
static void sync_namespace(kr_workqueue_t *q, const char *key, void *ud)
{
    sa_ctl_t *c = ud;
    if (!kr_informer_has_synced(c->nss) || !kr_informer_has_synced(c->sas)) {
        /* an account the cache has not listed yet is not missing */
        kr_workqueue_add_after(q, key, SA_WAIT_SYNCED_MS, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    const kr_value_t *ns = kr_informer_get(c->nss, NULL, key);
    const char *phase = kr_value_as_str(kr_value_get(ns, "status.phase"));
    if (ns == NULL || phase == NULL || strcmp(phase, "Active") != 0) {
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    size_t len = strlen(key);
    sa_sync_t *s = calloc(1, sizeof *s + len + 1);
    if (s == NULL)
        abort();
    memcpy(s->ns, key, len + 1);
    s->c = c;
    s->next = c->syncs;
    if (c->syncs != NULL)
        c->syncs->prev = s;
    c->syncs = s;
    s->pending = 1; /* held until every create is sent */
    for (size_t i = 0; i < c->nnames; i++) {
        if (kr_informer_get(c->sas, key, c->names[i]) != NULL)
            continue;
        s->pending++;
        if (send_create(c, s, c->names[i]) < 0) {
            s->pending--;
            s->failed = true;
        }
    }
    if (--s->pending == 0)
        sync_finish(s);
}

/* ---- handlers -------------------------------------------------------------------- */

static void on_namespace(kr_informer_t *inf, const kr_value_t *ns, void *ud)
{
    (void)inf;
    sa_ctl_t *c = ud;
    const char *name = kr_value_as_str(kr_value_get(ns, "metadata.name"));
    if (name != NULL)
        kr_workqueue_add(c->q, name, NULL);
}

static void on_namespace_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *ns,
                                void *ud)
{
    (void)old;
    on_namespace(inf, ns, ud);
}

static void on_account_delete(kr_informer_t *inf, const kr_value_t *sa, void *ud)
{
    (void)inf;
    sa_ctl_t *c = ud;
    const char *ns = kr_value_as_str(kr_value_get(sa, "metadata.namespace"));
    if (ns != NULL)
        kr_workqueue_add(c->q, ns, NULL);
}

/* What the caches keep: names (and a namespace's phase). */
static const kr_value_t *keep_names(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    kr_value_t *out = kr_value_map(a), *meta = kr_value_map(a);
    static const char *const keep[] = {"name", "namespace", "uid", "resourceVersion"};
    const kr_value_t *m = kr_value_map_get(obj, "metadata");
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const kr_value_t *v = kr_value_map_get(m, keep[i]);
        if (v != NULL)
            kr_value_map_set(a, meta, keep[i], kr_value_copy(a, v));
    }
    kr_value_map_set(a, out, "metadata", meta);
    const kr_value_t *phase = kr_value_get(obj, "status.phase");
    if (phase != NULL) {
        kr_value_t *st = kr_value_map(a);
        kr_value_map_set(a, st, "phase", kr_value_copy(a, phase));
        kr_value_map_set(a, out, "status", st);
    }
    return out;
}

/* ---- life cycle ------------------------------------------------------------------ */

static void sa_fini(void *instance)
{
    sa_ctl_t *c = instance;
    if (c->q != NULL)
        kr_workqueue_shutdown(c->q);
    kr_informer_destroy(&c->sas);
    kr_informer_destroy(&c->nss);
    kr_workqueue_destroy(&c->q);
    /* syncs with creates in flight are freed by the last reply (the bus
     * answers every request when it goes) */
    for (sa_sync_t *s = c->syncs; s != NULL; s = s->next)
        s->c = NULL;
    free(c->names_buf);
    free(c);
}

/* Splits `list` (comma-separated, blanks around names ignored). */
static int parse_names(sa_ctl_t *c, const char *list, kr_error_t *err)
{
    c->names_buf = strdup(list);
    if (c->names_buf == NULL)
        abort();
    for (char *save = NULL, *tok = strtok_r(c->names_buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t n = strlen(tok);
        while (n > 0 && tok[n - 1] == ' ')
            tok[--n] = '\0';
        if (n == 0)
            continue;
        if (c->nnames == SA_MAX_ACCOUNTS)
            return kr_error_set(err, KR_E_INVALID,
                                "service_accounts: Too many: must have at most %d items",
                                SA_MAX_ACCOUNTS);
        c->names[c->nnames++] = tok;
    }
    return 0;
}

static void *sa_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct sa_conf *conf = config;
    sa_ctl_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->ctx = ctx;
    c->bus = kr_plugin_bus(ctx);
    c->loop = kr_plugin_loop(ctx);
    if (parse_names(c, conf->service_accounts, err) < 0) {
        sa_fini(c);
        return NULL;
    }
    kr_workqueue_opts_t qo = {
        .name = kr_plugin_name(ctx), .max_in_flight = SA_IN_FLIGHT, .qps = -1};
    kr_informer_opts_t no = {
        .res = SA_NAMESPACES,
        .name = "serviceaccount-namespaces",
        .handlers = {on_namespace, on_namespace_update, NULL, c},
    };
    kr_informer_opts_t ao = {
        .res = SA_ACCOUNTS,
        .name = "serviceaccount-accounts",
        .handlers = {NULL, NULL, on_account_delete, c},
    };
    if ((c->q = kr_workqueue_new(c->loop, &qo, sync_namespace, c, err)) == NULL ||
        (c->nss = kr_informer_new(c->loop, c->bus, &no, err)) == NULL ||
        (c->sas = kr_informer_new(c->loop, c->bus, &ao, err)) == NULL ||
        kr_informer_set_transform(c->nss, keep_names, NULL, err) < 0 ||
        kr_informer_set_transform(c->sas, keep_names, NULL, err) < 0 ||
        kr_informer_start(c->sas, err) < 0 || kr_informer_start(c->nss, err) < 0) {
        sa_fini(c);
        return NULL;
    }
    kr_plugin_log(ctx, KR_LOG_INFO, "serviceaccount controller started", "service_accounts=%s",
                  conf->service_accounts);
    return c;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "controller",
    .name = "serviceaccount",
    .version = "0.1.0",
    .description = "a ServiceAccount \"default\" in every namespace (upstream's "
                   "serviceaccount-controller)",
    .config = sa_table,
    .config_size = sizeof(struct sa_conf),
    .init = sa_init,
    .fini = sa_fini,
};
