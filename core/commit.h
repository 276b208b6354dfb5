/* Group commit: the thread that drives the store (DESIGN.md §2 "store
 * interface").
 *
 * The API (broker thread) submits writes; the committer thread takes
 * everything queued, hands it to the store's txn() as one transaction, and
 * returns the batch through a queue whose eventfd the broker thread polls.
 * While one transaction is on its way to disk the next batch collects, so
 * durability costs one fsync per batch, not per write.  Batches complete
 * in submit order, so revisions reach the cache in order.
 */
#ifndef KRAAL_CORE_COMMIT_H
#define KRAAL_CORE_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One write.  The submitter owns the item and what `w` points to; it gets
 * the item back from kr_commit_take_done. */
typedef struct kr_commit_item {
    struct kr_commit_item *next; /* private while submitted */
    kr_store_write_t w;          /* w.result set when the batch committed */
    int status;                  /* 0: the batch committed; < 0: it failed (err) */
    kr_error_t err;              /* why the batch failed */
    void *ud;                    /* the submitter's */
} kr_commit_item_t;

typedef struct kr_commit kr_commit_t;

/* Largest batch handed to one txn. */
#define KR_COMMIT_MAX_BATCH 4096

/* Starts the committer thread over a registered store.  NULL with err. */
kr_commit_t *kr_commit_new(const kr_store_ops_t *ops, void *store, kr_error_t *err);
/* Waits until every submitted write has completed and stops the thread;
 * kr_commit_take_done then returns the last results.  Idempotent. */
void kr_commit_stop(kr_commit_t *c);
/* Stops (as above) and frees; items never taken stay the caller's. */
void kr_commit_destroy(kr_commit_t **self_p);

/* Readable (eventfd) when completed items are waiting. */
int kr_commit_fd(const kr_commit_t *c);
/* Queues one write (any thread, usually the broker's). */
void kr_commit_submit(kr_commit_t *c, kr_commit_item_t *item);
/* Takes every completed item, in submit order (a NULL-terminated list
 * through ->next), and clears the eventfd. */
kr_commit_item_t *kr_commit_take_done(kr_commit_t *c);
/* Asks the committer to compact the store at `rev` between batches. */
void kr_commit_compact(kr_commit_t *c, int64_t rev);

/* Upper bounds of the histogram buckets: a transaction's duration in
 * microseconds, and its size in writes (the last bucket is +Inf). */
#define KR_COMMIT_DURATION_BOUNDS_US                                                         \
    {                                                                                        \
        500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000 \
    }
#define KR_COMMIT_BATCH_BOUNDS                                  \
    {                                                           \
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096 \
    }
#define KR_COMMIT_DURATION_BUCKETS 12
#define KR_COMMIT_BATCH_BUCKETS    13

/* Counters for /metrics, benchmarks and tests.  Buckets are not cumulative. */
typedef struct kr_commit_stats {
    uint64_t batches, writes, failed_batches, max_batch;
    uint64_t duration_us_sum;
    uint64_t duration[KR_COMMIT_DURATION_BUCKETS + 1]; /* + the +Inf bucket */
    uint64_t batch[KR_COMMIT_BATCH_BUCKETS + 1];
} kr_commit_stats_t;
void kr_commit_stats(const kr_commit_t *c, kr_commit_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
