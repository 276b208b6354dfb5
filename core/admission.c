/* Admission that reads other objects (admission.h). */
#include "admission.h"

#include <stdio.h>
#include <string.h>

typedef struct default_find {
    kr_arena_t *arena;
    const char *skip; /* a class not to count (the one being written) */
    const kr_objrec_t *best;
    int64_t best_value;
} default_find_t;

static bool class_is_default(kr_arena_t *arena, const kr_objrec_t *rec, int64_t *value)
{
    kr_value_t *obj = kr_objrec_decode(rec, arena);
    if (!kr_value_as_bool(kr_value_map_get(obj, "globalDefault"), false))
        return false;
    *value = kr_value_map_int(obj, "value", 0);
    return true;
}

/* Upstream's getDefaultPriorityClass: of several defaults (only possible
 * through races), the one with the lowest value. */
static bool find_default(kr_objrec_t *rec, void *ud)
{
    default_find_t *f = ud;
    int64_t v;
    if (f->skip != NULL && strcmp(rec->name, f->skip) == 0)
        return true;
    if (class_is_default(f->arena, rec, &v) && (f->best == NULL || v < f->best_value)) {
        f->best = rec;
        f->best_value = v;
    }
    return true;
}

void kr_prio_cache_invalidate(kr_prio_cache_t *cache)
{
    cache->valid = false;
}

static void refresh_default(kr_arena_t *arena, kr_prio_cache_t *cache, const kr_objmap_t *classes)
{
    default_find_t f = {.arena = arena};
    if (classes != NULL)
        kr_objmap_walk(classes, NULL, NULL, NULL, find_default, &f);
    cache->found = f.best != NULL;
    cache->name[0] = '\0';
    cache->value = 0; /* DefaultPriorityWhenNoDefaultClassExists */
    snprintf(cache->policy, sizeof cache->policy, "PreemptLowerPriority");
    if (f.best != NULL) {
        kr_value_t *obj = kr_objrec_decode(f.best, arena);
        snprintf(cache->name, sizeof cache->name, "%s", f.best->name);
        cache->value = (int32_t)kr_value_map_int(obj, "value", 0);
        const char *p = kr_value_map_str(obj, "preemptionPolicy");
        if (p != NULL && *p)
            snprintf(cache->policy, sizeof cache->policy, "%s", p);
    }
    cache->valid = true;
}

int kr_admit_pod_priority(kr_arena_t *arena, kr_prio_cache_t *cache, const kr_objmap_t *classes,
                          kr_value_t *pod, kr_error_t *err)
{
    kr_value_t *spec = kr_value_map_get(pod, "spec");
    if (kr_value_type(spec) != KR_MAP)
        return 0; /* validation reports the missing spec */
    const char *pcn = kr_value_map_str(spec, "priorityClassName");
    int64_t priority;
    const char *policy;
    if (pcn == NULL || *pcn == '\0') {
        if (!cache->valid)
            refresh_default(arena, cache, classes);
        priority = cache->value;
        policy = cache->policy;
        if (cache->found)
            kr_value_map_set(arena, spec, "priorityClassName", kr_value_str(arena, cache->name));
    } else {
        const kr_objrec_t *rec = classes ? kr_objmap_get(classes, "", pcn) : NULL;
        if (rec == NULL)
            return kr_error_set(err, KR_E_FORBIDDEN, "no PriorityClass with name %s was found",
                                pcn);
        kr_value_t *pc = kr_objrec_decode(rec, arena);
        priority = kr_value_map_int(pc, "value", 0);
        policy = kr_value_map_str(pc, "preemptionPolicy");
    }
    const kr_value_t *have = kr_value_map_get(spec, "priority");
    if (have != NULL && kr_value_type(have) != KR_NULL && kr_value_as_int(have, 0) != priority)
        return kr_error_set(err, KR_E_FORBIDDEN,
                            "the integer value of priority (%lld) must not be provided in pod "
                            "spec; priority admission controller computed %lld from the given "
                            "PriorityClass name",
                            (long long)kr_value_as_int(have, 0), (long long)priority);
    kr_value_map_set(arena, spec, "priority", kr_value_int(arena, priority));
    if (policy != NULL && *policy) {
        const char *pp = kr_value_map_str(spec, "preemptionPolicy");
        if (pp != NULL && strcmp(pp, policy) != 0)
            return kr_error_set(err, KR_E_FORBIDDEN,
                                "the string value of PreemptionPolicy (%s) must not be provided "
                                "in pod spec; priority admission controller computed %s from the "
                                "given PriorityClass name",
                                pp, policy);
        kr_value_map_set(arena, spec, "preemptionPolicy", kr_value_str(arena, policy));
    }
    return 0;
}

int kr_admit_priorityclass(kr_arena_t *arena, const kr_objmap_t *classes, const kr_value_t *pc,
                           kr_error_t *err)
{
    if (!kr_value_as_bool(kr_value_map_get(pc, "globalDefault"), false) || classes == NULL)
        return 0;
    const char *name = kr_value_map_str(kr_value_map_get(pc, "metadata"), "name");
    default_find_t f = {.arena = arena, .skip = name};
    kr_objmap_walk(classes, NULL, NULL, NULL, find_default, &f);
    if (f.best != NULL)
        return kr_error_set(err, KR_E_FORBIDDEN,
                            "PriorityClass %s is already marked as default. Only one default can "
                            "exist",
                            f.best->name);
    return 0;
}

/* Whether `tols` tolerates the NoExecute taint `key` in upstream's loose
 * sense: an empty key or effect counts as matching. */
static bool tolerates_no_execute(const kr_value_t *tols, const char *key)
{
    for (size_t i = 0; i < kr_value_len(tols); i++) {
        const kr_value_t *t = kr_value_array_get(tols, i);
        const char *k = kr_value_map_str(t, "key"), *e = kr_value_map_str(t, "effect");
        if ((k == NULL || *k == '\0' || strcmp(k, key) == 0) &&
            (e == NULL || *e == '\0' || strcmp(e, "NoExecute") == 0))
            return true;
    }
    return false;
}

static void add_toleration(kr_arena_t *arena, kr_value_t *tols, const char *key, int64_t seconds)
{
    kr_value_t *t = kr_value_map(arena);
    kr_value_map_set(arena, t, "key", kr_value_str(arena, key));
    kr_value_map_set(arena, t, "operator", kr_value_str(arena, "Exists"));
    kr_value_map_set(arena, t, "effect", kr_value_str(arena, "NoExecute"));
    kr_value_map_set(arena, t, "tolerationSeconds", kr_value_int(arena, seconds));
    kr_value_array_push(arena, tols, t);
}

void kr_admit_pod_default_tolerations(kr_arena_t *arena, kr_value_t *pod, int64_t not_ready_s,
                                      int64_t unreachable_s)
{
    kr_value_t *spec = kr_value_map_get(pod, "spec");
    if (kr_value_type(spec) != KR_MAP)
        return; /* validation reports the missing spec */
    kr_value_t *tols = kr_value_map_get(spec, "tolerations");
    if (kr_value_type(tols) != KR_ARRAY) {
        if (tols != NULL && kr_value_type(tols) != KR_NULL)
            return; /* validation reports the wrong type */
        tols = kr_value_array(arena);
    }
    bool not_ready = tolerates_no_execute(tols, KR_TAINT_NOT_READY);
    bool unreachable = tolerates_no_execute(tols, KR_TAINT_UNREACHABLE);
    if (!not_ready)
        add_toleration(arena, tols, KR_TAINT_NOT_READY, not_ready_s);
    if (!unreachable)
        add_toleration(arena, tols, KR_TAINT_UNREACHABLE, unreachable_s);
    if (!not_ready || !unreachable)
        kr_value_map_set(arena, spec, "tolerations", tols);
}
