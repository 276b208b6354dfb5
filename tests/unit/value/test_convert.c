/* Converters: msgpack, JSON and YAML round trips on real objects, every type
 * edge, and the refusals a decoder of outside input must make. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <kraal/value.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", KR_CORPUS_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *data = malloc(1 << 20);
    assert_non_null(data);
    *len = fread(data, 1, (1 << 20) - 1, f);
    data[*len] = '\0';
    fclose(f);
    return data;
}

static kr_value_t *yaml_one(kr_arena_t *a, const char *text)
{
    kr_value_t *docs = NULL;
    kr_error_t err;
    int rc = kr_yaml_decode(a, text, strlen(text), &docs, &err);
    if (rc != 0)
        fail_msg("yaml: %s", err.message);
    assert_int_equal(kr_value_len(docs), 1);
    return kr_value_array_get(docs, 0);
}

/* v -> msgpack -> JSON (compact and pretty) -> YAML -> v, equal each step. */
static void round_trip(kr_arena_t *a, const kr_value_t *v)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_error_t err;
    kr_value_t *m, *j, *jp, *y;

    assert_int_equal(kr_msgpack_encode(v, &b, &err), 0);
    assert_int_equal(kr_msgpack_decode(a, b.data, b.len, &m, &err), 0);
    assert_true(kr_value_equal(v, m));

    kr_buf_reset(&b);
    assert_int_equal(kr_json_encode(m, &b, KR_JSON_COMPACT, &err), 0);
    if (kr_json_decode(a, b.data, b.len, &j, &err) != 0)
        fail_msg("%s in %s", err.message, b.data);
    assert_true(kr_value_equal(v, j));

    kr_buf_reset(&b);
    assert_int_equal(kr_json_encode(j, &b, KR_JSON_PRETTY, &err), 0);
    assert_int_equal(kr_json_decode(a, b.data, b.len, &jp, &err), 0);
    assert_true(kr_value_equal(v, jp));

    kr_buf_reset(&b);
    assert_int_equal(kr_yaml_encode(jp, &b, &err), 0);
    kr_value_t *docs;
    if (kr_yaml_decode(a, b.data, b.len, &docs, &err) != 0)
        fail_msg("%s in\n%s", err.message, b.data);
    y = kr_value_array_get(docs, 0);
    if (!kr_value_equal(v, y))
        fail_msg("YAML round trip differs:\n%s", b.data);
    kr_buf_free(&b);
}

static void test_pod_deployment_round_trip(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    static const char *const files[] = {"yaml/pod.yaml", "yaml/deployment.yaml",
                                        "yaml/anchors.yaml"};
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        char *text = slurp(files[i], &len);
        kr_value_t *v = yaml_one(a, text);
        free(text);
        round_trip(a, v);
    }
    /* What a user of a Pod checks. */
    size_t len;
    char *text = slurp("yaml/pod.yaml", &len);
    kr_value_t *pod = yaml_one(a, text);
    free(text);
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "spec.containers[0].image")),
                        "nginx:1.25.3");
    assert_int_equal(
        kr_value_as_int(kr_value_get(pod, "spec.containers[0].ports[0].containerPort"), 0), 8080);
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "spec.containers[0].env[0].value")),
                        "hello\nworld\n");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "spec.containers[0].env[2].value")),
                        "yes");
    assert_string_equal(kr_value_as_str(kr_value_get(pod, "status.conditions[0].status")), "True");
    assert_true(
        kr_value_as_bool(kr_value_get(pod, "metadata.ownerReferences[0].controller"), false));

    /* The same Pod in JSON decodes to the same tree. */
    char *json = slurp("json/pod.json", &len);
    kr_value_t *pj;
    kr_error_t err;
    assert_int_equal(kr_json_decode(a, json, len, &pj, &err), 0);
    free(json);
    assert_true(kr_value_equal(pod, pj));
    kr_arena_destroy(&a);
}

static void test_yaml_resolution(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *v = yaml_one(a, "a: yes\nb: Off\nc: 0x1F\nd: 0o17\ne: 017\nf: 1.5e3\n"
                                "g: 18446744073709551615\nh: '123'\ni: ~\nj: !!str 42\n"
                                "k: !!int \"7\"\nl: 1_000\nm: .5\nn: null\no: \"\"\np: -0x10\n"
                                "q: 2024-05-01\nr: 1e999\ns: +12\n");
    assert_int_equal(kr_value_type(kr_value_map_get(v, "a")), KR_BOOL);
    assert_true(kr_value_as_bool(kr_value_map_get(v, "a"), false));
    assert_false(kr_value_as_bool(kr_value_map_get(v, "b"), true));
    assert_int_equal(kr_value_map_int(v, "c", 0), 31);
    assert_int_equal(kr_value_map_int(v, "d", 0), 15);
    assert_int_equal(kr_value_map_int(v, "e", 0), 15);
    assert_true(kr_value_as_float(kr_value_map_get(v, "f"), 0) == 1500.0);
    assert_int_equal(kr_value_type(kr_value_map_get(v, "g")), KR_FLOAT);
    assert_string_equal(kr_value_map_str(v, "h"), "123");
    assert_int_equal(kr_value_type(kr_value_map_get(v, "i")), KR_NULL);
    assert_non_null(kr_value_map_get(v, "i"));
    assert_string_equal(kr_value_map_str(v, "j"), "42");
    assert_int_equal(kr_value_map_int(v, "k", 0), 7);
    assert_int_equal(kr_value_map_int(v, "l", 0), 1000);
    assert_true(kr_value_as_float(kr_value_map_get(v, "m"), 0) == 0.5);
    assert_int_equal(kr_value_type(kr_value_map_get(v, "n")), KR_NULL);
    assert_string_equal(kr_value_map_str(v, "o"), "");
    assert_int_equal(kr_value_map_int(v, "p", 0), -16);
    assert_string_equal(kr_value_map_str(v, "q"), "2024-05-01");
    assert_string_equal(kr_value_map_str(v, "r"), "1e999");
    assert_int_equal(kr_value_map_int(v, "s", 0), 12);

    /* Strings that look like other types are quoted on the way out. */
    kr_value_t *m = kr_value_map(a);
    static const char *const tricky[] = {"true",          "yes", "n",  "123",   "0x1F",   "1.5",
                                         "null",          "~",   "",   " lead", "trail ", "a: b",
                                         "- x",           "#c",  "<<", "1e3",   ".inf",   "@x",
                                         "multi\nline\n", "é"};
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%zu", i);
        kr_value_map_set(a, m, key, kr_value_str(a, tricky[i]));
        kr_value_map_set(a, m, tricky[i], kr_value_int(a, (int64_t)i));
    }
    round_trip(a, m);
    kr_buf_t b = KR_BUF_INIT;
    assert_int_equal(kr_yaml_encode(m, &b, NULL), 0);
    assert_non_null(strstr(b.data, "k0: \"true\"\n"));
    assert_non_null(strstr(b.data, "k18: |\n  multi\n  line\n"));
    kr_buf_free(&b);
    kr_arena_destroy(&a);
}

static void test_yaml_streams_and_merge(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *docs;
    kr_error_t err;
    assert_int_equal(kr_yaml_decode(a, "", 0, &docs, &err), 0);
    assert_int_equal(kr_value_type(docs), KR_ARRAY);
    assert_int_equal(kr_value_len(docs), 0);

    const char *multi = "a: 1\n---\n---\n- x\n...\n";
    assert_int_equal(kr_yaml_decode(a, multi, strlen(multi), &docs, &err), 0);
    assert_int_equal(kr_value_len(docs), 3);
    assert_int_equal(kr_value_type(kr_value_array_get(docs, 1)), KR_NULL);
    assert_int_equal(kr_value_type(kr_value_array_get(docs, 2)), KR_ARRAY);

    size_t len;
    char *text = slurp("yaml/anchors.yaml", &len);
    kr_value_t *v = yaml_one(a, text);
    free(text);
    assert_string_equal(kr_value_as_str(kr_value_get(v, "containers[0].image")), "busybox:1.36");
    assert_string_equal(kr_value_as_str(kr_value_get(v, "containers[1].name")), "second");
    assert_int_equal(kr_value_as_int(kr_value_get(v, "containers[1].extra"), 0), 1);
    assert_string_equal(kr_value_as_str(kr_value_get(v, "containers[1].resources.limits.cpu")),
                        "500m");
    /* Aliases are copies: changing one leaves the anchor alone. */
    kr_value_set(a, v, "containers[0].image", kr_value_str(a, "changed"), &err);
    assert_string_equal(kr_value_as_str(kr_value_get(v, "defaults.image")), "busybox:1.36");
    kr_arena_destroy(&a);
}

static void test_edges(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "min", kr_value_int(a, INT64_MIN));
    kr_value_map_set(a, m, "max", kr_value_int(a, INT64_MAX));
    kr_value_map_set(a, m, "zero", kr_value_int(a, 0));
    kr_value_map_set(a, m, "neg", kr_value_int(a, -33));
    static const double floats[] = {
        0.0, 1.0, -2.5, 0.1, 1e21, 1e-7, 123456789.125, 5e-324, 1.7976931348623157e308, 1e20};
    kr_value_t *fa = kr_value_array(a);
    for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++)
        kr_value_array_push(a, fa, kr_value_float(a, floats[i]));
    kr_value_map_set(a, m, "floats", fa);
    kr_value_map_set(a, m, "empty_map", kr_value_map(a));
    kr_value_map_set(a, m, "empty_array", kr_value_array(a));
    kr_value_map_set(a, m, "empty_str", kr_value_str(a, ""));
    kr_value_map_set(a, m, "unicode", kr_value_str(a, "héllo wörld ☃ 😀 日本"));
    kr_value_map_set(a, m, "escapes", kr_value_str(a, "q\" b\\ \t\r\n\b\f \x01 /"));
    kr_value_map_set(a, m, "nul", kr_value_strn(a, "a\0b", 3));
    kr_value_map_set(a, m, "null", kr_value_null(a));
    kr_value_map_set(a, m, "bools", kr_value_bool(a, false));
    kr_value_map_set(a, m, "", kr_value_str(a, "empty key"));
    round_trip(a, m);

    kr_buf_t b = KR_BUF_INIT;
    kr_error_t err;
    kr_value_t *small = kr_value_map(a);
    kr_value_map_set(a, small, "a", kr_value_int(a, 1));
    kr_value_t *arr = kr_value_array(a);
    kr_value_array_push(a, arr, kr_value_float(a, 1.0));
    kr_value_array_push(a, arr, kr_value_map(a));
    kr_value_map_set(a, small, "b", arr);
    kr_value_map_set(a, small, "s", kr_value_strn(a, "<\x01\0\"", 4));
    assert_int_equal(kr_json_encode(small, &b, KR_JSON_COMPACT, &err), 0);
    assert_string_equal(b.data, "{\"a\":1,\"b\":[1.0,{}],\"s\":\"<\\u0001\\u0000\\\"\"}");
    kr_buf_reset(&b);
    assert_int_equal(kr_json_encode(small, &b, KR_JSON_PRETTY, &err), 0);
    assert_string_equal(b.data, "{\n  \"a\": 1,\n  \"b\": [\n    1.0,\n    {}\n  ],\n"
                                "  \"s\": \"<\\u0001\\u0000\\\"\"\n}");

    /* NaN and infinities have no JSON or YAML spelling. */
    kr_buf_reset(&b);
    assert_true(kr_json_encode(kr_value_float(a, NAN), &b, 0, &err) < 0);
    assert_string_equal(err.message, "json: unsupported value: NaN");
    assert_int_equal(b.len, 0);
    assert_true(kr_yaml_encode(kr_value_float(a, INFINITY), &b, &err) < 0);

    /* JSON numbers: int64 stays int, beyond it is a float; -0 is int 0. */
    kr_value_t *v;
    const char *nums = "[9223372036854775807,-9223372036854775808,9223372036854775808,-0,1.0,1e2]";
    assert_int_equal(kr_json_decode(a, nums, strlen(nums), &v, &err), 0);
    assert_int_equal(kr_value_as_int(kr_value_array_get(v, 0), 0), INT64_MAX);
    assert_int_equal(kr_value_as_int(kr_value_array_get(v, 1), 0), INT64_MIN);
    assert_int_equal(kr_value_type(kr_value_array_get(v, 2)), KR_FLOAT);
    assert_int_equal(kr_value_type(kr_value_array_get(v, 3)), KR_INT);
    assert_int_equal(kr_value_type(kr_value_array_get(v, 4)), KR_FLOAT);
    assert_int_equal(kr_value_type(kr_value_array_get(v, 5)), KR_FLOAT);

    /* Duplicate keys: last wins, first position kept. */
    const char *dup = "{\"a\":1,\"b\":2,\"a\":3}";
    assert_int_equal(kr_json_decode(a, dup, strlen(dup), &v, &err), 0);
    assert_int_equal(kr_value_len(v), 2);
    assert_int_equal(kr_value_map_int(v, "a", 0), 3);
    assert_string_equal(kr_value_map_key(v, 0), "a");

    /* Embedded NUL from JSON and msgpack, invalid UTF-8 from msgpack. */
    const char *nul = "\"x\\u0000y\"";
    assert_int_equal(kr_json_decode(a, nul, strlen(nul), &v, &err), 0);
    assert_int_equal(kr_value_len(v), 3);
    const unsigned char mp_bad_utf8[] = {0xa2, 0xff, 'a'};
    assert_int_equal(kr_msgpack_decode(a, mp_bad_utf8, sizeof(mp_bad_utf8), &v, &err), 0);
    kr_buf_reset(&b);
    assert_int_equal(kr_json_encode(v, &b, 0, &err), 0);
    assert_string_equal(b.data, "\"\\ufffda\""); /* replaced, as Go does */
    const unsigned char mp_bin[] = {0xc4, 0x03, 'a', 0, 'b'};
    assert_int_equal(kr_msgpack_decode(a, mp_bin, sizeof(mp_bin), &v, &err), 0);
    assert_int_equal(kr_value_type(v), KR_STR);
    assert_int_equal(kr_value_len(v), 3);
    kr_buf_free(&b);
    kr_arena_destroy(&a);
}

static char *nest(char open, char close, int depth, const char *mid)
{
    size_t ml = strlen(mid);
    char *s = malloc((size_t)depth * 2 + ml + 1);
    memset(s, open, (size_t)depth);
    memcpy(s + depth, mid, ml);
    memset(s + depth + ml, close, (size_t)depth);
    s[depth * 2 + ml] = '\0';
    return s;
}

static void test_depth_limits(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    kr_value_t *v;
    char *deep = nest('[', ']', 10000, "1");
    assert_true(kr_json_decode(a, deep, strlen(deep), &v, &err) < 0);
    assert_non_null(strstr(err.message, "deeper than 256"));
    assert_true(kr_yaml_decode(a, deep, strlen(deep), &v, &err) < 0);
    assert_non_null(strstr(err.message, "deeper than 256"));
    free(deep);
    unsigned char mp[10001];
    memset(mp, 0x91, 10000); /* fixarray of one, 10,000 times */
    mp[10000] = 0x01;
    assert_true(kr_msgpack_decode(a, mp, sizeof(mp), &v, &err) < 0);
    assert_non_null(strstr(err.message, "deeper than 256"));

    /* 256 levels is fine, in every format, and round trips. */
    char *ok = nest('[', ']', 256, "1");
    assert_int_equal(kr_json_decode(a, ok, strlen(ok), &v, &err), 0);
    free(ok);
    round_trip(a, v);
    kr_value_t *deeper = kr_value_array(a);
    kr_value_array_push(a, deeper, v);
    kr_buf_t b = KR_BUF_INIT;
    assert_true(kr_msgpack_encode(deeper, &b, &err) < 0);
    assert_true(kr_json_encode(deeper, &b, 0, &err) < 0);
    assert_int_equal(b.len, 0);
    kr_buf_free(&b);
    kr_arena_destroy(&a);
}

static void test_msgpack_refusals(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    kr_value_t *v = (kr_value_t *)1;
    /* str32 claiming 4 GiB, array32 and map32 claiming 4 billion items. */
    const unsigned char big_str[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    assert_true(kr_msgpack_decode(a, big_str, sizeof(big_str), &v, &err) < 0);
    assert_null(v);
    assert_non_null(strstr(err.message, "declares 4294967295 bytes"));
    const unsigned char big_arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_true(kr_msgpack_decode(a, big_arr, sizeof(big_arr), &v, &err) < 0);
    const unsigned char big_map[] = {0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 'a', 0x01};
    assert_true(kr_msgpack_decode(a, big_map, sizeof(big_map), &v, &err) < 0);
    assert_true(kr_arena_used(a) < 4096); /* refused before allocating */

    const unsigned char int_key[] = {0x81, 0x01, 0x02};
    assert_int_equal(kr_msgpack_decode(a, int_key, sizeof(int_key), &v, &err), -KR_E_BAD_REQUEST);
    assert_non_null(strstr(err.message, "msgpack: map key at depth 1 is not a string"));
    const unsigned char ext[] = {0xd4, 0x01, 0x02};
    assert_true(kr_msgpack_decode(a, ext, sizeof(ext), &v, &err) < 0);
    assert_non_null(strstr(err.message, "ext"));
    const unsigned char u64[] = {0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_true(kr_msgpack_decode(a, u64, sizeof(u64), &v, &err) < 0);
    assert_non_null(strstr(err.message, "overflows int64"));
    const unsigned char trailing[] = {0xc0, 0xc0};
    assert_true(kr_msgpack_decode(a, trailing, sizeof(trailing), &v, &err) < 0);
    assert_true(kr_msgpack_decode(a, "", 0, &v, &err) < 0);

    /* Every truncation of a real message is refused, never read past. */
    kr_buf_t b = KR_BUF_INIT;
    size_t len;
    char *text = slurp("yaml/deployment.yaml", &len);
    kr_value_t *docs;
    assert_int_equal(kr_yaml_decode(a, text, len, &docs, &err), 0);
    free(text);
    assert_int_equal(kr_msgpack_encode(kr_value_array_get(docs, 0), &b, &err), 0);
    for (size_t cut = 0; cut < b.len; cut++) {
        char *copy = malloc(cut + 1); /* exact size so ASan sees any overread */
        memcpy(copy, b.data, cut);
        assert_true(kr_msgpack_decode(a, copy, cut, &v, &err) < 0);
        free(copy);
    }
    assert_int_equal(kr_msgpack_decode(a, b.data, b.len, &v, &err), 0);
    kr_buf_free(&b);
    kr_arena_destroy(&a);
}

/* kraal's key extension (docs/values.md): shared keys travel as their
 * ordinal, other keys as strings, and a bad ordinal is refused. */
static void test_msgpack_key_ext(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    kr_value_t *m = kr_value_map(a), *meta = kr_value_map(a);
    kr_value_map_set(a, meta, "name", kr_value_str(a, "x"));
    kr_value_map_set(a, m, "lastTransitionTime", kr_value_str(a, "t"));
    kr_value_map_set(a, m, "metadata", meta);
    kr_value_map_set(a, m, "zz-not-a-kubernetes-key", kr_value_int(a, 1));
    kr_value_map_set(a, m, "v", kr_value_int(a, 2));
    kr_buf_t b = KR_BUF_INIT;
    assert_int_equal(kr_msgpack_encode(m, &b, &err), 0);
    const unsigned char *p = (const unsigned char *)b.data;
    assert_int_equal(p[0], 0x84);
    /* "lastTransitionTime": an ext of type 'k', 3 or 4 bytes, not 19 */
    assert_true(p[1] == 0xd4 || p[1] == 0xd5);
    assert_int_equal(p[2], 0x6b);
    assert_non_null(memmem(b.data, b.len, "zz-not-a-kubernetes-key", 23));
    assert_null(memmem(b.data, b.len, "lastTransitionTime", 18));
    assert_null(memmem(b.data, b.len, "metadata", 8));
    assert_true(b.len <= 48); /* 66 with every key a string */
    kr_value_t *back = NULL;
    assert_int_equal(kr_msgpack_decode(a, b.data, b.len, &back, &err), 0);
    assert_true(kr_value_equal(back, m));
    assert_string_equal(kr_value_as_str(kr_value_get(back, "metadata.name")), "x");
    /* a decoded shared key is the table's own string, shared by every tree */
    kr_value_t *again = NULL;
    assert_int_equal(kr_msgpack_decode(a, b.data, b.len, &again, &err), 0);
    assert_ptr_equal(kr_value_map_key(back, 0), kr_value_map_key(again, 0));
    kr_buf_free(&b);

    const unsigned char id0[] = {0x81, 0xd4, 0x6b, 0x00, 0xc0};
    assert_int_equal(kr_msgpack_decode(a, id0, sizeof id0, &back, &err), -KR_E_BAD_REQUEST);
    assert_non_null(strstr(err.message, "names key 0, which this version does not know"));
    const unsigned char far[] = {0x81, 0xd5, 0x6b, 0xff, 0xff, 0xc0};
    assert_int_equal(kr_msgpack_decode(a, far, sizeof far, &back, &err), -KR_E_BAD_REQUEST);
    assert_non_null(strstr(err.message, "names key 65535"));
    const unsigned char other[] = {0x81, 0xd4, 0x01, 0x05, 0xc0};
    assert_int_equal(kr_msgpack_decode(a, other, sizeof other, &back, &err), -KR_E_BAD_REQUEST);
    assert_non_null(strstr(err.message, "is an ext of type 1, not a key"));
    const unsigned char as_value[] = {0x81, 0xa1, 'a', 0xd4, 0x6b, 0x05};
    assert_true(kr_msgpack_decode(a, as_value, sizeof as_value, &back, &err) < 0);
    const unsigned char cut[] = {0x81, 0xd5, 0x6b, 0x01};
    assert_true(kr_msgpack_decode(a, cut, sizeof cut, &back, &err) < 0);
    kr_arena_destroy(&a);
}

static void test_json_refusals(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    kr_value_t *v;
    static const char *const bad[] = {"",    "{",       "{\"a\":}",  "[1,]",    "{'a':1}",
                                      "tru", "[1] [2]", "{\"a\" 1}", "\"\\x\"", "01",
                                      "NaN", "[1e999]", "// c\n1",   "{1:2}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (kr_json_decode(a, bad[i], strlen(bad[i]), &v, &err) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(err.reason, KR_E_BAD_REQUEST);
        assert_true(strncmp(err.message, "json: ", 6) == 0);
    }
    const char *where = "{\"metadata\": {\"name\": \"x\",, }}";
    assert_true(kr_json_decode(a, where, strlen(where), &v, &err) < 0);
    assert_non_null(strstr(err.message, "json: parse error at offset 2"));
    const char *utf8 = "\"\xff\xfe\"";
    assert_true(kr_json_decode(a, utf8, strlen(utf8), &v, &err) < 0);
    kr_arena_destroy(&a);
}

static void test_yaml_refusals(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    kr_value_t *v;
    const char *bad = "a: 1\nb:\n  c: d: e\n";
    assert_true(kr_yaml_decode(a, bad, strlen(bad), &v, &err) < 0);
    assert_string_equal(err.message,
                        "yaml: line 3, column 7: mapping values are not allowed in this context");
    const char *inf = "x: .inf\n";
    assert_true(kr_yaml_decode(a, inf, strlen(inf), &v, &err) < 0);
    assert_non_null(strstr(err.message, ".inf is not representable"));
    const char *unknown = "x: *nope\n";
    assert_true(kr_yaml_decode(a, unknown, strlen(unknown), &v, &err) < 0);
    const char *self = "x: &a [1, *a]\n";
    assert_true(kr_yaml_decode(a, self, strlen(self), &v, &err) < 0);
    const char *badkey = "? [1, 2]\n: x\n";
    assert_true(kr_yaml_decode(a, badkey, strlen(badkey), &v, &err) < 0);
    const char *badint = "x: !!int abc\n";
    assert_true(kr_yaml_decode(a, badint, strlen(badint), &v, &err) < 0);
    const char *badmerge = "x:\n  <<: 1\n";
    assert_true(kr_yaml_decode(a, badmerge, strlen(badmerge), &v, &err) < 0);

    /* Billion laughs: 9 levels of 9 aliases each. */
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i <= 9; i++) {
        kr_buf_printf(&b, "l%d: &l%d [", i, i);
        for (int k = 0; k < 9; k++)
            kr_buf_printf(&b, "%s*l%d", k ? ", " : "", i - 1);
        kr_buf_puts(&b, "]\n");
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kr_yaml_decode(a, b.data, b.len, &v, &err), -KR_E_TOO_LARGE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_string_equal(err.message, "yaml: document expands past the 64 MiB alias limit");
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 1.0 * (getenv("KRAAL_SLOW") ? 10 : 1) + 2.0); /* ASan is slower */
    kr_buf_free(&b);
    kr_arena_destroy(&a);
}

static void test_big_map_decode(void **state)
{
    (void)state;
    /* A ConfigMap with 50,000 keys decodes in linear time in every format. */
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *m = kr_value_map(a);
    char key[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        kr_value_map_set(a, m, key, kr_value_int(a, i));
    }
    kr_buf_t b = KR_BUF_INIT;
    kr_error_t err;
    kr_value_t *v;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kr_msgpack_encode(m, &b, &err), 0);
    assert_int_equal(kr_msgpack_decode(a, b.data, b.len, &v, &err), 0);
    assert_true(kr_value_equal(m, v));
    kr_buf_reset(&b);
    assert_int_equal(kr_json_encode(m, &b, 0, &err), 0);
    assert_int_equal(kr_json_decode(a, b.data, b.len, &v, &err), 0);
    assert_true(kr_value_equal(m, v));
    kr_buf_reset(&b);
    assert_int_equal(kr_yaml_encode(m, &b, &err), 0);
    assert_int_equal(kr_yaml_decode(a, b.data, b.len, &v, &err), 0);
    assert_true(kr_value_equal(m, kr_value_array_get(v, 0)));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Quadratic duplicate detection would take minutes here. */
    assert_true(t1.tv_sec - t0.tv_sec < 10);
    kr_buf_free(&b);
    kr_arena_destroy(&a);
}

/* msgpack of a map from the keys (bytes, any length) to 1, 2, 3, ... */
static void mp_map_of(kr_buf_t *b, const char *const *keys, const size_t *lens, size_t n)
{
    unsigned char hdr[3] = {0xde, (unsigned char)(n >> 8), (unsigned char)n};
    kr_buf_append(b, hdr, 3);
    for (size_t i = 0; i < n; i++) {
        unsigned char k[3] = {0xda, (unsigned char)(lens[i] >> 8), (unsigned char)lens[i]};
        kr_buf_append(b, k, 3);
        kr_buf_append(b, keys[i], lens[i]);
        unsigned char val = (unsigned char)(i + 1);
        kr_buf_append(b, &val, 1);
    }
}

/* Decodes {fillers..., base: .., key: ..} and checks what a user sees:
 * one entry when key is base (the last value wins), else two, each found
 * by its own bytes only. */
static void check_pair(kr_arena_t *a, const char *base, const char *key, size_t keylen,
                       size_t fillers)
{
    const char *keys[24];
    size_t lens[24];
    char fill[20][8];
    for (size_t i = 0; i < fillers; i++) {
        snprintf(fill[i], sizeof(fill[i]), "k%d", (int)i % 100);
        keys[i] = fill[i];
        lens[i] = strlen(fill[i]);
    }
    keys[fillers] = base;
    lens[fillers] = strlen(base);
    keys[fillers + 1] = key;
    lens[fillers + 1] = keylen;
    kr_buf_t b = KR_BUF_INIT;
    kr_error_t err;
    kr_value_t *v = NULL;
    mp_map_of(&b, keys, lens, fillers + 2);
    assert_int_equal(kr_msgpack_decode(a, b.data, b.len, &v, &err), 0);
    bool same = keylen == strlen(base) && memcmp(key, base, keylen) == 0;
    assert_int_equal(kr_value_len(v), fillers + (same ? 1 : 2));
    assert_int_equal(kr_value_as_int(kr_value_map_getn(v, key, keylen), 0), fillers + 2);
    if (!same)
        assert_int_equal(kr_value_map_int(v, base, 0), fillers + 1);
    /* the keys read back with their own bytes (a NUL inside included) */
    kr_buf_reset(&b);
    assert_int_equal(kr_msgpack_encode(v, &b, &err), 0);
    kr_value_t *again = NULL;
    assert_int_equal(kr_msgpack_decode(a, b.data, b.len, &again, &err), 0);
    assert_true(kr_value_equal(v, again));
    assert_non_null(kr_value_map_getn(again, key, keylen));
    kr_buf_free(&b);

    /* alone, at the very end of the input (a key with < 8 bytes after it) */
    b = (kr_buf_t)KR_BUF_INIT;
    mp_map_of(&b, &key, &keylen, 1);
    assert_int_equal(kr_msgpack_decode(a, b.data, b.len, &v, &err), 0);
    assert_int_equal(kr_value_len(v), 1);
    assert_int_equal(kr_value_as_int(kr_value_map_getn(v, key, keylen), 0), 1);
    kr_buf_free(&b);

    /* the same through JSON (keys it can hold without escapes) */
    bool plain = fillers == 0;
    for (size_t i = 0; i < keylen; i++)
        plain = plain && (unsigned char)key[i] >= 0x20 && key[i] != '"' && key[i] != '\\';
    if (plain) {
        char json[512];
        snprintf(json, sizeof(json), "{\"%s\":1,\"%.*s\":2}", base, (int)keylen, key);
        assert_int_equal(kr_json_decode(a, json, strlen(json), &v, &err), 0);
        assert_int_equal(kr_value_len(v), same ? 1 : 2);
        assert_int_equal(kr_value_as_int(kr_value_map_getn(v, key, keylen), 0), 2);
        if (!same)
            assert_int_equal(kr_value_map_int(v, base, 0), 1);
    }
}

static void test_shared_keys(void **state)
{
    (void)state;
    /* Kubernetes' own keys are shared by every tree instead of copied
     * (value_keys.c compares them 8 bytes at a time): every length around
     * 8 and 16, and keys that differ from one in a single byte, are still
     * told apart, merged when equal, and read back byte for byte. */
    static const char *const bases[] = {
        "v",
        "id",
        "name",
        "f:name",
        "metadata",
        "f:labels",
        "resources",
        "f:metadata",
        "containerPort",
        "f:containerPort",
        "imagePullSecrets",
        "f:resourceVersion",
        "terminationMessagePath",
        "f:terminationGracePeriodSeconds",
        "not-a-kubernetes-key",
    };
    kr_arena_t *a = kr_arena_new(0);
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        const char *base = bases[i];
        size_t n = strlen(base);
        char k[80];
        for (size_t fillers = 0; fillers <= 20; fillers += 20) {
            check_pair(a, base, base, n, fillers);
            memcpy(k, base, n);
            check_pair(a, base, k, n - 1, fillers); /* a prefix */
            k[n] = 'x';
            check_pair(a, base, k, n + 1, fillers); /* longer */
            for (size_t j = 0; j < n; j++) {
                memcpy(k, base, n);
                k[j] ^= 0x20; /* one byte differs */
                check_pair(a, base, k, n, fillers);
                k[j] = '\0'; /* a NUL inside */
                check_pair(a, base, k, n, fillers);
            }
        }
        kr_arena_reset(a);
    }
    /* long keys, past what the table holds */
    char longk[300];
    memset(longk, 'a', sizeof(longk));
    for (size_t len = 60; len <= 300; len += 4)
        check_pair(a, "name", longk, len, 0);
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_deployment_round_trip),
        cmocka_unit_test(test_yaml_resolution),
        cmocka_unit_test(test_yaml_streams_and_merge),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_msgpack_refusals),
        cmocka_unit_test(test_msgpack_key_ext),
        cmocka_unit_test(test_json_refusals),
        cmocka_unit_test(test_yaml_refusals),
        cmocka_unit_test(test_big_map_decode),
        cmocka_unit_test(test_shared_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
