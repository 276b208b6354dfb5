/* What the server-side apply tests share: an arena and the built-in kinds,
 * made afresh for each test, JSON in and out, and the managedFields entry
 * of one manager. */
#ifndef KRAAL_TEST_APPLY_FIXTURE_H
#define KRAAL_TEST_APPLY_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <kraal/value.h>

#include "registry.h"

static kr_arena_t *arena;
static kr_registry_t *reg;

static int setup(void **state)
{
    (void)state;
    kr_error_t err;
    arena = kr_arena_new(0);
    reg = kr_registry_new(&err);
    if (reg == NULL)
        fail_msg("kr_registry_new: %s", err.message);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_registry_destroy(&reg);
    kr_arena_destroy(&arena);
    return 0;
}

static kr_value_t *J(const char *text)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(arena, text, strlen(text), &v, &err) != 0)
        fail_msg("bad test JSON %s: %s", text, err.message);
    return v;
}

static const char *S(const kr_value_t *v)
{
    kr_buf_t buf = KR_BUF_INIT;
    kr_json_encode(v, &buf, KR_JSON_COMPACT, NULL);
    const char *s = kr_arena_strdup(arena, buf.data ? buf.data : "");
    kr_buf_free(&buf);
    return s;
}

static const kr_kind_t *K(const char *group, const char *plural)
{
    const kr_kind_t *k = kr_registry_find(reg, group, plural);
    if (k == NULL)
        fail_msg("no kind %s", plural);
    return k;
}

/* The managedFields entry of `manager` with `operation` (NULL if none). */
static const kr_value_t *entry_of(const kr_value_t *obj, const char *manager, const char *operation)
{
    const kr_value_t *mf = kr_value_get(obj, "metadata.managedFields");
    for (size_t i = 0; i < kr_value_len(mf); i++) {
        const kr_value_t *e = kr_value_array_get(mf, i);
        const char *m = kr_value_map_str(e, "manager");
        if (m && strcmp(m, manager) == 0 &&
            strcmp(kr_value_map_str(e, "operation"), operation) == 0)
            return e;
    }
    return NULL;
}

/* fieldsV1 of that entry, as compact JSON ("" when there is no entry). */
static const char *fields_of(const kr_value_t *obj, const char *manager, const char *operation)
{
    const kr_value_t *e = entry_of(obj, manager, operation);
    return e ? S(kr_value_map_get(e, "fieldsV1")) : "";
}

#endif
