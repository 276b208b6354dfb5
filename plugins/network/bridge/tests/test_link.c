/* network-bridge's netlink side (root; skipped otherwise): in a network
 * namespace of the test's own, the bridge with its address, a pod
 * namespace wired (eth0, address, default route, lo up, the host end on
 * the bridge with hairpin on), ADD again repairs a deleted route and a
 * downed eth0, DEL removes the pair, routes of our protocol are made
 * exactly the wanted set. */
#include <arpa/inet.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "link.h"

static pid_t pod_pid;
static char pod_ns[64];

/* Output of a shell command (the test reads the kernel's state with ip). */
static const char *sh(const char *fmt, ...)
{
    static char out[8192];
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    if (p)
        pclose(p);
    return out;
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
        return 0;
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pod_pid = fork();
    if (pod_pid == 0) {
        close(p[0]);
        if (unshare(CLONE_NEWNET) < 0 || write(p[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    char c;
    if (read(p[0], &c, 1) != 1)
        return -1;
    close(p[0]);
    snprintf(pod_ns, sizeof pod_ns, "/proc/%d/ns/net", (int)pod_pid);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (pod_pid > 0) {
        kill(pod_pid, SIGKILL);
        waitpid(pod_pid, NULL, 0);
    }
    return 0;
}

static struct in_addr a4(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return a;
}

static void test_pod_wiring(void **state)
{
    (void)state;
    if (pod_pid <= 0) {
        skip();
        return;
    }
    kr_error_t err;
    int br;
    assert_int_equal(br_link_bridge_ensure("kraal0", 1400, a4("10.244.1.1"), 24, &br, &err), 0);
    int br2;
    assert_int_equal(br_link_bridge_ensure("kraal0", 1400, a4("10.244.1.1"), 24, &br2, &err), 0);
    assert_int_equal(br, br2); /* idempotent */
    assert_non_null(strstr(sh("ip -4 -o addr show dev kraal0"), "inet 10.244.1.1/24"));
    assert_non_null(strstr(sh("ip -o link show dev kraal0"), "mtu 1400"));

    char host_if[IFNAMSIZ], again[IFNAMSIZ];
    br_link_veth_name("0123456789abcdef", host_if);
    br_link_veth_name("0123456789abcdef", again);
    assert_string_equal(host_if, again);
    assert_int_equal(strlen(host_if), 12); /* veth + 8 hex digits */
    br_pod_link_t pl = {.netns_path = pod_ns,
                        .host_if = host_if,
                        .bridge_ifindex = br,
                        .mtu = 1400,
                        .hairpin = true,
                        .ip = a4("10.244.1.7"),
                        .gw = a4("10.244.1.1"),
                        .prefix = 24};
    assert_int_equal(br_link_pod_add(&pl, &err), 0);
    char netns_opt[96];
    snprintf(netns_opt, sizeof netns_opt, "nsenter --net=%s", pod_ns);
    assert_non_null(strstr(sh("%s ip -4 -o addr show dev eth0", netns_opt), "10.244.1.7/24"));
    assert_non_null(strstr(sh("%s ip route", netns_opt), "default via 10.244.1.1 dev eth0"));
    assert_non_null(strstr(sh("%s ip -o link show dev lo", netns_opt), "UP"));
    assert_non_null(strstr(sh("ip -o link show dev %s", host_if), "master kraal0"));
    assert_non_null(strstr(sh("bridge -d link show dev %s", host_if), "hairpin on"));
    /* the pod reaches its gateway through the pair */
    assert_non_null(
        strstr(sh("%s busybox ping -c 1 -W 2 10.244.1.1 2>&1", netns_opt), "1 packets received"));

    /* damage, then ADD again repairs */
    sh("%s ip route del default; %s ip link set eth0 down", netns_opt, netns_opt);
    assert_null(strstr(sh("%s ip route", netns_opt), "default"));
    assert_int_equal(br_link_pod_add(&pl, &err), 0);
    assert_non_null(strstr(sh("%s ip route", netns_opt), "default via 10.244.1.1 dev eth0"));
    assert_non_null(strstr(sh("%s ip -o link show dev eth0", netns_opt), ",UP"));

    /* DEL: the pair goes, twice is fine */
    assert_int_equal(br_link_del(host_if, &err), 0);
    assert_int_equal(br_link_del(host_if, &err), 0);
    assert_string_equal(sh("%s ip -o link show dev eth0 2>/dev/null", netns_opt), "");
    assert_string_equal(sh("ip -o link show dev %s 2>/dev/null", host_if), "");
}

static void test_routes(void **state)
{
    (void)state;
    if (pod_pid <= 0) {
        skip();
        return;
    }
    kr_error_t err;
    sh("ip link add n0 type veth peer name n0p; ip addr add 10.250.0.1/24 dev n0; "
       "ip link set n0 up; ip link set n0p up");
    /* a route of somebody else's stays */
    sh("ip route add 10.99.0.0/16 via 10.250.0.9");
    br_route_t want[2] = {{a4("10.244.2.0"), 24, a4("10.250.0.2")},
                          {a4("10.244.3.0"), 24, a4("10.250.0.3")}};
    assert_int_equal(br_link_routes_sync(want, 2, &err), 0);
    const char *r = sh("ip route show proto 0x4b");
    assert_non_null(strstr(r, "10.244.2.0/24 via 10.250.0.2"));
    assert_non_null(strstr(r, "10.244.3.0/24 via 10.250.0.3"));
    /* a node went, another moved */
    want[0] = (br_route_t){a4("10.244.3.0"), 24, a4("10.250.0.4")};
    assert_int_equal(br_link_routes_sync(want, 1, &err), 0);
    r = sh("ip route show proto 0x4b");
    assert_null(strstr(r, "10.244.2.0/24"));
    assert_non_null(strstr(r, "10.244.3.0/24 via 10.250.0.4"));
    assert_null(strstr(r, "10.250.0.3"));
    assert_int_equal(br_link_routes_sync(NULL, 0, &err), 0);
    assert_string_equal(sh("ip route show proto 0x4b"), "");
    assert_non_null(strstr(sh("ip route"), "10.99.0.0/16 via 10.250.0.9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_wiring),
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
