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
 * controller evicts it from a failed node after that long. */
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

/* Appends to spec.tolerations of `pod`, a Pod being created, the
 * toleration {key, operator: Exists, effect: NoExecute,
 * tolerationSeconds} of each of the two taints it does not tolerate yet
 * (a toleration with an empty key or effect tolerates them too, as
 * upstream counts it).  Never fails. */
void kr_admit_pod_default_tolerations(kr_arena_t *arena, kr_value_t *pod, int64_t not_ready_s,
                                      int64_t unreachable_s);

#endif
