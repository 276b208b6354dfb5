/* Service ClusterIP and NodePort allocation (upstream's
 * pkg/registry/core/service/ipallocator and portallocator, as the Service
 * REST storage drives them).
 *
 * Two bitmaps: one over the service CIDR (its network and broadcast
 * addresses excluded) and one over the node port range.  A Service write
 * takes what the new object needs beyond the old one before it is
 * submitted; the write's outcome then settles the change: committed, the
 * old object's values the new one dropped are released (upstream releases
 * after the update or delete succeeded); failed, what was taken is
 * released.  Dynamic choices are random, in the upper band of each range
 * first (upstream's static subrange: the lower band is kept for values
 * clients ask for, as 10.96.0.10 for the cluster DNS), so two servers
 * sharing one store rarely pick the same value.  After a restart the
 * bitmaps are rebuilt from the stored Services (kr_svcalloc_load).
 *
 * Single-threaded: the API calls it from the broker thread only. */
#ifndef KRAAL_CORE_SVCALLOC_H
#define KRAAL_CORE_SVCALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include <kraal/error.h>
#include <kraal/value.h>

#include "validation.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KR_SVC_CIDR_DEFAULT       "10.96.0.0/12"
#define KR_SVC_NODE_PORTS_DEFAULT "30000-32767"

typedef struct kr_svcalloc kr_svcalloc_t;
/* What one write took and what it releases once committed. */
typedef struct kr_svc_change kr_svc_change_t;

/* "10.96.0.0/12": an IPv4 CIDR with a prefix of at most 30 (the network
 * address is returned, host bits cleared).  -KR_E_INVALID with err. */
int kr_svcalloc_parse_cidr(const char *s, uint32_t *net, int *prefix, kr_error_t *err);
/* "30000-32767" (or upstream's "30000+2767"): 1 <= lo <= hi <= 65535. */
int kr_svcalloc_parse_ports(const char *s, int *lo, int *hi, kr_error_t *err);

/* NULL values take the defaults above.  NULL with err on a bad value.
 * Caller owns the allocator. */
kr_svcalloc_t *kr_svcalloc_new(const char *cidr, const char *node_ports, kr_error_t *err);
void kr_svcalloc_destroy(kr_svcalloc_t **self_p);

/* Marks what a stored Service holds (after a restart).  A value already
 * marked by another Service is logged and counted in *dups (when not
 * NULL), values outside the ranges are ignored (the range was changed). */
void kr_svcalloc_load(kr_svcalloc_t *al, const kr_value_t *svc, size_t *dups);

/* A write of a Service: `obj` the new state (changed in place: the
 * allocated spec.clusterIP/clusterIPs, ports[].nodePort and
 * healthCheckNodePort are filled in), NULL for a delete; `old` the stored
 * state, NULL for a create.  Takes what obj needs beyond old and returns
 * the change in *change (NULL when there is nothing to settle).  A value
 * out of range or in use adds upstream's field error to v (as the Service
 * REST storage answers it) and takes nothing; a full range answers
 * KR_E_INTERNAL in err.  Returns 0, or < 0 when v or err has the error. */
int kr_svcalloc_write(kr_svcalloc_t *al, kr_arena_t *a, kr_value_t *obj, const kr_value_t *old,
                      kr_validation_t *v, kr_svc_change_t **change, kr_error_t *err);
/* The write is committed: releases old's values obj dropped.  Frees the
 * change; NULL is a no-op. */
void kr_svcalloc_commit(kr_svcalloc_t *al, kr_svc_change_t **change);
/* The write failed (or was a dry run): releases what it took.  Frees the
 * change; NULL is a no-op. */
void kr_svcalloc_abort(kr_svcalloc_t *al, kr_svc_change_t **change);

/* Whether a value is taken (tests, stats). */
bool kr_svcalloc_ip_taken(const kr_svcalloc_t *al, const char *ip);
bool kr_svcalloc_port_taken(const kr_svcalloc_t *al, int port);
/* How many values are taken in each range. */
void kr_svcalloc_usage(const kr_svcalloc_t *al, uint32_t *ips, uint32_t *ports);

#ifdef __cplusplus
}
#endif
#endif
