/* network-dns: the forwarder (forward.c) on a real loop with upstreams that
 * are UDP/TCP sockets of the test on 127.0.0.1: the answer relayed with the
 * client's id, a forged datagram ignored, a refusing upstream skipped at
 * once, a silent one after the timeout, none answering, the in-flight
 * bound, a truncated answer asked again over TCP for a TCP client. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "answer.h"
#include "forward.h"

typedef struct got {
    int calls;
    uint8_t reply[4096];
    size_t len; /* 0: NULL reply */
    size_t ctx_len;
    uint64_t conn_id;
} got_t;

static void on_done(const uint8_t *reply, size_t len, const uint8_t *query, size_t qlen,
                    const uint8_t *ctx, size_t ctx_len, const dns_client_t *client, void *ud)
{
    (void)query;
    (void)qlen;
    (void)ctx;
    got_t *g = ud;
    g->calls++;
    g->len = reply != NULL ? len : 0;
    if (reply != NULL)
        memcpy(g->reply, reply, len < sizeof g->reply ? len : sizeof g->reply);
    g->ctx_len = ctx_len;
    g->conn_id = client->conn_id;
}

/* A socket of `type` bound to 127.0.0.1 on a free port; *addr gets it. */
static int bound(int type, struct sockaddr_storage *addr)
{
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    struct sockaddr_in *in = (struct sockaddr_in *)addr;
    memset(addr, 0, sizeof *addr);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)in, sizeof *in), 0);
    socklen_t len = sizeof *in;
    assert_int_equal(getsockname(fd, (struct sockaddr *)in, &len), 0);
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static uint8_t *query(const char *name, uint16_t id, size_t *len)
{
    ldns_pkt *q = NULL;
    assert_int_equal(
        ldns_pkt_query_new_frm_str(&q, name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD),
        LDNS_STATUS_OK);
    ldns_pkt_set_id(q, id);
    uint8_t *wire = NULL;
    assert_int_equal(ldns_pkt2wire(&wire, q, len), LDNS_STATUS_OK);
    ldns_pkt_free(q);
    return wire;
}

/* The answer to `q` (with q's id unless `id` >= 0), `n` A records, TC as asked. */
static size_t answer(const uint8_t *q, size_t qlen, int id, int n, bool tc, uint8_t *out,
                     size_t size)
{
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, q, qlen), LDNS_STATUS_OK);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_tc(p, tc);
    if (id >= 0)
        ldns_pkt_set_id(p, (uint16_t)id);
    for (int i = 0; i < n; i++) {
        ldns_rr *rr = NULL;
        char text[128];
        snprintf(text, sizeof text, "www.example.com. 60 IN A 192.0.2.%d", i + 1);
        assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    }
    uint8_t *wire = NULL;
    size_t len = 0;
    assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
    assert_true(len <= size);
    memcpy(out, wire, len);
    free(wire);
    ldns_pkt_free(p);
    return len;
}

/* Runs the loop until g has been called back or max_ms passed. */
static void run_until(kr_loop_t *loop, got_t *g, int max_ms)
{
    uint64_t end = kr_time_ms() + (uint64_t)max_ms;
    while (g->calls == 0 && kr_time_ms() < end)
        assert_true(kr_loop_run_once(loop, 10, NULL) >= 0);
}

/* Serves one datagram on fd: answers with `id` (-1: the query's), n records. */
static void serve_udp(int fd, int id, int n, bool tc)
{
    uint8_t q[512], r[4096];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t len = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
    assert_true(len > 12);
    size_t rl = answer(q, (size_t)len, id, n, tc, r, sizeof r);
    assert_true(sendto(fd, r, rl, 0, (struct sockaddr *)&from, fl) > 0);
}

static void test_relayed_with_client_id(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    struct sockaddr_storage up;
    int ufd = bound(SOCK_DGRAM, &up);
    got_t g = {0};
    dns_fwd_t *f = dns_fwd_new(loop, &up, 1, 2000, 8, on_done, &g, NULL);
    assert_non_null(f);
    size_t qlen;
    uint8_t *q = query("www.example.com.", 4711, &qlen);
    dns_client_t client = {.conn_id = 0};
    assert_int_equal(dns_fwd_query(f, q, qlen, (const uint8_t *)"ctx", 3, &client, NULL), 0);
    assert_int_equal(dns_fwd_pending(f), 1);
    /* a datagram with another id first (a late or forged one): ignored */
    uint8_t buf[512];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t len = recvfrom(ufd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    assert_true(len > 12);
    uint16_t sent_id = (uint16_t)(buf[0] << 8 | buf[1]);
    uint8_t r[4096];
    size_t rl = answer(buf, (size_t)len, sent_id ^ 1, 1, false, r, sizeof r);
    sendto(ufd, r, rl, 0, (struct sockaddr *)&from, fl);
    for (int i = 0; i < 5; i++)
        kr_loop_run_once(loop, 10, NULL);
    assert_int_equal(g.calls, 0);
    rl = answer(buf, (size_t)len, -1, 2, false, r, sizeof r);
    sendto(ufd, r, rl, 0, (struct sockaddr *)&from, fl);
    run_until(loop, &g, 2000);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.ctx_len, 3);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, g.reply, g.len), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(p), 4711);
    assert_int_equal(ldns_pkt_ancount(p), 2);
    ldns_pkt_free(p);
    assert_int_equal(dns_fwd_pending(f), 0);
    free(q);
    dns_fwd_destroy(&f);
    close(ufd);
    kr_loop_destroy(&loop);
}

static void test_failover_and_servfail(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    struct sockaddr_storage ups[3];
    int silent = bound(SOCK_DGRAM, &ups[0]);
    int gone = bound(SOCK_DGRAM, &ups[1]);
    close(gone); /* nobody there: ICMP port unreachable */
    int good = bound(SOCK_DGRAM, &ups[2]);
    got_t g = {0};
    dns_fwd_t *f = dns_fwd_new(loop, ups, 3, 200, 8, on_done, &g, NULL);
    size_t qlen;
    uint8_t *q = query("www.example.com.", 1, &qlen);
    dns_client_t client = {0};
    /* the first query starts at the silent one: 200 ms, then the refusing
     * one at once, then the good one */
    uint64_t t0 = kr_time_ms();
    assert_int_equal(dns_fwd_query(f, q, qlen, NULL, 0, &client, NULL), 0);
    while (g.calls == 0 && kr_time_ms() - t0 < 2000) {
        kr_loop_run_once(loop, 10, NULL);
        uint8_t peek;
        if (recv(good, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
            serve_udp(good, -1, 1, false);
    }
    assert_int_equal(g.calls, 1);
    assert_true(g.len > 0);
    assert_true(kr_time_ms() - t0 >= 200);
    uint8_t drain[512];
    assert_true(recv(silent, drain, sizeof drain, MSG_DONTWAIT) > 0); /* it was asked */
    /* none answers: the callback with NULL, after the timeouts */
    close(good);
    g = (got_t){0};
    assert_int_equal(dns_fwd_query(f, q, qlen, NULL, 0, &client, NULL), 0);
    run_until(loop, &g, 3000);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.len, 0);
    free(q);
    dns_fwd_destroy(&f);
    close(silent);
    kr_loop_destroy(&loop);
}

static void test_bounds(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    struct sockaddr_storage up;
    int ufd = bound(SOCK_DGRAM, &up);
    got_t g = {0};
    dns_fwd_t *none = dns_fwd_new(loop, NULL, 0, 100, 2, on_done, &g, NULL);
    dns_fwd_t *f = dns_fwd_new(loop, &up, 1, 5000, 2, on_done, &g, NULL);
    size_t qlen;
    uint8_t *q = query("www.example.com.", 1, &qlen);
    dns_client_t client = {0};
    kr_error_t err;
    assert_true(dns_fwd_query(none, q, qlen, NULL, 0, &client, &err) < 0);
    assert_string_equal(err.message, "no upstream resolver");
    assert_int_equal(dns_fwd_query(f, q, qlen, NULL, 0, &client, NULL), 0);
    assert_int_equal(dns_fwd_query(f, q, qlen, NULL, 0, &client, NULL), 0);
    assert_true(dns_fwd_query(f, q, qlen, NULL, 0, &client, &err) < 0);
    assert_int_equal(err.reason, KR_E_TOO_MANY_REQUESTS);
    assert_true(dns_fwd_query(f, q, 5, NULL, 0, &client, &err) < 0);
    /* destroyed with queries in flight: no callback */
    dns_fwd_destroy(&f);
    dns_fwd_destroy(&none);
    assert_int_equal(g.calls, 0);
    free(q);
    close(ufd);
    kr_loop_destroy(&loop);
}

static void test_truncated_asked_again_over_tcp(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    struct sockaddr_storage up;
    int ufd = bound(SOCK_DGRAM, &up);
    /* the TCP listener on the same port */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&up, sizeof(struct sockaddr_in)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    got_t g = {0};
    dns_fwd_t *f = dns_fwd_new(loop, &up, 1, 2000, 8, on_done, &g, NULL);
    size_t qlen;
    uint8_t *q = query("www.example.com.", 99, &qlen);
    dns_client_t client = {.conn_id = 7};
    assert_int_equal(dns_fwd_query(f, q, qlen, NULL, 0, &client, NULL), 0);
    serve_udp(ufd, -1, 0, true);
    for (int i = 0; i < 20; i++)
        kr_loop_run_once(loop, 5, NULL);
    assert_int_equal(g.calls, 0); /* not the cut answer: TCP is under way */
    int c = accept(lfd, NULL, NULL);
    assert_true(c >= 0);
    uint8_t buf[600];
    size_t got = 0;
    uint64_t end = kr_time_ms() + 2000;
    while ((got < 2 || got < 2 + (size_t)(buf[0] << 8 | buf[1])) && kr_time_ms() < end) {
        kr_loop_run_once(loop, 5, NULL);
        ssize_t n = recv(c, buf + got, sizeof buf - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
    }
    assert_true(got > 2 && got == 2 + (size_t)(buf[0] << 8 | buf[1]));
    uint8_t r[4096];
    size_t rl = answer(buf + 2, got - 2, -1, 60, false, r + 2, sizeof r - 2);
    r[0] = (uint8_t)(rl >> 8);
    r[1] = (uint8_t)rl;
    assert_true(send(c, r, rl + 2, 0) == (ssize_t)(rl + 2));
    run_until(loop, &g, 2000);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.conn_id, 7);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, g.reply, g.len), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(p), 99);
    assert_int_equal(ldns_pkt_ancount(p), 60);
    assert_false(ldns_pkt_tc(p));
    ldns_pkt_free(p);
    free(q);
    close(c);
    dns_fwd_destroy(&f);
    close(lfd);
    close(ufd);
    kr_loop_destroy(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relayed_with_client_id),
        cmocka_unit_test(test_failover_and_servfail),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_truncated_asked_again_over_tcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
