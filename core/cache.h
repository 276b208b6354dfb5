/* The object cache: every live object of every kind, in memory, so reads
 * never touch the store (DESIGN.md §2 "watch cache").
 *
 * An object version is a kr_objrec_t: its msgpack encoding (spliced as is
 * into get/list replies and watch events) plus the few decoded fields that
 * selectors and the API need.  Records are immutable and reference counted
 * (atomically: the committer thread holds references too); the live map,
 * the watch window and in-flight writes share them.
 *
 * kr_objmap_t holds one kind's live records ordered by (namespace, name):
 * lookups are O(log n), a namespace is a contiguous range, and a list
 * resumes after any key (continue tokens).  Maps are used from one thread.
 */
#ifndef KRAAL_CORE_CACHE_H
#define KRAAL_CORE_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/selector.h>
#include <kraal/value.h>

#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kr_objrec {
    _Atomic uint32_t refs;
    const kr_kind_t *kind;
    int64_t rev;        /* metadata.resourceVersion */
    int64_t create_rev; /* revision that created the object */
    const char *ns;     /* "" for cluster-scoped kinds */
    const char *name;
    const char *uid;          /* "" when absent */
    bool terminating;         /* metadata.deletionTimestamp is set */
    kr_arena_t *arena;        /* holds ns, name, uid, labels, fvals (one chunk) */
    const kr_value_t *labels; /* metadata.labels map, or NULL */
    /* Projection for field selectors: the string form of metadata.name,
     * metadata.namespace and each other field_selectors path of the kind,
     * in that order (NULL reads as ""); see kr_objrec_field. */
    const char *const *fvals;
    void *node_[4]; /* private: the ordered map's links */
    size_t len;
    unsigned char data[]; /* msgpack of the whole object */
} kr_objrec_t;

/* A record of `obj` (a full object tree whose metadata.resourceVersion is
 * already set): encodes it and extracts the fields.  rev and create_rev
 * are given by the caller.  refs = 1, owned by the caller.  NULL with err
 * when obj is not a map with metadata.name. */
kr_objrec_t *kr_objrec_new(const kr_kind_t *kind, const kr_value_t *obj, int64_t rev,
                           int64_t create_rev, kr_error_t *err);
/* The same from an encoding (the store's value at load). */
kr_objrec_t *kr_objrec_from_msgpack(const kr_kind_t *kind, const void *data, size_t len,
                                    int64_t rev, int64_t create_rev, kr_error_t *err);
/* The string form of field selector path `path` of the record, as
 * kr_fieldsel_match reads it ("" and absent are both NULL); NULL too for a
 * path that is not one of the kind's field selectors. */
const char *kr_objrec_field(const kr_objrec_t *rec, const char *path);
/* kr_fieldsel_match over the record's projection.  Never allocates. */
bool kr_objrec_fieldsel_match(const kr_objrec_t *rec, const kr_fieldsel_t *sel);
kr_objrec_t *kr_objrec_ref(kr_objrec_t *rec);
/* Drops a reference (thread-safe); frees at zero; nulls *rec_p. */
void kr_objrec_unref(kr_objrec_t **rec_p);
/* The whole object decoded into arena (never NULL for a valid record). */
kr_value_t *kr_objrec_decode(const kr_objrec_t *rec, kr_arena_t *arena);

/* ---- one kind's live objects ------------------------------------------- */

typedef struct kr_objmap kr_objmap_t;

kr_objmap_t *kr_objmap_new(void);
/* Drops the map's references. */
void kr_objmap_destroy(kr_objmap_t **self_p);
size_t kr_objmap_count(const kr_objmap_t *m);
/* Live objects in namespace ns (O(1)). */
size_t kr_objmap_count_ns(const kr_objmap_t *m, const char *ns);
/* Borrowed; NULL when absent.  ns "" for cluster-scoped kinds. */
kr_objrec_t *kr_objmap_get(const kr_objmap_t *m, const char *ns, const char *name);
/* Inserts or replaces by (rec->ns, rec->name); takes the caller's
 * reference and drops the replaced record's. */
void kr_objmap_put(kr_objmap_t *m, kr_objrec_t *rec);
/* Removes and returns the record (the caller gets the map's reference),
 * or NULL when absent. */
kr_objrec_t *kr_objmap_remove(kr_objmap_t *m, const char *ns, const char *name);

/* Visits records in (ns, name) order: only namespace `ns` when not NULL,
 * starting strictly after (after_ns, after_name) when after_name is not
 * NULL.  Stops when fn returns false.  fn must not modify the map. */
typedef bool (*kr_objmap_fn)(kr_objrec_t *rec, void *ud);
void kr_objmap_walk(const kr_objmap_t *m, const char *ns, const char *after_ns,
                    const char *after_name, kr_objmap_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
