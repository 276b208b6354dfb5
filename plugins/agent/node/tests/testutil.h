/* Shared by the agent's unit tests. */
#ifndef KRAAL_AGENT_TESTUTIL_H
#define KRAAL_AGENT_TESTUTIL_H

#include <string.h>

#include <kraal/value.h>

/* The first document of a YAML text, in `a`; fails the test on bad YAML. */
static inline kr_value_t *yaml(kr_arena_t *a, const char *text)
{
    kr_value_t *docs;
    kr_error_t err;
    if (kr_yaml_decode(a, text, strlen(text), &docs, &err) < 0)
        fail_msg("yaml: %s", err.message);
    return kr_value_array_get(docs, 0);
}

#endif
