/* The object cache: records (encoding, decoded fields, the field-selector
 * projection, reference counts) and the ordered map of live records
 * (get/put/replace/remove, order against qsort, walks, namespace counts,
 * balance). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include <kraal/selector.h>
#include "test_kinds.h"

static kr_value_t *json(kr_arena_t *a, const char *s)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(a, s, strlen(s), &v, &err) < 0)
        fail_msg("json: %s", err.message);
    return v;
}

/* A small object of thing_kind. */
static kr_objrec_t *thing(const char *ns, const char *name, int64_t rev)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *obj = kr_value_map(a), *meta = kr_value_map(a);
    kr_value_map_set(a, obj, "apiVersion", kr_value_str(a, "example.com/v1"));
    kr_value_map_set(a, obj, "kind", kr_value_str(a, "Thing"));
    kr_value_map_set(a, meta, "name", kr_value_str(a, name));
    if (ns[0])
        kr_value_map_set(a, meta, "namespace", kr_value_str(a, ns));
    kr_value_map_set(a, meta, "resourceVersion",
                     kr_value_str(a, kr_arena_printf(a, "%lld", (long long)rev)));
    kr_value_map_set(a, obj, "metadata", meta);
    kr_error_t err;
    kr_objrec_t *rec = kr_objrec_new(&thing_kind, obj, rev, rev, &err);
    if (rec == NULL)
        fail_msg("record: %s", err.message);
    kr_arena_destroy(&a);
    return rec;
}

static uint32_t refs(kr_objrec_t *rec)
{
    return atomic_load(&rec->refs);
}

static bool fieldsel_matches(const kr_objrec_t *rec, const char *sel)
{
    kr_error_t err;
    kr_fieldsel_t *fs = kr_fieldsel_parse(sel, &err);
    if (fs == NULL)
        fail_msg("%s: %s", sel, err.message);
    bool ok = kr_objrec_fieldsel_match(rec, fs);
    kr_fieldsel_destroy(&fs);
    return ok;
}

static bool labelsel_matches(const kr_objrec_t *rec, const char *sel)
{
    kr_error_t err;
    kr_labelsel_t *ls = kr_labelsel_parse(sel, &err);
    if (ls == NULL)
        fail_msg("%s: %s", sel, err.message);
    bool ok = kr_labelsel_match(ls, rec->labels);
    kr_labelsel_destroy(&ls);
    return ok;
}

/* ---- records ------------------------------------------------------------- */

#define POD_JSON                                                                             \
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\","              \
    "\"namespace\":\"prod\",\"uid\":\"6a1c9e0e-1111-4a43-9a3c-0242ac120002\","               \
    "\"resourceVersion\":\"42\",\"labels\":{\"app\":\"web\",\"tier\":\"front\"},"            \
    "\"annotations\":{\"note\":\"x\"}},\"spec\":{\"nodeName\":\"node-3\","                   \
    "\"restartPolicy\":\"Always\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}," \
    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.7\"}}"

static void test_pod_record(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *obj = json(a, POD_JSON);
    kr_error_t err;
    kr_objrec_t *rec = kr_objrec_new(&pod_kind, obj, 42, 40, &err);
    assert_non_null(rec);
    assert_int_equal(refs(rec), 1);
    assert_ptr_equal(rec->kind, &pod_kind);
    assert_int_equal(rec->rev, 42);
    assert_int_equal(rec->create_rev, 40);
    assert_string_equal(rec->ns, "prod");
    assert_string_equal(rec->name, "web-1");
    assert_string_equal(rec->uid, "6a1c9e0e-1111-4a43-9a3c-0242ac120002");
    assert_false(rec->terminating);

    /* the bytes are the object's msgpack; decode gives the object back */
    kr_buf_t enc = KR_BUF_INIT;
    assert_int_equal(kr_msgpack_encode(obj, &enc, &err), 0);
    assert_int_equal(rec->len, enc.len);
    assert_memory_equal(rec->data, enc.data, enc.len);
    kr_buf_free(&enc);
    assert_true(kr_value_equal(kr_objrec_decode(rec, a), obj));

    /* labels */
    assert_int_equal(kr_value_len(rec->labels), 2);
    assert_string_equal(kr_value_map_str(rec->labels, "app"), "web");
    assert_true(labelsel_matches(rec, "app=web,tier in (front,back)"));
    assert_false(labelsel_matches(rec, "app!=web"));

    /* the projection holds the selector fields only */
    assert_string_equal(kr_objrec_field(rec, "metadata.name"), "web-1");
    assert_string_equal(kr_objrec_field(rec, "metadata.namespace"), "prod");
    assert_string_equal(kr_objrec_field(rec, "spec.nodeName"), "node-3");
    assert_string_equal(kr_objrec_field(rec, "status.phase"), "Running");
    assert_string_equal(kr_objrec_field(rec, "spec.hostNetwork"), "false"); /* Go's zero */
    assert_null(kr_objrec_field(rec, "spec.schedulerName"));                /* absent */
    assert_null(kr_objrec_field(rec, "spec.containers"));                   /* not a selector */
    assert_null(kr_objrec_field(rec, "metadata.annotations"));
    assert_null(kr_objrec_field(rec, "metadata.labels"));
    assert_true(fieldsel_matches(rec, "spec.nodeName=node-3,status.phase=Running"));
    assert_true(fieldsel_matches(rec, "metadata.name=web-1,metadata.namespace=prod"));
    assert_true(fieldsel_matches(rec, "status.podIP=10.0.0.7,spec.restartPolicy=Always"));
    assert_false(fieldsel_matches(rec, "status.phase!=Running"));
    assert_false(fieldsel_matches(rec, "spec.nodeName=node-4"));
    /* absent strings read as "", absent bools as upstream's "false" */
    assert_true(fieldsel_matches(rec, "spec.schedulerName="));
    assert_true(fieldsel_matches(rec, "spec.hostNetwork=false"));
    assert_false(fieldsel_matches(rec, "spec.hostNetwork=true"));

    /* the same from the encoding (the store's value at load) */
    kr_objrec_t *again = kr_objrec_from_msgpack(&pod_kind, rec->data, rec->len, 42, 40, &err);
    assert_non_null(again);
    assert_int_equal(again->len, rec->len);
    assert_memory_equal(again->data, rec->data, rec->len);
    assert_string_equal(again->ns, "prod");
    assert_string_equal(again->name, "web-1");
    assert_true(kr_value_equal(again->labels, rec->labels));
    static const char *const paths[] = {"metadata.name", "metadata.namespace", "spec.nodeName",
                                        "status.phase",  "status.podIP",       "spec.hostNetwork"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *x = kr_objrec_field(again, paths[i]), *y = kr_objrec_field(rec, paths[i]);
        assert_true((x == NULL && y == NULL) || (x && y && strcmp(x, y) == 0));
    }
    kr_objrec_unref(&again);
    assert_null(again);

    kr_objrec_unref(&rec);
    assert_null(rec);
    kr_objrec_unref(&rec); /* NULL is fine */
    kr_arena_destroy(&a);
}

static void test_record_variants(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;

    /* hostNetwork set, being deleted, no labels, no uid */
    kr_objrec_t *rec =
        kr_objrec_new(&pod_kind,
                      json(a, "{\"metadata\":{\"name\":\"h\",\"namespace\":\"kube-system\","
                              "\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},"
                              "\"spec\":{\"hostNetwork\":true}}"),
                      7, 7, &err);
    assert_non_null(rec);
    assert_true(rec->terminating);
    assert_null(rec->labels);
    assert_string_equal(rec->uid, "");
    assert_true(fieldsel_matches(rec, "spec.hostNetwork=true"));
    assert_false(fieldsel_matches(rec, "spec.hostNetwork=false"));
    assert_true(labelsel_matches(rec, "!app"));
    kr_objrec_unref(&rec);

    /* a custom kind: no Go zero values, absent fields read as "" */
    rec = kr_objrec_new(&thing_kind, json(a, "{\"metadata\":{\"name\":\"c\"}}"), 1, 1, &err);
    assert_non_null(rec);
    assert_string_equal(rec->ns, ""); /* cluster-scoped objects have no namespace */
    assert_true(fieldsel_matches(rec, "metadata.namespace="));
    kr_objrec_unref(&rec);

    /* refused: no name, not a map, bad msgpack */
    assert_null(
        kr_objrec_new(&pod_kind, json(a, "{\"metadata\":{\"namespace\":\"x\"}}"), 1, 1, &err));
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_non_null(strstr(err.message, "metadata.name"));
    assert_null(kr_objrec_new(&pod_kind, json(a, "[1,2]"), 1, 1, &err));
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
    static const unsigned char bad[] = {0x81, 0xa1}; /* a map cut short */
    assert_null(kr_objrec_from_msgpack(&pod_kind, bad, sizeof bad, 1, 1, &err));
    kr_arena_destroy(&a);
}

/* Another thread (the committer) drops references while this one does. */
static void *drop_refs(void *arg)
{
    kr_objrec_t *rec = arg;
    for (int i = 0; i < 100000; i++) {
        kr_objrec_t *r = rec;
        kr_objrec_unref(&r);
    }
    return NULL;
}

static void test_refcount_threads(void **state)
{
    (void)state;
    kr_objrec_t *rec = thing("ns", "shared", 1);
    for (int i = 0; i < 400000; i++)
        kr_objrec_ref(rec);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, drop_refs, rec);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(refs(rec), 1);
    kr_objrec_unref(&rec);
}

/* ---- the map ------------------------------------------------------------ */

static void test_map_basics(void **state)
{
    (void)state;
    kr_objmap_t *m = kr_objmap_new();
    assert_int_equal(kr_objmap_count(m), 0);
    assert_null(kr_objmap_get(m, "a", "x"));
    assert_null(kr_objmap_remove(m, "a", "x"));

    kr_objrec_t *x1 = thing("a", "x", 1);
    kr_objmap_put(m, kr_objrec_ref(x1));
    assert_int_equal(refs(x1), 2);
    assert_ptr_equal(kr_objmap_get(m, "a", "x"), x1);
    assert_null(kr_objmap_get(m, "b", "x"));
    assert_null(kr_objmap_get(m, "a", "y"));
    assert_int_equal(kr_objmap_count(m), 1);
    assert_int_equal(kr_objmap_count_ns(m, "a"), 1);

    /* replace: the new record takes the place, the old loses the map's ref */
    kr_objrec_t *x2 = thing("a", "x", 2);
    kr_objmap_put(m, kr_objrec_ref(x2));
    assert_int_equal(refs(x1), 1);
    assert_int_equal(refs(x2), 2);
    assert_ptr_equal(kr_objmap_get(m, "a", "x"), x2);
    assert_int_equal(kr_objmap_count(m), 1);
    assert_int_equal(kr_objmap_count_ns(m, "a"), 1);
    /* the same record put again keeps one reference */
    kr_objmap_put(m, kr_objrec_ref(x2));
    assert_int_equal(refs(x2), 2);
    assert_int_equal(kr_objmap_count(m), 1);

    kr_objmap_put(m, thing("b", "x", 3));
    kr_objmap_put(m, thing("", "cluster", 4));
    assert_int_equal(kr_objmap_count(m), 3);
    assert_int_equal(kr_objmap_count_ns(m, "b"), 1);
    assert_int_equal(kr_objmap_count_ns(m, ""), 1);
    assert_int_equal(kr_objmap_count_ns(m, "c"), 0);
    assert_string_equal(kr_objmap_get(m, NULL, "cluster")->name, "cluster");

    /* remove hands the map's reference to the caller */
    kr_objrec_t *got = kr_objmap_remove(m, "a", "x");
    assert_ptr_equal(got, x2);
    assert_int_equal(refs(x2), 2);
    kr_objrec_unref(&got);
    assert_null(kr_objmap_get(m, "a", "x"));
    assert_int_equal(kr_objmap_count(m), 2);
    assert_int_equal(kr_objmap_count_ns(m, "a"), 0);
    assert_null(kr_objmap_remove(m, "a", "x"));

    kr_objmap_destroy(&m);
    assert_null(m);
    kr_objmap_destroy(&m);
    assert_int_equal(refs(x1), 1);
    assert_int_equal(refs(x2), 1);
    kr_objrec_unref(&x1);
    kr_objrec_unref(&x2);
}

typedef struct key {
    char ns[16], name[24];
} objkey_t;

static int key_cmp(const void *pa, const void *pb)
{
    const objkey_t *a = pa, *b = pb;
    int c = strcmp(a->ns, b->ns);
    return c ? c : strcmp(a->name, b->name);
}

typedef struct collect {
    objkey_t *keys;
    size_t n, cap, stop_after;
} collect_t;

static bool collect(kr_objrec_t *rec, void *ud)
{
    collect_t *c = ud;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->keys = realloc(c->keys, c->cap * sizeof *c->keys);
    }
    snprintf(c->keys[c->n].ns, sizeof c->keys[c->n].ns, "%s", rec->ns);
    snprintf(c->keys[c->n].name, sizeof c->keys[c->n].name, "%s", rec->name);
    c->n++;
    return c->stop_after == 0 || c->n < c->stop_after;
}

/* Height of the tree, read through the links (white box: the map must stay
 * balanced for O(log n) operations). */
static int tree_height(const kr_objrec_t *r)
{
    if (r == NULL)
        return 0;
    int l = tree_height(r->node_[0]), h = tree_height(r->node_[1]);
    return 1 + (l > h ? l : h);
}

static const kr_objrec_t *tree_root(const kr_objmap_t *m)
{
    collect_t c = {.stop_after = 1};
    kr_objmap_walk(m, NULL, NULL, NULL, collect, &c);
    const kr_objrec_t *r = c.n ? kr_objmap_get(m, c.keys[0].ns, c.keys[0].name) : NULL;
    free(c.keys);
    while (r && r->node_[2]) /* any record leads to the root */
        r = r->node_[2];
    return r;
}

static void assert_balanced(const kr_objmap_t *m)
{
    size_t n = kr_objmap_count(m);
    int h = tree_height(tree_root(m));
    /* an AVL tree of n nodes is at most 1.44 log2(n + 2) high */
    assert_true(h <= (int)(1.4405 * log2((double)n + 2.0)) + 1);
}

static void assert_walk_equals(const kr_objmap_t *m, const objkey_t *want, size_t n)
{
    collect_t c = {0};
    kr_objmap_walk(m, NULL, NULL, NULL, collect, &c);
    assert_int_equal(c.n, n);
    for (size_t i = 0; i < n; i++)
        if (key_cmp(&c.keys[i], &want[i]) != 0)
            fail_msg("position %zu: %s/%s, want %s/%s", i, c.keys[i].ns, c.keys[i].name, want[i].ns,
                     want[i].name);
    free(c.keys);
}

static size_t unique_sorted(objkey_t *keys, size_t n)
{
    qsort(keys, n, sizeof *keys, key_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || key_cmp(&keys[u - 1], &keys[i]) != 0)
            keys[u++] = keys[i];
    return u;
}

static void test_map_order_random(void **state)
{
    (void)state;
    enum { N = 20000 };
    srand(12345);
    objkey_t *keys = calloc(N, sizeof *keys);
    kr_objmap_t *m = kr_objmap_new();
    for (size_t i = 0; i < N; i++) {
        snprintf(keys[i].ns, sizeof keys[i].ns, "ns-%d", rand() % 37);
        snprintf(keys[i].name, sizeof keys[i].name, "obj-%x", (unsigned)rand() % 30000);
        kr_objmap_put(m, thing(keys[i].ns, keys[i].name, (int64_t)i + 1));
    }
    size_t n = unique_sorted(keys, N);
    assert_true(n < N); /* some keys were replaced */
    assert_int_equal(kr_objmap_count(m), n);
    assert_walk_equals(m, keys, n);
    assert_balanced(m);
    for (int ns = 0; ns < 37; ns++) {
        char name[16];
        snprintf(name, sizeof name, "ns-%d", ns);
        size_t want = 0;
        for (size_t i = 0; i < n; i++)
            want += strcmp(keys[i].ns, name) == 0;
        assert_int_equal(kr_objmap_count_ns(m, name), want);
    }

    /* remove every other key (in random order), then compare again */
    size_t *idx = calloc(n, sizeof *idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        if (idx[i] % 2 == 0)
            continue;
        kr_objrec_t *r = kr_objmap_remove(m, keys[idx[i]].ns, keys[idx[i]].name);
        assert_non_null(r);
        kr_objrec_unref(&r);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i += 2)
        keys[k++] = keys[i];
    assert_int_equal(kr_objmap_count(m), k);
    assert_walk_equals(m, keys, k);
    assert_balanced(m);
    for (size_t i = 0; i < k; i++)
        assert_non_null(kr_objmap_get(m, keys[i].ns, keys[i].name));
    free(idx);
    free(keys);
    kr_objmap_destroy(&m);
}

static void test_map_sorted_inserts_stay_balanced(void **state)
{
    (void)state;
    enum { N = 50000 };
    kr_objmap_t *m = kr_objmap_new();
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "pod-%06d", i);
        kr_objmap_put(m, thing("default", name, i + 1));
    }
    assert_balanced(m);
    /* remove from the front: the other degenerate pattern */
    for (int i = 0; i < N - 10; i++) {
        snprintf(name, sizeof name, "pod-%06d", i);
        kr_objrec_t *r = kr_objmap_remove(m, "default", name);
        assert_non_null(r);
        kr_objrec_unref(&r);
    }
    assert_int_equal(kr_objmap_count(m), 10);
    assert_int_equal(kr_objmap_count_ns(m, "default"), 10);
    assert_balanced(m);
    kr_objmap_destroy(&m);
}

static void assert_walk(const kr_objmap_t *m, const char *ns, const char *after_ns,
                        const char *after_name, size_t stop_after, const char *want)
{
    collect_t c = {.stop_after = stop_after};
    kr_objmap_walk(m, ns, after_ns, after_name, collect, &c);
    char got[512] = "";
    for (size_t i = 0; i < c.n; i++) {
        size_t len = strlen(got);
        snprintf(got + len, sizeof got - len, "%s%s/%s", i ? " " : "", c.keys[i].ns,
                 c.keys[i].name);
    }
    free(c.keys);
    if (strcmp(got, want) != 0)
        fail_msg("walk ns=%s after=%s/%s: got \"%s\", want \"%s\"", ns ? ns : "(all)",
                 after_ns ? after_ns : "-", after_name ? after_name : "-", got, want);
}

static void test_map_walks(void **state)
{
    (void)state;
    kr_objmap_t *m = kr_objmap_new();
    static const char *const keys[][2] = {{"b", "2"}, {"a", "1"}, {"c", "1"}, {"b", "1"},
                                          {"a", "3"}, {"b", "3"}, {"a", "2"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        kr_objmap_put(m, thing(keys[i][0], keys[i][1], (int64_t)i + 1));

    assert_walk(m, NULL, NULL, NULL, 0, "a/1 a/2 a/3 b/1 b/2 b/3 c/1");
    assert_walk(m, "b", NULL, NULL, 0, "b/1 b/2 b/3");
    assert_walk(m, "z", NULL, NULL, 0, "");
    assert_walk(m, "", NULL, NULL, 0, "");
    /* continue after a key: strictly after it, present or not */
    assert_walk(m, NULL, "a", "3", 0, "b/1 b/2 b/3 c/1");
    assert_walk(m, NULL, "a", "25", 0, "a/3 b/1 b/2 b/3 c/1");
    assert_walk(m, NULL, "c", "1", 0, "");
    /* within a namespace */
    assert_walk(m, "b", "b", "1", 0, "b/2 b/3");
    assert_walk(m, "b", "b", "3", 0, "");
    assert_walk(m, "b", "a", "9", 0, "b/1 b/2 b/3"); /* an earlier namespace: all of b */
    assert_walk(m, "b", "c", "0", 0, "");            /* a later one: nothing */
    /* fn stops the walk */
    assert_walk(m, NULL, NULL, NULL, 2, "a/1 a/2");
    assert_walk(m, "b", "b", "1", 1, "b/2");
    kr_objmap_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_record),
        cmocka_unit_test(test_record_variants),
        cmocka_unit_test(test_refcount_threads),
        cmocka_unit_test(test_map_basics),
        cmocka_unit_test(test_map_order_random),
        cmocka_unit_test(test_map_sorted_inserts_stay_balanced),
        cmocka_unit_test(test_map_walks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
