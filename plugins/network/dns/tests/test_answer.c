/* network-dns: the name index and the answers built from it (index.c,
 * answer.c), against the Kubernetes DNS specification's records: queries
 * are encoded and replies decoded with ldns, and the records checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "answer.h"
#include "index.h"

static kr_arena_t *A;
static dns_index_t *IDX;
static dns_zone_conf_t ZONE = {.domain = "cluster.local", .ttl = 30};

static kr_value_t *obj(const char *json)
{
    kr_value_t *v = NULL;
    assert_int_equal(kr_json_decode(A, json, strlen(json), &v, NULL), 0);
    return v;
}

static const char SVC_WEB[] =
    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},"
    "\"spec\":{\"clusterIP\":\"10.96.0.20\",\"clusterIPs\":[\"10.96.0.20\"],"
    "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80},"
    "{\"protocol\":\"UDP\",\"port\":99}]}}";

static const char SVC_HEADLESS[] = "{\"metadata\":{\"name\":\"db\",\"namespace\":\"prod\"},"
                                   "\"spec\":{\"clusterIP\":\"None\",\"ports\":[{\"name\":\"pg\","
                                   "\"port\":5432}]}}";

static const char SLICE_DB[] =
    "{\"metadata\":{\"name\":\"db-abc\",\"namespace\":\"prod\",\"labels\":"
    "{\"kubernetes.io/service-name\":\"db\"}},\"addressType\":\"IPv4\",\"endpoints\":["
    "{\"addresses\":[\"10.244.1.5\"],\"hostname\":\"db-0\",\"conditions\":{\"ready\":true}},"
    "{\"addresses\":[\"10.244.2.6\"],\"hostname\":\"db-1\",\"conditions\":{\"ready\":true}},"
    "{\"addresses\":[\"10.244.3.7\"],\"hostname\":\"db-2\",\"conditions\":{\"ready\":false}},"
    "{\"addresses\":[\"10.244.4.8\"]}],"
    "\"ports\":[{\"name\":\"pg\",\"protocol\":\"TCP\",\"port\":15432}]}";

static const char SVC_EXT[] = "{\"metadata\":{\"name\":\"ext\",\"namespace\":\"default\"},"
                              "\"spec\":{\"type\":\"ExternalName\",\"externalName\":"
                              "\"www.example.com.\"}}";

static int setup(void **state)
{
    (void)state;
    A = kr_arena_new(0);
    IDX = dns_index_new();
    dns_ip_parse("10.251.0.1", &ZONE.ns_ip);
    dns_index_set_service(IDX, obj(SVC_WEB));
    dns_index_set_service(IDX, obj(SVC_HEADLESS));
    dns_index_set_slice(IDX, obj(SLICE_DB));
    dns_index_set_service(IDX, obj(SVC_EXT));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dns_index_destroy(&IDX);
    kr_arena_destroy(&A);
    return 0;
}

/* Asks name/type (over UDP unless tcp); returns the decoded reply, or
 * NULL when the verdict was not DNS_REPLY (stored in *verdict). */
static ldns_pkt *ask_ext(const char *name, ldns_rr_type type, bool tcp, bool edns,
                         dns_verdict_t *verdict)
{
    ldns_pkt *q = NULL;
    assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
                     LDNS_STATUS_OK);
    ldns_pkt_set_id(q, 4242);
    if (edns)
        ldns_pkt_set_edns_udp_size(q, 4096);
    uint8_t *wire = NULL;
    size_t len = 0;
    assert_int_equal(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
    ldns_pkt_free(q);
    uint8_t *out = NULL;
    size_t outlen = 0;
    *verdict = dns_answer(IDX, &ZONE, wire, len, tcp, &out, &outlen);
    free(wire);
    if (*verdict != DNS_REPLY && *verdict != DNS_CHASE) {
        assert_null(out);
        return NULL;
    }
    if (!tcp)
        assert_true(outlen <= (edns ? DNS_UDP_MAX : DNS_UDP_MIN));
    ldns_pkt *r = NULL;
    assert_int_equal(ldns_wire2pkt(&r, out, outlen), LDNS_STATUS_OK);
    free(out);
    assert_int_equal(ldns_pkt_id(r), 4242);
    assert_true(ldns_pkt_qr(r));
    return r;
}

static ldns_pkt *ask(const char *name, ldns_rr_type type)
{
    dns_verdict_t v;
    ldns_pkt *r = ask_ext(name, type, false, false, &v);
    assert_int_equal(v, DNS_REPLY);
    return r;
}

/* The rdata of answer i as text ("10.96.0.20", "0 100 80 web.default...") */
static char *rdata(const ldns_pkt *r, size_t i)
{
    const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(r), i);
    assert_non_null(rr);
    ldns_buffer *b = ldns_buffer_new(256);
    for (size_t k = 0; k < ldns_rr_rd_count(rr); k++) {
        if (k > 0)
            ldns_buffer_printf(b, " ");
        ldns_rdf2buffer_str(b, ldns_rr_rdf(rr, k));
    }
    char *s = ldns_buffer_export2str(b);
    ldns_buffer_free(b);
    return s;
}

static void expect_answer(const ldns_pkt *r, size_t i, ldns_rr_type type, const char *owner,
                          const char *data)
{
    const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(r), i);
    assert_non_null(rr);
    assert_int_equal(ldns_rr_get_type(rr), type);
    assert_int_equal(ldns_rr_ttl(rr), 30);
    char *o = ldns_rdf2str(ldns_rr_owner(rr));
    assert_string_equal(o, owner);
    free(o);
    char *d = rdata(r, i);
    assert_string_equal(d, data);
    free(d);
}

/* NXDOMAIN or NODATA: no answer, the zone's SOA in authority */
static void expect_negative(const ldns_pkt *r, ldns_pkt_rcode rcode)
{
    assert_int_equal(ldns_pkt_get_rcode(r), rcode);
    assert_true(ldns_pkt_aa(r));
    assert_int_equal(ldns_pkt_ancount(r), 0);
    assert_int_equal(ldns_pkt_nscount(r), 1);
    const ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(r), 0);
    assert_int_equal(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
    char *o = ldns_rdf2str(ldns_rr_owner(soa));
    assert_string_equal(o, "cluster.local.");
    free(o);
}

static void expect_none(const char *name, ldns_rr_type type, ldns_pkt_rcode rcode)
{
    ldns_pkt *r = ask(name, type);
    expect_negative(r, rcode);
    ldns_pkt_free(r);
}

static void test_cluster_ip_a(void **state)
{
    (void)state;
    ldns_pkt *r = ask("web.default.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
    assert_true(ldns_pkt_aa(r));
    assert_true(ldns_pkt_rd(r));
    assert_int_equal(ldns_pkt_ancount(r), 1);
    expect_answer(r, 0, LDNS_RR_TYPE_A, "web.default.svc.cluster.local.", "10.96.0.20");
    ldns_pkt_free(r);
    /* case-insensitive; the answer keeps the question's case */
    r = ask("Web.DEFAULT.svc.Cluster.Local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    expect_answer(r, 0, LDNS_RR_TYPE_A, "Web.DEFAULT.svc.Cluster.Local.", "10.96.0.20");
    ldns_pkt_free(r);
    /* another type of a known name: NOERROR, no record */
    expect_none("web.default.svc.cluster.local.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR);
    expect_none("web.default.svc.cluster.local.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR);
}

static void test_unknown_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "nope.default.svc.cluster.local.",      "web.other.svc.cluster.local.",
        "x.y.z.web.default.svc.cluster.local.", "foo.cluster.local.",
        "nope.ns.pod.cluster.local.",           "a.b.c.d.e.f.g.h.i.j.cluster.local."};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        ldns_pkt *r = ask(names[i], LDNS_RR_TYPE_A);
        expect_negative(r, LDNS_RCODE_NXDOMAIN);
        ldns_pkt_free(r);
    }
    /* names with names below them exist */
    expect_none("default.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR);
    expect_none("svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR);
    expect_none("nsless.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
}

static void test_headless(void **state)
{
    (void)state;
    ldns_pkt *r = ask("db.prod.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
    /* the ready ones (nil ready counts as ready), not db-2 */
    assert_int_equal(ldns_pkt_ancount(r), 3);
    expect_answer(r, 0, LDNS_RR_TYPE_A, "db.prod.svc.cluster.local.", "10.244.1.5");
    expect_answer(r, 1, LDNS_RR_TYPE_A, "db.prod.svc.cluster.local.", "10.244.2.6");
    expect_answer(r, 2, LDNS_RR_TYPE_A, "db.prod.svc.cluster.local.", "10.244.4.8");
    ldns_pkt_free(r);
    r = ask("db-1.db.prod.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    expect_answer(r, 0, LDNS_RR_TYPE_A, "db-1.db.prod.svc.cluster.local.", "10.244.2.6");
    ldns_pkt_free(r);
    /* without a hostname: the dashed address */
    r = ask("10-244-4-8.db.prod.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    ldns_pkt_free(r);
    /* not ready: no name */
    expect_none("db-2.db.prod.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
}

static void test_headless_without_ready_endpoints(void **state)
{
    (void)state;
    dns_index_set_service(IDX, obj("{\"metadata\":{\"name\":\"empty\",\"namespace\":\"prod\"},"
                                   "\"spec\":{\"clusterIP\":\"None\"}}"));
    ldns_pkt *r = ask("empty.prod.svc.cluster.local.", LDNS_RR_TYPE_A);
    expect_negative(r, LDNS_RCODE_NXDOMAIN); /* the specification's 2.4.1 */
    ldns_pkt_free(r);
    /* v1 Endpoints answer for a Service without slices */
    dns_index_set_endpoints(
        IDX, obj("{\"metadata\":{\"name\":\"empty\",\"namespace\":\"prod\"},\"subsets\":[{"
                 "\"addresses\":[{\"ip\":\"10.244.9.9\",\"hostname\":\"e-0\"}],"
                 "\"notReadyAddresses\":[{\"ip\":\"10.244.9.10\"}],\"ports\":[{\"port\":1}]}]}"));
    r = ask("empty.prod.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    expect_answer(r, 0, LDNS_RR_TYPE_A, "empty.prod.svc.cluster.local.", "10.244.9.9");
    ldns_pkt_free(r);
    r = ask("e-0.empty.prod.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    ldns_pkt_free(r);
    /* a slice takes over from the Endpoints */
    dns_index_set_slice(IDX, obj("{\"metadata\":{\"name\":\"empty-1\",\"namespace\":\"prod\","
                                 "\"labels\":{\"kubernetes.io/service-name\":\"empty\"}},"
                                 "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":"
                                 "[\"10.244.9.11\"]}]}"));
    r = ask("empty.prod.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    expect_answer(r, 0, LDNS_RR_TYPE_A, "empty.prod.svc.cluster.local.", "10.244.9.11");
    ldns_pkt_free(r);
    dns_index_del_slice(IDX, obj("{\"metadata\":{\"name\":\"empty-1\",\"namespace\":\"prod\"}}"));
    dns_index_del_endpoints(IDX, obj("{\"metadata\":{\"name\":\"empty\",\"namespace\":\"prod\"}}"));
    dns_index_del_service(IDX, obj("{\"metadata\":{\"name\":\"empty\",\"namespace\":\"prod\"}}"));
    expect_none("empty.prod.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
}

static void test_srv(void **state)
{
    (void)state;
    ldns_pkt *r = ask("_http._tcp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    expect_answer(r, 0, LDNS_RR_TYPE_SRV, "_http._tcp.web.default.svc.cluster.local.",
                  "0 100 80 web.default.svc.cluster.local.");
    /* the target's address in additional */
    assert_int_equal(ldns_pkt_arcount(r), 1);
    ldns_pkt_free(r);
    /* wrong protocol, unnamed port: no such name */
    expect_none("_http._udp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV, LDNS_RCODE_NXDOMAIN);
    /* headless: one per ready endpoint, at its own name and the slice's port */
    r = ask("_pg._tcp.db.prod.svc.cluster.local.", LDNS_RR_TYPE_SRV);
    assert_int_equal(ldns_pkt_ancount(r), 3);
    expect_answer(r, 0, LDNS_RR_TYPE_SRV, "_pg._tcp.db.prod.svc.cluster.local.",
                  "0 33 15432 db-0.db.prod.svc.cluster.local.");
    expect_answer(r, 2, LDNS_RR_TYPE_SRV, "_pg._tcp.db.prod.svc.cluster.local.",
                  "0 33 15432 10-244-4-8.db.prod.svc.cluster.local.");
    assert_int_equal(ldns_pkt_arcount(r), 3);
    ldns_pkt_free(r);
}

static void test_external_name(void **state)
{
    (void)state;
    /* asked for the CNAME: that is all */
    ldns_pkt *r = ask("ext.default.svc.cluster.local.", LDNS_RR_TYPE_CNAME);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    expect_answer(r, 0, LDNS_RR_TYPE_CNAME, "ext.default.svc.cluster.local.", "www.example.com.");
    ldns_pkt_free(r);
    /* asked for an address: the target is resolved upstream and merged */
    ldns_pkt *q = NULL;
    ldns_pkt_query_new_frm_str(&q, "ext.default.svc.cluster.local.", LDNS_RR_TYPE_A,
                               LDNS_RR_CLASS_IN, LDNS_RD);
    ldns_pkt_set_id(q, 777);
    uint8_t *wire, *out, *cq, *uw, *merged;
    size_t len, outlen, cqlen, ulen, mlen;
    assert_int_equal(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
    assert_int_equal(dns_answer(IDX, &ZONE, wire, len, false, &out, &outlen), DNS_CHASE);
    cq = dns_chase_query(out, outlen, &cqlen);
    assert_non_null(cq);
    char name[64];
    uint16_t qtype, id;
    assert_true(dns_query_info(cq, cqlen, name, sizeof name, &qtype, &id));
    assert_string_equal(name, "www.example.com");
    assert_int_equal(qtype, LDNS_RR_TYPE_A);
    /* the upstream's answer to it */
    ldns_pkt *u = NULL;
    assert_int_equal(ldns_wire2pkt(&u, cq, cqlen), LDNS_STATUS_OK);
    ldns_pkt_set_qr(u, true);
    ldns_rr *a = NULL;
    ldns_rr_new_frm_str(&a, "www.example.com. 300 IN A 192.0.2.7", 0, NULL, NULL);
    ldns_pkt_push_rr(u, LDNS_SECTION_ANSWER, a);
    assert_int_equal(ldns_pkt2wire(&uw, u, &ulen), LDNS_STATUS_OK);
    merged = dns_chase_merge(out, outlen, uw, ulen, false, &mlen);
    assert_non_null(merged);
    assert_int_equal(ldns_wire2pkt(&r, merged, mlen), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(r), 777);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(r), 2);
    expect_answer(r, 0, LDNS_RR_TYPE_CNAME, "ext.default.svc.cluster.local.", "www.example.com.");
    const ldns_rr *last = ldns_rr_list_rr(ldns_pkt_answer(r), 1);
    assert_int_equal(ldns_rr_get_type(last), LDNS_RR_TYPE_A);
    ldns_pkt_free(r);
    ldns_pkt_free(u);
    ldns_pkt_free(q);
    free(wire);
    free(out);
    free(cq);
    free(uw);
    free(merged);
    /* an ExternalName within the domain is followed here */
    dns_index_set_service(IDX, obj("{\"metadata\":{\"name\":\"alias\",\"namespace\":\"x\"},"
                                   "\"spec\":{\"type\":\"ExternalName\",\"externalName\":"
                                   "\"web.default.svc.cluster.local\"}}"));
    r = ask("alias.x.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(r), 2);
    expect_answer(r, 1, LDNS_RR_TYPE_A, "web.default.svc.cluster.local.", "10.96.0.20");
    ldns_pkt_free(r);
    /* ... but not round in circles */
    dns_index_set_service(IDX, obj("{\"metadata\":{\"name\":\"alias\",\"namespace\":\"x\"},"
                                   "\"spec\":{\"type\":\"ExternalName\",\"externalName\":"
                                   "\"alias.x.svc.cluster.local\"}}"));
    r = ask("alias.x.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_SERVFAIL);
    ldns_pkt_free(r);
    dns_index_del_service(IDX, obj("{\"metadata\":{\"name\":\"alias\",\"namespace\":\"x\"}}"));
}

static void test_zone_records(void **state)
{
    (void)state;
    ldns_pkt *r = ask("dns-version.cluster.local.", LDNS_RR_TYPE_TXT);
    expect_answer(r, 0, LDNS_RR_TYPE_TXT, "dns-version.cluster.local.", "\"1.1.0\"");
    ldns_pkt_free(r);
    r = ask("cluster.local.", LDNS_RR_TYPE_SOA);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    ldns_pkt_free(r);
    r = ask("cluster.local.", LDNS_RR_TYPE_NS);
    expect_answer(r, 0, LDNS_RR_TYPE_NS, "cluster.local.", "ns.dns.cluster.local.");
    ldns_pkt_free(r);
    r = ask("fd00--1.default.pod.cluster.local.", LDNS_RR_TYPE_AAAA);
    expect_answer(r, 0, LDNS_RR_TYPE_AAAA, "fd00--1.default.pod.cluster.local.", "fd00::1");
    ldns_pkt_free(r);
    r = ask("10-244-1-5.default.pod.cluster.local.", LDNS_RR_TYPE_A);
    expect_answer(r, 0, LDNS_RR_TYPE_A, "10-244-1-5.default.pod.cluster.local.", "10.244.1.5");
    ldns_pkt_free(r);
    /* PTR of a ClusterIP and of an endpoint */
    r = ask("20.0.96.10.in-addr.arpa.", LDNS_RR_TYPE_PTR);
    expect_answer(r, 0, LDNS_RR_TYPE_PTR, "20.0.96.10.in-addr.arpa.",
                  "web.default.svc.cluster.local.");
    ldns_pkt_free(r);
    /* fd00::20, a ClusterIP of its second family */
    dns_index_set_service(IDX, obj("{\"metadata\":{\"name\":\"v6\",\"namespace\":\"x\"},"
                                   "\"spec\":{\"clusterIPs\":[\"10.96.0.30\",\"fd00::20\"]}}"));
    r = ask("0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
            LDNS_RR_TYPE_PTR);
    expect_answer(r, 0, LDNS_RR_TYPE_PTR,
                  "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
                  "v6.x.svc.cluster.local.");
    ldns_pkt_free(r);
    r = ask("v6.x.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
    expect_answer(r, 0, LDNS_RR_TYPE_AAAA, "v6.x.svc.cluster.local.", "fd00::20");
    ldns_pkt_free(r);
    dns_index_del_service(IDX, obj("{\"metadata\":{\"name\":\"v6\",\"namespace\":\"x\"}}"));
    r = ask("5.1.244.10.in-addr.arpa.", LDNS_RR_TYPE_PTR);
    expect_answer(r, 0, LDNS_RR_TYPE_PTR, "5.1.244.10.in-addr.arpa.",
                  "db-0.db.prod.svc.cluster.local.");
    ldns_pkt_free(r);
}

static void test_forward_and_errors(void **state)
{
    (void)state;
    dns_verdict_t v;
    assert_null(ask_ext("www.example.com.", LDNS_RR_TYPE_A, false, false, &v));
    assert_int_equal(v, DNS_FORWARD);
    assert_null(ask_ext("1.2.3.4.in-addr.arpa.", LDNS_RR_TYPE_PTR, false, false, &v));
    assert_int_equal(v, DNS_FORWARD);
    assert_null(ask_ext("xcluster.local.", LDNS_RR_TYPE_A, false, false, &v));
    assert_int_equal(v, DNS_FORWARD);
    /* a response is no query; garbage after a header gets FORMERR */
    uint8_t buf[40] = {0x12, 0x34, 0x80};
    uint8_t *out = NULL;
    size_t outlen = 0;
    assert_int_equal(dns_answer(IDX, &ZONE, buf, 12, false, &out, &outlen), DNS_DROP);
    assert_int_equal(dns_answer(IDX, &ZONE, buf, 5, false, &out, &outlen), DNS_DROP);
    buf[2] = 0x01;
    buf[5] = 1; /* one question that is not there */
    assert_int_equal(dns_answer(IDX, &ZONE, buf, 12, false, &out, &outlen), DNS_REPLY);
    ldns_pkt *r = NULL;
    assert_int_equal(ldns_wire2pkt(&r, out, outlen), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
    assert_int_equal(ldns_pkt_id(r), 0x1234);
    ldns_pkt_free(r);
    free(out);
    /* SERVFAIL for a forwarded query nobody answered */
    ldns_pkt *q = NULL;
    ldns_pkt_query_new_frm_str(&q, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD);
    uint8_t *wire;
    size_t len;
    assert_int_equal(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
    out = dns_answer_rcode(wire, len, LDNS_RCODE_SERVFAIL, &outlen);
    assert_non_null(out);
    assert_int_equal(ldns_wire2pkt(&r, out, outlen), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_SERVFAIL);
    assert_int_equal(ldns_pkt_qdcount(r), 1);
    assert_int_equal(ldns_pkt_id(r), ldns_pkt_id(q));
    char name[64];
    uint16_t qtype, id;
    assert_true(dns_query_info(wire, len, name, sizeof name, &qtype, &id));
    assert_string_equal(name, "www.example.com");
    assert_int_equal(qtype, LDNS_RR_TYPE_A);
    ldns_pkt_free(r);
    ldns_pkt_free(q);
    free(out);
    free(wire);
}

/* A headless Service of 200 endpoints: over UDP without EDNS the answer is
 * cut to 512 bytes with TC set, with EDNS to 1232; over TCP it is whole. */
static void test_truncation(void **state)
{
    (void)state;
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "{\"metadata\":{\"name\":\"big-1\",\"namespace\":\"prod\",\"labels\":"
                    "{\"kubernetes.io/service-name\":\"big\"}},\"addressType\":\"IPv4\","
                    "\"endpoints\":[");
    for (int i = 0; i < 200; i++)
        kr_buf_printf(&b, "%s{\"addresses\":[\"10.244.%d.%d\"]}", i ? "," : "", i / 100,
                      i % 100 + 1);
    kr_buf_puts(&b, "]}");
    dns_index_set_service(IDX, obj("{\"metadata\":{\"name\":\"big\",\"namespace\":\"prod\"},"
                                   "\"spec\":{\"clusterIP\":\"None\"}}"));
    dns_index_set_slice(IDX, obj(b.data));
    kr_buf_free(&b);
    dns_verdict_t v;
    ldns_pkt *r = ask_ext("big.prod.svc.cluster.local.", LDNS_RR_TYPE_A, false, false, &v);
    assert_true(ldns_pkt_tc(r));
    assert_int_equal(ldns_pkt_ancount(r), 0);
    ldns_pkt_free(r);
    r = ask_ext("big.prod.svc.cluster.local.", LDNS_RR_TYPE_A, true, false, &v);
    assert_false(ldns_pkt_tc(r));
    assert_int_equal(ldns_pkt_ancount(r), 200);
    ldns_pkt_free(r);
    r = ask_ext("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, false, true, &v);
    assert_true(ldns_pkt_edns(r)); /* EDNS answered with EDNS */
    assert_int_equal(ldns_pkt_ancount(r), 1);
    ldns_pkt_free(r);
}

static void test_index_updates(void **state)
{
    (void)state;
    /* a slice moved to another service, a service's address changed */
    dns_index_set_service(IDX, obj("{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"},"
                                   "\"spec\":{\"clusterIP\":\"None\"}}"));
    dns_index_set_service(IDX, obj("{\"metadata\":{\"name\":\"b\",\"namespace\":\"x\"},"
                                   "\"spec\":{\"clusterIP\":\"None\"}}"));
#define SLICE_OF(svc)                                                         \
    "{\"metadata\":{\"name\":\"s\",\"namespace\":\"x\",\"labels\":"           \
    "{\"kubernetes.io/service-name\":\"" svc "\"}},\"addressType\":\"IPv4\"," \
    "\"endpoints\":[{\"addresses\":[\"10.1.1.1\"]}]}"
    char buf[512];
    snprintf(buf, sizeof buf, "%s", SLICE_OF("a"));
    dns_index_set_slice(IDX, obj(buf));
    uint32_t serial = dns_index_serial(IDX);
    snprintf(buf, sizeof buf, "%s", SLICE_OF("b"));
    dns_index_set_slice(IDX, obj(buf));
    assert_true(dns_index_serial(IDX) != serial);
    expect_none("a.x.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
    ldns_pkt *r = ask("b.x.svc.cluster.local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    ldns_pkt_free(r);
    assert_true(dns_index_has_namespace(IDX, "x"));
    dns_index_del_service(IDX, obj("{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"}}"));
    dns_index_del_service(IDX, obj("{\"metadata\":{\"name\":\"b\",\"namespace\":\"x\"}}"));
    /* only the slice is left: no Service, no namespace */
    assert_false(dns_index_has_namespace(IDX, "x"));
    assert_null(dns_index_service(IDX, "x", "b"));
    dns_index_del_slice(IDX, obj("{\"metadata\":{\"name\":\"s\",\"namespace\":\"x\"}}"));
    size_t before = dns_index_services(IDX);
    dns_index_set_service(IDX, obj("{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},"
                                   "\"spec\":{\"clusterIP\":\"10.96.7.7\"}}"));
    assert_int_equal(dns_index_services(IDX), before);
    r = ask("web.default.svc.cluster.local.", LDNS_RR_TYPE_A);
    expect_answer(r, 0, LDNS_RR_TYPE_A, "web.default.svc.cluster.local.", "10.96.7.7");
    ldns_pkt_free(r);
    dns_index_set_service(IDX, obj(SVC_WEB));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_ip_a),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_headless),
        cmocka_unit_test(test_headless_without_ready_endpoints),
        cmocka_unit_test(test_srv),
        cmocka_unit_test(test_external_name),
        cmocka_unit_test(test_zone_records),
        cmocka_unit_test(test_forward_and_errors),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_index_updates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
