/* libFuzzer target: DNS queries off the network into dns_answer (and what
 * the forwarder does with a client's query and an upstream's reply:
 * dns_query_info, dns_answer_rcode, dns_chase_query, dns_chase_merge, the
 * cache's put and get),
 * against an index holding each kind of Service.  The first byte picks
 * UDP or TCP sizes; the rest is the message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "answer.h"
#include "cache.h"
#include "index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dns_index_t *IDX;
static dns_cache_t *CACHE;
static dns_zone_conf_t ZONE = {.domain = "cluster.local", .ttl = 30};

static void add(kr_arena_t *a, void (*set)(dns_index_t *, const kr_value_t *), const char *json)
{
    kr_value_t *v = NULL;
    if (kr_json_decode(a, json, strlen(json), &v, NULL) == 0)
        set(IDX, v);
}

static void setup(void)
{
    kr_arena_t *a = kr_arena_new(0);
    IDX = dns_index_new();
    CACHE = dns_cache_new(64, 30);
    dns_ip_parse("10.0.0.1", &ZONE.ns_ip);
    add(a, dns_index_set_service,
        "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"clusterIPs\":"
        "[\"10.96.0.20\",\"fd00::20\"],\"ports\":[{\"name\":\"http\",\"port\":80}]}}");
    add(a, dns_index_set_service,
        "{\"metadata\":{\"name\":\"db\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":"
        "\"None\",\"ports\":[{\"name\":\"pg\",\"port\":5432}]}}");
    add(a, dns_index_set_slice,
        "{\"metadata\":{\"name\":\"db-1\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/"
        "service-name\":\"db\"}},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":"
        "[\"10.244.0.5\"],\"hostname\":\"db-0\"},{\"addresses\":[\"10.244.0.6\"]}],\"ports\":"
        "[{\"name\":\"pg\",\"protocol\":\"TCP\",\"port\":5432}]}");
    add(a, dns_index_set_service,
        "{\"metadata\":{\"name\":\"ext\",\"namespace\":\"default\"},\"spec\":{\"type\":"
        "\"ExternalName\",\"externalName\":\"www.example.com\"}}");
    add(a, dns_index_set_service,
        "{\"metadata\":{\"name\":\"loop\",\"namespace\":\"default\"},\"spec\":{\"type\":"
        "\"ExternalName\",\"externalName\":\"loop.default.svc.cluster.local\"}}");
    kr_arena_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (IDX == NULL)
        setup();
    if (size < 1)
        return 0;
    bool tcp = data[0] & 1;
    data++;
    size--;
    uint8_t *out = NULL;
    size_t outlen = 0;
    dns_verdict_t v = dns_answer(IDX, &ZONE, data, size, tcp, &out, &outlen);
    if (out != NULL && (v == DNS_REPLY || v == DNS_CHASE)) {
        if (outlen > (tcp ? 65535u : DNS_UDP_MAX))
            abort();
        size_t qlen = 0, mlen = 0;
        uint8_t *cq = dns_chase_query(out, outlen, &qlen);
        /* the input as the upstream's answer to it */
        uint8_t *m = dns_chase_merge(out, outlen, data, size, tcp, &mlen);
        free(cq);
        free(m);
    }
    free(out);
    char name[256];
    uint16_t qtype, id;
    dns_query_info(data, size, name, sizeof name, &qtype, &id);
    /* the input as an upstream's answer to itself, kept and served */
    dns_cache_put(CACHE, data, size, data, size, 0);
    size_t clen;
    free(dns_cache_get(CACHE, data, size, tcp, 1000, &clen));
    size_t rlen;
    free(dns_answer_rcode(data, size, LDNS_RCODE_SERVFAIL, &rlen));
    return 0;
}
