/* agent-node: the pure parts of the kubelet's job, with no runtime and no
 * bus — what a pod spec means for a container (argv, environment,
 * resources, QoS) and what the observed containers mean for the pod
 * (phase, conditions), plus the crash back-off.  Each function follows the
 * upstream code it names, so that unit tests can check it line by line.
 *
 * Memory: results are allocated in the arena passed in (owned by it).
 */
#ifndef KRAAL_AGENT_SPEC_H
#define KRAAL_AGENT_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/runtime.h>
#include <kraal/value.h>

/* ---- environment ------------------------------------------------------ */

/* An ordered environment; setting a key again replaces its value in place
 * (the kubelet's map, with the order the pod gave). */
typedef struct ag_env {
    kr_rt_kv_t *kv; /* arena-owned */
    size_t n, cap;
} ag_env_t;

void ag_env_set(kr_arena_t *a, ag_env_t *env, const char *key, const char *value);
/* NULL when not set. */
const char *ag_env_get(const ag_env_t *env, const char *key);

/* third_party/forked/golang/expansion.Expand: $(VAR) from `env` (left as
 * written when undefined), $$ is a literal $. */
char *ag_expand(kr_arena_t *a, const char *in, const ag_env_t *env);

/* IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]*. */
bool ag_env_name_valid(const char *name);

/* Where the environment of a container gets what the pod refers to. */
typedef struct ag_env_ctx {
    const kr_value_t *pod; /* the whole Pod */
    const char *pod_ip;    /* may be NULL */
    const char *host_ip;   /* may be NULL */
    /* Node allocatable, for resourceFieldRef of limits the container does
     * not set (MergeContainerResourceLimits). */
    int64_t alloc_milli_cpu;
    int64_t alloc_memory;
    int64_t alloc_ephemeral;
    /* Reads a ConfigMap or a Secret ("configmaps"/"secrets") of the pod's
     * namespace: 0 with *obj set, or < 0 with err (KR_E_NOT_FOUND when it
     * does not exist). */
    int (*lookup)(void *ud, const char *what, const char *ns, const char *name,
                  const kr_value_t **obj, kr_error_t *err);
    void *ud;
    /* The token of a projected serviceAccountToken source `src` for the
     * pod: 0 with *token (in arena), or < 0 with err.  NULL: such sources
     * are left out. */
    int (*sa_token)(void *ud, kr_arena_t *arena, const kr_value_t *src, const char **token,
                    kr_error_t *err);
    /* The service variables (ag_service_env); NULL: none. */
    const ag_env_t *services;
} ag_env_ctx_t;

/* makeEnvironmentVariables: envFrom (configMapRef/secretRef with prefix and
 * optional), then env (value with $(VAR) expansion against what precedes
 * and then ctx->services,
 * valueFrom configMapKeyRef/secretKeyRef/fieldRef/resourceFieldRef).  On a
 * missing non-optional reference: KR_E_NOT_FOUND / KR_E_INVALID with the
 * kubelet's message (the container's CreateContainerConfigError).  Last
 * the service variables the container does not set itself. */
int ag_env_build(kr_arena_t *a, const kr_value_t *container, const ag_env_ctx_t *ctx, ag_env_t *out,
                 kr_error_t *err);

/* The kubelet's master services (kubelet.go masterServices). */
#define AG_MASTER_SERVICE "kubernetes"

/* getServiceEnvVarMap + envvars.FromServices: the variables of the
 * Services among `svcs` (of any namespaces) a pod of namespace `ns` gets —
 * those with a ClusterIP (not "None", not empty) of `ns` when `links`
 * (spec.enableServiceLinks, default true), and default/kubernetes always
 * (a Service of `ns` of the same name wins).  For each:
 * <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT (the first port),
 * <NAME>_SERVICE_PORT_<PORTNAME> for named ports, and the Docker link
 * variables <NAME>_PORT (the first port's tcp://ip:port),
 * <NAME>_PORT_<port>_<PROTO> with _PROTO, _PORT and _ADDR; NAME and
 * PORTNAME upper case with '-' as '_'.  Services in name order (upstream's
 * is a map's).  Added to `out`. */
void ag_service_env(kr_arena_t *a, const kr_value_t *const *svcs, size_t n, const char *ns,
                    bool links, ag_env_t *out);

/* resourceFieldRef {containerName, resource, divisor} of `self` (or the
 * named container of ctx->pod) as the kubelet renders it. */
int ag_resource_field_ref(kr_arena_t *a, const kr_value_t *ref, const kr_value_t *self,
                          const ag_env_ctx_t *ctx, const char **out, kr_error_t *err);

/* Field paths for fieldRef (podFieldSelectorRuntimeValue +
 * ExtractFieldPathAsString). */
int ag_field_ref(kr_arena_t *a, const kr_value_t *pod, const char *path, const char *pod_ip,
                 const char *host_ip, const char **out, kr_error_t *err);

/* ---- argv ------------------------------------------------------------- */

/* The container's argv (command/args over the image's entrypoint/cmd, as
 * the runtime merges them; $(VAR) expanded).  KR_E_INVALID "no command
 * specified" when it ends up empty.  *argv is NULL-terminated. */
int ag_container_argv(kr_arena_t *a, const kr_value_t *container, char *const *entrypoint,
                      char *const *cmd, const ag_env_t *env, const char ***argv, size_t *argc,
                      kr_error_t *err);

/* ---- resources -------------------------------------------------------- */

/* A quantity from a string or number value; false when absent or bad. */
bool ag_quantity(const kr_value_t *v, kr_quantity_t *q);
/* resources.<kind>.<name> of a container as milli units / units; 0 when
 * absent. */
int64_t ag_res_milli(const kr_value_t *container, const char *kind, const char *name);
int64_t ag_res_value(const kr_value_t *container, const char *kind, const char *name);

/* qos.ComputePodQOS: "Guaranteed", "Burstable" or "BestEffort". */
const char *ag_qos_class(const kr_value_t *spec);

uint64_t ag_milli_cpu_to_shares(int64_t milli);
int64_t ag_milli_cpu_to_quota(int64_t milli, int64_t period);
/* GetContainerOOMScoreAdjust, never below `floor` (lowering it needs
 * CAP_SYS_RESOURCE). */
int ag_oom_score_adj(const kr_value_t *container, const char *qos, int64_t memory_capacity,
                     int floor);
/* calculateLinuxResources + the OOM score. */
void ag_container_resources(const kr_value_t *container, const char *qos, int64_t memory_capacity,
                            int oom_floor, kr_rt_resources_t *out);

/* ---- back-off (client-go's flowcontrol.Backoff, one entry) ------------ */

#define AG_BACKOFF_INITIAL_MS 10000
#define AG_BACKOFF_MAX_MS     300000

typedef struct ag_backoff {
    int64_t last_update_ms; /* 0: no entry */
    int64_t backoff_ms;
} ag_backoff_t;

/* IsInBackOffSince: the entry is younger than 2*max and less than its
 * back-off has passed since event_ms. */
bool ag_backoff_in_backoff_since(const ag_backoff_t *b, int64_t event_ms, int64_t now_ms);
/* Next: starts at the initial back-off, or doubles it up to the maximum;
 * an entry older than 2*max at event_ms starts over. */
void ag_backoff_next(ag_backoff_t *b, int64_t event_ms, int64_t now_ms);

/* Go's time.Duration.String() for whole milliseconds ("10s", "1m20s",
 * "5m0s", "1.5s"). */
void ag_go_duration(int64_t ms, char *buf, size_t len);

/* ---- times ------------------------------------------------------------ */

/* RFC 3339 UTC of nanoseconds since the epoch: seconds
 * ("2006-01-02T15:04:05Z"), or microseconds (MicroTime). */
void ag_time_str(int64_t ns, char *buf, size_t len);
void ag_time_str_micro(int64_t ns, char *buf, size_t len);
int64_t ag_now_ns(void);

/* ---- DNS ---------------------------------------------------------------- */

/* The pod's /etc/resolv.conf (the kubelet's GetPodDNS): dnsPolicy Default
 * (the host's file), ClusterFirst (the cluster's nameservers and search
 * path "<ns>.svc.<domain> svc.<domain> <domain>" before the host's, ndots:5;
 * the host's file when no cluster DNS is configured, as the kubelet falls
 * back), ClusterFirstWithHostNet (ClusterFirst for hostNetwork pods, else
 * the same), None (dnsConfig only); then dnsConfig's nameservers,
 * searches and options merged in.  `host` is the host's resolv.conf text;
 * `cluster_dns` comma-separated IPs or NULL. */
char *ag_resolv_conf(kr_arena_t *a, const kr_value_t *pod, const char *host,
                     const char *cluster_dns, const char *cluster_domain);

/* The pod's /etc/hosts when a network plugin gave it `pod_ip` (the
 * kubelet's managedHostsFileContent): the localhost lines, then
 * "<pod_ip>\t<hostname>", or "<pod_ip>\t<hostname>.<subdomain>.<ns>.svc.
 * <cluster_domain>\t<hostname>" when spec.subdomain is set, then the
 * spec.hostAliases.  The hostname is spec.hostname, else the pod's name
 * cut to 63 characters. */
char *ag_hosts_file(kr_arena_t *a, const kr_value_t *pod, const char *pod_ip,
                    const char *cluster_domain);

/* The message of a terminated container (the kubelet's
 * terminationMessagePath / FallbackToLogsOnError): the file's text (at most
 * 4096 bytes); when empty and the policy falls back to logs and the
 * container failed, the last 80 lines (at most 2048 bytes) of its CRI log
 * (`log`, may be NULL).  NULL when there is nothing. */
const char *ag_termination_message(kr_arena_t *a, const char *file_text, const char *policy,
                                   int exit_code, const char *log);

/* ---- pod status ------------------------------------------------------- */

/* The container status of `name` in an array of ContainerStatus, or NULL. */
const kr_value_t *ag_status_of(const kr_value_t *statuses, const char *name);

/* getPhase (pkg/kubelet/kubelet_pods.go) over the init and app container
 * statuses; `terminal` when the pod is known to be done. */
const char *ag_pod_phase(const kr_value_t *spec, const kr_value_t *init_statuses,
                         const kr_value_t *statuses, bool terminal);

/* The kubelet's conditions (pkg/kubelet/status/generate.go): PodScheduled,
 * PodReadyToStartContainers, Initialized, ContainersReady, Ready, in that
 * order, each keeping its lastTransitionTime from `old_conds` unless its
 * status changed (then `now`).  Conditions of other types in old_conds
 * are kept after them. */
kr_value_t *ag_pod_conditions(kr_arena_t *a, const kr_value_t *spec, const char *phase,
                              const kr_value_t *init_statuses, const kr_value_t *statuses,
                              bool sandbox_ready, const kr_value_t *old_conds, const char *now);

#endif
