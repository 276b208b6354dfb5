/* kraal SDK — an informer: a local cache of one resource, kept current by
 * list + watch over the bus (after client-go's SharedIndexInformer and its
 * Reflector), with add/update/delete handlers.
 *
 * The informer lists the resource (in pages of `page_size`, following
 * `continue` tokens), fills its cache, calls on_add for every object, then
 * watches from the list's resourceVersion and applies each event to the
 * cache before calling the handlers.  BOOKMARK events only move the
 * resourceVersion.  When the watch ends with ERROR 410 (Expired, Gone) it
 * relists at once; on any other error, a failed list, a timed-out request
 * or a broken connection (ServiceUnavailable) it waits an exponential,
 * capped, jittered back-off and relists (a 410 right after another failure
 * waits too, so nothing ever spins; a watch event, a bookmark or a watch
 * that stayed up longer than the cap resets the back-off).  A relist delivers the difference
 * to the handlers, as client-go's Replace does: objects gone since the
 * last state → on_delete (with the last state seen), changed objects
 * (another resourceVersion) → on_update, new ones → on_add; unchanged
 * objects get nothing.  Every `resync_ms` each cached object is handed to
 * on_update(obj, obj), so a controller re-checks what it may have missed.
 * A watch is also restarted (from the current resourceVersion, without a
 * relist) after `watch_timeout_ms`, so a watch lost without an error (a
 * restarted broker) is replaced.
 *
 * Threading: everything runs on the loop of the bus connection given to
 * kr_informer_new (a plugin's kr_plugin_loop/kr_plugin_bus); every function
 * must be called on that thread and every handler is called there.
 *
 * Ownership:
 * - The informer owns every object it hands out.  An object passed to a
 *   handler is valid until the handler returns; an object returned by
 *   kr_informer_get or passed to a kr_informer_each callback is valid until
 *   control returns to the loop.  Never modify them; copy
 *   (kr_value_copy) what you keep.
 * - Handlers run from loop callbacks, never from inside a kr_informer_*
 *   call except kr_informer_add_handlers (which replays the cache to the new
 *   handlers).  A handler may read the cache (get, each, len) and do
 *   anything that does not block; it must not destroy the informer or add
 *   handlers.  The cache already holds the new state when a handler runs
 *   (and no longer holds a deleted object).
 * - Strings in the options are copied by kr_informer_new.
 */
#ifndef KRAAL_INFORMER_H
#define KRAAL_INFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/bus.h>
#include <kraal/error.h>
#include <kraal/loop.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kr_informer kr_informer_t;

/* Any of the three may be NULL.  on_update(obj, obj) with the same pointer
 * twice is a resync. */
typedef struct kr_informer_handlers {
    void (*on_add)(kr_informer_t *inf, const kr_value_t *obj, void *ud);
    void (*on_update)(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                      void *ud);
    void (*on_delete)(kr_informer_t *inf, const kr_value_t *obj, void *ud);
    void *ud;
} kr_informer_handlers_t;

/* Called when a list or a watch failed: `err` says what failed and how,
 * `retry_ms` is the wait before the next list (0 for an immediate relist
 * after Expired).  For logs and tests; the informer retries by itself. */
typedef void (*kr_informer_error_fn)(kr_informer_t *inf, const kr_error_t *err, uint64_t retry_ms,
                                     void *ud);

/* What the cache keeps of an object (client-go's SetTransform): called with
 * every object the informer is about to cache (listed or watched), before
 * the handlers, which then get the result.  Returns a tree built in
 * `arena` (scratch memory, reset before each call; the informer copies the
 * result) or NULL to keep `obj` as it is.  The result must keep
 * metadata.name, metadata.namespace and metadata.resourceVersion; an
 * informer over tens of thousands of objects uses it to keep only the
 * fields its handlers read.  Deletes are handed to on_delete as the watch
 * event carries them. */
typedef const kr_value_t *(*kr_informer_transform_fn)(kr_arena_t *arena, const kr_value_t *obj,
                                                      void *ud);

/* Zero (or NULL) picks the default of a field. */
typedef struct kr_informer_opts {
    const char *res;                 /* required: "v1/pods", "apps/v1/deployments" */
    const char *ns;                  /* one namespace; NULL = every namespace */
    const char *label_selector;      /* "app=web,tier in (fe,be)"; NULL = everything */
    const char *field_selector;      /* "spec.nodeName=n1"; NULL = everything */
    uint64_t resync_ms;              /* period of on_update(obj, obj); 0 = never */
    unsigned page_size;              /* list limit per page; default 500 */
    int request_timeout_ms;          /* per list page; default 30000 */
    uint64_t watch_timeout_ms;       /* watch restarted after 1-2x this; default 300000 (5 min) */
    uint64_t backoff_base_ms;        /* first back-off after a failure; default 800 */
    uint64_t backoff_max_ms;         /* back-off cap; default 30000 */
    const char *name;                /* for logs; default res */
    kr_informer_handlers_t handlers; /* the first set of handlers (may be all NULL) */
    kr_informer_error_fn on_error;   /* may be NULL */
    void *error_ud;
} kr_informer_opts_t;

/* Builds an informer on `loop` and `bus` (the bus must be attached to the
 * loop; both outlive the informer).  It does nothing until
 * kr_informer_start.  NULL with err (KR_E_INVALID: no res, bad option).
 * Caller owns the informer. */
kr_informer_t *kr_informer_new(kr_loop_t *loop, kr_bus_t *bus, const kr_informer_opts_t *opts,
                               kr_error_t *err);
/* Stops everything: closes the watch, cancels the timers, forgets a list
 * request in flight (its reply is dropped) and frees the cache.  No handler
 * runs afterwards.  Not from inside a handler. */
void kr_informer_destroy(kr_informer_t **self_p);

/* Adds another set of handlers (a shared informer feeds several
 * controllers).  Objects already cached are handed to the new on_add at
 * once, as client-go does.  Not from inside a handler. */
int kr_informer_add_handlers(kr_informer_t *inf, const kr_informer_handlers_t *h, kr_error_t *err);

/* Sets what the cache keeps of each object (see kr_informer_transform_fn;
 * NULL: whole objects).  Before kr_informer_start only (KR_E_ALREADY_EXISTS
 * after).  A function rather than an option, so that plugins built with
 * an older kr_informer_opts_t keep working. */
int kr_informer_set_transform(kr_informer_t *inf, kr_informer_transform_fn fn, void *ud,
                              kr_error_t *err);

/* Sends the first list.  KR_E_ALREADY_EXISTS when started already. */
int kr_informer_start(kr_informer_t *inf, kr_error_t *err);

/* True once the first complete list has been delivered to the handlers
 * (client-go's HasSynced); it stays true across relists. */
bool kr_informer_has_synced(const kr_informer_t *inf);

/* The cached object (see Ownership), or NULL.  ns NULL or "" for a
 * cluster-scoped object. */
const kr_value_t *kr_informer_get(const kr_informer_t *inf, const char *ns, const char *name);
/* The same by key: "namespace/name", or "name" when cluster-scoped. */
const kr_value_t *kr_informer_get_key(const kr_informer_t *inf, const char *key);
/* Number of cached objects. */
size_t kr_informer_len(const kr_informer_t *inf);

/* Calls fn for every cached object (of namespace `ns`, or all when ns is
 * NULL), in no particular order, until fn returns false.  fn must not
 * return to the loop.  Returns the number of objects visited. */
typedef bool (*kr_informer_each_fn)(const kr_value_t *obj, void *ud);
size_t kr_informer_each(const kr_informer_t *inf, const char *ns, kr_informer_each_fn fn, void *ud);

/* The resourceVersion the cache is at (the last list, event or bookmark),
 * or NULL before the first list.  Valid until control returns to the loop. */
const char *kr_informer_resource_version(const kr_informer_t *inf);

/* The cache key of an object (client-go's MetaNamespaceKeyFunc):
 * "namespace/name", or "name" without a namespace.  Writes at most `size`
 * bytes (NUL included) and returns the key's length, or -1 when the object
 * has no metadata.name or the key does not fit. */
int kr_informer_key(const kr_value_t *obj, char *buf, size_t size);

typedef struct kr_informer_stats {
    uint64_t lists;   /* complete lists delivered (the first one included) */
    uint64_t pages;   /* list requests answered 200 */
    uint64_t watches; /* watches opened */
    uint64_t events;  /* ADDED/MODIFIED/DELETED events applied */
    uint64_t bookmarks;
    uint64_t failures; /* lists and watches that failed (Expired included) */
    uint64_t resyncs;  /* resync passes */
} kr_informer_stats_t;
void kr_informer_stats(const kr_informer_t *inf, kr_informer_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
