/* kraal SDK — the container runtime interface.
 *
 * A runtime plugin (plugins/runtime/<name>) runs pod sandboxes and
 * containers for the node agent, the way a CRI runtime serves the kubelet.
 * It registers a vtable during init with kr_runtime_register(); the agent
 * finds it by instance name with kr_runtime_find() and talks to nothing
 * else.  Both live in one process (`kraal server` with its embedded agent,
 * or `kraal agent`); the registry is per process.
 *
 * Threading: unlike other plugin callbacks, every vtable function may be
 * called from any thread, concurrently (the agent starts pods in parallel
 * from worker threads), and may block for as long as the operation takes
 * (an image pull, a `runc create`).  An implementation locks what it
 * shares.  A runtime is registered until its fini starts; the host stops
 * instances in reverse start order, so a config that starts the runtime
 * before the agent keeps it alive for as long as the agent runs.
 *
 * Ownership: input structs are borrowed for the duration of the call.
 * Output structs are filled by the runtime with heap strings the caller
 * frees with the matching kr_rt_*_free() (never with free() alone).
 *
 * Times are nanoseconds since the Unix epoch; 0 = not happened.
 * Identifiers (sandbox, container, image) are at most KR_RT_ID_MAX - 1
 * bytes of [a-z0-9]; image ids are "sha256:<hex>".
 */
#ifndef KRAAL_RUNTIME_H
#define KRAAL_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KR_RT_ID_MAX 80

typedef struct kr_rt_kv {
    const char *key;
    const char *value;
} kr_rt_kv_t;

/* ---- images ------------------------------------------------------------ */

typedef struct kr_rt_auth {
    const char *username; /* NULL: anonymous (token auth still works) */
    const char *password;
} kr_rt_auth_t;

typedef struct kr_rt_image {
    char *id;         /* "sha256:<config digest>" */
    char **repo_tags; /* NULL-terminated, normalized ("docker.io/library/busybox:latest") */
    char **repo_digests;
    uint64_t size; /* bytes of the unpacked layers */
    /* From the image config: what a container runs when the pod says nothing. */
    char **entrypoint; /* NULL-terminated, may be NULL */
    char **cmd;
    char **env;        /* "K=V" */
    char *working_dir; /* may be NULL */
    char *user;        /* may be NULL */
    char *stop_signal; /* the image's StopSignal ("SIGQUIT", "3"); NULL = SIGTERM */
} kr_rt_image_t;

void kr_rt_image_free(kr_rt_image_t *img);
void kr_rt_image_list_free(kr_rt_image_t *imgs, size_t n);

/* How `kraal image import` names the format of its input. */
typedef enum kr_rt_image_format {
    KR_RT_IMAGE_AUTO = 0,       /* detect from the file or directory */
    KR_RT_IMAGE_OCI_LAYOUT,     /* a directory with oci-layout + index.json */
    KR_RT_IMAGE_OCI_ARCHIVE,    /* a tar of an OCI layout */
    KR_RT_IMAGE_DOCKER_ARCHIVE, /* `docker save` output (manifest.json) */
    KR_RT_IMAGE_ROOTFS_TAR,     /* a plain root filesystem tarball */
} kr_rt_image_format_t;

/* ---- sandboxes --------------------------------------------------------- */

typedef struct kr_rt_sandbox_config {
    const char *pod_name;
    const char *pod_namespace;
    const char *pod_uid;
    uint32_t attempt;     /* bumped when the agent re-creates the sandbox */
    const char *hostname; /* the pod's hostname (the pod name by default) */
    bool host_network;    /* join the host's network namespace */
    bool host_ipc;
    bool host_pid;
    const char *cgroup_parent; /* pod-level cgroup path, e.g. "kraal/pod<uid>"; NULL = runtime's */
    const kr_rt_kv_t *labels;  /* kept with the sandbox, reported by status/list */
    size_t n_labels;
    const char *log_dir; /* directory for this pod's container logs */
} kr_rt_sandbox_config_t;

typedef enum kr_rt_sandbox_state {
    KR_RT_SANDBOX_READY = 0,
    KR_RT_SANDBOX_NOTREADY = 1,
} kr_rt_sandbox_state_t;

typedef struct kr_rt_sandbox {
    char *id;
    char *pod_name;
    char *pod_namespace;
    char *pod_uid;
    uint32_t attempt;
    kr_rt_sandbox_state_t state;
    int64_t created_at;
    char *netns_path;   /* the network namespace every container joins; NULL for host_network */
    char *ip;           /* the pod's IPv4 address; NULL until a network plugin gives one */
    kr_rt_kv_t *labels; /* n_labels entries, strings owned like the rest */
    size_t n_labels;
} kr_rt_sandbox_t;

void kr_rt_sandbox_free(kr_rt_sandbox_t *sb);
void kr_rt_sandbox_list_free(kr_rt_sandbox_t *sbs, size_t n);

/* ---- containers -------------------------------------------------------- */

typedef enum kr_rt_mount_kind {
    KR_RT_MOUNT_BIND = 0, /* host_path -> container_path */
    KR_RT_MOUNT_TMPFS,    /* a tmpfs of size_bytes (0 = the kernel's default) */
} kr_rt_mount_kind_t;

typedef struct kr_rt_mount {
    kr_rt_mount_kind_t kind;
    const char *host_path; /* BIND only */
    const char *container_path;
    bool read_only;
    uint64_t size_bytes; /* TMPFS only */
} kr_rt_mount_t;

/* Resource settings, already translated from requests/limits by the agent
 * (the kubelet's rules: shares from the cpu request, quota from the cpu
 * limit).  0 = not set. */
typedef struct kr_rt_resources {
    uint64_t cpu_shares;
    int64_t cpu_quota; /* microseconds per cpu_period */
    uint64_t cpu_period;
    int64_t memory_limit; /* bytes */
    int64_t pids_limit;
    int oom_score_adj;
} kr_rt_resources_t;

typedef struct kr_rt_container_config {
    const char *name;  /* the container's name in the pod */
    uint32_t attempt;  /* the restart count this container starts with */
    const char *image; /* an image id or a reference the image store has */
    /* argv as Kubernetes resolves it against the image (the agent does
     * that): never empty. */
    const char *const *argv;
    size_t argc;
    const char *working_dir; /* NULL: the image's, else "/" */
    const kr_rt_kv_t *env;
    size_t n_env;
    const kr_rt_mount_t *mounts;
    size_t n_mounts;
    const kr_rt_kv_t *labels; /* kept with the container, reported by status/list */
    size_t n_labels;
    const char *log_path; /* file that receives stdout and stderr (CRI log format) */
    /* Security */
    int64_t run_as_user;  /* -1: the image's user (root when it has none) */
    int64_t run_as_group; /* -1: the user's primary group */
    bool read_only_rootfs;
    bool privileged;
    const char *const *cap_add;  /* "NET_ADMIN" or "CAP_NET_ADMIN"; NULL-terminated, may be NULL */
    const char *const *cap_drop; /* "ALL" drops every default capability */
    kr_rt_resources_t resources;
    /* The container's own stdin and terminal (Container.stdin, stdinOnce,
     * tty; CRI ContainerConfig).  Without open_stdin its stdin is
     * /dev/null.  With it the runtime keeps stdin open (a read waits) for
     * container_attach; with stdin_once and no tty it closes stdin, for
     * good, once the first attach detaches (containerd's StdinOnce; a
     * terminal stays open for the next attach).  With tty the container
     * runs on a terminal: output and input go through it (the log has it
     * all as stdout). */
    bool open_stdin;
    bool stdin_once;
    bool tty;
} kr_rt_container_config_t;

typedef enum kr_rt_container_state {
    KR_RT_CREATED = 0,
    KR_RT_RUNNING = 1,
    KR_RT_EXITED = 2,
    KR_RT_UNKNOWN = 3,
} kr_rt_container_state_t;

typedef struct kr_rt_container {
    char *id;
    char *sandbox_id;
    char *name;
    uint32_t attempt;
    char *image;     /* as given at create */
    char *image_ref; /* the image id it runs */
    kr_rt_container_state_t state;
    int64_t created_at;
    int64_t started_at;
    int64_t finished_at;
    int pid;       /* of the container's init while RUNNING, else 0 */
    int exit_code; /* EXITED only; 128+signal for a signal */
    char *reason;  /* EXITED: "Completed", "Error", "OOMKilled", "ContainerCannotRun" */
    char *message; /* may be NULL */
    char *log_path;
    kr_rt_kv_t *labels;
    size_t n_labels;
} kr_rt_container_t;

void kr_rt_container_free(kr_rt_container_t *c);
void kr_rt_container_list_free(kr_rt_container_t *cs, size_t n);

typedef struct kr_rt_stats {
    int64_t timestamp;
    uint64_t cpu_usage_ns;       /* cumulative */
    uint64_t memory_usage;       /* bytes, including cache */
    uint64_t memory_working_set; /* usage minus inactive file pages */
    uint64_t pids;
} kr_rt_stats_t;

/* A process started in a running container by exec.  The caller owns the
 * fds (-1 when not asked for) and must reap the process with
 * ops->exec_wait exactly once. */
typedef struct kr_rt_exec_proc {
    int stdin_fd;  /* write end; -1 unless want_stdin */
    int stdout_fd; /* read end; with a tty, the terminal's master (read and write) */
    int stderr_fd; /* read end; -1 with a tty */
    int pid;       /* for exec_wait / exec_resize */
    void *handle;  /* runtime-private, passed back to exec_wait */
} kr_rt_exec_proc_t;

typedef struct kr_rt_exec_config {
    const char *const *argv; /* NULL-terminated, never empty */
    bool want_stdin;
    bool tty;
    const kr_rt_kv_t *env; /* added to the container's environment */
    size_t n_env;
} kr_rt_exec_config_t;

/* ---- the vtable -------------------------------------------------------- */

typedef struct kr_runtime_ops {
    uint32_t struct_size;     /* sizeof(kr_runtime_ops_t) of the plugin's SDK */
    const char *runtime_name; /* "runc"; for Node.status.nodeInfo.containerRuntimeVersion */
    /* "runc://1.1.5" style version string, from the binary it drives. */
    int (*version)(void *self, char *buf, size_t len, kr_error_t *err);

    /* Images.  `ref` is a reference ("busybox", "127.0.0.1:5000/b:1",
     * "x@sha256:...") or an image id. */
    int (*image_pull)(void *self, const char *ref, const kr_rt_auth_t *auth, char id[KR_RT_ID_MAX],
                      kr_error_t *err);
    /* KR_E_NOT_FOUND when the store does not have it (no pull). */
    int (*image_status)(void *self, const char *ref, kr_rt_image_t *out, kr_error_t *err);
    int (*image_list)(void *self, kr_rt_image_t **out, size_t *n, kr_error_t *err);
    /* KR_E_CONFLICT when a container still uses it. */
    int (*image_remove)(void *self, const char *ref, kr_error_t *err);
    /* Imports a file or directory; `name` tags the result when the input
     * carries no name of its own (rootfs tarballs, unnamed layouts), may be
     * NULL.  Sets *ids (NULL-terminated, caller frees with kr_rt_strv_free)
     * to the images it stored. */
    int (*image_import)(void *self, const char *path, kr_rt_image_format_t format, const char *name,
                        char ***ids, kr_error_t *err);

    /* Sandboxes. */
    int (*sandbox_run)(void *self, const kr_rt_sandbox_config_t *cfg, char id[KR_RT_ID_MAX],
                       kr_error_t *err);
    /* Stops every container of the sandbox (SIGKILL) and makes it NOTREADY. */
    int (*sandbox_stop)(void *self, const char *id, kr_error_t *err);
    /* Removes a stopped sandbox with its containers; 0 when it is gone already. */
    int (*sandbox_remove)(void *self, const char *id, kr_error_t *err);
    int (*sandbox_status)(void *self, const char *id, kr_rt_sandbox_t *out, kr_error_t *err);
    int (*sandbox_list)(void *self, kr_rt_sandbox_t **out, size_t *n, kr_error_t *err);

    /* Containers. */
    int (*container_create)(void *self, const char *sandbox_id, const kr_rt_container_config_t *cfg,
                            char id[KR_RT_ID_MAX], kr_error_t *err);
    int (*container_start)(void *self, const char *id, kr_error_t *err);
    /* SIGTERM (or the image's StopSignal), SIGKILL after grace_seconds;
     * returns once the container has exited.  0 when it is not running. */
    int (*container_stop)(void *self, const char *id, int64_t grace_seconds, kr_error_t *err);
    /* Removes an exited container (its rootfs, not its log). */
    int (*container_remove)(void *self, const char *id, kr_error_t *err);
    int (*container_status)(void *self, const char *id, kr_rt_container_t *out, kr_error_t *err);
    /* Every container, or those of one sandbox when sandbox_id is not NULL. */
    int (*container_list)(void *self, const char *sandbox_id, kr_rt_container_t **out, size_t *n,
                          kr_error_t *err);
    int (*container_stats)(void *self, const char *id, kr_rt_stats_t *out, kr_error_t *err);

    /* Runs argv in the container and waits at most timeout_ms (0 = no
     * limit); collects at most `cap` bytes of stdout+stderr into `out`
     * (NUL-terminated; may be NULL).  Sets *exit_code; KR_E_TIMEOUT when the
     * limit passed (the process is killed).  For probes and hooks. */
    int (*exec_sync)(void *self, const char *id, const char *const *argv, int64_t timeout_ms,
                     char *out, size_t cap, int *exit_code, kr_error_t *err);
    /* Starts argv in the container with pipes or a terminal (kubectl exec). */
    int (*exec_start)(void *self, const char *id, const kr_rt_exec_config_t *cfg,
                      kr_rt_exec_proc_t *proc, kr_error_t *err);
    /* Resizes an exec's terminal. */
    int (*exec_resize)(void *self, kr_rt_exec_proc_t *proc, uint16_t cols, uint16_t rows,
                       kr_error_t *err);
    /* Waits for the exec'd process and frees its handle; sets *exit_code. */
    int (*exec_wait)(void *self, kr_rt_exec_proc_t *proc, int *exit_code, kr_error_t *err);

    /* OPTIONAL (NULL: the runtime cannot attach to a container's stdin;
     * kubectl attach then shows output only).  Attaches to the stdin of a
     * running container created with open_stdin (CRI Attach): sets
     * *stdin_fd to a stream the caller owns; what it writes there reaches
     * the container's stdin (its terminal with tty).  Closing it detaches;
     * with stdin_once (no tty) the first detach closes the container's
     * stdin.
     * Several attaches may be open at once.  KR_E_BAD_REQUEST when the
     * container has no stdin (open_stdin false), KR_E_CONFLICT when it is
     * not running or its stdin was closed (stdin_once). */
    int (*container_attach)(void *self, const char *id, int *stdin_fd, kr_error_t *err);
    /* OPTIONAL, with container_attach: resizes the terminal of a running
     * container created with tty (the kubelet's resize channel of attach).
     * KR_E_BAD_REQUEST when it has no terminal. */
    int (*container_resize)(void *self, const char *id, uint16_t cols, uint16_t rows,
                            kr_error_t *err);
} kr_runtime_ops_t;

void kr_rt_strv_free(char **v);

/* Registers the instance's runtime under its instance name; only during
 * init.  `ops` must outlive the instance.  The registration ends when the
 * instance's fini starts.  KR_E_ALREADY_EXISTS when the name is taken. */
int kr_runtime_register(kr_plugin_ctx_t *ctx, const kr_runtime_ops_t *ops, void *self,
                        kr_error_t *err);

/* Finds a runtime of this process by instance name.  KR_E_NOT_FOUND with a
 * message naming the loaded runtimes when there is none.  The pointers stay
 * valid until that runtime's instance stops. */
int kr_runtime_find(const char *name, const kr_runtime_ops_t **ops, void **self, kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
