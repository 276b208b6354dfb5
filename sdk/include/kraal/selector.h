/* kraal SDK — Kubernetes label selectors and field selectors over kr_value_t trees.
 *
 * Parse once, match many: a selector is compiled into one arena owned by the
 * selector, and matching reads it without allocating, so a list over tens of
 * thousands of objects pays the parse only once.
 *
 * Semantics follow k8s.io/apimachinery pkg/labels and pkg/fields; error
 * messages are Kubernetes' own, and every parse error is KR_E_BAD_REQUEST
 * (400), as the API server answers a bad ?labelSelector= or ?fieldSelector=.
 */
#ifndef KRAAL_SELECTOR_H
#define KRAAL_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/error.h>
#include <kraal/value.h>

/* ---- label selectors -------------------------------------------------- */

typedef struct kr_labelsel kr_labelsel_t;

/* Parses the string syntax (labels.Parse):
 *   a=b  a==b  a!=b  a in (x,y)  a notin (x)  a  !a  a>1  a<1
 * joined by ',' (AND); blanks (' ', '\t', '\r', '\n') between tokens are
 * ignored; "" selects everything.  Keys must be qualified names (optional
 * DNS-subdomain prefix and '/', then a name of at most 63 characters),
 * values label values (at most 63 characters, may be empty); the operands
 * of '>' and '<' must be integers.  `in`/`notin` value sets are
 * deduplicated; `a in ()` is the set {""}.
 * Returns NULL with KR_E_BAD_REQUEST and Kubernetes' message on bad input
 * ("unable to parse requirement: ...", "found ',', expected: ..."). Caller
 * owns the result. */
kr_labelsel_t *kr_labelsel_parse(const char *s, kr_error_t *err);

/* Builds a selector from a metav1.LabelSelector object
 * ({matchLabels: {k: v}, matchExpressions: [{key, operator, values}]}) as
 * metav1.LabelSelectorAsSelector does: NULL or a null value selects
 * nothing, an empty object selects everything; operators are In, NotIn,
 * Exists and DoesNotExist.  Invalid keys, values, operators or value counts
 * fail with KR_E_BAD_REQUEST and Kubernetes' message. Caller owns the
 * result; it does not refer to `labelSelector` after returning. */
kr_labelsel_t *kr_labelsel_from_object(const kr_value_t *labelSelector, kr_error_t *err);

void kr_labelsel_destroy(kr_labelsel_t **self_p);

/* True when `labels` (a map of strings; NULL or a non-map means no labels)
 * satisfies every requirement.  A label whose value is not a string is
 * present for exists/!exists but equals no value.  Never allocates. */
bool kr_labelsel_match(const kr_labelsel_t *self, const kr_value_t *labels);

/* Appends the canonical form as Kubernetes prints it: requirements sorted
 * by key, set values sorted, "x in (a,b),y!=c,!z".  A selector that selects
 * everything or nothing prints "".  Returns the number of bytes appended. */
int kr_labelsel_string(const kr_labelsel_t *self, kr_buf_t *out);

/* True when the selector selects every object (no requirement). */
bool kr_labelsel_empty(const kr_labelsel_t *self);

/* For a label index: the value `key` must equal (from `key=v`, `key==v` or
 * `key in (v)`), or NULL when the selector has no such requirement.  The
 * string is owned by the selector. */
const char *kr_labelsel_exact(const kr_labelsel_t *self, const char *key);

/* The first (in key order) requirement of exact form, if any; `*key` and
 * `*value` are owned by the selector. */
bool kr_labelsel_exact_any(const kr_labelsel_t *self, const char **key, const char **value);

/* ---- field selectors -------------------------------------------------- */

typedef struct kr_fieldsel kr_fieldsel_t;

/* Parses fields.ParseSelector syntax: `f=v`, `f==v`, `f!=v` joined by ','.
 * In a value, ',', '=' and '\' are written `\,`, `\=` and `\\`; any other
 * escape, an unescaped ',' or '=' in a value, or a term without operator
 * is refused with Kubernetes' message ("invalid selector: ...", "invalid
 * field selector: ...").  No blank is trimmed, as upstream.  "" selects
 * everything.  Caller owns the result. */
kr_fieldsel_t *kr_fieldsel_parse(const char *s, kr_error_t *err);

void kr_fieldsel_destroy(kr_fieldsel_t **self_p);

/* Refuses a selector naming a field not in `supported` (NULL-terminated;
 * the kind's list, which should include metadata.name and
 * metadata.namespace) with KR_E_BAD_REQUEST
 * "field label not supported: <name>". */
int kr_fieldsel_check(const kr_fieldsel_t *self, const char *const *supported, kr_error_t *err);

/* Compares each term with the string form of the value at the field path
 * in `obj` (kr_value_get paths: "metadata.name", "status.phase"): strings as
 * they are, ints in decimal, bools "true"/"false", floats as %.17g; a
 * missing, null, map or array value reads as "".  Never allocates. */
bool kr_fieldsel_match(const kr_fieldsel_t *self, const kr_value_t *obj);

/* The same over fields the caller keeps elsewhere: `get` returns the
 * string form of field `field` (as above), or NULL, which reads as "".
 * Never allocates. */
typedef const char *(*kr_fieldsel_get_fn)(const char *field, const void *ud);
bool kr_fieldsel_match_fn(const kr_fieldsel_t *self, kr_fieldsel_get_fn get, const void *ud);

/* Appends the canonical form ("metadata.name=a\,b,status.phase!=Running");
 * terms in the order Kubernetes sorts them, `==` printed as `=`. Returns
 * the number of bytes appended. */
int kr_fieldsel_string(const kr_fieldsel_t *self, kr_buf_t *out);

bool kr_fieldsel_empty(const kr_fieldsel_t *self);

/* For an index: the value `field` must equal (a `field=v` term), or NULL.
 * Owned by the selector. */
const char *kr_fieldsel_exact(const kr_fieldsel_t *self, const char *field);

#endif
