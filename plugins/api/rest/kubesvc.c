/* api-rest: the kubernetes Service and its endpoints (see kubesvc.h). */
#include "kubesvc.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/informer.h>

#define KS_TIMEOUT_MS 10000
#define KS_PERIOD_MS  10000 /* upstream's EndpointInterval */
#define KS_POKE_MS    50    /* after an event, once the informer's burst is over */
#define KS_START_MS   100   /* until the informers have listed */

static const char *const ks_res[KUBESVC_N] = {"v1/services", "v1/endpoints",
                                              "discovery.k8s.io/v1/endpointslices"};
static const char *const ks_kind[KUBESVC_N] = {"Service", "Endpoints", "EndpointSlice"};

struct rest_kubesvc {
    kr_plugin_ctx_t *ctx;
    kr_loop_t *loop;
    kr_bus_t *bus;
    rest_kubesvc_conf_t conf; /* strings owned */
    kr_informer_t *inf[KUBESVC_N];
    bool busy[KUBESVC_N];
    char *last_err[KUBESVC_N]; /* logged once until it changes */
    bool warned_ip;
    unsigned inflight;
    bool orphaned; /* destroyed with writes in flight: the last reply frees it */
    uint64_t poke_timer, period_timer;
};

typedef struct ks_req {
    rest_kubesvc_t *k;
    kubesvc_obj_t which;
    bool create;
} ks_req_t;

/* ---- pure parts ------------------------------------------------------------------------------ */

static kr_value_t *ks_json(kr_arena_t *a, const char *text)
{
    kr_value_t *v = NULL;
    if (kr_json_decode(a, text, strlen(text), &v, NULL) < 0)
        abort(); /* our own fixed text around validated addresses: never */
    return v;
}

kr_value_t *rest_kubesvc_desired(kr_arena_t *a, const rest_kubesvc_conf_t *c, kubesvc_obj_t which)
{
    unsigned p = c->port;
    const char *addr = c->address ? c->address : "";
    switch (which) {
    case KUBESVC_SVC:
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
    case KUBESVC_EPS:
        return ks_json(
            a, kr_arena_printf(
                   a,
                   "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":"
                   "\"" KUBESVC_NAME "\",\"namespace\":\"" KUBESVC_NS "\",\"labels\":{"
                   "\"endpointslice.kubernetes.io/skip-mirror\":\"true\"}},\"subsets\":[{"
                   "\"addresses\":[{\"ip\":\"%s\"}],\"ports\":[{\"name\":\"https\",\"port\":%u,"
                   "\"protocol\":\"TCP\"}]}]}",
                   addr, p));
    case KUBESVC_SLICE:
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

/* The fields named of each item of arrays a and b are equal. */
static bool ks_same_items(const kr_value_t *a, const kr_value_t *b, const char *const *fields)
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

/* Every label of `want` is on `cur` (exact: and no other). */
static bool ks_labels(const kr_value_t *cur, const kr_value_t *want, bool exact)
{
    const kr_value_t *wl = kr_value_get(want, "metadata.labels");
    const kr_value_t *cl = kr_value_get(cur, "metadata.labels");
    if (exact && kr_value_len(cl) != kr_value_len(wl))
        return false;
    for (size_t i = 0; i < kr_value_len(wl); i++) {
        const char *v = kr_value_map_str(cl, kr_value_map_key(wl, i));
        if (v == NULL || strcmp(v, kr_value_as_str(kr_value_map_val(wl, i))) != 0)
            return false;
    }
    return true;
}

bool rest_kubesvc_up_to_date(const kr_value_t *cur, const kr_value_t *want, kubesvc_obj_t which)
{
    static const char *const svc_ports[] = {"name", "protocol", "port", "targetPort", NULL};
    static const char *const ep_ports[] = {"name", "protocol", "port", NULL};
    switch (which) {
    case KUBESVC_SVC:
        /* getMasterServiceUpdateIfNeeded: ports and type; labels and the
         * selector too, so that nothing else claims the Service */
        return ks_labels(cur, want, false) &&
               kr_value_len(kr_value_get(cur, "spec.selector")) == 0 &&
               kr_value_equal(kr_value_get(cur, "spec.type"), kr_value_get(want, "spec.type")) &&
               ks_same_items(kr_value_get(cur, "spec.ports"), kr_value_get(want, "spec.ports"),
                             svc_ports);
    case KUBESVC_EPS: {
        static const char *const sub_fields[] = {"notReadyAddresses", NULL};
        static const char *const addr_fields[] = {"ip", NULL};
        const kr_value_t *cs = kr_value_map_get(cur, "subsets");
        return ks_labels(cur, want, true) &&
               ks_same_items(cs, kr_value_map_get(want, "subsets"), sub_fields) &&
               ks_same_items(kr_value_get(cur, "subsets[0].addresses"),
                             kr_value_get(want, "subsets[0].addresses"), addr_fields) &&
               ks_same_items(kr_value_get(cur, "subsets[0].ports"),
                             kr_value_get(want, "subsets[0].ports"), ep_ports);
    }
    case KUBESVC_SLICE:
    default: {
        static const char *const ep_fields[] = {"addresses", NULL};
        return ks_labels(cur, want, true) &&
               kr_value_equal(kr_value_map_get(cur, "addressType"),
                              kr_value_map_get(want, "addressType")) &&
               ks_same_items(kr_value_map_get(cur, "endpoints"),
                             kr_value_map_get(want, "endpoints"), ep_fields) &&
               kr_value_as_bool(kr_value_get(cur, "endpoints[0].conditions.ready"), true) &&
               ks_same_items(kr_value_map_get(cur, "ports"), kr_value_map_get(want, "ports"),
                             ep_ports);
    }
    }
}

kr_value_t *rest_kubesvc_repair(kr_arena_t *a, const kr_value_t *cur, const kr_value_t *want,
                                kubesvc_obj_t which)
{
    kr_value_t *body = kr_value_copy(a, cur);
    const kr_value_t *wl = kr_value_get(want, "metadata.labels");
    if (which == KUBESVC_SVC) {
        /* keep what the API allocated (clusterIP, clusterIPs, ...) and
         * other labels */
        kr_value_set(a, body, "spec.ports", kr_value_copy(a, kr_value_get(want, "spec.ports")),
                     NULL);
        kr_value_set(a, body, "spec.type", kr_value_copy(a, kr_value_get(want, "spec.type")), NULL);
        kr_value_map_del(kr_value_get(body, "spec"), "selector");
        for (size_t i = 0; i < kr_value_len(wl); i++)
            kr_value_set(a, body,
                         kr_arena_printf(a, "metadata.labels[\"%s\"]", kr_value_map_key(wl, i)),
                         kr_value_copy(a, kr_value_map_val(wl, i)), NULL);
        return body;
    }
    /* "Ensure correct labels" and the rest as wanted */
    kr_value_set(a, body, "metadata.labels", kr_value_copy(a, wl), NULL);
    static const char *const eps_keys[] = {"subsets", NULL};
    static const char *const slice_keys[] = {"addressType", "endpoints", "ports", NULL};
    for (const char *const *k = which == KUBESVC_EPS ? eps_keys : slice_keys; *k != NULL; k++)
        kr_value_map_set(a, body, *k, kr_value_copy(a, kr_value_map_get(want, *k)));
    return body;
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

static void ks_free(rest_kubesvc_t *k)
{
    for (int i = 0; i < KUBESVC_N; i++)
        free(k->last_err[i]);
    free((char *)k->conf.cluster_ip);
    free((char *)k->conf.address);
    free(k);
}

static void ks_written(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ks_req_t *req = ud;
    rest_kubesvc_t *k = req->k;
    kubesvc_obj_t which = req->which;
    bool create = req->create;
    free(req);
    k->inflight--;
    if (k->orphaned) {
        if (k->inflight == 0)
            ks_free(k);
        return;
    }
    k->busy[which] = false;
    if (r->code >= 200 && r->code < 300) {
        kr_plugin_log(k->ctx, KR_LOG_INFO,
                      create ? "kubernetes Service object created"
                             : "kubernetes Service object put back",
                      "kind=%s object=" KUBESVC_NS "/" KUBESVC_NAME, ks_kind[which]);
        free(k->last_err[which]);
        k->last_err[which] = NULL;
        return;
    }
    /* 409: our cache was behind; the informer's next event pokes us */
    const char *msg = r->message ? r->message : kr_strerror(r->reason);
    if (r->code != 409 && (k->last_err[which] == NULL || strcmp(k->last_err[which], msg) != 0)) {
        kr_plugin_log(k->ctx, KR_LOG_WARN, msg,
                      "kind=%s object=" KUBESVC_NS "/" KUBESVC_NAME " action=%s code=%d",
                      ks_kind[which], create ? "create" : "update", r->code);
        free(k->last_err[which]);
        k->last_err[which] = strdup(msg);
    }
}

static void ks_write(rest_kubesvc_t *k, kubesvc_obj_t which, const kr_value_t *cur)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *want = rest_kubesvc_desired(a, &k->conf, which);
    if (cur != NULL && rest_kubesvc_up_to_date(cur, want, which)) {
        const char *ip = kr_value_as_str(kr_value_get(cur, "spec.clusterIP"));
        if (which == KUBESVC_SVC && !k->warned_ip &&
            (ip == NULL || strcmp(ip, k->conf.cluster_ip) != 0)) {
            kr_plugin_log(k->ctx, KR_LOG_WARN,
                          "the kubernetes Service has another clusterIP (immutable): left as it is",
                          "clusterIP=%s wanted=%s", ip ? ip : "", k->conf.cluster_ip);
            k->warned_ip = true;
        }
        kr_arena_destroy(&a);
        return;
    }
    kr_request_t rq = {.op = cur != NULL ? "update" : "create",
                       .res = ks_res[which],
                       .ns = KUBESVC_NS,
                       .name = cur != NULL ? KUBESVC_NAME : NULL,
                       .obj = cur != NULL ? rest_kubesvc_repair(a, cur, want, which) : want};
    ks_req_t *req = calloc(1, sizeof *req);
    if (req == NULL)
        abort();
    *req = (ks_req_t){.k = k, .which = which, .create = cur == NULL};
    kr_error_t err;
    if (kr_bus_send(k->bus, &rq, ks_written, req, KS_TIMEOUT_MS, NULL, &err) < 0) {
        kr_plugin_log(k->ctx, KR_LOG_WARN, err.message, "kind=%s", ks_kind[which]);
        free(req);
    } else {
        k->busy[which] = true;
        k->inflight++;
    }
    kr_arena_destroy(&a);
}

/* Looks at each object whose informer has listed; true when all have. */
static bool ks_ensure(rest_kubesvc_t *k)
{
    bool all = true;
    for (int i = 0; i < KUBESVC_N; i++) {
        kr_informer_t *inf = k->inf[i];
        if (inf == NULL)
            continue;
        if (!kr_informer_has_synced(inf)) {
            all = false;
            continue;
        }
        if (!k->busy[i])
            ks_write(k, (kubesvc_obj_t)i, kr_informer_get(inf, KUBESVC_NS, KUBESVC_NAME));
    }
    return all;
}

static void ks_timer(kr_loop_t *loop, uint64_t timer_id, void *ud)
{
    (void)loop;
    rest_kubesvc_t *k = ud;
    bool poke = timer_id == k->poke_timer;
    if (poke)
        k->poke_timer = 0;
    if (!ks_ensure(k) && poke) /* at the start, as soon as the informers have listed */
        k->poke_timer = kr_loop_add_timer(k->loop, KS_START_MS, 0, ks_timer, k);
}

static void ks_poke(rest_kubesvc_t *k)
{
    if (k->poke_timer == 0)
        k->poke_timer = kr_loop_add_timer(k->loop, KS_POKE_MS, 0, ks_timer, k);
}

static void ks_on_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    (void)obj;
    ks_poke(ud);
}

static void ks_on_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                         void *ud)
{
    (void)old_obj;
    ks_on_add(inf, new_obj, ud);
}

rest_kubesvc_t *rest_kubesvc_new(kr_plugin_ctx_t *ctx, const rest_kubesvc_conf_t *conf,
                                 kr_error_t *err)
{
    rest_kubesvc_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        abort();
    k->ctx = ctx;
    k->loop = kr_plugin_loop(ctx);
    k->bus = kr_plugin_bus(ctx);
    k->conf.cluster_ip = strdup(conf->cluster_ip);
    k->conf.address = conf->address && *conf->address ? strdup(conf->address) : NULL;
    k->conf.port = conf->port;
    if (k->conf.cluster_ip == NULL)
        abort();
    static const char *const names[KUBESVC_N] = {"kubernetes service", "kubernetes endpoints",
                                                 "kubernetes endpointslice"};
    /* no address: the Service alone (its Endpoints would be refused) */
    int n = k->conf.address != NULL ? KUBESVC_N : 1;
    for (int i = 0; i < n; i++) {
        kr_informer_opts_t o = {
            .res = ks_res[i],
            .ns = KUBESVC_NS,
            .field_selector = "metadata.name=" KUBESVC_NAME,
            .name = names[i],
            .handlers = {ks_on_add, ks_on_update, ks_on_add, k},
        };
        k->inf[i] = kr_informer_new(k->loop, k->bus, &o, err);
        if (k->inf[i] == NULL || kr_informer_start(k->inf[i], err) < 0) {
            rest_kubesvc_destroy(&k);
            return NULL;
        }
    }
    if (k->conf.address == NULL)
        kr_plugin_log(ctx, KR_LOG_WARN,
                      "no address to advertise (set advertise_address): the kubernetes Service "
                      "has no endpoints",
                      "clusterIP=%s", k->conf.cluster_ip);
    k->period_timer = kr_loop_add_timer(k->loop, KS_PERIOD_MS, KS_PERIOD_MS, ks_timer, k);
    ks_poke(k);
    return k;
}

void rest_kubesvc_destroy(rest_kubesvc_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    rest_kubesvc_t *k = *self_p;
    *self_p = NULL;
    for (int i = 0; i < KUBESVC_N; i++)
        kr_informer_destroy(&k->inf[i]);
    if (k->poke_timer != 0)
        kr_loop_cancel_timer(k->loop, k->poke_timer);
    if (k->period_timer != 0)
        kr_loop_cancel_timer(k->loop, k->period_timer);
    if (k->inflight > 0) {
        k->orphaned = true;
        return;
    }
    ks_free(k);
}
