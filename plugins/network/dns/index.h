/* network-dns: the in-memory index of what the cluster domain answers —
 * Services (ClusterIP, headless, ExternalName) and their endpoints, from
 * EndpointSlices, or from the v1 Endpoints of a Service that has no slice
 * (a cluster whose EndpointSlice kind or controller is missing still
 * resolves headless names).
 *
 * The index copies what it keeps of each object (a few strings and
 * addresses), so the informers' objects may go as soon as a set/del call
 * returns.  Lookups are by (namespace, name) in red-black trees (ldns's);
 * a reverse (PTR) lookup walks the services, which is fine for the rare
 * PTR query and keeps every write O(log n).  Everything is
 * case-sensitive here: the answer builder lowercases query names, and
 * Kubernetes names are lowercase already.  Single-threaded: the plugin's
 * loop thread owns the index.
 */
#ifndef KRAAL_DNS_INDEX_H
#define KRAAL_DNS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

typedef struct dns_index dns_index_t;

typedef struct dns_ip {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network order; 4 bytes used for AF_INET */
} dns_ip_t;

typedef struct dns_port {
    char *name;    /* "" when unnamed */
    char proto[8]; /* lowercase: "tcp", "udp", "sctp" */
    uint16_t port;
} dns_port_t;

typedef struct dns_ep {
    dns_ip_t ip;
    char *hostname; /* the endpoint's hostname, or NULL */
    bool ready;
} dns_ep_t;

/* One EndpointSlice, or one subset of a v1 Endpoints. */
typedef struct dns_epset {
    struct dns_epset *next;
    dns_ep_t *eps;
    size_t neps;
    dns_port_t *ports;
    size_t nports;
} dns_epset_t;

typedef enum dns_svc_type {
    DNS_SVC_NONE = 0, /* no Service object (only endpoints seen so far) */
    DNS_SVC_CLUSTER_IP,
    DNS_SVC_HEADLESS,
    DNS_SVC_EXTERNAL,
} dns_svc_type_t;

typedef struct dns_svc {
    const char *ns, *name;
    dns_svc_type_t type;
    dns_ip_t ips[2]; /* spec.clusterIPs (at most one per family) */
    size_t nips;
    char *external; /* spec.externalName, without a trailing dot */
    dns_port_t *ports;
    size_t nports;
} dns_svc_t;

/* An empty index.  Caller owns it. */
dns_index_t *dns_index_new(void);
void dns_index_destroy(dns_index_t **self_p);

/* Bumped by every change: the zone's SOA serial. */
uint32_t dns_index_serial(const dns_index_t *idx);
size_t dns_index_services(const dns_index_t *idx);

/* Adds or replaces a Service (v1), an EndpointSlice (discovery.k8s.io/v1:
 * its kubernetes.io/service-name label names the Service) or a v1
 * Endpoints; the del calls need only the object's metadata.  An object
 * without a name is ignored. */
void dns_index_set_service(dns_index_t *idx, const kr_value_t *svc);
void dns_index_del_service(dns_index_t *idx, const kr_value_t *svc);
void dns_index_set_slice(dns_index_t *idx, const kr_value_t *slice);
void dns_index_del_slice(dns_index_t *idx, const kr_value_t *slice);
void dns_index_set_endpoints(dns_index_t *idx, const kr_value_t *eps);
void dns_index_del_endpoints(dns_index_t *idx, const kr_value_t *eps);

/* The Service ns/name, or NULL (also when only endpoints name it).  Valid
 * until the next change of the index. */
const dns_svc_t *dns_index_service(const dns_index_t *idx, const char *ns, const char *name);
/* True when some Service lives in namespace ns. */
bool dns_index_has_namespace(const dns_index_t *idx, const char *ns);

/* The endpoint sets of a Service: its slices, or its v1 Endpoints' subsets
 * when it has no slice; NULL when none.  Valid until the next change. */
const dns_epset_t *dns_index_epsets(const dns_index_t *idx, const dns_svc_t *svc);

/* The name an endpoint answers to under its Service: its hostname, or its
 * address with '-' for '.' and ':' (CoreDNS's endpointHostname).  Writes at
 * most size bytes; returns buf. */
const char *dns_ep_label(const dns_ep_t *ep, char *buf, size_t size);

/* Calls fn for each Service until it returns false (PTR lookups). */
typedef bool (*dns_index_each_fn)(const dns_svc_t *svc, void *ud);
void dns_index_each(const dns_index_t *idx, dns_index_each_fn fn, void *ud);

/* Parses an IPv4 or IPv6 address. */
bool dns_ip_parse(const char *s, dns_ip_t *ip);

#endif
