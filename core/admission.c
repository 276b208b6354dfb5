/* Admission that reads other objects (admission.h). */
#include "admission.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

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

/* ---- ServiceAccount -------------------------------------------------------- */

static bool has_secret_volume(const kr_value_t *spec)
{
    const kr_value_t *vols = kr_value_map_get(spec, "volumes");
    for (size_t i = 0; i < kr_value_len(vols); i++)
        if (kr_value_map_get(kr_value_array_get(vols, i), "secret") != NULL)
            return true;
    return false;
}

static bool has_token_projection(const kr_value_t *spec)
{
    const kr_value_t *vols = kr_value_map_get(spec, "volumes");
    for (size_t i = 0; i < kr_value_len(vols); i++) {
        const kr_value_t *src =
            kr_value_map_get(kr_value_map_get(kr_value_array_get(vols, i), "projected"), "sources");
        for (size_t j = 0; j < kr_value_len(src); j++)
            if (kr_value_map_get(kr_value_array_get(src, j), "serviceAccountToken") != NULL)
                return true;
    }
    return false;
}

/* Whether a container's env or envFrom, or the pod's imagePullSecrets,
 * name a Secret (podutil.VisitPodSecretNames, besides volumes). */
static bool refs_secret(const kr_value_t *spec)
{
    if (kr_value_len(kr_value_map_get(spec, "imagePullSecrets")) > 0 || has_secret_volume(spec))
        return true;
    static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};
    for (size_t l = 0; l < sizeof lists / sizeof *lists; l++) {
        const kr_value_t *cs = kr_value_map_get(spec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *c = kr_value_array_get(cs, i);
            const kr_value_t *env = kr_value_map_get(c, "env");
            for (size_t j = 0; j < kr_value_len(env); j++)
                if (kr_value_get(kr_value_array_get(env, j), "valueFrom.secretKeyRef") != NULL)
                    return true;
            const kr_value_t *from = kr_value_map_get(c, "envFrom");
            for (size_t j = 0; j < kr_value_len(from); j++)
                if (kr_value_map_get(kr_value_array_get(from, j), "secretRef") != NULL)
                    return true;
        }
    }
    return false;
}

/* upstream's shouldAutomount: the pod's preference, then the account's,
 * then true */
static bool should_automount(const kr_value_t *account, const kr_value_t *spec)
{
    const kr_value_t *p = kr_value_map_get(spec, "automountServiceAccountToken");
    if (kr_value_type(p) == KR_BOOL)
        return kr_value_as_bool(p, true);
    const kr_value_t *a = kr_value_map_get(account, "automountServiceAccountToken");
    if (kr_value_type(a) == KR_BOOL)
        return kr_value_as_bool(a, true);
    return true;
}

static kr_value_t *kv(kr_arena_t *a, const char *k1, const char *v1, const char *k2, const char *v2)
{
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, k1, kr_value_str(a, v1));
    kr_value_map_set(a, m, k2, kr_value_str(a, v2));
    return m;
}

static kr_value_t *one(kr_arena_t *a, kr_value_t *item)
{
    kr_value_t *arr = kr_value_array(a);
    kr_value_array_push(a, arr, item);
    return arr;
}

/* upstream's TokenVolumeSource */
static kr_value_t *token_volume(kr_arena_t *a, const char *name)
{
    kr_value_t *sources = kr_value_array(a);
    kr_value_t *sat = kr_value_map(a);
    kr_value_map_set(a, sat, "expirationSeconds", kr_value_int(a, KR_SA_TOKEN_SECONDS));
    kr_value_map_set(a, sat, "path", kr_value_str(a, "token"));
    kr_value_t *s1 = kr_value_map(a);
    kr_value_map_set(a, s1, "serviceAccountToken", sat);
    kr_value_array_push(a, sources, s1);
    kr_value_t *cm = kr_value_map(a);
    kr_value_map_set(a, cm, "name", kr_value_str(a, KR_SA_ROOT_CA_CONFIGMAP));
    kr_value_map_set(a, cm, "items", one(a, kv(a, "key", "ca.crt", "path", "ca.crt")));
    kr_value_t *s2 = kr_value_map(a);
    kr_value_map_set(a, s2, "configMap", cm);
    kr_value_array_push(a, sources, s2);
    kr_value_t *file = kr_value_map(a);
    kr_value_map_set(a, file, "fieldRef",
                     kv(a, "apiVersion", "v1", "fieldPath", "metadata.namespace"));
    kr_value_map_set(a, file, "path", kr_value_str(a, "namespace"));
    kr_value_t *dapi = kr_value_map(a);
    kr_value_map_set(a, dapi, "items", one(a, file));
    kr_value_t *s3 = kr_value_map(a);
    kr_value_map_set(a, s3, "downwardAPI", dapi);
    kr_value_array_push(a, sources, s3);
    kr_value_t *proj = kr_value_map(a);
    /* explicitly set, as upstream does (kubernetes#104464) */
    kr_value_map_set(a, proj, "defaultMode", kr_value_int(a, 0644));
    kr_value_map_set(a, proj, "sources", sources);
    kr_value_t *vol = kr_value_map(a);
    kr_value_map_set(a, vol, "name", kr_value_str(a, name));
    kr_value_map_set(a, vol, "projected", proj);
    return vol;
}

/* Adds the mount to every container of `list` that has nothing mounted at
 * the path yet; true when one got it. */
static bool mount_token(kr_arena_t *a, kr_value_t *spec, const char *list, const char *vol)
{
    kr_value_t *cs = kr_value_map_get(spec, list);
    bool added = false;
    for (size_t i = 0; i < kr_value_len(cs); i++) {
        kr_value_t *c = kr_value_array_get(cs, i);
        if (kr_value_type(c) != KR_MAP)
            continue;
        kr_value_t *mounts = kr_value_map_get(c, "volumeMounts");
        bool there = false;
        for (size_t j = 0; j < kr_value_len(mounts); j++) {
            const char *mp = kr_value_map_str(kr_value_array_get(mounts, j), "mountPath");
            there = there || (mp != NULL && strcmp(mp, KR_SA_MOUNT_PATH) == 0);
        }
        if (there)
            continue;
        if (kr_value_type(mounts) != KR_ARRAY) {
            mounts = kr_value_array(a);
            kr_value_map_set(a, c, "volumeMounts", mounts);
        }
        kr_value_t *m = kr_value_map(a);
        kr_value_map_set(a, m, "name", kr_value_str(a, vol));
        kr_value_map_set(a, m, "readOnly", kr_value_bool(a, true));
        kr_value_map_set(a, m, "mountPath", kr_value_str(a, KR_SA_MOUNT_PATH));
        kr_value_array_push(a, mounts, m);
        added = true;
    }
    return added;
}

/* SimpleNameGenerator's suffix: 5 characters of utilrand's alphabet (no
 * vowels, no confusable digits). */
static void random_suffix(char out[6])
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char r[5];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        memset(r, 0, sizeof r); /* not a secret: a name that may collide is still valid */
    for (int i = 0; i < 5; i++)
        out[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    out[5] = '\0';
}

int kr_admit_pod_serviceaccount(kr_arena_t *arena, const kr_objmap_t *accounts, const char *ns,
                                kr_value_t *pod, kr_error_t *err)
{
    kr_value_t *spec = kr_value_map_get(pod, "spec");
    if (kr_value_type(spec) != KR_MAP)
        return 0; /* validation reports the missing spec */
    const char *sa = kr_value_map_str(spec, "serviceAccountName");
    const kr_value_t *ann = kr_value_map_get(kr_value_map_get(pod, "metadata"), "annotations");
    if (kr_value_map_get(ann, "kubernetes.io/config.mirror") != NULL) {
        /* the node's own pods: not changed (the agent would see a spec it
         * did not write), and kept away from credentials */
        if (sa != NULL && *sa != '\0')
            return kr_error_set(err, KR_E_FORBIDDEN,
                                "a mirror pod may not reference service accounts");
        if (refs_secret(spec))
            return kr_error_set(err, KR_E_FORBIDDEN, "a mirror pod may not reference secrets");
        if (has_token_projection(spec))
            return kr_error_set(err, KR_E_FORBIDDEN,
                                "a mirror pod may not use ServiceAccountToken volume projections");
        return 0;
    }
    if (sa == NULL || *sa == '\0') {
        sa = "default";
        kr_value_map_set(arena, spec, "serviceAccountName", kr_value_str(arena, sa));
    }
    const kr_objrec_t *rec = accounts != NULL ? kr_objmap_get(accounts, ns, sa) : NULL;
    if (rec == NULL)
        return kr_error_set(err, KR_E_FORBIDDEN,
                            "error looking up service account %s/%s: serviceaccount \"%s\" not "
                            "found",
                            ns, sa, sa);
    kr_value_t *account = kr_objrec_decode(rec, arena);
    if (should_automount(account, spec)) {
        const char *vol = NULL;
        kr_value_t *vols = kr_value_map_get(spec, "volumes");
        for (size_t i = 0; i < kr_value_len(vols) && vol == NULL; i++) {
            const char *n = kr_value_map_str(kr_value_array_get(vols, i), "name");
            if (n != NULL && strncmp(n, KR_SA_VOLUME_PREFIX, strlen(KR_SA_VOLUME_PREFIX)) == 0)
                vol = n;
        }
        bool have = vol != NULL;
        if (!have) {
            char suffix[6];
            random_suffix(suffix);
            vol = kr_arena_printf(arena, "%s%s", KR_SA_VOLUME_PREFIX, suffix);
        }
        bool init = mount_token(arena, spec, "initContainers", vol);
        bool app = mount_token(arena, spec, "containers", vol);
        if (!have && (init || app)) {
            if (kr_value_type(vols) != KR_ARRAY) {
                vols = kr_value_array(arena);
                kr_value_map_set(arena, spec, "volumes", vols);
            }
            kr_value_array_push(arena, vols, token_volume(arena, vol));
        }
    }
    const kr_value_t *pull = kr_value_map_get(account, "imagePullSecrets");
    if (kr_value_len(kr_value_map_get(spec, "imagePullSecrets")) == 0 && kr_value_len(pull) > 0)
        kr_value_map_set(arena, spec, "imagePullSecrets", kr_value_copy(arena, pull));
    return 0;
}
