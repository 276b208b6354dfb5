/* network-proxy: stale UDP conntrack entries, deleted through ctnetlink.
 * See conntrack.h. */
#include "conntrack.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

typedef struct ct_tuple {
    uint32_t src, dst;     /* network byte order */
    uint16_t sport, dport; /* network byte order */
    uint8_t proto;
} ct_tuple_t;

typedef struct attrs {
    const struct nlattr **tb;
    int max;
} attrs_t;

static int attr_cb(const struct nlattr *a, void *data)
{
    attrs_t *x = data;
    int type = mnl_attr_get_type(a);
    if (type >= 0 && type <= x->max)
        x->tb[type] = a;
    return MNL_CB_OK;
}

static bool parse_tuple(const struct nlattr *nest, ct_tuple_t *t)
{
    const struct nlattr *tb[CTA_TUPLE_MAX + 1] = {0};
    const struct nlattr *ip[CTA_IP_MAX + 1] = {0};
    const struct nlattr *pr[CTA_PROTO_MAX + 1] = {0};
    attrs_t a = {tb, CTA_TUPLE_MAX}, ai = {ip, CTA_IP_MAX}, ap = {pr, CTA_PROTO_MAX};
    memset(t, 0, sizeof(*t));
    if (!nest || mnl_attr_parse_nested(nest, attr_cb, &a) < 0 || !tb[CTA_TUPLE_IP] ||
        !tb[CTA_TUPLE_PROTO] || mnl_attr_parse_nested(tb[CTA_TUPLE_IP], attr_cb, &ai) < 0 ||
        mnl_attr_parse_nested(tb[CTA_TUPLE_PROTO], attr_cb, &ap) < 0)
        return false;
    if (!ip[CTA_IP_V4_SRC] || !ip[CTA_IP_V4_DST] || !pr[CTA_PROTO_NUM])
        return false; /* IPv6 */
    t->src = mnl_attr_get_u32(ip[CTA_IP_V4_SRC]);
    t->dst = mnl_attr_get_u32(ip[CTA_IP_V4_DST]);
    t->proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
    if (pr[CTA_PROTO_SRC_PORT])
        t->sport = mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT]);
    if (pr[CTA_PROTO_DST_PORT])
        t->dport = mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]);
    return true;
}

typedef struct dump {
    const proxy_ct_stale_t *items;
    size_t n;
    ct_tuple_t *found; /* original tuples of the entries to delete */
    size_t nfound, cap;
} dump_t;

static bool stale(const dump_t *d, const ct_tuple_t *orig, const ct_tuple_t *reply)
{
    for (size_t i = 0; i < d->n; i++) {
        const proxy_ct_stale_t *s = &d->items[i];
        bool to_svc = (s->cluster_ip && orig->dst == s->cluster_ip) ||
                      (s->node_port && orig->dport == htons(s->node_port));
        if (to_svc && (!s->endpoint || reply->src == s->endpoint))
            return true;
    }
    return false;
}

static int entry_cb(const struct nlmsghdr *nlh, void *data)
{
    dump_t *d = data;
    const struct nlattr *tb[CTA_MAX + 1] = {0};
    attrs_t a = {tb, CTA_MAX};
    if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, &a) < 0)
        return MNL_CB_OK; /* not ours to judge: skip it */
    ct_tuple_t orig, reply;
    if (!parse_tuple(tb[CTA_TUPLE_ORIG], &orig) || !parse_tuple(tb[CTA_TUPLE_REPLY], &reply) ||
        orig.proto != IPPROTO_UDP || !stale(d, &orig, &reply))
        return MNL_CB_OK;
    if (d->nfound == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->found = realloc(d->found, d->cap * sizeof(*d->found));
        if (!d->found)
            abort();
    }
    d->found[d->nfound++] = orig;
    return MNL_CB_OK;
}

static struct nlmsghdr *put_header(char *buf, uint16_t msg, uint16_t flags, uint32_t seq)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    nlh->nlmsg_seq = seq;
    struct nfgenmsg *nfh = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfh));
    nfh->nfgen_family = AF_INET;
    nfh->version = NFNETLINK_V0;
    nfh->res_id = 0;
    return nlh;
}

/* Deletes one entry by its original tuple; 1 deleted, 0 gone already. */
static int delete_one(struct mnl_socket *nl, char *buf, size_t size, uint32_t seq,
                      const ct_tuple_t *t)
{
    struct nlmsghdr *nlh = put_header(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, seq);
    struct nlattr *orig = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
    struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, t->src);
    mnl_attr_put_u32(nlh, CTA_IP_V4_DST, t->dst);
    mnl_attr_nest_end(nlh, ip);
    struct nlattr *pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, t->proto);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, t->sport);
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, t->dport);
    mnl_attr_nest_end(nlh, pr);
    mnl_attr_nest_end(nlh, orig);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return 0;
    ssize_t r = mnl_socket_recvfrom(nl, buf, size);
    if (r <= 0)
        return 0;
    return mnl_cb_run(buf, (size_t)r, seq, mnl_socket_get_portid(nl), NULL, NULL) < 0 ? 0 : 1;
}

int proxy_conntrack_clear(const proxy_ct_stale_t *items, size_t n, kr_error_t *err)
{
    if (n == 0)
        return 0;
    struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        if (nl)
            mnl_socket_close(nl);
        return kr_error_set(err, KR_E_INTERNAL, "opening ctnetlink: %s", strerror(e));
    }
    size_t size = MNL_SOCKET_BUFFER_SIZE * 4;
    char *buf = malloc(size);
    if (!buf)
        abort();
    uint32_t seq = (uint32_t)time(NULL), portid = mnl_socket_get_portid(nl);
    dump_t d = {.items = items, .n = n};
    struct nlmsghdr *nlh = put_header(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq);
    int rc = 0;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "listing conntrack entries: %s", strerror(errno));
    } else {
        for (;;) {
            ssize_t r = mnl_socket_recvfrom(nl, buf, size);
            if (r <= 0) {
                rc = kr_error_set(err, KR_E_INTERNAL, "listing conntrack entries: %s",
                                  strerror(errno));
                break;
            }
            int cb = mnl_cb_run(buf, (size_t)r, seq, portid, entry_cb, &d);
            if (cb == MNL_CB_STOP)
                break; /* NLMSG_DONE */
            if (cb < 0) {
                rc = kr_error_set(err, KR_E_INTERNAL, "listing conntrack entries: %s",
                                  strerror(errno));
                break;
            }
        }
    }
    /* Deleted after the dump: a netlink socket answers one request at a
     * time. */
    int deleted = 0;
    for (size_t i = 0; rc == 0 && i < d.nfound; i++)
        deleted += delete_one(nl, buf, size, ++seq, &d.found[i]);
    free(d.found);
    free(buf);
    mnl_socket_close(nl);
    return rc < 0 ? rc : deleted;
}
