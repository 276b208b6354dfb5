/* network-proxy: Services to rules, after kube-proxy's syncProxyRules.
 * See rules.h. */
#include "rules.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <linux/netfilter/xt_addrtype.h>

const char *proxy_proto_name(uint8_t proto)
{
    switch (proto) {
    case IPPROTO_UDP:
        return "udp";
    case IPPROTO_SCTP:
        return "sctp";
    default:
        return "tcp";
    }
}

/* prefix + base32(sha256(in))[:16], as kube-proxy's portProtoHash and
 * servicePortEndpointChainName: the same Service gets the same suffix as
 * its KUBE-SVC- chain would. */
static void hash_chain(char out[PROXY_CHAIN_MAX], const char *prefix, const char *in)
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char sum[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, in, strlen(in), sum) != 0)
        abort(); /* sha256 is always there; failing means no memory */
    char enc[17];
    /* 16 base32 characters are the first 80 bits: 10 bytes. */
    for (int i = 0; i < 16; i++) {
        int bit = i * 5, byte = bit / 8, shift = bit % 8;
        unsigned v = (unsigned)sum[byte] << 8 | sum[byte + 1];
        enc[i] = b32[(v >> (11 - shift)) & 31];
    }
    enc[16] = 0;
    snprintf(out, PROXY_CHAIN_MAX, "%s%s", prefix, enc);
}

void proxy_svcport_name_chains(proxy_svcport_t *sp)
{
    char in[512];
    const char *proto = proxy_proto_name(sp->proto);
    snprintf(in, sizeof(in), "%s%s", sp->name, proto);
    hash_chain(sp->chain, PROXY_SVC_PREFIX, in);
    for (size_t i = 0; i < sp->neps; i++) {
        char ip[INET_ADDRSTRLEN];
        struct in_addr a = {sp->eps[i].ip};
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        snprintf(in, sizeof(in), "%s%s%s:%u", sp->name, proto, ip, sp->eps[i].port);
        hash_chain(sp->eps[i].chain, PROXY_SEP_PREFIX, in);
    }
}

void proxy_svcport_clear(proxy_svcport_t *sp)
{
    free(sp->name);
    free(sp->eps);
    memset(sp, 0, sizeof(*sp));
}

bool proxy_svcport_equal(const proxy_svcport_t *a, const proxy_svcport_t *b)
{
    if (strcmp(a->name, b->name) != 0 || a->proto != b->proto || a->cluster_ip != b->cluster_ip ||
        a->port != b->port || a->node_port != b->node_port || a->affinity_s != b->affinity_s ||
        a->neps != b->neps)
        return false;
    for (size_t i = 0; i < a->neps; i++)
        if (a->eps[i].ip != b->eps[i].ip || a->eps[i].port != b->eps[i].port)
            return false;
    return true;
}

bool proxy_svcport_has_chains(const proxy_svcport_t *sp)
{
    return sp->cluster_ip != 0 && sp->neps > 0;
}

int proxy_rules_static(const proxy_opts_t *o, proxy_emit_fn emit, void *ud, kr_error_t *err)
{
    (void)o;
    netipt_rule_t r;
    int rc;
    /* -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000 */
    netipt_rule_init(&r);
    netipt_target_mark(&r, PROXY_MASQ_MARK, PROXY_MASQ_MARK);
    if ((rc = emit(ud, PROXY_NAT, PROXY_MARK_MASQ, &r, err)) < 0)
        return rc;
    /* -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN */
    netipt_rule_init(&r);
    netipt_match_mark(&r, PROXY_MASQ_MARK, PROXY_MASQ_MARK, true);
    netipt_target_jump(&r, "RETURN");
    if ((rc = emit(ud, PROXY_NAT, PROXY_POSTROUTING, &r, err)) < 0)
        return rc;
    /* -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000: a packet that is
     * forwarded again (re-encapsulated) is not masqueraded twice. */
    netipt_rule_init(&r);
    netipt_target_mark(&r, PROXY_MASQ_MARK, 0);
    if ((rc = emit(ud, PROXY_NAT, PROXY_POSTROUTING, &r, err)) < 0)
        return rc;
    netipt_rule_init(&r);
    netipt_match_comment(&r, "kraal service traffic requiring SNAT");
    netipt_target_masquerade(&r, true);
    return emit(ud, PROXY_NAT, PROXY_POSTROUTING, &r, err);
}

int proxy_rules_forward(proxy_emit_fn emit, void *ud, kr_error_t *err)
{
    netipt_rule_t r;
    int rc;
    /* kube-proxy's KUBE-FORWARD: a spurious retransmit that conntrack
     * calls INVALID would leave un-DNATed and draw a reset. */
    netipt_rule_init(&r);
    netipt_match_ctstate(&r, NETIPT_CT_INVALID);
    netipt_target_jump(&r, "DROP");
    if ((rc = emit(ud, PROXY_FILTER, PROXY_FORWARD, &r, err)) < 0)
        return rc;
    netipt_rule_init(&r);
    netipt_match_comment(&r, "kraal forwarding rules");
    netipt_match_mark(&r, PROXY_MASQ_MARK, PROXY_MASQ_MARK, false);
    netipt_target_jump(&r, "ACCEPT");
    if ((rc = emit(ud, PROXY_FILTER, PROXY_FORWARD, &r, err)) < 0)
        return rc;
    netipt_rule_init(&r);
    netipt_match_comment(&r, "kraal forwarding conntrack rule");
    netipt_match_ctstate(&r, NETIPT_CT_RELATED | NETIPT_CT_ESTABLISHED);
    netipt_target_jump(&r, "ACCEPT");
    return emit(ud, PROXY_FILTER, PROXY_FORWARD, &r, err);
}

static const proxy_jump_t jumps[] = {
    {PROXY_NAT, "PREROUTING", PROXY_SERVICES, "kraal service portals"},
    {PROXY_NAT, "OUTPUT", PROXY_SERVICES, "kraal service portals"},
    {PROXY_NAT, "POSTROUTING", PROXY_POSTROUTING, "kraal postrouting rules"},
    /* Each is put first in its chain, so the later ones come first:
     * KRAAL-FORWARD's ACCEPTs after the REJECTs of KRAAL-SERVICES. */
    {PROXY_FILTER, "FORWARD", PROXY_FORWARD, "kraal forwarding rules"},
    {PROXY_FILTER, "INPUT", PROXY_EXT_SERVICES, "kraal externally-visible service portals"},
    {PROXY_FILTER, "FORWARD", PROXY_EXT_SERVICES, "kraal externally-visible service portals"},
    {PROXY_FILTER, "INPUT", PROXY_SERVICES, "kraal service portals"},
    {PROXY_FILTER, "FORWARD", PROXY_SERVICES, "kraal service portals"},
    {PROXY_FILTER, "OUTPUT", PROXY_SERVICES, "kraal service portals"},
};

const proxy_jump_t *proxy_jumps(size_t *n)
{
    *n = sizeof(jumps) / sizeof(jumps[0]);
    return jumps;
}

void proxy_jump_rule(const proxy_jump_t *j, netipt_rule_t *r)
{
    netipt_rule_init(r);
    netipt_match_comment(r, j->comment);
    netipt_target_jump(r, j->target);
}

int proxy_rules_entry(const proxy_svcport_t *sp, const proxy_opts_t *o, proxy_emit_fn emit,
                      void *ud, kr_error_t *err)
{
    (void)o;
    if (!proxy_svcport_has_chains(sp))
        return 0;
    netipt_rule_t r;
    char comment[300];
    int rc;
    /* -A KUBE-SERVICES -d CIP/32 -p tcp -m comment --comment "ns/svc:port
     *  cluster IP" -m tcp --dport P -j KUBE-SVC-X */
    netipt_rule_init(&r);
    netipt_rule_dst(&r, sp->cluster_ip, 32, false);
    netipt_rule_proto(&r, sp->proto);
    snprintf(comment, sizeof(comment), "%s cluster IP", sp->name);
    netipt_match_comment(&r, comment);
    netipt_match_dport(&r, sp->proto, sp->port);
    netipt_target_jump(&r, sp->chain);
    if ((rc = emit(ud, PROXY_NAT, PROXY_SERVICES, &r, err)) < 0)
        return rc;
    if (!sp->node_port)
        return 0;
    /* NodePort (externalTrafficPolicy Cluster): always masqueraded, so
     * the answer comes back through this node. */
    for (int i = 0; i < 2; i++) {
        netipt_rule_init(&r);
        netipt_rule_proto(&r, sp->proto);
        netipt_match_comment(&r, sp->name);
        netipt_match_dport(&r, sp->proto, sp->node_port);
        netipt_target_jump(&r, i == 0 ? PROXY_MARK_MASQ : sp->chain);
        if ((rc = emit(ud, PROXY_NAT, PROXY_NODEPORTS, &r, err)) < 0)
            return rc;
    }
    return 0;
}

int proxy_rules_nodeports_jump(proxy_emit_fn emit, void *ud, kr_error_t *err)
{
    netipt_rule_t r;
    netipt_rule_init(&r);
    netipt_match_comment(&r, "kraal service nodeports; NOTE: this must be the last rule in "
                             "this chain");
    netipt_match_addrtype_dst(&r, XT_ADDRTYPE_LOCAL);
    netipt_target_jump(&r, PROXY_NODEPORTS);
    return emit(ud, PROXY_NAT, PROXY_SERVICES, &r, err);
}

int proxy_rules_chains(const proxy_svcport_t *sp, const proxy_opts_t *o, proxy_emit_fn emit,
                       void *ud, kr_error_t *err)
{
    if (!proxy_svcport_has_chains(sp))
        return 0;
    netipt_rule_t r;
    char comment[300];
    int rc;
    /* Traffic to the ClusterIP from outside the pod network is
     * masqueraded, so the answer comes back here to be un-DNATed. */
    if (o->masquerade_all || o->cluster_prefix > 0) {
        netipt_rule_init(&r);
        if (!o->masquerade_all)
            netipt_rule_src(&r, o->cluster_cidr, o->cluster_prefix, true);
        netipt_rule_dst(&r, sp->cluster_ip, 32, false);
        netipt_rule_proto(&r, sp->proto);
        snprintf(comment, sizeof(comment), "%s cluster IP", sp->name);
        netipt_match_comment(&r, comment);
        netipt_match_dport(&r, sp->proto, sp->port);
        netipt_target_jump(&r, PROXY_MARK_MASQ);
        if ((rc = emit(ud, PROXY_NAT, sp->chain, &r, err)) < 0)
            return rc;
    }
    /* sessionAffinity ClientIP: a client seen within the timeout goes
     * back to its endpoint, before the random spread. */
    if (sp->affinity_s) {
        for (size_t i = 0; i < sp->neps; i++) {
            netipt_rule_init(&r);
            netipt_match_recent_check(&r, sp->eps[i].chain, sp->affinity_s);
            netipt_target_jump(&r, sp->eps[i].chain);
            if ((rc = emit(ud, PROXY_NAT, sp->chain, &r, err)) < 0)
                return rc;
        }
    }
    /* An even spread: endpoint i of n is taken with 1/(n-i) of what the
     * ones before it left; the last one takes the rest. */
    for (size_t i = 0; i < sp->neps; i++) {
        netipt_rule_init(&r);
        if (o->comments) {
            char ip[INET_ADDRSTRLEN];
            struct in_addr a = {sp->eps[i].ip};
            inet_ntop(AF_INET, &a, ip, sizeof(ip));
            snprintf(comment, sizeof(comment), "%s -> %s:%u", sp->name, ip, sp->eps[i].port);
            netipt_match_comment(&r, comment);
        }
        if (i + 1 < sp->neps)
            netipt_match_random(&r, 1.0 / (double)(sp->neps - i));
        netipt_target_jump(&r, sp->eps[i].chain);
        if ((rc = emit(ud, PROXY_NAT, sp->chain, &r, err)) < 0)
            return rc;
    }
    for (size_t i = 0; i < sp->neps; i++) {
        const proxy_ep_t *ep = &sp->eps[i];
        /* Hairpin: an endpoint reaching itself through the Service is
         * masqueraded, or it would answer itself directly. */
        netipt_rule_init(&r);
        netipt_rule_src(&r, ep->ip, 32, false);
        netipt_target_jump(&r, PROXY_MARK_MASQ);
        if ((rc = emit(ud, PROXY_NAT, ep->chain, &r, err)) < 0)
            return rc;
        netipt_rule_init(&r);
        netipt_rule_proto(&r, sp->proto);
        if (sp->affinity_s)
            netipt_match_recent_set(&r, ep->chain);
        netipt_match_dport(&r, sp->proto, 0);
        netipt_target_dnat(&r, ep->ip, ep->port);
        if ((rc = emit(ud, PROXY_NAT, ep->chain, &r, err)) < 0)
            return rc;
    }
    return 0;
}

int proxy_rules_reject(const proxy_svcport_t *sp, proxy_emit_fn emit, void *ud, kr_error_t *err)
{
    if (sp->neps > 0 || sp->cluster_ip == 0)
        return 0;
    netipt_rule_t r;
    char comment[300];
    int rc;
    snprintf(comment, sizeof(comment), "%s has no endpoints", sp->name);
    /* -A KUBE-SERVICES -d CIP/32 -p tcp -m comment --comment "... has no
     *  endpoints" -m tcp --dport P -j REJECT */
    netipt_rule_init(&r);
    netipt_rule_dst(&r, sp->cluster_ip, 32, false);
    netipt_rule_proto(&r, sp->proto);
    netipt_match_comment(&r, comment);
    netipt_match_dport(&r, sp->proto, sp->port);
    netipt_target_reject(&r);
    if ((rc = emit(ud, PROXY_FILTER, PROXY_SERVICES, &r, err)) < 0)
        return rc;
    if (!sp->node_port)
        return 0;
    netipt_rule_init(&r);
    netipt_rule_proto(&r, sp->proto);
    netipt_match_comment(&r, comment);
    netipt_match_addrtype_dst(&r, XT_ADDRTYPE_LOCAL);
    netipt_match_dport(&r, sp->proto, sp->node_port);
    netipt_target_reject(&r);
    return emit(ud, PROXY_FILTER, PROXY_EXT_SERVICES, &r, err);
}
