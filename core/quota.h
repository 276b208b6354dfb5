/* LimitRanger and ResourceQuota admission, and quota usage.
 *
 * LimitRanger (plugin/pkg/admission/limitranger): a Pod being created gets
 * the default requests and limits of the namespace's LimitRanges (type
 * Container: defaultRequest, default) for each container that does not set
 * them, and is refused when a container, or the pod as a whole, is outside
 * a LimitRange's min, max or maxLimitRequestRatio.
 *
 * ResourceQuota (plugin/pkg/admission/resourcequota with
 * pkg/quota/v1/evaluator/core): a create that would take a namespace's
 * usage of a resource over a ResourceQuota's spec.hard is refused
 * ("exceeded quota: q, requested: ..., used: ..., limited: ..."), as is a
 * Pod without a request or limit that a quota covers ("must specify ...").
 * Counted: pods (not when Succeeded or Failed), their cpu, memory and
 * ephemeral-storage requests and limits, services (nodeports,
 * loadbalancers), secrets, configmaps, resourcequotas,
 * persistentvolumeclaims, replicationcontrollers, and count/<resource>
 * of any kind.  Quota scopes Terminating, NotTerminating, BestEffort,
 * NotBestEffort and PriorityClass (scopeSelector In, NotIn, Exists,
 * DoesNotExist) select pods.
 *
 * Upstream keeps usage in each quota's status.used and updates it on
 * every admitted create; here usage is counted from the objects
 * themselves at admission (the core's cache with the writes in flight),
 * so it is exact without a status round trip, and spec.hard is the limit
 * (upstream reads status.hard, which its controller copies from spec.hard).
 * The object API answers creates one at a time on the broker thread, so
 * two creates cannot both take the last unit of a quota.
 * kr_quota_usage gives the same numbers to the status writer. */
#ifndef KRAAL_CORE_QUOTA_H
#define KRAAL_CORE_QUOTA_H

#include <stdbool.h>

#include <kraal/error.h>
#include <kraal/value.h>

#include "cache.h"

/* The pods' facts quota counts, kept by revision (see quota.c); owned by
 * the caller, one per object API, used from its thread only. */
typedef struct kr_quota_cache kr_quota_cache_t;
kr_quota_cache_t *kr_quota_cache_new(void);
void kr_quota_cache_destroy(kr_quota_cache_t **cache_p);

/* What admission reads: the newest state of objects (the cache with the
 * writes in flight over it). */
typedef struct kr_quota_src {
    /* Visits every live object of the kind (group "" for core) with that
     * plural in namespace ns; fn borrows each record for the call.  False
     * when there is no such kind. */
    bool (*walk)(void *ctx, const char *group, const char *plural, const char *ns, kr_objmap_fn fn,
                 void *ud);
    void *ctx;
    kr_quota_cache_t *cache; /* NULL: decode every pod each time */
} kr_quota_src_t;

/* LimitRanger's mutation of `pod`, a Pod being created in ns (after its
 * defaults): the LimitRanges' default requests and limits, and the
 * annotation kubernetes.io/limit-ranger naming what was set. */
void kr_admit_pod_limits_default(kr_arena_t *arena, const kr_quota_src_t *src, const char *ns,
                                 kr_value_t *pod);

/* LimitRanger's validation of `pod`: KR_E_FORBIDDEN with upstream's
 * message (one, or several as "[a, b]") when a LimitRange refuses it; the
 * caller prefixes `pods "name" is forbidden: `. */
int kr_admit_pod_limits(kr_arena_t *arena, const kr_quota_src_t *src, const char *ns,
                        const kr_value_t *pod, kr_error_t *err);

/* ResourceQuota for the create of `obj` (old NULL) or its update from
 * `old`, of the kind (group, plural), in ns: KR_E_FORBIDDEN with
 * upstream's message when a quota refuses it.  As upstream's evaluators,
 * updates are charged for Services only (a type change takes node ports
 * or a load balancer), by what the new state uses beyond the old one. */
int kr_admit_quota(kr_arena_t *arena, const kr_quota_src_t *src, const char *group,
                   const char *plural, const char *ns, const kr_value_t *obj, const kr_value_t *old,
                   kr_error_t *err);

/* The usage in `quota`'s namespace of each resource of its spec.hard, as
 * a map name -> quantity string (the status.used upstream's controller
 * writes; "0" for nothing).  In arena. */
kr_value_t *kr_quota_usage(kr_arena_t *arena, const kr_quota_src_t *src, const kr_value_t *quota);

/* The status upstream's resourcequota controller writes for `quota`:
 * {hard: spec.hard, used: kr_quota_usage}; an empty map when spec.hard
 * is empty.  In arena. */
kr_value_t *kr_quota_status(kr_arena_t *arena, const kr_quota_src_t *src, const kr_value_t *quota);

/* a + b (upstream's Quantity.Add: the format of a, or of b when a is
 * zero); saturates at the int64 range. */
kr_quantity_t kr_quantity_add(const kr_quantity_t *a, const kr_quantity_t *b);

#endif
