/* Reading container structure straight from the file, for what the
 * demuxers do not tell: see container.h and DESIGN.md, "Reading keyframes". */
#include "container.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/intreadwrite.h>
#include <libavutil/macros.h>

/* Bounds the walk over a file of garbage. */
#define MAX_TOP_BOXES 1000000

ssize_t cl_media_read_at(cl_media_file_t *f, void *buf, size_t len, int64_t off)
{
    ssize_t n;
    do
        n = pread(f->fd, buf, len, off);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        f->io_errno = errno;
        return -1;
    }
    f->bytes_read += n;
    return n;
}

void cl_media_mark_cut(cl_media_file_t *f, const char *fmt, ...)
{
    va_list ap;
    if (f->truncated)
        return;
    f->truncated = 1;
    va_start(ap, fmt);
    vsnprintf(f->cut_reason, sizeof(f->cut_reason), fmt, ap);
    va_end(ap);
}

void cl_cts_dispose(cl_cts_t *cts)
{
    free(cts->runs);
    memset(cts, 0, sizeof(*cts));
}

static int push_cts(cl_cts_t *cts, uint32_t count, int32_t offset)
{
    cl_cts_run_t *last = cts->n ? &cts->runs[cts->n - 1] : NULL;
    cts->samples += count;
    if (count == 0)
        return 0;
    if (last && last->offset == offset && last->count <= UINT32_MAX - count) {
        last->count += count;
        return 0;
    }
    if (cts->n == cts->cap) {
        size_t cap = cts->cap ? cts->cap * 2 : 64;
        cl_cts_run_t *v = realloc(cts->runs, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        cts->runs = v;
        cts->cap = cap;
    }
    cts->runs[cts->n++] = (cl_cts_run_t){count, offset};
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

int cl_mov_moov_cts(const uint8_t *moov, size_t len, uint32_t track_id, cl_cts_t *cts)
{
    static const uint32_t path[] = {MKBETAG('m', 'd', 'i', 'a'), MKBETAG('m', 'i', 'n', 'f'),
                                    MKBETAG('s', 't', 'b', 'l'), MKBETAG('c', 't', 't', 's')};
    const uint8_t *b = moov + (AV_RB32(moov) == 1 ? 16 : 8), *end = moov + len;
    const uint8_t *trak, *x, *xe;
    uint32_t t;
    while (next_box(&b, end, &t, &trak, &xe)) {
        const uint8_t *tkhd_end = xe, *tkhd = child(trak, &tkhd_end, MKBETAG('t', 'k', 'h', 'd'));
        if (t != MKBETAG('t', 'r', 'a', 'k') || !tkhd || tkhd_end - tkhd < 24 ||
            AV_RB32(tkhd + (tkhd[0] == 1 ? 20 : 12)) != track_id)
            continue;
        x = trak;
        for (size_t i = 0; i < 4 && x; i++)
            x = child(x, &xe, path[i]);
        if (!x || xe - x < 8 || AV_RB32(x + 4) > (size_t)(xe - x - 8) / 8)
            return 0;
        for (uint32_t i = 0; i < AV_RB32(x + 4); i++) {
            int err = push_cts(cts, AV_RB32(x + 8 + 8 * i), (int32_t)AV_RB32(x + 12 + 8 * i));
            if (err)
                return err;
        }
        return 0;
    }
    return 0;
}

/* The sample composition offsets of the track's trun boxes in one moof
 * body [b, end). */
static int parse_moof(const uint8_t *b, const uint8_t *end, uint32_t track_id, cl_cts_t *cts)
{
    const uint8_t *traf, *traf_end, *x, *body, *body_end;
    uint32_t t;
    int err;
    while (next_box(&b, end, &t, &traf, &traf_end)) {
        const uint8_t *tfhd_end = traf_end;
        const uint8_t *tfhd = child(traf, &tfhd_end, MKBETAG('t', 'f', 'h', 'd'));
        if (t != MKBETAG('t', 'r', 'a', 'f') || !tfhd || tfhd_end - tfhd < 8 ||
            AV_RB32(tfhd + 4) != track_id)
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
                if ((err = push_cts(cts, 1, (int32_t)AV_RB32(s + per * i + per - 4))) < 0)
                    return err;
            if (!(flags & 0x800) && (err = push_cts(cts, n, 0)) < 0)
                return err;
        }
    }
    return 0;
}

int cl_mov_walk(cl_media_file_t *f, cl_mov_boxes_t *boxes, uint32_t track_id, cl_cts_t *cts)
{
    uint8_t *box = NULL;
    int64_t off = 0;
    int err = 0;
    boxes->last_moof = -1;
    for (int i = 0; i < MAX_TOP_BOXES && off < f->size && !err; i++) {
        uint8_t h[16];
        ssize_t n = cl_media_read_at(f, h, sizeof(h), off);
        uint64_t size = n >= 8 ? AV_RB32(h) : 0, hdr = 8;
        /* size 1: a 64-bit size follows the type (an mdat over 4 GiB). */
        if (n >= 8 && size == 1) {
            size = n >= 16 ? AV_RB64(h + 8) : 0;
            hdr = 16;
        } else if (n >= 8 && size == 0) {
            size = (uint64_t)(f->size - off);
        }
        if (n < 0 || (n >= 8 && size > 0 && size < hdr))
            break;
        if (size == 0) {
            cl_media_mark_cut(f, "cut short inside a box header at byte %lld", (long long)off);
            break;
        }
        if (size > (uint64_t)(f->size - off)) {
            cl_media_mark_cut(f, "cut short at %lld of %llu bytes", (long long)f->size,
                              (unsigned long long)off + size);
            break;
        }
        int moov = memcmp(h + 4, "moov", 4) == 0, moof = memcmp(h + 4, "moof", 4) == 0;
        if (moov && !boxes->has_moov) {
            boxes->has_moov = 1;
            boxes->moov_off = off;
            boxes->moov_len = (int64_t)size;
        }
        if (moof)
            boxes->last_moof = off;
        if (cts && moof && size <= CL_MOV_MAX_HEADER_BOX) {
            uint8_t *v = realloc(box, size);
            if (!v) {
                err = -ENOMEM;
                break;
            }
            box = v;
            if (cl_media_read_at(f, box, size, off) != (ssize_t)size)
                break;
            err = parse_moof(box + (AV_RB32(h) == 1 ? 16 : 8), box + size, track_id, cts);
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
static int read_element(cl_media_file_t *f, int64_t off, uint32_t *id, int64_t *hdr,
                        int64_t *len)
{
    uint8_t b[12];
    uint64_t v;
    int unknown, k, kid;
    ssize_t n = cl_media_read_at(f, b, sizeof(b), off);
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

/* An element of unknown size inside a live Segment says nothing. */
void cl_mkv_check_cut(cl_media_file_t *f)
{
    uint32_t id;
    int64_t hdr, len, child, end;
    if (read_element(f, 0, &id, &hdr, &len) < 0 || id != 0x1A45DFA3 || len < 0)
        return;
    end = hdr + len;
    if (read_element(f, end, &id, &hdr, &len) < 0 || id != 0x18538067)
        return;
    end += hdr + (len < 0 ? 0 : len);
    for (int i = 0; len < 0 && i < MAX_TOP_BOXES && end < f->size; i++) {
        if (read_element(f, end, &id, &hdr, &child) < 0 || child < 0)
            return;
        end += hdr + child;
    }
    if (end > f->size)
        cl_media_mark_cut(f, "cut short at %lld of %lld bytes", (long long)f->size,
                          (long long)end);
}

void cl_ts_check_cut(cl_media_file_t *f)
{
    if (f->size % 188 && f->size % 192 && f->size % 204)
        cl_media_mark_cut(f, "cut short: %lld bytes is not a whole number of TS packets",
                          (long long)f->size);
}
