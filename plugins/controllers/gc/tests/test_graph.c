/* The garbage collector's graph (graph.c) and map (map.c): edges follow
 * ownerReferences through adds, changes and deletes; virtual nodes come
 * and go; the hooks fire for what upstream's GraphBuilder queues; the
 * absent cache evicts its oldest; 50,000 objects with owners are built and
 * torn down without quadratic work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph.h"
#include "map.h"

/* ---- hook recorder ---------------------------------------------------------- */

typedef struct rec {
    char deletes[4096]; /* " uid uid ..." in call order */
    char orphans[1024];
    int virtuals;
    size_t ndeletes;
} rec_t;

static void on_delete(gc_graph_t *g, const char *uid, void *ud)
{
    (void)g;
    rec_t *r = ud;
    r->ndeletes++;
    size_t len = strlen(r->deletes);
    if (len + strlen(uid) + 2 < sizeof r->deletes)
        snprintf(r->deletes + len, sizeof r->deletes - len, " %s", uid);
}

static void on_orphan(gc_graph_t *g, const char *uid, void *ud)
{
    (void)g;
    rec_t *r = ud;
    size_t len = strlen(r->orphans);
    snprintf(r->orphans + len, sizeof r->orphans - len, " %s", uid);
}

static void on_virtual(gc_graph_t *g, const gc_node_t *n, void *ud)
{
    (void)g;
    (void)n;
    ((rec_t *)ud)->virtuals++;
}

static void rec_clear(rec_t *r)
{
    memset(r, 0, sizeof *r);
}

static bool has_delete(const rec_t *r, const char *uid)
{
    char pat[128];
    snprintf(pat, sizeof pat, " %s", uid);
    const char *p = r->deletes;
    size_t n = strlen(pat);
    while ((p = strstr(p, pat)) != NULL) {
        if (p[n] == ' ' || p[n] == '\0')
            return true;
        p += n;
    }
    return false;
}

static kr_arena_t *A;

static kr_value_t *json(const char *s)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    assert_int_equal(kr_json_decode(A, s, strlen(s), &v, &err), 0);
    return v;
}

/* A pod-like object; refs is a JSON array or NULL; extra metadata fields
 * are JSON members (",\"finalizers\":[...]"). */
static kr_value_t *obj(const char *uid, const char *name, const char *refs, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"metadata\":{\"uid\":\"%s\",\"name\":\"%s\",\"namespace\":\"ns\"%s%s%s}}", uid,
             name, refs ? ",\"ownerReferences\":" : "", refs ? refs : "", extra ? extra : "");
    return json(buf);
}

static const char *ref(char *buf, size_t size, const char *kind, const char *name, const char *uid,
                       bool block)
{
    snprintf(buf, size,
             "{\"apiVersion\":\"apps/v1\",\"kind\":\"%s\",\"name\":\"%s\",\"uid\":\"%s\","
             "\"controller\":true,\"blockOwnerDeletion\":%s}",
             kind, name, uid, block ? "true" : "false");
    return buf;
}

static gc_graph_t *new_graph(rec_t *r, size_t absent)
{
    gc_graph_hooks_t h = {on_delete, on_orphan, on_virtual, r};
    return gc_graph_new(&h, absent);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_map(void **state)
{
    (void)state;
    gc_map_t m = GC_MAP_INIT;
    enum { N = 5000 };
    static char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        gc_map_put(&m, keys[i], keys[i]);
    }
    assert_int_equal(m.len, N);
    for (int i = 0; i < N; i += 2)
        assert_ptr_equal(gc_map_del(&m, keys[i]), keys[i]);
    assert_null(gc_map_del(&m, "k0"));
    assert_int_equal(m.len, N / 2);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(gc_map_get(&m, keys[i]), i % 2 ? keys[i] : NULL);
    size_t seen = 0;
    const char *k;
    void *v;
    for (size_t i = 0; gc_map_next(&m, &i, &k, &v);)
        seen++;
    assert_int_equal(seen, N / 2);
    gc_map_put(&m, "k1", keys[3]); /* replaces */
    assert_ptr_equal(gc_map_get(&m, "k1"), keys[3]);
    assert_int_equal(m.len, N / 2);
    gc_map_free(&m);
    assert_null(gc_map_get(&m, "k1"));
}

static void test_edges_and_virtual(void **state)
{
    (void)state;
    rec_t r;
    rec_clear(&r);
    gc_graph_t *g = new_graph(&r, 0);
    char r1[256], r2[256];

    /* a dependent before its owner: the owner is virtual and looked at */
    ref(r1, sizeof r1, "ReplicaSet", "rs", "u-rs", true);
    char refs[600];
    snprintf(refs, sizeof refs, "[%s]", r1);
    gc_graph_observe(g, "v1", "Pod", NULL, obj("u-pod", "pod", refs, NULL));
    gc_node_t *rs = gc_graph_get(g, "u-rs");
    assert_non_null(rs);
    assert_false(rs->observed);
    assert_string_equal(rs->kind, "ReplicaSet");
    assert_string_equal(rs->ns, "ns");
    assert_int_equal(rs->ndeps, 1);
    assert_int_equal(rs->nblocking, 1);
    assert_int_equal(r.virtuals, 1);
    assert_true(has_delete(&r, "u-rs"));
    assert_int_equal(gc_graph_len(g), 2);
    assert_int_equal(gc_graph_virtual(g), 1);

    /* the owner shows up: the same node, observed; the dependent named it
     * right, so it is not looked at */
    rec_clear(&r);
    gc_graph_observe(g, "apps/v1", "ReplicaSet", NULL, obj("u-rs", "rs", NULL, NULL));
    assert_ptr_equal(gc_graph_get(g, "u-rs"), rs);
    assert_true(rs->observed);
    assert_int_equal(gc_graph_virtual(g), 0);
    assert_false(has_delete(&r, "u-pod"));

    /* blockOwnerDeletion true → false: the owner is looked at (it may be
     * waiting for exactly that) and no longer counts it */
    rec_clear(&r);
    ref(r1, sizeof r1, "ReplicaSet", "rs", "u-rs", false);
    snprintf(refs, sizeof refs, "[%s]", r1);
    gc_graph_observe(g, "v1", "Pod", NULL, obj("u-pod", "pod", refs, NULL));
    assert_true(has_delete(&r, "u-rs"));
    assert_int_equal(rs->ndeps, 1);
    assert_int_equal(rs->nblocking, 0);

    /* a second owner that never existed: virtual; then the reference to
     * it goes: the virtual node goes with its last dependent */
    rec_clear(&r);
    ref(r2, sizeof r2, "Deployment", "ghost", "u-ghost", true);
    snprintf(refs, sizeof refs, "[%s,%s]", r1, r2);
    gc_graph_observe(g, "v1", "Pod", NULL, obj("u-pod", "pod", refs, NULL));
    assert_non_null(gc_graph_get(g, "u-ghost"));
    assert_true(has_delete(&r, "u-ghost"));
    assert_int_equal(gc_graph_get(g, "u-pod")->nowners, 2);
    rec_clear(&r);
    snprintf(refs, sizeof refs, "[%s]", r1);
    gc_graph_observe(g, "v1", "Pod", NULL, obj("u-pod", "pod", refs, NULL));
    assert_null(gc_graph_get(g, "u-ghost"));
    assert_true(has_delete(&r, "u-ghost")); /* it was blocking */
    assert_int_equal(gc_graph_len(g), 2);

    /* the owner is deleted: it stays, virtual and absent, while the
     * dependent names it; the dependent is looked at */
    rec_clear(&r);
    gc_graph_deleted(g, obj("u-rs", "rs", NULL, NULL));
    rs = gc_graph_get(g, "u-rs");
    assert_non_null(rs);
    assert_false(rs->observed);
    assert_true(has_delete(&r, "u-pod"));
    assert_true(gc_graph_is_absent(g, "u-rs", "apps/v1", "ReplicaSet", "ns", "rs"));
    assert_true(gc_graph_is_absent(g, "u-rs", "apps/v1beta2", "ReplicaSet", "ns", "rs"));
    assert_false(gc_graph_is_absent(g, "u-rs", "apps/v1", "ReplicaSet", "ns", "other"));
    /* then the dependent: both go */
    gc_graph_deleted(g, obj("u-pod", "pod", refs, NULL));
    assert_int_equal(gc_graph_len(g), 0);
    assert_int_equal(gc_graph_virtual(g), 0);
    gc_graph_destroy(&g);
    assert_null(g);
}

static void test_wrong_coordinates(void **state)
{
    (void)state;
    rec_t r;
    rec_clear(&r);
    gc_graph_t *g = new_graph(&r, 0);
    char r1[256], refs[600];
    /* the owner is observed first; a dependent names its uid with another
     * name: looked at at once */
    gc_graph_observe(g, "apps/v1", "ReplicaSet", NULL, obj("u-rs", "rs", NULL, NULL));
    ref(r1, sizeof r1, "ReplicaSet", "not-rs", "u-rs", false);
    snprintf(refs, sizeof refs, "[%s]", r1);
    gc_graph_observe(g, "v1", "Pod", NULL, obj("u-a", "a", refs, NULL));
    assert_true(has_delete(&r, "u-a"));
    /* the other order: virtual first, then the owner shows up */
    rec_clear(&r);
    ref(r1, sizeof r1, "ReplicaSet", "wrong", "u-rs2", false);
    snprintf(refs, sizeof refs, "[%s]", r1);
    gc_graph_observe(g, "v1", "Pod", NULL, obj("u-b", "b", refs, NULL));
    rec_clear(&r);
    gc_graph_observe(g, "apps/v1", "ReplicaSet", NULL, obj("u-rs2", "rs2", NULL, NULL));
    assert_true(has_delete(&r, "u-b"));
    assert_string_equal(gc_graph_get(g, "u-rs2")->name, "rs2");
    /* a virtual node verified absent: its dependents are looked at */
    rec_clear(&r);
    ref(r1, sizeof r1, "ReplicaSet", "x", "u-x", false);
    snprintf(refs, sizeof refs, "[%s]", r1);
    gc_graph_observe(g, "v1", "Pod", NULL, obj("u-c", "c", refs, NULL));
    rec_clear(&r);
    gc_graph_absent(g, "u-x");
    assert_true(has_delete(&r, "u-c"));
    rec_clear(&r);
    gc_graph_absent(g, "u-rs2"); /* observed: its informer will tell */
    assert_int_equal(r.ndeletes, 0);
    gc_graph_destroy(&g);
}

static void test_transitions(void **state)
{
    (void)state;
    rec_t r;
    rec_clear(&r);
    gc_graph_t *g = new_graph(&r, 0);
    char r1[256], refs[600];
    kr_value_t *live = obj("u-d", "d", NULL, NULL);
    gc_graph_observe(g, "apps/v1", "Deployment", NULL, live);
    ref(r1, sizeof r1, "Deployment", "d", "u-d", true);
    snprintf(refs, sizeof refs, "[%s]", r1);
    gc_graph_observe(g, "apps/v1", "ReplicaSet", NULL, obj("u-rs", "rs", refs, NULL));

    /* Orphan: queued once, when the deletion starts with the finalizer */
    rec_clear(&r);
    kr_value_t *orphaning = obj("u-d", "d", NULL,
                                ",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\","
                                "\"finalizers\":[\"orphan\"]");
    gc_graph_observe(g, "apps/v1", "Deployment", live, orphaning);
    assert_string_equal(r.orphans, " u-d");
    rec_clear(&r);
    gc_graph_observe(g, "apps/v1", "Deployment", orphaning, orphaning);
    assert_string_equal(r.orphans, "");

    /* Foreground: the owner waits for its dependents, all looked at */
    rec_clear(&r);
    kr_value_t *fg = obj("u-f", "f", NULL,
                         ",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\","
                         "\"finalizers\":[\"foregroundDeletion\"]");
    gc_graph_observe(g, "apps/v1", "Deployment", NULL, obj("u-f", "f", NULL, NULL));
    ref(r1, sizeof r1, "Deployment", "f", "u-f", true);
    snprintf(refs, sizeof refs, "[%s]", r1);
    gc_graph_observe(g, "apps/v1", "ReplicaSet", NULL, obj("u-rs2", "rs2", refs, NULL));
    ref(r1, sizeof r1, "Deployment", "f", "u-f", false);
    snprintf(refs, sizeof refs, "[%s]", r1);
    gc_graph_observe(g, "apps/v1", "ReplicaSet", NULL, obj("u-rs3", "rs3", refs, NULL));
    rec_clear(&r);
    gc_graph_observe(g, "apps/v1", "Deployment", obj("u-f", "f", NULL, NULL), fg);
    gc_node_t *f = gc_graph_get(g, "u-f");
    assert_true(f->deleting_deps);
    assert_true(f->being_deleted);
    assert_int_equal(f->ndeps, 2);
    assert_int_equal(f->nblocking, 1);
    assert_true(has_delete(&r, "u-rs2"));
    assert_true(has_delete(&r, "u-rs3"));
    assert_true(has_delete(&r, "u-f"));
    /* the blocking dependent goes: the owner is looked at again */
    rec_clear(&r);
    gc_graph_deleted(g, obj("u-rs2", "rs2", NULL, NULL));
    assert_true(has_delete(&r, "u-f"));
    assert_int_equal(f->nblocking, 0);
    assert_int_equal(f->ndeps, 1);
    /* an object listed while it already waits (a restart) */
    gc_graph_t *g2 = new_graph(&r, 0);
    gc_graph_observe(g2, "apps/v1", "Deployment", NULL, fg);
    assert_true(gc_graph_get(g2, "u-f")->deleting_deps);
    gc_graph_destroy(&g2);
    gc_graph_destroy(&g);
}

static void test_absent_cache_evicts(void **state)
{
    (void)state;
    gc_graph_t *g = new_graph(NULL, 3);
    const char *uids[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        gc_graph_mark_absent(g, uids[i], "v1", "ConfigMap", "ns", uids[i]);
    gc_graph_mark_absent(g, "d", "v1", "ConfigMap", "ns", "d"); /* already there */
    assert_false(gc_graph_is_absent(g, "a", "v1", "ConfigMap", "ns", "a"));
    for (int i = 1; i < 4; i++)
        assert_true(gc_graph_is_absent(g, uids[i], "v1", "ConfigMap", "ns", uids[i]));
    assert_false(gc_graph_is_absent(g, "b", "v1", "Secret", "ns", "b"));
    gc_graph_destroy(&g);
}

/* 50,000 pods under 500 replica sets under 5 deployments, then every
 * deployment and replica set deleted: linear in the number of references
 * (a quadratic graph would take minutes here). */
static void test_many(void **state)
{
    (void)state;
    rec_t r;
    rec_clear(&r);
    gc_graph_t *g = new_graph(&r, 0);
    char uid[64], name[64], r1[256], refs[600];
    for (int d = 0; d < 5; d++) {
        snprintf(uid, sizeof uid, "dep-%d", d);
        gc_graph_observe(g, "apps/v1", "Deployment", NULL, obj(uid, uid, NULL, NULL));
    }
    for (int s = 0; s < 500; s++) {
        snprintf(uid, sizeof uid, "rs-%d", s);
        snprintf(name, sizeof name, "dep-%d", s % 5);
        ref(r1, sizeof r1, "Deployment", name, name, true);
        snprintf(refs, sizeof refs, "[%s]", r1);
        gc_graph_observe(g, "apps/v1", "ReplicaSet", NULL, obj(uid, uid, refs, NULL));
    }
    for (int p = 0; p < 50000; p++) {
        kr_arena_reset(A);
        snprintf(uid, sizeof uid, "pod-%d", p);
        snprintf(name, sizeof name, "rs-%d", p % 500);
        ref(r1, sizeof r1, "ReplicaSet", name, name, true);
        snprintf(refs, sizeof refs, "[%s]", r1);
        gc_graph_observe(g, "v1", "Pod", NULL, obj(uid, uid, refs, NULL));
    }
    assert_int_equal(gc_graph_len(g), 50505);
    assert_int_equal(gc_graph_get(g, "rs-7")->ndeps, 100);
    assert_int_equal(gc_graph_get(g, "dep-3")->nblocking, 100);
    r.ndeletes = 0;
    for (int d = 0; d < 5; d++) {
        snprintf(uid, sizeof uid, "dep-%d", d);
        gc_graph_deleted(g, obj(uid, uid, NULL, NULL));
    }
    assert_int_equal(r.ndeletes, 500);
    for (int s = 0; s < 500; s++) {
        kr_arena_reset(A);
        snprintf(uid, sizeof uid, "rs-%d", s);
        gc_graph_deleted(g, obj(uid, uid, NULL, NULL));
    }
    /* the deployments' nodes went with their last dependents */
    assert_null(gc_graph_get(g, "dep-0"));
    assert_int_equal(gc_graph_virtual(g), 500);
    assert_int_equal(r.ndeletes, 500 + 50000);
    for (int p = 0; p < 50000; p++) {
        kr_arena_reset(A);
        snprintf(uid, sizeof uid, "pod-%d", p);
        gc_graph_deleted(g, obj(uid, uid, NULL, NULL));
    }
    assert_int_equal(gc_graph_len(g), 0);
    gc_graph_destroy(&g);
}

static int setup(void **state)
{
    (void)state;
    A = kr_arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_arena_destroy(&A);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_edges_and_virtual),
        cmocka_unit_test(test_wrong_coordinates),
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_absent_cache_evicts),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
