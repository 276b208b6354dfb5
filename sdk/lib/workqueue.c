/* The work queue: one record per known key in a chained hash table, a ring
 * of record pointers for FIFO order, a min-heap of records for delayed keys
 * (one loop timer armed for the earliest), and a zero-delay loop timer that
 * hands keys out so that handlers never run inside add().
 *
 * A record lives while the key is waiting, in flight, delayed or has
 * requeues to remember; it is freed as soon as none of these holds.  The
 * ring holds a record exactly when it is dirty and not in flight, so it
 * never holds one twice.
 */
#include <kraal/workqueue.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "heap.h"
#include "xalloc.h"

/* Keys handed out per dispatch pass: other loop sources get their turn
 * between passes when a handler answers synchronously. */
#define WQ_DISPATCH_BATCH 1024

typedef struct wq_item {
    struct wq_item *next; /* hash chain */
    uint64_t hash;
    kr_heap_node_t delay; /* when delayed: key = kr_time_ms() at which it is
                             added, seq = FIFO order among equal due times */
    unsigned failures;
    bool dirty;      /* needs processing (waiting, or re-added in flight) */
    bool processing; /* handed out, done not called yet */
    char key[];
} wq_item_t;

struct kr_workqueue {
    kr_loop_t *loop;
    kr_workqueue_fn fn;
    void *ud;
    char *name;
    unsigned max_in_flight;
    uint64_t base_delay_ms;
    uint64_t max_delay_ms;
    double qps; /* <= 0: no bucket */
    double burst;

    wq_item_t **buckets;
    size_t nbuckets; /* power of two */
    size_t nitems;

    wq_item_t **ring;
    size_t ring_cap; /* power of two */
    size_t ring_head;
    size_t ring_len;

    kr_heap_t heap;
    uint64_t next_seq;

    size_t in_flight;
    bool shutting_down;
    bool dispatching; /* on_dispatch re-arms itself when it ends */

    uint64_t dispatch_timer;
    uint64_t delay_timer;
    uint64_t delay_timer_due;

    double tokens;
    uint64_t tokens_at;
};

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

/* ---- hash table --------------------------------------------------------- */

static wq_item_t *item_find(const kr_workqueue_t *q, const char *key, uint64_t h)
{
    for (wq_item_t *it = q->buckets[h & (q->nbuckets - 1)]; it != NULL; it = it->next)
        if (it->hash == h && strcmp(it->key, key) == 0)
            return it;
    return NULL;
}

static void table_grow(kr_workqueue_t *q)
{
    size_t n = q->nbuckets * 2;
    wq_item_t **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < q->nbuckets; i++) {
        wq_item_t *it = q->buckets[i];
        while (it != NULL) {
            wq_item_t *next = it->next;
            it->next = b[it->hash & (n - 1)];
            b[it->hash & (n - 1)] = it;
            it = next;
        }
    }
    free(q->buckets);
    q->buckets = b;
    q->nbuckets = n;
}

static wq_item_t *item_get(kr_workqueue_t *q, const char *key)
{
    uint64_t h = hash_key(key);
    wq_item_t *it = item_find(q, key, h);
    if (it != NULL)
        return it;
    if (q->nitems >= q->nbuckets)
        table_grow(q);
    size_t len = strlen(key);
    it = xcalloc(1, sizeof *it + len + 1);
    memcpy(it->key, key, len + 1);
    it->hash = h;
    it->delay.idx = KR_HEAP_NONE;
    wq_item_t **slot = &q->buckets[h & (q->nbuckets - 1)];
    it->next = *slot;
    *slot = it;
    q->nitems++;
    return it;
}

/* Frees the record once nothing refers to the key any more. */
static void item_release(kr_workqueue_t *q, wq_item_t *it)
{
    if (it->dirty || it->processing || kr_heap_in(&it->delay) || it->failures > 0)
        return;
    wq_item_t **pp = &q->buckets[it->hash & (q->nbuckets - 1)];
    while (*pp != it)
        pp = &(*pp)->next;
    *pp = it->next;
    q->nitems--;
    free(it);
}

/* ---- FIFO ring ---------------------------------------------------------- */

static void ring_push(kr_workqueue_t *q, wq_item_t *it)
{
    if (q->ring_len == q->ring_cap) {
        size_t cap = q->ring_cap ? q->ring_cap * 2 : 64;
        wq_item_t **r = xcalloc(cap, sizeof *r);
        for (size_t i = 0; i < q->ring_len; i++)
            r[i] = q->ring[(q->ring_head + i) & (q->ring_cap - 1)];
        free(q->ring);
        q->ring = r;
        q->ring_cap = cap;
        q->ring_head = 0;
    }
    q->ring[(q->ring_head + q->ring_len) & (q->ring_cap - 1)] = it;
    q->ring_len++;
}

static wq_item_t *ring_pop(kr_workqueue_t *q)
{
    wq_item_t *it = q->ring[q->ring_head];
    q->ring_head = (q->ring_head + 1) & (q->ring_cap - 1);
    q->ring_len--;
    return it;
}

/* ---- delay heap --------------------------------------------------------- */

static wq_item_t *heap_pop(kr_workqueue_t *q)
{
    kr_heap_node_t *top = kr_heap_top(&q->heap);
    kr_heap_remove(&q->heap, top);
    return KR_CONTAINER_OF(top, wq_item_t, delay);
}

/* ---- hand-out ----------------------------------------------------------- */

static void on_dispatch(kr_loop_t *loop, uint64_t id, void *ud);

static bool can_dispatch(const kr_workqueue_t *q)
{
    return !q->shutting_down && q->ring_len > 0 && q->in_flight < q->max_in_flight;
}

static void schedule_dispatch(kr_workqueue_t *q)
{
    if (q->dispatch_timer == 0 && !q->dispatching && can_dispatch(q))
        q->dispatch_timer = kr_loop_add_timer(q->loop, 0, 0, on_dispatch, q);
}

static void on_dispatch(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    kr_workqueue_t *q = ud;
    q->dispatch_timer = 0;
    q->dispatching = true;
    for (int n = 0; n < WQ_DISPATCH_BATCH && can_dispatch(q); n++) {
        wq_item_t *it = ring_pop(q);
        it->dirty = false;
        it->processing = true;
        q->in_flight++;
        q->fn(q, it->key, q->ud);
    }
    q->dispatching = false;
    schedule_dispatch(q);
}

static void enqueue(kr_workqueue_t *q, wq_item_t *it)
{
    if (it->dirty)
        return;
    it->dirty = true;
    if (it->processing)
        return; /* done() queues it again */
    ring_push(q, it);
    schedule_dispatch(q);
}

/* ---- delayed keys ------------------------------------------------------- */

static void on_delay(kr_loop_t *loop, uint64_t id, void *ud);

static void arm_delay_timer(kr_workqueue_t *q)
{
    if (kr_heap_top(&q->heap) == NULL || q->shutting_down) {
        if (q->delay_timer != 0)
            kr_loop_cancel_timer(q->loop, q->delay_timer);
        q->delay_timer = 0;
        return;
    }
    uint64_t due = kr_heap_top(&q->heap)->key;
    if (q->delay_timer != 0 && q->delay_timer_due == due)
        return;
    if (q->delay_timer != 0)
        kr_loop_cancel_timer(q->loop, q->delay_timer);
    uint64_t now = kr_time_ms();
    q->delay_timer = kr_loop_add_timer(q->loop, due > now ? due - now : 0, 0, on_delay, q);
    q->delay_timer_due = due;
}

static void on_delay(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    kr_workqueue_t *q = ud;
    q->delay_timer = 0;
    uint64_t now = kr_time_ms();
    while (kr_heap_top(&q->heap) != NULL && kr_heap_top(&q->heap)->key <= now) {
        wq_item_t *it = heap_pop(q);
        enqueue(q, it);
        item_release(q, it);
    }
    arm_delay_timer(q);
}

static int check_key(const kr_workqueue_t *q, const char *key, kr_error_t *err)
{
    if (key == NULL || key[0] == '\0')
        return kr_error_set(err, KR_E_INVALID, "workqueue \"%s\": key: Required value", q->name);
    return 0;
}

static void add_delayed(kr_workqueue_t *q, wq_item_t *it, uint64_t delay_ms)
{
    uint64_t now = kr_time_ms();
    uint64_t due = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
    if (kr_heap_in(&it->delay)) {
        if (due < it->delay.key) {
            it->delay.key = due;
            kr_heap_update(&q->heap, &it->delay);
        }
    } else {
        it->delay.key = due;
        it->delay.seq = q->next_seq++;
        kr_heap_push(&q->heap, &it->delay);
    }
    arm_delay_timer(q);
}

/* ---- rate limiting ------------------------------------------------------ */

static uint64_t item_backoff(const kr_workqueue_t *q, unsigned failures)
{
    if (failures >= 63 || q->base_delay_ms > (q->max_delay_ms >> failures))
        return q->max_delay_ms;
    uint64_t d = q->base_delay_ms << failures;
    return d < q->max_delay_ms ? d : q->max_delay_ms;
}

/* Reserves one token and returns how long the caller must wait for it
 * (golang.org/x/time/rate Reserve().Delay()): tokens may go negative, so
 * a burst of adds spreads out at `qps`. */
static uint64_t bucket_reserve(kr_workqueue_t *q)
{
    if (q->qps <= 0)
        return 0;
    uint64_t now = kr_time_ms();
    if (now > q->tokens_at) {
        q->tokens += (double)(now - q->tokens_at) * q->qps / 1000.0;
        if (q->tokens > q->burst)
            q->tokens = q->burst;
    }
    q->tokens_at = now > q->tokens_at ? now : q->tokens_at;
    q->tokens -= 1.0;
    if (q->tokens >= 0)
        return 0;
    return (uint64_t)ceil(-q->tokens * 1000.0 / q->qps);
}

/* ---- public API --------------------------------------------------------- */

kr_workqueue_t *kr_workqueue_new(kr_loop_t *loop, const kr_workqueue_opts_t *opts,
                                 kr_workqueue_fn fn, void *ud, kr_error_t *err)
{
    kr_workqueue_opts_t o = {0};
    if (opts != NULL)
        o = *opts;
    const char *name = o.name != NULL && o.name[0] != '\0' ? o.name : "workqueue";
    if (loop == NULL || fn == NULL) {
        kr_error_set(err, KR_E_INVALID, "workqueue \"%s\": %s: Required value", name,
                     loop == NULL ? "loop" : "handler");
        return NULL;
    }
    uint64_t base = o.base_delay_ms ? o.base_delay_ms : 5;
    uint64_t max = o.max_delay_ms ? o.max_delay_ms : 1000000;
    if (max < base) {
        kr_error_set(err, KR_E_INVALID,
                     "workqueue \"%s\": max_delay_ms: Invalid value: %llu: must be greater "
                     "than or equal to base_delay_ms (%llu)",
                     name, (unsigned long long)max, (unsigned long long)base);
        return NULL;
    }
    if (isnan(o.qps) || isinf(o.qps)) {
        kr_error_set(err, KR_E_INVALID, "workqueue \"%s\": qps: Invalid value: must be finite",
                     name);
        return NULL;
    }
    kr_workqueue_t *q = xcalloc(1, sizeof *q);
    q->loop = loop;
    q->fn = fn;
    q->ud = ud;
    size_t nlen = strlen(name);
    q->name = xcalloc(1, nlen + 1);
    memcpy(q->name, name, nlen);
    q->max_in_flight = o.max_in_flight ? o.max_in_flight : 1;
    q->base_delay_ms = base;
    q->max_delay_ms = max;
    q->qps = o.qps == 0 ? 10.0 : o.qps;
    q->burst = o.burst ? (double)o.burst : 100.0;
    q->tokens = q->burst;
    q->tokens_at = kr_time_ms();
    q->nbuckets = 64;
    q->buckets = xcalloc(q->nbuckets, sizeof *q->buckets);
    return q;
}

void kr_workqueue_destroy(kr_workqueue_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_workqueue_t *q = *self_p;
    if (q->dispatch_timer != 0)
        kr_loop_cancel_timer(q->loop, q->dispatch_timer);
    if (q->delay_timer != 0)
        kr_loop_cancel_timer(q->loop, q->delay_timer);
    for (size_t i = 0; i < q->nbuckets; i++) {
        wq_item_t *it = q->buckets[i];
        while (it != NULL) {
            wq_item_t *next = it->next;
            free(it);
            it = next;
        }
    }
    free(q->buckets);
    free(q->ring);
    kr_heap_free(&q->heap);
    free(q->name);
    free(q);
    *self_p = NULL;
}

int kr_workqueue_add(kr_workqueue_t *q, const char *key, kr_error_t *err)
{
    int rc = check_key(q, key, err);
    if (rc < 0)
        return rc;
    if (q->shutting_down)
        return 0;
    enqueue(q, item_get(q, key));
    return 0;
}

int kr_workqueue_add_after(kr_workqueue_t *q, const char *key, uint64_t delay_ms, kr_error_t *err)
{
    int rc = check_key(q, key, err);
    if (rc < 0)
        return rc;
    if (q->shutting_down)
        return 0;
    wq_item_t *it = item_get(q, key);
    if (delay_ms == 0)
        enqueue(q, it);
    else
        add_delayed(q, it, delay_ms);
    return 0;
}

int kr_workqueue_add_rate_limited(kr_workqueue_t *q, const char *key, kr_error_t *err)
{
    int rc = check_key(q, key, err);
    if (rc < 0)
        return rc;
    if (q->shutting_down)
        return 0;
    wq_item_t *it = item_get(q, key);
    uint64_t d = item_backoff(q, it->failures);
    if (it->failures < UINT32_MAX)
        it->failures++;
    uint64_t b = bucket_reserve(q);
    if (b > d)
        d = b;
    if (d == 0)
        enqueue(q, it);
    else
        add_delayed(q, it, d);
    return 0;
}

void kr_workqueue_forget(kr_workqueue_t *q, const char *key)
{
    if (key == NULL)
        return;
    wq_item_t *it = item_find(q, key, hash_key(key));
    if (it == NULL)
        return;
    it->failures = 0;
    item_release(q, it);
}

unsigned kr_workqueue_num_requeues(const kr_workqueue_t *q, const char *key)
{
    if (key == NULL)
        return 0;
    const wq_item_t *it = item_find(q, key, hash_key(key));
    return it != NULL ? it->failures : 0;
}

int kr_workqueue_done(kr_workqueue_t *q, const char *key, kr_error_t *err)
{
    int rc = check_key(q, key, err);
    if (rc < 0)
        return rc;
    wq_item_t *it = item_find(q, key, hash_key(key));
    if (it == NULL || !it->processing)
        return kr_error_set(err, KR_E_NOT_FOUND, "workqueue \"%s\": key \"%s\" is not in flight",
                            q->name, key);
    it->processing = false;
    q->in_flight--;
    if (it->dirty)
        ring_push(q, it);
    item_release(q, it);
    schedule_dispatch(q);
    return 0;
}

size_t kr_workqueue_len(const kr_workqueue_t *q)
{
    return q->ring_len;
}

size_t kr_workqueue_in_flight(const kr_workqueue_t *q)
{
    return q->in_flight;
}

void kr_workqueue_shutdown(kr_workqueue_t *q)
{
    if (q == NULL || q->shutting_down)
        return;
    q->shutting_down = true;
    if (q->dispatch_timer != 0)
        kr_loop_cancel_timer(q->loop, q->dispatch_timer);
    q->dispatch_timer = 0;
    /* Delayed keys will never be added now: let their records go. */
    while (kr_heap_top(&q->heap) != NULL) {
        wq_item_t *it = heap_pop(q);
        item_release(q, it);
    }
    arm_delay_timer(q);
}

bool kr_workqueue_shutting_down(const kr_workqueue_t *q)
{
    return q->shutting_down;
}
