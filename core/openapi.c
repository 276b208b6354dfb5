/* The OpenAPI documents of the registry's kinds: definitions from the
 * built-in components and plugin schemas (converted to v2 where needed),
 * paths with upstream's operations, the v3 index with a hash per group
 * version, and the v2 document as gnostic's protobuf. */
#include "openapi.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_V3    "#/components/schemas/"
#define REF_V2    "#/definitions/"
#define REF_PARAM "#/parameters/"

#define DEF_PATCH          "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
#define DEF_STATUS         "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
#define DEF_DELETE_OPTIONS "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
#define DEF_WATCH_EVENT    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"
#define DEF_OBJECT_META    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
#define DEF_LIST_META      "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
#define DEF_SCALE          "io.k8s.api.autoscaling.v1.Scale"
#define DEF_BINDING        "io.k8s.api.core.v1.Binding"

/* Upstream's words for what every object and list has (the CRD builder's). */
#define DESC_API_VERSION                                                                    \
    "APIVersion defines the versioned schema of this representation of an object. Servers " \
    "should convert recognized schemas to the latest internal value, and may reject "       \
    "unrecognized values. More info: "                                                      \
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"                     \
    "api-conventions.md#resources"
#define DESC_KIND                                                                         \
    "Kind is a string value representing the REST resource this object represents. "      \
    "Servers may infer this from the endpoint the client submits requests to. Cannot be " \
    "updated. In CamelCase. More info: "                                                  \
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"                   \
    "api-conventions.md#types-kinds"
#define DESC_METADATA                                  \
    "Standard object's metadata. More info: "          \
    "https://git.k8s.io/community/contributors/devel/" \
    "sig-architecture/api-conventions.md#metadata"
#define DESC_LIST_METADATA                             \
    "Standard list metadata. More info: "              \
    "https://git.k8s.io/community/contributors/devel/" \
    "sig-architecture/api-conventions.md#types-kinds"

typedef enum { OAS2 = 2, OAS3 = 3 } oas_t;

/* One document being built. */
typedef struct gen {
    kr_arena_t *a;
    oas_t ver;
    const kr_value_t *builtin; /* the built-in components (v3) */
    kr_value_t *made;          /* name -> v3 definitions made here: plugin kinds, Patch */
    kr_value_t *defs;          /* name -> definition as this document writes it */
    kr_value_t *paths;
    kr_value_t *params; /* v2: the shared parameters (#/parameters/) */
} gen_t;

static void put(gen_t *g, kr_value_t *m, const char *key, kr_value_t *val)
{
    kr_value_map_set(g->a, m, key, val);
}

static void put_str(gen_t *g, kr_value_t *m, const char *key, const char *s)
{
    kr_value_map_set(g->a, m, key, kr_value_str(g->a, s));
}

static kr_value_t *str_array(gen_t *g, const char *const *list)
{
    kr_value_t *arr = kr_value_array(g->a);
    for (size_t i = 0; list[i] != NULL; i++)
        kr_value_array_push(g->a, arr, kr_value_str(g->a, list[i]));
    return arr;
}

static kr_value_t *gvk_value(gen_t *g, const char *group, const char *version, const char *kind)
{
    kr_value_t *m = kr_value_map(g->a);
    put_str(g, m, "group", group);
    put_str(g, m, "kind", kind);
    put_str(g, m, "version", version);
    return m;
}

/* The definition a "$ref" names, in either version's form; NULL for any
 * other reference. */
static const char *ref_name(const char *ref)
{
    if (ref == NULL)
        return NULL;
    if (strncmp(ref, REF_V3, sizeof(REF_V3) - 1) == 0)
        return ref + sizeof(REF_V3) - 1;
    if (strncmp(ref, REF_V2, sizeof(REF_V2) - 1) == 0)
        return ref + sizeof(REF_V2) - 1;
    return NULL;
}

/* {"$ref": <name>} in this document's form. */
static kr_value_t *ref_to(gen_t *g, const char *name)
{
    kr_value_t *m = kr_value_map(g->a);
    put_str(g, m, "$ref", kr_arena_printf(g->a, "%s%s", g->ver == OAS2 ? REF_V2 : REF_V3, name));
    return m;
}

/* A field that refers to a definition, as a v3 source schema writes it
 * (converted with the rest). */
static kr_value_t *ref_field(gen_t *g, const char *name, const char *desc)
{
    kr_value_t *r = kr_value_map(g->a);
    put_str(g, r, "$ref", kr_arena_printf(g->a, REF_V3 "%s", name));
    kr_value_t *all = kr_value_array(g->a);
    kr_value_array_push(g->a, all, r);
    kr_value_t *m = kr_value_map(g->a);
    put(g, m, "allOf", all);
    put_str(g, m, "description", desc);
    return m;
}

static kr_value_t *string_field(gen_t *g, const char *desc)
{
    kr_value_t *m = kr_value_map(g->a);
    put_str(g, m, "description", desc);
    put_str(g, m, "type", "string");
    return m;
}

static const kr_value_t *def_source(const gen_t *g, const char *name)
{
    const kr_value_t *s = kr_value_map_get(g->made, name);
    return s != NULL ? s : kr_value_map_get(g->builtin, name);
}

/* ---- definitions of kinds --------------------------------------------- */

/* "example.com" -> "com.example", as upstream names a CRD's definitions. */
static char *reverse_group(kr_arena_t *a, const char *group)
{
    size_t n = strlen(group), o = 0;
    char *out = kr_arena_alloc(a, n + 1);
    const char *end = group + n;
    while (end > group) {
        const char *start = end;
        while (start > group && start[-1] != '.')
            start--;
        if (o > 0)
            out[o++] = '.';
        memcpy(out + o, start, (size_t)(end - start));
        o += (size_t)(end - start);
        end = start > group ? start - 1 : group;
    }
    out[o] = '\0';
    return out;
}

/* A plugin kind's definition, as upstream publishes a CRD's: apiVersion
 * and kind described, metadata an ObjectMeta, its group-version-kind. */
static kr_value_t *plugin_kind_def(gen_t *g, const kr_kind_t *k)
{
    kr_value_t *s;
    if (k->schema != NULL) {
        s = kr_value_copy(g->a, k->schema);
    } else {
        s = kr_value_map(g->a);
        put_str(g, s, "type", "object");
        put(g, s, "x-kubernetes-preserve-unknown-fields", kr_value_bool(g->a, true));
    }
    const kr_value_t *own = kr_value_map_get(s, "properties");
    kr_value_t *props = kr_value_map(g->a);
    put(g, props, "apiVersion", string_field(g, DESC_API_VERSION));
    put(g, props, "kind", string_field(g, DESC_KIND));
    put(g, props, "metadata", ref_field(g, DEF_OBJECT_META, DESC_METADATA));
    for (size_t i = 0; i < kr_value_len(own); i++)
        if (kr_value_map_get(props, kr_value_map_key(own, i)) == NULL)
            put(g, props, kr_value_map_key(own, i), kr_value_map_val(own, i));
    put(g, s, "properties", props);
    kr_value_t *gvks = kr_value_array(g->a);
    kr_value_array_push(g->a, gvks, gvk_value(g, k->group, k->version, k->kind));
    put(g, s, "x-kubernetes-group-version-kind", gvks);
    return s;
}

static kr_value_t *plugin_list_def(gen_t *g, const kr_kind_t *k, const char *item_def)
{
    kr_value_t *items = kr_value_map(g->a);
    put_str(g, items, "description",
            kr_arena_printf(g->a,
                            "List of %s. More info: "
                            "https://git.k8s.io/community/contributors/devel/api-conventions.md",
                            k->plural));
    kr_value_t *item = kr_value_map(g->a);
    put_str(g, item, "$ref", kr_arena_printf(g->a, REF_V3 "%s", item_def));
    put(g, items, "items", item);
    put_str(g, items, "type", "array");

    kr_value_t *props = kr_value_map(g->a);
    put(g, props, "apiVersion", string_field(g, DESC_API_VERSION));
    put(g, props, "items", items);
    put(g, props, "kind", string_field(g, DESC_KIND));
    put(g, props, "metadata", ref_field(g, DEF_LIST_META, DESC_LIST_METADATA));

    kr_value_t *s = kr_value_map(g->a);
    put_str(g, s, "description",
            kr_arena_printf(g->a, "%s is a list of %s", k->list_kind, k->kind));
    put(g, s, "properties", props);
    const char *const required[] = {"items", NULL};
    put(g, s, "required", str_array(g, required));
    put_str(g, s, "type", "object");
    kr_value_t *gvks = kr_value_array(g->a);
    kr_value_array_push(g->a, gvks, gvk_value(g, k->group, k->version, k->list_kind));
    put(g, s, "x-kubernetes-group-version-kind", gvks);
    return s;
}

/* The definition names of a kind and of its list (NULL for a kind without
 * one, as Binding).  A built-in kind's are its components; a plugin kind's
 * are made here. */
static void kind_defs(gen_t *g, const kr_kind_t *k, const char **kind_def, const char **list_def)
{
    if (k->builtin) {
        for (size_t i = 0; i < kr_value_len(g->builtin); i++) {
            if (kr_value_map_val(g->builtin, i) != k->schema)
                continue;
            *kind_def = kr_value_map_key(g->builtin, i);
            const char *list = kr_arena_printf(g->a, "%sList", *kind_def);
            *list_def = kr_value_map_get(g->builtin, list) != NULL ? list : NULL;
            return;
        }
    }
    const char *base = kr_arena_printf(
        g->a, "%s.%s.", k->group[0] ? reverse_group(g->a, k->group) : "io.k8s.api.core",
        k->version);
    *kind_def = kr_arena_printf(g->a, "%s%s", base, k->kind);
    *list_def = kr_arena_printf(g->a, "%s%s", base, k->list_kind);
    if (kr_value_map_get(g->made, *kind_def) == NULL) {
        put(g, g->made, *kind_def, plugin_kind_def(g, k));
        put(g, g->made, *list_def, plugin_list_def(g, k, *kind_def));
    }
}

/* ---- converting a definition ------------------------------------------ */

static kr_value_t *conv(gen_t *g, const kr_value_t *s);

static kr_value_t *conv_each(gen_t *g, const kr_value_t *arr)
{
    kr_value_t *out = kr_value_array(g->a);
    for (size_t i = 0; i < kr_value_len(arr); i++)
        kr_value_array_push(g->a, out, conv(g, kr_value_array_get(arr, i)));
    return out;
}

static kr_value_t *conv_values(gen_t *g, const kr_value_t *m)
{
    kr_value_t *out = kr_value_map(g->a);
    for (size_t i = 0; i < kr_value_len(m); i++)
        put(g, out, kr_value_map_key(m, i), conv(g, kr_value_map_val(m, i)));
    return out;
}

/* The keys a Swagger 2.0 schema has (besides x-*); anything else is v3's
 * and goes. */
static bool v2_schema_key(const char *k)
{
    static const char *const keys[] = {
        "format",
        "title",
        "description",
        "default",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "enum",
        "type",
        "readOnly",
        "externalDocs",
        "example",
        NULL,
    };
    for (size_t i = 0; keys[i] != NULL; i++)
        if (strcmp(k, keys[i]) == 0)
            return true;
    return false;
}

static bool is_nullable(const kr_value_t *s)
{
    return kr_value_as_bool(kr_value_map_get(s, "nullable"), false);
}

/* `required` without the fields that may be null, which a v2 reader would
 * otherwise demand (upstream's ToStructuralOpenAPIV2). */
static kr_value_t *v2_required(gen_t *g, const kr_value_t *req, const kr_value_t *props)
{
    kr_value_t *out = kr_value_array(g->a);
    for (size_t i = 0; i < kr_value_len(req); i++) {
        const kr_value_t *name = kr_value_array_get(req, i);
        const char *field = kr_value_as_str(name);
        if (field == NULL || !is_nullable(kr_value_map_get(props, field)))
            kr_value_array_push(g->a, out, kr_value_copy(g->a, name));
    }
    return kr_value_len(out) > 0 ? out : NULL;
}

/* A schema as this document writes it.  v3 keeps it but for kraal's own
 * `format: quantity`; v2 is what upstream publishes: $refs into
 * #/definitions/, a lone allOf $ref hoisted, oneOf/anyOf/not/nullable gone
 * (int-or-string and quantities become strings, as upstream's IntOrString
 * and Quantity), no properties or items under nullable or
 * x-kubernetes-preserve-unknown-fields, no untyped-item arrays.  A $ref to
 * a definition that does not exist is dropped: one dangling reference makes
 * kubectl refuse the whole document. */
static kr_value_t *conv(gen_t *g, const kr_value_t *s)
{
    if (kr_value_type(s) != KR_MAP)
        return kr_value_copy(g->a, s);
    bool v2 = g->ver == OAS2;
    bool nullable = v2 && is_nullable(s);
    bool preserve =
        v2 && kr_value_as_bool(kr_value_map_get(s, "x-kubernetes-preserve-unknown-fields"), false);
    const char *format = kr_value_map_str(s, "format");
    bool quantity = format != NULL && strcmp(format, "quantity") == 0;
    kr_value_t *out = kr_value_map(g->a);
    for (size_t i = 0; i < kr_value_len(s); i++) {
        const char *k = kr_value_map_key(s, i);
        const kr_value_t *v = kr_value_map_val(s, i);
        if (strcmp(k, "$ref") == 0) {
            const char *name = ref_name(kr_value_as_str(v));
            if (name != NULL && def_source(g, name) != NULL)
                put(g, out, "$ref", kr_value_map_get(ref_to(g, name), "$ref"));
        } else if (strcmp(k, "properties") == 0) {
            if (!nullable && !preserve)
                put(g, out, k, conv_values(g, v));
        } else if (strcmp(k, "items") == 0) {
            if (!nullable && !preserve)
                put(g, out, k, kr_value_type(v) == KR_ARRAY ? conv_each(g, v) : conv(g, v));
        } else if (strcmp(k, "additionalProperties") == 0) {
            put(g, out, k, conv(g, v));
        } else if (strcmp(k, "allOf") == 0 || strcmp(k, "oneOf") == 0 || strcmp(k, "anyOf") == 0 ||
                   strcmp(k, "not") == 0) {
            if (!v2) {
                put(g, out, k, strcmp(k, "not") == 0 ? conv(g, v) : conv_each(g, v));
                continue;
            }
            /* v2 has allOf, but kubectl's v2 reader only follows a $ref:
             * a field's `allOf: [{$ref}]` + description is `$ref` +
             * description there, as upstream writes it. */
            const char *name = ref_name(kr_value_map_str(kr_value_array_get(v, 0), "$ref"));
            if (strcmp(k, "allOf") == 0 && kr_value_len(v) == 1 && name != NULL &&
                def_source(g, name) != NULL && kr_value_map_get(s, "$ref") == NULL &&
                kr_value_map_get(s, "type") == NULL && kr_value_map_get(s, "properties") == NULL)
                put(g, out, "$ref", kr_value_map_get(ref_to(g, name), "$ref"));
        } else if (strcmp(k, "format") == 0) {
            if (!quantity)
                put(g, out, k, kr_value_copy(g->a, v));
        } else if (!v2 || strncmp(k, "x-", 2) == 0) {
            put(g, out, k, kr_value_copy(g->a, v));
        } else if (strcmp(k, "required") == 0) {
            kr_value_t *req = v2_required(g, v, kr_value_map_get(s, "properties"));
            if (req != NULL)
                put(g, out, k, req);
        } else if (strcmp(k, "type") == 0) {
            if (!nullable)
                put(g, out, k, kr_value_copy(g->a, v));
        } else if (strcmp(k, "discriminator") == 0) {
            if (kr_value_type(v) == KR_STR) /* v3's is an object */
                put(g, out, k, kr_value_copy(g->a, v));
        } else if (v2_schema_key(k)) {
            put(g, out, k, kr_value_copy(g->a, v));
        }
    }
    if (!v2)
        return out;
    const char *type = kr_value_map_str(out, "type");
    if (type == NULL && kr_value_map_get(out, "$ref") == NULL && !nullable &&
        ((format != NULL && strcmp(format, "int-or-string") == 0) || quantity))
        put_str(g, out, "type", "string");
    if (type != NULL && strcmp(type, "array") == 0 && kr_value_map_get(out, "items") == NULL)
        kr_value_map_del(out, "type"); /* kubectl cannot read an array without items */
    return out;
}

static void add_def(gen_t *g, const char *name);

/* Adds every definition `v` refers to. */
static void add_refs(gen_t *g, const kr_value_t *v)
{
    if (kr_value_type(v) == KR_ARRAY) {
        for (size_t i = 0; i < kr_value_len(v); i++)
            add_refs(g, kr_value_array_get(v, i));
        return;
    }
    for (size_t i = 0; kr_value_type(v) == KR_MAP && i < kr_value_len(v); i++) {
        const kr_value_t *val = kr_value_map_val(v, i);
        if (strcmp(kr_value_map_key(v, i), "$ref") == 0) {
            const char *name = ref_name(kr_value_as_str(val));
            if (name != NULL)
                add_def(g, name);
        } else {
            add_refs(g, val);
        }
    }
}

static void add_def(gen_t *g, const char *name)
{
    if (kr_value_map_get(g->defs, name) != NULL)
        return;
    const kr_value_t *src = def_source(g, name);
    if (src == NULL)
        return;
    put(g, g->defs, name, kr_value_null(g->a)); /* ends a cycle of references */
    kr_value_t *d = conv(g, src);
    put(g, g->defs, name, d);
    add_refs(g, d);
}

/* ---- parameters ------------------------------------------------------- */

typedef struct param {
    const char *name;
    const char *in;   /* "query" or "path" */
    const char *type; /* "string", "integer" or "boolean" */
    const char *desc;
    const char *key; /* v2's #/parameters/ entry; NULL: written in place */
} param_t;

static const param_t P_ALLOW_BOOKMARKS = {
    "allowWatchBookmarks", "query", "boolean",
    "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not "
    "implement bookmarks may ignore this flag and bookmarks are sent at the server's "
    "discretion. Clients should not assume bookmarks are returned at any specific interval, "
    "nor may they assume the server will send any BOOKMARK event during a session. If this is "
    "not a watch, this field is ignored.",
    "allowWatchBookmarks"};
static const param_t P_CONTINUE = {
    "continue", "query", "string",
    "The continue option should be set when retrieving more results from the server. Since "
    "this value is server defined, clients may only use the continue value from a previous "
    "query result with identical query parameters (except for the value of continue) and the "
    "server may reject a continue value it does not recognize. If the specified continue value "
    "is no longer valid whether due to expiration (generally five to fifteen minutes) or a "
    "configuration change on the server, the server will respond with a 410 ResourceExpired "
    "error together with a continue token. If the client needs a consistent list, it must "
    "restart their list without the continue field. Otherwise, the client may send another "
    "list request with the token received with the 410 error, the server will respond with a "
    "list starting from the next key, but from the latest snapshot, which is inconsistent "
    "from the previous list results - objects that are created, modified, or deleted after "
    "the first list request will be included in the response, as long as their keys are "
    "after the \"next key\".\n\nThis field is not supported when watch is true. Clients may "
    "start a watch from the last resourceVersion value returned by the server and not miss "
    "any modifications.",
    "continue"};
static const param_t P_DRY_RUN = {
    "dryRun", "query", "string",
    "When present, indicates that modifications should not be persisted. An invalid or "
    "unrecognized dryRun directive will result in an error response and no further "
    "processing of the request. Valid values are: - All: all dry run stages will be processed",
    "dryRun"};
static const param_t P_FIELD_MANAGER = {
    "fieldManager", "query", "string",
    "fieldManager is a name associated with the actor or entity that is making these changes. "
    "The value must be less than or 128 characters long, and only contain printable "
    "characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
    "fieldManager"};
static const param_t P_FIELD_MANAGER_PATCH = {
    "fieldManager", "query", "string",
    "fieldManager is a name associated with the actor or entity that is making these changes. "
    "The value must be less than or 128 characters long, and only contain printable "
    "characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is "
    "required for apply requests (application/apply-patch) but optional for non-apply patch "
    "types (JsonPatch, MergePatch, StrategicMergePatch).",
    "fieldManager-patch"};
static const param_t P_FIELD_SELECTOR = {
    "fieldSelector", "query", "string",
    "A selector to restrict the list of returned objects by their fields. Defaults to "
    "everything.",
    "fieldSelector"};
static const param_t P_FIELD_VALIDATION = {
    "fieldValidation", "query", "string",
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This "
    "will ignore any unknown fields that are silently dropped from the object, and will "
    "ignore all but the last duplicate field that the decoder encounters. This is the default "
    "behavior prior to v1.23. - Warn: This will send a warning via the standard warning "
    "response header for each unknown field that is dropped from the object, and for each "
    "duplicate field that is encountered. The request will still succeed if there are no "
    "other errors, and will only persist the last of any duplicate fields. This is the "
    "default in v1.23+ - Strict: This will fail the request with a BadRequest error if any "
    "unknown fields would be dropped from the object, or if any duplicate fields are "
    "present. The error returned from the server will contain all unknown and duplicate "
    "fields encountered.",
    "fieldValidation"};
static const param_t P_FORCE = {
    "force", "query", "boolean",
    "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting "
    "fields owned by other people. Force flag must be unset for non-apply patch requests.",
    "force"};
static const param_t P_GRACE_PERIOD = {
    "gracePeriodSeconds", "query", "integer",
    "The duration in seconds before the object should be deleted. Value must be non-negative "
    "integer. The value zero indicates delete immediately. If this value is nil, the default "
    "grace period for the specified type will be used. Defaults to a per object value if not "
    "specified. zero means delete immediately.",
    "gracePeriodSeconds"};
static const param_t P_LABEL_SELECTOR = {
    "labelSelector", "query", "string",
    "A selector to restrict the list of returned objects by their labels. Defaults to "
    "everything.",
    "labelSelector"};
static const param_t P_LIMIT = {
    "limit", "query", "integer",
    "limit is a maximum number of responses to return for a list call. If more items exist, "
    "the server will set the `continue` field on the list metadata to a value that can be "
    "used with the same initial query to retrieve the next set of results. Setting a limit "
    "may return fewer than the requested amount of items (up to zero items) in the event all "
    "requested objects are filtered out and clients should only use the presence of the "
    "continue field to determine whether more results are available. Servers may choose not "
    "to support the limit argument and will return all of the available results. If limit is "
    "specified and the continue field is empty, clients may assume that no more results are "
    "available. This field is not supported if watch is true.\n\nThe server guarantees that "
    "the objects returned when using continue will be identical to issuing a single list "
    "call without a limit - that is, no objects created, modified, or deleted after the first "
    "request is issued will be included in any subsequent continued requests. This is "
    "sometimes referred to as a consistent snapshot, and ensures that a client that is using "
    "limit to receive smaller chunks of a very large result can ensure they see all possible "
    "objects. If objects are updated during a chunked list the version of the object that was "
    "present at the time the first list result was calculated is returned.",
    "limit"};
static const param_t P_NAMESPACE = {"namespace", "path", "string",
                                    "object name and auth scope, such as for teams and projects",
                                    "namespace"};
static const param_t P_ORPHAN = {
    "orphanDependents", "query", "boolean",
    "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. "
    "Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be "
    "added to/removed from the object's finalizers list. Either this field or "
    "PropagationPolicy may be set, but not both.",
    "orphanDependents"};
static const param_t P_PRETTY = {
    "pretty", "query", "string",
    "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent "
    "indicates a browser or command-line HTTP tool (curl and wget).",
    "pretty"};
static const param_t P_PROPAGATION = {
    "propagationPolicy", "query", "string",
    "Whether and how garbage collection will be performed. Either this field or "
    "OrphanDependents may be set, but not both. The default policy is decided by the existing "
    "finalizer set in the metadata.finalizers and the resource-specific default policy. "
    "Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the "
    "garbage collector to delete the dependents in the background; 'Foreground' - a cascading "
    "policy that deletes all dependents in the foreground.",
    "propagationPolicy"};
static const param_t P_RV = {
    "resourceVersion", "query", "string",
    "resourceVersion sets a constraint on what resource versions a request may be served "
    "from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions "
    "for details.\n\nDefaults to unset",
    "resourceVersion"};
static const param_t P_RV_MATCH = {
    "resourceVersionMatch", "query", "string",
    "resourceVersionMatch determines how resourceVersion is applied to list calls. It is "
    "highly recommended that resourceVersionMatch be set for list calls where resourceVersion "
    "is set See https://kubernetes.io/docs/reference/using-api/api-concepts/"
    "#resource-versions for details.\n\nDefaults to unset",
    "resourceVersionMatch"};
static const param_t P_SEND_INITIAL = {
    "sendInitialEvents", "query", "boolean",
    "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch "
    "stream will begin with synthetic events to produce the current state of objects in the "
    "collection. Once all such events have been sent, a synthetic \"Bookmark\" event  will be "
    "sent. The bookmark will report the ResourceVersion (RV) corresponding to the set of "
    "objects, and be marked with `\"k8s.io/initial-events-end\": \"true\"` annotation. "
    "Afterwards, the watch stream will proceed as usual, sending watch events corresponding "
    "to changes (subsequent to the RV) to objects watched.\n\nWhen `sendInitialEvents` option "
    "is set, we require `resourceVersionMatch` option to also be set. The semantic of the "
    "watch request is as following: - `resourceVersionMatch` = NotOlderThan\n  is "
    "interpreted as \"data at least as new as the provided `resourceVersion`\"\n  and the "
    "bookmark event is send when the state is synced\n  to a `resourceVersion` at least as "
    "fresh as the one provided by the ListOptions.\n  If `resourceVersion` is unset, this is "
    "interpreted as \"consistent read\" and the\n  bookmark event is send when the state is "
    "synced at least to the moment\n  when request started being processed.\n- "
    "`resourceVersionMatch` set to any other value or unset\n  Invalid error is "
    "returned.\n\nDefaults to true if `resourceVersion=\"\"` or `resourceVersion=\"0\"` (for "
    "backward compatibility reasons) and to false otherwise.",
    "sendInitialEvents"};
static const param_t P_TIMEOUT = {"timeoutSeconds", "query", "integer",
                                  "Timeout for the list/watch call. This limits the duration of "
                                  "the call, regardless of any activity or inactivity.",
                                  "timeoutSeconds"};
static const param_t P_WATCH = {
    "watch", "query", "boolean",
    "Watch for changes to the described resources and return them as a stream of add, "
    "update, and remove notifications. Specify resourceVersion.",
    "watch"};
/* Its description names the kind: written in place. */
static const param_t P_NAME = {"name", "path", "string", NULL, NULL};

static const param_t *const NO_PARAMS[] = {NULL};
static const param_t *const LIST_PARAMS[] = {
    &P_ALLOW_BOOKMARKS, &P_CONTINUE,     &P_FIELD_SELECTOR, &P_LABEL_SELECTOR, &P_LIMIT, &P_RV,
    &P_RV_MATCH,        &P_SEND_INITIAL, &P_TIMEOUT,        &P_WATCH,          NULL,
};
static const param_t *const WRITE_PARAMS[] = {&P_DRY_RUN, &P_FIELD_MANAGER, &P_FIELD_VALIDATION,
                                              NULL};
static const param_t *const PATCH_PARAMS[] = {&P_DRY_RUN, &P_FIELD_MANAGER_PATCH,
                                              &P_FIELD_VALIDATION, &P_FORCE, NULL};
static const param_t *const DELETE_PARAMS[] = {&P_DRY_RUN, &P_GRACE_PERIOD, &P_ORPHAN,
                                               &P_PROPAGATION, NULL};
static const param_t *const DELETE_COLLECTION_PARAMS[] = {
    &P_CONTINUE,
    &P_DRY_RUN,
    &P_FIELD_SELECTOR,
    &P_GRACE_PERIOD,
    &P_LABEL_SELECTOR,
    &P_LIMIT,
    &P_ORPHAN,
    &P_PROPAGATION,
    &P_RV,
    &P_RV_MATCH,
    &P_SEND_INITIAL,
    &P_TIMEOUT,
    NULL,
};

/* A parameter as this document writes it; v2 shares the query and
 * namespace parameters under #/parameters/, as upstream does. */
static kr_value_t *param_value(gen_t *g, const param_t *p, const char *name_desc)
{
    kr_value_t *m = kr_value_map(g->a);
    if (g->ver == OAS2 && p->key != NULL) {
        if (kr_value_map_get(g->params, p->key) == NULL) {
            param_t full = *p;
            full.key = NULL;
            put(g, g->params, p->key, param_value(g, &full, NULL));
        }
        put_str(g, m, "$ref", kr_arena_printf(g->a, REF_PARAM "%s", p->key));
        return m;
    }
    put_str(g, m, "description", p->desc != NULL ? p->desc : name_desc);
    put_str(g, m, "in", p->in);
    put_str(g, m, "name", p->name);
    if (strcmp(p->in, "path") == 0)
        put(g, m, "required", kr_value_bool(g->a, true));
    kr_value_t *type = kr_value_map(g->a);
    put_str(g, type, "type", p->type);
    put(g, type, "uniqueItems", kr_value_bool(g->a, true));
    if (g->ver == OAS2) {
        for (size_t i = 0; i < kr_value_len(type); i++)
            put(g, m, kr_value_map_key(type, i), kr_value_map_val(type, i));
    } else {
        put(g, m, "schema", type);
    }
    return m;
}

/* ---- operations and paths --------------------------------------------- */

enum { R200 = 1u << 0, R201 = 1u << 1, R202 = 1u << 2 };

/* What every operation on one resource path shares. */
typedef struct res {
    const char *gv_id;                  /* "CoreV1", "AppsV1": the operationId's group version */
    const char *tag;                    /* "core_v1" */
    const char *group, *version, *kind; /* x-kubernetes-group-version-kind */
    bool strategic;                     /* takes strategic merge patches */
} res_t;

typedef struct opspec {
    const char *method; /* "get", "post", "put", "patch", "delete" */
    const char *action; /* x-kubernetes-action */
    const char *verb;   /* operationId = verb + gv_id + rest */
    const char *rest;
    const char *desc;
    const param_t *const *params;
    const char *body; /* definition of the request body, or NULL */
    bool patch;       /* the body is a patch */
    const char *resp; /* definition of the answer */
    unsigned codes;   /* R200 | R201 | R202 */
    bool stream;      /* answers a watch stream too */
} opspec_t;

static const char *const MEDIA[] = {"application/json", "application/yaml", NULL};
static const char *const MEDIA_STREAM[] = {"application/json", "application/json;stream=watch",
                                           "application/yaml", NULL};
static const char *const ANY_MEDIA[] = {"*/*", NULL};
/* Upstream's for built-in kinds; a CRD takes no strategic merge patch. */
static const char *const PATCH_MEDIA[] = {
    "application/json-patch+json", "application/merge-patch+json",
    "application/strategic-merge-patch+json", "application/apply-patch+yaml", NULL};
static const char *const PATCH_MEDIA_NO_SMP[] = {"application/json-patch+json",
                                                 "application/merge-patch+json",
                                                 "application/apply-patch+yaml", NULL};

static kr_value_t *content(gen_t *g, const char *const *media, const char *def)
{
    kr_value_t *c = kr_value_map(g->a);
    for (size_t i = 0; media[i] != NULL; i++) {
        kr_value_t *m = kr_value_map(g->a);
        put(g, m, "schema", ref_to(g, def));
        put(g, c, media[i], m);
    }
    return c;
}

/* `tmpl` with its "%s" replaced by the kind's name. */
static const char *fill(kr_arena_t *a, const char *tmpl, const char *kind)
{
    const char *at = strstr(tmpl, "%s");
    if (at == NULL)
        return tmpl;
    return kr_arena_printf(a, "%.*s%s%s", (int)(at - tmpl), tmpl, kind, at + 2);
}

static void add_op(gen_t *g, kr_value_t *item, const res_t *r, const opspec_t *o)
{
    bool v2 = g->ver == OAS2;
    const char *const *consumes =
        o->patch ? (r->strategic ? PATCH_MEDIA : PATCH_MEDIA_NO_SMP) : ANY_MEDIA;
    const char *const *produces = o->stream ? MEDIA_STREAM : MEDIA;
    kr_value_t *op = kr_value_map(g->a);
    if (v2)
        put(g, op, "consumes", str_array(g, consumes));
    put_str(g, op, "description", fill(g->a, o->desc, r->kind));
    put_str(g, op, "operationId", kr_arena_printf(g->a, "%s%s%s", o->verb, r->gv_id, o->rest));

    kr_value_t *params = kr_value_array(g->a);
    bool required = o->body != NULL && strcmp(o->body, DEF_DELETE_OPTIONS) != 0;
    if (v2 && o->body != NULL) {
        kr_value_t *body = kr_value_map(g->a);
        put_str(g, body, "in", "body");
        put_str(g, body, "name", "body");
        if (required)
            put(g, body, "required", kr_value_bool(g->a, true));
        put(g, body, "schema", ref_to(g, o->body));
        kr_value_array_push(g->a, params, body);
    }
    for (size_t i = 0; o->params[i] != NULL; i++)
        kr_value_array_push(g->a, params, param_value(g, o->params[i], NULL));
    if (kr_value_len(params) > 0)
        put(g, op, "parameters", params);
    if (v2)
        put(g, op, "produces", str_array(g, produces));
    if (!v2 && o->body != NULL) {
        kr_value_t *rb = kr_value_map(g->a);
        put(g, rb, "content", content(g, consumes, o->body));
        if (required)
            put(g, rb, "required", kr_value_bool(g->a, true));
        put(g, op, "requestBody", rb);
    }

    static const struct {
        unsigned bit;
        const char *code, *desc;
    } codes[] = {{R200, "200", "OK"}, {R201, "201", "Created"}, {R202, "202", "Accepted"}};
    kr_value_t *resps = kr_value_map(g->a);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (!(o->codes & codes[i].bit))
            continue;
        kr_value_t *resp = kr_value_map(g->a);
        if (!v2)
            put(g, resp, "content", content(g, produces, o->resp));
        put_str(g, resp, "description", codes[i].desc);
        if (v2)
            put(g, resp, "schema", ref_to(g, o->resp));
        put(g, resps, codes[i].code, resp);
    }
    if (v2) {
        kr_value_t *unauth = kr_value_map(g->a);
        put_str(g, unauth, "description", "Unauthorized");
        put(g, resps, "401", unauth);
    }
    put(g, op, "responses", resps);
    if (v2) {
        const char *const https[] = {"https", NULL};
        put(g, op, "schemes", str_array(g, https));
    }
    const char *const tags[] = {r->tag, NULL};
    put(g, op, "tags", str_array(g, tags));
    put_str(g, op, "x-kubernetes-action", o->action);
    put(g, op, "x-kubernetes-group-version-kind", gvk_value(g, r->group, r->version, r->kind));
    put(g, item, o->method, op);
}

static int param_cmp(const void *x, const void *y)
{
    const param_t *a = *(const param_t *const *)x, *b = *(const param_t *const *)y;
    return strcmp(a->name, b->name);
}

/* A path and its path-level parameters (sorted by name, as upstream):
 * name, namespace, pretty and, for paths that only list or watch, the list
 * parameters. */
static kr_value_t *path_item(gen_t *g, const char *path, bool name, bool ns, bool list,
                             const char *name_desc)
{
    const param_t *ps[16];
    size_t n = 0;
    for (size_t i = 0; list && LIST_PARAMS[i] != NULL; i++)
        ps[n++] = LIST_PARAMS[i];
    if (name)
        ps[n++] = &P_NAME;
    if (ns)
        ps[n++] = &P_NAMESPACE;
    ps[n++] = &P_PRETTY;
    qsort(ps, n, sizeof(ps[0]), param_cmp);
    kr_value_t *params = kr_value_array(g->a);
    for (size_t i = 0; i < n; i++)
        kr_value_array_push(g->a, params, param_value(g, ps[i], name_desc));
    kr_value_t *item = kr_value_map(g->a);
    put(g, item, "parameters", params);
    put(g, g->paths, path, item);
    return item;
}

/* apiserver's ToValidOperationID: letters, '_' and digits after the first
 * character stay; anything else goes and capitalizes what follows. */
static void op_ident(kr_buf_t *b, const char *s, bool capital)
{
    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalpha(c) || c == '_' || (i != 0 && isdigit(c))) {
            char ch = capital ? (char)toupper(c) : (char)c;
            kr_buf_append(b, &ch, 1);
            capital = false;
        } else {
            capital = true;
        }
    }
}

static void res_init(gen_t *g, res_t *r, const kr_kind_t *k)
{
    const char *group = k->group[0] ? k->group : "core";
    size_t n = strlen(group);
    if (n > 7 && strcmp(group + n - 7, ".k8s.io") == 0)
        group = kr_arena_strndup(g->a, group, n - 7);
    kr_buf_t id = KR_BUF_INIT, tag = KR_BUF_INIT;
    op_ident(&id, group, true);
    op_ident(&id, k->version, true);
    op_ident(&tag, group, false);
    kr_buf_puts(&tag, "_");
    op_ident(&tag, k->version, false);
    r->gv_id = kr_arena_strdup(g->a, id.data ? id.data : "");
    r->tag = kr_arena_strdup(g->a, tag.data);
    kr_buf_free(&id);
    kr_buf_free(&tag);
    r->group = k->group;
    r->version = k->version;
    r->kind = k->kind;
    r->strategic = k->builtin;
}

#define DESC_WATCH                                                                  \
    "watch changes to an object of kind %s. deprecated: use the 'watch' parameter " \
    "with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
#define DESC_WATCH_LIST                                                                     \
    "watch individual changes to a list of %s. deprecated: use the 'watch' parameter with " \
    "a list operation instead."

/* Every path of a kind, with the operations upstream's API server installs
 * for it (apiserver/pkg/endpoints/installer.go). */
static void kind_paths(gen_t *g, const kr_kind_t *k)
{
    kr_arena_t *a = g->a;
    const char *kind_def = NULL, *list_def = NULL;
    kind_defs(g, k, &kind_def, &list_def);
    res_t r;
    res_init(g, &r, k);
    bool ns = k->namespaced;
    const char *nsd = ns ? "Namespaced" : "";
    const char *root = k->group[0] ? kr_arena_printf(a, "/apis/%s/%s", k->group, k->version)
                                   : kr_arena_printf(a, "/api/%s", k->version);
    const char *scope = ns ? "/namespaces/{namespace}" : "";
    const char *coll = kr_arena_printf(a, "%s%s/%s", root, scope, k->plural);
    const char *one = kr_arena_printf(a, "%s/{name}", coll);
    const char *name_desc = kr_arena_printf(a, "name of the %s", k->kind);
    const char *nk = kr_arena_printf(a, "%s%s", nsd, k->kind);

    kr_value_t *it = path_item(g, coll, false, ns, false, NULL);
    opspec_t create = {"post",       "post",   "create", nk,       "create a %s",
                       WRITE_PARAMS, kind_def, false,    kind_def, R200 | R201 | R202,
                       false};
    /* A Binding is only created (upstream's bindings resource). */
    if (k->builtin && k->group[0] == '\0' && strcmp(k->kind, "Binding") == 0) {
        add_op(g, it, &r, &create);
        return;
    }
    if (list_def != NULL)
        add_op(g, it, &r,
               &(opspec_t){"get", "list", "list", nk, "list or watch objects of kind %s",
                           LIST_PARAMS, NULL, false, list_def, R200, true});
    add_op(g, it, &r, &create);
    add_op(g, it, &r,
           &(opspec_t){"delete", "deletecollection", "delete",
                       kr_arena_printf(a, "Collection%s", nk), "delete collection of %s",
                       DELETE_COLLECTION_PARAMS, DEF_DELETE_OPTIONS, false, DEF_STATUS, R200,
                       false});

    it = path_item(g, one, true, ns, false, name_desc);
    add_op(g, it, &r,
           &(opspec_t){"get", "get", "read", nk, "read the specified %s", NO_PARAMS, NULL, false,
                       kind_def, R200, false});
    add_op(g, it, &r,
           &(opspec_t){"put", "put", "replace", nk, "replace the specified %s", WRITE_PARAMS,
                       kind_def, false, kind_def, R200 | R201, false});
    add_op(g, it, &r,
           &(opspec_t){"patch", "patch", "patch", nk, "partially update the specified %s",
                       PATCH_PARAMS, DEF_PATCH, true, kind_def, R200 | R201, false});
    add_op(g, it, &r,
           &(opspec_t){"delete", "delete", "delete", nk, "delete a %s", DELETE_PARAMS,
                       DEF_DELETE_OPTIONS, false, DEF_STATUS, R200 | R202, false});

    if (ns && list_def != NULL) {
        it = path_item(g, kr_arena_printf(a, "%s/%s", root, k->plural), false, false, true, NULL);
        add_op(g, it, &r,
               &(opspec_t){"get", "list", "list", kr_arena_printf(a, "%sForAllNamespaces", k->kind),
                           "list or watch objects of kind %s", NO_PARAMS, NULL, false, list_def,
                           R200, true});
    }
    const char *wcoll = kr_arena_printf(a, "%s/watch%s/%s", root, scope, k->plural);
    it = path_item(g, wcoll, false, ns, true, NULL);
    add_op(g, it, &r,
           &(opspec_t){"get", "watchlist", "watch", kr_arena_printf(a, "%sList", nk),
                       DESC_WATCH_LIST, NO_PARAMS, NULL, false, DEF_WATCH_EVENT, R200, true});
    it = path_item(g, kr_arena_printf(a, "%s/{name}", wcoll), true, ns, true, name_desc);
    add_op(g, it, &r,
           &(opspec_t){"get", "watch", "watch", nk, DESC_WATCH, NO_PARAMS, NULL, false,
                       DEF_WATCH_EVENT, R200, true});
    if (ns) {
        it = path_item(g, kr_arena_printf(a, "%s/watch/%s", root, k->plural), false, false, true,
                       NULL);
        add_op(g, it, &r,
               &(opspec_t){"get", "watchlist", "watch",
                           kr_arena_printf(a, "%sListForAllNamespaces", k->kind), DESC_WATCH_LIST,
                           NO_PARAMS, NULL, false, DEF_WATCH_EVENT, R200, true});
    }

    if (k->subresources & KR_SUB_STATUS) {
        const char *rest = kr_arena_printf(a, "%sStatus", nk);
        it = path_item(g, kr_arena_printf(a, "%s/status", one), true, ns, false, name_desc);
        add_op(g, it, &r,
               &(opspec_t){"get", "get", "read", rest, "read status of the specified %s", NO_PARAMS,
                           NULL, false, kind_def, R200, false});
        add_op(g, it, &r,
               &(opspec_t){"put", "put", "replace", rest, "replace status of the specified %s",
                           WRITE_PARAMS, kind_def, false, kind_def, R200 | R201, false});
        add_op(g, it, &r,
               &(opspec_t){"patch", "patch", "patch", rest,
                           "partially update status of the specified %s", PATCH_PARAMS, DEF_PATCH,
                           true, kind_def, R200 | R201, false});
    }
    if (k->subresources & KR_SUB_SCALE) {
        /* The operations are the Scale's; descriptions name the kind. */
        const char *rest = kr_arena_printf(a, "%sScale", nk);
        res_t sr = r;
        sr.group = "autoscaling";
        sr.version = "v1";
        sr.kind = "Scale";
        it =
            path_item(g, kr_arena_printf(a, "%s/scale", one), true, ns, false, "name of the Scale");
        char *read = kr_arena_printf(a, "read scale of the specified %s", k->kind);
        char *replace = kr_arena_printf(a, "replace scale of the specified %s", k->kind);
        char *patch = kr_arena_printf(a, "partially update scale of the specified %s", k->kind);
        add_op(g, it, &sr,
               &(opspec_t){"get", "get", "read", rest, read, NO_PARAMS, NULL, false, DEF_SCALE,
                           R200, false});
        add_op(g, it, &sr,
               &(opspec_t){"put", "put", "replace", rest, replace, WRITE_PARAMS, DEF_SCALE, false,
                           DEF_SCALE, R200 | R201, false});
        add_op(g, it, &sr,
               &(opspec_t){"patch", "patch", "patch", rest, patch, PATCH_PARAMS, DEF_PATCH, true,
                           DEF_SCALE, R200 | R201, false});
    }
    if (k->subresources & KR_SUB_BINDING) {
        res_t br = r;
        br.group = "";
        br.version = "v1";
        br.kind = "Binding";
        it = path_item(g, kr_arena_printf(a, "%s/binding", one), true, ns, false,
                       "name of the Binding");
        add_op(g, it, &br,
               &(opspec_t){"post", "post", "create", kr_arena_printf(a, "%sBinding", nk),
                           kr_arena_printf(a, "create binding of a %s", k->kind), WRITE_PARAMS,
                           DEF_BINDING, false, DEF_BINDING, R200 | R201 | R202, false});
    }
}

/* ---- documents -------------------------------------------------------- */

typedef struct entry {
    const char *key;
    kr_value_t *val;
} entry_t;

static int entry_cmp(const void *x, const void *y)
{
    return strcmp(((const entry_t *)x)->key, ((const entry_t *)y)->key);
}

/* `m` with its keys sorted, as upstream's documents are. */
static kr_value_t *sorted(gen_t *g, const kr_value_t *m)
{
    size_t n = kr_value_len(m);
    entry_t *e = kr_arena_alloc(g->a, (n + 1) * sizeof(*e));
    for (size_t i = 0; i < n; i++)
        e[i] = (entry_t){kr_value_map_key(m, i), kr_value_map_val(m, i)};
    qsort(e, n, sizeof(*e), entry_cmp);
    kr_value_t *out = kr_value_map(g->a);
    for (size_t i = 0; i < n; i++)
        put(g, out, e[i].key, e[i].val);
    return out;
}

static void gen_init(gen_t *g, kr_arena_t *arena, oas_t ver)
{
    g->a = arena;
    g->ver = ver;
    g->builtin = kr_schema_components();
    g->made = kr_value_map(arena);
    /* Upstream's name for a PATCH body, which the built-in document lacks. */
    kr_value_t *patch = kr_value_map(arena);
    put_str(g, patch, "description",
            "Patch is provided to give a concrete name and type to the Kubernetes PATCH request "
            "body.");
    put_str(g, patch, "type", "object");
    put(g, g->made, DEF_PATCH, patch);
    g->defs = kr_value_map(arena);
    g->paths = kr_value_map(arena);
    g->params = kr_value_map(arena);
}

/* "api/v1" or "apis/apps/v1" */
static const char *gv_path_of(kr_arena_t *a, const kr_kind_t *k)
{
    return k->group[0] ? kr_arena_printf(a, "apis/%s/%s", k->group, k->version)
                       : kr_arena_printf(a, "api/%s", k->version);
}

/* Paths of the kinds of one group version (every kind with NULL), then the
 * definitions they refer to. */
static bool gen_build(gen_t *g, const kr_registry_t *reg, const char *gv_path)
{
    bool any = false;
    for (size_t i = 0; i < kr_registry_count(reg); i++) {
        const kr_kind_t *k = kr_registry_at(reg, i);
        if (gv_path != NULL && strcmp(gv_path_of(g->a, k), gv_path) != 0)
            continue;
        kind_paths(g, k);
        any = true;
    }
    add_refs(g, g->paths);
    return any;
}

static kr_value_t *info(gen_t *g)
{
    kr_value_t *m = kr_value_map(g->a);
    put_str(g, m, "title", "Kubernetes");
    put_str(g, m, "version", "unversioned");
    return m;
}

/* securityDefinitions / securitySchemes: bearer tokens, as upstream. */
static kr_value_t *bearer(gen_t *g)
{
    kr_value_t *b = kr_value_map(g->a);
    put_str(g, b, "description", "Bearer Token authentication");
    put_str(g, b, "in", "header");
    put_str(g, b, "name", "authorization");
    put_str(g, b, "type", "apiKey");
    kr_value_t *m = kr_value_map(g->a);
    put(g, m, "BearerToken", b);
    return m;
}

static kr_value_t *security(gen_t *g)
{
    kr_value_t *req = kr_value_map(g->a);
    put(g, req, "BearerToken", kr_value_array(g->a));
    kr_value_t *arr = kr_value_array(g->a);
    kr_value_array_push(g->a, arr, req);
    return arr;
}

kr_value_t *kr_openapi_v2(kr_arena_t *arena, const kr_registry_t *reg)
{
    gen_t g;
    gen_init(&g, arena, OAS2);
    gen_build(&g, reg, NULL);
    kr_value_t *doc = kr_value_map(arena);
    put_str(&g, doc, "swagger", "2.0");
    put(&g, doc, "info", info(&g));
    put(&g, doc, "paths", sorted(&g, g.paths));
    put(&g, doc, "definitions", sorted(&g, g.defs));
    put(&g, doc, "parameters", sorted(&g, g.params));
    put(&g, doc, "securityDefinitions", bearer(&g));
    put(&g, doc, "security", security(&g));
    return doc;
}

kr_value_t *kr_openapi_v3_gv(kr_arena_t *arena, const kr_registry_t *reg, const char *gv_path)
{
    if (gv_path == NULL)
        return NULL;
    if (gv_path[0] == '/')
        gv_path++;
    gen_t g;
    gen_init(&g, arena, OAS3);
    if (!gen_build(&g, reg, gv_path))
        return NULL;
    kr_value_t *doc = kr_value_map(arena);
    kr_value_t *comps = kr_value_map(arena);
    put(&g, comps, "schemas", sorted(&g, g.defs));
    put(&g, comps, "securitySchemes", bearer(&g));
    put(&g, doc, "components", comps);
    put(&g, doc, "info", info(&g));
    put_str(&g, doc, "openapi", "3.0.0");
    put(&g, doc, "paths", sorted(&g, g.paths));
    put(&g, doc, "security", security(&g));
    return doc;
}

kr_value_t *kr_openapi_v3_index(kr_arena_t *arena, const kr_registry_t *reg)
{
    gen_t g;
    gen_init(&g, arena, OAS3);
    kr_value_t *paths = kr_value_map(arena);
    kr_buf_t buf = KR_BUF_INIT;
    for (size_t i = 0; i < kr_registry_count(reg); i++) {
        const char *gv = gv_path_of(arena, kr_registry_at(reg, i));
        if (kr_value_map_get(paths, gv) != NULL)
            continue;
        /* The document is built only to be hashed: a scratch arena. */
        kr_arena_t *tmp = kr_arena_new(1u << 20);
        kr_buf_reset(&buf);
        kr_json_encode(kr_openapi_v3_gv(tmp, reg, gv), &buf, KR_JSON_COMPACT, NULL);
        kr_arena_destroy(&tmp);
        char hash[KR_OPENAPI_ETAG_LEN + 1];
        kr_openapi_etag(buf.data, buf.len, hash);
        kr_value_t *entry = kr_value_map(arena);
        put_str(&g, entry, "serverRelativeURL",
                kr_arena_printf(arena, "/openapi/v3/%s?hash=%s", gv, hash));
        put(&g, paths, gv, entry);
    }
    kr_buf_free(&buf);
    kr_value_t *doc = kr_value_map(arena);
    put(&g, doc, "paths", sorted(&g, paths));
    return doc;
}

/* ---- SHA-512 (FIPS 180-4), for the ETag ------------------------------ */

static const uint64_t sha512_k[80] = {
    0x428a2f98d728ae22ull, 0x7137449123ef65cdull, 0xb5c0fbcfec4d3b2full, 0xe9b5dba58189dbbcull,
    0x3956c25bf348b538ull, 0x59f111f1b605d019ull, 0x923f82a4af194f9bull, 0xab1c5ed5da6d8118ull,
    0xd807aa98a3030242ull, 0x12835b0145706fbeull, 0x243185be4ee4b28cull, 0x550c7dc3d5ffb4e2ull,
    0x72be5d74f27b896full, 0x80deb1fe3b1696b1ull, 0x9bdc06a725c71235ull, 0xc19bf174cf692694ull,
    0xe49b69c19ef14ad2ull, 0xefbe4786384f25e3ull, 0x0fc19dc68b8cd5b5ull, 0x240ca1cc77ac9c65ull,
    0x2de92c6f592b0275ull, 0x4a7484aa6ea6e483ull, 0x5cb0a9dcbd41fbd4ull, 0x76f988da831153b5ull,
    0x983e5152ee66dfabull, 0xa831c66d2db43210ull, 0xb00327c898fb213full, 0xbf597fc7beef0ee4ull,
    0xc6e00bf33da88fc2ull, 0xd5a79147930aa725ull, 0x06ca6351e003826full, 0x142929670a0e6e70ull,
    0x27b70a8546d22ffcull, 0x2e1b21385c26c926ull, 0x4d2c6dfc5ac42aedull, 0x53380d139d95b3dfull,
    0x650a73548baf63deull, 0x766a0abb3c77b2a8ull, 0x81c2c92e47edaee6ull, 0x92722c851482353bull,
    0xa2bfe8a14cf10364ull, 0xa81a664bbc423001ull, 0xc24b8b70d0f89791ull, 0xc76c51a30654be30ull,
    0xd192e819d6ef5218ull, 0xd69906245565a910ull, 0xf40e35855771202aull, 0x106aa07032bbd1b8ull,
    0x19a4c116b8d2d0c8ull, 0x1e376c085141ab53ull, 0x2748774cdf8eeb99ull, 0x34b0bcb5e19b48a8ull,
    0x391c0cb3c5c95a63ull, 0x4ed8aa4ae3418acbull, 0x5b9cca4f7763e373ull, 0x682e6ff3d6b2b8a3ull,
    0x748f82ee5defb2fcull, 0x78a5636f43172f60ull, 0x84c87814a1f0ab72ull, 0x8cc702081a6439ecull,
    0x90befffa23631e28ull, 0xa4506cebde82bde9ull, 0xbef9a3f7b2c67915ull, 0xc67178f2e372532bull,
    0xca273eceea26619cull, 0xd186b8c721c0c207ull, 0xeada7dd6cde0eb1eull, 0xf57d4f7fee6ed178ull,
    0x06f067aa72176fbaull, 0x0a637dc5a2c898a6ull, 0x113f9804bef90daeull, 0x1b710b35131c471bull,
    0x28db77f523047d84ull, 0x32caab7b40c72493ull, 0x3c9ebe0a15c9bebcull, 0x431d67c49c100d4cull,
    0x4cc5d4becb3e42b6ull, 0x597f299cfc657e2aull, 0x5fcb6fab3ad6faecull, 0x6c44198c4a475817ull,
};

static uint64_t ror64(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

static void sha512_block(uint64_t h[8], const unsigned char *p)
{
    uint64_t w[80];
    for (int i = 0; i < 16; i++) {
        w[i] = 0;
        for (int j = 0; j < 8; j++)
            w[i] = (w[i] << 8) | p[i * 8 + j];
    }
    for (int i = 16; i < 80; i++) {
        uint64_t s0 = ror64(w[i - 15], 1) ^ ror64(w[i - 15], 8) ^ (w[i - 15] >> 7);
        uint64_t s1 = ror64(w[i - 2], 19) ^ ror64(w[i - 2], 61) ^ (w[i - 2] >> 6);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint64_t v[8];
    memcpy(v, h, sizeof(v));
    for (int i = 0; i < 80; i++) {
        uint64_t s1 = ror64(v[4], 14) ^ ror64(v[4], 18) ^ ror64(v[4], 41);
        uint64_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint64_t t1 = v[7] + s1 + ch + sha512_k[i] + w[i];
        uint64_t s0 = ror64(v[0], 28) ^ ror64(v[0], 34) ^ ror64(v[0], 39);
        uint64_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        uint64_t t2 = s0 + maj;
        memmove(v + 1, v, 7 * sizeof(v[0]));
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        h[i] += v[i];
}

void kr_openapi_etag(const void *data, size_t len, char out[KR_OPENAPI_ETAG_LEN + 1])
{
    uint64_t h[8] = {0x6a09e667f3bcc908ull, 0xbb67ae8584caa73bull, 0x3c6ef372fe94f82bull,
                     0xa54ff53a5f1d36f1ull, 0x510e527fade682d1ull, 0x9b05688c2b3e6c1full,
                     0x1f83d9abfb41bd6bull, 0x5be0cd19137e2179ull};
    const unsigned char *p = data;
    size_t full = len / 128 * 128;
    for (size_t off = 0; off < full; off += 128)
        sha512_block(h, p + off);
    /* The tail, 0x80, zeros and the bit length (< 2^64 here) in one or
     * two blocks. */
    unsigned char last[256] = {0};
    size_t rest = len - full;
    if (rest > 0)
        memcpy(last, p + full, rest);
    last[rest] = 0x80;
    size_t blocks = rest + 1 + 16 <= 128 ? 1 : 2;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        last[blocks * 128 - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t b = 0; b < blocks; b++)
        sha512_block(h, last + b * 128);
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < 64; i++) {
        unsigned char byte = (unsigned char)(h[i / 8] >> (56 - 8 * (i % 8)));
        out[2 * i] = hex[byte >> 4];
        out[2 * i + 1] = hex[byte & 15];
    }
    out[KR_OPENAPI_ETAG_LEN] = '\0';
}

/* ---- gnostic's openapi.v2 protobuf ------------------------------------ */

/* Field numbers are those of github.com/google/gnostic-models
 * openapiv2/OpenAPIv2.proto; proto3, so zero scalars are left out. */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

static void pb_varint(kr_buf_t *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        unsigned char c = v & 0x7f;
        v >>= 7;
        tmp[n++] = c | (v ? 0x80 : 0);
    } while (v != 0);
    kr_buf_append(b, tmp, n);
}

static void pb_key(kr_buf_t *b, unsigned field, unsigned wire)
{
    pb_varint(b, ((uint64_t)field << 3) | wire);
}

static void pb_bytes(kr_buf_t *b, unsigned field, const void *p, size_t n)
{
    pb_key(b, field, WT_LEN);
    pb_varint(b, n);
    if (n > 0)
        kr_buf_append(b, p, n);
}

typedef int (*pb_fn)(const kr_value_t *v, kr_buf_t *out, kr_error_t *err);

/* Appends field `field` holding the message fn makes of v. */
static int pb_sub(kr_buf_t *out, unsigned field, pb_fn fn, const kr_value_t *v, kr_error_t *err)
{
    kr_buf_t tmp = KR_BUF_INIT;
    int rc = fn(v, &tmp, err);
    if (rc == 0)
        pb_bytes(out, field, tmp.data, tmp.len);
    kr_buf_free(&tmp);
    return rc;
}

static int pb_error(kr_error_t *err, const char *msg, const char *key, const char *what)
{
    return kr_error_set(err, KR_E_INTERNAL, "openapi v2: %s.%s: %s", msg, key, what);
}

/* Any {yaml}: the value as JSON, which YAML readers take as it is. */
static int pb_any(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    kr_buf_t json = KR_BUF_INIT;
    int rc = kr_json_encode(v, &json, KR_JSON_COMPACT, err);
    if (rc == 0)
        pb_bytes(out, 2, json.data, json.len);
    kr_buf_free(&json);
    return rc < 0 ? -KR_E_INTERNAL : 0;
}

/* NamedAny {name, value} for a vendor extension. */
static int pb_named_any(kr_buf_t *out, unsigned field, const char *name, const kr_value_t *v,
                        kr_error_t *err)
{
    kr_buf_t tmp = KR_BUF_INIT;
    pb_bytes(&tmp, 1, name, strlen(name));
    int rc = pb_sub(&tmp, 2, pb_any, v, err);
    if (rc == 0)
        pb_bytes(out, field, tmp.data, tmp.len);
    kr_buf_free(&tmp);
    return rc;
}

/* Named<X> {name, value} (field `field`) for every entry of map `m`: the
 * shape of gnostic's maps (Definitions, Properties, Paths, Responses, ...).
 * With `ext`, keys starting with "x-" are vendor extensions in that
 * field instead. */
static int pb_named(const char *msg, kr_buf_t *out, unsigned field, unsigned ext,
                    const kr_value_t *m, pb_fn fn, kr_error_t *err)
{
    if (kr_value_type(m) != KR_MAP)
        return kr_error_set(err, KR_E_INTERNAL, "openapi v2: %s: not an object", msg);
    for (size_t i = 0; i < kr_value_len(m); i++) {
        const char *name = kr_value_map_key(m, i);
        const kr_value_t *v = kr_value_map_val(m, i);
        if (ext != 0 && strncmp(name, "x-", 2) == 0) {
            if (pb_named_any(out, ext, name, v, err) < 0)
                return -KR_E_INTERNAL;
            continue;
        }
        kr_buf_t tmp = KR_BUF_INIT;
        pb_bytes(&tmp, 1, name, strlen(name));
        int rc = pb_sub(&tmp, 2, fn, v, err);
        if (rc == 0)
            pb_bytes(out, field, tmp.data, tmp.len);
        kr_buf_free(&tmp);
        if (rc < 0)
            return rc;
    }
    return 0;
}

typedef enum {
    F_STR,  /* string */
    F_BOOL, /* bool */
    F_INT,  /* int64 */
    F_DBL,  /* double */
    F_STRS, /* repeated string */
    F_ANY,  /* Any */
    F_ANYS, /* repeated Any */
    F_MSG,  /* a message made by fn */
    F_MSGS, /* repeated: fn for each item of an array */
} ftype_t;

typedef struct field {
    const char *key;
    unsigned num;
    ftype_t type;
    pb_fn fn;
} field_t;

/* A message whose fields are the keys of map `m`, numbered by `fields`
 * or, after adding `offset`, by `tail` (the fields parameters share with
 * PrimitivesItems); keys starting with "x-" are vendor extensions (field
 * `ext`, 0 when the message has none). */
static int pb_fields(const char *msg, const field_t *fields, const field_t *tail, unsigned offset,
                     unsigned ext, const kr_value_t *m, kr_buf_t *out, kr_error_t *err)
{
    if (kr_value_type(m) != KR_MAP)
        return kr_error_set(err, KR_E_INTERNAL, "openapi v2: %s: not an object", msg);
    for (size_t i = 0; i < kr_value_len(m); i++) {
        const char *key = kr_value_map_key(m, i);
        const kr_value_t *v = kr_value_map_val(m, i);
        if (ext != 0 && strncmp(key, "x-", 2) == 0) {
            if (pb_named_any(out, ext, key, v, err) < 0)
                return -KR_E_INTERNAL;
            continue;
        }
        const field_t *f = fields;
        while (f->key != NULL && strcmp(f->key, key) != 0)
            f++;
        unsigned num = f->num;
        if (f->key == NULL && tail != NULL) {
            for (f = tail; f->key != NULL && strcmp(f->key, key) != 0; f++)
                ;
            num = f->num + offset;
        }
        if (f->key == NULL)
            return pb_error(err, msg, key, "not a field of the Swagger 2.0 object");
        kr_type_t t = kr_value_type(v);
        switch (f->type) {
        case F_STR:
            if (t != KR_STR)
                return pb_error(err, msg, key, "must be a string");
            if (kr_value_len(v) > 0)
                pb_bytes(out, num, kr_value_as_str(v), kr_value_len(v));
            break;
        case F_BOOL:
            if (t != KR_BOOL)
                return pb_error(err, msg, key, "must be a boolean");
            if (kr_value_as_bool(v, false)) {
                pb_key(out, num, WT_VARINT);
                pb_varint(out, 1);
            }
            break;
        case F_INT:
            if (t != KR_INT)
                return pb_error(err, msg, key, "must be an integer");
            if (kr_value_as_int(v, 0) != 0) {
                pb_key(out, num, WT_VARINT);
                pb_varint(out, (uint64_t)kr_value_as_int(v, 0));
            }
            break;
        case F_DBL: {
            if (t != KR_INT && t != KR_FLOAT)
                return pb_error(err, msg, key, "must be a number");
            double d = kr_value_as_float(v, 0);
            if (d != 0) {
                uint64_t bits;
                memcpy(&bits, &d, sizeof(bits));
                unsigned char le[8];
                for (int b = 0; b < 8; b++)
                    le[b] = (unsigned char)(bits >> (8 * b));
                pb_key(out, num, WT_I64);
                kr_buf_append(out, le, sizeof(le));
            }
            break;
        }
        case F_STRS:
            if (t != KR_ARRAY)
                return pb_error(err, msg, key, "must be an array of strings");
            for (size_t j = 0; j < kr_value_len(v); j++) {
                const kr_value_t *s = kr_value_array_get(v, j);
                if (kr_value_type(s) != KR_STR)
                    return pb_error(err, msg, key, "must be an array of strings");
                pb_bytes(out, num, kr_value_as_str(s), kr_value_len(s));
            }
            break;
        case F_ANY:
            if (pb_sub(out, num, pb_any, v, err) < 0)
                return -KR_E_INTERNAL;
            break;
        case F_ANYS:
        case F_MSGS:
            if (t != KR_ARRAY)
                return pb_error(err, msg, key, "must be an array");
            for (size_t j = 0; j < kr_value_len(v); j++)
                if (pb_sub(out, num, f->type == F_ANYS ? pb_any : f->fn, kr_value_array_get(v, j),
                           err) < 0)
                    return -KR_E_INTERNAL;
            break;
        case F_MSG:
            if (pb_sub(out, num, f->fn, v, err) < 0)
                return -KR_E_INTERNAL;
            break;
        }
    }
    return 0;
}

static int pb_schema(const kr_value_t *v, kr_buf_t *out, kr_error_t *err);

/* TypeItem {repeated value}: "type" is one name or several. */
static int pb_type_item(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    if (kr_value_type(v) == KR_STR) {
        pb_bytes(out, 1, kr_value_as_str(v), kr_value_len(v));
        return 0;
    }
    for (size_t i = 0; kr_value_type(v) == KR_ARRAY && i < kr_value_len(v); i++) {
        const kr_value_t *t = kr_value_array_get(v, i);
        if (kr_value_type(t) != KR_STR)
            return pb_error(err, "Schema", "type", "must be a string or strings");
        pb_bytes(out, 1, kr_value_as_str(t), kr_value_len(t));
    }
    return kr_value_type(v) == KR_ARRAY ? 0 : pb_error(err, "Schema", "type", "must be a string");
}

/* ItemsItem {repeated schema}: one schema or an array of them. */
static int pb_items_item(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    if (kr_value_type(v) != KR_ARRAY)
        return pb_sub(out, 1, pb_schema, v, err);
    for (size_t i = 0; i < kr_value_len(v); i++)
        if (pb_sub(out, 1, pb_schema, kr_value_array_get(v, i), err) < 0)
            return -KR_E_INTERNAL;
    return 0;
}

/* AdditionalPropertiesItem {oneof schema = 1, boolean = 2}: a oneof, so
 * false is written too. */
static int pb_additional(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    if (kr_value_type(v) == KR_BOOL) {
        pb_key(out, 2, WT_VARINT);
        pb_varint(out, kr_value_as_bool(v, false) ? 1 : 0);
        return 0;
    }
    return pb_sub(out, 1, pb_schema, v, err);
}

static int pb_properties(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_named("Schema.properties", out, 1, 0, v, pb_schema, err);
}

static int pb_external_docs(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"description", 1, F_STR, NULL}, {"url", 2, F_STR, NULL}, {NULL, 0, 0, NULL}};
    return pb_fields("ExternalDocs", f, NULL, 0, 3, v, out, err);
}

static int pb_schema(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"$ref", 1, F_STR, NULL},
        {"format", 2, F_STR, NULL},
        {"title", 3, F_STR, NULL},
        {"description", 4, F_STR, NULL},
        {"default", 5, F_ANY, NULL},
        {"multipleOf", 6, F_DBL, NULL},
        {"maximum", 7, F_DBL, NULL},
        {"exclusiveMaximum", 8, F_BOOL, NULL},
        {"minimum", 9, F_DBL, NULL},
        {"exclusiveMinimum", 10, F_BOOL, NULL},
        {"maxLength", 11, F_INT, NULL},
        {"minLength", 12, F_INT, NULL},
        {"pattern", 13, F_STR, NULL},
        {"maxItems", 14, F_INT, NULL},
        {"minItems", 15, F_INT, NULL},
        {"uniqueItems", 16, F_BOOL, NULL},
        {"maxProperties", 17, F_INT, NULL},
        {"minProperties", 18, F_INT, NULL},
        {"required", 19, F_STRS, NULL},
        {"enum", 20, F_ANYS, NULL},
        {"additionalProperties", 21, F_MSG, pb_additional},
        {"type", 22, F_MSG, pb_type_item},
        {"items", 23, F_MSG, pb_items_item},
        {"allOf", 24, F_MSGS, pb_schema},
        {"properties", 25, F_MSG, pb_properties},
        {"discriminator", 26, F_STR, NULL},
        {"readOnly", 27, F_BOOL, NULL},
        {"externalDocs", 29, F_MSG, pb_external_docs},
        {"example", 30, F_ANY, NULL},
        {NULL, 0, 0, NULL},
    };
    return pb_fields("Schema", f, NULL, 0, 31, v, out, err);
}

static int pb_primitives(const kr_value_t *v, kr_buf_t *out, kr_error_t *err);

/* PrimitivesItems' fields; a parameter has them too, numbered after its
 * own. */
static const field_t primitive_fields[] = {
    {"type", 1, F_STR, NULL},
    {"format", 2, F_STR, NULL},
    {"items", 3, F_MSG, pb_primitives},
    {"collectionFormat", 4, F_STR, NULL},
    {"default", 5, F_ANY, NULL},
    {"maximum", 6, F_DBL, NULL},
    {"exclusiveMaximum", 7, F_BOOL, NULL},
    {"minimum", 8, F_DBL, NULL},
    {"exclusiveMinimum", 9, F_BOOL, NULL},
    {"maxLength", 10, F_INT, NULL},
    {"minLength", 11, F_INT, NULL},
    {"pattern", 12, F_STR, NULL},
    {"maxItems", 13, F_INT, NULL},
    {"minItems", 14, F_INT, NULL},
    {"uniqueItems", 15, F_BOOL, NULL},
    {"enum", 16, F_ANYS, NULL},
    {"multipleOf", 17, F_DBL, NULL},
    {NULL, 0, 0, NULL},
};

static int pb_primitives(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_fields("PrimitivesItems", primitive_fields, NULL, 0, 18, v, out, err);
}

/* QueryParameterSubSchema and FormDataParameterSubSchema. */
static int pb_query_param(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"required", 1, F_BOOL, NULL},        {"in", 2, F_STR, NULL},
        {"description", 3, F_STR, NULL},      {"name", 4, F_STR, NULL},
        {"allowEmptyValue", 5, F_BOOL, NULL}, {NULL, 0, 0, NULL},
    };
    return pb_fields("QueryParameterSubSchema", f, primitive_fields, 5, 23, v, out, err);
}

/* PathParameterSubSchema and HeaderParameterSubSchema. */
static int pb_path_param(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"required", 1, F_BOOL, NULL}, {"in", 2, F_STR, NULL}, {"description", 3, F_STR, NULL},
        {"name", 4, F_STR, NULL},      {NULL, 0, 0, NULL},
    };
    return pb_fields("PathParameterSubSchema", f, primitive_fields, 4, 22, v, out, err);
}

static int pb_body_param(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"description", 1, F_STR, NULL}, {"name", 2, F_STR, NULL},        {"in", 3, F_STR, NULL},
        {"required", 4, F_BOOL, NULL},   {"schema", 5, F_MSG, pb_schema}, {NULL, 0, 0, NULL},
    };
    return pb_fields("BodyParameter", f, NULL, 0, 6, v, out, err);
}

/* NonBodyParameter {oneof header = 1, form_data = 2, query = 3, path = 4}. */
static int pb_non_body_param(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    const char *in = kr_value_map_str(v, "in");
    if (in != NULL && strcmp(in, "header") == 0)
        return pb_sub(out, 1, pb_path_param, v, err);
    if (in != NULL && strcmp(in, "formData") == 0)
        return pb_sub(out, 2, pb_query_param, v, err);
    if (in != NULL && strcmp(in, "query") == 0)
        return pb_sub(out, 3, pb_query_param, v, err);
    if (in != NULL && strcmp(in, "path") == 0)
        return pb_sub(out, 4, pb_path_param, v, err);
    return pb_error(err, "Parameter", "in", "must be body, header, formData, query or path");
}

/* Parameter {oneof body_parameter = 1, non_body_parameter = 2}. */
static int pb_parameter(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    const char *in = kr_value_map_str(v, "in");
    if (in != NULL && strcmp(in, "body") == 0)
        return pb_sub(out, 1, pb_body_param, v, err);
    return pb_sub(out, 2, pb_non_body_param, v, err);
}

static int pb_json_reference(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"$ref", 1, F_STR, NULL}, {"description", 2, F_STR, NULL}, {NULL, 0, 0, NULL}};
    return pb_fields("JsonReference", f, NULL, 0, 0, v, out, err);
}

/* ParametersItem {oneof parameter = 1, json_reference = 2}. */
static int pb_parameters_item(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    if (kr_value_map_get(v, "$ref") != NULL)
        return pb_sub(out, 2, pb_json_reference, v, err);
    return pb_sub(out, 1, pb_parameter, v, err);
}

/* SchemaItem {oneof schema = 1, file_schema = 2}. */
static int pb_schema_item(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_sub(out, 1, pb_schema, v, err);
}

static int pb_response(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"description", 1, F_STR, NULL}, {"schema", 2, F_MSG, pb_schema_item}, {NULL, 0, 0, NULL}};
    return pb_fields("Response", f, NULL, 0, 5, v, out, err);
}

/* ResponseValue {oneof response = 1, json_reference = 2}. */
static int pb_response_value(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    if (kr_value_map_get(v, "$ref") != NULL)
        return pb_sub(out, 2, pb_json_reference, v, err);
    return pb_sub(out, 1, pb_response, v, err);
}

/* Responses {repeated NamedResponseValue response_code = 1, vendor = 2}. */
static int pb_responses(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_named("Operation.responses", out, 1, 2, v, pb_response_value, err);
}

/* StringArray {repeated value}. */
static int pb_string_array(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    for (size_t i = 0; i < kr_value_len(v); i++) {
        const kr_value_t *s = kr_value_array_get(v, i);
        if (kr_value_type(s) != KR_STR)
            return pb_error(err, "SecurityRequirement", "scopes", "must be strings");
        pb_bytes(out, 1, kr_value_as_str(s), kr_value_len(s));
    }
    return 0;
}

/* SecurityRequirement {repeated NamedStringArray = 1}. */
static int pb_security_req(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_named("SecurityRequirement", out, 1, 0, v, pb_string_array, err);
}

static int pb_operation(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"tags", 1, F_STRS, NULL},
        {"summary", 2, F_STR, NULL},
        {"description", 3, F_STR, NULL},
        {"externalDocs", 4, F_MSG, pb_external_docs},
        {"operationId", 5, F_STR, NULL},
        {"produces", 6, F_STRS, NULL},
        {"consumes", 7, F_STRS, NULL},
        {"parameters", 8, F_MSGS, pb_parameters_item},
        {"responses", 9, F_MSG, pb_responses},
        {"schemes", 10, F_STRS, NULL},
        {"deprecated", 11, F_BOOL, NULL},
        {"security", 12, F_MSGS, pb_security_req},
        {NULL, 0, 0, NULL},
    };
    return pb_fields("Operation", f, NULL, 0, 13, v, out, err);
}

static int pb_path_item(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"$ref", 1, F_STR, NULL},
        {"get", 2, F_MSG, pb_operation},
        {"put", 3, F_MSG, pb_operation},
        {"post", 4, F_MSG, pb_operation},
        {"delete", 5, F_MSG, pb_operation},
        {"options", 6, F_MSG, pb_operation},
        {"head", 7, F_MSG, pb_operation},
        {"patch", 8, F_MSG, pb_operation},
        {"parameters", 9, F_MSGS, pb_parameters_item},
        {NULL, 0, 0, NULL},
    };
    return pb_fields("PathItem", f, NULL, 0, 10, v, out, err);
}

/* Paths {repeated NamedAny vendor_extension = 1, repeated NamedPathItem = 2}. */
static int pb_paths(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_named("Document.paths", out, 2, 1, v, pb_path_item, err);
}

static int pb_definitions(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_named("Document.definitions", out, 1, 0, v, pb_schema, err);
}

static int pb_parameter_defs(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_named("Document.parameters", out, 1, 0, v, pb_parameter, err);
}

static int pb_response_defs(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_named("Document.responses", out, 1, 0, v, pb_response, err);
}

/* SecurityDefinitionsItem {oneof basic = 1, api_key = 2, oauth2 ... }. */
static int pb_security_def(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t basic[] = {
        {"type", 1, F_STR, NULL}, {"description", 2, F_STR, NULL}, {NULL, 0, 0, NULL}};
    static const field_t api_key[] = {{"type", 1, F_STR, NULL},
                                      {"name", 2, F_STR, NULL},
                                      {"in", 3, F_STR, NULL},
                                      {"description", 4, F_STR, NULL},
                                      {NULL, 0, 0, NULL}};
    const char *type = kr_value_map_str(v, "type");
    kr_buf_t tmp = KR_BUF_INIT;
    int rc;
    unsigned field;
    if (type != NULL && strcmp(type, "basic") == 0) {
        rc = pb_fields("BasicAuthenticationSecurity", basic, NULL, 0, 3, v, &tmp, err);
        field = 1;
    } else if (type != NULL && strcmp(type, "apiKey") == 0) {
        rc = pb_fields("ApiKeySecurity", api_key, NULL, 0, 5, v, &tmp, err);
        field = 2;
    } else {
        rc = pb_error(err, "SecurityDefinitionsItem", "type", "must be basic or apiKey");
        field = 0;
    }
    if (rc == 0)
        pb_bytes(out, field, tmp.data, tmp.len);
    kr_buf_free(&tmp);
    return rc;
}

static int pb_security_defs(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    return pb_named("Document.securityDefinitions", out, 1, 0, v, pb_security_def, err);
}

static int pb_info(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {{"title", 1, F_STR, NULL},
                                {"version", 2, F_STR, NULL},
                                {"description", 3, F_STR, NULL},
                                {"termsOfService", 4, F_STR, NULL},
                                {NULL, 0, 0, NULL}};
    return pb_fields("Info", f, NULL, 0, 7, v, out, err);
}

static int pb_tag(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {{"name", 1, F_STR, NULL},
                                {"description", 2, F_STR, NULL},
                                {"externalDocs", 3, F_MSG, pb_external_docs},
                                {NULL, 0, 0, NULL}};
    return pb_fields("Tag", f, NULL, 0, 4, v, out, err);
}

int kr_openapi_v2_protobuf(const kr_value_t *doc, kr_buf_t *out, kr_error_t *err)
{
    static const field_t f[] = {
        {"swagger", 1, F_STR, NULL},
        {"info", 2, F_MSG, pb_info},
        {"host", 3, F_STR, NULL},
        {"basePath", 4, F_STR, NULL},
        {"schemes", 5, F_STRS, NULL},
        {"consumes", 6, F_STRS, NULL},
        {"produces", 7, F_STRS, NULL},
        {"paths", 8, F_MSG, pb_paths},
        {"definitions", 9, F_MSG, pb_definitions},
        {"parameters", 10, F_MSG, pb_parameter_defs},
        {"responses", 11, F_MSG, pb_response_defs},
        {"security", 12, F_MSGS, pb_security_req},
        {"securityDefinitions", 13, F_MSG, pb_security_defs},
        {"tags", 14, F_MSGS, pb_tag},
        {"externalDocs", 15, F_MSG, pb_external_docs},
        {NULL, 0, 0, NULL},
    };
    if (out == NULL)
        return kr_error_set(err, KR_E_INTERNAL, "openapi v2: no output buffer");
    return pb_fields("Document", f, NULL, 0, 16, doc, out, err) < 0 ? -KR_E_INTERNAL : 0;
}
