/* kraal network plugins — libiptc helpers shared by network-bridge and
 * network-proxy (static library kraal-netfilter).
 *
 * What every writer of an IPv4 netfilter table needs: the xtables lock
 * (iptables' own flock on /run/xtables.lock, so kraal, iptables-legacy and
 * kube-proxy-like tools never replace a table under each other), a table
 * handle opened and committed once per change, chains of our own with a
 * jump from a built-in chain, and rules built as ipt_entry blobs with the
 * matches and targets kube-proxy uses.  Rules are read back to
 * iptables-save text (netipt_entry_format) for tests, logs and
 * iptables-restore input.
 *
 * Threading: nothing here is shared; a handle belongs to its caller.
 * Errors: functions that can fail return a negative int (or NULL) and fill
 * `err` with what failed and libiptc's reason.
 */
#ifndef KRAAL_NETIPT_H
#define KRAAL_NETIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libiptc/libiptc.h>

#include <kraal/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lock file of iptables (XT_LOCK_NAME); $XTABLES_LOCKFILE overrides it, as
 * for iptables itself. */
#define NETIPT_LOCK_PATH "/run/xtables.lock"

/* Takes the xtables lock, waiting at most wait_ms (iptables -w).  Returns
 * the lock's fd (the caller owns it and gives it to netipt_unlock), or
 * <0 with err (KR_E_TIMEOUT when someone else held it all the time). */
int netipt_lock(int wait_ms, kr_error_t *err);
/* Releases a lock from netipt_lock; fd < 0 is ignored. */
void netipt_unlock(int fd);

/* Opens a table ("nat", "filter") of the current network namespace: a
 * snapshot that changes nothing until netipt_table_commit.  NULL with err
 * when the kernel refused (no permission, no such table).  The caller owns
 * the handle (netipt_table_free).  Hold the lock from here to the commit. */
struct xtc_handle *netipt_table_open(const char *table, kr_error_t *err);
/* Replaces the kernel's table by the handle's (one setsockopt for the
 * whole table).  The handle is spent afterwards: free it. */
int netipt_table_commit(struct xtc_handle *h, const char *table, kr_error_t *err);
/* Frees a handle and nulls the pointer; NULL ok. */
void netipt_table_free(struct xtc_handle **h_p);

/* Creates `chain` when missing; with flush, empties it when present. */
int netipt_chain_ensure(struct xtc_handle *h, const char *chain, bool flush, kr_error_t *err);
/* Flushes and deletes `chain` when present (nothing may jump to it any
 * more when the handle is committed). */
int netipt_chain_remove(struct xtc_handle *h, const char *chain, kr_error_t *err);

/* ------------------------------------------------------------------ */
/* Rules */

/* Room for one rule: the entry, its matches and its target. */
#define NETIPT_RULE_MAX 1536

/* A rule under construction: set addresses and protocol, add matches,
 * then exactly one target.  Builders never fail; a rule that overflowed
 * or has no target is refused by netipt_rule_entry. */
typedef struct netipt_rule {
    /* A struct ipt_entry and what follows it (the entry ends in a flexible
     * array, so it cannot be a member of a union here). */
    _Alignas(struct ipt_entry) unsigned char bytes[NETIPT_RULE_MAX];
    size_t len; /* bytes used */
    bool has_target;
    bool overflow;
} netipt_rule_t;

void netipt_rule_init(netipt_rule_t *r);
/* -s / -d addr/prefix (addr in network byte order); invert: "! -s". */
void netipt_rule_src(netipt_rule_t *r, uint32_t addr, int prefix, bool invert);
void netipt_rule_dst(netipt_rule_t *r, uint32_t addr, int prefix, bool invert);
/* -p: IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP. */
void netipt_rule_proto(netipt_rule_t *r, uint8_t proto);
/* -i / -o name ("kraal0"; a trailing '+' is a prefix, as in iptables). */
void netipt_rule_in_iface(netipt_rule_t *r, const char *name, bool invert);
void netipt_rule_out_iface(netipt_rule_t *r, const char *name, bool invert);

/* -m tcp|udp [--dport port] (port 0: none); sets -p too. */
void netipt_match_dport(netipt_rule_t *r, uint8_t proto, uint16_t dport);
/* -m addrtype --dst-type LOCAL (XT_ADDRTYPE_* mask). */
void netipt_match_addrtype_dst(netipt_rule_t *r, uint16_t dst_type);
/* -m comment --comment text (cut at 255 bytes). */
void netipt_match_comment(netipt_rule_t *r, const char *text);
/* -m statistic --mode random --probability p (0 < p < 1). */
void netipt_match_random(netipt_rule_t *r, double p);
/* -m mark [!] --mark mark/mask */
void netipt_match_mark(netipt_rule_t *r, uint32_t mark, uint32_t mask, bool invert);
/* -m recent --name name --mask 255.255.255.255 --rsource, and either
 * --set (seconds 0) or --rcheck --seconds s --reap (kube-proxy's
 * sessionAffinity ClientIP). */
void netipt_match_recent_set(netipt_rule_t *r, const char *name);
void netipt_match_recent_check(netipt_rule_t *r, const char *name, uint32_t seconds);

/* -m conntrack --ctstate ... of these NETIPT_CT_* bits (xt_conntrack's). */
#define NETIPT_CT_INVALID     0x01
#define NETIPT_CT_ESTABLISHED 0x02
#define NETIPT_CT_RELATED     0x04
#define NETIPT_CT_NEW         0x08
void netipt_match_ctstate(netipt_rule_t *r, uint16_t states);

/* -j chain, or a verdict: "RETURN", "ACCEPT", "DROP". */
void netipt_target_jump(netipt_rule_t *r, const char *chain);
/* -j MARK --set-xmark mark/mask (--or-mark m is m/m). */
void netipt_target_mark(netipt_rule_t *r, uint32_t mark, uint32_t mask);
/* -j DNAT --to-destination addr[:port] (port 0: keep the port). */
void netipt_target_dnat(netipt_rule_t *r, uint32_t addr, uint16_t port);
/* -j MASQUERADE [--random-fully] */
void netipt_target_masquerade(netipt_rule_t *r, bool random_fully);
/* -j REJECT --reject-with icmp-port-unreachable (filter table only). */
void netipt_target_reject(netipt_rule_t *r);

/* The finished entry, or NULL when the rule overflowed or has no target.
 * Borrowed from r. */
const struct ipt_entry *netipt_rule_entry(const netipt_rule_t *r);

/* Appends / inserts (position 0 = first) a finished rule to a chain of h. */
int netipt_rule_append(struct xtc_handle *h, const char *chain, const netipt_rule_t *r,
                       kr_error_t *err);
int netipt_rule_insert(struct xtc_handle *h, const char *chain, const netipt_rule_t *r,
                       unsigned position, kr_error_t *err);

/* Whether `have` (a rule of h, from iptc_first_rule/iptc_next_rule) is
 * the finished rule r: same addresses, matches and target; counters do
 * not count.  False when either is NULL. */
bool netipt_rule_is(struct xtc_handle *h, const struct ipt_entry *have, const netipt_rule_t *r);

/* Ensures `chain` holds `r` exactly once (the jump into one of our chains
 * from a built-in one): an equal rule elsewhere in the chain is kept, and
 * extra copies (a crashed writer's) are deleted; a missing rule is put
 * first (first) or last.  Returns 1 when the handle changed, 0 when not. */
int netipt_rule_ensure(struct xtc_handle *h, const char *chain, const netipt_rule_t *r, bool first,
                       kr_error_t *err);

/* Writes the rule's iptables-save form without "-A chain" ("-d
 * 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KRAAL-SVC-..."), as far as it
 * fits in buf; `target` names the target when the entry is libiptc's (its
 * jumps carry offsets, not names: pass iptc_get_target()), NULL reads it
 * from the entry.  Returns the length it needed (snprintf's). */
int netipt_entry_format(const struct ipt_entry *e, const char *target, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
