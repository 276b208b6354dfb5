/* libiptc helpers: the xtables lock, table handles, our chains, rule blobs.
 * See netipt.h. */
#include "netipt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_recent.h>
#include <linux/netfilter/xt_statistic.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>

/* ------------------------------------------------------------------ */
/* Lock */

int netipt_lock(int wait_ms, kr_error_t *err)
{
    const char *path = getenv("XTABLES_LOCKFILE");
    if (!path || !*path)
        path = NETIPT_LOCK_PATH;
    int fd = open(path, O_CREAT | O_CLOEXEC | O_RDWR, 0600);
    if (fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "opening the xtables lock %s: %s", path,
                            strerror(errno));
    /* iptables -w polls too (its "wait interval"); a blocking flock with
     * an alarm would need a signal handler in a shared process. */
    const int step_ms = 2;
    for (int waited = 0;; waited += step_ms) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            close(fd);
            return kr_error_set(err, KR_E_INTERNAL, "locking %s: %s", path, strerror(e));
        }
        if (waited >= wait_ms) {
            close(fd);
            return kr_error_set(err, KR_E_TIMEOUT,
                                "another app is currently holding the xtables lock (%s); "
                                "stopped waiting after %d ms",
                                path, wait_ms);
        }
        struct timespec ts = {0, step_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void netipt_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing drops the flock */
}

/* ------------------------------------------------------------------ */
/* Tables and chains */

struct xtc_handle *netipt_table_open(const char *table, kr_error_t *err)
{
    /* The kernel answers EAGAIN when the table changed between the size
     * and the entries query (a writer that does not take the lock). */
    for (int i = 0; i < 5; i++) {
        struct xtc_handle *h = iptc_init(table);
        if (h)
            return h;
        if (errno != EAGAIN)
            break;
    }
    kr_error_set(err, KR_E_INTERNAL, "can't initialize iptables table `%s': %s", table,
                 iptc_strerror(errno));
    return NULL;
}

int netipt_table_commit(struct xtc_handle *h, const char *table, kr_error_t *err)
{
    if (!iptc_commit(h))
        return kr_error_set(err, KR_E_INTERNAL, "committing table `%s': %s", table,
                            iptc_strerror(errno));
    return 0;
}

void netipt_table_free(struct xtc_handle **h_p)
{
    if (h_p && *h_p) {
        iptc_free(*h_p);
        *h_p = NULL;
    }
}

int netipt_chain_ensure(struct xtc_handle *h, const char *chain, bool flush, kr_error_t *err)
{
    if (iptc_is_chain(chain, h)) {
        if (flush && !iptc_flush_entries(chain, h))
            return kr_error_set(err, KR_E_INTERNAL, "flushing chain %s: %s", chain,
                                iptc_strerror(errno));
        return 0;
    }
    if (strlen(chain) >= XT_EXTENSION_MAXNAMELEN)
        return kr_error_set(err, KR_E_INVALID, "chain name `%s' too long (must be under %d chars)",
                            chain, XT_EXTENSION_MAXNAMELEN);
    if (!iptc_create_chain(chain, h))
        return kr_error_set(err, KR_E_INTERNAL, "creating chain %s: %s", chain,
                            iptc_strerror(errno));
    return 0;
}

int netipt_chain_remove(struct xtc_handle *h, const char *chain, kr_error_t *err)
{
    if (!iptc_is_chain(chain, h))
        return 0;
    if (!iptc_flush_entries(chain, h) || !iptc_delete_chain(chain, h))
        return kr_error_set(err, KR_E_INTERNAL, "deleting chain %s: %s", chain,
                            iptc_strerror(errno));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rule building */

#define MATCH_HDR  XT_ALIGN(sizeof(struct xt_entry_match))
#define TARGET_HDR XT_ALIGN(sizeof(struct xt_entry_target))

static struct ipt_entry *entry_of(netipt_rule_t *r)
{
    return (struct ipt_entry *)(void *)r->bytes;
}

void netipt_rule_init(netipt_rule_t *r)
{
    memset(r, 0, sizeof(*r));
    r->len = XT_ALIGN(sizeof(struct ipt_entry));
    entry_of(r)->target_offset = (uint16_t)r->len;
    entry_of(r)->next_offset = (uint16_t)r->len;
}

static uint32_t prefix_mask(int prefix)
{
    if (prefix <= 0)
        return 0;
    if (prefix >= 32)
        return 0xffffffffu;
    return htonl(0xffffffffu << (32 - prefix));
}

void netipt_rule_src(netipt_rule_t *r, uint32_t addr, int prefix, bool invert)
{
    entry_of(r)->ip.smsk.s_addr = prefix_mask(prefix);
    entry_of(r)->ip.src.s_addr = addr & entry_of(r)->ip.smsk.s_addr;
    if (invert)
        entry_of(r)->ip.invflags |= IPT_INV_SRCIP;
}

void netipt_rule_dst(netipt_rule_t *r, uint32_t addr, int prefix, bool invert)
{
    entry_of(r)->ip.dmsk.s_addr = prefix_mask(prefix);
    entry_of(r)->ip.dst.s_addr = addr & entry_of(r)->ip.dmsk.s_addr;
    if (invert)
        entry_of(r)->ip.invflags |= IPT_INV_DSTIP;
}

void netipt_rule_proto(netipt_rule_t *r, uint8_t proto)
{
    entry_of(r)->ip.proto = proto;
}

static void set_iface(char name[IFNAMSIZ], unsigned char mask[IFNAMSIZ], const char *in)
{
    size_t n = strlen(in);
    if (n >= IFNAMSIZ)
        n = IFNAMSIZ - 1;
    memset(name, 0, IFNAMSIZ);
    memset(mask, 0, IFNAMSIZ);
    memcpy(name, in, n);
    /* iptables' xtables_parse_interface: "eth+" matches the prefix only;
     * a full name matches the NUL too. */
    if (n > 0 && in[n - 1] == '+') {
        name[n - 1] = 0;
        memset(mask, 0xff, n - 1);
    } else {
        memset(mask, 0xff, n + 1);
    }
}

void netipt_rule_in_iface(netipt_rule_t *r, const char *name, bool invert)
{
    set_iface(entry_of(r)->ip.iniface, entry_of(r)->ip.iniface_mask, name);
    if (invert)
        entry_of(r)->ip.invflags |= IPT_INV_VIA_IN;
}

void netipt_rule_out_iface(netipt_rule_t *r, const char *name, bool invert)
{
    set_iface(entry_of(r)->ip.outiface, entry_of(r)->ip.outiface_mask, name);
    if (invert)
        entry_of(r)->ip.invflags |= IPT_INV_VIA_OUT;
}

/* Room for a match of `datalen` bytes, before the target. */
static void *add_match(netipt_rule_t *r, const char *name, uint8_t revision, size_t datalen)
{
    size_t size = MATCH_HDR + XT_ALIGN(datalen);
    if (r->has_target || r->overflow || r->len + size > sizeof(r->bytes)) {
        r->overflow = true;
        return NULL;
    }
    struct xt_entry_match *m = (struct xt_entry_match *)(r->bytes + r->len);
    memset(m, 0, size);
    m->u.user.match_size = (uint16_t)size;
    snprintf(m->u.user.name, sizeof(m->u.user.name), "%s", name);
    m->u.user.revision = revision;
    r->len += size;
    entry_of(r)->target_offset = (uint16_t)r->len;
    entry_of(r)->next_offset = (uint16_t)r->len;
    return m->data;
}

static void *add_target(netipt_rule_t *r, const char *name, uint8_t revision, size_t datalen)
{
    size_t size = TARGET_HDR + XT_ALIGN(datalen);
    if (r->has_target || r->overflow || r->len + size > sizeof(r->bytes)) {
        r->overflow = true;
        return NULL;
    }
    struct xt_entry_target *t = (struct xt_entry_target *)(r->bytes + r->len);
    memset(t, 0, size);
    t->u.user.target_size = (uint16_t)size;
    snprintf(t->u.user.name, sizeof(t->u.user.name), "%s", name);
    t->u.user.revision = revision;
    entry_of(r)->target_offset = (uint16_t)r->len;
    r->len += size;
    entry_of(r)->next_offset = (uint16_t)r->len;
    r->has_target = true;
    return t->data;
}

void netipt_match_dport(netipt_rule_t *r, uint8_t proto, uint16_t dport)
{
    netipt_rule_proto(r, proto);
    uint16_t lo = dport, hi = dport ? dport : 0xffff;
    if (proto == IPPROTO_UDP) {
        struct xt_udp *u = add_match(r, "udp", 0, sizeof(*u));
        if (u) {
            u->spts[1] = 0xffff;
            u->dpts[0] = lo;
            u->dpts[1] = hi;
        }
        return;
    }
    if (proto != IPPROTO_TCP) {
        /* sctp and others: -p alone (their port matches are not needed). */
        return;
    }
    struct xt_tcp *t = add_match(r, "tcp", 0, sizeof(*t));
    if (t) {
        t->spts[1] = 0xffff;
        t->dpts[0] = lo;
        t->dpts[1] = hi;
    }
}

void netipt_match_addrtype_dst(netipt_rule_t *r, uint16_t dst_type)
{
    struct xt_addrtype_info_v1 *a = add_match(r, "addrtype", 1, sizeof(*a));
    if (a)
        a->dest = dst_type;
}

void netipt_match_comment(netipt_rule_t *r, const char *text)
{
    struct xt_comment_info *c = add_match(r, "comment", 0, sizeof(*c));
    if (c)
        snprintf(c->comment, sizeof(c->comment), "%s", text);
}

void netipt_match_random(netipt_rule_t *r, double p)
{
    struct xt_statistic_info *s = add_match(r, "statistic", 0, sizeof(*s));
    if (!s)
        return;
    s->mode = XT_STATISTIC_MODE_RANDOM;
    /* iptables' libxt_statistic: lround(0x80000000 * p), compared by the
     * kernel with 31 random bits. */
    s->u.random.probability = (uint32_t)lround(0x80000000 * p);
}

void netipt_match_mark(netipt_rule_t *r, uint32_t mark, uint32_t mask, bool invert)
{
    struct xt_mark_mtinfo1 *m = add_match(r, "mark", 1, sizeof(*m));
    if (m) {
        m->mark = mark;
        m->mask = mask;
        m->invert = invert;
    }
}

static void add_recent(netipt_rule_t *r, const char *name, uint8_t check_set, uint32_t seconds)
{
    struct xt_recent_mtinfo_v1 *m = add_match(r, "recent", 1, sizeof(*m));
    if (!m)
        return;
    m->seconds = seconds;
    m->check_set = check_set;
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->side = XT_RECENT_SOURCE;
    m->mask.ip = 0xffffffffu;
}

void netipt_match_recent_set(netipt_rule_t *r, const char *name)
{
    add_recent(r, name, XT_RECENT_SET, 0);
}

void netipt_match_recent_check(netipt_rule_t *r, const char *name, uint32_t seconds)
{
    add_recent(r, name, XT_RECENT_CHECK | XT_RECENT_REAP, seconds);
}

void netipt_match_ctstate(netipt_rule_t *r, uint16_t states)
{
    /* Revision 3, the one iptables 1.8 writes. */
    struct xt_conntrack_mtinfo3 *c = add_match(r, "conntrack", 3, sizeof(*c));
    if (c) {
        c->match_flags = XT_CONNTRACK_STATE;
        c->state_mask = states;
    }
}

void netipt_target_jump(netipt_rule_t *r, const char *chain)
{
    /* libiptc resolves the name: a verdict, or one of the table's chains. */
    add_target(r, chain, 0, sizeof(int));
}

void netipt_target_mark(netipt_rule_t *r, uint32_t mark, uint32_t mask)
{
    struct xt_mark_tginfo2 *m = add_target(r, "MARK", 2, sizeof(*m));
    if (m) {
        m->mark = mark;
        m->mask = mask;
    }
}

void netipt_target_dnat(netipt_rule_t *r, uint32_t addr, uint16_t port)
{
    /* Revision 2 (nf_nat_range2), what iptables 1.8 writes and reads back;
     * it prints revision 0 as "[unsupported revision]". */
    struct nf_nat_range2 *n = add_target(r, "DNAT", 2, sizeof(*n));
    if (!n)
        return;
    n->flags = NF_NAT_RANGE_MAP_IPS;
    n->min_addr.ip = n->max_addr.ip = addr;
    if (port) {
        n->flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
        n->min_proto.tcp.port = n->max_proto.tcp.port = htons(port);
    }
}

void netipt_target_masquerade(netipt_rule_t *r, bool random_fully)
{
    struct nf_nat_ipv4_multi_range_compat *n = add_target(r, "MASQUERADE", 0, sizeof(*n));
    if (!n)
        return;
    n->rangesize = 1;
    if (random_fully)
        n->range[0].flags = NF_NAT_RANGE_PROTO_RANDOM_FULLY;
}

void netipt_target_reject(netipt_rule_t *r)
{
    struct ipt_reject_info *j = add_target(r, "REJECT", 0, sizeof(*j));
    if (j)
        j->with = IPT_ICMP_PORT_UNREACHABLE;
}

const struct ipt_entry *netipt_rule_entry(const netipt_rule_t *r)
{
    if (r->overflow || !r->has_target)
        return NULL;
    return (const struct ipt_entry *)(const void *)r->bytes;
}

static const struct ipt_entry *entry_or_error(const netipt_rule_t *r, const char *chain,
                                              kr_error_t *err)
{
    const struct ipt_entry *e = netipt_rule_entry(r);
    if (!e)
        kr_error_set(err, KR_E_INVALID, "a rule for chain %s %s", chain,
                     r->overflow ? "is too large" : "has no target");
    return e;
}

int netipt_rule_append(struct xtc_handle *h, const char *chain, const netipt_rule_t *r,
                       kr_error_t *err)
{
    const struct ipt_entry *e = entry_or_error(r, chain, err);
    if (!e)
        return -KR_E_INVALID;
    if (!iptc_append_entry(chain, e, h))
        return kr_error_set(err, KR_E_INTERNAL, "appending a rule to chain %s: %s", chain,
                            iptc_strerror(errno));
    return 0;
}

int netipt_rule_insert(struct xtc_handle *h, const char *chain, const netipt_rule_t *r,
                       unsigned position, kr_error_t *err)
{
    const struct ipt_entry *e = entry_or_error(r, chain, err);
    if (!e)
        return -KR_E_INVALID;
    if (!iptc_insert_entry(chain, e, position, h))
        return kr_error_set(err, KR_E_INTERNAL, "inserting a rule into chain %s: %s", chain,
                            iptc_strerror(errno));
    return 0;
}

static bool entry_equal(struct xtc_handle *h, const struct ipt_entry *have,
                        const struct ipt_entry *want);

bool netipt_rule_is(struct xtc_handle *h, const struct ipt_entry *have, const netipt_rule_t *r)
{
    const struct ipt_entry *want = netipt_rule_entry(r);
    return have && want && entry_equal(h, have, want);
}

/* Whether libiptc's entry `have` (of handle h) is our rule `want`: the
 * same addresses, matches and target.  Counters, cache bits and the
 * kernel's jump offsets do not count. */
static bool entry_equal(struct xtc_handle *h, const struct ipt_entry *have,
                        const struct ipt_entry *want)
{
    if (memcmp(&have->ip, &want->ip, sizeof(want->ip)) != 0 ||
        have->target_offset != want->target_offset || have->next_offset != want->next_offset)
        return false;
    /* Match by match: the kernel hands back names with whatever followed
     * the NUL in the reader's buffer. */
    for (size_t off = XT_ALIGN(sizeof(struct ipt_entry)); off < want->target_offset;) {
        const struct xt_entry_match *hm = (const void *)((const unsigned char *)have + off);
        const struct xt_entry_match *wm = (const void *)((const unsigned char *)want + off);
        size_t size = wm->u.user.match_size;
        if (hm->u.user.match_size != size || hm->u.user.revision != wm->u.user.revision ||
            strncmp(hm->u.user.name, wm->u.user.name, sizeof(wm->u.user.name)) != 0 ||
            size < MATCH_HDR || memcmp(hm->data, wm->data, size - MATCH_HDR) != 0)
            return false;
        off += size;
    }
    const struct xt_entry_target *wt =
        (const void *)((const unsigned char *)want + want->target_offset);
    const char *name = iptc_get_target(have, h);
    if (!name || strcmp(name, wt->u.user.name) != 0)
        return false;
    if (!strcmp(wt->u.user.name, "") || iptc_is_chain(wt->u.user.name, h) ||
        !strcmp(wt->u.user.name, IPTC_LABEL_RETURN) ||
        !strcmp(wt->u.user.name, IPTC_LABEL_ACCEPT) || !strcmp(wt->u.user.name, IPTC_LABEL_DROP))
        return true; /* a standard target: the name said it all */
    const struct xt_entry_target *ht =
        (const void *)((const unsigned char *)have + have->target_offset);
    size_t tlen = want->next_offset - want->target_offset;
    return memcmp(ht->data, wt->data, tlen - TARGET_HDR) == 0;
}

int netipt_rule_ensure(struct xtc_handle *h, const char *chain, const netipt_rule_t *r, bool first,
                       kr_error_t *err)
{
    const struct ipt_entry *want = entry_or_error(r, chain, err);
    if (!want)
        return -KR_E_INVALID;
    if (!iptc_is_chain(chain, h))
        return kr_error_set(err, KR_E_NOT_FOUND, "no chain %s in this table", chain);
    /* Rule numbers of the copies, so the extra ones are deleted from the
     * last back (deleting shifts the numbers after it). */
    unsigned found[16];
    unsigned nfound = 0, num = 0;
    for (const struct ipt_entry *e = iptc_first_rule(chain, h); e;
         e = iptc_next_rule(e, h), num++) {
        if (entry_equal(h, e, want) && nfound < sizeof(found) / sizeof(found[0]))
            found[nfound++] = num;
    }
    if (nfound == 1)
        return 0;
    if (nfound == 0) {
        int rc =
            first ? netipt_rule_insert(h, chain, r, 0, err) : netipt_rule_append(h, chain, r, err);
        return rc < 0 ? rc : 1;
    }
    for (unsigned i = nfound - 1; i >= 1; i--) {
        if (!iptc_delete_num_entry(chain, found[i], h))
            return kr_error_set(err, KR_E_INTERNAL, "deleting a duplicate rule from chain %s: %s",
                                chain, iptc_strerror(errno));
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Reading rules back */

typedef struct sbuf {
    char *p;
    size_t size, len;
} sbuf_t;

__attribute__((format(printf, 2, 3))) static void sb_add(sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->size ? b->size - b->len : 0;
    int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

static void sb_addr(sbuf_t *b, const char *flag, bool inv, struct in_addr a, struct in_addr m)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, ip, sizeof(ip));
    int prefix = __builtin_popcount(m.s_addr);
    sb_add(b, "%s%s %s/%d ", inv ? "! " : "", flag, ip, prefix);
}

static void sb_iface(sbuf_t *b, const char *flag, bool inv, const char *name,
                     const unsigned char *mask)
{
    if (!name[0])
        return;
    size_t n = strnlen(name, IFNAMSIZ);
    bool prefix = n < IFNAMSIZ && mask[n] == 0;
    sb_add(b, "%s%s %.*s%s ", inv ? "! " : "", flag, (int)n, name, prefix ? "+" : "");
}

static const char *proto_name(uint8_t p)
{
    switch (p) {
    case IPPROTO_TCP:
        return "tcp";
    case IPPROTO_UDP:
        return "udp";
    case IPPROTO_SCTP:
        return "sctp";
    case IPPROTO_ICMP:
        return "icmp";
    default:
        return NULL;
    }
}

/* iptables' xtables_save_string: anything but [A-Za-z0-9_-] is quoted,
 * with \ before " \ and '. */
static void sb_string(sbuf_t *b, const char *s)
{
    static const char plain[] = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    size_t n = strspn(s, plain);
    if (n > 0 && s[n] == 0) {
        sb_add(b, "%s ", s);
        return;
    }
    sb_add(b, "\"");
    for (const char *c = s; *c; c++)
        sb_add(b, "%s%c", strchr("\"\\'", *c) ? "\\" : "", *c);
    sb_add(b, "\" ");
}

static void format_match(sbuf_t *b, const struct xt_entry_match *m)
{
    const char *n = m->u.user.name;
    sb_add(b, "-m %s ", n);
    if (!strcmp(n, "tcp") || !strcmp(n, "udp")) {
        /* xt_tcp and xt_udp start alike: spts[2], dpts[2]. */
        const struct xt_udp *u = (const void *)m->data;
        if (u->dpts[0] == u->dpts[1])
            sb_add(b, "--dport %u ", u->dpts[0]);
        else if (u->dpts[0] != 0 || u->dpts[1] != 0xffff)
            sb_add(b, "--dport %u:%u ", u->dpts[0], u->dpts[1]);
    } else if (!strcmp(n, "addrtype") && m->u.user.revision == 1) {
        const struct xt_addrtype_info_v1 *a = (const void *)m->data;
        if (a->dest == XT_ADDRTYPE_LOCAL)
            sb_add(b, "--dst-type LOCAL ");
        else if (a->dest)
            sb_add(b, "--dst-type 0x%x ", a->dest);
    } else if (!strcmp(n, "comment")) {
        const struct xt_comment_info *c = (const void *)m->data;
        char text[XT_MAX_COMMENT_LEN + 1];
        snprintf(text, sizeof(text), "%.*s", XT_MAX_COMMENT_LEN, c->comment);
        sb_add(b, "--comment ");
        sb_string(b, text);
    } else if (!strcmp(n, "statistic")) {
        const struct xt_statistic_info *s = (const void *)m->data;
        sb_add(b, "--mode random --probability %.11f ",
               (double)s->u.random.probability / 0x80000000);
    } else if (!strcmp(n, "mark") && m->u.user.revision == 1) {
        const struct xt_mark_mtinfo1 *k = (const void *)m->data;
        sb_add(b, "%s--mark 0x%x/0x%x ", k->invert ? "! " : "", k->mark, k->mask);
    } else if (!strcmp(n, "conntrack") && m->u.user.revision == 3) {
        const struct xt_conntrack_mtinfo3 *c = (const void *)m->data;
        /* libxt_conntrack's order. */
        static const struct {
            uint16_t bit;
            const char *name;
        } states[] = {{NETIPT_CT_INVALID, "INVALID"},
                      {NETIPT_CT_NEW, "NEW"},
                      {NETIPT_CT_RELATED, "RELATED"},
                      {NETIPT_CT_ESTABLISHED, "ESTABLISHED"}};
        if (c->match_flags & XT_CONNTRACK_STATE) {
            const char *sep = "--ctstate ";
            for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                if (c->state_mask & states[i].bit) {
                    sb_add(b, "%s%s", sep, states[i].name);
                    sep = ",";
                }
            }
            sb_add(b, " ");
        }
    } else if (!strcmp(n, "recent") && m->u.user.revision == 1) {
        const struct xt_recent_mtinfo_v1 *k = (const void *)m->data;
        if (k->check_set & XT_RECENT_SET)
            sb_add(b, "--set ");
        if (k->check_set & XT_RECENT_CHECK)
            sb_add(b, "--rcheck ");
        if (k->seconds)
            sb_add(b, "--seconds %u ", k->seconds);
        if (k->check_set & XT_RECENT_REAP)
            sb_add(b, "--reap ");
        char mask[INET_ADDRSTRLEN];
        struct in_addr ma = {k->mask.ip};
        inet_ntop(AF_INET, &ma, mask, sizeof(mask));
        sb_add(b, "--name %.*s --mask %s %s ", XT_RECENT_NAME_LEN, k->name, mask,
               k->side == XT_RECENT_DEST ? "--rdest" : "--rsource");
    }
}

static void format_target(sbuf_t *b, const struct xt_entry_target *t, const char *name)
{
    sb_add(b, "-j %s", name);
    if (!strcmp(name, "DNAT") && t->u.user.revision == 2) {
        const struct nf_nat_range2 *n = (const void *)t->data;
        if (n->flags & NF_NAT_RANGE_MAP_IPS) {
            char ip[INET_ADDRSTRLEN];
            struct in_addr a = {n->min_addr.ip};
            inet_ntop(AF_INET, &a, ip, sizeof(ip));
            sb_add(b, " --to-destination %s", ip);
            if (n->flags & NF_NAT_RANGE_PROTO_SPECIFIED)
                sb_add(b, ":%u", ntohs(n->min_proto.tcp.port));
        }
    } else if (!strcmp(name, "MASQUERADE")) {
        const struct nf_nat_ipv4_multi_range_compat *n = (const void *)t->data;
        if (n->range[0].flags & NF_NAT_RANGE_PROTO_RANDOM_FULLY)
            sb_add(b, " --random-fully");
    } else if (!strcmp(name, "MARK") && t->u.user.revision == 2) {
        const struct xt_mark_tginfo2 *m = (const void *)t->data;
        sb_add(b, " --set-xmark 0x%x/0x%x", m->mark, m->mask);
    } else if (!strcmp(name, "REJECT")) {
        const struct ipt_reject_info *j = (const void *)t->data;
        if (j->with == IPT_ICMP_PORT_UNREACHABLE)
            sb_add(b, " --reject-with icmp-port-unreachable");
    }
}

int netipt_entry_format(const struct ipt_entry *e, const char *target, char *buf, size_t size)
{
    sbuf_t b = {buf, size, 0};
    if (size)
        buf[0] = 0;
    const struct ipt_ip *ip = &e->ip;
    if (ip->smsk.s_addr)
        sb_addr(&b, "-s", ip->invflags & IPT_INV_SRCIP, ip->src, ip->smsk);
    if (ip->dmsk.s_addr)
        sb_addr(&b, "-d", ip->invflags & IPT_INV_DSTIP, ip->dst, ip->dmsk);
    sb_iface(&b, "-i", ip->invflags & IPT_INV_VIA_IN, ip->iniface, ip->iniface_mask);
    sb_iface(&b, "-o", ip->invflags & IPT_INV_VIA_OUT, ip->outiface, ip->outiface_mask);
    if (ip->proto) {
        const char *p = proto_name(ip->proto);
        if (p)
            sb_add(&b, "%s-p %s ", ip->invflags & XT_INV_PROTO ? "! " : "", p);
        else
            sb_add(&b, "%s-p %u ", ip->invflags & XT_INV_PROTO ? "! " : "", ip->proto);
    }
    for (size_t off = XT_ALIGN(sizeof(*e)); off < e->target_offset;) {
        const struct xt_entry_match *m = (const void *)((const unsigned char *)e + off);
        if (m->u.match_size < MATCH_HDR)
            break; /* a corrupt entry: stop rather than loop */
        format_match(&b, m);
        off += m->u.match_size;
    }
    const struct xt_entry_target *t = (const void *)((const unsigned char *)e + e->target_offset);
    format_target(&b, t, target ? target : t->u.user.name);
    if (b.len > INT_MAX)
        return INT_MAX;
    return (int)b.len;
}
