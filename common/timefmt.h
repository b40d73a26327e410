/* Wall-clock times: RFC 3339 parsing and formatting, local time in an IANA
 * zone to UTC.
 *
 * A cl_time_t is microseconds since 1970-01-01T00:00:00Z. CL_TIME_NONE marks
 * "no time known". All functions are thread-safe. */
#ifndef CL_TIMEFMT_H
#define CL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef int64_t cl_time_t;

#define CL_TIME_NONE INT64_MIN
#define CL_USEC_PER_SEC INT64_C(1000000)
/* Room for "YYYY-MM-DDTHH:MM:SS.mmmZ" and its NUL. */
#define CL_TIME_RFC3339_LEN 32

/* Parses an RFC 3339 date-time: "2026-11-21T21:40:00+07:00",
 * "2026-11-21t14:40:00.5z", "2026-11-21 14:40:00Z". The offset is required;
 * a fraction of up to 9 digits is accepted and truncated to microseconds.
 * Returns 0, or -EINVAL for anything else (impossible dates such as Feb 30 or
 * Feb 29 in a common year, hours > 23, seconds > 59 included). */
int cl_time_parse_rfc3339(const char *s, cl_time_t *out);

/* Formats t in UTC with milliseconds, "2026-11-21T14:40:00.000Z" (the
 * fraction is rounded down). Returns the length written, or 0 when len is
 * less than CL_TIME_RFC3339_LEN or t is out of the years 0..9999. */
size_t cl_time_format_rfc3339(cl_time_t t, char *buf, size_t len);

/* The current time from CLOCK_REALTIME. */
cl_time_t cl_time_now(void);

/* Converts a broken-down local time in the IANA zone `zone` (NULL or "" for
 * the system zone) to UTC. tm_isdst is ignored: a time that falls in a DST
 * gap or overlap is resolved as mktime() does with tm_isdst = -1 (glibc 2.36:
 * a time in a spring-forward gap is read with the offset before the gap, an
 * ambiguous autumn time as the later, standard-time instant). Years 0..9999.
 * Returns 0, -EINVAL when a field is out of range (including Feb 29 of a
 * common year), -ENOENT when the zone is unknown. The zone is applied by
 * switching TZ under a process-wide lock and restoring it: localtime_r() in
 * another thread during that window may see the zone. An unset TZ is
 * restored as ":/etc/localtime", its meaning: the variable is never removed,
 * since removing one shifts environ under concurrent getenv() calls. */
int cl_time_from_local(const struct tm *tm, const char *zone, cl_time_t *out);

/* 1 when zone names an IANA zone in the system's zoneinfo, else 0. */
int cl_tz_valid(const char *zone);

#endif
