/* network-dns: a cache of the upstreams' answers (CoreDNS's `cache`
 * plugin, which its default Corefile runs with a 30 s cap), so that pods
 * asking the same outside name again are answered at once.
 *
 * An entry is the upstream's reply to (name, type, class, DO bit), kept
 * for the smallest TTL of its records — for a negative answer the SOA's
 * TTL or MINIMUM, whichever is smaller (RFC 2308) — never longer than the
 * cap.  Only NOERROR and NXDOMAIN replies without TC are kept.  A hit is
 * the stored reply with the client's id and question and every TTL
 * lowered by the time it spent here, cut for UDP as the answers of the
 * domain are.  Entries beyond the capacity go least recently used first.
 * Single-threaded (the plugin's loop).
 */
#ifndef KRAAL_DNS_CACHE_H
#define KRAAL_DNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dns_cache dns_cache_t;

/* capacity entries at most, each kept max_ttl_s at most.  Caller owns. */
dns_cache_t *dns_cache_new(size_t capacity, uint32_t max_ttl_s);
void dns_cache_destroy(dns_cache_t **self_p);

/* Keeps `reply`, the upstream's answer to `query`, if it may be kept.
 * now_ms: a monotonic clock. */
void dns_cache_put(dns_cache_t *c, const uint8_t *query, size_t qlen, const uint8_t *reply,
                   size_t rlen, uint64_t now_ms);

/* The answer to `query` from the cache, or NULL (a miss or an expired
 * entry).  Over UDP (tcp false) it fits the client's size.  Caller frees. */
uint8_t *dns_cache_get(dns_cache_t *c, const uint8_t *query, size_t qlen, bool tcp, uint64_t now_ms,
                       size_t *outlen);

size_t dns_cache_len(const dns_cache_t *c);

#endif
