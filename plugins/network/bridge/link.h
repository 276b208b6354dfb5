/* network-bridge: the kernel side, over rtnetlink (libnl-route-3): the
 * bridge, the pods' veth pairs, the routes to other nodes' pod ranges.
 *
 * Threading: no shared state; each call opens its own netlink socket(s),
 * so calls from several threads run side by side.  A call that works in a
 * pod's namespace joins it only long enough to open a socket there, on
 * the calling thread, and puts the thread back before it returns (a
 * thread that cannot go back aborts the process rather than run on in
 * the wrong namespace).
 */
#ifndef KRAAL_BRIDGE_LINK_H
#define KRAAL_BRIDGE_LINK_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include <kraal/error.h>

/* The protocol number of the routes we own (rtm_protocol; /etc/iproute2/
 * rt_protos leaves 5..254 free), so that a restart finds and replaces the
 * routes an earlier run made. */
#define BR_RTPROT 0x4b

/* "veth" + 8 hex digits of a hash of the sandbox id: a stable name, so a
 * restarted agent finds the interface of a sandbox it re-adopts. */
void br_link_veth_name(const char *sandbox_id, char out[IFNAMSIZ]);

/* Makes the bridge `name` exist, up, with `mtu` and address gw/prefix.
 * Sets *ifindex. */
int br_link_bridge_ensure(const char *name, int mtu, struct in_addr gw, int prefix, int *ifindex,
                          kr_error_t *err);

/* One route to another node's pod range. */
typedef struct br_route {
    struct in_addr dst;
    int prefix;
    struct in_addr via;
} br_route_t;

/* Makes the main table's routes of protocol BR_RTPROT exactly `want`
 * (added or replaced; ours that are not wanted are deleted).  A route
 * that fails is named in err and the others are still done. */
int br_link_routes_sync(const br_route_t *want, size_t n, kr_error_t *err);

typedef struct br_pod_link {
    const char *netns_path; /* the sandbox's namespace */
    const char *host_if;    /* br_link_veth_name */
    int bridge_ifindex;
    int mtu;
    bool hairpin; /* hairpin mode on the host side's bridge port */
    struct in_addr ip, gw;
    int prefix;
} br_pod_link_t;

/* Wires the namespace: a veth pair (host side on the bridge, hairpin on;
 * pod side eth0), eth0's address, lo up and the default route via gw.
 * Idempotent: what exists is kept and what is missing is added. */
int br_link_pod_add(const br_pod_link_t *pl, kr_error_t *err);

/* Deletes the host interface `name` (its peer goes with it); 0 when it
 * is gone already. */
int br_link_del(const char *name, kr_error_t *err);

/* Writes "1" (or `value`) to /proc/sys/<key with dots as slashes>. */
int br_sysctl_set(const char *key, const char *value, kr_error_t *err);

#endif
