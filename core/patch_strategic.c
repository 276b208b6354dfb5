/* Strategic merge patch, the patch kubectl sends by default.
 *
 * This follows the server half of k8s.io/apimachinery's
 * pkg/util/strategicpatch (StrategicMergeMapPatch: mergeMap, mergeSlice and
 * their directives) step for step, because clients depend on its exact
 * results, list orders included.  The patch metadata that upstream reads
 * from Go struct tags comes from the kind's OpenAPI schema here
 * (x-kubernetes-patch-strategy, x-kubernetes-patch-merge-key), which is
 * generated from those same tags.  Upstream fails on a field its Go type
 * does not have; our schemas describe Kubernetes v1.14, so a field they do
 * not describe merges as in a JSON merge patch (maps merged, lists
 * replaced) instead.
 *
 * Errors carry upstream's text and the status its API server gives them:
 * BadRequest for malformed directives, Invalid for lists of lists, and a
 * 500 for everything strategicpatch returns as a plain Go error (the API
 * server does not classify those).  Values in messages are printed the
 * way Go's %v prints decoded JSON ("map[image:nginx]"). */
#include "patch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

#define DIRECTIVE        "$patch"
#define RETAIN_KEYS      "$retainKeys"
#define DELETE_PRIMITIVE "$deleteFromPrimitiveList"
#define SET_ORDER        "$setElementOrder"

#define GO_MAP   "map[string]interface {}"
#define GO_SLICE "[]interface {}"

/* Formatting a value for a message stops past this many bytes (the error
 * holds KR_ERROR_MSG_MAX). */
#define GO_FMT_LIMIT (2 * KR_ERROR_MSG_MAX)

typedef struct smp {
    kr_arena_t *arena;
    const kr_kind_t *kind; /* NULL: no schema */
    /* Path of the field being merged, in kr_schema_at's syntax; lost when a
     * key cannot be written in it (a map key holding '"'), and then nothing
     * below is described. */
    kr_buf_t path;
    bool lost;
    int depth;
    int rc;
    kr_error_t *err;
} smp_t;

typedef struct mark {
    size_t len;
    bool lost;
} mark_t;

/* Patch metadata of a field, as upstream's LookupPatchMetadataFor*. */
typedef struct meta {
    const char *strategy;  /* "merge", "replace" or "" (retainKeys split off) */
    const char *merge_key; /* "" when none */
} meta_t;

/* A list being worked on (arena-backed). */
typedef struct vec {
    kr_value_t **v;
    size_t n, cap;
} vec_t;

/* ---- lists ---------------------------------------------------------------- */

static void vec_push(kr_arena_t *arena, vec_t *x, kr_value_t *item)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 8;
        kr_value_t **v = kr_arena_alloc(arena, cap * sizeof(*v));
        if (x->n)
            memcpy(v, x->v, x->n * sizeof(*v));
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = item;
}

static vec_t vec_of(kr_arena_t *arena, const kr_value_t *arr)
{
    vec_t x = {0};
    for (size_t i = 0; i < kr_value_len(arr) && kr_value_type(arr) == KR_ARRAY; i++)
        vec_push(arena, &x, kr_value_array_get(arr, i));
    return x;
}

static kr_value_t *vec_array(kr_arena_t *arena, const vec_t *x)
{
    kr_value_t *arr = kr_value_array(arena);
    for (size_t i = 0; i < x->n; i++)
        kr_value_array_push(arena, arr, x->v[i]);
    return arr;
}

/* ---- Go's view of decoded JSON ---------------------------------------------- */

/* Go's == on two interface{} holding decoded JSON: same type and value;
 * absent and null are both nil.  Go panics comparing maps or slices; they
 * never match here. */
static bool go_eq(const kr_value_t *a, const kr_value_t *b)
{
    kr_type_t ta = kr_value_type(a), tb = kr_value_type(b);
    if (ta != tb || ta == KR_ARRAY || ta == KR_MAP)
        return false;
    return ta == KR_NULL || kr_value_equal(a, b);
}

/* reflect.TypeOf(v).String() for decoded JSON (integers are int64: the API
 * server decodes patches keeping integers). */
static const char *go_type(const kr_value_t *v)
{
    switch (kr_value_type(v)) {
    case KR_NULL:
        return "%!s(<nil>)";
    case KR_BOOL:
        return "bool";
    case KR_INT:
        return "int64";
    case KR_FLOAT:
        return "float64";
    case KR_STR:
        return "string";
    case KR_ARRAY:
        return GO_SLICE;
    case KR_MAP:
        return GO_MAP;
    }
    return "";
}

/* strconv.FormatFloat(d, 'g', -1, 64) as fmt's %v uses it: the shortest
 * digits that read back, in %e form when the exponent is < -4 or >= 6. */
static void go_float(kr_buf_t *b, double d)
{
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e' && nd < sizeof(digits) - 1; p++)
        if (*p != '.')
            digits[nd++] = *p;
    digits[nd] = '\0';
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    if (neg)
        kr_buf_puts(b, "-");
    if (exp < -4 || exp >= 6) {
        kr_buf_printf(b, "%c", digits[0]);
        if (nd > 1)
            kr_buf_printf(b, ".%s", digits + 1);
        kr_buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        kr_buf_puts(b, "0.");
        for (int i = -1; i > exp; i--)
            kr_buf_puts(b, "0");
        kr_buf_puts(b, digits);
    } else if ((size_t)exp + 1 >= nd) {
        kr_buf_puts(b, digits);
        for (size_t i = nd; i < (size_t)exp + 1; i++)
            kr_buf_puts(b, "0");
    } else {
        kr_buf_printf(b, "%.*s.%s", exp + 1, digits, digits + exp + 1);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* fmt's %v (verb_s false) or %s of decoded JSON: maps with sorted keys as
 * map[k:v ...], slices as [a b], nil as <nil>; %s marks what is not a
 * string (%!s(int64=1)). */
static void go_fmt(kr_arena_t *arena, kr_buf_t *b, const kr_value_t *v, bool verb_s)
{
    if (b->len > GO_FMT_LIMIT)
        return;
    switch (kr_value_type(v)) {
    case KR_NULL:
        kr_buf_puts(b, verb_s ? "%!s(<nil>)" : "<nil>");
        break;
    case KR_BOOL:
    case KR_INT:
    case KR_FLOAT:
        /* %s of a non-string reads %!s(type=value) */
        if (verb_s)
            kr_buf_printf(b, "%%!s(%s=", go_type(v));
        if (kr_value_type(v) == KR_BOOL)
            kr_buf_puts(b, kr_value_as_bool(v, false) ? "true" : "false");
        else if (kr_value_type(v) == KR_INT)
            kr_buf_printf(b, "%" PRId64, kr_value_as_int(v, 0));
        else
            go_float(b, kr_value_as_float(v, 0));
        if (verb_s)
            kr_buf_puts(b, ")");
        break;
    case KR_STR:
        kr_buf_append(b, kr_value_as_str(v), kr_value_len(v));
        break;
    case KR_ARRAY:
        kr_buf_puts(b, "[");
        for (size_t i = 0; i < kr_value_len(v); i++) {
            if (i)
                kr_buf_puts(b, " ");
            go_fmt(arena, b, kr_value_array_get(v, i), verb_s);
        }
        kr_buf_puts(b, "]");
        break;
    case KR_MAP: {
        size_t n = kr_value_len(v);
        const char **keys = kr_arena_alloc(arena, (n ? n : 1) * sizeof(*keys));
        for (size_t i = 0; i < n; i++)
            keys[i] = kr_value_map_key(v, i);
        qsort(keys, n, sizeof(*keys), cmp_str);
        kr_buf_puts(b, "map[");
        for (size_t i = 0; i < n; i++) {
            kr_buf_printf(b, "%s%s:", i ? " " : "", keys[i]);
            go_fmt(arena, b, kr_value_map_get(v, keys[i]), verb_s);
        }
        kr_buf_puts(b, "]");
        break;
    }
    }
}

/* The %v text of a value, owned by the arena. */
static const char *go_str(smp_t *s, const kr_value_t *v, bool verb_s)
{
    kr_buf_t b = KR_BUF_INIT;
    go_fmt(s->arena, &b, v, verb_s);
    char *out = kr_arena_strdup(s->arena, b.data ? b.data : "");
    kr_buf_free(&b);
    return out;
}

/* fmt.Sprint of [][]interface{}{a, b}. */
static const char *go_str_lists(smp_t *s, const vec_t *a, const vec_t *b)
{
    kr_value_t *both = kr_value_array(s->arena);
    kr_value_array_push(s->arena, both, vec_array(s->arena, a));
    kr_value_array_push(s->arena, both, vec_array(s->arena, b));
    return go_str(s, both, false);
}

/* ---- errors ----------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void fail(smp_t *s, kr_reason_t reason,
                                                       const char *fmt, ...)
{
    char msg[KR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->rc = kr_error_set(s->err, reason, "%s", msg);
}

/* mergepatch.ErrNoMergeKey */
static void fail_no_merge_key(smp_t *s, const kr_value_t *m, const char *key)
{
    fail(s, KR_E_INTERNAL, "map: %s does not contain declared merge key: %s", go_str(s, m, false),
         key);
}

/* mergepatch.ErrBadArgType */
static void fail_bad_arg_type(smp_t *s, const char *expected, const kr_value_t *actual)
{
    fail(s, KR_E_INTERNAL, "expected a %s, but received a %s", expected, go_type(actual));
}

/* mergepatch.ErrBadPatchType */
static void fail_bad_patch_type(smp_t *s, const kr_value_t *t, const kr_value_t *m)
{
    fail(s, KR_E_INTERNAL, "unknown patch type: %s in map: %s", go_str(s, t, true),
         go_str(s, m, false));
}

/* The sentinel errors the API server maps to statuses of their own
 * (interpretStrategicMergePatchError). */
static void fail_primitive_list_format(smp_t *s)
{
    fail(s, KR_E_BAD_REQUEST, "invalid patch format of primitive list");
}

static void fail_retain_keys_format(smp_t *s)
{
    fail(s, KR_E_BAD_REQUEST, "invalid patch format of retainKeys");
}

static void fail_set_order_format(smp_t *s)
{
    fail(s, KR_E_BAD_REQUEST, "invalid patch format of setElementOrder list");
}

/* ErrNoListOfLists is answered with NewGenericServerResponse(422), whose
 * message is the generic one. */
static void fail_list_of_lists(smp_t *s)
{
    fail(s, KR_E_INVALID, "the server rejected our request due to an error in our request");
}

/* ---- schema ----------------------------------------------------------------- */

static mark_t path_push_key(smp_t *s, const char *key)
{
    mark_t m = {s->path.len, s->lost};
    if (*key != '\0' && strpbrk(key, ".[") == NULL)
        kr_buf_printf(&s->path, ".%s", key);
    else if (strchr(key, '"') == NULL)
        kr_buf_printf(&s->path, "[\"%s\"]", key);
    else
        s->lost = true;
    return m;
}

static mark_t path_push_items(smp_t *s)
{
    mark_t m = {s->path.len, s->lost};
    kr_buf_puts(&s->path, "[0]");
    return m;
}

static void path_pop(smp_t *s, mark_t m)
{
    s->path.len = m.len;
    if (s->path.data != NULL)
        s->path.data[m.len] = '\0';
    s->lost = m.lost;
}

static const char *path_now(const smp_t *s)
{
    return s->path.data != NULL ? s->path.data : "";
}

/* The metadata of the field at the current path (extractRetainKeysPatchStrategy
 * applied); false with the error set for a strategy upstream refuses. */
static bool field_meta(smp_t *s, meta_t *m)
{
    m->strategy = "";
    m->merge_key = "";
    if (s->kind == NULL || s->lost)
        return true;
    const char *key = kr_schema_merge_key(s->kind, path_now(s));
    if (key != NULL)
        m->merge_key = key;
    const char *st = kr_schema_patch_strategy(s->kind, path_now(s));
    if (st == NULL)
        return true;
    /* strings.Split(st, ","): one strategy, or two of which one is
     * retainKeys. */
    const char *comma = strchr(st, ',');
    if (comma == NULL) {
        m->strategy = strcmp(st, "retainKeys") == 0 ? "" : st;
        return true;
    }
    const char *second = comma + 1;
    if (strchr(second, ',') == NULL) {
        if (strncmp(st, "retainKeys", (size_t)(comma - st)) == 0 && comma - st == 10) {
            m->strategy = second;
            return true;
        }
        if (strcmp(second, "retainKeys") == 0) {
            m->strategy = kr_arena_strndup(s->arena, st, (size_t)(comma - st));
            return true;
        }
    }
    kr_buf_t parts = KR_BUF_INIT;
    for (const char *p = st; *p; p++)
        kr_buf_printf(&parts, "%c", *p == ',' ? ' ' : *p);
    fail(s, KR_E_INTERNAL, "unexpected patch strategy: [%s]", parts.data);
    kr_buf_free(&parts);
    return false;
}

/* PatchMetaFromStruct's Name() of a list's items: the Go kind of its
 * element type, as the schema tells it. */
static const char *items_kind(smp_t *s)
{
    mark_t m = path_push_items(s);
    const kr_value_t *items =
        s->kind != NULL && !s->lost ? kr_schema_at(s->kind, path_now(s)) : NULL;
    path_pop(s, m);
    const char *type = kr_value_map_str(items, "type");
    const char *format = kr_value_map_str(items, "format");
    if (type == NULL)
        return items != NULL ? "struct" : "interface";
    if (strcmp(type, "object") == 0)
        return kr_value_map_get(items, "properties") != NULL ? "struct" : "map";
    if (strcmp(type, "integer") == 0)
        return format != NULL ? format : "int";
    if (strcmp(type, "number") == 0)
        return "float64";
    if (strcmp(type, "boolean") == 0)
        return "bool";
    return type;
}

/* ---- directives ------------------------------------------------------------- */

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* extractKey: "<prefix>/<key>" -> key; NULL when the key is not of that
 * form. */
static const char *directive_key(const char *key, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(key, prefix, n) != 0 || key[n] != '/')
        return NULL;
    return key + n + 1;
}

/* removeDirectives: drops every map holding "$patch" (and the field or
 * item holding it); false when `v` itself is such a map. */
static bool remove_directives(kr_value_t *v)
{
    if (kr_value_type(v) == KR_MAP) {
        if (kr_value_map_get(v, DIRECTIVE) != NULL)
            return false;
        for (size_t i = 0; i < kr_value_len(v);) {
            if (remove_directives(kr_value_map_val(v, i)))
                i++;
            else
                kr_value_map_del(v, kr_value_map_key(v, i));
        }
    } else if (kr_value_type(v) == KR_ARRAY) {
        for (size_t i = 0; i < kr_value_len(v);) {
            if (remove_directives(kr_value_array_get(v, i)))
                i++;
            else
                kr_value_array_remove(v, i);
        }
    }
    return true;
}

/* discardNullValuesFromPatch: a null in a map is dropped. */
static void discard_nulls(kr_value_t *v)
{
    if (kr_value_type(v) == KR_MAP) {
        for (size_t i = 0; i < kr_value_len(v);) {
            kr_value_t *c = kr_value_map_val(v, i);
            if (kr_value_type(c) == KR_NULL) {
                kr_value_map_del(v, kr_value_map_key(v, i));
                continue;
            }
            discard_nulls(c);
            i++;
        }
    } else if (kr_value_type(v) == KR_ARRAY) {
        for (size_t i = 0; i < kr_value_len(v); i++)
            discard_nulls(kr_value_array_get(v, i));
    }
}

static bool is_directive_key(const char *k)
{
    return k[0] == '$' && (strcmp(k, DIRECTIVE) == 0 || strcmp(k, RETAIN_KEYS) == 0 ||
                           has_prefix(k, SET_ORDER) || has_prefix(k, DELETE_PRIMITIVE));
}

/* Upstream's result is decoded into the kind's Go type, which drops the
 * directive keys a patch can leave where it is taken whole (a `$patch:
 * replace` map, a replaced list, a new item); our objects keep unknown
 * fields, so they are dropped here. */
static void strip_directive_keys(kr_value_t *v)
{
    if (kr_value_type(v) == KR_MAP) {
        for (size_t i = 0; i < kr_value_len(v);) {
            if (is_directive_key(kr_value_map_key(v, i))) {
                kr_value_map_del(v, kr_value_map_key(v, i));
                continue;
            }
            strip_directive_keys(kr_value_map_val(v, i));
            i++;
        }
    } else if (kr_value_type(v) == KR_ARRAY) {
        for (size_t i = 0; i < kr_value_len(v); i++)
            strip_directive_keys(kr_value_array_get(v, i));
    }
}

/* ---- ordering ----------------------------------------------------------------- */

/* The merge key's value in a list item (NULL when absent or not a map). */
static const kr_value_t *key_of(const kr_value_t *item, const char *merge_key)
{
    return kr_value_type(item) == KR_MAP ? kr_value_map_get(item, merge_key) : NULL;
}

/* index(): position of `val` in `l` by merge key (maps) or value. */
static long index_of(const vec_t *l, const kr_value_t *val, const char *merge_key, bool maps)
{
    for (size_t i = 0; i < l->n; i++) {
        bool eq =
            maps ? go_eq(key_of(val, merge_key), key_of(l->v[i], merge_key)) : go_eq(val, l->v[i]);
        if (eq)
            return (long)i;
    }
    return -1;
}

/* An item and its position in the order it is sorted by (-1: absent). */
typedef struct ranked {
    kr_value_t *item;
    long at;
} ranked_t;

/* normalizeSliceOrder's less: by position when both are in the order,
 * otherwise true.  That is not a strict order, so the result depends on
 * the sort; Go's sort.SliceStable is reproduced below for that reason. */
static bool ranked_less(const ranked_t *r, size_t i, size_t j)
{
    return r[i].at >= 0 && r[j].at >= 0 ? r[i].at < r[j].at : true;
}

static void ranked_swap(ranked_t *r, size_t i, size_t j)
{
    ranked_t t = r[i];
    r[i] = r[j];
    r[j] = t;
}

static void insertion_sort(ranked_t *r, size_t a, size_t b)
{
    for (size_t i = a + 1; i < b; i++)
        for (size_t j = i; j > a && ranked_less(r, j, j - 1); j--)
            ranked_swap(r, j, j - 1);
}

static void swap_range(ranked_t *r, size_t a, size_t b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ranked_swap(r, a + i, b + i);
}

static void rotate(ranked_t *r, size_t a, size_t m, size_t b)
{
    size_t i = m - a, j = b - m;
    while (i != j) {
        if (i > j) {
            swap_range(r, m - i, m, j);
            i -= j;
        } else {
            swap_range(r, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(r, m - i, m, i);
}

static void sym_merge(ranked_t *r, size_t a, size_t m, size_t b)
{
    if (m - a == 1) {
        size_t i = m, j = b;
        while (i < j) {
            size_t h = (i + j) / 2;
            if (ranked_less(r, h, a))
                i = h + 1;
            else
                j = h;
        }
        for (size_t k = a; k + 1 < i; k++)
            ranked_swap(r, k, k + 1);
        return;
    }
    if (b - m == 1) {
        size_t i = a, j = m;
        while (i < j) {
            size_t h = (i + j) / 2;
            if (!ranked_less(r, m, h))
                i = h + 1;
            else
                j = h;
        }
        for (size_t k = m; k > i; k--)
            ranked_swap(r, k, k - 1);
        return;
    }
    size_t mid = (a + b) / 2, n = mid + m, start, end, hi;
    if (m > mid) {
        start = n - b;
        hi = mid;
    } else {
        start = a;
        hi = m;
    }
    size_t p = n - 1;
    while (start < hi) {
        size_t c = (start + hi) / 2;
        if (!ranked_less(r, p - c, c))
            start = c + 1;
        else
            hi = c;
    }
    end = n - start;
    if (start < m && m < end)
        rotate(r, start, m, end);
    if (a < start && start < mid)
        sym_merge(r, a, start, mid);
    if (mid < end && end < b)
        sym_merge(r, mid, end, b);
}

static void stable_sort(ranked_t *r, size_t n)
{
    size_t block = 20, a = 0, b = block;
    for (; b <= n; a = b, b += block)
        insertion_sort(r, a, b);
    insertion_sort(r, a, n);
    for (; block < n; block *= 2) {
        for (a = 0, b = 2 * block; b <= n; a = b, b += 2 * block)
            sym_merge(r, a, a + block, b);
        if (a + block < n)
            sym_merge(r, a, a + block, n);
    }
}

/* validateMergeKeyInLists */
static bool check_merge_keys(smp_t *s, const vec_t *l, const char *merge_key)
{
    for (size_t i = 0; i < l->n; i++) {
        if (kr_value_type(l->v[i]) != KR_MAP) {
            fail_bad_arg_type(s, GO_MAP, l->v[i]);
            return false;
        }
        if (kr_value_map_get(l->v[i], merge_key) == NULL) {
            fail_no_merge_key(s, l->v[i], merge_key);
            return false;
        }
    }
    return true;
}

static bool is_delete_item(const kr_value_t *v)
{
    const char *d = kr_value_map_str(v, DIRECTIVE);
    return d != NULL && strcmp(d, "delete") == 0;
}

/* normalizeSliceOrder: `l` sorted by the positions of its items in
 * `order`; items of maps marked `$patch: delete` go last. */
static bool sort_by(smp_t *s, vec_t *l, const vec_t *order, const char *merge_key, bool maps)
{
    vec_t deleted = {0};
    if (maps) {
        if (!check_merge_keys(s, l, merge_key) || !check_merge_keys(s, order, merge_key))
            return false;
        size_t kept = 0;
        for (size_t i = 0; i < l->n; i++) {
            if (is_delete_item(l->v[i]))
                vec_push(s->arena, &deleted, l->v[i]);
            else
                l->v[kept++] = l->v[i];
        }
        l->n = kept;
    }
    ranked_t *r = kr_arena_alloc(s->arena, (l->n ? l->n : 1) * sizeof(*r));
    for (size_t i = 0; i < l->n; i++)
        r[i] = (ranked_t){l->v[i], index_of(order, l->v[i], merge_key, maps)};
    stable_sort(r, l->n);
    for (size_t i = 0; i < l->n; i++)
        l->v[i] = r[i].item;
    for (size_t i = 0; i < deleted.n; i++)
        vec_push(s->arena, l, deleted.v[i]);
    return true;
}

/* mergeSortedSlice: server-only items (left) interleaved into the patch's
 * (right) by their positions in the live list. */
static vec_t merge_sorted(smp_t *s, const vec_t *left, const vec_t *right, const vec_t *server,
                          const char *merge_key, bool maps)
{
    vec_t out = {0};
    size_t i = 0, j = 0;
    while (i < left->n || j < right->n) {
        if (i >= left->n) {
            vec_push(s->arena, &out, right->v[j++]);
        } else if (j >= right->n) {
            vec_push(s->arena, &out, left->v[i++]);
        } else {
            long li = index_of(server, left->v[i], merge_key, maps);
            long ri = index_of(server, right->v[j], merge_key, maps);
            if (li >= 0 && ri >= 0 && li < ri)
                vec_push(s->arena, &out, left->v[i++]);
            else
                vec_push(s->arena, &out, right->v[j++]);
        }
    }
    return out;
}

/* normalizeElementOrder: patch items in the patch's order, server-only
 * items in the live order, the two interleaved. */
static bool normalize_order(smp_t *s, vec_t *patch_items, vec_t *server_only,
                            const vec_t *patch_order, const vec_t *server_order,
                            const char *merge_key, bool maps, vec_t *out)
{
    if (!sort_by(s, patch_items, patch_order, merge_key, maps) ||
        !sort_by(s, server_only, server_order, merge_key, maps))
        return false;
    *out = merge_sorted(s, server_only, patch_items, server_order, merge_key, maps);
    return true;
}

/* findMapInSliceBasedOnKeyValue: -1 not found, -2 error. */
static long find_by_key(smp_t *s, const vec_t *l, const char *merge_key, const kr_value_t *value)
{
    for (size_t i = 0; i < l->n; i++) {
        if (kr_value_type(l->v[i]) != KR_MAP) {
            fail(s, KR_E_INTERNAL, "value for key %zu is not a map.", i);
            return -2;
        }
        const kr_value_t *have = kr_value_map_get(l->v[i], merge_key);
        if (have != NULL && go_eq(have, value))
            return (long)i;
    }
    return -1;
}

/* partitionMapsByPresentInList / partitionPrimitivesByPresentInList:
 * the items of `merged` found in `by`, and the others. */
static bool partition(smp_t *s, const vec_t *merged, const vec_t *by, const char *merge_key,
                      vec_t *in, vec_t *out)
{
    *in = (vec_t){0};
    *out = (vec_t){0};
    for (size_t i = 0; i < merged->n; i++) {
        kr_value_t *v = merged->v[i];
        bool found;
        if (*merge_key == '\0') {
            found = index_of(by, v, "", false) >= 0;
        } else {
            if (kr_value_type(v) != KR_MAP) {
                fail_bad_arg_type(s, GO_MAP, v);
                return false;
            }
            const kr_value_t *kv = kr_value_map_get(v, merge_key);
            if (kv == NULL) {
                fail_no_merge_key(s, v, merge_key);
                return false;
            }
            long at = find_by_key(s, by, merge_key, kv);
            if (at == -2)
                return false;
            found = at >= 0;
        }
        vec_push(s->arena, found ? in : out, v);
    }
    return true;
}

/* sliceElementType of two lists: true with *maps set, or false with the
 * error set. */
static bool element_type(smp_t *s, const vec_t *a, const vec_t *b, bool *maps)
{
    const vec_t *lists[2] = {a, b};
    bool have = false;
    kr_type_t t = KR_NULL;
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->n; i++) {
            kr_type_t ti = kr_value_type(lists[l]->v[i]);
            if (!have) {
                have = true;
                t = ti;
                if (t == KR_ARRAY) {
                    fail_list_of_lists(s);
                    return false;
                }
            } else if (ti != t) {
                fail(s, KR_E_INTERNAL, "list element types are not identical: %s",
                     go_str_lists(s, a, b));
                return false;
            }
        }
    }
    if (!have) {
        fail(s, KR_E_INTERNAL, "no elements in any of the given slices");
        return false;
    }
    *maps = t == KR_MAP;
    return true;
}

/* ---- merging ------------------------------------------------------------------ */

static kr_value_t *merge_map(smp_t *s, kr_value_t *orig, kr_value_t *patch);

/* deduplicateScalars, keeping Go's order of operations (the order it
 * leaves is sorted out afterwards, but ties keep it). */
static void dedup_scalars(vec_t *l)
{
    if (l->n == 0)
        return;
    size_t length = l->n - 1;
    for (size_t i = 0; i < length; i++) {
        for (size_t j = i + 1; j <= length; j++) {
            if (go_eq(l->v[i], l->v[j])) {
                l->v[j] = l->v[length];
                length--;
                j--;
            }
        }
    }
    l->n = length + 1;
}

/* mergeSliceWithSpecialElements: applies `$patch: delete` items to
 * `orig`, notes `$patch: replace`, and leaves the other items in `plain`. */
static bool special_items(smp_t *s, vec_t *orig, const vec_t *patch, const char *merge_key,
                          vec_t *plain, bool *replace)
{
    *plain = (vec_t){0};
    *replace = false;
    for (size_t i = 0; i < patch->n; i++) {
        kr_value_t *v = patch->v[i];
        const kr_value_t *d = kr_value_map_get(v, DIRECTIVE);
        if (d == NULL) {
            vec_push(s->arena, plain, v);
            continue;
        }
        const char *ds = kr_value_as_str(d);
        if (ds != NULL && strcmp(ds, "delete") == 0) {
            const kr_value_t *kv = kr_value_map_get(v, merge_key);
            if (kv == NULL) {
                fail_no_merge_key(s, v, merge_key);
                return false;
            }
            for (;;) {
                long at = find_by_key(s, orig, merge_key, kv);
                if (at == -2)
                    return false;
                if (at < 0)
                    break;
                memmove(&orig->v[at], &orig->v[at + 1],
                        (orig->n - (size_t)at - 1) * sizeof(*orig->v));
                orig->n--;
            }
        } else if (ds != NULL && strcmp(ds, "replace") == 0) {
            *replace = true;
        } else if (ds != NULL && strcmp(ds, "merge") == 0) {
            fail(s, KR_E_INTERNAL, "merging lists cannot yet be specified in the patch");
            return false;
        } else {
            fail_bad_patch_type(s, d, v);
            return false;
        }
    }
    return true;
}

/* mergeSlice: a list with the merge strategy (or a deletion list).
 *
 * Upstream deletes from and appends to the live list in place, through Go
 * slices sharing its array, and $setElementOrder then orders by that array
 * as it was left: the items that survived, then the items appended, in as
 * many places as the list had.  `window` (may be NULL) gets that view; it
 * decides where server-only items land. */
static bool merge_slice(smp_t *s, vec_t orig, vec_t patch, const char *merge_key, bool delete_list,
                        vec_t *out, vec_t *window)
{
    if (window != NULL)
        *window = orig;
    if (orig.n == 0 && patch.n == 0) {
        *out = orig;
        return true;
    }
    bool maps;
    if (!element_type(s, &orig, &patch, &maps))
        return false;
    vec_t merged = {0};
    if (!maps) {
        if (delete_list) {
            /* deleteFromSlice */
            for (size_t i = 0; i < orig.n; i++)
                if (index_of(&patch, orig.v[i], "", false) < 0)
                    vec_push(s->arena, &merged, orig.v[i]);
            *out = merged;
            return true;
        }
        for (size_t i = 0; i < orig.n; i++)
            vec_push(s->arena, &merged, orig.v[i]);
        for (size_t i = 0; i < patch.n; i++)
            vec_push(s->arena, &merged, patch.v[i]);
        dedup_scalars(&merged);
    } else {
        if (*merge_key == '\0') {
            fail(s, KR_E_INTERNAL, "cannot merge lists without merge key for %s", items_kind(s));
            return false;
        }
        vec_t plain;
        bool replace;
        if (!special_items(s, &orig, &patch, merge_key, &plain, &replace))
            return false;
        size_t fill = orig.n; /* appends go after the survivors */
        if (replace) {
            orig = plain;
            patch = (vec_t){0};
        } else {
            patch = plain;
        }
        /* mergeSliceWithoutSpecialElements */
        for (size_t i = 0; i < orig.n; i++)
            vec_push(s->arena, &merged, orig.v[i]);
        mark_t m = path_push_items(s);
        for (size_t i = 0; i < patch.n; i++) {
            kr_value_t *v = patch.v[i];
            const kr_value_t *kv = kr_value_map_get(v, merge_key);
            if (kv == NULL) {
                path_pop(s, m);
                fail_no_merge_key(s, v, merge_key);
                return false;
            }
            long at = find_by_key(s, &merged, merge_key, kv);
            if (at == -2) {
                path_pop(s, m);
                return false;
            }
            if (at < 0) {
                vec_push(s->arena, &merged, v);
                if (window != NULL && fill < window->n)
                    window->v[fill++] = v;
                continue;
            }
            kr_value_t *mv = merge_map(s, merged.v[at], v);
            if (mv == NULL) {
                path_pop(s, m);
                return false;
            }
            merged.v[at] = mv;
        }
        path_pop(s, m);
    }
    vec_t in, rest;
    if (!partition(s, &merged, &patch, merge_key, &in, &rest))
        return false;
    return normalize_order(s, &in, &rest, &patch, &orig, merge_key, maps, out);
}

/* mergeSliceHandler */
static bool merge_slice_handler(smp_t *s, const kr_value_t *orig, const kr_value_t *patch,
                                const meta_t *m, bool delete_list, vec_t *out, vec_t *window)
{
    /* Deletion lists work the same whatever the field's strategy. */
    if (strcmp(m->strategy, "merge") == 0 || delete_list)
        return merge_slice(s, vec_of(s->arena, orig), vec_of(s->arena, patch), m->merge_key,
                           delete_list, out, window);
    *out = vec_of(s->arena, patch);
    if (window != NULL)
        *window = vec_of(s->arena, orig);
    return true;
}

/* applyRetainKeysDirective */
static bool apply_retain_keys(smp_t *s, kr_value_t *orig, kr_value_t *patch)
{
    kr_value_t *keep = kr_value_map_get(patch, RETAIN_KEYS);
    if (keep == NULL)
        return true;
    kr_value_map_del(patch, RETAIN_KEYS);
    if (kr_value_type(keep) != KR_ARRAY) {
        fail_retain_keys_format(s);
        return false;
    }
    size_t n = kr_value_len(keep);
    for (size_t i = 0; i < kr_value_len(patch); i++) {
        const char *k = kr_value_map_key(patch, i);
        if (kr_value_type(kr_value_map_val(patch, i)) == KR_NULL ||
            has_prefix(k, DELETE_PRIMITIVE) || has_prefix(k, SET_ORDER))
            continue;
        bool listed = false;
        for (size_t j = 0; j < n && !listed; j++) {
            const char *r = kr_value_as_str(kr_value_array_get(keep, j));
            listed = r != NULL && strcmp(r, k) == 0;
        }
        if (!listed) {
            fail_retain_keys_format(s);
            return false;
        }
    }
    for (size_t i = 0; i < kr_value_len(orig);) {
        const char *k = kr_value_map_key(orig, i);
        bool listed = false;
        for (size_t j = 0; j < n && !listed; j++) {
            const char *r = kr_value_as_str(kr_value_array_get(keep, j));
            listed = r != NULL && strcmp(r, k) == 0;
        }
        if (listed)
            i++;
        else
            kr_value_map_del(orig, k);
    }
    return true;
}

/* mergeKeyValueEqual; -1 on error. */
static int merge_key_equal(smp_t *s, const kr_value_t *l, const kr_value_t *r,
                           const char *merge_key)
{
    if (*merge_key == '\0')
        return go_eq(l, r);
    const kr_value_t *side[2] = {l, r};
    for (int i = 0; i < 2; i++) {
        if (kr_value_type(side[i]) != KR_MAP) {
            fail_bad_arg_type(s, GO_MAP, side[i]);
            return -1;
        }
        if (kr_value_map_get(side[i], merge_key) == NULL) {
            fail_no_merge_key(s, side[i], merge_key);
            return -1;
        }
    }
    return go_eq(kr_value_map_get(l, merge_key), kr_value_map_get(r, merge_key));
}

/* validatePatchWithSetOrderList: the patch's items (deletions aside) appear
 * in the order list, in the same relative order. */
static bool check_order(smp_t *s, const vec_t *patch, const kr_value_t *order_v,
                        const char *merge_key)
{
    vec_t order = vec_of(s->arena, order_v);
    if (order.n == 0 || patch->n == 0)
        return true;
    vec_t kept = {0};
    for (size_t i = 0; i < patch->n; i++) {
        if (*merge_key != '\0') {
            if (kr_value_type(patch->v[i]) != KR_MAP) {
                fail_bad_arg_type(s, GO_MAP, patch->v[i]);
                return false;
            }
            if (is_delete_item(patch->v[i]))
                continue;
        }
        vec_push(s->arena, &kept, patch->v[i]);
    }
    size_t pi = 0, oi = 0;
    while (pi < kept.n && oi < order.n) {
        if (kr_value_type(kept.v[pi]) == KR_MAP && kr_value_map_get(kept.v[pi], DIRECTIVE)) {
            pi++;
            continue;
        }
        int eq = merge_key_equal(s, kept.v[pi], order.v[oi], merge_key);
        if (eq < 0)
            return false;
        if (eq)
            pi++;
        oi++;
    }
    if (pi < kept.n && oi >= order.n) {
        kr_value_t *pl = vec_array(s->arena, patch);
        fail(s, KR_E_INTERNAL, "The order in patch list:\n%s\n doesn't match %s list:\n%s\n",
             go_str(s, pl, false), SET_ORDER, go_str(s, order_v, false));
        return false;
    }
    return true;
}

/* mergePatchIntoOriginal: each `$setElementOrder/<list>` with its list. */
static bool apply_set_orders(smp_t *s, kr_value_t *orig, kr_value_t *patch)
{
    for (;;) {
        size_t i = 0, n = kr_value_len(patch);
        while (i < n && !has_prefix(kr_value_map_key(patch, i), SET_ORDER))
            i++;
        if (i == n)
            return true;
        const char *dkey = kr_arena_strdup(s->arena, kr_value_map_key(patch, i));
        kr_value_t *order = kr_value_map_val(patch, i);
        kr_value_map_del(patch, dkey);
        if (kr_value_type(order) != KR_ARRAY) {
            fail_bad_arg_type(s, GO_SLICE, order);
            return false;
        }
        const char *key = directive_key(dkey, SET_ORDER);
        if (key == NULL) {
            fail_set_order_format(s);
            return false;
        }
        kr_value_t *ol = kr_value_map_get(orig, key);
        kr_value_t *pl = kr_value_map_get(patch, key);
        if (ol != NULL && kr_value_type(ol) != KR_ARRAY) {
            fail_bad_arg_type(s, GO_SLICE, ol);
            return false;
        }
        if (pl != NULL && kr_value_type(pl) != KR_ARRAY) {
            fail_bad_arg_type(s, GO_SLICE, pl);
            return false;
        }
        vec_t ov = vec_of(s->arena, ol), pv = vec_of(s->arena, pl);
        mark_t m = path_push_key(s, key);
        meta_t meta;
        bool ok = field_meta(s, &meta) && check_order(s, &pv, order, meta.merge_key);
        vec_t merged = {0}, live = ov;
        if (ok && ol != NULL && pl != NULL) {
            ok = merge_slice_handler(s, ol, pl, &meta, false, &merged, &live);
        } else if (ok && pl != NULL) {
            remove_directives(pl);
            merged = vec_of(s->arena, pl);
        } else if (ok && ol != NULL) {
            merged = ov;
        } else if (ok) {
            path_pop(s, m);
            continue;
        }
        vec_t order_v = vec_of(s->arena, order), in, rest, both;
        bool maps;
        ok = ok && partition(s, &merged, &order_v, meta.merge_key, &in, &rest) &&
             element_type(s, &ov, &pv, &maps) &&
             normalize_order(s, &in, &rest, &order_v, &live, meta.merge_key, maps, &both);
        path_pop(s, m);
        if (!ok)
            return false;
        kr_value_map_set(s->arena, orig, key, vec_array(s->arena, &both));
        kr_value_map_del(patch, key);
    }
}

/* handleDirectiveInMergeMap */
static kr_value_t *map_directive(smp_t *s, const kr_value_t *d, kr_value_t *patch)
{
    const char *ds = kr_value_as_str(d);
    if (ds != NULL && strcmp(ds, "replace") == 0) {
        kr_value_map_del(patch, DIRECTIVE);
        return patch;
    }
    if (ds != NULL && strcmp(ds, "delete") == 0)
        return kr_value_map(s->arena);
    fail_bad_patch_type(s, d, patch);
    return NULL;
}

/* A value the patch sets whole (the key is new, or its type changed). */
static void take_whole(smp_t *s, kr_value_t *orig, const char *k, kr_value_t *pv)
{
    discard_nulls(pv);
    if (remove_directives(pv))
        kr_value_map_set(s->arena, orig, k, pv);
    else
        kr_value_map_del(orig, k);
}

/* One key of the patch merged into `orig`; false on error. */
static bool merge_key_into(smp_t *s, kr_value_t *orig, const char *k, kr_value_t *pv)
{
    bool delete_list = false;
    if (has_prefix(k, DELETE_PRIMITIVE)) {
        const char *key = directive_key(k, DELETE_PRIMITIVE);
        if (key == NULL) {
            fail_primitive_list_format(s);
            return false;
        }
        delete_list = true;
        if (*key != '\0')
            k = key;
    }
    if (kr_value_type(pv) == KR_NULL) {
        kr_value_map_del(orig, k);
        return true;
    }
    kr_value_t *ov = kr_value_map_get(orig, k);
    if (ov == NULL || kr_value_type(ov) != kr_value_type(pv)) {
        if (!delete_list)
            take_whole(s, orig, k, pv);
        return true;
    }
    mark_t m = path_push_key(s, k);
    meta_t meta;
    bool ok = field_meta(s, &meta);
    kr_value_t *res = NULL;
    if (ok && kr_value_type(pv) == KR_MAP) {
        res = strcmp(meta.strategy, "replace") == 0 ? pv : merge_map(s, ov, pv);
        ok = res != NULL;
    } else if (ok && kr_value_type(pv) == KR_ARRAY) {
        vec_t out;
        ok = merge_slice_handler(s, ov, pv, &meta, delete_list, &out, NULL);
        if (ok)
            res = vec_array(s->arena, &out);
    } else if (ok) {
        res = pv;
    }
    path_pop(s, m);
    if (ok)
        kr_value_map_set(s->arena, orig, k, res);
    return ok;
}

/* mergeMap with the API server's options (parallel lists merged, nulls
 * without a match ignored).  `orig` and `patch` are ours to change;
 * returns the merged map, or NULL with the error set. */
static kr_value_t *merge_map(smp_t *s, kr_value_t *orig, kr_value_t *patch)
{
    if (s->depth >= KR_VALUE_MAX_DEPTH) {
        fail(s, KR_E_BAD_REQUEST, "strategic merge patch: nesting deeper than %d levels",
             KR_VALUE_MAX_DEPTH);
        return NULL;
    }
    const kr_value_t *d = kr_value_map_get(patch, DIRECTIVE);
    if (d != NULL)
        return map_directive(s, d, patch);
    if (orig == NULL)
        orig = kr_value_map(s->arena);
    s->depth++;
    bool ok = apply_retain_keys(s, orig, patch) && apply_set_orders(s, orig, patch);
    for (size_t i = 0; ok && i < kr_value_len(patch); i++)
        ok = merge_key_into(s, orig, kr_value_map_key(patch, i), kr_value_map_val(patch, i));
    s->depth--;
    return ok ? orig : NULL;
}

/* ---- entry -------------------------------------------------------------------- */

int kr_strategic_patch_apply(kr_arena_t *arena, const kr_kind_t *kind, const kr_value_t *target,
                             const kr_value_t *patch, kr_value_t **out, kr_error_t *err)
{
    *out = NULL;
    /* A custom resource has no Go type to read patch metadata from, so
     * the API server does not offer strategic merge for it. */
    if (kind != NULL && !kind->builtin)
        return kr_error_set(err, KR_E_UNSUPPORTED_MEDIA_TYPE,
                            "the body of the request was in an unknown format - accepted media "
                            "types include: application/json-patch+json, "
                            "application/merge-patch+json, application/apply-patch+yaml");
    kr_type_t pt = kr_value_type(patch);
    if (pt != KR_MAP && pt != KR_NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "json: cannot unmarshal %s into Go value of type " GO_MAP,
                            kr_go_json_type(patch));
    kr_value_t *orig =
        kr_value_type(target) == KR_MAP ? kr_value_copy(arena, target) : kr_value_map(arena);
    if (pt == KR_NULL) { /* a JSON null decodes into a nil map: nothing to do */
        *out = orig;
        return 0;
    }
    smp_t s = {.arena = arena, .kind = kind, .path = KR_BUF_INIT, .err = err};
    kr_value_t *res = merge_map(&s, orig, kr_value_copy(arena, patch));
    kr_buf_free(&s.path);
    if (res == NULL)
        return s.rc;
    strip_directive_keys(res);
    *out = res;
    return 0;
}
