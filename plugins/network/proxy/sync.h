/* network-proxy: writing the rules of the model into the kernel's nat and
 * filter tables through libiptc, one commit per table.
 *
 * Only our chains are written: KRAAL-SERVICES, KRAAL-NODEPORTS,
 * KRAAL-POSTROUTING, KRAAL-MARK-MASQ and filter's KRAAL-SERVICES,
 * KRAAL-EXTERNAL-SERVICES are rebuilt when asked (or missing); a svcport's own chains
 * (KRAAL-SVC-*, KRAAL-SEP-*) when it is dirty, when one of them is missing,
 * or at a full sync (which so repairs what someone else altered).  Chains
 * KRAAL-SVC-* and KRAAL-SEP-* that no svcport names are deleted.  The jumps
 * from the built-in chains are ensured once each.  Everything else in the
 * tables is left as the kernel had it.
 */
#ifndef NETWORK_PROXY_SYNC_H
#define NETWORK_PROXY_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"

typedef struct proxy_sync_result {
    size_t chains_written; /* svcport chains rewritten */
    size_t chains_removed;
    size_t rules;     /* rules appended */
    double open_ms;   /* taking the lock and reading the tables */
    double build_ms;  /* changing the handles */
    double commit_ms; /* handing the tables to the kernel */
} proxy_sync_result_t;

/* What a sync writes (flags). */
enum {
    PROXY_SYNC_FULL = 1,    /* every chain of ours, rewritten */
    PROXY_SYNC_ENTRIES = 2, /* KRAAL-SERVICES, KRAAL-NODEPORTS and the fixed nat
                             * chains (a port came, went, or changed address) */
    PROXY_SYNC_FILTER = 4,  /* the filter table's REJECT rules */
};

/* Syncs the n svcports of sps (the whole model: svcports not given lose
 * their chains).  Dirty svcports get their chains rewritten; `what`
 * (PROXY_SYNC_* flags; FULL implies the others) says what else.  Clears
 * the dirty flags on success.  lock_wait_ms bounds the wait for the
 * xtables lock. */
int proxy_sync(proxy_svcport_t *const *sps, size_t n, const proxy_opts_t *o, unsigned what,
               int lock_wait_ms, proxy_sync_result_t *res, kr_error_t *err);

#endif
