/* RFC 6455 framing: the handshake key, masked client frames, fragments,
 * control frames, protocol errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "websocket.h"

/* A client frame: masked with a fixed key. */
static void client_frame(kr_buf_t *out, bool fin, int op, const void *data, size_t len)
{
    uint8_t h[14];
    size_t n = 0;
    h[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (len < 126) {
        h[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        h[n++] = 0x80 | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    memcpy(h + n, mask, 4);
    n += 4;
    kr_buf_append(out, h, n);
    for (size_t i = 0; i < len; i++) {
        uint8_t b = ((const uint8_t *)data)[i] ^ mask[i & 3];
        kr_buf_append(out, &b, 1);
    }
}

static void test_accept(void **state)
{
    (void)state;
    char out[29];
    /* the RFC's own example (section 1.3) */
    rest_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_messages_byte_by_byte(void **state)
{
    (void)state;
    kr_buf_t wire = KR_BUF_INIT, reply = KR_BUF_INIT;
    client_frame(&wire, true, REST_WS_BINARY, "\0hello", 6);
    client_frame(&wire, true, REST_WS_PING, "pi", 2);
    /* a fragmented message with a ping between its fragments */
    client_frame(&wire, false, REST_WS_BINARY, "\0ab", 3);
    client_frame(&wire, true, REST_WS_PING, "", 0);
    client_frame(&wire, true, REST_WS_CONT, "cd", 2);
    char big[70000];
    memset(big, 'x', sizeof big);
    client_frame(&wire, true, REST_WS_TEXT, big, sizeof big);
    rest_ws_t ws = {0};
    int got = 0, op;
    const uint8_t *data;
    size_t len;
    for (size_t i = 0; i < wire.len; i++) {
        rest_ws_feed(&ws, wire.data + i, 1);
        rest_ws_ev_t ev;
        while ((ev = rest_ws_next(&ws, &reply, &op, &data, &len)) != REST_WS_EV_NONE) {
            assert_int_equal(ev, REST_WS_EV_MESSAGE);
            if (got == 0) {
                assert_int_equal(op, REST_WS_BINARY);
                assert_int_equal(len, 6);
                assert_memory_equal(data, "\0hello", 6);
            } else if (got == 1) {
                assert_int_equal(op, REST_WS_BINARY);
                assert_int_equal(len, 5);
                assert_memory_equal(data, "\0abcd", 5);
            } else {
                assert_int_equal(op, REST_WS_TEXT);
                assert_int_equal(len, sizeof big);
                assert_memory_equal(data, big, sizeof big);
            }
            got++;
        }
    }
    assert_int_equal(got, 3);
    /* two pongs, unmasked, echoing the pings' payloads */
    assert_int_equal(reply.len, 4 + 2);
    assert_memory_equal(reply.data, "\x8a\x02pi\x8a\x00", 6);
    rest_ws_free(&ws);
    kr_buf_free(&wire);
    kr_buf_free(&reply);
}

static void test_close_and_errors(void **state)
{
    (void)state;
    kr_buf_t wire = KR_BUF_INIT, reply = KR_BUF_INIT;
    int op;
    const uint8_t *data;
    size_t len;
    rest_ws_t ws = {0};
    client_frame(&wire, true, REST_WS_CLOSE, "\x03\xe8", 2);
    rest_ws_feed(&ws, wire.data, wire.len);
    assert_int_equal(rest_ws_next(&ws, &reply, &op, &data, &len), REST_WS_EV_CLOSE);
    assert_memory_equal(reply.data, "\x88\x02\x03\xe8", 4);
    rest_ws_free(&ws);

    /* an unmasked client frame is a protocol error: close 1002 */
    kr_buf_reset(&reply);
    rest_ws_feed(&ws, "\x82\x01x", 3);
    assert_int_equal(rest_ws_next(&ws, &reply, &op, &data, &len), REST_WS_EV_ERROR);
    assert_int_equal((uint8_t)reply.data[0], 0x88);
    assert_int_equal((uint8_t)reply.data[2] << 8 | (uint8_t)reply.data[3], 1002);
    assert_int_equal(rest_ws_next(&ws, &reply, &op, &data, &len), REST_WS_EV_NONE);
    rest_ws_free(&ws);

    /* a continuation without a message, and a fragmented ping */
    kr_buf_reset(&wire);
    kr_buf_reset(&reply);
    client_frame(&wire, true, REST_WS_CONT, "x", 1);
    rest_ws_feed(&ws, wire.data, wire.len);
    assert_int_equal(rest_ws_next(&ws, &reply, &op, &data, &len), REST_WS_EV_ERROR);
    rest_ws_free(&ws);
    kr_buf_reset(&wire);
    client_frame(&wire, false, REST_WS_PING, "x", 1);
    rest_ws_feed(&ws, wire.data, wire.len);
    assert_int_equal(rest_ws_next(&ws, &reply, &op, &data, &len), REST_WS_EV_ERROR);
    rest_ws_free(&ws);

    /* a message over the limit: 1009 before its payload arrives */
    kr_buf_reset(&reply);
    uint8_t hdr[14] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x20, 0, 0, 1, 2, 3, 4};
    rest_ws_feed(&ws, hdr, sizeof hdr);
    assert_int_equal(rest_ws_next(&ws, &reply, &op, &data, &len), REST_WS_EV_ERROR);
    assert_int_equal((uint8_t)reply.data[2] << 8 | (uint8_t)reply.data[3], 1009);
    rest_ws_free(&ws);
    kr_buf_free(&wire);
    kr_buf_free(&reply);
}

static void test_server_frames(void **state)
{
    (void)state;
    kr_buf_t out = KR_BUF_INIT;
    rest_ws_channel_frame(&out, 1, "hi", 2);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "\x82\x03\x01hi", 5);
    kr_buf_reset(&out);
    char big[300] = {0};
    rest_ws_channel_frame(&out, 2, big, sizeof big);
    assert_int_equal(out.len, 4 + 1 + sizeof big);
    assert_memory_equal(out.data, "\x82\x7e\x01\x2d\x02", 5);
    kr_buf_reset(&out);
    rest_ws_close_frame(&out, 1000, NULL);
    assert_memory_equal(out.data, "\x88\x02\x03\xe8", 4);
    kr_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_messages_byte_by_byte),
        cmocka_unit_test(test_close_and_errors),
        cmocka_unit_test(test_server_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
