/* Cutting an evidence clip: a wall-clock window of one camera's footage,
 * copied out of its recordings into one MP4 with libavformat, without
 * decoding or encoding.
 *
 * The clip's timeline is the wall clock: time 0 is `from`, and every packet
 * sits at (its recording's start + its pts - the recording's first video
 * pts) - `from`. So a gap between recordings stays a gap (the frame before
 * it is shown until the next one), and a window that begins before the
 * footage begins with an empty edit. The clip starts at the keyframe at or
 * before `from`; the frames before `from` carry negative times and the
 * edit list starts playback at `from` exactly, as `ffmpeg -ss FROM -i IN
 * -c copy` does. The moov is at the front (faststart). */
#ifndef CL_CLIP_H
#define CL_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "timefmt.h"

/* One recording of the camera. Sources are passed sorted by start. */
typedef struct cl_clip_source {
    const char *path;   /* the recording file */
    cl_time_t start;    /* wall-clock time of its first video frame */
    cl_time_t end;      /* wall-clock end of its last frame, or CL_TIME_NONE */
    /* Optional (NULL): its keyframes as the index has them, offsets in us
     * from its first frame, ascending (cl_probe_result_t.keyframes_us).
     * MPEG-TS, which has no seek index, then seeks straight to the keyframe
     * before `from` instead of searching back for it. */
    const int64_t *keyframes_us;
    size_t n_keyframes;
} cl_clip_source_t;

typedef enum cl_clip_part_status {
    CL_CLIP_PART_UNUSED = 0,    /* outside the window, or not reached: never opened */
    CL_CLIP_PART_COPIED,        /* its part of the window was copied */
    CL_CLIP_PART_TRUNCATED,     /* copied up to where the file is cut short or corrupt */
    CL_CLIP_PART_MISSING,       /* not on disk (ENOENT): left as a gap */
    CL_CLIP_PART_INCOMPATIBLE,  /* another codec, picture size or audio format than the
                                   clip's: left as a gap */
    CL_CLIP_PART_FAILED,        /* could not be opened or read: the cut failed */
} cl_clip_part_status_t;

/* "unused", "copied", "truncated", "missing", "incompatible", "failed". */
const char *cl_clip_part_status_name(cl_clip_part_status_t status);

/* What became of one source. */
typedef struct cl_clip_part {
    cl_clip_part_status_t status;
    cl_time_t covered_from;     /* wall span of its video frames in the clip; */
    cl_time_t covered_to;       /* CL_TIME_NONE when none */
    int64_t video_packets, audio_packets;
    int64_t bytes_read;
    char error[192];            /* why, for truncated, missing, incompatible, failed */
} cl_clip_part_t;

typedef struct cl_clip_result {
    cl_time_t first_keyframe;   /* wall time of the clip's first packet, a keyframe */
    cl_time_t covered_from;     /* wall span of the video frames written: the first */
    cl_time_t covered_to;       /* frame (<= from when footage covers from) to the end
                                   of the last one (>= to when footage covers to; with
                                   B-frames it may run a few frames past to) */
    int64_t duration_us;        /* playback length after the edit list: covered_to - from */
    int64_t video_packets, audio_packets;
    int64_t dropped_packets;    /* left out: not after the last one written on their
                                   stream (overlapping files), or video before the
                                   keyframe a recording resumes at */
    int has_audio;
    int64_t bytes_read;         /* read from the sources */
    int64_t bytes_written;      /* the size of the clip */
    char sha256[65];            /* of the clip, lowercase hex */
    cl_clip_part_t *parts;      /* one per source, in order; malloc'ed */
    size_t n_parts;
    char error[256];            /* why the cut failed; "" on success */
} cl_clip_result_t;

/* Cuts [from, to) out of the n recordings in src into an MP4 at out_path.
 *
 * Sources must be consecutive recordings of one camera sorted by start;
 * gaps between them are kept as gaps, and where they overlap, a packet that
 * is not strictly after the last one written on its stream (by dts) is
 * dropped, and video resumes at the next keyframe. The streams are the
 * first video and audio streams of the first source opened; a later source
 * whose streams do not match is left out as a gap (INCOMPATIBLE).
 *
 * The first source is entered by seeking to the keyframe at or before
 * `from` (MP4 and Matroska through their index; MPEG-TS by bisection, helped
 * by keyframes_us); each later one is read from its start, and nothing
 * after `to` is read but the little audio that trails video in the file.
 * Video is copied up to the first packet whose dts is at or after `to` (so,
 * with B-frames, every frame before `to` keeps its references), audio up to
 * `to`. A recording cut short or corrupt is copied up to its last complete
 * packet (TRUNCATED); when only its size tells it was cut (MPEG-TS,
 * Matroska), its last packet per stream is left out, as it may be partial.
 *
 * Per source, res->parts says what happened. A source missing from disk is a
 * gap and the cut goes on; a source that exists but cannot be opened as
 * media or read (permissions, I/O error, garbage) fails the cut.
 *
 * The clip is written to out_path + ".part-PID" in the same directory,
 * synced, renamed over out_path, and the directory synced: out_path is
 * either absent (or its previous content) or the complete clip, even after a
 * crash. A failed cut removes the part file.
 *
 * Returns 0, or a negative errno with res->error set: -EINVAL (bad window or
 * arguments), -ENODATA (no footage in the window), -EIO or the source's
 * open errno (a source failed), the output's errno, -ENOMEM. Always fills
 * *res; release it with cl_clip_result_dispose. Thread-safe, and logs
 * nothing: libav's log level is the caller's to set. */
int cl_clip_cut(const cl_clip_source_t *src, size_t n, cl_time_t from, cl_time_t to,
                const char *out_path, cl_clip_result_t *res);

void cl_clip_result_dispose(cl_clip_result_t *res);

/* The SHA-256 of the file at path as 64 lowercase hex digits and a NUL.
 * Returns 0 or a negative errno. */
int cl_clip_sha256_file(const char *path, char hex[65]);

#endif
