/* Unit tests for common/layout.c. Expected epochs from `date -u -d ... +%s`. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "layout.h"

#define SEC(s) ((cl_time_t)(s) * CL_USEC_PER_SEC)

/* 2026-11-21T14:40:00Z */
#define T_20261121_1440Z SEC(1795272000)

static cl_layout_t *layout_ok(const char *pattern, const char *zone)
{
    char err[256] = "unset";
    cl_layout_t *l = cl_layout_new(pattern, zone, err, sizeof(err));
    if (!l)
        fail_msg("cl_layout_new(\"%s\") failed: %s", pattern, err);
    return l;
}

static void assert_bad_pattern(const char *pattern, const char *zone, const char *reason)
{
    char err[256] = "unset";
    cl_layout_t *l = cl_layout_new(pattern, zone, err, sizeof(err));
    if (l) {
        cl_layout_free(l);
        fail_msg("cl_layout_new(\"%s\") accepted", pattern ? pattern : "(null)");
    }
    if (!strstr(err, reason))
        fail_msg("pattern \"%s\": error \"%s\" lacks \"%s\"", pattern ? pattern : "(null)", err,
                 reason);
    assert_null(strchr(err, '\n'));
}

static cl_time_t match_time(const cl_layout_t *l, const char *path, const char *camera)
{
    cl_layout_match_t m;
    memset(&m, 0x5a, sizeof(m));
    int err = cl_layout_match(l, path, &m);
    if (err)
        fail_msg("cl_layout_match(\"%s\") = %d", path, err);
    assert_string_equal(m.camera, camera);
    return m.start;
}

static void assert_no_match(const cl_layout_t *l, const char *path)
{
    cl_layout_match_t m;
    int err = cl_layout_match(l, path, &m);
    if (err != -ENOENT)
        fail_msg("cl_layout_match(\"%s\") = %d, want -ENOENT", path, err);
}

static void test_layout_bad_patterns(void **state)
{
    (void)state;
    assert_bad_pattern("", NULL, "empty pattern");
    assert_bad_pattern(NULL, NULL, "empty pattern");
    assert_bad_pattern("%Y/%m/%d", NULL, "no {camera}");
    assert_bad_pattern("{camera}/x/{camera}", NULL, "{camera} appears more than once");
    assert_bad_pattern("cam_{camera}/%Y", NULL, "{camera} must be a whole component");
    assert_bad_pattern("{camera}/{camera}.mp4", NULL, "{camera} must be a whole component");
    assert_bad_pattern("{camera}/%Y%Q", NULL, "unknown field '%Q'");
    assert_bad_pattern("{camera}/%Y%m%d%", NULL, "trailing '%'");
    assert_bad_pattern("{camera}//%Y", NULL, "empty component");
    assert_bad_pattern("{camera}/", NULL, "empty component");
    assert_bad_pattern("/{camera}/%Y", NULL, "leading '/'");
    assert_bad_pattern("{camera}/%Y/%Y%m%d", NULL, "duplicate field '%Y'");
    assert_bad_pattern("{camera}/%H%M/%H", NULL, "duplicate field '%H'");
    assert_bad_pattern("{camera}/%Y%y", NULL, "duplicate field");
    assert_bad_pattern("{camera}/%Y%j%m", NULL, "duplicate field");
    assert_bad_pattern("{camera}/../%Y", NULL, "'..'");
    assert_bad_pattern("{camera}/%Y", "Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'");
    assert_bad_pattern("{camera}/%Y", "../../etc/passwd", "unknown time zone");
}

static void test_layout_error_buffer(void **state)
{
    (void)state;
    char err[8];
    memset(err, 'x', sizeof(err));
    assert_null(cl_layout_new("{camera}/%Q", NULL, err, sizeof(err)));
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_null(cl_layout_new("{camera}/%Q", NULL, NULL, 0));
    assert_null(cl_layout_new("{camera}/%Q", NULL, err, 0));
}

static void test_layout_good_patterns(void **state)
{
    (void)state;
    static const struct {
        const char *pattern;
        int depth, has_time;
    } cases[] = {
        {"{camera}/%Y-%m-%d/%H-%M-%S", 3, 1},
        {"{camera}/%Y%m%d_%H%M%S", 2, 1},
        {"{camera}/ch*_%Y%m%d%H%M%S", 2, 1},
        {"{camera}/%Y/%j/%H%M", 4, 1},
        {"{camera}/%y%m%d/%H%M", 3, 1},
        {"{camera}/%s", 2, 1},
        {"{camera}", 1, 0},
        {"{camera}/*", 2, 0},
        {"{camera}/%Y-%m-%d/*", 3, 0},
        {"{camera}/%Y%m%d_%H", 2, 0},
        {"rec/{camera}/100%%_?", 3, 0},
        {"*/{camera}/%Y%m%d/%H%M%S.mp4", 4, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cl_layout_t *l = layout_ok(cases[i].pattern, NULL);
        assert_int_equal(cl_layout_depth(l), cases[i].depth);
        assert_int_equal(cl_layout_has_time(l), cases[i].has_time);
        cl_layout_free(l);
    }
    cl_layout_free(NULL);

    char err[64] = "unset";
    cl_layout_t *l = cl_layout_new("{camera}/%H", "", err, sizeof(err));
    assert_non_null(l);
    assert_string_equal(err, "");
    cl_layout_free(l);
}

static void test_layout_match_dashed_dirs_ho_chi_minh(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/%Y-%m-%d/%H-%M-%S", "Asia/Ho_Chi_Minh");
    /* 21:40 at UTC+7 is 14:40Z. */
    assert_int_equal(match_time(l, "cam01/2026-11-21/21-40-00.mp4", "cam01"), T_20261121_1440Z);
    assert_int_equal(match_time(l, "cam01/2026-11-21/21-40-00.mkv", "cam01"), T_20261121_1440Z);
    assert_int_equal(match_time(l, "cam01/2026-11-21/21-40-00", "cam01"), T_20261121_1440Z);
    assert_int_equal(match_time(l, "cam01/2026-11-21/21-40-59.ts", "cam01"),
                     T_20261121_1440Z + SEC(59));
    /* Midnight local is the previous day in UTC. */
    assert_int_equal(match_time(l, "gate-2/2026-11-22/00-00-00.mp4", "gate-2"),
                     T_20261121_1440Z + SEC(2 * 3600 + 20 * 60));
    cl_layout_free(l);
}

static void test_layout_match_compact_utc(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/%Y%m%d_%H%M%S", "UTC");
    assert_int_equal(match_time(l, "cam02/20261121_144000.mp4", "cam02"), T_20261121_1440Z);
    assert_int_equal(match_time(l, "cam02/20261121_144000.MP4", "cam02"), T_20261121_1440Z);
    assert_no_match(l, "cam02/20261121-144000.mp4");
    assert_no_match(l, "cam02/20261121_14400.mp4");
    assert_no_match(l, "cam02/20261121_1440000.mp4");
    assert_no_match(l, "cam02/2026112a_144000.mp4");
    assert_no_match(l, "cam02/20261321_144000.mp4");
    assert_no_match(l, "cam02/20261100_144000.mp4");
    assert_no_match(l, "cam02/20261121_244000.mp4");
    assert_no_match(l, "cam02/20261121_146000.mp4");
    assert_no_match(l, "cam02/20261121_144060.mp4");
    assert_no_match(l, "cam02/20260431_144000.mp4");
    cl_layout_free(l);
}

static void test_layout_match_star_prefix(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/ch*_%Y%m%d%H%M%S", "UTC");
    assert_int_equal(match_time(l, "cam03/ch01_20261121144000.mp4", "cam03"), T_20261121_1440Z);
    assert_int_equal(match_time(l, "cam03/ch_20261121144000.mp4", "cam03"), T_20261121_1440Z);
    /* The star must give back the '_' it first swallowed. */
    assert_int_equal(match_time(l, "cam03/ch1_main_20261121144000.dav", "cam03"),
                     T_20261121_1440Z);
    assert_no_match(l, "cam03/cx01_20261121144000.mp4");
    assert_no_match(l, "cam03/ch01_2026112114400.mp4");
    assert_no_match(l, "cam03/ch01_20261121144000_x.mp4");
    cl_layout_free(l);
}

static void test_layout_match_wrong_depth(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/%Y-%m-%d/%H-%M-%S", "UTC");
    assert_no_match(l, "cam01/21-40-00.mp4");
    assert_no_match(l, "cam01");
    assert_no_match(l, "cam01/extra/2026-11-21/21-40-00.mp4");
    assert_no_match(l, "cam01/2026-11-21/21-40-00.mp4/");
    assert_no_match(l, "/cam01/2026-11-21/21-40-00.mp4");
    assert_no_match(l, "cam01//21-40-00.mp4");
    assert_no_match(l, "");
    cl_layout_free(l);
}

static void test_layout_match_dst_zone(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/%Y-%m-%d/%H-%M-%S", "Europe/Berlin");
    /* Summer, CEST = UTC+2: 2026-07-15T10:30:00Z. */
    assert_int_equal(match_time(l, "door/2026-07-15/12-30-00.mp4", "door"), SEC(1784111400));
    /* Winter, CET = UTC+1: 2026-01-15T10:30:00Z. */
    assert_int_equal(match_time(l, "door/2026-01-15/11-30-00.mp4", "door"), SEC(1768473000));
    cl_layout_free(l);
}

static void test_layout_match_leap_days(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/%Y-%m-%d/%H-%M-%S", "UTC");
    assert_int_equal(match_time(l, "cam/2024-02-29/00-00-00.mp4", "cam"), SEC(1709164800));
    assert_no_match(l, "cam/2023-02-29/00-00-00.mp4");
    assert_no_match(l, "cam/2024-02-30/00-00-00.mp4");
    cl_layout_free(l);

    /* Dates are checked even when the pattern yields no time. */
    l = layout_ok("{camera}/%Y-%m-%d/*", "UTC");
    cl_layout_match_t m;
    assert_int_equal(cl_layout_match(l, "cam/2024-02-29/clip.mp4", &m), 0);
    assert_int_equal(m.start, CL_TIME_NONE);
    assert_no_match(l, "cam/2023-02-29/clip.mp4");
    cl_layout_free(l);
}

static void test_layout_match_day_of_year_and_short_year(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/%Y/%j/%H%M%S", "UTC");
    /* Day 60 of 2024 is Feb 29; day 366 is Dec 31 (1735603200). */
    assert_int_equal(match_time(l, "cam/2024/060/000000.mp4", "cam"), SEC(1709164800));
    assert_int_equal(match_time(l, "cam/2024/366/000000.mp4", "cam"), SEC(1735603200));
    assert_no_match(l, "cam/2023/366/000000.mp4");
    assert_no_match(l, "cam/2024/000/000000.mp4");
    assert_no_match(l, "cam/2024/60/000000.mp4");
    cl_layout_free(l);

    l = layout_ok("{camera}/%y%m%d/%H%M", "UTC");
    assert_int_equal(match_time(l, "cam/261121/1440.mp4", "cam"), T_20261121_1440Z);
    cl_layout_free(l);
}

static void test_layout_match_epoch_ignores_zone(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/%s", "Asia/Ho_Chi_Minh");
    assert_int_equal(match_time(l, "cam/1795272000.mp4", "cam"), T_20261121_1440Z);
    assert_int_equal(match_time(l, "cam/0.mp4", "cam"), 0);
    assert_int_equal(match_time(l, "cam/999999999999.mp4", "cam"), SEC(INT64_C(999999999999)));
    assert_no_match(l, "cam/1000000000000.mp4");
    assert_no_match(l, "cam/17952x2000.mp4");
    assert_no_match(l, "cam/.mp4");
    cl_layout_free(l);

    l = layout_ok("{camera}/rec_%s_*", NULL);
    assert_int_equal(match_time(l, "cam/rec_1795272000_part2.mp4", "cam"), T_20261121_1440Z);
    cl_layout_free(l);
}

static void test_layout_match_camera_code_limits(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/%Y%m%d_%H%M%S", "UTC");
    char path[512], code[CL_CAMERA_CODE_MAX + 2];

    memset(code, 'c', CL_CAMERA_CODE_MAX);
    code[CL_CAMERA_CODE_MAX] = '\0';
    snprintf(path, sizeof(path), "%s/20261121_144000.mp4", code);
    assert_int_equal(match_time(l, path, code), T_20261121_1440Z);

    memset(code, 'c', CL_CAMERA_CODE_MAX + 1);
    code[CL_CAMERA_CODE_MAX + 1] = '\0';
    snprintf(path, sizeof(path), "%s/20261121_144000.mp4", code);
    assert_no_match(l, path);

    assert_no_match(l, "./20261121_144000.mp4");
    assert_no_match(l, "../20261121_144000.mp4");
    assert_int_equal(match_time(l, "Cam 7 (lobby)/20261121_144000.mp4", "Cam 7 (lobby)"),
                     T_20261121_1440Z);
    cl_layout_free(l);
}

static void test_layout_match_hidden_and_extensions(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/%Y%m%d_%H%M%S", "UTC");
    /* A leading dot is a hidden name, not an extension. */
    assert_no_match(l, "cam/.20261121_144000.mp4");
    assert_no_match(l, "cam/.20261121_144000");
    assert_no_match(l, "cam/20261121_144000.mp4.part");
    assert_no_match(l, "cam/20261121_144000.tmp.mp4");
    /* A trailing dot is an empty extension. */
    assert_int_equal(match_time(l, "cam/20261121_144000.", "cam"), T_20261121_1440Z);
    cl_layout_free(l);

    /* A '.' in the last pattern component: the extension is matched too. */
    l = layout_ok("*/{camera}/%Y%m%d/%H%M%S.mp4", "UTC");
    assert_int_equal(match_time(l, "site-a/cam/20261121/144000.mp4", "cam"), T_20261121_1440Z);
    assert_no_match(l, "site-a/cam/20261121/144000.mkv");
    assert_no_match(l, "site-a/cam/20261121/144000");
    cl_layout_free(l);

    l = layout_ok("{camera}/%Y%m%d_%H%M%S.*", "UTC");
    assert_int_equal(match_time(l, "cam/20261121_144000.mkv", "cam"), T_20261121_1440Z);
    assert_no_match(l, "cam/20261121_144000");
    cl_layout_free(l);
}

static void test_layout_match_literals_and_wildcards(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("rec/{camera}/%Y%m%d_%H%M%S_?%%", "UTC");
    assert_int_equal(match_time(l, "rec/cam/20261121_144000_a%.mp4", "cam"), T_20261121_1440Z);
    assert_no_match(l, "rec/cam/20261121_144000_ab%.mp4");
    assert_no_match(l, "rec/cam/20261121_144000_%.mp4");
    assert_no_match(l, "rec/cam/20261121_144000_a.mp4");
    assert_no_match(l, "REC/cam/20261121_144000_a%.mp4");
    cl_layout_free(l);

    l = layout_ok("{camera}/*", NULL);
    cl_layout_match_t m;
    assert_int_equal(cl_layout_match(l, "cam9/anything at all.mp4", &m), 0);
    assert_string_equal(m.camera, "cam9");
    assert_int_equal(m.start, CL_TIME_NONE);
    cl_layout_free(l);
}

static void test_layout_match_backtracking_is_bounded(void **state)
{
    (void)state;
    cl_layout_t *l = layout_ok("{camera}/*a*a*a*a*a*a*a*a*b", NULL);
    char path[300] = "cam/";
    memset(path + 4, 'a', 250);
    path[254] = '\0';
    assert_no_match(l, path);
    path[253] = 'b';
    cl_layout_match_t m;
    assert_int_equal(cl_layout_match(l, path, &m), 0);
    cl_layout_free(l);
}

struct worker {
    const cl_layout_t *layout;
    const char *path;
    cl_time_t want;
    int failures;
};

static void *match_loop(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 300; i++) {
        cl_layout_match_t m;
        if (cl_layout_match(w->layout, w->path, &m) != 0 || m.start != w->want)
            w->failures++;
    }
    return NULL;
}

static void test_layout_match_concurrent_zones(void **state)
{
    (void)state;
    cl_layout_t *hcm = layout_ok("{camera}/%Y-%m-%d/%H-%M-%S", "Asia/Ho_Chi_Minh");
    cl_layout_t *ber = layout_ok("{camera}/%Y-%m-%d/%H-%M-%S", "Europe/Berlin");
    cl_layout_t *sys = layout_ok("{camera}/%Y-%m-%d/%H-%M-%S", NULL);
    struct worker w[6] = {
        {hcm, "c/2026-11-21/21-40-00.mp4", T_20261121_1440Z, 0},
        {ber, "c/2026-07-15/12-30-00.mp4", SEC(1784111400), 0},
        {hcm, "c/2026-11-21/21-40-00.mp4", T_20261121_1440Z, 0},
        {ber, "c/2026-01-15/11-30-00.mp4", SEC(1768473000), 0},
        {sys, "c/2026-11-21/14-40-00.mp4", CL_TIME_NONE, 0},
        {sys, "c/2026-11-21/14-40-00.mp4", CL_TIME_NONE, 0},
    };
    /* Whatever the system zone is, it must not change while others switch. */
    cl_layout_match_t m;
    assert_int_equal(cl_layout_match(sys, w[4].path, &m), 0);
    w[4].want = w[5].want = m.start;

    pthread_t th[6];
    for (int i = 0; i < 6; i++)
        assert_int_equal(pthread_create(&th[i], NULL, match_loop, &w[i]), 0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    cl_layout_free(hcm);
    cl_layout_free(ber);
    cl_layout_free(sys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_bad_patterns),
        cmocka_unit_test(test_layout_error_buffer),
        cmocka_unit_test(test_layout_good_patterns),
        cmocka_unit_test(test_layout_match_dashed_dirs_ho_chi_minh),
        cmocka_unit_test(test_layout_match_compact_utc),
        cmocka_unit_test(test_layout_match_star_prefix),
        cmocka_unit_test(test_layout_match_wrong_depth),
        cmocka_unit_test(test_layout_match_dst_zone),
        cmocka_unit_test(test_layout_match_leap_days),
        cmocka_unit_test(test_layout_match_day_of_year_and_short_year),
        cmocka_unit_test(test_layout_match_epoch_ignores_zone),
        cmocka_unit_test(test_layout_match_camera_code_limits),
        cmocka_unit_test(test_layout_match_hidden_and_extensions),
        cmocka_unit_test(test_layout_match_literals_and_wildcards),
        cmocka_unit_test(test_layout_match_backtracking_is_bounded),
        cmocka_unit_test(test_layout_match_concurrent_zones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
