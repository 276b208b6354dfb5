/* See cache.h. */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct sched_cpod {
    sched_hnode_t hn; /* by uid */
    sched_pod_t *sp;  /* owned */
    sched_cnode_t *node;
    uint64_t rv;
    bool assumed;
} sched_cpod_t;

struct sched_cache {
    sched_htab_t nodes, pods;
    uint64_t generation;
    /* the snapshot: present nodes, and those with pods with (anti-)affinity */
    const kr_sched_node_t **list, **aff, **anti;
    uint32_t n_list, cap_list, n_aff, n_anti, cap_aff;
    uint32_t n_nominated; /* over every node: unnominate walks nothing when 0 */
    bool list_dirty, aff_dirty;
    kr_sched_snapshot_t snap;
};

/* ---- arrays that live on the heap or in an arena --------------------------- */

static void *grow(kr_arena_t *arena, void *old, uint32_t len, uint32_t *cap, size_t elem)
{
    if (len < *cap)
        return old;
    uint32_t ncap = *cap != 0 ? *cap * 2 : 8;
    void *p;
    if (arena == NULL) {
        p = realloc(old, ncap * elem);
        if (p == NULL)
            abort();
    } else {
        p = kr_arena_alloc(arena, ncap * elem);
        if (len != 0)
            memcpy(p, old, len * elem);
    }
    *cap = ncap;
    return p;
}

static void push_pod(kr_arena_t *arena, const kr_sched_pod_t *const **arr, uint32_t *n,
                     uint32_t *cap, const kr_sched_pod_t *p)
{
    const kr_sched_pod_t **v = grow(arena, (void *)*arr, *n, cap, sizeof *v);
    v[(*n)++] = p;
    *arr = v;
}

static bool drop_pod(const kr_sched_pod_t *const *arr, uint32_t *n, const kr_sched_pod_t *p)
{
    const kr_sched_pod_t **v = (const kr_sched_pod_t **)arr;
    for (uint32_t i = 0; i < *n; i++)
        if (v[i] == p) {
            v[i] = v[--*n];
            return true;
        }
    return false;
}

static void push_ports(sched_nodebuf_t *b, const kr_sched_pod_t *p)
{
    kr_sched_node_t *n = &b->n;
    for (uint32_t i = 0; i < p->n_ports; i++) {
        kr_sched_port_t *v =
            grow(b->arrays, (void *)n->used_ports, n->n_used_ports, &b->cap_ports, sizeof *v);
        v[n->n_used_ports++] = p->ports[i];
        n->used_ports = v;
    }
}

void sched_node_add_pod(sched_nodebuf_t *b, const kr_sched_pod_t *p)
{
    kr_sched_node_t *n = &b->n;
    push_pod(b->arrays, &n->pods, &n->n_pods, &b->cap_pods, p);
    if (sched_pod_has_affinity(p))
        push_pod(b->arrays, &n->pods_with_affinity, &n->n_pods_with_affinity, &b->cap_aff, p);
    if (sched_pod_has_required_anti_affinity(p))
        push_pod(b->arrays, &n->pods_with_required_anti_affinity,
                 &n->n_pods_with_required_anti_affinity, &b->cap_anti, p);
    push_ports(b, p);
    if (b->scalars == NULL && p->requests.n_scalar != 0) /* most nodes never need one */
        b->scalars = kr_arena_new(256);
    sched_resources_add(b->scalars, &n->requested, &p->requests, 1);
    n->nonzero_milli_cpu += p->nonzero_milli_cpu;
    n->nonzero_memory += p->nonzero_memory;
}

bool sched_node_remove_pod(sched_nodebuf_t *b, const kr_sched_pod_t *p)
{
    kr_sched_node_t *n = &b->n;
    if (!drop_pod(n->pods, &n->n_pods, p))
        return false;
    drop_pod(n->pods_with_affinity, &n->n_pods_with_affinity, p);
    drop_pod(n->pods_with_required_anti_affinity, &n->n_pods_with_required_anti_affinity, p);
    if (p->n_ports > 0) { /* rare: rebuild from the pods left */
        n->n_used_ports = 0;
        for (uint32_t i = 0; i < n->n_pods; i++)
            push_ports(b, n->pods[i]);
    }
    if (b->scalars == NULL && p->requests.n_scalar != 0)
        b->scalars = kr_arena_new(256);
    sched_resources_add(b->scalars, &n->requested, &p->requests, -1);
    n->nonzero_milli_cpu -= p->nonzero_milli_cpu;
    n->nonzero_memory -= p->nonzero_memory;
    return true;
}

sched_nodebuf_t *sched_node_clone(kr_arena_t *arena, const kr_sched_node_t *n)
{
    sched_nodebuf_t *b = kr_arena_alloc(arena, sizeof *b);
    memset(b, 0, sizeof *b);
    b->n = *n;
    b->arrays = b->scalars = arena;
    uint32_t room = n->n_pods + 8;
#define COPY(field, count, cap)                                             \
    do {                                                                    \
        void *v = kr_arena_alloc(arena, (size_t)room * sizeof *b->n.field); \
        if (n->count != 0)                                                  \
            memcpy(v, n->field, (size_t)n->count * sizeof *b->n.field);     \
        b->n.field = v;                                                     \
        b->cap = room;                                                      \
    } while (0)
    COPY(pods, n_pods, cap_pods);
    COPY(pods_with_affinity, n_pods_with_affinity, cap_aff);
    COPY(pods_with_required_anti_affinity, n_pods_with_required_anti_affinity, cap_anti);
#undef COPY
    b->cap_ports = n->n_used_ports + 8;
    kr_sched_port_t *ports = kr_arena_alloc(arena, b->cap_ports * sizeof *ports);
    if (n->n_used_ports != 0)
        memcpy(ports, n->used_ports, n->n_used_ports * sizeof *ports);
    b->n.used_ports = ports;
    /* the scalars array is shared until a sum changes: copy it now */
    if (n->requested.n_scalar != 0) {
        kr_sched_scalar_t *s = kr_arena_alloc(arena, n->requested.n_scalar * sizeof *s);
        memcpy(s, n->requested.scalar, n->requested.n_scalar * sizeof *s);
        b->n.requested.scalar = s;
    }
    return b;
}

/* ---- nodes ----------------------------------------------------------------- */

sched_cache_t *sched_cache_new(void)
{
    sched_cache_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->list_dirty = c->aff_dirty = true;
    return c;
}

static sched_cnode_t *node_get(const sched_cache_t *c, const char *name)
{
    sched_hnode_t *h = sched_htab_get(&c->nodes, name);
    return h != NULL ? SCHED_CONTAINER(h, sched_cnode_t, hn) : NULL;
}

sched_cnode_t *sched_cache_node(const sched_cache_t *c, const char *name)
{
    return node_get(c, name);
}

static sched_cnode_t *node_new(sched_cache_t *c, const char *name)
{
    sched_cnode_t *cn = calloc(1, sizeof *cn);
    if (cn == NULL || (cn->name = strdup(name)) == NULL)
        abort();
    cn->arena = kr_arena_new(256);
    cn->b.n.name = cn->name;
    sched_htab_put(&c->nodes, &cn->hn, cn->name);
    return cn;
}

static void node_free(sched_cache_t *c, sched_cnode_t *cn)
{
    sched_htab_del(&c->nodes, &cn->hn);
    free((void *)cn->b.n.pods);
    free((void *)cn->b.n.pods_with_affinity);
    free((void *)cn->b.n.pods_with_required_anti_affinity);
    free((void *)cn->b.n.used_ports);
    free(cn->nominated);
    kr_arena_destroy(&cn->arena);
    kr_arena_destroy(&cn->b.scalars);
    free(cn->name);
    free(cn);
}

/* A node with no Node object and no pods left has nothing to keep. */
static void node_maybe_free(sched_cache_t *c, sched_cnode_t *cn)
{
    if (!cn->present && cn->b.n.n_pods == 0 && cn->n_nominated == 0)
        node_free(c, cn);
}

static kr_sched_effect_t effect_of(const char *s)
{
    if (s == NULL)
        return KR_SCHED_EFFECT_ANY;
    if (strcmp(s, "NoSchedule") == 0)
        return KR_SCHED_NO_SCHEDULE;
    if (strcmp(s, "PreferNoSchedule") == 0)
        return KR_SCHED_PREFER_NO_SCHEDULE;
    if (strcmp(s, "NoExecute") == 0)
        return KR_SCHED_NO_EXECUTE;
    return KR_SCHED_EFFECT_ANY;
}

static const char *str_or_empty(kr_arena_t *a, const kr_value_t *m, const char *key)
{
    const char *s = kr_value_map_str(m, key);
    return kr_arena_strdup(a, s != NULL ? s : "");
}

/* Parses what steps read of the Node into cn (its arena reset first). */
static int node_parse(sched_cnode_t *cn, const kr_value_t *obj, kr_error_t *err)
{
    kr_arena_reset(cn->arena);
    kr_sched_node_t *n = &cn->b.n;
    kr_arena_t *a = cn->arena;
    n->obj = obj;
    const kr_value_t *labels = kr_value_get(obj, "metadata.labels");
    n->labels = kr_value_type(labels) == KR_MAP ? labels : NULL;
    const kr_value_t *spec = kr_value_map_get(obj, "spec");
    n->unschedulable = kr_value_as_bool(kr_value_map_get(spec, "unschedulable"), false);

    const kr_value_t *taints = kr_value_map_get(spec, "taints");
    size_t nt = kr_value_type(taints) == KR_ARRAY ? kr_value_len(taints) : 0;
    kr_sched_taint_t *t = nt != 0 ? kr_arena_alloc(a, nt * sizeof *t) : NULL;
    n->n_taints = 0;
    for (size_t i = 0; i < nt; i++) {
        const kr_value_t *ti = kr_value_array_get(taints, i);
        t[n->n_taints++] = (kr_sched_taint_t){
            .key = str_or_empty(a, ti, "key"),
            .value = str_or_empty(a, ti, "value"),
            .effect = effect_of(kr_value_map_str(ti, "effect")),
        };
    }
    n->taints = t;

    n->ready = 1;
    n->network_unavailable = false;
    const kr_value_t *conds = kr_value_get(obj, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds) && kr_value_type(conds) == KR_ARRAY; i++) {
        const kr_value_t *ci = kr_value_array_get(conds, i);
        const char *type = kr_value_map_str(ci, "type"), *st = kr_value_map_str(ci, "status");
        if (type == NULL || st == NULL)
            continue;
        if (strcmp(type, "Ready") == 0)
            n->ready = strcmp(st, "True") == 0 ? 1 : strcmp(st, "False") == 0 ? 0 : -1;
        else if (strcmp(type, "NetworkUnavailable") == 0)
            n->network_unavailable = strcmp(st, "True") == 0;
    }

    const kr_value_t *alloc = kr_value_get(obj, "status.allocatable");
    if (kr_value_type(alloc) != KR_MAP)
        alloc = kr_value_get(obj, "status.capacity");
    memset(&n->allocatable, 0, sizeof n->allocatable);
    if (kr_value_type(alloc) == KR_MAP &&
        sched_resources_parse(a, alloc, &n->allocatable, err) < 0) {
        memset(&n->allocatable, 0, sizeof n->allocatable);
        return kr_error_wrap(err, "node \"%s\": status.allocatable", cn->name);
    }
    return 0;
}

static const kr_value_t *alloc_of(const kr_value_t *obj)
{
    const kr_value_t *a = kr_value_get(obj, "status.allocatable");
    return kr_value_type(a) == KR_MAP ? a : kr_value_get(obj, "status.capacity");
}

int sched_cache_set_node(sched_cache_t *c, const kr_value_t *node_obj, bool *changed,
                         kr_error_t *err)
{
    const char *name = kr_value_as_str(kr_value_get(node_obj, "metadata.name"));
    if (name == NULL || *name == '\0')
        return kr_error_set(err, KR_E_INVALID, "a Node without metadata.name");
    sched_cnode_t *cn = node_get(c, name);
    if (cn == NULL)
        cn = node_new(c, name);
    const kr_value_t *old = cn->present ? cn->b.n.obj : NULL;
    int8_t old_ready = cn->b.n.ready;
    bool old_net = cn->b.n.network_unavailable;
    /* `old` is still alive here: the informer frees it after the handlers */
    bool same =
        old != NULL &&
        kr_value_equal(kr_value_get(old, "metadata.labels"),
                       kr_value_get(node_obj, "metadata.labels")) &&
        kr_value_equal(kr_value_get(old, "spec.taints"), kr_value_get(node_obj, "spec.taints")) &&
        kr_value_as_bool(kr_value_get(old, "spec.unschedulable"), false) ==
            kr_value_as_bool(kr_value_get(node_obj, "spec.unschedulable"), false) &&
        kr_value_equal(alloc_of(old), alloc_of(node_obj));
    if (!cn->present) {
        cn->present = true;
        c->list_dirty = true;
    }
    int rc = node_parse(cn, node_obj, err);
    same = same && cn->b.n.ready == old_ready && cn->b.n.network_unavailable == old_net;
    if (changed != NULL)
        *changed = !same;
    cn->b.n.generation = ++c->generation;
    return rc;
}

void sched_cache_remove_node(sched_cache_t *c, const char *name)
{
    sched_cnode_t *cn = node_get(c, name);
    if (cn == NULL || !cn->present)
        return;
    cn->present = false;
    cn->b.n.obj = NULL;
    cn->b.n.labels = NULL;
    kr_arena_reset(cn->arena);
    cn->b.n.n_taints = 0;
    cn->b.n.taints = NULL;
    memset(&cn->b.n.allocatable, 0, sizeof cn->b.n.allocatable);
    c->list_dirty = true;
    if (cn->b.n.n_pods_with_affinity != 0)
        c->aff_dirty = true;
    node_maybe_free(c, cn);
}

/* ---- pods ------------------------------------------------------------------ */

static sched_cpod_t *pod_get(const sched_cache_t *c, const char *uid)
{
    sched_hnode_t *h = sched_htab_get(&c->pods, uid);
    return h != NULL ? SCHED_CONTAINER(h, sched_cpod_t, hn) : NULL;
}

static void attach(sched_cache_t *c, sched_cpod_t *cp, sched_cnode_t *cn)
{
    cp->node = cn;
    sched_node_add_pod(&cn->b, &cp->sp->pod);
    cn->b.n.generation = ++c->generation;
    if (sched_pod_has_affinity(&cp->sp->pod))
        c->aff_dirty = true;
}

static void detach(sched_cache_t *c, sched_cpod_t *cp)
{
    sched_cnode_t *cn = cp->node;
    if (cn == NULL)
        return;
    sched_node_remove_pod(&cn->b, &cp->sp->pod);
    cn->b.n.generation = ++c->generation;
    if (sched_pod_has_affinity(&cp->sp->pod))
        c->aff_dirty = true;
    cp->node = NULL;
    node_maybe_free(c, cn);
}

static sched_cnode_t *node_for(sched_cache_t *c, const char *name)
{
    sched_cnode_t *cn = node_get(c, name);
    return cn != NULL ? cn : node_new(c, name); /* a ghost until its Node shows up */
}

bool sched_cache_set_pod(sched_cache_t *c, sched_pod_t **sp)
{
    sched_pod_t *p = *sp;
    *sp = NULL;
    sched_cpod_t *cp = pod_get(c, p->pod.uid);
    bool added = cp == NULL;
    if (cp == NULL) {
        cp = calloc(1, sizeof *cp);
        if (cp == NULL)
            abort();
    } else {
        detach(c, cp);
        sched_htab_del(&c->pods, &cp->hn);
        sched_pod_free(&cp->sp);
    }
    cp->sp = p;
    cp->assumed = false;
    cp->rv = 0;
    sched_htab_put(&c->pods, &cp->hn, p->pod.uid);
    attach(c, cp, node_for(c, p->pod.node_name));
    return added;
}

bool sched_cache_remove_pod(sched_cache_t *c, const char *uid)
{
    sched_cpod_t *cp = pod_get(c, uid);
    if (cp == NULL)
        return false;
    detach(c, cp);
    sched_htab_del(&c->pods, &cp->hn);
    sched_pod_free(&cp->sp);
    free(cp);
    return true;
}

const sched_pod_t *sched_cache_pod(const sched_cache_t *c, const char *uid, bool *assumed)
{
    sched_cpod_t *cp = pod_get(c, uid);
    if (assumed != NULL)
        *assumed = cp != NULL && cp->assumed;
    return cp != NULL ? cp->sp : NULL;
}

void sched_cache_set_pod_rv(sched_cache_t *c, const char *uid, uint64_t rv)
{
    sched_cpod_t *cp = pod_get(c, uid);
    if (cp != NULL)
        cp->rv = rv;
}

uint64_t sched_cache_pod_rv(const sched_cache_t *c, const char *uid)
{
    sched_cpod_t *cp = pod_get(c, uid);
    return cp != NULL ? cp->rv : 0;
}

int sched_cache_assume(sched_cache_t *c, sched_pod_t **sp, const char *node, kr_error_t *err)
{
    sched_cnode_t *cn = node_get(c, node);
    if (cn == NULL || !cn->present)
        return kr_error_set(err, KR_E_NOT_FOUND, "node \"%s\" not found", node);
    if (pod_get(c, (*sp)->pod.uid) != NULL)
        return kr_error_set(err, KR_E_ALREADY_EXISTS, "pod %s/%s is already in the cache",
                            (*sp)->pod.ns, (*sp)->pod.name);
    sched_cpod_t *cp = calloc(1, sizeof *cp);
    if (cp == NULL)
        abort();
    cp->sp = *sp;
    *sp = NULL;
    cp->assumed = true;
    cp->sp->pod.node_name = cn->name; /* valid while the pod is attached to it */
    sched_htab_put(&c->pods, &cp->hn, cp->sp->pod.uid);
    attach(c, cp, cn);
    return 0;
}

sched_pod_t *sched_cache_forget(sched_cache_t *c, const char *uid)
{
    sched_cpod_t *cp = pod_get(c, uid);
    if (cp == NULL || !cp->assumed)
        return NULL;
    detach(c, cp);
    sched_htab_del(&c->pods, &cp->hn);
    sched_pod_t *sp = cp->sp;
    sp->pod.node_name = "";
    free(cp);
    return sp;
}

/* ---- nominated pods ---------------------------------------------------------- */

void sched_cache_nominate(sched_cache_t *c, const kr_sched_pod_t *pod, const char *node)
{
    sched_cache_unnominate(c, pod);
    sched_cnode_t *cn = node_for(c, node);
    cn->nominated =
        grow(NULL, cn->nominated, cn->n_nominated, &cn->cap_nominated, sizeof *cn->nominated);
    cn->nominated[cn->n_nominated++] = pod;
    c->n_nominated++;
}

void sched_cache_unnominate(sched_cache_t *c, const kr_sched_pod_t *pod)
{
    /* every pod placed or updated comes here, and nominations are rare:
     * nothing to walk in the usual case, a walk over the nodes otherwise */
    if (c->n_nominated == 0)
        return;
    sched_hiter_t it = {0};
    for (sched_hnode_t *h; (h = sched_htab_next(&c->nodes, &it)) != NULL;) {
        sched_cnode_t *cn = SCHED_CONTAINER(h, sched_cnode_t, hn);
        if (cn->n_nominated == 0)
            continue;
        for (uint32_t i = 0; i < cn->n_nominated; i++)
            if (cn->nominated[i] == pod) {
                cn->nominated[i] = cn->nominated[--cn->n_nominated];
                c->n_nominated--;
                node_maybe_free(c, cn);
                return;
            }
    }
}

uint32_t sched_cache_nominated(const sched_cache_t *c)
{
    return c->n_nominated;
}

/* ---- snapshot ------------------------------------------------------------------ */

const kr_sched_snapshot_t *sched_cache_snapshot(sched_cache_t *c)
{
    if (c->list_dirty) {
        if (c->nodes.len > c->cap_list) {
            c->cap_list = (uint32_t)c->nodes.len * 2;
            free(c->list);
            c->list = malloc(c->cap_list * sizeof *c->list);
            if (c->list == NULL)
                abort();
        }
        c->n_list = 0;
        sched_hiter_t it = {0};
        for (sched_hnode_t *h; (h = sched_htab_next(&c->nodes, &it)) != NULL;) {
            sched_cnode_t *cn = SCHED_CONTAINER(h, sched_cnode_t, hn);
            if (cn->present)
                c->list[c->n_list++] = &cn->b.n;
        }
        c->list_dirty = false;
        c->aff_dirty = true;
    }
    if (c->aff_dirty) {
        if (c->n_list > c->cap_aff) {
            c->cap_aff = c->cap_list;
            free(c->aff);
            free(c->anti);
            c->aff = malloc(c->cap_aff * sizeof *c->aff);
            c->anti = malloc(c->cap_aff * sizeof *c->anti);
            if (c->aff == NULL || c->anti == NULL)
                abort();
        }
        c->n_aff = c->n_anti = 0;
        for (uint32_t i = 0; i < c->n_list; i++) {
            if (c->list[i]->n_pods_with_affinity != 0)
                c->aff[c->n_aff++] = c->list[i];
            if (c->list[i]->n_pods_with_required_anti_affinity != 0)
                c->anti[c->n_anti++] = c->list[i];
        }
        c->aff_dirty = false;
    }
    c->snap.n_nodes = c->n_list;
    c->snap.nodes = c->list;
    c->snap.n_have_pods_with_affinity = c->n_aff;
    c->snap.have_pods_with_affinity = c->aff;
    c->snap.n_have_pods_with_required_anti_affinity = c->n_anti;
    c->snap.have_pods_with_required_anti_affinity = c->anti;
    return &c->snap;
}

void sched_cache_set_ns_labels(sched_cache_t *c,
                               const kr_value_t *(*fn)(const kr_sched_snapshot_t *, const char *),
                               void *ud)
{
    c->snap.ns_labels = fn;
    c->snap.ns_ud = ud;
}

size_t sched_cache_node_count(const sched_cache_t *c)
{
    return c->nodes.len;
}

size_t sched_cache_pod_count(const sched_cache_t *c)
{
    return c->pods.len;
}

void sched_cache_destroy(sched_cache_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sched_cache_t *c = *self_p;
    sched_hiter_t it = {0};
    for (sched_hnode_t *h; (h = sched_htab_next(&c->pods, &it)) != NULL;) {
        sched_cpod_t *cp = SCHED_CONTAINER(h, sched_cpod_t, hn);
        sched_pod_free(&cp->sp);
        free(cp);
    }
    sched_htab_free(&c->pods);
    it = (sched_hiter_t){0};
    for (sched_hnode_t *h; (h = sched_htab_next(&c->nodes, &it)) != NULL;)
        node_free(c, SCHED_CONTAINER(h, sched_cnode_t, hn));
    sched_htab_free(&c->nodes);
    free(c->list);
    free(c->aff);
    free(c->anti);
    free(c);
    *self_p = NULL;
}
