/* A fake object API for informer and controller tests: one resource served
 * on the bus from a thread of its own, with the request and event shapes of
 * the real API (core/api.c) — list with limit/continue, watch from a
 * resourceVersion with bookmarks and 410 Expired, create/update/delete/get
 * with 409 on a stale resourceVersion — and a "fake.ctl" op that lets a
 * test break things on purpose (lose events, expire watches, restart). */
#ifndef KRAAL_TEST_FAKE_API_H
#define KRAAL_TEST_FAKE_API_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <kraal/bus.h>
#include <kraal/loop.h>

#define FAKE_MAX_REQS 1024

/* One list or watch request the fake received (for assertions). */
typedef struct fake_req {
    char op[16];
    char ns[64];
    char rv[32];   /* watch: the resourceVersion asked for */
    char cont[64]; /* list: continue token */
    char labels[128], fields[128];
    int64_t limit; /* list: 0 when absent */
    bool bookmarks;
    uint64_t at_ms; /* kr_time_ms() when it arrived */
} fake_req_t;

typedef struct fake_api fake_api_t;

/* Starts the fake on its own thread, serving `res` (e.g.
 * "test.kraal.io/v1/widgets") and "fake.ctl" on `endpoint`.  Returns once
 * it serves. */
fake_api_t *fake_api_start(const char *endpoint, const char *res);
void fake_api_stop(fake_api_t **self_p);

/* Copies the list and watch requests received so far (at most max);
 * returns how many. */
int fake_api_reqs(fake_api_t *f, fake_req_t *out, int max);
/* Number of requests with this op received so far. */
int fake_api_count(fake_api_t *f, const char *op);
/* Watch streams cancelled by their client (unwatch, client gone). */
int fake_api_cancels(fake_api_t *f);

/* Sends a request on `bus` (synchronously) and returns the reply's code;
 * `json` is the request map in JSON, e.g.
 *   {"op":"fake.ctl","obj":{"do":"expire"}}
 * The reply's obj is copied into `arena` at *obj when obj is not NULL. */
int fake_call(kr_bus_t *bus, kr_arena_t *arena, kr_value_t **obj, const char *json);

#endif
