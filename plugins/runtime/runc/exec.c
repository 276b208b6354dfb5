/* exec: `<binary> exec --process <file> <id>`, the process described as
 * the container's own (user, capabilities, cwd, env from its config.json)
 * with the exec's argv and extra env, so that runc and crun run it alike.
 *
 * exec_sync bounds the run: on timeout the runtime's exec process and the
 * process it started in the container (its --pid-file) are killed, the way
 * the kubelet's probes expect a timed-out exec to end.
 *
 * exec_start hands the caller pipes to the runtime's exec process, which
 * stays in the foreground and exits with the process's code; the caller
 * reaps it through exec_wait.  With a terminal (kubectl exec -t) the
 * runtime, in the foreground with --tty, wants a terminal of its own: it
 * gets the slave of a pty this plugin opens (as its controlling terminal,
 * in a session of its own), copies between it and the container's pty, and
 * follows its size on SIGWINCH; the caller gets the master, and
 * exec_resize sets the master's window size. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "runc.h"

typedef struct exec_handle {
    char procfile[4200];
    char pidfile[4200];
    int master; /* the pty master (a dup of the caller's), -1 without tty */
} exec_handle_t;

/* Checks the container runs and writes the process file for argv. */
static int exec_prepare(runc_rt_t *rt, const char *id, const char *const *argv,
                        const kr_rt_kv_t *env, size_t n_env, bool tty, exec_handle_t *h,
                        kr_error_t *err)
{
    if (argv == NULL || argv[0] == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST, "exec: a command is required");
    kr_rt_container_t st;
    if (runc_container_status(rt, id, &st, err) < 0)
        return -KR_E_NOT_FOUND;
    bool running = st.state == KR_RT_RUNNING;
    kr_rt_container_free(&st);
    if (!running)
        return kr_error_set(err, KR_E_CONFLICT,
                            "cannot exec in a stopped state: container \"%s\" is not running", id);
    char path[4096], tag[KR_RT_ID_MAX];
    runc_ctr_path(rt, id, "config.json", path, sizeof path);
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *spec;
    int rc = runc_record_read(a, path, &spec, err);
    kr_value_t *proc = rc == 0 ? kr_value_map_get(spec, "process") : NULL;
    if (rc == 0 && kr_value_type(proc) != KR_MAP)
        rc = kr_error_set(err, KR_E_INTERNAL, "%s: no process", path);
    if (rc == 0) {
        kr_value_t *args = kr_value_array(a);
        for (size_t i = 0; argv[i] != NULL; i++)
            kr_value_array_push(a, args, kr_value_str(a, argv[i]));
        kr_value_map_set(a, proc, "args", args);
        kr_value_map_set(a, proc, "terminal", kr_value_bool(a, tty));
        kr_value_t *e = kr_value_map_get(proc, "env");
        if (kr_value_type(e) != KR_ARRAY) {
            e = kr_value_array(a);
            kr_value_map_set(a, proc, "env", e);
        }
        for (size_t i = 0; i < n_env; i++)
            runc_env_put(a, e, kr_arena_printf(a, "%s=%s", env[i].key, env[i].value));
        runc_new_id(tag);
        runc_ctr_path(rt, id, NULL, path, sizeof path);
        snprintf(h->procfile, sizeof h->procfile, "%s/exec-%.12s.json", path, tag);
        snprintf(h->pidfile, sizeof h->pidfile, "%s/exec-%.12s.pid", path, tag);
        rc = runc_record_write(h->procfile, proc, false, err);
    }
    kr_arena_destroy(&a);
    return rc;
}

static void exec_cleanup(exec_handle_t *h)
{
    unlink(h->procfile);
    unlink(h->pidfile);
    if (h->master >= 0)
        close(h->master);
    h->master = -1;
}

static void exec_argv(runc_rt_t *rt, const char *id, exec_handle_t *h, bool tty,
                      const char *argv[12])
{
    size_t n = 0;
    argv[n++] = rt->conf->binary;
    argv[n++] = "--root";
    argv[n++] = rt->root;
    argv[n++] = "exec";
    if (tty)
        argv[n++] = "--tty";
    argv[n++] = "--process";
    argv[n++] = h->procfile;
    argv[n++] = "--pid-file";
    argv[n++] = h->pidfile;
    argv[n++] = id;
    argv[n] = NULL;
}

int runc_exec_sync(void *self, const char *id, const char *const *argv, int64_t timeout_ms,
                   char *out, size_t cap, int *exit_code, kr_error_t *err)
{
    runc_rt_t *rt = self;
    exec_handle_t h = {.master = -1};
    int rc = exec_prepare(rt, id, argv, NULL, 0, false, &h, err);
    if (rc < 0)
        return rc;
    const char *cmd[12];
    exec_argv(rt, id, &h, false, cmd);
    runc_cmd_result_t res = {.out = out, .cap = cap};
    rc = runc_cmd_run(cmd, timeout_ms, &res, err);
    if (rc == 0 && res.timeout) {
        char buf[32];
        int pid = runc_read_file(h.pidfile, buf, sizeof buf) > 0 ? atoi(buf) : 0;
        if (pid > 0)
            kill(pid, SIGKILL);
        rc = kr_error_set(err, KR_E_TIMEOUT, "command timed out after %lld ms",
                          (long long)timeout_ms);
    }
    if (rc == 0 && exit_code != NULL)
        *exit_code = res.status;
    exec_cleanup(&h);
    return rc;
}

/* A pty: the master (CLOEXEC) and the slave's path; 80x24 until resized. */
static int pty_open(int *master, char *slave, size_t len, kr_error_t *err)
{
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0 || grantpt(*master) < 0 || unlockpt(*master) < 0 ||
        ptsname_r(*master, slave, len) != 0) {
        int e = errno;
        if (*master >= 0)
            close(*master);
        *master = -1;
        return kr_error_set(err, KR_E_INTERNAL, "opening a pty: %s", strerror(e));
    }
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    ioctl(*master, TIOCSWINSZ, &ws);
    return 0;
}

int runc_exec_start(void *self, const char *id, const kr_rt_exec_config_t *cfg,
                    kr_rt_exec_proc_t *proc, kr_error_t *err)
{
    runc_rt_t *rt = self;
    *proc = (kr_rt_exec_proc_t){.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    if (cfg == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST, "exec: no config");
    exec_handle_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        abort();
    h->master = -1;
    int rc = exec_prepare(rt, id, cfg->argv, cfg->env, cfg->n_env, cfg->tty, h, err);
    if (rc < 0) {
        free(h);
        return rc;
    }
    int in[2] = {-1, -1}, o[2] = {-1, -1}, e[2] = {-1, -1}, master = -1;
    char slave[128];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (cfg->tty) {
        if ((rc = pty_open(&master, slave, sizeof slave, err)) < 0)
            goto fail;
        posix_spawn_file_actions_addopen(&fa, 0, slave, O_RDWR, 0);
        posix_spawn_file_actions_adddup2(&fa, 0, 1);
        posix_spawn_file_actions_adddup2(&fa, 0, 2);
    } else {
        if ((cfg->want_stdin && pipe2(in, O_CLOEXEC) < 0) || pipe2(o, O_CLOEXEC) < 0 ||
            pipe2(e, O_CLOEXEC) < 0) {
            rc = kr_error_set(err, KR_E_INTERNAL, "pipe: %s", strerror(errno));
            goto fail;
        }
        if (cfg->want_stdin)
            posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        else
            posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, o[1], 1);
        posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    }
    const char *cmd[12];
    exec_argv(rt, id, h, cfg->tty, cmd);
    pid_t pid;
    int src =
        runc_spawn(&pid, cmd[0], RUNC_SPAWN_PATH | (cfg->tty ? RUNC_SPAWN_SETSID : 0), &fa, cmd);
    if (src != 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "%s exec: %s", cmd[0], strerror(src));
        goto fail;
    }
    posix_spawn_file_actions_destroy(&fa);
    if (cfg->tty) {
        h->master = fcntl(master, F_DUPFD_CLOEXEC, 0);
        proc->stdout_fd = master;
        proc->stdin_fd = cfg->want_stdin ? fcntl(master, F_DUPFD_CLOEXEC, 0) : -1;
    } else {
        if (in[0] >= 0)
            close(in[0]);
        close(o[1]);
        close(e[1]);
        proc->stdin_fd = in[1];
        proc->stdout_fd = o[0];
        proc->stderr_fd = e[0];
    }
    proc->pid = pid;
    proc->handle = h;
    return 0;
fail:
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (o[i] >= 0)
            close(o[i]);
        if (e[i] >= 0)
            close(e[i]);
    }
    if (master >= 0)
        close(master);
    exec_cleanup(h);
    free(h);
    return rc;
}

int runc_exec_resize(void *self, kr_rt_exec_proc_t *proc, uint16_t cols, uint16_t rows,
                     kr_error_t *err)
{
    (void)self;
    exec_handle_t *h = proc != NULL ? proc->handle : NULL;
    if (h == NULL || h->master < 0)
        return kr_error_set(err, KR_E_BAD_REQUEST, "the exec has no terminal to resize");
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    if (ioctl(h->master, TIOCSWINSZ, &ws) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "resizing the terminal: %s", strerror(errno));
    return 0;
}
int runc_exec_wait(void *self, kr_rt_exec_proc_t *proc, int *exit_code, kr_error_t *err)
{
    (void)self;
    if (proc == NULL || proc->pid <= 0)
        return kr_error_set(err, KR_E_BAD_REQUEST, "exec_wait: no process");
    int st;
    pid_t w;
    while ((w = waitpid(proc->pid, &st, 0)) < 0 && errno == EINTR)
        ;
    int rc = 0;
    if (w < 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "waitpid %d: %s", proc->pid, strerror(errno));
    else if (exit_code != NULL)
        *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    exec_handle_t *h = proc->handle;
    if (h != NULL) {
        exec_cleanup(h);
        free(h);
    }
    proc->handle = NULL;
    proc->pid = 0;
    return rc;
}
