/* The conditions of a terminating namespace (conditions.h). */
#include "conditions.h"

#include <stdlib.h>
#include <string.h>

enum { C_DISCOVERY, C_GV_PARSING, C_CONTENT_FAILURE, C_CONTENT_REMAINING, C_FINALIZERS, C_N };

/* upstream's conditionTypes, okReasons and okMessages, in its order */
static const struct {
    const char *type, *ok_reason, *ok_message;
} cond_types[C_N] = {
    {"NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered",
     "All resources successfully discovered"},
    {"NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions",
     "All legacy kube types successfully parsed"},
    {"NamespaceDeletionContentFailure", "ContentDeleted",
     "All content successfully deleted, may be waiting on finalization"},
    {"NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"},
    {"NamespaceFinalizersRemaining", "ContentRemoved", "All content successfully removed"},
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The strings sorted (sort.Strings) and joined with ", ". */
static const char *join_sorted(kr_arena_t *a, const char **s, size_t n)
{
    qsort(s, n, sizeof *s, cmp_str);
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            kr_buf_puts(&b, ", ");
        kr_buf_puts(&b, s[i]);
    }
    const char *out = kr_arena_strdup(a, b.data ? b.data : "");
    kr_buf_free(&b);
    return out;
}

/* "<name> has N resource instances" or "<name> in N resource instances",
 * the zero counts left out, sorted and joined; NULL when nothing is left. */
static const char *counts_message(kr_arena_t *a, const ns_count_t *c, size_t n, const char *verb)
{
    const char **s = kr_arena_alloc(a, (n ? n : 1) * sizeof *s);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].n != 0)
            s[k++] = kr_arena_printf(a, "%s %s %lld resource instances", c[i].name, verb,
                                     (long long)c[i].n);
    return join_sorted(a, s, k);
}

static kr_value_t *condition(kr_arena_t *a, const char *type, const char *status,
                             const char *reason, const char *message, const char *now)
{
    kr_value_t *c = kr_value_map(a);
    kr_value_map_set(a, c, "type", kr_value_str(a, type));
    kr_value_map_set(a, c, "status", kr_value_str(a, status));
    kr_value_map_set(a, c, "lastTransitionTime", kr_value_str(a, now));
    kr_value_map_set(a, c, "reason", kr_value_str(a, reason));
    kr_value_map_set(a, c, "message", kr_value_str(a, message));
    return c;
}

static bool field_differs(const kr_value_t *old, const kr_value_t *nw, const char *key)
{
    const char *x = kr_value_map_str(old, key), *y = kr_value_map_str(nw, key);
    return strcmp(x ? x : "", y ? y : "") != 0;
}

bool ns_conditions_update(kr_arena_t *a, kr_value_t *ns, const ns_outcome_t *o, const char *now)
{
    kr_value_t *fresh[C_N] = {0};
    if (o->discovery_err != NULL)
        fresh[C_DISCOVERY] = condition(a, cond_types[C_DISCOVERY].type, "True", "DiscoveryFailed",
                                       o->discovery_err, now);
    if (o->n_content_errs > 0) {
        const char **s = kr_arena_alloc(a, o->n_content_errs * sizeof *s);
        for (size_t i = 0; i < o->n_content_errs; i++)
            s[i] = o->content_errs[i];
        const char *msg =
            kr_arena_printf(a, "Failed to delete all resource types, %zu remaining: %s",
                            o->n_content_errs, join_sorted(a, s, o->n_content_errs));
        fresh[C_CONTENT_FAILURE] = condition(a, cond_types[C_CONTENT_FAILURE].type, "True",
                                             "ContentDeletionFailed", msg, now);
    }
    if (o->n_remaining > 0)
        fresh[C_CONTENT_REMAINING] =
            condition(a, cond_types[C_CONTENT_REMAINING].type, "True", "SomeResourcesRemain",
                      kr_arena_printf(a, "Some resources are remaining: %s",
                                      counts_message(a, o->remaining, o->n_remaining, "has")),
                      now);
    if (o->n_finalizers > 0)
        fresh[C_FINALIZERS] =
            condition(a, cond_types[C_FINALIZERS].type, "True", "SomeFinalizerRemain",
                      kr_arena_printf(a, "Some finalizers are remaining: %s",
                                      counts_message(a, o->finalizers, o->n_finalizers, "in")),
                      now);

    kr_value_t *status = kr_value_map_get(ns, "status");
    if (kr_value_type(status) != KR_MAP) {
        status = kr_value_map(a);
        kr_value_map_set(a, ns, "status", status);
    }
    kr_value_t *conds = kr_value_map_get(status, "conditions");
    if (kr_value_type(conds) != KR_ARRAY) {
        conds = kr_value_array(a);
        kr_value_map_set(a, status, "conditions", conds);
    }
    bool changed = false;
    for (int t = 0; t < C_N; t++) {
        kr_value_t *nw = fresh[t];
        if (nw == NULL)
            nw = condition(a, cond_types[t].type, "False", cond_types[t].ok_reason,
                           cond_types[t].ok_message, now);
        kr_value_t *old = NULL;
        for (size_t i = 0; i < kr_value_len(conds) && old == NULL; i++) {
            kr_value_t *c = kr_value_array_get(conds, i);
            if (strcmp(kr_value_map_str(c, "type") ?: "", cond_types[t].type) == 0)
                old = c;
        }
        if (old == NULL) {
            kr_value_array_push(a, conds, nw);
            changed = true;
        } else if (field_differs(old, nw, "status") || field_differs(old, nw, "message") ||
                   field_differs(old, nw, "reason")) {
            if (field_differs(old, nw, "status"))
                kr_value_map_set(a, old, "lastTransitionTime", kr_value_str(a, now));
            kr_value_map_set(a, old, "status", kr_value_copy(a, kr_value_map_get(nw, "status")));
            kr_value_map_set(a, old, "reason", kr_value_copy(a, kr_value_map_get(nw, "reason")));
            kr_value_map_set(a, old, "message", kr_value_copy(a, kr_value_map_get(nw, "message")));
            changed = true;
        }
    }
    return changed;
}
