/* auth-token's ServiceAccount tokens over the bus (serviceaccount.h). */
#include "serviceaccount.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kraal/controller.h>

#define SA_BUS_TIMEOUT_MS     5000
#define SA_DEFAULT_EXPIRATION 3600 /* TokenRequestSpec's default */
#define SA_MIN_EXPIRATION     600
#define SA_MAX_EXPIRATION     (INT64_C(1) << 32)
#define SA_NODE_PREFIX        "system:node:"

/* GET of one object over the bus: 0 with *obj, else < 0 with the reply's
 * error in err (NotFound in the core's words). */
static int sa_get(token_sa_t *sa, kr_arena_t *a, const char *res, const char *ns, const char *name,
                  kr_value_t **obj, kr_error_t *err)
{
    kr_request_t req = {.op = "get", .res = res, .ns = ns, .name = name};
    kr_reply_t reply;
    if (kr_bus_call(kr_plugin_bus(sa->ctx), &req, a, &reply, SA_BUS_TIMEOUT_MS, err) < 0)
        return -1;
    if (reply.code != 200 || kr_value_type(reply.obj) != KR_MAP)
        return kr_error_set(err, reply.code == 200 ? KR_E_INTERNAL : reply.reason, "%s",
                            kr_reply_msg(&reply));
    *obj = reply.obj;
    return 0;
}

static const char *meta_str(const kr_value_t *obj, const char *key)
{
    const char *s = kr_value_map_str(kr_value_map_get(obj, "metadata"), key);
    return s != NULL ? s : "";
}

/* Whether obj's deletion started before now - leeway (upstream's
 * invalidIfDeletedBefore). */
static bool deleted_before(const kr_value_t *obj, int64_t now)
{
    const char *ts = kr_value_map_str(kr_value_map_get(obj, "metadata"), "deletionTimestamp");
    int64_t sec;
    int32_t nsec;
    return ts != NULL && kr_time_parse(ts, &sec, &nsec) && sec < now - SATOKEN_LEEWAY_S;
}

/* ---- issuing ----------------------------------------------------------------- */

typedef struct sa_bound {
    const char *kind, *api_version, *name, *uid;
} sa_bound_t;

/* The user the request is made for, when it is a node (NodeRestriction's
 * rule for tokenrequests): its name, else NULL. */
static const char *node_of(const kr_value_t *auth)
{
    const char *u = kr_value_map_str(auth, "username");
    if (u == NULL || strncmp(u, SA_NODE_PREFIX, strlen(SA_NODE_PREFIX)) != 0)
        return NULL;
    return u + strlen(SA_NODE_PREFIX);
}

static void sa_fail(kr_call_t *call, kr_reason_t reason, const char *message)
{
    kr_call_fail(call, reason, message, NULL);
}

static void sa_tokenrequest(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    token_sa_t *sa = ud;
    kr_arena_t *a = kr_call_arena(call);
    const kr_value_t *msg = kr_call_msg(call);
    const char *ns = kr_call_field(call, "ns"), *name = kr_call_field(call, "name");
    kr_value_t *in = kr_value_map_get(msg, "obj");
    const kr_value_t *auth = kr_value_map_get(msg, "auth");
    kr_error_t err;
    if (ns == NULL || *ns == '\0' || name == NULL || *name == '\0') {
        sa_fail(call, KR_E_BAD_REQUEST, "a token request names a namespace and a service account");
        return;
    }
    if (in != NULL && kr_value_type(in) != KR_MAP) {
        sa_fail(call, KR_E_BAD_REQUEST, "the body of a token request must be a TokenRequest");
        return;
    }
    kr_value_t *tr = in != NULL ? kr_value_copy(a, in) : kr_value_map(a);
    kr_value_t *spec = kr_value_map_get(tr, "spec");
    if (kr_value_type(spec) != KR_MAP) {
        spec = kr_value_map(a);
        kr_value_map_set(a, tr, "spec", spec);
    }
    /* Defaults, then ValidateTokenRequest. */
    const kr_value_t *ev = kr_value_map_get(spec, "expirationSeconds");
    int64_t expiration = kr_value_type(ev) == KR_INT                  ? kr_value_as_int(ev, 0)
                         : ev == NULL || kr_value_type(ev) == KR_NULL ? SA_DEFAULT_EXPIRATION
                                                                      : -1;
    if (expiration == -1 && kr_value_type(ev) != KR_INT) {
        sa_fail(call, KR_E_BAD_REQUEST, "spec.expirationSeconds must be an integer");
        return;
    }
    kr_value_map_set(a, spec, "expirationSeconds", kr_value_int(a, expiration));
    if (expiration < SA_MIN_EXPIRATION || expiration > SA_MAX_EXPIRATION) {
        char m[KR_ERROR_MSG_MAX];
        snprintf(m, sizeof m,
                 "TokenRequest.authentication.k8s.io \"%s\" is invalid: spec.expirationSeconds: "
                 "Invalid value: %lld: may not specify a duration %s",
                 name, (long long)expiration,
                 expiration < SA_MIN_EXPIRATION ? "less than 10 minutes"
                                                : "larger than 2^32 seconds");
        sa_fail(call, KR_E_INVALID, m);
        return;
    }
    kr_value_t *auds = kr_value_map_get(spec, "audiences");
    if (kr_value_len(auds) == 0 || kr_value_type(auds) != KR_ARRAY) {
        auds = kr_value_array(a);
        for (size_t i = 0; i < sa->naudiences; i++)
            kr_value_array_push(a, auds, kr_value_str(a, sa->audiences[i]));
        kr_value_map_set(a, spec, "audiences", auds);
    }
    satoken_claims_t c = {.iss = sa->issuer, .naud = kr_value_len(auds), .ns = ns};
    c.aud = kr_arena_alloc(a, (c.naud + 1) * sizeof *c.aud);
    for (size_t i = 0; i < c.naud; i++) {
        c.aud[i] = kr_value_as_str(kr_value_array_get(auds, i));
        if (c.aud[i] == NULL) {
            sa_fail(call, KR_E_BAD_REQUEST, "spec.audiences must be strings");
            return;
        }
    }

    kr_value_t *acct = NULL;
    if (sa_get(sa, a, "v1/serviceaccounts", ns, name, &acct, &err) < 0) {
        sa_fail(call, err.reason, err.message);
        return;
    }
    c.sa_name = name;
    c.sa_uid = meta_str(acct, "uid");

    const char *node = node_of(auth);
    const kr_value_t *ref = kr_value_map_get(spec, "boundObjectRef");
    if (ref != NULL && kr_value_type(ref) != KR_NULL) {
        sa_bound_t b = {
            .kind = kr_value_map_str(ref, "kind"),
            .api_version = kr_value_map_str(ref, "apiVersion"),
            .name = kr_value_map_str(ref, "name"),
            .uid = kr_value_map_str(ref, "uid"),
        };
        if (b.kind == NULL)
            b.kind = "";
        if (b.api_version == NULL)
            b.api_version = "";
        bool core = strcmp(b.api_version, "v1") == 0 || b.api_version[0] == '\0';
        bool pod = core && strcmp(b.kind, "Pod") == 0,
             secret = core && strcmp(b.kind, "Secret") == 0;
        if (!pod && !secret) {
            /* gvk.String() of schema.FromAPIVersionAndKind */
            const char *slash = strchr(b.api_version, '/');
            char m[KR_ERROR_MSG_MAX];
            snprintf(m, sizeof m, "cannot bind token to object of type %.*s/%s, Kind=%s",
                     slash ? (int)(slash - b.api_version) : 0, b.api_version,
                     slash ? slash + 1 : b.api_version, b.kind);
            sa_fail(call, KR_E_BAD_REQUEST, m);
            return;
        }
        if (b.name == NULL || *b.name == '\0') {
            sa_fail(call, KR_E_BAD_REQUEST, "spec.boundObjectRef.name: Required value");
            return;
        }
        kr_value_t *obj = NULL;
        if (sa_get(sa, a, pod ? "v1/pods" : "v1/secrets", ns, b.name, &obj, &err) < 0) {
            sa_fail(call, err.reason, err.message);
            return;
        }
        const char *uid = meta_str(obj, "uid");
        if (pod) {
            const kr_value_t *ps = kr_value_map_get(obj, "spec");
            const char *pod_sa = kr_value_map_str(ps, "serviceAccountName");
            if (pod_sa == NULL)
                pod_sa = "";
            if (strcmp(pod_sa, name) != 0) {
                char m[KR_ERROR_MSG_MAX];
                snprintf(m, sizeof m,
                         "cannot bind token for serviceaccount \"%s\" to pod running with "
                         "serviceaccount \"%s\"",
                         name, pod_sa);
                sa_fail(call, KR_E_BAD_REQUEST, m);
                return;
            }
            const char *pod_node = kr_value_map_str(ps, "nodeName");
            if (node != NULL && (pod_node == NULL || strcmp(pod_node, node) != 0)) {
                sa_fail(call, KR_E_FORBIDDEN,
                        "node requested token bound to a pod scheduled on a different node");
                return;
            }
            c.pod_name = b.name;
            c.pod_uid = uid;
        } else {
            c.secret_name = b.name;
            c.secret_uid = uid;
        }
        if (b.uid != NULL && *b.uid != '\0' && strcmp(b.uid, uid) != 0) {
            char m[KR_ERROR_MSG_MAX];
            snprintf(m, sizeof m,
                     "Operation cannot be fulfilled on %s \"%s\": the UID in the bound object "
                     "reference (%s) does not match the UID in record (%s). The object might "
                     "have been deleted and then recreated",
                     b.kind, b.name, b.uid, uid);
            sa_fail(call, KR_E_CONFLICT, m);
            return;
        }
    }
    if (node != NULL && c.pod_name == NULL) {
        sa_fail(call, KR_E_FORBIDDEN, "node requested token not bound to a pod");
        return;
    }

    char jti[37];
    satoken_uuid(jti);
    int64_t now = (int64_t)time(NULL);
    c.jti = jti;
    c.sub = kr_arena_printf(a, "system:serviceaccount:%s:%s", ns, name);
    c.iat = c.nbf = now;
    c.exp = now + expiration;
    char *jwt = satoken_sign(sa->key, &c, &err);
    if (jwt == NULL) {
        sa_fail(call, err.reason, err.message);
        return;
    }
    kr_value_map_set(a, tr, "apiVersion", kr_value_str(a, "authentication.k8s.io/v1"));
    kr_value_map_set(a, tr, "kind", kr_value_str(a, "TokenRequest"));
    kr_value_t *meta = kr_value_map_get(tr, "metadata");
    if (kr_value_type(meta) != KR_MAP) {
        meta = kr_value_map(a);
        kr_value_map_set(a, tr, "metadata", meta);
    }
    kr_value_map_set(a, meta, "name", kr_value_str(a, name));
    kr_value_map_set(a, meta, "namespace", kr_value_str(a, ns));
    kr_value_map_set(a, meta, "creationTimestamp", kr_value_null(a));
    char ts[40];
    kr_time_format(c.exp, ts, sizeof ts);
    kr_value_t *status = kr_value_map(a);
    kr_value_map_set(a, status, "token", kr_value_str(a, jwt));
    kr_value_map_set(a, status, "expirationTimestamp", kr_value_str(a, ts));
    kr_value_map_set(a, tr, "status", status);
    explicit_bzero(jwt, strlen(jwt));
    free(jwt);
    if (kr_call_reply(call, 201, tr, &err) < 0)
        kr_plugin_log(sa->ctx, KR_LOG_WARN, "cannot reply", "error=\"%s\"", err.message);
}

int token_sa_serve(token_sa_t *sa, kr_error_t *err)
{
    return kr_bus_serve(kr_plugin_bus(sa->ctx), "authn.tokenrequest", NULL, sa_tokenrequest, sa,
                        SA_BUS_TIMEOUT_MS, err);
}

/* ---- authenticating ---------------------------------------------------------- */

static void push_extra(kr_arena_t *a, kr_value_t *extra, const char *key, const char *val)
{
    kr_value_t *list = kr_value_array(a);
    kr_value_array_push(a, list, kr_value_str(a, val));
    kr_value_map_set(a, extra, key, list);
}

int token_sa_authenticate(token_sa_t *sa, kr_arena_t *a, const char *token, kr_value_t **user,
                          kr_error_t *err)
{
    int64_t now = (int64_t)time(NULL);
    satoken_claims_t c;
    int rc =
        satoken_verify(sa->key, a, token, sa->issuer, sa->audiences, sa->naudiences, now, &c, err);
    if (rc <= 0)
        return rc;
    /* Upstream's validator: the objects the token names still exist, with
     * the uids it was issued for. */
    kr_value_t *acct = NULL;
    kr_error_t e;
    if (sa_get(sa, a, "v1/serviceaccounts", c.ns, c.sa_name, &acct, &e) < 0)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "%s", e.message);
    if (deleted_before(acct, now))
        return kr_error_set(err, KR_E_UNAUTHORIZED, "service account %s/%s has been deleted", c.ns,
                            c.sa_name);
    if (strcmp(meta_str(acct, "uid"), c.sa_uid) != 0)
        return kr_error_set(err, KR_E_UNAUTHORIZED,
                            "service account UID (%s) does not match claim (%s)",
                            meta_str(acct, "uid"), c.sa_uid);
    for (int i = 0; i < 2; i++) {
        const char *name = i == 0 ? c.secret_name : c.pod_name;
        const char *uid = i == 0 ? c.secret_uid : c.pod_uid;
        if (name == NULL)
            continue;
        kr_value_t *obj = NULL;
        if (sa_get(sa, a, i == 0 ? "v1/secrets" : "v1/pods", c.ns, name, &obj, &e) < 0 ||
            deleted_before(obj, now))
            return kr_error_set(err, KR_E_UNAUTHORIZED,
                                "service account token has been invalidated");
        if (uid == NULL || strcmp(meta_str(obj, "uid"), uid) != 0)
            return kr_error_set(err, KR_E_UNAUTHORIZED,
                                i == 0 ? "secret UID (%s) does not match service account secret "
                                         "ref claim (%s)"
                                       : "pod UID (%s) does not match service account pod ref "
                                         "claim (%s)",
                                meta_str(obj, "uid"), uid ? uid : "");
    }
    /* ServiceAccountInfo.UserInfo, plus the group every authenticated
     * user gets. */
    kr_value_t *u = kr_value_map(a), *groups = kr_value_array(a), *extra = kr_value_map(a);
    kr_value_map_set(a, u, "username", kr_value_str(a, c.sub));
    kr_value_map_set(a, u, "uid", kr_value_str(a, c.sa_uid));
    kr_value_array_push(a, groups, kr_value_str(a, "system:serviceaccounts"));
    kr_value_array_push(a, groups,
                        kr_value_str(a, kr_arena_printf(a, "system:serviceaccounts:%s", c.ns)));
    kr_value_array_push(a, groups, kr_value_str(a, "system:authenticated"));
    kr_value_map_set(a, u, "groups", groups);
    if (c.pod_name != NULL) {
        push_extra(a, extra, "authentication.kubernetes.io/pod-name", c.pod_name);
        push_extra(a, extra, "authentication.kubernetes.io/pod-uid", c.pod_uid);
    }
    if (c.jti != NULL)
        push_extra(a, extra, "authentication.kubernetes.io/credential-id",
                   kr_arena_printf(a, "JTI=%s", c.jti));
    kr_value_map_set(a, u, "extra", extra);
    *user = u;
    return 1;
}
