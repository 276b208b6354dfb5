/* managedFields: which manager owns which fields of an object.
 *
 * Kubernetes records, in metadata.managedFields, one entry per manager
 * {manager, operation: Apply|Update, apiVersion, time, fieldsType:
 * FieldsV1, fieldsV1, subresource?}.  fieldsV1 is a set of field paths in
 * sigs.k8s.io/structured-merge-diff's trie form:
 *
 *   {"f:metadata":{"f:labels":{"f:app":{}}},
 *    "f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{}}}}}
 *
 * "f:<name>" is a field of a map, "k:<json>" an item of an associative
 * list by its key fields, "v:<json>" an item of a set, "i:<n>" an index,
 * and "." marks a node that is itself a member when it also has children.
 *
 * This file holds the set type (kr_fieldset_t) with upstream's operations
 * and order, the walks that read sets off objects the way
 * structured-merge-diff's typed package does (ToFieldSet, Compare) using
 * the kind's schema (core/registry.h), the managedFields entries, and
 * kr_managed_update, what the API server does to managedFields on every
 * create, update and non-apply patch (upstream's FieldManager.Update).
 * Server-side apply itself is core/apply.h.
 *
 * Everything returned lives in the caller's arena.
 */
#ifndef KRAAL_CORE_MANAGED_H
#define KRAAL_CORE_MANAGED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/value.h>

#include "registry.h"
#include "validation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Upstream's DefaultMaxUpdateManagers: past this many Update entries the
 * oldest are merged into "ancient-changes". */
#define KR_MANAGED_MAX_UPDATERS 10
/* validation.FieldManagerMaxLength */
#define KR_FIELD_MANAGER_MAX 128

/* ---- path elements ------------------------------------------------------ */

/* Ordered as upstream orders them: fields, keys, values, indexes. */
typedef enum kr_pe_type {
    KR_PE_FIELD = 0,
    KR_PE_KEY,
    KR_PE_VALUE,
    KR_PE_INDEX,
} kr_pe_type_t;

typedef struct kr_pe {
    kr_pe_type_t type;
    const char *name;        /* FIELD */
    const kr_value_t *value; /* KEY: map of the key fields, sorted by name; VALUE: the item */
    int64_t index;           /* INDEX */
} kr_pe_t;

/* fieldpath.PathElement.Compare: <0, 0, >0. */
int kr_pe_cmp(const kr_pe_t *a, const kr_pe_t *b);
/* Upstream's Path.String(): ".spec.containers[name=\"web\"].image". */
char *kr_path_string(kr_arena_t *arena, const kr_pe_t *path, size_t n);

/* ---- sets --------------------------------------------------------------- */

typedef struct kr_fieldset kr_fieldset_t;

/* An empty set (NULL is also read as empty everywhere). */
kr_fieldset_t *kr_fieldset_new(kr_arena_t *arena);
bool kr_fieldset_empty(const kr_fieldset_t *s);
/* Adds a path; the empty path adds nothing (as upstream). */
void kr_fieldset_insert(kr_arena_t *arena, kr_fieldset_t *s, const kr_pe_t *path, size_t n);
bool kr_fieldset_has(const kr_fieldset_t *s, const kr_pe_t *path, size_t n);
bool kr_fieldset_equal(const kr_fieldset_t *a, const kr_fieldset_t *b);
/* The set operations of fieldpath.Set; results are new sets (operands are
 * not changed; results may share unchanged subtrees with them). */
kr_fieldset_t *kr_fieldset_union(kr_arena_t *arena, const kr_fieldset_t *a, const kr_fieldset_t *b);
kr_fieldset_t *kr_fieldset_intersection(kr_arena_t *arena, const kr_fieldset_t *a,
                                        const kr_fieldset_t *b);
/* Path by path: what is in a and not in b. */
kr_fieldset_t *kr_fieldset_difference(kr_arena_t *arena, const kr_fieldset_t *a,
                                      const kr_fieldset_t *b);
/* Also drops everything below a member of b. */
kr_fieldset_t *kr_fieldset_recursive_difference(kr_arena_t *arena, const kr_fieldset_t *a,
                                                const kr_fieldset_t *b);
/* The subset below one path element (NULL when none). */
const kr_fieldset_t *kr_fieldset_child(const kr_fieldset_t *s, const kr_pe_t *pe);
/* Calls fn for every path, in upstream's Set.Iterate order (a node's
 * members, then its children, each sorted). */
typedef void (*kr_fieldset_fn)(const kr_pe_t *path, size_t n, void *ud);
void kr_fieldset_iterate(const kr_fieldset_t *s, kr_fieldset_fn fn, void *ud);

/* fieldsV1 as a value tree: "." first, then the elements in order. */
kr_value_t *kr_fieldset_to_fields(kr_arena_t *arena, const kr_fieldset_t *s);
/* Reads a fieldsV1 map; elements of an unknown type are dropped, as
 * upstream does.  KR_E_BAD_REQUEST on a malformed element. */
int kr_fieldset_from_fields(kr_arena_t *arena, const kr_value_t *fields, kr_fieldset_t **out,
                            kr_error_t *err);

/* ---- typed walks (structured-merge-diff's typed package) ---------------- */

/* Lists are associative by their x-kubernetes-list-type/-map-keys, or,
 * for schemas that only say x-kubernetes-patch-strategy: merge, by the
 * patch merge key (a set without one), as upstream's schema conversion
 * does; other lists are atomic.  Fields the schema does not describe are
 * deduced from their value (maps granular, lists atomic). */

/* A walk over one kind's objects; errors (an item missing a key field,
 * duplicate items) accumulate in `errors` as upstream words them:
 * ".spec.containers: element 0: associative list with keys has an element
 * that omits key field \"name\" (and doesn't have default value)". */
typedef struct kr_typed {
    kr_arena_t *arena;
    const kr_kind_t *kind;
    size_t nerrors;
    kr_buf_t errors; /* "path: message" lines, heap; kr_typed_fini frees it */
    kr_buf_t spath;  /* schema path of the node being walked */
    kr_pe_t *path;   /* field path of the node being walked */
    size_t depth;
    bool strict; /* duplicate list items are errors (an applied configuration) */
    void *types; /* what the schema says per schema path: the kind's cache (shared) */
} kr_typed_t;

void kr_typed_init(kr_typed_t *t, kr_arena_t *arena, const kr_kind_t *kind);
void kr_typed_fini(kr_typed_t *t);
/* The errors as upstream's ValidationErrors print ("a: x" for one,
 * "errors:\n  a: x\n  b: y" for several), in t->arena. */
const char *kr_typed_error(kr_typed_t *t);

/* ToFieldSet: every leaf field and every list item the object mentions. */
kr_fieldset_t *kr_typed_to_set(kr_typed_t *t, const kr_value_t *obj);

/* Compare: fields added, modified and removed from lhs to rhs (either may
 * be NULL: absent). */
typedef struct kr_comparison {
    kr_fieldset_t *added, *modified, *removed;
} kr_comparison_t;
void kr_typed_compare(kr_typed_t *t, const kr_value_t *lhs, const kr_value_t *rhs,
                      kr_comparison_t *out);
/* Comparison.ExcludeFields: drops what lies at or below `ignored` (NULL:
 * nothing). */
void kr_comparison_exclude(kr_arena_t *arena, kr_comparison_t *c, const kr_fieldset_t *ignored);

/* EnsureNamedFieldsAreMembers: every field of a struct on the way to a
 * member becomes a member too (so that pruning can remove it). */
kr_fieldset_t *kr_typed_ensure_named(kr_typed_t *t, const kr_fieldset_t *s);

/* Merge: lhs with the fields rhs sets (rhs wins at leaves, maps merge by
 * key, associative lists by item, ordered as upstream orders them). */
kr_value_t *kr_typed_merge(kr_typed_t *t, const kr_value_t *lhs, const kr_value_t *rhs);
/* RemoveItems: obj without the fields, list and map items of s (a
 * container emptied this way becomes null, as upstream leaves it). */
kr_value_t *kr_typed_remove(kr_typed_t *t, const kr_value_t *obj, const kr_fieldset_t *s);

/* What a new object of the kind looks like before anything is set on it
 * (upstream compares a create against the empty Go struct): metadata and
 * spec/status maps, the fields the schema requires, and the struct fields
 * Go keeps by value (template, strategy, ...).  Kept by the kind (read
 * it, do not change it), or in t's arena for a kind without a schema
 * memo. */
const kr_value_t *kr_typed_empty_object(kr_typed_t *t);

/* ---- managedFields entries ---------------------------------------------- */

typedef struct kr_managed_entry {
    const char *id;          /* upstream's manager identifier (JSON) */
    const char *manager;     /* "kubectl" */
    bool apply;              /* operation Apply, else Update */
    const char *api_version; /* of the set */
    const char *subresource; /* NULL for the main resource */
    const char *time;        /* RFC 3339, or NULL */
    kr_fieldset_t *set;
} kr_managed_entry_t;

typedef struct kr_managed {
    kr_managed_entry_t *v;
    size_t n, cap;
} kr_managed_t;

/* Decodes metadata.managedFields (NULL or absent: empty).  Entries that
 * share an identity: the last wins.  Upstream's messages ("operation must
 * be `Apply` or `Update`", "missing fieldsType in managed fields entry 0",
 * ...) with KR_E_BAD_REQUEST. */
int kr_managed_decode(kr_arena_t *arena, const kr_value_t *managed_fields, kr_managed_t *out,
                      kr_error_t *err);
/* The managedFields array, sorted as upstream sorts it (operation, time,
 * manager, apiVersion, subresource); NULL when there are no entries. */
kr_value_t *kr_managed_encode(kr_arena_t *arena, const kr_managed_t *m);
/* obj without metadata.managedFields: a shallow copy sharing obj's values
 * (read it, do not change it). */
kr_value_t *kr_managed_without(kr_arena_t *arena, const kr_value_t *obj);
/* Stores the encoding in obj.metadata.managedFields (removed when empty). */
void kr_managed_store(kr_arena_t *arena, kr_value_t *obj, const kr_managed_t *m);

/* The entry with this identity, or NULL. */
kr_managed_entry_t *kr_managed_find(kr_managed_t *m, const char *id);
/* Adds or replaces the entry of e->id (copied by value). */
void kr_managed_put(kr_arena_t *arena, kr_managed_t *m, const kr_managed_entry_t *e);
void kr_managed_del(kr_managed_t *m, const char *id);
/* BuildManagerIdentifier: {"manager":..,"operation":..,"apiVersion"(Update
 * only),"subresource"?}. */
const char *kr_managed_id(kr_arena_t *arena, const char *manager, bool apply,
                          const char *api_version, const char *subresource);
/* The set of fields never recorded: apiVersion, kind, metadata's system
 * fields (stripmeta.go). */
kr_fieldset_t *kr_managed_strip_set(kr_arena_t *arena);
/* Fields a write through this subresource never changes (the strategies'
 * reset fields): status on the main resource of a kind with a status
 * subresource, everything but status through /status.  NULL for none. */
kr_fieldset_t *kr_managed_ignored(kr_arena_t *arena, const kr_kind_t *kind,
                                  const char *subresource);
/* Merges the oldest Update entries into "ancient-changes" (one per
 * apiVersion) while there are more than KR_MANAGED_MAX_UPDATERS. */
void kr_managed_cap(kr_arena_t *arena, kr_managed_t *m);

/* ---- updates -------------------------------------------------------------- */

/* The manager of a non-apply write: opts.fieldManager when set, else the
 * User-Agent up to its first '/' (printable characters, at most 128
 * bytes), else "unknown" (managerOrUserAgent + buildManagerInfo).  Owned
 * by arena. */
const char *kr_managed_manager_name(kr_arena_t *arena, const char *field_manager,
                                    const char *user_agent);

/* The update proper, on decoded entries: structured-merge-diff's
 * Updater.Update (the fields base -> obj added or changed go to entry
 * `id`, others lose what it changed or removed), then stripmeta, the
 * entry's time (`now`, when it changed anything) and the cap on Update
 * entries.  base and obj without managedFields.  -1 when an object cannot
 * be read (t's errors say why). */
int kr_managed_record_update(kr_typed_t *t, kr_managed_t *m, const kr_value_t *base,
                             const kr_value_t *obj, const char *id, const char *manager,
                             const char *subresource, const char *now);

/* Records a create, update or non-apply patch in obj.metadata.managedFields
 * as upstream's FieldManager.UpdateNoErrors: `live` is the stored object
 * (NULL on create), `obj` the object about to be stored (defaulted), whose
 * own managedFields are taken when it sets them (a client may rewrite
 * them; [] or [{}] resets them).  The fields the write added or changed go
 * to (manager, Update, kind's apiVersion, subresource) with time `now`
 * (RFC 3339) when it changed anything; other managers lose the fields it
 * changed or removed.  An object stored without managedFields stays
 * without them.  Never fails the write: when the object cannot be read
 * (a list item without its key), obj keeps live's managedFields.
 * subresource: NULL, "status" or "scale". */
void kr_managed_update(kr_arena_t *arena, const kr_kind_t *kind, const kr_value_t *live,
                       kr_value_t *obj, const char *manager, const char *subresource,
                       const char *now);

/* The field-manager checks of upstream's ValidatePatchOptions: fieldManager
 * is required for an apply patch ("is required for apply patch"), force is
 * forbidden on other patches ("may not be specified for non-apply patch"),
 * fieldManager has at most 128 bytes of printable characters.  Adds causes
 * to v; the caller reports them as
 *   kr_validation_error(v, "meta.k8s.io", "PatchOptions", "", err)
 * (for create and update the same fieldManager rule holds: pass apply =
 * false, force_set = false and report CreateOptions/UpdateOptions). */
void kr_managed_check_options(kr_validation_t *v, bool apply, const char *field_manager,
                              bool force_set);

#ifdef __cplusplus
}
#endif
#endif
