/* The built-in kinds' strategy hooks by name; see builtin.h.  Each kind's
 * hooks live with its rules (builtin_pod.c, builtin_core.c,
 * builtin_apps.c, builtin_discovery.c, builtin_rbac.c, builtin_quota.c). */
#include <string.h>

#include "builtin_internal.h"

static const struct {
    const char *name;
    const kr_kind_hooks_t *hooks;
} table[] = {
#define KR_BUILTIN_ENTRY(n) {#n, &kr_hooks_##n},
    KR_BUILTIN_KINDS(KR_BUILTIN_ENTRY)
#undef KR_BUILTIN_ENTRY
};

const kr_kind_hooks_t *kr_builtin_hooks(const char *kind_lower)
{
    if (kind_lower == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, kind_lower) == 0)
            return table[i].hooks;
    return NULL;
}
