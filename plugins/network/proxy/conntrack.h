/* network-proxy: clearing stale UDP conntrack entries, as kube-proxy does
 * after a sync (pkg/proxy/conntrack/cleanup.go).
 *
 * A UDP "connection" to a Service keeps its DNAT as long as packets keep
 * coming, so a client that reuses its source port would go on sending to
 * an endpoint that is gone, or (for a Service that had none) on being
 * rejected.  After the rules changed, the entries whose original
 * destination is the Service's ClusterIP (or whose destination port is its
 * NodePort) and whose reply comes from a removed endpoint — or, for a
 * Service that just got its first endpoint, any such entry — are deleted
 * through ctnetlink (libmnl), in the current network namespace.
 */
#ifndef NETWORK_PROXY_CONNTRACK_H
#define NETWORK_PROXY_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>

/* One thing to clear; addresses in network byte order. */
typedef struct proxy_ct_stale {
    uint32_t cluster_ip; /* entries to this ClusterIP (0: none) ... */
    uint16_t node_port;  /* ... or to this port on any address (0: none) */
    uint32_t endpoint;   /* ... whose reply comes from here (0: any) */
} proxy_ct_stale_t;

/* Deletes the UDP entries that match any of the n items.  Returns how many
 * were deleted (an entry gone meanwhile is not an error), or <0 with err
 * when the conntrack table could not be read. */
int proxy_conntrack_clear(const proxy_ct_stale_t *items, size_t n, kr_error_t *err);

#endif
