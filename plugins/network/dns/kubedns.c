/* network-dns: the kube-dns Service and its endpoints (see kubedns.h). */
#include "kubedns.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP_PERIOD_MS 5000 /* a look at the three objects: cheap, catches anything missed */
#define SVC_PORT       53

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

static kr_value_t *desired(const dns_keeper_conf_t *c, kr_arena_t *a, kr_svckeeper_obj_t which)
{
    unsigned p = c->port;
    switch (which) {
    case KR_SVCKEEPER_SERVICE:
        return json(
            a,
            "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"" KUBEDNS_NAME
            "\",\"namespace\":\"" KUBEDNS_NS "\",\"labels\":{\"k8s-app\":\"kube-dns\","
            "\"kubernetes.io/name\":\"network-dns\"}},\"spec\":{\"type\":\"ClusterIP\","
            "\"clusterIP\":\"%s\",\"ports\":[{\"name\":\"dns\",\"protocol\":\"UDP\","
            "\"port\":%d,\"targetPort\":%u},{\"name\":\"dns-tcp\",\"protocol\":\"TCP\","
            "\"port\":%d,\"targetPort\":%u}]}}",
            c->cluster_ip, SVC_PORT, p, SVC_PORT, p);
    case KR_SVCKEEPER_SLICE:
        return json(a,
                    "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
                    "\"metadata\":{\"name\":\"" KUBEDNS_NAME "\",\"namespace\":\"" KUBEDNS_NS
                    "\",\"labels\":{\"kubernetes.io/service-name\":\"" KUBEDNS_NAME "\","
                    "\"endpointslice.kubernetes.io/managed-by\":\"" KUBEDNS_MANAGER "\","
                    "\"k8s-app\":\"kube-dns\"}},\"addressType\":\"%s\",\"endpoints\":[{"
                    "\"addresses\":[\"%s\"],\"conditions\":{\"ready\":true,\"serving\":true,"
                    "\"terminating\":false}}],\"ports\":[{\"name\":\"dns\",\"protocol\":\"UDP\","
                    "\"port\":%u},{\"name\":\"dns-tcp\",\"protocol\":\"TCP\",\"port\":%u}]}",
                    strchr(c->address, ':') != NULL ? "IPv6" : "IPv4", c->address, p, p);
    case KR_SVCKEEPER_ENDPOINTS:
    default:
        return json(
            a,
            "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"" KUBEDNS_NAME
            "\",\"namespace\":\"" KUBEDNS_NS "\",\"labels\":{\"k8s-app\":\"kube-dns\","
            "\"endpointslice.kubernetes.io/skip-mirror\":\"true\"}},\"subsets\":[{"
            "\"addresses\":[{\"ip\":\"%s\"}],\"ports\":[{\"name\":\"dns\",\"port\":%u,"
            "\"protocol\":\"UDP\"},{\"name\":\"dns-tcp\",\"port\":%u,\"protocol\":\"TCP\"}]}]}",
            c->address, p, p);
    }
}

/* ---- the keeper ---------------------------------------------------------------------------- */

void dns_keeper_poke(dns_keeper_t *k)
{
    kr_svckeeper_poke(k);
}

dns_keeper_t *dns_keeper_new(kr_plugin_ctx_t *ctx, kr_informer_t *svcs, kr_informer_t *slices,
                             kr_informer_t *eps, const dns_keeper_conf_t *conf)
{
    kr_arena_t *a = kr_arena_new(0);
    /* an object whose kind is not watched is not kept */
    kr_svckeeper_opts_t o = {
        .ns = KUBEDNS_NS,
        .name = KUBEDNS_NAME,
        .want = {desired(conf, a, KR_SVCKEEPER_SERVICE),
                 eps != NULL ? desired(conf, a, KR_SVCKEEPER_ENDPOINTS) : NULL,
                 slices != NULL ? desired(conf, a, KR_SVCKEEPER_SLICE) : NULL},
        .inf = {svcs, eps, slices},
        .period_ms = KEEP_PERIOD_MS,
    };
    kr_error_t err;
    dns_keeper_t *k = kr_svckeeper_new(ctx, &o, &err);
    if (k == NULL) /* the informers are ours: only out of the ordinary */
        kr_plugin_log(ctx, KR_LOG_ERROR, err.message, "object=" KUBEDNS_NS "/" KUBEDNS_NAME);
    kr_arena_destroy(&a);
    return k;
}

void dns_keeper_destroy(dns_keeper_t **self_p)
{
    kr_svckeeper_destroy(self_p);
}
