/* echo — the example kraal plugin.
 *
 * Serves the bus op "echo": the reply (200) carries the configured greeting,
 * the request's `obj` echoed back and the instance name, after an optional
 * delay.  It shows everything a plugin needs: one exported descriptor, a
 * config table, init building the instance, handlers on the instance's loop,
 * and fini freeing it.  Only <kraal/...> headers are used.
 *
 * Build out of tree:  make   (see Makefile; needs the kraal SDK installed)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <kraal/plugin.h>

/* The struct the config table fills; it lives until fini returns. */
struct echo_conf {
    const char *greeting;
    int64_t delay_ms;
};

static const kr_config_entry_t echo_config[] = {
    {KR_CFG_STRING, "greeting", "hello", offsetof(struct echo_conf, greeting),
     "word put in every reply"},
    {KR_CFG_DURATION, "delay", "0", offsetof(struct echo_conf, delay_ms),
     "how long to wait before replying (Go duration: \"250ms\", \"1s\")"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

/* A request waiting for its delay to pass. */
struct pending {
    struct echo *echo;
    kr_call_t *call;
    uint64_t timer;
    struct pending *prev, *next;
};

/* The instance: everything it owns is freed by echo_fini. */
struct echo {
    kr_plugin_ctx_t *ctx;
    const struct echo_conf *conf;
    uint64_t served;
    struct pending *pending; /* delayed calls, answered or failed by fini */
};

static void echo_answer(struct echo *e, kr_call_t *call)
{
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "greeting", kr_value_str(a, e->conf->greeting));
    kr_value_t *in = kr_value_map_get(kr_call_msg(call), "obj");
    kr_value_map_set(a, obj, "echo", in != NULL ? kr_value_copy(a, in) : kr_value_null(a));
    kr_value_map_set(a, obj, "instance", kr_value_str(a, kr_plugin_name(e->ctx)));

    kr_error_t err;
    if (kr_call_reply(call, 200, obj, &err) < 0)
        kr_plugin_log(e->ctx, KR_LOG_WARN, "cannot reply", "error=\"%s\"", err.message);
    else
        e->served++;
}

static void pending_unlink(struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->echo->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void echo_delay_done(kr_loop_t *loop, uint64_t timer_id, void *ud)
{
    (void)loop;
    (void)timer_id;
    struct pending *p = ud;
    pending_unlink(p);
    echo_answer(p->echo, p->call);
    free(p);
}

/* Runs on the instance's loop for every "echo" request. */
static void echo_handle(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    struct echo *e = ud;
    if (e->conf->delay_ms <= 0) {
        echo_answer(e, call);
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    if (p == NULL) {
        kr_call_fail(call, KR_E_INTERNAL, "echo: out of memory", NULL);
        return;
    }
    /* Keep the call past this handler; the timer answers it. */
    kr_call_keep(call);
    p->echo = e;
    p->call = call;
    p->next = e->pending;
    if (e->pending)
        e->pending->prev = p;
    e->pending = p;
    p->timer = kr_loop_add_timer(kr_plugin_loop(e->ctx), (uint64_t)e->conf->delay_ms, 0,
                                 echo_delay_done, p);
}

static void *echo_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    struct echo *e = calloc(1, sizeof *e);
    if (e == NULL) {
        kr_error_set(err, KR_E_INTERNAL, "out of memory");
        return NULL;
    }
    e->ctx = ctx;
    e->conf = config;
    /* Registration happens in init; a failure here fails the load. */
    if (kr_bus_serve(kr_plugin_bus(ctx), "echo", NULL, echo_handle, e, 5000, err) < 0) {
        free(e);
        return NULL;
    }
    kr_plugin_log(ctx, KR_LOG_INFO, "echo plugin ready", "greeting=\"%s\" delay_ms=%lld",
                  e->conf->greeting, (long long)e->conf->delay_ms);
    return e;
}

static void echo_fini(void *instance)
{
    struct echo *e = instance;
    /* The bus is still up during fini: tell waiting callers, don't strand them. */
    while (e->pending != NULL) {
        struct pending *p = e->pending;
        pending_unlink(p);
        kr_loop_cancel_timer(kr_plugin_loop(e->ctx), p->timer);
        kr_call_fail(p->call, KR_E_SERVICE_UNAVAILABLE, "echo is stopping", NULL);
        free(p);
    }
    kr_plugin_log(e->ctx, KR_LOG_INFO, "echo plugin stopped", "served=%llu",
                  (unsigned long long)e->served);
    free(e);
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "example",
    .name = "echo",
    .version = "1.0.0",
    .description = "Answers the bus op \"echo\" with a greeting and the request's obj",
    .config = echo_config,
    .config_size = sizeof(struct echo_conf),
    .init = echo_init,
    .fini = echo_fini,
};
