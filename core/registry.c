/* The resource registry: kinds by resource, by kind and by the names
 * kubectl types, hashed; kinds added from a descriptor (a CRD's names +
 * version) are checked first. */
#include "registry_internal.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "xalloc.h"

/* ---- a string-keyed hash table of kinds ------------------------------- */

typedef struct slot {
    const char *key; /* not NUL-terminated; lives in the registry's arena */
    size_t len;
    uint64_t hash;
    const kr_kind_t *kind;
} slot_t;

typedef struct table {
    slot_t *slots; /* open addressing, linear probing; cap is a power of 2 */
    size_t cap;
    size_t count;
} table_t;

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static slot_t *table_slot(const table_t *t, const char *key, size_t len, uint64_t h)
{
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        slot_t *s = &t->slots[i];
        if (s->key == NULL || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

static const kr_kind_t *table_get(const table_t *t, const char *key, size_t len)
{
    if (t->cap == 0)
        return NULL;
    return table_slot(t, key, len, hash_bytes(key, len))->kind;
}

/* Adds key -> kind unless the key is there; the key must outlive t. */
static void table_put(table_t *t, const char *key, size_t len, const kr_kind_t *kind)
{
    if ((t->count + 1) * 2 > t->cap) {
        table_t bigger = {xcalloc(t->cap ? t->cap * 2 : 64, sizeof(slot_t)),
                          t->cap ? t->cap * 2 : 64, t->count};
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].key != NULL)
                *table_slot(&bigger, t->slots[i].key, t->slots[i].len, t->slots[i].hash) =
                    t->slots[i];
        free(t->slots);
        *t = bigger;
    }
    uint64_t h = hash_bytes(key, len);
    slot_t *s = table_slot(t, key, len, h);
    if (s->key != NULL)
        return;
    *s = (slot_t){key, len, h, kind};
    t->count++;
}

/* ---- the registry ----------------------------------------------------- */

struct kr_registry {
    kr_arena_t *arena;
    const kr_kind_t **kinds; /* registration order */
    size_t count, cap;
    table_t by_res;      /* "apps/v1/deployments" */
    table_t by_kind;     /* "apps/v1" NUL "Deployment" */
    table_t group_kinds; /* "apps" NUL "Deployment": one version a kind */
    table_t by_name;     /* "apps" NUL "deploy": plural, singular, short names */
    table_t any_name;    /* "deploy": the first kind in any group */
};

/* A key "a" NUL "b" in the registry's arena, b lower-cased if asked. */
static char *key2(kr_registry_t *reg, const char *a, const char *b, bool lower, size_t *len)
{
    size_t la = strlen(a), lb = strlen(b);
    char *k = kr_arena_alloc(reg->arena, la + lb + 2);
    memcpy(k, a, la);
    k[la] = '\0';
    for (size_t i = 0; i < lb; i++)
        k[la + 1 + i] = lower ? (char)tolower((unsigned char)b[i]) : b[i];
    k[la + 1 + lb] = '\0';
    *len = la + 1 + lb;
    return k;
}

/* The same key in a caller's buffer; false when it does not fit. */
static bool key2_buf(char *buf, size_t size, const char *a, const char *b, bool lower, size_t *len)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 2 > size)
        return false;
    memcpy(buf, a, la);
    buf[la] = '\0';
    for (size_t i = 0; i < lb; i++)
        buf[la + 1 + i] = lower ? (char)tolower((unsigned char)b[i]) : b[i];
    *len = la + 1 + lb;
    return true;
}

static const char *group_words(const char *group, char *buf, size_t size)
{
    if (group[0] == '\0')
        return "the core group";
    /* bounded: a group name is at most 253 characters anyway */
    snprintf(buf, size, "group \"%.*s\"", (int)(size > 16 ? size - 16 : 0), group);
    return buf;
}

/* Every name kubectl may type for a kind: plural, singular, short names
 * (and the kind itself, lower-cased, when nothing else has it). */
#define NAMES_MAX 64
static size_t kind_names(const kr_kind_t *k, const char **names, const char **what)
{
    size_t n = 0;
    names[n] = k->plural;
    what[n++] = "resource";
    if (k->singular != NULL && k->singular[0] != '\0') {
        names[n] = k->singular;
        what[n++] = "singular name";
    }
    /* One slot stays free for the kind's own name. */
    for (size_t i = 0; k->short_names[i] != NULL && n < NAMES_MAX - 1; i++) {
        names[n] = k->short_names[i];
        what[n++] = "short name";
    }
    return n;
}

/* KR_E_ALREADY_EXISTS when the kind, its plural or one of its names is
 * taken in its group. */
static int registry_check(const kr_registry_t *reg, const kr_kind_t *kind, kr_error_t *err)
{
    char buf[512], gw[300];
    size_t len;
    if (!key2_buf(buf, sizeof(buf), kind->group, kind->kind, false, &len))
        return kr_error_set(err, KR_E_INVALID, "kind \"%.100s\": name too long", kind->kind);
    if (table_get(&reg->group_kinds, buf, len) != NULL)
        return kr_error_set(err, KR_E_ALREADY_EXISTS, "kind \"%s\" in %s is already registered",
                            kind->kind, group_words(kind->group, gw, sizeof(gw)));
    const char *names[NAMES_MAX], *what[NAMES_MAX];
    size_t n = kind_names(kind, names, what);
    for (size_t i = 0; i < n; i++) {
        if (!key2_buf(buf, sizeof(buf), kind->group, names[i], true, &len))
            return kr_error_set(err, KR_E_INVALID, "%s \"%.100s\": too long", what[i], names[i]);
        const kr_kind_t *other = table_get(&reg->by_name, buf, len);
        if (other == NULL)
            continue;
        if (i == 0 && strcasecmp(other->plural, names[i]) == 0)
            return kr_error_set(err, KR_E_ALREADY_EXISTS,
                                "resource \"%s\" in %s is already registered", names[i],
                                group_words(kind->group, gw, sizeof(gw)));
        return kr_error_set(err, KR_E_ALREADY_EXISTS,
                            "%s \"%s\" in %s is already used by resource \"%s\"", what[i], names[i],
                            group_words(kind->group, gw, sizeof(gw)), other->plural);
    }
    if (table_get(&reg->by_res, kind->res, strlen(kind->res)) != NULL)
        return kr_error_set(err, KR_E_ALREADY_EXISTS, "resource \"%s\" is already registered",
                            kind->res);
    return 0;
}

static void registry_put(kr_registry_t *reg, const kr_kind_t *kind)
{
    /* the kind was made for this registry (its arena): it may hold state */
    ((kr_kind_t *)kind)->memo = kr_schema_memo_new();
    const char *names[NAMES_MAX], *what[NAMES_MAX];
    size_t n = kind_names(kind, names, what);
    size_t len;
    if (reg->count == reg->cap) {
        reg->cap = reg->cap ? reg->cap * 2 : 32;
        reg->kinds = xrealloc(reg->kinds, reg->cap * sizeof(*reg->kinds));
    }
    reg->kinds[reg->count++] = kind;
    table_put(&reg->by_res, kind->res, strlen(kind->res), kind);
    char *k = key2(reg, kind->api_version, kind->kind, false, &len);
    table_put(&reg->by_kind, k, len, kind);
    k = key2(reg, kind->group, kind->kind, false, &len);
    table_put(&reg->group_kinds, k, len, kind);
    names[n++] = kind->kind; /* lower-cased below; only where free */
    for (size_t i = 0; i < n; i++) {
        k = key2(reg, kind->group, names[i], true, &len);
        table_put(&reg->by_name, k, len, kind);
        size_t glen = strlen(kind->group) + 1;
        table_put(&reg->any_name, k + glen, len - glen, kind);
    }
}

int kr_registry_insert(kr_registry_t *reg, const kr_kind_t *kind, kr_error_t *err)
{
    int rc = registry_check(reg, kind, err);
    if (rc < 0)
        return rc;
    registry_put(reg, kind);
    return 0;
}

kr_arena_t *kr_registry_arena(kr_registry_t *reg)
{
    return reg->arena;
}

kr_registry_t *kr_registry_new(kr_error_t *err)
{
    kr_registry_t *reg = xcalloc(1, sizeof(*reg));
    reg->arena = kr_arena_new(64 * 1024);
    if (kr_builtin_kinds_add(reg, err) < 0) {
        kr_registry_destroy(&reg);
        return NULL;
    }
    return reg;
}

void kr_registry_destroy(kr_registry_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_registry_t *reg = *self_p;
    for (size_t i = 0; i < reg->count; i++)
        kr_schema_memo_destroy(&((kr_kind_t *)reg->kinds[i])->memo);
    free(reg->by_res.slots);
    free(reg->by_kind.slots);
    free(reg->group_kinds.slots);
    free(reg->by_name.slots);
    free(reg->any_name.slots);
    free(reg->kinds);
    kr_arena_destroy(&reg->arena);
    free(reg);
    *self_p = NULL;
}

const kr_kind_t *kr_registry_by_res(const kr_registry_t *reg, const char *res, size_t len)
{
    if (reg == NULL || res == NULL)
        return NULL;
    return table_get(&reg->by_res, res, len);
}

const kr_kind_t *kr_registry_by_kind(const kr_registry_t *reg, const char *api_version,
                                     const char *kind)
{
    char buf[512];
    size_t len;
    if (reg == NULL || api_version == NULL || kind == NULL ||
        !key2_buf(buf, sizeof(buf), api_version, kind, false, &len))
        return NULL;
    return table_get(&reg->by_kind, buf, len);
}

const kr_kind_t *kr_registry_find(const kr_registry_t *reg, const char *group, const char *name)
{
    char buf[512];
    size_t len;
    if (reg == NULL || name == NULL ||
        !key2_buf(buf, sizeof(buf), group ? group : "", name, true, &len))
        return NULL;
    if (group != NULL)
        return table_get(&reg->by_name, buf, len);
    return table_get(&reg->any_name, buf + 1, len - 1);
}

size_t kr_registry_count(const kr_registry_t *reg)
{
    return reg ? reg->count : 0;
}

const kr_kind_t *kr_registry_at(const kr_registry_t *reg, size_t i)
{
    return reg && i < reg->count ? reg->kinds[i] : NULL;
}

/* ---- descriptors ------------------------------------------------------ */

static const char *const no_strings[] = {NULL};

static const char *camel_case_error(const char *s)
{
    if (s[0] < 'A' || s[0] > 'Z')
        goto bad;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p))
            goto bad;
    if (strlen(s) > 63)
        return "must be no more than 63 characters";
    return NULL;
bad:
    return "must be CamelCase: an upper-case letter followed by letters and digits "
           "(e.g. 'MyKind')";
}

/* A string field: required or not, checked by `rule` (may be NULL). */
static const char *desc_string(kr_validation_t *v, const kr_value_t *desc, const char *field,
                               bool required, const char *(*rule)(const char *))
{
    const kr_value_t *val = kr_value_map_get(desc, field);
    if (val == NULL || kr_value_type(val) == KR_NULL ||
        (kr_value_type(val) == KR_STR && kr_value_len(val) == 0)) {
        if (required)
            kr_field_required(v, field, NULL);
        return NULL;
    }
    const char *s = kr_value_as_str(val);
    if (s == NULL) {
        kr_field_error(v, KR_FIELD_TYPE_INVALID, field, val, "must be a string");
        return NULL;
    }
    const char *msg = rule ? rule(s) : NULL;
    if (msg != NULL) {
        kr_field_invalid(v, field, val, msg);
        return NULL;
    }
    return s;
}

/* A list of names (shortNames, categories), each a DNS-1123 label. */
static const char *const *desc_names(kr_validation_t *v, kr_arena_t *arena, const kr_value_t *desc,
                                     const char *field)
{
    const kr_value_t *arr = kr_value_map_get(desc, field);
    if (arr == NULL || kr_value_type(arr) == KR_NULL)
        return no_strings;
    if (kr_value_type(arr) != KR_ARRAY) {
        kr_field_error(v, KR_FIELD_TYPE_INVALID, field, arr, "must be an array of strings");
        return no_strings;
    }
    size_t n = kr_value_len(arr);
    if (n > NAMES_MAX / 2) {
        kr_field_error(v, KR_FIELD_TOO_MANY, field, kr_value_int(v->arena, (int64_t)n),
                       "must have at most %d items", NAMES_MAX / 2);
        return no_strings;
    }
    const char **out = kr_arena_alloc(arena, (n + 1) * sizeof(*out));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *item = kr_value_array_get(arr, i);
        char *path = kr_arena_printf(v->arena, "%s[%zu]", field, i);
        const char *s = kr_value_as_str(item);
        const char *msg = s ? kr_dns1123_label_error(s) : "must be a string";
        if (msg != NULL) {
            kr_field_invalid(v, path, item, msg);
            continue;
        }
        for (size_t j = 0; j < m; j++)
            if (strcmp(out[j], s) == 0)
                kr_field_duplicate(v, path, item);
        out[m++] = kr_arena_strdup(arena, s);
    }
    out[m] = NULL;
    return out;
}

/* A field path written as a CRD's JSONPath (".spec.replicas") or as a
 * kr_value path ("spec.replicas"); returns the latter, or NULL. */
static const char *desc_path(kr_validation_t *v, kr_arena_t *arena, const kr_value_t *val,
                             const char *field, const char *const *roots)
{
    const char *s = kr_value_as_str(val);
    if (s == NULL) {
        kr_field_error(v, KR_FIELD_TYPE_INVALID, field, val, "must be a string");
        return NULL;
    }
    const char *p = s[0] == '.' ? s + 1 : s;
    bool ok = p[0] != '\0' && p[0] != '[' && strstr(p, "..") == NULL && p[strlen(p) - 1] != '.';
    if (ok && roots != NULL) {
        ok = false;
        for (size_t i = 0; roots[i] != NULL; i++) {
            size_t n = strlen(roots[i]);
            ok |= strncmp(p, roots[i], n) == 0 && (p[n] == '.' || p[n] == '[');
        }
    }
    if (!ok) {
        kr_field_invalid(v, field, val,
                         roots && roots[1] ? "should be a JSON path under .spec or .status"
                         : roots           ? "should be a JSON path under .spec"
                                           : "should be a JSON path such as .spec.color");
        return NULL;
    }
    return kr_arena_strdup(arena, p);
}

static const char *const spec_root[] = {"spec", NULL};
static const char *const status_root[] = {"status", NULL};
static const char *const spec_status_roots[] = {"spec", "status", NULL};

static void desc_subresources(kr_validation_t *v, kr_arena_t *arena, const kr_value_t *sub,
                              kr_kind_t *k)
{
    if (sub == NULL || kr_value_type(sub) == KR_NULL)
        return;
    if (kr_value_type(sub) != KR_MAP) {
        kr_field_error(v, KR_FIELD_TYPE_INVALID, "subresources", sub, "must be an object");
        return;
    }
    static const struct {
        const char *name;
        unsigned flag;
    } known[] = {{"status", KR_SUB_STATUS}, {"scale", KR_SUB_SCALE}, {"binding", KR_SUB_BINDING}};
    for (size_t i = 0; i < kr_value_len(sub); i++) {
        const char *name = kr_value_map_key(sub, i);
        const kr_value_t *val = kr_value_map_val(sub, i);
        char *path = kr_arena_printf(v->arena, "subresources.%s", name);
        unsigned flag = 0;
        for (size_t j = 0; j < sizeof(known) / sizeof(known[0]); j++)
            if (strcmp(name, known[j].name) == 0)
                flag = known[j].flag;
        if (flag == 0) {
            const char *valid[] = {"status", "scale", NULL};
            kr_field_not_supported(v, path, kr_value_str(v->arena, name), valid);
            continue;
        }
        if (kr_value_type(val) != KR_MAP) {
            kr_field_error(v, KR_FIELD_TYPE_INVALID, path, val, "must be an object");
            continue;
        }
        k->subresources |= flag;
    }
    const kr_value_t *scale = kr_value_map_get(sub, "scale");
    if (!(k->subresources & KR_SUB_SCALE))
        return;
    const kr_value_t *spec = kr_value_map_get(scale, "specReplicasPath");
    const kr_value_t *status = kr_value_map_get(scale, "statusReplicasPath");
    const kr_value_t *sel = kr_value_map_get(scale, "labelSelectorPath");
    if (spec == NULL)
        kr_field_required(v, "subresources.scale.specReplicasPath", NULL);
    else
        k->scale_spec_replicas =
            desc_path(v, arena, spec, "subresources.scale.specReplicasPath", spec_root);
    if (status == NULL)
        kr_field_required(v, "subresources.scale.statusReplicasPath", NULL);
    else
        k->scale_status_replicas =
            desc_path(v, arena, status, "subresources.scale.statusReplicasPath", status_root);
    if (sel != NULL && kr_value_type(sel) != KR_NULL)
        k->scale_label_selector =
            desc_path(v, arena, sel, "subresources.scale.labelSelectorPath", spec_status_roots);
}

static const char *const *desc_selectable(kr_validation_t *v, kr_arena_t *arena,
                                          const kr_value_t *arr)
{
    if (arr == NULL || kr_value_type(arr) == KR_NULL)
        return no_strings;
    if (kr_value_type(arr) != KR_ARRAY) {
        kr_field_error(v, KR_FIELD_TYPE_INVALID, "selectableFields", arr, "must be an array");
        return no_strings;
    }
    size_t n = kr_value_len(arr);
    const char **out = kr_arena_alloc(arena, (n + 1) * sizeof(*out));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *item = kr_value_array_get(arr, i);
        char *path = kr_arena_printf(v->arena, "selectableFields[%zu]", i);
        /* A CRD writes {jsonPath: .spec.color}; a plain path is accepted. */
        if (kr_value_type(item) == KR_MAP) {
            item = kr_value_map_get(item, "jsonPath");
            path = kr_arena_printf(v->arena, "%s.jsonPath", path);
        }
        const char *p = desc_path(v, arena, item, path, NULL);
        if (p == NULL)
            continue;
        bool dup = strcmp(p, "metadata.name") == 0 || strcmp(p, "metadata.namespace") == 0;
        for (size_t j = 0; j < m; j++)
            dup |= strcmp(out[j], p) == 0;
        if (dup)
            kr_field_duplicate(v, path, item);
        else
            out[m++] = p;
    }
    out[m] = NULL;
    return out;
}

static const kr_value_t *desc_columns(kr_validation_t *v, kr_arena_t *arena, const kr_value_t *arr)
{
    if (arr == NULL || kr_value_type(arr) == KR_NULL)
        return kr_value_array(arena);
    if (kr_value_type(arr) != KR_ARRAY) {
        kr_field_error(v, KR_FIELD_TYPE_INVALID, "additionalPrinterColumns", arr,
                       "must be an array");
        return NULL;
    }
    static const char *const types[] = {"integer", "number", "string", "boolean", "date", NULL};
    for (size_t i = 0; i < kr_value_len(arr); i++) {
        const kr_value_t *col = kr_value_array_get(arr, i);
        char *path = kr_arena_printf(v->arena, "additionalPrinterColumns[%zu]", i);
        if (kr_value_type(col) != KR_MAP) {
            kr_field_error(v, KR_FIELD_TYPE_INVALID, path, col, "must be an object");
            continue;
        }
        if (kr_value_map_str(col, "name") == NULL)
            kr_field_required(v, kr_arena_printf(v->arena, "%s.name", path), NULL);
        const kr_value_t *type = kr_value_map_get(col, "type");
        bool type_ok = false;
        for (size_t j = 0; types[j] != NULL && kr_value_as_str(type) != NULL; j++)
            type_ok |= strcmp(kr_value_as_str(type), types[j]) == 0;
        if (type == NULL)
            kr_field_required(v, kr_arena_printf(v->arena, "%s.type", path), NULL);
        else if (!type_ok)
            kr_field_not_supported(v, kr_arena_printf(v->arena, "%s.type", path), type, types);
        const char *jp = kr_value_map_str(col, "jsonPath");
        if (jp == NULL)
            kr_field_required(v, kr_arena_printf(v->arena, "%s.jsonPath", path), NULL);
        else if (jp[0] != '.')
            kr_field_invalid(v, kr_arena_printf(v->arena, "%s.jsonPath", path),
                             kr_value_map_get(col, "jsonPath"),
                             "must be a simple json path starting with .");
        const kr_value_t *prio = kr_value_map_get(col, "priority");
        if (prio != NULL && (kr_value_type(prio) != KR_INT || kr_value_as_int(prio, 0) < 0))
            kr_field_invalid(v, kr_arena_printf(v->arena, "%s.priority", path), prio,
                             "must be a non-negative integer");
    }
    return kr_value_copy(arena, arr);
}

static const kr_value_t *desc_schema(kr_validation_t *v, kr_arena_t *arena, const kr_value_t *sch)
{
    if (sch == NULL || kr_value_type(sch) == KR_NULL)
        return NULL;
    const kr_value_t *root = kr_value_map_get(sch, "openAPIV3Schema");
    if (kr_value_type(sch) != KR_MAP || kr_value_type(root) != KR_MAP) {
        kr_field_required(v, "schema.openAPIV3Schema", "must be an object");
        return NULL;
    }
    const char *type = kr_value_map_str(root, "type");
    if (type == NULL || strcmp(type, "object") != 0) {
        const char *valid[] = {"object", NULL};
        kr_field_not_supported(v, "schema.openAPIV3Schema.type", kr_value_map_get(root, "type"),
                               valid);
        return NULL;
    }
    return kr_value_copy(arena, root);
}

static char *lower_dup(kr_arena_t *arena, const char *s)
{
    char *out = kr_arena_strdup(arena, s);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

static const char *const *strings_clone(kr_arena_t *arena, const char *const *list)
{
    size_t n = 0;
    while (list[n] != NULL)
        n++;
    const char **out = kr_arena_alloc(arena, (n + 1) * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = kr_arena_strdup(arena, list[i]);
    out[n] = NULL;
    return out;
}

static const char *str_clone(kr_arena_t *arena, const char *s)
{
    return s != NULL ? kr_arena_strdup(arena, s) : NULL;
}

/* A deep copy of a kind into `arena`. */
static kr_kind_t *kind_clone(kr_arena_t *arena, const kr_kind_t *k)
{
    kr_kind_t *c = kr_arena_alloc(arena, sizeof(*c));
    *c = *k;
    c->group = str_clone(arena, k->group);
    c->version = str_clone(arena, k->version);
    c->api_version = str_clone(arena, k->api_version);
    c->kind = str_clone(arena, k->kind);
    c->list_kind = str_clone(arena, k->list_kind);
    c->plural = str_clone(arena, k->plural);
    c->singular = str_clone(arena, k->singular);
    c->res = str_clone(arena, k->res);
    c->store_prefix = str_clone(arena, k->store_prefix);
    c->short_names = strings_clone(arena, k->short_names);
    c->categories = strings_clone(arena, k->categories);
    c->scale_spec_replicas = str_clone(arena, k->scale_spec_replicas);
    c->scale_status_replicas = str_clone(arena, k->scale_status_replicas);
    c->scale_label_selector = str_clone(arena, k->scale_label_selector);
    c->field_selectors = strings_clone(arena, k->field_selectors);
    c->printer_columns = kr_value_copy(arena, k->printer_columns);
    c->schema = k->schema != NULL ? kr_value_copy(arena, k->schema) : NULL;
    return c;
}

const kr_kind_t *kr_registry_add(kr_registry_t *reg, const kr_value_t *desc, kr_error_t *err)
{
    if (reg == NULL || kr_value_type(desc) != KR_MAP) {
        kr_error_set(err, KR_E_BAD_REQUEST, "a kind descriptor must be an object");
        return NULL;
    }
    /* The kind is built and checked in a scratch arena; only a kind that
     * registers is copied into the registry's. */
    kr_arena_t *tmp = kr_arena_new(0);
    kr_validation_t v;
    kr_validation_init(&v, tmp);

    kr_kind_t *k = kr_arena_alloc(tmp, sizeof(*k));
    memset(k, 0, sizeof(*k));
    const char *group = desc_string(&v, desc, "group", true, kr_dns1123_subdomain_error);
    const char *version = desc_string(&v, desc, "version", true, kr_dns1035_label_error);
    const char *kind = desc_string(&v, desc, "kind", true, camel_case_error);
    const char *list_kind = desc_string(&v, desc, "listKind", false, camel_case_error);
    const char *plural = desc_string(&v, desc, "plural", true, kr_dns1123_label_error);
    const char *singular = desc_string(&v, desc, "singular", false, kr_dns1123_label_error);
    k->short_names = desc_names(&v, tmp, desc, "shortNames");
    k->categories = desc_names(&v, tmp, desc, "categories");
    const kr_value_t *ns = kr_value_map_get(desc, "namespaced");
    if (ns == NULL)
        kr_field_required(&v, "namespaced", NULL);
    else if (kr_value_type(ns) != KR_BOOL)
        kr_field_error(&v, KR_FIELD_TYPE_INVALID, "namespaced", ns, "must be a boolean");
    k->namespaced = kr_value_as_bool(ns, false);
    desc_subresources(&v, tmp, kr_value_map_get(desc, "subresources"), k);
    k->field_selectors = desc_selectable(&v, tmp, kr_value_map_get(desc, "selectableFields"));
    k->printer_columns = desc_columns(&v, tmp, kr_value_map_get(desc, "additionalPrinterColumns"));
    k->schema = desc_schema(&v, tmp, kr_value_map_get(desc, "schema"));
    if (kind != NULL && list_kind != NULL && strcmp(kind, list_kind) == 0)
        kr_field_invalid(&v, "listKind", kr_value_map_get(desc, "listKind"),
                         "kind and listKind may not be the same");
    if (!kr_validation_ok(&v)) {
        /* Named as written, even when the names are what is wrong. */
        const char *wp = kr_value_map_str(desc, "plural"), *wg = kr_value_map_str(desc, "group");
        const char *name = kr_arena_printf(tmp, "%s.%s", wp ? wp : "", wg ? wg : "");
        kr_validation_error(&v, "", "Kind", name, err);
        kr_arena_destroy(&tmp);
        return NULL;
    }

    k->group = group;
    k->version = version;
    k->api_version = kr_arena_printf(tmp, "%s/%s", group, version);
    k->kind = kind;
    k->list_kind = list_kind ? list_kind : kr_arena_printf(tmp, "%sList", kind);
    k->plural = plural;
    k->singular = singular ? singular : lower_dup(tmp, kind);
    k->res = kr_arena_printf(tmp, "%s/%s", k->api_version, plural);
    k->store_prefix = kr_arena_printf(tmp, "%s/%s/", group, plural);
    k->builtin = false;
    const kr_kind_t *added = NULL;
    if (registry_check(reg, k, err) == 0) {
        added = kind_clone(reg->arena, k);
        registry_put(reg, added);
    }
    kr_arena_destroy(&tmp);
    return added;
}

static kr_value_t *strings_value(kr_arena_t *arena, const char *const *list)
{
    kr_value_t *arr = kr_value_array(arena);
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        kr_value_array_push(arena, arr, kr_value_str(arena, list[i]));
    return arr;
}

kr_value_t *kr_kind_to_value(kr_arena_t *arena, const kr_kind_t *k)
{
    if (arena == NULL || k == NULL)
        return NULL;
    kr_value_t *m = kr_value_map(arena);
    kr_value_map_set(arena, m, "group", kr_value_str(arena, k->group));
    kr_value_map_set(arena, m, "version", kr_value_str(arena, k->version));
    kr_value_map_set(arena, m, "kind", kr_value_str(arena, k->kind));
    kr_value_map_set(arena, m, "listKind", kr_value_str(arena, k->list_kind));
    kr_value_map_set(arena, m, "plural", kr_value_str(arena, k->plural));
    kr_value_map_set(arena, m, "singular", kr_value_str(arena, k->singular));
    kr_value_map_set(arena, m, "shortNames", strings_value(arena, k->short_names));
    kr_value_map_set(arena, m, "categories", strings_value(arena, k->categories));
    kr_value_map_set(arena, m, "namespaced", kr_value_bool(arena, k->namespaced));
    if (k->subresources != 0) {
        kr_value_t *sub = kr_value_map(arena);
        if (k->subresources & KR_SUB_STATUS)
            kr_value_map_set(arena, sub, "status", kr_value_map(arena));
        if (k->subresources & KR_SUB_SCALE) {
            kr_value_t *scale = kr_value_map(arena);
            kr_value_map_set(
                arena, scale, "specReplicasPath",
                kr_value_str(arena, kr_arena_printf(arena, ".%s", k->scale_spec_replicas)));
            kr_value_map_set(
                arena, scale, "statusReplicasPath",
                kr_value_str(arena, kr_arena_printf(arena, ".%s", k->scale_status_replicas)));
            if (k->scale_label_selector != NULL)
                kr_value_map_set(
                    arena, scale, "labelSelectorPath",
                    kr_value_str(arena, kr_arena_printf(arena, ".%s", k->scale_label_selector)));
            kr_value_map_set(arena, sub, "scale", scale);
        }
        if (k->subresources & KR_SUB_BINDING)
            kr_value_map_set(arena, sub, "binding", kr_value_map(arena));
        kr_value_map_set(arena, m, "subresources", sub);
    }
    kr_value_map_set(arena, m, "selectableFields", strings_value(arena, k->field_selectors));
    kr_value_map_set(arena, m, "additionalPrinterColumns",
                     k->printer_columns ? kr_value_copy(arena, k->printer_columns)
                                        : kr_value_array(arena));
    if (k->schema != NULL) {
        kr_value_t *sch = kr_value_map(arena);
        kr_value_map_set(arena, sch, "openAPIV3Schema", kr_value_copy(arena, k->schema));
        kr_value_map_set(arena, m, "schema", sch);
    }
    return m;
}
