/* network-proxy: the model — every Service's ports with their ready
 * endpoints (kube-proxy's ServicePortMap and EndpointsMap in one), built
 * from Service and EndpointSlice objects.
 *
 * Services are keyed "ns/name".  Each EndpointSlice (discovery.k8s.io/v1,
 * label kubernetes.io/service-name) is linked to its Service's key; a
 * change to either marks the key pending, and proxy_model_update rebuilds
 * a pending key's svcports from the objects, marking dirty the svcports
 * whose rules change.  Not thread-safe: one loop owns it.
 */
#ifndef NETWORK_PROXY_MODEL_H
#define NETWORK_PROXY_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/value.h>

#include "conntrack.h"
#include "rules.h"

typedef struct proxy_model proxy_model_t;

/* Caller owns the model (proxy_model_destroy). */
proxy_model_t *proxy_model_new(void);
void proxy_model_destroy(proxy_model_t **self_p);

/* The Service `svc_key` needs a look (its object changed). */
void proxy_model_touch(proxy_model_t *m, const char *svc_key);
/* Links EndpointSlice `slice_key` ("ns/name") to Service `svc_key`, or
 * unlinks it (svc_key NULL: the slice is gone or lost its label); both the
 * old and the new Service get a look. */
void proxy_model_link_slice(proxy_model_t *m, const char *slice_key, const char *svc_key);
/* Forgets every slice link and marks every Service pending: before a
 * full sync links every cached slice again, so that the model is rebuilt
 * from the caches (level-based) whatever events it may have missed. */
void proxy_model_unlink_all(proxy_model_t *m);
/* Whether some Service waits for a look. */
bool proxy_model_pending(const proxy_model_t *m);

/* Looks objects up for proxy_model_update (the informers' caches): the
 * Service or EndpointSlice by key, NULL when there is none. */
typedef const kr_value_t *(*proxy_lookup_fn)(void *ud, bool slice, const char *key);

/* Rebuilds the svcports of every pending Service.  Returns how many
 * svcports changed (they are dirty now); *entries (may be NULL) is set
 * when a change reaches KRAAL-SERVICES, KRAAL-NODEPORTS or the filter
 * table (a port came or went, got its first or lost its last endpoint,
 * changed address or nodePort) rather than only a port's own chains. */
size_t proxy_model_update(proxy_model_t *m, proxy_lookup_fn lookup, void *ud, bool *entries);

/* The UDP conntrack entries made stale by the updates since the last
 * call (proxy_conntrack_clear them once the rules are written).  The
 * caller frees the array; *n gets the count. */
proxy_ct_stale_t *proxy_model_take_stale(proxy_model_t *m, size_t *n);

/* The svcports of the whole model (borrowed until the next update).  *n
 * gets the count. */
proxy_svcport_t *const *proxy_model_svcports(proxy_model_t *m, size_t *n);

/* The svcports of one Service object with its slices (for the model and
 * the tests): fills *out (caller frees each with proxy_svcport_clear and
 * the array with free()).  Headless and ExternalName Services have none. */
size_t proxy_svcports_build(const kr_value_t *svc, const kr_value_t *const *slices, size_t nslices,
                            proxy_svcport_t **out);

#endif
