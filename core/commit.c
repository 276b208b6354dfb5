/* Group commit (commit.h).
 *
 * Two queues guarded by one mutex: `in` (submitted, not yet taken by the
 * committer) and `done` (completed, not yet taken by the broker).  The
 * committer sleeps on a condition variable while `in` is empty; the broker
 * polls an eventfd that is readable exactly while `done` is not empty (it is
 * written and read under the mutex).  The store is only ever called from the
 * committer thread, one call at a time, as store.h promises the plugin.
 *
 * A compaction runs between two batches, once every write submitted before
 * it was asked for has completed: the revision it names is then on disk
 * (or failed), whatever the order of batches and requests. */
#include "commit.h"
#include "thread.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <kraal/log.h>
#include <kraal/loop.h>

#include "xalloc.h"

#define TAG "commit"

struct kr_commit {
    const kr_store_ops_t *ops;
    void *store;
    pthread_t thread;
    int efd;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    kr_commit_item_t *in_head, *in_tail;     /* guarded by mu */
    kr_commit_item_t *done_head, *done_tail; /* guarded by mu */
    uint64_t submitted, completed;           /* guarded by mu: items counted */
    int64_t compact_rev;                     /* guarded by mu; 0 = none asked */
    uint64_t compact_after;                  /* guarded by mu: run once completed >= this */
    bool stopping;                           /* guarded by mu */
    bool idle;                               /* waiting for work; guarded by mu */
    bool joined;                             /* only the stopping thread */

    kr_store_write_t *batch; /* the committer's: writes handed to txn */
    kr_commit_item_t **items;

    _Atomic uint64_t batches, writes, failed_batches, max_batch;
    _Atomic uint64_t duration_us_sum;
    _Atomic uint64_t duration[KR_COMMIT_DURATION_BUCKETS + 1];
    _Atomic uint64_t batch_hist[KR_COMMIT_BATCH_BUCKETS + 1];
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The bucket of `v` among ascending upper bounds; n = the +Inf bucket. */
static size_t bucket_of(uint64_t v, const uint64_t *bounds, size_t n)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    return i;
}

/* Appends a chain to `done` and makes the eventfd readable; mu held. */
static void done_append(kr_commit_t *c, kr_commit_item_t *head, kr_commit_item_t *tail)
{
    if (c->done_tail != NULL)
        c->done_tail->next = head;
    else
        c->done_head = head;
    c->done_tail = tail;
    uint64_t one = 1;
    /* Cannot fail but for an overflow of the counter, which 2^64 - 1
     * batches between two takes will not reach. */
    ssize_t n = write(c->efd, &one, sizeof one);
    (void)n;
}

/* Takes up to KR_COMMIT_MAX_BATCH items off `in` into c->items; mu held. */
static size_t take_batch(kr_commit_t *c)
{
    size_t n = 0;
    while (c->in_head != NULL && n < KR_COMMIT_MAX_BATCH) {
        kr_commit_item_t *it = c->in_head;
        c->in_head = it->next;
        it->next = NULL;
        c->items[n++] = it;
    }
    if (c->in_head == NULL)
        c->in_tail = NULL;
    return n;
}

static void run_compact(kr_commit_t *c, int64_t rev)
{
    kr_error_t err;
    kr_error_clear(&err);
    uint64_t t0 = kr_time_ms();
    if (c->ops->compact(c->store, rev, &err) < 0)
        KR_ERROR(TAG, "compaction failed", "revision=%" PRId64 " error=\"%s\"", rev, err.message);
    else
        KR_DEBUG(TAG, "compacted", "revision=%" PRId64 " ms=%" PRIu64, rev, kr_time_ms() - t0);
}

static void run_batch(kr_commit_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        c->batch[i] = c->items[i]->w;
        c->batch[i].create_rev = 0;
        c->batch[i].result = 0;
    }
    kr_error_t err;
    kr_error_clear(&err);
    uint64_t t0 = now_us();
    int rc = c->ops->txn(c->store, c->batch, n, &err);
    uint64_t took = now_us() - t0;
    static const uint64_t dbounds[] = KR_COMMIT_DURATION_BOUNDS_US;
    static const uint64_t bbounds[] = KR_COMMIT_BATCH_BOUNDS;
    atomic_fetch_add_explicit(&c->duration_us_sum, took, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->duration[bucket_of(took, dbounds, KR_COMMIT_DURATION_BUCKETS)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&c->batch_hist[bucket_of(n, bbounds, KR_COMMIT_BATCH_BUCKETS)], 1,
                              memory_order_relaxed);
    if (rc < 0 && err.reason == KR_E_OK)
        kr_error_set(&err, KR_E_INTERNAL, "the store failed the transaction without saying why");
    for (size_t i = 0; i < n; i++) {
        kr_commit_item_t *it = c->items[i];
        if (rc < 0) {
            it->status = rc;
            it->err = err;
        } else {
            it->status = 0;
            it->w.result = c->batch[i].result;
            it->w.create_rev = c->batch[i].create_rev;
            kr_error_clear(&it->err);
        }
        it->next = i + 1 < n ? c->items[i + 1] : NULL;
    }
    atomic_fetch_add_explicit(&c->batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->writes, n, memory_order_relaxed);
    if (rc < 0) {
        atomic_fetch_add_explicit(&c->failed_batches, 1, memory_order_relaxed);
        KR_ERROR(TAG, "transaction failed", "writes=%zu error=\"%s\"", n, err.message);
    }
    if (n > atomic_load_explicit(&c->max_batch, memory_order_relaxed))
        atomic_store_explicit(&c->max_batch, n, memory_order_relaxed);
}

/* mu held.  Nothing is in flight while the committer looks, so "every
 * write submitted before the request completed" cannot wait forever. */
static bool compact_due(const kr_commit_t *c)
{
    return c->compact_rev != 0 && c->completed >= c->compact_after;
}

static void *committer_main(void *arg)
{
    kr_commit_t *c = arg;
    pthread_setname_np(pthread_self(), "kraal-commit");
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->in_head == NULL && !compact_due(c) && !c->stopping) {
            c->idle = true;
            pthread_cond_wait(&c->cv, &c->mu);
            c->idle = false;
        }
        if (compact_due(c)) {
            int64_t rev = c->compact_rev;
            c->compact_rev = 0;
            pthread_mutex_unlock(&c->mu);
            run_compact(c, rev);
            pthread_mutex_lock(&c->mu);
            continue;
        }
        if (c->in_head == NULL)
            break; /* stopping, and everything submitted has completed */
        size_t n = take_batch(c);
        pthread_mutex_unlock(&c->mu);
        run_batch(c, n);
        pthread_mutex_lock(&c->mu);
        c->completed += n;
        done_append(c, c->items[0], c->items[n - 1]);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

kr_commit_t *kr_commit_new(const kr_store_ops_t *ops, void *store, kr_error_t *err)
{
    if (ops == NULL || ops->txn == NULL || ops->compact == NULL) {
        kr_error_set(err, KR_E_INTERNAL, "commit: a store with txn and compact is required");
        return NULL;
    }
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) {
        kr_error_set(err, KR_E_INTERNAL, "commit: eventfd: %s", strerror(errno));
        return NULL;
    }
    kr_commit_t *c = xcalloc(1, sizeof *c);
    c->ops = ops;
    c->store = store;
    c->efd = efd;
    c->batch = xcalloc(KR_COMMIT_MAX_BATCH, sizeof *c->batch);
    c->items = xcalloc(KR_COMMIT_MAX_BATCH, sizeof *c->items);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);

    int rc = kr_thread_create(&c->thread, NULL, committer_main, c);
    if (rc != 0) {
        kr_error_set(err, KR_E_INTERNAL, "commit: starting the committer thread: %s", strerror(rc));
        c->joined = true;
        kr_commit_destroy(&c);
        return NULL;
    }
    return c;
}

void kr_commit_stop(kr_commit_t *c)
{
    if (c == NULL || c->joined)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    c->joined = true;
}

void kr_commit_destroy(kr_commit_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_commit_t *c = *self_p;
    kr_commit_stop(c);
    close(c->efd);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c->batch);
    free(c->items);
    free(c);
    *self_p = NULL;
}

int kr_commit_fd(const kr_commit_t *c)
{
    return c->efd;
}

void kr_commit_submit(kr_commit_t *c, kr_commit_item_t *item)
{
    item->next = NULL;
    item->status = 0;
    pthread_mutex_lock(&c->mu);
    if (c->stopping) {
        /* Nobody will commit it: it completes at once, failed. */
        item->status = kr_error_set(&item->err, KR_E_SERVICE_UNAVAILABLE,
                                    "the store is shutting down; the write was not made");
        done_append(c, item, item);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    c->submitted++;
    if (c->in_tail != NULL)
        c->in_tail->next = item;
    else
        c->in_head = item;
    c->in_tail = item;
    /* a busy committer takes the queue when its batch is done: only an
     * idle one needs a wakeup (one futex call per batch, not per write) */
    if (c->idle) {
        c->idle = false;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

kr_commit_item_t *kr_commit_take_done(kr_commit_t *c)
{
    pthread_mutex_lock(&c->mu);
    kr_commit_item_t *head = c->done_head;
    c->done_head = c->done_tail = NULL;
    uint64_t v;
    ssize_t n = read(c->efd, &v, sizeof v); /* EAGAIN when nothing was done */
    (void)n;
    pthread_mutex_unlock(&c->mu);
    return head;
}

void kr_commit_compact(kr_commit_t *c, int64_t rev)
{
    if (rev <= 0)
        return;
    pthread_mutex_lock(&c->mu);
    if (rev > c->compact_rev)
        c->compact_rev = rev;
    c->compact_after = c->submitted;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void kr_commit_stats(const kr_commit_t *c, kr_commit_stats_t *out)
{
    out->batches = atomic_load_explicit(&c->batches, memory_order_relaxed);
    out->writes = atomic_load_explicit(&c->writes, memory_order_relaxed);
    out->failed_batches = atomic_load_explicit(&c->failed_batches, memory_order_relaxed);
    out->max_batch = atomic_load_explicit(&c->max_batch, memory_order_relaxed);
    out->duration_us_sum = atomic_load_explicit(&c->duration_us_sum, memory_order_relaxed);
    for (size_t i = 0; i <= KR_COMMIT_DURATION_BUCKETS; i++)
        out->duration[i] = atomic_load_explicit(&c->duration[i], memory_order_relaxed);
    for (size_t i = 0; i <= KR_COMMIT_BATCH_BUCKETS; i++)
        out->batch[i] = atomic_load_explicit(&c->batch_hist[i], memory_order_relaxed);
}
