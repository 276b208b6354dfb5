/* network-proxy: the Services model and the rules it becomes — the rule
 * shapes of kube-proxy's iptables mode (pkg/proxy/iptables/proxier.go) in
 * chains named KRAAL-* instead of KUBE-*.
 *
 * The model holds one proxy_svcport_t per port of a Service (upstream's
 * ServicePortName "ns/name:port"), with its ready endpoints sorted.  The
 * builders hand each rule to an emit callback with its table and chain,
 * so the same rules go to libiptc (sync.c) or to iptables-restore text
 * (the benchmark, the tests).
 */
#ifndef NETWORK_PROXY_RULES_H
#define NETWORK_PROXY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>

#include "netipt.h"

/* Chain names fit iptables' 28 characters: "KRAAL-SVC-" + 16. */
#define PROXY_CHAIN_MAX 32

/* Our fixed chains. */
#define PROXY_SERVICES     "KRAAL-SERVICES"
#define PROXY_EXT_SERVICES "KRAAL-EXTERNAL-SERVICES"
#define PROXY_NODEPORTS    "KRAAL-NODEPORTS"
#define PROXY_POSTROUTING  "KRAAL-POSTROUTING"
#define PROXY_MARK_MASQ    "KRAAL-MARK-MASQ"
#define PROXY_FORWARD      "KRAAL-FORWARD"
#define PROXY_SVC_PREFIX   "KRAAL-SVC-"
#define PROXY_SEP_PREFIX   "KRAAL-SEP-"

/* kube-proxy's --iptables-masquerade-bit 14. */
#define PROXY_MASQ_MARK 0x4000u

typedef struct proxy_ep {
    uint32_t ip; /* network byte order */
    uint16_t port;
    char chain[PROXY_CHAIN_MAX]; /* KRAAL-SEP-<hash> */
} proxy_ep_t;

typedef struct proxy_svcport {
    char *name;          /* "ns/name:port" ("ns/name" for an unnamed port); owned */
    uint8_t proto;       /* IPPROTO_TCP, _UDP, _SCTP */
    uint32_t cluster_ip; /* network byte order; 0 for headless */
    uint16_t port;
    uint16_t node_port;  /* 0: none */
    uint32_t affinity_s; /* sessionAffinity ClientIP timeout; 0: none */
    proxy_ep_t *eps;     /* ready endpoints, sorted by address; owned */
    size_t neps;
    char chain[PROXY_CHAIN_MAX]; /* KRAAL-SVC-<hash> */
    bool dirty;                  /* changed since the last sync */
} proxy_svcport_t;

typedef struct proxy_opts {
    bool masquerade_all;   /* every packet to a service is masqueraded */
    uint32_t cluster_cidr; /* network byte order; with cluster_prefix > 0: packets */
    int cluster_prefix;    /* from outside it to a ClusterIP are masqueraded */
    bool comments;         /* comments on endpoint rules (off at large scale) */
} proxy_opts_t;

typedef enum proxy_table { PROXY_NAT, PROXY_FILTER } proxy_table_t;

/* Called once per rule, in order; a negative return stops the builder,
 * which returns it. */
typedef int (*proxy_emit_fn)(void *ud, proxy_table_t table, const char *chain,
                             const netipt_rule_t *r, kr_error_t *err);

/* Fills sp->chain and every endpoint's chain from kube-proxy's hash:
 * base32(sha256(name + proto [+ "ip:port"]))[:16]. */
void proxy_svcport_name_chains(proxy_svcport_t *sp);
/* Frees what a svcport owns (not sp itself). */
void proxy_svcport_clear(proxy_svcport_t *sp);
/* Whether two svcports make the same rules. */
bool proxy_svcport_equal(const proxy_svcport_t *a, const proxy_svcport_t *b);
/* Whether the svcport has chains of its own (a ClusterIP and endpoints). */
bool proxy_svcport_has_chains(const proxy_svcport_t *sp);
/* "tcp", "udp", "sctp". */
const char *proxy_proto_name(uint8_t proto);

/* Rules of KRAAL-MARK-MASQ and KRAAL-POSTROUTING (nat). */
int proxy_rules_static(const proxy_opts_t *o, proxy_emit_fn emit, void *ud, kr_error_t *err);
/* Rules of filter KRAAL-FORWARD: Service traffic is forwarded even where
 * the FORWARD policy is DROP (a Docker host), and invalid packets are
 * dropped rather than forwarded un-NATed. */
int proxy_rules_forward(proxy_emit_fn emit, void *ud, kr_error_t *err);
/* The jumps from the built-in chains into ours: table, built-in chain,
 * rule; *n gets the count.  Static storage, built once. */
typedef struct proxy_jump {
    proxy_table_t table;
    const char *builtin;
    const char *target;
    const char *comment;
} proxy_jump_t;
const proxy_jump_t *proxy_jumps(size_t *n);
void proxy_jump_rule(const proxy_jump_t *j, netipt_rule_t *r);

/* sp's rules in KRAAL-SERVICES and KRAAL-NODEPORTS (nat). */
int proxy_rules_entry(const proxy_svcport_t *sp, const proxy_opts_t *o, proxy_emit_fn emit,
                      void *ud, kr_error_t *err);
/* The last rule of nat KRAAL-SERVICES: local destinations to KRAAL-NODEPORTS. */
int proxy_rules_nodeports_jump(proxy_emit_fn emit, void *ud, kr_error_t *err);
/* sp's own chains: KRAAL-SVC-* then each KRAAL-SEP-* (nat). */
int proxy_rules_chains(const proxy_svcport_t *sp, const proxy_opts_t *o, proxy_emit_fn emit,
                       void *ud, kr_error_t *err);
/* sp's REJECT rules in filter KRAAL-SERVICES / KRAAL-EXTERNAL-SERVICES
 * when it has no ready endpoint (nothing otherwise). */
int proxy_rules_reject(const proxy_svcport_t *sp, proxy_emit_fn emit, void *ud, kr_error_t *err);

#endif
