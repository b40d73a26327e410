#include "range.h"

#include <string.h>
#include <strings.h>

/* Reads the digits at *s into *v, saturating at INT64_MAX; advances *s.
 * Returns the number of digits read. */
static size_t digits(const char **s, int64_t *v)
{
    const char *p = *s;
    int64_t n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        n = n > (INT64_MAX - d) / 10 ? INT64_MAX : n * 10 + d;
    }
    *v = n;
    size_t count = (size_t)(p - *s);
    *s = p;
    return count;
}

int cl_range_parse(const char *header, int64_t size, int64_t *from, int64_t *to)
{
    if (strncasecmp(header, "bytes=", 6) != 0 || strchr(header, ','))
        return 0;
    const char *s = header + 6;
    int64_t a, b;
    if (*s == '-') {
        s++;
        if (!digits(&s, &a) || *s || a == 0 || size <= 0)
            return -1;
        *from = a >= size ? 0 : size - a;
        *to = size;
        return 1;
    }
    if (!digits(&s, &a) || *s++ != '-')
        return -1;
    b = INT64_MAX;
    if (*s && (!digits(&s, &b) || *s || b < a))
        return -1;
    if (a >= size)
        return -1;
    *from = a;
    *to = b >= size ? size : b + 1;
    return 1;
}
