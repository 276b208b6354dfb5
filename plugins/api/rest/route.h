/* Request paths of the Kubernetes REST API, parsed into what they name.
 *
 *   /api, /apis, /apis/<group>                     discovery
 *   /api/v1, /apis/<group>/<version>               APIResourceList
 *   /api/v1[/namespaces/<ns>]/<resource>[/<name>[/<sub>]]
 *   /apis/<group>/<version>[/namespaces/<ns>]/<resource>[/<name>[/<sub>]]
 *   /version, /healthz, /livez, /readyz (and their /<check> forms),
 *   /metrics, /openapi/v2, /openapi/v3[/<gv path>]
 *
 * /api/v1/namespaces/<name> is the Namespace itself, and
 * /api/v1/namespaces/<name>/status|finalize its subresources; any other
 * word after a namespace is a resource in it.  Parsing allocates nothing:
 * the route's strings point into `buf`, which the parser fills.
 */
#ifndef KRAAL_REST_ROUTE_H
#define KRAAL_REST_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum rest_route_kind {
    REST_ROUTE_NOT_FOUND = 0,
    REST_ROUTE_VERSION,       /* /version */
    REST_ROUTE_HEALTH,        /* /healthz, /livez, /readyz (+ /<check>) */
    REST_ROUTE_METRICS,       /* /metrics */
    REST_ROUTE_API,           /* /api: APIVersions */
    REST_ROUTE_APIS,          /* /apis: APIGroupList */
    REST_ROUTE_GROUP,         /* /apis/<group>: APIGroup */
    REST_ROUTE_GROUP_VERSION, /* /api/v1, /apis/<g>/<v>: APIResourceList */
    REST_ROUTE_OPENAPI_V2,    /* /openapi/v2 */
    REST_ROUTE_OPENAPI_V3,    /* /openapi/v3[/<gv>]: gv_path NULL for the index */
    REST_ROUTE_RESOURCE,      /* a resource, an object or a subresource */
} rest_route_kind_t;

typedef struct rest_route {
    rest_route_kind_t kind;
    const char *group;    /* "" for the core group */
    const char *version;  /* "v1" */
    const char *resource; /* "pods" */
    const char *ns;       /* NULL when the path names no namespace */
    const char *name;     /* NULL for a collection */
    const char *sub;      /* "status", "scale", "binding", ... or NULL */
    const char *gv_path;  /* OPENAPI_V3: "api/v1", "apis/apps/v1" */
    const char *check;    /* HEALTH: "healthz", "livez", "readyz" */
} rest_route_t;

/* Parses `path` (already percent-decoded, without the query).  `buf` of
 * `size` bytes receives the route's strings; a path longer than `size`
 * is REST_ROUTE_NOT_FOUND. */
void rest_route_parse(const char *path, char *buf, size_t size, rest_route_t *out);

#endif
