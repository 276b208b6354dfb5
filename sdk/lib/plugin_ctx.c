/* Accessors of the plugin context (plugin.h).  The context is filled by the
 * host (core/host.c) on the instance's thread before init runs. */
#include "plugin_ctx.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

kr_loop_t *kr_plugin_loop(kr_plugin_ctx_t *ctx)
{
    return ctx->loop;
}

kr_bus_t *kr_plugin_bus(kr_plugin_ctx_t *ctx)
{
    return ctx->bus;
}

const char *kr_plugin_name(const kr_plugin_ctx_t *ctx)
{
    return ctx->name;
}

const kr_value_t *kr_plugin_config(const kr_plugin_ctx_t *ctx)
{
    return ctx->config;
}

const char *kr_plugin_data_dir(const kr_plugin_ctx_t *ctx)
{
    return ctx->data_dir;
}

const char *kr_plugin_bus_endpoint(const kr_plugin_ctx_t *ctx)
{
    return ctx->endpoint;
}

const char *kr_plugin_run_dir(const kr_plugin_ctx_t *ctx)
{
    return ctx->run_dir;
}

int kr_store_register(kr_plugin_ctx_t *ctx, const kr_store_ops_t *ops, void *self, kr_error_t *err)
{
    if (ctx == NULL || ops == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST, "kr_store_register: ctx and ops are required");
    if (!ctx->in_init)
        return kr_error_set(err, KR_E_BAD_REQUEST, "%s: a store can only be registered during init",
                            ctx->name);
    if (ops->struct_size < sizeof(kr_store_ops_t) || ops->range == NULL || ops->txn == NULL ||
        ops->history == NULL || ops->compact == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "%s: the store ops table is incomplete (every function is required)",
                            ctx->name);
    if (ctx->register_store == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "%s: a store plugin runs only inside kraal server, not in a "
                            "separate process",
                            ctx->name);
    return ctx->register_store(ctx->host_ud, ops, self, err);
}

int kr_config_check_int(const char *key, int64_t v, int64_t min, int64_t max, kr_error_t *err)
{
    if (v >= min && v <= max)
        return 0;
    return kr_error_set(err, KR_E_INVALID, "%s: must be between %" PRId64 " and %" PRId64, key, min,
                        max);
}

void kr_plugin_log(const kr_plugin_ctx_t *ctx, kr_log_level_t level, const char *msg,
                   const char *kvfmt, ...)
{
    if (level < kr_log_get_level())
        return;
    /* log.h has no va_list variant, so the key=value part is formatted here
     * and passed through; a record is one line, so this bound is generous. */
    char kv[2048];
    kv[0] = '\0';
    if (kvfmt != NULL && kvfmt[0] != '\0') {
        va_list ap;
        va_start(ap, kvfmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        vsnprintf(kv, sizeof kv, kvfmt, ap);
#pragma GCC diagnostic pop
        va_end(ap);
    }
    kr_log(level, ctx->name, msg, "%s", kv);
}
