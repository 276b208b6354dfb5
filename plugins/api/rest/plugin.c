/* api-rest: the Kubernetes REST gateway (docs/rest.md).  kubectl and the
 * official client libraries talk to kraal through it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kraal/plugin.h>

#include "gateway.h"
#include "kubeconfig.h"
#include "kubesvc.h"
#include "rootca.h"
#include "metrics.h"
#include "pki.h"

static const kr_config_entry_t rest_config[] = {
    {KR_CFG_STRING, "address", "0.0.0.0", offsetof(rest_conf_t, address),
     "address to listen on (plain HTTP only on a loopback address)"},
    {KR_CFG_INT, "port", "6443", offsetof(rest_conf_t, port),
     "port to listen on (0: any free one)"},
    {KR_CFG_BOOL, "tls", "true", offsetof(rest_conf_t, tls),
     "serve HTTPS with the cluster CA's serving certificate"},
    {KR_CFG_STRING, "pki_dir", NULL, offsetof(rest_conf_t, pki_dir),
     "CA and serving certificate (default <data_dir>/pki)"},
    {KR_CFG_STRING, "kubeconfig", NULL, offsetof(rest_conf_t, kubeconfig),
     "kubeconfig written at start (default <data_dir>/kubeconfig)"},
    {KR_CFG_STRING, "cluster_name", "kraal", offsetof(rest_conf_t, cluster_name),
     "cluster and context name in the kubeconfig"},
    {KR_CFG_STRING, "server_url", NULL, offsetof(rest_conf_t, server_url),
     "URL written into the kubeconfig (default https://127.0.0.1:<port>)"},
    {KR_CFG_VALUE, "sans", NULL, offsetof(rest_conf_t, sans),
     "extra host names and addresses for the serving certificate"},
    {KR_CFG_INT, "workers", "2", offsetof(rest_conf_t, workers),
     "serving threads; each has its own listening socket, bus connection and any number of "
     "requests in flight (they wait for the bus without holding the thread)"},
    {KR_CFG_STRING, "advertise_address", NULL, offsetof(rest_conf_t, advertise_address),
     "address of the kubernetes Service's endpoints (kube-apiserver's --advertise-address; "
     "default: the listen address when it is a specific, non-loopback one, else the host's "
     "first non-loopback IPv4 address)"},
    {KR_CFG_STRING, "service_cluster_ip_range", "10.96.0.0/12", offsetof(rest_conf_t, service_cidr),
     "the api's service_cluster_ip_range: the kubernetes Service gets its first address"},
    {KR_CFG_BOOL, "kubernetes_service", "true", offsetof(rest_conf_t, kubernetes_service),
     "keep the Service default/kubernetes, its Endpoints and its EndpointSlice pointing at this "
     "server while it runs"},
    {KR_CFG_BOOL, "root_ca_publisher", "true", offsetof(rest_conf_t, root_ca_publisher),
     "keep the ConfigMap kube-root-ca.crt with the cluster CA in every namespace (upstream's "
     "root-ca-cert-publisher; with tls only)"},
    {KR_CFG_INT, "max_requests_inflight", "400", offsetof(rest_conf_t, max_inflight),
     "requests served at once before 429 (watches not counted)"},
    {KR_CFG_DURATION, "idle_timeout", "60s", offsetof(rest_conf_t, idle_timeout_ms),
     "a connection silent this long is closed"},
    {KR_CFG_DURATION, "watch_timeout", "30m", offsetof(rest_conf_t, watch_timeout_ms),
     "a watch without timeoutSeconds ends after this"},
    {KR_CFG_STRING, "authorization_mode", "AlwaysAllow", offsetof(rest_conf_t, authorization_mode),
     "AlwaysAllow (every authenticated user may do everything), RBAC (ask the in-process "
     "authorizer named by `authorizer`, listed before this plugin) or Bus (ask the authz.review "
     "op, for a gateway in a process of its own)"},
    {KR_CFG_STRING, "authorizer", "rbac", offsetof(rest_conf_t, authorizer),
     "RBAC: the instance name of the authorizer (auth-rbac's default)"},
    {KR_CFG_BOOL, "anonymous", "false", offsetof(rest_conf_t, anonymous),
     "requests without credentials run as system:anonymous (group system:unauthenticated) and "
     "the authorizer decides, instead of 401 (kube-apiserver's --anonymous-auth; ignored under "
     "AlwaysAllow, as upstream)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

/* ---- start ------------------------------------------------------------------ */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    rest_gw_t *gw = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    kr_plugin_log(gw->ctx, KR_LOG_DEBUG, "http", "detail=\"%s\"", msg);
}

static bool loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return false;
}

static int parse_addr(const char *address, int port, struct sockaddr_storage *ss, kr_error_t *err)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    kr_error_set(err, KR_E_BAD_REQUEST, "address: \"%s\" is not an IP address", address);
    return -1;
}

/* Names for the serving certificate: loopback, the host name, the listen
 * address, and the configured extras. */
static size_t collect_sans(const rest_conf_t *c, const char **sans, size_t max, char *host,
                           size_t hostlen)
{
    size_t n = 0;
    sans[n++] = "localhost";
    sans[n++] = "127.0.0.1";
    sans[n++] = "::1";
    if (gethostname(host, hostlen) == 0 && *host != '\0')
        sans[n++] = host;
    if (strcmp(c->address, "0.0.0.0") != 0 && strcmp(c->address, "::") != 0)
        sans[n++] = c->address;
    for (size_t i = 0; i < kr_value_len(c->sans) && n < max; i++) {
        const char *s = kr_value_as_str(kr_value_array_get(c->sans, i));
        if (s != NULL)
            sans[n++] = s;
    }
    return n;
}

static char *path_or(kr_plugin_ctx_t *ctx, const char *given, const char *leaf)
{
    char *p = NULL;
    if (given != NULL && *given != '\0')
        p = strdup(given);
    else if (asprintf(&p, "%s/%s", kr_plugin_data_dir(ctx), leaf) < 0)
        p = NULL;
    if (p == NULL)
        abort();
    return p;
}

/* Writes the kubeconfig with the bootstrap admin's token, asked of the
 * authenticator ("authn.bootstrap").  A missing authenticator is not fatal:
 * the gateway serves, and the log says why there is no kubeconfig. */
static void write_kubeconfig(rest_gw_t *gw, const char *ca_pem)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t req = {.op = "authn.bootstrap"};
    kr_reply_t reply;
    kr_error_t err;
    char *path = path_or(gw->ctx, gw->conf->kubeconfig, "kubeconfig");
    if (kr_bus_call(kr_plugin_bus(gw->ctx), &req, a, &reply, 10000, &err) < 0 ||
        reply.code != 200) {
        kr_plugin_log(gw->ctx, KR_LOG_WARN, "no kubeconfig written: no bootstrap token",
                      "path=%s error=\"%s\"", path,
                      reply.code != 200 && reply.message ? reply.message : err.message);
    } else if (rest_kubeconfig_write(path, gw->conf->cluster_name, gw->server_url, ca_pem,
                                     /* named after the cluster, so that kubeconfigs of several
                    * clusters merge without one user hiding another */
                                     kr_arena_printf(a, "%s-%s", gw->conf->cluster_name,
                                                     kr_value_map_str(reply.obj, "username")),
                                     kr_value_map_str(reply.obj, "token"), &err) < 0) {
        kr_plugin_log(gw->ctx, KR_LOG_ERROR, "cannot write the kubeconfig", "path=%s error=\"%s\"",
                      path, err.message);
    } else {
        kr_plugin_log(gw->ctx, KR_LOG_INFO, "kubeconfig written", "path=%s server=%s", path,
                      gw->server_url);
    }
    free(path);
    kr_arena_destroy(&a);
}

static void rest_fini(void *self);

static void *rest_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const rest_conf_t *c = config;
    if (c->port < 0 || c->port > 65535 || c->workers < 1 || c->workers > 256 ||
        c->max_inflight < 1) {
        kr_error_set(err, KR_E_BAD_REQUEST,
                     "port must be 0-65535, workers 1-256, max_requests_inflight > 0");
        return NULL;
    }
    rest_authz_mode_t mode;
    if (strcmp(c->authorization_mode, "AlwaysAllow") == 0) {
        mode = REST_AUTHZ_ALWAYS_ALLOW;
    } else if (strcmp(c->authorization_mode, "RBAC") == 0) {
        mode = REST_AUTHZ_RBAC;
    } else if (strcmp(c->authorization_mode, "Bus") == 0) {
        mode = REST_AUTHZ_BUS;
    } else {
        kr_error_set(err, KR_E_BAD_REQUEST,
                     "authorization_mode: Unsupported value: \"%s\": supported values: "
                     "\"AlwaysAllow\", \"Bus\", \"RBAC\"",
                     c->authorization_mode);
        return NULL;
    }
    const kr_authz_ops_t *authz = NULL;
    void *authz_self = NULL;
    if (mode == REST_AUTHZ_RBAC && kr_authz_find(c->authorizer, &authz, &authz_self, err) < 0) {
        kr_error_wrap(err, "authorization_mode RBAC");
        return NULL;
    }
    struct sockaddr_storage ss;
    if (parse_addr(c->address, (int)c->port, &ss, err) < 0)
        return NULL;
    char svc_ip[INET_ADDRSTRLEN], adv[INET6_ADDRSTRLEN];
    if (c->kubernetes_service &&
        (rest_first_service_ip(c->service_cidr, svc_ip, sizeof svc_ip, err) < 0 ||
         rest_advertise_address(c->advertise_address, c->address, adv, sizeof adv, err) < 0))
        return NULL;
    if (!c->tls && !loopback(&ss)) {
        kr_error_set(err, KR_E_BAD_REQUEST,
                     "tls: false serves plain HTTP, which is allowed only on a loopback address "
                     "(address is %s)",
                     c->address);
        return NULL;
    }
    rest_gw_t *gw = calloc(1, sizeof *gw);
    if (gw == NULL)
        abort();
    gw->ctx = ctx;
    gw->conf = c;
    gw->endpoint = kr_plugin_bus_endpoint(ctx);
    gw->disc = rest_discovery_new();
    gw->tokens = rest_tokens_new();
    gw->metrics = rest_metrics_new();
    gw->authz_mode = mode;
    gw->authz = authz;
    gw->authz_self = authz_self;
    gw->anonymous = c->anonymous;
    if (c->anonymous && mode == REST_AUTHZ_ALWAYS_ALLOW) {
        /* kube-apiserver resets --anonymous-auth the same way */
        kr_plugin_log(ctx, KR_LOG_WARN,
                      "anonymous is not allowed with the AlwaysAllow authorizer: resetting it to "
                      "false",
                      "authorization_mode=%s", c->authorization_mode);
        gw->anonymous = false;
    }

    rest_pki_t pki = {0};
    if (c->tls) {
        char *dir = path_or(ctx, c->pki_dir, "pki");
        const char *sans[64];
        char host[256] = "";
        size_t n = collect_sans(c, sans, 64, host, sizeof host);
        int rc = rest_pki_ensure(dir, sans, n, &pki, err);
        free(dir);
        if (rc < 0)
            goto fail;
    }
    rest_daemon_opts_t dopts = {
        .key_pem = c->tls ? pki.key_pem : NULL,
        .cert_pem = c->tls ? pki.cert_pem : NULL,
        .logger = mhd_log,
    };
    if (rest_loops_start(gw, &ss, &dopts, err) < 0) {
        rest_pki_free(&pki);
        goto fail;
    }
    if (c->server_url != NULL && *c->server_url != '\0')
        gw->server_url = strdup(c->server_url);
    else if (asprintf(&gw->server_url, "%s://127.0.0.1:%d", c->tls ? "https" : "http", gw->port) <
             0)
        gw->server_url = NULL;
    if (gw->server_url == NULL)
        abort();
    kr_plugin_log(ctx, KR_LOG_INFO, "serving the Kubernetes API", "address=%s port=%d tls=%s",
                  c->address, gw->port, c->tls ? "true" : "false");
    write_kubeconfig(gw, c->tls ? pki.ca_pem : NULL);
    if (c->tls && c->root_ca_publisher &&
        (gw->rootca = rest_rootca_new(ctx, pki.ca_pem, err)) == NULL) {
        rest_pki_free(&pki);
        goto fail;
    }
    rest_pki_free(&pki);
    if (c->kubernetes_service) {
        rest_kubesvc_conf_t kc = {.cluster_ip = svc_ip, .address = adv, .port = (uint16_t)gw->port};
        gw->kubesvc = rest_kubesvc_new(ctx, &kc, err);
        if (gw->kubesvc == NULL)
            goto fail;
        kr_plugin_log(ctx, KR_LOG_INFO, "keeping the kubernetes Service",
                      "clusterIP=%s endpoint=%s:%d", svc_ip, *adv ? adv : "none", gw->port);
    }
    return gw;
fail:
    rest_fini(gw);
    return NULL;
}

static void rest_fini(void *self)
{
    rest_gw_t *gw = self;
    if (gw == NULL)
        return;
    rest_kubesvc_destroy(&gw->kubesvc);
    rest_rootca_destroy(&gw->rootca);
    rest_loops_stop(gw);
    rest_tokens_destroy(&gw->tokens);
    rest_metrics_destroy(&gw->metrics);
    rest_discovery_destroy(&gw->disc);
    free(gw->server_url);
    free(gw);
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "api",
    .name = "rest",
    .version = "0.1.0",
    .description = "Kubernetes REST API over HTTPS (kubectl, client libraries)",
    .config = rest_config,
    .config_size = sizeof(rest_conf_t),
    .init = rest_init,
    .fini = rest_fini,
};
