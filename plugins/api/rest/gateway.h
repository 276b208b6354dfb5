/* The REST gateway's shared state (docs/rest.md).
 *
 * Threads: `workers` serving threads (server.c), each a loop with its own
 * libmicrohttpd daemon, listening socket and bus connection.  A thread
 * serves its connections' requests asynchronously (the connection waits
 * suspended for its bus reply) and holds their watches (watch.c), so a
 * request never leaves its thread.  What the threads share is below,
 * guarded where it says.
 */
#ifndef KRAAL_REST_GATEWAY_H
#define KRAAL_REST_GATEWAY_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <kraal/authz.h>
#include <kraal/plugin.h>

#include "table.h"

/* Kubernetes' limits. */
#define REST_MAX_BODY        (3u << 20) /* 3 MiB, as the API server */
#define REST_BUS_TIMEOUT_MS  60000      /* a request's bus call */
#define REST_TOKEN_CACHE_TTL 10         /* seconds, as kube-apiserver's token cache */

typedef struct rest_conf {
    const char *address;
    int64_t port;
    bool tls;
    const char *pki_dir;
    const char *kubeconfig;
    const char *cluster_name;
    const char *server_url;
    const kr_value_t *sans;
    int64_t workers;
    int64_t max_inflight;
    int64_t idle_timeout_ms;
    int64_t watch_timeout_ms;
    const char *authorization_mode; /* "AlwaysAllow", "RBAC" or "Bus" */
    const char *authorizer;         /* RBAC: the authorizer's instance name */
    bool anonymous;                 /* no credentials: system:anonymous, not 401 */
    const char *advertise_address;  /* NULL: see rest_advertise_address */
    const char *service_cidr;       /* the api's service_cluster_ip_range */
    bool kubernetes_service;        /* keep default/kubernetes (kubesvc.h) */
    bool root_ca_publisher;         /* kube-root-ca.crt in every namespace (rootca.h) */
} rest_conf_t;

typedef struct rest_discovery rest_discovery_t;
typedef struct rest_watches rest_watches_t;
typedef struct rest_tokens rest_tokens_t;
typedef struct rest_loop rest_loop_t;

/* authorization_mode, parsed. */
typedef enum rest_authz_mode {
    REST_AUTHZ_ALWAYS_ALLOW = 0,
    REST_AUTHZ_RBAC, /* the in-process vtable (kraal/authz.h) */
    REST_AUTHZ_BUS,  /* the "authz.review" / "authz.rules" ops */
} rest_authz_mode_t;

typedef struct rest_gw {
    kr_plugin_ctx_t *ctx;
    const rest_conf_t *conf;
    const char *endpoint; /* the bus, for the serving threads' own connections */
    rest_loop_t **loops;  /* the serving threads */
    size_t nloops;
    atomic_long inflight_read, inflight_write; /* non-long-running requests being served */
    int port;                                  /* the port actually bound */
    char *server_url;
    rest_discovery_t *disc; /* kinds, for routing and discovery */
    rest_tokens_t *tokens;
    rest_authz_mode_t authz_mode;
    bool anonymous;              /* conf->anonymous, off under AlwaysAllow */
    const kr_authz_ops_t *authz; /* REST_AUTHZ_RBAC: found at init */
    void *authz_self;
    struct rest_metrics *metrics;
    struct rest_kubesvc *kubesvc; /* the instance's thread only */
    struct rest_rootca *rootca;   /* the instance's thread only */
} rest_gw_t;

/* ---- serving threads (server.c) ---------------------------------------- */

/* What every serving thread's daemon gets. */
typedef struct rest_daemon_opts {
    const char *key_pem, *cert_pem; /* NULL: plain HTTP */
    void (*logger)(void *cls, const char *fmt, va_list ap);
} rest_daemon_opts_t;

/* Starts conf->workers serving threads on `addr` (port 0: one free port
 * for all of them); sets gw->port.  On failure the caller still calls
 * rest_loops_stop. */
int rest_loops_start(rest_gw_t *gw, const struct sockaddr_storage *addr,
                     const rest_daemon_opts_t *o, kr_error_t *err);
/* Stops the threads, answers what is in flight (503), ends the watches,
 * stops the daemons and frees everything. */
void rest_loops_stop(rest_gw_t *gw);
/* Resumes a suspended connection and has the calling serving thread run
 * MHD for it (any thread may call it). */
void rest_loop_resume(struct MHD_Connection *conn);
/* The calling serving thread, or NULL on any other thread. */
rest_loop_t *rest_loop_self(void);
/* A serving thread's bus connection (NULL once closed at shutdown), loop
 * and watches. */
rest_gw_t *rest_loop_gw(rest_loop_t *l);
kr_bus_t *rest_loop_bus(rest_loop_t *l);
kr_loop_t *rest_loop_loop(rest_loop_t *l);
rest_watches_t *rest_loop_watches(rest_loop_t *l);
/* The calling serving thread's bus connection; NULL on other threads. */
kr_bus_t *rest_worker_bus(rest_gw_t *gw);

/* MHD's access handler (http.c); cls is the gateway. */
enum MHD_Result rest_handle(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls);
void rest_request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode toe);

/* ---- discovery (discovery.c) ------------------------------------------ */

/* A served resource: a kind's descriptor plus what routing needs. */
typedef struct rest_resource {
    const char *group, *version, *resource; /* "apps", "v1", "deployments" */
    const char *res;                        /* bus resource "apps/v1/deployments" */
    const char *kind;
    bool namespaced;
    const kr_value_t *desc; /* the descriptor ("kinds" op), for tables */
} rest_resource_t;

rest_discovery_t *rest_discovery_new(void);
void rest_discovery_destroy(rest_discovery_t **self_p);
/* Fetches the kinds over `bus` when the copy is older than max_age_ms
 * (0 = always).  Thread-safe. */
int rest_discovery_refresh(rest_discovery_t *d, kr_bus_t *bus, uint64_t max_age_ms,
                           kr_error_t *err);
/* Looks a resource up; fills *out with strings copied into `arena`.
 * Refreshes once on a miss.  false when unknown. */
bool rest_discovery_find(rest_discovery_t *d, kr_bus_t *bus, kr_arena_t *arena, const char *group,
                         const char *version, const char *resource, rest_resource_t *out);
/* Discovery documents (APIVersions, APIGroupList, APIGroup,
 * APIResourceList); NULL when the group or version is unknown. */
kr_value_t *rest_discovery_api(rest_discovery_t *d, kr_arena_t *arena, const char *server_addr);
kr_value_t *rest_discovery_apis(rest_discovery_t *d, kr_arena_t *arena);
kr_value_t *rest_discovery_group(rest_discovery_t *d, kr_arena_t *arena, const char *group);
kr_value_t *rest_discovery_resources(rest_discovery_t *d, kr_arena_t *arena, const char *group,
                                     const char *version);

/* ---- watches (watch.c) ------------------------------------------------ */

/* A serving thread's watches; everything runs on that thread (or on the
 * stopping thread once it has exited). */
rest_watches_t *rest_watches_new(rest_loop_t *loop);
/* Ends every stream and wakes its connection, so that MHD can stop (it
 * must not be stopped with suspended connections).  NULL is a no-op. */
void rest_watches_end(rest_watches_t *w);
/* After MHD stopped: frees what is left. */
void rest_watches_destroy(rest_watches_t **self_p);
/* Starts a watch for the connection (from MHD's access handler on the
 * thread of `w`): queues the response.  `req` is copied; `table_kind` is
 * the kind descriptor when the client asked for Tables, else NULL. */
enum MHD_Result rest_watch_start(rest_watches_t *w, struct MHD_Connection *conn,
                                 const kr_request_t *req, const kr_value_t *table_kind,
                                 rest_table_include_t include, uint64_t timeout_ms);

/* ---- authorization (auth.c) ------------------------------------------- */

/* What a request asks to do, as a SubjectAccessReview's attributes. */
typedef struct rest_attrs {
    const char *verb; /* get, list, watch, create, update, patch, delete, deletecollection,
                       * impersonate, ...; non-resource: the lowercase method */
    const char *group, *version, *resource, *sub, *ns, *name; /* resource requests */
    const char *path;                                         /* non-resource requests */
} rest_attrs_t;

/* Users are maps {username, uid, groups, extra} (the bus `auth` shape, as
 * the authenticator answers it, plus extra: {key: [values]} when
 * impersonated); the gateway forwards the effective one in every
 * request's `auth`. */

/* The authorizer's answer to `attrs` for `user`, whatever the mode:
 * *decision, and *reason / *evaluation_error (in arena; "" / NULL when
 * none).  < 0 only when the authorizer could not be asked (Bus mode: no
 * answer or a failed one). */
int rest_authz_decide(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *arena, const kr_value_t *user,
                      const rest_attrs_t *attrs, kr_authz_decision_t *decision, const char **reason,
                      const char **evaluation_error, kr_error_t *err);

/* Whether `user` may do `attrs`: 0 when allowed; < 0 with err:
 * KR_E_FORBIDDEN and upstream's message (forbiddenMessage + NewForbidden),
 * or the authorizer's failure. */
int rest_authorize(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *arena, const kr_value_t *user,
                   const rest_attrs_t *attrs, kr_error_t *err);

/* A SubjectRulesReview's status (resourceRules, nonResourceRules,
 * incomplete, evaluationError) for `user` in namespace `ns`, in arena. */
int rest_authz_rules(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *arena, const kr_value_t *user,
                     const char *ns, kr_value_t **status, kr_error_t *err);

/* The user of a request without credentials (anonymous: true). */
kr_value_t *rest_anonymous_user(kr_arena_t *arena);

/* ---- impersonation (impersonate.c) ------------------------------------- */

/* Reads the Impersonate-* headers of `conn`.  None: *user stays as it is.
 * Else each is authorized for the requesting *user (verb "impersonate" on
 * users / serviceaccounts / groups / uids / userextras) as upstream's
 * WithImpersonation does, and *user becomes the impersonated user (in
 * arena).  < 0 with err: KR_E_FORBIDDEN and upstream's message, or
 * KR_E_INTERNAL for groups, extras or a uid without a user. */
int rest_impersonate(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *arena, struct MHD_Connection *conn,
                     const char *uri, kr_value_t **user, kr_error_t *err);

/* ---- reviews (review.c) ------------------------------------------------ */

/* Whether group/resource is one of the reviews the gateway answers itself
 * (SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview,
 * SelfSubjectRulesReview, SelfSubjectReview). */
bool rest_review_is(const char *group, const char *version, const char *resource);
/* The gateway's own resources for discovery: descriptors as the "kinds"
 * op gives them ({group, version, kind, plural, singular, namespaced,
 * verbs}), in arena. */
kr_value_t *rest_review_kinds(kr_arena_t *arena);
/* Answers a review created by `user` (the body `obj`, in the namespace
 * `ns` of the path for LocalSubjectAccessReview): *out is the review with
 * its status (201), in arena.  < 0 with err (400, 422 with *details
 * set, or the authorizer's failure). */
int rest_review_create(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *arena, const kr_value_t *user,
                       const char *group, const char *version, const char *resource, const char *ns,
                       const kr_value_t *obj, kr_value_t **out, kr_value_t **details,
                       kr_error_t *err);

/* ---- tokens (auth.c) -------------------------------------------------- */

rest_tokens_t *rest_tokens_new(void);
void rest_tokens_destroy(rest_tokens_t **self_p);
/* Authenticates a bearer token through the "authn.token" bus op, caching
 * answers (good and bad) for REST_TOKEN_CACHE_TTL seconds.  Returns 0 with
 * *user = {username, uid, groups} in `arena`, or < 0 with err
 * (KR_E_UNAUTHORIZED, or the authenticator's failure). */
int rest_tokens_check(rest_tokens_t *t, kr_bus_t *bus, const char *token, kr_arena_t *arena,
                      kr_value_t **user, kr_error_t *err);

#endif
