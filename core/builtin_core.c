/* The core v1 kinds other than Pod: defaults (pkg/apis/core/v1),
 * validation (pkg/apis/core/validation) and strategy details
 * (pkg/registry/core/<kind>/strategy.go). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/base64.h>

#include "builtin_internal.h"

#define MAX_SECRET_SIZE (1024 * 1024)

static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};

/* ---- base64 (Go's StdEncoding, as encoding/json does for []byte) ------- */

/* The decoded length of `s`, or -1 with *bad the offset Go names. */
static long base64_len(const char *s, size_t *bad)
{
    kr_buf_t out = KR_BUF_INIT;
    long n = kr_base64_decode(&out, s, strlen(s), KR_B64_STD, bad) == 0 ? (long)out.len : -1;
    kr_buf_free(&out);
    return n;
}

/* The data of a Secret or the binaryData of a ConfigMap: keys, base64 and
 * the decoded size (added to *total). */
static void validate_bytes_map(kr_validation_t *v, const kr_value_t *map, const char *path,
                               bool redact, size_t *total)
{
    for (size_t i = 0; i < kr_value_len(map); i++) {
        const char *key = kr_value_map_key(map, i);
        const char *kp = kr_fpk(v, path, key);
        kr_validate_rule(v, kr_config_map_key_errors, key, kp);
        const kr_value_t *val = kr_value_map_val(map, i);
        if (kr_value_type(val) == KR_NULL)
            continue;
        const char *s = kr_value_as_str(val);
        size_t bad = 0;
        long len = s ? base64_len(s, &bad) : -1;
        if (len < 0) {
            char detail[64];
            snprintf(detail, sizeof detail, "illegal base64 data at input byte %zu", bad);
            if (redact)
                kr_field_error_raw(v, KR_FIELD_INVALID, kp, "\"<secret contents redacted>\"",
                                   detail);
            else
                kr_field_invalid(v, kp, val, detail);
            continue;
        }
        *total += (size_t)len;
    }
}

static unsigned char *decoded(kr_arena_t *a, const kr_value_t *map, const char *key, long *len)
{
    size_t n = 0;
    unsigned char *out =
        (unsigned char *)kr_base64_decode_str(a, kr_value_map_str(map, key), KR_B64_STD, &n);
    *len = out != NULL ? (long)n : -1;
    return out;
}

/* ---- Namespace -------------------------------------------------------------- */

static void namespace_label(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *meta = kr_map_at(obj, "metadata");
    const char *name = kr_value_map_str(meta, "name");
    if (name == NULL || *name == '\0')
        return;
    kr_value_t *labels = kr_ensure_map(a, meta, "labels");
    if (labels != NULL)
        kr_value_map_set(a, labels, "kubernetes.io/metadata.name", kr_value_str(a, name));
}

static void namespace_defaults(kr_arena_t *a, kr_value_t *obj)
{
    namespace_label(a, obj);
    kr_default_str(a, kr_ensure_map(a, obj, "status"), "phase", "Active");
}

static void namespace_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    /* Canonicalize: the label follows a generated name too */
    namespace_label(a, obj);
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(a, st, "phase", kr_value_str(a, "Active"));
    kr_value_map_set(a, obj, "status", st);
    kr_value_t *spec = kr_ensure_map(a, obj, "spec");
    if (spec == NULL)
        return;
    kr_value_t *fins = kr_array_at(spec, "finalizers");
    if (fins == NULL) {
        fins = kr_value_array(a);
        kr_value_map_set(a, spec, "finalizers", fins);
    }
    bool has = false;
    for (size_t i = 0; i < kr_value_len(fins) && !has; i++) {
        const char *f = kr_value_as_str(kr_value_array_get(fins, i));
        has = f != NULL && strcmp(f, "kubernetes") == 0;
    }
    if (!has)
        kr_value_array_push(a, fins, kr_value_str(a, "kubernetes"));
}

static void namespace_prepare_update(kr_arena_t *a, kr_value_t *obj, const kr_value_t *old)
{
    /* spec.finalizers change only through the finalize subresource */
    kr_value_t *spec = kr_ensure_map(a, obj, "spec");
    const kr_value_t *of = kr_value_get(old, "spec.finalizers");
    if (spec != NULL) {
        if (of != NULL)
            kr_value_map_set(a, spec, "finalizers", kr_value_copy(a, of));
        else
            kr_value_map_del(spec, "finalizers");
    }
    namespace_label(a, obj);
}

static void namespace_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    if (old != NULL)
        kr_validate_object_meta(v, meta, kr_map_at(old, "metadata"), false, KR_NAME_DNS1123_LABEL);
    kr_validate_object_meta(v, meta, NULL, false, KR_NAME_DNS1123_LABEL);
    const kr_value_t *fins = kr_value_get(obj, "spec.finalizers");
    for (size_t i = 0; i < kr_value_len(fins); i++) {
        const char *f = kr_value_as_str(kr_value_array_get(fins, i));
        if (f == NULL)
            continue;
        kr_validate_qualified_name(v, f, "spec.finalizers");
        if (strchr(f, '/') == NULL && strcmp(f, "kubernetes") != 0 && strcmp(f, "orphan") != 0 &&
            strcmp(f, "foregroundDeletion") != 0)
            kr_field_invalid_str(v, "spec.finalizers", f,
                                 "name is neither a standard finalizer name nor is it fully "
                                 "qualified");
    }
}

static void namespace_validate_status(kr_validation_t *v, const kr_value_t *obj,
                                      const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    kr_validate_object_meta(v, meta, kr_map_at(old, "metadata"), false, KR_NAME_DNS1123_LABEL);
    const char *phase = kr_str_or_empty(kr_map_at(obj, "status"), "phase");
    if (kr_value_type(kr_value_map_get(meta, "deletionTimestamp")) == KR_NULL) {
        if (strcmp(phase, "Active") != 0)
            kr_field_invalid_str(v, "status.Phase", phase,
                                 "may only be 'Active' if `deletionTimestamp` is empty");
    } else if (strcmp(phase, "Terminating") != 0) {
        kr_field_invalid_str(v, "status.Phase", phase,
                             "may only be 'Terminating' if `deletionTimestamp` is not empty");
    }
}

const kr_kind_hooks_t kr_hooks_namespace = {
    .defaults = namespace_defaults,
    .prepare_create = namespace_prepare_create,
    .prepare_update = namespace_prepare_update,
    .validate = namespace_validate,
    .validate_status = namespace_validate_status,
};

/* ---- Node -------------------------------------------------------------------- */

static bool valid_cidr(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash[1] == '\0')
        return false;
    char ip[64];
    size_t n = (size_t)(slash - s);
    if (n >= sizeof ip)
        return false;
    memcpy(ip, s, n);
    ip[n] = '\0';
    unsigned char buf[16];
    int max = inet_pton(AF_INET, ip, buf) == 1 ? 32 : inet_pton(AF_INET6, ip, buf) == 1 ? 128 : -1;
    if (max < 0)
        return false;
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    return *end == '\0' && bits >= 0 && bits <= max && slash[1] >= '0' && slash[1] <= '9';
}

static void validate_cidr(kr_validation_t *v, const char *s, const char *path)
{
    if (!valid_cidr(s))
        kr_field_invalid_str(v, path, s,
                             "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
}

/* v1 <-> internal conversion of NodeSpec: podCIDRs wins when set, and
 * podCIDR is always its first entry; a podCIDR alone becomes podCIDRs. */
static void node_pod_cidr_fields(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *spec = kr_map_at(obj, "spec");
    kr_value_t *cidrs = kr_array_at(spec, "podCIDRs");
    const char *one = kr_str_or_empty(spec, "podCIDR");
    if (kr_value_len(cidrs) > 0) {
        const kr_value_t *first = kr_value_array_get(cidrs, 0);
        if (kr_value_type(first) == KR_STR)
            kr_value_map_set(a, spec, "podCIDR", kr_value_copy(a, first));
    } else if (*one) {
        cidrs = kr_value_array(a);
        kr_value_array_push(a, cidrs, kr_value_str(a, one));
        kr_value_map_set(a, spec, "podCIDRs", cidrs);
    }
}

static void node_defaults(kr_arena_t *a, kr_value_t *obj)
{
    node_pod_cidr_fields(a, obj);
    kr_value_t *st = kr_map_at(obj, "status");
    kr_value_t *cap = kr_map_at(st, "capacity");
    if (cap != NULL && kr_value_type(kr_value_map_get(st, "allocatable")) == KR_NULL)
        kr_value_map_set(a, st, "allocatable", kr_value_copy(a, cap));
    kr_resource_list_defaults(a, cap);
    kr_resource_list_defaults(a, kr_map_at(st, "allocatable"));
}

static void node_resources(kr_validation_t *v, const kr_value_t *obj)
{
    static const char *const lists[] = {"capacity", "allocatable"};
    for (size_t l = 0; l < 2; l++) {
        const kr_value_t *list = kr_map_at(kr_map_at(obj, "status"), lists[l]);
        for (size_t i = 0; i < kr_value_len(list); i++) {
            const char *name = kr_value_map_key(list, i);
            kr_quantity_t q;
            kr_validate_resource_quantity(v, name, kr_value_map_val(list, i),
                                          kr_arena_printf(v->arena, "status.%s.%s", lists[l], name),
                                          &q);
        }
    }
}

static void node_taints(kr_validation_t *v, const kr_value_t *taints)
{
    static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};
    for (size_t i = 0; i < kr_value_len(taints); i++) {
        const kr_value_t *t = kr_value_array_get(taints, i);
        /* upstream validates spec.taints under "metadata.taints" */
        const char *tp = kr_fpi(v, "metadata.taints", i);
        kr_validate_qualified_name(v, kr_str_or_empty(t, "key"), kr_fp(v, tp, "key"));
        kr_validate_label_value_joined(v, kr_str_or_empty(t, "value"), kr_fp(v, tp, "value"));
        const char *effect = kr_str_or_empty(t, "effect");
        if (*effect == '\0')
            kr_field_required(v, kr_fp(v, tp, "effect"), NULL);
        else if (!kr_str_in(effect, effects))
            kr_field_not_supported_str(v, kr_fp(v, tp, "effect"), effect, effects);
        for (size_t j = 0; j < i; j++) {
            const kr_value_t *o = kr_value_array_get(taints, j);
            if (strcmp(kr_str_or_empty(o, "key"), kr_str_or_empty(t, "key")) == 0 &&
                strcmp(kr_str_or_empty(o, "effect"), effect) == 0) {
                kr_field_error(v, KR_FIELD_DUPLICATE, tp, t,
                               "taints must be unique by key and effect pair");
                break;
            }
        }
    }
}

static void node_pod_cidrs(kr_validation_t *v, const kr_value_t *obj)
{
    const kr_value_t *cidrs = kr_value_get(obj, "spec.podCIDRs");
    if (kr_value_type(cidrs) != KR_ARRAY)
        return;
    bool v4 = false, v6 = false;
    for (size_t i = 0; i < kr_value_len(cidrs); i++) {
        const char *c = kr_value_as_str(kr_value_array_get(cidrs, i));
        c = c ? c : "";
        validate_cidr(v, c, kr_fpi(v, "spec.podCIDRs", i));
        if (strchr(c, ':'))
            v6 = true;
        else
            v4 = true;
        for (size_t j = 0; j < i; j++)
            if (kr_value_equal(kr_value_array_get(cidrs, i), kr_value_array_get(cidrs, j)))
                kr_field_duplicate(v, kr_fpi(v, "spec.podCIDRs", i), kr_value_array_get(cidrs, i));
    }
    if (kr_value_len(cidrs) > 1 && (kr_value_len(cidrs) > 2 || !v4 || !v6))
        kr_field_invalid(v, "spec.podCIDRs", cidrs,
                         "may specify no more than one CIDR for each IP family");
}

static void node_validate_update(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_object_meta(v, kr_map_at(obj, "metadata"), kr_map_at(old, "metadata"), false,
                            KR_NAME_DNS1123_SUBDOMAIN);
    node_resources(v, obj);
    const kr_value_t *addrs = kr_value_get(obj, "status.addresses");
    for (size_t i = 0; i < kr_value_len(addrs); i++)
        for (size_t j = 0; j < i; j++)
            if (kr_value_equal(kr_value_array_get(addrs, i), kr_value_array_get(addrs, j))) {
                kr_field_duplicate(v, kr_fpi(v, "status.addresses", i),
                                   kr_value_array_get(addrs, i));
                break;
            }
    /* the strategy runs ValidateNode too: the new CIDRs are checked */
    node_pod_cidrs(v, obj);
    /* "Allow the controller manager to assign a CIDR to a node if it
     * doesn't have one." */
    const kr_value_t *oc = kr_value_get(old, "spec.podCIDRs"),
                     *nc = kr_value_get(obj, "spec.podCIDRs");
    if (kr_value_len(oc) > 0) {
        bool changed = kr_value_len(oc) != kr_value_len(nc);
        for (size_t i = 0; i < kr_value_len(oc) && !changed; i++)
            changed = !kr_value_equal(kr_value_array_get(oc, i), kr_value_array_get(nc, i));
        if (changed)
            kr_field_forbidden(v, "spec.podCIDRs",
                               "node updates may not change podCIDR except from \"\" to valid");
    }
    const char *opid = kr_str_or_empty(kr_map_at(old, "spec"), "providerID");
    if (*opid && strcmp(opid, kr_str_or_empty(kr_map_at(obj, "spec"), "providerID")) != 0)
        kr_field_forbidden(v, "spec.providerID",
                           "node updates may not change providerID except from \"\" to valid");
    node_taints(v, kr_value_get(obj, "spec.taints"));
    if (strcmp(kr_str_or_empty(kr_map_at(old, "spec"), "externalID"),
               kr_str_or_empty(kr_map_at(obj, "spec"), "externalID")) != 0)
        kr_field_forbidden(v, "spec.externalID", "may not be updated");
}

static void node_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    if (old != NULL) {
        node_validate_update(v, obj, old);
        return;
    }
    kr_validate_object_meta(v, kr_map_at(obj, "metadata"), NULL, false, KR_NAME_DNS1123_SUBDOMAIN);
    node_taints(v, kr_value_get(obj, "spec.taints"));
    node_resources(v, obj);
    node_pod_cidrs(v, obj);
}

const kr_kind_hooks_t kr_hooks_node = {
    .defaults = node_defaults,
    .prepare_create = NULL, /* a node registers with its status */
    .prepare_update = NULL,
    .validate = node_validate,
    .validate_status = node_validate_update,
};

/* ---- Binding (pods/binding) ------------------------------------------------ */

static void binding_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    (void)old;
    const kr_value_t *target = kr_map_at(obj, "target");
    const char *kind = kr_str_or_empty(target, "kind");
    static const char *const kinds[] = {"Node", "<empty>", NULL};
    if (*kind && strcmp(kind, "Node") != 0)
        kr_field_not_supported_str(v, "target.kind", kind, kinds);
    if (*kr_str_or_empty(target, "name") == '\0')
        kr_field_required(v, "target.name", NULL);
}

const kr_kind_hooks_t kr_hooks_binding = {
    .validate = binding_validate,
};

/* ---- Event ------------------------------------------------------------------ */

static void event_defaults(kr_arena_t *a, kr_value_t *obj)
{
    /* fields v1 always prints (no omitempty on these) */
    kr_ensure_map(a, obj, "involvedObject");
    kr_ensure_map(a, obj, "source");
    static const char *const times[] = {"firstTimestamp", "lastTimestamp", "eventTime"};
    for (size_t i = 0; i < 3; i++)
        if (kr_value_map_get(obj, times[i]) == NULL)
            kr_value_map_set(a, obj, times[i], kr_value_null(a));
    kr_default_str(a, obj, "reportingComponent", "");
    kr_default_str(a, obj, "reportingInstance", "");
}

static void limited(kr_validation_t *v, const kr_value_t *obj, const char *key, size_t max,
                    bool required)
{
    size_t n = kr_value_len(kr_value_map_get(obj, key));
    if (required && n == 0)
        kr_field_required(v, key, NULL);
    if (n > max)
        kr_field_invalid_str(v, key, "",
                             kr_arena_printf(v->arena, "can have at most %zu characters", max));
}

/* legacyValidateEvent for a v1 request */
static void event_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    if (old != NULL)
        kr_validate_object_meta(v, meta, kr_map_at(old, "metadata"), true, KR_NAME_PATH_SEGMENT);
    else
        kr_validate_object_meta(v, meta, NULL, true, KR_NAME_PATH_SEGMENT);
    const char *ns = kr_str_or_empty(meta, "namespace");
    const char *ions = kr_str_or_empty(kr_map_at(obj, "involvedObject"), "namespace");
    if (kr_value_type(kr_value_map_get(obj, "eventTime")) == KR_NULL) {
        if (*ions == '\0') {
            if (*ns && strcmp(ns, "default") != 0)
                kr_field_invalid_str(v, "involvedObject.namespace", ions,
                                     "does not match event.namespace");
        } else if (strcmp(ns, ions) != 0) {
            kr_field_invalid_str(v, "involvedObject.namespace", ions,
                                 "does not match event.namespace");
        }
    } else {
        if (*ions == '\0' && strcmp(ns, "default") != 0 && strcmp(ns, "kube-system") != 0)
            kr_field_invalid_str(v, "involvedObject.namespace", ions,
                                 "does not match event.namespace");
        const char *rc = kr_str_or_empty(obj, "reportingComponent");
        if (*rc == '\0')
            kr_field_required(v, "reportingComponent", NULL);
        kr_validate_qualified_name(v, rc, "reportingComponent");
        limited(v, obj, "reportingInstance", 128, true);
        limited(v, obj, "action", 128, true);
        limited(v, obj, "reason", 128, true);
        limited(v, obj, "message", 1024, false);
    }
    kr_validate_dns1123_subdomain(v, ns, "namespace");
}

const kr_kind_hooks_t kr_hooks_event = {
    .defaults = event_defaults,
    .validate = event_validate,
};

/* ---- ConfigMap ------------------------------------------------------------------ */

static void immutable_data(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old,
                           const char *const *fields)
{
    if (!kr_value_as_bool(kr_value_map_get(old, "immutable"), false))
        return;
    static const char *const msg = "field is immutable when `immutable` is set";
    if (!kr_value_as_bool(kr_value_map_get(obj, "immutable"), false))
        kr_field_forbidden(v, "immutable", msg);
    for (size_t i = 0; fields[i] != NULL; i++) {
        const kr_value_t *n = kr_value_map_get(obj, fields[i]),
                         *o = kr_value_map_get(old, fields[i]);
        /* an empty map equals a missing one, as reflect.DeepEqual on nil
         * vs empty maps would not: compare what is stored */
        bool same = (kr_value_len(n) == 0 && kr_value_len(o) == 0) || kr_value_equal(n, o);
        if (!same)
            kr_field_forbidden(v, fields[i], msg);
    }
}

static void configmap_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    if (old != NULL) {
        kr_validate_object_meta(v, meta, kr_map_at(old, "metadata"), true,
                                KR_NAME_DNS1123_SUBDOMAIN);
        static const char *const fields[] = {"data", "binaryData", NULL};
        immutable_data(v, obj, old, fields);
    }
    kr_validate_object_meta(v, meta, NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *data = kr_map_at(obj, "data");
    const kr_value_t *bin = kr_map_at(obj, "binaryData");
    size_t total = 0;
    for (size_t i = 0; i < kr_value_len(data); i++) {
        const char *key = kr_value_map_key(data, i);
        const char *kp = kr_fpk(v, "data", key);
        kr_validate_rule(v, kr_config_map_key_errors, key, kp);
        if (kr_value_map_get(bin, key) != NULL)
            kr_field_invalid_str(v, kp, key, "duplicate of key present in binaryData");
        total += kr_value_len(kr_value_map_val(data, i));
    }
    validate_bytes_map(v, bin, "binaryData", false, &total);
    if (total > MAX_SECRET_SIZE)
        kr_field_too_long(v, "", MAX_SECRET_SIZE);
}

const kr_kind_hooks_t kr_hooks_configmap = {
    .validate = configmap_validate,
};

/* ---- Secret ------------------------------------------------------------------ */

static void secret_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_default_str(a, obj, "type", "Opaque");
    /* v1 conversion: stringData is written into data, then dropped */
    const kr_value_t *sd = kr_map_at(obj, "stringData");
    if (sd != NULL && kr_value_len(sd) > 0) {
        kr_value_t *data = kr_ensure_map(a, obj, "data");
        for (size_t i = 0; data != NULL && i < kr_value_len(sd); i++) {
            const char *s = kr_value_as_str(kr_value_map_val(sd, i));
            if (s == NULL)
                continue;
            kr_buf_t enc = KR_BUF_INIT;
            kr_base64_encode(&enc, s, strlen(s), KR_B64_STD);
            kr_value_map_set(a, data, kr_value_map_key(sd, i),
                             kr_value_strn(a, enc.data ? enc.data : "", enc.len));
            kr_buf_free(&enc);
        }
    }
    kr_value_map_del(obj, "stringData");
}

static void secret_type_rules(kr_validation_t *v, const kr_value_t *obj)
{
    const char *type = kr_str_or_empty(obj, "type");
    const kr_value_t *data = kr_map_at(obj, "data");
    const char *json_key = NULL;
    if (strcmp(type, "kubernetes.io/service-account-token") == 0) {
        const char *sa = kr_value_map_str(kr_value_get(obj, "metadata.annotations"),
                                          "kubernetes.io/service-account.name");
        if (sa == NULL || *sa == '\0')
            kr_field_required(v, "metadata.annotations[kubernetes.io/service-account.name]", NULL);
    } else if (strcmp(type, "kubernetes.io/dockercfg") == 0) {
        json_key = ".dockercfg";
    } else if (strcmp(type, "kubernetes.io/dockerconfigjson") == 0) {
        json_key = ".dockerconfigjson";
    } else if (strcmp(type, "kubernetes.io/basic-auth") == 0) {
        if (kr_value_map_get(data, "username") == NULL &&
            kr_value_map_get(data, "password") == NULL) {
            kr_field_required(v, "data[username]", NULL);
            kr_field_required(v, "data[password]", NULL);
        }
    } else if (strcmp(type, "kubernetes.io/ssh-auth") == 0) {
        if (kr_value_len(kr_value_map_get(data, "ssh-privatekey")) == 0)
            kr_field_required(v, "data[ssh-privatekey]", NULL);
    } else if (strcmp(type, "kubernetes.io/tls") == 0) {
        if (kr_value_map_get(data, "tls.crt") == NULL)
            kr_field_required(v, "data[tls.crt]", NULL);
        if (kr_value_map_get(data, "tls.key") == NULL)
            kr_field_required(v, "data[tls.key]", NULL);
    }
    if (json_key == NULL)
        return;
    const char *path = kr_fpk(v, "data", json_key);
    if (kr_value_map_get(data, json_key) == NULL) {
        kr_field_required(v, path, NULL);
        return;
    }
    long len;
    unsigned char *bytes = decoded(v->arena, data, json_key, &len);
    if (bytes == NULL)
        return; /* the base64 error is reported already */
    kr_value_t *parsed = NULL;
    kr_error_t err;
    if (kr_json_decode(v->arena, (const char *)bytes, (size_t)len, &parsed, &err) < 0)
        kr_field_error_raw(v, KR_FIELD_INVALID, path, "\"<secret contents redacted>\"",
                           err.message);
    else if (kr_value_type(parsed) != KR_MAP)
        kr_field_error(v, KR_FIELD_INVALID, path,
                       kr_value_str(v->arena, "<secret contents redacted>"),
                       "json: cannot unmarshal %s into Go value of type map[string]interface {}",
                       kr_value_type(parsed) == KR_ARRAY  ? "array"
                       : kr_value_type(parsed) == KR_STR  ? "string"
                       : kr_value_type(parsed) == KR_BOOL ? "bool"
                       : kr_value_type(parsed) == KR_NULL ? "null"
                                                          : "number");
}

static void secret_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    if (old != NULL) {
        kr_validate_object_meta(v, meta, kr_map_at(old, "metadata"), true,
                                KR_NAME_DNS1123_SUBDOMAIN);
        kr_validate_immutable(v, kr_value_map_get(obj, "type"), kr_value_map_get(old, "type"),
                              "type");
        static const char *const fields[] = {"data", NULL};
        immutable_data(v, obj, old, fields);
    }
    kr_validate_object_meta(v, meta, NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    size_t total = 0;
    validate_bytes_map(v, kr_map_at(obj, "data"), "data", true, &total);
    if (total > MAX_SECRET_SIZE)
        kr_field_too_long(v, "data", MAX_SECRET_SIZE);
    secret_type_rules(v, obj);
}

const kr_kind_hooks_t kr_hooks_secret = {
    .defaults = secret_defaults,
    .validate = secret_validate,
};

/* ---- ServiceAccount ------------------------------------------------------------- */

static void serviceaccount_validate(kr_validation_t *v, const kr_value_t *obj,
                                    const kr_value_t *old)
{
    kr_validate_meta_again(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
}

const kr_kind_hooks_t kr_hooks_serviceaccount = {
    .validate = serviceaccount_validate,
};

/* ---- Endpoints -------------------------------------------------------------------- */

void kr_validate_endpoint_ip(kr_validation_t *v, const char *ip, const char *path)
{
    unsigned char b[16];
    if (inet_pton(AF_INET, ip, b) == 1) {
        if ((b[0] | b[1] | b[2] | b[3]) == 0)
            kr_field_invalid_str(v, path, ip,
                                 kr_arena_printf(v->arena, "may not be unspecified (%s)", ip));
        if (b[0] == 127)
            kr_field_invalid_str(v, path, ip,
                                 "may not be in the loopback range (127.0.0.0/8, ::1/128)");
        if (b[0] == 169 && b[1] == 254)
            kr_field_invalid_str(v, path, ip,
                                 "may not be in the link-local range (169.254.0.0/16, fe80::/10)");
        if (b[0] == 224 && b[1] == 0 && b[2] == 0)
            kr_field_invalid_str(v, path, ip,
                                 "may not be in the link-local multicast range (224.0.0.0/24, "
                                 "ff02::/10)");
    } else if (inet_pton(AF_INET6, ip, b) == 1) {
        static const unsigned char zero[16], loop[16] = {[15] = 1};
        if (memcmp(b, zero, 16) == 0)
            kr_field_invalid_str(v, path, ip,
                                 kr_arena_printf(v->arena, "may not be unspecified (%s)", ip));
        if (memcmp(b, loop, 16) == 0)
            kr_field_invalid_str(v, path, ip,
                                 "may not be in the loopback range (127.0.0.0/8, ::1/128)");
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
            kr_field_invalid_str(v, path, ip,
                                 "may not be in the link-local range (169.254.0.0/16, fe80::/10)");
        if (b[0] == 0xff && (b[1] & 0x0f) == 0x02)
            kr_field_invalid_str(v, path, ip,
                                 "may not be in the link-local multicast range (224.0.0.0/24, "
                                 "ff02::/10)");
    } else {
        kr_field_invalid_str(v, path, ip, "must be a valid IP address");
    }
}

static void endpoints_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *subsets = kr_array_at(obj, "subsets");
    for (size_t i = 0; i < kr_value_len(subsets); i++) {
        kr_value_t *ports = kr_array_at(kr_value_array_get(subsets, i), "ports");
        for (size_t j = 0; j < kr_value_len(ports); j++)
            kr_default_str(a, kr_value_array_get(ports, j), "protocol", "TCP");
    }
}

static void endpoint_address(kr_validation_t *v, const kr_value_t *addr, const char *path)
{
    const char *ip = kr_str_or_empty(addr, "ip");
    kr_validate_ip(v, ip, kr_fp(v, path, "ip"));
    const char *host = kr_str_or_empty(addr, "hostname");
    if (*host)
        kr_validate_dns1123_label(v, host, kr_fp(v, path, "hostname"));
    const char *node = kr_value_map_str(addr, "nodeName");
    if (node != NULL)
        kr_validate_dns1123_subdomain(v, node, kr_fp(v, path, "nodeName"));
    kr_validate_endpoint_ip(v, ip, kr_fp(v, path, "ip"));
}

void kr_validate_endpoint_protocol(kr_validation_t *v, const kr_value_t *p, const char *path)
{
    const char *proto = kr_str_or_empty(p, "protocol");
    if (*proto == '\0')
        kr_field_required(v, kr_fp(v, path, "protocol"), NULL);
    else if (!kr_str_in(proto, protocols))
        kr_field_not_supported_str(v, kr_fp(v, path, "protocol"), proto, protocols);
    const char *ap = kr_value_map_str(p, "appProtocol");
    if (ap != NULL)
        kr_validate_qualified_name(v, ap, kr_fp(v, path, "appProtocol"));
}

static void endpoint_port(kr_validation_t *v, const kr_value_t *p, bool require_name,
                          const char *path)
{
    const char *name = kr_str_or_empty(p, "name");
    if (require_name && *name == '\0')
        kr_field_required(v, kr_fp(v, path, "name"), NULL);
    else if (*name)
        kr_validate_dns1123_label(v, name, kr_fp(v, path, "name"));
    kr_validate_port_num(v, kr_value_map_get(p, "port"), kr_fp(v, path, "port"));
    kr_validate_endpoint_protocol(v, p, path);
}

static void endpoints_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    kr_validate_meta_again(v, obj, old, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *subsets = kr_array_at(obj, "subsets");
    for (size_t i = 0; i < kr_value_len(subsets); i++) {
        const kr_value_t *ss = kr_value_array_get(subsets, i);
        const char *sp = kr_fpi(v, "subsets", i);
        const kr_value_t *addrs = kr_array_at(ss, "addresses");
        const kr_value_t *nr = kr_array_at(ss, "notReadyAddresses");
        if (kr_value_len(addrs) == 0 && kr_value_len(nr) == 0)
            kr_field_required(v, sp, "must specify `addresses` or `notReadyAddresses`");
        for (size_t j = 0; j < kr_value_len(addrs); j++)
            endpoint_address(v, kr_value_array_get(addrs, j),
                             kr_fpi(v, kr_fp(v, sp, "addresses"), j));
        for (size_t j = 0; j < kr_value_len(nr); j++)
            endpoint_address(v, kr_value_array_get(nr, j),
                             kr_fpi(v, kr_fp(v, sp, "notReadyAddresses"), j));
        const kr_value_t *ports = kr_array_at(ss, "ports");
        for (size_t j = 0; j < kr_value_len(ports); j++)
            endpoint_port(v, kr_value_array_get(ports, j), kr_value_len(ports) > 1,
                          kr_fpi(v, kr_fp(v, sp, "ports"), j));
    }
}

const kr_kind_hooks_t kr_hooks_endpoints = {
    .defaults = endpoints_defaults,
    .validate = endpoints_validate,
};

/* ---- Service ---------------------------------------------------------------------- */

static bool svc_type_is(const kr_value_t *spec, const char *t)
{
    return strcmp(kr_str_or_empty(spec, "type"), t) == 0;
}

/* apiservice.ExternallyAccessible */
static bool externally_accessible(const kr_value_t *spec)
{
    return svc_type_is(spec, "LoadBalancer") || svc_type_is(spec, "NodePort") ||
           (svc_type_is(spec, "ClusterIP") && kr_value_len(kr_array_at(spec, "externalIPs")) > 0);
}

static bool needs_node_port(const kr_value_t *spec)
{
    return svc_type_is(spec, "NodePort") || svc_type_is(spec, "LoadBalancer");
}

/* apiservice.NeedsHealthCheck */
static bool needs_health_check(const kr_value_t *spec)
{
    return svc_type_is(spec, "LoadBalancer") &&
           strcmp(kr_str_or_empty(spec, "externalTrafficPolicy"), "Local") == 0;
}

static bool is_headless(const kr_value_t *spec)
{
    const kr_value_t *ips = kr_array_at(spec, "clusterIPs");
    return kr_value_len(ips) == 1 && strcmp(kr_value_as_str(kr_value_array_get(ips, 0))
                                                ? kr_value_as_str(kr_value_array_get(ips, 0))
                                                : "",
                                            "None") == 0;
}

static void service_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *spec = kr_ensure_map(a, obj, "spec");
    if (spec == NULL)
        return;
    kr_default_str(a, spec, "sessionAffinity", "None");
    const char *aff = kr_str_or_empty(spec, "sessionAffinity");
    if (strcmp(aff, "None") == 0) {
        kr_value_map_del(spec, "sessionAffinityConfig");
    } else if (strcmp(aff, "ClientIP") == 0 &&
               kr_value_type(kr_value_get(spec, "sessionAffinityConfig.clientIP.timeoutSeconds")) ==
                   KR_NULL) {
        kr_value_t *cfg = kr_value_map(a), *cip = kr_value_map(a);
        kr_value_map_set(a, cip, "timeoutSeconds", kr_value_int(a, 10800));
        kr_value_map_set(a, cfg, "clientIP", cip);
        kr_value_map_set(a, spec, "sessionAffinityConfig", cfg);
    }
    kr_default_str(a, spec, "type", "ClusterIP");
    kr_value_t *ports = kr_array_at(spec, "ports");
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        kr_value_t *p = kr_value_array_get(ports, i);
        if (kr_value_type(p) != KR_MAP)
            continue;
        kr_default_str(a, p, "protocol", "TCP");
        const kr_value_t *tp = kr_value_map_get(p, "targetPort");
        const kr_value_t *port = kr_value_map_get(p, "port");
        if ((kr_value_type(tp) == KR_NULL ||
             (kr_value_type(tp) == KR_INT && kr_value_as_int(tp, 1) == 0) ||
             (kr_value_type(tp) == KR_STR && kr_value_len(tp) == 0)) &&
            kr_value_type(port) == KR_INT)
            kr_value_map_set(a, p, "targetPort", kr_value_copy(a, port));
    }
    if (externally_accessible(spec))
        kr_default_str(a, spec, "externalTrafficPolicy", "Cluster");
    if (svc_type_is(spec, "NodePort") || svc_type_is(spec, "LoadBalancer") ||
        svc_type_is(spec, "ClusterIP"))
        kr_default_str(a, spec, "internalTrafficPolicy", "Cluster");
    if (svc_type_is(spec, "LoadBalancer")) {
        kr_default_bool(a, spec, "allocateLoadBalancerNodePorts", true);
        kr_value_t *ing = kr_array_at(kr_value_get(obj, "status.loadBalancer"), "ingress");
        for (size_t i = 0; i < kr_value_len(ing); i++) {
            kr_value_t *in = kr_value_array_get(ing, i);
            if (*kr_str_or_empty(in, "ip"))
                kr_default_str(a, in, "ipMode", "VIP");
        }
    }
}

/* The IP family fields the allocator would settle on a single-stack IPv4
 * cluster (registry/core/service/ipallocator: initIPFamilyFields). */
static void service_ip_families(kr_arena_t *a, kr_value_t *spec)
{
    if (svc_type_is(spec, "ExternalName"))
        return;
    bool headless_selectorless = strcmp(kr_str_or_empty(spec, "clusterIP"), "None") == 0 &&
                                 kr_value_len(kr_map_at(spec, "selector")) == 0;
    kr_default_str(a, spec, "ipFamilyPolicy",
                   headless_selectorless ? "RequireDualStack" : "SingleStack");
    kr_value_t *fams = kr_array_at(spec, "ipFamilies");
    if (fams == NULL || kr_value_len(fams) == 0) {
        fams = kr_value_array(a);
        kr_value_array_push(a, fams, kr_value_str(a, "IPv4"));
        kr_value_map_set(a, spec, "ipFamilies", fams);
    }
    if (headless_selectorless && kr_value_len(fams) == 1 &&
        strcmp(kr_str_or_empty(spec, "ipFamilyPolicy"), "SingleStack") != 0) {
        const char *f = kr_value_as_str(kr_value_array_get(fams, 0));
        kr_value_array_push(a, fams,
                            kr_value_str(a, f && strcmp(f, "IPv6") == 0 ? "IPv4" : "IPv6"));
    }
}

static void service_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(a, st, "loadBalancer", kr_value_map(a));
    kr_value_map_set(a, obj, "status", st);
    kr_value_t *spec = kr_map_at(obj, "spec");
    if (spec == NULL)
        return;
    /* NormalizeClusterIPs: an old client's clusterIP fills clusterIPs */
    const char *cip = kr_str_or_empty(spec, "clusterIP");
    if (*cip && kr_value_len(kr_array_at(spec, "clusterIPs")) == 0) {
        kr_value_t *ips = kr_value_array(a);
        kr_value_array_push(a, ips, kr_value_str(a, cip));
        kr_value_map_set(a, spec, "clusterIPs", ips);
    }
    service_ip_families(a, spec);
}

static void copy_field(kr_arena_t *a, kr_value_t *to, const kr_value_t *from, const char *key)
{
    const kr_value_t *x = kr_value_map_get(from, key);
    if (x != NULL)
        kr_value_map_set(a, to, key, kr_value_copy(a, x));
    else
        kr_value_map_del(to, key);
}

static bool same_field(const kr_value_t *x, const kr_value_t *y, const char *key)
{
    const kr_value_t *a = kr_value_map_get(x, key), *b = kr_value_map_get(y, key);
    return kr_value_equal(a, b) || (kr_value_type(a) == KR_NULL && kr_value_type(b) == KR_NULL);
}

static void service_prepare_update(kr_arena_t *a, kr_value_t *obj, const kr_value_t *old)
{
    kr_value_t *spec = kr_map_at(obj, "spec");
    const kr_value_t *ospec = kr_map_at(old, "spec");
    if (spec == NULL || ospec == NULL)
        return;
    bool old_needs_ip = !svc_type_is(ospec, "ExternalName");
    bool new_needs_ip = !svc_type_is(spec, "ExternalName");
    /* patchAllocatedValues: a client that omits what the server allocated
     * keeps it */
    if (old_needs_ip && new_needs_ip) {
        if (*kr_str_or_empty(spec, "clusterIP") == '\0')
            copy_field(a, spec, ospec, "clusterIP");
        if (kr_value_len(kr_array_at(spec, "clusterIPs")) == 0 &&
            kr_value_len(kr_array_at(ospec, "clusterIPs")) > 0)
            copy_field(a, spec, ospec, "clusterIPs");
        if (kr_value_type(kr_value_map_get(spec, "ipFamilies")) == KR_NULL)
            copy_field(a, spec, ospec, "ipFamilies");
        if (kr_value_type(kr_value_map_get(spec, "ipFamilyPolicy")) == KR_NULL)
            copy_field(a, spec, ospec, "ipFamilyPolicy");
    }
    if (needs_node_port(ospec) && needs_node_port(spec)) {
        kr_value_t *ports = kr_array_at(spec, "ports");
        const kr_value_t *oports = kr_array_at(ospec, "ports");
        for (size_t i = 0; i < kr_value_len(ports); i++) {
            kr_value_t *p = kr_value_array_get(ports, i);
            if (kr_value_as_int(kr_value_map_get(p, "nodePort"), 0) != 0)
                continue;
            for (size_t j = 0; j < kr_value_len(oports); j++) {
                const kr_value_t *op = kr_value_array_get(oports, j);
                if (strcmp(kr_str_or_empty(op, "name"), kr_str_or_empty(p, "name")) != 0)
                    continue;
                int64_t np = kr_value_as_int(kr_value_map_get(op, "nodePort"), 0);
                bool used = false;
                for (size_t k = 0; k < kr_value_len(ports) && !used; k++)
                    used = kr_value_as_int(
                               kr_value_map_get(kr_value_array_get(ports, k), "nodePort"), 0) == np;
                if (np != 0 && !used)
                    kr_value_map_set(a, p, "nodePort", kr_value_int(a, np));
                break;
            }
        }
    }
    if (needs_health_check(ospec) && needs_health_check(spec) &&
        kr_value_as_int(kr_value_map_get(spec, "healthCheckNodePort"), 0) == 0)
        copy_field(a, spec, ospec, "healthCheckNodePort");
    /* NormalizeClusterIPs */
    const char *nip = kr_str_or_empty(spec, "clusterIP"),
               *oip = kr_str_or_empty(ospec, "clusterIP");
    if (kr_value_len(kr_array_at(ospec, "clusterIPs")) > 0 &&
        kr_value_len(kr_array_at(spec, "clusterIPs")) == 0 && strcmp(nip, oip) == 0)
        copy_field(a, spec, ospec, "clusterIPs");
    if (strcmp(nip, oip) != 0 && same_field(spec, ospec, "clusterIPs")) {
        if (*oip && *nip == '\0') {
            kr_value_map_del(spec, "clusterIPs");
        } else {
            kr_value_t *ips = kr_value_array(a);
            kr_value_array_push(a, ips, kr_value_str(a, nip));
            kr_value_map_set(a, spec, "clusterIPs", ips);
        }
    }
    /* dropTypeDependentFields */
    if (old_needs_ip && !new_needs_ip) {
        if (same_field(spec, ospec, "clusterIPs")) {
            kr_value_map_del(spec, "clusterIP");
            kr_value_map_del(spec, "clusterIPs");
        }
        if (same_field(spec, ospec, "ipFamilies"))
            kr_value_map_del(spec, "ipFamilies");
        if (same_field(spec, ospec, "ipFamilyPolicy"))
            kr_value_map_del(spec, "ipFamilyPolicy");
    }
    if (needs_node_port(ospec) && !needs_node_port(spec)) {
        kr_value_t *ports = kr_array_at(spec, "ports");
        const kr_value_t *oports = kr_array_at(ospec, "ports");
        bool same = kr_value_len(ports) == kr_value_len(oports);
        for (size_t i = 0; i < kr_value_len(ports) && same; i++)
            same = kr_value_as_int(kr_value_map_get(kr_value_array_get(ports, i), "nodePort"), 0) ==
                   kr_value_as_int(kr_value_map_get(kr_value_array_get(oports, i), "nodePort"), 0);
        for (size_t i = 0; same && i < kr_value_len(ports); i++)
            kr_value_map_del(kr_value_array_get(ports, i), "nodePort");
    }
    if (needs_health_check(ospec) && !needs_health_check(spec) &&
        same_field(spec, ospec, "healthCheckNodePort"))
        kr_value_map_del(spec, "healthCheckNodePort");
    if (svc_type_is(ospec, "LoadBalancer") && !svc_type_is(spec, "LoadBalancer")) {
        if (same_field(spec, ospec, "allocateLoadBalancerNodePorts"))
            kr_value_map_del(spec, "allocateLoadBalancerNodePorts");
        if (same_field(spec, ospec, "loadBalancerClass"))
            kr_value_map_del(spec, "loadBalancerClass");
    }
    if (externally_accessible(ospec) && !externally_accessible(spec) &&
        same_field(spec, ospec, "externalTrafficPolicy"))
        kr_value_map_del(spec, "externalTrafficPolicy");
    if (!svc_type_is(spec, "LoadBalancer")) {
        kr_value_t *st = kr_ensure_map(a, obj, "status");
        if (st != NULL)
            kr_value_map_set(a, st, "loadBalancer", kr_value_map(a));
    }
}

/* core.ServicePort{...} as Go's %#v prints the duplicate key upstream. */
static const char *service_port_key(kr_validation_t *v, const char *proto, int64_t port)
{
    return kr_arena_printf(
        v->arena,
        "core.ServicePort{Name:\"\", Protocol:\"%s\", AppProtocol:(*string)(nil), "
        "Port:%" PRId64 ", TargetPort:intstr.IntOrString{Type:0, IntVal:0, "
        "StrVal:\"\"}, NodePort:0}",
        proto, port);
}

static void service_ports(kr_validation_t *v, const kr_value_t *spec)
{
    const kr_value_t *ports = kr_array_at(spec, "ports");
    kr_value_t *names = kr_value_map(v->arena);
    bool require_name = kr_value_len(ports) > 1;
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        const kr_value_t *p = kr_value_array_get(ports, i);
        const char *pp = kr_fpi(v, "spec.ports", i);
        const char *name = kr_str_or_empty(p, "name");
        if (require_name && *name == '\0') {
            kr_field_required(v, kr_fp(v, pp, "name"), NULL);
        } else if (*name) {
            kr_validate_dns1123_label(v, name, kr_fp(v, pp, "name"));
            if (kr_value_map_get(names, name) != NULL)
                kr_field_duplicate(v, kr_fp(v, pp, "name"), kr_value_map_get(p, "name"));
            else
                kr_value_map_set(v->arena, names, name, kr_value_bool(v->arena, true));
        }
        const kr_value_t *port = kr_value_map_get(p, "port");
        kr_validate_port_num(v, port ? port : kr_value_int(v->arena, 0), kr_fp(v, pp, "port"));
        const char *proto = kr_str_or_empty(p, "protocol");
        if (*proto == '\0')
            kr_field_required(v, kr_fp(v, pp, "protocol"), NULL);
        else if (!kr_str_in(proto, protocols))
            kr_field_not_supported_str(v, kr_fp(v, pp, "protocol"), proto, protocols);
        kr_validate_port_num_or_name(v, kr_value_map_get(p, "targetPort"),
                                     kr_fp(v, pp, "targetPort"));
        const char *ap = kr_value_map_str(p, "appProtocol");
        if (ap != NULL)
            kr_validate_qualified_name(v, ap, kr_fp(v, pp, "appProtocol"));
    }
    if (svc_type_is(spec, "ClusterIP"))
        for (size_t i = 0; i < kr_value_len(ports); i++)
            if (kr_value_as_int(kr_value_map_get(kr_value_array_get(ports, i), "nodePort"), 0) != 0)
                kr_field_forbidden(v, kr_fp(v, kr_fpi(v, "spec.ports", i), "nodePort"),
                                   "may not be used when `type` is 'ClusterIP'");
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        const kr_value_t *p = kr_value_array_get(ports, i);
        const char *proto = kr_str_or_empty(p, "protocol");
        int64_t np = kr_value_as_int(kr_value_map_get(p, "nodePort"), 0);
        int64_t port = kr_value_as_int(kr_value_map_get(p, "port"), 0);
        bool dup_np = false, dup_port = false;
        for (size_t j = 0; j < i; j++) {
            const kr_value_t *q = kr_value_array_get(ports, j);
            if (strcmp(kr_str_or_empty(q, "protocol"), proto) != 0)
                continue;
            if (np != 0 && kr_value_as_int(kr_value_map_get(q, "nodePort"), 0) == np)
                dup_np = true;
            if (kr_value_as_int(kr_value_map_get(q, "port"), 0) == port)
                dup_port = true;
        }
        if (dup_np)
            kr_field_duplicate(v, kr_fp(v, kr_fpi(v, "spec.ports", i), "nodePort"),
                               kr_value_map_get(p, "nodePort"));
        if (dup_port)
            kr_field_error_raw(v, KR_FIELD_DUPLICATE, kr_fpi(v, "spec.ports", i),
                               service_port_key(v, proto, port), NULL);
    }
}

static void service_cluster_ips(kr_validation_t *v, const kr_value_t *spec)
{
    if (svc_type_is(spec, "ExternalName"))
        return;
    const char *cip = kr_str_or_empty(spec, "clusterIP");
    const kr_value_t *ips = kr_array_at(spec, "clusterIPs");
    size_t n = kr_value_len(ips);
    if (*cip) {
        if (n == 0)
            kr_field_required(v, "spec.clusterIPs", NULL);
        else if (strcmp(kr_value_as_str(kr_value_array_get(ips, 0))
                            ? kr_value_as_str(kr_value_array_get(ips, 0))
                            : "",
                        cip) != 0)
            kr_field_invalid(v, "spec.clusterIPs", ips, "first value must match `clusterIP`");
    } else if (n != 0) {
        kr_field_invalid(v, "spec.clusterIPs", ips,
                         "must be empty when `clusterIP` is not specified");
    }
    static const char *const families[] = {"IPv4", "IPv6", NULL};
    const kr_value_t *fams = kr_array_at(spec, "ipFamilies");
    for (size_t i = 0; i < kr_value_len(fams); i++) {
        const char *f = kr_value_as_str(kr_value_array_get(fams, i));
        f = f ? f : "";
        const char *fp = kr_fpi(v, "spec.ipFamilies", i);
        if (!kr_str_in(f, families))
            kr_field_not_supported_str(v, fp, f, families);
        for (size_t j = 0; j < i; j++)
            if (kr_value_equal(kr_value_array_get(fams, i), kr_value_array_get(fams, j)))
                kr_field_duplicate(v, fp, kr_value_array_get(fams, i));
    }
    const char *pol = kr_value_map_str(spec, "ipFamilyPolicy");
    static const char *const policies[] = {"PreferDualStack", "RequireDualStack", "SingleStack",
                                           NULL};
    if (pol != NULL && !kr_str_in(pol, policies))
        kr_field_not_supported_str(v, "spec.ipFamilyPolicy", pol, policies);
    bool invalid = false;
    for (size_t i = 0; i < n; i++) {
        const char *ip = kr_value_as_str(kr_value_array_get(ips, i));
        ip = ip ? ip : "";
        if (i == 0 && strcmp(ip, "None") == 0) {
            if (n > 1) {
                invalid = true;
                kr_field_invalid(v, "spec.clusterIPs", ips,
                                 "'None' must be the first and only value");
            }
            continue;
        }
        if (!kr_is_ip(ip)) {
            invalid = true;
            kr_validate_ip(v, ip, kr_fpi(v, "spec.clusterIPs", i));
        }
    }
    if (n > 2)
        kr_field_invalid(v, "spec.clusterIPs", ips, "may only hold up to 2 values");
    if (invalid)
        return;
    if (n > 1) {
        const char *a = kr_value_as_str(kr_value_array_get(ips, 0));
        const char *b = kr_value_as_str(kr_value_array_get(ips, 1));
        if (n > 2 || kr_is_ipv6(a) == kr_is_ipv6(b))
            kr_field_invalid(v, "spec.clusterIPs", ips,
                             "may specify no more than one IP for each IP family");
    }
    if (!is_headless(spec) && n > 0) {
        for (size_t i = 0; i < n && i < kr_value_len(fams); i++) {
            const char *ip = kr_value_as_str(kr_value_array_get(ips, i));
            const char *f = kr_value_as_str(kr_value_array_get(fams, i));
            if (f == NULL || ip == NULL)
                continue;
            if (strcmp(f, "IPv4") == 0 && kr_is_ipv6(ip))
                kr_field_invalid_str(
                    v, kr_fpi(v, "spec.clusterIPs", i), ip,
                    kr_arena_printf(v->arena,
                                    "expected an IPv4 value as indicated by `ipFamilies[%zu]`", i));
            if (strcmp(f, "IPv6") == 0 && !kr_is_ipv6(ip))
                kr_field_invalid_str(
                    v, kr_fpi(v, "spec.clusterIPs", i), ip,
                    kr_arena_printf(v->arena,
                                    "expected an IPv6 value as indicated by `ipFamilies[%zu]`", i));
        }
    }
}

static void service_validate_spec(kr_validation_t *v, const kr_value_t *obj)
{
    const kr_value_t *spec = kr_map_at(obj, "spec");
    const char *type = kr_str_or_empty(spec, "type");
    bool headless = is_headless(spec);
    if (kr_value_len(kr_array_at(spec, "ports")) == 0 && !headless &&
        strcmp(type, "ExternalName") != 0)
        kr_field_required(v, "spec.ports", NULL);
    if ((strcmp(type, "LoadBalancer") == 0 || strcmp(type, "NodePort") == 0) && headless)
        kr_field_invalid_str(v, "spec.clusterIPs[0]", "None",
                             strcmp(type, "LoadBalancer") == 0
                                 ? "may not be set to 'None' for LoadBalancer services"
                                 : "may not be set to 'None' for NodePort services");
    if (strcmp(type, "ExternalName") == 0) {
        if (kr_value_len(kr_array_at(spec, "clusterIPs")) > 0)
            kr_field_forbidden(v, "spec.clusterIPs", "may not be set for ExternalName services");
        if (kr_value_len(kr_array_at(spec, "ipFamilies")) > 0)
            kr_field_forbidden(v, "spec.ipFamilies", "may not be set for ExternalName services");
        if (kr_value_type(kr_value_map_get(spec, "ipFamilyPolicy")) != KR_NULL)
            kr_field_forbidden(v, "spec.ipFamilyPolicy",
                               "may not be set for ExternalName services");
        char *cname = kr_arena_strdup(v->arena, kr_str_or_empty(spec, "externalName"));
        size_t n = strlen(cname);
        if (n > 0 && cname[n - 1] == '.')
            cname[--n] = '\0';
        if (n > 0)
            kr_validate_dns1123_subdomain(v, cname, "spec.externalName");
        else
            kr_field_required(v, "spec.externalName", NULL);
    }
    service_ports(v, spec);
    kr_validate_labels(v, kr_value_map_get(spec, "selector"), "spec.selector");
    static const char *const affinities[] = {"ClientIP", "None", NULL};
    const char *aff = kr_str_or_empty(spec, "sessionAffinity");
    if (*aff == '\0')
        kr_field_required(v, "spec.sessionAffinity", NULL);
    else if (!kr_str_in(aff, affinities))
        kr_field_not_supported_str(v, "spec.sessionAffinity", aff, affinities);
    if (strcmp(aff, "ClientIP") == 0) {
        const kr_value_t *cfg = kr_map_at(spec, "sessionAffinityConfig");
        const kr_value_t *cip = kr_map_at(cfg, "clientIP");
        const kr_value_t *ts = kr_value_map_get(cip, "timeoutSeconds");
        const char *msg = "when session affinity type is ClientIP";
        if (cfg == NULL)
            kr_field_required(v, "spec.sessionAffinityConfig", msg);
        else if (cip == NULL)
            kr_field_required(v, "spec.sessionAffinityConfig.clientIP", msg);
        else if (kr_value_type(ts) == KR_NULL)
            kr_field_required(v, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", msg);
        else if (kr_value_as_int(ts, 0) <= 0 || kr_value_as_int(ts, 0) > 86400)
            kr_field_invalid(v, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", ts,
                             "must be greater than 0 and less than 86400");
    } else if (strcmp(aff, "None") == 0 &&
               kr_value_map_get(spec, "sessionAffinityConfig") != NULL) {
        kr_field_forbidden(v, "spec.sessionAffinityConfig",
                           "must not be set when session affinity is None");
    }
    service_cluster_ips(v, spec);
    const kr_value_t *eips = kr_array_at(spec, "externalIPs");
    for (size_t i = 0; i < kr_value_len(eips); i++) {
        const char *ip = kr_value_as_str(kr_value_array_get(eips, i));
        ip = ip ? ip : "";
        const char *ep = kr_fpi(v, "spec.externalIPs", i);
        if (!kr_is_ip(ip))
            kr_validate_ip(v, ip, ep);
        else
            kr_validate_endpoint_ip(v, ip, ep);
    }
    static const char *const types[] = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort",
                                        NULL};
    if (*type == '\0')
        kr_field_required(v, "spec.type", NULL);
    else if (!kr_str_in(type, types))
        kr_field_not_supported_str(v, "spec.type", type, types);
    bool lb = strcmp(type, "LoadBalancer") == 0;
    const kr_value_t *ranges = kr_array_at(spec, "loadBalancerSourceRanges");
    if (kr_value_len(ranges) > 0) {
        if (!lb)
            kr_field_forbidden(v, "spec.LoadBalancerSourceRanges",
                               "may only be used when `type` is 'LoadBalancer'");
        for (size_t i = 0; i < kr_value_len(ranges); i++) {
            const char *r = kr_value_as_str(kr_value_array_get(ranges, i));
            char *t = kr_arena_strdup(v->arena, r ? r : "");
            while (*t == ' ')
                t++;
            size_t n = strlen(t);
            while (n > 0 && t[n - 1] == ' ')
                t[--n] = '\0';
            validate_cidr(v, t, kr_fpi(v, "spec.LoadBalancerSourceRanges", i));
        }
    }
    if (kr_value_type(kr_value_map_get(spec, "allocateLoadBalancerNodePorts")) != KR_NULL && !lb)
        kr_field_forbidden(v, "spec.allocateLoadBalancerNodePorts",
                           "may only be used when `type` is 'LoadBalancer'");
    if (lb && kr_value_type(kr_value_map_get(spec, "allocateLoadBalancerNodePorts")) == KR_NULL)
        kr_field_required(v, "allocateLoadBalancerNodePorts", NULL); /* sic, upstream */
    const char *lbc = kr_value_map_str(spec, "loadBalancerClass");
    if (lbc != NULL) {
        if (lb)
            kr_validate_qualified_name(v, lbc, "spec.loadBalancerClass");
        else
            kr_field_forbidden(v, "spec.loadBalancerClass",
                               "may only be used when `type` is 'LoadBalancer'");
    }
    static const char *const etps[] = {"Cluster", "Local", NULL};
    const char *etp = kr_str_or_empty(spec, "externalTrafficPolicy");
    if (!externally_accessible(spec)) {
        if (*etp)
            kr_field_invalid_str(v, "spec.externalTrafficPolicy", etp,
                                 "may only be set for externally-accessible services");
    } else if (*etp == '\0') {
        kr_field_required(v, "spec.externalTrafficPolicy", NULL);
    } else if (!kr_str_in(etp, etps)) {
        kr_field_not_supported_str(v, "spec.externalTrafficPolicy", etp, etps);
    }
    const kr_value_t *hc = kr_value_map_get(spec, "healthCheckNodePort");
    if (!needs_health_check(spec)) {
        if (kr_value_as_int(hc, 0) != 0)
            kr_field_invalid(v, "spec.healthCheckNodePort", hc,
                             "may only be set when `type` is 'LoadBalancer' and "
                             "`externalTrafficPolicy` is 'Local'");
    } else if (kr_value_as_int(hc, 0) != 0) {
        /* a missing port is the allocator's to fill (not validated here) */
        kr_validate_port_num(v, hc, "spec.healthCheckNodePort");
    }
    const char *itp = kr_value_map_str(spec, "internalTrafficPolicy");
    if (itp == NULL && (strcmp(type, "NodePort") == 0 || lb || strcmp(type, "ClusterIP") == 0))
        kr_field_required(v, "spec.internalTrafficPolicy", NULL);
    if (itp != NULL && !kr_str_in(itp, etps))
        kr_field_not_supported_str(v, "spec.internalTrafficPolicy", itp, etps);
    const char *td = kr_value_map_str(spec, "trafficDistribution");
    static const char *const tds[] = {"PreferClose", NULL};
    if (td != NULL && !kr_str_in(td, tds))
        kr_field_not_supported_str(v, "spec.trafficDistribution", td, tds);
}

static void service_validate_update(kr_validation_t *v, const kr_value_t *obj,
                                    const kr_value_t *old)
{
    kr_validate_object_meta(v, kr_map_at(obj, "metadata"), kr_map_at(old, "metadata"), true,
                            KR_NAME_DNS1035_LABEL);
    const kr_value_t *spec = kr_map_at(obj, "spec"), *ospec = kr_map_at(old, "spec");
    if (!svc_type_is(spec, "ExternalName") && !svc_type_is(ospec, "ExternalName") &&
        !(is_headless(spec) && is_headless(ospec))) {
        const kr_value_t *ni = kr_array_at(spec, "clusterIPs"),
                         *oi = kr_array_at(ospec, "clusterIPs");
        size_t nn = kr_value_len(ni), on = kr_value_len(oi);
        if (nn == on) {
            for (size_t i = 0; i < on; i++)
                if (!kr_value_equal(kr_value_array_get(oi, i), kr_value_array_get(ni, i)))
                    kr_field_invalid(v, kr_fpi(v, "spec.clusterIPs", i), ni,
                                     "may not change once set");
        } else if (on > nn) {
            if (nn == 0)
                kr_field_invalid(v, "spec.clusterIPs[0]", ni, "primary clusterIP can not be unset");
            if (nn > 0 && !kr_value_equal(kr_value_array_get(ni, 0), kr_value_array_get(oi, 0)))
                kr_field_invalid(v, "spec.clusterIPs[0]", ni, "may not change once set");
            if (nn == 1 && strcmp(kr_str_or_empty(spec, "ipFamilyPolicy"), "SingleStack") != 0)
                kr_field_invalid(
                    v, "spec.ipFamilyPolicy", kr_value_map_get(spec, "ipFamilyPolicy"),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP");
        } else if (on > 0 &&
                   !kr_value_equal(kr_value_array_get(ni, 0), kr_value_array_get(oi, 0))) {
            kr_field_invalid(v, "spec.clusterIPs[0]", ni, "may not change once set");
        }
    }
    if (!svc_type_is(spec, "ExternalName") && !svc_type_is(ospec, "ExternalName") &&
        is_headless(spec) == is_headless(ospec) && !is_headless(spec)) {
        const kr_value_t *nf = kr_array_at(spec, "ipFamilies"),
                         *of = kr_array_at(ospec, "ipFamilies");
        size_t nn = kr_value_len(nf), on = kr_value_len(of);
        if (nn == on) {
            for (size_t i = 0; i < on; i++)
                if (!kr_value_equal(kr_value_array_get(of, i), kr_value_array_get(nf, i)))
                    kr_field_invalid(v, "spec.ipFamilies[0]", nf, "may not change once set");
        } else if (on > nn) {
            if (nn > 0 && !kr_value_equal(kr_value_array_get(nf, 0), kr_value_array_get(of, 0)))
                kr_field_invalid(v, "spec.ipFamilies[0]", kr_value_map_get(spec, "clusterIPs"),
                                 "may not change once set");
            if (nn == 1 && strcmp(kr_str_or_empty(spec, "ipFamilyPolicy"), "SingleStack") != 0)
                kr_field_invalid(
                    v, "spec.ipFamilyPolicy", kr_value_map_get(spec, "ipFamilyPolicy"),
                    "must be set to 'SingleStack' when releasing the secondary ipFamily");
        } else if (on > 0 && nn > 0 &&
                   !kr_value_equal(kr_value_array_get(nf, 0), kr_value_array_get(of, 0))) {
            kr_field_invalid(v, "spec.ipFamilies[0]", kr_value_map_get(spec, "clusterIPs"),
                             "may not change once set");
        }
    }
    if (svc_type_is(spec, "LoadBalancer") && svc_type_is(ospec, "LoadBalancer") &&
        !same_field(spec, ospec, "loadBalancerClass"))
        kr_field_invalid(v, "spec.loadBalancerClass", kr_value_map_get(spec, "loadBalancerClass"),
                         "may not change once set");
    if (needs_health_check(ospec) && needs_health_check(spec) &&
        !same_field(spec, ospec, "healthCheckNodePort"))
        kr_field_forbidden(v, "spec.healthCheckNodePort", KR_MSG_IMMUTABLE);
}

static void service_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    if (old != NULL)
        service_validate_update(v, obj, old);
    kr_validate_object_meta(v, kr_map_at(obj, "metadata"), NULL, true, KR_NAME_DNS1035_LABEL);
    service_validate_spec(v, obj);
}

static void service_validate_status(kr_validation_t *v, const kr_value_t *obj,
                                    const kr_value_t *old)
{
    kr_validate_object_meta(v, kr_map_at(obj, "metadata"), kr_map_at(old, "metadata"), true,
                            KR_NAME_DNS1035_LABEL);
    const kr_value_t *ing = kr_array_at(kr_value_get(obj, "status.loadBalancer"), "ingress");
    if (!svc_type_is(kr_map_at(obj, "spec"), "LoadBalancer") && kr_value_len(ing) != 0) {
        kr_field_forbidden(v, "status.loadBalancer.ingress",
                           "may only be used when `spec.type` is 'LoadBalancer'");
        return;
    }
    static const char *const modes[] = {"Proxy", "VIP", NULL};
    for (size_t i = 0; i < kr_value_len(ing); i++) {
        const kr_value_t *in = kr_value_array_get(ing, i);
        const char *ip = kr_str_or_empty(in, "ip");
        const char *ipp = kr_fpi(v, "status.loadBalancer.ingress", i);
        if (*ip)
            kr_validate_ip(v, ip, kr_fp(v, ipp, "ip"));
        const char *mode = kr_value_map_str(in, "ipMode");
        if (mode == NULL && *ip)
            kr_field_required(v, kr_fp(v, ipp, "ipMode"), "must be specified when `ip` is set");
        else if (mode != NULL && *ip == '\0')
            kr_field_forbidden(v, kr_fp(v, ipp, "ipMode"),
                               "may not be specified when `ip` is not set");
        else if (mode != NULL && !kr_str_in(mode, modes))
            kr_field_not_supported_str(v, kr_fp(v, ipp, "ipMode"), mode, modes);
        const char *host = kr_str_or_empty(in, "hostname");
        if (*host) {
            kr_validate_dns1123_subdomain(v, host, kr_fp(v, ipp, "hostname"));
            if (kr_is_ip(host))
                kr_field_invalid_str(v, kr_fp(v, ipp, "hostname"), host,
                                     "must be a DNS name, not an IP address");
        }
    }
}

const kr_kind_hooks_t kr_hooks_service = {
    .defaults = service_defaults,
    .prepare_create = service_prepare_create,
    .prepare_update = service_prepare_update,
    .validate = service_validate,
    .validate_status = service_validate_status,
};
