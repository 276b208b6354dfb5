/* controller-daemonset: the pure parts, after upstream's
 * pkg/controller/daemon (daemon_controller.go, update.go, util/) — which
 * nodes should run a daemon pod, the pod made for a node, the rolling
 * update's picks, the failed-pod back-off and the revision hash.  Nothing
 * here talks to the bus. */
#ifndef DS_UTIL_H
#define DS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

#define DS_HASH_LABEL       "controller-revision-hash"
#define DS_GENERATION_LABEL "pod-template-generation"
#define DS_GENERATION_ANN   "deprecated.daemonset.template.generation"

/* ---- eligibility ------------------------------------------------------------- */

/* AddOrUpdateDaemonPodTolerations: the tolerations every daemon pod gets
 * (not-ready and unreachable NoExecute; disk-, memory-, pid-pressure and
 * unschedulable NoSchedule; network-unavailable NoSchedule with
 * hostNetwork), added to `spec` (a pod spec in `a`) unless an equal one
 * is there; a matching one with other tolerationSeconds is replaced. */
void ds_add_daemon_tolerations(kr_arena_t *a, kr_value_t *spec);

/* v1.Toleration.ToleratesTaint. */
bool ds_tolerates(const kr_value_t *toleration, const kr_value_t *taint);

/* GetRequiredNodeAffinity(pod).Match(node): the nodeSelector and the
 * required node affinity terms (matchExpressions on labels, matchFields on
 * metadata.name) of a pod spec against a node.  A malformed term matches
 * nothing. */
bool ds_node_affinity_match(const kr_value_t *pod_spec, const kr_value_t *node);

/* NodeShouldRunDaemonPod: *should_run when a daemon pod should be created
 * on `node`, *should_continue when one that is there may stay (it
 * tolerates the node's NoExecute taints).  `ds` is the whole DaemonSet. */
void ds_node_should_run(const kr_value_t *ds, const kr_value_t *node, bool *should_run,
                        bool *should_continue);

/* The same for many nodes: `tols` is ds_pod_tolerations' result (the
 * template's tolerations plus the daemon ones, in `a`), computed once. */
const kr_value_t *ds_pod_tolerations(kr_arena_t *a, const kr_value_t *ds);
void ds_node_should_run_tols(const kr_value_t *ds, const kr_value_t *tols, const kr_value_t *node,
                             bool *should_run, bool *should_continue);

/* GetTargetNodeName: spec.nodeName, else the node a daemon pod's
 * matchFields metadata.name In [node] names; NULL when neither. */
const char *ds_target_node(const kr_value_t *pod);

/* The pod for `node` (CreatePodTemplate + ReplaceDaemonSetPodNodeNameNodeAffinity):
 * the template's labels with controller-revision-hash `hash` (and
 * pod-template-generation when the DaemonSet has the annotation), the
 * daemon tolerations, the required node affinity replaced by
 * matchFields metadata.name In [node], generateName "<ds>-" and the
 * controller reference.  In `a`. */
kr_value_t *ds_pod_for_node(kr_arena_t *a, const kr_value_t *ds, const char *hash,
                            const char *node);

/* IsPodUpdated: the pod carries the hash (or the template generation). */
bool ds_pod_updated(const kr_value_t *ds, const kr_value_t *pod, const char *hash);

/* podByCreationTimestampAndPhase: scheduled first, then oldest, then by name. */
int ds_pod_cmp_age(const kr_value_t *a, const kr_value_t *b);

/* ---- rolling update ---------------------------------------------------------- */

/* intstr.GetScaledValueFromIntOrPercent; -1 when `v` is neither an int
 * nor "N%". */
int64_t ds_int_or_percent(const kr_value_t *v, int64_t total, bool round_up);

/* updatedDesiredNodeCounts' limits for `desired` nodes: maxSurge and
 * maxUnavailable of a RollingUpdate (both 0 for OnDelete), unavailability
 * 1 when both come out 0. */
void ds_update_limits(const kr_value_t *ds, int64_t desired, int64_t *max_surge,
                      int64_t *max_unavailable);

/* A node as the rolling update sees it. */
typedef struct ds_node_state {
    const char *node;
    const kr_value_t *new_pod, *old_pod; /* findUpdatedPodsOnNode */
    bool excess;                         /* more than one old or one new pod */
    bool should_run;                     /* NodeShouldRunDaemonPod */
    bool new_available, old_available;
} ds_node_state_t;

/* rollingUpdate's choice: indexes into `nodes` of the old pods to delete
 * (`del`, at most n) and of the nodes to create a new pod on (`create`,
 * surge only).  Both arrays hold n entries; `desired` is the number of
 * nodes that should run the pod. */
void ds_rolling_pick(const ds_node_state_t *nodes, size_t n, int64_t desired, int64_t max_surge,
                     int64_t max_unavailable, size_t *del, size_t *n_del, size_t *create,
                     size_t *n_create);

/* ---- failed pods' back-off ----------------------------------------------------- */

/* flowcontrol.Backoff for one (DaemonSet, node): 1 s doubling to 15 min,
 * forgotten after twice the cap without a failure. */
typedef struct ds_backoff {
    int64_t last_ms; /* 0: none */
    int64_t delay_ms;
} ds_backoff_t;

/* IsInBackOffSinceUpdate: still waiting at now_ms; *wait_ms is what is left. */
bool ds_backoff_waiting(const ds_backoff_t *b, int64_t now_ms, int64_t *wait_ms);
/* Next: one more failure at now_ms. */
void ds_backoff_next(ds_backoff_t *b, int64_t now_ms);

/* ---- revisions ----------------------------------------------------------------- */

/* ComputeHash(&spec.template, status.collisionCount): FNV-32a over the
 * template written as JSON with sorted keys (upstream hashes Go's
 * deep-print, which C cannot reproduce), then the collision count
 * (little-endian uint32) when >= 0, in decimal mapped through
 * rand.SafeEncodeString's alphabet.  `size` >= 11. */
void ds_hash(const kr_value_t *tmpl, int64_t collision_count, char *out, size_t size);

/* getPatch: {"spec":{"template":<template + "$patch":"replace">}}, the
 * ControllerRevision's data, in `a`. */
kr_value_t *ds_revision_data(kr_arena_t *a, const kr_value_t *ds);

/* Match: the revision's data is the DaemonSet's template. */
bool ds_revision_matches(const kr_value_t *ds, const kr_value_t *rev);

#endif
