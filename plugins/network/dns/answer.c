/* network-dns: answers from the index (see answer.h). */
#include "answer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#define DNS_SCHEMA_VERSION "1.1.0"
#define MAX_LABELS         8
#define NAME_MAX_LEN       256

/* What a lookup found: the sections and the rcode. */
typedef struct result {
    ldns_rr_list *an, *ns, *ar;
    ldns_pkt_rcode rcode;
    bool authoritative;
    bool chase; /* a CNAME out of the domain: the caller resolves its target */
} result_t;

typedef struct query {
    const dns_index_t *idx;
    const dns_zone_conf_t *conf;
    const ldns_rdf *qname; /* as asked: answers keep its case */
    ldns_rr_type qtype;
    char *labels[MAX_LABELS]; /* of the name below the domain, lowercase */
    size_t nlabels;
    unsigned depth; /* CNAMEs followed within the domain */
    result_t *res;
} query_t;

#define MAX_CHASE 8

static void zone_names(query_t *q);
static bool split_zone(query_t *q, char *name, const char *domain);
static char *lower_name(const ldns_rdf *rdf);

static ldns_rdf *dname(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static ldns_rdf *dname(const char *fmt, ...)
{
    char buf[4 * NAME_MAX_LEN]; /* room for escapes; ldns refuses what is too long */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return NULL;
    return ldns_dname_new_frm_str(buf); /* NULL when not a valid name */
}

/* An RR of `type` at a copy of `owner` (consumed: NULL makes no RR). */
static ldns_rr *rr_new(ldns_rdf *owner, ldns_rr_type type, uint32_t ttl)
{
    if (owner == NULL)
        return NULL;
    ldns_rr *rr = ldns_rr_new_frm_type(type);
    if (rr == NULL)
        abort();
    ldns_rr_set_owner(rr, owner);
    ldns_rr_set_ttl(rr, ttl);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    return rr;
}

static void push(ldns_rr_list *list, ldns_rr *rr)
{
    if (rr != NULL)
        ldns_rr_list_push_rr(list, rr);
}

static ldns_rr *rr_addr(ldns_rdf *owner, uint32_t ttl, const dns_ip_t *ip)
{
    bool v4 = ip->family == AF_INET;
    ldns_rr *rr = rr_new(owner, v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, ttl);
    if (rr != NULL)
        ldns_rr_set_rdf(
            rr,
            ldns_rdf_new_frm_data(v4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, v4 ? 4 : 16, ip->addr),
            0);
    return rr;
}

/* CNAME and PTR: one name as rdata */
static ldns_rr *rr_target(ldns_rdf *owner, ldns_rr_type type, uint32_t ttl, ldns_rdf *target)
{
    if (target == NULL) {
        ldns_rdf_deep_free(owner);
        return NULL;
    }
    ldns_rr *rr = rr_new(owner, type, ttl);
    if (rr == NULL) {
        ldns_rdf_deep_free(target);
        return NULL;
    }
    ldns_rr_set_rdf(rr, target, 0);
    return rr;
}

static ldns_rr *rr_srv(ldns_rdf *owner, uint32_t ttl, uint16_t weight, uint16_t port,
                       ldns_rdf *target)
{
    if (target == NULL) {
        ldns_rdf_deep_free(owner);
        return NULL;
    }
    ldns_rr *rr = rr_new(owner, LDNS_RR_TYPE_SRV, ttl);
    if (rr == NULL) {
        ldns_rdf_deep_free(target);
        return NULL;
    }
    ldns_rr_set_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0), 0); /* priority */
    ldns_rr_set_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, weight), 1);
    ldns_rr_set_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, port), 2);
    ldns_rr_set_rdf(rr, target, 3);
    return rr;
}

/* An RR from its presentation form, owned by `owner` instead (to keep the
 * case of the question). */
static ldns_rr *rr_text(ldns_rdf *owner, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static ldns_rr *rr_text(ldns_rdf *owner, const char *fmt, ...)
{
    char buf[4 * NAME_MAX_LEN]; /* the SOA names the domain three times */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ldns_rr *rr = NULL;
    if (n < 0 || (size_t)n >= sizeof buf ||
        ldns_rr_new_frm_str(&rr, buf, 0, NULL, NULL) != LDNS_STATUS_OK) {
        ldns_rdf_deep_free(owner);
        return NULL;
    }
    if (owner != NULL) {
        ldns_rdf_deep_free(ldns_rr_owner(rr));
        ldns_rr_set_owner(rr, owner);
    }
    return rr;
}

static ldns_rr *rr_soa(const query_t *q)
{
    const char *d = q->conf->domain;
    return rr_text(NULL, "%s. %u IN SOA ns.dns.%s. hostmaster.%s. %u 7200 1800 86400 %u", d,
                   q->conf->ttl, d, d, dns_index_serial(q->idx), q->conf->ttl);
}

static ldns_rdf *qowner(const query_t *q)
{
    return ldns_rdf_clone(q->qname);
}

static void nxdomain(query_t *q)
{
    q->res->rcode = LDNS_RCODE_NXDOMAIN;
}

static bool wants(const query_t *q, ldns_rr_type type)
{
    return q->qtype == type || q->qtype == LDNS_RR_TYPE_ANY;
}

static bool wants_ip(const query_t *q, const dns_ip_t *ip)
{
    return wants(q, ip->family == AF_INET ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA);
}

/* ---- the zone's own names ---------------------------------------------------------------- */

static void apex(query_t *q)
{
    const char *d = q->conf->domain;
    if (wants(q, LDNS_RR_TYPE_SOA))
        push(q->res->an, rr_soa(q));
    if (wants(q, LDNS_RR_TYPE_NS)) {
        push(q->res->an,
             rr_target(qowner(q), LDNS_RR_TYPE_NS, q->conf->ttl, dname("ns.dns.%s.", d)));
        push(q->res->ar, rr_addr(dname("ns.dns.%s.", d), q->conf->ttl, &q->conf->ns_ip));
    }
}

/* ---- services ---------------------------------------------------------------------------------- */

static bool ip_in(const dns_ip_t *ips, size_t n, const dns_ip_t *ip)
{
    for (size_t i = 0; i < n; i++)
        if (ips[i].family == ip->family && memcmp(ips[i].addr, ip->addr, 16) == 0)
            return true;
    return false;
}

/* Follows the CNAME to `target`, as a recursive resolver would: within
 * the domain here, outside it through the caller (res->chase). */
static void chase(query_t *q, const ldns_rdf *target)
{
    char *name = lower_name(target);
    query_t sub = {.idx = q->idx,
                   .conf = q->conf,
                   .qname = target,
                   .qtype = q->qtype,
                   .depth = q->depth + 1,
                   .res = q->res};
    if (name != NULL && split_zone(&sub, name, q->conf->domain)) {
        if (sub.depth > MAX_CHASE)
            q->res->rcode = LDNS_RCODE_SERVFAIL; /* a loop of ExternalNames */
        else if (sub.nlabels > MAX_LABELS)
            nxdomain(q);
        else
            zone_names(&sub);
    } else if (name != NULL) {
        q->res->chase = true;
    }
    free(name);
}

/* <svc>.<ns>.svc.<domain> */
static void service(query_t *q, const dns_svc_t *svc)
{
    uint32_t ttl = q->conf->ttl;
    if (svc->type == DNS_SVC_EXTERNAL) {
        ldns_rdf *target = *svc->external ? dname("%s.", svc->external) : NULL;
        if (target == NULL)
            return;
        push(q->res->an, rr_target(qowner(q), LDNS_RR_TYPE_CNAME, ttl, ldns_rdf_clone(target)));
        if (q->qtype != LDNS_RR_TYPE_CNAME && q->qtype != LDNS_RR_TYPE_ANY)
            chase(q, target);
        ldns_rdf_deep_free(target);
        return;
    }
    if (svc->type == DNS_SVC_CLUSTER_IP) {
        for (size_t i = 0; i < svc->nips; i++)
            if (wants_ip(q, &svc->ips[i]))
                push(q->res->an, rr_addr(qowner(q), ttl, &svc->ips[i]));
        return;
    }
    /* headless: every ready address once; no ready endpoint, no name */
    size_t n = 0, cap = 0;
    dns_ip_t *seen = NULL;
    for (const dns_epset_t *s = dns_index_epsets(q->idx, svc); s != NULL; s = s->next)
        for (size_t i = 0; i < s->neps; i++) {
            const dns_ep_t *ep = &s->eps[i];
            if (!ep->ready || ip_in(seen, n, &ep->ip))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                seen = realloc(seen, cap * sizeof *seen);
                if (seen == NULL)
                    abort();
            }
            seen[n++] = ep->ip;
            if (wants_ip(q, &ep->ip))
                push(q->res->an, rr_addr(qowner(q), ttl, &ep->ip));
        }
    free(seen);
    if (n == 0)
        nxdomain(q);
}

/* <hostname>.<svc>.<ns>.svc.<domain> */
static void endpoint(query_t *q, const dns_svc_t *svc, const char *label)
{
    bool found = false;
    char buf[64];
    for (const dns_epset_t *s = dns_index_epsets(q->idx, svc); s != NULL; s = s->next)
        for (size_t i = 0; i < s->neps; i++) {
            const dns_ep_t *ep = &s->eps[i];
            if (!ep->ready || strcmp(dns_ep_label(ep, buf, sizeof buf), label) != 0)
                continue;
            found = true;
            if (wants_ip(q, &ep->ip))
                push(q->res->an, rr_addr(qowner(q), q->conf->ttl, &ep->ip));
        }
    if (!found)
        nxdomain(q);
}

static bool port_match(const dns_port_t *p, const char *name, const char *proto)
{
    return *p->name && strcmp(p->name, name) == 0 && strcmp(p->proto, proto) == 0;
}

/* _<port>._<proto>.<svc>.<ns>.svc.<domain> */
static void srv(query_t *q, const dns_svc_t *svc, const char *port, const char *proto)
{
    uint32_t ttl = q->conf->ttl;
    const char *d = q->conf->domain;
    size_t count = 0;
    if (svc->type == DNS_SVC_CLUSTER_IP) {
        for (size_t i = 0; i < svc->nports; i++)
            count += port_match(&svc->ports[i], port, proto);
        if (count == 0) {
            nxdomain(q);
            return;
        }
        if (!wants(q, LDNS_RR_TYPE_SRV))
            return;
        for (size_t i = 0; i < svc->nports; i++)
            if (port_match(&svc->ports[i], port, proto))
                push(q->res->an, rr_srv(qowner(q), ttl, (uint16_t)(100 / count), svc->ports[i].port,
                                        dname("%s.%s.svc.%s.", svc->name, svc->ns, d)));
        for (size_t i = 0; i < svc->nips; i++)
            push(q->res->ar,
                 rr_addr(dname("%s.%s.svc.%s.", svc->name, svc->ns, d), ttl, &svc->ips[i]));
        return;
    }
    if (svc->type != DNS_SVC_HEADLESS) {
        nxdomain(q);
        return;
    }
    /* headless: one record per ready endpoint and matching port of its
     * slice, aimed at the endpoint's own name */
    const dns_epset_t *sets = dns_index_epsets(q->idx, svc);
    for (const dns_epset_t *s = sets; s != NULL; s = s->next)
        for (size_t j = 0; j < s->nports; j++)
            if (port_match(&s->ports[j], port, proto))
                for (size_t i = 0; i < s->neps; i++)
                    count += s->eps[i].ready;
    if (count == 0) {
        nxdomain(q);
        return;
    }
    if (!wants(q, LDNS_RR_TYPE_SRV))
        return;
    uint16_t weight = count >= 100 ? 1 : (uint16_t)(100 / count);
    char buf[64];
    for (const dns_epset_t *s = sets; s != NULL; s = s->next)
        for (size_t j = 0; j < s->nports; j++) {
            if (!port_match(&s->ports[j], port, proto))
                continue;
            for (size_t i = 0; i < s->neps; i++) {
                const dns_ep_t *ep = &s->eps[i];
                if (!ep->ready)
                    continue;
                const char *label = dns_ep_label(ep, buf, sizeof buf);
                push(q->res->an, rr_srv(qowner(q), ttl, weight, s->ports[j].port,
                                        dname("%s.%s.%s.svc.%s.", label, svc->name, svc->ns, d)));
                push(q->res->ar, rr_addr(dname("%s.%s.%s.svc.%s.", label, svc->name, svc->ns, d),
                                         ttl, &ep->ip));
            }
        }
}

static void svc_names(query_t *q)
{
    char **l = q->labels;
    size_t n = q->nlabels; /* l[n-1] is "svc" */
    if (n == 1)
        return; /* svc.<domain>: a name with names below it */
    if (n == 2) {
        if (!dns_index_has_namespace(q->idx, l[0]))
            nxdomain(q);
        return;
    }
    const dns_svc_t *svc = NULL;
    if (n >= 3 && n <= 5)
        svc = dns_index_service(q->idx, l[n - 2], l[n - 3]);
    if (svc == NULL) {
        nxdomain(q);
        return;
    }
    if (n == 3)
        service(q, svc);
    else if (n == 4)
        endpoint(q, svc, l[0]);
    else if (l[0][0] == '_' && l[1][0] == '_')
        srv(q, svc, l[0] + 1, l[1] + 1);
    else
        nxdomain(q);
}

/* <a>-<b>-<c>-<d>.<ns>.pod.<domain>: the address itself (CoreDNS's "pods
 * insecure", the deprecated records of the specification's 2.6) */
static void pod_names(query_t *q)
{
    if (q->nlabels < 3)
        return;
    if (q->nlabels > 3) {
        nxdomain(q);
        return;
    }
    char text[64];
    snprintf(text, sizeof text, "%s", q->labels[0]);
    bool v6 = strstr(text, "--") != NULL || strchr(text, ':') != NULL;
    for (char *c = text; *c; c++)
        if (*c == '-')
            *c = v6 ? ':' : '.';
    dns_ip_t ip;
    if (!dns_ip_parse(text, &ip)) {
        nxdomain(q);
        return;
    }
    if (wants_ip(q, &ip))
        push(q->res->an, rr_addr(qowner(q), q->conf->ttl, &ip));
}

static void zone_names(query_t *q)
{
    char **l = q->labels;
    size_t n = q->nlabels;
    if (n == 0) {
        apex(q);
    } else if (strcmp(l[n - 1], "svc") == 0) {
        svc_names(q);
    } else if (strcmp(l[n - 1], "pod") == 0) {
        pod_names(q);
    } else if (n == 1 && strcmp(l[0], "dns-version") == 0) {
        if (wants(q, LDNS_RR_TYPE_TXT))
            push(q->res->an, rr_text(qowner(q), "dns-version.%s. %u IN TXT \"%s\"", q->conf->domain,
                                     q->conf->ttl, DNS_SCHEMA_VERSION));
    } else if (n == 1 && strcmp(l[0], "dns") == 0) {
        /* dns.<domain>: holds ns.dns.<domain> */
    } else if (n == 2 && strcmp(l[0], "ns") == 0 && strcmp(l[1], "dns") == 0) {
        if (wants_ip(q, &q->conf->ns_ip))
            push(q->res->an, rr_addr(qowner(q), q->conf->ttl, &q->conf->ns_ip));
    } else {
        nxdomain(q);
    }
}

static void zone_lookup(query_t *q)
{
    q->res->authoritative = true;
    zone_names(q);
    if (ldns_rr_list_rr_count(q->res->an) == 0)
        push(q->res->ns, rr_soa(q)); /* NXDOMAIN and NODATA: the SOA for negative caching */
}

/* ---- PTR ------------------------------------------------------------------------------------ */

typedef struct ptr_ctx {
    query_t *q;
    dns_ip_t ip;
} ptr_ctx_t;

static bool ptr_each(const dns_svc_t *svc, void *ud)
{
    ptr_ctx_t *p = ud;
    query_t *q = p->q;
    const char *d = q->conf->domain;
    uint32_t ttl = q->conf->ttl;
    if (ip_in(svc->ips, svc->nips, &p->ip))
        push(q->res->an, rr_target(qowner(q), LDNS_RR_TYPE_PTR, ttl,
                                   dname("%s.%s.svc.%s.", svc->name, svc->ns, d)));
    char buf[64];
    for (const dns_epset_t *s = dns_index_epsets(q->idx, svc); s != NULL; s = s->next)
        for (size_t i = 0; i < s->neps; i++)
            if (s->eps[i].ready && ip_in(&s->eps[i].ip, 1, &p->ip))
                push(q->res->an,
                     rr_target(qowner(q), LDNS_RR_TYPE_PTR, ttl,
                               dname("%s.%s.%s.svc.%s.", dns_ep_label(&s->eps[i], buf, sizeof buf),
                                     svc->name, svc->ns, d)));
    return true;
}

/* The address of a reverse name: d.c.b.a.in-addr.arpa, or 32 nibbles
 * (the last first) and ip6.arpa. */
static bool ptr_ip(const char *name, dns_ip_t *ip)
{
    memset(ip, 0, sizeof *ip);
    if (strlen(name) == 72 && strcmp(name + 64, "ip6.arpa") == 0) {
        for (int i = 0; i < 32; i++) {
            const char *hex = "0123456789abcdef", *d = strchr(hex, name[2 * i]);
            if (name[2 * i] == '\0' || d == NULL || name[2 * i + 1] != '.')
                return false;
            int nib = 31 - i, v = (int)(d - hex);
            ip->addr[nib / 2] |= (uint8_t)(nib % 2 == 0 ? v << 4 : v);
        }
        ip->family = AF_INET6;
        return true;
    }
    unsigned b[4];
    char tail[32];
    if (sscanf(name, "%3u.%3u.%3u.%3u.%31s", &b[3], &b[2], &b[1], &b[0], tail) != 5 ||
        strcmp(tail, "in-addr.arpa") != 0 || b[0] > 255 || b[1] > 255 || b[2] > 255 || b[3] > 255)
        return false;
    ip->family = AF_INET;
    for (int i = 0; i < 4; i++)
        ip->addr[i] = (uint8_t)b[i];
    return true;
}

/* A reverse name: true when the index knows the address. */
static bool ptr_lookup(query_t *q, const char *name)
{
    ptr_ctx_t p = {.q = q};
    if (!ptr_ip(name, &p.ip))
        return false;
    dns_index_each(q->idx, ptr_each, &p);
    q->res->authoritative = true;
    return ldns_rr_list_rr_count(q->res->an) > 0;
}

/* ---- packets ---------------------------------------------------------------------------------- */

static char *lower_name(const ldns_rdf *rdf)
{
    char *s = ldns_rdf2str(rdf);
    if (s == NULL)
        return NULL;
    for (char *c = s; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    size_t len = strlen(s);
    if (len > 1 && s[len - 1] == '.')
        s[len - 1] = '\0';
    return s;
}

/* The labels of `name` below `domain`; false when it is not in it. */
static bool split_zone(query_t *q, char *name, const char *domain)
{
    size_t nl = strlen(name), dl = strlen(domain);
    if (nl < dl || strcmp(name + nl - dl, domain) != 0)
        return false;
    if (nl == dl)
        return true;
    if (name[nl - dl - 1] != '.')
        return false;
    name[nl - dl - 1] = '\0';
    /* an escaped dot or byte is no Kubernetes name: NXDOMAIN via the
     * label limit below */
    bool odd = strchr(name, '\\') != NULL;
    for (char *tok = name, *dot; tok != NULL; tok = dot ? dot + 1 : NULL) {
        dot = strchr(tok, '.');
        if (dot != NULL)
            *dot = '\0';
        if (q->nlabels == MAX_LABELS || odd) {
            q->nlabels = MAX_LABELS + 1;
            return true;
        }
        q->labels[q->nlabels++] = tok;
    }
    return true;
}

/* Pushes copies of the records of `list` (the packet owns them). */
static void push_copies(ldns_pkt *r, ldns_pkt_section section, const ldns_rr_list *list)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++)
        ldns_pkt_push_rr(r, section, ldns_rr_clone(ldns_rr_list_rr(list, i)));
}

static ldns_pkt *reply_new(const ldns_pkt *query)
{
    ldns_pkt *r = ldns_pkt_new();
    if (r == NULL)
        abort();
    ldns_pkt_set_id(r, ldns_pkt_id(query));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, ldns_pkt_get_opcode(query));
    ldns_pkt_set_rd(r, ldns_pkt_rd(query));
    ldns_pkt_set_cd(r, ldns_pkt_cd(query));
    ldns_pkt_set_ra(r, true);
    push_copies(r, LDNS_SECTION_QUESTION, ldns_pkt_question(query));
    if (ldns_pkt_edns(query))
        ldns_pkt_set_edns_udp_size(r, DNS_UDP_MAX);
    return r;
}

/* Encodes `r`; NULL on failure. */
static uint8_t *encode(const ldns_pkt *r, size_t *len)
{
    uint8_t *wire = NULL;
    if (ldns_pkt2wire(&wire, r, len) != LDNS_STATUS_OK) {
        free(wire);
        return NULL;
    }
    return wire;
}

/* The reply with as much of `res` as fits in `max` bytes. */
static uint8_t *reply_encode(const ldns_pkt *query, result_t *res, size_t max, size_t *outlen)
{
    for (int step = 0; step < 3; step++) {
        ldns_pkt *r = reply_new(query);
        ldns_pkt_set_rcode(r, (uint8_t)res->rcode);
        ldns_pkt_set_aa(r, res->authoritative);
        if (step < 2) {
            push_copies(r, LDNS_SECTION_ANSWER, res->an);
            push_copies(r, LDNS_SECTION_AUTHORITY, res->ns);
        }
        if (step == 0)
            push_copies(r, LDNS_SECTION_ADDITIONAL, res->ar);
        /* additional records may go silently; a cut answer says so */
        ldns_pkt_set_tc(r, step == 2);
        uint8_t *wire = encode(r, outlen);
        ldns_pkt_free(r);
        if (wire == NULL)
            return NULL;
        if (*outlen <= max || step == 2)
            return wire;
        free(wire);
    }
    return NULL;
}

uint8_t *dns_answer_rcode(const uint8_t *q, size_t len, int rcode, size_t *outlen)
{
    if (len < LDNS_HEADER_SIZE)
        return NULL;
    ldns_pkt *query = NULL;
    ldns_pkt *r;
    if (ldns_wire2pkt(&query, q, len) == LDNS_STATUS_OK) {
        r = reply_new(query);
    } else {
        /* unreadable beyond the header: the id and opcode are enough */
        r = ldns_pkt_new();
        if (r == NULL)
            abort();
        ldns_pkt_set_id(r, ldns_read_uint16(q));
        ldns_pkt_set_qr(r, true);
        ldns_pkt_set_opcode(r, (ldns_pkt_opcode)LDNS_OPCODE_WIRE(q));
        ldns_pkt_set_rd(r, LDNS_RD_WIRE(q));
        ldns_pkt_set_ra(r, true);
    }
    ldns_pkt_set_rcode(r, (uint8_t)rcode);
    uint8_t *wire = encode(r, outlen);
    ldns_pkt_free(r);
    ldns_pkt_free(query);
    return wire;
}

uint8_t *dns_chase_query(const uint8_t *reply, size_t len, size_t *qlen)
{
    ldns_pkt *r = NULL;
    if (ldns_wire2pkt(&r, reply, len) != LDNS_STATUS_OK)
        return NULL;
    const ldns_rr_list *an = ldns_pkt_answer(r);
    const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(r), 0);
    const ldns_rdf *target = NULL;
    for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(an, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME)
            target = ldns_rr_rdf(rr, 0);
    }
    uint8_t *wire = NULL;
    if (target != NULL && question != NULL) {
        ldns_pkt *q = ldns_pkt_query_new(ldns_rdf_clone(target), ldns_rr_get_type(question),
                                         LDNS_RR_CLASS_IN, LDNS_RD);
        if (q == NULL)
            abort();
        wire = encode(q, qlen);
        ldns_pkt_free(q);
    }
    ldns_pkt_free(r);
    return wire;
}

uint8_t *dns_chase_merge(const uint8_t *cname, size_t clen, const uint8_t *up, size_t ulen,
                         bool tcp, size_t *outlen)
{
    ldns_pkt *c = NULL, *u = NULL;
    uint8_t *wire = NULL;
    if (ldns_wire2pkt(&c, cname, clen) == LDNS_STATUS_OK &&
        ldns_wire2pkt(&u, up, ulen) == LDNS_STATUS_OK) {
        result_t res = {.an = ldns_rr_list_clone(ldns_pkt_answer(c)),
                        .ns = ldns_rr_list_new(),
                        .ar = ldns_rr_list_new(),
                        .rcode = ldns_pkt_get_rcode(u)};
        const ldns_rr_list *uan = ldns_pkt_answer(u);
        for (size_t i = 0; i < ldns_rr_list_rr_count(uan); i++)
            ldns_rr_list_push_rr(res.an, ldns_rr_clone(ldns_rr_list_rr(uan, i)));
        if (ldns_rr_list_rr_count(uan) == 0) {
            const ldns_rr_list *uns = ldns_pkt_authority(u);
            for (size_t i = 0; i < ldns_rr_list_rr_count(uns); i++)
                ldns_rr_list_push_rr(res.ns, ldns_rr_clone(ldns_rr_list_rr(uns, i)));
        }
        /* the client's EDNS size is not known here: its reply carries
         * EDNS when the query did, and EDNS clients take DNS_UDP_MAX */
        size_t max = tcp ? 65535 : ldns_pkt_edns(c) ? DNS_UDP_MAX : DNS_UDP_MIN;
        wire = reply_encode(c, &res, max, outlen);
        ldns_rr_list_deep_free(res.an);
        ldns_rr_list_deep_free(res.ns);
        ldns_rr_list_deep_free(res.ar);
    }
    ldns_pkt_free(c);
    ldns_pkt_free(u);
    return wire;
}

/* The UDP size a query's client takes. */
static size_t udp_max(const ldns_pkt *query)
{
    size_t max = ldns_pkt_edns(query) ? ldns_pkt_edns_udp_size(query) : DNS_UDP_MIN;
    return max < DNS_UDP_MIN ? DNS_UDP_MIN : max > DNS_UDP_MAX ? DNS_UDP_MAX : max;
}

static void copy_aged(ldns_rr_list *to, const ldns_rr_list *from, uint32_t age_s, uint32_t max)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(from); i++) {
        ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(from, i));
        uint32_t ttl = ldns_rr_ttl(rr);
        ttl = ttl > age_s ? ttl - age_s : 0;
        ldns_rr_set_ttl(rr, ttl < max ? ttl : max);
        ldns_rr_list_push_rr(to, rr);
    }
}

uint8_t *dns_answer_copy(const uint8_t *query, size_t qlen, const uint8_t *reply, size_t rlen,
                         uint32_t age_s, uint32_t max_ttl, bool tcp, size_t *outlen)
{
    ldns_pkt *q = NULL, *r = NULL;
    uint8_t *wire = NULL;
    if (ldns_wire2pkt(&q, query, qlen) == LDNS_STATUS_OK &&
        ldns_wire2pkt(&r, reply, rlen) == LDNS_STATUS_OK) {
        result_t res = {.an = ldns_rr_list_new(),
                        .ns = ldns_rr_list_new(),
                        .ar = ldns_rr_list_new(),
                        .rcode = ldns_pkt_get_rcode(r)};
        copy_aged(res.an, ldns_pkt_answer(r), age_s, max_ttl);
        copy_aged(res.ns, ldns_pkt_authority(r), age_s, max_ttl);
        copy_aged(res.ar, ldns_pkt_additional(r), age_s, max_ttl);
        wire = reply_encode(q, &res, tcp ? 65535 : udp_max(q), outlen);
        ldns_rr_list_deep_free(res.an);
        ldns_rr_list_deep_free(res.ns);
        ldns_rr_list_deep_free(res.ar);
    }
    ldns_pkt_free(q);
    ldns_pkt_free(r);
    return wire;
}

bool dns_query_info(const uint8_t *q, size_t len, char *name, size_t size, uint16_t *qtype,
                    uint16_t *id)
{
    ldns_pkt *p = NULL;
    if (ldns_wire2pkt(&p, q, len) != LDNS_STATUS_OK)
        return false;
    bool ok = ldns_pkt_qdcount(p) == 1;
    if (ok) {
        const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(p), 0);
        char *s = lower_name(ldns_rr_owner(question));
        snprintf(name, size, "%s", s ? s : "");
        free(s);
        *qtype = (uint16_t)ldns_rr_get_type(question);
        *id = ldns_pkt_id(p);
    }
    ldns_pkt_free(p);
    return ok;
}

dns_verdict_t dns_answer(const dns_index_t *idx, const dns_zone_conf_t *conf, const uint8_t *q,
                         size_t len, bool tcp, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len < LDNS_HEADER_SIZE || LDNS_QR_WIRE(q))
        return DNS_DROP;
    ldns_pkt *query = NULL;
    if (ldns_wire2pkt(&query, q, len) != LDNS_STATUS_OK) {
        *out = dns_answer_rcode(q, len, LDNS_RCODE_FORMERR, outlen);
        return *out != NULL ? DNS_REPLY : DNS_DROP;
    }
    int rcode = -1;
    if (ldns_pkt_get_opcode(query) != LDNS_PACKET_QUERY)
        rcode = LDNS_RCODE_NOTIMPL;
    else if (ldns_pkt_qdcount(query) != 1)
        rcode = LDNS_RCODE_FORMERR;
    if (rcode >= 0) {
        ldns_pkt_free(query);
        *out = dns_answer_rcode(q, len, rcode, outlen);
        return *out != NULL ? DNS_REPLY : DNS_DROP;
    }
    const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(query), 0);
    result_t res = {.an = ldns_rr_list_new(),
                    .ns = ldns_rr_list_new(),
                    .ar = ldns_rr_list_new(),
                    .rcode = LDNS_RCODE_NOERROR};
    query_t qq = {.idx = idx,
                  .conf = conf,
                  .qname = ldns_rr_owner(question),
                  .qtype = ldns_rr_get_type(question),
                  .res = &res};
    char *name = lower_name(qq.qname);
    dns_verdict_t verdict = DNS_FORWARD;
    if (name != NULL && split_zone(&qq, name, conf->domain)) {
        verdict = DNS_REPLY;
        if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN &&
            ldns_rr_get_class(question) != LDNS_RR_CLASS_ANY) {
            res.rcode = LDNS_RCODE_REFUSED;
        } else if (qq.nlabels > MAX_LABELS) {
            res.authoritative = true;
            nxdomain(&qq);
            push(res.ns, rr_soa(&qq));
        } else {
            zone_lookup(&qq);
        }
    } else if (name != NULL && qq.qtype == LDNS_RR_TYPE_PTR && ptr_lookup(&qq, name)) {
        verdict = DNS_REPLY;
    }
    if (verdict == DNS_REPLY) {
        if (res.chase)
            verdict = DNS_CHASE;
        *out = reply_encode(query, &res, tcp ? 65535 : udp_max(query), outlen);
        if (*out == NULL)
            verdict = DNS_DROP;
        else if (res.chase && LDNS_TC_WIRE(*out))
            verdict = DNS_REPLY; /* cut already: the client comes back over TCP */
    }
    free(name);
    ldns_rr_list_deep_free(res.an);
    ldns_rr_list_deep_free(res.ns);
    ldns_rr_list_deep_free(res.ar);
    ldns_pkt_free(query);
    return verdict;
}
