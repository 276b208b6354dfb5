/* The garbage collector's dependency graph (after upstream's GraphBuilder,
 * pkg/controller/garbagecollector/graph_builder.go): one node per uid, for
 * every object an informer has shown us ("observed") and for every uid an
 * ownerReference names that no informer has shown us ("virtual"); one edge
 * per ownerReference, from the dependent to the owner's node, linked into
 * the owner's list of dependents.
 *
 * Invariants: an edge always points at the node of its uid (a virtual one
 * when the owner is not observed); only observed nodes have owner edges; a
 * virtual node lives while it has dependents (or until verified absent and
 * freed with its last dependent).  Everything is O(1) per ownerReference:
 * uid lookups are hash lookups, an edge leaves its owner's list in O(1),
 * and an owner counts its blocking dependents (blockOwnerDeletion=true).
 *
 * The graph decides nothing by itself: it calls its hooks when a uid should
 * be looked at (attempt_delete: an owner is gone, an owner waits for its
 * dependents, a reference was removed; attempt_orphan: an owner started
 * deleting with the orphan finalizer), and the plugin's workers check the
 * live objects before acting.  A bounded cache remembers owners verified
 * absent (upstream's absentOwnerCache), so that ten thousand dependents of
 * one deleted owner cost one lookup.
 */
#ifndef KRAAL_GC_GRAPH_H
#define KRAAL_GC_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/value.h>

typedef struct gc_graph gc_graph_t;
typedef struct gc_node gc_node_t;
typedef struct gc_edge gc_edge_t;

/* One ownerReference of an observed dependent. */
struct gc_edge {
    gc_node_t *dep;                              /* the object holding the reference */
    gc_node_t *owner;                            /* the node of `uid` */
    gc_edge_t *prev, *next;                      /* in owner->deps */
    bool controller, block;                      /* controller, blockOwnerDeletion */
    const char *uid, *api_version, *kind, *name; /* into data */
    char data[];
};

struct gc_node {
    /* identity: the observed object's, or for a virtual node the first
     * reference's coordinates with the dependent's namespace; into ident */
    const char *api_version, *kind, *ns, *name;
    char *ident;
    bool observed;      /* shown by an informer; false: virtual */
    bool being_deleted; /* deletionTimestamp seen (one way, as upstream) */
    bool deleting_deps; /* foregroundDeletion: waits for its dependents */
    gc_edge_t **owners; /* the object's ownerReferences */
    size_t nowners;
    gc_edge_t *deps;  /* dependents' edges to this node */
    size_t ndeps;     /* length of deps */
    size_t nblocking; /* deps with blockOwnerDeletion */
    char uid[];
};

typedef struct gc_graph_hooks {
    /* uid should go through upstream's attemptToDelete */
    void (*attempt_delete)(gc_graph_t *g, const char *uid, void *ud);
    /* uid started deleting with the orphan finalizer */
    void (*attempt_orphan)(gc_graph_t *g, const char *uid, void *ud);
    /* a virtual node was made for a referenced uid: its kind may be new */
    void (*new_virtual)(gc_graph_t *g, const gc_node_t *n, void *ud);
    void *ud;
} gc_graph_hooks_t;

/* `absent_cap`: owners remembered as absent (0: 500, upstream's size).
 * Caller owns the graph.  Out of memory aborts. */
gc_graph_t *gc_graph_new(const gc_graph_hooks_t *hooks, size_t absent_cap);
void gc_graph_destroy(gc_graph_t **self_p);

/* An object was added or changed (`old`: its previous state, or NULL for
 * an add).  `api_version` and `kind` are its informer's (objects on the
 * bus carry them too, but the informer's are authoritative). */
void gc_graph_observe(gc_graph_t *g, const char *api_version, const char *kind,
                      const kr_value_t *old, const kr_value_t *obj);
/* An object was deleted (its last state): its dependents are looked at,
 * and owners waiting for their dependents too. */
void gc_graph_deleted(gc_graph_t *g, const kr_value_t *obj);
/* A worker verified that the object of virtual node `uid` does not exist
 * (upstream's virtual delete event; the worker, which knows whether the
 * kind is namespaced, marks it absent): its dependents are looked at.
 * Nothing for an observed node: its informer will tell. */
void gc_graph_absent(gc_graph_t *g, const char *uid);

/* The node of `uid`, or NULL.  Valid until the graph next changes. */
gc_node_t *gc_graph_get(const gc_graph_t *g, const char *uid);
/* Nodes, and how many of them are virtual. */
size_t gc_graph_len(const gc_graph_t *g);
size_t gc_graph_virtual(const gc_graph_t *g);

/* The absent-owner cache, keyed by the reference's coordinates (uid,
 * group, kind, namespace — "" for a cluster-scoped owner —, name). */
bool gc_graph_is_absent(const gc_graph_t *g, const char *uid, const char *api_version,
                        const char *kind, const char *ns, const char *name);
void gc_graph_mark_absent(gc_graph_t *g, const char *uid, const char *api_version, const char *kind,
                          const char *ns, const char *name);

/* Helpers on objects. */
bool gc_has_finalizer(const kr_value_t *obj, const char *finalizer);
bool gc_being_deleted(const kr_value_t *obj);
/* Length of the group of an apiVersion ("apps/v1" → 4, "v1" → 0). */
size_t gc_group_len(const char *api_version);
/* Same group (not version) and kind. */
bool gc_same_group_kind(const char *av1, const char *k1, const char *av2, const char *k2);

#define GC_FINALIZER_ORPHAN     "orphan"
#define GC_FINALIZER_FOREGROUND "foregroundDeletion"

#endif
