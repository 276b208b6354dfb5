/* network-dns: the forwarder (see forward.h). */
#include "forward.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "answer.h"

#define MAX_MSG 65535

typedef struct pending {
    struct pending *prev, *next;
    dns_fwd_t *f;
    int fd;
    uint64_t timer;
    size_t upstream; /* index of the upstream asked now */
    size_t tried;
    uint16_t client_id, our_id;
    dns_client_t client;
    char qname[256];
    uint16_t qtype;
    size_t len, ctx_len;
    bool client_tcp; /* a truncated UDP answer is asked again over TCP */
    bool tcp;        /* the current attempt is over TCP */
    size_t woff;     /* TCP: bytes of length + query sent */
    uint8_t *rbuf;   /* TCP: what came back so far (length first) */
    size_t rlen;
    uint8_t *ctx;    /* after the query, or NULL */
    uint8_t query[]; /* with our id */
} pending_t;

struct dns_fwd {
    kr_loop_t *loop;
    struct sockaddr_storage *ups;
    size_t nups;
    size_t next_up; /* round robin start */
    uint64_t timeout_ms;
    size_t max_pending, npending;
    pending_t *list;
    dns_fwd_fn fn;
    void *ud;
    uint16_t counter;
};

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static uint16_t random_id(dns_fwd_t *f)
{
    uint16_t id;
    if (getrandom(&id, sizeof id, GRND_NONBLOCK) != (ssize_t)sizeof id)
        id = (uint16_t)(++f->counter * 40503u); /* no entropy yet: still spread */
    return id;
}

static void pending_close(pending_t *p)
{
    if (p->fd >= 0) {
        kr_loop_remove_fd(p->f->loop, p->fd);
        close(p->fd);
        p->fd = -1;
    }
    if (p->timer != 0) {
        kr_loop_cancel_timer(p->f->loop, p->timer);
        p->timer = 0;
    }
    p->tcp = false;
    p->woff = p->rlen = 0;
}

static void pending_free(pending_t *p)
{
    dns_fwd_t *f = p->f;
    pending_close(p);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        f->list = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    f->npending--;
    free(p->rbuf);
    free(p);
}

static void finish(pending_t *p, uint8_t *reply, size_t len)
{
    dns_fwd_t *f = p->f;
    p->query[0] = (uint8_t)(p->client_id >> 8);
    p->query[1] = (uint8_t)p->client_id;
    if (reply != NULL) {
        reply[0] = p->query[0];
        reply[1] = p->query[1];
    }
    f->fn(reply, len, p->query, p->len, p->ctx, p->ctx_len, &p->client, f->ud);
    pending_free(p);
}

static bool attempt(pending_t *p);

/* The current upstream failed: the next one, or the end. */
static void next_upstream(pending_t *p)
{
    pending_close(p);
    while (p->tried < p->f->nups) {
        if (attempt(p))
            return;
    }
    finish(p, NULL, 0);
}

static void on_timeout(kr_loop_t *loop, uint64_t timer_id, void *ud)
{
    (void)loop;
    (void)timer_id;
    pending_t *p = ud;
    p->timer = 0;
    next_upstream(p);
}

/* The upstream's answer to our question, with our id. */
static bool ours(const pending_t *p, const uint8_t *msg, size_t n)
{
    char name[256];
    uint16_t qtype, id;
    return n >= 12 && (msg[2] & 0x80) && dns_query_info(msg, n, name, sizeof name, &qtype, &id) &&
           id == p->our_id && qtype == p->qtype && strcmp(name, p->qname) == 0;
}

static void on_tcp(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    pending_t *p = ud;
    if (p->woff < p->len + 2) {
        if (!(events & (KR_LOOP_WRITE | KR_LOOP_ERROR)))
            return;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
            next_upstream(p);
            return;
        }
        uint8_t msg[MAX_MSG + 2];
        msg[0] = (uint8_t)(p->len >> 8);
        msg[1] = (uint8_t)p->len;
        memcpy(msg + 2, p->query, p->len);
        ssize_t n = send(fd, msg + p->woff, p->len + 2 - p->woff, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            next_upstream(p);
            return;
        }
        p->woff += n > 0 ? (size_t)n : 0;
        if (p->woff == p->len + 2)
            kr_loop_mod_fd(loop, fd, KR_LOOP_READ, NULL);
        return;
    }
    if (p->rbuf == NULL) {
        p->rbuf = malloc(MAX_MSG + 2);
        if (p->rbuf == NULL)
            abort();
    }
    ssize_t n = recv(fd, p->rbuf + p->rlen, MAX_MSG + 2 - p->rlen, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        next_upstream(p);
        return;
    }
    p->rlen += (size_t)n;
    if (p->rlen < 2)
        return;
    size_t mlen = (size_t)p->rbuf[0] << 8 | p->rbuf[1];
    if (p->rlen < mlen + 2)
        return;
    if (ours(p, p->rbuf + 2, mlen))
        finish(p, p->rbuf + 2, mlen);
    else
        next_upstream(p);
}

/* Asks the current upstream again over TCP (RFC 7766); false when no
 * connection could be started. */
static bool attempt_tcp(pending_t *p)
{
    dns_fwd_t *f = p->f;
    const struct sockaddr_storage *up = &f->ups[p->upstream];
    pending_close(p);
    p->fd = socket(up->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return false;
    if ((connect(p->fd, (const struct sockaddr *)up, addr_len(up)) < 0 && errno != EINPROGRESS) ||
        kr_loop_add_fd(f->loop, p->fd, KR_LOOP_WRITE, on_tcp, p, NULL) < 0) {
        close(p->fd);
        p->fd = -1;
        return false;
    }
    p->tcp = true;
    p->timer = kr_loop_add_timer(f->loop, f->timeout_ms, 0, on_timeout, p);
    return true;
}

static void on_reply(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)events;
    pending_t *p = ud;
    uint8_t buf[MAX_MSG];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            next_upstream(p); /* ECONNREFUSED: nobody there */
            return;
        }
        /* a late or forged datagram is ignored: same id, same question */
        if (!ours(p, buf, (size_t)n))
            continue;
        /* cut (TC): a TCP client gets the whole answer, over TCP; a UDP
         * client gets it cut and comes back over TCP */
        if ((buf[2] & 0x02) && p->client_tcp && attempt_tcp(p))
            return;
        finish(p, buf, (size_t)n);
        return;
    }
}

/* Sends to the upstream after the last tried; false when that failed at
 * once (the caller moves on). */
static bool attempt(pending_t *p)
{
    dns_fwd_t *f = p->f;
    p->upstream = (p->upstream + (p->tried > 0)) % f->nups;
    p->tried++;
    const struct sockaddr_storage *up = &f->ups[p->upstream];
    p->fd = socket(up->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return false;
    if (connect(p->fd, (const struct sockaddr *)up, addr_len(up)) < 0 ||
        send(p->fd, p->query, p->len, 0) < 0 ||
        kr_loop_add_fd(f->loop, p->fd, KR_LOOP_READ, on_reply, p, NULL) < 0) {
        close(p->fd);
        p->fd = -1;
        return false;
    }
    p->timer = kr_loop_add_timer(f->loop, f->timeout_ms, 0, on_timeout, p);
    return true;
}

dns_fwd_t *dns_fwd_new(kr_loop_t *loop, const struct sockaddr_storage *ups, size_t n,
                       uint64_t timeout_ms, size_t max_pending, dns_fwd_fn fn, void *ud,
                       kr_error_t *err)
{
    if (timeout_ms == 0 || max_pending == 0) {
        kr_error_set(err, KR_E_INVALID, "forwarder: timeout and max_pending must be > 0");
        return NULL;
    }
    dns_fwd_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        abort();
    f->loop = loop;
    f->nups = n;
    if (n > 0) {
        f->ups = calloc(n, sizeof *f->ups);
        if (f->ups == NULL)
            abort();
        memcpy(f->ups, ups, n * sizeof *ups);
    }
    f->timeout_ms = timeout_ms;
    f->max_pending = max_pending;
    f->fn = fn;
    f->ud = ud;
    return f;
}

void dns_fwd_destroy(dns_fwd_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    dns_fwd_t *f = *self_p;
    while (f->list != NULL)
        pending_free(f->list);
    free(f->ups);
    free(f);
    *self_p = NULL;
}

size_t dns_fwd_pending(const dns_fwd_t *f)
{
    return f->npending;
}

int dns_fwd_query(dns_fwd_t *f, const uint8_t *q, size_t len, const uint8_t *ctx, size_t ctx_len,
                  const dns_client_t *client, kr_error_t *err)
{
    if (f->nups == 0)
        return kr_error_set(err, KR_E_SERVICE_UNAVAILABLE, "no upstream resolver");
    if (f->npending >= f->max_pending)
        return kr_error_set(err, KR_E_TOO_MANY_REQUESTS, "%zu queries forwarded already",
                            f->npending);
    if (len < 12 || len > MAX_MSG)
        return kr_error_set(err, KR_E_BAD_REQUEST, "not a DNS message");
    pending_t *p = calloc(1, sizeof *p + len + ctx_len);
    if (p == NULL)
        abort();
    if (!dns_query_info(q, len, p->qname, sizeof p->qname, &p->qtype, &p->client_id)) {
        free(p);
        return kr_error_set(err, KR_E_BAD_REQUEST, "not a one-question query");
    }
    p->f = f;
    p->fd = -1;
    p->client = *client;
    p->client_tcp = client->conn_id != 0;
    p->len = len;
    memcpy(p->query, q, len);
    if (ctx_len > 0) {
        p->ctx = p->query + len;
        p->ctx_len = ctx_len;
        memcpy(p->ctx, ctx, ctx_len);
    }
    p->our_id = random_id(f);
    p->query[0] = (uint8_t)(p->our_id >> 8);
    p->query[1] = (uint8_t)p->our_id;
    /* spread the first tries over the upstreams, as resolv.conf's rotate */
    p->upstream = f->next_up++ % f->nups;
    p->next = f->list;
    if (f->list != NULL)
        f->list->prev = p;
    f->list = p;
    f->npending++;
    while (p->tried < f->nups)
        if (attempt(p))
            return 0;
    pending_free(p);
    return kr_error_set(err, KR_E_SERVICE_UNAVAILABLE, "no upstream resolver could be reached");
}
