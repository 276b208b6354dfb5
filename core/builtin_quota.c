/* v1 LimitRange and ResourceQuota: defaults (SetDefaults_LimitRangeItem,
 * SetDefaults_ResourceList), the quota's strategy (status cleared on
 * create, spec and status written apart) and validation
 * (pkg/apis/core/validation: ValidateLimitRange, ValidateResourceQuota,
 * ValidateResourceQuotaUpdate, ValidateResourceQuotaStatusUpdate).  What
 * they enforce on pods and other objects is admission: core/quota.c. */
#include <stdio.h>
#include <string.h>

#include "builtin_internal.h"

/* ---- LimitRange ----------------------------------------------------------------- */

static const char *const limit_lists[] = {
    "max", "min", "default", "defaultRequest", "maxLimitRequestRatio", NULL};

/* Copies each entry of `from` that `to` lacks (ResourceList defaulting
 * from another list). */
static void fill_missing(kr_arena_t *a, kr_value_t *to, const kr_value_t *from)
{
    for (size_t i = 0; i < kr_value_len(from); i++) {
        const char *k = kr_value_map_key(from, i);
        if (kr_value_map_get(to, k) == NULL)
            kr_value_map_set(a, to, k, kr_value_copy(a, kr_value_map_val(from, i)));
    }
}

/* SetDefaults_LimitRangeItem: a Container limit's default limit falls back
 * to max, its default request to the default limit, then to min. */
static void limitrange_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *limits = kr_array_at(kr_map_at(obj, "spec"), "limits");
    for (size_t i = 0; i < kr_value_len(limits); i++) {
        kr_value_t *item = kr_value_array_get(limits, i);
        if (kr_value_type(item) != KR_MAP)
            continue;
        if (strcmp(kr_str_or_empty(item, "type"), "Container") == 0) {
            kr_value_t *def = kr_ensure_map(a, item, "default");
            kr_value_t *req = kr_ensure_map(a, item, "defaultRequest");
            if (def != NULL && req != NULL) {
                fill_missing(a, def, kr_map_at(item, "max"));
                fill_missing(a, req, def);
                fill_missing(a, req, kr_map_at(item, "min"));
            }
        }
        for (size_t l = 0; limit_lists[l] != NULL; l++)
            kr_resource_list_defaults(a, kr_map_at(item, limit_lists[l]));
    }
}

/* The quantity at key of `list` (parsed), or false when absent or not a
 * quantity (reported where the list is walked). */
static bool qty_of(const kr_value_t *list, const char *key, kr_quantity_t *q)
{
    const kr_value_t *val = kr_value_map_get(list, key);
    kr_error_t err;
    return val != NULL && kr_value_quantity(val, q, &err);
}

static const char *qstr(kr_validation_t *v, const kr_quantity_t *q)
{
    char buf[64];
    kr_quantity_format(q, buf, sizeof buf);
    return kr_arena_strdup(v->arena, buf);
}

/* field.Invalid with a Quantity's value (printed unquoted, as String()). */
static void invalid_qty(kr_validation_t *v, const char *path, const kr_quantity_t *q,
                        const char *detail)
{
    kr_field_error_raw(v, KR_FIELD_INVALID, path, qstr(v, q), detail);
}

/* validateLimitRangeTypeName */
static void limit_type_name(kr_validation_t *v, const char *type, const char *path)
{
    static const char *const standard[] = {"Pod", "Container", "PersistentVolumeClaim", NULL};
    if (kr_validate_rule(v, kr_qualified_name_errors, type, path) > 0)
        return;
    if (strchr(type, '/') == NULL && !kr_str_in(type, standard))
        kr_field_invalid_str(v, path, type, "must be a standard limit type or fully qualified");
}

/* validateLimitRangeResourceName, and the quantity parses */
static void limit_list(kr_validation_t *v, const kr_value_t *list, const char *type,
                       const char *path, kr_value_t *keys)
{
    bool container = strcmp(type, "Pod") == 0 || strcmp(type, "Container") == 0;
    for (size_t i = 0; i < kr_value_len(list); i++) {
        const char *k = kr_value_map_key(list, i);
        const char *kp = kr_fpk(v, path, k);
        if (container)
            kr_validate_container_resource_name(v, k, kp);
        else
            kr_validate_resource_name(v, k, kp);
        kr_quantity_t q;
        kr_error_t err;
        if (!kr_value_quantity(kr_value_map_val(list, i), &q, &err))
            kr_field_invalid(v, kp, kr_value_map_val(list, i), err.message);
        kr_value_map_set(v->arena, keys, k, kr_value_bool(v->arena, true));
    }
}

/* The checks between one resource's min, max, defaults and ratio. */
static void limit_key(kr_validation_t *v, const kr_value_t *item, const char *k, const char *ip)
{
    kr_quantity_t min, max, def, dreq, ratio;
    const kr_value_t *maxl = kr_map_at(item, "max"), *minl = kr_map_at(item, "min");
    bool has_min = qty_of(minl, k, &min), has_max = qty_of(maxl, k, &max);
    bool pod = strcmp(kr_str_or_empty(item, "type"), "Pod") == 0;
    bool has_def = !pod && qty_of(kr_map_at(item, "default"), k, &def);
    bool has_dreq = !pod && qty_of(kr_map_at(item, "defaultRequest"), k, &dreq);
    bool has_ratio = qty_of(kr_map_at(item, "maxLimitRequestRatio"), k, &ratio);
    kr_arena_t *a = v->arena;
    const char *dreq_path = kr_fpk(v, kr_fp(v, ip, "defaultRequest"), k);
    const char *def_path = kr_fpk(v, kr_fp(v, ip, "default"), k);
    const char *ratio_path = kr_fpk(v, kr_fp(v, ip, "maxLimitRequestRatio"), k);
    if (has_min && has_max && kr_quantity_cmp(&min, &max) > 0)
        invalid_qty(v, kr_fpk(v, kr_fp(v, ip, "min"), k), &min,
                    kr_arena_printf(a, "min value %s is greater than max value %s", qstr(v, &min),
                                    qstr(v, &max)));
    if (has_dreq && has_min && kr_quantity_cmp(&min, &dreq) > 0)
        invalid_qty(v, dreq_path, &dreq,
                    kr_arena_printf(a, "min value %s is greater than default request value %s",
                                    qstr(v, &min), qstr(v, &dreq)));
    if (has_dreq && has_max && kr_quantity_cmp(&dreq, &max) > 0)
        invalid_qty(v, dreq_path, &dreq,
                    kr_arena_printf(a, "default request value %s is greater than max value %s",
                                    qstr(v, &dreq), qstr(v, &max)));
    if (has_dreq && has_def && kr_quantity_cmp(&dreq, &def) > 0)
        invalid_qty(v, dreq_path, &dreq,
                    kr_arena_printf(a,
                                    "default request value %s is greater than default limit "
                                    "value %s",
                                    qstr(v, &dreq), qstr(v, &def)));
    if (has_def && has_min && kr_quantity_cmp(&min, &def) > 0)
        invalid_qty(v, def_path, &min,
                    kr_arena_printf(a, "min value %s is greater than default value %s",
                                    qstr(v, &min), qstr(v, &def)));
    if (has_def && has_max && kr_quantity_cmp(&def, &max) > 0)
        invalid_qty(v, def_path, &max,
                    kr_arena_printf(a, "default value %s is greater than max value %s",
                                    qstr(v, &def), qstr(v, &max)));
    kr_quantity_t one = {.unscaled = 1, .scale = 0, .format = KR_QFMT_DECIMAL_SI};
    if (has_ratio && kr_quantity_cmp(&ratio, &one) < 0)
        invalid_qty(v, ratio_path, &ratio,
                    kr_arena_printf(a, "ratio %s is less than 1", qstr(v, &ratio)));
    if (has_ratio && has_min && has_max) {
        /* at milli precision when nothing overflows, as upstream */
        double rv = (double)kr_quantity_value(&ratio);
        int64_t minv = kr_quantity_value(&min), maxv = kr_quantity_value(&max);
        const int64_t max_milli = INT64_MAX / 1000;
        if (kr_quantity_value(&ratio) < max_milli && minv < max_milli && maxv < max_milli) {
            rv = (double)kr_quantity_milli(&ratio) / 1000;
            minv = kr_quantity_milli(&min);
            maxv = kr_quantity_milli(&max);
        }
        double limit = (double)maxv / (double)minv;
        if (rv > limit)
            invalid_qty(v, ratio_path, &ratio,
                        kr_arena_printf(a, "ratio %s is greater than max/min = %f", qstr(v, &ratio),
                                        limit));
    }
    /* hugepages and extended resources cannot overcommit */
    bool overcommit = strncmp(k, "hugepages-", 10) != 0 &&
                      (strchr(k, '/') == NULL || strstr(k, "kubernetes.io/") != NULL);
    if (!overcommit && has_def && has_dreq && kr_quantity_cmp(&def, &dreq) != 0)
        invalid_qty(v, dreq_path, &dreq,
                    kr_arena_printf(a,
                                    "default value %s must equal to defaultRequest value %s in %s",
                                    qstr(v, &def), qstr(v, &dreq), k));
}

/* ValidateLimitRange (the update runs it too, after the metadata's). */
static void limitrange_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta_again(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *limits = kr_array_at(kr_map_at(obj, "spec"), "limits");
    kr_value_t *types = kr_value_map(v->arena);
    for (size_t i = 0; i < kr_value_len(limits); i++) {
        const kr_value_t *item = kr_value_array_get(limits, i);
        const char *ip = kr_fpi(v, "spec.limits", i);
        const char *type = kr_str_or_empty(item, "type");
        const char *tp = kr_fp(v, ip, "type");
        limit_type_name(v, type, tp);
        if (kr_value_map_get(types, type) != NULL)
            kr_field_duplicate(v, tp, kr_value_str(v->arena, type));
        kr_value_map_set(v->arena, types, type, kr_value_bool(v->arena, true));

        kr_value_t *keys = kr_value_map(v->arena);
        limit_list(v, kr_map_at(item, "max"), type, kr_fp(v, ip, "max"), keys);
        limit_list(v, kr_map_at(item, "min"), type, kr_fp(v, ip, "min"), keys);
        if (strcmp(type, "Pod") == 0) {
            if (kr_value_len(kr_map_at(item, "default")) > 0)
                kr_field_forbidden(v, kr_fp(v, ip, "default"),
                                   "may not be specified when `type` is 'Pod'");
            if (kr_value_len(kr_map_at(item, "defaultRequest")) > 0)
                kr_field_forbidden(v, kr_fp(v, ip, "defaultRequest"),
                                   "may not be specified when `type` is 'Pod'");
        } else {
            limit_list(v, kr_map_at(item, "default"), type, kr_fp(v, ip, "default"), keys);
            limit_list(v, kr_map_at(item, "defaultRequest"), type, kr_fp(v, ip, "defaultRequest"),
                       keys);
        }
        if (strcmp(type, "PersistentVolumeClaim") == 0 &&
            kr_value_map_get(kr_map_at(item, "min"), "storage") == NULL &&
            kr_value_map_get(kr_map_at(item, "max"), "storage") == NULL)
            kr_field_required(v, kr_fp(v, ip, "limits"),
                              "either minimum or maximum storage value is required, but neither "
                              "was provided");
        limit_list(v, kr_map_at(item, "maxLimitRequestRatio"), type,
                   kr_fp(v, ip, "maxLimitRequestRatio"), keys);
        for (size_t k = 0; k < kr_value_len(keys); k++)
            limit_key(v, item, kr_value_map_key(keys, k), ip);
    }
}

const kr_kind_hooks_t kr_hooks_limitrange = {
    .defaults = limitrange_defaults,
    .validate = limitrange_validate,
};

/* ---- ResourceQuota --------------------------------------------------------------- */

/* helper.IsStandardQuotaResourceName (hugepages through their prefix) */
static bool standard_quota_resource(const char *name)
{
    static const char *const names[] = {"cpu",
                                        "memory",
                                        "ephemeral-storage",
                                        "requests.cpu",
                                        "requests.memory",
                                        "requests.storage",
                                        "requests.ephemeral-storage",
                                        "limits.cpu",
                                        "limits.memory",
                                        "limits.ephemeral-storage",
                                        "pods",
                                        "services",
                                        "replicationcontrollers",
                                        "resourcequotas",
                                        "secrets",
                                        "persistentvolumeclaims",
                                        "configmaps",
                                        "services.nodeports",
                                        "services.loadbalancers",
                                        NULL};
    return kr_str_in(name, names) || strncmp(name, "hugepages-", 10) == 0 ||
           strncmp(name, "requests.hugepages-", 19) == 0;
}

/* ValidateResourceQuotaResourceName and ValidateResourceQuantityValue over
 * one resource list (spec.hard, status.hard, status.used). */
static void quota_list(kr_validation_t *v, const kr_value_t *list, const char *path)
{
    for (size_t i = 0; i < kr_value_len(list); i++) {
        const char *k = kr_value_map_key(list, i);
        const char *kp = kr_fpk(v, path, k);
        kr_validate_resource_name(v, k, kp);
        if (strchr(k, '/') == NULL && !standard_quota_resource(k))
            kr_field_invalid_str(v, kp, k, "must be a standard resource for quota");
        kr_quantity_t q;
        kr_validate_resource_quantity(v, k, kr_value_map_val(list, i), kp, &q);
    }
}

static const char *const standard_scopes[] = {"Terminating",
                                              "NotTerminating",
                                              "BestEffort",
                                              "NotBestEffort",
                                              "PriorityClass",
                                              "CrossNamespacePodAffinity",
                                              NULL};

/* helper.IsResourceQuotaScopeValidForResource */
static bool scope_valid_for(const char *scope, const char *res)
{
    static const char *const count[] = {"pods", NULL};
    static const char *const compute[] = {
        "pods",          "cpu",          "memory",          "limits.cpu",
        "limits.memory", "requests.cpu", "requests.memory", NULL};
    if (strcmp(scope, "BestEffort") == 0)
        return kr_str_in(res, count);
    if (kr_str_in(scope, standard_scopes))
        return kr_str_in(res, compute);
    return true;
}

/* The scopes as Go's %#v prints a []core.ResourceQuotaScope. */
static const char *scopes_text(kr_validation_t *v, const kr_value_t *scopes)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "[]core.ResourceQuotaScope{");
    for (size_t i = 0; i < kr_value_len(scopes); i++) {
        if (i)
            kr_buf_puts(&b, ", ");
        kr_go_quote(&b, kr_as_str(kr_value_array_get(scopes, i)));
    }
    kr_buf_puts(&b, "}");
    const char *s = kr_arena_strdup(v->arena, b.data);
    kr_buf_free(&b);
    return s;
}

static void invalid_scopes(kr_validation_t *v, const kr_value_t *scopes, const char *detail)
{
    kr_field_error_raw(v, KR_FIELD_INVALID, "spec.scopes", scopes_text(v, scopes), detail);
}

/* validateResourceQuotaScopes */
static void quota_scopes(kr_validation_t *v, const kr_value_t *spec)
{
    const kr_value_t *scopes = kr_array_at(spec, "scopes");
    if (kr_value_len(scopes) == 0)
        return;
    const kr_value_t *hard = kr_map_at(spec, "hard");
    bool has[4] = {false, false, false, false};
    static const char *const pairs[] = {"BestEffort", "NotBestEffort", "Terminating",
                                        "NotTerminating"};
    for (size_t i = 0; i < kr_value_len(scopes); i++) {
        const char *s = kr_as_str(kr_value_array_get(scopes, i));
        if (!kr_str_in(s, standard_scopes))
            invalid_scopes(v, scopes, "unsupported scope");
        for (size_t h = 0; h < kr_value_len(hard); h++) {
            const char *res = kr_value_map_key(hard, h);
            if (standard_quota_resource(res) && !scope_valid_for(s, res))
                invalid_scopes(v, scopes, "unsupported scope applied to resource");
        }
        for (size_t p = 0; p < 4; p++)
            has[p] |= strcmp(s, pairs[p]) == 0;
    }
    if ((has[0] && has[1]) || (has[2] && has[3]))
        invalid_scopes(v, scopes, "conflicting scopes");
}

/* validateScopeSelector: the scope names and operators of matchExpressions */
static void quota_scope_selector(kr_validation_t *v, const kr_value_t *spec)
{
    static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
    const kr_value_t *exprs = kr_array_at(kr_map_at(spec, "scopeSelector"), "matchExpressions");
    for (size_t i = 0; i < kr_value_len(exprs); i++) {
        const kr_value_t *e = kr_value_array_get(exprs, i);
        const char *ep = kr_fpi(v, "spec.scopeSelector.matchExpressions", i);
        const char *scope = kr_str_or_empty(e, "scopeName");
        if (!kr_str_in(scope, standard_scopes))
            kr_field_invalid_str(v, kr_fp(v, ep, "scopeName"), scope, "unsupported scope");
        const char *op = kr_str_or_empty(e, "operator");
        if (!kr_str_in(op, ops))
            kr_field_not_supported_str(v, kr_fp(v, ep, "operator"), op, ops);
    }
}

static void quota_spec(kr_validation_t *v, const kr_value_t *obj)
{
    const kr_value_t *spec = kr_map_at(obj, "spec");
    quota_list(v, kr_map_at(spec, "hard"), "spec.hard");
    quota_scopes(v, spec);
    quota_scope_selector(v, spec);
}

static void quota_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_resource_list_defaults(a, kr_map_at(kr_map_at(obj, "spec"), "hard"));
    kr_value_t *st = kr_map_at(obj, "status");
    kr_resource_list_defaults(a, kr_map_at(st, "hard"));
    kr_resource_list_defaults(a, kr_map_at(st, "used"));
}

/* resourcequotaStrategy.PrepareForCreate: the status is the server's */
static void quota_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    (void)a;
    kr_value_map_del(obj, "status");
}

static bool same_scopes(const kr_value_t *a, const kr_value_t *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const kr_value_t *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < kr_value_len(x); i++) {
            const char *s = kr_as_str(kr_value_array_get(x, i));
            bool found = false;
            for (size_t j = 0; j < kr_value_len(y) && !found; j++)
                found = strcmp(s, kr_as_str(kr_value_array_get(y, j))) == 0;
            if (!found)
                return false;
        }
    }
    return true;
}

/* ValidateResourceQuota / ValidateResourceQuotaUpdate */
static void quota_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    quota_spec(v, obj);
    if (old == NULL) {
        const kr_value_t *st = kr_map_at(obj, "status");
        quota_list(v, kr_map_at(st, "hard"), "status.hard");
        quota_list(v, kr_map_at(st, "used"), "status.used");
        return;
    }
    const kr_value_t *ns = kr_array_at(kr_map_at(obj, "spec"), "scopes");
    if (!same_scopes(ns, kr_array_at(kr_map_at(old, "spec"), "scopes")))
        invalid_scopes(v, ns, KR_MSG_IMMUTABLE);
}

/* ValidateResourceQuotaStatusUpdate */
static void quota_validate_status(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *st = kr_map_at(obj, "status");
    quota_list(v, kr_map_at(st, "hard"), "status.hard");
    quota_list(v, kr_map_at(st, "used"), "status.used");
}

const kr_kind_hooks_t kr_hooks_resourcequota = {
    .defaults = quota_defaults,
    .prepare_create = quota_prepare_create,
    .validate = quota_validate,
    .validate_status = quota_validate_status,
};
