/* OpenAPI v3 schemas of kinds: the embedded built-in document, type checks
 * in the words of a CRD's structural schema, `default`s, lookups by path
 * and list merge keys. */
#include "registry_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <kraal/base64.h>
#include <kraal/log.h>

#include "xalloc.h"

/* core/schemas/builtin.json, embedded by core/schemas/embed.cmake. */
extern const unsigned char kr_builtin_schemas_json[];
extern const size_t kr_builtin_schemas_json_len;

#define REF_V3 "#/components/schemas/"
#define REF_V2 "#/definitions/"
/* A chain of $ref/allOf longer than this is a loop. */
#define RESOLVE_MAX 32

/* ---- the built-in document ------------------------------------------- */

static struct {
    pthread_once_t once;
    kr_arena_t *arena; /* lives as long as the process */
    const kr_value_t *doc;
    const kr_value_t *schemas; /* components.schemas */
    const kr_value_t *kinds;   /* "apps/v1/Deployment" -> component name */
} g_builtin = {.once = PTHREAD_ONCE_INIT};

static void builtin_parse(void)
{
    kr_arena_t *arena = kr_arena_new(1u << 20);
    kr_value_t *doc = NULL;
    kr_error_t err;
    if (kr_json_decode(arena, (const char *)kr_builtin_schemas_json, kr_builtin_schemas_json_len,
                       &doc, &err) < 0) {
        KR_ERROR("registry", "embedded built-in schemas do not parse", "error=\"%s\"", err.message);
        kr_arena_destroy(&arena);
        return;
    }
    g_builtin.arena = arena;
    g_builtin.doc = doc;
    g_builtin.schemas = kr_value_get(doc, "components.schemas");
    g_builtin.kinds = kr_value_map_get(doc, "kinds");
}

const kr_value_t *kr_schema_builtin_doc(void)
{
    pthread_once(&g_builtin.once, builtin_parse);
    return g_builtin.doc;
}

const kr_value_t *kr_schema_components(void)
{
    return kr_schema_builtin_doc() != NULL ? g_builtin.schemas : NULL;
}

const kr_value_t *kr_schema_builtin(const char *api_version, const char *kind)
{
    if (kr_schema_builtin_doc() == NULL)
        return NULL;
    char key[256];
    int n = snprintf(key, sizeof(key), "%s/%s", api_version, kind);
    if (n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    const char *name = kr_value_map_str(g_builtin.kinds, key);
    return name ? kr_value_map_get(g_builtin.schemas, name) : NULL;
}

/* ---- walking ---------------------------------------------------------- */

static const kr_value_t *ref_target(const char *ref)
{
    const char *name = NULL;
    if (strncmp(ref, REF_V3, sizeof(REF_V3) - 1) == 0)
        name = ref + sizeof(REF_V3) - 1;
    else if (strncmp(ref, REF_V2, sizeof(REF_V2) - 1) == 0)
        name = ref + sizeof(REF_V2) - 1;
    if (name == NULL || kr_schema_builtin_doc() == NULL)
        return NULL;
    return kr_value_map_get(g_builtin.schemas, name);
}

/* What is read of one schema node, in a single pass over its keys (the
 * checker visits a node for every value it checks). */
typedef struct node {
    const kr_value_t *self;
    const char *ref, *type, *format;
    const kr_value_t *all_of, *one_of, *enum_values, *props, *required, *additional, *items;
    const kr_value_t *minimum, *maximum, *max_length, *min_length, *max_items, *min_items;
    bool int_or_string, excl_min, excl_max;
} node_t;

static void node_read(const kr_value_t *s, node_t *n)
{
    memset(n, 0, sizeof(*n));
    n->self = s;
    for (size_t i = 0; i < kr_value_len(s); i++) {
        const char *k = kr_value_map_key(s, i);
        const kr_value_t *v = kr_value_map_val(s, i);
        switch (k[0]) {
        case '$':
            if (strcmp(k, "$ref") == 0)
                n->ref = kr_value_as_str(v);
            break;
        case 'a':
            if (strcmp(k, "allOf") == 0)
                n->all_of = v;
            else if (strcmp(k, "anyOf") == 0 && n->one_of == NULL)
                n->one_of = v;
            else if (strcmp(k, "additionalProperties") == 0 && kr_value_type(v) == KR_MAP)
                n->additional = v;
            break;
        case 'e':
            if (strcmp(k, "enum") == 0)
                n->enum_values = v;
            else if (strcmp(k, "exclusiveMinimum") == 0)
                n->excl_min = kr_value_as_bool(v, false);
            else if (strcmp(k, "exclusiveMaximum") == 0)
                n->excl_max = kr_value_as_bool(v, false);
            break;
        case 'f':
            if (strcmp(k, "format") == 0)
                n->format = kr_value_as_str(v);
            break;
        case 'i':
            if (strcmp(k, "items") == 0)
                n->items = v;
            break;
        case 'm':
            if (strcmp(k, "minimum") == 0)
                n->minimum = v;
            else if (strcmp(k, "maximum") == 0)
                n->maximum = v;
            else if (strcmp(k, "maxLength") == 0)
                n->max_length = v;
            else if (strcmp(k, "minLength") == 0)
                n->min_length = v;
            else if (strcmp(k, "maxItems") == 0)
                n->max_items = v;
            else if (strcmp(k, "minItems") == 0)
                n->min_items = v;
            break;
        case 'o':
            if (strcmp(k, "oneOf") == 0)
                n->one_of = v;
            break;
        case 'p':
            if (strcmp(k, "properties") == 0)
                n->props = v;
            break;
        case 'r':
            if (strcmp(k, "required") == 0)
                n->required = v;
            break;
        case 't':
            if (strcmp(k, "type") == 0)
                n->type = kr_value_as_str(v);
            break;
        case 'x':
            if (strcmp(k, "x-kubernetes-int-or-string") == 0)
                n->int_or_string = kr_value_as_bool(v, false);
            break;
        default:
            break;
        }
    }
    if (n->format != NULL && strcmp(n->format, "int-or-string") == 0)
        n->int_or_string = true;
}

/* Reads the node a schema resolves to, following "$ref" (into the built-in
 * components) and a lone "allOf" entry; false when nothing is there. */
static bool node_resolve(const kr_value_t *s, node_t *n)
{
    for (int i = 0; i < RESOLVE_MAX && kr_value_type(s) == KR_MAP; i++) {
        node_read(s, n);
        if (n->ref != NULL) {
            s = ref_target(n->ref);
            continue;
        }
        if (kr_value_len(n->all_of) == 1 && n->type == NULL && n->props == NULL) {
            s = kr_value_array_get(n->all_of, 0);
            continue;
        }
        return true;
    }
    return false; /* a missing target, not a schema, or a loop */
}

const kr_value_t *kr_schema_resolve(const kr_value_t *s)
{
    node_t n;
    return node_resolve(s, &n) ? n.self : NULL;
}

/* One step of a path: a key (`name`, `["a.b"]`) or an index (`[0]`). */
typedef struct step {
    bool is_index;
    const char *key;
    size_t keylen;
} step_t;

/* Reads the step at *pp and advances; 1 = step, 0 = end, -1 = malformed.
 * Quoted keys may not hold escapes (no schema property does). */
static int path_next(const char **pp, step_t *st)
{
    const char *p = *pp;
    if (*p == '.')
        p++;
    if (*p == '\0')
        return 0;
    if (*p == '[') {
        p++;
        if (*p == '"') {
            const char *end = strchr(p + 1, '"');
            if (end == NULL || end[1] != ']')
                return -1;
            st->is_index = false;
            st->key = p + 1;
            st->keylen = (size_t)(end - p - 1);
            *pp = end + 2;
            return 1;
        }
        const char *q = p;
        while (*q >= '0' && *q <= '9')
            q++;
        if (q == p || *q != ']')
            return -1;
        st->is_index = true;
        *pp = q + 1;
        return 1;
    }
    size_t n = strcspn(p, ".[");
    if (n == 0)
        return -1;
    st->is_index = false;
    st->key = p;
    st->keylen = n;
    *pp = p + n;
    return 1;
}

/* The field node for one key below a (resolved) object schema; an array
 * schema is stepped through to its items first. */
static const kr_value_t *field_of(const kr_value_t *s, const char *key, size_t keylen)
{
    const kr_value_t *items = kr_value_map_get(s, "items");
    if (items != NULL && kr_value_map_get(s, "properties") == NULL)
        s = kr_schema_resolve(items);
    const kr_value_t *f = kr_value_map_getn(kr_value_map_get(s, "properties"), key, keylen);
    if (f != NULL)
        return f;
    const kr_value_t *ap = kr_value_map_get(s, "additionalProperties");
    return kr_value_type(ap) == KR_MAP ? ap : NULL;
}

const kr_value_t *kr_schema_field(const kr_value_t *schema, const char *path)
{
    const kr_value_t *node = schema;
    step_t st;
    int rc;
    while (node != NULL && (rc = path_next(&path, &st)) != 0) {
        if (rc < 0)
            return NULL;
        const kr_value_t *s = kr_schema_resolve(node);
        node = st.is_index ? kr_value_map_get(s, "items") : field_of(s, st.key, st.keylen);
    }
    return node;
}

/* ---- memo: lookups by path, per kind ------------------------------------ */

/* A schema lookup walks the path from the root, following $refs and
 * reading keys at every step; managedFields and strategic merge ask for
 * every field of every write.  Schemas do not change once registered, so
 * the answers are kept by path (list items are always "[0]": the set of
 * paths is the schema's, not the data's). */
typedef struct memo_ent {
    char *path; /* NULL: empty slot */
    uint64_t hash;
    const kr_value_t *at;
    const char *merge_key;
    bool has_at, has_merge_key;
} memo_ent_t;

/* Values derived from the schema (kr_schema_derived), by name. */
#define MEMO_DERIVED_MAX 4

struct kr_schema_memo {
    pthread_mutex_t mu;
    memo_ent_t *ents;
    size_t cap, len;   /* cap a power of two */
    kr_arena_t *arena; /* the derived values, made on first use */
    struct {
        const char *name;
        const kr_value_t *v;
    } derived[MEMO_DERIVED_MAX];
    struct {
        const void *tag;
        void *data;
        void (*destroy)(void *data);
    } user[MEMO_DERIVED_MAX];
};

struct kr_schema_memo *kr_schema_memo_new(void)
{
    struct kr_schema_memo *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void kr_schema_memo_destroy(struct kr_schema_memo **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    struct kr_schema_memo *m = *self_p;
    for (size_t i = 0; i < m->cap; i++)
        free(m->ents[i].path);
    free(m->ents);
    kr_arena_destroy(&m->arena);
    for (size_t i = 0; i < MEMO_DERIVED_MAX; i++)
        if (m->user[i].data != NULL)
            m->user[i].destroy(m->user[i].data);
    pthread_mutex_destroy(&m->mu);
    free(m);
    *self_p = NULL;
}

static uint64_t memo_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The entry of `path`, made when absent; mu held. */
static memo_ent_t *memo_slot(struct kr_schema_memo *m, const char *path)
{
    if (m->len * 2 >= m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        memo_ent_t *ents = xcalloc(cap, sizeof *ents);
        for (size_t i = 0; i < m->cap; i++) {
            if (m->ents[i].path == NULL)
                continue;
            size_t j = m->ents[i].hash & (cap - 1);
            while (ents[j].path != NULL)
                j = (j + 1) & (cap - 1);
            ents[j] = m->ents[i];
        }
        free(m->ents);
        m->ents = ents;
        m->cap = cap;
    }
    uint64_t h = memo_hash(path);
    size_t i = h & (m->cap - 1);
    while (m->ents[i].path != NULL) {
        if (m->ents[i].hash == h && strcmp(m->ents[i].path, path) == 0)
            return &m->ents[i];
        i = (i + 1) & (m->cap - 1);
    }
    m->ents[i] = (memo_ent_t){.path = xstrdup(path), .hash = h};
    m->len++;
    return &m->ents[i];
}

static const kr_value_t *schema_at(const kr_kind_t *kind, const char *path)
{
    return kr_schema_resolve(kr_schema_field(kind->schema, path));
}

const kr_value_t *kr_schema_at(const kr_kind_t *kind, const char *path)
{
    if (kind == NULL || kind->schema == NULL || path == NULL)
        return NULL;
    struct kr_schema_memo *m = kind->memo;
    if (m == NULL)
        return schema_at(kind, path);
    pthread_mutex_lock(&m->mu);
    memo_ent_t *e = memo_slot(m, path);
    if (!e->has_at) {
        e->at = schema_at(kind, path);
        e->has_at = true;
    }
    const kr_value_t *at = e->at;
    pthread_mutex_unlock(&m->mu);
    return at;
}

/* The slot of `name`, claimed when free; NULL when all are taken; mu held. */
static const kr_value_t **derived_slot(struct kr_schema_memo *m, const char *name)
{
    for (size_t i = 0; i < MEMO_DERIVED_MAX; i++) {
        if (m->derived[i].name == NULL)
            m->derived[i].name = name;
        if (strcmp(m->derived[i].name, name) == 0)
            return &m->derived[i].v;
    }
    return NULL;
}

const kr_value_t *kr_schema_derived(const kr_kind_t *kind, const char *name,
                                    kr_schema_build_fn build)
{
    struct kr_schema_memo *m = kind != NULL ? kind->memo : NULL;
    if (m == NULL)
        return NULL;
    pthread_mutex_lock(&m->mu);
    const kr_value_t **slot = derived_slot(m, name);
    const kr_value_t *v = slot != NULL ? *slot : NULL;
    pthread_mutex_unlock(&m->mu);
    if (slot == NULL || v != NULL)
        return v;
    /* built without the lock: build reads the schema through this memo */
    kr_arena_t *scratch = kr_arena_new(0);
    kr_value_t *built = build(scratch, kind);
    pthread_mutex_lock(&m->mu);
    if (*slot == NULL) {
        if (m->arena == NULL)
            m->arena = kr_arena_new(0);
        *slot = kr_value_copy(m->arena, built);
    }
    v = *slot;
    pthread_mutex_unlock(&m->mu);
    kr_arena_destroy(&scratch);
    return v;
}

void *kr_schema_memo_user(const kr_kind_t *kind, const void *tag, void *(*make)(void),
                          void (*destroy)(void *data))
{
    struct kr_schema_memo *m = kind != NULL ? kind->memo : NULL;
    if (m == NULL)
        return NULL;
    void *data = NULL;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < MEMO_DERIVED_MAX; i++) {
        if (m->user[i].tag == NULL) {
            m->user[i].tag = tag;
            m->user[i].data = make();
            m->user[i].destroy = destroy;
        }
        if (m->user[i].tag == tag) {
            data = m->user[i].data;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return data;
}

static const char *merge_key_of(const kr_value_t *s)
{
    const char *key = kr_value_map_str(s, "x-kubernetes-patch-merge-key");
    if (key != NULL)
        return key;
    /* A CRD-style keyed list with a single key merges on it. */
    const char *type = kr_value_map_str(s, "x-kubernetes-list-type");
    const kr_value_t *keys = kr_value_map_get(s, "x-kubernetes-list-map-keys");
    if (type != NULL && strcmp(type, "map") == 0 && kr_value_len(keys) == 1)
        return kr_value_as_str(kr_value_array_get(keys, 0));
    return NULL;
}

static const char *schema_merge_key(const kr_kind_t *kind, const char *path)
{
    const kr_value_t *f = kr_schema_field(kind->schema, path);
    const char *key = merge_key_of(f);
    return key != NULL ? key : merge_key_of(kr_schema_resolve(f));
}

const char *kr_schema_merge_key(const kr_kind_t *kind, const char *path)
{
    if (kind == NULL || kind->schema == NULL || path == NULL)
        return NULL;
    struct kr_schema_memo *m = kind->memo;
    if (m == NULL)
        return schema_merge_key(kind, path);
    pthread_mutex_lock(&m->mu);
    memo_ent_t *e = memo_slot(m, path);
    if (!e->has_merge_key) {
        e->merge_key = schema_merge_key(kind, path);
        e->has_merge_key = true;
    }
    const char *key = e->merge_key;
    pthread_mutex_unlock(&m->mu);
    return key;
}

const char *kr_schema_patch_strategy(const kr_kind_t *kind, const char *path)
{
    if (kind == NULL || kind->schema == NULL || path == NULL)
        return NULL;
    /* On the field as written in its parent, else on what it refers to
     * (DeploymentSpec.strategy sits beside an allOf $ref). */
    const kr_value_t *f = kr_schema_field(kind->schema, path);
    const char *s = kr_value_map_str(f, "x-kubernetes-patch-strategy");
    return s != NULL ? s : kr_value_map_str(kr_schema_resolve(f), "x-kubernetes-patch-strategy");
}

/* ---- type checks ------------------------------------------------------ */

enum {
    T_BOOL = 1u << 0,
    T_INT = 1u << 1,
    T_NUM = 1u << 2,
    T_STR = 1u << 3,
    T_ARR = 1u << 4,
    T_OBJ = 1u << 5,
};

static const struct {
    const char *name;
    unsigned bit;
} type_names[] = {
    {"boolean", T_BOOL}, {"integer", T_INT}, {"number", T_NUM},
    {"string", T_STR},   {"array", T_ARR},   {"object", T_OBJ},
};

static unsigned type_bit(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(name, type_names[i].name) == 0)
            return type_names[i].bit;
    return 0;
}

/* The types a (resolved) schema allows, 0 for any.  With `want`, also
 * their names as upstream prints them ("integer", "integer,string"). */
static unsigned allowed_types(const node_t *n, kr_buf_t *want)
{
    if (n->int_or_string) {
        if (want != NULL)
            kr_buf_puts(want, "integer,string");
        return T_INT | T_STR;
    }
    if (n->type != NULL) {
        if (want != NULL)
            kr_buf_puts(want, n->type);
        return type_bit(n->type);
    }
    const kr_value_t *alts = n->one_of;
    unsigned bits = 0;
    for (size_t i = 0; i < kr_value_len(alts); i++) {
        const char *t = kr_value_map_str(kr_schema_resolve(kr_value_array_get(alts, i)), "type");
        if (type_bit(t) == 0)
            return 0;
        bits |= type_bit(t);
        if (want != NULL)
            kr_buf_printf(want, "%s%s", i ? "," : "", t);
    }
    return bits;
}

static bool float_is_integral(double d)
{
    return d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d;
}

/* The JSON type name of a value, as kube-openapi reports it: a map is an
 * object, a whole number an integer however it was written. */
static const char *value_type_name(const kr_value_t *v)
{
    if (kr_value_type(v) == KR_MAP)
        return "object";
    if (kr_value_type(v) == KR_FLOAT && float_is_integral(kr_value_as_float(v, 0)))
        return "integer";
    return kr_type_name(kr_value_type(v));
}

static bool type_ok(unsigned allowed, const kr_value_t *v)
{
    if (allowed == 0)
        return true;
    switch (kr_value_type(v)) {
    case KR_BOOL:
        return allowed & T_BOOL;
    case KR_INT:
        return allowed & (T_INT | T_NUM);
    case KR_FLOAT:
        return (allowed & T_NUM) ||
               ((allowed & T_INT) && float_is_integral(kr_value_as_float(v, 0)));
    case KR_STR:
        return allowed & T_STR;
    case KR_ARRAY:
        return allowed & T_ARR;
    case KR_MAP:
        return allowed & T_OBJ;
    case KR_NULL:
        return true;
    }
    return false;
}

/* One step of the path being checked; the text is only made for an
 * error, so a valid object costs no formatting. */
typedef struct seg {
    enum { SEG_FIELD, SEG_KEY, SEG_INDEX } how;
    const char *key;
    size_t index;
} seg_t;

typedef struct check {
    kr_validation_t *v;
    bool builtin;
    bool secret; /* the built-in Secret */
    size_t depth;
    seg_t segs[KR_VALUE_MAX_DEPTH + 1];
} check_t;

static bool path_push(check_t *c, int how, const char *key, size_t index)
{
    if (c->depth == sizeof(c->segs) / sizeof(c->segs[0]))
        return false;
    c->segs[c->depth++] = (seg_t){how, key, index};
    return true;
}

static void path_pop(check_t *c)
{
    c->depth--;
}

/* The field path as upstream writes it: spec.containers[0].resources.limits[cpu]. */
static const char *path_str(const check_t *c)
{
    kr_buf_t buf = KR_BUF_INIT;
    for (size_t i = 0; i < c->depth; i++) {
        const seg_t *s = &c->segs[i];
        if (s->how == SEG_FIELD)
            kr_buf_printf(&buf, "%s%s", i ? "." : "", s->key);
        else if (s->how == SEG_KEY)
            kr_buf_printf(&buf, "[%s]", s->key);
        else
            kr_buf_printf(&buf, "[%zu]", s->index);
    }
    char *out = kr_arena_strdup(c->v->arena, buf.data ? buf.data : "");
    kr_buf_free(&buf);
    return out;
}

static void check_value(check_t *c, const kr_value_t *schema, const kr_value_t *val);

static void type_error(check_t *c, const node_t *n, const kr_value_t *val)
{
    kr_buf_t want = KR_BUF_INIT;
    allowed_types(n, &want);
    const char *got = value_type_name(val);
    const char *path = path_str(c);
    kr_field_error(c->v, KR_FIELD_TYPE_INVALID, path, kr_value_str(c->v->arena, got),
                   "%s%sbody must be of type %s: \"%s\"", path, path[0] ? " in " : "",
                   want.data ? want.data : "", got);
    kr_buf_free(&want);
}

static void check_enum(check_t *c, const node_t *node, const kr_value_t *val)
{
    const kr_value_t *en = node->enum_values;
    size_t n = kr_value_len(en);
    if (kr_value_type(en) != KR_ARRAY || n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (kr_value_equal(kr_value_array_get(en, i), val))
            return;
    const char **valid = kr_arena_alloc(c->v->arena, (n + 1) * sizeof(*valid));
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *e = kr_value_array_get(en, i);
        kr_buf_t buf = KR_BUF_INIT;
        if (kr_value_type(e) == KR_STR)
            kr_buf_puts(&buf, kr_value_as_str(e));
        else
            kr_json_encode(e, &buf, KR_JSON_COMPACT, NULL);
        valid[i] = kr_arena_strdup(c->v->arena, buf.data ? buf.data : "");
        kr_buf_free(&buf);
    }
    valid[n] = NULL;
    kr_field_not_supported(c->v, path_str(c), val, valid);
}

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* Go's base64.StdEncoding: the offset of the first bad byte, or -1 when
 * the text decodes. */
static long base64_error(const char *s, size_t len)
{
    kr_buf_t out = KR_BUF_INIT;
    size_t bad = 0;
    int rc = kr_base64_decode(&out, s, len, KR_B64_STD, &bad);
    kr_buf_free(&out);
    return rc < 0 ? (long)bad : -1;
}

static void check_string(check_t *c, const node_t *n, const kr_value_t *val)
{
    const char *str = kr_value_as_str(val);
    size_t len = kr_value_len(val);
    const char *fmt = n->format;
    if (fmt != NULL && strcmp(fmt, "quantity") == 0) {
        kr_quantity_t q;
        kr_error_t err;
        if (kr_quantity_parse(str, &q, &err) < 0)
            kr_field_invalid(c->v, path_str(c), val, err.message);
    } else if (fmt != NULL && strcmp(fmt, "byte") == 0) {
        long bad = base64_error(str, len);
        /* A Secret's data is not repeated, as upstream's secret validation
         * does not. */
        if (bad >= 0)
            kr_field_error(c->v, KR_FIELD_INVALID, path_str(c),
                           c->secret ? kr_value_str(c->v->arena, "<secret contents redacted>")
                                     : val,
                           "illegal base64 data at input byte %ld", bad);
    }
    int64_t max = kr_value_as_int(n->max_length, -1);
    int64_t min = kr_value_as_int(n->min_length, -1);
    if (max < 0 && min < 0)
        return;
    size_t chars = utf8_chars(str, len);
    const char *path = path_str(c);
    if (max >= 0 && chars > (uint64_t)max)
        kr_field_error(c->v, KR_FIELD_TOO_LONG, path, NULL, "may not be more than %lld %s",
                       (long long)max, max == 1 ? "byte" : "bytes");
    if (min >= 0 && chars < (uint64_t)min)
        kr_field_error(c->v, KR_FIELD_INVALID, path, val,
                       "%s in body should be at least %lld chars long", path, (long long)min);
}

static void check_number(check_t *c, const node_t *n, const kr_value_t *val)
{
    double d = kr_value_as_float(val, 0);
    const kr_value_t *min = n->minimum;
    const kr_value_t *max = n->maximum;
    char bound[32];
    if (min != NULL) {
        bool excl = n->excl_min;
        double m = kr_value_as_float(min, 0);
        if (excl ? d <= m : d < m) {
            snprintf(bound, sizeof(bound), "%.17g", m);
            const char *path = path_str(c);
            kr_field_error(c->v, KR_FIELD_INVALID, path, val,
                           "%s in body should be greater than %s%s", path,
                           excl ? "" : "or equal to ", bound);
        }
    }
    if (max != NULL) {
        bool excl = n->excl_max;
        double m = kr_value_as_float(max, 0);
        if (excl ? d >= m : d > m) {
            snprintf(bound, sizeof(bound), "%.17g", m);
            const char *path = path_str(c);
            kr_field_error(c->v, KR_FIELD_INVALID, path, val, "%s in body should be less than %s%s",
                           path, excl ? "" : "or equal to ", bound);
        }
    }
}

static void check_object(check_t *c, const node_t *n, const kr_value_t *val)
{
    const kr_value_t *props = n->props;
    /* Built-in kinds are checked the way their Go types decode: a missing
     * field is a zero value, and Kubernetes' own validation (the kind's
     * hooks) says which ones are required. */
    const kr_value_t *req = c->builtin ? NULL : n->required;
    for (size_t i = 0; i < kr_value_len(req); i++) {
        const char *name = kr_value_as_str(kr_value_array_get(req, i));
        if (name != NULL && kr_value_type(kr_value_map_get(val, name)) == KR_NULL) {
            if (path_push(c, SEG_FIELD, name, 0)) {
                kr_field_required(c->v, path_str(c), NULL);
                path_pop(c);
            }
        }
    }
    const kr_value_t *ap = n->additional;
    if (props == NULL && ap == NULL)
        return;
    for (size_t i = 0; i < kr_value_len(val); i++) {
        const char *key = kr_value_map_key(val, i);
        const kr_value_t *f = kr_value_map_get(props, key);
        /* Unknown fields are kept and not checked. */
        if (f == NULL && ap == NULL)
            continue;
        if (!path_push(c, f != NULL ? SEG_FIELD : SEG_KEY, key, 0))
            return;
        check_value(c, f != NULL ? f : ap, kr_value_map_val(val, i));
        path_pop(c);
    }
}

static void check_array(check_t *c, const node_t *node, const kr_value_t *val)
{
    size_t n = kr_value_len(val);
    int64_t max = kr_value_as_int(node->max_items, -1);
    int64_t min = kr_value_as_int(node->min_items, -1);
    if (max >= 0 && n > (uint64_t)max)
        kr_field_error(c->v, KR_FIELD_TOO_MANY, path_str(c), kr_value_int(c->v->arena, (int64_t)n),
                       "must have at most %lld items", (long long)max);
    if (min >= 0 && n < (uint64_t)min) {
        const char *path = path_str(c);
        kr_field_error(c->v, KR_FIELD_INVALID, path, NULL,
                       "%s in body should have at least %lld items", path, (long long)min);
    }
    const kr_value_t *items = node->items;
    if (items == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!path_push(c, SEG_INDEX, NULL, i))
            return;
        check_value(c, items, kr_value_array_get(val, i));
        path_pop(c);
    }
}

static void check_value(check_t *c, const kr_value_t *schema, const kr_value_t *val)
{
    /* null is an absent field (a CRD prunes it, a Go type decodes it as
     * the zero value). */
    node_t n;
    if (kr_value_type(val) == KR_NULL || !node_resolve(schema, &n))
        return;
    if (!type_ok(allowed_types(&n, NULL), val)) {
        type_error(c, &n, val);
        return;
    }
    if (n.enum_values != NULL)
        check_enum(c, &n, val);
    switch (kr_value_type(val)) {
    case KR_STR:
        check_string(c, &n, val);
        break;
    case KR_INT:
    case KR_FLOAT:
        check_number(c, &n, val);
        break;
    case KR_MAP:
        check_object(c, &n, val);
        break;
    case KR_ARRAY:
        check_array(c, &n, val);
        break;
    default:
        break;
    }
}

void kr_schema_check(kr_validation_t *v, const kr_kind_t *kind, const kr_value_t *obj)
{
    if (v == NULL || kind == NULL || kind->schema == NULL)
        return;
    /* About 6 KiB of path steps: on the heap, not the caller's stack. */
    check_t *c = xmalloc(sizeof(*c));
    c->v = v;
    c->builtin = kind->builtin;
    c->secret = kind->builtin && strcmp(kind->kind, "Secret") == 0;
    c->depth = 0;
    check_value(c, kind->schema, obj);
    free(c);
}

/* ---- defaults --------------------------------------------------------- */

/* The `default` of a field: on the field node, else on what it refers to. */
static const kr_value_t *default_of(const kr_value_t *field)
{
    const kr_value_t *d = kr_value_map_get(field, "default");
    return d != NULL ? d : kr_value_map_get(kr_schema_resolve(field), "default");
}

static void apply_defaults(kr_arena_t *arena, const kr_value_t *schema, kr_value_t *val, int depth)
{
    const kr_value_t *s = kr_schema_resolve(schema);
    if (s == NULL || depth > KR_VALUE_MAX_DEPTH)
        return;
    if (kr_value_type(val) == KR_ARRAY) {
        const kr_value_t *items = kr_value_map_get(s, "items");
        for (size_t i = 0; items != NULL && i < kr_value_len(val); i++)
            apply_defaults(arena, items, kr_value_array_get(val, i), depth + 1);
        return;
    }
    if (kr_value_type(val) != KR_MAP)
        return;
    const kr_value_t *props = kr_value_map_get(s, "properties");
    for (size_t i = 0; i < kr_value_len(props); i++) {
        const char *key = kr_value_map_key(props, i);
        const kr_value_t *f = kr_value_map_val(props, i);
        kr_value_t *have = kr_value_map_get(val, key);
        if (kr_value_type(have) == KR_NULL) {
            const kr_value_t *d = default_of(f);
            if (d == NULL)
                continue;
            /* A null is dropped and defaulted, as a CRD does unless the
             * field is nullable. */
            if (have != NULL &&
                kr_value_as_bool(kr_value_map_get(kr_schema_resolve(f), "nullable"), false))
                continue;
            have = kr_value_copy(arena, d);
            kr_value_map_set(arena, val, key, have);
        }
        apply_defaults(arena, f, have, depth + 1);
    }
    const kr_value_t *ap = kr_value_map_get(s, "additionalProperties");
    if (kr_value_type(ap) != KR_MAP)
        return;
    for (size_t i = 0; i < kr_value_len(val); i++)
        if (kr_value_map_get(props, kr_value_map_key(val, i)) == NULL)
            apply_defaults(arena, ap, kr_value_map_val(val, i), depth + 1);
}

void kr_schema_defaults(kr_arena_t *arena, const kr_kind_t *kind, kr_value_t *obj)
{
    /* A built-in kind's defaults are Kubernetes' SetDefaults_* (its hooks);
     * its schemas carry no `default` (scripts/gen-schemas.py drops them). */
    if (arena == NULL || kind == NULL || kind->schema == NULL || kind->builtin)
        return;
    apply_defaults(arena, kind->schema, obj, 0);
}
