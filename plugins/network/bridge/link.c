/* network-bridge: bridge, veth pairs and routes over rtnetlink (see
 * link.h). */
#include "link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#define POD_IF "eth0"

void br_link_veth_name(const char *sandbox_id, char out[IFNAMSIZ])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sandbox_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    snprintf(out, IFNAMSIZ, "veth%08x", h);
}

static struct nl_sock *sock_open(kr_error_t *err)
{
    struct nl_sock *sk = nl_socket_alloc();
    if (sk == NULL)
        abort();
    int rc = nl_connect(sk, NETLINK_ROUTE);
    if (rc < 0) {
        kr_error_set(err, KR_E_INTERNAL, "netlink: %s", nl_geterror(rc));
        nl_socket_free(sk);
        return NULL;
    }
    return sk;
}

/* A netlink socket of the namespace `nsfd`: the thread joins it only to
 * open the socket (a socket stays in the namespace it was made in). */
static struct nl_sock *sock_open_in(int nsfd, kr_error_t *err)
{
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        kr_error_set(err, KR_E_INTERNAL, "opening this thread's network namespace: %s",
                     strerror(errno));
        return NULL;
    }
    if (setns(nsfd, CLONE_NEWNET) < 0) {
        kr_error_set(err, KR_E_INTERNAL, "joining the sandbox's network namespace: %s",
                     strerror(errno));
        close(self);
        return NULL;
    }
    struct nl_sock *sk = sock_open(err);
    if (setns(self, CLONE_NEWNET) < 0)
        abort(); /* never run on in the pod's namespace */
    close(self);
    return sk;
}

static struct nl_addr *addr4(struct in_addr a, int prefix)
{
    struct nl_addr *na = nl_addr_build(AF_INET, &a, sizeof a);
    if (na == NULL)
        abort();
    nl_addr_set_prefixlen(na, prefix);
    return na;
}

static int nl_fail(kr_error_t *err, int rc, const char *what, const char *name)
{
    return kr_error_set(err, KR_E_INTERNAL, "%s %s: %s", what, name, nl_geterror(rc));
}

/* Sets IFF_UP (and, when mtu > 0, the MTU) on a link we hold. */
static int link_up(struct nl_sock *sk, struct rtnl_link *link, int mtu, kr_error_t *err)
{
    bool up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
    bool mtu_ok = mtu <= 0 || rtnl_link_get_mtu(link) == (unsigned)mtu;
    if (up && mtu_ok)
        return 0;
    struct rtnl_link *ch = rtnl_link_alloc();
    if (ch == NULL)
        abort();
    rtnl_link_set_flags(ch, IFF_UP);
    if (!mtu_ok)
        rtnl_link_set_mtu(ch, (unsigned)mtu);
    int rc = rtnl_link_change(sk, link, ch, 0);
    rtnl_link_put(ch);
    if (rc < 0)
        return nl_fail(err, rc, "setting up", rtnl_link_get_name(link));
    return 0;
}

static int addr_add(struct nl_sock *sk, int ifindex, struct in_addr a, int prefix,
                    const char *ifname, kr_error_t *err)
{
    struct rtnl_addr *ra = rtnl_addr_alloc();
    if (ra == NULL)
        abort();
    struct nl_addr *local = addr4(a, prefix);
    rtnl_addr_set_ifindex(ra, ifindex);
    rtnl_addr_set_local(ra, local);
    int rc = rtnl_addr_add(sk, ra, 0);
    nl_addr_put(local);
    rtnl_addr_put(ra);
    if (rc < 0 && rc != -NLE_EXIST)
        return nl_fail(err, rc, "adding an address to", ifname);
    return 0;
}

int br_link_bridge_ensure(const char *name, int mtu, struct in_addr gw, int prefix, int *ifindex,
                          kr_error_t *err)
{
    struct nl_sock *sk = sock_open(err);
    if (sk == NULL)
        return -KR_E_INTERNAL;
    struct rtnl_link *link = NULL;
    int rc = rtnl_link_get_kernel(sk, 0, name, &link);
    if (rc < 0) {
        struct rtnl_link *br = rtnl_link_alloc();
        if (br == NULL)
            abort();
        rtnl_link_set_name(br, name);
        if ((rc = rtnl_link_set_type(br, "bridge")) < 0) {
            rtnl_link_put(br);
            nl_socket_free(sk);
            return nl_fail(err, rc, "creating the bridge", name);
        }
        rtnl_link_set_mtu(br, (unsigned)mtu);
        rc = rtnl_link_add(sk, br, NLM_F_CREATE);
        rtnl_link_put(br);
        if (rc < 0 && rc != -NLE_EXIST) {
            nl_socket_free(sk);
            return nl_fail(err, rc, "creating the bridge", name);
        }
        if ((rc = rtnl_link_get_kernel(sk, 0, name, &link)) < 0) {
            nl_socket_free(sk);
            return nl_fail(err, rc, "looking up the bridge", name);
        }
    }
    int ret = link_up(sk, link, mtu, err);
    *ifindex = rtnl_link_get_ifindex(link);
    rtnl_link_put(link);
    if (ret == 0)
        ret = addr_add(sk, *ifindex, gw, prefix, name, err);
    nl_socket_free(sk);
    return ret;
}

/* ---- routes ---------------------------------------------------------------- */

static struct rtnl_route *route_new(struct in_addr dst, int prefix, struct in_addr via, int oif)
{
    struct rtnl_route *r = rtnl_route_alloc();
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    if (r == NULL || nh == NULL)
        abort();
    struct nl_addr *d = addr4(dst, prefix), *g = addr4(via, 32);
    rtnl_route_set_family(r, AF_INET);
    rtnl_route_set_table(r, RT_TABLE_MAIN);
    rtnl_route_set_scope(r, RT_SCOPE_UNIVERSE);
    rtnl_route_set_dst(r, d);
    rtnl_route_nh_set_gateway(nh, g);
    if (oif > 0)
        rtnl_route_nh_set_ifindex(nh, oif);
    rtnl_route_add_nexthop(r, nh); /* the route owns nh now */
    nl_addr_put(d);
    nl_addr_put(g);
    return r;
}

typedef struct routes_walk {
    struct nl_sock *sk;
    const br_route_t *want;
    size_t n;
    bool *seen; /* want[i] is in the kernel as it should be */
    kr_error_t *err;
    int rc;
} routes_walk_t;

static void route_check(struct nl_object *obj, void *arg)
{
    routes_walk_t *w = arg;
    struct rtnl_route *r = (struct rtnl_route *)obj;
    if (rtnl_route_get_protocol(r) != BR_RTPROT || rtnl_route_get_table(r) != RT_TABLE_MAIN)
        return;
    struct nl_addr *dst = rtnl_route_get_dst(r);
    struct rtnl_nexthop *nh = rtnl_route_get_nnexthops(r) == 1 ? rtnl_route_nexthop_n(r, 0) : NULL;
    struct nl_addr *gw = nh ? rtnl_route_nh_get_gateway(nh) : NULL;
    for (size_t i = 0; i < w->n; i++) {
        struct in_addr *d = dst ? nl_addr_get_binary_addr(dst) : NULL;
        struct in_addr *g = gw ? nl_addr_get_binary_addr(gw) : NULL;
        if (d != NULL && g != NULL && d->s_addr == w->want[i].dst.s_addr &&
            (int)nl_addr_get_prefixlen(dst) == w->want[i].prefix &&
            g->s_addr == w->want[i].via.s_addr) {
            w->seen[i] = true;
            return;
        }
    }
    int rc = rtnl_route_delete(w->sk, r, 0);
    if (rc < 0 && rc != -NLE_OBJ_NOTFOUND) {
        char buf[64];
        w->rc = nl_fail(w->err, rc, "deleting the route to",
                        dst ? nl_addr2str(dst, buf, sizeof buf) : "?");
    }
}

int br_link_routes_sync(const br_route_t *want, size_t n, kr_error_t *err)
{
    struct nl_sock *sk = sock_open(err);
    if (sk == NULL)
        return -KR_E_INTERNAL;
    struct nl_cache *cache = NULL;
    int rc = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);
    if (rc < 0) {
        nl_socket_free(sk);
        return nl_fail(err, rc, "listing", "routes");
    }
    bool *seen = calloc(n ? n : 1, sizeof *seen);
    if (seen == NULL)
        abort();
    routes_walk_t w = {.sk = sk, .want = want, .n = n, .seen = seen, .err = err};
    nl_cache_foreach(cache, route_check, &w);
    nl_cache_free(cache);
    for (size_t i = 0; i < n; i++) {
        if (seen[i])
            continue;
        struct rtnl_route *r = route_new(want[i].dst, want[i].prefix, want[i].via, 0);
        rtnl_route_set_protocol(r, BR_RTPROT);
        rc = rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE);
        rtnl_route_put(r);
        if (rc < 0) {
            char d[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &want[i].dst, d, sizeof d);
            inet_ntop(AF_INET, &want[i].via, g, sizeof g);
            w.rc = kr_error_set(err, KR_E_INTERNAL, "adding the route %s/%d via %s: %s", d,
                                want[i].prefix, g, nl_geterror(rc));
        }
    }
    free(seen);
    nl_socket_free(sk);
    return w.rc;
}

/* ---- pods ------------------------------------------------------------------ */

/* `bridge link set dev <name> hairpin on`: a pod reaches itself through
 * its Service (the packet goes out of its port and must come back in). */
static int hairpin_on(struct nl_sock *sk, int ifindex, const char *name, kr_error_t *err)
{
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_SETLINK, 0);
    if (msg == NULL)
        abort();
    struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = ifindex};
    struct nlattr *pi;
    if (nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        (pi = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED)) == NULL ||
        nla_put_u8(msg, IFLA_BRPORT_MODE, 1) < 0) {
        nlmsg_free(msg);
        return kr_error_set(err, KR_E_INTERNAL, "hairpin mode on %s: message too long", name);
    }
    nla_nest_end(msg, pi);
    int rc = nl_send_sync(sk, msg); /* frees msg */
    if (rc < 0)
        return nl_fail(err, rc, "setting hairpin mode on", name);
    return 0;
}

static int veth_create(struct nl_sock *sk, const br_pod_link_t *pl, int nsfd, kr_error_t *err)
{
    struct rtnl_link *veth = rtnl_link_veth_alloc();
    if (veth == NULL)
        abort();
    struct rtnl_link *peer = rtnl_link_veth_get_peer(veth);
    rtnl_link_set_name(veth, pl->host_if);
    rtnl_link_set_mtu(veth, (unsigned)pl->mtu);
    rtnl_link_set_master(veth, pl->bridge_ifindex);
    rtnl_link_set_flags(veth, IFF_UP);
    /* the peer is born in the pod's namespace, named eth0 there */
    rtnl_link_set_name(peer, POD_IF);
    rtnl_link_set_mtu(peer, (unsigned)pl->mtu);
    rtnl_link_set_ns_fd(peer, nsfd);
    int rc = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(peer);
    rtnl_link_veth_release(veth);
    if (rc < 0)
        return nl_fail(err, rc, "creating the veth pair", pl->host_if);
    return 0;
}

/* Inside the pod: eth0 and lo up, the address, the default route. */
static int pod_side(struct nl_sock *sk, const br_pod_link_t *pl, kr_error_t *err)
{
    struct rtnl_link *eth = NULL, *lo = NULL;
    int rc = rtnl_link_get_kernel(sk, 0, POD_IF, &eth);
    if (rc < 0)
        return nl_fail(err, rc, "looking up", POD_IF " in the sandbox");
    int ifindex = rtnl_link_get_ifindex(eth);
    int ret = link_up(sk, eth, 0, err);
    rtnl_link_put(eth);
    if (ret < 0)
        return ret;
    if ((rc = rtnl_link_get_kernel(sk, 0, "lo", &lo)) < 0)
        return nl_fail(err, rc, "looking up", "lo in the sandbox");
    ret = link_up(sk, lo, 0, err);
    rtnl_link_put(lo);
    if (ret < 0)
        return ret;
    if ((ret = addr_add(sk, ifindex, pl->ip, pl->prefix, POD_IF, err)) < 0)
        return ret;
    struct in_addr any = {0};
    struct rtnl_route *r = route_new(any, 0, pl->gw, ifindex);
    rc = rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_route_put(r);
    if (rc < 0)
        return nl_fail(err, rc, "adding the default route in", "the sandbox");
    return 0;
}

int br_link_pod_add(const br_pod_link_t *pl, kr_error_t *err)
{
    int nsfd = open(pl->netns_path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "opening the sandbox's network namespace %s: %s",
                            pl->netns_path, strerror(errno));
    struct nl_sock *sk = sock_open(err), *psk = NULL;
    int ret = -KR_E_INTERNAL;
    if (sk == NULL)
        goto out;
    psk = sock_open_in(nsfd, err);
    if (psk == NULL)
        goto out;
    struct rtnl_link *host = NULL, *eth = NULL;
    bool have_host = rtnl_link_get_kernel(sk, 0, pl->host_if, &host) == 0;
    bool have_eth = rtnl_link_get_kernel(psk, 0, POD_IF, &eth) == 0;
    if (eth != NULL)
        rtnl_link_put(eth);
    if (have_host && !have_eth) {
        /* a pair of an earlier namespace (or half of one): made again */
        rtnl_link_delete(sk, host);
        rtnl_link_put(host);
        host = NULL;
        have_host = false;
    }
    if (!have_host) {
        if (have_eth) {
            ret = kr_error_set(err, KR_E_CONFLICT, "the sandbox has an %s that is not %s's peer",
                               POD_IF, pl->host_if);
            goto out;
        }
        if ((ret = veth_create(sk, pl, nsfd, err)) < 0)
            goto out;
        int rc = rtnl_link_get_kernel(sk, 0, pl->host_if, &host);
        if (rc < 0) {
            ret = nl_fail(err, rc, "looking up", pl->host_if);
            goto out;
        }
    } else if (rtnl_link_get_master(host) != pl->bridge_ifindex) {
        struct rtnl_link *ch = rtnl_link_alloc();
        if (ch == NULL)
            abort();
        rtnl_link_set_master(ch, pl->bridge_ifindex);
        int rc = rtnl_link_change(sk, host, ch, 0);
        rtnl_link_put(ch);
        if (rc < 0) {
            rtnl_link_put(host);
            ret = nl_fail(err, rc, "attaching to the bridge", pl->host_if);
            goto out;
        }
    }
    ret = link_up(sk, host, 0, err);
    int host_index = rtnl_link_get_ifindex(host);
    rtnl_link_put(host);
    if (ret == 0 && pl->hairpin)
        ret = hairpin_on(sk, host_index, pl->host_if, err);
    if (ret == 0)
        ret = pod_side(psk, pl, err);
out:
    if (psk != NULL)
        nl_socket_free(psk);
    if (sk != NULL)
        nl_socket_free(sk);
    close(nsfd);
    return ret;
}

int br_link_del(const char *name, kr_error_t *err)
{
    struct nl_sock *sk = sock_open(err);
    if (sk == NULL)
        return -KR_E_INTERNAL;
    struct rtnl_link *link = rtnl_link_alloc();
    if (link == NULL)
        abort();
    rtnl_link_set_name(link, name);
    int rc = rtnl_link_delete(sk, link);
    rtnl_link_put(link);
    nl_socket_free(sk);
    if (rc < 0 && rc != -NLE_NODEV && rc != -NLE_OBJ_NOTFOUND)
        return nl_fail(err, rc, "deleting", name);
    return 0;
}

int br_sysctl_set(const char *key, const char *value, kr_error_t *err)
{
    char path[256];
    int n = snprintf(path, sizeof path, "/proc/sys/%s", key);
    if (n < 0 || (size_t)n >= sizeof path)
        return kr_error_set(err, KR_E_INVALID, "sysctl %s: name too long", key);
    for (char *p = path + strlen("/proc/sys/"); *p; p++)
        if (*p == '.')
            *p = '/';
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "sysctl %s: %s", key, strerror(errno));
    ssize_t w = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    if (w != (ssize_t)strlen(value))
        return kr_error_set(err, KR_E_INTERNAL, "sysctl %s=%s: %s", key, value,
                            w < 0 ? strerror(e) : "short write");
    return 0;
}
