/* controller-endpoints: the pure parts, after upstream's
 * pkg/controller/endpoint/endpoints_controller.go,
 * pkg/api/v1/endpoints/util.go (RepackSubsets) and
 * staging/src/k8s.io/endpointslice (reconciler.go, utils.go,
 * util/controller_utils.go, util/endpointset.go):
 *
 * - which pods are endpoints, their address and their ports (targetPort
 *   numbers or named container ports, resolved per pod);
 * - the subsets of a Service's Endpoints, repacked and sorted so that
 *   equal sets of addresses compare equal, and their truncation at 1000;
 * - the EndpointSlices of a Service: what to create, update and delete so
 *   that the existing slices hold the desired endpoints, with as few writes
 *   as possible (reconcileByPortMapping's three steps).
 *
 * No I/O: unit-tested in tests/test_ep_build.c.  Every value returned is
 * built in the arena given; inputs are never modified. */
#ifndef EP_BUILD_H
#define EP_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

#define EP_LABEL_MANAGED_BY   "endpoints.kubernetes.io/managed-by"
#define EP_CONTROLLER_NAME    "endpoint-controller"
#define ES_LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define ES_LABEL_MANAGED_BY   "endpointslice.kubernetes.io/managed-by"
#define ES_CONTROLLER_NAME    "endpointslice-controller.k8s.io"
#define EP_LABEL_HEADLESS     "service.kubernetes.io/headless"
#define EP_ANN_TRIGGER_TIME   "endpoints.kubernetes.io/last-change-trigger-time"
#define EP_ANN_OVER_CAPACITY  "endpoints.kubernetes.io/over-capacity"
#define EP_MAX_CAPACITY       1000 /* addresses in one Endpoints (maxCapacity) */
#define EP_ZONE_LABEL         "topology.kubernetes.io/zone"

/* ---- pods and services ---------------------------------------------------------- */

/* The Service selects pods: it has a non-empty spec.selector and is not of
 * type ExternalName (both controllers leave the others alone). */
bool ep_service_selects(const kr_value_t *svc);
/* labels.Set(selector).Matches(pod labels): every selector pair is a label
 * of the pod. */
bool ep_selector_matches(const kr_value_t *selector, const kr_value_t *pod_labels);
/* spec.clusterIP is set and not "None" (helper.IsServiceIPSet). */
bool ep_service_ip_set(const kr_value_t *svc);

/* ShouldPodBeInEndpoints: not Succeeded or Failed, has a pod IP, and not
 * being deleted unless include_terminating. */
bool ep_pod_in_endpoints(const kr_value_t *pod, bool include_terminating);
/* podutil.FindPort: the targetPort of `svc_port` when it is a number, else
 * the containerPort of the (container or sidecar init container) port of
 * that name and the service port's protocol; -1 when there is none. */
int64_t ep_find_port(const kr_value_t *pod, const kr_value_t *svc_port);
/* The pod's first IP of the Service's family (spec.ipFamilies[0], else
 * the family of the clusterIP, else of the pod's IP), or NULL. */
const char *ep_pod_ip(const kr_value_t *svc, const kr_value_t *pod);
/* ShouldSetHostname: the pod has spec.hostname and its spec.subdomain is
 * the Service's name, in the Service's namespace. */
bool ep_should_set_hostname(const kr_value_t *pod, const kr_value_t *svc);

/* ---- Endpoints ------------------------------------------------------------------- */

/* The subsets of the Service's Endpoints for its pods (the ones that match
 * its selector; the others are filtered here too), repacked as
 * RepackSubsets does — one subset per distinct set of addresses, each with
 * every port those addresses serve; ready addresses in `addresses`,
 * unready ones in `notReadyAddresses` (not ready wins when a pod is both) —
 * and sorted: addresses by IP then pod uid, ports by port, name and
 * protocol, subsets by their ports.  Empty lists are left out.  A headless
 * Service without ports gets its addresses without ports; another Service
 * without ports gets none.  *ready / *not_ready count the addresses. */
kr_value_t *ep_subsets_build(kr_arena_t *a, const kr_value_t *svc, const kr_value_t *const *pods,
                             size_t n, size_t *ready, size_t *not_ready);
/* truncateEndpoints: when the subsets hold more than `max` addresses,
 * keeps at most `max`, ready ones first, each subset keeping its share
 * (rounded up); returns whether it cut anything. */
bool ep_subsets_truncate(kr_arena_t *a, kr_value_t *subsets, size_t max);
/* Equal subsets, ignoring targetRef.resourceVersion; a missing list is an
 * empty one. */
bool ep_subsets_equal(const kr_value_t *x, const kr_value_t *y);
/* The labels of the Service's Endpoints: the Service's, the managed-by
 * label, and service.kubernetes.io/headless when it has no cluster IP. */
kr_value_t *ep_endpoints_labels(kr_arena_t *a, const kr_value_t *svc);
/* The syncService test: `cur` (an Endpoints object) already has these
 * subsets and labels (the headless label aside) and a correct
 * over-capacity annotation. */
bool ep_endpoints_current(const kr_value_t *cur, const kr_value_t *subsets,
                          const kr_value_t *labels);

/* ---- EndpointSlices --------------------------------------------------------------- */

/* Looks a node up: false when it does not exist; *zone (may stay NULL) is
 * its topology.kubernetes.io/zone label. */
typedef bool (*es_node_fn)(const char *node, const char **zone, void *ud);

typedef struct es_plan {
    kr_value_t **create; /* new slices (metadata.generateName "<service>-") */
    size_t ncreate;
    kr_value_t **update; /* whole slices to PUT (name and resourceVersion of the old) */
    size_t nupdate;
    const kr_value_t **del; /* existing slices to delete (pointers into the input) */
    size_t ndel;
    size_t skipped; /* pods left out because their node does not exist */
    size_t added, removed;
} es_plan_t;

/* Reconcile for addressType IPv4: compares the slices the Service should
 * have with `slices` (its existing slices: service-name label of the
 * Service, managed by the EndpointSlice controller, not being deleted) and
 * fills `plan` (in `a`).  Slices owned by another object of the same name
 * are deleted; endpoints stay in the slice that has them; slices whose
 * endpoints changed are updated, emptied ones deleted; new endpoints fill
 * the updated slices first (fullest first), then the unchanged slice that
 * they fill closest to full, then new slices of at most `max_per_slice`;
 * creates replace deletes of owned slices as updates; a Service without
 * endpoints keeps one placeholder slice without ports or endpoints.  A
 * pod on a node that `node` does not know is left out (counted in
 * plan->skipped) unless publishNotReadyAddresses.  When `svc` is being
 * deleted, nothing is created. */
void es_reconcile(kr_arena_t *a, const kr_value_t *svc, const kr_value_t *const *pods, size_t n,
                  const kr_value_t *const *slices, size_t nslices, size_t max_per_slice,
                  es_node_fn node, void *ud, es_plan_t *plan);

/* The key an endpoint is matched by (hashEndpoint): sorted addresses,
 * hostname, targetRef namespace/name.  In `a`. */
const char *es_endpoint_key(kr_arena_t *a, const kr_value_t *ep);
/* The key of a set of ports (NewPortMapKey): order-independent. */
const char *es_ports_key(kr_arena_t *a, const kr_value_t *ports);

/* Sets or removes the last-change-trigger-time annotation of `obj` (an
 * Endpoints or EndpointSlice built in `a`): `when` is RFC 3339, NULL
 * removes it. */
void ep_set_trigger_time(kr_arena_t *a, kr_value_t *obj, const char *when);

#endif
