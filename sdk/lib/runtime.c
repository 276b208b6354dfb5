/* The registration of container runtimes (kraal/runtime.h, kept in
 * vtab.c) and the free functions of the runtime interface's output
 * structs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/runtime.h>

#include "plugin_ctx.h"
#include "vtab.h"

/* Every function up to exec_wait is required; container_attach and
 * container_resize are optional (NULL: the runtime cannot attach stdin). */
static bool ops_complete(const kr_runtime_ops_t *o)
{
    return o->struct_size >= sizeof(kr_runtime_ops_t) && o->runtime_name != NULL &&
           o->version != NULL && o->image_pull != NULL && o->image_status != NULL &&
           o->image_list != NULL && o->image_remove != NULL && o->image_import != NULL &&
           o->sandbox_run != NULL && o->sandbox_stop != NULL && o->sandbox_remove != NULL &&
           o->sandbox_status != NULL && o->sandbox_list != NULL && o->container_create != NULL &&
           o->container_start != NULL && o->container_stop != NULL && o->container_remove != NULL &&
           o->container_status != NULL && o->container_list != NULL && o->container_stats != NULL &&
           o->exec_sync != NULL && o->exec_start != NULL && o->exec_resize != NULL &&
           o->exec_wait != NULL;
}

int kr_runtime_register(kr_plugin_ctx_t *ctx, const kr_runtime_ops_t *ops, void *self,
                        kr_error_t *err)
{
    if (ctx == NULL || ops == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST, "kr_runtime_register: ctx and ops are required");
    if (!ops_complete(ops))
        return kr_error_set(
            err, KR_E_BAD_REQUEST,
            "%s: the runtime ops table is incomplete (every function up to exec_wait is "
            "required)",
            ctx->name);
    return kr_vtab_add(KR_VTAB_RUNTIME, ctx, ctx->name, ops, self, "runtime", err);
}

int kr_runtime_find(const char *name, const kr_runtime_ops_t **ops, void **self, kr_error_t *err)
{
    const void *o;
    int rc = kr_vtab_find(KR_VTAB_RUNTIME, name, &o, self, "runtime", NULL, err);
    if (rc == 0)
        *ops = o;
    return rc;
}

/* ---- output structs ------------------------------------------------------ */

void kr_rt_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        free(*p);
    free(v);
}

static void kv_free(kr_rt_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)kv[i].key);
        free((char *)kv[i].value);
    }
    free(kv);
}

void kr_rt_image_free(kr_rt_image_t *img)
{
    if (img == NULL)
        return;
    free(img->id);
    kr_rt_strv_free(img->repo_tags);
    kr_rt_strv_free(img->repo_digests);
    kr_rt_strv_free(img->entrypoint);
    kr_rt_strv_free(img->cmd);
    kr_rt_strv_free(img->env);
    free(img->working_dir);
    free(img->user);
    free(img->stop_signal);
    memset(img, 0, sizeof(*img));
}

void kr_rt_image_list_free(kr_rt_image_t *imgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kr_rt_image_free(&imgs[i]);
    free(imgs);
}

void kr_rt_sandbox_free(kr_rt_sandbox_t *sb)
{
    if (sb == NULL)
        return;
    free(sb->id);
    free(sb->pod_name);
    free(sb->pod_namespace);
    free(sb->pod_uid);
    free(sb->netns_path);
    free(sb->ip);
    kv_free(sb->labels, sb->n_labels);
    memset(sb, 0, sizeof(*sb));
}

void kr_rt_sandbox_list_free(kr_rt_sandbox_t *sbs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kr_rt_sandbox_free(&sbs[i]);
    free(sbs);
}

void kr_rt_container_free(kr_rt_container_t *c)
{
    if (c == NULL)
        return;
    free(c->id);
    free(c->sandbox_id);
    free(c->name);
    free(c->image);
    free(c->image_ref);
    free(c->reason);
    free(c->message);
    free(c->log_path);
    kv_free(c->labels, c->n_labels);
    memset(c, 0, sizeof(*c));
}

void kr_rt_container_list_free(kr_rt_container_t *cs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kr_rt_container_free(&cs[i]);
    free(cs);
}
