/* Cutting evidence clips by stream copy: the timeline, the edit list and
 * the rules for gaps and overlaps are described in clip.h. This side reads
 * the sources and places and selects packets; clip_output.c writes them. */
#include "clip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/mathematics.h>

#include "clip_output.h"
#include "container.h"

/* Small: every seek refills the buffer, and reads larger than it (most
 * video frames) go straight to the packet. */
#define IO_BUF_SIZE (8 * 1024)
/* Packets read to find a recording's first frame, at most. */
#define MAX_FIRST_PACKETS 256
/* Containers that need avformat_find_stream_info (MPEG-TS, Matroska) read at
 * most this much and analyse this long; MPEG-TS reads it twice, as the
 * demuxer goes back to where the analysis began. */
#define INFO_PROBE_BYTES (1024 * 1024)
#define INFO_ANALYZE_US (CL_USEC_PER_SEC / 2)
/* Muxers interleave audio within about a second of video; once video is past
 * `to` by this much, the audio will not reach `to` any more. */
#define AUDIO_LAG_US (2 * CL_USEC_PER_SEC)
/* A seek that lands past the keyframe before `from` (MPEG-TS seeks by
 * bisection, not to keyframes) is retried this much earlier, doubling. */
#define SEEK_STEP_US (CL_USEC_PER_SEC / 2)
/* Seeking by bisection to a keyframe's time may land on a frame after it
 * in decode order (B-frames): aim this much before it. */
#define SEEK_MARGIN_US (CL_USEC_PER_SEC / 5)
#define MAX_SEEKS 8

enum { V, A, N_KIND };

/* An output stream. Timestamps are in st->time_base, 0 at `from`. */
typedef struct ostream {
    AVStream *st;
    int64_t to_ts;      /* `to` */
    int64_t lag_ts;     /* AUDIO_LAG_US */
    int64_t last_dts;   /* of the last packet accepted, AV_NOPTS_VALUE before any */
    int64_t min_pts;    /* over the packets written */
    int64_t max_end;    /* largest pts + duration written */
    int done;           /* reached `to` */
} ostream_t;

typedef struct source {
    const cl_clip_source_t *def;
    cl_clip_part_t *part;
    cl_media_file_t file;
    int64_t io_pos;
    AVIOContext *pb;
    AVFormatContext *fmt;
    int index[N_KIND];        /* the input stream of each kind, or -1 */
    int64_t first_pts;        /* the first video frame, in its time base */
    int64_t offset[N_KIND];   /* added to a rescaled timestamp: output ticks */
    int64_t last_dur[N_KIND]; /* the last packet duration seen, input ticks */
    int64_t next_dts[N_KIND]; /* the dts a packet without one gets */
    AVPacket *pending[N_KIND]; /* accepted, written when the next one is */
    int read_err;             /* av_read_frame's error, once reading has ended */
    int need_key;             /* video resumes at a keyframe */
    int stop;                 /* nothing more to copy from this source */
} source_t;

typedef struct clip {
    cl_clip_result_t *res;
    cl_time_t from, to;
    cl_clip_out_t out;
    ostream_t os[N_KIND];
    int started;              /* a video packet was accepted */
    AVPacket **queue;         /* read ahead, before copying starts */
    size_t nq, qcap;
} clip_t;

const char *cl_clip_part_status_name(cl_clip_part_status_t status)
{
    switch (status) {
    case CL_CLIP_PART_UNUSED: return "unused";
    case CL_CLIP_PART_COPIED: return "copied";
    case CL_CLIP_PART_TRUNCATED: return "truncated";
    case CL_CLIP_PART_MISSING: return "missing";
    case CL_CLIP_PART_INCOMPATIBLE: return "incompatible";
    case CL_CLIP_PART_FAILED: return "failed";
    }
    return "unknown";
}

static void __attribute__((format(printf, 3, 4)))
part_status(source_t *s, cl_clip_part_status_t status, const char *fmt, ...)
{
    va_list ap;
    s->part->status = status;
    va_start(ap, fmt);
    vsnprintf(s->part->error, sizeof(s->part->error), fmt, ap);
    va_end(ap);
}

/* Fails the cut because of source s: returns err. */
static int __attribute__((format(printf, 4, 5)))
source_failed(clip_t *c, source_t *s, int err, const char *fmt, ...)
{
    va_list ap;
    s->part->status = CL_CLIP_PART_FAILED;
    va_start(ap, fmt);
    vsnprintf(s->part->error, sizeof(s->part->error), fmt, ap);
    va_end(ap);
    snprintf(c->res->error, sizeof(c->res->error), "%s: %s", s->def->path, s->part->error);
    return err;
}

/* Fails the cut on the read error of source s. */
static int read_failed(clip_t *c, source_t *s)
{
    return source_failed(c, s, -s->file.io_errno, "read: %s", strerrordesc_np(s->file.io_errno));
}

static int io_read(void *opaque, uint8_t *buf, int len)
{
    source_t *s = opaque;
    ssize_t n = cl_media_read_at(&s->file, buf, (size_t)len, s->io_pos);
    if (n < 0)
        return AVERROR(s->file.io_errno);
    if (n == 0)
        return AVERROR_EOF;
    s->io_pos += n;
    return (int)n;
}

static int64_t io_seek(void *opaque, int64_t offset, int whence)
{
    source_t *s = opaque;
    int64_t pos;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return s->file.size;
    case SEEK_SET: pos = offset; break;
    case SEEK_CUR: pos = s->io_pos + offset; break;
    case SEEK_END: pos = s->file.size + offset; break;
    default: return AVERROR(EINVAL);
    }
    if (pos < 0)
        return AVERROR(EINVAL);
    s->io_pos = pos;
    return pos;
}

static int queue_push(clip_t *c, AVPacket *pkt)
{
    if (c->nq == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 64;
        AVPacket **q = realloc(c->queue, cap * sizeof(*q));
        if (!q) {
            av_packet_free(&pkt);
            return -ENOMEM;
        }
        c->queue = q;
        c->qcap = cap;
    }
    c->queue[c->nq++] = pkt;
    return 0;
}

static void queue_clear(clip_t *c)
{
    for (size_t i = 0; i < c->nq; i++)
        av_packet_free(&c->queue[i]);
    c->nq = 0;
}

static int kind_of(const source_t *s, int stream_index)
{
    for (int k = 0; k < N_KIND; k++)
        if (s->index[k] == stream_index)
            return k;
    return -1;
}

static AVStream *in_stream(const source_t *s, int k)
{
    return s->fmt->streams[s->index[k]];
}

/* A timestamp of stream k of s on the output timeline. */
static int64_t out_ts(const clip_t *c, const source_t *s, int k, int64_t ts)
{
    return av_rescale_q(ts, in_stream(s, k)->time_base, c->os[k].st->time_base) + s->offset[k];
}

static cl_time_t wall(const clip_t *c, int k, int64_t ts)
{
    return c->from + av_rescale_q(ts, c->os[k].st->time_base, AV_TIME_BASE_Q);
}

/* Fills in the timestamps a demuxer left out. Matroska stores no dts, and
 * libavformat cannot derive it for the first frames after the start or a
 * seek: like ffmpeg, count frames on from the first pts less the reorder
 * delay. */
static void fill_timestamps(source_t *s, int k, AVPacket *pkt)
{
    AVStream *st = in_stream(s, k);
    int64_t dur = pkt->duration > 0 ? pkt->duration : s->last_dur[k];
    if (dur <= 0 && k == V && st->avg_frame_rate.num > 0)
        dur = av_rescale_q(1, av_inv_q(st->avg_frame_rate), st->time_base);
    if (pkt->dts == AV_NOPTS_VALUE) {
        pkt->dts = s->next_dts[k] != AV_NOPTS_VALUE ? s->next_dts[k]
                                                     : pkt->pts - st->codecpar->video_delay * dur;
        if (pkt->dts > pkt->pts)
            pkt->dts = pkt->pts;
    }
    if (pkt->pts == AV_NOPTS_VALUE)
        pkt->pts = pkt->dts;
    if (dur > 0)
        s->last_dur[k] = dur;
    s->next_dts[k] = pkt->dts + FFMAX(dur, 1);
}

/* Reads the next packet of a stream we copy into *out. */
static int read_packet(source_t *s, AVPacket **out, int *kind)
{
    AVPacket *pkt = av_packet_alloc();
    if (!pkt)
        return AVERROR(ENOMEM);
    int err;
    while ((err = av_read_frame(s->fmt, pkt)) >= 0) {
        if ((*kind = kind_of(s, pkt->stream_index)) >= 0 &&
            (pkt->pts != AV_NOPTS_VALUE || pkt->dts != AV_NOPTS_VALUE)) {
            fill_timestamps(s, *kind, pkt);
            *out = pkt;
            return 0;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    return err;
}

static void forget_timestamps(source_t *s)
{
    s->next_dts[V] = s->next_dts[A] = AV_NOPTS_VALUE;
}

static int is_mov(const source_t *s)
{
    return strncmp(s->fmt->iformat->name, "mov,", 4) == 0;
}

static int is_matroska(const source_t *s)
{
    return strncmp(s->fmt->iformat->name, "matroska", 8) == 0;
}

/* MPEG-TS tells little before its packets are read; Matroska does not say
 * how far B-frames reorder, which the dts of its packets need. */
static int needs_stream_info(const source_t *s)
{
    const AVCodecParameters *v = in_stream(s, V)->codecpar;
    if (is_matroska(s) && v->video_delay == 0)
        return 1;
    if (v->width <= 0 || v->height <= 0 ||
        (v->extradata_size == 0 && (v->codec_id == AV_CODEC_ID_H264 || v->codec_id == AV_CODEC_ID_HEVC)))
        return 1;
    return s->index[A] >= 0 && in_stream(s, A)->codecpar->sample_rate <= 0;
}

/* Returns 0, 1 when the file is missing (a gap), or a negative error that
 * fails the cut. */
static int open_source(clip_t *c, source_t *s)
{
    struct stat sb;
    s->file.fd = open(s->def->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (s->file.fd < 0 && errno == ENOENT) {
        part_status(s, CL_CLIP_PART_MISSING, "not on disk");
        return 1;
    }
    if (s->file.fd < 0)
        return source_failed(c, s, -errno, "open: %s", strerrordesc_np(errno));
    if (fstat(s->file.fd, &sb) < 0)
        return source_failed(c, s, -errno, "stat: %s", strerrordesc_np(errno));
    if (!S_ISREG(sb.st_mode))
        return source_failed(c, s, -EIO, "not a regular file");
    s->file.size = sb.st_size;

    uint8_t *buf = av_malloc(IO_BUF_SIZE);
    if (!buf || !(s->pb = avio_alloc_context(buf, IO_BUF_SIZE, 0, s, io_read, NULL, io_seek))) {
        av_free(buf);
        return -ENOMEM;
    }
    if (!(s->fmt = avformat_alloc_context()))
        return -ENOMEM;
    s->fmt->pb = s->pb;
    s->fmt->probesize = INFO_PROBE_BYTES;
    s->fmt->max_analyze_duration = INFO_ANALYZE_US;
    /* MPEG-TS would read the end of the file for a duration we know. */
    s->fmt->skip_estimate_duration_from_pts = 1;
    int err = avformat_open_input(&s->fmt, s->def->path, NULL, NULL);
    if (err == AVERROR(ENOMEM))
        return -ENOMEM;
    if (err < 0 && s->file.io_errno)
        return read_failed(c, s);
    if (err < 0)
        return source_failed(c, s, -EIO, "not readable media: %s", av_err2str(err));

    s->index[V] = s->index[A] = -1;
    forget_timestamps(s);
    for (unsigned i = 0; i < s->fmt->nb_streams; i++) {
        AVStream *st = s->fmt->streams[i];
        enum AVMediaType type = st->codecpar->codec_type;
        if (s->index[V] < 0 && type == AVMEDIA_TYPE_VIDEO &&
            !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
            s->index[V] = (int)i;
        else if (s->index[A] < 0 && type == AVMEDIA_TYPE_AUDIO)
            s->index[A] = (int)i;
        else
            st->discard = AVDISCARD_ALL;
    }
    if (s->index[V] < 0)
        return source_failed(c, s, -EIO, "no video stream");
    if (strcmp(s->fmt->iformat->name, "mpegts") == 0)
        cl_ts_check_cut(&s->file);
    else if (is_matroska(s))
        cl_mkv_check_cut(&s->file);
    if (needs_stream_info(s) && (err = avformat_find_stream_info(s->fmt, NULL)) < 0) {
        if (err == AVERROR(ENOMEM))
            return -ENOMEM;
        return source_failed(c, s, -EIO, "no stream parameters: %s", av_err2str(err));
    }
    return 0;
}

static void close_source(source_t *s)
{
    for (int k = 0; k < N_KIND; k++)
        av_packet_free(&s->pending[k]);
    avformat_close_input(&s->fmt);
    if (s->pb)
        av_freep(&s->pb->buffer);
    avio_context_free(&s->pb);
    if (s->file.fd >= 0)
        close(s->file.fd);
    s->file.fd = -1;
}

/* The first frame of a recording is the smallest video pts; once a packet's
 * dts reaches that, no later packet can show earlier. The packets read stay
 * queued for copying. */
static int read_first_pts(clip_t *c, source_t *s)
{
    AVPacket *pkt;
    int k, err = 0;
    while (c->nq < MAX_FIRST_PACKETS && (err = read_packet(s, &pkt, &k)) >= 0) {
        if (k == V && !(pkt->flags & AV_PKT_FLAG_DISCARD) &&
            (s->first_pts == AV_NOPTS_VALUE || pkt->pts < s->first_pts))
            s->first_pts = pkt->pts;
        int last = k == V && s->first_pts != AV_NOPTS_VALUE && pkt->dts >= s->first_pts;
        if ((err = queue_push(c, pkt)) < 0 || last)
            break;
    }
    if (err < 0)
        s->read_err = err;
    return err == AVERROR(ENOMEM) ? -ENOMEM : 0;
}

static int is_annexb(const AVCodecParameters *par)
{
    const uint8_t *d = par->extradata;
    return par->extradata_size >= 4 && d[0] == 0 && d[1] == 0 && (d[2] == 1 || (d[2] == 0 && d[3] == 1));
}

/* Parameter sets in Annex B (MPEG-TS) travel in the stream too, and
 * extradata varies with the SEI the demuxer happened to catch. */
static int same_extradata(const AVCodecParameters *a, const AVCodecParameters *b)
{
    return !a->extradata_size || !b->extradata_size || is_annexb(a) || is_annexb(b) ||
           (a->extradata_size == b->extradata_size &&
            memcmp(a->extradata, b->extradata, (size_t)a->extradata_size) == 0);
}

/* Why source s cannot continue the clip's streams, or NULL. */
static const char *mismatch(const clip_t *c, const source_t *s)
{
    const AVCodecParameters *o = c->os[V].st->codecpar, *i = in_stream(s, V)->codecpar;
    if (i->codec_id != o->codec_id || i->width != o->width || i->height != o->height)
        return "video codec or picture size differs";
    if (!same_extradata(i, o))
        return "video codec parameters differ";
    if (s->index[A] < 0 || !c->os[A].st)
        return NULL;
    o = c->os[A].st->codecpar;
    i = in_stream(s, A)->codecpar;
    if (i->codec_id != o->codec_id || i->sample_rate != o->sample_rate ||
        i->ch_layout.nb_channels != o->ch_layout.nb_channels || !same_extradata(i, o))
        return "audio format differs";
    return NULL;
}

/* The output on the part file, with the streams of the first source. */
static int open_output(clip_t *c, source_t *s)
{
    const AVStream *in[N_KIND];
    AVStream *st[N_KIND];
    for (int k = 0; k < N_KIND; k++)
        in[k] = s->index[k] >= 0 ? in_stream(s, k) : NULL;
    int err = cl_clip_out_open(&c->out, in, st, N_KIND, c->from);
    for (int k = 0; k < N_KIND; k++)
        c->os[k].st = st[k];
    if (err < 0)
        return err;
    for (int k = 0; k < N_KIND; k++) {
        ostream_t *o = &c->os[k];
        if (!o->st)
            continue;
        o->to_ts = av_rescale_q(c->to - c->from, AV_TIME_BASE_Q, o->st->time_base);
        o->lag_ts = av_rescale_q(AUDIO_LAG_US, AV_TIME_BASE_Q, o->st->time_base);
        o->last_dts = o->min_pts = o->max_end = AV_NOPTS_VALUE;
    }
    return 0;
}

static int write_out(clip_t *c, source_t *s, int k, AVPacket *pkt)
{
    ostream_t *o = &c->os[k];
    cl_clip_result_t *res = c->res;
    cl_clip_part_t *part = s->part;
    int64_t end = pkt->pts + pkt->duration;
    if (k == V) {
        if (res->video_packets++ == 0)
            res->first_keyframe = wall(c, V, pkt->pts);
        part->video_packets++;
        if (part->covered_from == CL_TIME_NONE || wall(c, V, pkt->pts) < part->covered_from)
            part->covered_from = wall(c, V, pkt->pts);
        if (part->covered_to == CL_TIME_NONE || wall(c, V, end) > part->covered_to)
            part->covered_to = wall(c, V, end);
    } else {
        res->audio_packets++;
        part->audio_packets++;
    }
    if (o->min_pts == AV_NOPTS_VALUE || pkt->pts < o->min_pts)
        o->min_pts = pkt->pts;
    if (o->max_end == AV_NOPTS_VALUE || end > o->max_end)
        o->max_end = end;
    return cl_clip_out_write(&c->out, pkt);
}

/* Writes (or, when the file was cut short, drops) the packets held back. */
static int flush_pending(clip_t *c, source_t *s, int drop)
{
    int err = 0;
    for (int k = 0; k < N_KIND; k++) {
        AVPacket *pkt = s->pending[k];
        s->pending[k] = NULL;
        if (pkt && drop)
            av_packet_free(&pkt);
        else if (pkt && err >= 0)
            err = write_out(c, s, k, pkt);
        else
            av_packet_free(&pkt);
    }
    return err;
}

/* Nothing more of the window can come from s: video has reached `to`, and
 * audio has too, or s has none. */
static int source_done(const clip_t *c, const source_t *s)
{
    return c->os[V].done && (!c->os[A].st || c->os[A].done || s->index[A] < 0);
}

/* Places one packet on the output timeline and decides whether it belongs
 * in the clip. Takes pkt. Returns 0 or a muxer error. */
static int copy_packet(clip_t *c, source_t *s, int k, AVPacket *pkt)
{
    ostream_t *o = k >= 0 ? &c->os[k] : NULL;
    if (!o || !o->st || s->stop) {
        av_packet_free(&pkt);
        return 0;
    }
    if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
        part_status(s, CL_CLIP_PART_TRUNCATED, "cut short or corrupt at byte %lld",
                    (long long)pkt->pos);
        s->stop = 1;
        av_packet_free(&pkt);
        return 0;
    }
    int64_t pts = out_ts(c, s, k, pkt->pts), dts = out_ts(c, s, k, pkt->dts);
    if (o->done) {
        if (k == V && dts >= o->to_ts + o->lag_ts && c->os[A].st)
            c->os[A].done = 1;
    } else if (k == V ? dts >= o->to_ts : pts >= o->to_ts) {
        /* With B-frames, a frame before `to` can follow a reference after
         * it in decode order, never one whose dts is at or after `to`. */
        o->done = 1;
    } else if (o->last_dts != AV_NOPTS_VALUE && dts <= o->last_dts) {
        c->res->dropped_packets++;
        if (k == V)
            s->need_key = 1;
    } else if (k == V && s->need_key && !(pkt->flags & AV_PKT_FLAG_KEY)) {
        c->res->dropped_packets++;
    } else {
        if (k == V) {
            s->need_key = 0;
            c->started = 1;
        }
        pkt->duration = av_rescale_q(pkt->duration > 0 ? pkt->duration : s->last_dur[k],
                                     in_stream(s, k)->time_base, o->st->time_base);
        pkt->pts = pts;
        pkt->dts = dts;
        pkt->pos = -1;
        pkt->stream_index = o->st->index;
        o->last_dts = dts;
        /* Held back one packet per stream: the last packet of a file cut
         * short may be incomplete, and only the end of the file tells. */
        AVPacket *prev = s->pending[k];
        s->pending[k] = pkt;
        s->stop = source_done(c, s);
        return prev ? write_out(c, s, k, prev) : 0;
    }
    s->stop = source_done(c, s);
    av_packet_free(&pkt);
    return 0;
}

/* Drops the queued packets of the video stream. */
static void queue_drop_video(clip_t *c, int video_index)
{
    size_t j = 0;
    for (size_t i = 0; i < c->nq; i++) {
        if (c->queue[i]->stream_index == video_index)
            av_packet_free(&c->queue[i]);
        else
            c->queue[j++] = c->queue[i];
    }
    c->nq = j;
}

/* Where to seek first, in the video time base: the keyframe at or before
 * `from` when the index gave the keyframes; else `from` itself. */
static int64_t first_seek(const clip_t *c, const source_t *s, int exact)
{
    AVRational tb = in_stream(s, V)->time_base;
    int64_t rel = c->from - s->def->start, at = rel;
    const int64_t *kf = s->def->keyframes_us;
    for (size_t i = 0; kf && i < s->def->n_keyframes && kf[i] <= rel; i++)
        at = kf[i] - (exact ? 0 : SEEK_MARGIN_US);
    return s->first_pts + av_rescale_q(FFMAX(at, 0), AV_TIME_BASE_Q, tb);
}

/* Seeks to the last keyframe at or before `from` and queues the packets
 * from there up to the first video packet whose dts reaches `from`.
 * Containers with an index (MP4, Matroska) land on that keyframe. MPEG-TS
 * seeks by bisection to some frame at or before the time asked: when no
 * keyframe at or before `from` follows, the next attempt seeks earlier and
 * reads only up to where the previous one landed. */
static int seek_start(clip_t *c, source_t *s)
{
    AVRational tb = in_stream(s, V)->time_base;
    int exact = is_mov(s) || is_matroska(s);
    int64_t target = s->first_pts + av_rescale_q(c->from - s->def->start, AV_TIME_BASE_Q, tb);
    int64_t step = av_rescale_q(SEEK_STEP_US, AV_TIME_BASE_Q, tb), bound = target;
    int64_t at = FFMIN(first_seek(c, s, exact), target);
    for (int attempt = 0; attempt < MAX_SEEKS; attempt++, at = FFMAX(at - step, s->first_pts), step *= 2) {
        int64_t key = AV_NOPTS_VALUE, landed = AV_NOPTS_VALUE;
        int err, k;
        AVPacket *pkt;
        if (attempt == MAX_SEEKS - 1)
            at = s->first_pts;
        queue_clear(c);
        forget_timestamps(s);
        s->read_err = 0;
        if ((err = av_seek_frame(s->fmt, s->index[V], at, AVSEEK_FLAG_BACKWARD)) < 0) {
            if (err == AVERROR(ENOMEM))
                return -ENOMEM;
            if (s->file.io_errno)
                break;
            continue;
        }
        while ((err = read_packet(s, &pkt, &k)) >= 0) {
            int is_key = k == V && (pkt->flags & AV_PKT_FLAG_KEY);
            if (k == V && landed == AV_NOPTS_VALUE)
                landed = pkt->dts;
            if (is_key && pkt->pts <= target) {
                queue_drop_video(c, s->index[V]);
                key = pkt->pts;
            }
            /* A keyframe after `from`, or past where the last attempt
             * landed: no keyframe at or before `from` from here on. */
            if (k == V && key == AV_NOPTS_VALUE && (is_key || pkt->dts >= bound)) {
                av_packet_free(&pkt);
                break;
            }
            int reached = k == V && pkt->dts >= target;
            if (k == V && key == AV_NOPTS_VALUE)
                av_packet_free(&pkt);
            else if ((err = queue_push(c, pkt)) < 0)
                return err;
            if (reached)
                break;
        }
        if (err == AVERROR(ENOMEM))
            return -ENOMEM;
        if (key == AV_NOPTS_VALUE && at > s->first_pts) {
            if (landed != AV_NOPTS_VALUE)
                bound = FFMIN(bound, landed);
            continue;
        }
        if (err < 0)
            s->read_err = err;
        /* Audio that ends before the keyframe plays before the clip. */
        size_t j = 0;
        for (size_t i = 0; i < c->nq; i++) {
            AVPacket *p = c->queue[i];
            if (key != AV_NOPTS_VALUE && p->stream_index == s->index[A] &&
                av_rescale_q(p->pts + p->duration, in_stream(s, A)->time_base, tb) <= key)
                av_packet_free(&c->queue[i]);
            else
                c->queue[j++] = p;
        }
        c->nq = j;
        return 0;
    }
    if (s->file.io_errno)
        return read_failed(c, s);
    return source_failed(c, s, -EIO, "cannot seek to the keyframe before the window");
}

/* Copies what source s holds of the window. */
static int copy_source(clip_t *c, source_t *s)
{
    int err = 0, k;
    for (size_t i = 0; i < c->nq; i++) {
        AVPacket *pkt = c->queue[i];
        c->queue[i] = NULL;
        if (err >= 0)
            err = copy_packet(c, s, kind_of(s, pkt->stream_index), pkt);
        else
            av_packet_free(&pkt);
    }
    c->nq = 0;
    if (err < 0)
        return err;
    int rerr = s->read_err;
    AVPacket *pkt;
    while (!s->stop && rerr >= 0 && (rerr = read_packet(s, &pkt, &k)) >= 0)
        if ((err = copy_packet(c, s, k, pkt)) < 0)
            return err;
    int drop = 0;
    if (!s->stop && rerr < 0) {
        if (rerr == AVERROR(ENOMEM))
            return -ENOMEM;
        if (s->file.io_errno)
            return read_failed(c, s);
        if (rerr != AVERROR_EOF)
            part_status(s, CL_CLIP_PART_TRUNCATED, "unreadable after byte %lld: %s",
                        (long long)s->io_pos, av_err2str(rerr));
        else if (s->file.truncated) {
            part_status(s, CL_CLIP_PART_TRUNCATED, "%s", s->file.cut_reason);
            drop = 1;
        }
    }
    return flush_pending(c, s, drop);
}

/* Opens source s and copies its part of the window. Returns 0 (also when
 * it is a gap) or a negative error that fails the cut. */
static int cut_source(clip_t *c, source_t *s)
{
    int err = open_source(c, s);
    if (err)
        return err > 0 ? 0 : err;
    /* mov knows where the video starts without reading a frame; when the
     * source is to be read from its start, that costs nothing anyway. */
    int seek = !c->started && c->from > s->def->start;
    s->first_pts = AV_NOPTS_VALUE;
    if (seek && is_mov(s))
        s->first_pts = in_stream(s, V)->start_time;
    if (s->first_pts == AV_NOPTS_VALUE && (err = read_first_pts(c, s)) < 0)
        return err;
    if (s->file.io_errno)
        return read_failed(c, s);
    if (s->first_pts == AV_NOPTS_VALUE) {
        part_status(s, CL_CLIP_PART_TRUNCATED, "no complete video frame");
        return 0;
    }
    const char *why;
    if (!c->out.oc && (err = open_output(c, s)) < 0) {
        snprintf(c->res->error, sizeof(c->res->error), "%s: %s", c->out.part_path, av_err2str(err));
        return cl_clip_out_errno(err);
    }
    if ((why = mismatch(c, s))) {
        part_status(s, CL_CLIP_PART_INCOMPATIBLE, "%s", why);
        return 0;
    }
    if (s->index[A] >= 0 && !c->os[A].st) {
        in_stream(s, A)->discard = AVDISCARD_ALL;
        s->index[A] = -1;
    }
    for (int k = 0; k < N_KIND; k++)
        if (s->index[k] >= 0)
            s->offset[k] =
                av_rescale_q(s->def->start - c->from, AV_TIME_BASE_Q, c->os[k].st->time_base) -
                av_rescale_q(s->first_pts, in_stream(s, V)->time_base, c->os[k].st->time_base);
    s->part->status = CL_CLIP_PART_COPIED;
    s->need_key = 1;
    if (seek && (err = seek_start(c, s)) < 0)
        return err;
    if ((err = copy_source(c, s)) < 0 && !c->res->error[0])
        snprintf(c->res->error, sizeof(c->res->error), "%s: %s", c->out.part_path, av_err2str(err));
    return err < 0 ? cl_clip_out_errno(err) : 0;
}

int cl_clip_cut(const cl_clip_source_t *src, size_t n, cl_time_t from, cl_time_t to,
                const char *out_path, cl_clip_result_t *res)
{
    clip_t c = {.res = res, .from = from, .to = to};
    int err = 0;
    memset(res, 0, sizeof(*res));
    res->first_keyframe = res->covered_from = res->covered_to = CL_TIME_NONE;
    if (!src || !n || !out_path || !*out_path || from == CL_TIME_NONE || to == CL_TIME_NONE ||
        from >= to) {
        snprintf(res->error, sizeof(res->error), "no sources, no output path, or an empty window");
        return -EINVAL;
    }
    if (!(res->parts = calloc(n, sizeof(*res->parts))) ||
        cl_clip_out_init(&c.out, out_path) < 0) {
        err = -ENOMEM;
        goto out;
    }
    res->n_parts = n;
    for (size_t i = 0; i < n; i++)
        res->parts[i].covered_from = res->parts[i].covered_to = CL_TIME_NONE;

    for (size_t i = 0; i < n && !c.os[V].done; i++) {
        if ((src[i].end != CL_TIME_NONE && src[i].end <= from) || src[i].start >= to)
            continue;
        source_t s = {.def = &src[i], .part = &res->parts[i], .file = {.fd = -1}};
        err = cut_source(&c, &s);
        queue_clear(&c);
        close_source(&s);
        s.part->bytes_read = s.file.bytes_read;
        res->bytes_read += s.file.bytes_read;
        if (err < 0)
            goto out;
    }
    if (!res->video_packets || wall(&c, V, c.os[V].max_end) <= from) {
        snprintf(res->error, sizeof(res->error), "no footage in the window");
        err = -ENODATA;
        goto out;
    }
    res->has_audio = c.os[A].st != NULL;
    res->covered_from = wall(&c, V, c.os[V].min_pts);
    res->covered_to = wall(&c, V, c.os[V].max_end);
    res->duration_us = res->covered_to - from;
    err = cl_clip_out_finish(&c.out, res);

out:
    if (err == -ENOMEM && !res->error[0])
        snprintf(res->error, sizeof(res->error), "out of memory");
    cl_clip_out_dispose(&c.out, err < 0);
    queue_clear(&c);
    free(c.queue);
    return err;
}

void cl_clip_result_dispose(cl_clip_result_t *res)
{
    if (!res)
        return;
    free(res->parts);
    res->parts = NULL;
    res->n_parts = 0;
}
