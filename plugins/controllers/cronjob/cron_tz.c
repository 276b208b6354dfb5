/* controller-cronjob: time zones (see cron_tz.h), after Go's
 * time/zoneinfo.go, zoneinfo_read.go and the tzset rules of
 * time/zoneinfo.go. */
#include "cron_tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECS_PER_DAY 86400
#define ALPHA        INT64_MIN
#define OMEGA        INT64_MAX

typedef struct {
    int32_t off;
    bool dst;
} tz_type_t;

typedef struct {
    int64_t when;
    uint8_t type;
} tz_tx_t;

struct cron_tz {
    tz_type_t *types;
    size_t ntypes;
    tz_tx_t *tx;
    size_t ntx;
    char *extend; /* the POSIX TZ footer, or NULL */
    size_t first; /* lookupFirstZone */
};

int64_t cron_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in(int m, int64_t y)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

/* ---- the POSIX TZ footer (Go's tzset) -------------------------------------- */

typedef struct {
    enum { RULE_JULIAN, RULE_DOY, RULE_MWD } kind;
    int day, week, mon;
    int time; /* seconds after local midnight */
} tz_rule_t;

static bool tzset_name(const char **s)
{
    const char *p = *s;
    if (*p == '<') {
        const char *e = strchr(p, '>');
        if (e == NULL)
            return false;
        *s = e + 1;
        return true;
    }
    const char *q = p;
    while (*q != '\0' && strchr("0123456789,-+", *q) == NULL)
        q++;
    if (q - p < 3)
        return false;
    *s = q;
    return true;
}

static bool tzset_num(const char **s, int min, int max, int *out)
{
    const char *p = *s;
    int v = 0;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > max)
            return false;
        p++;
    }
    if (v < min)
        return false;
    *s = p;
    *out = v;
    return true;
}

/* [+-]hh[:mm[:ss]], in seconds */
static bool tzset_offset(const char **s, int *out)
{
    const char *p = *s;
    int neg = 0, h, m = 0, sec = 0;
    if (*p == '+')
        p++;
    else if (*p == '-') {
        neg = 1;
        p++;
    }
    if (!tzset_num(&p, 0, 24 * 7, &h))
        return false;
    if (*p == ':') {
        p++;
        if (!tzset_num(&p, 0, 59, &m))
            return false;
        if (*p == ':') {
            p++;
            if (!tzset_num(&p, 0, 59, &sec))
                return false;
        }
    }
    int v = h * 3600 + m * 60 + sec;
    *out = neg ? -v : v;
    *s = p;
    return true;
}

static bool tzset_rule(const char **s, tz_rule_t *r)
{
    const char *p = *s;
    memset(r, 0, sizeof *r);
    if (*p == 'J') {
        p++;
        r->kind = RULE_JULIAN;
        if (!tzset_num(&p, 1, 365, &r->day))
            return false;
    } else if (*p == 'M') {
        p++;
        r->kind = RULE_MWD;
        if (!tzset_num(&p, 1, 12, &r->mon) || *p++ != '.' || !tzset_num(&p, 1, 5, &r->week) ||
            *p++ != '.' || !tzset_num(&p, 0, 6, &r->day))
            return false;
    } else {
        r->kind = RULE_DOY;
        if (!tzset_num(&p, 0, 365, &r->day))
            return false;
    }
    r->time = 2 * 3600;
    if (*p == '/') {
        p++;
        if (!tzset_offset(&p, &r->time))
            return false;
    }
    *s = p;
    return true;
}

/* Seconds since the start of `year` (UTC) when the rule fires, the local
 * time being `off` seconds east of UTC (tzruleTime). */
static int64_t tzrule_time(int64_t year, const tz_rule_t *r, int off)
{
    static const int before[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t s = 0;
    if (r->kind == RULE_JULIAN) {
        s = (int64_t)(r->day - 1) * SECS_PER_DAY;
        if (is_leap(year) && r->day >= 60)
            s += SECS_PER_DAY;
    } else if (r->kind == RULE_DOY) {
        s = (int64_t)r->day * SECS_PER_DAY;
    } else {
        /* the weekday of the month's first day */
        int64_t first = cron_days_from_civil(year, r->mon, 1);
        int dow = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int d = r->day - dow;
        if (d < 0)
            d += 7;
        for (int i = 1; i < r->week; i++) {
            if (d + 7 >= days_in(r->mon, year))
                break;
            d += 7;
        }
        d += before[r->mon - 1];
        if (is_leap(year) && r->mon > 2)
            d++;
        s = (int64_t)d * SECS_PER_DAY;
    }
    return s + r->time - off;
}

static bool tzset(const char *s, int64_t last_tx, int64_t sec, int32_t *off, int64_t *start,
                  int64_t *end)
{
    int std_off, dst_off;
    if (!tzset_name(&s) || !tzset_offset(&s, &std_off))
        return false;
    std_off = -std_off;
    if (*s == '\0' || *s == ',') {
        *off = std_off;
        *start = last_tx;
        *end = OMEGA;
        return true;
    }
    if (!tzset_name(&s))
        return false;
    if (*s == '\0' || *s == ',') {
        dst_off = std_off + 3600;
    } else {
        if (!tzset_offset(&s, &dst_off))
            return false;
        dst_off = -dst_off;
    }
    if (*s == '\0')
        s = ",M3.2.0,M11.1.0";
    if (*s != ',' && *s != ';')
        return false;
    s++;
    tz_rule_t sr, er;
    if (!tzset_rule(&s, &sr) || *s != ',')
        return false;
    s++;
    if (!tzset_rule(&s, &er) || *s != '\0')
        return false;
    int64_t days = floor_div(sec, SECS_PER_DAY), year;
    int mon, day;
    civil_from_days(days, &year, &mon, &day);
    int64_t abs = cron_days_from_civil(year, 1, 1) * SECS_PER_DAY;
    int64_t ysec = sec - abs;
    int64_t ss = tzrule_time(year, &sr, std_off), es = tzrule_time(year, &er, dst_off);
    int so = std_off, dso = dst_off;
    if (es < ss) {
        int64_t t = ss;
        ss = es;
        es = t;
        so = dst_off;
        dso = std_off;
    }
    if (ysec < ss) {
        *off = so;
        *start = abs;
        *end = ss + abs;
    } else if (ysec >= es) {
        *off = so;
        *start = es + abs;
        *end = abs + 365 * SECS_PER_DAY;
    } else {
        *off = dso;
        *start = ss + abs;
        *end = es + abs;
    }
    return true;
}

/* ---- TZif ---------------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static cron_tz_t *tz_utc(void)
{
    cron_tz_t *z = calloc(1, sizeof *z);
    if (z == NULL)
        abort();
    z->types = calloc(1, sizeof *z->types);
    if (z->types == NULL)
        abort();
    z->ntypes = 1;
    return z;
}

/* LoadLocationFromTZData */
static cron_tz_t *tz_parse(const unsigned char *d, size_t n)
{
    if (n < 44 || memcmp(d, "TZif", 4) != 0)
        return NULL;
    int version = d[4] == 0 ? 1 : d[4] - '0';
    size_t isut = be32(d + 20), isstd = be32(d + 24), leap = be32(d + 28), timecnt = be32(d + 32),
           typecnt = be32(d + 36), charcnt = be32(d + 40);
    size_t tsize = 4;
    const unsigned char *p = d + 44;
    size_t v1 = timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
    if ((size_t)(p - d) + v1 > n)
        return NULL;
    if (version >= 2) {
        p += v1;
        if ((size_t)(p - d) + 44 > n || memcmp(p, "TZif", 4) != 0)
            return NULL;
        isut = be32(p + 20);
        isstd = be32(p + 24);
        leap = be32(p + 28);
        timecnt = be32(p + 32);
        typecnt = be32(p + 36);
        charcnt = be32(p + 40);
        p += 44;
        tsize = 8;
        if ((size_t)(p - d) + timecnt * 9 + typecnt * 6 + charcnt + leap * 12 + isstd + isut > n)
            return NULL;
    }
    if (typecnt == 0 || typecnt > 256)
        return NULL;
    cron_tz_t *z = calloc(1, sizeof *z);
    if (z == NULL)
        abort();
    z->ntx = timecnt;
    z->tx = calloc(timecnt + 1, sizeof *z->tx);
    z->ntypes = typecnt;
    z->types = calloc(typecnt, sizeof *z->types);
    if (z->tx == NULL || z->types == NULL)
        abort();
    for (size_t i = 0; i < timecnt; i++)
        z->tx[i].when = tsize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
    p += timecnt * tsize;
    for (size_t i = 0; i < timecnt; i++) {
        if (p[i] >= typecnt) {
            cron_tz_destroy(&z);
            return NULL;
        }
        z->tx[i].type = p[i];
    }
    p += timecnt;
    for (size_t i = 0; i < typecnt; i++) {
        z->types[i].off = (int32_t)be32(p + i * 6);
        z->types[i].dst = p[i * 6 + 4] != 0;
    }
    p += typecnt * 6 + charcnt + leap * (tsize + 4) + isstd + isut;
    if (version >= 2 && (size_t)(p - d) < n && *p == '\n') {
        const unsigned char *e = memchr(p + 1, '\n', n - (size_t)(p - d) - 1);
        if (e != NULL && e > p + 1) {
            z->extend = calloc(1, (size_t)(e - p));
            if (z->extend == NULL)
                abort();
            memcpy(z->extend, p + 1, (size_t)(e - p - 1));
        }
    }
    /* lookupFirstZone: the first zone unless a transition uses it, else
     * the first standard-time zone */
    bool used = false;
    for (size_t i = 0; i < z->ntx; i++)
        used = used || z->tx[i].type == 0;
    z->first = 0;
    if (used) {
        for (size_t i = 0; i < z->ntypes; i++)
            if (!z->types[i].dst) {
                z->first = i;
                break;
            }
    }
    return z;
}

/* containsDotDot and the other checks of LoadLocation */
static bool name_ok(const char *name)
{
    if (name[0] == '/' || strlen(name) > 255)
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        if (p[0] == '.' && p[1] == '.' && (p == name || p[-1] == '/') &&
            (p[2] == '\0' || p[2] == '/'))
            return false;
        if (*p == '\\')
            return false;
    }
    return true;
}

static cron_tz_t *tz_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *buf = malloc(1 << 20);
    if (buf == NULL)
        abort();
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    cron_tz_t *z = tz_parse(buf, n);
    free(buf);
    return z;
}

cron_tz_t *cron_tz_load(const char *name, const char *dir, kr_error_t *err)
{
    if (name == NULL || name[0] == '\0' || strcmp(name, "UTC") == 0)
        return tz_utc();
    if (!name_ok(name)) {
        kr_error_set(err, KR_E_INVALID, "time: invalid location name");
        return NULL;
    }
    if (dir == NULL)
        dir = getenv("ZONEINFO");
    if (dir == NULL || dir[0] == '\0')
        dir = "/usr/share/zoneinfo";
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cron_tz_t *z = tz_read_file(path);
    if (z == NULL) {
        kr_error_set(err, KR_E_NOT_FOUND, "unknown time zone %s", name);
        return NULL;
    }
    return z;
}

cron_tz_t *cron_tz_local(void)
{
    const char *tz = getenv("TZ");
    cron_tz_t *z = NULL;
    if (tz != NULL) {
        if (*tz == ':')
            tz++;
        if (*tz == '\0' || strcmp(tz, "UTC") == 0)
            return tz_utc();
        z = tz[0] == '/' ? tz_read_file(tz) : cron_tz_load(tz, NULL, NULL);
    } else {
        z = tz_read_file("/etc/localtime");
    }
    return z != NULL ? z : tz_utc();
}

void cron_tz_destroy(cron_tz_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    cron_tz_t *z = *self_p;
    free(z->types);
    free(z->tx);
    free(z->extend);
    free(z);
    *self_p = NULL;
}

int32_t cron_tz_offset(const cron_tz_t *z, int64_t utc, int64_t *start, int64_t *end)
{
    int64_t s, e;
    int32_t off;
    if (z->ntx == 0 || utc < z->tx[0].when) {
        off = z->types[z->first].off;
        s = ALPHA;
        e = z->ntx > 0 ? z->tx[0].when : OMEGA;
        if (z->ntx == 0 && z->extend != NULL)
            tzset(z->extend, ALPHA, utc, &off, &s, &e);
    } else {
        size_t lo = 0, hi = z->ntx;
        e = OMEGA;
        while (hi - lo > 1) {
            size_t m = (lo + hi) / 2;
            if (utc < z->tx[m].when) {
                e = z->tx[m].when;
                hi = m;
            } else {
                lo = m;
            }
        }
        off = z->types[z->tx[lo].type].off;
        s = z->tx[lo].when;
        if (lo == z->ntx - 1 && z->extend != NULL) {
            int32_t o2;
            int64_t s2, e2;
            if (tzset(z->extend, s, utc, &o2, &s2, &e2)) {
                off = o2;
                s = s2;
                e = e2;
            }
        }
    }
    if (start != NULL)
        *start = s;
    if (end != NULL)
        *end = e;
    return off;
}

void cron_tz_local_time(const cron_tz_t *z, int64_t utc, cron_tm_t *tm)
{
    tm->off = cron_tz_offset(z, utc, NULL, NULL);
    int64_t local = utc + tm->off;
    int64_t days = floor_div(local, SECS_PER_DAY);
    int64_t rem = local - days * SECS_PER_DAY;
    civil_from_days(days, &tm->year, &tm->mon, &tm->day);
    tm->hour = (int)(rem / 3600);
    tm->min = (int)(rem / 60 % 60);
    tm->sec = (int)(rem % 60);
    tm->wday = (int)(((days % 7) + 7 + 4) % 7);
}

int64_t cron_tz_date(const cron_tz_t *z, int64_t year, int mon, int day, int hour, int min, int sec)
{
    int64_t m = mon - 1;
    year += floor_div(m, 12);
    m -= floor_div(m, 12) * 12;
    int64_t unix = (cron_days_from_civil(year, (int)m + 1, 1) + day - 1) * SECS_PER_DAY +
                   (int64_t)hour * 3600 + (int64_t)min * 60 + sec;
    int64_t start, end;
    int32_t off = cron_tz_offset(z, unix, &start, &end);
    if (off != 0) {
        int64_t utc = unix - off;
        if (utc < start || utc >= end)
            off = cron_tz_offset(z, utc, NULL, NULL);
        unix -= off;
    }
    return unix;
}
