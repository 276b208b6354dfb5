/* kraal-netfilter: the rules we build, decoded back to iptables-save text;
 * as root, a commit into a network namespace of the test's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_statistic.h>

#include "netipt.h"

static uint32_t ip4(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return a.s_addr;
}

static void assert_rule(const netipt_rule_t *r, const char *want)
{
    const struct ipt_entry *e = netipt_rule_entry(r);
    assert_non_null(e);
    char buf[1024];
    int n = netipt_entry_format(e, NULL, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    assert_string_equal(buf, want);
    /* The offsets the kernel walks: matches end where the target starts,
     * the target ends the entry, everything 8-byte aligned. */
    assert_int_equal(e->next_offset, r->len);
    assert_int_equal(e->target_offset % 8, 0);
    assert_int_equal(e->next_offset % 8, 0);
}

static void test_masquerade(void **state)
{
    (void)state;
    netipt_rule_t r;
    netipt_rule_init(&r);
    netipt_rule_src(&r, ip4("10.244.1.0"), 24, false);
    netipt_rule_dst(&r, ip4("10.244.0.0"), 16, true);
    netipt_match_comment(&r, "kraal pod traffic leaving the cluster");
    netipt_target_masquerade(&r, false);
    assert_rule(&r, "-s 10.244.1.0/24 ! -d 10.244.0.0/16 -m comment --comment \"kraal pod "
                    "traffic leaving the cluster\" -j MASQUERADE");

    netipt_rule_init(&r);
    netipt_rule_out_iface(&r, "kraal0", true);
    netipt_rule_in_iface(&r, "veth+", false);
    netipt_target_masquerade(&r, true);
    assert_rule(&r, "-i veth+ ! -o kraal0 -j MASQUERADE --random-fully");
}

static void test_service_rules(void **state)
{
    (void)state;
    netipt_rule_t r;
    netipt_rule_init(&r);
    netipt_rule_dst(&r, ip4("10.96.0.10"), 32, false);
    netipt_match_comment(&r, "kube-system/kube-dns:dns cluster IP");
    netipt_match_dport(&r, IPPROTO_UDP, 53);
    netipt_target_jump(&r, "KRAAL-SVC-TCOU7JCQXEZGVUNU");
    assert_rule(&r, "-d 10.96.0.10/32 -p udp -m comment --comment \"kube-system/kube-dns:dns "
                    "cluster IP\" -m udp --dport 53 -j KRAAL-SVC-TCOU7JCQXEZGVUNU");

    /* kube-proxy's spread: 1/3 of the first endpoint's share. */
    netipt_rule_init(&r);
    netipt_match_random(&r, 1.0 / 3);
    netipt_target_jump(&r, "KRAAL-SEP-A");
    assert_rule(&r, "-m statistic --mode random --probability 0.33333333349 -j KRAAL-SEP-A");
    const struct ipt_entry *e = netipt_rule_entry(&r);
    const struct xt_entry_match *m = (const void *)((const unsigned char *)e + sizeof(*e));
    const struct xt_statistic_info *si = (const void *)m->data;
    assert_int_equal(si->u.random.probability, 715827883u);

    netipt_rule_init(&r);
    netipt_rule_src(&r, ip4("10.244.1.5"), 32, false);
    netipt_target_jump(&r, "KRAAL-MARK-MASQ");
    assert_rule(&r, "-s 10.244.1.5/32 -j KRAAL-MARK-MASQ");

    netipt_rule_init(&r);
    netipt_match_recent_set(&r, "KRAAL-SEP-A");
    netipt_match_dport(&r, IPPROTO_TCP, 0);
    netipt_target_dnat(&r, ip4("10.244.1.5"), 8080);
    assert_rule(&r, "-p tcp -m recent --set --name KRAAL-SEP-A --mask 255.255.255.255 "
                    "--rsource -m tcp -j DNAT --to-destination 10.244.1.5:8080");

    netipt_rule_init(&r);
    netipt_match_recent_check(&r, "KRAAL-SEP-A", 10800);
    netipt_target_jump(&r, "KRAAL-SEP-A");
    assert_rule(&r, "-m recent --rcheck --seconds 10800 --reap --name KRAAL-SEP-A --mask "
                    "255.255.255.255 --rsource -j KRAAL-SEP-A");

    netipt_rule_init(&r);
    netipt_match_addrtype_dst(&r, XT_ADDRTYPE_LOCAL);
    netipt_target_jump(&r, "KRAAL-NODEPORTS");
    assert_rule(&r, "-m addrtype --dst-type LOCAL -j KRAAL-NODEPORTS");

    netipt_rule_init(&r);
    netipt_target_mark(&r, 0x4000, 0x4000);
    assert_rule(&r, "-j MARK --set-xmark 0x4000/0x4000");

    netipt_rule_init(&r);
    netipt_match_mark(&r, 0x4000, 0x4000, true);
    netipt_target_jump(&r, "RETURN");
    assert_rule(&r, "-m mark ! --mark 0x4000/0x4000 -j RETURN");

    netipt_rule_init(&r);
    netipt_match_ctstate(&r, NETIPT_CT_ESTABLISHED | NETIPT_CT_RELATED);
    netipt_target_jump(&r, "ACCEPT");
    assert_rule(&r, "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");

    netipt_rule_init(&r);
    netipt_match_ctstate(&r, NETIPT_CT_INVALID);
    netipt_target_jump(&r, "DROP");
    assert_rule(&r, "-m conntrack --ctstate INVALID -j DROP");

    netipt_rule_init(&r);
    netipt_rule_dst(&r, ip4("10.96.0.20"), 32, false);
    netipt_match_dport(&r, IPPROTO_TCP, 80);
    netipt_target_reject(&r);
    assert_rule(&r, "-d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with "
                    "icmp-port-unreachable");
}

static void test_refused(void **state)
{
    (void)state;
    netipt_rule_t r;
    netipt_rule_init(&r);
    netipt_match_comment(&r, "no target");
    assert_null(netipt_rule_entry(&r));

    /* Matches after the target, or more than fits, spoil the rule. */
    netipt_target_jump(&r, "RETURN");
    assert_non_null(netipt_rule_entry(&r));
    netipt_match_comment(&r, "late");
    assert_null(netipt_rule_entry(&r));

    netipt_rule_init(&r);
    for (int i = 0; i < 8; i++)
        netipt_match_comment(&r, "x");
    netipt_target_jump(&r, "RETURN");
    assert_null(netipt_rule_entry(&r));
    kr_error_t err;
    assert_true(netipt_rule_append(NULL, "X", &r, &err) < 0);
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_non_null(strstr(err.message, "too large"));
}

/* Lists chain `chain` of the committed table as iptables-save lines. */
static void list_chain(const char *table, const char *chain, char *out, size_t size)
{
    kr_error_t err;
    struct xtc_handle *h = netipt_table_open(table, &err);
    assert_non_null(h);
    out[0] = 0;
    for (const struct ipt_entry *e = iptc_first_rule(chain, h); e; e = iptc_next_rule(e, h)) {
        char line[1024];
        netipt_entry_format(e, iptc_get_target(e, h), line, sizeof(line));
        strncat(out, line, size - strlen(out) - 2);
        strcat(out, "\n");
    }
    netipt_table_free(&h);
}

/* What network-bridge does: KRAAL-POD-MASQ with a MASQUERADE rule, jumped
 * to from nat POSTROUTING once, however often it is ensured. */
static void test_commit_in_netns(void **state)
{
    (void)state;
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
        skip();
        return;
    }
    char lockfile[] = "/tmp/test_netipt_lock_XXXXXX";
    int lfd = mkstemp(lockfile);
    assert_true(lfd >= 0);
    close(lfd);
    setenv("XTABLES_LOCKFILE", lockfile, 1);

    kr_error_t err;
    for (int round = 0; round < 2; round++) {
        int lock = netipt_lock(1000, &err);
        assert_true(lock >= 0);
        /* A second taker waits, then gives up in Kubernetes' words. */
        kr_error_t err2;
        assert_true(netipt_lock(10, &err2) < 0);
        assert_int_equal(err2.reason, KR_E_TIMEOUT);

        struct xtc_handle *h = netipt_table_open("nat", &err);
        assert_non_null(h);
        assert_int_equal(netipt_chain_ensure(h, "KRAAL-POD-MASQ", true, &err), 0);
        netipt_rule_t r;
        netipt_rule_init(&r);
        netipt_rule_src(&r, ip4("10.244.1.0"), 24, false);
        netipt_rule_dst(&r, ip4("10.244.0.0"), 16, true);
        netipt_target_masquerade(&r, false);
        assert_int_equal(netipt_rule_append(h, "KRAAL-POD-MASQ", &r, &err), 0);
        netipt_rule_t jump;
        netipt_rule_init(&jump);
        netipt_match_comment(&jump, "kraal pod masquerade");
        netipt_target_jump(&jump, "KRAAL-POD-MASQ");
        /* Changed the first time only. */
        assert_int_equal(netipt_rule_ensure(h, "POSTROUTING", &jump, false, &err), round == 0);
        assert_int_equal(netipt_table_commit(h, "nat", &err), 0);
        netipt_table_free(&h);
        netipt_unlock(lock);
    }
    char out[4096];
    list_chain("nat", "POSTROUTING", out, sizeof(out));
    assert_string_equal(out, "-m comment --comment \"kraal pod masquerade\" -j KRAAL-POD-MASQ\n");
    list_chain("nat", "KRAAL-POD-MASQ", out, sizeof(out));
    assert_string_equal(out, "-s 10.244.1.0/24 ! -d 10.244.0.0/16 -j MASQUERADE\n");

    /* Copies left by someone else are folded into one. */
    struct xtc_handle *h = netipt_table_open("nat", &err);
    assert_non_null(h);
    netipt_rule_t jump;
    netipt_rule_init(&jump);
    netipt_match_comment(&jump, "kraal pod masquerade");
    netipt_target_jump(&jump, "KRAAL-POD-MASQ");
    assert_int_equal(netipt_rule_append(h, "POSTROUTING", &jump, &err), 0);
    assert_int_equal(netipt_rule_append(h, "POSTROUTING", &jump, &err), 0);
    assert_int_equal(netipt_table_commit(h, "nat", &err), 0);
    netipt_table_free(&h);
    h = netipt_table_open("nat", &err);
    assert_int_equal(netipt_rule_ensure(h, "POSTROUTING", &jump, false, &err), 1);
    assert_int_equal(netipt_chain_remove(h, "KRAAL-NOT-THERE", &err), 0);
    assert_int_equal(netipt_table_commit(h, "nat", &err), 0);
    netipt_table_free(&h);
    list_chain("nat", "POSTROUTING", out, sizeof(out));
    assert_string_equal(out, "-m comment --comment \"kraal pod masquerade\" -j KRAAL-POD-MASQ\n");

    /* A chain someone jumps to is not removed. */
    h = netipt_table_open("nat", &err);
    assert_true(netipt_chain_remove(h, "KRAAL-POD-MASQ", &err) < 0);
    netipt_table_free(&h);
    unlink(lockfile);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masquerade),
        cmocka_unit_test(test_service_rules),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_commit_in_netns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
