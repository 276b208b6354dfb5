/* network-bridge: the node's pod addresses (CNI host-local's scheme).
 *
 * One file per allocated address in `dir`, named by the address
 * ("10.244.1.7") and holding the sandbox id, written atomically (a
 * temporary file linked into place, so two allocations never both win an
 * address and a crash never leaves half a file).  `last_reserved_ip.0`
 * remembers where the last allocation ended, so that a released address is
 * not handed out again at once (a stale peer's conntrack entry or ARP
 * cache would reach the new pod).  Opening reads the files back: a
 * restarted agent keeps every pod's address.
 *
 * The range is the node's podCIDR: its network address, its first address
 * (the bridge's, the pods' gateway) and its broadcast address are never
 * handed out.
 *
 * Threading: every function locks the instance; any thread may call them.
 */
#ifndef KRAAL_BRIDGE_IPAM_H
#define KRAAL_BRIDGE_IPAM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include <kraal/error.h>

typedef struct br_ipam br_ipam_t;

/* Opens (creating it when needed) the store in `dir` for the range `cidr`
 * ("10.244.1.0/24"; prefix 16..30).  Allocations outside the range (an
 * older podCIDR) are left to gc.  NULL with err: KR_E_INVALID for a bad
 * range, KR_E_INTERNAL when the directory cannot be made or read.  Caller
 * owns the result. */
br_ipam_t *br_ipam_open(const char *dir, const char *cidr, kr_error_t *err);
void br_ipam_destroy(br_ipam_t **self_p);

/* The range's network address, prefix length and gateway (first address). */
struct in_addr br_ipam_network(const br_ipam_t *ipam);
int br_ipam_prefix(const br_ipam_t *ipam);
struct in_addr br_ipam_gateway(const br_ipam_t *ipam);

/* The address of `sandbox_id`: the one it holds, or a new one.  *fresh
 * (may be NULL) says which.  KR_E_CONFLICT when the range is exhausted
 * (host-local's "no IP addresses available in range set: A-B"),
 * KR_E_INTERNAL when the file cannot be written. */
int br_ipam_alloc(br_ipam_t *ipam, const char *sandbox_id, struct in_addr *out, bool *fresh,
                  kr_error_t *err);

/* The address `sandbox_id` holds: 0, or KR_E_NOT_FOUND. */
int br_ipam_lookup(br_ipam_t *ipam, const char *sandbox_id, struct in_addr *out);

/* Releases what `sandbox_id` holds.  Returns the number of addresses
 * released (0 when none), or < 0 when a file could not be removed. */
int br_ipam_release(br_ipam_t *ipam, const char *sandbox_id, kr_error_t *err);

/* Releases every allocation (in the range or not) whose sandbox is not in
 * `live`.  For each one released, `on_release(sandbox_id, ud)` is called
 * (may be NULL), with the lock held: it must not call back into the ipam.
 * Returns the number released, or < 0 when the directory cannot be read. */
int br_ipam_gc(br_ipam_t *ipam, const char *const *live, size_t n_live,
               void (*on_release)(const char *sandbox_id, void *ud), void *ud, kr_error_t *err);

/* Number of addresses in use in the range. */
size_t br_ipam_used(br_ipam_t *ipam);

#endif
