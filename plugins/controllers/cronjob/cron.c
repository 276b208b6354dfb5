/* controller-cronjob: cron schedules (see cron.h), after robfig/cron v3's
 * parser.go and spec.go. */
#include "cron.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>

#define STAR_BIT (1ULL << 63)

typedef struct {
    unsigned min, max;
    const char *const *names; /* index = value */
} bounds_t;

static const char *const months[] = {"",    "jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};
static const bounds_t B_MIN = {0, 59, NULL}, B_HOUR = {0, 23, NULL}, B_DOM = {1, 31, NULL},
                      B_MONTH = {1, 12, months}, B_DOW = {0, 6, days};

/* mustParseInt: strconv.Atoi, then no negatives */
static const char *parse_int(kr_arena_t *a, const char *s, unsigned *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    bool ok = *p != '\0' && strlen(p) <= 18;
    for (const char *q = p; ok && *q; q++)
        ok = isdigit((unsigned char)*q);
    if (!ok)
        return kr_arena_printf(
            a, "failed to parse int from %s: strconv.Atoi: parsing \"%s\": invalid syntax", s, s);
    long long v = strtoll(s, NULL, 10);
    if (v < 0)
        return kr_arena_printf(a, "negative number (%lld) not allowed: %s", v, s);
    *out = v > 1000000 ? 1000000 : (unsigned)v;
    return NULL;
}

static const char *parse_int_or_name(kr_arena_t *a, const char *s, const bounds_t *b, unsigned *out)
{
    for (size_t i = 0; b->names != NULL && b->names[i] != NULL; i++)
        if (b->names[i][0] != '\0' && strcasecmp(s, b->names[i]) == 0) {
            *out = (unsigned)i;
            return NULL;
        }
    return parse_int(a, s, out);
}

/* getRange */
static const char *get_range(kr_arena_t *a, const char *expr, const bounds_t *b, uint64_t *bits)
{
    char *buf = kr_arena_strdup(a, expr);
    char *step_s = strchr(buf, '/');
    if (step_s != NULL) {
        *step_s++ = '\0';
        if (strchr(step_s, '/') != NULL)
            return kr_arena_printf(a, "too many slashes: %s", expr);
    }
    unsigned start, end, step = 1;
    uint64_t extra = 0;
    const char *err;
    char *dash = strchr(buf, '-');
    if (strcmp(buf, "*") == 0 || strcmp(buf, "?") == 0) {
        start = b->min;
        end = b->max;
        extra = STAR_BIT;
    } else {
        if (dash != NULL) {
            *dash = '\0';
            if (strchr(dash + 1, '-') != NULL)
                return kr_arena_printf(a, "too many hyphens: %s", expr);
        }
        if ((err = parse_int_or_name(a, buf, b, &start)) != NULL)
            return err;
        end = start;
        if (dash != NULL && (err = parse_int_or_name(a, dash + 1, b, &end)) != NULL)
            return err;
    }
    if (step_s != NULL) {
        if ((err = parse_int(a, step_s, &step)) != NULL)
            return err;
        if (dash == NULL) /* "N/step" means "N-max/step" */
            end = b->max;
        if (step > 1)
            extra = 0;
    }
    if (start < b->min)
        return kr_arena_printf(a, "beginning of range (%u) below minimum (%u): %s", start, b->min,
                               expr);
    if (end > b->max)
        return kr_arena_printf(a, "end of range (%u) above maximum (%u): %s", end, b->max, expr);
    if (start > end)
        return kr_arena_printf(a, "beginning of range (%u) beyond end of range (%u): %s", start,
                               end, expr);
    if (step == 0)
        return kr_arena_printf(a, "step of range should be a positive number: %s", expr);
    for (unsigned i = start; i <= end; i += step)
        *bits |= 1ULL << i;
    *bits |= extra;
    return NULL;
}

/* getField: a comma-separated list of ranges */
static const char *get_field(kr_arena_t *a, const char *field, const bounds_t *b, uint64_t *bits)
{
    *bits = 0;
    char *buf = kr_arena_strdup(a, field), *save = NULL;
    /* strings.FieldsFunc(field, ',') drops empty parts */
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        const char *err = get_range(a, tok, b, bits);
        if (err != NULL)
            return err;
    }
    return NULL;
}

/* time.ParseDuration, whole seconds of it (Every rounds down to seconds,
 * at least one). */
static bool parse_duration(const char *s, int64_t *out_s)
{
    double total = 0;
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (strcmp(s, "0") == 0) {
        *out_s = 0;
        return true;
    }
    if (*s == '\0')
        return false;
    while (*s != '\0') {
        char *end;
        if (!isdigit((unsigned char)*s) && *s != '.')
            return false;
        double v = strtod(s, &end);
        if (end == s)
            return false;
        s = end;
        static const struct {
            const char *u;
            double mult;
        } units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"\xce\xbcs", 1e-6},
                     {"ms", 1e-3}, {"s", 1},     {"m", 60},           {"h", 3600}};
        size_t best = 0, bi = 0;
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
            size_t n = strlen(units[u].u);
            if (strncmp(s, units[u].u, n) == 0 && n > best) {
                best = n;
                bi = u;
            }
        }
        if (best == 0)
            return false;
        total += v * units[bi].mult;
        s += best;
    }
    *out_s = (int64_t)(neg ? -total : total);
    return true;
}

bool cron_parse(const char *spec, cron_sched_t *out, kr_arena_t *a, const char **msg)
{
    memset(out, 0, sizeof *out);
    while (isspace((unsigned char)*spec))
        spec++;
    if (*spec == '\0') {
        *msg = "empty spec string";
        return false;
    }
    if (strncmp(spec, "TZ=", 3) == 0 || strncmp(spec, "CRON_TZ=", 8) == 0) {
        *msg = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead";
        return false;
    }
    if (spec[0] == '@') {
        static const struct {
            const char *name, *expand;
        } desc[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                    {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                    {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                    {"@hourly", "0 * * * *"}};
        for (size_t i = 0; i < sizeof desc / sizeof desc[0]; i++)
            if (strcmp(spec, desc[i].name) == 0)
                return cron_parse(desc[i].expand, out, a, msg);
        if (strncmp(spec, "@every ", 7) == 0) {
            int64_t d;
            if (!parse_duration(spec + 7, &d)) {
                *msg = kr_arena_printf(a,
                                       "failed to parse duration %s: time: invalid duration "
                                       "\"%s\"",
                                       spec, spec + 7);
                return false;
            }
            out->every_s = d < 1 ? 1 : d;
            return true;
        }
        *msg = kr_arena_printf(a, "unrecognized descriptor: %s", spec);
        return false;
    }
    char *buf = kr_arena_strdup(a, spec), *save = NULL;
    char *fields[6];
    int n = 0;
    for (char *tok = strtok_r(buf, " \t\n\v\f\r", &save); tok != NULL;
         tok = strtok_r(NULL, " \t\n\v\f\r", &save)) {
        if (n < 6)
            fields[n] = tok;
        n++;
    }
    if (n != 5) {
        *msg = kr_arena_printf(a, "expected exactly 5 fields, found %d: %s", n, spec);
        return false;
    }
    const bounds_t *bounds[] = {&B_MIN, &B_HOUR, &B_DOM, &B_MONTH, &B_DOW};
    uint64_t *dst[] = {&out->minute, &out->hour, &out->dom, &out->month, &out->dow};
    for (int i = 0; i < 5; i++) {
        const char *err = get_field(a, fields[i], bounds[i], dst[i]);
        if (err != NULL) {
            *msg = err;
            return false;
        }
    }
    return true;
}

static bool day_matches(const cron_sched_t *s, const cron_tm_t *tm)
{
    bool dom = (1ULL << tm->day & s->dom) != 0;
    bool dow = (1ULL << tm->wday & s->dow) != 0;
    if ((s->dom & STAR_BIT) != 0 || (s->dow & STAR_BIT) != 0)
        return dom && dow;
    return dom || dow;
}

int64_t cron_next(const cron_sched_t *s, const cron_tz_t *z, int64_t t)
{
    if (s->every_s > 0)
        return t + s->every_s;
    cron_tm_t tm;
    t += 1; /* the upcoming second */
    cron_tz_local_time(z, t, &tm);
    bool added = false;
    int64_t year_limit = tm.year + 5;
    /* each loop is bounded: a month, a day, an hour or a minute forward per
     * round, at most five years */
    for (int round = 0; round < 100000; round++) {
        cron_tz_local_time(z, t, &tm);
        if (tm.year > year_limit)
            return -1;
        while ((1ULL << tm.mon & s->month) == 0) {
            if (!added) {
                added = true;
                t = cron_tz_date(z, tm.year, tm.mon, 1, 0, 0, 0);
                cron_tz_local_time(z, t, &tm);
            }
            t = cron_tz_date(z, tm.year, tm.mon + 1, tm.day, tm.hour, tm.min, tm.sec);
            cron_tz_local_time(z, t, &tm);
            if (tm.mon == 1)
                goto next_round;
        }
        while (!day_matches(s, &tm)) {
            if (!added) {
                added = true;
                t = cron_tz_date(z, tm.year, tm.mon, tm.day, 0, 0, 0);
                cron_tz_local_time(z, t, &tm);
            }
            t = cron_tz_date(z, tm.year, tm.mon, tm.day + 1, tm.hour, tm.min, tm.sec);
            cron_tz_local_time(z, t, &tm);
            /* midnight moved by a DST change: back to it */
            if (tm.hour != 0) {
                if (tm.hour > 12)
                    t += (int64_t)(24 - tm.hour) * 3600;
                else
                    t -= (int64_t)tm.hour * 3600;
                cron_tz_local_time(z, t, &tm);
            }
            if (tm.day == 1)
                goto next_round;
        }
        while ((1ULL << tm.hour & s->hour) == 0) {
            if (!added) {
                added = true;
                t = cron_tz_date(z, tm.year, tm.mon, tm.day, tm.hour, 0, 0);
            }
            t += 3600;
            cron_tz_local_time(z, t, &tm);
            if (tm.hour == 0)
                goto next_round;
        }
        while ((1ULL << tm.min & s->minute) == 0) {
            if (!added) {
                added = true;
                t -= t % 60 < 0 ? t % 60 + 60 : t % 60;
            }
            t += 60;
            cron_tz_local_time(z, t, &tm);
            if (tm.min == 0)
                goto next_round;
        }
        /* the standard parser's seconds field is 0 */
        while (tm.sec != 0) {
            added = true; /* Truncate(time.Second): t is whole seconds already */
            t += 1;
            cron_tz_local_time(z, t, &tm);
            if (tm.sec == 0)
                goto next_round;
        }
        return t;
    next_round:
        continue;
    }
    return -1;
}

bool cron_most_recent(const cron_sched_t *s, const cron_tz_t *z, int64_t earliest, int64_t now,
                      int64_t starting_deadline, int64_t *most_recent, int64_t *missed)
{
    *missed = 0;
    *most_recent = -1;
    if (starting_deadline >= 0 && now - starting_deadline > earliest)
        earliest = now - starting_deadline;
    int64_t t1 = cron_next(s, z, earliest);
    if (t1 < 0)
        return false;
    int64_t t2 = cron_next(s, z, t1);
    if (now < t1)
        return true;
    *missed = 1;
    if (now < t2) {
        *most_recent = t1;
        return true;
    }
    int64_t between = t2 - t1;
    if (t2 < 0 || between < 1)
        return false;
    int64_t n = (now - t1) / between + 1;
    *missed = n;
    /* one interval before the approximation, then the schedule's own
     * activations up to now (schedules such as "30 6-16/4 * * 1-5" are
     * not regular) */
    int64_t t = t1 + (n - 2) * between;
    for (int64_t nt = cron_next(s, z, t); nt >= 0 && nt <= now; nt = cron_next(s, z, nt))
        *most_recent = nt;
    return true;
}

void cron_format_rfc3339(int64_t t, const cron_tz_t *z, char *buf, size_t size)
{
    cron_tm_t tm;
    cron_tz_local_time(z, t, &tm);
    char zone[16] = "Z";
    if (tm.off != 0) {
        int32_t o = tm.off < 0 ? -tm.off : tm.off;
        snprintf(zone, sizeof zone, "%c%02d:%02d", tm.off < 0 ? '-' : '+', (int)(o / 3600),
                 (int)(o / 60 % 60));
    }
    snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d%s", (long long)tm.year, tm.mon, tm.day,
             tm.hour, tm.min, tm.sec, zone);
}

void cron_format_rfc1123z(int64_t t, char *buf, size_t size)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    cron_tz_t *utc = cron_tz_load("", NULL, NULL);
    cron_tm_t tm;
    cron_tz_local_time(utc, t, &tm);
    cron_tz_destroy(&utc);
    snprintf(buf, size, "%s, %02d %s %04lld %02d:%02d:%02d +0000", wd[tm.wday], tm.day,
             mo[tm.mon - 1], (long long)tm.year, tm.hour, tm.min, tm.sec);
}
