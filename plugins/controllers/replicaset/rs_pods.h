/* controller-replicaset: the pure parts of the ReplicaSet controller,
 * after upstream's pkg/controller/replicaset/replica_set.go and
 * pkg/controller/controller_utils.go — which pods go first on a
 * scale-down (ActivePodsWithRanks), the status counts, the slow-start
 * batches.  No I/O: unit-tested in tests/test_rs_pods.c. */
#ifndef RS_PODS_H
#define RS_PODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

#define RS_DELETION_COST "controller.kubernetes.io/pod-deletion-cost"

/* A pod with its rank: the number of active pods of the same owner family
 * on its node (getPodsRankedByRelatedPodsOnSameNode). */
typedef struct rs_ranked {
    const kr_value_t *pod;
    int rank;
} rs_ranked_t;

/* ActivePodsWithRanks.Less with LogarithmicScaleDown: < 0 when `a` is
 * deleted before `b` — unassigned first, Pending < Unknown < Running, not
 * ready first, lower pod-deletion-cost first, higher rank (doubled up)
 * first, ready for a shorter time first (by powers of two of the time
 * since), more restarts first, newer first (powers of two again).  now_ns:
 * kr_time_now_ns(). */
int rs_ranked_cmp(const rs_ranked_t *a, const rs_ranked_t *b, int64_t now_ns);

/* getPodsToDelete: sorts `pods` (n of them) so that the first `diff` are the
 * ones to delete; ranks come from `related` (the active pods of every
 * ReplicaSet of the same controller, these included).  Keeps the input
 * order when diff >= n, as upstream. */
void rs_pods_to_delete(const kr_value_t **pods, size_t n, const kr_value_t *const *related,
                       size_t n_related, size_t diff, int64_t now_ns);

/* The status counts of calculateStatus. */
typedef struct rs_counts {
    int64_t replicas, fully_labeled, ready, available;
    /* seconds until the next ready pod becomes available (0: none waits) */
    int64_t next_available_s;
} rs_counts_t;

/* Counts `pods` (the ReplicaSet's active pods) against the template's
 * labels and minReadySeconds, at now_sec. */
void rs_counts_of(const kr_value_t *const *pods, size_t n, const kr_value_t *template_labels,
                  int64_t min_ready_seconds, int64_t now_sec, rs_counts_t *out);

/* The status the ReplicaSet should have (calculateStatus): the counts,
 * observedGeneration, and the ReplicaFailure condition — added when
 * manage_err is set (reason FailedCreate when creating, else
 * FailedDelete), removed when it is not, kept otherwise.  `old_status`
 * may be NULL.  In `a`. */
kr_value_t *rs_status_new(kr_arena_t *a, const kr_value_t *old_status, const rs_counts_t *c,
                          int64_t generation, const char *manage_err, bool creating,
                          int64_t now_sec);

/* updateReplicaSetStatus's test: true when `new_status` differs from
 * `old_status` in a field the controller writes. */
bool rs_status_changed(const kr_value_t *old_status, const kr_value_t *new_status);

/* slowStartBatch: the size of the next batch, given the last one (0 before
 * the first) and what is left: 1, 2, 4, ... capped by what is left. */
int64_t rs_slow_start_next(int64_t last, int64_t remaining);

#endif
