/* network-proxy: Services and EndpointSlices to svcports, svcports to
 * rules (decoded back to iptables-save text), the model's dirty marking;
 * as root, syncs into a network namespace of the test's own. */
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
#include <unistd.h>

#include <kraal/value.h>

#include "model.h"
#include "rules.h"
#include "sync.h"

static kr_arena_t *arena;

static const kr_value_t *json(const char *text)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    assert_int_equal(kr_json_decode(arena, text, strlen(text), &v, &err), 0);
    return v;
}

static const char *web_svc = "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},"
                             "\"spec\":{\"clusterIP\":\"10.96.0.20\",\"ports\":[{\"name\":"
                             "\"http\",\"port\":80,\"protocol\":\"TCP\"}]}}";

/* A slice of web with the given endpoints ("ip" ready, "-ip" not ready). */
static const kr_value_t *slice(const char *name, const char *const *ips, size_t n)
{
    char buf[4096];
    int k = snprintf(buf, sizeof(buf),
                     "{\"metadata\":{\"namespace\":\"default\",\"name\":\"%s\",\"labels\":{"
                     "\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
                     "\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}],"
                     "\"endpoints\":[",
                     name);
    for (size_t i = 0; i < n; i++) {
        bool ready = ips[i][0] != '-';
        k += snprintf(buf + k, sizeof(buf) - (size_t)k,
                      "%s{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":%s}}", i ? "," : "",
                      ready ? ips[i] : ips[i] + 1, ready ? "true" : "false");
    }
    snprintf(buf + k, sizeof(buf) - (size_t)k, "]}");
    return json(buf);
}

/* The rules as "table chain rule" lines. */
typedef struct lines {
    char buf[16384];
    size_t len;
} lines_t;

static int text_emit(void *ud, proxy_table_t table, const char *chain, const netipt_rule_t *r,
                     kr_error_t *err)
{
    (void)err;
    lines_t *l = ud;
    char rule[1024];
    assert_non_null(netipt_rule_entry(r));
    netipt_entry_format(netipt_rule_entry(r), NULL, rule, sizeof(rule));
    l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%s -A %s %s\n",
                               table == PROXY_NAT ? "nat" : "filter", chain, rule);
    return 0;
}

static void all_rules(const proxy_svcport_t *sp, lines_t *l)
{
    proxy_opts_t o = {0};
    kr_error_t err;
    l->len = 0;
    l->buf[0] = 0;
    assert_int_equal(proxy_rules_entry(sp, &o, text_emit, l, &err), 0);
    assert_int_equal(proxy_rules_chains(sp, &o, text_emit, l, &err), 0);
    assert_int_equal(proxy_rules_reject(sp, text_emit, l, &err), 0);
}

static void test_cluster_ip(void **state)
{
    (void)state;
    const char *ips[] = {"10.244.2.9", "10.244.1.5", "-10.244.3.3", "10.244.1.7"};
    const kr_value_t *sl[] = {slice("web-abc", ips, 4)};
    proxy_svcport_t *sps;
    assert_int_equal(proxy_svcports_build(json(web_svc), sl, 1, &sps), 1);
    proxy_svcport_t *sp = &sps[0];
    assert_string_equal(sp->name, "default/web:http");
    /* kube-proxy's names: KUBE-SVC-CDGGSHYLG3RE2FKL for this port. */
    assert_string_equal(sp->chain, "KRAAL-SVC-CDGGSHYLG3RE2FKL");
    assert_int_equal(sp->neps, 3); /* the unready one is out */
    assert_string_equal(sp->eps[0].chain, "KRAAL-SEP-AFGSLHOD2HFNCBX4"); /* 10.244.1.5:8080 */
    lines_t l;
    all_rules(sp, &l);
    char want[4096];
    snprintf(want, sizeof(want),
             "nat -A KRAAL-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "
             "\"default/web:http cluster IP\" -m tcp --dport 80 -j KRAAL-SVC-CDGGSHYLG3RE2FKL\n"
             "nat -A KRAAL-SVC-CDGGSHYLG3RE2FKL -m statistic --mode random --probability "
             "0.33333333349 -j %s\n"
             "nat -A KRAAL-SVC-CDGGSHYLG3RE2FKL -m statistic --mode random --probability "
             "0.50000000000 -j %s\n"
             "nat -A KRAAL-SVC-CDGGSHYLG3RE2FKL -j %s\n"
             "nat -A %s -s 10.244.1.5/32 -j KRAAL-MARK-MASQ\n"
             "nat -A %s -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080\n"
             "nat -A %s -s 10.244.1.7/32 -j KRAAL-MARK-MASQ\n"
             "nat -A %s -p tcp -m tcp -j DNAT --to-destination 10.244.1.7:8080\n"
             "nat -A %s -s 10.244.2.9/32 -j KRAAL-MARK-MASQ\n"
             "nat -A %s -p tcp -m tcp -j DNAT --to-destination 10.244.2.9:8080\n",
             sp->eps[0].chain, sp->eps[1].chain, sp->eps[2].chain, sp->eps[0].chain,
             sp->eps[0].chain, sp->eps[1].chain, sp->eps[1].chain, sp->eps[2].chain,
             sp->eps[2].chain);
    assert_string_equal(l.buf, want);
    proxy_svcport_clear(sp);
    free(sps);
}

static void test_nodeport_affinity(void **state)
{
    (void)state;
    const kr_value_t *svc = json(
        "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{\"type\":"
        "\"NodePort\",\"clusterIP\":\"10.96.0.20\",\"sessionAffinity\":\"ClientIP\","
        "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":600}},\"ports\":[{\"name\":"
        "\"http\",\"port\":80,\"nodePort\":30080}]}}");
    const char *ips[] = {"10.244.1.5"};
    const kr_value_t *sl[] = {slice("web-abc", ips, 1)};
    proxy_svcport_t *sps;
    assert_int_equal(proxy_svcports_build(svc, sl, 1, &sps), 1);
    lines_t l;
    all_rules(&sps[0], &l);
    const char *sep = sps[0].eps[0].chain;
    char want[4096];
    snprintf(want, sizeof(want),
             "nat -A KRAAL-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "
             "\"default/web:http cluster IP\" -m tcp --dport 80 -j KRAAL-SVC-CDGGSHYLG3RE2FKL\n"
             "nat -A KRAAL-NODEPORTS -p tcp -m comment --comment \"default/web:http\" -m tcp "
             "--dport 30080 -j KRAAL-MARK-MASQ\n"
             "nat -A KRAAL-NODEPORTS -p tcp -m comment --comment \"default/web:http\" -m tcp "
             "--dport 30080 -j KRAAL-SVC-CDGGSHYLG3RE2FKL\n"
             "nat -A KRAAL-SVC-CDGGSHYLG3RE2FKL -m recent --rcheck --seconds 600 --reap --name "
             "%s --mask 255.255.255.255 --rsource -j %s\n"
             "nat -A KRAAL-SVC-CDGGSHYLG3RE2FKL -j %s\n"
             "nat -A %s -s 10.244.1.5/32 -j KRAAL-MARK-MASQ\n"
             "nat -A %s -p tcp -m recent --set --name %s --mask 255.255.255.255 --rsource -m tcp "
             "-j DNAT --to-destination 10.244.1.5:8080\n",
             sep, sep, sep, sep, sep, sep);
    assert_string_equal(l.buf, want);
    proxy_svcport_clear(&sps[0]);
    free(sps);
}

static void test_no_endpoints_and_headless(void **state)
{
    (void)state;
    const kr_value_t *svc = json(
        "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{\"type\":"
        "\"NodePort\",\"clusterIP\":\"10.96.0.20\",\"ports\":[{\"port\":53,\"protocol\":\"UDP\","
        "\"nodePort\":30053}]}}");
    proxy_svcport_t *sps;
    assert_int_equal(proxy_svcports_build(svc, NULL, 0, &sps), 1);
    assert_string_equal(sps[0].name, "default/web");
    lines_t l;
    all_rules(&sps[0], &l);
    assert_string_equal(l.buf, "filter -A KRAAL-SERVICES -d 10.96.0.20/32 -p udp -m comment "
                               "--comment \"default/web has no endpoints\" -m udp --dport 53 -j "
                               "REJECT --reject-with icmp-port-unreachable\n"
                               "filter -A KRAAL-EXTERNAL-SERVICES -p udp -m comment --comment "
                               "\"default/web has no endpoints\" -m addrtype --dst-type LOCAL -m "
                               "udp --dport 30053 -j REJECT --reject-with icmp-port-unreachable\n");
    proxy_svcport_clear(&sps[0]);
    free(sps);

    const kr_value_t *headless =
        json("{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{\"clusterIP\":"
             "\"None\",\"ports\":[{\"port\":80}]}}");
    const char *ips[] = {"10.244.1.5"};
    const kr_value_t *sl[] = {slice("web-abc", ips, 1)};
    assert_int_equal(proxy_svcports_build(headless, sl, 1, &sps), 0);
    assert_null(sps);
}

/* A slice of web: 10.244.1.5 serving and terminating, 10.244.1.6
 * terminating and not serving, then `more`. */
#define TERMINATING_SLICE(more)                                                                    \
    "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web-abc\"},\"addressType\":\"IPv4\","     \
    "\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":[{\"addresses\":[\"10.244.1.5\"]" \
    ","                                                                                            \
    "\"conditions\":{\"ready\":false,\"serving\":true,\"terminating\":true}},{\"addresses\":["     \
    "\"10.244.1.6\"],\"conditions\":{\"ready\":false,\"serving\":false,\"terminating\":true}"      \
    "}" more "]}"

static void test_terminating_fallback(void **state)
{
    (void)state;
    /* No ready endpoint: the serving, terminating one drains. */
    const kr_value_t *sl[] = {json(TERMINATING_SLICE(""))};
    proxy_svcport_t *sps;
    assert_int_equal(proxy_svcports_build(json(web_svc), sl, 1, &sps), 1);
    assert_int_equal(sps[0].neps, 1);
    assert_int_equal(sps[0].eps[0].ip, htonl(0x0af40105));
    proxy_svcport_clear(&sps[0]);
    free(sps);
    /* A ready one: only it. */
    sl[0] = json(TERMINATING_SLICE(",{\"addresses\":[\"10.244.1.7\"]}"));
    assert_int_equal(proxy_svcports_build(json(web_svc), sl, 1, &sps), 1);
    assert_int_equal(sps[0].neps, 1);
    assert_int_equal(sps[0].eps[0].ip, htonl(0x0af40107));
    proxy_svcport_clear(&sps[0]);
    free(sps);
}

/* The model over a fake cache of two objects. */
typedef struct cache {
    const kr_value_t *svc;
    const kr_value_t *slice;
} cache_t;

static const kr_value_t *cache_lookup(void *ud, bool is_slice, const char *key)
{
    cache_t *c = ud;
    if (is_slice)
        return !strcmp(key, "default/web-abc") ? c->slice : NULL;
    return !strcmp(key, "default/web") ? c->svc : NULL;
}

static void test_model_dirty(void **state)
{
    (void)state;
    proxy_model_t *m = proxy_model_new();
    bool entries = false;
    const char *three[] = {"10.244.1.5", "10.244.1.6", "10.244.1.7"};
    const char *two[] = {"10.244.1.5", "10.244.1.7"};
    cache_t c = {json(web_svc), slice("web-abc", three, 3)};
    proxy_model_link_slice(m, "default/web-abc", "default/web");
    proxy_model_touch(m, "default/web");
    assert_true(proxy_model_pending(m));
    assert_int_equal(proxy_model_update(m, cache_lookup, &c, &entries), 1);
    assert_true(entries); /* a new port with endpoints */
    size_t n;
    proxy_svcport_t *const *sps = proxy_model_svcports(m, &n);
    assert_int_equal(n, 1);
    assert_int_equal(sps[0]->neps, 3);
    assert_true(sps[0]->dirty);
    sps[0]->dirty = false; /* synced */

    /* The same objects again: nothing to write. */
    proxy_model_link_slice(m, "default/web-abc", "default/web");
    assert_int_equal(proxy_model_update(m, cache_lookup, &c, &entries), 0);
    assert_false(entries);
    sps = proxy_model_svcports(m, &n);
    assert_false(sps[0]->dirty);

    /* Relinked from scratch (the full sync's rebuild): nothing changed. */
    proxy_model_unlink_all(m);
    assert_true(proxy_model_pending(m));
    proxy_model_link_slice(m, "default/web-abc", "default/web");
    assert_int_equal(proxy_model_update(m, cache_lookup, &c, &entries), 0);
    sps = proxy_model_svcports(m, &n);
    assert_int_equal(sps[0]->neps, 3);

    /* An endpoint goes. */
    c.slice = slice("web-abc", two, 2);
    proxy_model_link_slice(m, "default/web-abc", "default/web");
    assert_int_equal(proxy_model_update(m, cache_lookup, &c, &entries), 1);
    assert_false(entries); /* only the port's own chains change */
    sps = proxy_model_svcports(m, &n);
    assert_int_equal(sps[0]->neps, 2);
    assert_true(sps[0]->dirty);

    /* The slice goes, then the Service: the svcport stays without
     * endpoints, then goes. */
    proxy_model_link_slice(m, "default/web-abc", NULL);
    c.slice = NULL;
    assert_int_equal(proxy_model_update(m, cache_lookup, &c, &entries), 1);
    assert_true(entries); /* its KRAAL-SERVICES rule goes */
    sps = proxy_model_svcports(m, &n);
    assert_int_equal(n, 1);
    assert_int_equal(sps[0]->neps, 0);
    c.svc = NULL;
    proxy_model_touch(m, "default/web");
    assert_int_equal(proxy_model_update(m, cache_lookup, &c, &entries), 1);
    proxy_model_svcports(m, &n);
    assert_int_equal(n, 0);
    proxy_model_destroy(&m);
    assert_null(m);
}

/* UDP ports note the conntrack entries a change makes stale. */
static const kr_value_t *udp_slice(const char *ips)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web-abc\"},"
             "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"dns\",\"port\":53,"
             "\"protocol\":\"UDP\"}],\"endpoints\":[%s]}",
             ips);
    return json(buf);
}

static void test_model_stale(void **state)
{
    (void)state;
    proxy_model_t *m = proxy_model_new();
    cache_t c = {json("{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},"
                      "\"spec\":{\"clusterIP\":\"10.96.0.30\",\"ports\":[{\"name\":\"dns\","
                      "\"port\":53,\"protocol\":\"UDP\"}]}}"),
                 udp_slice("{\"addresses\":[\"10.244.1.5\"]},{\"addresses\":[\"10.244.1.6\"]}")};
    proxy_model_link_slice(m, "default/web-abc", "default/web");
    proxy_model_update(m, cache_lookup, &c, NULL);
    size_t n;
    proxy_ct_stale_t *st = proxy_model_take_stale(m, &n);
    /* The first endpoints: the flows rejected until now start over. */
    assert_int_equal(n, 1);
    assert_int_equal(st[0].cluster_ip, htonl(0x0a60001e));
    assert_int_equal(st[0].endpoint, 0);
    free(st);
    c.slice = udp_slice("{\"addresses\":[\"10.244.1.6\"]}");
    proxy_model_link_slice(m, "default/web-abc", "default/web");
    proxy_model_update(m, cache_lookup, &c, NULL);
    st = proxy_model_take_stale(m, &n);
    assert_int_equal(n, 1);
    assert_int_equal(st[0].endpoint, htonl(0x0af40105)); /* 10.244.1.5 went */
    free(st);
    c.svc = NULL;
    proxy_model_touch(m, "default/web");
    proxy_model_update(m, cache_lookup, &c, NULL);
    st = proxy_model_take_stale(m, &n);
    assert_int_equal(n, 1);
    assert_int_equal(st[0].endpoint, htonl(0x0af40106)); /* the Service went */
    free(st);
    proxy_model_destroy(&m);
}

/* ------------------------------------------------------------------ */
/* Syncs, as root in a namespace of our own */

static char *run(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + len, 1, cap - len - 1, f)) > 0) {
        len += k;
        if (len + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[len] = 0;
    pclose(f);
    return out;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Returns the number of chains the sync wrote. */
static size_t sync_what(proxy_svcport_t *const *sps, size_t n, unsigned what)
{
    proxy_opts_t o = {0};
    proxy_sync_result_t res;
    kr_error_t err = {0};
    int rc = proxy_sync(sps, n, &o, what, 1000, &res, &err);
    if (rc < 0)
        fail_msg("sync: %s", err.message);
    return res.chains_written;
}

static size_t sync_ok(proxy_svcport_t *const *sps, size_t n, bool full)
{
    return sync_what(sps, n, full ? PROXY_SYNC_FULL : PROXY_SYNC_FILTER | PROXY_SYNC_ENTRIES);
}

static void test_sync_in_netns(void **state)
{
    (void)state;
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0 || system("iptables-legacy-save >/dev/null"))
        skip();
    char lockfile[] = "/tmp/test_proxy_lock_XXXXXX";
    int fd = mkstemp(lockfile);
    assert_true(fd >= 0);
    close(fd);
    setenv("XTABLES_LOCKFILE", lockfile, 1);
    /* Someone else's rules, which no sync may touch. */
    assert_int_equal(system("iptables-legacy -w -t nat -N OTHER && iptables-legacy -w -t nat -A "
                            "POSTROUTING -s 192.0.2.1 -j OTHER"),
                     0);

    const char *three[] = {"10.244.1.5", "10.244.1.6", "10.244.1.7"};
    const kr_value_t *sl[] = {slice("web-abc", three, 3)};
    proxy_svcport_t *sps;
    assert_int_equal(proxy_svcports_build(json(web_svc), sl, 1, &sps), 1);
    proxy_svcport_t *p = &sps[0];
    assert_int_equal(sync_ok(&p, 1, true), 4);
    /* Twice: nothing doubles, and nothing is written (the table is as it
     * should be). */
    assert_int_equal(sync_ok(&p, 1, true), 0);
    char *nat = run("iptables-legacy-save -t nat");
    assert_int_equal(count(nat, "-j DNAT --to-destination 10.244.1."), 3);
    assert_int_equal(count(nat, "-A PREROUTING -m comment --comment \"kraal service portals\" -j "
                                "KRAAL-SERVICES"),
                     1);
    assert_int_equal(count(nat, "-A POSTROUTING -s 192.0.2.1/32 -j OTHER"), 1);
    assert_int_equal(count(nat, ":OTHER"), 1);
    free(nat);

    /* A rule deleted by hand stays deleted at a partial sync of
     * something else and comes back at the full one. */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "iptables-legacy -w -t nat -D %s 2", p->eps[0].chain);
    assert_int_equal(system(cmd), 0);
    sync_ok(&p, 1, false);
    nat = run("iptables-legacy-save -t nat");
    assert_int_equal(count(nat, "-j DNAT --to-destination 10.244.1."), 2);
    free(nat);
    assert_int_equal(sync_ok(&p, 1, true), 4); /* the port's chains, rewritten */
    nat = run("iptables-legacy-save -t nat");
    assert_int_equal(count(nat, "-j DNAT --to-destination 10.244.1."), 3);
    free(nat);
    /* A rule added by hand to one of our chains goes too. */
    snprintf(cmd, sizeof(cmd), "iptables-legacy -w -t nat -A %s -j RETURN", p->chain);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(sync_ok(&p, 1, true), 4);
    nat = run("iptables-legacy-save -t nat");
    snprintf(cmd, sizeof(cmd), "-A %s -j RETURN", p->chain);
    assert_null(strstr(nat, cmd));
    free(nat);

    /* A removed endpoint's chain goes; no endpoint at all: REJECT. */
    proxy_svcport_t *two;
    const kr_value_t *sl2[] = {slice("web-abc", three, 2)};
    assert_int_equal(proxy_svcports_build(json(web_svc), sl2, 1, &two), 1);
    two[0].dirty = true;
    sync_what(&two, 1, 0); /* endpoints only: KRAAL-SERVICES and filter kept */
    nat = run("iptables-legacy-save -t nat");
    assert_int_equal(count(nat, "-j DNAT --to-destination 10.244.1."), 2);
    assert_int_equal(count(nat, ":KRAAL-SEP-"), 2);
    assert_null(strstr(nat, p->eps[2].chain));
    free(nat);
    proxy_svcport_t *none;
    assert_int_equal(proxy_svcports_build(json(web_svc), NULL, 0, &none), 1);
    sync_ok(&none, 1, false);
    nat = run("iptables-legacy-save -t nat");
    assert_null(strstr(nat, "KRAAL-SVC-"));
    assert_null(strstr(nat, "KRAAL-SEP-"));
    free(nat);
    char *flt = run("iptables-legacy-save -t filter");
    assert_int_equal(count(flt, "-A FORWARD -m comment --comment \"kraal forwarding rules\" -j "
                                "KRAAL-FORWARD"),
                     1);
    assert_int_equal(count(flt, "-A KRAAL-FORWARD -m comment --comment \"kraal forwarding "
                                "conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j "
                                "ACCEPT"),
                     1);
    assert_int_equal(count(flt, "-A KRAAL-FORWARD -m conntrack --ctstate INVALID -j DROP"), 1);
    assert_int_equal(
        count(flt, "\"default/web:http has no endpoints\" -m tcp --dport 80 -j REJECT"), 1);
    free(flt);
    /* The Service goes: nothing of it is left. */
    sync_ok(NULL, 0, true);
    nat = run("iptables-legacy-save -t nat; iptables-legacy-save -t filter");
    assert_null(strstr(nat, "default/web"));
    assert_int_equal(count(nat, "-A POSTROUTING -s 192.0.2.1/32 -j OTHER"), 1);
    free(nat);

    proxy_svcport_clear(&sps[0]);
    free(sps);
    proxy_svcport_clear(&two[0]);
    free(two);
    proxy_svcport_clear(&none[0]);
    free(none);
    unlink(lockfile);
}

static int setup(void **state)
{
    (void)state;
    arena = kr_arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_arena_destroy(&arena);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_ip),
        cmocka_unit_test(test_nodeport_affinity),
        cmocka_unit_test(test_no_endpoints_and_headless),
        cmocka_unit_test(test_terminating_fallback),
        cmocka_unit_test(test_model_dirty),
        cmocka_unit_test(test_model_stale),
        cmocka_unit_test(test_sync_in_netns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
