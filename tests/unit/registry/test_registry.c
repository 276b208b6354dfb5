/* The resource registry: the built-in kinds against what a real API server
 * lists (`kubectl api-resources`, printers.go, the field label conversion
 * functions), lookups by every name, plugin kinds from a descriptor,
 * refusals and the descriptor round trip. */
#include "fixture.h"

#include "builtin.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>

static char *to_json(const kr_value_t *v)
{
    kr_buf_t buf = KR_BUF_INIT;
    kr_json_encode(v, &buf, KR_JSON_COMPACT, NULL);
    char *s = kr_arena_strdup(arena, buf.data ? buf.data : "");
    kr_buf_free(&buf);
    return s;
}

static size_t strv_len(const char *const *v)
{
    size_t n = 0;
    while (v[n] != NULL)
        n++;
    return n;
}

static bool strv_has(const char *const *v, const char *s)
{
    for (size_t i = 0; v[i] != NULL; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* ---- the built-ins as a Kubernetes 1.30 API server lists them ---------- */

/* `kubectl api-resources` for our kinds (NAME SHORTNAMES APIVERSION
 * NAMESPACED KIND), "-" for no short name. */
static const char api_resources[] =
    "bindings             -       v1                            true   Binding\n"
    "configmaps           cm      v1                            true   ConfigMap\n"
    "endpoints            ep      v1                            true   Endpoints\n"
    "events               ev      v1                            true   Event\n"
    "limitranges          limits  v1                            true   LimitRange\n"
    "namespaces           ns      v1                            false  Namespace\n"
    "nodes                no      v1                            false  Node\n"
    "pods                 po      v1                            true   Pod\n"
    "resourcequotas       quota   v1                            true   ResourceQuota\n"
    "secrets              -       v1                            true   Secret\n"
    "serviceaccounts      sa      v1                            true   ServiceAccount\n"
    "services             svc     v1                            true   Service\n"
    "daemonsets           ds      apps/v1                       true   DaemonSet\n"
    "deployments          deploy  apps/v1                       true   Deployment\n"
    "replicasets          rs      apps/v1                       true   ReplicaSet\n"
    "statefulsets         sts     apps/v1                       true   StatefulSet\n"
    "cronjobs             cj      batch/v1                      true   CronJob\n"
    "jobs                 -       batch/v1                      true   Job\n"
    "leases               -       coordination.k8s.io/v1        true   Lease\n"
    "endpointslices       -       discovery.k8s.io/v1           true   EndpointSlice\n"
    "clusterrolebindings  -       rbac.authorization.k8s.io/v1  false  ClusterRoleBinding\n"
    "clusterroles         -       rbac.authorization.k8s.io/v1  false  ClusterRole\n"
    "rolebindings         -       rbac.authorization.k8s.io/v1  true   RoleBinding\n"
    "roles                -       rbac.authorization.k8s.io/v1  true   Role\n"
    "priorityclasses      pc      scheduling.k8s.io/v1          false  PriorityClass\n";

/* `kubectl get all` lists these (category "all"). */
static const char *const in_all[] = {"pods",        "services",    "daemonsets",
                                     "deployments", "replicasets", "statefulsets",
                                     "jobs",        "cronjobs",    NULL};

static void builtins_match_api_resources(void **state)
{
    (void)state;
    size_t rows = 0;
    const char *line = api_resources;
    while (*line) {
        char plural[64], shortn[16], apiv[64], ns[8], kind[64];
        assert_int_equal(sscanf(line, "%63s %15s %63s %7s %63s", plural, shortn, apiv, ns, kind),
                         5);
        line = strchr(line, '\n') + 1;
        rows++;

        const kr_kind_t *k = kr_registry_by_kind(reg, apiv, kind);
        if (k == NULL)
            fail_msg("%s %s is not registered", apiv, kind);
        assert_string_equal(k->plural, plural);
        assert_string_equal(k->api_version, apiv);
        assert_int_equal(k->namespaced, strcmp(ns, "true") == 0);
        assert_true(k->builtin);
        if (strcmp(shortn, "-") == 0)
            assert_int_equal(strv_len(k->short_names), 0);
        else {
            assert_int_equal(strv_len(k->short_names), 1);
            assert_string_equal(k->short_names[0], shortn);
        }
        /* group and version make the apiVersion; the list kind and the
         * singular name follow from the kind. */
        const char *slash = strchr(apiv, '/');
        assert_string_equal(k->version, slash ? slash + 1 : apiv);
        assert_int_equal(strlen(k->group), slash ? (size_t)(slash - apiv) : 0);
        assert_memory_equal(k->group, apiv, strlen(k->group));
        char want[128];
        snprintf(want, sizeof(want), "%sList", kind);
        assert_string_equal(k->list_kind, want);
        assert_int_equal(strcasecmp(k->singular, kind), 0);
        snprintf(want, sizeof(want), "%s/%s", apiv, plural);
        assert_string_equal(k->res, want);
        snprintf(want, sizeof(want), "%.*s/%s/", slash ? (int)(slash - apiv) : 4,
                 slash ? apiv : "core", plural);
        assert_string_equal(k->store_prefix, want);
        assert_int_equal(strv_has(k->categories, "all"), strv_has(in_all, plural));
        assert_non_null(k->schema);
        assert_string_equal(kr_value_map_str(k->schema, "type"), "object");
    }
    assert_int_equal(rows, 25);
    assert_int_equal(kr_registry_count(reg), rows);
    assert_null(kr_registry_at(reg, rows));
}

static void every_name_finds_its_kind(void **state)
{
    (void)state;
    for (size_t i = 0; i < kr_registry_count(reg); i++) {
        const kr_kind_t *k = kr_registry_at(reg, i);
        assert_ptr_equal(kr_registry_by_res(reg, k->res, strlen(k->res)), k);
        assert_ptr_equal(kr_registry_by_kind(reg, k->api_version, k->kind), k);
        assert_ptr_equal(kr_registry_find(reg, k->group, k->plural), k);
        assert_ptr_equal(kr_registry_find(reg, NULL, k->plural), k);
        assert_ptr_equal(kr_registry_find(reg, k->group, k->singular), k);
        assert_ptr_equal(kr_registry_find(reg, NULL, k->singular), k);
        /* As typed: `kubectl get Deployment`, `kubectl get PODS`. */
        assert_ptr_equal(kr_registry_find(reg, NULL, k->kind), k);
        char upper[64];
        snprintf(upper, sizeof(upper), "%s", k->plural);
        for (char *p = upper; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        assert_ptr_equal(kr_registry_find(reg, k->group, upper), k);
        for (size_t j = 0; k->short_names[j] != NULL; j++) {
            assert_ptr_equal(kr_registry_find(reg, k->group, k->short_names[j]), k);
            assert_ptr_equal(kr_registry_find(reg, NULL, k->short_names[j]), k);
        }
    }
}

static void unknown_names_are_not_found(void **state)
{
    (void)state;
    assert_null(kr_registry_by_res(reg, "v1/podz", 7));
    /* The length counts: "v1/pods" cut to "v1/pod" is no resource. */
    assert_null(kr_registry_by_res(reg, "v1/pods", 6));
    assert_non_null(kr_registry_by_res(reg, "v1/podsXYZ", 7));
    assert_null(kr_registry_by_res(reg, "apps/v1/pods", 12));
    assert_null(kr_registry_by_kind(reg, "apps/v1", "Pod"));
    assert_null(kr_registry_by_kind(reg, "v1", "pod")); /* kinds are case-sensitive */
    assert_null(kr_registry_by_kind(reg, "extensions/v1beta1", "Deployment"));
    assert_null(kr_registry_find(reg, "apps", "po"));
    assert_null(kr_registry_find(reg, "", "deploy"));
    assert_null(kr_registry_find(reg, NULL, "widgets"));
    assert_null(kr_registry_find(reg, NULL, ""));
}

static void subresources_and_scale_paths(void **state)
{
    (void)state;
    static const struct {
        const char *plural;
        unsigned sub;
    } want[] = {
        {"pods", KR_SUB_STATUS | KR_SUB_BINDING},
        {"nodes", KR_SUB_STATUS},
        {"namespaces", KR_SUB_STATUS},
        {"services", KR_SUB_STATUS},
        {"deployments", KR_SUB_STATUS | KR_SUB_SCALE},
        {"replicasets", KR_SUB_STATUS | KR_SUB_SCALE},
        {"statefulsets", KR_SUB_STATUS | KR_SUB_SCALE},
        {"daemonsets", KR_SUB_STATUS},
        {"jobs", KR_SUB_STATUS},
        {"cronjobs", KR_SUB_STATUS},
        {"configmaps", 0},
        {"secrets", 0},
        {"events", 0},
        {"bindings", 0},
        {"leases", 0},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const kr_kind_t *k = kr_registry_find(reg, NULL, want[i].plural);
        assert_non_null(k);
        assert_int_equal(k->subresources, want[i].sub);
        if (!(k->subresources & KR_SUB_SCALE)) {
            assert_null(k->scale_spec_replicas);
            continue;
        }
        /* The paths point at real fields of the kind: the replica counts
         * are integers, the selector is a LabelSelector. */
        assert_string_equal(k->scale_spec_replicas, "spec.replicas");
        assert_string_equal(k->scale_status_replicas, "status.replicas");
        assert_string_equal(kr_value_map_str(kr_schema_at(k, k->scale_spec_replicas), "type"),
                            "integer");
        assert_string_equal(kr_value_map_str(kr_schema_at(k, k->scale_status_replicas), "type"),
                            "integer");
        const kr_value_t *sel = kr_schema_at(k, k->scale_label_selector);
        assert_non_null(kr_value_get(sel, "properties.matchLabels"));
    }
}

/* Upstream's field label conversion functions (pkg/apis/<group>/v1). */
static void field_selectors_are_upstreams(void **state)
{
    (void)state;
    static const struct {
        const char *plural;
        const char *fields;
    } want[] = {
        {"pods", "spec.nodeName spec.restartPolicy spec.schedulerName spec.serviceAccountName "
                 "spec.hostNetwork status.phase status.podIP status.podIPs "
                 "status.nominatedNodeName"},
        {"events", "involvedObject.kind involvedObject.namespace involvedObject.name "
                   "involvedObject.uid involvedObject.apiVersion involvedObject.resourceVersion "
                   "involvedObject.fieldPath reason reportingComponent source type"},
        {"secrets", "type"},
        {"namespaces", "status.phase"},
        {"nodes", "spec.unschedulable"},
        {"services", "spec.clusterIP spec.type"},
        {"replicasets", "status.replicas"},
        {"jobs", "status.successful"},
        {"deployments", ""},
        {"configmaps", ""},
        {"leases", ""},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const kr_kind_t *k = kr_registry_find(reg, NULL, want[i].plural);
        assert_non_null(k);
        char got[1024] = "";
        for (size_t j = 0; k->field_selectors[j] != NULL; j++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", j ? " " : "",
                     k->field_selectors[j]);
        assert_string_equal(got, want[i].fields);
    }
    /* Every one the v1.14 schema knows is a field of the kind (podIPs came
     * in 1.16; status.successful is upstream's name for status.succeeded). */
    for (size_t i = 0; i < kr_registry_count(reg); i++) {
        const kr_kind_t *k = kr_registry_at(reg, i);
        for (size_t j = 0; k->field_selectors[j] != NULL; j++) {
            const char *f = k->field_selectors[j];
            if (strcmp(f, "status.podIPs") == 0 || strcmp(f, "status.successful") == 0)
                continue;
            if (kr_schema_at(k, f) == NULL)
                fail_msg("%s: field selector %s is no field", k->plural, f);
        }
    }
}

static void printer_columns_are_kubectls(void **state)
{
    (void)state;
    static const struct {
        const char *plural;
        const char *columns; /* name[:priority] */
    } want[] = {
        {"pods", "Name Ready Status Restarts Age IP:1 Node:1 Nominated Node:1 Readiness Gates:1"},
        {"deployments", "Name Ready Up-to-date Available Age Containers:1 Images:1 Selector:1"},
        {"services", "Name Type Cluster-IP External-IP Port(s) Age Selector:1"},
        {"nodes", "Name Status Roles Age Version Internal-IP:1 External-IP:1 OS-Image:1 "
                  "Kernel-Version:1 Container-Runtime:1"},
        {"events", "Last Seen Type Reason Object Subobject:1 Source:1 Message First Seen:1 "
                   "Count:1 Name:1"},
        {"cronjobs", "Name Schedule Timezone Suspend Active Last Schedule Age Containers:1 "
                     "Images:1 Selector:1"},
        {"jobs", "Name Status Completions Duration Age Containers:1 Images:1 Selector:1"},
        {"priorityclasses", "Name Value Global-Default Age PreemptionPolicy"},
        {"leases", "Name Holder Age"},
        {"roles", "Name Created At"},
        {"limitranges", "Name Created At"},
        {"resourcequotas", "Name Age Request Limit"},
        {"clusterroles", "Name Created At"},
        {"rolebindings", "Name Role Age Users:1 Groups:1 ServiceAccounts:1"},
        {"clusterrolebindings", "Name Role Age Users:1 Groups:1 ServiceAccounts:1"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const kr_kind_t *k = kr_registry_find(reg, NULL, want[i].plural);
        char got[512] = "";
        for (size_t j = 0; j < kr_value_len(k->printer_columns); j++) {
            const kr_value_t *c = kr_value_array_get(k->printer_columns, j);
            int64_t prio = kr_value_map_int(c, "priority", 0);
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", j ? " " : "",
                     kr_value_map_str(c, "name"));
            if (prio)
                snprintf(got + strlen(got), sizeof(got) - strlen(got), ":%lld", (long long)prio);
        }
        assert_string_equal(got, want[i].columns);
    }
    /* Every column of every kind is complete, and a description taken from
     * the schema is the field's (upstream's SwaggerDoc text). */
    for (size_t i = 0; i < kr_registry_count(reg); i++) {
        const kr_kind_t *k = kr_registry_at(reg, i);
        assert_int_equal(kr_value_type(k->printer_columns), KR_ARRAY);
        for (size_t j = 0; j < kr_value_len(k->printer_columns); j++) {
            const kr_value_t *c = kr_value_array_get(k->printer_columns, j);
            const char *d = kr_value_map_str(c, "description");
            if (d == NULL || strlen(d) < 10)
                fail_msg("%s column %s has no description", k->plural, kr_value_map_str(c, "name"));
            assert_int_equal(kr_value_map_str(c, "jsonPath")[0], '.');
            assert_non_null(kr_value_map_str(c, "type"));
        }
    }
    const kr_kind_t *d = kr_registry_find(reg, "apps", "deploy");
    const kr_value_t *uptodate = kr_value_array_get(d->printer_columns, 2);
    assert_string_equal(kr_value_map_str(uptodate, "jsonPath"), ".status.updatedReplicas");
    assert_non_null(strstr(kr_value_map_str(uptodate, "description"),
                           "Total number of non-terminated pods targeted by this deployment "
                           "that have the desired template spec."));
    const kr_value_t *name = kr_value_array_get(d->printer_columns, 0);
    assert_string_equal(kr_value_map_str(name, "format"), "name");
    const kr_kind_t *po = kr_registry_find(reg, "", "po");
    const kr_value_t *ready = kr_value_array_get(po->printer_columns, 1);
    assert_string_equal(kr_value_map_str(ready, "x-kraal-compute"), "podReady");
}

static void hooks_come_from_builtin_h(void **state)
{
    (void)state;
    for (size_t i = 0; i < kr_registry_count(reg); i++) {
        const kr_kind_t *k = kr_registry_at(reg, i);
        kr_kind_hooks_t want;
        memset(&want, 0, sizeof(want));
        const kr_kind_hooks_t *h = kr_builtin_hooks(k->singular);
        if (h != NULL)
            want = *h;
        assert_memory_equal(&k->hooks, &want, sizeof(want));
    }
}

/* ---- plugin kinds ------------------------------------------------------ */

static const char widget_desc[] =
    "{\"group\":\"example.com\",\"version\":\"v1alpha1\",\"kind\":\"Widget\","
    "\"plural\":\"widgets\",\"shortNames\":[\"wd\",\"wdg\"],\"categories\":[\"all\",\"toys\"],"
    "\"namespaced\":true,"
    "\"subresources\":{\"status\":{},\"scale\":{\"specReplicasPath\":\".spec.replicas\","
    "\"statusReplicasPath\":\".status.replicas\",\"labelSelectorPath\":\".status.selector\"}},"
    "\"selectableFields\":[{\"jsonPath\":\".spec.color\"},\"spec.size\"],"
    "\"additionalPrinterColumns\":[{\"name\":\"Color\",\"type\":\"string\","
    "\"jsonPath\":\".spec.color\"},{\"name\":\"Age\",\"type\":\"date\","
    "\"jsonPath\":\".metadata.creationTimestamp\"}],"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":"
    "\"object\",\"properties\":{\"color\":{\"type\":\"string\"},\"replicas\":{\"type\":"
    "\"integer\"}}}}}}}";

static void plugin_kind_registered_and_read_back(void **state)
{
    (void)state;
    kr_error_t err;
    const kr_kind_t *k = kr_registry_add(reg, J(widget_desc), &err);
    if (k == NULL)
        fail_msg("kr_registry_add: %s", err.message);
    assert_false(k->builtin);
    assert_string_equal(k->api_version, "example.com/v1alpha1");
    assert_string_equal(k->list_kind, "WidgetList");
    assert_string_equal(k->singular, "widget");
    assert_string_equal(k->res, "example.com/v1alpha1/widgets");
    assert_string_equal(k->store_prefix, "example.com/widgets/");
    assert_true(k->namespaced);
    assert_int_equal(k->subresources, KR_SUB_STATUS | KR_SUB_SCALE);
    assert_string_equal(k->scale_spec_replicas, "spec.replicas");
    assert_string_equal(k->scale_status_replicas, "status.replicas");
    assert_string_equal(k->scale_label_selector, "status.selector");
    assert_int_equal(strv_len(k->short_names), 2);
    assert_true(strv_has(k->categories, "toys"));
    assert_int_equal(strv_len(k->field_selectors), 2);
    assert_string_equal(k->field_selectors[0], "spec.color");
    assert_string_equal(k->field_selectors[1], "spec.size");
    assert_int_equal(kr_value_len(k->printer_columns), 2);
    assert_string_equal(kr_value_map_str(kr_schema_at(k, "spec.replicas"), "type"), "integer");

    assert_int_equal(kr_registry_count(reg), 26);
    assert_ptr_equal(kr_registry_at(reg, 25), k);
    assert_ptr_equal(kr_registry_by_res(reg, "example.com/v1alpha1/widgets", 28), k);
    assert_ptr_equal(kr_registry_by_kind(reg, "example.com/v1alpha1", "Widget"), k);
    assert_ptr_equal(kr_registry_find(reg, "example.com", "WDG"), k);
    assert_ptr_equal(kr_registry_find(reg, NULL, "widget"), k);

    /* The descriptor it reads back registers the same kind elsewhere, and
     * reads back the same again. */
    kr_value_t *back = kr_kind_to_value(arena, k);
    assert_string_equal(kr_value_as_str(kr_value_get(back, "subresources.scale.specReplicasPath")),
                        ".spec.replicas");
    assert_string_equal(kr_value_as_str(kr_value_get(back, "selectableFields[0]")), "spec.color");
    kr_registry_t *other = kr_registry_new(&err);
    const kr_kind_t *k2 = kr_registry_add(other, back, &err);
    if (k2 == NULL)
        fail_msg("re-adding %s: %s", to_json(back), err.message);
    assert_true(kr_value_equal(kr_kind_to_value(arena, k2), back));
    assert_string_equal(k2->res, k->res);
    assert_string_equal(k2->store_prefix, k->store_prefix);
    assert_true(kr_value_equal(k2->schema, k->schema));
    kr_registry_destroy(&other);

    /* A built-in's descriptor reads back too. */
    const kr_kind_t *deploy = kr_registry_find(reg, "apps", "deployments");
    kr_value_t *dv = kr_kind_to_value(arena, deploy);
    assert_string_equal(kr_value_map_str(dv, "kind"), "Deployment");
    assert_string_equal(kr_value_as_str(kr_value_get(dv, "subresources.scale.labelSelectorPath")),
                        ".spec.selector");
    assert_true(kr_value_equal(kr_value_get(dv, "schema.openAPIV3Schema"), deploy->schema));
}

static void expect_refusal(const char *desc, kr_reason_t reason, const char *message)
{
    kr_error_t err;
    size_t before = kr_registry_count(reg);
    const kr_kind_t *k = kr_registry_add(reg, J(desc), &err);
    if (k != NULL)
        fail_msg("%s was registered", desc);
    assert_int_equal(err.reason, reason);
    if (strstr(err.message, message) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.message, message);
    assert_int_equal(kr_registry_count(reg), before);
}

static void duplicate_registration_is_refused(void **state)
{
    (void)state;
    kr_error_t err;
    assert_non_null(kr_registry_add(reg, J(widget_desc), &err));
    expect_refusal(widget_desc, KR_E_ALREADY_EXISTS,
                   "kind \"Widget\" in group \"example.com\" is already registered");
    /* Another version of the kind is the same kind. */
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v2\",\"kind\":\"Widget\","
                   "\"plural\":\"widgetz\",\"namespaced\":true}",
                   KR_E_ALREADY_EXISTS,
                   "kind \"Widget\" in group \"example.com\" is already registered");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Gadget\","
                   "\"plural\":\"widgets\",\"namespaced\":true}",
                   KR_E_ALREADY_EXISTS,
                   "resource \"widgets\" in group \"example.com\" is already registered");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Gadget\","
                   "\"plural\":\"gadgets\",\"shortNames\":[\"wd\"],\"namespaced\":true}",
                   KR_E_ALREADY_EXISTS,
                   "short name \"wd\" in group \"example.com\" is already used by resource "
                   "\"widgets\"");
    expect_refusal("{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"Deployment\","
                   "\"plural\":\"mydeployments\",\"namespaced\":true}",
                   KR_E_ALREADY_EXISTS,
                   "kind \"Deployment\" in group \"apps\" is already registered");
    expect_refusal("{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"Rollout\","
                   "\"plural\":\"rollouts\",\"singular\":\"deployments\",\"namespaced\":true}",
                   KR_E_ALREADY_EXISTS,
                   "singular name \"deployments\" in group \"apps\" is already used by resource "
                   "\"deployments\"");
    /* The same names in another group are another resource. */
    const kr_kind_t *k = kr_registry_add(
        reg,
        J("{\"group\":\"other.example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
          "\"plural\":\"widgets\",\"shortNames\":[\"wd\",\"po\"],\"namespaced\":false}"),
        &err);
    if (k == NULL)
        fail_msg("%s", err.message);
    assert_ptr_equal(kr_registry_find(reg, "other.example.com", "po"), k);
    /* Without a group the first registration wins: pods stay pods. */
    assert_string_equal(kr_registry_find(reg, NULL, "po")->plural, "pods");
    assert_string_equal(kr_registry_find(reg, NULL, "wd")->group, "example.com");
}

static void bad_descriptors_are_invalid(void **state)
{
    (void)state;
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"namespaced\":true}",
                   KR_E_INVALID, "plural: Required value");
    expect_refusal("{\"version\":\"v1\",\"kind\":\"Widget\",\"plural\":\"widgets\","
                   "\"namespaced\":true}",
                   KR_E_INVALID, "group: Required value");
    expect_refusal("{\"group\":\"example.com\",\"kind\":\"Widget\",\"plural\":\"widgets\","
                   "\"namespaced\":true}",
                   KR_E_INVALID, "version: Required value");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"plural\":\"widgets\","
                   "\"namespaced\":true}",
                   KR_E_INVALID, "kind: Required value");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"widgets\"}",
                   KR_E_INVALID, "namespaced: Required value");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"Widgets\",\"namespaced\":true}",
                   KR_E_INVALID,
                   "Kind \"Widgets.example.com\" is invalid: plural: Invalid value: \"Widgets\"");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"wid_gets\",\"namespaced\":true}",
                   KR_E_INVALID, "plural: Invalid value: \"wid_gets\"");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"widgets\",\"singular\":\"Widget\",\"namespaced\":true}",
                   KR_E_INVALID, "singular: Invalid value: \"Widget\"");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"widget\","
                   "\"plural\":\"widgets\",\"namespaced\":true}",
                   KR_E_INVALID, "kind: Invalid value: \"widget\": must be CamelCase");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Wid-get\","
                   "\"plural\":\"widgets\",\"namespaced\":true}",
                   KR_E_INVALID, "kind: Invalid value: \"Wid-get\"");
    expect_refusal("{\"group\":\"Example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"widgets\",\"namespaced\":true}",
                   KR_E_INVALID, "group: Invalid value: \"Example.com\"");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"widgets\",\"shortNames\":[\"WD\"],\"namespaced\":true}",
                   KR_E_INVALID, "shortNames[0]: Invalid value: \"WD\"");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"widgets\",\"namespaced\":\"yes\"}",
                   KR_E_INVALID, "namespaced");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"widgets\",\"namespaced\":true,\"subresources\":{\"scale\":"
                   "{\"specReplicasPath\":\".status.replicas\"}}}",
                   KR_E_INVALID, "subresources.scale.specReplicasPath: Invalid value");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"widgets\",\"namespaced\":true,\"subresources\":{\"scale\":"
                   "{\"specReplicasPath\":\".spec.replicas\"}}}",
                   KR_E_INVALID, "subresources.scale.statusReplicasPath: Required value");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"widgets\",\"namespaced\":true,\"additionalPrinterColumns\":"
                   "[{\"name\":\"Color\",\"type\":\"colour\",\"jsonPath\":\".spec.color\"}]}",
                   KR_E_INVALID, "additionalPrinterColumns[0].type: Unsupported value");
    expect_refusal("{\"group\":\"example.com\",\"version\":\"v1\",\"kind\":\"Widget\","
                   "\"plural\":\"widgets\",\"namespaced\":true,\"schema\":{\"openAPIV3Schema\":"
                   "{\"type\":\"array\"}}}",
                   KR_E_INVALID, "schema.openAPIV3Schema.type");
    /* Not an object at all. */
    kr_error_t err;
    assert_null(kr_registry_add(reg, J("[1]"), &err));
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(builtins_match_api_resources, setup, teardown),
        cmocka_unit_test_setup_teardown(every_name_finds_its_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_names_are_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(subresources_and_scale_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(field_selectors_are_upstreams, setup, teardown),
        cmocka_unit_test_setup_teardown(printer_columns_are_kubectls, setup, teardown),
        cmocka_unit_test_setup_teardown(hooks_come_from_builtin_h, setup, teardown),
        cmocka_unit_test_setup_teardown(plugin_kind_registered_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_registration_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_descriptors_are_invalid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
