/* kraal SDK — what every workload controller needs beside informers and
 * work queues, after k8s.io/kubernetes/pkg/controller
 * (controller_utils.go, controller_ref_manager.go) and
 * k8s.io/kubectl/pkg/util/podutils:
 *
 * - expectations: how many creations and deletions a controller is still
 *   waiting to see in its informer, so that it never acts twice on a
 *   stale cache (ControllerExpectations / UIDTrackingControllerExpectations);
 * - controller references: the ownerReference with controller: true;
 * - pods: active, ready, available (minReadySeconds), made from a
 *   template, and ranked for deletion on scale-down (ActivePods);
 * - times in Kubernetes' formats (RFC 3339, with microseconds for
 *   MicroTime);
 * - the apps/v1 ControllerRevision kind the DaemonSet and StatefulSet
 *   controllers keep their history in.
 *
 * Threading: an expectations table belongs to one thread (the
 * controller's loop); kr_controller_revisions_register blocks on its bus;
 * the other functions are pure.
 */
#ifndef KRAAL_CONTROLLER_H
#define KRAAL_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/bus.h>
#include <kraal/error.h>
#include <kraal/informer.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- times ------------------------------------------------------------------ */

/* Wall-clock nanoseconds since the epoch. */
int64_t kr_time_now_ns(void);
/* "2006-01-02T15:04:05Z" (metav1.Time); `size` >= 21. */
void kr_time_format(int64_t sec, char *buf, size_t size);
/* "2006-01-02T15:04:05.000000Z" (metav1.MicroTime); `size` >= 28. */
void kr_time_format_micro(int64_t ns, char *buf, size_t size);
/* RFC 3339 as Go's time.Parse(time.RFC3339): fractional seconds and a
 * numeric offset allowed.  False on anything else. */
bool kr_time_parse(const char *s, int64_t *sec, int32_t *nsec);

/* ---- expectations ----------------------------------------------------------- */

/* Per controller key ("namespace/name"): creations and deletions still
 * expected.  A key whose expectations are met, or older than the TTL
 * (5 minutes upstream: a lost watch event must not block it forever), or
 * unknown, is *satisfied*: its sync may act.  Deletions can be tracked by
 * uid, so that only the deletion of a pod the controller deleted counts. */
typedef struct kr_expectations kr_expectations_t;

/* ttl_ms 0: 5 minutes.  Caller owns the table. */
kr_expectations_t *kr_expectations_new(uint64_t ttl_ms);
void kr_expectations_destroy(kr_expectations_t **self_p);

/* Sets the expectations of `key` (ExpectCreations/ExpectDeletions):
 * `adds` creations, and the deletion of each of `uids` (n_uids of them;
 * with uids NULL, n_uids untracked deletions).  now_ms: kr_time_ms(). */
void kr_expectations_set(kr_expectations_t *e, const char *key, int64_t adds,
                         const char *const *uids, size_t n_uids, uint64_t now_ms);
/* A creation of `key`'s was seen (or will never be: the create failed). */
void kr_expectations_creation_observed(kr_expectations_t *e, const char *key);
/* A deletion was seen: with a uid, counts only when that uid was
 * expected; with NULL, lowers the untracked count. */
void kr_expectations_deletion_observed(kr_expectations_t *e, const char *key, const char *uid);
bool kr_expectations_satisfied(const kr_expectations_t *e, const char *key, uint64_t now_ms);
/* Forgets the key (its controller object was deleted). */
void kr_expectations_delete(kr_expectations_t *e, const char *key);

/* ---- controller references -------------------------------------------------- */

/* The ownerReference of `obj` with controller: true, or NULL. */
const kr_value_t *kr_controller_ref_of(const kr_value_t *obj);
/* True when obj's controller is the object with this uid. */
bool kr_controlled_by(const kr_value_t *obj, const char *owner_uid);
/* {apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true}
 * for `owner` (a whole object), in `arena`. */
kr_value_t *kr_controller_ref_new(kr_arena_t *arena, const kr_value_t *owner);
/* resolveControllerRef: the object cached in `inf` (namespace `ns`) that
 * the controller reference `ref` names (e.g. kr_controller_ref_of(pod)),
 * when ref's kind is `kind`, its apiVersion starts with `api_prefix`
 * ("apps/"; NULL: any) and the cached object has ref's uid; else NULL.
 * Owned by the informer's cache. */
const kr_value_t *kr_controller_ref_resolve(const kr_informer_t *inf, const char *ns,
                                            const kr_value_t *ref, const char *kind,
                                            const char *api_prefix);
/* ControllerRefManager's adopt and release, as a strategic merge patch of
 * `obj`: metadata.ownerReferences [kr_controller_ref_new(owner)] (adopt)
 * or [{"$patch": "delete", "uid": <owner's uid>}] (release), with
 * metadata.uid the object's uid so that the patch fails on an object
 * replaced meanwhile.  In `arena`. */
kr_value_t *kr_controller_ref_patch(kr_arena_t *arena, const kr_value_t *owner,
                                    const kr_value_t *obj, bool adopt);

/* controller.ComputeHash's last steps over `data`, the canonical bytes of
 * a template (each controller keeps its own canonical form: a change of
 * it would change the hash of every existing object): FNV-1a 32 of the
 * bytes, then of collision_count (a little-endian uint32) when >= 0, and
 * the decimal of that in rand.SafeEncodeString's alphabet, into `out`
 * (at most 10 characters and the NUL; truncated to size - 1). */
void kr_controller_hash(const void *data, size_t len, int64_t collision_count, char *out,
                        size_t size);

/* A create refused because its namespace is being deleted (a 403 with the
 * NamespaceTerminating cause, or upstream's "because it is being
 * terminated" message): controllers drop such creates, as upstream's do
 * (apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause)). */
bool kr_reply_namespace_terminating(const kr_reply_t *reply);

/* ---- pods ------------------------------------------------------------------- */

/* Not Succeeded, not Failed, not being deleted (controller.IsPodActive). */
bool kr_pod_is_active(const kr_value_t *pod);
/* The Ready condition is True. */
bool kr_pod_is_ready(const kr_value_t *pod);
/* Ready for at least min_ready_seconds at now_sec (podutil.IsPodAvailable). */
bool kr_pod_is_available(const kr_value_t *pod, int64_t min_ready_seconds, int64_t now_sec);

/* A pod from a PodTemplateSpec (GetPodFromTemplate): the template's
 * labels, annotations, finalizers and spec copied, namespace and the
 * controller reference to `owner` set, metadata.generateName
 * "<owner name>-" (unless `name` is given).  In `arena`. */
kr_value_t *kr_pod_from_template(kr_arena_t *arena, const kr_value_t *template_spec,
                                 const kr_value_t *owner, const char *name);

/* ActivePods' order: < 0 when `a` should be deleted before `b` on a
 * scale-down — unassigned before assigned, Pending before Unknown before
 * Running, not ready before ready, ready for a shorter time first, more
 * container restarts first, newer first; 0 when none of these differ. */
int kr_pod_cmp_deletion(const kr_value_t *a, const kr_value_t *b);

/* ---- ControllerRevisions ---------------------------------------------------- */

/* Registers apps/v1 ControllerRevision (kind.register: controllerrevisions,
 * namespaced, `data` and `revision`) for init, with a blocking call of at
 * most 10 s on `bus`.  0 when registered or already there (409); else < 0,
 * err "registering apps/v1 controllerrevisions: <message>". */
int kr_controller_revisions_register(kr_bus_t *bus, kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
