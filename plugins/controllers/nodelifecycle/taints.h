/* controller-nodelifecycle: the pure parts — taints and tolerations
 * (k8s.io/api/core/v1 toleration.go, pkg/apis/core/v1/helper), the taint
 * eviction's toleration times (pkg/controller/tainteviction), zone states
 * (ComputeZoneState) and the token bucket of the NoExecute tainter
 * (client-go flowcontrol, burst 1). */
#ifndef KRAAL_CONTROLLER_NODELIFECYCLE_TAINTS_H
#define KRAAL_CONTROLLER_NODELIFECYCLE_TAINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

#define NL_TAINT_NOT_READY     "node.kubernetes.io/not-ready"
#define NL_TAINT_UNREACHABLE   "node.kubernetes.io/unreachable"
#define NL_TAINT_UNSCHEDULABLE "node.kubernetes.io/unschedulable"

/* Toleration.ToleratesTaint: `tol` and `taint` are maps as in a Pod's
 * spec.tolerations and a Node's spec.taints. */
bool nl_tolerates(const kr_value_t *tol, const kr_value_t *taint);

/* GetMatchingTolerations + getMinTolerationTime: whether every taint of
 * `taints` (an array of NoExecute taints) is tolerated by `tolerations`;
 * if so, *min_s is how long the pod may stay: the shortest
 * tolerationSeconds of the tolerations used, 0 when one of them says
 * <= 0 (or none was used), -1 when they all tolerate for ever. */
bool nl_tolerated_for(const kr_value_t *taints, const kr_value_t *tolerations, int64_t *min_s);

/* The NoSchedule taint key for a node condition (nodeConditionToTaintKeyStatusMap):
 * Ready False → not-ready, Ready Unknown → unreachable, MemoryPressure,
 * DiskPressure, NetworkUnavailable, PIDPressure True → theirs; else NULL. */
const char *nl_condition_taint(const char *type, const char *status);
/* A key of a taint the controller owns with NoSchedule (the keys above and
 * unschedulable). */
bool nl_condition_taint_key(const char *key);

/* What a node's NoExecute controller taints should be: kept as they are
 * (no decision yet), none, not-ready or unreachable. */
typedef enum { NX_KEEP, NX_NONE, NX_NOT_READY, NX_UNREACHABLE } nl_noexec_t;

/* A node's taints as they should be (in `a`): its other taints kept in
 * their order; the condition NoSchedule taints its conditions and
 * spec.unschedulable call for, those no longer called for dropped; the
 * not-ready/unreachable NoExecute taint `nx` asks for (a new one with
 * timeAdded `now`), the other one dropped — or both kept as they are for
 * NX_KEEP. */
kr_value_t *nl_desired_taints(kr_arena_t *a, const kr_value_t *node, nl_noexec_t nx,
                              const char *now);
/* The same taints (key and effect), in any order. */
bool nl_same_taints(const kr_value_t *a, const kr_value_t *b);

/* reconcileNodeLabels: the beta OS and arch labels a node lacks or has
 * with another value than kubernetes.io/os and kubernetes.io/arch, as a
 * map of labels to set (in `a`); NULL when nothing is to change. */
kr_value_t *nl_beta_labels(kr_arena_t *a, const kr_value_t *labels);

typedef enum { NL_ZONE_INITIAL, NL_ZONE_NORMAL, NL_ZONE_PARTIAL, NL_ZONE_FULL } nl_zone_state_t;
const char *nl_zone_state_name(nl_zone_state_t s);
/* ComputeZoneState: FullDisruption when no node is ready, PartialDisruption
 * when more than 2 are not and they are at least `threshold` of all. */
nl_zone_state_t nl_zone_state(int ready, int not_ready, double threshold);

/* A token bucket of burst 1 (flowcontrol.NewTokenBucketRateLimiter(qps, 1)),
 * starting full; qps <= 0 never accepts (NewFakeNeverRateLimiter). */
typedef struct nl_bucket {
    double qps, tokens;
    uint64_t last_ms;
} nl_bucket_t;
void nl_bucket_init(nl_bucket_t *b, double qps, uint64_t now_ms);
/* SwapLimiter: a new rate; the bucket stays drained if it was. */
void nl_bucket_swap(nl_bucket_t *b, double qps, uint64_t now_ms);
bool nl_bucket_try(nl_bucket_t *b, uint64_t now_ms);

#endif
