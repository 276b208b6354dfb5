/* A container's root filesystem: an overlayfs mount of the image's
 * unpacked layers (read-only, the top layer first) under <dir>/upper and
 * <dir>/work, on <dir>/rootfs.
 *
 * mount(2) copies at most one page of options, which bounds how many layers
 * fit: a layer costs len(<root>/layers/) + 65 bytes, some 40 layers with a
 * usual data directory.  Longer chains are mounted through the new mount
 * API, one fsconfig("lowerdir+") per layer (Linux 6.8; overlayfs itself
 * stops at 500 layers); on an older kernel such an image is refused with
 * the numbers. */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_store.h"

static int check_path(const char *p, kr_error_t *err)
{
    if (strpbrk(p, ":,\\") != NULL)
        return kr_error_set(err, KR_E_INVALID,
                            "%s: overlayfs paths may not contain ':', ',' or '\\'", p);
    return 0;
}

/* lowerdir=<top>:...:<bottom>,upperdir=..,workdir=.. with each layer as
 * `prefix` + hex. */
static char *overlay_opts(char *const *layers, const char *prefix, const char *upper,
                          const char *work)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "lowerdir=");
    size_t n = rc_strv_len(layers);
    for (size_t i = n; i > 0; i--)
        kr_buf_printf(&b, "%s%s%s", i < n ? ":" : "", prefix, layers[i - 1] + 7);
    kr_buf_printf(&b, ",upperdir=%s,workdir=%s", upper, work);
    return b.data;
}

/* The new mount API takes each lower layer in its own fsconfig call
 * ("lowerdir+", Linux 6.8), out of the single page's reach.  Returns 0 or
 * an errno. */
static int mount_layers(char *const *layers, const char *prefix, const char *upper,
                        const char *work, const char *target)
{
    int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return errno;
    int e = 0;
    size_t n = rc_strv_len(layers);
    for (size_t i = n; i > 0 && e == 0; i--) {
        char *p = rc_xasprintf("%s%s", prefix, layers[i - 1] + 7);
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", p, 0) < 0)
            e = errno;
        free(p);
    }
    if (e == 0 && (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
                   fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
                   fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0))
        e = errno;
    int mnt = e == 0 ? fsmount(fs, FSMOUNT_CLOEXEC, 0) : -1;
    if (e == 0 && mnt < 0)
        e = errno;
    if (e == 0 && move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        e = errno;
    if (mnt >= 0)
        close(mnt);
    close(fs);
    return e;
}

int rc_rootfs_create(rc_images_t *s, const char *ref, const char *dir, char **image_id,
                     kr_error_t *err)
{
    *image_id = NULL;
    rc_tx_t tx; /* a shared lock: no collection while we mount */
    if (rc_tx_begin(s, &tx, err) < 0)
        return -1;
    rc_record_t rec;
    memset(&rec, 0, sizeof rec);
    char *upper = rc_xasprintf("%s/upper", dir), *work = rc_xasprintf("%s/work", dir);
    char *target = rc_xasprintf("%s/rootfs", dir), *empty = NULL;
    char *ldir = rc_xasprintf("%s/layers", s->root), *abs_prefix = rc_xasprintf("%s/", ldir);
    char *opts = NULL;
    char **lower = NULL;
    int rc = rc_images_resolve(s, ref, &rec, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; rec.layers[i] != NULL && rc == 0; i++) {
        char *p = rc_layer_path(s, rec.layers[i]);
        if (access(p, F_OK) < 0)
            rc = kr_error_set(err, KR_E_INTERNAL, "image %s: layer %s is not unpacked (%s)", rec.id,
                              rec.layers[i], p);
        free(p);
    }
    if (rc < 0 || (rc = check_path(dir, err)) < 0 || (rc = check_path(s->root, err)) < 0)
        goto out;
    if ((rc = kr_mkdir_p(dir, 0700, err)) < 0 || (rc = kr_mkdir_p(upper, 0755, err)) < 0 ||
        (rc = kr_mkdir_p(work, 0700, err)) < 0 || (rc = kr_mkdir_p(target, 0755, err)) < 0)
        goto out;
    lower = rc_strv_dup(rec.layers);
    if (lower[0] == NULL) {
        /* an image without layers: overlayfs needs one lower directory */
        empty = rc_xasprintf("%s/lower", dir);
        if ((rc = kr_mkdir_p(empty, 0755, err)) < 0)
            goto out;
        opts = rc_xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", empty, upper, work);
        if (mount("overlay", target, "overlay", 0, opts) < 0)
            rc = kr_error_set(err, KR_E_INTERNAL, "mount overlay on %s: %s", target,
                              strerror(errno));
        goto out;
    }
    long page = sysconf(_SC_PAGESIZE);
    opts = overlay_opts(lower, abs_prefix, upper, work);
    if ((long)strlen(opts) < page) {
        if (mount("overlay", target, "overlay", 0, opts) < 0)
            rc = kr_error_set(err, KR_E_INTERNAL, "mount overlay on %s: %s", target,
                              strerror(errno));
        goto out;
    }
    int e = mount_layers(lower, abs_prefix, upper, work, target);
    if (e == EINVAL || e == ENOSYS)
        rc = kr_error_set(err, KR_E_INVALID,
                          "image %s has %zu layers: the overlayfs mount options need %zu bytes, "
                          "more than the page size (%ld) mount(2) takes, and this kernel cannot "
                          "add lower layers one by one (lowerdir+, Linux 6.8): %s",
                          rec.id, rc_strv_len(lower), strlen(opts) + 1, page, strerror(e));
    else if (e != 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "mount overlay on %s (%zu layers): %s", target,
                          rc_strv_len(lower), strerror(e));
out:
    if (rc == 0)
        *image_id = rc_xstrdup(rec.id);
    rc_record_clear(&rec);
    kr_rt_strv_free(lower);
    free(opts);
    free(empty);
    free(upper);
    free(work);
    free(target);
    free(ldir);
    free(abs_prefix);
    rc_tx_end(s, &tx);
    return rc;
}

int rc_rootfs_remove(const char *dir, kr_error_t *err)
{
    char *target = rc_xasprintf("%s/rootfs", dir);
    int rc = 0;
    if (umount2(target, UMOUNT_NOFOLLOW) < 0 && errno == EBUSY &&
        umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "unmount %s: %s", target, strerror(errno));
    /* EINVAL (not mounted) and ENOENT: nothing to unmount */
    const char *parts[] = {"upper", "work", "lower"};
    for (size_t i = 0; rc == 0 && i < sizeof parts / sizeof parts[0]; i++) {
        char *p = rc_xasprintf("%s/%s", dir, parts[i]);
        rc = kr_rmtree(p, err);
        free(p);
    }
    if (rc == 0 && rmdir(target) < 0 && errno != ENOENT)
        rc = kr_error_set(err, KR_E_INTERNAL, "cannot remove %s: %s", target, strerror(errno));
    free(target);
    return rc;
}
