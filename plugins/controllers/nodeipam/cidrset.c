/* See cidrset.h. */
#include "cidrset.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ipam_cidr_parse(const char *cidr, uint32_t *net, int *prefix)
{
    char ip[INET_ADDRSTRLEN];
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    if (slash == NULL || (size_t)(slash - cidr) >= sizeof ip)
        return false;
    memcpy(ip, cidr, (size_t)(slash - cidr));
    ip[slash - cidr] = '\0';
    char *end;
    errno = 0;
    long p = strtol(slash + 1, &end, 10);
    struct in_addr a;
    if (end == slash + 1 || *end != '\0' || errno != 0 || p < 0 || p > 32 ||
        inet_pton(AF_INET, ip, &a) != 1)
        return false;
    uint32_t m = p == 0 ? 0 : UINT32_MAX << (32 - p);
    *net = ntohl(a.s_addr) & m;
    *prefix = (int)p;
    return true;
}

int ipam_cidrset_init(ipam_cidrset_t *s, const char *cluster_cidr, int mask, kr_error_t *err)
{
    memset(s, 0, sizeof *s);
    if (!ipam_cidr_parse(cluster_cidr, &s->net, &s->prefix))
        return kr_error_set(err, KR_E_INVALID,
                            "cluster_cidr: Invalid value: \"%s\": must be an IPv4 CIDR such as "
                            "10.244.0.0/16",
                            cluster_cidr ? cluster_cidr : "");
    if (mask < s->prefix || mask > 30)
        return kr_error_set(err, KR_E_INVALID,
                            "node_cidr_mask_size: Invalid value: %d: must be between the "
                            "cluster_cidr's prefix length (%d) and 30",
                            mask, s->prefix);
    if (mask - s->prefix > 16)
        return kr_error_set(err, KR_E_INVALID,
                            "node_cidr_mask_size: Invalid value: %d: cluster_cidr %s would hold "
                            "more than 65536 node CIDRs (at most 16 bits between the two)",
                            mask, cluster_cidr);
    s->mask = mask;
    s->n = 1u << (mask - s->prefix);
    s->owner = calloc(s->n, sizeof *s->owner);
    if (s->owner == NULL)
        abort();
    return 0;
}

void ipam_cidrset_fini(ipam_cidrset_t *s)
{
    for (uint32_t i = 0; s->owner != NULL && i < s->n; i++)
        free(s->owner[i]);
    free(s->owner);
    memset(s, 0, sizeof *s);
}

void ipam_cidrset_format(const ipam_cidrset_t *s, uint32_t i, char *buf, size_t size)
{
    struct in_addr a = {.s_addr = htonl(s->net + (i << (32 - s->mask)))};
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, ip, sizeof ip);
    snprintf(buf, size, "%s/%d", ip, s->mask);
}

/* The subnets [*lo, *hi] `cidr` overlaps; false when it is not an IPv4
 * CIDR inside the cluster CIDR. */
static bool covered(const ipam_cidrset_t *s, const char *cidr, uint32_t *lo, uint32_t *hi)
{
    uint32_t net;
    int prefix;
    if (!ipam_cidr_parse(cidr, &net, &prefix) || prefix < s->prefix)
        return false;
    uint32_t cmask = s->prefix == 0 ? 0 : UINT32_MAX << (32 - s->prefix);
    if ((net & cmask) != s->net)
        return false;
    uint64_t size = 1ull << (32 - prefix);
    uint32_t last = (uint32_t)(net + size - 1);
    *lo = (net - s->net) >> (32 - s->mask);
    *hi = (last - s->net) >> (32 - s->mask);
    return true;
}

int ipam_cidrset_occupy(ipam_cidrset_t *s, const char *cidr, const char *node, const char **other)
{
    uint32_t lo, hi;
    if (!covered(s, cidr, &lo, &hi))
        return 0;
    for (uint32_t i = lo; i <= hi; i++)
        if (s->owner[i] != NULL && strcmp(s->owner[i], node) != 0) {
            if (other != NULL)
                *other = s->owner[i];
            return -1;
        }
    for (uint32_t i = lo; i <= hi; i++)
        if (s->owner[i] == NULL) {
            s->owner[i] = strdup(node);
            if (s->owner[i] == NULL)
                abort();
            s->used++;
        }
    return 1;
}

bool ipam_cidrset_allocate(ipam_cidrset_t *s, const char *node, uint32_t *index)
{
    if (s->used >= s->n)
        return false;
    uint32_t c = s->next;
    for (uint32_t k = 0; k < s->n && s->owner[c] != NULL; k++)
        c = (c + 1) % s->n;
    if (s->owner[c] != NULL)
        return false;
    s->owner[c] = strdup(node);
    if (s->owner[c] == NULL)
        abort();
    s->used++;
    s->next = (c + 1) % s->n;
    *index = c;
    return true;
}

void ipam_cidrset_release_index(ipam_cidrset_t *s, uint32_t i, const char *node)
{
    if (i < s->n && s->owner[i] != NULL && strcmp(s->owner[i], node) == 0) {
        free(s->owner[i]);
        s->owner[i] = NULL;
        s->used--;
    }
}

size_t ipam_cidrset_release(ipam_cidrset_t *s, const char *cidr, const char *node)
{
    uint32_t lo, hi;
    size_t n = 0;
    if (!covered(s, cidr, &lo, &hi))
        return 0;
    for (uint32_t i = lo; i <= hi; i++) {
        uint32_t before = s->used;
        ipam_cidrset_release_index(s, i, node);
        n += before != s->used;
    }
    return n;
}
