/* The runc runtime plugin's internal interfaces (docs/runtime.md).
 *
 * plugin.c   the instance: config, records on disk, the vtable, images
 * sandbox.c  pod sandboxes: namespaces kept by bind mounts, hostname, hosts
 * container.c  containers: bundle, shim, start/stop/remove, status, stats
 * exec.c     exec_sync / exec_start through `<binary> exec`
 * attach.c   container_attach / container_resize through the shim's sockets
 * spec.c     config.json generation (pure: unit-tested without root)
 * proc.c     running the OCI runtime binary with a timeout; /proc readers
 * image_spawn.c  image import and pull through kraal-runc-image
 * record.c   JSON records written atomically
 * shim/      the per-container shim executable
 *
 * Symbols shared between these files are prefixed runc_ (the images store,
 * written separately, uses rc_).
 */
#ifndef KRAAL_RUNC_RUNC_H
#define KRAAL_RUNC_RUNC_H

#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <kraal/fs.h>
#include <kraal/plugin.h>
#include <kraal/runtime.h>

#include "images.h"

/* The file names inside a container's directory
 * (<data_dir>/runtime/<instance>/containers/<id>/), shared with the shim. */
#define RUNC_RECORD_FILE   "record.json" /* the container record (plugin) */
#define RUNC_EXIT_FILE     "exit.json"   /* the exit record (shim) */
#define RUNC_PID_FILE      "init.pid"    /* the container init's pid (runtime) */
#define RUNC_ATTACH_SOCKET "attach"      /* stdin of an open_stdin container (shim) */
#define RUNC_CTL_SOCKET    "ctl"         /* "resize <cols> <rows>" datagrams, tty (shim) */
#define RUNC_SHIM_NAME     "kraal-runc-shim"
#define RUNC_IMAGE_NAME    "kraal-runc-image" /* image import and pull (image_helper.c) */

typedef struct runc_conf {
    const char *binary;
    const char *root;
    const char *cgroup_parent;
    const char *shim;
    const char *image_helper;
    const char *log_max_size;
    int64_t log_max_files;
    int64_t command_timeout; /* ms */
    int64_t image_timeout;   /* ms */
    const kr_value_t *insecure_registries;
} runc_conf_t;

typedef struct runc_sandbox {
    char id[KR_RT_ID_MAX];
    char *pod_name, *pod_namespace, *pod_uid;
    char *hostname, *cgroup_parent, *log_dir;
    uint32_t attempt;
    bool host_network, host_ipc, host_pid;
    bool ready;
    int64_t created_at;
    kr_rt_kv_t *labels; /* owned strings */
    size_t n_labels;
} runc_sandbox_t;

typedef struct runc_ctr {
    char id[KR_RT_ID_MAX];
    char sandbox_id[KR_RT_ID_MAX];
    char *name, *image, *image_ref, *log_path, *cgroups_path;
    uint32_t attempt;
    int64_t created_at, started_at;
    int pid;             /* the container init, 0 before create */
    uint64_t pid_start;  /* its start time in clock ticks (pid reuse check) */
    int shim_pid;        /* the shim, 0 when unknown */
    uint64_t shim_start; /* its start time */
    int stop_signal;
    bool open_stdin, stdin_once, tty; /* kr_rt_container_config_t's */
    char *start_error;                /* why create or start failed (ContainerCannotRun) */
    kr_rt_kv_t *labels;
    size_t n_labels;
    /* In memory only. */
    int refs;           /* under runc_rt_t.mu */
    bool removed;       /* dropped from the table; freed with the last ref */
    pthread_mutex_t op; /* serializes create/start/stop/remove */
} runc_ctr_t;

typedef struct runc_rt {
    char *name;         /* instance name, the log tag */
    char *runtime_name; /* the binary's base name: ops.runtime_name */
    char **insecure;    /* insecure_registries, NULL-terminated */
    const runc_conf_t *conf;
    char *state_dir; /* <data_dir>/runtime/<name> */
    char *run_dir;   /* <run_dir>/runtime/<name> */
    char *root;      /* the OCI runtime's --root */
    char *shim_path;
    char *image_helper_path;
    char *images_root; /* <data_dir>/images */
    uint64_t log_max_size;
    uint64_t cap_bound; /* capabilities this process may hand out */
    bool memory_swap;   /* memory.memsw.* exists (cgroup v1 swap accounting) */
    rc_images_t *images;
    kr_runtime_ops_t ops;

    pthread_mutex_t mu; /* the tables and every record field below */
    runc_sandbox_t **sbs;
    size_t n_sbs, cap_sbs;
    runc_ctr_t **ctrs;
    size_t n_ctrs, cap_ctrs;
    char version[128]; /* "" until asked */
} runc_rt_t;

/* ---- proc.c ------------------------------------------------------------ */

/* What a finished command left.  The caller points `out` at a buffer of
 * `cap` bytes (stdout and stderr, truncated, NUL-terminated) or NULL. */
typedef struct runc_cmd_result {
    int status;   /* exit code, or 128+signal */
    bool timeout; /* killed after timeout_ms */
    char *out;
    size_t cap, len;
} runc_cmd_result_t;

/* posix_spawn(p) with every signal at its default and an empty mask (the
 * agent's ignored SIGPIPE must not reach the runtime or the container).
 * Flags: RUNC_SPAWN_PATH looks path up in PATH; RUNC_SPAWN_SETSID starts a
 * session (before the file actions, so a terminal opened on 0 becomes the
 * controlling one).  Returns 0 or an errno. */
#define RUNC_SPAWN_PATH   1
#define RUNC_SPAWN_SETSID 2
int runc_spawn(pid_t *pid, const char *path, int flags, const posix_spawn_file_actions_t *fa,
               const char *const *argv);
/* Runs argv (looked up in PATH) with stdin /dev/null, collecting output,
 * killed after timeout_ms (0: no limit).  Returns 0 when it ran (look at
 * res), -1 with err when it could not be started. */
int runc_cmd_run(const char *const *argv, int64_t timeout_ms, runc_cmd_result_t *res,
                 kr_error_t *err);
/* The same with stdin read from in_fd (-1: /dev/null); the caller keeps
 * and closes in_fd. */
int runc_cmd_run_in(const char *const *argv, int in_fd, int64_t timeout_ms, runc_cmd_result_t *res,
                    kr_error_t *err);
/* Runs `<binary> --root R <args...>`; 0 when it exited 0, else an error
 * holding its output ("runc start: <output>"). */
int runc_runtime_cmd(runc_rt_t *rt, const char *const *args, kr_error_t *err);
/* The start time (clock ticks since boot) of a live, non-zombie pid; 0 when
 * it is gone or a zombie. */
uint64_t runc_pid_start(int pid);
/* The parent of a live pid; 0 when it is gone. */
int runc_pid_parent(int pid);
/* True when `pid` still is the process that started at `start`. */
bool runc_pid_alive(int pid, uint64_t start);
/* Nanoseconds since the epoch. */
int64_t runc_now(void);
/* The capabilities in this process's bounding set (CapBnd). */
uint64_t runc_cap_bound(void);
/* The path of a cgroup controller's directory for `pid` ("memory",
 * "cpuacct", "pids"; "" for the unified hierarchy); false when not found. */
bool runc_pid_cgroup(int pid, const char *controller, char *out, size_t len);
/* Reads a whole small file (at most cap-1 bytes), NUL-terminated; -1 on error. */
ssize_t runc_read_file(const char *path, char *buf, size_t cap);
/* A random id of 32 lowercase hex digits. */
void runc_new_id(char id[KR_RT_ID_MAX]);

/* ---- image_spawn.c ----------------------------------------------------- */

/* kr_runtime_ops_t's image_import and image_pull, run by kraal-runc-image
 * (rt->image_helper_path) so that the plugin needs no archive, HTTP or
 * crypto library; same contracts and errors as rc_images_import/pull. */
int runc_image_import_run(runc_rt_t *rt, const char *path, kr_rt_image_format_t format,
                          const char *name, char ***ids, kr_error_t *err);
int runc_image_pull_run(runc_rt_t *rt, const char *ref, const kr_rt_auth_t *auth,
                        char id[KR_RT_ID_MAX], kr_error_t *err);

/* ---- record.c ---------------------------------------------------------- */

/* Writes `v` as JSON to path (tmp file, rename): a reader sees the old or
 * the new record, never half of one, also after a SIGKILL.  `durable`
 * fsyncs the file and its directory, which only a host crash needs; the
 * records on the way to Running go without (docs/runtime.md, Records). */
int runc_record_write(const char *path, const kr_value_t *v, bool durable, kr_error_t *err);
/* Reads a JSON record into `arena`; KR_E_NOT_FOUND when there is none. */
int runc_record_read(kr_arena_t *arena, const char *path, kr_value_t **out, kr_error_t *err);
/* Calls fn for each <state_dir>/<kind>/<id>/<file> that reads (the rest
 * are logged and skipped); `rec` lives until fn returns. */
int runc_record_scan(runc_rt_t *rt, const char *kind, const char *file,
                     void (*fn)(runc_rt_t *rt, const char *id, const kr_value_t *rec),
                     kr_error_t *err);
kr_value_t *runc_labels_value(kr_arena_t *a, const kr_rt_kv_t *kv, size_t n);
/* Copies labels out of a record map (owned strings). */
void runc_labels_from_value(const kr_value_t *v, kr_rt_kv_t **kv, size_t *n);
kr_rt_kv_t *runc_labels_dup(const kr_rt_kv_t *kv, size_t n);
void runc_labels_free(kr_rt_kv_t *kv, size_t n);
char *runc_strdup0(const char *s); /* NULL stays NULL */

/* ---- spec.c ------------------------------------------------------------ */

/* Capability bits by number (CAP_CHOWN = 0 ...). */
#define RUNC_CAP_LAST 40
/* Docker's and containerd's default capability set. */
uint64_t runc_caps_default(void);
/* The capability set a container gets: the defaults (or every one when
 * privileged), minus cap_drop ("ALL" drops every default), plus cap_add
 * ("ALL" adds every one), within `bound`.  KR_E_INVALID naming an unknown
 * capability. */
int runc_caps_resolve(const char *const *add, const char *const *drop, bool privileged,
                      uint64_t bound, uint64_t *out, kr_error_t *err);
const char *runc_cap_name(int cap); /* "CAP_CHOWN" */

/* A signal by name ("SIGQUIT", "QUIT", "RTMIN+3") or number, as an image's
 * StopSignal says it; -1 when it is none. */
int runc_signal_parse(const char *s);

typedef struct runc_user {
    uint32_t uid, gid;
    uint32_t gids[32]; /* additional groups */
    size_t n_gids;
} runc_user_t;

/* Resolves the user a container runs as, as containerd does: uid/gid from
 * the config when set (>= 0), else from the image's USER ("name",
 * "uid", "name:group", "uid:gid"), looked up in the rootfs's /etc/passwd
 * and /etc/group; additional groups from /etc/group. */
int runc_user_resolve(const char *rootfs, const char *image_user, int64_t uid, int64_t gid,
                      runc_user_t *out, kr_error_t *err);

typedef struct runc_spec_in {
    const kr_rt_container_config_t *cfg;
    const kr_rt_image_t *image; /* may be NULL */
    const char *rootfs;
    const char *hostname;              /* HOSTNAME in the environment */
    const char *netns, *ipcns, *utsns; /* namespace paths; NULL = the host's */
    bool host_pid;
    const char *hostname_file, *hosts_file; /* bound on /etc/hostname, /etc/hosts */
    const char *shm_dir;                    /* the sandbox's /dev/shm; NULL: a tmpfs of its own */
    const char *cgroups_path;
    uint64_t cap_bound;
    bool memory_swap; /* set memory.swap = limit (no swap beyond the limit) */
    /* Host devices given to a privileged container (linux.devices). */
    bool host_devices;
} runc_spec_in_t;

/* Adds "K=V" to an env array, replacing an earlier entry for K in place. */
void runc_env_put(kr_arena_t *a, kr_value_t *env, const char *kv);

/* Builds config.json for the container.  The tree is owned by `arena`. */
int runc_spec_build(kr_arena_t *arena, const runc_spec_in_t *in, kr_value_t **out, kr_error_t *err);

/* ---- sandbox.c --------------------------------------------------------- */

/* Namespace paths of a sandbox (in <run_dir>/runtime/<name>/sandboxes/<id>/). */
void runc_sandbox_path(const runc_rt_t *rt, const char *id, const char *leaf, char *out,
                       size_t len);
/* Its state dir (<data_dir>/runtime/<name>/sandboxes/<id>/...). */
void runc_sandbox_state_path(const runc_rt_t *rt, const char *id, const char *leaf, char *out,
                             size_t len);
int runc_sandbox_load(runc_rt_t *rt, kr_error_t *err);
void runc_sandbox_free(runc_sandbox_t *sb);
/* Under rt->mu. */
runc_sandbox_t *runc_sandbox_find(runc_rt_t *rt, const char *id);

int runc_sandbox_run(void *self, const kr_rt_sandbox_config_t *cfg, char id[KR_RT_ID_MAX],
                     kr_error_t *err);
int runc_sandbox_stop(void *self, const char *id, kr_error_t *err);
int runc_sandbox_remove(void *self, const char *id, kr_error_t *err);
int runc_sandbox_status(void *self, const char *id, kr_rt_sandbox_t *out, kr_error_t *err);
int runc_sandbox_list(void *self, kr_rt_sandbox_t **out, size_t *n, kr_error_t *err);

/* ---- container.c ------------------------------------------------------- */

void runc_ctr_path(const runc_rt_t *rt, const char *id, const char *leaf, char *out, size_t len);
int runc_ctr_load(runc_rt_t *rt, kr_error_t *err);
/* Takes a reference (NULL with KR_E_NOT_FOUND); runc_ctr_put drops it. */
runc_ctr_t *runc_ctr_get(runc_rt_t *rt, const char *id, kr_error_t *err);
void runc_ctr_put(runc_rt_t *rt, runc_ctr_t *c);
void runc_ctr_free(runc_ctr_t *c);
/* The ids of a sandbox's containers (NULL-terminated, caller frees with
 * kr_rt_strv_free). */
char **runc_ctr_ids(runc_rt_t *rt, const char *sandbox_id);
/* True when a container uses the image id. */
bool runc_ctr_uses_image(runc_rt_t *rt, const char *image_id, char *ctr_id, size_t len);

int runc_container_create(void *self, const char *sandbox_id, const kr_rt_container_config_t *cfg,
                          char id[KR_RT_ID_MAX], kr_error_t *err);
int runc_container_start(void *self, const char *id, kr_error_t *err);
int runc_container_stop(void *self, const char *id, int64_t grace_seconds, kr_error_t *err);
int runc_container_kill(runc_rt_t *rt, const char *id, kr_error_t *err); /* SIGKILL, wait */
int runc_container_remove(void *self, const char *id, kr_error_t *err);
int runc_container_status(void *self, const char *id, kr_rt_container_t *out, kr_error_t *err);
int runc_container_list(void *self, const char *sandbox_id, kr_rt_container_t **out, size_t *n,
                        kr_error_t *err);
int runc_container_stats(void *self, const char *id, kr_rt_stats_t *out, kr_error_t *err);

/* ---- exec.c ------------------------------------------------------------ */

int runc_exec_sync(void *self, const char *id, const char *const *argv, int64_t timeout_ms,
                   char *out, size_t cap, int *exit_code, kr_error_t *err);
int runc_exec_start(void *self, const char *id, const kr_rt_exec_config_t *cfg,
                    kr_rt_exec_proc_t *proc, kr_error_t *err);
int runc_exec_resize(void *self, kr_rt_exec_proc_t *proc, uint16_t cols, uint16_t rows,
                     kr_error_t *err);
int runc_exec_wait(void *self, kr_rt_exec_proc_t *proc, int *exit_code, kr_error_t *err);

/* ---- attach.c ---------------------------------------------------------- */

int runc_container_attach(void *self, const char *id, int *stdin_fd, kr_error_t *err);
int runc_container_resize(void *self, const char *id, uint16_t cols, uint16_t rows,
                          kr_error_t *err);

#endif
