/* The Range header of a download (RFC 9110, section 14): one byte range of
 * a file of known size. A pure function, so the fuzz harness runs it as the
 * server does. */
#ifndef CL_RANGE_H
#define CL_RANGE_H

#include <stdint.h>

/* Parses "bytes=A-B", "bytes=A-" or "bytes=-N" (the unit in any case,
 * decimal digits only, no spaces or signs) against a file of size bytes.
 * Returns 1 with the half-open range [*from, *to) set, 0 when the header
 * is to be ignored (another unit, or several ranges, which the server does
 * not combine), -1 when it is malformed or cannot be satisfied (answer
 * 416). A last position past the end, or too large to represent, means the
 * end. */
int cl_range_parse(const char *header, int64_t size, int64_t *from, int64_t *to);

#endif
