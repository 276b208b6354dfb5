/* Service ClusterIP / NodePort allocation (core/svcalloc.c): what a write
 * takes, the errors upstream answers, release on commit and on failure,
 * the dynamic band, full ranges, the rebuild after a restart. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "svcalloc.h"

static kr_arena_t *arena;
static kr_svcalloc_t *al;

static int setup(void **state)
{
    (void)state;
    arena = kr_arena_new(0);
    kr_error_t err;
    al = kr_svcalloc_new(NULL, NULL, &err);
    return al == NULL;
}

static int teardown(void **state)
{
    (void)state;
    kr_svcalloc_destroy(&al);
    kr_arena_destroy(&arena);
    return 0;
}

static kr_value_t *Y(const char *yaml)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_yaml_decode(arena, yaml, strlen(yaml), &v, &err) < 0)
        fail_msg("bad yaml: %s", err.message);
    return kr_value_array_get(v, 0); /* the documents of the stream */
}

static kr_value_t *svc(const char *spec)
{
    return Y(kr_arena_printf(arena, "{metadata: {name: s, namespace: default}, spec: %s}", spec));
}

/* A write that must succeed; its change is committed. */
static void write_ok(kr_value_t *obj, const kr_value_t *old)
{
    kr_validation_t v;
    kr_validation_init(&v, arena);
    kr_svc_change_t *c;
    kr_error_t err;
    kr_error_clear(&err);
    if (kr_svcalloc_write(al, arena, obj, old, &v, &c, &err) < 0)
        fail_msg("write failed: %s / %zu causes", err.message, kr_validation_count(&v));
    kr_svcalloc_commit(al, &c);
    assert_null(c);
}

/* A write that must fail with "field: message" as its only cause. */
static void write_invalid(kr_value_t *obj, const kr_value_t *old, const char *want)
{
    kr_validation_t v;
    kr_validation_init(&v, arena);
    kr_svc_change_t *c = (kr_svc_change_t *)1;
    kr_error_t err;
    assert_true(kr_svcalloc_write(al, arena, obj, old, &v, &c, &err) < 0);
    assert_null(c);
    assert_int_equal(kr_validation_count(&v), 1);
    const kr_value_t *cause = kr_value_array_get(v.causes, 0);
    char got[512];
    snprintf(got, sizeof got, "%s: %s", kr_value_map_str(cause, "field"),
             kr_value_map_str(cause, "message"));
    assert_string_equal(got, want);
}

static const char *cip(const kr_value_t *obj)
{
    return kr_value_as_str(kr_value_get(obj, "spec.clusterIP"));
}

static int64_t node_port(const kr_value_t *obj, int i)
{
    return kr_value_as_int(kr_value_get(obj, kr_arena_printf(arena, "spec.ports[%d].nodePort", i)),
                           0);
}

static uint32_t ip_u32(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return ntohl(a.s_addr);
}

static void test_config_values(void **state)
{
    (void)state;
    kr_error_t err;
    uint32_t net;
    int prefix, lo, hi;
    assert_int_equal(kr_svcalloc_parse_cidr("10.96.3.4/12", &net, &prefix, &err), 0);
    assert_int_equal(net, ip_u32("10.96.0.0"));
    assert_int_equal(prefix, 12);
    assert_true(kr_svcalloc_parse_cidr("10.96.0.0", &net, &prefix, &err) < 0);
    assert_true(kr_svcalloc_parse_cidr("10.96.0.0/31", &net, &prefix, &err) < 0);
    assert_true(kr_svcalloc_parse_cidr("fd00::/112", &net, &prefix, &err) < 0);
    assert_int_equal(kr_svcalloc_parse_ports("30000-32767", &lo, &hi, &err), 0);
    assert_int_equal(lo, 30000);
    assert_int_equal(hi, 32767);
    assert_int_equal(kr_svcalloc_parse_ports("30000+10", &lo, &hi, &err), 0);
    assert_int_equal(hi, 30010);
    assert_true(kr_svcalloc_parse_ports("32767-30000", &lo, &hi, &err) < 0);
    assert_true(kr_svcalloc_parse_ports("0-10", &lo, &hi, &err) < 0);
    assert_true(kr_svcalloc_parse_ports("30000", &lo, &hi, &err) < 0);
    assert_null(kr_svcalloc_new("10.0.0.0/8x", NULL, &err));
}

static void test_cluster_ip(void **state)
{
    (void)state;
    /* an IP from the dynamic band: above the first 256 of 10.96.0.0/12 */
    kr_value_t *a = svc("{type: ClusterIP, ports: [{port: 80}]}");
    write_ok(a, NULL);
    uint32_t ip = ip_u32(cip(a));
    assert_true(ip > ip_u32("10.96.1.0") && ip < ip_u32("10.111.255.255"));
    assert_string_equal(kr_value_as_str(kr_value_get(a, "spec.clusterIPs[0]")), cip(a));
    assert_true(kr_svcalloc_ip_taken(al, cip(a)));

    /* asked for: in use, out of range, the network address */
    kr_value_t *b =
        svc(kr_arena_printf(arena, "{clusterIP: %s, clusterIPs: [%s]}", cip(a), cip(a)));
    write_invalid(b, NULL,
                  kr_arena_printf(arena,
                                  "spec.clusterIPs: Invalid value: []string{\"%s\"}: failed to "
                                  "allocate IP %s: provided IP is already allocated",
                                  cip(a), cip(a)));
    write_invalid(svc("{clusterIP: 10.0.0.5, clusterIPs: [10.0.0.5]}"), NULL,
                  "spec.clusterIPs: Invalid value: []string{\"10.0.0.5\"}: failed to allocate IP "
                  "10.0.0.5: provided IP is not in the valid range. The range of valid IPs is "
                  "10.96.0.0/12");
    write_invalid(svc("{clusterIP: 10.96.0.0, clusterIPs: [10.96.0.0]}"), NULL,
                  "spec.clusterIPs: Invalid value: []string{\"10.96.0.0\"}: failed to allocate IP "
                  "10.96.0.0: provided IP is not in the valid range. The range of valid IPs is "
                  "10.96.0.0/12");
    write_invalid(svc("{clusterIP: 'fd00::1', clusterIPs: ['fd00::1']}"), NULL,
                  "spec.clusterIPs[0]: Invalid value: []string{\"fd00::1\"}: IPv6 is not "
                  "configured on this cluster");
    /* the static band is there for the asking */
    kr_value_t *dns = svc("{clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10]}");
    write_ok(dns, NULL);
    assert_true(kr_svcalloc_ip_taken(al, "10.96.0.10"));

    /* headless and ExternalName take nothing */
    kr_value_t *h = svc("{clusterIP: None, clusterIPs: [None]}");
    write_ok(h, NULL);
    assert_string_equal(cip(h), "None");
    kr_value_t *en = svc("{type: ExternalName, externalName: example.com}");
    write_ok(en, NULL);
    assert_null(kr_value_get(en, "spec.clusterIP"));
    uint32_t ips, ports;
    kr_svcalloc_usage(al, &ips, &ports);
    assert_int_equal(ips, 2);

    /* a delete releases once committed; then the IP can be asked for */
    write_ok(NULL, dns);
    assert_false(kr_svcalloc_ip_taken(al, "10.96.0.10"));
    write_ok(svc("{clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10]}"), NULL);

    /* ClusterIP -> ExternalName (prepare_update dropped the IP) releases it */
    kr_value_t *en2 = svc("{type: ExternalName, externalName: example.com}");
    write_ok(en2, a);
    assert_false(kr_svcalloc_ip_taken(al, cip(a)));
}

static void test_failed_write_releases(void **state)
{
    (void)state;
    kr_value_t *a = svc("{type: NodePort, ports: [{port: 80}]}");
    kr_validation_t v;
    kr_validation_init(&v, arena);
    kr_svc_change_t *c;
    kr_error_t err;
    assert_int_equal(kr_svcalloc_write(al, arena, a, NULL, &v, &c, &err), 0);
    assert_non_null(c);
    assert_true(kr_svcalloc_ip_taken(al, cip(a)));
    assert_true(kr_svcalloc_port_taken(al, (int)node_port(a, 0)));
    kr_svcalloc_abort(al, &c);
    assert_null(c);
    assert_false(kr_svcalloc_ip_taken(al, cip(a)));
    assert_false(kr_svcalloc_port_taken(al, (int)node_port(a, 0)));

    /* a write that fails half-way (the second port is taken) keeps
     * nothing it took before */
    write_ok(svc("{type: NodePort, ports: [{port: 80, nodePort: 30080}]}"), NULL);
    kr_value_t *b = svc("{type: NodePort, ports: [{port: 81, nodePort: 30081}, {port: 82, "
                        "nodePort: 30080}]}");
    write_invalid(b, NULL,
                  "spec.ports[1].nodePort: Invalid value: 30080: provided port is already "
                  "allocated");
    assert_false(kr_svcalloc_port_taken(al, 30081));
    assert_false(kr_svcalloc_ip_taken(al, cip(b)));
    uint32_t ips, ports;
    kr_svcalloc_usage(al, &ips, &ports);
    assert_int_equal(ips, 1);
    assert_int_equal(ports, 1);
}

static void test_node_ports(void **state)
{
    (void)state;
    /* TCP and UDP on one port number share a node port (initNodePorts) */
    kr_value_t *a = svc("{type: NodePort, ports: [{name: d, port: 53, protocol: UDP}, {name: t, "
                        "port: 53, protocol: TCP}, {name: h, port: 80}]}");
    write_ok(a, NULL);
    assert_int_equal(node_port(a, 0), node_port(a, 1));
    assert_int_not_equal(node_port(a, 0), node_port(a, 2));
    for (int i = 0; i < 3; i++) {
        assert_in_range(node_port(a, i), 30000, 32767);
        assert_true(kr_svcalloc_port_taken(al, (int)node_port(a, i)));
    }
    write_invalid(svc("{type: NodePort, ports: [{port: 80, nodePort: 8080}]}"), NULL,
                  "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid "
                  "range. The range of valid ports is 30000-32767");
    kr_value_t *dup = svc(kr_arena_printf(
        arena, "{type: NodePort, ports: [{port: 80, nodePort: %d}]}", (int)node_port(a, 2)));
    write_invalid(dup, NULL,
                  kr_arena_printf(arena,
                                  "spec.ports[0].nodePort: Invalid value: %d: provided port is "
                                  "already allocated",
                                  (int)node_port(a, 2)));

    /* an update moving a node port takes the new one at once and
     * releases the old one when committed */
    kr_value_t *b = kr_value_copy(arena, a);
    kr_value_set(arena, b, "spec.ports[2].nodePort", kr_value_int(arena, 30010), NULL);
    int64_t old_np = node_port(a, 2);
    write_ok(b, a);
    assert_true(kr_svcalloc_port_taken(al, 30010));
    assert_false(kr_svcalloc_port_taken(al, (int)old_np));

    /* NodePort -> ClusterIP (the node ports dropped) releases them */
    kr_value_t *c = kr_value_copy(arena, b);
    kr_value_set(arena, c, "spec.type", kr_value_str(arena, "ClusterIP"), NULL);
    for (int i = 0; i < 3; i++)
        kr_value_map_del(kr_value_get(c, kr_arena_printf(arena, "spec.ports[%d]", i)), "nodePort");
    write_ok(c, b);
    assert_false(kr_svcalloc_port_taken(al, 30010));
    assert_false(kr_svcalloc_port_taken(al, (int)node_port(a, 0)));
    assert_true(kr_svcalloc_ip_taken(al, cip(c)));

    /* LoadBalancer: node ports unless allocateLoadBalancerNodePorts is
     * false; a health check node port with externalTrafficPolicy Local */
    kr_value_t *lb =
        svc("{type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 443}]}");
    write_ok(lb, NULL);
    assert_in_range(node_port(lb, 0), 30000, 32767);
    int64_t hc = kr_value_as_int(kr_value_get(lb, "spec.healthCheckNodePort"), 0);
    assert_in_range(hc, 30000, 32767);
    assert_int_not_equal(hc, node_port(lb, 0));
    kr_value_t *lb2 = svc("{type: LoadBalancer, allocateLoadBalancerNodePorts: false, ports: "
                          "[{port: 443}]}");
    write_ok(lb2, NULL);
    assert_int_equal(node_port(lb2, 0), 0);
}

static void test_full_ranges(void **state)
{
    (void)state;
    kr_error_t err;
    kr_svcalloc_destroy(&al);
    /* a /28 has 14 usable addresses, all dynamic (no static band) */
    al = kr_svcalloc_new("10.0.0.0/28", "30000-30003", &err);
    assert_non_null(al);
    char seen[16] = {0};
    for (int i = 0; i < 14; i++) {
        kr_value_t *s = svc("{ports: [{port: 80}]}");
        write_ok(s, NULL);
        uint32_t ip = ip_u32(cip(s));
        assert_in_range(ip, ip_u32("10.0.0.1"), ip_u32("10.0.0.14"));
        assert_int_equal(seen[ip & 15], 0);
        seen[ip & 15] = 1;
    }
    kr_validation_t v;
    kr_validation_init(&v, arena);
    kr_svc_change_t *c;
    assert_int_equal(kr_svcalloc_write(al, arena, svc("{ports: [{port: 80}]}"), NULL, &v, &c, &err),
                     -KR_E_INTERNAL);
    assert_int_equal(err.reason, KR_E_INTERNAL);
    assert_string_equal(err.message,
                        "Internal error occurred: failed to allocate a serviceIP: range is full");
    /* four node ports, then full; the IP taken before is given back */
    kr_value_t *np = svc("{type: NodePort, clusterIP: None, clusterIPs: [None], ports: [{port: 1}, "
                         "{port: 2}, {port: 3}, {port: 4}]}");
    write_ok(np, NULL);
    assert_int_equal(kr_svcalloc_write(al, arena,
                                       svc("{type: NodePort, clusterIP: None, ports: [{port: 5}]}"),
                                       NULL, &v, &c, &err),
                     -KR_E_INTERNAL);
    assert_string_equal(err.message,
                        "Internal error occurred: failed to allocate a nodePort: range is full");
}

static void test_load_after_restart(void **state)
{
    (void)state;
    kr_value_t *a = svc("{type: NodePort, ports: [{port: 80}]}");
    write_ok(a, NULL);
    kr_value_t *b = svc("{clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10]}");
    write_ok(b, NULL);
    /* a new allocator fed the stored Services holds the same values */
    kr_error_t err;
    kr_svcalloc_destroy(&al);
    al = kr_svcalloc_new(NULL, NULL, &err);
    size_t dups = 0;
    kr_svcalloc_load(al, a, &dups);
    kr_svcalloc_load(al, b, &dups);
    assert_int_equal(dups, 0);
    assert_true(kr_svcalloc_ip_taken(al, cip(a)));
    assert_true(kr_svcalloc_ip_taken(al, "10.96.0.10"));
    assert_true(kr_svcalloc_port_taken(al, (int)node_port(a, 0)));
    write_invalid(svc("{clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10]}"), NULL,
                  "spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate "
                  "IP 10.96.0.10: provided IP is already allocated");
    /* two stored Services holding one IP (two servers raced): counted */
    kr_svcalloc_load(al, b, &dups);
    assert_int_equal(dups, 1);
    uint32_t ips, ports;
    kr_svcalloc_usage(al, &ips, &ports);
    assert_int_equal(ips, 2);
    assert_int_equal(ports, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_ports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_after_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
