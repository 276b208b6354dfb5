/* Kubernetes quantities: cases taken from k8s.io/apimachinery
 * pkg/api/resource/quantity_test.go (TestQuantityParse, TestQuantityString,
 * TestQuantityCmp) so that we parse and print exactly as Kubernetes does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <kraal/value.h>

#include <stdio.h>
#include <string.h>

static void check_canonical(const char *in, const char *want)
{
    kr_quantity_t q;
    kr_error_t err;
    char buf[64];
    int rc = kr_quantity_parse(in, &q, &err);
    if (rc != 0)
        fail_msg("parse(%s): %s", in, err.message);
    kr_quantity_format(&q, buf, sizeof(buf));
    if (strcmp(buf, want) != 0)
        fail_msg("parse(%s) prints %s, want %s", in, buf, want);
    /* The canonical form parses back to the same amount. */
    kr_quantity_t back;
    assert_int_equal(kr_quantity_parse(buf, &back, &err), 0);
    assert_int_equal(kr_quantity_cmp(&q, &back), 0);
}

static void test_canonical(void **state)
{
    (void)state;
    static const char *const table[][2] = {
        /* the brief's examples */
        {"1.5Gi", "1536Mi"},
        {"0.5", "500m"},
        {"1000m", "1"},
        {"2e3", "2e3"},
        {"1024Ki", "1Mi"},
        {"100m", "100m"},
        /* TestQuantityParse: inputs, and what their expected amounts print */
        {"0", "0"},
        {"0Ki", "0"},
        {"0n", "0"},
        {"1Ki", "1Ki"},
        {"8Ki", "8Ki"},
        {"7Mi", "7Mi"},
        {"6Gi", "6Gi"},
        {"5Ti", "5Ti"},
        {"4Pi", "4Pi"},
        {"3Ei", "3Ei"},
        {"5n", "5n"},
        {"4u", "4u"},
        {"3m", "3m"},
        {"8k", "8k"},
        {"50k", "50k"},
        {"40T", "40T"},
        {"300T", "300T"},
        {"1E", "1E"},
        {"12E", "12E"},
        {"1E-3", "1e-3"},
        {"1e3", "1e3"},
        {"1E18", "1e18"},
        {"1e14", "100e12"},
        {"100.035k", "100035"},
        {"0.001", "1m"},
        {"0.0005k", "500m"},
        {"0.00050k", "500m"},
        {"0.5e-1", "50e-3"},
        {"1.2e3", "1200"},
        {"1.3E+6", "1300e3"},
        {"10.035M", "10035k"},
        {"7.123456M", "7123456"},
        {"2.5P", "2500T"},
        {"1.01E", "1010P"},
        {"3.001n", "4n"},
        {"1.1E-9", "2e-9"},
        {"0.0000000001", "1n"},
        {"0.00000012345", "124n"},
        {"9Ei", "9223372036854775807"},
        {"9223372036854775807Ki", "9223372036854775807"},
        {"100.035Ki", "102435840m"},
        {"0.5Mi", "512Ki"},
        {"0.000000000001Ki", "2n"},
        {".001", "1m"},
        {".0001k", "100m"},
        {"1.", "1"},
        {"1.G", "1G"},
        /* TestQuantityString */
        {"300Mi", "300Mi"},
        {"1001Gi", "1001Gi"},
        {"1025", "1025"},
        {"1080m", "1080m"},
        {"1.08", "1080m"},
        {"1234567M", "1234567M"},
        {"-1.5Gi", "-1536Mi"},
        {"-100m", "-100m"},
        {"+1", "1"},
        {"0.5Ki", "512"},
        {"1000k", "1M"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        check_canonical(table[i][0], table[i][1]);
}

static void test_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {"",   "1.1.M", "1+1.0M", "0.1am",       "aoeu",
                                      " 1", "1 ",    "e3",     "1e4294967297"};
    static const char *const bad_suffix[] = {"0.1mi", ".5i", "1i", "-3.01i",
                                             "1K",    "1ki", "1e", "-3.01e-"};
    kr_quantity_t q;
    kr_error_t err;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = kr_quantity_parse(bad[i], &q, &err);
        if (rc == 0)
            fail_msg("%s parsed", bad[i]);
        assert_int_equal(err.reason, KR_E_INVALID);
        if (strcmp(bad[i], "1e4294967297") != 0)
            assert_string_equal(err.message, "quantities must match the regular expression "
                                             "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
    }
    for (size_t i = 0; i < sizeof(bad_suffix) / sizeof(bad_suffix[0]); i++) {
        if (kr_quantity_parse(bad_suffix[i], &q, &err) == 0)
            fail_msg("%s parsed", bad_suffix[i]);
        assert_int_equal(err.reason, KR_E_INVALID);
    }
}

static int64_t value_of(const char *s, bool milli)
{
    kr_quantity_t q;
    assert_int_equal(kr_quantity_parse(s, &q, NULL), 0);
    return milli ? kr_quantity_milli(&q) : kr_quantity_value(&q);
}

static void test_value_milli(void **state)
{
    (void)state;
    /* Value() and MilliValue() round up, away from zero, like Kubernetes. */
    assert_int_equal(value_of("100m", false), 1);
    assert_int_equal(value_of("100m", true), 100);
    assert_int_equal(value_of("1.5", false), 2);
    assert_int_equal(value_of("-1.5", false), -2);
    assert_int_equal(value_of("1n", true), 1);
    assert_int_equal(value_of("128Mi", false), 134217728);
    assert_int_equal(value_of("0.5Ki", false), 512);
    assert_int_equal(value_of("2", true), 2000);
    assert_int_equal(value_of("1E", false), 1000000000000000000LL);
    assert_int_equal(value_of("10E", false), INT64_MAX);
    assert_int_equal(value_of("10E", true), INT64_MAX);
    assert_int_equal(value_of("-10E", false), INT64_MIN);
    assert_int_equal(value_of("0", false), 0);
}

static int cmp_of(const char *a, const char *b)
{
    kr_quantity_t qa, qb;
    assert_int_equal(kr_quantity_parse(a, &qa, NULL), 0);
    assert_int_equal(kr_quantity_parse(b, &qb, NULL), 0);
    return kr_quantity_cmp(&qa, &qb);
}

static void test_cmp(void **state)
{
    (void)state;
    assert_int_equal(cmp_of("0", "0"), 0);
    assert_int_equal(cmp_of("100m", "50m"), 1);
    assert_int_equal(cmp_of("50m", "100m"), -1);
    assert_int_equal(cmp_of("10000T", "100Gi"), 1);
    assert_int_equal(cmp_of("1", "1000m"), 0);
    assert_int_equal(cmp_of("1Ki", "1024"), 0);
    assert_int_equal(cmp_of("-1", "1m"), -1);
    assert_int_equal(cmp_of("-2", "-1"), -1);
    assert_int_equal(cmp_of("1e3", "1k"), 0);
    assert_int_equal(cmp_of("999m", "1"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_value_milli),
        cmocka_unit_test(test_cmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
