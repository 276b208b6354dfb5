/* SPDY/3.1 framing: header blocks through the shared zlib streams (with
 * the spec's dictionary), data frames, FIN, PING echo, RST, bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "spdy.h"

typedef struct seen {
    int streams, data, resets;
    uint32_t last_id;
    bool fin;
    char type[32], port[16];
    kr_buf_t bytes;
} seen_t;

static void on_stream(void *ud, uint32_t id, const kr_value_t *h, bool fin)
{
    seen_t *s = ud;
    s->streams++;
    s->last_id = id;
    s->fin = fin;
    const char *t = kr_value_map_str(h, "streamtype"), *p = kr_value_map_str(h, "port");
    snprintf(s->type, sizeof s->type, "%s", t ? t : "");
    snprintf(s->port, sizeof s->port, "%s", p ? p : "");
}

static void on_data(void *ud, uint32_t id, const uint8_t *d, size_t n, bool fin)
{
    seen_t *s = ud;
    s->data++;
    s->last_id = id;
    s->fin = fin;
    kr_buf_append(&s->bytes, d, n);
}

static void on_reset(void *ud, uint32_t id)
{
    seen_t *s = ud;
    s->resets++;
    s->last_id = id;
}

static void test_streams(void **state)
{
    (void)state;
    seen_t srv = {0}, cli = {0};
    rest_spdy_cb_t cb = {on_stream, on_data, on_reset, NULL};
    rest_spdy_t *server = rest_spdy_new(&cb, &srv), *client = rest_spdy_new(&cb, &cli);
    kr_buf_t wire = KR_BUF_INIT, out = KR_BUF_INIT;
    /* two header blocks: the second depends on the first's zlib state */
    const char *const e[] = {"streamtype", "error", "port", "8080", "requestid", "0", NULL};
    const char *const d[] = {"streamtype", "data", "port", "8080", "requestid", "0", NULL};
    rest_spdy_syn_stream(client, &wire, 1, e, true);
    rest_spdy_syn_stream(client, &wire, 3, d, false);
    rest_spdy_data(&wire, 3, "hello", 5, false);
    rest_spdy_data(&wire, 3, NULL, 0, true);
    static const uint8_t ping[] = {0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7};
    kr_buf_append(&wire, ping, sizeof ping);
    /* byte by byte: frames split anywhere */
    for (size_t i = 0; i < wire.len; i++) {
        assert_int_equal(rest_spdy_feed(server, wire.data + i, 1, &out), 0);
    }
    assert_int_equal(srv.streams, 2);
    assert_string_equal(srv.type, "data");
    assert_string_equal(srv.port, "8080");
    assert_int_equal(srv.data, 2);
    assert_true(srv.fin);
    assert_int_equal(srv.last_id, 3);
    assert_int_equal(srv.bytes.len, 5);
    assert_memory_equal(srv.bytes.data, "hello", 5);
    assert_memory_equal(out.data, ping, sizeof ping); /* echoed */

    /* the server's replies and data reach the client */
    kr_buf_reset(&out);
    rest_spdy_syn_reply(server, &out, 1, false);
    rest_spdy_syn_reply(server, &out, 3, false);
    rest_spdy_data(&out, 3, "world", 5, true);
    rest_spdy_rst(&out, 1, 5);
    kr_buf_t back = KR_BUF_INIT;
    assert_int_equal(rest_spdy_feed(client, out.data, out.len, &back), 0);
    assert_int_equal(cli.data, 1);
    assert_memory_equal(cli.bytes.data, "world", 5);
    assert_int_equal(cli.resets, 1);
    assert_int_equal(cli.last_id, 1);

    /* another version is a protocol error */
    static const uint8_t v2[] = {0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1};
    assert_int_equal(rest_spdy_feed(client, v2, sizeof v2, &back), -1);
    /* a header block that is not zlib */
    static const uint8_t bad[] = {0x80, 3, 0, 1, 0, 0, 0, 14, 0, 0, 0,
                                  5,    0, 0, 0, 0, 0, 0, 1,  2, 3, 4};
    assert_int_equal(rest_spdy_feed(server, bad, sizeof bad, &back), -1);

    rest_spdy_destroy(&server);
    rest_spdy_destroy(&client);
    kr_buf_free(&wire);
    kr_buf_free(&out);
    kr_buf_free(&back);
    kr_buf_free(&srv.bytes);
    kr_buf_free(&cli.bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
