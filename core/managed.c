/* managedFields (managed.h): field sets in structured-merge-diff's form,
 * the typed walks that read them off objects, the managedFields entries
 * and what a non-apply write does to them.
 *
 * The set and walk semantics follow sigs.k8s.io/structured-merge-diff/v4
 * (fieldpath/set.go, fieldpath/serialize.go, typed/tofieldset.go,
 * typed/compare.go, typed/merge.go, typed/remove.go); the entries and
 * the update follow k8s.io/apimachinery/pkg/util/managedfields/internal
 * (managedfields.go, fieldmanager.go, managedfieldsupdater.go,
 * stripmeta.go, capmanagers.go, skipnonapplied.go).
 */
#include "managed.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The deepest object a walk follows (the value decoders' own limit). */
#define PATH_MAX_DEPTH (KR_VALUE_MAX_DEPTH + 2)
/* Key fields of one associative list at most. */
#define KEYS_MAX 8
/* Depth of the empty object built for a create. */
#define EMPTY_MAX_DEPTH 8

/* ---- values, as structured-merge-diff compares them -------------------- */

static int rank_of(const kr_value_t *v)
{
    switch (kr_value_type(v)) {
    case KR_INT:
    case KR_FLOAT:
        return 0;
    case KR_STR:
        return 1;
    case KR_BOOL:
        return 2;
    case KR_ARRAY:
        return 3;
    case KR_MAP:
        return 4;
    default:
        return 5;
    }
}

static int sign_of(double d)
{
    return d < 0 ? -1 : d > 0 ? 1 : 0;
}

static int str_cmp(const kr_value_t *a, const kr_value_t *b)
{
    size_t la = kr_value_len(a), lb = kr_value_len(b);
    int c = memcmp(kr_value_as_str(a), kr_value_as_str(b), la < lb ? la : lb);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return la < lb ? -1 : la > lb ? 1 : 0;
}

static int key_order(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A map's keys, sorted (heap; the caller frees). */
static const char **sorted_keys(const kr_value_t *m)
{
    size_t n = kr_value_len(m);
    const char **k = malloc((n ? n : 1) * sizeof *k);
    if (k == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        k[i] = kr_value_map_key(m, i);
    qsort(k, n, sizeof *k, key_order);
    return k;
}

/* value.Compare: numbers (ints and floats numerically) < strings < bools
 * < lists < maps < null; lists and maps lexically. */
static int value_cmp(const kr_value_t *a, const kr_value_t *b)
{
    int ra = rank_of(a), rb = rank_of(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (ra) {
    case 0:
        if (kr_value_type(a) == KR_INT && kr_value_type(b) == KR_INT) {
            int64_t x = kr_value_as_int(a, 0), y = kr_value_as_int(b, 0);
            return x < y ? -1 : x > y ? 1 : 0;
        }
        return sign_of(kr_value_as_float(a, 0) - kr_value_as_float(b, 0));
    case 1:
        return str_cmp(a, b);
    case 2:
        return (int)kr_value_as_bool(a, false) - (int)kr_value_as_bool(b, false);
    case 3: {
        size_t la = kr_value_len(a), lb = kr_value_len(b);
        for (size_t i = 0; i < la && i < lb; i++) {
            int c = value_cmp(kr_value_array_get(a, i), kr_value_array_get(b, i));
            if (c != 0)
                return c;
        }
        return la < lb ? -1 : la > lb ? 1 : 0;
    }
    case 4: {
        const char **ka = sorted_keys(a), **kb = sorted_keys(b);
        size_t la = kr_value_len(a), lb = kr_value_len(b);
        int c = 0;
        for (size_t i = 0; c == 0 && i < la && i < lb; i++) {
            c = strcmp(ka[i], kb[i]);
            if (c == 0)
                c = value_cmp(kr_value_map_get(a, ka[i]), kr_value_map_get(b, kb[i]));
        }
        if (c == 0)
            c = la < lb ? -1 : la > lb ? 1 : 0;
        free(ka);
        free(kb);
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    default:
        return 0;
    }
}

static bool value_eq(const kr_value_t *a, const kr_value_t *b)
{
    return value_cmp(a, b) == 0;
}

/* ---- path elements ------------------------------------------------------ */

int kr_pe_cmp(const kr_pe_t *a, const kr_pe_t *b)
{
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    switch (a->type) {
    case KR_PE_FIELD: {
        int c = strcmp(a->name, b->name);
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    case KR_PE_KEY: {
        /* FieldList.Compare: field by field, name then value; shorter first */
        size_t la = kr_value_len(a->value), lb = kr_value_len(b->value);
        for (size_t i = 0; i < la && i < lb; i++) {
            int c = strcmp(kr_value_map_key(a->value, i), kr_value_map_key(b->value, i));
            if (c != 0)
                return c < 0 ? -1 : 1;
            c = value_cmp(kr_value_map_val(a->value, i), kr_value_map_val(b->value, i));
            if (c != 0)
                return c;
        }
        return la < lb ? -1 : la > lb ? 1 : 0;
    }
    case KR_PE_VALUE:
        return value_cmp(a->value, b->value);
    default:
        return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
    }
}

static void append_json(kr_buf_t *out, const kr_value_t *v)
{
    kr_json_encode(v, out, KR_JSON_COMPACT, NULL);
}

/* value.ToString: strings quoted (Go's %q, close enough through JSON),
 * numbers and bools bare. */
static void append_value_string(kr_buf_t *out, const kr_value_t *v)
{
    switch (kr_value_type(v)) {
    case KR_MAP:
        kr_buf_puts(out, "{");
        for (size_t i = 0; i < kr_value_len(v); i++) {
            kr_buf_printf(out, "%s%s=", i ? "," : "", kr_value_map_key(v, i));
            append_value_string(out, kr_value_map_val(v, i));
        }
        kr_buf_puts(out, "}");
        break;
    case KR_ARRAY:
        kr_buf_puts(out, "[");
        for (size_t i = 0; i < kr_value_len(v); i++) {
            if (i)
                kr_buf_puts(out, ",");
            append_value_string(out, kr_value_array_get(v, i));
        }
        kr_buf_puts(out, "]");
        break;
    default:
        append_json(out, v);
    }
}

static void append_pe_string(kr_buf_t *out, const kr_pe_t *pe)
{
    switch (pe->type) {
    case KR_PE_FIELD:
        kr_buf_printf(out, ".%s", pe->name);
        break;
    case KR_PE_KEY:
        kr_buf_puts(out, "[");
        for (size_t i = 0; i < kr_value_len(pe->value); i++) {
            kr_buf_printf(out, "%s%s=", i ? "," : "", kr_value_map_key(pe->value, i));
            append_value_string(out, kr_value_map_val(pe->value, i));
        }
        kr_buf_puts(out, "]");
        break;
    case KR_PE_VALUE:
        kr_buf_puts(out, "[=");
        append_value_string(out, pe->value);
        kr_buf_puts(out, "]");
        break;
    default:
        kr_buf_printf(out, "[%" PRId64 "]", pe->index);
    }
}

char *kr_path_string(kr_arena_t *arena, const kr_pe_t *path, size_t n)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "");
    for (size_t i = 0; i < n; i++)
        append_pe_string(&b, &path[i]);
    char *s = kr_arena_strdup(arena, b.data);
    kr_buf_free(&b);
    return s;
}

/* fieldpath.SerializePathElement: "f:name", "k:{...}", "v:...", "i:3". */
static char *pe_serialize(kr_arena_t *arena, const kr_pe_t *pe)
{
    kr_buf_t b = KR_BUF_INIT;
    switch (pe->type) {
    case KR_PE_FIELD:
        kr_buf_printf(&b, "f:%s", pe->name);
        break;
    case KR_PE_KEY:
        kr_buf_puts(&b, "k:");
        append_json(&b, pe->value);
        break;
    case KR_PE_VALUE:
        kr_buf_puts(&b, "v:");
        append_json(&b, pe->value);
        break;
    default:
        kr_buf_printf(&b, "i:%" PRId64, pe->index);
    }
    char *s = kr_arena_strdup(arena, b.data);
    kr_buf_free(&b);
    return s;
}

/* A map with m's fields in name order (key fields are kept sorted). */
static kr_value_t *sorted_map(kr_arena_t *arena, const kr_value_t *m)
{
    const char **k = sorted_keys(m);
    kr_value_t *out = kr_value_map(arena);
    for (size_t i = 0; i < kr_value_len(m); i++)
        kr_value_map_set(arena, out, k[i], kr_value_map_get(m, k[i]));
    free(k);
    return out;
}

/* fieldpath.DeserializePathElement: 1 = element, 0 = a type this version
 * does not know (dropped), -1 = malformed. */
static int pe_parse(kr_arena_t *arena, const char *s, kr_pe_t *pe, kr_error_t *err)
{
    memset(pe, 0, sizeof *pe);
    size_t n = strlen(s);
    if (n < 2)
        return kr_error_set(err, KR_E_BAD_REQUEST, "key must be 2 characters long: %s", s);
    if (s[1] != ':')
        return kr_error_set(err, KR_E_BAD_REQUEST, "missing colon: %s", s);
    const char *body = s + 2;
    kr_value_t *v = NULL;
    kr_error_t jerr;
    switch (s[0]) {
    case 'f':
        pe->type = KR_PE_FIELD;
        pe->name = body;
        return 1;
    case 'i': {
        char *end = NULL;
        long long i = strtoll(body, &end, 10);
        if (*body == '\0' || end == NULL || *end != '\0')
            return kr_error_set(err, KR_E_BAD_REQUEST, "parsing key as path element: %s", s);
        pe->type = KR_PE_INDEX;
        pe->index = i;
        return 1;
    }
    case 'k':
    case 'v':
        if (kr_json_decode(arena, body, strlen(body), &v, &jerr) < 0 ||
            (s[0] == 'k' && kr_value_type(v) != KR_MAP))
            return kr_error_set(err, KR_E_BAD_REQUEST, "parsing key as path element: %s", s);
        pe->type = s[0] == 'k' ? KR_PE_KEY : KR_PE_VALUE;
        pe->value = s[0] == 'k' ? sorted_map(arena, v) : v;
        return 1;
    default:
        return 0;
    }
}

/* ---- sets --------------------------------------------------------------- */

/* One element of a node: a member, a prefix of deeper paths, or both. */
typedef struct fs_node {
    kr_pe_t pe;
    bool member;
    kr_fieldset_t *sub; /* NULL or non-empty */
} fs_node_t;

struct kr_fieldset {
    fs_node_t *v; /* sorted by pe */
    size_t n, cap;
    struct fs_cursor *cursor; /* while a walk fills it */
};

/* Room for one more element in an arena array of n (the old array is
 * left to the arena). */
static void *arena_grow(kr_arena_t *arena, void *v, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return v;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *nv = kr_arena_alloc(arena, ncap * elem);
    if (n)
        memcpy(nv, v, n * elem);
    *cap = ncap;
    return nv;
}

kr_fieldset_t *kr_fieldset_new(kr_arena_t *arena)
{
    kr_fieldset_t *s = kr_arena_alloc(arena, sizeof *s);
    memset(s, 0, sizeof *s);
    return s;
}

bool kr_fieldset_empty(const kr_fieldset_t *s)
{
    return s == NULL || s->n == 0;
}

/* Binary search: the index of pe, or where it would go (*found false). */
static size_t fs_find(const kr_fieldset_t *s, const kr_pe_t *pe, bool *found)
{
    size_t lo = 0, hi = s ? s->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = kr_pe_cmp(&s->v[mid].pe, pe);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static fs_node_t *fs_slot(kr_arena_t *arena, kr_fieldset_t *s, const kr_pe_t *pe)
{
    bool found;
    size_t at = fs_find(s, pe, &found);
    if (found)
        return &s->v[at];
    s->v = arena_grow(arena, s->v, s->n, &s->cap, sizeof *s->v);
    memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof *s->v);
    s->n++;
    fs_node_t *node = &s->v[at];
    memset(node, 0, sizeof *node);
    node->pe = *pe;
    return node;
}

/* Appends a node known to sort after every node already there. */
static void fs_append(kr_arena_t *arena, kr_fieldset_t *s, const kr_pe_t *pe, bool member,
                      kr_fieldset_t *sub)
{
    if (!member && kr_fieldset_empty(sub))
        return;
    s->v = arena_grow(arena, s->v, s->n, &s->cap, sizeof *s->v);
    fs_node_t *node = &s->v[s->n++];
    node->pe = *pe;
    node->member = member;
    node->sub = kr_fieldset_empty(sub) ? NULL : sub;
}

void kr_fieldset_insert(kr_arena_t *arena, kr_fieldset_t *s, const kr_pe_t *path, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fs_node_t *node = fs_slot(arena, s, &path[i]);
        if (i + 1 == n) {
            node->member = true;
            return;
        }
        if (node->sub == NULL)
            node->sub = kr_fieldset_new(arena);
        s = node->sub;
    }
}

bool kr_fieldset_has(const kr_fieldset_t *s, const kr_pe_t *path, size_t n)
{
    for (size_t i = 0; i < n && s != NULL; i++) {
        bool found;
        size_t at = fs_find(s, &path[i], &found);
        if (!found)
            return false;
        if (i + 1 == n)
            return s->v[at].member;
        s = s->v[at].sub;
    }
    return false;
}

const kr_fieldset_t *kr_fieldset_child(const kr_fieldset_t *s, const kr_pe_t *pe)
{
    bool found;
    size_t at = fs_find(s, pe, &found);
    return found ? s->v[at].sub : NULL;
}

static bool fs_member(const kr_fieldset_t *s, const kr_pe_t *pe)
{
    bool found;
    size_t at = fs_find(s, pe, &found);
    return found && s->v[at].member;
}

bool kr_fieldset_equal(const kr_fieldset_t *a, const kr_fieldset_t *b)
{
    size_t na = a ? a->n : 0, nb = b ? b->n : 0;
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (kr_pe_cmp(&a->v[i].pe, &b->v[i].pe) != 0 || a->v[i].member != b->v[i].member ||
            !kr_fieldset_equal(a->v[i].sub, b->v[i].sub))
            return false;
    return true;
}

static kr_fieldset_t *fs_copy(kr_arena_t *arena, const kr_fieldset_t *s)
{
    kr_fieldset_t *out = kr_fieldset_new(arena);
    for (size_t i = 0; s != NULL && i < s->n; i++)
        fs_append(arena, out, &s->v[i].pe, s->v[i].member, fs_copy(arena, s->v[i].sub));
    return out;
}

kr_fieldset_t *kr_fieldset_union(kr_arena_t *arena, const kr_fieldset_t *a, const kr_fieldset_t *b)
{
    kr_fieldset_t *out = kr_fieldset_new(arena);
    size_t i = 0, j = 0, na = a ? a->n : 0, nb = b ? b->n : 0;
    while (i < na || j < nb) {
        int c = i >= na ? 1 : j >= nb ? -1 : kr_pe_cmp(&a->v[i].pe, &b->v[j].pe);
        if (c < 0) {
            fs_append(arena, out, &a->v[i].pe, a->v[i].member, fs_copy(arena, a->v[i].sub));
            i++;
        } else if (c > 0) {
            fs_append(arena, out, &b->v[j].pe, b->v[j].member, fs_copy(arena, b->v[j].sub));
            j++;
        } else {
            fs_append(arena, out, &a->v[i].pe, a->v[i].member || b->v[j].member,
                      kr_fieldset_union(arena, a->v[i].sub, b->v[j].sub));
            i++;
            j++;
        }
    }
    return out;
}

kr_fieldset_t *kr_fieldset_intersection(kr_arena_t *arena, const kr_fieldset_t *a,
                                        const kr_fieldset_t *b)
{
    kr_fieldset_t *out = kr_fieldset_new(arena);
    for (size_t i = 0; a != NULL && i < a->n; i++) {
        bool found;
        size_t at = fs_find(b, &a->v[i].pe, &found);
        if (!found)
            continue;
        const fs_node_t *x = &a->v[i], *y = &b->v[at];
        fs_append(arena, out, &x->pe, x->member && y->member,
                  x->sub && y->sub ? kr_fieldset_intersection(arena, x->sub, y->sub) : NULL);
    }
    return out;
}

/* Difference (recursive = false) keeps what lies below a member of b;
 * RecursiveDifference drops it. */
static kr_fieldset_t *fs_diff(kr_arena_t *arena, const kr_fieldset_t *a, const kr_fieldset_t *b,
                              bool recursive)
{
    kr_fieldset_t *out = kr_fieldset_new(arena);
    for (size_t i = 0; a != NULL && i < a->n; i++) {
        const fs_node_t *x = &a->v[i];
        bool found;
        size_t at = fs_find(b, &x->pe, &found);
        if (!found) {
            fs_append(arena, out, &x->pe, x->member, fs_copy(arena, x->sub));
            continue;
        }
        const fs_node_t *y = &b->v[at];
        if (recursive && y->member)
            continue;
        kr_fieldset_t *sub =
            y->sub ? fs_diff(arena, x->sub, y->sub, recursive) : fs_copy(arena, x->sub);
        fs_append(arena, out, &x->pe, x->member && !y->member, sub);
    }
    return out;
}

kr_fieldset_t *kr_fieldset_difference(kr_arena_t *arena, const kr_fieldset_t *a,
                                      const kr_fieldset_t *b)
{
    return fs_diff(arena, a, b, false);
}

kr_fieldset_t *kr_fieldset_recursive_difference(kr_arena_t *arena, const kr_fieldset_t *a,
                                                const kr_fieldset_t *b)
{
    return fs_diff(arena, a, b, true);
}

static void fs_iterate(const kr_fieldset_t *s, kr_pe_t *path, size_t depth, kr_fieldset_fn fn,
                       void *ud)
{
    if (s == NULL || depth >= PATH_MAX_DEPTH)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].member) {
            path[depth] = s->v[i].pe;
            fn(path, depth + 1, ud);
        }
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].sub) {
            path[depth] = s->v[i].pe;
            fs_iterate(s->v[i].sub, path, depth + 1, fn, ud);
        }
}

void kr_fieldset_iterate(const kr_fieldset_t *s, kr_fieldset_fn fn, void *ud)
{
    kr_pe_t path[PATH_MAX_DEPTH];
    fs_iterate(s, path, 0, fn, ud);
}

static kr_value_t *fields_of(kr_arena_t *arena, const kr_fieldset_t *s, bool self)
{
    kr_value_t *m = kr_value_map(arena);
    if (self)
        kr_value_map_set(arena, m, ".", kr_value_map(arena));
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        const fs_node_t *x = &s->v[i];
        kr_value_t *sub = x->sub ? fields_of(arena, x->sub, x->member) : kr_value_map(arena);
        /* Most elements are fields: "f:" + name on the stack, which
         * kr_value_map_set shares (a Kubernetes field) or copies, with
         * no formatting and no heap buffer per field. */
        char key[128];
        size_t n = x->pe.type == KR_PE_FIELD ? strlen(x->pe.name) : sizeof key;
        if (n + 3 <= sizeof key) {
            memcpy(key, "f:", 2);
            memcpy(key + 2, x->pe.name, n + 1);
            kr_value_map_set(arena, m, key, sub);
        } else {
            kr_value_map_set(arena, m, pe_serialize(arena, &x->pe), sub);
        }
    }
    return m;
}

kr_value_t *kr_fieldset_to_fields(kr_arena_t *arena, const kr_fieldset_t *s)
{
    return fields_of(arena, s, false);
}

/* readIterV1: the children of one fieldsV1 node; *member when the node
 * says "." or has no children of a known type. */
static int fields_read(kr_arena_t *arena, const kr_value_t *node, kr_fieldset_t **children,
                       bool *member, kr_error_t *err)
{
    if (kr_value_type(node) != KR_MAP)
        return kr_error_set(err, KR_E_BAD_REQUEST, "parsing fieldsV1: expected an object, got %s",
                            kr_type_name(kr_value_type(node)));
    *children = NULL;
    *member = false;
    for (size_t i = 0; i < kr_value_len(node); i++) {
        const char *key = kr_value_map_key(node, i);
        if (strcmp(key, ".") == 0) {
            *member = true;
            continue;
        }
        kr_pe_t pe;
        int rc = pe_parse(arena, key, &pe, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            continue;
        kr_fieldset_t *grand = NULL;
        bool child_member = false;
        rc = fields_read(arena, kr_value_map_val(node, i), &grand, &child_member, err);
        if (rc < 0)
            return rc;
        if (*children == NULL)
            *children = kr_fieldset_new(arena);
        fs_node_t *slot = fs_slot(arena, *children, &pe);
        slot->member = slot->member || child_member;
        if (grand != NULL)
            slot->sub = slot->sub ? kr_fieldset_union(arena, slot->sub, grand) : grand;
    }
    if (*children == NULL)
        *member = true;
    return 0;
}

int kr_fieldset_from_fields(kr_arena_t *arena, const kr_value_t *fields, kr_fieldset_t **out,
                            kr_error_t *err)
{
    bool member;
    kr_fieldset_t *s = NULL;
    int rc = fields_read(arena, fields ? fields : kr_value_map(arena), &s, &member, err);
    if (rc < 0)
        return rc;
    *out = s ? s : kr_fieldset_new(arena);
    return 0;
}

/* ---- schema types -------------------------------------------------------- */

enum { TY_DEDUCED = 0, TY_SCALAR, TY_MAP, TY_LIST };
enum { L_ATOMIC = 0, L_SET, L_MAP };

/* What structured-merge-diff's schema says of one node. */
typedef struct ty {
    int k;
    bool known;              /* described by the schema (else deduced) */
    bool atomic;             /* a map replaced whole */
    const kr_value_t *props; /* a struct's named fields */
    int list;                /* L_* */
    size_t nkeys;
    const char *keys[KEYS_MAX];
    const kr_value_t *defs[KEYS_MAX]; /* key defaults, or NULL */
} ty_t;

static const char *spath(kr_typed_t *t)
{
    return t->spath.data ? t->spath.data : "";
}

/* Pushes a step onto the schema path; returns the length to pop back to.
 * A key the path syntax cannot hold cannot be a schema property, so it
 * stands for any key of a map. */
static size_t sp_push_key(kr_typed_t *t, const char *key)
{
    size_t old = t->spath.len;
    bool plain = *key != '\0';
    for (const char *p = key; *p && plain; p++)
        plain = isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '$' || *p == '@';
    if (plain) {
        kr_buf_append(&t->spath, ".", 1);
        kr_buf_puts(&t->spath, key);
    } else if (strchr(key, '"') == NULL) {
        kr_buf_append(&t->spath, "[\"", 2);
        kr_buf_puts(&t->spath, key);
        kr_buf_append(&t->spath, "\"]", 2);
    } else {
        kr_buf_puts(&t->spath, "[\"\"]");
    }
    return old;
}

static size_t sp_push_item(kr_typed_t *t)
{
    size_t old = t->spath.len;
    kr_buf_puts(&t->spath, "[0]");
    return old;
}

static void sp_pop(kr_typed_t *t, size_t len)
{
    t->spath.len = len;
    if (t->spath.data)
        t->spath.data[len] = '\0';
}

static bool str_is(const kr_value_t *v, const char *s)
{
    const char *x = kr_value_as_str(v);
    return x != NULL && strcmp(x, s) == 0;
}

/* The v1.14 definitions predate +structType=atomic: LabelSelector is the
 * atomic struct an applied configuration meets most (spec.selector). */
static bool atomic_struct(const kr_value_t *props)
{
    return kr_value_len(props) == 2 && kr_value_map_get(props, "matchLabels") != NULL &&
           kr_value_map_get(props, "matchExpressions") != NULL;
}

/* The list's keys and their defaults. */
static void list_keys(kr_typed_t *t, kr_arena_t *arena, const kr_value_t *s, ty_t *ty)
{
    const kr_value_t *keys = kr_value_map_get(s, "x-kubernetes-list-map-keys");
    const char *mk = kr_value_map_str(s, "x-kubernetes-patch-merge-key");
    if (mk == NULL)
        mk = kr_schema_merge_key(t->kind, spath(t));
    ty->nkeys = 0;
    if (kr_value_type(keys) == KR_ARRAY) {
        for (size_t i = 0; i < kr_value_len(keys) && ty->nkeys < KEYS_MAX; i++)
            if (kr_value_as_str(kr_value_array_get(keys, i)))
                ty->keys[ty->nkeys++] = kr_value_as_str(kr_value_array_get(keys, i));
    } else if (mk != NULL) {
        ty->keys[ty->nkeys++] = mk;
    }
    size_t old = sp_push_item(t);
    const kr_value_t *item = kr_schema_at(t->kind, spath(t));
    sp_pop(t, old);
    const kr_value_t *iprops = kr_value_map_get(item, "properties");
    /* Service ports are keyed by port and protocol upstream since 1.20;
     * the v1.14 definition only names the merge key. */
    if (ty->nkeys == 1 && strcmp(ty->keys[0], "port") == 0 &&
        kr_value_map_get(iprops, "protocol") != NULL)
        ty->keys[ty->nkeys++] = "protocol";
    for (size_t i = 0; i < ty->nkeys; i++) {
        const kr_value_t *ks = kr_value_map_get(iprops, ty->keys[i]);
        ty->defs[i] = kr_value_map_get(ks, "default");
        /* upstream's protocol fields default to "TCP" (+default) */
        if (ty->defs[i] == NULL && strcmp(ty->keys[i], "protocol") == 0)
            ty->defs[i] = kr_value_str(arena, "TCP");
    }
}

/* What the schema says at t's schema path; values it makes go to arena. */
static void ty_read(kr_typed_t *t, kr_arena_t *arena, ty_t *ty)
{
    memset(ty, 0, sizeof *ty);
    const kr_value_t *s = kr_schema_at(t->kind, spath(t));
    if (kr_value_type(s) != KR_MAP)
        return;
    const char *type = kr_value_map_str(s, "type");
    const char *format = kr_value_map_str(s, "format");
    const kr_value_t *items = kr_value_map_get(s, "items");
    const kr_value_t *props = kr_value_map_get(s, "properties");
    bool object = (type && strcmp(type, "object") == 0) || props != NULL ||
                  kr_value_map_get(s, "additionalProperties") != NULL;
    if (kr_value_as_bool(kr_value_map_get(s, "x-kubernetes-int-or-string"), false) ||
        (format && (strcmp(format, "int-or-string") == 0 || strcmp(format, "quantity") == 0)) ||
        (type && (strcmp(type, "string") == 0 || strcmp(type, "integer") == 0 ||
                  strcmp(type, "number") == 0 || strcmp(type, "boolean") == 0))) {
        ty->k = TY_SCALAR;
        ty->known = true;
    } else if ((type && strcmp(type, "array") == 0) || (type == NULL && items != NULL)) {
        ty->k = TY_LIST;
        ty->known = true;
        const kr_value_t *lt = kr_value_map_get(s, "x-kubernetes-list-type");
        const char *ps = kr_value_map_str(s, "x-kubernetes-patch-strategy");
        if (str_is(lt, "map") ||
            (lt == NULL && ps != NULL &&
             (strcmp(ps, "merge") == 0 || strcmp(ps, "merge,retainKeys") == 0))) {
            list_keys(t, arena, s, ty);
            ty->list = ty->nkeys > 0 ? L_MAP : L_SET;
        } else if (str_is(lt, "set")) {
            ty->list = L_SET;
        } else {
            ty->list = L_ATOMIC;
        }
    } else if (object) {
        ty->k = TY_MAP;
        ty->known = true;
        ty->props = props;
        ty->atomic =
            str_is(kr_value_map_get(s, "x-kubernetes-map-type"), "atomic") || atomic_struct(props);
    }
}

/* Schema paths already read.  Schemas do not change, so the kind keeps
 * them for every walk of every write (a pod's create walks ~50 paths,
 * ~200 times); a kind without a schema memo gets one per walk.  Paths are
 * bounded by the schema (sp_push_field). */
typedef struct ty_slot {
    const char *path;
    ty_t *ty; /* a pointer, so that clearing a new table stays cheap */
} ty_slot_t;

typedef struct ty_cache {
    pthread_mutex_t mu; /* the kind's cache is shared by threads */
    bool shared;
    kr_arena_t *arena; /* paths, types; the request's for a walk's own */
    ty_slot_t *slots;
    size_t cap, n; /* cap a power of two */
} ty_cache_t;

static uint64_t path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static ty_slot_t *cache_slot(ty_slot_t *slots, size_t cap, const char *path)
{
    size_t i = (size_t)path_hash(path) & (cap - 1);
    while (slots[i].path != NULL && strcmp(slots[i].path, path) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static void cache_init(ty_cache_t *c, kr_arena_t *arena, bool shared)
{
    if (shared)
        pthread_mutex_init(&c->mu, NULL);
    c->shared = shared;
    c->arena = arena;
    c->cap = 128;
    c->n = 0;
    c->slots = kr_arena_alloc(arena, c->cap * sizeof *c->slots);
    memset(c->slots, 0, c->cap * sizeof *c->slots);
}

static void *ty_shared_new(void)
{
    ty_cache_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    cache_init(c, kr_arena_new(0), true);
    return c;
}

static void ty_shared_free(void *data)
{
    ty_cache_t *c = data;
    pthread_mutex_destroy(&c->mu);
    kr_arena_destroy(&c->arena);
    free(c);
}

static const char ty_tag[] = "managed.types";

static void ty_lookup(kr_typed_t *t, bool known, ty_t *ty)
{
    if (!known) {
        memset(ty, 0, sizeof *ty);
        return;
    }
    ty_cache_t *c = t->types;
    if (c == NULL) {
        c = kr_schema_memo_user(t->kind, ty_tag, ty_shared_new, ty_shared_free);
        if (c == NULL) {
            c = kr_arena_alloc(t->arena, sizeof *c);
            cache_init(c, t->arena, false);
        }
        t->types = c;
    }
    const char *path = spath(t);
    if (c->shared)
        pthread_mutex_lock(&c->mu);
    ty_slot_t *slot = cache_slot(c->slots, c->cap, path);
    if (slot->path == NULL) {
        /* read under the lock, into the cache's arena: kr_schema_at takes
         * the schema memo's lock, never the other way round */
        ty_read(t, c->arena, ty);
        if (2 * (c->n + 1) > c->cap) {
            size_t cap = 2 * c->cap;
            ty_slot_t *slots = kr_arena_alloc(c->arena, cap * sizeof *slots);
            memset(slots, 0, cap * sizeof *slots);
            for (size_t i = 0; i < c->cap; i++)
                if (c->slots[i].path != NULL)
                    *cache_slot(slots, cap, c->slots[i].path) = c->slots[i];
            c->slots = slots;
            c->cap = cap;
            slot = cache_slot(c->slots, c->cap, path);
        }
        slot->ty = kr_arena_alloc(c->arena, sizeof *slot->ty);
        *slot->ty = *ty;
        slot->path = kr_arena_strdup(c->arena, path);
        c->n++;
    } else {
        *ty = *slot->ty;
    }
    if (c->shared)
        pthread_mutex_unlock(&c->mu);
}

static bool is_named(const ty_t *ty, const char *key)
{
    return ty->k == TY_MAP && kr_value_map_get(ty->props, key) != NULL;
}

/* Pushes the schema step to a map's key: the key itself when the schema
 * names it, else `[""]`, which stands for any key (additionalProperties).
 * So labels, annotations and ConfigMap keys share one schema path: what
 * the walks and the kind's schema memo keep per path stays bounded by the
 * schema, whatever keys objects use. */
static size_t sp_push_field(kr_typed_t *t, const ty_t *parent, const char *key)
{
    return sp_push_key(t, is_named(parent, key) ? key : "");
}

enum { SH_LEAF = 0, SH_MAP, SH_LIST };

static bool empty_or_null(const kr_value_t *v)
{
    kr_type_t k = kr_value_type(v);
    return k == KR_NULL || ((k == KR_MAP || k == KR_ARRAY) && kr_value_len(v) == 0);
}

/* How a walk goes through l and r (either NULL: absent): a leaf, or a
 * map or list walked item by item.  A container empty or null on both
 * sides is a leaf, so that {} and null stay apart (emptyPromoteToLeaf). */
static int shape_of(const ty_t *ty, const kr_value_t *l, const kr_value_t *r)
{
    kr_type_t lt = kr_value_type(l), rt = kr_value_type(r);
    int sh = SH_LEAF;
    if (ty->k == TY_MAP || ty->k == TY_DEDUCED) {
        bool ok = (lt == KR_MAP || lt == KR_NULL) && (rt == KR_MAP || rt == KR_NULL) &&
                  (lt == KR_MAP || rt == KR_MAP || ty->k == TY_MAP);
        if (ok && !ty->atomic)
            sh = SH_MAP;
    } else if (ty->k == TY_LIST && ty->list != L_ATOMIC) {
        if ((lt == KR_ARRAY || lt == KR_NULL) && (rt == KR_ARRAY || rt == KR_NULL))
            sh = SH_LIST;
    }
    if (sh != SH_LEAF && empty_or_null(l) && empty_or_null(r))
        sh = SH_LEAF;
    return sh;
}

/* ---- walker state ------------------------------------------------------- */

void kr_typed_init(kr_typed_t *t, kr_arena_t *arena, const kr_kind_t *kind)
{
    memset(t, 0, sizeof *t);
    t->arena = arena;
    t->kind = kind;
    t->path = kr_arena_alloc(arena, PATH_MAX_DEPTH * sizeof *t->path);
    kr_buf_reserve(&t->spath, 64);
    kr_buf_puts(&t->spath, "");
}

void kr_typed_fini(kr_typed_t *t)
{
    kr_buf_free(&t->errors);
    kr_buf_free(&t->spath);
}

const char *kr_typed_error(kr_typed_t *t)
{
    if (t->nerrors == 0)
        return "";
    if (t->nerrors == 1)
        return kr_arena_strdup(t->arena, t->errors.data);
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "errors:");
    const char *p = t->errors.data;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        kr_buf_puts(&b, "\n  ");
        kr_buf_append(&b, p, n);
        p = nl ? nl + 1 : p + n;
    }
    const char *s = kr_arena_strdup(t->arena, b.data);
    kr_buf_free(&b);
    return s;
}

static void typed_error(kr_typed_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void typed_error(kr_typed_t *t, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (t->nerrors++ > 0)
        kr_buf_puts(&t->errors, "\n");
    const char *path = kr_path_string(t->arena, t->path, t->depth);
    if (*path)
        kr_buf_printf(&t->errors, "%s: %s", path, msg);
    else
        kr_buf_puts(&t->errors, msg);
}

static bool push(kr_typed_t *t, const kr_pe_t *pe)
{
    if (t->depth + 1 >= PATH_MAX_DEPTH)
        return false;
    t->path[t->depth++] = *pe;
    return true;
}

static kr_pe_t field_pe(const char *name)
{
    kr_pe_t pe = {.type = KR_PE_FIELD, .name = name};
    return pe;
}

/* Where the last insertion into a set being built went: a walk inserts
 * paths in depth-first order, so most share all but their last element
 * with the one before. */
struct fs_cursor {
    size_t valid;         /* levels of pes whose sub-set is in sets */
    kr_pe_t *pes;         /* the elements of the last path */
    kr_fieldset_t **sets; /* sets[i]: the set holding level i */
};

static bool pe_same(const kr_pe_t *a, const kr_pe_t *b)
{
    return a->type == b->type && a->name == b->name && a->value == b->value && a->index == b->index;
}

static void insert_here(kr_typed_t *t, kr_fieldset_t *s)
{
    size_t n = t->depth;
    if (n == 0)
        return;
    struct fs_cursor *c = s->cursor;
    if (c == NULL) {
        c = s->cursor = kr_arena_alloc(t->arena, sizeof *c);
        c->valid = 0;
        c->pes = kr_arena_alloc(t->arena, PATH_MAX_DEPTH * sizeof *c->pes);
        c->sets = kr_arena_alloc(t->arena, PATH_MAX_DEPTH * sizeof *c->sets);
        c->sets[0] = s;
    }
    size_t k = 0;
    while (k < c->valid && k + 1 < n && pe_same(&c->pes[k], &t->path[k]))
        k++;
    for (size_t i = k; i < n; i++) {
        fs_node_t *node = fs_slot(t->arena, c->sets[i], &t->path[i]);
        if (i + 1 == n) {
            node->member = true;
            break;
        }
        if (node->sub == NULL)
            node->sub = kr_fieldset_new(t->arena);
        c->pes[i] = t->path[i];
        c->sets[i + 1] = node->sub;
    }
    c->valid = n - 1;
}

/* The path element of a list item (listItemToPathElement). */
static bool item_pe(kr_typed_t *t, const ty_t *ty, size_t i, const kr_value_t *item, kr_pe_t *pe)
{
    memset(pe, 0, sizeof *pe);
    kr_type_t k = kr_value_type(item);
    if (ty->list == L_MAP) {
        if (k == KR_NULL) {
            typed_error(t, "element %zu: associative list with keys may not have a null element",
                        i);
            return false;
        }
        if (k != KR_MAP) {
            typed_error(t, "element %zu: associative list with keys may not have non-map elements",
                        i);
            return false;
        }
        kr_value_t *key = kr_value_map(t->arena);
        const char *names[KEYS_MAX];
        const kr_value_t *vals[KEYS_MAX];
        for (size_t j = 0; j < ty->nkeys; j++) {
            names[j] = ty->keys[j];
            vals[j] = kr_value_map_get(item, ty->keys[j]);
            if (vals[j] == NULL)
                vals[j] = ty->defs[j];
            if (vals[j] == NULL) {
                typed_error(t,
                            "element %zu: associative list with keys has an element that omits "
                            "key field \"%s\" (and doesn't have default value)",
                            i, ty->keys[j]);
                return false;
            }
        }
        /* key fields sorted by name (FieldList.Sort) */
        for (size_t a = 1; a < ty->nkeys; a++)
            for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
                const char *tn = names[b];
                const kr_value_t *tv = vals[b];
                names[b] = names[b - 1];
                vals[b] = vals[b - 1];
                names[b - 1] = tn;
                vals[b - 1] = tv;
            }
        for (size_t j = 0; j < ty->nkeys; j++)
            kr_value_map_set(t->arena, key, names[j], (kr_value_t *)vals[j]);
        pe->type = KR_PE_KEY;
        pe->value = key;
        return true;
    }
    if (k == KR_MAP) {
        typed_error(t,
                    "element %zu: associative list without keys has an element that's a map "
                    "type",
                    i);
        return false;
    }
    if (k == KR_ARRAY) {
        typed_error(t, "element %zu: not supported: associative list with lists as elements", i);
        return false;
    }
    if (k == KR_NULL) {
        typed_error(t,
                    "element %zu: associative list without keys has an element that's an "
                    "explicit null",
                    i);
        return false;
    }
    pe->type = KR_PE_VALUE;
    pe->value = item;
    return true;
}

/* The items of an associative list by path element, first occurrence of
 * each (later duplicates are errors in a strict walk). */
typedef struct litems {
    size_t n;
    kr_pe_t *pe;
    const kr_value_t **v;
    size_t *order; /* indexes sorted by pe, for lookups */
} litems_t;

/* Sorts it->order by path element (a merge sort: qsort has no context). */
static void litems_sort(kr_arena_t *arena, litems_t *it)
{
    size_t n = it->n;
    size_t *tmp = kr_arena_alloc(arena, (n ? n : 1) * sizeof *tmp);
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid || b < hi)
                tmp[k++] = b >= hi || (a < mid &&
                                       kr_pe_cmp(&it->pe[it->order[a]], &it->pe[it->order[b]]) <= 0)
                               ? it->order[a++]
                               : it->order[b++];
        }
        memcpy(it->order, tmp, n * sizeof *tmp);
    }
}

static ssize_t litems_find(const litems_t *it, const kr_pe_t *pe)
{
    size_t lo = 0, hi = it->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = kr_pe_cmp(&it->pe[it->order[mid]], pe);
        if (c == 0)
            return (ssize_t)it->order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void litems_index(kr_typed_t *t, const ty_t *ty, const kr_value_t *list, litems_t *it)
{
    size_t n = kr_value_type(list) == KR_ARRAY ? kr_value_len(list) : 0, m = 0;
    it->pe = kr_arena_alloc(t->arena, (n ? n : 1) * sizeof *it->pe);
    it->v = kr_arena_alloc(t->arena, (n ? n : 1) * sizeof *it->v);
    it->order = kr_arena_alloc(t->arena, (n ? n : 1) * sizeof *it->order);
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *item = kr_value_array_get(list, i);
        if (!item_pe(t, ty, i, item, &it->pe[m]))
            continue;
        it->v[m] = item;
        it->order[m] = m;
        m++;
    }
    it->n = m;
    /* stable: of equal elements the first comes first, and is kept */
    litems_sort(t->arena, it);
    bool *dup = kr_arena_alloc(t->arena, (m ? m : 1) * sizeof *dup);
    memset(dup, 0, (m ? m : 1) * sizeof *dup);
    size_t ndup = 0;
    for (size_t k = 1; k < m; k++)
        if (kr_pe_cmp(&it->pe[it->order[k - 1]], &it->pe[it->order[k]]) == 0) {
            dup[it->order[k]] = true;
            ndup++;
        }
    if (ndup == 0)
        return;
    size_t *renum = kr_arena_alloc(t->arena, m * sizeof *renum), w = 0;
    for (size_t k = 0; k < m; k++) {
        if (dup[k]) {
            if (t->strict) {
                kr_buf_t b = KR_BUF_INIT;
                kr_buf_puts(&b, "");
                append_pe_string(&b, &it->pe[k]);
                typed_error(t, "duplicate entries for key %s", b.data);
                kr_buf_free(&b);
            }
            continue;
        }
        renum[k] = w;
        it->pe[w] = it->pe[k];
        it->v[w] = it->v[k];
        w++;
    }
    size_t o = 0;
    for (size_t k = 0; k < m; k++)
        if (!dup[it->order[k]])
            it->order[o++] = renum[it->order[k]];
    it->n = w;
}

/* ---- ToFieldSet -------------------------------------------------------- */

static void toset_walk(kr_typed_t *t, kr_fieldset_t *s, const kr_value_t *v, bool known);

static void toset_map(kr_typed_t *t, kr_fieldset_t *s, const ty_t *ty, const kr_value_t *v)
{
    for (size_t i = 0; i < kr_value_len(v); i++) {
        const char *key = kr_value_map_key(v, i);
        kr_pe_t pe = field_pe(key);
        if (!push(t, &pe))
            continue;
        size_t old = sp_push_field(t, ty, key);
        toset_walk(t, s, kr_value_map_val(v, i), ty->known);
        if (!is_named(ty, key))
            insert_here(t, s);
        sp_pop(t, old);
        t->depth--;
    }
}

static void toset_walk(kr_typed_t *t, kr_fieldset_t *s, const kr_value_t *v, bool known)
{
    ty_t ty;
    ty_lookup(t, known, &ty);
    kr_type_t k = kr_value_type(v);
    if (ty.k == TY_LIST && ty.list != L_ATOMIC && (k == KR_ARRAY || k == KR_NULL)) {
        litems_t it;
        litems_index(t, &ty, v, &it);
        for (size_t i = 0; i < it.n; i++) {
            if (!push(t, &it.pe[i]))
                continue;
            size_t old = sp_push_item(t);
            toset_walk(t, s, it.v[i], ty.known);
            insert_here(t, s);
            sp_pop(t, old);
            t->depth--;
        }
        return;
    }
    if ((ty.k == TY_MAP || ty.k == TY_DEDUCED) && !ty.atomic && k == KR_MAP) {
        toset_map(t, s, &ty, v);
        return;
    }
    if (ty.k == TY_MAP && !ty.atomic && k == KR_NULL)
        return;
    insert_here(t, s);
}

kr_fieldset_t *kr_typed_to_set(kr_typed_t *t, const kr_value_t *obj)
{
    kr_fieldset_t *s = kr_fieldset_new(t->arena);
    t->depth = 0;
    sp_pop(t, 0);
    toset_walk(t, s, obj, t->kind != NULL);
    return s;
}

/* ---- Compare ----------------------------------------------------------- */

static void cmp_walk(kr_typed_t *t, kr_comparison_t *c, const kr_value_t *l, const kr_value_t *r,
                     bool known);

static void cmp_child(kr_typed_t *t, kr_comparison_t *c, const ty_t *parent, const kr_pe_t *pe,
                      bool item, const kr_value_t *l, const kr_value_t *r)
{
    if (!push(t, pe))
        return;
    size_t old = item ? sp_push_item(t) : sp_push_field(t, parent, pe->name);
    cmp_walk(t, c, l, r, parent->known);
    sp_pop(t, old);
    t->depth--;
}

static void cmp_walk(kr_typed_t *t, kr_comparison_t *c, const kr_value_t *l, const kr_value_t *r,
                     bool known)
{
    ty_t ty;
    ty_lookup(t, known, &ty);
    int sh = shape_of(&ty, l, r);
    if (sh == SH_LEAF) {
        if (l == NULL)
            insert_here(t, c->added);
        else if (r == NULL)
            insert_here(t, c->removed);
        else if (!value_eq(l, r))
            insert_here(t, c->modified);
        return;
    }
    if (sh == SH_MAP) {
        for (size_t i = 0; i < kr_value_len(l); i++) {
            const char *key = kr_value_map_key(l, i);
            kr_pe_t pe = field_pe(key);
            cmp_child(t, c, &ty, &pe, false, kr_value_map_val(l, i), kr_value_map_get(r, key));
        }
        for (size_t i = 0; i < kr_value_len(r); i++) {
            const char *key = kr_value_map_key(r, i);
            if (kr_value_map_get(l, key) != NULL)
                continue;
            kr_pe_t pe = field_pe(key);
            cmp_child(t, c, &ty, &pe, false, NULL, kr_value_map_val(r, i));
        }
    } else {
        litems_t li, ri;
        litems_index(t, &ty, l, &li);
        litems_index(t, &ty, r, &ri);
        for (size_t i = 0; i < li.n; i++) {
            ssize_t j = litems_find(&ri, &li.pe[i]);
            cmp_child(t, c, &ty, &li.pe[i], true, li.v[i], j >= 0 ? ri.v[j] : NULL);
        }
        for (size_t j = 0; j < ri.n; j++)
            if (litems_find(&li, &ri.pe[j]) < 0)
                cmp_child(t, c, &ty, &ri.pe[j], true, NULL, ri.v[j]);
    }
    if (l == NULL)
        insert_here(t, c->added);
    else if (r == NULL)
        insert_here(t, c->removed);
}

void kr_typed_compare(kr_typed_t *t, const kr_value_t *lhs, const kr_value_t *rhs,
                      kr_comparison_t *out)
{
    out->added = kr_fieldset_new(t->arena);
    out->modified = kr_fieldset_new(t->arena);
    out->removed = kr_fieldset_new(t->arena);
    t->depth = 0;
    sp_pop(t, 0);
    if (lhs != NULL || rhs != NULL)
        cmp_walk(t, out, lhs, rhs, t->kind != NULL);
}

void kr_comparison_exclude(kr_arena_t *arena, kr_comparison_t *c, const kr_fieldset_t *ignored)
{
    if (kr_fieldset_empty(ignored))
        return;
    c->added = kr_fieldset_recursive_difference(arena, c->added, ignored);
    c->modified = kr_fieldset_recursive_difference(arena, c->modified, ignored);
    c->removed = kr_fieldset_recursive_difference(arena, c->removed, ignored);
}

/* ---- Merge ------------------------------------------------------------- */

static kr_value_t *merge_walk(kr_typed_t *t, const kr_value_t *l, const kr_value_t *r, bool known);

static kr_value_t *merge_child(kr_typed_t *t, const ty_t *parent, const kr_pe_t *pe, bool item,
                               const kr_value_t *l, const kr_value_t *r)
{
    if (!push(t, pe))
        return kr_value_copy(t->arena, r ? r : l);
    size_t old = item ? sp_push_item(t) : sp_push_field(t, parent, pe->name);
    kr_value_t *out = merge_walk(t, l, r, parent->known);
    sp_pop(t, old);
    t->depth--;
    return out;
}

/* Items of both lists, in upstream's order: an item only in lhs stays
 * where it was, items of rhs come in rhs's order (merged with their lhs
 * counterpart). */
static kr_value_t *merge_list(kr_typed_t *t, const ty_t *ty, const kr_value_t *l,
                              const kr_value_t *r)
{
    litems_t li, ri;
    litems_index(t, ty, l, &li);
    litems_index(t, ty, r, &ri);
    kr_value_t *out = kr_value_array(t->arena);
    /* the shared items in rhs order */
    size_t *shared = kr_arena_alloc(t->arena, (ri.n ? ri.n : 1) * sizeof *shared);
    size_t nshared = 0, next = 0;
    for (size_t j = 0; j < ri.n; j++)
        if (litems_find(&li, &ri.pe[j]) >= 0)
            shared[nshared++] = j;
    size_t i = 0, j = 0;
    /* each round takes one item or skips one lhs item: bounded */
    for (size_t round = 0; (i < li.n || j < ri.n) && round < 2 * (li.n + ri.n) + 2; round++) {
        const kr_pe_t *want = next < nshared ? &ri.pe[shared[next]] : NULL;
        if (i < li.n && j < ri.n) {
            if (kr_pe_cmp(&li.pe[i], &ri.pe[j]) == 0) {
                kr_value_array_push(t->arena, out,
                                    merge_child(t, ty, &li.pe[i], true, li.v[i], ri.v[j]));
                i++;
                j++;
                next++;
                continue;
            }
            if (litems_find(&ri, &li.pe[i]) >= 0 && want != NULL &&
                kr_pe_cmp(want, &li.pe[i]) != 0) {
                i++; /* a shared item, not the one this round wants */
                continue;
            }
        }
        if (i < li.n && litems_find(&ri, &li.pe[i]) < 0) {
            kr_value_array_push(t->arena, out, merge_child(t, ty, &li.pe[i], true, li.v[i], NULL));
            i++;
            continue;
        }
        if (j < ri.n) {
            ssize_t at = litems_find(&li, &ri.pe[j]);
            kr_value_array_push(
                t->arena, out,
                merge_child(t, ty, &ri.pe[j], true, at >= 0 ? li.v[at] : NULL, ri.v[j]));
            if (want != NULL && kr_pe_cmp(want, &ri.pe[j]) == 0)
                next++;
            j++;
            continue;
        }
        i++; /* an lhs item already taken with its rhs counterpart */
    }
    return out;
}

static kr_value_t *merge_walk(kr_typed_t *t, const kr_value_t *l, const kr_value_t *r, bool known)
{
    ty_t ty;
    ty_lookup(t, known, &ty);
    int sh = shape_of(&ty, l, r);
    if (sh == SH_LEAF)
        return kr_value_copy(t->arena, r ? r : l);
    if (sh == SH_LIST)
        return merge_list(t, &ty, l, r);
    kr_value_t *out = kr_value_map(t->arena);
    for (size_t i = 0; i < kr_value_len(l); i++) {
        const char *key = kr_value_map_key(l, i);
        kr_pe_t pe = field_pe(key);
        kr_value_map_set(
            t->arena, out, key,
            merge_child(t, &ty, &pe, false, kr_value_map_val(l, i), kr_value_map_get(r, key)));
    }
    for (size_t i = 0; i < kr_value_len(r); i++) {
        const char *key = kr_value_map_key(r, i);
        if (kr_value_map_get(l, key) != NULL)
            continue;
        kr_pe_t pe = field_pe(key);
        kr_value_map_set(t->arena, out, key,
                         merge_child(t, &ty, &pe, false, NULL, kr_value_map_val(r, i)));
    }
    return out;
}

kr_value_t *kr_typed_merge(kr_typed_t *t, const kr_value_t *lhs, const kr_value_t *rhs)
{
    t->depth = 0;
    sp_pop(t, 0);
    if (lhs == NULL && rhs == NULL)
        return NULL;
    return merge_walk(t, lhs, rhs, t->kind != NULL);
}

/* ---- RemoveItems ------------------------------------------------------- */

static kr_value_t *remove_walk(kr_typed_t *t, const kr_value_t *v, const kr_fieldset_t *s,
                               bool known)
{
    ty_t ty;
    ty_lookup(t, known, &ty);
    kr_type_t k = kr_value_type(v);
    if (ty.k == TY_SCALAR || (ty.k == TY_DEDUCED && k != KR_MAP && k != KR_ARRAY))
        return kr_value_copy(t->arena, v);
    /* what is left of a container is null when nothing is */
    if (ty.k == TY_LIST || (ty.k == TY_DEDUCED && k == KR_ARRAY)) {
        if (k != KR_ARRAY || kr_value_len(v) == 0 || ty.k == TY_DEDUCED || ty.list == L_ATOMIC)
            return NULL;
        litems_t it;
        litems_index(t, &ty, v, &it);
        kr_value_t *out = kr_value_array(t->arena);
        for (size_t i = 0; i < it.n; i++) {
            if (fs_member(s, &it.pe[i]))
                continue;
            const kr_fieldset_t *sub = kr_fieldset_child(s, &it.pe[i]);
            const kr_value_t *item = it.v[i];
            if (sub != NULL && push(t, &it.pe[i])) {
                size_t old = sp_push_item(t);
                item = remove_walk(t, item, sub, ty.known);
                sp_pop(t, old);
                t->depth--;
            }
            kr_value_array_push(t->arena, out,
                                item ? kr_value_copy(t->arena, item) : kr_value_null(t->arena));
        }
        return kr_value_len(out) ? out : NULL;
    }
    if (k != KR_MAP || kr_value_len(v) == 0 || ty.atomic)
        return NULL;
    kr_value_t *out = kr_value_map(t->arena);
    for (size_t i = 0; i < kr_value_len(v); i++) {
        const char *key = kr_value_map_key(v, i);
        kr_pe_t pe = field_pe(key);
        if (fs_member(s, &pe))
            continue;
        const kr_fieldset_t *sub = kr_fieldset_child(s, &pe);
        const kr_value_t *val = kr_value_map_val(v, i);
        if (sub != NULL && push(t, &pe)) {
            size_t old = sp_push_field(t, &ty, key);
            val = remove_walk(t, val, sub, ty.known);
            sp_pop(t, old);
            t->depth--;
        }
        kr_value_map_set(t->arena, out, key,
                         val ? kr_value_copy(t->arena, val) : kr_value_null(t->arena));
    }
    return kr_value_len(out) ? out : NULL;
}

kr_value_t *kr_typed_remove(kr_typed_t *t, const kr_value_t *obj, const kr_fieldset_t *s)
{
    t->depth = 0;
    sp_pop(t, 0);
    if (kr_fieldset_empty(s))
        return kr_value_copy(t->arena, obj);
    return remove_walk(t, obj, s, t->kind != NULL);
}

/* ---- EnsureNamedFieldsAreMembers ---------------------------------------- */

static kr_fieldset_t *named_walk(kr_typed_t *t, const kr_fieldset_t *s, bool known)
{
    ty_t ty;
    ty_lookup(t, known, &ty);
    kr_fieldset_t *out = kr_fieldset_new(t->arena);
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        const fs_node_t *x = &s->v[i];
        bool member = x->member;
        kr_fieldset_t *sub = NULL;
        if (x->sub != NULL) {
            if (x->pe.type == KR_PE_FIELD && is_named(&ty, x->pe.name))
                member = true;
            size_t old =
                x->pe.type == KR_PE_FIELD ? sp_push_field(t, &ty, x->pe.name) : sp_push_item(t);
            sub = named_walk(t, x->sub, ty.known);
            sp_pop(t, old);
        }
        fs_append(t->arena, out, &x->pe, member, sub);
    }
    return out;
}

kr_fieldset_t *kr_typed_ensure_named(kr_typed_t *t, const kr_fieldset_t *s)
{
    sp_pop(t, 0);
    return named_walk(t, s, t->kind != NULL);
}

/* ---- the empty object ---------------------------------------------------- */

/* Struct fields Go holds by value in the built-in types (so an empty
 * object already has them): ObjectMeta, specs, templates, strategies. */
static bool by_value(const char *name)
{
    static const char *const names[] = {"metadata", "spec",           "status",     "template",
                                        "strategy", "updateStrategy", "jobTemplate"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static bool required(const kr_value_t *s, const char *name)
{
    const kr_value_t *req = kr_value_map_get(s, "required");
    for (size_t i = 0; i < kr_value_len(req); i++)
        if (str_is(kr_value_array_get(req, i), name))
            return true;
    return false;
}

static kr_value_t *empty_struct(kr_typed_t *t, int depth)
{
    kr_value_t *out = kr_value_map(t->arena);
    const kr_value_t *s = kr_schema_at(t->kind, spath(t));
    const kr_value_t *props = kr_value_map_get(s, "properties");
    for (size_t i = 0; i < kr_value_len(props) && depth < EMPTY_MAX_DEPTH; i++) {
        const char *name = kr_value_map_key(props, i);
        if (depth == 0 && (strcmp(name, "apiVersion") == 0 || strcmp(name, "kind") == 0))
            continue;
        size_t old = sp_push_key(t, name);
        const kr_value_t *f = kr_schema_at(t->kind, spath(t));
        bool is_struct = kr_value_map_get(f, "properties") != NULL;
        if (is_struct && by_value(name))
            kr_value_map_set(t->arena, out, name, empty_struct(t, depth + 1));
        else if (required(s, name))
            kr_value_map_set(t->arena, out, name, kr_value_null(t->arena));
        sp_pop(t, old);
    }
    return out;
}

static kr_value_t *empty_object(kr_arena_t *arena, const kr_kind_t *kind)
{
    if (kind == NULL || kind->schema == NULL) {
        kr_value_t *o = kr_value_map(arena);
        kr_value_map_set(arena, o, "metadata", kr_value_map(arena));
        return o;
    }
    kr_typed_t t;
    kr_typed_init(&t, arena, kind);
    kr_value_t *o = empty_struct(&t, 0);
    kr_typed_fini(&t);
    return o;
}

const kr_value_t *kr_typed_empty_object(kr_typed_t *t)
{
    /* The same for every write of the kind (it walks ~60 schema fields):
     * built once and kept with the kind's schema memo. */
    const kr_value_t *o = kr_schema_derived(t->kind, "managed.empty-object", empty_object);
    return o != NULL ? o : empty_object(t->arena, t->kind);
}

/* ---- managedFields entries ----------------------------------------------- */

static void json_str(kr_arena_t *arena, kr_buf_t *b, const char *s)
{
    append_json(b, kr_value_str(arena, s));
}

const char *kr_managed_id(kr_arena_t *arena, const char *manager, bool apply,
                          const char *api_version, const char *subresource)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "{");
    if (manager != NULL && *manager) {
        kr_buf_puts(&b, "\"manager\":");
        json_str(arena, &b, manager);
        kr_buf_puts(&b, ",");
    }
    kr_buf_printf(&b, "\"operation\":\"%s\"", apply ? "Apply" : "Update");
    if (!apply && api_version != NULL && *api_version) {
        kr_buf_puts(&b, ",\"apiVersion\":");
        json_str(arena, &b, api_version);
    }
    if (subresource != NULL && *subresource) {
        kr_buf_puts(&b, ",\"subresource\":");
        json_str(arena, &b, subresource);
    }
    kr_buf_puts(&b, "}");
    const char *id = kr_arena_strdup(arena, b.data);
    kr_buf_free(&b);
    return id;
}

kr_managed_entry_t *kr_managed_find(kr_managed_t *m, const char *id)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].id, id) == 0)
            return &m->v[i];
    return NULL;
}

void kr_managed_put(kr_arena_t *arena, kr_managed_t *m, const kr_managed_entry_t *e)
{
    kr_managed_entry_t *have = kr_managed_find(m, e->id);
    if (have != NULL) {
        *have = *e;
        return;
    }
    m->v = arena_grow(arena, m->v, m->n, &m->cap, sizeof *m->v);
    m->v[m->n++] = *e;
}

void kr_managed_del(kr_managed_t *m, const char *id)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].id, id) == 0) {
            memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof *m->v);
            m->n--;
            return;
        }
}

int kr_managed_decode(kr_arena_t *arena, const kr_value_t *managed_fields, kr_managed_t *out,
                      kr_error_t *err)
{
    memset(out, 0, sizeof *out);
    kr_type_t t = kr_value_type(managed_fields);
    if (t == KR_NULL)
        return 0;
    if (t != KR_ARRAY)
        return kr_error_set(err, KR_E_BAD_REQUEST, "managedFields must be a list");
    for (size_t i = 0; i < kr_value_len(managed_fields); i++) {
        const kr_value_t *e = kr_value_array_get(managed_fields, i);
        if (kr_value_type(e) != KR_MAP)
            return kr_error_set(err, KR_E_BAD_REQUEST, "managed fields entry %zu is not an object",
                                i);
        const char *op = kr_value_map_str(e, "operation");
        if (op == NULL || (strcmp(op, "Apply") != 0 && strcmp(op, "Update") != 0))
            return kr_error_set(err, KR_E_BAD_REQUEST, "operation must be `Apply` or `Update`");
        const char *av = kr_value_map_str(e, "apiVersion");
        if (av == NULL || *av == '\0')
            return kr_error_set(err, KR_E_BAD_REQUEST, "apiVersion must not be empty");
        const char *ft = kr_value_map_str(e, "fieldsType");
        if (ft == NULL || *ft == '\0')
            return kr_error_set(err, KR_E_BAD_REQUEST,
                                "missing fieldsType in managed fields entry %zu", i);
        if (strcmp(ft, "FieldsV1") != 0)
            return kr_error_set(err, KR_E_BAD_REQUEST,
                                "invalid fieldsType \"%s\" in managed fields entry %zu", ft, i);
        kr_managed_entry_t me = {0};
        me.manager = kr_value_map_str(e, "manager");
        me.apply = strcmp(op, "Apply") == 0;
        me.api_version = av;
        me.subresource = kr_value_map_str(e, "subresource");
        if (me.subresource != NULL && *me.subresource == '\0')
            me.subresource = NULL;
        me.time = kr_value_map_str(e, "time");
        me.id = kr_managed_id(arena, me.manager, me.apply, av, me.subresource);
        if (kr_fieldset_from_fields(arena, kr_value_map_get(e, "fieldsV1"), &me.set, err) < 0)
            return kr_error_wrap(err, "error decoding versioned set from entry %zu", i);
        kr_managed_put(arena, out, &me);
    }
    return 0;
}

/* Unix seconds of an RFC 3339 time; 0 when absent or unreadable. */
static int64_t time_secs(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h, mi, sec;
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm);
    /* an offset other than Z */
    const char *z = s + 19;
    while (*z == '.' || isdigit((unsigned char)*z))
        z++;
    int oh, om;
    if ((*z == '+' || *z == '-') && sscanf(z + 1, "%2d:%2d", &oh, &om) == 2)
        t -= (*z == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
    return t;
}

static int strcmp0(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* sortEncodedManagedFields */
static int entry_order(const void *pa, const void *pb)
{
    const kr_managed_entry_t *a = pa, *b = pb;
    if (a->apply != b->apply)
        return a->apply ? -1 : 1; /* "Apply" < "Update" */
    int64_t ta = time_secs(a->time), tb = time_secs(b->time);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    int c = strcmp0(a->manager, b->manager);
    if (c == 0)
        c = strcmp0(a->api_version, b->api_version);
    if (c == 0)
        c = strcmp0(a->subresource, b->subresource);
    return c;
}

kr_value_t *kr_managed_encode(kr_arena_t *arena, const kr_managed_t *m)
{
    if (m->n == 0)
        return NULL;
    kr_managed_entry_t *v = kr_arena_alloc(arena, m->n * sizeof *v);
    memcpy(v, m->v, m->n * sizeof *v);
    qsort(v, m->n, sizeof *v, entry_order);
    kr_value_t *out = kr_value_array(arena);
    for (size_t i = 0; i < m->n; i++) {
        kr_value_t *e = kr_value_map(arena);
        if (v[i].manager != NULL && *v[i].manager)
            kr_value_map_set(arena, e, "manager", kr_value_str(arena, v[i].manager));
        kr_value_map_set(arena, e, "operation",
                         kr_value_str(arena, v[i].apply ? "Apply" : "Update"));
        kr_value_map_set(arena, e, "apiVersion", kr_value_str(arena, v[i].api_version));
        if (v[i].time != NULL)
            kr_value_map_set(arena, e, "time", kr_value_str(arena, v[i].time));
        kr_value_map_set(arena, e, "fieldsType", kr_value_str(arena, "FieldsV1"));
        kr_value_map_set(arena, e, "fieldsV1", kr_fieldset_to_fields(arena, v[i].set));
        if (v[i].subresource != NULL)
            kr_value_map_set(arena, e, "subresource", kr_value_str(arena, v[i].subresource));
        kr_value_array_push(arena, out, e);
    }
    return out;
}

void kr_managed_store(kr_arena_t *arena, kr_value_t *obj, const kr_managed_t *m)
{
    if (kr_value_type(obj) != KR_MAP)
        return;
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    kr_value_t *enc = kr_managed_encode(arena, m);
    if (kr_value_type(meta) != KR_MAP) {
        if (enc == NULL)
            return;
        meta = kr_value_map(arena);
        kr_value_map_set(arena, obj, "metadata", meta);
    }
    if (enc != NULL)
        kr_value_map_set(arena, meta, "managedFields", enc);
    else
        kr_value_map_del(meta, "managedFields");
}

kr_fieldset_t *kr_managed_strip_set(kr_arena_t *arena)
{
    static const char *const meta[] = {"name",       "namespace",     "creationTimestamp",
                                       "selfLink",   "uid",           "clusterName",
                                       "generation", "managedFields", "resourceVersion"};
    kr_fieldset_t *s = kr_fieldset_new(arena);
    kr_pe_t p[2] = {field_pe("apiVersion")};
    kr_fieldset_insert(arena, s, p, 1);
    p[0] = field_pe("kind");
    kr_fieldset_insert(arena, s, p, 1);
    p[0] = field_pe("metadata");
    kr_fieldset_insert(arena, s, p, 1);
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
        p[1] = field_pe(meta[i]);
        kr_fieldset_insert(arena, s, p, 2);
    }
    return s;
}

kr_fieldset_t *kr_managed_ignored(kr_arena_t *arena, const kr_kind_t *kind, const char *subresource)
{
    kr_fieldset_t *s = kr_fieldset_new(arena);
    kr_pe_t pe;
    if (subresource != NULL && strcmp(subresource, "status") == 0) {
        /* a status write keeps everything but status (core/api.c) */
        const kr_value_t *props = kr_value_map_get(kr_schema_at(kind, ""), "properties");
        for (size_t i = 0; i < kr_value_len(props); i++)
            if (strcmp(kr_value_map_key(props, i), "status") != 0) {
                pe = field_pe(kr_value_map_key(props, i));
                kr_fieldset_insert(arena, s, &pe, 1);
            }
        pe = field_pe("metadata");
        kr_fieldset_insert(arena, s, &pe, 1);
        pe = field_pe("spec");
        kr_fieldset_insert(arena, s, &pe, 1);
        return s;
    }
    if (subresource == NULL && kind != NULL && (kind->subresources & KR_SUB_STATUS)) {
        pe = field_pe("status");
        kr_fieldset_insert(arena, s, &pe, 1);
        return s;
    }
    return NULL;
}

/* capManagersManager.capUpdateManagers */
typedef struct upd_ref {
    const kr_managed_entry_t *e;
} upd_ref_t;

static int updater_order(const void *pa, const void *pb)
{
    const kr_managed_entry_t *a = ((const upd_ref_t *)pa)->e, *b = ((const upd_ref_t *)pb)->e;
    int64_t ta = time_secs(a->time), tb = time_secs(b->time);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(a->id, b->id);
}

void kr_managed_cap(kr_arena_t *arena, kr_managed_t *m)
{
    size_t nupd = 0;
    for (size_t i = 0; i < m->n; i++)
        nupd += !m->v[i].apply;
    if (nupd <= KR_MANAGED_MAX_UPDATERS)
        return;
    /* copies: entries move while buckets fill */
    kr_managed_entry_t *upd = kr_arena_alloc(arena, nupd * sizeof *upd);
    upd_ref_t *refs = kr_arena_alloc(arena, nupd * sizeof *refs);
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (!m->v[i].apply) {
            upd[k] = m->v[i];
            refs[k].e = &upd[k];
            k++;
        }
    qsort(refs, nupd, sizeof *refs, updater_order);
    const char **first_version = kr_arena_alloc(arena, nupd * sizeof *first_version);
    const char **first_id = kr_arena_alloc(arena, nupd * sizeof *first_id);
    size_t nfirst = 0, length = nupd;
    for (size_t i = 0; i < nupd && length > KR_MANAGED_MAX_UPDATERS; i++) {
        const kr_managed_entry_t *e = refs[i].e;
        const char *bucket = kr_managed_id(arena, "ancient-changes", false, e->api_version, NULL);
        size_t f = 0;
        while (f < nfirst && strcmp(first_version[f], e->api_version) != 0)
            f++;
        if (f == nfirst) {
            first_version[nfirst] = e->api_version;
            first_id[nfirst++] = e->id;
            continue;
        }
        kr_managed_entry_t *b = kr_managed_find(m, bucket);
        if (b == NULL) {
            /* the first entry of this version becomes the bucket */
            kr_managed_entry_t *first = kr_managed_find(m, first_id[f]);
            kr_managed_entry_t nb = *first;
            kr_managed_del(m, first_id[f]);
            nb.id = bucket;
            nb.manager = "ancient-changes";
            nb.apply = false;
            nb.subresource = NULL;
            kr_managed_put(arena, m, &nb);
            b = kr_managed_find(m, bucket);
        }
        b->set = kr_fieldset_union(arena, e->set, b->set);
        b->api_version = e->api_version;
        b->time = e->time; /* the newer of the two */
        kr_managed_del(m, e->id);
        length--;
    }
}

/* ---- updates ---------------------------------------------------------------- */

const char *kr_managed_manager_name(kr_arena_t *arena, const char *field_manager,
                                    const char *user_agent)
{
    if (field_manager != NULL && *field_manager)
        return kr_arena_strdup(arena, field_manager);
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "");
    for (const unsigned char *p = (const unsigned char *)(user_agent ? user_agent : "");
         *p && *p != '/'; p++) {
        /* printable characters only; multi-byte UTF-8 is kept whole */
        if (*p < 0x20 || *p == 0x7f)
            continue;
        size_t n = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
        if (b.len + n > KR_FIELD_MANAGER_MAX || strnlen((const char *)p, n) < n)
            break;
        kr_buf_append(&b, p, n);
        for (size_t i = 1; i < n && p[1]; i++)
            p++;
    }
    const char *s = kr_arena_strdup(arena, b.len ? b.data : "unknown");
    kr_buf_free(&b);
    return s;
}

kr_value_t *kr_managed_without(kr_arena_t *arena, const kr_value_t *obj)
{
    if (kr_value_type(obj) != KR_MAP)
        return (kr_value_t *)obj;
    kr_value_t *out = kr_value_map(arena);
    for (size_t i = 0; i < kr_value_len(obj); i++) {
        const char *k = kr_value_map_key(obj, i);
        kr_value_t *v = kr_value_map_val(obj, i);
        if (strcmp(k, "metadata") == 0 && kr_value_type(v) == KR_MAP) {
            kr_value_t *meta = kr_value_map(arena);
            for (size_t j = 0; j < kr_value_len(v); j++)
                if (strcmp(kr_value_map_key(v, j), "managedFields") != 0)
                    kr_value_map_set(arena, meta, kr_value_map_key(v, j), kr_value_map_val(v, j));
            v = meta;
        }
        kr_value_map_set(arena, out, k, v);
    }
    return out;
}

/* isResetManagedFields: [] or [{}]. */
static bool is_reset(const kr_value_t *mf)
{
    if (kr_value_type(mf) != KR_ARRAY)
        return false;
    if (kr_value_len(mf) == 0)
        return true;
    return kr_value_len(mf) == 1 && kr_value_type(kr_value_array_get(mf, 0)) == KR_MAP &&
           kr_value_len(kr_value_array_get(mf, 0)) == 0;
}

int kr_managed_record_update(kr_typed_t *t, kr_managed_t *m, const kr_value_t *base,
                             const kr_value_t *obj, const char *id, const char *manager,
                             const char *subresource, const char *now)
{
    kr_arena_t *a = t->arena;
    kr_comparison_t c;
    kr_typed_compare(t, base, obj, &c);
    if (t->nerrors > 0)
        return -1;
    kr_comparison_exclude(a, &c, kr_managed_ignored(a, t->kind, subresource));
    kr_fieldset_t *changed = kr_fieldset_union(a, c.modified, c.added);
    for (size_t i = 0; i < m->n;) {
        kr_managed_entry_t *e = &m->v[i];
        e->set = kr_fieldset_difference(a, kr_fieldset_difference(a, e->set, changed), c.removed);
        if (kr_fieldset_empty(e->set)) {
            kr_managed_del(m, e->id);
            continue;
        }
        i++;
    }
    kr_fieldset_t *cur = kr_fieldset_difference(a, changed, c.removed);
    cur = kr_fieldset_difference(a, cur, kr_managed_strip_set(a));
    if (kr_fieldset_empty(cur))
        return 0;
    kr_managed_entry_t *prev = kr_managed_find(m, id);
    kr_managed_entry_t e = {
        .id = id,
        .manager = manager,
        .apply = false,
        .api_version = t->kind ? t->kind->api_version : "v1",
        .subresource = subresource,
        .time = now,
        .set = prev ? kr_fieldset_union(a, cur, prev->set) : cur,
    };
    kr_managed_put(a, m, &e);
    kr_managed_cap(a, m);
    return 0;
}

void kr_managed_update(kr_arena_t *arena, const kr_kind_t *kind, const kr_value_t *live,
                       kr_value_t *obj, const char *manager, const char *subresource,
                       const char *now)
{
    if (kr_value_type(obj) != KR_MAP)
        return;
    const char *sub = subresource && *subresource ? subresource : NULL;
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    const kr_value_t *live_mf = kr_value_get(live, "metadata.managedFields");
    const kr_value_t *new_mf = kr_value_map_get(meta, "managedFields");
    kr_managed_t m;
    kr_error_t err;
    /* decodeLiveOrNew: a client may rewrite managedFields, or reset them
     * with [] or [{}], except through a subresource; what it cannot say
     * comes from the stored object */
    bool have = false;
    if (sub == NULL && is_reset(new_mf)) {
        memset(&m, 0, sizeof m);
        have = true;
    } else if (sub == NULL) {
        have = kr_managed_decode(arena, new_mf, &m, &err) == 0 && m.n > 0;
    }
    if (!have && kr_managed_decode(arena, live_mf, &m, &err) < 0)
        memset(&m, 0, sizeof m);
    if (kr_value_type(meta) == KR_MAP)
        kr_value_map_del(meta, "managedFields");
    /* skipnonapplied: an object stored without managedFields is not
     * tracked until it is applied to */
    if (m.n == 0 && live != NULL)
        return;
    kr_typed_t t;
    kr_typed_init(&t, arena, kind);
    const kr_value_t *base = live ? kr_managed_without(arena, live) : kr_typed_empty_object(&t);
    const char *who = manager && *manager ? manager : "unknown";
    const char *id = kr_managed_id(arena, who, false, kind ? kind->api_version : "v1", sub);
    if (kr_managed_record_update(&t, &m, base, obj, id, who, sub, now) < 0) {
        /* UpdateNoErrors: keep what the stored object said */
        if (live_mf != NULL && kr_value_type(meta) == KR_MAP)
            kr_value_map_set(arena, meta, "managedFields", kr_value_copy(arena, live_mf));
        kr_typed_fini(&t);
        return;
    }
    kr_typed_fini(&t);
    kr_managed_store(arena, obj, &m);
}

void kr_managed_check_options(kr_validation_t *v, bool apply, const char *field_manager,
                              bool force_set)
{
    const char *fm = field_manager ? field_manager : "";
    if (!apply && force_set)
        kr_field_forbidden(v, "force", "may not be specified for non-apply patch");
    if (apply && *fm == '\0')
        kr_field_required(v, "fieldManager", "is required for apply patch");
    size_t n = strlen(fm);
    if (n > KR_FIELD_MANAGER_MAX)
        kr_field_error(v, KR_FIELD_TOO_LONG, "fieldManager", NULL, "must have at most %d bytes",
                       KR_FIELD_MANAGER_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)fm[i];
        if (c < 0x20 || c == 0x7f) {
            kr_field_error(v, KR_FIELD_INVALID, "fieldManager", kr_value_str(v->arena, fm),
                           "invalid character U+%04X (at position %zu)", c, i);
            break;
        }
    }
}
