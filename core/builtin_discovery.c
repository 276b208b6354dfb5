/* discovery.k8s.io/v1 EndpointSlice: defaults (pkg/apis/discovery/v1
 * SetDefaults_EndpointPort), validation (pkg/apis/discovery/validation)
 * and the strategy's generation rule (pkg/registry/discovery/endpointslice). */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "builtin_internal.h"

/* Equal fields, absent and null alike. */
static bool same_field(const kr_value_t *x, const kr_value_t *y, const char *key)
{
    const kr_value_t *a = kr_value_map_get(x, key), *b = kr_value_map_get(y, key);
    return kr_value_equal(a, b) || (kr_value_type(a) == KR_NULL && kr_value_type(b) == KR_NULL);
}

/* pkg/apis/discovery/validation's limits */
enum {
    ES_MAX_ENDPOINTS = 1000,
    ES_MAX_ADDRESSES = 100,
    ES_MAX_PORTS = 20000,
    ES_MAX_TOPOLOGY_LABELS = 16,
    ES_MAX_ZONE_HINTS = 8,
};

/* field.TooMany when n > max; true then. */
static bool too_many(kr_validation_t *v, const char *path, size_t n, int max)
{
    if (n <= (size_t)max)
        return false;
    kr_field_error(v, KR_FIELD_TOO_MANY, path, kr_value_int(v->arena, (int64_t)n),
                   "must have at most %d items", max);
    return true;
}

static const char *const address_types[] = {"FQDN", "IPv4", "IPv6", NULL};

/* SetDefaults_EndpointPort: a nil name is "" and a nil protocol TCP (the
 * stored port always carries both, as upstream's). */
static void endpointslice_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *ports = kr_array_at(obj, "ports");
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        kr_value_t *p = kr_value_array_get(ports, i);
        if (kr_value_type(p) != KR_MAP)
            continue;
        if (kr_value_type(kr_value_map_get(p, "name")) == KR_NULL)
            kr_value_map_set(a, p, "name", kr_value_str(a, ""));
        kr_default_str(a, p, "protocol", "TCP");
    }
}

static kr_value_t *meta_of(kr_arena_t *a, kr_value_t *obj)
{
    return kr_ensure_map(a, obj, "metadata");
}

/* The strategy's PrepareForCreate: generation starts at 1. */
static void endpointslice_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *meta = meta_of(a, obj);
    if (meta != NULL)
        kr_value_map_set(a, meta, "generation", kr_value_int(a, 1));
}

/* PrepareForUpdate: generation moves when anything but metadata changed,
 * or the labels did (they select the slice's Service). */
static void endpointslice_prepare_update(kr_arena_t *a, kr_value_t *obj, const kr_value_t *old)
{
    kr_value_t *meta = meta_of(a, obj);
    const kr_value_t *ometa = kr_map_at(old, "metadata");
    if (meta == NULL)
        return;
    bool changed = !same_field(meta, ometa, "labels");
    static const char *const body[] = {"addressType", "endpoints", "ports"};
    for (size_t i = 0; i < sizeof body / sizeof body[0] && !changed; i++)
        changed = !same_field(obj, old, body[i]);
    int64_t gen = kr_value_map_int(ometa, "generation", 0);
    kr_value_map_set(a, meta, "generation", kr_value_int(a, changed ? gen + 1 : gen));
}

/* validation.IsFullyQualifiedDomainName */
static void fqdn_address(kr_validation_t *v, const char *name, const char *path)
{
    if (*name == '\0') {
        kr_field_required(v, path, NULL);
        return;
    }
    size_t n = strlen(name);
    char *s = kr_arena_strdup(v->arena, name);
    if (s[n - 1] == '.')
        s[--n] = '\0';
    const char *m[3];
    size_t k = kr_name_errors(KR_NAME_DNS1123_SUBDOMAIN, s, false, m);
    if (k > 0) {
        kr_buf_t b = KR_BUF_INIT;
        for (size_t i = 0; i < k; i++)
            kr_buf_printf(&b, "%s%s", i ? "," : "", m[i]);
        kr_field_invalid_str(v, path, s, kr_arena_strdup(v->arena, b.data));
        kr_buf_free(&b);
        return;
    }
    if (strchr(s, '.') == NULL) {
        kr_field_invalid_str(v, path, s,
                             "should be a domain with at least two segments separated "
                             "by dots");
        return;
    }
    for (char *label = s, *dot; label != NULL; label = dot ? dot + 1 : NULL) {
        dot = strchr(label, '.');
        if (dot != NULL)
            *dot = '\0';
        const char *err = kr_dns1123_label_error(label);
        if (err != NULL) {
            kr_field_invalid_str(v, path, label, err);
            return;
        }
    }
}

static void endpointslice_address(kr_validation_t *v, const char *type, const char *addr,
                                  const char *path)
{
    unsigned char b[16];
    if (strcmp(type, "IPv4") == 0) {
        if (inet_pton(AF_INET, addr, b) != 1)
            kr_field_invalid_str(v, path, addr, "must be a valid IPv4 address");
        kr_validate_endpoint_ip(v, addr, path);
    } else if (strcmp(type, "IPv6") == 0) {
        if (inet_pton(AF_INET6, addr, b) != 1)
            kr_field_invalid_str(v, path, addr, "must be a valid IPv6 address");
        kr_validate_endpoint_ip(v, addr, path);
    } else if (strcmp(type, "FQDN") == 0) {
        fqdn_address(v, addr, path);
    }
}

static void endpointslice_hints(kr_validation_t *v, const kr_value_t *hints, const char *path)
{
    const kr_value_t *zones = kr_array_at(hints, "forZones");
    const char *zp = kr_fp(v, path, "forZones");
    if (too_many(v, zp, kr_value_len(zones), ES_MAX_ZONE_HINTS))
        return;
    for (size_t i = 0; i < kr_value_len(zones); i++) {
        const char *name = kr_str_or_empty(kr_value_array_get(zones, i), "name");
        const char *np = kr_fp(v, kr_fpi(v, zp, i), "name");
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(kr_str_or_empty(kr_value_array_get(zones, j), "name"), name) == 0;
        if (dup)
            kr_field_duplicate(v, np, kr_value_str(v->arena, name));
        kr_validate_rule(v, kr_label_value_errors, name, np);
    }
}

static void endpointslice_endpoints(kr_validation_t *v, const kr_value_t *eps, const char *type)
{
    if (too_many(v, "endpoints", kr_value_len(eps), ES_MAX_ENDPOINTS))
        return;
    for (size_t i = 0; i < kr_value_len(eps); i++) {
        const kr_value_t *ep = kr_value_array_get(eps, i);
        const char *ip = kr_fpi(v, "endpoints", i);
        const char *ap = kr_fp(v, ip, "addresses");
        const kr_value_t *addrs = kr_array_at(ep, "addresses");
        size_t na = kr_value_len(addrs);
        if (na == 0)
            kr_field_required(v, ap, "must contain at least 1 address");
        else
            too_many(v, ap, na, ES_MAX_ADDRESSES);
        for (size_t j = 0; j < na; j++)
            endpointslice_address(v, type, kr_as_str(kr_value_array_get(addrs, j)),
                                  kr_fpi(v, ap, j));
        const char *node = kr_value_map_str(ep, "nodeName");
        if (node != NULL)
            kr_validate_name_rule(v, KR_NAME_DNS1123_SUBDOMAIN, node, false,
                                  kr_fp(v, ip, "nodeName"));
        const kr_value_t *topo = kr_map_at(ep, "deprecatedTopology");
        const char *tp = kr_fp(v, ip, "deprecatedTopology");
        too_many(v, tp, kr_value_len(topo), ES_MAX_TOPOLOGY_LABELS);
        kr_validate_labels(v, topo, tp);
        /* v1 carries the zone in `zone`: the key is reserved (upstream's
         * conversion removes it, validation reports it if it stays) */
        if (kr_value_map_get(topo, "topology.kubernetes.io/zone") != NULL)
            kr_field_error(v, KR_FIELD_INTERNAL, kr_fpk(v, tp, "topology.kubernetes.io/zone"), NULL,
                           "reserved key was not removed in conversion");
        const char *host = kr_value_map_str(ep, "hostname");
        if (host != NULL)
            kr_validate_dns1123_label(v, host, kr_fp(v, ip, "hostname"));
        const kr_value_t *hints = kr_map_at(ep, "hints");
        if (hints != NULL)
            endpointslice_hints(v, hints, kr_fp(v, ip, "hints"));
    }
}

static void endpointslice_ports(kr_validation_t *v, const kr_value_t *ports)
{
    if (too_many(v, "ports", kr_value_len(ports), ES_MAX_PORTS))
        return;
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        const kr_value_t *p = kr_value_array_get(ports, i);
        const char *pp = kr_fpi(v, "ports", i);
        const char *name = kr_str_or_empty(p, "name");
        if (*name)
            kr_validate_dns1123_label(v, name, kr_fp(v, pp, "name"));
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(kr_str_or_empty(kr_value_array_get(ports, j), "name"), name) == 0;
        if (dup)
            kr_field_duplicate(v, kr_fp(v, pp, "name"), kr_value_str(v->arena, name));
        kr_validate_endpoint_protocol(v, p, pp);
    }
}

/* ValidateEndpointSliceCreate / ValidateEndpointSliceUpdate.  Labels such
 * as endpointslice.kubernetes.io/managed-by are ordinary labels here. */
static void endpointslice_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta_again(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    const char *type = kr_str_or_empty(obj, "addressType");
    if (*type == '\0')
        kr_field_required(v, "addressType", NULL);
    else if (!kr_str_in(type, address_types))
        kr_field_not_supported_str(v, "addressType", type, address_types);
    endpointslice_endpoints(v, kr_array_at(obj, "endpoints"), type);
    endpointslice_ports(v, kr_array_at(obj, "ports"));
    if (old != NULL)
        kr_validate_immutable(v, kr_value_map_get(obj, "addressType"),
                              kr_value_map_get(old, "addressType"), "addressType");
}

const kr_kind_hooks_t kr_hooks_endpointslice = {
    .defaults = endpointslice_defaults,
    .prepare_create = endpointslice_prepare_create,
    .prepare_update = endpointslice_prepare_update,
    .validate = endpointslice_validate,
};
