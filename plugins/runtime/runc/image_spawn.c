/* Image import and pull through kraal-runc-image (image_helper.c): the
 * plugin spawns it with proc.c's runner, bounded by `image_timeout`, and
 * turns its one-line JSON result back into ids or the error it reported,
 * reason and Kubernetes' wording unchanged.  So the agent never maps
 * libarchive, libcurl or GnuTLS, and never parses an untrusted archive or
 * registry response itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/value.h>

#include "runc.h"

#define HELPER_OUT_MAX (256 * 1024)
#define HELPER_ARGS    64

/* argv: the helper, the command, --root and the insecure registries; the
 * caller appends the rest.  Returns the count; the strings are borrowed. */
static size_t helper_argv(const runc_rt_t *rt, const char *cmd, const char **argv, size_t cap)
{
    size_t n = 0;
    argv[n++] = rt->image_helper_path;
    argv[n++] = cmd;
    argv[n++] = "--root";
    argv[n++] = rt->images_root;
    for (size_t i = 0; rt->insecure[i] != NULL && n + 2 < cap - 8; i++) {
        argv[n++] = "--insecure";
        argv[n++] = rt->insecure[i];
    }
    return n;
}

/* Runs the helper and decodes its result line into `arena`; *out is the
 * success map.  Errors the helper reported come back as they were. */
static int helper_run(runc_rt_t *rt, const char *const *argv, int in_fd, kr_arena_t *arena,
                      kr_value_t **out, kr_error_t *err)
{
    if (rt->image_helper_path == NULL)
        return kr_error_set(err, KR_E_INTERNAL, "kraal-runc-image not found next to the plugin");
    char *buf = malloc(HELPER_OUT_MAX);
    if (buf == NULL)
        abort();
    runc_cmd_result_t res = {.out = buf, .cap = HELPER_OUT_MAX};
    int rc = runc_cmd_run_in(argv, in_fd, rt->conf->image_timeout, &res, err);
    if (rc < 0)
        goto out;
    if (res.timeout) {
        rc = kr_error_set(err, KR_E_TIMEOUT, "%s %s: timed out after %lld ms", argv[0], argv[1],
                          (long long)rt->conf->image_timeout);
        goto out;
    }
    /* The result is the last line; anything before it is a library's
     * complaint on stderr, kept for the message when there is no result. */
    while (res.len > 0 && buf[res.len - 1] == '\n')
        buf[--res.len] = '\0';
    char *line = strrchr(buf, '\n');
    line = line != NULL ? line + 1 : buf;
    kr_value_t *v = NULL;
    kr_error_t jerr = {0};
    if ((res.status != 0 && res.status != 1) || line[0] != '{' ||
        kr_json_decode(arena, line, strlen(line), &v, &jerr) < 0 || kr_value_type(v) != KR_MAP) {
        rc = kr_error_set(err, KR_E_INTERNAL, "%s %s: exit status %d: %.300s", argv[0], argv[1],
                          res.status, buf[0] ? buf : "no output");
        goto out;
    }
    const char *reason = kr_value_as_str(kr_value_map_get(v, "reason"));
    if (res.status != 0 || reason != NULL) {
        const char *msg = kr_value_as_str(kr_value_map_get(v, "message"));
        kr_reason_t r = reason != NULL ? kr_reason_from_name(reason) : KR_E_INTERNAL;
        rc = kr_error_set(err, r == KR_E_OK ? KR_E_INTERNAL : r, "%s", msg ? msg : "failed");
        goto out;
    }
    *out = v;
out:
    free(buf);
    return rc;
}

int runc_image_import_run(runc_rt_t *rt, const char *path, kr_rt_image_format_t format,
                          const char *name, char ***ids, kr_error_t *err)
{
    const char *fname = rc_image_format_name(format);
    if (fname == NULL)
        return kr_error_set(err, KR_E_INVALID, "unknown image format %d", (int)format);
    const char *argv[HELPER_ARGS];
    size_t n = helper_argv(rt, "import", argv, HELPER_ARGS);
    argv[n++] = "--format";
    argv[n++] = fname;
    if (name != NULL) {
        argv[n++] = "--name";
        argv[n++] = name;
    }
    argv[n++] = "--";
    argv[n++] = path;
    argv[n] = NULL;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *v = NULL;
    int rc = helper_run(rt, argv, -1, a, &v, err);
    if (rc == 0) {
        const kr_value_t *arr = kr_value_map_get(v, "ids");
        char **out = calloc(kr_value_len(arr) + 1, sizeof *out);
        if (out == NULL)
            abort();
        for (size_t i = 0, k = 0; i < kr_value_len(arr); i++) {
            const char *id = kr_value_as_str(kr_value_array_get(arr, i));
            if (id != NULL)
                out[k++] = runc_strdup0(id);
        }
        *ids = out;
    }
    kr_arena_destroy(&a);
    return rc;
}

/* A pipe already holding the credentials as JSON, its read end in *fd
 * (the helper's stdin).  The write never blocks: it is
 * non-blocking and must fit the pipe's buffer whole. */
static int auth_pipe(const kr_rt_auth_t *auth, int *fd, kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *m = kr_value_map(a);
    if (auth->username != NULL)
        kr_value_map_set(a, m, "username", kr_value_str(a, auth->username));
    if (auth->password != NULL)
        kr_value_map_set(a, m, "password", kr_value_str(a, auth->password));
    kr_buf_t json = KR_BUF_INIT;
    int rc = kr_json_encode(m, &json, KR_JSON_COMPACT, err);
    kr_arena_destroy(&a);
    int p[2] = {-1, -1};
    if (rc == 0 && pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "pipe: %s", strerror(errno));
    if (rc == 0) {
        ssize_t w = write(p[1], json.data, json.len);
        if (w < 0 || (size_t)w != json.len)
            rc = kr_error_set(err, KR_E_INVALID, "registry credentials: too large (%zu bytes)",
                              json.len);
        close(p[1]);
    }
    /* The helper reads its stdin blocking. */
    if (rc == 0 && fcntl(p[0], F_SETFL, 0) < 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "fcntl: %s", strerror(errno));
    if (json.data != NULL)
        explicit_bzero(json.data, json.len);
    kr_buf_free(&json);
    if (rc < 0 && p[0] >= 0)
        close(p[0]);
    *fd = rc < 0 ? -1 : p[0];
    return rc;
}

int runc_image_pull_run(runc_rt_t *rt, const char *ref, const kr_rt_auth_t *auth,
                        char id[KR_RT_ID_MAX], kr_error_t *err)
{
    const char *argv[HELPER_ARGS];
    size_t n = helper_argv(rt, "pull", argv, HELPER_ARGS);
    int in_fd = -1;
    if (auth != NULL && (auth->username != NULL || auth->password != NULL)) {
        int rc = auth_pipe(auth, &in_fd, err);
        if (rc < 0)
            return rc;
        argv[n++] = "--auth-stdin";
    }
    argv[n++] = "--";
    argv[n++] = ref;
    argv[n] = NULL;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *v = NULL;
    int rc = helper_run(rt, argv, in_fd, a, &v, err);
    if (in_fd >= 0)
        close(in_fd);
    const char *got = rc == 0 ? kr_value_as_str(kr_value_map_get(v, "id")) : NULL;
    if (rc == 0 && (got == NULL || strlen(got) >= KR_RT_ID_MAX))
        rc = kr_error_set(err, KR_E_INTERNAL, "%s pull: no image id in its result", argv[0]);
    else if (rc == 0)
        snprintf(id, KR_RT_ID_MAX, "%s", got);
    kr_arena_destroy(&a);
    return rc;
}
