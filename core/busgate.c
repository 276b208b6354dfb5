/* The bus gate (busgate.h). */
#include "busgate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/authz.h>
#include <kraal/log.h>

#include "xalloc.h"

#define TAG "busgate"

#define NODE_PREFIX "system:node:"
#define NODES_GROUP "system:nodes"

#define STREAM_RES   "node-stream/" /* agent-node's streams (plugins/agent/node/stream.h) */
#define STREAM_INPUT "node.stream.input"
#define TOKENREQUEST_OP \
    "authn.tokenrequest" /* auth-token's (plugins/auth/token/serviceaccount.h) */

struct kr_busgate {
    kr_api_t *api;
    char *authorizer;
    kr_arena_t *arena;
};

static bool in_group(const char *const *groups, const char *g)
{
    for (size_t i = 0; groups && groups[i]; i++)
        if (strcmp(groups[i], g) == 0)
            return true;
    return false;
}

/* The node a user is (upstream's NodeIdentifier: the name prefix and the
 * group both), or NULL. */
static const char *node_of(const char *user, const char *const *groups)
{
    if (strncmp(user, NODE_PREFIX, strlen(NODE_PREFIX)) != 0 || !in_group(groups, NODES_GROUP))
        return NULL;
    const char *n = user + strlen(NODE_PREFIX);
    return *n ? n : NULL;
}

static const char *dup_str(kr_arena_t *a, kr_env_str_t s)
{
    if (s.p == NULL || s.len == 0)
        return NULL;
    char *d = kr_arena_alloc(a, s.len + 1);
    memcpy(d, s.p, s.len);
    d[s.len] = '\0';
    return d;
}

static bool is_write(const char *verb)
{
    return strcmp(verb, "create") == 0 || strcmp(verb, "update") == 0 ||
           strcmp(verb, "patch") == 0 || strcmp(verb, "delete") == 0 ||
           strcmp(verb, "deletecollection") == 0;
}

/* "pods \"x\" is forbidden: <why>" as upstream's admission errors read. */
static int forbid(kr_error_t *err, const char *res, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int forbid(kr_error_t *err, const char *res, const char *name, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *plural = strrchr(res, '/') ? strrchr(res, '/') + 1 : res;
    if (name != NULL)
        return kr_error_set(err, KR_E_FORBIDDEN, "%s \"%s\" is forbidden: %s", plural, name, why);
    return kr_error_set(err, KR_E_FORBIDDEN, "%s is forbidden: %s", plural, why);
}

static const char *spec_node(const kr_value_t *pod)
{
    return kr_value_map_str(kr_value_map_get(pod, "spec"), "nodeName");
}

int kr_node_restriction(const char *node, const char *verb, const char *res, const char *ns,
                        const char *name, const kr_value_t *obj, const kr_value_t *stored,
                        kr_error_t *err)
{
    if (!is_write(verb))
        return 0;
    if (strcmp(res, "v1/nodes") == 0) {
        const char *target = name;
        if (strcmp(verb, "create") == 0 && obj != NULL)
            target = kr_value_map_str(kr_value_map_get(obj, "metadata"), "name");
        if (target == NULL)
            return forbid(err, res, NULL, "node \"%s\" is not allowed to modify other nodes", node);
        if (strcmp(target, node) != 0)
            return forbid(err, res, target, "node \"%s\" is not allowed to modify node \"%s\"",
                          node, target);
        return 0;
    }
    if (strcmp(res, "coordination.k8s.io/v1/leases") == 0) {
        const char *target = name;
        if (strcmp(verb, "create") == 0 && obj != NULL)
            target = kr_value_map_str(kr_value_map_get(obj, "metadata"), "name");
        if (ns == NULL || strcmp(ns, "kube-node-lease") != 0 || target == NULL ||
            strcmp(target, node) != 0)
            return forbid(err, res, target,
                          "can only access node lease with the same name as the requesting node");
        return 0;
    }
    if (strcmp(res, "v1/pods") == 0) {
        if (strcmp(verb, "deletecollection") == 0)
            return forbid(err, res, NULL, "node \"%s\" can only delete pods one by one", node);
        if (strcmp(verb, "create") == 0) {
            const char *on = obj ? spec_node(obj) : NULL;
            if (on == NULL || strcmp(on, node) != 0)
                return forbid(err, res, name,
                              "node \"%s\" can only create pods with spec.nodeName set to itself",
                              node);
            return 0;
        }
        const char *on = stored ? spec_node(stored) : NULL;
        if (stored != NULL && (on == NULL || strcmp(on, node) != 0)) {
            if (strcmp(verb, "delete") == 0)
                return forbid(err, res, name,
                              "node \"%s\" can only delete pods with spec.nodeName set to itself",
                              node);
            return forbid(err, res, name,
                          "node \"%s\" can only update pod status for pods with spec.nodeName set "
                          "to itself",
                          node);
        }
        return 0;
    }
    return 0;
}

/* ---- the Node authorizer's graph, for a node's reads --------------------
 *
 * Upstream's Node authorizer lets a node read a Secret or ConfigMap only
 * when a pod bound to it references it (podutil.VisitPodSecretNames /
 * VisitPodConfigmapNames), and ask a ServiceAccount token only for an
 * account a pod bound to it runs as.  Here the graph is the cache: the
 * pods of the namespace with spec.nodeName = the node, looked at when
 * asked (a node reads few of them). */

typedef struct pod_ref {
    const char *kind; /* "secrets", "configmaps", "serviceaccounts" */
    const char *name;
    bool found;
} pod_ref_t;

static bool name_is(const kr_value_t *m, const char *key, const char *name)
{
    const char *v = kr_value_map_str(m, key);
    return v != NULL && strcmp(v, name) == 0;
}

static bool container_refs(const kr_value_t *containers, bool secret, const char *name)
{
    for (size_t i = 0; i < kr_value_len(containers); i++) {
        const kr_value_t *c = kr_value_array_get(containers, i), *env = kr_value_map_get(c, "env"),
                         *from = kr_value_map_get(c, "envFrom");
        for (size_t j = 0; j < kr_value_len(env); j++) {
            const kr_value_t *vf = kr_value_map_get(kr_value_array_get(env, j), "valueFrom");
            if (name_is(kr_value_map_get(vf, secret ? "secretKeyRef" : "configMapKeyRef"), "name",
                        name))
                return true;
        }
        for (size_t j = 0; j < kr_value_len(from); j++)
            if (name_is(kr_value_map_get(kr_value_array_get(from, j),
                                         secret ? "secretRef" : "configMapRef"),
                        "name", name))
                return true;
    }
    return false;
}

static bool volume_refs(const kr_value_t *volumes, bool secret, const char *name)
{
    for (size_t i = 0; i < kr_value_len(volumes); i++) {
        const kr_value_t *v = kr_value_array_get(volumes, i);
        if (secret ? name_is(kr_value_map_get(v, "secret"), "secretName", name)
                   : name_is(kr_value_map_get(v, "configMap"), "name", name))
            return true;
        const kr_value_t *sources = kr_value_map_get(kr_value_map_get(v, "projected"), "sources");
        for (size_t j = 0; j < kr_value_len(sources); j++)
            if (name_is(kr_value_map_get(kr_value_array_get(sources, j),
                                         secret ? "secret" : "configMap"),
                        "name", name))
                return true;
        /* the volume sources that name a Secret for their credentials
         * (cephfs, rbd, iscsi, flexVolume, scaleIO, storageos: secretRef;
         * csi: nodePublishSecretRef) */
        for (size_t k = 0; secret && k < kr_value_len(v); k++) {
            const kr_value_t *src = kr_value_map_val(v, k);
            if (kr_value_type(src) == KR_MAP &&
                (name_is(kr_value_map_get(src, "secretRef"), "name", name) ||
                 name_is(kr_value_map_get(src, "nodePublishSecretRef"), "name", name)))
                return true;
        }
    }
    return false;
}

static bool pod_refs(const kr_value_t *pod, void *ud)
{
    pod_ref_t *r = ud;
    const kr_value_t *spec = kr_value_map_get(pod, "spec");
    if (strcmp(r->kind, "serviceaccounts") == 0) {
        const char *sa = kr_value_map_str(spec, "serviceAccountName");
        r->found = strcmp(sa ? sa : "default", r->name) == 0;
        return !r->found;
    }
    bool secret = strcmp(r->kind, "secrets") == 0;
    if (secret) {
        const kr_value_t *ips = kr_value_map_get(spec, "imagePullSecrets");
        for (size_t i = 0; i < kr_value_len(ips); i++)
            if (name_is(kr_value_array_get(ips, i), "name", r->name))
                r->found = true;
    }
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    for (size_t i = 0; i < 3 && !r->found; i++)
        r->found = container_refs(kr_value_map_get(spec, lists[i]), secret, r->name);
    if (!r->found)
        r->found = volume_refs(kr_value_map_get(spec, "volumes"), secret, r->name);
    return !r->found;
}

/* The Node authorizer's part: 0 when `node` may do this, else
 * KR_E_FORBIDDEN with upstream's reason.  Only Secrets, ConfigMaps and
 * ServiceAccount tokens are narrowed; the rest is RBAC's. */
static int node_graph(kr_busgate_t *g, const char *node, const char *user, const char *verb,
                      const char *res, const char *ns, const char *name, const char *sub,
                      kr_error_t *err)
{
    const char *kind = NULL;
    if (strcmp(res, "v1/secrets") == 0 && sub == NULL)
        kind = "secrets";
    else if (strcmp(res, "v1/configmaps") == 0 && sub == NULL)
        kind = "configmaps";
    else if (strcmp(res, "v1/serviceaccounts") == 0 && sub != NULL && strcmp(sub, "token") == 0)
        kind = "serviceaccounts";
    if (kind == NULL)
        return 0;
    bool ok = false;
    const char *want_verb = strcmp(kind, "serviceaccounts") == 0 ? "create" : "get";
    if (strcmp(verb, want_verb) == 0 && ns != NULL && name != NULL) {
        pod_ref_t r = {kind, name, false};
        kr_api_walk(g->api, "v1/pods", ns, "spec.nodeName", node, pod_refs, &r, g->arena);
        ok = r.found;
    }
    if (ok)
        return 0;
    const char *what = sub ? kr_arena_printf(g->arena, "%s/%s", kind, sub) : kind;
    const char *scope =
        ns ? kr_arena_printf(g->arena, "in the namespace \"%s\"", ns) : "at the cluster scope";
    return forbid(err, kind, name,
                  "User \"%s\" cannot %s resource \"%s\" in API group \"\" %s: no relationship "
                  "found between node '%s' and this object",
                  user, verb, what, scope, node);
}

/* May the node serve this op?  Only its own streams. */
static bool node_may_serve(const char *node, const char *op, const char *res)
{
    if (op == NULL || res == NULL)
        return false;
    if (strcmp(op, "watch") == 0)
        return strncmp(res, STREAM_RES, strlen(STREAM_RES)) == 0 &&
               strcmp(res + strlen(STREAM_RES), node) == 0;
    return strcmp(op, STREAM_INPUT) == 0 && strcmp(res, node) == 0;
}

/* "v1/pods" -> group "", version v1, resource pods; "apps/v1/deployments"
 * -> apps, v1, deployments.  False for anything else. */
static bool split_res(kr_arena_t *a, const char *res, const char **group, const char **version,
                      const char **resource)
{
    const char *s1 = strchr(res, '/');
    if (s1 == NULL)
        return false;
    const char *s2 = strchr(s1 + 1, '/');
    if (s2 == NULL) {
        *group = "";
        *version = kr_arena_strndup(a, res, (size_t)(s1 - res));
        *resource = s1 + 1;
    } else {
        if (strchr(s2 + 1, '/') != NULL)
            return false;
        *group = kr_arena_strndup(a, res, (size_t)(s1 - res));
        *version = kr_arena_strndup(a, s1 + 1, (size_t)(s2 - s1 - 1));
        *resource = s2 + 1;
    }
    return **resource != '\0';
}

static bool object_op(const char *op)
{
    static const char *const ops[] = {"get",    "list",  "watch",  "create",
                                      "update", "patch", "delete", "deletecollection"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, ops[i]) == 0)
            return true;
    return false;
}

/* The authorizer's decision on an object op; 0 when allowed. */
static int authorize(kr_busgate_t *g, const kr_broker_req_t *req, const char *verb, const char *res,
                     const char *ns, const char *name, const char *sub, kr_error_t *err)
{
    if (g->authorizer == NULL)
        return 0;
    const kr_authz_ops_t *ops;
    void *self;
    if (kr_authz_find(g->authorizer, &ops, &self, err) < 0)
        return kr_error_set(err, KR_E_FORBIDDEN, "api.authorizer: %s", err->message);
    kr_arena_t *a = g->arena;
    const char *group, *version, *resource;
    if (!split_res(a, res, &group, &version, &resource))
        return forbid(err, res, name, "User \"%s\" cannot %s \"%s\"", req->user, verb, res);
    size_t ng = 0;
    while (req->groups[ng])
        ng++;
    kr_authz_user_t user = {.name = req->user, .groups = req->groups, .ngroups = ng};
    /* a watch or list of one object by name is its get's, as upstream's
     * request info makes fieldSelector=metadata.name= a named request */
    kr_authz_attrs_t at = {.user = &user,
                           .verb = verb,
                           .resource_request = true,
                           .group = group,
                           .version = version,
                           .resource = resource,
                           .subresource = sub,
                           .ns = ns,
                           .name = name};
    char reason[512] = "";
    if (ops->authorize(self, &at, reason, sizeof reason) == KR_AUTHZ_ALLOW)
        return 0;
    const char *what_res = sub ? kr_arena_printf(a, "%s/%s", resource, sub) : resource;
    const char *what =
        ns ? kr_arena_printf(a,
                             "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" in the "
                             "namespace \"%s\"",
                             req->user, verb, what_res, group, ns)
           : kr_arena_printf(a,
                             "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" at the "
                             "cluster scope",
                             req->user, verb, what_res, group);
    if (reason[0])
        what = kr_arena_printf(a, "%s: %s", what, reason);
    const char *qualified = *group ? kr_arena_printf(a, "%s.%s", resource, group) : resource;
    if (name != NULL)
        return kr_error_set(err, KR_E_FORBIDDEN, "%s \"%s\" is forbidden: %s", qualified, name,
                            what);
    return kr_error_set(err, KR_E_FORBIDDEN, "%s is forbidden: %s", qualified, what);
}

static bool gate(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_busgate_t *g = ud;
    kr_arena_t *a = g->arena;
    kr_arena_reset(a);
    const char *op = dup_str(a, req->env->op);
    if (in_group(req->groups, "system:masters") || in_group(req->groups, KR_CURVE_PLUGINS_GROUP))
        return true;
    static const char *const open_ops[] = {"ping",      "bye",   "unwatch",
                                           "node.join", "kinds", "openapi"};
    for (size_t i = 0; i < sizeof open_ops / sizeof open_ops[0]; i++)
        if (strcmp(op, open_ops[i]) == 0)
            return true;
    const char *node = node_of(req->user, req->groups);
    kr_value_t *msg = NULL;
    kr_error_t err;
    char m[600];
    if (strcmp(op, "serve") == 0 || strcmp(op, "unserve") == 0) {
        const char *name = dup_str(a, req->env->name), *res = dup_str(a, req->env->res);
        if (node != NULL && node_may_serve(node, name, res))
            return true;
        snprintf(m, sizeof m,
                 "User \"%s\" cannot %s op \"%s\"%s%s%s: a node serves only its own streams (op "
                 "\"watch\" for \"" STREAM_RES "<its name>\", \"" STREAM_INPUT "\" for its name)",
                 req->user, op, name ? name : "", res ? " for \"" : "", res ? res : "",
                 res ? "\"" : "");
        kr_broker_fail(b, req, KR_E_FORBIDDEN, m);
        return false;
    }
    const char *res = dup_str(a, req->env->res), *ns = dup_str(a, req->env->ns),
               *name = dup_str(a, req->env->name), *sub = dup_str(a, req->env->sub);
    const char *verb = op;
    /* auth-token's TokenRequest (the serviceaccounts/token subresource,
     * which the agent asks for its pods' projected tokens): authorized as
     * the subresource's create */
    bool tokenrequest = strcmp(op, TOKENREQUEST_OP) == 0;
    if (tokenrequest) {
        verb = "create";
        res = "v1/serviceaccounts";
        sub = "token";
    } else if (!object_op(op)) {
        snprintf(m, sizeof m, "User \"%s\" cannot call op \"%s\" on the bus", req->user, op);
        kr_broker_fail(b, req, KR_E_FORBIDDEN, m);
        return false;
    }
    if (res == NULL)
        return true; /* the API answers its own 400 */
    if ((node != NULL && node_graph(g, node, req->user, verb, res, ns, name, sub, &err) < 0) ||
        authorize(g, req, verb, res, ns, name, sub, &err) < 0) {
        KR_DEBUG(TAG, "refused", "user=\"%s\" op=%s res=%s error=\"%s\"", req->user, op, res,
                 err.message);
        kr_broker_fail(b, req, KR_E_FORBIDDEN, err.message);
        return false;
    }
    if (node == NULL || !is_write(verb))
        return true;
    kr_msgpack_decode(a, req->data, req->len, &msg, NULL);
    const kr_value_t *obj = kr_value_map_get(msg, "obj");
    if (tokenrequest) {
        /* NodeRestriction: a node's tokens are bound to its pods (auth-token
         * checks that the pod is bound to this node) */
        const char *kind = kr_value_as_str(kr_value_get(obj, "spec.boundObjectRef.kind"));
        if (kind != NULL && strcmp(kind, "Pod") == 0)
            return true;
        forbid(&err, res, name, "node requested token not bound to a pod");
        kr_broker_fail(b, req, KR_E_FORBIDDEN, err.message);
        return false;
    }
    const kr_value_t *stored =
        name && strcmp(res, "v1/pods") == 0 ? kr_api_lookup(g->api, res, ns, name, a) : NULL;
    if (kr_node_restriction(node, op, res, ns, name, obj, stored, &err) < 0) {
        KR_INFO(TAG, "NodeRestriction refused", "user=\"%s\" op=%s res=%s name=\"%s\"", req->user,
                op, res, name ? name : "");
        kr_broker_fail(b, req, KR_E_FORBIDDEN, err.message);
        return false;
    }
    return true;
}

kr_busgate_t *kr_busgate_new(kr_broker_t *b, kr_api_t *api, const char *authorizer)
{
    kr_busgate_t *g = xcalloc(1, sizeof *g);
    g->api = api;
    g->authorizer = authorizer && *authorizer ? xstrdup(authorizer) : NULL;
    g->arena = kr_arena_new(0);
    kr_broker_set_gate(b, gate, g);
    return g;
}

void kr_busgate_destroy(kr_busgate_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_busgate_t *g = *self_p;
    free(g->authorizer);
    kr_arena_destroy(&g->arena);
    free(g);
    *self_p = NULL;
}
