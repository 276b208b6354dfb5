/* Helpers shared by the bus tests: a broker on a temp ipc path, raw
 * ZeroMQ clients and msgpack builders for malformed input. */
#ifndef KRAAL_TEST_BUS_H
#define KRAAL_TEST_BUS_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include <kraal/bus.h>

#include "broker.h"

typedef struct test_broker {
    char dir[256];
    char sock[PATH_MAX];
    char ipc[PATH_MAX + 8];
    kr_broker_t *b;
} test_broker_t;

static inline void tb_start(test_broker_t *tb, size_t watch_backlog)
{
    snprintf(tb->dir, sizeof tb->dir, "/tmp/kraal-bus-test-XXXXXX");
    if (mkdtemp(tb->dir) == NULL)
        abort();
    snprintf(tb->sock, sizeof tb->sock, "%s/bus.sock", tb->dir);
    snprintf(tb->ipc, sizeof tb->ipc, "ipc://%s", tb->sock);
    kr_broker_opts_t o = {.ipc_path = tb->sock, .watch_backlog = watch_backlog};
    kr_error_t err;
    tb->b = kr_broker_new(&o, &err);
    if (tb->b == NULL) {
        fprintf(stderr, "broker: %s\n", err.message);
        abort();
    }
    if (kr_broker_start(tb->b, &err) < 0)
        abort();
}

static inline void tb_stop(test_broker_t *tb)
{
    kr_broker_destroy(&tb->b);
    rmdir(tb->dir);
}

/* msgpack into a malloc'd sbuffer */
typedef struct mp {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} mp_t;

static inline void mp_init(mp_t *m)
{
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static inline void mp_str(mp_t *m, const char *s)
{
    msgpack_pack_str(&m->pk, strlen(s));
    msgpack_pack_str_body(&m->pk, s, strlen(s));
}

static inline void *raw_connect(const char *ep)
{
    void *s = zmq_socket(kr_bus_zmq_context(), ZMQ_DEALER);
    int linger = 0, to = 5000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, sizeof to);
    if (zmq_connect(s, ep) != 0)
        abort();
    return s;
}

/* Receives the next non-empty single-frame message (skipping liveness
 * probes) and decodes it.  NULL on timeout. */
static inline kr_value_t *raw_recv(void *s, kr_arena_t *a)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            zmq_msg_close(&m);
            return NULL;
        }
        if (zmq_msg_size(&m) == 0) {
            zmq_msg_close(&m);
            continue;
        }
        kr_value_t *v = NULL;
        kr_error_t err;
        int rc = kr_msgpack_decode(a, zmq_msg_data(&m), zmq_msg_size(&m), &v, &err);
        zmq_msg_close(&m);
        return rc == 0 ? v : NULL;
    }
}

#endif
