/* File-system helpers of the SDK (kraal/fs.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kraal/fs.h>

int kr_mkdir_p(const char *path, mode_t mode, kr_error_t *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return kr_error_set(err, KR_E_INVALID, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return kr_error_set(err, KR_E_INTERNAL, "cannot create %s: %s", buf, strerror(errno));
        *p = c;
        if (c == '\0')
            break;
    }
    return 0;
}

static int sync_parent_dir(const char *path, kr_error_t *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return kr_error_set(err, KR_E_INTERNAL, "cannot sync directory %s: %s", dir, strerror(e));
    }
    close(dfd);
    return 0;
}

int kr_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         kr_error_t *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return kr_error_set(err, KR_E_INVALID, "path too long: %s", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot create a temporary file for %s: %s", path,
                            strerror(errno));
    /* mkostemp makes 0600; the final mode is set before any byte is
     * written, so a key is never readable by others, even briefly. */
    if (fchmod(fd, mode) < 0)
        goto fail;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    return sync_parent_dir(path, err);
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return kr_error_set(err, KR_E_INTERNAL, "cannot write %s: %s", path, strerror(e));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = flag == FTW_DP ? rmdir(path) : unlink(path);
    return r < 0 && errno != ENOENT ? -1 : 0;
}

int kr_rmtree(const char *path, kr_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0
                               : kr_error_set(err, KR_E_INTERNAL, "cannot remove %s: %s", path,
                                              strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return kr_error_set(err, KR_E_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
        return 0;
    }
    /* FTW_MOUNT: a mount left inside (a container's bind mount, a volume)
     * is not emptied; its directory then fails to go, which is reported. */
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}
