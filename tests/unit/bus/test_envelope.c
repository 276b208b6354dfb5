/* Envelope validation: directly, then through a running broker with a raw
 * ZeroMQ client sending malformed input over ipc. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bus_test.h"
#include "envelope.h"

/* builds {v, id, op} with each field optionally replaced */
enum { K_OK, K_OMIT, K_STR, K_NEG, K_FLOAT, K_TWO, K_INT };

static void build(mp_t *m, int v, int id, int op, const char *opname)
{
    mp_init(m);
    int n = (v != K_OMIT) + (id != K_OMIT) + (op != K_OMIT);
    msgpack_pack_map(&m->pk, n);
    if (v != K_OMIT) {
        mp_str(m, "v");
        if (v == K_STR)
            mp_str(m, "1");
        else if (v == K_FLOAT)
            msgpack_pack_double(&m->pk, 1.0);
        else if (v == K_TWO)
            msgpack_pack_int(&m->pk, 2);
        else
            msgpack_pack_int(&m->pk, 1);
    }
    if (id != K_OMIT) {
        mp_str(m, "id");
        if (id == K_STR)
            mp_str(m, "7");
        else if (id == K_NEG)
            msgpack_pack_int(&m->pk, -7);
        else
            msgpack_pack_uint64(&m->pk, 7);
    }
    if (op != K_OMIT) {
        mp_str(m, "op");
        if (op == K_INT)
            msgpack_pack_int(&m->pk, 5);
        else
            mp_str(m, opname);
    }
}

static const struct {
    const char *name;
    int v, id, op;
    const char *opname;
    kr_envelope_status_t want;
    const char *msg; /* substring of the error */
} table[] = {
    {"good", K_OK, K_OK, K_OK, "ping", KR_ENVELOPE_OK, NULL},
    {"missing v", K_OMIT, K_OK, K_OK, "ping", KR_ENVELOPE_INVALID, "missing field \"v\""},
    {"missing id", K_OK, K_OMIT, K_OK, "ping", KR_ENVELOPE_INVALID, "missing field \"id\""},
    {"missing op", K_OK, K_OK, K_OMIT, "ping", KR_ENVELOPE_INVALID, "missing field \"op\""},
    {"v string", K_STR, K_OK, K_OK, "ping", KR_ENVELOPE_INVALID, "\"v\" must be an integer"},
    {"v float", K_FLOAT, K_OK, K_OK, "ping", KR_ENVELOPE_INVALID, "\"v\" must be an integer"},
    {"v 2", K_TWO, K_OK, K_OK, "ping", KR_ENVELOPE_INVALID, "unsupported protocol version 2"},
    {"id string", K_OK, K_STR, K_OK, "ping", KR_ENVELOPE_INVALID, "\"id\" must be an unsigned"},
    {"id negative", K_OK, K_NEG, K_OK, "ping", KR_ENVELOPE_INVALID, "\"id\" must be an unsigned"},
    {"op int", K_OK, K_OK, K_INT, "ping", KR_ENVELOPE_INVALID, "\"op\" must be a string"},
    {"op empty", K_OK, K_OK, K_OK, "", KR_ENVELOPE_INVALID, "\"op\" must not be empty"},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        mp_t m;
        build(&m, table[i].v, table[i].id, table[i].op, table[i].opname);
        kr_envelope_t env;
        kr_error_t err = {0};
        kr_envelope_status_t st = kr_envelope_parse(m.sb.data, m.sb.size, &env, &err);
        if (st != table[i].want)
            fail_msg("%s: status %d, want %d (%s)", table[i].name, st, table[i].want, err.message);
        if (table[i].msg && strstr(err.message, table[i].msg) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", table[i].name, err.message, table[i].msg);
        if (st == KR_ENVELOPE_OK) {
            assert_int_equal(env.id, 7);
            assert_true(kr_env_str_eq(env.op, "ping"));
        }
        if (table[i].id == K_OK)
            assert_true(env.has_id);
        msgpack_sbuffer_destroy(&m.sb);
    }
    kr_envelope_t env;
    kr_error_t err;
    /* not msgpack: reserved byte, truncated map, trailing bytes, empty */
    static const char bad1[] = "\xc1", bad2[] = "\x83\xa1v\x01", bad3[] = "\x80\x80";
    assert_int_equal(kr_envelope_parse(bad1, 1, &env, &err), KR_ENVELOPE_NOT_MSGPACK);
    assert_int_equal(kr_envelope_parse(bad2, 4, &env, &err), KR_ENVELOPE_NOT_MSGPACK);
    assert_int_equal(kr_envelope_parse(bad3, 2, &env, &err), KR_ENVELOPE_NOT_MSGPACK);
    assert_int_equal(kr_envelope_parse("", 0, &env, &err), KR_ENVELOPE_NOT_MSGPACK);
    /* a map is required */
    static const char arr[] = "\x92\x01\x02";
    assert_int_equal(kr_envelope_parse(arr, 3, &env, &err), KR_ENVELOPE_INVALID);
    assert_non_null(strstr(err.message, "not a map"));
    /* optional fields are type-checked; nested values are skipped whole */
    mp_t m;
    mp_init(&m);
    msgpack_pack_map(&m.pk, 5);
    mp_str(&m, "v");
    msgpack_pack_int(&m.pk, 1);
    mp_str(&m, "id");
    msgpack_pack_int(&m.pk, 9);
    mp_str(&m, "obj");
    msgpack_pack_array(&m.pk, 2);
    msgpack_pack_map(&m.pk, 1);
    mp_str(&m, "op");
    mp_str(&m, "nested-not-the-op");
    msgpack_pack_nil(&m.pk);
    mp_str(&m, "op");
    mp_str(&m, "get");
    mp_str(&m, "res");
    msgpack_pack_int(&m.pk, 3);
    assert_int_equal(kr_envelope_parse(m.sb.data, m.sb.size, &env, &err), KR_ENVELOPE_INVALID);
    assert_non_null(strstr(err.message, "\"res\" must be a string"));
    assert_true(env.has_id);
    assert_int_equal(env.id, 9);
    assert_true(kr_env_str_eq(env.op, "get"));
    msgpack_sbuffer_destroy(&m.sb);
}

/* Sends one message (nframes frames of the same bytes) and returns the reply. */
static kr_value_t *roundtrip(void *s, kr_arena_t *a, const void *data, size_t len, int nframes)
{
    for (int i = 0; i < nframes; i++)
        assert_true(zmq_send(s, data, len, i + 1 < nframes ? ZMQ_SNDMORE : 0) >= 0);
    kr_value_t *v = raw_recv(s, a);
    assert_non_null(v);
    return v;
}

static void expect(kr_value_t *v, int code, uint64_t id, const char *reason, const char *msg)
{
    assert_int_equal(kr_value_map_int(v, "v", 0), 1);
    assert_int_equal(kr_value_map_int(v, "code", 0), code);
    assert_int_equal(kr_value_map_int(v, "id", -1), (int64_t)id);
    if (reason) {
        kr_value_t *e = kr_value_map_get(v, "err");
        assert_non_null(e);
        assert_string_equal(kr_value_map_str(e, "reason"), reason);
        const char *m = kr_value_map_str(e, "message");
        assert_non_null(m);
        if (msg && strstr(m, msg) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", m, msg);
    }
}

static void test_broker_bad_input(void **state)
{
    (void)state;
    test_broker_t tb;
    tb_start(&tb, 0);
    void *s = raw_connect(tb.ipc);
    kr_arena_t *a = kr_arena_new(0);
    mp_t m;

    build(&m, K_OK, K_OK, K_OK, "ping");
    kr_value_t *v = roundtrip(s, a, m.sb.data, m.sb.size, 1);
    expect(v, 200, 7, NULL, NULL);
    assert_true(kr_value_as_bool(kr_value_get(v, "obj.pong"), false));
    msgpack_sbuffer_destroy(&m.sb);

    /* not msgpack */
    expect(roundtrip(s, a, "\xc1garbage", 8, 1), 400, 0, "BadRequest", "not valid msgpack");
    expect(roundtrip(s, a, "", 0, 1), 400, 0, "BadRequest", "not valid msgpack");
    /* not a map */
    expect(roundtrip(s, a, "\x92\x01\x02", 3, 1), 400, 0, "BadRequest", "not a map");
    /* table of bad envelopes: the id is echoed when it was valid */
    for (size_t i = 1; i < sizeof table / sizeof table[0]; i++) {
        build(&m, table[i].v, table[i].id, table[i].op, table[i].opname);
        v = roundtrip(s, a, m.sb.data, m.sb.size, 1);
        expect(v, 400, table[i].id == K_OK ? 7 : 0, "BadRequest", table[i].msg);
        msgpack_sbuffer_destroy(&m.sb);
    }
    /* multi-frame junk */
    build(&m, K_OK, K_OK, K_OK, "ping");
    expect(roundtrip(s, a, m.sb.data, m.sb.size, 2), 400, 0, "BadRequest", "got 2 frames");
    expect(roundtrip(s, a, m.sb.data, m.sb.size, 5), 400, 0, "BadRequest", "got 5 frames");
    /* three frames that are not a routed reply, from a non-provider */
    expect(roundtrip(s, a, m.sb.data, m.sb.size, 3), 400, 0, "BadRequest", NULL);
    msgpack_sbuffer_destroy(&m.sb);
    /* unknown op */
    build(&m, K_OK, K_OK, K_OK, "frobnicate");
    expect(roundtrip(s, a, m.sb.data, m.sb.size, 1), 404, 7, "NotFound",
           "op \"frobnicate\" is not served on the bus");
    msgpack_sbuffer_destroy(&m.sb);

    /* 3.5 MiB: above the 3 MiB limit, below ZeroMQ's hard cap -> 413 */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 4);
    mp_str(&m, "v");
    msgpack_pack_int(&m.pk, 1);
    mp_str(&m, "id");
    msgpack_pack_int(&m.pk, 42);
    mp_str(&m, "op");
    mp_str(&m, "ping");
    mp_str(&m, "obj");
    size_t big = (7u << 20) / 2;
    char *blob = calloc(1, big);
    msgpack_pack_bin(&m.pk, big);
    msgpack_pack_bin_body(&m.pk, blob, big);
    free(blob);
    expect(roundtrip(s, a, m.sb.data, m.sb.size, 1), 413, 42, "RequestEntityTooLarge",
           "limit is 3145728 bytes");
    msgpack_sbuffer_destroy(&m.sb);

    /* the broker still answers, to this client and to a new one */
    build(&m, K_OK, K_OK, K_OK, "ping");
    expect(roundtrip(s, a, m.sb.data, m.sb.size, 1), 200, 7, NULL, NULL);
    msgpack_sbuffer_destroy(&m.sb);

    kr_broker_stats_t st;
    kr_broker_stats(tb.b, &st);
    assert_int_equal(st.bad_frames, 2 + 2 + 1);
    assert_int_equal(st.bad_envelopes, 1 + 10);
    assert_int_equal(st.unknown_ops, 1);
    assert_int_equal(st.too_large, 1);

    kr_bus_t *bus = kr_bus_connect(tb.ipc, NULL);
    assert_non_null(bus);
    kr_reply_t r;
    kr_request_t req = {.op = "stats"};
    assert_int_equal(kr_bus_call(bus, &req, a, &r, 5000, NULL), 0);
    assert_int_equal(r.code, 200);
    assert_int_equal(kr_value_map_int(r.obj, "bad_frames", -1), 5);
    assert_int_equal(kr_value_map_int(r.obj, "bad_envelopes", -1), 11);
    assert_int_equal(kr_value_map_int(r.obj, "unknown_ops", -1), 1);
    assert_int_equal(kr_value_map_int(r.obj, "too_large", -1), 1);
    assert_true(kr_value_map_int(r.obj, "msgs_in", 0) >= 20);
    kr_bus_destroy(&bus);

    kr_arena_destroy(&a);
    zmq_close(s);
    tb_stop(&tb);
}

static void test_client_refuses_too_large(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_bus_t *bus = kr_bus_connect("inproc://nobody-here", NULL);
    assert_non_null(bus);
    size_t n = KR_BUS_MAX_MSG + 10;
    char *s = malloc(n + 1);
    memset(s, 'x', n);
    s[n] = '\0';
    kr_request_t req = {.op = "create", .obj = kr_value_str(a, s)};
    free(s);
    kr_reply_t r;
    kr_error_t err;
    assert_int_equal(kr_bus_call(bus, &req, a, &r, 100, &err), -(int)KR_E_TOO_LARGE);
    assert_non_null(strstr(err.message, "Request entity too large"));
    /* nothing there: a call times out rather than failing */
    req.obj = NULL;
    assert_int_equal(kr_bus_call(bus, &req, a, &r, 50, &err), -(int)KR_E_TIMEOUT);
    kr_bus_destroy(&bus);
    kr_arena_destroy(&a);
}

static int teardown_all(void **state)
{
    (void)state;
    kr_bus_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_broker_bad_input),
        cmocka_unit_test(test_client_refuses_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
