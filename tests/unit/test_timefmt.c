/* Unit tests for common/timefmt.c. Expected epochs from `date -u -d ... +%s`. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "timefmt.h"

#define SEC(s) ((cl_time_t)(s) * CL_USEC_PER_SEC)

static cl_time_t parse_ok(const char *s)
{
    cl_time_t t = 0;
    int err = cl_time_parse_rfc3339(s, &t);
    if (err)
        fail_msg("cl_time_parse_rfc3339(\"%s\") = %d", s, err);
    return t;
}

static void assert_parse_fails(const char *s)
{
    cl_time_t t = 12345;
    if (cl_time_parse_rfc3339(s, &t) != -EINVAL)
        fail_msg("cl_time_parse_rfc3339(\"%s\") accepted", s);
    assert_int_equal(t, 12345);
}

static void test_timefmt_parse_offsets(void **state)
{
    (void)state;
    /* 2026-11-21T14:40:00Z = 1795272000 */
    assert_int_equal(parse_ok("2026-11-21T14:40:00Z"), SEC(1795272000));
    assert_int_equal(parse_ok("2026-11-21T21:40:00+07:00"), SEC(1795272000));
    assert_int_equal(parse_ok("2026-11-21T09:10:00-05:30"), SEC(1795272000));
    assert_int_equal(parse_ok("2026-11-21T14:40:00+00:00"), SEC(1795272000));
    assert_int_equal(parse_ok("2026-11-21T14:40:00-00:00"), SEC(1795272000));
    assert_int_equal(parse_ok("2026-11-22T00:39:00+09:59"), SEC(1795272000));
}

static void test_timefmt_parse_lowercase_and_space(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-21t14:40:00z"), SEC(1795272000));
    assert_int_equal(parse_ok("2026-11-21 14:40:00Z"), SEC(1795272000));
    assert_int_equal(parse_ok("2026-11-21t14:40:00.5z"), SEC(1795272000) + 500000);
}

static void test_timefmt_parse_fractions(void **state)
{
    (void)state;
    cl_time_t base = SEC(1795272000);
    assert_int_equal(parse_ok("2026-11-21T14:40:00.1Z"), base + 100000);
    assert_int_equal(parse_ok("2026-11-21T14:40:00.12Z"), base + 120000);
    assert_int_equal(parse_ok("2026-11-21T14:40:00.123Z"), base + 123000);
    assert_int_equal(parse_ok("2026-11-21T14:40:00.123456Z"), base + 123456);
    assert_int_equal(parse_ok("2026-11-21T14:40:00.1234567Z"), base + 123456);
    assert_int_equal(parse_ok("2026-11-21T14:40:00.999999999Z"), base + 999999);
    assert_int_equal(parse_ok("2026-11-21T14:40:00.000000001Z"), base);
    assert_int_equal(parse_ok("2026-11-21T21:40:00.25+07:00"), base + 250000);
    assert_parse_fails("2026-11-21T14:40:00.1234567890Z");
    assert_parse_fails("2026-11-21T14:40:00.Z");
    assert_parse_fails("2026-11-21T14:40:00,5Z");
}

static void test_timefmt_parse_leap_days(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), SEC(1709164800));
    assert_int_equal(parse_ok("2023-03-01T00:00:00Z"), SEC(1677628800));
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), SEC(951782400));
    assert_parse_fails("2023-02-29T00:00:00Z");
    assert_parse_fails("1900-02-29T00:00:00Z");
    assert_parse_fails("2024-02-30T00:00:00Z");
    assert_parse_fails("2026-04-31T00:00:00Z");
}

static void test_timefmt_parse_rejects_bad_fields(void **state)
{
    (void)state;
    assert_parse_fails("2026-11-21T24:00:00Z");
    assert_parse_fails("2026-11-21T23:60:00Z");
    assert_parse_fails("2026-11-21T23:59:60Z");
    assert_parse_fails("2026-13-01T00:00:00Z");
    assert_parse_fails("2026-00-01T00:00:00Z");
    assert_parse_fails("2026-01-00T00:00:00Z");
    assert_parse_fails("2026-01-32T00:00:00Z");
    assert_parse_fails("2026-11-21T14:40:00+24:00");
    assert_parse_fails("2026-11-21T14:40:00+07:60");
}

static void test_timefmt_parse_rejects_bad_syntax(void **state)
{
    (void)state;
    assert_parse_fails("");
    assert_parse_fails("2026-11-21T14:40:00");
    assert_parse_fails("2026-11-21T14:40:00.5");
    assert_parse_fails("2026-11-21");
    assert_parse_fails("2026-11-21T14:40Z");
    assert_parse_fails("2026-11-21T14:40:00Zx");
    assert_parse_fails("2026-11-21T14:40:00Z ");
    assert_parse_fails(" 2026-11-21T14:40:00Z");
    assert_parse_fails("2026-11-21T14:40:00+07:00:00");
    assert_parse_fails("2026-11-21T14:40:00+0700");
    assert_parse_fails("2026-11-21T14:40:00+7:00");
    assert_parse_fails("2026-11-21X14:40:00Z");
    assert_parse_fails("26-11-21T14:40:00Z");
    assert_parse_fails("+2026-11-21T14:40:00Z");
    assert_parse_fails("2026-1-21T14:40:00Z");
    assert_parse_fails("2026-11-21T14:4a:00Z");
    assert_parse_fails("2026-11-21T14:40:00UTC");
    assert_int_equal(cl_time_parse_rfc3339(NULL, &(cl_time_t){0}), -EINVAL);
}

static void test_timefmt_parse_extreme_years(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("0000-01-01T00:00:00Z"), SEC(INT64_C(-62167219200)));
    assert_int_equal(parse_ok("9999-12-31T23:59:59Z"), SEC(INT64_C(253402300799)));
    assert_int_equal(parse_ok("1900-01-01T00:00:00Z"), SEC(INT64_C(-2208988800)));
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
}

static void test_timefmt_parse_negative_times(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), SEC(-1));
    assert_int_equal(parse_ok("1969-12-31T23:59:59.5Z"), -500000);
    assert_int_equal(parse_ok("1970-01-01T00:00:00+00:01"), SEC(-60));
}

static void assert_format(cl_time_t t, const char *want)
{
    char buf[CL_TIME_RFC3339_LEN];
    size_t n = cl_time_format_rfc3339(t, buf, sizeof(buf));
    assert_int_equal(n, strlen(want));
    assert_string_equal(buf, want);
}

static void test_timefmt_format_basic(void **state)
{
    (void)state;
    assert_format(SEC(1795272000), "2026-11-21T14:40:00.000Z");
    assert_format(0, "1970-01-01T00:00:00.000Z");
    assert_format(SEC(1709164800), "2024-02-29T00:00:00.000Z");
    assert_format(SEC(INT64_C(253402300799)) + 999999, "9999-12-31T23:59:59.999Z");
    assert_format(SEC(INT64_C(-62167219200)), "0000-01-01T00:00:00.000Z");
}

static void test_timefmt_format_truncates_to_ms(void **state)
{
    (void)state;
    assert_format(SEC(1795272000) + 999999, "2026-11-21T14:40:00.999Z");
    assert_format(SEC(1795272000) + 1999, "2026-11-21T14:40:00.001Z");
    assert_format(SEC(1795272000) + 999, "2026-11-21T14:40:00.000Z");
}

static void test_timefmt_format_negative_floors(void **state)
{
    (void)state;
    assert_format(-1, "1969-12-31T23:59:59.999Z");
    assert_format(-500000, "1969-12-31T23:59:59.500Z");
    assert_format(-CL_USEC_PER_SEC, "1969-12-31T23:59:59.000Z");
    assert_format(-CL_USEC_PER_SEC - 1, "1969-12-31T23:59:58.999Z");
    assert_format(SEC(-86400), "1969-12-31T00:00:00.000Z");
    assert_format(SEC(-86400) - 1, "1969-12-30T23:59:59.999Z");
    assert_format(SEC(INT64_C(-2208988800)), "1900-01-01T00:00:00.000Z");
}

static void test_timefmt_format_rejects_small_buffer_and_range(void **state)
{
    (void)state;
    char buf[64] = "untouched";
    assert_int_equal(cl_time_format_rfc3339(0, buf, CL_TIME_RFC3339_LEN - 1), 0);
    assert_int_equal(cl_time_format_rfc3339(SEC(INT64_C(-62167219200)) - 1, buf, sizeof(buf)),
                     0);
    assert_int_equal(cl_time_format_rfc3339(SEC(INT64_C(253402300800)), buf, sizeof(buf)), 0);
    assert_int_equal(cl_time_format_rfc3339(CL_TIME_NONE, buf, sizeof(buf)), 0);
    assert_int_equal(cl_time_format_rfc3339(INT64_MAX, buf, sizeof(buf)), 0);
    assert_int_equal(cl_time_format_rfc3339(0, buf, CL_TIME_RFC3339_LEN), 24);
}

static void test_timefmt_round_trip(void **state)
{
    (void)state;
    static const cl_time_t times[] = {
        0,          SEC(1795272000) + 123000, SEC(1709164800), -1000, SEC(-1) - 999000,
        SEC(951782400) + 5000, SEC(INT64_C(-62167219200)), SEC(INT64_C(253402300799)),
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        char buf[CL_TIME_RFC3339_LEN];
        assert_true(cl_time_format_rfc3339(times[i], buf, sizeof(buf)) > 0);
        assert_int_equal(parse_ok(buf), times[i]);
    }
    /* Sub-millisecond digits are lost, rounding down. */
    char buf[CL_TIME_RFC3339_LEN];
    assert_true(cl_time_format_rfc3339(-1, buf, sizeof(buf)) > 0);
    assert_int_equal(parse_ok(buf), -1000);
}

static void test_timefmt_now_is_recent(void **state)
{
    (void)state;
    cl_time_t a = cl_time_now();
    /* After 2024-02-29 and before 9999. */
    assert_true(a > SEC(1709164800));
    assert_true(a < SEC(INT64_C(253402300799)));
    assert_true(cl_time_now() >= a);
}

static struct tm local_tm(int y, int mon, int d, int h, int mi, int s)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d,
        .tm_hour = h,        .tm_min = mi,      .tm_sec = s,
    };
    return tm;
}

static void test_timefmt_from_local_fixed_offset(void **state)
{
    (void)state;
    struct tm tm = local_tm(2026, 11, 21, 21, 40, 0);
    cl_time_t t = 0;
    assert_int_equal(cl_time_from_local(&tm, "Asia/Ho_Chi_Minh", &t), 0);
    assert_int_equal(t, SEC(1795272000));
    assert_int_equal(cl_time_from_local(&tm, "UTC", &t), 0);
    assert_int_equal(t, SEC(1795272000) + SEC(7 * 3600));
    assert_int_equal(cl_time_from_local(&tm, "Etc/GMT-7", &t), 0);
    assert_int_equal(t, SEC(1795272000));
}

static void test_timefmt_from_local_dst(void **state)
{
    (void)state;
    cl_time_t t = 0;
    /* Summer: CEST, UTC+2; 2026-07-15T10:30:00Z = 1784111400. */
    struct tm summer = local_tm(2026, 7, 15, 12, 30, 0);
    assert_int_equal(cl_time_from_local(&summer, "Europe/Berlin", &t), 0);
    assert_int_equal(t, SEC(1784111400));
    /* Winter: CET, UTC+1; 2026-01-15T10:30:00Z = 1768473000. */
    struct tm winter = local_tm(2026, 1, 15, 11, 30, 0);
    assert_int_equal(cl_time_from_local(&winter, "Europe/Berlin", &t), 0);
    assert_int_equal(t, SEC(1768473000));
    /* tm_isdst from the caller is ignored. */
    winter.tm_isdst = 1;
    assert_int_equal(cl_time_from_local(&winter, "Europe/Berlin", &t), 0);
    assert_int_equal(t, SEC(1768473000));
}

static void test_timefmt_from_local_dst_gap_and_overlap(void **state)
{
    (void)state;
    cl_time_t t = 0;
    /* 02:30 on 2026-03-29 does not exist in Berlin, 02:30 on 2026-10-25 exists
     * twice: either reading (00:30Z or 01:30Z) is acceptable, not an error. */
    struct tm gap = local_tm(2026, 3, 29, 2, 30, 0);
    assert_int_equal(cl_time_from_local(&gap, "Europe/Berlin", &t), 0);
    assert_true(t == SEC(1774744200) || t == SEC(1774747800));
    struct tm overlap = local_tm(2026, 10, 25, 2, 30, 0);
    assert_int_equal(cl_time_from_local(&overlap, "Europe/Berlin", &t), 0);
    assert_true(t == SEC(1792888200) || t == SEC(1792891800));
}

static void test_timefmt_from_local_restores_tz(void **state)
{
    (void)state;
    cl_time_t t = 0;
    struct tm tm = local_tm(2026, 11, 21, 21, 40, 0);

    assert_int_equal(setenv("TZ", "UTC", 1), 0);
    assert_int_equal(cl_time_from_local(&tm, "Asia/Ho_Chi_Minh", &t), 0);
    assert_string_equal(getenv("TZ"), "UTC");
    assert_int_equal(cl_time_from_local(&tm, NULL, &t), 0);
    assert_int_equal(t, SEC(1795272000) + SEC(7 * 3600));
    assert_int_equal(cl_time_from_local(&tm, "", &t), 0);
    assert_int_equal(t, SEC(1795272000) + SEC(7 * 3600));

    /* An unset TZ comes back as its meaning, the system zone: unsetting
     * would shift environ under concurrent readers. */
    assert_int_equal(unsetenv("TZ"), 0);
    assert_int_equal(cl_time_from_local(&tm, "Asia/Ho_Chi_Minh", &t), 0);
    assert_string_equal(getenv("TZ"), ":/etc/localtime");
}

static void test_timefmt_from_local_rejects_bad_fields(void **state)
{
    (void)state;
    cl_time_t t = 777;
    struct tm bad[] = {
        local_tm(2023, 2, 29, 0, 0, 0), local_tm(2024, 2, 30, 0, 0, 0),
        local_tm(2026, 13, 1, 0, 0, 0), local_tm(2026, 0, 1, 0, 0, 0),
        local_tm(2026, 4, 31, 0, 0, 0), local_tm(2026, 1, 0, 0, 0, 0),
        local_tm(2026, 1, 1, 24, 0, 0), local_tm(2026, 1, 1, 0, 60, 0),
        local_tm(2026, 1, 1, 0, 0, 60), local_tm(2026, 1, 1, -1, 0, 0),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cl_time_from_local(&bad[i], "UTC", &t), -EINVAL);
    assert_int_equal(t, 777);

    struct tm leap = local_tm(2024, 2, 29, 0, 0, 0);
    assert_int_equal(cl_time_from_local(&leap, "UTC", &t), 0);
    assert_int_equal(t, SEC(1709164800));
}

static void test_timefmt_from_local_unknown_zone(void **state)
{
    (void)state;
    cl_time_t t = 0;
    struct tm tm = local_tm(2026, 11, 21, 21, 40, 0);
    assert_int_equal(cl_time_from_local(&tm, "Mars/Olympus_Mons", &t), -ENOENT);
    assert_int_equal(cl_time_from_local(&tm, "../../etc/passwd", &t), -ENOENT);
    assert_int_equal(cl_time_from_local(&tm, "/usr/share/zoneinfo/UTC", &t), -ENOENT);
}

static void test_timefmt_tz_valid(void **state)
{
    (void)state;
    assert_int_equal(cl_tz_valid("Asia/Ho_Chi_Minh"), 1);
    assert_int_equal(cl_tz_valid("Europe/Berlin"), 1);
    assert_int_equal(cl_tz_valid("UTC"), 1);
    assert_int_equal(cl_tz_valid("Etc/GMT+7"), 1);
    assert_int_equal(cl_tz_valid(NULL), 0);
    assert_int_equal(cl_tz_valid(""), 0);
    assert_int_equal(cl_tz_valid("Asia"), 0);
    assert_int_equal(cl_tz_valid("Asia/"), 0);
    assert_int_equal(cl_tz_valid("Asia//Ho_Chi_Minh"), 0);
    assert_int_equal(cl_tz_valid("Asia/Nowhere"), 0);
    assert_int_equal(cl_tz_valid("/etc/localtime"), 0);
    assert_int_equal(cl_tz_valid("../zoneinfo/UTC"), 0);
    assert_int_equal(cl_tz_valid("Asia/../UTC"), 0);
    assert_int_equal(cl_tz_valid("./UTC"), 0);
    assert_int_equal(cl_tz_valid("zone.tab"), 0);
    assert_int_equal(cl_tz_valid("UTC\n"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timefmt_parse_offsets),
        cmocka_unit_test(test_timefmt_parse_lowercase_and_space),
        cmocka_unit_test(test_timefmt_parse_fractions),
        cmocka_unit_test(test_timefmt_parse_leap_days),
        cmocka_unit_test(test_timefmt_parse_rejects_bad_fields),
        cmocka_unit_test(test_timefmt_parse_rejects_bad_syntax),
        cmocka_unit_test(test_timefmt_parse_extreme_years),
        cmocka_unit_test(test_timefmt_parse_negative_times),
        cmocka_unit_test(test_timefmt_format_basic),
        cmocka_unit_test(test_timefmt_format_truncates_to_ms),
        cmocka_unit_test(test_timefmt_format_negative_floors),
        cmocka_unit_test(test_timefmt_format_rejects_small_buffer_and_range),
        cmocka_unit_test(test_timefmt_round_trip),
        cmocka_unit_test(test_timefmt_now_is_recent),
        cmocka_unit_test(test_timefmt_from_local_fixed_offset),
        cmocka_unit_test(test_timefmt_from_local_dst),
        cmocka_unit_test(test_timefmt_from_local_dst_gap_and_overlap),
        cmocka_unit_test(test_timefmt_from_local_restores_tz),
        cmocka_unit_test(test_timefmt_from_local_rejects_bad_fields),
        cmocka_unit_test(test_timefmt_from_local_unknown_zone),
        cmocka_unit_test(test_timefmt_tz_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
