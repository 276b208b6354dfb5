/* controller-job: the Job controller's pure decisions, after upstream's
 * pkg/controller/job (job_controller.go, indexed_job_utils.go,
 * backoff_utils.go), kept apart so that unit tests reach them. */
#ifndef KRAAL_JOB_LOGIC_H
#define KRAAL_JOB_LOGIC_H

#include <stdbool.h>
#include <stdint.h>

#include <kraal/value.h>

#define JOB_INDEX_ANNOTATION "batch.kubernetes.io/job-completion-index"
#define JOB_INDEX_ENV        "JOB_COMPLETION_INDEX"
/* DefaultJobPodFailureBackOff and its cap (the Job documentation's six
 * minutes). */
#define JOB_BACKOFF_BASE_MS 10000
#define JOB_BACKOFF_MAX_MS  360000
/* MaxPodCreateDeletePerSync */
#define JOB_MAX_PER_SYNC 500
/* Indexed jobs: completions at most this (validation's limit). */
#define JOB_MAX_INDEXES 100000

/* How many pods should run (manageJob's wantActive): with completions
 * (completions >= 0) never more than the completions still missing nor
 * than parallelism; without (completions < 0) parallelism until a first
 * success, then whatever still runs. */
int64_t job_want_active(int64_t completions, int64_t parallelism, int64_t succeeded,
                        int64_t active);

/* The time still to wait before creating a pod after `failures` failures
 * since the last success, the last at last_failure_ms (getRemainingTime):
 * 10 s doubling per failure, capped at 6 min; 0 when no wait is left. */
int64_t job_backoff_remaining_ms(int64_t failures, int64_t last_failure_ms, int64_t now_ms);

/* A pod's completion index (getCompletionIndex): the annotation, else the
 * label, a non-negative decimal; -1 when absent or malformed. */
int64_t job_pod_index(const kr_value_t *pod);

/* Index sets are byte arrays of `n` entries (0/1).  job_indexes_parse adds
 * the intervals of a completedIndexes string ("1,3-5,7") that fall in
 * [0, n); false when the string is malformed (the well-formed prefix is
 * added, as upstream's parseIndexesFromString keeps going). */
bool job_indexes_parse(const char *s, uint8_t *set, int64_t n);
/* The compressed form ("1,3-5,7", "" for none) in `arena`. */
char *job_indexes_format(kr_arena_t *arena, const uint8_t *set, int64_t n);
/* firstPendingIndexes: the `count` lowest indexes in neither set, written
 * to out; returns how many were found. */
int64_t job_first_pending(const uint8_t *succeeded, const uint8_t *active, int64_t n, int64_t count,
                          int64_t *out);

/* When a terminated pod finished (getFinishedTime): the latest
 * terminated.finishedAt of its containers, else its deletion or creation
 * time; in ms since the epoch, or `dflt`. */
int64_t job_pod_finish_ms(const kr_value_t *pod, int64_t dflt);

/* Restart counts of a pod's containers and init containers (for
 * restartPolicy OnFailure's backoffLimit). */
int64_t job_pod_restarts(const kr_value_t *pod);

/* The slow start's next batch: 1, 2, 4, ... never more than `left`. */
int64_t job_slow_start_next(int64_t prev, int64_t left);

#endif
