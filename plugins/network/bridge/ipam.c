/* network-bridge: the node's pod addresses, one file per address (see
 * ipam.h). */
#include "ipam.h"

#include <kraal/fs.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IPAM_ID_MAX   128 /* longer sandbox ids are refused */
#define IPAM_LAST     "last_reserved_ip.0"
#define IPAM_MIN_PREF 16 /* 65,536 slots at most */

struct br_ipam {
    pthread_mutex_t mu;
    char *dir;
    uint32_t net; /* host order */
    int prefix;
    uint32_t size;             /* addresses in the range */
    char (*slot)[IPAM_ID_MAX]; /* by offset from net; "" = free */
    uint32_t last;             /* offset of the last allocation */
    size_t used;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        abort();
    return p;
}

/* Reads a small file into buf (NUL-terminated, trailing newline cut);
 * -1 when it cannot be read. */
static int read_line(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* Writes `content` as `dir/name`.  With `exclusive`, fails with EEXIST
 * when the file exists (an address somebody holds); else replaces it.
 * Either way readers see the whole content or nothing. */
static int write_atomic(const char *dir, const char *name, const char *content, bool exclusive)
{
    char tmp[4200], path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.%d.%lu", dir, name, (int)getpid(),
             (unsigned long)pthread_self());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(content);
    ssize_t w = write(fd, content, len);
    int saved = errno;
    close(fd);
    if (w != (ssize_t)len) {
        unlink(tmp);
        errno = w < 0 ? saved : EIO;
        return -1;
    }
    int rc = exclusive ? link(tmp, path) : rename(tmp, path);
    saved = errno;
    if (exclusive || rc < 0)
        unlink(tmp);
    errno = saved;
    return rc;
}

static bool parse_cidr(const char *cidr, uint32_t *net, int *prefix)
{
    char buf[64];
    if (cidr == NULL || snprintf(buf, sizeof buf, "%s", cidr) >= (int)sizeof buf)
        return false;
    char *slash = strchr(buf, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    char *end;
    errno = 0;
    long p = strtol(slash + 1, &end, 10);
    struct in_addr a;
    if (*end != '\0' || end == slash + 1 || errno != 0 || p < 0 || p > 32 ||
        inet_pton(AF_INET, buf, &a) != 1)
        return false;
    uint32_t mask = p == 0 ? 0 : 0xffffffffu << (32 - p);
    *net = ntohl(a.s_addr) & mask;
    *prefix = (int)p;
    return true;
}

static void addr_text(uint32_t host, char *buf, size_t size)
{
    struct in_addr a = {.s_addr = htonl(host)};
    inet_ntop(AF_INET, &a, buf, (socklen_t)size);
}

/* Whether an offset may be handed out: not the network, the gateway or
 * the broadcast address. */
static bool usable(const br_ipam_t *ipam, uint32_t off)
{
    return off >= 2 && off < ipam->size - 1;
}

br_ipam_t *br_ipam_open(const char *dir, const char *cidr, kr_error_t *err)
{
    uint32_t net;
    int prefix;
    if (!parse_cidr(cidr, &net, &prefix)) {
        kr_error_set(err, KR_E_INVALID, "invalid CIDR address: %s", cidr ? cidr : "");
        return NULL;
    }
    if (prefix < IPAM_MIN_PREF || prefix > 30) {
        kr_error_set(err, KR_E_INVALID, "pod range %s: the prefix must be between /%d and /30",
                     cidr, IPAM_MIN_PREF);
        return NULL;
    }
    if (kr_mkdir_p(dir, 0755, err) < 0)
        return NULL;
    DIR *d = opendir(dir);
    if (d == NULL) {
        kr_error_set(err, KR_E_INTERNAL, "reading %s: %s", dir, strerror(errno));
        return NULL;
    }
    br_ipam_t *ipam = xcalloc(1, sizeof *ipam);
    pthread_mutex_init(&ipam->mu, NULL);
    ipam->dir = strdup(dir);
    if (ipam->dir == NULL)
        abort();
    ipam->net = net;
    ipam->prefix = prefix;
    ipam->size = 1u << (32 - prefix);
    ipam->slot = xcalloc(ipam->size, sizeof *ipam->slot);
    ipam->last = 1; /* the first allocation is the gateway + 1 */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct in_addr a;
        if (de->d_name[0] == '.' && de->d_name[1] != '\0' && de->d_name[1] != '.') {
            /* a temporary file of a writer killed before its link or rename */
            char tmp[4200];
            snprintf(tmp, sizeof tmp, "%s/%s", dir, de->d_name);
            unlink(tmp);
            continue;
        }
        if (inet_pton(AF_INET, de->d_name, &a) != 1)
            continue;
        uint32_t off = ntohl(a.s_addr) - net;
        if ((ntohl(a.s_addr) & ~(ipam->size - 1)) != net || !usable(ipam, off))
            continue; /* an older range's: gc removes it once its sandbox is gone */
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (read_line(path, ipam->slot[off], sizeof ipam->slot[off]) < 0 ||
            ipam->slot[off][0] == '\0') {
            ipam->slot[off][0] = '\0';
            continue;
        }
        ipam->used++;
    }
    closedir(d);
    char path[4200], last[64];
    snprintf(path, sizeof path, "%s/%s", dir, IPAM_LAST);
    struct in_addr la;
    if (read_line(path, last, sizeof last) == 0 && inet_pton(AF_INET, last, &la) == 1 &&
        (ntohl(la.s_addr) & ~(ipam->size - 1)) == net)
        ipam->last = ntohl(la.s_addr) - net;
    return ipam;
}

void br_ipam_destroy(br_ipam_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    br_ipam_t *ipam = *self_p;
    pthread_mutex_destroy(&ipam->mu);
    free(ipam->slot);
    free(ipam->dir);
    free(ipam);
    *self_p = NULL;
}

struct in_addr br_ipam_network(const br_ipam_t *ipam)
{
    return (struct in_addr){.s_addr = htonl(ipam->net)};
}

int br_ipam_prefix(const br_ipam_t *ipam)
{
    return ipam->prefix;
}

struct in_addr br_ipam_gateway(const br_ipam_t *ipam)
{
    return (struct in_addr){.s_addr = htonl(ipam->net + 1)};
}

static int find_locked(const br_ipam_t *ipam, const char *id, uint32_t *off)
{
    for (uint32_t i = 2; i + 1 < ipam->size; i++)
        if (ipam->slot[i][0] != '\0' && strcmp(ipam->slot[i], id) == 0) {
            *off = i;
            return 0;
        }
    return -1;
}

int br_ipam_alloc(br_ipam_t *ipam, const char *sandbox_id, struct in_addr *out, bool *fresh,
                  kr_error_t *err)
{
    if (sandbox_id == NULL || sandbox_id[0] == '\0' || strlen(sandbox_id) >= IPAM_ID_MAX ||
        strpbrk(sandbox_id, "\n/") != NULL)
        return kr_error_set(err, KR_E_INVALID, "invalid sandbox id \"%s\"",
                            sandbox_id ? sandbox_id : "");
    pthread_mutex_lock(&ipam->mu);
    uint32_t off;
    if (find_locked(ipam, sandbox_id, &off) == 0) {
        pthread_mutex_unlock(&ipam->mu);
        *out = (struct in_addr){.s_addr = htonl(ipam->net + off)};
        if (fresh != NULL)
            *fresh = false;
        return 0;
    }
    /* round robin from the last allocation, as host-local */
    uint32_t span = ipam->size - 3;
    uint32_t base = usable(ipam, ipam->last) ? ipam->last - 2 : span - 1;
    for (uint32_t k = 1; k <= span; k++) {
        off = 2 + (base + k) % span;
        if (ipam->slot[off][0] != '\0')
            continue;
        char name[INET_ADDRSTRLEN], content[IPAM_ID_MAX + 1];
        addr_text(ipam->net + off, name, sizeof name);
        snprintf(content, sizeof content, "%s", sandbox_id);
        if (write_atomic(ipam->dir, name, content, true) < 0) {
            if (errno == EEXIST) {
                /* a file we did not know (another process's): not ours to take */
                char path[4200];
                snprintf(path, sizeof path, "%s/%s", ipam->dir, name);
                if (read_line(path, ipam->slot[off], sizeof ipam->slot[off]) == 0 &&
                    ipam->slot[off][0] != '\0') {
                    ipam->used++;
                    continue;
                }
                ipam->slot[off][0] = '\0';
                continue;
            }
            int e = errno;
            pthread_mutex_unlock(&ipam->mu);
            return kr_error_set(err, KR_E_INTERNAL, "failed to reserve %s: %s", name, strerror(e));
        }
        snprintf(ipam->slot[off], sizeof ipam->slot[off], "%s", sandbox_id);
        ipam->used++;
        ipam->last = off;
        /* best effort: only spreads reuse across restarts */
        (void)write_atomic(ipam->dir, IPAM_LAST, name, false);
        pthread_mutex_unlock(&ipam->mu);
        *out = (struct in_addr){.s_addr = htonl(ipam->net + off)};
        if (fresh != NULL)
            *fresh = true;
        return 0;
    }
    pthread_mutex_unlock(&ipam->mu);
    char lo[INET_ADDRSTRLEN], hi[INET_ADDRSTRLEN];
    addr_text(ipam->net + 2, lo, sizeof lo);
    addr_text(ipam->net + ipam->size - 2, hi, sizeof hi);
    return kr_error_set(err, KR_E_CONFLICT, "no IP addresses available in range set: %s-%s", lo,
                        hi);
}

int br_ipam_lookup(br_ipam_t *ipam, const char *sandbox_id, struct in_addr *out)
{
    pthread_mutex_lock(&ipam->mu);
    uint32_t off;
    int rc = find_locked(ipam, sandbox_id, &off);
    pthread_mutex_unlock(&ipam->mu);
    if (rc < 0)
        return -KR_E_NOT_FOUND;
    *out = (struct in_addr){.s_addr = htonl(ipam->net + off)};
    return 0;
}

/* Removes the file of a slot and frees it; lock held. */
static int release_locked(br_ipam_t *ipam, uint32_t off, kr_error_t *err)
{
    char name[INET_ADDRSTRLEN], path[4200];
    addr_text(ipam->net + off, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", ipam->dir, name);
    if (unlink(path) < 0 && errno != ENOENT)
        return kr_error_set(err, KR_E_INTERNAL, "releasing %s: %s", name, strerror(errno));
    ipam->slot[off][0] = '\0';
    ipam->used--;
    return 0;
}

int br_ipam_release(br_ipam_t *ipam, const char *sandbox_id, kr_error_t *err)
{
    int n = 0;
    pthread_mutex_lock(&ipam->mu);
    for (uint32_t i = 2; i + 1 < ipam->size; i++)
        if (ipam->slot[i][0] != '\0' && strcmp(ipam->slot[i], sandbox_id) == 0) {
            if (release_locked(ipam, i, err) < 0) {
                pthread_mutex_unlock(&ipam->mu);
                return -KR_E_INTERNAL;
            }
            n++;
        }
    pthread_mutex_unlock(&ipam->mu);
    return n;
}

static bool is_live(const char *id, const char *const *live, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (live[i] != NULL && strcmp(live[i], id) == 0)
            return true;
    return false;
}

int br_ipam_gc(br_ipam_t *ipam, const char *const *live, size_t n_live,
               void (*on_release)(const char *sandbox_id, void *ud), void *ud, kr_error_t *err)
{
    pthread_mutex_lock(&ipam->mu);
    DIR *d = opendir(ipam->dir);
    if (d == NULL) {
        pthread_mutex_unlock(&ipam->mu);
        return kr_error_set(err, KR_E_INTERNAL, "reading %s: %s", ipam->dir, strerror(errno));
    }
    /* the directory, not the table: it also holds an older range's files */
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct in_addr a;
        if (de->d_name[0] == '.' || inet_pton(AF_INET, de->d_name, &a) != 1)
            continue;
        char path[4200], id[IPAM_ID_MAX];
        snprintf(path, sizeof path, "%s/%s", ipam->dir, de->d_name);
        if (read_line(path, id, sizeof id) < 0 || is_live(id, live, n_live))
            continue;
        uint32_t host = ntohl(a.s_addr), off = host - ipam->net;
        bool in_range = (host & ~(ipam->size - 1)) == ipam->net && usable(ipam, off) &&
                        strcmp(ipam->slot[off], id) == 0;
        if (in_range) {
            if (release_locked(ipam, off, err) < 0)
                continue;
        } else if (unlink(path) < 0) {
            continue;
        }
        if (on_release != NULL)
            on_release(id, ud);
        n++;
    }
    closedir(d);
    pthread_mutex_unlock(&ipam->mu);
    return n;
}

size_t br_ipam_used(br_ipam_t *ipam)
{
    pthread_mutex_lock(&ipam->mu);
    size_t n = ipam->used;
    pthread_mutex_unlock(&ipam->mu);
    return n;
}
