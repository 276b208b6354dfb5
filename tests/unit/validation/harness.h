/* Shared by the validation tests: decode test objects, run a kind's hooks
 * the way the object API does (defaults, prepare, validate), and compare
 * what comes out. */
#ifndef KRAAL_TEST_VALIDATION_HARNESS_H
#define KRAAL_TEST_VALIDATION_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <kraal/value.h>

#include "builtin.h"
#include "validation.h"

/* each test file uses some of these */
#pragma GCC diagnostic ignored "-Wunused-function"

static kr_arena_t *arena;

static int setup(void **state)
{
    (void)state;
    arena = kr_arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_arena_destroy(&arena);
    return 0;
}

/* The first document of a YAML text. */
static kr_value_t *Y(const char *text)
{
    kr_value_t *docs = NULL;
    kr_error_t err;
    if (kr_yaml_decode(arena, text, strlen(text), &docs, &err) != 0)
        fail_msg("bad test YAML: %s\n%s", err.message, text);
    return kr_value_array_get(docs, 0);
}

static const char *to_json(const kr_value_t *v)
{
    kr_buf_t buf = KR_BUF_INIT;
    kr_json_encode(v, &buf, KR_JSON_COMPACT, NULL);
    char *s = kr_arena_strdup(arena, buf.data ? buf.data : "");
    kr_buf_free(&buf);
    return s;
}

/* got must equal the YAML `want` (maps compare as key sets). */
#define assert_tree(got, want) assert_tree_at(got, want, __FILE__, __LINE__)
static void assert_tree_at(const kr_value_t *got, const char *want, const char *file, int line)
{
    const kr_value_t *w = Y(want);
    if (!kr_value_equal(got, w))
        fail_msg("%s:%d: got %s\nwant %s", file, line, to_json(got), to_json(w));
}

static const kr_kind_hooks_t *hooks(const char *kind)
{
    const kr_kind_hooks_t *h = kr_builtin_hooks(kind);
    if (h == NULL)
        fail_msg("no hooks for %s", kind);
    return h;
}

/* What the API sets before prepare_create and validate. */
static void api_metadata(kr_value_t *obj, const char *ns)
{
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    if (meta == NULL) {
        meta = kr_value_map(arena);
        kr_value_map_set(arena, obj, "metadata", meta);
    }
    if (ns != NULL && kr_value_map_get(meta, "namespace") == NULL)
        kr_value_map_set(arena, meta, "namespace", kr_value_str(arena, ns));
    if (kr_value_map_get(meta, "uid") == NULL)
        kr_value_map_set(arena, meta, "uid",
                         kr_value_str(arena, "6a3c1a54-5b1f-4b3e-9f7c-2f2f8e0e1d11"));
    kr_value_map_set(arena, meta, "creationTimestamp", kr_value_str(arena, "2024-05-01T10:00:00Z"));
    kr_value_map_set(arena, meta, "resourceVersion", kr_value_str(arena, "1"));
    kr_value_map_set(arena, meta, "generation", kr_value_int(arena, 1));
}

/* defaults, prepare_create, validate on `obj` (changed in place); the
 * collected errors are returned in *v. */
static void create(const char *kind, kr_value_t *obj, const char *ns, kr_validation_t *v)
{
    const kr_kind_hooks_t *h = hooks(kind);
    api_metadata(obj, ns);
    if (h->defaults)
        h->defaults(arena, obj);
    if (h->prepare_create)
        h->prepare_create(arena, obj);
    kr_validation_init(v, arena);
    if (h->validate)
        h->validate(v, obj, NULL);
}

/* defaults, prepare_update, validate of an update of `old` to `obj`. */
static void update(const char *kind, kr_value_t *obj, const kr_value_t *old, kr_validation_t *v)
{
    const kr_kind_hooks_t *h = hooks(kind);
    /* the API keeps the server's metadata and the status */
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    const kr_value_t *om = kr_value_map_get(old, "metadata");
    static const char *const keep[] = {"uid", "creationTimestamp", "generation", "resourceVersion",
                                       "namespace"};
    for (size_t i = 0; i < 5; i++)
        if (kr_value_map_get(om, keep[i]) != NULL)
            kr_value_map_set(arena, meta, keep[i],
                             kr_value_copy(arena, kr_value_map_get(om, keep[i])));
    if (kr_value_map_get(old, "status") != NULL)
        kr_value_map_set(arena, obj, "status",
                         kr_value_copy(arena, kr_value_map_get(old, "status")));
    if (h->defaults)
        h->defaults(arena, obj);
    if (h->prepare_update)
        h->prepare_update(arena, obj, old);
    kr_validation_init(v, arena);
    if (h->validate)
        h->validate(v, obj, old);
}

/* The error message the API would answer. */
static const char *message(const kr_validation_t *v, const char *group, const char *kind,
                           const char *name)
{
    kr_error_t err;
    kr_error_clear(&err);
    kr_validation_error(v, group, kind, name, &err);
    return kr_arena_strdup(arena, err.message);
}

#define assert_valid(v) assert_valid_at(v, __FILE__, __LINE__)
static void assert_valid_at(const kr_validation_t *v, const char *file, int line)
{
    if (!kr_validation_ok(v))
        fail_msg("%s:%d: unexpected errors: %s", file, line, to_json(v->causes));
}

/* Some cause is exactly "field: message". */
#define assert_cause(v, text) assert_cause_at(v, text, __FILE__, __LINE__)
static void assert_cause_at(const kr_validation_t *v, const char *text, const char *file, int line)
{
    for (size_t i = 0; i < kr_validation_count(v); i++) {
        const kr_value_t *c = kr_value_array_get(v->causes, i);
        char buf[4096];
        snprintf(buf, sizeof buf, "%s: %s", kr_value_map_str(c, "field"),
                 kr_value_map_str(c, "message"));
        if (strcmp(buf, text) == 0)
            return;
    }
    fail_msg("%s:%d: no cause\n  %s\namong %s", file, line, text, to_json(v->causes));
}

/* Some cause's "field: message" starts with `prefix`. */
#define assert_cause_prefix(v, prefix) assert_cause_prefix_at(v, prefix, __FILE__, __LINE__)
static void assert_cause_prefix_at(const kr_validation_t *v, const char *prefix, const char *file,
                                   int line)
{
    for (size_t i = 0; i < kr_validation_count(v); i++) {
        const kr_value_t *c = kr_value_array_get(v->causes, i);
        char buf[4096];
        snprintf(buf, sizeof buf, "%s: %s", kr_value_map_str(c, "field"),
                 kr_value_map_str(c, "message"));
        if (strncmp(buf, prefix, strlen(prefix)) == 0)
            return;
    }
    fail_msg("%s:%d: no cause starting with\n  %s\namong %s", file, line, prefix,
             to_json(v->causes));
}

#endif
