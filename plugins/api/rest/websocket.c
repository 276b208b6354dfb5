/* RFC 6455 framing, server side (websocket.h). */
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <kraal/base64.h>

#include "websocket.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static void base64(const uint8_t *in, size_t n, char *out)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_base64_encode(&b, in, n, KR_B64_STD);
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    kr_buf_free(&b);
}

void rest_ws_accept(const char *key, char out[29])
{
    char buf[128];
    size_t klen = strnlen(key, 64);
    memcpy(buf, key, klen);
    memcpy(buf + klen, WS_GUID, sizeof WS_GUID - 1);
    uint8_t digest[20];
    gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, klen + sizeof WS_GUID - 1, digest);
    base64(digest, sizeof digest, out);
}

void rest_ws_feed(rest_ws_t *ws, const void *data, size_t len)
{
    if (ws->off > 0) {
        memmove(ws->in.data, ws->in.data + ws->off, ws->in.len - ws->off);
        ws->in.len -= ws->off;
        ws->off = 0;
    }
    kr_buf_append(&ws->in, data, len);
}

void rest_ws_free(rest_ws_t *ws)
{
    kr_buf_free(&ws->in);
    kr_buf_free(&ws->msg);
    kr_buf_free(&ws->out);
    memset(ws, 0, sizeof *ws);
}

static void put_header(kr_buf_t *out, int opcode, size_t len)
{
    uint8_t h[10];
    size_t n = 0;
    h[n++] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[n++] = (uint8_t)len;
    } else if (len <= 0xffff) {
        h[n++] = 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    kr_buf_append(out, h, n);
}

void rest_ws_frame(kr_buf_t *out, int opcode, const void *data, size_t len)
{
    put_header(out, opcode, len);
    if (len > 0)
        kr_buf_append(out, data, len);
}

void rest_ws_channel_frame(kr_buf_t *out, uint8_t channel, const void *data, size_t len)
{
    put_header(out, REST_WS_BINARY, len + 1);
    kr_buf_append(out, &channel, 1);
    if (len > 0)
        kr_buf_append(out, data, len);
}

void rest_ws_close_frame(kr_buf_t *out, uint16_t code, const char *reason)
{
    uint8_t p[125];
    size_t rlen = reason ? strnlen(reason, sizeof p - 2) : 0;
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rlen > 0)
        memcpy(p + 2, reason, rlen);
    rest_ws_frame(out, REST_WS_CLOSE, p, rlen + 2);
}

static rest_ws_ev_t fail(rest_ws_t *ws, kr_buf_t *reply, uint16_t code, const char *why)
{
    if (!ws->closed)
        rest_ws_close_frame(reply, code, why);
    ws->closed = true;
    return REST_WS_EV_ERROR;
}

rest_ws_ev_t rest_ws_next(rest_ws_t *ws, kr_buf_t *reply, int *opcode, const uint8_t **data,
                          size_t *len)
{
    for (;;) {
        if (ws->closed)
            return REST_WS_EV_NONE;
        uint8_t *p = (uint8_t *)ws->in.data + ws->off;
        size_t avail = ws->in.len - ws->off;
        if (avail < 2)
            return REST_WS_EV_NONE;
        bool fin = p[0] & 0x80;
        int op = p[0] & 0x0f;
        if (p[0] & 0x70)
            return fail(ws, reply, 1002, "reserved bits set");
        if (!(p[1] & 0x80))
            return fail(ws, reply, 1002, "client frames must be masked");
        uint64_t plen = p[1] & 0x7f;
        size_t hlen = 2;
        if (plen == 126) {
            if (avail < 4)
                return REST_WS_EV_NONE;
            plen = (uint64_t)p[2] << 8 | p[3];
            hlen = 4;
        } else if (plen == 127) {
            if (avail < 10)
                return REST_WS_EV_NONE;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | p[2 + i];
            hlen = 10;
        }
        bool control = op & 0x08;
        if (control && (!fin || plen > 125))
            return fail(ws, reply, 1002, "bad control frame");
        if (!control && op != REST_WS_CONT && op != REST_WS_TEXT && op != REST_WS_BINARY)
            return fail(ws, reply, 1002, "unknown opcode");
        if (control && op != REST_WS_CLOSE && op != REST_WS_PING && op != REST_WS_PONG)
            return fail(ws, reply, 1002, "unknown opcode");
        if (plen > REST_WS_MAX_MESSAGE || ws->msg.len + plen > REST_WS_MAX_MESSAGE)
            return fail(ws, reply, 1009, "message too big");
        if (avail < hlen + 4 + plen)
            return REST_WS_EV_NONE;
        const uint8_t *mask = p + hlen;
        uint8_t *payload = p + hlen + 4;
        for (uint64_t i = 0; i < plen; i++)
            payload[i] ^= mask[i & 3];
        ws->off += hlen + 4 + (size_t)plen;

        switch (op) {
        case REST_WS_PING:
            rest_ws_frame(reply, REST_WS_PONG, payload, (size_t)plen);
            continue;
        case REST_WS_PONG:
            continue;
        case REST_WS_CLOSE: {
            /* echo the status code, as the RFC asks */
            uint16_t code = plen >= 2 ? (uint16_t)(payload[0] << 8 | payload[1]) : 1000;
            rest_ws_close_frame(reply, code, NULL);
            ws->closed = true;
            return REST_WS_EV_CLOSE;
        }
        case REST_WS_CONT:
            if (ws->msg_op == 0)
                return fail(ws, reply, 1002, "continuation without a message");
            kr_buf_append(&ws->msg, payload, (size_t)plen);
            if (!fin)
                continue;
            /* the assembled message moves to `out`, which stays valid
             * until the next call */
            kr_buf_reset(&ws->out);
            kr_buf_append(&ws->out, ws->msg.data, ws->msg.len);
            kr_buf_reset(&ws->msg);
            *opcode = ws->msg_op;
            ws->msg_op = 0;
            *data = (const uint8_t *)ws->out.data;
            *len = ws->out.len;
            return REST_WS_EV_MESSAGE;
        default:
            if (ws->msg_op != 0)
                return fail(ws, reply, 1002, "a new message inside a fragmented one");
            if (!fin) {
                ws->msg_op = op;
                kr_buf_reset(&ws->msg);
                kr_buf_append(&ws->msg, payload, (size_t)plen);
                continue;
            }
            *opcode = op;
            *data = payload;
            *len = (size_t)plen;
            return REST_WS_EV_MESSAGE;
        }
    }
}
