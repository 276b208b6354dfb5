/* controller-endpoints: the pure parts (see ep_build.h). */
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>

#include "ep_build.h"

/* ---- small helpers ---------------------------------------------------------------- */

static const char *str_at(const kr_value_t *obj, const char *path)
{
    const char *s = kr_value_as_str(kr_value_get(obj, path));
    return s != NULL ? s : "";
}

static bool streq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* A growable array of pointers in an arena (the old storage stays in the
 * arena until it is reset: these arrays live as long as one sync). */
typedef struct vec {
    void **v;
    size_t n, cap;
} vec_t;

static void vec_push(kr_arena_t *a, vec_t *x, void *p)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 8;
        void **v = kr_arena_alloc(a, cap * sizeof *v);
        if (x->n > 0)
            memcpy(v, x->v, x->n * sizeof *v);
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = p;
}

static void vec_remove(vec_t *x, size_t i)
{
    memmove(&x->v[i], &x->v[i + 1], (x->n - i - 1) * sizeof *x->v);
    x->n--;
}

/* qsort, which must not see the NULL array of an empty vector */
static void sort_n(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

static bool is_ipv6(const char *ip)
{
    return ip != NULL && strchr(ip, ':') != NULL;
}

/* ---- pods and services ------------------------------------------------------------ */

bool ep_service_selects(const kr_value_t *svc)
{
    const kr_value_t *sel = kr_value_get(svc, "spec.selector");
    return strcmp(str_at(svc, "spec.type"), "ExternalName") != 0 && kr_value_type(sel) == KR_MAP &&
           kr_value_len(sel) > 0;
}

bool ep_selector_matches(const kr_value_t *selector, const kr_value_t *pod_labels)
{
    for (size_t i = 0; i < kr_value_len(selector); i++) {
        const char *want = kr_value_as_str(kr_value_map_val(selector, i));
        const char *got = kr_value_map_str(pod_labels, kr_value_map_key(selector, i));
        if (got == NULL || want == NULL || strcmp(got, want) != 0)
            return false;
    }
    return true;
}

bool ep_service_ip_set(const kr_value_t *svc)
{
    const char *ip = str_at(svc, "spec.clusterIP");
    return *ip != '\0' && strcmp(ip, "None") != 0;
}

bool ep_pod_in_endpoints(const kr_value_t *pod, bool include_terminating)
{
    const char *phase = str_at(pod, "status.phase");
    if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)
        return false;
    if (*str_at(pod, "status.podIP") == '\0' &&
        kr_value_len(kr_value_get(pod, "status.podIPs")) == 0)
        return false;
    return include_terminating || kr_value_get(pod, "metadata.deletionTimestamp") == NULL;
}

static int64_t named_port(const kr_value_t *containers, const char *name, const char *proto,
                          bool sidecars_only)
{
    for (size_t i = 0; i < kr_value_len(containers); i++) {
        const kr_value_t *c = kr_value_array_get(containers, i);
        if (sidecars_only && !streq(kr_value_map_str(c, "restartPolicy"), "Always"))
            continue;
        const kr_value_t *ports = kr_value_map_get(c, "ports");
        for (size_t j = 0; j < kr_value_len(ports); j++) {
            const kr_value_t *p = kr_value_array_get(ports, j);
            const char *pp = kr_value_map_str(p, "protocol");
            if (streq(kr_value_map_str(p, "name"), name) && streq(pp ? pp : "TCP", proto))
                return kr_value_map_int(p, "containerPort", -1);
        }
    }
    return -1;
}

int64_t ep_find_port(const kr_value_t *pod, const kr_value_t *svc_port)
{
    const kr_value_t *tp = kr_value_map_get(svc_port, "targetPort");
    if (kr_value_type(tp) == KR_INT)
        return kr_value_as_int(tp, -1);
    const char *name = kr_value_as_str(tp);
    if (name == NULL || *name == '\0')
        return -1;
    const char *proto = kr_value_map_str(svc_port, "protocol");
    if (proto == NULL)
        proto = "TCP";
    int64_t p = named_port(kr_value_get(pod, "spec.containers"), name, proto, false);
    if (p < 0)
        p = named_port(kr_value_get(pod, "spec.initContainers"), name, proto, true);
    return p;
}

const char *ep_pod_ip(const kr_value_t *svc, const kr_value_t *pod)
{
    bool want6;
    const char *fam = kr_value_as_str(kr_value_get(svc, "spec.ipFamilies[0]"));
    if (fam != NULL)
        want6 = strcmp(fam, "IPv6") == 0;
    else if (ep_service_ip_set(svc))
        want6 = is_ipv6(str_at(svc, "spec.clusterIP"));
    else
        want6 = is_ipv6(str_at(pod, "status.podIP"));
    const kr_value_t *ips = kr_value_get(pod, "status.podIPs");
    for (size_t i = 0; i < kr_value_len(ips); i++) {
        const char *ip = kr_value_map_str(kr_value_array_get(ips, i), "ip");
        if (ip != NULL && *ip && is_ipv6(ip) == want6)
            return ip;
    }
    const char *ip = str_at(pod, "status.podIP");
    if (kr_value_len(ips) == 0 && *ip && is_ipv6(ip) == want6)
        return ip;
    return NULL;
}

bool ep_should_set_hostname(const kr_value_t *pod, const kr_value_t *svc)
{
    return *str_at(pod, "spec.hostname") != '\0' &&
           strcmp(str_at(pod, "spec.subdomain"), str_at(svc, "metadata.name")) == 0 &&
           strcmp(str_at(pod, "metadata.namespace"), str_at(svc, "metadata.namespace")) == 0;
}

static kr_value_t *target_ref(kr_arena_t *a, const kr_value_t *pod)
{
    kr_value_t *r = kr_value_map(a);
    kr_value_map_set(a, r, "kind", kr_value_str(a, "Pod"));
    kr_value_map_set(a, r, "namespace", kr_value_str(a, str_at(pod, "metadata.namespace")));
    kr_value_map_set(a, r, "name", kr_value_str(a, str_at(pod, "metadata.name")));
    kr_value_map_set(a, r, "uid", kr_value_str(a, str_at(pod, "metadata.uid")));
    return r;
}

/* ---- Endpoints -------------------------------------------------------------------- */

/* An EndpointPort of the Endpoints object; port -1 is RepackSubsets'
 * sentinel for a headless Service without ports. */
typedef struct ep_port {
    const kr_value_t *svc_port;
    int64_t port;
    vec_t members;         /* ep_member_t *, in pod order */
    struct ep_port *group; /* the first port with the same members */
} ep_port_t;

typedef struct ep_member {
    size_t pod; /* index */
    bool ready;
} ep_member_t;

typedef struct ep_addr {
    const char *ip, *uid;
    kr_value_t *v;
} ep_addr_t;

static int addr_cmp(const void *x, const void *y)
{
    const ep_addr_t *a = *(ep_addr_t *const *)x, *b = *(ep_addr_t *const *)y;
    int c = strcmp(a->ip, b->ip);
    return c != 0 ? c : strcmp(a->uid, b->uid);
}

static int port_cmp_v(const kr_value_t *a, const kr_value_t *b)
{
    int64_t pa = kr_value_map_int(a, "port", 0), pb = kr_value_map_int(b, "port", 0);
    if (pa != pb)
        return pa < pb ? -1 : 1;
    int c = strcmp(str_at(a, "name"), str_at(b, "name"));
    if (c != 0)
        return c;
    c = strcmp(str_at(a, "protocol"), str_at(b, "protocol"));
    return c != 0 ? c : strcmp(str_at(a, "appProtocol"), str_at(b, "appProtocol"));
}

static int port_cmp(const void *x, const void *y)
{
    return port_cmp_v(*(kr_value_t *const *)x, *(kr_value_t *const *)y);
}

static int subset_cmp(const void *x, const void *y)
{
    const kr_value_t *a = *(kr_value_t *const *)x, *b = *(kr_value_t *const *)y;
    const kr_value_t *pa = kr_value_get(a, "ports[0]"), *pb = kr_value_get(b, "ports[0]");
    if (pa == NULL || pb == NULL)
        return (pa != NULL) - (pb != NULL);
    return port_cmp_v(pa, pb);
}

static bool same_endpoint_port(const ep_port_t *p, const kr_value_t *svc_port, int64_t port)
{
    return p->port == port &&
           streq(kr_value_map_str(p->svc_port, "name"), kr_value_map_str(svc_port, "name")) &&
           streq(kr_value_map_str(p->svc_port, "protocol"),
                 kr_value_map_str(svc_port, "protocol")) &&
           streq(kr_value_map_str(p->svc_port, "appProtocol"),
                 kr_value_map_str(svc_port, "appProtocol"));
}

static void add_member(kr_arena_t *a, vec_t *ports, const kr_value_t *svc_port, int64_t port,
                       size_t pod, bool ready)
{
    ep_port_t *p = NULL;
    for (size_t i = 0; i < ports->n && p == NULL; i++)
        if (same_endpoint_port(ports->v[i], svc_port, port))
            p = ports->v[i];
    if (p == NULL) {
        p = kr_arena_alloc(a, sizeof *p);
        memset(p, 0, sizeof *p);
        p->svc_port = svc_port;
        p->port = port;
        vec_push(a, ports, p);
    }
    if (p->members.n > 0) {
        ep_member_t *last = p->members.v[p->members.n - 1];
        if (last->pod == pod) {
            last->ready = last->ready && ready; /* not ready wins */
            return;
        }
    }
    ep_member_t *m = kr_arena_alloc(a, sizeof *m);
    m->pod = pod;
    m->ready = ready;
    vec_push(a, &p->members, m);
}

static bool same_members(const ep_port_t *x, const ep_port_t *y)
{
    if (x->members.n != y->members.n)
        return false;
    for (size_t i = 0; i < x->members.n; i++) {
        const ep_member_t *a = x->members.v[i], *b = y->members.v[i];
        if (a->pod != b->pod || a->ready != b->ready)
            return false;
    }
    return true;
}

static kr_value_t *endpoint_port_value(kr_arena_t *a, const kr_value_t *svc_port, int64_t port,
                                       bool empty_name)
{
    kr_value_t *p = kr_value_map(a);
    const char *name = kr_value_map_str(svc_port, "name");
    if ((name != NULL && *name) || empty_name)
        kr_value_map_set(a, p, "name", kr_value_str(a, name != NULL ? name : ""));
    kr_value_map_set(a, p, "port", kr_value_int(a, port));
    const char *proto = kr_value_map_str(svc_port, "protocol");
    kr_value_map_set(a, p, "protocol", kr_value_str(a, proto != NULL ? proto : "TCP"));
    const char *app = kr_value_map_str(svc_port, "appProtocol");
    if (app != NULL)
        kr_value_map_set(a, p, "appProtocol", kr_value_str(a, app));
    return p;
}

static kr_value_t *sorted_addresses(kr_arena_t *a, ep_addr_t **addrs, size_t n)
{
    sort_n(addrs, n, sizeof *addrs, addr_cmp);
    kr_value_t *arr = kr_value_array(a);
    for (size_t i = 0; i < n; i++)
        kr_value_array_push(a, arr, addrs[i]->v);
    return arr;
}

kr_value_t *ep_subsets_build(kr_arena_t *a, const kr_value_t *svc, const kr_value_t *const *pods,
                             size_t n, size_t *ready, size_t *not_ready)
{
    const kr_value_t *sports = kr_value_get(svc, "spec.ports");
    bool publish = kr_value_as_bool(kr_value_get(svc, "spec.publishNotReadyAddresses"), false);
    bool headless = strcmp(str_at(svc, "spec.clusterIP"), "None") == 0;
    const kr_value_t *selector = kr_value_get(svc, "spec.selector");
    ep_addr_t **addrs = kr_arena_alloc(a, (n ? n : 1) * sizeof *addrs);
    bool *pod_ready = kr_arena_alloc(a, (n ? n : 1) * sizeof *pod_ready);
    vec_t ports = {0};
    *ready = *not_ready = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *pod = pods[i];
        addrs[i] = NULL;
        if (!ep_selector_matches(selector, kr_value_get(pod, "metadata.labels")) ||
            !ep_pod_in_endpoints(pod, publish))
            continue;
        const char *ip = ep_pod_ip(svc, pod);
        if (ip == NULL)
            continue;
        ep_addr_t *ad = kr_arena_alloc(a, sizeof *ad);
        ad->ip = ip;
        ad->uid = str_at(pod, "metadata.uid");
        ad->v = kr_value_map(a);
        kr_value_map_set(a, ad->v, "ip", kr_value_str(a, ip));
        if (ep_should_set_hostname(pod, svc))
            kr_value_map_set(a, ad->v, "hostname", kr_value_str(a, str_at(pod, "spec.hostname")));
        const char *node = str_at(pod, "spec.nodeName");
        if (*node)
            kr_value_map_set(a, ad->v, "nodeName", kr_value_str(a, node));
        kr_value_map_set(a, ad->v, "targetRef", target_ref(a, pod));
        addrs[i] = ad;
        pod_ready[i] = publish || kr_pod_is_ready(pod);
        if (kr_value_len(sports) == 0) {
            if (headless)
                add_member(a, &ports, NULL, -1, i, pod_ready[i]);
            continue;
        }
        for (size_t j = 0; j < kr_value_len(sports); j++) {
            const kr_value_t *sp = kr_value_array_get(sports, j);
            int64_t port = ep_find_port(pod, sp);
            if (port >= 0)
                add_member(a, &ports, sp, port, i, pod_ready[i]);
        }
    }
    /* ports serving the same addresses share one subset */
    kr_value_t *subsets = kr_value_array(a);
    ep_addr_t **rd = kr_arena_alloc(a, (n ? n : 1) * sizeof *rd);
    ep_addr_t **nr = kr_arena_alloc(a, (n ? n : 1) * sizeof *nr);
    bool *counted = kr_arena_alloc(a, (n ? n : 1) * sizeof *counted);
    memset(counted, 0, (n ? n : 1) * sizeof *counted);
    for (size_t i = 0; i < ports.n; i++) {
        ep_port_t *p = ports.v[i];
        for (size_t j = 0; j < i && p->group == NULL; j++)
            if (same_members(ports.v[j], p))
                p->group = ports.v[j];
        if (p->group != NULL)
            continue;
        p->group = p;
        size_t nrd = 0, nnr = 0;
        for (size_t k = 0; k < p->members.n; k++) {
            const ep_member_t *m = p->members.v[k];
            if (m->ready)
                rd[nrd++] = addrs[m->pod];
            else
                nr[nnr++] = addrs[m->pod];
            if (!counted[m->pod]) {
                counted[m->pod] = true;
                if (m->ready)
                    (*ready)++;
                else
                    (*not_ready)++;
            }
        }
        kr_value_t *ss = kr_value_map(a);
        if (nrd > 0)
            kr_value_map_set(a, ss, "addresses", sorted_addresses(a, rd, nrd));
        if (nnr > 0)
            kr_value_map_set(a, ss, "notReadyAddresses", sorted_addresses(a, nr, nnr));
        kr_value_array_push(a, subsets, ss);
    }
    /* the ports of each subset */
    for (size_t s = 0, i = 0; i < ports.n; i++) {
        ep_port_t *p = ports.v[i];
        if (p->group != p)
            continue;
        kr_value_t *ss = kr_value_array_get(subsets, s++);
        if (p->port < 0)
            continue;
        vec_t pv = {0};
        for (size_t j = i; j < ports.n; j++) {
            ep_port_t *q = ports.v[j];
            if (q->group == p)
                vec_push(a, &pv, endpoint_port_value(a, q->svc_port, q->port, false));
        }
        sort_n(pv.v, pv.n, sizeof *pv.v, port_cmp);
        kr_value_t *arr = kr_value_array(a);
        for (size_t j = 0; j < pv.n; j++)
            kr_value_array_push(a, arr, pv.v[j]);
        kr_value_map_set(a, ss, "ports", arr);
    }
    size_t ns = kr_value_len(subsets);
    kr_value_t **sv = kr_arena_alloc(a, (ns ? ns : 1) * sizeof *sv);
    for (size_t i = 0; i < ns; i++)
        sv[i] = kr_value_array_get(subsets, i);
    sort_n(sv, ns, sizeof *sv, subset_cmp);
    kr_value_t *out = kr_value_array(a);
    for (size_t i = 0; i < ns; i++)
        kr_value_array_push(a, out, sv[i]);
    return out;
}

static kr_value_t *array_head(kr_arena_t *a, const kr_value_t *arr, size_t k)
{
    kr_value_t *out = kr_value_array(a);
    for (size_t i = 0; i < k && i < kr_value_len(arr); i++)
        kr_value_array_push(a, out, kr_value_array_get(arr, i));
    return out;
}

bool ep_subsets_truncate(kr_arena_t *a, kr_value_t *subsets, size_t max)
{
    size_t total_ready = 0, total_not_ready = 0, ns = kr_value_len(subsets);
    for (size_t i = 0; i < ns; i++) {
        const kr_value_t *ss = kr_value_array_get(subsets, i);
        total_ready += kr_value_len(kr_value_map_get(ss, "addresses"));
        total_not_ready += kr_value_len(kr_value_map_get(ss, "notReadyAddresses"));
    }
    if (total_ready + total_not_ready <= max)
        return false;
    bool cut_ready = total_ready > max;
    size_t room = cut_ready ? max : max - total_ready;
    size_t total = cut_ready ? total_ready : total_not_ready;
    size_t can = room;
    for (size_t i = 0; i < ns; i++) {
        kr_value_t *ss = kr_value_array_get(subsets, i);
        const char *key = cut_ready ? "addresses" : "notReadyAddresses";
        size_t in = kr_value_len(kr_value_map_get(ss, key));
        /* the subset's share of the room, rounded up */
        size_t take = (in * room + total - 1) / total;
        if (take > can)
            take = can;
        if (take < in)
            kr_value_map_set(a, ss, key, array_head(a, kr_value_map_get(ss, key), take));
        if (take == 0)
            kr_value_map_del(ss, key);
        if (cut_ready)
            kr_value_map_del(ss, "notReadyAddresses");
        can -= take;
    }
    /* a subset left without addresses would not pass validation */
    for (size_t i = kr_value_len(subsets); i-- > 0;) {
        const kr_value_t *ss = kr_value_array_get(subsets, i);
        if (kr_value_len(kr_value_map_get(ss, "addresses")) == 0 &&
            kr_value_len(kr_value_map_get(ss, "notReadyAddresses")) == 0)
            kr_value_array_remove(subsets, i);
    }
    return true;
}

/* A copy of an address list without targetRef.resourceVersion. */
static kr_value_t *addresses_norm(kr_arena_t *a, const kr_value_t *addrs)
{
    kr_value_t *out = kr_value_array(a);
    for (size_t i = 0; i < kr_value_len(addrs); i++) {
        kr_value_t *ad = kr_value_copy(a, kr_value_array_get(addrs, i));
        kr_value_map_del(kr_value_map_get(ad, "targetRef"), "resourceVersion");
        kr_value_array_push(a, out, ad);
    }
    return out;
}

bool ep_subsets_equal(const kr_value_t *x, const kr_value_t *y)
{
    if (kr_value_len(x) != kr_value_len(y))
        return false;
    kr_arena_t *a = kr_arena_new(0);
    bool eq = true;
    for (size_t i = 0; i < kr_value_len(x) && eq; i++) {
        const kr_value_t *sx = kr_value_array_get(x, i), *sy = kr_value_array_get(y, i);
        static const char *const keys[] = {"addresses", "notReadyAddresses"};
        for (size_t k = 0; k < 2 && eq; k++)
            eq = kr_value_equal(addresses_norm(a, kr_value_map_get(sx, keys[k])),
                                addresses_norm(a, kr_value_map_get(sy, keys[k])));
        const kr_value_t *px = kr_value_map_get(sx, "ports"), *py = kr_value_map_get(sy, "ports");
        eq = eq && ((kr_value_len(px) == 0 && kr_value_len(py) == 0) || kr_value_equal(px, py));
    }
    kr_arena_destroy(&a);
    return eq;
}

kr_value_t *ep_endpoints_labels(kr_arena_t *a, const kr_value_t *svc)
{
    kr_value_t *out = kr_value_map(a);
    const kr_value_t *l = kr_value_get(svc, "metadata.labels");
    for (size_t i = 0; i < kr_value_len(l); i++)
        kr_value_map_set(a, out, kr_value_map_key(l, i), kr_value_copy(a, kr_value_map_val(l, i)));
    kr_value_map_set(a, out, EP_LABEL_MANAGED_BY, kr_value_str(a, EP_CONTROLLER_NAME));
    if (!ep_service_ip_set(svc))
        kr_value_map_set(a, out, EP_LABEL_HEADLESS, kr_value_str(a, ""));
    else
        kr_value_map_del(out, EP_LABEL_HEADLESS);
    return out;
}

/* The two label maps are equal but for the keys in `skip`. */
static bool labels_equal_except(const kr_value_t *x, const kr_value_t *y, const char *const *skip,
                                size_t nskip)
{
    for (int pass = 0; pass < 2; pass++) {
        const kr_value_t *from = pass ? y : x, *to = pass ? x : y;
        for (size_t i = 0; i < kr_value_len(from); i++) {
            const char *k = kr_value_map_key(from, i);
            bool skipped = false;
            for (size_t j = 0; j < nskip; j++)
                skipped = skipped || strcmp(k, skip[j]) == 0;
            if (!skipped && !kr_value_equal(kr_value_map_val(from, i), kr_value_map_get(to, k)))
                return false;
        }
    }
    return true;
}

bool ep_endpoints_current(const kr_value_t *cur, const kr_value_t *subsets,
                          const kr_value_t *labels)
{
    static const char *const headless[] = {EP_LABEL_HEADLESS};
    const kr_value_t *cs = kr_value_map_get(cur, "subsets");
    if (!ep_subsets_equal(cs, subsets) ||
        !labels_equal_except(kr_value_get(cur, "metadata.labels"), labels, headless, 1))
        return false;
    size_t n = 0;
    for (size_t i = 0; i < kr_value_len(cs); i++) {
        const kr_value_t *ss = kr_value_array_get(cs, i);
        n += kr_value_len(kr_value_map_get(ss, "addresses")) +
             kr_value_len(kr_value_map_get(ss, "notReadyAddresses"));
    }
    return n <= EP_MAX_CAPACITY &&
           kr_value_get(cur, "metadata.annotations[\"" EP_ANN_OVER_CAPACITY "\"]") == NULL;
}

void ep_set_trigger_time(kr_arena_t *a, kr_value_t *obj, const char *when)
{
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    if (meta == NULL) {
        meta = kr_value_map(a);
        kr_value_map_set(a, obj, "metadata", meta);
    }
    kr_value_t *ann = kr_value_map_get(meta, "annotations");
    if (when == NULL) {
        kr_value_map_del(ann, EP_ANN_TRIGGER_TIME);
        if (ann != NULL && kr_value_len(ann) == 0)
            kr_value_map_del(meta, "annotations");
        return;
    }
    if (kr_value_type(ann) != KR_MAP) {
        ann = kr_value_map(a);
        kr_value_map_set(a, meta, "annotations", ann);
    }
    kr_value_map_set(a, ann, EP_ANN_TRIGGER_TIME, kr_value_str(a, when));
}

/* ---- EndpointSlices ---------------------------------------------------------------- */

static int strp_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

const char *es_endpoint_key(kr_arena_t *a, const kr_value_t *ep)
{
    const kr_value_t *addrs = kr_value_map_get(ep, "addresses");
    size_t n = kr_value_len(addrs);
    const char **s = kr_arena_alloc(a, (n ? n : 1) * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        const char *ip = kr_value_as_str(kr_value_array_get(addrs, i));
        s[i] = ip != NULL ? ip : "";
    }
    sort_n(s, n, sizeof *s, strp_cmp);
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        kr_buf_printf(&b, "%s%s", i ? "," : "", s[i]);
    kr_buf_printf(&b, "\x1f%s\x1f%s/%s", str_at(ep, "hostname"), str_at(ep, "targetRef.namespace"),
                  str_at(ep, "targetRef.name"));
    const char *key = kr_arena_strdup(a, b.data);
    kr_buf_free(&b);
    return key;
}

static const char *port_key(kr_arena_t *a, const kr_value_t *p)
{
    return kr_arena_printf(a, "%s\x1f%lld\x1f%s\x1f%s", str_at(p, "name"),
                           (long long)kr_value_map_int(p, "port", 0), str_at(p, "protocol"),
                           str_at(p, "appProtocol"));
}

const char *es_ports_key(kr_arena_t *a, const kr_value_t *ports)
{
    size_t n = kr_value_len(ports);
    const char **s = kr_arena_alloc(a, (n ? n : 1) * sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = port_key(a, kr_value_array_get(ports, i));
    sort_n(s, n, sizeof *s, strp_cmp);
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        kr_buf_printf(&b, "%s%s", i ? "\x1e" : "", s[i]);
    const char *key = kr_arena_strdup(a, b.data != NULL ? b.data : "");
    kr_buf_free(&b);
    return key;
}

/* A desired endpoint of one port mapping. */
typedef struct es_ep {
    const char *key;
    kr_value_t *v;
    bool taken;
} es_ep_t;

/* The slices of one set of ports: what should be, what is. */
typedef struct es_group {
    const char *key;
    kr_value_t *ports;
    bool desired;
    vec_t eps; /* es_ep_t *, sorted by key once collected */
    size_t left;
    vec_t existing; /* const kr_value_t * */
} es_group_t;

typedef struct es_ctx {
    kr_arena_t *a;
    const kr_value_t *svc;
    size_t max;
    vec_t create, update, del;
    size_t added, removed;
} es_ctx_t;

static es_group_t *group_of(kr_arena_t *a, vec_t *groups, const char *key, kr_value_t *ports)
{
    for (size_t i = 0; i < groups->n; i++) {
        es_group_t *g = groups->v[i];
        if (strcmp(g->key, key) == 0)
            return g;
    }
    es_group_t *g = kr_arena_alloc(a, sizeof *g);
    memset(g, 0, sizeof *g);
    g->key = key;
    g->ports = ports;
    vec_push(a, groups, g);
    return g;
}

static int ep_cmp(const void *x, const void *y)
{
    return strcmp((*(es_ep_t *const *)x)->key, (*(es_ep_t *const *)y)->key);
}

static es_ep_t *desired_get(es_group_t *g, const char *key)
{
    size_t lo = 0, hi = g->eps.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        es_ep_t *e = g->eps.v[mid];
        int c = strcmp(e->key, key);
        if (c == 0)
            return e->taken ? NULL : e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The next desired endpoint not yet placed (PopAny, in key order). */
static kr_value_t *desired_pop(es_group_t *g)
{
    for (size_t i = 0; i < g->eps.n; i++) {
        es_ep_t *e = g->eps.v[i];
        if (!e->taken) {
            e->taken = true;
            g->left--;
            return e->v;
        }
    }
    return NULL;
}

static kr_value_t *slice_ports(kr_arena_t *a, const kr_value_t *svc, const kr_value_t *pod)
{
    vec_t pv = {0};
    const kr_value_t *sports = kr_value_get(svc, "spec.ports");
    for (size_t i = 0; i < kr_value_len(sports); i++) {
        const kr_value_t *sp = kr_value_array_get(sports, i);
        int64_t port = ep_find_port(pod, sp);
        if (port >= 0)
            vec_push(a, &pv, endpoint_port_value(a, sp, port, true));
    }
    /* NewPortMapKey sorts the ports the slice then holds */
    sort_n(pv.v, pv.n, sizeof *pv.v, port_cmp);
    kr_value_t *arr = kr_value_array(a);
    for (size_t i = 0; i < pv.n; i++)
        kr_value_array_push(a, arr, pv.v[i]);
    return arr;
}

static kr_value_t *pod_endpoint(kr_arena_t *a, const kr_value_t *pod, const kr_value_t *svc,
                                const char *zone)
{
    bool serving = kr_pod_is_ready(pod);
    bool terminating = kr_value_get(pod, "metadata.deletionTimestamp") != NULL;
    bool ready = kr_value_as_bool(kr_value_get(svc, "spec.publishNotReadyAddresses"), false) ||
                 (serving && !terminating);
    kr_value_t *ep = kr_value_map(a), *addrs = kr_value_array(a), *cond = kr_value_map(a);
    const kr_value_t *ips = kr_value_get(pod, "status.podIPs");
    for (size_t i = 0; i < kr_value_len(ips); i++) {
        const char *ip = kr_value_map_str(kr_value_array_get(ips, i), "ip");
        if (ip != NULL && *ip && !is_ipv6(ip))
            kr_value_array_push(a, addrs, kr_value_str(a, ip));
    }
    const char *ip = str_at(pod, "status.podIP");
    if (kr_value_len(ips) == 0 && *ip && !is_ipv6(ip))
        kr_value_array_push(a, addrs, kr_value_str(a, ip));
    kr_value_map_set(a, ep, "addresses", addrs);
    kr_value_map_set(a, cond, "ready", kr_value_bool(a, ready));
    kr_value_map_set(a, cond, "serving", kr_value_bool(a, serving));
    kr_value_map_set(a, cond, "terminating", kr_value_bool(a, terminating));
    kr_value_map_set(a, ep, "conditions", cond);
    if (ep_should_set_hostname(pod, svc))
        kr_value_map_set(a, ep, "hostname", kr_value_str(a, str_at(pod, "spec.hostname")));
    kr_value_map_set(a, ep, "targetRef", target_ref(a, pod));
    const char *node = str_at(pod, "spec.nodeName");
    if (*node)
        kr_value_map_set(a, ep, "nodeName", kr_value_str(a, node));
    if (zone != NULL && *zone)
        kr_value_map_set(a, ep, "zone", kr_value_str(a, zone));
    return ep;
}

static bool str_field_same(const kr_value_t *x, const kr_value_t *y, const char *key)
{
    const char *a = kr_value_map_str(x, key), *b = kr_value_map_str(y, key);
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool bool_field_same(const kr_value_t *x, const kr_value_t *y, const char *key)
{
    const kr_value_t *a = kr_value_map_get(x, key), *b = kr_value_map_get(y, key);
    if ((a == NULL) != (b == NULL))
        return false;
    return a == NULL || kr_value_as_bool(a, false) == kr_value_as_bool(b, false);
}

/* EndpointsEqualBeyondHash */
static bool endpoint_same(const kr_value_t *x, const kr_value_t *y)
{
    static const char *const ref_keys[] = {"kind", "namespace",  "name",
                                           "uid",  "apiVersion", "fieldPath"};
    if (!str_field_same(x, y, "nodeName") || !str_field_same(x, y, "zone"))
        return false;
    const kr_value_t *cx = kr_value_map_get(x, "conditions"),
                     *cy = kr_value_map_get(y, "conditions");
    if (!bool_field_same(cx, cy, "ready") || !bool_field_same(cx, cy, "serving") ||
        !bool_field_same(cx, cy, "terminating"))
        return false;
    const kr_value_t *rx = kr_value_map_get(x, "targetRef"), *ry = kr_value_map_get(y, "targetRef");
    if ((rx == NULL) != (ry == NULL))
        return false;
    for (size_t i = 0; i < sizeof ref_keys / sizeof ref_keys[0]; i++)
        if (!str_field_same(rx, ry, ref_keys[i]))
            return false;
    return true;
}

static bool reserved_label(const char *k)
{
    return strcmp(k, ES_LABEL_SERVICE_NAME) == 0 || strcmp(k, ES_LABEL_MANAGED_BY) == 0 ||
           strcmp(k, EP_LABEL_HEADLESS) == 0;
}

/* setEndpointSliceLabels: the labels the slice should have, and whether
 * its own (the reserved ones aside) differ from the Service's. */
static kr_value_t *slice_labels(kr_arena_t *a, const kr_value_t *slice, const kr_value_t *svc,
                                bool *changed)
{
    const kr_value_t *sl = kr_value_get(slice, "metadata.labels");
    const kr_value_t *vl = kr_value_get(svc, "metadata.labels");
    kr_value_t *out = kr_value_map(a);
    for (size_t i = 0; i < kr_value_len(vl); i++)
        if (!reserved_label(kr_value_map_key(vl, i)))
            kr_value_map_set(a, out, kr_value_map_key(vl, i),
                             kr_value_copy(a, kr_value_map_val(vl, i)));
    static const char *const reserved[] = {ES_LABEL_SERVICE_NAME, ES_LABEL_MANAGED_BY,
                                           EP_LABEL_HEADLESS};
    if (changed != NULL)
        *changed = !labels_equal_except(sl, out, reserved, 3);
    if (!ep_service_ip_set(svc))
        kr_value_map_set(a, out, EP_LABEL_HEADLESS, kr_value_str(a, ""));
    kr_value_map_set(a, out, ES_LABEL_SERVICE_NAME, kr_value_str(a, str_at(svc, "metadata.name")));
    kr_value_map_set(a, out, ES_LABEL_MANAGED_BY, kr_value_str(a, ES_CONTROLLER_NAME));
    return out;
}

static kr_value_t *new_slice(es_ctx_t *c, kr_value_t *ports)
{
    kr_arena_t *a = c->a;
    kr_value_t *s = kr_value_map(a), *meta = kr_value_map(a), *refs = kr_value_array(a);
    kr_value_t *ref = kr_value_map(a);
    kr_value_map_set(a, s, "apiVersion", kr_value_str(a, "discovery.k8s.io/v1"));
    kr_value_map_set(a, s, "kind", kr_value_str(a, "EndpointSlice"));
    kr_value_map_set(a, meta, "generateName",
                     kr_value_str(a, kr_arena_printf(a, "%s-", str_at(c->svc, "metadata.name"))));
    kr_value_map_set(a, meta, "namespace", kr_value_str(a, str_at(c->svc, "metadata.namespace")));
    kr_value_map_set(a, meta, "labels", slice_labels(a, NULL, c->svc, NULL));
    kr_value_map_set(a, ref, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, ref, "kind", kr_value_str(a, "Service"));
    kr_value_map_set(a, ref, "name", kr_value_str(a, str_at(c->svc, "metadata.name")));
    kr_value_map_set(a, ref, "uid", kr_value_str(a, str_at(c->svc, "metadata.uid")));
    kr_value_map_set(a, ref, "controller", kr_value_bool(a, true));
    kr_value_map_set(a, ref, "blockOwnerDeletion", kr_value_bool(a, true));
    kr_value_array_push(a, refs, ref);
    kr_value_map_set(a, meta, "ownerReferences", refs);
    kr_value_map_set(a, s, "metadata", meta);
    kr_value_map_set(a, s, "addressType", kr_value_str(a, "IPv4"));
    kr_value_map_set(a, s, "endpoints", kr_value_array(a));
    kr_value_map_set(a, s, "ports", ports != NULL ? kr_value_copy(a, ports) : kr_value_array(a));
    return s;
}

/* ownedBy: an ownerReference to this Service (by uid, kind Service, v1). */
static bool owned_by(const kr_value_t *slice, const kr_value_t *svc)
{
    const char *uid = str_at(svc, "metadata.uid");
    const kr_value_t *refs = kr_value_get(slice, "metadata.ownerReferences");
    for (size_t i = 0; i < kr_value_len(refs); i++) {
        const kr_value_t *r = kr_value_array_get(refs, i);
        if (streq(kr_value_map_str(r, "uid"), uid) &&
            streq(kr_value_map_str(r, "kind"), "Service") &&
            streq(kr_value_map_str(r, "apiVersion"), "v1"))
            return true;
    }
    return false;
}

/* An existing slice with other endpoints (or labels), to update. */
static kr_value_t *slice_with(es_ctx_t *c, const kr_value_t *old, kr_value_t *eps,
                              kr_value_t *labels)
{
    kr_value_t *s = kr_value_copy(c->a, old);
    if (kr_value_map_get(s, "apiVersion") == NULL)
        kr_value_map_set(c->a, s, "apiVersion", kr_value_str(c->a, "discovery.k8s.io/v1"));
    if (kr_value_map_get(s, "kind") == NULL)
        kr_value_map_set(c->a, s, "kind", kr_value_str(c->a, "EndpointSlice"));
    if (eps != NULL)
        kr_value_map_set(c->a, s, "endpoints", eps);
    kr_value_map_set(c->a, kr_value_map_get(s, "metadata"), "labels", labels);
    return s;
}

static int by_len_desc(const void *x, const void *y)
{
    size_t a = kr_value_len(kr_value_map_get(*(kr_value_t *const *)x, "endpoints"));
    size_t b = kr_value_len(kr_value_map_get(*(kr_value_t *const *)y, "endpoints"));
    return (a < b) - (a > b);
}

static void fill(kr_arena_t *a, es_group_t *g, kr_value_t *slice, size_t max)
{
    kr_value_t *eps = kr_value_map_get(slice, "endpoints");
    while (g->left > 0 && kr_value_len(eps) < max)
        kr_value_array_push(a, eps, desired_pop(g));
}

/* reconcileByPortMapping */
static void reconcile_group(es_ctx_t *c, es_group_t *g)
{
    kr_arena_t *a = c->a;
    vec_t updates = {0}, unchanged = {0};
    for (size_t i = 0; i < g->existing.n; i++) {
        const kr_value_t *old = g->existing.v[i];
        const kr_value_t *old_eps = kr_value_map_get(old, "endpoints");
        kr_value_t *eps = kr_value_array(a);
        bool updated = false;
        for (size_t j = 0; j < kr_value_len(old_eps); j++) {
            const kr_value_t *e = kr_value_array_get(old_eps, j);
            es_ep_t *d = desired_get(g, es_endpoint_key(a, e));
            if (d == NULL)
                continue;
            kr_value_array_push(a, eps, d->v);
            updated = updated || !endpoint_same(d->v, e);
            d->taken = true;
            g->left--;
        }
        bool labels_changed;
        kr_value_t *labels = slice_labels(a, old, c->svc, &labels_changed);
        if (updated || kr_value_len(old_eps) != kr_value_len(eps)) {
            c->removed += kr_value_len(old_eps) - kr_value_len(eps);
            if (kr_value_len(eps) == 0)
                vec_push(a, &c->del, (void *)old);
            else
                vec_push(a, &updates, slice_with(c, old, eps, labels));
        } else if (labels_changed) {
            vec_push(a, &updates, slice_with(c, old, NULL, labels));
        } else {
            vec_push(a, &unchanged, (void *)old);
        }
    }
    c->added += g->left;
    /* fill the slices being updated, fullest first */
    if (g->left > 0 && updates.n > 0) {
        sort_n(updates.v, updates.n, sizeof *updates.v, by_len_desc);
        for (size_t i = 0; i < updates.n; i++)
            fill(a, g, updates.v[i], c->max);
    }
    while (g->left > 0) {
        kr_value_t *slice = NULL;
        if (g->left < c->max && unchanged.n > 0) {
            /* getSliceToFill: the unchanged slice these fill closest to full */
            size_t best = c->max, at = 0;
            bool found = false;
            for (size_t i = 0; i < unchanged.n; i++) {
                size_t have = kr_value_len(kr_value_map_get(unchanged.v[i], "endpoints"));
                if (have + g->left > c->max)
                    continue;
                size_t diff = c->max - (g->left + have);
                if (diff < best) {
                    best = diff;
                    at = i;
                    found = true;
                    if (diff == 0)
                        break;
                }
            }
            if (found) {
                const kr_value_t *old = unchanged.v[at];
                slice = slice_with(c, old, kr_value_copy(a, kr_value_map_get(old, "endpoints")),
                                   slice_labels(a, old, c->svc, NULL));
                vec_remove(&unchanged, at);
                vec_push(a, &updates, slice);
            }
        }
        if (slice == NULL) {
            slice = new_slice(c, g->ports);
            vec_push(a, &c->create, slice);
        }
        fill(a, g, slice, c->max);
    }
    for (size_t i = 0; i < updates.n; i++)
        vec_push(a, &c->update, updates.v[i]);
}

/* placeholderSliceCompare: namespace, labels, owners, address type, no
 * ports, no endpoints. */
static bool placeholder_same(const kr_value_t *s, const kr_value_t *p)
{
    return strcmp(str_at(s, "metadata.namespace"), str_at(p, "metadata.namespace")) == 0 &&
           labels_equal_except(kr_value_get(s, "metadata.labels"),
                               kr_value_get(p, "metadata.labels"), NULL, 0) &&
           kr_value_equal(kr_value_get(s, "metadata.ownerReferences"),
                          kr_value_get(p, "metadata.ownerReferences")) &&
           strcmp(str_at(s, "addressType"), str_at(p, "addressType")) == 0 &&
           kr_value_len(kr_value_map_get(s, "ports")) == 0 &&
           kr_value_len(kr_value_map_get(s, "endpoints")) == 0;
}

void es_reconcile(kr_arena_t *a, const kr_value_t *svc, const kr_value_t *const *pods, size_t n,
                  const kr_value_t *const *slices, size_t nslices, size_t max_per_slice,
                  es_node_fn node, void *ud, es_plan_t *plan)
{
    es_ctx_t c = {.a = a, .svc = svc, .max = max_per_slice ? max_per_slice : 100};
    memset(plan, 0, sizeof *plan);
    bool publish = kr_value_as_bool(kr_value_get(svc, "spec.publishNotReadyAddresses"), false);
    const kr_value_t *selector = kr_value_get(svc, "spec.selector");
    vec_t groups = {0};
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *pod = pods[i];
        if (!ep_selector_matches(selector, kr_value_get(pod, "metadata.labels")) ||
            !ep_pod_in_endpoints(pod, true))
            continue;
        kr_value_t *ports = slice_ports(a, svc, pod);
        es_group_t *g = group_of(a, &groups, es_ports_key(a, ports), ports);
        g->desired = true;
        const char *zone = NULL;
        if (!node(str_at(pod, "spec.nodeName"), &zone, ud)) {
            zone = NULL;
            if (!publish) {
                plan->skipped++;
                continue;
            }
        }
        kr_value_t *ep = pod_endpoint(a, pod, svc, zone);
        if (kr_value_len(kr_value_map_get(ep, "addresses")) == 0)
            continue;
        es_ep_t *e = kr_arena_alloc(a, sizeof *e);
        e->key = es_endpoint_key(a, ep);
        e->v = ep;
        e->taken = false;
        vec_push(a, &g->eps, e);
    }
    for (size_t i = 0; i < groups.n; i++) {
        es_group_t *g = groups.v[i];
        sort_n(g->eps.v, g->eps.n, sizeof *g->eps.v, ep_cmp);
        /* one endpoint per key, as a set keeps it */
        size_t k = 0;
        for (size_t j = 0; j < g->eps.n; j++) {
            if (k > 0 &&
                strcmp(((es_ep_t *)g->eps.v[k - 1])->key, ((es_ep_t *)g->eps.v[j])->key) == 0)
                g->eps.v[k - 1] = g->eps.v[j];
            else
                g->eps.v[k++] = g->eps.v[j];
        }
        g->eps.n = k;
        g->left = k;
    }
    for (size_t i = 0; i < nslices; i++) {
        const kr_value_t *s = slices[i];
        if (!owned_by(s, svc)) {
            vec_push(a, &c.del, (void *)s);
            continue;
        }
        const kr_value_t *ports = kr_value_map_get(s, "ports");
        es_group_t *g = group_of(a, &groups, es_ports_key(a, ports), NULL);
        vec_push(a, &g->existing, (void *)s);
    }
    for (size_t i = 0; i < groups.n; i++) {
        es_group_t *g = groups.v[i];
        if (g->desired) {
            reconcile_group(&c, g);
        } else {
            for (size_t j = 0; j < g->existing.n; j++)
                vec_push(a, &c.del, g->existing.v[j]);
        }
    }
    /* a Service without endpoints keeps one placeholder slice */
    if (nslices == c.del.n && c.create.n == 0) {
        kr_value_t *ph = new_slice(&c, NULL);
        if (c.del.n == 1 && placeholder_same(c.del.v[0], ph))
            c.del.n = 0;
        else
            vec_push(a, &c.create, ph);
    }
    /* finalize: a slice to create takes the place of an owned slice to delete */
    for (size_t i = 0; i < c.del.n && c.create.n > 0;) {
        const kr_value_t *old = c.del.v[i];
        if (strcmp(str_at(old, "addressType"), "IPv4") == 0 && owned_by(old, svc)) {
            kr_value_t *s = c.create.v[--c.create.n];
            kr_value_t *meta = kr_value_map_get(s, "metadata");
            kr_value_map_set(a, meta, "name", kr_value_str(a, str_at(old, "metadata.name")));
            kr_value_map_del(meta, "generateName");
            kr_value_map_set(a, meta, "resourceVersion",
                             kr_value_str(a, str_at(old, "metadata.resourceVersion")));
            vec_push(a, &c.update, s);
            vec_remove(&c.del, i);
        } else {
            i++;
        }
    }
    if (kr_value_get(svc, "metadata.deletionTimestamp") != NULL)
        c.create.n = 0;
    plan->create = (kr_value_t **)c.create.v;
    plan->ncreate = c.create.n;
    plan->update = (kr_value_t **)c.update.v;
    plan->nupdate = c.update.n;
    plan->del = (const kr_value_t **)c.del.v;
    plan->ndel = c.del.n;
    plan->added = c.added;
    plan->removed = c.removed;
}
