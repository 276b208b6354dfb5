/* runtime-runc — pods and containers through an OCI runtime binary (runc,
 * or crun with `binary: crun`), implementing kraal/runtime.h.  Design and
 * config: docs/runtime.md.
 *
 * init registers the runtime and needs no bus: `kraal image` loads this
 * plugin with no server to use its image store. */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runc.h"

static const kr_config_entry_t runc_config[] = {
    {KR_CFG_STRING, "binary", "runc", offsetof(runc_conf_t, binary),
     "the OCI runtime binary, a name looked up in PATH or a path (runc, crun)"},
    {KR_CFG_STRING, "root", "", offsetof(runc_conf_t, root),
     "the runtime's --root state directory; empty: <run_dir>/runtime/<instance>"},
    {KR_CFG_STRING, "cgroup_parent", "kraal", offsetof(runc_conf_t, cgroup_parent),
     "cgroup under which a sandbox without a cgroup_parent of its own gets <parent>/<sandbox id>"},
    {KR_CFG_STRING, "shim", "", offsetof(runc_conf_t, shim),
     "path of kraal-runc-shim; empty: the one installed next to this plugin"},
    {KR_CFG_STRING, "image_helper", "", offsetof(runc_conf_t, image_helper),
     "path of kraal-runc-image, which imports and pulls images; empty: the one installed next "
     "to this plugin"},
    {KR_CFG_STRING, "log_max_size", "10Mi", offsetof(runc_conf_t, log_max_size),
     "a container log is rotated when it would grow past this size (a quantity)"},
    {KR_CFG_INT, "log_max_files", "5", offsetof(runc_conf_t, log_max_files),
     "log files kept per container, the current one included"},
    {KR_CFG_DURATION, "command_timeout", "60s", offsetof(runc_conf_t, command_timeout),
     "longest a runtime command (create, start, delete) may run before it is killed"},
    {KR_CFG_DURATION, "image_timeout", "30m", offsetof(runc_conf_t, image_timeout),
     "longest an image import or pull may run before kraal-runc-image is killed"},
    {KR_CFG_VALUE, "insecure_registries", NULL, offsetof(runc_conf_t, insecure_registries),
     "registries (host[:port]) pulled from over plain HTTP; loopback ones always may be"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

/* ---- images: the store's functions, plus the in-use check ------------------ */

static int runc_image_pull(void *self, const char *ref, const kr_rt_auth_t *auth,
                           char id[KR_RT_ID_MAX], kr_error_t *err)
{
    runc_rt_t *rt = self;
    return runc_image_pull_run(rt, ref, auth, id, err);
}

static int runc_image_status(void *self, const char *ref, kr_rt_image_t *out, kr_error_t *err)
{
    runc_rt_t *rt = self;
    return rc_images_status(rt->images, ref, out, err);
}

static int runc_image_list(void *self, kr_rt_image_t **out, size_t *n, kr_error_t *err)
{
    runc_rt_t *rt = self;
    return rc_images_list(rt->images, out, n, err);
}

static int runc_image_remove(void *self, const char *ref, kr_error_t *err)
{
    runc_rt_t *rt = self;
    kr_rt_image_t img = {0};
    int rc = rc_images_status(rt->images, ref, &img, err);
    if (rc < 0)
        return rc;
    char ctr[KR_RT_ID_MAX];
    if (runc_ctr_uses_image(rt, img.id, ctr, sizeof ctr))
        /* Docker's wording for the same refusal. */
        rc = kr_error_set(err, KR_E_CONFLICT,
                          "conflict: unable to remove repository reference \"%s\" (must force) - "
                          "container %s is using its referenced image %s",
                          ref, ctr, img.id);
    kr_rt_image_free(&img);
    return rc < 0 ? rc : rc_images_remove(rt->images, ref, err);
}

static int runc_image_import(void *self, const char *path, kr_rt_image_format_t format,
                             const char *name, char ***ids, kr_error_t *err)
{
    runc_rt_t *rt = self;
    return runc_image_import_run(rt, path, format, name, ids, err);
}

/* "runc://1.1.5+ds1" from the first line of `<binary> --version`
 * ("runc version 1.1.5+ds1", "crun version 1.8.1"). */
static int runc_version(void *self, char *buf, size_t len, kr_error_t *err)
{
    runc_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    bool cached = rt->version[0] != '\0';
    if (cached)
        snprintf(buf, len, "%s", rt->version);
    pthread_mutex_unlock(&rt->mu);
    if (cached)
        return 0;
    const char *argv[] = {rt->conf->binary, "--version", NULL};
    char out[1024];
    runc_cmd_result_t res = {.out = out, .cap = sizeof out};
    if (runc_cmd_run(argv, rt->conf->command_timeout, &res, err) < 0)
        return -KR_E_INTERNAL;
    char name[64], ver[64];
    if (res.status != 0 || sscanf(out, "%63s version %63s", name, ver) != 2)
        return kr_error_set(err, KR_E_INTERNAL, "%s --version: unexpected output \"%.100s\"",
                            rt->conf->binary, out);
    pthread_mutex_lock(&rt->mu);
    snprintf(rt->version, sizeof rt->version, "%.40s://%.60s", name, ver);
    snprintf(buf, len, "%s", rt->version);
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

/* ---- the instance ---------------------------------------------------------- */

static char *path_join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 3;
    char *p = malloc(n);
    if (p == NULL)
        abort();
    snprintf(p, n, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
    return p;
}

/* An executable next to this .so (lib/kraal/plugins in the build tree and
 * when installed): kraal-runc-shim, kraal-runc-image. */
static char *sibling_path(const char *name)
{
    Dl_info info;
    if (dladdr((void *)sibling_path, &info) == 0 || info.dli_fname == NULL)
        return NULL;
    char *copy = runc_strdup0(info.dli_fname);
    char *p = path_join(dirname(copy), name, NULL);
    free(copy);
    return p;
}

static void runc_fini(void *instance)
{
    runc_rt_t *rt = instance;
    if (rt == NULL)
        return;
    /* The shims and containers keep running: a new instance adopts them. */
    rc_images_close(&rt->images);
    for (size_t i = 0; i < rt->n_sbs; i++)
        runc_sandbox_free(rt->sbs[i]);
    free(rt->sbs);
    for (size_t i = 0; i < rt->n_ctrs; i++)
        runc_ctr_free(rt->ctrs[i]);
    free(rt->ctrs);
    pthread_mutex_destroy(&rt->mu);
    if (rt->insecure != NULL)
        for (size_t i = 0; rt->insecure[i] != NULL; i++)
            free(rt->insecure[i]);
    free(rt->insecure);
    free(rt->name);
    free(rt->runtime_name);
    free(rt->state_dir);
    free(rt->run_dir);
    free(rt->root);
    free(rt->shim_path);
    free(rt->image_helper_path);
    free(rt->images_root);
    free(rt);
}

static void *runc_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const runc_conf_t *conf = config;
    runc_rt_t *rt = calloc(1, sizeof *rt);
    if (rt == NULL)
        abort();
    pthread_mutex_init(&rt->mu, NULL);
    rt->conf = conf;
    rt->name = runc_strdup0(kr_plugin_name(ctx));
    rt->state_dir = path_join(kr_plugin_data_dir(ctx), "runtime", rt->name);
    rt->run_dir = path_join(kr_plugin_run_dir(ctx), "runtime", rt->name);
    rt->root = runc_strdup0(conf->root && conf->root[0] ? conf->root : rt->run_dir);
    rt->shim_path =
        conf->shim && conf->shim[0] ? runc_strdup0(conf->shim) : sibling_path(RUNC_SHIM_NAME);
    rt->image_helper_path = conf->image_helper && conf->image_helper[0]
                                ? runc_strdup0(conf->image_helper)
                                : sibling_path(RUNC_IMAGE_NAME);
    char *bin = runc_strdup0(conf->binary);
    rt->runtime_name = runc_strdup0(basename(bin));
    free(bin);
    rt->cap_bound = runc_cap_bound();
    rt->memory_swap = access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0;

    kr_quantity_t q;
    if (kr_quantity_parse(conf->log_max_size, &q, err) < 0) {
        kr_error_wrap(err, "log_max_size");
        goto fail;
    }
    rt->log_max_size = (uint64_t)kr_quantity_value(&q);
    if (conf->log_max_files < 1) {
        kr_error_set(err, KR_E_INVALID, "log_max_files: must be at least 1");
        goto fail;
    }
    const kr_value_t *ir = conf->insecure_registries;
    if (ir != NULL && kr_value_type(ir) != KR_ARRAY) {
        kr_error_set(err, KR_E_INVALID, "insecure_registries: must be a list of host[:port]");
        goto fail;
    }
    rt->insecure = calloc(kr_value_len(ir) + 1, sizeof *rt->insecure);
    if (rt->insecure == NULL)
        abort();
    for (size_t i = 0; i < kr_value_len(ir); i++) {
        const char *s = kr_value_as_str(kr_value_array_get(ir, i));
        if (s == NULL) {
            kr_error_set(err, KR_E_INVALID, "insecure_registries[%zu]: must be a string", i);
            goto fail;
        }
        rt->insecure[i] = runc_strdup0(s);
    }

    /* No directory is made here: `kraal image` may load the plugin where
     * run_dir is not writable; sandboxes and containers make theirs, the
     * runtime its --root. */
    rt->images_root = path_join(kr_plugin_data_dir(ctx), "images", NULL);
    rc_images_opts_t io = {.root = rt->images_root,
                           .insecure_registries = (const char *const *)rt->insecure};
    rt->images = rc_images_open(&io, err);
    if (rt->images == NULL)
        goto fail;
    if (runc_sandbox_load(rt, err) < 0 || runc_ctr_load(rt, err) < 0)
        goto fail;
    if (rt->shim_path == NULL || access(rt->shim_path, X_OK) < 0)
        kr_plugin_log(ctx, KR_LOG_WARN, "shim not found: containers cannot be created",
                      "path=\"%s\"", rt->shim_path ? rt->shim_path : "");
    if (rt->image_helper_path == NULL || access(rt->image_helper_path, X_OK) < 0)
        kr_plugin_log(ctx, KR_LOG_WARN,
                      "image helper not found: images cannot be imported or pulled", "path=\"%s\"",
                      rt->image_helper_path ? rt->image_helper_path : "");

    rt->ops = (kr_runtime_ops_t){
        .struct_size = sizeof(kr_runtime_ops_t),
        .runtime_name = rt->runtime_name,
        .version = runc_version,
        .image_pull = runc_image_pull,
        .image_status = runc_image_status,
        .image_list = runc_image_list,
        .image_remove = runc_image_remove,
        .image_import = runc_image_import,
        .sandbox_run = runc_sandbox_run,
        .sandbox_stop = runc_sandbox_stop,
        .sandbox_remove = runc_sandbox_remove,
        .sandbox_status = runc_sandbox_status,
        .sandbox_list = runc_sandbox_list,
        .container_create = runc_container_create,
        .container_start = runc_container_start,
        .container_stop = runc_container_stop,
        .container_remove = runc_container_remove,
        .container_status = runc_container_status,
        .container_list = runc_container_list,
        .container_stats = runc_container_stats,
        .exec_sync = runc_exec_sync,
        .exec_start = runc_exec_start,
        .exec_resize = runc_exec_resize,
        .exec_wait = runc_exec_wait,
        .container_attach = runc_container_attach,
        .container_resize = runc_container_resize,
    };
    if (kr_runtime_register(ctx, &rt->ops, rt, err) < 0)
        goto fail;
    kr_plugin_log(ctx, KR_LOG_INFO, "runtime ready",
                  "binary=%s state=\"%s\" sandboxes=%zu containers=%zu", conf->binary,
                  rt->state_dir, rt->n_sbs, rt->n_ctrs);
    return rt;
fail:
    runc_fini(rt);
    return NULL;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "runtime",
    .name = "runc",
    .version = "0.1.0",
    .description = "pods and containers through an OCI runtime binary (runc, crun)",
    .config = runc_config,
    .config_size = sizeof(runc_conf_t),
    .init = runc_init,
    .fini = runc_fini,
};
