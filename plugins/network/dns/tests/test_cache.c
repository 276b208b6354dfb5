/* network-dns: the cache of upstream answers (cache.c): kept for the
 * smallest TTL under the cap, negative answers for their SOA's, nothing
 * for SERVFAIL, TC or a negative answer without SOA; a hit carries the
 * client's id and question, TTLs lowered by its age and capped by what is
 * left; expiry, least recently used eviction, the DO bit in the key, UDP
 * size cut. */
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
#include "cache.h"

typedef struct wire {
    uint8_t *data;
    size_t len;
} wire_t;

static wire_t encode(const ldns_pkt *p)
{
    wire_t w = {0};
    assert_int_equal(ldns_pkt2wire(&w.data, p, &w.len), LDNS_STATUS_OK);
    return w;
}

static wire_t query(const char *name, uint16_t id, bool edns_do)
{
    ldns_pkt *q = NULL;
    assert_int_equal(
        ldns_pkt_query_new_frm_str(&q, name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD),
        LDNS_STATUS_OK);
    ldns_pkt_set_id(q, id);
    if (edns_do) {
        ldns_pkt_set_edns_udp_size(q, 1232);
        ldns_pkt_set_edns_do(q, true);
    }
    wire_t w = encode(q);
    ldns_pkt_free(q);
    return w;
}

/* The answer to `q`: rcode, then records in presentation form ("" ends
 * the answer section's and starts the authority's). */
static wire_t reply(const wire_t *q, ldns_pkt_rcode rcode, bool tc, const char *const *rrs)
{
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, q->data, q->len), LDNS_STATUS_OK);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_rcode(p, (uint8_t)rcode);
    ldns_pkt_set_tc(p, tc);
    ldns_pkt_section sec = LDNS_SECTION_ANSWER;
    for (; rrs != NULL && *rrs != NULL; rrs++) {
        if (**rrs == '\0') {
            sec = LDNS_SECTION_AUTHORITY;
            continue;
        }
        ldns_rr *rr = NULL;
        assert_int_equal(ldns_rr_new_frm_str(&rr, *rrs, 0, NULL, NULL), LDNS_STATUS_OK);
        ldns_pkt_push_rr(p, sec, rr);
    }
    wire_t w = encode(p);
    ldns_pkt_free(p);
    return w;
}

static ldns_pkt *get(dns_cache_t *c, const wire_t *q, bool tcp, uint64_t now)
{
    size_t len = 0;
    uint8_t *out = dns_cache_get(c, q->data, q->len, tcp, now, &len);
    if (out == NULL)
        return NULL;
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, out, len), LDNS_STATUS_OK);
    free(out);
    return p;
}

static const char *const ADDR[] = {"www.example.com. 60 IN A 192.0.2.1",
                                   "www.example.com. 300 IN A 192.0.2.2", NULL};

static void test_kept_for_the_smallest_ttl(void **state)
{
    (void)state;
    dns_cache_t *c = dns_cache_new(16, 30);
    wire_t q = query("www.example.com.", 1, false);
    wire_t r = reply(&q, LDNS_RCODE_NOERROR, false, ADDR);
    dns_cache_put(c, q.data, q.len, r.data, r.len, 1000);
    assert_int_equal(dns_cache_len(c), 1);
    /* another client, another id, another case */
    wire_t q2 = query("WWW.Example.COM.", 77, false);
    ldns_pkt *p = get(c, &q2, false, 11000);
    assert_non_null(p);
    assert_int_equal(ldns_pkt_id(p), 77);
    assert_false(ldns_pkt_aa(p));
    assert_int_equal(ldns_pkt_ancount(p), 2);
    char *qn = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
    assert_string_equal(qn, "WWW.Example.COM.");
    free(qn);
    /* 10 s old; the 30 s cap leaves 20 */
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 20);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 1)), 20);
    ldns_pkt_free(p);
    /* gone after 30 s */
    assert_null(get(c, &q2, false, 31000));
    assert_int_equal(dns_cache_len(c), 0);
    free(q.data);
    free(q2.data);
    free(r.data);
    /* under the cap, the smallest TTL */
    q = query("short.example.com.", 1, false);
    static const char *const SHORT[] = {"short.example.com. 5 IN A 192.0.2.9", NULL};
    r = reply(&q, LDNS_RCODE_NOERROR, false, SHORT);
    dns_cache_put(c, q.data, q.len, r.data, r.len, 0);
    p = get(c, &q, false, 4000);
    assert_non_null(p);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 1);
    ldns_pkt_free(p);
    assert_null(get(c, &q, false, 5000));
    free(q.data);
    free(r.data);
    dns_cache_destroy(&c);
}

static void test_what_is_not_kept(void **state)
{
    (void)state;
    dns_cache_t *c = dns_cache_new(16, 30);
    wire_t q = query("www.example.com.", 1, false);
    wire_t r = reply(&q, LDNS_RCODE_SERVFAIL, false, NULL);
    dns_cache_put(c, q.data, q.len, r.data, r.len, 0);
    free(r.data);
    r = reply(&q, LDNS_RCODE_NOERROR, true, ADDR); /* cut */
    dns_cache_put(c, q.data, q.len, r.data, r.len, 0);
    free(r.data);
    r = reply(&q, LDNS_RCODE_NXDOMAIN, false, NULL); /* negative without SOA */
    dns_cache_put(c, q.data, q.len, r.data, r.len, 0);
    free(r.data);
    static const char *const ZERO[] = {"www.example.com. 0 IN A 192.0.2.1", NULL};
    r = reply(&q, LDNS_RCODE_NOERROR, false, ZERO);
    dns_cache_put(c, q.data, q.len, r.data, r.len, 0);
    free(r.data);
    assert_int_equal(dns_cache_len(c), 0);
    assert_null(get(c, &q, false, 0));
    /* an NXDOMAIN whose SOA has no fields (found by fuzz_dns_answer: ldns
     * asserted on the missing MINIMUM) */
    static const uint8_t bare_soa[] = {0x12, 0x34, 0x81, 0x03, 0, 0, 0,    0,    0,    1, 0, 0,
                                       0,    0,    6,    0,    0, 0, 0x74, 0x63, 0xf0, 0, 0};
    dns_cache_put(c, bare_soa, sizeof bare_soa, bare_soa, sizeof bare_soa, 0);
    assert_int_equal(dns_cache_len(c), 0);
    /* a disabled cache keeps nothing */
    dns_cache_t *off = dns_cache_new(16, 0);
    r = reply(&q, LDNS_RCODE_NOERROR, false, ADDR);
    dns_cache_put(off, q.data, q.len, r.data, r.len, 0);
    assert_int_equal(dns_cache_len(off), 0);
    free(r.data);
    free(q.data);
    dns_cache_destroy(&off);
    dns_cache_destroy(&c);
}

static void test_negative(void **state)
{
    (void)state;
    dns_cache_t *c = dns_cache_new(16, 30);
    wire_t q = query("nope.example.com.", 1, false);
    static const char *const NX[] = {
        "", "example.com. 3600 IN SOA ns.example.com. h.example.com. 1 7200 900 86400 12", NULL};
    wire_t r = reply(&q, LDNS_RCODE_NXDOMAIN, false, NX);
    dns_cache_put(c, q.data, q.len, r.data, r.len, 0);
    ldns_pkt *p = get(c, &q, true, 2000);
    assert_non_null(p);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_int_equal(ldns_pkt_nscount(p), 1);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(p), 0)), 10);
    ldns_pkt_free(p);
    assert_null(get(c, &q, true, 12000)); /* the SOA's MINIMUM, 12 s */
    free(q.data);
    free(r.data);
    dns_cache_destroy(&c);
}

static void test_eviction_and_keys(void **state)
{
    (void)state;
    dns_cache_t *c = dns_cache_new(2, 30);
    const char *names[] = {"a.example.com.", "b.example.com.", "c.example.com."};
    wire_t qs[3], rs[3];
    for (int i = 0; i < 3; i++) {
        qs[i] = query(names[i], 1, false);
        char text[64];
        snprintf(text, sizeof text, "%s 60 IN A 192.0.2.%d", names[i], i + 1);
        const char *one[] = {text, NULL};
        rs[i] = reply(&qs[i], LDNS_RCODE_NOERROR, false, one);
    }
    dns_cache_put(c, qs[0].data, qs[0].len, rs[0].data, rs[0].len, 0);
    dns_cache_put(c, qs[1].data, qs[1].len, rs[1].data, rs[1].len, 0);
    ldns_pkt *p = get(c, &qs[0], false, 0); /* a is now the most recent */
    ldns_pkt_free(p);
    dns_cache_put(c, qs[2].data, qs[2].len, rs[2].data, rs[2].len, 0);
    assert_int_equal(dns_cache_len(c), 2);
    p = get(c, &qs[1], false, 0);
    assert_null(p); /* b went */
    p = get(c, &qs[0], false, 0);
    assert_non_null(p);
    ldns_pkt_free(p);
    /* the DO bit is part of the key */
    wire_t qdo = query("a.example.com.", 1, true);
    assert_null(get(c, &qdo, false, 0));
    free(qdo.data);
    for (int i = 0; i < 3; i++) {
        free(qs[i].data);
        free(rs[i].data);
    }
    dns_cache_destroy(&c);
}

static void test_udp_cut(void **state)
{
    (void)state;
    dns_cache_t *c = dns_cache_new(16, 30);
    wire_t q = query("big.example.com.", 1, false);
    char texts[40][64];
    const char *rrs[41];
    for (int i = 0; i < 40; i++) {
        snprintf(texts[i], sizeof texts[i], "big.example.com. 60 IN A 192.0.2.%d", i + 1);
        rrs[i] = texts[i];
    }
    rrs[40] = NULL;
    wire_t r = reply(&q, LDNS_RCODE_NOERROR, false, rrs);
    dns_cache_put(c, q.data, q.len, r.data, r.len, 0);
    ldns_pkt *p = get(c, &q, false, 0);
    assert_non_null(p);
    assert_true(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 0);
    ldns_pkt_free(p);
    p = get(c, &q, true, 0);
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 40);
    ldns_pkt_free(p);
    free(q.data);
    free(r.data);
    dns_cache_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_for_the_smallest_ttl),
        cmocka_unit_test(test_what_is_not_kept),
        cmocka_unit_test(test_negative),
        cmocka_unit_test(test_eviction_and_keys),
        cmocka_unit_test(test_udp_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
