/* Admission that reads other objects: upstream's built-in admission
 * plugins that the API server runs on a write before validation.  Called
 * by the object API (api.c) on the broker thread, against the committed
 * cache, as upstream's plugins read their informers' listers.
 *
 * Priority (plugin/pkg/admission/priority): a new pod's spec.priority and
 * spec.preemptionPolicy come from the PriorityClass its
 * spec.priorityClassName names, or from the cluster's default class
 * (globalDefault; priority 0 when there is none), and a PriorityClass may
 * be the default only when no other one is.
 *
 * DefaultTolerationSeconds (plugin/pkg/admission/defaulttolerationseconds):
 * a new pod that does not tolerate the node.kubernetes.io/not-ready or
 * node.kubernetes.io/unreachable NoExecute taint gets a toleration of it
 * for a bounded time (300 s by default), so that the node lifecycle
 * controller evicts it from a failed node after that long.
 *
 * ServiceAccount (plugin/pkg/admission/serviceaccount), when the api
 * config turns it on: see kr_admit_pod_serviceaccount. */
#ifndef KRAAL_CORE_ADMISSION_H
#define KRAAL_CORE_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/value.h>

#include "cache.h"

/* What the default PriorityClass is, kept between pod creates: finding it
 * means decoding every class, so it is looked up again only after a class
 * changed (kr_prio_cache_invalidate). */
typedef struct kr_prio_cache {
    bool valid;
    bool found;
    char name[254];
    int32_t value;
    char policy[32];
} kr_prio_cache_t;

/* Any PriorityClass was written. */
void kr_prio_cache_invalidate(kr_prio_cache_t *cache);

/* Sets spec.priority, spec.preemptionPolicy (and spec.priorityClassName
 * from the default class) of `pod`, a Pod being created, from `classes`
 * (the live PriorityClasses; NULL when the kind is unknown).  Fails with
 * KR_E_FORBIDDEN and upstream's message — the caller prefixes
 * `pods "name" is forbidden: ` — when the class does not exist or the pod
 * sets a priority or policy other than its class's. */
int kr_admit_pod_priority(kr_arena_t *arena, kr_prio_cache_t *cache, const kr_objmap_t *classes,
                          kr_value_t *pod, kr_error_t *err);

/* A PriorityClass create or update: KR_E_FORBIDDEN ("PriorityClass x is
 * already marked as default. Only one default can exist") when it sets
 * globalDefault while another class has it. */
int kr_admit_priorityclass(kr_arena_t *arena, const kr_objmap_t *classes, const kr_value_t *pc,
                           kr_error_t *err);

/* The taints the node lifecycle controller puts on a node that is not
 * ready or not reachable (v1.TaintNodeNotReady, v1.TaintNodeUnreachable). */
#define KR_TAINT_NOT_READY   "node.kubernetes.io/not-ready"
#define KR_TAINT_UNREACHABLE "node.kubernetes.io/unreachable"
/* Upstream's --default-not-ready-toleration-seconds and
 * --default-unreachable-toleration-seconds. */
#define KR_DEFAULT_TOLERATION_SECONDS 300

/* ServiceAccount (plugin/pkg/admission/serviceaccount): where the
 * projected token volume is mounted, its name's prefix, and the lifetime
 * of the token it asks for (upstream's
 * WarnOnlyBoundTokenExpirationSeconds). */
#define KR_SA_MOUNT_PATH        "/var/run/secrets/kubernetes.io/serviceaccount"
#define KR_SA_VOLUME_PREFIX     "kube-api-access-"
#define KR_SA_TOKEN_SECONDS     3607
#define KR_SA_ROOT_CA_CONFIGMAP "kube-root-ca.crt"

/* ServiceAccount admission of `pod`, a Pod being created in namespace
 * `ns`, against `accounts` (the live ServiceAccounts; NULL when the kind
 * is unknown): spec.serviceAccountName defaults to "default" and must
 * exist; unless spec.automountServiceAccountToken (or, when the pod does
 * not say, the account's) is false, every init container and container
 * without a mount at KR_SA_MOUNT_PATH mounts there, read-only, the
 * projected volume kube-api-access-<5 random characters> (a
 * serviceAccountToken of KR_SA_TOKEN_SECONDS at "token", ca.crt from the
 * ConfigMap kube-root-ca.crt, the pod's namespace from the downward
 * API), reused when the pod already has a volume of that prefix;
 * spec.imagePullSecrets come from the account when the pod has none.  A
 * mirror pod (annotation kubernetes.io/config.mirror) is left as it is
 * and may reference no account, Secret or token projection.  Fails with
 * KR_E_FORBIDDEN and upstream's message (the caller prefixes `pods "name"
 * is forbidden: `). */
int kr_admit_pod_serviceaccount(kr_arena_t *arena, const kr_objmap_t *accounts, const char *ns,
                                kr_value_t *pod, kr_error_t *err);

/* Appends to spec.tolerations of `pod`, a Pod being created, the
 * toleration {key, operator: Exists, effect: NoExecute,
 * tolerationSeconds} of each of the two taints it does not tolerate yet
 * (a toleration with an empty key or effect tolerates them too, as
 * upstream counts it).  Never fails. */
void kr_admit_pod_default_tolerations(kr_arena_t *arena, kr_value_t *pod, int64_t not_ready_s,
                                      int64_t unreachable_s);

#endif
