/* kraal SDK — the plugin descriptor.
 *
 * Every plugin .so exports exactly one symbol:
 *
 *   KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
 *       KR_PLUGIN_HEADER,
 *       .kind = "example", .name = "echo", .version = "1.0.0",
 *       .config = echo_config, .config_size = sizeof(struct echo_conf),
 *       .init = echo_init, .fini = echo_fini,
 *   };
 *
 * The loader refuses a different abi_major or a struct_size smaller than
 * the v1 layout, and reads fields added in later minors only when
 * abi_minor/struct_size say they are there.  Each instance runs on its own
 * thread: init, every callback and fini run on that thread, on its loop.
 * Registration (ops served, kinds, scheduler steps) happens only in init.
 */
#ifndef KRAAL_PLUGIN_H
#define KRAAL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <kraal/bus.h>
#include <kraal/error.h>
#include <kraal/log.h>
#include <kraal/loop.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KR_ABI_MAJOR 1
#define KR_ABI_MINOR 0

#define KR_PLUGIN_EXPORT __attribute__((visibility("default")))

/* Config table: one row per key of the plugin's config map.  The loader
 * validates the user's map against it (unknown key, wrong type: error naming
 * the plugin and the key), applies defaults and fills a struct of
 * `config_size` bytes whose fields are at `offset`. */
typedef enum kr_cfg_type {
    KR_CFG_END = 0,  /* terminates the table */
    KR_CFG_STRING,   /* const char *   (NULL when absent with no default) */
    KR_CFG_INT,      /* int64_t */
    KR_CFG_BOOL,     /* bool */
    KR_CFG_FLOAT,    /* double */
    KR_CFG_DURATION, /* int64_t milliseconds, from "250ms", "10s", "1m30s" */
    KR_CFG_VALUE,    /* const kr_value_t * (any subtree, unchecked) */
} kr_cfg_type_t;

typedef struct kr_config_entry {
    kr_cfg_type_t type;
    const char *key;
    const char *dflt; /* default in YAML scalar syntax; NULL = zero */
    size_t offset;    /* offsetof(struct <plugin>_conf, field) */
    const char *description;
} kr_config_entry_t;

typedef struct kr_plugin_ctx kr_plugin_ctx_t;

struct kr_plugin {
    /* v1.0 layout: never reorder, only append. */
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;
    const char *kind;    /* "store", "api", "scheduler", "controller", "runtime",
                            "network", "auth", "example" */
    const char *name;    /* unique within its kind */
    const char *version; /* the plugin's own version */
    const char *description;
    const kr_config_entry_t *config; /* may be NULL: no keys accepted */
    size_t config_size;              /* sizeof the struct the table fills */
    /* Builds the instance; `config` points to the filled struct, valid until
     * fini returns.  Returns the instance, or NULL with err set. */
    void *(*init)(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err);
    /* Frees the instance; may be NULL. */
    void (*fini)(void *instance);
};

#define KR_PLUGIN_HEADER                                  \
    .abi_major = KR_ABI_MAJOR, .abi_minor = KR_ABI_MINOR, \
    .struct_size = (uint32_t)sizeof(struct kr_plugin)

/* Services of the host, valid from init until fini returns, on the
 * instance's thread only. */
kr_loop_t *kr_plugin_loop(kr_plugin_ctx_t *ctx);
kr_bus_t *kr_plugin_bus(kr_plugin_ctx_t *ctx);
/* The endpoint the instance's connection uses.  Threads a plugin starts
 * itself connect there with kr_bus_connect, one connection per thread
 * (a connection is never shared between threads). */
const char *kr_plugin_bus_endpoint(const kr_plugin_ctx_t *ctx);
/* The instance name (the config's `name`, or the descriptor's). */
const char *kr_plugin_name(const kr_plugin_ctx_t *ctx);
/* The user's raw config map (never NULL; an empty map when none). */
const kr_value_t *kr_plugin_config(const kr_plugin_ctx_t *ctx);
/* Directories of the host process. */
const char *kr_plugin_data_dir(const kr_plugin_ctx_t *ctx);
const char *kr_plugin_run_dir(const kr_plugin_ctx_t *ctx);
/* Range check of an int config value for init: 0 when min <= v <= max,
 * else < 0 and KR_E_INVALID "<key>: must be between <min> and <max>". */
int kr_config_check_int(const char *key, int64_t v, int64_t min, int64_t max, kr_error_t *err);
/* Logs with the instance name as tag. */
void kr_plugin_log(const kr_plugin_ctx_t *ctx, kr_log_level_t level, const char *msg,
                   const char *kvfmt, ...) __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif
#endif
