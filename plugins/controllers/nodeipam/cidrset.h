/* The node IPAM controller's CIDR set, after upstream's
 * pkg/controller/nodeipam/ipam/cidrset: the cluster CIDR cut into subnets
 * of one mask size, a bit (here: the owning node's name) per subnet, and a
 * round-robin cursor — AllocateNext hands out the first free subnet at or
 * after the one after the last it handed out, so a subnet released by a
 * deleted node comes back once the cursor has gone round.  IPv4 only.
 * Single-threaded (the controller's loop). */
#ifndef KRAAL_NODEIPAM_CIDRSET_H
#define KRAAL_NODEIPAM_CIDRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>

typedef struct ipam_cidrset {
    uint32_t net;  /* the cluster CIDR's network address, host order */
    int prefix;    /* the cluster CIDR's prefix length */
    int mask;      /* node_cidr_mask_size */
    uint32_t n;    /* subnets */
    uint32_t next; /* nextCandidate */
    uint32_t used;
    char **owner; /* n entries: the node holding the subnet, NULL when free */
} ipam_cidrset_t;

/* "10.244.0.0/16" and 24: at most 2^16 subnets (upstream's limit), the
 * mask no shorter than the cluster prefix and at most 30.  -KR_E_INVALID
 * with err (messages name the config keys). */
int ipam_cidrset_init(ipam_cidrset_t *s, const char *cluster_cidr, int mask, kr_error_t *err);
void ipam_cidrset_fini(ipam_cidrset_t *s);

/* Parses an IPv4 CIDR ("10.244.3.0/24"): false when it is not one. */
bool ipam_cidr_parse(const char *cidr, uint32_t *net, int *prefix);
/* "10.244.3.0/24" of subnet i; `size` >= 19. */
void ipam_cidrset_format(const ipam_cidrset_t *s, uint32_t i, char *buf, size_t size);

/* Marks the subnets `cidr` covers as `node`'s (Occupy): 1 when marked (or
 * already the node's), 0 when `cidr` is not in the cluster CIDR (nothing
 * marked), -1 when another node holds one of them (nothing marked; *other
 * names it). */
int ipam_cidrset_occupy(ipam_cidrset_t *s, const char *cidr, const char *node, const char **other);
/* The next free subnet, now `node`'s (AllocateNext); false when every
 * subnet is taken. */
bool ipam_cidrset_allocate(ipam_cidrset_t *s, const char *node, uint32_t *index);
/* Frees the subnets `cidr` covers that `node` holds (Release); how many. */
size_t ipam_cidrset_release(ipam_cidrset_t *s, const char *cidr, const char *node);
/* Frees subnet i if `node` holds it. */
void ipam_cidrset_release_index(ipam_cidrset_t *s, uint32_t i, const char *node);

#endif
