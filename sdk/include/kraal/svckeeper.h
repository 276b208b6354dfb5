/* kraal SDK — a Service keeper: one selector-less Service, its Endpoints
 * and its EndpointSlice, kept as the caller wants them while the plugin
 * runs — what kube-apiserver's bootstrap controller and endpoint
 * reconciler do for default/kubernetes
 * (pkg/controlplane/controller/kubernetesservice, pkg/controlplane/
 * reconcilers), for any Service that points at an address of the process
 * itself (the API server's, the DNS server's).
 *
 * The caller gives the three objects as they should be (the Service
 * without a selector, so that the endpoints controller leaves it alone;
 * labels that keep the mirroring and the EndpointSlice controller off the
 * Endpoints and the slice are the caller's to set).  Each is looked up in
 * an informer whenever one of its events pokes the keeper, and every
 * period: a missing object is created, one that differs in what the
 * keeper compares (kr_svckeeper_up_to_date) is updated back from the
 * stored one (kr_svckeeper_repair), so that what the API allocated
 * (clusterIP, uid, ...) and fields nobody asked for stay.  A Service that
 * exists with another clusterIP keeps it (the field is immutable), logged
 * once.  One write per object is in flight at a time; a failed one is
 * logged once until its message changes and retried at the next look (a
 * 409 silently: the informer's next event brings the newer object).
 *
 * Ownership: the keeper copies the options (strings and objects).  The
 * informers the caller passes are borrowed and must outlive the keeper;
 * those it starts itself it owns.  The caller owns the keeper;
 * kr_svckeeper_destroy() may run with writes in flight: the keeper then
 * lives, inert, until their replies, which the bus always delivers.
 *
 * Threading: everything runs on the plugin's loop thread (kr_plugin_loop):
 * create, poke and destroy the keeper there.
 */
#ifndef KRAAL_SVCKEEPER_H
#define KRAAL_SVCKEEPER_H

#include <stdbool.h>

#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kr_svckeeper_obj {
    KR_SVCKEEPER_SERVICE,
    KR_SVCKEEPER_ENDPOINTS,
    KR_SVCKEEPER_SLICE,
    KR_SVCKEEPER_N
} kr_svckeeper_obj_t;

/* The Endpoints' and the slice's labels must be exactly the wanted ones
 * (upstream's EndpointsAdapter for default/kubernetes); without it, the
 * wanted labels among any others.  The Service's labels are always the
 * wanted ones among others. */
#define KR_SVCKEEPER_EXACT_LABELS 0x1u

typedef struct kr_svckeeper_opts {
    const char *ns, *name; /* of all three objects */
    /* The objects as they should be (metadata.name and namespace set);
     * NULL: that object is not kept.  The Service is required. */
    const kr_value_t *want[KR_SVCKEEPER_N];
    /* An informer of the kind, borrowed, whose handlers call
     * kr_svckeeper_poke() for ns/name; NULL for a kept object: the keeper
     * starts its own on ns with the field selector metadata.name=<name>,
     * named "<name> service", "<name> endpoints", "<name> endpointslice". */
    kr_informer_t *inf[KR_SVCKEEPER_N];
    unsigned period_ms; /* the look at all three; 0: 10000 (upstream's EndpointInterval) */
    unsigned flags;     /* KR_SVCKEEPER_* */
    /* What a write that succeeded logs (INFO, with kind= and object=);
     * NULL: "created" and "updated". */
    const char *msg_created, *msg_updated;
} kr_svckeeper_opts_t;

typedef struct kr_svckeeper kr_svckeeper_t;

/* Starts the keeper (and its own informers) on the plugin's loop; the
 * first look is as soon as the informers have listed.  NULL with err
 * (KR_E_INVALID without ns, name or the Service; an informer that did not
 * start).  Caller owns it. */
kr_svckeeper_t *kr_svckeeper_new(kr_plugin_ctx_t *ctx, const kr_svckeeper_opts_t *opts,
                                 kr_error_t *err);
/* Stops the timers and the keeper's own informers; writes in flight
 * finish without effect.  Accepts NULL. */
void kr_svckeeper_destroy(kr_svckeeper_t **self_p);
/* One of the objects may have changed: look again soon (after the
 * informer's burst of events).  Accepts NULL. */
void kr_svckeeper_poke(kr_svckeeper_t *k);

/* ---- pure parts (what the keeper compares and writes) ----------------------------------------- */

/* `cur` (the stored object) has what `want` sets: the Service its labels,
 * no selector, its type and its ports (name, protocol, port, targetPort);
 * the Endpoints their labels, and per subset the addresses' ips, no
 * notReadyAddresses, the ports (name, protocol, port); the slice its
 * labels, addressType, the endpoints' addresses with a ready condition
 * (absent is ready, as upstream reads it) and the ports. */
bool kr_svckeeper_up_to_date(const kr_value_t *cur, const kr_value_t *want,
                             kr_svckeeper_obj_t which, unsigned flags);
/* The body of the update that repairs `cur`, in `a` (owned by it): a copy
 * of cur with what want sets (the Service keeps what the API allocated;
 * the Endpoints take want's subsets, the slice its addressType, endpoints
 * and ports). */
kr_value_t *kr_svckeeper_repair(kr_arena_t *a, const kr_value_t *cur, const kr_value_t *want,
                                kr_svckeeper_obj_t which, unsigned flags);

#ifdef __cplusplus
}
#endif

#endif
