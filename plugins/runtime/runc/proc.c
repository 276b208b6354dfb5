/* Running the OCI runtime binary, bounded by a timeout, and the small /proc
 * and file-system readers the rest of the plugin shares.
 *
 * The plugin lives in a multi-threaded process (the agent), so children are
 * started with posix_spawn (vfork-like, nothing runs between fork and exec)
 * with every signal back to its default and an empty mask: the runtime and
 * the container it starts must not inherit the agent's ignored SIGPIPE. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runc.h"

extern char **environ;

int64_t runc_now(void)
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

int runc_spawn(pid_t *pid, const char *path, int flags, const posix_spawn_file_actions_t *fa,
               const char *const *argv)
{
    bool search = flags & RUNC_SPAWN_PATH;
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      (flags & RUNC_SPAWN_SETSID ? POSIX_SPAWN_SETSID : 0));
    int rc = search ? posix_spawnp(pid, path, fa, &at, (char *const *)argv, environ)
                    : posix_spawn(pid, path, fa, &at, (char *const *)argv, environ);
    posix_spawnattr_destroy(&at);
    return rc;
}

int runc_cmd_run(const char *const *argv, int64_t timeout_ms, runc_cmd_result_t *res,
                 kr_error_t *err)
{
    return runc_cmd_run_in(argv, -1, timeout_ms, res, err);
}

int runc_cmd_run_in(const char *const *argv, int in_fd, int64_t timeout_ms, runc_cmd_result_t *res,
                    kr_error_t *err)
{
    res->status = 0;
    res->timeout = false;
    res->len = 0;
    if (res->out != NULL && res->cap > 0)
        res->out[0] = '\0';
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    pid_t pid;
    int rc = runc_spawn(&pid, argv[0], RUNC_SPAWN_PATH, &fa, argv);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        return kr_error_set(err, KR_E_INTERNAL, "%s: %s", argv[0], strerror(rc));
    }
    int64_t deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;
    size_t len = 0, cap = res->out != NULL && res->cap > 0 ? res->cap - 1 : 0;
    bool eof = false;
    while (!eof) {
        int wait = -1;
        if (deadline) {
            int64_t left = deadline - mono_ms();
            if (left <= 0) {
                res->timeout = true;
                break;
            }
            wait = (int)left;
        }
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int n = poll(&pfd, 1, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        char buf[4096];
        ssize_t r = read(p[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            eof = true;
            break;
        }
        size_t keep = cap - len;
        if ((size_t)r < keep)
            keep = (size_t)r;
        if (keep > 0)
            memcpy(res->out + len, buf, keep);
        len += keep;
    }
    close(p[0]);
    if (cap > 0)
        res->out[len] = '\0';
    res->len = len;
    if (res->timeout)
        kill(pid, SIGKILL);
    /* Output can end (a daemonized grandchild holding the pipe aside, the
     * runtime closed its stdio) before the process does: the wait is bounded
     * by the same deadline. */
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, deadline && !res->timeout ? WNOHANG : 0);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            break;
        if (w == 0) {
            if (mono_ms() >= deadline) {
                res->timeout = true;
                kill(pid, SIGKILL);
            } else {
                struct timespec ts = {0, 5 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

/* Trims trailing white space of the output for an error message. */
static const char *trimmed(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int runc_runtime_cmd(runc_rt_t *rt, const char *const *args, kr_error_t *err)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = rt->conf->binary;
    argv[n++] = "--root";
    argv[n++] = rt->root;
    for (size_t i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char out[4096];
    runc_cmd_result_t res = {.out = out, .cap = sizeof out};
    int rc = runc_cmd_run(argv, rt->conf->command_timeout, &res, err);
    if (rc == 0 && res.timeout)
        rc = kr_error_set(err, KR_E_TIMEOUT, "%s %s: timed out after %lld ms", rt->conf->binary,
                          args[0], (long long)rt->conf->command_timeout);
    else if (rc == 0 && res.status != 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "%s %s: %s", rt->conf->binary, args[0],
                          out[0] ? trimmed(out) : "failed");
    return rc;
}

ssize_t runc_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* The fields of /proc/<pid>/stat from the state on (field 3), in buf;
 * NULL when the pid is gone.  "pid (comm) S ppid ... starttime": comm may
 * hold spaces and parentheses, so fields count from the last ')'. */
static char *pid_stat(int pid, char *buf, size_t cap)
{
    if (pid <= 0)
        return NULL;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (runc_read_file(path, buf, cap) <= 0)
        return NULL;
    char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] != '\0' ? p + 2 : NULL;
}

uint64_t runc_pid_start(int pid)
{
    char buf[1024];
    char *p = pid_stat(pid, buf, sizeof buf);
    if (p == NULL || *p == 'Z' || *p == 'X')
        return 0;
    for (int field = 3; field < 22 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    return p != NULL ? strtoull(p, NULL, 10) : 0;
}

int runc_pid_parent(int pid)
{
    char buf[1024];
    char *p = pid_stat(pid, buf, sizeof buf);
    return p != NULL && p[1] == ' ' ? atoi(p + 2) : 0;
}

bool runc_pid_alive(int pid, uint64_t start)
{
    uint64_t now = runc_pid_start(pid);
    return now != 0 && (start == 0 || now == start);
}

uint64_t runc_cap_bound(void)
{
    char buf[4096];
    if (runc_read_file("/proc/self/status", buf, sizeof buf) <= 0)
        return 0;
    const char *p = strstr(buf, "\nCapBnd:");
    return p != NULL ? strtoull(p + 8, NULL, 16) : 0;
}

bool runc_pid_cgroup(int pid, const char *controller, char *out, size_t len)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
    if (runc_read_file(path, buf, sizeof buf) <= 0)
        return false;
    size_t clen = strlen(controller);
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        /* "4:memory:/kraal/x/y", "2:cpu,cpuacct:/..." or "0::/..." */
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        char *list = c1 + 1;
        *c2 = '\0';
        bool match = false;
        if (clen == 0) {
            match = list[0] == '\0';
        } else {
            for (char *s = list; s != NULL && *s;) {
                size_t n = strcspn(s, ",");
                if (n == clen && strncmp(s, controller, n) == 0)
                    match = true;
                s = s[n] ? s + n + 1 : NULL;
            }
        }
        if (!match)
            continue;
        if (clen == 0)
            snprintf(out, len, "/sys/fs/cgroup/unified%s", c2 + 1);
        else
            snprintf(out, len, "/sys/fs/cgroup/%s%s", list, c2 + 1);
        struct stat st;
        if (stat(out, &st) == 0)
            return true;
        if (clen == 0) {
            /* A pure cgroup v2 host mounts the unified tree on /sys/fs/cgroup. */
            snprintf(out, len, "/sys/fs/cgroup%s", c2 + 1);
            return stat(out, &st) == 0;
        }
        /* "cpu,cpuacct" is mounted as that, with cpuacct a symlink. */
        snprintf(out, len, "/sys/fs/cgroup/%s%s", controller, c2 + 1);
        return stat(out, &st) == 0;
    }
    return false;
}

void runc_new_id(char id[KR_RT_ID_MAX])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            abort(); /* the kernel's random source cannot fail after boot */
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(id + 2 * i, 3, "%02x", r[i]);
}
