/* agent-node: the types shared by the plugin's files.
 *
 * Threads: the plugin's loop thread owns the bus, the pod informer, the
 * pod table and every status write (agent.c, node.c).  Runtime calls block,
 * so they run as jobs on a few worker threads (pool.c, sync.c): a job
 * carries a copy of everything it reads (the pod object, the pod's
 * back-off entries) and its results, and goes back to the loop thread
 * through an eventfd.  One pod has at most one job at a time, so its
 * operations are serialized as the kubelet's pod workers do.
 */
#ifndef KRAAL_AGENT_H
#define KRAAL_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/network.h>
#include <kraal/plugin.h>
#include <kraal/runtime.h>

#include "spec.h"

#define AG_KUBELET_VERSION "v1.31.0-kraal"
#define AG_NAME_MAX        256

/* What the workers may read: set during init, immutable afterwards. */
typedef struct ag_env_conf {
    const kr_runtime_ops_t *rt;
    void *rt_self;
    /* The pod network (config `network`): every sandbox that is not
     * hostNetwork gets its address from it.  NULL: the runtime's own. */
    const kr_network_ops_t *net;
    void *net_self;
    const char *node_name;
    const char *host_ip;
    const char *data_dir;
    const char *bus_endpoint;
    int64_t alloc_milli_cpu, alloc_memory, alloc_ephemeral;
    int64_t memory_capacity;
    int oom_floor;              /* the agent's own oom_score_adj: containers never go lower */
    const char *cluster_dns;    /* comma-separated nameservers, or NULL */
    const char *cluster_domain; /* "cluster.local" */
    int64_t pids_limit;         /* pod_pids_limit per container; 0 = unlimited */
    kr_plugin_ctx_t *ctx;       /* for kr_plugin_log only (thread-safe) */
    struct ag_tokens *tokens;   /* the pods' ServiceAccount tokens (locked inside) */
} ag_conf_t;

/* ---- token.c (worker threads) ------------------------------------------ */

/* The projected serviceAccountToken sources' tokens, cached per pod,
 * account, audience and lifetime as the kubelet's token manager keeps
 * them: asked for with a TokenRequest bound to the pod (the op
 * "authn.tokenrequest", docs/plugins.md) and asked again once within the
 * last 20 % of their lifetime or 24 h after they were issued.  Any thread;
 * a mutex inside. */
typedef struct ag_tokens ag_tokens_t;
ag_tokens_t *ag_tokens_new(void);
void ag_tokens_destroy(ag_tokens_t **self_p);
/* The token for `src` (a serviceAccountToken projection: audience,
 * expirationSeconds) of `pod` at time `now` (s): *token in arena, from the
 * cache or a new TokenRequest over `bus`.  < 0 with err ("failed to fetch
 * token: ..."). */
int ag_tokens_get(ag_tokens_t *t, kr_bus_t *bus, kr_arena_t *arena, const kr_value_t *pod,
                  const kr_value_t *src, int64_t now, const char **token, kr_error_t *err);
/* Drops a pod's tokens (the pod is gone). */
void ag_tokens_forget(ag_tokens_t *t, const char *pod_uid);
/* requiresRefresh: whether a token expiring at `exp` that was issued for
 * `ttl` seconds is due for a new one at `now`. */
bool ag_token_needs_refresh(int64_t exp, int64_t ttl, int64_t now);

/* The back-off of one container of a pod (by name). */
typedef struct ag_bo {
    char name[AG_NAME_MAX];
    ag_backoff_t crash;     /* CrashLoopBackOff */
    ag_backoff_t pull;      /* ImagePullBackOff */
    int64_t pull_failed_ms; /* last failed pull, for the image back-off */
} ag_bo_t;

typedef enum ag_job_kind {
    AG_JOB_SYNC = 0, /* make the pod's containers what its spec asks */
    AG_JOB_KILL,     /* stop everything of the pod (deleted) and remove it */
    AG_JOB_CLEANUP,  /* remove sandboxes of pods that are not known */
    AG_JOB_PROBE,    /* run one probe of one container (beside the pod's other jobs) */
} ag_job_kind_t;

typedef struct ag_pod ag_pod_t;

/* An event a job saw (the kubelet's recorder calls), sent by the loop. */
typedef struct ag_event {
    const char *type; /* "Normal" or "Warning" */
    const char *reason;
    const char *message;
    const char *field_path; /* "spec.containers{c}", or NULL for the pod */
} ag_event_t;

typedef struct ag_job {
    struct ag_job *next;
    ag_job_kind_t kind;
    ag_pod_t *pod; /* loop-owned; the worker never touches it */
    kr_arena_t *a; /* everything below is in it */
    /* in */
    kr_value_t *obj;               /* the pod (SYNC, KILL) */
    char sandbox_id[KR_RT_ID_MAX]; /* known sandbox, "" when none; out: current */
    ag_bo_t *bo;                   /* the pod's back-off entries (in and out) */
    size_t nbo;
    int64_t grace_s;         /* KILL */
    const char **known_uids; /* CLEANUP: pods that must be kept */
    size_t nknown;
    int64_t cutoff_ns;        /* CLEANUP: sandboxes created later belong to pods known since */
    const ag_env_t *services; /* SYNC: the service variables; NULL: none (hollow nodes) */
    const char **kill_ids;    /* SYNC: containers to stop first (failed liveness/startup) */
    int64_t *kill_grace;      /* their grace periods */
    size_t nkill;
    /* PROBE */
    const kr_value_t *probe;     /* the Probe */
    const kr_value_t *container; /* its Container (named ports) */
    const char *container_id;
    const char *netns;     /* the pod's network namespace; NULL: the host's */
    int probe_kind;        /* AG_PROBE_* */
    const ag_conf_t *node; /* the pod's node (name, address, allocatable); NULL: the pool's */
    /* The pod was first seen after the informer's first list and no job of
     * it made a sandbox: the runtime has none of it, no need to list. */
    bool fresh;
    /* in: the last ADD of the pod's sandbox failed, try again; out: this
     * job's failed (its podIP is the one the status had) */
    bool net_retry;
    /* out */
    bool made_sandbox;                    /* SYNC: a sandbox was created */
    kr_value_t *init_statuses, *statuses; /* ContainerStatus arrays */
    bool sandbox_ready;
    const char *pod_ip;
    bool done;             /* KILL: nothing of the pod is left */
    int64_t requeue_ms;    /* sync again after this long (a back-off ends); 0 = no need */
    int removed;           /* CLEANUP: sandboxes removed */
    const char *netns_out; /* SYNC: the sandbox's netns path */
    bool probe_ok;
    char probe_msg[256];
    uint64_t submitted_ms, ran_ms; /* kr_time_ms: queued, then run (for debug logs) */
    ag_event_t *events;            /* in the job's arena */
    size_t nevents, events_cap;
    char error[KR_ERROR_MSG_MAX]; /* a failure worth a log line, "" otherwise */
} ag_job_t;

/* ---- pool.c ------------------------------------------------------------ */

typedef struct ag_pool ag_pool_t;

/* Starts `n` worker threads running jobs with ag_sync_run; finished jobs
 * are collected by ag_pool_take on the thread that reads ag_pool_fd. */
ag_pool_t *ag_pool_new(const ag_conf_t *conf, unsigned n, kr_error_t *err);
/* Stops the workers after their current job; unfinished jobs are freed. */
void ag_pool_destroy(ag_pool_t **self_p);
void ag_pool_submit(ag_pool_t *p, ag_job_t *job);
/* Readable when finished jobs wait. */
int ag_pool_fd(const ag_pool_t *p);
/* The finished jobs (a list through ->next, oldest first); clears the fd. */
ag_job_t *ag_pool_take(ag_pool_t *p);
void ag_job_free(ag_job_t *job);

/* ---- sync.c (worker threads) ------------------------------------------- */

/* Per worker thread: its own bus connection for ConfigMaps and Secrets. */
typedef struct ag_worker {
    const ag_conf_t *conf;
    kr_bus_t *bus; /* NULL when the connection failed: lookups fail */
} ag_worker_t;

void ag_sync_run(ag_worker_t *w, ag_job_t *job);

/* Adds an event to the job's results (the message is formatted into the
 * job's arena). */
void ag_job_event(ag_job_t *job, const char *type, const char *reason, const char *field_path,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- probe.c (worker threads) ------------------------------------------ */

enum { AG_PROBE_STARTUP = 0, AG_PROBE_LIVENESS = 1, AG_PROBE_READINESS = 2 };

/* Runs job->probe: exec through the runtime, tcpSocket and httpGet from a
 * thread that joined the pod's network namespace.  Sets probe_ok and
 * probe_msg. */
void ag_probe_run(ag_worker_t *w, ag_job_t *job);
/* The port of a tcpSocket/httpGet probe: a number, or the name of one of
 * the container's ports; -1 when neither. */
int ag_probe_port(const kr_value_t *port, const kr_value_t *container);
/* The status code of an HTTP/1.x status line, or -1. */
int ag_http_status(const char *resp, size_t len);

/* Labels the agent puts on sandboxes and containers. */
#define AG_LABEL_POD_NAME       "io.kubernetes.pod.name"
#define AG_LABEL_POD_NAMESPACE  "io.kubernetes.pod.namespace"
#define AG_LABEL_POD_UID        "io.kubernetes.pod.uid"
#define AG_LABEL_CONTAINER_NAME "io.kubernetes.container.name"
#define AG_LABEL_RESTART_COUNT  "io.kubernetes.container.restartCount"
#define AG_LABEL_CONTAINER_KIND "io.kraal.container.kind" /* "init" or "app" */

/* ---- sendq.c (loop thread) --------------------------------------------- */

/* The loop thread's requests, at most `max` in flight on its connection
 * (which refuses more than 1024); the others wait in order. */
typedef struct ag_sendq ag_sendq_t;

ag_sendq_t *ag_sendq_new(kr_bus_t *bus, unsigned max);
/* Queued requests are answered 503 now; the queue itself is freed once
 * the replies of those in flight are back (the bus answers them when it
 * closes). */
void ag_sendq_destroy(ag_sendq_t **self_p);
/* kr_bus_send through the queue (the request is copied when it must
 * wait).  -1 when the bus refused it at once: `fn` is not called. */
int ag_sendq_send(ag_sendq_t *q, const kr_request_t *req, kr_reply_fn fn, void *ud, int timeout_ms,
                  kr_error_t *err);
size_t ag_sendq_queued(const ag_sendq_t *q);

/* ---- node.c (loop thread) ---------------------------------------------- */

typedef struct ag_node ag_node_t;

typedef struct ag_node_opts {
    kr_plugin_ctx_t *ctx;
    kr_bus_t *bus;
    ag_sendq_t *sendq; /* the agent's, for every request */
    kr_loop_t *loop;
    const ag_conf_t *conf;
    int64_t status_period_ms;
    int64_t lease_period_ms;
    int64_t reserved_milli_cpu, reserved_memory; /* system + kube reserved */
    int64_t eviction_memory;                     /* hard eviction threshold */
    const char *runtime_version;
    int64_t capacity_milli_cpu, capacity_pods, capacity_ephemeral;
    /* Written when it changed (heartbeat times aside), else at least this
     * often (the kubelet's nodeStatusReportFrequency); 0 = every period. */
    int64_t report_period_ms;
    /* The first status check and renewal after this long, so that the
     * nodes of one agent spread their writes over the periods. */
    int64_t status_offset_ms, lease_offset_ms;
    const kr_rt_kv_t *labels; /* more labels (zone, node_labels); may be NULL */
    size_t n_labels;
} ag_node_opts_t;

/* Machine facts for the Node and for the workers. */
int64_t ag_node_online_cpus(void);
int64_t ag_node_mem_total(void); /* bytes */
int64_t ag_node_fs_capacity(const char *dir);
/* The first non-loopback IPv4 address, "" when there is none. */
void ag_node_first_ipv4(char *buf, size_t len);

/* Registers the Node, then keeps its status and its Lease fresh. */
ag_node_t *ag_node_new(const ag_node_opts_t *opts, kr_error_t *err);
void ag_node_destroy(ag_node_t **self_p);
/* Builds the Node object as the agent reports it (for tests and create). */
kr_value_t *ag_node_object(kr_arena_t *a, const ag_node_opts_t *o, const kr_value_t *old_status,
                           const char *now);
kr_value_t *ag_lease_object(kr_arena_t *a, const char *node, const char *node_uid,
                            const char *renew_time);

#endif
