/* Container structure that libavformat keeps to itself, read straight from
 * the file: the top-level MP4/MOV boxes (is there a moov, where is the last
 * moof, does a box run past the end), the composition offsets (pts - dts) of
 * a track's samples from its ctts and trun boxes, and whether a Matroska
 * Segment or an MPEG-TS file was cut short. Every read goes through
 * cl_media_file_t, which counts the bytes. Thread-safe: no shared state. */
#ifndef CL_CONTAINER_H
#define CL_CONTAINER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* moov and moof boxes larger than this are not read into memory. */
#define CL_MOV_MAX_HEADER_BOX (64 * 1024 * 1024)

/* An open recording, as the structure readers see it. */
typedef struct cl_media_file {
    int fd;
    int64_t size;
    int64_t bytes_read;    /* everything read through cl_media_read_at */
    int io_errno;          /* errno of the last failed read, or 0 */
    int truncated;         /* cut short: set by cl_media_mark_cut */
    char cut_reason[128];  /* the first reason given */
} cl_media_file_t;

/* pread of up to len bytes at off, retried on EINTR, counted in
 * f->bytes_read. Returns the bytes read (0 at the end of the file), or -1
 * with the errno in f->io_errno. */
ssize_t cl_media_read_at(cl_media_file_t *f, void *buf, size_t len, int64_t off);

/* Marks f cut short; only the first reason is kept. */
void cl_media_mark_cut(cl_media_file_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* count samples whose pts - dts is offset. */
typedef struct cl_cts_run {
    uint32_t count;
    int32_t offset;
} cl_cts_run_t;

/* The composition offsets of one track's samples, in decode order, as runs.
 * Zero-initialise; release with cl_cts_dispose. */
typedef struct cl_cts {
    cl_cts_run_t *runs;
    size_t n, cap;
    int64_t samples;       /* the sum of the counts */
} cl_cts_t;

void cl_cts_dispose(cl_cts_t *cts);

/* What the top-level boxes of an MP4/MOV file say. */
typedef struct cl_mov_boxes {
    int has_moov;
    int64_t moov_off, moov_len; /* the first moov box, header included */
    int64_t last_moof;          /* offset of the last complete moof box, or -1 */
} cl_mov_boxes_t;

/* Walks the top-level boxes of f into *boxes (a moov already in *boxes is
 * kept); a box that runs past the end of the file marks f cut. With cts not
 * NULL, also reads every moof and appends the composition offsets of the
 * trun boxes of track track_id. A read error ends the walk early and is left
 * in f->io_errno. Returns 0 or -ENOMEM. */
int cl_mov_walk(cl_media_file_t *f, cl_mov_boxes_t *boxes, uint32_t track_id, cl_cts_t *cts);

/* Appends the composition offsets in the ctts box of track track_id
 * (moov/trak/mdia/minf/stbl/ctts) to cts; nothing when the track has none.
 * moov is the whole box, header included, len bytes. Returns 0 or -ENOMEM. */
int cl_mov_moov_cts(const uint8_t *moov, size_t len, uint32_t track_id, cl_cts_t *cts);

/* Marks f cut when its Matroska Segment runs past the end of the file: a
 * declared size that does, or, for a Segment of unknown size (written live),
 * a last element that does. */
void cl_mkv_check_cut(cl_media_file_t *f);

/* Marks f cut when its size is not a whole number of MPEG-TS packets (188,
 * 192 or 204 bytes). */
void cl_ts_check_cut(cl_media_file_t *f);

#endif
