/* config.json generation: what containerd's CRI plugin puts in an OCI spec
 * for a Kubernetes container, reduced to what kraal's runtime interface
 * carries (docs/runtime.md has the list).
 *
 * Everything here is pure apart from reading the rootfs's /etc/passwd and
 * /etc/group (and /dev for a privileged container), so it is unit-tested
 * without root. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "runc.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- capabilities ------------------------------------------------------- */

static const char *const cap_names[RUNC_CAP_LAST + 1] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

#define CAP_ALL_MASK ((UINT64_C(1) << (RUNC_CAP_LAST + 1)) - 1)

const char *runc_cap_name(int cap)
{
    return cap >= 0 && cap <= RUNC_CAP_LAST ? cap_names[cap] : NULL;
}

uint64_t runc_caps_default(void)
{
    /* containerd's pkg/oci defaultUnixCaps (the same set as Docker's). */
    static const int caps[] = {0 /* CHOWN */,
                               1 /* DAC_OVERRIDE */,
                               4 /* FSETID */,
                               3 /* FOWNER */,
                               27 /* MKNOD */,
                               13 /* NET_RAW */,
                               6 /* SETGID */,
                               7 /* SETUID */,
                               31 /* SETFCAP */,
                               8 /* SETPCAP */,
                               10 /* NET_BIND_SERVICE */,
                               18 /* SYS_CHROOT */,
                               5 /* KILL */,
                               29 /* AUDIT_WRITE */};
    uint64_t m = 0;
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        m |= UINT64_C(1) << caps[i];
    return m;
}

/* "NET_ADMIN", "CAP_NET_ADMIN" or "net_admin" -> its number; -1 unknown. */
static int cap_parse(const char *name)
{
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    for (int i = 0; i <= RUNC_CAP_LAST; i++)
        if (strcasecmp(cap_names[i] + 4, name) == 0)
            return i;
    return -1;
}

static int caps_mask(const char *const *names, uint64_t *mask, bool *all, kr_error_t *err)
{
    *mask = 0;
    *all = false;
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        if (strcasecmp(names[i], "ALL") == 0) {
            *all = true;
            continue;
        }
        int cap = cap_parse(names[i]);
        if (cap < 0)
            return kr_error_set(err, KR_E_INVALID, "unknown capability \"%s\"", names[i]);
        *mask |= UINT64_C(1) << cap;
    }
    return 0;
}

int runc_caps_resolve(const char *const *add, const char *const *drop, bool privileged,
                      uint64_t bound, uint64_t *out, kr_error_t *err)
{
    uint64_t add_m, drop_m;
    bool add_all, drop_all;
    if (caps_mask(add, &add_m, &add_all, err) < 0 || caps_mask(drop, &drop_m, &drop_all, err) < 0)
        return -KR_E_INVALID;
    uint64_t caps;
    if (privileged) {
        /* A privileged container gets every capability, whatever the lists
         * say (the kubelet and containerd ignore them then). */
        caps = CAP_ALL_MASK;
    } else {
        /* containerd's order: ALL in drop empties the set, then additions,
         * then the named drops. */
        caps = drop_all ? 0 : runc_caps_default();
        caps |= add_all ? CAP_ALL_MASK : add_m;
        caps &= ~drop_m;
    }
    /* A capability outside this process's bounding set cannot be granted
     * (capset fails); leave it out rather than fail every container. */
    *out = caps & bound;
    return 0;
}

/* ---- signals ------------------------------------------------------------- */

int runc_signal_parse(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end == '\0')
        return n > 0 && n < NSIG ? (int)n : -1;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (int i = 1; i < NSIG; i++) {
        const char *abbrev = sigabbrev_np(i);
        if (abbrev != NULL && strcasecmp(abbrev, s) == 0)
            return i;
    }
    /* RTMIN+n / RTMAX-n, as Docker's signal table has them */
    if (strncasecmp(s, "RTMIN+", 6) == 0 || strncasecmp(s, "RTMAX-", 6) == 0) {
        long k = strtol(s + 6, &end, 10);
        int sig = s[3] == 'I' || s[3] == 'i' ? SIGRTMIN + (int)k : SIGRTMAX - (int)k;
        if (*end == '\0' && k >= 0 && sig >= SIGRTMIN && sig <= SIGRTMAX)
            return sig;
    }
    return -1;
}

/* ---- users -------------------------------------------------------------- */

/* Reads <rootfs>/<file> line by line: calls fn(fields, n, ud) for each
 * colon-separated record; stops when fn returns true.  Missing file: no
 * records. */
static bool db_scan(const char *rootfs, const char *file, bool (*fn)(char **f, size_t n, void *ud),
                    void *ud)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", rootfs, file);
    /* The rootfs is the image's: its /etc/passwd may be a symlink leading
     * out of it.  Refuse to follow one. */
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    FILE *fp = fopen(path, "re");
    if (fp == NULL)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, fp) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *f[8];
        size_t n = 0;
        char *s = line;
        while (n < 8) {
            f[n++] = s;
            char *c = strchr(s, ':');
            if (c == NULL)
                break;
            *c = '\0';
            s = c + 1;
        }
        found = fn(f, n, ud);
    }
    fclose(fp);
    return found;
}

static bool parse_id(const char *s, uint32_t *out)
{
    if (*s == '\0')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || errno != 0 || v > UINT32_MAX || !isdigit((unsigned char)s[0]))
        return false;
    *out = (uint32_t)v;
    return true;
}

typedef struct user_q {
    const char *name; /* by name, or */
    uint32_t uid;     /* by uid when name is NULL */
    char found_name[256];
    uint32_t found_uid, found_gid;
} user_q_t;

static bool passwd_match(char **f, size_t n, void *ud)
{
    user_q_t *q = ud;
    uint32_t uid, gid;
    if (n < 4 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
        return false;
    if (q->name != NULL ? strcmp(f[0], q->name) != 0 : uid != q->uid)
        return false;
    snprintf(q->found_name, sizeof q->found_name, "%s", f[0]);
    q->found_uid = uid;
    q->found_gid = gid;
    return true;
}

typedef struct group_q {
    const char *name;   /* a group by name, or */
    const char *member; /* every group listing this user */
    uint32_t gid;
    runc_user_t *user;
} group_q_t;

static bool group_match(char **f, size_t n, void *ud)
{
    group_q_t *q = ud;
    uint32_t gid;
    if (n < 3 || !parse_id(f[2], &gid))
        return false;
    if (q->name != NULL) {
        if (strcmp(f[0], q->name) != 0)
            return false;
        q->gid = gid;
        return true;
    }
    if (n < 4)
        return false;
    char *save = NULL;
    for (char *m = strtok_r(f[3], ",", &save); m != NULL; m = strtok_r(NULL, ",", &save))
        if (strcmp(m, q->member) == 0 && q->user->n_gids < 32 && gid != q->user->gid) {
            q->user->gids[q->user->n_gids++] = gid;
            break;
        }
    return false;
}

int runc_user_resolve(const char *rootfs, const char *image_user, int64_t uid, int64_t gid,
                      runc_user_t *out, kr_error_t *err)
{
    memset(out, 0, sizeof *out);
    user_q_t q = {0};
    bool have_user = false, have_group = false;
    if (uid >= 0) {
        out->uid = (uint32_t)uid;
        q.uid = (uint32_t)uid;
        have_user = db_scan(rootfs, "etc/passwd", passwd_match, &q);
    } else if (image_user != NULL && image_user[0] != '\0') {
        char u[256];
        snprintf(u, sizeof u, "%s", image_user);
        char *g = strchr(u, ':');
        if (g != NULL)
            *g++ = '\0';
        if (parse_id(u, &out->uid)) {
            q.uid = out->uid;
            have_user = db_scan(rootfs, "etc/passwd", passwd_match, &q);
        } else {
            q.name = u;
            have_user = db_scan(rootfs, "etc/passwd", passwd_match, &q);
            if (!have_user)
                return kr_error_set(err, KR_E_INVALID,
                                    "unable to find user %s: no matching entries in passwd file",
                                    u);
            out->uid = q.found_uid;
        }
        if (g != NULL && gid < 0) {
            if (!parse_id(g, &out->gid)) {
                group_q_t gq = {.name = g};
                if (!db_scan(rootfs, "etc/group", group_match, &gq))
                    return kr_error_set(
                        err, KR_E_INVALID,
                        "unable to find group %s: no matching entries in group file", g);
                out->gid = gq.gid;
            }
            have_group = true;
        }
    }
    if (gid >= 0) {
        out->gid = (uint32_t)gid;
        have_group = true;
    }
    if (!have_group)
        out->gid = have_user ? q.found_gid : 0;
    if (have_user) {
        group_q_t gq = {.member = q.found_name, .user = out};
        db_scan(rootfs, "etc/group", group_match, &gq);
    }
    return 0;
}

/* ---- the tree ----------------------------------------------------------- */

static kr_value_t *strs(kr_arena_t *a, const char *const *v, size_t n)
{
    kr_value_t *arr = kr_value_array(a);
    for (size_t i = 0; i < n; i++)
        kr_value_array_push(a, arr, kr_value_str(a, v[i]));
    return arr;
}

static void set(kr_arena_t *a, kr_value_t *m, const char *k, kr_value_t *v)
{
    kr_value_map_set(a, m, k, v);
}

static void set_str(kr_arena_t *a, kr_value_t *m, const char *k, const char *s)
{
    kr_value_map_set(a, m, k, kr_value_str(a, s));
}

static void set_int(kr_arena_t *a, kr_value_t *m, const char *k, int64_t i)
{
    kr_value_map_set(a, m, k, kr_value_int(a, i));
}

/* Adds "K=V" to env, replacing an earlier entry for K. */
void runc_env_put(kr_arena_t *a, kr_value_t *env, const char *kv)
{
    size_t klen = strcspn(kv, "=");
    for (size_t i = 0; i < kr_value_len(env); i++) {
        const char *e = kr_value_as_str(kr_value_array_get(env, i));
        if (strncmp(e, kv, klen) == 0 && e[klen] == '=') {
            kr_value_array_set(a, env, i, kr_value_str(a, kv));
            return;
        }
    }
    kr_value_array_push(a, env, kr_value_str(a, kv));
}

static kr_value_t *process_env(kr_arena_t *a, const runc_spec_in_t *in)
{
    kr_value_t *env = kr_value_array(a);
    /* containerd's order: a default PATH, the image's, HOSTNAME, the
     * container's own; a later key replaces an earlier one in place. */
    runc_env_put(a, env, DEFAULT_PATH);
    for (size_t i = 0; in->image != NULL && in->image->env != NULL && in->image->env[i]; i++)
        runc_env_put(a, env, in->image->env[i]);
    if (in->hostname != NULL)
        runc_env_put(a, env, kr_arena_printf(a, "HOSTNAME=%s", in->hostname));
    if (in->cfg->tty)
        runc_env_put(a, env, "TERM=xterm"); /* containerd's WithTTY */
    for (size_t i = 0; i < in->cfg->n_env; i++)
        runc_env_put(a, env,
                     kr_arena_printf(a, "%s=%s", in->cfg->env[i].key, in->cfg->env[i].value));
    return env;
}

static kr_value_t *caps_value(kr_arena_t *a, uint64_t caps)
{
    kr_value_t *arr = kr_value_array(a);
    for (int i = 0; i <= RUNC_CAP_LAST; i++)
        if (caps & (UINT64_C(1) << i))
            kr_value_array_push(a, arr, kr_value_str(a, cap_names[i]));
    return arr;
}

static kr_value_t *mount_value(kr_arena_t *a, const char *dest, const char *type,
                               const char *source, const char *const *opts)
{
    kr_value_t *m = kr_value_map(a);
    set_str(a, m, "destination", dest);
    set_str(a, m, "type", type);
    set_str(a, m, "source", source);
    kr_value_t *o = kr_value_array(a);
    for (size_t i = 0; opts[i] != NULL; i++)
        kr_value_array_push(a, o, kr_value_str(a, opts[i]));
    set(a, m, "options", o);
    return m;
}

static bool user_mounts(const runc_spec_in_t *in, const char *dest)
{
    for (size_t i = 0; i < in->cfg->n_mounts; i++) {
        const char *d = in->cfg->mounts[i].container_path;
        size_t n = strlen(d);
        while (n > 1 && d[n - 1] == '/')
            n--;
        if (strlen(dest) == n && strncmp(d, dest, n) == 0)
            return true;
    }
    return false;
}

static int mounts_value(kr_arena_t *a, const runc_spec_in_t *in, kr_value_t **out, kr_error_t *err)
{
    const kr_rt_container_config_t *cfg = in->cfg;
    kr_value_t *ms = kr_value_array(a);
    bool priv = cfg->privileged;
    /* The defaults of containerd's spec, skipping any destination the
     * container mounts itself (the kubelet's /etc/hosts, a volume on
     * /dev/shm). */
    struct {
        const char *dest, *type, *source;
        const char *opts[8];
    } defs[] = {
        {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev", NULL}},
        {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k", NULL}},
        {"/dev/pts",
         "devpts",
         "devpts",
         {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL}},
        {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev", NULL}},
        {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", priv ? "rw" : "ro", NULL}},
        {"/sys/fs/cgroup",
         "cgroup",
         "cgroup",
         {"nosuid", "noexec", "nodev", "relatime", priv ? "rw" : "ro", NULL}},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (!user_mounts(in, defs[i].dest))
            kr_value_array_push(
                a, ms, mount_value(a, defs[i].dest, defs[i].type, defs[i].source, defs[i].opts));
    if (!user_mounts(in, "/dev/shm")) {
        if (in->shm_dir != NULL) {
            const char *o[] = {"rbind", "rprivate", "nosuid", "noexec", "nodev", NULL};
            kr_value_array_push(a, ms, mount_value(a, "/dev/shm", "bind", in->shm_dir, o));
        } else {
            const char *o[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL};
            kr_value_array_push(a, ms, mount_value(a, "/dev/shm", "tmpfs", "shm", o));
        }
    }
    const char *ro = cfg->read_only_rootfs ? "ro" : "rw";
    const char *file_opts[] = {"rbind", "rprivate", ro, NULL};
    if (in->hostname_file != NULL && !user_mounts(in, "/etc/hostname"))
        kr_value_array_push(a, ms,
                            mount_value(a, "/etc/hostname", "bind", in->hostname_file, file_opts));
    if (in->hosts_file != NULL && !user_mounts(in, "/etc/hosts"))
        kr_value_array_push(a, ms, mount_value(a, "/etc/hosts", "bind", in->hosts_file, file_opts));
    for (size_t i = 0; i < cfg->n_mounts; i++) {
        const kr_rt_mount_t *m = &cfg->mounts[i];
        if (m->container_path == NULL || m->container_path[0] != '/')
            return kr_error_set(err, KR_E_INVALID,
                                "mount %zu: container path \"%s\" is not absolute", i,
                                m->container_path ? m->container_path : "");
        if (m->kind == KR_RT_MOUNT_BIND) {
            if (m->host_path == NULL || m->host_path[0] != '/')
                return kr_error_set(err, KR_E_INVALID, "mount %s: host path \"%s\" is not absolute",
                                    m->container_path, m->host_path ? m->host_path : "");
            const char *o[] = {"rbind", "rprivate", m->read_only ? "ro" : "rw", NULL};
            kr_value_array_push(a, ms, mount_value(a, m->container_path, "bind", m->host_path, o));
        } else {
            const char *size =
                m->size_bytes ? kr_arena_printf(a, "size=%llu", (unsigned long long)m->size_bytes)
                              : NULL;
            const char *o[] = {"nosuid", "nodev", "mode=1777", m->read_only ? "ro" : "rw",
                               size,     NULL};
            kr_value_array_push(a, ms, mount_value(a, m->container_path, "tmpfs", "tmpfs", o));
        }
    }
    *out = ms;
    return 0;
}

static kr_value_t *device_rule(kr_arena_t *a, bool allow, const char *type, int64_t major,
                               int64_t minor, const char *access)
{
    kr_value_t *d = kr_value_map(a);
    set(a, d, "allow", kr_value_bool(a, allow));
    if (type != NULL)
        set_str(a, d, "type", type);
    if (major >= 0)
        set_int(a, d, "major", major);
    if (minor >= 0)
        set_int(a, d, "minor", minor);
    set_str(a, d, "access", access);
    return d;
}

static kr_value_t *device_rules(kr_arena_t *a, bool privileged)
{
    kr_value_t *rules = kr_value_array(a);
    if (privileged) {
        kr_value_array_push(a, rules, device_rule(a, true, NULL, -1, -1, "rwm"));
        return rules;
    }
    /* Deny everything, then the devices every container has (runc's and
     * crun's default list) and mknod of any (Docker's default rules). */
    kr_value_array_push(a, rules, device_rule(a, false, NULL, -1, -1, "rwm"));
    static const struct {
        const char *type;
        int major, minor;
        const char *access;
    } allow[] = {
        {"c", -1, -1, "m"}, {"b", -1, -1, "m"}, {"c", 1, 3, "rwm"},    {"c", 1, 5, "rwm"},
        {"c", 1, 7, "rwm"}, {"c", 1, 8, "rwm"}, {"c", 1, 9, "rwm"},    {"c", 5, 0, "rwm"},
        {"c", 5, 1, "rwm"}, {"c", 5, 2, "rwm"}, {"c", 136, -1, "rwm"}, {"c", 10, 200, "rwm"},
    };
    for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++)
        kr_value_array_push(
            a, rules,
            device_rule(a, true, allow[i].type, allow[i].major, allow[i].minor, allow[i].access));
    return rules;
}

/* The host's top-level device nodes, for a privileged container (as
 * containerd's WithDevices of /dev does; subdirectories such as /dev/pts
 * are the container's own). */
static kr_value_t *host_devices(kr_arena_t *a)
{
    kr_value_t *devs = kr_value_array(a);
    DIR *d = opendir("/dev");
    if (d == NULL)
        return devs;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300];
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        struct stat st;
        if (lstat(path, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
            continue;
        /* The container has its own of these. */
        if (strcmp(e->d_name, "console") == 0 || strcmp(e->d_name, "ptmx") == 0 ||
            strcmp(e->d_name, "tty") == 0)
            continue;
        kr_value_t *dev = kr_value_map(a);
        set_str(a, dev, "path", path);
        set_str(a, dev, "type", S_ISCHR(st.st_mode) ? "c" : "b");
        set_int(a, dev, "major", major(st.st_rdev));
        set_int(a, dev, "minor", minor(st.st_rdev));
        set_int(a, dev, "fileMode", st.st_mode & 07777);
        set_int(a, dev, "uid", st.st_uid);
        set_int(a, dev, "gid", st.st_gid);
        kr_value_array_push(a, devs, dev);
    }
    closedir(d);
    return devs;
}

static kr_value_t *namespace(kr_arena_t *a, const char *type, const char *path)
{
    kr_value_t *ns = kr_value_map(a);
    set_str(a, ns, "type", type);
    if (path != NULL)
        set_str(a, ns, "path", path);
    return ns;
}

static kr_value_t *resources_value(kr_arena_t *a, const runc_spec_in_t *in)
{
    const kr_rt_resources_t *r = &in->cfg->resources;
    kr_value_t *res = kr_value_map(a);
    set(a, res, "devices", device_rules(a, in->cfg->privileged));
    if (r->memory_limit > 0) {
        kr_value_t *mem = kr_value_map(a);
        set_int(a, mem, "limit", r->memory_limit);
        /* memory+swap = memory: a container over its limit is OOM-killed
         * instead of swapping (the kubelet's behaviour without swap). */
        if (in->memory_swap)
            set_int(a, mem, "swap", r->memory_limit);
        set(a, res, "memory", mem);
    }
    if (r->cpu_shares > 0 || r->cpu_quota > 0 || r->cpu_period > 0) {
        kr_value_t *cpu = kr_value_map(a);
        if (r->cpu_shares > 0)
            set_int(a, cpu, "shares", (int64_t)(r->cpu_shares < 2 ? 2 : r->cpu_shares));
        if (r->cpu_quota > 0)
            set_int(a, cpu, "quota", r->cpu_quota);
        if (r->cpu_period > 0)
            set_int(a, cpu, "period", (int64_t)r->cpu_period);
        set(a, res, "cpu", cpu);
    }
    if (r->pids_limit > 0) {
        kr_value_t *pids = kr_value_map(a);
        set_int(a, pids, "limit", r->pids_limit);
        set(a, res, "pids", pids);
    }
    return res;
}

int runc_spec_build(kr_arena_t *a, const runc_spec_in_t *in, kr_value_t **out, kr_error_t *err)
{
    const kr_rt_container_config_t *cfg = in->cfg;
    if (cfg->argc == 0 || cfg->argv == NULL || cfg->argv[0] == NULL || cfg->argv[0][0] == '\0')
        return kr_error_set(err, KR_E_INVALID, "container \"%s\": no command specified",
                            cfg->name ? cfg->name : "");
    runc_user_t user;
    if (runc_user_resolve(in->rootfs, in->image ? in->image->user : NULL, cfg->run_as_user,
                          cfg->run_as_group, &user, err) < 0)
        return -KR_E_INVALID;
    uint64_t caps;
    if (runc_caps_resolve(cfg->cap_add, cfg->cap_drop, cfg->privileged, in->cap_bound, &caps, err) <
        0)
        return -KR_E_INVALID;

    kr_value_t *spec = kr_value_map(a);
    set_str(a, spec, "ociVersion", "1.0.2");

    kr_value_t *proc = kr_value_map(a);
    /* a terminal is handed to the shim through --console-socket */
    set(a, proc, "terminal", kr_value_bool(a, cfg->tty));
    kr_value_t *u = kr_value_map(a);
    set_int(a, u, "uid", user.uid);
    set_int(a, u, "gid", user.gid);
    if (user.n_gids > 0) {
        kr_value_t *g = kr_value_array(a);
        for (size_t i = 0; i < user.n_gids; i++)
            kr_value_array_push(a, g, kr_value_int(a, user.gids[i]));
        set(a, u, "additionalGids", g);
    }
    set(a, proc, "user", u);
    set(a, proc, "args", strs(a, cfg->argv, cfg->argc));
    set(a, proc, "env", process_env(a, in));
    const char *cwd = cfg->working_dir;
    if (cwd == NULL || cwd[0] == '\0')
        cwd = in->image && in->image->working_dir && in->image->working_dir[0]
                  ? in->image->working_dir
                  : "/";
    set_str(a, proc, "cwd", cwd);
    kr_value_t *c = kr_value_map(a);
    set(a, c, "bounding", caps_value(a, caps));
    set(a, c, "effective", caps_value(a, caps));
    set(a, c, "permitted", caps_value(a, caps));
    set(a, proc, "capabilities", c);
    /* No rlimits: the runtime leaves the current ones, and one above the
     * hard limit would need CAP_SYS_RESOURCE. */
    set(a, proc, "noNewPrivileges", kr_value_bool(a, false));
    if (cfg->resources.oom_score_adj != 0)
        set_int(a, proc, "oomScoreAdj", cfg->resources.oom_score_adj);
    set(a, spec, "process", proc);

    kr_value_t *root = kr_value_map(a);
    set_str(a, root, "path", in->rootfs);
    set(a, root, "readonly", kr_value_bool(a, cfg->read_only_rootfs));
    set(a, spec, "root", root);

    kr_value_t *mounts = NULL; /* set on success; -O3 cannot see it */
    if (mounts_value(a, in, &mounts, err) < 0)
        return -KR_E_INVALID;
    set(a, spec, "mounts", mounts);

    kr_value_t *linux_ = kr_value_map(a);
    kr_value_t *ns = kr_value_array(a);
    if (!in->host_pid)
        kr_value_array_push(a, ns, namespace(a, "pid", NULL));
    kr_value_array_push(a, ns, namespace(a, "mount", NULL));
    if (in->netns != NULL)
        kr_value_array_push(a, ns, namespace(a, "network", in->netns));
    if (in->ipcns != NULL)
        kr_value_array_push(a, ns, namespace(a, "ipc", in->ipcns));
    if (in->utsns != NULL)
        kr_value_array_push(a, ns, namespace(a, "uts", in->utsns));
    set(a, linux_, "namespaces", ns);
    if (in->cgroups_path != NULL)
        set_str(a, linux_, "cgroupsPath", in->cgroups_path);
    set(a, linux_, "resources", resources_value(a, in));
    if (cfg->privileged) {
        if (in->host_devices)
            set(a, linux_, "devices", host_devices(a));
    } else {
        /* containerd's defaults: what a container has no business reading
         * or writing in /proc and /sys. */
        static const char *const masked[] = {
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
            "/sys/devices/virtual/powercap",
        };
        static const char *const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                               "/proc/sysrq-trigger"};
        set(a, linux_, "maskedPaths", strs(a, masked, sizeof masked / sizeof masked[0]));
        set(a, linux_, "readonlyPaths", strs(a, readonly, sizeof readonly / sizeof readonly[0]));
    }
    set(a, spec, "linux", linux_);
    *out = spec;
    return 0;
}
