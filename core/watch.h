/* Watches: a window of recent events per kind and the watchers fed from it
 * (DESIGN.md §2 "watch cache").
 *
 * Every committed change is published here in revision order.  Each kind
 * keeps its last `window` events; a watch from revision N replays the
 * events after N from the window, or is refused with 410 Expired when
 * events after N have already left it.  A watch without a revision starts
 * with synthetic ADDED events for a snapshot of the current objects.
 *
 * Every watcher gets every event of its selection exactly once, in
 * revision order, or an explicit ERROR: a watcher that is still catching up
 * (snapshot or replay) is fed at the pace its connection drains, and one
 * whose catch-up falls out of the window, or whose connection lags past the
 * broker's backlog, gets ERROR/Expired and must relist.
 *
 * Selectors filter as in Kubernetes' cacher: an object that starts to
 * match yields ADDED, one that stops matching yields DELETED carrying its
 * previous state with the event's resourceVersion.  Bookmarks, when asked
 * for, carry the current revision every bookmark period.
 *
 * Used in the broker thread only.
 */
#ifndef KRAAL_CORE_WATCH_H
#define KRAAL_CORE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>

#include "broker.h"
#include "cache.h"
#include "registry.h"
#include <kraal/selector.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kr_watch_type {
    KR_WATCH_ADDED = 0,
    KR_WATCH_MODIFIED,
    KR_WATCH_DELETED,
} kr_watch_type_t;

/* "ADDED", "MODIFIED", "DELETED". */
const char *kr_watch_type_name(kr_watch_type_t type);

typedef struct kr_watch_hub kr_watch_hub_t;

/* window: events kept per kind (0 = KR_WATCH_WINDOW); bookmark_ms: period
 * of bookmarks (0 = KR_WATCH_BOOKMARK_MS); base_rev: the revision the
 * windows start at (watches from an older revision get 410). */
/* 2048 events per kind: upstream's watch cache keeps 100 by default; more
 * lets a watcher that reconnects within seconds resume instead of
 * relisting, while the old versions the window holds stay a bounded part
 * of the memory (about 2048 superseded objects per busy kind). */
#define KR_WATCH_WINDOW      2048
#define KR_WATCH_BOOKMARK_MS 60000
kr_watch_hub_t *kr_watch_hub_new(kr_broker_t *b, size_t window, uint64_t bookmark_ms,
                                 int64_t base_rev);
/* Ends every stream with ERROR/ServiceUnavailable and frees the hub. */
void kr_watch_hub_destroy(kr_watch_hub_t **self_p);

typedef struct kr_watch_opts {
    const kr_kind_t *kind;
    const char *ns;        /* NULL = every namespace */
    kr_labelsel_t *labels; /* taken by kr_watch_open, may be NULL */
    kr_fieldsel_t *fields; /* taken by kr_watch_open, may be NULL */
    int64_t from_rev;      /* > 0: events after it; <= 0: snapshot first */
    bool bookmarks;        /* allowWatchBookmarks */
    /* sendInitialEvents: after the snapshot, a BOOKMARK annotated
     * "k8s.io/initial-events-end": "true" (needs bookmarks). */
    bool initial_events_end;
} kr_watch_opts_t;

/* Opens a watch answering `req` (a stream).  `live` is the kind's live
 * map and `rev` the current global revision (the snapshot's).  Returns 0
 * when the stream is open; < 0 with err (KR_E_EXPIRED when from_rev is
 * older than the window, KR_E_TOO_MANY_REQUESTS when the connection has
 * too many watches) when the caller must answer req with the error.
 * Takes opts->labels/fields in every case. */
int kr_watch_open(kr_watch_hub_t *h, const kr_broker_req_t *req, kr_watch_opts_t *opts,
                  const kr_objmap_t *live, int64_t rev, kr_error_t *err);

/* A committed change, in revision order.  obj: the new state (for DELETED
 * the final state, whose rev is the delete's revision); prev: the state
 * before (NULL for ADDED).  The hub takes its own references. */
void kr_watch_publish(kr_watch_hub_t *h, kr_watch_type_t type, kr_objrec_t *obj, kr_objrec_t *prev);
/* The global revision reached rev (bookmarks report it). */
void kr_watch_progress(kr_watch_hub_t *h, int64_t rev);
/* Oldest revision a watch of this kind can start from. */
int64_t kr_watch_oldest(const kr_watch_hub_t *h, const kr_kind_t *kind);

/* Feeds catching-up watchers and sends due bookmarks; call often (the
 * API calls it from a broker tick of a few ms). */
void kr_watch_tick(kr_watch_hub_t *h, uint64_t now_ms);

typedef struct kr_watch_stats {
    size_t watchers, catching_up;
    uint64_t events_published, events_sent, expired;
} kr_watch_stats_t;
void kr_watch_stats(const kr_watch_hub_t *h, kr_watch_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
