/* network-dns: answers to DNS queries from the name index, after the
 * Kubernetes DNS-Based Service Discovery specification (kubernetes/dns
 * docs/specification.md, schema 1.1.0) and CoreDNS's kubernetes plugin
 * where the specification leaves a choice.  The wire format is ldns's:
 * queries are parsed and replies built and encoded with it.
 */
#ifndef KRAAL_DNS_ANSWER_H
#define KRAAL_DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"

/* The smallest UDP payload every client takes (RFC 1035), and the largest
 * we send over UDP whatever the client offers (the DNS flag day 2020
 * figure, which avoids IP fragmentation). */
#define DNS_UDP_MIN 512
#define DNS_UDP_MAX 1232

typedef struct dns_zone_conf {
    const char *domain; /* "cluster.local": lowercase, no trailing dot */
    uint32_t ttl;       /* of every record we answer, and of negative answers */
    dns_ip_t ns_ip;     /* what ns.dns.<domain> (the zone's NS) resolves to */
} dns_zone_conf_t;

typedef enum dns_verdict {
    DNS_REPLY,   /* *out holds the reply */
    DNS_FORWARD, /* not ours: outside the domain, or a PTR the index lacks */
    DNS_DROP,    /* not a query (a response, or shorter than a header) */
    DNS_CHASE,   /* *out holds a reply whose last record is a CNAME out of the
                    domain (an ExternalName): resolve its target upstream
                    (dns_chase_query) and answer dns_chase_merge's reply */
} dns_verdict_t;

/* Answers the query `q` (wire format, len bytes).  A CNAME to a name of
 * the domain is followed here (at most 8 deep: SERVFAIL beyond).  `tcp` says how it came:
 * over UDP a reply is cut to the client's EDNS payload size (512 without
 * EDNS, at most DNS_UDP_MAX): additional records go first, then the
 * answer, with TC set.  On DNS_REPLY *out is malloc'd (caller frees) and
 * *outlen its size.  Malformed queries get FORMERR, other opcodes NOTIMP. */
dns_verdict_t dns_answer(const dns_index_t *idx, const dns_zone_conf_t *conf, const uint8_t *q,
                         size_t len, bool tcp, uint8_t **out, size_t *outlen);

/* A reply to `q` carrying only its question and `rcode` (LDNS_RCODE_*:
 * SERVFAIL when no upstream answered).  NULL when q has no readable
 * header.  Caller frees. */
uint8_t *dns_answer_rcode(const uint8_t *q, size_t len, int rcode, size_t *outlen);

/* The query (RD set) for the target of the last CNAME of a DNS_CHASE
 * reply, with the reply's question type; NULL when there is none.  Caller
 * frees. */
uint8_t *dns_chase_query(const uint8_t *reply, size_t len, size_t *qlen);

/* The DNS_CHASE reply `cname` with the upstream's answer for its target
 * appended (or its authority, when it had no answer) and the upstream's
 * rcode; cut for UDP as dns_answer does (the client's EDNS size is not
 * known here: DNS_UDP_MAX when it used EDNS).  NULL when either does not
 * parse.  Caller frees. */
uint8_t *dns_chase_merge(const uint8_t *cname, size_t clen, const uint8_t *up, size_t ulen,
                         bool tcp, size_t *outlen);

/* A reply to `query` with the sections and rcode of `reply` (an earlier
 * answer to the same question, from the cache), every TTL lowered by
 * age_s and at most max_ttl; cut for UDP as dns_answer does.  NULL when
 * either does not parse.  Caller frees. */
uint8_t *dns_answer_copy(const uint8_t *query, size_t qlen, const uint8_t *reply, size_t rlen,
                         uint32_t age_s, uint32_t max_ttl, bool tcp, size_t *outlen);

/* The query's name (lowercase, no trailing dot), type and id, for logs
 * and the forwarder's check of upstream replies.  False when q is not a
 * one-question query. */
bool dns_query_info(const uint8_t *q, size_t len, char *name, size_t size, uint16_t *qtype,
                    uint16_t *id);

#endif
