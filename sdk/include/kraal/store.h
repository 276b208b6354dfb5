/* kraal SDK — the store interface.
 *
 * A store plugin keeps the cluster's objects durably.  It registers a
 * vtable during init with kr_store_register(); the core then drives it from
 * one thread of its own (the committer), never concurrently, so a store
 * needs no locking of its own; only read() comes from another thread, at
 * the same time as the others (a store gives it a connection of its own).  The core keeps every current object and a
 * window of recent events in memory (the watch cache) and assigns
 * revisions; the store persists them:
 *
 *  - range:   every live key, for the cache at start;
 *  - history: the events after a revision, to refill the watch window;
 *  - txn:     a batch of writes in one durable transaction (group commit),
 *             each guarded by a compare on the key's mod revision;
 *  - compact: forget history at or below a revision;
 *  - read:    (optional) live keys under a prefix, from the core's broker
 *             thread while the committer writes: the kinds the core does not
 *             cache (Events, as upstream's apiserver keeps no watch cache
 *             for them) are read from here.
 *
 * Keys are "<group>/<plural>/<namespace>/<name>" ("core" for the empty
 * group; no namespace segment for cluster-scoped kinds), values are the
 * objects' msgpack encoding.  Revisions are the int64 resourceVersions the
 * core hands out: strictly increasing in commit order, with gaps where a
 * write failed.
 */
#ifndef KRAAL_STORE_H
#define KRAAL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A live key, as range() reports it.  Pointers are valid during the call. */
typedef struct kr_store_kv {
    const char *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t create_rev; /* revision of the write that created the key */
    int64_t mod_rev;    /* revision of the last write to the key */
} kr_store_kv_t;

typedef enum kr_store_op {
    KR_STORE_PUT = 1,
    KR_STORE_DELETE = 2,
} kr_store_op_t;

/* An event of the history.  For a DELETE, value is the object's final
 * state (as the core wrote it with the delete). */
typedef struct kr_store_event {
    kr_store_op_t op;
    int64_t rev;
    const char *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t create_rev;
    int64_t prev_rev; /* mod revision the key had before this event; 0 = none */
} kr_store_event_t;

/* Return < 0 to stop the iteration; that value is then returned. */
typedef int (*kr_store_kv_fn)(const kr_store_kv_t *kv, void *ud);
typedef int (*kr_store_event_fn)(const kr_store_event_t *ev, void *ud);

/* One write of a transaction. */
typedef struct kr_store_write {
    kr_store_op_t op;
    const char *key;
    size_t key_len;
    const void *value; /* PUT: the new object; DELETE: its final state */
    size_t value_len;
    int64_t rev;        /* the revision this write gets */
    int64_t expect_rev; /* the key's mod revision must equal this; 0 = must not exist */
    int64_t create_rev; /* PUT of an existing key keeps its create_rev; set by the store */
    int result;         /* set by the store: 0 applied, -KR_E_CONFLICT compare failed */
} kr_store_write_t;

typedef struct kr_store_ops {
    uint32_t struct_size; /* sizeof(kr_store_ops_t) of the plugin's SDK */
    /* Calls fn for every live key in key order, then sets *rev to the
     * store's current revision (the highest revision ever committed, 0 for
     * an empty store) and *compact_rev to the highest compacted revision. */
    int (*range)(void *self, kr_store_kv_fn fn, void *ud, int64_t *rev, int64_t *compact_rev,
                 kr_error_t *err);
    /* Calls fn for every event with a revision > after, in revision order.
     * KR_E_EXPIRED when `after` is below the compacted revision. */
    int (*history)(void *self, int64_t after, kr_store_event_fn fn, void *ud, kr_error_t *err);
    /* Applies `writes` (in array order, revisions increasing) in one
     * durable transaction: when it returns 0 the transaction is on disk and
     * each write's result says whether it applied (a failed compare skips
     * that write only).  < 0 when nothing was committed: err is
     * KR_E_INSUFFICIENT_STORAGE when the disk is full and KR_E_INTERNAL for
     * an I/O or other error, with a message naming the cause.  A later txn
     * must work again once the cause is gone. */
    int (*txn)(void *self, kr_store_write_t *writes, size_t n, kr_error_t *err);
    /* Forgets the history at or below `rev` (live keys stay). */
    int (*compact)(void *self, int64_t rev, kr_error_t *err);
    /* Optional (NULL: the core keeps every kind in memory).  Called from one
     * thread other than the committer's (never two reads at once), while
     * the other ops run: calls fn for each live key that starts with
     * `prefix`, sorts after `after` (bytewise; NULL: from the first) and
     * whose mod revision is at most `max_mod_rev` (0: any), in key order,
     * until fn returns < 0.  Everything read is one committed state: the
     * one after the txn of revision *rev (the store's revision then). */
    int (*read)(void *self, const char *prefix, size_t prefix_len, const char *after,
                size_t after_len, int64_t max_mod_rev, kr_store_kv_fn fn, void *ud, int64_t *rev,
                kr_error_t *err);
} kr_store_ops_t;

/* Registers the instance's store with the core; only during init, and
 * only in-process (kraal server).  `ops` must outlive the instance; `self`
 * is passed to every call.  The core stops calling before fini runs.
 * KR_E_ALREADY_EXISTS when a store is already registered. */
int kr_store_register(kr_plugin_ctx_t *ctx, const kr_store_ops_t *ops, void *self, kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
