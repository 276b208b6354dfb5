/* The default scheduler's parsed view of a pod (kraal/scheduler.h's
 * kr_sched_pod_t), built once when the scheduler sees a pod change.
 *
 * Everything a step reads is parsed here, once per pod version: resource
 * requests (computePodResourceRequest with init containers, sidecars and
 * overhead; the non-zero variants for scoring), host ports, tolerations,
 * and the pod (anti-)affinity terms with their selectors compiled.  The
 * scheduler keeps one of these per pod it knows (tens of thousands), so a
 * pod already on a node keeps no copy of its object (`obj` NULL). */
#ifndef KRAAL_SCHED_PODINFO_H
#define KRAAL_SCHED_PODINFO_H

#include <stdbool.h>

#include <kraal/error.h>
#include <kraal/scheduler.h>
#include <kraal/value.h>

typedef struct sched_pod {
    kr_sched_pod_t pod; /* first: a kr_sched_pod_t * is a sched_pod_t * */
    kr_arena_t *arena;  /* everything the fields point to */
} sched_pod_t;

/* Parses `obj` (a Pod).  With keep_obj the pod's object is copied into the
 * arena and pod.obj points to it (the pod being placed); without, obj is
 * NULL and only the parsed fields are kept (pods on nodes).  A field that
 * does not parse (an invalid quantity, a selector the API would have
 * refused) fails with KR_E_INVALID and a message naming the field.  Caller
 * owns the result (sched_pod_free). */
sched_pod_t *sched_pod_new(const kr_value_t *obj, bool keep_obj, kr_error_t *err);
void sched_pod_free(sched_pod_t **self_p);

/* True when the pod has any pod (anti-)affinity term, and when it has a
 * required anti-affinity term (the node's pods_with_* lists). */
bool sched_pod_has_affinity(const kr_sched_pod_t *pod);
bool sched_pod_has_required_anti_affinity(const kr_sched_pod_t *pod);

/* Builds a labelSelector object ({matchLabels, matchExpressions}) with
 * `key in (v)` added for each key of `match_keys` and `key notin (v)` for
 * each key of `mismatch_keys` (arrays of strings; NULL for none) that
 * `labels` has, v its value: matchLabelKeys / mismatchLabelKeys of pod
 * affinity terms (which the API server merges when it admits a pod) and of
 * topology spread constraints.  A null selector selects nothing and stays
 * so.  Caller owns the result; NULL with err as kr_labelsel_from_object. */
kr_labelsel_t *sched_selector_with_keys(const kr_value_t *selector, const kr_value_t *labels,
                                        const kr_value_t *match_keys,
                                        const kr_value_t *mismatch_keys, kr_error_t *err);

/* Adds `add` to `acc` (sums milli_cpu, memory, ephemeral_storage, pods and
 * the scalars by name); `sign` -1 subtracts.  Scalars are allocated in
 * `arena` when acc needs more room.  For a node's `requested`. */
void sched_resources_add(kr_arena_t *arena, kr_sched_resources_t *acc,
                         const kr_sched_resources_t *add, int sign);

/* Parses a resource list map ({cpu: "500m", memory: "1Gi", "nvidia.com/gpu":
 * "1"}) into `out` (scalars in `arena`); `pods` is taken from the "pods"
 * entry.  For a node's allocatable and capacity. */
int sched_resources_parse(kr_arena_t *arena, const kr_value_t *list, kr_sched_resources_t *out,
                          kr_error_t *err);

#endif
