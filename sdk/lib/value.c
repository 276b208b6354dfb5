/* The one value tree: constructors, accessors, arrays, maps, copy, equal. */
#include "value_internal.h"

#include <math.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kr_type_name(kr_type_t type)
{
    switch (type) {
    case KR_NULL:
        return "null";
    case KR_BOOL:
        return "boolean";
    case KR_INT:
        return "integer";
    case KR_FLOAT:
        return "number";
    case KR_STR:
        return "string";
    case KR_ARRAY:
        return "array";
    case KR_MAP:
        return "map";
    }
    return "unknown";
}

static kr_value_t *value_new(kr_arena_t *arena, kr_type_t type)
{
    kr_value_t *v = kr_arena_alloc(arena, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->type = (uint8_t)type;
    return v;
}

static void too_long(const char *what, size_t n)
{
    fprintf(stderr, "kraal: %s of %zu is too large for a value\n", what, n);
    abort();
}

kr_value_t *kr_value_null(kr_arena_t *arena)
{
    return value_new(arena, KR_NULL);
}

kr_value_t *kr_value_bool(kr_arena_t *arena, bool b)
{
    kr_value_t *v = value_new(arena, KR_BOOL);
    v->u.b = b;
    return v;
}

kr_value_t *kr_value_int(kr_arena_t *arena, int64_t i)
{
    kr_value_t *v = value_new(arena, KR_INT);
    v->u.i = i;
    return v;
}

kr_value_t *kr_value_float(kr_arena_t *arena, double d)
{
    kr_value_t *v = value_new(arena, KR_FLOAT);
    v->u.d = d;
    return v;
}

kr_value_t *kr_value_str(kr_arena_t *arena, const char *s)
{
    return kr_value_strn(arena, s, s == NULL ? 0 : strlen(s));
}

kr_value_t *kr_value_strn(kr_arena_t *arena, const char *s, size_t n)
{
    if (n > KR_VALUE_MAX_LEN)
        too_long("string", n);
    kr_value_t *v = value_new(arena, KR_STR);
    v->u.s = kr_arena_strndup(arena, s, n);
    v->len = (uint32_t)n;
    return v;
}

kr_value_t *kr_value_str_owned(kr_arena_t *arena, char *s, size_t len)
{
    if (len > KR_VALUE_MAX_LEN)
        too_long("string", len);
    kr_value_t *v = value_new(arena, KR_STR);
    v->u.s = s;
    v->len = (uint32_t)len;
    return v;
}

kr_value_t *kr_value_array(kr_arena_t *arena)
{
    return value_new(arena, KR_ARRAY);
}

kr_value_t *kr_value_map(kr_arena_t *arena)
{
    return value_new(arena, KR_MAP);
}

kr_type_t kr_value_type(const kr_value_t *v)
{
    return v == NULL ? KR_NULL : (kr_type_t)v->type;
}

bool kr_value_as_bool(const kr_value_t *v, bool dflt)
{
    return v != NULL && v->type == KR_BOOL ? v->u.b : dflt;
}

int64_t kr_value_as_int(const kr_value_t *v, int64_t dflt)
{
    return v != NULL && v->type == KR_INT ? v->u.i : dflt;
}

double kr_value_as_float(const kr_value_t *v, double dflt)
{
    if (v == NULL)
        return dflt;
    if (v->type == KR_FLOAT)
        return v->u.d;
    if (v->type == KR_INT)
        return (double)v->u.i;
    return dflt;
}

const char *kr_value_as_str(const kr_value_t *v)
{
    return v != NULL && v->type == KR_STR ? v->u.s : NULL;
}

const char *kr_value_str_ptr(const kr_value_t *v, size_t *len)
{
    if (v == NULL || v->type != KR_STR) {
        *len = 0;
        return NULL;
    }
    *len = v->len;
    return v->u.s;
}

size_t kr_value_len(const kr_value_t *v)
{
    if (v == NULL)
        return 0;
    switch (v->type) {
    case KR_STR:
    case KR_ARRAY:
    case KR_MAP:
        return v->len;
    default:
        return 0;
    }
}

/* ---- arrays ----------------------------------------------------------- */

static size_t array_cap(const kr_value_t *arr)
{
    return arr->u.items == NULL ? 0 : (size_t)((const kr_array_hdr_t *)arr->u.items - 1)->cap;
}

/* New storage of exactly `cap` items, the current ones copied over. */
static void array_realloc(kr_arena_t *arena, kr_value_t *arr, size_t cap)
{
    if (cap > KR_VALUE_MAX_LEN)
        too_long("array", cap);
    kr_array_hdr_t *h = kr_arena_alloc(arena, sizeof(*h) + cap * sizeof(kr_value_t *));
    h->cap = cap;
    kr_value_t **items = (kr_value_t **)(h + 1);
    if (arr->len > 0)
        memcpy(items, arr->u.items, arr->len * sizeof(*items));
    arr->u.items = items;
}

/* Capacity doubling from `have` (at least 4) until `need` fits. */
static size_t grown_cap(size_t have, size_t need)
{
    size_t cap = have < 4 ? 4 : have;
    while (cap < need)
        cap *= 2;
    return cap;
}

static void array_grow(kr_arena_t *arena, kr_value_t *arr, size_t need)
{
    size_t have = array_cap(arr);
    if (need > have)
        array_realloc(arena, arr, grown_cap(have, need));
}

kr_value_t *kr_value_array_get(const kr_value_t *arr, size_t i)
{
    if (arr == NULL || arr->type != KR_ARRAY || i >= arr->len)
        return NULL;
    return arr->u.items[i];
}

void kr_value_array_push(kr_arena_t *arena, kr_value_t *arr, kr_value_t *item)
{
    if (arr == NULL || arr->type != KR_ARRAY)
        return;
    if (item == NULL)
        item = kr_value_null(arena);
    array_grow(arena, arr, (size_t)arr->len + 1);
    arr->u.items[arr->len++] = item;
}

bool kr_value_array_insert(kr_arena_t *arena, kr_value_t *arr, size_t i, kr_value_t *item)
{
    if (arr == NULL || arr->type != KR_ARRAY || i > arr->len)
        return false;
    if (item == NULL)
        item = kr_value_null(arena);
    array_grow(arena, arr, (size_t)arr->len + 1);
    kr_value_t **items = arr->u.items;
    memmove(&items[i + 1], &items[i], (arr->len - i) * sizeof(items[0]));
    items[i] = item;
    arr->len++;
    return true;
}

bool kr_value_array_set(kr_arena_t *arena, kr_value_t *arr, size_t i, kr_value_t *item)
{
    if (arr == NULL || arr->type != KR_ARRAY || i >= arr->len)
        return false;
    arr->u.items[i] = item != NULL ? item : kr_value_null(arena);
    return true;
}

bool kr_value_array_remove(kr_value_t *arr, size_t i)
{
    if (arr == NULL || arr->type != KR_ARRAY || i >= arr->len)
        return false;
    memmove(&arr->u.items[i], &arr->u.items[i + 1], (arr->len - i - 1) * sizeof(kr_value_t *));
    arr->len--;
    return true;
}

/* ---- maps ------------------------------------------------------------- */

uint64_t kr_value_hash(const char *key, size_t len)
{
    /* FNV-1a, then a final mix so low bits spread well for masking. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static void index_insert(kr_map_hdr_t *h, const kr_map_entry_t *ents, size_t entry)
{
    size_t mask = h->index_cap - 1;
    size_t slot = ents[entry].hash & mask;
    while (h->index[slot] != 0)
        slot = (slot + 1) & mask;
    h->index[slot] = (uint32_t)(entry + 1);
}

/* (Re)builds the index with `cap` slots; a NULL arena reuses the current
 * slots (after a delete). */
static void index_rebuild(kr_arena_t *arena, kr_value_t *map, size_t cap)
{
    kr_map_hdr_t *h = kr_map_hdr(map);
    if (arena != NULL || h->index_cap < cap) {
        h->index = kr_arena_alloc(arena, cap * sizeof(uint32_t));
        h->index_cap = (uint32_t)cap;
    }
    memset(h->index, 0, h->index_cap * sizeof(uint32_t));
    for (size_t i = 0; i < map->len; i++)
        index_insert(h, map->u.ents, i);
}

static ssize_t map_find(const kr_value_t *map, const char *key, size_t keylen, uint32_t hash)
{
    const kr_map_entry_t *ents = map->u.ents;
    const kr_map_hdr_t *h = kr_map_hdr(map);
    if (h == NULL || h->index_cap == 0) {
        for (size_t i = 0; i < map->len; i++)
            if (ents[i].keylen == keylen &&
                (ents[i].key == key || memcmp(ents[i].key, key, keylen) == 0))
                return (ssize_t)i;
        return -1;
    }
    size_t mask = h->index_cap - 1;
    for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
        uint32_t e = h->index[slot];
        if (e == 0)
            return -1;
        const kr_map_entry_t *en = &ents[e - 1];
        if (en->hash == hash && en->keylen == keylen && memcmp(en->key, key, keylen) == 0)
            return (ssize_t)(e - 1);
    }
}

static bool map_indexed(const kr_value_t *map)
{
    const kr_map_hdr_t *h = kr_map_hdr(map);
    return h != NULL && h->index_cap != 0;
}

/* New storage of exactly `cap` entries, the current ones (and the index)
 * kept. */
static void map_realloc(kr_arena_t *arena, kr_value_t *map, size_t cap)
{
    if (cap > UINT32_MAX - 1) {
        fprintf(stderr, "kraal: map of %zu entries is too large\n", cap);
        abort();
    }
    kr_map_hdr_t *old = kr_map_hdr(map);
    kr_map_hdr_t *h = kr_arena_alloc(arena, sizeof(*h) + cap * sizeof(kr_map_entry_t));
    h->cap = (uint32_t)cap;
    h->index_cap = old != NULL ? old->index_cap : 0;
    h->index = old != NULL ? old->index : NULL;
    kr_map_entry_t *ents = (kr_map_entry_t *)(h + 1);
    if (map->len > 0)
        memcpy(ents, map->u.ents, map->len * sizeof(*ents));
    map->u.ents = ents;
}

static void map_grow(kr_arena_t *arena, kr_value_t *map, size_t need)
{
    const kr_map_hdr_t *h = kr_map_hdr(map);
    size_t have = h == NULL ? 0 : h->cap;
    if (need > have)
        map_realloc(arena, map, grown_cap(have, need));
}

void kr_value_reserve(kr_arena_t *arena, kr_value_t *v, size_t n)
{
    if (v == NULL || n == 0)
        return;
    /* A decoder knows the count: an empty container gets exactly n slots
     * (growing later doubles as usual). */
    if (v->type == KR_ARRAY) {
        if (v->u.items == NULL)
            array_realloc(arena, v, n);
        else
            array_grow(arena, v, n);
    } else if (v->type == KR_MAP) {
        if (v->u.ents == NULL)
            map_realloc(arena, v, n);
        else
            map_grow(arena, v, n);
    }
}

/* Appends an entry whose key is known to be absent.  `hash` is the key's
 * (uint32_t)kr_value_hash when the map has or is about to get an index,
 * else anything. */
static void map_append(kr_arena_t *arena, kr_value_t *map, const char *key, size_t keylen,
                       uint32_t hash, kr_value_t *val)
{
    map_grow(arena, map, (size_t)map->len + 1);
    size_t i = map->len++;
    map->u.ents[i] = (kr_map_entry_t){key, (uint32_t)keylen, hash, val};
    kr_map_hdr_t *h = kr_map_hdr(map);
    if (h->index_cap != 0 && (size_t)map->len * 2 <= h->index_cap) {
        index_insert(h, map->u.ents, i);
    } else if (map->len > KR_MAP_INDEX_MIN) {
        /* Hashes of entries added while the map was small were not
         * computed; do it once, when the index is first built. */
        if (h->index_cap == 0)
            for (size_t k = 0; k < i; k++)
                map->u.ents[k].hash =
                    (uint32_t)kr_value_hash(map->u.ents[k].key, map->u.ents[k].keylen);
        size_t cap = 64;
        while (cap < (size_t)map->len * 4)
            cap *= 2;
        index_rebuild(arena, map, cap);
    }
}

/* The hash a lookup of `key` needs now, and an append after it. */
static uint32_t map_hash(const kr_value_t *map, const char *key, size_t keylen)
{
    return map_indexed(map) || map->len >= KR_MAP_INDEX_MIN ? (uint32_t)kr_value_hash(key, keylen)
                                                            : 0;
}

/* Sets key to val: in place when present, else appended with the key
 * itself (owned) or a copy (a shared one for a Kubernetes key). */
static void map_put(kr_arena_t *arena, kr_value_t *map, const char *key, size_t keylen,
                    kr_value_t *val, bool owned)
{
    if (map == NULL || map->type != KR_MAP)
        return;
    if (keylen > KR_VALUE_MAX_LEN)
        too_long("map key", keylen);
    if (val == NULL)
        val = kr_value_null(arena);
    uint32_t hash = map_hash(map, key, keylen);
    ssize_t at = map_find(map, key, keylen, hash);
    if (at >= 0) {
        map->u.ents[at].val = val;
        return;
    }
    if (!owned) {
        const char *common = kr_value_common_key(key, keylen);
        key = common != NULL ? common : kr_arena_strndup(arena, key, keylen);
    }
    map_append(arena, map, key, keylen, hash, val);
}

void kr_value_map_set_owned(kr_arena_t *arena, kr_value_t *map, const char *key, size_t keylen,
                            kr_value_t *val)
{
    map_put(arena, map, key, keylen, val, true);
}

void kr_value_map_setn(kr_arena_t *arena, kr_value_t *map, const char *key, size_t keylen,
                       kr_value_t *val)
{
    map_put(arena, map, key, keylen, val, false);
}

void kr_value_map_set(kr_arena_t *arena, kr_value_t *map, const char *key, kr_value_t *val)
{
    kr_value_map_setn(arena, map, key, strlen(key), val);
}

kr_value_t *kr_value_map_getn(const kr_value_t *map, const char *key, size_t keylen)
{
    if (map == NULL || map->type != KR_MAP || key == NULL)
        return NULL;
    uint32_t hash = map_indexed(map) ? (uint32_t)kr_value_hash(key, keylen) : 0;
    ssize_t at = map_find(map, key, keylen, hash);
    return at < 0 ? NULL : map->u.ents[at].val;
}

kr_value_t *kr_value_map_get(const kr_value_t *map, const char *key)
{
    if (key == NULL)
        return NULL;
    return kr_value_map_getn(map, key, strlen(key));
}

bool kr_value_map_del(kr_value_t *map, const char *key)
{
    if (map == NULL || map->type != KR_MAP || key == NULL)
        return false;
    size_t keylen = strlen(key);
    uint32_t hash = map_indexed(map) ? (uint32_t)kr_value_hash(key, keylen) : 0;
    ssize_t at = map_find(map, key, keylen, hash);
    if (at < 0)
        return false;
    memmove(&map->u.ents[at], &map->u.ents[at + 1],
            (map->len - (size_t)at - 1) * sizeof(kr_map_entry_t));
    map->len--;
    /* Entry positions shifted: rebuild the index in place (deletes are
     * rare next to lookups, and order must be kept). */
    if (map_indexed(map))
        index_rebuild(NULL, map, kr_map_hdr(map)->index_cap);
    return true;
}

const char *kr_value_map_key(const kr_value_t *map, size_t i)
{
    if (map == NULL || map->type != KR_MAP || i >= map->len)
        return NULL;
    return map->u.ents[i].key;
}

kr_value_t *kr_value_map_val(const kr_value_t *map, size_t i)
{
    if (map == NULL || map->type != KR_MAP || i >= map->len)
        return NULL;
    return map->u.ents[i].val;
}

const char *kr_value_map_str(const kr_value_t *map, const char *key)
{
    return kr_value_as_str(kr_value_map_get(map, key));
}

int64_t kr_value_map_int(const kr_value_t *map, const char *key, int64_t dflt)
{
    return kr_value_as_int(kr_value_map_get(map, key), dflt);
}

/* ---- copy and equal --------------------------------------------------- */

/* A key for a copy: common keys are shared, not copied. */
static const char *key_copy(kr_arena_t *arena, const char *key, size_t keylen)
{
    const char *common = kr_value_common_key(key, keylen);
    return common != NULL ? common : kr_arena_strndup(arena, key, keylen);
}

kr_value_t *kr_value_copy(kr_arena_t *arena, const kr_value_t *v)
{
    if (v == NULL)
        return kr_value_null(arena);
    switch (v->type) {
    case KR_NULL:
        return kr_value_null(arena);
    case KR_BOOL:
        return kr_value_bool(arena, v->u.b);
    case KR_INT:
        return kr_value_int(arena, v->u.i);
    case KR_FLOAT:
        return kr_value_float(arena, v->u.d);
    case KR_STR:
        return kr_value_strn(arena, v->u.s, v->len);
    case KR_ARRAY: {
        kr_value_t *a = kr_value_array(arena);
        if (v->len == 0)
            return a;
        array_realloc(arena, a, v->len);
        for (size_t i = 0; i < v->len; i++)
            a->u.items[i] = kr_value_copy(arena, v->u.items[i]);
        a->len = v->len;
        return a;
    }
    case KR_MAP: {
        kr_value_t *m = kr_value_map(arena);
        if (v->len == 0)
            return m;
        map_realloc(arena, m, v->len);
        for (size_t i = 0; i < v->len; i++) {
            const kr_map_entry_t *e = &v->u.ents[i];
            m->u.ents[i] = (kr_map_entry_t){key_copy(arena, e->key, e->keylen), e->keylen, e->hash,
                                            kr_value_copy(arena, e->val)};
        }
        m->len = v->len;
        if (map_indexed(v))
            index_rebuild(arena, m, kr_map_hdr(v)->index_cap);
        return m;
    }
    }
    return kr_value_null(arena);
}

bool kr_value_equal(const kr_value_t *a, const kr_value_t *b)
{
    if (a == b)
        return true;
    kr_type_t ta = kr_value_type(a), tb = kr_value_type(b);
    if (ta != tb)
        return false;
    switch (ta) {
    case KR_NULL:
        return true;
    case KR_BOOL:
        return a->u.b == b->u.b;
    case KR_INT:
        return a->u.i == b->u.i;
    case KR_FLOAT:
        /* Bitwise-equal NaNs count as equal so a round trip compares true. */
        return a->u.d == b->u.d || (isnan(a->u.d) && isnan(b->u.d));
    case KR_STR:
        return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
    case KR_ARRAY:
        if (a->len != b->len)
            return false;
        for (size_t i = 0; i < a->len; i++)
            if (!kr_value_equal(a->u.items[i], b->u.items[i]))
                return false;
        return true;
    case KR_MAP:
        if (a->len != b->len)
            return false;
        for (size_t i = 0; i < a->len; i++) {
            const kr_map_entry_t *e = &a->u.ents[i];
            /* Same order is the common case: skip the lookup. */
            const kr_value_t *bv;
            const kr_map_entry_t *f = &b->u.ents[i];
            if (f->keylen == e->keylen &&
                (f->key == e->key || memcmp(f->key, e->key, e->keylen) == 0))
                bv = f->val;
            else
                bv = kr_value_map_getn(b, e->key, e->keylen);
            if (bv == NULL || !kr_value_equal(e->val, bv))
                return false;
        }
        return true;
    }
    return false;
}

/* ---- float text, shared by the JSON and YAML writers ------------------ */

int kr_float_format(double d, char *buf, size_t size)
{
    char e[40];
    if (!isfinite(d))
        return snprintf(buf, size, "%s", isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
    /* Fewest significant digits that read back as the same double. */
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    snprintf(e, sizeof(e), "%.*e", prec - 1, d);
    /* e = [-]D[.DDD]e[+-]XX: split into sign, digits and exponent. */
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24] = {0};
    int nd = 0;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    char out[48];
    int n = 0;
    if (neg)
        out[n++] = '-';
    if (exp10 < -6 || exp10 >= 21) {
        /* Like Go: exponent form outside [1e-6, 1e21). */
        out[n++] = digits[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, digits + 1, (size_t)nd - 1);
            n += nd - 1;
        }
        n += snprintf(out + n, sizeof(out) - (size_t)n, "e%c%02d", exp10 < 0 ? '-' : '+',
                      exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int z = -1; z > exp10; z--)
            out[n++] = '0';
        memcpy(out + n, digits, (size_t)nd);
        n += nd;
    } else {
        for (int k = 0; k <= exp10 || k < nd; k++) {
            if (k == exp10 + 1)
                out[n++] = '.';
            out[n++] = k < nd ? digits[k] : '0';
        }
        /* Keeps a float a float when read back. */
        if (nd <= exp10 + 1) {
            out[n++] = '.';
            out[n++] = '0';
        }
    }
    out[n] = '\0';
    return snprintf(buf, size, "%s", out);
}
