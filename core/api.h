/* The object API: Kubernetes semantics over the bus (DESIGN.md §2, docs/api.md).
 *
 * The API answers get/list/create/update/patch/delete/deletecollection/
 * watch and the kind ops in the broker thread: reads come from the object
 * cache without a hop to another thread; writes are validated, given the
 * next revision and handed to the committer (core/commit.h), and answered
 * once the store has them on disk.  Committed writes then reach the cache
 * and the watchers in revision order.
 *
 * Life cycle, driven by `kraal server`:
 *   api = kr_api_new(broker)           before kr_broker_start
 *   (store plugin's init → kr_api_take_store via the host hook)
 *   kr_api_open(api)                   load the cache, create the default
 *                                      namespaces, before kr_broker_start
 *   kr_broker_start ... kr_broker_stop
 *   kr_api_destroy(&api)               after the broker thread stopped
 */
#ifndef KRAAL_CORE_API_H
#define KRAAL_CORE_API_H

#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/store.h>

#include "broker.h"
#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kr_api_opts {
    size_t watch_window;          /* events kept per kind; 0 = KR_WATCH_WINDOW */
    uint64_t bookmark_ms;         /* 0 = KR_WATCH_BOOKMARK_MS */
    uint64_t compact_interval_ms; /* 0 = KR_API_COMPACT_MS */
    int64_t compact_keep;         /* revisions of history kept; 0 = KR_API_COMPACT_KEEP */
    /* DefaultTolerationSeconds admission: the tolerationSeconds of the
     * not-ready and unreachable tolerations added to new pods; 0 = 300
     * (KR_DEFAULT_TOLERATION_SECONDS), < 0 = 0 (evicted at once). */
    int64_t not_ready_toleration_s, unreachable_toleration_s;
    /* Events are deleted this long after their last write (upstream's
     * --event-ttl); 0 = KR_API_EVENT_TTL_MS. */
    uint64_t event_ttl_ms;
    /* Service ClusterIPs and NodePorts (upstream's
     * --service-cluster-ip-range, --service-node-port-range); NULL =
     * 10.96.0.0/12 and 30000-32767 (core/svcalloc.h). */
    const char *service_cidr;
    const char *service_node_port_range;
    /* The authorizer (kraal/authz.h, by instance name) whose check_grant
     * vets writes of Roles, ClusterRoles and their bindings by a request's
     * user (upstream's RBAC escalation prevention); NULL or "" = none.
     * Copied; looked up at each such write, since it registers later. */
    const char *authorizer;
    /* Encryption at rest (docs/secrets.md): the values of the resources
     * it covers are sealed before they reach the store and opened when
     * read from it; NULL = stored as they are.  Not owned; must outlive
     * the API.  The op "encryption.rotate" rotates its keys. */
    struct kr_encryption *encryption;
    /* The ServiceAccount admission of new pods (core/admission.h). */
    bool admit_service_account;
} kr_api_opts_t;

#define KR_API_EVENT_TTL_MS (60 * 60 * 1000)

#define KR_API_COMPACT_MS   (5 * 60 * 1000)
#define KR_API_COMPACT_KEEP 100000
/* Largest encoded object accepted (etcd's default request limit). */
#define KR_API_MAX_OBJECT (1536u * 1024u)

typedef struct kr_api kr_api_t;

/* Builds the registry and registers the API ops with the broker (which
 * must not be started yet).  NULL with err.  Caller owns the API. */
kr_api_t *kr_api_new(kr_broker_t *b, const kr_api_opts_t *opts, kr_error_t *err);
/* Stops the committer (finishing queued writes) and ends every watch. */
void kr_api_destroy(kr_api_t **self_p);

/* The host hook for kr_store_register (core/host.h register_store):
 * records the store; KR_E_ALREADY_EXISTS for a second one.  Thread-safe. */
int kr_api_take_store(void *api, const kr_store_ops_t *ops, void *self, kr_error_t *err);

/* Loads every object from the store into the cache, starts the committer
 * and creates the namespaces that exist from the first start (default,
 * kube-system, kube-public, kube-node-lease).  Before kr_broker_start. */
int kr_api_open(kr_api_t *api, kr_error_t *err);

kr_registry_t *kr_api_registry(kr_api_t *api);

/* The stored object `name` (in `ns`, NULL for cluster-scoped) of resource
 * `res` ("v1/secrets") as the cache holds it, decoded into `arena`; NULL
 * when absent (or of a kind kept out of the cache).  Broker thread only:
 * for core-local handlers such as node.join. */
kr_value_t *kr_api_lookup(kr_api_t *api, const char *res, const char *ns, const char *name,
                          kr_arena_t *arena);

/* Visits the stored objects of `res` in `ns` (NULL = every namespace)
 * whose field selector `field` ("spec.nodeName"; NULL = every object)
 * equals `value`, decoded into `arena`, until fn returns false.  Only the
 * matching ones are decoded.  Broker thread only, as kr_api_lookup. */
typedef bool (*kr_api_walk_fn)(const kr_value_t *obj, void *ud);
void kr_api_walk(kr_api_t *api, const char *res, const char *ns, const char *field,
                 const char *value, kr_api_walk_fn fn, void *ud, kr_arena_t *arena);

/* Waits for the writes in flight and applies them, on the calling thread:
 * for tests and fuzzing with a broker that is not running (a running
 * broker does this in its own thread). */
void kr_api_drain(kr_api_t *api);

#ifdef __cplusplus
}
#endif
#endif
