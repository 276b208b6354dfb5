/* network-bridge: the masquerade of pod traffic leaving the cluster range
 * (nat chain KRAAL-POD-MASQ, jumped to from POSTROUTING), through libiptc
 * (kraal-netfilter) under the xtables lock. */
#ifndef KRAAL_BRIDGE_MASQ_H
#define KRAAL_BRIDGE_MASQ_H

#include <kraal/error.h>

#define BR_MASQ_CHAIN "KRAAL-POD-MASQ"

/* Makes KRAAL-POD-MASQ exactly "-s <cluster_cidr> ! -d <cluster_cidr> -j
 * MASQUERADE" and POSTROUTING jump to it once; commits only when
 * something differed.  Returns 1 when the table was changed, 0 when it
 * was right already, < 0 with err. */
int br_masq_ensure(const char *cluster_cidr, kr_error_t *err);

#endif
