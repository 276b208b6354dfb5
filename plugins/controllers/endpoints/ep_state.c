/* controller-endpoints: per-Service state between syncs (see ep_state.h). */
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>

#include "ep_state.h"

struct ep_states {
    ep_svc_state_t **b;
    size_t nb, n;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s != NULL ? s : "");
    if (d == NULL)
        abort();
    return d;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

ep_states_t *ep_states_new(void)
{
    ep_states_t *t = xcalloc(1, sizeof *t);
    t->nb = 64;
    t->b = xcalloc(t->nb, sizeof *t->b);
    return t;
}

static void state_free(ep_svc_state_t *s)
{
    for (size_t i = 0; i < s->nslices; i++)
        free(s->slices[i].uid);
    for (size_t i = 0; i < s->npods; i++)
        free(s->pods[i].name);
    free(s->slices);
    free(s->pods);
    free(s->svc_uid);
    free(s->key);
    free(s);
}

void ep_states_destroy(ep_states_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    ep_states_t *t = *self_p;
    for (size_t i = 0; i < t->nb; i++)
        for (ep_svc_state_t *s = t->b[i], *next; s != NULL; s = next) {
            next = s->next;
            state_free(s);
        }
    free(t->b);
    free(t);
    *self_p = NULL;
}

static void grow(ep_states_t *t)
{
    size_t nb = t->nb * 2;
    ep_svc_state_t **b = xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < t->nb; i++)
        for (ep_svc_state_t *s = t->b[i], *next; s != NULL; s = next) {
            next = s->next;
            size_t h = hash_str(s->key) & (nb - 1);
            s->next = b[h];
            b[h] = s;
        }
    free(t->b);
    t->b = b;
    t->nb = nb;
}

ep_svc_state_t *ep_states_get(ep_states_t *t, const char *key, bool create)
{
    size_t h = hash_str(key) & (t->nb - 1);
    for (ep_svc_state_t *s = t->b[h]; s != NULL; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    if (!create)
        return NULL;
    if (t->n >= t->nb * 2) {
        grow(t);
        h = hash_str(key) & (t->nb - 1);
    }
    ep_svc_state_t *s = xcalloc(1, sizeof *s);
    s->key = xstrdup(key);
    s->next = t->b[h];
    t->b[h] = s;
    t->n++;
    return s;
}

void ep_states_drop(ep_states_t *t, const char *key)
{
    size_t h = hash_str(key) & (t->nb - 1);
    for (ep_svc_state_t **pp = &t->b[h]; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->key, key) == 0) {
            ep_svc_state_t *s = *pp;
            *pp = s->next;
            state_free(s);
            t->n--;
            return;
        }
}

size_t ep_states_len(const ep_states_t *t)
{
    return t->n;
}

int64_t ep_rv_num(const char *rv)
{
    if (rv == NULL || *rv == '\0')
        return 0;
    char *end;
    long long v = strtoll(rv, &end, 10);
    return *end == '\0' && v > 0 ? (int64_t)v : 0;
}

/* ---- slices ---- */

static void slices_clear(ep_svc_state_t *s)
{
    for (size_t i = 0; i < s->nslices; i++)
        free(s->slices[i].uid);
    s->nslices = 0;
}

void ep_state_service_uid(ep_svc_state_t *s, const char *uid)
{
    if (uid == NULL || *uid == '\0')
        return;
    if (s->svc_uid != NULL && strcmp(s->svc_uid, uid) != 0)
        slices_clear(s);
    if (s->svc_uid == NULL || strcmp(s->svc_uid, uid) != 0) {
        free(s->svc_uid);
        s->svc_uid = xstrdup(uid);
    }
}

static ep_slice_rec_t *slice_rec(const ep_svc_state_t *s, const char *uid)
{
    for (size_t i = 0; i < s->nslices; i++)
        if (strcmp(s->slices[i].uid, uid) == 0)
            return &s->slices[i];
    return NULL;
}

void ep_state_slice_set(ep_svc_state_t *s, const char *uid, int64_t rv)
{
    if (uid == NULL || *uid == '\0')
        return;
    ep_slice_rec_t *r = slice_rec(s, uid);
    if (r == NULL) {
        if (s->nslices == s->cap_slices) {
            s->cap_slices = s->cap_slices ? s->cap_slices * 2 : 4;
            s->slices = realloc(s->slices, s->cap_slices * sizeof *s->slices);
            if (s->slices == NULL)
                abort();
        }
        r = &s->slices[s->nslices++];
        r->uid = xstrdup(uid);
    }
    r->rv = rv;
}

int64_t ep_state_slice_forget(ep_svc_state_t *s, const char *uid)
{
    for (size_t i = 0; uid != NULL && i < s->nslices; i++)
        if (strcmp(s->slices[i].uid, uid) == 0) {
            int64_t rv = s->slices[i].rv;
            free(s->slices[i].uid);
            s->slices[i] = s->slices[--s->nslices];
            return rv;
        }
    return 0;
}

bool ep_state_slice_should_sync(const ep_svc_state_t *s, const char *uid, int64_t rv)
{
    const ep_slice_rec_t *r = s != NULL && uid != NULL ? slice_rec(s, uid) : NULL;
    return r == NULL || rv > r->rv;
}

bool ep_state_slices_stale(const ep_svc_state_t *s, const kr_value_t *const *slices, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *uid = kr_value_as_str(kr_value_get(slices[i], "metadata.uid"));
        const ep_slice_rec_t *r = uid != NULL ? slice_rec(s, uid) : NULL;
        if (r != NULL && (r->rv == EP_DELETION_EXPECTED ||
                          r->rv > ep_rv_num(kr_value_as_str(
                                      kr_value_get(slices[i], "metadata.resourceVersion")))))
            return true;
    }
    for (size_t j = 0; j < s->nslices; j++) {
        if (s->slices[j].rv == EP_DELETION_EXPECTED)
            continue;
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(kr_value_as_str(kr_value_get(slices[i], "metadata.uid")) ?: "",
                           s->slices[j].uid) == 0;
        if (!found)
            return true;
    }
    return false;
}

/* ---- trigger time ---- */

static int64_t time_ns(const char *s)
{
    int64_t sec;
    int32_t nsec;
    if (s == NULL || !kr_time_parse(s, &sec, &nsec))
        return 0;
    return sec * 1000000000 + nsec;
}

/* The Ready condition's lastTransitionTime (getPodTriggerTime). */
static int64_t pod_trigger_ns(const kr_value_t *pod)
{
    const kr_value_t *conds = kr_value_get(pod, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        const char *type = kr_value_map_str(c, "type");
        if (type != NULL && strcmp(type, "Ready") == 0)
            return time_ns(kr_value_map_str(c, "lastTransitionTime"));
    }
    return 0;
}

static int pod_time_cmp(const void *x, const void *y)
{
    return strcmp(((const ep_pod_time_t *)x)->name, ((const ep_pod_time_t *)y)->name);
}

static int64_t last_pod_ns(const ep_svc_state_t *s, const char *name)
{
    if (s->npods == 0)
        return 0;
    ep_pod_time_t k = {.name = (char *)name};
    const ep_pod_time_t *p = bsearch(&k, s->pods, s->npods, sizeof *s->pods, pod_time_cmp);
    return p != NULL ? p->ns : 0;
}

static int64_t min_set(int64_t cur, int64_t v)
{
    return cur == 0 || v < cur ? v : cur;
}

int64_t ep_state_trigger_time(ep_svc_state_t *s, const kr_value_t *svc,
                              const kr_value_t *const *pods, size_t n)
{
    int64_t min_changed = 0;
    ep_pod_time_t *now = xcalloc(n, sizeof *now);
    size_t nnow = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t t = pod_trigger_ns(pods[i]);
        if (t == 0)
            continue;
        const char *name = kr_value_as_str(kr_value_get(pods[i], "metadata.name"));
        if (name == NULL)
            continue;
        if (t > last_pod_ns(s, name))
            min_changed = min_set(min_changed, t);
        now[nnow].name = xstrdup(name);
        now[nnow].ns = t;
        nnow++;
    }
    int64_t svc_t = time_ns(kr_value_as_str(kr_value_get(svc, "metadata.creationTimestamp")));
    if (svc_t > s->svc_trigger_ns)
        min_changed = min_set(min_changed, svc_t);
    for (size_t i = 0; i < s->npods; i++)
        free(s->pods[i].name);
    free(s->pods);
    qsort(now, nnow, sizeof *now, pod_time_cmp);
    s->pods = now;
    s->npods = nnow;
    s->svc_trigger_ns = svc_t;
    if (!s->trigger_known) {
        s->trigger_known = true;
        return svc_t;
    }
    return min_changed;
}
