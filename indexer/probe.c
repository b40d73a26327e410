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
#include <libavutil/intreadwrite.h>
#include <libavutil/mathematics.h>

/* Index reads (moov, Cues) are small and scattered: a small buffer keeps the
 * bytes read near the size of the index. Packet reading is sequential. */
#define INDEX_BUF_SIZE (4 * 1024)
#define PACKET_BUF_SIZE (256 * 1024)
/* Only garbage that keeps a demuxer busy should hit this: a minute, plus
 * 100 ns a byte (10 MB/s) for files that must be read whole. */
#define DEADLINE_BASE_NS (60 * INT64_C(1000000000))
#define DEADLINE_NS_PER_BYTE 100
#define MAX_TOP_BOXES 1000000
#define MAX_HEADER_BOX (64 * 1024 * 1024)
/* Cues this far apart, or this far before the end, are not one per
 * keyframe: no camera GOP is that long. */
#define MAX_CUE_GAP_US (10 * CL_USEC_PER_SEC)

/* count samples whose pts - dts is offset, as in an MP4 ctts box. */
typedef struct cts_run {
    uint32_t count;
    int32_t offset;
} cts_run_t;

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
    int fd;
    int64_t size;
    int64_t io_pos;
    int64_t deadline_ns;
    int io_errno;
    int timed_out;
    int64_t read_limit; /* bytes_read past which reads fail, or 0 */
    size_t kf_cap;
    const AVInputFormat *ifmt;
    AVIOContext *pb;
    AVFormatContext *fmt;
    AVStream *st;
    /* What the file's own structure says, read before the demuxer runs. */
    int has_moov;
    int64_t moov_off, moov_len;
    int64_t last_moof;  /* offset of the last complete moof box, or -1 */
    uint8_t *moov;      /* the moov, copied as the demuxer reads it */
    int64_t moov_got;   /* bytes of it copied, from its start */
    cts_run_t *cts;     /* composition offsets of the video samples, in order */
    size_t n_cts, cts_cap;
    int64_t cts_samples;
    int truncated;
    char cut_reason[128];
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

static void __attribute__((format(printf, 2, 3)))
mark_cut(probe_t *p, const char *fmt, ...)
{
    va_list ap;
    if (p->truncated)
        return;
    p->truncated = 1;
    va_start(ap, fmt);
    vsnprintf(p->cut_reason, sizeof(p->cut_reason), fmt, ap);
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

/* pread that counts what it read; keeps errno in p->io_errno. */
static ssize_t read_at(probe_t *p, void *buf, size_t len, int64_t off)
{
    ssize_t n;
    do
        n = pread(p->fd, buf, len, off);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        p->io_errno = errno;
        return -1;
    }
    p->out->bytes_read += n;
    return n;
}

static int io_read(void *opaque, uint8_t *buf, int len)
{
    probe_t *p = opaque;
    if (interrupted(p) || (p->read_limit && p->out->bytes_read > p->read_limit))
        return AVERROR_EXIT;
    ssize_t n = read_at(p, buf, (size_t)len, p->io_pos);
    if (n < 0)
        return AVERROR(p->io_errno);
    if (n == 0)
        return AVERROR_EOF;
    int64_t from = FFMAX(p->io_pos, p->moov_off + p->moov_got);
    int64_t to = FFMIN(p->io_pos + n, p->moov_off + p->moov_len);
    if (p->moov && p->io_pos <= p->moov_off + p->moov_got && from < to) {
        memcpy(p->moov + (from - p->moov_off), buf + (from - p->io_pos), (size_t)(to - from));
        p->moov_got = to - p->moov_off;
    }
    p->io_pos += n;
    return (int)n;
}

static int64_t io_seek(void *opaque, int64_t offset, int whence)
{
    probe_t *p = opaque;
    int64_t pos;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return p->size;
    case SEEK_SET: pos = offset; break;
    case SEEK_CUR: pos = p->io_pos + offset; break;
    case SEEK_END: pos = p->size + offset; break;
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
    if (p->io_errno)
        set_status(p, CL_REC_UNREADABLE, "read: %s", strerrordesc_np(p->io_errno));
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

static int push_cts(probe_t *p, uint32_t count, int32_t offset)
{
    cts_run_t *last = p->n_cts ? &p->cts[p->n_cts - 1] : NULL;
    p->cts_samples += count;
    if (count == 0)
        return 0;
    if (last && last->offset == offset && last->count <= UINT32_MAX - count) {
        last->count += count;
        return 0;
    }
    cts_run_t *v = grow(p->cts, &p->cts_cap, p->n_cts, sizeof(*v));
    if (!v)
        return -ENOMEM;
    p->cts = v;
    p->cts[p->n_cts++] = (cts_run_t){count, offset};
    return 0;
}

/* The next box in [*b, end): its type and its body [*body, *body_end). */
static int next_box(const uint8_t **b, const uint8_t *end, uint32_t *type,
                    const uint8_t **body, const uint8_t **body_end)
{
    size_t left = (size_t)(end - *b), hdr = 8;
    if (left < 8)
        return 0;
    uint64_t size = AV_RB32(*b);
    if (size == 1 && left >= 16) {
        size = AV_RB64(*b + 8);
        hdr = 16;
    } else if (size == 0) {
        size = left;
    }
    if (size < hdr || size > left)
        return 0;
    *type = AV_RB32(*b + 4);
    *body = *b + hdr;
    *body_end = *b + size;
    *b += size;
    return 1;
}

static const uint8_t *child(const uint8_t *b, const uint8_t **end, uint32_t type)
{
    const uint8_t *body, *body_end;
    uint32_t t;
    while (next_box(&b, *end, &t, &body, &body_end))
        if (t == type) {
            *end = body_end;
            return body;
        }
    return NULL;
}

/* ctts of the video track: moov/trak/mdia/minf/stbl/ctts. */
static int parse_moov(probe_t *p, const uint8_t *b, const uint8_t *end)
{
    static const uint32_t path[] = {MKBETAG('m', 'd', 'i', 'a'), MKBETAG('m', 'i', 'n', 'f'),
                                    MKBETAG('s', 't', 'b', 'l'), MKBETAG('c', 't', 't', 's')};
    const uint8_t *trak, *x, *xe;
    uint32_t t;
    while (next_box(&b, end, &t, &trak, &xe)) {
        const uint8_t *tkhd_end = xe, *tkhd = child(trak, &tkhd_end, MKBETAG('t', 'k', 'h', 'd'));
        if (t != MKBETAG('t', 'r', 'a', 'k') || !tkhd || tkhd_end - tkhd < 24 ||
            AV_RB32(tkhd + (tkhd[0] == 1 ? 20 : 12)) != (uint32_t)p->st->id)
            continue;
        x = trak;
        for (size_t i = 0; i < 4 && x; i++)
            x = child(x, &xe, path[i]);
        if (!x || xe - x < 8 || AV_RB32(x + 4) > (size_t)(xe - x - 8) / 8)
            return 0;
        for (uint32_t i = 0; i < AV_RB32(x + 4); i++) {
            int err = push_cts(p, AV_RB32(x + 8 + 8 * i), (int32_t)AV_RB32(x + 12 + 8 * i));
            if (err)
                return err;
        }
        return 0;
    }
    return 0;
}

/* The sample composition offsets of the video track's trun boxes. */
static int parse_moof(probe_t *p, const uint8_t *b, const uint8_t *end)
{
    const uint8_t *traf, *traf_end, *x, *body, *body_end;
    uint32_t t;
    int err;
    while (next_box(&b, end, &t, &traf, &traf_end)) {
        const uint8_t *tfhd_end = traf_end, *tfhd = child(traf, &tfhd_end, MKBETAG('t', 'f', 'h', 'd'));
        if (t != MKBETAG('t', 'r', 'a', 'f') || !tfhd || tfhd_end - tfhd < 8 ||
            AV_RB32(tfhd + 4) != (uint32_t)p->st->id)
            continue;
        for (x = traf; next_box(&x, traf_end, &t, &body, &body_end);) {
            if (t != MKBETAG('t', 'r', 'u', 'n') || body_end - body < 8)
                continue;
            uint32_t flags = AV_RB24(body + 1), n = AV_RB32(body + 4);
            size_t hdr = 8 + (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
            size_t per = 4 * (size_t)(!!(flags & 0x100) + !!(flags & 0x200) +
                                      !!(flags & 0x400) + !!(flags & 0x800));
            if (hdr > (size_t)(body_end - body) ||
                (per && n > (size_t)(body_end - body - hdr) / per))
                return 0;
            const uint8_t *s = body + hdr;
            for (uint32_t i = 0; i < n && (flags & 0x800); i++)
                if ((err = push_cts(p, 1, (int32_t)AV_RB32(s + per * i + per - 4))) < 0)
                    return err;
            if (!(flags & 0x800) && (err = push_cts(p, n, 0)) < 0)
                return err;
        }
    }
    return 0;
}

/* Walks the top-level boxes: one that runs past the end means the file was
 * cut; no moov means a regular MP4 cut before its index was written. With
 * collect, also reads every moof for the composition offsets (pts - dts) of
 * the video track, which the demuxer keeps to itself. */
static int walk_mov(probe_t *p, int collect)
{
    uint8_t *box = NULL;
    int64_t off = 0;
    int err = 0;
    p->last_moof = -1;
    for (int i = 0; i < MAX_TOP_BOXES && off < p->size && !err; i++) {
        uint8_t h[16];
        ssize_t n = read_at(p, h, sizeof(h), off);
        uint64_t size = n >= 8 ? AV_RB32(h) : 0;
        if (n >= 8 && size == 1)
            size = n >= 16 ? AV_RB64(h) : 0;
        else if (n >= 8 && size == 0)
            size = (uint64_t)(p->size - off);
        if (n < 0 || (n >= 8 && size > 0 && size < 8))
            break;
        if (size == 0) {
            mark_cut(p, "cut short inside a box header at byte %lld", (long long)off);
            break;
        }
        if (size > (uint64_t)(p->size - off)) {
            mark_cut(p, "cut short at %lld of %lld bytes", (long long)p->size,
                     (long long)(off + (int64_t)size));
            break;
        }
        int moov = memcmp(h + 4, "moov", 4) == 0, moof = memcmp(h + 4, "moof", 4) == 0;
        if (moov && !p->has_moov) {
            p->has_moov = 1;
            p->moov_off = off;
            p->moov_len = (int64_t)size;
        }
        if (moof)
            p->last_moof = off;
        if (collect && moof && size <= MAX_HEADER_BOX) {
            uint8_t *v = realloc(box, size);
            if (!v) {
                err = -ENOMEM;
                break;
            }
            box = v;
            if (read_at(p, box, size, off) != (ssize_t)size)
                break;
            err = parse_moof(p, box + (AV_RB32(h) == 1 ? 16 : 8), box + size);
        }
        off += (int64_t)size;
    }
    free(box);
    return err;
}

static int read_vint(const uint8_t *b, size_t len, uint64_t *v, int *unknown)
{
    if (len < 1 || b[0] == 0)
        return -1;
    int n = 1;
    while (!(b[0] & (0x80 >> (n - 1))))
        n++;
    if ((size_t)n > len)
        return -1;
    uint64_t x = b[0] & (0xFF >> n);
    int ones = x == (uint64_t)(0xFF >> n);
    for (int i = 1; i < n; i++) {
        x = x << 8 | b[i];
        ones &= b[i] == 0xFF;
    }
    *v = x;
    *unknown = ones;
    return n;
}

/* One EBML element header at off: *hdr bytes of ID and size, then *len
 * bytes of data (*len < 0 when the size is unknown). */
static int read_element(probe_t *p, int64_t off, uint32_t *id, int64_t *hdr, int64_t *len)
{
    uint8_t b[12];
    uint64_t v;
    int unknown, k, kid;
    ssize_t n = read_at(p, b, sizeof(b), off);
    if (n < 2 || (kid = read_vint(b, (size_t)n, &v, &unknown)) < 0 || kid > 4 ||
        (k = read_vint(b + kid, (size_t)n - (size_t)kid, &v, &unknown)) < 0 || v > INT64_MAX / 2)
        return -1;
    *id = 0;
    for (int i = 0; i < kid; i++)
        *id = *id << 8 | b[i];
    *hdr = kid + k;
    *len = unknown ? -1 : (int64_t)v;
    return 0;
}

/* A Segment whose declared size runs past the end of the file was cut. One
 * of unknown size (written live) was cut if its last element runs past the
 * end; an element of unknown size inside it says nothing. */
static void check_mkv_segment(probe_t *p)
{
    uint32_t id;
    int64_t hdr, len, child, end;
    if (read_element(p, 0, &id, &hdr, &len) < 0 || id != 0x1A45DFA3 || len < 0)
        return;
    end = hdr + len;
    if (read_element(p, end, &id, &hdr, &len) < 0 || id != 0x18538067)
        return;
    end += hdr + (len < 0 ? 0 : len);
    for (int i = 0; len < 0 && i < MAX_TOP_BOXES && end < p->size; i++) {
        if (read_element(p, end, &id, &hdr, &child) < 0 || child < 0)
            return;
        end += hdr + child;
    }
    if (end > p->size)
        mark_cut(p, "cut short at %lld of %lld bytes", (long long)p->size, (long long)end);
}

static int check_structure(probe_t *p)
{
    if (is_mov(p)) {
        walk_mov(p, 0);
        if (p->has_moov && p->moov_len <= MAX_HEADER_BOX &&
            !(p->moov = malloc((size_t)p->moov_len)))
            return -ENOMEM;
    } else if (is_matroska(p))
        check_mkv_segment(p);
    else if (strcmp(p->ifmt->name, "mpegts") == 0 && p->size % 188 && p->size % 192 &&
             p->size % 204)
        mark_cut(p, "cut short: %lld bytes is not a whole number of TS packets",
                 (long long)p->size);
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
    if (score < 0 && (p->io_errno || p->timed_out || score == AVERROR(ENOMEM)))
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
                       (pkt->pos >= 0 && pkt->pos + pkt->size > p->size);
            if (last_key && (err = push_keyframe(p, pkt->pts)) < 0)
                break;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    if (err == AVERROR(ENOMEM) || p->io_errno || p->timed_out)
        return fail(p, err, CL_REC_CORRUPT, "read");
    if (err != AVERROR_EOF)
        mark_cut(p, "unreadable after byte %lld (%s)", (long long)avio_tell(p->pb),
                 av_err2str(err));
    if (last_bad && !p->truncated)
        mark_cut(p, "the last frame is incomplete");
    /* A cut TS ends with whatever part of its last frame was written, and
     * nothing in TS tells whether that part is whole. */
    if (last_key && (last_bad || (is_ts && p->truncated))) {
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
    if (p->moov && p->moov_got < p->moov_len &&
        read_at(p, p->moov, (size_t)p->moov_len, p->moov_off) != p->moov_len)
        return fail(p, AVERROR(EIO), CL_REC_CORRUPT, "read moov");
    if (p->moov)
        err = parse_moov(p, p->moov + (AV_RB32(p->moov) == 1 ? 16 : 8), p->moov + p->moov_len);
    if (!err && p->last_moof >= 0)
        err = walk_mov(p, 1);
    if (err)
        return err;
    for (int i = 0; i < n; i++)
        max_pos = FFMAX(max_pos, avformat_index_get_entry(st, i)->pos);
    /* With a sidx or mfra, mov may load fragments only when playback
     * reaches them. */
    if (p->last_moof >= 0 && max_pos < p->last_moof)
        return read_packets(p);
    /* Offsets that do not line up with the index (several edits) are left
     * out: keyframes then all share the first frame's pts - dts. */
    const cts_run_t *run = p->cts_samples == n ? p->cts : NULL;
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
        if (e->pos + e->size > p->size) {
            mark_cut(p, "cut short at byte %lld, inside frame data", (long long)p->size);
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
    if (!p->truncated && st->duration != AV_NOPTS_VALUE && st->duration > span &&
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
    if (p->truncated)
        return reread_packets(p);
    /* Without Cues the seek falls back to scanning every cluster: Cues are
     * a small part of a file, so a seek that reads much more has none. */
    p->read_limit = p->out->bytes_read + 64 * 1024 + p->size / 100;
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
        if (p->truncated)
            set_status(p, CL_REC_CORRUPT, "%s, before its first complete keyframe",
                       p->cut_reason);
        else
            set_status(p, CL_REC_CORRUPT, "no keyframe in the video stream");
        return;
    }
    qsort(out->keyframes_us, out->n_keyframes, sizeof(int64_t), cmp_i64);
    for (size_t i = 0; i < out->n_keyframes; i++)
        out->keyframes_us[i] = av_rescale_q(out->keyframes_us[i] - s->first, tb, AV_TIME_BASE_Q);
    out->duration_us = av_rescale_q(s->end - s->first, tb, AV_TIME_BASE_Q);
    AVRational fr = p->st->avg_frame_rate;
    if (fr.num > 0 && fr.den > 0) {
        out->fps_num = fr.num;
        out->fps_den = fr.den;
    } else if (s->frames > 1 && s->end > s->first) {
        av_reduce(&out->fps_num, &out->fps_den, s->frames * (int64_t)tb.den,
                  (s->end - s->first) * (int64_t)tb.num, 60000);
    }
    if (p->truncated)
        set_status(p, CL_REC_TRUNCATED, "%s; indexed up to the last complete keyframe, at %.3f s",
                   p->cut_reason, (double)out->keyframes_us[out->n_keyframes - 1] / 1e6);
}

int cl_probe_file(const char *path, cl_probe_result_t *out)
{
    probe_t p = {.out = out, .path = path, .fd = -1};
    struct stat sb;
    int err = 0;

    memset(out, 0, sizeof(*out));
    out->creation_time = CL_TIME_NONE;
    out->duration_us = -1;

    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    p.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (p.fd < 0) {
        set_status(&p, CL_REC_UNREADABLE, "open: %s", strerrordesc_np(errno));
        goto out;
    }
    if (fstat(p.fd, &sb) < 0) {
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
    p.size = sb.st_size;
    p.deadline_ns = now_ns() + DEADLINE_BASE_NS + p.size * DEADLINE_NS_PER_BYTE;

    if ((err = identify(&p)) < 0)
        goto out;
    if ((err = check_structure(&p)) < 0)
        goto out;
    if (p.io_errno) {
        err = fail(&p, AVERROR(EIO), CL_REC_UNREADABLE, "read");
        goto out;
    }
    if (is_mov(&p) && !p.has_moov) {
        set_status(&p, CL_REC_CORRUPT, "no moov box: %s before the index was written",
                   p.truncated ? "cut short" : "the recorder stopped");
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
    if (err == -ENOMEM)
        set_status(&p, CL_REC_CORRUPT, "out of memory");
    close_demuxer(&p);
    free(p.cts);
    free(p.moov);
    if (p.fd >= 0)
        close(p.fd);
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
