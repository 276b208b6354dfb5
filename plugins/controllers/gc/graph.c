/* See graph.h.  Upstream's graph_builder.go does the same bookkeeping
 * from a queue of informer events on its own goroutine; here the informer
 * handlers call it directly on the plugin's loop, so there is no lock and
 * no graphChanges queue. */
#include "graph.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

#define GC_ABSENT_DEFAULT 500

struct gc_graph {
    gc_map_t nodes; /* uid → gc_node_t (key: node->uid) */
    size_t nvirtual;
    gc_graph_hooks_t hooks;
    /* absent owners: a set with FIFO eviction */
    gc_map_t absent; /* key → itself (key: absent_ring[i]) */
    char **absent_ring;
    size_t absent_cap, absent_head, absent_len;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        abort();
    return p;
}

/* ---- helpers on objects -------------------------------------------------- */

bool gc_has_finalizer(const kr_value_t *obj, const char *finalizer)
{
    const kr_value_t *fins = kr_value_get(obj, "metadata.finalizers");
    for (size_t i = 0; i < kr_value_len(fins) && kr_value_type(fins) == KR_ARRAY; i++) {
        const char *f = kr_value_as_str(kr_value_array_get(fins, i));
        if (f != NULL && strcmp(f, finalizer) == 0)
            return true;
    }
    return false;
}

bool gc_being_deleted(const kr_value_t *obj)
{
    const char *ts = kr_value_as_str(kr_value_get(obj, "metadata.deletionTimestamp"));
    return ts != NULL && *ts;
}

size_t gc_group_len(const char *api_version)
{
    const char *slash = api_version != NULL ? strchr(api_version, '/') : NULL;
    return slash != NULL ? (size_t)(slash - api_version) : 0;
}

bool gc_same_group_kind(const char *av1, const char *k1, const char *av2, const char *k2)
{
    size_t g1 = gc_group_len(av1), g2 = gc_group_len(av2);
    return g1 == g2 && (g1 == 0 || memcmp(av1, av2, g1) == 0) && strcmp(k1 ?: "", k2 ?: "") == 0;
}

static const char *str_or_empty(const kr_value_t *map, const char *key)
{
    const char *s = kr_value_map_str(map, key);
    return s != NULL ? s : "";
}

/* ---- nodes ---------------------------------------------------------------- */

gc_node_t *gc_graph_get(const gc_graph_t *g, const char *uid)
{
    return gc_map_get(&g->nodes, uid);
}

size_t gc_graph_len(const gc_graph_t *g)
{
    return g->nodes.len;
}

size_t gc_graph_virtual(const gc_graph_t *g)
{
    return g->nvirtual;
}

static void node_set_ident(gc_node_t *n, const char *av, const char *kind, const char *ns,
                           const char *name)
{
    size_t la = strlen(av) + 1, lk = strlen(kind) + 1, ln = strlen(ns) + 1, lm = strlen(name) + 1;
    char *b = xmalloc(la + lk + ln + lm);
    memcpy(b, av, la);
    memcpy(b + la, kind, lk);
    memcpy(b + la + lk, ns, ln);
    memcpy(b + la + lk + ln, name, lm);
    free(n->ident);
    n->ident = b;
    n->api_version = b;
    n->kind = b + la;
    n->ns = b + la + lk;
    n->name = b + la + lk + ln;
}

static gc_node_t *node_new(gc_graph_t *g, const char *uid, bool observed)
{
    size_t lu = strlen(uid) + 1;
    gc_node_t *n = xmalloc(sizeof *n + lu);
    memset(n, 0, sizeof *n);
    memcpy(n->uid, uid, lu);
    n->observed = observed;
    if (!observed)
        g->nvirtual++;
    gc_map_put(&g->nodes, n->uid, n);
    return n;
}

/* The node must have no edges left in either direction. */
static void node_free(gc_graph_t *g, gc_node_t *n)
{
    gc_map_del(&g->nodes, n->uid);
    if (!n->observed)
        g->nvirtual--;
    free(n->owners);
    free(n->ident);
    free(n);
}

static void set_observed(gc_graph_t *g, gc_node_t *n, bool observed)
{
    if (n->observed == observed)
        return;
    n->observed = observed;
    if (observed)
        g->nvirtual--;
    else
        g->nvirtual++;
}

static void hook_delete(gc_graph_t *g, const char *uid)
{
    if (g->hooks.attempt_delete != NULL)
        g->hooks.attempt_delete(g, uid, g->hooks.ud);
}

/* ---- edges ---------------------------------------------------------------- */

static gc_edge_t *edge_new(gc_node_t *dep, const kr_value_t *ref)
{
    const char *uid = str_or_empty(ref, "uid"), *av = str_or_empty(ref, "apiVersion"),
               *kind = str_or_empty(ref, "kind"), *name = str_or_empty(ref, "name");
    size_t lu = strlen(uid) + 1, la = strlen(av) + 1, lk = strlen(kind) + 1, ln = strlen(name) + 1;
    gc_edge_t *e = xmalloc(sizeof *e + lu + la + lk + ln);
    memset(e, 0, sizeof *e);
    char *p = e->data;
    memcpy(p, uid, lu);
    memcpy(p + lu, av, la);
    memcpy(p + lu + la, kind, lk);
    memcpy(p + lu + la + lk, name, ln);
    e->uid = p;
    e->api_version = p + lu;
    e->kind = p + lu + la;
    e->name = p + lu + la + lk;
    e->dep = dep;
    e->controller = kr_value_as_bool(kr_value_map_get(ref, "controller"), false);
    e->block = kr_value_as_bool(kr_value_map_get(ref, "blockOwnerDeletion"), false);
    return e;
}

/* Does the reference name the object `owner` as it was observed?  A
 * namespaced owner must be in its dependent's namespace. */
static bool edge_matches(const gc_edge_t *e, const gc_node_t *owner)
{
    return gc_same_group_kind(e->api_version, e->kind, owner->api_version, owner->kind) &&
           strcmp(e->name, owner->name) == 0 &&
           (owner->ns[0] == '\0' || strcmp(e->dep->ns, owner->ns) == 0);
}

/* Links `e` into the dependents of its uid's node, made virtual when the
 * uid is unknown (and then looked at: it may never have existed). */
static void edge_link(gc_graph_t *g, gc_edge_t *e)
{
    gc_node_t *o = gc_graph_get(g, e->uid);
    bool made = false;
    if (o == NULL) {
        o = node_new(g, e->uid, false);
        node_set_ident(o, e->api_version, e->kind, e->dep->ns, e->name);
        made = true;
    }
    e->owner = o;
    e->prev = NULL;
    e->next = o->deps;
    if (o->deps != NULL)
        o->deps->prev = e;
    o->deps = e;
    o->ndeps++;
    if (e->block)
        o->nblocking++;
    if (made) {
        if (g->hooks.new_virtual != NULL)
            g->hooks.new_virtual(g, o, g->hooks.ud);
        hook_delete(g, o->uid);
    } else if (o->observed && !edge_matches(e, o)) {
        /* a reference with the owner's uid but other coordinates: the
         * dependent's owner (by its coordinates) is absent */
        hook_delete(g, e->dep->uid);
    }
}

/* Takes `e` out of its owner's dependents; a virtual owner left without
 * dependents goes. */
static void edge_unlink(gc_graph_t *g, gc_edge_t *e)
{
    gc_node_t *o = e->owner;
    if (o == NULL)
        return;
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        o->deps = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    o->ndeps--;
    if (e->block)
        o->nblocking--;
    e->owner = NULL;
    e->prev = e->next = NULL;
    if (!o->observed && o->ndeps == 0)
        node_free(g, o);
}

static bool ref_coords_equal(const gc_edge_t *e, const kr_value_t *ref)
{
    return strcmp(e->api_version, str_or_empty(ref, "apiVersion")) == 0 &&
           strcmp(e->kind, str_or_empty(ref, "kind")) == 0 &&
           strcmp(e->name, str_or_empty(ref, "name")) == 0;
}

/* Replaces the node's owner edges by the object's ownerReferences, by uid
 * as upstream's referencesDiffs: unchanged edges stay, added ones are
 * linked, removed ones unlinked.  An owner that loses a blocking
 * dependent (reference removed, or blockOwnerDeletion no longer true) is
 * looked at: it may be waiting for exactly that. */
static void update_owners(gc_graph_t *g, gc_node_t *n, const kr_value_t *obj)
{
    const kr_value_t *refs = kr_value_get(obj, "metadata.ownerReferences");
    size_t nrefs = kr_value_type(refs) == KR_ARRAY ? kr_value_len(refs) : 0;
    if (nrefs == 0 && n->nowners == 0)
        return;
    gc_edge_t **next = nrefs ? xmalloc(nrefs * sizeof *next) : NULL;
    size_t count = 0;
    /* an object has a handful of references: linear matching is cheapest */
    for (size_t i = 0; i < nrefs; i++) {
        const kr_value_t *ref = kr_value_array_get(refs, i);
        const char *uid = kr_value_map_str(ref, "uid");
        if (uid == NULL || *uid == '\0')
            continue;
        bool dup = false;
        for (size_t j = 0; j < count && !dup; j++)
            dup = strcmp(next[j]->uid, uid) == 0;
        if (dup)
            continue;
        gc_edge_t *old = NULL;
        for (size_t j = 0; j < n->nowners && old == NULL; j++)
            if (n->owners[j] != NULL && strcmp(n->owners[j]->uid, uid) == 0) {
                old = n->owners[j];
                n->owners[j] = NULL; /* kept or replaced: not removed */
            }
        bool block = kr_value_as_bool(kr_value_map_get(ref, "blockOwnerDeletion"), false);
        if (old != NULL && old->block && !block)
            hook_delete(g, old->uid);
        if (old != NULL && ref_coords_equal(old, ref)) {
            if (old->block != block && old->owner != NULL) {
                if (block)
                    old->owner->nblocking++;
                else
                    old->owner->nblocking--;
            }
            old->block = block;
            old->controller = kr_value_as_bool(kr_value_map_get(ref, "controller"), false);
            next[count++] = old;
            continue;
        }
        /* new, or another apiVersion/kind/name for the same uid: link the
         * new edge first, so that the owner's node outlives the swap */
        gc_edge_t *e = edge_new(n, ref);
        edge_link(g, e);
        if (old != NULL) {
            edge_unlink(g, old);
            free(old);
        }
        next[count++] = e;
    }
    for (size_t j = 0; j < n->nowners; j++) {
        gc_edge_t *old = n->owners[j];
        if (old == NULL)
            continue;
        if (old->block)
            hook_delete(g, old->uid);
        edge_unlink(g, old);
        free(old);
    }
    free(n->owners);
    n->owners = next;
    n->nowners = count;
}

static void drop_owners(gc_graph_t *g, gc_node_t *n)
{
    for (size_t j = 0; j < n->nowners; j++) {
        edge_unlink(g, n->owners[j]);
        free(n->owners[j]);
    }
    free(n->owners);
    n->owners = NULL;
    n->nowners = 0;
}

/* ---- events -------------------------------------------------------------- */

/* upstream's deletionStartsWithFinalizer */
static bool starts_with(const kr_value_t *old, const kr_value_t *obj, const char *finalizer)
{
    if (!gc_being_deleted(obj) || !gc_has_finalizer(obj, finalizer))
        return false;
    return old == NULL || !gc_being_deleted(old) || !gc_has_finalizer(old, finalizer);
}

/* upstream's processTransitions */
static void transitions(gc_graph_t *g, const kr_value_t *old, const kr_value_t *obj, gc_node_t *n)
{
    if (starts_with(old, obj, GC_FINALIZER_ORPHAN)) {
        if (g->hooks.attempt_orphan != NULL)
            g->hooks.attempt_orphan(g, n->uid, g->hooks.ud);
        return;
    }
    if (starts_with(old, obj, GC_FINALIZER_FOREGROUND)) {
        n->deleting_deps = true;
        for (gc_edge_t *e = n->deps; e != NULL; e = e->next)
            hook_delete(g, e->dep->uid);
        hook_delete(g, n->uid);
    }
}

void gc_graph_observe(gc_graph_t *g, const char *api_version, const char *kind,
                      const kr_value_t *old, const kr_value_t *obj)
{
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    const char *uid = kr_value_map_str(meta, "uid");
    if (uid == NULL || *uid == '\0')
        return;
    const char *ns = str_or_empty(meta, "namespace"), *name = str_or_empty(meta, "name");
    gc_node_t *n = gc_graph_get(g, uid);
    if (n == NULL) {
        n = node_new(g, uid, true);
        node_set_ident(n, api_version, kind, ns, name);
        n->deleting_deps = gc_being_deleted(obj) && gc_has_finalizer(obj, GC_FINALIZER_FOREGROUND);
    } else if (!n->observed) {
        /* a virtual node comes true: dependents that named it by other
         * coordinates have an absent owner after all (upstream's bad
         * child → good parent sequence) */
        set_observed(g, n, true);
        node_set_ident(n, api_version, kind, ns, name);
        for (gc_edge_t *e = n->deps; e != NULL; e = e->next)
            if (!edge_matches(e, n))
                hook_delete(g, e->dep->uid);
    }
    update_owners(g, n, obj);
    if (gc_being_deleted(obj))
        n->being_deleted = true;
    transitions(g, old, obj, n);
}

void gc_graph_deleted(gc_graph_t *g, const kr_value_t *obj)
{
    const char *uid = kr_value_as_str(kr_value_get(obj, "metadata.uid"));
    gc_node_t *n = uid != NULL ? gc_graph_get(g, uid) : NULL;
    if (n == NULL || !n->observed)
        return;
    /* owners waiting for their dependents may be done now */
    for (size_t j = 0; j < n->nowners; j++) {
        gc_node_t *o = n->owners[j]->owner;
        if (o != NULL && o->deleting_deps)
            hook_delete(g, o->uid);
    }
    drop_owners(g, n);
    if (n->ndeps == 0) {
        node_free(g, n);
        return;
    }
    /* the dependents still name it: it stays, virtual, until they go */
    gc_graph_mark_absent(g, n->uid, n->api_version, n->kind, n->ns, n->name);
    set_observed(g, n, false);
    n->being_deleted = n->deleting_deps = false;
    for (gc_edge_t *e = n->deps; e != NULL; e = e->next)
        hook_delete(g, e->dep->uid);
}

void gc_graph_absent(gc_graph_t *g, const char *uid)
{
    gc_node_t *n = gc_graph_get(g, uid);
    if (n == NULL || n->observed)
        return;
    for (gc_edge_t *e = n->deps; e != NULL; e = e->next)
        hook_delete(g, e->dep->uid);
}

/* ---- absent owners ------------------------------------------------------------ */

static char *absent_key(const char *uid, const char *api_version, const char *kind, const char *ns,
                        const char *name)
{
    /* tabs never occur in uids, groups, kinds or names */
    size_t glen = gc_group_len(api_version);
    size_t len = strlen(uid) + glen + strlen(kind) + strlen(ns) + strlen(name) + 5;
    char *k = xmalloc(len);
    snprintf(k, len, "%s\t%.*s\t%s\t%s\t%s", uid, (int)glen, api_version ?: "", kind, ns, name);
    return k;
}

bool gc_graph_is_absent(const gc_graph_t *g, const char *uid, const char *api_version,
                        const char *kind, const char *ns, const char *name)
{
    if (g->absent.len == 0)
        return false;
    char *k = absent_key(uid, api_version, kind, ns, name);
    bool has = gc_map_get(&g->absent, k) != NULL;
    free(k);
    return has;
}

void gc_graph_mark_absent(gc_graph_t *g, const char *uid, const char *api_version, const char *kind,
                          const char *ns, const char *name)
{
    char *k = absent_key(uid, api_version, kind, ns, name);
    if (gc_map_get(&g->absent, k) != NULL) {
        free(k);
        return;
    }
    if (g->absent_len == g->absent_cap) {
        /* full: the oldest goes */
        char *old = g->absent_ring[g->absent_head];
        gc_map_del(&g->absent, old);
        free(old);
        g->absent_head = (g->absent_head + 1) % g->absent_cap;
        g->absent_len--;
    }
    g->absent_ring[(g->absent_head + g->absent_len) % g->absent_cap] = k;
    g->absent_len++;
    gc_map_put(&g->absent, k, k);
}

/* ---- life cycle ----------------------------------------------------------------- */

gc_graph_t *gc_graph_new(const gc_graph_hooks_t *hooks, size_t absent_cap)
{
    gc_graph_t *g = calloc(1, sizeof *g);
    if (g == NULL)
        abort();
    if (hooks != NULL)
        g->hooks = *hooks;
    g->absent_cap = absent_cap ? absent_cap : GC_ABSENT_DEFAULT;
    g->absent_ring = calloc(g->absent_cap, sizeof *g->absent_ring);
    if (g->absent_ring == NULL)
        abort();
    return g;
}

void gc_graph_destroy(gc_graph_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    gc_graph_t *g = *self_p;
    *self_p = NULL;
    /* edges belong to their dependents; no unlinking needed when every
     * node goes */
    const char *key;
    void *val;
    for (size_t i = 0; gc_map_next(&g->nodes, &i, &key, &val);) {
        gc_node_t *n = val;
        for (size_t j = 0; j < n->nowners; j++)
            free(n->owners[j]);
        free(n->owners);
        free(n->ident);
        free(n);
    }
    gc_map_free(&g->nodes);
    for (size_t i = 0; i < g->absent_len; i++)
        free(g->absent_ring[(g->absent_head + i) % g->absent_cap]);
    free(g->absent_ring);
    gc_map_free(&g->absent);
    free(g);
}
