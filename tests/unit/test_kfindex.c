#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kfindex.h"

static void roundtrip(const int64_t *v, size_t n, size_t max_bytes)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(cl_kfindex_encode(v, n, &buf, &len), 0);
    assert_true(len <= max_bytes);
    int64_t *back;
    size_t m;
    assert_int_equal(cl_kfindex_decode(buf, len, &back, &m), 0);
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(back[i], v[i]);
    free(buf);
    free(back);
}

static void test_kfindex_roundtrip_regular(void **state)
{
    (void)state;
    /* A 24/7 camera with a keyframe every 2 s: a day is 43,200 keyframes. */
    size_t n = 43200;
    int64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (int64_t)i * 2000;
    uint8_t *buf;
    size_t len;
    assert_int_equal(cl_kfindex_encode(v, n, &buf, &len), 0);
    /* 2000 needs two 7-bit groups; the first delta (0) one byte. */
    assert_int_equal(len, 2 * n - 1);
    free(buf);
    roundtrip(v, n, 4 * n);
    free(v);
}

static void test_kfindex_roundtrip_irregular(void **state)
{
    (void)state;
    const int64_t v[] = {0, 0, 1, 127, 128, 16383, 16384, 1300000, 1300001,
                         INT64_C(268435455) + 1300001};
    roundtrip(v, sizeof(v) / sizeof(v[0]), 4 * (sizeof(v) / sizeof(v[0])));
}

static void test_kfindex_size_bound(void **state)
{
    (void)state;
    /* Any spacing below 2^28 ms costs at most 4 bytes a keyframe. */
    const int64_t steps[] = {1, 999, 2002, 10000, 60000, 3600000, (INT64_C(1) << 28) - 1};
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        int64_t v[100];
        for (int i = 0; i < 100; i++)
            v[i] = steps[s] * (i + 1);
        roundtrip(v, 100, 400);
    }
    assert_true(cl_kfindex_bound(10) >= 90);
}

static void test_kfindex_empty(void **state)
{
    (void)state;
    uint8_t *buf = (uint8_t *)1;
    size_t len = 7;
    assert_int_equal(cl_kfindex_encode(NULL, 0, &buf, &len), 0);
    assert_null(buf);
    assert_int_equal(len, 0);
    int64_t *v;
    size_t n;
    assert_int_equal(cl_kfindex_decode(NULL, 0, &v, &n), 0);
    assert_int_equal(n, 0);
    assert_null(v);
}

static void test_kfindex_rejects_descending_and_negative(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    const int64_t desc[] = {0, 2000, 1999};
    assert_int_equal(cl_kfindex_encode(desc, 3, &buf, &len), -EINVAL);
    const int64_t neg[] = {-1, 2000};
    assert_int_equal(cl_kfindex_encode(neg, 2, &buf, &len), -EINVAL);
}

static void test_kfindex_rejects_malformed(void **state)
{
    (void)state;
    int64_t *v;
    size_t n;
    const uint8_t padded[] = {0x80, 0x00};               /* 0 written in two bytes */
    assert_int_equal(cl_kfindex_decode(padded, sizeof(padded), &v, &n), -EINVAL);
    const uint8_t cut[] = {0x00, 0xd0, 0x8f};            /* last varint unfinished */
    assert_int_equal(cl_kfindex_decode(cut, sizeof(cut), &v, &n), -EINVAL);
    uint8_t huge[12];
    memset(huge, 0xff, sizeof(huge));
    huge[11] = 0x01;                                       /* 12-byte varint */
    assert_int_equal(cl_kfindex_decode(huge, sizeof(huge), &v, &n), -EINVAL);
    const uint8_t overflow[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(cl_kfindex_decode(overflow, sizeof(overflow), &v, &n), -EINVAL);
}

static void test_kfindex_known_bytes(void **state)
{
    (void)state;
    /* The exact bytes the SQL decoder in sql/0001 reads back. */
    const int64_t v[] = {0, 2000, 4000, 4300};
    uint8_t *buf;
    size_t len;
    assert_int_equal(cl_kfindex_encode(v, 4, &buf, &len), 0);
    const uint8_t want[] = {0x00, 0xd0, 0x0f, 0xd0, 0x0f, 0xac, 0x02};
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kfindex_roundtrip_regular),
        cmocka_unit_test(test_kfindex_roundtrip_irregular),
        cmocka_unit_test(test_kfindex_size_bound),
        cmocka_unit_test(test_kfindex_empty),
        cmocka_unit_test(test_kfindex_rejects_descending_and_negative),
        cmocka_unit_test(test_kfindex_rejects_malformed),
        cmocka_unit_test(test_kfindex_known_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
