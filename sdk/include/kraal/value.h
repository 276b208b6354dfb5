/* kraal SDK — the one value tree.
 *
 * Every object on the bus, in the store and in a plugin is a kr_value_t tree:
 * map, array, string, int, float, bool or null.  Values live in an arena and
 * are freed all at once with it; nothing in a tree is freed on its own.
 * Maps keep insertion order (so JSON/YAML output keeps the user's order).
 *
 * Converters to and from msgpack, JSON and YAML all produce and consume this
 * one type.  Decoders refuse nesting deeper than KR_VALUE_MAX_DEPTH and any
 * length longer than the input.
 */
#ifndef KRAAL_VALUE_H
#define KRAAL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KR_VALUE_MAX_DEPTH 256

/* ---- arena ------------------------------------------------------------ */

typedef struct kr_arena kr_arena_t;

/* New arena; `chunk` is the first chunk size hint (0 = default).
 * Out of memory aborts. Caller owns the arena. */
kr_arena_t *kr_arena_new(size_t chunk);
void kr_arena_destroy(kr_arena_t **self_p);
/* Frees every value allocated so far.  The memory stays with the arena for
 * the next round (what the last round used, no more), so an arena reset
 * and refilled with a similar load allocates nothing new. */
void kr_arena_reset(kr_arena_t *self);
/* 16-byte aligned; never NULL (out of memory aborts). Owned by the arena. */
void *kr_arena_alloc(kr_arena_t *self, size_t size);
char *kr_arena_strndup(kr_arena_t *self, const char *s, size_t n);
char *kr_arena_strdup(kr_arena_t *self, const char *s);
char *kr_arena_printf(kr_arena_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes handed out so far (for limits such as the YAML alias bound). */
size_t kr_arena_used(const kr_arena_t *self);

/* ---- growable byte buffer (heap, not arena) --------------------------- */

typedef struct kr_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
} kr_buf_t;

#define KR_BUF_INIT \
    {               \
        NULL, 0, 0  \
    }
void kr_buf_reserve(kr_buf_t *buf, size_t extra);
void kr_buf_append(kr_buf_t *buf, const void *data, size_t len);
void kr_buf_puts(kr_buf_t *buf, const char *s);
void kr_buf_printf(kr_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kr_buf_reset(kr_buf_t *buf); /* len = 0, keeps memory */
void kr_buf_free(kr_buf_t *buf);  /* frees memory, back to KR_BUF_INIT */

/* ---- values ----------------------------------------------------------- */

typedef enum kr_type {
    KR_NULL = 0,
    KR_BOOL,
    KR_INT,
    KR_FLOAT,
    KR_STR,
    KR_ARRAY,
    KR_MAP,
} kr_type_t;

typedef struct kr_value kr_value_t;

/* Name of a type ("map", "string", ...), for error messages. */
const char *kr_type_name(kr_type_t type);

/* Constructors: the value is owned by `arena`. Never NULL. */
kr_value_t *kr_value_null(kr_arena_t *arena);
kr_value_t *kr_value_bool(kr_arena_t *arena, bool b);
kr_value_t *kr_value_int(kr_arena_t *arena, int64_t i);
kr_value_t *kr_value_float(kr_arena_t *arena, double d);
kr_value_t *kr_value_str(kr_arena_t *arena, const char *s); /* copies */
kr_value_t *kr_value_strn(kr_arena_t *arena, const char *s, size_t n);
kr_value_t *kr_value_array(kr_arena_t *arena);
kr_value_t *kr_value_map(kr_arena_t *arena);

/* Accessors. A NULL value reads as KR_NULL. */
kr_type_t kr_value_type(const kr_value_t *v);
bool kr_value_as_bool(const kr_value_t *v, bool dflt);
int64_t kr_value_as_int(const kr_value_t *v, int64_t dflt); /* ints only */
double kr_value_as_float(const kr_value_t *v, double dflt); /* int or float */
/* NUL-terminated string, or NULL if `v` is not a string. Owned by the arena. */
const char *kr_value_as_str(const kr_value_t *v);
/* String length in bytes, array length or map entry count; 0 otherwise. */
size_t kr_value_len(const kr_value_t *v);

/* Arrays. */
kr_value_t *kr_value_array_get(const kr_value_t *arr, size_t i); /* NULL if out of range */
void kr_value_array_push(kr_arena_t *arena, kr_value_t *arr, kr_value_t *item);
/* Inserts at i (0..len; len appends), shifting the rest up; false if out
 * of range. */
bool kr_value_array_insert(kr_arena_t *arena, kr_value_t *arr, size_t i, kr_value_t *item);
/* Replaces item i; false if out of range. */
bool kr_value_array_set(kr_arena_t *arena, kr_value_t *arr, size_t i, kr_value_t *item);
/* Removes item i, shifting the rest down; false if out of range. */
bool kr_value_array_remove(kr_value_t *arr, size_t i);

/* Maps (keys are unique; set replaces in place, keeping the key's position). */
kr_value_t *kr_value_map_get(const kr_value_t *map, const char *key);
kr_value_t *kr_value_map_getn(const kr_value_t *map, const char *key, size_t keylen);
void kr_value_map_set(kr_arena_t *arena, kr_value_t *map, const char *key, kr_value_t *val);
bool kr_value_map_del(kr_value_t *map, const char *key);
/* Iteration by index 0..kr_value_len(map)-1. */
const char *kr_value_map_key(const kr_value_t *map, size_t i);
kr_value_t *kr_value_map_val(const kr_value_t *map, size_t i);

/* Convenience: map_get + as_str/as_int; NULL/dflt when absent or mistyped. */
const char *kr_value_map_str(const kr_value_t *map, const char *key);
int64_t kr_value_map_int(const kr_value_t *map, const char *key, int64_t dflt);

/* Paths: "spec.template.spec.containers[0].image".  A key holding a dot or
 * bracket is written in brackets with quotes: metadata.labels["app.kubernetes.io/name"].
 * kr_value_get returns NULL when any step is missing or of the wrong type. */
kr_value_t *kr_value_get(const kr_value_t *root, const char *path);
/* Sets the value at `path`, creating missing maps on the way (never arrays:
 * an index must exist).  Fails with KR_E_BAD_REQUEST on a malformed path or
 * when a step goes through a non-container value. */
int kr_value_set(kr_arena_t *arena, kr_value_t *root, const char *path, kr_value_t *val,
                 kr_error_t *err);

/* Deep copy into `arena` (which may differ from the source's). */
kr_value_t *kr_value_copy(kr_arena_t *arena, const kr_value_t *v);
/* Deep equality; maps compare as unordered key sets; int 1 != float 1.0. */
bool kr_value_equal(const kr_value_t *a, const kr_value_t *b);

/* ---- converters ------------------------------------------------------- */

/* Decoders: `*out` is owned by `arena`. On error nothing is returned and
 * err says where the input went wrong. */
int kr_msgpack_decode(kr_arena_t *arena, const void *data, size_t len, kr_value_t **out,
                      kr_error_t *err);
/* Appends the encoding of `v` to `out`. */
int kr_msgpack_encode(const kr_value_t *v, kr_buf_t *out, kr_error_t *err);

int kr_json_decode(kr_arena_t *arena, const char *data, size_t len, kr_value_t **out,
                   kr_error_t *err);
enum { KR_JSON_COMPACT = 0, KR_JSON_PRETTY = 1 };
int kr_json_encode(const kr_value_t *v, kr_buf_t *out, int flags, kr_error_t *err);

/* Decodes a (multi-document) YAML stream into an array with one value per
 * document.  Anchors and aliases are expanded; expansion is bounded to
 * KR_YAML_MAX_EXPANSION bytes of values so an alias bomb is rejected. */
#define KR_YAML_MAX_EXPANSION (64u << 20)
int kr_yaml_decode(kr_arena_t *arena, const char *data, size_t len, kr_value_t **docs,
                   kr_error_t *err);
/* Appends one YAML document (block style, like kubectl -o yaml). */
int kr_yaml_encode(const kr_value_t *v, kr_buf_t *out, kr_error_t *err);

/* ---- Kubernetes resource.Quantity ------------------------------------- */

typedef enum kr_qformat {
    KR_QFMT_DECIMAL_SI = 0, /* "100m", "2k", "1.5G" */
    KR_QFMT_BINARY_SI,      /* "128Mi", "1.5Gi" */
    KR_QFMT_DECIMAL_EXP,    /* "2e3" */
} kr_qformat_t;

/* value = unscaled * 10^scale, normalised so that unscaled has no trailing
 * zeros (except zero itself). */
typedef struct kr_quantity {
    int64_t unscaled;
    int32_t scale;
    kr_qformat_t format;
} kr_quantity_t;

/* Parses Kubernetes quantity syntax; KR_E_INVALID with Kubernetes' message
 * ("quantities must match the regular expression ...") on bad input. */
int kr_quantity_parse(const char *s, kr_quantity_t *q, kr_error_t *err);
/* Canonical string as Kubernetes prints it ("1536Mi", "100m", "2k").
 * Returns the length; truncates like snprintf. */
int kr_quantity_format(const kr_quantity_t *q, char *buf, size_t size);
/* Value rounded up to an integer (Kubernetes Value()); saturates at INT64. */
int64_t kr_quantity_value(const kr_quantity_t *q);
/* Value*1000 rounded up (Kubernetes MilliValue()); saturates at INT64. */
int64_t kr_quantity_milli(const kr_quantity_t *q);
/* -1, 0, 1 */
int kr_quantity_cmp(const kr_quantity_t *a, const kr_quantity_t *b);

#ifdef __cplusplus
}
#endif
#endif
