/* auth-rbac internals: the policy snapshot and upstream's evaluation.
 *
 * rbac_eval.c holds what plugin/pkg/auth/authorizer/rbac/rbac.go,
 * pkg/registry/rbac/validation/rule.go, pkg/apis/rbac/v1/evaluation_helpers.go
 * and component-helpers' policy_comparator.go do, on an immutable snapshot of
 * the four kinds (rbac_snap_t) built from value trees.  rbac_policy.c holds
 * the bootstrap policy, its reconciliation and the ClusterRole aggregation,
 * as pure functions over value trees; rbac.c is the plugin (informers, the
 * lock, the vtable, the bus ops, the controllers' requests).
 *
 * A snapshot never changes once built, so any number of threads may read it
 * at once; the plugin swaps a new one in under a write lock.
 */
#ifndef RBAC_H
#define RBAC_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/authz.h>
#include <kraal/error.h>
#include <kraal/value.h>

#define RBAC_GROUP       "rbac.authorization.k8s.io"
#define RBAC_MASTERS     "system:masters"
#define RBAC_SA_PREFIX   "system:serviceaccount:"
#define RBAC_AUTOUPDATE  "rbac.authorization.kubernetes.io/autoupdate"
#define RBAC_BOOTSTRAP_L "kubernetes.io/bootstrapping"

/* One PolicyRule; string arrays are empty (n = 0) when absent. */
typedef struct rbac_strs {
    const char **v;
    size_t n;
} rbac_strs_t;

typedef struct rbac_rule {
    rbac_strs_t verbs, groups, resources, names, urls;
} rbac_rule_t;

/* Parses a PolicyRule map / an array of them into `arena`.  Entries that are
 * not strings are skipped (validation refused them before they were stored). */
void rbac_rule_parse(kr_arena_t *arena, const kr_value_t *rule, rbac_rule_t *out);
size_t rbac_rules_parse(kr_arena_t *arena, const kr_value_t *rules, rbac_rule_t **out);
/* The rule as a PolicyRule map (only non-empty fields, verbs always). */
kr_value_t *rbac_rule_value(kr_arena_t *arena, const rbac_rule_t *rule);
/* Semantic equality (absent == empty). */
bool rbac_rule_equal(const rbac_rule_t *a, const rbac_rule_t *b);

/* RuleAllows (rbac.go) and its parts (evaluation_helpers.go). */
bool rbac_rule_allows(const kr_authz_attrs_t *attrs, const rbac_rule_t *rule);

/* Covers (policy_comparator.go): the servant rules broken down into
 * one-verb/one-resource/one-name rules, those no owner rule covers returned
 * in *uncovered (arena).  True when none is left. */
bool rbac_covers(kr_arena_t *arena, const rbac_rule_t *owner, size_t nowner,
                 const rbac_rule_t *servant, size_t nservant, rbac_rule_t **uncovered,
                 size_t *nuncovered);
/* CompactString: {APIGroups:["" "apps"], Resources:["pods"], Verbs:["get"]}. */
const char *rbac_rule_compact_string(kr_arena_t *arena, const rbac_rule_t *rule);

/* ---- the snapshot ---------------------------------------------------------------- */

typedef struct rbac_subject {
    const char *kind, *name, *ns; /* ns "" when absent */
} rbac_subject_t;

typedef struct rbac_role {
    const char *ns, *name; /* ns "" for a ClusterRole */
    rbac_rule_t *rules;
    size_t nrules;
} rbac_role_t;

typedef struct rbac_binding {
    const char *ns, *name; /* ns "" for a ClusterRoleBinding */
    const char *ref_group, *ref_kind, *ref_name;
    rbac_subject_t *subjects;
    size_t nsubjects;
    const rbac_role_t *role; /* the role it references, NULL when unresolved */
    const char *error;       /* why role is NULL (upstream's lister error) */
    size_t order;            /* position in visiting order */
} rbac_binding_t;

typedef struct rbac_snap rbac_snap_t;

/* Starts an empty snapshot; add objects, then finish it. */
rbac_snap_t *rbac_snap_new(void);
/* Adds one object of kind "Role", "ClusterRole", "RoleBinding" or
 * "ClusterRoleBinding": what the policy needs of it is parsed and copied,
 * `obj` is not kept.  Objects without metadata.name are skipped. */
void rbac_snap_add(rbac_snap_t *s, const char *kind, const kr_value_t *obj);
/* Sorts, resolves role references and builds the subject index.  Once
 * finished the snapshot is read-only and may be read from any thread. */
void rbac_snap_finish(rbac_snap_t *s);
void rbac_snap_destroy(rbac_snap_t **self_p);
size_t rbac_snap_count(const rbac_snap_t *s, const char *kind);

/* Where a visited rule comes from: the binding and the first of its
 * subjects that applies (appliesTo). */
typedef struct rbac_source {
    const rbac_binding_t *binding;
    const rbac_subject_t *subject;
} rbac_source_t;

/* upstream's describer: `ClusterRoleBinding "x" of ClusterRole "y" to User
 * "z"` into buf (cut to len - 1 bytes, NUL-terminated); returns its length. */
size_t rbac_source_describe(const rbac_source_t *src, char *buf, size_t len);

/* VisitRulesFor: every rule of every binding that applies to `user`
 * (ClusterRoleBindings, then RoleBindings of `ns` when ns is not empty), and
 * each error resolving them (rule NULL, err set).  Stops when fn returns
 * false. */
typedef bool (*rbac_visit_fn)(const rbac_source_t *src, const rbac_rule_t *rule, const char *err,
                              void *ud);
void rbac_snap_visit(const rbac_snap_t *s, const kr_authz_user_t *user, const char *ns,
                     rbac_visit_fn fn, void *ud);

/* RBACAuthorizer.Authorize, with kube-apiserver's privileged-groups
 * authorizer (system:masters: allowed, reason "") in front. */
kr_authz_decision_t rbac_authorize(const rbac_snap_t *s, const kr_authz_attrs_t *attrs,
                                   char *reason, size_t reason_len);

/* RulesFor: the rules that apply to `user` in `ns` (pointers into the
 * snapshot, array in arena) and the aggregate of the resolution errors (NULL
 * when none). */
void rbac_rules_for(const rbac_snap_t *s, const kr_authz_user_t *user, const char *ns,
                    kr_arena_t *arena, const rbac_rule_t ***rules, size_t *nrules,
                    const char **errors);

/* The vtable's `rules`: ResourceRule and NonResourceRule maps. */
int rbac_rules_review(const rbac_snap_t *s, const kr_authz_user_t *user, const char *ns,
                      kr_arena_t *arena, kr_value_t **resource_rules,
                      kr_value_t **non_resource_rules, bool *incomplete,
                      const char **evaluation_error, kr_error_t *err);

/* The vtable's `check_grant` (the policybased storages' checks). */
int rbac_check_grant(const rbac_snap_t *s, const kr_authz_user_t *user, const char *kind,
                     const kr_value_t *obj, kr_arena_t *arena, kr_error_t *err);

/* ---- the policy (rbac_policy.c) ---------------------------------------------------- */

/* The bootstrap ClusterRoles and ClusterRoleBindings (bootstrappolicy), as
 * value trees in arena. */
int rbac_bootstrap_policy(kr_arena_t *arena, kr_value_t **cluster_roles,
                          kr_value_t **cluster_role_bindings, kr_error_t *err);

typedef enum rbac_reconcile_op {
    RBAC_RECONCILE_NONE = 0,
    RBAC_RECONCILE_UPDATE,
    RBAC_RECONCILE_RECREATE, /* a binding whose roleRef differs: delete, then create */
} rbac_reconcile_op_t;

/* computeReconciledRole with removeExtraPermissions false: a copy of
 * `existing` with the expected labels and annotations merged in (existing
 * values win) and the missing rules and aggregation selectors added.
 * *protected_out is set when the object says autoupdate "false" (then it is
 * left alone).  Returns the object to write, or NULL when nothing changes. */
kr_value_t *rbac_reconcile_role(kr_arena_t *arena, const kr_value_t *existing,
                                const kr_value_t *expected, bool *protected_out,
                                rbac_reconcile_op_t *op);
/* computeReconciledRoleBinding with removeExtraSubjects false. */
kr_value_t *rbac_reconcile_binding(kr_arena_t *arena, const kr_value_t *existing,
                                   const kr_value_t *expected, bool *protected_out,
                                   rbac_reconcile_op_t *op);

/* The ClusterRole aggregation (clusterroleaggregation controller): the rules
 * `role`'s aggregationRule gathers from `all` (every ClusterRole), in name
 * order, without duplicates.  Returns the new rules array (arena) or NULL
 * when they equal the role's current rules or the role has no
 * aggregationRule; < 0 in *rc with err on a bad selector. */
kr_value_t *rbac_aggregate(kr_arena_t *arena, const kr_value_t *role, const kr_value_t *const *all,
                           size_t nall, int *rc, kr_error_t *err);

#endif
