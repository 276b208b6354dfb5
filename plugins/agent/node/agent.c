/* agent-node: the node agent (the kubelet's job) as a plugin.
 *
 * - The Node and its Lease: node.c.
 * - Pods: an informer on the pods bound to this node (field selector
 *   spec.nodeName).  Each pod gets sync jobs (sync.c) on the worker pool,
 *   one at a time; events that arrive while a job runs make it run again
 *   once done.  Every `sync_frequency` each pod is synced again, which is
 *   how container exits are noticed (the runtime has no events), and a
 *   back-off that ends schedules a sync at its end.
 * - A pod with a deletionTimestamp is killed (preStop, grace period,
 *   sandbox removed) and then deleted for good with gracePeriodSeconds 0
 *   and its uid as precondition, as the kubelet's status manager does.  A
 *   pod whose object is gone is killed and forgotten.  Sandboxes of pods
 *   that the API does not have are removed once the informer has synced,
 *   and every minute after.
 * - Statuses are computed here from what the last job saw and written
 *   through pods/status when they changed: an update at the cached
 *   resourceVersion, on 409 a fresh get and another try.
 *
 * After a restart the same code adopts what runs: a pod's sync finds its
 * ready sandbox by the pod uid label and keeps running containers.
 */
#include <ctype.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/informer.h>
#include <kraal/plugin.h>
#include <kraal/runtime.h>

#include "agent.h"
#include "stream.h"

#define WRITE_TIMEOUT_MS 10000
#define WRITE_RETRIES    5
#define CLEANUP_EVERY_MS 60000
#define EVENT_FLUSH_MS   10000
#define EVENTS_PER_POD   32
#define AG_HOSTS_MAX     100000
#define SVC_CACHE_N      8   /* namespaces whose service variables are kept */
#define SVC_WAIT_MS      100 /* a pod to sync before the Services were listed: look again */
#define SENDQ_MAX        768 /* of the connection's 1024: the informer's share is left */
#define JOBS_PER_WORKER  16  /* sync and kill jobs queued per worker, at most */

struct agent_conf {
    const char *runtime;
    const char *network;
    const char *node_name;
    const char *node_ip;
    int64_t workers;
    int64_t status_ms;
    int64_t lease_ms;
    int64_t sync_ms;
    int64_t max_pods;
    const kr_value_t *system_reserved;
    const kr_value_t *kube_reserved;
    const char *eviction_memory;
    const char *cluster_dns;
    const char *cluster_domain;
    int64_t pod_pids_limit;
    int64_t nodes;
    const kr_value_t *capacity;
    int64_t zones;
    const kr_value_t *node_labels;
    int64_t report_ms;
};

static const kr_config_entry_t agent_table[] = {
    {KR_CFG_STRING, "network", NULL, offsetof(struct agent_conf, network),
     "instance name of the network plugin that wires pods (network-bridge; list it before the "
     "agent); absent: no pod network but the runtime's"},
    {KR_CFG_STRING, "runtime", "runc", offsetof(struct agent_conf, runtime),
     "instance name of the runtime plugin that runs the pods"},
    {KR_CFG_STRING, "node_name", NULL, offsetof(struct agent_conf, node_name),
     "the Node's name; the host name (lower case) when absent"},
    {KR_CFG_STRING, "node_ip", NULL, offsetof(struct agent_conf, node_ip),
     "the Node's InternalIP; the first non-loopback IPv4 address when absent"},
    {KR_CFG_INT, "workers", "4", offsetof(struct agent_conf, workers),
     "threads running runtime calls (pods started in parallel)"},
    {KR_CFG_DURATION, "node_status_update_frequency", "10s", offsetof(struct agent_conf, status_ms),
     "how often the Node's status is written"},
    {KR_CFG_DURATION, "node_lease_renew_interval", "10s", offsetof(struct agent_conf, lease_ms),
     "how often the Node's Lease is renewed"},
    {KR_CFG_DURATION, "sync_frequency", "1s", offsetof(struct agent_conf, sync_ms),
     "how often every pod is compared with its containers"},
    {KR_CFG_INT, "max_pods", "110", offsetof(struct agent_conf, max_pods),
     "the Node's pods capacity"},
    {KR_CFG_VALUE, "system_reserved", NULL, offsetof(struct agent_conf, system_reserved),
     "{cpu, memory} kept from allocatable for the system"},
    {KR_CFG_VALUE, "kube_reserved", NULL, offsetof(struct agent_conf, kube_reserved),
     "{cpu, memory} kept from allocatable for kraal"},
    {KR_CFG_STRING, "eviction_hard_memory", "100Mi", offsetof(struct agent_conf, eviction_memory),
     "memory.available eviction threshold, kept from allocatable"},
    {KR_CFG_STRING, "cluster_dns", NULL, offsetof(struct agent_conf, cluster_dns),
     "nameservers of ClusterFirst pods (comma-separated); the host's resolv.conf when absent"},
    {KR_CFG_STRING, "cluster_domain", "cluster.local", offsetof(struct agent_conf, cluster_domain),
     "the cluster's DNS domain (search path of ClusterFirst pods)"},
    {KR_CFG_INT, "pod_pids_limit", "-1", offsetof(struct agent_conf, pod_pids_limit),
     "the kubelet's podPidsLimit: most processes a container may have; -1 = unlimited "
     "(applied to each container's cgroup: there are no pod-level cgroups yet)"},
    {KR_CFG_INT, "nodes", "1", offsetof(struct agent_conf, nodes),
     "nodes this agent registers and serves (hollow nodes, for scale tests): more than 1 names "
     "them <node_name>-0 .. <node_name>-<N-1>"},
    {KR_CFG_VALUE, "capacity", NULL, offsetof(struct agent_conf, capacity),
     "{cpu, memory, pods, ephemeral-storage} the Node reports instead of the machine's"},
    {KR_CFG_INT, "zones", "0", offsetof(struct agent_conf, zones),
     "with K > 0, node i is labelled topology.kubernetes.io/zone=zone-<i mod K>"},
    {KR_CFG_VALUE, "node_labels", NULL, offsetof(struct agent_conf, node_labels),
     "more labels of the Node(s), a map of strings"},
    {KR_CFG_DURATION, "node_status_report_frequency", "5m", offsetof(struct agent_conf, report_ms),
     "the Node's status is written when it changed, else this often (the Lease is the heartbeat)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct agent agent_t;

/* One node the agent registers and serves: N of them in a hollow agent. */
typedef struct ag_host {
    char *name;
    ag_conf_t conf; /* the agent's, with this node's name */
    ag_node_t *node;
    kr_rt_kv_t *labels; /* zone and node_labels */
    size_t nlabels;
} ag_host_t;

struct ag_pod {
    agent_t *ag;
    ag_host_t *host;      /* the node it is bound to */
    struct ag_pod *hnext; /* in the agent's uid index */
    bool fresh;           /* see ag_job_t.fresh */
    uint64_t synced_ms;   /* loop time its last sync or kill ended */
    bool waiting;         /* in the agent's wait list for a place in the pool */
    bool has_probes;      /* its spec (as its last job saw it) has a probe */
    struct ag_pod *wait_prev, *wait_next;
    char *uid, *ns, *name;
    kr_arena_t *oa;  /* own */
    kr_value_t *own; /* see pod_obj */
    int64_t rv;
    /* what the last job saw */
    kr_arena_t *sa;
    kr_value_t *init_statuses, *statuses;
    bool observed, sandbox_ready;
    char *pod_ip; /* in sa */
    char sandbox_id[KR_RT_ID_MAX];
    ag_bo_t *bo;
    size_t nbo;
    /* jobs */
    unsigned jobs;  /* in the pool, probes included: the pod outlives them */
    bool forgotten; /* out of the table, freed when its last job is back */
    struct ag_pod *next_forgotten;
    bool busy, again, gone, killed, deleting;
    bool net_retry; /* the last ADD failed (ag_job_t.net_retry) */
    uint64_t requeue_timer;
    char *netns; /* the sandbox's network namespace, for probes */
    /* probes */
    struct ag_probe_state *probes;
    size_t nprobes;
    char **kill_ids; /* containers whose liveness or startup probe failed */
    int64_t *kill_grace;
    size_t nkill;
    /* events sent, for aggregation (count, lastTimestamp) */
    struct ag_evrec *evs;
    size_t nevs;
    /* status writes */
    kr_arena_t *wa; /* written */
    kr_value_t *written;
    bool writing, write_again;
    unsigned retries;
};

/* One probe of one container instance (prober/worker.go). */
typedef struct ag_probe_state {
    char cname[AG_NAME_MAX];
    char cid[KR_RT_ID_MAX];
    int kind;   /* AG_PROBE_* */
    int result; /* -1 unknown, 0 failure, 1 success */
    int64_t successes, failures;
    uint64_t due_ms; /* loop time of the next run */
    bool in_flight;
    bool on_hold; /* failed liveness/startup: nothing until a new instance */
} ag_probe_state_t;

/* An event the agent created for a pod: repeats of the same event add to
 * its count, written at most every EVENT_FLUSH_MS (the recorder's
 * correlator does the same with a patch of count and lastTimestamp). */
typedef struct ag_evrec {
    char *key; /* type, reason, fieldPath, message */
    char *name;
    int64_t count;
    uint64_t written_ms;
    bool dirty;
} ag_evrec_t;

/* Replies may come after fini: they find life->ag NULL. */
typedef struct agent_life {
    agent_t *ag;
    unsigned refs;
} agent_life_t;

/* The service variables of one namespace (and enableServiceLinks) as of
 * svc_gen: every sync job of a pod needs them, and building them is
 * quadratic in the variables (a map with its order). */
typedef struct svc_env_cache {
    char ns[AG_NAME_MAX];
    bool links;
    uint64_t gen; /* 0: empty */
    kr_arena_t *a;
    ag_env_t env;
} svc_env_cache_t;

struct agent {
    kr_plugin_ctx_t *ctx;
    kr_loop_t *loop;
    kr_bus_t *bus;
    struct agent_conf cfg;
    ag_conf_t conf;
    char node_name[AG_NAME_MAX]; /* the node's, or the prefix of the hosts' names */
    char host_ip[64];
    char runtime_version[128];
    ag_pool_t *pool;
    ag_sendq_t *sendq;   /* every request of the loop thread */
    kr_arena_t *scratch; /* measures copies (copy_fit) */
    ag_host_t *hosts;
    size_t nhosts;
    kr_rt_kv_t *labels; /* node_labels */
    size_t nlabels;
    char **zones;   /* "zone-<i>" label values, made as nodes need them */
    ag_pod_t **idx; /* pods by uid: chains through hnext */
    size_t nidx;
    ag_streams_t *streams; /* logs, exec, attach, port-forward (stream.c) */
    kr_informer_t *inf;
    kr_informer_t *svcs; /* Services, for their variables; NULL with hollow nodes */
    uint64_t svc_gen;    /* bumped by every Service event: the cache below is stale */
    svc_env_cache_t svc_cache[SVC_CACHE_N];
    unsigned svc_cache_next; /* the entry replaced next */
    ag_pod_t **pods;
    size_t npods, cap;
    ag_pod_t *forgotten; /* forgotten pods with jobs still in the pool */
    /* Sync and kill jobs in the pool, and the pods waiting for a place:
     * ten thousand pods bound at once would otherwise be ten thousand
     * copies of their objects queued (and the last synced from the
     * oldest copy). */
    unsigned pod_jobs;
    ag_pod_t *wait_head, *wait_tail;
    uint64_t tick_timer, cleanup_timer, probe_timer;
    bool cleanup_busy;
    agent_life_t *life;
};

/* ---- pods --------------------------------------------------------------------------- */

static size_t uid_slot(const char *uid, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *c = uid; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
    return (size_t)(h & (n - 1));
}

static ag_pod_t *pod_find(agent_t *ag, const char *uid)
{
    if (ag->nidx == 0)
        return NULL;
    for (ag_pod_t *p = ag->idx[uid_slot(uid, ag->nidx)]; p != NULL; p = p->hnext)
        if (strcmp(p->uid, uid) == 0)
            return p;
    return NULL;
}

/* The index grows with the table (a hollow agent has tens of thousands). */
static void idx_insert(agent_t *ag, ag_pod_t *p)
{
    if (ag->npods > ag->nidx) {
        size_t n = ag->nidx ? ag->nidx * 2 : 64;
        ag_pod_t **idx = calloc(n, sizeof *idx);
        if (idx == NULL)
            abort();
        for (size_t i = 0; i < ag->nidx; i++)
            for (ag_pod_t *q = ag->idx[i], *next; q != NULL; q = next) {
                next = q->hnext;
                size_t s = uid_slot(q->uid, n);
                q->hnext = idx[s];
                idx[s] = q;
            }
        free(ag->idx);
        ag->idx = idx;
        ag->nidx = n;
    }
    size_t s = uid_slot(p->uid, ag->nidx);
    p->hnext = ag->idx[s];
    ag->idx[s] = p;
}

static void idx_remove(agent_t *ag, ag_pod_t *p)
{
    if (ag->nidx == 0)
        return;
    for (ag_pod_t **pp = &ag->idx[uid_slot(p->uid, ag->nidx)]; *pp != NULL; pp = &(*pp)->hnext)
        if (*pp == p) {
            *pp = p->hnext;
            return;
        }
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL)
        abort();
    return d;
}

static int64_t rv_of(const kr_value_t *obj)
{
    const char *rv = kr_value_as_str(kr_value_get(obj, "metadata.resourceVersion"));
    return rv ? strtoll(rv, NULL, 10) : 0;
}

/* A copy of `v` in a new arena of its size (*out): a hollow agent keeps
 * thousands of pods, and a default 8 KiB chunk per kept copy would cost
 * more than the pods themselves. */
static kr_value_t *copy_fit(agent_t *ag, kr_arena_t **out, const kr_value_t *v)
{
    kr_arena_reset(ag->scratch);
    kr_value_copy(ag->scratch, v);
    size_t need = kr_arena_used(ag->scratch);
    kr_arena_reset(ag->scratch);
    *out = kr_arena_new(need + 64);
    return kr_value_copy(*out, v);
}

/* The pod as the agent knows it: the informer's cached object, or the
 * agent's own copy when it has a newer one (a status write's answer) or
 * the pod is gone from the cache.  Valid until control returns to the
 * loop (kr_informer_get's rule), so nothing keeps it beyond.  Thousands of
 * pods in a hollow agent would otherwise be kept twice. */
static const kr_value_t *pod_obj(const ag_pod_t *p)
{
    if (p->own != NULL)
        return p->own;
    return kr_informer_get(p->ag->inf, p->ns, p->name);
}

typedef enum {
    OBJ_CACHE, /* the informer's cached object (a handler's) */
    OBJ_REPLY, /* a reply's: copied when newer */
    OBJ_GONE,  /* the last state of a pod the cache no longer has: copied */
} obj_src_t;

/* Keeps the newest state of the pod (a status write's answer may be newer
 * than the informer's cache, or older). */
static void pod_set_obj(ag_pod_t *p, const kr_value_t *obj, obj_src_t src)
{
    int64_t rv = rv_of(obj);
    /* an answer of the version the cache has already (its event came
     * first) is no news: no copy */
    bool newer = src == OBJ_REPLY ? rv > p->rv : rv >= p->rv;
    if (src == OBJ_CACHE) {
        if (p->own != NULL && !newer)
            return; /* ours is newer than the cache */
        kr_arena_destroy(&p->oa);
        p->own = NULL;
    } else if (newer || (src == OBJ_GONE && p->own == NULL)) {
        kr_arena_t *a;
        kr_value_t *own = copy_fit(p->ag, &a, obj);
        kr_arena_destroy(&p->oa);
        p->oa = a;
        p->own = own;
    } else {
        return;
    }
    p->rv = rv;
}

static ag_pod_t *pod_new(agent_t *ag, ag_host_t *host, const kr_value_t *obj)
{
    ag_pod_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    p->ag = ag;
    p->host = host;
    /* seen after the first list: bound since, so no sandbox of it exists
     * that this agent did not make (a restart's pods come in that list) */
    p->fresh = kr_informer_has_synced(ag->inf);
    p->uid = xstrdup(kr_value_as_str(kr_value_get(obj, "metadata.uid")));
    p->ns = xstrdup(kr_value_as_str(kr_value_get(obj, "metadata.namespace")));
    p->name = xstrdup(kr_value_as_str(kr_value_get(obj, "metadata.name")));
    pod_set_obj(p, obj, OBJ_CACHE);
    if (ag->npods == ag->cap) {
        ag->cap = ag->cap ? ag->cap * 2 : 32;
        ag->pods = realloc(ag->pods, ag->cap * sizeof *ag->pods);
        if (ag->pods == NULL)
            abort();
    }
    ag->pods[ag->npods++] = p;
    idx_insert(ag, p);
    return p;
}

static void pod_free(ag_pod_t *p)
{
    if (p->requeue_timer != 0)
        kr_loop_cancel_timer(p->ag->loop, p->requeue_timer);
    kr_arena_destroy(&p->oa);
    kr_arena_destroy(&p->sa);
    kr_arena_destroy(&p->wa);
    for (size_t i = 0; i < p->nkill; i++)
        free(p->kill_ids[i]);
    free(p->kill_ids);
    free(p->kill_grace);
    free(p->probes);
    free(p->netns);
    for (size_t i = 0; i < p->nevs; i++) {
        free(p->evs[i].key);
        free(p->evs[i].name);
    }
    free(p->evs);
    free(p->bo);
    free(p->uid);
    free(p->ns);
    free(p->name);
    free(p);
}

static void wait_push(agent_t *ag, ag_pod_t *p)
{
    p->waiting = true;
    p->wait_next = NULL;
    p->wait_prev = ag->wait_tail;
    if (ag->wait_tail != NULL)
        ag->wait_tail->wait_next = p;
    else
        ag->wait_head = p;
    ag->wait_tail = p;
}

static void wait_remove(agent_t *ag, ag_pod_t *p)
{
    if (!p->waiting)
        return;
    if (p->wait_prev != NULL)
        p->wait_prev->wait_next = p->wait_next;
    else
        ag->wait_head = p->wait_next;
    if (p->wait_next != NULL)
        p->wait_next->wait_prev = p->wait_prev;
    else
        ag->wait_tail = p->wait_prev;
    p->waiting = false;
    p->wait_prev = p->wait_next = NULL;
}

/* Drops the pod from the table; a probe job may still hold it, so it is
 * freed when its last job comes back. */
static void pod_forget(agent_t *ag, ag_pod_t *p)
{
    idx_remove(ag, p);
    wait_remove(ag, p);
    for (size_t i = 0; i < ag->npods; i++)
        if (ag->pods[i] == p) {
            ag->pods[i] = ag->pods[--ag->npods];
            break;
        }
    if (p->jobs == 0) {
        pod_free(p);
        return;
    }
    if (p->requeue_timer != 0) {
        kr_loop_cancel_timer(ag->loop, p->requeue_timer);
        p->requeue_timer = 0;
    }
    p->forgotten = true;
    p->next_forgotten = ag->forgotten;
    ag->forgotten = p;
}

/* A forgotten pod whose last job came back. */
static void pod_unforget(agent_t *ag, ag_pod_t *p)
{
    for (ag_pod_t **pp = &ag->forgotten; *pp != NULL; pp = &(*pp)->next_forgotten)
        if (*pp == p) {
            *pp = p->next_forgotten;
            break;
        }
    pod_free(p);
}

/* ---- bus requests ------------------------------------------------------------------ */

typedef enum { T_STATUS, T_GET, T_DELETE, T_CLEANUP, T_EVENT } ticket_kind_t;

typedef struct ticket {
    agent_life_t *life;
    ticket_kind_t kind;
    char uid[];
} ticket_t;

static void on_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud);

static bool send_req(agent_t *ag, ticket_kind_t kind, const char *uid, const kr_request_t *req)
{
    size_t len = strlen(uid);
    ticket_t *t = malloc(sizeof *t + len + 1);
    if (t == NULL)
        abort();
    memcpy(t->uid, uid, len + 1);
    t->life = ag->life;
    t->kind = kind;
    ag->life->refs++;
    kr_error_t err;
    if (ag_sendq_send(ag->sendq, req, on_reply, t, WRITE_TIMEOUT_MS, &err) < 0) {
        kr_plugin_log(ag->ctx, KR_LOG_WARN, err.message, "op=%s uid=%s", req->op, uid);
        ag->life->refs--;
        free(t);
        return false;
    }
    return true;
}

/* ---- probes ---------------------------------------------------------------------- */

static const char *const probe_field[] = {"startupProbe", "livenessProbe", "readinessProbe"};

/* The app container, or sidecar (an init container with restartPolicy
 * Always), of that name: the containers that have probes; NULL for the
 * others. */
static const kr_value_t *spec_container(const kr_value_t *obj, const char *name)
{
    const kr_value_t *cs = kr_value_get(obj, "spec.containers");
    for (size_t i = 0; i < kr_value_len(cs); i++)
        if (strcmp(kr_value_map_str(kr_value_array_get(cs, i), "name") ?: "", name) == 0)
            return kr_value_array_get(cs, i);
    const kr_value_t *ics = kr_value_get(obj, "spec.initContainers");
    for (size_t i = 0; i < kr_value_len(ics); i++) {
        const kr_value_t *c = kr_value_array_get(ics, i);
        if (strcmp(kr_value_map_str(c, "name") ?: "", name) == 0)
            return strcmp(kr_value_map_str(c, "restartPolicy") ?: "", "Always") == 0 ? c : NULL;
    }
    return NULL;
}

/* "runc://<id>" -> "<id>" */
static const char *cid_of(const kr_value_t *status)
{
    const char *id = kr_value_map_str(status, "containerID");
    const char *sep = id ? strstr(id, "://") : NULL;
    return sep ? sep + 3 : NULL;
}

static ag_probe_state_t *probe_find(ag_pod_t *p, const char *cname, int kind)
{
    for (size_t i = 0; i < p->nprobes; i++)
        if (p->probes[i].kind == kind && strcmp(p->probes[i].cname, cname) == 0)
            return &p->probes[i];
    return NULL;
}

/* The state of a probe for the container instance `cid`: a new instance
 * starts over (readiness: not ready; liveness: alive; startup: unknown),
 * its first run after initialDelaySeconds. */
static ag_probe_state_t *probe_state(agent_t *ag, ag_pod_t *p, const char *cname, const char *cid,
                                     int kind, const kr_value_t *probe)
{
    ag_probe_state_t *ps = probe_find(p, cname, kind);
    if (ps == NULL) {
        p->probes = realloc(p->probes, (p->nprobes + 1) * sizeof *p->probes);
        if (p->probes == NULL)
            abort();
        ps = &p->probes[p->nprobes++];
        memset(ps, 0, sizeof *ps);
        snprintf(ps->cname, sizeof ps->cname, "%s", cname);
        ps->kind = kind;
    }
    if (strcmp(ps->cid, cid) != 0) {
        bool in_flight = ps->in_flight; /* an old run's answer is dropped by its cid */
        memset(ps->cid, 0, sizeof ps->cid);
        snprintf(ps->cid, sizeof ps->cid, "%s", cid);
        ps->result = kind == AG_PROBE_LIVENESS ? 1 : kind == AG_PROBE_READINESS ? 0 : -1;
        ps->successes = ps->failures = 0;
        ps->on_hold = false;
        ps->in_flight = in_flight;
        ps->due_ms = kr_loop_now(ag->loop) +
                     (uint64_t)kr_value_map_int(probe, "initialDelaySeconds", 0) * 1000;
    }
    return ps;
}

/* Whether a running container instance has started (no startup probe, or
 * it succeeded). */
static bool container_started(ag_pod_t *p, const kr_value_t *c, const char *cname, const char *cid)
{
    if (kr_value_map_get(c, "startupProbe") == NULL)
        return true;
    ag_probe_state_t *ps = probe_find(p, cname, AG_PROBE_STARTUP);
    return ps != NULL && cid != NULL && strcmp(ps->cid, cid) == 0 && ps->result == 1;
}

static void probe_submit(agent_t *ag, ag_pod_t *p, const char *cname, ag_probe_state_t *ps);

static void probe_statuses(agent_t *ag, ag_pod_t *p, const kr_value_t *statuses)
{
    uint64_t now = kr_loop_now(ag->loop);
    for (size_t i = 0; i < kr_value_len(statuses); i++) {
        const kr_value_t *st = kr_value_array_get(statuses, i);
        const char *cname = kr_value_map_str(st, "name") ?: "";
        const char *cid = cid_of(st);
        const kr_value_t *c = spec_container(pod_obj(p), cname);
        if (cid == NULL || c == NULL || kr_value_get(st, "state.running") == NULL)
            continue;
        for (int kind = 0; kind < 3; kind++) {
            const kr_value_t *probe = kr_value_map_get(c, probe_field[kind]);
            if (probe == NULL)
                continue;
            ag_probe_state_t *ps = probe_state(ag, p, cname, cid, kind, probe);
            if (ps->on_hold || ps->in_flight || now < ps->due_ms)
                continue;
            if (kind == AG_PROBE_STARTUP ? ps->result == 1 : !container_started(p, c, cname, cid))
                continue;
            probe_submit(ag, p, cname, ps);
        }
    }
}

static void probe_pod(agent_t *ag, ag_pod_t *p)
{
    probe_statuses(ag, p, p->init_statuses); /* sidecars */
    probe_statuses(ag, p, p->statuses);
}

static void on_probe_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    agent_t *ag = ud;
    for (size_t i = 0; i < ag->npods; i++) {
        ag_pod_t *p = ag->pods[i];
        if (p->has_probes && p->observed && !p->killed && !p->gone &&
            kr_value_get(pod_obj(p), "metadata.deletionTimestamp") == NULL)
            probe_pod(ag, p);
    }
}

static void status_write(agent_t *ag, ag_pod_t *p);
static void schedule(agent_t *ag, ag_pod_t *p);
static void pod_event(agent_t *ag, ag_pod_t *p, const char *type, const char *reason,
                      const char *field_path, const char *message);

static const char *const probe_title[] = {"Startup", "Liveness", "Readiness"};

/* A failed liveness or startup probe: the container is killed by the
 * pod's next sync, which restarts it per the restart policy. */
static void probe_kill(agent_t *ag, ag_pod_t *p, const ag_probe_state_t *ps,
                       const kr_value_t *probe)
{
    char msg[AG_NAME_MAX + 64], fp[AG_NAME_MAX + 32];
    snprintf(msg, sizeof msg, "Container %s failed %s probe, will be restarted", ps->cname,
             ps->kind == AG_PROBE_LIVENESS ? "liveness" : "startup");
    snprintf(fp, sizeof fp, "spec.containers{%s}", ps->cname);
    kr_plugin_log(ag->ctx, KR_LOG_INFO,
                  ps->kind == AG_PROBE_LIVENESS
                      ? "container failed liveness probe, will be restarted"
                      : "container failed startup probe, will be restarted",
                  "pod=%s/%s container=%s", p->ns, p->name, ps->cname);
    pod_event(ag, p, "Normal", "Killing", fp, msg);
    int64_t grace = kr_value_map_int(
        probe, "terminationGracePeriodSeconds",
        kr_value_as_int(kr_value_get(pod_obj(p), "spec.terminationGracePeriodSeconds"), 30));
    p->kill_ids = realloc(p->kill_ids, (p->nkill + 1) * sizeof *p->kill_ids);
    p->kill_grace = realloc(p->kill_grace, (p->nkill + 1) * sizeof *p->kill_grace);
    if (p->kill_ids == NULL || p->kill_grace == NULL)
        abort();
    p->kill_ids[p->nkill] = xstrdup(ps->cid);
    p->kill_grace[p->nkill++] = grace;
    schedule(ag, p);
}

static void probe_done(agent_t *ag, ag_job_t *job)
{
    ag_pod_t *p = job->pod;
    const char *cname = kr_value_map_str(job->container, "name") ?: "";
    ag_probe_state_t *ps = probe_find(p, cname, job->probe_kind);
    if (ps == NULL || strcmp(ps->cid, job->container_id) != 0) {
        if (ps != NULL)
            ps->in_flight = false;
        return;
    }
    ps->in_flight = false;
    const kr_value_t *c = spec_container(pod_obj(p), cname);
    const kr_value_t *probe = kr_value_map_get(c, probe_field[ps->kind]);
    if (probe == NULL)
        return;
    ps->due_ms =
        kr_loop_now(ag->loop) + (uint64_t)kr_value_map_int(probe, "periodSeconds", 10) * 1000;
    int before = ps->result;
    if (job->probe_ok) {
        ps->failures = 0;
        if (++ps->successes >= kr_value_map_int(probe, "successThreshold", 1))
            ps->result = 1;
    } else {
        ps->successes = 0;
        if (++ps->failures >= kr_value_map_int(probe, "failureThreshold", 3))
            ps->result = 0;
        kr_plugin_log(ag->ctx, KR_LOG_DEBUG, "probe failed",
                      "pod=%s/%s container=%s probe=%s msg=\"%s\"", p->ns, p->name, cname,
                      probe_field[ps->kind], job->probe_msg);
        char msg[512], fp[AG_NAME_MAX + 32];
        snprintf(msg, sizeof msg, "%s probe failed: %s", probe_title[ps->kind], job->probe_msg);
        snprintf(fp, sizeof fp, "spec.containers{%s}", cname);
        pod_event(ag, p, "Warning", "Unhealthy", fp, msg);
    }
    if (ps->result == before)
        return;
    if (ps->result == 0 && ps->kind != AG_PROBE_READINESS) {
        ps->on_hold = true;
        probe_kill(ag, p, ps, probe);
    }
    status_write(ag, p);
}

/* ready and started of the observed statuses, from the probes */
static void probe_overlay(kr_arena_t *a, ag_pod_t *p, kr_value_t *statuses)
{
    for (size_t i = 0; i < kr_value_len(statuses); i++) {
        kr_value_t *st = kr_value_array_get(statuses, i);
        const char *cname = kr_value_map_str(st, "name") ?: "";
        const char *cid = cid_of(st);
        const kr_value_t *c = spec_container(pod_obj(p), cname);
        if (c == NULL) /* a regular init container: ready once completed */
            continue;
        bool running = kr_value_get(st, "state.running") != NULL;
        bool started = running && container_started(p, c, cname, cid);
        bool ready = started;
        if (ready && kr_value_map_get(c, "readinessProbe") != NULL) {
            ag_probe_state_t *ps = probe_find(p, cname, AG_PROBE_READINESS);
            ready = ps != NULL && cid != NULL && strcmp(ps->cid, cid) == 0 && ps->result == 1;
        }
        kr_value_map_set(a, st, "ready", kr_value_bool(a, ready));
        kr_value_map_set(a, st, "started", kr_value_bool(a, started));
    }
}

/* ---- statuses ---------------------------------------------------------------------- */

static bool phase_terminal(const char *phase)
{
    return phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static void set_ip_list(kr_arena_t *a, kr_value_t *st, const char *key, const char *ip)
{
    kr_value_t *arr = kr_value_array(a), *e = kr_value_map(a);
    kr_value_map_set(a, e, "ip", kr_value_str(a, ip));
    kr_value_array_push(a, arr, e);
    kr_value_map_set(a, st, key, arr);
}

/* generateAPIPodStatus from the last observation, over the stored status
 * (fields the agent does not own are kept). */
static kr_value_t *status_compute(kr_arena_t *a, ag_pod_t *p)
{
    const kr_value_t *old = kr_value_map_get(pod_obj(p), "status");
    const kr_value_t *spec = kr_value_map_get(pod_obj(p), "spec");
    kr_value_t *st = kr_value_type(old) == KR_MAP ? kr_value_copy(a, old) : kr_value_map(a);
    char now[40];
    ag_time_str(ag_now_ns(), now, sizeof now);
    const char *old_phase = kr_value_map_str(old, "phase");
    kr_value_t *statuses = kr_value_copy(a, p->statuses);
    kr_value_t *init_statuses = kr_value_copy(a, p->init_statuses);
    probe_overlay(a, p, statuses);
    probe_overlay(a, p, init_statuses);
    const char *phase = ag_pod_phase(spec, init_statuses, statuses, p->killed);
    /* a terminal phase never changes (the kubelet refuses the transition) */
    if (phase_terminal(old_phase))
        phase = old_phase;
    kr_value_map_set(a, st, "phase", kr_value_str(a, phase));
    kr_value_map_set(a, st, "conditions",
                     ag_pod_conditions(a, spec, phase, init_statuses, statuses,
                                       p->sandbox_ready && !p->killed,
                                       kr_value_map_get(old, "conditions"), now));
    const char *host_ip = p->host->conf.host_ip;
    if (host_ip[0]) {
        kr_value_map_set(a, st, "hostIP", kr_value_str(a, host_ip));
        set_ip_list(a, st, "hostIPs", host_ip);
    }
    if (p->pod_ip != NULL && *p->pod_ip) {
        kr_value_map_set(a, st, "podIP", kr_value_str(a, p->pod_ip));
        set_ip_list(a, st, "podIPs", p->pod_ip);
    }
    if (kr_value_map_get(st, "startTime") == NULL)
        kr_value_map_set(a, st, "startTime", kr_value_str(a, now));
    if (kr_value_map_get(st, "qosClass") == NULL)
        kr_value_map_set(a, st, "qosClass", kr_value_str(a, ag_qos_class(spec)));
    if (kr_value_len(kr_value_map_get(spec, "initContainers")) > 0)
        kr_value_map_set(a, st, "initContainerStatuses", init_statuses);
    kr_value_map_set(a, st, "containerStatuses", statuses);
    return st;
}

static void status_write(agent_t *ag, ag_pod_t *p)
{
    if (!p->observed || p->gone)
        return;
    if (p->writing) {
        p->write_again = true;
        return;
    }
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *st = status_compute(a, p);
    if (kr_value_equal(st, kr_value_map_get(pod_obj(p), "status")) ||
        (p->written != NULL && kr_value_equal(st, p->written))) {
        kr_arena_destroy(&a);
        return;
    }
    kr_value_t *obj = kr_value_copy(a, pod_obj(p));
    kr_value_map_set(a, obj, "status", st);
    kr_request_t req = {.op = "update",
                        .res = "v1/pods",
                        .ns = p->ns,
                        .name = p->name,
                        .sub = "status",
                        .obj = obj};
    if (send_req(ag, T_STATUS, p->uid, &req)) {
        p->writing = true;
        kr_arena_destroy(&p->wa);
        p->written = copy_fit(ag, &p->wa, st);
    }
    kr_arena_destroy(&a);
}

/* The last step of a deletion: the object goes for good. */
static void final_delete(agent_t *ag, ag_pod_t *p)
{
    if (p->deleting)
        return;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *opts = kr_value_map(a), *pre = kr_value_map(a);
    kr_value_map_set(a, opts, "gracePeriodSeconds", kr_value_int(a, 0));
    kr_value_map_set(a, pre, "uid", kr_value_str(a, p->uid));
    kr_value_map_set(a, opts, "preconditions", pre);
    kr_request_t req = {
        .op = "delete", .res = "v1/pods", .ns = p->ns, .name = p->name, .opts = opts};
    p->deleting = send_req(ag, T_DELETE, p->uid, &req);
    kr_arena_destroy(&a);
}

static void on_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    (void)bus;
    ticket_t *t = ud;
    agent_life_t *life = t->life;
    life->refs--;
    agent_t *ag = life->ag;
    if (ag == NULL) {
        if (life->refs == 0)
            free(life);
        free(t);
        return;
    }
    ag_pod_t *p = pod_find(ag, t->uid);
    if (p == NULL) {
        free(t);
        return;
    }
    switch (t->kind) {
    case T_STATUS:
        p->writing = false;
        if (r->code == 200) {
            pod_set_obj(p, r->obj, OBJ_REPLY);
            p->retries = 0;
            /* the object holds what was written now */
            kr_arena_destroy(&p->wa);
            p->written = NULL;
        } else if (r->code == 409 && p->retries < WRITE_RETRIES) {
            /* someone else wrote the pod: read it again and retry */
            p->retries++;
            kr_arena_destroy(&p->wa);
            p->written = NULL;
            kr_request_t req = {.op = "get", .res = "v1/pods", .ns = p->ns, .name = p->name};
            if (send_req(ag, T_GET, p->uid, &req))
                p->writing = true;
            break;
        } else if (r->code != 404) {
            kr_arena_destroy(&p->wa);
            p->written = NULL;
            p->retries = 0;
            kr_plugin_log(ag->ctx, KR_LOG_WARN,
                          r->message ? r->message : "writing the pod status failed",
                          "pod=%s/%s code=%d", p->ns, p->name, r->code);
        }
        if (p->write_again) {
            p->write_again = false;
            status_write(ag, p);
        }
        break;
    case T_GET:
        p->writing = false;
        if (r->code == 200) {
            p->rv = 0; /* the fresh object replaces the cached one */
            pod_set_obj(p, r->obj, OBJ_REPLY);
        }
        p->write_again = false;
        status_write(ag, p);
        break;
    case T_DELETE:
        if (r->code != 200 && r->code != 404) {
            p->deleting = false;
            kr_plugin_log(ag->ctx, KR_LOG_WARN, r->message ? r->message : "deleting the pod failed",
                          "pod=%s/%s code=%d", p->ns, p->name, r->code);
        }
        break;
    case T_CLEANUP:
        break;
    case T_EVENT:
        if (r->code >= 300)
            kr_plugin_log(ag->ctx, KR_LOG_DEBUG, r->message ? r->message : "event not written",
                          "pod=%s/%s code=%d", p->ns, p->name, r->code);
        break;
    }
    free(t);
}

/* ---- events ---------------------------------------------------------------------- */

static void event_write(agent_t *ag, ag_pod_t *p, ag_evrec_t *rec, const ag_event_t *e)
{
    kr_arena_t *a = kr_arena_new(0);
    char now[40];
    ag_time_str(ag_now_ns(), now, sizeof now);
    kr_request_t req = {.res = "v1/events", .ns = p->ns};
    if (e != NULL) {
        kr_value_t *ev = kr_value_map(a), *meta = kr_value_map(a), *io = kr_value_map(a),
                   *src = kr_value_map(a);
        kr_value_map_set(a, ev, "apiVersion", kr_value_str(a, "v1"));
        kr_value_map_set(a, ev, "kind", kr_value_str(a, "Event"));
        kr_value_map_set(a, meta, "name", kr_value_str(a, rec->name));
        kr_value_map_set(a, meta, "namespace", kr_value_str(a, p->ns));
        kr_value_map_set(a, ev, "metadata", meta);
        kr_value_map_set(a, io, "kind", kr_value_str(a, "Pod"));
        kr_value_map_set(a, io, "namespace", kr_value_str(a, p->ns));
        kr_value_map_set(a, io, "name", kr_value_str(a, p->name));
        kr_value_map_set(a, io, "uid", kr_value_str(a, p->uid));
        kr_value_map_set(a, io, "apiVersion", kr_value_str(a, "v1"));
        const char *rv = kr_value_as_str(kr_value_get(pod_obj(p), "metadata.resourceVersion"));
        if (rv != NULL)
            kr_value_map_set(a, io, "resourceVersion", kr_value_str(a, rv));
        if (e->field_path != NULL)
            kr_value_map_set(a, io, "fieldPath", kr_value_str(a, e->field_path));
        kr_value_map_set(a, ev, "involvedObject", io);
        kr_value_map_set(a, ev, "reason", kr_value_str(a, e->reason));
        kr_value_map_set(a, ev, "message", kr_value_str(a, e->message));
        kr_value_map_set(a, src, "component", kr_value_str(a, "kubelet"));
        kr_value_map_set(a, src, "host", kr_value_str(a, p->host->name));
        kr_value_map_set(a, ev, "source", src);
        kr_value_map_set(a, ev, "firstTimestamp", kr_value_str(a, now));
        kr_value_map_set(a, ev, "lastTimestamp", kr_value_str(a, now));
        kr_value_map_set(a, ev, "count", kr_value_int(a, 1));
        kr_value_map_set(a, ev, "type", kr_value_str(a, e->type));
        kr_value_map_set(a, ev, "reportingComponent", kr_value_str(a, "kubelet"));
        kr_value_map_set(a, ev, "reportingInstance", kr_value_str(a, p->host->name));
        req.op = "create";
        req.obj = ev;
    } else {
        kr_value_t *patch = kr_value_map(a), *opts = kr_value_map(a);
        kr_value_map_set(a, patch, "count", kr_value_int(a, rec->count));
        kr_value_map_set(a, patch, "lastTimestamp", kr_value_str(a, now));
        kr_value_map_set(a, opts, "patchType", kr_value_str(a, "application/merge-patch+json"));
        req.op = "patch";
        req.name = rec->name;
        req.obj = patch;
        req.opts = opts;
    }
    send_req(ag, T_EVENT, p->uid, &req);
    rec->written_ms = kr_loop_now(ag->loop);
    rec->dirty = false;
    kr_arena_destroy(&a);
}

/* Records an event of the pod: a new one is created, a repeat counted. */
static void event_record(agent_t *ag, ag_pod_t *p, const ag_event_t *e)
{
    char *key = NULL;
    if (asprintf(&key, "%s\t%s\t%s\t%s", e->type, e->reason, e->field_path ? e->field_path : "",
                 e->message) < 0)
        abort();
    for (size_t i = 0; i < p->nevs; i++) {
        ag_evrec_t *rec = &p->evs[i];
        if (strcmp(rec->key, key) != 0)
            continue;
        free(key);
        rec->count++;
        rec->dirty = true;
        if (kr_loop_now(ag->loop) - rec->written_ms >= EVENT_FLUSH_MS)
            event_write(ag, p, rec, NULL);
        return;
    }
    if (p->nevs == EVENTS_PER_POD) { /* the oldest goes */
        free(p->evs[0].key);
        free(p->evs[0].name);
        memmove(p->evs, p->evs + 1, (p->nevs - 1) * sizeof *p->evs);
        p->nevs--;
    }
    p->evs = realloc(p->evs, (p->nevs + 1) * sizeof *p->evs);
    if (p->evs == NULL)
        abort();
    static uint64_t seq;
    ag_evrec_t *rec = &p->evs[p->nevs++];
    memset(rec, 0, sizeof *rec);
    rec->key = key;
    rec->count = 1;
    /* the recorder's name: <pod>.<hex nanoseconds> */
    if (asprintf(&rec->name, "%s.%" PRIx64, p->name, (uint64_t)ag_now_ns() + seq++) < 0)
        abort();
    event_write(ag, p, rec, e);
}

/* Repeats not written yet, once their interval passed. */
static void events_flush(agent_t *ag, ag_pod_t *p)
{
    uint64_t now = kr_loop_now(ag->loop);
    for (size_t i = 0; i < p->nevs; i++)
        if (p->evs[i].dirty && now - p->evs[i].written_ms >= EVENT_FLUSH_MS)
            event_write(ag, p, &p->evs[i], NULL);
}

static void pod_event(agent_t *ag, ag_pod_t *p, const char *type, const char *reason,
                      const char *field_path, const char *message)
{
    ag_event_t e = {type, reason, message, field_path};
    event_record(ag, p, &e);
}

/* ---- jobs ------------------------------------------------------------------------ */

static ag_job_t *job_new(ag_job_kind_t kind, ag_pod_t *p)
{
    ag_job_t *job = calloc(1, sizeof *job);
    if (job == NULL)
        abort();
    job->kind = kind;
    job->pod = p;
    job->a = kr_arena_new(0);
    if (p != NULL) {
        p->jobs++;
        job->node = &p->host->conf;
        job->fresh = p->fresh;
        job->obj = kr_value_copy(job->a, pod_obj(p));
        snprintf(job->sandbox_id, sizeof job->sandbox_id, "%s", p->sandbox_id);
        if (p->nbo > 0) {
            job->bo = kr_arena_alloc(job->a, p->nbo * sizeof *job->bo);
            memcpy(job->bo, p->bo, p->nbo * sizeof *job->bo);
            job->nbo = p->nbo;
        }
        job->pod_ip = p->pod_ip ? kr_arena_strdup(job->a, p->pod_ip) : NULL;
        job->net_retry = p->net_retry;
    }
    return job;
}

static int64_t grace_of(const kr_value_t *obj)
{
    const kr_value_t *g = kr_value_get(obj, "metadata.deletionGracePeriodSeconds");
    if (kr_value_type(g) == KR_INT)
        return kr_value_as_int(g, 30);
    return kr_value_as_int(kr_value_get(obj, "spec.terminationGracePeriodSeconds"), 30);
}

typedef struct svc_list {
    const kr_value_t **v;
    size_t n, cap;
    kr_arena_t *a;
} svc_list_t;

static bool svc_collect(const kr_value_t *obj, void *ud)
{
    svc_list_t *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        const kr_value_t **v = kr_arena_alloc(l->a, cap * sizeof *v);
        if (l->n > 0)
            memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = obj;
    return true;
}

/* The cache entry of (ns, links), built again when Services changed. */
static const ag_env_t *service_env_cached(agent_t *ag, const char *ns, bool links)
{
    svc_env_cache_t *c = NULL;
    for (unsigned i = 0; i < SVC_CACHE_N && c == NULL; i++)
        if (ag->svc_cache[i].gen != 0 && ag->svc_cache[i].links == links &&
            strcmp(ag->svc_cache[i].ns, ns) == 0)
            c = &ag->svc_cache[i];
    if (c != NULL && c->gen == ag->svc_gen)
        return &c->env;
    if (c == NULL) {
        c = &ag->svc_cache[ag->svc_cache_next];
        ag->svc_cache_next = (ag->svc_cache_next + 1) % SVC_CACHE_N;
        snprintf(c->ns, sizeof c->ns, "%s", ns);
        c->links = links;
    }
    if (c->a == NULL)
        c->a = kr_arena_new(0);
    kr_arena_reset(c->a);
    svc_list_t l = {.a = c->a};
    const kr_value_t *master = kr_informer_get(ag->svcs, "default", AG_MASTER_SERVICE);
    if (master != NULL)
        svc_collect(master, &l);
    if (links)
        kr_informer_each(ag->svcs, ns, svc_collect, &l);
    c->env = (ag_env_t){0};
    ag_service_env(c->a, l.v, l.n, ns, links, &c->env);
    c->gen = ag->svc_gen;
    return &c->env;
}

/* The service variables of a pod (getServiceEnvVarMap), copied into the
 * job's arena: the worker never reads the agent's state. */
static const ag_env_t *service_env(agent_t *ag, kr_arena_t *a, const kr_value_t *pod)
{
    const char *ns = kr_value_as_str(kr_value_get(pod, "metadata.namespace")) ?: "default";
    bool links = kr_value_as_bool(kr_value_get(pod, "spec.enableServiceLinks"), true);
    const ag_env_t *src = service_env_cached(ag, ns, links);
    ag_env_t *env = kr_arena_alloc(a, sizeof *env);
    *env = (ag_env_t){.n = src->n, .cap = src->n};
    env->kv = kr_arena_alloc(a, (src->n ? src->n : 1) * sizeof *env->kv);
    for (size_t i = 0; i < src->n; i++)
        env->kv[i] = (kr_rt_kv_t){.key = kr_arena_strdup(a, src->kv[i].key),
                                  .value = kr_arena_strdup(a, src->kv[i].value)};
    return env;
}

static void svc_changed(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    (void)obj;
    agent_t *ag = ud;
    ag->svc_gen++;
}

static void svc_updated(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                        void *ud)
{
    (void)old_obj;
    svc_changed(inf, new_obj, ud);
}

static void on_requeue(kr_loop_t *loop, uint64_t id, void *ud);

static void schedule(agent_t *ag, ag_pod_t *p)
{
    if (p->busy) {
        p->again = true;
        return;
    }
    if (p->killed) {
        if (p->gone)
            pod_forget(ag, p);
        else
            final_delete(ag, p);
        return;
    }
    if (p->waiting)
        return;
    if (ag->pod_jobs >= (unsigned)ag->cfg.workers * JOBS_PER_WORKER) {
        wait_push(ag, p);
        return;
    }
    bool terminating = kr_value_get(pod_obj(p), "metadata.deletionTimestamp") != NULL;
    if (!p->gone && !terminating && ag->svcs != NULL && !kr_informer_has_synced(ag->svcs)) {
        /* the kubelet's "services have not yet been read at least once,
         * cannot construct envvars": wait for the first list */
        if (p->requeue_timer == 0)
            p->requeue_timer = kr_loop_add_timer(ag->loop, SVC_WAIT_MS, 0, on_requeue, p);
        return;
    }
    ag_job_t *job = job_new(p->gone || terminating ? AG_JOB_KILL : AG_JOB_SYNC, p);
    if (job->kind == AG_JOB_SYNC && ag->svcs != NULL)
        job->services = service_env(ag, job->a, job->obj);
    if (job->kind == AG_JOB_KILL)
        job->grace_s = grace_of(pod_obj(p));
    if (job->kind == AG_JOB_SYNC && p->nkill > 0) {
        job->kill_ids = kr_arena_alloc(job->a, p->nkill * sizeof *job->kill_ids);
        job->kill_grace = kr_arena_alloc(job->a, p->nkill * sizeof *job->kill_grace);
        for (size_t i = 0; i < p->nkill; i++) {
            job->kill_ids[i] = kr_arena_strdup(job->a, p->kill_ids[i]);
            job->kill_grace[i] = p->kill_grace[i];
            free(p->kill_ids[i]);
        }
        job->nkill = p->nkill;
        p->nkill = 0;
    }
    if (p->requeue_timer != 0) {
        kr_loop_cancel_timer(ag->loop, p->requeue_timer);
        p->requeue_timer = 0;
    }
    p->busy = true;
    p->again = false;
    ag->pod_jobs++;
    ag_pool_submit(ag->pool, job);
}

static void probe_submit(agent_t *ag, ag_pod_t *p, const char *cname, ag_probe_state_t *ps)
{
    ag_job_t *job = job_new(AG_JOB_PROBE, p);
    job->container = spec_container(job->obj, cname);
    job->probe = kr_value_map_get(job->container, probe_field[ps->kind]);
    job->probe_kind = ps->kind;
    job->container_id = kr_arena_strdup(job->a, ps->cid);
    job->netns = p->netns ? kr_arena_strdup(job->a, p->netns) : NULL;
    ps->in_flight = true;
    ag_pool_submit(ag->pool, job);
}

static void on_requeue(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    ag_pod_t *p = ud;
    p->requeue_timer = 0;
    schedule(p->ag, p);
}

static void job_done(agent_t *ag, ag_job_t *job)
{
    if (job->kind == AG_JOB_CLEANUP) {
        ag->cleanup_busy = false;
        if (job->error[0])
            kr_plugin_log(ag->ctx, KR_LOG_WARN, "cleanup of gone pods failed", "error=\"%s\"",
                          job->error);
        return;
    }
    ag_pod_t *p = job->pod;
    p->jobs--;
    if (p->forgotten) {
        if (p->jobs == 0)
            pod_unforget(ag, p);
        return;
    }
    for (size_t i = 0; i < job->nevents; i++)
        event_record(ag, p, &job->events[i]);
    if (job->kind == AG_JOB_PROBE) {
        probe_done(ag, job);
        return;
    }
    p->busy = false;
    p->synced_ms = kr_loop_now(ag->loop);
    kr_plugin_log(ag->ctx, KR_LOG_DEBUG, "pod job done",
                  "pod=%s/%s kind=%s ran_ms=%llu total_ms=%llu", p->ns, p->name,
                  job->kind == AG_JOB_KILL ? "kill" : "sync", (unsigned long long)job->ran_ms,
                  (unsigned long long)(kr_time_ms() - job->submitted_ms));
    if (job->error[0])
        kr_plugin_log(ag->ctx, KR_LOG_WARN, job->error, "pod=%s/%s", p->ns, p->name);
    snprintf(p->sandbox_id, sizeof p->sandbox_id, "%s", job->sandbox_id);
    if (job->kind == AG_JOB_SYNC)
        p->net_retry = job->net_retry;
    if (job->made_sandbox || job->sandbox_id[0] != '\0')
        p->fresh = false;
    free(p->bo);
    p->bo = NULL;
    p->nbo = job->nbo;
    if (job->nbo > 0) {
        p->bo = malloc(job->nbo * sizeof *p->bo);
        if (p->bo == NULL)
            abort();
        memcpy(p->bo, job->bo, job->nbo * sizeof *p->bo);
    }
    kr_arena_reset(ag->scratch); /* sized to fit, as copy_fit */
    kr_value_copy(ag->scratch, job->init_statuses);
    kr_value_copy(ag->scratch, job->statuses);
    size_t need = kr_arena_used(ag->scratch) + (job->pod_ip ? strlen(job->pod_ip) + 1 : 0);
    kr_arena_reset(ag->scratch);
    kr_arena_t *sa = kr_arena_new(need + 64);
    p->init_statuses = kr_value_copy(sa, job->init_statuses);
    p->statuses = kr_value_copy(sa, job->statuses);
    p->pod_ip = job->pod_ip ? kr_arena_strdup(sa, job->pod_ip) : NULL;
    kr_arena_destroy(&p->sa);
    p->sa = sa;
    p->sandbox_ready = job->sandbox_ready;
    p->observed = true;
    /* the probe timer passes over pods without probes (a hollow agent's
     * tens of thousands, ten times a second) */
    p->has_probes = false;
    static const char *const lists[] = {"spec.containers", "spec.initContainers"};
    for (size_t l = 0; l < 2 && !p->has_probes; l++) {
        const kr_value_t *cs = kr_value_get(job->obj, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs) && !p->has_probes; i++)
            for (int k = 0; k < 3; k++)
                p->has_probes |=
                    kr_value_map_get(kr_value_array_get(cs, i), probe_field[k]) != NULL;
    }
    free(p->netns);
    p->netns = job->netns_out ? xstrdup(job->netns_out) : NULL;
    if (job->kind == AG_JOB_KILL && job->done) {
        p->killed = true;
        kr_plugin_log(ag->ctx, KR_LOG_INFO, "pod killed", "pod=%s/%s uid=%s", p->ns, p->name,
                      p->uid);
        if (p->gone) {
            pod_forget(ag, p);
            return;
        }
        status_write(ag, p);
        final_delete(ag, p);
        return;
    }
    status_write(ag, p);
    if (p->again) {
        schedule(ag, p);
    } else if (job->requeue_ms > 0) {
        if (p->requeue_timer != 0)
            kr_loop_cancel_timer(ag->loop, p->requeue_timer);
        p->requeue_timer = kr_loop_add_timer(ag->loop, (uint64_t)job->requeue_ms, 0, on_requeue, p);
    }
}

static void on_pool(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)fd;
    (void)events;
    agent_t *ag = ud;
    ag_job_t *j = ag_pool_take(ag->pool);
    while (j != NULL) {
        ag_job_t *next = j->next;
        if (j->kind == AG_JOB_SYNC || j->kind == AG_JOB_KILL)
            ag->pod_jobs--;
        job_done(ag, j);
        ag_job_free(j);
        j = next;
    }
    /* the pods that waited for a place, oldest first */
    while (ag->wait_head != NULL && ag->pod_jobs < (unsigned)ag->cfg.workers * JOBS_PER_WORKER) {
        ag_pod_t *p = ag->wait_head;
        wait_remove(ag, p);
        schedule(ag, p);
    }
}

static void cleanup_start(agent_t *ag)
{
    if (ag->cleanup_busy || !kr_informer_has_synced(ag->inf))
        return;
    ag_job_t *job = job_new(AG_JOB_CLEANUP, NULL);
    job->known_uids = kr_arena_alloc(job->a, (ag->npods + 1) * sizeof *job->known_uids);
    for (size_t i = 0; i < ag->npods; i++)
        job->known_uids[job->nknown++] = kr_arena_strdup(job->a, ag->pods[i]->uid);
    job->cutoff_ns = ag_now_ns();
    ag->cleanup_busy = true;
    ag_pool_submit(ag->pool, job);
}

/* A pod waiting for a back-off to end with nothing running (a crash loop,
 * an image pull back-off) is synced by its timer, not by the tick: as the
 * kubelet's pod worker, which requeues a failed sync after a back-off and
 * is woken early only by a container event, so ErrImagePull stays visible
 * until the retry. */
static bool waits_for_timer(const ag_pod_t *p)
{
    if (p->requeue_timer == 0)
        return false;
    const kr_value_t *lists[] = {p->statuses, p->init_statuses};
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; i < kr_value_len(lists[l]); i++)
            if (kr_value_get(kr_value_array_get(lists[l], i), "state.running") != NULL)
                return false;
    return true;
}

static void on_cleanup_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    cleanup_start(ud);
}

static void on_tick(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    agent_t *ag = ud;
    /* sandboxes of gone pods: once the pods are known, then every minute */
    if (ag->cleanup_timer == 0 && kr_informer_has_synced(ag->inf))
        ag->cleanup_timer = kr_loop_add_timer(ag->loop, 0, CLEANUP_EVERY_MS, on_cleanup_timer, ag);
    /* a copy: schedule may forget a pod */
    size_t n = ag->npods;
    ag_pod_t **list = malloc((n ? n : 1) * sizeof *list);
    if (list == NULL)
        abort();
    if (n > 0)
        memcpy(list, ag->pods, n * sizeof *list);
    for (size_t i = 0; i < n; i++)
        events_flush(ag, list[i]);
    /* Several nodes tick more often and sync only the pods whose last sync
     * is sync_frequency old: tens of thousands of pods are spread over the
     * period instead of queued at once. */
    uint64_t now = kr_loop_now(ag->loop);
    for (size_t i = 0; i < n; i++)
        if (!list[i]->busy && !list[i]->killed && !waits_for_timer(list[i]) &&
            (ag->nhosts == 1 || now - list[i]->synced_ms >= (uint64_t)ag->cfg.sync_ms))
            schedule(ag, list[i]);
    free(list);
}

/* ---- informer -------------------------------------------------------------------- */

/* The hosted node a pod is bound to, or NULL.  One node: the informer's
 * field selector chose the pods.  Several: "<node_name>-<i>". */
static ag_host_t *host_of(agent_t *ag, const kr_value_t *obj)
{
    if (ag->nhosts == 1)
        return &ag->hosts[0];
    const char *node = kr_value_as_str(kr_value_get(obj, "spec.nodeName"));
    size_t plen = strlen(ag->node_name);
    if (node == NULL || strncmp(node, ag->node_name, plen) != 0 || node[plen] != '-')
        return NULL;
    const char *d = node + plen + 1;
    size_t i = 0;
    if (*d == '\0' || (*d == '0' && d[1] != '\0'))
        return NULL;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || i > ag->nhosts)
            return NULL;
        i = i * 10 + (size_t)(*d - '0');
    }
    return i < ag->nhosts ? &ag->hosts[i] : NULL;
}

static void pod_seen(agent_t *ag, const kr_value_t *obj)
{
    const char *uid = kr_value_as_str(kr_value_get(obj, "metadata.uid"));
    if (uid == NULL)
        return;
    ag_pod_t *p = pod_find(ag, uid);
    if (p == NULL) {
        ag_host_t *host = host_of(ag, obj);
        if (host == NULL) /* not bound to a node of this agent */
            return;
        p = pod_new(ag, host, obj);
    } else
        pod_set_obj(p, obj, OBJ_CACHE);
    if (!p->killed || !p->gone)
        schedule(ag, p);
}

/* The informer keeps pods without their managedFields, which the agent
 * never reads (a status write through the subresource keeps the stored
 * ones): a third of a small pod's size. */
static const kr_value_t *pod_trim(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    if (kr_value_get(obj, "metadata.managedFields") == NULL)
        return NULL;
    kr_value_t *copy = kr_value_copy(a, obj);
    kr_value_map_del(kr_value_map_get(copy, "metadata"), "managedFields");
    return copy;
}

/* What the Services informer keeps: the fields of their variables. */
static const kr_value_t *svc_trim(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const meta_keys[] = {"name", "namespace", "resourceVersion"};
    static const char *const port_keys[] = {"name", "port", "protocol"};
    kr_value_t *m = kr_value_map(a), *meta = kr_value_map(a), *spec = kr_value_map(a);
    for (size_t i = 0; i < sizeof meta_keys / sizeof *meta_keys; i++) {
        kr_value_t *v = kr_value_get(obj, kr_arena_printf(a, "metadata.%s", meta_keys[i]));
        if (v != NULL)
            kr_value_map_set(a, meta, meta_keys[i], v);
    }
    kr_value_t *ip = kr_value_get(obj, "spec.clusterIP");
    if (ip != NULL)
        kr_value_map_set(a, spec, "clusterIP", ip);
    const kr_value_t *ports = kr_value_get(obj, "spec.ports");
    kr_value_t *kp = kr_value_array(a);
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        const kr_value_t *sp = kr_value_array_get(ports, i);
        kr_value_t *o = kr_value_map(a);
        for (size_t k = 0; k < sizeof port_keys / sizeof *port_keys; k++) {
            kr_value_t *v = kr_value_map_get(sp, port_keys[k]);
            if (v != NULL)
                kr_value_map_set(a, o, port_keys[k], v);
        }
        kr_value_array_push(a, kp, o);
    }
    kr_value_map_set(a, spec, "ports", kp);
    kr_value_map_set(a, m, "metadata", meta);
    kr_value_map_set(a, m, "spec", spec);
    return m;
}

static void inf_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    pod_seen(ud, obj);
}

/* Whether an update can change what runs: the spec or the deletion.  The
 * agent's own status writes come back as updates and need no sync. */
static bool update_matters(const kr_value_t *old_obj, const kr_value_t *new_obj)
{
    if (old_obj == new_obj) /* a resync */
        return true;
    return !kr_value_equal(kr_value_map_get(old_obj, "spec"), kr_value_map_get(new_obj, "spec")) ||
           !kr_value_equal(kr_value_get(old_obj, "metadata.deletionTimestamp"),
                           kr_value_get(new_obj, "metadata.deletionTimestamp")) ||
           !kr_value_equal(kr_value_get(old_obj, "metadata.deletionGracePeriodSeconds"),
                           kr_value_get(new_obj, "metadata.deletionGracePeriodSeconds"));
}

static void inf_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud);

static void inf_update(kr_informer_t *inf, const kr_value_t *old_obj, const kr_value_t *new_obj,
                       void *ud)
{
    agent_t *ag = ud;
    const char *uid = kr_value_as_str(kr_value_get(new_obj, "metadata.uid"));
    ag_pod_t *p = uid ? pod_find(ag, uid) : NULL;
    if (p != NULL && !update_matters(old_obj, new_obj)) {
        pod_set_obj(p, new_obj, OBJ_CACHE);
        return;
    }
    const char *old_uid = kr_value_as_str(kr_value_get(old_obj, "metadata.uid"));
    if (old_uid != NULL && uid != NULL && strcmp(old_uid, uid) != 0)
        inf_delete(inf, old_obj, ud); /* a pod of the same name replaced it (seen at a relist) */
    pod_seen(ag, new_obj);
}

static void inf_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud)
{
    (void)inf;
    agent_t *ag = ud;
    const char *uid = kr_value_as_str(kr_value_get(obj, "metadata.uid"));
    ag_pod_t *p = uid ? pod_find(ag, uid) : NULL;
    if (p == NULL)
        return;
    p->gone = true;
    pod_set_obj(p, obj, OBJ_GONE);
    schedule(ag, p);
}

/* ---- init / fini ------------------------------------------------------------------- */

/* A cpu or memory quantity of a {cpu, memory} map: milli cpu or bytes. */
static int64_t reserved(const kr_value_t *m, const char *key, bool milli)
{
    kr_quantity_t q;
    if (!ag_quantity(kr_value_map_get(m, key), &q))
        return 0;
    return milli ? kr_quantity_milli(&q) : kr_quantity_value(&q);
}

static int read_oom_score_adj(void)
{
    FILE *f = fopen("/proc/self/oom_score_adj", "r");
    int v = 0;
    if (f != NULL) {
        if (fscanf(f, "%d", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

/* capacity: {cpu, memory, pods, ephemeral-storage} over the machine's. */
static int capacity_override(const kr_value_t *m, int64_t *cpu, int64_t *mem, int64_t *pods,
                             int64_t *eph, kr_error_t *err)
{
    if (m == NULL)
        return 0;
    if (kr_value_type(m) != KR_MAP)
        return kr_error_set(err, KR_E_INVALID,
                            "capacity: must be a map of cpu, memory, pods, ephemeral-storage");
    for (size_t i = 0; i < kr_value_len(m); i++) {
        const char *key = kr_value_map_key(m, i);
        kr_quantity_t q;
        if (!ag_quantity(kr_value_map_val(m, i), &q))
            return kr_error_set(err, KR_E_INVALID, "capacity.%s: must be a quantity", key);
        if (strcmp(key, "cpu") == 0)
            *cpu = kr_quantity_milli(&q);
        else if (strcmp(key, "memory") == 0)
            *mem = kr_quantity_value(&q);
        else if (strcmp(key, "pods") == 0)
            *pods = kr_quantity_value(&q);
        else if (strcmp(key, "ephemeral-storage") == 0)
            *eph = kr_quantity_value(&q);
        else
            return kr_error_set(err, KR_E_INVALID,
                                "capacity: unknown resource \"%s\" (cpu, memory, pods, "
                                "ephemeral-storage)",
                                key);
    }
    return 0;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

/* node_labels: a map of strings. */
static int labels_parse(agent_t *ag, kr_error_t *err)
{
    const kr_value_t *m = ag->cfg.node_labels;
    if (m == NULL)
        return 0;
    if (kr_value_type(m) != KR_MAP)
        return kr_error_set(err, KR_E_INVALID, "node_labels: must be a map of strings");
    ag->labels = calloc(kr_value_len(m) + 1, sizeof *ag->labels);
    if (ag->labels == NULL)
        abort();
    for (size_t i = 0; i < kr_value_len(m); i++) {
        const char *v = kr_value_as_str(kr_value_map_val(m, i));
        if (v == NULL)
            return kr_error_set(err, KR_E_INVALID, "node_labels.%s: must be a string",
                                kr_value_map_key(m, i));
        ag->labels[ag->nlabels].key = xstrdup(kr_value_map_key(m, i));
        ag->labels[ag->nlabels++].value = xstrdup(v);
    }
    return 0;
}

/* Registers the node, or nodes: node i of N > 1 is <node_name>-<i>, its
 * status checks and Lease renewals offset by i/N of their periods so that
 * N nodes write steadily rather than all at once. */
static int hosts_start(agent_t *ag, const ag_node_opts_t *tmpl, kr_error_t *err)
{
    size_t n = (size_t)ag->cfg.nodes;
    ag->hosts = calloc(n, sizeof *ag->hosts);
    ag->zones = calloc((size_t)ag->cfg.zones + 1, sizeof *ag->zones);
    if (ag->hosts == NULL || ag->zones == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        ag_host_t *h = &ag->hosts[i];
        ag->nhosts++;
        h->name = n == 1 ? xstrdup(ag->node_name) : xasprintf("%s-%zu", ag->node_name, i);
        h->conf = ag->conf;
        h->conf.node_name = h->name;
        h->labels = calloc(ag->nlabels + 1, sizeof *h->labels);
        if (h->labels == NULL)
            abort();
        if (ag->cfg.zones > 0) {
            size_t z = i % (size_t)ag->cfg.zones;
            if (ag->zones[z] == NULL)
                ag->zones[z] = xasprintf("zone-%zu", z);
            h->labels[h->nlabels].key = "topology.kubernetes.io/zone";
            h->labels[h->nlabels++].value = ag->zones[z];
        }
        for (size_t k = 0; k < ag->nlabels; k++)
            h->labels[h->nlabels++] = ag->labels[k];
        ag_node_opts_t no = *tmpl;
        no.conf = &h->conf;
        no.labels = h->labels;
        no.n_labels = h->nlabels;
        no.status_offset_ms = (int64_t)((uint64_t)tmpl->status_period_ms * i / n);
        no.lease_offset_ms = (int64_t)((uint64_t)tmpl->lease_period_ms * i / n);
        h->node = ag_node_new(&no, err);
        if (h->node == NULL)
            return -KR_E_INTERNAL;
    }
    return 0;
}

static void agent_fini(void *instance);

static void *agent_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    agent_t *ag = calloc(1, sizeof *ag);
    ag->life = calloc(1, sizeof *ag->life);
    if (ag == NULL || ag->life == NULL)
        abort();
    ag->life->ag = ag;
    ag->ctx = ctx;
    ag->loop = kr_plugin_loop(ctx);
    ag->bus = kr_plugin_bus(ctx);
    ag->cfg = *(const struct agent_conf *)config;
    if (ag->cfg.workers < 1 || ag->cfg.workers > 64) {
        kr_error_set(err, KR_E_INVALID, "workers: must be between 1 and 64");
        goto fail;
    }
    if (kr_runtime_find(ag->cfg.runtime, &ag->conf.rt, &ag->conf.rt_self, err) < 0) {
        kr_error_wrap(err, "agent-node needs a runtime (list it before the agent)");
        goto fail;
    }
    if (ag->cfg.network != NULL && *ag->cfg.network && ag->cfg.nodes > 1) {
        /* one network instance serves one node's range */
        kr_error_set(err, KR_E_INVALID, "network: hollow nodes (nodes > 1) have no pod network");
        goto fail;
    }
    if (ag->cfg.network != NULL && *ag->cfg.network &&
        kr_network_find(ag->cfg.network, &ag->conf.net, &ag->conf.net_self, err) < 0) {
        kr_error_wrap(err, "network: agent-node needs the network plugin listed before it");
        goto fail;
    }
    if (ag->conf.rt->version(ag->conf.rt_self, ag->runtime_version, sizeof ag->runtime_version,
                             err) < 0) {
        kr_error_wrap(err, "runtime %s version", ag->cfg.runtime);
        goto fail;
    }
    if (ag->cfg.node_name != NULL && *ag->cfg.node_name) {
        snprintf(ag->node_name, sizeof ag->node_name, "%s", ag->cfg.node_name);
    } else {
        if (gethostname(ag->node_name, sizeof ag->node_name - 1) < 0)
            snprintf(ag->node_name, sizeof ag->node_name, "localhost");
        for (char *c = ag->node_name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    if (ag->cfg.node_ip != NULL && *ag->cfg.node_ip)
        snprintf(ag->host_ip, sizeof ag->host_ip, "%s", ag->cfg.node_ip);
    else
        ag_node_first_ipv4(ag->host_ip, sizeof ag->host_ip);

    if (ag->cfg.nodes < 1 || ag->cfg.nodes > AG_HOSTS_MAX) {
        kr_error_set(err, KR_E_INVALID, "nodes: must be between 1 and %d", AG_HOSTS_MAX);
        goto fail;
    }
    if (ag->cfg.zones < 0) {
        kr_error_set(err, KR_E_INVALID, "zones: must not be negative");
        goto fail;
    }

    /* capacity and allocatable (GetNodeAllocatableReservation) */
    int64_t cpu = ag_node_online_cpus() * 1000, mem = ag_node_mem_total();
    int64_t eph = ag_node_fs_capacity(kr_plugin_data_dir(ctx));
    int64_t pods = ag->cfg.max_pods;
    if (capacity_override(ag->cfg.capacity, &cpu, &mem, &pods, &eph, err) < 0 ||
        labels_parse(ag, err) < 0)
        goto fail;
    kr_quantity_t ev;
    int64_t evict = kr_quantity_parse(ag->cfg.eviction_memory, &ev, NULL) == 0
                        ? kr_quantity_value(&ev)
                        : 100 << 20;
    int64_t rcpu = reserved(ag->cfg.system_reserved, "cpu", true) +
                   reserved(ag->cfg.kube_reserved, "cpu", true);
    int64_t rmem = reserved(ag->cfg.system_reserved, "memory", false) +
                   reserved(ag->cfg.kube_reserved, "memory", false);
    ag_conf_t *c = &ag->conf;
    c->node_name = ag->node_name;
    c->host_ip = ag->host_ip;
    c->data_dir = kr_plugin_data_dir(ctx);
    c->bus_endpoint = kr_plugin_bus_endpoint(ctx);
    c->memory_capacity = mem;
    c->alloc_milli_cpu = cpu - rcpu > 0 ? cpu - rcpu : 0;
    c->alloc_memory = mem - rmem - evict > 0 ? mem - rmem - evict : 0;
    /* nodefs.available<10% is the kubelet's default hard threshold */
    c->alloc_ephemeral = eph - eph / 10;
    c->oom_floor = read_oom_score_adj();
    c->cluster_dns = ag->cfg.cluster_dns;
    c->cluster_domain = ag->cfg.cluster_domain;
    c->pids_limit = ag->cfg.pod_pids_limit > 0 ? ag->cfg.pod_pids_limit : 0;
    c->ctx = ctx;
    c->tokens = ag_tokens_new();

    ag->scratch = kr_arena_new(0);
    ag->sendq = ag_sendq_new(ag->bus, SENDQ_MAX);
    ag->pool = ag_pool_new(&ag->conf, (unsigned)ag->cfg.workers, err);
    if (ag->pool == NULL)
        goto fail;
    if (kr_loop_add_fd(ag->loop, ag_pool_fd(ag->pool), KR_LOOP_READ, on_pool, ag, err) < 0)
        goto fail;

    ag_node_opts_t no = {
        .ctx = ctx,
        .bus = ag->bus,
        .sendq = ag->sendq,
        .loop = ag->loop,
        .status_period_ms = ag->cfg.status_ms,
        .lease_period_ms = ag->cfg.lease_ms,
        .reserved_milli_cpu = rcpu,
        .reserved_memory = rmem,
        .eviction_memory = evict,
        .runtime_version = ag->runtime_version,
        .capacity_milli_cpu = cpu,
        .capacity_pods = pods,
        .capacity_ephemeral = eph,
        .report_period_ms = ag->cfg.report_ms,
    };
    if (hosts_start(ag, &no, err) < 0)
        goto fail;
    /* Streams serve one node's name on the bus: a hollow agent has none
     * (kubectl logs and exec reach no simulated node). */
    if (ag->nhosts == 1) {
        ag->streams = ag_streams_new(&ag->hosts[0].conf, err);
        if (ag->streams == NULL)
            goto fail;
    }

    /* One node: the pods bound to it.  Several: one informer on every
     * bound pod, dispatched by spec.nodeName (host_of), rather than N
     * watches; a pod comes in (ADDED) when it is bound. */
    char sel[AG_NAME_MAX + 32];
    snprintf(sel, sizeof sel, "spec.nodeName=%s", ag->node_name);
    kr_informer_opts_t io = {
        .res = "v1/pods",
        .field_selector = ag->nhosts == 1 ? sel : "spec.nodeName!=",
        .name = "agent pods",
        .handlers = {inf_add, inf_update, inf_delete, ag},
    };
    ag->inf = kr_informer_new(ag->loop, ag->bus, &io, err);
    if (ag->inf == NULL || kr_informer_set_transform(ag->inf, pod_trim, NULL, err) < 0 ||
        kr_informer_start(ag->inf, err) < 0)
        goto fail;
    /* The Services, for the pods' variables.  A hollow agent has none: its
     * pods run nowhere, and the cache would be one more copy of every
     * Service per agent process. */
    if (ag->nhosts == 1) {
        ag->svc_gen = 1;
        kr_informer_opts_t so = {.res = "v1/services",
                                 .name = "agent services",
                                 .handlers = {svc_changed, svc_updated, svc_changed, ag}};
        ag->svcs = kr_informer_new(ag->loop, ag->bus, &so, err);
        if (ag->svcs == NULL || kr_informer_set_transform(ag->svcs, svc_trim, NULL, err) < 0 ||
            kr_informer_start(ag->svcs, err) < 0)
            goto fail;
    }
    uint64_t tick = (uint64_t)ag->cfg.sync_ms;
    if (ag->nhosts > 1 && tick / 10 >= 100)
        tick /= 10;
    ag->tick_timer = kr_loop_add_timer(ag->loop, tick, tick, on_tick, ag);
    /* probes are due per their periodSeconds; this is their resolution */
    ag->probe_timer = kr_loop_add_timer(ag->loop, 100, 100, on_probe_timer, ag);
    kr_plugin_log(ctx, KR_LOG_INFO, "node agent started",
                  "node=%s nodes=%zu ip=%s runtime=%s version=%s workers=%" PRId64,
                  ag->hosts[0].name, ag->nhosts, ag->host_ip, ag->cfg.runtime, ag->runtime_version,
                  ag->cfg.workers);
    return ag;
fail:
    agent_fini(ag);
    return NULL;
}

static void agent_fini(void *instance)
{
    agent_t *ag = instance;
    if (ag == NULL)
        return;
    kr_informer_destroy(&ag->inf);
    kr_informer_destroy(&ag->svcs);
    for (unsigned i = 0; i < SVC_CACHE_N; i++)
        kr_arena_destroy(&ag->svc_cache[i].a);
    ag_streams_destroy(&ag->streams);
    if (ag->tick_timer)
        kr_loop_cancel_timer(ag->loop, ag->tick_timer);
    if (ag->cleanup_timer)
        kr_loop_cancel_timer(ag->loop, ag->cleanup_timer);
    if (ag->probe_timer)
        kr_loop_cancel_timer(ag->loop, ag->probe_timer);
    for (size_t i = 0; i < ag->nhosts; i++) {
        ag_node_destroy(&ag->hosts[i].node);
        free(ag->hosts[i].name);
        free(ag->hosts[i].labels);
    }
    free(ag->hosts);
    for (size_t i = 0; i < ag->nlabels; i++) {
        free((char *)ag->labels[i].key);
        free((char *)ag->labels[i].value);
    }
    free(ag->labels);
    for (int64_t i = 0; ag->zones != NULL && i < ag->cfg.zones; i++)
        free(ag->zones[i]);
    free(ag->zones);
    if (ag->pool != NULL) {
        kr_loop_remove_fd(ag->loop, ag_pool_fd(ag->pool));
        /* jobs in flight finish (a stop may take its grace period) */
        ag_pool_destroy(&ag->pool);
    }
    ag_tokens_destroy(&ag->conf.tokens);
    for (size_t i = 0; i < ag->npods; i++)
        pod_free(ag->pods[i]);
    while (ag->forgotten != NULL) {
        ag_pod_t *next = ag->forgotten->next_forgotten;
        pod_free(ag->forgotten);
        ag->forgotten = next;
    }
    free(ag->pods);
    free(ag->idx);
    agent_life_t *life = ag->life;
    life->ag = NULL;
    /* queued requests are answered now: their tickets drop their
     * references, which must not free `life` under our feet */
    life->refs++;
    ag_sendq_destroy(&ag->sendq);
    life->refs--;
    if (life->refs == 0)
        free(life);
    kr_arena_destroy(&ag->scratch);
    free(ag);
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "agent",
    .name = "node",
    .version = "0.1.0",
    .description = "the node agent: registers the Node, renews its Lease and runs the pods "
                   "bound to it through a runtime plugin",
    .config = agent_table,
    .config_size = sizeof(struct agent_conf),
    .init = agent_init,
    .fini = agent_fini,
};
