/* The resource registry: every kind the API serves (DESIGN.md §2).
 *
 * A kind is described by names (group, version, kind, plural, singular,
 * short names, categories), scope, subresources, printer columns, the
 * field selectors it supports and an OpenAPI v3 schema.  The schema is used
 * to check types, to apply `default`s and to find list merge keys
 * (x-kubernetes-patch-merge-key) for strategic merge.  Built-in kinds add C
 * hooks for Kubernetes' own defaulting and validation (core/builtin.h).
 *
 * Kinds come from three places: the built-ins (kr_registry_new), plugins
 * (the bus op "kind.register", during their init) and later
 * CustomResourceDefinitions.  A second registration of a kind, plural or
 * resource is refused.  The registry is used from one thread (the broker's).
 */
#ifndef KRAAL_CORE_REGISTRY_H
#define KRAAL_CORE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/error.h>
#include <kraal/value.h>

#include "validation.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    KR_SUB_STATUS = 1u << 0,  /* <plural>/status */
    KR_SUB_SCALE = 1u << 1,   /* <plural>/scale (autoscaling/v1 Scale) */
    KR_SUB_BINDING = 1u << 2, /* pods/binding */
};

typedef struct kr_kind kr_kind_t;

/* Kubernetes' per-kind strategy hooks; any may be NULL. */
typedef struct kr_kind_hooks {
    /* Applies Kubernetes' defaults (SetDefaults_*) in place; runs on every
     * create and update body, before validation. */
    void (*defaults)(kr_arena_t *arena, kr_value_t *obj);
    /* PrepareForCreate: resets what a client may not set (status, ...). */
    void (*prepare_create)(kr_arena_t *arena, kr_value_t *obj);
    /* PrepareForUpdate: old is the stored object. */
    void (*prepare_update)(kr_arena_t *arena, kr_value_t *obj, const kr_value_t *old);
    /* Validation; old is NULL on create.  Adds field causes to v. */
    void (*validate)(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old);
    /* Validation of a status update (old is never NULL); NULL = none. */
    void (*validate_status)(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old);
} kr_kind_hooks_t;

struct kr_kind {
    const char *group;              /* "" for the core group */
    const char *version;            /* "v1" */
    const char *api_version;        /* "v1" or "apps/v1" */
    const char *kind;               /* "Deployment" */
    const char *list_kind;          /* "DeploymentList" */
    const char *plural;             /* "deployments" */
    const char *singular;           /* "deployment" */
    const char *res;                /* bus resource: "apps/v1/deployments", "v1/pods" */
    const char *store_prefix;       /* "apps/deployments/" ("core/" for the empty group) */
    const char *const *short_names; /* NULL-terminated, never NULL */
    const char *const *categories;  /* NULL-terminated, never NULL ("all") */
    bool namespaced;
    unsigned subresources; /* KR_SUB_* */
    /* The scale subresource's paths (NULL without KR_SUB_SCALE). */
    const char *scale_spec_replicas;   /* "spec.replicas" */
    const char *scale_status_replicas; /* "status.replicas" */
    const char *scale_label_selector;  /* "status.selector" or NULL */
    /* Field selectors supported besides metadata.name and
     * metadata.namespace (kr_value_get paths), NULL-terminated, never NULL. */
    const char *const *field_selectors;
    /* Array of {name, type, format?, description?, priority?, jsonPath}. */
    const kr_value_t *printer_columns;
    /* OpenAPI v3 schema of the whole object (type: object), or NULL. */
    const kr_value_t *schema;
    kr_kind_hooks_t hooks;
    bool builtin;
    /* kr_schema_at / kr_schema_merge_key answers by path, filled on first
     * use (every write walks the same paths); set up and freed by the
     * registry. */
    struct kr_schema_memo *memo;
};

typedef struct kr_registry kr_registry_t;

/* A registry holding the built-in kinds.  Caller owns it. */
kr_registry_t *kr_registry_new(kr_error_t *err);
void kr_registry_destroy(kr_registry_t **self_p);

/* Registers a kind from its descriptor map (the body of "kind.register"):
 *   {group, version, kind, listKind?, plural, singular?, shortNames?,
 *    categories?, namespaced, subresources?: {status?: {}, scale?:
 *    {specReplicasPath, statusReplicasPath, labelSelectorPath?}},
 *    selectableFields?: [path...], additionalPrinterColumns?: [...],
 *    schema?: {openAPIV3Schema}}
 * (the shape of a CRD's names + version).  Everything is copied.
 * KR_E_INVALID with field causes for a bad descriptor, KR_E_ALREADY_EXISTS
 * for a kind, plural or short name that is taken. */
const kr_kind_t *kr_registry_add(kr_registry_t *reg, const kr_value_t *desc, kr_error_t *err);

/* The descriptor of a kind, in the shape kr_registry_add takes. */
kr_value_t *kr_kind_to_value(kr_arena_t *arena, const kr_kind_t *kind);

/* Lookups; NULL when unknown. */
const kr_kind_t *kr_registry_by_res(const kr_registry_t *reg, const char *res, size_t len);
const kr_kind_t *kr_registry_by_kind(const kr_registry_t *reg, const char *api_version,
                                     const char *kind);
/* By group and a resource name as kubectl types it: plural, singular or
 * short name (case-insensitive).  group NULL = any group, first match in
 * registration order. */
const kr_kind_t *kr_registry_find(const kr_registry_t *reg, const char *group, const char *name);
/* All kinds in registration order. */
size_t kr_registry_count(const kr_registry_t *reg);
const kr_kind_t *kr_registry_at(const kr_registry_t *reg, size_t i);

/* ---- schema ----------------------------------------------------------- */

/* Checks `obj` against the kind's schema: types (object, array, string,
 * integer, number, boolean, int-or-string, quantity formats), enum,
 * required, minimum/maximum, maxLength, pattern-free.  Unknown fields are
 * kept.  Adds causes to v (FieldValueTypeInvalid, ...). */
void kr_schema_check(kr_validation_t *v, const kr_kind_t *kind, const kr_value_t *obj);
/* Applies the schema's `default`s where a field is absent. */
void kr_schema_defaults(kr_arena_t *arena, const kr_kind_t *kind, kr_value_t *obj);
/* The subschema at a path of the object ("spec.template.spec.containers"),
 * following $ref and array items; NULL when the schema does not say. */
const kr_value_t *kr_schema_at(const kr_kind_t *kind, const char *path);
/* The merge key of the list at `path` (x-kubernetes-patch-merge-key), or
 * NULL when the list is replaced (atomic). */
const char *kr_schema_merge_key(const kr_kind_t *kind, const char *path);
/* A value computed from the kind's schema alone (what a new object of the
 * kind looks like, ...), built by `build` the first time `name` is asked
 * for and kept by the kind: owned by the kind, never to be changed.
 * NULL when the kind keeps no schema memo (then the caller builds its
 * own).  `build` may call kr_schema_at; it may run more than once when
 * threads race, the first result is kept. */
typedef kr_value_t *(*kr_schema_build_fn)(kr_arena_t *arena, const kr_kind_t *kind);
const kr_value_t *kr_schema_derived(const kr_kind_t *kind, const char *name,
                                    kr_schema_build_fn build);
/* Storage a caller keeps with the kind's schema memo (managed.c keeps
 * what its walks read off the schema per path there), identified by the
 * address `tag`: made by `make` on first use (under the memo's lock: make
 * must not call back into the schema), freed by `destroy` with the kind.
 * The caller guards its own data.  NULL when the kind keeps no memo. */
void *kr_schema_memo_user(const kr_kind_t *kind, const void *tag, void *(*make)(void),
                          void (*destroy)(void *data));
/* The patch strategy of the field at `path` (x-kubernetes-patch-strategy:
 * "merge", "retainKeys", "merge,retainKeys", "replace"), or NULL when the
 * schema does not say.  Owned by the kind's schema. */
const char *kr_schema_patch_strategy(const kr_kind_t *kind, const char *path);
/* The definitions the built-in kinds' schemas refer to: the
 * `components.schemas` map of core/schemas/builtin.json (name -> OpenAPI v3
 * schema, `$ref`s into "#/components/schemas/").  NULL only if the embedded
 * document is broken.  Immutable and owned by the process. */
const kr_value_t *kr_schema_components(void);

#ifdef __cplusplus
}
#endif
#endif
