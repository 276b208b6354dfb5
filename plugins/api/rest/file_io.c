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
