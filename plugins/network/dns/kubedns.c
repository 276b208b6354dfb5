/* network-dns: the kube-dns Service and its endpoints (see kubedns.h). */
#include "kubedns.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP_TIMEOUT_MS 10000
#define KEEP_PERIOD_MS  5000 /* a look at the three objects: cheap, catches anything missed */
#define KEEP_POKE_MS    50   /* after an event, once the informer burst is over */
#define KEEP_START_MS   100  /* until the informers have listed */
#define SVC_PORT        53

typedef enum { OBJ_SVC, OBJ_SLICE, OBJ_EPS, OBJ_N } obj_t;

static const char *const obj_res[OBJ_N] = {"v1/services", "discovery.k8s.io/v1/endpointslices",
                                           "v1/endpoints"};
static const char *const obj_kind[OBJ_N] = {"Service", "EndpointSlice", "Endpoints"};

struct dns_keeper {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    kr_loop_t *loop;
    kr_informer_t *inf[OBJ_N];
    char *cluster_ip, *address;
    uint16_t port;
    bool v6;
    bool busy[OBJ_N];
    char *last_err[OBJ_N]; /* logged once until it changes */
    bool warned_ip;
    unsigned inflight;
    bool orphaned; /* destroyed with writes in flight: the last reply frees it */
    uint64_t poke_timer, period_timer;
};

typedef struct keep_req {
    dns_keeper_t *k;
    obj_t which;
    bool create;
} keep_req_t;

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

bool dns_keeper_is_ours(const kr_value_t *obj)
{
    const char *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    const char *name = kr_value_as_str(kr_value_get(obj, "metadata.name"));
    return ns != NULL && name != NULL && strcmp(ns, KUBEDNS_NS) == 0 &&
           strcmp(name, KUBEDNS_NAME) == 0;
}

/* ---- what the objects should be -------------------------------------------------------- */

static kr_value_t *json(kr_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static kr_value_t *json(kr_arena_t *a, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    kr_value_t *v = NULL;
    if (n < 0 || (size_t)n >= sizeof buf || kr_json_decode(a, buf, (size_t)n, &v, NULL) < 0)
        abort(); /* our own fixed text around validated config: never */
    return v;
}

static kr_value_t *desired(const dns_keeper_t *k, kr_arena_t *a, obj_t which)
{
    unsigned p = k->port;
    switch (which) {
    case OBJ_SVC:
        return json(
            a,
            "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"" KUBEDNS_NAME
            "\",\"namespace\":\"" KUBEDNS_NS "\",\"labels\":{\"k8s-app\":\"kube-dns\","
            "\"kubernetes.io/name\":\"network-dns\"}},\"spec\":{\"type\":\"ClusterIP\","
            "\"clusterIP\":\"%s\",\"ports\":[{\"name\":\"dns\",\"protocol\":\"UDP\","
            "\"port\":%d,\"targetPort\":%u},{\"name\":\"dns-tcp\",\"protocol\":\"TCP\","
            "\"port\":%d,\"targetPort\":%u}]}}",
            k->cluster_ip, SVC_PORT, p, SVC_PORT, p);
    case OBJ_SLICE:
        return json(a,
                    "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
                    "\"metadata\":{\"name\":\"" KUBEDNS_NAME "\",\"namespace\":\"" KUBEDNS_NS
                    "\",\"labels\":{\"kubernetes.io/service-name\":\"" KUBEDNS_NAME "\","
                    "\"endpointslice.kubernetes.io/managed-by\":\"" KUBEDNS_MANAGER "\","
                    "\"k8s-app\":\"kube-dns\"}},\"addressType\":\"%s\",\"endpoints\":[{"
                    "\"addresses\":[\"%s\"],\"conditions\":{\"ready\":true,\"serving\":true,"
                    "\"terminating\":false}}],\"ports\":[{\"name\":\"dns\",\"protocol\":\"UDP\","
                    "\"port\":%u},{\"name\":\"dns-tcp\",\"protocol\":\"TCP\",\"port\":%u}]}",
                    k->v6 ? "IPv6" : "IPv4", k->address, p, p);
    case OBJ_EPS:
    default:
        return json(
            a,
            "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"" KUBEDNS_NAME
            "\",\"namespace\":\"" KUBEDNS_NS "\",\"labels\":{\"k8s-app\":\"kube-dns\","
            "\"endpointslice.kubernetes.io/skip-mirror\":\"true\"}},\"subsets\":[{"
            "\"addresses\":[{\"ip\":\"%s\"}],\"ports\":[{\"name\":\"dns\",\"port\":%u,"
            "\"protocol\":\"UDP\"},{\"name\":\"dns-tcp\",\"port\":%u,\"protocol\":\"TCP\"}]}]}",
            k->address, p, p);
    }
}

/* The fields of each item of arrays a and b named in `fields` are equal. */
static bool same_items(const kr_value_t *a, const kr_value_t *b, const char *const *fields)
{
    if (kr_value_len(a) != kr_value_len(b))
        return false;
    for (size_t i = 0; i < kr_value_len(a); i++)
        for (const char *const *f = fields; *f != NULL; f++)
            if (!kr_value_equal(kr_value_map_get(kr_value_array_get(a, i), *f),
                                kr_value_map_get(kr_value_array_get(b, i), *f)))
                return false;
    return true;
}

/* Every label of `want` is on `cur`. */
static bool has_labels(const kr_value_t *cur, const kr_value_t *want)
{
    const kr_value_t *wl = kr_value_get(want, "metadata.labels");
    const kr_value_t *cl = kr_value_get(cur, "metadata.labels");
    for (size_t i = 0; i < kr_value_len(wl); i++) {
        const char *v = kr_value_map_str(cl, kr_value_map_key(wl, i));
        if (v == NULL || strcmp(v, kr_value_as_str(kr_value_map_val(wl, i))) != 0)
            return false;
    }
    return true;
}

static bool up_to_date(const kr_value_t *cur, const kr_value_t *want, obj_t which)
{
    static const char *const svc_ports[] = {"name", "protocol", "port", "targetPort", NULL};
    static const char *const ep_ports[] = {"name", "protocol", "port", NULL};
    static const char *const ep_fields[] = {"addresses", NULL};
    if (!has_labels(cur, want))
        return false;
    switch (which) {
    case OBJ_SVC:
        return kr_value_len(kr_value_get(cur, "spec.selector")) == 0 &&
               same_items(kr_value_get(cur, "spec.ports"), kr_value_get(want, "spec.ports"),
                          svc_ports);
    case OBJ_SLICE: {
        const kr_value_t *ep = kr_value_get(cur, "endpoints[0]");
        return kr_value_equal(kr_value_map_get(cur, "addressType"),
                              kr_value_map_get(want, "addressType")) &&
               same_items(kr_value_map_get(cur, "endpoints"), kr_value_map_get(want, "endpoints"),
                          ep_fields) &&
               kr_value_as_bool(kr_value_get(ep, "conditions.ready"), false) &&
               same_items(kr_value_map_get(cur, "ports"), kr_value_map_get(want, "ports"),
                          ep_ports);
    }
    case OBJ_EPS:
    default: {
        static const char *const sub_fields[] = {"addresses", "notReadyAddresses", NULL};
        const kr_value_t *cs = kr_value_map_get(cur, "subsets");
        const kr_value_t *ws = kr_value_map_get(want, "subsets");
        return same_items(cs, ws, sub_fields) &&
               same_items(kr_value_get(cur, "subsets[0].ports"),
                          kr_value_get(want, "subsets[0].ports"), ep_ports);
    }
    }
}

/* ---- writes ---------------------------------------------------------------------------------- */

static void keeper_free(dns_keeper_t *k)
{
    for (int i = 0; i < OBJ_N; i++)
        free(k->last_err[i]);
    free(k->cluster_ip);
    free(k->address);
    free(k);
}

static void on_written(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    keep_req_t *req = ud;
    dns_keeper_t *k = req->k;
    obj_t which = req->which;
    bool create = req->create;
    free(req);
    k->inflight--;
    if (k->orphaned) {
        if (k->inflight == 0)
            keeper_free(k);
        return;
    }
    k->busy[which] = false;
    bool ok = r->code >= 200 && r->code < 300;
    if (ok) {
        kr_plugin_log(k->ctx, KR_LOG_INFO, create ? "created" : "updated",
                      "kind=%s object=" KUBEDNS_NS "/" KUBEDNS_NAME, obj_kind[which]);
        free(k->last_err[which]);
        k->last_err[which] = NULL;
        return;
    }
    /* 409: our cache was behind; the informer's next event pokes us */
    const char *msg = r->message ? r->message : kr_strerror(r->reason);
    if (r->code != 409 && (k->last_err[which] == NULL || strcmp(k->last_err[which], msg) != 0)) {
        kr_plugin_log(k->ctx, KR_LOG_WARN, msg,
                      "kind=%s object=" KUBEDNS_NS "/" KUBEDNS_NAME " action=%s code=%d",
                      obj_kind[which], create ? "create" : "update", r->code);
        free(k->last_err[which]);
        k->last_err[which] = xstrdup(msg);
    }
}

static void write_obj(dns_keeper_t *k, obj_t which, const kr_value_t *cur)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *want = desired(k, a, which);
    if (cur != NULL && up_to_date(cur, want, which)) {
        if (which == OBJ_SVC && !k->warned_ip) {
            const char *ip = kr_value_as_str(kr_value_get(cur, "spec.clusterIP"));
            if (ip == NULL || strcmp(ip, k->cluster_ip) != 0) {
                kr_plugin_log(k->ctx, KR_LOG_WARN,
                              "the Service has another clusterIP (immutable): left as it is",
                              "clusterIP=%s wanted=%s", ip ? ip : "", k->cluster_ip);
                k->warned_ip = true;
            }
        }
        kr_arena_destroy(&a);
        return;
    }
    kr_value_t *body = want;
    if (cur != NULL) {
        if (which == OBJ_SVC) {
            /* keep what the API allocated (clusterIP, clusterIPs, ...) */
            body = kr_value_copy(a, cur);
            kr_value_set(a, body, "spec.ports", kr_value_get(want, "spec.ports"), NULL);
            kr_value_map_del(kr_value_get(body, "spec"), "selector");
            const kr_value_t *wl = kr_value_get(want, "metadata.labels");
            for (size_t i = 0; i < kr_value_len(wl); i++)
                kr_value_set(a, body,
                             kr_arena_printf(a, "metadata.labels[\"%s\"]", kr_value_map_key(wl, i)),
                             kr_value_map_val(wl, i), NULL);
        }
        kr_value_set(a, body, "metadata.resourceVersion",
                     kr_value_copy(a, kr_value_get(cur, "metadata.resourceVersion")), NULL);
    }
    kr_request_t rq = {.op = cur != NULL ? "update" : "create",
                       .res = obj_res[which],
                       .ns = KUBEDNS_NS,
                       .name = cur != NULL ? KUBEDNS_NAME : NULL,
                       .obj = body};
    keep_req_t *req = calloc(1, sizeof *req);
    if (req == NULL)
        abort();
    req->k = k;
    req->which = which;
    req->create = cur == NULL;
    kr_error_t err;
    if (kr_bus_send(k->bus, &rq, on_written, req, KEEP_TIMEOUT_MS, NULL, &err) < 0) {
        kr_plugin_log(k->ctx, KR_LOG_WARN, err.message, "kind=%s", obj_kind[which]);
        free(req);
    } else {
        k->busy[which] = true;
        k->inflight++;
    }
    kr_arena_destroy(&a);
}

/* Looks at each object whose informer has listed once; true when the
 * Service's and the Endpoints' have (the slices' may never, on a cluster
 * without the kind: the periodic look covers them). */
static bool ensure(dns_keeper_t *k)
{
    for (int i = 0; i < OBJ_N; i++) {
        kr_informer_t *inf = k->inf[i];
        if (inf == NULL || k->busy[i] || !kr_informer_has_synced(inf))
            continue;
        write_obj(k, (obj_t)i, kr_informer_get(inf, KUBEDNS_NS, KUBEDNS_NAME));
    }
    return (k->inf[OBJ_SVC] == NULL || kr_informer_has_synced(k->inf[OBJ_SVC])) &&
           (k->inf[OBJ_EPS] == NULL || kr_informer_has_synced(k->inf[OBJ_EPS]));
}

static void on_poke(kr_loop_t *loop, uint64_t timer_id, void *ud)
{
    (void)loop;
    dns_keeper_t *k = ud;
    bool poke = timer_id == k->poke_timer;
    if (poke)
        k->poke_timer = 0;
    /* at the start, as soon as the informers have listed */
    if (!ensure(k) && poke)
        k->poke_timer = kr_loop_add_timer(k->loop, KEEP_START_MS, 0, on_poke, k);
}

void dns_keeper_poke(dns_keeper_t *k)
{
    if (k != NULL && k->poke_timer == 0)
        k->poke_timer = kr_loop_add_timer(k->loop, KEEP_POKE_MS, 0, on_poke, k);
}

dns_keeper_t *dns_keeper_new(kr_plugin_ctx_t *ctx, kr_informer_t *svcs, kr_informer_t *slices,
                             kr_informer_t *eps, const dns_keeper_conf_t *conf)
{
    dns_keeper_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        abort();
    k->ctx = ctx;
    k->bus = kr_plugin_bus(ctx);
    k->loop = kr_plugin_loop(ctx);
    k->inf[OBJ_SVC] = svcs;
    k->inf[OBJ_SLICE] = slices;
    k->inf[OBJ_EPS] = eps;
    k->cluster_ip = xstrdup(conf->cluster_ip);
    k->address = xstrdup(conf->address);
    k->v6 = strchr(conf->address, ':') != NULL;
    k->port = conf->port;
    k->period_timer = kr_loop_add_timer(k->loop, KEEP_PERIOD_MS, KEEP_PERIOD_MS, on_poke, k);
    dns_keeper_poke(k);
    return k;
}

void dns_keeper_destroy(dns_keeper_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    dns_keeper_t *k = *self_p;
    *self_p = NULL;
    if (k->poke_timer != 0)
        kr_loop_cancel_timer(k->loop, k->poke_timer);
    kr_loop_cancel_timer(k->loop, k->period_timer);
    if (k->inflight > 0) {
        k->orphaned = true;
        return;
    }
    keeper_free(k);
}
