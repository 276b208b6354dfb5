/* JSON merge patch (RFC 7386) and JSON patch (RFC 6902): the RFCs' own
 * examples, cases from github.com/json-patch/json-patch-tests (tests.json),
 * Kubernetes' error wording and the bounds a server needs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <kraal/value.h>

#include "patch.h"

#include <stdio.h>
#include <string.h>

static kr_arena_t *arena;

static int setup(void **state)
{
    (void)state;
    arena = kr_arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_arena_destroy(&arena);
    return 0;
}

static kr_value_t *J(const char *text)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(arena, text, strlen(text), &v, &err) != 0)
        fail_msg("bad test JSON %s: %s", text, err.message);
    return v;
}

static void assert_json(const kr_value_t *got, const char *want)
{
    if (!kr_value_equal(got, J(want))) {
        kr_buf_t buf = KR_BUF_INIT;
        kr_json_encode(got, &buf, KR_JSON_COMPACT, NULL);
        fail_msg("got %s, want %s", buf.data, want);
    }
}

/* ---- RFC 7386 ---------------------------------------------------------- */

static void merge_ok(const char *target, const char *patch, const char *want)
{
    kr_value_t *t = J(target), *out = NULL;
    kr_error_t err;
    assert_int_equal(kr_merge_patch_apply(arena, t, J(patch), &out, &err), 0);
    assert_json(out, want);
    assert_json(t, target); /* the target is untouched */
}

static void test_merge_rfc7386_appendix_a(void **state)
{
    (void)state;
    merge_ok("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    merge_ok("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    merge_ok("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    merge_ok("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    merge_ok("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    merge_ok("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    merge_ok("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
    merge_ok("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    merge_ok("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
    merge_ok("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
    merge_ok("{\"a\":\"foo\"}", "null", "null");
    merge_ok("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
    merge_ok("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    merge_ok("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
    merge_ok("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

static void test_merge_keeps_order_and_no_target(void **state)
{
    (void)state;
    kr_value_t *out = NULL;
    assert_int_equal(kr_merge_patch_apply(arena, J("{\"z\":1,\"a\":2,\"m\":3}"),
                                          J("{\"a\":9,\"n\":4}"), &out, NULL),
                     0);
    const char *keys[] = {"z", "a", "m", "n"};
    assert_int_equal(kr_value_len(out), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(kr_value_map_key(out, i), keys[i]);
    assert_int_equal(
        kr_merge_patch_apply(arena, NULL, J("{\"a\":{\"b\":null,\"c\":1}}"), &out, NULL), 0);
    assert_json(out, "{\"a\":{\"c\":1}}");
}

static kr_value_t *nest(size_t depth)
{
    kr_value_t *v = kr_value_int(arena, 1);
    for (size_t i = 0; i < depth; i++) {
        kr_value_t *m = kr_value_map(arena);
        kr_value_map_set(arena, m, "a", v);
        v = m;
    }
    return v;
}

static void test_merge_depth_limit(void **state)
{
    (void)state;
    kr_value_t *out = NULL;
    kr_error_t err;
    assert_int_equal(kr_merge_patch_apply(arena, J("{}"), nest(KR_VALUE_MAX_DEPTH), &out, &err), 0);
    assert_int_equal(kr_merge_patch_apply(arena, J("{}"), nest(KR_VALUE_MAX_DEPTH + 1), &out, &err),
                     -KR_E_BAD_REQUEST);
    assert_null(out);
    assert_non_null(strstr(err.message, "deeper than 256"));
}

/* ---- merge patch create ------------------------------------------------ */

static void round_trip(const char *original, const char *modified, const char *want_patch)
{
    kr_value_t *o = J(original), *m = J(modified), *patch = NULL, *back = NULL;
    kr_error_t err;
    assert_int_equal(kr_merge_patch_create(arena, o, m, &patch, &err), 0);
    if (want_patch != NULL)
        assert_json(patch, want_patch);
    assert_int_equal(kr_merge_patch_apply(arena, o, patch, &back, &err), 0);
    assert_json(back, modified);
    assert_json(o, original);
}

static void test_merge_create_round_trip(void **state)
{
    (void)state;
    round_trip("{\"a\":1}", "{\"a\":1}", "{}");
    round_trip("{\"a\":1,\"b\":2}", "{\"a\":1}", "{\"b\":null}");
    round_trip("{\"a\":1}", "{\"a\":1,\"c\":{\"d\":[1,2]}}", "{\"c\":{\"d\":[1,2]}}");
    round_trip("{\"a\":[1,2,3]}", "{\"a\":[1,3]}", "{\"a\":[1,3]}");
    round_trip("{\"a\":{\"b\":{\"c\":1,\"d\":2}}}", "{\"a\":{\"b\":{\"c\":1,\"d\":3}}}",
               "{\"a\":{\"b\":{\"d\":3}}}");
    round_trip("{\"a\":{\"b\":1}}", "{\"a\":\"flat\"}", "{\"a\":\"flat\"}");
    round_trip("{\"a\":\"flat\"}", "{\"a\":{\"b\":1}}", "{\"a\":{\"b\":1}}");
    round_trip("{\"a\":1}", "{\"a\":1.0}", "{\"a\":1.0}"); /* int -> float is a change */
    round_trip("[1,2]", "{\"a\":1}", "{\"a\":1}");
    round_trip("{\"a\":1}", "[1]", "[1]");
    /* A realistic object: a Deployment scaled, image bumped, label dropped. */
    round_trip("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
               "\"web\",\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}},\"spec\":{\"replicas\":1,"
               "\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":"
               "\"nginx:1.24\"}]}}}}",
               "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
               "\"web\",\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":3,\"template\":{"
               "\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\"}]}}}}",
               "{\"metadata\":{\"labels\":{\"tier\":null}},\"spec\":{\"replicas\":3,"
               "\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":"
               "\"nginx:1.25\"}]}}}}");
}

/* ---- RFC 6902 ---------------------------------------------------------- */

static void jp_ok(const char *doc, const char *patch, const char *want)
{
    kr_value_t *d = J(doc), *out = NULL;
    kr_error_t err;
    int rc = kr_json_patch_apply(arena, d, J(patch), &out, &err);
    if (rc != 0)
        fail_msg("patch %s on %s failed: %s", patch, doc, err.message);
    assert_json(out, want);
    assert_json(d, doc);
}

/* Fails with `reason`, message containing `msg`, and leaves the doc alone. */
static void jp_fail(const char *doc, const char *patch, kr_reason_t reason, const char *msg)
{
    kr_value_t *d = J(doc), *out = J("\"sentinel\"");
    kr_error_t err;
    int rc = kr_json_patch_apply(arena, d, J(patch), &out, &err);
    if (rc == 0)
        fail_msg("patch %s on %s should fail with %s", patch, doc, msg);
    assert_int_equal(rc, -(int)reason);
    assert_int_equal(err.reason, reason);
    assert_null(out);
    if (strstr(err.message, msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.message, msg);
    assert_json(d, doc);
}

static void test_rfc6902_appendix_a(void **state)
{
    (void)state;
    /* A.1 - A.16 */
    jp_ok("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
          "{\"baz\":\"qux\",\"foo\":\"bar\"}");
    jp_ok("{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
          "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
    jp_ok("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
          "{\"foo\":\"bar\"}");
    jp_ok("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
          "{\"foo\":[\"bar\",\"baz\"]}");
    jp_ok("{\"baz\":\"qux\",\"foo\":\"bar\"}",
          "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
          "{\"baz\":\"boo\",\"foo\":\"bar\"}");
    jp_ok("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
          "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
          "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}");
    jp_ok("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
          "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
          "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}");
    jp_ok("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
          "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
          "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
          "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}");
    jp_fail("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]",
            KR_E_INVALID, "testing value /baz failed: test failed");
    jp_ok("{\"foo\":\"bar\"}",
          "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
          "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}");
    jp_ok("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
          "{\"foo\":\"bar\",\"baz\":\"qux\"}");
    jp_fail("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
            KR_E_INVALID, "add operation does not apply: doc is missing path: \"/baz/bat\"");
    /* A.13 (two "op" members) is a JSON decoding matter, not a tree one. */
    jp_ok("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
          "{\"/\":9,\"~1\":10}");
    jp_fail("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]",
            KR_E_INVALID, "testing value /~01 failed");
    jp_ok("{\"foo\":[\"bar\"]}",
          "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
          "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}");
}

/* From json-patch-tests tests.json (comments kept where it has them). */
static void test_json_patch_tests_suite(void **state)
{
    (void)state;
    jp_ok("{\"foo\":null}", "[{\"op\":\"add\",\"path\":\"/foo\",\"value\":1}]", "{\"foo\":1}");
    jp_ok("[]", "[{\"op\":\"add\",\"path\":\"/0\",\"value\":\"foo\"}]", "[\"foo\"]");
    jp_ok("\"foo\"", "[{\"op\":\"replace\",\"path\":\"\",\"value\":\"bar\"}]", "\"bar\"");
    jp_ok("{}", "[{\"op\":\"add\",\"path\":\"\",\"value\":[]}]", "[]");
    jp_ok("[]", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":\"hi\"}]", "[\"hi\"]");
    jp_ok("{}", "[{\"op\":\"add\",\"path\":\"/\",\"value\":1}]", "{\"\":1}");
    jp_ok("{\"foo\":{}}", "[{\"op\":\"add\",\"path\":\"/foo/\",\"value\":1}]",
          "{\"foo\":{\"\":1}}");
    jp_ok("{\"foo\":1,\"baz\":[{\"qux\":\"hello\"}]}",
          "[{\"op\":\"add\",\"path\":\"/baz/0/foo\",\"value\":\"world\"}]",
          "{\"foo\":1,\"baz\":[{\"qux\":\"hello\",\"foo\":\"world\"}]}");
    /* Out of bounds (upper) and (lower). */
    jp_fail("{\"bar\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/bar/8\",\"value\":\"5\"}]",
            KR_E_INVALID,
            "error in add for path: '/bar/8': Unable to access invalid index: 8: invalid index "
            "referenced");
    jp_fail("{\"bar\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/bar/-1\",\"value\":\"5\"}]",
            KR_E_INVALID, "value was not a proper array index: '-1'");
    jp_ok("{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"/0\",\"value\":\"bar\"}]",
          "{\"foo\":1,\"0\":\"bar\"}");
    jp_ok("[\"foo\",\"sil\"]", "[{\"op\":\"add\",\"path\":\"/0\",\"value\":\"bar\"}]",
          "[\"bar\",\"foo\",\"sil\"]");
    jp_ok("[\"foo\",\"sil\"]", "[{\"op\":\"add\",\"path\":\"/2\",\"value\":\"bar\"}]",
          "[\"foo\",\"sil\",\"bar\"]");
    jp_fail("[\"foo\",\"sil\"]", "[{\"op\":\"add\",\"path\":\"/3\",\"value\":\"bar\"}]",
            KR_E_INVALID, "Unable to access invalid index: 3");
    jp_ok("{\"1e0\":\"foo\"}", "[{\"op\":\"test\",\"path\":\"/1e0\",\"value\":\"foo\"}]",
          "{\"1e0\":\"foo\"}");
    jp_fail("[\"foo\",\"bar\"]", "[{\"op\":\"test\",\"path\":\"/1e0\",\"value\":\"bar\"}]",
            KR_E_INVALID, "testing value /1e0 failed");
    jp_fail("[\"foo\",\"sil\"]", "[{\"op\":\"add\",\"path\":\"/bar\",\"value\":42}]", KR_E_INVALID,
            "value was not a proper array index: 'bar'");
    jp_ok("[\"foo\",\"sil\"]", "[{\"op\":\"add\",\"path\":\"/1\",\"value\":[\"bar\",\"baz\"]}]",
          "[\"foo\",[\"bar\",\"baz\"],\"sil\"]");
    jp_ok("{\"foo\":1,\"baz\":[{\"qux\":\"hello\"}]}",
          "[{\"op\":\"remove\",\"path\":\"/baz/0/qux\"}]", "{\"foo\":1,\"baz\":[{}]}");
    jp_ok("[\"\"]", "[{\"op\":\"replace\",\"path\":\"/0\",\"value\":null}]", "[null]");
    jp_ok("[\"foo\",\"sil\"]", "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":[\"bar\",\"baz\"]}]",
          "[\"foo\",[\"bar\",\"baz\"]]");
    jp_ok("{\"foo\":\"bar\"}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"baz\":\"qux\"}}]",
          "{\"baz\":\"qux\"}");
    jp_fail("{\"bar\":\"baz\"}", "[{\"op\":\"replace\",\"path\":\"/foo/bar\",\"value\":false}]",
            KR_E_INVALID, "replace operation does not apply: doc is missing path: /foo/bar");
    jp_ok("{\"foo\":null}", "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":null}]",
          "{\"foo\":null}");
    jp_ok("{\"foo\":null}", "[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/bar\"}]",
          "{\"bar\":null}");
    jp_ok("{\"foo\":null}", "[{\"op\":\"copy\",\"from\":\"/foo\",\"path\":\"/bar\"}]",
          "{\"foo\":null,\"bar\":null}");
    jp_ok("{\"foo\":[{\"foo\":1,\"bar\":2}]}",
          "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":[{\"bar\":2,\"foo\":1}]}]",
          "{\"foo\":[{\"foo\":1,\"bar\":2}]}");
    jp_fail("{\"foo\":{\"bar\":[1,2,5,4]}}",
            "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":[1,2]}]", KR_E_INVALID,
            "testing value /foo failed: test failed");
    jp_ok("{\"foo\":1}", "[{\"op\":\"test\",\"path\":\"\",\"value\":{\"foo\":1}}]", "{\"foo\":1}");
    jp_ok("{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,\"e^f\":3,\"g|h\":4,\"i\\\\j\":5,"
          "\"k\\\"l\":6,\" \":7,\"m~n\":8}",
          "[{\"op\":\"test\",\"path\":\"/foo/0\",\"value\":\"bar\"},"
          "{\"op\":\"test\",\"path\":\"/\",\"value\":0},"
          "{\"op\":\"test\",\"path\":\"/a~1b\",\"value\":1},"
          "{\"op\":\"test\",\"path\":\"/c%d\",\"value\":2},"
          "{\"op\":\"test\",\"path\":\"/i\\\\j\",\"value\":5},"
          "{\"op\":\"test\",\"path\":\"/k\\\"l\",\"value\":6},"
          "{\"op\":\"test\",\"path\":\"/ \",\"value\":7},"
          "{\"op\":\"test\",\"path\":\"/m~0n\",\"value\":8}]",
          "{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,\"e^f\":3,\"g|h\":4,\"i\\\\j\":5,"
          "\"k\\\"l\":6,\" \":7,\"m~n\":8}");
    jp_ok("{\"foo\":1}", "[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/foo\"}]", "{\"foo\":1}");
    jp_ok("{\"baz\":[{\"qux\":\"hello\"}],\"bar\":1}",
          "[{\"op\":\"move\",\"from\":\"/baz/0/qux\",\"path\":\"/baz/1\"}]",
          "{\"baz\":[{},\"hello\"],\"bar\":1}");
    jp_ok("{\"baz\":[{\"qux\":\"hello\"}],\"bar\":1}",
          "[{\"op\":\"copy\",\"from\":\"/baz/0\",\"path\":\"/boo\"}]",
          "{\"baz\":[{\"qux\":\"hello\"}],\"bar\":1,\"boo\":{\"qux\":\"hello\"}}");
    jp_ok("[1,2,[3,[4,5]]]", "[{\"op\":\"add\",\"path\":\"/2/1/-\",\"value\":{\"foo\":[\"bar\"]}}]",
          "[1,2,[3,[4,5,{\"foo\":[\"bar\"]}]]]");
    jp_fail("{\"foo\":1,\"baz\":[{\"qux\":\"hello\"}]}",
            "[{\"op\":\"remove\",\"path\":\"/baz/1e0/qux\"}]", KR_E_INVALID,
            "remove operation does not apply: doc is missing path: \"/baz/1e0/qux\"");
    jp_ok("[1,2,3,4]", "[{\"op\":\"remove\",\"path\":\"/1\"},{\"op\":\"remove\",\"path\":\"/2\"}]",
          "[1,3]");
    jp_fail("[1,2,3,4]", "[{\"op\":\"remove\",\"path\":\"/1e0\"}]", KR_E_INVALID,
            "Unable to access invalid index: 1e0");
    jp_fail("[\"\"]", "[{\"op\":\"replace\",\"path\":\"/1e0\",\"value\":false}]", KR_E_INVALID,
            "replace operation does not apply: doc is missing key: /1e0");
    jp_fail("{\"baz\":[1,2,3],\"bar\":1}",
            "[{\"op\":\"copy\",\"from\":\"/baz/1e0\",\"path\":\"/boo\"}]", KR_E_INVALID,
            "error in copy for path: '/baz/1e0'");
    jp_fail("{\"foo\":1,\"baz\":[1,2,3,4]}",
            "[{\"op\":\"move\",\"from\":\"/baz/1e0\",\"path\":\"/foo\"}]", KR_E_INVALID,
            "error in move for path: '/baz/1e0'");
    jp_fail("[\"foo\",\"sil\"]", "[{\"op\":\"add\",\"path\":\"/1e0\",\"value\":\"bar\"}]",
            KR_E_INVALID, "value was not a proper array index: '1e0'");
    jp_fail("[\"foo\",\"bar\"]", "[{\"op\":\"test\",\"path\":\"/00\",\"value\":\"foo\"}]",
            KR_E_INVALID, "testing value /00 failed");
    jp_fail("[\"foo\",\"bar\"]", "[{\"op\":\"test\",\"path\":\"/01\",\"value\":\"bar\"}]",
            KR_E_INVALID, "testing value /01 failed");
    jp_fail("{\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]", KR_E_INVALID,
            "error in remove for path: '/baz': unable to remove nonexistent key: baz: missing "
            "value");
    jp_fail("[\"foo\",\"bar\"]", "[{\"op\":\"remove\",\"path\":\"/2\"}]", KR_E_INVALID,
            "Unable to access invalid index: 2");
}

static void test_malformed_patch_is_bad_request(void **state)
{
    (void)state;
    jp_fail("[1]", "[{\"op\":\"add\",\"path\":\"/-\"}]", KR_E_BAD_REQUEST,
            "failed to decode 'value': operation, missing value field: missing value");
    jp_fail("[1]", "[{\"op\":\"replace\",\"path\":\"/0\"}]", KR_E_BAD_REQUEST,
            "failed to decode 'value'");
    jp_fail("[false]", "[{\"op\":\"test\",\"path\":\"/0\"}]", KR_E_BAD_REQUEST,
            "failed to decode 'value'");
    jp_fail("[1]", "[{\"op\":\"copy\",\"path\":\"/-\"}]", KR_E_BAD_REQUEST,
            "failed to decode 'from': operation, missing from field: missing value");
    jp_fail("{\"foo\":1}", "[{\"op\":\"move\",\"path\":\"\"}]", KR_E_BAD_REQUEST,
            "failed to decode 'from'");
    jp_fail("{\"foo\":1}", "[{\"op\":\"spam\",\"path\":\"/foo\",\"value\":1}]", KR_E_BAD_REQUEST,
            "Unexpected kind: spam");
    jp_fail("{}", "[{\"path\":\"/foo\",\"value\":1}]", KR_E_BAD_REQUEST,
            "Unexpected kind: unknown");
    jp_fail("{}", "[{\"op\":\"remove\"}]", KR_E_BAD_REQUEST,
            "failed to decode 'path': operation missing path field: missing value");
    jp_fail("{}", "[{\"op\":\"remove\",\"path\":3}]", KR_E_BAD_REQUEST,
            "json: cannot unmarshal number into Go value of type string");
    jp_fail("{}", "[{\"op\":\"remove\",\"path\":\"foo\"}]", KR_E_BAD_REQUEST,
            "JSON pointer \"foo\" must be empty or start with \"/\"");
    jp_fail("{\"a~b\":1}", "[{\"op\":\"remove\",\"path\":\"/a~b\"}]", KR_E_BAD_REQUEST,
            "invalid escape");
    jp_fail("{}", "{\"op\":\"remove\",\"path\":\"/a\"}", KR_E_BAD_REQUEST,
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
    jp_fail("{}", "[\"remove\"]", KR_E_BAD_REQUEST,
            "json: cannot unmarshal string into Go value of type jsonpatch.Operation");
    /* A malformed operation after a valid one: still 400, nothing applied. */
    jp_fail("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/a\"},{\"op\":\"frob\",\"path\":\"/a\"}]",
            KR_E_BAD_REQUEST, "Unexpected kind: frob");
}

static void test_kubernetes_messages(void **state)
{
    (void)state;
    const char *pod = "{\"spec\":{\"replicas\":3,\"containers\":[{\"name\":\"a\"}]}}";
    jp_fail(pod, "[{\"op\":\"add\",\"path\":\"/spec/foo/bar\",\"value\":1}]", KR_E_INVALID,
            "add operation does not apply: doc is missing path: \"/spec/foo/bar\": missing value");
    jp_fail(pod, "[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":2}]", KR_E_INVALID,
            "testing value /spec/replicas failed: test failed");
    jp_fail(pod, "[{\"op\":\"replace\",\"path\":\"/spec/foo\",\"value\":2}]", KR_E_INVALID,
            "replace operation does not apply: doc is missing key: /spec/foo: missing value");
    jp_fail(pod, "[{\"op\":\"move\",\"from\":\"\",\"path\":\"/spec/x\"}]", KR_E_INVALID,
            "unable to move entire document to another path");
    jp_fail(pod, "[{\"op\":\"copy\",\"from\":\"/spec/nope/x\",\"path\":\"/spec/x\"}]", KR_E_INVALID,
            "copy operation does not apply: doc is missing from path: \"/spec/nope/x\"");
    jp_fail(pod, "[{\"op\":\"move\",\"from\":\"/spec\",\"path\":\"/spec/inner\"}]", KR_E_INVALID,
            "move operation does not apply: doc is missing destination path");
    /* RFC 6902 4.6: numbers compare by value. */
    jp_ok(pod, "[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":3.0}]", pod);
}

static void test_atomic(void **state)
{
    (void)state;
    /* Two ops succeed on the private copy, the third fails: the caller's
     * document is untouched and nothing comes back (checked in jp_fail). */
    jp_fail("{\"a\":[1,2],\"b\":{\"c\":1}}",
            "[{\"op\":\"add\",\"path\":\"/a/0\",\"value\":0},"
            "{\"op\":\"remove\",\"path\":\"/b/c\"},"
            "{\"op\":\"replace\",\"path\":\"/b/zz\",\"value\":1}]",
            KR_E_INVALID, "doc is missing key: /b/zz");
    /* The result shares nothing with the target or the patch. */
    kr_value_t *doc = J("{\"a\":{\"b\":1}}"),
               *patch = J("[{\"op\":\"add\",\"path\":\"/c\",\"value\":{\"d\":1}}]");
    kr_value_t *out = NULL;
    assert_int_equal(kr_json_patch_apply(arena, doc, patch, &out, NULL), 0);
    kr_value_map_set(arena, kr_value_map_get(out, "a"), "x", kr_value_int(arena, 2));
    kr_value_map_set(arena, kr_value_map_get(out, "c"), "y", kr_value_int(arena, 2));
    assert_json(doc, "{\"a\":{\"b\":1}}");
    assert_json(patch, "[{\"op\":\"add\",\"path\":\"/c\",\"value\":{\"d\":1}}]");
}

static void test_bounds(void **state)
{
    (void)state;
    kr_value_t *ops = kr_value_array(arena), *out = NULL;
    kr_error_t err;
    for (int i = 0; i < KR_JSON_PATCH_MAX_OPS; i++)
        kr_value_array_push(arena, ops, J("{\"op\":\"add\",\"path\":\"/a/-\",\"value\":1}"));
    assert_int_equal(kr_json_patch_apply(arena, J("{\"a\":[]}"), ops, &out, &err), 0);
    assert_int_equal(kr_value_len(kr_value_map_get(out, "a")), KR_JSON_PATCH_MAX_OPS);
    kr_value_array_push(arena, ops, J("{\"op\":\"add\",\"path\":\"/a/-\",\"value\":1}"));
    assert_int_equal(kr_json_patch_apply(arena, J("{\"a\":[]}"), ops, &out, &err), -KR_E_TOO_LARGE);
    assert_string_equal(err.message,
                        "The allowed maximum operations in a JSON patch is 10000, got 10001");

    /* Copying a parent into its child doubles the document each time: the
     * copy budget stops it long before memory runs out. */
    ops = kr_value_array(arena);
    kr_value_array_push(arena, ops, J("{\"op\":\"add\",\"path\":\"/a\",\"value\":[1,2,3,4]}"));
    for (int i = 0; i < 200; i++)
        kr_value_array_push(arena, ops, J("{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/0\"}"));
    assert_int_equal(kr_json_patch_apply(arena, J("{}"), ops, &out, &err), -KR_E_TOO_LARGE);
    assert_non_null(strstr(err.message, "Unable to complete the copy"));

    /* Nesting: each copy of /a into /a/0 adds a level; past 256 it stops. */
    ops = kr_value_array(arena);
    kr_value_array_push(arena, ops, J("{\"op\":\"add\",\"path\":\"/a\",\"value\":{}}"));
    kr_buf_t path = KR_BUF_INIT;
    kr_buf_puts(&path, "/a");
    for (int i = 0; i < KR_VALUE_MAX_DEPTH; i++) {
        kr_value_t *op = kr_value_map(arena);
        kr_value_map_set(arena, op, "op", kr_value_str(arena, "add"));
        kr_buf_puts(&path, "/b");
        kr_value_map_set(arena, op, "path", kr_value_str(arena, path.data));
        kr_value_map_set(arena, op, "value", kr_value_map(arena));
        kr_value_array_push(arena, ops, op);
    }
    kr_buf_free(&path);
    assert_int_equal(kr_json_patch_apply(arena, J("{}"), ops, &out, &err), -KR_E_INVALID);
    if (strstr(err.message, "deeper than 256") == NULL)
        fail_msg("%s", err.message);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_rfc7386_appendix_a, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_keeps_order_and_no_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_create_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rfc6902_appendix_a, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_patch_tests_suite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_patch_is_bad_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubernetes_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
