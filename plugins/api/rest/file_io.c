#include "file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rest_file_read(const char *path, size_t max, char **data, size_t *len, kr_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kr_error_set(err, errno == ENOENT ? KR_E_NOT_FOUND : KR_E_INTERNAL,
                            "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return kr_error_set(err, KR_E_INTERNAL, "cannot read %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        return kr_error_set(err, KR_E_INTERNAL, "cannot read %s: %s", path,
                            S_ISREG(st.st_mode) ? "file too large" : "not a regular file");
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        abort();
    for (;;) {
        if (n + 1 == cap) {
            /* The file grew since fstat: keep reading up to max. */
            if (cap > max) {
                free(buf);
                close(fd);
                return kr_error_set(err, KR_E_INTERNAL, "cannot read %s: file too large", path);
            }
            cap *= 2;
            if ((buf = realloc(buf, cap)) == NULL)
                abort();
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return kr_error_set(err, KR_E_INTERNAL, "cannot read %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    if (len != NULL)
        *len = n;
    return 0;
}

/* The directory of `path`, so the rename itself can be made durable. */
static int sync_parent_dir(const char *path, kr_error_t *err)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) >= sizeof dir)
        return kr_error_set(err, KR_E_INTERNAL, "path too long: %s", path);
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
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

int rest_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           kr_error_t *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return kr_error_set(err, KR_E_INTERNAL, "path too long: %s", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot create a temporary file for %s: %s", path,
                            strerror(errno));
    /* mkostemp makes 0600; set the final mode before any byte is written so
     * that a key is never readable by others, even briefly. */
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
