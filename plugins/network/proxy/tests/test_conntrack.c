/* network-proxy: stale UDP conntrack entries deleted through ctnetlink, in
 * a network namespace of the test's own (root; skipped otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conntrack.h"

static uint32_t ip4(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return a.s_addr;
}

/* One UDP datagram from 127.0.0.1 to addr:port. */
static void send_udp(const char *addr, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = ip4(addr);
    assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
    close(fd);
}

static void test_clear(void **state)
{
    (void)state;
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
        skip();
        return;
    }
    char lockfile[] = "/tmp/test_ct_lock_XXXXXX";
    int lfd = mkstemp(lockfile);
    assert_true(lfd >= 0);
    close(lfd);
    setenv("XTABLES_LOCKFILE", lockfile, 1);
    /* A ClusterIP 10.96.0.50:53/udp DNATed to 127.0.0.2:5353, as the
     * proxy's rules do; the datagrams make conntrack entries. */
    assert_int_equal(system("ip link set lo up && ip route add 10.96.0.0/12 dev lo && "
                            "iptables-legacy -w -t nat -A OUTPUT -d 10.96.0.50/32 -p udp "
                            "--dport 53 -j DNAT --to-destination 127.0.0.2:5353 && "
                            "iptables-legacy -w -t nat -A OUTPUT -d 10.96.0.51/32 -p udp "
                            "--dport 53 -j DNAT --to-destination 127.0.0.3:5353"),
                     0);
    send_udp("10.96.0.50", 53);
    send_udp("10.96.0.50", 53);
    send_udp("10.96.0.51", 53);
    kr_error_t err;
    /* Another endpoint's: nothing to delete. */
    proxy_ct_stale_t other = {ip4("10.96.0.50"), 0, ip4("127.0.0.9")};
    assert_int_equal(proxy_conntrack_clear(&other, 1, &err), 0);
    /* The removed endpoint's two flows go, the other Service's stays. */
    proxy_ct_stale_t gone = {ip4("10.96.0.50"), 0, ip4("127.0.0.2")};
    assert_int_equal(proxy_conntrack_clear(&gone, 1, &err), 2);
    assert_int_equal(proxy_conntrack_clear(&gone, 1, &err), 0);
    /* A Service that got its first endpoint: every flow to it. */
    proxy_ct_stale_t first = {ip4("10.96.0.51"), 0, 0};
    assert_int_equal(proxy_conntrack_clear(&first, 1, &err), 1);
    /* By NodePort: the destination port. */
    send_udp("10.96.0.50", 53);
    proxy_ct_stale_t np = {0, 53, ip4("127.0.0.2")};
    assert_int_equal(proxy_conntrack_clear(&np, 1, &err), 1);
    assert_int_equal(proxy_conntrack_clear(NULL, 0, &err), 0);
    unlink(lockfile);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
