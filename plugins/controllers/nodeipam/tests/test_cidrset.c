/* The node IPAM CIDR set (cidrset.c): subnets of the cluster CIDR handed
 * out round robin as upstream's AllocateNext, occupied from the Nodes
 * after a restart, released by their node only, config errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cidrset.h"

static const char *cidr_of(const ipam_cidrset_t *s, uint32_t i)
{
    static char buf[4][24];
    static int k;
    k = (k + 1) % 4;
    ipam_cidrset_format(s, i, buf[k], sizeof buf[k]);
    return buf[k];
}

static void test_config(void **state)
{
    (void)state;
    ipam_cidrset_t s;
    kr_error_t err;
    assert_int_equal(ipam_cidrset_init(&s, "10.244.0.0/16", 24, &err), 0);
    assert_int_equal(s.n, 256);
    ipam_cidrset_fini(&s);
    assert_true(ipam_cidrset_init(&s, "10.244.0.0", 24, &err) < 0);
    assert_string_equal(err.message, "cluster_cidr: Invalid value: \"10.244.0.0\": must be an IPv4 "
                                     "CIDR such as 10.244.0.0/16");
    ipam_cidrset_fini(&s);
    assert_true(ipam_cidrset_init(&s, "10.244.0.0/16", 8, &err) < 0);
    ipam_cidrset_fini(&s);
    assert_true(ipam_cidrset_init(&s, "10.0.0.0/8", 26, &err) < 0);
    assert_non_null(strstr(err.message, "more than 65536"));
    ipam_cidrset_fini(&s);
    assert_true(ipam_cidrset_init(&s, "fd00::/48", 64, &err) < 0);
    ipam_cidrset_fini(&s);
}

static void test_allocate_round_robin(void **state)
{
    (void)state;
    ipam_cidrset_t s;
    kr_error_t err;
    assert_int_equal(ipam_cidrset_init(&s, "10.244.0.0/22", 24, &err), 0);
    uint32_t i;
    const char *nodes[] = {"n1", "n2", "n3"};
    for (int k = 0; k < 3; k++) {
        assert_true(ipam_cidrset_allocate(&s, nodes[k], &i));
        assert_int_equal(i, (uint32_t)k);
    }
    assert_string_equal(cidr_of(&s, 0), "10.244.0.0/24");
    assert_string_equal(cidr_of(&s, 2), "10.244.2.0/24");
    /* n2 goes: its subnet comes back after the cursor went round */
    assert_int_equal(ipam_cidrset_release(&s, "10.244.1.0/24", "n2"), 1);
    assert_true(ipam_cidrset_allocate(&s, "n4", &i));
    assert_string_equal(cidr_of(&s, i), "10.244.3.0/24");
    assert_true(ipam_cidrset_allocate(&s, "n5", &i));
    assert_string_equal(cidr_of(&s, i), "10.244.1.0/24");
    assert_false(ipam_cidrset_allocate(&s, "n6", &i));
    assert_int_equal(s.used, 4);
    /* only the holder releases */
    assert_int_equal(ipam_cidrset_release(&s, "10.244.1.0/24", "n1"), 0);
    assert_int_equal(s.used, 4);
    ipam_cidrset_fini(&s);
}

static void test_occupy(void **state)
{
    (void)state;
    ipam_cidrset_t s;
    kr_error_t err;
    assert_int_equal(ipam_cidrset_init(&s, "10.244.0.0/16", 24, &err), 0);
    /* after a restart: the Nodes' CIDRs are marked, new ones go around
     * them */
    const char *other = NULL;
    assert_int_equal(ipam_cidrset_occupy(&s, "10.244.0.0/24", "a", &other), 1);
    assert_int_equal(ipam_cidrset_occupy(&s, "10.244.1.0/24", "b", &other), 1);
    assert_int_equal(ipam_cidrset_occupy(&s, "10.244.1.0/24", "b", &other), 1); /* again */
    assert_int_equal(ipam_cidrset_occupy(&s, "10.244.1.0/24", "c", &other), -1);
    assert_string_equal(other, "b");
    assert_int_equal(ipam_cidrset_occupy(&s, "10.245.0.0/24", "c", &other), 0);
    assert_int_equal(ipam_cidrset_occupy(&s, "garbage", "c", &other), 0);
    /* a /23 covers two subnets; a /25 the one holding it */
    assert_int_equal(ipam_cidrset_occupy(&s, "10.244.4.0/23", "d", &other), 1);
    assert_int_equal(ipam_cidrset_occupy(&s, "10.244.5.128/25", "e", &other), -1);
    assert_int_equal(s.used, 4);
    uint32_t i;
    assert_true(ipam_cidrset_allocate(&s, "f", &i));
    assert_string_equal(cidr_of(&s, i), "10.244.2.0/24");
    assert_true(ipam_cidrset_allocate(&s, "g", &i));
    assert_string_equal(cidr_of(&s, i), "10.244.3.0/24");
    assert_true(ipam_cidrset_allocate(&s, "h", &i));
    assert_string_equal(cidr_of(&s, i), "10.244.6.0/24");
    assert_int_equal(ipam_cidrset_release(&s, "10.244.4.0/23", "d"), 2);
    ipam_cidrset_release_index(&s, i, "h");
    assert_int_equal(s.used, 4);
    ipam_cidrset_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_allocate_round_robin),
        cmocka_unit_test(test_occupy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
