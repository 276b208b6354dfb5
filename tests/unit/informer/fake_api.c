/* The fake object API of fake_api.h.  Everything but the request record
 * and the counters lives on the fake's own thread. */
#include "fake_api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fobj {
    kr_arena_t *arena;
    kr_value_t *obj;
    char ns[64], name[256];
    int64_t rv;
} fobj_t;

typedef struct fevent {
    const char *type;
    kr_arena_t *arena;
    kr_value_t *obj, *prev;
    kr_value_t *gone; /* prev at this revision: what "stops matching" sends */
    int64_t rv;
} fevent_t;

typedef struct fwatch {
    kr_call_t *call;
    char ns[64], labels[128];
    bool bookmarks;
} fwatch_t;

#define FAKE_MAX_WATCHES 64

struct fake_api {
    char endpoint[256], res[128], api_version[96], kind[64];
    pthread_t th;
    kr_loop_t *loop;
    kr_bus_t *bus;
    atomic_int ready;

    fobj_t *objs;
    int nobjs, capobjs;
    fevent_t *log;
    int nlog, caplog;
    int64_t oldest; /* a watch from an older revision gets 410 */
    int64_t rev;
    fwatch_t watches[FAKE_MAX_WATCHES];
    int nwatches;
    bool quiet, expire_continue;
    char race_ns[64], race_name[256];
    uint64_t down_ms;

    pthread_mutex_t mu;
    fake_req_t reqs[FAKE_MAX_REQS]; /* lists and watches */
    int nreqs;
    struct {
        char op[16];
        int n;
    } counts[16]; /* every op */
    atomic_int cancels;
};

/* ---- selectors (the equality subset the tests use) ---------------------- */

static bool label_term(const kr_value_t *labels, const char *t, size_t n)
{
    char term[128];
    if (n >= sizeof term)
        return false;
    memcpy(term, t, n);
    term[n] = '\0';
    if (term[0] == '!')
        return kr_value_map_get(labels, term + 1) == NULL;
    char *ne = strstr(term, "!=");
    char *eq = strchr(term, '=');
    if (ne != NULL) {
        *ne = '\0';
        const char *v = kr_value_map_str(labels, term);
        return v == NULL || strcmp(v, ne + 2) != 0;
    }
    if (eq == NULL)
        return kr_value_map_get(labels, term) != NULL;
    *eq = '\0';
    const char *want = eq[1] == '=' ? eq + 2 : eq + 1;
    const char *v = kr_value_map_str(labels, term);
    return v != NULL && strcmp(v, want) == 0;
}

static bool labels_match(const char *sel, const kr_value_t *obj)
{
    if (sel == NULL || *sel == '\0')
        return true;
    const kr_value_t *labels = kr_value_get(obj, "metadata.labels");
    while (*sel) {
        size_t n = strcspn(sel, ",");
        if (!label_term(labels, sel, n))
            return false;
        sel += n;
        if (*sel == ',')
            sel++;
    }
    return true;
}

static bool watch_matches(const fwatch_t *w, const kr_value_t *obj)
{
    if (obj == NULL)
        return false;
    const char *ns = kr_value_map_str(kr_value_map_get(obj, "metadata"), "namespace");
    if (w->ns[0] && (ns == NULL || strcmp(ns, w->ns) != 0))
        return false;
    return labels_match(w->labels, obj);
}

/* ---- record ------------------------------------------------------------- */

static void copy_str(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s != NULL ? s : "");
}

static void record(fake_api_t *f, kr_call_t *call)
{
    const kr_value_t *opts = kr_value_map_get(kr_call_msg(call), "opts");
    fake_req_t r;
    memset(&r, 0, sizeof r);
    copy_str(r.op, sizeof r.op, kr_call_op(call));
    copy_str(r.ns, sizeof r.ns, kr_call_field(call, "ns"));
    copy_str(r.rv, sizeof r.rv, kr_call_field(call, "rv"));
    copy_str(r.cont, sizeof r.cont, kr_value_map_str(opts, "continue"));
    copy_str(r.labels, sizeof r.labels, kr_value_map_str(opts, "labelSelector"));
    copy_str(r.fields, sizeof r.fields, kr_value_map_str(opts, "fieldSelector"));
    r.limit = kr_value_map_int(opts, "limit", 0);
    r.bookmarks = kr_value_as_bool(kr_value_map_get(opts, "allowWatchBookmarks"), false);
    r.at_ms = kr_time_ms();
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < sizeof f->counts / sizeof f->counts[0]; i++) {
        if (f->counts[i].op[0] == '\0')
            copy_str(f->counts[i].op, sizeof f->counts[i].op, r.op);
        if (strcmp(f->counts[i].op, r.op) == 0) {
            f->counts[i].n++;
            break;
        }
    }
    bool detail = strcmp(r.op, "list") == 0 || strcmp(r.op, "watch") == 0;
    if (detail && f->nreqs < FAKE_MAX_REQS)
        f->reqs[f->nreqs++] = r;
    pthread_mutex_unlock(&f->mu);
}

int fake_api_reqs(fake_api_t *f, fake_req_t *out, int max)
{
    pthread_mutex_lock(&f->mu);
    int n = f->nreqs < max ? f->nreqs : max;
    memcpy(out, f->reqs, (size_t)n * sizeof *out);
    pthread_mutex_unlock(&f->mu);
    return n;
}

int fake_api_count(fake_api_t *f, const char *op)
{
    int n = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < sizeof f->counts / sizeof f->counts[0]; i++)
        if (strcmp(f->counts[i].op, op) == 0)
            n = f->counts[i].n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

int fake_api_cancels(fake_api_t *f)
{
    return atomic_load(&f->cancels);
}

/* ---- objects and events -------------------------------------------------- */

static int obj_find(const fake_api_t *f, const char *ns, const char *name)
{
    for (int i = 0; i < f->nobjs; i++)
        if (strcmp(f->objs[i].ns, ns != NULL ? ns : "") == 0 && strcmp(f->objs[i].name, name) == 0)
            return i;
    return -1;
}

static char *rv_str(kr_arena_t *a, int64_t rv)
{
    return kr_arena_printf(a, "%" PRId64, rv);
}

/* Stores a copy of obj at slot i (i == nobjs appends) with revision rv. */
static fobj_t *obj_store(fake_api_t *f, int i, const kr_value_t *obj, int64_t rv)
{
    if (i == f->nobjs) {
        if (f->nobjs == f->capobjs) {
            f->capobjs = f->capobjs ? f->capobjs * 2 : 64;
            f->objs = realloc(f->objs, (size_t)f->capobjs * sizeof *f->objs);
            if (f->objs == NULL)
                abort();
        }
        f->nobjs++;
    } else {
        kr_arena_destroy(&f->objs[i].arena);
    }
    fobj_t *o = &f->objs[i];
    o->arena = kr_arena_new(1024);
    o->obj = kr_value_copy(o->arena, obj);
    kr_value_set(o->arena, o->obj, "metadata.resourceVersion",
                 kr_value_str(o->arena, rv_str(o->arena, rv)), NULL);
    const kr_value_t *md = kr_value_map_get(o->obj, "metadata");
    copy_str(o->ns, sizeof o->ns, kr_value_map_str(md, "namespace"));
    copy_str(o->name, sizeof o->name, kr_value_map_str(md, "name"));
    o->rv = rv;
    return o;
}

static void obj_remove(fake_api_t *f, int i)
{
    kr_arena_destroy(&f->objs[i].arena);
    memmove(&f->objs[i], &f->objs[i + 1], (size_t)(f->nobjs - i - 1) * sizeof *f->objs);
    f->nobjs--;
}

/* One event to one watcher, with Kubernetes' selector rules: an object
 * that starts to match is ADDED, one that stops matching is DELETED. */
static void deliver(fwatch_t *w, const fevent_t *ev)
{
    bool now = watch_matches(w, ev->obj), before = watch_matches(w, ev->prev);
    if (strcmp(ev->type, "DELETED") == 0) {
        if (now)
            kr_call_event(w->call, "DELETED", ev->obj, NULL);
    } else if (now) {
        kr_call_event(w->call, before ? ev->type : "ADDED", ev->obj, NULL);
    } else if (before) {
        /* the previous state, at the event's revision (as the cacher does) */
        kr_call_event(w->call, "DELETED", ev->gone, NULL);
    }
}

static void publish(fake_api_t *f, const char *type, const kr_value_t *obj, const kr_value_t *prev)
{
    if (f->quiet) {
        f->oldest = f->rev; /* the history of this change is lost */
        return;
    }
    if (f->nlog == f->caplog) {
        f->caplog = f->caplog ? f->caplog * 2 : 256;
        f->log = realloc(f->log, (size_t)f->caplog * sizeof *f->log);
        if (f->log == NULL)
            abort();
    }
    fevent_t *ev = &f->log[f->nlog++];
    ev->type = type;
    ev->arena = kr_arena_new(2048);
    ev->obj = kr_value_copy(ev->arena, obj);
    ev->prev = prev != NULL ? kr_value_copy(ev->arena, prev) : NULL;
    ev->gone = NULL;
    if (prev != NULL) {
        ev->gone = kr_value_copy(ev->arena, prev);
        kr_value_set(ev->arena, ev->gone, "metadata.resourceVersion",
                     kr_value_str(ev->arena, rv_str(ev->arena, f->rev)), NULL);
    }
    ev->rv = f->rev;
    for (int i = 0; i < f->nwatches; i++)
        deliver(&f->watches[i], ev);
}

static void forget_history(fake_api_t *f)
{
    for (int i = 0; i < f->nlog; i++)
        kr_arena_destroy(&f->log[i].arena);
    f->nlog = 0;
    f->oldest = f->rev;
}

/* ---- ops ----------------------------------------------------------------- */

static const char *obj_name(kr_call_t *call)
{
    const char *name = kr_call_field(call, "name");
    return name != NULL ? name
                        : kr_value_as_str(kr_value_get(kr_call_msg(call), "obj.metadata.name"));
}

static void not_found(fake_api_t *f, kr_call_t *call, const char *name)
{
    char msg[512];
    const char *plural = strrchr(f->res, '/') + 1;
    snprintf(msg, sizeof msg, "%s \"%s\" not found", plural, name ? name : "");
    kr_call_fail(call, KR_E_NOT_FOUND, msg, NULL);
}

static void on_list(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    fake_api_t *f = ud;
    record(f, call);
    kr_arena_t *a = kr_call_arena(call);
    const kr_value_t *opts = kr_value_map_get(kr_call_msg(call), "opts");
    int64_t limit = kr_value_map_int(opts, "limit", 0);
    const char *cont = kr_value_map_str(opts, "continue");
    fwatch_t sel = {0};
    copy_str(sel.ns, sizeof sel.ns, kr_call_field(call, "ns"));
    copy_str(sel.labels, sizeof sel.labels, kr_value_map_str(opts, "labelSelector"));
    int64_t snap = f->rev;
    int start = 0;
    if (cont != NULL) {
        if (f->expire_continue) {
            f->expire_continue = false;
            kr_call_fail(call, KR_E_EXPIRED,
                         "The provided continue parameter is too old to display a consistent "
                         "list result. You can start a new list without the continue parameter.",
                         NULL);
            return;
        }
        if (sscanf(cont, "%" SCNd64 "/%d", &snap, &start) != 2) {
            kr_call_fail(call, KR_E_BAD_REQUEST, "continue key is not valid", NULL);
            return;
        }
    }
    kr_value_t *items = kr_value_array(a);
    int i = start, n = 0;
    for (; i < f->nobjs; i++) {
        if (!watch_matches(&sel, f->objs[i].obj))
            continue;
        if (limit > 0 && n == limit)
            break;
        kr_value_array_push(a, items, kr_value_copy(a, f->objs[i].obj));
        n++;
    }
    kr_value_t *list = kr_value_map(a), *md = kr_value_map(a);
    kr_value_map_set(a, list, "apiVersion", kr_value_str(a, f->api_version));
    kr_value_map_set(a, list, "kind", kr_value_str(a, kr_arena_printf(a, "%sList", f->kind)));
    kr_value_map_set(a, list, "metadata", md);
    kr_value_map_set(a, md, "resourceVersion", kr_value_str(a, rv_str(a, snap)));
    if (i < f->nobjs)
        kr_value_map_set(a, md, "continue",
                         kr_value_str(a, kr_arena_printf(a, "%" PRId64 "/%d", snap, i)));
    kr_value_map_set(a, list, "items", items);
    kr_call_reply(call, 200, list, NULL);
}

static void on_cancel(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    fake_api_t *f = ud;
    for (int i = 0; i < f->nwatches; i++) {
        if (f->watches[i].call == call) {
            f->watches[i] = f->watches[--f->nwatches];
            break;
        }
    }
    atomic_fetch_add(&f->cancels, 1);
}

static void on_watch(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    fake_api_t *f = ud;
    record(f, call);
    const char *rvs = kr_call_field(call, "rv");
    int64_t from = rvs != NULL ? strtoll(rvs, NULL, 10) : 0;
    if (rvs != NULL && from < f->oldest) {
        char msg[200];
        snprintf(msg, sizeof msg, "too old resource version: %" PRId64 " (%" PRId64 ")", from,
                 f->oldest);
        kr_call_fail(call, KR_E_EXPIRED, msg, NULL);
        return;
    }
    if (f->nwatches == FAKE_MAX_WATCHES) {
        kr_call_fail(call, KR_E_TOO_MANY_REQUESTS, "too many watches", NULL);
        return;
    }
    const kr_value_t *opts = kr_value_map_get(kr_call_msg(call), "opts");
    fwatch_t *w = &f->watches[f->nwatches++];
    memset(w, 0, sizeof *w);
    w->call = call;
    copy_str(w->ns, sizeof w->ns, kr_call_field(call, "ns"));
    copy_str(w->labels, sizeof w->labels, kr_value_map_str(opts, "labelSelector"));
    w->bookmarks = kr_value_as_bool(kr_value_map_get(opts, "allowWatchBookmarks"), false);
    kr_call_keep(call);
    kr_call_on_cancel(call, on_cancel, f);
    if (rvs == NULL) {
        for (int i = 0; i < f->nobjs; i++)
            if (watch_matches(w, f->objs[i].obj))
                kr_call_event(call, "ADDED", f->objs[i].obj, NULL);
        return;
    }
    for (int i = 0; i < f->nlog; i++)
        if (f->log[i].rv > from)
            deliver(w, &f->log[i]);
}

static void on_get(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    fake_api_t *f = ud;
    record(f, call);
    int i = obj_find(f, kr_call_field(call, "ns"), obj_name(call));
    if (i < 0) {
        not_found(f, call, obj_name(call));
        return;
    }
    kr_call_reply(call, 200, f->objs[i].obj, NULL);
}

static void on_create(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    fake_api_t *f = ud;
    record(f, call);
    kr_arena_t *a = kr_call_arena(call);
    const char *ns = kr_call_field(call, "ns");
    const char *name = obj_name(call);
    kr_value_t *obj = kr_value_map_get(kr_call_msg(call), "obj");
    if (name == NULL || kr_value_type(obj) != KR_MAP) {
        kr_call_fail(call, KR_E_INVALID, "metadata.name: Required value: name is required", NULL);
        return;
    }
    if (obj_find(f, ns, name) >= 0) {
        const char *plural = strrchr(f->res, '/') + 1;
        kr_call_fail(call, KR_E_ALREADY_EXISTS,
                     kr_arena_printf(a, "%s \"%s\" already exists", plural, name), NULL);
        return;
    }
    if (ns != NULL)
        kr_value_set(a, obj, "metadata.namespace", kr_value_str(a, ns), NULL);
    kr_value_set(a, obj, "metadata.uid",
                 kr_value_str(a, kr_arena_printf(a, "uid-%" PRId64, f->rev + 1)), NULL);
    fobj_t *o = obj_store(f, f->nobjs, obj, ++f->rev);
    publish(f, "ADDED", o->obj, NULL);
    kr_call_reply(call, 201, o->obj, NULL);
}

/* A write by someone else just before this update (the "race" ctl). */
static void concurrent_write(fake_api_t *f, int i)
{
    fobj_t *o = &f->objs[i];
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *prev = kr_value_copy(a, o->obj);
    kr_value_t *next = kr_value_copy(a, o->obj);
    kr_value_set(a, next, "metadata.annotations.raced", kr_value_str(a, "true"), NULL);
    o = obj_store(f, i, next, ++f->rev);
    publish(f, "MODIFIED", o->obj, prev);
    kr_arena_destroy(&a);
}

static void on_update(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    fake_api_t *f = ud;
    record(f, call);
    kr_arena_t *a = kr_call_arena(call);
    const char *ns = kr_call_field(call, "ns");
    const char *name = obj_name(call);
    kr_value_t *obj = kr_value_map_get(kr_call_msg(call), "obj");
    int i = name != NULL ? obj_find(f, ns, name) : -1;
    if (i < 0 || kr_value_type(obj) != KR_MAP) {
        not_found(f, call, name);
        return;
    }
    if (strcmp(f->race_name, name) == 0 && strcmp(f->race_ns, ns != NULL ? ns : "") == 0) {
        f->race_name[0] = '\0';
        concurrent_write(f, i);
    }
    const char *rv = kr_value_as_str(kr_value_get(obj, "metadata.resourceVersion"));
    if (rv != NULL && *rv != '\0' && strtoll(rv, NULL, 10) != f->objs[i].rv) {
        const char *plural = strrchr(f->res, '/') + 1;
        kr_call_fail(call, KR_E_CONFLICT,
                     kr_arena_printf(a,
                                     "Operation cannot be fulfilled on %s \"%s\": the object has "
                                     "been modified; please apply your changes to the latest "
                                     "version and try again",
                                     plural, name),
                     NULL);
        return;
    }
    kr_value_t *prev = kr_value_copy(a, f->objs[i].obj);
    if (ns != NULL)
        kr_value_set(a, obj, "metadata.namespace", kr_value_str(a, ns), NULL);
    kr_value_set(a, obj, "metadata.uid", kr_value_copy(a, kr_value_get(prev, "metadata.uid")),
                 NULL);
    fobj_t *o = obj_store(f, i, obj, ++f->rev);
    publish(f, "MODIFIED", o->obj, prev);
    kr_call_reply(call, 200, o->obj, NULL);
}

static void on_delete(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    fake_api_t *f = ud;
    record(f, call);
    kr_arena_t *a = kr_call_arena(call);
    const char *name = obj_name(call);
    int i = name != NULL ? obj_find(f, kr_call_field(call, "ns"), name) : -1;
    if (i < 0) {
        not_found(f, call, name);
        return;
    }
    kr_value_t *last = kr_value_copy(a, f->objs[i].obj);
    obj_remove(f, i);
    kr_value_set(a, last, "metadata.resourceVersion", kr_value_str(a, rv_str(a, ++f->rev)), NULL);
    publish(f, "DELETED", last, NULL);
    kr_call_reply(call, 200, last, NULL);
}

/* ---- control ------------------------------------------------------------- */

static int serve_all(fake_api_t *f);

static void on_up(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)id;
    fake_api_t *f = ud;
    kr_error_t err;
    f->bus = kr_bus_connect(f->endpoint, &err);
    if (f->bus == NULL || kr_bus_attach(f->bus, loop, &err) < 0 || serve_all(f) < 0) {
        fprintf(stderr, "fake api: reconnect: %s\n", err.message);
        abort();
    }
}

static void on_down(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)id;
    fake_api_t *f = ud;
    kr_bus_destroy(&f->bus); /* watchers get ServiceUnavailable */
    kr_loop_add_timer(loop, f->down_ms, 0, on_up, f);
}

static void on_ctl(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    fake_api_t *f = ud;
    kr_arena_t *a = kr_call_arena(call);
    const kr_value_t *obj = kr_value_map_get(kr_call_msg(call), "obj");
    const char *what = kr_value_map_str(obj, "do");
    if (what == NULL) {
        kr_call_fail(call, KR_E_BAD_REQUEST, "fake.ctl: obj.do is required", NULL);
        return;
    }
    if (strcmp(what, "quiet") == 0) {
        f->quiet = true;
        forget_history(f);
    } else if (strcmp(what, "loud") == 0) {
        f->quiet = false;
    } else if (strcmp(what, "bookmark") == 0) {
        kr_value_t *bm = kr_value_map(a);
        kr_value_map_set(a, bm, "kind", kr_value_str(a, f->kind));
        kr_value_map_set(a, bm, "apiVersion", kr_value_str(a, f->api_version));
        kr_value_set(a, bm, "metadata.resourceVersion", kr_value_str(a, rv_str(a, f->rev)), NULL);
        for (int i = 0; i < f->nwatches; i++)
            if (f->watches[i].bookmarks)
                kr_call_event(f->watches[i].call, "BOOKMARK", bm, NULL);
    } else if (strcmp(what, "expire") == 0) {
        forget_history(f);
        while (f->nwatches > 0) {
            kr_call_t *c = f->watches[--f->nwatches].call;
            kr_call_end(c, KR_E_EXPIRED, "The resourceVersion for the provided watch is too old.",
                        NULL);
        }
    } else if (strcmp(what, "expire_continue") == 0) {
        f->expire_continue = true;
    } else if (strcmp(what, "bump") == 0) {
        f->rev += kr_value_map_int(obj, "n", 1);
    } else if (strcmp(what, "race") == 0) {
        copy_str(f->race_ns, sizeof f->race_ns, kr_value_map_str(obj, "ns"));
        copy_str(f->race_name, sizeof f->race_name, kr_value_map_str(obj, "name"));
    } else if (strcmp(what, "restart") == 0) {
        f->down_ms = (uint64_t)kr_value_map_int(obj, "down_ms", 0);
        kr_loop_add_timer(f->loop, 0, 0, on_down, f);
    } else if (strcmp(what, "rev") != 0) {
        kr_call_fail(call, KR_E_BAD_REQUEST, "fake.ctl: unknown obj.do", NULL);
        return;
    }
    kr_value_t *out = kr_value_map(a);
    kr_value_map_set(a, out, "rev", kr_value_int(a, f->rev));
    kr_value_map_set(a, out, "watches", kr_value_int(a, f->nwatches));
    kr_call_reply(call, 200, out, NULL);
}

static int serve_all(fake_api_t *f)
{
    static const struct {
        const char *op;
        kr_handler_fn fn;
    } ops[] = {
        {"list", on_list},     {"watch", on_watch},   {"get", on_get},
        {"create", on_create}, {"update", on_update}, {"delete", on_delete},
    };
    kr_error_t err;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (kr_bus_serve(f->bus, ops[i].op, f->res, ops[i].fn, f, 5000, &err) < 0)
            return -1;
    return kr_bus_serve(f->bus, "fake.ctl", NULL, on_ctl, f, 5000, &err);
}

static void *fake_main(void *arg)
{
    fake_api_t *f = arg;
    kr_error_t err;
    f->loop = kr_loop_new(&err);
    f->bus = kr_bus_connect(f->endpoint, &err);
    if (f->loop == NULL || f->bus == NULL || kr_bus_attach(f->bus, f->loop, &err) < 0 ||
        serve_all(f) < 0) {
        fprintf(stderr, "fake api: %s\n", err.message);
        abort();
    }
    atomic_store(&f->ready, 1);
    kr_loop_run(f->loop, &err);
    kr_bus_destroy(&f->bus);
    kr_loop_destroy(&f->loop);
    return NULL;
}

fake_api_t *fake_api_start(const char *endpoint, const char *res)
{
    fake_api_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        abort();
    copy_str(f->endpoint, sizeof f->endpoint, endpoint);
    copy_str(f->res, sizeof f->res, res);
    /* "test.kraal.io/v1/widgets" -> apiVersion "test.kraal.io/v1", kind "Widget" */
    const char *slash = strrchr(res, '/');
    snprintf(f->api_version, sizeof f->api_version, "%.*s", (int)(slash - res), res);
    snprintf(f->kind, sizeof f->kind, "%s", slash + 1);
    f->kind[0] = (char)(f->kind[0] - 'a' + 'A');
    size_t kl = strlen(f->kind);
    if (kl > 1 && f->kind[kl - 1] == 's')
        f->kind[kl - 1] = '\0';
    pthread_mutex_init(&f->mu, NULL);
    pthread_create(&f->th, NULL, fake_main, f);
    for (int i = 0; i < 500 && !atomic_load(&f->ready); i++)
        usleep(10 * 1000);
    if (!atomic_load(&f->ready))
        abort();
    return f;
}

void fake_api_stop(fake_api_t **self_p)
{
    fake_api_t *f = *self_p;
    if (f == NULL)
        return;
    kr_loop_stop(f->loop);
    pthread_join(f->th, NULL);
    for (int i = 0; i < f->nobjs; i++)
        kr_arena_destroy(&f->objs[i].arena);
    free(f->objs);
    forget_history(f);
    free(f->log);
    pthread_mutex_destroy(&f->mu);
    free(f);
    *self_p = NULL;
}

int fake_call(kr_bus_t *bus, kr_arena_t *arena, kr_value_t **obj, const char *json)
{
    kr_error_t err;
    kr_value_t *req = NULL;
    if (kr_json_decode(arena, json, strlen(json), &req, &err) < 0) {
        fprintf(stderr, "fake_call: %s: %s\n", json, err.message);
        abort();
    }
    kr_request_t r = {
        .op = kr_value_map_str(req, "op"),
        .res = kr_value_map_str(req, "res"),
        .ns = kr_value_map_str(req, "ns"),
        .name = kr_value_map_str(req, "name"),
        .obj = kr_value_map_get(req, "obj"),
        .opts = kr_value_map_get(req, "opts"),
    };
    kr_reply_t reply;
    if (kr_bus_call(bus, &r, arena, &reply, 5000, &err) < 0) {
        fprintf(stderr, "fake_call: %s: %s\n", json, err.message);
        return -1;
    }
    if (obj != NULL)
        *obj = reply.obj;
    return reply.code;
}
