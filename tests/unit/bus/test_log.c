/* Logging: logfmt shape, level filter, one write per record. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <string.h>
#include <unistd.h>

#include <kraal/log.h>

static void test_format_and_filter(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    kr_log_set_fd(p[1]);
    kr_log_set_level(KR_LOG_INFO);
    KR_DEBUG("echo", "hidden", "k=%d", 1);
    KR_INFO("echo", "plugin started", "port=%d path=\"%s\"", 7440, "/a b");
    KR_ERROR("bus", "say \"hi\"\nnow", "%s", "");
    kr_log_set_fd(2);
    close(p[1]);
    char buf[2048] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    assert_true(n > 0);
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    *nl = '\0';
    regex_t re;
    assert_int_equal(
        regcomp(&re,
                "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                "level=info tag=echo msg=\"plugin started\" port=7440 path=\"/a b\"$",
                REG_EXTENDED | REG_NOSUB),
        0);
    assert_int_equal(regexec(&re, buf, 0, NULL, 0), 0);
    regfree(&re);
    char *second = nl + 1;
    assert_non_null(strstr(second, "level=error tag=bus msg=\"say \\\"hi\\\"\\nnow\"\n"));
    assert_null(strstr(buf, "hidden"));
    assert_null(strstr(second, "hidden"));
}

static void test_level_parse(void **state)
{
    (void)state;
    kr_log_level_t l;
    assert_int_equal(kr_log_level_parse("warn", &l, NULL), 0);
    assert_int_equal(l, KR_LOG_WARN);
    assert_int_equal(kr_log_level_parse("DEBUG", &l, NULL), 0);
    assert_int_equal(l, KR_LOG_DEBUG);
    kr_error_t err;
    assert_true(kr_log_level_parse("loud", &l, &err) < 0);
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_non_null(strstr(err.message, "loud"));
    kr_log_set_level(KR_LOG_ERROR);
    assert_int_equal(kr_log_get_level(), KR_LOG_ERROR);
    kr_log_set_level(KR_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_filter),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
