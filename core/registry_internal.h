/* Private to the registry's three files (registry.c, schema.c,
 * builtin_kinds.c); nothing else includes it. */
#ifndef KRAAL_CORE_REGISTRY_INTERNAL_H
#define KRAAL_CORE_REGISTRY_INTERNAL_H

#include <stdbool.h>

#include "registry.h"

/* ---- schema.c --------------------------------------------------------- */

/* The embedded built-in schemas (core/schemas/builtin.json), parsed once per
 * process on first use; NULL only if the embedded document is broken.
 * Immutable and shared by every registry. */
const kr_value_t *kr_schema_builtin_doc(void);
/* The OpenAPI v3 schema of a built-in kind ("apps/v1", "Deployment"), or
 * NULL.  Owned by the built-in document. */
const kr_value_t *kr_schema_builtin(const char *api_version, const char *kind);

/* The per-kind cache of schema lookups by path (kr_kind_t.memo). */
struct kr_schema_memo *kr_schema_memo_new(void);
void kr_schema_memo_destroy(struct kr_schema_memo **self_p);
/* Follows "$ref" (into the built-in components) and a lone "allOf" entry
 * until a schema that says something itself. */
const kr_value_t *kr_schema_resolve(const kr_value_t *schema);
/* The schema node of the field at `path` below `schema`, as written in its
 * parent (so its description and x-kubernetes-* keys are the field's own);
 * NULL when the schema does not say. */
const kr_value_t *kr_schema_field(const kr_value_t *schema, const char *path);

/* ---- registry.c ------------------------------------------------------- */

/* Indexes a kind whose strings live at least as long as the registry.
 * KR_E_ALREADY_EXISTS when its kind, plural or a name is taken. */
int kr_registry_insert(kr_registry_t *reg, const kr_kind_t *kind, kr_error_t *err);
/* The registry's arena (kinds, printer columns, copies of descriptors). */
kr_arena_t *kr_registry_arena(kr_registry_t *reg);

/* ---- builtin_kinds.c -------------------------------------------------- */

/* Registers the built-in kinds; fails only on a broken table. */
int kr_builtin_kinds_add(kr_registry_t *reg, kr_error_t *err);

#endif
