/* agent-node: the jobs the worker threads run (agent.h), after the
 * kubelet's kuberuntime manager: SyncPod (computePodActions: sandbox, init
 * containers in order, app containers per restart policy with the crash
 * back-off), KillPod (preStop hooks, stop with the grace period, sandbox
 * removal) and the cleanup of sandboxes whose pods are gone.
 *
 * A job reads only what it carries and the runtime; it reports the
 * container statuses it leaves behind in the API's ContainerStatus shape.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "stream.h"
#include "volume.h"

#define LOOKUP_TIMEOUT_MS 10000
#define KEEP_DEAD         2 /* dead instances kept per container name (logs --previous) */

typedef struct sync_ctx {
    ag_worker_t *w;
    ag_job_t *job;
    kr_arena_t *a;
    const kr_runtime_ops_t *rt;
    void *rs;
    const kr_value_t *pod, *spec;
    const char *uid, *name, *ns, *restart;
    int64_t now_ms;
    char sandbox[KR_RT_ID_MAX];
    kr_rt_sandbox_t sb;
    bool have_sb;
    kr_rt_container_t *cs;
    size_t ncs;
    char list_sb[KR_RT_ID_MAX]; /* without a ready sandbox: the newest, for statuses */
    const char *pod_dir;        /* <data_dir>/pods/<uid> */
    ag_env_ctx_t ectx;          /* for env and volumes */
    const char *net_ip;         /* the address ADD gave a sandbox made by this job */
    /* a reason a container waits with, found during this sync */
    const char **wait_name, **wait_reason, **wait_msg;
    size_t nwait, wait_cap;
} sync_ctx_t;

/* Wall-clock milliseconds: container times from the runtime are epoch
 * times, and the back-off compares them with now. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps the first failure of a job for the loop thread's log line. */
static void job_error(ag_job_t *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_error(ag_job_t *job, const char *fmt, ...)
{
    if (job->error[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->error, sizeof job->error, fmt, ap);
    va_end(ap);
}

static const char *label(const kr_rt_kv_t *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

static ag_bo_t *bo_of(ag_job_t *job, const char *name)
{
    for (size_t i = 0; i < job->nbo; i++)
        if (strcmp(job->bo[i].name, name) == 0)
            return &job->bo[i];
    ag_bo_t *nb = kr_arena_alloc(job->a, (job->nbo + 1) * sizeof *nb);
    if (job->nbo > 0)
        memcpy(nb, job->bo, job->nbo * sizeof *nb);
    memset(&nb[job->nbo], 0, sizeof nb[job->nbo]);
    snprintf(nb[job->nbo].name, sizeof nb[job->nbo].name, "%s", name);
    job->bo = nb;
    return &nb[job->nbo++];
}

static void requeue(ag_job_t *job, int64_t ms)
{
    if (ms < 1000)
        ms = 1000;
    if (job->requeue_ms == 0 || ms < job->requeue_ms)
        job->requeue_ms = ms;
}

void ag_job_event(ag_job_t *job, const char *type, const char *reason, const char *field_path,
                  const char *fmt, ...)
{
    if (job->nevents == job->events_cap) {
        size_t cap = job->events_cap ? job->events_cap * 2 : 8;
        ag_event_t *e = kr_arena_alloc(job->a, cap * sizeof *e);
        if (job->nevents > 0)
            memcpy(e, job->events, job->nevents * sizeof *e);
        job->events = e;
        job->events_cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    job->events[job->nevents++] = (ag_event_t){
        .type = type,
        .reason = reason,
        .message = kr_arena_strdup(job->a, buf),
        .field_path = field_path ? kr_arena_strdup(job->a, field_path) : NULL,
    };
}

/* "spec.containers{c}" or "spec.initContainers{c}", as the kubelet's
 * events name a container. */
static bool spec_container_is_init(const kr_value_t *spec, const char *name)
{
    const kr_value_t *ics = kr_value_map_get(spec, "initContainers");
    for (size_t i = 0; i < kr_value_len(ics); i++)
        if (strcmp(kr_value_map_str(kr_value_array_get(ics, i), "name") ?: "", name) == 0)
            return true;
    return false;
}

static const char *field_path(sync_ctx_t *s, const char *cname)
{
    return kr_arena_printf(s->a, "spec.%s{%s}",
                           spec_container_is_init(s->spec, cname) ? "initContainers" : "containers",
                           cname);
}

static const char *image_of(sync_ctx_t *s, const char *cname)
{
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        const kr_value_t *cs = kr_value_map_get(s->spec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++)
            if (strcmp(kr_value_map_str(kr_value_array_get(cs, i), "name") ?: "", cname) == 0)
                return kr_value_map_str(kr_value_array_get(cs, i), "image") ?: "";
    }
    return "";
}

/* The events the kubelet records with a waiting reason. */
static void wait_events(sync_ctx_t *s, const char *name, const char *reason, const char *msg)
{
    const char *fp = field_path(s, name), *image = image_of(s, name);
    ag_job_t *job = s->job;
    if (strcmp(reason, "CrashLoopBackOff") == 0) {
        ag_job_event(job, "Warning", "BackOff", fp,
                     "Back-off restarting failed container %s in pod %s_%s(%s)", name, s->name,
                     s->ns, s->uid);
        return;
    }
    if (strcmp(reason, "ErrImagePull") == 0)
        ag_job_event(job, "Warning", "Failed", fp, "Failed to pull image \"%s\": %s", image,
                     msg ? msg : "");
    else if (strcmp(reason, "ImagePullBackOff") == 0)
        ag_job_event(job, "Normal", "BackOff", fp, "Back-off pulling image \"%s\"", image);
    else if (strcmp(reason, "ErrImageNeverPull") == 0)
        ag_job_event(job, "Warning", "ErrImageNeverPull", fp, "%s", msg ? msg : "");
    else if (strcmp(reason, "InvalidImageName") == 0)
        ag_job_event(job, "Warning", "InspectFailed", fp, "%s", msg ? msg : "");
    bool image_reason = strstr(reason, "Image") != NULL;
    ag_job_event(job, "Warning", "Failed", fp, "Error: %s", image_reason || !msg ? reason : msg);
}

static void set_wait(sync_ctx_t *s, const char *name, const char *reason, const char *msg)
{
    wait_events(s, name, reason, msg);
    if (s->nwait == s->wait_cap) {
        size_t cap = s->wait_cap ? s->wait_cap * 2 : 8;
        const char **n1 = kr_arena_alloc(s->a, cap * sizeof *n1);
        const char **n2 = kr_arena_alloc(s->a, cap * sizeof *n2);
        const char **n3 = kr_arena_alloc(s->a, cap * sizeof *n3);
        if (s->nwait > 0) {
            memcpy(n1, s->wait_name, s->nwait * sizeof *n1);
            memcpy(n2, s->wait_reason, s->nwait * sizeof *n2);
            memcpy(n3, s->wait_msg, s->nwait * sizeof *n3);
        }
        s->wait_name = n1;
        s->wait_reason = n2;
        s->wait_msg = n3;
        s->wait_cap = cap;
    }
    s->wait_name[s->nwait] = kr_arena_strdup(s->a, name);
    s->wait_reason[s->nwait] = kr_arena_strdup(s->a, reason);
    s->wait_msg[s->nwait] = msg ? kr_arena_strdup(s->a, msg) : NULL;
    s->nwait++;
}

/* ---- runtime state -------------------------------------------------------------- */

/* The pod's sandboxes (every attempt). Caller frees with kr_rt_sandbox_list_free.
 * A fresh pod (job->fresh) has none the agent does not know: no listing,
 * which costs a copy of every sandbox of the node. */
static size_t pod_sandboxes(ag_worker_t *w, const ag_job_t *job, const char *uid,
                            kr_rt_sandbox_t **out)
{
    const ag_conf_t *c = w->conf;
    kr_rt_sandbox_t *all = NULL;
    size_t n = 0, k = 0;
    kr_error_t err;
    *out = NULL;
    if (job->fresh)
        return 0;
    if (c->rt->sandbox_list(c->rt_self, &all, &n, &err) < 0) {
        kr_plugin_log(c->ctx, KR_LOG_WARN, "listing sandboxes failed", "error=\"%s\"", err.message);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (all[i].pod_uid != NULL && strcmp(all[i].pod_uid, uid) == 0) {
            if (k != i) {
                kr_rt_sandbox_t t = all[k];
                all[k] = all[i];
                all[i] = t;
            }
            k++;
        }
    }
    /* the others are freed now: the list owns every entry's strings */
    for (size_t i = k; i < n; i++)
        kr_rt_sandbox_free(&all[i]);
    *out = all;
    return k;
}

static void containers_refresh(sync_ctx_t *s)
{
    kr_rt_container_list_free(s->cs, s->ncs);
    s->cs = NULL;
    s->ncs = 0;
    if (!s->have_sb && s->list_sb[0] == '\0')
        return;
    const char *sb = s->have_sb ? s->sandbox : s->list_sb;
    kr_error_t err;
    if (s->rt->container_list(s->rs, sb, &s->cs, &s->ncs, &err) < 0) {
        job_error(s->job, "listing containers of sandbox %s: %s", s->sandbox, err.message);
        s->cs = NULL;
        s->ncs = 0;
    }
}

/* The newest (rank 0) or the one before (rank 1) instance of a container. */
static kr_rt_container_t *instance(sync_ctx_t *s, const char *name, int rank)
{
    kr_rt_container_t *best = NULL, *second = NULL;
    for (size_t i = 0; i < s->ncs; i++) {
        kr_rt_container_t *c = &s->cs[i];
        if (c->name == NULL || strcmp(c->name, name) != 0)
            continue;
        if (best == NULL || c->attempt > best->attempt ||
            (c->attempt == best->attempt && c->created_at > best->created_at)) {
            second = best;
            best = c;
        } else if (second == NULL || c->attempt > second->attempt ||
                   (c->attempt == second->attempt && c->created_at > second->created_at)) {
            second = c;
        }
    }
    return rank == 0 ? best : second;
}

/* Removes dead instances of `name` beyond the newest KEEP_DEAD - 1 (the one
 * about to be replaced stays for `logs --previous`). */
static void prune_dead(sync_ctx_t *s, const char *name)
{
    kr_rt_container_t *keep = instance(s, name, 0);
    for (size_t i = 0; i < s->ncs; i++) {
        kr_rt_container_t *c = &s->cs[i];
        if (c == keep || c->name == NULL || strcmp(c->name, name) != 0 || c->state != KR_RT_EXITED)
            continue;
        kr_error_t err;
        if (s->rt->container_remove(s->rs, c->id, &err) < 0)
            job_error(s->job, "removing container %s: %s", c->id, err.message);
    }
    (void)KEEP_DEAD;
}

/* ---- images --------------------------------------------------------------------- */

/* EnsureImageExists with the pull policy and the image back-off: 0 with
 * *img filled, or -1 after set_wait. */
static int ensure_image(sync_ctx_t *s, const kr_value_t *c, const char *cname, kr_rt_image_t *img)
{
    const char *image = kr_value_map_str(c, "image") ?: "";
    const char *policy = kr_value_map_str(c, "imagePullPolicy") ?: "IfNotPresent";
    kr_error_t err;
    memset(img, 0, sizeof *img);
    int rc = s->rt->image_status(s->rs, image, img, &err);
    if (rc < 0 && err.reason == KR_E_INVALID) {
        set_wait(s, cname, "InvalidImageName",
                 kr_arena_printf(s->a,
                                 "Failed to apply default image tag \"%s\": couldn't parse image "
                                 "name \"%s\": invalid reference format",
                                 image, image));
        return -1;
    }
    bool present = rc == 0;
    const char *fp = field_path(s, cname);
    if (present && strcmp(policy, "Always") != 0)
        ag_job_event(s->job, "Normal", "Pulled", fp,
                     "Container image \"%s\" already present on machine", image);
    if (strcmp(policy, "Never") == 0) {
        if (present)
            return 0;
        set_wait(s, cname, "ErrImageNeverPull",
                 kr_arena_printf(s->a,
                                 "Container image \"%s\" is not present with pull policy of Never",
                                 image));
        return -1;
    }
    if (present && strcmp(policy, "IfNotPresent") == 0)
        return 0;
    if (present)
        kr_rt_image_free(img);
    memset(img, 0, sizeof *img);
    ag_bo_t *bo = bo_of(s->job, cname);
    if (bo->pull.last_update_ms != 0 &&
        ag_backoff_in_backoff_since(&bo->pull, bo->pull.last_update_ms, s->now_ms)) {
        set_wait(s, cname, "ImagePullBackOff",
                 kr_arena_printf(s->a, "Back-off pulling image \"%s\"", image));
        requeue(s->job, bo->pull.last_update_ms + bo->pull.backoff_ms - s->now_ms);
        return -1;
    }
    char id[KR_RT_ID_MAX];
    ag_job_event(s->job, "Normal", "Pulling", fp, "Pulling image \"%s\"", image);
    int64_t t0 = wall_ms();
    if (s->rt->image_pull(s->rs, image, NULL, id, &err) < 0 ||
        s->rt->image_status(s->rs, id, img, &err) < 0) {
        ag_backoff_next(&bo->pull, s->now_ms, s->now_ms);
        set_wait(s, cname, err.reason == KR_E_INVALID ? "InvalidImageName" : "ErrImagePull",
                 err.message);
        /* the next sync inside the back-off shows ImagePullBackOff */
        requeue(s->job, bo->pull.backoff_ms / 2);
        return -1;
    }
    bo->pull.last_update_ms = 0;
    char took[32];
    ag_go_duration(wall_ms() - t0, took, sizeof took);
    ag_job_event(s->job, "Normal", "Pulled", fp, "Successfully pulled image \"%s\" in %s", image,
                 took);
    return 0;
}

/* ---- environment lookups through the worker's bus ------------------------------- */

static int lookup(void *ud, const char *what, const char *ns, const char *name,
                  const kr_value_t **obj, kr_error_t *err)
{
    sync_ctx_t *s = ud;
    if (s->w->bus == NULL)
        return kr_error_set(err, KR_E_SERVICE_UNAVAILABLE, "no connection to the API");
    kr_request_t req = {
        .op = "get", .res = kr_arena_printf(s->a, "v1/%s", what), .ns = ns, .name = name};
    kr_reply_t r;
    if (kr_bus_call(s->w->bus, &req, s->a, &r, LOOKUP_TIMEOUT_MS, err) < 0)
        return -1;
    if (r.code != 200)
        return kr_error_set(
            err, r.reason, "%s",
            r.message
                ? r.message
                : kr_arena_printf(s->a, "%s \"%s\" not found",
                                  strcmp(what, "secrets") == 0 ? "secret" : "configmap", name));
    *obj = r.obj;
    return 0;
}

static int sa_token(void *ud, kr_arena_t *a, const kr_value_t *src, const char **token,
                    kr_error_t *err)
{
    sync_ctx_t *s = ud;
    return ag_tokens_get(s->w->conf->tokens, s->w->bus, a, s->pod, src, s->now_ms / 1000, token,
                         err);
}

/* ---- containers --------------------------------------------------------------------- */

static const char *const *str_array(kr_arena_t *a, const kr_value_t *arr)
{
    size_t n = kr_value_len(arr);
    if (n == 0)
        return NULL;
    const char **v = kr_arena_alloc(a, (n + 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = kr_value_as_str(kr_value_array_get(arr, i)) ?: "";
    v[n] = NULL;
    return v;
}

static int64_t sec_ctx_int(const kr_value_t *c, const kr_value_t *pod_sc, const char *key)
{
    const kr_value_t *v = kr_value_map_get(kr_value_map_get(c, "securityContext"), key);
    if (v == NULL)
        v = kr_value_map_get(pod_sc, key);
    return kr_value_type(v) == KR_INT ? kr_value_as_int(v, -1) : -1;
}

static void mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(buf, 0755);
        *p = '/';
    }
    mkdir(buf, 0755);
}

static const char *pod_log_dir(sync_ctx_t *s)
{
    return kr_arena_printf(s->a, "%s/logs/%s_%s_%s", s->w->conf->data_dir, s->ns, s->name, s->uid);
}

/* ---- files the kubelet gives every container -------------------------------------- */

/* The host file behind a container instance's terminationMessagePath. */
static const char *termination_file(sync_ctx_t *s, const char *cname, uint32_t attempt)
{
    return kr_arena_printf(s->a, "%s/containers/%s/%" PRIu32 ".termination-log", s->pod_dir, cname,
                           attempt);
}

/* At most `max` bytes of a file (its end when `tail`), NUL-terminated, in
 * the arena; NULL when unreadable. */
static const char *read_small(kr_arena_t *a, const char *path, size_t max, bool tail)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    if (tail && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > (long)max)
            fseek(f, size - (long)max, SEEK_SET);
        else
            rewind(f);
    }
    char *buf = kr_arena_alloc(a, max + 1);
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The message of a terminated instance: the runtime's, else the
 * termination message file, else (FallbackToLogsOnError) its log's end. */
static const char *term_message(sync_ctx_t *s, const kr_value_t *c, const kr_rt_container_t *inst)
{
    if (inst->message != NULL && *inst->message)
        return inst->message;
    const char *cname = kr_value_map_str(c, "name") ?: "";
    const char *file = read_small(s->a, termination_file(s, cname, inst->attempt), 4096, false);
    const char *policy = kr_value_map_str(c, "terminationMessagePolicy");
    const char *log = NULL;
    if ((file == NULL || *file == '\0') && policy != NULL &&
        strcmp(policy, "FallbackToLogsOnError") == 0 && inst->exit_code != 0 &&
        inst->log_path != NULL)
        log = read_small(s->a, inst->log_path, 64 << 10, true);
    return ag_termination_message(s->a, file, policy, inst->exit_code, log);
}

static bool host_network(const kr_value_t *spec)
{
    return kr_value_as_bool(kr_value_map_get(spec, "hostNetwork"), false);
}

/* The pod's /etc/hosts with its address, when the network plugin gave it
 * one (the runtime writes the file without, before the address is known):
 * <pod_dir>/etc/hosts, bound over the runtime's as the kubelet binds its
 * etc-hosts.  Rewritten in place when the address changed (a new
 * sandbox), so the bind mounts of running containers see it too.  NULL
 * when the runtime's file stays. */
static const char *hosts_file(sync_ctx_t *s)
{
    if (s->w->conf->net == NULL || s->job->pod_ip == NULL || host_network(s->spec))
        return NULL;
    const char *path = kr_arena_printf(s->a, "%s/etc/hosts", s->pod_dir);
    const char *text = ag_hosts_file(s->a, s->pod, s->job->pod_ip, s->w->conf->cluster_domain);
    const char *old = read_small(s->a, path, 16 << 10, false);
    if (old != NULL && strcmp(old, text) == 0)
        return path;
    mkdirs(kr_arena_printf(s->a, "%s/etc", s->pod_dir));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return NULL;
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    return ok ? path : NULL;
}

/* Mounts of every container beside its volumes: the termination message
 * file, /etc/resolv.conf and, with a pod network, /etc/hosts (unless a
 * volume takes the path). */
static kr_rt_mount_t *extra_mounts(sync_ctx_t *s, const kr_value_t *c, uint32_t attempt,
                                   const kr_rt_mount_t *mounts, size_t *n)
{
    kr_rt_mount_t *m = kr_arena_alloc(s->a, (*n + 3) * sizeof *m);
    if (*n > 0)
        memcpy(m, mounts, *n * sizeof *m);
    const char *cname = kr_value_map_str(c, "name") ?: "";
    const char *tpath = kr_value_map_str(c, "terminationMessagePath") ?: "/dev/termination-log";
    const char *tfile = termination_file(s, cname, attempt);
    mkdirs(kr_arena_printf(s->a, "%s/containers/%s", s->pod_dir, cname));
    int fd = open(tfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) {
        fchmod(fd, 0666); /* any user of the container writes it */
        close(fd);
        m[(*n)++] =
            (kr_rt_mount_t){.kind = KR_RT_MOUNT_BIND, .host_path = tfile, .container_path = tpath};
    }
    bool own_resolv = false;
    for (size_t i = 0; i < *n; i++)
        own_resolv |= strcmp(m[i].container_path, "/etc/resolv.conf") == 0;
    const char *resolv = kr_arena_printf(s->a, "%s/etc/resolv.conf", s->pod_dir);
    struct stat st;
    if (!own_resolv && stat(resolv, &st) < 0) {
        /* written once: a bind mount follows the inode, a rename would not */
        mkdirs(kr_arena_printf(s->a, "%s/etc", s->pod_dir));
        const char *host = read_small(s->a, "/etc/resolv.conf", 16 << 10, false);
        const char *text =
            ag_resolv_conf(s->a, s->pod, host, s->w->conf->cluster_dns, s->w->conf->cluster_domain);
        FILE *f = fopen(resolv, "w");
        if (f != NULL) {
            fputs(text, f);
            fclose(f);
        }
    }
    if (!own_resolv && stat(resolv, &st) == 0)
        m[(*n)++] = (kr_rt_mount_t){
            .kind = KR_RT_MOUNT_BIND, .host_path = resolv, .container_path = "/etc/resolv.conf"};
    const char *hosts = hosts_file(s);
    bool own_hosts = false;
    for (size_t i = 0; i < *n; i++)
        own_hosts |= strcmp(m[i].container_path, "/etc/hosts") == 0;
    if (hosts != NULL && !own_hosts)
        m[(*n)++] = (kr_rt_mount_t){
            .kind = KR_RT_MOUNT_BIND, .host_path = hosts, .container_path = "/etc/hosts"};
    return m;
}

/* Creates and starts one container (startContainer).  Returns 0 when it
 * runs, -1 after set_wait. */
static int start_container(sync_ctx_t *s, const kr_value_t *c, bool init, uint32_t attempt)
{
    const ag_conf_t *conf = s->w->conf;
    const char *cname = kr_value_map_str(c, "name") ?: "";
    kr_rt_image_t img;
    if (ensure_image(s, c, cname, &img) < 0)
        return -1;
    kr_error_t err;
    ag_env_t env = {0};
    /* the image's environment first, the pod's over it, as the runtime
     * merges them; $(VAR) sees only the pod's */
    ag_env_t pod_env = {0};
    if (ag_env_build(s->a, c, &s->ectx, &pod_env, &err) < 0) {
        set_wait(s, cname, "CreateContainerConfigError", err.message);
        kr_rt_image_free(&img);
        requeue(s->job, 10000);
        return -1;
    }
    for (size_t i = 0; img.env != NULL && img.env[i] != NULL; i++) {
        const char *eq = strchr(img.env[i], '=');
        if (eq == NULL)
            continue;
        ag_env_set(s->a, &env, kr_arena_strndup(s->a, img.env[i], (size_t)(eq - img.env[i])),
                   eq + 1);
    }
    for (size_t i = 0; i < pod_env.n; i++)
        ag_env_set(s->a, &env, pod_env.kv[i].key, pod_env.kv[i].value);
    const char **argv;
    size_t argc;
    if (ag_container_argv(s->a, c, img.entrypoint, img.cmd, &pod_env, &argv, &argc, &err) < 0) {
        set_wait(s, cname, "CreateContainerError", err.message);
        kr_rt_image_free(&img);
        return -1;
    }
    kr_rt_mount_t *mounts = NULL;
    size_t nmounts = 0;
    if (ag_volume_mounts(s->a, s->pod, c, s->pod_dir, &mounts, &nmounts, &err) < 0) {
        set_wait(s, cname, "CreateContainerConfigError", err.message);
        kr_rt_image_free(&img);
        return -1;
    }
    mounts = extra_mounts(s, c, attempt, mounts, &nmounts);
    const char *qos = ag_qos_class(s->spec);
    const kr_value_t *pod_sc = kr_value_map_get(s->spec, "securityContext");
    const kr_value_t *sc = kr_value_map_get(c, "securityContext");
    kr_rt_kv_t labels[6] = {
        {AG_LABEL_POD_NAME, s->name},
        {AG_LABEL_POD_NAMESPACE, s->ns},
        {AG_LABEL_POD_UID, s->uid},
        {AG_LABEL_CONTAINER_NAME, cname},
        {AG_LABEL_RESTART_COUNT, kr_arena_printf(s->a, "%" PRIu32, attempt)},
        {AG_LABEL_CONTAINER_KIND, init ? "init" : "app"},
    };
    const char *dir = kr_arena_printf(s->a, "%s/%s", pod_log_dir(s), cname);
    mkdirs(dir);
    kr_rt_container_config_t cfg = {
        .name = cname,
        .attempt = attempt,
        .image = img.id ? img.id : kr_value_map_str(c, "image"),
        .argv = argv,
        .argc = argc,
        .working_dir = kr_value_map_str(c, "workingDir"),
        .env = env.kv,
        .n_env = env.n,
        .mounts = mounts,
        .n_mounts = nmounts,
        .labels = labels,
        .n_labels = 6,
        .log_path = kr_arena_printf(s->a, "%s/%" PRIu32 ".log", dir, attempt),
        .run_as_user = sec_ctx_int(c, pod_sc, "runAsUser"),
        .run_as_group = sec_ctx_int(c, pod_sc, "runAsGroup"),
        .read_only_rootfs = kr_value_as_bool(kr_value_map_get(sc, "readOnlyRootFilesystem"), false),
        .privileged = kr_value_as_bool(kr_value_map_get(sc, "privileged"), false),
        .cap_add = str_array(s->a, kr_value_get(sc, "capabilities.add")),
        .cap_drop = str_array(s->a, kr_value_get(sc, "capabilities.drop")),
    };
    ag_container_resources(c, qos, conf->memory_capacity, conf->oom_floor, &cfg.resources);
    cfg.resources.pids_limit = conf->pids_limit;
    ag_stream_container_io(c, &cfg); /* stdin, stdinOnce, tty: for attach */
    char id[KR_RT_ID_MAX];
    int rc = s->rt->container_create(s->rs, s->sandbox, &cfg, id, &err);
    kr_rt_image_free(&img);
    if (rc < 0) {
        set_wait(s, cname, "CreateContainerError", err.message);
        requeue(s->job, 5000);
        return -1;
    }
    const char *fp = field_path(s, cname);
    ag_job_event(s->job, "Normal", "Created", fp, "Created container %s", cname);
    if (s->rt->container_start(s->rs, id, &err) < 0) {
        set_wait(s, cname, "RunContainerError", err.message);
        requeue(s->job, 5000);
        return -1;
    }
    ag_job_event(s->job, "Normal", "Started", fp, "Started container %s", cname);
    const char *const *hook = str_array(s->a, kr_value_get(c, "lifecycle.postStart.exec.command"));
    if (hook != NULL) {
        /* executeLifecycleHook: a failed postStart kills the container */
        int64_t grace = kr_value_map_int(s->spec, "terminationGracePeriodSeconds", 30);
        char out[512] = "";
        int code = -1;
        int hrc = s->rt->exec_sync(s->rs, id, hook, grace * 1000, out, sizeof out, &code, &err);
        if (hrc < 0 || code != 0) {
            const char *msg = hrc < 0 ? kr_arena_printf(s->a, "%s", err.message)
                                      : kr_arena_printf(s->a, "command '%s' exited with %d: %s",
                                                        hook[0], code, out);
            ag_job_event(s->job, "Warning", "FailedPostStartHook", fp, "%s", msg);
            if (s->rt->container_stop(s->rs, id, grace, &err) < 0)
                job_error(s->job, "stopping container %s: %s", id, err.message);
            set_wait(s, cname, "PostStartHookError", msg);
            return -1;
        }
    }
    return 0;
}

/* doBackOff: true (after set_wait) when the container must wait. */
static bool in_backoff(sync_ctx_t *s, const char *cname, const kr_rt_container_t *last)
{
    if (last == NULL || last->state != KR_RT_EXITED)
        return false;
    ag_bo_t *bo = bo_of(s->job, cname);
    int64_t ts = last->finished_at / 1000000;
    if (ag_backoff_in_backoff_since(&bo->crash, ts, s->now_ms)) {
        char d[32];
        ag_go_duration(bo->crash.backoff_ms, d, sizeof d);
        set_wait(s, cname, "CrashLoopBackOff",
                 kr_arena_printf(s->a, "back-off %s restarting failed container=%s pod=%s_%s(%s)",
                                 d, cname, s->name, s->ns, s->uid));
        requeue(s->job, ts + bo->crash.backoff_ms - s->now_ms);
        return true;
    }
    ag_backoff_next(&bo->crash, ts, s->now_ms);
    return false;
}

/* Starts, restarts or leaves one container; returns its (new) instance
 * state: running, exited or "waiting" (-1). */
static void ensure_container(sync_ctx_t *s, const kr_value_t *c, bool init, bool *busy)
{
    const char *cname = kr_value_map_str(c, "name") ?: "";
    kr_rt_container_t *last = instance(s, cname, 0);
    kr_error_t err;
    *busy = false;
    if (last != NULL && last->state == KR_RT_RUNNING) {
        *busy = true;
        return;
    }
    if (last != NULL && last->state == KR_RT_CREATED) {
        /* created by an agent that died before starting it */
        if (s->rt->container_start(s->rs, last->id, &err) == 0) {
            *busy = true;
            return;
        }
        set_wait(s, cname, "RunContainerError", err.message);
        return;
    }
    /* a sidecar (an init container with restartPolicy Always) always
     * restarts, whatever the pod's policy */
    bool sidecar = init && strcmp(kr_value_map_str(c, "restartPolicy") ?: "", "Always") == 0;
    const char *restart = sidecar ? "Always" : s->restart;
    if (last != NULL) { /* exited: ShouldContainerBeRestarted */
        if (strcmp(restart, "Never") == 0)
            return;
        if (strcmp(restart, "OnFailure") == 0 && last->exit_code == 0)
            return;
        if (init && !sidecar && last->exit_code == 0)
            return;
        if (in_backoff(s, cname, last))
            return;
        prune_dead(s, cname);
    }
    uint32_t attempt = last != NULL ? last->attempt + 1 : 0;
    if (start_container(s, c, init, attempt) == 0)
        *busy = true;
}

/* ---- statuses ------------------------------------------------------------------ */

static kr_value_t *time_value(kr_arena_t *a, int64_t ns)
{
    char t[40];
    ag_time_str(ns, t, sizeof t);
    return kr_value_str(a, t);
}

/* "runc://<id>": the scheme is the runtime's name, as the kubelet's
 * "containerd://". */
static const char *container_id(kr_arena_t *a, const char *runtime, const char *id)
{
    return kr_arena_printf(a, "%s://%s", runtime ? runtime : "runc", id);
}

static kr_value_t *terminated_value(kr_arena_t *a, const char *runtime, const kr_rt_container_t *c)
{
    kr_value_t *t = kr_value_map(a);
    kr_value_map_set(a, t, "exitCode", kr_value_int(a, c->exit_code));
    kr_value_map_set(
        a, t, "reason",
        kr_value_str(a, c->reason ? c->reason : (c->exit_code == 0 ? "Completed" : "Error")));
    if (c->message != NULL && *c->message)
        kr_value_map_set(a, t, "message", kr_value_str(a, c->message));
    kr_value_map_set(a, t, "startedAt",
                     c->started_at ? time_value(a, c->started_at) : kr_value_null(a));
    kr_value_map_set(a, t, "finishedAt",
                     c->finished_at ? time_value(a, c->finished_at) : kr_value_null(a));
    kr_value_map_set(a, t, "containerID", kr_value_str(a, container_id(a, runtime, c->id)));
    return t;
}

/* convertContainerStatus */
static kr_value_t *state_value(kr_arena_t *a, const char *runtime, const kr_rt_container_t *c)
{
    kr_value_t *st = kr_value_map(a);
    if (c->state == KR_RT_RUNNING) {
        kr_value_t *r = kr_value_map(a);
        kr_value_map_set(a, r, "startedAt", time_value(a, c->started_at));
        kr_value_map_set(a, st, "running", r);
    } else if (c->state == KR_RT_EXITED) {
        kr_value_map_set(a, st, "terminated", terminated_value(a, runtime, c));
    } else {
        kr_value_map_set(a, st, "waiting", kr_value_map(a));
    }
    return st;
}

static kr_value_t *waiting_value(kr_arena_t *a, const char *reason, const char *msg)
{
    kr_value_t *st = kr_value_map(a), *w = kr_value_map(a);
    kr_value_map_set(a, w, "reason", kr_value_str(a, reason));
    if (msg != NULL)
        kr_value_map_set(a, w, "message", kr_value_str(a, msg));
    kr_value_map_set(a, st, "waiting", w);
    return st;
}

/* convertToAPIContainerStatuses for one list of the spec. */
static kr_value_t *statuses_of(sync_ctx_t *s, const kr_value_t *list, bool init, bool has_init)
{
    kr_arena_t *a = s->a;
    kr_value_t *out = kr_value_array(a);
    const char *runtime = s->w->conf->rt->runtime_name;
    for (size_t i = 0; i < kr_value_len(list); i++) {
        const kr_value_t *c = kr_value_array_get(list, i);
        const char *cname = kr_value_map_str(c, "name") ?: "";
        kr_rt_container_t *last = instance(s, cname, 0), *prev = instance(s, cname, 1);
        kr_value_t *st = kr_value_map(a);
        kr_value_map_set(a, st, "name", kr_value_str(a, cname));
        kr_value_t *state, *last_state = kr_value_map(a);
        if (last != NULL) {
            state = state_value(a, runtime, last);
            if (last->state == KR_RT_EXITED && !kr_value_get(state, "terminated.message")) {
                const char *msg = term_message(s, c, last);
                if (msg != NULL)
                    kr_value_set(a, state, "terminated.message", kr_value_str(a, msg), NULL);
            }
            if (prev != NULL) {
                last_state = state_value(a, runtime, prev);
                const char *msg = prev->state == KR_RT_EXITED ? term_message(s, c, prev) : NULL;
                if (msg != NULL && !kr_value_get(last_state, "terminated.message"))
                    kr_value_set(a, last_state, "terminated.message", kr_value_str(a, msg), NULL);
            }
        } else {
            state = waiting_value(a, has_init ? "PodInitializing" : "ContainerCreating", NULL);
        }
        for (size_t k = 0; k < s->nwait; k++) {
            if (strcmp(s->wait_name[k], cname) != 0)
                continue;
            if (kr_value_map_get(state, "terminated") != NULL)
                last_state = state;
            state = waiting_value(a, s->wait_reason[k], s->wait_msg[k]);
        }
        bool running = kr_value_map_get(state, "running") != NULL;
        /* an init container is ready once it completed (UpdatePodStatus);
         * an app container while it runs (the probes refine it) */
        const kr_value_t *term = kr_value_map_get(state, "terminated");
        bool sidecar = init && strcmp(kr_value_map_str(c, "restartPolicy") ?: "", "Always") == 0;
        bool ready = init && !sidecar ? term != NULL && kr_value_map_int(term, "exitCode", -1) == 0
                                      : running;
        kr_value_map_set(a, st, "state", state);
        kr_value_map_set(a, st, "lastState", last_state);
        kr_value_map_set(a, st, "ready", kr_value_bool(a, ready));
        kr_value_map_set(a, st, "restartCount", kr_value_int(a, last ? last->attempt : 0));
        kr_value_map_set(a, st, "image", kr_value_str(a, kr_value_map_str(c, "image") ?: ""));
        kr_value_map_set(a, st, "imageID",
                         kr_value_str(a, last && last->image_ref ? last->image_ref : ""));
        if (last != NULL)
            kr_value_map_set(a, st, "containerID",
                             kr_value_str(a, container_id(a, runtime, last->id)));
        kr_value_map_set(a, st, "started", kr_value_bool(a, running));
        kr_value_array_push(a, out, st);
    }
    return out;
}

/* ---- the pod network (the kubelet's CNI calls, through kraal/network.h) -------- */

/* Sandbox creation with its ADD holds it shared, GC's listing and call
 * exclusively: a sandbox made after GC listed the live ones would else
 * lose the address its ADD just took. */
static pthread_rwlock_t net_gc_lock = PTHREAD_RWLOCK_INITIALIZER;

static int net_add(sync_ctx_t *s, const kr_rt_sandbox_t *sb, kr_net_attachment_t *at,
                   kr_error_t *err)
{
    const ag_conf_t *c = s->w->conf;
    kr_net_pod_t np = {.sandbox_id = sb->id,
                       .pod_name = s->name,
                       .pod_namespace = s->ns,
                       .pod_uid = s->uid,
                       .netns_path = sb->netns_path};
    memset(at, 0, sizeof *at);
    return c->net->pod_add(c->net_self, &np, at, err);
}

/* DEL before the sandbox goes (containerd's StopPodSandbox tears the
 * network down first); a sandbox without network makes it a no-op.  Only
 * the id is known here: DEL must not need more. */
static void net_del(ag_worker_t *w, const char *id, ag_job_t *job)
{
    const ag_conf_t *c = w->conf;
    if (c->net == NULL)
        return;
    kr_net_pod_t np = {.sandbox_id = id};
    kr_error_t err;
    if (c->net->pod_del(c->net_self, &np, &err) < 0)
        job_error(job, "releasing the network of sandbox %s: %s", id, err.message);
}

/* GC with every sandbox the runtime lists (what an agent killed between a
 * sandbox's removal and its DEL leaves behind). */
static void net_gc(ag_worker_t *w, ag_job_t *job)
{
    const ag_conf_t *c = w->conf;
    kr_rt_sandbox_t *all = NULL;
    size_t n = 0;
    kr_error_t err;
    pthread_rwlock_wrlock(&net_gc_lock);
    if (c->rt->sandbox_list(c->rt_self, &all, &n, &err) < 0) {
        pthread_rwlock_unlock(&net_gc_lock);
        job_error(job, "listing sandboxes: %s", err.message);
        return;
    }
    const char **ids = kr_arena_alloc(job->a, (n + 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = all[i].id;
    if (c->net->gc(c->net_self, ids, n, &err) < 0)
        job_error(job, "network gc: %s", err.message);
    pthread_rwlock_unlock(&net_gc_lock);
    kr_rt_sandbox_list_free(all, n);
}

/* ---- jobs ------------------------------------------------------------------------- */

static void sandbox_teardown(ag_worker_t *w, const char *id, ag_job_t *job)
{
    const ag_conf_t *c = w->conf;
    kr_error_t err;
    net_del(w, id, job);
    if (c->rt->sandbox_stop(c->rt_self, id, &err) < 0 ||
        c->rt->sandbox_remove(c->rt_self, id, &err) < 0)
        job_error(job, "removing sandbox %s: %s", id, err.message);
}

static bool sandbox_ready_find(sync_ctx_t *s)
{
    kr_error_t err;
    if (s->job->sandbox_id[0] != '\0') {
        kr_rt_sandbox_t sb;
        memset(&sb, 0, sizeof sb);
        if (s->rt->sandbox_status(s->rs, s->job->sandbox_id, &sb, &err) == 0) {
            if (sb.state == KR_RT_SANDBOX_READY) {
                s->sb = sb;
                return true;
            }
            kr_rt_sandbox_free(&sb);
        }
    }
    kr_rt_sandbox_t *list;
    size_t n = pod_sandboxes(s->w, s->job, s->uid, &list);
    ssize_t best = -1;
    for (size_t i = 0; i < n; i++)
        if (list[i].state == KR_RT_SANDBOX_READY &&
            (best < 0 || list[i].attempt > list[(size_t)best].attempt))
            best = (ssize_t)i;
    bool found = false;
    if (best >= 0) {
        s->sb = list[best];
        memset(&list[best], 0, sizeof list[best]);
        found = true;
    }
    kr_rt_sandbox_list_free(list, n);
    return found;
}

/* Creates the pod's sandbox after removing the ones that are not ready. */
static bool sandbox_create(sync_ctx_t *s)
{
    kr_rt_sandbox_t *list;
    size_t n = pod_sandboxes(s->w, s->job, s->uid, &list);
    uint32_t attempt = 0;
    for (size_t i = 0; i < n; i++) {
        if (list[i].attempt + 1 > attempt)
            attempt = list[i].attempt + 1;
        sandbox_teardown(s->w, list[i].id, s->job);
    }
    kr_rt_sandbox_list_free(list, n);
    const char *log_dir = pod_log_dir(s);
    mkdirs(log_dir);
    kr_rt_kv_t labels[3] = {
        {AG_LABEL_POD_NAME, s->name}, {AG_LABEL_POD_NAMESPACE, s->ns}, {AG_LABEL_POD_UID, s->uid}};
    const char *hostname = kr_value_map_str(s->spec, "hostname");
    kr_rt_sandbox_config_t cfg = {
        .pod_name = s->name,
        .pod_namespace = s->ns,
        .pod_uid = s->uid,
        .attempt = attempt,
        .hostname = hostname && *hostname ? hostname : s->name,
        .host_network = kr_value_as_bool(kr_value_map_get(s->spec, "hostNetwork"), false),
        .host_ipc = kr_value_as_bool(kr_value_map_get(s->spec, "hostIPC"), false),
        .host_pid = kr_value_as_bool(kr_value_map_get(s->spec, "hostPID"), false),
        .labels = labels,
        .n_labels = 3,
        .log_dir = log_dir,
    };
    char id[KR_RT_ID_MAX];
    kr_error_t err;
    bool wired = s->w->conf->net != NULL && !cfg.host_network;
    if (wired)
        pthread_rwlock_rdlock(&net_gc_lock);
    if (s->rt->sandbox_run(s->rs, &cfg, id, &err) < 0) {
        if (wired)
            pthread_rwlock_unlock(&net_gc_lock);
        job_error(s->job, "creating the sandbox of %s: %s", s->name, err.message);
        requeue(s->job, 5000);
        return false;
    }
    s->job->made_sandbox = true;
    memset(&s->sb, 0, sizeof s->sb);
    if (s->rt->sandbox_status(s->rs, id, &s->sb, &err) < 0) {
        if (wired)
            pthread_rwlock_unlock(&net_gc_lock);
        job_error(s->job, "sandbox %s: %s", id, err.message);
        return false;
    }
    if (!wired)
        return true;
    kr_net_attachment_t at;
    int rc = net_add(s, &s->sb, &at, &err);
    pthread_rwlock_unlock(&net_gc_lock);
    if (rc == 0) {
        s->net_ip = kr_arena_strdup(s->a, at.ip);
        return true;
    }
    /* the kubelet's createPodSandbox failure: the sandbox goes, the pod
     * worker tries again later */
    ag_job_event(s->job, "Warning", "FailedCreatePodSandBox", NULL,
                 "Failed to create pod sandbox: failed to setup network for sandbox \"%s\": "
                 "plugin type=\"%s\" failed (add): %s",
                 id, s->w->conf->net->network_name, err.message);
    job_error(s->job, "setting up the network of sandbox %s: %s", id, err.message);
    sandbox_teardown(s->w, id, s->job);
    kr_rt_sandbox_free(&s->sb);
    memset(&s->sb, 0, sizeof s->sb);
    requeue(s->job, 5000);
    return false;
}

/* Whether every app container is done for good (Never / OnFailure with
 * success), so a lost sandbox is not created again. */
static bool pod_finished(const kr_value_t *status, const char *restart)
{
    const char *phase = kr_value_map_str(status, "phase") ?: "";
    (void)restart;
    return strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
}

static void stop_all(ag_worker_t *w, ag_job_t *job, kr_arena_t *a, const char *sandbox,
                     const kr_value_t *spec, int64_t grace_s);

/* Containers that failed their liveness or startup probe are killed
 * first; the sync then restarts them per the restart policy. */
static void kill_failed(sync_ctx_t *s)
{
    ag_job_t *job = s->job;
    for (size_t i = 0; i < job->nkill; i++) {
        kr_error_t err;
        int64_t grace = job->kill_grace[i];
        kr_plugin_log(s->w->conf->ctx, KR_LOG_INFO, "killing a container that failed its probe",
                      "pod=%s/%s container=%s", s->ns, s->name, job->kill_ids[i]);
        if (s->rt->container_stop(s->rs, job->kill_ids[i], grace, &err) < 0)
            job_error(job, "stopping container %s: %s", job->kill_ids[i], err.message);
    }
}

static void sync_pod(sync_ctx_t *s)
{
    ag_job_t *job = s->job;
    const kr_value_t *status = kr_value_map_get(s->pod, "status");
    char known_sb[KR_RT_ID_MAX]; /* the sandbox the loop knew, with job->pod_ip */
    snprintf(known_sb, sizeof known_sb, "%s", job->sandbox_id);
    kill_failed(s);
    s->have_sb = sandbox_ready_find(s);
    if (!s->have_sb) {
        /* the newest sandbox that is gone or stopped still tells what ran */
        kr_rt_sandbox_t *list;
        size_t n = pod_sandboxes(s->w, s->job, s->uid, &list);
        ssize_t newest = -1;
        for (size_t i = 0; i < n; i++)
            if (newest < 0 || list[i].attempt > list[(size_t)newest].attempt)
                newest = (ssize_t)i;
        if (newest >= 0)
            snprintf(s->list_sb, sizeof s->list_sb, "%s", list[newest].id);
        kr_rt_sandbox_list_free(list, n);
        containers_refresh(s);
        /* computePodActions: under restartPolicy Never a pod whose containers
         * ran gets no new sandbox (they would run again) */
        bool ran = strcmp(s->restart, "Never") == 0 && s->ncs > 0;
        char why[512] = "";
        const ag_conf_t *c = s->w->conf;
        if (pod_finished(status, s->restart) || ran) {
            /* nothing to run again */
        } else if (c->net != NULL && !host_network(s->spec) &&
                   !c->net->ready(c->net_self, why, sizeof why)) {
            /* the kubelet's syncPod: no sandbox while the network is not ready */
            ag_job_event(job, "Warning", "NetworkNotReady", NULL,
                         "network is not ready: container runtime network not ready: "
                         "NetworkReady=false reason:NetworkPluginNotReady message:%s",
                         why);
            requeue(job, 2000);
        } else {
            s->have_sb = sandbox_create(s);
        }
    }
    if (s->have_sb) {
        snprintf(s->sandbox, sizeof s->sandbox, "%s", s->sb.id);
        snprintf(job->sandbox_id, sizeof job->sandbox_id, "%s", s->sb.id);
        job->sandbox_ready = s->sb.state == KR_RT_SANDBOX_READY;
        if (s->sb.netns_path != NULL)
            job->netns_out = kr_arena_strdup(s->a, s->sb.netns_path);
        if (host_network(s->spec)) {
            job->pod_ip = s->w->conf->host_ip;
        } else if (s->w->conf->net != NULL) {
            if (s->net_ip != NULL) {
                job->pod_ip = s->net_ip;
            } else if (job->pod_ip == NULL || job->net_retry || strcmp(known_sb, s->sb.id) != 0) {
                /* a sandbox this agent did not wire (re-adopted after a
                 * restart): ADD again, idempotent, repairs and tells the
                 * address */
                kr_net_attachment_t at;
                kr_error_t err;
                job->pod_ip = NULL;
                job->net_retry = false;
                if (net_add(s, &s->sb, &at, &err) == 0) {
                    job->pod_ip = kr_arena_strdup(s->a, at.ip);
                } else {
                    job->net_retry = true;
                    /* the same sandbox keeps its address: the status
                     * keeps the podIP it reports until ADD answers */
                    job->pod_ip = kr_value_map_str(kr_value_map_get(s->pod, "status"), "podIP");
                    job_error(job, "the network of sandbox %s: %s", s->sb.id, err.message);
                    requeue(job, 5000);
                }
            }
        } else if (s->sb.ip != NULL) {
            job->pod_ip = kr_arena_strdup(s->a, s->sb.ip);
        }
    } else {
        job->sandbox_id[0] = '\0';
    }
    s->ectx.pod_ip = job->pod_ip;
    containers_refresh(s);
    bool terminating = kr_value_get(s->pod, "metadata.deletionTimestamp") != NULL;
    if (s->have_sb && !terminating && kr_value_len(kr_value_get(s->pod, "spec.volumes")) > 0) {
        /* every sync: a changed ConfigMap or Secret reaches its files */
        kr_error_t err;
        if (ag_volumes_setup(s->a, s->pod, s->pod_dir, &s->ectx, &err) < 0) {
            job_error(job, "%s", err.message);
            requeue(job, 2000);
            terminating = true; /* no container starts without its volumes */
        }
    }
    if (s->have_sb && !terminating) {
        /* init containers in order: each must have exited 0 before the next */
        const kr_value_t *ics = kr_value_map_get(s->spec, "initContainers");
        bool init_done = true, failed = false;
        for (size_t i = 0; i < kr_value_len(ics) && init_done; i++) {
            const kr_value_t *c = kr_value_array_get(ics, i);
            const char *cname = kr_value_map_str(c, "name") ?: "";
            kr_rt_container_t *last = instance(s, cname, 0);
            if (strcmp(kr_value_map_str(c, "restartPolicy") ?: "", "Always") == 0) {
                /* a sidecar: the next one starts once it runs, and it keeps
                 * running beside the app containers */
                bool busy;
                ensure_container(s, c, true, &busy);
                if (!busy)
                    init_done = false;
                continue;
            }
            if (last != NULL && last->state == KR_RT_EXITED && last->exit_code == 0)
                continue;
            init_done = false;
            if (last != NULL && last->state == KR_RT_EXITED && strcmp(s->restart, "Never") == 0) {
                failed = true;
                break;
            }
            bool busy;
            ensure_container(s, c, true, &busy);
        }
        if (init_done && !failed) {
            const kr_value_t *cs = kr_value_map_get(s->spec, "containers");
            for (size_t i = 0; i < kr_value_len(cs); i++) {
                bool busy;
                ensure_container(s, kr_value_array_get(cs, i), false, &busy);
            }
        }
        containers_refresh(s);
    }
    bool has_init = kr_value_len(kr_value_map_get(s->spec, "initContainers")) > 0;
    job->init_statuses =
        statuses_of(s, kr_value_map_get(s->spec, "initContainers"), true, has_init);
    job->statuses = statuses_of(s, kr_value_map_get(s->spec, "containers"), false, has_init);
    /* a finished pod keeps its containers (statuses, logs) but not its
     * sandbox's namespaces, as syncTerminatedPod stops the sandbox; its
     * sidecars, still running, are stopped first */
    bool running = false;
    for (size_t i = 0; i < s->ncs; i++)
        running |= s->cs[i].state == KR_RT_RUNNING || s->cs[i].state == KR_RT_CREATED;
    if (s->have_sb && pod_finished(status, s->restart)) {
        kr_error_t err;
        if (running) {
            stop_all(s->w, job, s->a, s->sandbox, s->spec,
                     kr_value_map_int(s->spec, "terminationGracePeriodSeconds", 30));
            containers_refresh(s);
            job->init_statuses =
                statuses_of(s, kr_value_map_get(s->spec, "initContainers"), true, has_init);
        }
        if (s->rt->sandbox_stop(s->rs, s->sandbox, &err) < 0)
            job_error(job, "stopping the sandbox of a finished pod: %s", err.message);
        else
            job->sandbox_ready = false;
    }
}

typedef struct stopper {
    pthread_t th;
    ag_worker_t *w;
    const char *id;
    const char *const *prestop; /* argv or NULL */
    int64_t grace_s;
    bool thread; /* runs on th: to join */
    char error[KR_ERROR_MSG_MAX];
} stopper_t;

/* killContainer: the preStop hook within the grace period, then a stop
 * with what is left of it. */
static void *stopper_main(void *arg)
{
    stopper_t *st = arg;
    const ag_conf_t *c = st->w->conf;
    kr_error_t err;
    int64_t grace = st->grace_s;
    if (st->prestop != NULL && grace > 0) {
        int64_t t0 = wall_ms();
        int code;
        char out[256];
        if (c->rt->exec_sync(c->rt_self, st->id, st->prestop, grace * 1000, out, sizeof out, &code,
                             &err) < 0)
            snprintf(st->error, sizeof st->error, "preStop hook: %.400s", err.message);
        grace -= (wall_ms() - t0) / 1000;
        if (grace < 2)
            grace = 2;
    }
    if (c->rt->container_stop(c->rt_self, st->id, grace, &err) < 0)
        snprintf(st->error, sizeof st->error, "stopping container %.80s: %.400s", st->id,
                 err.message);
    return NULL;
}

static const kr_value_t *spec_container(const kr_value_t *spec, const char *name)
{
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        const kr_value_t *cs = kr_value_map_get(spec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++)
            if (strcmp(kr_value_map_str(kr_value_array_get(cs, i), "name") ?: "", name) == 0)
                return kr_value_array_get(cs, i);
    }
    return NULL;
}

/* Stops every running container of a sandbox at once (the kubelet kills
 * a pod's containers in parallel). */
static void stop_all(ag_worker_t *w, ag_job_t *job, kr_arena_t *a, const char *sandbox,
                     const kr_value_t *spec, int64_t grace_s)
{
    const ag_conf_t *c = w->conf;
    kr_rt_container_t *cs = NULL;
    size_t n = 0;
    kr_error_t err;
    if (c->rt->container_list(c->rt_self, sandbox, &cs, &n, &err) < 0) {
        job_error(job, "listing containers of sandbox %s: %s", sandbox, err.message);
        return;
    }
    stopper_t *st = calloc(n ? n : 1, sizeof *st);
    if (st == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (cs[i].state != KR_RT_RUNNING && cs[i].state != KR_RT_CREATED)
            continue;
        if (spec != NULL && cs[i].name != NULL)
            ag_job_event(job, "Normal", "Killing",
                         kr_arena_printf(a, "spec.%s{%s}",
                                         spec_container_is_init(spec, cs[i].name) ? "initContainers"
                                                                                  : "containers",
                                         cs[i].name),
                         "Stopping container %s", cs[i].name);
        st[i].w = w;
        st[i].id = cs[i].id;
        st[i].grace_s = grace_s;
        const kr_value_t *sc = spec ? spec_container(spec, cs[i].name ? cs[i].name : "") : NULL;
        st[i].prestop = str_array(a, kr_value_get(sc, "lifecycle.preStop.exec.command"));
        st[i].thread = pthread_create(&st[i].th, NULL, stopper_main, &st[i]) == 0;
        if (!st[i].thread)
            stopper_main(&st[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (st[i].thread)
            pthread_join(st[i].th, NULL);
        if (st[i].error[0])
            job_error(job, "%s", st[i].error);
    }
    free(st);
    kr_rt_container_list_free(cs, n);
}

static void kill_pod(sync_ctx_t *s)
{
    ag_job_t *job = s->job;
    kr_rt_sandbox_t *list;
    size_t n = pod_sandboxes(s->w, s->job, s->uid, &list);
    for (size_t i = 0; i < n; i++)
        stop_all(s->w, job, s->a, list[i].id, s->spec, job->grace_s);
    /* the statuses the pod ends with, from its newest sandbox */
    ssize_t best = -1;
    for (size_t i = 0; i < n; i++)
        if (best < 0 || list[i].attempt > list[(size_t)best].attempt)
            best = (ssize_t)i;
    if (best >= 0) {
        snprintf(s->sandbox, sizeof s->sandbox, "%s", list[best].id);
        s->have_sb = true;
        containers_refresh(s);
    }
    bool has_init = kr_value_len(kr_value_map_get(s->spec, "initContainers")) > 0;
    job->init_statuses =
        statuses_of(s, kr_value_map_get(s->spec, "initContainers"), true, has_init);
    job->statuses = statuses_of(s, kr_value_map_get(s->spec, "containers"), false, has_init);
    for (size_t i = 0; i < n; i++)
        sandbox_teardown(s->w, list[i].id, job);
    kr_rt_sandbox_list_free(list, n);
    kr_error_t err;
    if (ag_volumes_teardown(s->pod_dir, &err) < 0)
        job_error(job, "%s", err.message);
    if (s->w->conf->tokens != NULL)
        ag_tokens_forget(s->w->conf->tokens, s->uid);
    job->sandbox_id[0] = '\0';
    job->sandbox_ready = false;
    job->done = job->error[0] == '\0';
    if (!job->done)
        requeue(job, 2000);
}

/* Sandboxes of pods the API no longer has (deleted while the agent was
 * down): stopped with a 1 s grace period, as HandlePodCleanups does. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether `uid` is in the job's sorted known_uids. */
static bool uid_known(const ag_job_t *job, const char *uid)
{
    return bsearch(&uid, job->known_uids, job->nknown, sizeof *job->known_uids, cmp_str) != NULL;
}

static void cleanup(ag_worker_t *w, ag_job_t *job)
{
    const ag_conf_t *c = w->conf;
    kr_rt_sandbox_t *all = NULL;
    size_t n = 0;
    kr_error_t err;
    if (c->rt->sandbox_list(c->rt_self, &all, &n, &err) < 0) {
        job_error(job, "listing sandboxes: %s", err.message);
        return;
    }
    /* sorted: a hollow agent knows tens of thousands of pods */
    qsort(job->known_uids, job->nknown, sizeof *job->known_uids, cmp_str);
    for (size_t i = 0; i < n; i++) {
        const char *uid = all[i].pod_uid ? all[i].pod_uid
                                         : label(all[i].labels, all[i].n_labels, AG_LABEL_POD_UID);
        bool known = uid != NULL && uid_known(job, uid);
        if (known || all[i].created_at >= job->cutoff_ns)
            continue;
        kr_plugin_log(c->ctx, KR_LOG_INFO, "removing the sandbox of a pod that is gone",
                      "sandbox=%s pod=%s/%s uid=%s", all[i].id,
                      all[i].pod_namespace ? all[i].pod_namespace : "",
                      all[i].pod_name ? all[i].pod_name : "", uid ? uid : "");
        stop_all(w, job, job->a, all[i].id, NULL, 1);
        sandbox_teardown(w, all[i].id, job);
        job->removed++;
    }
    kr_rt_sandbox_list_free(all, n);
    if (c->net != NULL)
        net_gc(w, job);
    /* volume directories of pods that are gone */
    const char *pods = kr_arena_printf(job->a, "%s/pods", c->data_dir);
    DIR *d = opendir(pods);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        bool known = uid_known(job, de->d_name);
        const char *dir = kr_arena_printf(job->a, "%s/%s", pods, de->d_name);
        struct stat st;
        if (known || lstat(dir, &st) < 0 ||
            (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec >= job->cutoff_ns)
            continue;
        if (ag_volumes_teardown(dir, &err) < 0)
            job_error(job, "%s", err.message);
    }
    if (d != NULL)
        closedir(d);
}

void ag_sync_run(ag_worker_t *w0, ag_job_t *job)
{
    /* the pod's node (an agent may host several): its name, address and
     * allocatable, over the worker's own bus connection */
    ag_worker_t wl = *w0, *w = &wl;
    if (job->node != NULL)
        wl.conf = job->node;
    if (job->kind == AG_JOB_CLEANUP) {
        cleanup(w, job);
        return;
    }
    if (job->kind == AG_JOB_PROBE) {
        ag_probe_run(w, job);
        return;
    }
    sync_ctx_t s = {
        .w = w,
        .job = job,
        .a = job->a,
        .rt = w->conf->rt,
        .rs = w->conf->rt_self,
        .pod = job->obj,
        .spec = kr_value_map_get(job->obj, "spec"),
        .uid = kr_value_as_str(kr_value_get(job->obj, "metadata.uid")) ?: "",
        .name = kr_value_as_str(kr_value_get(job->obj, "metadata.name")) ?: "",
        .ns = kr_value_as_str(kr_value_get(job->obj, "metadata.namespace")) ?: "default",
        .now_ms = wall_ms(),
    };
    s.restart = kr_value_map_str(s.spec, "restartPolicy") ?: "Always";
    s.pod_dir = kr_arena_printf(s.a, "%s/pods/%s", w->conf->data_dir, s.uid);
    s.ectx = (ag_env_ctx_t){
        .pod = s.pod,
        .pod_ip = job->pod_ip,
        .host_ip = w->conf->host_ip,
        .alloc_milli_cpu = w->conf->alloc_milli_cpu,
        .alloc_memory = w->conf->alloc_memory,
        .alloc_ephemeral = w->conf->alloc_ephemeral,
        .lookup = lookup,
        .sa_token = w->conf->tokens != NULL ? sa_token : NULL,
        .ud = &s,
        .services = job->services,
    };
    if (job->kind == AG_JOB_KILL)
        kill_pod(&s);
    else
        sync_pod(&s);
    kr_rt_container_list_free(s.cs, s.ncs);
    if (s.sb.id != NULL)
        kr_rt_sandbox_free(&s.sb);
}
