/* controller-cronjob: cron schedules as upstream reads them
 * (github.com/robfig/cron/v3 ParseStandard: five fields, ranges, steps,
 * lists, month and day names, ? for *, the @yearly ... @hourly and @every
 * descriptors) and their next times in a time zone (SpecSchedule.Next). */
#ifndef KRAAL_CRON_H
#define KRAAL_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

#include "cron_tz.h"

typedef struct cron_sched {
    uint64_t minute, hour, dom, month, dow; /* bit n: value n; bit 63: the field was * or ? */
    int64_t every_s;                        /* @every: a constant delay (seconds); else 0 */
} cron_sched_t;

/* Parses a standard schedule.  A TZ= or CRON_TZ= prefix is refused, as
 * upstream's validation refuses it ("cannot use TZ or CRON_TZ in
 * schedule, use timeZone field instead").  On error returns false and
 * *msg (in `arena`) is robfig's message. */
bool cron_parse(const char *spec, cron_sched_t *out, kr_arena_t *arena, const char **msg);

/* The first activation strictly after `t` (unix seconds), in zone `z`;
 * -1 when none within five years (an impossible date such as 30 Feb). */
int64_t cron_next(const cron_sched_t *s, const cron_tz_t *z, int64_t t);

/* mostRecentScheduleTime (pkg/controller/cronjob/utils.go): from
 * `earliest` (the last schedule time, else the creation time; moved up to
 * now - startingDeadlineSeconds when starting_deadline >= 0), the most
 * recent activation at or before `now`, or -1 when the next one is still
 * to come.  *missed: the number of activations missed (an approximation
 * past two, as upstream's).  False when two activations are less than a
 * second apart or the schedule never fires ("time difference between two
 * schedules is less than 1 second"). */
bool cron_most_recent(const cron_sched_t *s, const cron_tz_t *z, int64_t earliest, int64_t now,
                      int64_t starting_deadline, int64_t *most_recent, int64_t *missed);

/* RFC 3339 in zone z ("2006-01-02T15:04:05-07:00", "Z" for UTC offset 0);
 * `size` >= 26. */
void cron_format_rfc3339(int64_t t, const cron_tz_t *z, char *buf, size_t size);
/* RFC 1123 with a numeric zone, in UTC ("Mon, 02 Jan 2006 15:04:05 +0000"). */
void cron_format_rfc1123z(int64_t t, char *buf, size_t size);
#endif
