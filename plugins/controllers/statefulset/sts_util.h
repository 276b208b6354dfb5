/* controller-statefulset: the pure parts, after upstream's
 * pkg/controller/statefulset (stateful_set_utils.go, stateful_set_control.go)
 * and pkg/controller/history — ordinals and identities, the pods made for
 * an ordinal, revisions and their hash, and one sync's decisions
 * (updateStatefulSet) with the status they leave.  Nothing here talks to
 * the bus. */
#ifndef STS_UTIL_H
#define STS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

#define STS_REVISION_LABEL  "controller-revision-hash"
#define STS_POD_NAME_LABEL  "statefulset.kubernetes.io/pod-name"
#define STS_POD_INDEX_LABEL "apps.kubernetes.io/pod-index"

/* ---- ordinals ----------------------------------------------------------------- */

/* getParentNameAndOrdinal: "web-12" -> parent "web" (its length in
 * *parent_len), 12; -1 when the name does not end in "-<digits>". */
int64_t sts_ordinal(const char *pod_name, size_t *parent_len);
/* isMemberOf: the pod's name is "<set>-<ordinal>". */
bool sts_is_member(const char *set_name, const char *pod_name);
/* spec.ordinals.start (0 when absent), spec.replicas (1 when absent). */
int64_t sts_start_ordinal(const kr_value_t *set);
int64_t sts_replicas(const kr_value_t *set);

/* ---- pods --------------------------------------------------------------------- */

/* newStatefulSetPod with `tmpl` (the set's template, or a revision's):
 * name "<set>-<ordinal>", the template's labels with the pod-name and
 * pod-index labels and controller-revision-hash `revision`, hostname the
 * pod's name, subdomain spec.serviceName, a persistentVolumeClaim volume
 * "<claim>-<set>-<ordinal>" for each volumeClaimTemplate, the controller
 * reference to `set`.  In `a`. */
kr_value_t *sts_new_pod(kr_arena_t *a, const kr_value_t *set, const kr_value_t *tmpl,
                        const char *revision, int64_t ordinal);

/* identityMatches: the pod-name label is there (and the name is the
 * set's ordinal name). */
bool sts_identity_matches(const kr_value_t *set, const kr_value_t *pod);

/* ---- revisions -------------------------------------------------------------------- */

/* getPatch: {"spec":{"template":<template + "$patch":"replace">}}. */
kr_value_t *sts_revision_data(kr_arena_t *a, const kr_value_t *set);
/* The template a revision holds (ApplyRevision's), without "$patch"; in `a`. */
kr_value_t *sts_revision_template(kr_arena_t *a, const kr_value_t *rev);
/* HashControllerRevision: FNV-32 (not 32a, as upstream's fnv.New32) over
 * the data as Go's json.Marshal writes a map (sorted keys, <, > and &
 * escaped), then the collision count in decimal when >= 0, printed in
 * decimal through rand.SafeEncodeString's alphabet.  `size` >= 11. */
void sts_revision_hash(const kr_value_t *data, int64_t collision_count, char *out, size_t size);

/* ---- one sync ------------------------------------------------------------------------ */

typedef enum sts_action_kind {
    STS_CREATE,  /* create `pod` (a new pod for ordinal) */
    STS_DELETE,  /* delete `pod` (uid precondition) */
    STS_RELABEL, /* `pod` lacks its identity labels: add them */
} sts_action_kind_t;

typedef struct sts_action {
    sts_action_kind_t kind;
    const kr_value_t *pod; /* for STS_CREATE a new pod in the arena */
    const char *why;       /* "scale down", "update", "failed", "succeeded", ... */
} sts_action_t;

typedef struct sts_status {
    int64_t replicas, ready, available, current, updated;
    const char *current_revision, *update_revision;
} sts_status_t;

typedef struct sts_plan_in {
    const kr_value_t *set;
    const char *current_revision, *update_revision;
    const kr_value_t *current_template, *update_template;
    const kr_value_t *const *pods; /* the set's members (any order) */
    size_t npods;
    int64_t now_s;
} sts_plan_in_t;

/* updateStatefulSet: what one sync does (OrderedReady: at most one create
 * or delete, waiting for every predecessor to be Running and Ready;
 * Parallel: every missing pod created, every condemned pod deleted; then a
 * RollingUpdate deletes the highest ordinal >= partition whose revision is
 * not the update revision, once every replica is healthy), and the status
 * it leaves (completeRollingUpdate applied).  *actions is allocated in `a`;
 * returns their number. */
size_t sts_plan(kr_arena_t *a, const sts_plan_in_t *in, sts_action_t **actions,
                sts_status_t *status);

#endif
