/* Configuration: the server config file, and a plugin's config table
 * (plugin.h) applied to the map the user wrote for it. */
#ifndef KRAAL_CORE_CONFIG_H
#define KRAAL_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <kraal/log.h>
#include <kraal/plugin.h>
#include <kraal/value.h>

#define KR_DEFAULT_CONFIG_FILE  "/etc/kraal/kraal.yaml"
#define KR_DEFAULT_RUN_DIR      "/run/kraal"
#define KR_DEFAULT_DATA_DIR     "/var/lib/kraal"
#define KR_DEFAULT_STORE_PLUGIN "store-sqlite"

/* One entry of `plugins:`. */
typedef struct kr_plugin_spec {
    const char *plugin;       /* name or path of the .so */
    const char *name;         /* instance name, or NULL: the descriptor's */
    const kr_value_t *config; /* the user's map; an empty map when absent */
} kr_plugin_spec_t;

/* The server config.  Every pointer is owned by `arena`. */
typedef struct kr_server_config {
    kr_arena_t *arena;
    const char *file; /* where it was read from, NULL for built-in defaults */
    const char *data_dir;
    const char *run_dir;
    kr_log_level_t log_level;
    const char *bus_tcp;      /* NULL: no TCP endpoint */
    bool bus_curve;           /* bus.curve (default true): the tcp endpoint is a CURVE server */
    const char **plugin_path; /* NULL-terminated, never NULL */
    kr_plugin_spec_t store;   /* the one store plugin (KR_DEFAULT_STORE_PLUGIN) */
    kr_plugin_spec_t *plugins;
    size_t n_plugins;
    /* api: the object API's settings (0: the API's defaults) */
    int64_t event_ttl_ms;           /* api.event_ttl (upstream's --event-ttl) */
    int64_t not_ready_toleration_s; /* api.default_not_ready_toleration_seconds */
    int64_t unreachable_toleration_s;
    const char *service_cidr;            /* api.service_cluster_ip_range, NULL = default */
    const char *service_node_port_range; /* api.service_node_port_range, NULL = default */
    const char *authorizer;              /* api.authorizer: RBAC writes' check, NULL = none */
    /* api.encryption_config: upstream's EncryptionConfiguration file
     * (docs/secrets.md); NULL = <data_dir>/encryption-config.yaml, created
     * with a new key on the first start.  A path given here must exist. */
    const char *encryption_config;
    /* api.admission_plugins: the optional admission plugins turned on
     * (upstream's --enable-admission-plugins; the others are always on) */
    bool admit_service_account; /* "ServiceAccount" */
} kr_server_config_t;

/* A config holding the built-in defaults (no plugins). Caller owns it. */
kr_server_config_t *kr_server_config_new(void);
void kr_server_config_destroy(kr_server_config_t **self_p);

/* Parses YAML `text` (named `file` in messages) into `cfg`, replacing the
 * defaults for the keys it sets.  Relative paths (data_dir, run_dir,
 * plugin_path, a plugin given by path) are taken relative to the directory
 * of `file`.  Errors name the file and the key:
 *   kraal.yaml: plugins[0].config: must be a map */
int kr_server_config_parse(kr_server_config_t *cfg, const char *file, const char *text, size_t len,
                           kr_error_t *err);
/* Reads `path` and parses it. */
int kr_server_config_load(kr_server_config_t *cfg, const char *path, kr_error_t *err);

/* Checks a descriptor's config table against its config_size (keys set and
 * unique, known types, every field inside the struct, defaults parse).
 * Errors are the plugin author's: `config table: key "x": ...`. */
int kr_config_table_check(const kr_config_entry_t *table, size_t config_size, kr_error_t *err);

/* Applies `table` to the user's `map` (NULL or null = empty) for plugin
 * instance `instance`: refuses unknown keys and wrong types, applies the
 * defaults, and returns a calloc'd struct of `config_size` bytes (at least
 * 1) in *out, which the caller frees.  String and KR_CFG_VALUE fields point
 * into `map` or into the table, so both must outlive the struct. */
int kr_config_apply(const char *instance, const kr_config_entry_t *table, size_t config_size,
                    const kr_value_t *map, kr_arena_t *arena, void **out, kr_error_t *err);

/* Go duration syntax ("250ms", "1m30s", "1.5h", "0") to milliseconds
 * (sub-millisecond parts are truncated).  KR_E_INVALID on bad syntax or
 * overflow. */
int kr_duration_parse(const char *s, int64_t *ms, kr_error_t *err);

#endif
