/* api-rest: the root CA publisher (see rootca.h). */
#include "rootca.h"

#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>
#include <kraal/informer.h>
#include <kraal/workqueue.h>

#define RC_TIMEOUT_MS     10000
#define RC_IN_FLIGHT      4
#define RC_WAIT_SYNCED_MS 100

struct rest_rootca {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    char *pem;
    kr_informer_t *nss, *cms;
    kr_workqueue_t *q;
    struct rc_sync *syncs; /* writes in flight */
};

/* One namespace's write in flight: its key is done when the reply is in. */
typedef struct rc_sync {
    struct rc_sync *prev, *next;
    rest_rootca_t *r; /* NULL after destroy */
    char ns[];
} rc_sync_t;

static void rc_unlink(rest_rootca_t *r, rc_sync_t *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        r->syncs = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
}

static void on_write(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    rc_sync_t *s = ud;
    rest_rootca_t *r = s->r;
    if (r != NULL) {
        bool ok = reply->code == 200 || reply->code == 201 ||
                  /* the namespace went away or is going: nothing to publish */
                  reply->reason == KR_E_NOT_FOUND || kr_reply_namespace_terminating(reply);
        if (ok) {
            kr_workqueue_forget(r->q, s->ns);
        } else {
            kr_plugin_log(r->ctx, KR_LOG_WARN, "cannot publish the root CA",
                          "namespace=%s code=%d error=\"%s\"", s->ns, reply->code,
                          kr_reply_msg(reply));
            kr_workqueue_add_rate_limited(r->q, s->ns, NULL);
        }
        kr_workqueue_done(r->q, s->ns, NULL);
        rc_unlink(r, s);
    }
    free(s);
}

/* Whether the ConfigMap holds exactly our data and has a description. */
static bool rc_current(const rest_rootca_t *r, const kr_value_t *cm)
{
    const kr_value_t *data = kr_value_map_get(cm, "data");
    const char *pem = kr_value_map_str(data, ROOTCA_KEY);
    const char *desc = kr_value_as_str(
        kr_value_map_get(kr_value_get(cm, "metadata.annotations"), ROOTCA_DESCRIPTION_KEY));
    return kr_value_len(data) == 1 && pem != NULL && strcmp(pem, r->pem) == 0 &&
           kr_value_len(kr_value_map_get(cm, "binaryData")) == 0 && desc != NULL && *desc != '\0';
}

/* syncNamespace */
static void rc_sync(kr_workqueue_t *q, const char *key, void *ud)
{
    rest_rootca_t *r = ud;
    if (!kr_informer_has_synced(r->nss) || !kr_informer_has_synced(r->cms)) {
        kr_workqueue_add_after(q, key, RC_WAIT_SYNCED_MS, NULL);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    const kr_value_t *ns = kr_informer_get(r->nss, NULL, key);
    const char *phase = kr_value_as_str(kr_value_get(ns, "status.phase"));
    const kr_value_t *cm = kr_informer_get(r->cms, key, ROOTCA_NAME);
    if (ns == NULL || (phase != NULL && strcmp(phase, "Active") != 0) ||
        (cm != NULL && rc_current(r, cm))) {
        kr_workqueue_forget(q, key);
        kr_workqueue_done(q, key, NULL);
        return;
    }
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *obj, *data = kr_value_map(a);
    kr_value_map_set(a, data, ROOTCA_KEY, kr_value_str(a, r->pem));
    if (cm == NULL) {
        obj = kr_value_map(a);
        kr_value_t *meta = kr_value_map(a), *ann = kr_value_map(a);
        kr_value_map_set(a, obj, "apiVersion", kr_value_str(a, "v1"));
        kr_value_map_set(a, obj, "kind", kr_value_str(a, "ConfigMap"));
        kr_value_map_set(a, meta, "name", kr_value_str(a, ROOTCA_NAME));
        kr_value_map_set(a, meta, "namespace", kr_value_str(a, key));
        kr_value_map_set(a, ann, ROOTCA_DESCRIPTION_KEY, kr_value_str(a, ROOTCA_DESCRIPTION));
        kr_value_map_set(a, meta, "annotations", ann);
        kr_value_map_set(a, obj, "metadata", meta);
    } else {
        /* the cached object with our data: its resourceVersion makes a
         * concurrent change a conflict, retried */
        obj = kr_value_copy(a, cm);
        kr_value_map_del(obj, "binaryData");
        kr_value_t *meta = kr_value_map_get(obj, "metadata");
        kr_value_t *ann = kr_value_map_get(meta, "annotations");
        if (kr_value_type(ann) != KR_MAP) {
            ann = kr_value_map(a);
            kr_value_map_set(a, meta, "annotations", ann);
        }
        if (kr_value_map_get(ann, ROOTCA_DESCRIPTION_KEY) == NULL)
            kr_value_map_set(a, ann, ROOTCA_DESCRIPTION_KEY, kr_value_str(a, ROOTCA_DESCRIPTION));
    }
    kr_value_map_set(a, obj, "data", data);
    size_t len = strlen(key);
    rc_sync_t *s = calloc(1, sizeof *s + len + 1);
    if (s == NULL)
        abort();
    memcpy(s->ns, key, len + 1);
    s->r = r;
    s->next = r->syncs;
    if (r->syncs != NULL)
        r->syncs->prev = s;
    r->syncs = s;
    kr_request_t req = {.op = cm == NULL ? "create" : "update",
                        .res = "v1/configmaps",
                        .ns = key,
                        .name = cm == NULL ? NULL : ROOTCA_NAME,
                        .obj = obj};
    kr_error_t err;
    if (kr_bus_send(r->bus, &req, on_write, s, RC_TIMEOUT_MS, NULL, &err) < 0) {
        kr_plugin_log(r->ctx, KR_LOG_WARN, "cannot publish the root CA",
                      "namespace=%s error=\"%s\"", key, err.message);
        rc_unlink(r, s);
        free(s);
        kr_workqueue_add_rate_limited(q, key, NULL);
        kr_workqueue_done(q, key, NULL);
    }
    kr_arena_destroy(&a);
}

static void rc_enqueue_ns(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    rest_rootca_t *r = ud;
    const char *name = kr_value_as_str(kr_value_get(obj, "metadata.name"));
    if (name != NULL)
        kr_workqueue_add(r->q, name, NULL);
}

static void rc_ns_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *obj, void *ud)
{
    (void)old;
    rc_enqueue_ns(inf, obj, ud);
}

static void rc_enqueue_cm(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    rest_rootca_t *r = ud;
    const char *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    if (ns != NULL)
        kr_workqueue_add(r->q, ns, NULL);
}

static void rc_cm_update(kr_informer_t *inf, const kr_value_t *old, const kr_value_t *obj, void *ud)
{
    (void)old;
    rc_enqueue_cm(inf, obj, ud);
}

void rest_rootca_destroy(rest_rootca_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    rest_rootca_t *r = *self_p;
    if (r->q != NULL)
        kr_workqueue_shutdown(r->q);
    kr_informer_destroy(&r->cms);
    kr_informer_destroy(&r->nss);
    kr_workqueue_destroy(&r->q);
    /* writes in flight are freed by their reply (the bus answers every
     * request when it goes) */
    for (rc_sync_t *s = r->syncs; s != NULL; s = s->next)
        s->r = NULL;
    free(r->pem);
    free(r);
    *self_p = NULL;
}

rest_rootca_t *rest_rootca_new(kr_plugin_ctx_t *ctx, const char *ca_pem, kr_error_t *err)
{
    rest_rootca_t *r = calloc(1, sizeof *r);
    if (r == NULL || (r->pem = strdup(ca_pem)) == NULL)
        abort();
    r->ctx = ctx;
    r->bus = kr_plugin_bus(ctx);
    kr_loop_t *loop = kr_plugin_loop(ctx);
    kr_workqueue_opts_t qo = {.name = "root-ca-cert-publisher", .max_in_flight = RC_IN_FLIGHT};
    kr_informer_opts_t no = {
        .res = "v1/namespaces",
        .name = "root-ca-namespaces",
        .handlers = {rc_enqueue_ns, rc_ns_update, NULL, r},
    };
    kr_informer_opts_t co = {
        .res = "v1/configmaps",
        .field_selector = "metadata.name=" ROOTCA_NAME,
        .name = "root-ca-configmaps",
        .handlers = {NULL, rc_cm_update, rc_enqueue_cm, r},
    };
    if ((r->q = kr_workqueue_new(loop, &qo, rc_sync, r, err)) == NULL ||
        (r->nss = kr_informer_new(loop, r->bus, &no, err)) == NULL ||
        (r->cms = kr_informer_new(loop, r->bus, &co, err)) == NULL ||
        kr_informer_start(r->cms, err) < 0 || kr_informer_start(r->nss, err) < 0) {
        rest_rootca_destroy(&r);
        return NULL;
    }
    return r;
}
