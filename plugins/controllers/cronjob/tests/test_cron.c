/* Unit tests of the cron schedules: robfig/cron v3's parser and
 * SpecSchedule.Next cases (parser_test.go, spec_test.go: the five-field
 * ones), daylight saving transitions in America/New_York and
 * America/Sao_Paulo, time zones past their last transition (the POSIX TZ
 * footer, a southern-hemisphere one included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/controller.h>

#include "cron.h"

static kr_arena_t *A;

/* "2012-03-11T00:00:00-0500" or "...Z" to unix seconds */
static int64_t ts(const char *s)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%s", s);
    size_t n = strlen(buf);
    if (n == 24 && (buf[19] == '-' || buf[19] == '+')) {
        /* -0500 -> -05:00 */
        memmove(buf + 23, buf + 22, 2);
        buf[22] = ':';
        buf[25] = '\0';
    }
    int64_t sec;
    int32_t nsec;
    assert_true(kr_time_parse(buf, &sec, &nsec));
    return sec;
}

static cron_tz_t *zone(const char *name)
{
    kr_error_t err;
    cron_tz_t *z = cron_tz_load(name, NULL, &err);
    if (z == NULL)
        fail_msg("zone %s: %s", name, err.message);
    return z;
}

typedef struct {
    const char *from, *spec, *want; /* want NULL: never */
} next_case_t;

static void run_cases(const char *zname, const next_case_t *cases, size_t n)
{
    cron_tz_t *z = zone(zname);
    for (size_t i = 0; i < n; i++) {
        cron_sched_t s;
        const char *msg = NULL;
        if (!cron_parse(cases[i].spec, &s, A, &msg))
            fail_msg("parse %s: %s", cases[i].spec, msg);
        int64_t got = cron_next(&s, z, ts(cases[i].from));
        int64_t want = cases[i].want != NULL ? ts(cases[i].want) : -1;
        if (got != want) {
            char g[32] = "never";
            if (got >= 0)
                kr_time_format(got, g, sizeof g);
            fail_msg("%s: next of %s after %s: got %s, want %s", zname, cases[i].spec,
                     cases[i].from, g, cases[i].want ? cases[i].want : "never");
        }
    }
    cron_tz_destroy(&z);
}

static void test_next_utc(void **state)
{
    (void)state;
    static const next_case_t c[] = {
        {"2012-07-09T14:45:00Z", "0/15 * * * *", "2012-07-09T15:00:00Z"},
        {"2012-07-09T14:59:00Z", "0/15 * * * *", "2012-07-09T15:00:00Z"},
        {"2012-07-09T14:59:59Z", "0/15 * * * *", "2012-07-09T15:00:00Z"},
        /* wrap around hours */
        {"2012-07-09T15:45:00Z", "20-35/15 * * * *", "2012-07-09T16:20:00Z"},
        /* wrap around days */
        {"2012-07-09T23:46:00Z", "*/15 * * * *", "2012-07-10T00:00:00Z"},
        {"2012-07-09T23:45:00Z", "20-35/15 * * * *", "2012-07-10T00:20:00Z"},
        {"2012-07-09T23:35:51Z", "20-35/15 * * * *", "2012-07-10T00:20:00Z"},
        {"2012-07-09T23:35:51Z", "20-35/15 1/2 * * *", "2012-07-10T01:20:00Z"},
        {"2012-07-09T23:35:51Z", "20-35/15 10-12 * * *", "2012-07-10T10:20:00Z"},
        {"2012-07-09T23:35:51Z", "20-35/15 1/2 */2 * *", "2012-07-11T01:20:00Z"},
        {"2012-07-09T23:35:51Z", "20-35/15 * 9-20 * *", "2012-07-10T00:20:00Z"},
        {"2012-07-09T23:35:51Z", "20-35/15 * 9-20 Jul *", "2012-07-10T00:20:00Z"},
        /* wrap around months */
        {"2012-07-09T23:35:00Z", "0 0 9 Apr-Oct ?", "2012-08-09T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "0 0 */5 Apr,Aug,Oct Mon", "2012-08-01T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "0 0 */5 Oct Mon", "2012-10-01T00:00:00Z"},
        /* wrap around years */
        {"2012-07-09T23:35:00Z", "0 0 * Feb Mon", "2013-02-04T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "0 0 * Feb Mon/2", "2013-02-01T00:00:00Z"},
        /* minute, hour, day, month and year at once */
        {"2012-12-31T23:59:45Z", "* * * * *", "2013-01-01T00:00:00Z"},
        /* leap year */
        {"2012-07-09T23:35:00Z", "0 0 29 Feb ?", "2016-02-29T00:00:00Z"},
        /* unsatisfiable */
        {"2012-07-09T23:35:00Z", "0 0 30 Feb ?", NULL},
        {"2012-07-09T23:35:00Z", "0 0 31 Apr ?", NULL},
        /* descriptors */
        {"2012-07-09T23:35:00Z", "@hourly", "2012-07-10T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "@daily", "2012-07-10T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "@midnight", "2012-07-10T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "@weekly", "2012-07-15T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "@monthly", "2012-08-01T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "@yearly", "2013-01-01T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "@annually", "2013-01-01T00:00:00Z"},
        {"2012-07-09T23:35:00Z", "@every 1h30m", "2012-07-10T01:05:00Z"},
        /* day of month OR day of week when neither is * */
        {"2024-01-01T00:00:00Z", "0 12 13 * fri", "2024-01-05T12:00:00Z"},
        {"2024-01-06T00:00:00Z", "0 12 13 * fri", "2024-01-12T12:00:00Z"},
        {"2024-01-12T12:00:00Z", "0 12 13 * fri", "2024-01-13T12:00:00Z"},
        /* an exact activation is not repeated */
        {"2024-01-01T00:01:00Z", "* * * * *", "2024-01-01T00:02:00Z"},
    };
    run_cases("UTC", c, sizeof c / sizeof c[0]);
}

static void test_next_new_york(void **state)
{
    (void)state;
    static const next_case_t c[] = {
        /* 2am EST (-5) -> 3am EDT (-4) */
        {"2012-03-11T00:00:00-0500", "30 2 11 Mar ?", "2013-03-11T02:30:00-0400"},
        /* hourly */
        {"2012-03-11T00:00:00-0500", "0 * * * ?", "2012-03-11T01:00:00-0500"},
        {"2012-03-11T01:00:00-0500", "0 * * * ?", "2012-03-11T03:00:00-0400"},
        {"2012-03-11T03:00:00-0400", "0 * * * ?", "2012-03-11T04:00:00-0400"},
        {"2012-03-11T04:00:00-0400", "0 * * * ?", "2012-03-11T05:00:00-0400"},
        /* 1am nightly */
        {"2012-03-11T00:00:00-0500", "0 1 * * ?", "2012-03-11T01:00:00-0500"},
        {"2012-03-11T01:00:00-0500", "0 1 * * ?", "2012-03-12T01:00:00-0400"},
        /* 2am nightly (skipped) */
        {"2012-03-11T00:00:00-0500", "0 2 * * ?", "2012-03-12T02:00:00-0400"},
        /* 2am EDT (-4) -> 1am EST (-5) */
        {"2012-11-04T00:00:00-0400", "30 2 04 Nov ?", "2012-11-04T02:30:00-0500"},
        {"2012-11-04T01:45:00-0400", "30 1 04 Nov ?", "2012-11-04T01:30:00-0500"},
        /* hourly */
        {"2012-11-04T00:00:00-0400", "0 * * * ?", "2012-11-04T01:00:00-0400"},
        {"2012-11-04T01:00:00-0400", "0 * * * ?", "2012-11-04T01:00:00-0500"},
        {"2012-11-04T01:00:00-0500", "0 * * * ?", "2012-11-04T02:00:00-0500"},
        /* 1am nightly (runs twice) */
        {"2012-11-04T00:00:00-0400", "0 1 * * ?", "2012-11-04T01:00:00-0400"},
        {"2012-11-04T01:00:00-0400", "0 1 * * ?", "2012-11-04T01:00:00-0500"},
        {"2012-11-04T01:00:00-0500", "0 1 * * ?", "2012-11-05T01:00:00-0500"},
        /* 2am nightly */
        {"2012-11-04T00:00:00-0400", "0 2 * * ?", "2012-11-04T02:00:00-0500"},
        {"2012-11-04T02:00:00-0500", "0 2 * * ?", "2012-11-05T02:00:00-0500"},
        /* 3am nightly */
        {"2012-11-04T00:00:00-0400", "0 3 * * ?", "2012-11-04T03:00:00-0500"},
        {"2012-11-04T03:00:00-0500", "0 3 * * ?", "2012-11-05T03:00:00-0500"},
        /* monthly */
        {"2012-11-04T00:00:00-0400", "0 3 3 * ?", "2012-12-03T03:00:00-0500"},
        /* past the file's transitions: the TZ footer's rules */
        {"2050-03-13T00:00:00-0500", "0 * * * ?", "2050-03-13T01:00:00-0500"},
        {"2050-03-13T01:00:00-0500", "0 * * * ?", "2050-03-13T03:00:00-0400"},
    };
    run_cases("America/New_York", c, sizeof c / sizeof c[0]);
}

/* robfig/cron#157: midnight does not exist on the day DST starts */
static void test_next_sao_paulo(void **state)
{
    (void)state;
    static const next_case_t c[] = {
        {"2018-10-17T05:00:00-0400", "0 9 10 * ?", "2018-11-10T06:00:00-0500"},
        {"2018-02-14T05:00:00-0500", "0 9 22 * ?", "2018-02-22T07:00:00-0500"},
    };
    run_cases("America/Sao_Paulo", c, sizeof c / sizeof c[0]);
}

static void test_tz(void **state)
{
    (void)state;
    cron_tz_t *ny = zone("America/New_York"), *syd = zone("Australia/Sydney"), *utc = zone("");
    assert_int_equal(cron_tz_offset(ny, ts("2012-07-01T00:00:00Z"), NULL, NULL), -4 * 3600);
    assert_int_equal(cron_tz_offset(ny, ts("2012-01-01T00:00:00Z"), NULL, NULL), -5 * 3600);
    /* beyond 2037: from the footer */
    assert_int_equal(cron_tz_offset(ny, ts("2060-07-01T00:00:00Z"), NULL, NULL), -4 * 3600);
    assert_int_equal(cron_tz_offset(ny, ts("2060-01-01T00:00:00Z"), NULL, NULL), -5 * 3600);
    /* the southern hemisphere: summer in January */
    assert_int_equal(cron_tz_offset(syd, ts("2060-01-15T00:00:00Z"), NULL, NULL), 11 * 3600);
    assert_int_equal(cron_tz_offset(syd, ts("2060-07-15T00:00:00Z"), NULL, NULL), 10 * 3600);
    assert_int_equal(cron_tz_offset(utc, ts("2060-07-15T00:00:00Z"), NULL, NULL), 0);
    /* time.Date in a gap: 2:30 EDT, which is 1:30 EST (Go's time_test.go
     * has the same case); in an overlap the first */
    assert_int_equal(cron_tz_date(ny, 2012, 3, 11, 2, 30, 0), ts("2012-03-11T01:30:00-0500"));
    assert_int_equal(cron_tz_date(ny, 2012, 11, 4, 1, 30, 0), ts("2012-11-04T01:30:00-0400"));
    /* normalisation */
    assert_int_equal(cron_tz_date(utc, 2012, 13, 32, 0, 0, 0), ts("2013-02-01T00:00:00Z"));
    cron_tm_t tm;
    cron_tz_local_time(ny, ts("2024-02-29T23:30:00-0500"), &tm);
    assert_int_equal(tm.year, 2024);
    assert_int_equal(tm.mon, 2);
    assert_int_equal(tm.day, 29);
    assert_int_equal(tm.hour, 23);
    assert_int_equal(tm.wday, 4);
    cron_tz_destroy(&ny);
    cron_tz_destroy(&syd);
    cron_tz_destroy(&utc);

    kr_error_t err;
    assert_null(cron_tz_load("Nowhere/Atlantis", NULL, &err));
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
    assert_string_equal(err.message, "unknown time zone Nowhere/Atlantis");
    assert_null(cron_tz_load("../../etc/passwd", NULL, &err));
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_null(cron_tz_load("/etc/localtime", NULL, &err));
    cron_tz_t *local = cron_tz_local();
    assert_non_null(local);
    cron_tz_destroy(&local);
}

static void expect_error(const char *spec, const char *want)
{
    cron_sched_t s;
    const char *msg = NULL;
    if (cron_parse(spec, &s, A, &msg))
        fail_msg("%s: parsed, want error %s", spec, want);
    if (strcmp(msg, want) != 0)
        fail_msg("%s: error %s, want %s", spec, msg, want);
}

static void test_parse(void **state)
{
    (void)state;
    cron_sched_t s;
    const char *msg;
    const uint64_t star = 1ULL << 63;
    assert_true(cron_parse("5 * * * *", &s, A, &msg));
    assert_int_equal(s.minute, 1ULL << 5);
    assert_int_equal(s.hour & star, star);
    assert_true(cron_parse("*/15 1,3-5 1 JAN-mar sun,SAT", &s, A, &msg));
    assert_int_equal(s.minute, 1ULL << 0 | 1ULL << 15 | 1ULL << 30 | 1ULL << 45);
    assert_int_equal(s.hour, 1ULL << 1 | 1ULL << 3 | 1ULL << 4 | 1ULL << 5);
    assert_int_equal(s.month, 1ULL << 1 | 1ULL << 2 | 1ULL << 3);
    assert_int_equal(s.dow, 1ULL << 0 | 1ULL << 6);
    /* N/step is N-max/step; */
    assert_true(cron_parse("50/5 * * * *", &s, A, &msg));
    assert_int_equal(s.minute, 1ULL << 50 | 1ULL << 55);
    /* *\/1 keeps the star, ranges with a step of 1 do not get it */
    assert_true(cron_parse("*/1 * * * *", &s, A, &msg));
    assert_int_equal(s.minute & star, star);
    /* extra blanks */
    assert_true(cron_parse("  0   0\t* * *  ", &s, A, &msg));
    cron_sched_t h;
    assert_true(cron_parse("@hourly", &h, A, &msg));
    assert_true(cron_parse("0 * * * *", &s, A, &msg));
    assert_memory_equal(&h, &s, sizeof s);

    expect_error("", "empty spec string");
    expect_error("* * * *", "expected exactly 5 fields, found 4: * * * *");
    expect_error("0 * * * * *", "expected exactly 5 fields, found 6: 0 * * * * *");
    expect_error("TZ=UTC * * * * *",
                 "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
    expect_error("CRON_TZ=Europe/Paris 0 * * * *",
                 "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
    expect_error("60 * * * *", "end of range (60) above maximum (59): 60");
    expect_error("* 24 * * *", "end of range (24) above maximum (23): 24");
    expect_error("* * 0 * *", "beginning of range (0) below minimum (1): 0");
    expect_error("* * * 13 *", "end of range (13) above maximum (12): 13");
    expect_error("* * * * 7", "end of range (7) above maximum (6): 7");
    expect_error("*/0 * * * *", "step of range should be a positive number: */0");
    expect_error("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1");
    expect_error("1-2-3 * * * *", "too many hyphens: 1-2-3");
    expect_error("*/2/3 * * * *", "too many slashes: */2/3");
    expect_error("a * * * *",
                 "failed to parse int from a: strconv.Atoi: parsing \"a\": invalid syntax");
    expect_error("* * * foo *",
                 "failed to parse int from foo: strconv.Atoi: parsing \"foo\": invalid syntax");
    expect_error("-1 * * * *",
                 "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax");
    expect_error("@fortnightly", "unrecognized descriptor: @fortnightly");
}

/* mostRecentScheduleTime (utils_test.go's kinds of cases) */
static void test_most_recent(void **state)
{
    (void)state;
    cron_tz_t *utc = zone("");
    cron_sched_t s;
    const char *msg;
    int64_t most, missed;
    assert_true(cron_parse("0 * * * *", &s, A, &msg));
    int64_t created = ts("2024-01-01T10:30:00Z");
    /* the first activation still to come */
    assert_true(cron_most_recent(&s, utc, created, ts("2024-01-01T10:59:59Z"), -1, &most, &missed));
    assert_int_equal(most, -1);
    /* exactly at it */
    assert_true(cron_most_recent(&s, utc, created, ts("2024-01-01T11:00:00Z"), -1, &most, &missed));
    assert_int_equal(most, ts("2024-01-01T11:00:00Z"));
    /* three missed: the most recent one */
    assert_true(cron_most_recent(&s, utc, created, ts("2024-01-01T13:30:00Z"), -1, &most, &missed));
    assert_int_equal(most, ts("2024-01-01T13:00:00Z"));
    assert_int_equal(missed, 3);
    /* startingDeadlineSeconds 600: nothing since 13:20 */
    assert_true(
        cron_most_recent(&s, utc, created, ts("2024-01-01T13:30:00Z"), 600, &most, &missed));
    assert_int_equal(most, -1);
    /* startingDeadlineSeconds 3600: 13:00 is still in the window */
    assert_true(
        cron_most_recent(&s, utc, created, ts("2024-01-01T13:30:00Z"), 3600, &most, &missed));
    assert_int_equal(most, ts("2024-01-01T13:00:00Z"));
    /* an irregular schedule over a weekend */
    assert_true(cron_parse("30 6-16/4 * * 1-5", &s, A, &msg));
    assert_true(cron_most_recent(&s, utc, ts("2024-01-05T06:30:00Z"), ts("2024-01-08T12:00:00Z"),
                                 -1, &most, &missed));
    assert_int_equal(most, ts("2024-01-08T10:30:00Z"));
    /* more than 100 missed */
    assert_true(cron_parse("* * * * *", &s, A, &msg));
    assert_true(cron_most_recent(&s, utc, ts("2024-01-01T00:00:00Z"), ts("2024-01-01T02:00:30Z"),
                                 -1, &most, &missed));
    assert_int_equal(most, ts("2024-01-01T02:00:00Z"));
    assert_true(missed > 100);
    /* a schedule that never fires */
    assert_true(cron_parse("0 0 30 2 *", &s, A, &msg));
    assert_false(
        cron_most_recent(&s, utc, created, ts("2024-03-01T00:00:00Z"), -1, &most, &missed));
    /* @every: a constant delay */
    assert_true(cron_parse("@every 10m", &s, A, &msg));
    assert_true(cron_most_recent(&s, utc, created, ts("2024-01-01T11:05:00Z"), -1, &most, &missed));
    assert_int_equal(most, ts("2024-01-01T11:00:00Z"));
    cron_tz_destroy(&utc);
}

static void test_format(void **state)
{
    (void)state;
    cron_tz_t *utc = zone(""), *kol = zone("Asia/Kolkata"), *ny = zone("America/New_York");
    char buf[48];
    int64_t t = ts("2024-01-01T10:30:00Z");
    cron_format_rfc3339(t, utc, buf, sizeof buf);
    assert_string_equal(buf, "2024-01-01T10:30:00Z");
    cron_format_rfc3339(t, kol, buf, sizeof buf);
    assert_string_equal(buf, "2024-01-01T16:00:00+05:30");
    cron_format_rfc3339(t, ny, buf, sizeof buf);
    assert_string_equal(buf, "2024-01-01T05:30:00-05:00");
    cron_format_rfc1123z(t, buf, sizeof buf);
    assert_string_equal(buf, "Mon, 01 Jan 2024 10:30:00 +0000");
    cron_tz_destroy(&utc);
    cron_tz_destroy(&kol);
    cron_tz_destroy(&ny);
}

static int setup(void **state)
{
    (void)state;
    A = kr_arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_arena_destroy(&A);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_next_utc),
        cmocka_unit_test(test_next_new_york),
        cmocka_unit_test(test_next_sao_paulo),
        cmocka_unit_test(test_tz),
        cmocka_unit_test(test_most_recent),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
