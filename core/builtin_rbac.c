/* rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding and
 * ClusterRoleBinding: defaults (pkg/apis/rbac/v1 SetDefaults_*) and
 * validation (pkg/apis/rbac/validation).  Who may write them (escalation
 * prevention) is the authorizer's check_grant, called by core/api.c. */
#include <string.h>

#include "builtin_internal.h"

#define RBAC_GROUP "rbac.authorization.k8s.io"

/* SetDefaults_Subject: users and groups are in the RBAC group; a
 * ServiceAccount keeps the core group (""). */
static void subjects_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *subjects = kr_array_at(obj, "subjects");
    for (size_t i = 0; i < kr_value_len(subjects); i++) {
        kr_value_t *s = kr_value_array_get(subjects, i);
        if (kr_value_type(s) != KR_MAP || !kr_is_unset(kr_value_map_get(s, "apiGroup")))
            continue;
        const char *kind = kr_str_or_empty(s, "kind");
        if (strcmp(kind, "User") == 0 || strcmp(kind, "Group") == 0)
            kr_value_map_set(a, s, "apiGroup", kr_value_str(a, RBAC_GROUP));
    }
}

/* SetDefaults_RoleBinding / SetDefaults_ClusterRoleBinding.  roleRef is a
 * struct, not a pointer, upstream: a body without it decodes to an empty
 * one whose apiGroup is defaulted, and validation then names kind and
 * name. */
static void binding_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_value_t *ref = kr_ensure_map(a, obj, "roleRef");
    if (ref != NULL)
        kr_default_str(a, ref, "apiGroup", RBAC_GROUP);
    subjects_defaults(a, obj);
}

/* ValidateRBACName: path.IsValidPathSegmentName. */
static void rbac_name(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old,
                      bool namespaced)
{
    /* The Validate*Update functions run the create checks, then
     * ValidateObjectMetaUpdate. */
    kr_validate_meta_again(v, obj, old, namespaced, KR_NAME_PATH_SEGMENT);
}

static size_t len_at(const kr_value_t *map, const char *key)
{
    return kr_value_len(kr_array_at(map, key));
}

/* ValidatePolicyRule */
static void policy_rule(kr_validation_t *v, const kr_value_t *rule, bool namespaced,
                        const char *path)
{
    if (len_at(rule, "verbs") == 0)
        kr_field_required(v, kr_fp(v, path, "verbs"), "verbs must contain at least one value");
    const kr_value_t *urls = kr_array_at(rule, "nonResourceURLs");
    if (kr_value_len(urls) > 0) {
        const char *up = kr_fp(v, path, "nonResourceURLs");
        if (namespaced)
            kr_field_invalid(v, up, urls, "namespaced rules cannot apply to non-resource URLs");
        if (len_at(rule, "apiGroups") > 0 || len_at(rule, "resources") > 0 ||
            len_at(rule, "resourceNames") > 0)
            kr_field_invalid(v, up, urls,
                             "rules cannot apply to both regular resources and non-resource URLs");
        return;
    }
    if (len_at(rule, "apiGroups") == 0)
        kr_field_required(v, kr_fp(v, path, "apiGroups"),
                          "resource rules must supply at least one api group");
    if (len_at(rule, "resources") == 0)
        kr_field_required(v, kr_fp(v, path, "resources"),
                          "resource rules must supply at least one resource");
}

static void policy_rules(kr_validation_t *v, const kr_value_t *obj, bool namespaced)
{
    const kr_value_t *rules = kr_array_at(obj, "rules");
    for (size_t i = 0; i < kr_value_len(rules); i++)
        policy_rule(v, kr_value_array_get(rules, i), namespaced, kr_fpi(v, "rules", i));
}

/* ValidateRole / ValidateRoleUpdate */
static void role_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    rbac_name(v, obj, old, true);
    policy_rules(v, obj, true);
}

/* ValidateClusterRole / ValidateClusterRoleUpdate: rules, and the
 * aggregation rule's selectors. */
static void clusterrole_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    rbac_name(v, obj, old, false);
    policy_rules(v, obj, false);
    const kr_value_t *agg = kr_map_at(obj, "aggregationRule");
    if (agg == NULL)
        return;
    const kr_value_t *sels = kr_array_at(agg, "clusterRoleSelectors");
    const char *sp = "aggregationRule.clusterRoleSelectors";
    if (kr_value_len(sels) == 0)
        kr_field_required(v, sp,
                          "at least one clusterRoleSelector required if aggregationRule "
                          "is non-nil");
    for (size_t i = 0; i < kr_value_len(sels); i++) {
        const kr_value_t *sel = kr_value_array_get(sels, i);
        const char *path = kr_fpi(v, sp, i);
        kr_validate_label_selector(v, sel, path);
        bool compiled = true;
        kr_selector_matches(sel, NULL, &compiled);
        /* upstream prints the nil labels.Selector LabelSelectorAsSelector
         * returns with the error */
        if (!compiled)
            kr_field_error_raw(v, KR_FIELD_INVALID, path, "\"null\"", "invalid label selector.");
    }
}

/* ValidateRoleBindingSubject */
static void subject(kr_validation_t *v, const kr_value_t *s, bool namespaced, const char *path)
{
    static const char *const kinds[] = {"ServiceAccount", "User", "Group", NULL};
    static const char *const rbac_group[] = {RBAC_GROUP, NULL};
    static const char *const core_group[] = {"", NULL};
    const char *name = kr_str_or_empty(s, "name");
    const char *kind = kr_str_or_empty(s, "kind");
    const char *group = kr_str_or_empty(s, "apiGroup");
    if (*name == '\0')
        kr_field_required(v, kr_fp(v, path, "name"), NULL);
    if (strcmp(kind, "ServiceAccount") == 0) {
        if (*name)
            kr_validate_name_rule(v, KR_NAME_DNS1123_SUBDOMAIN, name, false,
                                  kr_fp(v, path, "name"));
        if (*group)
            kr_field_not_supported_str(v, kr_fp(v, path, "apiGroup"), group, core_group);
        if (!namespaced && *kr_str_or_empty(s, "namespace") == '\0')
            kr_field_required(v, kr_fp(v, path, "namespace"), NULL);
    } else if (strcmp(kind, "User") == 0 || strcmp(kind, "Group") == 0) {
        if (strcmp(group, RBAC_GROUP) != 0)
            kr_field_not_supported_str(v, kr_fp(v, path, "apiGroup"), group, rbac_group);
    } else {
        kr_field_not_supported_str(v, kr_fp(v, path, "kind"), kind, kinds);
    }
}

/* rbac.RoleRef as field.Invalid prints it (%#v of the internal type). */
static const char *role_ref_text(kr_validation_t *v, const kr_value_t *ref)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "rbac.RoleRef{APIGroup:");
    kr_go_quote(&b, kr_str_or_empty(ref, "apiGroup"));
    kr_buf_puts(&b, ", Kind:");
    kr_go_quote(&b, kr_str_or_empty(ref, "kind"));
    kr_buf_puts(&b, ", Name:");
    kr_go_quote(&b, kr_str_or_empty(ref, "name"));
    kr_buf_puts(&b, "}");
    const char *s = kr_arena_strdup(v->arena, b.data);
    kr_buf_free(&b);
    return s;
}

static bool same_ref_field(const kr_value_t *a, const kr_value_t *b, const char *key)
{
    return strcmp(kr_str_or_empty(a, key), kr_str_or_empty(b, key)) == 0;
}

/* ValidateRoleBinding / ValidateClusterRoleBinding and their updates:
 * a ClusterRoleBinding (namespaced false) references a ClusterRole only,
 * and its ServiceAccount subjects name their namespace. */
static void binding_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old,
                             bool namespaced)
{
    static const char *const rbac_group[] = {RBAC_GROUP, NULL};
    static const char *const ns_kinds[] = {"Role", "ClusterRole", NULL};
    static const char *const cluster_kinds[] = {"ClusterRole", NULL};
    rbac_name(v, obj, old, namespaced);
    const kr_value_t *ref = kr_map_at(obj, "roleRef");
    const char *group = kr_str_or_empty(ref, "apiGroup");
    if (strcmp(group, RBAC_GROUP) != 0)
        kr_field_not_supported_str(v, "roleRef.apiGroup", group, rbac_group);
    const char *kind = kr_str_or_empty(ref, "kind");
    const char *const *kinds = namespaced ? ns_kinds : cluster_kinds;
    if (!kr_str_in(kind, kinds))
        kr_field_not_supported_str(v, "roleRef.kind", kind, kinds);
    const char *name = kr_str_or_empty(ref, "name");
    if (*name == '\0')
        kr_field_required(v, "roleRef.name", NULL);
    else
        kr_validate_name_rule(v, KR_NAME_PATH_SEGMENT, name, false, "roleRef.name");
    const kr_value_t *subjects = kr_array_at(obj, "subjects");
    for (size_t i = 0; i < kr_value_len(subjects); i++)
        subject(v, kr_value_array_get(subjects, i), namespaced, kr_fpi(v, "subjects", i));
    if (old == NULL)
        return;
    const kr_value_t *oref = kr_map_at(old, "roleRef");
    if (!same_ref_field(ref, oref, "apiGroup") || !same_ref_field(ref, oref, "kind") ||
        !same_ref_field(ref, oref, "name"))
        kr_field_error_raw(v, KR_FIELD_INVALID, "roleRef", role_ref_text(v, ref),
                           "cannot change roleRef");
}

static void rolebinding_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    binding_validate(v, obj, old, true);
}

static void clusterrolebinding_validate(kr_validation_t *v, const kr_value_t *obj,
                                        const kr_value_t *old)
{
    binding_validate(v, obj, old, false);
}

const kr_kind_hooks_t kr_hooks_role = {
    .validate = role_validate,
};

const kr_kind_hooks_t kr_hooks_clusterrole = {
    .validate = clusterrole_validate,
};

const kr_kind_hooks_t kr_hooks_rolebinding = {
    .defaults = binding_defaults,
    .validate = rolebinding_validate,
};

const kr_kind_hooks_t kr_hooks_clusterrolebinding = {
    .defaults = binding_defaults,
    .validate = clusterrolebinding_validate,
};
