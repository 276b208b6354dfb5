/* network-dns: keeps the Service kube-system/kube-dns, its EndpointSlice
 * and its Endpoints pointing at this server, so that every node's proxy
 * sends the DNS ClusterIP to it (the job the kube-dns Deployment's pods and
 * the endpoints controller share upstream).
 *
 * The Service has no selector (the endpoints controller leaves it alone);
 * the EndpointSlice carries our managed-by label (upstream's EndpointSlice
 * controller ignores slices managed by others) and the Endpoints the
 * skip-mirror label (no mirrored second slice).  Each object is looked up
 * in the plugin's informers and created, or updated back, when it is
 * missing or differs in what we set (kr_svckeeper_up_to_date, our labels
 * among others); a deleted one comes back.  One write per object is in
 * flight at a time; failures are retried every 5 s.  A Service that exists with another clusterIP is left as it is
 * (the field is immutable) and logged.
 */
#ifndef KRAAL_DNS_KUBEDNS_H
#define KRAAL_DNS_KUBEDNS_H

#include <stdint.h>

#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/svckeeper.h>

#define KUBEDNS_NS      "kube-system"
#define KUBEDNS_NAME    "kube-dns"
#define KUBEDNS_MANAGER "network-dns.kraal.io"

/* The SDK's Service keeper (kraal/svckeeper.h), given these objects. */
typedef kr_svckeeper_t dns_keeper_t;

typedef struct dns_keeper_conf {
    const char *cluster_ip; /* spec.clusterIP asked for */
    const char *address;    /* the endpoint address (IPv4 or IPv6) */
    uint16_t port;          /* the endpoint port, UDP and TCP */
} dns_keeper_conf_t;

/* The informers (Services, EndpointSlices, Endpoints; the last two may be
 * NULL when not watched, and the object is then not kept) outlive the
 * keeper.  Strings are copied.  Caller owns the keeper; NULL (logged) only
 * when the SDK refuses it. */
dns_keeper_t *dns_keeper_new(kr_plugin_ctx_t *ctx, kr_informer_t *svcs, kr_informer_t *slices,
                             kr_informer_t *eps, const dns_keeper_conf_t *conf);
/* Writes in flight finish without effect. */
void dns_keeper_destroy(dns_keeper_t **self_p);

/* An object of ours may have changed: look again soon. */
void dns_keeper_poke(dns_keeper_t *k);

/* True for kube-system/kube-dns (what dns_keeper_poke is for). */
bool dns_keeper_is_ours(const kr_value_t *obj);

#endif
