/* agent-node: the pure parts (spec.h). */
#include "spec.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kraal/base64.h>

/* ---- environment -------------------------------------------------------------- */

void ag_env_set(kr_arena_t *a, ag_env_t *env, const char *key, const char *value)
{
    for (size_t i = 0; i < env->n; i++)
        if (strcmp(env->kv[i].key, key) == 0) {
            env->kv[i].value = kr_arena_strdup(a, value);
            return;
        }
    if (env->n == env->cap) {
        size_t cap = env->cap ? env->cap * 2 : 16;
        kr_rt_kv_t *kv = kr_arena_alloc(a, cap * sizeof *kv);
        if (env->n > 0)
            memcpy(kv, env->kv, env->n * sizeof *kv);
        env->kv = kv;
        env->cap = cap;
    }
    env->kv[env->n].key = kr_arena_strdup(a, key);
    env->kv[env->n].value = kr_arena_strdup(a, value);
    env->n++;
}

const char *ag_env_get(const ag_env_t *env, const char *key)
{
    for (size_t i = 0; env != NULL && i < env->n; i++)
        if (strcmp(env->kv[i].key, key) == 0)
            return env->kv[i].value;
    return NULL;
}

/* expansion.MappingFuncFor(env, more): the first that has the name. */
static char *expand(kr_arena_t *a, const char *in, const ag_env_t *env, const ag_env_t *more)
{
    kr_buf_t b = KR_BUF_INIT;
    size_t len = strlen(in), checkpoint = 0;
    for (size_t cur = 0; cur < len; cur++) {
        if (in[cur] != '$' || cur + 1 >= len)
            continue;
        kr_buf_append(&b, in + checkpoint, cur - checkpoint);
        const char *rest = in + cur + 1;
        size_t advance = 1;
        if (rest[0] == '$') {
            kr_buf_append(&b, "$", 1);
        } else if (rest[0] == '(') {
            const char *close = strchr(rest + 1, ')');
            if (close != NULL) {
                size_t n = (size_t)(close - rest - 1);
                char *name = kr_arena_strndup(a, rest + 1, n);
                const char *val = ag_env_get(env, name);
                if (val == NULL)
                    val = ag_env_get(more, name);
                if (val != NULL)
                    kr_buf_puts(&b, val);
                else
                    kr_buf_printf(&b, "$(%s)", name);
                advance = n + 2;
            } else {
                kr_buf_append(&b, "$(", 2);
            }
        } else {
            kr_buf_append(&b, in + cur, 2);
        }
        cur += advance;
        checkpoint = cur + 1;
    }
    if (checkpoint < len)
        kr_buf_append(&b, in + checkpoint, len - checkpoint);
    char *out = kr_arena_strndup(a, b.data ? b.data : "", b.len);
    kr_buf_free(&b);
    return out;
}

char *ag_expand(kr_arena_t *a, const char *in, const ag_env_t *env)
{
    return expand(a, in, env, NULL);
}

bool ag_env_name_valid(const char *name)
{
    if (name == NULL || *name == '\0' || isdigit((unsigned char)name[0]))
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            return false;
    return true;
}

/* metadata.labels['key'] / metadata.annotations['key'] */
static bool subscript(const char *path, const char *prefix, char *key, size_t size)
{
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0 || path[pl] != '[' || path[pl + 1] != '\'')
        return false;
    const char *k = path + pl + 2, *end = strstr(k, "']");
    if (end == NULL || end[2] != '\0' || (size_t)(end - k) >= size)
        return false;
    memcpy(key, k, (size_t)(end - k));
    key[end - k] = '\0';
    return true;
}

/* fieldpath.FormatMap: k="v" lines sorted by key. */
static const char *format_map(kr_arena_t *a, const kr_value_t *m)
{
    size_t n = kr_value_len(m);
    const char **keys = kr_arena_alloc(a, (n + 1) * sizeof *keys);
    for (size_t i = 0; i < n; i++)
        keys[i] = kr_value_map_key(m, i);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const char *v = kr_value_as_str(kr_value_map_get(m, keys[i]));
        kr_buf_printf(&b, "%s=\"%s\"\n", keys[i], v ? v : "");
    }
    char *out = kr_arena_strndup(a, b.data ? b.data : "", b.len > 0 ? b.len - 1 : 0);
    kr_buf_free(&b);
    return out;
}

int ag_field_ref(kr_arena_t *a, const kr_value_t *pod, const char *path, const char *pod_ip,
                 const char *host_ip, const char **out, kr_error_t *err)
{
    char key[512];
    const char *s = NULL;
    if (strcmp(path, "spec.nodeName") == 0 || strcmp(path, "spec.serviceAccountName") == 0) {
        s = kr_value_as_str(kr_value_get(pod, path));
    } else if (strcmp(path, "status.hostIP") == 0 || strcmp(path, "status.hostIPs") == 0) {
        s = host_ip;
    } else if (strcmp(path, "status.podIP") == 0 || strcmp(path, "status.podIPs") == 0) {
        s = pod_ip;
    } else if (strcmp(path, "metadata.name") == 0 || strcmp(path, "metadata.namespace") == 0 ||
               strcmp(path, "metadata.uid") == 0) {
        s = kr_value_as_str(kr_value_get(pod, path));
    } else if (strcmp(path, "metadata.labels") == 0 || strcmp(path, "metadata.annotations") == 0) {
        s = format_map(a, kr_value_get(pod, path));
    } else if (subscript(path, "metadata.labels", key, sizeof key)) {
        s = kr_value_as_str(kr_value_map_get(kr_value_get(pod, "metadata.labels"), key));
    } else if (subscript(path, "metadata.annotations", key, sizeof key)) {
        s = kr_value_as_str(kr_value_map_get(kr_value_get(pod, "metadata.annotations"), key));
    } else {
        return kr_error_set(err, KR_E_INVALID, "unsupported fieldPath: %s", path);
    }
    *out = s != NULL ? s : "";
    return 0;
}

/* The containers of the pod (init and app) by name, for resourceFieldRef. */
static const kr_value_t *container_named(const kr_value_t *pod, const char *name)
{
    static const char *const lists[] = {"spec.containers", "spec.initContainers"};
    for (size_t l = 0; l < 2; l++) {
        const kr_value_t *cs = kr_value_get(pod, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *c = kr_value_array_get(cs, i);
            if (strcmp(kr_value_map_str(c, "name") ?: "", name) == 0)
                return c;
        }
    }
    return NULL;
}

/* ExtractContainerResourceValue after MergeContainerResourceLimits. */
int ag_resource_field_ref(kr_arena_t *a, const kr_value_t *ref, const kr_value_t *self,
                          const ag_env_ctx_t *ctx, const char **out, kr_error_t *err)
{
    const char *cname = kr_value_map_str(ref, "containerName");
    const kr_value_t *c = cname && *cname ? container_named(ctx->pod, cname) : self;
    const char *res = kr_value_map_str(ref, "resource");
    if (c == NULL)
        return kr_error_set(err, KR_E_INVALID, "container %s not found", cname ? cname : "");
    if (res == NULL)
        return kr_error_set(err, KR_E_INVALID, "unsupported container resource : ");
    kr_quantity_t div;
    const kr_value_t *dv = kr_value_map_get(ref, "divisor");
    if (dv == NULL || !ag_quantity(dv, &div) || div.unscaled == 0)
        kr_quantity_parse("1", &div, NULL);
    const char *dot = strchr(res, '.');
    if (dot == NULL || (strncmp(res, "limits", 6) != 0 && strncmp(res, "requests", 8) != 0))
        return kr_error_set(err, KR_E_INVALID, "unsupported container resource : %s", res);
    char kind[16];
    snprintf(kind, sizeof kind, "%.*s", (int)(dot - res), res);
    const char *name = dot + 1;
    bool limits = strcmp(kind, "limits") == 0;
    int64_t v;
    if (strcmp(name, "cpu") == 0) {
        int64_t m = ag_res_milli(c, kind, "cpu");
        if (limits && m == 0)
            m = ctx->alloc_milli_cpu;
        int64_t d = kr_quantity_milli(&div);
        v = d > 0 ? (m + d - 1) / d : m;
    } else if (strcmp(name, "memory") == 0 || strcmp(name, "ephemeral-storage") == 0) {
        int64_t m = ag_res_value(c, kind, name);
        if (limits && m == 0)
            m = strcmp(name, "memory") == 0 ? ctx->alloc_memory : ctx->alloc_ephemeral;
        int64_t d = kr_quantity_value(&div);
        v = d > 0 ? (m + d - 1) / d : m;
    } else {
        return kr_error_set(err, KR_E_INVALID, "unsupported container resource : %s", res);
    }
    *out = kr_arena_printf(a, "%" PRId64, v);
    return 0;
}

/* configMapKeyRef / secretKeyRef: 1 with *out set, 0 when optional and
 * missing (the variable is left out), < 0 on error. */
static int key_ref(kr_arena_t *a, const kr_value_t *ref, bool secret, const ag_env_ctx_t *ctx,
                   const char **out, kr_error_t *err)
{
    const char *name = kr_value_map_str(ref, "name") ?: "";
    const char *key = kr_value_map_str(ref, "key") ?: "";
    bool optional = kr_value_as_bool(kr_value_map_get(ref, "optional"), false);
    const char *ns = kr_value_as_str(kr_value_get(ctx->pod, "metadata.namespace")) ?: "default";
    const kr_value_t *obj = NULL;
    kr_error_t e;
    if (ctx->lookup == NULL ||
        ctx->lookup(ctx->ud, secret ? "secrets" : "configmaps", ns, name, &obj, &e) < 0) {
        if (ctx->lookup != NULL && e.reason == KR_E_NOT_FOUND && optional)
            return 0;
        if (ctx->lookup == NULL)
            return kr_error_set(err, KR_E_INTERNAL, "no lookup for %s", name);
        return kr_error_set(err, e.reason, "%s", e.message);
    }
    const kr_value_t *val = kr_value_map_get(kr_value_map_get(obj, "data"), key);
    if (!secret && val == NULL)
        val = kr_value_map_get(kr_value_map_get(obj, "binaryData"), key);
    if (secret && val == NULL) {
        const char *sd =
            kr_value_as_str(kr_value_map_get(kr_value_map_get(obj, "stringData"), key));
        if (sd != NULL) {
            *out = sd;
            return 1;
        }
    }
    if (val == NULL) {
        if (optional)
            return 0;
        return kr_error_set(err, KR_E_INVALID, "couldn't find key %s in %s %s/%s", key,
                            secret ? "Secret" : "ConfigMap", ns, name);
    }
    const char *s = kr_value_as_str(val) ?: "";
    if (secret) {
        s = kr_base64_decode_str(a, s, KR_B64_STD, NULL);
        if (s == NULL)
            return kr_error_set(err, KR_E_INVALID, "couldn't decode key %s in Secret %s/%s", key,
                                ns, name);
    }
    *out = s;
    return 1;
}

int ag_env_build(kr_arena_t *a, const kr_value_t *container, const ag_env_ctx_t *ctx, ag_env_t *out,
                 kr_error_t *err)
{
    const char *ns = kr_value_as_str(kr_value_get(ctx->pod, "metadata.namespace")) ?: "default";
    const kr_value_t *from = kr_value_map_get(container, "envFrom");
    for (size_t i = 0; i < kr_value_len(from); i++) {
        const kr_value_t *src = kr_value_array_get(from, i);
        const char *prefix = kr_value_map_str(src, "prefix") ?: "";
        const kr_value_t *ref = kr_value_map_get(src, "configMapRef");
        bool secret = false;
        if (ref == NULL) {
            ref = kr_value_map_get(src, "secretRef");
            secret = true;
        }
        if (ref == NULL)
            continue;
        const char *name = kr_value_map_str(ref, "name") ?: "";
        bool optional = kr_value_as_bool(kr_value_map_get(ref, "optional"), false);
        const kr_value_t *obj = NULL;
        kr_error_t e;
        if (ctx->lookup == NULL ||
            ctx->lookup(ctx->ud, secret ? "secrets" : "configmaps", ns, name, &obj, &e) < 0) {
            if (ctx->lookup != NULL && e.reason == KR_E_NOT_FOUND && optional)
                continue;
            if (ctx->lookup == NULL)
                return kr_error_set(err, KR_E_INTERNAL, "no lookup for %s", name);
            return kr_error_set(err, e.reason, "%s", e.message);
        }
        const kr_value_t *data = kr_value_map_get(obj, "data");
        for (size_t k = 0; k < kr_value_len(data); k++) {
            const char *key = kr_arena_printf(a, "%s%s", prefix, kr_value_map_key(data, k));
            if (!ag_env_name_valid(key)) /* upstream skips them with an event */
                continue;
            const char *v = kr_value_as_str(kr_value_map_val(data, k)) ?: "";
            if (secret && (v = kr_base64_decode_str(a, v, KR_B64_STD, NULL)) == NULL)
                continue;
            ag_env_set(a, out, key, v);
        }
    }
    const kr_value_t *env = kr_value_map_get(container, "env");
    for (size_t i = 0; i < kr_value_len(env); i++) {
        const kr_value_t *e = kr_value_array_get(env, i);
        const char *name = kr_value_map_str(e, "name");
        if (name == NULL)
            continue;
        const kr_value_t *vf = kr_value_map_get(e, "valueFrom");
        const char *val = NULL;
        if (vf == NULL) {
            /* $(VAR) sees the service variables too (MappingFuncFor(tmpEnv,
             * serviceEnv)) */
            val = expand(a, kr_value_map_str(e, "value") ?: "", out, ctx->services);
        } else if (kr_value_map_get(vf, "fieldRef") != NULL) {
            const char *path = kr_value_as_str(kr_value_get(vf, "fieldRef.fieldPath")) ?: "";
            if (ag_field_ref(a, ctx->pod, path, ctx->pod_ip, ctx->host_ip, &val, err) < 0)
                return -1;
        } else if (kr_value_map_get(vf, "resourceFieldRef") != NULL) {
            if (ag_resource_field_ref(a, kr_value_map_get(vf, "resourceFieldRef"), container, ctx,
                                      &val, err) < 0)
                return -1;
        } else {
            const kr_value_t *ref = kr_value_map_get(vf, "configMapKeyRef");
            bool secret = ref == NULL;
            if (secret)
                ref = kr_value_map_get(vf, "secretKeyRef");
            if (ref == NULL)
                continue;
            int rc = key_ref(a, ref, secret, ctx, &val, err);
            if (rc < 0)
                return rc;
            if (rc == 0)
                continue;
        }
        ag_env_set(a, out, name, val);
    }
    /* "Append service env vars": the container's own win */
    for (size_t i = 0; ctx->services != NULL && i < ctx->services->n; i++)
        if (ag_env_get(out, ctx->services->kv[i].key) == NULL)
            ag_env_set(a, out, ctx->services->kv[i].key, ctx->services->kv[i].value);
    return 0;
}

/* ---- service environment variables (pkg/kubelet/envvars) -------------------------- */

/* makeEnvVariableName: upper case, '-' -> '_'. */
static char *env_var_name(kr_arena_t *a, const char *s)
{
    char *out = kr_arena_strdup(a, s);
    for (char *c = out; *c; c++)
        *c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
    return out;
}

/* IsServiceIPSet: not "None", not empty. */
static bool service_ip_set(const kr_value_t *svc)
{
    const char *ip = kr_value_as_str(kr_value_get(svc, "spec.clusterIP"));
    return ip != NULL && *ip != '\0' && strcmp(ip, "None") != 0;
}

static int svc_by_name(const void *x, const void *y)
{
    const kr_value_t *const *l = x, *const *r = y;
    return strcmp(kr_value_as_str(kr_value_get(*l, "metadata.name")) ?: "",
                  kr_value_as_str(kr_value_get(*r, "metadata.name")) ?: "");
}

/* FromServices for one Service, makeLinkVariables included. */
static void service_vars(kr_arena_t *a, const kr_value_t *svc, ag_env_t *out)
{
    const char *prefix = env_var_name(a, kr_value_as_str(kr_value_get(svc, "metadata.name")));
    const char *ip = kr_value_as_str(kr_value_get(svc, "spec.clusterIP"));
    const kr_value_t *ports = kr_value_get(svc, "spec.ports");
    if (kr_value_len(ports) == 0) /* validation requires one; upstream would index [0] */
        return;
    bool v6 = strchr(ip, ':') != NULL;
    ag_env_set(a, out, kr_arena_printf(a, "%s_SERVICE_HOST", prefix), ip);
    const char *port_name = kr_arena_printf(a, "%s_SERVICE_PORT", prefix);
    ag_env_set(a, out, port_name,
               kr_arena_printf(a, "%" PRId64, kr_value_as_int(kr_value_get(ports, "[0].port"), 0)));
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        const kr_value_t *sp = kr_value_array_get(ports, i);
        const char *name = kr_value_map_str(sp, "name");
        if (name != NULL && *name != '\0')
            ag_env_set(
                a, out, kr_arena_printf(a, "%s_%s", port_name, env_var_name(a, name)),
                kr_arena_printf(a, "%" PRId64, kr_value_as_int(kr_value_map_get(sp, "port"), 0)));
    }
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        const kr_value_t *sp = kr_value_array_get(ports, i);
        const char *proto = kr_value_map_str(sp, "protocol");
        if (proto == NULL || *proto == '\0')
            proto = "TCP";
        char *lower = kr_arena_strdup(a, proto), *upper = kr_arena_strdup(a, proto);
        for (char *c = lower; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        for (char *c = upper; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        int64_t port = kr_value_as_int(kr_value_map_get(sp, "port"), 0);
        /* net.JoinHostPort: brackets around an IPv6 address */
        const char *url = kr_arena_printf(a, "%s://%s%s%s:%" PRId64, lower, v6 ? "[" : "", ip,
                                          v6 ? "]" : "", port);
        if (i == 0) /* Docker special-cases the first port */
            ag_env_set(a, out, kr_arena_printf(a, "%s_PORT", prefix), url);
        const char *pp = kr_arena_printf(a, "%s_PORT_%" PRId64 "_%s", prefix, port, upper);
        ag_env_set(a, out, pp, url);
        ag_env_set(a, out, kr_arena_printf(a, "%s_PROTO", pp), lower);
        ag_env_set(a, out, kr_arena_printf(a, "%s_PORT", pp), kr_arena_printf(a, "%" PRId64, port));
        ag_env_set(a, out, kr_arena_printf(a, "%s_ADDR", pp), ip);
    }
}

void ag_service_env(kr_arena_t *a, const kr_value_t *const *svcs, size_t n, const char *ns,
                    bool links, ag_env_t *out)
{
    /* serviceMap: by name; the master service of default unless the
     * pod's namespace has one of that name */
    const kr_value_t **pick = kr_arena_alloc(a, (n ? n : 1) * sizeof *pick);
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *svc = svcs[i];
        const char *sns = kr_value_as_str(kr_value_get(svc, "metadata.namespace")) ?: "";
        const char *name = kr_value_as_str(kr_value_get(svc, "metadata.name"));
        if (name == NULL || !service_ip_set(svc))
            continue;
        bool master = strcmp(sns, "default") == 0 && strcmp(name, AG_MASTER_SERVICE) == 0;
        bool local = strcmp(sns, ns) == 0 && links;
        if (!master && !local)
            continue;
        size_t j = 0;
        while (j < np && strcmp(kr_value_as_str(kr_value_get(pick[j], "metadata.name")), name) != 0)
            j++;
        if (j == np)
            pick[np++] = svc;
        else if (local) /* serviceMap[name] = service: the namespace's own wins */
            pick[j] = svc;
    }
    qsort(pick, np, sizeof *pick, svc_by_name);
    for (size_t i = 0; i < np; i++)
        service_vars(a, pick[i], out);
}

/* ---- argv -------------------------------------------------------------------------- */

int ag_container_argv(kr_arena_t *a, const kr_value_t *container, char *const *entrypoint,
                      char *const *cmd, const ag_env_t *env, const char ***argv, size_t *argc,
                      kr_error_t *err)
{
    const kr_value_t *command = kr_value_map_get(container, "command");
    const kr_value_t *args = kr_value_map_get(container, "args");
    size_t ncmd = kr_value_len(command), nargs = kr_value_len(args);
    size_t nep = 0, nic = 0;
    while (entrypoint != NULL && entrypoint[nep] != NULL)
        nep++;
    while (cmd != NULL && cmd[nic] != NULL)
        nic++;
    size_t cap = ncmd + nargs + nep + nic + 1, n = 0;
    const char **v = kr_arena_alloc(a, cap * sizeof *v);
    /* containerd's WithProcessArgs: the pod's command replaces the
     * entrypoint (and then the image's cmd is not used); args replace cmd */
    if (ncmd > 0) {
        for (size_t i = 0; i < ncmd; i++)
            v[n++] = ag_expand(a, kr_value_as_str(kr_value_array_get(command, i)) ?: "", env);
    } else {
        for (size_t i = 0; i < nep; i++)
            v[n++] = entrypoint[i];
    }
    if (nargs > 0) {
        for (size_t i = 0; i < nargs; i++)
            v[n++] = ag_expand(a, kr_value_as_str(kr_value_array_get(args, i)) ?: "", env);
    } else if (ncmd == 0) {
        for (size_t i = 0; i < nic; i++)
            v[n++] = cmd[i];
    }
    v[n] = NULL;
    if (n == 0)
        return kr_error_set(err, KR_E_INVALID, "no command specified");
    *argv = v;
    *argc = n;
    return 0;
}

/* ---- resources ------------------------------------------------------------------ */

bool ag_quantity(const kr_value_t *v, kr_quantity_t *q)
{
    char buf[64];
    const char *s = kr_value_as_str(v);
    if (s == NULL) {
        if (kr_value_type(v) == KR_INT)
            snprintf(buf, sizeof buf, "%" PRId64, kr_value_as_int(v, 0));
        else if (kr_value_type(v) == KR_FLOAT)
            snprintf(buf, sizeof buf, "%.9g", kr_value_as_float(v, 0));
        else
            return false;
        s = buf;
    }
    return kr_quantity_parse(s, q, NULL) == 0;
}

static const kr_value_t *res_entry(const kr_value_t *container, const char *kind, const char *name)
{
    return kr_value_map_get(kr_value_map_get(kr_value_map_get(container, "resources"), kind), name);
}

int64_t ag_res_milli(const kr_value_t *container, const char *kind, const char *name)
{
    kr_quantity_t q;
    return ag_quantity(res_entry(container, kind, name), &q) ? kr_quantity_milli(&q) : 0;
}

int64_t ag_res_value(const kr_value_t *container, const char *kind, const char *name)
{
    kr_quantity_t q;
    return ag_quantity(res_entry(container, kind, name), &q) ? kr_quantity_value(&q) : 0;
}

const char *ag_qos_class(const kr_value_t *spec)
{
    static const char *const res[] = {"cpu", "memory"};
    static const char *const lists[] = {"containers", "initContainers"};
    int64_t req[2] = {0, 0}, lim[2] = {0, 0};
    bool has_req[2] = {false, false}, has_lim[2] = {false, false};
    bool guaranteed = true;
    for (size_t l = 0; l < 2; l++) {
        const kr_value_t *cs = kr_value_map_get(spec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *c = kr_value_array_get(cs, i);
            bool found[2] = {false, false};
            for (size_t k = 0; k < 2; k++) {
                kr_quantity_t q;
                /* only quantities above zero count, as Cmp(zero) == 1 */
                if (ag_quantity(res_entry(c, "requests", res[k]), &q) && q.unscaled > 0) {
                    int64_t m = kr_quantity_milli(&q);
                    req[k] = req[k] > INT64_MAX - m ? INT64_MAX : req[k] + m;
                    has_req[k] = true;
                }
                if (ag_quantity(res_entry(c, "limits", res[k]), &q) && q.unscaled > 0) {
                    int64_t m = kr_quantity_milli(&q);
                    lim[k] = lim[k] > INT64_MAX - m ? INT64_MAX : lim[k] + m;
                    has_lim[k] = true;
                    found[k] = true;
                }
            }
            if (!found[0] || !found[1])
                guaranteed = false;
        }
    }
    if (!has_req[0] && !has_req[1] && !has_lim[0] && !has_lim[1])
        return "BestEffort";
    for (size_t k = 0; k < 2 && guaranteed; k++)
        if (has_req[k] && (!has_lim[k] || lim[k] != req[k]))
            guaranteed = false;
    /* len(requests) == len(limits) */
    if (guaranteed && (has_req[0] + has_req[1]) == (has_lim[0] + has_lim[1]))
        return "Guaranteed";
    return "Burstable";
}

uint64_t ag_milli_cpu_to_shares(int64_t milli)
{
    if (milli == 0)
        return 2;
    int64_t shares = milli * 1024 / 1000;
    if (shares < 2)
        return 2;
    if (shares > 262144)
        return 262144;
    return (uint64_t)shares;
}

int64_t ag_milli_cpu_to_quota(int64_t milli, int64_t period)
{
    if (milli == 0)
        return 0;
    int64_t quota = milli * period / 1000;
    return quota < 1000 ? 1000 : quota;
}

int ag_oom_score_adj(const kr_value_t *container, const char *qos, int64_t memory_capacity,
                     int floor)
{
    int adj;
    if (strcmp(qos, "Guaranteed") == 0) {
        adj = -997;
    } else if (strcmp(qos, "BestEffort") == 0) {
        adj = 1000;
    } else {
        int64_t req = ag_res_value(container, "requests", "memory");
        int64_t o = memory_capacity > 0 ? 1000 - (1000 * req) / memory_capacity : 1000;
        if (o < 1000 - 997)
            adj = 1000 - 997;
        else if (o == 1000)
            adj = 999;
        else
            adj = (int)o;
    }
    return adj < floor ? floor : adj;
}

void ag_container_resources(const kr_value_t *container, const char *qos, int64_t memory_capacity,
                            int oom_floor, kr_rt_resources_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t req = ag_res_milli(container, "requests", "cpu");
    int64_t lim = ag_res_milli(container, "limits", "cpu");
    /* a limit without a request: the request defaults to the limit */
    out->cpu_shares = ag_milli_cpu_to_shares(req == 0 && lim != 0 ? lim : req);
    out->cpu_period = 100000;
    out->cpu_quota = ag_milli_cpu_to_quota(lim, 100000);
    out->memory_limit = ag_res_value(container, "limits", "memory");
    out->oom_score_adj = ag_oom_score_adj(container, qos, memory_capacity, oom_floor);
}

/* ---- back-off ---------------------------------------------------------------------- */

static bool backoff_expired(int64_t event_ms, int64_t last_update_ms)
{
    return event_ms - last_update_ms > 2 * (int64_t)AG_BACKOFF_MAX_MS;
}

bool ag_backoff_in_backoff_since(const ag_backoff_t *b, int64_t event_ms, int64_t now_ms)
{
    if (b->last_update_ms == 0 || backoff_expired(event_ms, b->last_update_ms))
        return false;
    return now_ms - event_ms < b->backoff_ms;
}

void ag_backoff_next(ag_backoff_t *b, int64_t event_ms, int64_t now_ms)
{
    if (b->last_update_ms == 0 || backoff_expired(event_ms, b->last_update_ms)) {
        b->backoff_ms = AG_BACKOFF_INITIAL_MS;
    } else {
        int64_t d = b->backoff_ms * 2;
        b->backoff_ms = d > AG_BACKOFF_MAX_MS ? AG_BACKOFF_MAX_MS : d;
    }
    b->last_update_ms = now_ms;
}

void ag_go_duration(int64_t ms, char *buf, size_t len)
{
    if (ms == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    if (ms < 1000) {
        snprintf(buf, len, "%" PRId64 "ms", ms);
        return;
    }
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    char sec[32];
    if (frac == 0) {
        snprintf(sec, sizeof sec, "%" PRId64 "s", s);
    } else {
        char f[8];
        snprintf(f, sizeof f, "%03" PRId64, frac);
        for (int i = 2; i > 0 && f[i] == '0'; i--)
            f[i] = '\0';
        snprintf(sec, sizeof sec, "%" PRId64 ".%ss", s, f);
    }
    if (h > 0)
        snprintf(buf, len, "%" PRId64 "h%" PRId64 "m%s", h, m, sec);
    else if (m > 0)
        snprintf(buf, len, "%" PRId64 "m%s", m, sec);
    else
        snprintf(buf, len, "%s", sec);
}

/* ---- times ---------------------------------------------------------------------- */

void ag_time_str(int64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void ag_time_str_micro(int64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[32];
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06dZ", s, (int)(ns % 1000000000 / 1000));
}

int64_t ag_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- pod status ----------------------------------------------------------------- */

const kr_value_t *ag_status_of(const kr_value_t *statuses, const char *name)
{
    for (size_t i = 0; i < kr_value_len(statuses); i++) {
        const kr_value_t *s = kr_value_array_get(statuses, i);
        if (strcmp(kr_value_map_str(s, "name") ?: "", name) == 0)
            return s;
    }
    return NULL;
}

static const kr_value_t *state_of(const kr_value_t *st, const char *which)
{
    return kr_value_map_get(kr_value_map_get(st, "state"), which);
}

static bool last_terminated(const kr_value_t *st)
{
    return kr_value_map_get(kr_value_map_get(st, "lastState"), "terminated") != NULL;
}

static bool restartable_init(const kr_value_t *c)
{
    return strcmp(kr_value_map_str(c, "restartPolicy") ?: "", "Always") == 0;
}

static bool sidecar_started(const kr_value_t *st)
{
    return state_of(st, "running") != NULL &&
           kr_value_as_bool(kr_value_map_get(st, "started"), false);
}

/* HasAnyRegularContainerStarted */
static bool any_regular_started(const kr_value_t *spec, const kr_value_t *statuses)
{
    const kr_value_t *cs = kr_value_map_get(spec, "containers");
    for (size_t i = 0; i < kr_value_len(cs); i++) {
        const kr_value_t *st =
            ag_status_of(statuses, kr_value_map_str(kr_value_array_get(cs, i), "name") ?: "");
        if (st == NULL)
            continue;
        if (state_of(st, "running") || state_of(st, "terminated") ||
            (state_of(st, "waiting") && last_terminated(st)))
            return true;
    }
    return false;
}

const char *ag_pod_phase(const kr_value_t *spec, const kr_value_t *init_statuses,
                         const kr_value_t *statuses, bool terminal)
{
    int pending_init = 0, failed_init = 0;
    const kr_value_t *ics = kr_value_map_get(spec, "initContainers");
    for (size_t i = 0; i < kr_value_len(ics); i++) {
        const kr_value_t *c = kr_value_array_get(ics, i);
        const kr_value_t *st = ag_status_of(init_statuses, kr_value_map_str(c, "name") ?: "");
        if (restartable_init(c)) {
            /* a sidecar initializes the pod once it has started */
            if (!sidecar_started(st))
                pending_init++;
            continue;
        }
        if (st == NULL) {
            pending_init++;
        } else if (state_of(st, "running")) {
            pending_init++;
        } else if (state_of(st, "terminated")) {
            if (kr_value_map_int(state_of(st, "terminated"), "exitCode", 0) != 0)
                failed_init++;
        } else if (state_of(st, "waiting")) {
            const kr_value_t *lt =
                kr_value_map_get(kr_value_map_get(st, "lastState"), "terminated");
            if (lt != NULL) {
                if (kr_value_map_int(lt, "exitCode", 0) != 0)
                    failed_init++;
            } else {
                pending_init++;
            }
        } else {
            pending_init++;
        }
    }
    int unknown = 0, running = 0, waiting = 0, stopped = 0, succeeded = 0;
    const kr_value_t *cs = kr_value_map_get(spec, "containers");
    for (size_t i = 0; i < kr_value_len(cs); i++) {
        const kr_value_t *st =
            ag_status_of(statuses, kr_value_map_str(kr_value_array_get(cs, i), "name") ?: "");
        if (st == NULL) {
            unknown++;
        } else if (state_of(st, "running")) {
            running++;
        } else if (state_of(st, "terminated")) {
            stopped++;
            if (kr_value_map_int(state_of(st, "terminated"), "exitCode", 0) == 0)
                succeeded++;
        } else if (state_of(st, "waiting")) {
            if (last_terminated(st))
                stopped++;
            else
                waiting++;
        } else {
            unknown++;
        }
    }
    const char *rp = kr_value_map_str(spec, "restartPolicy") ?: "Always";
    if (failed_init > 0 && strcmp(rp, "Never") == 0)
        return "Failed";
    if ((pending_init > 0 && !any_regular_started(spec, statuses)) || waiting > 0)
        return "Pending";
    if (running > 0 && unknown == 0)
        return "Running";
    if (running == 0 && stopped > 0 && unknown == 0) {
        if (terminal)
            return stopped == succeeded ? "Succeeded" : "Failed";
        if (strcmp(rp, "Always") == 0)
            return "Running";
        if (stopped == succeeded)
            return "Succeeded";
        if (strcmp(rp, "Never") == 0)
            return "Failed";
        return "Running";
    }
    return "Pending";
}

/* Go's fmt of a []string with %s: "[a b]". */
static void names_append(kr_buf_t *b, const char *what, const char *const *names, size_t n)
{
    if (n == 0)
        return;
    if (b->len > 0)
        kr_buf_puts(b, ", ");
    kr_buf_printf(b, "containers with %s status: [", what);
    for (size_t i = 0; i < n; i++)
        kr_buf_printf(b, "%s%s", i ? " " : "", names[i]);
    kr_buf_puts(b, "]");
}

typedef struct cond {
    const char *type, *status, *reason, *message;
} cond_t;

/* Makes `c` False with `reason` when containers are unknown or not there
 * yet ("containers with unknown status: [a], containers with <what>
 * status: [b]"). */
static void cond_unready(kr_arena_t *a, cond_t *c, const char *reason, const char *const *unknown,
                         size_t nu, const char *what, const char *const *names, size_t n)
{
    kr_buf_t b = KR_BUF_INIT;
    names_append(&b, "unknown", unknown, nu);
    names_append(&b, what, names, n);
    if (b.len > 0) {
        c->status = "False";
        c->reason = reason;
        c->message = kr_arena_strdup(a, b.data);
    }
    kr_buf_free(&b);
}

static cond_t initialized_cond(kr_arena_t *a, const kr_value_t *spec, const char *phase,
                               const kr_value_t *init_statuses, const kr_value_t *statuses)
{
    cond_t c = {"Initialized", "True", NULL, NULL};
    const kr_value_t *ics = kr_value_map_get(spec, "initContainers");
    size_t n = kr_value_len(ics);
    if (n == 0)
        return c;
    if (strcmp(phase, "Succeeded") == 0) {
        c.reason = "PodCompleted";
        return c;
    }
    const char **unknown = kr_arena_alloc(a, (n + 1) * sizeof *unknown);
    const char **incomplete = kr_arena_alloc(a, (n + 1) * sizeof *incomplete);
    size_t nu = 0, ni = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *ic = kr_value_array_get(ics, i);
        const char *name = kr_value_map_str(ic, "name") ?: "";
        const kr_value_t *st = ag_status_of(init_statuses, name);
        if (st == NULL) {
            unknown[nu++] = name;
            continue;
        }
        if (restartable_init(ic)) {
            if (!sidecar_started(st))
                incomplete[ni++] = name;
            continue;
        }
        const kr_value_t *t = state_of(st, "terminated");
        if (t == NULL || kr_value_map_int(t, "exitCode", 0) != 0)
            incomplete[ni++] = name;
    }
    if (any_regular_started(spec, statuses))
        return c;
    cond_unready(a, &c, "ContainersNotInitialized", unknown, nu, "incomplete", incomplete, ni);
    return c;
}

static cond_t containers_ready_cond(kr_arena_t *a, const kr_value_t *spec, const char *phase,
                                    const kr_value_t *init_statuses, const kr_value_t *statuses)
{
    cond_t c = {"ContainersReady", "True", NULL, NULL};
    const kr_value_t *cs = kr_value_map_get(spec, "containers");
    const kr_value_t *ics = kr_value_map_get(spec, "initContainers");
    size_t n = kr_value_len(cs), ni = kr_value_len(ics);
    const char **unknown = kr_arena_alloc(a, (n + ni + 1) * sizeof *unknown);
    const char **unready = kr_arena_alloc(a, (n + ni + 1) * sizeof *unready);
    size_t nu = 0, nr = 0;
    /* sidecars count, before the app containers */
    for (size_t i = 0; i < ni; i++) {
        const kr_value_t *ic = kr_value_array_get(ics, i);
        if (!restartable_init(ic))
            continue;
        const char *name = kr_value_map_str(ic, "name") ?: "";
        const kr_value_t *st = ag_status_of(init_statuses, name);
        if (st == NULL)
            unknown[nu++] = name;
        else if (!kr_value_as_bool(kr_value_map_get(st, "ready"), false))
            unready[nr++] = name;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = kr_value_map_str(kr_value_array_get(cs, i), "name") ?: "";
        const kr_value_t *st = ag_status_of(statuses, name);
        if (st == NULL)
            unknown[nu++] = name;
        else if (!kr_value_as_bool(kr_value_map_get(st, "ready"), false))
            unready[nr++] = name;
    }
    if (strcmp(phase, "Succeeded") == 0 && nu == 0) {
        c.status = "False";
        c.reason = "PodCompleted";
        return c;
    }
    if (strcmp(phase, "Failed") == 0) {
        c.status = "False";
        c.reason = "PodFailed";
        return c;
    }
    cond_unready(a, &c, "ContainersNotReady", unknown, nu, "unready", unready, nr);
    return c;
}

static kr_value_t *cond_value(kr_arena_t *a, const cond_t *c, const kr_value_t *old_conds,
                              const char *now)
{
    kr_value_t *v = kr_value_map(a);
    kr_value_map_set(a, v, "type", kr_value_str(a, c->type));
    kr_value_map_set(a, v, "status", kr_value_str(a, c->status));
    kr_value_map_set(a, v, "lastProbeTime", kr_value_null(a));
    const kr_value_t *old = NULL;
    for (size_t i = 0; i < kr_value_len(old_conds); i++) {
        const kr_value_t *o = kr_value_array_get(old_conds, i);
        if (strcmp(kr_value_map_str(o, "type") ?: "", c->type) == 0)
            old = o;
    }
    const char *ltt = now;
    if (old != NULL && strcmp(kr_value_map_str(old, "status") ?: "", c->status) == 0 &&
        kr_value_map_str(old, "lastTransitionTime") != NULL)
        ltt = kr_value_map_str(old, "lastTransitionTime");
    kr_value_map_set(a, v, "lastTransitionTime", kr_value_str(a, ltt));
    if (c->reason != NULL)
        kr_value_map_set(a, v, "reason", kr_value_str(a, c->reason));
    if (c->message != NULL)
        kr_value_map_set(a, v, "message", kr_value_str(a, c->message));
    return v;
}

kr_value_t *ag_pod_conditions(kr_arena_t *a, const kr_value_t *spec, const char *phase,
                              const kr_value_t *init_statuses, const kr_value_t *statuses,
                              bool sandbox_ready, const kr_value_t *old_conds, const char *now)
{
    cond_t conds[5];
    conds[0] = (cond_t){"PodReadyToStartContainers", sandbox_ready ? "True" : "False", NULL, NULL};
    conds[1] = initialized_cond(a, spec, phase, init_statuses, statuses);
    conds[2] = containers_ready_cond(a, spec, phase, init_statuses, statuses);
    conds[3] = conds[2];
    conds[3].type = "Ready";
    if (strcmp(conds[3].status, "True") == 0) {
        /* readiness gates: every conditionType must be a True condition */
        const kr_value_t *gates = kr_value_map_get(spec, "readinessGates");
        kr_buf_t b = KR_BUF_INIT;
        for (size_t i = 0; i < kr_value_len(gates); i++) {
            const char *t = kr_value_map_str(kr_value_array_get(gates, i), "conditionType") ?: "";
            bool ok = false;
            for (size_t j = 0; j < kr_value_len(old_conds); j++) {
                const kr_value_t *o = kr_value_array_get(old_conds, j);
                if (strcmp(kr_value_map_str(o, "type") ?: "", t) == 0)
                    ok = strcmp(kr_value_map_str(o, "status") ?: "", "True") == 0;
            }
            if (!ok)
                kr_buf_printf(
                    &b, "%scorresponding condition of pod readiness gate \"%s\" does not exist.",
                    b.len ? ", " : "", t);
        }
        if (b.len > 0) {
            conds[3].status = "False";
            conds[3].reason = "ReadinessGatesNotReady";
            conds[3].message = kr_arena_strdup(a, b.data);
        }
        kr_buf_free(&b);
    }
    conds[4] = (cond_t){"PodScheduled", "True", NULL, NULL};
    kr_value_t *out = kr_value_array(a);
    /* PodScheduled first, as the scheduler's binding puts it */
    static const size_t order[] = {4, 0, 1, 2, 3};
    for (size_t i = 0; i < 5; i++)
        kr_value_array_push(a, out, cond_value(a, &conds[order[i]], old_conds, now));
    for (size_t i = 0; i < kr_value_len(old_conds); i++) {
        const kr_value_t *o = kr_value_array_get(old_conds, i);
        const char *t = kr_value_map_str(o, "type") ?: "";
        bool ours = false;
        for (size_t k = 0; k < 5; k++)
            ours |= strcmp(t, conds[k].type) == 0;
        if (!ours)
            kr_value_array_push(a, out, kr_value_copy(a, o));
    }
    return out;
}

/* ---- DNS ------------------------------------------------------------------------ */

typedef struct strlist {
    const char **v;
    size_t n;
} strlist_t;

static void sl_add(kr_arena_t *a, strlist_t *l, const char *s, bool unique)
{
    for (size_t i = 0; unique && i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return;
    const char **v = kr_arena_alloc(a, (l->n + 1) * sizeof *v);
    if (l->n > 0)
        memcpy(v, l->v, l->n * sizeof *v);
    v[l->n++] = kr_arena_strdup(a, s);
    l->v = v;
}

/* An option's name: "ndots:5" -> "ndots". */
static size_t opt_name_len(const char *o)
{
    const char *c = strchr(o, ':');
    return c ? (size_t)(c - o) : strlen(o);
}

static void opt_set(kr_arena_t *a, strlist_t *l, const char *o)
{
    size_t n = opt_name_len(o);
    for (size_t i = 0; i < l->n; i++)
        if (opt_name_len(l->v[i]) == n && strncmp(l->v[i], o, n) == 0) {
            l->v[i] = kr_arena_strdup(a, o);
            return;
        }
    sl_add(a, l, o, false);
}

char *ag_hosts_file(kr_arena_t *a, const kr_value_t *pod, const char *pod_ip,
                    const char *cluster_domain)
{
    const kr_value_t *spec = kr_value_map_get(pod, "spec");
    const char *ns = kr_value_as_str(kr_value_get(pod, "metadata.namespace")) ?: "default";
    const char *host = kr_value_map_str(spec, "hostname");
    if (host == NULL || *host == '\0') {
        /* GeneratePodHostNameAndDomain: the name, cut to a DNS label */
        const char *name = kr_value_as_str(kr_value_get(pod, "metadata.name")) ?: "";
        size_t n = strlen(name) > 63 ? 63 : strlen(name);
        while (n > 0 && (name[n - 1] == '-' || name[n - 1] == '.'))
            n--;
        host = kr_arena_strndup(a, name, n);
    }
    const char *sub = kr_value_map_str(spec, "subdomain");
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "# Kubernetes-managed hosts file.\n"
                    "127.0.0.1\tlocalhost\n"
                    "::1\tlocalhost ip6-localhost ip6-loopback\n"
                    "fe00::0\tip6-localnet\n"
                    "fe00::0\tip6-mcastprefix\n"
                    "fe00::1\tip6-allnodes\n"
                    "fe00::2\tip6-allrouters\n");
    if (sub != NULL && *sub)
        kr_buf_printf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", pod_ip, host, sub, ns,
                      cluster_domain ? cluster_domain : "cluster.local", host);
    else
        kr_buf_printf(&b, "%s\t%s\n", pod_ip, host);
    const kr_value_t *aliases = kr_value_map_get(spec, "hostAliases");
    if (kr_value_len(aliases) > 0) {
        kr_buf_puts(&b, "\n# Entries added by HostAliases.\n");
        for (size_t i = 0; i < kr_value_len(aliases); i++) {
            const kr_value_t *al = kr_value_array_get(aliases, i);
            kr_buf_puts(&b, kr_value_map_str(al, "ip") ?: "");
            const kr_value_t *names = kr_value_map_get(al, "hostnames");
            for (size_t j = 0; j < kr_value_len(names); j++)
                kr_buf_printf(&b, "\t%s", kr_value_as_str(kr_value_array_get(names, j)) ?: "");
            kr_buf_puts(&b, "\n");
        }
    }
    char *out = kr_arena_strndup(a, b.data ? b.data : "", b.len);
    kr_buf_free(&b);
    return out;
}

char *ag_resolv_conf(kr_arena_t *a, const kr_value_t *pod, const char *host,
                     const char *cluster_dns, const char *cluster_domain)
{
    const kr_value_t *spec = kr_value_map_get(pod, "spec");
    const char *policy = kr_value_map_str(spec, "dnsPolicy") ?: "ClusterFirst";
    bool host_net = kr_value_as_bool(kr_value_map_get(spec, "hostNetwork"), false);
    bool cluster = cluster_dns != NULL && *cluster_dns &&
                   ((strcmp(policy, "ClusterFirst") == 0 && !host_net) ||
                    strcmp(policy, "ClusterFirstWithHostNet") == 0);
    strlist_t ns = {0}, search = {0}, opts = {0};
    bool none = strcmp(policy, "None") == 0;
    if (cluster) {
        char *list = kr_arena_strdup(a, cluster_dns), *save = NULL;
        for (char *t = strtok_r(list, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save))
            sl_add(a, &ns, t, true);
        const char *pns = kr_value_as_str(kr_value_get(pod, "metadata.namespace")) ?: "default";
        const char *d = cluster_domain && *cluster_domain ? cluster_domain : "cluster.local";
        sl_add(a, &search, kr_arena_printf(a, "%s.svc.%s", pns, d), true);
        sl_add(a, &search, kr_arena_printf(a, "svc.%s", d), true);
        sl_add(a, &search, d, true);
        opt_set(a, &opts, "ndots:5");
    }
    if (!none && host != NULL) {
        char *text = kr_arena_strdup(a, host), *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line != NULL;
             line = strtok_r(NULL, "\n", &save)) {
            char *tok_save = NULL, *key = strtok_r(line, " \t", &tok_save);
            if (key == NULL || key[0] == '#' || key[0] == ';')
                continue;
            for (char *v = strtok_r(NULL, " \t", &tok_save); v != NULL;
                 v = strtok_r(NULL, " \t", &tok_save)) {
                if (strcmp(key, "nameserver") == 0 && !cluster)
                    sl_add(a, &ns, v, true);
                else if (strcmp(key, "search") == 0 || strcmp(key, "domain") == 0)
                    sl_add(a, &search, v, true);
                else if (strcmp(key, "options") == 0 && !cluster)
                    opt_set(a, &opts, v);
            }
        }
    }
    const kr_value_t *dc = kr_value_map_get(spec, "dnsConfig");
    const kr_value_t *l = kr_value_map_get(dc, "nameservers");
    for (size_t i = 0; i < kr_value_len(l); i++)
        sl_add(a, &ns, kr_value_as_str(kr_value_array_get(l, i)) ?: "", true);
    l = kr_value_map_get(dc, "searches");
    for (size_t i = 0; i < kr_value_len(l); i++)
        sl_add(a, &search, kr_value_as_str(kr_value_array_get(l, i)) ?: "", true);
    l = kr_value_map_get(dc, "options");
    for (size_t i = 0; i < kr_value_len(l); i++) {
        const kr_value_t *o = kr_value_array_get(l, i);
        const char *name = kr_value_map_str(o, "name") ?: "", *val = kr_value_map_str(o, "value");
        opt_set(a, &opts, val ? kr_arena_printf(a, "%s:%s", name, val) : name);
    }
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < ns.n && i < 3; i++) /* the resolver reads three */
        kr_buf_printf(&b, "nameserver %s\n", ns.v[i]);
    if (search.n > 0) {
        kr_buf_puts(&b, "search");
        for (size_t i = 0; i < search.n && i < 32; i++)
            kr_buf_printf(&b, " %s", search.v[i]);
        kr_buf_puts(&b, "\n");
    }
    if (opts.n > 0) {
        kr_buf_puts(&b, "options");
        for (size_t i = 0; i < opts.n; i++)
            kr_buf_printf(&b, " %s", opts.v[i]);
        kr_buf_puts(&b, "\n");
    }
    char *out = kr_arena_strndup(a, b.data ? b.data : "", b.len);
    kr_buf_free(&b);
    return out;
}

/* ---- termination messages -------------------------------------------------------- */

const char *ag_termination_message(kr_arena_t *a, const char *file_text, const char *policy,
                                   int exit_code, const char *log)
{
    if (file_text != NULL && *file_text)
        return kr_arena_strndup(a, file_text, strnlen(file_text, 4096));
    if (policy == NULL || strcmp(policy, "FallbackToLogsOnError") != 0 || exit_code == 0 ||
        log == NULL)
        return NULL;
    /* CRI lines: "<time> <stream> <P|F> <text>"; P continues on the next */
    kr_buf_t b = KR_BUF_INIT;
    const char *p = log;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s1 = memchr(p, ' ', len);
        const char *s2 = s1 ? memchr(s1 + 1, ' ', len - (size_t)(s1 + 1 - p)) : NULL;
        const char *s3 = s2 ? memchr(s2 + 1, ' ', len - (size_t)(s2 + 1 - p)) : NULL;
        if (s3 != NULL) {
            kr_buf_append(&b, s3 + 1, len - (size_t)(s3 + 1 - p));
            if (s2[1] != 'P')
                kr_buf_puts(&b, "\n");
        }
        p += len + (end ? 1 : 0);
    }
    if (b.len == 0) {
        kr_buf_free(&b);
        return NULL;
    }
    /* the last 80 lines, then the last 2048 bytes of them */
    size_t start = b.len, lines = 0;
    if (start > 0 && b.data[start - 1] == '\n')
        start--;
    while (start > 0 && lines < 80) {
        if (b.data[start - 1] == '\n' && ++lines == 80)
            break;
        start--;
    }
    if (b.len - start > 2048)
        start = b.len - 2048;
    char *out = kr_arena_strndup(a, b.data + start, b.len - start);
    kr_buf_free(&b);
    return out;
}
