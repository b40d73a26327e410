/* The compact keyframe index stored in recordings.keyframes.
 *
 * Keyframe times are kept as milliseconds from the recording's first video
 * frame, ascending. The encoding is the sequence of differences between
 * consecutive offsets (the first from 0), each as an unsigned LEB128 varint:
 * 7 bits per byte, least significant group first, high bit set on every byte
 * but the last. Keyframes 1 to 4 s apart cost 2 bytes each; any spacing
 * below 2^28 ms (74 h) costs at most 4. sql/0001 decodes the same format in
 * the database (cl_keyframe_offsets). */
#ifndef CL_KFINDEX_H
#define CL_KFINDEX_H

#include <stddef.h>
#include <stdint.h>

/* Upper bound of the encoded size of n offsets. */
size_t cl_kfindex_bound(size_t n);

/* Encodes n offsets (ascending, >= 0) into a malloc'ed buffer, which the
 * caller frees; n == 0 gives *out == NULL, *outlen == 0. Returns 0, -EINVAL
 * for a negative or descending offset, -ENOMEM. */
int cl_kfindex_encode(const int64_t *offsets_ms, size_t n, uint8_t **out, size_t *outlen);

/* Decodes into a malloc'ed array the caller frees. Returns 0, -EINVAL for a
 * malformed buffer (a varint cut short, padded with a zero last group, or
 * longer than 9 bytes, an overflow),
 * -ENOMEM. */
int cl_kfindex_decode(const uint8_t *buf, size_t len, int64_t **offsets_ms, size_t *n);

#endif
