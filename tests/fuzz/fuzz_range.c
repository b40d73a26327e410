/* libFuzzer harness for cl_range_parse (server/range.c). An input is the
 * file's size (8 bytes, little-endian, taken modulo 2^62 so sizes near
 * INT64_MAX are reached) followed by the header's text. Checks: an
 * accepted range lies within the file and is not empty; written back as
 * "bytes=FROM-LAST" it parses to the same range; what is accepted or
 * refused holds only the grammar's characters. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)data[i] << (8 * i);
    int64_t file = (int64_t)(u & ((UINT64_C(1) << 62) - 1));
    char *h = malloc(size - 8 + 1);
    if (!h)
        return 0;
    memcpy(h, data + 8, size - 8);
    h[size - 8] = '\0';

    int64_t from = -1, to = -1;
    int r = cl_range_parse(h, file, &from, &to);
    if (r != -1 && r != 0 && r != 1)
        abort();
    if (r == 1) {
        if (from < 0 || from >= to || to > file)
            abort();
        /* Only "bytes=" (in any case) and digits and one '-'. */
        for (const char *p = h + 6; *p; p++)
            if (!(*p == '-' || (*p >= '0' && *p <= '9')))
                abort();
        char again[64];
        snprintf(again, sizeof(again), "bytes=%" PRId64 "-%" PRId64, from, to - 1);
        int64_t f2 = -1, t2 = -1;
        if (cl_range_parse(again, file, &f2, &t2) != 1 || f2 != from || t2 != to)
            abort();
    }
    free(h);
    return 0;
}
