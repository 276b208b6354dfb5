/* kraal SDK — a Service keeper (see kraal/svckeeper.h). */
#include <kraal/svckeeper.h>

#include <stdlib.h>
#include <string.h>

#include <kraal/bus.h>
#include <kraal/log.h>

#include "xalloc.h"

#define SK_TIMEOUT_MS 10000
#define SK_PERIOD_MS  10000 /* upstream's EndpointInterval */
#define SK_POKE_MS    50    /* after an event, once the informer's burst is over */
#define SK_START_MS   100   /* until the informers have listed */
/* Then the periodic look alone: an informer of a kind the cluster does not
 * serve (EndpointSlices, on some) never lists. */
#define SK_START_TRIES 200

static const char *const sk_res[KR_SVCKEEPER_N] = {"v1/services", "v1/endpoints",
                                                   "discovery.k8s.io/v1/endpointslices"};
static const char *const sk_kind[KR_SVCKEEPER_N] = {"Service", "Endpoints", "EndpointSlice"};
static const char *const sk_inf_name[KR_SVCKEEPER_N] = {"service", "endpoints", "endpointslice"};

struct kr_svckeeper {
    kr_plugin_ctx_t *ctx;
    kr_loop_t *loop;
    kr_bus_t *bus;
    kr_arena_t *arena; /* the copies of the options */
    const char *ns, *name;
    const kr_value_t *want[KR_SVCKEEPER_N];
    kr_informer_t *inf[KR_SVCKEEPER_N];
    bool own_inf[KR_SVCKEEPER_N];
    unsigned flags;
    const char *msg_created, *msg_updated;
    bool busy[KR_SVCKEEPER_N];
    char *last_err[KR_SVCKEEPER_N]; /* logged once until it changes */
    bool warned_ip;
    unsigned inflight;
    unsigned start_tries;
    bool orphaned; /* destroyed with writes in flight: the last reply frees it */
    uint64_t poke_timer, period_timer;
};

typedef struct sk_req {
    kr_svckeeper_t *k;
    kr_svckeeper_obj_t which;
    bool create;
} sk_req_t;

/* ---- pure parts ------------------------------------------------------------------------------ */

/* The fields named of each item of arrays a and b are equal. */
static bool sk_same_items(const kr_value_t *a, const kr_value_t *b, const char *const *fields)
{
    if (kr_value_len(a) != kr_value_len(b))
        return false;
    for (size_t i = 0; i < kr_value_len(a); i++)
        for (const char *const *f = fields; *f != NULL; f++)
            if (!kr_value_equal(kr_value_map_get(kr_value_array_get(a, i), *f),
                                kr_value_map_get(kr_value_array_get(b, i), *f)))
                return false;
    return true;
}

/* Every label of `want` is on `cur` (exact: and no other). */
static bool sk_labels(const kr_value_t *cur, const kr_value_t *want, bool exact)
{
    const kr_value_t *wl = kr_value_get(want, "metadata.labels");
    const kr_value_t *cl = kr_value_get(cur, "metadata.labels");
    if (exact && kr_value_len(cl) != kr_value_len(wl))
        return false;
    for (size_t i = 0; i < kr_value_len(wl); i++) {
        const char *v = kr_value_map_str(cl, kr_value_map_key(wl, i));
        const char *w = kr_value_as_str(kr_value_map_val(wl, i));
        if (v == NULL || w == NULL || strcmp(v, w) != 0)
            return false;
    }
    return true;
}

static const char *const sk_ep_ports[] = {"name", "protocol", "port", NULL};

static bool sk_subsets_same(const kr_value_t *cs, const kr_value_t *ws)
{
    static const char *const ip[] = {"ip", NULL};
    if (kr_value_len(cs) != kr_value_len(ws))
        return false;
    for (size_t i = 0; i < kr_value_len(cs); i++) {
        const kr_value_t *c = kr_value_array_get(cs, i), *w = kr_value_array_get(ws, i);
        if (!sk_same_items(kr_value_map_get(c, "addresses"), kr_value_map_get(w, "addresses"),
                           ip) ||
            !sk_same_items(kr_value_map_get(c, "notReadyAddresses"),
                           kr_value_map_get(w, "notReadyAddresses"), ip) ||
            !sk_same_items(kr_value_map_get(c, "ports"), kr_value_map_get(w, "ports"), sk_ep_ports))
            return false;
    }
    return true;
}

static bool sk_endpoints_same(const kr_value_t *ce, const kr_value_t *we)
{
    static const char *const addresses[] = {"addresses", NULL};
    if (!sk_same_items(ce, we, addresses))
        return false;
    for (size_t i = 0; i < kr_value_len(ce); i++)
        if (!kr_value_as_bool(kr_value_get(kr_value_array_get(ce, i), "conditions.ready"), true))
            return false;
    return true;
}

bool kr_svckeeper_up_to_date(const kr_value_t *cur, const kr_value_t *want,
                             kr_svckeeper_obj_t which, unsigned flags)
{
    bool exact = (flags & KR_SVCKEEPER_EXACT_LABELS) != 0;
    switch (which) {
    case KR_SVCKEEPER_SERVICE: {
        /* getMasterServiceUpdateIfNeeded: ports and type; labels and the
         * selector too, so that nothing else claims the Service */
        static const char *const svc_ports[] = {"name", "protocol", "port", "targetPort", NULL};
        return sk_labels(cur, want, false) &&
               kr_value_len(kr_value_get(cur, "spec.selector")) == 0 &&
               kr_value_equal(kr_value_get(cur, "spec.type"), kr_value_get(want, "spec.type")) &&
               sk_same_items(kr_value_get(cur, "spec.ports"), kr_value_get(want, "spec.ports"),
                             svc_ports);
    }
    case KR_SVCKEEPER_ENDPOINTS:
        return sk_labels(cur, want, exact) &&
               sk_subsets_same(kr_value_map_get(cur, "subsets"), kr_value_map_get(want, "subsets"));
    case KR_SVCKEEPER_SLICE:
    default:
        return sk_labels(cur, want, exact) &&
               kr_value_equal(kr_value_map_get(cur, "addressType"),
                              kr_value_map_get(want, "addressType")) &&
               sk_endpoints_same(kr_value_map_get(cur, "endpoints"),
                                 kr_value_map_get(want, "endpoints")) &&
               sk_same_items(kr_value_map_get(cur, "ports"), kr_value_map_get(want, "ports"),
                             sk_ep_ports);
    }
}

kr_value_t *kr_svckeeper_repair(kr_arena_t *a, const kr_value_t *cur, const kr_value_t *want,
                                kr_svckeeper_obj_t which, unsigned flags)
{
    kr_value_t *body = kr_value_copy(a, cur);
    const kr_value_t *wl = kr_value_get(want, "metadata.labels");
    if (which == KR_SVCKEEPER_SERVICE || !(flags & KR_SVCKEEPER_EXACT_LABELS)) {
        /* the wanted labels among the others */
        for (size_t i = 0; i < kr_value_len(wl); i++)
            kr_value_set(a, body,
                         kr_arena_printf(a, "metadata.labels[\"%s\"]", kr_value_map_key(wl, i)),
                         kr_value_copy(a, kr_value_map_val(wl, i)), NULL);
    } else {
        /* "Ensure correct labels" */
        kr_value_set(a, body, "metadata.labels", kr_value_copy(a, wl), NULL);
    }
    if (which == KR_SVCKEEPER_SERVICE) {
        /* keep what the API allocated (clusterIP, clusterIPs, ...) */
        kr_value_set(a, body, "spec.ports", kr_value_copy(a, kr_value_get(want, "spec.ports")),
                     NULL);
        kr_value_set(a, body, "spec.type", kr_value_copy(a, kr_value_get(want, "spec.type")), NULL);
        kr_value_map_del(kr_value_get(body, "spec"), "selector");
        return body;
    }
    static const char *const eps_keys[] = {"subsets", NULL};
    static const char *const slice_keys[] = {"addressType", "endpoints", "ports", NULL};
    for (const char *const *key = which == KR_SVCKEEPER_ENDPOINTS ? eps_keys : slice_keys;
         *key != NULL; key++)
        kr_value_map_set(a, body, *key, kr_value_copy(a, kr_value_map_get(want, *key)));
    return body;
}

/* ---- the keeper -------------------------------------------------------------------------------- */

static void sk_free(kr_svckeeper_t *k)
{
    for (int i = 0; i < KR_SVCKEEPER_N; i++)
        free(k->last_err[i]);
    kr_arena_destroy(&k->arena);
    free(k);
}

static void sk_written(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    sk_req_t *req = ud;
    kr_svckeeper_t *k = req->k;
    kr_svckeeper_obj_t which = req->which;
    bool create = req->create;
    free(req);
    k->inflight--;
    if (k->orphaned) {
        if (k->inflight == 0)
            sk_free(k);
        return;
    }
    k->busy[which] = false;
    if (r->code >= 200 && r->code < 300) {
        kr_plugin_log(k->ctx, KR_LOG_INFO, create ? k->msg_created : k->msg_updated,
                      "kind=%s object=%s/%s", sk_kind[which], k->ns, k->name);
        free(k->last_err[which]);
        k->last_err[which] = NULL;
        return;
    }
    /* 409: our cache was behind; the informer's next event pokes us */
    const char *msg = r->message ? r->message : kr_strerror(r->reason);
    if (r->code != 409 && (k->last_err[which] == NULL || strcmp(k->last_err[which], msg) != 0)) {
        kr_plugin_log(k->ctx, KR_LOG_WARN, msg, "kind=%s object=%s/%s action=%s code=%d",
                      sk_kind[which], k->ns, k->name, create ? "create" : "update", r->code);
        free(k->last_err[which]);
        k->last_err[which] = xstrdup(msg);
    }
}

static void sk_write(kr_svckeeper_t *k, kr_svckeeper_obj_t which, const kr_value_t *cur)
{
    const kr_value_t *want = k->want[which];
    if (cur != NULL && kr_svckeeper_up_to_date(cur, want, which, k->flags)) {
        const char *ip = kr_value_as_str(kr_value_get(cur, "spec.clusterIP"));
        const char *wip = kr_value_as_str(kr_value_get(want, "spec.clusterIP"));
        if (which == KR_SVCKEEPER_SERVICE && !k->warned_ip && wip != NULL &&
            (ip == NULL || strcmp(ip, wip) != 0)) {
            kr_plugin_log(k->ctx, KR_LOG_WARN,
                          "the Service has another clusterIP (immutable): left as it is",
                          "object=%s/%s clusterIP=%s wanted=%s", k->ns, k->name, ip ? ip : "", wip);
            k->warned_ip = true;
        }
        return;
    }
    kr_arena_t *a = kr_arena_new(0);
    kr_request_t rq = {.op = cur != NULL ? "update" : "create",
                       .res = sk_res[which],
                       .ns = k->ns,
                       .name = cur != NULL ? k->name : NULL,
                       .obj =
                           cur != NULL ? kr_svckeeper_repair(a, cur, want, which, k->flags) : want};
    sk_req_t *req = xcalloc(1, sizeof *req);
    *req = (sk_req_t){.k = k, .which = which, .create = cur == NULL};
    kr_error_t err;
    if (kr_bus_send(k->bus, &rq, sk_written, req, SK_TIMEOUT_MS, NULL, &err) < 0) {
        kr_plugin_log(k->ctx, KR_LOG_WARN, err.message, "kind=%s object=%s/%s", sk_kind[which],
                      k->ns, k->name);
        free(req);
    } else {
        k->busy[which] = true;
        k->inflight++;
    }
    kr_arena_destroy(&a);
}

/* Looks at each object whose informer has listed; true when all have. */
static bool sk_ensure(kr_svckeeper_t *k)
{
    bool all = true;
    for (int i = 0; i < KR_SVCKEEPER_N; i++) {
        kr_informer_t *inf = k->inf[i];
        if (inf == NULL)
            continue;
        if (!kr_informer_has_synced(inf)) {
            all = false;
            continue;
        }
        if (!k->busy[i])
            sk_write(k, (kr_svckeeper_obj_t)i, kr_informer_get(inf, k->ns, k->name));
    }
    return all;
}

static void sk_timer(kr_loop_t *loop, uint64_t timer_id, void *ud)
{
    (void)loop;
    kr_svckeeper_t *k = ud;
    bool poke = timer_id == k->poke_timer;
    if (poke)
        k->poke_timer = 0;
    /* at the start, as soon as the informers have listed */
    if (!sk_ensure(k) && poke && k->start_tries < SK_START_TRIES) {
        k->start_tries++;
        k->poke_timer = kr_loop_add_timer(k->loop, SK_START_MS, 0, sk_timer, k);
    }
}

void kr_svckeeper_poke(kr_svckeeper_t *k)
{
    if (k != NULL && k->poke_timer == 0)
        k->poke_timer = kr_loop_add_timer(k->loop, SK_POKE_MS, 0, sk_timer, k);
}

static void sk_on_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    (void)obj;
    kr_svckeeper_poke(ud);
}

static void sk_on_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                         void *ud)
{
    (void)old_obj;
    sk_on_add(inf, new_obj, ud);
}

kr_svckeeper_t *kr_svckeeper_new(kr_plugin_ctx_t *ctx, const kr_svckeeper_opts_t *opts,
                                 kr_error_t *err)
{
    if (opts->ns == NULL || *opts->ns == '\0' || opts->name == NULL || *opts->name == '\0' ||
        opts->want[KR_SVCKEEPER_SERVICE] == NULL) {
        kr_error_set(err, KR_E_INVALID, "service keeper: namespace, name and Service required");
        return NULL;
    }
    kr_svckeeper_t *k = xcalloc(1, sizeof *k);
    k->ctx = ctx;
    k->loop = kr_plugin_loop(ctx);
    k->bus = kr_plugin_bus(ctx);
    k->arena = kr_arena_new(0);
    k->ns = kr_arena_strdup(k->arena, opts->ns);
    k->name = kr_arena_strdup(k->arena, opts->name);
    k->flags = opts->flags;
    k->msg_created = kr_arena_strdup(k->arena, opts->msg_created ? opts->msg_created : "created");
    k->msg_updated = kr_arena_strdup(k->arena, opts->msg_updated ? opts->msg_updated : "updated");
    for (int i = 0; i < KR_SVCKEEPER_N; i++) {
        if (opts->want[i] == NULL)
            continue;
        k->want[i] = kr_value_copy(k->arena, opts->want[i]);
        k->inf[i] = opts->inf[i];
        if (k->inf[i] != NULL)
            continue;
        kr_informer_opts_t o = {
            .res = sk_res[i],
            .ns = k->ns,
            .field_selector = kr_arena_printf(k->arena, "metadata.name=%s", k->name),
            .name = kr_arena_printf(k->arena, "%s %s", k->name, sk_inf_name[i]),
            .handlers = {sk_on_add, sk_on_update, sk_on_add, k},
        };
        k->own_inf[i] = true;
        k->inf[i] = kr_informer_new(k->loop, k->bus, &o, err);
        if (k->inf[i] == NULL || kr_informer_start(k->inf[i], err) < 0) {
            kr_svckeeper_destroy(&k);
            return NULL;
        }
    }
    unsigned period = opts->period_ms != 0 ? opts->period_ms : SK_PERIOD_MS;
    k->period_timer = kr_loop_add_timer(k->loop, period, period, sk_timer, k);
    kr_svckeeper_poke(k);
    return k;
}

void kr_svckeeper_destroy(kr_svckeeper_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_svckeeper_t *k = *self_p;
    *self_p = NULL;
    for (int i = 0; i < KR_SVCKEEPER_N; i++) {
        if (k->own_inf[i])
            kr_informer_destroy(&k->inf[i]);
        k->inf[i] = NULL;
    }
    if (k->poke_timer != 0)
        kr_loop_cancel_timer(k->loop, k->poke_timer);
    if (k->period_timer != 0)
        kr_loop_cancel_timer(k->loop, k->period_timer);
    k->poke_timer = k->period_timer = 0;
    if (k->inflight > 0) {
        k->orphaned = true;
        return;
    }
    sk_free(k);
}
