/* network-dns: forwarding of names outside the cluster domain to upstream
 * resolvers, on the plugin's loop.
 *
 * Each forwarded query gets its own connected UDP socket (a fresh source
 * port, so only the upstream's answers reach it) and a fresh random id;
 * the upstream's answer is relayed with the client's id.  An upstream that
 * does not answer within the timeout, or refuses (ICMP), hands the query
 * to the next one; when none answered the callback gets NULL (the caller
 * answers SERVFAIL).  Nothing blocks: sockets and timers are loop sources.
 */
#ifndef KRAAL_DNS_FORWARD_H
#define KRAAL_DNS_FORWARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <kraal/error.h>
#include <kraal/loop.h>

typedef struct dns_fwd dns_fwd_t;

/* Who asked: a UDP client's address, or a TCP connection's id. */
typedef struct dns_client {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint64_t conn_id; /* 0 for UDP */
} dns_client_t;

/* The upstream's reply (with the client's id), or NULL when none answered;
 * `query` is the query sent (with the client's id), `ctx` what was handed
 * to dns_fwd_query with it (NULL when nothing).  All valid during the
 * call only. */
typedef void (*dns_fwd_fn)(const uint8_t *reply, size_t len, const uint8_t *query, size_t qlen,
                           const uint8_t *ctx, size_t ctx_len, const dns_client_t *client,
                           void *ud);

/* `ups`: n upstream addresses (copied).  At most `max_pending` queries are
 * in flight.  Caller owns the forwarder. */
dns_fwd_t *dns_fwd_new(kr_loop_t *loop, const struct sockaddr_storage *ups, size_t n,
                       uint64_t timeout_ms, size_t max_pending, dns_fwd_fn fn, void *ud,
                       kr_error_t *err);
/* Drops the queries in flight without calling back. */
void dns_fwd_destroy(dns_fwd_t **self_p);

/* Sends query `q` on; the callback runs later, exactly once, with a copy
 * of `ctx` (ctx_len bytes, may be 0).  < 0 (and no callback) when there is
 * no upstream, too many queries are in flight or no socket could be
 * opened. */
int dns_fwd_query(dns_fwd_t *f, const uint8_t *q, size_t len, const uint8_t *ctx, size_t ctx_len,
                  const dns_client_t *client, kr_error_t *err);

size_t dns_fwd_pending(const dns_fwd_t *f);

#endif
