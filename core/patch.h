/* kraal core — JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
 *
 * The two patch formats every Kubernetes API server accepts besides
 * strategic merge, as pure functions over value trees: the target is never
 * modified, the result is a new tree owned by `arena`.  On error nothing is
 * returned (`*out` is left NULL) and `err` carries the message the
 * Kubernetes API server gives for the same patch (its JSON patch code is
 * github.com/evanphx/json-patch).
 */
#ifndef KRAAL_CORE_PATCH_H
#define KRAAL_CORE_PATCH_H

#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kubernetes' maxJSONPatchOperations. */
#define KR_JSON_PATCH_MAX_OPS 10000

/* RFC 7386: a map patch merges key by key (null deletes), anything else
 * replaces the target whole (arrays included).  `target` may be NULL (no
 * document yet).  Fails with KR_E_BAD_REQUEST when the patch nests deeper
 * than KR_VALUE_MAX_DEPTH.  `*out` is owned by `arena`. */
int kr_merge_patch_apply(kr_arena_t *arena, const kr_value_t *target, const kr_value_t *patch,
                         kr_value_t **out, kr_error_t *err);

/* The merge patch that turns `original` into `modified`: removed keys become
 * null, changed maps recurse, any other change carries the new value whole.
 * Identical documents give an empty map.  A null held as a map value in
 * `modified` cannot be told apart from a delete in a merge patch (RFC 7386
 * section 1), so such a field round-trips as absent.  `*patch` is owned by
 * `arena`. */
int kr_merge_patch_create(kr_arena_t *arena, const kr_value_t *original, const kr_value_t *modified,
                          kr_value_t **patch, kr_error_t *err);

/* RFC 6902: applies the array of operations `ops` to a copy of `target`,
 * all or nothing.  JSON pointers follow RFC 6901 (~0, ~1, "-" appends).
 * Errors:
 *   KR_E_BAD_REQUEST  the patch document is malformed (not an array, an
 *                     operation without "op"/"path"/"from"/"value", an
 *                     unknown op, a pointer that is not a pointer);
 *   KR_E_TOO_LARGE    more than KR_JSON_PATCH_MAX_OPS operations;
 *   KR_E_INVALID      the patch cannot be applied to this document (missing
 *                     path, bad index, failed test).
 * `*out` is owned by `arena`. */
int kr_json_patch_apply(kr_arena_t *arena, const kr_value_t *target, const kr_value_t *ops,
                        kr_value_t **out, kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
