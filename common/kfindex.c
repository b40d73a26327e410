#include "kfindex.h"

#include <errno.h>
#include <stdlib.h>

/* A uint64 needs at most 10 groups of 7 bits; offsets are ms and below 2^63,
 * so 9 bytes carry every valid value. */
#define VARINT_MAX 9

size_t cl_kfindex_bound(size_t n)
{
    return n * VARINT_MAX;
}

int cl_kfindex_encode(const int64_t *offsets_ms, size_t n, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (n == 0)
        return 0;
    uint8_t *buf = malloc(cl_kfindex_bound(n));
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        if (offsets_ms[i] < prev) {
            free(buf);
            return -EINVAL;
        }
        uint64_t delta = (uint64_t)(offsets_ms[i] - prev);
        prev = offsets_ms[i];
        do {
            uint8_t b = delta & 0x7f;
            delta >>= 7;
            buf[len++] = delta ? (uint8_t)(b | 0x80) : b;
        } while (delta);
    }
    uint8_t *shrunk = realloc(buf, len);
    *out = shrunk ? shrunk : buf;
    *outlen = len;
    return 0;
}

int cl_kfindex_decode(const uint8_t *buf, size_t len, int64_t **offsets_ms, size_t *n)
{
    *offsets_ms = NULL;
    *n = 0;
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (!(buf[i] & 0x80))
            count++;
    if (len > 0 && (buf[len - 1] & 0x80))
        return -EINVAL;
    if (count == 0)
        return 0;
    int64_t *v = malloc(count * sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t k = 0, i = 0;
    int64_t acc = 0;
    while (i < len) {
        uint64_t delta = 0;
        int shift = 0;
        for (;;) {
            if (shift >= 7 * VARINT_MAX)
                goto bad;
            uint8_t b = buf[i++];
            /* A zero last group pads the varint: the same value has a
             * shorter form, so the bytes would not be canonical. */
            if (shift > 0 && b == 0)
                goto bad;
            delta |= (uint64_t)(b & 0x7f) << shift;
            shift += 7;
            if (!(b & 0x80))
                break;
        }
        if (delta > (uint64_t)(INT64_MAX - acc))
            goto bad;
        acc += (int64_t)delta;
        v[k++] = acc;
    }
    *offsets_ms = v;
    *n = k;
    return 0;
bad:
    free(v);
    return -EINVAL;
}
