/* Pod sandboxes: a network, IPC and UTS namespace made by the plugin and
 * kept alive by bind mounts of their /proc files under
 * <run_dir>/runtime/<instance>/sandboxes/<id>/{net,ipc,uts}; every
 * container of the pod joins them through the OCI "namespaces" paths.
 *
 * The namespaces are made by a short-lived thread: unshare(2) of
 * CLONE_NEWNET, CLONE_NEWIPC and CLONE_NEWUTS moves only the calling task,
 * so a thread that unshares, sets the hostname, brings up lo, bind-mounts
 * /proc/thread-self/ns/... and exits leaves the rest of the agent where it
 * was, with no fork of a big multi-threaded process.
 *
 * Beside them: a tmpfs the pod's containers share as /dev/shm (POSIX shared
 * memory belongs with the IPC namespace), and in the state dir the
 * /etc/hostname and /etc/hosts files every container binds. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "runc.h"

#define SANDBOX_RECORD "sandbox.json"
#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif
#define SHM_SIZE "size=65536k" /* Docker's and containerd's /dev/shm */

void runc_sandbox_path(const runc_rt_t *rt, const char *id, const char *leaf, char *out, size_t len)
{
    snprintf(out, len, "%s/sandboxes/%s%s%s", rt->run_dir, id, leaf ? "/" : "", leaf ? leaf : "");
}

void runc_sandbox_state_path(const runc_rt_t *rt, const char *id, const char *leaf, char *out,
                             size_t len)
{
    snprintf(out, len, "%s/sandboxes/%s%s%s", rt->state_dir, id, leaf ? "/" : "", leaf ? leaf : "");
}

void runc_sandbox_free(runc_sandbox_t *sb)
{
    if (sb == NULL)
        return;
    free(sb->pod_name);
    free(sb->pod_namespace);
    free(sb->pod_uid);
    free(sb->hostname);
    free(sb->cgroup_parent);
    free(sb->log_dir);
    runc_labels_free(sb->labels, sb->n_labels);
    free(sb);
}

runc_sandbox_t *runc_sandbox_find(runc_rt_t *rt, const char *id)
{
    for (size_t i = 0; i < rt->n_sbs; i++)
        if (strcmp(rt->sbs[i]->id, id) == 0)
            return rt->sbs[i];
    return NULL;
}

static void sandbox_add(runc_rt_t *rt, runc_sandbox_t *sb)
{
    if (rt->n_sbs == rt->cap_sbs) {
        rt->cap_sbs = rt->cap_sbs ? rt->cap_sbs * 2 : 16;
        rt->sbs = realloc(rt->sbs, rt->cap_sbs * sizeof *rt->sbs);
        if (rt->sbs == NULL)
            abort();
    }
    rt->sbs[rt->n_sbs++] = sb;
}

/* ---- records -------------------------------------------------------------- */

static int sandbox_save(runc_rt_t *rt, const runc_sandbox_t *sb, kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "id", kr_value_str(a, sb->id));
    kr_value_map_set(a, m, "pod_name", kr_value_str(a, sb->pod_name));
    kr_value_map_set(a, m, "pod_namespace", kr_value_str(a, sb->pod_namespace));
    kr_value_map_set(a, m, "pod_uid", kr_value_str(a, sb->pod_uid));
    kr_value_map_set(a, m, "attempt", kr_value_int(a, sb->attempt));
    kr_value_map_set(a, m, "hostname", kr_value_str(a, sb->hostname));
    kr_value_map_set(a, m, "cgroup_parent", kr_value_str(a, sb->cgroup_parent));
    if (sb->log_dir != NULL)
        kr_value_map_set(a, m, "log_dir", kr_value_str(a, sb->log_dir));
    kr_value_map_set(a, m, "host_network", kr_value_bool(a, sb->host_network));
    kr_value_map_set(a, m, "host_ipc", kr_value_bool(a, sb->host_ipc));
    kr_value_map_set(a, m, "host_pid", kr_value_bool(a, sb->host_pid));
    kr_value_map_set(a, m, "ready", kr_value_bool(a, sb->ready));
    kr_value_map_set(a, m, "created_at", kr_value_int(a, sb->created_at));
    kr_value_map_set(a, m, "labels", runc_labels_value(a, sb->labels, sb->n_labels));
    char path[4096];
    runc_sandbox_state_path(rt, sb->id, SANDBOX_RECORD, path, sizeof path);
    /* Not fsynced: a SIGKILLed agent loses nothing the kernel has, and a
     * host crash takes the namespaces with it (docs/runtime.md, Records). */
    int rc = runc_record_write(path, m, false, err);
    kr_arena_destroy(&a);
    return rc;
}

static char *dup_str(const kr_value_t *m, const char *key)
{
    return runc_strdup0(kr_value_map_str(m, key));
}

static void sandbox_loaded(runc_rt_t *rt, const char *id, const kr_value_t *rec)
{
    runc_sandbox_t *sb = calloc(1, sizeof *sb);
    if (sb == NULL)
        abort();
    memcpy(sb->id, id, strlen(id) + 1);
    sb->pod_name = dup_str(rec, "pod_name");
    sb->pod_namespace = dup_str(rec, "pod_namespace");
    sb->pod_uid = dup_str(rec, "pod_uid");
    sb->attempt = (uint32_t)kr_value_map_int(rec, "attempt", 0);
    sb->hostname = dup_str(rec, "hostname");
    sb->cgroup_parent = dup_str(rec, "cgroup_parent");
    sb->log_dir = dup_str(rec, "log_dir");
    sb->host_network = kr_value_as_bool(kr_value_map_get(rec, "host_network"), false);
    sb->host_ipc = kr_value_as_bool(kr_value_map_get(rec, "host_ipc"), false);
    sb->host_pid = kr_value_as_bool(kr_value_map_get(rec, "host_pid"), false);
    sb->ready = kr_value_as_bool(kr_value_map_get(rec, "ready"), false);
    sb->created_at = kr_value_map_int(rec, "created_at", 0);
    runc_labels_from_value(kr_value_map_get(rec, "labels"), &sb->labels, &sb->n_labels);
    if (sb->hostname == NULL)
        sb->hostname = runc_strdup0("");
    if (sb->cgroup_parent == NULL)
        sb->cgroup_parent = runc_strdup0(rt->conf->cgroup_parent);
    /* After a reboot the namespaces are gone with run_dir: such a
     * sandbox is not ready any more (the agent makes a new one). */
    char net[4096];
    runc_sandbox_path(rt, sb->id, "net", net, sizeof net);
    struct statfs fs;
    if (sb->ready && !sb->host_network && (statfs(net, &fs) < 0 || fs.f_type != NSFS_MAGIC))
        sb->ready = false;
    sandbox_add(rt, sb);
}

int runc_sandbox_load(runc_rt_t *rt, kr_error_t *err)
{
    return runc_record_scan(rt, "sandboxes", SANDBOX_RECORD, sandbox_loaded, err);
}

/* ---- namespaces ------------------------------------------------------------ */

typedef struct ns_job {
    runc_rt_t *rt;
    const char *id;
    const char *hostname;
    int flags;
    kr_error_t err;
    int rc;
} ns_job_t;

static int lo_up(kr_error_t *err)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return kr_error_set(err, KR_E_INTERNAL, "socket: %s", strerror(errno));
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "lo: SIOCGIFFLAGS: %s", strerror(errno));
    else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            rc = kr_error_set(err, KR_E_INTERNAL, "lo: SIOCSIFFLAGS: %s", strerror(errno));
    }
    close(s);
    return rc;
}

static int bind_ns(runc_rt_t *rt, const char *id, const char *ns, kr_error_t *err)
{
    char target[4096], source[64];
    runc_sandbox_path(rt, id, ns, target, sizeof target);
    int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "%s: %s", target, strerror(errno));
    close(fd);
    snprintf(source, sizeof source, "/proc/thread-self/ns/%s", ns);
    if (mount(source, target, NULL, MS_BIND, NULL) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "bind mount %s on %s: %s", source, target,
                            strerror(errno));
    return 0;
}

static void *ns_thread(void *arg)
{
    ns_job_t *j = arg;
    kr_error_t *err = &j->err;
    if (unshare(j->flags) < 0) {
        j->rc = kr_error_set(err, KR_E_INTERNAL, "unshare: %s", strerror(errno));
        return NULL;
    }
    if ((j->flags & CLONE_NEWUTS) && sethostname(j->hostname, strlen(j->hostname)) < 0) {
        j->rc = kr_error_set(err, KR_E_INTERNAL, "sethostname \"%s\": %s", j->hostname,
                             strerror(errno));
        return NULL;
    }
    if ((j->flags & CLONE_NEWNET) && (j->rc = lo_up(err)) < 0)
        return NULL;
    static const struct {
        int flag;
        const char *name;
    } nss[] = {{CLONE_NEWNET, "net"}, {CLONE_NEWIPC, "ipc"}, {CLONE_NEWUTS, "uts"}};
    for (size_t i = 0; i < 3; i++)
        if ((j->flags & nss[i].flag) && (j->rc = bind_ns(j->rt, j->id, nss[i].name, err)) < 0)
            return NULL;
    /* The thread ends here: its namespaces live on in the bind mounts. */
    return NULL;
}

/* Unmounts and removes everything under the sandbox's run dir; 0 when
 * there was nothing. */
static int sandbox_unmount(runc_rt_t *rt, const char *id, kr_error_t *err)
{
    static const char *const leaves[] = {"net", "ipc", "uts", "shm"};
    int rc = 0;
    for (size_t i = 0; i < 4; i++) {
        char p[4096];
        runc_sandbox_path(rt, id, leaves[i], p, sizeof p);
        if (umount2(p, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT && rc == 0)
            rc = kr_error_set(err, KR_E_INTERNAL, "umount %s: %s", p, strerror(errno));
        if (i < 3)
            unlink(p);
        else
            rmdir(p);
    }
    char dir[4096];
    runc_sandbox_path(rt, id, NULL, dir, sizeof dir);
    if (rmdir(dir) < 0 && errno != ENOENT && rc == 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "rmdir %s: %s", dir, strerror(errno));
    return rc;
}

static int write_text(const char *path, const char *text, kr_error_t *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return kr_error_set(err, KR_E_INTERNAL, "%s: %s", tmp, strerror(errno));
    fputs(text, f);
    if (fclose(f) != 0 || rename(tmp, path) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "%s: %s", path, strerror(errno));
    chmod(path, 0644);
    return 0;
}

/* /etc/hostname and /etc/hosts as the kubelet writes them. */
static int sandbox_files(runc_rt_t *rt, const runc_sandbox_t *sb, kr_error_t *err)
{
    char path[4096], text[8192];
    runc_sandbox_state_path(rt, sb->id, "hostname", path, sizeof path);
    snprintf(text, sizeof text, "%s\n", sb->hostname);
    if (write_text(path, text, err) < 0)
        return -KR_E_INTERNAL;
    runc_sandbox_state_path(rt, sb->id, "hosts", path, sizeof path);
    if (sb->host_network) {
        /* The kubelet gives a host-network pod the node's own file. */
        if (runc_read_file("/etc/hosts", text, sizeof text) < 0)
            text[0] = '\0';
    } else {
        snprintf(text, sizeof text,
                 "# Kubernetes-managed hosts file.\n"
                 "127.0.0.1\tlocalhost\n"
                 "::1\tlocalhost ip6-localhost ip6-loopback\n"
                 "fe00::0\tip6-localnet\n"
                 "fe00::0\tip6-mcastprefix\n"
                 "fe00::1\tip6-allnodes\n"
                 "fe00::2\tip6-allrouters\n");
    }
    return write_text(path, text, err);
}

static bool valid_hostname(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= '0' && h[i] <= '9') || h[i] == '-' ||
              h[i] == '.' || (h[i] >= 'A' && h[i] <= 'Z')))
            return false;
    return true;
}

int runc_sandbox_run(void *self, const kr_rt_sandbox_config_t *cfg, char id[KR_RT_ID_MAX],
                     kr_error_t *err)
{
    runc_rt_t *rt = self;
    if (cfg == NULL || cfg->pod_name == NULL || cfg->pod_namespace == NULL || cfg->pod_uid == NULL)
        return kr_error_set(err, KR_E_INVALID, "sandbox: pod name, namespace and uid are required");
    char node[256] = "";
    const char *hostname = cfg->hostname && cfg->hostname[0] ? cfg->hostname : cfg->pod_name;
    if (cfg->host_network) {
        gethostname(node, sizeof node - 1);
        hostname = node;
    } else {
        /* The kubelet's truncatePodHostnameIfNeeded: at most 63 bytes, no
         * trailing '-' or '.'. */
        snprintf(node, 64, "%s", hostname);
        size_t n = strlen(node);
        while (n > 0 && (node[n - 1] == '-' || node[n - 1] == '.'))
            node[--n] = '\0';
        hostname = node;
        if (!valid_hostname(hostname))
            return kr_error_set(err, KR_E_INVALID, "sandbox: invalid hostname \"%s\"", hostname);
    }
    runc_sandbox_t *sb = calloc(1, sizeof *sb);
    if (sb == NULL)
        abort();
    runc_new_id(sb->id);
    sb->pod_name = runc_strdup0(cfg->pod_name);
    sb->pod_namespace = runc_strdup0(cfg->pod_namespace);
    sb->pod_uid = runc_strdup0(cfg->pod_uid);
    sb->attempt = cfg->attempt;
    sb->hostname = runc_strdup0(hostname);
    sb->log_dir = runc_strdup0(cfg->log_dir);
    sb->host_network = cfg->host_network;
    sb->host_ipc = cfg->host_ipc;
    sb->host_pid = cfg->host_pid;
    sb->created_at = runc_now();
    sb->labels = runc_labels_dup(cfg->labels, cfg->n_labels);
    sb->n_labels = cfg->n_labels;
    if (cfg->cgroup_parent != NULL && cfg->cgroup_parent[0] != '\0') {
        sb->cgroup_parent = runc_strdup0(cfg->cgroup_parent);
    } else {
        size_t n = strlen(rt->conf->cgroup_parent) + strlen(sb->id) + 2;
        sb->cgroup_parent = malloc(n);
        if (sb->cgroup_parent == NULL)
            abort();
        snprintf(sb->cgroup_parent, n, "%s/%s", rt->conf->cgroup_parent, sb->id);
    }

    char dir[4096];
    int rc;
    runc_sandbox_state_path(rt, sb->id, NULL, dir, sizeof dir);
    if ((rc = kr_mkdir_p(dir, 0711, err)) < 0 || (rc = sandbox_files(rt, sb, err)) < 0)
        goto fail;
    runc_sandbox_path(rt, sb->id, NULL, dir, sizeof dir);
    if ((rc = kr_mkdir_p(dir, 0711, err)) < 0)
        goto fail;
    ns_job_t job = {.rt = rt, .id = sb->id, .hostname = sb->hostname};
    if (!cfg->host_network)
        job.flags |= CLONE_NEWNET | CLONE_NEWUTS;
    if (!cfg->host_ipc)
        job.flags |= CLONE_NEWIPC;
    if (job.flags != 0) {
        pthread_t t;
        if ((rc = pthread_create(&t, NULL, ns_thread, &job)) != 0) {
            rc = kr_error_set(err, KR_E_INTERNAL, "pthread_create: %s", strerror(rc));
            goto fail;
        }
        pthread_join(t, NULL);
        if ((rc = job.rc) < 0) {
            *err = job.err;
            goto fail;
        }
    }
    if (!cfg->host_ipc) {
        char shm[4096];
        runc_sandbox_path(rt, sb->id, "shm", shm, sizeof shm);
        if (mkdir(shm, 01777) < 0 || mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                           "mode=1777," SHM_SIZE) < 0) {
            rc = kr_error_set(err, KR_E_INTERNAL, "mounting %s: %s", shm, strerror(errno));
            goto fail;
        }
    }
    sb->ready = true;
    if ((rc = sandbox_save(rt, sb, err)) < 0)
        goto fail;
    pthread_mutex_lock(&rt->mu);
    sandbox_add(rt, sb);
    pthread_mutex_unlock(&rt->mu);
    memcpy(id, sb->id, KR_RT_ID_MAX);
    return 0;
fail:
    sandbox_unmount(rt, sb->id, NULL);
    runc_sandbox_state_path(rt, sb->id, NULL, dir, sizeof dir);
    kr_rmtree(dir, NULL);
    kr_error_wrap(err, "sandbox for pod \"%s/%s\"", cfg->pod_namespace, cfg->pod_name);
    runc_sandbox_free(sb);
    return rc;
}

int runc_sandbox_stop(void *self, const char *id, kr_error_t *err)
{
    runc_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    bool found = runc_sandbox_find(rt, id) != NULL;
    pthread_mutex_unlock(&rt->mu);
    if (!found)
        return kr_error_set(err, KR_E_NOT_FOUND, "sandbox \"%s\" not found", id);
    char **ids = runc_ctr_ids(rt, id);
    int rc = 0;
    for (size_t i = 0; ids[i] != NULL; i++) {
        kr_error_t e2;
        if (runc_container_kill(rt, ids[i], &e2) < 0 && e2.reason != KR_E_NOT_FOUND && rc == 0) {
            *err = e2;
            rc = -(int)e2.reason;
        }
    }
    kr_rt_strv_free(ids);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&rt->mu);
    runc_sandbox_t *sb = runc_sandbox_find(rt, id);
    if (sb != NULL && sb->ready) {
        sb->ready = false;
        rc = sandbox_save(rt, sb, err);
    }
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

/* The runtime removes a container's cgroup on delete, not the pod's level
 * above it: rmdir it in every hierarchy (it is empty by now; one that is
 * not stays). */
static void cgroup_remove(const char *parent)
{
    while (*parent == '/')
        parent++;
    DIR *d = opendir("/sys/fs/cgroup");
    if (d == NULL || parent[0] == '\0') {
        if (d != NULL)
            closedir(d);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "/sys/fs/cgroup/%s/%s", e->d_name, parent);
        rmdir(p);
    }
    closedir(d);
}

int runc_sandbox_remove(void *self, const char *id, kr_error_t *err)
{
    runc_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    bool found = runc_sandbox_find(rt, id) != NULL;
    pthread_mutex_unlock(&rt->mu);
    if (!found)
        return 0;
    char **ids = runc_ctr_ids(rt, id);
    int rc = 0;
    for (size_t i = 0; ids[i] != NULL && rc == 0; i++) {
        if ((rc = runc_container_kill(rt, ids[i], err)) < 0 && err->reason == KR_E_NOT_FOUND)
            rc = 0;
        if (rc == 0)
            rc = runc_container_remove(rt, ids[i], err);
    }
    kr_rt_strv_free(ids);
    if (rc < 0)
        return kr_error_wrap(err, "removing sandbox \"%s\"", id);
    if ((rc = sandbox_unmount(rt, id, err)) < 0)
        return rc;
    pthread_mutex_lock(&rt->mu);
    runc_sandbox_t *sb = runc_sandbox_find(rt, id);
    char *cg = sb ? runc_strdup0(sb->cgroup_parent) : NULL;
    pthread_mutex_unlock(&rt->mu);
    if (cg != NULL)
        cgroup_remove(cg);
    free(cg);
    char dir[4096];
    runc_sandbox_state_path(rt, id, NULL, dir, sizeof dir);
    if ((rc = kr_rmtree(dir, err)) < 0)
        return rc;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->n_sbs; i++)
        if (strcmp(rt->sbs[i]->id, id) == 0) {
            runc_sandbox_free(rt->sbs[i]);
            rt->sbs[i] = rt->sbs[--rt->n_sbs];
            break;
        }
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

/* Under rt->mu. */
static void sandbox_out(runc_rt_t *rt, const runc_sandbox_t *sb, kr_rt_sandbox_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = runc_strdup0(sb->id);
    out->pod_name = runc_strdup0(sb->pod_name);
    out->pod_namespace = runc_strdup0(sb->pod_namespace);
    out->pod_uid = runc_strdup0(sb->pod_uid);
    out->attempt = sb->attempt;
    out->state = sb->ready ? KR_RT_SANDBOX_READY : KR_RT_SANDBOX_NOTREADY;
    out->created_at = sb->created_at;
    if (!sb->host_network) {
        char p[4096];
        runc_sandbox_path(rt, sb->id, "net", p, sizeof p);
        out->netns_path = runc_strdup0(p);
    }
    out->labels = runc_labels_dup(sb->labels, sb->n_labels);
    out->n_labels = sb->n_labels;
}

int runc_sandbox_status(void *self, const char *id, kr_rt_sandbox_t *out, kr_error_t *err)
{
    runc_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    runc_sandbox_t *sb = runc_sandbox_find(rt, id);
    if (sb != NULL)
        sandbox_out(rt, sb, out);
    pthread_mutex_unlock(&rt->mu);
    if (sb == NULL)
        return kr_error_set(err, KR_E_NOT_FOUND, "sandbox \"%s\" not found", id);
    return 0;
}

int runc_sandbox_list(void *self, kr_rt_sandbox_t **out, size_t *n, kr_error_t *err)
{
    (void)err;
    runc_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    *n = rt->n_sbs;
    *out = calloc(rt->n_sbs ? rt->n_sbs : 1, sizeof **out);
    if (*out == NULL)
        abort();
    for (size_t i = 0; i < rt->n_sbs; i++)
        sandbox_out(rt, rt->sbs[i], &(*out)[i]);
    pthread_mutex_unlock(&rt->mu);
    return 0;
}
