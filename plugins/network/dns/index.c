/* network-dns: the name index (see index.h). */
#include "index.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"

/* A Service's node, present while the Service or any of its endpoints is. */
typedef struct svc_node {
    ldns_rbnode_t node;     /* first: the tree hands back this pointer */
    char *key;              /* "ns/name" */
    dns_svc_t svc;          /* ns and name point into `names` */
    char *names;            /* "ns\0name\0" */
    dns_epset_t *slices;    /* from EndpointSlices (slice_node.set, linked) */
    dns_epset_t *endpoints; /* from the v1 Endpoints, one per subset */
} svc_node_t;

typedef struct slice_node {
    ldns_rbnode_t node;
    char *key;     /* "ns/slice" */
    char *svc_key; /* "ns/service", or NULL when the slice names none */
    dns_epset_t set;
} slice_node_t;

struct dns_index {
    ldns_rbtree_t *svcs;   /* svc_node_t by "ns/name" */
    ldns_rbtree_t *slices; /* slice_node_t by "ns/slice" */
    size_t nsvcs;          /* nodes with a Service object */
    uint32_t serial;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static char *make_key(const char *ns, const char *name)
{
    size_t len = strlen(ns) + strlen(name) + 2;
    char *k = xcalloc(1, len);
    snprintf(k, len, "%s/%s", ns, name);
    return k;
}

bool dns_ip_parse(const char *s, dns_ip_t *ip)
{
    memset(ip, 0, sizeof *ip);
    if (s == NULL)
        return false;
    if (inet_pton(AF_INET, s, ip->addr) == 1) {
        ip->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, ip->addr) == 1) {
        ip->family = AF_INET6;
        return true;
    }
    return false;
}

const char *dns_ep_label(const dns_ep_t *ep, char *buf, size_t size)
{
    if (ep->hostname != NULL && *ep->hostname) {
        snprintf(buf, size, "%s", ep->hostname);
        return buf;
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(ep->ip.family, ep->ip.addr, text, sizeof text);
    size_t i = 0;
    for (; text[i] && i + 1 < size; i++)
        buf[i] = text[i] == '.' || text[i] == ':' ? '-' : text[i];
    if (size > 0)
        buf[i] = '\0';
    return buf;
}

/* ---- endpoint sets ------------------------------------------------------------------------ */

static void ports_free(dns_port_t *ports, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ports[i].name);
    free(ports);
}

static void epset_clear(dns_epset_t *s)
{
    for (size_t i = 0; i < s->neps; i++)
        free(s->eps[i].hostname);
    free(s->eps);
    ports_free(s->ports, s->nports);
    s->eps = NULL;
    s->ports = NULL;
    s->neps = s->nports = 0;
}

static void epsets_free(dns_epset_t *s)
{
    while (s != NULL) {
        dns_epset_t *next = s->next;
        epset_clear(s);
        free(s);
        s = next;
    }
}

/* ports[] of a Service, an EndpointSlice or an Endpoints subset */
static dns_port_t *ports_parse(const kr_value_t *arr, size_t *n)
{
    size_t len = kr_value_len(arr);
    dns_port_t *ports = xcalloc(len, sizeof *ports);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        const kr_value_t *p = kr_value_array_get(arr, i);
        int64_t num = kr_value_map_int(p, "port", -1);
        if (num < 0 || num > 65535) /* a slice's nil port: all ports */
            continue;
        const char *name = kr_value_map_str(p, "name");
        const char *proto = kr_value_map_str(p, "protocol");
        ports[k].name = xstrdup(name ? name : "");
        snprintf(ports[k].proto, sizeof ports[k].proto, "%s", proto ? proto : "TCP");
        for (char *c = ports[k].proto; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        ports[k].port = (uint16_t)num;
        k++;
    }
    *n = k;
    return ports;
}

static void ep_push(dns_epset_t *s, size_t *cap, const char *ip, const char *host, bool ready)
{
    dns_ip_t addr;
    if (!dns_ip_parse(ip, &addr))
        return;
    if (s->neps == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        s->eps = realloc(s->eps, *cap * sizeof *s->eps);
        if (s->eps == NULL)
            abort();
    }
    dns_ep_t *ep = &s->eps[s->neps++];
    ep->ip = addr;
    ep->hostname = host != NULL && *host ? xstrdup(host) : NULL;
    ep->ready = ready;
}

/* ---- service nodes ------------------------------------------------------------------------ */

static svc_node_t *svc_find(const dns_index_t *idx, const char *key)
{
    ldns_rbnode_t *n = ldns_rbtree_search(idx->svcs, key);
    return n != NULL && n != LDNS_RBTREE_NULL ? (svc_node_t *)n : NULL;
}

static svc_node_t *svc_get(dns_index_t *idx, const char *ns, const char *name)
{
    char *key = make_key(ns, name);
    svc_node_t *s = svc_find(idx, key);
    if (s != NULL) {
        free(key);
        return s;
    }
    s = xcalloc(1, sizeof *s);
    s->key = key;
    size_t nl = strlen(ns) + 1, ml = strlen(name) + 1;
    s->names = xcalloc(1, nl + ml);
    memcpy(s->names, ns, nl);
    memcpy(s->names + nl, name, ml);
    s->svc.ns = s->names;
    s->svc.name = s->names + nl;
    s->node.key = s->key;
    s->node.data = s;
    ldns_rbtree_insert(idx->svcs, &s->node);
    return s;
}

static void svc_clear(svc_node_t *s)
{
    free(s->svc.external);
    s->svc.external = NULL;
    ports_free(s->svc.ports, s->svc.nports);
    s->svc.ports = NULL;
    s->svc.nports = 0;
    s->svc.nips = 0;
    s->svc.type = DNS_SVC_NONE;
}

/* Drops the node when nothing refers to it any more. */
static void svc_maybe_drop(dns_index_t *idx, svc_node_t *s)
{
    if (s->svc.type != DNS_SVC_NONE || s->slices != NULL || s->endpoints != NULL)
        return;
    ldns_rbtree_delete(idx->svcs, s->key);
    free(s->key);
    free(s->names);
    free(s);
}

dns_index_t *dns_index_new(void)
{
    dns_index_t *idx = xcalloc(1, sizeof *idx);
    idx->svcs = ldns_rbtree_create(key_cmp);
    idx->slices = ldns_rbtree_create(key_cmp);
    if (idx->svcs == NULL || idx->slices == NULL)
        abort();
    /* a serial that moves forward across restarts, as a zone's should */
    idx->serial = (uint32_t)time(NULL);
    return idx;
}

static void free_svc_node(ldns_rbnode_t *n, void *ud)
{
    (void)ud;
    svc_node_t *s = (svc_node_t *)n;
    svc_clear(s);
    epsets_free(s->endpoints);
    free(s->key);
    free(s->names);
    free(s);
}

static void free_slice_node(ldns_rbnode_t *n, void *ud)
{
    (void)ud;
    slice_node_t *sl = (slice_node_t *)n;
    epset_clear(&sl->set);
    free(sl->key);
    free(sl->svc_key);
    free(sl);
}

void dns_index_destroy(dns_index_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    dns_index_t *idx = *self_p;
    ldns_traverse_postorder(idx->slices, free_slice_node, NULL);
    ldns_traverse_postorder(idx->svcs, free_svc_node, NULL);
    ldns_rbtree_free(idx->slices);
    ldns_rbtree_free(idx->svcs);
    free(idx);
    *self_p = NULL;
}

uint32_t dns_index_serial(const dns_index_t *idx)
{
    return idx->serial;
}

size_t dns_index_services(const dns_index_t *idx)
{
    return idx->nsvcs;
}

static bool meta(const kr_value_t *obj, const char **ns, const char **name)
{
    *ns = kr_value_as_str(kr_value_get(obj, "metadata.namespace"));
    *name = kr_value_as_str(kr_value_get(obj, "metadata.name"));
    if (*ns == NULL)
        *ns = "default";
    return *name != NULL && **name != '\0';
}

/* ---- Services ------------------------------------------------------------------------------ */

void dns_index_set_service(dns_index_t *idx, const kr_value_t *obj)
{
    const char *ns, *name;
    if (!meta(obj, &ns, &name))
        return;
    svc_node_t *s = svc_get(idx, ns, name);
    if (s->svc.type == DNS_SVC_NONE)
        idx->nsvcs++;
    svc_clear(s);
    const kr_value_t *spec = kr_value_map_get(obj, "spec");
    const char *type = kr_value_map_str(spec, "type");
    const char *cip = kr_value_map_str(spec, "clusterIP");
    if (type != NULL && strcmp(type, "ExternalName") == 0) {
        const char *ext = kr_value_map_str(spec, "externalName");
        s->svc.type = DNS_SVC_EXTERNAL;
        s->svc.external = xstrdup(ext ? ext : "");
        size_t len = strlen(s->svc.external);
        if (len > 0 && s->svc.external[len - 1] == '.')
            s->svc.external[len - 1] = '\0';
    } else if (cip != NULL && strcmp(cip, "None") == 0) {
        s->svc.type = DNS_SVC_HEADLESS;
    } else {
        /* ClusterIP, NodePort, LoadBalancer: one address per family; a
         * Service whose address is not allocated yet answers no record */
        s->svc.type = DNS_SVC_CLUSTER_IP;
        const kr_value_t *ips = kr_value_map_get(spec, "clusterIPs");
        size_t n = kr_value_len(ips);
        for (size_t i = 0; i < n + (n == 0) && s->svc.nips < 2; i++) {
            const char *ip = n ? kr_value_as_str(kr_value_array_get(ips, i)) : cip;
            dns_ip_t addr;
            if (dns_ip_parse(ip, &addr))
                s->svc.ips[s->svc.nips++] = addr;
        }
    }
    s->svc.ports = ports_parse(kr_value_map_get(spec, "ports"), &s->svc.nports);
    idx->serial++;
}

/* The node named by obj's metadata, or NULL. */
static svc_node_t *svc_of(const dns_index_t *idx, const kr_value_t *obj)
{
    const char *ns, *name;
    if (!meta(obj, &ns, &name))
        return NULL;
    char *key = make_key(ns, name);
    svc_node_t *s = svc_find(idx, key);
    free(key);
    return s;
}

void dns_index_del_service(dns_index_t *idx, const kr_value_t *obj)
{
    svc_node_t *s = svc_of(idx, obj);
    if (s == NULL || s->svc.type == DNS_SVC_NONE)
        return;
    idx->nsvcs--;
    svc_clear(s);
    idx->serial++;
    svc_maybe_drop(idx, s);
}

const dns_svc_t *dns_index_service(const dns_index_t *idx, const char *ns, const char *name)
{
    char key[512];
    if ((size_t)snprintf(key, sizeof key, "%s/%s", ns, name) >= sizeof key)
        return NULL;
    svc_node_t *s = svc_find(idx, key);
    return s != NULL && s->svc.type != DNS_SVC_NONE ? &s->svc : NULL;
}

bool dns_index_has_namespace(const dns_index_t *idx, const char *ns)
{
    char prefix[300];
    int len = snprintf(prefix, sizeof prefix, "%s/", ns);
    if (len < 0 || (size_t)len >= sizeof prefix)
        return false;
    ldns_rbnode_t *n = NULL;
    /* the last key <= "ns/" is never in the namespace ("ns/" itself is no
     * key): the namespace's keys follow it */
    if (ldns_rbtree_find_less_equal(idx->svcs, prefix, &n))
        return false;
    n = n != NULL && n != LDNS_RBTREE_NULL ? ldns_rbtree_next(n) : ldns_rbtree_first(idx->svcs);
    for (; n != LDNS_RBTREE_NULL; n = ldns_rbtree_next(n)) {
        const svc_node_t *s = (const svc_node_t *)n;
        if (strncmp(s->key, prefix, (size_t)len) != 0)
            return false;
        if (s->svc.type != DNS_SVC_NONE)
            return true;
    }
    return false;
}

const dns_epset_t *dns_index_epsets(const dns_index_t *idx, const dns_svc_t *svc)
{
    char key[512];
    if ((size_t)snprintf(key, sizeof key, "%s/%s", svc->ns, svc->name) >= sizeof key)
        return NULL;
    const svc_node_t *s = svc_find(idx, key);
    if (s == NULL)
        return NULL;
    return s->slices != NULL ? s->slices : s->endpoints;
}

void dns_index_each(const dns_index_t *idx, dns_index_each_fn fn, void *ud)
{
    for (ldns_rbnode_t *n = ldns_rbtree_first(idx->svcs); n != LDNS_RBTREE_NULL;
         n = ldns_rbtree_next(n)) {
        const svc_node_t *s = (const svc_node_t *)n;
        if (s->svc.type != DNS_SVC_NONE && !fn(&s->svc, ud))
            return;
    }
}

/* ---- EndpointSlices ------------------------------------------------------------------------ */

static void slice_unlink(dns_index_t *idx, slice_node_t *sl)
{
    if (sl->svc_key == NULL)
        return;
    svc_node_t *s = svc_find(idx, sl->svc_key);
    if (s != NULL) {
        dns_epset_t **pp = &s->slices;
        while (*pp != NULL && *pp != &sl->set)
            pp = &(*pp)->next;
        if (*pp != NULL)
            *pp = sl->set.next;
        sl->set.next = NULL;
        svc_maybe_drop(idx, s);
    }
    free(sl->svc_key);
    sl->svc_key = NULL;
}

void dns_index_set_slice(dns_index_t *idx, const kr_value_t *obj)
{
    const char *ns, *name;
    if (!meta(obj, &ns, &name))
        return;
    char *key = make_key(ns, name);
    ldns_rbnode_t *n = ldns_rbtree_search(idx->slices, key);
    slice_node_t *sl;
    if (n != NULL && n != LDNS_RBTREE_NULL) {
        free(key);
        sl = (slice_node_t *)n;
        slice_unlink(idx, sl);
        epset_clear(&sl->set);
    } else {
        sl = xcalloc(1, sizeof *sl);
        sl->key = key;
        sl->node.key = sl->key;
        sl->node.data = sl;
        ldns_rbtree_insert(idx->slices, &sl->node);
    }
    idx->serial++;
    const char *svc =
        kr_value_as_str(kr_value_map_get(kr_value_get(obj, "metadata.labels"), LABEL_SERVICE_NAME));
    const char *at = kr_value_map_str(obj, "addressType");
    if (svc == NULL || *svc == '\0' || (at != NULL && strcmp(at, "FQDN") == 0))
        return; /* kept (a later update may name a service), answers nothing */
    const kr_value_t *eps = kr_value_map_get(obj, "endpoints");
    size_t cap = 0;
    for (size_t i = 0; i < kr_value_len(eps); i++) {
        const kr_value_t *ep = kr_value_array_get(eps, i);
        /* EndpointConditions: "nil should be interpreted as ready" */
        const kr_value_t *ready = kr_value_get(ep, "conditions.ready");
        bool is_ready = kr_value_type(ready) != KR_BOOL || kr_value_as_bool(ready, true);
        const char *host = kr_value_map_str(ep, "hostname");
        const kr_value_t *addrs = kr_value_map_get(ep, "addresses");
        for (size_t j = 0; j < kr_value_len(addrs); j++)
            ep_push(&sl->set, &cap, kr_value_as_str(kr_value_array_get(addrs, j)), host, is_ready);
    }
    sl->set.ports = ports_parse(kr_value_map_get(obj, "ports"), &sl->set.nports);
    svc_node_t *s = svc_get(idx, ns, svc);
    sl->svc_key = xstrdup(s->key);
    sl->set.next = s->slices;
    s->slices = &sl->set;
}

void dns_index_del_slice(dns_index_t *idx, const kr_value_t *obj)
{
    const char *ns, *name;
    if (!meta(obj, &ns, &name))
        return;
    char *key = make_key(ns, name);
    ldns_rbnode_t *n = ldns_rbtree_search(idx->slices, key);
    free(key);
    if (n == NULL || n == LDNS_RBTREE_NULL)
        return;
    slice_node_t *sl = (slice_node_t *)n;
    slice_unlink(idx, sl);
    ldns_rbtree_delete(idx->slices, sl->key);
    free_slice_node(&sl->node, NULL);
    idx->serial++;
}

/* ---- v1 Endpoints -------------------------------------------------------------------------- */

static void subset_addrs(dns_epset_t *set, size_t *cap, const kr_value_t *addrs, bool ready)
{
    for (size_t i = 0; i < kr_value_len(addrs); i++) {
        const kr_value_t *a = kr_value_array_get(addrs, i);
        ep_push(set, cap, kr_value_map_str(a, "ip"), kr_value_map_str(a, "hostname"), ready);
    }
}

void dns_index_set_endpoints(dns_index_t *idx, const kr_value_t *obj)
{
    const char *ns, *name;
    if (!meta(obj, &ns, &name))
        return;
    svc_node_t *s = svc_get(idx, ns, name);
    epsets_free(s->endpoints);
    s->endpoints = NULL;
    const kr_value_t *subsets = kr_value_map_get(obj, "subsets");
    dns_epset_t **tail = &s->endpoints;
    for (size_t i = 0; i < kr_value_len(subsets); i++) {
        const kr_value_t *sub = kr_value_array_get(subsets, i);
        dns_epset_t *set = xcalloc(1, sizeof *set);
        size_t cap = 0;
        subset_addrs(set, &cap, kr_value_map_get(sub, "addresses"), true);
        subset_addrs(set, &cap, kr_value_map_get(sub, "notReadyAddresses"), false);
        set->ports = ports_parse(kr_value_map_get(sub, "ports"), &set->nports);
        *tail = set;
        tail = &set->next;
    }
    idx->serial++;
    svc_maybe_drop(idx, s);
}

void dns_index_del_endpoints(dns_index_t *idx, const kr_value_t *obj)
{
    svc_node_t *s = svc_of(idx, obj);
    if (s == NULL || s->endpoints == NULL)
        return;
    epsets_free(s->endpoints);
    s->endpoints = NULL;
    idx->serial++;
    svc_maybe_drop(idx, s);
}
