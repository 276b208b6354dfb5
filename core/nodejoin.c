/* node.join (nodejoin.h). */
#include "nodejoin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kraal/base64.h>
#include <kraal/log.h>

#include "curve.h"

#define TAG "node.join"

struct kr_nodejoin {
    kr_api_t *api;
    kr_arena_t *arena;
};

/* Secret data is base64 (the JSON form of []byte); NULL when absent or not
 * base64.  The result is NUL-terminated, in `arena`. */
static const char *secret_field(const kr_value_t *secret, const char *key, kr_arena_t *arena)
{
    const char *s = kr_value_as_str(kr_value_map_get(kr_value_map_get(secret, "data"), key));
    return kr_base64_decode_str(arena, s, KR_B64_STD, NULL);
}

/* RFC 3339 ("2006-01-02T15:04:05Z07:00") to unix seconds; false if not. */
static bool rfc3339(const char *s, int64_t *out)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return false;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    int64_t off = 0;
    if (*p == 'Z' && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int h = atoi(p + 1), m = atoi(p + 4);
        off = (int64_t)(h * 3600 + m * 60) * (*p == '-' ? -1 : 1);
    } else {
        return false;
    }
    *out = (int64_t)timegm(&tm) - off;
    return true;
}

static bool const_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na != nb;
    for (size_t i = 0; i < na && i < nb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int kr_bootstrap_token_check(const char *token, const kr_value_t *secret, int64_t now,
                             const char **extra_groups, kr_arena_t *arena, kr_error_t *err)
{
    *extra_groups = NULL;
    /* upstream's bootstraputil.ParseToken: ^([a-z0-9]{6})\.([a-z0-9]{16})$ */
    size_t n = token ? strlen(token) : 0;
    bool shape = n == 23 && token[6] == '.';
    for (size_t i = 0; shape && i < n; i++)
        if (i != 6 &&
            !((token[i] >= 'a' && token[i] <= 'z') || (token[i] >= '0' && token[i] <= '9')))
            shape = false;
    if (!shape)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "malformed bootstrap token");
    char id[7];
    memcpy(id, token, 6);
    id[6] = '\0';
    if (secret == NULL)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "no secret kube-system/%s%s",
                            KR_BOOTSTRAP_SECRET_PFX, id);
    const char *type = kr_value_as_str(kr_value_map_get(secret, "type"));
    if (type == NULL || strcmp(type, KR_BOOTSTRAP_TOKEN_TYPE) != 0)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "secret %s%s has the wrong type %s",
                            KR_BOOTSTRAP_SECRET_PFX, id, type ? type : "\"\"");
    if (kr_value_map_get(kr_value_map_get(secret, "metadata"), "deletionTimestamp") != NULL)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "secret %s%s is being deleted",
                            KR_BOOTSTRAP_SECRET_PFX, id);
    const char *sid = secret_field(secret, "token-id", arena);
    const char *ssecret = secret_field(secret, "token-secret", arena);
    if (sid == NULL || strcmp(sid, id) != 0 || ssecret == NULL)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "secret %s%s: bad token-id or token-secret",
                            KR_BOOTSTRAP_SECRET_PFX, id);
    if (!const_eq(ssecret, token + 7))
        return kr_error_set(err, KR_E_UNAUTHORIZED, "token %s: wrong secret", id);
    const char *exp = secret_field(secret, "expiration", arena);
    if (exp != NULL) {
        int64_t t;
        if (!rfc3339(exp, &t))
            return kr_error_set(err, KR_E_UNAUTHORIZED, "token %s: unparseable expiration %s", id,
                                exp);
        if (now >= t)
            return kr_error_set(err, KR_E_UNAUTHORIZED, "token %s: expired at %s", id, exp);
    }
    const char *usage = secret_field(secret, "usage-bootstrap-authentication", arena);
    if (usage == NULL || strcmp(usage, "true") != 0)
        return kr_error_set(err, KR_E_UNAUTHORIZED,
                            "token %s: not marked usage-bootstrap-authentication", id);
    *extra_groups = secret_field(secret, "auth-extra-groups", arena);
    return 0;
}

/* A DNS-1123 subdomain, as Node names are. */
static bool dns_subdomain(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !((c == '-' || c == '.') && i > 0 && i + 1 < n))
            return false;
    }
    return true;
}

static bool group_listed(const char *list, const char *group)
{
    size_t gl = strlen(group);
    for (const char *p = list; p && *p;) {
        size_t l = strcspn(p, ",");
        if (l == gl && strncmp(p, group, gl) == 0)
            return true;
        p += l + (p[l] == ',');
    }
    return false;
}

static void op_join(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_nodejoin_t *nj = ud;
    kr_arena_t *a = nj->arena;
    kr_arena_reset(a);
    kr_value_t *msg = NULL;
    kr_error_t err;
    if (kr_msgpack_decode(a, req->data, req->len, &msg, &err) < 0) {
        kr_broker_fail(b, req, KR_E_BAD_REQUEST, err.message);
        return;
    }
    const kr_value_t *obj = kr_value_map_get(msg, "obj");
    const char *token = kr_value_as_str(kr_value_map_get(obj, "token"));
    const char *node = kr_value_as_str(kr_value_map_get(obj, "nodeName"));
    const char *plugin = kr_value_as_str(kr_value_map_get(obj, "plugin"));
    if ((node == NULL) == (plugin == NULL)) {
        kr_broker_fail(b, req, KR_E_BAD_REQUEST, "node.join: give obj.nodeName or obj.plugin");
        return;
    }
    if (node != NULL && !dns_subdomain(node)) {
        kr_broker_fail(b, req, KR_E_INVALID,
                       "node.join: nodeName must be a lowercase RFC 1123 subdomain");
        return;
    }
    if (plugin != NULL && !dns_subdomain(plugin)) {
        kr_broker_fail(b, req, KR_E_INVALID,
                       "node.join: plugin must be a lowercase RFC 1123 subdomain");
        return;
    }
    char identity[300];
    snprintf(identity, sizeof identity, "%s%s",
             node ? "system:node:" : "system:kraal:", node ? node : plugin);
    const char *const node_groups[] = {"system:nodes", "system:authenticated", NULL};
    const char *const plugin_groups[] = {KR_CURVE_PLUGINS_GROUP, "system:authenticated", NULL};
    const char *const *groups = node ? node_groups : plugin_groups;
    kr_value_t *reply = kr_value_map(a);
    kr_value_map_set(a, reply, "identity", kr_value_str(a, identity));
    kr_value_t *garr = kr_value_array(a);
    for (size_t i = 0; groups[i]; i++)
        kr_value_array_push(a, garr, kr_value_str(a, groups[i]));
    kr_value_map_set(a, reply, "groups", garr);

    const char *pfx = KR_CURVE_UNJOINED_PREFIX;
    if (req->user == NULL || strncmp(req->user, pfx, strlen(pfx)) != 0) {
        /* a joined key (or a local peer, which has nothing to join) */
        if (req->user != NULL && strcmp(req->user, identity) == 0) {
            kr_broker_reply(b, req, 200, reply, NULL);
            return;
        }
        char m[400];
        snprintf(m, sizeof m, "node.join: this connection is already %s",
                 req->user ? req->user : "a local one (inproc or ipc), which needs no join");
        kr_broker_fail(b, req, KR_E_FORBIDDEN, m);
        return;
    }
    const char *key = req->user + strlen(pfx);
    char name[64];
    snprintf(name, sizeof name, "%s%.6s", KR_BOOTSTRAP_SECRET_PFX, token ? token : "");
    const kr_value_t *secret = token && strlen(token) >= 6
                                   ? kr_api_lookup(nj->api, "v1/secrets", "kube-system", name, a)
                                   : NULL;
    const char *extra = NULL;
    if (kr_bootstrap_token_check(token, secret, (int64_t)time(NULL), &extra, a, &err) < 0) {
        KR_WARN(TAG, "join refused", "identity=\"%s\" reason=\"%s\"", identity, err.message);
        kr_broker_fail(b, req, KR_E_UNAUTHORIZED, "Unauthorized: invalid bootstrap token");
        return;
    }
    if (plugin != NULL && !group_listed(extra, KR_CURVE_PLUGINS_GROUP)) {
        KR_WARN(TAG, "join refused",
                "identity=\"%s\" reason=\"the token's auth-extra-groups lack "
                "system:kraal-plugins\"",
                identity);
        kr_broker_fail(b, req, KR_E_FORBIDDEN,
                       "node.join: this token may join nodes only (a plugin needs a token made "
                       "with `kraal token create --plugin`)");
        return;
    }
    if (kr_broker_curve_allow(b, key, identity, groups, &err) < 0) {
        kr_broker_fail(b, req, KR_E_INTERNAL, err.message);
        return;
    }
    KR_INFO(TAG, "joined", "identity=\"%s\" token=%.6s", identity, token);
    kr_broker_reply(b, req, 200, reply, NULL);
}

/* node.revoke {obj: {identity}}: from the server's own user only (ipc or
 * inproc), as `kraal token revoke` sends it. */
static void op_revoke(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_nodejoin_t *nj = ud;
    kr_arena_t *a = nj->arena;
    kr_arena_reset(a);
    if (req->user != NULL) {
        kr_broker_fail(b, req, KR_E_FORBIDDEN,
                       "node.revoke: only the server's local socket may revoke keys");
        return;
    }
    kr_value_t *msg = NULL;
    kr_error_t err;
    if (kr_msgpack_decode(a, req->data, req->len, &msg, &err) < 0) {
        kr_broker_fail(b, req, KR_E_BAD_REQUEST, err.message);
        return;
    }
    const char *identity = kr_value_as_str(kr_value_get(msg, "obj.identity"));
    if (identity == NULL || *identity == '\0') {
        kr_broker_fail(b, req, KR_E_BAD_REQUEST, "node.revoke: obj.identity is required");
        return;
    }
    if (kr_broker_curve_revoke(b, identity, &err) < 0) {
        kr_broker_fail(b, req, err.reason, err.message);
        return;
    }
    kr_value_t *reply = kr_value_map(a);
    kr_value_map_set(a, reply, "identity", kr_value_str(a, identity));
    kr_broker_reply(b, req, 200, reply, NULL);
}

kr_nodejoin_t *kr_nodejoin_new(kr_broker_t *b, kr_api_t *api, kr_error_t *err)
{
    kr_nodejoin_t *nj = calloc(1, sizeof *nj);
    if (nj == NULL)
        abort();
    nj->api = api;
    nj->arena = kr_arena_new(0);
    if (kr_broker_handle(b, "node.join", NULL, op_join, nj, err) < 0 ||
        kr_broker_handle(b, "node.revoke", NULL, op_revoke, nj, err) < 0)
        kr_nodejoin_destroy(&nj);
    return nj;
}

void kr_nodejoin_destroy(kr_nodejoin_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_arena_destroy(&(*self_p)->arena);
    free(*self_p);
    *self_p = NULL;
}
