/* controller-deployment: the pure parts of the Deployment controller, after
 * upstream's pkg/controller/deployment/util/deployment_util.go, sync.go,
 * rolling.go and progress.go — the pod-template-hash, revisions and their
 * annotations, maxSurge/maxUnavailable, how many pods the new ReplicaSet
 * gets, which old ReplicaSets shrink, proportional scaling, the status and
 * its conditions.  No I/O: unit-tested in tests/test_dep_util.c.
 *
 * ReplicaSets are passed as arrays of kr_value_t trees the caller may
 * change (spec.replicas, annotations) in `a`; the helpers that decide a
 * new size only return it. */
#ifndef DEP_UTIL_H
#define DEP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

#define DP_HASH_LABEL        "pod-template-hash"
#define DP_REVISION          "deployment.kubernetes.io/revision"
#define DP_REVISION_HISTORY  "deployment.kubernetes.io/revision-history"
#define DP_DESIRED_REPLICAS  "deployment.kubernetes.io/desired-replicas"
#define DP_MAX_REPLICAS      "deployment.kubernetes.io/max-replicas"
#define DP_MAX_HISTORY_CHARS 2000

/* ---- hash ------------------------------------------------------------------ */

/* ComputeHash: FNV-32a over the template, then collisionCount (4 bytes,
 * little-endian) when `collision_count` >= 0, printed in decimal and each
 * digit mapped through rand.SafeEncodeString's alphabet.  Upstream hashes
 * Go's deep-print of the PodTemplateSpec, which C cannot reproduce; here
 * the template is written as JSON with sorted keys (stable across
 * restarts and versions of this plugin, different from upstream's value).
 * `out` >= 11 bytes. */
void dp_hash(const kr_value_t *tmpl, int64_t collision_count, char *out, size_t size);

/* EqualIgnoreHash: the templates equal once pod-template-hash is dropped
 * from both labels. */
bool dp_templates_equal(const kr_value_t *a, const kr_value_t *b);

/* ---- spec ------------------------------------------------------------------ */

int64_t dp_replicas(const kr_value_t *obj);         /* spec.replicas, 1 when absent */
bool dp_is_rolling(const kr_value_t *d);            /* strategy RollingUpdate */
bool dp_has_progress_deadline(const kr_value_t *d); /* set and not MaxInt32 */

/* intstr.GetScaledValueFromIntOrPercent: an int, or "N%" of total
 * rounded up or down.  -1 when `v` is neither. */
int64_t dp_int_or_percent(const kr_value_t *v, int64_t total, bool round_up);
/* ResolveFenceposts: maxSurge rounded up, maxUnavailable down, both 0
 * made unavailable 1. */
void dp_fenceposts(const kr_value_t *d, int64_t *surge, int64_t *unavailable);
int64_t dp_max_surge(const kr_value_t *d);       /* 0 for Recreate */
int64_t dp_max_unavailable(const kr_value_t *d); /* 0 for Recreate or 0 replicas */

/* ---- ReplicaSets ------------------------------------------------------------ */

int64_t dp_rs_replicas(const kr_value_t *rs); /* spec.replicas (0 when absent) */
int64_t dp_rs_status(const kr_value_t *rs, const char *field);
/* The revision annotation (0 when absent or not a number). */
int64_t dp_revision(const kr_value_t *obj);
/* The int annotation `key`, or -1. */
int64_t dp_int_annotation(const kr_value_t *obj, const char *key);

/* FindNewReplicaSet: the oldest ReplicaSet whose template equals the
 * Deployment's (ignoring the hash), or -1. */
long dp_find_new(const kr_value_t *d, kr_value_t *const *rss, size_t n);

/* Sorts by creation time, then name (ReplicaSetsByCreationTimestamp). */
void dp_sort_by_creation(kr_value_t **rss, size_t n);
/* ReplicaSetsByRevision: revision, then creation time. */
void dp_sort_by_revision(kr_value_t **rss, size_t n);

/* NewRSNewReplicas: the new ReplicaSet's next size (new_rs may be one not
 * created yet); `all` includes it. */
int64_t dp_new_rs_new_replicas(const kr_value_t *d, kr_value_t *const *all, size_t n,
                               const kr_value_t *new_rs);

/* IsSaturated. */
bool dp_is_saturated(const kr_value_t *d, const kr_value_t *rs);

/* SetNewReplicaSetAnnotations: the Deployment's annotations copied (but
 * the ones it keeps for itself), the revision raised to `new_revision`
 * (the old one appended to revision-history, at most
 * DP_MAX_HISTORY_CHARS), and, for a ReplicaSet about to be created, the
 * desired/max-replicas annotations.  True when something changed. */
bool dp_set_new_rs_annotations(kr_arena_t *a, const kr_value_t *d, kr_value_t *rs,
                               int64_t new_revision, bool exists);
/* SetReplicasAnnotations: true when changed. */
bool dp_set_replicas_annotations(kr_arena_t *a, kr_value_t *rs, int64_t desired, int64_t max);
bool dp_replicas_annotations_need_update(const kr_value_t *rs, int64_t desired, int64_t max);

/* The sizes `scale` wants during a scaling event (proportional scaling);
 * sizes[i] for rss[i] (all active ReplicaSets plus the new one, which
 * may have 0 replicas).  Returns false when nothing is to change. */
bool dp_proportional_sizes(const kr_value_t *d, kr_value_t *const *rss, size_t n,
                           const kr_value_t *new_rs, int64_t *sizes);

/* reconcileOldReplicaSets for a rolling update: the new sizes of the old
 * ReplicaSets (`old`, sorted by creation by the function; sizes[i] for
 * old[i] after the sort): unhealthy replicas cleaned up first, then scaled
 * down as far as minAvailable allows.  Returns the pods scaled down. */
int64_t dp_rolling_old_sizes(const kr_value_t *d, kr_value_t **old, size_t n,
                             const kr_value_t *new_rs, int64_t *sizes);

/* ---- status ----------------------------------------------------------------- */

/* calculateStatus + the Available condition.  `all` are every ReplicaSet
 * (new included), new_rs may be NULL.  In `a`. */
kr_value_t *dp_status(kr_arena_t *a, const kr_value_t *d, kr_value_t *const *all, size_t n,
                      const kr_value_t *new_rs, int64_t now_sec);

/* syncRolloutStatus's conditions on `st` (from dp_status): Progressing
 * (NewReplicaSetAvailable, ReplicaSetUpdated, ProgressDeadlineExceeded)
 * and ReplicaFailure copied from the ReplicaSets. */
void dp_rollout_conditions(kr_arena_t *a, const kr_value_t *d, kr_value_t *st,
                           kr_value_t *const *all, size_t n, const kr_value_t *new_rs,
                           int64_t now_sec);

/* DeploymentComplete. */
bool dp_complete(const kr_value_t *d, const kr_value_t *status);

/* SetDeploymentCondition: keeps lastTransitionTime when the status does
 * not change; nothing when status and reason are the same. */
void dp_set_condition(kr_arena_t *a, kr_value_t *status, const char *type, const char *cstatus,
                      const char *reason, const char *message, int64_t now_sec);
const kr_value_t *dp_get_condition(const kr_value_t *status, const char *type);
void dp_remove_condition(kr_value_t *status, const char *type);

/* requeueStuckDeployment: ms until the progress deadline must be checked
 * again, or 0 when nothing waits. */
uint64_t dp_progress_recheck_ms(const kr_value_t *d, const kr_value_t *new_status, int64_t now_sec);

#endif
