/* Request paths of the Kubernetes REST API (see route.h). */
#include "route.h"

#include <string.h>

#define MAX_SEGS 10

static bool is(const char *s, const char *word)
{
    return s != NULL && strcmp(s, word) == 0;
}

/* The resource part after /api/v1 or /apis/<g>/<v>: seg[0..n). */
static void parse_resource(char **seg, int n, rest_route_t *r)
{
    if (n == 0) {
        r->kind = REST_ROUTE_GROUP_VERSION;
        return;
    }
    int i = 0;
    if (is(seg[0], "namespaces") && n >= 3) {
        /* /namespaces/<name>/status and /finalize are the Namespace's own */
        if (n == 3 && r->group[0] == '\0' && (is(seg[2], "status") || is(seg[2], "finalize"))) {
            r->resource = seg[0];
            r->name = seg[1];
            r->sub = seg[2];
            r->kind = REST_ROUTE_RESOURCE;
            return;
        }
        r->ns = seg[1];
        i = 2;
    }
    int left = n - i;
    if (left < 1 || left > 3)
        return;
    r->resource = seg[i];
    r->name = left >= 2 ? seg[i + 1] : NULL;
    r->sub = left == 3 ? seg[i + 2] : NULL;
    r->kind = REST_ROUTE_RESOURCE;
}

void rest_route_parse(const char *path, char *buf, size_t size, rest_route_t *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(path);
    if (len == 0 || path[0] != '/' || len >= size)
        return;
    memcpy(buf, path, len + 1);
    char *seg[MAX_SEGS];
    int n = 0;
    for (char *p = buf + 1; *p != '\0';) {
        if (n == MAX_SEGS)
            return;
        char *slash = strchr(p, '/');
        if (slash == p) /* an empty segment: "//" */
            return;
        seg[n++] = p;
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    if (n == 0)
        return;
    if (n == 1 && is(seg[0], "version")) {
        out->kind = REST_ROUTE_VERSION;
    } else if (is(seg[0], "healthz") || is(seg[0], "livez") || is(seg[0], "readyz")) {
        if (n <= 2) {
            out->kind = REST_ROUTE_HEALTH;
            out->check = seg[0];
        }
    } else if (n == 1 && is(seg[0], "metrics")) {
        out->kind = REST_ROUTE_METRICS;
    } else if (is(seg[0], "openapi")) {
        if (n == 2 && is(seg[1], "v2")) {
            out->kind = REST_ROUTE_OPENAPI_V2;
        } else if (n >= 2 && is(seg[1], "v3")) {
            out->kind = REST_ROUTE_OPENAPI_V3;
            if (n > 2) {
                /* the segments were split in place: join them back */
                for (int i = 3; i < n; i++)
                    seg[i][-1] = '/';
                out->gv_path = seg[2];
            }
        }
    } else if (is(seg[0], "api")) {
        out->group = "";
        if (n == 1)
            out->kind = REST_ROUTE_API;
        else if (is(seg[1], "v1")) {
            out->version = seg[1];
            parse_resource(seg + 2, n - 2, out);
        }
    } else if (is(seg[0], "apis")) {
        if (n == 1) {
            out->kind = REST_ROUTE_APIS;
        } else {
            out->group = seg[1];
            if (n == 2) {
                out->kind = REST_ROUTE_GROUP;
            } else {
                out->version = seg[2];
                parse_resource(seg + 3, n - 3, out);
            }
        }
    }
}
