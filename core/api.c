/* The object API (api.h, docs/api.md): Kubernetes semantics in the broker
 * thread.
 *
 * Reads are answered from the cache at once.  A write is checked against
 * the newest state of its key — the committed one, or the one of a write
 * still on its way to disk (the overlay) — given the next revision and
 * handed to the committer; its answer is deferred until the batch is on
 * disk.  Completed writes are applied to the cache and published to the
 * watchers in revision order, then answered.  A write whose base was a
 * write that then failed fails its compare in the store and gets 409, so
 * nothing depends on state that never reached the disk.
 *
 * Events are the exception to "reads from the cache" when the store can
 * read beside the committer (kr_store_ops_t.read): like upstream's
 * apiserver, which keeps no watch cache for them, the core does not keep
 * them in memory (a kubelet writes a few per pod: they would be most of
 * the cache).  Their gets, lists, a watch's initial state and the TTL sweep
 * read the store's current state; their writes are checked against it (or
 * a write in flight); their watches are served from the kind's event ring
 * like any other kind's.
 */
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include <kraal/authz.h>
#include <kraal/base64.h>
#include <kraal/log.h>
#include <kraal/loop.h>

#include "admission.h"
#include "cache.h"
#include "apply.h"
#include "commit.h"
#include "encryption.h"
#include "managed.h"
#include "openapi.h"
#include "patch.h"
#include "quota.h"
#include <kraal/selector.h>
#include "store_crypt.h"
#include "svcalloc.h"
#include "validation.h"
#include "watch.h"
#include "xalloc.h"

#define TAG "api"

#define API_TICK_MS       2   /* watch catch-up pacing */
#define API_NAME_MAX      253 /* longest object name accepted at all */
#define API_GENNAME_TRIES 8

/* ---- state -------------------------------------------------------------- */

typedef struct kstate {
    const kr_kind_t *kind;
    kr_objmap_t *live; /* empty when cold */
    bool cold;         /* not cached: read from the store (Events) */
    size_t cold_count; /* live objects of a cold kind */
    size_t in_flight;  /* writes submitted, not finished (their overlay entries) */
} kstate_t;

/* A key with writes on their way to disk, and the state they leave. */
typedef struct overlay {
    struct overlay *next;
    uint64_t hash;
    kr_objrec_t *state; /* NULL: deleted */
    unsigned n;         /* writes in flight */
    char key[];
} overlay_t;

#define OVERLAY_BUCKETS 4096

/* Event TTL: checkpoints of applied revisions (a ring spanning more than
 * the TTL), a sweep every API_TTL_SWEEP_MS deleting at most
 * API_TTL_SWEEP_MAX expired Events. */
#define API_TTL_CHECKPOINTS 4096
#define API_TTL_SWEEP_MS    10000
#define API_TTL_SWEEP_MAX   2000

/* Heap trim: every API_TRIM_MS, when malloc's heaps hold more than
 * API_TRIM_FREE bytes freed but not returned (see trim_heap). */
#define API_TRIM_MS   10000
#define API_TRIM_FREE (16u << 20)

/* Store values of kinds not registered yet (a plugin registers them
 * later): loaded when the kind arrives. */
typedef struct orphan {
    struct orphan *next;
    int64_t rev, create_rev;
    size_t key_len, len;
    char *key;
    unsigned char *data;
} orphan_t;

typedef enum wkind {
    W_CREATE,
    W_UPDATE,
    W_DELETE,   /* immediate delete: answers Status */
    W_SCALE,    /* update through the scale subresource: answers the Scale */
    W_INTERNAL, /* bootstrap: nobody to answer */
} wkind_t;

struct rotation;

typedef struct pending {
    kr_commit_item_t item;
    kstate_t *ks;
    overlay_t *ov;
    kr_objrec_t *rec; /* the new state, or a delete's final state */
    kr_broker_deferred_t *reply;
    wkind_t wk;
    int code;
    char *key;
    kr_svc_change_t *svc; /* a Service's allocations, settled by the outcome */
    kr_objrec_t *prev;    /* cold kinds: the state the write replaces (a ref) */
    struct rotation *rot; /* a key rotation's rewrite: counted there */
} pending_t;

struct kr_api {
    kr_broker_t *broker;
    kr_api_opts_t opts;
    kr_registry_t *reg;
    kr_arena_t *arena; /* per request, reset after each */

    kstate_t **ks; /* by registry index */
    size_t n_ks, cap_ks;
    kstate_t *ns_state; /* namespaces */
    kstate_t *pc_state; /* PriorityClasses (admission), NULL if not registered */
    kstate_t *sa_state; /* ServiceAccounts (admission), NULL if not registered */
    kstate_t *ev_state; /* Events (their TTL), NULL if not registered */
    kstate_t *rq_state; /* ResourceQuotas (their status), NULL if not registered */
    /* Namespaces whose quotas' usage may have changed (see "quota status") */
    char **rq_dirty;
    size_t n_rq_dirty, cap_rq_dirty;
    uint64_t next_rq_sync, next_rq_resync;
    kr_quota_cache_t *quota_cache; /* pods' quota facts by revision */
    /* When revisions were applied: one checkpoint a stride, for the TTL of
     * Events (see "event TTL"). */
    struct ttl_ckpt {
        int64_t rev;
        uint64_t at; /* kr_time_ms() */
    } ckpt[API_TTL_CHECKPOINTS];
    size_t ck_head, ck_len;
    uint64_t ck_stride_ms, ttl_sweep_ms, next_ckpt, next_sweep;
    uint64_t events_expired;
    uint64_t next_trim;
    kr_prio_cache_t prio;
    const kr_kind_t *pod_kind;
    const kr_kind_t *svc_kind;
    kr_svcalloc_t *svcalloc; /* Service ClusterIPs and NodePorts */
    char *authorizer;        /* opts.authorizer, owned; NULL = no escalation check */
    struct oa_doc *oa;       /* OpenAPI documents built so far */
    size_t oa_kinds;         /* registry size they were built for */

    overlay_t *overlay[OVERLAY_BUCKETS];
    /* Records of cold kinds read from the store for the request being
     * answered: borrowed by it as cached records would be, released when
     * the next request begins. */
    kr_objrec_t **held;
    size_t n_held, cap_held;

    pthread_mutex_t store_mu;
    const kr_store_ops_t *store_ops;
    void *store;
    kr_commit_t *commit;
    bool open;
    kr_store_crypt_t *crypt;   /* store_ops/store wrap the plugin's when encryption is on */
    struct rotation *rotation; /* the key rotation running, if any */

    int64_t next_rev;    /* last revision handed out */
    int64_t applied_rev; /* last revision in the cache */
    int64_t compact_rev;
    uint64_t next_compact;
    orphan_t *orphans;
    size_t writes_in_flight;

    kr_watch_hub_t *hub;
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static kstate_t *kstate_of(kr_api_t *api, const kr_kind_t *kind)
{
    for (size_t i = 0; i < api->n_ks; i++)
        if (api->ks[i]->kind == kind)
            return api->ks[i];
    return NULL;
}

static kstate_t *kstate_add(kr_api_t *api, const kr_kind_t *kind)
{
    if (api->n_ks == api->cap_ks) {
        api->cap_ks = api->cap_ks ? api->cap_ks * 2 : 32;
        api->ks = xrealloc(api->ks, api->cap_ks * sizeof *api->ks);
    }
    kstate_t *ks = xcalloc(1, sizeof *ks);
    ks->kind = kind;
    ks->live = kr_objmap_new();
    api->ks[api->n_ks++] = ks;
    return ks;
}

/* "pods" or "deployments.apps": how upstream names a resource in messages. */
static const char *qualified(kr_arena_t *a, const kr_kind_t *kind)
{
    if (kind->group[0] == '\0')
        return kind->plural;
    return kr_arena_printf(a, "%s.%s", kind->plural, kind->group);
}

static char *store_key(const kr_kind_t *kind, const char *ns, const char *name)
{
    size_t n = strlen(kind->store_prefix) + strlen(ns) + strlen(name) + 2;
    char *k = xmalloc(n);
    if (kind->namespaced)
        snprintf(k, n, "%s%s/%s", kind->store_prefix, ns, name);
    else
        snprintf(k, n, "%s%s", kind->store_prefix, name);
    return k;
}

static void now_rfc3339(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* getrandom cannot fail on Linux >= 3.17 once seeded; if it
             * does, fall back to a time-seeded generator rather than die */
            for (size_t i = 0; i < n; i++)
                p[i] = (unsigned char)(rand() ^ (int)kr_time_ms());
            return;
        }
        p += r;
        n -= (size_t)r;
    }
}

static void new_uid(char out[37])
{
    unsigned char b[16];
    random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* upstream's SimpleNameGenerator: 5 characters without vowels or
 * look-alikes. */
static void gen_suffix(char out[6])
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char b[5];
    random_bytes(b, sizeof b);
    for (int i = 0; i < 5; i++)
        out[i] = alphabet[b[i] % (sizeof alphabet - 1)];
    out[5] = '\0';
}

static kr_value_t *map_child(kr_arena_t *a, kr_value_t *map, const char *key)
{
    kr_value_t *v = kr_value_map_get(map, key);
    if (kr_value_type(v) != KR_MAP) {
        v = kr_value_map(a);
        kr_value_map_set(a, map, key, v);
    }
    return v;
}

static void set_str(kr_arena_t *a, kr_value_t *map, const char *key, const char *s)
{
    kr_value_map_set(a, map, key, kr_value_str(a, s));
}

static void set_rv(kr_arena_t *a, kr_value_t *obj, int64_t rev)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, rev);
    set_str(a, map_child(a, obj, "metadata"), "resourceVersion", buf);
}

/* Parses a resourceVersion; false unless it is a decimal > 0. */
static bool parse_rv(const char *s, int64_t *out)
{
    if (s == NULL || *s < '1' || *s > '9')
        return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return true;
}

static bool tracks_generation(const kr_kind_t *kind)
{
    if (!kind->builtin)
        return true;
    return strcmp(kind->group, "apps") == 0 || strcmp(kind->group, "batch") == 0;
}

static bool is_protected_namespace(const char *name)
{
    return strcmp(name, "default") == 0 || strcmp(name, "kube-system") == 0 ||
           strcmp(name, "kube-public") == 0;
}

/* ---- msgpack output ----------------------------------------------------- */

static int buf_write(void *data, const char *buf, size_t len)
{
    kr_buf_append(data, buf, len);
    return 0;
}

static void pk_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* metav1.Status{Success} for an immediate delete, as upstream answers. */
static void pack_delete_status(kr_buf_t *out, const kr_kind_t *kind, const kr_objrec_t *rec)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 5);
    pk_cstr(&pk, "kind");
    pk_cstr(&pk, "Status");
    pk_cstr(&pk, "apiVersion");
    pk_cstr(&pk, "v1");
    pk_cstr(&pk, "metadata");
    msgpack_pack_map(&pk, 0);
    pk_cstr(&pk, "status");
    pk_cstr(&pk, "Success");
    pk_cstr(&pk, "details");
    bool group = kind->group[0] != '\0';
    msgpack_pack_map(&pk, group ? 4 : 3);
    pk_cstr(&pk, "name");
    pk_cstr(&pk, rec->name);
    if (group) {
        pk_cstr(&pk, "group");
        pk_cstr(&pk, kind->group);
    }
    pk_cstr(&pk, "kind");
    pk_cstr(&pk, kind->plural);
    pk_cstr(&pk, "uid");
    pk_cstr(&pk, rec->uid);
}

/* ---- overlay ------------------------------------------------------------ */

static overlay_t *overlay_find(kr_api_t *api, const char *key, uint64_t h)
{
    for (overlay_t *o = api->overlay[h % OVERLAY_BUCKETS]; o; o = o->next)
        if (o->hash == h && strcmp(o->key, key) == 0)
            return o;
    return NULL;
}

/* ---- cold kinds ---------------------------------------------------------- */

static kr_objrec_t *hold(kr_api_t *api, kr_objrec_t *rec)
{
    if (api->n_held == api->cap_held) {
        api->cap_held = api->cap_held ? api->cap_held * 2 : 8;
        api->held = xrealloc(api->held, api->cap_held * sizeof *api->held);
    }
    api->held[api->n_held++] = rec;
    return rec;
}

static void release_held(kr_api_t *api)
{
    for (size_t i = 0; i < api->n_held; i++)
        kr_objrec_unref(&api->held[i]);
    api->n_held = 0;
}

typedef struct cold_ctx {
    kr_api_t *api;
    kstate_t *ks;
    const char *exact; /* a get: only this key */
    size_t exact_len;
    kr_objmap_fn fn;
    void *ud;
    bool stopped;
} cold_ctx_t;

static int cold_kv(const kr_store_kv_t *kv, void *ud)
{
    cold_ctx_t *c = ud;
    if (c->exact != NULL &&
        (kv->key_len != c->exact_len || memcmp(kv->key, c->exact, kv->key_len) != 0)) {
        c->stopped = true; /* keys sort after their prefixes: it is not there */
        return -1;
    }
    kr_error_t err;
    kr_objrec_t *rec = kr_objrec_from_msgpack(c->ks->kind, kv->value, kv->value_len, kv->mod_rev,
                                              kv->create_rev, &err);
    if (rec == NULL) {
        KR_ERROR(TAG, "skipping an undecodable stored object", "key=\"%.*s\" error=\"%s\"",
                 (int)kv->key_len, kv->key, err.message);
        return 0;
    }
    bool go_on = c->fn(rec, c->ud);
    kr_objrec_unref(&rec);
    if (!go_on)
        c->stopped = true;
    return go_on && c->exact == NULL ? 0 : -1;
}

/* kr_objmap_walk over a cold kind's stored objects: namespace `ns` (NULL:
 * all), after (after_ns, after_name) when after_name is set, revisions up
 * to max_rev (0: any).  fn borrows each record for the call (a ref keeps
 * it).  *rev gets the revision of the state read, never below the cache's.
 * False when the store failed (logged: the caller answers as if empty is
 * wrong, so it says so). */
static bool cold_walk(kr_api_t *api, kstate_t *ks, const char *ns, const char *after_ns,
                      const char *after_name, int64_t max_rev, kr_objmap_fn fn, void *ud,
                      int64_t *rev, kr_error_t *err)
{
    const kr_kind_t *k = ks->kind;
    char *prefix = ns != NULL && k->namespaced
                       ? kr_arena_printf(api->arena, "%s%s/", k->store_prefix, ns)
                       : kr_arena_strdup(api->arena, k->store_prefix);
    char *after = after_name != NULL ? store_key(k, after_ns ? after_ns : "", after_name) : NULL;
    cold_ctx_t c = {.api = api, .ks = ks, .fn = fn, .ud = ud};
    int64_t at = 0;
    int rc = api->store_ops->read(api->store, prefix, strlen(prefix), after,
                                  after ? strlen(after) : 0, max_rev, cold_kv, &c, &at, err);
    free(after);
    if (rc < 0 && !c.stopped) {
        KR_ERROR(TAG, "reading the store failed", "kind=\"%s\" error=\"%s\"", k->plural,
                 err->message);
        return false;
    }
    if (rev != NULL)
        *rev = at > api->applied_rev ? at : api->applied_rev;
    return true;
}

static bool cold_get_visit(kr_objrec_t *rec, void *ud)
{
    *(kr_objrec_t **)ud = kr_objrec_ref(rec);
    return false;
}

/* A cold kind's stored object at `key` (held for the request), or NULL. */
static kr_objrec_t *cold_get(kr_api_t *api, kstate_t *ks, const char *key)
{
    kr_objrec_t *rec = NULL;
    cold_ctx_t c = {.api = api,
                    .ks = ks,
                    .exact = key,
                    .exact_len = strlen(key),
                    .fn = cold_get_visit,
                    .ud = &rec};
    kr_error_t err;
    if (api->store_ops->read(api->store, key, c.exact_len, NULL, 0, 0, cold_kv, &c, NULL, &err) <
            0 &&
        !c.stopped)
        KR_ERROR(TAG, "reading the store failed", "key=\"%s\" error=\"%s\"", key, err.message);
    return rec != NULL ? hold(api, rec) : NULL;
}

/* The newest state of a key: the overlay's, else the cache's (the store's
 * for a cold kind).  Borrowed until the next request. */
static kr_objrec_t *current(kr_api_t *api, kstate_t *ks, const char *key, const char *ns,
                            const char *name)
{
    overlay_t *o = overlay_find(api, key, hash_str(key, strlen(key)));
    if (o != NULL)
        return o->state;
    if (ks->cold)
        return cold_get(api, ks, key);
    return kr_objmap_get(ks->live, ns, name);
}

/* Records a write in flight for key; its state becomes the newest. */
static overlay_t *overlay_push(kr_api_t *api, const char *key, kr_objrec_t *state)
{
    uint64_t h = hash_str(key, strlen(key));
    overlay_t *o = overlay_find(api, key, h);
    if (o == NULL) {
        size_t n = strlen(key);
        o = xcalloc(1, sizeof *o + n + 1);
        memcpy(o->key, key, n + 1);
        o->hash = h;
        o->next = api->overlay[h % OVERLAY_BUCKETS];
        api->overlay[h % OVERLAY_BUCKETS] = o;
    }
    kr_objrec_unref(&o->state);
    o->state = state ? kr_objrec_ref(state) : NULL;
    o->n++;
    return o;
}

static void overlay_pop(kr_api_t *api, overlay_t *o)
{
    if (--o->n > 0)
        return;
    overlay_t **pp = &api->overlay[o->hash % OVERLAY_BUCKETS];
    while (*pp != o)
        pp = &(*pp)->next;
    *pp = o->next;
    kr_objrec_unref(&o->state);
    free(o);
}

/* ---- request ------------------------------------------------------------ */

typedef struct rq {
    kr_api_t *api;
    const kr_broker_req_t *req;
    kr_arena_t *a;
    kstate_t *ks;
    const kr_kind_t *kind;
    char *ns, *name, *sub, *rv; /* NUL-terminated copies; NULL when absent */
    kr_value_t *msg;            /* decoded lazily */
    bool scale;                 /* a write through the scale subresource: answer a Scale */
    bool applied;               /* the object comes from kr_apply: managedFields are set */
    bool finalize;              /* namespaces/finalize: only spec.finalizers changes */
} rq_t;

static char *env_dup(kr_arena_t *a, kr_env_str_t s)
{
    return s.p ? kr_arena_strndup(a, s.p, s.len) : NULL;
}

static void fail(rq_t *r, kr_reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(rq_t *r, kr_reason_t reason, const char *fmt, ...)
{
    char msg[KR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kr_broker_fail(r->api->broker, r->req, reason, msg);
}

static void fail_err(rq_t *r, const kr_error_t *err)
{
    kr_broker_fail(r->api->broker, r->req, err->reason, err->message);
}

static void fail_invalid(rq_t *r, const kr_validation_t *v, const char *name)
{
    kr_error_t err;
    kr_validation_error(v, r->kind->group, r->kind->kind, name, &err);
    kr_value_t *details = kr_validation_details(v, r->a, r->kind->group, r->kind->kind, name);
    kr_broker_fail_details(r->api->broker, r->req, KR_E_INVALID, err.message, details);
}

static void fail_not_found(rq_t *r, const char *name)
{
    fail(r, KR_E_NOT_FOUND, "%s \"%s\" not found", qualified(r->a, r->kind), name);
}

static void fail_conflict(rq_t *r, const char *name, const char *why)
{
    fail(r, KR_E_CONFLICT, "Operation cannot be fulfilled on %s \"%s\": %s",
         qualified(r->a, r->kind), name, why);
}

#define MSG_MODIFIED                                                                     \
    "the object has been modified; please apply your changes to the latest version and " \
    "try again"

static kr_value_t *rq_msg(rq_t *r)
{
    if (r->msg == NULL) {
        kr_error_t err;
        if (kr_msgpack_decode(r->a, r->req->data, r->req->len, &r->msg, &err) < 0)
            r->msg = kr_value_map(r->a); /* the envelope parsed; cannot happen */
    }
    return r->msg;
}

static kr_value_t *rq_obj(rq_t *r)
{
    return kr_value_map_get(rq_msg(r), "obj");
}

static const kr_value_t *rq_opt(rq_t *r, const char *key)
{
    return kr_value_map_get(kr_value_map_get(rq_msg(r), "opts"), key);
}

static const char *rq_opt_str(rq_t *r, const char *key)
{
    const char *s = kr_value_as_str(rq_opt(r, key));
    return s && *s ? s : NULL;
}

/* Resolves the kind and checks the namespace against its scope.  Answers
 * the request and returns false on failure. */
static bool rq_begin(rq_t *r, kr_api_t *api, const kr_broker_req_t *req)
{
    memset(r, 0, sizeof *r);
    release_held(api);
    r->api = api;
    r->req = req;
    r->a = api->arena;
    const kr_envelope_t *env = req->env;
    if (!api->open) {
        kr_broker_fail(api->broker, req, KR_E_SERVICE_UNAVAILABLE, "the object store is not ready");
        return false;
    }
    if (env->res.p == NULL || env->res.len == 0) {
        kr_broker_fail(api->broker, req, KR_E_BAD_REQUEST,
                       "field \"res\" must name a resource such as \"v1/pods\"");
        return false;
    }
    r->kind = kr_registry_by_res(api->reg, env->res.p, env->res.len);
    if (r->kind == NULL) {
        fail(r, KR_E_NOT_FOUND, "the server could not find the requested resource (%.*s)",
             (int)env->res.len, env->res.p);
        return false;
    }
    if (r->kind->builtin && strcmp(r->kind->kind, "Binding") == 0 &&
        !kr_env_str_eq(env->op, "create")) {
        fail(r, KR_E_METHOD_NOT_ALLOWED, "%.*s is not supported on bindings: only create",
             (int)env->op.len, env->op.p);
        return false;
    }
    r->ks = kstate_of(api, r->kind);
    r->ns = env_dup(r->a, env->ns);
    r->name = env_dup(r->a, env->name);
    r->sub = env_dup(r->a, env->sub);
    r->rv = env_dup(r->a, env->rv);
    if (r->ns != NULL && r->ns[0] == '\0')
        r->ns = NULL;
    if (r->sub != NULL && r->sub[0] == '\0')
        r->sub = NULL;
    if (r->name != NULL && r->name[0] == '\0')
        r->name = NULL;
    if (!r->kind->namespaced && r->ns != NULL) {
        fail(r, KR_E_BAD_REQUEST, "%s is not namespaced: the request must not name a namespace",
             qualified(r->a, r->kind));
        return false;
    }
    if (r->name != NULL && (strlen(r->name) > API_NAME_MAX || strchr(r->name, '/') != NULL)) {
        fail(r, KR_E_BAD_REQUEST, "invalid object name: %.64s", r->name);
        return false;
    }
    return true;
}

/* The namespace of a single-object request: required for namespaced
 * kinds, "" for the others. */
static bool rq_need_ns(rq_t *r)
{
    if (!r->kind->namespaced) {
        r->ns = "";
        return true;
    }
    if (r->ns == NULL) {
        fail(r, KR_E_BAD_REQUEST, "%s is namespaced: the request must name a namespace",
             qualified(r->a, r->kind));
        return false;
    }
    return true;
}

static bool rq_need_name(rq_t *r)
{
    if (r->name == NULL) {
        fail(r, KR_E_BAD_REQUEST, "resource name may not be empty");
        return false;
    }
    return rq_need_ns(r);
}

static bool sub_supported(rq_t *r, unsigned flag, const char *what)
{
    if ((r->kind->subresources & flag) == 0) {
        fail(r, KR_E_NOT_FOUND, "the server could not find the requested resource (%s/%s)",
             qualified(r->a, r->kind), what);
        return false;
    }
    return true;
}

/* ---- write submission ---------------------------------------------------- */

static pending_t *submit(kr_api_t *api, kstate_t *ks, char *key, kr_store_op_t op, kr_objrec_t *rec,
                         int64_t expect_rev, wkind_t wk, int code, kr_broker_deferred_t *reply)
{
    pending_t *p = xcalloc(1, sizeof *p);
    p->ks = ks;
    p->rec = rec;
    p->wk = wk;
    p->code = code;
    p->reply = reply;
    p->key = key;
    p->ov = overlay_push(api, key, op == KR_STORE_DELETE ? NULL : rec);
    ks->in_flight++;
    p->item.ud = p;
    p->item.w = (kr_store_write_t){
        .op = op,
        .key = key,
        .key_len = strlen(key),
        .value = rec->data,
        .value_len = rec->len,
        .rev = rec->rev,
        .expect_rev = expect_rev,
    };
    api->writes_in_flight++;
    kr_commit_submit(api->commit, &p->item);
    return p;
}

/* Encodes the final object into a record with the next revision.  Answers
 * and returns NULL when it is too large. */
static kr_objrec_t *make_rec(rq_t *r, kr_value_t *obj, int64_t create_rev)
{
    kr_api_t *api = r->api;
    int64_t rev = api->next_rev + 1;
    set_rv(r->a, obj, rev);
    kr_error_t err;
    kr_objrec_t *rec = kr_objrec_new(r->kind, obj, rev, create_rev ? create_rev : rev, &err);
    if (rec == NULL) {
        fail_err(r, &err);
        return NULL;
    }
    if (rec->len > KR_API_MAX_OBJECT) {
        fail(r, KR_E_TOO_LARGE, "Request entity too large: %s \"%s\" is %zu bytes, limit is %u",
             qualified(r->a, r->kind), rec->name, rec->len, KR_API_MAX_OBJECT);
        kr_objrec_unref(&rec);
        return NULL;
    }
    api->next_rev = rev;
    return rec;
}

static kr_value_t *scale_value(kr_arena_t *a, const kr_kind_t *k, const kr_objrec_t *rec,
                               kr_value_t *obj);
static void pack_scale(kr_arena_t *a, const kr_kind_t *k, const kr_objrec_t *rec, kr_buf_t *out);

/* dryRun=All: every step of the write but the write itself; the answer is
 * what would have been stored (an object that does not exist yet has no
 * resourceVersion), and no watcher hears of it. */
static bool answer_dry_run(rq_t *r, kr_value_t *obj, const kr_objrec_t *cur, wkind_t wk, int code,
                           bool answer)
{
    if (!answer)
        return true;
    if (cur != NULL)
        set_rv(r->a, obj, cur->rev);
    else
        kr_value_map_del(kr_value_map_get(obj, "metadata"), "resourceVersion");
    kr_error_t err;
    kr_objrec_t *rec =
        kr_objrec_new(r->kind, obj, cur ? cur->rev : 1, cur ? cur->create_rev : 1, &err);
    if (rec == NULL) {
        fail_err(r, &err);
        return false;
    }
    if (wk == W_DELETE || wk == W_SCALE) {
        kr_buf_t out = KR_BUF_INIT;
        if (wk == W_DELETE)
            pack_delete_status(&out, r->kind, rec);
        else
            pack_scale(r->a, r->kind, rec, &out);
        kr_broker_reply_raw(r->api->broker, r->req, wk == W_DELETE ? 200 : code, out.data, out.len,
                            NULL);
        kr_buf_free(&out);
    } else {
        kr_broker_reply_raw(r->api->broker, r->req, code, rec->data, rec->len, NULL);
    }
    kr_objrec_unref(&rec);
    return true;
}

/* A Service write takes the ClusterIP and node ports `obj` needs beyond
 * `cur` (none for a delete) before it is submitted; the outcome settles
 * them (finish).  False after answering the error. */
static bool svc_allocate(rq_t *r, kr_value_t *obj, const kr_objrec_t *cur, kr_store_op_t op,
                         kr_svc_change_t **change)
{
    *change = NULL;
    if (r->kind != r->api->svc_kind || r->api->svcalloc == NULL)
        return true;
    kr_value_t *old = NULL;
    kr_error_t err;
    kr_error_clear(&err);
    if (cur != NULL && kr_msgpack_decode(r->a, cur->data, cur->len, &old, &err) < 0) {
        fail_err(r, &err);
        return false;
    }
    kr_validation_t v;
    kr_validation_init(&v, r->a);
    if (kr_svcalloc_write(r->api->svcalloc, r->a, op == KR_STORE_DELETE ? NULL : obj, old, &v,
                          change, &err) == 0)
        return true;
    if (!kr_validation_ok(&v))
        fail_invalid(r, &v, kr_value_map_str(kr_value_map_get(obj, "metadata"), "name"));
    else
        fail_err(r, &err);
    return false;
}

/* Encodes `obj` and submits it as a write of the request's object: `key`
 * is taken (freed on failure), `cur` is the state it replaces (NULL on
 * create).  With `answer` the request is answered when the write is on
 * disk; without, nobody waits (deletecollection).  False after answering
 * an error. */
static bool write_obj(rq_t *r, char *key, kr_value_t *obj, const kr_objrec_t *cur, kr_store_op_t op,
                      wkind_t wk, int code, bool answer)
{
    if (wk == W_UPDATE && r->scale)
        wk = W_SCALE;
    kr_svc_change_t *svc;
    if (!svc_allocate(r, obj, cur, op, &svc)) {
        free(key);
        return false;
    }
    const char *dry = rq_opt_str(r, "dryRun");
    if (dry != NULL && strcmp(dry, "All") == 0) {
        kr_svcalloc_abort(r->api->svcalloc, &svc); /* checked, not kept */
        free(key);
        return answer_dry_run(r, obj, cur, wk, code, answer);
    }
    kr_objrec_t *rec = make_rec(r, obj, cur ? cur->create_rev : 0);
    if (rec == NULL) {
        kr_svcalloc_abort(r->api->svcalloc, &svc);
        free(key);
        return false;
    }
    pending_t *p = submit(r->api, r->ks, key, op, rec, cur ? cur->rev : 0, answer ? wk : W_INTERNAL,
                          code, answer ? kr_broker_defer(r->api->broker, r->req) : NULL);
    p->svc = svc;
    if (r->ks->cold && cur != NULL) /* the store's compare makes it the one replaced */
        p->prev = kr_objrec_ref((kr_objrec_t *)cur);
    return true;
}

/* ---- completion ------------------------------------------------------------ */

static void answer_done(kr_api_t *api, pending_t *p)
{
    if (p->reply == NULL)
        return;
    if (p->wk == W_DELETE) {
        kr_buf_t out = KR_BUF_INIT;
        pack_delete_status(&out, p->ks->kind, p->rec);
        kr_broker_deferred_reply_raw(api->broker, &p->reply, 200, out.data, out.len);
        kr_buf_free(&out);
        return;
    }
    if (p->wk == W_SCALE) {
        kr_buf_t out = KR_BUF_INIT;
        pack_scale(api->arena, p->ks->kind, p->rec, &out);
        kr_broker_deferred_reply_raw(api->broker, &p->reply, p->code, out.data, out.len);
        kr_buf_free(&out);
        return;
    }
    kr_broker_deferred_reply_raw(api->broker, &p->reply, p->code, p->rec->data, p->rec->len);
}

/* ---- quota status ----------------------------------------------------------------
 *
 * Upstream's resourcequota controller keeps each quota's status.hard (its
 * spec.hard) and status.used current.  Here the core does it: a write in a
 * namespace that has quotas marks the namespace, and every
 * API_QUOTA_SYNC_MS the marked namespaces' quotas get their usage counted
 * again (kr_quota_status, as admission counts it) and a status write when
 * it changed.  Every API_QUOTA_RESYNC_MS all namespaces with quotas are
 * marked (what was loaded at start, a status a client overwrote). */

#define API_QUOTA_SYNC_MS   100
#define API_QUOTA_RESYNC_MS 30000

static void quota_mark(kr_api_t *api, const kstate_t *ks, const char *ns)
{
    if (api->rq_state == NULL || !ks->kind->namespaced || ns == NULL || *ns == '\0' ||
        kr_objmap_count_ns(api->rq_state->live, ns) == 0)
        return;
    for (size_t i = 0; i < api->n_rq_dirty; i++)
        if (strcmp(api->rq_dirty[i], ns) == 0)
            return;
    if (api->n_rq_dirty == api->cap_rq_dirty) {
        api->cap_rq_dirty = api->cap_rq_dirty ? api->cap_rq_dirty * 2 : 8;
        api->rq_dirty = xrealloc(api->rq_dirty, api->cap_rq_dirty * sizeof *api->rq_dirty);
    }
    api->rq_dirty[api->n_rq_dirty++] = xstrdup(ns);
}

static void apply_done(kr_api_t *api, pending_t *p)
{
    kstate_t *ks = p->ks;
    if (ks == api->pc_state)
        kr_prio_cache_invalidate(&api->prio);
    if (ks->cold) {
        kr_objrec_t *prev = p->prev;
        p->prev = NULL;
        if (p->item.w.op == KR_STORE_DELETE) {
            ks->cold_count--;
            kr_watch_publish(api->hub, KR_WATCH_DELETED, p->rec, prev);
        } else {
            ks->cold_count += prev == NULL;
            kr_watch_publish(api->hub, prev ? KR_WATCH_MODIFIED : KR_WATCH_ADDED, p->rec, prev);
        }
        kr_objrec_unref(&prev);
        api->applied_rev = p->rec->rev;
        kr_watch_progress(api->hub, api->applied_rev);
        quota_mark(api, ks, p->rec->ns);
        return;
    }
    kr_objrec_t *prev = kr_objmap_get(ks->live, p->rec->ns, p->rec->name);
    if (prev != NULL)
        kr_objrec_ref(prev);
    if (p->item.w.op == KR_STORE_DELETE) {
        kr_objrec_t *gone = kr_objmap_remove(ks->live, p->rec->ns, p->rec->name);
        kr_objrec_unref(&gone);
        kr_watch_publish(api->hub, KR_WATCH_DELETED, p->rec, prev);
    } else {
        kr_objmap_put(ks->live, kr_objrec_ref(p->rec));
        kr_watch_publish(api->hub, prev ? KR_WATCH_MODIFIED : KR_WATCH_ADDED, p->rec, prev);
    }
    kr_objrec_unref(&prev);
    api->applied_rev = p->rec->rev;
    kr_watch_progress(api->hub, api->applied_rev);
    quota_mark(api, ks, p->rec->ns);
}

static void rotation_done(kr_api_t *api, struct rotation *rot, bool ok, const kr_error_t *err);

static void finish(kr_api_t *api, pending_t *p)
{
    kr_arena_t *a = api->arena;
    const kr_kind_t *kind = p->ks->kind;
    if (p->item.status < 0) {
        if (p->reply)
            kr_broker_deferred_fail(api->broker, &p->reply, p->item.err.reason, p->item.err.message,
                                    NULL);
        else
            KR_ERROR(TAG, "internal write failed", "key=\"%s\" error=\"%s\"", p->key,
                     p->item.err.message);
    } else if (p->item.w.result < 0) {
        if (p->reply) {
            char msg[KR_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "Operation cannot be fulfilled on %s \"%s\": %s",
                     qualified(a, kind), p->rec->name, MSG_MODIFIED);
            kr_broker_deferred_fail(api->broker, &p->reply, KR_E_CONFLICT, msg, NULL);
        }
    } else {
        apply_done(api, p);
        answer_done(api, p);
    }
    /* a Service's allocations: the dropped ones go once the write is in,
     * the taken ones when it failed */
    if (p->item.status < 0 || p->item.w.result < 0)
        kr_svcalloc_abort(api->svcalloc, &p->svc);
    else
        kr_svcalloc_commit(api->svcalloc, &p->svc);
    overlay_pop(api, p->ov);
    p->ks->in_flight--;
    struct rotation *rot = p->rot;
    bool rot_ok = p->item.status == 0 && p->item.w.result == 0;
    kr_error_t rot_err = p->item.err;
    kr_objrec_unref(&p->rec);
    kr_objrec_unref(&p->prev);
    free(p->key);
    free(p);
    api->writes_in_flight--;
    kr_arena_reset(a);
    if (rot != NULL)
        rotation_done(api, rot, rot_ok, &rot_err);
}

static void drain_commits(kr_api_t *api)
{
    kr_commit_item_t *it = kr_commit_take_done(api->commit);
    while (it != NULL) {
        kr_commit_item_t *next = it->next;
        finish(api, it->ud);
        it = next;
    }
}

static void on_commit_fd(kr_broker_t *b, int fd, void *ud)
{
    (void)b;
    (void)fd;
    drain_commits(ud);
}

/* ---- shared write steps --------------------------------------------------- */

/* Checks apiVersion/kind of a body (filling them when absent).  Answers
 * and returns false on a mismatch. */
static bool check_type(rq_t *r, kr_value_t *obj)
{
    const kr_kind_t *k = r->kind;
    const char *av = kr_value_map_str(obj, "apiVersion");
    const char *kd = kr_value_map_str(obj, "kind");
    if (av != NULL && strcmp(av, k->api_version) != 0) {
        fail(r, KR_E_BAD_REQUEST,
             "the API version in the data (%s) does not match the expected API version (%s)", av,
             k->api_version);
        return false;
    }
    if (kd != NULL && strcmp(kd, k->kind) != 0) {
        fail(r, KR_E_BAD_REQUEST, "the kind in the data (%s) does not match the expected kind (%s)",
             kd, k->kind);
        return false;
    }
    set_str(r->a, obj, "apiVersion", k->api_version);
    set_str(r->a, obj, "kind", k->kind);
    return true;
}

/* Defaults then validation.  old is NULL on create.  Answers and returns
 * false when the object is invalid. */
/* ObjectMeta's lists and maps are `omitempty`: upstream stores no empty
 * labels, annotations, ownerReferences or finalizers (a patch that removes
 * the last owner leaves no `ownerReferences: []`). */
static void prune_empty_meta(kr_value_t *obj)
{
    static const char *const keys[] = {"labels", "annotations", "ownerReferences", "finalizers"};
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const kr_value_t *v = kr_value_map_get(meta, keys[i]);
        kr_type_t t = kr_value_type(v);
        if ((t == KR_ARRAY || t == KR_MAP) && kr_value_len(v) == 0)
            kr_value_map_del(meta, keys[i]);
    }
}

/* rest.IsOnlyMutatingGCFields: the update changes nothing but what the
 * garbage collector edits (owner references, finalizers, deletion
 * fields).  managedFields are left out of the comparison too: the
 * collector's own write moves them. */
static bool only_gc_fields(kr_arena_t *a, const kr_value_t *obj, const kr_value_t *old)
{
    static const char *const gc[] = {"ownerReferences",
                                     "finalizers",
                                     "selfLink",
                                     "deletionTimestamp",
                                     "deletionGracePeriodSeconds",
                                     "managedFields"};
    kr_value_t *x = kr_value_copy(a, obj), *y = kr_value_copy(a, old);
    kr_value_t *xm = kr_value_map_get(x, "metadata"), *ym = kr_value_map_get(y, "metadata");
    for (size_t i = 0; i < sizeof gc / sizeof gc[0]; i++) {
        kr_value_map_del(xm, gc[i]);
        kr_value_map_del(ym, gc[i]);
    }
    return kr_value_equal(x, y);
}

/* Escalation prevention on the RBAC kinds (pkg/registry/rbac/<kind>/
 * policybased): when api.authorizer names an authorizer and the request
 * carries its user (`auth`, which the REST gateway forwards), the object
 * as it will be stored is the authorizer's to allow (check_grant: the
 * user holds what it grants, or may escalate / bind).  Upstream skips the
 * check for system:masters (EscalationAllowed) and for updates that only
 * touch the collector's fields.  Requests without `auth` come from
 * plugins in the process and are not checked yet.  Answers 403 (or the
 * authorizer's error) and returns false when refused. */
static bool check_escalation(rq_t *r, const kr_value_t *obj, const kr_value_t *old)
{
    kr_api_t *api = r->api;
    const kr_kind_t *k = r->kind;
    if (api->authorizer == NULL || !k->builtin ||
        strcmp(k->group, "rbac.authorization.k8s.io") != 0)
        return true;
    const kr_value_t *auth = kr_value_map_get(rq_msg(r), "auth");
    if (kr_value_type(auth) != KR_MAP)
        return true;
    const char *name = kr_value_map_str(kr_value_map_get(obj, "metadata"), "name");
    kr_error_t err;
    kr_error_clear(&err);
    kr_authz_user_t user;
    if (kr_authz_user_from_value(auth, r->a, &user, &err) < 0) {
        fail_err(r, &err);
        return false;
    }
    for (size_t i = 0; i < user.ngroups; i++)
        if (strcmp(user.groups[i], "system:masters") == 0)
            return true;
    if (old != NULL && only_gc_fields(r->a, obj, old))
        return true;
    const kr_authz_ops_t *ops;
    void *self;
    if (kr_authz_find(api->authorizer, &ops, &self, &err) < 0) {
        /* refused, not let through: the configured check cannot run */
        fail(r, KR_E_INTERNAL, "api.authorizer: %s", err.message);
        return false;
    }
    if (ops->check_grant(self, &user, k->kind, obj, r->a, &err) == 0)
        return true;
    if (err.reason != KR_E_OK && err.reason != KR_E_FORBIDDEN) {
        /* not a refusal (a binding's role that does not exist: upstream
         * answers its NotFound as it is) */
        fail_err(r, &err);
        return false;
    }
    fail(r, KR_E_FORBIDDEN, "%s \"%s\" is forbidden: %s", qualified(r->a, k), name ? name : "",
         err.message);
    return false;
}

/* ---- LimitRanger and ResourceQuota (quota.h) ------------------------------------- */

typedef struct quota_walk {
    kr_api_t *api;
    const char *prefix; /* the kind's store prefix and "<ns>/" */
    size_t prefix_len;
    const char **skip; /* names with a write in flight (their overlay state counts) */
    size_t nskip;
    kr_objmap_fn fn;
    void *ud;
} quota_walk_t;

static bool quota_walk_live(kr_objrec_t *rec, void *ud)
{
    quota_walk_t *w = ud;
    for (size_t i = 0; i < w->nskip; i++)
        if (strcmp(w->skip[i], rec->name) == 0)
            return true;
    return w->fn(rec, w->ud);
}

/* The objects of namespace ns in the cache (the store for a cold kind). */
static void quota_walk_cache(kr_api_t *api, kstate_t *ks, const char *ns, kr_objmap_fn fn, void *ud)
{
    if (ks->cold) {
        kr_error_t err;
        cold_walk(api, ks, ns, NULL, NULL, 0, fn, ud, NULL, &err);
    } else {
        kr_objmap_walk(ks->live, ns, NULL, NULL, fn, ud);
    }
}

/* kr_quota_src_t.walk: the cache (the store for a cold kind) with the
 * writes in flight over it, so that a create admitted but not yet
 * committed counts. */
static bool quota_walk(void *ctx, const char *group, const char *plural, const char *ns,
                       kr_objmap_fn fn, void *ud)
{
    kr_api_t *api = ctx;
    const kr_kind_t *kind = kr_registry_find(api->reg, group, plural);
    kstate_t *ks = kind ? kstate_of(api, kind) : NULL;
    if (ks == NULL || !kind->namespaced || strcmp(kind->plural, plural) != 0)
        return false;
    quota_walk_t w = {.api = api, .fn = fn, .ud = ud};
    if (ks->in_flight == 0) { /* nothing of the kind on its way: the cache alone */
        quota_walk_cache(api, ks, ns, fn, ud);
        return true;
    }
    w.prefix = kr_arena_printf(api->arena, "%s%s/", kind->store_prefix, ns);
    w.prefix_len = strlen(w.prefix);
    size_t cap = 0;
    for (size_t b = 0; b < OVERLAY_BUCKETS; b++)
        for (overlay_t *o = api->overlay[b]; o; o = o->next) {
            if (strncmp(o->key, w.prefix, w.prefix_len) != 0)
                continue;
            if (w.nskip == cap) {
                cap = cap ? cap * 2 : 16;
                const char **n = kr_arena_alloc(api->arena, cap * sizeof *n);
                if (w.nskip)
                    memcpy(n, w.skip, w.nskip * sizeof *n);
                w.skip = n;
            }
            w.skip[w.nskip++] = o->key + w.prefix_len;
        }
    bool go_on = true;
    for (size_t b = 0; b < OVERLAY_BUCKETS && go_on; b++)
        for (overlay_t *o = api->overlay[b]; o && go_on; o = o->next)
            if (o->state != NULL && strncmp(o->key, w.prefix, w.prefix_len) == 0)
                go_on = fn(o->state, ud);
    if (go_on)
        quota_walk_cache(api, ks, ns, quota_walk_live, &w);
    return true;
}

static kr_quota_src_t quota_src(kr_api_t *api)
{
    return (kr_quota_src_t){.walk = quota_walk, .ctx = api, .cache = api->quota_cache};
}

/* LimitRanger's defaults for a Pod being created (after its own). */
static void admit_limits_default(rq_t *r, kr_value_t *obj)
{
    kr_quota_src_t src = quota_src(r->api);
    kr_admit_pod_limits_default(r->a, &src, r->ns, obj);
}

/* LimitRanger's and ResourceQuota's checks of a create (old NULL) or an
 * update. */
static bool admit_quota(rq_t *r, kr_value_t *obj, const kr_value_t *old, const char *name)
{
    if (!r->kind->namespaced)
        return true;
    kr_quota_src_t src = quota_src(r->api);
    kr_error_t err;
    kr_error_clear(&err);
    int rc = 0;
    const char *ns = kr_value_map_str(kr_value_map_get(obj, "metadata"), "namespace");
    if (ns == NULL)
        return true; /* validation refused it */
    if (old == NULL && r->kind == r->api->pod_kind)
        rc = kr_admit_pod_limits(r->a, &src, ns, obj, &err);
    if (rc == 0)
        rc = kr_admit_quota(r->a, &src, r->kind->group, r->kind->plural, ns, obj, old, &err);
    if (rc == 0)
        return true;
    fail(r, err.reason, "%s \"%s\" is forbidden: %s", qualified(r->a, r->kind), name ? name : "",
         err.message);
    return false;
}

static bool default_and_validate(rq_t *r, kr_value_t *obj, const kr_value_t *old, bool status)
{
    const kr_kind_t *k = r->kind;
    prune_empty_meta(obj);
    if (k->hooks.defaults)
        k->hooks.defaults(r->a, obj);
    if (k->schema)
        kr_schema_defaults(r->a, k, obj);
    /* upstream: on the decoded (defaulted) object, before the strategy */
    if (!status && !check_escalation(r, obj, old))
        return false;
    if (old == NULL && !status && k == r->api->pod_kind)
        admit_limits_default(r, obj);
    if (old == NULL && k->hooks.prepare_create)
        k->hooks.prepare_create(r->a, obj);
    if (old != NULL && !status && !r->finalize && k->hooks.prepare_update)
        k->hooks.prepare_update(r->a, obj, old);
    kr_validation_t v;
    kr_validation_init(&v, r->a);
    if (status) {
        if (k->hooks.validate_status)
            k->hooks.validate_status(&v, obj, old);
    } else if (k->hooks.validate) {
        k->hooks.validate(&v, obj, old);
    } else {
        kr_validate_object_meta(&v, kr_value_map_get(obj, "metadata"),
                                old ? kr_value_map_get(old, "metadata") : NULL, k->namespaced,
                                KR_NAME_DNS1123_SUBDOMAIN);
    }
    if (k->schema)
        kr_schema_check(&v, k, obj);
    if (!kr_validation_ok(&v)) {
        fail_invalid(r, &v, kr_value_map_str(kr_value_map_get(obj, "metadata"), "name"));
        return false;
    }
    return true;
}

/* Admission that reads other objects (admission.h): `mutating` before
 * defaults and validation, else after them, as upstream's admission
 * chain runs around the strategy's validation. */
static bool admit(rq_t *r, kr_value_t *obj, const char *name, bool mutating)
{
    kr_api_t *api = r->api;
    kr_error_t err;
    kr_error_clear(&err);
    const kr_objmap_t *classes = api->pc_state ? api->pc_state->live : NULL;
    int rc = 0;
    if (mutating && r->kind == api->pod_kind) {
        /* upstream's plugin order: ServiceAccount, Priority,
         * DefaultTolerationSeconds (the last never refuses) */
        /* a pod of a namespace that does not exist is NamespaceLifecycle's
         * to refuse (check_namespace), as upstream's order has it */
        if (api->opts.admit_service_account && kr_objmap_get(api->ns_state->live, "", r->ns))
            rc = kr_admit_pod_serviceaccount(r->a, api->sa_state ? api->sa_state->live : NULL,
                                             r->ns, obj, &err);
        if (rc == 0) {
            kr_admit_pod_default_tolerations(r->a, obj, api->opts.not_ready_toleration_s,
                                             api->opts.unreachable_toleration_s);
            rc = kr_admit_pod_priority(r->a, &api->prio, classes, obj, &err);
        }
    } else if (!mutating && api->pc_state != NULL && r->kind == api->pc_state->kind)
        rc = kr_admit_priorityclass(r->a, classes, obj, &err);
    if (rc == 0)
        return true;
    fail(r, err.reason, "%s \"%s\" is forbidden: %s", qualified(r->a, r->kind), name ? name : "",
         err.message);
    return false;
}

/* The namespace of a create must exist and not be terminating. */
static bool check_namespace(rq_t *r, const char *name)
{
    if (!r->kind->namespaced)
        return true;
    kr_objrec_t *ns = kr_objmap_get(r->api->ns_state->live, "", r->ns);
    if (ns == NULL) {
        fail(r, KR_E_NOT_FOUND, "namespaces \"%s\" not found", r->ns);
        return false;
    }
    if (ns->terminating) {
        fail(r, KR_E_FORBIDDEN,
             "%s \"%s\" is forbidden: unable to create new content in namespace %s because it "
             "is being terminated",
             qualified(r->a, r->kind), name, r->ns);
        return false;
    }
    return true;
}

/* Whether anything but metadata and status differs. */
static bool spec_changed(const kr_value_t *a, const kr_value_t *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const kr_value_t *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < kr_value_len(x); i++) {
            const char *k = kr_value_map_key(x, i);
            if (strcmp(k, "metadata") == 0 || strcmp(k, "status") == 0 ||
                strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0)
                continue;
            if (!kr_value_equal(kr_value_map_val(x, i), kr_value_map_get(y, k)))
                return true;
        }
    }
    return false;
}

/* Equal except for metadata.resourceVersion. */
static bool same_object(kr_arena_t *a, const kr_value_t *x, const kr_value_t *y)
{
    kr_value_t *cx = kr_value_copy(a, x), *cy = kr_value_copy(a, y);
    kr_value_map_del(kr_value_map_get(cx, "metadata"), "resourceVersion");
    kr_value_map_del(kr_value_map_get(cy, "metadata"), "resourceVersion");
    return kr_value_equal(cx, cy);
}

static bool has_finalizers(const kr_value_t *obj)
{
    return kr_value_len(kr_value_get(obj, "metadata.finalizers")) > 0;
}

/* Namespaces also wait for spec.finalizers (the namespace controller). */
static bool deletion_blocked(const kr_kind_t *kind, const kr_value_t *obj)
{
    if (has_finalizers(obj))
        return true;
    return kind->builtin && strcmp(kind->kind, "Namespace") == 0 &&
           kr_value_len(kr_value_get(obj, "spec.finalizers")) > 0;
}

/* ---- get -------------------------------------------------------------------- */

static kr_value_t *scale_of(rq_t *r, const kr_objrec_t *rec, kr_value_t *obj);

static void op_get(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    rq_t r;
    if (!rq_begin(&r, api, req) || !rq_need_name(&r))
        goto out;
    kr_objrec_t *rec;
    if (r.ks->cold) {
        char *key = store_key(r.kind, r.ns, r.name);
        rec = cold_get(api, r.ks, key);
        free(key);
    } else {
        rec = kr_objmap_get(r.ks->live, r.ns, r.name);
    }
    if (rec == NULL) {
        fail_not_found(&r, r.name);
        goto out;
    }
    if (r.sub == NULL || strcmp(r.sub, "status") == 0) {
        if (r.sub != NULL && !sub_supported(&r, KR_SUB_STATUS, "status"))
            goto out;
        kr_broker_reply_raw(b, req, 200, rec->data, rec->len, NULL);
    } else if (strcmp(r.sub, "scale") == 0) {
        if (!sub_supported(&r, KR_SUB_SCALE, "scale"))
            goto out;
        kr_value_t *scale = scale_of(&r, rec, kr_objrec_decode(rec, r.a));
        kr_broker_reply(b, req, 200, scale, NULL);
    } else {
        fail(&r, KR_E_NOT_FOUND, "the server could not find the requested resource (%s/%s)",
             qualified(r.a, r.kind), r.sub);
    }
out:
    kr_arena_reset(api->arena);
}

kr_value_t *kr_api_lookup(kr_api_t *api, const char *res, const char *ns, const char *name,
                          kr_arena_t *arena)
{
    const kr_kind_t *kind = kr_registry_by_res(api->reg, res, strlen(res));
    kstate_t *ks = kind ? kstate_of(api, kind) : NULL;
    if (ks == NULL || ks->cold)
        return NULL;
    kr_objrec_t *rec = kr_objmap_get(ks->live, ns, name);
    return rec ? kr_objrec_decode(rec, arena) : NULL;
}

typedef struct api_walk {
    const char *field, *value;
    kr_api_walk_fn fn;
    void *ud;
    kr_arena_t *arena;
} api_walk_t;

static bool api_walk_one(kr_objrec_t *rec, void *ud)
{
    api_walk_t *w = ud;
    if (w->field != NULL) {
        const char *v = kr_objrec_field(rec, w->field);
        if (v == NULL || strcmp(v, w->value) != 0)
            return true;
    }
    return w->fn(kr_objrec_decode(rec, w->arena), w->ud);
}

void kr_api_walk(kr_api_t *api, const char *res, const char *ns, const char *field,
                 const char *value, kr_api_walk_fn fn, void *ud, kr_arena_t *arena)
{
    const kr_kind_t *kind = kr_registry_by_res(api->reg, res, strlen(res));
    kstate_t *ks = kind ? kstate_of(api, kind) : NULL;
    if (ks == NULL || ks->cold)
        return;
    api_walk_t w = {field, value, fn, ud, arena};
    kr_objmap_walk(ks->live, ns, NULL, NULL, api_walk_one, &w);
}

/* ---- list --------------------------------------------------------------------- */

/* Continue tokens are upstream's shape: base64 of
 * {"v":"meta.k8s.io/v1","rv":N,"start":"<ns>/<name>\u0000"}. */
static void make_continue(kr_buf_t *out, int64_t rv, const kr_objrec_t *last)
{
    kr_arena_t *a = kr_arena_new(512);
    kr_value_t *m = kr_value_map(a);
    set_str(a, m, "v", "meta.k8s.io/v1");
    kr_value_map_set(a, m, "rv", kr_value_int(a, rv));
    set_str(a, m, "start", kr_arena_printf(a, "%s/%s", last->ns, last->name));
    kr_buf_t json = KR_BUF_INIT;
    kr_json_encode(m, &json, KR_JSON_COMPACT, NULL);
    /* upstream ends the start key with a NUL so the next page begins
     * strictly after it; we resume strictly after it anyway */
    kr_base64_encode(out, json.data, json.len, KR_B64_STD);
    kr_buf_free(&json);
    kr_arena_destroy(&a);
}

static bool parse_continue(rq_t *r, const char *tok, int64_t *rv, char **after_ns,
                           char **after_name)
{
    kr_buf_t raw = KR_BUF_INIT;
    kr_value_t *m = NULL;
    bool ok = kr_base64_decode(&raw, tok, strlen(tok), KR_B64_STD, NULL) == 0 &&
              kr_json_decode(r->a, raw.data ? raw.data : "", raw.len, &m, NULL) == 0;
    kr_buf_free(&raw);
    const char *start = ok ? kr_value_map_str(m, "start") : NULL;
    const char *v = ok ? kr_value_map_str(m, "v") : NULL;
    if (start == NULL || v == NULL || strcmp(v, "meta.k8s.io/v1") != 0 ||
        kr_value_type(kr_value_map_get(m, "rv")) != KR_INT) {
        fail(r, KR_E_BAD_REQUEST, "continue key is not valid: %s",
             ok ? "incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
                : "illegal base64 data");
        return false;
    }
    *rv = kr_value_as_int(kr_value_map_get(m, "rv"), 0);
    size_t n = strlen(start);
    if (n > 0 && start[n - 1] == '\0')
        n--;
    const char *slash = memchr(start, '/', n);
    if (slash == NULL) {
        fail(r, KR_E_BAD_REQUEST, "continue key is not valid: the start key has no namespace");
        return false;
    }
    *after_ns = kr_arena_strndup(r->a, start, (size_t)(slash - start));
    *after_name = kr_arena_strndup(r->a, slash + 1, n - (size_t)(slash - start) - 1);
    return true;
}

typedef struct list_ctx {
    kr_labelsel_t *ls;
    kr_fieldsel_t *fs;
    const kr_objrec_t **items;
    size_t n, cap, limit;
    bool more;
    bool own; /* items are references (a cold kind's records) */
} list_ctx_t;

static bool rec_matches(const kr_objrec_t *rec, const kr_labelsel_t *ls, const kr_fieldsel_t *fs)
{
    return (ls == NULL || kr_labelsel_match(ls, rec->labels)) &&
           (fs == NULL || kr_objrec_fieldsel_match(rec, fs));
}

static bool list_visit(kr_objrec_t *rec, void *ud)
{
    list_ctx_t *c = ud;
    if (!rec_matches(rec, c->ls, c->fs))
        return true;
    if (c->limit > 0 && c->n == c->limit) {
        c->more = true;
        return false;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->items = xrealloc(c->items, c->cap * sizeof *c->items);
    }
    c->items[c->n++] = c->own ? kr_objrec_ref(rec) : rec;
    return true;
}

static void list_ctx_free(list_ctx_t *c)
{
    kr_labelsel_destroy(&c->ls);
    kr_fieldsel_destroy(&c->fs);
    for (size_t i = 0; c->own && i < c->n; i++) {
        kr_objrec_t *rec = (kr_objrec_t *)c->items[i];
        kr_objrec_unref(&rec);
    }
    free(c->items);
}

/* Visits the objects of a list or deletecollection: the cache's, or the
 * store's for a cold kind (then c->own, and *rev is the revision read, when
 * it is not a continued list's).  False after answering a store failure. */
static bool list_walk(rq_t *r, list_ctx_t *c, const char *after_ns, const char *after_name,
                      int64_t *rev)
{
    const char *ns = r->kind->namespaced ? r->ns : NULL;
    if (!r->ks->cold) {
        kr_objmap_walk(r->ks->live, ns, after_ns, after_name, list_visit, c);
        return true;
    }
    c->own = true;
    kr_error_t err;
    int64_t at;
    if (!cold_walk(r->api, r->ks, ns, after_ns, after_name, 0, list_visit, c, &at, &err)) {
        fail_err(r, &err);
        return false;
    }
    if (rev != NULL)
        *rev = at;
    return true;
}

/* Compiles the request's selectors; answers and returns false when one is
 * malformed or names an unsupported field. */
static bool parse_selectors(rq_t *r, kr_labelsel_t **ls, kr_fieldsel_t **fs)
{
    kr_error_t err;
    *ls = NULL;
    *fs = NULL;
    const char *l = rq_opt_str(r, "labelSelector");
    const char *f = rq_opt_str(r, "fieldSelector");
    if (l != NULL && (*ls = kr_labelsel_parse(l, &err)) == NULL) {
        fail_err(r, &err);
        return false;
    }
    if (f != NULL) {
        *fs = kr_fieldsel_parse(f, &err);
        if (*fs == NULL) {
            kr_labelsel_destroy(ls);
            fail_err(r, &err);
            return false;
        }
        size_t n = 0;
        while (r->kind->field_selectors[n])
            n++;
        const char **sup = kr_arena_alloc(r->a, (n + 3) * sizeof *sup);
        sup[0] = "metadata.name";
        sup[1] = "metadata.namespace";
        for (size_t i = 0; i < n; i++)
            sup[2 + i] = r->kind->field_selectors[i];
        sup[n + 2] = NULL;
        if (kr_fieldsel_check(*fs, sup, &err) < 0) {
            kr_labelsel_destroy(ls);
            kr_fieldsel_destroy(fs);
            fail_err(r, &err);
            return false;
        }
    }
    return true;
}

/* resourceVersion and resourceVersionMatch of a list, as upstream's
 * ValidateListOptions and its storage read them.  The cache holds the
 * current state only: a list at an exact older revision is answered as a
 * compacted one would be (410), a revision from the future as upstream
 * after its wait (504).  Answers and returns false when the list cannot
 * be served. */
static bool check_list_rv(rq_t *r, int64_t current_rev)
{
    const char *rv = rq_opt_str(r, "resourceVersion");
    const char *match = rq_opt_str(r, "resourceVersionMatch");
    kr_validation_t v;
    kr_validation_init(&v, r->a);
    if (match != NULL) {
        if (rv == NULL)
            kr_field_forbidden(&v, "resourceVersionMatch",
                               "resourceVersionMatch is forbidden unless resourceVersion is "
                               "provided");
        if (rq_opt_str(r, "continue") != NULL)
            kr_field_forbidden(&v, "resourceVersionMatch",
                               "resourceVersionMatch is forbidden when continue is provided");
        if (strcmp(match, "Exact") != 0 && strcmp(match, "NotOlderThan") != 0) {
            static const char *const ok[] = {"Exact", "NotOlderThan", "", NULL};
            kr_field_not_supported(&v, "resourceVersionMatch", kr_value_str(r->a, match), ok);
        }
        if (strcmp(match, "Exact") == 0 && rv != NULL && strcmp(rv, "0") == 0)
            kr_field_forbidden(&v, "resourceVersionMatch",
                               "resourceVersionMatch \"exact\" is forbidden for resourceVersion "
                               "\"0\"");
    }
    if (!kr_validation_ok(&v)) {
        kr_error_t err;
        kr_validation_error(&v, "meta.k8s.io", "ListOptions", "", &err);
        kr_broker_fail_details(r->api->broker, r->req, KR_E_INVALID, err.message,
                               kr_validation_details(&v, r->a, "meta.k8s.io", "ListOptions", ""));
        return false;
    }
    if (rv == NULL || strcmp(rv, "0") == 0)
        return true;
    int64_t want;
    if (!parse_rv(rv, &want)) {
        fail(r, KR_E_BAD_REQUEST, "invalid resource version \"%s\"", rv);
        return false;
    }
    if (want > current_rev) {
        fail(r, KR_E_TIMEOUT, "Too large resource version: %" PRId64 ", current: %" PRId64, want,
             current_rev);
        return false;
    }
    if (match != NULL && strcmp(match, "Exact") == 0 && want != current_rev) {
        fail(r, KR_E_EXPIRED, "The resourceVersion for the provided list is too old.");
        return false;
    }
    return true;
}

static void op_list(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    rq_t r;
    list_ctx_t c = {0};
    kr_buf_t out = KR_BUF_INIT;
    if (!rq_begin(&r, api, req))
        goto out;
    int64_t limit = kr_value_as_int(rq_opt(&r, "limit"), 0);
    if (limit < 0) {
        fail(&r, KR_E_BAD_REQUEST, "limit must not be negative");
        goto out;
    }
    c.limit = (size_t)limit;
    int64_t list_rv = api->applied_rev;
    if (!check_list_rv(&r, list_rv))
        goto out;
    char *after_ns = NULL, *after_name = NULL;
    const char *tok = rq_opt_str(&r, "continue");
    if (tok != NULL) {
        if (!parse_continue(&r, tok, &list_rv, &after_ns, &after_name))
            goto out;
        if (list_rv < kr_watch_oldest(api->hub, r.kind)) {
            fail(&r, KR_E_EXPIRED,
                 "The provided continue parameter is too old to display a consistent list "
                 "result. You can start a new list without the continue parameter.");
            goto out;
        }
    }
    if (!parse_selectors(&r, &c.ls, &c.fs) ||
        !list_walk(&r, &c, after_ns, after_name, tok == NULL ? &list_rv : NULL))
        goto out;

    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, buf_write);
    msgpack_pack_map(&pk, 4);
    pk_cstr(&pk, "apiVersion");
    pk_cstr(&pk, r.kind->api_version);
    pk_cstr(&pk, "kind");
    pk_cstr(&pk, r.kind->list_kind);
    pk_cstr(&pk, "metadata");
    msgpack_pack_map(&pk, c.more ? 2 : 1);
    char rvbuf[24];
    snprintf(rvbuf, sizeof rvbuf, "%" PRId64, list_rv);
    pk_cstr(&pk, "resourceVersion");
    pk_cstr(&pk, rvbuf);
    if (c.more) {
        pk_cstr(&pk, "continue");
        kr_buf_t tokbuf = KR_BUF_INIT;
        make_continue(&tokbuf, list_rv, c.items[c.n - 1]);
        msgpack_pack_str(&pk, tokbuf.len);
        msgpack_pack_str_body(&pk, tokbuf.data, tokbuf.len);
        kr_buf_free(&tokbuf);
    }
    pk_cstr(&pk, "items");
    msgpack_pack_array(&pk, (uint32_t)c.n);
    size_t total = out.len;
    for (size_t i = 0; i < c.n; i++)
        total += c.items[i]->len;
    kr_buf_reserve(&out, total - out.len);
    for (size_t i = 0; i < c.n; i++)
        kr_buf_append(&out, c.items[i]->data, c.items[i]->len);
    kr_broker_reply_raw(b, req, 200, out.data, out.len, NULL);
out:
    list_ctx_free(&c);
    kr_buf_free(&out);
    kr_arena_reset(api->arena);
}

/* ---- create ----------------------------------------------------------------- */

static void do_bind(rq_t *r);

/* The field manager of a write: opts.fieldManager, else derived from the
 * client's User-Agent (opts.userAgent) as upstream does. */
static const char *manager_of(rq_t *r)
{
    return kr_managed_manager_name(r->a, rq_opt_str(r, "fieldManager"), rq_opt_str(r, "userAgent"));
}

/* Checks fieldManager/force for a write; answers 422 and returns false when
 * they are wrong.  `what` is the options kind (CreateOptions, ...). */
static bool check_write_opts(rq_t *r, bool apply, const char *what)
{
    kr_validation_t v;
    kr_validation_init(&v, r->a);
    kr_managed_check_options(&v, apply, rq_opt_str(r, "fieldManager"), rq_opt(r, "force") != NULL);
    if (kr_validation_ok(&v))
        return true;
    kr_error_t err;
    kr_validation_error(&v, "meta.k8s.io", what, "", &err);
    kr_broker_fail_details(r->api->broker, r->req, KR_E_INVALID, err.message,
                           kr_validation_details(&v, r->a, "meta.k8s.io", what, ""));
    return false;
}

/* Creates `obj` (a map) for the request: namespace, name, system fields,
 * defaults, validation, managedFields, then the write. */
static void do_create(rq_t *r, kr_value_t *obj)
{
    if (!check_type(r, obj))
        return;
    kr_value_t *meta = map_child(r->a, obj, "metadata");
    const char *body_ns = kr_value_map_str(meta, "namespace");
    if (r->kind->namespaced) {
        if (r->ns == NULL)
            r->ns = (char *)(body_ns && *body_ns ? body_ns : "default");
        if (body_ns != NULL && *body_ns && strcmp(body_ns, r->ns) != 0) {
            fail(r, KR_E_BAD_REQUEST,
                 "the namespace of the provided object does not match the namespace sent on the "
                 "request");
            return;
        }
        set_str(r->a, meta, "namespace", r->ns);
    } else {
        r->ns = "";
        kr_value_map_del(meta, "namespace");
    }
    const char *rv = kr_value_map_str(meta, "resourceVersion");
    if (rv != NULL && *rv) {
        fail(r, KR_E_BAD_REQUEST, "resourceVersion should not be set on objects to be created");
        return;
    }
    const char *name = kr_value_map_str(meta, "name");
    const char *gen = kr_value_map_str(meta, "generateName");
    /* the name mutating admission names: upstream's admission runs before
     * the name is generated (extractResourceName) */
    const char *admit_name = name != NULL && *name ? name : gen != NULL && *gen ? gen : "Unknown";
    if ((name == NULL || *name == '\0') && gen != NULL && *gen) {
        for (int i = 0; i < API_GENNAME_TRIES; i++) {
            char sfx[6];
            gen_suffix(sfx);
            /* upstream trims the prefix so the name fits 63 characters */
            size_t keep = strlen(gen) > 58 ? 58 : strlen(gen);
            name = kr_arena_printf(r->a, "%.*s%s", (int)keep, gen, sfx);
            char *k = store_key(r->kind, r->ns, name);
            bool taken = current(r->api, r->ks, k, r->ns, name) != NULL;
            free(k);
            if (!taken)
                break;
        }
        set_str(r->a, meta, "name", name);
    }
    if (r->name != NULL && name != NULL && strcmp(r->name, name) != 0) {
        fail(r, KR_E_BAD_REQUEST,
             "the name of the object (%s) does not match the name on the URL (%s)", name, r->name);
        return;
    }
    /* system fields */
    char uid[37], ts[32];
    new_uid(uid);
    now_rfc3339(ts, sizeof ts);
    set_str(r->a, meta, "uid", uid);
    set_str(r->a, meta, "creationTimestamp", ts);
    kr_value_map_del(meta, "deletionTimestamp");
    kr_value_map_del(meta, "deletionGracePeriodSeconds");
    kr_value_map_del(meta, "selfLink");
    if (tracks_generation(r->kind))
        kr_value_map_set(r->a, meta, "generation", kr_value_int(r->a, 1));
    else
        kr_value_map_del(meta, "generation");
    if (!admit(r, obj, admit_name, true) || !default_and_validate(r, obj, NULL, false) ||
        !admit(r, obj, name, false) || !admit_quota(r, obj, NULL, name))
        return;
    if (!r->applied) /* after defaulting: defaulted fields are the creator's, as upstream */
        kr_managed_update(r->a, r->kind, NULL, obj, manager_of(r), NULL, ts);
    name = kr_value_map_str(kr_value_map_get(obj, "metadata"), "name");
    if (!check_namespace(r, name))
        return;
    char *key = store_key(r->kind, r->ns, name);
    if (current(r->api, r->ks, key, r->ns, name) != NULL) {
        fail(r, KR_E_ALREADY_EXISTS, "%s \"%s\" already exists", qualified(r->a, r->kind), name);
        free(key);
        return;
    }
    write_obj(r, key, obj, NULL, KR_STORE_PUT, W_CREATE, 201, true);
}

static void op_create(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    (void)b;
    rq_t r;
    if (!rq_begin(&r, api, req))
        goto out;
    if (r.sub != NULL) {
        if (strcmp(r.sub, "binding") == 0 && (r.kind->subresources & KR_SUB_BINDING)) {
            if (rq_need_name(&r))
                do_bind(&r);
        } else {
            fail(&r, KR_E_METHOD_NOT_ALLOWED, "create is not supported on %s/%s",
                 qualified(r.a, r.kind), r.sub);
        }
        goto out;
    }
    kr_value_t *obj = rq_obj(&r);
    if (kr_value_type(obj) != KR_MAP) {
        fail(&r, KR_E_BAD_REQUEST, "the body of a create must be a %s object (a map)",
             r.kind->kind);
        goto out;
    }
    if (r.kind->builtin && strcmp(r.kind->kind, "Binding") == 0) {
        /* POST .../bindings: binds the pod named by the Binding */
        const char *pod = kr_value_as_str(kr_value_get(obj, "metadata.name"));
        r.kind = kr_registry_by_res(api->reg, "v1/pods", 7);
        r.ks = kstate_of(api, r.kind);
        r.name = pod ? kr_arena_strdup(r.a, pod) : NULL;
        if (rq_need_name(&r))
            do_bind(&r);
        goto out;
    }
    if (!check_write_opts(&r, false, "CreateOptions"))
        goto out;
    do_create(&r, obj);
out:
    kr_arena_reset(api->arena);
}

/* ---- update ----------------------------------------------------------------- */

/* Writes `obj` as the new state of `cur` (rv precondition already
 * checked): keeps what a client may not change, defaults, validates,
 * bumps generation, skips a no-op, turns a terminating object without
 * finalizers into a delete.  `status`: a status-subresource write. */
static void write_update(rq_t *r, const kr_objrec_t *cur, kr_value_t *obj, bool status)
{
    kr_api_t *api = r->api;
    const kr_kind_t *k = r->kind;
    kr_value_t *old = kr_objrec_decode(cur, r->a);
    kr_value_t *old_meta = kr_value_map_get(old, "metadata");
    if (!check_type(r, obj))
        return;
    kr_value_t *meta = map_child(r->a, obj, "metadata");
    const char *name = kr_value_map_str(meta, "name");
    if (name == NULL || strcmp(name, cur->name) != 0) {
        fail(r, KR_E_BAD_REQUEST,
             "the name of the object (%s) does not match the name on the URL (%s)",
             name ? name : "", cur->name);
        return;
    }
    const char *body_ns = kr_value_map_str(meta, "namespace");
    if (k->namespaced) {
        if (body_ns != NULL && *body_ns && strcmp(body_ns, cur->ns) != 0) {
            fail(r, KR_E_BAD_REQUEST,
                 "the namespace of the provided object does not match the namespace sent on "
                 "the request");
            return;
        }
        set_str(r->a, meta, "namespace", cur->ns);
    }
    if (status) {
        /* only status changes through /status (metadata stays too) */
        kr_value_t *st = kr_value_map_get(obj, "status");
        kr_value_t *n = kr_value_copy(r->a, old);
        if (st != NULL)
            kr_value_map_set(r->a, n, "status", kr_value_copy(r->a, st));
        else
            kr_value_map_del(n, "status");
        /* upstream's pod status strategy keeps the QoS class it computed */
        kr_value_t *qos = kr_value_get(old, "status.qosClass");
        const char *nq = kr_value_as_str(kr_value_get(n, "status.qosClass"));
        if (k->builtin && strcmp(k->kind, "Pod") == 0 && qos != NULL && (nq == NULL || !*nq))
            kr_value_set(r->a, n, "status.qosClass", kr_value_copy(r->a, qos), NULL);
        obj = n;
        meta = kr_value_map_get(obj, "metadata");
    } else {
        if (k->subresources & KR_SUB_STATUS) {
            kr_value_t *st = kr_value_map_get(old, "status");
            if (st != NULL)
                kr_value_map_set(r->a, obj, "status", kr_value_copy(r->a, st));
            else
                kr_value_map_del(obj, "status");
        }
        /* system metadata is the server's */
        static const char *const keep[] = {"uid", "creationTimestamp", "deletionTimestamp",
                                           "deletionGracePeriodSeconds", "generation"};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            kr_value_t *v = kr_value_map_get(old_meta, keep[i]);
            if (v != NULL)
                kr_value_map_set(r->a, meta, keep[i], kr_value_copy(r->a, v));
            else
                kr_value_map_del(meta, keep[i]);
        }
        kr_value_map_del(meta, "selfLink");
        /* a terminating object may lose finalizers but not gain new ones
         * (upstream: "no new finalizers can be added if the object is
         * being deleted") */
        if (cur->terminating) {
            kr_value_t *nf = kr_value_map_get(meta, "finalizers");
            kr_value_t *of = kr_value_map_get(old_meta, "finalizers");
            for (size_t i = 0; i < kr_value_len(nf); i++) {
                bool found = false;
                for (size_t j = 0; j < kr_value_len(of) && !found; j++)
                    found = kr_value_equal(kr_value_array_get(nf, i), kr_value_array_get(of, j));
                if (!found) {
                    kr_validation_t v;
                    kr_validation_init(&v, r->a);
                    kr_field_forbidden(&v, "metadata.finalizers",
                                       "no new finalizers can be added if the object is being "
                                       "deleted");
                    fail_invalid(r, &v, cur->name);
                    return;
                }
            }
        }
    }
    set_str(r->a, meta, "resourceVersion", kr_value_map_str(old_meta, "resourceVersion"));
    if (!default_and_validate(r, obj, old, status) ||
        (!status && (!admit(r, obj, name, false) || !admit_quota(r, obj, old, name))))
        return;
    meta = kr_value_map_get(obj, "metadata");
    if (!status && tracks_generation(k) && spec_changed(obj, old))
        kr_value_map_set(r->a, meta, "generation",
                         kr_value_int(r->a, kr_value_map_int(old_meta, "generation", 0) + 1));
    char *key = store_key(k, cur->ns, cur->name);
    if (cur->terminating && !deletion_blocked(k, obj)) {
        /* the last finalizer is gone: the object goes */
        write_obj(r, key, obj, cur, KR_STORE_DELETE, W_UPDATE, 200, true);
        return;
    }
    if (!r->applied) {
        char ts[32];
        now_rfc3339(ts, sizeof ts);
        kr_managed_update(r->a, k, old, obj, manager_of(r),
                          status     ? "status"
                          : r->scale ? "scale"
                                     : NULL,
                          ts);
    }
    if (same_object(r->a, obj, old)) {
        /* upstream skips the write of a no-op update: same resourceVersion */
        free(key);
        if (r->scale) {
            kr_buf_t out = KR_BUF_INIT;
            pack_scale(r->a, k, cur, &out);
            kr_broker_reply_raw(api->broker, r->req, 200, out.data, out.len, NULL);
            kr_buf_free(&out);
        } else {
            kr_broker_reply_raw(api->broker, r->req, 200, cur->data, cur->len, NULL);
        }
        return;
    }
    write_obj(r, key, obj, cur, KR_STORE_PUT, W_UPDATE, 200, true);
}

/* The state an update applies to, with the body's resourceVersion as a
 * precondition.  Answers and returns NULL when absent or stale. */
static kr_objrec_t *update_base(rq_t *r, const char *body_rv)
{
    char *key = store_key(r->kind, r->ns, r->name);
    kr_objrec_t *cur = current(r->api, r->ks, key, r->ns, r->name);
    free(key);
    if (cur == NULL) {
        fail_not_found(r, r->name);
        return NULL;
    }
    if (body_rv != NULL && *body_rv) {
        int64_t want;
        if (!parse_rv(body_rv, &want)) {
            fail(r, KR_E_BAD_REQUEST, "invalid resourceVersion \"%s\"", body_rv);
            return NULL;
        }
        if (want != cur->rev) {
            fail_conflict(r, r->name, MSG_MODIFIED);
            return NULL;
        }
    }
    return cur;
}

static void update_scale(rq_t *r, kr_objrec_t *cur, const kr_value_t *scale);

static void op_update(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    (void)b;
    rq_t r;
    if (!rq_begin(&r, api, req) || !rq_need_name(&r))
        goto out;
    kr_value_t *obj = rq_obj(&r);
    if (!check_write_opts(&r, false, "UpdateOptions"))
        goto out;
    if (kr_value_type(obj) != KR_MAP) {
        fail(&r, KR_E_BAD_REQUEST, "the body of an update must be a %s object (a map)",
             r.sub && strcmp(r.sub, "scale") == 0 ? "Scale" : r.kind->kind);
        goto out;
    }
    bool status = false;
    if (r.sub != NULL) {
        if (strcmp(r.sub, "status") == 0) {
            if (!sub_supported(&r, KR_SUB_STATUS, "status"))
                goto out;
            status = true;
        } else if (strcmp(r.sub, "scale") == 0) {
            if (!sub_supported(&r, KR_SUB_SCALE, "scale"))
                goto out;
            kr_objrec_t *cur = update_base(
                &r, kr_value_map_str(kr_value_map_get(obj, "metadata"), "resourceVersion"));
            if (cur != NULL)
                update_scale(&r, cur, obj);
            goto out;
        } else if (strcmp(r.sub, "finalize") == 0 && r.kind == r.api->ns_state->kind) {
            r.finalize = true;
        } else {
            fail(&r, KR_E_NOT_FOUND, "the server could not find the requested resource (%s/%s)",
                 qualified(r.a, r.kind), r.sub);
            goto out;
        }
    }
    kr_objrec_t *cur =
        update_base(&r, kr_value_map_str(kr_value_map_get(obj, "metadata"), "resourceVersion"));
    if (cur != NULL && r.finalize) {
        /* upstream's namespace finalize strategy: the stored namespace
         * with the body's spec.finalizers, nothing else */
        kr_value_t *n = kr_objrec_decode(cur, r.a);
        kr_value_t *fins = kr_value_get(obj, "spec.finalizers");
        if (fins != NULL)
            kr_value_set(r.a, n, "spec.finalizers", kr_value_copy(r.a, fins), NULL);
        else
            kr_value_map_del(kr_value_map_get(n, "spec"), "finalizers");
        obj = n;
    }
    if (cur != NULL)
        write_update(&r, cur, obj, status);
out:
    kr_arena_reset(api->arena);
}

/* ---- patch ------------------------------------------------------------------- */

/* Server-side apply: the request's configuration merged into the live
 * object (or a new one) for its field manager, with conflicts against the
 * fields other managers own (core/apply.h). */
static void do_apply(rq_t *r, bool status)
{
    kr_value_t *config = rq_obj(r);
    char *key = store_key(r->kind, r->ns, r->name);
    kr_objrec_t *cur = current(r->api, r->ks, key, r->ns, r->name);
    free(key);
    if (cur == NULL && status) {
        fail_not_found(r, r->name);
        return;
    }
    char ts[32];
    now_rfc3339(ts, sizeof ts);
    kr_apply_opts_t o = {
        .manager = rq_opt_str(r, "fieldManager"),
        .force = kr_value_as_bool(rq_opt(r, "force"), false),
        .subresource = status ? "status" : NULL,
        .name = r->name,
        .ns = r->kind->namespaced ? r->ns : "",
        .now = ts,
    };
    kr_value_t *out = NULL, *details = NULL;
    kr_error_t err;
    if (kr_apply(r->a, r->kind, cur ? kr_objrec_decode(cur, r->a) : NULL, config, &o, &out,
                 &details, &err) < 0) {
        if (details != NULL)
            kr_broker_fail_details(r->api->broker, r->req, err.reason, err.message, details);
        else
            fail_err(r, &err);
        return;
    }
    r->applied = true;
    if (cur == NULL)
        do_create(r, out);
    else
        write_update(r, cur, out, status);
}

static void op_patch(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    (void)b;
    rq_t r;
    if (!rq_begin(&r, api, req) || !rq_need_name(&r))
        goto out;
    bool status = false, scale = false;
    if (r.sub != NULL) {
        if (strcmp(r.sub, "status") == 0 && sub_supported(&r, KR_SUB_STATUS, "status"))
            status = true;
        else if (strcmp(r.sub, "scale") == 0 && sub_supported(&r, KR_SUB_SCALE, "scale"))
            scale = true;
        else {
            if (strcmp(r.sub, "status") != 0 && strcmp(r.sub, "scale") != 0)
                fail(&r, KR_E_NOT_FOUND, "the server could not find the requested resource (%s/%s)",
                     qualified(r.a, r.kind), r.sub);
            goto out;
        }
    }
    const char *type = rq_opt_str(&r, "patchType");
    if (type == NULL)
        type = "application/merge-patch+json";
    bool json_patch = strcmp(type, "application/json-patch+json") == 0 || strcmp(type, "json") == 0;
    bool merge = strcmp(type, "application/merge-patch+json") == 0 || strcmp(type, "merge") == 0;
    bool strategic = strcmp(type, "application/strategic-merge-patch+json") == 0 ||
                     strcmp(type, "strategic") == 0;
    bool apply = strcmp(type, KR_APPLY_PATCH_TYPE) == 0 || strcmp(type, "apply") == 0;
    if (!json_patch && !merge && !strategic && !apply) {
        fail(&r, KR_E_UNSUPPORTED_MEDIA_TYPE,
             "the body of the request was in an unknown format - accepted media types include: "
             "application/json-patch+json, application/merge-patch+json, "
             "application/strategic-merge-patch+json, application/apply-patch+yaml");
        goto out;
    }
    if (!check_write_opts(&r, apply, "PatchOptions"))
        goto out;
    if (apply) {
        if (scale)
            fail(&r, KR_E_UNSUPPORTED_MEDIA_TYPE,
                 "the body of the request was in an unknown format - accepted media types "
                 "include: application/json-patch+json, application/merge-patch+json");
        else
            do_apply(&r, status);
        goto out;
    }
    kr_value_t *patch = rq_obj(&r);
    char *key = store_key(r.kind, r.ns, r.name);
    kr_objrec_t *cur = current(api, r.ks, key, r.ns, r.name);
    free(key);
    if (cur == NULL) {
        fail_not_found(&r, r.name);
        goto out;
    }
    kr_value_t *base = kr_objrec_decode(cur, r.a);
    if (scale)
        base = scale_of(&r, cur, base);
    kr_value_t *out_obj = NULL;
    kr_error_t err;
    int rc;
    if (json_patch)
        rc = kr_json_patch_apply(r.a, base, patch, &out_obj, &err);
    else if (strategic) /* a Scale has no lists: no schema needed for it */
        rc = kr_strategic_patch_apply(r.a, scale ? NULL : r.kind, base, patch, &out_obj, &err);
    else
        rc = kr_merge_patch_apply(r.a, base, patch, &out_obj, &err);
    if (rc < 0) {
        fail_err(&r, &err);
        goto out;
    }
    if (kr_value_type(out_obj) != KR_MAP) {
        fail(&r, KR_E_BAD_REQUEST, "the patch turned the object into a %s",
             kr_type_name(kr_value_type(out_obj)));
        goto out;
    }
    /* a resourceVersion in the patched result is a precondition, as
     * upstream's patcher treats it */
    const char *prv = kr_value_map_str(kr_value_map_get(out_obj, "metadata"), "resourceVersion");
    if (prv != NULL && *prv) {
        int64_t want;
        if (!parse_rv(prv, &want) || want != cur->rev) {
            fail_conflict(&r, r.name, MSG_MODIFIED);
            goto out;
        }
    }
    if (scale)
        update_scale(&r, cur, out_obj);
    else
        write_update(&r, cur, out_obj, status);
out:
    kr_arena_reset(api->arena);
}

/* ---- scale ---------------------------------------------------------------------- */

/* autoscaling/v1 Scale of an object. */
static kr_value_t *scale_of(rq_t *r, const kr_objrec_t *rec, kr_value_t *obj)
{
    return scale_value(r->a, r->kind, rec, obj);
}

/* autoscaling/v1 Scale of a stored record, as msgpack. */
static void pack_scale(kr_arena_t *a, const kr_kind_t *k, const kr_objrec_t *rec, kr_buf_t *out)
{
    kr_msgpack_encode(scale_value(a, k, rec, kr_objrec_decode(rec, a)), out, NULL);
}

static kr_value_t *scale_value(kr_arena_t *a, const kr_kind_t *k, const kr_objrec_t *rec,
                               kr_value_t *obj)
{
    kr_value_t *s = kr_value_map(a);
    set_str(a, s, "kind", "Scale");
    set_str(a, s, "apiVersion", "autoscaling/v1");
    kr_value_t *m = kr_value_map(a);
    kr_value_t *om = kr_value_map_get(obj, "metadata");
    set_str(a, m, "name", rec->name);
    if (k->namespaced)
        set_str(a, m, "namespace", rec->ns);
    static const char *const copy[] = {"uid", "resourceVersion", "creationTimestamp"};
    for (size_t i = 0; i < 3; i++) {
        kr_value_t *v = kr_value_map_get(om, copy[i]);
        if (v)
            kr_value_map_set(a, m, copy[i], v);
    }
    kr_value_map_set(a, s, "metadata", m);
    kr_value_t *spec = kr_value_map(a);
    kr_value_map_set(
        a, spec, "replicas",
        kr_value_int(a, kr_value_as_int(kr_value_get(obj, k->scale_spec_replicas), 0)));
    kr_value_map_set(a, s, "spec", spec);
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(
        a, st, "replicas",
        kr_value_int(a, kr_value_as_int(kr_value_get(obj, k->scale_status_replicas), 0)));
    if (k->scale_label_selector != NULL) {
        kr_value_t *sel = kr_value_get(obj, k->scale_label_selector);
        if (kr_value_type(sel) == KR_STR) {
            kr_value_map_set(a, st, "selector", sel);
        } else if (kr_value_type(sel) == KR_MAP) {
            kr_labelsel_t *ls = kr_labelsel_from_object(sel, NULL);
            if (ls != NULL) {
                kr_buf_t buf = KR_BUF_INIT;
                kr_labelsel_string(ls, &buf);
                set_str(a, st, "selector", buf.data ? buf.data : "");
                kr_buf_free(&buf);
                kr_labelsel_destroy(&ls);
            }
        }
    }
    kr_value_map_set(a, s, "status", st);
    return s;
}

static void update_scale(rq_t *r, kr_objrec_t *cur, const kr_value_t *scale)
{
    kr_value_t *rep = kr_value_get(scale, "spec.replicas");
    if (kr_value_type(rep) != KR_INT || kr_value_as_int(rep, -1) < 0) {
        kr_validation_t v;
        kr_validation_init(&v, r->a);
        if (rep == NULL)
            kr_field_required(&v, "spec.replicas", NULL);
        else
            kr_field_invalid(&v, "spec.replicas", rep, "must be greater than or equal to 0");
        kr_error_t err;
        kr_validation_error(&v, "autoscaling", "Scale", cur->name, &err);
        kr_broker_fail_details(r->api->broker, r->req, KR_E_INVALID, err.message,
                               kr_validation_details(&v, r->a, "autoscaling", "Scale", cur->name));
        return;
    }
    kr_value_t *obj = kr_objrec_decode(cur, r->a);
    kr_error_t err;
    if (kr_value_set(r->a, obj, r->kind->scale_spec_replicas, kr_value_copy(r->a, rep), &err) < 0) {
        fail_err(r, &err);
        return;
    }
    r->scale = true;
    write_update(r, cur, obj, false);
}

/* ---- binding --------------------------------------------------------------------- */

static void do_bind(rq_t *r)
{
    kr_value_t *body = rq_obj(r);
    const kr_kind_t *bk = kr_registry_by_res(r->api->reg, "v1/bindings", 11);
    if (kr_value_type(body) == KR_MAP && bk != NULL && bk->hooks.validate != NULL) {
        kr_value_t *meta = map_child(r->a, body, "metadata");
        if (kr_value_map_get(meta, "name") == NULL)
            set_str(r->a, meta, "name", r->name);
        if (r->kind->namespaced && kr_value_map_get(meta, "namespace") == NULL)
            set_str(r->a, meta, "namespace", r->ns);
        kr_validation_t v;
        kr_validation_init(&v, r->a);
        bk->hooks.validate(&v, body, NULL);
        if (!kr_validation_ok(&v)) {
            kr_error_t err;
            kr_validation_error(&v, "", "Binding", r->name, &err);
            kr_broker_fail_details(r->api->broker, r->req, KR_E_INVALID, err.message,
                                   kr_validation_details(&v, r->a, "", "Binding", r->name));
            return;
        }
    }
    const char *node = kr_value_as_str(kr_value_get(body, "target.name"));
    if (node == NULL || *node == '\0') {
        kr_validation_t v;
        kr_validation_init(&v, r->a);
        kr_field_required(&v, "target.name", NULL);
        kr_error_t err;
        kr_validation_error(&v, "", "Binding", r->name, &err);
        kr_broker_fail_details(r->api->broker, r->req, KR_E_INVALID, err.message,
                               kr_validation_details(&v, r->a, "", "Binding", r->name));
        return;
    }
    char *key = store_key(r->kind, r->ns, r->name);
    kr_objrec_t *cur = current(r->api, r->ks, key, r->ns, r->name);
    free(key);
    if (cur == NULL) {
        fail_not_found(r, r->name);
        return;
    }
    kr_value_t *obj = kr_objrec_decode(cur, r->a);
    const char *have = kr_value_as_str(kr_value_get(obj, "spec.nodeName"));
    if (have != NULL && *have) {
        fail_conflict(
            r, r->name,
            kr_arena_printf(r->a, "pod %s is already assigned to node \"%s\"", r->name, have));
        return;
    }
    if (cur->terminating) {
        fail_conflict(r, r->name,
                      kr_arena_printf(r->a, "pod %s is being deleted, cannot be assigned to a host",
                                      r->name));
        return;
    }
    kr_value_set(r->a, obj, "spec.nodeName", kr_value_str(r->a, node), NULL);
    /* upstream's binding also sets the PodScheduled condition */
    kr_value_t *st = map_child(r->a, obj, "status");
    kr_value_t *conds = kr_value_map_get(st, "conditions");
    if (kr_value_type(conds) != KR_ARRAY) {
        conds = kr_value_array(r->a);
        kr_value_map_set(r->a, st, "conditions", conds);
    }
    char ts[32];
    now_rfc3339(ts, sizeof ts);
    kr_value_t *c = kr_value_map(r->a);
    set_str(r->a, c, "type", "PodScheduled");
    set_str(r->a, c, "status", "True");
    kr_value_map_set(r->a, c, "lastProbeTime", kr_value_null(r->a));
    set_str(r->a, c, "lastTransitionTime", ts);
    bool replaced = false;
    for (size_t i = 0; i < kr_value_len(conds) && !replaced; i++)
        if (strcmp(kr_value_map_str(kr_value_array_get(conds, i), "type") ?: "", "PodScheduled") ==
            0)
            replaced = kr_value_array_set(r->a, conds, i, c);
    if (!replaced)
        kr_value_array_push(r->a, conds, c);
    write_obj(r, store_key(r->kind, r->ns, r->name), obj, cur, KR_STORE_PUT, W_UPDATE, 201, true);
}

/* ---- delete ------------------------------------------------------------------------ */

/* Deletes `cur` by the request's options: immediately, or by setting
 * deletionTimestamp when finalizers (or a pod's grace period on a node)
 * hold it.  Returns false after answering an error. */
static bool delete_one(rq_t *r, kr_objrec_t *cur, bool answer)
{
    kr_api_t *api = r->api;
    const kr_kind_t *k = r->kind;
    kr_value_t *pre = (kr_value_t *)rq_opt(r, "preconditions");
    const char *puid = kr_value_map_str(pre, "uid");
    const char *prv = kr_value_map_str(pre, "resourceVersion");
    if (puid != NULL && strcmp(puid, cur->uid) != 0) {
        if (answer)
            fail_conflict(r, cur->name,
                          kr_arena_printf(r->a,
                                          "Precondition failed: UID in precondition: %s, UID in "
                                          "object meta: %s",
                                          puid, cur->uid));
        return false;
    }
    int64_t want;
    if (prv != NULL && (!parse_rv(prv, &want) || want != cur->rev)) {
        if (answer)
            fail_conflict(r, cur->name,
                          kr_arena_printf(r->a,
                                          "Precondition failed: ResourceVersion in precondition: "
                                          "%s, ResourceVersion in object meta: %" PRId64,
                                          prv, cur->rev));
        return false;
    }
    if (k->builtin && strcmp(k->kind, "Namespace") == 0 && is_protected_namespace(cur->name)) {
        if (answer)
            fail(r, KR_E_FORBIDDEN,
                 "namespaces \"%s\" is forbidden: this namespace may not be deleted", cur->name);
        return false;
    }
    kr_value_t *obj = kr_objrec_decode(cur, r->a);
    kr_value_t *meta = kr_value_map_get(obj, "metadata");
    const char *policy = rq_opt_str(r, "propagationPolicy");
    if (policy != NULL && strcmp(policy, "Orphan") != 0 && strcmp(policy, "Background") != 0 &&
        strcmp(policy, "Foreground") != 0) {
        if (answer)
            fail(r, KR_E_BAD_REQUEST,
                 "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: "
                 "\"%s\": supported values: \"Foreground\", \"Background\", \"Orphan\"",
                 policy);
        return false;
    }
    /* the GC acts on these finalizers, as upstream records the policy */
    const char *gc_fin = policy == NULL                      ? NULL
                         : strcmp(policy, "Orphan") == 0     ? "orphan"
                         : strcmp(policy, "Foreground") == 0 ? "foregroundDeletion"
                                                             : NULL;
    int64_t grace = kr_value_as_int(rq_opt(r, "gracePeriodSeconds"), -1);
    bool is_pod = k->builtin && strcmp(k->kind, "Pod") == 0;
    bool graceful = false;
    if (is_pod) {
        if (grace < 0)
            grace = kr_value_as_int(kr_value_get(obj, "spec.terminationGracePeriodSeconds"), 30);
        const char *node = kr_value_as_str(kr_value_get(obj, "spec.nodeName"));
        const char *phase = kr_value_as_str(kr_value_get(obj, "status.phase"));
        /* upstream: unscheduled and finished pods go at once */
        graceful = grace > 0 && node && *node &&
                   !(phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0));
    }
    if (gc_fin != NULL) {
        kr_value_t *fins = kr_value_map_get(meta, "finalizers");
        if (kr_value_type(fins) != KR_ARRAY) {
            fins = kr_value_array(r->a);
            kr_value_map_set(r->a, meta, "finalizers", fins);
        }
        bool have = false;
        for (size_t i = 0; i < kr_value_len(fins); i++)
            have |= strcmp(kr_value_as_str(kr_value_array_get(fins, i)) ?: "", gc_fin) == 0;
        if (!have)
            kr_value_array_push(r->a, fins, kr_value_str(r->a, gc_fin));
    }
    char *key = store_key(k, cur->ns, cur->name);
    if (deletion_blocked(k, obj) || graceful) {
        bool changed = gc_fin != NULL;
        if (!cur->terminating) {
            char ts[32];
            time_t t = time(NULL) + (graceful ? grace : 0);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
            set_str(r->a, meta, "deletionTimestamp", ts);
            kr_value_map_set(r->a, meta, "deletionGracePeriodSeconds",
                             kr_value_int(r->a, graceful ? grace : 0));
            if (kr_value_map_get(meta, "generation") != NULL)
                kr_value_map_set(r->a, meta, "generation",
                                 kr_value_int(r->a, kr_value_map_int(meta, "generation", 0) + 1));
            if (k->builtin && strcmp(k->kind, "Namespace") == 0) {
                kr_value_t *st = map_child(r->a, obj, "status");
                set_str(r->a, st, "phase", "Terminating");
            }
            changed = true;
        } else if (graceful &&
                   grace < kr_value_map_int(meta, "deletionGracePeriodSeconds", INT64_MAX)) {
            /* a shorter grace period shortens a pending deletion */
            kr_value_map_set(r->a, meta, "deletionGracePeriodSeconds", kr_value_int(r->a, grace));
            changed = true;
        }
        if (!changed) {
            free(key);
            if (answer)
                kr_broker_reply_raw(api->broker, r->req, 200, cur->data, cur->len, NULL);
            return true;
        }
        return write_obj(r, key, obj, cur, KR_STORE_PUT, W_UPDATE, 200, answer);
    }
    return write_obj(r, key, obj, cur, KR_STORE_DELETE, W_DELETE, 200, answer);
}

static void op_delete(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    (void)b;
    rq_t r;
    if (!rq_begin(&r, api, req) || !rq_need_name(&r))
        goto out;
    if (r.sub != NULL) {
        fail(&r, KR_E_METHOD_NOT_ALLOWED, "delete is not supported on %s/%s",
             qualified(r.a, r.kind), r.sub);
        goto out;
    }
    char *key = store_key(r.kind, r.ns, r.name);
    kr_objrec_t *cur = current(api, r.ks, key, r.ns, r.name);
    free(key);
    if (cur == NULL) {
        fail_not_found(&r, r.name);
        goto out;
    }
    delete_one(&r, cur, true);
out:
    kr_arena_reset(api->arena);
}

/* deletecollection: deletes every matching object (each as a delete with
 * the request's options) and answers Status Success once they are
 * submitted, as upstream answers before the objects are gone. */
static void op_deletecollection(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    rq_t r;
    list_ctx_t c = {0};
    if (!rq_begin(&r, api, req) || !parse_selectors(&r, &c.ls, &c.fs) ||
        !list_walk(&r, &c, NULL, NULL, NULL))
        goto out;
    size_t n = 0;
    for (size_t i = 0; i < c.n; i++) {
        kr_objrec_t *cur = (kr_objrec_t *)c.items[i];
        char *key = store_key(r.kind, cur->ns, cur->name);
        kr_objrec_t *now = current(api, r.ks, key, cur->ns, cur->name);
        free(key);
        if (now != NULL && delete_one(&r, now, false))
            n++;
    }
    kr_value_t *st = kr_value_map(r.a);
    set_str(r.a, st, "kind", "Status");
    set_str(r.a, st, "apiVersion", "v1");
    kr_value_map_set(r.a, st, "metadata", kr_value_map(r.a));
    set_str(r.a, st, "status", "Success");
    kr_value_t *d = kr_value_map(r.a);
    set_str(r.a, d, "kind", r.kind->plural);
    if (r.kind->group[0])
        set_str(r.a, d, "group", r.kind->group);
    kr_value_map_set(r.a, d, "deleted", kr_value_int(r.a, (int64_t)n));
    kr_value_map_set(r.a, st, "details", d);
    kr_broker_reply(b, req, 200, st, NULL);
out:
    list_ctx_free(&c);
    kr_arena_reset(api->arena);
}

/* ---- watch ------------------------------------------------------------------------- */

static bool snap_put(kr_objrec_t *rec, void *ud)
{
    kr_objmap_put(ud, kr_objrec_ref(rec));
    return true;
}

static void op_watch(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    rq_t r;
    kr_labelsel_t *ls = NULL;
    kr_fieldsel_t *fs = NULL;
    if (!rq_begin(&r, api, req) || !parse_selectors(&r, &ls, &fs))
        goto out;
    if (r.name != NULL) {
        /* a watch of one object: metadata.name=<name>, as kubectl asks */
        kr_buf_t s = KR_BUF_INIT;
        kr_buf_printf(&s, "metadata.name=%s", r.name);
        if (fs != NULL) {
            kr_buf_puts(&s, ",");
            kr_fieldsel_string(fs, &s);
            kr_fieldsel_destroy(&fs);
        }
        kr_error_t err;
        fs = kr_fieldsel_parse(s.data, &err);
        kr_buf_free(&s);
        if (fs == NULL) {
            kr_labelsel_destroy(&ls);
            fail_err(&r, &err);
            goto out;
        }
    }
    const char *rv = r.rv ? r.rv : rq_opt_str(&r, "resourceVersion");
    int64_t from = 0;
    if (rv != NULL && strcmp(rv, "0") != 0 && !parse_rv(rv, &from)) {
        kr_labelsel_destroy(&ls);
        kr_fieldsel_destroy(&fs);
        fail(&r, KR_E_BAD_REQUEST, "invalid resourceVersion \"%s\"", rv);
        goto out;
    }
    bool bookmarks = kr_value_as_bool(rq_opt(&r, "allowWatchBookmarks"), false);
    bool initial = kr_value_as_bool(rq_opt(&r, "sendInitialEvents"), false);
    if (initial)
        from = 0; /* upstream: the state, then events (NotOlderThan the rv) */
    kr_watch_opts_t o = {
        .kind = r.kind,
        .ns = r.kind->namespaced ? r.ns : NULL,
        .labels = ls,
        .fields = fs,
        .from_rev = from,
        .bookmarks = bookmarks,
        .initial_events_end = bookmarks && kr_value_as_bool(rq_opt(&r, "sendInitialEvents"), false),
    };
    kr_error_t err;
    if (!r.ks->cold || from > 0) {
        if (kr_watch_open(api->hub, req, &o, r.ks->live, api->applied_rev, &err) < 0)
            kr_broker_fail(b, req, err.reason, err.message);
        goto out;
    }
    /* a cold kind's initial state: the store's, in a map that lives as long
     * as the open (the watcher keeps references to what it sends) */
    kr_objmap_t *snap = kr_objmap_new();
    int64_t at = 0;
    if (!cold_walk(api, r.ks, o.ns, NULL, NULL, 0, snap_put, snap, &at, &err)) {
        kr_labelsel_destroy(&o.labels);
        kr_fieldsel_destroy(&o.fields);
        kr_broker_fail(b, req, err.reason, err.message);
    } else if (kr_watch_open(api->hub, req, &o, snap, at, &err) < 0) {
        kr_broker_fail(b, req, err.reason, err.message);
    }
    kr_objmap_destroy(&snap);
out:
    kr_arena_reset(api->arena);
}

/* ---- kinds ------------------------------------------------------------------------- */

static void load_orphans(kr_api_t *api, kstate_t *ks);

static void op_kind_register(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    kr_arena_t *a = api->arena;
    kr_value_t *msg = NULL;
    kr_error_t err;
    if (kr_msgpack_decode(a, req->data, req->len, &msg, &err) < 0) {
        kr_broker_fail(b, req, KR_E_BAD_REQUEST, err.message);
        goto out;
    }
    const kr_kind_t *kind = kr_registry_add(api->reg, kr_value_map_get(msg, "obj"), &err);
    if (kind == NULL) {
        kr_broker_fail(b, req, err.reason, err.message);
        goto out;
    }
    kstate_t *ks = kstate_add(api, kind);
    load_orphans(api, ks);
    KR_INFO(TAG, "kind registered", "res=%s kind=%s", kind->res, kind->kind);
    kr_broker_reply(b, req, 201, kr_kind_to_value(a, kind), NULL);
out:
    kr_arena_reset(a);
}

/* Prometheus text for one histogram from non-cumulative buckets. */
static void prom_histogram(kr_buf_t *out, const char *name, const char *help, const uint64_t *b,
                           const uint64_t *bounds, size_t n, double scale, double sum)
{
    kr_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += b[i];
        kr_buf_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, (double)bounds[i] * scale,
                      cum);
    }
    cum += b[n];
    kr_buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %g\n%s_count %" PRIu64 "\n",
                  name, cum, name, sum, name, cum);
}

/* "api.stats": the object API's and the store's figures, in the
 * Prometheus text format, for the REST gateway's /metrics. */
static void op_stats(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    kr_arena_t *a = api->arena;
    kr_buf_t out = KR_BUF_INIT;
    kr_commit_stats_t cs = {0};
    if (api->commit != NULL)
        kr_commit_stats(api->commit, &cs);
    static const uint64_t dbounds[] = KR_COMMIT_DURATION_BOUNDS_US;
    static const uint64_t bbounds[] = KR_COMMIT_BATCH_BOUNDS;
    prom_histogram(&out, "kraal_store_commit_duration_seconds",
                   "Duration of the store transactions of group commit.", cs.duration, dbounds,
                   KR_COMMIT_DURATION_BUCKETS, 1e-6, (double)cs.duration_us_sum / 1e6);
    prom_histogram(&out, "kraal_store_commit_batch_size", "Writes per store transaction.", cs.batch,
                   bbounds, KR_COMMIT_BATCH_BUCKETS, 1, (double)cs.writes);
    kr_buf_printf(&out,
                  "# TYPE kraal_store_writes_total counter\nkraal_store_writes_total %" PRIu64
                  "\n# TYPE kraal_store_failed_transactions_total counter\n"
                  "kraal_store_failed_transactions_total %" PRIu64
                  "\n# TYPE kraal_api_writes_in_flight gauge\nkraal_api_writes_in_flight %d\n"
                  "# HELP kraal_api_events_expired_total Events deleted at the end of their TTL.\n"
                  "# TYPE kraal_api_events_expired_total counter\n"
                  "kraal_api_events_expired_total %" PRIu64 "\n",
                  cs.writes, cs.failed_batches, (int)api->writes_in_flight, api->events_expired);
    kr_watch_stats_t ws = {0};
    if (api->hub != NULL)
        kr_watch_stats(api->hub, &ws);
    kr_buf_printf(&out,
                  "# TYPE kraal_watchers gauge\nkraal_watchers %zu\n"
                  "# TYPE kraal_watch_events_sent_total counter\nkraal_watch_events_sent_total "
                  "%" PRIu64 "\n# TYPE kraal_watch_expired_total counter\n"
                  "kraal_watch_expired_total %" PRIu64 "\n"
                  "# HELP apiserver_storage_objects Number of stored objects at the time of last "
                  "check split by kind.\n# TYPE apiserver_storage_objects gauge\n",
                  ws.watchers, ws.events_sent, ws.expired);
    for (size_t i = 0; i < api->n_ks; i++) {
        kstate_t *ks = api->ks[i];
        if (ks == NULL)
            continue;
        kr_buf_printf(&out, "apiserver_storage_objects{resource=\"%s%s%s\"} %zu\n",
                      ks->kind->plural, ks->kind->group[0] ? "." : "", ks->kind->group,
                      ks->cold ? ks->cold_count : kr_objmap_count(ks->live));
    }
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "prometheus", kr_value_strn(a, out.data ? out.data : "", out.len));
    kr_buf_free(&out);
    kr_broker_reply(b, req, 200, obj, NULL);
    kr_arena_reset(a);
}

/* ---- openapi -------------------------------------------------------------------- */

/* Built documents, kept until the registry changes. */
typedef struct oa_doc {
    struct oa_doc *next;
    char *name; /* "v2", "v2.pb", "v3", "v3/apis/apps/v1" */
    char *body;
    size_t len;
    char etag[KR_OPENAPI_ETAG_LEN + 1];
} oa_doc_t;

static void oa_clear(kr_api_t *api)
{
    while (api->oa != NULL) {
        oa_doc_t *d = api->oa;
        api->oa = d->next;
        free(d->name);
        free(d->body);
        free(d);
    }
}

/* "openapi": opts {name: "v2" | "v3" | "v3/<gv path>", format: "protobuf"}
 * -> {body, contentType, etag}: the encoded document, as the gateway sends
 * it (docs/api.md "OpenAPI"). */
static void op_openapi(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    rq_t r = {.api = api, .req = req, .a = api->arena};
    const char *name = rq_opt_str(&r, "name");
    const char *format = rq_opt_str(&r, "format");
    if (name == NULL)
        name = "v2";
    bool pb = format != NULL && strcmp(format, "protobuf") == 0 && strcmp(name, "v2") == 0;
    if (api->oa_kinds != kr_registry_count(api->reg)) {
        oa_clear(api);
        api->oa_kinds = kr_registry_count(api->reg);
    }
    char *key = kr_arena_printf(r.a, "%s%s", name, pb ? ".pb" : "");
    oa_doc_t *d = api->oa;
    while (d != NULL && strcmp(d->name, key) != 0)
        d = d->next;
    if (d == NULL) {
        kr_value_t *doc = NULL;
        if (strcmp(name, "v2") == 0)
            doc = kr_openapi_v2(r.a, api->reg);
        else if (strcmp(name, "v3") == 0)
            doc = kr_openapi_v3_index(r.a, api->reg);
        else if (strncmp(name, "v3/", 3) == 0)
            doc = kr_openapi_v3_gv(r.a, api->reg, name + 3);
        if (doc == NULL) {
            fail(&r, KR_E_NOT_FOUND, "the server could not find the requested resource");
            kr_arena_reset(r.a);
            return;
        }
        kr_buf_t body = KR_BUF_INIT;
        kr_error_t err;
        int rc = pb ? kr_openapi_v2_protobuf(doc, &body, &err)
                    : kr_json_encode(doc, &body, KR_JSON_COMPACT, &err);
        if (rc < 0) {
            kr_buf_free(&body);
            fail_err(&r, &err);
            kr_arena_reset(r.a);
            return;
        }
        d = xcalloc(1, sizeof *d);
        d->name = xstrdup(key);
        d->len = body.len;
        d->body = body.data ? body.data : xstrdup("");
        kr_openapi_etag(d->body, d->len, d->etag);
        d->next = api->oa;
        api->oa = d;
    }
    kr_value_t *obj = kr_value_map(r.a);
    kr_value_map_set(r.a, obj, "body", kr_value_strn(r.a, d->body, d->len));
    set_str(r.a, obj, "contentType", pb ? KR_OPENAPI_V2_PROTOBUF : "application/json");
    set_str(r.a, obj, "etag", d->etag);
    kr_broker_reply(b, req, 200, obj, NULL);
    kr_arena_reset(r.a);
}

static void op_kinds(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    kr_arena_t *a = api->arena;
    kr_value_t *items = kr_value_array(a);
    for (size_t i = 0; i < kr_registry_count(api->reg); i++)
        kr_value_array_push(a, items, kr_kind_to_value(a, kr_registry_at(api->reg, i)));
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "items", items);
    kr_broker_reply(b, req, 200, obj, NULL);
    kr_arena_reset(a);
}

/* ---- key rotation -------------------------------------------------------------------
 *
 * "encryption.rotate" (`kraal secrets rotate-key`): a new key goes first in
 * the encryption config (on disk, then in force: it encrypts every write
 * from here on, the old keys still decrypt), then every stored object of
 * the covered resources is rewritten (a new resourceVersion, the same
 * content, as upstream's `kubectl replace` of every Secret does), and only
 * once every rewrite is on disk are the old keys dropped (file, then in
 * force).  No value is ever stored with a key the file lacks, and none is
 * unreadable at any moment; a rotation that cannot rewrite everything
 * keeps the old keys and says so, and running it again finishes it. */

typedef struct rotation {
    kr_broker_deferred_t *reply;
    size_t pending, rewritten, failed;
    char key[64];
    kr_error_t first_err;
} rotation_t;

typedef struct rot_target {
    char *ns, *name;
} rot_target_t;

typedef struct rot_targets {
    rot_target_t *v;
    size_t n, cap;
} rot_targets_t;

static bool rot_collect(kr_objrec_t *rec, void *ud)
{
    rot_targets_t *t = ud;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = xrealloc(t->v, t->cap * sizeof *t->v);
    }
    t->v[t->n].ns = xstrndup(rec->ns, strlen(rec->ns));
    t->v[t->n].name = xstrndup(rec->name, strlen(rec->name));
    t->n++;
    return true;
}

static void rotation_answer(kr_api_t *api, rotation_t *rot)
{
    kr_encryption_t *enc = api->opts.encryption;
    size_t dropped = 0;
    kr_error_t err;
    kr_error_clear(&err);
    if (rot->failed > 0) {
        char msg[KR_ERROR_MSG_MAX * 2];
        snprintf(msg, sizeof msg,
                 "%zu of %zu objects could not be rewritten with key \"%s\" (%.200s); the old "
                 "keys stay in %.200s, so every object stays readable: run the rotation again",
                 rot->failed, rot->failed + rot->rewritten, rot->key, rot->first_err.message,
                 kr_encryption_path(enc));
        KR_ERROR(TAG, "key rotation incomplete", "error=\"%s\"", msg);
        kr_broker_deferred_fail(api->broker, &rot->reply, KR_E_INTERNAL, msg, NULL);
    } else if (kr_encryption_rotate_drop_old(enc, &dropped, &err) < 0) {
        kr_error_wrap(&err,
                      "every object was rewritten with key \"%s\", but dropping the old keys "
                      "failed",
                      rot->key);
        kr_broker_deferred_fail(api->broker, &rot->reply, err.reason, err.message, NULL);
    } else {
        /* The store's history still holds the values as they were before
         * (under the dropped keys, or plaintext from before encryption was
         * on): forgotten now, as nothing can read them any more.  The core
         * never reads that history (watches replay from memory). */
        if (api->applied_rev > api->compact_rev) {
            kr_commit_compact(api->commit, api->applied_rev);
            api->compact_rev = api->applied_rev;
        }
        kr_arena_t *a = api->arena;
        kr_value_t *obj = kr_value_map(a);
        kr_value_map_set(a, obj, "key", kr_value_str(a, rot->key));
        kr_value_map_set(a, obj, "rewritten", kr_value_int(a, (int64_t)rot->rewritten));
        kr_value_map_set(a, obj, "droppedKeys", kr_value_int(a, (int64_t)dropped));
        kr_value_map_set(a, obj, "config", kr_value_str(a, kr_encryption_path(enc)));
        kr_buf_t out = KR_BUF_INIT;
        if (kr_msgpack_encode(obj, &out, &err) == 0)
            kr_broker_deferred_reply_raw(api->broker, &rot->reply, 200, out.data, out.len);
        else
            kr_broker_deferred_fail(api->broker, &rot->reply, err.reason, err.message, NULL);
        kr_buf_free(&out);
        kr_arena_reset(a);
        KR_INFO(TAG, "key rotation done", "key=\"%s\" rewritten=%zu dropped_keys=%zu", rot->key,
                rot->rewritten, dropped);
    }
    if (api->rotation == rot)
        api->rotation = NULL;
    free(rot);
}

static void rotation_done(kr_api_t *api, rotation_t *rot, bool ok, const kr_error_t *err)
{
    if (ok) {
        rot->rewritten++;
    } else {
        if (rot->failed++ == 0) {
            if (err->reason != KR_E_OK)
                rot->first_err = *err;
            else /* an earlier write to the key failed, and this one's compare with it */
                kr_error_set(&rot->first_err, KR_E_CONFLICT,
                             "an earlier write to an object failed meanwhile");
        }
    }
    if (--rot->pending == 0)
        rotation_answer(api, rot);
}

/* Submits the rewrite of one object with its newest content; false when it
 * is gone meanwhile. */
static bool rotation_rewrite(kr_api_t *api, rotation_t *rot, kstate_t *ks, const char *ns,
                             const char *name)
{
    const kr_kind_t *k = ks->kind;
    char *key = store_key(k, ns, name);
    kr_objrec_t *cur = current(api, ks, key, ns, name);
    if (cur == NULL) {
        free(key);
        return false;
    }
    kr_arena_t *a = api->arena;
    kr_value_t *obj = kr_objrec_decode(cur, a);
    int64_t rev = api->next_rev + 1;
    set_rv(a, obj, rev);
    kr_error_t err;
    kr_objrec_t *rec = kr_objrec_new(k, obj, rev, cur->create_rev, &err);
    kr_arena_reset(a);
    if (rec == NULL) { /* it was built from the same bytes before */
        free(key);
        rot->pending++;
        rotation_done(api, rot, false, &err);
        return true;
    }
    api->next_rev = rev;
    rot->pending++;
    pending_t *p = submit(api, ks, key, KR_STORE_PUT, rec, cur->rev, W_INTERNAL, 200, NULL);
    p->rot = rot;
    if (ks->cold)
        p->prev = kr_objrec_ref(cur);
    return true;
}

static void op_encryption_rotate(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    kr_api_t *api = ud;
    release_held(api);
    if (!api->open) {
        kr_broker_fail(b, req, KR_E_SERVICE_UNAVAILABLE, "the object store is not ready");
        return;
    }
    /* The REST gateway forwards its users in `auth`; the op is for the
     * server's own tools on the local socket (mode 0600), not for them. */
    kr_value_t *msg = NULL;
    kr_error_t err;
    if (kr_msgpack_decode(api->arena, req->data, req->len, &msg, &err) == 0 &&
        kr_value_map_get(msg, "auth") != NULL) {
        kr_arena_reset(api->arena);
        kr_broker_fail(b, req, KR_E_FORBIDDEN,
                       "encryption.rotate is refused to API users: it is run by `kraal secrets "
                       "rotate-key` on the server's own bus socket");
        return;
    }
    kr_arena_reset(api->arena);
    kr_encryption_t *enc = api->opts.encryption;
    if (enc == NULL) {
        kr_broker_fail(b, req, KR_E_BAD_REQUEST,
                       "encryption at rest is off in this server: there is no key to rotate");
        return;
    }
    if (api->rotation != NULL) {
        kr_broker_fail(b, req, KR_E_CONFLICT,
                       "a key rotation is already running; wait for its answer");
        return;
    }
    rotation_t *rot = xcalloc(1, sizeof *rot);
    if (kr_encryption_rotate_add(enc, rot->key, sizeof rot->key, &err) < 0) {
        free(rot);
        kr_broker_fail(b, req, err.reason, err.message);
        return;
    }
    /* A write submitted before the new key was in force may have been
     * sealed with an old key and not be in the cache yet (a create in
     * flight is in no map the walk below sees): let every such write
     * complete first.  Nothing new is submitted meanwhile (this is the
     * broker thread), so it is at most the batches on their way to disk. */
    kr_api_drain(api);
    rot->reply = kr_broker_defer(b, req);
    api->rotation = rot;
    /* one pending count held while submitting, so that writes completing
     * meanwhile cannot finish the rotation early */
    rot->pending = 1;
    for (size_t i = 0; i < api->n_ks; i++) {
        kstate_t *ks = api->ks[i];
        if (!kr_encryption_covers(enc, ks->kind->group, ks->kind->plural))
            continue;
        rot_targets_t t = {0};
        if (!ks->cold)
            kr_objmap_walk(ks->live, NULL, NULL, NULL, rot_collect, &t);
        else if (!cold_walk(api, ks, NULL, NULL, NULL, 0, rot_collect, &t, NULL, &err) &&
                 rot->failed++ == 0) /* then the old keys must stay */
            rot->first_err = err;
        for (size_t j = 0; j < t.n; j++) {
            rotation_rewrite(api, rot, ks, t.v[j].ns, t.v[j].name);
            free(t.v[j].ns);
            free(t.v[j].name);
        }
        free(t.v);
        release_held(api);
    }
    KR_INFO(TAG, "key rotation: rewriting", "key=\"%s\" objects=%zu", rot->key, rot->pending - 1);
    if (--rot->pending == 0) /* nothing to rewrite, or everything failed at once */
        rotation_answer(api, rot);
}

/* ---- event TTL ---------------------------------------------------------------------------
 *
 * Upstream gives each Event an etcd lease of --event-ttl (1 h) at every
 * write; kraal deletes an Event once its last write is older than
 * event_ttl, at a sweep (every 10 s, or a quarter of a shorter TTL).  Write times are not stored: a ring of (revision, time)
 * checkpoints, one a stride (the TTL / 4000, at least a second), tells
 * when a revision was applied, at most a stride late, so an Event lives
 * at least its TTL.  The deletions are ordinary deletes (watchers see
 * DELETED, the store forgets them).  After a restart every loaded Event
 * counts as written at the start. */

static void ttl_checkpoint(kr_api_t *api, uint64_t now)
{
    if (api->ck_len > 0 &&
        api->ckpt[(api->ck_head + api->ck_len - 1) % API_TTL_CHECKPOINTS].rev == api->applied_rev)
        return;
    size_t at = (api->ck_head + api->ck_len) % API_TTL_CHECKPOINTS;
    if (api->ck_len == API_TTL_CHECKPOINTS)
        api->ck_head = (api->ck_head + 1) % API_TTL_CHECKPOINTS;
    else
        api->ck_len++;
    api->ckpt[at] = (struct ttl_ckpt){.rev = api->applied_rev, .at = now};
}

/* When revision `rev` was applied, at the latest: the first checkpoint at
 * or after it (0 when none is: it is newer than every checkpoint). */
static uint64_t ttl_written(const kr_api_t *api, int64_t rev)
{
    size_t lo = 0, hi = api->ck_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (api->ckpt[(api->ck_head + mid) % API_TTL_CHECKPOINTS].rev < rev)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < api->ck_len ? api->ckpt[(api->ck_head + lo) % API_TTL_CHECKPOINTS].at : 0;
}

typedef struct ttl_sweep {
    kr_api_t *api;
    uint64_t now;
    kr_objrec_t *expired[API_TTL_SWEEP_MAX];
    size_t n;
} ttl_sweep_t;

static bool ttl_visit(kr_objrec_t *rec, void *ud)
{
    ttl_sweep_t *w = ud;
    uint64_t at = ttl_written(w->api, rec->rev);
    if (at != 0 && at + w->api->opts.event_ttl_ms <= w->now)
        w->expired[w->n++] = kr_objrec_ref(rec);
    return w->n < API_TTL_SWEEP_MAX;
}

/* The newest revision that has expired: that of the last checkpoint at
 * least a TTL old (0 when none is).  A revision expired when the first
 * checkpoint at or after it is (ttl_written), so every revision up to this
 * one has. */
static int64_t ttl_expired_rev(const kr_api_t *api, uint64_t now)
{
    int64_t rev = 0;
    for (size_t i = 0; i < api->ck_len; i++) {
        const struct ttl_ckpt *ck = &api->ckpt[(api->ck_head + i) % API_TTL_CHECKPOINTS];
        if (ck->at + api->opts.event_ttl_ms > now)
            break;
        rev = ck->rev;
    }
    return rev;
}

static void ttl_sweep(kr_api_t *api, uint64_t now)
{
    kstate_t *ks = api->ev_state;
    ttl_sweep_t *w = xcalloc(1, sizeof *w);
    w->api = api;
    w->now = now;
    if (!ks->cold) {
        kr_objmap_walk(ks->live, NULL, NULL, NULL, ttl_visit, w);
    } else if (ks->cold_count > 0) {
        /* the store selects by revision: only the expired are decoded */
        int64_t upto = ttl_expired_rev(api, now);
        kr_error_t err;
        if (upto > 0)
            cold_walk(api, ks, NULL, NULL, NULL, upto, ttl_visit, w, NULL, &err);
    }
    kr_arena_t *a = api->arena;
    for (size_t i = 0; i < w->n; i++) {
        kr_objrec_t *cur = w->expired[i];
        char *key = store_key(ks->kind, cur->ns, cur->name);
        /* written again meanwhile (in flight): its new write counts */
        overlay_t *o = ks->cold ? overlay_find(api, key, hash_str(key, strlen(key))) : NULL;
        kr_objrec_t *now_rec = !ks->cold   ? current(api, ks, key, cur->ns, cur->name)
                               : o != NULL ? o->state
                                           : cur; /* just read from the store */
        if (now_rec == NULL || now_rec->rev != cur->rev) {
            free(key);
            kr_objrec_unref(&w->expired[i]);
            continue;
        }
        kr_value_t *obj = kr_objrec_decode(cur, a);
        int64_t rev = api->next_rev + 1;
        set_rv(a, obj, rev);
        kr_error_t err;
        kr_objrec_t *rec = kr_objrec_new(ks->kind, obj, rev, cur->create_rev, &err);
        if (rec == NULL) {
            free(key);
        } else {
            api->next_rev = rev;
            pending_t *p =
                submit(api, ks, key, KR_STORE_DELETE, rec, cur->rev, W_INTERNAL, 200, NULL);
            if (ks->cold)
                p->prev = kr_objrec_ref(cur);
            api->events_expired++;
        }
        kr_arena_reset(a);
        kr_objrec_unref(&w->expired[i]);
    }
    free(w);
    release_held(api);
}

/* ---- ticks ---------------------------------------------------------------------------- */

/* glibc keeps what is freed in its heaps (one per thread that allocates:
 * the broker's records, a plugin's informers, the committer's SQLite pages)
 * and gives back only a heap's free top: after a burst (a relist, a
 * backlog of watch events, objects replaced by newer versions) tens of MB
 * stay resident though unused.  Go's runtime, upstream's, returns such
 * memory (its scavenger); malloc_trim does the same here, every few
 * seconds and only when there is enough to give back (a trim walks the
 * heaps: ~ms per 100 MB). */
/* One malloc heap for the whole server, set before the broker and the
 * plugins start: glibc gives each thread that allocates under contention
 * a heap of its own (up to 8 per core), and what one thread frees (the
 * broker's replaced records, a plugin's decoded watch events) is then
 * reused by that thread only, each heap keeping its own holes — measured
 * at 5,000 nodes / 30,000 pods: 239 MB resident with a heap per thread,
 * 219 MB with one, for the same ~175 MB in use.  Threads allocate mostly
 * through glibc's per-thread caches, which take no lock, so one heap costs
 * little contention. */
static void heap_policy(void)
{
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, 1);
#endif
}

static void trim_heap(void)
{
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks < API_TRIM_FREE)
        return;
    uint64_t t0 = kr_time_ms();
    malloc_trim(0);
    KR_DEBUG(TAG, "heap trimmed", "free_bytes=%zu ms=%" PRIu64, mi.fordblks, kr_time_ms() - t0);
#endif
}

typedef struct quota_names {
    kr_arena_t *a;
    kr_value_t *names;
} quota_names_t;

static bool quota_name(kr_objrec_t *rec, void *ud)
{
    quota_names_t *q = ud;
    kr_value_array_push(q->a, q->names, kr_value_str(q->a, rec->name));
    return true;
}

static bool quota_mark_ns(kr_objrec_t *rec, void *ud)
{
    kr_api_t *api = ud;
    quota_mark(api, api->rq_state, rec->ns);
    return true;
}

/* Writes the quota's status when its counted usage or spec.hard changed. */
static void quota_status_sync(kr_api_t *api, const char *ns, const char *name)
{
    kstate_t *ks = api->rq_state;
    const kr_kind_t *k = ks->kind;
    char *key = store_key(k, ns, name);
    kr_objrec_t *cur = current(api, ks, key, ns, name);
    kr_arena_t *a = api->arena;
    if (cur == NULL) {
        free(key);
        return;
    }
    kr_value_t *obj = kr_objrec_decode(cur, a);
    kr_quota_src_t src = quota_src(api);
    kr_value_t *st = kr_quota_status(a, &src, obj);
    const kr_value_t *have = kr_value_map_get(obj, "status");
    if (kr_value_equal(st, have) || (kr_value_len(st) == 0 && kr_value_len(have) == 0)) {
        free(key);
        return;
    }
    kr_value_map_set(a, obj, "status", st);
    int64_t rev = api->next_rev + 1;
    set_rv(a, obj, rev);
    kr_error_t err;
    kr_objrec_t *rec = kr_objrec_new(k, obj, rev, cur->create_rev, &err);
    if (rec == NULL) {
        KR_ERROR(TAG, "quota status", "quota=\"%s/%s\" error=\"%s\"", ns, name, err.message);
        free(key);
        return;
    }
    api->next_rev = rev;
    submit(api, ks, key, KR_STORE_PUT, rec, cur->rev, W_INTERNAL, 200, NULL);
}

static void quota_tick(kr_api_t *api, uint64_t now)
{
    if (api->rq_state == NULL || !api->open || now < api->next_rq_sync)
        return;
    api->next_rq_sync = now + API_QUOTA_SYNC_MS;
    if (now >= api->next_rq_resync) {
        api->next_rq_resync = now + API_QUOTA_RESYNC_MS;
        kr_objmap_walk(api->rq_state->live, NULL, NULL, NULL, quota_mark_ns, api);
    }
    size_t n = api->n_rq_dirty;
    char **dirty = api->rq_dirty;
    api->rq_dirty = NULL;
    api->n_rq_dirty = api->cap_rq_dirty = 0;
    for (size_t i = 0; i < n; i++) {
        quota_names_t q = {.a = api->arena, .names = kr_value_array(api->arena)};
        kr_objmap_walk(api->rq_state->live, dirty[i], NULL, NULL, quota_name, &q);
        for (size_t j = 0; j < kr_value_len(q.names); j++)
            quota_status_sync(api, dirty[i], kr_value_as_str(kr_value_array_get(q.names, j)));
        free(dirty[i]);
        kr_arena_reset(api->arena);
    }
    free(dirty);
}

static void on_tick(kr_broker_t *b, uint64_t now, void *ud)
{
    (void)b;
    kr_api_t *api = ud;
    if (api->hub != NULL)
        kr_watch_tick(api->hub, now);
    if (api->open && now >= api->next_ckpt) {
        api->next_ckpt = now + api->ck_stride_ms;
        ttl_checkpoint(api, now);
    }
    if (now >= api->next_trim) {
        api->next_trim = now + API_TRIM_MS;
        trim_heap();
    }
    if (api->open && api->ev_state != NULL && now >= api->next_sweep) {
        api->next_sweep = now + api->ttl_sweep_ms;
        ttl_sweep(api, now);
    }
    quota_tick(api, now);
    if (api->commit != NULL && now >= api->next_compact) {
        api->next_compact = now + api->opts.compact_interval_ms;
        int64_t upto = api->applied_rev - api->opts.compact_keep;
        if (upto > api->compact_rev) {
            kr_commit_compact(api->commit, upto);
            api->compact_rev = upto;
        }
    }
}

/* ---- life cycle ---------------------------------------------------------------------- */

kr_api_t *kr_api_new(kr_broker_t *b, const kr_api_opts_t *opts, kr_error_t *err)
{
    heap_policy();
    kr_api_t *api = xcalloc(1, sizeof *api);
    api->broker = b;
    if (opts != NULL)
        api->opts = *opts;
    if (api->opts.authorizer != NULL && api->opts.authorizer[0] != '\0')
        api->authorizer = xstrdup(api->opts.authorizer);
    api->opts.authorizer = api->authorizer;
    if (api->opts.compact_interval_ms == 0)
        api->opts.compact_interval_ms = KR_API_COMPACT_MS;
    if (api->opts.compact_keep <= 0)
        api->opts.compact_keep = KR_API_COMPACT_KEEP;
    if (api->opts.event_ttl_ms == 0)
        api->opts.event_ttl_ms = KR_API_EVENT_TTL_MS;
    /* the ring spans more than the TTL */
    api->ck_stride_ms = api->opts.event_ttl_ms / (API_TTL_CHECKPOINTS - 96);
    if (api->ck_stride_ms < 1000)
        api->ck_stride_ms = 1000;
    /* a sweep every 10 s, more often for a short TTL */
    api->ttl_sweep_ms = api->opts.event_ttl_ms / 4;
    if (api->ttl_sweep_ms > API_TTL_SWEEP_MS)
        api->ttl_sweep_ms = API_TTL_SWEEP_MS;
    if (api->ttl_sweep_ms < 1000)
        api->ttl_sweep_ms = 1000;
    if (api->opts.not_ready_toleration_s == 0)
        api->opts.not_ready_toleration_s = KR_DEFAULT_TOLERATION_SECONDS;
    if (api->opts.unreachable_toleration_s == 0)
        api->opts.unreachable_toleration_s = KR_DEFAULT_TOLERATION_SECONDS;
    if (api->opts.not_ready_toleration_s < 0)
        api->opts.not_ready_toleration_s = 0;
    if (api->opts.unreachable_toleration_s < 0)
        api->opts.unreachable_toleration_s = 0;
    pthread_mutex_init(&api->store_mu, NULL);
    api->arena = kr_arena_new(64 * 1024);
    api->reg = kr_registry_new(err);
    if (api->reg == NULL) {
        kr_api_destroy(&api);
        return NULL;
    }
    for (size_t i = 0; i < kr_registry_count(api->reg); i++)
        kstate_add(api, kr_registry_at(api->reg, i));
    const kr_kind_t *nsk = kr_registry_by_res(api->reg, "v1/namespaces", strlen("v1/namespaces"));
    api->ns_state = nsk ? kstate_of(api, nsk) : NULL;
    const char *pcres = "scheduling.k8s.io/v1/priorityclasses";
    const kr_kind_t *pck = kr_registry_by_res(api->reg, pcres, strlen(pcres));
    api->pc_state = pck ? kstate_of(api, pck) : NULL;
    api->pod_kind = kr_registry_by_res(api->reg, "v1/pods", strlen("v1/pods"));
    const kr_kind_t *sak =
        kr_registry_by_res(api->reg, "v1/serviceaccounts", strlen("v1/serviceaccounts"));
    api->sa_state = sak ? kstate_of(api, sak) : NULL;
    api->svc_kind = kr_registry_by_res(api->reg, "v1/services", strlen("v1/services"));
    api->svcalloc = kr_svcalloc_new(api->opts.service_cidr, api->opts.service_node_port_range, err);
    if (api->svcalloc == NULL) {
        kr_error_wrap(err, "api.service_cluster_ip_range / service_node_port_range");
        kr_api_destroy(&api);
        return NULL;
    }
    const kr_kind_t *evk = kr_registry_by_res(api->reg, "v1/events", strlen("v1/events"));
    api->ev_state = evk ? kstate_of(api, evk) : NULL;
    const kr_kind_t *rqk =
        kr_registry_by_res(api->reg, "v1/resourcequotas", strlen("v1/resourcequotas"));
    api->rq_state = rqk ? kstate_of(api, rqk) : NULL;
    api->quota_cache = kr_quota_cache_new();
    if (api->ns_state == NULL) {
        kr_error_set(err, KR_E_INTERNAL, "the registry has no namespaces");
        kr_api_destroy(&api);
        return NULL;
    }
    static const struct {
        const char *op;
        kr_broker_fn fn;
    } ops[] = {
        {"get", op_get},
        {"list", op_list},
        {"create", op_create},
        {"update", op_update},
        {"patch", op_patch},
        {"delete", op_delete},
        {"deletecollection", op_deletecollection},
        {"watch", op_watch},
        {"kind.register", op_kind_register},
        {"kinds", op_kinds},
        {"api.stats", op_stats},
        {"openapi", op_openapi},
        {"encryption.rotate", op_encryption_rotate},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (kr_broker_handle(b, ops[i].op, NULL, ops[i].fn, api, err) < 0) {
            kr_api_destroy(&api);
            return NULL;
        }
    if (kr_broker_add_tick(b, API_TICK_MS, on_tick, api, err) < 0) {
        kr_api_destroy(&api);
        return NULL;
    }
    return api;
}

int kr_api_take_store(void *ud, const kr_store_ops_t *ops, void *self, kr_error_t *err)
{
    kr_api_t *api = ud;
    pthread_mutex_lock(&api->store_mu);
    int rc = 0;
    if (api->store_ops != NULL)
        rc = kr_error_set(err, KR_E_ALREADY_EXISTS, "a store is already registered");
    else {
        api->store_ops = ops;
        api->store = self;
    }
    pthread_mutex_unlock(&api->store_mu);
    return rc;
}

kr_registry_t *kr_api_registry(kr_api_t *api)
{
    return api->reg;
}

/* ---- loading ----------------------------------------------------------------------- */

static kstate_t *kstate_by_key(kr_api_t *api, const char *key, size_t len)
{
    for (size_t i = 0; i < api->n_ks; i++) {
        const char *p = api->ks[i]->kind->store_prefix;
        size_t n = strlen(p);
        if (len > n && memcmp(key, p, n) == 0)
            return api->ks[i];
    }
    return NULL;
}

typedef struct load_ctx {
    kr_api_t *api;
    size_t loaded, orphaned, bad;
} load_ctx_t;

static void load_one(kr_api_t *api, kstate_t *ks, const void *data, size_t len, int64_t rev,
                     int64_t create_rev, const char *key, load_ctx_t *lc)
{
    if (ks->cold) { /* read from the store when asked for */
        ks->cold_count++;
        if (lc)
            lc->loaded++;
        return;
    }
    kr_error_t err;
    kr_objrec_t *rec = kr_objrec_from_msgpack(ks->kind, data, len, rev, create_rev, &err);
    if (rec == NULL) {
        KR_ERROR(TAG, "skipping an undecodable stored object", "key=\"%s\" error=\"%s\"", key,
                 err.message);
        if (lc)
            lc->bad++;
        return;
    }
    kr_objmap_put(ks->live, rec);
    if (ks == api->pc_state)
        kr_prio_cache_invalidate(&api->prio);
    if (lc)
        lc->loaded++;
}

static int load_kv(const kr_store_kv_t *kv, void *ud)
{
    load_ctx_t *lc = ud;
    kr_api_t *api = lc->api;
    char key[1024];
    snprintf(key, sizeof key, "%.*s", (int)kv->key_len, kv->key);
    kstate_t *ks = kstate_by_key(api, kv->key, kv->key_len);
    if (ks != NULL) {
        load_one(api, ks, kv->value, kv->value_len, kv->mod_rev, kv->create_rev, key, lc);
        return 0;
    }
    orphan_t *o = xcalloc(1, sizeof *o);
    o->key = xstrndup(kv->key, kv->key_len);
    o->key_len = kv->key_len;
    o->data = xmalloc(kv->value_len ? kv->value_len : 1);
    memcpy(o->data, kv->value, kv->value_len);
    o->len = kv->value_len;
    o->rev = kv->mod_rev;
    o->create_rev = kv->create_rev;
    o->next = api->orphans;
    api->orphans = o;
    lc->orphaned++;
    return 0;
}

static void load_orphans(kr_api_t *api, kstate_t *ks)
{
    size_t n = strlen(ks->kind->store_prefix);
    orphan_t **pp = &api->orphans;
    while (*pp) {
        orphan_t *o = *pp;
        if (o->key_len > n && memcmp(o->key, ks->kind->store_prefix, n) == 0) {
            *pp = o->next;
            load_one(api, ks, o->data, o->len, o->rev, o->create_rev, o->key, NULL);
            free(o->key);
            free(o->data);
            free(o);
        } else {
            pp = &o->next;
        }
    }
}

void kr_api_drain(kr_api_t *api)
{
    while (api->writes_in_flight > 0) {
        struct pollfd pfd = {.fd = kr_commit_fd(api->commit), .events = POLLIN};
        poll(&pfd, 1, 100);
        drain_commits(api);
    }
}

/* Writes `obj` (apiVersion, kind, metadata.name set) of kind `ks` when no
 * object of that name exists: what the API server creates at its start. */
static void bootstrap_object(kr_api_t *api, kstate_t *ks, kr_value_t *obj)
{
    kr_arena_t *a = api->arena;
    kr_value_t *meta = map_child(a, obj, "metadata");
    const char *name = kr_value_map_str(meta, "name");
    if (kr_objmap_get(ks->live, "", name) != NULL)
        return;
    char uid[37], ts[32];
    new_uid(uid);
    now_rfc3339(ts, sizeof ts);
    set_str(a, meta, "uid", uid);
    set_str(a, meta, "creationTimestamp", ts);
    const kr_kind_t *k = ks->kind;
    if (k->hooks.defaults)
        k->hooks.defaults(a, obj);
    if (k->hooks.prepare_create)
        k->hooks.prepare_create(a, obj);
    int64_t rev = api->next_rev + 1;
    set_rv(a, obj, rev);
    kr_error_t err;
    kr_objrec_t *rec = kr_objrec_new(k, obj, rev, rev, &err);
    if (rec == NULL) {
        KR_ERROR(TAG, "cannot build a built-in object", "kind=%s name=%s error=\"%s\"", k->kind,
                 name, err.message);
        return;
    }
    api->next_rev = rev;
    submit(api, ks, store_key(k, "", name), KR_STORE_PUT, rec, 0, W_INTERNAL, 201, NULL);
}

static kr_value_t *bootstrap_new(kr_arena_t *a, const char *api_version, const char *kind,
                                 const char *name)
{
    kr_value_t *obj = kr_value_map(a);
    set_str(a, obj, "apiVersion", api_version);
    set_str(a, obj, "kind", kind);
    set_str(a, map_child(a, obj, "metadata"), "name", name);
    return obj;
}

static void bootstrap_namespace(kr_api_t *api, const char *name)
{
    bootstrap_object(api, api->ns_state, bootstrap_new(api->arena, "v1", "Namespace", name));
    kr_arena_reset(api->arena);
}

/* upstream's scheduling/bootstrap-system-priority-classes post-start hook */
static void bootstrap_priority_classes(kr_api_t *api)
{
    static const struct {
        const char *name;
        int64_t value;
        const char *description;
    } system[] = {
        {"system-node-critical", 2000001000,
         "Used for system critical pods that must not be moved from their current node."},
        {"system-cluster-critical", 2000000000,
         "Used for system critical pods that must run in the cluster, but can be moved to "
         "another node if necessary."},
    };
    if (api->pc_state == NULL)
        return;
    kr_arena_t *a = api->arena;
    for (size_t i = 0; i < sizeof system / sizeof system[0]; i++) {
        kr_value_t *pc = bootstrap_new(a, "scheduling.k8s.io/v1", "PriorityClass", system[i].name);
        kr_value_map_set(a, pc, "value", kr_value_int(a, system[i].value));
        set_str(a, pc, "description", system[i].description);
        bootstrap_object(api, api->pc_state, pc);
        kr_arena_reset(a);
    }
}

typedef struct svc_load_ctx {
    kr_api_t *api;
    size_t dups;
} svc_load_ctx_t;

static bool svc_load_one(kr_objrec_t *rec, void *ud)
{
    svc_load_ctx_t *c = ud;
    kr_value_t *svc;
    kr_error_t err;
    if (kr_msgpack_decode(c->api->arena, rec->data, rec->len, &svc, &err) == 0)
        kr_svcalloc_load(c->api->svcalloc, svc, &c->dups);
    kr_arena_reset(c->api->arena);
    return true;
}

/* The allocators after a restart: what the stored Services hold. */
static size_t svc_load(kr_api_t *api)
{
    svc_load_ctx_t c = {.api = api};
    if (api->svc_kind != NULL)
        kr_objmap_walk(kstate_of(api, api->svc_kind)->live, NULL, NULL, NULL, svc_load_one, &c);
    return c.dups;
}

int kr_api_open(kr_api_t *api, kr_error_t *err)
{
    pthread_mutex_lock(&api->store_mu);
    const kr_store_ops_t *ops = api->store_ops;
    void *store = api->store;
    /* Encryption at rest sits between the core and the plugin: every value
     * the core writes or reads passes the wrapper (docs/secrets.md). */
    if (ops != NULL && api->opts.encryption != NULL && api->crypt == NULL) {
        api->crypt = kr_store_crypt_new(ops, store, api->opts.encryption);
        api->store_ops = ops = kr_store_crypt_ops(api->crypt);
        api->store = store = api->crypt;
    }
    pthread_mutex_unlock(&api->store_mu);
    if (ops == NULL)
        return kr_error_set(err, KR_E_INVALID,
                            "no store plugin registered a store (the config needs one, e.g. "
                            "store-sqlite)");
    uint64_t t0 = kr_time_ms();
    /* Events are read from the store when it can read beside the committer
     * (upstream's apiserver has no watch cache for them either) */
    if (api->ev_state != NULL && ops->struct_size >= sizeof(kr_store_ops_t) && ops->read != NULL)
        api->ev_state->cold = true;
    load_ctx_t lc = {.api = api};
    int64_t rev = 0, compact = 0;
    if (ops->range(store, load_kv, &lc, &rev, &compact, err) < 0)
        return kr_error_wrap(err, "loading the objects from the store");
    api->next_rev = api->applied_rev = rev;
    api->compact_rev = compact;
    size_t svc_dups = svc_load(api);
    api->hub = kr_watch_hub_new(api->broker, api->opts.watch_window, api->opts.bookmark_ms, rev);
    api->commit = kr_commit_new(ops, store, err);
    if (api->commit == NULL)
        return kr_error_wrap(err, "starting the committer");
    if (kr_broker_add_fd(api->broker, kr_commit_fd(api->commit), on_commit_fd, api, err) < 0)
        return -1;
    api->next_compact = kr_time_ms() + api->opts.compact_interval_ms;
    api->open = true;
    ttl_checkpoint(api, kr_time_ms()); /* what was loaded counts as written now */
    static const char *const builtin_ns[] = {"default", "kube-system", "kube-public",
                                             "kube-node-lease"};
    for (size_t i = 0; i < sizeof builtin_ns / sizeof builtin_ns[0]; i++)
        bootstrap_namespace(api, builtin_ns[i]);
    bootstrap_priority_classes(api);
    kr_api_drain(api);
    for (size_t i = 0; i < sizeof builtin_ns / sizeof builtin_ns[0]; i++)
        if (kr_objmap_get(api->ns_state->live, "", builtin_ns[i]) == NULL)
            return kr_error_set(err, KR_E_INTERNAL,
                                "cannot create namespace \"%s\" in the store (see the log)",
                                builtin_ns[i]);
    KR_INFO(TAG, "object cache loaded",
            "objects=%zu unknown_kinds=%zu undecodable=%zu revision=%" PRId64 " ms=%" PRIu64
            " service_allocation_conflicts=%zu",
            lc.loaded, lc.orphaned, lc.bad, api->applied_rev, kr_time_ms() - t0, svc_dups);
    if (api->crypt != NULL && kr_store_crypt_stale_reads(api->crypt) > 0)
        KR_WARN(TAG, "objects are stored with an older key or unencrypted",
                "objects=%" PRIu64 " config=\"%s\" hint=\"kraal secrets rotate-key rewrites them\"",
                kr_store_crypt_stale_reads(api->crypt), kr_encryption_path(api->opts.encryption));
    return 0;
}

void kr_api_destroy(kr_api_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_api_t *api = *self_p;
    if (api->commit != NULL) {
        kr_commit_stop(api->commit);
        drain_commits(api);
        kr_commit_destroy(&api->commit);
    }
    kr_store_crypt_destroy(&api->crypt);
    kr_watch_hub_destroy(&api->hub);
    kr_svcalloc_destroy(&api->svcalloc);
    oa_clear(api);
    for (size_t i = 0; i < OVERLAY_BUCKETS; i++) {
        overlay_t *o = api->overlay[i];
        while (o) {
            overlay_t *next = o->next;
            kr_objrec_unref(&o->state);
            free(o);
            o = next;
        }
    }
    release_held(api);
    free(api->held);
    for (size_t i = 0; i < api->n_rq_dirty; i++)
        free(api->rq_dirty[i]);
    free(api->rq_dirty);
    kr_quota_cache_destroy(&api->quota_cache);
    for (size_t i = 0; i < api->n_ks; i++) {
        kr_objmap_destroy(&api->ks[i]->live);
        free(api->ks[i]);
    }
    free(api->ks);
    while (api->orphans) {
        orphan_t *o = api->orphans;
        api->orphans = o->next;
        free(o->key);
        free(o->data);
        free(o);
    }
    kr_registry_destroy(&api->reg);
    kr_arena_destroy(&api->arena);
    pthread_mutex_destroy(&api->store_mu);
    free(api->authorizer);
    free(api);
    *self_p = NULL;
}
