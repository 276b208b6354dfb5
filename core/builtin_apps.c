/* apps/v1 (ReplicaSet, Deployment, DaemonSet, StatefulSet), batch/v1 (Job,
 * CronJob), coordination.k8s.io/v1 Lease and scheduling.k8s.io/v1
 * PriorityClass: defaults (pkg/apis/<group>/v1/defaults.go), validation
 * (pkg/apis/<group>/validation) and strategies (pkg/registry/<group>). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "builtin_internal.h"

static const kr_pod_opts_t template_opts = {.is_pod = false};

/* ---- shared workload rules ------------------------------------------------ */

static void selector_invalid(kr_validation_t *v, const char *path, const kr_value_t *sel,
                             const char *detail)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_print_label_selector(&b, sel);
    kr_field_error_raw(v, KR_FIELD_INVALID, path, b.data, detail);
    kr_buf_free(&b);
}

/* selector required, its syntax, not empty, and matching the template's
 * labels (ValidateDeploymentSpec / ReplicaSet / StatefulSet). */
static void selector_and_template(kr_validation_t *v, const kr_value_t *spec, const char *empty_msg)
{
    const kr_value_t *sel = kr_value_map_get(spec, "selector");
    if (kr_value_type(sel) != KR_MAP) {
        kr_field_required(v, "spec.selector", NULL);
    } else {
        kr_validate_label_selector(v, sel, "spec.selector");
        if (kr_value_len(kr_map_at(sel, "matchLabels")) +
                kr_value_len(kr_array_at(sel, "matchExpressions")) ==
            0)
            selector_invalid(v, "spec.selector", sel, empty_msg);
    }
    const kr_value_t *labels = kr_value_get(spec, "template.metadata.labels");
    bool compiled;
    bool match = kr_selector_matches(sel, labels, &compiled);
    if (kr_value_type(sel) == KR_MAP && !compiled) {
        selector_invalid(v, "spec.selector", sel, "invalid label selector");
        return;
    }
    /* an empty selector (selects everything) is not checked here */
    bool empty = kr_value_len(kr_map_at(sel, "matchLabels")) +
                     kr_value_len(kr_array_at(sel, "matchExpressions")) ==
                 0;
    if (compiled && !empty && !match)
        kr_field_invalid(v, "spec.template.metadata.labels",
                         labels ? labels : kr_value_map(v->arena), KR_MSG_SELECTOR_MISMATCH);
}

static void restart_always(kr_validation_t *v, const kr_value_t *spec)
{
    static const char *const always[] = {"Always", NULL};
    const char *rp = kr_str_or_empty(kr_value_get(spec, "template.spec"), "restartPolicy");
    if (strcmp(rp, "Always") != 0)
        kr_field_not_supported_str(v, "spec.template.spec.restartPolicy", rp, always);
}

static void no_active_deadline(kr_validation_t *v, const kr_value_t *spec, const char *kind)
{
    if (kr_value_type(kr_value_get(spec, "template.spec.activeDeadlineSeconds")) != KR_NULL)
        kr_field_forbidden(
            v, "spec.template.spec.activeDeadlineSeconds",
            kr_arena_printf(v->arena, "activeDeadlineSeconds in %s is not Supported", kind));
}

static void selector_immutable(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *ns = kr_value_get(obj, "spec.selector"),
                     *os = kr_value_get(old, "spec.selector");
    if (kr_value_equal(ns, os) || (kr_value_type(ns) == KR_NULL && kr_value_type(os) == KR_NULL))
        return;
    selector_invalid(v, "spec.selector", ns, KR_MSG_IMMUTABLE);
}

static void nonneg(kr_validation_t *v, const kr_value_t *holder, const char *base, const char *key)
{
    kr_validate_nonnegative(v, kr_value_map_get(holder, key), kr_fp(v, base, key));
}

/* Status counters: each non-negative; `le` ones at most status.replicas;
 * availableReplicas at most readyReplicas (saying `avail_msg`) unless it
 * is NULL. */
static void status_counts(kr_validation_t *v, const kr_value_t *st, const char *const *keys,
                          const char *const *le, const char *avail_msg)
{
    for (size_t i = 0; keys[i] != NULL; i++)
        nonneg(v, st, "status", keys[i]);
    int64_t replicas = kr_value_map_int(st, "replicas", 0);
    for (size_t i = 0; le != NULL && le[i] != NULL; i++) {
        const kr_value_t *x = kr_value_map_get(st, le[i]);
        if (kr_value_as_int(x, 0) > replicas)
            kr_field_invalid(v, kr_fp(v, "status", le[i]), x,
                             "cannot be greater than status.replicas");
    }
    const kr_value_t *avail = kr_value_map_get(st, "availableReplicas");
    if (avail_msg != NULL && kr_value_as_int(avail, 0) > kr_value_map_int(st, "readyReplicas", 0))
        kr_field_invalid(v, "status.availableReplicas", avail, avail_msg);
}

static void collision_count(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *n = kr_value_get(obj, "status.collisionCount");
    const kr_value_t *o = kr_value_get(old, "status.collisionCount");
    if (kr_value_type(o) != KR_INT)
        return;
    if (kr_value_type(n) != KR_INT || kr_value_as_int(n, 0) < kr_value_as_int(o, 0))
        kr_field_invalid_int(v, "status.collisionCount", kr_value_as_int(n, 0),
                             "cannot be decremented");
}

static void template_defaults(kr_arena_t *a, kr_value_t *spec)
{
    kr_pod_template_defaults(a, kr_ensure_map(a, spec, "template"));
}

static void set_status(kr_arena_t *a, kr_value_t *obj, const char *const *zero_keys)
{
    kr_value_t *st = kr_value_map(a);
    for (size_t i = 0; zero_keys != NULL && zero_keys[i] != NULL; i++)
        kr_value_map_set(a, st, zero_keys[i], kr_value_int(a, 0));
    kr_value_map_set(a, obj, "status", st);
}

/* An IntOrString prints through its String(): unquoted. */
static void int_or_string_invalid(kr_validation_t *v, const char *path, const kr_value_t *x,
                                  const char *detail)
{
    if (kr_value_type(x) == KR_STR)
        kr_field_error_raw(v, KR_FIELD_INVALID, path, kr_value_as_str(x), detail);
    else
        kr_field_invalid(v, path, x, detail);
}

/* ValidatePositiveIntOrPercent (+ IsNotMoreThan100Percent when check100);
 * returns getIntOrPercentValue. */
static int64_t int_or_percent(kr_validation_t *v, const kr_value_t *x, const char *path,
                              bool check100)
{
    if (kr_value_type(x) == KR_STR) {
        const char *s = kr_value_as_str(x);
        size_t n = strlen(s);
        bool ok = n >= 2 && s[n - 1] == '%';
        for (size_t i = 0; ok && i + 1 < n; i++)
            ok = isdigit((unsigned char)s[i]);
        if (!ok) {
            int_or_string_invalid(v, path, x,
                                  "a valid percent string must be a numeric string followed by an "
                                  "ending '%' (e.g. '1%',  or '93%', regex used for validation is "
                                  "'[0-9]+%')");
            return 0;
        }
        int64_t pct = strtoll(s, NULL, 10);
        if (check100 && pct > 100)
            int_or_string_invalid(v, path, x, "must not be greater than 100%");
        return pct;
    }
    if (kr_value_type(x) == KR_INT) {
        kr_validate_nonnegative(v, x, path);
        return kr_value_as_int(x, 0);
    }
    if (x != NULL)
        kr_field_invalid(v, path, x, "must be an integer or percentage (e.g '5%%')");
    return 0;
}

/* ---- ReplicaSet ------------------------------------------------------------ */

static void replicaset_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *spec = kr_ensure_map(a, obj, "spec");
    kr_default_int(a, spec, "replicas", 1);
    template_defaults(a, spec);
}

static void replicaset_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    static const char *const zero[] = {"replicas", NULL};
    set_status(a, obj, zero);
}

/* ValidateReplicaSetSpec / ValidatePodTemplateSpecForReplicaSet */
static void replicaset_spec(kr_validation_t *v, const kr_value_t *spec)
{
    nonneg(v, spec, "spec", "replicas");
    nonneg(v, spec, "spec", "minReadySeconds");
    selector_and_template(v, spec, "empty selector is invalid for deployment");
    kr_validate_pod_template(v, kr_map_at(spec, "template"), "spec.template", &template_opts);
    restart_always(v, spec);
    no_active_deadline(v, spec, "ReplicaSet");
}

static void replicaset_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    replicaset_spec(v, kr_map_at(obj, "spec"));
    if (old != NULL)
        selector_immutable(v, obj, old);
}

static void replicaset_validate_status(kr_validation_t *v, const kr_value_t *obj,
                                       const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *st = kr_map_at(obj, "status");
    static const char *const keys[] = {"replicas",          "fullyLabeledReplicas", "readyReplicas",
                                       "availableReplicas", "observedGeneration",   NULL};
    static const char *const le[] = {"fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                                     NULL};
    status_counts(v, st, keys, le, "cannot be greater than readyReplicas");
}

const kr_kind_hooks_t kr_hooks_replicaset = {
    .defaults = replicaset_defaults,
    .prepare_create = replicaset_prepare_create,
    .validate = replicaset_validate,
    .validate_status = replicaset_validate_status,
};

/* ---- Deployment ------------------------------------------------------------- */

static void deployment_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *spec = kr_ensure_map(a, obj, "spec");
    if (spec == NULL)
        return;
    kr_default_int(a, spec, "replicas", 1);
    kr_value_t *strategy = kr_ensure_map(a, spec, "strategy");
    kr_default_str(a, strategy, "type", "RollingUpdate");
    if (strcmp(kr_str_or_empty(strategy, "type"), "RollingUpdate") == 0) {
        kr_value_t *ru = kr_ensure_map(a, strategy, "rollingUpdate");
        if (ru != NULL && kr_value_type(kr_value_map_get(ru, "maxUnavailable")) == KR_NULL)
            kr_value_map_set(a, ru, "maxUnavailable", kr_value_str(a, "25%"));
        if (ru != NULL && kr_value_type(kr_value_map_get(ru, "maxSurge")) == KR_NULL)
            kr_value_map_set(a, ru, "maxSurge", kr_value_str(a, "25%"));
    }
    kr_default_int(a, spec, "revisionHistoryLimit", 10);
    kr_default_int(a, spec, "progressDeadlineSeconds", 600);
    template_defaults(a, spec);
}

static void deployment_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    set_status(a, obj, NULL);
}

static void deployment_spec(kr_validation_t *v, const kr_value_t *spec)
{
    nonneg(v, spec, "spec", "replicas");
    selector_and_template(v, spec, "empty selector is invalid for deployment");
    kr_validate_pod_template(v, kr_map_at(spec, "template"), "spec.template", &template_opts);
    restart_always(v, spec);
    no_active_deadline(v, spec, "ReplicaSet");
    const kr_value_t *strategy = kr_map_at(spec, "strategy");
    const char *type = kr_str_or_empty(strategy, "type");
    const kr_value_t *ru = kr_value_map_get(strategy, "rollingUpdate");
    if (strcmp(type, "Recreate") == 0) {
        if (kr_value_type(ru) != KR_NULL)
            kr_field_forbidden(v, "spec.strategy.rollingUpdate",
                               "may not be specified when strategy `type` is 'Recreate'");
    } else if (strcmp(type, "RollingUpdate") == 0) {
        if (kr_value_type(ru) != KR_MAP) {
            kr_field_required(v, "spec.strategy.rollingUpdate",
                              "this should be defaulted and never be nil");
        } else {
            const kr_value_t *mu = kr_value_map_get(ru, "maxUnavailable");
            const kr_value_t *ms = kr_value_map_get(ru, "maxSurge");
            int64_t u = int_or_percent(v, mu, "spec.strategy.rollingUpdate.maxUnavailable", false);
            int64_t s = int_or_percent(v, ms, "spec.strategy.rollingUpdate.maxSurge", false);
            if (u == 0 && s == 0)
                int_or_string_invalid(v, "spec.strategy.rollingUpdate.maxUnavailable", mu,
                                      "may not be 0 when `maxSurge` is 0");
            if (kr_value_type(mu) == KR_STR && u > 100)
                int_or_string_invalid(v, "spec.strategy.rollingUpdate.maxUnavailable", mu,
                                      "must not be greater than 100%");
        }
    } else {
        static const char *const types[] = {"Recreate", "RollingUpdate", NULL};
        kr_field_not_supported(v, "spec.strategy", strategy, types);
    }
    nonneg(v, spec, "spec", "minReadySeconds");
    nonneg(v, spec, "spec", "revisionHistoryLimit");
    const kr_value_t *pds = kr_value_map_get(spec, "progressDeadlineSeconds");
    if (kr_value_type(pds) == KR_INT) {
        kr_validate_nonnegative(v, pds, "spec.progressDeadlineSeconds");
        if (kr_value_as_int(pds, 0) <= kr_value_map_int(spec, "minReadySeconds", 0))
            kr_field_invalid(v, "spec.progressDeadlineSeconds", pds,
                             "must be greater than minReadySeconds");
    }
}

static void deployment_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    deployment_spec(v, kr_map_at(obj, "spec"));
    if (old != NULL)
        selector_immutable(v, obj, old);
}

static void deployment_validate_status(kr_validation_t *v, const kr_value_t *obj,
                                       const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *st = kr_map_at(obj, "status");
    static const char *const keys[] = {"observedGeneration", "replicas",
                                       "updatedReplicas",    "readyReplicas",
                                       "availableReplicas",  "unavailableReplicas",
                                       "collisionCount",     NULL};
    static const char *const le[] = {"updatedReplicas", "readyReplicas", "availableReplicas", NULL};
    status_counts(v, st, keys, le, "cannot be greater than readyReplicas");
    collision_count(v, obj, old);
}

const kr_kind_hooks_t kr_hooks_deployment = {
    .defaults = deployment_defaults,
    .prepare_create = deployment_prepare_create,
    .validate = deployment_validate,
    .validate_status = deployment_validate_status,
};

/* ---- DaemonSet ------------------------------------------------------------- */

#define DS_TEMPLATE_GENERATION "deprecated.daemonset.template.generation"

static void daemonset_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *spec = kr_ensure_map(a, obj, "spec");
    if (spec == NULL)
        return;
    kr_value_t *us = kr_ensure_map(a, spec, "updateStrategy");
    kr_default_str(a, us, "type", "RollingUpdate");
    if (strcmp(kr_str_or_empty(us, "type"), "RollingUpdate") == 0) {
        kr_value_t *ru = kr_ensure_map(a, us, "rollingUpdate");
        kr_default_int(a, ru, "maxUnavailable", 1);
        kr_default_int(a, ru, "maxSurge", 0);
    }
    kr_default_int(a, spec, "revisionHistoryLimit", 10);
    template_defaults(a, spec);
}

static void set_template_generation(kr_arena_t *a, kr_value_t *obj, int64_t gen)
{
    kr_value_t *ann = kr_ensure_map(a, kr_ensure_map(a, obj, "metadata"), "annotations");
    if (ann != NULL)
        kr_value_map_set(a, ann, DS_TEMPLATE_GENERATION,
                         kr_value_str(a, kr_arena_printf(a, "%" PRId64, gen)));
}

static void daemonset_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    static const char *const zero[] = {"currentNumberScheduled", "desiredNumberScheduled",
                                       "numberMisscheduled", "numberReady", NULL};
    set_status(a, obj, zero);
    /* apps/v1 keeps the template generation in an annotation */
    set_template_generation(a, obj, 1);
}

static void daemonset_prepare_update(kr_arena_t *a, kr_value_t *obj, const kr_value_t *old)
{
    const char *og =
        kr_value_map_str(kr_value_get(old, "metadata.annotations"), DS_TEMPLATE_GENERATION);
    int64_t gen = og ? strtoll(og, NULL, 10) : 0;
    if (!kr_value_equal(kr_value_get(obj, "spec.template"), kr_value_get(old, "spec.template")))
        gen++;
    set_template_generation(a, obj, gen);
}

static void daemonset_spec(kr_validation_t *v, const kr_value_t *spec)
{
    const kr_value_t *sel = kr_value_map_get(spec, "selector");
    kr_validate_label_selector(v, sel, "spec.selector");
    bool compiled;
    const kr_value_t *labels = kr_value_get(spec, "template.metadata.labels");
    if (!kr_selector_matches(kr_value_type(sel) == KR_MAP ? sel : NULL, labels, &compiled) &&
        (compiled || kr_value_type(sel) != KR_MAP))
        kr_field_invalid(v, "spec.template.metadata.labels",
                         labels ? labels : kr_value_map(v->arena), KR_MSG_SELECTOR_MISMATCH);
    if (kr_value_type(sel) == KR_MAP &&
        kr_value_len(kr_map_at(sel, "matchLabels")) +
                kr_value_len(kr_array_at(sel, "matchExpressions")) ==
            0)
        selector_invalid(v, "spec.selector", sel, "empty selector is invalid for daemonset");
    kr_validate_pod_template(v, kr_map_at(spec, "template"), "spec.template", &template_opts);
    restart_always(v, spec);
    no_active_deadline(v, spec, "DaemonSet");
    nonneg(v, spec, "spec", "minReadySeconds");
    const kr_value_t *us = kr_map_at(spec, "updateStrategy");
    const char *type = kr_str_or_empty(us, "type");
    if (strcmp(type, "RollingUpdate") == 0) {
        const kr_value_t *ru = kr_map_at(us, "rollingUpdate");
        if (ru == NULL) {
            kr_field_required(v, "spec.updateStrategy.rollingUpdate", NULL);
        } else {
            const char *p = "spec.updateStrategy.rollingUpdate";
            const kr_value_t *mu = kr_value_map_get(ru, "maxUnavailable");
            const kr_value_t *ms = kr_value_map_get(ru, "maxSurge");
            int64_t u = int_or_percent(v, mu, kr_fp(v, p, "maxUnavailable"), true);
            int64_t s = int_or_percent(v, ms, kr_fp(v, p, "maxSurge"), true);
            if (u != 0 && s != 0)
                int_or_string_invalid(v, kr_fp(v, p, "maxSurge"), ms,
                                      "may not be set when maxUnavailable is non-zero");
            else if (u == 0 && s == 0)
                kr_field_required(v, kr_fp(v, p, "maxUnavailable"),
                                  "cannot be 0 when maxSurge is 0");
        }
    } else if (strcmp(type, "OnDelete") != 0) {
        static const char *const types[] = {"RollingUpdate", "OnDelete", NULL};
        kr_field_not_supported(v, "spec.updateStrategy", us, types);
    }
    nonneg(v, spec, "spec", "revisionHistoryLimit");
}

static void daemonset_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    daemonset_spec(v, kr_map_at(obj, "spec"));
    if (old != NULL)
        selector_immutable(v, obj, old);
}

static void daemonset_validate_status(kr_validation_t *v, const kr_value_t *obj,
                                      const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    static const char *const keys[] = {"currentNumberScheduled", "numberMisscheduled",
                                       "desiredNumberScheduled", "numberReady",
                                       "observedGeneration",     "updatedNumberScheduled",
                                       "numberAvailable",        "numberUnavailable",
                                       "collisionCount",         NULL};
    status_counts(v, kr_map_at(obj, "status"), keys, NULL, NULL);
    collision_count(v, obj, old);
}

const kr_kind_hooks_t kr_hooks_daemonset = {
    .defaults = daemonset_defaults,
    .prepare_create = daemonset_prepare_create,
    .prepare_update = daemonset_prepare_update,
    .validate = daemonset_validate,
    .validate_status = daemonset_validate_status,
};

/* ---- StatefulSet ------------------------------------------------------------ */

static void statefulset_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *spec = kr_ensure_map(a, obj, "spec");
    if (spec == NULL)
        return;
    kr_default_str(a, spec, "podManagementPolicy", "OrderedReady");
    kr_value_t *us = kr_ensure_map(a, spec, "updateStrategy");
    if (us != NULL && kr_is_unset(kr_value_map_get(us, "type"))) {
        kr_value_map_set(a, us, "type", kr_value_str(a, "RollingUpdate"));
        kr_ensure_map(a, us, "rollingUpdate");
    }
    if (strcmp(kr_str_or_empty(us, "type"), "RollingUpdate") == 0)
        kr_default_int(a, kr_map_at(us, "rollingUpdate"), "partition", 0);
    kr_value_t *rp = kr_ensure_map(a, spec, "persistentVolumeClaimRetentionPolicy");
    kr_default_str(a, rp, "whenDeleted", "Retain");
    kr_default_str(a, rp, "whenScaled", "Retain");
    kr_default_int(a, spec, "replicas", 1);
    kr_default_int(a, spec, "revisionHistoryLimit", 10);
    template_defaults(a, spec);
    kr_value_t *vcts = kr_array_at(spec, "volumeClaimTemplates");
    for (size_t i = 0; i < kr_value_len(vcts); i++) {
        kr_value_t *pvc = kr_value_array_get(vcts, i);
        if (kr_value_type(pvc) != KR_MAP)
            continue;
        kr_default_str(a, pvc, "apiVersion", "v1");
        kr_default_str(a, pvc, "kind", "PersistentVolumeClaim");
        kr_value_t *ps = kr_ensure_map(a, pvc, "spec");
        kr_default_str(a, ps, "volumeMode", "Filesystem");
        kr_value_t *res = kr_map_at(ps, "resources");
        kr_resource_list_defaults(a, kr_map_at(res, "limits"));
        kr_resource_list_defaults(a, kr_map_at(res, "requests"));
        kr_default_str(a, kr_ensure_map(a, pvc, "status"), "phase", "Pending");
    }
}

static void statefulset_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    static const char *const zero[] = {"replicas", "availableReplicas", NULL};
    set_status(a, obj, zero);
}

static void statefulset_spec(kr_validation_t *v, const kr_value_t *spec)
{
    const char *pmp = kr_str_or_empty(spec, "podManagementPolicy");
    if (*pmp == '\0')
        kr_field_required(v, "spec.podManagementPolicy", NULL);
    else if (strcmp(pmp, "OrderedReady") != 0 && strcmp(pmp, "Parallel") != 0)
        kr_field_invalid_str(v, "spec.podManagementPolicy", pmp,
                             "must be 'OrderedReady' or 'Parallel'");
    const kr_value_t *us = kr_map_at(spec, "updateStrategy");
    const char *type = kr_str_or_empty(us, "type");
    const kr_value_t *ru = kr_value_map_get(us, "rollingUpdate");
    if (*type == '\0') {
        kr_field_required(v, "spec.updateStrategy", NULL);
    } else if (strcmp(type, "OnDelete") == 0) {
        if (kr_value_type(ru) != KR_NULL)
            kr_field_invalid(v, "spec.updateStrategy.rollingUpdate", ru,
                             "only allowed for updateStrategy 'RollingUpdate'");
    } else if (strcmp(type, "RollingUpdate") == 0) {
        const kr_value_t *rup = kr_map_at(us, "rollingUpdate");
        const char *p = "spec.updateStrategy.rollingUpdate";
        nonneg(v, rup, p, "partition");
        const kr_value_t *mu = kr_value_map_get(rup, "maxUnavailable");
        if (kr_value_type(mu) != KR_NULL) {
            const char *mp = kr_fp(v, p, "maxUnavailable");
            if (int_or_percent(v, mu, mp, true) == 0)
                int_or_string_invalid(v, mp, mu, "cannot be 0");
        }
    } else {
        kr_field_invalid(v, "spec.updateStrategy", us, "must be 'RollingUpdate' or 'OnDelete'");
    }
    const kr_value_t *rp = kr_map_at(spec, "persistentVolumeClaimRetentionPolicy");
    static const char *const policies[] = {"Retain", "Delete", NULL};
    static const char *const keys[] = {"whenDeleted", "whenScaled"};
    for (size_t i = 0; rp != NULL && i < 2; i++) {
        const char *pol = kr_str_or_empty(rp, keys[i]);
        if (!kr_str_in(pol, policies))
            kr_field_not_supported_str(
                v, kr_fp(v, "spec.persistentVolumeClaimRetentionPolicy", keys[i]), pol, policies);
    }
    nonneg(v, kr_map_at(spec, "ordinals"), "spec.ordinals", "start");
    nonneg(v, spec, "spec", "replicas");
    nonneg(v, spec, "spec", "minReadySeconds");
    selector_and_template(v, spec, "empty selector is invalid for statefulset");
    /* upstream checks only the template's labels and annotations here (its
     * pod spec is validated when the controller creates the pods) */
    const kr_value_t *tmeta = kr_value_get(spec, "template.metadata");
    kr_validate_labels(v, kr_value_map_get(tmeta, "labels"), "spec.template.labels");
    kr_validate_annotations(v, kr_value_map_get(tmeta, "annotations"), "spec.template.annotations");
    restart_always(v, spec);
    no_active_deadline(v, spec, "StatefulSet");
}

static void statefulset_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_LABEL);
    const kr_value_t *spec = kr_map_at(obj, "spec");
    statefulset_spec(v, spec);
    if (old == NULL)
        return;
    kr_value_t *munged = kr_value_copy(v->arena, spec);
    const kr_value_t *ospec = kr_map_at(old, "spec");
    static const char *const mutable[] = {
        "replicas",       "ordinals",        "template",
        "updateStrategy", "minReadySeconds", "persistentVolumeClaimRetentionPolicy"};
    for (size_t i = 0; munged != NULL && i < sizeof mutable / sizeof mutable[0]; i++) {
        const kr_value_t *o = kr_value_map_get(ospec, mutable[i]);
        if (o != NULL)
            kr_value_map_set(v->arena, munged, mutable[i], kr_value_copy(v->arena, o));
        else
            kr_value_map_del(munged, mutable[i]);
    }
    if (!kr_value_equal(munged, ospec))
        kr_field_forbidden(v, "spec",
                           "updates to statefulset spec for fields other than 'replicas', "
                           "'ordinals', 'template', 'updateStrategy', "
                           "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
                           "forbidden");
}

static void statefulset_validate_status(kr_validation_t *v, const kr_value_t *obj,
                                        const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_LABEL);
    const kr_value_t *st = kr_map_at(obj, "status");
    static const char *const keys[] = {
        "replicas",          "readyReplicas",      "currentReplicas", "updatedReplicas",
        "availableReplicas", "observedGeneration", "collisionCount",  NULL};
    static const char *const le[] = {"readyReplicas", "currentReplicas", "updatedReplicas",
                                     "availableReplicas", NULL};
    status_counts(v, st, keys, le, "cannot be greater than status.readyReplicas");
    collision_count(v, obj, old);
}

const kr_kind_hooks_t kr_hooks_statefulset = {
    .defaults = statefulset_defaults,
    .prepare_create = statefulset_prepare_create,
    .validate = statefulset_validate,
    .validate_status = statefulset_validate_status,
};

/* ---- Job -------------------------------------------------------------------------- */

#define JOB_UID_LABEL         "batch.kubernetes.io/controller-uid"
#define JOB_NAME_LABEL        "batch.kubernetes.io/job-name"
#define LEGACY_JOB_UID_LABEL  "controller-uid"
#define LEGACY_JOB_NAME_LABEL "job-name"

static void job_spec_defaults(kr_arena_t *a, kr_value_t *spec)
{
    if (kr_value_type(spec) != KR_MAP)
        return;
    const kr_value_t *comp = kr_value_map_get(spec, "completions");
    const kr_value_t *par = kr_value_map_get(spec, "parallelism");
    if (kr_value_type(comp) == KR_NULL && kr_value_type(par) == KR_NULL)
        kr_value_map_set(a, spec, "completions", kr_value_int(a, 1));
    kr_default_int(a, spec, "parallelism", 1);
    kr_default_int(
        a, spec, "backoffLimit",
        kr_value_type(kr_value_map_get(spec, "backoffLimitPerIndex")) != KR_NULL ? INT32_MAX : 6);
    kr_default_str(a, spec, "completionMode", "NonIndexed");
    kr_default_bool(a, spec, "suspend", false);
    kr_value_t *pfp = kr_map_at(spec, "podFailurePolicy");
    kr_value_t *rules = kr_array_at(pfp, "rules");
    for (size_t i = 0; i < kr_value_len(rules); i++) {
        kr_value_t *conds = kr_array_at(kr_value_array_get(rules, i), "onPodConditions");
        for (size_t j = 0; j < kr_value_len(conds); j++)
            kr_default_str(a, kr_value_array_get(conds, j), "status", "True");
    }
    kr_default_str(a, spec, "podReplacementPolicy", pfp != NULL ? "Failed" : "TerminatingOrFailed");
    template_defaults(a, spec);
}

/* A job without labels takes its template's (SetDefaults_Job). */
static void job_labels_from_template(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *meta = kr_ensure_map(a, obj, "metadata");
    const kr_value_t *tl = kr_value_get(obj, "spec.template.metadata.labels");
    if (meta != NULL && kr_value_type(tl) == KR_MAP && kr_value_len(kr_map_at(meta, "labels")) == 0)
        kr_value_map_set(a, meta, "labels", kr_value_copy(a, tl));
}

static void job_defaults(kr_arena_t *a, kr_value_t *obj)
{
    job_spec_defaults(a, kr_ensure_map(a, obj, "spec"));
    job_labels_from_template(a, obj);
}

static void put_label_if_absent(kr_arena_t *a, kr_value_t *labels, const char *key, const char *val)
{
    if (kr_value_map_get(labels, key) == NULL)
        kr_value_map_set(a, labels, key, kr_value_str(a, val));
}

/* generateSelector (1.27+): the pods carry the job's name and uid, the
 * selector picks the uid. */
static void job_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    set_status(a, obj, NULL);
    kr_value_t *spec = kr_map_at(obj, "spec");
    if (spec == NULL || kr_value_as_bool(kr_value_map_get(spec, "manualSelector"), false))
        return;
    const char *name = kr_str_or_empty(kr_map_at(obj, "metadata"), "name");
    const char *uid = kr_str_or_empty(kr_map_at(obj, "metadata"), "uid");
    kr_value_t *labels = kr_ensure_map(
        a, kr_ensure_map(a, kr_ensure_map(a, spec, "template"), "metadata"), "labels");
    if (labels != NULL) {
        put_label_if_absent(a, labels, LEGACY_JOB_NAME_LABEL, name);
        put_label_if_absent(a, labels, JOB_NAME_LABEL, name);
        put_label_if_absent(a, labels, LEGACY_JOB_UID_LABEL, uid);
        put_label_if_absent(a, labels, JOB_UID_LABEL, uid);
    }
    kr_value_t *ml = kr_ensure_map(a, kr_ensure_map(a, spec, "selector"), "matchLabels");
    if (ml != NULL)
        put_label_if_absent(a, ml, JOB_UID_LABEL, uid);
    /* Upstream defaults the stored object again on its way out, so a job
     * without labels shows the generated ones.  Copy them now, unless they
     * are invalid: upstream's validation only sees them on the template. */
    const kr_value_t *tl = kr_value_get(obj, "spec.template.metadata.labels");
    for (size_t i = 0; i < kr_value_len(tl); i++) {
        const char *val = kr_value_as_str(kr_value_map_val(tl, i));
        const char *m[2];
        if (val == NULL || kr_label_value_errors(val, m) > 0)
            return;
    }
    job_labels_from_template(a, obj);
}

static void has_label(kr_validation_t *v, const kr_value_t *labels, const char *key,
                      const char *want)
{
    const char *path = kr_fpk(v, "spec.template.metadata.labels", key);
    const char *detail = kr_arena_printf(v->arena, "must be '%s'", want);
    const kr_value_t *got = kr_value_map_get(labels, key);
    if (got == NULL)
        kr_field_required(v, path, detail);
    else if (strcmp(kr_value_as_str(got) ? kr_value_as_str(got) : "", want) != 0)
        kr_field_invalid(v, path, labels, detail);
}

/* validateGeneratedSelector */
static void job_generated_selector(kr_validation_t *v, const kr_value_t *obj)
{
    const kr_value_t *spec = kr_map_at(obj, "spec");
    if (kr_value_as_bool(kr_value_map_get(spec, "manualSelector"), false))
        return;
    const kr_value_t *sel = kr_map_at(spec, "selector");
    if (sel == NULL)
        return;
    const char *name = kr_str_or_empty(kr_map_at(obj, "metadata"), "name");
    const char *uid = kr_str_or_empty(kr_map_at(obj, "metadata"), "uid");
    if (*uid == '\0')
        kr_field_required(v, "metadata.uid", NULL);
    const kr_value_t *labels = kr_value_get(spec, "template.metadata.labels");
    has_label(v, labels, LEGACY_JOB_UID_LABEL, uid);
    has_label(v, labels, LEGACY_JOB_NAME_LABEL, name);
    has_label(v, labels, JOB_UID_LABEL, uid);
    has_label(v, labels, JOB_NAME_LABEL, name);
    kr_value_t *expected = kr_value_map(v->arena);
    kr_value_map_set(v->arena, expected, JOB_UID_LABEL, kr_value_str(v->arena, uid));
    kr_value_map_set(v->arena, expected, JOB_NAME_LABEL, kr_value_str(v->arena, name));
    kr_value_map_set(v->arena, expected, LEGACY_JOB_UID_LABEL, kr_value_str(v->arena, uid));
    kr_value_map_set(v->arena, expected, LEGACY_JOB_NAME_LABEL, kr_value_str(v->arena, name));
    bool compiled;
    if (!kr_selector_matches(sel, expected, &compiled) && compiled)
        selector_invalid(v, "spec.selector", sel, "`selector` not auto-generated");
}

/* validateJobSpec at `path` ("spec" or "spec.jobTemplate.spec"). */
static void job_spec(kr_validation_t *v, const kr_value_t *spec, const char *path)
{
    static const char *const counters[] = {"parallelism",
                                           "completions",
                                           "activeDeadlineSeconds",
                                           "backoffLimit",
                                           "ttlSecondsAfterFinished",
                                           "backoffLimitPerIndex",
                                           "maxFailedIndexes"};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        nonneg(v, spec, path, counters[i]);
    const char *mode = kr_value_map_str(spec, "completionMode");
    static const char *const modes[] = {"Indexed", "NonIndexed", NULL};
    if (mode != NULL && !kr_str_in(mode, modes))
        kr_field_not_supported_str(v, kr_fp(v, path, "completionMode"), mode, modes);
    bool indexed = mode != NULL && strcmp(mode, "Indexed") == 0;
    if (indexed) {
        if (kr_value_type(kr_value_map_get(spec, "completions")) == KR_NULL)
            kr_field_required(v, kr_fp(v, path, "completions"), "when completion mode is Indexed");
        const kr_value_t *par = kr_value_map_get(spec, "parallelism");
        if (kr_value_as_int(par, 0) > 100000)
            kr_field_invalid(
                v, kr_fp(v, path, "parallelism"), par,
                "must be less than or equal to 100000 when completion mode is Indexed");
    } else if (kr_value_type(kr_value_map_get(spec, "backoffLimitPerIndex")) != KR_NULL) {
        kr_field_required(v, kr_fp(v, path, "completionMode"),
                          "when backoffLimitPerIndex is set, completionMode must be Indexed");
    }
    const char *tp = kr_fp(v, path, "template");
    kr_validate_pod_template(v, kr_map_at(spec, "template"), tp, &template_opts);
    const char *rp = kr_str_or_empty(kr_value_get(spec, "template.spec"), "restartPolicy");
    static const char *const rps[] = {"OnFailure", "Never", NULL};
    if (!kr_str_in(rp, rps))
        kr_field_not_supported_str(v, kr_fp(v, tp, "spec.restartPolicy"), rp, rps);
    else if (kr_map_at(spec, "podFailurePolicy") != NULL && strcmp(rp, "Never") != 0)
        kr_field_invalid_str(v, kr_fp(v, tp, "spec.restartPolicy"), rp,
                             "only \"Never\" is supported when podFailurePolicy is specified");
}

static void job_validate_spec(kr_validation_t *v, const kr_value_t *obj)
{
    const kr_value_t *spec = kr_map_at(obj, "spec");
    job_spec(v, spec, "spec");
    const kr_value_t *sel = kr_map_at(spec, "selector");
    if (sel == NULL)
        kr_field_required(v, "spec.selector", NULL);
    else
        kr_validate_label_selector(v, sel, "spec.selector");
    const kr_value_t *labels = kr_value_get(spec, "template.metadata.labels");
    bool compiled;
    if (sel != NULL && !kr_selector_matches(sel, labels, &compiled) && compiled)
        kr_field_invalid(v, "spec.template.metadata.labels",
                         labels ? labels : kr_value_map(v->arena), KR_MSG_SELECTOR_MISMATCH);
}

static void job_validate_update(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *spec = kr_map_at(obj, "spec"), *ospec = kr_map_at(old, "spec");
    bool indexed = strcmp(kr_str_or_empty(spec, "completionMode"), "Indexed") == 0;
    const kr_value_t *nc = kr_value_map_get(spec, "completions");
    const kr_value_t *oc = kr_value_map_get(ospec, "completions");
    if (!indexed) {
        kr_validate_immutable(v, nc, oc, "spec.completions");
    } else if (kr_value_type(nc) == KR_INT && kr_value_type(oc) == KR_INT &&
               kr_value_as_int(nc, 0) != kr_value_as_int(oc, 0) &&
               !kr_value_equal(nc, kr_value_map_get(spec, "parallelism"))) {
        kr_field_invalid(v, "spec.completions", nc,
                         "can only be modified in tandem with spec.parallelism");
    }
    selector_immutable(v, obj, old);
    kr_validate_immutable(v, kr_value_map_get(spec, "completionMode"),
                          kr_value_map_get(ospec, "completionMode"), "spec.completionMode");
    kr_validate_immutable(v, kr_value_map_get(spec, "podFailurePolicy"),
                          kr_value_map_get(ospec, "podFailurePolicy"), "spec.podFailurePolicy");
    kr_validate_immutable(v, kr_value_map_get(spec, "backoffLimitPerIndex"),
                          kr_value_map_get(ospec, "backoffLimitPerIndex"),
                          "spec.backoffLimitPerIndex");
    kr_validate_immutable(v, kr_value_map_get(spec, "managedBy"),
                          kr_value_map_get(ospec, "managedBy"), "spec.managedBy");
    /* a suspended job that never started may change where its pods go */
    const kr_value_t *nt = kr_map_at(spec, "template");
    kr_value_t *ot = kr_value_copy(v->arena, kr_map_at(ospec, "template"));
    bool mutable_sched = kr_value_as_bool(kr_value_map_get(spec, "suspend"), false) &&
                         kr_value_get(old, "status.startTime") == NULL;
    if (mutable_sched && kr_value_type(ot) == KR_MAP && nt != NULL) {
        static const char *const meta_keys[] = {"labels", "annotations"};
        static const char *const spec_keys[] = {"nodeSelector", "affinity", "tolerations",
                                                "schedulingGates"};
        kr_value_t *om = kr_ensure_map(v->arena, ot, "metadata");
        kr_value_t *os = kr_ensure_map(v->arena, ot, "spec");
        for (size_t i = 0; om != NULL && i < 2; i++) {
            const kr_value_t *x =
                kr_value_get(nt, kr_arena_printf(v->arena, "metadata.%s", meta_keys[i]));
            if (x != NULL)
                kr_value_map_set(v->arena, om, meta_keys[i], kr_value_copy(v->arena, x));
            else
                kr_value_map_del(om, meta_keys[i]);
        }
        for (size_t i = 0; os != NULL && i < 4; i++) {
            const kr_value_t *x = kr_value_map_get(kr_map_at(nt, "spec"), spec_keys[i]);
            if (x != NULL)
                kr_value_map_set(v->arena, os, spec_keys[i], kr_value_copy(v->arena, x));
            else
                kr_value_map_del(os, spec_keys[i]);
        }
    }
    kr_validate_immutable(v, nt, ot, "spec.template");
}

static void job_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta_again(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    job_generated_selector(v, obj);
    job_validate_spec(v, obj);
    const kr_value_t *spec = kr_map_at(obj, "spec");
    int64_t completions;
    if (strcmp(kr_str_or_empty(spec, "completionMode"), "Indexed") == 0 &&
        kr_int_at(spec, "completions", &completions) && completions > 0) {
        const char *name = kr_str_or_empty(meta, "name");
        const char *host = kr_arena_printf(v->arena, "%s-%" PRId64, name, completions - 1);
        if (kr_dns1123_label_error(host) != NULL)
            kr_field_invalid_str(
                v, "metadata.name", name,
                kr_arena_printf(v->arena, "will not able to create pod with invalid DNS label: %s",
                                host));
    }
    if (old != NULL)
        job_validate_update(v, obj, old);
}

static void job_validate_status(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    static const char *const keys[] = {"active", "succeeded",   "failed",
                                       "ready",  "terminating", NULL};
    status_counts(v, kr_map_at(obj, "status"), keys, NULL, NULL);
}

const kr_kind_hooks_t kr_hooks_job = {
    .defaults = job_defaults,
    .prepare_create = job_prepare_create,
    .validate = job_validate,
    .validate_status = job_validate_status,
};

/* ---- CronJob ---------------------------------------------------------------------- */

/* time.ParseDuration for "@every" */
static bool go_duration(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (strcmp(s, "0") == 0)
        return true;
    if (*s == '\0')
        return false;
    while (*s) {
        const char *start = s;
        while (isdigit((unsigned char)*s))
            s++;
        if (*s == '.') {
            s++;
            while (isdigit((unsigned char)*s))
                s++;
        }
        if (s == start || (s == start + 1 && *start == '.'))
            return false;
        static const char *const units[] = {"ns", "us", "\xc2\xb5s", "\xce\xbcs",
                                            "ms", "s",  "m",         "h"};
        size_t best = 0;
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
            size_t n = strlen(units[u]);
            if (strncmp(s, units[u], n) == 0 && n > best)
                best = n;
        }
        if (best == 0)
            return false;
        s += best;
    }
    return true;
}

typedef struct cron_bounds {
    unsigned min, max;
    const char *const *names; /* index = value, or NULL */
} cron_bounds_t;

static const char *const cron_months[] = {"",    "jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const cron_days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

/* robfig/cron mustParseInt (strconv.Atoi's message on failure) */
static const char *cron_int(kr_arena_t *a, const char *s, unsigned *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    bool ok = *p != '\0';
    for (const char *q = p; ok && *q; q++)
        ok = isdigit((unsigned char)*q);
    if (!ok)
        return kr_arena_printf(a,
                               "failed to parse int from %s: strconv.Atoi: parsing \"%s\": "
                               "invalid syntax",
                               s, s);
    long long v = strtoll(s, NULL, 10);
    if (v < 0)
        return kr_arena_printf(a, "negative number (%lld) not allowed: %s", v, s);
    *out = v > 1000000 ? 1000000 : (unsigned)v;
    return NULL;
}

static const char *cron_int_or_name(kr_arena_t *a, const char *s, const cron_bounds_t *b,
                                    unsigned *out)
{
    for (size_t i = 0; b->names != NULL && b->names[i] != NULL; i++) {
        if (*b->names[i] && strcasecmp(s, b->names[i]) == 0) {
            *out = (unsigned)i;
            return NULL;
        }
    }
    return cron_int(a, s, out);
}

/* getRange for one comma-separated part of a field. */
static const char *cron_range(kr_arena_t *a, const char *expr, const cron_bounds_t *b)
{
    char *buf = kr_arena_strdup(a, expr);
    char *slash = strchr(buf, '/');
    char *step_s = NULL;
    if (slash != NULL) {
        *slash = '\0';
        step_s = slash + 1;
        if (strchr(step_s, '/'))
            return kr_arena_printf(a, "too many slashes: %s", expr);
    }
    unsigned start, end, step = 1;
    const char *err;
    char *dash = strchr(buf, '-');
    bool single = dash == NULL;
    if (strcmp(buf, "*") == 0 || strcmp(buf, "?") == 0) {
        start = b->min;
        end = b->max;
    } else {
        if (dash != NULL) {
            *dash = '\0';
            if (strchr(dash + 1, '-'))
                return kr_arena_printf(a, "too many hyphens: %s", expr);
        }
        if ((err = cron_int_or_name(a, buf, b, &start)) != NULL)
            return err;
        end = start;
        if (dash != NULL && (err = cron_int_or_name(a, dash + 1, b, &end)) != NULL)
            return err;
    }
    if (step_s != NULL) {
        if ((err = cron_int(a, step_s, &step)) != NULL)
            return err;
        if (single && strcmp(buf, "*") != 0 && strcmp(buf, "?") != 0)
            end = b->max;
    }
    if (start < b->min)
        return kr_arena_printf(a, "beginning of range (%u) below minimum (%u): %s", start, b->min,
                               expr);
    if (end > b->max)
        return kr_arena_printf(a, "end of range (%u) above maximum (%u): %s", end, b->max, expr);
    if (start > end)
        return kr_arena_printf(a, "beginning of range (%u) beyond end of range (%u): %s", start,
                               end, expr);
    if (step == 0)
        return kr_arena_printf(a, "step of range should be a positive number: %s", expr);
    return NULL;
}

/* cron.ParseStandard's error text, or NULL for a valid schedule. */
static const char *cron_parse(kr_arena_t *a, const char *spec)
{
    if (*spec == '\0')
        return "empty spec string";
    if (strncmp(spec, "TZ=", 3) == 0 || strncmp(spec, "CRON_TZ=", 8) == 0) {
        const char *sp = strchr(spec, ' ');
        if (sp == NULL)
            return "missing spec after timezone";
        spec = sp + 1;
        while (*spec == ' ')
            spec++;
    }
    if (spec[0] == '@') {
        static const char *const descs[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                            "@daily",  "@midnight", "@hourly",  NULL};
        if (kr_str_in(spec, descs))
            return NULL;
        if (strncmp(spec, "@every ", 7) == 0) {
            if (!go_duration(spec + 7))
                return kr_arena_printf(a,
                                       "failed to parse duration %s: time: invalid duration \"%s\"",
                                       spec, spec + 7);
            return NULL;
        }
        return kr_arena_printf(a, "unrecognized descriptor: %s", spec);
    }
    /* strings.Fields */
    char *copy = kr_arena_strdup(a, spec);
    char *fields[64];
    size_t n = 0;
    for (char *tok = strtok(copy, " \t\n\r\v\f"); tok != NULL; tok = strtok(NULL, " \t\n\r\v\f"))
        if (n < 64)
            fields[n++] = tok;
    if (n != 5) {
        kr_buf_t b = KR_BUF_INIT;
        for (size_t i = 0; i < n; i++)
            kr_buf_printf(&b, "%s%s", i ? " " : "", fields[i]);
        const char *msg = kr_arena_printf(a, "expected exactly 5 fields, found %zu: [%s]", n,
                                          b.data ? b.data : "");
        kr_buf_free(&b);
        return msg;
    }
    static const cron_bounds_t bounds[] = {
        {0, 59, NULL}, {0, 23, NULL}, {1, 31, NULL}, {1, 12, cron_months}, {0, 6, cron_days}};
    for (size_t f = 0; f < 5; f++) {
        char *parts = kr_arena_strdup(a, fields[f]);
        char *save = NULL;
        for (char *p = strtok_r(parts, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
            const char *err = cron_range(a, p, &bounds[f]);
            if (err != NULL)
                return err;
        }
    }
    return NULL;
}

static void cronjob_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *spec = kr_ensure_map(a, obj, "spec");
    if (spec == NULL)
        return;
    kr_default_str(a, spec, "concurrencyPolicy", "Allow");
    kr_default_bool(a, spec, "suspend", false);
    kr_default_int(a, spec, "successfulJobsHistoryLimit", 3);
    kr_default_int(a, spec, "failedJobsHistoryLimit", 1);
    kr_value_t *jt = kr_map_at(kr_ensure_map(a, spec, "jobTemplate"), "spec");
    if (jt != NULL)
        template_defaults(a, jt);
}

static void cronjob_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    set_status(a, obj, NULL);
}

static void cronjob_spec(kr_validation_t *v, const kr_value_t *spec, const kr_value_t *ospec)
{
    const char *sched = kr_str_or_empty(spec, "schedule");
    const kr_value_t *tz = kr_value_map_get(spec, "timeZone");
    if (*sched == '\0') {
        kr_field_required(v, "spec.schedule", NULL);
    } else {
        const char *err = cron_parse(v->arena, sched);
        if (err != NULL)
            kr_field_invalid_str(v, "spec.schedule", sched, err);
        bool allow_tz = ospec != NULL && strstr(kr_str_or_empty(ospec, "schedule"), "TZ") != NULL;
        if (allow_tz && strstr(sched, "TZ") && kr_value_type(tz) != KR_NULL)
            kr_field_invalid_str(v, "spec.schedule", sched,
                                 "cannot use both timeZone field and TZ or CRON_TZ in schedule");
        else if (!allow_tz && strstr(sched, "TZ"))
            kr_field_invalid_str(
                v, "spec.schedule", sched,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
    }
    if (kr_value_type(tz) == KR_STR) {
        const char *z = kr_value_as_str(tz);
        bool ok = *z != '\0';
        if (!ok) {
            kr_field_invalid(v, "spec.timeZone", tz, "timeZone must be nil or non-empty string");
        } else {
            for (const char *p = z; ok && *p; p++)
                ok = isalnum((unsigned char)*p) || strchr("/_-+", *p);
            ok = ok && strstr(z, "..") == NULL && z[0] != '/' && z[0] != '-';
            if (ok && strcasecmp(z, "Local") == 0) {
                kr_field_invalid(v, "spec.timeZone", tz,
                                 "timeZone must be an explicit time zone as defined in "
                                 "https://www.iana.org/time-zones");
            } else {
                struct stat sb;
                char path[512];
                snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", z);
                if (!ok || (strcmp(z, "UTC") != 0 && stat(path, &sb) != 0))
                    kr_field_invalid(v, "spec.timeZone", tz,
                                     kr_arena_printf(v->arena, "unknown time zone %s", z));
            }
        }
    }
    nonneg(v, spec, "spec", "startingDeadlineSeconds");
    static const char *const policies[] = {"Allow", "Forbid", "Replace", NULL};
    const char *cp = kr_str_or_empty(spec, "concurrencyPolicy");
    if (*cp == '\0')
        kr_field_required(v, "spec.concurrencyPolicy", NULL);
    else if (!kr_str_in(cp, policies))
        kr_field_not_supported_str(v, "spec.concurrencyPolicy", cp, policies);
    const kr_value_t *jt = kr_map_at(spec, "jobTemplate");
    kr_validate_labels(v, kr_value_get(jt, "metadata.labels"), "spec.jobTemplate.metadata.labels");
    kr_validate_annotations(v, kr_value_get(jt, "metadata.annotations"),
                            "spec.jobTemplate.metadata.annotations");
    const kr_value_t *js = kr_map_at(jt, "spec");
    job_spec(v, js, "spec.jobTemplate.spec");
    const kr_value_t *sel = kr_value_map_get(js, "selector");
    if (kr_value_type(sel) != KR_NULL)
        selector_invalid(v, "spec.jobTemplate.spec.selector", sel,
                         "`selector` will be auto-generated");
    if (kr_value_as_bool(kr_value_map_get(js, "manualSelector"), false)) {
        static const char *const allowed[] = {"nil", "false", NULL};
        kr_field_not_supported(v, "spec.jobTemplate.spec.manualSelector",
                               kr_value_map_get(js, "manualSelector"), allowed);
    }
    nonneg(v, spec, "spec", "successfulJobsHistoryLimit");
    nonneg(v, spec, "spec", "failedJobsHistoryLimit");
}

static void cronjob_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    cronjob_spec(v, kr_map_at(obj, "spec"), old ? kr_map_at(old, "spec") : NULL);
    const char *name = kr_str_or_empty(kr_map_at(obj, "metadata"), "name");
    /* the controller appends an 11-character suffix to make job names */
    if (old == NULL && strlen(name) > 52)
        kr_field_invalid_str(v, "metadata.name", name, "must be no more than 52 characters");
}

static void cronjob_validate_status(kr_validation_t *v, const kr_value_t *obj,
                                    const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
}

const kr_kind_hooks_t kr_hooks_cronjob = {
    .defaults = cronjob_defaults,
    .prepare_create = cronjob_prepare_create,
    .validate = cronjob_validate,
    .validate_status = cronjob_validate_status,
};

/* ---- Lease ------------------------------------------------------------------------ */

static void lease_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *spec = kr_map_at(obj, "spec");
    const kr_value_t *lds = kr_value_map_get(spec, "leaseDurationSeconds");
    if (kr_value_type(lds) == KR_INT && kr_value_as_int(lds, 0) <= 0)
        kr_field_invalid(v, "spec.leaseDurationSeconds", lds, "must be greater than 0");
    const kr_value_t *lt = kr_value_map_get(spec, "leaseTransitions");
    if (kr_value_type(lt) == KR_INT && kr_value_as_int(lt, 0) < 0)
        kr_field_invalid(v, "spec.leaseTransitions", lt, "must be greater than or equal to 0");
    const char *strategy = kr_value_map_str(spec, "strategy");
    static const char *const strategies[] = {"OldestEmulationVersion", NULL};
    if (strategy != NULL && *strategy && !kr_str_in(strategy, strategies))
        kr_field_not_supported_str(v, "spec.strategy", strategy, strategies);
    if (*kr_str_or_empty(spec, "preferredHolder") && (strategy == NULL || *strategy == '\0'))
        kr_field_forbidden(v, "spec.preferredHolder",
                           "may only be specified if `strategy` is defined");
}

const kr_kind_hooks_t kr_hooks_lease = {
    .validate = lease_validate,
};

/* ---- PriorityClass ------------------------------------------------------------------ */

#define HIGHEST_USER_PRIORITY 1000000000

static void priorityclass_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_default_str(a, obj, "preemptionPolicy", "PreemptLowerPriority");
}

static void priorityclass_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    if (old != NULL) {
        kr_validate_object_meta(v, meta, kr_map_at(old, "metadata"), false,
                                KR_NAME_DNS1123_SUBDOMAIN);
        if (!kr_value_equal(kr_value_map_get(obj, "value"), kr_value_map_get(old, "value")))
            kr_field_forbidden(v, "value", "may not be changed in an update.");
        kr_validate_immutable(v, kr_value_map_get(obj, "preemptionPolicy"),
                              kr_value_map_get(old, "preemptionPolicy"), "preemptionPolicy");
        return;
    }
    kr_validate_object_meta(v, meta, NULL, false, KR_NAME_DNS1123_SUBDOMAIN);
    const char *name = kr_str_or_empty(meta, "name");
    int64_t value = kr_value_map_int(obj, "value", 0);
    bool global = kr_value_as_bool(kr_value_map_get(obj, "globalDefault"), false);
    if (strncmp(name, "system-", 7) == 0) {
        static const struct {
            const char *name;
            int64_t value;
        } system[] = {{"system-node-critical", 2000001000},
                      {"system-cluster-critical", 2000000000}};
        const char *err =
            kr_arena_printf(v->arena, "%s is not a known system priority class", name);
        for (size_t i = 0; i < 2; i++) {
            if (strcmp(system[i].name, name) != 0)
                continue;
            if (system[i].value != value)
                err = kr_arena_printf(v->arena, "value of %s PriorityClass must be %" PRId64, name,
                                      system[i].value);
            else if (global)
                err = kr_arena_printf(v->arena, "globalDefault of %s PriorityClass must be false",
                                      name);
            else
                err = NULL;
        }
        if (err != NULL)
            kr_field_error(v, KR_FIELD_FORBIDDEN, "metadata.name", NULL,
                           "priority class names with 'system-' prefix are reserved for system use "
                           "only. error: %s",
                           err);
    } else if (value > HIGHEST_USER_PRIORITY) {
        kr_field_error(v, KR_FIELD_FORBIDDEN, "value", NULL,
                       "maximum allowed value of a user defined priority is %d",
                       HIGHEST_USER_PRIORITY);
    }
    const char *pp = kr_value_map_str(obj, "preemptionPolicy");
    static const char *const pps[] = {"PreemptLowerPriority", "Never", NULL};
    if (pp != NULL && *pp == '\0')
        kr_field_required(v, "preemptionPolicy", NULL);
    else if (pp != NULL && !kr_str_in(pp, pps))
        kr_field_not_supported_str(v, "preemptionPolicy", pp, pps);
}

const kr_kind_hooks_t kr_hooks_priorityclass = {
    .defaults = priorityclass_defaults,
    .validate = priorityclass_validate,
};
