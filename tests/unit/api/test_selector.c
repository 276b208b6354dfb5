/* Label and field selectors: cases from apimachinery's selector_test.go. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <string.h>

#include <kraal/selector.h>

/* A labels map from "k=v,k2=v2" (no escaping needed in the tests). */
static kr_value_t *labels_of(kr_arena_t *a, const char *spec)
{
    kr_value_t *m = kr_value_map(a);
    char *dup = kr_arena_strdup(a, spec);
    for (char *tok = strtok(dup, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        kr_value_map_set(a, m, tok, kr_value_str(a, eq + 1));
    }
    return m;
}

static kr_value_t *json(kr_arena_t *a, const char *s)
{
    kr_value_t *v = NULL;
    kr_error_t err;
    assert_int_equal(kr_json_decode(a, s, strlen(s), &v, &err), 0);
    return v;
}

static char *label_string(const char *in)
{
    kr_error_t err;
    kr_labelsel_t *sel = kr_labelsel_parse(in, &err);
    if (!sel)
        fail_msg("parse \"%s\": %s", in, err.message);
    kr_buf_t b = KR_BUF_INIT;
    kr_labelsel_string(sel, &b);
    kr_labelsel_destroy(&sel);
    assert_null(sel);
    return b.data;
}

static void test_label_parse_valid(void **state)
{
    (void)state;
    /* input, canonical String() */
    static const char *const cases[][2] = {
        {"", ""},
        {"\rx", "x"},
        {"x=a,y=b,z=c", "x=a,y=b,z=c"},
        {"x!=a,y=b", "x!=a,y=b"},
        {"x=", "x="},
        {"x= ", "x="},
        {"x=,z= ", "x=,z="},
        {"x= ,z= ", "x=,z="},
        {"!x", "!x"},
        {"x>1", "x>1"},
        {"x>1,z<5", "x>1,z<5"},
        {"x==a", "x==a"},
        {"this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"},
        {"this-is-another-dns.domain.com/key-with-dash in (so,what)",
         "this-is-another-dns.domain.com/key-with-dash in (so,what)"},
        {"0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
         "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"},
        {"foo  in\t (abc)", "foo in (abc)"},
        {"x notin\n (abc)", "x notin (abc)"},
        {"x  notin\t\t\t(abc,def)", "x notin (abc,def)"},
        {"x in (def,abc,def)", "x in (abc,def)"},
        {"x in (abc,)", "x in (,abc)"},
        {"x in ()", "x in ()"},
        {"x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"},
        {"x,y in (a)", "x,y in (a)"},
        {"x notin ( )", "x notin ()"},
        {"x notin (, )", "x notin ()"},
        {"z,y!=b,x=a", "x=a,y!=b,z"},
        {"notin=in", "notin=in"},
        {"app in (notin, in)", "app in (in,notin)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = label_string(cases[i][0]);
        if (strcmp(s, cases[i][1]) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i][0], s, cases[i][1]);
        free(s);
    }
}

static void test_label_parse_invalid(void **state)
{
    (void)state;
    /* input, expected message ("" = any message) */
    static const char *const cases[][2] = {
        {"x=a||y=b", "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": a valid "
                     "label must be an empty string or consist of alphanumeric characters, '-', "
                     "'_' or '.', and must start and end with an alphanumeric character (e.g. "
                     "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                     "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
        {"x==a==b", "found '==', expected: ',' or 'end of string'"},
        {"!x=a", "found '=', expected: ',' or 'end of string'"},
        {"x<a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' "
                "operators, the value must be an integer"},
        {"x,,y", "found ',', expected: identifier after ','"},
        {",x,y", "found ',', expected: !, identifier, or 'end of string'"},
        {"x nott in (y)",
         "unable to parse requirement: found 'nott', expected: '=', '!=', '==', 'in', notin'"},
        {"a b", "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'"},
        {"a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"},
        {"a (", "unable to parse requirement: found '(', expected: '=', '!=', '==', 'in', notin'"},
        {"(", "found '(', expected: !, identifier, or 'end of string'"},
        {"x>y", ""},
        {"x in a", "unable to parse requirement: found 'a' expected: '('"},
        {"x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"},
        {"x in (a,=)", "unable to parse requirement: found '=', expected: ',', or identifier"},
        {"x=(", "unable to parse requirement: found '(', expected: identifier"},
        {"app=-bad",
         "unable to parse requirement: values[0][app]: Invalid value: \"-bad\": a valid label "
         "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
         "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  "
         "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
        {"-key=a", "unable to parse requirement: : Invalid value: \"-key\": name part must "
                   "consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                   "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
                   "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"},
        {"Example.com/a=b", "unable to parse requirement: : Invalid value: \"Example.com/a\": "
                            "prefix part a lowercase RFC 1123 subdomain must consist of lower "
                            "case alphanumeric characters, '-' or '.', and must start and end "
                            "with an alphanumeric character (e.g. 'example.com', regex used for "
                            "validation is "
                            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"},
        {"/a", "unable to parse requirement: : Invalid value: \"/a\": prefix part must be "
               "non-empty"},
        {"a/b/c", ""},
        {"x=0123456789012345678901234567890123456789012345678901234567890123", ""},
        {"0123456789012345678901234567890123456789012345678901234567890123", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kr_error_t err;
        kr_labelsel_t *sel = kr_labelsel_parse(cases[i][0], &err);
        if (sel)
            fail_msg("\"%s\" parsed, should fail", cases[i][0]);
        assert_int_equal(err.reason, KR_E_BAD_REQUEST);
        assert_int_equal(kr_reason_code(err.reason), 400);
        if (cases[i][1][0] && strcmp(err.message, cases[i][1]) != 0)
            fail_msg("\"%s\":\n got  %s\n want %s", cases[i][0], err.message, cases[i][1]);
    }
    /* A too-long value names its length first, joined by "; ". */
    kr_error_t err;
    assert_null(kr_labelsel_parse(
        "x=-123456789012345678901234567890123456789012345678901234567890123", &err));
    assert_non_null(strstr(err.message, "must be no more than 63 characters; a valid label"));
}

static void test_label_match(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    /* selector, labels, expected */
    static const struct {
        const char *sel, *labels;
        bool match;
    } cases[] = {
        {"", "x=y", true},
        {"x=y", "x=y", true},
        {"x=y,z=w", "x=y,z=w", true},
        {"x!=y,z!=w", "x=z,z=a", true},
        {"notin=in", "notin=in", true},
        {"x", "x=z", true},
        {"!x", "y=z", true},
        {"x>1", "x=2", true},
        {"x<1", "x=0", true},
        {"x in (a,b)", "x=b", true},
        {"x notin (a,b)", "y=a", true},
        {"x notin (a,b)", "x=c", true},
        {"x=", "x=", true},
        {"x in ()", "x=", true},
        {"x=z", "", false},
        {"x=y", "x=z", false},
        {"x=y,z=w", "x=w,z=w", false},
        {"x!=y,z!=w", "x=z,z=w", false},
        {"x", "y=z", false},
        {"!x", "x=z", false},
        {"x>1", "x=0", false},
        {"x<1", "x=2", false},
        {"x>1", "x=abc", false},
        {"x>1", "", false},
        {"x in (a,b)", "x=c", false},
        {"x in (a,b)", "", false},
        {"x notin (a,b)", "x=a", false},
        {"x=", "y=", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kr_error_t err;
        kr_labelsel_t *sel = kr_labelsel_parse(cases[i].sel, &err);
        assert_non_null(sel);
        if (kr_labelsel_match(sel, labels_of(a, cases[i].labels)) != cases[i].match)
            fail_msg("\"%s\" on {%s}: want %d", cases[i].sel, cases[i].labels, cases[i].match);
        kr_labelsel_destroy(&sel);
    }
    /* No labels at all. */
    kr_error_t err;
    kr_labelsel_t *sel = kr_labelsel_parse("x notin (a),!y", &err);
    assert_true(kr_labelsel_match(sel, NULL));
    kr_labelsel_destroy(&sel);
    sel = kr_labelsel_parse("x", &err);
    assert_false(kr_labelsel_match(sel, NULL));
    kr_labelsel_destroy(&sel);
    kr_labelsel_destroy(&sel); /* NULL is fine */
    kr_labelsel_destroy(NULL);
    kr_arena_destroy(&a);
}

static void test_label_exact(void **state)
{
    (void)state;
    kr_error_t err;
    kr_labelsel_t *sel = kr_labelsel_parse("tier!=db,app in (web),env==prod,x in (a,b)", &err);
    assert_non_null(sel);
    assert_string_equal(kr_labelsel_exact(sel, "app"), "web");
    assert_string_equal(kr_labelsel_exact(sel, "env"), "prod");
    assert_null(kr_labelsel_exact(sel, "tier"));
    assert_null(kr_labelsel_exact(sel, "x"));
    assert_null(kr_labelsel_exact(sel, "nope"));
    const char *k, *v;
    assert_true(kr_labelsel_exact_any(sel, &k, &v));
    assert_string_equal(k, "app");
    assert_string_equal(v, "web");
    assert_false(kr_labelsel_empty(sel));
    kr_labelsel_destroy(&sel);
    sel = kr_labelsel_parse("a!=b,!c", &err);
    assert_false(kr_labelsel_exact_any(sel, &k, &v));
    kr_labelsel_destroy(&sel);
    sel = kr_labelsel_parse("  ", &err);
    assert_true(kr_labelsel_empty(sel));
    kr_labelsel_destroy(&sel);
}

static void test_label_object(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    kr_labelsel_t *sel = kr_labelsel_from_object(
        json(a, "{\"matchLabels\":{\"app\":\"web\",\"env\":\"prod\"},"
                "\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":"
                "[\"fe\",\"be\"]},{\"key\":\"canary\",\"operator\":\"DoesNotExist\"},"
                "{\"key\":\"zone\",\"operator\":\"NotIn\",\"values\":[\"b\"]},"
                "{\"key\":\"ver\",\"operator\":\"Exists\",\"values\":[]}]}"),
        &err);
    if (!sel)
        fail_msg("%s", err.message);
    kr_buf_t b = KR_BUF_INIT;
    kr_labelsel_string(sel, &b);
    assert_string_equal(b.data, "app=web,!canary,env=prod,tier in (be,fe),ver,zone notin (b)");
    kr_buf_free(&b);
    assert_true(kr_labelsel_match(sel, labels_of(a, "app=web,env=prod,tier=fe,ver=1,zone=a")));
    assert_false(kr_labelsel_match(sel, labels_of(a, "app=web,env=prod,tier=fe,ver=1,zone=b")));
    assert_false(kr_labelsel_match(sel, labels_of(a, "app=web,env=prod,tier=fe,ver=1,canary=yes")));
    assert_false(kr_labelsel_match(sel, labels_of(a, "app=web,env=prod,tier=fe")));
    assert_false(kr_labelsel_match(sel, labels_of(a, "app=web,env=prod,tier=mid,ver=1")));
    assert_string_equal(kr_labelsel_exact(sel, "app"), "web");
    kr_labelsel_destroy(&sel);

    /* Empty object: everything; null: nothing. */
    sel = kr_labelsel_from_object(json(a, "{}"), &err);
    assert_true(kr_labelsel_empty(sel));
    assert_true(kr_labelsel_match(sel, labels_of(a, "a=b")));
    kr_labelsel_destroy(&sel);
    sel = kr_labelsel_from_object(NULL, &err);
    assert_non_null(sel);
    assert_false(kr_labelsel_empty(sel));
    assert_false(kr_labelsel_match(sel, labels_of(a, "a=b")));
    assert_false(kr_labelsel_match(sel, NULL));
    kr_labelsel_destroy(&sel);

    static const char *const bad[][2] = {
        {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Equals\",\"values\":[\"b\"]}]}",
         "\"Equals\" is not a valid label selector operator"},
        {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}",
         "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be "
         "empty"},
        {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}",
         "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does "
         "not exist"},
        {"{\"matchLabels\":{\"a b\":\"c\"}}",
         "key: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', "
         "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
         "'my.name',  or '123-abc', regex used for validation is "
         "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"},
        {"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"NotIn\",\"values\":[\"ok\","
         "\"b@d\"]}]}",
         "values[1][k]: Invalid value: \"b@d\": a valid label must be an empty string or consist "
         "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
         "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
         "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
        {"{\"matchExpressions\":[{\"operator\":\"In\"}]}", ""},
        {"{\"matchLabels\":{\"a\":1}}", "matchLabels[a]: must be a string"},
        {"{\"matchLabels\":[]}", "matchLabels: must be an object, not array"},
        {"[]", ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sel = kr_labelsel_from_object(json(a, bad[i][0]), &err);
        if (sel)
            fail_msg("%s accepted", bad[i][0]);
        assert_int_equal(err.reason, KR_E_BAD_REQUEST);
        if (bad[i][1][0] && strcmp(err.message, bad[i][1]) != 0)
            fail_msg("%s:\n got  %s\n want %s", bad[i][0], err.message, bad[i][1]);
    }
    /* Several errors print as one aggregate in brackets. */
    sel = kr_labelsel_from_object(
        json(a, "{\"matchExpressions\":[{\"key\":\"-a\",\"operator\":\"In\",\"values\":[]}]}"),
        &err);
    assert_null(sel);
    assert_true(err.message[0] == '[');
    assert_non_null(strstr(err.message, "key: Invalid value: \"-a\""));
    assert_non_null(strstr(err.message, ", values: Invalid value: []string{}"));
    kr_arena_destroy(&a);
}

static void test_field_parse(void **state)
{
    (void)state;
    static const char *const good[][2] = {
        {"x=a,y=b,z=c", "x=a,y=b,z=c"},   {"", ""},
        {"x!=a,y=b", "x!=a,y=b"},         {"x=a||y\\=b", "x=a||y\\=b"},
        {"x=a\\=\\=b", "x=a\\=\\=b"},     {"z=1,a==2", "a=2,z=1"},
        {"x=a\\,b\\\\c", "x=a\\,b\\\\c"}, {"x=,,", "x="},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        kr_error_t err;
        kr_fieldsel_t *sel = kr_fieldsel_parse(good[i][0], &err);
        if (!sel)
            fail_msg("\"%s\": %s", good[i][0], err.message);
        kr_buf_t b = KR_BUF_INIT;
        kr_fieldsel_string(sel, &b);
        if (strcmp(b.data, good[i][1]) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", good[i][0], b.data, good[i][1]);
        kr_buf_free(&b);
        kr_fieldsel_destroy(&sel);
        assert_null(sel);
    }
    static const char *const bad[][2] = {
        {"x=a||y=b", "invalid field selector: unescaped character in value: 61"},
        {"x==a==b", "invalid field selector: unescaped character in value: 61"},
        {"x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'"},
        {"x in (a)", "invalid selector: 'x in (a)'; can't understand 'x in (a)'"},
        {"x in (a,b,c)", ""},
        {"x", "invalid selector: 'x'; can't understand 'x'"},
        {"x=a\\n", "invalid field selector: invalid escape sequence: \\n"},
        {"x=a\\", "invalid field selector: invalid escape sequence: \\"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kr_error_t err;
        kr_fieldsel_t *sel = kr_fieldsel_parse(bad[i][0], &err);
        if (sel)
            fail_msg("\"%s\" parsed, should fail", bad[i][0]);
        assert_int_equal(err.reason, KR_E_BAD_REQUEST);
        if (bad[i][1][0] && strcmp(err.message, bad[i][1]) != 0)
            fail_msg("\"%s\":\n got  %s\n want %s", bad[i][0], err.message, bad[i][1]);
    }
}

static void test_field_match_check(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *pod = json(a, "{\"metadata\":{\"name\":\"web,1\",\"namespace\":\"default\"},"
                              "\"spec\":{\"nodeName\":\"n1\",\"replicas\":3,\"hostNetwork\":"
                              "true},\"status\":{\"phase\":\"Running\"}}");
    static const struct {
        const char *sel;
        bool match;
    } cases[] = {
        {"", true},
        {"metadata.name=web\\,1", true},
        {"metadata.name==web\\,1,status.phase!=Pending", true},
        {"spec.nodeName=n1,metadata.namespace=default", true},
        {"spec.replicas=3", true},
        {"spec.hostNetwork=true", true},
        {"spec.schedulerName=", true},
        {"spec.schedulerName!=x", true},
        {"metadata.name=web", false},
        {"status.phase!=Running", false},
        {"spec.nodeName=", false},
        {"spec.replicas=4", false},
        {"spec.nodeName=n1,metadata.namespace=kube-system", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kr_error_t err;
        kr_fieldsel_t *sel = kr_fieldsel_parse(cases[i].sel, &err);
        assert_non_null(sel);
        if (kr_fieldsel_match(sel, pod) != cases[i].match)
            fail_msg("\"%s\": want %d", cases[i].sel, cases[i].match);
        kr_fieldsel_destroy(&sel);
    }

    static const char *const pod_fields[] = {"metadata.name", "metadata.namespace", "spec.nodeName",
                                             "status.phase", NULL};
    kr_error_t err;
    kr_fieldsel_t *sel = kr_fieldsel_parse("spec.nodeName=n1,metadata.namespace=default", &err);
    assert_int_equal(kr_fieldsel_check(sel, pod_fields, &err), 0);
    assert_string_equal(kr_fieldsel_exact(sel, "spec.nodeName"), "n1");
    assert_string_equal(kr_fieldsel_exact(sel, "metadata.namespace"), "default");
    assert_null(kr_fieldsel_exact(sel, "metadata.name"));
    assert_false(kr_fieldsel_empty(sel));
    kr_fieldsel_destroy(&sel);

    sel = kr_fieldsel_parse("spec.nodeName!=n1,spec.restartPolicy=Always", &err);
    assert_null(kr_fieldsel_exact(sel, "spec.nodeName"));
    assert_true(kr_fieldsel_check(sel, pod_fields, &err) < 0);
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
    assert_int_equal(kr_reason_code(err.reason), 400);
    assert_string_equal(err.message, "field label not supported: spec.restartPolicy");
    kr_fieldsel_destroy(&sel);
    kr_fieldsel_destroy(NULL);
    kr_arena_destroy(&a);
}

/* Builds 10,000 pods and matches both selectors against all of them; the
 * heap must not grow while matching. */
static void test_match_many(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    enum { N = 10000 };
    kr_value_t **pods = kr_arena_alloc(a, N * sizeof(*pods));
    for (int i = 0; i < N; i++) {
        kr_value_t *pod = kr_value_map(a);
        kr_value_t *md = kr_value_map(a);
        kr_value_t *labels = kr_value_map(a);
        kr_value_map_set(a, labels, "app", kr_value_str(a, i % 2 ? "web" : "db"));
        kr_value_map_set(a, labels, "shard", kr_value_int(a, i)); /* not a string */
        kr_value_map_set(a, labels, "tier", kr_value_str(a, i % 5 == 0 ? "fe" : "be"));
        kr_value_map_set(a, md, "name", kr_value_str(a, kr_arena_printf(a, "pod-%d", i)));
        kr_value_map_set(a, md, "labels", labels);
        kr_value_map_set(a, pod, "metadata", md);
        kr_value_t *spec = kr_value_map(a);
        kr_value_map_set(a, spec, "nodeName", kr_value_str(a, i % 3 ? "n1" : "n2"));
        kr_value_map_set(a, pod, "spec", spec);
        pods[i] = pod;
    }
    kr_error_t err;
    kr_labelsel_t *ls = kr_labelsel_parse("app=web,tier in (fe),!canary,shard", &err);
    kr_fieldsel_t *fs = kr_fieldsel_parse("spec.nodeName=n1,metadata.name!=pod-5", &err);
    assert_non_null(ls);
    assert_non_null(fs);
    struct mallinfo2 before = mallinfo2();
    int nl = 0, nf = 0, both = 0;
    for (int i = 0; i < N; i++) {
        bool l = kr_labelsel_match(ls, kr_value_get(pods[i], "metadata.labels"));
        bool f = kr_fieldsel_match(fs, pods[i]);
        nl += l;
        nf += f;
        both += l && f;
    }
    struct mallinfo2 after = mallinfo2();
    /* odd and multiple of 5: i % 10 == 5 */
    assert_int_equal(nl, N / 10);
    /* i % 3 != 0, minus pod-5 */
    assert_int_equal(nf, N - (N + 2) / 3 - 1);
    int want_both = 0;
    for (int i = 5; i < N; i += 10)
        want_both += i % 3 != 0 && i != 5;
    assert_int_equal(both, want_both);
    assert_true(after.uordblks <= before.uordblks);
    kr_labelsel_destroy(&ls);
    kr_fieldsel_destroy(&fs);
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_parse_valid), cmocka_unit_test(test_label_parse_invalid),
        cmocka_unit_test(test_label_match),       cmocka_unit_test(test_label_exact),
        cmocka_unit_test(test_label_object),      cmocka_unit_test(test_field_parse),
        cmocka_unit_test(test_field_match_check), cmocka_unit_test(test_match_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
