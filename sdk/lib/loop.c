/* The event loop: epoll for fds, a min-heap of timers (epoll timeout), an
 * eventfd so that kr_loop_stop() works from any thread or signal handler,
 * and prepare hooks for edge-triggered sources such as ZeroMQ sockets.
 *
 * Callbacks may add or remove fds and timers, including their own.  Fd
 * entries carry a generation number packed into the epoll data so that an
 * event already returned by epoll_wait for an fd that a previous callback
 * removed (or removed and re-added) in the same iteration is ignored.
 */
#include <kraal/loop.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "heap.h"
#include "xalloc.h"

#define LOOP_MAX_EVENTS 256

typedef struct fd_entry {
    kr_fd_fn fn;
    void *ud;
    uint32_t events;
    uint32_t gen; /* bumped on add and remove */
    bool active;
} fd_entry_t;

typedef struct ltimer {
    uint64_t id;
    uint64_t repeat;
    kr_timer_fn fn;
    void *ud;
    kr_heap_node_t node; /* key = deadline, seq = id: equal deadlines fire in creation order */
} ltimer_t;

#define TIMER_OF(n) KR_CONTAINER_OF(n, ltimer_t, node)

typedef struct prepare {
    uint64_t id;
    kr_prepare_fn fn;
    void *ud;
} prepare_t;

struct kr_loop {
    int epfd;
    int evfd;
    atomic_bool stopped;
    uint64_t now;

    fd_entry_t *fds;
    size_t nfds;

    /* Timers: a binary min-heap on deadline plus an open-addressing index
     * from id to timer for O(1) cancel lookup. */
    kr_heap_t timers;
    ltimer_t **index; /* tombstone = (ltimer_t *)1 */
    size_t index_cap, index_used;
    uint64_t next_timer_id;

    prepare_t *prep;
    size_t nprep, prep_cap;
    uint64_t next_prep_id;
};

#define TOMBSTONE ((ltimer_t *)1)

uint64_t kr_time_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

kr_loop_t *kr_loop_new(kr_error_t *err)
{
    kr_loop_t *loop = xcalloc(1, sizeof *loop);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        kr_error_set(err, KR_E_INTERNAL, "epoll_create1: %s", strerror(errno));
        free(loop);
        return NULL;
    }
    loop->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->evfd < 0) {
        kr_error_set(err, KR_E_INTERNAL, "eventfd: %s", strerror(errno));
        close(loop->epfd);
        free(loop);
        return NULL;
    }
    /* The eventfd is marked with an all-ones data word, never a valid fd. */
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->evfd, &ev) < 0) {
        kr_error_set(err, KR_E_INTERNAL, "epoll_ctl(eventfd): %s", strerror(errno));
        close(loop->evfd);
        close(loop->epfd);
        free(loop);
        return NULL;
    }
    atomic_init(&loop->stopped, false);
    loop->now = kr_time_ms();
    loop->next_timer_id = 1;
    loop->next_prep_id = 1;
    return loop;
}

void kr_loop_destroy(kr_loop_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_loop_t *loop = *self_p;
    for (size_t i = 0; i < loop->timers.len; i++)
        free(TIMER_OF(loop->timers.v[i]));
    kr_heap_free(&loop->timers);
    free(loop->index);
    free(loop->fds);
    free(loop->prep);
    close(loop->evfd);
    close(loop->epfd);
    free(loop);
    *self_p = NULL;
}

/* ---- fds --------------------------------------------------------------- */

static uint32_t to_epoll(uint32_t events)
{
    uint32_t e = 0;
    if (events & KR_LOOP_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (events & KR_LOOP_WRITE)
        e |= EPOLLOUT;
    return e;
}

static uint64_t fd_data(int fd, uint32_t gen)
{
    return ((uint64_t)gen << 32) | (uint32_t)fd;
}

int kr_loop_add_fd(kr_loop_t *loop, int fd, uint32_t events, kr_fd_fn fn, void *ud, kr_error_t *err)
{
    if (fd < 0 || fn == NULL)
        return kr_error_set(err, KR_E_INVALID, "kr_loop_add_fd: invalid fd %d or callback", fd);
    if ((size_t)fd >= loop->nfds) {
        size_t n = loop->nfds ? loop->nfds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        loop->fds = xrealloc(loop->fds, n * sizeof *loop->fds);
        memset(loop->fds + loop->nfds, 0, (n - loop->nfds) * sizeof *loop->fds);
        loop->nfds = n;
    }
    fd_entry_t *e = &loop->fds[fd];
    if (e->active)
        return kr_error_set(err, KR_E_ALREADY_EXISTS, "fd %d is already watched by this loop", fd);
    e->gen++;
    struct epoll_event ev = {.events = to_epoll(events), .data.u64 = fd_data(fd, e->gen)};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return kr_error_set(err, errno == EEXIST ? KR_E_ALREADY_EXISTS : KR_E_INVALID,
                            "epoll_ctl(ADD, fd %d): %s", fd, strerror(errno));
    e->fn = fn;
    e->ud = ud;
    e->events = events;
    e->active = true;
    return 0;
}

int kr_loop_mod_fd(kr_loop_t *loop, int fd, uint32_t events, kr_error_t *err)
{
    if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].active)
        return kr_error_set(err, KR_E_NOT_FOUND, "fd %d is not watched by this loop", fd);
    fd_entry_t *e = &loop->fds[fd];
    struct epoll_event ev = {.events = to_epoll(events), .data.u64 = fd_data(fd, e->gen)};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return kr_error_set(err, KR_E_INVALID, "epoll_ctl(MOD, fd %d): %s", fd, strerror(errno));
    e->events = events;
    return 0;
}

int kr_loop_remove_fd(kr_loop_t *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].active)
        return -(int)KR_E_NOT_FOUND;
    fd_entry_t *e = &loop->fds[fd];
    /* The fd may already be closed by the caller; epoll then dropped it. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    e->active = false;
    e->gen++;
    e->fn = NULL;
    e->ud = NULL;
    return 0;
}

/* ---- timers ------------------------------------------------------------ */

static size_t index_slot(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

static void index_insert(kr_loop_t *loop, ltimer_t *t);

static void index_grow(kr_loop_t *loop)
{
    ltimer_t **old = loop->index;
    size_t oldcap = loop->index_cap;
    loop->index_cap = oldcap ? oldcap * 2 : 64;
    /* shrink back when most slots were tombstones */
    if (oldcap && loop->timers.len * 4 < oldcap)
        loop->index_cap = oldcap;
    loop->index = xcalloc(loop->index_cap, sizeof *loop->index);
    loop->index_used = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i] != NULL && old[i] != TOMBSTONE)
            index_insert(loop, old[i]);
    free(old);
}

static void index_insert(kr_loop_t *loop, ltimer_t *t)
{
    if ((loop->index_used + 1) * 2 > loop->index_cap)
        index_grow(loop);
    size_t i = index_slot(t->id, loop->index_cap);
    while (loop->index[i] != NULL && loop->index[i] != TOMBSTONE)
        i = (i + 1) & (loop->index_cap - 1);
    if (loop->index[i] == NULL)
        loop->index_used++;
    loop->index[i] = t;
}

static ltimer_t **index_find(kr_loop_t *loop, uint64_t id)
{
    if (loop->index_cap == 0)
        return NULL;
    size_t i = index_slot(id, loop->index_cap);
    while (loop->index[i] != NULL) {
        if (loop->index[i] != TOMBSTONE && loop->index[i]->id == id)
            return &loop->index[i];
        i = (i + 1) & (loop->index_cap - 1);
    }
    return NULL;
}

uint64_t kr_loop_add_timer(kr_loop_t *loop, uint64_t delay_ms, uint64_t repeat_ms, kr_timer_fn fn,
                           void *ud)
{
    if (fn == NULL)
        return 0;
    ltimer_t *t = xcalloc(1, sizeof *t);
    t->id = loop->next_timer_id++;
    t->node.key = kr_time_ms() + delay_ms;
    t->node.seq = t->id;
    t->repeat = repeat_ms;
    t->fn = fn;
    t->ud = ud;
    kr_heap_push(&loop->timers, &t->node);
    index_insert(loop, t);
    return t->id;
}

bool kr_loop_cancel_timer(kr_loop_t *loop, uint64_t timer_id)
{
    ltimer_t **slot = index_find(loop, timer_id);
    if (slot == NULL)
        return false;
    ltimer_t *t = *slot;
    *slot = TOMBSTONE;
    if (kr_heap_in(&t->node))
        kr_heap_remove(&loop->timers, &t->node);
    free(t);
    return true;
}

static int run_timers(kr_loop_t *loop)
{
    int n = 0;
    /* Timers added by callbacks during this pass have deadlines >= now + 0
     * and may fire in the same pass only if their delay is 0; a repeating
     * timer is rescheduled from `now`, so it fires at most once per pass. */
    kr_heap_node_t *top;
    while ((top = kr_heap_top(&loop->timers)) != NULL && top->key <= loop->now) {
        ltimer_t *t = TIMER_OF(top);
        uint64_t id = t->id;
        kr_timer_fn fn = t->fn;
        void *ud = t->ud;
        if (t->repeat) {
            t->node.key = loop->now + t->repeat;
            kr_heap_update(&loop->timers, &t->node);
        } else {
            kr_heap_remove(&loop->timers, &t->node);
            ltimer_t **slot = index_find(loop, id);
            if (slot != NULL)
                *slot = TOMBSTONE;
            free(t);
        }
        fn(loop, id, ud);
        n++;
    }
    return n;
}

/* ---- prepare hooks ----------------------------------------------------- */

uint64_t kr_loop_add_prepare(kr_loop_t *loop, kr_prepare_fn fn, void *ud)
{
    if (fn == NULL)
        return 0;
    if (loop->nprep == loop->prep_cap) {
        loop->prep_cap = loop->prep_cap ? loop->prep_cap * 2 : 8;
        loop->prep = xrealloc(loop->prep, loop->prep_cap * sizeof *loop->prep);
    }
    prepare_t *p = &loop->prep[loop->nprep++];
    p->id = loop->next_prep_id++;
    p->fn = fn;
    p->ud = ud;
    return p->id;
}

bool kr_loop_remove_prepare(kr_loop_t *loop, uint64_t id)
{
    for (size_t i = 0; i < loop->nprep; i++) {
        if (loop->prep[i].id == id) {
            memmove(&loop->prep[i], &loop->prep[i + 1], (loop->nprep - i - 1) * sizeof *loop->prep);
            loop->nprep--;
            return true;
        }
    }
    return false;
}

static bool run_prepare(kr_loop_t *loop)
{
    bool pending = false;
    /* A hook may remove itself or others: walk by id, re-finding the
     * position after each call. */
    for (size_t i = 0; i < loop->nprep; i++) {
        uint64_t id = loop->prep[i].id;
        if (loop->prep[i].fn(loop, loop->prep[i].ud))
            pending = true;
        if (i >= loop->nprep || loop->prep[i].id != id) {
            size_t j = 0;
            while (j < loop->nprep && loop->prep[j].id <= id)
                j++;
            i = j - 1; /* wraps to SIZE_MAX when j == 0; the ++ makes it 0 */
        }
    }
    return pending;
}

/* ---- running ----------------------------------------------------------- */

int kr_loop_run_once(kr_loop_t *loop, int timeout_ms, kr_error_t *err)
{
    loop->now = kr_time_ms();
    int n = run_timers(loop);
    if (run_prepare(loop) || n > 0)
        timeout_ms = 0;
    if (atomic_load_explicit(&loop->stopped, memory_order_relaxed))
        timeout_ms = 0;
    if (timeout_ms != 0 && kr_heap_top(&loop->timers) != NULL) {
        uint64_t now = kr_time_ms();
        uint64_t d = kr_heap_top(&loop->timers)->key;
        uint64_t wait = d > now ? d - now : 0;
        if (wait > INT32_MAX)
            wait = INT32_MAX;
        if (timeout_ms < 0 || (uint64_t)timeout_ms > wait)
            timeout_ms = (int)wait;
    }
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int ne = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);
    if (ne < 0) {
        if (errno == EINTR)
            return n;
        return kr_error_set(err, KR_E_INTERNAL, "epoll_wait: %s", strerror(errno));
    }
    loop->now = kr_time_ms();
    for (int i = 0; i < ne; i++) {
        uint64_t data = evs[i].data.u64;
        if (data == UINT64_MAX) {
            uint64_t v;
            while (read(loop->evfd, &v, sizeof v) > 0) {
            }
            continue;
        }
        int fd = (int)(uint32_t)data;
        uint32_t gen = (uint32_t)(data >> 32);
        if ((size_t)fd >= loop->nfds)
            continue;
        fd_entry_t *e = &loop->fds[fd];
        if (!e->active || e->gen != gen)
            continue; /* removed or replaced by an earlier callback */
        uint32_t got = 0;
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
            got |= KR_LOOP_READ;
        if (evs[i].events & EPOLLOUT)
            got |= KR_LOOP_WRITE;
        if (evs[i].events & (EPOLLERR | EPOLLHUP))
            got |= KR_LOOP_ERROR;
        e->fn(loop, fd, got, e->ud);
        n++;
    }
    n += run_timers(loop);
    return n;
}

int kr_loop_run(kr_loop_t *loop, kr_error_t *err)
{
    while (!atomic_load_explicit(&loop->stopped, memory_order_acquire)) {
        int rc = kr_loop_run_once(loop, -1, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void kr_loop_stop(kr_loop_t *loop)
{
    atomic_store_explicit(&loop->stopped, true, memory_order_release);
    uint64_t one = 1;
    /* write(2) is async-signal-safe; a full counter still wakes epoll */
    ssize_t rc = write(loop->evfd, &one, sizeof one);
    (void)rc;
}

bool kr_loop_stopped(const kr_loop_t *loop)
{
    return atomic_load_explicit(&loop->stopped, memory_order_acquire);
}

uint64_t kr_loop_now(kr_loop_t *loop)
{
    return loop->now;
}
