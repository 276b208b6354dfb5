/* kraal core — JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
 * strategic merge patch.
 *
 * The patch formats every Kubernetes API server accepts (server-side apply
 * aside), as pure functions over value trees: the target is never
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

/* The JSON type name Go's decoder uses in its errors ("object", "array",
 * "string", "number", "bool", "null"), so that messages match upstream's
 * ("json: cannot unmarshal array into Go value of type ..."). */
const char *kr_go_json_type(const kr_value_t *v);

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

typedef struct kr_kind kr_kind_t; /* registry.h */

/* Strategic merge patch (application/strategic-merge-patch+json), as the
 * Kubernetes API server applies it (k8s.io/apimachinery strategicpatch):
 * maps merge key by key (null deletes); a list whose schema says
 * x-kubernetes-patch-strategy "merge" merges its items by
 * x-kubernetes-patch-merge-key, or as a set when its items are scalars;
 * every other list is replaced.  Directives: `$patch: replace|delete` on a
 * map, `$patch: delete|replace` items in a merged list,
 * `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>` and
 * `$retainKeys`.  Merged lists keep the order upstream gives them.
 *
 * `kind` gives the patch metadata through its schema (kr_schema_merge_key,
 * kr_schema_patch_strategy); a field the schema does not describe, and
 * every field when `kind` is NULL or has no schema, merges as in a JSON
 * merge patch.  `target` may be NULL (no document yet); a null `patch`
 * changes nothing.  Errors, in upstream's words:
 *   KR_E_UNSUPPORTED_MEDIA_TYPE  `kind` is not built in (upstream serves
 *                                custom resources no strategic merge);
 *   KR_E_BAD_REQUEST             the patch is not an object, or a directive
 *                                is malformed ("invalid patch format of
 *                                retainKeys", ...);
 *   KR_E_INVALID                 a list of lists;
 *   KR_E_INTERNAL                what upstream returns as a plain error and
 *                                its API server answers with a 500 ("map:
 *                                map[image:nginx] does not contain declared
 *                                merge key: name", ...).
 * The target and the patch are not modified; `*out` is a new tree owned by
 * `arena`, NULL on error. */
int kr_strategic_patch_apply(kr_arena_t *arena, const kr_kind_t *kind, const kr_value_t *target,
                             const kr_value_t *patch, kr_value_t **out, kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
