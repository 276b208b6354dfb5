/* network-proxy: the model into nat and filter through libiptc.  See
 * sync.h. */
#include "sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct apply {
    struct xtc_handle *nat, *filter;
    size_t rules;
} apply_t;

static int apply_emit(void *ud, proxy_table_t table, const char *chain, const netipt_rule_t *r,
                      kr_error_t *err)
{
    apply_t *a = ud;
    struct xtc_handle *h = table == PROXY_NAT ? a->nat : a->filter;
    if (!h)
        return 0; /* that table is not being written this time */
    a->rules++;
    return netipt_rule_append(h, chain, r, err);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A set of chain names (borrowed from the svcports), open addressing. */
typedef struct nameset {
    const char **slots;
    size_t mask;
} nameset_t;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void nameset_init(nameset_t *set, size_t count)
{
    size_t cap = 16;
    while (cap < count * 2)
        cap <<= 1;
    set->slots = calloc(cap, sizeof(*set->slots));
    if (!set->slots)
        abort();
    set->mask = cap - 1;
}

static void nameset_add(nameset_t *set, const char *name)
{
    for (size_t i = name_hash(name) & set->mask;; i = (i + 1) & set->mask) {
        if (!set->slots[i]) {
            set->slots[i] = name;
            return;
        }
        if (!strcmp(set->slots[i], name))
            return;
    }
}

static bool nameset_has(const nameset_t *set, const char *name)
{
    for (size_t i = name_hash(name) & set->mask; set->slots[i]; i = (i + 1) & set->mask)
        if (!strcmp(set->slots[i], name))
            return true;
    return false;
}

static bool ours_per_service(const char *chain)
{
    return !strncmp(chain, PROXY_SVC_PREFIX, strlen(PROXY_SVC_PREFIX)) ||
           !strncmp(chain, PROXY_SEP_PREFIX, strlen(PROXY_SEP_PREFIX));
}

/* Whether every chain of sp is in the table. */
static bool chains_present(struct xtc_handle *h, const proxy_svcport_t *sp)
{
    if (!iptc_is_chain(sp->chain, h))
        return false;
    for (size_t i = 0; i < sp->neps; i++)
        if (!iptc_is_chain(sp->eps[i].chain, h))
            return false;
    return true;
}

/* Deletes our per-service chains that no svcport names: all flushed
 * first, since a stale KRAAL-SVC- chain still jumps to its KRAAL-SEP-s. */
static int sweep(struct xtc_handle *h, const nameset_t *want, size_t *removed, kr_error_t *err)
{
    size_t n = 0, cap = 0;
    char **stale = NULL;
    int rc = 0;
    for (const char *c = iptc_first_chain(h); c; c = iptc_next_chain(h)) {
        if (!ours_per_service(c) || nameset_has(want, c))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            stale = realloc(stale, cap * sizeof(*stale));
            if (!stale)
                abort();
        }
        if (!(stale[n++] = strdup(c)))
            abort();
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        if (!iptc_flush_entries(stale[i], h))
            rc = kr_error_set(err, KR_E_INTERNAL, "flushing chain %s: %s", stale[i],
                              iptc_strerror(errno));
    for (size_t i = 0; i < n && rc == 0; i++)
        if (!iptc_delete_chain(stale[i], h))
            rc = kr_error_set(err, KR_E_INTERNAL, "deleting chain %s: %s", stale[i],
                              iptc_strerror(errno));
    for (size_t i = 0; i < n; i++)
        free(stale[i]);
    free(stale);
    if (rc == 0)
        *removed = n;
    return rc;
}

static int cmp_desc(const void *a, const void *b)
{
    return strcmp(*(const char *const *)b, *(const char *const *)a);
}

static int ensure_jumps(struct xtc_handle *h, proxy_table_t table, kr_error_t *err)
{
    size_t nj;
    const proxy_jump_t *j = proxy_jumps(&nj);
    for (size_t i = 0; i < nj; i++) {
        if (j[i].table != table)
            continue;
        netipt_rule_t r;
        proxy_jump_rule(&j[i], &r);
        int rc = netipt_rule_ensure(h, j[i].builtin, &r, true, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Compares the rules a builder emits with the table's, chain by chain, in
 * order: a full sync writes only what differs, and a table that is as it
 * should be is not committed at all (libiptc skips an unchanged handle),
 * so the periodic resync costs a read instead of a whole-table replace. */
typedef struct vslot {
    const char *chain;
    const struct ipt_entry *cur; /* the next rule expected; NULL past the end */
} vslot_t;

typedef struct verify {
    struct xtc_handle *h;
    proxy_table_t table;
    vslot_t slot[4];
    size_t nslots;
    bool contiguous; /* each chain's rules come in one run (a port's chains) */
    bool differs;
} verify_t;

static int verify_emit(void *ud, proxy_table_t table, const char *chain, const netipt_rule_t *r,
                       kr_error_t *err)
{
    (void)err;
    verify_t *v = ud;
    if (table != v->table || v->differs)
        return 0;
    vslot_t *s = NULL;
    for (size_t i = 0; i < v->nslots && !s; i++)
        if (!strcmp(v->slot[i].chain, chain))
            s = &v->slot[i];
    if (!s) {
        if (v->contiguous && v->nslots == 1) {
            v->differs = v->slot[0].cur != NULL; /* rules left over */
            v->nslots = 0;
        }
        if (v->nslots == sizeof(v->slot) / sizeof(v->slot[0]) || !iptc_is_chain(chain, v->h)) {
            v->differs = true;
            return 0;
        }
        s = &v->slot[v->nslots++];
        s->chain = chain;
        s->cur = iptc_first_rule(chain, v->h);
    }
    if (!netipt_rule_is(v->h, s->cur, r)) {
        v->differs = true;
        return 0;
    }
    s->cur = iptc_next_rule(s->cur, v->h);
    return 0;
}

/* Whether every chain seen held exactly the emitted rules. */
static bool verify_same(verify_t *v)
{
    for (size_t i = 0; i < v->nslots; i++)
        if (v->slot[i].cur)
            v->differs = true;
    return !v->differs;
}

/* Whether sp's chains hold its rules already. */
static bool chains_same(struct xtc_handle *h, const proxy_svcport_t *sp, const proxy_opts_t *o)
{
    verify_t v = {.h = h, .table = PROXY_NAT, .contiguous = true};
    kr_error_t err;
    proxy_rules_chains(sp, o, verify_emit, &v, &err);
    return verify_same(&v);
}

/* Whether the fixed nat chains hold their rules already. */
static bool entries_same(struct xtc_handle *h, proxy_svcport_t *const *sps, size_t n,
                         const proxy_opts_t *o)
{
    verify_t v = {.h = h, .table = PROXY_NAT};
    kr_error_t err;
    proxy_rules_static(o, verify_emit, &v, &err);
    for (size_t i = 0; i < n && !v.differs; i++)
        proxy_rules_entry(sps[i], o, verify_emit, &v, &err);
    proxy_rules_nodeports_jump(verify_emit, &v, &err);
    /* A chain no rule was emitted to (KRAAL-NODEPORTS without NodePorts)
     * must be empty. */
    static const char *fixed[] = {PROXY_SERVICES, PROXY_NODEPORTS, PROXY_POSTROUTING,
                                  PROXY_MARK_MASQ};
    for (size_t i = 0; i < 4; i++)
        if (!iptc_is_chain(fixed[i], h))
            return false;
    bool nodeports_seen = false;
    for (size_t i = 0; i < v.nslots; i++)
        nodeports_seen = nodeports_seen || !strcmp(v.slot[i].chain, PROXY_NODEPORTS);
    if (!nodeports_seen && iptc_first_rule(PROXY_NODEPORTS, h))
        return false;
    return verify_same(&v);
}

static int sync_nat(struct xtc_handle *h, proxy_svcport_t *const *sps, size_t n,
                    const proxy_opts_t *o, bool full, bool entries, proxy_sync_result_t *res,
                    kr_error_t *err)
{
    static const char *fixed[] = {PROXY_SERVICES, PROXY_NODEPORTS, PROXY_POSTROUTING,
                                  PROXY_MARK_MASQ};
    int rc = 0;
    /* Only endpoints changed: KRAAL-SERVICES (one rule per port, 10,000
     * at scale) stays as it is, unless a fixed chain went missing. */
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        entries = entries || !iptc_is_chain(fixed[i], h);
    if (full && !entries)
        entries = !entries_same(h, sps, n, o);
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && entries; i++)
        if ((rc = netipt_chain_ensure(h, fixed[i], true, err)) < 0)
            return rc;
    size_t names = 0;
    for (size_t i = 0; i < n; i++)
        names += 1 + sps[i]->neps;
    nameset_t want;
    nameset_init(&want, names);
    /* Which svcports get their chains rewritten: created (or flushed)
     * all before any rule is appended, as libiptc resolves a jump's target
     * when the rule is appended. */
    bool *write = calloc(n ? n : 1, sizeof(*write));
    if (!write)
        abort();
    const char **to_create = calloc(names ? names : 1, sizeof(*to_create));
    size_t n_create = 0;
    if (!to_create)
        abort();
    for (size_t i = 0; i < n; i++) {
        const proxy_svcport_t *sp = sps[i];
        if (!proxy_svcport_has_chains(sp))
            continue;
        nameset_add(&want, sp->chain);
        for (size_t e = 0; e < sp->neps; e++)
            nameset_add(&want, sp->eps[e].chain);
        write[i] = sp->dirty || !chains_present(h, sp) || (full && !chains_same(h, sp, o));
        if (!write[i])
            continue;
        to_create[n_create++] = sp->chain;
        for (size_t e = 0; e < sp->neps; e++)
            to_create[n_create++] = sp->eps[e].chain;
    }
    /* libiptc keeps user chains in a sorted list and finds a new chain's
     * place by walking from its index: a name smaller than every other
     * goes first at once, so creating in descending order is linear (in
     * ascending order each create walks up to ~400 names; 50,000 chains
     * took 1 s). */
    qsort(to_create, n_create, sizeof(*to_create), cmp_desc);
    for (size_t i = 0; i < n_create && rc == 0; i++)
        rc = netipt_chain_ensure(h, to_create[i], true, err);
    res->chains_written += n_create;
    free(to_create);
    apply_t a = {.nat = h};
    if (rc == 0 && entries)
        rc = proxy_rules_static(o, apply_emit, &a, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (write[i])
            rc = proxy_rules_chains(sps[i], o, apply_emit, &a, err);
        if (rc == 0 && entries)
            rc = proxy_rules_entry(sps[i], o, apply_emit, &a, err);
    }
    if (rc == 0 && entries)
        rc = proxy_rules_nodeports_jump(apply_emit, &a, err);
    if (rc == 0)
        rc = sweep(h, &want, &res->chains_removed, err);
    if (rc == 0)
        rc = ensure_jumps(h, PROXY_NAT, err);
    res->rules += a.rules;
    free(write);
    free(want.slots);
    return rc;
}

/* Whether filter's chains of ours hold their rules already. */
static bool filter_same(struct xtc_handle *h, proxy_svcport_t *const *sps, size_t n)
{
    verify_t v = {.h = h, .table = PROXY_FILTER};
    kr_error_t err;
    if (!iptc_is_chain(PROXY_SERVICES, h) || !iptc_is_chain(PROXY_EXT_SERVICES, h) ||
        !iptc_is_chain(PROXY_FORWARD, h))
        return false;
    proxy_rules_forward(verify_emit, &v, &err);
    for (size_t i = 0; i < n && !v.differs; i++)
        proxy_rules_reject(sps[i], verify_emit, &v, &err);
    /* Chains no rule was emitted to must be empty. */
    static const char *chains[] = {PROXY_SERVICES, PROXY_EXT_SERVICES};
    for (size_t c = 0; c < 2; c++) {
        bool seen = false;
        for (size_t i = 0; i < v.nslots; i++)
            seen = seen || !strcmp(v.slot[i].chain, chains[c]);
        if (!seen && iptc_first_rule(chains[c], h))
            return false;
    }
    return verify_same(&v);
}

static int sync_filter(struct xtc_handle *h, proxy_svcport_t *const *sps, size_t n,
                       proxy_sync_result_t *res, kr_error_t *err)
{
    int rc;
    if (filter_same(h, sps, n))
        return ensure_jumps(h, PROXY_FILTER, err);
    if ((rc = netipt_chain_ensure(h, PROXY_SERVICES, true, err)) < 0 ||
        (rc = netipt_chain_ensure(h, PROXY_EXT_SERVICES, true, err)) < 0 ||
        (rc = netipt_chain_ensure(h, PROXY_FORWARD, true, err)) < 0)
        return rc;
    apply_t a = {.filter = h};
    rc = proxy_rules_forward(apply_emit, &a, err);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = proxy_rules_reject(sps[i], apply_emit, &a, err);
    if (rc == 0)
        rc = ensure_jumps(h, PROXY_FILTER, err);
    res->rules += a.rules;
    return rc;
}

int proxy_sync(proxy_svcport_t *const *sps, size_t n, const proxy_opts_t *o, unsigned what,
               int lock_wait_ms, proxy_sync_result_t *res, kr_error_t *err)
{
    bool full = what & PROXY_SYNC_FULL, filter = full || (what & PROXY_SYNC_FILTER);
    memset(res, 0, sizeof(*res));
    double t0 = now_ms();
    int lock = netipt_lock(lock_wait_ms, err);
    if (lock < 0)
        return lock;
    int rc = 0;
    struct xtc_handle *nat = netipt_table_open("nat", err), *flt = NULL;
    if (!nat)
        rc = -KR_E_INTERNAL;
    if (rc == 0 && filter && !(flt = netipt_table_open("filter", err)))
        rc = -KR_E_INTERNAL;
    double t1 = now_ms();
    if (rc == 0)
        rc = sync_nat(nat, sps, n, o, full, what & PROXY_SYNC_ENTRIES, res, err);
    if (rc == 0 && flt)
        rc = sync_filter(flt, sps, n, res, err);
    double t2 = now_ms();
    if (rc == 0)
        rc = netipt_table_commit(nat, "nat", err);
    if (rc == 0 && flt)
        rc = netipt_table_commit(flt, "filter", err);
    double t3 = now_ms();
    netipt_table_free(&nat);
    netipt_table_free(&flt);
    netipt_unlock(lock);
    res->open_ms = t1 - t0;
    res->build_ms = t2 - t1;
    res->commit_ms = t3 - t2;
    if (rc == 0)
        for (size_t i = 0; i < n; i++)
            sps[i]->dirty = false;
    return rc;
}
