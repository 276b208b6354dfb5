/* base64 (sdk/lib/base64.c) against RFC 4648's vectors and Go's
 * encoding/base64 tests: the encodings, and which byte a corrupt input is
 * refused at (TestDecodeCorrupt's table). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <kraal/base64.h>

static const char *enc(const char *s, size_t n, kr_b64_t e, char *buf, size_t size)
{
    kr_buf_t out = KR_BUF_INIT;
    kr_base64_encode(&out, s, n, e);
    snprintf(buf, size, "%.*s", (int)out.len, out.data ? out.data : "");
    kr_buf_free(&out);
    return buf;
}

static void rfc4648_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *std, *url;
    } v[] = {
        {"", "", ""},
        {"f", "Zg==", "Zg"},
        {"fo", "Zm8=", "Zm8"},
        {"foo", "Zm9v", "Zm9v"},
        {"foob", "Zm9vYg==", "Zm9vYg"},
        {"fooba", "Zm9vYmE=", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
        {"\xfb\xff", "+/8=", "-_8"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i].in);
        assert_string_equal(enc(v[i].in, n, KR_B64_STD, buf, sizeof buf), v[i].std);
        assert_string_equal(enc(v[i].in, n, KR_B64_RAW_URL, buf, sizeof buf), v[i].url);
        kr_buf_t out = KR_BUF_INIT;
        assert_int_equal(kr_base64_decode(&out, v[i].std, strlen(v[i].std), KR_B64_STD, NULL), 0);
        assert_int_equal(out.len, n);
        assert_true(n == 0 || memcmp(out.data, v[i].in, n) == 0);
        kr_buf_reset(&out);
        assert_int_equal(kr_base64_decode(&out, v[i].url, strlen(v[i].url), KR_B64_RAW_URL, NULL),
                         0);
        assert_int_equal(out.len, n);
        assert_true(n == 0 || memcmp(out.data, v[i].in, n) == 0);
        kr_buf_free(&out);
    }
}

/* Go's TestDecodeCorrupt (StdEncoding): -1 decodes, else the offset. */
static void go_corrupt_offsets(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        long at;
    } t[] = {
        {"", -1},       {"\n", -1},         {"AAA=\n", -1}, {"AAAA\n", -1}, {"!!!!", 0},
        {"====", 0},    {"x===", 1},        {"=AAA", 0},    {"A=AA", 1},    {"AA=A", 2},
        {"AA==A", 4},   {"AAA=AAAA", 4},    {"AAAAA", 4},   {"AAAAAA", 4},  {"A=", 1},
        {"A==", 1},     {"AA=", 3},         {"AA==", -1},   {"AAA=", -1},   {"AAAA", -1},
        {"AAAAAA=", 7}, {"YWJjZA=====", 8}, {"A!\n", 1},    {"A=\n", 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        kr_buf_t out = KR_BUF_INIT;
        size_t bad = 999;
        int rc = kr_base64_decode(&out, t[i].in, strlen(t[i].in), KR_B64_STD, &bad);
        kr_buf_free(&out);
        if (t[i].at < 0 && rc != 0)
            fail_msg("\"%s\": refused at %zu, want it decoded", t[i].in, bad);
        if (t[i].at >= 0 && (rc == 0 || bad != (size_t)t[i].at))
            fail_msg("\"%s\": rc %d at %zu, want refused at %ld", t[i].in, rc, bad, t[i].at);
    }
}

static void raw_url(void **state)
{
    (void)state;
    kr_buf_t out = KR_BUF_INIT;
    size_t bad = 0;
    /* no padding, and a lone last character is no byte */
    assert_int_equal(kr_base64_decode(&out, "Zg==", 4, KR_B64_RAW_URL, &bad), -1);
    assert_int_equal(bad, 2);
    assert_int_equal(kr_base64_decode(&out, "Zm9vY", 5, KR_B64_RAW_URL, &bad), -1);
    assert_int_equal(bad, 4);
    assert_int_equal(kr_base64_decode(&out, "+/8", 3, KR_B64_RAW_URL, &bad), -1);
    assert_int_equal(bad, 0);
    assert_true(kr_base64_is_char('-', KR_B64_RAW_URL));
    assert_false(kr_base64_is_char('+', KR_B64_RAW_URL));
    assert_false(kr_base64_is_char('=', KR_B64_STD));
    kr_buf_free(&out);
    /* the arena form: NUL-terminated, bytes may hold NULs */
    kr_arena_t *a = kr_arena_new(0);
    size_t n = 0;
    const char *s = kr_base64_decode_str(a, "AGE=", KR_B64_STD, &n);
    assert_non_null(s);
    assert_int_equal(n, 2);
    assert_int_equal(s[0], 0);
    assert_int_equal(s[1], 'a');
    assert_int_equal(s[2], 0);
    assert_null(kr_base64_decode_str(a, "A", KR_B64_STD, NULL));
    assert_null(kr_base64_decode_str(a, NULL, KR_B64_STD, NULL));
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),
        cmocka_unit_test(go_corrupt_offsets),
        cmocka_unit_test(raw_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
