/* RFC 6455 WebSocket framing, server side, for the streaming subresources
 * (pods/exec, pods/attach: podstream.c).  Pure byte handling: the caller
 * owns the socket.  libmicrohttpd 0.9.75 as Debian ships it has no
 * WebSocket helper library, only the HTTP Upgrade hand-over.
 */
#ifndef KRAAL_REST_WEBSOCKET_H
#define KRAAL_REST_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

enum {
    REST_WS_CONT = 0x0,
    REST_WS_TEXT = 0x1,
    REST_WS_BINARY = 0x2,
    REST_WS_CLOSE = 0x8,
    REST_WS_PING = 0x9,
    REST_WS_PONG = 0xa,
};

/* Largest message assembled from fragments; a client sending more gets
 * close 1009 (kubectl's stdin frames are at most 32 KiB). */
#define REST_WS_MAX_MESSAGE (1u << 20)

/* The Sec-WebSocket-Accept value for a Sec-WebSocket-Key: base64 of the
 * SHA-1 of key + the RFC's GUID, 28 characters and a NUL. */
void rest_ws_accept(const char *key, char out[29]);

/* One connection's reading side. */
typedef struct rest_ws {
    kr_buf_t in;  /* received bytes not yet parsed */
    size_t off;   /* parse position in `in` */
    kr_buf_t msg; /* the message being assembled from fragments */
    int msg_op;   /* its opcode, 0 when none is open */
    kr_buf_t out; /* the last returned message, when it was fragmented */
    bool closed;  /* a close frame came (or was sent for an error) */
} rest_ws_t;

typedef enum rest_ws_ev {
    REST_WS_EV_NONE = 0, /* more bytes are needed */
    REST_WS_EV_MESSAGE,  /* a whole text or binary message */
    REST_WS_EV_CLOSE,    /* the peer closed (its close was answered in `reply`) */
    REST_WS_EV_ERROR,    /* a protocol error; a close frame is in `reply` */
} rest_ws_ev_t;

/* Adds received bytes. */
void rest_ws_feed(rest_ws_t *ws, const void *data, size_t len);
/* The next event from what was fed.  Pings are answered by appending a
 * pong to `reply` (frames the server must send: pongs, the answer to a
 * close, a close for an error).  For a MESSAGE, *opcode, *data and *len
 * describe it; the bytes stay valid until the next rest_ws_feed or
 * rest_ws_next. */
rest_ws_ev_t rest_ws_next(rest_ws_t *ws, kr_buf_t *reply, int *opcode, const uint8_t **data,
                          size_t *len);
void rest_ws_free(rest_ws_t *ws);

/* Appends one unfragmented, unmasked server frame. */
void rest_ws_frame(kr_buf_t *out, int opcode, const void *data, size_t len);
/* A frame whose payload is one channel byte and then `data`, as the
 * channel.k8s.io protocols send. */
void rest_ws_channel_frame(kr_buf_t *out, uint8_t channel, const void *data, size_t len);
/* A close frame with a status code (1000 normal, 1002 protocol error, ...). */
void rest_ws_close_frame(kr_buf_t *out, uint16_t code, const char *reason);

#endif
