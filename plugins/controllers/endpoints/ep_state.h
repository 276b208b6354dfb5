/* controller-endpoints: what the controller remembers per Service between
 * syncs, after upstream's trackers:
 *
 * - the resourceVersion of the Endpoints it last wrote
 *   (staleEndpointsTracker): a cache that shows an older one has not seen
 *   that write yet, and the sync waits for it;
 * - per EndpointSlice it wrote, the resourceVersion it wrote, or "deletion
 *   expected" (util.EndpointSliceTracker, by resourceVersion instead of
 *   generation: one global revision orders every write);
 * - the trigger times of the last sync (util.TriggerTimeTracker), for the
 *   endpoints.kubernetes.io/last-change-trigger-time annotation.
 *
 * Single-threaded (the controller's loop).  No I/O: unit-tested in
 * tests/test_ep_state.c. */
#ifndef EP_STATE_H
#define EP_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

#define EP_DELETION_EXPECTED (-1)

typedef struct ep_slice_rec {
    char *uid;
    int64_t rv; /* EP_DELETION_EXPECTED: we deleted it */
} ep_slice_rec_t;

typedef struct ep_pod_time {
    char *name;
    int64_t ns;
} ep_pod_time_t;

typedef struct ep_svc_state {
    struct ep_svc_state *next; /* hash chain */
    char *key;                 /* "namespace/name" */
    char *svc_uid;             /* the Service the slice records are about */
    int64_t endpoints_rv;      /* of our last Endpoints write; 0: none */
    bool deleted_seen;         /* the Service's deletion was watched */
    ep_slice_rec_t *slices;
    size_t nslices, cap_slices;
    bool trigger_known;
    int64_t svc_trigger_ns;
    ep_pod_time_t *pods; /* sorted by name */
    size_t npods;
} ep_svc_state_t;

typedef struct ep_states ep_states_t;

/* Caller owns the table. */
ep_states_t *ep_states_new(void);
void ep_states_destroy(ep_states_t **self_p);
/* The state of `key`, created when `create`; NULL otherwise.  Owned by the
 * table, valid until ep_states_drop of that key. */
ep_svc_state_t *ep_states_get(ep_states_t *t, const char *key, bool create);
void ep_states_drop(ep_states_t *t, const char *key);
size_t ep_states_len(const ep_states_t *t);

/* A resourceVersion as a number (0 when it is not one). */
int64_t ep_rv_num(const char *rv);

/* ---- slices ---- */

/* Forgets the slice records when they were about another Service of the
 * same name (StaleSlices' uid check). */
void ep_state_service_uid(ep_svc_state_t *s, const char *uid);
/* Records our write (rv) or deletion (EP_DELETION_EXPECTED) of a slice. */
void ep_state_slice_set(ep_svc_state_t *s, const char *uid, int64_t rv);
/* Forgets a slice; returns its record's rv, or 0 when it had none. */
int64_t ep_state_slice_forget(ep_svc_state_t *s, const char *uid);
/* ShouldSync: a slice of this rv is a change we did not make. */
bool ep_state_slice_should_sync(const ep_svc_state_t *s, const char *uid, int64_t rv);
/* StaleSlices: `slices` (the cached slices of the Service, not being
 * deleted) lack one of our writes, hold an older version of one, or hold
 * one we deleted. */
bool ep_state_slices_stale(const ep_svc_state_t *s, const kr_value_t *const *slices, size_t n);

/* ---- trigger time ---- */

/* ComputeEndpointLastChangeTriggerTime over the Service and its pods:
 * the first sync of a Service gives its creationTimestamp; later ones the
 * earliest Ready transition (lastTransitionTime) newer than the one seen
 * at the last sync, or the Service's creation when it is new; 0 when none
 * changed (the annotation is then removed).  Updates the state. */
int64_t ep_state_trigger_time(ep_svc_state_t *s, const kr_value_t *svc,
                              const kr_value_t *const *pods, size_t n);

#endif
