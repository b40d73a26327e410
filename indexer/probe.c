/* Reading one recording with libavformat. The strategy per container, and
 * why, is in DESIGN.md, "Reading keyframes". */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/mathematics.h>

#include "container.h"

/* Index reads (moov, Cues) are small and scattered: a small buffer keeps the
 * bytes read near the size of the index. Packet reading is sequential. */
#define INDEX_BUF_SIZE (4 * 1024)
#define PACKET_BUF_SIZE (256 * 1024)
/* Only garbage that keeps a demuxer busy should hit this: a minute, plus
 * 100 ns a byte (10 MB/s) for files that must be read whole. */
#define DEADLINE_BASE_NS (60 * INT64_C(1000000000))
#define DEADLINE_NS_PER_BYTE 100
/* Cues this far apart, or this far before the end, are not one per
 * keyframe: no camera GOP is that long. */
#define MAX_CUE_GAP_US (10 * CL_USEC_PER_SEC)

/* Video frames seen, in the stream's time base. */
typedef struct span {
    int64_t first;  /* smallest pts */
    int64_t last;   /* largest pts */
    int64_t end;    /* largest pts + duration */
    int64_t frames; /* 0 when the path does not count them */
} span_t;

typedef struct probe {
    cl_probe_result_t *out;
    const char *path;
    cl_media_file_t file;
    int64_t io_pos;
    int64_t deadline_ns;
    int timed_out;
    int64_t read_limit; /* file.bytes_read past which reads fail, or 0 */
    size_t kf_cap;
    const AVInputFormat *ifmt;
    AVIOContext *pb;
    AVFormatContext *fmt;
    AVStream *st;
    /* What the file's own structure says, read before the demuxer runs. */
    cl_mov_boxes_t mov;
    uint8_t *moov;      /* the moov, copied as the demuxer reads it */
    int64_t moov_got;   /* bytes of it copied, from its start */
    cl_cts_t cts;       /* composition offsets of the video samples, in order */
    span_t span;
} probe_t;

const char *cl_rec_status_name(cl_rec_status_t status)
{
    switch (status) {
    case CL_REC_OK: return "ok";
    case CL_REC_TRUNCATED: return "truncated";
    case CL_REC_CORRUPT: return "corrupt";
    case CL_REC_EMPTY: return "empty";
    case CL_REC_NOT_VIDEO: return "not_video";
    case CL_REC_UNREADABLE: return "unreadable";
    case CL_REC_DELETED: return "deleted";
    }
    return "unknown";
}

static void __attribute__((format(printf, 3, 4)))
set_status(probe_t *p, cl_rec_status_t status, const char *fmt, ...)
{
    va_list ap;
    p->out->status = status;
    va_start(ap, fmt);
    vsnprintf(p->out->error, sizeof(p->out->error), fmt, ap);
    va_end(ap);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

static int interrupted(void *opaque)
{
    probe_t *p = opaque;
    if (!p->timed_out && now_ns() > p->deadline_ns)
        p->timed_out = 1;
    return p->timed_out;
}

static int io_read(void *opaque, uint8_t *buf, int len)
{
    probe_t *p = opaque;
    if (interrupted(p) || (p->read_limit && p->file.bytes_read > p->read_limit))
        return AVERROR_EXIT;
    ssize_t n = cl_media_read_at(&p->file, buf, (size_t)len, p->io_pos);
    if (n < 0)
        return AVERROR(p->file.io_errno);
    if (n == 0)
        return AVERROR_EOF;
    int64_t from = FFMAX(p->io_pos, p->mov.moov_off + p->moov_got);
    int64_t to = FFMIN(p->io_pos + n, p->mov.moov_off + p->mov.moov_len);
    if (p->moov && p->io_pos <= p->mov.moov_off + p->moov_got && from < to) {
        memcpy(p->moov + (from - p->mov.moov_off), buf + (from - p->io_pos), (size_t)(to - from));
        p->moov_got = to - p->mov.moov_off;
    }
    p->io_pos += n;
    return (int)n;
}

static int64_t io_seek(void *opaque, int64_t offset, int whence)
{
    probe_t *p = opaque;
    int64_t pos;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return p->file.size;
    case SEEK_SET: pos = offset; break;
    case SEEK_CUR: pos = p->io_pos + offset; break;
    case SEEK_END: pos = p->file.size + offset; break;
    default: return AVERROR(EINVAL);
    }
    if (pos < 0)
        return AVERROR(EINVAL);
    p->io_pos = pos;
    return pos;
}

/* Records why reading stopped and returns a negative code; only -ENOMEM
 * leaves cl_probe_file. */
static int fail(probe_t *p, int err, cl_rec_status_t status, const char *what)
{
    if (err == AVERROR(ENOMEM))
        return -ENOMEM;
    if (p->file.io_errno)
        set_status(p, CL_REC_UNREADABLE, "read: %s", strerrordesc_np(p->file.io_errno));
    else if (p->timed_out)
        set_status(p, CL_REC_CORRUPT, "%s: gave up, reading took too long", what);
    else
        set_status(p, status, "%s: %s", what, av_err2str(err));
    return err < 0 ? err : -EINVAL;
}

/* The malloc'ed array v with room for element n, or NULL. */
static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return v;
    size_t c = *cap ? *cap * 2 : 64;
    if (!(v = realloc(v, c * size)))
        return NULL;
    *cap = c;
    return v;
}

static int push_keyframe(probe_t *p, int64_t ts)
{
    cl_probe_result_t *out = p->out;
    int64_t *v = grow(out->keyframes_us, &p->kf_cap, out->n_keyframes, sizeof(*v));
    if (!v)
        return -ENOMEM;
    out->keyframes_us = v;
    v[out->n_keyframes++] = ts;
    return 0;
}

static void span_add(span_t *s, const AVPacket *pkt)
{
    int64_t end = pkt->pts + (pkt->duration > 0 ? pkt->duration : 0);
    if (s->frames == 0 || pkt->pts < s->first)
        s->first = pkt->pts;
    if (s->frames == 0 || pkt->pts > s->last)
        s->last = pkt->pts;
    if (s->frames == 0 || end > s->end)
        s->end = end;
    s->frames++;
}

/* The end of the last frame; when the packets carry no duration, one
 * average frame after the last pts. */
static int64_t span_end(const span_t *s)
{
    if (s->end > s->last || s->frames < 2)
        return s->end;
    return s->last + (s->last - s->first) / (s->frames - 1);
}

static int is_mov(const probe_t *p)
{
    return strncmp(p->ifmt->name, "mov,", 4) == 0;
}

static int is_matroska(const probe_t *p)
{
    return strncmp(p->ifmt->name, "matroska", 8) == 0;
}

static int check_structure(probe_t *p)
{
    if (is_mov(p)) {
        cl_mov_walk(&p->file, &p->mov, 0, NULL);
        if (p->mov.has_moov && p->mov.moov_len <= CL_MOV_MAX_HEADER_BOX &&
            !(p->moov = malloc((size_t)p->mov.moov_len)))
            return -ENOMEM;
    } else if (is_matroska(p))
        cl_mkv_check_cut(&p->file);
    else if (strcmp(p->ifmt->name, "mpegts") == 0)
        cl_ts_check_cut(&p->file);
    return 0;
}

static int new_pb(probe_t *p, int buf_size)
{
    uint8_t *buf = av_malloc((size_t)buf_size);
    if (!buf)
        return -ENOMEM;
    p->pb = avio_alloc_context(buf, buf_size, 0, p, io_read, NULL, io_seek);
    if (!p->pb) {
        av_free(buf);
        return -ENOMEM;
    }
    p->io_pos = 0;
    return 0;
}

/* Opens the demuxer at the start of the file: on the AVIOContext that
 * identified it, which still holds the first bytes, or on a fresh one. */
static int open_demuxer(probe_t *p, int buf_size)
{
    if (!p->pb && new_pb(p, buf_size) < 0)
        return -ENOMEM;
    p->fmt = avformat_alloc_context();
    if (!p->fmt)
        return -ENOMEM;
    p->fmt->pb = p->pb;
    p->fmt->interrupt_callback.callback = interrupted;
    p->fmt->interrupt_callback.opaque = p;
    int err = avformat_open_input(&p->fmt, p->path, p->ifmt, NULL);
    if (err < 0)
        return fail(p, err, CL_REC_CORRUPT, "cannot open the container");
    p->st = NULL;
    for (unsigned i = 0; i < p->fmt->nb_streams; i++) {
        AVStream *st = p->fmt->streams[i];
        if (!p->st && st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
            p->st = st;
        else
            st->discard = AVDISCARD_ALL;
    }
    return 0;
}

static void close_demuxer(probe_t *p)
{
    avformat_close_input(&p->fmt);
    if (p->pb)
        av_freep(&p->pb->buffer);
    avio_context_free(&p->pb);
}

/* Identifies the container from its first bytes; a low score is a guess
 * from the file name alone (a text file named .mp4). */
static int identify(probe_t *p)
{
    if (new_pb(p, INDEX_BUF_SIZE) < 0)
        return -ENOMEM;
    int score = av_probe_input_buffer2(p->pb, &p->ifmt, p->path, NULL, 0, 0);
    if (score < 0 || !(is_mov(p) || is_matroska(p)))
        close_demuxer(p);
    if (score < 0 && (p->file.io_errno || p->timed_out || score == AVERROR(ENOMEM)))
        return fail(p, score, CL_REC_CORRUPT, "probe");
    if (score < 0 || score <= AVPROBE_SCORE_RETRY) {
        set_status(p, CL_REC_NOT_VIDEO, "not a media container");
        return -EINVAL;
    }
    return 0;
}

static void describe(probe_t *p)
{
    cl_probe_result_t *out = p->out;
    const AVDictionaryEntry *brand = av_dict_get(p->fmt->metadata, "major_brand", NULL, 0);
    const char *name = p->ifmt->name;
    if (is_mov(p))
        name = brand && strncmp(brand->value, "qt", 2) == 0 ? "mov" : "mp4";
    snprintf(out->container, sizeof(out->container), "%.*s", (int)strcspn(name, ","), name);
    for (unsigned i = 0; i < p->fmt->nb_streams; i++)
        if (p->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
            out->has_audio = 1;
    if (!p->st)
        return;
    const AVCodecParameters *par = p->st->codecpar;
    snprintf(out->codec, sizeof(out->codec), "%s", avcodec_get_name(par->codec_id));
    out->width = par->width;
    out->height = par->height;
    const AVDictionaryEntry *t = av_dict_get(p->fmt->metadata, "creation_time", NULL, 0);
    if (!t)
        t = av_dict_get(p->st->metadata, "creation_time", NULL, 0);
    if (t && cl_time_parse_rfc3339(t->value, &out->creation_time) != 0)
        out->creation_time = CL_TIME_NONE;
}

/* MPEG-TS carries the picture size only in the bitstream, which the
 * demuxer's parser reads (and frees at the end of the file). */
static void size_from_parser(probe_t *p)
{
    const AVCodecParserContext *pc = av_stream_get_parser(p->st);
    if (pc && pc->width > 0 && pc->height > 0) {
        p->out->width = pc->width;
        p->out->height = pc->height;
    }
}

/* Reads every video packet from where the demuxer stands. Used for
 * containers without an index, and when an index cannot be trusted. */
static int read_packets(probe_t *p)
{
    AVPacket *pkt = av_packet_alloc();
    if (!pkt)
        return -ENOMEM;
    int is_ts = strcmp(p->ifmt->name, "mpegts") == 0;
    int last_key = 0, last_bad = 0, err;
    span_t before_last = {0};
    while ((err = av_read_frame(p->fmt, pkt)) >= 0) {
        if (pkt->stream_index == p->st->index && pkt->pts != AV_NOPTS_VALUE) {
            before_last = p->span;
            span_add(&p->span, pkt);
            last_key = !!(pkt->flags & AV_PKT_FLAG_KEY);
            if (p->out->width <= 0)
                size_from_parser(p);
            last_bad = (pkt->flags & AV_PKT_FLAG_CORRUPT) ||
                       (pkt->pos >= 0 && pkt->pos + pkt->size > p->file.size);
            if (last_key && (err = push_keyframe(p, pkt->pts)) < 0)
                break;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    if (err == AVERROR(ENOMEM) || p->file.io_errno || p->timed_out)
        return fail(p, err, CL_REC_CORRUPT, "read");
    if (err != AVERROR_EOF)
        cl_media_mark_cut(&p->file, "unreadable after byte %lld (%s)", (long long)avio_tell(p->pb),
                 av_err2str(err));
    if (last_bad && !p->file.truncated)
        cl_media_mark_cut(&p->file, "the last frame is incomplete");
    /* A cut TS ends with whatever part of its last frame was written, and
     * nothing in TS tells whether that part is whole. */
    if (last_key && (last_bad || (is_ts && p->file.truncated))) {
        p->out->n_keyframes--;
        p->span = before_last;
    }
    p->span.end = span_end(&p->span);
    return 0;
}

/* Starts over with a fresh demuxer at the first byte, for packet reading. */
static int reread_packets(probe_t *p)
{
    close_demuxer(p);
    p->out->n_keyframes = 0;
    memset(&p->span, 0, sizeof(p->span));
    int err = open_demuxer(p, PACKET_BUF_SIZE);
    return err < 0 ? err : read_packets(p);
}

/* mov keeps every sample in its index, in decode order with decode times;
 * pts = dts + the sample's composition offset (constants such as an edit
 * list's shift cancel out in offsets from the first frame). */
static int index_mov(probe_t *p)
{
    AVStream *st = p->st;
    int n = avformat_index_get_entries_count(st);
    int64_t max_pos = -1, dts_first = 0, dts_last = 0;
    int err = 0;
    if (p->moov && p->moov_got < p->mov.moov_len &&
        cl_media_read_at(&p->file, p->moov, (size_t)p->mov.moov_len, p->mov.moov_off) !=
            p->mov.moov_len)
        return fail(p, AVERROR(EIO), CL_REC_CORRUPT, "read moov");
    if (p->moov)
        err = cl_mov_moov_cts(p->moov, (size_t)p->mov.moov_len, (uint32_t)st->id, &p->cts);
    if (!err && p->mov.last_moof >= 0)
        err = cl_mov_walk(&p->file, &p->mov, (uint32_t)st->id, &p->cts);
    if (err)
        return err;
    for (int i = 0; i < n; i++)
        max_pos = FFMAX(max_pos, avformat_index_get_entry(st, i)->pos);
    /* With a sidx or mfra, mov may load fragments only when playback
     * reaches them. */
    if (p->mov.last_moof >= 0 && max_pos < p->mov.last_moof)
        return read_packets(p);
    /* Offsets that do not line up with the index (several edits) are left
     * out: keyframes then all share the first frame's pts - dts. */
    const cl_cts_run_t *run = p->cts.samples == n ? p->cts.runs : NULL;
    uint32_t used = 0;
    span_t *s = &p->span;
    for (int i = 0; i < n; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        int64_t pts = e->timestamp + (run ? run->offset : 0);
        if (run && ++used == run->count) {
            run++;
            used = 0;
        }
        if (e->flags & AVINDEX_DISCARD_FRAME)
            continue;
        if (e->pos + e->size > p->file.size) {
            cl_media_mark_cut(&p->file, "cut short at byte %lld, inside frame data",
                              (long long)p->file.size);
            break;
        }
        if ((e->flags & AVINDEX_KEYFRAME) && (err = push_keyframe(p, pts)) < 0)
            return err;
        if (s->frames == 0 || pts < s->first)
            s->first = pts;
        if (s->frames++ == 0)
            dts_first = e->timestamp;
        dts_last = e->timestamp;
    }
    if (s->frames == 0)
        return 0;
    /* The index has no durations. The track's own duration ends the last
     * frame when it agrees with the index; else one average frame does. */
    int64_t span = dts_last - dts_first;
    int64_t avg = s->frames > 1 ? span / (s->frames - 1) : 0;
    int64_t total = span + avg;
    if (!p->file.truncated && st->duration != AV_NOPTS_VALUE && st->duration > span &&
        (s->frames == 1 || st->duration - span <= 2 * avg))
        total = st->duration;
    s->end = s->first + total;
    return 0;
}

/* The end of the video track from the DURATION tag that ffmpeg and
 * mkvmerge write ("HH:MM:SS.nnnnnnnnn"), in the stream's time base. */
static int mkv_duration_tag(const probe_t *p, int64_t *end)
{
    const AVDictionaryEntry *t = av_dict_get(p->st->metadata, "DURATION", NULL, 0);
    unsigned h, m;
    double s;
    if (!t || sscanf(t->value, "%u:%u:%lf", &h, &m, &s) != 3 || m > 59 || s < 0 || s >= 60)
        return -1;
    int64_t us = (int64_t)(h * 3600 + m * 60) * CL_USEC_PER_SEC + (int64_t)(s * 1e6 + 0.5);
    *end = av_rescale_q(us, AV_TIME_BASE_Q, p->st->time_base);
    return 0;
}

/* Reads the video packets from the keyframe at ts to the end: where the
 * last frame ends, and whether a keyframe the Cues do not list shows up. */
static int read_mkv_tail(probe_t *p, int64_t ts, int64_t last_cue, int *sparse)
{
    AVPacket *pkt = av_packet_alloc();
    span_t tail = {0};
    int err = av_seek_frame(p->fmt, p->st->index, ts, AVSEEK_FLAG_BACKWARD);
    if (!pkt)
        return -ENOMEM;
    while (err >= 0 && (err = av_read_frame(p->fmt, pkt)) >= 0) {
        if (pkt->stream_index == p->st->index && pkt->pts != AV_NOPTS_VALUE) {
            span_add(&tail, pkt);
            if ((pkt->flags & AV_PKT_FLAG_KEY) && pkt->pts != ts && pkt->pts != last_cue)
                *sparse = 1;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    if (err != AVERROR_EOF)
        return err;
    p->span.end = span_end(&tail);
    return 0;
}

/* Matroska parses its Cues on the first seek. */
static int index_mkv(probe_t *p)
{
    AVStream *st = p->st;
    if (p->file.truncated)
        return reread_packets(p);
    /* Without Cues the seek falls back to scanning every cluster: Cues are
     * a small part of a file, so a seek that reads much more has none. */
    p->read_limit = p->file.bytes_read + 64 * 1024 + p->file.size / 100;
    int err = av_seek_frame(p->fmt, st->index, 0, AVSEEK_FLAG_BACKWARD);
    int n = avformat_index_get_entries_count(st);
    p->read_limit = 0;
    if (err < 0 || n < 1)
        return reread_packets(p);
    for (int i = 0; i < n; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if ((e->flags & AVINDEX_KEYFRAME) && (err = push_keyframe(p, e->timestamp)) < 0)
            return err;
    }
    size_t nk = p->out->n_keyframes;
    if (nk == 0)
        return reread_packets(p);
    int64_t *kf = p->out->keyframes_us;
    AVPacket *pkt = av_packet_alloc();
    if (!pkt)
        return -ENOMEM;
    p->span.first = kf[0];
    while ((err = av_read_frame(p->fmt, pkt)) >= 0) {
        int mine = pkt->stream_index == st->index && pkt->pts != AV_NOPTS_VALUE;
        if (mine && pkt->pts < p->span.first)
            p->span.first = pkt->pts;
        av_packet_unref(pkt);
        if (mine)
            break;
    }
    av_packet_free(&pkt);
    if (err < 0)
        return reread_packets(p);

    int sparse = 0;
    if (mkv_duration_tag(p, &p->span.end) < 0) {
        err = read_mkv_tail(p, kf[nk > 1 ? nk - 2 : 0], kf[nk - 1], &sparse);
        if (err == -ENOMEM)
            return err;
        if (err < 0)
            return reread_packets(p);
    }
    int64_t gap_max = av_rescale_q(MAX_CUE_GAP_US, AV_TIME_BASE_Q, st->time_base);
    int64_t mean = nk > 1 ? (kf[nk - 1] - kf[0]) / (int64_t)(nk - 1) : 0;
    if (sparse || mean > gap_max || p->span.end - kf[nk - 1] > FFMAX(gap_max, 2 * mean))
        return reread_packets(p);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Turns what was read into offsets from the first frame and a status. */
static void finish(probe_t *p)
{
    cl_probe_result_t *out = p->out;
    const span_t *s = &p->span;
    AVRational tb = p->st->time_base;
    if (out->n_keyframes == 0) {
        if (p->file.truncated)
            set_status(p, CL_REC_CORRUPT, "%s, before its first complete keyframe",
                       p->file.cut_reason);
        else
            set_status(p, CL_REC_CORRUPT, "no keyframe in the video stream");
        return;
    }
    qsort(out->keyframes_us, out->n_keyframes, sizeof(int64_t), cmp_i64);
    /* A damaged file can hold a keyframe twice (a duplicated block): keep
     * one of each time. */
    size_t k = 0;
    for (size_t i = 0; i < out->n_keyframes; i++) {
        int64_t t = av_rescale_q(out->keyframes_us[i] - s->first, tb, AV_TIME_BASE_Q);
        if (k == 0 || t != out->keyframes_us[k - 1])
            out->keyframes_us[k++] = t;
    }
    out->n_keyframes = k;
    out->duration_us = av_rescale_q(s->end - s->first, tb, AV_TIME_BASE_Q);
    if (out->keyframes_us[0] < 0 || out->duration_us < out->keyframes_us[k - 1]) {
        /* Parts of the file out of order (swapped fragments): no timeline to
         * trust. */
        out->n_keyframes = 0;
        out->duration_us = -1;
        set_status(p, CL_REC_CORRUPT, "timestamps run backwards: parts of the file are out of order");
        return;
    }
    AVRational fr = p->st->avg_frame_rate;
    if (fr.num > 0 && fr.den > 0) {
        out->fps_num = fr.num;
        out->fps_den = fr.den;
    } else if (s->frames > 1 && s->end > s->first) {
        av_reduce(&out->fps_num, &out->fps_den, s->frames * (int64_t)tb.den,
                  (s->end - s->first) * (int64_t)tb.num, 60000);
    }
    if (p->file.truncated)
        set_status(p, CL_REC_TRUNCATED, "%s; indexed up to the last complete keyframe, at %.3f s",
                   p->file.cut_reason, (double)out->keyframes_us[out->n_keyframes - 1] / 1e6);
}

int cl_probe_file(const char *path, cl_probe_result_t *out)
{
    probe_t p = {.out = out, .path = path, .file = {.fd = -1}};
    struct stat sb;
    int err = 0;

    memset(out, 0, sizeof(*out));
    out->creation_time = CL_TIME_NONE;
    out->duration_us = -1;

    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    p.file.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (p.file.fd < 0) {
        set_status(&p, CL_REC_UNREADABLE, "open: %s", strerrordesc_np(errno));
        goto out;
    }
    if (fstat(p.file.fd, &sb) < 0) {
        set_status(&p, CL_REC_UNREADABLE, "stat: %s", strerrordesc_np(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        set_status(&p, CL_REC_UNREADABLE, "not a regular file");
        goto out;
    }
    if (sb.st_size == 0) {
        set_status(&p, CL_REC_EMPTY, "empty file");
        goto out;
    }
    p.file.size = sb.st_size;
    p.deadline_ns = now_ns() + DEADLINE_BASE_NS + p.file.size * DEADLINE_NS_PER_BYTE;

    if ((err = identify(&p)) < 0)
        goto out;
    if ((err = check_structure(&p)) < 0)
        goto out;
    if (p.file.io_errno) {
        err = fail(&p, AVERROR(EIO), CL_REC_UNREADABLE, "read");
        goto out;
    }
    if (is_mov(&p) && !p.mov.has_moov) {
        set_status(&p, CL_REC_CORRUPT, "no moov box: %s before the index was written",
                   p.file.truncated ? "cut short" : "the recorder stopped");
        err = -EINVAL;
        goto out;
    }
    err = open_demuxer(&p, is_mov(&p) || is_matroska(&p) ? INDEX_BUF_SIZE : PACKET_BUF_SIZE);
    if (err < 0)
        goto out;
    describe(&p);
    if (!p.st) {
        set_status(&p, CL_REC_NOT_VIDEO, "no video stream%s", out->has_audio ? " (audio only)" : "");
        err = -EINVAL;
        goto out;
    }
    if (is_mov(&p))
        err = index_mov(&p);
    else if (is_matroska(&p))
        err = index_mkv(&p);
    else
        err = read_packets(&p);
    if (err == 0)
        finish(&p);

out:
    out->bytes_read = p.file.bytes_read;
    if (err == -ENOMEM)
        set_status(&p, CL_REC_CORRUPT, "out of memory");
    close_demuxer(&p);
    cl_cts_dispose(&p.cts);
    free(p.moov);
    if (p.file.fd >= 0)
        close(p.file.fd);
    if (out->status != CL_REC_OK && out->status != CL_REC_TRUNCATED) {
        free(out->keyframes_us);
        out->keyframes_us = NULL;
        out->n_keyframes = 0;
    }
    return err == -ENOMEM ? -ENOMEM : 0;
}

void cl_probe_result_dispose(cl_probe_result_t *r)
{
    if (!r)
        return;
    free(r->keyframes_us);
    r->keyframes_us = NULL;
    r->n_keyframes = 0;
}
