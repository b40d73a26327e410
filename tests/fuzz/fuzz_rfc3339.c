/* libFuzzer harness for cl_time_parse_rfc3339 and cl_time_format_rfc3339.
 *
 * A time that parses and lies in the years 0..9999 must format, and the
 * formatted text must parse back to the time truncated (floored) to ms. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

/* 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z in seconds. */
#define YEAR0_SEC INT64_C(-62167219200)
#define YEAR10000_SEC INT64_C(253402300800)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    cl_time_t t;
    if (cl_time_parse_rfc3339(s, &t) == 0) {
        if (t == CL_TIME_NONE)
            abort();
        char buf[CL_TIME_RFC3339_LEN];
        size_t n = cl_time_format_rfc3339(t, buf, sizeof(buf));
        int in_range = t >= YEAR0_SEC * CL_USEC_PER_SEC && t < YEAR10000_SEC * CL_USEC_PER_SEC;
        if (in_range) {
            if (n == 0 || n >= sizeof(buf) || strlen(buf) != n)
                abort();
            cl_time_t back;
            if (cl_time_parse_rfc3339(buf, &back) != 0)
                abort();
            cl_time_t ms = t / 1000;
            if (t % 1000 < 0)
                ms--;
            if (back != ms * 1000)
                abort();
        } else if (n != 0) {
            abort();
        }
    }
    free(s);
    return 0;
}
