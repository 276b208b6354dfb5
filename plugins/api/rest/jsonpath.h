/* The JSONPath of printer columns (a CRD's additionalPrinterColumns
 * jsonPath, what client-go's jsonpath package evaluates for the API
 * server's table convertor), over kr_value_t trees.
 *
 * Supported: fields (.a.b, with \. for a dot in a name), ['key'] and
 * ["key"], $ and a surrounding {...}, wildcards (.* and [*]), indexes
 * ([2], [-1]), slices ([1:3], [:2], [1:]) and filters on array items
 * ([?(@.type=="Ready")], [?(@.port>80)], [?(@.name)]) comparing with
 * ==, !=, <, <=, >, >= against a quoted string, a number, true, false or
 * null.  Not supported (a compile error): recursive descent (..),
 * unions ([0,1]), steps and functions inside filters beyond a field path.
 *
 * Missing keys select nothing, as with AllowMissingKeys(true): a path
 * through an absent field, an index out of range or a step of the wrong
 * type finds no value rather than failing.
 */
#ifndef KRAAL_REST_JSONPATH_H
#define KRAAL_REST_JSONPATH_H

#include <stddef.h>

#include <kraal/error.h>
#include <kraal/value.h>

typedef struct rest_jsonpath rest_jsonpath_t;

/* Compiles `path`.  Owned by `arena`; NULL with KR_E_BAD_REQUEST and the
 * offset of the fault in err on a syntax error. */
rest_jsonpath_t *rest_jsonpath_compile(kr_arena_t *arena, const char *path, kr_error_t *err);

/* The first value `jp` selects in `root` (document order), or NULL.  The
 * value is `root`'s own (not a copy). */
const kr_value_t *rest_jsonpath_first(const rest_jsonpath_t *jp, const kr_value_t *root);

/* Every value `jp` selects in `root`, in document order: fills *out with an
 * array allocated in `arena` (NULL when none) and returns its length. */
size_t rest_jsonpath_find(kr_arena_t *arena, const rest_jsonpath_t *jp, const kr_value_t *root,
                          const kr_value_t ***out);

#endif
