/* agent-node: pod volumes on the host (volume.h). */
#include "volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <kraal/base64.h>

#define TMPFS_MAGIC_NUM 0x01021994
#define DATA_LINK       "..data"
#define DATA_TMP        "..data_tmp"

/* ---- helpers ---------------------------------------------------------------------- */

/* A relative path with no "..", "." or empty element (validateLocalDescendingPath). */
static bool path_ok(const char *p)
{
    if (p == NULL || *p == '\0' || *p == '/')
        return false;
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 2 && strncmp(s, "..", 2) == 0) || (n == 1 && *s == '.'))
            return false;
        if (strncmp(s, "..", 2) == 0 && s == p)
            return false; /* names starting with ".." are the writer's own */
        s += n;
        if (*s == '/')
            s++;
    }
    return true;
}

static void payload_add(kr_arena_t *a, ag_payload_t *pl, const char *path, const char *data,
                        size_t len, int mode)
{
    for (size_t i = 0; i < pl->n; i++)
        if (strcmp(pl->files[i].path, path) == 0) {
            pl->files[i] = (ag_file_t){kr_arena_strdup(a, path), data, len, mode};
            return;
        }
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 8;
        ag_file_t *f = kr_arena_alloc(a, cap * sizeof *f);
        if (pl->n > 0)
            memcpy(f, pl->files, pl->n * sizeof *f);
        pl->files = f;
        pl->cap = cap;
    }
    pl->files[pl->n++] = (ag_file_t){kr_arena_strdup(a, path), data, len, mode};
}

/* ---- the atomic writer ------------------------------------------------------------ */

static bool file_same(const char *path, const ag_file_t *f)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != f->len ||
        (int)(st.st_mode & 07777) != f->mode)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[4096];
    size_t off = 0;
    bool same = true;
    while (same && off < f->len) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0 || off + (size_t)r > f->len || memcmp(buf, f->data + off, (size_t)r) != 0)
            same = false;
        else
            off += (size_t)r;
    }
    close(fd);
    return same && off == f->len;
}

/* Regular files below a directory (recursive, symlinks not followed). */
static size_t files_below(const char *dir, int depth)
{
    DIR *d = depth < 32 ? opendir(dir) : NULL;
    struct dirent *de;
    size_t n = 0;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            n += files_below(path, depth + 1);
        else
            n++;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

static bool payload_current(kr_arena_t *a, const char *dir, const ag_payload_t *pl)
{
    char target[512];
    ssize_t n = readlink(kr_arena_printf(a, "%s/" DATA_LINK, dir), target, sizeof target - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    const char *data = kr_arena_printf(a, "%s/%s", dir, target);
    for (size_t i = 0; i < pl->n; i++)
        if (!file_same(kr_arena_printf(a, "%s/%s", data, pl->files[i].path), &pl->files[i]))
            return false;
    return files_below(data, 0) == pl->n;
}

static int write_file(const char *path, const ag_file_t *f, kr_error_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "open %s: %s", path, strerror(errno));
    size_t off = 0;
    while (off < f->len) {
        ssize_t w = write(fd, f->data + off, f->len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return kr_error_set(err, KR_E_INTERNAL, "write %s: %s", path, strerror(errno));
        }
        off += (size_t)w;
    }
    if (fchmod(fd, (mode_t)f->mode) < 0 || close(fd) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "chmod %s: %s", path, strerror(errno));
    return 0;
}

/* The first element of a relative path. */
static const char *top_of(kr_arena_t *a, const char *path)
{
    const char *s = strchr(path, '/');
    return s ? kr_arena_strndup(a, path, (size_t)(s - path)) : path;
}

int ag_atomic_write(kr_arena_t *a, const char *dir, const ag_payload_t *pl, kr_error_t *err)
{
    for (size_t i = 0; i < pl->n; i++)
        if (!path_ok(pl->files[i].path))
            return kr_error_set(err, KR_E_INVALID, "invalid path: %s", pl->files[i].path);
    if (kr_mkdir_p(dir, 0755, err) < 0)
        return -1;
    if (payload_current(a, dir, pl))
        return 0;
    char old[512] = "";
    ssize_t on = readlink(kr_arena_printf(a, "%s/" DATA_LINK, dir), old, sizeof old - 1);
    if (on > 0)
        old[on] = '\0';
    else
        old[0] = '\0';
    /* "..2006_01_02_15_04_05.<random>" */
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char stamp[64];
    strftime(stamp, sizeof stamp, "..%Y_%m_%d_%H_%M_%S.XXXXXX", &tm);
    char *ts = kr_arena_printf(a, "%s/%s", dir, stamp);
    if (mkdtemp(ts) == NULL)
        return kr_error_set(err, KR_E_INTERNAL, "mkdtemp in %s: %s", dir, strerror(errno));
    chmod(ts, 0755);
    const char *ts_name = strrchr(ts, '/') + 1;
    for (size_t i = 0; i < pl->n; i++) {
        const ag_file_t *f = &pl->files[i];
        const char *path = kr_arena_printf(a, "%s/%s", ts, f->path);
        const char *slash = strrchr(path, '/');
        if (kr_mkdir_p(kr_arena_strndup(a, path, (size_t)(slash - path)), 0755, err) < 0 ||
            write_file(path, f, err) < 0) {
            kr_rmtree(ts, NULL);
            return -1;
        }
    }
    const char *tmp = kr_arena_printf(a, "%s/" DATA_TMP, dir);
    unlink(tmp);
    if (symlink(ts_name, tmp) < 0 || rename(tmp, kr_arena_printf(a, "%s/" DATA_LINK, dir)) < 0) {
        int e = errno;
        kr_rmtree(ts, NULL);
        return kr_error_set(err, KR_E_INTERNAL, "publishing %s: %s", dir, strerror(e));
    }
    /* user-visible names: symlinks into ..data */
    for (size_t i = 0; i < pl->n; i++) {
        const char *top = top_of(a, pl->files[i].path);
        const char *link = kr_arena_printf(a, "%s/%s", dir, top);
        struct stat st;
        if (lstat(link, &st) == 0)
            continue;
        if (symlink(kr_arena_printf(a, DATA_LINK "/%s", top), link) < 0)
            return kr_error_set(err, KR_E_INTERNAL, "symlink %s: %s", link, strerror(errno));
    }
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "..", 2) == 0 || strcmp(de->d_name, ".") == 0)
            continue;
        bool keep = false;
        for (size_t i = 0; i < pl->n && !keep; i++)
            keep = strcmp(top_of(a, pl->files[i].path), de->d_name) == 0;
        if (!keep)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    if (d != NULL)
        closedir(d);
    if (old[0] != '\0' && strchr(old, '/') == NULL && strncmp(old, "..", 2) == 0)
        kr_rmtree(kr_arena_printf(a, "%s/%s", dir, old), NULL);
    return 1;
}

/* ---- payloads ----------------------------------------------------------------------- */

static int mode_of(const kr_value_t *item, int dflt)
{
    const kr_value_t *m = kr_value_map_get(item, "mode");
    return kr_value_type(m) == KR_INT ? (int)(kr_value_as_int(m, dflt) & 0777) : dflt;
}

/* configMap or secret (projected or not). */
static int object_payload(kr_arena_t *a, bool secret, const kr_value_t *src,
                          const ag_env_ctx_t *ctx, int dmode, ag_payload_t *out, kr_error_t *err)
{
    const char *name = kr_value_map_str(src, secret ? "secretName" : "name");
    if (name == NULL && secret)
        name = kr_value_map_str(src, "name"); /* projected secrets say "name" */
    bool optional = kr_value_as_bool(kr_value_map_get(src, "optional"), false);
    const char *ns = kr_value_as_str(kr_value_get(ctx->pod, "metadata.namespace")) ?: "default";
    const kr_value_t *obj = NULL;
    kr_error_t e;
    if (ctx->lookup == NULL || ctx->lookup(ctx->ud, secret ? "secrets" : "configmaps", ns,
                                           name ? name : "", &obj, &e) < 0) {
        if (ctx->lookup != NULL && e.reason == KR_E_NOT_FOUND && optional)
            return 0;
        if (ctx->lookup == NULL)
            return kr_error_set(err, KR_E_INTERNAL, "no lookup for %s", name ? name : "");
        return kr_error_set(err, e.reason, "%s", e.message);
    }
    const kr_value_t *data = kr_value_map_get(obj, "data");
    const kr_value_t *bin = secret ? NULL : kr_value_map_get(obj, "binaryData");
    const kr_value_t *items = kr_value_map_get(src, "items");
    /* the value of a key: text, or base64 (secret data, binaryData) */
    for (size_t pass = 0; pass < 2; pass++) {
        const kr_value_t *m = pass == 0 ? data : bin;
        bool b64 = secret || pass == 1;
        if (kr_value_len(items) > 0)
            break;
        for (size_t i = 0; i < kr_value_len(m); i++) {
            const char *v = kr_value_as_str(kr_value_map_val(m, i)) ?: "";
            size_t len = strlen(v);
            if (b64 && (v = kr_base64_decode_str(a, v, KR_B64_STD, &len)) == NULL)
                continue;
            payload_add(a, out, kr_value_map_key(m, i), v, len, dmode);
        }
    }
    for (size_t i = 0; i < kr_value_len(items); i++) {
        const kr_value_t *it = kr_value_array_get(items, i);
        const char *key = kr_value_map_str(it, "key") ?: "";
        const char *path = kr_value_map_str(it, "path") ?: key;
        const char *v = kr_value_as_str(kr_value_map_get(data, key));
        bool b64 = secret;
        if (v == NULL && bin != NULL && (v = kr_value_as_str(kr_value_map_get(bin, key))) != NULL)
            b64 = true;
        if (v == NULL) {
            if (optional)
                continue;
            return kr_error_set(err, KR_E_INVALID,
                                secret ? "references non-existent secret key: %s"
                                       : "configmap references non-existent config key: %s",
                                key);
        }
        size_t len = strlen(v);
        if (b64 && (v = kr_base64_decode_str(a, v, KR_B64_STD, &len)) == NULL)
            return kr_error_set(err, KR_E_INVALID, "key %s of %s: not base64", key, name);
        payload_add(a, out, path, v, len, mode_of(it, dmode));
    }
    return 0;
}

static int downward_payload(kr_arena_t *a, const kr_value_t *src, const ag_env_ctx_t *ctx,
                            int dmode, ag_payload_t *out, kr_error_t *err)
{
    const kr_value_t *items = kr_value_map_get(src, "items");
    for (size_t i = 0; i < kr_value_len(items); i++) {
        const kr_value_t *it = kr_value_array_get(items, i);
        const char *path = kr_value_map_str(it, "path") ?: "";
        const char *v = NULL;
        if (kr_value_map_get(it, "fieldRef") != NULL) {
            const char *fp = kr_value_as_str(kr_value_get(it, "fieldRef.fieldPath")) ?: "";
            if (ag_field_ref(a, ctx->pod, fp, ctx->pod_ip, ctx->host_ip, &v, err) < 0)
                return -1;
        } else if (kr_value_map_get(it, "resourceFieldRef") != NULL) {
            if (ag_resource_field_ref(a, kr_value_map_get(it, "resourceFieldRef"), NULL, ctx, &v,
                                      err) < 0)
                return -1;
        } else {
            continue;
        }
        payload_add(a, out, path, v, strlen(v), mode_of(it, dmode));
    }
    return 0;
}

/* A serviceAccountToken projection: the token at its path, with the
 * volume's mode, as the kubelet's projected volume writes it. */
static int token_payload(kr_arena_t *a, const kr_value_t *src, const ag_env_ctx_t *ctx, int dmode,
                         ag_payload_t *out, kr_error_t *err)
{
    const char *path = kr_value_map_str(src, "path");
    const char *token = NULL;
    if (!path_ok(path))
        return kr_error_set(err, KR_E_INVALID, "serviceAccountToken path \"%s\" is not allowed",
                            path ? path : "");
    if (ctx->sa_token(ctx->ud, a, src, &token, err) < 0)
        return -1;
    payload_add(a, out, path, token, strlen(token), dmode);
    return 0;
}

int ag_volume_payload(kr_arena_t *a, const char *kind, const kr_value_t *src,
                      const ag_env_ctx_t *ctx, ag_payload_t *out, kr_error_t *err)
{
    const kr_value_t *dm = kr_value_map_get(src, "defaultMode");
    int dmode = kr_value_type(dm) == KR_INT ? (int)(kr_value_as_int(dm, 0644) & 0777) : 0644;
    if (strcmp(kind, "configMap") == 0 || strcmp(kind, "secret") == 0)
        return object_payload(a, strcmp(kind, "secret") == 0, src, ctx, dmode, out, err);
    if (strcmp(kind, "downwardAPI") == 0)
        return downward_payload(a, src, ctx, dmode, out, err);
    if (strcmp(kind, "projected") == 0) {
        const kr_value_t *sources = kr_value_map_get(src, "sources");
        for (size_t i = 0; i < kr_value_len(sources); i++) {
            const kr_value_t *s = kr_value_array_get(sources, i);
            const kr_value_t *sub;
            int rc = 0;
            if ((sub = kr_value_map_get(s, "configMap")) != NULL)
                rc = object_payload(a, false, sub, ctx, dmode, out, err);
            else if ((sub = kr_value_map_get(s, "secret")) != NULL)
                rc = object_payload(a, true, sub, ctx, dmode, out, err);
            else if ((sub = kr_value_map_get(s, "downwardAPI")) != NULL)
                rc = downward_payload(a, sub, ctx, dmode, out, err);
            else if ((sub = kr_value_map_get(s, "serviceAccountToken")) != NULL &&
                     ctx->sa_token != NULL)
                rc = token_payload(a, sub, ctx, dmode, out, err);
            /* clusterTrustBundle: no ClusterTrustBundle kind, left out */
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    return kr_error_set(err, KR_E_INVALID, "volume source %s has no payload", kind);
}

/* ---- volumes ------------------------------------------------------------------------- */

static const char *const file_kinds[] = {"configMap", "secret", "downwardAPI", "projected"};

static const char *plugin_dir(const char *kind)
{
    if (strcmp(kind, "emptyDir") == 0)
        return "kubernetes.io~empty-dir";
    if (strcmp(kind, "configMap") == 0)
        return "kubernetes.io~configmap";
    if (strcmp(kind, "secret") == 0)
        return "kubernetes.io~secret";
    if (strcmp(kind, "downwardAPI") == 0)
        return "kubernetes.io~downward-api";
    if (strcmp(kind, "projected") == 0)
        return "kubernetes.io~projected";
    return NULL;
}

/* The source key of a volume ("emptyDir", "hostPath", ...), or NULL. */
static const char *volume_kind(const kr_value_t *vol)
{
    for (size_t i = 0; i < kr_value_len(vol); i++) {
        const char *k = kr_value_map_key(vol, i);
        if (strcmp(k, "name") != 0)
            return k;
    }
    return NULL;
}

const char *ag_volume_dir(kr_arena_t *a, const char *pod_dir, const kr_value_t *vol)
{
    const char *kind = volume_kind(vol);
    if (kind == NULL)
        return NULL;
    if (strcmp(kind, "hostPath") == 0)
        return kr_value_as_str(kr_value_get(vol, "hostPath.path"));
    const char *pd = plugin_dir(kind);
    if (pd == NULL)
        return NULL;
    return kr_arena_printf(a, "%s/volumes/%s/%s", pod_dir, pd, kr_value_map_str(vol, "name") ?: "");
}

static bool is_tmpfs_mount(const char *dir)
{
    struct statfs fs;
    struct stat st, parent;
    char up[4096];
    snprintf(up, sizeof up, "%s/..", dir);
    return statfs(dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC_NUM && stat(dir, &st) == 0 &&
           stat(up, &parent) == 0 && st.st_dev != parent.st_dev;
}

static int empty_dir(kr_arena_t *a, const kr_value_t *src, const char *dir, kr_error_t *err)
{
    if (kr_mkdir_p(dir, 0777, err) < 0)
        return -1;
    chmod(dir, 0777);
    const char *medium = kr_value_map_str(src, "medium") ?: "";
    if (strcmp(medium, "Memory") != 0 || is_tmpfs_mount(dir))
        return 0;
    kr_quantity_t q;
    const char *opts = "mode=0777";
    if (ag_quantity(kr_value_map_get(src, "sizeLimit"), &q) && kr_quantity_value(&q) > 0)
        opts = kr_arena_printf(a, "mode=0777,size=%" PRId64, kr_quantity_value(&q));
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "mounting tmpfs on %s: %s", dir, strerror(errno));
    return 0;
}

/* Secret and projected volumes (which carry Secrets and, later,
 * ServiceAccount tokens) live in memory and never on the node's disk: the
 * directory is a tmpfs of its own, as upstream's secret volume plugin
 * wraps an emptyDir of medium Memory.  A directory that is one already
 * (every sync after the first, an agent restarted) is kept. */
static int memory_dir(const char *dir, kr_error_t *err)
{
    if (kr_mkdir_p(dir, 0755, err) < 0)
        return -1;
    if (is_tmpfs_mount(dir))
        return 0;
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        return kr_error_set(err, KR_E_INTERNAL, "mounting tmpfs on %s: %s", dir, strerror(errno));
    return 0;
}

/* checkType of the hostPath plugin. */
static int host_path(const kr_value_t *src, kr_error_t *err)
{
    const char *path = kr_value_map_str(src, "path") ?: "";
    const char *type = kr_value_map_str(src, "type") ?: "";
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (strcmp(type, "DirectoryOrCreate") == 0) {
        if (!exists)
            return kr_mkdir_p(path, 0755, err);
        type = "Directory";
    } else if (strcmp(type, "FileOrCreate") == 0) {
        if (!exists) {
            int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0)
                return kr_error_set(err, KR_E_INTERNAL, "hostPath type check failed: %s: %s", path,
                                    strerror(errno));
            close(fd);
            return 0;
        }
        type = "File";
    }
    static const struct {
        const char *type, *what;
        mode_t fmt;
    } checks[] = {
        {"Directory", "a directory", S_IFDIR},      {"File", "a file", S_IFREG},
        {"Socket", "a socket file", S_IFSOCK},      {"CharDevice", "a character device", S_IFCHR},
        {"BlockDevice", "a block device", S_IFBLK},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (strcmp(type, checks[i].type) == 0 &&
            (!exists || (st.st_mode & S_IFMT) != checks[i].fmt))
            return kr_error_set(err, KR_E_INVALID, "hostPath type check failed: %s is not %s", path,
                                checks[i].what);
    return 0;
}

int ag_volumes_setup(kr_arena_t *a, const kr_value_t *pod, const char *pod_dir,
                     const ag_env_ctx_t *ctx, kr_error_t *err)
{
    const kr_value_t *vols = kr_value_get(pod, "spec.volumes");
    for (size_t i = 0; i < kr_value_len(vols); i++) {
        const kr_value_t *vol = kr_value_array_get(vols, i);
        const char *kind = volume_kind(vol), *name = kr_value_map_str(vol, "name") ?: "";
        const kr_value_t *src = kind ? kr_value_map_get(vol, kind) : NULL;
        int rc = 0;
        if (kind == NULL) {
            rc = kr_error_set(err, KR_E_INVALID, "volume %s has no source", name);
        } else if (strcmp(kind, "emptyDir") == 0) {
            rc = empty_dir(a, src, ag_volume_dir(a, pod_dir, vol), err);
        } else if (strcmp(kind, "hostPath") == 0) {
            rc = host_path(src, err);
        } else if (plugin_dir(kind) != NULL) {
            ag_payload_t pl = {0};
            const char *dir = ag_volume_dir(a, pod_dir, vol);
            rc = ag_volume_payload(a, kind, src, ctx, &pl, err);
            if (rc == 0 && (strcmp(kind, "secret") == 0 || strcmp(kind, "projected") == 0))
                rc = memory_dir(dir, err);
            if (rc == 0)
                rc = ag_atomic_write(a, dir, &pl, err);
        } else {
            rc = kr_error_set(err, KR_E_INVALID,
                              "volume %s: %s volumes are not supported by this agent", name, kind);
        }
        if (rc < 0)
            return kr_error_wrap(err, "MountVolume.SetUp failed for volume \"%s\"", name);
    }
    return 0;
}

int ag_volume_mounts(kr_arena_t *a, const kr_value_t *pod, const kr_value_t *container,
                     const char *pod_dir, kr_rt_mount_t **out, size_t *n, kr_error_t *err)
{
    const kr_value_t *vms = kr_value_map_get(container, "volumeMounts");
    const kr_value_t *vols = kr_value_get(pod, "spec.volumes");
    size_t cnt = kr_value_len(vms);
    kr_rt_mount_t *m = kr_arena_alloc(a, (cnt ? cnt : 1) * sizeof *m);
    *n = 0;
    for (size_t i = 0; i < cnt; i++) {
        const kr_value_t *vm = kr_value_array_get(vms, i);
        const char *name = kr_value_map_str(vm, "name") ?: "";
        const kr_value_t *vol = NULL;
        for (size_t k = 0; k < kr_value_len(vols) && vol == NULL; k++)
            if (strcmp(kr_value_map_str(kr_value_array_get(vols, k), "name") ?: "", name) == 0)
                vol = kr_value_array_get(vols, k);
        const char *dir = vol ? ag_volume_dir(a, pod_dir, vol) : NULL;
        if (dir == NULL)
            return kr_error_set(err, KR_E_INVALID, "volume \"%s\" not found", name);
        const char *kind = volume_kind(vol);
        bool api_data = false;
        for (size_t k = 0; k < sizeof file_kinds / sizeof file_kinds[0]; k++)
            api_data |= strcmp(kind, file_kinds[k]) == 0;
        const char *sub = kr_value_map_str(vm, "subPath");
        if (sub != NULL && *sub) {
            if (!path_ok(sub))
                return kr_error_set(err, KR_E_INVALID,
                                    "subPath \"%s\" must be a relative path without \"..\"", sub);
            dir = kr_arena_printf(a, "%s/%s", dir, sub);
            struct stat st;
            if (!api_data && lstat(dir, &st) < 0 && kr_mkdir_p(dir, 0777, err) < 0)
                return -1;
            if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode) && !api_data)
                return kr_error_set(err, KR_E_INVALID, "subPath \"%s\" is a symlink", sub);
        }
        m[*n] = (kr_rt_mount_t){
            .kind = KR_RT_MOUNT_BIND,
            .host_path = dir,
            .container_path = kr_value_map_str(vm, "mountPath") ?: "",
            /* API data volumes are always read-only (ReadOnlyAPIDataVolumes) */
            .read_only = api_data || kr_value_as_bool(kr_value_map_get(vm, "readOnly"), false),
        };
        (*n)++;
    }
    *out = m;
    return 0;
}

int ag_volumes_teardown(const char *pod_dir, kr_error_t *err)
{
    /* mounts below pod_dir, deepest first */
    FILE *f = fopen("/proc/self/mounts", "r");
    char line[4096];
    size_t plen = strlen(pod_dir);
    char **mps = NULL;
    size_t n = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char *sp = strchr(line, ' ');
        if (sp == NULL)
            continue;
        char *mp = sp + 1, *end = strchr(mp, ' ');
        if (end == NULL)
            continue;
        *end = '\0';
        if (strncmp(mp, pod_dir, plen) == 0 && mp[plen] == '/') {
            mps = realloc(mps, (n + 1) * sizeof *mps);
            if (mps == NULL || (mps[n] = strdup(mp)) == NULL)
                abort();
            n++;
        }
    }
    if (f != NULL)
        fclose(f);
    for (size_t i = n; i > 0; i--) {
        umount2(mps[i - 1], MNT_DETACH);
        free(mps[i - 1]);
    }
    free(mps);
    return kr_rmtree(pod_dir, err);
}
