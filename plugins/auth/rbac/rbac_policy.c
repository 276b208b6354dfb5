/* auth-rbac: the bootstrap policy, its reconciliation and the ClusterRole
 * aggregation, as pure functions over value trees (rbac.h).
 *
 * The roles are upstream's bootstrappolicy (policy.go, as its
 * testdata/cluster-roles.yaml prints them) for the roles a user meets first:
 * cluster-admin, admin/edit/view (aggregated from system:aggregate-to-*),
 * system:basic-user, system:discovery and system:public-info-viewer; and
 * system:node and system:node-proxier for the agents, which join the bus
 * as system:node:<name> in group system:nodes (docs/bus.md; their agent
 * process runs the service proxy too, so both roles are bound to that
 * group; core/busgate.c narrows them as upstream's NodeRestriction does).
 * The roles of the other components (system:kube-scheduler, the
 * controllers') come with those components' identities. */
#include <stdlib.h>
#include <string.h>

#include <kraal/selector.h>

#include "rbac.h"

/* addDefaultMetadata adds the autoupdate annotation and the bootstrapping
 * label to each of these. */
static const char bootstrap_yaml[] =
    "clusterRoles:\n"
    "- metadata: {name: cluster-admin}\n"
    "  rules:\n"
    "  - {apiGroups: ['*'], resources: ['*'], verbs: ['*']}\n"
    "  - {nonResourceURLs: ['*'], verbs: ['*']}\n"
    "- metadata: {name: admin}\n"
    "  aggregationRule:\n"
    "    clusterRoleSelectors:\n"
    "    - matchLabels: {rbac.authorization.k8s.io/aggregate-to-admin: 'true'}\n"
    "- metadata:\n"
    "    name: edit\n"
    "    labels: {rbac.authorization.k8s.io/aggregate-to-admin: 'true'}\n"
    "  aggregationRule:\n"
    "    clusterRoleSelectors:\n"
    "    - matchLabels: {rbac.authorization.k8s.io/aggregate-to-edit: 'true'}\n"
    "- metadata:\n"
    "    name: view\n"
    "    labels: {rbac.authorization.k8s.io/aggregate-to-edit: 'true'}\n"
    "  aggregationRule:\n"
    "    clusterRoleSelectors:\n"
    "    - matchLabels: {rbac.authorization.k8s.io/aggregate-to-view: 'true'}\n"
    "- metadata:\n"
    "    name: system:aggregate-to-admin\n"
    "    labels: {rbac.authorization.k8s.io/aggregate-to-admin: 'true'}\n"
    "  rules:\n"
    "  - apiGroups: [authorization.k8s.io]\n"
    "    resources: [localsubjectaccessreviews]\n"
    "    verbs: [create]\n"
    "  - apiGroups: [rbac.authorization.k8s.io]\n"
    "    resources: [rolebindings, roles]\n"
    "    verbs: [create, delete, deletecollection, get, list, patch, update, watch]\n"
    "- metadata:\n"
    "    name: system:aggregate-to-edit\n"
    "    labels: {rbac.authorization.k8s.io/aggregate-to-edit: 'true'}\n"
    "  rules:\n"
    "  - apiGroups: ['']\n"
    "    resources: [pods/attach, pods/exec, pods/portforward, pods/proxy, secrets,\n"
    "                services/proxy]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: ['']\n"
    "    resources: [serviceaccounts]\n"
    "    verbs: [impersonate]\n"
    "  - apiGroups: ['']\n"
    "    resources: [pods, pods/attach, pods/exec, pods/portforward, pods/proxy]\n"
    "    verbs: [create, delete, deletecollection, patch, update]\n"
    "  - apiGroups: ['']\n"
    "    resources: [pods/eviction]\n"
    "    verbs: [create]\n"
    "  - apiGroups: ['']\n"
    "    resources: [configmaps, events, persistentvolumeclaims, replicationcontrollers,\n"
    "                replicationcontrollers/scale, secrets, serviceaccounts, services,\n"
    "                services/proxy]\n"
    "    verbs: [create, delete, deletecollection, patch, update]\n"
    "  - apiGroups: ['']\n"
    "    resources: [serviceaccounts/token]\n"
    "    verbs: [create]\n"
    "  - apiGroups: [apps]\n"
    "    resources: [daemonsets, deployments, deployments/rollback, deployments/scale,\n"
    "                replicasets, replicasets/scale, statefulsets, statefulsets/scale]\n"
    "    verbs: [create, delete, deletecollection, patch, update]\n"
    "  - apiGroups: [autoscaling]\n"
    "    resources: [horizontalpodautoscalers]\n"
    "    verbs: [create, delete, deletecollection, patch, update]\n"
    "  - apiGroups: [batch]\n"
    "    resources: [cronjobs, jobs]\n"
    "    verbs: [create, delete, deletecollection, patch, update]\n"
    "  - apiGroups: [extensions]\n"
    "    resources: [daemonsets, deployments, deployments/rollback, deployments/scale,\n"
    "                ingresses, networkpolicies, replicasets, replicasets/scale,\n"
    "                replicationcontrollers/scale]\n"
    "    verbs: [create, delete, deletecollection, patch, update]\n"
    "  - apiGroups: [policy]\n"
    "    resources: [poddisruptionbudgets]\n"
    "    verbs: [create, delete, deletecollection, patch, update]\n"
    "  - apiGroups: [networking.k8s.io]\n"
    "    resources: [ingresses, networkpolicies]\n"
    "    verbs: [create, delete, deletecollection, patch, update]\n"
    "  - apiGroups: [coordination.k8s.io]\n"
    "    resources: [leases]\n"
    "    verbs: [create, delete, deletecollection, get, list, patch, update, watch]\n"
    "- metadata:\n"
    "    name: system:aggregate-to-view\n"
    "    labels: {rbac.authorization.k8s.io/aggregate-to-view: 'true'}\n"
    "  rules:\n"
    "  - apiGroups: ['']\n"
    "    resources: [configmaps, endpoints, persistentvolumeclaims,\n"
    "                persistentvolumeclaims/status, pods, replicationcontrollers,\n"
    "                replicationcontrollers/scale, serviceaccounts, services,\n"
    "                services/status]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: ['']\n"
    "    resources: [bindings, events, limitranges, namespaces/status, pods/log,\n"
    "                pods/status, replicationcontrollers/status, resourcequotas,\n"
    "                resourcequotas/status]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: ['']\n"
    "    resources: [namespaces]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: [discovery.k8s.io]\n"
    "    resources: [endpointslices]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: [apps]\n"
    "    resources: [controllerrevisions, daemonsets, daemonsets/status, deployments,\n"
    "                deployments/scale, deployments/status, replicasets, replicasets/scale,\n"
    "                replicasets/status, statefulsets, statefulsets/scale,\n"
    "                statefulsets/status]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: [autoscaling]\n"
    "    resources: [horizontalpodautoscalers, horizontalpodautoscalers/status]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: [batch]\n"
    "    resources: [cronjobs, cronjobs/status, jobs, jobs/status]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: [extensions]\n"
    "    resources: [daemonsets, daemonsets/status, deployments, deployments/scale,\n"
    "                deployments/status, ingresses, ingresses/status, networkpolicies,\n"
    "                replicasets, replicasets/scale, replicasets/status,\n"
    "                replicationcontrollers/scale]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: [policy]\n"
    "    resources: [poddisruptionbudgets, poddisruptionbudgets/status]\n"
    "    verbs: [get, list, watch]\n"
    "  - apiGroups: [networking.k8s.io]\n"
    "    resources: [ingresses, ingresses/status, networkpolicies]\n"
    "    verbs: [get, list, watch]\n"
    "- metadata: {name: 'system:basic-user'}\n"
    "  rules:\n"
    "  - apiGroups: [authorization.k8s.io]\n"
    "    resources: [selfsubjectaccessreviews, selfsubjectrulesreviews]\n"
    "    verbs: [create]\n"
    "  - apiGroups: [authentication.k8s.io]\n"
    "    resources: [selfsubjectreviews]\n"
    "    verbs: [create]\n"
    "- metadata: {name: 'system:discovery'}\n"
    "  rules:\n"
    "  - nonResourceURLs: [/api, /api/*, /apis, /apis/*, /healthz, /livez, /openapi,\n"
    "                      /openapi/*, /readyz, /version, /version/]\n"
    "    verbs: [get]\n"
    "- metadata: {name: 'system:public-info-viewer'}\n"
    "  rules:\n"
    "  - nonResourceURLs: [/healthz, /livez, /readyz, /version, /version/]\n"
    "    verbs: [get]\n"
    "- metadata: {name: 'system:node'}\n"
    "  rules:\n"
    "  - {apiGroups: [authentication.k8s.io], resources: [tokenreviews], verbs: [create]}\n"
    "  - apiGroups: [authorization.k8s.io]\n"
    "    resources: [localsubjectaccessreviews, subjectaccessreviews]\n"
    "    verbs: [create]\n"
    "  - {apiGroups: [''], resources: [services], verbs: [get, list, watch]}\n"
    "  - {apiGroups: [''], resources: [nodes], verbs: [create, get, list, watch]}\n"
    "  - {apiGroups: [''], resources: [nodes/status], verbs: [patch, update]}\n"
    "  - {apiGroups: [''], resources: [nodes], verbs: [patch, update]}\n"
    "  - {apiGroups: ['', events.k8s.io], resources: [events], verbs: [create, patch, update]}\n"
    "  - {apiGroups: [''], resources: [pods], verbs: [get, list, watch]}\n"
    "  - {apiGroups: [''], resources: [pods], verbs: [create, delete]}\n"
    "  - {apiGroups: [''], resources: [pods/status], verbs: [patch, update]}\n"
    "  - {apiGroups: [''], resources: [pods/eviction], verbs: [create]}\n"
    "  - {apiGroups: [''], resources: [configmaps, secrets], verbs: [get, list, watch]}\n"
    "  - apiGroups: ['']\n"
    "    resources: [persistentvolumeclaims, persistentvolumes]\n"
    "    verbs: [get]\n"
    "  - {apiGroups: [''], resources: [endpoints], verbs: [get]}\n"
    "  - apiGroups: [certificates.k8s.io]\n"
    "    resources: [certificatesigningrequests]\n"
    "    verbs: [create, get, list, watch]\n"
    "  - apiGroups: [coordination.k8s.io]\n"
    "    resources: [leases]\n"
    "    verbs: [create, delete, get, patch, update]\n"
    "  - {apiGroups: [storage.k8s.io], resources: [volumeattachments], verbs: [get]}\n"
    "  - {apiGroups: [''], resources: [serviceaccounts/token], verbs: [create]}\n"
    "  - apiGroups: ['']\n"
    "    resources: [persistentvolumeclaims/status]\n"
    "    verbs: [get, patch, update]\n"
    "  - {apiGroups: [storage.k8s.io], resources: [csidrivers], verbs: [get, list, watch]}\n"
    "  - apiGroups: [storage.k8s.io]\n"
    "    resources: [csinodes]\n"
    "    verbs: [create, delete, get, patch, update]\n"
    "  - {apiGroups: [node.k8s.io], resources: [runtimeclasses], verbs: [get, list, watch]}\n"
    "- metadata: {name: 'system:node-proxier'}\n"
    "  rules:\n"
    "  - {apiGroups: [''], resources: [endpoints, services], verbs: [list, watch]}\n"
    "  - {apiGroups: [''], resources: [nodes], verbs: [get, list, watch]}\n"
    "  - {apiGroups: ['', events.k8s.io], resources: [events], verbs: [create, patch, update]}\n"
    "  - {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}\n"
    "clusterRoleBindings:\n"
    "- metadata: {name: cluster-admin}\n"
    "  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n"
    "  subjects:\n"
    "  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'system:masters'}\n"
    "- metadata: {name: 'system:basic-user'}\n"
    "  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,\n"
    "            name: 'system:basic-user'}\n"
    "  subjects:\n"
    "  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'system:authenticated'}\n"
    "- metadata: {name: 'system:discovery'}\n"
    "  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,\n"
    "            name: 'system:discovery'}\n"
    "  subjects:\n"
    "  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'system:authenticated'}\n"
    "- metadata: {name: 'system:public-info-viewer'}\n"
    "  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,\n"
    "            name: 'system:public-info-viewer'}\n"
    "  subjects:\n"
    "  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'system:authenticated'}\n"
    "  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'system:unauthenticated'}\n"
    "- metadata: {name: 'system:node'}\n"
    "  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 'system:node'}\n"
    "  subjects:\n"
    "  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'system:nodes'}\n"
    "- metadata: {name: 'system:node-proxier'}\n"
    "  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,\n"
    "            name: 'system:node-proxier'}\n"
    "  subjects:\n"
    "  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'system:nodes'}\n";

static kr_value_t *map_at(kr_arena_t *a, kr_value_t *m, const char *key)
{
    kr_value_t *v = kr_value_map_get(m, key);
    if (kr_value_type(v) != KR_MAP) {
        v = kr_value_map(a);
        kr_value_map_set(a, m, key, v);
    }
    return v;
}

static void add_default_metadata(kr_arena_t *a, kr_value_t *list, const char *kind)
{
    for (size_t i = 0; i < kr_value_len(list); i++) {
        kr_value_t *obj = kr_value_array_get(list, i);
        kr_value_map_set(a, obj, "apiVersion", kr_value_str(a, RBAC_GROUP "/v1"));
        kr_value_map_set(a, obj, "kind", kr_value_str(a, kind));
        kr_value_t *meta = map_at(a, obj, "metadata");
        kr_value_map_set(a, map_at(a, meta, "labels"), RBAC_BOOTSTRAP_L,
                         kr_value_str(a, "rbac-defaults"));
        kr_value_map_set(a, map_at(a, meta, "annotations"), RBAC_AUTOUPDATE,
                         kr_value_str(a, "true"));
    }
}

int rbac_bootstrap_policy(kr_arena_t *a, kr_value_t **roles, kr_value_t **bindings, kr_error_t *err)
{
    kr_value_t *docs;
    if (kr_yaml_decode(a, bootstrap_yaml, sizeof bootstrap_yaml - 1, &docs, err) < 0)
        return kr_error_wrap(err, "the bootstrap policy");
    kr_value_t *doc = kr_value_array_get(docs, 0);
    *roles = kr_value_map_get(doc, "clusterRoles");
    *bindings = kr_value_map_get(doc, "clusterRoleBindings");
    add_default_metadata(a, *roles, "ClusterRole");
    add_default_metadata(a, *bindings, "ClusterRoleBinding");
    return 0;
}

/* ---- reconciliation ------------------------------------------------------------------ */

/* merge(expected, existing): existing values win; NULL when both are. */
static bool merge_into(kr_arena_t *a, kr_value_t *meta, const kr_value_t *expected_meta,
                       const char *key)
{
    const kr_value_t *exp = kr_value_map_get(expected_meta, key);
    bool changed = false;
    for (size_t i = 0; i < kr_value_len(exp); i++) {
        const char *k = kr_value_map_key(exp, i);
        kr_value_t *cur = map_at(a, meta, key);
        if (kr_value_map_get(cur, k) == NULL) {
            kr_value_map_set(a, cur, k, kr_value_copy(a, kr_value_map_val(exp, i)));
            changed = true;
        }
    }
    return changed;
}

static bool is_protected(const kr_value_t *obj)
{
    const char *v = kr_value_map_str(kr_value_get(obj, "metadata.annotations"), RBAC_AUTOUPDATE);
    return v != NULL && strcmp(v, "false") == 0;
}

static kr_value_t *reconcile_meta(kr_arena_t *a, const kr_value_t *existing,
                                  const kr_value_t *expected, bool *protected_out, bool *changed)
{
    *protected_out = is_protected(existing);
    kr_value_t *out = kr_value_copy(a, existing);
    kr_value_t *meta = map_at(a, out, "metadata");
    const kr_value_t *emeta = kr_value_map_get(expected, "metadata");
    *changed = merge_into(a, meta, emeta, "annotations");
    *changed = merge_into(a, meta, emeta, "labels") || *changed;
    return out;
}

kr_value_t *rbac_reconcile_role(kr_arena_t *a, const kr_value_t *existing,
                                const kr_value_t *expected, bool *protected_out,
                                rbac_reconcile_op_t *op)
{
    bool changed;
    kr_value_t *out = reconcile_meta(a, existing, expected, protected_out, &changed);
    /* missing rules: Covers(existing, expected), broken down, appended */
    rbac_rule_t *have, *want, *missing;
    size_t nhave = rbac_rules_parse(a, kr_value_map_get(existing, "rules"), &have);
    size_t nwant = rbac_rules_parse(a, kr_value_map_get(expected, "rules"), &want);
    size_t nmissing;
    if (!rbac_covers(a, have, nhave, want, nwant, &missing, &nmissing)) {
        kr_value_t *rules = kr_value_map_get(out, "rules");
        if (kr_value_type(rules) != KR_ARRAY) {
            rules = kr_value_array(a);
            kr_value_map_set(a, out, "rules", rules);
        }
        for (size_t i = 0; i < nmissing; i++)
            kr_value_array_push(a, rules, rbac_rule_value(a, &missing[i]));
        changed = true;
    }
    /* aggregation selectors */
    const kr_value_t *eagg = kr_value_map_get(expected, "aggregationRule");
    kr_value_t *agg = kr_value_map_get(out, "aggregationRule");
    bool eagg_set = kr_value_type(eagg) == KR_MAP, agg_set = kr_value_type(agg) == KR_MAP;
    if (!eagg_set && agg_set) {
        /* not an aggregated role at all: the aggregation goes */
        kr_value_map_del(out, "aggregationRule");
        changed = true;
    } else if (eagg_set) {
        const kr_value_t *esel = kr_value_map_get(eagg, "clusterRoleSelectors");
        for (size_t i = 0; i < kr_value_len(esel); i++) {
            const kr_value_t *want_sel = kr_value_array_get(esel, i);
            kr_value_t *sels = agg_set ? kr_value_map_get(agg, "clusterRoleSelectors") : NULL;
            bool covered = false;
            for (size_t j = 0; j < kr_value_len(sels) && !covered; j++)
                covered = kr_value_equal(kr_value_array_get(sels, j), want_sel);
            if (covered)
                continue;
            if (!agg_set) {
                agg = kr_value_map(a);
                kr_value_map_set(a, out, "aggregationRule", agg);
                agg_set = true;
            }
            if (kr_value_type(sels) != KR_ARRAY) {
                sels = kr_value_array(a);
                kr_value_map_set(a, agg, "clusterRoleSelectors", sels);
            }
            kr_value_array_push(a, sels, kr_value_copy(a, want_sel));
            changed = true;
        }
    }
    *op = changed ? RBAC_RECONCILE_UPDATE : RBAC_RECONCILE_NONE;
    return changed ? out : NULL;
}

static bool str_eq(const kr_value_t *a, const kr_value_t *b, const char *key)
{
    const char *x = kr_value_map_str(a, key), *y = kr_value_map_str(b, key);
    return strcmp(x ? x : "", y ? y : "") == 0;
}

static bool subject_equal(const kr_value_t *a, const kr_value_t *b)
{
    return str_eq(a, b, "kind") && str_eq(a, b, "apiGroup") && str_eq(a, b, "name") &&
           str_eq(a, b, "namespace");
}

kr_value_t *rbac_reconcile_binding(kr_arena_t *a, const kr_value_t *existing,
                                   const kr_value_t *expected, bool *protected_out,
                                   rbac_reconcile_op_t *op)
{
    const kr_value_t *eref = kr_value_map_get(expected, "roleRef"),
                     *ref = kr_value_map_get(existing, "roleRef");
    if (!str_eq(eref, ref, "apiGroup") || !str_eq(eref, ref, "kind") ||
        !str_eq(eref, ref, "name")) {
        /* roleRef is immutable: the binding is made again */
        *protected_out = is_protected(existing);
        *op = RBAC_RECONCILE_RECREATE;
        return kr_value_copy(a, expected);
    }
    bool changed;
    kr_value_t *out = reconcile_meta(a, existing, expected, protected_out, &changed);
    const kr_value_t *want = kr_value_map_get(expected, "subjects");
    for (size_t i = 0; i < kr_value_len(want); i++) {
        const kr_value_t *w = kr_value_array_get(want, i);
        kr_value_t *subs = kr_value_map_get(out, "subjects");
        bool found = false;
        for (size_t j = 0; j < kr_value_len(subs) && !found; j++)
            found = subject_equal(kr_value_array_get(subs, j), w);
        if (found)
            continue;
        if (kr_value_type(subs) != KR_ARRAY) {
            subs = kr_value_array(a);
            kr_value_map_set(a, out, "subjects", subs);
        }
        kr_value_array_push(a, subs, kr_value_copy(a, w));
        changed = true;
    }
    *op = changed ? RBAC_RECONCILE_UPDATE : RBAC_RECONCILE_NONE;
    return changed ? out : NULL;
}

/* ---- aggregation ------------------------------------------------------------------- */

static int cmp_role_name(const void *a, const void *b)
{
    const kr_value_t *x = *(const kr_value_t *const *)a, *y = *(const kr_value_t *const *)b;
    const char *xn = kr_value_as_str(kr_value_get(x, "metadata.name")),
               *yn = kr_value_as_str(kr_value_get(y, "metadata.name"));
    return strcmp(xn ? xn : "", yn ? yn : "");
}

kr_value_t *rbac_aggregate(kr_arena_t *a, const kr_value_t *role, const kr_value_t *const *all,
                           size_t nall, int *rc, kr_error_t *err)
{
    *rc = 0;
    const kr_value_t *agg = kr_value_map_get(role, "aggregationRule");
    if (kr_value_type(agg) != KR_MAP)
        return NULL;
    const char *self = kr_value_as_str(kr_value_get(role, "metadata.name"));
    const kr_value_t **sorted = nall ? malloc(nall * sizeof *sorted) : NULL;
    if (nall && sorted == NULL)
        abort();
    if (nall)
        memcpy(sorted, all, nall * sizeof *sorted);
    if (nall)
        qsort(sorted, nall, sizeof *sorted, cmp_role_name);
    size_t cap = 16, n = 0;
    rbac_rule_t *rules = kr_arena_alloc(a, cap * sizeof *rules);
    const kr_value_t *sels = kr_value_map_get(agg, "clusterRoleSelectors");
    for (size_t i = 0; i < kr_value_len(sels); i++) {
        kr_labelsel_t *sel = kr_labelsel_from_object(kr_value_array_get(sels, i), err);
        if (sel == NULL) {
            free(sorted);
            *rc = -1;
            return NULL;
        }
        for (size_t j = 0; j < nall; j++) {
            const char *name = kr_value_as_str(kr_value_get(sorted[j], "metadata.name"));
            if (name == NULL || (self != NULL && strcmp(name, self) == 0) ||
                !kr_labelsel_match(sel, kr_value_get(sorted[j], "metadata.labels")))
                continue;
            rbac_rule_t *rs;
            size_t nrs = rbac_rules_parse(a, kr_value_map_get(sorted[j], "rules"), &rs);
            for (size_t r = 0; r < nrs; r++) {
                bool exists = false;
                for (size_t k = 0; k < n && !exists; k++)
                    exists = rbac_rule_equal(&rules[k], &rs[r]);
                if (exists)
                    continue;
                if (n == cap) {
                    rbac_rule_t *grown = kr_arena_alloc(a, cap * 2 * sizeof *grown);
                    memcpy(grown, rules, n * sizeof *grown);
                    rules = grown;
                    cap *= 2;
                }
                rules[n++] = rs[r];
            }
        }
        kr_labelsel_destroy(&sel);
    }
    free(sorted);
    rbac_rule_t *cur;
    size_t ncur = rbac_rules_parse(a, kr_value_map_get(role, "rules"), &cur);
    bool same = ncur == n;
    for (size_t i = 0; i < n && same; i++)
        same = rbac_rule_equal(&cur[i], &rules[i]);
    if (same)
        return NULL;
    kr_value_t *out = kr_value_array(a);
    for (size_t i = 0; i < n; i++)
        kr_value_array_push(a, out, rbac_rule_value(a, &rules[i]));
    return out;
}
