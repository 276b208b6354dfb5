/* Pods and pod templates: SetDefaults_PodSpec / SetDefaults_Pod and the
 * nested defaults (pkg/apis/core/v1/defaults.go and the generated
 * defaulters), ValidatePodSpec and its parts, ValidatePodCreate/Update/
 * StatusUpdate (pkg/apis/core/validation) and the pod strategy
 * (pkg/registry/core/pod: status Pending with the QoS class on create). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin_internal.h"

/* ---- defaults ------------------------------------------------------------- */

/* parsers.ParseImageName's tag is "latest" (given, or implied when neither
 * tag nor digest is): the pull policy defaults to Always then. */
static bool image_pulls_always(const char *image)
{
    if (image == NULL || *image == '\0')
        return false; /* does not parse: no tag */
    const char *at = strchr(image, '@');
    size_t n = at ? (size_t)(at - image) : strlen(image);
    /* the domain is the first component when it looks like one */
    const char *slash = memchr(image, '/', n);
    size_t path_start = 0;
    if (slash != NULL) {
        size_t dl = (size_t)(slash - image);
        bool domain = memchr(image, '.', dl) || memchr(image, ':', dl) ||
                      (dl == 9 && memcmp(image, "localhost", 9) == 0);
        for (size_t i = 0; i < dl && !domain; i++)
            domain = image[i] >= 'A' && image[i] <= 'Z';
        if (domain)
            path_start = dl + 1;
    }
    const char *last = image + path_start;
    for (size_t i = path_start; i < n; i++)
        if (image[i] == '/')
            last = image + i + 1;
    const char *colon = memchr(last, ':', n - (size_t)(last - image));
    for (const char *p = image + path_start; p < (colon ? colon : image + n); p++)
        if (*p >= 'A' && *p <= 'Z')
            return false; /* "repository name must be lowercase" */
    if (colon == NULL)
        return at == NULL;
    size_t tl = n - (size_t)(colon + 1 - image);
    return tl == 6 && memcmp(colon + 1, "latest", 6) == 0;
}

static void http_get_defaults(kr_arena_t *a, kr_value_t *handler)
{
    kr_value_t *hg = kr_map_at(handler, "httpGet");
    kr_default_str(a, hg, "path", "/");
    kr_default_str(a, hg, "scheme", "HTTP");
}

static void probe_defaults(kr_arena_t *a, kr_value_t *probe)
{
    if (probe == NULL)
        return;
    kr_default_int_nonzero(a, probe, "timeoutSeconds", 1);
    kr_default_int_nonzero(a, probe, "periodSeconds", 10);
    kr_default_int_nonzero(a, probe, "successThreshold", 1);
    kr_default_int_nonzero(a, probe, "failureThreshold", 3);
    http_get_defaults(a, probe);
    kr_value_t *grpc = kr_map_at(probe, "grpc");
    if (grpc != NULL && kr_value_type(kr_value_map_get(grpc, "service")) == KR_NULL)
        kr_value_map_set(a, grpc, "service", kr_value_str(a, ""));
}

static void field_ref_defaults(kr_arena_t *a, kr_value_t *holder)
{
    kr_default_str(a, kr_map_at(holder, "fieldRef"), "apiVersion", "v1");
}

static void container_defaults(kr_arena_t *a, kr_value_t *c, bool is_pod, bool host_network)
{
    if (kr_value_type(c) != KR_MAP)
        return;
    kr_default_str(a, c, "imagePullPolicy",
                   image_pulls_always(kr_value_map_str(c, "image")) ? "Always" : "IfNotPresent");
    kr_default_str(a, c, "terminationMessagePath", "/dev/termination-log");
    kr_default_str(a, c, "terminationMessagePolicy", "File");
    kr_value_t *ports = kr_array_at(c, "ports");
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        kr_value_t *p = kr_value_array_get(ports, i);
        kr_default_str(a, p, "protocol", "TCP");
        int64_t cp;
        if (is_pod && host_network && kr_int_at(p, "containerPort", &cp))
            kr_default_int_nonzero(a, p, "hostPort", cp);
    }
    kr_value_t *env = kr_array_at(c, "env");
    for (size_t i = 0; i < kr_value_len(env); i++)
        field_ref_defaults(a, kr_map_at(kr_value_array_get(env, i), "valueFrom"));
    /* ResourceRequirements is a struct: `resources: {}` is always there */
    kr_value_t *res = kr_ensure_map(a, c, "resources");
    kr_value_t *limits = kr_map_at(res, "limits");
    if (is_pod && limits != NULL) {
        /* SetDefaults_Pod: requests default to limits */
        kr_value_t *req = kr_ensure_map(a, res, "requests");
        for (size_t i = 0; req != NULL && i < kr_value_len(limits); i++)
            if (kr_value_map_get(req, kr_value_map_key(limits, i)) == NULL)
                kr_value_map_set(a, req, kr_value_map_key(limits, i),
                                 kr_value_copy(a, kr_value_map_val(limits, i)));
    }
    kr_resource_list_defaults(a, limits);
    kr_resource_list_defaults(a, kr_map_at(res, "requests"));
    probe_defaults(a, kr_map_at(c, "livenessProbe"));
    probe_defaults(a, kr_map_at(c, "readinessProbe"));
    probe_defaults(a, kr_map_at(c, "startupProbe"));
    kr_value_t *lc = kr_map_at(c, "lifecycle");
    http_get_defaults(a, kr_map_at(lc, "postStart"));
    http_get_defaults(a, kr_map_at(lc, "preStop"));
}

static void pvc_spec_defaults(kr_arena_t *a, kr_value_t *spec)
{
    kr_default_str(a, spec, "volumeMode", "Filesystem");
    kr_value_t *res = kr_map_at(spec, "resources");
    kr_resource_list_defaults(a, kr_map_at(res, "limits"));
    kr_resource_list_defaults(a, kr_map_at(res, "requests"));
}

static void volume_defaults(kr_arena_t *a, kr_value_t *vol)
{
    if (kr_value_type(vol) != KR_MAP)
        return;
    if (!kr_volume_has_source(vol))
        kr_value_map_set(a, vol, "emptyDir", kr_value_map(a));
    kr_value_t *hp = kr_map_at(vol, "hostPath");
    if (hp != NULL && kr_value_type(kr_value_map_get(hp, "type")) == KR_NULL)
        kr_value_map_set(a, hp, "type", kr_value_str(a, ""));
    kr_default_int(a, kr_map_at(vol, "secret"), "defaultMode", 0644);
    kr_default_int(a, kr_map_at(vol, "configMap"), "defaultMode", 0644);
    kr_value_t *dapi = kr_map_at(vol, "downwardAPI");
    kr_default_int(a, dapi, "defaultMode", 0644);
    for (size_t i = 0; i < kr_value_len(kr_array_at(dapi, "items")); i++)
        field_ref_defaults(a, kr_value_array_get(kr_array_at(dapi, "items"), i));
    kr_value_t *proj = kr_map_at(vol, "projected");
    kr_default_int(a, proj, "defaultMode", 0644);
    kr_value_t *sources = kr_array_at(proj, "sources");
    for (size_t i = 0; i < kr_value_len(sources); i++) {
        kr_value_t *src = kr_value_array_get(sources, i);
        kr_value_t *items = kr_array_at(kr_map_at(src, "downwardAPI"), "items");
        for (size_t j = 0; j < kr_value_len(items); j++)
            field_ref_defaults(a, kr_value_array_get(items, j));
        kr_default_int(a, kr_map_at(src, "serviceAccountToken"), "expirationSeconds", 3600);
    }
    kr_default_str(a, kr_map_at(vol, "iscsi"), "iscsiInterface", "default");
    kr_value_t *rbd = kr_map_at(vol, "rbd");
    kr_default_str(a, rbd, "pool", "rbd");
    kr_default_str(a, rbd, "user", "admin");
    kr_default_str(a, rbd, "keyring", "/etc/ceph/keyring");
    kr_value_t *ad = kr_map_at(vol, "azureDisk");
    kr_default_str(a, ad, "cachingMode", "ReadWrite");
    kr_default_str(a, ad, "fsType", "ext4");
    kr_default_bool(a, ad, "readOnly", false);
    kr_default_str(a, ad, "kind", "Shared");
    kr_value_t *sio = kr_map_at(vol, "scaleIO");
    kr_default_str(a, sio, "storageMode", "ThinProvisioned");
    kr_default_str(a, sio, "fsType", "xfs");
    pvc_spec_defaults(
        a, kr_map_at(kr_map_at(kr_map_at(vol, "ephemeral"), "volumeClaimTemplate"), "spec"));
}

void kr_pod_spec_defaults(kr_arena_t *a, kr_value_t *spec, bool is_pod)
{
    if (kr_value_type(spec) != KR_MAP)
        return;
    kr_default_str(a, spec, "dnsPolicy", "ClusterFirst");
    kr_default_str(a, spec, "restartPolicy", "Always");
    kr_ensure_map(a, spec, "securityContext");
    kr_default_int(a, spec, "terminationGracePeriodSeconds", 30);
    kr_default_str(a, spec, "schedulerName", "default-scheduler");
    /* v1 conversion: the deprecated serviceAccount mirrors
     * serviceAccountName (and fills it in for old clients) */
    const char *sa = kr_value_map_str(spec, "serviceAccountName");
    if ((sa == NULL || *sa == '\0') && kr_value_map_str(spec, "serviceAccount") != NULL)
        kr_value_map_set(a, spec, "serviceAccountName",
                         kr_value_str(a, kr_value_map_str(spec, "serviceAccount")));
    sa = kr_value_map_str(spec, "serviceAccountName");
    if (sa != NULL && *sa)
        kr_value_map_set(a, spec, "serviceAccount", kr_value_str(a, sa));
    else
        kr_value_map_del(spec, "serviceAccount");
    if (is_pod)
        kr_default_bool(a, spec, "enableServiceLinks", true);
    bool host_network = kr_value_as_bool(kr_value_map_get(spec, "hostNetwork"), false);
    kr_value_t *vols = kr_array_at(spec, "volumes");
    for (size_t i = 0; i < kr_value_len(vols); i++)
        volume_defaults(a, kr_value_array_get(vols, i));
    static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};
    for (size_t l = 0; l < 3; l++) {
        kr_value_t *cs = kr_array_at(spec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++)
            container_defaults(a, kr_value_array_get(cs, i), is_pod && l < 2, host_network);
    }
    kr_resource_list_defaults(a, kr_map_at(spec, "overhead"));
}

void kr_pod_template_defaults(kr_arena_t *a, kr_value_t *tmpl)
{
    kr_pod_spec_defaults(a, kr_ensure_map(a, tmpl, "spec"), false);
}

/* ---- scheduling ---------------------------------------------------------------- */

static void validate_tolerations(kr_validation_t *v, const kr_value_t *tols, const char *path)
{
    static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};
    for (size_t i = 0; i < kr_value_len(tols); i++) {
        const kr_value_t *t = kr_value_array_get(tols, i);
        const char *tp = kr_fpi(v, path, i);
        const char *key = kr_str_or_empty(t, "key");
        const char *op = kr_str_or_empty(t, "operator");
        const char *effect = kr_str_or_empty(t, "effect");
        const char *value = kr_str_or_empty(t, "value");
        if (*key)
            kr_validate_qualified_name(v, key, kr_fp(v, tp, "key"));
        if (*key == '\0' && strcmp(op, "Exists") != 0)
            kr_field_invalid_str(v, kr_fp(v, tp, "operator"), op,
                                 "operator must be Exists when `key` is empty, which means "
                                 "\"match all values and all keys\"");
        if (kr_value_type(kr_value_map_get(t, "tolerationSeconds")) != KR_NULL &&
            strcmp(effect, "NoExecute") != 0)
            kr_field_invalid_str(v, kr_fp(v, tp, "effect"), effect,
                                 "effect must be 'NoExecute' when `tolerationSeconds` is set");
        if (*op == '\0' || strcmp(op, "Equal") == 0) {
            kr_validate_label_value_joined(v, value, kr_fp(v, tp, "operator"));
        } else if (strcmp(op, "Exists") == 0) {
            if (*value)
                kr_field_invalid_str(v, kr_fp(v, tp, "operator"), value,
                                     "value must be empty when `operator` is 'Exists'");
        } else {
            static const char *const ops[] = {"Equal", "Exists", NULL};
            kr_field_not_supported_str(v, kr_fp(v, tp, "operator"), op, ops);
        }
        if (*effect && !kr_str_in(effect, effects))
            kr_field_not_supported_str(v, kr_fp(v, tp, "effect"), effect, effects);
    }
}

static void node_selector_term(kr_validation_t *v, const kr_value_t *term, bool check_values,
                               const char *path)
{
    const kr_value_t *exprs = kr_array_at(term, "matchExpressions");
    for (size_t j = 0; j < kr_value_len(exprs); j++) {
        const kr_value_t *r = kr_value_array_get(exprs, j);
        const char *rp = kr_fpi(v, kr_fp(v, path, "matchExpressions"), j);
        const kr_value_t *vals = kr_array_at(r, "values");
        size_t n = kr_value_len(vals);
        kr_validate_requirement_op(v, kr_str_or_empty(r, "operator"), n, true, rp);
        kr_validate_qualified_name(v, kr_str_or_empty(r, "key"), kr_fp(v, rp, "key"));
        for (size_t k = 0; check_values && k < n; k++) {
            const char *val = kr_value_as_str(kr_value_array_get(vals, k));
            if (val != NULL)
                kr_validate_rule(v, kr_label_value_errors, val,
                                 kr_fpi(v, kr_fp(v, rp, "values"), k));
        }
    }
    const kr_value_t *fields = kr_array_at(term, "matchFields");
    for (size_t j = 0; j < kr_value_len(fields); j++) {
        const kr_value_t *r = kr_value_array_get(fields, j);
        const char *rp = kr_fpi(v, kr_fp(v, path, "matchFields"), j);
        const char *op = kr_str_or_empty(r, "operator");
        if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
            if (kr_value_len(kr_array_at(r, "values")) != 1)
                kr_field_required(v, kr_fp(v, rp, "values"),
                                  "must be only one value when `operator` is 'In' or 'NotIn' for "
                                  "node field selector");
        } else {
            kr_field_invalid_str(v, kr_fp(v, rp, "operator"), op, "not a valid selector operator");
        }
        const char *key = kr_str_or_empty(r, "key");
        if (strcmp(key, "metadata.name") != 0) {
            kr_field_invalid_str(v, kr_fp(v, rp, "key"), key, "not a valid field selector key");
        } else {
            const kr_value_t *vals = kr_array_at(r, "values");
            for (size_t k = 0; k < kr_value_len(vals); k++) {
                const char *val = kr_value_as_str(kr_value_array_get(vals, k));
                if (val != NULL)
                    kr_validate_dns1123_subdomain(v, val, kr_fpi(v, kr_fp(v, rp, "values"), k));
            }
        }
    }
}

static void pod_affinity_terms(kr_validation_t *v, const kr_value_t *terms, bool weighted,
                               const char *path)
{
    for (size_t i = 0; i < kr_value_len(terms); i++) {
        const kr_value_t *t = kr_value_array_get(terms, i);
        const char *tp = kr_fpi(v, path, i);
        if (weighted) {
            const kr_value_t *w = kr_value_map_get(t, "weight");
            if (kr_value_as_int(w, 0) <= 0 || kr_value_as_int(w, 0) > 100)
                kr_field_invalid(v, kr_fp(v, tp, "weight"), w, "must be in the range 1-100");
            t = kr_map_at(t, "podAffinityTerm");
            tp = kr_fp(v, tp, "podAffinityTerm");
        }
        kr_validate_label_selector(v, kr_map_at(t, "labelSelector"), kr_fp(v, tp, "labelSelector"));
        kr_validate_label_selector(v, kr_map_at(t, "namespaceSelector"),
                                   kr_fp(v, tp, "namespaceSelector"));
        const kr_value_t *nss = kr_array_at(t, "namespaces");
        for (size_t j = 0; j < kr_value_len(nss); j++) {
            const char *ns = kr_value_as_str(kr_value_array_get(nss, j));
            if (ns != NULL)
                kr_validate_dns1123_label(v, ns, kr_fp(v, tp, "namespace"));
        }
        const char *tk = kr_str_or_empty(t, "topologyKey");
        if (*tk == '\0')
            kr_field_required(v, kr_fp(v, tp, "topologyKey"), "can not be empty");
        kr_validate_qualified_name(v, tk, kr_fp(v, tp, "topologyKey"));
    }
}

static void validate_affinity(kr_validation_t *v, const kr_value_t *aff, const char *path)
{
    if (aff == NULL)
        return;
    const kr_value_t *na = kr_map_at(aff, "nodeAffinity");
    const char *nap = kr_fp(v, path, "nodeAffinity");
    const kr_value_t *req = kr_map_at(na, "requiredDuringSchedulingIgnoredDuringExecution");
    if (req != NULL) {
        const char *rp = kr_fp(v, kr_fp(v, nap, "requiredDuringSchedulingIgnoredDuringExecution"),
                               "nodeSelectorTerms");
        const kr_value_t *terms = kr_array_at(req, "nodeSelectorTerms");
        if (kr_value_len(terms) == 0)
            kr_field_required(v, rp, "must have at least one node selector term");
        for (size_t i = 0; i < kr_value_len(terms); i++)
            node_selector_term(v, kr_value_array_get(terms, i), true, kr_fpi(v, rp, i));
    }
    const kr_value_t *pref = kr_array_at(na, "preferredDuringSchedulingIgnoredDuringExecution");
    for (size_t i = 0; i < kr_value_len(pref); i++) {
        const kr_value_t *t = kr_value_array_get(pref, i);
        const char *tp =
            kr_fpi(v, kr_fp(v, nap, "preferredDuringSchedulingIgnoredDuringExecution"), i);
        const kr_value_t *w = kr_value_map_get(t, "weight");
        if (kr_value_as_int(w, 0) <= 0 || kr_value_as_int(w, 0) > 100)
            kr_field_invalid(v, kr_fp(v, tp, "weight"), w, "must be in the range 1-100");
        node_selector_term(v, kr_map_at(t, "preference"), false, kr_fp(v, tp, "preference"));
    }
    static const char *const kinds[] = {"podAffinity", "podAntiAffinity"};
    for (size_t k = 0; k < 2; k++) {
        const kr_value_t *pa = kr_map_at(aff, kinds[k]);
        const char *pp = kr_fp(v, path, kinds[k]);
        pod_affinity_terms(v, kr_array_at(pa, "requiredDuringSchedulingIgnoredDuringExecution"),
                           false, kr_fp(v, pp, "requiredDuringSchedulingIgnoredDuringExecution"));
        pod_affinity_terms(v, kr_array_at(pa, "preferredDuringSchedulingIgnoredDuringExecution"),
                           true, kr_fp(v, pp, "preferredDuringSchedulingIgnoredDuringExecution"));
    }
}

static void validate_spread(kr_validation_t *v, const kr_value_t *tscs, const char *path)
{
    static const char *const actions[] = {"DoNotSchedule", "ScheduleAnyway", NULL};
    static const char *const policies[] = {"Honor", "Ignore", NULL};
    for (size_t i = 0; i < kr_value_len(tscs); i++) {
        const kr_value_t *c = kr_value_array_get(tscs, i);
        const char *cp = kr_fpi(v, path, i);
        const kr_value_t *skew = kr_value_map_get(c, "maxSkew");
        if (kr_value_as_int(skew, 0) <= 0)
            kr_field_invalid(v, kr_fp(v, cp, "maxSkew"), skew ? skew : kr_value_int(v->arena, 0),
                             KR_MSG_NOT_POSITIVE);
        const char *tk = kr_str_or_empty(c, "topologyKey");
        if (*tk == '\0')
            kr_field_required(v, kr_fp(v, cp, "topologyKey"), "can not be empty");
        const char *wu = kr_str_or_empty(c, "whenUnsatisfiable");
        if (!kr_str_in(wu, actions))
            kr_field_not_supported_str(v, kr_fp(v, cp, "whenUnsatisfiable"), wu, actions);
        for (size_t j = i + 1; j < kr_value_len(tscs); j++) {
            const kr_value_t *o = kr_value_array_get(tscs, j);
            if (strcmp(tk, kr_str_or_empty(o, "topologyKey")) == 0 &&
                strcmp(wu, kr_str_or_empty(o, "whenUnsatisfiable")) == 0) {
                kr_field_error(
                    v, KR_FIELD_DUPLICATE, kr_fp(v, cp, "{topologyKey, whenUnsatisfiable}"),
                    kr_value_str(v->arena, kr_arena_printf(v->arena, "{%s, %s}", tk, wu)), NULL);
                break;
            }
        }
        const kr_value_t *md = kr_value_map_get(c, "minDomains");
        if (kr_value_type(md) == KR_INT) {
            if (kr_value_as_int(md, 0) <= 0)
                kr_field_invalid(v, kr_fp(v, cp, "minDomains"), md, KR_MSG_NOT_POSITIVE);
            if (strcmp(wu, "DoNotSchedule") != 0)
                kr_field_error(v, KR_FIELD_INVALID, kr_fp(v, cp, "minDomains"), md,
                               "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not %s",
                               wu);
        }
        static const char *const pk[] = {"nodeAffinityPolicy", "nodeTaintsPolicy"};
        for (size_t p = 0; p < 2; p++) {
            const char *pol = kr_value_map_str(c, pk[p]);
            if (pol != NULL && !kr_str_in(pol, policies))
                kr_field_not_supported_str(v, kr_fp(v, cp, pk[p]), pol, policies);
        }
        kr_validate_label_selector(v, kr_map_at(c, "labelSelector"), kr_fp(v, cp, "labelSelector"));
    }
}

static void validate_dns_config(kr_validation_t *v, const kr_value_t *spec, const char *spec_path)
{
    const kr_value_t *dc = kr_map_at(spec, "dnsConfig");
    const char *path = kr_fp(v, spec_path, "dnsConfig");
    const kr_value_t *ns = kr_array_at(dc, "nameservers");
    if (strcmp(kr_str_or_empty(spec, "dnsPolicy"), "None") == 0) {
        if (dc == NULL) {
            kr_field_required(v, path, "must provide `dnsConfig` when `dnsPolicy` is None");
            return;
        }
        if (kr_value_len(ns) == 0) {
            kr_field_required(v, kr_fp(v, path, "nameservers"),
                              "must provide at least one DNS nameserver when `dnsPolicy` is None");
            return;
        }
    }
    if (dc == NULL)
        return;
    if (kr_value_len(ns) > 3)
        kr_field_invalid(v, kr_fp(v, path, "nameservers"), ns,
                         "must not have more than 3 nameservers");
    for (size_t i = 0; i < kr_value_len(ns); i++)
        kr_validate_ip(v, kr_as_str(kr_value_array_get(ns, i)),
                       kr_fpi(v, kr_fp(v, path, "nameservers"), i));
    const kr_value_t *searches = kr_array_at(dc, "searches");
    if (kr_value_len(searches) > 32)
        kr_field_invalid(v, kr_fp(v, path, "searches"), searches,
                         "must not have more than 32 search paths");
    size_t total = 0;
    for (size_t i = 0; i < kr_value_len(searches); i++)
        total += kr_value_len(kr_value_array_get(searches, i)) + (i ? 1 : 0);
    if (total > 2048)
        kr_field_invalid(v, kr_fp(v, path, "searches"), searches,
                         "must not have more than 2048 characters (including spaces) in the "
                         "search list");
    for (size_t i = 0; i < kr_value_len(searches); i++) {
        const char *s = kr_value_as_str(kr_value_array_get(searches, i));
        if (s == NULL || strcmp(s, ".") == 0)
            continue;
        char *t = kr_arena_strdup(v->arena, s);
        size_t n = strlen(t);
        if (n > 0 && t[n - 1] == '.')
            t[n - 1] = '\0';
        /* relaxed search validation: '_' is allowed as in the
         * "WithUnderscore" rule */
        bool ok = *t != '\0' && strlen(t) <= 253;
        for (char *p = t, *seg = t; ok; p++) {
            if (*p == '.' || *p == '\0') {
                size_t len = (size_t)(p - seg);
                const char *b = seg;
                if (len > 0 && *b == '_') {
                    b++;
                    len--;
                }
                ok =
                    len > 0 && b[0] != '-' && b[0] != '_' && b[len - 1] != '-' && b[len - 1] != '_';
                for (const char *q = b; ok && q < p; q++)
                    ok = (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' ||
                         *q == '_';
                if (*p == '\0')
                    break;
                seg = p + 1;
            }
        }
        if (!ok)
            kr_field_invalid_str(v, kr_fpi(v, kr_fp(v, path, "searches"), i), t,
                                 "a lowercase RFC 1123 subdomain must consist of lower case "
                                 "alphanumeric characters, '_', '-' or '.', and must start and "
                                 "end with an alphanumeric character (e.g. 'example.com', regex "
                                 "used for validation is '_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?"
                                 "[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*')");
    }
    const kr_value_t *opts = kr_array_at(dc, "options");
    for (size_t i = 0; i < kr_value_len(opts); i++)
        if (*kr_str_or_empty(kr_value_array_get(opts, i), "name") == '\0')
            kr_field_required(v, kr_fpi(v, kr_fp(v, path, "options"), i), "must not be empty");
}

/* ---- ValidatePodSpec ----------------------------------------------------------- */

static void restart_policy(kr_validation_t *v, const kr_value_t *spec, const char *path)
{
    static const char *const rps[] = {"Always", "OnFailure", "Never", NULL};
    const char *rp = kr_str_or_empty(spec, "restartPolicy");
    if (*rp == '\0')
        kr_field_required(v, path, NULL);
    else if (!kr_str_in(rp, rps))
        kr_field_not_supported_str(v, path, rp, rps);
}

void kr_validate_pod_spec(kr_validation_t *v, const kr_value_t *spec, const kr_value_t *meta,
                          const char *path, const kr_pod_opts_t *opts)
{
    (void)meta;
    if (kr_value_type(kr_value_map_get(spec, "terminationGracePeriodSeconds")) == KR_NULL)
        kr_field_required(v, kr_fp(v, path, "terminationGracePeriodSeconds"), NULL);
    bool host_users = kr_value_as_bool(kr_value_map_get(spec, "hostUsers"), true);
    kr_value_t *vols =
        kr_validate_volumes(v, kr_array_at(spec, "volumes"), kr_fp(v, path, "volumes"));
    kr_validate_containers(v, spec, vols, host_users, path);
    const kr_value_t *ecs = kr_array_at(spec, "ephemeralContainers");
    for (size_t i = 0; i < kr_value_len(ecs); i++)
        kr_validate_container(v, kr_value_array_get(ecs, i), vols, host_users,
                              kr_fpi(v, kr_fp(v, path, "ephemeralContainers"), i));
    if (kr_value_as_bool(kr_value_map_get(spec, "hostNetwork"), false)) {
        const kr_value_t *cs = kr_array_at(spec, "containers");
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *ports = kr_array_at(kr_value_array_get(cs, i), "ports");
            for (size_t j = 0; j < kr_value_len(ports); j++) {
                const kr_value_t *p = kr_value_array_get(ports, j);
                const kr_value_t *hp = kr_value_map_get(p, "hostPort");
                int64_t h = kr_value_as_int(hp, 0),
                        c = kr_value_as_int(kr_value_map_get(p, "containerPort"), 0);
                if ((opts->is_pod || h != 0) && h != c)
                    kr_field_invalid_int(
                        v,
                        kr_fp(v,
                              kr_fpi(v,
                                     kr_fp(v, kr_fpi(v, kr_fp(v, path, "containers"), i), "ports"),
                                     j),
                              "hostPort"),
                        h, "must match `containerPort` when `hostNetwork` is true");
            }
        }
    }
    restart_policy(v, spec, kr_fp(v, path, "restartPolicy"));
    static const char *const dnss[] = {"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None",
                                       NULL};
    const char *dns = kr_str_or_empty(spec, "dnsPolicy");
    if (*dns == '\0')
        kr_field_required(v, kr_fp(v, path, "dnsPolicy"), NULL);
    else if (!kr_str_in(dns, dnss))
        kr_field_not_supported_str(v, kr_fp(v, path, "dnsPolicy"), dns, dnss);
    kr_validate_labels(v, kr_value_map_get(spec, "nodeSelector"), kr_fp(v, path, "nodeSelector"));
    kr_validate_pod_security(v, spec, path);
    const kr_value_t *ips = kr_array_at(spec, "imagePullSecrets");
    for (size_t i = 0; i < kr_value_len(ips); i++) {
        const kr_value_t *s = kr_value_array_get(ips, i);
        if (kr_value_type(s) == KR_MAP &&
            (kr_value_len(s) > 1 || (kr_value_len(s) == 1 && kr_value_map_get(s, "name") == NULL)))
            kr_field_invalid(v, kr_fpi(v, kr_fp(v, path, "imagePullSecrets"), i), s,
                             "only name may be set");
    }
    validate_affinity(v, kr_map_at(spec, "affinity"), kr_fp(v, path, "affinity"));
    validate_dns_config(v, spec, path);
    const kr_value_t *rgs = kr_array_at(spec, "readinessGates");
    for (size_t i = 0; i < kr_value_len(rgs); i++)
        kr_validate_qualified_name(
            v, kr_str_or_empty(kr_value_array_get(rgs, i), "conditionType"),
            kr_fp(v, kr_fpi(v, kr_fp(v, path, "readinessGates"), i), "conditionType"));
    const kr_value_t *sgs = kr_array_at(spec, "schedulingGates");
    kr_value_t *seen = kr_value_map(v->arena);
    for (size_t i = 0; i < kr_value_len(sgs); i++) {
        const char *name = kr_str_or_empty(kr_value_array_get(sgs, i), "name");
        const char *gp = kr_fpi(v, kr_fp(v, path, "schedulingGates"), i);
        kr_validate_qualified_name(v, name, gp);
        if (kr_value_map_get(seen, name) != NULL)
            kr_field_error(v, KR_FIELD_DUPLICATE, gp, kr_value_str(v->arena, name), NULL);
        kr_value_map_set(v->arena, seen, name, kr_value_bool(v->arena, true));
    }
    validate_spread(v, kr_array_at(spec, "topologySpreadConstraints"),
                    kr_fp(v, path, "topologySpreadConstraints"));
    if (!host_users) {
        if (kr_value_as_bool(kr_value_map_get(spec, "hostNetwork"), false))
            kr_field_forbidden(v, kr_fp(v, path, "hostNetwork"),
                               "when `pod.Spec.HostUsers` is false");
        if (kr_value_as_bool(kr_value_map_get(spec, "hostPID"), false))
            kr_field_forbidden(v, kr_fp(v, path, "HostPID"), "when `pod.Spec.HostUsers` is false");
        if (kr_value_as_bool(kr_value_map_get(spec, "hostIPC"), false))
            kr_field_forbidden(v, kr_fp(v, path, "HostIPC"), "when `pod.Spec.HostUsers` is false");
    }
    const char *san = kr_str_or_empty(spec, "serviceAccountName");
    if (*san)
        kr_validate_dns1123_subdomain(v, san, kr_fp(v, path, "serviceAccountName"));
    const char *node = kr_str_or_empty(spec, "nodeName");
    if (*node)
        kr_validate_dns1123_subdomain(v, node, kr_fp(v, path, "nodeName"));
    const kr_value_t *ads = kr_value_map_get(spec, "activeDeadlineSeconds");
    if (kr_value_type(ads) == KR_INT &&
        (kr_value_as_int(ads, 0) < 1 || kr_value_as_int(ads, 0) > INT32_MAX))
        kr_field_invalid(v, kr_fp(v, path, "activeDeadlineSeconds"), ads,
                         "must be between 1 and 2147483647, inclusive");
    static const char *const dns_labels[] = {"hostname", "subdomain"};
    for (size_t i = 0; i < 2; i++) {
        const char *s = kr_str_or_empty(spec, dns_labels[i]);
        if (*s)
            kr_validate_dns1123_label(v, s, kr_fp(v, path, dns_labels[i]));
    }
    validate_tolerations(v, kr_array_at(spec, "tolerations"), kr_fp(v, path, "tolerations"));
    const kr_value_t *has = kr_array_at(spec, "hostAliases");
    for (size_t i = 0; i < kr_value_len(has); i++) {
        const kr_value_t *ha = kr_value_array_get(has, i);
        const char *hp = kr_fpi(v, kr_fp(v, path, "hostAliases"), i);
        kr_validate_ip(v, kr_str_or_empty(ha, "ip"), kr_fp(v, hp, "ip"));
        const kr_value_t *hns = kr_array_at(ha, "hostnames");
        for (size_t j = 0; j < kr_value_len(hns); j++)
            kr_validate_dns1123_subdomain(v, kr_as_str(kr_value_array_get(hns, j)),
                                          kr_fpi(v, kr_fp(v, hp, "hostnames"), j));
    }
    const char *pcn = kr_str_or_empty(spec, "priorityClassName");
    if (*pcn)
        kr_validate_dns1123_subdomain(v, pcn, kr_fp(v, path, "priorityClassName"));
    const char *rcn = kr_value_map_str(spec, "runtimeClassName");
    if (rcn != NULL)
        kr_validate_dns1123_subdomain(v, rcn, kr_fp(v, path, "runtimeClassName"));
    const char *pp = kr_value_map_str(spec, "preemptionPolicy");
    static const char *const pps[] = {"PreemptLowerPriority", "Never", NULL};
    if (pp != NULL && *pp == '\0')
        kr_field_required(v, kr_fp(v, path, "preemptionPolicy"), NULL);
    else if (pp != NULL && !kr_str_in(pp, pps))
        kr_field_not_supported_str(v, kr_fp(v, path, "preemptionPolicy"), pp, pps);
    const kr_value_t *overhead = kr_map_at(spec, "overhead");
    if (overhead != NULL) {
        kr_value_t *res = kr_value_map(v->arena);
        kr_value_map_set(v->arena, res, "limits", (kr_value_t *)overhead);
        kr_validate_resources(v, res, kr_fp(v, path, "overhead"));
    }
    const kr_value_t *os = kr_map_at(spec, "os");
    if (os != NULL) {
        static const char *const oss[] = {"linux", "windows", NULL};
        const char *name = kr_str_or_empty(os, "name");
        if (*name == '\0')
            kr_field_required(v, kr_fp(v, kr_fp(v, path, "os"), "name"), NULL);
        else if (!kr_str_in(name, oss))
            kr_field_not_supported_str(v, kr_fp(v, kr_fp(v, path, "os"), "name"), name, oss);
        else if (strcmp(name, "linux") == 0) {
            if (kr_value_get(spec, "securityContext.windowsOptions") != NULL)
                kr_field_forbidden(v, kr_fp(v, path, "securityContext.windowsOptions"),
                                   "windows options cannot be set for a linux pod");
            static const char *const lists[] = {"containers", "initContainers"};
            for (size_t l = 0; l < 2; l++) {
                const kr_value_t *cs = kr_array_at(spec, lists[l]);
                for (size_t i = 0; i < kr_value_len(cs); i++)
                    if (kr_value_get(kr_value_array_get(cs, i), "securityContext.windowsOptions"))
                        kr_field_forbidden(v,
                                           kr_fp(v, kr_fpi(v, kr_fp(v, path, lists[l]), i),
                                                 "securityContext.windowsOptions"),
                                           "windows options cannot be set for a linux pod");
            }
        }
    }
    if (opts->is_pod) {
        /* validateContainersOnlyForPod */
        static const char *const lists[] = {"containers", "initContainers"};
        for (size_t l = 0; l < 2; l++) {
            const kr_value_t *cs = kr_array_at(spec, lists[l]);
            for (size_t i = 0; i < kr_value_len(cs); i++) {
                const char *img = kr_str_or_empty(kr_value_array_get(cs, i), "image");
                size_t n = strlen(img);
                if (n > 0 && (img[0] == ' ' || img[0] == '\t' || img[n - 1] == ' ' ||
                              img[n - 1] == '\t' || img[n - 1] == '\n' || img[0] == '\n'))
                    kr_field_invalid_str(v,
                                         kr_fp(v, kr_fpi(v, kr_fp(v, path, lists[l]), i), "image"),
                                         img, "must not have leading or trailing whitespace");
            }
        }
    }
}

void kr_validate_pod_template(kr_validation_t *v, const kr_value_t *tmpl, const char *path,
                              const kr_pod_opts_t *opts)
{
    const kr_value_t *meta = kr_map_at(tmpl, "metadata");
    kr_validate_labels(v, kr_value_map_get(meta, "labels"), kr_fp(v, path, "labels"));
    kr_validate_annotations(v, kr_value_map_get(meta, "annotations"),
                            kr_fp(v, path, "annotations"));
    const kr_value_t *spec = kr_map_at(tmpl, "spec");
    kr_validate_pod_spec(v, spec, NULL, kr_fp(v, path, "spec"), opts);
    if (kr_value_len(kr_array_at(spec, "ephemeralContainers")) > 0)
        kr_field_forbidden(v, kr_fp(v, path, "spec.ephemeralContainers"),
                           "ephemeral containers not allowed in pod template");
}

/* ---- QoS ------------------------------------------------------------------------ */

/* qos.ComputePodQOS over cpu and memory of every container (milli units,
 * saturating). */
const char *kr_pod_qos_class(const kr_value_t *spec)
{
    static const char *const res[] = {"cpu", "memory"};
    int64_t req[2] = {0, 0}, lim[2] = {0, 0};
    bool has_req[2] = {false, false}, has_lim[2] = {false, false};
    bool guaranteed = true;
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        const kr_value_t *cs = kr_array_at(spec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *r = kr_map_at(kr_value_array_get(cs, i), "resources");
            bool found[2] = {false, false};
            for (size_t k = 0; k < 2; k++) {
                kr_quantity_t q;
                kr_error_t err;
                const kr_value_t *rv = kr_value_get(kr_map_at(r, "requests"), res[k]);
                if (rv != NULL && kr_value_quantity(rv, &q, &err) && q.unscaled > 0) {
                    int64_t m = kr_quantity_milli(&q);
                    req[k] = req[k] > INT64_MAX - m ? INT64_MAX : req[k] + m;
                    has_req[k] = true;
                }
                const kr_value_t *lv = kr_value_get(kr_map_at(r, "limits"), res[k]);
                if (lv != NULL && kr_value_quantity(lv, &q, &err) && q.unscaled > 0) {
                    int64_t m = kr_quantity_milli(&q);
                    lim[k] = lim[k] > INT64_MAX - m ? INT64_MAX : lim[k] + m;
                    has_lim[k] = true;
                    found[k] = true;
                }
            }
            if (!found[0] || !found[1])
                guaranteed = false;
        }
    }
    if (!has_req[0] && !has_req[1] && !has_lim[0] && !has_lim[1])
        return "BestEffort";
    for (size_t k = 0; k < 2 && guaranteed; k++)
        if (has_req[k] && (!has_lim[k] || lim[k] != req[k]))
            guaranteed = false;
    if (guaranteed && has_req[0] == has_lim[0] && has_req[1] == has_lim[1])
        return "Guaranteed";
    return "Burstable";
}

/* ---- the Pod kind ------------------------------------------------------------- */

static void pod_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_pod_spec_defaults(a, kr_ensure_map(a, obj, "spec"), true);
}

static void pod_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    const kr_value_t *spec = kr_map_at(obj, "spec");
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(a, st, "phase", kr_value_str(a, "Pending"));
    kr_value_map_set(a, st, "qosClass", kr_value_str(a, kr_pod_qos_class(spec)));
    if (kr_value_len(kr_array_at(spec, "schedulingGates")) > 0) {
        /* applySchedulingGatedCondition */
        kr_value_t *conds = kr_value_array(a);
        kr_value_t *c = kr_value_map(a);
        kr_value_map_set(a, c, "type", kr_value_str(a, "PodScheduled"));
        kr_value_map_set(a, c, "status", kr_value_str(a, "False"));
        kr_value_map_set(a, c, "lastProbeTime", kr_value_null(a));
        kr_value_map_set(a, c, "lastTransitionTime", kr_value_null(a));
        kr_value_map_set(a, c, "reason", kr_value_str(a, "SchedulingGated"));
        kr_value_map_set(
            a, c, "message",
            kr_value_str(a, "Scheduling is blocked due to non-empty scheduling gates"));
        kr_value_array_push(a, conds, c);
        kr_value_map_set(a, st, "conditions", conds);
    }
    kr_value_map_set(a, obj, "status", st);
}

static void pod_meta_and_spec(kr_validation_t *v, const kr_value_t *obj)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    const kr_value_t *spec = kr_map_at(obj, "spec");
    kr_validate_object_meta(v, meta, NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *ann = kr_map_at(meta, "annotations");
    const char *mirror = kr_value_map_str(ann, "kubernetes.io/config.mirror");
    if (mirror != NULL && *kr_str_or_empty(spec, "nodeName") == '\0')
        kr_field_invalid_str(v, "metadata.annotations[kubernetes.io/config.mirror]", mirror,
                             "must set spec.nodeName if mirror pod annotation is set");
    const char *cost = kr_value_map_str(ann, "controller.kubernetes.io/pod-deletion-cost");
    if (cost != NULL) {
        char *end;
        long long c = strtoll(cost, &end, 10);
        if (*cost == '\0' || *end != '\0' || c < INT32_MIN || c > INT32_MAX)
            kr_field_invalid_str(v,
                                 "metadata.annotations[controller.kubernetes.io/pod-deletion-cost]",
                                 cost, "must be a 32bit integer");
    }
    kr_pod_opts_t opts = {.is_pod = true};
    kr_validate_pod_spec(v, spec, meta, "spec", &opts);
    if (*kr_str_or_empty(spec, "serviceAccountName") == '\0') {
        const kr_value_t *vols = kr_array_at(spec, "volumes");
        for (size_t i = 0; i < kr_value_len(vols); i++) {
            const kr_value_t *srcs =
                kr_array_at(kr_map_at(kr_value_array_get(vols, i), "projected"), "sources");
            for (size_t j = 0; j < kr_value_len(srcs); j++)
                if (kr_map_at(kr_value_array_get(srcs, j), "serviceAccountToken"))
                    kr_field_forbidden(
                        v,
                        kr_arena_printf(
                            v->arena,
                            "spec.volumes[%zu].projected.sources[%zu].serviceAccountToken", i, j),
                        "must not be specified when serviceAccountName is not set");
        }
    }
}

static const char *const pod_updatable =
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
    "to 1 if it was previously negative)";

/* A short diff of two specs: the top-level fields that differ. */
static void spec_diff(kr_buf_t *out, const kr_value_t *old, const kr_value_t *nw)
{
    kr_buf_puts(out, "  core.PodSpec{\n");
    for (size_t pass = 0; pass < 2; pass++) {
        const kr_value_t *from = pass == 0 ? old : nw, *other = pass == 0 ? nw : old;
        for (size_t i = 0; i < kr_value_len(from); i++) {
            const char *k = kr_value_map_key(from, i);
            const kr_value_t *o = kr_value_map_get(other, k);
            if (pass == 1 && o != NULL)
                continue; /* already printed */
            if (o != NULL && kr_value_equal(o, kr_value_map_val(from, i)))
                continue;
            const kr_value_t *ov = pass == 0 ? kr_value_map_val(from, i) : NULL;
            const kr_value_t *nv = pass == 0 ? o : kr_value_map_val(from, i);
            if (ov != NULL) {
                kr_buf_printf(out, "- \t%s: ", k);
                kr_json_encode(ov, out, KR_JSON_COMPACT, NULL);
                kr_buf_puts(out, ",\n");
            }
            if (nv != NULL) {
                kr_buf_printf(out, "+ \t%s: ", k);
                kr_json_encode(nv, out, KR_JSON_COMPACT, NULL);
                kr_buf_puts(out, ",\n");
            }
        }
    }
    kr_buf_puts(out, "  }\n");
}

static bool toleration_equal_but_seconds(const kr_value_t *a, const kr_value_t *b)
{
    static const char *const keys[] = {"key", "operator", "value", "effect"};
    for (size_t i = 0; i < 4; i++) {
        const char *x = kr_str_or_empty(a, keys[i]), *y = kr_str_or_empty(b, keys[i]);
        /* an empty operator means Equal */
        if (i == 1) {
            x = *x ? x : "Equal";
            y = *y ? y : "Equal";
        }
        if (strcmp(x, y) != 0)
            return false;
    }
    return true;
}

static void container_updates(kr_validation_t *v, const kr_value_t *nc, const kr_value_t *oc,
                              const char *path, bool *stop)
{
    if (kr_value_len(nc) != kr_value_len(oc)) {
        kr_field_forbidden(v, path, "pod updates may not add or remove containers");
        *stop = true;
        return;
    }
    for (size_t i = 0; i < kr_value_len(nc); i++) {
        const char *img = kr_str_or_empty(kr_value_array_get(nc, i), "image");
        const char *ip = kr_fp(v, kr_fpi(v, path, i), "image");
        size_t n = strlen(img);
        if (n == 0)
            kr_field_required(v, ip, NULL);
        else if (img[0] == ' ' || img[n - 1] == ' ' || img[0] == '\t' || img[n - 1] == '\t')
            kr_field_invalid_str(v, ip, img, "must not have leading or trailing whitespace");
    }
}

static void pod_validate_update(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata"), *ometa = kr_map_at(old, "metadata");
    kr_validate_object_meta(v, meta, ometa, true, KR_NAME_DNS1123_SUBDOMAIN);
    pod_meta_and_spec(v, obj);
    const char *om =
        kr_value_map_str(kr_map_at(ometa, "annotations"), "kubernetes.io/config.mirror");
    const char *nm =
        kr_value_map_str(kr_map_at(meta, "annotations"), "kubernetes.io/config.mirror");
    if (om != NULL && (nm == NULL || strcmp(om, nm) != 0))
        kr_field_forbidden(v, "metadata.annotations[kubernetes.io/config.mirror]",
                           "may not remove or update mirror pod annotation");
    if (om == NULL && nm != NULL)
        kr_field_forbidden(v, "metadata.annotations[kubernetes.io/config.mirror]",
                           "may not add mirror pod annotation");
    const kr_value_t *spec = kr_map_at(obj, "spec"), *ospec = kr_map_at(old, "spec");
    bool stop = false;
    container_updates(v, kr_array_at(spec, "containers"), kr_array_at(ospec, "containers"),
                      "spec.containers", &stop);
    if (stop)
        return;
    container_updates(v, kr_array_at(spec, "initContainers"), kr_array_at(ospec, "initContainers"),
                      "spec.initContainers", &stop);
    if (stop)
        return;
    const kr_value_t *nads = kr_value_map_get(spec, "activeDeadlineSeconds");
    const kr_value_t *oads = kr_value_map_get(ospec, "activeDeadlineSeconds");
    if (kr_value_type(nads) == KR_INT) {
        int64_t n = kr_value_as_int(nads, 0);
        if (n < 0 || n > INT32_MAX) {
            kr_field_invalid(v, "spec.activeDeadlineSeconds", nads,
                             "must be between 0 and 2147483647, inclusive");
            return;
        }
        if (kr_value_type(oads) == KR_INT && kr_value_as_int(oads, 0) < n) {
            kr_field_invalid(v, "spec.activeDeadlineSeconds", nads,
                             "must be less than or equal to previous value");
            return;
        }
    } else if (kr_value_type(oads) != KR_NULL) {
        kr_field_invalid(v, "spec.activeDeadlineSeconds", NULL,
                         "must not update from a positive integer to nil value");
    }
    /* only additions to tolerations (tolerationSeconds may change) */
    const kr_value_t *ntol = kr_array_at(spec, "tolerations");
    const kr_value_t *otol = kr_array_at(ospec, "tolerations");
    for (size_t i = 0; i < kr_value_len(otol); i++) {
        bool found = false;
        for (size_t j = 0; j < kr_value_len(ntol) && !found; j++)
            found = toleration_equal_but_seconds(kr_value_array_get(otol, i),
                                                 kr_value_array_get(ntol, j));
        if (!found) {
            kr_field_forbidden(v, "spec.tolerations",
                               "existing toleration can not be modified except its "
                               "tolerationSeconds");
            break;
        }
    }
    /* only deletions of scheduling gates */
    const kr_value_t *ngates = kr_array_at(spec, "schedulingGates");
    const kr_value_t *ogates = kr_array_at(ospec, "schedulingGates");
    for (size_t i = 0; i < kr_value_len(ngates); i++) {
        const char *g = kr_str_or_empty(kr_value_array_get(ngates, i), "name");
        bool found = false;
        for (size_t j = 0; j < kr_value_len(ogates) && !found; j++)
            found = strcmp(g, kr_str_or_empty(kr_value_array_get(ogates, j), "name")) == 0;
        if (!found)
            kr_field_error(v, KR_FIELD_FORBIDDEN,
                           kr_fp(v, kr_fpi(v, "spec.schedulingGates", i), "name"), NULL,
                           "only deletion is allowed, but found new scheduling gate '%s'", g);
    }
    if (kr_value_equal(spec, ospec))
        return;
    /* munge what may change, then the rest must be equal */
    kr_value_t *m = kr_value_copy(v->arena, spec);
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        kr_value_t *cs = kr_array_at(m, lists[l]);
        const kr_value_t *ocs = kr_array_at(ospec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *oi = kr_value_map_get(kr_value_array_get(ocs, i), "image");
            if (kr_value_type(kr_value_array_get(cs, i)) == KR_MAP) {
                if (oi != NULL)
                    kr_value_map_set(v->arena, kr_value_array_get(cs, i), "image",
                                     kr_value_copy(v->arena, oi));
                else
                    kr_value_map_del(kr_value_array_get(cs, i), "image");
            }
        }
    }
    static const char *const keep[] = {"activeDeadlineSeconds", "schedulingGates", "tolerations"};
    for (size_t k = 0; k < 3; k++) {
        const kr_value_t *o = kr_value_map_get(ospec, keep[k]);
        if (o != NULL)
            kr_value_map_set(v->arena, m, keep[k], kr_value_copy(v->arena, o));
        else
            kr_value_map_del(m, keep[k]);
    }
    int64_t og, ng;
    if (kr_int_at(ospec, "terminationGracePeriodSeconds", &og) && og < 0 &&
        kr_int_at(m, "terminationGracePeriodSeconds", &ng) && ng == 1)
        kr_value_map_set(v->arena, m, "terminationGracePeriodSeconds", kr_value_int(v->arena, og));
    /* gated pods may add to nodeSelector */
    if (kr_value_len(ogates) > 0) {
        const kr_value_t *ons = kr_map_at(ospec, "nodeSelector");
        const kr_value_t *nns = kr_map_at(m, "nodeSelector");
        if (!kr_value_equal(ons, nns)) {
            bool ok = true;
            for (size_t i = 0; i < kr_value_len(ons) && ok; i++) {
                const kr_value_t *nv = kr_value_map_get(nns, kr_value_map_key(ons, i));
                ok = nv != NULL && kr_value_equal(nv, kr_value_map_val(ons, i));
            }
            if (!ok)
                kr_field_invalid(v, "spec.nodeSelector", nns,
                                 "only additions to spec.nodeSelector are allowed (no mutations or "
                                 "deletions)");
            if (ons != NULL)
                kr_value_map_set(v->arena, m, "nodeSelector", kr_value_copy(v->arena, ons));
            else
                kr_value_map_del(m, "nodeSelector");
        }
    }
    if (!kr_value_equal(m, ospec)) {
        kr_buf_t msg = KR_BUF_INIT;
        kr_buf_printf(&msg, "%s\n", pod_updatable);
        spec_diff(&msg, ospec, m);
        kr_field_forbidden(v, "spec", msg.data);
        kr_buf_free(&msg);
    }
}

static void pod_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    if (old != NULL) {
        pod_validate_update(v, obj, old);
        return;
    }
    pod_meta_and_spec(v, obj);
    const kr_value_t *spec = kr_map_at(obj, "spec");
    if (kr_value_len(kr_array_at(spec, "ephemeralContainers")) > 0)
        kr_field_forbidden(v, "spec.ephemeralContainers", "cannot be set on create");
    if (*kr_str_or_empty(spec, "nodeName") &&
        kr_value_len(kr_array_at(spec, "schedulingGates")) > 0)
        kr_field_forbidden(v, "spec.nodeName",
                           "cannot be set until all schedulingGates have been cleared");
}

/* ValidateContainerStateTransition */
static void state_transitions(kr_validation_t *v, const kr_value_t *nst, const kr_value_t *ost,
                              const char *restart, const kr_value_t *init_specs, const char *path)
{
    if (strcmp(restart, "Always") == 0)
        return;
    for (size_t i = 0; i < kr_value_len(ost); i++) {
        const kr_value_t *o = kr_value_array_get(ost, i);
        const kr_value_t *term = kr_value_get(o, "state.terminated");
        if (term == NULL)
            continue;
        if (kr_value_map_int(term, "exitCode", 0) != 0 && strcmp(restart, "OnFailure") == 0)
            continue;
        const char *name = kr_str_or_empty(o, "name");
        bool sidecar = false;
        for (size_t j = 0; j < kr_value_len(init_specs) && !sidecar; j++) {
            const kr_value_t *c = kr_value_array_get(init_specs, j);
            sidecar = strcmp(kr_str_or_empty(c, "name"), name) == 0 &&
                      strcmp(kr_str_or_empty(c, "restartPolicy"), "Always") == 0;
        }
        if (sidecar)
            continue;
        for (size_t j = 0; j < kr_value_len(nst); j++) {
            const kr_value_t *n = kr_value_array_get(nst, j);
            if (strcmp(kr_str_or_empty(n, "name"), name) == 0 &&
                kr_value_get(n, "state.terminated") == NULL)
                kr_field_forbidden(v, kr_fp(v, kr_fpi(v, path, i), "state"),
                                   "may not be transitioned to non-terminated state");
        }
    }
}

static void ip_list(kr_validation_t *v, const kr_value_t *list, const char *path)
{
    for (size_t i = 0; i < kr_value_len(list); i++)
        kr_validate_ip(v, kr_str_or_empty(kr_value_array_get(list, i), "ip"),
                       kr_fp(v, kr_fpi(v, path, i), "ip"));
    if (kr_value_len(list) > 1) {
        bool v4 = false, v6 = false, dual = kr_value_len(list) == 2;
        for (size_t i = 0; i < kr_value_len(list); i++) {
            const char *ip = kr_str_or_empty(kr_value_array_get(list, i), "ip");
            if (kr_is_ipv6(ip))
                v6 = true;
            else
                v4 = true;
            for (size_t j = 0; j < i; j++)
                if (strcmp(ip, kr_str_or_empty(kr_value_array_get(list, j), "ip")) == 0)
                    kr_field_duplicate(v, kr_fpi(v, path, i), kr_value_array_get(list, i));
        }
        if (!dual || !v4 || !v6)
            kr_field_invalid(v, path, list, "may specify no more than one IP for each IP family");
    }
}

static void pod_validate_status(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    kr_validate_object_meta(v, meta, kr_map_at(old, "metadata"), true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *st = kr_map_at(obj, "status"), *ost = kr_map_at(old, "status");
    const kr_value_t *conds = kr_array_at(st, "conditions");
    static const char *const system_conds[] = {"PodScheduled", "Ready", "Initialized", NULL};
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const char *t = kr_str_or_empty(kr_value_array_get(conds, i), "type");
        if (!kr_str_in(t, system_conds))
            kr_validate_qualified_name(
                v, t, kr_arena_printf(v->arena, "metadata.conditions[%zu].Type", i));
    }
    if (strcmp(kr_str_or_empty(kr_map_at(obj, "spec"), "nodeName"),
               kr_str_or_empty(kr_map_at(old, "spec"), "nodeName")) != 0)
        kr_field_forbidden(v, "status.nodeName", "may not be changed directly");
    const char *nnn = kr_str_or_empty(st, "nominatedNodeName");
    if (*nnn && strcmp(nnn, kr_str_or_empty(ost, "nominatedNodeName")) != 0)
        kr_validate_dns1123_subdomain(v, nnn, "status.nominatedNodeName");
    /* an empty qosClass is backfilled from the stored one upstream */
    const char *q = kr_str_or_empty(st, "qosClass");
    if (*q && strcmp(q, kr_str_or_empty(ost, "qosClass")) != 0)
        kr_field_invalid_str(v, "status.qosClass", q, KR_MSG_IMMUTABLE);
    const kr_value_t *ospec = kr_map_at(old, "spec");
    const char *restart = kr_str_or_empty(ospec, "restartPolicy");
    state_transitions(v, kr_array_at(st, "containerStatuses"),
                      kr_array_at(ost, "containerStatuses"), restart, NULL,
                      "status.containerStatuses");
    state_transitions(v, kr_array_at(st, "initContainerStatuses"),
                      kr_array_at(ost, "initContainerStatuses"), restart,
                      kr_array_at(ospec, "initContainers"), "status.initContainerStatuses");
    state_transitions(v, kr_array_at(st, "ephemeralContainerStatuses"),
                      kr_array_at(ost, "ephemeralContainerStatuses"), "Never", NULL,
                      "status.ephemeralContainerStatuses");
    ip_list(v, kr_array_at(st, "podIPs"), "status.podIPs");
    const kr_value_t *hips = kr_array_at(st, "hostIPs");
    if (kr_value_len(hips) > 0) {
        const char *h0 = kr_str_or_empty(kr_value_array_get(hips, 0), "ip");
        if (strcmp(kr_str_or_empty(st, "hostIP"), h0) != 0)
            kr_field_invalid_str(v, "status.hostIPs[0].ip", h0, "must be equal to `hostIP`");
        ip_list(v, hips, "status.hostIPs");
    }
}

const kr_kind_hooks_t kr_hooks_pod = {
    .defaults = pod_defaults,
    .prepare_create = pod_prepare_create,
    .prepare_update = NULL, /* status and generation: the API layer */
    .validate = pod_validate,
    .validate_status = pod_validate_status,
};
