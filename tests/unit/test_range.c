/* cl_range_parse (server/range.c): the Range header of a download. */
#include <stdint.h>

#include "range.h"
#include "testlib.h"

/* Expects header against size to give ret, and [from, to) when ret is 1. */
static void expect(const char *header, int64_t size, int ret, int64_t from, int64_t to)
{
    int64_t a = -7, b = -7;
    int r = cl_range_parse(header, size, &a, &b);
    if (r != ret || (r == 1 && (a != from || b != to)))
        fail_msg("'%s' of %lld bytes: %d [%lld, %lld), expected %d [%lld, %lld)", header,
                 (long long)size, r, (long long)a, (long long)b, ret, (long long)from, (long long)to);
}

static void test_range_one_range(void **state)
{
    (void)state;
    expect("bytes=0-99", 1000, 1, 0, 100);
    expect("bytes=0-0", 1000, 1, 0, 1);
    expect("Bytes=0-9", 1000, 1, 0, 10);    /* the unit is case-insensitive */
    expect("bytes=999-999", 1000, 1, 999, 1000);
    expect("bytes=500-", 1000, 1, 500, 1000);
    expect("bytes=-100", 1000, 1, 900, 1000);
    /* Past the end: to the end; a suffix longer than the file: all of it. */
    expect("bytes=900-5000", 1000, 1, 900, 1000);
    expect("bytes=-5000", 1000, 1, 0, 1000);
    expect("bytes=0-99999999999999999999999", 1000, 1, 0, 1000);
    expect("bytes=-99999999999999999999999", 1000, 1, 0, 1000);
}

static void test_range_unsatisfiable_or_malformed(void **state)
{
    (void)state;
    expect("bytes=1000-", 1000, -1, 0, 0);
    expect("bytes=1000-2000", 1000, -1, 0, 0);
    expect("bytes=99999999999999999999999-", 1000, -1, 0, 0);
    expect("bytes=-0", 1000, -1, 0, 0);
    expect("bytes=0-", 0, -1, 0, 0);
    expect("bytes=-1", 0, -1, 0, 0);
    expect("bytes=5-3", 1000, -1, 0, 0);
    expect("bytes=", 1000, -1, 0, 0);
    expect("bytes=-", 1000, -1, 0, 0);
    expect("bytes=--5", 1000, -1, 0, 0);
    expect("bytes=5", 1000, -1, 0, 0);
    /* Digits only: no spaces, signs or anything after. */
    expect("bytes= 5-9", 1000, -1, 0, 0);
    expect("bytes=+5-9", 1000, -1, 0, 0);
    expect("bytes=5- 9", 1000, -1, 0, 0);
    expect("bytes=5-+9", 1000, -1, 0, 0);
    expect("bytes=-+5", 1000, -1, 0, 0);
    expect("bytes=5-9x", 1000, -1, 0, 0);
    expect("bytes=0x10-", 1000, -1, 0, 0);
    expect("bytes=/etc/passwd", 1000, -1, 0, 0);
}

static void test_range_ignored(void **state)
{
    (void)state;
    expect("items=0-9", 1000, 0, 0, 0);
    expect("bytes=0-9,20-29", 1000, 0, 0, 0);
    expect("", 1000, 0, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_one_range),
        cmocka_unit_test(test_range_unsatisfiable_or_malformed),
        cmocka_unit_test(test_range_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
