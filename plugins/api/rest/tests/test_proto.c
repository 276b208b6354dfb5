/* Protobuf request bodies (proto.h).
 *
 * fixtures/proto/<name>.pb are bodies kubectl 1.33 sent for `kubectl create
 * ...` and <name>.json what the same kubectl prints for that object with
 * --dry-run=client -o json (fixtures/proto/capture.py made both): decoding
 * the first must give the second.  The other cases build bodies from a
 * small text notation (see pb()) to check Go's decoding rules one by one
 * and malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/value.h>

#include "proto.h"

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

static const char *enc(const kr_value_t *v)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_json_encode(v, &b, KR_JSON_COMPACT, NULL);
    const char *s = kr_arena_strdup(arena, b.data ? b.data : "(none)");
    kr_buf_free(&b);
    return s;
}

/* JSON with ' for " (none of the texts below holds an apostrophe). */
static kr_value_t *J(const char *text)
{
    char *s = kr_arena_strdup(arena, text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(arena, s, strlen(s), &v, &err) < 0)
        fail_msg("bad test JSON: %s\n%s", err.message, s);
    return v;
}

static bool read_fixture(const char *name, kr_buf_t *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    size_t at = slash ? (size_t)(slash + 1 - path) : 0;
    snprintf(path + at, sizeof path - at, "fixtures/proto/%s", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        kr_buf_append(b, chunk, n);
    fclose(f);
    return true;
}

/* ---- building bodies ------------------------------------------------------
 * Fields, separated by blanks:
 *   N:123        varint (N:-1 is ten bytes, as Go writes a negative int)
 *   N:'text'     length-delimited bytes; \xHH escapes a byte
 *   N{...}       length-delimited message
 *   N[1 2 3]     packed varints
 *   N@W          just a tag of wire type W (what follows is up to the test)
 *   x'0a0b'      raw bytes
 */
static void put_varint(kr_buf_t *b, uint64_t v)
{
    while (v >= 0x80) {
        uint8_t c = (uint8_t)(v | 0x80);
        kr_buf_append(b, &c, 1);
        v >>= 7;
    }
    uint8_t c = (uint8_t)v;
    kr_buf_append(b, &c, 1);
}

static const char *pb_fields(const char *s, kr_buf_t *out);

static uint8_t hexval(char c)
{
    return (uint8_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

static const char *pb_field(const char *s, kr_buf_t *out)
{
    if (*s == 'x') {
        for (s += 2; *s != '\''; s += 2) {
            uint8_t c = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
            kr_buf_append(out, &c, 1);
        }
        return s + 1;
    }
    char *end;
    unsigned long num = strtoul(s, &end, 10);
    s = end;
    if (*s == '@') {
        put_varint(out, num << 3 | (unsigned long)(s[1] - '0'));
        return s + 2;
    }
    if (*s == ':' && s[1] != '\'') {
        put_varint(out, num << 3);
        put_varint(out, (uint64_t)strtoll(s + 1, &end, 10));
        return end;
    }
    kr_buf_t sub = KR_BUF_INIT;
    if (*s == ':') {
        for (s += 2; *s != '\''; s++) {
            uint8_t c = (uint8_t)*s;
            if (s[0] == '\\' && s[1] == 'x') {
                c = (uint8_t)(hexval(s[2]) << 4 | hexval(s[3]));
                s += 3;
            }
            kr_buf_append(&sub, &c, 1);
        }
        s++;
    } else if (*s == '{') {
        s = pb_fields(s + 1, &sub);
        assert_int_equal(*s, '}');
        s++;
    } else {
        assert_int_equal(*s, '[');
        for (s++; *s != ']';) {
            put_varint(&sub, (uint64_t)strtoll(s, &end, 10));
            for (s = end; *s == ' ';)
                s++;
        }
        s++;
    }
    put_varint(out, num << 3 | 2);
    put_varint(out, sub.len);
    kr_buf_append(out, sub.data, sub.len);
    kr_buf_free(&sub);
    return s;
}

static const char *pb_fields(const char *s, kr_buf_t *out)
{
    for (;;) {
        while (*s == ' ')
            s++;
        if (*s == '\0' || *s == '}')
            return s;
        s = pb_field(s, out);
    }
}

/* A body: "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw}. */
static kr_buf_t body(const char *api_version, const char *kind, const char *raw)
{
    kr_buf_t obj = KR_BUF_INIT, b = KR_BUF_INIT;
    pb_fields(raw, &obj);
    kr_buf_append(&b, "k8s\0", 4);
    char *tm = kr_arena_printf(arena, "1{1:'%s' 2:'%s'}", api_version, kind);
    pb_fields(tm, &b);
    put_varint(&b, 2 << 3 | 2);
    put_varint(&b, obj.len);
    kr_buf_append(&b, obj.data, obj.len);
    kr_buf_free(&obj);
    return b;
}

static kr_value_t *decode_ok(const char *api_version, const char *kind, const char *raw)
{
    kr_buf_t b = body(api_version, kind, raw);
    kr_value_t *v = NULL;
    kr_error_t err;
    int rc = rest_proto_decode(arena, b.data, b.len, &v, &err);
    kr_buf_free(&b);
    if (rc < 0)
        fail_msg("%s %s {%s}: %s", api_version, kind, raw, err.message);
    return v;
}

#define assert_tree(got, want)                                         \
    do {                                                               \
        kr_value_t *got_ = (got), *want_ = J(want);                    \
        if (!kr_value_equal(got_, want_))                              \
            fail_msg("decoded %s\n   want %s", enc(got_), enc(want_)); \
    } while (0)

/* Decoding fails with `reason` and a message holding `text`. */
static void check_fails(const void *data, size_t len, kr_reason_t reason, const char *text)
{
    kr_value_t *v = (kr_value_t *)1;
    kr_error_t err;
    int rc = rest_proto_decode(arena, data, len, &v, &err);
    if (rc != -(int)reason || strstr(err.message, text) == NULL)
        fail_msg("rc %d (%s), want %d with \"%s\"", rc, rc < 0 ? err.message : enc(v), -(int)reason,
                 text);
    assert_null(v);
}

static void check_body_fails(const char *api_version, const char *kind, const char *raw,
                             const char *text)
{
    kr_buf_t b = body(api_version, kind, raw);
    check_fails(b.data, b.len, KR_E_BAD_REQUEST, text);
    kr_buf_free(&b);
}

/* ---- kubectl's own bodies ------------------------------------------------- */

static const char *const fixtures[] = {
    "namespace",       "configmap",     "secret",           "secret-registry", "deployment",
    "deployment-zero", "service",       "service-nodeport", "serviceaccount",  "job",
    "cronjob",         "priorityclass",
};

static void test_kubectl_bodies(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        kr_buf_t pb = KR_BUF_INIT, js = KR_BUF_INIT;
        const char *name = fixtures[i];
        if (!read_fixture(kr_arena_printf(arena, "%s.pb", name), &pb) ||
            !read_fixture(kr_arena_printf(arena, "%s.json", name), &js))
            fail_msg("fixture %s is missing", name);
        kr_value_t *got = NULL, *want = NULL;
        kr_error_t err;
        if (rest_proto_decode(arena, pb.data, pb.len, &got, &err) < 0)
            fail_msg("%s.pb: %s", name, err.message);
        assert_int_equal(kr_json_decode(arena, js.data, js.len, &want, &err), 0);
        if (!kr_value_equal(got, want))
            fail_msg("%s.pb decodes to\n%s\nkubectl's JSON is\n%s", name, enc(got), enc(want));
        kr_buf_free(&pb);
        kr_buf_free(&js);
    }
}

/* The Go facts the fixtures rest on, spelled out. */
static void test_kubectl_details(void **state)
{
    (void)state;
    kr_buf_t pb = KR_BUF_INIT;
    kr_value_t *v;
    kr_error_t err;
    /* replicas is *int32: 0 on the wire stays in the JSON. */
    assert_true(read_fixture("deployment-zero.pb", &pb));
    assert_int_equal(rest_proto_decode(arena, pb.data, pb.len, &v, &err), 0);
    assert_tree(kr_value_get(v, "spec.replicas"), "0");
    assert_tree(kr_value_get(v, "spec.template.spec.containers[0].command"), "['sleep','3600']");
    kr_buf_reset(&pb);
    /* Bytes that are not UTF-8 are base64 under binaryData. */
    assert_true(read_fixture("configmap.pb", &pb));
    assert_int_equal(rest_proto_decode(arena, pb.data, pb.len, &v, &err), 0);
    assert_int_equal(kr_value_len(kr_value_get(v, "binaryData.blob")), 344);
    assert_tree(kr_value_get(v, "data"), "{'a':'1','b':'two'}");
    kr_buf_reset(&pb);
    /* A named targetPort is an IntOrString string. */
    assert_true(read_fixture("service.pb", &pb));
    assert_int_equal(rest_proto_decode(arena, pb.data, pb.len, &v, &err), 0);
    assert_tree(kr_value_get(v, "spec.ports[1].targetPort"), "'https'");
    assert_tree(kr_value_get(v, "spec.ports[0].targetPort"), "8080");
    kr_buf_free(&pb);
}

static void test_unknown_kind(void **state)
{
    (void)state;
    /* `kubectl create quota q --hard=cpu=1,memory=1Gi,pods=10` (1.33):
     * unknown until the kind was built in, now decoded */
    kr_buf_t pb = KR_BUF_INIT;
    assert_true(read_fixture("quota.pb", &pb));
    kr_value_t *v = NULL;
    kr_error_t err;
    if (rest_proto_decode(arena, pb.data, pb.len, &v, &err) < 0)
        fail_msg("quota.pb: %s", err.message);
    assert_tree(v, "{'kind': 'ResourceQuota', 'apiVersion': 'v1', 'metadata': {'name': 'q',"
                   " 'creationTimestamp': null}, 'spec': {'hard': {'cpu': '1', 'memory': '1Gi',"
                   " 'pods': '10'}}, 'status': {}}");
    kr_buf_free(&pb);
    check_body_fails("v1", "ReplicationController", "",
                     "no kind \"ReplicationController\" is registered for version \"v1\"");
    check_body_fails("v2", "Pod", "", "no kind \"Pod\" is registered for version \"v2\"");
    check_body_fails("v1", "", "", "Object 'Kind' is missing");
    check_body_fails("", "Pod", "", "Object 'apiVersion' is missing");
}

/* ---- Go's decoding and JSON rules ------------------------------------------ */

static void test_zero_values(void **state)
{
    (void)state;
    /* Nothing on the wire: the JSON of Go's zero Namespace. */
    assert_tree(decode_ok("v1", "Namespace", ""),
                "{'kind':'Namespace','apiVersion':'v1','metadata':{'creationTimestamp':null},"
                "'spec':{},'status':{}}");
    /* A nil slice without omitempty is null (PodSpec.containers); zero
     * non-omitempty scalars are written (ContainerPort.containerPort). */
    assert_tree(kr_value_get(decode_ok("v1", "Pod", "2{}"), "spec"), "{'containers':null}");
    assert_tree(kr_value_get(decode_ok("v1", "Pod", "2{2{1:'c' 6{}}}"), "spec.containers[0]"),
                "{'name':'c','ports':[{'containerPort':0}],'resources':{}}");
    /* Pointers are written when set, even to zero: DeleteOptions in any
     * group/version. */
    assert_tree(decode_ok("apps/v1", "DeleteOptions", "1:0 4:''"),
                "{'kind':'DeleteOptions','apiVersion':'apps/v1','gracePeriodSeconds':0,"
                "'propagationPolicy':''}");
    /* ...and zero omitempty values left out even when on the wire: Scale's
     * spec.replicas is a plain int32. */
    assert_tree(decode_ok("autoscaling/v1", "Scale", "1{1:'web'} 2{1:0} 3{1:0 2:''}"),
                "{'kind':'Scale','apiVersion':'autoscaling/v1','metadata':{'name':'web',"
                "'creationTimestamp':null},'spec':{},'status':{'replicas':0}}");
}

static void test_merge_and_repeat(void **state)
{
    (void)state;
    /* A message field twice merges; a scalar twice keeps the last. */
    kr_value_t *v = decode_ok("v1", "ConfigMap",
                              "1{1:'a' 11{1:'k' 2:'1'}} 1{1:'b' 11{1:'j' 2:'2'}}"
                              " 2{1:'x' 2:'1'} 2{1:'x' 2:'2'}");
    assert_tree(kr_value_get(v, "metadata"),
                "{'name':'b','labels':{'k':'1','j':'2'},'creationTimestamp':null}");
    assert_tree(kr_value_get(v, "data"), "{'x':'2'}");
    /* Repeated scalars packed or not, mixed; negative int64 in ten bytes. */
    v = decode_ok("v1", "Pod", "2{14{4:1 4[2 3] 4:-1}}");
    assert_tree(kr_value_get(v, "spec.securityContext.supplementalGroups"), "[1,2,3,-1]");
    /* Map entries without key or value: Go's zero values. */
    v = decode_ok("v1", "Pod", "2{2{1:'c' 8{1{} 2{1:'cpu'}}}}");
    assert_tree(kr_value_get(v, "spec.containers[0].resources"),
                "{'limits':{'':'0'},'requests':{'cpu':'0'}}");
    /* A map value message twice is not merged: the last one counts. */
    v = decode_ok("v1", "Pod", "2{2{1:'c' 8{1{1:'cpu' 2{1:'2'} 2{}} 1{1:'mem' 2{} 2{1:'1k'}}}}}");
    assert_tree(kr_value_get(v, "spec.containers[0].resources.limits"), "{'cpu':'0','mem':'1k'}");
}

static void test_special_types(void **state)
{
    (void)state;
    /* metav1.Time: seconds only (nanos dropped, as upstream); empty or
     * Go's zero time is null. */
    assert_tree(kr_value_get(decode_ok("v1", "Namespace", "1{8{1:1700000000 2:999}}"),
                             "metadata.creationTimestamp"),
                "'2023-11-14T22:13:20Z'");
    assert_tree(
        kr_value_get(decode_ok("v1", "Namespace", "1{8{1:-1}}"), "metadata.creationTimestamp"),
        "'1969-12-31T23:59:59Z'");
    assert_tree(kr_value_get(decode_ok("v1", "Namespace", "1{8{1:-62135596800}}"),
                             "metadata.creationTimestamp"),
                "null");
    assert_tree(
        kr_value_get(decode_ok("v1", "Namespace", "1{8{1:1} 8{}}"), "metadata.creationTimestamp"),
        "null");
    assert_tree(
        kr_value_get(decode_ok("v1", "Namespace", "1{9{1:0}}"), "metadata.deletionTimestamp"),
        "'1970-01-01T00:00:00Z'");
    check_body_fails("v1", "Namespace", "1{8{1:253402300800}}",
                     "metadata.creationTimestamp: time 253402300800s is out of range");
    /* MicroTime keeps microseconds; nanos past a second carry. */
    assert_tree(kr_value_get(decode_ok("v1", "Event", "10{1:1700000000 2:123456789}"), "eventTime"),
                "'2023-11-14T22:13:20.123456Z'");
    assert_tree(kr_value_get(decode_ok("v1", "Event", "10{1:0 2:-1}"), "eventTime"),
                "'1969-12-31T23:59:59.999999Z'");
    /* Quantity: canonical form, as its MarshalJSON writes it. */
    kr_value_t *v =
        decode_ok("v1", "Pod", "2{2{1:'c' 8{1{1:'cpu' 2{1:'1000m'}} 1{1:'memory' 2{1:'1.5Gi'}}}}}");
    assert_tree(kr_value_get(v, "spec.containers[0].resources.limits"),
                "{'cpu':'1','memory':'1536Mi'}");
    check_body_fails("v1", "Pod", "2{2{1:'c' 8{1{1:'cpu' 2{1:'lots'}}}}}",
                     "spec.containers[0].resources.limits[cpu]: quantities must match the "
                     "regular expression");
    check_body_fails("v1", "Pod", "2{2{1:'c' 8{1{1:'cpu' 2{1:'1\\x00'}}}}}",
                     "quantities must match");
    /* IntOrString. */
    v = decode_ok("v1", "Service", "2{1{3:80 4{1:1 3:'http'}} 1{3:81 4{2:8081}}}");
    assert_tree(kr_value_get(v, "spec.ports"),
                "[{'port':80,'targetPort':'http'},{'port':81,'targetPort':8081}]");
    check_body_fails("v1", "Service", "2{1{4{1:2}}}",
                     "spec.ports[0].targetPort: impossible IntOrString.Type");
    /* []byte is base64; FieldsV1 is the JSON it holds. */
    v = decode_ok("v1", "Secret", "2{1:'k' 2:'\\xff\\x00'} 2{1:'e' 2:''} 2{1:'n'}");
    assert_tree(kr_value_get(v, "data"), "{'k':'/wA=','e':'','n':''}");
    v = decode_ok("v1", "Namespace", "1{17{1:'kubectl' 7{1:'{\"f:metadata\":{}}'}}}");
    assert_tree(kr_value_get(v, "metadata.managedFields[0]"),
                "{'manager':'kubectl','fieldsV1':{'f:metadata':{}}}");
    check_body_fails("v1", "Namespace", "1{17{7{1:'{'}}}", "metadata.managedFields[0].fieldsV1");
    /* Strings that are not UTF-8 get U+FFFD per bad byte, as Go's JSON. */
    v = decode_ok("v1", "Namespace", "1{1:'a\\xffb\\xc3' 11{1:'k\\xe2\\x82' 2:'\\xed\\xa0\\x80'}}");
    assert_tree(kr_value_get(v, "metadata.name"), "'a\\ufffdb\\ufffd'");
    assert_tree(kr_value_get(v, "metadata.labels"), "{'k\\ufffd\\ufffd':'\\ufffd\\ufffd\\ufffd'}");
    check_body_fails("v1", "Namespace", "1{11{1:'a\\x00b' 2:''}}", "a map key holds a NUL byte");
}

/* A user's extra values (ExtraValue, "stringlist"): the list itself, null
 * when empty; as a SubjectAccessReview carries them. */
static void test_stringlist(void **state)
{
    (void)state;
    kr_value_t *v = decode_ok("authorization.k8s.io/v1", "SubjectAccessReview",
                              "2{1{1:'team-a' 2:'get' 5:'pods'} 3:'jane' 4:'g1' "
                              "5{1:'scopes' 2{1:'a' 1:'b'}} 5{1:'none' 2{}}}");
    assert_tree(kr_value_get(v, "spec"),
                "{'resourceAttributes':{'namespace':'team-a','verb':'get','resource':'pods'},"
                "'user':'jane','groups':['g1'],'extra':{'scopes':['a','b'],'none':null}}");
    assert_tree(kr_value_get(v, "status"), "{'allowed':false}");
    v = decode_ok("authentication.k8s.io/v1", "SelfSubjectReview",
                  "2{1{1:'jane' 4{1:'k' 2{1:'v'}}}}");
    assert_tree(kr_value_get(v, "status.userInfo"), "{'username':'jane','extra':{'k':['v']}}");
    check_body_fails("authorization.k8s.io/v1", "SubjectAccessReview", "2{5{1:'k' 2{1:5}}}",
                     "spec.extra[k]");
}

static void test_inline(void **state)
{
    (void)state;
    /* Volume's VolumeSource and Probe's ProbeHandler are inline in JSON. */
    kr_value_t *v =
        decode_ok("v1", "Pod", "2{1{1:'v' 2{2{}}} 2{1:'c' 10{1{2{1:'/' 2{1:1 3:'http'}}} 2:5}}}");
    assert_tree(kr_value_get(v, "spec.volumes"), "[{'name':'v','emptyDir':{}}]");
    assert_tree(kr_value_get(v, "spec.containers[0].livenessProbe"),
                "{'httpGet':{'path':'/','port':'http'},'initialDelaySeconds':5}");
}

static void test_unknown_fields(void **state)
{
    (void)state;
    /* Fields the table does not know are skipped, groups included, as
     * gogo's skipGenerated does. */
    kr_value_t *v = decode_ok("v1", "Namespace",
                              "99:7 98@1 x'0102030405060708' 97@5 x'01020304' 96:'junk' "
                              "95@3 1:5 94@3 2:'x' 94@4 95@4 1{1:'ns' 1000:1}");
    assert_tree(v, "{'kind':'Namespace','apiVersion':'v1','metadata':{'name':'ns',"
                   "'creationTimestamp':null},'spec':{},'status':{}}");
}

/* ---- malformed input ------------------------------------------------------ */

static void test_envelope(void **state)
{
    (void)state;
    check_fails("", 0, KR_E_BAD_REQUEST, "empty data");
    check_fails("{\"kind\":\"Pod\"}", 14, KR_E_BAD_REQUEST,
                "provided data does not appear to be a protobuf message, expected prefix");
    check_fails("k8s", 3, KR_E_BAD_REQUEST, "expected prefix");
    check_fails("k8s\0", 4, KR_E_BAD_REQUEST, "empty body");
    check_fails("k8s\0\x0a\x80", 6, KR_E_BAD_REQUEST,
                "invalid protobuf body: typeMeta: unexpected EOF");
    check_fails("k8s\0\x0a\x05\x0a\x01", 8, KR_E_BAD_REQUEST, "unexpected EOF");
    check_fails("k8s\0\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 16, KR_E_BAD_REQUEST,
                "proto: integer overflow");
    check_fails("k8s\0\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 15, KR_E_BAD_REQUEST,
                "proto: negative length found during unmarshaling");
    check_fails("k8s\0\x08\x01", 6, KR_E_BAD_REQUEST,
                "typeMeta: proto: wrong wireType = 0 for field typeMeta");
}

static void test_wire_errors(void **state)
{
    (void)state;
    check_body_fails("v1", "Namespace", "1:1", "metadata: proto: wrong wireType = 0 for field");
    check_body_fails("apps/v1", "Deployment", "2{1:'two'}",
                     "spec.replicas: proto: wrong wireType = 2 for field replicas");
    check_body_fails("apps/v1", "Deployment", "2{3{2{2{1:'c' 6{3:'80'}}}}}",
                     "spec.template.spec.containers[0].ports[0].containerPort: proto: wrong "
                     "wireType = 2");
    check_body_fails("v1", "Namespace", "1{1@4}", "wiretype end group for non-group");
    check_body_fails("v1", "Namespace", "x'0001'", "illegal tag 0 (wire type 0)");
    check_body_fails("v1", "Namespace", "9@7", "proto: illegal wireType 7");
    check_body_fails("v1", "Namespace", "9@3 1:1", "unexpected EOF");
    /* Like Go, any end-group closes a group; a second one is stray. */
    check_body_fails("v1", "Namespace", "9@3 8@4 9@4", "wiretype end group for non-group");
    check_body_fails("v1", "Namespace", "1{7@1 x'01'}", "metadata.generation: proto: wrong");
    check_body_fails("v1", "Namespace", "9@1 x'01'", "unexpected EOF");
    check_body_fails("v1", "Pod", "2{14{4:'\\x01\\x02\\x80'}}",
                     "spec.securityContext.supplementalGroups: unexpected EOF");
}

/* Every prefix and many one-byte changes of kubectl's bodies decode or
 * fail cleanly (the fuzzer does the rest, under ASan). */
static void test_truncated_and_mutated(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        kr_buf_t pb = KR_BUF_INIT;
        assert_true(read_fixture(kr_arena_printf(arena, "%s.pb", fixtures[i]), &pb));
        size_t failed = 0;
        for (size_t n = 0; n < pb.len; n++) {
            kr_arena_t *a = kr_arena_new(0);
            kr_value_t *v;
            kr_error_t err;
            int rc = rest_proto_decode(a, pb.data, n, &v, &err);
            assert_true(rc == 0 || rc == -KR_E_BAD_REQUEST);
            failed += rc < 0;
            kr_arena_destroy(&a);
        }
        /* Most cuts land inside a length-delimited field. */
        assert_true(failed > pb.len / 2);
        unsigned char *copy = malloc(pb.len);
        for (size_t at = 0; at < pb.len; at++) {
            static const unsigned char with[] = {0x00, 0x07, 0x80, 0xff, 0x0a, 0x12};
            for (size_t k = 0; k < sizeof with; k++) {
                memcpy(copy, pb.data, pb.len);
                copy[at] = with[k];
                kr_arena_t *a = kr_arena_new(0);
                kr_value_t *v;
                kr_error_t err;
                int rc = rest_proto_decode(a, copy, pb.len, &v, &err);
                assert_true(rc == 0 || rc == -KR_E_BAD_REQUEST);
                kr_arena_destroy(&a);
            }
        }
        free(copy);
        kr_buf_free(&pb);
    }
}

/* Go's zero structs make a tree larger than its body; a body made of
 * little else is refused instead of filling memory. */
static void test_too_large(void **state)
{
    (void)state;
    kr_buf_t spec = KR_BUF_INIT, pod = KR_BUF_INIT, b = KR_BUF_INIT;
    for (int i = 0; i < 20000; i++)
        kr_buf_append(&spec, "\x42\x00", 2); /* status.containerStatuses: {} */
    kr_buf_append(&pod, "\x1a", 1);
    put_varint(&pod, spec.len);
    kr_buf_append(&pod, spec.data, spec.len);
    kr_buf_append(&b, "k8s\0", 4);
    pb_fields("1{1:'v1' 2:'Pod'}", &b);
    put_varint(&b, 2 << 3 | 2);
    put_varint(&b, pod.len);
    kr_buf_append(&b, pod.data, pod.len);
    check_fails(b.data, b.len, KR_E_TOO_LARGE, "too large");
    kr_buf_free(&spec);
    kr_buf_free(&pod);
    kr_buf_free(&b);
    /* A few such entries are fine. */
    kr_value_t *v = decode_ok("v1", "Pod", "3{8{} 8{}}");
    assert_int_equal(kr_value_len(kr_value_get(v, "status.containerStatuses")), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubectl_bodies),   cmocka_unit_test(test_kubectl_details),
        cmocka_unit_test(test_unknown_kind),     cmocka_unit_test(test_zero_values),
        cmocka_unit_test(test_merge_and_repeat), cmocka_unit_test(test_special_types),
        cmocka_unit_test(test_stringlist),       cmocka_unit_test(test_inline),
        cmocka_unit_test(test_unknown_fields),   cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_wire_errors),      cmocka_unit_test(test_truncated_and_mutated),
        cmocka_unit_test(test_too_large),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
