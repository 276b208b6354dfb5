/* Helpers shared by auth-rbac's unit tests. */
#ifndef RBAC_TEST_YAML_H
#define RBAC_TEST_YAML_H

#include <string.h>

#include <kraal/value.h>

/* The first document of `yaml`, in arena; the test fails on bad YAML. */
static kr_value_t *obj_yaml(kr_arena_t *a, const char *yaml)
{
    kr_value_t *docs;
    kr_error_t err;
    if (kr_yaml_decode(a, yaml, strlen(yaml), &docs, &err) < 0)
        fail_msg("yaml: %s", err.message);
    return kr_value_array_get(docs, 0);
}

#endif
