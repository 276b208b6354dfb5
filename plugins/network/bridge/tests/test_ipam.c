/* network-bridge's IPAM: allocation, persistence across a reopen,
 * exhaustion, release and gc, concurrent allocation. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>

#include "ipam.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_ipam.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    /* a subdirectory that does not exist yet: open makes it */
    strncat(dir, "/network/bridge", sizeof dir - strlen(dir) - 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    char *root = strdup(dir);
    *strstr(root, "/network/bridge") = '\0';
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    free(root);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *txt(struct in_addr a)
{
    static char buf[4][INET_ADDRSTRLEN];
    static int i;
    i = (i + 1) % 4;
    inet_ntop(AF_INET, &a, buf[i], sizeof buf[i]);
    return buf[i];
}

static void test_alloc_persist(void **state)
{
    (void)state;
    kr_error_t err;
    br_ipam_t *ipam = br_ipam_open(dir, "10.244.1.0/24", &err);
    assert_non_null(ipam);
    assert_string_equal(txt(br_ipam_gateway(ipam)), "10.244.1.1");
    assert_int_equal(br_ipam_prefix(ipam), 24);
    struct in_addr a, b, again;
    bool fresh = false;
    assert_int_equal(br_ipam_alloc(ipam, "sb-a", &a, &fresh, &err), 0);
    assert_true(fresh);
    assert_string_equal(txt(a), "10.244.1.2"); /* the gateway is never handed out */
    assert_int_equal(br_ipam_alloc(ipam, "sb-b", &b, NULL, &err), 0);
    assert_string_equal(txt(b), "10.244.1.3");
    /* idempotent per sandbox */
    assert_int_equal(br_ipam_alloc(ipam, "sb-a", &again, &fresh, &err), 0);
    assert_false(fresh);
    assert_int_equal(again.s_addr, a.s_addr);
    assert_int_equal(br_ipam_used(ipam), 2);
    /* one file per address holding the sandbox id */
    char path[512], buf[64] = "";
    snprintf(path, sizeof path, "%s/10.244.1.3", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "sb-b");
    br_ipam_destroy(&ipam);
    assert_null(ipam);
    /* a writer killed between its temporary file and the link */
    char stray[512];
    snprintf(stray, sizeof stray, "%s/.10.244.1.9.123.456", dir);
    f = fopen(stray, "w");
    assert_non_null(f);
    fputs("sb-z", f);
    fclose(f);

    /* a restart keeps every address and goes on after the last one */
    ipam = br_ipam_open(dir, "10.244.1.0/24", &err);
    assert_non_null(ipam);
    assert_int_equal(br_ipam_used(ipam), 2);
    assert_int_not_equal(access(stray, F_OK), 0); /* removed */
    assert_int_equal(br_ipam_lookup(ipam, "sb-b", &again), 0);
    assert_string_equal(txt(again), "10.244.1.3");
    assert_int_equal(br_ipam_lookup(ipam, "sb-x", &again), -KR_E_NOT_FOUND);
    assert_int_equal(br_ipam_release(ipam, "sb-a", &err), 1);
    assert_int_equal(br_ipam_release(ipam, "sb-a", &err), 0); /* nothing left: fine */
    struct in_addr c;
    assert_int_equal(br_ipam_alloc(ipam, "sb-c", &c, NULL, &err), 0);
    /* round robin: the address just released is not reused at once */
    assert_string_equal(txt(c), "10.244.1.4");
    snprintf(path, sizeof path, "%s/10.244.1.2", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    br_ipam_destroy(&ipam);
}

static void test_exhaustion(void **state)
{
    (void)state;
    kr_error_t err;
    /* a /29: 8 addresses, minus network, gateway, broadcast = 5 */
    br_ipam_t *ipam = br_ipam_open(dir, "10.244.7.0/29", &err);
    assert_non_null(ipam);
    char id[32];
    struct in_addr a;
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "sb-%d", i);
        assert_int_equal(br_ipam_alloc(ipam, id, &a, NULL, &err), 0);
        assert_int_not_equal(a.s_addr, htonl(0x0af40707)); /* never the broadcast */
    }
    int rc = br_ipam_alloc(ipam, "sb-5", &a, NULL, &err);
    assert_int_equal(rc, -KR_E_CONFLICT);
    assert_string_equal(err.message,
                        "no IP addresses available in range set: 10.244.7.2-10.244.7.6");
    /* a release makes room again */
    assert_int_equal(br_ipam_release(ipam, "sb-2", &err), 1);
    assert_int_equal(br_ipam_alloc(ipam, "sb-5", &a, NULL, &err), 0);
    assert_string_equal(txt(a), "10.244.7.4");
    br_ipam_destroy(&ipam);
}

static int released_n;
static char released_ids[8][32];

static void on_rel(const char *id, void *ud)
{
    (void)ud;
    if (released_n < 8)
        snprintf(released_ids[released_n], sizeof released_ids[0], "%s", id);
    released_n++;
}

static void test_gc(void **state)
{
    (void)state;
    kr_error_t err;
    br_ipam_t *ipam = br_ipam_open(dir, "10.244.2.0/24", &err);
    assert_non_null(ipam);
    struct in_addr a;
    assert_int_equal(br_ipam_alloc(ipam, "live-1", &a, NULL, &err), 0);
    assert_int_equal(br_ipam_alloc(ipam, "dead-1", &a, NULL, &err), 0);
    assert_int_equal(br_ipam_alloc(ipam, "live-2", &a, NULL, &err), 0);
    br_ipam_destroy(&ipam);
    /* an address of an older range (another podCIDR) held by a gone sandbox */
    char path[512];
    snprintf(path, sizeof path, "%s/10.244.9.5", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("dead-2", f);
    fclose(f);

    /* the agent crashed between a sandbox's removal and its DEL */
    ipam = br_ipam_open(dir, "10.244.2.0/24", &err);
    assert_non_null(ipam);
    assert_int_equal(br_ipam_used(ipam), 3);
    const char *live[] = {"live-1", "live-2", "not-allocated"};
    released_n = 0;
    assert_int_equal(br_ipam_gc(ipam, live, 3, on_rel, NULL, &err), 2);
    assert_int_equal(released_n, 2);
    bool d1 = false, d2 = false;
    for (int i = 0; i < 2; i++) {
        d1 |= strcmp(released_ids[i], "dead-1") == 0;
        d2 |= strcmp(released_ids[i], "dead-2") == 0;
    }
    assert_true(d1 && d2);
    assert_int_equal(br_ipam_used(ipam), 2);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(br_ipam_lookup(ipam, "live-2", &a), 0);
    assert_int_equal(br_ipam_lookup(ipam, "dead-1", &a), -KR_E_NOT_FOUND);
    /* nothing more to collect */
    assert_int_equal(br_ipam_gc(ipam, live, 3, NULL, NULL, &err), 0);
    /* no live sandbox at all: everything goes */
    assert_int_equal(br_ipam_gc(ipam, NULL, 0, NULL, NULL, &err), 2);
    assert_int_equal(br_ipam_used(ipam), 0);
    br_ipam_destroy(&ipam);
}

static void test_invalid(void **state)
{
    (void)state;
    kr_error_t err;
    assert_null(br_ipam_open(dir, "10.244.1.0", &err));
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_null(br_ipam_open(dir, "10.244.1.0/31", &err));
    assert_null(br_ipam_open(dir, "10.0.0.0/8", &err));
    br_ipam_t *ipam = br_ipam_open(dir, "10.244.3.0/24", &err);
    assert_non_null(ipam);
    struct in_addr a;
    assert_int_equal(br_ipam_alloc(ipam, "../x", &a, NULL, &err), -KR_E_INVALID);
    assert_int_equal(br_ipam_alloc(ipam, "", &a, NULL, &err), -KR_E_INVALID);
    br_ipam_destroy(&ipam);
}

#define THREADS 8
#define PER     30

static void *alloc_many(void *arg)
{
    br_ipam_t *ipam = ((void **)arg)[0];
    int t = (int)(intptr_t)((void **)arg)[1];
    for (int i = 0; i < PER; i++) {
        char id[32];
        struct in_addr a;
        kr_error_t err;
        snprintf(id, sizeof id, "t%d-%d", t, i);
        if (br_ipam_alloc(ipam, id, &a, NULL, &err) < 0)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    kr_error_t err;
    br_ipam_t *ipam = br_ipam_open(dir, "10.244.4.0/24", &err);
    assert_non_null(ipam);
    pthread_t th[THREADS];
    void *args[THREADS][2];
    for (int t = 0; t < THREADS; t++) {
        args[t][0] = ipam;
        args[t][1] = (void *)(intptr_t)t;
        assert_int_equal(pthread_create(&th[t], NULL, alloc_many, args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        void *rv;
        pthread_join(th[t], &rv);
        assert_null(rv);
    }
    assert_int_equal(br_ipam_used(ipam), THREADS * PER);
    /* every address distinct */
    uint8_t seen[256] = {0};
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER; i++) {
            char id[32];
            struct in_addr a;
            snprintf(id, sizeof id, "t%d-%d", t, i);
            assert_int_equal(br_ipam_lookup(ipam, id, &a), 0);
            uint8_t last = (uint8_t)(ntohl(a.s_addr) & 0xff);
            assert_int_equal(seen[last], 0);
            seen[last] = 1;
        }
    br_ipam_destroy(&ipam);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alloc_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhaustion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
