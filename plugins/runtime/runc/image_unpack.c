/* Layer unpacking: a layer blob (gzip, zstd or plain tar) becomes the
 * directory <root>/layers/<diffid-hex>, ready to be an overlayfs lower
 * layer.
 *
 * Two libarchive readers are stacked: the outer one only decompresses
 * ("raw" format) and its output, hashed on the way, feeds the tar reader,
 * so the diff id is checked in the same pass that unpacks.  Entries are
 * created with *at() calls relative to the layer directory and never
 * through a symbolic link, so no entry can land outside it; ".." is
 * refused outright.  OCI whiteouts become what overlayfs reads, as
 * containerd's overlay snapshotter writes them: ".wh.NAME" a character
 * device 0:0 named NAME, ".wh..wh..opq" the xattr trusted.overlay.opaque=y
 * on its directory. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "image_store.h"

#define WH_PREFIX  ".wh."
#define WH_META    ".wh..wh."
#define WH_OPAQUE  ".wh..wh..opq"
#define READ_CHUNK (128 * 1024)

/* ---- the decompressing source -------------------------------------------- */

struct src {
    struct archive *raw;
    rc_sha256_t *h;
    char buf[READ_CHUNK];
};

static la_ssize_t src_read(struct archive *a, void *ud, const void **buf)
{
    struct src *s = ud;
    la_ssize_t n = archive_read_data(s->raw, s->buf, sizeof s->buf);
    if (n < 0) {
        archive_set_error(a, EIO, "%s", archive_error_string(s->raw));
        return -1;
    }
    rc_sha256_update(s->h, s->buf, (size_t)n);
    *buf = s->buf;
    return n;
}

/* ---- the unpacker --------------------------------------------------------- */

struct dir_time {
    char *rel;
    struct timespec ts[2];
};

struct ux {
    const char *dir; /* the layer directory, absolute */
    const char *what;
    int rootfd;
    uint64_t size;
    struct dir_time *dirs;
    size_t n_dirs, cap_dirs;
};

/* Cleans an entry's path into `out` ("a/b/c", "" for the root): leading
 * "/" and "." components go, ".." is refused. */
static int clean_path(const struct ux *u, const char *in, char *out, size_t cap, kr_error_t *err)
{
    size_t n = 0;
    for (const char *p = in; *p != '\0';) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        if (len == 1 && p[0] == '.') {
            p += len;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return kr_error_set(err, KR_E_INVALID,
                                "%s: entry \"%s\" leaves the layer (\"..\" is refused)", u->what,
                                in);
        if (n + len + 2 > cap)
            return kr_error_set(err, KR_E_INVALID, "%s: entry \"%.64s...\": path too long", u->what,
                                in);
        if (n > 0)
            out[n++] = '/';
        memcpy(out + n, p, len);
        n += len;
        p += len;
    }
    out[n] = '\0';
    return 0;
}

/* Opens the directory holding `rel`'s last component, creating missing
 * directories (0755) when `create`; never follows a symbolic link.  Sets
 * *base to the last component (inside rel). */
static int open_parent(const struct ux *u, char *rel, bool create, const char **base,
                       kr_error_t *err)
{
    int fd = u->rootfd;
    char *p = rel;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        int next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST)
                next = -1;
            else
                next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        *slash = '/';
        if (fd != u->rootfd)
            close(fd);
        if (next < 0) {
            if (e == ELOOP || e == ENOTDIR)
                return kr_error_set(err, KR_E_INVALID,
                                    "%s: entry \"%s\": \"%.*s\" is not a directory (entries may "
                                    "not go through symbolic links)",
                                    u->what, rel, (int)(slash - rel), rel);
            return kr_error_set(err, KR_E_INVALID, "%s: entry \"%s\": %s", u->what, rel,
                                strerror(e));
        }
        fd = next;
        p = slash + 1;
    }
    *base = p;
    if (fd == u->rootfd)
        fd = dup(u->rootfd); /* the caller closes what it gets */
    if (fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "dup: %s", strerror(errno));
    return fd;
}

static int sys_fail(const struct ux *u, const char *rel, const char *op, kr_error_t *err)
{
    int e = errno;
    return kr_error_set(err, e == ENOSPC ? KR_E_INSUFFICIENT_STORAGE : KR_E_INTERNAL,
                        "%s: entry \"%s\": %s: %s", u->what, rel, op, strerror(e));
}

/* Removes what is at pfd/base unless both it and the new entry are
 * directories (a later entry replaces an earlier one). */
static int clear_slot(const struct ux *u, int pfd, const char *base, const char *rel, bool is_dir,
                      kr_error_t *err)
{
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : sys_fail(u, rel, "stat", err);
    if (S_ISDIR(st.st_mode)) {
        if (is_dir)
            return 0;
        /* through the parent's fd: no symlink on the way can redirect it */
        char *abs = rc_xasprintf("/proc/self/fd/%d/%s", pfd, base);
        int rc = kr_rmtree(abs, err);
        free(abs);
        return rc;
    }
    if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
        return sys_fail(u, rel, "unlink", err);
    return 0;
}

static int set_xattrs(const struct ux *u, struct archive_entry *e, int fd, const char *path,
                      const char *rel, kr_error_t *err)
{
    const char *name;
    const void *value;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        int r =
            fd >= 0 ? fsetxattr(fd, name, value, size, 0) : lsetxattr(path, name, value, size, 0);
        if (r < 0 && errno != ENOTSUP)
            return sys_fail(u, rel, name, err);
    }
    return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (archive_entry_atime_is_set(e)) {
        ts[0].tv_sec = archive_entry_atime(e);
        ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
        ts[0] = ts[1];
    }
}

/* Owner, then mode (chown clears set-id bits), xattrs, times: on an open
 * fd (files and directories). */
static int meta_fd(const struct ux *u, struct archive_entry *e, int fd, const char *rel, bool times,
                   kr_error_t *err)
{
    if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return sys_fail(u, rel, "chown", err);
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return sys_fail(u, rel, "chmod", err);
    if (set_xattrs(u, e, fd, NULL, rel, err) < 0)
        return -1;
    struct timespec ts[2];
    entry_times(e, ts);
    if (times && futimens(fd, ts) < 0)
        return sys_fail(u, rel, "utimens", err);
    return 0;
}

/* The same for what cannot be opened (symlinks, devices, fifos). */
static int meta_at(const struct ux *u, struct archive_entry *e, int pfd, const char *base,
                   const char *rel, bool chmod_too, kr_error_t *err)
{
    if (fchownat(pfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return sys_fail(u, rel, "chown", err);
    if (chmod_too && fchmodat(pfd, base, archive_entry_perm(e) & 07777, 0) < 0)
        return sys_fail(u, rel, "chmod", err);
    char path[64 + NAME_MAX];
    snprintf(path, sizeof path, "/proc/self/fd/%d/%s", pfd, base);
    if (set_xattrs(u, e, -1, path, rel, err) < 0)
        return -1;
    struct timespec ts[2];
    entry_times(e, ts);
    if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return sys_fail(u, rel, "utimens", err);
    return 0;
}

static void remember_dir(struct ux *u, const char *rel, struct archive_entry *e)
{
    if (u->n_dirs == u->cap_dirs) {
        u->cap_dirs = u->cap_dirs ? 2 * u->cap_dirs : 64;
        u->dirs = rc_xrealloc(u->dirs, u->cap_dirs * sizeof *u->dirs);
    }
    struct dir_time *d = &u->dirs[u->n_dirs++];
    d->rel = rc_xstrdup(rel);
    entry_times(e, d->ts);
}

static int write_file(const struct ux *u, struct archive *a, struct archive_entry *e, int fd,
                      const char *rel, kr_error_t *err)
{
    const void *buf;
    size_t len;
    la_int64_t off;
    for (;;) {
        int r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return kr_error_set(err, KR_E_INVALID, "%s: entry \"%s\": %s", u->what, rel,
                                archive_error_string(a));
        const char *p = buf;
        while (len > 0) {
            ssize_t w = pwrite(fd, p, len, (off_t)off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return sys_fail(u, rel, "write", err);
            p += w;
            off += w;
            len -= (size_t)w;
        }
    }
    /* a sparse file may end in a hole */
    if (ftruncate(fd, (off_t)archive_entry_size(e)) < 0)
        return sys_fail(u, rel, "truncate", err);
    return 0;
}

static int apply_entry(struct ux *u, struct archive *a, struct archive_entry *e, kr_error_t *err)
{
    const char *name = archive_entry_pathname(e);
    if (name == NULL)
        return kr_error_set(err, KR_E_INVALID, "%s: an entry has no name", u->what);
    char rel[PATH_MAX];
    if (clean_path(u, name, rel, sizeof rel, err) < 0)
        return -1;
    mode_t type = archive_entry_filetype(e);
    const char *hardlink = archive_entry_hardlink(e);

    if (rel[0] == '\0') { /* "./": the layer's root directory */
        if (type != AE_IFDIR || hardlink != NULL)
            return kr_error_set(err, KR_E_INVALID, "%s: entry \"%s\" replaces the layer's root",
                                u->what, name);
        remember_dir(u, "", e);
        return meta_fd(u, e, u->rootfd, "/", false, err);
    }

    const char *base;
    int pfd = open_parent(u, rel, true, &base, err);
    if (pfd < 0)
        return -1;
    int rc = 0, fd = -1;

    if (strcmp(base, WH_OPAQUE) == 0) {
        if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            rc = sys_fail(u, rel, "set trusted.overlay.opaque", err);
        goto out;
    }
    if (strncmp(base, WH_META, strlen(WH_META)) == 0)
        goto out; /* other AUFS metadata: nothing for overlayfs */
    if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
        const char *victim = base + strlen(WH_PREFIX);
        if (*victim == '\0') {
            rc = kr_error_set(err, KR_E_INVALID, "%s: entry \"%s\": whiteout of nothing", u->what,
                              name);
            goto out;
        }
        if ((rc = clear_slot(u, pfd, victim, rel, false, err)) < 0)
            goto out;
        if (mknodat(pfd, victim, S_IFCHR, makedev(0, 0)) < 0)
            rc = sys_fail(u, rel, "mknod whiteout", err);
        else if (fchownat(pfd, victim, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                          AT_SYMLINK_NOFOLLOW) < 0)
            rc = sys_fail(u, rel, "chown", err);
        goto out;
    }

    if ((rc = clear_slot(u, pfd, base, rel, type == AE_IFDIR && hardlink == NULL, err)) < 0)
        goto out;

    if (hardlink != NULL) {
        char trel[PATH_MAX];
        const char *tbase;
        if ((rc = clean_path(u, hardlink, trel, sizeof trel, err)) < 0)
            goto out;
        int tfd = trel[0] ? open_parent(u, trel, false, &tbase, err) : -1;
        if (tfd < 0) {
            rc = trel[0] ? -1
                         : kr_error_set(err, KR_E_INVALID, "%s: entry \"%s\": bad hard link",
                                        u->what, name);
            goto out;
        }
        if (linkat(tfd, tbase, pfd, base, 0) < 0)
            rc = kr_error_set(err, KR_E_INVALID, "%s: entry \"%s\": hard link to \"%s\": %s",
                              u->what, name, hardlink, strerror(errno));
        close(tfd);
        goto out;
    }

    switch (type) {
    case AE_IFREG:
        fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = sys_fail(u, rel, "create", err);
            break;
        }
        if ((rc = write_file(u, a, e, fd, rel, err)) == 0)
            rc = meta_fd(u, e, fd, rel, true, err);
        u->size += (uint64_t)archive_entry_size(e);
        break;
    case AE_IFDIR: {
        if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST) {
            rc = sys_fail(u, rel, "mkdir", err);
            break;
        }
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            rc = sys_fail(u, rel, "open", err);
            break;
        }
        rc = meta_fd(u, e, fd, rel, false, err);
        remember_dir(u, rel, e);
        break;
    }
    case AE_IFLNK: {
        const char *target = archive_entry_symlink(e);
        if (target == NULL)
            rc = kr_error_set(err, KR_E_INVALID, "%s: entry \"%s\": symlink without a target",
                              u->what, name);
        else if (symlinkat(target, pfd, base) < 0)
            rc = sys_fail(u, rel, "symlink", err);
        else
            rc = meta_at(u, e, pfd, base, rel, false, err);
        break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        if (mknodat(pfd, base, type | (archive_entry_perm(e) & 07777),
                    makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e))) < 0)
            rc = sys_fail(u, rel, "mknod", err);
        else
            rc = meta_at(u, e, pfd, base, rel, true, err);
        break;
    default:
        break; /* sockets and unknown types: skipped, as tar does */
    }
out:
    if (fd >= 0)
        close(fd);
    close(pfd);
    return rc;
}

/* Directory times last: creating entries inside changed them. */
static void apply_dir_times(struct ux *u)
{
    for (size_t i = 0; i < u->n_dirs; i++) {
        struct dir_time *d = &u->dirs[i];
        if (d->rel[0] == '\0') {
            futimens(u->rootfd, d->ts);
        } else {
            const char *base;
            int pfd = open_parent(u, d->rel, false, &base, NULL);
            if (pfd >= 0) {
                utimensat(pfd, base, d->ts, AT_SYMLINK_NOFOLLOW);
                close(pfd);
            }
        }
        free(d->rel);
    }
    free(u->dirs);
    u->dirs = NULL;
    u->n_dirs = u->cap_dirs = 0;
}

int rc_layer_extract(const char *archive_path, const char *what, const char *dir, char diff_out[72],
                     uint64_t *size, kr_error_t *err)
{
    struct ux u = {.dir = dir, .what = what ? what : archive_path, .rootfd = -1};
    struct src *src = rc_xcalloc(1, sizeof *src);
    struct archive *tar = NULL;
    int rc = 0;

    src->raw = archive_read_new();
    src->h = rc_sha256_new();
    archive_read_support_filter_all(src->raw);
    archive_read_support_format_raw(src->raw);
    struct archive_entry *e;
    if (archive_read_open_filename(src->raw, archive_path, READ_CHUNK) != ARCHIVE_OK ||
        archive_read_next_header(src->raw, &e) != ARCHIVE_OK) {
        rc = kr_error_set(err, KR_E_INVALID, "%s: %s", u.what, archive_error_string(src->raw));
        goto out;
    }
    u.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (u.rootfd < 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "cannot open %s: %s", dir, strerror(errno));
        goto out;
    }
    tar = archive_read_new();
    archive_read_support_format_tar(tar);
    archive_read_support_format_empty(tar);
    if (archive_read_open(tar, src, NULL, src_read, NULL) != ARCHIVE_OK) {
        rc = kr_error_set(err, KR_E_INVALID, "%s: not a tar archive: %s", u.what,
                          archive_error_string(tar));
        goto out;
    }
    for (;;) {
        int r = archive_read_next_header(tar, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = kr_error_set(err, KR_E_INVALID, "%s: %s", u.what, archive_error_string(tar));
            goto out;
        }
        if ((rc = apply_entry(&u, tar, e, err)) < 0)
            goto out;
    }
    /* the rest of the stream (tar padding) belongs to the diff id too */
    for (;;) {
        la_ssize_t n = archive_read_data(src->raw, src->buf, sizeof src->buf);
        if (n == 0)
            break;
        if (n < 0) {
            rc = kr_error_set(err, KR_E_INVALID, "%s: %s", u.what, archive_error_string(src->raw));
            goto out;
        }
        rc_sha256_update(src->h, src->buf, (size_t)n);
    }
    rc_sha256_finish(src->h, diff_out);
    src->h = NULL;
    if (size != NULL)
        *size = u.size;
out:
    apply_dir_times(&u);
    if (u.rootfd >= 0)
        close(u.rootfd);
    if (tar != NULL)
        archive_read_free(tar);
    archive_read_free(src->raw);
    rc_sha256_free(src->h);
    free(src);
    return rc;
}

static __thread uint64_t tree_bytes;

static int tree_add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F && S_ISREG(st->st_mode))
        tree_bytes += (uint64_t)st->st_size / (st->st_nlink ? st->st_nlink : 1);
    return 0;
}

uint64_t rc_tree_size(const char *dir)
{
    tree_bytes = 0;
    nftw(dir, tree_add, 32, FTW_PHYS | FTW_MOUNT);
    return tree_bytes;
}

int rc_layer_unpack(rc_images_t *s, rc_tx_t *tx, const char *blob, const char *diff_id,
                    char diff_out[72], uint64_t *size, kr_error_t *err)
{
    char got[72];
    if (diff_id != NULL) {
        if (!rc_digest_valid(diff_id))
            return kr_error_set(err, KR_E_INVALID, "unsupported diff id \"%s\" (only sha256)",
                                diff_id);
        char *final = rc_layer_path(s, diff_id);
        bool have = access(final, F_OK) == 0;
        if (have && size != NULL)
            *size = rc_tree_size(final);
        free(final);
        if (have) {
            if (diff_out != NULL)
                memcpy(diff_out, diff_id, 72);
            return 0;
        }
    }
    char *tmp = rc_xasprintf("%s/layers/.tmp-XXXXXX", s->root);
    char *src = rc_blob_path(s, blob);
    char *final = NULL;
    int rc = 0;
    if (mkdtemp(tmp) == NULL || chmod(tmp, 0755) < 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    uint64_t bytes = 0;
    char what[96];
    snprintf(what, sizeof what, "layer %s", blob);
    if ((rc = rc_layer_extract(src, what, tmp, got, &bytes, err)) < 0)
        goto fail;
    if (diff_id != NULL && strcmp(got, diff_id) != 0) {
        rc = kr_error_set(err, KR_E_INVALID,
                          "layer %s: diff id mismatch: the uncompressed layer is %s, the image "
                          "config says %s",
                          blob, got, diff_id);
        goto fail;
    }
    final = rc_layer_path(s, got);
    if (rename(tmp, final) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) {
            rc = kr_error_set(err, KR_E_INTERNAL, "cannot store %s: %s", final, strerror(errno));
            goto fail;
        }
        kr_rmtree(tmp, NULL); /* unpacked meanwhile by someone else */
    } else if (tx != NULL) {
        rc_strv_add(&tx->layers, got);
    }
    if (diff_out != NULL)
        memcpy(diff_out, got, 72);
    if (size != NULL)
        *size = bytes;
    goto out;
fail:
    kr_rmtree(tmp, NULL);
out:
    free(final);
    free(src);
    free(tmp);
    return rc;
}
