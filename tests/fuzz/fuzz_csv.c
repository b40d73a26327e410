/* libFuzzer harness for cl_csv_cameras (server/csv.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    json_t *rows = cl_csv_cameras((const char *)data, size, err, sizeof(err));
    if (!rows) {
        if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
            abort();
        return 0;
    }
    if (!json_is_array(rows))
        abort();
    json_decref(rows);
    return 0;
}
