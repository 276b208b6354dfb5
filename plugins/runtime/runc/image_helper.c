/* kraal-runc-image — the runc plugin's image import and pull, run as a
 * process of their own (docs/images.md).
 *
 *   kraal-runc-image import --root DIR [--insecure HOST]... [--format F]
 *                           [--name NAME] [--] PATH
 *   kraal-runc-image pull --root DIR [--insecure HOST]... [--auth-stdin] [--] REF
 *
 * The plugin spawns it so that the agent neither maps libarchive, libcurl
 * and GnuTLS (5.9 MB of its RSS) nor parses untrusted archives and registry
 * responses in its own address space.  It writes the store the same way the
 * plugin's in-process code did: the store's flocks and renames make a second
 * process safe.
 *
 * With --auth-stdin, the registry credentials come as JSON
 * {"username": ..., "password": ...} on stdin, never in argv (which any
 * user can read in /proc).  The result is one JSON line on stdout:
 * {"ids": [...]} after an import, {"id": ...} after a pull, or
 * {"reason": "<Kubernetes Status reason>", "message": ...} with exit
 * status 1; usage errors exit 2. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "image_store.h"

#define AUTH_MAX (64 * 1024)

static int usage(void)
{
    fputs("usage: kraal-runc-image import --root DIR [--insecure HOST]... [--format F] "
          "[--name NAME] [--] PATH\n"
          "       kraal-runc-image pull --root DIR [--insecure HOST]... [--auth-stdin] [--] REF\n",
          stderr);
    return 2;
}

/* Prints the result line; `v` is the success value or NULL for err. */
static int emit(kr_arena_t *a, kr_value_t *v, const kr_error_t *err)
{
    if (v == NULL) {
        v = kr_value_map(a);
        kr_value_map_set(a, v, "reason", kr_value_str(a, kr_reason_name(err->reason)));
        kr_value_map_set(a, v, "message", kr_value_str(a, err->message));
    }
    kr_buf_t out = KR_BUF_INIT;
    kr_error_t jerr = {0};
    int rc = kr_json_encode(v, &out, KR_JSON_COMPACT, &jerr);
    if (rc == 0) {
        kr_buf_append(&out, "\n", 1);
        rc = rc_write_all(1, out.data, out.len);
    }
    kr_buf_free(&out);
    return rc;
}

/* Reads {"username", "password"} from stdin into `auth` (arena strings). */
static int read_auth(kr_arena_t *a, kr_rt_auth_t *auth, kr_error_t *err)
{
    char *buf = rc_xcalloc(1, AUTH_MAX + 1);
    size_t len = 0;
    for (;;) {
        ssize_t r = read(0, buf + len, AUTH_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return kr_error_set(err, KR_E_INTERNAL, "cannot read credentials: %s", strerror(errno));
        }
        if (r == 0 || (len += (size_t)r) == AUTH_MAX)
            break;
    }
    kr_value_t *v = NULL;
    int rc = kr_json_decode(a, buf, len, &v, err);
    free(buf);
    if (rc < 0)
        return kr_error_wrap(err, "credentials");
    auth->username = kr_value_as_str(kr_value_map_get(v, "username"));
    auth->password = kr_value_as_str(kr_value_map_get(v, "password"));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *cmd = argv[1], *root = NULL, *name = NULL, *target = NULL;
    kr_rt_image_format_t format = KR_RT_IMAGE_AUTO;
    bool auth_stdin = false, options = true;
    const char **insecure = rc_xcalloc((size_t)argc, sizeof *insecure);
    size_t n_insecure = 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        bool has_value = i + 1 < argc;
        if (!options || arg[0] != '-') {
            if (target != NULL) {
                free(insecure);
                return usage();
            }
            target = arg;
        } else if (strcmp(arg, "--") == 0) {
            options = false; /* a path that starts with '-' follows */
        } else if (strcmp(arg, "--root") == 0 && has_value) {
            root = argv[++i];
        } else if (strcmp(arg, "--insecure") == 0 && has_value) {
            insecure[n_insecure++] = argv[++i];
        } else if (strcmp(arg, "--name") == 0 && has_value) {
            name = argv[++i];
        } else if (strcmp(arg, "--format") == 0 && has_value) {
            if (rc_image_format_parse(argv[++i], &format) < 0) {
                free(insecure);
                return usage();
            }
        } else if (strcmp(arg, "--auth-stdin") == 0) {
            auth_stdin = true;
        } else {
            free(insecure);
            return usage();
        }
    }
    bool import = strcmp(cmd, "import") == 0;
    if ((!import && strcmp(cmd, "pull") != 0) || root == NULL || target == NULL) {
        free(insecure);
        return usage();
    }

    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err = {0};
    kr_value_t *result = NULL;
    rc_images_opts_t opts = {.root = root, .insecure_registries = insecure};
    rc_images_t *s = rc_images_open(&opts, &err);
    if (s != NULL && import) {
        char **ids = NULL;
        if (rc_images_import(s, target, format, name, &ids, &err) == 0) {
            kr_value_t *arr = kr_value_array(a);
            for (size_t i = 0; ids != NULL && ids[i] != NULL; i++)
                kr_value_array_push(a, arr, kr_value_str(a, ids[i]));
            result = kr_value_map(a);
            kr_value_map_set(a, result, "ids", arr);
        }
        kr_rt_strv_free(ids);
    } else if (s != NULL) {
        kr_rt_auth_t auth = {0};
        char id[KR_RT_ID_MAX];
        if ((!auth_stdin || read_auth(a, &auth, &err) == 0) &&
            rc_images_pull(s, target, &auth, id, &err) == 0) {
            result = kr_value_map(a);
            kr_value_map_set(a, result, "id", kr_value_str(a, id));
        }
    }
    rc_images_close(&s);
    int rc = emit(a, result, &err) < 0 ? 3 : result != NULL ? 0 : 1;
    kr_arena_destroy(&a);
    free(insecure);
    return rc;
}
