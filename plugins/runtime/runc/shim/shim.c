/* kraal-runc-shim — one per container, conmon-like (docs/runtime.md).
 *
 *   kraal-runc-shim --binary B --root R --id ID --bundle DIR --pid-file P
 *                   --exit-file F [--log PATH] [--log-max-size N]
 *                   [--log-max-files N] [--timeout-ms N] [--ready-fd N]
 *                   [--stdin 0|1] [--stdin-once 0|1] [--tty 0|1]
 *
 * It detaches (double fork, setsid) so that it outlives the agent, even a
 * SIGKILLed one, and becomes a child subreaper, so the container's init —
 * left behind by `<binary> run --detach` — is its child.  It holds the
 * container's stdout and stderr pipes and writes them to the log in the
 * CRI format, rotating by size.  It tells the plugin on the ready fd
 * "ok <init pid> <shim pid> <init start time>" or "error <message>", waits
 * for the init, writes the exit record (JSON, atomically) and exits.
 *
 * With --stdin it keeps the write end of the container's stdin (conmon's
 * attach, docs/runtime.md "Attach"): clients that connect to the unix
 * socket <bundle>/attach write to it; with --stdin-once (and no --tty)
 * the first client to disconnect closes it for good.  With --tty the runtime gets
 * --console-socket and hands over the terminal's master, which replaces
 * the pipes (its output is logged as stdout, stdin goes to it), and
 * datagrams "resize <cols> <rows>" on <bundle>/ctl set its size.
 *
 * Standalone on purpose: no libkraal, nothing that could break while a
 * container runs for months. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (16 * 1024) /* containerd's max_container_log_line_size */
#define DRAIN_MS       2000        /* output still read after the init is gone */
#define CAPTURE_BYTES  (64 * 1024) /* output held back while `run` runs */
#define ATTACH_SOCKET  "attach"    /* in the bundle: stdin (runc.h RUNC_ATTACH_SOCKET) */
#define CTL_SOCKET     "ctl"       /* in the bundle: resize datagrams (RUNC_CTL_SOCKET) */
#define CONSOLE_SOCKET "console"   /* in the bundle while `run` runs (--tty) */
#define MAX_CLIENTS    16          /* attach clients at once */
#define STDIN_CHUNK    (32 * 1024)

typedef struct opts {
    const char *binary, *root, *id, *bundle, *pid_file, *exit_file, *log;
    long long log_max_size, log_max_files, timeout_ms;
    int ready_fd;
    bool stdin_open, stdin_once, tty;
} opts_t;

typedef struct log {
    const opts_t *o;
    int fd;
    long long size;
} log_t;

typedef struct stream {
    const char *name; /* "stdout" | "stderr" */
    int fd;
    char buf[LINE_MAX_BYTES];
    size_t len;
} stream_t;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kraal-runc-shim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- the CRI log ---------------------------------------------------------- */

static void log_open(log_t *l, bool truncate)
{
    if (l->o->log == NULL) {
        l->fd = -1;
        return;
    }
    l->fd =
        open(l->o->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0640);
    if (l->fd < 0) {
        fprintf(stderr, "kraal-runc-shim: %s: %s\n", l->o->log, strerror(errno));
        return;
    }
    struct stat st;
    l->size = fstat(l->fd, &st) == 0 ? st.st_size : 0;
}

/* <log>.1 is the newest rotated file; <log>.<max_files-1> the oldest kept. */
static void log_rotate(log_t *l)
{
    close(l->fd);
    l->fd = -1;
    if (l->o->log_max_files <= 1) {
        log_open(l, true);
        return;
    }
    char from[PATH_MAX], to[PATH_MAX];
    for (long long k = l->o->log_max_files - 2; k >= 1; k--) {
        snprintf(from, sizeof from, "%s.%lld", l->o->log, k);
        snprintf(to, sizeof to, "%s.%lld", l->o->log, k + 1);
        rename(from, to);
    }
    snprintf(to, sizeof to, "%s.1", l->o->log);
    rename(l->o->log, to);
    log_open(l, true);
}

static void log_line(log_t *l, const char *stream, bool partial, const char *p, size_t n)
{
    if (l->fd < 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char head[96];
    size_t h = strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    h += (size_t)snprintf(head + h, sizeof head - h, ".%09ldZ %s %c ", ts.tv_nsec, stream,
                          partial ? 'P' : 'F');
    long long total = (long long)(h + n + 1);
    if (l->o->log_max_size > 0 && l->size > 0 && l->size + total > l->o->log_max_size)
        log_rotate(l);
    if (l->fd < 0)
        return;
    /* One write per record: a reader following the file never sees half a
     * line's header. */
    char *rec = malloc((size_t)total);
    if (rec == NULL)
        return;
    memcpy(rec, head, h);
    memcpy(rec + h, p, n);
    rec[h + n] = '\n';
    if (write_all(l->fd, rec, (size_t)total) == 0)
        l->size += total;
    free(rec);
}

/* Logs the complete lines in the stream's buffer; a full buffer without a
 * newline goes out as a partial line ('P'); at EOF the rest is a line. */
static void stream_flush(stream_t *s, log_t *l, bool eof)
{
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++)
        if (s->buf[i] == '\n') {
            log_line(l, s->name, false, s->buf + start, i - start);
            start = i + 1;
        }
    if (start == 0 && s->len == sizeof s->buf) {
        log_line(l, s->name, true, s->buf, s->len);
        start = s->len;
    } else if (eof && start < s->len) {
        log_line(l, s->name, false, s->buf + start, s->len - start);
        start = s->len;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
}

/* Reads what is there; returns false at EOF (the fd is closed then). */
static bool stream_read(stream_t *s, log_t *l)
{
    ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (r <= 0) {
        stream_flush(s, l, true);
        close(s->fd);
        s->fd = -1;
        return false;
    }
    s->len += (size_t)r;
    stream_flush(s, l, false);
    return true;
}

/* ---- records ---------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void write_exit(const opts_t *o, int code, int sig, bool oom, const char *reason,
                       const char *message)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", o->exit_file);
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        die("%s: %s", tmp, strerror(errno));
    fprintf(f, "{\"exit_code\":%d,\"signal\":%d,\"finished_at\":%lld,\"oom_killed\":%s,", code, sig,
            (long long)now_ns(), oom ? "true" : "false");
    fputs("\"reason\":", f);
    json_str(f, reason);
    if (message != NULL) {
        fputs(",\"message\":", f);
        json_str(f, message);
    }
    fputs("}\n", f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        die("%s: %s", tmp, strerror(errno));
    fclose(f);
    if (rename(tmp, o->exit_file) < 0)
        die("%s: %s", o->exit_file, strerror(errno));
}

static void ready(opts_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ready(opts_t *o, const char *fmt, ...)
{
    if (o->ready_fd < 0)
        return;
    char buf[4200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = (int)sizeof buf - 1;
    write_all(o->ready_fd, buf, (size_t)n);
    close(o->ready_fd);
    o->ready_fd = -1;
}

/* ---- the memory cgroup ---------------------------------------------------------- */

/* The memory cgroup directory of pid (v1 "memory" line, else v2's). */
static bool memory_cgroup(int pid, char *out, size_t len)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *v2 = NULL;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        char *ctrls = c1 + 1;
        if (ctrls[0] == '\0')
            v2 = c2 + 1;
        char *s2 = NULL;
        for (char *c = strtok_r(ctrls, ",", &s2); c; c = strtok_r(NULL, ",", &s2))
            if (strcmp(c, "memory") == 0) {
                snprintf(out, len, "/sys/fs/cgroup/memory%s", c2 + 1);
                return true;
            }
    }
    if (v2 == NULL)
        return false;
    snprintf(out, len, "/sys/fs/cgroup/unified%s", v2);
    struct stat st;
    if (stat(out, &st) == 0 && access(out, F_OK) == 0) {
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "%s/memory.events", out);
        if (access(probe, F_OK) == 0)
            return true;
    }
    snprintf(out, len, "/sys/fs/cgroup%s", v2);
    return true;
}

/* A counter from a "key value" file of the cgroup; -1 when absent. */
static long long cg_counter(const char *dir, const char *file, const char *key)
{
    char path[PATH_MAX], buf[8192];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (key == NULL)
        return strtoll(buf, NULL, 10);
    size_t kl = strlen(key);
    for (char *p = buf; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
            return strtoll(p + kl + 1, NULL, 10);
    return -1;
}

/* How many processes the kernel's OOM killer took in the cgroup (v1
 * memory.oom_control, v2 memory.events); -1 when the kernel does not say. */
static long long oom_kills(const char *cg)
{
    long long n = cg_counter(cg, "memory.oom_control", "oom_kill");
    return n >= 0 ? n : cg_counter(cg, "memory.events", "oom_kill");
}

/* ---- attach ---------------------------------------------------------------------- */

/* The address of the unix socket <dir>/<leaf>: the path when it fits
 * sun_path, else the same file through /proc/<pid>/fd/<dirfd> (conmon's
 * way around the 108 bytes), valid while dirfd is open. */
static void sock_addr(int dirfd, const char *dir, const char *leaf, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t dl = strlen(dir), ll = strlen(leaf);
    if (dl + 1 + ll < sizeof sa->sun_path) {
        memcpy(sa->sun_path, dir, dl);
        sa->sun_path[dl] = '/';
        memcpy(sa->sun_path + dl + 1, leaf, ll + 1);
        return;
    }
    char head[64];
    int hl = snprintf(head, sizeof head, "/proc/%d/fd/%d/", (int)getpid(), dirfd);
    if (hl < 0 || (size_t)hl + ll >= sizeof sa->sun_path)
        die("%s/%s: the socket's path is too long", dir, leaf);
    memcpy(sa->sun_path, head, (size_t)hl);
    memcpy(sa->sun_path + hl, leaf, ll + 1);
}

/* A fresh socket bound at <bundle>/<leaf> (listening when SOCK_STREAM). */
static int sock_bind(int dirfd, const char *dir, const char *leaf, int type)
{
    struct sockaddr_un sa;
    sock_addr(dirfd, dir, leaf, &sa);
    unlinkat(dirfd, leaf, 0);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        (type == SOCK_STREAM && listen(fd, MAX_CLIENTS) < 0))
        die("%s/%s: %s", dir, leaf, strerror(errno));
    return fd;
}

/* The terminal's master the runtime sends on the console socket; -1 when
 * none came (yet). */
static int console_recv(int lfd)
{
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return -1;
    struct pollfd pf = {.fd = c, .events = POLLIN};
    char name[256];
    struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    /* the runtime sends as soon as it is connected */
    ssize_t r = poll(&pf, 1, 5000) == 1 ? recvmsg(c, &m, MSG_CMSG_CLOEXEC) : -1;
    close(c);
    struct cmsghdr *h = r >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
    if (h == NULL || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(h), sizeof fd);
    return fd;
}

/* The container's stdin and the clients that write to it. */
typedef struct attach {
    int dirfd;  /* the bundle */
    int lfd;    /* the attach socket; -1 once stdin is closed */
    int ctl;    /* resize datagrams; -1 without a terminal */
    int in;     /* the container's stdin (pipe or master); -1 once closed */
    int master; /* the terminal, for resizes; -1 without */
    bool once;  /* --stdin-once */
    bool closing;
    int clients[MAX_CLIENTS];
    size_t n;
    char buf[STDIN_CHUNK]; /* read from a client, not written yet */
    size_t len, off;
} attach_t;

/* Closes the container's stdin for good: nobody attaches any more. */
static void attach_close_stdin(attach_t *at)
{
    if (at->in >= 0)
        close(at->in);
    at->in = -1;
    if (at->lfd >= 0) {
        close(at->lfd);
        unlinkat(at->dirfd, ATTACH_SOCKET, 0);
    }
    at->lfd = -1;
    for (size_t i = 0; i < at->n; i++)
        close(at->clients[i]);
    at->n = 0;
    at->len = at->off = 0;
}

/* The container is gone: no stdin, no resizes. */
static void attach_end(attach_t *at)
{
    attach_close_stdin(at);
    if (at->ctl >= 0) {
        close(at->ctl);
        unlinkat(at->dirfd, CTL_SOCKET, 0);
    }
    at->ctl = -1;
}

/* Writes what is pending; false when it must wait for room. */
static bool attach_flush(attach_t *at)
{
    while (at->in >= 0 && at->off < at->len) {
        ssize_t w = write(at->in, at->buf + at->off, at->len - at->off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return false;
        if (w <= 0) {
            /* the container closed its stdin (or is gone) */
            attach_close_stdin(at);
            return true;
        }
        at->off += (size_t)w;
    }
    at->len = at->off = 0;
    if (at->closing)
        attach_close_stdin(at);
    return true;
}

static void attach_drop_client(attach_t *at, size_t i)
{
    close(at->clients[i]);
    at->clients[i] = at->clients[--at->n];
    /* stdinOnce: the first attach to detach closes stdin (containerd's
     * CloseStdin); what it sent is written first */
    if (at->once)
        at->closing = true;
}

static void attach_ctl(attach_t *at)
{
    char msg[64];
    ssize_t r;
    while ((r = recv(at->ctl, msg, sizeof msg - 1, 0)) > 0) {
        msg[r] = '\0';
        unsigned cols, rows;
        if (at->master >= 0 && sscanf(msg, "resize %u %u", &cols, &rows) == 2 && cols > 0 &&
            rows > 0 && cols < 65536 && rows < 65536) {
            struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
            ioctl(at->master, TIOCSWINSZ, &ws);
        }
    }
}

/* Adds the attach fds to pf at *n; their events go to attach_events with
 * the same base. */
static size_t attach_poll(const attach_t *at, struct pollfd *pf, size_t n)
{
    bool pending = at->off < at->len;
    pf[n++] = (struct pollfd){.fd = at->lfd, .events = POLLIN};
    pf[n++] = (struct pollfd){.fd = at->ctl, .events = POLLIN};
    pf[n++] = (struct pollfd){.fd = pending ? at->in : -1, .events = POLLOUT};
    /* a client is read only when what came before is written: the pipe's
     * room paces the clients */
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        pf[n++] = (struct pollfd){.fd = i < at->n && !pending && !at->closing ? at->clients[i] : -1,
                                  .events = POLLIN};
    return n;
}

static void attach_events(attach_t *at, const struct pollfd *pf)
{
    if (pf[1].revents)
        attach_ctl(at);
    if (pf[2].revents)
        attach_flush(at);
    int cl[MAX_CLIENTS];
    size_t ncl = 0;
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (pf[3 + i].fd >= 0 && pf[3 + i].revents)
            cl[ncl++] = pf[3 + i].fd;
    for (size_t k = 0; k < ncl && at->in >= 0 && at->off == at->len && !at->closing; k++) {
        size_t i = 0;
        while (i < at->n && at->clients[i] != cl[k])
            i++;
        if (i == at->n)
            continue;
        ssize_t r = read(cl[k], at->buf, sizeof at->buf);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            attach_drop_client(at, i);
        } else {
            at->len = (size_t)r;
            at->off = 0;
        }
        attach_flush(at);
    }
    if (at->closing && at->off == at->len)
        attach_close_stdin(at);
    if (pf[0].revents && at->lfd >= 0) {
        int c;
        while ((c = accept4(at->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
            if (at->n == MAX_CLIENTS || at->in < 0) {
                close(c);
                continue;
            }
            at->clients[at->n++] = c;
        }
    }
}

/* ---- run ------------------------------------------------------------------------- */

/* The message of the runtime's failure: the last line of its output, with
 * runc's logrus wrapping (time=... level=error msg="...") taken off. */
static void failure_message(char *out, char *msg, size_t len)
{
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\r'))
        out[--n] = '\0';
    char *line = strrchr(out, '\n');
    line = line ? line + 1 : out;
    char *m = strstr(line, "msg=\"");
    if (m == NULL) {
        snprintf(msg, len, "%s", line[0] ? line : "the OCI runtime failed to run the container");
        return;
    }
    m += 5;
    size_t o = 0;
    for (; *m && *m != '"' && o + 1 < len; m++) {
        if (*m == '\\' && m[1] != '\0')
            m++;
        msg[o++] = *m;
    }
    msg[o] = '\0';
}

static int cannot_run_code(const char *msg)
{
    /* Docker's translation of a failed start (daemon/start.go). */
    if (strcasestr(msg, "executable file not found") ||
        strcasestr(msg, "no such file or directory"))
        return 127;
    if (strcasestr(msg, "permission denied"))
        return 126;
    return 128;
}

/* Output held back while the runtime runs. */
typedef struct capture {
    char buf[CAPTURE_BYTES + 1]; /* NUL-terminated */
    size_t len;
} capture_t;

static bool capture_full(const capture_t *c)
{
    return c->len == CAPTURE_BYTES;
}

/* Reads what is there (non-blocking fd) while there is room. */
static void capture_read(capture_t *c, int fd)
{
    while (!capture_full(c)) {
        ssize_t r = read(fd, c->buf + c->len, CAPTURE_BYTES - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        c->len += (size_t)r;
    }
    c->buf[c->len] = '\0';
}

/* Hands held-back output to the stream, to be logged as it would have
 * been. */
static void capture_replay(const capture_t *c, stream_t *s, log_t *l)
{
    for (size_t off = 0; off < c->len;) {
        size_t n = c->len - off < sizeof s->buf - s->len ? c->len - off : sizeof s->buf - s->len;
        memcpy(s->buf + s->len, c->buf + off, n);
        s->len += n;
        off += n;
        stream_flush(s, l, false);
    }
}

/* A process's start time in clock ticks since boot (/proc/<pid>/stat
 * field 22), zombies included; 0 when it is gone. */
static unsigned long long proc_start(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
    for (int field = 2; field < 22 && p != NULL; field++) {
        p = strchr(p + 1, ' ');
    }
    return p != NULL ? strtoull(p + 1, NULL, 10) : 0;
}

/* in_r: the read end of the container's stdin pipe, -1 for /dev/null;
 * console: the --console-socket path (--tty), else NULL. */
static pid_t spawn_run(const opts_t *o, int in_r, int out_w, int err_w, const char *console)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int in = in_r >= 0 ? in_r : open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
        _exit(127);
    /* run --detach: one runtime process instead of create + start; with
     * no terminal the container keeps the runtime's stdin, stdout and
     * stderr; with one, the runtime sends its master to the console
     * socket. */
    const char *argv[14] = {o->binary, "--root", o->root, "run", "--detach"};
    size_t n = 5;
    if (console != NULL) {
        argv[n++] = "--console-socket";
        argv[n++] = console;
    }
    const char *rest[] = {"--bundle", o->bundle, "--pid-file", o->pid_file, o->id, NULL};
    memcpy(argv + n, rest, sizeof rest);
    execvp(argv[0], (char *const *)argv);
    dprintf(2, "exec %s: %s\n", o->binary, strerror(errno));
    _exit(127);
}

static long long num_arg(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0')
        die("not a number: %s", s);
    return v;
}

static void parse(int argc, char **argv, opts_t *o)
{
    *o =
        (opts_t){.log_max_size = 10 << 20, .log_max_files = 5, .timeout_ms = 60000, .ready_fd = -1};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--binary") == 0)
            o->binary = v;
        else if (strcmp(k, "--root") == 0)
            o->root = v;
        else if (strcmp(k, "--id") == 0)
            o->id = v;
        else if (strcmp(k, "--bundle") == 0)
            o->bundle = v;
        else if (strcmp(k, "--pid-file") == 0)
            o->pid_file = v;
        else if (strcmp(k, "--exit-file") == 0)
            o->exit_file = v;
        else if (strcmp(k, "--log") == 0)
            o->log = v[0] ? v : NULL;
        else if (strcmp(k, "--log-max-size") == 0)
            o->log_max_size = num_arg(v);
        else if (strcmp(k, "--log-max-files") == 0)
            o->log_max_files = num_arg(v);
        else if (strcmp(k, "--timeout-ms") == 0)
            o->timeout_ms = num_arg(v);
        else if (strcmp(k, "--ready-fd") == 0)
            o->ready_fd = (int)num_arg(v);
        else if (strcmp(k, "--stdin") == 0)
            o->stdin_open = num_arg(v) != 0;
        else if (strcmp(k, "--stdin-once") == 0)
            o->stdin_once = num_arg(v) != 0;
        else if (strcmp(k, "--tty") == 0)
            o->tty = num_arg(v) != 0;
        else
            die("unknown option %s", k);
    }
    if (!o->binary || !o->root || !o->id || !o->bundle || !o->pid_file || !o->exit_file)
        die("usage: kraal-runc-shim --binary B --root R --id ID --bundle DIR --pid-file P "
            "--exit-file F [--log PATH] [--log-max-size N] [--log-max-files N] "
            "[--timeout-ms N] [--ready-fd N] [--stdin 0|1] [--stdin-once 0|1] [--tty 0|1]");
}

int main(int argc, char **argv)
{
    opts_t o;
    parse(argc, argv, &o);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    /* Double fork: the plugin reaps the first process at once; the second
     * is in a session of its own and belongs to no process of the agent. */
    pid_t p = fork();
    if (p < 0)
        die("fork: %s", strerror(errno));
    if (p > 0) {
        /* Reap the middle process: it must not become a zombie of whatever
         * adopts it. */
        int st;
        while (waitpid(p, &st, 0) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    setsid();
    p = fork();
    if (p < 0)
        die("fork: %s", strerror(errno));
    if (p > 0)
        _exit(0);
    if (chdir("/") < 0)
        die("chdir /: %s", strerror(errno));
    /* Whatever the agent left open without O_CLOEXEC (a listening socket,
     * another container's pipe) must not live as long as this shim. */
    if (o.ready_fd > 3)
        close_range(3, (unsigned)o.ready_fd - 1, 0);
    close_range(o.ready_fd >= 3 ? (unsigned)o.ready_fd + 1 : 3, ~0U, 0);
    /* Nor may the runtime or the container inherit the ready fd: the
     * plugin would wait for an EOF that crun's waiting init holds back. */
    if (o.ready_fd >= 0)
        fcntl(o.ready_fd, F_SETFD, FD_CLOEXEC);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    /* SIGPIPE would kill the shim when the plugin is gone before it reads
     * the ready line; a lost log line is the worst a write error does. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        die("signalfd: %s", strerror(errno));

    /* The attach and ctl sockets are there before the plugin hears of
     * the start, so an attach right after it finds them. */
    static attach_t at = {.lfd = -1, .ctl = -1, .in = -1, .master = -1};
    /* a terminal stays open for the next attach -it (containerd closes
     * stdin for StdinOnce only without a tty) */
    at.once = o.stdin_once && !o.tty;
    at.dirfd = open(o.bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (at.dirfd < 0)
        die("%s: %s", o.bundle, strerror(errno));
    int inp[2] = {-1, -1}, console = -1;
    struct sockaddr_un console_sa;
    if (o.stdin_open) {
        at.lfd = sock_bind(at.dirfd, o.bundle, ATTACH_SOCKET, SOCK_STREAM);
        if (!o.tty && pipe2(inp, O_CLOEXEC) < 0)
            die("pipe: %s", strerror(errno));
    }
    if (o.tty) {
        at.ctl = sock_bind(at.dirfd, o.bundle, CTL_SOCKET, SOCK_DGRAM);
        console = sock_bind(at.dirfd, o.bundle, CONSOLE_SOCKET, SOCK_STREAM);
        sock_addr(at.dirfd, o.bundle, CONSOLE_SOCKET, &console_sa);
    }
    int outp[2], errp[2];
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    stream_t so = {.name = "stdout", .fd = outp[0]}, se = {.name = "stderr", .fd = errp[0]};
    /* with a terminal, the container's output comes on its master */
    static stream_t sm = {.name = "stdout", .fd = -1};
    pid_t run = spawn_run(&o, inp[0], outp[1], errp[1], o.tty ? console_sa.sun_path : NULL);
    if (run < 0)
        die("fork: %s", strerror(errno));
    close(outp[1]);
    close(errp[1]);
    if (inp[0] >= 0) {
        close(inp[0]);
        at.in = inp[1];
        fcntl(at.in, F_SETFL, O_NONBLOCK);
    }
    fcntl(so.fd, F_SETFL, O_NONBLOCK);
    fcntl(se.fd, F_SETFL, O_NONBLOCK);

    /* Until `run` is done, what comes on the pipes may be the runtime's
     * (its error) or already the container's: it is held back, and goes
     * to the log once `run` succeeded or becomes the failure message.  A
     * container that writes more meanwhile waits on the full pipe. */
    static capture_t cap[2];
    int64_t deadline = mono_ms() + o.timeout_ms;
    int rst = 0;
    bool done = false, timed_out = false;
    while (!done) {
        struct pollfd pf[4] = {{.fd = sfd, .events = POLLIN},
                               {.fd = capture_full(&cap[0]) ? -1 : so.fd, .events = POLLIN},
                               {.fd = capture_full(&cap[1]) ? -1 : se.fd, .events = POLLIN},
                               {.fd = sm.fd < 0 ? console : -1, .events = POLLIN}};
        int64_t left = deadline - mono_ms();
        if (left <= 0 && !timed_out) {
            kill(run, SIGKILL);
            timed_out = true;
            left = 1000;
        }
        poll(pf, 4, left > 0 ? (int)(left < 100 ? left : 100) : 100);
        for (int i = 1; i < 3; i++)
            if (pf[i].fd >= 0 && (pf[i].revents & (POLLIN | POLLHUP)))
                capture_read(&cap[i - 1], pf[i].fd);
        if (pf[3].fd >= 0 && pf[3].revents)
            sm.fd = console_recv(console);
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) > 0)
            ;
        if (waitpid(run, &rst, WNOHANG) == run)
            done = true;
    }
    /* What is still in the pipes came before run exited. */
    capture_read(&cap[0], so.fd);
    capture_read(&cap[1], se.fd);
    bool ok = !timed_out && WIFEXITED(rst) && WEXITSTATUS(rst) == 0;
    if (console >= 0) {
        if (sm.fd < 0)
            sm.fd = console_recv(console);
        close(console);
        unlinkat(at.dirfd, CONSOLE_SOCKET, 0);
    }
    int init = 0;
    if (ok) {
        char buf[64] = "";
        int fd = open(o.pid_file, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n > 0) {
            buf[n] = '\0';
            init = atoi(buf);
        }
        if (init <= 0) {
            ok = false;
            cap[1].len = (size_t)snprintf(cap[1].buf, sizeof cap[1].buf, "no pid in %s after run",
                                          o.pid_file);
        } else if (o.tty && sm.fd < 0) {
            /* a container on a terminal nobody holds: not worth running */
            kill(init, SIGKILL);
            ok = false;
            cap[1].len =
                (size_t)snprintf(cap[1].buf, sizeof cap[1].buf,
                                 "%s run: no terminal came on the console socket", o.binary);
        }
    }
    if (!ok) {
        char msg[4096];
        if (timed_out)
            snprintf(msg, sizeof msg, "%s run: timed out after %lld ms", o.binary, o.timeout_ms);
        else /* the runtime's error is on stderr; runc's text logs too */
            failure_message(cap[cap[1].len > 0 ? 1 : 0].buf, msg, sizeof msg);
        write_exit(&o, cannot_run_code(msg), 0, false, "ContainerCannotRun", msg);
        attach_end(&at);
        ready(&o, "error %s\n", msg);
        return 0;
    }
    if (sm.fd >= 0) {
        at.master = sm.fd;
        struct winsize ws;
        if (ioctl(sm.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col == 0) {
            /* what a terminal has until the first resize (as exec's) */
            ws = (struct winsize){.ws_row = 24, .ws_col = 80};
            ioctl(sm.fd, TIOCSWINSZ, &ws);
        }
        fcntl(sm.fd, F_SETFL, O_NONBLOCK);
        if (o.stdin_open)
            at.in = fcntl(sm.fd, F_DUPFD_CLOEXEC, 0);
    }
    char cg[PATH_MAX] = "";
    bool have_cg = memory_cgroup(init, cg, sizeof cg);
    long long oom_before = have_cg ? oom_kills(cg) : -1;
    /* The init's start time, read while it cannot be reaped yet (a zombie
     * still has it): the plugin's pid-reuse check, also for a container
     * that is gone before the plugin could look. */
    ready(&o, "ok %d %d %llu\n", init, (int)getpid(), proc_start(init));

    log_t lg = {.o = &o, .fd = -1};
    log_open(&lg, false);
    capture_replay(&cap[0], &so, &lg);
    capture_replay(&cap[1], &se, &lg);
    int status = 0;
    bool exited = false;
    int64_t drain_until = 0;
    /* The init may be gone already: its SIGCHLD was read while run ran. */
    bool reap = true;
    while (!exited || ((so.fd >= 0 || se.fd >= 0 || sm.fd >= 0) && mono_ms() < drain_until)) {
        if (reap) {
            int st;
            pid_t w;
            while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                if (w == init && !exited) {
                    status = st;
                    exited = true;
                    drain_until = mono_ms() + DRAIN_MS;
                    attach_end(&at); /* an attach now fails at once */
                }
            reap = false;
            continue;
        }
        struct pollfd pf[4 + 3 + MAX_CLIENTS] = {{.fd = sfd, .events = POLLIN},
                                                 {.fd = so.fd, .events = POLLIN},
                                                 {.fd = se.fd, .events = POLLIN},
                                                 {.fd = sm.fd, .events = POLLIN}};
        size_t npf = attach_poll(&at, pf, 4);
        int wait = exited ? (int)(drain_until - mono_ms()) : -1;
        if (poll(pf, npf, wait < 0 && exited ? 0 : wait) < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        if (pf[1].revents)
            stream_read(&so, &lg);
        if (pf[2].revents)
            stream_read(&se, &lg);
        if (pf[3].revents && !stream_read(&sm, &lg))
            at.master = -1; /* EIO: the terminal's last user is gone */
        attach_events(&at, pf + 4);
        if (pf[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0)
                ;
            reap = true;
        }
    }
    /* Leftover partial lines, and the last words of a process that did not
     * close its end. */
    if (so.fd >= 0)
        stream_flush(&so, &lg, true);
    if (se.fd >= 0)
        stream_flush(&se, &lg, true);
    if (sm.fd >= 0)
        stream_flush(&sm, &lg, true);
    attach_end(&at);

    int code, sig = 0;
    if (WIFSIGNALED(status)) {
        sig = WTERMSIG(status);
        code = 128 + sig;
    } else {
        code = WEXITSTATUS(status);
    }
    bool oom = false;
    if (have_cg) {
        long long after = oom_kills(cg);
        if (after >= 0)
            oom = after > (oom_before > 0 ? oom_before : 0);
        else /* no oom_kill counter: hitting the limit and dying of SIGKILL */
            oom = sig == SIGKILL && cg_counter(cg, "memory.failcnt", NULL) > 0;
    }
    const char *reason = oom ? "OOMKilled" : code == 0 ? "Completed" : "Error";
    write_exit(&o, code, sig, oom, reason, NULL);
    if (lg.fd >= 0)
        close(lg.fd);
    return 0;
}
