/* A test controller built on the SDK's informer and workqueue: every
 * ConfigMap that matches `selector` (by default labelled
 * kraal.io/test-controller=mirror) gets a copy of its data and binaryData
 * named <name>-mirror in the same namespace, labelled
 * kraal.io/mirror-of=<name>, kept up to date, and deleted with its source.
 *
 * The usual controller shape (docs/sdk.md): two informers (sources, and
 * mirrors by their label) feed one queue of source keys; the sync of a key
 * compares the two caches and writes at most one object through the bus
 * API; a failed write (409 Conflict on a stale resourceVersion, 409
 * AlreadyExists when the mirror cache lags, anything else) is retried
 * through the queue's rate limiting.  "test.mirror.stats" answers counters
 * so that tests can see the controller work. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/workqueue.h>

#define CONFIGMAPS    "v1/configmaps"
#define MIRROR_OF     "kraal.io/mirror-of"
#define MIRROR_SUFFIX "-mirror"
#define WRITE_TIMEOUT 10000

struct mirror_conf {
    const char *selector;
    const char *ns;
    int64_t resync_ms;
    int64_t workers;
    int64_t backoff_ms;
};

static const kr_config_entry_t mirror_table[] = {
    {KR_CFG_STRING, "selector", "kraal.io/test-controller=mirror",
     offsetof(struct mirror_conf, selector), "label selector of the source ConfigMaps"},
    {KR_CFG_STRING, "namespace", NULL, offsetof(struct mirror_conf, ns),
     "the one namespace to mirror in; all when absent"},
    {KR_CFG_DURATION, "resync", "30s", offsetof(struct mirror_conf, resync_ms),
     "how often every source is checked again"},
    {KR_CFG_INT, "workers", "2", offsetof(struct mirror_conf, workers), "keys synced at once"},
    {KR_CFG_DURATION, "retry_base", "5ms", offsetof(struct mirror_conf, backoff_ms),
     "first retry delay of a failed key (doubles up to 1000 s)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct mirror mirror_t;

/* A write in flight.  The bus cannot cancel a request, so fini orphans
 * the ticket (m = NULL) and the reply, or the 503 the bus sends when it
 * closes, frees it. */
typedef struct mirror_write {
    mirror_t *m;
    struct mirror_write *prev, *next;
    char key[];
} mirror_write_t;

struct mirror {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_informer_t *sources, *mirrors;
    kr_workqueue_t *queue;
    mirror_write_t *writes;
    kr_arena_t *scratch;
    uint64_t syncs, creates, updates, deletes, conflicts, failures;
};

/* ---- keys ---------------------------------------------------------------- */

static void enqueue_source(mirror_t *m, const kr_value_t *src)
{
    char key[600];
    if (kr_informer_key(src, key, sizeof key) > 0)
        kr_workqueue_add(m->queue, key, NULL);
}

/* A mirror names its source by label; the key is the source's. */
static void enqueue_owner(mirror_t *m, const kr_value_t *mir)
{
    const char *owner = kr_value_as_str(kr_value_get(mir, "metadata.labels[\"" MIRROR_OF "\"]"));
    const char *ns = kr_value_as_str(kr_value_get(mir, "metadata.namespace"));
    char key[600];
    if (owner == NULL || ns == NULL)
        return;
    int n = snprintf(key, sizeof key, "%s/%s", ns, owner);
    if (n > 0 && (size_t)n < sizeof key)
        kr_workqueue_add(m->queue, key, NULL);
}

static void src_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    enqueue_source(ud, obj);
}

static void src_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                       void *ud)
{
    (void)inf;
    (void)old_obj;
    enqueue_source(ud, new_obj);
}

static void mir_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    enqueue_owner(ud, obj);
}

static void mir_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                       void *ud)
{
    (void)inf;
    (void)old_obj;
    enqueue_owner(ud, new_obj);
}

/* ---- writes -------------------------------------------------------------- */

static void write_unlink(mirror_t *m, mirror_write_t *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        m->writes = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
}

static void on_written(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    mirror_write_t *w = ud;
    mirror_t *m = w->m;
    if (m == NULL) {
        free(w);
        return;
    }
    write_unlink(m, w);
    if ((r->code >= 200 && r->code < 300) || r->code == 404) {
        kr_workqueue_forget(m->queue, w->key);
    } else {
        if (r->code == 409)
            m->conflicts++;
        else
            m->failures++;
        kr_plugin_log(m->ctx, KR_LOG_INFO, r->message ? r->message : kr_strerror(r->reason),
                      "key=\"%s\" code=%d requeues=%u", w->key, r->code,
                      kr_workqueue_num_requeues(m->queue, w->key));
        kr_workqueue_add_rate_limited(m->queue, w->key, NULL);
    }
    kr_workqueue_done(m->queue, w->key, NULL);
    free(w);
}

/* Sends a write for `key`; the key stays in flight until its reply. */
static void write_send(mirror_t *m, const char *key, const kr_request_t *req)
{
    size_t len = strlen(key);
    mirror_write_t *w = calloc(1, sizeof *w + len + 1);
    if (w == NULL)
        abort();
    memcpy(w->key, key, len + 1);
    w->m = m;
    kr_error_t err;
    if (kr_bus_send(m->bus, req, on_written, w, WRITE_TIMEOUT, NULL, &err) < 0) {
        kr_plugin_log(m->ctx, KR_LOG_WARN, err.message, "key=\"%s\"", key);
        m->failures++;
        free(w);
        kr_workqueue_add_rate_limited(m->queue, key, NULL);
        kr_workqueue_done(m->queue, key, NULL);
        return;
    }
    w->next = m->writes;
    if (m->writes != NULL)
        m->writes->prev = w;
    m->writes = w;
}

/* The mirror the source should have: its data and binaryData, our label,
 * and when `current` is given, the current object's metadata (for its
 * resourceVersion: a concurrent change makes the update a 409). */
static kr_value_t *desired(kr_arena_t *a, const kr_value_t *src, const kr_value_t *current,
                           const char *ns, const char *name)
{
    kr_value_t *obj = current != NULL ? kr_value_copy(a, current) : kr_value_map(a);
    if (current == NULL) {
        kr_value_map_set(a, obj, "apiVersion", kr_value_str(a, "v1"));
        kr_value_map_set(a, obj, "kind", kr_value_str(a, "ConfigMap"));
        kr_value_set(a, obj, "metadata.name",
                     kr_value_str(a, kr_arena_printf(a, "%s" MIRROR_SUFFIX, name)), NULL);
        kr_value_set(a, obj, "metadata.namespace", kr_value_str(a, ns), NULL);
    }
    kr_value_set(a, obj, "metadata.labels[\"" MIRROR_OF "\"]", kr_value_str(a, name), NULL);
    static const char *const fields[] = {"data", "binaryData"};
    for (size_t i = 0; i < 2; i++) {
        const kr_value_t *v = kr_value_map_get(src, fields[i]);
        if (v != NULL)
            kr_value_map_set(a, obj, fields[i], kr_value_copy(a, v));
        else
            kr_value_map_del(obj, fields[i]);
    }
    return obj;
}

static bool up_to_date(const kr_value_t *src, const kr_value_t *mir, const char *name)
{
    const char *owner = kr_value_as_str(kr_value_get(mir, "metadata.labels[\"" MIRROR_OF "\"]"));
    return owner != NULL && strcmp(owner, name) == 0 &&
           kr_value_equal(kr_value_map_get(src, "data"), kr_value_map_get(mir, "data")) &&
           kr_value_equal(kr_value_map_get(src, "binaryData"), kr_value_map_get(mir, "binaryData"));
}

/* One key: compare the caches, write at most one object. */
static void sync_key(kr_workqueue_t *q, const char *key, void *ud)
{
    mirror_t *m = ud;
    m->syncs++;
    char ns[256], name[300];
    const char *slash = strchr(key, '/');
    if (slash == NULL || (size_t)(slash - key) >= sizeof ns || strlen(slash + 1) >= sizeof name) {
        kr_workqueue_done(q, key, NULL);
        return;
    }
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - key), key);
    snprintf(name, sizeof name, "%s", slash + 1);
    char mname[320];
    snprintf(mname, sizeof mname, "%s" MIRROR_SUFFIX, name);

    const kr_value_t *src = kr_informer_get_key(m->sources, key);
    const kr_value_t *mir = kr_informer_get(m->mirrors, ns, mname);
    kr_arena_reset(m->scratch);
    kr_request_t req = {.res = CONFIGMAPS, .ns = ns};
    if (src == NULL) {
        if (mir == NULL) {
            kr_workqueue_forget(q, key);
            kr_workqueue_done(q, key, NULL);
            return;
        }
        req.op = "delete";
        req.name = mname;
        m->deletes++;
    } else if (mir == NULL) {
        req.op = "create";
        req.obj = desired(m->scratch, src, NULL, ns, name);
        m->creates++;
    } else if (!up_to_date(src, mir, name)) {
        req.op = "update";
        req.name = mname;
        req.obj = desired(m->scratch, src, mir, ns, name);
        m->updates++;
    } else {
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    write_send(m, key, &req);
}

/* ---- stats op ------------------------------------------------------------ */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    mirror_t *m = ud;
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(
        a, obj, "synced",
        kr_value_bool(a, kr_informer_has_synced(m->sources) && kr_informer_has_synced(m->mirrors)));
    kr_value_map_set(a, obj, "sources", kr_value_int(a, (int64_t)kr_informer_len(m->sources)));
    kr_value_map_set(a, obj, "mirrors", kr_value_int(a, (int64_t)kr_informer_len(m->mirrors)));
    const struct {
        const char *k;
        uint64_t v;
    } c[] = {{"syncs", m->syncs},     {"creates", m->creates},     {"updates", m->updates},
             {"deletes", m->deletes}, {"conflicts", m->conflicts}, {"failures", m->failures}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        kr_value_map_set(a, obj, c[i].k, kr_value_int(a, (int64_t)c[i].v));
    kr_call_reply(call, 200, obj, NULL);
}

/* ---- life cycle ---------------------------------------------------------- */

static void mirror_fini(void *instance)
{
    mirror_t *m = instance;
    if (m->queue != NULL)
        kr_workqueue_shutdown(m->queue);
    kr_informer_destroy(&m->sources);
    kr_informer_destroy(&m->mirrors);
    for (mirror_write_t *w = m->writes; w != NULL; w = w->next)
        w->m = NULL;
    kr_workqueue_destroy(&m->queue);
    kr_arena_destroy(&m->scratch);
    free(m);
}

static void *mirror_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct mirror_conf *conf = config;
    if (conf->workers < 1 || conf->workers > 64) {
        kr_error_set(err, KR_E_INVALID, "workers: must be between 1 and 64");
        return NULL;
    }
    mirror_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        abort();
    m->ctx = ctx;
    m->bus = kr_plugin_bus(ctx);
    m->scratch = kr_arena_new(0);
    kr_loop_t *loop = kr_plugin_loop(ctx);
    kr_workqueue_opts_t qo = {.name = kr_plugin_name(ctx),
                              .max_in_flight = (unsigned)conf->workers,
                              .base_delay_ms = (uint64_t)conf->backoff_ms};
    m->queue = kr_workqueue_new(loop, &qo, sync_key, m, err);
    kr_informer_opts_t so = {
        .res = CONFIGMAPS,
        .ns = conf->ns,
        .label_selector = conf->selector,
        .resync_ms = (uint64_t)conf->resync_ms,
        .name = "mirror-sources",
        .handlers = {src_add, src_update, src_add, m},
    };
    kr_informer_opts_t mo = {
        .res = CONFIGMAPS,
        .ns = conf->ns,
        .label_selector = MIRROR_OF,
        .name = "mirror-copies",
        .handlers = {mir_add, mir_update, mir_add, m},
    };
    if (m->queue == NULL || (m->sources = kr_informer_new(loop, m->bus, &so, err)) == NULL ||
        (m->mirrors = kr_informer_new(loop, m->bus, &mo, err)) == NULL ||
        kr_informer_start(m->sources, err) < 0 || kr_informer_start(m->mirrors, err) < 0 ||
        kr_bus_serve(m->bus, "test.mirror.stats", NULL, on_stats, m, 5000, err) < 0) {
        mirror_fini(m);
        return NULL;
    }
    return m;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "test",
    .name = "mirror",
    .version = "0.1.0",
    .description = "test controller: mirrors labelled ConfigMaps to <name>-mirror",
    .config = mirror_table,
    .config_size = sizeof(struct mirror_conf),
    .init = mirror_init,
    .fini = mirror_fini,
};
