/* kraal SDK — the authorizer interface.
 *
 * An authorization plugin (plugins/auth/rbac) decides whether a user may
 * do something, as Kubernetes' authorizer.Authorizer does, and answers
 * what a user may do in a namespace (authorizer.RuleResolver, behind
 * SelfSubjectRulesReview).  It registers a vtable during init with
 * kr_authz_register(); the REST gateway (authorization_mode: RBAC) and the
 * core (the escalation check on RBAC writes) find it by instance name with
 * kr_authz_find().  It is a vtable, not a bus op, because it is asked once
 * per request: a msgpack round trip per API call would cost more than the
 * decision (the goal is <= 5% throughput).  A gateway in a process of its
 * own asks the plugin's "authz.review" bus op instead, which is the same
 * decision.
 *
 * Threading: every function may be called from any thread, concurrently
 * (the gateway's worker threads, the core's broker thread), and must not
 * block on the bus: an implementation answers from its own in-memory
 * state (its informers' caches), which it locks or swaps as it updates
 * them.  An authorizer is registered until its fini starts; a config lists
 * it before the plugins that use it.
 *
 * Ownership: inputs are borrowed for the duration of the call; outputs are
 * allocated in the caller's arena or written into the caller's buffers.
 */
#ifndef KRAAL_AUTHZ_H
#define KRAAL_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/error.h>
#include <kraal/plugin.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Who asks (user.Info): name, uid and groups as the authenticator gave
 * them ("system:authenticated" included when it applies). */
typedef struct kr_authz_user {
    const char *name; /* "jane", "system:serviceaccount:team-a:robot"; "" = groups only */
    const char *uid;  /* may be NULL */
    const char *const *groups;
    size_t ngroups;
} kr_authz_user_t;

/* What is asked (authorizer.Attributes, a SubjectAccessReview's spec).
 * Strings are never NULL where noted; "" is the core API group. */
typedef struct kr_authz_attrs {
    const kr_authz_user_t *user;
    const char *verb;        /* "get", "list", "watch", "create", "update", "patch",
                            * "delete", "deletecollection", "impersonate", "bind",
                            * "escalate", ...; for a non-resource request the
                            * lowercase HTTP method ("get", "post", ...) */
    bool resource_request;   /* true: group..name apply; false: path applies */
    const char *group;       /* never NULL in a resource request; "" = core */
    const char *version;     /* may be NULL */
    const char *resource;    /* plural, lowercase: "pods" */
    const char *subresource; /* "status", "log", "exec", ...; NULL or "" = none */
    const char *ns;          /* NULL or "" = cluster scope / all namespaces */
    const char *name;        /* NULL or "" = no name (list, create, ...) */
    const char *path;        /* non-resource request: "/healthz", "/api" */
} kr_authz_attrs_t;

typedef enum kr_authz_decision {
    KR_AUTHZ_NO_OPINION = 0, /* upstream's DecisionNoOpinion: denied unless another allows */
    KR_AUTHZ_ALLOW,
    KR_AUTHZ_DENY,
} kr_authz_decision_t;

typedef struct kr_authz_ops {
    size_t struct_size;     /* sizeof(kr_authz_ops_t) at build time */
    const char *authz_name; /* "rbac" */

    /* The decision, and why (upstream's reason string: for RBAC an allow
     * reason such as `RBAC: allowed by ClusterRoleBinding "x" of
     * ClusterRole "y" to User "z"`, and "" on a plain no-opinion) written
     * into `reason` (truncated to reason_len; may be NULL when 0).
     * Never fails: an evaluation error makes a no-opinion with the error in
     * the reason, as upstream's RBAC authorizer does. */
    kr_authz_decision_t (*authorize)(void *self, const kr_authz_attrs_t *attrs, char *reason,
                                     size_t reason_len);

    /* What `user` may do in namespace `ns` ("" or NULL: cluster-wide rules
     * only), for SelfSubjectRulesReview's status: *resource_rules and
     * *non_resource_rules are arrays of ResourceRule / NonResourceRule maps
     * ({verbs, apiGroups, resources, resourceNames} / {verbs,
     * nonResourceURLs}) in `arena`; *incomplete and *evaluation_error as the
     * review's status fields (*evaluation_error NULL when none). */
    int (*rules)(void *self, const kr_authz_user_t *user, const char *ns, kr_arena_t *arena,
                 kr_value_t **resource_rules, kr_value_t **non_resource_rules, bool *incomplete,
                 const char **evaluation_error, kr_error_t *err);

    /* Escalation prevention, upstream's policybased storage of the rbac
     * registry: may `user` write `obj` (a Role, ClusterRole, RoleBinding or
     * ClusterRoleBinding: `kind` is its kind, `obj` the object as it will be
     * stored, after defaults and patches)?  A Role or ClusterRole is allowed
     * when the user may "escalate" it or already holds every rule it grants
     * (in its namespace; cluster-wide for a ClusterRole); a binding when the
     * user may "bind" the role it references or holds every rule of that
     * role.  Returns 0 when allowed; < 0 with KR_E_FORBIDDEN and upstream's
     * message ("... is attempting to grant RBAC permissions not currently
     * held: ...") when not. */
    int (*check_grant)(void *self, const kr_authz_user_t *user, const char *kind,
                       const kr_value_t *obj, kr_arena_t *arena, kr_error_t *err);
} kr_authz_ops_t;

/* Registers the instance's authorizer under its instance name; only during
 * init.  `ops` must outlive the instance; every function is required.  The
 * registration ends when the instance's fini starts.  KR_E_ALREADY_EXISTS
 * when the name is taken. */
int kr_authz_register(kr_plugin_ctx_t *ctx, const kr_authz_ops_t *ops, void *self, kr_error_t *err);

/* Finds an authorizer of this process by instance name.  KR_E_NOT_FOUND
 * with a message naming the registered ones when there is none.  The
 * pointers stay valid until that authorizer's instance stops. */
int kr_authz_find(const char *name, const kr_authz_ops_t **ops, void **self, kr_error_t *err);

/* The user of a bus request's `auth` map ({username, uid, groups}, as the
 * authenticators answer and the REST gateway forwards it) as a
 * kr_authz_user_t whose strings and group array are in `arena`.  A
 * SubjectAccessReview may name groups only: the name is then "".  Fails
 * with KR_E_BAD_REQUEST when `auth` has neither a username nor groups. */
int kr_authz_user_from_value(const kr_value_t *auth, kr_arena_t *arena, kr_authz_user_t *out,
                             kr_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
