/* Bearer tokens: the "authn.token" bus op behind a small cache, so that a
 * client's requests cost one hash lookup, not one more round trip each. */
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"

#define SLOTS 1024 /* direct-mapped: a collision evicts, it never misleads */

typedef struct slot {
    unsigned char digest[32]; /* SHA-256 of the token; the token is not kept */
    time_t expires;           /* 0 = empty */
    bool ok;
    kr_buf_t user; /* msgpack of {username, uid, groups} when ok */
    kr_reason_t reason;
    char *message; /* when !ok */
} slot_t;

struct rest_tokens {
    pthread_mutex_t mu;
    slot_t slots[SLOTS];
};

rest_tokens_t *rest_tokens_new(void)
{
    rest_tokens_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        abort();
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void rest_tokens_destroy(rest_tokens_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    rest_tokens_t *t = *self_p;
    for (size_t i = 0; i < SLOTS; i++) {
        kr_buf_free(&t->slots[i].user);
        free(t->slots[i].message);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
    *self_p = NULL;
}

/* Answers from the cache; false on a miss. */
static bool cached(rest_tokens_t *t, const unsigned char *digest, time_t now, kr_arena_t *arena,
                   kr_value_t **user, int *rc, kr_error_t *err)
{
    slot_t *s = &t->slots[(digest[0] | digest[1] << 8) % SLOTS];
    bool hit = false;
    pthread_mutex_lock(&t->mu);
    if (s->expires > now && memcmp(s->digest, digest, sizeof s->digest) == 0) {
        hit = true;
        if (s->ok) {
            *rc = kr_msgpack_decode(arena, s->user.data, s->user.len, user, err);
        } else {
            kr_error_set(err, s->reason, "%s", s->message);
            *rc = -1;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return hit;
}

static void remember(rest_tokens_t *t, const unsigned char *digest, time_t now,
                     const kr_value_t *user, const kr_error_t *err)
{
    slot_t *s = &t->slots[(digest[0] | digest[1] << 8) % SLOTS];
    pthread_mutex_lock(&t->mu);
    memcpy(s->digest, digest, sizeof s->digest);
    s->expires = now + REST_TOKEN_CACHE_TTL;
    s->ok = user != NULL;
    kr_buf_reset(&s->user);
    free(s->message);
    s->message = NULL;
    if (user != NULL) {
        kr_msgpack_encode(user, &s->user, NULL);
    } else {
        s->reason = err->reason;
        s->message = strdup(err->message);
        if (s->message == NULL)
            abort();
    }
    pthread_mutex_unlock(&t->mu);
}

int rest_tokens_check(rest_tokens_t *t, kr_bus_t *bus, const char *token, kr_arena_t *arena,
                      kr_value_t **user, kr_error_t *err)
{
    *user = NULL;
    if (token == NULL || *token == '\0') {
        kr_error_set(err, KR_E_UNAUTHORIZED, "Unauthorized");
        return -1;
    }
    unsigned char digest[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), digest) < 0) {
        kr_error_set(err, KR_E_INTERNAL, "cannot hash the bearer token");
        return -1;
    }
    time_t now = time(NULL);
    int rc = 0;
    if (cached(t, digest, now, arena, user, &rc, err))
        return rc;

    kr_value_t *obj = kr_value_map(arena);
    kr_value_map_set(arena, obj, "token", kr_value_str(arena, token));
    kr_request_t req = {.op = "authn.token", .obj = obj};
    kr_reply_t reply;
    if (kr_bus_call(bus, &req, arena, &reply, REST_BUS_TIMEOUT_MS, err) < 0)
        return -1; /* no answer: not cached, the next request asks again */
    if (reply.code == 200 && kr_value_type(reply.obj) == KR_MAP &&
        kr_value_map_str(reply.obj, "username") != NULL) {
        *user = reply.obj;
        remember(t, digest, now, reply.obj, NULL);
        return 0;
    }
    if (reply.code == 401) {
        kr_error_set(err, KR_E_UNAUTHORIZED, "Unauthorized");
        remember(t, digest, now, NULL, err);
        return -1;
    }
    /* no authenticator (404) or one that failed: not the client's fault,
     * and not cached */
    kr_error_set(err, KR_E_INTERNAL, "authentication failed: %s",
                 reply.message ? reply.message : kr_strerror(reply.reason));
    return -1;
}

/* ---- authorization ------------------------------------------------------ */

kr_value_t *rest_anonymous_user(kr_arena_t *a)
{
    /* upstream's anonymous authenticator: no uid, only this group */
    kr_value_t *u = kr_value_map(a);
    kr_value_map_set(a, u, "username", kr_value_str(a, "system:anonymous"));
    kr_value_t *groups = kr_value_array(a);
    kr_value_array_push(a, groups, kr_value_str(a, "system:unauthenticated"));
    kr_value_map_set(a, u, "groups", groups);
    return u;
}

static void set_opt(kr_arena_t *a, kr_value_t *m, const char *key, const char *val)
{
    if (val != NULL)
        kr_value_map_set(a, m, key, kr_value_str(a, val));
}

/* Bus mode: one call of the authorizer's op; anything but 200 is the
 * authorizer's failure, not the client's. */
static int bus_ask(kr_bus_t *bus, kr_arena_t *a, const char *op, const kr_value_t *obj,
                   kr_reply_t *reply, kr_error_t *err)
{
    kr_request_t req = {.op = op, .obj = obj};
    if (kr_bus_call(bus, &req, a, reply, REST_BUS_TIMEOUT_MS, err) < 0)
        return -1;
    if (reply->code != 200)
        return kr_error_set(err, KR_E_INTERNAL, "authorization failed: %s",
                            reply->message ? reply->message : kr_strerror(reply->reason));
    return 0;
}

/* Bus mode: the "authz.review" op, a SubjectAccessReview's attributes. */
static int bus_decide(kr_bus_t *bus, kr_arena_t *a, const kr_value_t *user, const rest_attrs_t *at,
                      kr_authz_decision_t *decision, const char **reason,
                      const char **evaluation_error, kr_error_t *err)
{
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "user", kr_value_copy(a, user));
    set_opt(a, obj, "verb", at->verb);
    if (at->resource != NULL) {
        kr_value_t *ra = kr_value_map(a);
        set_opt(a, ra, "group", at->group);
        set_opt(a, ra, "version", at->version);
        set_opt(a, ra, "resource", at->resource);
        set_opt(a, ra, "subresource", at->sub);
        set_opt(a, ra, "namespace", at->ns);
        set_opt(a, ra, "name", at->name);
        kr_value_map_set(a, obj, "resourceAttributes", ra);
    } else {
        kr_value_t *na = kr_value_map(a);
        set_opt(a, na, "path", at->path);
        kr_value_map_set(a, obj, "nonResourceAttributes", na);
    }
    kr_reply_t reply;
    if (bus_ask(bus, a, "authz.review", obj, &reply, err) < 0)
        return -1;
    *decision = kr_value_as_bool(kr_value_map_get(reply.obj, "allowed"), false) ? KR_AUTHZ_ALLOW
                : kr_value_as_bool(kr_value_map_get(reply.obj, "denied"), false)
                    ? KR_AUTHZ_DENY
                    : KR_AUTHZ_NO_OPINION;
    const char *r = kr_value_map_str(reply.obj, "reason");
    *reason = r ? r : "";
    *evaluation_error = kr_value_map_str(reply.obj, "evaluationError");
    return 0;
}

int rest_authz_decide(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *a, const kr_value_t *user,
                      const rest_attrs_t *at, kr_authz_decision_t *decision, const char **reason,
                      const char **evaluation_error, kr_error_t *err)
{
    *decision = KR_AUTHZ_NO_OPINION;
    *reason = "";
    *evaluation_error = NULL;
    switch (gw->authz_mode) {
    case REST_AUTHZ_ALWAYS_ALLOW:
        *decision = KR_AUTHZ_ALLOW;
        return 0;
    case REST_AUTHZ_BUS:
        return bus_decide(bus, a, user, at, decision, reason, evaluation_error, err);
    case REST_AUTHZ_RBAC:
        break;
    }
    kr_authz_user_t u;
    if (kr_authz_user_from_value(user, a, &u, err) < 0)
        return -1;
    kr_authz_attrs_t attrs = {
        .user = &u,
        .verb = at->verb,
        .resource_request = at->resource != NULL,
        .group = at->group ? at->group : "",
        .version = at->version,
        .resource = at->resource,
        .subresource = at->sub,
        .ns = at->ns,
        .name = at->name,
        .path = at->path,
    };
    char buf[1024] = "";
    *decision = gw->authz->authorize(gw->authz_self, &attrs, buf, sizeof buf);
    *reason = kr_arena_strdup(a, buf);
    return 0;
}

/* Upstream's forbiddenMessage + NewForbidden wording. */
static void forbidden(kr_error_t *err, kr_arena_t *a, const char *user, const rest_attrs_t *at,
                      const char *reason)
{
    const char *what;
    if (at->resource == NULL) {
        what = kr_arena_printf(a, "User \"%s\" cannot %s path \"%s\"", user, at->verb, at->path);
    } else {
        const char *res =
            at->sub ? kr_arena_printf(a, "%s/%s", at->resource, at->sub) : at->resource;
        what = at->ns ? kr_arena_printf(a,
                                        "User \"%s\" cannot %s resource \"%s\" in API group "
                                        "\"%s\" in the namespace \"%s\"",
                                        user, at->verb, res, at->group, at->ns)
                      : kr_arena_printf(a,
                                        "User \"%s\" cannot %s resource \"%s\" in API group "
                                        "\"%s\" at the cluster scope",
                                        user, at->verb, res, at->group);
    }
    if (reason != NULL && *reason != '\0')
        what = kr_arena_printf(a, "%s: %s", what, reason);
    if (at->resource == NULL) {
        kr_error_set(err, KR_E_FORBIDDEN, "forbidden: %s", what);
        return;
    }
    const char *qualified =
        *at->group ? kr_arena_printf(a, "%s.%s", at->resource, at->group) : at->resource;
    if (at->name != NULL)
        kr_error_set(err, KR_E_FORBIDDEN, "%s \"%s\" is forbidden: %s", qualified, at->name, what);
    else
        kr_error_set(err, KR_E_FORBIDDEN, "%s is forbidden: %s", qualified, what);
}

int rest_authorize(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *a, const kr_value_t *user,
                   const rest_attrs_t *at, kr_error_t *err)
{
    if (gw->authz_mode == REST_AUTHZ_ALWAYS_ALLOW)
        return 0;
    kr_authz_decision_t decision;
    const char *reason, *eval;
    if (rest_authz_decide(gw, bus, a, user, at, &decision, &reason, &eval, err) < 0)
        return -1;
    if (decision == KR_AUTHZ_ALLOW)
        return 0;
    const char *name = kr_value_map_str(user, "username");
    forbidden(err, a, name ? name : "", at, reason);
    return -1;
}

/* AlwaysAllow's RulesFor: everything. */
static kr_value_t *star_rule(kr_arena_t *a, bool resource)
{
    kr_value_t *r = kr_value_map(a);
    kr_value_t *star = kr_value_array(a);
    kr_value_array_push(a, star, kr_value_str(a, "*"));
    kr_value_map_set(a, r, "verbs", star);
    if (resource) {
        kr_value_map_set(a, r, "apiGroups", kr_value_copy(a, star));
        kr_value_map_set(a, r, "resources", kr_value_copy(a, star));
    } else {
        kr_value_map_set(a, r, "nonResourceURLs", kr_value_copy(a, star));
    }
    kr_value_t *list = kr_value_array(a);
    kr_value_array_push(a, list, r);
    return list;
}

int rest_authz_rules(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *a, const kr_value_t *user,
                     const char *ns, kr_value_t **status, kr_error_t *err)
{
    kr_value_t *st = kr_value_map(a);
    kr_value_t *res_rules = NULL, *nonres_rules = NULL;
    bool incomplete = false;
    const char *eval = NULL;
    if (gw->authz_mode == REST_AUTHZ_ALWAYS_ALLOW) {
        res_rules = star_rule(a, true);
        nonres_rules = star_rule(a, false);
    } else if (gw->authz_mode == REST_AUTHZ_BUS) {
        kr_value_t *obj = kr_value_map(a);
        kr_value_map_set(a, obj, "user", kr_value_copy(a, user));
        set_opt(a, obj, "namespace", ns);
        kr_reply_t reply;
        if (bus_ask(bus, a, "authz.rules", obj, &reply, err) < 0)
            return -1;
        res_rules = kr_value_map_get(reply.obj, "resourceRules");
        nonres_rules = kr_value_map_get(reply.obj, "nonResourceRules");
        incomplete = kr_value_as_bool(kr_value_map_get(reply.obj, "incomplete"), false);
        eval = kr_value_map_str(reply.obj, "evaluationError");
    } else {
        kr_authz_user_t u;
        if (kr_authz_user_from_value(user, a, &u, err) < 0 ||
            gw->authz->rules(gw->authz_self, &u, ns, a, &res_rules, &nonres_rules, &incomplete,
                             &eval, err) < 0)
            return -1;
    }
    /* both lists are required fields of the status: [] rather than absent */
    kr_value_map_set(a, st, "resourceRules", res_rules ? res_rules : kr_value_array(a));
    kr_value_map_set(a, st, "nonResourceRules", nonres_rules ? nonres_rules : kr_value_array(a));
    kr_value_map_set(a, st, "incomplete", kr_value_bool(a, incomplete));
    if (eval != NULL && *eval != '\0')
        kr_value_map_set(a, st, "evaluationError", kr_value_str(a, eval));
    *status = st;
    return 0;
}
