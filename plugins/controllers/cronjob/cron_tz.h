/* controller-cronjob: time zones from the system's tz database
 * (/usr/share/zoneinfo, TZif files with their POSIX TZ footer), read the
 * way Go's time package reads them, so that spec.timeZone and the
 * schedule's next times follow upstream (which uses time.LoadLocation). */
#ifndef KRAAL_CRON_TZ_H
#define KRAAL_CRON_TZ_H

#include <stdbool.h>
#include <stdint.h>

#include <kraal/error.h>

typedef struct cron_tz cron_tz_t;

/* The zone `name` ("America/New_York"; "" and "UTC" are UTC, as
 * time.LoadLocation) from `dir` (NULL: $ZONEINFO, else /usr/share/zoneinfo).
 * KR_E_INVALID for a name Go refuses ("..", an absolute path),
 * KR_E_NOT_FOUND for an unknown zone ("unknown time zone X", Go's
 * message).  Caller owns the zone. */
cron_tz_t *cron_tz_load(const char *name, const char *dir, kr_error_t *err);
/* The process's local zone, as Go's time.Local: $TZ, else /etc/localtime,
 * else UTC.  Never NULL.  Caller owns the zone. */
cron_tz_t *cron_tz_local(void);
void cron_tz_destroy(cron_tz_t **self_p);

/* The offset from UTC (seconds east) at `utc`, and the interval
 * [*start, *end) it holds for (either pointer may be NULL). */
int32_t cron_tz_offset(const cron_tz_t *z, int64_t utc, int64_t *start, int64_t *end);

/* Broken-down local time. */
typedef struct cron_tm {
    int64_t year;
    int mon; /* 1..12 */
    int day; /* 1..31 */
    int hour, min, sec;
    int wday; /* 0 = Sunday */
    int32_t off;
} cron_tm_t;

void cron_tz_local_time(const cron_tz_t *z, int64_t utc, cron_tm_t *tm);
/* time.Date(year, mon, day, hour, min, sec, 0, z): values out of range
 * are normalised (month 13 is January of the next year, day 32 ...); a
 * local time that a transition skips or repeats resolves as Go does. */
int64_t cron_tz_date(const cron_tz_t *z, int64_t year, int mon, int day, int hour, int min,
                     int sec);

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
int64_t cron_days_from_civil(int64_t y, int m, int d);

#endif
