/* libFuzzer harness for cl_layout_new and cl_layout_match.
 *
 * Input: pattern, then a NUL or newline, then the path. An input with no
 * separator is used as both pattern and path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    const char *pattern = buf, *path = buf;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\0' || buf[i] == '\n') {
            buf[i] = '\0';
            path = buf + i + 1;
            break;
        }
    }

    char err[256];
    cl_layout_t *layout = cl_layout_new(pattern, "Asia/Ho_Chi_Minh", err, sizeof(err));
    if (!layout) {
        if (memchr(err, '\0', sizeof(err)) == NULL)
            abort();
        free(buf);
        return 0;
    }
    (void)cl_layout_depth(layout);
    (void)cl_layout_has_time(layout);

    cl_layout_match_t m;
    int rc = cl_layout_match(layout, path, &m);
    if (rc == 0) {
        size_t n = strnlen(m.camera, sizeof(m.camera));
        if (n == 0 || n > CL_CAMERA_CODE_MAX)
            abort();
        if (!cl_layout_has_time(layout) && m.start != CL_TIME_NONE)
            abort();
    }
    cl_layout_free(layout);
    free(buf);
    return 0;
}
