/* What `kraal server` runs, minus the other plugins, in a unit test's
 * process: a broker, the object API, the sqlite store plugin on a temp
 * dir and one bus client.  For tests of API semantics and of SDK pieces
 * that talk to the API (tests/unit/api, tests/unit/events). */
#ifndef KRAAL_TEST_API_FIXTURE_H
#define KRAAL_TEST_API_FIXTURE_H

#include <kraal/bus.h>

#include "api.h"
#include "broker.h"
#include "host.h"

typedef struct api_fixture {
    char dir[64];
    kr_broker_t *broker;
    kr_api_t *api;
    kr_host_t *host;
    kr_bus_t *bus; /* a client on inproc:// */
    kr_arena_t *a; /* the test's scratch arena */
} api_fixture_t;

/* Starts everything in a new /tmp/kraal-test-<name>-XXXXXX; the broker
 * also listens on <dir>/bus.sock.  0, or -1 after printing why. */
int api_fixture_start(api_fixture_t *f, const char *name, const kr_api_opts_t *opts);
/* Stops everything and starts it again on the same directory (a server
 * restart: the API loads what the store holds).  0, or -1 after printing
 * why. */
int api_fixture_restart(api_fixture_t *f, const kr_api_opts_t *opts);
/* The first YAML (or JSON) document of `s`, in f->a; NULL for NULL.  A
 * test's own document that does not parse is the test's bug: it aborts
 * after printing why. */
kr_value_t *api_fixture_yaml(api_fixture_t *f, const char *s);
/* Stops everything and removes the directory. */
void api_fixture_stop(api_fixture_t *f);

#endif
