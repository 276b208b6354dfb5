/* REST gateway request paths: whatever the path, parsing terminates,
 * stays inside its buffer and yields a route whose strings are inside it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

static void inside(const char *s, const char *buf, size_t size)
{
    uintptr_t p = (uintptr_t)s, b = (uintptr_t)buf;
    if (s != NULL && (p < b || p >= b + size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4096];
    if (size >= sizeof path)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';
    char buf[1024];
    rest_route_t r;
    rest_route_parse(path, buf, sizeof buf, &r);
    if (r.kind == REST_ROUTE_RESOURCE && (r.resource == NULL || r.version == NULL))
        abort();
    inside(r.resource, buf, sizeof buf);
    inside(r.ns, buf, sizeof buf);
    inside(r.name, buf, sizeof buf);
    inside(r.sub, buf, sizeof buf);
    inside(r.gv_path, buf, sizeof buf);
    return 0;
}
