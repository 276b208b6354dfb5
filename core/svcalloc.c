/* Service ClusterIP and NodePort allocation; see svcalloc.h. */
#include "svcalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <kraal/log.h>

#include "builtin_internal.h"

#define TAG "svcalloc"

/* ---- bitmaps ---------------------------------------------------------------------- */

typedef struct bitrange {
    uint32_t base;   /* the value of bit 0 */
    uint32_t size;   /* bits */
    uint32_t offset; /* [0, offset) is the static band, chosen last */
    uint32_t used;
    uint64_t *bits;
} bitrange_t;

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);
    if (p == NULL)
        abort();
    return p;
}

static void br_init(bitrange_t *b, uint32_t base, uint32_t size, uint32_t offset)
{
    b->base = base;
    b->size = size;
    b->offset = offset;
    b->used = 0;
    b->bits = xcalloc((size + 63) / 64, sizeof *b->bits);
}

/* Bit of value v, or -1 outside the range. */
static int64_t br_bit(const bitrange_t *b, uint32_t v)
{
    if (v < b->base || v - b->base >= b->size)
        return -1;
    return (int64_t)(v - b->base);
}

static bool br_test(const bitrange_t *b, uint32_t bit)
{
    return (b->bits[bit / 64] >> (bit % 64)) & 1;
}

static void br_set(bitrange_t *b, uint32_t bit)
{
    if (!br_test(b, bit))
        b->used++;
    b->bits[bit / 64] |= 1ull << (bit % 64);
}

static void br_clear(bitrange_t *b, uint32_t bit)
{
    if (br_test(b, bit))
        b->used--;
    b->bits[bit / 64] &= ~(1ull << (bit % 64));
}

/* The first free bit in [lo, hi) scanning from `start` and wrapping, or
 * -1.  Full words are skipped whole. */
static int64_t br_scan(const bitrange_t *b, uint32_t lo, uint32_t hi, uint32_t start)
{
    uint32_t n = hi - lo;
    for (uint32_t i = 0; i < n;) {
        uint32_t bit = lo + (start - lo + i) % n;
        if (bit % 64 == 0 && b->bits[bit / 64] == UINT64_MAX && bit + 64 <= hi) {
            i += 64;
            continue;
        }
        if (!br_test(b, bit))
            return bit;
        i++;
    }
    return -1;
}

static uint32_t random_u32(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint32_t)rand();
    return r;
}

/* upstream's randomScanStrategyWithOffset: a random free value of the
 * upper band, else of the lower one. */
static bool br_take_random(bitrange_t *b, uint32_t *v)
{
    int64_t bit = -1;
    if (b->offset < b->size)
        bit = br_scan(b, b->offset, b->size, b->offset + random_u32() % (b->size - b->offset));
    if (bit < 0 && b->offset > 0)
        bit = br_scan(b, 0, b->offset, random_u32() % b->offset);
    if (bit < 0)
        return false;
    br_set(b, (uint32_t)bit);
    *v = b->base + (uint32_t)bit;
    return true;
}

/* upstream's calculateRangeOffset: size/step clamped to [min, max], 0 for
 * a range no larger than min. */
static uint32_t band_offset(uint32_t size, uint32_t min, uint32_t max, uint32_t step)
{
    if (size <= min)
        return 0;
    uint32_t off = size / step;
    return off < min ? min : off > max ? max : off;
}

/* ---- config values ---------------------------------------------------------------- */

int kr_svcalloc_parse_cidr(const char *s, uint32_t *net, int *prefix, kr_error_t *err)
{
    char ip[INET_ADDRSTRLEN];
    const char *slash = s ? strchr(s, '/') : NULL;
    struct in_addr a;
    char *end;
    if (slash == NULL || (size_t)(slash - s) >= sizeof ip)
        return kr_error_set(err, KR_E_INVALID, "\"%s\": must be an IPv4 CIDR such as 10.96.0.0/12",
                            s ? s : "");
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    errno = 0;
    long p = strtol(slash + 1, &end, 10);
    if (inet_pton(AF_INET, ip, &a) != 1 || end == slash + 1 || *end != '\0' || errno != 0 ||
        p < 0 || p > 32)
        return kr_error_set(err, KR_E_INVALID, "\"%s\": must be an IPv4 CIDR such as 10.96.0.0/12",
                            s);
    if (p > 30)
        return kr_error_set(err, KR_E_INVALID,
                            "\"%s\": the range must hold at least two addresses (prefix <= 30)", s);
    uint32_t mask = p == 0 ? 0 : UINT32_MAX << (32 - p);
    *net = ntohl(a.s_addr) & mask;
    *prefix = (int)p;
    return 0;
}

int kr_svcalloc_parse_ports(const char *s, int *lo, int *hi, kr_error_t *err)
{
    char *end;
    const char *p = s ? s : "";
    errno = 0;
    long a = strtol(p, &end, 10), b;
    if (end == p || (*end != '-' && *end != '+'))
        goto bad;
    char sep = *end;
    p = end + 1;
    b = strtol(p, &end, 10);
    if (end == p || *end != '\0' || errno != 0)
        goto bad;
    if (sep == '+')
        b = a + b;
    if (a < 1 || b > 65535 || a > b)
        goto bad;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
bad:
    return kr_error_set(err, KR_E_INVALID,
                        "\"%s\": must be a port range such as 30000-32767 (1-65535)", s ? s : "");
}

/* ---- the allocator ---------------------------------------------------------------- */

struct kr_svcalloc {
    bitrange_t ip, port;
    char cidr[INET_ADDRSTRLEN + 4]; /* "10.96.0.0/12", for messages */
    char ports[16];                 /* "30000-32767" */
};

kr_svcalloc_t *kr_svcalloc_new(const char *cidr, const char *node_ports, kr_error_t *err)
{
    uint32_t net;
    int prefix, lo, hi;
    if (kr_svcalloc_parse_cidr(cidr ? cidr : KR_SVC_CIDR_DEFAULT, &net, &prefix, err) < 0 ||
        kr_svcalloc_parse_ports(node_ports ? node_ports : KR_SVC_NODE_PORTS_DEFAULT, &lo, &hi,
                                err) < 0)
        return NULL;
    kr_svcalloc_t *al = xcalloc(1, sizeof *al);
    /* the network and broadcast addresses are never handed out */
    uint32_t size = (uint32_t)((1ull << (32 - prefix)) - 2);
    br_init(&al->ip, net + 1, size, band_offset(size, 16, 256, 16));
    uint32_t psize = (uint32_t)(hi - lo + 1);
    br_init(&al->port, (uint32_t)lo, psize, band_offset(psize, 16, 128, 32));
    struct in_addr a = {.s_addr = htonl(net)};
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, ip, sizeof ip);
    snprintf(al->cidr, sizeof al->cidr, "%s/%d", ip, prefix);
    snprintf(al->ports, sizeof al->ports, "%d-%d", lo, hi);
    return al;
}

void kr_svcalloc_destroy(kr_svcalloc_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    free((*self_p)->ip.bits);
    free((*self_p)->port.bits);
    free(*self_p);
    *self_p = NULL;
}

/* ---- what a Service holds ----------------------------------------------------------- */

enum { V_IP, V_PORT };

typedef struct val {
    int kind;         /* V_IP, V_PORT */
    uint32_t v;       /* host-order IPv4, or the port */
    const char *path; /* where obj holds it: "spec.ports[1].nodePort", ... */
} val_t;

typedef struct vals {
    val_t *v;
    size_t n, cap;
} vals_t;

struct kr_svc_change {
    vals_t taken, release;
};

static void vals_add(vals_t *s, int kind, uint32_t v, const char *path)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL)
            abort();
    }
    s->v[s->n++] = (val_t){kind, v, path};
}

static bool vals_has(const vals_t *s, int kind, uint32_t v)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].kind == kind && s->v[i].v == v)
            return true;
    return false;
}

static bool type_is(const kr_value_t *spec, const char *t)
{
    const char *s = kr_value_map_str(spec, "type");
    return strcmp(s && *s ? s : "ClusterIP", t) == 0;
}

static bool parse_ip(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

/* The IPs and node ports `obj` holds (none for NULL).  Paths are in a. */
static void held(kr_arena_t *a, const kr_value_t *obj, vals_t *out)
{
    const kr_value_t *spec = kr_value_map_get(obj, "spec");
    if (kr_value_type(spec) != KR_MAP)
        return;
    if (!type_is(spec, "ExternalName")) {
        const kr_value_t *ips = kr_value_map_get(spec, "clusterIPs");
        uint32_t ip;
        if (kr_value_len(ips) > 0) {
            for (size_t i = 0; i < kr_value_len(ips); i++)
                if (parse_ip(kr_value_as_str(kr_value_array_get(ips, i)), &ip) &&
                    !vals_has(out, V_IP, ip))
                    vals_add(out, V_IP, ip, "spec.clusterIPs");
        } else if (parse_ip(kr_value_map_str(spec, "clusterIP"), &ip)) {
            vals_add(out, V_IP, ip, "spec.clusterIPs");
        }
    }
    const kr_value_t *ports = kr_value_map_get(spec, "ports");
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        int64_t np = kr_value_map_int(kr_value_array_get(ports, i), "nodePort", 0);
        if (np > 0 && np <= 65535 && !vals_has(out, V_PORT, (uint32_t)np))
            vals_add(out, V_PORT, (uint32_t)np, kr_arena_printf(a, "spec.ports[%zu].nodePort", i));
    }
    int64_t hc = kr_value_map_int(spec, "healthCheckNodePort", 0);
    if (hc > 0 && hc <= 65535 && !vals_has(out, V_PORT, (uint32_t)hc))
        vals_add(out, V_PORT, (uint32_t)hc, "spec.healthCheckNodePort");
}

static const char *ip_str(kr_arena_t *a, uint32_t ip)
{
    struct in_addr in = {.s_addr = htonl(ip)};
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &in, buf, sizeof buf);
    return kr_arena_strdup(a, buf);
}

static bitrange_t *range_of(kr_svcalloc_t *al, int kind)
{
    return kind == V_IP ? &al->ip : &al->port;
}

void kr_svcalloc_load(kr_svcalloc_t *al, const kr_value_t *svc, size_t *dups)
{
    kr_arena_t *a = kr_arena_new(1024);
    vals_t h = {0};
    held(a, svc, &h);
    const kr_value_t *meta = kr_value_map_get(svc, "metadata");
    for (size_t i = 0; i < h.n; i++) {
        bitrange_t *b = range_of(al, h.v[i].kind);
        int64_t bit = br_bit(b, h.v[i].v);
        if (bit < 0)
            continue; /* outside a range that was changed since */
        if (br_test(b, (uint32_t)bit)) {
            KR_WARN(TAG, "a stored Service holds a value another one holds",
                    "namespace=\"%s\" name=\"%s\" field=\"%s\" value=\"%s\"",
                    kr_value_map_str(meta, "namespace"), kr_value_map_str(meta, "name"),
                    h.v[i].path,
                    h.v[i].kind == V_IP ? ip_str(a, h.v[i].v)
                                        : kr_arena_printf(a, "%" PRIu32, h.v[i].v));
            if (dups != NULL)
                (*dups)++;
        }
        br_set(b, (uint32_t)bit);
    }
    free(h.v);
    kr_arena_destroy(&a);
}

/* ---- a write ------------------------------------------------------------------------- */

static void change_free(kr_svc_change_t **c)
{
    if (*c == NULL)
        return;
    free((*c)->taken.v);
    free((*c)->release.v);
    free(*c);
    *c = NULL;
}

void kr_svcalloc_abort(kr_svcalloc_t *al, kr_svc_change_t **change)
{
    if (change == NULL || *change == NULL)
        return;
    vals_t *t = &(*change)->taken;
    for (size_t i = 0; i < t->n; i++) {
        bitrange_t *b = range_of(al, t->v[i].kind);
        br_clear(b, (uint32_t)br_bit(b, t->v[i].v));
    }
    change_free(change);
}

void kr_svcalloc_commit(kr_svcalloc_t *al, kr_svc_change_t **change)
{
    if (change == NULL || *change == NULL)
        return;
    vals_t *r = &(*change)->release;
    for (size_t i = 0; i < r->n; i++) {
        bitrange_t *b = range_of(al, r->v[i].kind);
        int64_t bit = br_bit(b, r->v[i].v);
        if (bit >= 0)
            br_clear(b, (uint32_t)bit);
    }
    change_free(change);
}

/* Takes a random value into c->taken; false when the range is full. */
static bool take_next(kr_svcalloc_t *al, kr_svc_change_t *c, int kind, uint32_t *v)
{
    if (!br_take_random(range_of(al, kind), v))
        return false;
    vals_add(&c->taken, kind, *v, NULL);
    return true;
}

static int full(kr_error_t *err, const char *what)
{
    return kr_error_set(err, KR_E_INTERNAL,
                        "Internal error occurred: failed to allocate a %s: "
                        "range is full",
                        what);
}

/* The values a Service needs and has none for: a ClusterIP, the node
 * ports (upstream's initNodePorts: ports with the same port number share
 * one node port), the health check node port. */
static int fill(kr_svcalloc_t *al, kr_arena_t *a, kr_value_t *spec, kr_svc_change_t *c,
                kr_error_t *err)
{
    uint32_t v;
    const char *cip = kr_value_map_str(spec, "clusterIP");
    const kr_value_t *cips = kr_value_map_get(spec, "clusterIPs");
    if (!type_is(spec, "ExternalName") && (cip == NULL || *cip == '\0') &&
        kr_value_len(cips) == 0) {
        if (!take_next(al, c, V_IP, &v))
            return full(err, "serviceIP");
        const char *ip = ip_str(a, v);
        kr_value_map_set(a, spec, "clusterIP", kr_value_str(a, ip));
        kr_value_t *arr = kr_value_array(a);
        kr_value_array_push(a, arr, kr_value_str(a, ip));
        kr_value_map_set(a, spec, "clusterIPs", arr);
    }
    const kr_value_t *alb = kr_value_map_get(spec, "allocateLoadBalancerNodePorts");
    bool node_ports = type_is(spec, "NodePort") ||
                      (type_is(spec, "LoadBalancer") &&
                       !(kr_value_type(alb) == KR_BOOL && !kr_value_as_bool(alb, true)));
    kr_value_t *ports = kr_value_map_get(spec, "ports");
    for (size_t i = 0; node_ports && i < kr_value_len(ports); i++) {
        kr_value_t *p = kr_value_array_get(ports, i);
        if (kr_value_type(p) != KR_MAP || kr_value_map_int(p, "nodePort", 0) != 0)
            continue;
        int64_t port = kr_value_map_int(p, "port", 0), np = 0;
        for (size_t j = 0; j < kr_value_len(ports) && np == 0; j++) {
            const kr_value_t *q = kr_value_array_get(ports, j);
            if (kr_value_map_int(q, "port", -1) == port)
                np = kr_value_map_int(q, "nodePort", 0);
        }
        if (np == 0) {
            if (!take_next(al, c, V_PORT, &v))
                return full(err, "nodePort");
            np = v;
        }
        kr_value_map_set(a, p, "nodePort", kr_value_int(a, np));
    }
    const char *etp = kr_value_map_str(spec, "externalTrafficPolicy");
    if (type_is(spec, "LoadBalancer") && etp != NULL && strcmp(etp, "Local") == 0 &&
        kr_value_map_int(spec, "healthCheckNodePort", 0) == 0) {
        if (!take_next(al, c, V_PORT, &v))
            return full(err, "nodePort");
        kr_value_map_set(a, spec, "healthCheckNodePort", kr_value_int(a, v));
    }
    return 0;
}

/* spec.clusterIPs as Go prints a []string (the value of upstream's
 * errors about them). */
static const char *cluster_ips_shown(kr_arena_t *a, const kr_value_t *spec)
{
    kr_buf_t shown = KR_BUF_INIT;
    kr_buf_puts(&shown, "[]string{");
    const kr_value_t *ips = kr_value_map_get(spec, "clusterIPs");
    for (size_t i = 0; i < kr_value_len(ips); i++) {
        if (i)
            kr_buf_puts(&shown, ", ");
        kr_go_quote(&shown, kr_as_str(kr_value_array_get(ips, i)));
    }
    kr_buf_puts(&shown, "}");
    const char *out = kr_arena_strdup(a, shown.data);
    kr_buf_free(&shown);
    return out;
}

/* The cluster is single-stack IPv4: an IPv6 ClusterIP asked for is
 * refused as upstream's initIPFamilyFields refuses a family without an
 * allocator.  False after adding the error. */
static bool families_ok(kr_arena_t *a, const kr_value_t *spec, kr_validation_t *v)
{
    if (type_is(spec, "ExternalName"))
        return true;
    const kr_value_t *ips = kr_value_map_get(spec, "clusterIPs");
    bool ok = true;
    for (size_t i = 0; i < kr_value_len(ips); i++) {
        const char *ip = kr_as_str(kr_value_array_get(ips, i));
        unsigned char b[16];
        if (strcmp(ip, "None") == 0)
            break;
        if (inet_pton(AF_INET6, ip, b) == 1) {
            kr_field_error_raw(v, KR_FIELD_INVALID, kr_arena_printf(a, "spec.clusterIPs[%zu]", i),
                               cluster_ips_shown(a, spec),
                               "IPv6 is not configured on this cluster");
            ok = false;
        }
    }
    return ok;
}

/* Takes a value a client asked for; upstream's field error when it is out
 * of range or in use. */
static bool take_asked(kr_svcalloc_t *al, kr_arena_t *a, const kr_value_t *spec, const val_t *x,
                       kr_svc_change_t *c, kr_validation_t *v)
{
    bitrange_t *b = range_of(al, x->kind);
    int64_t bit = br_bit(b, x->v);
    const char *why = NULL;
    if (bit < 0)
        why = x->kind == V_IP ? kr_arena_printf(a,
                                                "provided IP is not in the valid range. The range "
                                                "of valid IPs is %s",
                                                al->cidr)
                              : kr_arena_printf(a,
                                                "provided port is not in the valid range. The "
                                                "range of valid ports is %s",
                                                al->ports);
    else if (br_test(b, (uint32_t)bit))
        why = x->kind == V_IP ? "provided IP is already allocated"
                              : "provided port is already allocated";
    if (why == NULL) {
        br_set(b, (uint32_t)bit);
        vals_add(&c->taken, x->kind, x->v, NULL);
        return true;
    }
    if (x->kind == V_IP) {
        /* upstream's allocClusterIPs: the whole clusterIPs as the value */
        kr_field_error_raw(
            v, KR_FIELD_INVALID, x->path, cluster_ips_shown(a, spec),
            kr_arena_printf(a, "failed to allocate IP %s: %s", ip_str(a, x->v), why));
    } else if (strcmp(x->path, "spec.healthCheckNodePort") == 0) {
        kr_field_invalid_int(v, x->path, x->v,
                             kr_arena_printf(a,
                                             "failed to allocate requested HealthCheck NodePort "
                                             "%" PRIu32 ": %s",
                                             x->v, why));
    } else {
        kr_field_invalid_int(v, x->path, x->v, why);
    }
    return false;
}

int kr_svcalloc_write(kr_svcalloc_t *al, kr_arena_t *a, kr_value_t *obj, const kr_value_t *old,
                      kr_validation_t *v, kr_svc_change_t **change, kr_error_t *err)
{
    *change = NULL;
    kr_svc_change_t *c = xcalloc(1, sizeof *c);
    kr_value_t *spec = kr_value_map_get(obj, "spec");
    if (kr_value_type(spec) == KR_MAP && !families_ok(a, spec, v)) {
        kr_svcalloc_abort(al, &c);
        return -KR_E_INVALID;
    }
    if (kr_value_type(spec) == KR_MAP && fill(al, a, spec, c, err) < 0) {
        kr_svcalloc_abort(al, &c);
        return -KR_E_INTERNAL;
    }
    vals_t now = {0}, had = {0};
    held(a, obj, &now);
    held(a, old, &had);
    int rc = 0;
    for (size_t i = 0; i < now.n && rc == 0; i++) {
        if (vals_has(&had, now.v[i].kind, now.v[i].v) ||
            vals_has(&c->taken, now.v[i].kind, now.v[i].v))
            continue;
        if (!take_asked(al, a, spec, &now.v[i], c, v))
            rc = -KR_E_INVALID;
    }
    for (size_t i = 0; i < had.n && rc == 0; i++)
        if (!vals_has(&now, had.v[i].kind, had.v[i].v))
            vals_add(&c->release, had.v[i].kind, had.v[i].v, NULL);
    free(now.v);
    free(had.v);
    if (rc < 0) {
        kr_svcalloc_abort(al, &c);
        return rc;
    }
    if (c->taken.n == 0 && c->release.n == 0)
        change_free(&c);
    *change = c;
    return 0;
}

bool kr_svcalloc_ip_taken(const kr_svcalloc_t *al, const char *ip)
{
    uint32_t v;
    int64_t bit;
    return parse_ip(ip, &v) && (bit = br_bit(&al->ip, v)) >= 0 && br_test(&al->ip, (uint32_t)bit);
}

bool kr_svcalloc_port_taken(const kr_svcalloc_t *al, int port)
{
    int64_t bit = port > 0 ? br_bit(&al->port, (uint32_t)port) : -1;
    return bit >= 0 && br_test(&al->port, (uint32_t)bit);
}

void kr_svcalloc_usage(const kr_svcalloc_t *al, uint32_t *ips, uint32_t *ports)
{
    *ips = al->ip.used;
    *ports = al->port.used;
}
