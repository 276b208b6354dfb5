/* api-rest: the Service default/kubernetes, its Endpoints and its
 * EndpointSlice, kept pointing at this API server while it runs — the job
 * of kube-apiserver's bootstrap controller
 * (pkg/controlplane/controller/kubernetesservice) and of its endpoint
 * reconciler (pkg/controlplane/reconcilers, EndpointsAdapter).
 *
 * The objects are as upstream writes them: the Service labelled
 * component=apiserver, provider=kubernetes, type ClusterIP with the first
 * address of the service range, port "https" 443/TCP to the API's port,
 * no selector (the endpoints controller leaves it alone), sessionAffinity
 * None; the Endpoints labelled endpointslice.kubernetes.io/skip-mirror
 * (no mirrored slice); the EndpointSlice "kubernetes" labelled
 * kubernetes.io/service-name only, one ready endpoint.  Informers on the
 * three (namespace default, name kubernetes) poke the keeper (the SDK's,
 * kraal/svckeeper.h) on every event, and it looks again every 10 s (upstream's EndpointInterval): a
 * missing object is created, one that differs in what is set here is
 * updated back (the Service's ports, type, labels and selector; the
 * Endpoints' and the slice's labels, addresses and ports exactly, as the
 * EndpointsAdapter compares them).  A Service that exists with another
 * clusterIP keeps it (immutable), logged once.  Without an advertised
 * address (a host with loopback only) the Service is kept without
 * endpoints: a loopback address is refused in Endpoints.
 */
#ifndef KRAAL_REST_KUBESVC_H
#define KRAAL_REST_KUBESVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/plugin.h>
#include <kraal/svckeeper.h>

#define KUBESVC_NS   "default"
#define KUBESVC_NAME "kubernetes"

typedef struct rest_kubesvc_conf {
    const char *cluster_ip; /* spec.clusterIP asked for */
    const char *address;    /* the endpoint address; NULL: no Endpoints nor slice */
    uint16_t port;          /* targetPort and the endpoints' port */
} rest_kubesvc_conf_t;

/* Holds the SDK's Service keeper (kraal/svckeeper.h) given these objects
 * (a struct of its own: gateway.h names it). */
typedef struct rest_kubesvc rest_kubesvc_t;

/* Starts the informers and the keeper on the plugin's loop (the instance's
 * thread).  Strings are copied.  NULL with err.  Caller owns it. */
rest_kubesvc_t *rest_kubesvc_new(kr_plugin_ctx_t *ctx, const rest_kubesvc_conf_t *conf,
                                 kr_error_t *err);
/* Writes in flight finish without effect. */
void rest_kubesvc_destroy(rest_kubesvc_t **self_p);

/* ---- pure parts (unit tests) ------------------------------------------------------------- */

/* The object as it should be (in `a`). */
kr_value_t *rest_kubesvc_desired(kr_arena_t *a, const rest_kubesvc_conf_t *c,
                                 kr_svckeeper_obj_t which);
/* The first address of an IPv4 CIDR ("10.96.0.0/12" -> "10.96.0.1"), as
 * upstream's ServiceIPRange gives the kubernetes Service.  < 0 with err. */
int rest_first_service_ip(const char *cidr, char *buf, size_t len, kr_error_t *err);

/* The address the endpoints advertise (--advertise-address): `configured`
 * when set; else the listen address when it is a specific, non-loopback
 * one; else the host's first non-loopback IPv4 address that is up.  ""
 * when there is none.  < 0 with err when `configured` is not an IP address
 * or is one the Endpoints refuse (unspecified, loopback, link-local). */
int rest_advertise_address(const char *configured, const char *listen, char *buf, size_t len,
                           kr_error_t *err);

#endif
