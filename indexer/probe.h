/* Reading one recording with libavformat: container, video codec and size,
 * creation time, duration, and the presentation time of every keyframe,
 * reading as little of the file as the container allows (see DESIGN.md,
 * "Reading keyframes"). */
#ifndef CL_PROBE_H
#define CL_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "timefmt.h"

typedef enum cl_rec_status {
    CL_REC_OK = 0,      /* complete and indexed */
    CL_REC_TRUNCATED,   /* cut short: indexed up to its last complete keyframe */
    CL_REC_CORRUPT,     /* a media container that cannot be read (moov missing, ...) */
    CL_REC_EMPTY,       /* zero bytes */
    CL_REC_NOT_VIDEO,   /* not a media container, or one without a video stream */
    CL_REC_UNREADABLE,  /* open or read failed at the OS level (permissions, EIO) */
    CL_REC_DELETED,     /* set by the scanner, never by the probe */
} cl_rec_status_t;

/* The names stored in recordings.status. */
const char *cl_rec_status_name(cl_rec_status_t status);

typedef struct cl_probe_result {
    cl_rec_status_t status;
    char error[256];          /* why, when status is not OK; "" otherwise */
    char container[32];       /* "mp4", "matroska", "mpegts", ... (short demuxer name) */
    char codec[32];           /* "h264", "hevc", ... */
    int width, height;
    int fps_num, fps_den;     /* average frame rate; 0/0 when unknown */
    int has_audio;
    cl_time_t creation_time;  /* container creation_time, or CL_TIME_NONE */
    int64_t duration_us;      /* first video frame to the end of the last one;
                                 -1 when unknown */
    int64_t *keyframes_us;    /* keyframe pts minus the first frame's pts, ascending */
    size_t n_keyframes;
    int64_t bytes_read;       /* bytes read from the file */
} cl_probe_result_t;

/* Probes path. Always fills *out (status and error tell what happened) and
 * returns 0; returns -ENOMEM only when memory ran out. Release with
 * cl_probe_result_dispose. Thread-safe: several probes may run at once.
 * The probe logs nothing itself: libav's log level is the caller's to set. */
int cl_probe_file(const char *path, cl_probe_result_t *out);

void cl_probe_result_dispose(cl_probe_result_t *r);

#endif
