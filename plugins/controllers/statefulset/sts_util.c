/* controller-statefulset: pure parts (see sts_util.h). */
#include "sts_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>

/* ---- ordinals ------------------------------------------------------------------------ */

int64_t sts_ordinal(const char *name, size_t *parent_len)
{
    if (name == NULL)
        return -1;
    size_t n = strlen(name), i = n;
    while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
        i--;
    /* at least one digit after a '-', and a number that fits */
    if (i == n || i < 2 || name[i - 1] != '-' || n - i > 18)
        return -1;
    int64_t v = 0;
    for (size_t j = i; j < n; j++)
        v = v * 10 + (name[j] - '0');
    if (parent_len != NULL)
        *parent_len = i - 1;
    return v;
}

bool sts_is_member(const char *set_name, const char *pod_name)
{
    size_t plen;
    return set_name != NULL && sts_ordinal(pod_name, &plen) >= 0 && strlen(set_name) == plen &&
           strncmp(set_name, pod_name, plen) == 0;
}

int64_t sts_start_ordinal(const kr_value_t *set)
{
    return kr_value_as_int(kr_value_get(set, "spec.ordinals.start"), 0);
}

int64_t sts_replicas(const kr_value_t *set)
{
    return kr_value_as_int(kr_value_get(set, "spec.replicas"), 1);
}

/* ---- pods -------------------------------------------------------------------------------- */

static const char *name_of(const kr_value_t *obj)
{
    return kr_value_as_str(kr_value_get(obj, "metadata.name"));
}

kr_value_t *sts_new_pod(kr_arena_t *a, const kr_value_t *set, const kr_value_t *tmpl,
                        const char *revision, int64_t ordinal)
{
    const char *set_name = name_of(set);
    const char *name = kr_arena_printf(a, "%s-%" PRId64, set_name ? set_name : "", ordinal);
    kr_value_t *pod = kr_pod_from_template(a, tmpl, set, name);
    kr_value_t *meta = kr_value_map_get(pod, "metadata");
    kr_value_t *labels = kr_value_map_get(meta, "labels");
    if (labels == NULL) {
        labels = kr_value_map(a);
        kr_value_map_set(a, meta, "labels", labels);
    }
    kr_value_map_set(a, labels, STS_POD_NAME_LABEL, kr_value_str(a, name));
    kr_value_map_set(a, labels, STS_POD_INDEX_LABEL,
                     kr_value_str(a, kr_arena_printf(a, "%" PRId64, ordinal)));
    if (revision != NULL)
        kr_value_map_set(a, labels, STS_REVISION_LABEL, kr_value_str(a, revision));
    kr_value_t *spec = kr_value_map_get(pod, "spec");
    kr_value_map_set(a, spec, "hostname", kr_value_str(a, name));
    const char *svc = kr_value_as_str(kr_value_get(set, "spec.serviceName"));
    if (svc != NULL && *svc)
        kr_value_map_set(a, spec, "subdomain", kr_value_str(a, svc));
    /* updateStorage: each claim template's volume, replacing one of that name */
    const kr_value_t *claims = kr_value_get(set, "spec.volumeClaimTemplates");
    if (kr_value_len(claims) == 0)
        return pod;
    kr_value_t *vols = kr_value_map_get(spec, "volumes");
    if (kr_value_type(vols) != KR_ARRAY) {
        vols = kr_value_array(a);
        kr_value_map_set(a, spec, "volumes", vols);
    }
    for (size_t i = 0; i < kr_value_len(claims); i++) {
        const char *cn = name_of(kr_value_array_get(claims, i));
        if (cn == NULL)
            continue;
        kr_value_t *vol = kr_value_map(a), *pvc = kr_value_map(a);
        kr_value_map_set(
            a, pvc, "claimName",
            kr_value_str(a, kr_arena_printf(a, "%s-%s-%" PRId64, cn, set_name, ordinal)));
        kr_value_map_set(a, vol, "name", kr_value_str(a, cn));
        kr_value_map_set(a, vol, "persistentVolumeClaim", pvc);
        size_t j = 0;
        for (; j < kr_value_len(vols); j++) {
            const char *vn = kr_value_map_str(kr_value_array_get(vols, j), "name");
            if (vn != NULL && strcmp(vn, cn) == 0)
                break;
        }
        if (j < kr_value_len(vols))
            kr_value_array_set(a, vols, j, vol);
        else
            kr_value_array_push(a, vols, vol);
    }
    return pod;
}

bool sts_identity_matches(const kr_value_t *set, const kr_value_t *pod)
{
    const char *name = name_of(pod);
    const char *label = kr_value_map_str(kr_value_get(pod, "metadata.labels"), STS_POD_NAME_LABEL);
    return sts_is_member(name_of(set), name) && label != NULL && strcmp(label, name) == 0;
}

/* ---- revisions ----------------------------------------------------------------------------- */

kr_value_t *sts_revision_data(kr_arena_t *a, const kr_value_t *set)
{
    kr_value_t *tmpl = kr_value_copy(a, kr_value_get(set, "spec.template"));
    if (kr_value_type(tmpl) != KR_MAP)
        tmpl = kr_value_map(a);
    kr_value_map_set(a, tmpl, "$patch", kr_value_str(a, "replace"));
    kr_value_t *spec = kr_value_map(a), *data = kr_value_map(a);
    kr_value_map_set(a, spec, "template", tmpl);
    kr_value_map_set(a, data, "spec", spec);
    return data;
}

kr_value_t *sts_revision_template(kr_arena_t *a, const kr_value_t *rev)
{
    kr_value_t *t = kr_value_copy(a, kr_value_get(rev, "data.spec.template"));
    if (kr_value_type(t) != KR_MAP)
        return kr_value_map(a);
    kr_value_map_del(t, "$patch");
    return t;
}

typedef struct {
    uint32_t h;
} fnv_t;

/* FNV-1 (fnv.New32): multiply, then xor. */
static void fnv_write(fnv_t *f, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        f->h *= 16777619u;
        f->h ^= p[i];
    }
}

static void fnv_str(fnv_t *f, const char *s)
{
    fnv_write(f, s, strlen(s));
}

/* A string as encoding/json writes it (HTMLEscape on). */
static void go_string(fnv_t *f, const char *s)
{
    fnv_str(f, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            fnv_write(f, esc, 2);
        } else if (*p == '\n') {
            fnv_str(f, "\\n");
        } else if (*p == '\r') {
            fnv_str(f, "\\r");
        } else if (*p == '\t') {
            fnv_str(f, "\\t");
        } else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            fnv_str(f, esc);
        } else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
            fnv_str(f, p[2] == 0xa8 ? "\\u2028" : "\\u2029");
            p += 2;
        } else {
            fnv_write(f, p, 1);
        }
    }
    fnv_str(f, "\"");
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void go_json(fnv_t *f, const kr_value_t *v)
{
    switch (kr_value_type(v)) {
    case KR_NULL:
        fnv_str(f, "null");
        return;
    case KR_BOOL:
        fnv_str(f, kr_value_as_bool(v, false) ? "true" : "false");
        return;
    case KR_INT: {
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRId64, kr_value_as_int(v, 0));
        fnv_str(f, buf);
        return;
    }
    case KR_FLOAT: {
        kr_buf_t b = KR_BUF_INIT;
        kr_json_encode(v, &b, KR_JSON_COMPACT, NULL);
        fnv_write(f, b.data ? b.data : "", b.len);
        kr_buf_free(&b);
        return;
    }
    case KR_STR:
        go_string(f, kr_value_as_str(v));
        return;
    case KR_ARRAY:
        fnv_str(f, "[");
        for (size_t i = 0; i < kr_value_len(v); i++) {
            if (i)
                fnv_str(f, ",");
            go_json(f, kr_value_array_get(v, i));
        }
        fnv_str(f, "]");
        return;
    case KR_MAP: {
        size_t n = kr_value_len(v);
        const char **keys = malloc((n ? n : 1) * sizeof *keys);
        if (keys == NULL)
            abort();
        for (size_t i = 0; i < n; i++)
            keys[i] = kr_value_map_key(v, i);
        if (n > 1)
            qsort(keys, n, sizeof *keys, key_cmp);
        fnv_str(f, "{");
        for (size_t i = 0; i < n; i++) {
            if (i)
                fnv_str(f, ",");
            go_string(f, keys[i]);
            fnv_str(f, ":");
            go_json(f, kr_value_map_get(v, keys[i]));
        }
        fnv_str(f, "}");
        free(keys);
        return;
    }
    }
}

void sts_revision_hash(const kr_value_t *data, int64_t collision_count, char *out, size_t size)
{
    fnv_t f = {2166136261u};
    go_json(&f, data);
    if (collision_count >= 0) {
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRId64, collision_count);
        fnv_str(&f, buf);
    }
    static const char alphanums[] = "bcdfghjklmnpqrstvwxz2456789";
    char dec[16];
    int n = snprintf(dec, sizeof dec, "%" PRIu32, f.h);
    size_t i = 0;
    for (; i < (size_t)n && i + 1 < size; i++)
        out[i] = alphanums[(unsigned char)dec[i] % (sizeof alphanums - 1)];
    if (size > 0)
        out[i] = '\0';
}

/* ---- one sync ----------------------------------------------------------------------------------- */

static bool phase_is(const kr_value_t *pod, const char *phase)
{
    const char *p = kr_value_as_str(kr_value_get(pod, "status.phase"));
    return p != NULL && strcmp(p, phase) == 0;
}

static bool terminating(const kr_value_t *pod)
{
    return kr_value_get(pod, "metadata.deletionTimestamp") != NULL;
}

static bool running_ready(const kr_value_t *pod)
{
    return pod != NULL && phase_is(pod, "Running") && kr_pod_is_ready(pod);
}

static bool running_available(const kr_value_t *pod, int64_t mrs, int64_t now)
{
    return pod != NULL && phase_is(pod, "Running") && kr_pod_is_available(pod, mrs, now);
}

static bool healthy(const kr_value_t *pod)
{
    return running_ready(pod) && !terminating(pod);
}

static const char *pod_revision(const kr_value_t *pod)
{
    return kr_value_map_str(kr_value_get(pod, "metadata.labels"), STS_REVISION_LABEL);
}

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

typedef struct {
    const kr_value_t *pod;
    int64_t ord;
} ordpod_t;

static int desc_ordinal(const void *a, const void *b)
{
    int64_t x = ((const ordpod_t *)a)->ord, y = ((const ordpod_t *)b)->ord;
    return x < y ? 1 : x > y ? -1 : 0;
}

typedef struct {
    sts_action_t *v;
    size_t n, cap;
} actions_t;

static void act(kr_arena_t *a, actions_t *acts, sts_action_kind_t kind, const kr_value_t *pod,
                const char *why)
{
    if (acts->n == acts->cap) {
        size_t cap = acts->cap ? acts->cap * 2 : 8;
        sts_action_t *nv = kr_arena_alloc(a, cap * sizeof *nv);
        if (acts->n > 0)
            memcpy(nv, acts->v, acts->n * sizeof *nv);
        acts->v = nv;
        acts->cap = cap;
    }
    acts->v[acts->n++] = (sts_action_t){kind, pod, why};
}

/* computeReplicaStatus over the created pods. */
static void count(const sts_plan_in_t *in, const kr_value_t *pod, int64_t mrs, sts_status_t *st)
{
    if (pod == NULL)
        return;
    st->replicas++;
    if (running_ready(pod)) {
        st->ready++;
        if (running_available(pod, mrs, in->now_s))
            st->available++;
    }
    if (!terminating(pod)) {
        const char *rev = pod_revision(pod);
        if (str_eq(rev, in->current_revision))
            st->current++;
        if (str_eq(rev, in->update_revision))
            st->updated++;
    }
}

/* newVersionedStatefulSetPod: below the partition the current revision. */
static kr_value_t *versioned_pod(kr_arena_t *a, const sts_plan_in_t *in, int64_t ord)
{
    const kr_value_t *us = kr_value_get(in->set, "spec.updateStrategy");
    const char *type = kr_value_map_str(us, "type");
    int64_t start = sts_start_ordinal(in->set);
    const kr_value_t *ru = kr_value_map_get(us, "rollingUpdate");
    int64_t partition = kr_value_as_int(kr_value_map_get(ru, "partition"), 0);
    if (type != NULL && strcmp(type, "RollingUpdate") == 0 &&
        ord < start + (kr_value_type(ru) == KR_MAP ? partition : 0))
        return sts_new_pod(a, in->set, in->current_template, in->current_revision, ord);
    return sts_new_pod(a, in->set, in->update_template, in->update_revision, ord);
}

size_t sts_plan(kr_arena_t *a, const sts_plan_in_t *in, sts_action_t **actions,
                sts_status_t *status)
{
    const kr_value_t *set = in->set;
    int64_t start = sts_start_ordinal(set), n = sts_replicas(set);
    int64_t mrs = kr_value_as_int(kr_value_get(set, "spec.minReadySeconds"), 0);
    if (n < 0)
        n = 0;
    const kr_value_t **replicas = kr_arena_alloc(a, (size_t)(n ? n : 1) * sizeof *replicas);
    memset(replicas, 0, (size_t)(n ? n : 1) * sizeof *replicas);
    ordpod_t *condemned = kr_arena_alloc(a, (in->npods ? in->npods : 1) * sizeof *condemned);
    size_t ncond = 0;
    for (size_t i = 0; i < in->npods; i++) {
        int64_t ord = sts_ordinal(name_of(in->pods[i]), NULL);
        if (ord >= start && ord < start + n)
            replicas[ord - start] = in->pods[i];
        else if (ord >= 0)
            condemned[ncond++] = (ordpod_t){in->pods[i], ord};
    }
    if (ncond > 1)
        qsort(condemned, ncond, sizeof *condemned, desc_ordinal);

    memset(status, 0, sizeof *status);
    status->current_revision = in->current_revision;
    status->update_revision = in->update_revision;
    for (int64_t i = 0; i < n; i++)
        count(in, replicas[i], mrs, status);
    for (size_t i = 0; i < ncond; i++)
        count(in, condemned[i].pod, mrs, status);

    /* the first unhealthy pod: a missing replica counts */
    bool have_unhealthy = false;
    const kr_value_t *first_unhealthy = NULL;
    for (int64_t i = 0; i < n && !have_unhealthy; i++)
        if (!healthy(replicas[i])) {
            have_unhealthy = true;
            first_unhealthy = replicas[i];
        }
    for (size_t i = ncond; i > 0 && !have_unhealthy; i--)
        if (!healthy(condemned[i - 1].pod)) {
            have_unhealthy = true;
            first_unhealthy = condemned[i - 1].pod;
        }

    actions_t acts = {0};
    const char *policy = kr_value_as_str(kr_value_get(set, "spec.podManagementPolicy"));
    bool monotonic = policy == NULL || strcmp(policy, "Parallel") != 0;
    bool stop = kr_value_get(set, "metadata.deletionTimestamp") != NULL;

    /* processReplica for each living replica, in order */
    for (int64_t i = 0; i < n && !stop; i++) {
        const kr_value_t *pod = replicas[i];
        if (pod != NULL && (phase_is(pod, "Failed") || phase_is(pod, "Succeeded"))) {
            /* recreated at the next sync, once gone */
            if (!terminating(pod))
                act(a, &acts, STS_DELETE, pod, phase_is(pod, "Failed") ? "failed" : "succeeded");
            stop = monotonic;
            continue;
        }
        if (pod == NULL) {
            act(a, &acts, STS_CREATE, versioned_pod(a, in, start + i), "create");
            stop = monotonic;
            continue;
        }
        if (monotonic &&
            (terminating(pod) || !running_ready(pod) || !running_available(pod, mrs, in->now_s))) {
            stop = true;
            continue;
        }
        if (!sts_identity_matches(set, pod))
            act(a, &acts, STS_RELABEL, pod, "identity");
    }
    /* processCondemned, highest ordinal first */
    for (size_t i = 0; i < ncond && !stop; i++) {
        const kr_value_t *pod = condemned[i].pod;
        if (terminating(pod)) {
            stop = monotonic;
            continue;
        }
        if (monotonic && pod != first_unhealthy &&
            (!running_ready(pod) || !running_available(pod, mrs, in->now_s))) {
            stop = true;
            continue;
        }
        act(a, &acts, STS_DELETE, pod, "scale down");
        stop = monotonic;
    }
    const kr_value_t *us = kr_value_get(set, "spec.updateStrategy");
    const char *type = kr_value_map_str(us, "type");
    bool rolling = type != NULL && strcmp(type, "RollingUpdate") == 0;
    if (!stop && rolling) {
        /* the highest ordinal not at the update revision, once the ones
         * above it are healthy */
        int64_t min = kr_value_as_int(kr_value_get(us, "rollingUpdate.partition"), 0);
        for (int64_t target = n - 1; target >= min; target--) {
            const kr_value_t *pod = replicas[target];
            if (pod != NULL && !str_eq(pod_revision(pod), in->update_revision) &&
                !terminating(pod)) {
                act(a, &acts, STS_DELETE, pod, "update");
                status->current--;
                break;
            }
            if (!healthy(pod))
                break;
        }
    }
    /* completeRollingUpdate */
    if (rolling && status->updated == status->replicas && status->ready == status->replicas) {
        status->current = status->updated;
        status->current_revision = status->update_revision;
    }
    *actions = acts.v;
    return acts.n;
}
