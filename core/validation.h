/* Field validation in Kubernetes' words.
 *
 * A kr_validation_t collects field errors as Kubernetes does
 * (apimachinery/pkg/util/validation/field): each has a type, a field path
 * and a detail.  kr_validation_error() turns them into one KR_E_INVALID
 * error whose message is upstream's
 *
 *   Pod "web" is invalid: spec.containers: Required value
 *   Pod "web" is invalid: [metadata.name: Invalid value: "A": ..., spec...]
 *
 * and whose details (kr_validation_details) are a metav1.StatusDetails
 * {name, group, kind, causes: [{reason, message, field}]}.
 *
 * Also here: the name and metadata rules every kind shares
 * (ValidateObjectMeta, DNS-1123 label/subdomain, label and annotation
 * syntax).
 */
#ifndef KRAAL_CORE_VALIDATION_H
#define KRAAL_CORE_VALIDATION_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/error.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

/* field.ErrorType, with the cause reason and the text upstream prints. */
typedef enum kr_field_err {
    KR_FIELD_NOT_FOUND,     /* FieldValueNotFound  "Not found" */
    KR_FIELD_REQUIRED,      /* FieldValueRequired  "Required value" */
    KR_FIELD_DUPLICATE,     /* FieldValueDuplicate "Duplicate value" */
    KR_FIELD_INVALID,       /* FieldValueInvalid   "Invalid value" */
    KR_FIELD_NOT_SUPPORTED, /* FieldValueNotSupported "Unsupported value" */
    KR_FIELD_FORBIDDEN,     /* FieldValueForbidden "Forbidden" */
    KR_FIELD_TOO_LONG,      /* FieldValueTooLong   "Too long" */
    KR_FIELD_TOO_MANY,      /* FieldValueTooMany   "Too many" */
    KR_FIELD_INTERNAL,      /* InternalError       "Internal error" */
    KR_FIELD_TYPE_INVALID,  /* FieldValueTypeInvalid "Invalid value" */
} kr_field_err_t;

typedef struct kr_validation {
    kr_arena_t *arena;  /* causes live here */
    kr_value_t *causes; /* array of {reason, message, field} */
} kr_validation_t;

void kr_validation_init(kr_validation_t *v, kr_arena_t *arena);
bool kr_validation_ok(const kr_validation_t *v);
size_t kr_validation_count(const kr_validation_t *v);

/* Adds one error.  `value` (may be NULL) is the bad value, printed the way
 * upstream prints it (strings quoted, numbers bare); `detail` may be NULL. */
void kr_field_error(kr_validation_t *v, kr_field_err_t type, const char *field,
                    const kr_value_t *value, const char *detail_fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Shorthands. */
void kr_field_required(kr_validation_t *v, const char *field, const char *detail);
void kr_field_invalid(kr_validation_t *v, const char *field, const kr_value_t *value,
                      const char *detail);
void kr_field_forbidden(kr_validation_t *v, const char *field, const char *detail);
/* "Unsupported value: "x": supported values: "a", "b"" */
void kr_field_not_supported(kr_validation_t *v, const char *field, const kr_value_t *value,
                            const char *const *valid);
void kr_field_duplicate(kr_validation_t *v, const char *field, const kr_value_t *value);

/* Sets err to KR_E_INVALID with upstream's message for kind/name and
 * returns -KR_E_INVALID; kind is "Pod", group "" or "apps". */
int kr_validation_error(const kr_validation_t *v, const char *group, const char *kind,
                        const char *name, kr_error_t *err);
/* The metav1.StatusDetails map for the same error (owned by arena). */
kr_value_t *kr_validation_details(const kr_validation_t *v, kr_arena_t *arena, const char *group,
                                  const char *kind, const char *name);

/* ---- shared rules ----------------------------------------------------- */

/* NULL when valid, else upstream's message, e.g. for IsDNS1123Label:
 * "a lowercase RFC 1123 label must consist of lower case alphanumeric
 * characters or '-', and must start and end with an alphanumeric character
 * (e.g. 'my-name',  or '123-abc', regex used for validation is
 * '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".  Static strings. */
const char *kr_dns1123_label_error(const char *s);     /* max 63 */
const char *kr_dns1123_subdomain_error(const char *s); /* max 253 */
const char *kr_dns1035_label_error(const char *s);     /* Service names */
/* Path segment names (ConfigMap, Secret...: anything but "." ".." "/" "%"). */
const char *kr_path_segment_name_error(const char *s);

/* Which rule names follow. */
typedef enum kr_name_rule {
    KR_NAME_DNS1123_SUBDOMAIN = 0, /* most kinds */
    KR_NAME_DNS1123_LABEL,         /* Namespace, ... */
    KR_NAME_DNS1035_LABEL,         /* Service */
    KR_NAME_PATH_SEGMENT,          /* Node? Event, Lease... (upstream per kind) */
} kr_name_rule_t;

/* ValidateObjectMeta: name (or generateName) by rule, namespace presence
 * for namespaced kinds and absence otherwise, labels and annotations
 * syntax and size, ownerReferences, finalizers syntax.  On update (old !=
 * NULL) also the immutable metadata (name, namespace, uid,
 * creationTimestamp). */
void kr_validate_object_meta(kr_validation_t *v, const kr_value_t *meta, const kr_value_t *old_meta,
                             bool namespaced, kr_name_rule_t rule);

#ifdef __cplusplus
}
#endif
#endif
