/* Server-side apply: PATCH with Content-Type application/apply-patch+yaml
 * (bus op "patch", opts.patchType "application/apply-patch+yaml").
 *
 * The applied configuration is merged into the live object the way
 * sigs.k8s.io/structured-merge-diff merges (fields it sets replace live
 * values, maps merge by key, associative lists by item), fields the
 * manager applied last time and no longer applies are removed when no
 * other manager owns them, a field the configuration changes that
 * another manager owns is a conflict (409, unless force, which takes the
 * field over), and the manager's Apply entry in metadata.managedFields
 * becomes the set of fields the configuration names.  As upstream's
 * FieldManager.Apply (k8s.io/apimachinery/pkg/util/managedfields).
 */
#ifndef KRAAL_CORE_APPLY_H
#define KRAAL_CORE_APPLY_H

#include <stdbool.h>

#include <kraal/error.h>
#include <kraal/value.h>

#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The patch type the REST gateway passes through. */
#define KR_APPLY_PATCH_TYPE "application/apply-patch+yaml"
/* The annotation kubectl's client-side apply keeps. */
#define KR_LAST_APPLIED_ANNOTATION "kubectl.kubernetes.io/last-applied-configuration"

typedef struct kr_apply_opts {
    const char *manager;     /* opts.fieldManager (checked by kr_managed_check_options) */
    bool force;              /* opts.force */
    const char *subresource; /* NULL, or "status" */
    const char *name;        /* the name on the request (an object created must carry it) */
    const char *ns;          /* the request's namespace ("" for cluster-scoped kinds) */
    const char *now;         /* RFC 3339 time of this write */
} kr_apply_opts_t;

/* Applies `config` (the decoded patch body) for opts->manager to `live`
 * (the stored object, or NULL when there is none: apply creates it).
 * On success *out is the object to store: the merge result with its
 * metadata.managedFields, not yet defaulted or validated; when the apply
 * changes nothing it is live itself (its managedFields may still differ:
 * store it only if it differs from live, as for any no-op write).
 * Errors, in upstream's words:
 *   KR_E_BAD_REQUEST  the body is not an object ("error decoding YAML:
 *                     ..."), apiVersion/kind are not the kind's ("invalid
 *                     object type: apps/v1, Kind=Deployment"),
 *                     metadata.managedFields is set ("metadata.managedFields
 *                     must be nil"), an object created without its name
 *                     ("the name of the object (web based on URL) was
 *                     undeterminable: name must be provided") or under
 *                     another ("the name of the object (a) does not match
 *                     the name on the URL (b)");
 *   KR_E_CONFLICT     fields owned by other managers: "Apply failed with 1
 *                     conflict: conflict with \"kubectl\": .spec.replicas",
 *                     and *details (when details is not NULL) is the
 *                     metav1.StatusDetails {causes: [{reason:
 *                     "FieldManagerConflict", message: "conflict with
 *                     \"kubectl\"", field: ".spec.replicas"}]};
 *   KR_E_INTERNAL     the configuration cannot be read against the schema
 *                     ("failed to create typed patch object (default/web;
 *                     apps/v1, Kind=Deployment): .spec.template.spec.
 *                     containers: element 0: associative list with keys
 *                     has an element that omits key field \"name\" (and
 *                     doesn't have default value)"), or live's
 *                     managedFields cannot be decoded.
 * *out and *details are owned by arena. */
int kr_apply(kr_arena_t *arena, const kr_kind_t *kind, const kr_value_t *live,
             const kr_value_t *config, const kr_apply_opts_t *opts, kr_value_t **out,
             kr_value_t **details, kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
