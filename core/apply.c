/* Server-side apply (apply.h): upstream's FieldManager.Apply chain —
 * versioncheck, skipnonapplied, structuredmerge (structured-merge-diff's
 * Updater.Apply: merge, prune, conflicts), stripmeta, managedfieldsupdater
 * and lastappliedupdater — over one kind's schema. */
#include "apply.h"
#include "patch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managed.h"

/* "apps/v1, Kind=Deployment" (schema.GroupVersionKind.String), of what an
 * unstructured object says: an apiVersion with more than one '/' says
 * nothing at all. */
static const char *gvk_string(kr_arena_t *arena, const char *api_version, const char *kind)
{
    const char *slash = strchr(api_version, '/');
    if (slash != NULL && strchr(slash + 1, '/') != NULL)
        return "/, Kind=";
    if (slash == NULL)
        return kr_arena_printf(arena, "/%s, Kind=%s", api_version, kind);
    return kr_arena_printf(arena, "%.*s/%s, Kind=%s", (int)(slash - api_version), api_version,
                           slash + 1, kind);
}

static const char *str_or_empty(const kr_value_t *map, const char *key)
{
    const char *s = kr_value_map_str(map, key);
    return s ? s : "";
}

static kr_value_t *or_empty(kr_arena_t *arena, kr_value_t *v)
{
    return v != NULL ? v : kr_value_map(arena);
}

/* Updater.prune: drops what the manager applied last time (last), no
 * longer applies and nobody else owns; then puts back what was removed
 * but is owned, and what the manager never owned. */
static kr_value_t *prune(kr_typed_t *t, kr_value_t *merged, const kr_managed_t *m,
                         const kr_fieldset_t *last)
{
    if (kr_fieldset_empty(last))
        return merged;
    kr_arena_t *a = t->arena;
    kr_fieldset_t *last_n = kr_typed_ensure_named(t, last);
    kr_value_t *pruned = or_empty(a, kr_typed_remove(t, merged, last_n));
    /* addBackOwnedItems */
    kr_fieldset_t *managed = kr_fieldset_new(a);
    for (size_t i = 0; i < m->n; i++)
        managed = kr_fieldset_union(a, managed, m->v[i].set);
    kr_fieldset_t *merged_set = kr_typed_ensure_named(t, kr_typed_to_set(t, merged));
    kr_fieldset_t *pruned_set = kr_typed_ensure_named(t, kr_typed_to_set(t, pruned));
    kr_fieldset_t *keep = kr_fieldset_union(a, pruned_set, kr_typed_ensure_named(t, managed));
    pruned = or_empty(a, kr_typed_remove(t, merged, kr_fieldset_difference(a, merged_set, keep)));
    /* addBackDanglingItems */
    pruned_set = kr_typed_ensure_named(t, kr_typed_to_set(t, pruned));
    kr_fieldset_t *gone =
        kr_fieldset_intersection(a, kr_fieldset_difference(a, merged_set, pruned_set), last_n);
    return or_empty(a, kr_typed_remove(t, merged, gone));
}

/* printManager: "kubectl", "kubectl-edit" using apps/v1, ... with
 * subresource "status". */
static void print_manager(kr_buf_t *b, kr_arena_t *arena, const kr_managed_entry_t *e)
{
    kr_json_encode(kr_value_str(arena, e->manager ? e->manager : ""), b, KR_JSON_COMPACT, NULL);
    if (e->subresource != NULL) {
        kr_buf_puts(b, " with subresource ");
        kr_json_encode(kr_value_str(arena, e->subresource), b, KR_JSON_COMPACT, NULL);
    }
    if (!e->apply)
        kr_buf_printf(b, " using %s", e->api_version);
}

typedef struct conflicts {
    kr_arena_t *arena;
    kr_value_t *paths; /* of the entry being read */
} conflicts_t;

static void add_conflict(const kr_pe_t *path, size_t n, void *ud)
{
    conflicts_t *c = ud;
    kr_value_array_push(c->arena, c->paths,
                        kr_value_str(c->arena, kr_path_string(c->arena, path, n)));
}

static int id_order(const void *a, const void *b)
{
    return strcmp((*(const kr_managed_entry_t *const *)a)->id,
                  (*(const kr_managed_entry_t *const *)b)->id);
}

/* The fields of other managers the apply changes; when there are some and
 * the apply does not force, fails with upstream's NewConflictError. */
static int conflicts_check(kr_arena_t *arena, const kr_managed_t *m, const char *id,
                           const kr_fieldset_t *changed, kr_value_t **details, kr_error_t *err)
{
    const kr_managed_entry_t **others = kr_arena_alloc(arena, (m->n ? m->n : 1) * sizeof *others);
    size_t n = 0, total = 0;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].id, id) != 0)
            others[n++] = &m->v[i];
    qsort(others, n, sizeof *others, id_order);
    kr_value_t **paths = kr_arena_alloc(arena, (n ? n : 1) * sizeof *paths);
    for (size_t i = 0; i < n; i++) {
        conflicts_t c = {arena, kr_value_array(arena)};
        kr_fieldset_iterate(kr_fieldset_intersection(arena, others[i]->set, changed), add_conflict,
                            &c);
        paths[i] = c.paths;
        total += kr_value_len(c.paths);
    }
    if (total == 0)
        return 0;
    kr_buf_t msg = KR_BUF_INIT, who = KR_BUF_INIT;
    kr_value_t *causes = kr_value_array(arena);
    kr_buf_printf(&msg, "Apply failed with %zu conflict%s: ", total, total == 1 ? "" : "s");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (kr_value_len(paths[i]) == 0)
            continue;
        kr_buf_reset(&who);
        print_manager(&who, arena, others[i]);
        if (total == 1)
            kr_buf_printf(&msg, "conflict with %s: %s", who.data,
                          kr_value_as_str(kr_value_array_get(paths[i], 0)));
        else
            kr_buf_printf(&msg, "%sconflicts with %s:", first ? "" : "\n", who.data);
        first = false;
        for (size_t j = 0; j < kr_value_len(paths[i]); j++) {
            const char *p = kr_value_as_str(kr_value_array_get(paths[i], j));
            if (total > 1)
                kr_buf_printf(&msg, "\n- %s", p);
            kr_value_t *cause = kr_value_map(arena);
            kr_value_map_set(arena, cause, "reason", kr_value_str(arena, "FieldManagerConflict"));
            kr_value_map_set(
                arena, cause, "message",
                kr_value_str(arena, kr_arena_printf(arena, "conflict with %s", who.data)));
            kr_value_map_set(arena, cause, "field", kr_value_str(arena, p));
            kr_value_array_push(arena, causes, cause);
        }
    }
    if (details != NULL) {
        *details = kr_value_map(arena);
        kr_value_map_set(arena, *details, "causes", causes);
    }
    int rc = kr_error_set(err, KR_E_CONFLICT, "%s", msg.data);
    kr_buf_free(&msg);
    kr_buf_free(&who);
    return rc;
}

/* Null fields go, as they do when upstream turns the typed result back
 * into an object. */
static void drop_nulls(kr_value_t *v)
{
    if (kr_value_type(v) == KR_ARRAY) {
        for (size_t i = 0; i < kr_value_len(v); i++)
            drop_nulls(kr_value_array_get(v, i));
        return;
    }
    if (kr_value_type(v) != KR_MAP)
        return;
    for (size_t i = 0; i < kr_value_len(v);) {
        if (kr_value_type(kr_value_map_val(v, i)) == KR_NULL) {
            kr_value_map_del(v, kr_value_map_key(v, i));
            continue;
        }
        drop_nulls(kr_value_map_val(v, i));
        i++;
    }
}

/* lastAppliedUpdater: kubectl's own applies keep a client-side apply
 * annotation that is already there in step. */
static void update_last_applied(kr_arena_t *arena, kr_value_t *obj, const kr_value_t *config,
                                const char *manager)
{
    kr_value_t *ann = kr_value_get(obj, "metadata.annotations");
    const char *have = kr_value_map_str(ann, KR_LAST_APPLIED_ANNOTATION);
    if (strcmp(manager, "kubectl") != 0 || have == NULL || *have == '\0')
        return;
    kr_value_t *c = kr_value_copy(arena, config);
    kr_value_map_del(kr_value_get(c, "metadata.annotations"), KR_LAST_APPLIED_ANNOTATION);
    kr_buf_t b = KR_BUF_INIT;
    kr_json_encode(c, &b, KR_JSON_COMPACT, NULL);
    kr_value_map_set(arena, ann, KR_LAST_APPLIED_ANNOTATION,
                     kr_value_str(arena, b.data ? b.data : "{}"));
    kr_buf_free(&b);
}

int kr_apply(kr_arena_t *arena, const kr_kind_t *kind, const kr_value_t *live,
             const kr_value_t *config, const kr_apply_opts_t *opts, kr_value_t **out,
             kr_value_t **details, kr_error_t *err)
{
    *out = NULL;
    if (details != NULL)
        *details = NULL;
    const char *manager = opts->manager ? opts->manager : "";
    const char *sub = opts->subresource && *opts->subresource ? opts->subresource : NULL;
    kr_type_t ct = kr_value_type(config);
    if (ct != KR_MAP && ct != KR_NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "error decoding YAML: error unmarshaling JSON: while decoding JSON: "
                            "json: cannot unmarshal %s into Go value of type map[string]interface "
                            "{}",
                            kr_go_json_type(config));
    kr_managed_t m;
    kr_error_t derr;
    if (kr_managed_decode(arena, kr_value_get(live, "metadata.managedFields"), &m, &derr) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "failed to decode managed fields: %s",
                            derr.message);
    /* versioncheck */
    const char *av = str_or_empty(config, "apiVersion"), *k = str_or_empty(config, "kind");
    if (strcmp(av, kind->api_version) != 0 || strcmp(k, kind->kind) != 0)
        return kr_error_set(err, KR_E_BAD_REQUEST, "invalid object type: %s",
                            gvk_string(arena, av, k));
    const kr_value_t *cmeta = kr_value_map_get(config, "metadata");
    if (kr_value_type(kr_value_map_get(cmeta, "managedFields")) == KR_ARRAY)
        return kr_error_set(err, KR_E_BAD_REQUEST, "metadata.managedFields must be nil");

    kr_typed_t t;
    kr_typed_init(&t, arena, kind);
    int rc = 0;
    const char *what = kr_arena_printf(arena, "%s/%s; %s", str_or_empty(cmeta, "namespace"),
                                       str_or_empty(cmeta, "name"), gvk_string(arena, av, k));
    kr_value_t *base = live ? kr_managed_without(arena, live) : kr_value_map(arena);
    /* skipnonapplied: an object never tracked is first owned as a whole */
    if (live != NULL && m.n == 0) {
        const char *id0 = kr_managed_id(arena, "before-first-apply", false, kind->api_version, sub);
        if (kr_managed_record_update(&t, &m, kr_typed_empty_object(&t), base, id0,
                                     "before-first-apply", sub, opts->now) < 0) {
            rc =
                kr_error_set(err, KR_E_INTERNAL, "failed to create manager for existing fields: %s",
                             kr_typed_error(&t));
            goto out;
        }
    }
    /* the typed patch object: strict, duplicates are errors */
    t.strict = true;
    kr_fieldset_t *applied = kr_typed_to_set(&t, config);
    t.strict = false;
    if (t.nerrors > 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "failed to create typed patch object (%s): %s", what,
                          kr_typed_error(&t));
        goto out;
    }
    kr_value_t *merged = or_empty(arena, kr_typed_merge(&t, base, config));
    if (t.nerrors > 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "failed to create typed live object (%s): %s", what,
                          kr_typed_error(&t));
        goto out;
    }
    /* Updater.Apply */
    const char *id = kr_managed_id(arena, manager, true, NULL, sub);
    kr_managed_entry_t *last = kr_managed_find(&m, id);
    const kr_fieldset_t *last_set = last ? last->set : NULL;
    kr_fieldset_t *ignored = kr_managed_ignored(arena, kind, sub);
    kr_managed_entry_t me = {
        .id = id,
        .manager = manager,
        .apply = true,
        .api_version = kind->api_version,
        .subresource = sub,
        .time = last ? last->time : NULL,
        .set = ignored ? kr_fieldset_recursive_difference(arena, applied, ignored) : applied,
    };
    kr_managed_put(arena, &m, &me);
    merged = prune(&t, merged, &m, last_set);
    kr_comparison_t c;
    kr_typed_compare(&t, base, merged, &c);
    kr_comparison_exclude(arena, &c, ignored);
    kr_fieldset_t *changed = kr_fieldset_union(arena, c.modified, c.added);
    if (!opts->force && (rc = conflicts_check(arena, &m, id, changed, details, err)) < 0)
        goto out;
    /* the others lose what the apply took over or removed */
    for (size_t i = 0; i < m.n;) {
        kr_managed_entry_t *e = &m.v[i];
        if (strcmp(e->id, id) != 0)
            e->set = kr_fieldset_difference(arena, kr_fieldset_difference(arena, e->set, changed),
                                            c.removed);
        else
            e->set = kr_fieldset_difference(arena, e->set, kr_managed_strip_set(arena));
        if (kr_fieldset_empty(e->set)) {
            kr_managed_del(&m, e->id);
            continue;
        }
        i++;
    }
    bool noop = live != NULL && kr_value_equal(base, merged);
    kr_managed_entry_t *mine = kr_managed_find(&m, id);
    if (!noop && mine != NULL)
        mine->time = opts->now;
    kr_value_t *result = noop ? kr_value_copy(arena, base) : merged;
    update_last_applied(arena, result, config, manager);
    drop_nulls(result);
    if (live == NULL && opts->name != NULL) {
        /* checkName, for the object this apply creates */
        const char *name = kr_value_as_str(kr_value_get(result, "metadata.name"));
        if (name == NULL || *name == '\0') {
            rc = kr_error_set(err, KR_E_BAD_REQUEST,
                              "the name of the object (%s based on URL) was undeterminable: name "
                              "must be provided",
                              opts->name);
            goto out;
        }
        if (strcmp(name, opts->name) != 0) {
            rc = kr_error_set(err, KR_E_BAD_REQUEST,
                              "the name of the object (%s) does not match the name on the URL (%s)",
                              name, opts->name);
            goto out;
        }
    }
    kr_managed_store(arena, result, &m);
    *out = result;
out:
    kr_typed_fini(&t);
    return rc;
}
