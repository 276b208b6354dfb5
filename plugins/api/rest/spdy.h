/* SPDY/3.1 framing, server side, for kubectl's port-forward (portforward.c).
 *
 * kubectl (all versions up to 1.33) forwards ports over SPDY streams: for
 * each connection a pair of client-initiated streams with the headers
 * streamtype (error|data), port and requestid.  Since 1.30 it may tunnel
 * the same SPDY bytes inside WebSocket binary messages (subprotocol
 * SPDY/3.1+portforward.k8s.io).  Pure byte handling: the caller owns the
 * connection.  Flow control: spdystream neither sends nor honours
 * WINDOW_UPDATE, so none is kept here either.
 */
#ifndef KRAAL_REST_SPDY_H
#define KRAAL_REST_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

typedef struct rest_spdy rest_spdy_t;

typedef struct rest_spdy_cb {
    /* A SYN_STREAM; `headers` maps lower-case names to values (in the
     * parser's arena, valid during the call). */
    void (*on_stream)(void *ud, uint32_t id, const kr_value_t *headers, bool fin);
    void (*on_data)(void *ud, uint32_t id, const uint8_t *data, size_t len, bool fin);
    void (*on_reset)(void *ud, uint32_t id);
    void (*on_goaway)(void *ud);
} rest_spdy_cb_t;

rest_spdy_t *rest_spdy_new(const rest_spdy_cb_t *cb, void *ud);
void rest_spdy_destroy(rest_spdy_t **self_p);

/* Parses what arrived and calls back per frame; frames the server must
 * send in answer (PING echoes) go to `out`.  -1 on a protocol error. */
int rest_spdy_feed(rest_spdy_t *s, const void *data, size_t len, kr_buf_t *out);

/* Frames to send. */
void rest_spdy_syn_reply(rest_spdy_t *s, kr_buf_t *out, uint32_t id, bool fin);
void rest_spdy_data(kr_buf_t *out, uint32_t id, const void *data, size_t len, bool fin);
void rest_spdy_rst(kr_buf_t *out, uint32_t id, uint32_t status);
/* A SYN_STREAM with headers (for tests: the client's side), alternating
 * names and values, NULL-terminated. */
void rest_spdy_syn_stream(rest_spdy_t *s, kr_buf_t *out, uint32_t id, const char *const *kv,
                          bool fin);

#endif
