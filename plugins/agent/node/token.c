/* agent-node: the pods' ServiceAccount tokens (agent.h, "token.c"), after
 * the kubelet's token manager (pkg/kubelet/token/token_manager.go). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/controller.h>

#include "agent.h"

#define TOKEN_TIMEOUT_MS 10000
#define TOKEN_MAX_TTL_S  (24 * 60 * 60) /* the kubelet's maxTTL */

typedef struct tok {
    struct tok *next;
    char *key;     /* "<pod uid>|<account>|<audience>|<expirationSeconds>" */
    char *pod_uid; /* the key's first part, for ag_tokens_forget */
    char *token;
    int64_t exp, ttl;
} tok_t;

struct ag_tokens {
    pthread_mutex_t mu;
    tok_t *list;
};

ag_tokens_t *ag_tokens_new(void)
{
    ag_tokens_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        abort();
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

static void tok_free(tok_t *k)
{
    explicit_bzero(k->token, strlen(k->token));
    free(k->token);
    free(k->key);
    free(k->pod_uid);
    free(k);
}

void ag_tokens_destroy(ag_tokens_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    ag_tokens_t *t = *self_p;
    while (t->list != NULL) {
        tok_t *k = t->list;
        t->list = k->next;
        tok_free(k);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
    *self_p = NULL;
}

bool ag_token_needs_refresh(int64_t exp, int64_t ttl, int64_t now)
{
    /* requiresRefresh, without its jitter: past 24 h since issue, or
     * within the last 20 % of the lifetime */
    int64_t iat = exp - ttl;
    return now >= iat + TOKEN_MAX_TTL_S || now >= exp - ttl * 20 / 100;
}

/* Drops (under the lock) the entries of `pod_uid` when it is not NULL,
 * else those expired at `now`: a pod that went while the agent was down
 * leaves no token for ever. */
static void drop(ag_tokens_t *t, const char *pod_uid, int64_t now)
{
    for (tok_t **p = &t->list; *p != NULL;) {
        if (pod_uid != NULL ? strcmp((*p)->pod_uid, pod_uid) == 0 : (*p)->exp <= now) {
            tok_t *k = *p;
            *p = k->next;
            tok_free(k);
        } else {
            p = &(*p)->next;
        }
    }
}

void ag_tokens_forget(ag_tokens_t *t, const char *pod_uid)
{
    pthread_mutex_lock(&t->mu);
    drop(t, pod_uid, 0);
    pthread_mutex_unlock(&t->mu);
}

/* The cached token of `key` when it needs no refresh, copied into arena. */
static const char *cached(ag_tokens_t *t, kr_arena_t *a, const char *key, int64_t now)
{
    const char *out = NULL;
    pthread_mutex_lock(&t->mu);
    for (tok_t *k = t->list; k != NULL; k = k->next)
        if (strcmp(k->key, key) == 0) {
            if (!ag_token_needs_refresh(k->exp, k->ttl, now))
                out = kr_arena_strdup(a, k->token);
            break;
        }
    pthread_mutex_unlock(&t->mu);
    return out;
}

static void remember(ag_tokens_t *t, const char *key, const char *pod_uid, const char *token,
                     int64_t exp, int64_t ttl, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    drop(t, NULL, now);
    tok_t *k = NULL;
    for (k = t->list; k != NULL && strcmp(k->key, key) != 0; k = k->next)
        ;
    if (k == NULL) {
        k = calloc(1, sizeof *k);
        if (k == NULL || (k->key = strdup(key)) == NULL || (k->pod_uid = strdup(pod_uid)) == NULL)
            abort();
        k->next = t->list;
        t->list = k;
    } else {
        explicit_bzero(k->token, strlen(k->token));
        free(k->token);
    }
    if ((k->token = strdup(token)) == NULL)
        abort();
    k->exp = exp;
    k->ttl = ttl;
    pthread_mutex_unlock(&t->mu);
}

int ag_tokens_get(ag_tokens_t *t, kr_bus_t *bus, kr_arena_t *a, const kr_value_t *pod,
                  const kr_value_t *src, int64_t now, const char **token, kr_error_t *err)
{
    const char *ns = kr_value_as_str(kr_value_get(pod, "metadata.namespace")) ?: "default";
    const char *name = kr_value_as_str(kr_value_get(pod, "metadata.name")) ?: "";
    const char *uid = kr_value_as_str(kr_value_get(pod, "metadata.uid")) ?: "";
    const char *sa = kr_value_as_str(kr_value_get(pod, "spec.serviceAccountName"));
    if (sa == NULL || *sa == '\0')
        sa = "default";
    const char *aud = kr_value_map_str(src, "audience");
    int64_t ttl = kr_value_map_int(src, "expirationSeconds", 3600);
    const char *key = kr_arena_printf(a, "%s|%s|%s|%lld", uid, sa, aud ? aud : "", (long long)ttl);
    if ((*token = cached(t, a, key, now)) != NULL)
        return 0;
    if (bus == NULL)
        return kr_error_set(err, KR_E_SERVICE_UNAVAILABLE, "no connection to the API");
    /* the TokenRequest the kubelet makes: bound to the pod */
    kr_value_t *spec = kr_value_map(a), *ref = kr_value_map(a), *tr = kr_value_map(a);
    if (aud != NULL && *aud != '\0') {
        kr_value_t *auds = kr_value_array(a);
        kr_value_array_push(a, auds, kr_value_str(a, aud));
        kr_value_map_set(a, spec, "audiences", auds);
    }
    kr_value_map_set(a, spec, "expirationSeconds", kr_value_int(a, ttl));
    kr_value_map_set(a, ref, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, ref, "kind", kr_value_str(a, "Pod"));
    kr_value_map_set(a, ref, "name", kr_value_str(a, name));
    kr_value_map_set(a, ref, "uid", kr_value_str(a, uid));
    kr_value_map_set(a, spec, "boundObjectRef", ref);
    kr_value_map_set(a, tr, "apiVersion", kr_value_str(a, "authentication.k8s.io/v1"));
    kr_value_map_set(a, tr, "kind", kr_value_str(a, "TokenRequest"));
    kr_value_map_set(a, tr, "spec", spec);
    kr_request_t req = {.op = "authn.tokenrequest", .ns = ns, .name = sa, .obj = tr};
    kr_reply_t r;
    if (kr_bus_call(bus, &req, a, &r, TOKEN_TIMEOUT_MS, err) < 0)
        return kr_error_wrap(err, "failed to fetch token");
    const char *tok = kr_value_as_str(kr_value_get(r.obj, "status.token"));
    const char *ts = kr_value_as_str(kr_value_get(r.obj, "status.expirationTimestamp"));
    int64_t exp;
    int32_t nsec;
    if (r.code != 201 && r.code != 200)
        return kr_error_set(err, r.reason, "failed to fetch token: %s", kr_reply_msg(&r));
    if (tok == NULL || ts == NULL || !kr_time_parse(ts, &exp, &nsec))
        return kr_error_set(err, KR_E_INTERNAL, "failed to fetch token: no token in the reply");
    /* the lifetime granted, which may differ from the one asked */
    int64_t granted = kr_value_as_int(kr_value_get(r.obj, "spec.expirationSeconds"), ttl);
    remember(t, key, uid, tok, exp, granted, now);
    *token = tok;
    return 0;
}
