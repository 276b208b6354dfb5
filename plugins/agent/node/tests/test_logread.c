/* CRI log files read as `kubectl logs` shows them: records, rotated files,
 * tailLines, sinceTime, timestamps, limitBytes, partial lines, follow
 * across a rotation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/error.h>

#include "logread.h"

static char dir[] = "/tmp/test_logread.XXXXXX";

static void write_file(const char *name, const char *text, const char *mode)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, mode);
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define R1 "2026-11-23T10:00:01.000000001Z stdout F one\n"
#define R2 "2026-11-23T10:00:02.5Z stderr F two\n"
#define R3 "2026-11-23T10:00:03Z stdout P thr\n"
#define R4 "2026-11-23T10:00:03.1Z stdout F ee\n"
#define R5 "2026-11-23T10:00:04+01:00 stdout F five\n"

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    /* 0.log.2 is the oldest, then 0.log.1, then the current 0.log */
    write_file("0.log.2", R1, "w");
    write_file("0.log.1", R2 "not a record\n", "w");
    write_file("0.log", R3 R4 R5, "w");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static char *read_all(const ag_logopts_t *o)
{
    kr_error_t err;
    ag_logreader_t *r = ag_logreader_new(dir, 0, o, &err);
    assert_non_null(r);
    kr_buf_t out = KR_BUF_INIT;
    int rc;
    /* small steps: the output must not depend on them */
    while ((rc = ag_logreader_read(r, &out, 3)) > 0)
        ;
    ag_logreader_destroy(&r);
    char *s = strdup(out.data ? out.data : "");
    kr_buf_free(&out);
    return s;
}

static void check(const ag_logopts_t *o, const char *want)
{
    char *got = read_all(o);
    assert_string_equal(got, want);
    free(got);
}

static void test_time(void **state)
{
    (void)state;
    int64_t ns;
    assert_true(ag_log_time_parse("1970-01-01T00:00:01.5Z", 22, &ns));
    assert_int_equal(ns, 1500000000);
    assert_true(ag_log_time_parse("1970-01-01T01:00:00+01:00", 25, &ns));
    assert_int_equal(ns, 0);
    assert_false(ag_log_time_parse("1970-01-01 00:00:01Z", 20, &ns));
    assert_false(ag_log_time_parse("1970-01-01T00:00:01.Z", 21, &ns));
    ag_logrec_t rec;
    const char *l = "2026-11-23T10:00:03Z stderr P a b";
    assert_true(ag_logrec_parse(l, strlen(l), &rec));
    assert_int_equal(rec.stream, 2);
    assert_true(rec.partial);
    assert_int_equal(rec.len, 3);
    assert_memory_equal(rec.text, "a b", 3);
    l = "2026-11-23T10:00:03Z stdout F";
    assert_true(ag_logrec_parse(l, strlen(l), &rec));
    assert_int_equal(rec.len, 0);
    assert_false(ag_logrec_parse("x stdout F a", 12, &rec));
}

static void test_plain_tail_since(void **state)
{
    (void)state;
    ag_logopts_t o = {.tail_lines = -1};
    check(&o, "one\ntwo\nthree\nfive\n");
    o.tail_lines = 2;
    check(&o, "ee\nfive\n");
    o.tail_lines = 3;
    check(&o, "three\nfive\n");
    o.tail_lines = 0;
    check(&o, "");
    o.tail_lines = 100;
    check(&o, "one\ntwo\nthree\nfive\n");
    /* sinceTime 10:00:02 keeps two, three; five is 09:00:04 UTC */
    o.tail_lines = -1;
    assert_true(ag_log_time_parse("2026-11-23T10:00:02Z", 20, &o.since_ns));
    check(&o, "two\nthree\n");
}

static void test_timestamps_limit(void **state)
{
    (void)state;
    ag_logopts_t o = {.tail_lines = 2, .timestamps = true};
    check(&o, "2026-11-23T10:00:03.1Z ee\n2026-11-23T10:00:04+01:00 five\n");
    o = (ag_logopts_t){.tail_lines = -1, .limit_bytes = 6};
    check(&o, "one\ntw");
    o.limit_bytes = 4;
    check(&o, "one\n");
}

static void test_follow_rotation(void **state)
{
    (void)state;
    ag_logopts_t o = {.tail_lines = 1, .follow = true};
    kr_error_t err;
    ag_logreader_t *r = ag_logreader_new(dir, 0, &o, &err);
    assert_non_null(r);
    kr_buf_t out = KR_BUF_INIT;
    assert_int_equal(ag_logreader_read(r, &out, 1 << 20), 0);
    assert_string_equal(out.data, "five\n");
    kr_buf_reset(&out);
    assert_int_equal(ag_logreader_read(r, &out, 1 << 20), 0);
    assert_int_equal(out.len, 0);
    /* a half-written record waits for its newline */
    write_file("0.log", "2026-11-23T10:00:05Z stdout F si", "a");
    assert_int_equal(ag_logreader_read(r, &out, 1 << 20), 0);
    assert_int_equal(out.len, 0);
    write_file("0.log", "x\n", "a");
    assert_int_equal(ag_logreader_read(r, &out, 1 << 20), 0);
    assert_string_equal(out.data, "six\n");
    kr_buf_reset(&out);
    /* rotation: the file becomes 0.log.1, a new 0.log starts */
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/0.log", dir);
    snprintf(b, sizeof b, "%s/0.log.1", dir);
    write_file("0.log", "2026-11-23T10:00:06Z stdout F seven\n", "a");
    assert_int_equal(rename(a, b), 0);
    write_file("0.log", "2026-11-23T10:00:07Z stdout F eight\n", "w");
    assert_int_equal(ag_logreader_read(r, &out, 1 << 20), 0);
    assert_string_equal(out.data, "seven\neight\n");
    ag_logreader_destroy(&r);
    kr_buf_free(&out);
    assert_null(ag_logreader_new(dir, 7, &o, &err));
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_plain_tail_since),
        cmocka_unit_test(test_timestamps_limit),
        cmocka_unit_test(test_follow_rotation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
