/* libFuzzer harness for cl_kfindex_decode: a buffer that decodes must
 * encode back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kfindex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t *offsets = NULL;
    size_t n = 0;
    if (cl_kfindex_decode(data, size, &offsets, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (offsets[i] < 0 || (i > 0 && offsets[i] < offsets[i - 1]))
            abort();

    uint8_t *enc = NULL;
    size_t enclen = 0;
    if (cl_kfindex_encode(offsets, n, &enc, &enclen) != 0)
        abort();
    if (enclen > cl_kfindex_bound(n))
        abort();
    if (enclen != size || (size > 0 && memcmp(enc, data, size) != 0))
        abort();
    free(enc);
    free(offsets);
    return 0;
}
