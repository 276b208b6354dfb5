/* Fuzzes the object API's handlers: requests of every op on every built-in
 * resource, with bodies from the fuzzer, through a detached broker (replies
 * are counted and dropped) and the real committer over an in-memory store
 * that accepts every write.  Defaults, validation, patches, selectors,
 * finalizers and the cache all see hostile objects; the process must
 * neither crash nor leak.
 *
 * Input: byte 0 picks the op, byte 1 the resource, byte 2 options; the rest
 * is a JSON document: the object (create/update), the patch (patch), or
 * the opts map (list/delete/watch). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <kraal/log.h>
#include <kraal/store.h>

#include "api.h"
#include "broker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int st_range(void *self, kr_store_kv_fn fn, void *ud, int64_t *rev, int64_t *compact,
                    kr_error_t *err)
{
    (void)self, (void)fn, (void)ud, (void)err;
    *rev = 0;
    *compact = 0;
    return 0;
}

static int st_history(void *self, int64_t after, kr_store_event_fn fn, void *ud, kr_error_t *err)
{
    (void)self, (void)after, (void)fn, (void)ud, (void)err;
    return 0;
}

static int st_txn(void *self, kr_store_write_t *w, size_t n, kr_error_t *err)
{
    (void)self, (void)err;
    for (size_t i = 0; i < n; i++)
        w[i].result = 0;
    return 0;
}

static int st_compact(void *self, int64_t rev, kr_error_t *err)
{
    (void)self, (void)rev, (void)err;
    return 0;
}

static const kr_store_ops_t store_ops = {
    .struct_size = sizeof(kr_store_ops_t),
    .range = st_range,
    .history = st_history,
    .txn = st_txn,
    .compact = st_compact,
};

static kr_broker_t *broker;
static kr_api_t *api;
static unsigned runs;

static void setup(void)
{
    kr_log_set_level(KR_LOG_ERROR);
    broker = kr_broker_new_detached(NULL);
    api = kr_api_new(broker, NULL, NULL);
    kr_api_take_store(api, &store_ops, NULL, NULL);
    kr_api_open(api, NULL);
}

static void teardown(void)
{
    kr_api_destroy(&api);
    kr_broker_destroy(&broker);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ops[] = {"create", "update", "patch", "delete",
                                      "get",    "list",   "watch", "deletecollection"};
    static const char *const subs[] = {NULL, NULL, "status", "scale", "binding"};
    if (size < 3)
        return 0;
    if (api == NULL)
        setup();
    /* a fresh API now and then keeps the cache from growing without end */
    if (++runs % 2000 == 0) {
        teardown();
        setup();
    }
    kr_registry_t *reg = kr_api_registry(api);
    const char *op = ops[data[0] % (sizeof ops / sizeof ops[0])];
    const kr_kind_t *kind = kr_registry_at(reg, data[1] % kr_registry_count(reg));
    uint8_t flags = data[2];

    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *body = NULL;
    if (kr_json_decode(a, (const char *)data + 3, size - 3, &body, NULL) < 0)
        body = kr_value_map(a);
    kr_value_t *req = kr_value_map(a);
    kr_value_map_set(a, req, "v", kr_value_int(a, 1));
    kr_value_map_set(a, req, "id", kr_value_int(a, (int64_t)runs));
    kr_value_map_set(a, req, "op", kr_value_str(a, op));
    kr_value_map_set(a, req, "res", kr_value_str(a, kind->res));
    if (kind->namespaced)
        kr_value_map_set(a, req, "ns", kr_value_str(a, (flags & 1) ? "default" : "kube-system"));
    const char *name = kr_value_as_str(kr_value_get(body, "metadata.name"));
    if (strcmp(op, "create") != 0 || (flags & 2))
        kr_value_map_set(a, req, "name", kr_value_str(a, name && *name ? name : "x"));
    const char *sub = subs[(flags >> 2) % (sizeof subs / sizeof subs[0])];
    if (sub != NULL)
        kr_value_map_set(a, req, "sub", kr_value_str(a, sub));
    bool opts_body = strcmp(op, "list") == 0 || strcmp(op, "delete") == 0 ||
                     strcmp(op, "watch") == 0 || strcmp(op, "deletecollection") == 0;
    if (opts_body) {
        if (kr_value_type(body) == KR_MAP)
            kr_value_map_set(a, req, "opts", body);
    } else {
        kr_value_map_set(a, req, "obj", body);
        if (strcmp(op, "patch") == 0 && (flags & 0x20)) {
            kr_value_t *o = kr_value_map(a);
            kr_value_map_set(a, o, "patchType", kr_value_str(a, "application/json-patch+json"));
            kr_value_map_set(a, req, "opts", o);
        }
    }
    kr_buf_t msg = KR_BUF_INIT;
    if (kr_msgpack_encode(req, &msg, NULL) == 0) {
        const void *f[1] = {msg.data};
        size_t l[1] = {msg.len};
        kr_broker_feed(broker, "fuzzer", 6, f, l, 1);
        kr_api_drain(api);
    }
    kr_buf_free(&msg);
    kr_arena_destroy(&a);
    return 0;
}
