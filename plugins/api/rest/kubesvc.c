/* api-rest: the kubernetes Service and its endpoints (see kubesvc.h). */
#include "kubesvc.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS_PERIOD_MS 10000 /* upstream's EndpointInterval */

struct rest_kubesvc {
    kr_svckeeper_t *keeper; /* owned */
};

/* ---- pure parts ------------------------------------------------------------------------------ */

static kr_value_t *ks_json(kr_arena_t *a, const char *text)
{
    kr_value_t *v = NULL;
    if (kr_json_decode(a, text, strlen(text), &v, NULL) < 0)
        abort(); /* our own fixed text around validated addresses: never */
    return v;
}

kr_value_t *rest_kubesvc_desired(kr_arena_t *a, const rest_kubesvc_conf_t *c,
                                 kr_svckeeper_obj_t which)
{
    unsigned p = c->port;
    const char *addr = c->address ? c->address : "";
    switch (which) {
    case KR_SVCKEEPER_SERVICE:
        return ks_json(
            a,
            kr_arena_printf(
                a,
                "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"" KUBESVC_NAME
                "\",\"namespace\":\"" KUBESVC_NS "\",\"labels\":{\"component\":\"apiserver\","
                "\"provider\":\"kubernetes\"}},\"spec\":{\"type\":\"ClusterIP\","
                "\"clusterIP\":\"%s\",\"sessionAffinity\":\"None\",\"ports\":[{\"name\":"
                "\"https\",\"protocol\":\"TCP\",\"port\":443,\"targetPort\":%u}]}}",
                c->cluster_ip, p));
    case KR_SVCKEEPER_ENDPOINTS:
        return ks_json(
            a, kr_arena_printf(
                   a,
                   "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":"
                   "\"" KUBESVC_NAME "\",\"namespace\":\"" KUBESVC_NS "\",\"labels\":{"
                   "\"endpointslice.kubernetes.io/skip-mirror\":\"true\"}},\"subsets\":[{"
                   "\"addresses\":[{\"ip\":\"%s\"}],\"ports\":[{\"name\":\"https\",\"port\":%u,"
                   "\"protocol\":\"TCP\"}]}]}",
                   addr, p));
    case KR_SVCKEEPER_SLICE:
    default:
        return ks_json(a,
                       kr_arena_printf(
                           a,
                           "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
                           "\"metadata\":{\"name\":\"" KUBESVC_NAME "\",\"namespace\":\"" KUBESVC_NS
                           "\",\"labels\":{\"kubernetes.io/service-name\":\"" KUBESVC_NAME "\"}},"
                           "\"addressType\":\"%s\",\"endpoints\":[{\"addresses\":[\"%s\"],"
                           "\"conditions\":{\"ready\":true}}],\"ports\":[{\"name\":\"https\","
                           "\"protocol\":\"TCP\",\"port\":%u}]}",
                           strchr(addr, ':') != NULL ? "IPv6" : "IPv4", addr, p));
    }
}

int rest_first_service_ip(const char *cidr, char *buf, size_t len, kr_error_t *err)
{
    char ip[INET_ADDRSTRLEN];
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    char *end = NULL;
    long prefix = slash ? strtol(slash + 1, &end, 10) : -1;
    struct in_addr in;
    if (slash == NULL || (size_t)(slash - cidr) >= sizeof ip || end == slash + 1 || *end != '\0' ||
        prefix < 0 || prefix > 30)
        return kr_error_set(err, KR_E_INVALID,
                            "service_cluster_ip_range: \"%s\": must be an IPv4 CIDR such as "
                            "10.96.0.0/12",
                            cidr ? cidr : "");
    memcpy(ip, cidr, (size_t)(slash - cidr));
    ip[slash - cidr] = '\0';
    if (inet_pton(AF_INET, ip, &in) != 1)
        return kr_error_set(err, KR_E_INVALID,
                            "service_cluster_ip_range: \"%s\": must be an IPv4 CIDR such as "
                            "10.96.0.0/12",
                            cidr);
    uint32_t mask = prefix == 0 ? 0 : ~0u << (32 - prefix);
    in.s_addr = htonl((ntohl(in.s_addr) & mask) + 1);
    if (inet_ntop(AF_INET, &in, buf, (socklen_t)len) == NULL)
        return kr_error_set(err, KR_E_INVALID, "service_cluster_ip_range: buffer too small");
    return 0;
}

/* An address Endpoints accept (ValidateEndpointIP): not unspecified,
 * loopback or link-local. */
static bool ks_endpoint_ip(const char *s)
{
    unsigned char b[16];
    if (inet_pton(AF_INET, s, b) == 1)
        return (b[0] | b[1] | b[2] | b[3]) != 0 && b[0] != 127 && !(b[0] == 169 && b[1] == 254);
    if (inet_pton(AF_INET6, s, b) == 1) {
        static const unsigned char zero[16], loop[16] = {[15] = 1};
        return memcmp(b, zero, 16) != 0 && memcmp(b, loop, 16) != 0 &&
               !(b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
    }
    return false;
}

int rest_advertise_address(const char *configured, const char *listen, char *buf, size_t len,
                           kr_error_t *err)
{
    if (configured != NULL && *configured != '\0') {
        if (!ks_endpoint_ip(configured))
            return kr_error_set(err, KR_E_INVALID,
                                "advertise_address: \"%s\": must be an IP address that is not "
                                "unspecified, loopback or link-local",
                                configured);
        snprintf(buf, len, "%s", configured);
        return 0;
    }
    /* ResolveBindAddress: the bind address unless it is unspecified or
     * loopback, then the host's */
    if (listen != NULL && ks_endpoint_ip(listen)) {
        snprintf(buf, len, "%s", listen);
        return 0;
    }
    *buf = '\0';
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) < 0)
        return 0;
    for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
        char ip[INET_ADDRSTRLEN];
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
            (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP) ||
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr,
                      ip, sizeof ip) == NULL ||
            !ks_endpoint_ip(ip))
            continue;
        snprintf(buf, len, "%s", ip);
        break;
    }
    freeifaddrs(ifs);
    return 0;
}

/* ---- the keeper -------------------------------------------------------------------------------- */

rest_kubesvc_t *rest_kubesvc_new(kr_plugin_ctx_t *ctx, const rest_kubesvc_conf_t *conf,
                                 kr_error_t *err)
{
    rest_kubesvc_conf_t c = *conf;
    if (c.address != NULL && *c.address == '\0')
        c.address = NULL;
    kr_arena_t *a = kr_arena_new(0);
    /* no address: the Service alone (its Endpoints would be refused) */
    kr_svckeeper_opts_t o = {
        .ns = KUBESVC_NS,
        .name = KUBESVC_NAME,
        .want = {rest_kubesvc_desired(a, &c, KR_SVCKEEPER_SERVICE),
                 c.address != NULL ? rest_kubesvc_desired(a, &c, KR_SVCKEEPER_ENDPOINTS) : NULL,
                 c.address != NULL ? rest_kubesvc_desired(a, &c, KR_SVCKEEPER_SLICE) : NULL},
        .period_ms = KS_PERIOD_MS,
        /* the EndpointsAdapter sets the labels */
        .flags = KR_SVCKEEPER_EXACT_LABELS,
        .msg_created = "kubernetes Service object created",
        .msg_updated = "kubernetes Service object put back",
    };
    kr_svckeeper_t *keeper = kr_svckeeper_new(ctx, &o, err);
    kr_arena_destroy(&a);
    if (keeper == NULL)
        return NULL;
    rest_kubesvc_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        abort();
    k->keeper = keeper;
    if (c.address == NULL)
        kr_plugin_log(ctx, KR_LOG_WARN,
                      "no address to advertise (set advertise_address): the kubernetes Service "
                      "has no endpoints",
                      "clusterIP=%s", c.cluster_ip);
    return k;
}

void rest_kubesvc_destroy(rest_kubesvc_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_svckeeper_destroy(&(*self_p)->keeper);
    free(*self_p);
    *self_p = NULL;
}
