/* One request to the local server (local.h). */
#include <stdio.h>

#include "local.h"

#define PING_TIMEOUT_MS 5000

int kraal_local_call(const char *who, const char *run_dir, const kr_request_t *req, int timeout_ms,
                     kr_arena_t *arena, kr_reply_t *reply)
{
    char ep[4200];
    snprintf(ep, sizeof ep, "ipc://%s/bus.sock", run_dir);
    kr_error_t err;
    kr_request_t ping = {.op = "ping"};
    int status = 1;
    kr_bus_t *bus = kr_bus_connect(ep, &err);
    if (bus == NULL)
        fprintf(stderr, "%s: %s: %s\n", who, ep, err.message);
    else if (kr_bus_call(bus, &ping, arena, reply, PING_TIMEOUT_MS, &err) < 0)
        fprintf(stderr, "%s: no server answers at %s (is it running?)\n", who, ep);
    else if (kr_bus_call(bus, req, arena, reply, timeout_ms, &err) < 0)
        fprintf(stderr, "%s: no answer from the server at %s: %s\n", who, ep, err.message);
    else if (reply->code / 100 != 2)
        fprintf(stderr, "%s: %s\n", who, kr_reply_msg(reply));
    else
        status = 0;
    kr_bus_destroy(&bus);
    kr_bus_shutdown();
    return status;
}
