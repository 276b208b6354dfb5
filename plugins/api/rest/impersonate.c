/* Impersonation: the Impersonate-User, -Group, -Uid and -Extra-<key>
 * headers, as upstream's WithImpersonation filter
 * (k8s.io/apiserver/pkg/endpoints/filters/impersonation.go) reads, checks
 * and applies them.  Each thing asked for is authorized for the
 * requesting user with verb "impersonate" before the request runs as the
 * impersonated user. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"

#define SA_PREFIX       "system:serviceaccount:"
#define EXTRA_PREFIX    "Impersonate-Extra-"
#define AUTHN_GROUP     "authentication.k8s.io"
#define AUTHENTICATED   "system:authenticated"
#define UNAUTHENTICATED "system:unauthenticated"
#define MAX_REQUESTS    256 /* headers are bounded by MHD; this bounds the checks */

/* One thing to impersonate: upstream's v1.ObjectReference of
 * buildImpersonationRequests (FieldPath holds an extra's key). */
typedef struct imp_req {
    const char *kind; /* ServiceAccount, User, Group, UserExtra, UID */
    const char *ns, *name, *api_version, *field_path;
} imp_req_t;

typedef struct imp_headers {
    kr_arena_t *arena;
    const char *user;
    kr_value_t *groups; /* array, in header order */
    kr_value_t *extra;  /* map key -> array of values */
    const char *uid;
    size_t n; /* headers seen, bounded by MAX_REQUESTS */
} imp_headers_t;

static bool dns_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return false;
    return true;
}

static bool dns_subdomain(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return false;
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!dns_label(p, n))
            return false;
        if (dot == NULL)
            return true;
        p = dot + 1;
    }
}

/* serviceaccount.SplitUsername: "system:serviceaccount:<ns>:<name>" with a
 * valid namespace and name, else it is a plain user. */
static bool split_sa(kr_arena_t *a, const char *user, const char **ns, const char **name)
{
    if (strncmp(user, SA_PREFIX, strlen(SA_PREFIX)) != 0)
        return false;
    const char *rest = user + strlen(SA_PREFIX);
    const char *colon = strchr(rest, ':');
    if (colon == NULL || strchr(colon + 1, ':') != NULL)
        return false;
    *ns = kr_arena_strndup(a, rest, (size_t)(colon - rest));
    *name = colon + 1;
    return dns_label(*ns, strlen(*ns)) && dns_subdomain(*name);
}

/* url.PathUnescape of an extra's key; a malformed one stays as it is. */
static const char *unescape_key(kr_arena_t *a, const char *key)
{
    size_t len = strlen(key);
    char *out = kr_arena_alloc(a, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] != '%') {
            out[o++] = key[i];
            continue;
        }
        if (i + 2 >= len || !isxdigit((unsigned char)key[i + 1]) ||
            !isxdigit((unsigned char)key[i + 2]))
            return key;
        char hex[3] = {key[i + 1], key[i + 2], '\0'};
        out[o++] = (char)strtol(hex, NULL, 16);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    imp_headers_t *h = cls;
    kr_arena_t *a = h->arena;
    if (key == NULL || value == NULL)
        return MHD_YES;
    if (strcasecmp(key, "Impersonate-User") == 0) {
        if (h->user == NULL) /* Header.Get: the first */
            h->user = value;
    } else if (strcasecmp(key, "Impersonate-Uid") == 0) {
        if (h->uid == NULL)
            h->uid = value;
    } else if (strcasecmp(key, "Impersonate-Group") == 0) {
        if (h->n++ < MAX_REQUESTS)
            kr_value_array_push(a, h->groups, kr_value_str(a, value));
    } else if (strncasecmp(key, EXTRA_PREFIX, strlen(EXTRA_PREFIX)) == 0) {
        if (h->n++ >= MAX_REQUESTS)
            return MHD_YES;
        char *k = kr_arena_strdup(a, key + strlen(EXTRA_PREFIX));
        for (char *p = k; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        const char *ukey = unescape_key(a, k);
        kr_value_t *vals = kr_value_map_get(h->extra, ukey);
        if (vals == NULL) {
            vals = kr_value_array(a);
            kr_value_map_set(a, h->extra, ukey, vals);
        }
        kr_value_array_push(a, vals, kr_value_str(a, value));
    }
    return MHD_YES;
}

/* Go's %v of a []v1.ObjectReference, for the error upstream returns. */
static const char *refs_string(kr_arena_t *a, const imp_req_t *r, size_t n)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "[");
    for (size_t i = 0; i < n; i++)
        kr_buf_printf(&b, "%s{%s %s %s  %s  %s}", i ? " " : "", r[i].kind, r[i].ns ? r[i].ns : "",
                      r[i].name ? r[i].name : "", r[i].api_version ? r[i].api_version : "",
                      r[i].field_path ? r[i].field_path : "");
    kr_buf_puts(&b, "]");
    const char *s = kr_arena_strndup(a, b.data, b.len);
    kr_buf_free(&b);
    return s;
}

static bool has(const kr_value_t *arr, const char *s)
{
    for (size_t i = 0; i < kr_value_len(arr); i++) {
        const char *g = kr_value_as_str(kr_value_array_get(arr, i));
        if (g != NULL && strcmp(g, s) == 0)
            return true;
    }
    return false;
}

int rest_impersonate(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *a, struct MHD_Connection *conn,
                     const char *uri, kr_value_t **user, kr_error_t *err)
{
    imp_headers_t h = {.arena = a, .groups = kr_value_array(a), .extra = kr_value_map(a)};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect, &h);
    bool has_user = h.user != NULL && *h.user != '\0';
    bool has_uid = h.uid != NULL && *h.uid != '\0';
    if (!has_user && kr_value_len(h.groups) == 0 && kr_value_len(h.extra) == 0 && !has_uid)
        return 0;

    /* the requests in upstream's order: user, groups, extras, uid */
    size_t cap = 2 + kr_value_len(h.groups) + MAX_REQUESTS;
    imp_req_t *reqs = kr_arena_alloc(a, cap * sizeof *reqs);
    size_t n = 0;
    if (has_user) {
        const char *ns, *name;
        if (split_sa(a, h.user, &ns, &name))
            reqs[n++] = (imp_req_t){.kind = "ServiceAccount", .ns = ns, .name = name};
        else
            reqs[n++] = (imp_req_t){.kind = "User", .name = h.user};
    }
    for (size_t i = 0; i < kr_value_len(h.groups); i++)
        reqs[n++] =
            (imp_req_t){.kind = "Group", .name = kr_value_as_str(kr_value_array_get(h.groups, i))};
    for (size_t i = 0; i < kr_value_len(h.extra); i++) {
        const kr_value_t *vals = kr_value_map_val(h.extra, i);
        for (size_t j = 0; j < kr_value_len(vals) && n < cap - 1; j++)
            reqs[n++] = (imp_req_t){.kind = "UserExtra",
                                    .name = kr_value_as_str(kr_value_array_get(vals, j)),
                                    .api_version = AUTHN_GROUP "/v1",
                                    .field_path = kr_value_map_key(h.extra, i)};
    }
    if (has_uid)
        reqs[n++] = (imp_req_t){.kind = "UID", .name = h.uid, .api_version = AUTHN_GROUP "/v1"};
    if (!has_user) {
        /* upstream answers this with responsewriters.InternalError */
        return kr_error_set(err, KR_E_INTERNAL,
                            "Internal Server Error: \"%s\": requested %s without impersonating a "
                            "user",
                            uri, refs_string(a, reqs, n));
    }

    bool groups_given = kr_value_len(h.groups) > 0;
    const char *username = "";
    kr_value_t *groups = kr_value_array(a);
    for (size_t i = 0; i < n; i++) {
        const imp_req_t *r = &reqs[i];
        rest_attrs_t at = {.verb = "impersonate", .group = "", .version = "v1", .name = r->name};
        if (strcmp(r->kind, "ServiceAccount") == 0) {
            at.resource = "serviceaccounts";
            at.ns = r->ns;
            username = h.user;
            if (!groups_given) {
                /* serviceaccount.MakeGroupNames: a fixed mapping */
                kr_value_array_push(a, groups, kr_value_str(a, "system:serviceaccounts"));
                kr_value_array_push(
                    a, groups,
                    kr_value_str(a, kr_arena_printf(a, "system:serviceaccounts:%s", r->ns)));
            }
        } else if (strcmp(r->kind, "User") == 0) {
            at.resource = "users";
            username = r->name;
        } else if (strcmp(r->kind, "Group") == 0) {
            at.resource = "groups";
            kr_value_array_push(a, groups, kr_value_str(a, r->name));
        } else if (strcmp(r->kind, "UserExtra") == 0) {
            at.group = AUTHN_GROUP;
            at.resource = "userextras";
            at.sub = r->field_path;
        } else {
            at.group = AUTHN_GROUP;
            at.resource = "uids";
        }
        if (rest_authorize(gw, bus, a, *user, &at, err) < 0)
            return -1;
    }
    if (strcmp(username, "system:anonymous") != 0) {
        if (!has(groups, AUTHENTICATED) && !has(groups, UNAUTHENTICATED))
            kr_value_array_push(a, groups, kr_value_str(a, AUTHENTICATED));
    } else if (!has(groups, UNAUTHENTICATED)) {
        kr_value_array_push(a, groups, kr_value_str(a, UNAUTHENTICATED));
    }
    kr_value_t *nu = kr_value_map(a);
    kr_value_map_set(a, nu, "username", kr_value_str(a, username));
    if (has_uid)
        kr_value_map_set(a, nu, "uid", kr_value_str(a, h.uid));
    kr_value_map_set(a, nu, "groups", groups);
    if (kr_value_len(h.extra) > 0)
        kr_value_map_set(a, nu, "extra", h.extra);
    *user = nu;
    return 0;
}
