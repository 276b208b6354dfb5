/* container_attach and container_resize: the container's own stdin and
 * terminal, kept by its shim (shim/shim.c, docs/runtime.md "Attach").
 *
 * An attach is a connection to the shim's stream socket <container
 * dir>/attach: what the caller writes there goes to the container's stdin.
 * A resize is one datagram "resize <cols> <rows>" to <container dir>/ctl.
 * Both sockets are gone once the container has exited (and the attach
 * socket once a stdinOnce container's stdin is closed), so a refused
 * connection means the container cannot take input any more. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "runc.h"

/* The container's flags, read under rt->mu. */
static int ctr_io(runc_rt_t *rt, const char *id, bool *open_stdin, bool *tty, kr_error_t *err)
{
    runc_ctr_t *c = runc_ctr_get(rt, id, err);
    if (c == NULL)
        return -KR_E_NOT_FOUND;
    pthread_mutex_lock(&rt->mu);
    *open_stdin = c->open_stdin;
    *tty = c->tty;
    pthread_mutex_unlock(&rt->mu);
    runc_ctr_put(rt, c);
    return 0;
}

/* A socket of `type` connected to the shim's socket `leaf`; -1 with errno.
 * A path longer than sun_path goes through /proc/self/fd/<dir fd>. */
static int shim_connect(runc_rt_t *rt, const char *id, const char *leaf, int type)
{
    char dir[4096];
    runc_ctr_path(rt, id, NULL, dir, sizeof dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int dfd = -1;
    size_t dl = strlen(dir), ll = strlen(leaf);
    if (dl + 1 + ll < sizeof sa.sun_path) {
        /* memcpy: -Wformat-truncation sees dir's 4096 bytes */
        memcpy(sa.sun_path, dir, dl);
        sa.sun_path[dl] = '/';
        memcpy(sa.sun_path + dl + 1, leaf, ll + 1);
    } else {
        dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return -1;
        snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dfd, leaf);
    }
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    int e = 0;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        e = errno;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    if (dfd >= 0)
        close(dfd);
    errno = e;
    return fd;
}

int runc_container_attach(void *self, const char *id, int *stdin_fd, kr_error_t *err)
{
    runc_rt_t *rt = self;
    *stdin_fd = -1;
    bool open_stdin, tty;
    if (ctr_io(rt, id, &open_stdin, &tty, err) < 0)
        return -KR_E_NOT_FOUND;
    if (!open_stdin)
        return kr_error_set(err, KR_E_BAD_REQUEST, "container \"%s\" was not created with stdin",
                            id);
    int fd = shim_connect(rt, id, RUNC_ATTACH_SOCKET, SOCK_STREAM);
    if (fd < 0 && (errno == ENOENT || errno == ECONNREFUSED))
        return kr_error_set(err, KR_E_CONFLICT,
                            "container \"%s\" is not running or its stdin is closed", id);
    if (fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "attaching to container \"%s\": %s", id,
                            strerror(errno));
    *stdin_fd = fd;
    return 0;
}

int runc_container_resize(void *self, const char *id, uint16_t cols, uint16_t rows, kr_error_t *err)
{
    runc_rt_t *rt = self;
    bool open_stdin, tty;
    if (ctr_io(rt, id, &open_stdin, &tty, err) < 0)
        return -KR_E_NOT_FOUND;
    if (!tty)
        return kr_error_set(err, KR_E_BAD_REQUEST, "container \"%s\" has no terminal to resize",
                            id);
    int fd = shim_connect(rt, id, RUNC_CTL_SOCKET, SOCK_DGRAM);
    if (fd < 0)
        return kr_error_set(err, KR_E_CONFLICT, "container \"%s\" is not running", id);
    char msg[48];
    int n = snprintf(msg, sizeof msg, "resize %u %u", (unsigned)cols, (unsigned)rows);
    ssize_t w = send(fd, msg, (size_t)n, 0);
    int e = errno;
    close(fd);
    if (w != n)
        return kr_error_set(err, KR_E_INTERNAL, "resizing container \"%s\": %s", id, strerror(e));
    return 0;
}
