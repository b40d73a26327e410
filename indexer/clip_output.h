/* The output side of an evidence clip (internal to clip.c): the MP4 muxer
 * on a part file next to the clip, the packets written to it, and moving
 * the finished file into place, durably. See clip.h for the guarantees.
 *
 * Unlike the rest of camledger, the muxer calls return libavformat's error
 * codes (AVERROR) as they are, so that the caller can word them with
 * av_err2str; cl_clip_out_errno maps them to an errno at the boundary. */
#ifndef CL_CLIP_OUTPUT_H
#define CL_CLIP_OUTPUT_H

#include <libavcodec/packet.h>
#include <libavformat/avformat.h>

#include "clip.h"
#include "part.h"

typedef struct cl_clip_out {
    const char *out_path;   /* the clip's final name; borrowed */
    char *part_path;        /* cl_part_path(out_path), where the clip is written */
    AVFormatContext *oc;    /* the muxer, NULL before cl_clip_out_open */
    int locked;             /* lock_fd holds the part file's lock (part.h) */
    int lock_fd;
} cl_clip_out_t;

/* Sets up out for a clip at out_path (borrowed: it must outlive out); opens
 * no file. Returns 0 or -ENOMEM. out must be zeroed beforehand: on failure
 * it stays so, and cl_clip_out_dispose is still fine. */
int cl_clip_out_init(cl_clip_out_t *out, const char *out_path);

/* Creates the part file as an MP4 with one output stream per non-NULL in[k]
 * (k < n), a copy of its codec parameters, time base, frame rate and side
 * data, stored in st[k] (NULL for the others), and writes the header:
 * faststart, an edit list, negative timestamps passed through, creation_time
 * `creation`. Returns 0 or an AVERROR; out->oc may be set even on failure,
 * for cl_clip_out_dispose to remove the part file. */
int cl_clip_out_open(cl_clip_out_t *out, const AVStream *const *in, AVStream **st, int n,
                     cl_time_t creation);

/* Hands pkt (its timestamps in its output stream's time base) to the
 * interleaving muxer. Takes pkt, also on failure. Returns 0 or an AVERROR. */
int cl_clip_out_write(cl_clip_out_t *out, AVPacket *pkt);

/* Ends the muxer, syncs the part file, hashes it into res->sha256, sets
 * res->bytes_written, renames it over out_path and syncs the directory.
 * Returns 0, or a negative errno with res->error set. */
int cl_clip_out_finish(cl_clip_out_t *out, cl_clip_result_t *res);

/* Closes and frees the muxer; when failed, removes the part file if it was
 * opened. Frees part_path. */
void cl_clip_out_dispose(cl_clip_out_t *out, int failed);

/* An errno for an FFmpeg error code: errno-based codes as they are, -EIO
 * for FFmpeg's own. Non-negative values map to -EIO too. */
int cl_clip_out_errno(int averr);

#endif
