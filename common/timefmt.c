/* RFC 3339 parsing and formatting; local time in an IANA zone to UTC. */
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECS_PER_DAY INT64_C(86400)
#define ZONE_NAME_MAX 255

/* Serialises every use of the process-wide TZ and the libc zone state. */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * algorithm); exact for any year, negative before the epoch. */
static int64_t days_from_civil(int64_t y, int m, int d)
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

/* Reads exactly n decimal digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -EINVAL;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -EINVAL;
    (*p)++;
    return 0;
}

int cl_time_parse_rfc3339(const char *s, cl_time_t *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    int64_t usec = 0;
    const char *p = s;

    if (!s || !out)
        return -EINVAL;
    if (digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) || expect(&p, '-') ||
        digits(&p, 2, &d))
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &mi) || expect(&p, ':') ||
        digits(&p, 2, &sec))
        return -EINVAL;
    if (*p == '.') {
        int n = 0;
        p++;
        for (; *p >= '0' && *p <= '9'; p++, n++) {
            if (n < 6)
                usec = usec * 10 + (*p - '0');
        }
        if (n < 1 || n > 9)
            return -EINVAL;
        for (; n < 6; n++)
            usec *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
        if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om))
            return -EINVAL;
        if (oh > 23 || om > 59)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (*p != '\0')
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return -EINVAL;

    int64_t secs = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + sec;
    secs -= sign * (oh * 3600 + om * 60);
    *out = secs * CL_USEC_PER_SEC + usec;
    return 0;
}

size_t cl_time_format_rfc3339(cl_time_t t, char *buf, size_t len)
{
    if (!buf || len < CL_TIME_RFC3339_LEN || t == CL_TIME_NONE)
        return 0;

    /* Floor toward -infinity so that negative times keep a positive fraction. */
    int64_t secs = t / CL_USEC_PER_SEC, usec = t % CL_USEC_PER_SEC;
    if (usec < 0) {
        usec += CL_USEC_PER_SEC;
        secs--;
    }
    int64_t days = secs / SECS_PER_DAY, sod = secs % SECS_PER_DAY;
    if (sod < 0) {
        sod += SECS_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return 0;

    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)y, m, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
                     (int)(usec / 1000));
    return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

cl_time_t cl_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CL_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int zone_name_ok(const char *zone)
{
    size_t n = strlen(zone);
    if (n == 0 || n > ZONE_NAME_MAX || zone[0] == '/' || zone[n - 1] == '/')
        return 0;
    for (const char *p = zone; *p; p++) {
        char c = *p;
        /* Every component non-empty and not starting with '.': rules out
         * "..", "." and hidden files. */
        if ((p == zone || p[-1] == '/') && (c == '.' || c == '/'))
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
            return 0;
    }
    return 1;
}

int cl_tz_valid(const char *zone)
{
    if (!zone || !zone_name_ok(zone))
        return 0;

    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, zone);
    if (n < 0 || (size_t)n >= sizeof(path))
        return 0;

    /* A regular file with the TZif magic: the zoneinfo directory also holds
     * tables such as zone.tab that libc would silently read as UTC. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    char magic[4];
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
             read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
             memcmp(magic, "TZif", 4) == 0;
    close(fd);
    return ok;
}

/* mktime under TZ=":zone". The previous TZ is put back before unlocking. glibc
 * appends a new variable at the end of environ and replaces an existing one in
 * place, so concurrent getenv() calls elsewhere never see a shuffled array. */
static int mktime_in_zone(struct tm *tm, const char *zone, time_t *out)
{
    char *saved = NULL;
    int had_tz = 0, err = 0;

    if (zone) {
        char tzval[ZONE_NAME_MAX + 2];
        snprintf(tzval, sizeof(tzval), ":%s", zone);
        const char *prev = getenv("TZ");
        if (prev) {
            had_tz = 1;
            saved = strdup(prev);
            if (!saved)
                return -ENOMEM;
        }
        if (setenv("TZ", tzval, 1) < 0) {
            err = -errno;
            free(saved);
            return err;
        }
    }
    tzset();

    /* mktime's -1 is also a valid time; a sentinel in tm_wday tells them apart. */
    tm->tm_wday = -1;
    time_t t = mktime(tm);
    if (t == (time_t)-1 && tm->tm_wday == -1)
        err = -EINVAL;
    else
        *out = t;

    if (zone) {
        /* Never unsetenv: removing a variable shifts environ under any
         * concurrent getenv(). ":/etc/localtime" is what an unset TZ means. */
        setenv("TZ", had_tz ? saved : ":/etc/localtime", 1);
        tzset();
        free(saved);
    }
    return err;
}

int cl_time_from_local(const struct tm *tm, const char *zone, cl_time_t *out)
{
    if (!tm || !out)
        return -EINVAL;
    int64_t year = (int64_t)tm->tm_year + 1900;
    int mon = tm->tm_mon + 1;
    if (year < 0 || year > 9999 || mon < 1 || mon > 12 || tm->tm_mday < 1 ||
        tm->tm_mday > days_in_month(year, mon) || tm->tm_hour < 0 || tm->tm_hour > 23 ||
        tm->tm_min < 0 || tm->tm_min > 59 || tm->tm_sec < 0 || tm->tm_sec > 59)
        return -EINVAL;
    if (zone && !*zone)
        zone = NULL;
    if (zone && !cl_tz_valid(zone))
        return -ENOENT;

    struct tm local = {
        .tm_year = tm->tm_year,
        .tm_mon = tm->tm_mon,
        .tm_mday = tm->tm_mday,
        .tm_hour = tm->tm_hour,
        .tm_min = tm->tm_min,
        .tm_sec = tm->tm_sec,
        .tm_isdst = -1,
    };
    time_t t = 0;
    pthread_mutex_lock(&tz_lock);
    int err = mktime_in_zone(&local, zone, &t);
    pthread_mutex_unlock(&tz_lock);
    if (err)
        return err;
    *out = (int64_t)t * CL_USEC_PER_SEC;
    return 0;
}
