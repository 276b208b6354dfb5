/* What the registry tests share: an arena and a registry holding the
 * built-in kinds, made afresh for each test, and JSON literals. */
#ifndef KRAAL_TEST_REGISTRY_FIXTURE_H
#define KRAAL_TEST_REGISTRY_FIXTURE_H

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
    assert_null(reg);
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

#endif
