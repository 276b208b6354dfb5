/* store-sqlite through the path kraal server uses: the real .so started by
 * the plugin host, the ops captured from kr_store_register(), real SQLite
 * files in a temporary directory (and a small tmpfs for disk full). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store_fixture.h"

/* ---- helpers ----------------------------------------------------------- */

typedef struct row {
    kr_store_op_t op; /* history only */
    int64_t rev;      /* history: the event's; range: mod_rev */
    char *key;
    char *value;
    size_t value_len;
    int64_t create_rev;
    int64_t prev_rev; /* history only */
} row_t;

typedef struct rows {
    row_t *v;
    size_t n, cap;
    size_t stop_after; /* 0 = never: the callback returns -99 after this many */
} rows_t;

static row_t *rows_push(rows_t *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        assert_non_null(r->v);
    }
    row_t *x = &r->v[r->n++];
    memset(x, 0, sizeof *x);
    return x;
}

static void rows_free(rows_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].key);
        free(r->v[i].value);
    }
    free(r->v);
    *r = (rows_t){0};
}

/* Values are binary: copied whole, NUL-terminated for string checks. */
static char *copy_value(const void *v, size_t n)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    if (n > 0)
        memcpy(p, v, n);
    p[n] = '\0';
    return p;
}

static int collect_kv(const kr_store_kv_t *kv, void *ud)
{
    rows_t *r = ud;
    row_t *x = rows_push(r);
    x->key = strndup(kv->key, kv->key_len);
    x->value = copy_value(kv->value, kv->value_len);
    x->value_len = kv->value_len;
    x->rev = kv->mod_rev;
    x->create_rev = kv->create_rev;
    return r->stop_after && r->n == r->stop_after ? -99 : 0;
}

static int collect_ev(const kr_store_event_t *ev, void *ud)
{
    rows_t *r = ud;
    row_t *x = rows_push(r);
    x->op = ev->op;
    x->rev = ev->rev;
    x->key = strndup(ev->key, ev->key_len);
    x->value = copy_value(ev->value, ev->value_len);
    x->value_len = ev->value_len;
    x->create_rev = ev->create_rev;
    x->prev_rev = ev->prev_rev;
    return r->stop_after && r->n == r->stop_after ? -99 : 0;
}

typedef struct tstate {
    char *dir;
    store_fixture_t sf;
} tstate_t;

static int setup(void **state)
{
    tstate_t *t = calloc(1, sizeof *t);
    t->dir = sf_tempdir();
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tstate_t *t = *state;
    sf_stop(&t->sf);
    /* A failed disk-full test may have left its tmpfs mounted. */
    char mnt[512];
    snprintf(mnt, sizeof mnt, "%s/small", t->dir);
    umount2(mnt, MNT_DETACH);
    sf_rmtree(t->dir);
    free(t->dir);
    free(t);
    return 0;
}

static void start(tstate_t *t)
{
    kr_error_t err;
    if (sf_start(&t->sf, t->dir, NULL, &err) < 0)
        fail_msg("starting store-sqlite: %s", err.message);
    assert_non_null(t->sf.ops);
    assert_int_equal(t->sf.registrations, 1);
}

static void txn_ok(tstate_t *t, kr_store_write_t *w, size_t n)
{
    kr_error_t err;
    if (t->sf.ops->txn(t->sf.store, w, n, &err) < 0)
        fail_msg("txn: %s", err.message);
}

static void range(tstate_t *t, rows_t *out, int64_t *rev, int64_t *compact_rev)
{
    kr_error_t err;
    if (t->sf.ops->range(t->sf.store, collect_kv, out, rev, compact_rev, &err) < 0)
        fail_msg("range: %s", err.message);
}

static void history(tstate_t *t, int64_t after, rows_t *out)
{
    kr_error_t err;
    if (t->sf.ops->history(t->sf.store, after, collect_ev, out, &err) < 0)
        fail_msg("history: %s", err.message);
}

static const row_t *find(const rows_t *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].key, key) == 0)
            return &r->v[i];
    return NULL;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_empty_store(void **state)
{
    tstate_t *t = *state;
    start(t);
    rows_t r = {0};
    int64_t rev = -1, crev = -1;
    range(t, &r, &rev, &crev);
    assert_int_equal(r.n, 0);
    assert_int_equal(rev, 0);
    assert_int_equal(crev, 0);
    history(t, 0, &r);
    assert_int_equal(r.n, 0);
    /* The default file, with no access for anyone but the owner. */
    char path[512];
    snprintf(path, sizeof path, "%s/kraal.db", t->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_put_range_key_order(void **state)
{
    tstate_t *t = *state;
    start(t);
    kr_store_write_t w[] = {
        sf_put("core/pods/default/web-2", "B", 1, 0),
        sf_put("core/namespaces/default", "NS", 2, 0),
        sf_put("core/pods/default/web-1", "A", 3, 0),
        sf_put("apps/deployments/default/web", "D", 4, 0),
    };
    txn_ok(t, w, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(w[i].result, 0);
        assert_int_equal(w[i].create_rev, w[i].rev);
    }
    rows_t r = {0};
    int64_t rev = 0, crev = -1;
    range(t, &r, &rev, &crev);
    assert_int_equal(rev, 4);
    assert_int_equal(crev, 0);
    assert_int_equal(r.n, 4);
    assert_string_equal(r.v[0].key, "apps/deployments/default/web");
    assert_string_equal(r.v[1].key, "core/namespaces/default");
    assert_string_equal(r.v[2].key, "core/pods/default/web-1");
    assert_string_equal(r.v[3].key, "core/pods/default/web-2");
    assert_string_equal(r.v[2].value, "A");
    assert_int_equal(r.v[2].rev, 3);
    assert_int_equal(r.v[2].create_rev, 3);
    rows_free(&r);

    /* A callback's negative return stops the walk and is returned. */
    r.stop_after = 2;
    kr_error_t err;
    assert_int_equal(t->sf.ops->range(t->sf.store, collect_kv, &r, &rev, &crev, &err), -99);
    assert_int_equal(r.n, 2);
    rows_free(&r);
}

/* read(): a prefix, a key to start after, a highest revision, and the
 * store's revision of what it read; from another thread while a txn is
 * open on the writer (WAL: the read sees the last committed state). */
typedef struct read_job {
    tstate_t *t;
    rows_t rows;
    int64_t rev;
    int rc;
} read_job_t;

static void *read_thread(void *ud)
{
    read_job_t *j = ud;
    kr_error_t err;
    j->rc = j->t->sf.ops->read(j->t->sf.store, "core/events/", 12, NULL, 0, 0, collect_kv, &j->rows,
                               &j->rev, &err);
    return NULL;
}

static void test_read_prefix_after_rev(void **state)
{
    tstate_t *t = *state;
    start(t);
    kr_store_write_t w[] = {
        sf_put("core/events/a/e1", "1", 1, 0),   sf_put("core/events/a/e2", "2", 2, 0),
        sf_put("core/events/a-b/e1", "3", 3, 0), sf_put("core/events/b/e1", "4", 4, 0),
        sf_put("core/pods/a/p", "P", 5, 0),      sf_put("core/events/a/e10", "5", 6, 0),
    };
    txn_ok(t, w, 6);
    const kr_store_ops_t *ops = t->sf.ops;
    kr_error_t err;
    rows_t r = {0};
    int64_t rev = 0;
    /* one namespace, in key order */
    assert_int_equal(
        ops->read(t->sf.store, "core/events/a/", 14, NULL, 0, 0, collect_kv, &r, &rev, &err), 0);
    assert_int_equal(rev, 6);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.v[0].key, "core/events/a/e1");
    assert_string_equal(r.v[1].key, "core/events/a/e10");
    assert_string_equal(r.v[2].key, "core/events/a/e2");
    assert_string_equal(r.v[2].value, "2");
    assert_int_equal(r.v[2].rev, 2);
    rows_free(&r);
    /* the kind, after a key, bytewise ("a-b/" sorts before "a/") */
    assert_int_equal(ops->read(t->sf.store, "core/events/", 12, "core/events/a/e1", 16, 0,
                               collect_kv, &r, NULL, &err),
                     0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.v[0].key, "core/events/a/e10");
    assert_string_equal(r.v[2].key, "core/events/b/e1");
    rows_free(&r);
    /* written at or below revision 3 */
    assert_int_equal(
        ops->read(t->sf.store, "core/events/", 12, NULL, 0, 3, collect_kv, &r, NULL, &err), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.v[0].key, "core/events/a-b/e1");
    rows_free(&r);
    /* a stop from the callback is returned */
    r.stop_after = 1;
    assert_int_equal(
        ops->read(t->sf.store, "core/events/", 12, NULL, 0, 0, collect_kv, &r, NULL, &err), -99);
    assert_int_equal(r.n, 1);
    rows_free(&r);

    /* a read while the writer's next batch is being written (the commit
     * hook is not reachable: a second txn right after is enough to show
     * reads and writes on their connections do not disturb each other) */
    read_job_t j = {.t = t};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, read_thread, &j), 0);
    kr_store_write_t w2[] = {sf_del("core/events/b/e1", "4", 7, 4)};
    txn_ok(t, w2, 1);
    pthread_join(th, NULL);
    assert_int_equal(j.rc, 0);
    /* before the delete (5 keys at revision 6) or after it (4 at 7) */
    assert_true((j.rev == 6 && j.rows.n == 5) || (j.rev == 7 && j.rows.n == 4));
    rows_free(&j.rows);
    assert_int_equal(
        ops->read(t->sf.store, "core/events/", 12, NULL, 0, 0, collect_kv, &r, &rev, &err), 0);
    assert_int_equal(rev, 7);
    assert_int_equal(r.n, 4);
    rows_free(&r);
}

static void test_binary_value_kept(void **state)
{
    tstate_t *t = *state;
    start(t);
    static const char bin[] = {'\x82', 0, 1, '\xff', 0, 'x'};
    kr_store_write_t w = sf_put("core/secrets/default/s", NULL, 1, 0);
    w.value = bin;
    w.value_len = sizeof bin;
    kr_store_write_t empty = sf_put("core/configmaps/default/empty", NULL, 2, 0);
    kr_store_write_t both[] = {w, empty};
    txn_ok(t, both, 2);
    rows_t r = {0};
    range(t, &r, NULL, NULL);
    const row_t *s = find(&r, "core/secrets/default/s");
    assert_non_null(s);
    assert_int_equal(s->value_len, sizeof bin);
    assert_memory_equal(s->value, bin, sizeof bin);
    const row_t *e = find(&r, "core/configmaps/default/empty");
    assert_non_null(e);
    assert_int_equal(e->value_len, 0);
    rows_free(&r);
}

static void test_compare_conflicts(void **state)
{
    tstate_t *t = *state;
    start(t);
    kr_store_write_t a[] = {sf_put("k/a", "a1", 1, 0), sf_put("k/b", "b1", 2, 0)};
    txn_ok(t, a, 2);

    /* In one batch: a create of an existing key and an update with a stale
     * revision fail; the writes around them apply. */
    kr_store_write_t b[] = {
        sf_put("k/a", "a-again", 3, 0), /* must not exist, but does */
        sf_put("k/c", "c1", 4, 0),      /* new */
        sf_put("k/b", "b-stale", 5, 1), /* k/b is at 2, not 1 */
        sf_put("k/b", "b2", 6, 2),      /* right revision */
        sf_put("k/d", "d1", 7, 9),      /* does not exist, 9 expected */
    };
    txn_ok(t, b, 5);
    assert_int_equal(b[0].result, -KR_E_CONFLICT);
    assert_int_equal(b[1].result, 0);
    assert_int_equal(b[2].result, -KR_E_CONFLICT);
    assert_int_equal(b[3].result, 0);
    assert_int_equal(b[4].result, -KR_E_CONFLICT);

    rows_t r = {0};
    int64_t rev = 0;
    range(t, &r, &rev, NULL);
    assert_int_equal(r.n, 3);
    assert_string_equal(find(&r, "k/a")->value, "a1");
    assert_int_equal(find(&r, "k/a")->rev, 1);
    assert_string_equal(find(&r, "k/b")->value, "b2");
    assert_int_equal(find(&r, "k/b")->rev, 6);
    assert_string_equal(find(&r, "k/c")->value, "c1");
    assert_null(find(&r, "k/d"));
    /* The store's revision is the batch's last, failed compares included:
     * the core never hands out 7 again. */
    assert_int_equal(rev, 7);
    rows_free(&r);

    /* Failed compares leave no event behind. */
    history(t, 2, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.v[0].rev, 4);
    assert_int_equal(r.v[1].rev, 6);
    rows_free(&r);

    /* A write within one batch sees the writes before it. */
    kr_store_write_t c[] = {sf_put("k/e", "e1", 8, 0), sf_put("k/e", "e2", 9, 8)};
    txn_ok(t, c, 2);
    assert_int_equal(c[0].result, 0);
    assert_int_equal(c[1].result, 0);
    assert_int_equal(c[1].create_rev, 8);
}

static void test_create_rev_kept(void **state)
{
    tstate_t *t = *state;
    start(t);
    kr_store_write_t w1 = sf_put("core/pods/ns/p", "v1", 10, 0);
    txn_ok(t, &w1, 1);
    assert_int_equal(w1.create_rev, 10);
    kr_store_write_t w2 = sf_put("core/pods/ns/p", "v2", 11, 10);
    txn_ok(t, &w2, 1);
    assert_int_equal(w2.result, 0);
    assert_int_equal(w2.create_rev, 10);
    kr_store_write_t w3 = sf_put("core/pods/ns/p", "v3", 15, 11);
    txn_ok(t, &w3, 1);
    assert_int_equal(w3.create_rev, 10);

    rows_t r = {0};
    range(t, &r, NULL, NULL);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].create_rev, 10);
    assert_int_equal(r.v[0].rev, 15);
    assert_string_equal(r.v[0].value, "v3");
    rows_free(&r);
}

static void test_delete(void **state)
{
    tstate_t *t = *state;
    start(t);
    kr_store_write_t w[] = {sf_put("k/x", "x1", 1, 0), sf_put("k/y", "y1", 2, 0)};
    txn_ok(t, w, 2);

    kr_store_write_t d[] = {
        sf_del("k/x", "x-final", 3, 2), /* stale: k/x is at 1 */
        sf_del("k/nope", "n", 4, 0),    /* never existed */
        sf_del("k/y", "y-final", 5, 2),
    };
    txn_ok(t, d, 3);
    assert_int_equal(d[0].result, -KR_E_CONFLICT);
    assert_int_equal(d[1].result, -KR_E_CONFLICT);
    assert_int_equal(d[2].result, 0);
    assert_int_equal(d[2].create_rev, 2);

    rows_t r = {0};
    int64_t rev = 0;
    range(t, &r, &rev, NULL);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.v[0].key, "k/x");
    assert_int_equal(rev, 5);
    rows_free(&r);

    /* The DELETE event carries the final state and the revisions it ended. */
    history(t, 2, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].op, KR_STORE_DELETE);
    assert_int_equal(r.v[0].rev, 5);
    assert_string_equal(r.v[0].key, "k/y");
    assert_string_equal(r.v[0].value, "y-final");
    assert_int_equal(r.v[0].create_rev, 2);
    assert_int_equal(r.v[0].prev_rev, 2);
    rows_free(&r);

    /* A deleted key can be created again, with a new create_rev. */
    kr_store_write_t again = sf_put("k/y", "y-new", 6, 0);
    txn_ok(t, &again, 1);
    assert_int_equal(again.result, 0);
    assert_int_equal(again.create_rev, 6);
}

static void test_history_order(void **state)
{
    tstate_t *t = *state;
    start(t);
    kr_store_write_t b1[] = {sf_put("h/b", "b1", 1, 0), sf_put("h/a", "a1", 2, 0)};
    txn_ok(t, b1, 2);
    kr_store_write_t b2[] = {sf_put("h/a", "a2", 4, 2)};
    txn_ok(t, b2, 1);
    kr_store_write_t b3[] = {sf_del("h/b", "b-final", 7, 1), sf_put("h/c", "c1", 8, 0)};
    txn_ok(t, b3, 2);

    rows_t r = {0};
    history(t, 0, &r);
    assert_int_equal(r.n, 5);
    static const struct {
        kr_store_op_t op;
        int64_t rev;
        const char *key, *value;
        int64_t create_rev, prev_rev;
    } want[] = {
        {KR_STORE_PUT, 1, "h/b", "b1", 1, 0}, {KR_STORE_PUT, 2, "h/a", "a1", 2, 0},
        {KR_STORE_PUT, 4, "h/a", "a2", 2, 2}, {KR_STORE_DELETE, 7, "h/b", "b-final", 1, 1},
        {KR_STORE_PUT, 8, "h/c", "c1", 8, 0},
    };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(r.v[i].op, want[i].op);
        assert_int_equal(r.v[i].rev, want[i].rev);
        assert_string_equal(r.v[i].key, want[i].key);
        assert_string_equal(r.v[i].value, want[i].value);
        assert_int_equal(r.v[i].create_rev, want[i].create_rev);
        assert_int_equal(r.v[i].prev_rev, want[i].prev_rev);
    }
    rows_free(&r);

    /* Strictly after the given revision, including one that is a gap. */
    history(t, 4, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.v[0].rev, 7);
    rows_free(&r);
    history(t, 5, &r);
    assert_int_equal(r.n, 2);
    rows_free(&r);
    history(t, 8, &r);
    assert_int_equal(r.n, 0);
    rows_free(&r);

    r.stop_after = 3;
    kr_error_t err;
    assert_int_equal(t->sf.ops->history(t->sf.store, 0, collect_ev, &r, &err), -99);
    assert_int_equal(r.n, 3);
    rows_free(&r);
}

static void test_compaction_and_expired(void **state)
{
    tstate_t *t = *state;
    start(t);
    for (int64_t rev = 1; rev <= 10; rev++) {
        char val[16];
        snprintf(val, sizeof val, "v%" PRId64, rev);
        kr_store_write_t w = sf_put("c/k", val, rev, rev - 1);
        txn_ok(t, &w, 1);
        assert_int_equal(w.result, 0);
    }
    kr_store_write_t other = sf_put("c/other", "o", 11, 0);
    txn_ok(t, &other, 1);

    kr_error_t err;
    assert_int_equal(t->sf.ops->compact(t->sf.store, 6, &err), 0);

    rows_t r = {0};
    assert_int_equal(t->sf.ops->history(t->sf.store, 5, collect_ev, &r, &err), -KR_E_EXPIRED);
    assert_int_equal(err.reason, KR_E_EXPIRED);
    assert_string_equal(err.message, "too old resource version: 5 (6)");
    assert_int_equal(r.n, 0);
    assert_int_equal(t->sf.ops->history(t->sf.store, 0, collect_ev, &r, &err), -KR_E_EXPIRED);

    /* From the compacted revision on, the history is whole. */
    history(t, 6, &r);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.v[0].rev, 7);
    assert_int_equal(r.v[0].prev_rev, 6);
    assert_int_equal(r.v[4].rev, 11);
    rows_free(&r);

    /* Live keys stay; the compacted revision is reported. */
    int64_t rev = 0, crev = 0;
    range(t, &r, &rev, &crev);
    assert_int_equal(r.n, 2);
    assert_string_equal(find(&r, "c/k")->value, "v10");
    assert_int_equal(find(&r, "c/k")->create_rev, 1);
    assert_int_equal(rev, 11);
    assert_int_equal(crev, 6);
    rows_free(&r);

    /* Compacting lower again changes nothing; a future revision is refused. */
    assert_int_equal(t->sf.ops->compact(t->sf.store, 3, &err), 0);
    range(t, &r, NULL, &crev);
    assert_int_equal(crev, 6);
    rows_free(&r);
    assert_true(t->sf.ops->compact(t->sf.store, 12, &err) < 0);
    assert_non_null(strstr(err.message, "is a future revision"));

    /* Compacting everything leaves an empty history, not an error, and
     * the live keys with the values their last writes gave them. */
    assert_int_equal(t->sf.ops->compact(t->sf.store, 11, &err), 0);
    history(t, 11, &r);
    assert_int_equal(r.n, 0);
    range(t, &r, &rev, &crev);
    assert_int_equal(r.n, 2);
    assert_string_equal(find(&r, "c/k")->value, "v10");
    assert_int_equal(find(&r, "c/k")->rev, 10);
    assert_string_equal(find(&r, "c/other")->value, "o");
    assert_int_equal(crev, 11);
    rows_free(&r);
    assert_int_equal(t->sf.ops->history(t->sf.store, 10, collect_ev, &r, &err), -KR_E_EXPIRED);
}

static void test_revisions_must_increase(void **state)
{
    tstate_t *t = *state;
    start(t);
    kr_store_write_t w = sf_put("r/a", "a", 5, 0);
    txn_ok(t, &w, 1);
    kr_error_t err;
    kr_store_write_t low[] = {sf_put("r/b", "b", 6, 0), sf_put("r/c", "c", 5, 0)};
    assert_int_equal(t->sf.ops->txn(t->sf.store, low, 2, &err), -KR_E_INTERNAL);
    assert_non_null(strstr(err.message, "revision 5 is not above 6"));
    kr_store_write_t old = sf_put("r/b", "b", 5, 0);
    assert_int_equal(t->sf.ops->txn(t->sf.store, &old, 1, &err), -KR_E_INTERNAL);
    rows_t r = {0};
    int64_t rev = 0;
    range(t, &r, &rev, NULL);
    assert_int_equal(r.n, 1);
    assert_int_equal(rev, 5);
    rows_free(&r);
}

static void test_reopen_keeps_revision(void **state)
{
    tstate_t *t = *state;
    start(t);
    kr_store_write_t w[] = {sf_put("p/a", "a", 1, 0), sf_put("p/b", "b", 2, 0),
                            sf_put("p/c", "c", 3, 0)};
    txn_ok(t, w, 3);
    kr_error_t err;
    assert_int_equal(t->sf.ops->compact(t->sf.store, 2, &err), 0);
    /* The highest revision is a delete: it must survive without a key. */
    kr_store_write_t d = sf_del("p/c", "c-final", 9, 3);
    txn_ok(t, &d, 1);

    /* While the first server holds the file, a second one is refused. */
    store_fixture_t second;
    assert_true(sf_start(&second, t->dir, NULL, &err) < 0);
    assert_non_null(strstr(err.message, "is in use by another kraal server"));
    assert_null(second.ops);

    char path[512];
    struct stat st;
    static const char *const files[] = {"kraal.db", "kraal.db-wal", "kraal.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", t->dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }

    sf_stop(&t->sf);
    start(t);
    rows_t r = {0};
    int64_t rev = 0, crev = 0;
    range(t, &r, &rev, &crev);
    assert_int_equal(rev, 9);
    assert_int_equal(crev, 2);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.v[0].key, "p/a");
    assert_string_equal(r.v[0].value, "a");
    assert_string_equal(r.v[1].key, "p/b");
    assert_string_equal(r.v[1].value, "b");
    rows_free(&r);
    history(t, 2, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.v[1].op, KR_STORE_DELETE);
    rows_free(&r);
    assert_int_equal(t->sf.ops->history(t->sf.store, 1, collect_ev, &r, &err), -KR_E_EXPIRED);

    /* Revisions continue upward from the persisted one. */
    kr_store_write_t stale = sf_put("p/z", "z", 9, 0);
    assert_true(t->sf.ops->txn(t->sf.store, &stale, 1, &err) < 0);
    kr_store_write_t next = sf_put("p/b", "b2", 10, 2);
    txn_ok(t, &next, 1);
    assert_int_equal(next.result, 0);
    assert_int_equal(next.create_rev, 2);
}

static void test_config_path(void **state)
{
    tstate_t *t = *state;
    kr_error_t err;
    /* Relative to the data directory. */
    if (sf_start(&t->sf, t->dir, "objects.sqlite", &err) < 0)
        fail_msg("%s", err.message);
    kr_store_write_t w = sf_put("cfg/a", "a", 1, 0);
    txn_ok(t, &w, 1);
    sf_stop(&t->sf);
    char path[512];
    snprintf(path, sizeof path, "%s/objects.sqlite", t->dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/kraal.db", t->dir);
    assert_int_equal(access(path, F_OK), -1);

    /* An absolute path, and a directory that does not exist. */
    snprintf(path, sizeof path, "%s/objects.sqlite", t->dir);
    if (sf_start(&t->sf, "/nonexistent-data-dir", path, &err) < 0)
        fail_msg("%s", err.message);
    rows_t r = {0};
    range(t, &r, NULL, NULL);
    assert_int_equal(r.n, 1);
    rows_free(&r);
    sf_stop(&t->sf);

    snprintf(path, sizeof path, "%s/missing/kraal.db", t->dir);
    assert_true(sf_start(&t->sf, t->dir, path, &err) < 0);
    assert_non_null(strstr(err.message, "cannot open database file "));
    assert_non_null(strstr(err.message, "No such file or directory"));
}

/* Writes a database with plain SQLite, as another program would. */
static void write_foreign_db(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_foreign_and_newer_files_refused(void **state)
{
    tstate_t *t = *state;
    kr_error_t err;
    char path[512];
    snprintf(path, sizeof path, "%s/other.db", t->dir);
    write_foreign_db(path, "CREATE TABLE notes (t TEXT)");
    assert_true(sf_start(&t->sf, t->dir, path, &err) < 0);
    assert_non_null(strstr(err.message, "is not a kraal store"));

    snprintf(path, sizeof path, "%s/newer.db", t->dir);
    write_foreign_db(path, "PRAGMA user_version = 99");
    assert_true(sf_start(&t->sf, t->dir, path, &err) < 0);
    assert_non_null(strstr(err.message, "has schema version 99, newer than this plugin's (1)"));
}

static void test_batch_of_4096(void **state)
{
    tstate_t *t = *state;
    start(t);
    enum { N = 4096 };
    kr_store_write_t *w = calloc(N, sizeof *w);
    char(*keys)[48] = calloc(N, sizeof *keys);
    char value[1024];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "core/pods/bulk/pod-%05d", i);
        w[i] = sf_put(keys[i], value, i + 1, 0);
    }
    txn_ok(t, w, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(w[i].result, 0);
    rows_t r = {0};
    int64_t rev = 0;
    range(t, &r, &rev, NULL);
    assert_int_equal(r.n, N);
    assert_int_equal(rev, N);
    assert_string_equal(r.v[N - 1].key, keys[N - 1]);
    assert_int_equal(r.v[N - 1].value_len, sizeof value - 1);
    rows_free(&r);
    history(t, 0, &r);
    assert_int_equal(r.n, N);
    rows_free(&r);
    free(keys);
    free(w);
}

/* Fills the file system holding `dir` until a write fails with ENOSPC. */
static void fill_fs(const char *file)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    static char buf[65536];
    memset(buf, 'f', sizeof buf);
    size_t chunk = sizeof buf;
    while (chunk > 0) {
        ssize_t n = write(fd, buf, chunk);
        if (n < 0) {
            assert_int_equal(errno, ENOSPC);
            chunk /= 2;
        }
    }
    close(fd);
}

static void test_disk_full_and_back(void **state)
{
    tstate_t *t = *state;
    char mnt[512];
    snprintf(mnt, sizeof mnt, "%s/small", t->dir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m,mode=0700") < 0) {
        fprintf(stderr,
                "[  SKIPPED ] cannot mount a tmpfs on %s (%s): the disk-full test "
                "needs root\n",
                mnt, strerror(errno));
        skip();
    }
    kr_error_t err;
    if (sf_start(&t->sf, mnt, NULL, &err) < 0) {
        umount(mnt);
        fail_msg("%s", err.message);
    }
    char key[64];
    kr_store_write_t w[16];
    char(*keys)[64] = calloc(16, sizeof *keys);
    for (int i = 0; i < 10; i++) {
        snprintf(keys[i], sizeof keys[i], "full/before-%d", i);
        w[i] = sf_put(keys[i], "small", i + 1, 0);
    }
    txn_ok(t, w, 10);

    char filler[600];
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    fill_fs(filler);

    /* 16 x 64 KiB cannot fit: the whole batch fails, nothing of it shows. */
    static char big[65536];
    memset(big, 'b', sizeof big - 1);
    for (int i = 0; i < 16; i++) {
        snprintf(keys[i], sizeof keys[i], "full/big-%02d", i);
        w[i] = sf_put(keys[i], big, 100 + i, 0);
    }
    int rc = t->sf.ops->txn(t->sf.store, w, 16, &err);
    assert_int_equal(rc, -KR_E_INSUFFICIENT_STORAGE);
    assert_int_equal(err.reason, KR_E_INSUFFICIENT_STORAGE);
    char want[700];
    snprintf(want, sizeof want, "database or disk is full: %s/kraal.db", mnt);
    assert_string_equal(err.message, want);

    /* Reads keep working and see exactly what was there before. */
    rows_t r = {0};
    int64_t rev = 0;
    range(t, &r, &rev, NULL);
    assert_int_equal(r.n, 10);
    assert_int_equal(rev, 10);
    snprintf(key, sizeof key, "full/before-%d", 9);
    assert_string_equal(find(&r, key)->value, "small");
    rows_free(&r);
    history(t, 0, &r);
    assert_int_equal(r.n, 10);
    rows_free(&r);

    /* Space comes back: the same instance writes again. */
    assert_int_equal(unlink(filler), 0);
    for (int i = 0; i < 16; i++)
        w[i] = sf_put(keys[i], big, 200 + i, 0);
    txn_ok(t, w, 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(w[i].result, 0);
    range(t, &r, &rev, NULL);
    assert_int_equal(r.n, 26);
    assert_int_equal(rev, 215);
    assert_int_equal(find(&r, "full/big-15")->value_len, sizeof big - 1);
    rows_free(&r);

    sf_stop(&t->sf);
    free(keys);
    assert_int_equal(umount(mnt), 0);
}

/* ---- SIGKILL ------------------------------------------------------------------ */

enum { CRASH_BATCH = 8 };

/* The child: commits batches of CRASH_BATCH creates forever, writing the
 * last revision of each batch to `fd` once txn returned (acknowledged). */
static int crash_child(const char *dir, int fd)
{
    if (sf_global_setup() < 0)
        return 2;
    store_fixture_t sf;
    kr_error_t err;
    if (sf_start(&sf, dir, NULL, &err) < 0) {
        fprintf(stderr, "child: %s\n", err.message);
        return 2;
    }
    char keys[CRASH_BATCH][32];
    kr_store_write_t w[CRASH_BATCH];
    for (int64_t rev = 1;;) {
        for (int i = 0; i < CRASH_BATCH; i++, rev++) {
            snprintf(keys[i], sizeof keys[i], "crash/%08" PRId64, rev);
            w[i] = sf_put(keys[i], keys[i], rev, 0);
        }
        if (sf.ops->txn(sf.store, w, CRASH_BATCH, &err) < 0) {
            fprintf(stderr, "child: %s\n", err.message);
            return 2;
        }
        int64_t acked = rev - 1;
        if (write(fd, &acked, sizeof acked) != (ssize_t)sizeof acked)
            return 2;
    }
}

static void test_sigkill_loses_nothing_acknowledged(void **state)
{
    tstate_t *t = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", p[1]);
        execl("/proc/self/exe", "test_store_sqlite", "--crash-child", t->dir, fd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    /* Kill it in the middle of its work, after a few hundred commits. */
    int64_t acked = 0, v;
    int acks = 0;
    while (acks < 300 && read(p[0], &v, sizeof v) == (ssize_t)sizeof v) {
        acked = v;
        acks++;
    }
    assert_int_equal(acks, 300);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (read(p[0], &v, sizeof v) == (ssize_t)sizeof v)
        acked = v; /* acknowledged before it died */
    close(p[0]);

    start(t);
    rows_t r = {0};
    int64_t rev = 0;
    range(t, &r, &rev, NULL);
    print_message("      acknowledged up to %" PRId64 ", store at %" PRId64 "\n", acked, rev);
    /* Every acknowledged write is there; a batch is all there or not at
     * all; revisions continue from the store's. */
    assert_true(rev >= acked);
    assert_int_equal(r.n, (size_t)rev);
    assert_int_equal(rev % CRASH_BATCH, 0);
    for (size_t i = 0; i < r.n; i++) {
        char key[32];
        snprintf(key, sizeof key, "crash/%08zu", i + 1);
        assert_string_equal(r.v[i].key, key);
        assert_string_equal(r.v[i].value, key);
        assert_int_equal(r.v[i].rev, (int64_t)i + 1);
    }
    rows_free(&r);
    kr_store_write_t next = sf_put("crash/next", "n", rev + 1, 0);
    txn_ok(t, &next, 1);
    assert_int_equal(next.result, 0);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--crash-child") == 0)
        return crash_child(argv[2], atoi(argv[3]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_range_key_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_prefix_after_rev, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_value_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compare_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_rev_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_and_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revisions_must_increase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_revision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_and_newer_files_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_of_4096, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_loses_nothing_acknowledged, setup, teardown),
    };
    if (sf_global_setup() < 0)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sf_global_teardown();
    return rc;
}
