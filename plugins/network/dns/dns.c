/* network-dns: the cluster DNS server (CoreDNS's job for the cluster
 * domain), a plugin of the server process.
 *
 * Informers on Services, EndpointSlices and Endpoints feed the name index
 * (index.c); UDP and TCP listeners on the plugin's loop answer from it
 * (answer.c) and forward every other name to the upstream resolvers
 * (forward.c), asynchronously on the same loop; the keeper (kubedns.c)
 * keeps kube-system/kube-dns pointing here.  Until the Services and
 * Endpoints have been listed once, names of the cluster domain get
 * SERVFAIL rather than an NXDOMAIN a client would cache.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include <kraal/informer.h>
#include <kraal/plugin.h>

#include "answer.h"
#include "cache.h"
#include "forward.h"
#include "index.h"
#include "kubedns.h"

#define DNS_DEFAULT_PORT 53
#define UDP_BATCH        64 /* datagrams per wake-up, so TCP clients get their turn */
#define TCP_MAX_OUT      (256u << 10)
#define MAX_UPSTREAMS    8
#define RESOLV_CONF      "/etc/resolv.conf"
#define RESOLV_MAXNS     3 /* glibc's MAXNS */

struct dns_conf {
    const char *listen;
    const char *advertise;
    const char *domain;
    int64_t ttl_ms;
    const kr_value_t *upstream;
    int64_t upstream_timeout_ms;
    int64_t cache_ms;
    int64_t cache_size;
    int64_t max_forwards;
    int64_t max_tcp_connections;
    int64_t tcp_idle_timeout_ms;
    const char *cluster_ip;
    bool manage_service;
};

static const kr_config_entry_t dns_table[] = {
    {KR_CFG_STRING, "listen", NULL, offsetof(struct dns_conf, listen),
     "address:port served over UDP and TCP (default: the host's first non-loopback IPv4, "
     "port 53)"},
    {KR_CFG_STRING, "advertise", NULL, offsetof(struct dns_conf, advertise),
     "address the kube-dns endpoints point at (default: the listen address)"},
    {KR_CFG_STRING, "domain", "cluster.local", offsetof(struct dns_conf, domain),
     "the cluster domain (the agents' cluster_domain)"},
    {KR_CFG_DURATION, "ttl", "30s", offsetof(struct dns_conf, ttl_ms),
     "TTL of the records answered, and of negative answers (kube-dns's 30 s)"},
    {KR_CFG_VALUE, "upstream", NULL, offsetof(struct dns_conf, upstream),
     "resolvers other names go to: a list of address[:port] (default: the nameservers of "
     "/etc/resolv.conf)"},
    {KR_CFG_DURATION, "upstream_timeout", "2s", offsetof(struct dns_conf, upstream_timeout_ms),
     "wait for one upstream before the next is asked; SERVFAIL when none answered"},
    {KR_CFG_DURATION, "cache", "30s", offsetof(struct dns_conf, cache_ms),
     "upstream answers are kept for their TTL, at most this long (CoreDNS's cache 30); 0s: "
     "no cache"},
    {KR_CFG_INT, "cache_size", "9984", offsetof(struct dns_conf, cache_size),
     "upstream answers kept at most (CoreDNS's default capacity); the least recently used go"},
    {KR_CFG_INT, "max_forwards", "1024", offsetof(struct dns_conf, max_forwards),
     "forwarded queries in flight at most (more get SERVFAIL)"},
    {KR_CFG_INT, "max_tcp_connections", "256", offsetof(struct dns_conf, max_tcp_connections),
     "TCP clients at once (more are closed at once)"},
    {KR_CFG_DURATION, "tcp_idle_timeout", "10s", offsetof(struct dns_conf, tcp_idle_timeout_ms),
     "an idle TCP connection is closed after this long"},
    {KR_CFG_STRING, "cluster_ip", "10.96.0.10", offsetof(struct dns_conf, cluster_ip),
     "spec.clusterIP of the kube-system/kube-dns Service (the agents' cluster_dns)"},
    {KR_CFG_BOOL, "manage_service", "true", offsetof(struct dns_conf, manage_service),
     "keep the kube-dns Service, EndpointSlice and Endpoints pointing here"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct dns_srv dns_srv_t;

typedef struct tcp_conn {
    struct tcp_conn *prev, *next;
    dns_srv_t *s;
    int fd;
    uint64_t id;
    uint64_t idle_timer;
    bool writing;
    kr_buf_t in, out;
    size_t out_off;
} tcp_conn_t;

typedef struct dns_stats {
    uint64_t queries, answered, forwarded, cache_hits, servfail, dropped, tcp_accepted;
} dns_stats_t;

struct dns_srv {
    kr_plugin_ctx_t *ctx;
    kr_loop_t *loop;
    kr_bus_t *bus;
    struct dns_conf conf;
    char *domain;
    dns_zone_conf_t zone;
    dns_index_t *idx;
    kr_informer_t *svcs, *slices, *eps;
    dns_keeper_t *keeper;
    dns_fwd_t *fwd;
    dns_cache_t *cache;
    struct sockaddr_storage listen_addr;
    int udp_fd, tcp_fd;
    tcp_conn_t *conns;
    size_t nconns;
    uint64_t next_conn_id;
    dns_stats_t stats;
};

/* ---- addresses ------------------------------------------------------------------------------- */

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static uint16_t sa_port(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                           : ((const struct sockaddr_in *)ss)->sin_port);
}

static const char *sa_ip(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    return inet_ntop(ss->ss_family, a, buf, (socklen_t)size);
}

static bool sa_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    char x[INET6_ADDRSTRLEN], y[INET6_ADDRSTRLEN];
    return a->ss_family == b->ss_family && sa_port(a) == sa_port(b) &&
           strcmp(sa_ip(a, x, sizeof x), sa_ip(b, y, sizeof y)) == 0;
}

/* "1.2.3.4", "1.2.3.4:53", "::1", "[::1]:53" */
static bool parse_hostport(const char *s, uint16_t dflt_port, struct sockaddr_storage *out)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *port = NULL;
    memset(out, 0, sizeof *out);
    if (s == NULL || *s == '\0')
        return false;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || (size_t)(end - s - 1) >= sizeof host)
            return false;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0')
            return false;
    } else {
        const char *colon = strchr(s, ':');
        bool v4port = colon != NULL && strchr(colon + 1, ':') == NULL;
        size_t len = v4port ? (size_t)(colon - s) : strlen(s);
        if (len >= sizeof host)
            return false;
        memcpy(host, s, len);
        host[len] = '\0';
        port = v4port ? colon + 1 : NULL;
    }
    long p = dflt_port;
    if (port != NULL) {
        char *end;
        p = strtol(port, &end, 10);
        if (*port == '\0' || *end != '\0' || p < 1 || p > 65535)
            return false;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        return true;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        return true;
    }
    return false;
}

/* The host's first non-loopback IPv4 address that is up. */
static bool default_listen(struct sockaddr_storage *out, kr_error_t *err)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) < 0) {
        kr_error_set(err, KR_E_INTERNAL, "listen: getifaddrs: %s", strerror(errno));
        return false;
    }
    bool found = false;
    for (struct ifaddrs *i = ifs; i != NULL && !found; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
            (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
            continue;
        memset(out, 0, sizeof *out);
        memcpy(out, i->ifa_addr, sizeof(struct sockaddr_in));
        ((struct sockaddr_in *)out)->sin_port = htons(DNS_DEFAULT_PORT);
        found = true;
    }
    freeifaddrs(ifs);
    if (!found)
        kr_error_set(err, KR_E_INVALID,
                     "listen: the host has no non-loopback IPv4 address; set listen");
    return found;
}

/* The nameservers of /etc/resolv.conf (at most glibc's three). */
static size_t resolv_conf_upstreams(struct sockaddr_storage *ups, size_t max)
{
    FILE *f = fopen(RESOLV_CONF, "re");
    if (f == NULL)
        return 0;
    char line[512];
    size_t n = 0;
    while (n < max && n < RESOLV_MAXNS && fgets(line, sizeof line, f) != NULL) {
        char addr[256];
        if (sscanf(line, " nameserver %255s", addr) == 1 && parse_hostport(addr, 53, &ups[n]))
            n++;
    }
    fclose(f);
    return n;
}

static int config_upstreams(const kr_value_t *v, struct sockaddr_storage *ups, size_t *n,
                            kr_error_t *err)
{
    *n = 0;
    if (v == NULL || kr_value_type(v) == KR_NULL) {
        *n = resolv_conf_upstreams(ups, MAX_UPSTREAMS);
        return 0;
    }
    size_t count = kr_value_type(v) == KR_ARRAY ? kr_value_len(v) : 1;
    if (kr_value_type(v) != KR_ARRAY && kr_value_type(v) != KR_STR)
        return kr_error_set(err, KR_E_INVALID, "upstream: must be a list of address[:port]");
    if (count > MAX_UPSTREAMS)
        return kr_error_set(err, KR_E_INVALID, "upstream: at most %d resolvers", MAX_UPSTREAMS);
    for (size_t i = 0; i < count; i++) {
        const kr_value_t *item = kr_value_type(v) == KR_ARRAY ? kr_value_array_get(v, i) : v;
        const char *s = kr_value_as_str(item);
        if (!parse_hostport(s, 53, &ups[*n]))
            return kr_error_set(err, KR_E_INVALID, "upstream[%zu]: %s%s%s: not an address[:port]",
                                i, s ? "\"" : "", s ? s : "not a string", s ? "\"" : "");
        (*n)++;
    }
    return 0;
}

/* ---- answering ----------------------------------------------------------------------------------- */

static void conn_send(tcp_conn_t *c, const uint8_t *msg, size_t len);

static tcp_conn_t *conn_find(dns_srv_t *s, uint64_t id)
{
    for (tcp_conn_t *c = s->conns; c != NULL; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static void reply_to(dns_srv_t *s, const dns_client_t *client, const uint8_t *msg, size_t len)
{
    if (client->conn_id != 0) {
        tcp_conn_t *c = conn_find(s, client->conn_id);
        if (c != NULL) /* gone meanwhile: nobody to tell */
            conn_send(c, msg, len);
        return;
    }
    if (sendto(s->udp_fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)&client->addr,
               client->addrlen) < 0)
        s->stats.dropped++;
}

static void servfail(dns_srv_t *s, const uint8_t *q, size_t len, const dns_client_t *client)
{
    size_t outlen;
    uint8_t *out = dns_answer_rcode(q, len, LDNS_RCODE_SERVFAIL, &outlen);
    s->stats.servfail++;
    if (out != NULL)
        reply_to(s, client, out, outlen);
    free(out);
}

/* The ExternalName's CNAME reply `cname` with the upstream's answer for
 * its target. */
static void merge_send(dns_srv_t *s, const uint8_t *cname, size_t clen, const uint8_t *reply,
                       size_t len, const dns_client_t *client)
{
    size_t outlen;
    uint8_t *out = dns_chase_merge(cname, clen, reply, len, client->conn_id != 0, &outlen);
    if (out != NULL)
        reply_to(s, client, out, outlen);
    else
        servfail(s, cname, clen, client);
    free(out);
}

static void on_forwarded(const uint8_t *reply, size_t len, const uint8_t *query, size_t qlen,
                         const uint8_t *ctx, size_t ctx_len, const dns_client_t *client, void *ud)
{
    dns_srv_t *s = ud;
    if (reply == NULL) {
        /* a chase answers the client's question, which ctx holds */
        servfail(s, ctx != NULL ? ctx : query, ctx != NULL ? ctx_len : qlen, client);
        return;
    }
    dns_cache_put(s->cache, query, qlen, reply, len, kr_time_ms());
    if (ctx == NULL)
        reply_to(s, client, reply, len);
    else
        merge_send(s, ctx, ctx_len, reply, len, client);
}

/* An answer from the cache, sent; false on a miss. */
static bool from_cache(dns_srv_t *s, const uint8_t *q, size_t len, const uint8_t *cname,
                       size_t clen, const dns_client_t *client)
{
    size_t outlen;
    uint8_t *hit = dns_cache_get(s->cache, q, len, client->conn_id != 0, kr_time_ms(), &outlen);
    if (hit == NULL)
        return false;
    s->stats.cache_hits++;
    if (cname != NULL)
        merge_send(s, cname, clen, hit, outlen, client);
    else
        reply_to(s, client, hit, outlen);
    free(hit);
    return true;
}

/* The ExternalName's CNAME `out`, with its target resolved upstream. */
static void chase(dns_srv_t *s, uint8_t *out, size_t outlen, const dns_client_t *client)
{
    size_t qlen = 0;
    uint8_t *q = dns_chase_query(out, outlen, &qlen);
    kr_error_t err;
    bool answered = q != NULL && from_cache(s, q, qlen, out, outlen, client);
    if (!answered && (q == NULL || dns_fwd_query(s->fwd, q, qlen, out, outlen, client, &err) < 0))
        reply_to(s, client, out, outlen); /* the CNAME alone: the client may go on */
    else if (!answered)
        s->stats.forwarded++;
    free(q);
}

static bool synced(const dns_srv_t *s)
{
    return kr_informer_has_synced(s->svcs) && kr_informer_has_synced(s->eps);
}

static void handle_query(dns_srv_t *s, const uint8_t *q, size_t len, const dns_client_t *client)
{
    s->stats.queries++;
    uint8_t *out = NULL;
    size_t outlen = 0;
    dns_verdict_t v = dns_answer(s->idx, &s->zone, q, len, client->conn_id != 0, &out, &outlen);
    if (v == DNS_DROP) {
        s->stats.dropped++;
        return;
    }
    if (v != DNS_FORWARD && !synced(s)) {
        free(out);
        servfail(s, q, len, client);
        return;
    }
    if (v != DNS_FORWARD) {
        s->stats.answered++;
        if (v == DNS_CHASE)
            chase(s, out, outlen, client);
        else
            reply_to(s, client, out, outlen);
        free(out);
        return;
    }
    if (from_cache(s, q, len, NULL, 0, client))
        return;
    kr_error_t err;
    if (dns_fwd_query(s->fwd, q, len, NULL, 0, client, &err) < 0) {
        kr_plugin_log(s->ctx, KR_LOG_DEBUG, err.message, "action=forward");
        servfail(s, q, len, client);
        return;
    }
    s->stats.forwarded++;
}

/* ---- UDP ------------------------------------------------------------------------------------------ */

static void on_udp(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)events;
    dns_srv_t *s = ud;
    uint8_t buf[65536];
    for (int i = 0; i < UDP_BATCH; i++) {
        dns_client_t client = {.addrlen = sizeof client.addr};
        ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&client.addr,
                             &client.addrlen);
        if (n < 0)
            return; /* EAGAIN, or an ICMP error of an earlier reply */
        handle_query(s, buf, (size_t)n, &client);
    }
}

/* ---- TCP (RFC 7766: length-prefixed messages, several per connection) -------------------------- */

static void conn_close(tcp_conn_t *c)
{
    dns_srv_t *s = c->s;
    kr_loop_remove_fd(s->loop, c->fd);
    close(c->fd);
    if (c->idle_timer != 0)
        kr_loop_cancel_timer(s->loop, c->idle_timer);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->nconns--;
    kr_buf_free(&c->in);
    kr_buf_free(&c->out);
    free(c);
}

static void on_idle(kr_loop_t *loop, uint64_t timer_id, void *ud)
{
    (void)loop;
    (void)timer_id;
    tcp_conn_t *c = ud;
    c->idle_timer = 0;
    conn_close(c);
}

static void conn_touch(tcp_conn_t *c)
{
    if (c->idle_timer != 0)
        kr_loop_cancel_timer(c->s->loop, c->idle_timer);
    c->idle_timer =
        kr_loop_add_timer(c->s->loop, (uint64_t)c->s->conf.tcp_idle_timeout_ms, 0, on_idle, c);
}

/* Writes what it can; false when the connection was closed. */
static bool conn_flush(tcp_conn_t *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_close(c);
                return false;
            }
            if (!c->writing) {
                kr_loop_mod_fd(c->s->loop, c->fd, KR_LOOP_READ | KR_LOOP_WRITE, NULL);
                c->writing = true;
            }
            return true;
        }
        c->out_off += (size_t)n;
    }
    kr_buf_reset(&c->out);
    c->out_off = 0;
    if (c->writing) {
        kr_loop_mod_fd(c->s->loop, c->fd, KR_LOOP_READ, NULL);
        c->writing = false;
    }
    return true;
}

static void conn_send(tcp_conn_t *c, const uint8_t *msg, size_t len)
{
    if (c->out.len - c->out_off + len > TCP_MAX_OUT) {
        conn_close(c); /* a client that does not read its answers */
        return;
    }
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    kr_buf_append(&c->out, hdr, 2);
    kr_buf_append(&c->out, msg, len);
    conn_flush(c);
}

static void on_conn(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    tcp_conn_t *c = ud;
    if ((events & KR_LOOP_WRITE) && !conn_flush(c))
        return;
    if (!(events & (KR_LOOP_READ | KR_LOOP_ERROR)))
        return;
    uint8_t buf[16384];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (n < 0)
        return;
    kr_buf_append(&c->in, buf, (size_t)n);
    conn_touch(c);
    size_t off = 0;
    uint64_t id = c->id;
    dns_srv_t *s = c->s;
    while (c->in.len - off >= 2) {
        const uint8_t *p = (const uint8_t *)c->in.data + off;
        size_t len = (size_t)p[0] << 8 | p[1];
        if (c->in.len - off < 2 + len)
            break;
        dns_client_t client = {.conn_id = id};
        handle_query(s, p + 2, len, &client);
        if (conn_find(s, id) == NULL)
            return; /* closed while answering */
        off += 2 + len;
    }
    if (off > 0) {
        memmove(c->in.data, c->in.data + off, c->in.len - off);
        c->in.len -= off;
        c->in.data[c->in.len] = '\0';
    }
}

static void on_accept(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)events;
    dns_srv_t *s = ud;
    for (int i = 0; i < 16; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        if (s->nconns >= (size_t)s->conf.max_tcp_connections) {
            close(cfd);
            continue;
        }
        tcp_conn_t *c = calloc(1, sizeof *c);
        if (c == NULL)
            abort();
        c->s = s;
        c->fd = cfd;
        c->id = ++s->next_conn_id;
        if (kr_loop_add_fd(loop, cfd, KR_LOOP_READ, on_conn, c, NULL) < 0) {
            close(cfd);
            free(c);
            continue;
        }
        c->next = s->conns;
        if (s->conns != NULL)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
        s->stats.tcp_accepted++;
        conn_touch(c);
    }
}

static int open_listener(dns_srv_t *s, int type, kr_error_t *err)
{
    char ip[INET6_ADDRSTRLEN];
    sa_ip(&s->listen_addr, ip, sizeof ip);
    int fd = socket(s->listen_addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    /* TCP only: past connections in TIME_WAIT must not keep a restarted
     * server off its port; on UDP the option would let a second server
     * share the port silently */
    if (fd < 0 ||
        (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) ||
        bind(fd, (const struct sockaddr *)&s->listen_addr, sa_len(&s->listen_addr)) < 0 ||
        (type == SOCK_STREAM && listen(fd, 128) < 0)) {
        kr_error_set(err, KR_E_INTERNAL, "listen %s %s:%u: %s", type == SOCK_STREAM ? "tcp" : "udp",
                     ip, sa_port(&s->listen_addr), strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* ---- informers ---------------------------------------------------------------------------------- */

static void changed(dns_srv_t *s, const kr_value_t *obj)
{
    if (dns_keeper_is_ours(obj))
        dns_keeper_poke(s->keeper);
}

#define DNS_HANDLERS(kind, set, del)                                               \
    static void kind##_add(kr_informer_t *inf, const kr_value_t *obj, void *ud)    \
    {                                                                              \
        (void)inf;                                                                 \
        dns_srv_t *s = ud;                                                         \
        set(s->idx, obj);                                                          \
        changed(s, obj);                                                           \
    }                                                                              \
    static void kind##_update(kr_informer_t *inf, const kr_value_t *old_obj,       \
                              const kr_value_t *new_obj, void *ud)                 \
    {                                                                              \
        (void)inf;                                                                 \
        if (old_obj == new_obj)                                                    \
            return; /* a resync: nothing new */                                    \
        dns_srv_t *s = ud;                                                         \
        set(s->idx, new_obj);                                                      \
        changed(s, new_obj);                                                       \
    }                                                                              \
    static void kind##_delete(kr_informer_t *inf, const kr_value_t *obj, void *ud) \
    {                                                                              \
        (void)inf;                                                                 \
        dns_srv_t *s = ud;                                                         \
        del(s->idx, obj);                                                          \
        changed(s, obj);                                                           \
    }

DNS_HANDLERS(svc, dns_index_set_service, dns_index_del_service)
DNS_HANDLERS(slice, dns_index_set_slice, dns_index_del_slice)
DNS_HANDLERS(eps, dns_index_set_endpoints, dns_index_del_endpoints)

static void on_inf_error(kr_informer_t *inf, const kr_error_t *err, uint64_t retry_ms, void *ud)
{
    (void)inf;
    dns_srv_t *s = ud;
    kr_plugin_log(s->ctx, KR_LOG_DEBUG, err->message, "retry_ms=%llu",
                  (unsigned long long)retry_ms);
}

/* ---- what the informers keep: the fields the index reads (the kube-dns
 * objects whole, as the keeper writes them back) ---------------------------------------------- */

/* A map of the keys of src named in `keys` (values shared with src: the
 * informer copies the result). */
static kr_value_t *pick(kr_arena_t *a, const kr_value_t *src, const char *const *keys)
{
    kr_value_t *m = kr_value_map(a);
    for (; *keys != NULL; keys++) {
        kr_value_t *v = kr_value_map_get(src, *keys);
        if (v != NULL)
            kr_value_map_set(a, m, *keys, v);
    }
    return m;
}

static void pick_items(kr_arena_t *a, kr_value_t *dst, const kr_value_t *src, const char *key,
                       const char *const *keys)
{
    const kr_value_t *arr = kr_value_map_get(src, key);
    if (kr_value_type(arr) != KR_ARRAY)
        return;
    kr_value_t *out = kr_value_array(a);
    for (size_t i = 0; i < kr_value_len(arr); i++)
        kr_value_array_push(a, out, pick(a, kr_value_array_get(arr, i), keys));
    kr_value_map_set(a, dst, key, out);
}

static kr_value_t *pick_meta(kr_arena_t *a, const kr_value_t *obj)
{
    static const char *const meta[] = {"name", "namespace", "resourceVersion", "labels", NULL};
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "metadata", pick(a, kr_value_map_get(obj, "metadata"), meta));
    return m;
}

static const char *const port_keys[] = {"name", "protocol", "port", NULL};

static const kr_value_t *keep_service(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const spec_keys[] = {"type", "clusterIP", "clusterIPs", "externalName",
                                            NULL};
    if (dns_keeper_is_ours(obj))
        return NULL;
    kr_value_t *m = pick_meta(a, obj);
    const kr_value_t *spec = kr_value_map_get(obj, "spec");
    kr_value_t *ks = pick(a, spec, spec_keys);
    pick_items(a, ks, spec, "ports", port_keys);
    kr_value_map_set(a, m, "spec", ks);
    return m;
}

static const kr_value_t *keep_slice(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const ep_keys[] = {"addresses", "hostname", "conditions", NULL};
    if (dns_keeper_is_ours(obj))
        return NULL;
    kr_value_t *m = pick_meta(a, obj);
    kr_value_t *at = kr_value_map_get(obj, "addressType");
    if (at != NULL)
        kr_value_map_set(a, m, "addressType", at);
    pick_items(a, m, obj, "endpoints", ep_keys);
    pick_items(a, m, obj, "ports", port_keys);
    return m;
}

static const kr_value_t *keep_endpoints(kr_arena_t *a, const kr_value_t *obj, void *ud)
{
    (void)ud;
    static const char *const addr_keys[] = {"ip", "hostname", NULL};
    if (dns_keeper_is_ours(obj))
        return NULL;
    kr_value_t *m = pick_meta(a, obj);
    const kr_value_t *subsets = kr_value_map_get(obj, "subsets");
    kr_value_t *out = kr_value_array(a);
    for (size_t i = 0; i < kr_value_len(subsets); i++) {
        const kr_value_t *sub = kr_value_array_get(subsets, i);
        kr_value_t *ks = kr_value_map(a);
        pick_items(a, ks, sub, "addresses", addr_keys);
        pick_items(a, ks, sub, "notReadyAddresses", addr_keys);
        pick_items(a, ks, sub, "ports", port_keys);
        kr_value_array_push(a, out, ks);
    }
    kr_value_map_set(a, m, "subsets", out);
    return m;
}

static kr_informer_t *informer(dns_srv_t *s, const char *res, const char *name,
                               kr_informer_handlers_t h, kr_informer_transform_fn keep,
                               kr_error_t *err)
{
    kr_informer_opts_t o = {
        .res = res, .name = name, .handlers = h, .on_error = on_inf_error, .error_ud = s};
    kr_informer_t *inf = kr_informer_new(s->loop, s->bus, &o, err);
    if (inf != NULL &&
        (kr_informer_set_transform(inf, keep, NULL, err) < 0 || kr_informer_start(inf, err) < 0))
        kr_informer_destroy(&inf);
    return inf;
}

/* ---- stats ---------------------------------------------------------------------------------------- */

static void on_stats(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    dns_srv_t *s = ud;
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *o = kr_value_map(a);
    char ip[INET6_ADDRSTRLEN];
    kr_value_map_set(
        a, o, "listen",
        kr_value_str(a, kr_arena_printf(a, "%s:%u", sa_ip(&s->listen_addr, ip, sizeof ip),
                                        sa_port(&s->listen_addr))));
    kr_value_map_set(a, o, "synced", kr_value_bool(a, synced(s)));
    kr_value_map_set(a, o, "services", kr_value_int(a, (int64_t)dns_index_services(s->idx)));
#define STAT(f) kr_value_map_set(a, o, #f, kr_value_int(a, (int64_t)s->stats.f))
    STAT(queries);
    STAT(answered);
    STAT(forwarded);
    STAT(cache_hits);
    STAT(servfail);
    STAT(dropped);
    STAT(tcp_accepted);
#undef STAT
    kr_value_map_set(a, o, "cache_entries", kr_value_int(a, (int64_t)dns_cache_len(s->cache)));
    kr_value_map_set(a, o, "forwards_in_flight", kr_value_int(a, (int64_t)dns_fwd_pending(s->fwd)));
    kr_call_reply(call, 200, o, NULL);
}

/* ---- life cycle ---------------------------------------------------------------------------------- */

static void dns_fini(void *instance)
{
    dns_srv_t *s = instance;
    dns_keeper_destroy(&s->keeper);
    while (s->conns != NULL)
        conn_close(s->conns);
    for (int i = 0; i < 2; i++) {
        int fd = i == 0 ? s->udp_fd : s->tcp_fd;
        if (fd >= 0) {
            kr_loop_remove_fd(s->loop, fd);
            close(fd);
        }
    }
    dns_fwd_destroy(&s->fwd);
    dns_cache_destroy(&s->cache);
    kr_informer_destroy(&s->svcs);
    kr_informer_destroy(&s->slices);
    kr_informer_destroy(&s->eps);
    dns_index_destroy(&s->idx);
    free(s->domain);
    free(s);
}

static int check_conf(dns_srv_t *s, kr_error_t *err)
{
    const struct dns_conf *c = &s->conf;
    if (c->ttl_ms < 0 || c->ttl_ms % 1000 != 0 || c->ttl_ms > 86400000)
        return kr_error_set(err, KR_E_INVALID, "ttl: must be whole seconds between 0s and 24h");
    if (c->upstream_timeout_ms < 1)
        return kr_error_set(err, KR_E_INVALID, "upstream_timeout: must be > 0");
    if (c->tcp_idle_timeout_ms < 1)
        return kr_error_set(err, KR_E_INVALID, "tcp_idle_timeout: must be > 0");
    if (c->cache_ms < 0 || c->cache_ms > 86400000)
        return kr_error_set(err, KR_E_INVALID, "cache: must be between 0s and 24h");
    if (c->cache_size < 0 || c->cache_size > 1000000)
        return kr_error_set(err, KR_E_INVALID, "cache_size: must be between 0 and 1000000");
    if (c->max_forwards < 1 || c->max_forwards > 65536)
        return kr_error_set(err, KR_E_INVALID, "max_forwards: must be between 1 and 65536");
    if (c->max_tcp_connections < 1 || c->max_tcp_connections > 65536)
        return kr_error_set(err, KR_E_INVALID, "max_tcp_connections: must be between 1 and 65536");
    /* the domain, lowercase, without the root's dot; a valid DNS name */
    size_t len = strlen(c->domain);
    s->domain = strdup(c->domain);
    if (s->domain == NULL)
        abort();
    while (len > 0 && s->domain[len - 1] == '.')
        s->domain[--len] = '\0';
    for (char *p = s->domain; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    /* room below it for the zone's own names and usual Service names in
     * DNS's 255 bytes (a name that still does not fit gets no record) */
    if (len > 128)
        return kr_error_set(err, KR_E_INVALID, "domain: must be at most 128 characters");
    ldns_rdf *probe = len > 0 ? ldns_dname_new_frm_str(s->domain) : NULL;
    if (probe == NULL || strchr(s->domain, '\\') != NULL) {
        ldns_rdf_deep_free(probe);
        return kr_error_set(err, KR_E_INVALID, "domain: \"%s\": not a DNS domain name", c->domain);
    }
    ldns_rdf_deep_free(probe);
    dns_ip_t probe_ip;
    if (!dns_ip_parse(c->cluster_ip, &probe_ip))
        return kr_error_set(err, KR_E_INVALID, "cluster_ip: \"%s\": must be a valid IP address",
                            c->cluster_ip ? c->cluster_ip : "");
    if (c->listen != NULL && !parse_hostport(c->listen, DNS_DEFAULT_PORT, &s->listen_addr))
        return kr_error_set(err, KR_E_INVALID, "listen: \"%s\": not an address[:port]", c->listen);
    if (c->listen == NULL && !default_listen(&s->listen_addr, err))
        return -KR_E_INVALID;
    /* one address: a UDP reply leaves from the address the query came to,
     * which conntrack needs to undo the proxies' DNAT */
    char ip[INET6_ADDRSTRLEN];
    dns_ip_t lip;
    static const uint8_t any[16];
    if (dns_ip_parse(sa_ip(&s->listen_addr, ip, sizeof ip), &lip) && memcmp(lip.addr, any, 16) == 0)
        return kr_error_set(err, KR_E_INVALID,
                            "listen: \"%s\": must be one address of this host, not every address",
                            c->listen);
    const char *adv = c->advertise ? c->advertise : ip;
    if (!dns_ip_parse(adv, &s->zone.ns_ip) || memcmp(s->zone.ns_ip.addr, any, 16) == 0)
        return kr_error_set(err, KR_E_INVALID, "advertise: \"%s\": must be a valid IP address",
                            adv);
    return 0;
}

static void *dns_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    dns_srv_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        abort();
    s->ctx = ctx;
    s->loop = kr_plugin_loop(ctx);
    s->bus = kr_plugin_bus(ctx);
    s->conf = *(const struct dns_conf *)config;
    s->udp_fd = s->tcp_fd = -1;
    struct sockaddr_storage ups[MAX_UPSTREAMS];
    size_t nups = 0;
    if (check_conf(s, err) < 0 || config_upstreams(s->conf.upstream, ups, &nups, err) < 0) {
        dns_fini(s);
        return NULL;
    }
    /* never forward to ourselves: a loop until the timeout */
    for (size_t i = 0; i < nups; i++)
        if (sa_same(&ups[i], &s->listen_addr)) {
            memmove(&ups[i], &ups[i + 1], (nups - i - 1) * sizeof *ups);
            nups--;
            i--;
        }
    s->zone.domain = s->domain;
    s->zone.ttl = (uint32_t)(s->conf.ttl_ms / 1000);
    s->idx = dns_index_new();
    s->cache = dns_cache_new((size_t)s->conf.cache_size, (uint32_t)(s->conf.cache_ms / 1000));
    s->fwd = dns_fwd_new(s->loop, ups, nups, (uint64_t)s->conf.upstream_timeout_ms,
                         (size_t)s->conf.max_forwards, on_forwarded, s, err);
    if (s->fwd == NULL)
        goto fail;
    s->svcs =
        informer(s, "v1/services", "dns services",
                 (kr_informer_handlers_t){svc_add, svc_update, svc_delete, s}, keep_service, err);
    if (s->svcs == NULL)
        goto fail;
    s->eps =
        informer(s, "v1/endpoints", "dns endpoints",
                 (kr_informer_handlers_t){eps_add, eps_update, eps_delete, s}, keep_endpoints, err);
    if (s->eps == NULL)
        goto fail;
    /* a cluster without the kind yet: the informer keeps retrying, and
     * Endpoints answer meanwhile */
    s->slices = informer(s, "discovery.k8s.io/v1/endpointslices", "dns endpointslices",
                         (kr_informer_handlers_t){slice_add, slice_update, slice_delete, s},
                         keep_slice, err);
    if (s->slices == NULL)
        goto fail;
    s->udp_fd = open_listener(s, SOCK_DGRAM, err);
    if (s->udp_fd < 0)
        goto fail;
    s->tcp_fd = open_listener(s, SOCK_STREAM, err);
    if (s->tcp_fd < 0)
        goto fail;
    if (kr_loop_add_fd(s->loop, s->udp_fd, KR_LOOP_READ, on_udp, s, err) < 0 ||
        kr_loop_add_fd(s->loop, s->tcp_fd, KR_LOOP_READ, on_accept, s, err) < 0)
        goto fail;
    char stats_op[128];
    snprintf(stats_op, sizeof stats_op, "%s.stats", kr_plugin_name(ctx));
    if (kr_bus_serve(s->bus, stats_op, NULL, on_stats, s, 5000, err) < 0)
        goto fail;
    char ip[INET6_ADDRSTRLEN], adv[INET6_ADDRSTRLEN];
    sa_ip(&s->listen_addr, ip, sizeof ip);
    inet_ntop(s->zone.ns_ip.family, s->zone.ns_ip.addr, adv, sizeof adv);
    if (s->conf.manage_service) {
        dns_keeper_conf_t kc = {
            .cluster_ip = s->conf.cluster_ip, .address = adv, .port = sa_port(&s->listen_addr)};
        s->keeper = dns_keeper_new(ctx, s->svcs, s->slices, s->eps, &kc);
    }
    kr_plugin_log(ctx, KR_LOG_INFO, "serving", "listen=%s:%u domain=%s upstreams=%zu advertise=%s",
                  ip, sa_port(&s->listen_addr), s->domain, nups, adv);
    return s;
fail:
    dns_fini(s);
    return NULL;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "network",
    .name = "dns",
    .version = "0.1.0",
    .description = "cluster DNS: <svc>.<ns>.svc.<domain> from Services and EndpointSlices, "
                   "other names forwarded upstream",
    .config = dns_table,
    .config_size = sizeof(struct dns_conf),
    .init = dns_init,
    .fini = dns_fini,
};
