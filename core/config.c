/* The server config file and plugin config tables. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svcalloc.h"

/* A config file is small; a bigger one is a mistake (or not a config). */
#define CONFIG_MAX_BYTES (4u << 20)

/* ---- durations ---------------------------------------------------------- */

static const struct {
    const char *unit;
    uint64_t ns;
} duration_units[] = {
    {"ns", 1ull},
    {"us", 1000ull},
    {"\xc2\xb5s", 1000ull}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000ull}, /* U+03BC greek mu */
    {"ms", 1000000ull},
    {"s", 1000000000ull},
    {"m", 60ull * 1000000000ull},
    {"h", 3600ull * 1000000000ull},
};

/* Same grammar as Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?unit)+ or
 * "0", where each unit is one of ns us µs ms s m h. */
int kr_duration_parse(const char *s, int64_t *ms, kr_error_t *err)
{
    const char *orig = s;
    if (s == NULL)
        return kr_error_set(err, KR_E_INVALID, "invalid duration: empty");
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*s == '\0')
        return kr_error_set(err, KR_E_INVALID, "invalid duration \"%s\"", orig);
    const uint64_t max = (uint64_t)INT64_MAX;
    uint64_t total = 0; /* nanoseconds */
    while (*s != '\0') {
        uint64_t whole = 0, frac = 0, scale = 1;
        bool digits = false, overflow = false;
        while (*s >= '0' && *s <= '9') {
            if (whole > (max - 9) / 10)
                overflow = true;
            whole = whole * 10 + (uint64_t)(*s++ - '0');
            digits = true;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                /* Digits past nanosecond precision of an hour do not count. */
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
                s++;
                digits = true;
            }
        }
        if (!digits)
            return kr_error_set(err, KR_E_INVALID, "invalid duration \"%s\"", orig);
        size_t ulen = 0;
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
            size_t l = strlen(duration_units[i].unit);
            if (l > ulen && strncmp(s, duration_units[i].unit, l) == 0) {
                ulen = l;
                unit = duration_units[i].ns;
            }
        }
        if (ulen == 0) {
            if (*s == '\0')
                return kr_error_set(err, KR_E_INVALID, "missing unit in duration \"%s\"", orig);
            return kr_error_set(err, KR_E_INVALID, "unknown unit in duration \"%s\"", orig);
        }
        s += ulen;
        if (overflow || whole > max / unit)
            return kr_error_set(err, KR_E_INVALID, "invalid duration \"%s\": too large", orig);
        /* frac/scale < 1 and unit <= 3.6e12, so frac*unit may overflow only
         * when scale is large: use long double for that part. */
        uint64_t part = whole * unit + (uint64_t)((long double)frac * unit / scale);
        if (part > max - total)
            return kr_error_set(err, KR_E_INVALID, "invalid duration \"%s\": too large", orig);
        total += part;
    }
    int64_t v = (int64_t)(total / 1000000ull);
    *ms = neg ? -v : v;
    return 0;
}

/* ---- plugin config tables ------------------------------------------------ */

static size_t cfg_field_size(kr_cfg_type_t t)
{
    switch (t) {
    case KR_CFG_STRING:
        return sizeof(const char *);
    case KR_CFG_INT:
    case KR_CFG_DURATION:
        return sizeof(int64_t);
    case KR_CFG_BOOL:
        return sizeof(bool);
    case KR_CFG_FLOAT:
        return sizeof(double);
    case KR_CFG_VALUE:
        return sizeof(const kr_value_t *);
    case KR_CFG_END:
        break;
    }
    return 0;
}

static size_t cfg_field_align(kr_cfg_type_t t)
{
    switch (t) {
    case KR_CFG_STRING:
        return alignof(const char *);
    case KR_CFG_INT:
    case KR_CFG_DURATION:
        return alignof(int64_t);
    case KR_CFG_BOOL:
        return alignof(bool);
    case KR_CFG_FLOAT:
        return alignof(double);
    case KR_CFG_VALUE:
        return alignof(const kr_value_t *);
    case KR_CFG_END:
        break;
    }
    return 1;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool parse_int(const char *s, int64_t *out)
{
    if (*s == '\0')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, double *out)
{
    if (*s == '\0')
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static const char *cfg_type_expect(kr_cfg_type_t t)
{
    switch (t) {
    case KR_CFG_STRING:
        return "must be a string";
    case KR_CFG_INT:
        return "must be an integer";
    case KR_CFG_BOOL:
        return "must be a boolean";
    case KR_CFG_FLOAT:
        return "must be a number";
    case KR_CFG_DURATION:
        return "must be a duration such as \"250ms\", \"10s\" or \"1m30s\"";
    case KR_CFG_VALUE:
    case KR_CFG_END:
        break;
    }
    return "is invalid";
}

/* Parses a table default (YAML scalar syntax) into `field`; `field` may be
 * NULL to only check it.  Strings are taken literally. */
static int cfg_default(const kr_config_entry_t *e, kr_arena_t *arena, void *field, kr_error_t *err)
{
    const char *d = e->dflt;
    switch (e->type) {
    case KR_CFG_STRING:
        if (field)
            *(const char **)field = d;
        return 0;
    case KR_CFG_INT: {
        int64_t v;
        if (!parse_int(d, &v))
            break;
        if (field)
            memcpy(field, &v, sizeof v);
        return 0;
    }
    case KR_CFG_BOOL: {
        bool v;
        if (!parse_bool(d, &v))
            break;
        if (field)
            memcpy(field, &v, sizeof v);
        return 0;
    }
    case KR_CFG_FLOAT: {
        double v;
        if (!parse_float(d, &v))
            break;
        if (field)
            memcpy(field, &v, sizeof v);
        return 0;
    }
    case KR_CFG_DURATION: {
        int64_t v;
        if (kr_duration_parse(d, &v, err) < 0)
            return kr_error_wrap(err, "default");
        if (v < 0)
            break;
        if (field)
            memcpy(field, &v, sizeof v);
        return 0;
    }
    case KR_CFG_VALUE: {
        kr_value_t *docs = NULL;
        if (kr_yaml_decode(arena, d, strlen(d), &docs, err) < 0)
            return kr_error_wrap(err, "default");
        const kr_value_t *v = kr_value_array_get(docs, 0);
        if (field)
            *(const kr_value_t **)field = v != NULL ? v : kr_value_null(arena);
        return 0;
    }
    case KR_CFG_END:
        break;
    }
    return kr_error_set(err, KR_E_INVALID, "default \"%s\": %s", d, cfg_type_expect(e->type));
}

int kr_config_table_check(const kr_config_entry_t *table, size_t config_size, kr_error_t *err)
{
    if (table == NULL)
        return 0;
    kr_arena_t *arena = NULL;
    int rc = 0;
    for (size_t i = 0; table[i].type != KR_CFG_END; i++) {
        const kr_config_entry_t *e = &table[i];
        if (e->key == NULL || e->key[0] == '\0') {
            rc = kr_error_set(err, KR_E_INVALID, "config table: row %zu has no key", i);
            break;
        }
        size_t size = cfg_field_size(e->type);
        if (size == 0) {
            rc = kr_error_set(err, KR_E_INVALID, "config table: key \"%s\": unknown type %d",
                              e->key, (int)e->type);
            break;
        }
        if (e->offset > config_size || size > config_size - e->offset) {
            rc = kr_error_set(err, KR_E_INVALID,
                              "config table: key \"%s\": field at offset %zu does not fit in "
                              "config_size %zu",
                              e->key, e->offset, config_size);
            break;
        }
        if (e->offset % cfg_field_align(e->type) != 0) {
            rc = kr_error_set(err, KR_E_INVALID,
                              "config table: key \"%s\": field at offset %zu is misaligned", e->key,
                              e->offset);
            break;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(table[j].key, e->key) == 0) {
                rc = kr_error_set(err, KR_E_INVALID, "config table: key \"%s\" appears twice",
                                  e->key);
                break;
            }
        }
        if (rc < 0)
            break;
        if (e->dflt != NULL) {
            if (arena == NULL)
                arena = kr_arena_new(0);
            if (cfg_default(e, arena, NULL, err) < 0) {
                rc = kr_error_wrap(err, "config table: key \"%s\"", e->key);
                break;
            }
        }
    }
    kr_arena_destroy(&arena);
    return rc;
}

static const kr_config_entry_t *cfg_find(const kr_config_entry_t *table, const char *key)
{
    for (size_t i = 0; table != NULL && table[i].type != KR_CFG_END; i++)
        if (strcmp(table[i].key, key) == 0)
            return &table[i];
    return NULL;
}

/* Converts the user's value `v` for entry `e` into `field`. */
static int cfg_set(const kr_config_entry_t *e, const kr_value_t *v, void *field, kr_error_t *err)
{
    kr_type_t t = kr_value_type(v);
    switch (e->type) {
    case KR_CFG_STRING:
        if (t != KR_STR)
            break;
        *(const char **)field = kr_value_as_str(v);
        return 0;
    case KR_CFG_INT: {
        if (t != KR_INT)
            break;
        int64_t i = kr_value_as_int(v, 0);
        memcpy(field, &i, sizeof i);
        return 0;
    }
    case KR_CFG_BOOL: {
        if (t != KR_BOOL)
            break;
        bool b = kr_value_as_bool(v, false);
        memcpy(field, &b, sizeof b);
        return 0;
    }
    case KR_CFG_FLOAT: {
        if (t != KR_FLOAT && t != KR_INT)
            break;
        double d = kr_value_as_float(v, 0);
        memcpy(field, &d, sizeof d);
        return 0;
    }
    case KR_CFG_DURATION: {
        if (t != KR_STR)
            break;
        int64_t ms;
        if (kr_duration_parse(kr_value_as_str(v), &ms, err) < 0)
            return -1;
        if (ms < 0)
            return kr_error_set(err, KR_E_INVALID, "must not be negative");
        memcpy(field, &ms, sizeof ms);
        return 0;
    }
    case KR_CFG_VALUE:
        *(const kr_value_t **)field = v;
        return 0;
    case KR_CFG_END:
        break;
    }
    return kr_error_set(err, KR_E_INVALID, "%s", cfg_type_expect(e->type));
}

int kr_config_apply(const char *instance, const kr_config_entry_t *table, size_t config_size,
                    const kr_value_t *map, kr_arena_t *arena, void **out, kr_error_t *err)
{
    *out = NULL;
    if (map != NULL && kr_value_type(map) != KR_NULL && kr_value_type(map) != KR_MAP)
        return kr_error_set(err, KR_E_INVALID, "plugin \"%s\": config: must be a map", instance);
    size_t n = kr_value_type(map) == KR_MAP ? kr_value_len(map) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *key = kr_value_map_key(map, i);
        if (cfg_find(table, key) == NULL)
            return kr_error_set(err, KR_E_INVALID, "plugin \"%s\": unknown config key \"%s\"",
                                instance, key);
    }
    char *conf = calloc(1, config_size > 0 ? config_size : 1);
    if (conf == NULL)
        abort();
    for (size_t i = 0; table != NULL && table[i].type != KR_CFG_END; i++) {
        const kr_config_entry_t *e = &table[i];
        const kr_value_t *v = n > 0 ? kr_value_map_get(map, e->key) : NULL;
        int rc = 0;
        /* A null value means "not set", as in Kubernetes objects. */
        if (v != NULL && kr_value_type(v) != KR_NULL)
            rc = cfg_set(e, v, conf + e->offset, err);
        else if (e->dflt != NULL)
            rc = cfg_default(e, arena, conf + e->offset, err);
        if (rc < 0) {
            free(conf);
            return kr_error_wrap(err, "plugin \"%s\": config key \"%s\"", instance, e->key);
        }
    }
    *out = conf;
    return 0;
}

/* ---- the server config file ------------------------------------------------ */

kr_server_config_t *kr_server_config_new(void)
{
    kr_server_config_t *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        abort();
    cfg->arena = kr_arena_new(0);
    cfg->data_dir = KR_DEFAULT_DATA_DIR;
    cfg->run_dir = KR_DEFAULT_RUN_DIR;
    cfg->log_level = KR_LOG_INFO;
    cfg->bus_curve = true;
    cfg->plugin_path = kr_arena_alloc(cfg->arena, sizeof(const char *));
    cfg->plugin_path[0] = NULL;
    cfg->store.plugin = KR_DEFAULT_STORE_PLUGIN;
    cfg->store.config = kr_value_map(cfg->arena);
    return cfg;
}

void kr_server_config_destroy(kr_server_config_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_arena_destroy(&(*self_p)->arena);
    free(*self_p);
    *self_p = NULL;
}

struct parse {
    kr_server_config_t *cfg;
    const char *file;
    char *base; /* directory of the file, for relative paths ("" = cwd) */
    kr_error_t *err;
};

static int perr(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parse *p, const char *fmt, ...)
{
    char msg[KR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kr_error_set(p->err, KR_E_INVALID, "%s: %s", p->file, msg);
}

static const char *abs_path(struct parse *p, const char *path)
{
    if (path[0] == '/' || p->base[0] == '\0')
        return path;
    return kr_arena_printf(p->cfg->arena, "%s/%s", p->base, path);
}

static int want_str(struct parse *p, const kr_value_t *v, const char *where, const char **out)
{
    *out = NULL;
    if (kr_value_type(v) != KR_STR)
        return perr(p, "%s: must be a string", where);
    if (kr_value_len(v) == 0)
        return perr(p, "%s: must not be empty", where);
    *out = kr_value_as_str(v);
    return 0;
}

static bool valid_instance_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* tcp://127.x.y.z:P, tcp://localhost:P or tcp://[::1]:P. */
static bool loopback_endpoint(const char *ep)
{
    const char *h = ep + 6;
    if (strncmp(h, "localhost:", 10) == 0 || strncmp(h, "[::1]:", 6) == 0)
        return true;
    unsigned a, b2, c, d, port;
    char tail;
    return sscanf(h, "%u.%u.%u.%u:%u%c", &a, &b2, &c, &d, &port, &tail) == 5 && a == 127 &&
           b2 < 256 && c < 256 && d < 256;
}

static int parse_bus(struct parse *p, const kr_value_t *bus)
{
    if (kr_value_type(bus) == KR_NULL)
        return 0;
    if (kr_value_type(bus) != KR_MAP)
        return perr(p, "bus: must be a map");
    for (size_t i = 0; i < kr_value_len(bus); i++) {
        const char *k = kr_value_map_key(bus, i);
        const kr_value_t *v = kr_value_map_val(bus, i);
        if (strcmp(k, "tcp") == 0) {
            if (kr_value_type(v) == KR_NULL) {
                p->cfg->bus_tcp = NULL;
                continue;
            }
            const char *ep;
            if (want_str(p, v, "bus.tcp", &ep) < 0)
                return -KR_E_INVALID;
            if (strncmp(ep, "tcp://", 6) != 0)
                return perr(p, "bus.tcp: Invalid value: \"%s\": must be tcp://HOST:PORT", ep);
            p->cfg->bus_tcp = ep;
        } else if (strcmp(k, "curve") == 0) {
            if (kr_value_type(v) != KR_BOOL)
                return perr(p, "bus.curve: must be true or false");
            p->cfg->bus_curve = kr_value_as_bool(v, true);
        } else {
            return perr(p, "bus: unknown key \"%s\" (known: tcp, curve)", k);
        }
    }
    /* Without CURVE anyone who reaches the port is trusted with
     * everything: only a loopback address may go without (like api-rest's
     * tls: false). */
    if (p->cfg->bus_tcp != NULL && !p->cfg->bus_curve && !loopback_endpoint(p->cfg->bus_tcp))
        return perr(p,
                    "bus.curve: Invalid value: false: the tcp endpoint \"%s\" is not a loopback "
                    "address; an unauthenticated bus is allowed on 127.0.0.0/8 and ::1 only",
                    p->cfg->bus_tcp);
    return 0;
}

/* api: {event_ttl: 1h, default_not_ready_toleration_seconds: 300,
 *       default_unreachable_toleration_seconds: 300,
 *       service_cluster_ip_range: 10.96.0.0/12,
 *       service_node_port_range: 30000-32767, authorizer: rbac,
 *       encryption_config: /etc/kraal/encryption-config.yaml,
 *       admission_plugins: [ServiceAccount]} */
static int parse_api(struct parse *p, const kr_value_t *api)
{
    if (kr_value_type(api) == KR_NULL)
        return 0;
    if (kr_value_type(api) != KR_MAP)
        return perr(p, "api: must be a map");
    for (size_t i = 0; i < kr_value_len(api); i++) {
        const char *k = kr_value_map_key(api, i);
        const kr_value_t *v = kr_value_map_val(api, i);
        if (strcmp(k, "event_ttl") == 0) {
            const char *d;
            kr_error_t e;
            if (want_str(p, v, "api.event_ttl", &d) < 0)
                return -KR_E_INVALID;
            if (kr_duration_parse(d, &p->cfg->event_ttl_ms, &e) < 0 || p->cfg->event_ttl_ms <= 0)
                return perr(p,
                            "api.event_ttl: Invalid value: \"%s\": must be a positive duration "
                            "such as \"1h\" or \"30m\"",
                            d);
        } else if (strcmp(k, "default_not_ready_toleration_seconds") == 0 ||
                   strcmp(k, "default_unreachable_toleration_seconds") == 0) {
            if (kr_value_type(v) != KR_INT || kr_value_as_int(v, -1) < 0)
                return perr(p, "api.%s: must be an integer >= 0", k);
            int64_t s = kr_value_as_int(v, 0);
            /* the API reads 0 as "the default" and < 0 as 0 seconds */
            if (strstr(k, "not_ready") != NULL)
                p->cfg->not_ready_toleration_s = s ? s : -1;
            else
                p->cfg->unreachable_toleration_s = s ? s : -1;
        } else if (strcmp(k, "service_cluster_ip_range") == 0 ||
                   strcmp(k, "service_node_port_range") == 0) {
            const char *s;
            kr_error_t e;
            uint32_t net;
            int prefix, lo, hi;
            bool ports = strcmp(k, "service_node_port_range") == 0;
            if (want_str(p, v,
                         ports ? "api.service_node_port_range" : "api.service_cluster_ip_range",
                         &s) < 0)
                return -KR_E_INVALID;
            if ((ports ? kr_svcalloc_parse_ports(s, &lo, &hi, &e)
                       : kr_svcalloc_parse_cidr(s, &net, &prefix, &e)) < 0)
                return perr(p, "api.%s: Invalid value: %s", k, e.message);
            if (ports)
                p->cfg->service_node_port_range = kr_arena_strdup(p->cfg->arena, s);
            else
                p->cfg->service_cidr = kr_arena_strdup(p->cfg->arena, s);
        } else if (strcmp(k, "authorizer") == 0) {
            /* an instance name; "" turns the check off, as leaving it out */
            const char *s;
            if (kr_value_type(v) == KR_STR && kr_value_len(v) == 0) {
                p->cfg->authorizer = NULL;
                continue;
            }
            if (want_str(p, v, "api.authorizer", &s) < 0)
                return -KR_E_INVALID;
            if (!valid_instance_name(s))
                return perr(p,
                            "api.authorizer: Invalid value: \"%s\": must be 1-63 letters, "
                            "digits, '-', '_' or '.'",
                            s);
            p->cfg->authorizer = kr_arena_strdup(p->cfg->arena, s);
        } else if (strcmp(k, "encryption_config") == 0) {
            const char *path;
            if (want_str(p, v, "api.encryption_config", &path) < 0)
                return -KR_E_INVALID;
            p->cfg->encryption_config = abs_path(p, path);
        } else if (strcmp(k, "admission_plugins") == 0) {
            /* only the ones that are off by default are named: they need
             * what a minimal config may lack (ServiceAccount: the default
             * accounts of controller-serviceaccount) */
            if (kr_value_type(v) != KR_ARRAY)
                return perr(p, "api.admission_plugins: must be a list of names");
            for (size_t j = 0; j < kr_value_len(v); j++) {
                const char *name = kr_value_as_str(kr_value_array_get(v, j));
                if (name == NULL || strcmp(name, "ServiceAccount") != 0)
                    return perr(p,
                                "api.admission_plugins[%zu]: Unsupported value: \"%s\": "
                                "supported values: \"ServiceAccount\"",
                                j, name ? name : "");
                p->cfg->admit_service_account = true;
            }
        } else {
            return perr(p,
                        "api: unknown key \"%s\" (known: event_ttl, "
                        "default_not_ready_toleration_seconds, "
                        "default_unreachable_toleration_seconds, service_cluster_ip_range, "
                        "service_node_port_range, authorizer, encryption_config, "
                        "admission_plugins)",
                        k);
        }
    }
    return 0;
}

static int parse_plugin_path(struct parse *p, const kr_value_t *v)
{
    if (kr_value_type(v) == KR_NULL)
        return 0;
    if (kr_value_type(v) != KR_ARRAY)
        return perr(p, "plugin_path: must be a list of directories");
    size_t n = kr_value_len(v);
    const char **dirs = kr_arena_alloc(p->cfg->arena, (n + 1) * sizeof *dirs);
    for (size_t i = 0; i < n; i++) {
        char where[64];
        snprintf(where, sizeof where, "plugin_path[%zu]", i);
        const char *d;
        if (want_str(p, kr_value_array_get(v, i), where, &d) < 0)
            return -KR_E_INVALID;
        dirs[i] = abs_path(p, d);
    }
    dirs[n] = NULL;
    p->cfg->plugin_path = dirs;
    return 0;
}

/* One {plugin, name, config} map; `where` prefixes messages ("plugins[2]"). */
static int parse_spec(struct parse *p, const kr_value_t *item, const char *where,
                      kr_plugin_spec_t *s)
{
    memset(s, 0, sizeof *s);
    char at[96];
    if (kr_value_type(item) != KR_MAP)
        return perr(p, "%s: must be a map", where);
    for (size_t j = 0; j < kr_value_len(item); j++) {
        const char *k = kr_value_map_key(item, j);
        const kr_value_t *f = kr_value_map_val(item, j);
        snprintf(at, sizeof at, "%s.%s", where, k);
        if (strcmp(k, "plugin") == 0) {
            if (want_str(p, f, at, &s->plugin) < 0)
                return -KR_E_INVALID;
            if (strchr(s->plugin, '/') != NULL)
                s->plugin = abs_path(p, s->plugin);
        } else if (strcmp(k, "name") == 0) {
            if (want_str(p, f, at, &s->name) < 0)
                return -KR_E_INVALID;
            if (!valid_instance_name(s->name))
                return perr(p,
                            "%s: Invalid value: \"%s\": must be 1-63 letters, digits, '-', "
                            "'_' or '.'",
                            at, s->name);
        } else if (strcmp(k, "config") == 0) {
            if (kr_value_type(f) != KR_MAP && kr_value_type(f) != KR_NULL)
                return perr(p, "%s: must be a map", at);
            s->config = f;
        } else {
            return perr(p, "%s: unknown key \"%s\" (known: plugin, name, config)", where, k);
        }
    }
    if (s->plugin == NULL)
        return perr(p, "%s.plugin: Required value", where);
    if (s->config == NULL || kr_value_type(s->config) != KR_MAP)
        s->config = kr_value_map(p->cfg->arena);
    return 0;
}

static int parse_plugins(struct parse *p, const kr_value_t *v)
{
    if (kr_value_type(v) == KR_NULL)
        return 0;
    if (kr_value_type(v) != KR_ARRAY)
        return perr(p, "plugins: must be a list");
    size_t n = kr_value_len(v);
    kr_plugin_spec_t *specs = kr_arena_alloc(p->cfg->arena, (n ? n : 1) * sizeof *specs);
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof where, "plugins[%zu]", i);
        kr_plugin_spec_t *s = &specs[i];
        if (parse_spec(p, kr_value_array_get(v, i), where, s) < 0)
            return -KR_E_INVALID;
        for (size_t j = 0; s->name != NULL && j < i; j++)
            if (specs[j].name != NULL && strcmp(specs[j].name, s->name) == 0)
                return perr(p, "plugins[%zu].name: Duplicate value: \"%s\" (also plugins[%zu])", i,
                            s->name, j);
    }
    p->cfg->plugins = specs;
    p->cfg->n_plugins = n;
    return 0;
}

static int parse_root(struct parse *p, const kr_value_t *root)
{
    kr_server_config_t *cfg = p->cfg;
    for (size_t i = 0; i < kr_value_len(root); i++) {
        const char *k = kr_value_map_key(root, i);
        const kr_value_t *v = kr_value_map_val(root, i);
        int rc = 0;
        if (strcmp(k, "data_dir") == 0) {
            const char *d;
            rc = want_str(p, v, k, &d);
            if (rc == 0)
                cfg->data_dir = abs_path(p, d);
        } else if (strcmp(k, "run_dir") == 0) {
            const char *d;
            rc = want_str(p, v, k, &d);
            if (rc == 0)
                cfg->run_dir = abs_path(p, d);
        } else if (strcmp(k, "log_level") == 0) {
            const char *l;
            rc = want_str(p, v, k, &l);
            if (rc == 0 && kr_log_level_parse(l, &cfg->log_level, NULL) < 0)
                rc = perr(p,
                          "log_level: Unsupported value: \"%s\": must be one of debug, info, "
                          "warn, error",
                          l);
        } else if (strcmp(k, "bus") == 0) {
            rc = parse_bus(p, v);
        } else if (strcmp(k, "plugin_path") == 0) {
            rc = parse_plugin_path(p, v);
        } else if (strcmp(k, "plugins") == 0) {
            rc = parse_plugins(p, v);
        } else if (strcmp(k, "store") == 0) {
            rc = parse_spec(p, v, "store", &cfg->store);
        } else if (strcmp(k, "api") == 0) {
            rc = parse_api(p, v);
        } else {
            rc = perr(p,
                      "unknown key \"%s\" (known: data_dir, run_dir, log_level, bus, plugin_path, "
                      "store, api, plugins)",
                      k);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int kr_server_config_parse(kr_server_config_t *cfg, const char *file, const char *text, size_t len,
                           kr_error_t *err)
{
    struct parse p = {.cfg = cfg, .file = kr_arena_strdup(cfg->arena, file), .err = err};
    const char *slash = strrchr(file, '/');
    p.base = slash ? kr_arena_strndup(cfg->arena, file, (size_t)(slash - file)) : "";
    if (slash == file)
        p.base = "/";
    cfg->file = p.file;

    kr_value_t *docs = NULL;
    if (kr_yaml_decode(cfg->arena, text, len, &docs, err) < 0)
        return kr_error_wrap(err, "%s", file);
    size_t ndocs = kr_value_len(docs);
    if (ndocs > 1)
        return perr(&p, "must hold one YAML document, found %zu", ndocs);
    const kr_value_t *root = kr_value_array_get(docs, 0);
    if (root == NULL || kr_value_type(root) == KR_NULL)
        return 0; /* an empty file: all defaults */
    if (kr_value_type(root) != KR_MAP)
        return perr(&p, "must be a map");
    return parse_root(&p, root);
}

int kr_server_config_load(kr_server_config_t *cfg, const char *path, kr_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kr_error_set(err, errno == ENOENT ? KR_E_NOT_FOUND : KR_E_INVALID, "%s: %s", path,
                            strerror(errno));
    kr_buf_t buf = KR_BUF_INIT;
    int rc = 0;
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = kr_error_set(err, KR_E_INVALID, "%s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        kr_buf_append(&buf, chunk, (size_t)n);
        if (buf.len > CONFIG_MAX_BYTES) {
            rc = kr_error_set(err, KR_E_TOO_LARGE, "%s: larger than %u bytes", path,
                              CONFIG_MAX_BYTES);
            break;
        }
    }
    close(fd);
    if (rc == 0)
        rc = kr_server_config_parse(cfg, path, buf.data ? buf.data : "", buf.len, err);
    kr_buf_free(&buf);
    return rc;
}
