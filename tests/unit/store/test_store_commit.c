/* Group commit (core/commit.c) over the real sqlite store: writes
 * submitted from one thread are batched by the committer, come back in
 * submit order, and the eventfd tells when. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "store_fixture.h"

typedef struct tstate {
    char *dir;
    store_fixture_t sf;
    kr_commit_t *c;
} tstate_t;

static int setup(void **state)
{
    tstate_t *t = calloc(1, sizeof *t);
    t->dir = sf_tempdir();
    kr_error_t err;
    if (sf_start(&t->sf, t->dir, NULL, &err) < 0) {
        fprintf(stderr, "store-sqlite: %s\n", err.message);
        return -1;
    }
    t->c = kr_commit_new(t->sf.ops, t->sf.store, &err);
    if (t->c == NULL) {
        fprintf(stderr, "commit: %s\n", err.message);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tstate_t *t = *state;
    kr_commit_destroy(&t->c);
    sf_stop(&t->sf);
    sf_rmtree(t->dir);
    free(t->dir);
    free(t);
    return 0;
}

static bool fd_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* Items submitted in order, with their keys. */
typedef struct load {
    size_t n;
    kr_commit_item_t *items;
    char (*keys)[48];
} load_t;

static void load_init(load_t *l, size_t n, const char *prefix, int64_t first_rev)
{
    l->n = n;
    l->items = calloc(n, sizeof *l->items);
    l->keys = calloc(n, sizeof *l->keys);
    for (size_t i = 0; i < n; i++) {
        snprintf(l->keys[i], sizeof l->keys[i], "%s%06zu", prefix, i);
        l->items[i].w = sf_put(l->keys[i], "{\"kind\":\"Pod\"}", first_rev + (int64_t)i, 0);
        l->items[i].ud = &l->items[i];
    }
}

static void load_free(load_t *l)
{
    free(l->items);
    free(l->keys);
}

/* Checks a completed chain against the submit order; returns how many. */
static size_t check_done(kr_commit_item_t *it, load_t *l, size_t *next)
{
    size_t n = 0;
    for (; it != NULL; it = it->next, n++) {
        assert_true(*next < l->n);
        assert_ptr_equal(it->ud, &l->items[*next]);
        if (it->status < 0)
            fail_msg("write %zu failed: %s", *next, it->err.message);
        assert_int_equal(it->w.result, 0);
        assert_int_equal(it->w.create_rev, it->w.rev);
        (*next)++;
    }
    return n;
}

static int count_kv(const kr_store_kv_t *kv, void *ud)
{
    (void)kv;
    (*(size_t *)ud)++;
    return 0;
}

static void test_batches_in_submit_order(void **state)
{
    tstate_t *t = *state;
    enum { N = 20000 };
    load_t l;
    load_init(&l, N, "core/pods/load/pod-", 1);
    int fd = kr_commit_fd(t->c);
    size_t next = 0, submitted = 0;
    /* Like the broker: submit as requests come, take whatever completed. */
    while (submitted < N) {
        for (size_t k = 0; k < 64 && submitted < N; k++)
            kr_commit_submit(t->c, &l.items[submitted++]);
        if (fd_readable(fd, 0))
            check_done(kr_commit_take_done(t->c), &l, &next);
    }
    while (next < N) {
        assert_true(fd_readable(fd, 10000));
        check_done(kr_commit_take_done(t->c), &l, &next);
    }
    /* Readable exactly while results wait. */
    assert_false(fd_readable(fd, 0));
    assert_null(kr_commit_take_done(t->c));

    kr_commit_stats_t st;
    kr_commit_stats(t->c, &st);
    print_message("      %" PRIu64 " writes in %" PRIu64 " batches (largest %" PRIu64 ")\n",
                  st.writes, st.batches, st.max_batch);
    assert_int_equal(st.writes, N);
    assert_int_equal(st.failed_batches, 0);
    assert_true(st.max_batch > 1);
    assert_true(st.max_batch <= KR_COMMIT_MAX_BATCH);
    assert_true(st.batches < N / 4);

    size_t live = 0;
    int64_t rev = 0;
    kr_error_t err;
    kr_commit_stop(t->c); /* the store is ours again */
    assert_int_equal(t->sf.ops->range(t->sf.store, count_kv, &live, &rev, NULL, &err), 0);
    assert_int_equal(live, N);
    assert_int_equal(rev, N);
    load_free(&l);
}

static kr_commit_item_t *wait_one(tstate_t *t)
{
    assert_true(fd_readable(kr_commit_fd(t->c), 10000));
    kr_commit_item_t *it = kr_commit_take_done(t->c);
    assert_non_null(it);
    assert_null(it->next);
    return it;
}

static void test_conflicts_per_write(void **state)
{
    tstate_t *t = *state;
    kr_commit_item_t it[4] = {
        {.w = sf_put("k/a", "1", 1, 0)},
        {.w = sf_put("k/a", "2", 2, 0)}, /* already exists */
        {.w = sf_put("k/a", "3", 3, 1)},
        {.w = sf_put("k/b", "1", 4, 7)}, /* does not exist */
    };
    for (int i = 0; i < 4; i++)
        kr_commit_submit(t->c, &it[i]);
    kr_commit_stop(t->c);
    kr_commit_item_t *done = kr_commit_take_done(t->c);
    for (int i = 0; i < 4; i++, done = done->next) {
        assert_ptr_equal(done, &it[i]);
        assert_int_equal(done->status, 0);
    }
    assert_null(done);
    assert_int_equal(it[0].w.result, 0);
    assert_int_equal(it[1].w.result, -KR_E_CONFLICT);
    assert_int_equal(it[2].w.result, 0);
    assert_int_equal(it[2].w.create_rev, 1);
    assert_int_equal(it[3].w.result, -KR_E_CONFLICT);
}

static void test_failed_batch_reported(void **state)
{
    tstate_t *t = *state;
    kr_commit_item_t good = {.w = sf_put("f/a", "a", 5, 0)};
    kr_commit_submit(t->c, &good);
    assert_int_equal(wait_one(t)->status, 0);

    /* A revision below the store's fails the whole transaction. */
    kr_commit_item_t bad = {.w = sf_put("f/b", "b", 3, 0)};
    kr_commit_submit(t->c, &bad);
    kr_commit_item_t *it = wait_one(t);
    assert_ptr_equal(it, &bad);
    assert_int_equal(it->status, -KR_E_INTERNAL);
    assert_int_equal(it->err.reason, KR_E_INTERNAL);
    assert_non_null(strstr(it->err.message, "revision 3 is not above 5"));

    kr_commit_item_t after = {.w = sf_put("f/b", "b", 6, 0)};
    kr_commit_submit(t->c, &after);
    it = wait_one(t);
    assert_int_equal(it->status, 0);
    assert_int_equal(it->w.result, 0);

    kr_commit_stats_t st;
    kr_commit_stats(t->c, &st);
    assert_int_equal(st.batches, 3);
    assert_int_equal(st.failed_batches, 1);
}

static void test_stop_waits_for_everything(void **state)
{
    tstate_t *t = *state;
    enum { N = 5000 };
    load_t l;
    load_init(&l, N, "core/configmaps/stop/cm-", 1);
    for (size_t i = 0; i < N; i++)
        kr_commit_submit(t->c, &l.items[i]);
    kr_commit_stop(t->c);
    kr_commit_stop(t->c); /* idempotent */
    assert_true(fd_readable(kr_commit_fd(t->c), 0));
    size_t next = 0;
    assert_int_equal(check_done(kr_commit_take_done(t->c), &l, &next), N);
    assert_false(fd_readable(kr_commit_fd(t->c), 0));

    size_t live = 0;
    kr_error_t err;
    assert_int_equal(t->sf.ops->range(t->sf.store, count_kv, &live, NULL, NULL, &err), 0);
    assert_int_equal(live, N);

    /* After stop nothing is committed: the write comes back failed at once. */
    kr_commit_item_t late = {.w = sf_put("late", "x", N + 1, 0)};
    kr_commit_submit(t->c, &late);
    kr_commit_item_t *it = kr_commit_take_done(t->c);
    assert_ptr_equal(it, &late);
    assert_int_equal(it->status, -KR_E_SERVICE_UNAVAILABLE);
    assert_non_null(strstr(it->err.message, "shutting down"));
    load_free(&l);
}

static int count_ev(const kr_store_event_t *ev, void *ud)
{
    (void)ev;
    (*(size_t *)ud)++;
    return 0;
}

static void test_compact_between_batches(void **state)
{
    tstate_t *t = *state;
    enum { N = 100 };
    kr_commit_item_t *it = calloc(N, sizeof *it);
    for (int64_t i = 0; i < N; i++) {
        it[i].w = sf_put("c/k", "v", i + 1, i);
        kr_commit_submit(t->c, &it[i]);
        if (i == 59)
            kr_commit_compact(t->c, 50);
    }
    kr_commit_stop(t->c);
    size_t n = 0;
    for (kr_commit_item_t *d = kr_commit_take_done(t->c); d; d = d->next, n++) {
        assert_int_equal(d->status, 0);
        assert_int_equal(d->w.result, 0);
    }
    assert_int_equal(n, N);

    kr_error_t err;
    int64_t rev = 0, crev = 0;
    size_t live = 0, events = 0;
    assert_int_equal(t->sf.ops->range(t->sf.store, count_kv, &live, &rev, &crev, &err), 0);
    assert_int_equal(rev, N);
    assert_int_equal(crev, 50);
    assert_int_equal(t->sf.ops->history(t->sf.store, 49, count_ev, &events, &err), -KR_E_EXPIRED);
    assert_int_equal(t->sf.ops->history(t->sf.store, 50, count_ev, &events, &err), 0);
    assert_int_equal(events, N - 50);
    free(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches_in_submit_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_per_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits_for_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_between_batches, setup, teardown),
    };
    if (sf_global_setup() < 0)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sf_global_teardown();
    return rc;
}
