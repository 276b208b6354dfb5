/* Containers: a bundle (config.json + an overlayfs rootfs from the image
 * store) in <data_dir>/runtime/<instance>/containers/<id>/ and a record
 * from container_create; container_start starts a shim that runs
 * `<binary> run --detach` (one runtime process, not create + start) and
 * stays with the container; the status is worked out from what is on disk
 * and in /proc, so that a new instance (the agent after SIGKILL) sees the
 * same containers with the same pids:
 *
 *   exit.json present          EXITED, as the shim recorded it
 *   never started (no init)    CREATED
 *   init alive (same start)    RUNNING
 *   init gone, shim alive      the shim is writing exit.json: wait for it
 *   init and shim gone         EXITED 255, the exit status is lost
 *
 * Locking: rt->mu guards the table and every field of a runc_ctr_t; each
 * container's `op` mutex serializes its create/start/stop/remove, which
 * run external commands without holding rt->mu. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runc.h"

#define SHIM_LOG         "shim.log"
#define EXIT_WAIT_MS     2000  /* for a shim that is writing exit.json */
#define KILL_WAIT_MS     30000 /* for the exit after SIGKILL */
#define SHIM_READY_EXTRA 10000 /* on top of command_timeout */

void runc_ctr_path(const runc_rt_t *rt, const char *id, const char *leaf, char *out, size_t len)
{
    snprintf(out, len, "%s/containers/%s%s%s", rt->state_dir, id, leaf ? "/" : "",
             leaf ? leaf : "");
}

void runc_ctr_free(runc_ctr_t *c)
{
    if (c == NULL)
        return;
    free(c->name);
    free(c->image);
    free(c->image_ref);
    free(c->log_path);
    free(c->cgroups_path);
    free(c->start_error);
    runc_labels_free(c->labels, c->n_labels);
    pthread_mutex_destroy(&c->op);
    free(c);
}

static runc_ctr_t *ctr_new(void)
{
    runc_ctr_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    pthread_mutex_init(&c->op, NULL);
    c->stop_signal = SIGTERM;
    return c;
}

/* Under rt->mu. */
static void ctr_add(runc_rt_t *rt, runc_ctr_t *c)
{
    if (rt->n_ctrs == rt->cap_ctrs) {
        rt->cap_ctrs = rt->cap_ctrs ? rt->cap_ctrs * 2 : 16;
        rt->ctrs = realloc(rt->ctrs, rt->cap_ctrs * sizeof *rt->ctrs);
        if (rt->ctrs == NULL)
            abort();
    }
    rt->ctrs[rt->n_ctrs++] = c;
}

runc_ctr_t *runc_ctr_get(runc_rt_t *rt, const char *id, kr_error_t *err)
{
    runc_ctr_t *c = NULL;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->n_ctrs; i++)
        if (strcmp(rt->ctrs[i]->id, id) == 0) {
            c = rt->ctrs[i];
            c->refs++;
            break;
        }
    pthread_mutex_unlock(&rt->mu);
    if (c == NULL)
        kr_error_set(err, KR_E_NOT_FOUND, "container \"%s\" not found", id);
    return c;
}

void runc_ctr_put(runc_rt_t *rt, runc_ctr_t *c)
{
    pthread_mutex_lock(&rt->mu);
    bool last = --c->refs == 0 && c->removed;
    pthread_mutex_unlock(&rt->mu);
    if (last)
        runc_ctr_free(c);
}

/* Drops c from the table; freed with its last reference. */
static void ctr_drop(runc_rt_t *rt, runc_ctr_t *c)
{
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->n_ctrs; i++)
        if (rt->ctrs[i] == c) {
            rt->ctrs[i] = rt->ctrs[--rt->n_ctrs];
            c->removed = true;
            break;
        }
    pthread_mutex_unlock(&rt->mu);
}

char **runc_ctr_ids(runc_rt_t *rt, const char *sandbox_id)
{
    pthread_mutex_lock(&rt->mu);
    char **ids = calloc(rt->n_ctrs + 1, sizeof *ids);
    if (ids == NULL)
        abort();
    size_t n = 0;
    for (size_t i = 0; i < rt->n_ctrs; i++)
        if (sandbox_id == NULL || strcmp(rt->ctrs[i]->sandbox_id, sandbox_id) == 0)
            ids[n++] = runc_strdup0(rt->ctrs[i]->id);
    pthread_mutex_unlock(&rt->mu);
    return ids;
}

bool runc_ctr_uses_image(runc_rt_t *rt, const char *image_id, char *ctr_id, size_t len)
{
    bool used = false;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->n_ctrs && !used; i++)
        if (rt->ctrs[i]->image_ref != NULL && strcmp(rt->ctrs[i]->image_ref, image_id) == 0) {
            snprintf(ctr_id, len, "%s", rt->ctrs[i]->id);
            used = true;
        }
    pthread_mutex_unlock(&rt->mu);
    return used;
}

/* ---- records -------------------------------------------------------------- */

/* Under c->op (the writer) or rt->mu.  Not fsynced: a SIGKILLed agent
 * loses nothing the kernel has (the rename is done before this returns),
 * and what a host crash could lose is not worth a disk flush on the way to
 * Running (docs/runtime.md, "Records"). */
static int ctr_save(runc_rt_t *rt, const runc_ctr_t *c, kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "id", kr_value_str(a, c->id));
    kr_value_map_set(a, m, "sandbox_id", kr_value_str(a, c->sandbox_id));
    kr_value_map_set(a, m, "name", kr_value_str(a, c->name));
    kr_value_map_set(a, m, "attempt", kr_value_int(a, c->attempt));
    kr_value_map_set(a, m, "image", kr_value_str(a, c->image));
    kr_value_map_set(a, m, "image_ref", kr_value_str(a, c->image_ref));
    if (c->log_path != NULL)
        kr_value_map_set(a, m, "log_path", kr_value_str(a, c->log_path));
    kr_value_map_set(a, m, "cgroups_path", kr_value_str(a, c->cgroups_path));
    kr_value_map_set(a, m, "created_at", kr_value_int(a, c->created_at));
    kr_value_map_set(a, m, "started_at", kr_value_int(a, c->started_at));
    kr_value_map_set(a, m, "pid", kr_value_int(a, c->pid));
    kr_value_map_set(a, m, "pid_start", kr_value_int(a, (int64_t)c->pid_start));
    kr_value_map_set(a, m, "shim_pid", kr_value_int(a, c->shim_pid));
    kr_value_map_set(a, m, "shim_start", kr_value_int(a, (int64_t)c->shim_start));
    kr_value_map_set(a, m, "stop_signal", kr_value_int(a, c->stop_signal));
    kr_value_map_set(a, m, "stdin", kr_value_bool(a, c->open_stdin));
    kr_value_map_set(a, m, "stdin_once", kr_value_bool(a, c->stdin_once));
    kr_value_map_set(a, m, "tty", kr_value_bool(a, c->tty));
    if (c->start_error != NULL)
        kr_value_map_set(a, m, "start_error", kr_value_str(a, c->start_error));
    kr_value_map_set(a, m, "labels", runc_labels_value(a, c->labels, c->n_labels));
    char path[4096];
    runc_ctr_path(rt, c->id, RUNC_RECORD_FILE, path, sizeof path);
    int rc = runc_record_write(path, m, false, err);
    kr_arena_destroy(&a);
    return rc;
}

/* A container whose start was cut short (the agent died after the shim
 * ran the container, before the record said so) has an init.pid but no
 * pid in its record: the pid file, the init's parent (the shim, its
 * subreaper) and the file's time stand in for what the record lacks. */
static void ctr_adopt_pid(runc_rt_t *rt, runc_ctr_t *c)
{
    if (c->pid != 0)
        return;
    char path[4096], buf[64];
    runc_ctr_path(rt, c->id, RUNC_PID_FILE, path, sizeof path);
    struct stat st;
    if (runc_read_file(path, buf, sizeof buf) <= 0 || stat(path, &st) < 0 || atoi(buf) <= 0)
        return;
    c->pid = atoi(buf);
    c->pid_start = runc_pid_start(c->pid);
    c->shim_pid = c->pid_start != 0 ? runc_pid_parent(c->pid) : 0;
    c->shim_start = runc_pid_start(c->shim_pid);
    if (c->started_at == 0)
        c->started_at = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

static void ctr_loaded(runc_rt_t *rt, const char *id, const kr_value_t *rec)
{
    runc_ctr_t *c = ctr_new();
    memcpy(c->id, id, strlen(id) + 1);
    snprintf(c->sandbox_id, sizeof c->sandbox_id, "%s",
             kr_value_map_str(rec, "sandbox_id") ? kr_value_map_str(rec, "sandbox_id") : "");
    c->name = runc_strdup0(kr_value_map_str(rec, "name"));
    c->attempt = (uint32_t)kr_value_map_int(rec, "attempt", 0);
    c->image = runc_strdup0(kr_value_map_str(rec, "image"));
    c->image_ref = runc_strdup0(kr_value_map_str(rec, "image_ref"));
    c->log_path = runc_strdup0(kr_value_map_str(rec, "log_path"));
    c->cgroups_path = runc_strdup0(kr_value_map_str(rec, "cgroups_path"));
    c->created_at = kr_value_map_int(rec, "created_at", 0);
    c->started_at = kr_value_map_int(rec, "started_at", 0);
    c->pid = (int)kr_value_map_int(rec, "pid", 0);
    c->pid_start = (uint64_t)kr_value_map_int(rec, "pid_start", 0);
    c->shim_pid = (int)kr_value_map_int(rec, "shim_pid", 0);
    c->shim_start = (uint64_t)kr_value_map_int(rec, "shim_start", 0);
    c->stop_signal = (int)kr_value_map_int(rec, "stop_signal", SIGTERM);
    c->open_stdin = kr_value_as_bool(kr_value_map_get(rec, "stdin"), false);
    c->stdin_once = kr_value_as_bool(kr_value_map_get(rec, "stdin_once"), false);
    c->tty = kr_value_as_bool(kr_value_map_get(rec, "tty"), false);
    c->start_error = runc_strdup0(kr_value_map_str(rec, "start_error"));
    runc_labels_from_value(kr_value_map_get(rec, "labels"), &c->labels, &c->n_labels);
    if (c->name == NULL)
        c->name = runc_strdup0("");
    ctr_adopt_pid(rt, c);
    pthread_mutex_lock(&rt->mu);
    ctr_add(rt, c);
    pthread_mutex_unlock(&rt->mu);
}

int runc_ctr_load(runc_rt_t *rt, kr_error_t *err)
{
    return runc_record_scan(rt, "containers", RUNC_RECORD_FILE, ctr_loaded, err);
}

/* The shim's exit record. */
typedef struct ctr_exit {
    bool present;
    int exit_code;
    int64_t finished_at;
    bool oom_killed;
    char reason[32];
    char message[1024];
} ctr_exit_t;

static void exit_read(runc_rt_t *rt, const char *id, ctr_exit_t *x)
{
    memset(x, 0, sizeof *x);
    char path[4096];
    runc_ctr_path(rt, id, RUNC_EXIT_FILE, path, sizeof path);
    kr_arena_t *a = kr_arena_new(4096);
    kr_value_t *m;
    if (runc_record_read(a, path, &m, NULL) == 0) {
        x->present = true;
        x->exit_code = (int)kr_value_map_int(m, "exit_code", 255);
        x->finished_at = kr_value_map_int(m, "finished_at", 0);
        x->oom_killed = kr_value_as_bool(kr_value_map_get(m, "oom_killed"), false);
        const char *r = kr_value_map_str(m, "reason");
        const char *msg = kr_value_map_str(m, "message");
        snprintf(x->reason, sizeof x->reason, "%s", r ? r : (x->exit_code ? "Error" : "Completed"));
        snprintf(x->message, sizeof x->message, "%s", msg ? msg : "");
    }
    kr_arena_destroy(&a);
}

/* ---- state ------------------------------------------------------------------ */

typedef struct ctr_snap {
    int pid, shim_pid;
    uint64_t pid_start, shim_start;
    int64_t started_at;
} ctr_snap_t;

static ctr_snap_t snap(runc_rt_t *rt, const runc_ctr_t *c)
{
    pthread_mutex_lock(&rt->mu);
    ctr_snap_t s = {.pid = c->pid,
                    .shim_pid = c->shim_pid,
                    .pid_start = c->pid_start,
                    .shim_start = c->shim_start,
                    .started_at = c->started_at};
    pthread_mutex_unlock(&rt->mu);
    return s;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* True once the container is gone for good: its exit record is there, or
 * both the init and the shim are gone (then no record will come). */
static bool ctr_gone(runc_rt_t *rt, const runc_ctr_t *c, ctr_exit_t *x)
{
    exit_read(rt, c->id, x);
    if (x->present)
        return true;
    ctr_snap_t s = snap(rt, c);
    if (runc_pid_alive(s.pid, s.pid_start) || runc_pid_alive(s.shim_pid, s.shim_start))
        return false;
    exit_read(rt, c->id, x); /* written just before the shim left, after our first look */
    return true;
}

/* Waits up to ms for ctr_gone. */
static bool ctr_wait_gone(runc_rt_t *rt, const runc_ctr_t *c, int64_t ms, ctr_exit_t *x)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int step = 5;
    for (;;) {
        if (ctr_gone(rt, c, x))
            return true;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (spent >= ms)
            return false;
        sleep_ms(step);
        if (step < 50)
            step *= 2;
    }
}

/* ---- create ------------------------------------------------------------------- */

/* The cgroupsPath: /<sandbox cgroup>/<container id>, absolute so runc and
 * crun put it in the same place whatever cgroup the agent runs in. */
static char *cgroups_path(const char *parent, const char *id)
{
    while (*parent == '/')
        parent++;
    size_t n = strlen(parent) + strlen(id) + 3;
    char *p = malloc(n);
    if (p == NULL)
        abort();
    snprintf(p, n, "/%s%s%s", parent, parent[0] ? "/" : "", id);
    return p;
}

/* Starts the shim and reads its "ok <pid> <shim pid> <pid start>" or
 * "error <msg>" line. Returns 0 (ok: pid set; error: message in msg), or
 * an error when the shim itself failed. */
static int shim_spawn(runc_rt_t *rt, runc_ctr_t *c, const char *dir, int *pid, int *shim_pid,
                      unsigned long long *pid_start, char *msg, size_t msg_len, kr_error_t *err)
{
    char bundle[4096], pidf[4200], exitf[4200], shim_log[4200];
    snprintf(bundle, sizeof bundle, "%s", dir);
    snprintf(pidf, sizeof pidf, "%s/%s", dir, RUNC_PID_FILE);
    snprintf(exitf, sizeof exitf, "%s/%s", dir, RUNC_EXIT_FILE);
    snprintf(shim_log, sizeof shim_log, "%s/%s", dir, SHIM_LOG);
    char max_size[32], max_files[32], timeout[32];
    snprintf(max_size, sizeof max_size, "%llu", (unsigned long long)rt->log_max_size);
    snprintf(max_files, sizeof max_files, "%lld", (long long)rt->conf->log_max_files);
    snprintf(timeout, sizeof timeout, "%lld", (long long)rt->conf->command_timeout);
    const char *argv[] = {RUNC_SHIM_NAME,
                          "--binary",
                          rt->conf->binary,
                          "--root",
                          rt->root,
                          "--id",
                          c->id,
                          "--bundle",
                          bundle,
                          "--pid-file",
                          pidf,
                          "--exit-file",
                          exitf,
                          "--log",
                          c->log_path ? c->log_path : "",
                          "--log-max-size",
                          max_size,
                          "--log-max-files",
                          max_files,
                          "--timeout-ms",
                          timeout,
                          "--ready-fd",
                          "3",
                          "--stdin",
                          c->open_stdin ? "1" : "0",
                          "--stdin-once",
                          c->stdin_once ? "1" : "0",
                          "--tty",
                          c->tty ? "1" : "0",
                          NULL};
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, shim_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, p[1], 3);
    pid_t child;
    int rc = runc_spawn(&child, rt->shim_path, 0, &fa, argv);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        return kr_error_set(err, KR_E_INTERNAL, "starting the shim %s: %s", rt->shim_path,
                            strerror(rc));
    }
    /* The first process exits at once (double fork). */
    int st;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR)
        ;
    char line[4200];
    size_t len = 0;
    int64_t left = rt->conf->command_timeout + SHIM_READY_EXTRA;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (len < sizeof line - 1) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (spent >= left)
            break;
        int n = poll(&pfd, 1, (int)(left - spent));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ssize_t r = read(p[0], line + len, sizeof line - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (memchr(line, '\n', len) != NULL)
            break; /* the whole answer is one line */
    }
    close(p[0]);
    line[len] = '\0';
    line[strcspn(line, "\n")] = '\0';
    if (sscanf(line, "ok %d %d %llu", pid, shim_pid, pid_start) >= 2)
        return 0;
    if (strncmp(line, "error ", 6) == 0) {
        /* memcpy, not snprintf: -O3 sees that line can outgrow msg and
         * -Wformat-truncation fails the Release build; a longer message is cut */
        size_t n = strnlen(line + 6, msg_len - 1);
        memcpy(msg, line + 6, n);
        msg[n] = '\0';
        return 0;
    }
    char slog[512] = "";
    runc_read_file(shim_log, slog, sizeof slog);
    slog[strcspn(slog, "\n")] = '\0';
    return kr_error_set(err, KR_E_INTERNAL, "the shim did not report the container's start%s%s",
                        slog[0] ? ": " : "", slog);
}

int runc_container_create(void *self, const char *sandbox_id, const kr_rt_container_config_t *cfg,
                          char id[KR_RT_ID_MAX], kr_error_t *err)
{
    runc_rt_t *rt = self;
    if (cfg == NULL || cfg->name == NULL || cfg->image == NULL)
        return kr_error_set(err, KR_E_INVALID, "container: name and image are required");
    /* What the spec needs of the sandbox, copied while it cannot go. */
    pthread_mutex_lock(&rt->mu);
    runc_sandbox_t *sb = runc_sandbox_find(rt, sandbox_id);
    bool ready = sb != NULL && sb->ready;
    bool host_network = sb && sb->host_network, host_ipc = sb && sb->host_ipc;
    bool host_pid = sb && sb->host_pid;
    char *hostname = sb ? runc_strdup0(sb->hostname) : NULL;
    char *cg_parent = sb ? runc_strdup0(sb->cgroup_parent) : NULL;
    pthread_mutex_unlock(&rt->mu);
    if (sb == NULL)
        return kr_error_set(err, KR_E_NOT_FOUND, "sandbox \"%s\" not found", sandbox_id);
    int rc = 0;
    runc_ctr_t *c = ctr_new();
    char dir[4096];
    kr_rt_image_t img = {0};
    kr_arena_t *a = kr_arena_new(0);
    if (!ready) {
        rc = kr_error_set(err, KR_E_CONFLICT, "sandbox \"%s\" is not ready", sandbox_id);
        goto out;
    }
    runc_new_id(c->id);
    snprintf(c->sandbox_id, sizeof c->sandbox_id, "%s", sandbox_id);
    c->name = runc_strdup0(cfg->name);
    c->attempt = cfg->attempt;
    c->image = runc_strdup0(cfg->image);
    c->log_path = cfg->log_path && cfg->log_path[0] ? runc_strdup0(cfg->log_path) : NULL;
    c->cgroups_path = cgroups_path(cg_parent, c->id);
    c->labels = runc_labels_dup(cfg->labels, cfg->n_labels);
    c->n_labels = cfg->n_labels;
    c->created_at = runc_now();
    c->open_stdin = cfg->open_stdin;
    c->stdin_once = cfg->open_stdin && cfg->stdin_once;
    c->tty = cfg->tty;

    runc_ctr_path(rt, c->id, NULL, dir, sizeof dir);
    if ((rc = kr_mkdir_p(dir, 0711, err)) < 0)
        goto out;
    if ((rc = rc_rootfs_create(rt->images, cfg->image, dir, &c->image_ref, err)) < 0)
        goto out;
    if ((rc = rc_images_status(rt->images, c->image_ref, &img, err)) < 0)
        goto out;
    int sig = img.stop_signal != NULL ? runc_signal_parse(img.stop_signal) : -1;
    c->stop_signal = sig > 0 ? sig : SIGTERM;

    char rootfs[4200], net[4096], ipc[4096], uts[4096], shm[4096], hn[4096], hosts[4096];
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", dir);
    runc_sandbox_path(rt, sandbox_id, "net", net, sizeof net);
    runc_sandbox_path(rt, sandbox_id, "ipc", ipc, sizeof ipc);
    runc_sandbox_path(rt, sandbox_id, "uts", uts, sizeof uts);
    runc_sandbox_path(rt, sandbox_id, "shm", shm, sizeof shm);
    runc_sandbox_state_path(rt, sandbox_id, "hostname", hn, sizeof hn);
    runc_sandbox_state_path(rt, sandbox_id, "hosts", hosts, sizeof hosts);
    runc_spec_in_t in = {
        .cfg = cfg,
        .image = &img,
        .rootfs = rootfs,
        .hostname = hostname,
        .netns = host_network ? NULL : net,
        .ipcns = host_ipc ? NULL : ipc,
        .utsns = host_network ? NULL : uts,
        .host_pid = host_pid,
        .hostname_file = hn,
        .hosts_file = hosts,
        .shm_dir = host_ipc ? "/dev/shm" : shm,
        .cgroups_path = c->cgroups_path,
        .cap_bound = rt->cap_bound,
        .memory_swap = rt->memory_swap,
        .host_devices = true,
    };
    kr_value_t *spec;
    if ((rc = runc_spec_build(a, &in, &spec, err)) < 0)
        goto out;
    char cfgpath[4200];
    snprintf(cfgpath, sizeof cfgpath, "%s/config.json", dir);
    if ((rc = runc_record_write(cfgpath, spec, false, err)) < 0)
        goto out;
    if (c->log_path != NULL) {
        char logdir[4096];
        snprintf(logdir, sizeof logdir, "%s", c->log_path);
        if ((rc = kr_mkdir_p(dirname(logdir), 0755, err)) < 0)
            goto out;
    }
    /* Nothing runs yet: container_start runs it (CREATED until then). */
    if ((rc = ctr_save(rt, c, err)) < 0)
        goto out;
    pthread_mutex_lock(&rt->mu);
    ctr_add(rt, c);
    pthread_mutex_unlock(&rt->mu);
    memcpy(id, c->id, KR_RT_ID_MAX);
    c = NULL;
out:
    if (c != NULL && c->id[0] != '\0') {
        rc_rootfs_remove(dir, NULL);
        kr_rmtree(dir, NULL);
    }
    if (rc < 0)
        kr_error_wrap(err, "creating container \"%s\"", cfg->name);
    runc_ctr_free(c);
    kr_rt_image_free(&img);
    kr_arena_destroy(&a);
    free(hostname);
    free(cg_parent);
    return rc;
}

/* ---- start / stop ---------------------------------------------------------------- */

/* Runs the container through a shim (`<binary> run --detach`).  Under
 * c->op. */
static int ctr_run(runc_rt_t *rt, runc_ctr_t *c, kr_error_t *err)
{
    char dir[4096], msg[4096] = "";
    runc_ctr_path(rt, c->id, NULL, dir, sizeof dir);
    int pid = 0, shim_pid = 0;
    unsigned long long pid_start = 0;
    int64_t started = runc_now();
    if (shim_spawn(rt, c, dir, &pid, &shim_pid, &pid_start, msg, sizeof msg, err) < 0) {
        /* No answer: whatever the runtime made goes; still CREATED. */
        const char *args[] = {"delete", "--force", c->id, NULL};
        runc_runtime_cmd(rt, args, NULL);
        return -KR_E_INTERNAL;
    }
    pthread_mutex_lock(&rt->mu);
    if (msg[0] != '\0') {
        /* A failed run (the executable is missing, a mount is refused):
         * the shim wrote exit.json (ContainerCannotRun, Docker's code);
         * the status reports it, the caller gets the runtime's message. */
        c->start_error = runc_strdup0(msg);
    } else {
        c->pid = pid;
        c->pid_start = pid_start != 0 ? pid_start : runc_pid_start(pid);
        c->shim_pid = shim_pid;
        c->shim_start = runc_pid_start(shim_pid);
        c->started_at = started;
    }
    pthread_mutex_unlock(&rt->mu);
    int rc = ctr_save(rt, c, err);
    if (msg[0] != '\0')
        rc = kr_error_set(err, KR_E_INTERNAL, "%s", msg);
    return rc;
}

int runc_container_start(void *self, const char *id, kr_error_t *err)
{
    runc_rt_t *rt = self;
    runc_ctr_t *c = runc_ctr_get(rt, id, err);
    if (c == NULL)
        return -KR_E_NOT_FOUND;
    pthread_mutex_lock(&c->op);
    int rc = 0;
    ctr_exit_t x;
    exit_read(rt, id, &x);
    pthread_mutex_lock(&rt->mu);
    ctr_adopt_pid(rt, c); /* run by an agent that died before saving it */
    pthread_mutex_unlock(&rt->mu);
    ctr_snap_t s = snap(rt, c);
    if (c->start_error != NULL) {
        rc = kr_error_set(err, KR_E_INTERNAL, "%s", c->start_error);
    } else if (x.present) {
        rc = kr_error_set(err, KR_E_CONFLICT,
                          "container \"%s\" is not in the created state: it exited", id);
    } else if (s.started_at != 0 || s.pid != 0) {
        rc = kr_error_set(err, KR_E_CONFLICT, "container \"%s\" is already running", id);
    } else {
        rc = ctr_run(rt, c, err);
    }
    pthread_mutex_unlock(&c->op);
    runc_ctr_put(rt, c);
    return rc;
}

/* Signals the init if it still is the container's. */
static void ctr_signal(runc_rt_t *rt, const runc_ctr_t *c, int sig)
{
    ctr_snap_t s = snap(rt, c);
    if (runc_pid_alive(s.pid, s.pid_start))
        kill(s.pid, sig);
}

/* Under c->op. */
static int ctr_stop(runc_rt_t *rt, runc_ctr_t *c, int64_t grace_ms, kr_error_t *err)
{
    ctr_exit_t x;
    if (ctr_gone(rt, c, &x))
        return 0;
    if (grace_ms > 0) {
        ctr_signal(rt, c, c->stop_signal);
        if (ctr_wait_gone(rt, c, grace_ms, &x))
            return 0;
    }
    ctr_signal(rt, c, SIGKILL);
    if (ctr_wait_gone(rt, c, KILL_WAIT_MS, &x))
        return 0;
    return kr_error_set(err, KR_E_TIMEOUT, "container \"%s\" did not exit within %d s of SIGKILL",
                        c->id, KILL_WAIT_MS / 1000);
}

int runc_container_stop(void *self, const char *id, int64_t grace_seconds, kr_error_t *err)
{
    runc_rt_t *rt = self;
    runc_ctr_t *c = runc_ctr_get(rt, id, err);
    if (c == NULL)
        return -KR_E_NOT_FOUND;
    pthread_mutex_lock(&c->op);
    int rc = ctr_stop(rt, c, grace_seconds > 0 ? grace_seconds * 1000 : 0, err);
    pthread_mutex_unlock(&c->op);
    runc_ctr_put(rt, c);
    return rc;
}

int runc_container_kill(runc_rt_t *rt, const char *id, kr_error_t *err)
{
    return runc_container_stop(rt, id, 0, err);
}

int runc_container_remove(void *self, const char *id, kr_error_t *err)
{
    runc_rt_t *rt = self;
    kr_error_t e2;
    runc_ctr_t *c = runc_ctr_get(rt, id, &e2);
    if (c == NULL)
        return 0; /* CRI: removing a removed container succeeds */
    pthread_mutex_lock(&c->op);
    int rc = 0;
    if (!c->removed) {
        /* CRI: a running container is removed by force. */
        if ((rc = ctr_stop(rt, c, 0, err)) == 0) {
            /* A container never run has nothing in the runtime; a failed
             * run may have left its cgroup. */
            pthread_mutex_lock(&rt->mu);
            ctr_adopt_pid(rt, c);
            bool ran = c->pid != 0 || c->start_error != NULL;
            pthread_mutex_unlock(&rt->mu);
            const char *args[] = {"delete", "--force", id, NULL};
            if (ran && runc_runtime_cmd(rt, args, &e2) < 0 &&
                strstr(e2.message, "not exist") == NULL && strstr(e2.message, "not found") == NULL)
                kr_log(KR_LOG_WARN, rt->name, "runtime delete failed", "id=%s error=\"%s\"", id,
                       e2.message);
            char dir[4096];
            runc_ctr_path(rt, id, NULL, dir, sizeof dir);
            if ((rc = rc_rootfs_remove(dir, err)) == 0)
                rc = kr_rmtree(dir, err);
            if (rc == 0)
                ctr_drop(rt, c);
        }
    }
    pthread_mutex_unlock(&c->op);
    runc_ctr_put(rt, c);
    return rc < 0 ? kr_error_wrap(err, "removing container \"%s\"", id) : 0;
}

/* ---- status ------------------------------------------------------------------------ */

static void ctr_out(runc_rt_t *rt, runc_ctr_t *c, kr_rt_container_t *out)
{
    memset(out, 0, sizeof *out);
    ctr_exit_t x;
    exit_read(rt, c->id, &x);
    ctr_snap_t s = snap(rt, c);
    bool alive = !x.present && runc_pid_alive(s.pid, s.pid_start);
    if (!x.present && !alive) {
        if (runc_pid_alive(s.shim_pid, s.shim_start))
            ctr_wait_gone(rt, c, EXIT_WAIT_MS, &x);
        else /* the shim may have written exit.json and left since we looked */
            exit_read(rt, c->id, &x);
    }
    pthread_mutex_lock(&rt->mu);
    out->id = runc_strdup0(c->id);
    out->sandbox_id = runc_strdup0(c->sandbox_id);
    out->name = runc_strdup0(c->name);
    out->attempt = c->attempt;
    out->image = runc_strdup0(c->image);
    out->image_ref = runc_strdup0(c->image_ref);
    out->created_at = c->created_at;
    out->started_at = c->started_at;
    out->log_path = runc_strdup0(c->log_path);
    out->labels = runc_labels_dup(c->labels, c->n_labels);
    out->n_labels = c->n_labels;
    char *start_error = runc_strdup0(c->start_error);
    pthread_mutex_unlock(&rt->mu);
    if (alive) {
        out->state = KR_RT_RUNNING;
        out->pid = s.pid;
    } else if (!x.present && s.pid == 0) {
        out->state = KR_RT_CREATED; /* never started (or its shim failed) */
    } else if (x.present) {
        out->state = KR_RT_EXITED;
        out->exit_code = x.exit_code;
        out->finished_at = x.finished_at;
        if (start_error != NULL) {
            out->reason = runc_strdup0("ContainerCannotRun");
            out->message = runc_strdup0(start_error);
        } else {
            out->reason = runc_strdup0(x.reason);
            out->message = x.message[0] ? runc_strdup0(x.message) : NULL;
        }
    } else {
        /* Init and shim both gone without a word (the shim was killed). */
        out->state = KR_RT_EXITED;
        out->exit_code = 255;
        out->reason = runc_strdup0("Error");
        out->message = runc_strdup0("the container's shim is gone; its exit status is lost");
    }
    free(start_error);
}

int runc_container_status(void *self, const char *id, kr_rt_container_t *out, kr_error_t *err)
{
    runc_rt_t *rt = self;
    runc_ctr_t *c = runc_ctr_get(rt, id, err);
    if (c == NULL)
        return -KR_E_NOT_FOUND;
    ctr_out(rt, c, out);
    runc_ctr_put(rt, c);
    return 0;
}

int runc_container_list(void *self, const char *sandbox_id, kr_rt_container_t **out, size_t *n,
                        kr_error_t *err)
{
    (void)err;
    runc_rt_t *rt = self;
    char **ids = runc_ctr_ids(rt, sandbox_id);
    size_t cnt = 0;
    while (ids[cnt] != NULL)
        cnt++;
    *out = calloc(cnt ? cnt : 1, sizeof **out);
    if (*out == NULL)
        abort();
    *n = 0;
    for (size_t i = 0; i < cnt; i++) {
        runc_ctr_t *c = runc_ctr_get(rt, ids[i], NULL);
        if (c == NULL)
            continue; /* removed meanwhile */
        ctr_out(rt, c, &(*out)[(*n)++]);
        runc_ctr_put(rt, c);
    }
    kr_rt_strv_free(ids);
    return 0;
}

/* ---- stats ---------------------------------------------------------------------------- */

static uint64_t read_u64(const char *dir, const char *file)
{
    char path[4200], buf[64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return runc_read_file(path, buf, sizeof buf) > 0 ? strtoull(buf, NULL, 10) : 0;
}

static uint64_t stat_key(const char *dir, const char *file, const char *key)
{
    char path[4200], buf[8192];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (runc_read_file(path, buf, sizeof buf) <= 0)
        return 0;
    size_t kl = strlen(key);
    for (char *p = buf; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
            return strtoull(p + kl + 1, NULL, 10);
    return 0;
}

/* The controller's directory: from the live init's /proc entry, else
 * where the cgroupsPath puts it under cgroup v1. */
static bool cg_dir(const ctr_snap_t *s, const char *cgroups_path, const char *ctrl, char *out,
                   size_t len)
{
    if (runc_pid_alive(s->pid, s->pid_start) && runc_pid_cgroup(s->pid, ctrl, out, len))
        return true;
    snprintf(out, len, "/sys/fs/cgroup/%s%s", ctrl, cgroups_path);
    return access(out, F_OK) == 0;
}

int runc_container_stats(void *self, const char *id, kr_rt_stats_t *out, kr_error_t *err)
{
    runc_rt_t *rt = self;
    runc_ctr_t *c = runc_ctr_get(rt, id, err);
    if (c == NULL)
        return -KR_E_NOT_FOUND;
    ctr_snap_t s = snap(rt, c);
    pthread_mutex_lock(&rt->mu);
    char *cgp = runc_strdup0(c->cgroups_path ? c->cgroups_path : "");
    pthread_mutex_unlock(&rt->mu);
    memset(out, 0, sizeof *out);
    out->timestamp = runc_now();
    char dir[4096];
    if (cg_dir(&s, cgp, "cpuacct", dir, sizeof dir))
        out->cpu_usage_ns = read_u64(dir, "cpuacct.usage");
    if (cg_dir(&s, cgp, "memory", dir, sizeof dir)) {
        out->memory_usage = read_u64(dir, "memory.usage_in_bytes");
        uint64_t inactive = stat_key(dir, "memory.stat", "total_inactive_file");
        out->memory_working_set = out->memory_usage > inactive ? out->memory_usage - inactive : 0;
    }
    if (cg_dir(&s, cgp, "pids", dir, sizeof dir))
        out->pids = read_u64(dir, "pids.current");
    if (out->memory_usage == 0 && out->cpu_usage_ns == 0 && runc_pid_alive(s.pid, s.pid_start) &&
        runc_pid_cgroup(s.pid, "", dir, sizeof dir)) {
        /* cgroup v2 */
        out->cpu_usage_ns = stat_key(dir, "cpu.stat", "usage_usec") * 1000;
        out->memory_usage = read_u64(dir, "memory.current");
        uint64_t inactive = stat_key(dir, "memory.stat", "inactive_file");
        out->memory_working_set = out->memory_usage > inactive ? out->memory_usage - inactive : 0;
        out->pids = read_u64(dir, "pids.current");
    }
    free(cgp);
    runc_ctr_put(rt, c);
    return 0;
}
