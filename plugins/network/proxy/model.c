/* network-proxy: Services and EndpointSlices to svcports.  See model.h. */
#include "model.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* A string-keyed hash map (chained, doubling), values owned by the user. */

typedef struct pent {
    char *key;
    void *val;
    struct pent *next;
} pent_t;

typedef struct pmap {
    pent_t **b;
    size_t nb, len;
} pmap_t;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static pent_t **pmap_slot(const pmap_t *m, const char *key)
{
    if (!m->nb)
        return NULL;
    pent_t **p = &m->b[str_hash(key) & (m->nb - 1)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

static void *pmap_get(const pmap_t *m, const char *key)
{
    pent_t **p = pmap_slot(m, key);
    return p && *p ? (*p)->val : NULL;
}

static void pmap_grow(pmap_t *m)
{
    size_t nb = m->nb ? m->nb * 2 : 64;
    pent_t **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->nb; i++) {
        for (pent_t *e = m->b[i], *next; e; e = next) {
            next = e->next;
            size_t k = str_hash(e->key) & (nb - 1);
            e->next = b[k];
            b[k] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* Sets key to val (val non-NULL); returns the previous value. */
static void *pmap_put(pmap_t *m, const char *key, void *val)
{
    if (m->len + 1 > m->nb)
        pmap_grow(m);
    pent_t **p = pmap_slot(m, key);
    if (*p) {
        void *old = (*p)->val;
        (*p)->val = val;
        return old;
    }
    pent_t *e = xcalloc(1, sizeof(*e));
    e->key = xstrdup(key);
    e->val = val;
    *p = e;
    m->len++;
    return NULL;
}

/* Removes key; returns its value. */
static void *pmap_del(pmap_t *m, const char *key)
{
    pent_t **p = pmap_slot(m, key);
    if (!p || !*p)
        return NULL;
    pent_t *e = *p;
    void *val = e->val;
    *p = e->next;
    free(e->key);
    free(e);
    m->len--;
    return val;
}

typedef bool (*pmap_each_fn)(const char *key, void *val, void *ud);
static void pmap_each(const pmap_t *m, pmap_each_fn fn, void *ud)
{
    for (size_t i = 0; i < m->nb; i++)
        for (pent_t *e = m->b[i], *next; e; e = next) {
            next = e->next; /* fn may delete e */
            if (!fn(e->key, e->val, ud))
                return;
        }
}

static void pmap_free(pmap_t *m)
{
    for (size_t i = 0; i < m->nb; i++)
        for (pent_t *e = m->b[i], *next; e; e = next) {
            next = e->next;
            free(e->key);
            free(e);
        }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* Parsing */

static bool parse_ip4(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return false;
    *out = a.s_addr;
    return true;
}

static uint8_t parse_proto(const char *s)
{
    if (s && !strcmp(s, "UDP"))
        return IPPROTO_UDP;
    if (s && !strcmp(s, "SCTP"))
        return IPPROTO_SCTP;
    return IPPROTO_TCP; /* the API's default */
}

static int cmp_ep(const void *a, const void *b)
{
    const proxy_ep_t *x = a, *y = b;
    uint32_t xi = ntohl(x->ip), yi = ntohl(y->ip);
    if (xi != yi)
        return xi < yi ? -1 : 1;
    return (x->port > y->port) - (x->port < y->port);
}

/* Whether an endpoint is used: ready ones, or (when a port has none)
 * serving and terminating ones — kube-proxy's CategorizeEndpoints falls
 * back to those so that a rolling update or a scale-down does not drop
 * connections while the old pods drain. */
static bool ep_usable(const kr_value_t *ep, bool terminating_pass)
{
    /* conditions.ready: "nil should be interpreted as ready"; serving
     * likewise. */
    const kr_value_t *ready = kr_value_get(ep, "conditions.ready");
    bool is_ready = !ready || kr_value_as_bool(ready, true);
    if (!terminating_pass)
        return is_ready;
    const kr_value_t *serving = kr_value_get(ep, "conditions.serving");
    bool is_serving = serving ? kr_value_as_bool(serving, false) : is_ready;
    return is_serving && kr_value_as_bool(kr_value_get(ep, "conditions.terminating"), false);
}

/* The usable endpoints of the slices for the port named `pname`. */
static void collect_pass(proxy_svcport_t *sp, const char *pname, const kr_value_t *const *slices,
                         size_t nslices, bool terminating_pass)
{
    size_t cap = 0;
    for (size_t s = 0; s < nslices; s++) {
        const kr_value_t *sl = slices[s];
        const char *at = kr_value_map_str(sl, "addressType");
        if (at && strcmp(at, "IPv4") != 0)
            continue;
        /* Upstream matches a slice's port to the Service's by name (nil
         * and "" alike) and protocol. */
        const kr_value_t *ports = kr_value_map_get(sl, "ports");
        int64_t port = -1;
        for (size_t i = 0; i < kr_value_len(ports); i++) {
            const kr_value_t *p = kr_value_array_get(ports, i);
            const char *n = kr_value_map_str(p, "name");
            if (strcmp(n ? n : "", pname) != 0 ||
                parse_proto(kr_value_map_str(p, "protocol")) != sp->proto)
                continue;
            port = kr_value_map_int(p, "port", -1);
            break;
        }
        if (port <= 0 || port > 65535)
            continue;
        const kr_value_t *eps = kr_value_map_get(sl, "endpoints");
        for (size_t i = 0; i < kr_value_len(eps); i++) {
            const kr_value_t *ep = kr_value_array_get(eps, i);
            if (!ep_usable(ep, terminating_pass))
                continue;
            uint32_t ip;
            if (!parse_ip4(
                    kr_value_as_str(kr_value_array_get(kr_value_map_get(ep, "addresses"), 0)), &ip))
                continue;
            if (sp->neps == cap) {
                cap = cap ? cap * 2 : 4;
                sp->eps = realloc(sp->eps, cap * sizeof(*sp->eps));
                if (!sp->eps)
                    abort();
            }
            memset(&sp->eps[sp->neps], 0, sizeof(*sp->eps));
            sp->eps[sp->neps].ip = ip;
            sp->eps[sp->neps].port = (uint16_t)port;
            sp->neps++;
        }
    }
    if (sp->neps > 1) {
        qsort(sp->eps, sp->neps, sizeof(*sp->eps), cmp_ep);
        size_t w = 1; /* the same endpoint in two slices counts once */
        for (size_t i = 1; i < sp->neps; i++)
            if (cmp_ep(&sp->eps[i], &sp->eps[w - 1]) != 0)
                sp->eps[w++] = sp->eps[i];
        sp->neps = w;
    }
}

static void collect_eps(proxy_svcport_t *sp, const char *pname, const kr_value_t *const *slices,
                        size_t nslices)
{
    collect_pass(sp, pname, slices, nslices, false);
    if (sp->neps == 0)
        collect_pass(sp, pname, slices, nslices, true);
}

size_t proxy_svcports_build(const kr_value_t *svc, const kr_value_t *const *slices, size_t nslices,
                            proxy_svcport_t **out)
{
    *out = NULL;
    const char *ns = kr_value_as_str(kr_value_get(svc, "metadata.namespace"));
    const char *name = kr_value_as_str(kr_value_get(svc, "metadata.name"));
    const kr_value_t *spec = kr_value_map_get(svc, "spec");
    const char *type = kr_value_map_str(spec, "type");
    uint32_t cip = 0;
    /* Headless (None), ExternalName and not yet allocated: no virtual IP,
     * no rules. */
    if (!ns || !name || (type && !strcmp(type, "ExternalName")) ||
        !parse_ip4(kr_value_map_str(spec, "clusterIP"), &cip))
        return 0;
    bool node_ports = type && (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer"));
    uint32_t affinity = 0;
    const char *aff = kr_value_map_str(spec, "sessionAffinity");
    if (aff && !strcmp(aff, "ClientIP")) {
        int64_t t = kr_value_as_int(
            kr_value_get(spec, "sessionAffinityConfig.clientIP.timeoutSeconds"), 10800);
        affinity = t > 0 && t <= 86400 ? (uint32_t)t : 10800;
    }
    const kr_value_t *ports = kr_value_map_get(spec, "ports");
    size_t n = kr_value_len(ports), k = 0;
    proxy_svcport_t *sps = xcalloc(n, sizeof(*sps));
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *p = kr_value_array_get(ports, i);
        int64_t port = kr_value_map_int(p, "port", 0);
        if (port <= 0 || port > 65535)
            continue;
        const char *pname = kr_value_map_str(p, "name");
        if (!pname)
            pname = "";
        proxy_svcport_t *sp = &sps[k++];
        char key[600];
        snprintf(key, sizeof(key), "%s/%s%s%s", ns, name, *pname ? ":" : "", pname);
        sp->name = xstrdup(key);
        sp->proto = parse_proto(kr_value_map_str(p, "protocol"));
        sp->cluster_ip = cip;
        sp->port = (uint16_t)port;
        int64_t np = node_ports ? kr_value_map_int(p, "nodePort", 0) : 0;
        sp->node_port = np > 0 && np <= 65535 ? (uint16_t)np : 0;
        sp->affinity_s = affinity;
        collect_eps(sp, pname, slices, nslices);
        proxy_svcport_name_chains(sp);
    }
    if (k == 0) {
        free(sps);
        return 0;
    }
    *out = sps;
    return k;
}

/* ------------------------------------------------------------------ */
/* The model */

typedef struct svc_entry {
    proxy_svcport_t *sps; /* owned */
    size_t nsps;
    char **slices; /* keys of the linked EndpointSlices, owned */
    size_t nslices;
} svc_entry_t;

struct proxy_model {
    pmap_t svcs;             /* "ns/name" -> svc_entry_t */
    pmap_t slice_svc;        /* slice key -> owned copy of its svc key */
    pmap_t pending;          /* svc keys to look at -> (void *)1 */
    proxy_ct_stale_t *stale; /* UDP conntrack entries to clear after the sync */
    size_t nstale, capstale;
    proxy_svcport_t **flat; /* proxy_model_svcports' array */
    size_t nflat;
    bool flat_stale;
};

proxy_model_t *proxy_model_new(void)
{
    proxy_model_t *m = xcalloc(1, sizeof(*m));
    m->flat_stale = true;
    return m;
}

static void entry_free(svc_entry_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nsps; i++)
        proxy_svcport_clear(&e->sps[i]);
    free(e->sps);
    for (size_t i = 0; i < e->nslices; i++)
        free(e->slices[i]);
    free(e->slices);
    free(e);
}

static bool free_entry_cb(const char *key, void *val, void *ud)
{
    (void)key;
    (void)ud;
    entry_free(val);
    return true;
}

static bool free_str_cb(const char *key, void *val, void *ud)
{
    (void)key;
    (void)ud;
    free(val);
    return true;
}

void proxy_model_destroy(proxy_model_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proxy_model_t *m = *self_p;
    pmap_each(&m->svcs, free_entry_cb, NULL);
    pmap_free(&m->svcs);
    pmap_each(&m->slice_svc, free_str_cb, NULL);
    pmap_free(&m->slice_svc);
    pmap_free(&m->pending);
    free(m->stale);
    free(m->flat);
    free(m);
    *self_p = NULL;
}

void proxy_model_touch(proxy_model_t *m, const char *svc_key)
{
    pmap_put(&m->pending, svc_key, (void *)1);
}

static svc_entry_t *entry_get(proxy_model_t *m, const char *svc_key)
{
    svc_entry_t *e = pmap_get(&m->svcs, svc_key);
    if (!e) {
        e = xcalloc(1, sizeof(*e));
        pmap_put(&m->svcs, svc_key, e);
    }
    return e;
}

void proxy_model_link_slice(proxy_model_t *m, const char *slice_key, const char *svc_key)
{
    char *old = pmap_get(&m->slice_svc, slice_key);
    if (old && svc_key && !strcmp(old, svc_key)) {
        proxy_model_touch(m, svc_key); /* same Service, new content */
        return;
    }
    if (old) {
        svc_entry_t *e = pmap_get(&m->svcs, old);
        for (size_t i = 0; e && i < e->nslices; i++) {
            if (!strcmp(e->slices[i], slice_key)) {
                free(e->slices[i]);
                e->slices[i] = e->slices[--e->nslices];
                break;
            }
        }
        proxy_model_touch(m, old);
        free(pmap_del(&m->slice_svc, slice_key));
    }
    if (!svc_key)
        return;
    svc_entry_t *e = entry_get(m, svc_key);
    e->slices = realloc(e->slices, (e->nslices + 1) * sizeof(*e->slices));
    if (!e->slices)
        abort();
    e->slices[e->nslices++] = xstrdup(slice_key);
    pmap_put(&m->slice_svc, slice_key, xstrdup(svc_key));
    proxy_model_touch(m, svc_key);
}

static bool unlink_cb(const char *key, void *val, void *ud)
{
    proxy_model_t *m = ud;
    svc_entry_t *e = val;
    for (size_t i = 0; i < e->nslices; i++)
        free(e->slices[i]);
    e->nslices = 0;
    proxy_model_touch(m, key);
    return true;
}

void proxy_model_unlink_all(proxy_model_t *m)
{
    pmap_each(&m->svcs, unlink_cb, m);
    pmap_each(&m->slice_svc, free_str_cb, NULL);
    pmap_free(&m->slice_svc);
}

bool proxy_model_pending(const proxy_model_t *m)
{
    return m->pending.len > 0;
}

typedef struct update_ctx {
    proxy_model_t *m;
    proxy_lookup_fn lookup;
    void *ud;
    size_t changed;
    bool entries;
} update_ctx_t;

/* Whether a and b make the same rules in KRAAL-SERVICES, KRAAL-NODEPORTS
 * and the filter table (a REJECT while there is no endpoint). */
static bool same_entries(const proxy_svcport_t *a, const proxy_svcport_t *b)
{
    return proxy_svcport_has_chains(a) == proxy_svcport_has_chains(b) &&
           (a->neps == 0) == (b->neps == 0) && a->cluster_ip == b->cluster_ip &&
           a->port == b->port && a->proto == b->proto && a->node_port == b->node_port;
}

static void add_stale(proxy_model_t *m, const proxy_svcport_t *sp, uint32_t endpoint)
{
    if (sp->proto != IPPROTO_UDP)
        return;
    if (m->nstale == m->capstale) {
        m->capstale = m->capstale ? m->capstale * 2 : 16;
        m->stale = realloc(m->stale, m->capstale * sizeof(*m->stale));
        if (!m->stale)
            abort();
    }
    m->stale[m->nstale++] = (proxy_ct_stale_t){sp->cluster_ip, sp->node_port, endpoint};
}

static bool has_ep(const proxy_svcport_t *sp, uint32_t ip)
{
    for (size_t i = 0; i < sp->neps; i++)
        if (sp->eps[i].ip == ip)
            return true;
    return false;
}

/* kube-proxy's stale UDP flows: those to a Service that just got its first
 * endpoint (they were rejected) and those to an endpoint that went. */
static void note_stale(proxy_model_t *m, const proxy_svcport_t *now, const proxy_svcport_t *old)
{
    if (now && now->neps > 0 && (!old || old->neps == 0))
        add_stale(m, now, 0);
    for (size_t i = 0; old && i < old->neps; i++)
        if (!now || !has_ep(now, old->eps[i].ip))
            add_stale(m, old, old->eps[i].ip);
}

proxy_ct_stale_t *proxy_model_take_stale(proxy_model_t *m, size_t *n)
{
    proxy_ct_stale_t *s = m->stale;
    *n = m->nstale;
    m->stale = NULL;
    m->nstale = m->capstale = 0;
    return s;
}

/* Rebuilds one pending Service; the old svcports whose rules are equal
 * stay clean. */
static bool update_one(const char *key, void *val, void *ud)
{
    (void)val;
    update_ctx_t *u = ud;
    proxy_model_t *m = u->m;
    svc_entry_t *e = pmap_get(&m->svcs, key);
    const kr_value_t *svc = u->lookup(u->ud, false, key);
    proxy_svcport_t *sps = NULL;
    size_t n = 0;
    if (svc) {
        const kr_value_t **slices = xcalloc(e ? e->nslices : 0, sizeof(*slices));
        size_t ns = 0;
        for (size_t i = 0; e && i < e->nslices; i++) {
            const kr_value_t *sl = u->lookup(u->ud, true, e->slices[i]);
            if (sl)
                slices[ns++] = sl;
        }
        n = proxy_svcports_build(svc, slices, ns, &sps);
        free(slices);
    }
    for (size_t i = 0; i < n; i++) {
        bool same = false;
        const proxy_svcport_t *old = NULL;
        for (size_t j = 0; e && j < e->nsps && !old; j++)
            if (!strcmp(sps[i].name, e->sps[j].name))
                old = &e->sps[j];
        same = old && proxy_svcport_equal(&sps[i], old) && !old->dirty;
        sps[i].dirty = !same;
        u->changed += !same;
        if (!old || !same_entries(&sps[i], old))
            u->entries = true;
        if (!same)
            note_stale(m, &sps[i], old);
    }
    if (e) {
        /* Svcports that went away (no new one of that name) count as
         * changes too. */
        for (size_t j = 0; j < e->nsps; j++) {
            bool kept = false;
            for (size_t i = 0; i < n && !kept; i++)
                kept = !strcmp(sps[i].name, e->sps[j].name);
            u->changed += !kept;
            if (!kept) {
                u->entries = true;
                note_stale(m, NULL, &e->sps[j]);
            }
            proxy_svcport_clear(&e->sps[j]);
        }
        free(e->sps);
        e->sps = NULL;
        e->nsps = 0;
    }
    if (n > 0) {
        if (!e)
            e = entry_get(m, key);
        e->sps = sps;
        e->nsps = n;
    } else if (e && e->nslices == 0) {
        entry_free(pmap_del(&m->svcs, key));
    }
    pmap_del(&m->pending, key);
    m->flat_stale = true;
    return true;
}

size_t proxy_model_update(proxy_model_t *m, proxy_lookup_fn lookup, void *ud, bool *entries)
{
    update_ctx_t u = {m, lookup, ud, 0, false};
    pmap_each(&m->pending, update_one, &u);
    if (entries)
        *entries = u.entries;
    return u.changed;
}

typedef struct flat_ctx {
    proxy_model_t *m;
    size_t cap;
} flat_ctx_t;

static bool flat_cb(const char *key, void *val, void *ud)
{
    (void)key;
    flat_ctx_t *f = ud;
    svc_entry_t *e = val;
    for (size_t i = 0; i < e->nsps; i++) {
        if (f->m->nflat == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 256;
            f->m->flat = realloc(f->m->flat, f->cap * sizeof(*f->m->flat));
            if (!f->m->flat)
                abort();
        }
        f->m->flat[f->m->nflat++] = &e->sps[i];
    }
    return true;
}

static int cmp_sp(const void *a, const void *b)
{
    const proxy_svcport_t *x = *(proxy_svcport_t *const *)a, *y = *(proxy_svcport_t *const *)b;
    return strcmp(x->name, y->name);
}

proxy_svcport_t *const *proxy_model_svcports(proxy_model_t *m, size_t *n)
{
    if (m->flat_stale) {
        free(m->flat);
        m->flat = NULL;
        m->nflat = 0;
        flat_ctx_t f = {m, 0};
        pmap_each(&m->svcs, flat_cb, &f);
        /* By name, so that the rules come out in the same order after a
         * restart. */
        if (m->nflat > 1)
            qsort(m->flat, m->nflat, sizeof(*m->flat), cmp_sp);
        m->flat_stale = false;
    }
    *n = m->nflat;
    return m->flat;
}
