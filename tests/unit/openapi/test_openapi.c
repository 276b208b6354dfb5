/* The OpenAPI documents (core/openapi.c) as kubectl reads them: a kind's
 * definition with its group-version-kind, list merge keys, every resource's
 * paths and the parameters kubectl looks for (fieldValidation on PATCH),
 * plugin kinds, the v3 index's hashes, and the v2 protobuf decoded field by
 * field as gnostic's Document. */
/* tests/unit/registry's: an arena and the built-in kinds for each test. */
#include "fixture.h"

#include <ctype.h>
#include <stdio.h>

#include "openapi.h"

static const char *to_json(const kr_value_t *v)
{
    kr_buf_t buf = KR_BUF_INIT;
    kr_json_encode(v, &buf, KR_JSON_COMPACT, NULL);
    char *s = kr_arena_strdup(arena, buf.data ? buf.data : "");
    kr_buf_free(&buf);
    return s;
}

/* A kind as a plugin registers it, with what a CRD schema may say. */
static const char widget[] =
    "{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\",\"plural\":\"widgets\","
    "\"namespaced\":true,\"subresources\":{\"status\":{}},"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"description\":\"A widget.\","
    "\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{"
    "\"size\":{\"type\":\"integer\",\"description\":\"How big.\"},"
    "\"port\":{\"x-kubernetes-int-or-string\":true,"
    "\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]},"
    "\"note\":{\"type\":\"string\",\"nullable\":true},"
    "\"extra\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,"
    "\"properties\":{\"a\":{\"type\":\"string\"}}},"
    "\"tags\":{\"type\":\"array\"},"
    "\"owner\":{\"$ref\":\"#/components/schemas/no.such.Definition\"},"
    "\"ports\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"map\","
    "\"x-kubernetes-list-map-keys\":[\"name\"],\"items\":{\"type\":\"object\","
    "\"properties\":{\"name\":{\"type\":\"string\"}}}}},"
    "\"required\":[\"size\",\"note\"]}}}}}";

static const kr_kind_t *add_kind(const char *desc)
{
    kr_error_t err;
    const kr_kind_t *k = kr_registry_add(reg, J(desc), &err);
    if (k == NULL)
        fail_msg("kr_registry_add: %s", err.message);
    return k;
}

/* Every "$ref" below v names an entry of defs (after prefix), or a shared
 * parameter of the v2 document. */
static void refs_resolve(const kr_value_t *v, const char *prefix, const kr_value_t *defs,
                         const kr_value_t *params)
{
    if (kr_value_type(v) == KR_ARRAY) {
        for (size_t i = 0; i < kr_value_len(v); i++)
            refs_resolve(kr_value_array_get(v, i), prefix, defs, params);
        return;
    }
    for (size_t i = 0; kr_value_type(v) == KR_MAP && i < kr_value_len(v); i++) {
        const char *key = kr_value_map_key(v, i);
        const kr_value_t *val = kr_value_map_val(v, i);
        if (strcmp(key, "$ref") != 0) {
            refs_resolve(val, prefix, defs, params);
            continue;
        }
        const char *ref = kr_value_as_str(val);
        assert_non_null(ref);
        if (params != NULL && strncmp(ref, "#/parameters/", 13) == 0) {
            if (kr_value_map_get(params, ref + 13) == NULL)
                fail_msg("dangling parameter %s", ref);
            continue;
        }
        if (strncmp(ref, prefix, strlen(prefix)) != 0 ||
            kr_value_map_get(defs, ref + strlen(prefix)) == NULL)
            fail_msg("dangling reference %s", ref);
    }
}

/* Whether any map below v has `key`. */
static bool has_key(const kr_value_t *v, const char *key)
{
    if (kr_value_type(v) == KR_ARRAY) {
        for (size_t i = 0; i < kr_value_len(v); i++)
            if (has_key(kr_value_array_get(v, i), key))
                return true;
        return false;
    }
    for (size_t i = 0; kr_value_type(v) == KR_MAP && i < kr_value_len(v); i++) {
        const char *k = kr_value_map_key(v, i);
        if (strcmp(k, key) == 0)
            return true;
        /* Field names are data, not keywords. */
        if (strcmp(k, "properties") == 0) {
            const kr_value_t *props = kr_value_map_val(v, i);
            for (size_t j = 0; j < kr_value_len(props); j++)
                if (has_key(kr_value_map_val(props, j), key))
                    return true;
            continue;
        }
        if (has_key(kr_value_map_val(v, i), key))
            return true;
    }
    return false;
}

static const kr_value_t *path_of(const kr_value_t *doc, const char *path)
{
    const kr_value_t *p = kr_value_map_get(kr_value_map_get(doc, "paths"), path);
    if (p == NULL)
        fail_msg("no path %s", path);
    return p;
}

static void assert_gvk(const kr_value_t *gvk, const char *group, const char *version,
                       const char *kind)
{
    assert_int_equal(kr_value_len(gvk), 3);
    assert_string_equal(kr_value_map_str(gvk, "group"), group);
    assert_string_equal(kr_value_map_str(gvk, "version"), version);
    assert_string_equal(kr_value_map_str(gvk, "kind"), kind);
}

/* The parameter named `name` among an operation's own parameters, through
 * the v2 document's shared ones (params) when they are references. */
static const kr_value_t *param_of(const kr_value_t *op, const kr_value_t *params, const char *name)
{
    const kr_value_t *list = kr_value_map_get(op, "parameters");
    for (size_t i = 0; i < kr_value_len(list); i++) {
        const kr_value_t *p = kr_value_array_get(list, i);
        const char *ref = kr_value_map_str(p, "$ref");
        if (ref != NULL && params != NULL && strncmp(ref, "#/parameters/", 13) == 0)
            p = kr_value_map_get(params, ref + 13);
        const char *n = kr_value_map_str(p, "name");
        if (n != NULL && strcmp(n, name) == 0)
            return p;
    }
    return NULL;
}

static bool str_in(const kr_value_t *arr, const char *s)
{
    for (size_t i = 0; i < kr_value_len(arr); i++)
        if (strcmp(kr_value_as_str(kr_value_array_get(arr, i)), s) == 0)
            return true;
    return false;
}

/* ---- v2 ----------------------------------------------------------------- */

static void v2_definitions(void **state)
{
    (void)state;
    kr_value_t *doc = kr_openapi_v2(arena, reg);
    assert_string_equal(kr_value_map_str(doc, "swagger"), "2.0");
    const kr_value_t *defs = kr_value_map_get(doc, "definitions");
    const kr_value_t *dep = kr_value_map_get(defs, "io.k8s.api.apps.v1.Deployment");
    assert_non_null(dep);
    const kr_value_t *gvks = kr_value_map_get(dep, "x-kubernetes-group-version-kind");
    assert_int_equal(kr_value_len(gvks), 1);
    assert_gvk(kr_value_array_get(gvks, 0), "apps", "v1", "Deployment");
    assert_gvk(kr_value_array_get(kr_value_get(defs, "[\"io.k8s.api.core.v1.Pod\"]"
                                                     ".x-kubernetes-group-version-kind"),
                                  0),
               "", "v1", "Pod");

    /* A field referring to a definition is a $ref with the field's own
     * description and patch strategy beside it, as upstream's v2. */
    const kr_value_t *strategy =
        kr_value_get(defs, "[\"io.k8s.api.apps.v1.DeploymentSpec\"].properties.strategy");
    assert_string_equal(kr_value_map_str(strategy, "$ref"),
                        "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy");
    assert_string_equal(kr_value_map_str(strategy, "x-kubernetes-patch-strategy"), "retainKeys");
    assert_non_null(kr_value_map_str(strategy, "description"));
    assert_null(kr_value_map_get(strategy, "allOf"));

    /* List merge metadata is kept. */
    const kr_value_t *podspec = kr_value_map_get(defs, "io.k8s.api.core.v1.PodSpec");
    const kr_value_t *containers = kr_value_get(podspec, "properties.containers");
    assert_string_equal(kr_value_map_str(containers, "x-kubernetes-patch-merge-key"), "name");
    assert_string_equal(kr_value_map_str(containers, "x-kubernetes-patch-strategy"), "merge");
    assert_string_equal(
        kr_value_get(containers, "items.$ref") != NULL
            ? kr_value_as_str(kr_value_map_get(kr_value_map_get(containers, "items"), "$ref"))
            : "",
        "#/definitions/io.k8s.api.core.v1.Container");
    assert_string_equal(
        kr_value_map_str(kr_value_get(defs, "[\"io.k8s.api.core.v1.Container\"].properties.ports"),
                         "x-kubernetes-patch-merge-key"),
        "containerPort");

    /* IntOrString and Quantity as upstream's v2 writes them. */
    const kr_value_t *ios =
        kr_value_map_get(defs, "io.k8s.apimachinery.pkg.util.intstr.IntOrString");
    assert_string_equal(kr_value_map_str(ios, "type"), "string");
    assert_string_equal(kr_value_map_str(ios, "format"), "int-or-string");
    assert_null(kr_value_map_get(ios, "oneOf"));
    const kr_value_t *q = kr_value_map_get(defs, "io.k8s.apimachinery.pkg.api.resource.Quantity");
    assert_string_equal(kr_value_map_str(q, "type"), "string");
    assert_null(kr_value_map_get(q, "format"));
    assert_non_null(kr_value_map_get(defs, "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"));

    /* Nothing of v3 is left, and every reference resolves. */
    assert_false(has_key(defs, "oneOf"));
    assert_false(has_key(defs, "anyOf"));
    assert_false(has_key(defs, "allOf"));
    assert_false(has_key(defs, "nullable"));
    assert_null(strstr(to_json(doc), "#/components/"));
    refs_resolve(doc, "#/definitions/", defs, kr_value_map_get(doc, "parameters"));
}

/* The paths of one kind: collection, object, and the operations kubectl
 * uses, each with its action and group-version-kind. */
static void check_kind_paths(const kr_value_t *doc, const kr_kind_t *k, bool v2)
{
    const kr_value_t *params = v2 ? kr_value_map_get(doc, "parameters") : NULL;
    const char *root = k->group[0] ? kr_arena_printf(arena, "/apis/%s/%s", k->group, k->version)
                                   : kr_arena_printf(arena, "/api/%s", k->version);
    const char *coll = kr_arena_printf(arena, "%s%s/%s", root,
                                       k->namespaced ? "/namespaces/{namespace}" : "", k->plural);
    const kr_value_t *c = path_of(doc, coll);
    const kr_value_t *post = kr_value_map_get(c, "post");
    assert_string_equal(kr_value_map_str(post, "x-kubernetes-action"), "post");
    assert_gvk(kr_value_map_get(post, "x-kubernetes-group-version-kind"), k->group, k->version,
               k->kind);
    assert_non_null(param_of(post, params, "fieldValidation"));
    assert_non_null(param_of(post, params, "dryRun"));
    assert_non_null(param_of(post, params, "fieldManager"));
    if (k->builtin && strcmp(k->kind, "Binding") == 0) {
        /* create-only, as upstream's bindings */
        assert_int_equal(kr_value_len(c), 2); /* post + parameters */
        assert_null(kr_value_map_get(kr_value_map_get(doc, "paths"),
                                     kr_arena_printf(arena, "%s/{name}", coll)));
        return;
    }
    const kr_value_t *list = kr_value_map_get(c, "get");
    assert_string_equal(kr_value_map_str(list, "x-kubernetes-action"), "list");
    assert_non_null(param_of(list, params, "labelSelector"));
    assert_non_null(param_of(list, params, "watch"));
    assert_string_equal(kr_value_as_str(kr_value_get(c, "delete.x-kubernetes-action")),
                        "deletecollection");

    const kr_value_t *one = path_of(doc, kr_arena_printf(arena, "%s/{name}", coll));
    static const char *const methods[] = {"get", "put", "patch", "delete"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        const kr_value_t *op = kr_value_map_get(one, methods[i]);
        if (op == NULL)
            fail_msg("%s/{name}: no %s", coll, methods[i]);
        assert_string_equal(kr_value_map_str(op, "x-kubernetes-action"), methods[i]);
        assert_gvk(kr_value_map_get(op, "x-kubernetes-group-version-kind"), k->group, k->version,
                   k->kind);
    }
    /* What kubectl's query-param verifier looks for on PATCH. */
    const kr_value_t *patch = kr_value_map_get(one, "patch");
    const kr_value_t *fv = param_of(patch, params, "fieldValidation");
    assert_non_null(fv);
    assert_string_equal(kr_value_map_str(fv, "in"), "query");
    assert_non_null(param_of(patch, params, "dryRun"));
    assert_non_null(param_of(patch, params, "fieldManager"));
    assert_non_null(param_of(patch, params, "force"));
    assert_non_null(param_of(kr_value_map_get(one, "put"), params, "fieldValidation"));
    /* Strategic merge for built-ins only, as upstream for CRDs. */
    const char *smp = "application/strategic-merge-patch+json";
    bool has_smp = v2 ? str_in(kr_value_map_get(patch, "consumes"), smp)
                      : kr_value_map_get(kr_value_get(patch, "requestBody.content"), smp) != NULL;
    assert_int_equal(has_smp, k->builtin);
    /* The path's name parameter names the kind. */
    const kr_value_t *name = param_of(one, NULL, "name");
    assert_non_null(name);
    assert_string_equal(kr_value_map_str(name, "in"), "path");
    assert_true(kr_value_as_bool(kr_value_map_get(name, "required"), false));
    assert_string_equal(kr_value_map_str(name, "description"),
                        kr_arena_printf(arena, "name of the %s", k->kind));
    if (k->subresources & KR_SUB_STATUS)
        assert_gvk(kr_value_get(path_of(doc, kr_arena_printf(arena, "%s/{name}/status", coll)),
                                "patch.x-kubernetes-group-version-kind"),
                   k->group, k->version, k->kind);
    if (k->subresources & KR_SUB_SCALE)
        assert_gvk(kr_value_get(path_of(doc, kr_arena_printf(arena, "%s/{name}/scale", coll)),
                                "put.x-kubernetes-group-version-kind"),
                   "autoscaling", "v1", "Scale");
    if (k->subresources & KR_SUB_BINDING)
        assert_gvk(kr_value_get(path_of(doc, kr_arena_printf(arena, "%s/{name}/binding", coll)),
                                "post.x-kubernetes-group-version-kind"),
                   "", "v1", "Binding");
    if (k->namespaced)
        assert_string_equal(kr_value_as_str(kr_value_get(
                                path_of(doc, kr_arena_printf(arena, "%s/%s", root, k->plural)),
                                "get.x-kubernetes-action")),
                            "list");
    path_of(doc, kr_arena_printf(arena, "%s/watch%s/%s/{name}", root,
                                 k->namespaced ? "/namespaces/{namespace}" : "", k->plural));
}

static void v2_paths_for_every_kind(void **state)
{
    (void)state;
    kr_value_t *doc = kr_openapi_v2(arena, reg);
    assert_int_equal(kr_registry_count(reg), 25);
    for (size_t i = 0; i < kr_registry_count(reg); i++)
        check_kind_paths(doc, kr_registry_at(reg, i), true);

    /* Upstream's operation ids and tags. */
    static const char *const ids[][3] = {
        {"/api/v1/namespaces/{namespace}/pods", "get", "listCoreV1NamespacedPod"},
        {"/api/v1/pods", "get", "listCoreV1PodForAllNamespaces"},
        {"/api/v1/namespaces/{namespace}/pods/{name}/binding", "post",
         "createCoreV1NamespacedPodBinding"},
        {"/api/v1/namespaces/{namespace}/bindings", "post", "createCoreV1NamespacedBinding"},
        {"/api/v1/nodes/{name}/status", "patch", "patchCoreV1NodeStatus"},
        {"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "get",
         "readAppsV1NamespacedDeploymentScale"},
        {"/apis/apps/v1/namespaces/{namespace}/deployments", "delete",
         "deleteAppsV1CollectionNamespacedDeployment"},
        {"/apis/batch/v1/watch/namespaces/{namespace}/jobs", "get",
         "watchBatchV1NamespacedJobList"},
        {"/apis/scheduling.k8s.io/v1/priorityclasses/{name}", "delete",
         "deleteSchedulingV1PriorityClass"},
        {"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings", "post",
         "createRbacAuthorizationV1NamespacedRoleBinding"},
        {"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}", "put",
         "replaceRbacAuthorizationV1ClusterRole"},
        {"/api/v1/namespaces/{namespace}/resourcequotas/{name}/status", "patch",
         "patchCoreV1NamespacedResourceQuotaStatus"},
        {"/api/v1/namespaces/{namespace}/limitranges", "post", "createCoreV1NamespacedLimitRange"},
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        assert_string_equal(
            kr_value_map_str(kr_value_map_get(path_of(doc, ids[i][0]), ids[i][1]), "operationId"),
            ids[i][2]);
    const kr_value_t *patch = kr_value_map_get(
        path_of(doc, "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"), "patch");
    assert_string_equal(kr_value_map_str(patch, "operationId"),
                        "patchCoordinationV1NamespacedLease");
    assert_string_equal(kr_value_as_str(kr_value_array_get(kr_value_map_get(patch, "tags"), 0)),
                        "coordination_v1");

    /* v2's shape of an operation: a body parameter, produces, responses. */
    const kr_value_t *body = kr_value_array_get(kr_value_map_get(patch, "parameters"), 0);
    assert_string_equal(kr_value_map_str(body, "in"), "body");
    assert_true(kr_value_as_bool(kr_value_map_get(body, "required"), false));
    assert_string_equal(kr_value_as_str(kr_value_get(body, "schema.$ref")),
                        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch");
    assert_string_equal(kr_value_as_str(kr_value_get(patch, "responses.200.schema.$ref")),
                        "#/definitions/io.k8s.api.coordination.v1.Lease");
    assert_true(str_in(kr_value_map_get(patch, "produces"), "application/json"));
    /* Shared query parameters are written once. */
    const kr_value_t *fv = kr_value_map_get(kr_value_map_get(doc, "parameters"), "fieldValidation");
    assert_string_equal(kr_value_map_str(fv, "type"), "string");
    assert_string_equal(kr_value_map_str(fv, "in"), "query");
}

/* ---- v3 ----------------------------------------------------------------- */

static void v3_group_version(void **state)
{
    (void)state;
    kr_value_t *doc = kr_openapi_v3_gv(arena, reg, "apis/apps/v1");
    assert_non_null(doc);
    assert_string_equal(kr_value_map_str(doc, "openapi"), "3.0.0");
    const kr_value_t *schemas = kr_value_get(doc, "components.schemas");
    /* The group version's kinds, their lists and what they refer to. */
    assert_gvk(kr_value_array_get(kr_value_get(schemas, "[\"io.k8s.api.apps.v1.Deployment\"]"
                                                        ".x-kubernetes-group-version-kind"),
                                  0),
               "apps", "v1", "Deployment");
    static const char *const present[] = {"io.k8s.api.apps.v1.DeploymentList",
                                          "io.k8s.api.apps.v1.StatefulSet",
                                          "io.k8s.api.core.v1.PodSpec",
                                          "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                                          "io.k8s.api.autoscaling.v1.Scale",
                                          "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
                                          "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                                          "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
                                          NULL};
    for (size_t i = 0; present[i] != NULL; i++)
        if (kr_value_map_get(schemas, present[i]) == NULL)
            fail_msg("apps/v1 lacks %s", present[i]);
    /* ... and nothing of other group versions. */
    assert_null(kr_value_map_get(schemas, "io.k8s.api.core.v1.Pod"));
    assert_null(kr_value_map_get(schemas, "io.k8s.api.batch.v1.Job"));
    for (size_t i = 0; i < kr_value_len(kr_value_map_get(doc, "paths")); i++)
        assert_ptr_equal(
            strstr(kr_value_map_key(kr_value_map_get(doc, "paths"), i), "/apis/apps/v1/"),
            kr_value_map_key(kr_value_map_get(doc, "paths"), i));
    /* v3 keeps allOf and IntOrString's oneOf, with v3 references. */
    assert_string_equal(
        kr_value_as_str(kr_value_get(schemas, "[\"io.k8s.api.apps.v1.DeploymentSpec\"]"
                                              ".properties.strategy.allOf[0].$ref")),
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy");
    assert_int_equal(kr_value_len(kr_value_get(
                         schemas, "[\"io.k8s.apimachinery.pkg.util.intstr.IntOrString\"].oneOf")),
                     2);
    assert_null(strstr(to_json(doc), "#/definitions/"));
    refs_resolve(doc, "#/components/schemas/", schemas, NULL);

    for (size_t i = 0; i < kr_registry_count(reg); i++) {
        const kr_kind_t *k = kr_registry_at(reg, i);
        if (strcmp(k->group, "apps") == 0)
            check_kind_paths(doc, k, false);
    }
    /* QueryParamVerifierV3 reads the PATCH operation's own parameters:
     * fieldValidation is written there, not referred to. */
    const kr_value_t *patch = kr_value_map_get(
        path_of(doc, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"), "patch");
    const kr_value_t *list = kr_value_map_get(patch, "parameters");
    bool found = false;
    for (size_t i = 0; i < kr_value_len(list); i++) {
        const kr_value_t *p = kr_value_array_get(list, i);
        assert_null(kr_value_map_get(p, "$ref"));
        found |= strcmp(kr_value_map_str(p, "name"), "fieldValidation") == 0;
        assert_string_equal(kr_value_as_str(kr_value_get(p, "schema.type")),
                            strcmp(kr_value_map_str(p, "name"), "force") == 0 ? "boolean"
                                                                              : "string");
    }
    assert_true(found);
    /* apply's v3 patch metadata needs strategic merge among the bodies. */
    assert_string_equal(
        kr_value_as_str(kr_value_get(patch, "requestBody.content[\"application/"
                                            "strategic-merge-patch+json\"].schema.$ref")),
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch");
    assert_string_equal(
        kr_value_as_str(kr_value_get(patch, "responses.200.content[\"application/json\"]"
                                            ".schema.$ref")),
        "#/components/schemas/io.k8s.api.apps.v1.Deployment");

    /* The core group; names as the index writes them. */
    kr_value_t *core = kr_openapi_v3_gv(arena, reg, "/api/v1");
    assert_non_null(core);
    assert_non_null(kr_value_get(core, "components.schemas[\"io.k8s.api.core.v1.Pod\"]"));
    for (size_t i = 0; i < kr_registry_count(reg); i++)
        if (kr_registry_at(reg, i)->group[0] == '\0')
            check_kind_paths(core, kr_registry_at(reg, i), false);
    static const char *const unknown[] = {
        "apis/apps/v2",        "api/v2", "apis/nope/v1", "apis/apps", "api", "", "apis/apps/v1/",
        "apis/apps/v1?hash=1", NULL};
    for (size_t i = 0; unknown[i] != NULL; i++)
        if (kr_openapi_v3_gv(arena, reg, unknown[i]) != NULL)
            fail_msg("%s is a group version", unknown[i]);
    assert_null(kr_openapi_v3_gv(arena, reg, NULL));
}

static bool is_upper_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'A' && s[i] <= 'F'))
            return false;
    return s[n] == '\0';
}

/* The hash in the index of group version gv. */
static const char *index_hash(const kr_value_t *idx, const char *gv)
{
    const kr_value_t *e = kr_value_map_get(kr_value_map_get(idx, "paths"), gv);
    const char *url = kr_value_map_str(e, "serverRelativeURL");
    if (url == NULL)
        fail_msg("the index has no %s", gv);
    const char *prefix = kr_arena_printf(arena, "/openapi/v3/%s?hash=", gv);
    assert_int_equal(strncmp(url, prefix, strlen(prefix)), 0);
    const char *hash = url + strlen(prefix);
    assert_int_equal(strlen(hash), KR_OPENAPI_ETAG_LEN);
    assert_true(is_upper_hex(hash, KR_OPENAPI_ETAG_LEN));
    return hash;
}

static void v3_index_hashes(void **state)
{
    (void)state;
    kr_value_t *idx = kr_openapi_v3_index(arena, reg);
    static const char *const gvs[] = {"api/v1",
                                      "apis/apps/v1",
                                      "apis/batch/v1",
                                      "apis/coordination.k8s.io/v1",
                                      "apis/discovery.k8s.io/v1",
                                      "apis/rbac.authorization.k8s.io/v1",
                                      "apis/scheduling.k8s.io/v1",
                                      NULL};
    assert_int_equal(kr_value_len(kr_value_map_get(idx, "paths")), 7);
    for (size_t i = 0; gvs[i] != NULL; i++) {
        /* The hash is the ETag of the document the URL serves. */
        const char *hash = index_hash(idx, gvs[i]);
        const char *json = to_json(kr_openapi_v3_gv(arena, reg, gvs[i]));
        char etag[KR_OPENAPI_ETAG_LEN + 1];
        kr_openapi_etag(json, strlen(json), etag);
        assert_string_equal(hash, etag);
    }
    /* Stable across calls, so clients keep their cache. */
    kr_value_t *again = kr_openapi_v3_index(arena, reg);
    assert_string_equal(to_json(idx), to_json(again));

    /* A new group version appears; the others keep their hash. */
    add_kind(widget);
    kr_value_t *after = kr_openapi_v3_index(arena, reg);
    assert_int_equal(kr_value_len(kr_value_map_get(after, "paths")), 8);
    const char *w1 = index_hash(after, "apis/example.com/v1");
    for (size_t i = 0; gvs[i] != NULL; i++)
        assert_string_equal(index_hash(after, gvs[i]), index_hash(idx, gvs[i]));
    /* A second kind in that group version changes its hash. */
    add_kind("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Gadget\","
             "\"plural\":\"gadgets\",\"namespaced\":false}");
    kr_value_t *third = kr_openapi_v3_index(arena, reg);
    assert_int_equal(kr_value_len(kr_value_map_get(third, "paths")), 8);
    assert_string_not_equal(index_hash(third, "apis/example.com/v1"), w1);
    assert_string_equal(index_hash(third, "api/v1"), index_hash(idx, "api/v1"));
}

/* ---- plugin kinds -------------------------------------------------------- */

static void plugin_kind(void **state)
{
    (void)state;
    const kr_kind_t *k = add_kind(widget);
    kr_value_t *v2 = kr_openapi_v2(arena, reg);
    const kr_value_t *defs = kr_value_map_get(v2, "definitions");
    /* Named as upstream names a CRD's definitions. */
    const kr_value_t *w = kr_value_map_get(defs, "com.example.v1.Widget");
    assert_non_null(w);
    assert_string_equal(kr_value_map_str(w, "description"), "A widget.");
    assert_gvk(kr_value_array_get(kr_value_map_get(w, "x-kubernetes-group-version-kind"), 0),
               "example.com", "v1", "Widget");
    assert_string_equal(kr_value_as_str(kr_value_get(w, "properties.metadata.$ref")),
                        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    assert_string_equal(kr_value_as_str(kr_value_get(w, "properties.apiVersion.type")), "string");
    assert_string_equal(kr_value_as_str(kr_value_get(w, "properties.spec.properties.size.type")),
                        "integer");
    /* What v2 cannot say goes, as upstream's ToStructuralOpenAPIV2. */
    const kr_value_t *spec = kr_value_get(w, "properties.spec");
    const kr_value_t *port = kr_value_get(spec, "properties.port");
    assert_true(kr_value_as_bool(kr_value_map_get(port, "x-kubernetes-int-or-string"), false));
    assert_null(kr_value_map_get(port, "anyOf"));
    assert_null(kr_value_map_get(port, "type"));
    const kr_value_t *note = kr_value_get(spec, "properties.note");
    assert_null(kr_value_map_get(note, "type"));
    assert_null(kr_value_map_get(note, "nullable"));
    assert_string_equal(to_json(kr_value_map_get(spec, "required")), "[\"size\"]");
    assert_null(kr_value_get(spec, "properties.extra.properties"));
    assert_null(kr_value_get(spec, "properties.tags.type"));  /* an array without items */
    assert_null(kr_value_get(spec, "properties.owner.$ref")); /* refers to nothing */
    const kr_value_t *ports = kr_value_get(spec, "properties.ports");
    assert_string_equal(kr_value_map_str(ports, "x-kubernetes-list-type"), "map");
    assert_string_equal(kr_value_as_str(kr_value_get(ports, "items.properties.name.type")),
                        "string");
    const kr_value_t *list = kr_value_map_get(defs, "com.example.v1.WidgetList");
    assert_gvk(kr_value_array_get(kr_value_map_get(list, "x-kubernetes-group-version-kind"), 0),
               "example.com", "v1", "WidgetList");
    assert_string_equal(kr_value_as_str(kr_value_get(list, "properties.items.items.$ref")),
                        "#/definitions/com.example.v1.Widget");
    refs_resolve(v2, "#/definitions/", defs, kr_value_map_get(v2, "parameters"));
    check_kind_paths(v2, k, true);
    /* The built-ins are all still there. */
    for (size_t i = 0; i < kr_registry_count(reg); i++)
        check_kind_paths(v2, kr_registry_at(reg, i), true);

    kr_value_t *v3 = kr_openapi_v3_gv(arena, reg, "apis/example.com/v1");
    assert_non_null(v3);
    const kr_value_t *schemas = kr_value_get(v3, "components.schemas");
    const kr_value_t *w3 = kr_value_map_get(schemas, "com.example.v1.Widget");
    /* v3 keeps the plugin's schema as written. */
    assert_int_equal(kr_value_len(kr_value_get(w3, "properties.spec.properties.port.anyOf")), 2);
    assert_true(
        kr_value_as_bool(kr_value_get(w3, "properties.spec.properties.note.nullable"), false));
    assert_string_equal(kr_value_as_str(kr_value_get(w3, "properties.metadata.allOf[0].$ref")),
                        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    assert_non_null(kr_value_map_get(schemas, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    assert_null(kr_value_map_get(schemas, "io.k8s.api.core.v1.Pod"));
    assert_null(kr_value_get(w3, "properties.spec.properties.owner.$ref"));
    refs_resolve(v3, "#/components/schemas/", schemas, NULL);
    check_kind_paths(v3, k, false);
}

/* ---- the ETag ------------------------------------------------------------ */

static void etag_is_sha512(void **state)
{
    (void)state;
    char out[KR_OPENAPI_ETAG_LEN + 1];
    /* FIPS 180-4's examples, and a message whose padding takes a block of
     * its own (112 bytes). */
    kr_openapi_etag("abc", 3, out);
    assert_string_equal(out, "DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A"
                             "2192992A274FC1A836BA3C23A3FEEBBD454D4423643CE80E2A9AC94FA54CA49F");
    kr_openapi_etag("", 0, out);
    assert_string_equal(out, "CF83E1357EEFB8BDF1542850D66D8007D620E4050B5715DC83F4A921D36CE9CE"
                             "47D0D13C5D85F2B0FF8318D2877EEC2F63B931BD47417A81A538327AF927DA3E");
    const char *two = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                      "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    assert_int_equal(strlen(two), 112);
    kr_openapi_etag(two, strlen(two), out);
    assert_string_equal(out, "8E959B75DAE313DA8CF4F72814FC143F8F7779C6EB9F7FA17299AEADB6889018"
                             "501D289E4900F7E4331B99DEC4B5433AC7D329EEB6DD26545E96E55B874BE909");
}

/* ---- protobuf ------------------------------------------------------------ */

/* A protobuf message: a reader that checks every field fits. */
typedef struct pbm {
    const unsigned char *p;
    size_t n;
} pbm_t;

static bool pb_varint_at(const unsigned char *p, size_t n, size_t *off, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *off < n; shift += 7) {
        unsigned char c = p[(*off)++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

/* The next field; false at the end.  Fails the test on a malformed one. */
static bool pb_next(const pbm_t *m, size_t *off, unsigned *field, uint64_t *num, pbm_t *bytes)
{
    if (*off >= m->n)
        return false;
    uint64_t key;
    if (!pb_varint_at(m->p, m->n, off, &key))
        fail_msg("truncated key at %zu", *off);
    *field = (unsigned)(key >> 3);
    assert_true(*field > 0);
    switch (key & 7) {
    case 0:
        if (!pb_varint_at(m->p, m->n, off, num))
            fail_msg("truncated varint");
        break;
    case 1:
        assert_true(*off + 8 <= m->n);
        *off += 8;
        break;
    case 2: {
        uint64_t len;
        if (!pb_varint_at(m->p, m->n, off, &len) || len > m->n - *off)
            fail_msg("length-delimited field %u overruns its message", *field);
        *bytes = (pbm_t){m->p + *off, (size_t)len};
        *off += (size_t)len;
        break;
    }
    default:
        fail_msg("wire type %u", (unsigned)(key & 7));
    }
    return true;
}

/* The i-th length-delimited `field` of m. */
static bool pb_get(pbm_t m, unsigned field, size_t i, pbm_t *out)
{
    *out = (pbm_t){NULL, 0};
    size_t off = 0;
    unsigned f;
    uint64_t num;
    pbm_t b = {NULL, 0};
    while (pb_next(&m, &off, &f, &num, &b))
        if (f == field && i-- == 0) {
            *out = b;
            return true;
        }
    return false;
}

static bool pb_is(pbm_t m, const char *s)
{
    return m.n == strlen(s) && memcmp(m.p, s, m.n) == 0;
}

/* The value of the Named{name = 1, value = 2} entry `name` among m's
 * `field`s. */
static pbm_t pb_named(pbm_t m, unsigned field, const char *name)
{
    pbm_t entry, key, val;
    for (size_t i = 0; pb_get(m, field, i, &entry); i++)
        if (pb_get(entry, 1, 0, &key) && pb_is(key, name)) {
            if (!pb_get(entry, 2, 0, &val))
                fail_msg("%s has no value", name);
            return val;
        }
    fail_msg("no entry %s in field %u", name, field);
    return m;
}

static bool pb_has_string(pbm_t m, unsigned field, const char *s)
{
    pbm_t v;
    for (size_t i = 0; pb_get(m, field, i, &v); i++)
        if (pb_is(v, s))
            return true;
    return false;
}

/* A vendor extension's value: NamedAny -> Any.yaml, parsed. */
static kr_value_t *pb_extension(pbm_t m, unsigned field, const char *name)
{
    pbm_t any = pb_named(m, field, name), yaml;
    if (!pb_get(any, 2, 0, &yaml))
        fail_msg("%s has no yaml", name);
    kr_value_t *docs = NULL;
    kr_error_t err;
    if (kr_yaml_decode(arena, (const char *)yaml.p, yaml.n, &docs, &err) < 0)
        fail_msg("%s: %s", name, err.message);
    return kr_value_array_get(docs, 0);
}

static void v2_protobuf(void **state)
{
    (void)state;
    add_kind(widget);
    kr_value_t *doc = kr_openapi_v2(arena, reg);
    kr_buf_t buf = KR_BUF_INIT;
    kr_error_t err;
    assert_int_equal(kr_openapi_v2_protobuf(doc, &buf, &err), 0);
    pbm_t d = {(const unsigned char *)buf.data, buf.len}, v;
    /* Every field of the Document fits: a walk to its end. */
    size_t off = 0, fields = 0;
    unsigned f;
    uint64_t num;
    while (pb_next(&d, &off, &f, &num, &v))
        fields++;
    assert_int_equal(off, buf.len);
    assert_true(fields >= 5);

    assert_true(pb_get(d, 1, 0, &v) && pb_is(v, "2.0")); /* swagger */
    pbm_t defs, paths, params;
    assert_true(pb_get(d, 9, 0, &defs));
    assert_true(pb_get(d, 8, 0, &paths));
    assert_true(pb_get(d, 10, 0, &params));

    /* Definitions: NamedSchema entries; a kind's group-version-kind is a
     * vendor extension (Schema field 31) as YAML. */
    pbm_t dep = pb_named(defs, 1, "io.k8s.api.apps.v1.Deployment");
    kr_value_t *gvk = pb_extension(dep, 31, "x-kubernetes-group-version-kind");
    assert_gvk(kr_value_array_get(gvk, 0), "apps", "v1", "Deployment");
    pbm_t type_item;
    assert_true(pb_get(dep, 22, 0, &type_item) && pb_get(type_item, 1, 0, &v) &&
                pb_is(v, "object"));
    /* PodSpec.containers: properties (25) -> NamedSchema -> merge key. */
    pbm_t podspec = pb_named(defs, 1, "io.k8s.api.core.v1.PodSpec"), props;
    assert_true(pb_get(podspec, 25, 0, &props));
    pbm_t containers = pb_named(props, 1, "containers"), items, item;
    assert_string_equal(
        kr_value_as_str(pb_extension(containers, 31, "x-kubernetes-patch-merge-key")), "name");
    assert_string_equal(
        kr_value_as_str(pb_extension(containers, 31, "x-kubernetes-patch-strategy")), "merge");
    assert_true(pb_get(containers, 23, 0, &items) && pb_get(items, 1, 0, &item));
    assert_true(pb_get(item, 1, 0, &v) && pb_is(v, "#/definitions/io.k8s.api.core.v1.Container"));
    /* A $ref with a description beside it. */
    pbm_t dspec = pb_named(defs, 1, "io.k8s.api.apps.v1.DeploymentSpec");
    assert_true(pb_get(dspec, 25, 0, &props));
    pbm_t strategy = pb_named(props, 1, "strategy");
    assert_true(pb_get(strategy, 1, 0, &v) &&
                pb_is(v, "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy"));
    assert_true(pb_get(strategy, 4, 0, &v) && v.n > 0);
    assert_true(pb_get(dspec, 19, 0, &v)); /* required */
    /* The plugin kind is there too. */
    gvk = pb_extension(pb_named(defs, 1, "com.example.v1.Widget"), 31,
                       "x-kubernetes-group-version-kind");
    assert_gvk(kr_value_array_get(gvk, 0), "example.com", "v1", "Widget");

    /* Paths: the PATCH of deployments (PathItem field 8), with the
     * group-version-kind kubectl matches and fieldValidation among its
     * parameters, a reference to the shared query parameter. */
    pbm_t item_path = pb_named(paths, 2, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}");
    pbm_t patch;
    assert_true(pb_get(item_path, 8, 0, &patch));
    assert_gvk(pb_extension(patch, 13, "x-kubernetes-group-version-kind"), "apps", "v1",
               "Deployment");
    assert_string_equal(kr_value_as_str(pb_extension(patch, 13, "x-kubernetes-action")), "patch");
    assert_true(pb_has_string(patch, 7, "application/strategic-merge-patch+json")); /* consumes */
    assert_true(pb_get(patch, 5, 0, &v) && pb_is(v, "patchAppsV1NamespacedDeployment"));
    bool ref_found = false, body_found = false;
    pbm_t pi;
    for (size_t i = 0; pb_get(patch, 8, i, &pi); i++) {
        pbm_t ref, body, name;
        if (pb_get(pi, 2, 0, &ref) && pb_get(ref, 1, 0, &name) &&
            pb_is(name, "#/parameters/fieldValidation"))
            ref_found = true;
        pbm_t param;
        if (pb_get(pi, 1, 0, &param) && pb_get(param, 1, 0, &body) && pb_get(body, 2, 0, &name) &&
            pb_is(name, "body"))
            body_found = true;
    }
    assert_true(ref_found);
    assert_true(body_found);
    /* The shared parameter: Parameter -> NonBodyParameter (2) -> query (3). */
    pbm_t param = pb_named(params, 1, "fieldValidation"), nonbody, query;
    assert_true(pb_get(param, 2, 0, &nonbody));
    assert_true(pb_get(nonbody, 3, 0, &query));
    assert_true(pb_get(query, 4, 0, &v) && pb_is(v, "fieldValidation"));
    assert_true(pb_get(query, 2, 0, &v) && pb_is(v, "query"));
    assert_true(pb_get(query, 6, 0, &v) && pb_is(v, "string"));
    /* Path-level parameters: name is a path parameter (4), required. */
    bool name_found = false;
    for (size_t i = 0; pb_get(item_path, 9, i, &pi); i++) {
        pbm_t p, nb, path, name;
        if (pb_get(pi, 1, 0, &p) && pb_get(p, 2, 0, &nb) && pb_get(nb, 4, 0, &path) &&
            pb_get(path, 4, 0, &name) && pb_is(name, "name")) {
            pbm_t r = {path.p, path.n};
            size_t o = 0;
            uint64_t req = 0;
            unsigned fld;
            pbm_t tmp;
            while (pb_next(&r, &o, &fld, &req, &tmp))
                if (fld == 1)
                    break;
            assert_int_equal(fld, 1);
            assert_int_equal(req, 1);
            name_found = true;
        }
    }
    assert_true(name_found);
    /* Responses: 200 -> ResponseValue -> Response -> SchemaItem -> Schema. */
    pbm_t responses, rv, resp, si, schema;
    assert_true(pb_get(patch, 9, 0, &responses));
    rv = pb_named(responses, 1, "200");
    assert_true(pb_get(rv, 1, 0, &resp) && pb_get(resp, 2, 0, &si) && pb_get(si, 1, 0, &schema));
    assert_true(pb_get(schema, 1, 0, &v) &&
                pb_is(v, "#/definitions/io.k8s.api.apps.v1.Deployment"));
    /* A plugin kind's PATCH takes no strategic merge. */
    pbm_t wpath = pb_named(paths, 2, "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}");
    assert_true(pb_get(wpath, 8, 0, &patch));
    assert_true(pb_has_string(patch, 7, "application/merge-patch+json"));
    assert_false(pb_has_string(patch, 7, "application/strategic-merge-patch+json"));
    kr_buf_free(&buf);
}

static void v2_protobuf_refuses_what_swagger_lacks(void **state)
{
    (void)state;
    kr_buf_t buf = KR_BUF_INIT;
    kr_error_t err;
    assert_int_equal(kr_openapi_v2_protobuf(J("{\"swagger\":\"2.0\",\"definitions\":{\"X\":"
                                              "{\"type\":\"object\",\"oneOf\":[]}}}"),
                                            &buf, &err),
                     -KR_E_INTERNAL);
    assert_non_null(strstr(err.message, "oneOf"));
    kr_buf_reset(&buf);
    assert_int_equal(
        kr_openapi_v2_protobuf(J("{\"paths\":{\"/a\":{\"get\":{\"responses\":1}}}}"), &buf, &err),
        -KR_E_INTERNAL);
    kr_buf_reset(&buf);
    assert_int_equal(kr_openapi_v2_protobuf(J("[]"), &buf, &err), -KR_E_INTERNAL);
    kr_buf_reset(&buf);
    /* A oneof's false is still written: additionalProperties: false. */
    assert_int_equal(kr_openapi_v2_protobuf(J("{\"definitions\":{\"X\":{"
                                              "\"additionalProperties\":false}}}"),
                                            &buf, &err),
                     0);
    static const unsigned char want[] = {0x4a, 0x0c, 0x0a, 0x0a, 0x0a, 0x01, 'X',
                                         0x12, 0x05, 0xaa, 0x01, 0x02, 0x10, 0x00};
    assert_int_equal(buf.len, sizeof(want));
    assert_memory_equal(buf.data, want, sizeof(want));
    kr_buf_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(v2_definitions, setup, teardown),
        cmocka_unit_test_setup_teardown(v2_paths_for_every_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(v3_group_version, setup, teardown),
        cmocka_unit_test_setup_teardown(v3_index_hashes, setup, teardown),
        cmocka_unit_test_setup_teardown(plugin_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(etag_is_sha512, setup, teardown),
        cmocka_unit_test_setup_teardown(v2_protobuf, setup, teardown),
        cmocka_unit_test_setup_teardown(v2_protobuf_refuses_what_swagger_lacks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
