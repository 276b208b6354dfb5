/* The object cache (see cache.h): immutable, reference-counted object
 * records and one ordered map of live records per kind.
 *
 * Memory matters here (tens of thousands of objects per kind): a record is
 * one allocation for the struct and the msgpack bytes, plus a small arena
 * holding only what selectors read: the labels, and the field projection as
 * one string per field selector of the kind (a map of maps cost as much as
 * an Event's whole encoding); the strings ns and name point into it. */
#include "cache.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Scratch for building a record's labels and projection. */
#define REC_SCRATCH 4096

/* ---- records ----------------------------------------------------------- */

/* Field selectors whose Go type is a bool or an int: upstream renders the
 * zero value ("false", "0") when the field is absent, so a selector such as
 * spec.hostNetwork=false matches an object that leaves it out. */
static const struct {
    const char *path, *zero;
} zero_fields[] = {
    {"spec.hostNetwork", "false"},   /* pods: strconv.FormatBool */
    {"spec.unschedulable", "false"}, /* nodes: fmt.Sprint(bool) */
    {"status.replicas", "0"},        /* replicasets, replicationcontrollers */
    {"status.successful", "0"},      /* jobs: status.succeeded */
};

static const char *zero_value(const char *path)
{
    for (size_t i = 0; i < sizeof zero_fields / sizeof zero_fields[0]; i++)
        if (strcmp(zero_fields[i].path, path) == 0)
            return zero_fields[i].zero;
    return NULL;
}

/* Field selectors of built-in kinds that are not paths of the object
 * (upstream's GetAttrs): the path to read, and one to fall back on. */
static const struct {
    const char *selector, *path, *fallback;
} aliases[] = {
    {"status.successful", "status.succeeded", NULL},       /* jobs */
    {"source", "source.component", "reportingController"}, /* events */
};

/* The string form of the field at `path` of obj, as kr_fieldsel_match
 * reads it (strings as they are, ints in decimal, bools true/false, floats
 * %.17g; the Go zero value of an absent bool or int field of a built-in
 * kind), or NULL when it reads as "".  Numbers are written into `buf`. */
static const char *project(const kr_value_t *obj, const char *path, bool builtin, char *buf,
                           size_t size)
{
    const kr_value_t *v = NULL;
    bool aliased = false;
    for (size_t i = 0; builtin && i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(aliases[i].selector, path) == 0) {
            v = kr_value_get(obj, aliases[i].path);
            const char *sv = kr_value_as_str(v);
            if (aliases[i].fallback && (v == NULL || (sv != NULL && *sv == '\0')))
                v = kr_value_get(obj, aliases[i].fallback);
            aliased = true;
        }
    if (!aliased)
        v = kr_value_get(obj, path);
    switch (kr_value_type(v)) {
    case KR_STR:
        return kr_value_as_str(v);
    case KR_INT:
        snprintf(buf, size, "%" PRId64, kr_value_as_int(v, 0));
        return buf;
    case KR_BOOL:
        return kr_value_as_bool(v, false) ? "true" : "false";
    case KR_FLOAT:
        snprintf(buf, size, "%.17g", kr_value_as_float(v, 0));
        return buf;
    default:
        return builtin ? zero_value(path) : NULL;
    }
}

/* The projected fields of a kind, in the order of rec->fvals: name,
 * namespace, then the kind's other field selectors. */
static bool is_name_or_ns(const char *path)
{
    return strcmp(path, "metadata.name") == 0 || strcmp(path, "metadata.namespace") == 0;
}

static size_t field_count(const kr_kind_t *kind)
{
    size_t n = 2;
    for (const char *const *p = kind && kind->field_selectors ? kind->field_selectors : NULL;
         p && *p; p++)
        if (!is_name_or_ns(*p))
            n++;
    return n;
}

/* Values most objects of the built-in kinds project (a pod's restartPolicy,
 * schedulerName, serviceAccountName, hostNetwork and phase; a node's
 * unschedulable): records point to these instead of copying them, ~50
 * bytes a pod. */
static const char *const common_values[] = {
    "Always", "OnFailure", "Never",     "default-scheduler", "default",
    "false",  "true",      "Pending",   "Running",           "Succeeded",
    "Failed", "Unknown",   "ClusterIP", "NodePort",          "None",
    "Opaque", "Active",    "Normal",    "Warning",
};

/* `v` itself when it is one of common_values (static), else NULL. */
static const char *common_value(const char *v)
{
    /* on every write (~10 values a pod): the first byte rules out most */
    for (size_t i = 0; i < sizeof common_values / sizeof common_values[0]; i++)
        if (common_values[i][0] == v[0] && strcmp(common_values[i], v) == 0)
            return common_values[i];
    return NULL;
}

/* A projected value kept in the record: a common one shared, else copied
 * into `a`. */
static const char *fval_dup(kr_arena_t *a, const char *v)
{
    const char *c = common_value(v);
    return c != NULL ? c : kr_arena_strdup(a, v);
}

/* project() copied into `scratch`; NULL for "". */
static const char *project_dup(kr_arena_t *scratch, const kr_value_t *obj, const char *path,
                               bool builtin)
{
    char buf[40];
    const char *v = project(obj, path, builtin, buf, sizeof buf);
    return v != NULL && *v ? kr_arena_strdup(scratch, v) : NULL;
}

/* One pass over the kind's selectors (a watch event's index lookup and
 * every field selector term come here). */
const char *kr_objrec_field(const kr_objrec_t *rec, const char *path)
{
    if (strcmp(path, "metadata.name") == 0)
        return rec->fvals[0];
    if (strcmp(path, "metadata.namespace") == 0)
        return rec->fvals[1];
    const kr_kind_t *k = rec->kind;
    size_t i = 2;
    for (const char *const *p = k && k->field_selectors ? k->field_selectors : NULL; p && *p; p++)
        if (!is_name_or_ns(*p)) {
            if (strcmp(*p, path) == 0)
                return rec->fvals[i];
            i++;
        }
    return NULL;
}

static const char *rec_field_get(const char *field, const void *ud)
{
    return kr_objrec_field(ud, field);
}

bool kr_objrec_fieldsel_match(const kr_objrec_t *rec, const kr_fieldsel_t *sel)
{
    return kr_fieldsel_match_fn(sel, rec_field_get, rec);
}

/* Fills everything but the bytes from the decoded object.  The projected
 * field strings (with their pointer array), the labels and the uid are
 * measured in `scratch` first and then copied into an arena of exactly
 * their size: one chunk per record. */
static int rec_fill(kr_objrec_t *rec, const kr_kind_t *kind, const kr_value_t *obj,
                    kr_arena_t *scratch, kr_error_t *err)
{
    if (kr_value_type(obj) != KR_MAP)
        return kr_error_set(err, KR_E_BAD_REQUEST, "an object must be a map, not a %s",
                            kr_type_name(kr_value_type(obj)));
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    const char *name = kr_value_map_str(meta, "name");
    if (name == NULL || name[0] == '\0')
        return kr_error_set(err, KR_E_INVALID,
                            "metadata.name: Required value: name or generateName is required");
    bool builtin = kind != NULL && kind->builtin;
    size_t n = field_count(kind), nv = 0;
    const char **vals = kr_arena_alloc(scratch, n * sizeof *vals);
    vals[nv++] = project_dup(scratch, obj, "metadata.name", builtin);
    vals[nv++] = project_dup(scratch, obj, "metadata.namespace", builtin);
    for (const char *const *p = kind && kind->field_selectors ? kind->field_selectors : NULL;
         p && *p; p++)
        if (!is_name_or_ns(*p))
            vals[nv++] = project_dup(scratch, obj, *p, builtin);
    const kr_value_t *labels = kr_value_map_get(meta, "labels");
    if (kr_value_type(labels) != KR_MAP || kr_value_len(labels) == 0)
        labels = NULL;
    const char *uid = kr_value_map_str(meta, "uid");
    /* a dry run of the copies measures them (allocation sizes do not depend
     * on the arena) */
    size_t mark = kr_arena_used(scratch);
    kr_arena_alloc(scratch, n * sizeof *vals);
    for (size_t i = 0; i < n; i++)
        if (vals[i] != NULL)
            fval_dup(scratch, vals[i]);
    if (labels != NULL)
        kr_value_copy(scratch, labels);
    if (uid != NULL)
        kr_arena_strdup(scratch, uid);
    size_t need = kr_arena_used(scratch) - mark;
    kr_arena_t *a = kr_arena_new(need);
    rec->arena = a;
    const char **fv = kr_arena_alloc(a, n * sizeof *fv);
    for (size_t i = 0; i < n; i++)
        fv[i] = vals[i] != NULL ? fval_dup(a, vals[i]) : NULL;
    rec->fvals = fv;
    rec->labels = labels != NULL ? kr_value_copy(a, labels) : NULL;
    rec->name = fv[0];
    rec->ns = fv[1] != NULL ? fv[1] : "";
    rec->uid = uid != NULL ? kr_arena_strdup(a, uid) : "";
    rec->terminating = kr_value_type(kr_value_map_get(meta, "deletionTimestamp")) != KR_NULL;
    return 0;
}

static kr_objrec_t *rec_alloc(const kr_kind_t *kind, const void *data, size_t len, int64_t rev,
                              int64_t create_rev)
{
    kr_objrec_t *rec = xmalloc(sizeof *rec + len);
    memset(rec, 0, sizeof *rec);
    atomic_init(&rec->refs, 1);
    rec->kind = kind;
    rec->rev = rev;
    rec->create_rev = create_rev;
    rec->len = len;
    memcpy(rec->data, data, len);
    return rec;
}

kr_objrec_t *kr_objrec_new(const kr_kind_t *kind, const kr_value_t *obj, int64_t rev,
                           int64_t create_rev, kr_error_t *err)
{
    if (kr_value_type(obj) != KR_MAP) {
        kr_error_set(err, KR_E_BAD_REQUEST, "an object must be a map, not a %s",
                     kr_type_name(kr_value_type(obj)));
        return NULL;
    }
    kr_buf_t enc = KR_BUF_INIT;
    if (kr_msgpack_encode(obj, &enc, err) < 0) {
        kr_buf_free(&enc);
        return NULL;
    }
    kr_objrec_t *rec = rec_alloc(kind, enc.data, enc.len, rev, create_rev);
    kr_buf_free(&enc);
    kr_arena_t *scratch = kr_arena_new(REC_SCRATCH);
    if (rec_fill(rec, kind, obj, scratch, err) < 0)
        kr_objrec_unref(&rec);
    kr_arena_destroy(&scratch);
    return rec;
}

kr_objrec_t *kr_objrec_from_msgpack(const kr_kind_t *kind, const void *data, size_t len,
                                    int64_t rev, int64_t create_rev, kr_error_t *err)
{
    kr_arena_t *scratch = kr_arena_new(2 * len + REC_SCRATCH);
    kr_value_t *obj = NULL;
    kr_objrec_t *rec = NULL;
    if (kr_msgpack_decode(scratch, data, len, &obj, err) == 0) {
        rec = rec_alloc(kind, data, len, rev, create_rev);
        if (rec_fill(rec, kind, obj, scratch, err) < 0)
            kr_objrec_unref(&rec);
    }
    kr_arena_destroy(&scratch);
    return rec;
}

kr_objrec_t *kr_objrec_ref(kr_objrec_t *rec)
{
    if (rec != NULL)
        atomic_fetch_add_explicit(&rec->refs, 1, memory_order_relaxed);
    return rec;
}

void kr_objrec_unref(kr_objrec_t **rec_p)
{
    if (rec_p == NULL || *rec_p == NULL)
        return;
    kr_objrec_t *rec = *rec_p;
    *rec_p = NULL;
    if (atomic_fetch_sub_explicit(&rec->refs, 1, memory_order_release) != 1)
        return;
    atomic_thread_fence(memory_order_acquire);
    kr_arena_destroy(&rec->arena);
    free(rec);
}

kr_value_t *kr_objrec_decode(const kr_objrec_t *rec, kr_arena_t *arena)
{
    kr_value_t *obj = NULL;
    if (kr_msgpack_decode(arena, rec->data, rec->len, &obj, NULL) < 0)
        return kr_value_map(arena); /* cannot happen: the bytes are our own encoding */
    return obj;
}

/* ---- namespace counts ---------------------------------------------------- */

typedef struct ns_count {
    struct ns_count *next;
    size_t n;
    char ns[];
} ns_count_t;

typedef struct ns_table {
    ns_count_t **slots;
    size_t cap, len; /* cap: power of two */
} ns_table_t;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static ns_count_t **ns_find(const ns_table_t *t, const char *ns)
{
    if (t->cap == 0)
        return NULL;
    ns_count_t **pp = &t->slots[str_hash(ns) & (t->cap - 1)];
    while (*pp && strcmp((*pp)->ns, ns) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void ns_grow(ns_table_t *t)
{
    size_t cap = t->cap ? t->cap * 2 : 16;
    ns_count_t **slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < t->cap; i++)
        for (ns_count_t *e = t->slots[i], *next; e; e = next) {
            next = e->next;
            size_t s = str_hash(e->ns) & (cap - 1);
            e->next = slots[s];
            slots[s] = e;
        }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
}

static void ns_add(ns_table_t *t, const char *ns, int delta)
{
    ns_count_t **pp = ns_find(t, ns);
    if (pp == NULL || *pp == NULL) {
        if (delta < 0)
            return;
        if (t->len + 1 > t->cap) {
            ns_grow(t);
            pp = ns_find(t, ns);
        }
        size_t len = strlen(ns);
        ns_count_t *e = xmalloc(sizeof *e + len + 1);
        memcpy(e->ns, ns, len + 1);
        e->n = 0;
        e->next = NULL;
        *pp = e;
        t->len++;
    }
    ns_count_t *e = *pp;
    if (delta < 0 && e->n <= 1) {
        *pp = e->next;
        free(e);
        t->len--;
        return;
    }
    e->n += (size_t)delta;
}

static void ns_free(ns_table_t *t)
{
    for (size_t i = 0; i < t->cap; i++)
        for (ns_count_t *e = t->slots[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* ---- the ordered map: an AVL tree threaded through rec->node_ ------------
 *
 * node_[0] left, node_[1] right, node_[2] parent, node_[3] height.  Every
 * walk is iterative (parent links), so depth never meets the C stack. */

struct kr_objmap {
    kr_objrec_t *root;
    size_t count;
    ns_table_t ns;
};

#define CHILD(r, d) ((kr_objrec_t *)(r)->node_[d])
#define LEFT(r)     CHILD(r, 0)
#define RIGHT(r)    CHILD(r, 1)
#define PARENT(r)   ((kr_objrec_t *)(r)->node_[2])

static void set_child(kr_objrec_t *r, int d, kr_objrec_t *c)
{
    r->node_[d] = c;
    if (c)
        c->node_[2] = r;
}

static int height(const kr_objrec_t *r)
{
    return r ? (int)(uintptr_t)r->node_[3] : 0;
}

static void update_height(kr_objrec_t *r)
{
    int l = height(LEFT(r)), h = height(RIGHT(r));
    r->node_[3] = (void *)(uintptr_t)(1 + (l > h ? l : h));
}

/* Puts `c` where `old` hangs below `parent` (or at the root). */
static void replace_child(kr_objmap_t *m, kr_objrec_t *parent, kr_objrec_t *old, kr_objrec_t *c)
{
    if (parent == NULL)
        m->root = c;
    else
        parent->node_[LEFT(parent) == old ? 0 : 1] = c;
    if (c)
        c->node_[2] = parent;
}

/* Moves x down to side d (0: a left rotation); returns the subtree's new
 * root, x's child from the other side. */
static kr_objrec_t *rotate(kr_objmap_t *m, kr_objrec_t *x, int d)
{
    kr_objrec_t *y = CHILD(x, !d);
    replace_child(m, PARENT(x), x, y);
    set_child(x, !d, CHILD(y, d));
    set_child(y, d, x);
    update_height(x);
    update_height(y);
    return y;
}

/* Restores heights and balance from n up to the root. */
static void rebalance(kr_objmap_t *m, kr_objrec_t *n)
{
    while (n != NULL) {
        update_height(n);
        int bf = height(LEFT(n)) - height(RIGHT(n));
        if (bf > 1 || bf < -1) {
            int heavy = bf > 1 ? 0 : 1;
            kr_objrec_t *c = CHILD(n, heavy);
            if (height(CHILD(c, heavy)) < height(CHILD(c, !heavy)))
                rotate(m, c, heavy); /* the inner grandchild comes up first */
            n = rotate(m, n, !heavy);
        }
        n = PARENT(n);
    }
}

static int key_cmp(const char *ns, const char *name, const kr_objrec_t *r)
{
    int c = strcmp(ns, r->ns);
    return c != 0 ? c : strcmp(name, r->name);
}

static kr_objrec_t *leftmost(kr_objrec_t *r)
{
    while (r && LEFT(r))
        r = LEFT(r);
    return r;
}

static kr_objrec_t *next_node(kr_objrec_t *r)
{
    if (RIGHT(r))
        return leftmost(RIGHT(r));
    kr_objrec_t *p = PARENT(r);
    while (p && RIGHT(p) == r) {
        r = p;
        p = PARENT(p);
    }
    return p;
}

/* First record whose key is > (ns, name), or >= when `inclusive`. */
static kr_objrec_t *bound(const kr_objmap_t *m, const char *ns, const char *name, bool inclusive)
{
    kr_objrec_t *r = m->root, *best = NULL;
    while (r) {
        int c = key_cmp(ns, name, r);
        if (c < 0 || (c == 0 && inclusive)) {
            best = r;
            r = LEFT(r);
        } else {
            r = RIGHT(r);
        }
    }
    return best;
}

kr_objmap_t *kr_objmap_new(void)
{
    return xcalloc(1, sizeof(kr_objmap_t));
}

void kr_objmap_destroy(kr_objmap_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_objmap_t *m = *self_p;
    *self_p = NULL;
    /* post-order without a stack: detach each leaf from its parent */
    kr_objrec_t *r = m->root;
    while (r) {
        if (LEFT(r)) {
            r = LEFT(r);
        } else if (RIGHT(r)) {
            r = RIGHT(r);
        } else {
            kr_objrec_t *p = PARENT(r);
            if (p)
                p->node_[LEFT(p) == r ? 0 : 1] = NULL;
            kr_objrec_unref(&r);
            r = p;
        }
    }
    ns_free(&m->ns);
    free(m);
}

size_t kr_objmap_count(const kr_objmap_t *m)
{
    return m ? m->count : 0;
}

size_t kr_objmap_count_ns(const kr_objmap_t *m, const char *ns)
{
    ns_count_t **pp = m ? ns_find(&m->ns, ns ? ns : "") : NULL;
    return pp && *pp ? (*pp)->n : 0;
}

kr_objrec_t *kr_objmap_get(const kr_objmap_t *m, const char *ns, const char *name)
{
    if (m == NULL || name == NULL)
        return NULL;
    if (ns == NULL)
        ns = "";
    kr_objrec_t *r = m->root;
    while (r) {
        int c = key_cmp(ns, name, r);
        if (c == 0)
            return r;
        r = c < 0 ? LEFT(r) : RIGHT(r);
    }
    return NULL;
}

void kr_objmap_put(kr_objmap_t *m, kr_objrec_t *rec)
{
    kr_objrec_t *parent = NULL, *r = m->root;
    int c = 0;
    while (r) {
        c = key_cmp(rec->ns, rec->name, r);
        if (c == 0) {
            if (r == rec) { /* the same record again: keep one reference */
                kr_objrec_unref(&r);
                return;
            }
            /* replace in place: the new record takes over the links */
            memcpy(rec->node_, r->node_, sizeof rec->node_);
            replace_child(m, PARENT(r), r, rec);
            if (LEFT(rec))
                LEFT(rec)->node_[2] = rec;
            if (RIGHT(rec))
                RIGHT(rec)->node_[2] = rec;
            memset(r->node_, 0, sizeof r->node_);
            kr_objrec_unref(&r);
            return;
        }
        parent = r;
        r = c < 0 ? LEFT(r) : RIGHT(r);
    }
    memset(rec->node_, 0, sizeof rec->node_);
    rec->node_[3] = (void *)(uintptr_t)1;
    if (parent == NULL)
        m->root = rec;
    else if (c < 0)
        set_child(parent, 0, rec);
    else
        set_child(parent, 1, rec);
    rebalance(m, parent);
    m->count++;
    ns_add(&m->ns, rec->ns, 1);
}

kr_objrec_t *kr_objmap_remove(kr_objmap_t *m, const char *ns, const char *name)
{
    kr_objrec_t *z = kr_objmap_get(m, ns, name);
    if (z == NULL)
        return NULL;
    if (LEFT(z) && RIGHT(z)) {
        /* the successor takes z's place */
        kr_objrec_t *s = leftmost(RIGHT(z)), *start = s;
        if (PARENT(s) != z) {
            start = PARENT(s);
            set_child(start, 0, RIGHT(s));
            set_child(s, 1, RIGHT(z));
        }
        set_child(s, 0, LEFT(z));
        replace_child(m, PARENT(z), z, s);
        s->node_[3] = z->node_[3];
        rebalance(m, start);
    } else {
        kr_objrec_t *c = LEFT(z) ? LEFT(z) : RIGHT(z), *p = PARENT(z);
        replace_child(m, p, z, c);
        rebalance(m, p);
    }
    memset(z->node_, 0, sizeof z->node_);
    m->count--;
    ns_add(&m->ns, z->ns, -1);
    return z;
}

void kr_objmap_walk(const kr_objmap_t *m, const char *ns, const char *after_ns,
                    const char *after_name, kr_objmap_fn fn, void *ud)
{
    if (m == NULL)
        return;
    kr_objrec_t *r;
    if (after_name != NULL) {
        if (after_ns == NULL)
            after_ns = "";
        if (ns != NULL && strcmp(after_ns, ns) < 0)
            r = bound(m, ns, "", true);
        else
            r = bound(m, after_ns, after_name, false);
    } else if (ns != NULL) {
        r = bound(m, ns, "", true);
    } else {
        r = leftmost(m->root);
    }
    for (; r != NULL; r = next_node(r)) {
        if (ns != NULL && strcmp(r->ns, ns) != 0)
            return;
        if (!fn(r, ud))
            return;
    }
}
