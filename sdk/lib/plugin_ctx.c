/* Accessors of the plugin context (plugin.h).  The context is filled by the
 * host (core/host.c) on the instance's thread before init runs. */
#include "plugin_ctx.h"

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

const char *kr_plugin_run_dir(const kr_plugin_ctx_t *ctx)
{
    return ctx->run_dir;
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
