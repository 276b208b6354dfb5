/* controller-namespace: the status conditions of a terminating namespace,
 * after upstream's pkg/controller/namespace/deletion/status_condition_utils.go.
 *
 * A deletion pass ends with an outcome (what discovery, deletion and the
 * verifying lists found); ns_conditions_update turns it into the five
 * conditions upstream maintains, each either its failure form (status
 * True, a reason and a message naming what failed) or its "ok" form
 * (status False, ResourcesDiscovered, ContentRemoved, ...). */
#ifndef KRAAL_CONTROLLER_NAMESPACE_CONDITIONS_H
#define KRAAL_CONTROLLER_NAMESPACE_CONDITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

/* A resource ("pods.", "deployments.apps": upstream's
 * "<resource>.<group>") or a finalizer, with how many objects remain. */
typedef struct ns_count {
    const char *name;
    int64_t n;
} ns_count_t;

typedef struct ns_outcome {
    const char *discovery_err;       /* NULL when every kind was discovered */
    const char *const *content_errs; /* one per resource whose deletion failed */
    size_t n_content_errs;
    const ns_count_t *remaining; /* resources with objects left */
    size_t n_remaining;
    const ns_count_t *finalizers; /* finalizers holding objects left */
    size_t n_finalizers;
} ns_outcome_t;

/* Sets the five conditions in status.conditions of `ns` (a namespace built
 * in `arena`, modified in place) from the outcome; `now` is the RFC 3339
 * time of a transition.  A condition keeps its lastTransitionTime unless
 * its status changes.  True when anything changed (the status must be
 * written). */
bool ns_conditions_update(kr_arena_t *arena, kr_value_t *ns, const ns_outcome_t *o,
                          const char *now);

#endif
