/* network-bridge: pod masquerade (see masq.h). */
#include "masq.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netipt.h"

#define MASQ_LOCK_WAIT_MS 5000
#define MASQ_COMMENT      "kraal pod masquerade"

static bool parse(const char *cidr, uint32_t *addr, int *prefix)
{
    char buf[64];
    if (cidr == NULL || snprintf(buf, sizeof buf, "%s", cidr) >= (int)sizeof buf)
        return false;
    char *slash = strchr(buf, '/'), *end;
    if (slash == NULL)
        return false;
    *slash = '\0';
    long p = strtol(slash + 1, &end, 10);
    struct in_addr a;
    if (*end != '\0' || p < 0 || p > 32 || inet_pton(AF_INET, buf, &a) != 1)
        return false;
    *addr = a.s_addr;
    *prefix = (int)p;
    return true;
}

/* Whether `chain` holds exactly the one rule whose save text is `want`. */
static bool chain_is(struct xtc_handle *h, const char *want)
{
    if (!iptc_is_chain(BR_MASQ_CHAIN, h))
        return false;
    const struct ipt_entry *e = iptc_first_rule(BR_MASQ_CHAIN, h);
    if (e == NULL)
        return false;
    char got[512];
    netipt_entry_format(e, iptc_get_target(e, h), got, sizeof got);
    return strcmp(got, want) == 0 && iptc_next_rule(e, h) == NULL;
}

int br_masq_ensure(const char *cluster_cidr, kr_error_t *err)
{
    uint32_t net;
    int prefix;
    if (!parse(cluster_cidr, &net, &prefix))
        return kr_error_set(err, KR_E_INVALID, "cluster_cidr: invalid CIDR address: %s",
                            cluster_cidr ? cluster_cidr : "");
    netipt_rule_t masq, jump;
    netipt_rule_init(&masq);
    netipt_rule_src(&masq, net, prefix, false);
    netipt_rule_dst(&masq, net, prefix, true);
    netipt_target_masquerade(&masq, false);
    netipt_rule_init(&jump);
    netipt_match_comment(&jump, MASQ_COMMENT);
    netipt_target_jump(&jump, BR_MASQ_CHAIN);
    char want[512];
    netipt_entry_format(netipt_rule_entry(&masq), NULL, want, sizeof want);

    int lock = netipt_lock(MASQ_LOCK_WAIT_MS, err);
    if (lock < 0)
        return lock;
    int rc = 0;
    struct xtc_handle *h = netipt_table_open("nat", err);
    if (h == NULL) {
        rc = -KR_E_INTERNAL;
        goto out;
    }
    bool changed = false;
    if (!chain_is(h, want)) {
        if ((rc = netipt_chain_ensure(h, BR_MASQ_CHAIN, true, err)) < 0 ||
            (rc = netipt_rule_append(h, BR_MASQ_CHAIN, &masq, err)) < 0)
            goto out;
        changed = true;
    }
    if ((rc = netipt_rule_ensure(h, "POSTROUTING", &jump, false, err)) < 0)
        goto out;
    changed |= rc == 1;
    rc = 0;
    if (changed) {
        if ((rc = netipt_table_commit(h, "nat", err)) < 0)
            goto out;
        rc = 1;
    }
out:
    netipt_table_free(&h);
    netipt_unlock(lock);
    return rc;
}
