/* network-dns: the cache of upstream answers (see cache.h). */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "answer.h"

typedef struct entry {
    ldns_rbnode_t node;        /* first: the tree hands back this pointer */
    struct entry *prev, *next; /* most recently used first */
    char *key;
    uint64_t stored_ms, expires_ms;
    size_t len;
    uint8_t reply[];
} entry_t;

struct dns_cache {
    ldns_rbtree_t *tree;
    entry_t *head, *tail;
    size_t len, capacity;
    uint32_t max_ttl_s;
};

static int key_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

dns_cache_t *dns_cache_new(size_t capacity, uint32_t max_ttl_s)
{
    dns_cache_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->tree = ldns_rbtree_create(key_cmp);
    if (c->tree == NULL)
        abort();
    c->capacity = capacity;
    c->max_ttl_s = max_ttl_s;
    return c;
}

static void unlink_entry(dns_cache_t *c, entry_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(dns_cache_t *c, entry_t *e)
{
    e->next = c->head;
    if (c->head != NULL)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

static void drop(dns_cache_t *c, entry_t *e)
{
    unlink_entry(c, e);
    ldns_rbtree_delete(c->tree, e->key);
    free(e->key);
    free(e);
    c->len--;
}

void dns_cache_destroy(dns_cache_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    dns_cache_t *c = *self_p;
    while (c->head != NULL)
        drop(c, c->head);
    ldns_rbtree_free(c->tree);
    free(c);
    *self_p = NULL;
}

size_t dns_cache_len(const dns_cache_t *c)
{
    return c->len;
}

/* "name/type/class/do" of a one-question query; NULL otherwise. */
static char *key_of(const uint8_t *query, size_t qlen)
{
    ldns_pkt *q = NULL;
    if (ldns_wire2pkt(&q, query, qlen) != LDNS_STATUS_OK)
        return NULL;
    char *key = NULL;
    const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    char name[256];
    uint16_t qtype, id;
    if (ldns_pkt_qdcount(q) == 1 && question != NULL &&
        dns_query_info(query, qlen, name, sizeof name, &qtype, &id)) {
        char buf[300];
        snprintf(buf, sizeof buf, "%s/%u/%u/%d", name, qtype, (unsigned)ldns_rr_get_class(question),
                 ldns_pkt_edns_do(q) ? 1 : 0);
        key = strdup(buf);
        if (key == NULL)
            abort();
    }
    ldns_pkt_free(q);
    return key;
}

static uint32_t min_ttl(const ldns_rr_list *list, uint32_t ttl)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
        uint32_t t = ldns_rr_ttl(ldns_rr_list_rr(list, i));
        if (t < ttl)
            ttl = t;
    }
    return ttl;
}

/* How long `reply` may be kept, in seconds (0: not at all). */
static uint32_t keep_for(const uint8_t *reply, size_t rlen, uint32_t cap)
{
    ldns_pkt *r = NULL;
    if (ldns_wire2pkt(&r, reply, rlen) != LDNS_STATUS_OK)
        return 0;
    uint32_t ttl = 0;
    ldns_pkt_rcode rc = ldns_pkt_get_rcode(r);
    if (!ldns_pkt_tc(r) && (rc == LDNS_RCODE_NOERROR || rc == LDNS_RCODE_NXDOMAIN)) {
        const ldns_rr_list *an = ldns_pkt_answer(r), *ns = ldns_pkt_authority(r);
        if (ldns_rr_list_rr_count(an) > 0) {
            ttl = min_ttl(ns, min_ttl(an, cap));
        } else {
            /* negative: as long as the SOA says (RFC 2308), none without */
            for (size_t i = 0; i < ldns_rr_list_rr_count(ns); i++) {
                const ldns_rr *soa = ldns_rr_list_rr(ns, i);
                /* an SOA of the wire may come without its fields */
                const ldns_rdf *min_rdf =
                    ldns_rr_get_type(soa) == LDNS_RR_TYPE_SOA && ldns_rr_rd_count(soa) >= 7
                        ? ldns_rr_rdf(soa, 6)
                        : NULL;
                if (min_rdf == NULL || ldns_rdf_size(min_rdf) != 4)
                    continue;
                uint32_t minimum = ldns_rdf2native_int32(min_rdf);
                ttl = ldns_rr_ttl(soa) < minimum ? ldns_rr_ttl(soa) : minimum;
                ttl = ttl < cap ? ttl : cap;
            }
        }
    }
    ldns_pkt_free(r);
    return ttl;
}

void dns_cache_put(dns_cache_t *c, const uint8_t *query, size_t qlen, const uint8_t *reply,
                   size_t rlen, uint64_t now_ms)
{
    if (c->capacity == 0 || c->max_ttl_s == 0)
        return;
    uint32_t ttl = keep_for(reply, rlen, c->max_ttl_s);
    char *key = ttl > 0 ? key_of(query, qlen) : NULL;
    if (key == NULL)
        return;
    ldns_rbnode_t *n = ldns_rbtree_search(c->tree, key);
    if (n != NULL && n != LDNS_RBTREE_NULL)
        drop(c, (entry_t *)n);
    while (c->len >= c->capacity)
        drop(c, c->tail);
    entry_t *e = calloc(1, sizeof *e + rlen);
    if (e == NULL)
        abort();
    e->key = key;
    e->node.key = e->key;
    e->node.data = e;
    e->stored_ms = now_ms;
    e->expires_ms = now_ms + (uint64_t)ttl * 1000;
    e->len = rlen;
    memcpy(e->reply, reply, rlen);
    ldns_rbtree_insert(c->tree, &e->node);
    push_front(c, e);
    c->len++;
}

uint8_t *dns_cache_get(dns_cache_t *c, const uint8_t *query, size_t qlen, bool tcp, uint64_t now_ms,
                       size_t *outlen)
{
    if (c->len == 0)
        return NULL;
    char *key = key_of(query, qlen);
    if (key == NULL)
        return NULL;
    ldns_rbnode_t *n = ldns_rbtree_search(c->tree, key);
    free(key);
    if (n == NULL || n == LDNS_RBTREE_NULL)
        return NULL;
    entry_t *e = (entry_t *)n;
    if (now_ms >= e->expires_ms) {
        drop(c, e);
        return NULL;
    }
    unlink_entry(c, e);
    push_front(c, e);
    /* what is left of the entry's time: no record outlives it (CoreDNS) */
    uint32_t age = (uint32_t)((now_ms - e->stored_ms) / 1000);
    uint32_t left = (uint32_t)((e->expires_ms - now_ms + 999) / 1000);
    return dns_answer_copy(query, qlen, e->reply, e->len, age, left, tcp, outlen);
}
