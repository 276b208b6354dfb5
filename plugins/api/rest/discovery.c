/* Discovery: the kinds the core serves (the "kinds" bus op), kept here
 * for routing, and the documents kubectl reads to learn them (/api,
 * /apis, /api/v1, /apis/<group>/<version>), in the legacy (unaggregated)
 * form every kubectl understands. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

struct rest_discovery {
    pthread_rwlock_t lock;
    kr_arena_t *arena;   /* holds kinds; replaced whole by a refresh */
    kr_value_t *kinds;   /* array of descriptors, NULL before the first fetch */
    uint64_t fetched_ms; /* kr_time_ms() of the fetch */
    pthread_mutex_t fetching;
};

rest_discovery_t *rest_discovery_new(void)
{
    rest_discovery_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        abort();
    pthread_rwlock_init(&d->lock, NULL);
    pthread_mutex_init(&d->fetching, NULL);
    return d;
}

void rest_discovery_destroy(rest_discovery_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    rest_discovery_t *d = *self_p;
    kr_arena_destroy(&d->arena);
    pthread_rwlock_destroy(&d->lock);
    pthread_mutex_destroy(&d->fetching);
    free(d);
    *self_p = NULL;
}

int rest_discovery_refresh(rest_discovery_t *d, kr_bus_t *bus, uint64_t max_age_ms, kr_error_t *err)
{
    /* one fetch at a time; the others wait for it and use its result */
    pthread_mutex_lock(&d->fetching);
    pthread_rwlock_rdlock(&d->lock);
    bool fresh = d->kinds != NULL && max_age_ms > 0 && kr_time_ms() - d->fetched_ms < max_age_ms;
    pthread_rwlock_unlock(&d->lock);
    int rc = 0;
    if (!fresh) {
        kr_arena_t *a = kr_arena_new(256 * 1024);
        kr_request_t req = {.op = "kinds"};
        kr_reply_t reply;
        rc = kr_bus_call(bus, &req, a, &reply, REST_BUS_TIMEOUT_MS, err);
        kr_value_t *items = rc == 0 ? kr_value_map_get(reply.obj, "items") : NULL;
        if (rc == 0 && (reply.code != 200 || kr_value_type(items) != KR_ARRAY)) {
            kr_error_set(err, reply.reason ? reply.reason : KR_E_INTERNAL,
                         "listing the kinds failed: %s", reply.message ? reply.message : "");
            rc = -1;
        }
        if (rc == 0) {
            /* the schemas are the core's business (validation, OpenAPI):
             * dropping them keeps the per-request copy of a descriptor small */
            for (size_t i = 0; i < kr_value_len(items); i++)
                kr_value_map_del(kr_value_array_get(items, i), "schema");
            /* the reviews the gateway answers itself (review.c), after the
             * core's kinds so that a group's preferred version stays its
             * first */
            kr_value_t *own = rest_review_kinds(a);
            for (size_t i = 0; i < kr_value_len(own); i++)
                kr_value_array_push(a, items, kr_value_array_get(own, i));
            pthread_rwlock_wrlock(&d->lock);
            kr_arena_destroy(&d->arena);
            d->arena = a;
            d->kinds = items;
            d->fetched_ms = kr_time_ms();
            pthread_rwlock_unlock(&d->lock);
        } else {
            kr_arena_destroy(&a);
        }
    }
    pthread_mutex_unlock(&d->fetching);
    return rc;
}

static bool str_is(const kr_value_t *m, const char *key, const char *want)
{
    const char *s = kr_value_map_str(m, key);
    return s != NULL && want != NULL && strcmp(s, want) == 0;
}

/* Under the read lock. */
static const kr_value_t *find_locked(rest_discovery_t *d, const char *group, const char *version,
                                     const char *resource)
{
    for (size_t i = 0; i < kr_value_len(d->kinds); i++) {
        const kr_value_t *k = kr_value_array_get(d->kinds, i);
        if (str_is(k, "group", group) && str_is(k, "version", version) &&
            str_is(k, "plural", resource))
            return k;
    }
    return NULL;
}

bool rest_discovery_find(rest_discovery_t *d, kr_bus_t *bus, kr_arena_t *arena, const char *group,
                         const char *version, const char *resource, rest_resource_t *out)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt == 1 && rest_discovery_refresh(d, bus, 1000, NULL) < 0)
            return false;
        pthread_rwlock_rdlock(&d->lock);
        const kr_value_t *k = find_locked(d, group, version, resource);
        if (k != NULL) {
            kr_value_t *desc = kr_value_copy(arena, k);
            *out = (rest_resource_t){
                .group = kr_value_map_str(desc, "group"),
                .version = kr_value_map_str(desc, "version"),
                .resource = kr_value_map_str(desc, "plural"),
                .kind = kr_value_map_str(desc, "kind"),
                .namespaced = kr_value_as_bool(kr_value_map_get(desc, "namespaced"), false),
                .desc = desc,
            };
            out->res = *out->group ? kr_arena_printf(arena, "%s/%s/%s", out->group, out->version,
                                                     out->resource)
                                   : kr_arena_printf(arena, "%s/%s", out->version, out->resource);
            pthread_rwlock_unlock(&d->lock);
            return true;
        }
        pthread_rwlock_unlock(&d->lock);
    }
    return false;
}

/* ---- documents ------------------------------------------------------------ */

static kr_value_t *str(kr_arena_t *a, const char *s)
{
    return kr_value_str(a, s);
}

static kr_value_t *strs(kr_arena_t *a, const char *const *list)
{
    kr_value_t *arr = kr_value_array(a);
    for (; *list != NULL; list++)
        kr_value_array_push(a, arr, str(a, *list));
    return arr;
}

kr_value_t *rest_discovery_api(rest_discovery_t *d, kr_arena_t *a, const char *server_addr)
{
    (void)d;
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "kind", str(a, "APIVersions"));
    static const char *const versions[] = {"v1", NULL};
    kr_value_map_set(a, m, "versions", strs(a, versions));
    kr_value_t *cidrs = kr_value_array(a);
    kr_value_t *c = kr_value_map(a);
    kr_value_map_set(a, c, "clientCIDR", str(a, "0.0.0.0/0"));
    kr_value_map_set(a, c, "serverAddress", str(a, server_addr));
    kr_value_array_push(a, cidrs, c);
    kr_value_map_set(a, m, "serverAddressByClientCIDRs", cidrs);
    return m;
}

static kr_value_t *group_version(kr_arena_t *a, const char *group, const char *version)
{
    kr_value_t *gv = kr_value_map(a);
    kr_value_map_set(a, gv, "groupVersion", str(a, kr_arena_printf(a, "%s/%s", group, version)));
    kr_value_map_set(a, gv, "version", str(a, version));
    return gv;
}

static kr_value_t *group_doc(kr_arena_t *a, const char *group, const char *version)
{
    kr_value_t *g = kr_value_map(a);
    kr_value_map_set(a, g, "name", str(a, group));
    kr_value_t *gv = group_version(a, group, version);
    kr_value_t *versions = kr_value_array(a);
    kr_value_array_push(a, versions, gv);
    kr_value_map_set(a, g, "versions", versions);
    kr_value_map_set(a, g, "preferredVersion", kr_value_copy(a, gv));
    return g;
}

/* The groups in registration order, one entry per group with its versions
 * in registration order (the first preferred: authentication.k8s.io
 * serves v1 and v1beta1 of SelfSubjectReview). */
static kr_value_t *groups_locked(rest_discovery_t *d, kr_arena_t *a, const char *only)
{
    kr_value_t *groups = kr_value_array(a);
    for (size_t i = 0; i < kr_value_len(d->kinds); i++) {
        const kr_value_t *k = kr_value_array_get(d->kinds, i);
        const char *group = kr_value_map_str(k, "group");
        if (group == NULL || *group == '\0' || (only != NULL && strcmp(group, only) != 0))
            continue;
        const char *version = kr_value_map_str(k, "version");
        kr_value_t *seen = NULL;
        for (size_t j = 0; j < kr_value_len(groups) && seen == NULL; j++)
            if (str_is(kr_value_array_get(groups, j), "name", group))
                seen = kr_value_array_get(groups, j);
        if (seen == NULL) {
            kr_value_array_push(a, groups, group_doc(a, group, version));
            continue;
        }
        kr_value_t *versions = kr_value_map_get(seen, "versions");
        bool known = false;
        for (size_t j = 0; j < kr_value_len(versions) && !known; j++)
            known = str_is(kr_value_array_get(versions, j), "version", version);
        if (!known)
            kr_value_array_push(a, versions, group_version(a, group, version));
    }
    return groups;
}

kr_value_t *rest_discovery_apis(rest_discovery_t *d, kr_arena_t *a)
{
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "kind", str(a, "APIGroupList"));
    kr_value_map_set(a, m, "apiVersion", str(a, "v1"));
    pthread_rwlock_rdlock(&d->lock);
    kr_value_map_set(a, m, "groups", groups_locked(d, a, NULL));
    pthread_rwlock_unlock(&d->lock);
    return m;
}

kr_value_t *rest_discovery_group(rest_discovery_t *d, kr_arena_t *a, const char *group)
{
    pthread_rwlock_rdlock(&d->lock);
    kr_value_t *groups = groups_locked(d, a, group);
    pthread_rwlock_unlock(&d->lock);
    kr_value_t *g = kr_value_array_get(groups, 0);
    if (g == NULL)
        return NULL;
    kr_value_map_set(a, g, "kind", str(a, "APIGroup"));
    kr_value_map_set(a, g, "apiVersion", str(a, "v1"));
    return g;
}

static kr_value_t *resource_doc(kr_arena_t *a, const kr_value_t *k, const char *name,
                                const char *singular, const char *const *verbs, bool full)
{
    kr_value_t *r = kr_value_map(a);
    kr_value_map_set(a, r, "name", str(a, name));
    kr_value_map_set(a, r, "singularName", str(a, singular));
    kr_value_map_set(a, r, "namespaced", kr_value_copy(a, kr_value_map_get(k, "namespaced")));
    kr_value_map_set(a, r, "kind", str(a, kr_value_map_str(k, "kind")));
    kr_value_map_set(a, r, "verbs", strs(a, verbs));
    if (full) {
        kr_value_t *sn = kr_value_map_get(k, "shortNames");
        if (kr_value_len(sn) > 0)
            kr_value_map_set(a, r, "shortNames", kr_value_copy(a, sn));
        kr_value_t *cat = kr_value_map_get(k, "categories");
        if (kr_value_len(cat) > 0)
            kr_value_map_set(a, r, "categories", kr_value_copy(a, cat));
    }
    return r;
}

kr_value_t *rest_discovery_resources(rest_discovery_t *d, kr_arena_t *a, const char *group,
                                     const char *version)
{
    static const char *const all_verbs[] = {
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL};
    static const char *const create_only[] = {"create", NULL};
    static const char *const sub_verbs[] = {"get", "patch", "update", NULL};
    kr_value_t *list = kr_value_array(a);
    bool any = false;
    pthread_rwlock_rdlock(&d->lock);
    for (size_t i = 0; i < kr_value_len(d->kinds); i++) {
        const kr_value_t *k = kr_value_array_get(d->kinds, i);
        if (!str_is(k, "group", group) || !str_is(k, "version", version))
            continue;
        any = true;
        const char *plural = kr_value_map_str(k, "plural");
        /* Binding is a create-only resource, as upstream's bindings */
        bool binding = str_is(k, "kind", "Binding");
        kr_value_t *doc = resource_doc(a, k, plural, kr_value_map_str(k, "singular"),
                                       binding ? create_only : all_verbs, true);
        const kr_value_t *verbs = kr_value_map_get(k, "verbs"); /* the gateway's own */
        if (verbs != NULL)
            kr_value_map_set(a, doc, "verbs", kr_value_copy(a, verbs));
        kr_value_array_push(a, list, doc);
        const kr_value_t *subs = kr_value_map_get(k, "subresources");
        for (size_t j = 0; j < kr_value_len(subs); j++) {
            const char *sub = kr_value_map_key(subs, j);
            const kr_value_t *sk = k;
            kr_value_t *tmp = NULL;
            if (strcmp(sub, "scale") == 0 || strcmp(sub, "binding") == 0) {
                /* the subresource's own kind: autoscaling/v1 Scale, v1 Binding */
                tmp = kr_value_copy(a, k);
                kr_value_map_set(a, tmp, "kind",
                                 str(a, strcmp(sub, "scale") == 0 ? "Scale" : "Binding"));
                sk = tmp;
            }
            kr_value_t *sdoc =
                resource_doc(a, sk, kr_arena_printf(a, "%s/%s", plural, sub), "",
                             strcmp(sub, "binding") == 0 ? create_only : sub_verbs, false);
            if (strcmp(sub, "scale") == 0) {
                kr_value_map_set(a, sdoc, "group", str(a, "autoscaling"));
                kr_value_map_set(a, sdoc, "version", str(a, "v1"));
            }
            kr_value_array_push(a, list, sdoc);
        }
        if (*group == '\0' && strcmp(plural, "serviceaccounts") == 0) {
            /* TokenRequest, answered by the token authenticator (http.c) */
            kr_value_t *tk = kr_value_copy(a, k);
            kr_value_map_set(a, tk, "kind", str(a, "TokenRequest"));
            kr_value_t *tdoc = resource_doc(a, tk, "serviceaccounts/token", "", create_only, false);
            kr_value_map_set(a, tdoc, "group", str(a, "authentication.k8s.io"));
            kr_value_map_set(a, tdoc, "version", str(a, "v1"));
            kr_value_array_push(a, list, tdoc);
        }
    }
    pthread_rwlock_unlock(&d->lock);
    if (!any)
        return NULL;
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "kind", str(a, "APIResourceList"));
    kr_value_map_set(a, m, "apiVersion", str(a, "v1"));
    kr_value_map_set(
        a, m, "groupVersion",
        str(a, *group ? kr_arena_printf(a, "%s/%s", group, version) : kr_arena_strdup(a, version)));
    kr_value_map_set(a, m, "resources", list);
    return m;
}
