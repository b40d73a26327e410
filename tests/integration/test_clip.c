/* cl_clip_cut against the ffprobe oracle, on recordings made with the ffmpeg
 * CLI: consecutive 20 s segments of one 60 s encode, as a recorder writes
 * them, in MP4 (with and without B-frames), Matroska and MPEG-TS; and
 * recordings that are missing, cut short, overlapping or unreadable. */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/log.h>
#include <libavutil/macros.h>

#include "clip.h"
#include "probe.h"

#define FF "ffmpeg -nostdin -v error -y"
#define SRC "-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000" \
            " -t 60 -g 50"
#define SEG "-c:a aac -f segment -segment_time 20 -reset_timestamps 1"
#define FRAME_US 40000
#define MS 1000
#define SEC(s) ((cl_time_t)llround((s) * 1e6))

static char *dir;
static cl_time_t base; /* the wall time of the first frame of every set */

/* A video packet as ffprobe lists it. */
typedef struct opkt {
    double pts, dts; /* seconds; dts is NAN when ffprobe does not know it */
    int key;
    int64_t pos, size;
} opkt_t;

typedef struct olist {
    opkt_t *v;
    size_t n;
} olist_t;

/* A recording and what the oracle says of it. */
typedef struct rec {
    char path[512];
    cl_time_t start, end;
    double first_pts;
    olist_t pk;
    size_t limit;            /* packets on disk (a file cut short has fewer) */
    cl_probe_result_t probe; /* its keyframes, as the index has them */
} rec_t;

typedef struct set {
    rec_t r[3];
    size_t n;
} set_t;

/* A packet of the clip, or one it must hold, on the wall clock. */
typedef struct wpkt {
    cl_time_t pts, dts;
    int key;
} wpkt_t;

static set_t set_a, set_b, set_k, set_ts; /* plain MP4, B-frames MP4, Matroska, MPEG-TS */

static const char *fx(const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    return p;
}

static olist_t oracle_packets(const char *file)
{
    char *out, *save = NULL;
    int rc = cl_t_sh_capture(&out,
        "ffprobe -v error -select_streams v:0 -show_entries packet=pts_time,dts_time,size,pos,flags"
        " -of compact=p=0 '%s'", file);
    assert_int_equal(rc, 0);
    olist_t l = {0};
    size_t cap = 0;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *p = strstr(line, "pts_time="), *d = strstr(line, "dts_time=");
        const char *sz = strstr(line, "size="), *pos = strstr(line, "pos="), *f = strstr(line, "flags=");
        if (!p || !f || strncmp(p + 9, "N/A", 3) == 0)
            continue;
        if (l.n == cap) {
            cap = cap ? cap * 2 : 256;
            assert_non_null(l.v = realloc(l.v, cap * sizeof(*l.v)));
        }
        l.v[l.n++] = (opkt_t){
            .pts = strtod(p + 9, NULL),
            .dts = d && strncmp(d + 9, "N/A", 3) != 0 ? strtod(d + 9, NULL) : NAN,
            .key = strchr(f + 6, 'K') != NULL,
            .pos = pos ? strtoll(pos + 4, NULL, 10) : -1,
            .size = sz ? strtoll(sz + 5, NULL, 10) : 0,
        };
    }
    free(out);
    assert_true(l.n > 0);
    return l;
}

/* Describes recording i of s: path, oracle, probe; it starts where the one
 * before ends. */
static void load_rec(set_t *s, size_t i, const char *name)
{
    rec_t *r = &s->r[i];
    snprintf(r->path, sizeof(r->path), "%s", fx(name));
    assert_int_equal(cl_probe_file(r->path, &r->probe), 0);
    assert_int_equal(r->probe.status, CL_REC_OK);
    r->start = i ? s->r[i - 1].end : base;
    r->end = r->start + r->probe.duration_us;
    r->pk = oracle_packets(r->path);
    r->limit = r->pk.n;
    r->first_pts = r->pk.v[0].pts;
    for (size_t j = 0; j < r->pk.n; j++)
        r->first_pts = fmin(r->first_pts, r->pk.v[j].pts);
    s->n = FFMAX(s->n, i + 1);
}

static void load_set(set_t *s, const char *fmt)
{
    char name[64];
    for (size_t i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), fmt, (int)i);
        load_rec(s, i, name);
    }
}

static void free_set(set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->r[i].pk.v);
        cl_probe_result_dispose(&s->r[i].probe);
    }
    memset(s, 0, sizeof(*s));
}

static int make_fixtures(void **state)
{
    (void)state;
    av_log_set_level(AV_LOG_QUIET);
    assert_int_equal(cl_time_parse_rfc3339("2026-11-21T21:40:00+07:00", &base), 0);
    dir = cl_t_mkdtemp("clip");
    int rc = cl_t_sh(
        "cd '%s' && ("
        FF " " SRC " -c:v libx264 -preset ultrafast -bf 0 " SEG " a%%d.mp4 &"
        FF " " SRC " -c:v libx264 -preset veryfast -bf 3 " SEG " b%%d.mp4 &"
        FF " " SRC " -c:v libx264 -preset ultrafast " SEG " t%%d.ts &"
        "wait) && "
        "for i in 0 1 2; do " FF " -i b$i.mp4 -c copy k$i.mkv || exit 1; done && "
        FF " -i a1.mp4 -c copy -movflags +faststart f1.mp4 && "
        "head -c $(( $(stat -c %%s f1.mp4) * 6 / 10 )) f1.mp4 > cut_f1.mp4 && "
        "n=$(( $(stat -c %%s t1.ts) * 6 / 10 )); "
        "while [ $((n %% 188)) = 0 ] || [ $((n %% 192)) = 0 ] || [ $((n %% 204)) = 0 ]; do"
        "  n=$((n + 1)); done; head -c $n t1.ts > cut_t1.ts && "
        "mkdir dir.mp4 && printf 'camera 12 notes\\n' > text.mp4 && "
        "for f in a2.mp4 b2.mp4 t2.ts k2.mkv; do test -s $f || exit 1; done",
        dir);
    assert_int_equal(rc, 0);
    load_set(&set_a, "a%d.mp4");
    load_set(&set_b, "b%d.mp4");
    load_set(&set_k, "k%d.mkv");
    load_set(&set_ts, "t%d.ts");
    return 0;
}

static int remove_fixtures(void **state)
{
    (void)state;
    free_set(&set_a);
    free_set(&set_b);
    free_set(&set_k);
    free_set(&set_ts);
    cl_t_rmtree(dir);
    free(dir);
    return 0;
}

/* The sources of recordings first..last of s; with hints, their keyframes. */
static size_t sources(const set_t *s, size_t first, size_t last, int hints, cl_clip_source_t *src)
{
    for (size_t i = first; i <= last; i++) {
        const rec_t *r = &s->r[i];
        src[i - first] = (cl_clip_source_t){.path = r->path, .start = r->start, .end = r->end};
        if (hints) {
            src[i - first].keyframes_us = r->probe.keyframes_us;
            src[i - first].n_keyframes = r->probe.n_keyframes;
        }
    }
    return last - first + 1;
}

static cl_time_t wall_of(const rec_t *r, double t)
{
    return r->start + (cl_time_t)llround((t - r->first_pts) * 1e6);
}

/* The video packets the clip must hold, in decode order, from the oracle:
 * from the last keyframe at or before `from`, every packet up to the first
 * whose dts reaches `to`; a packet not after the last one kept is left out,
 * and after that, or at the start of a recording, video resumes at a
 * keyframe. Recordings are those of s[first..last] whose path is on disk. */
static size_t expected(const set_t *s, size_t first, size_t last, cl_time_t from, cl_time_t to,
                       wpkt_t **out)
{
    size_t n = 0, cap = 0, start = 0, kept = 0;
    wpkt_t *all = NULL;
    size_t *rec_of = NULL;
    for (size_t i = first; i <= last; i++) {
        const rec_t *r = &s->r[i];
        if (access(r->path, F_OK) != 0 || r->end <= from || r->start >= to)
            continue;
        for (size_t j = 0; j < r->limit; j++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                assert_non_null(all = realloc(all, cap * sizeof(*all)));
                assert_non_null(rec_of = realloc(rec_of, cap * sizeof(*rec_of)));
            }
            const opkt_t *p = &r->pk.v[j];
            all[n] = (wpkt_t){wall_of(r, p->pts), wall_of(r, isnan(p->dts) ? p->pts : p->dts), p->key};
            rec_of[n++] = i;
        }
    }
    for (size_t j = 0; j < n; j++)
        if (all[j].key && all[j].pts <= from && (j == 0 || rec_of[j] == rec_of[0]))
            start = j;
    cl_time_t last_dts = CL_TIME_NONE;
    int need_key = 1;
    for (size_t j = start; j < n && all[j].dts < to; j++) {
        if (j > start && rec_of[j] != rec_of[j - 1])
            need_key = 1;
        if (last_dts != CL_TIME_NONE && all[j].dts <= last_dts) {
            need_key = 1;
            continue;
        }
        if (need_key && !all[j].key)
            continue;
        need_key = 0;
        last_dts = all[j].dts;
        all[kept++] = all[j];
    }
    free(rec_of);
    *out = all;
    return kept;
}

/* One value from ffprobe -show_entries for a stream, or NAN. */
static double probe_value(const char *file, const char *stream, const char *entry)
{
    char *out;
    int rc = cl_t_sh_capture(&out, "ffprobe -v error -select_streams %s -show_entries stream=%s"
                             " -of csv=p=0 '%s'", stream, entry, file);
    assert_int_equal(rc, 0);
    char *slash;
    double v = strncmp(out, "N/A", 3) == 0 || !*out ? NAN : strtod(out, &slash);
    if (*slash == '/') /* a time base */
        v /= strtod(slash + 1, NULL);
    free(out);
    return v;
}

/* media_time of the last edit of the video track (track 0), from the mov
 * demuxer's trace; 0 when the track has no edit list. */
static int64_t edit_media_time(const char *file)
{
    char *out;
    int rc = cl_t_sh_capture(&out, "ffprobe -v trace '%s' 2>&1", file);
    assert_int_equal(rc, 0);
    int64_t t = 0;
    const char *p = strstr(out, "track[0].edit_count"), *end = strstr(out, "track[1].edit_count");
    while (p && (p = strstr(p, " time=")) && (!end || p < end)) {
        t = strtoll(p + 6, NULL, 10);
        p += 6;
    }
    free(out);
    return t;
}

static void assert_sha256(const char *file, const char *hex)
{
    char *out;
    assert_int_equal(cl_t_sh_capture(&out, "sha256sum '%s'", file), 0);
    assert_int_equal(strlen(hex), 64);
    assert_memory_equal(out, hex, 64);
    free(out);
}

static void assert_no_part_files(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".part-"))
            fail_msg("left behind: %s", e->d_name);
    closedir(d);
}

/* Checks the clip at out, cut from s by r, against the packets it must
 * hold. ends_at_to: the footage covers `to`, so the clip ends there, within
 * a frame (and, with B-frames, the references of the frames before it). */
static void check_clip(const char *out, const cl_clip_result_t *r, const set_t *s, cl_time_t from,
                       cl_time_t to, const wpkt_t *want, size_t n_want, int ends_at_to)
{
    int64_t reorder = 0; /* how far B-frames put a frame after its decode time */
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->r[i].pk.n; j++)
            if (!isnan(s->r[i].pk.v[j].dts))
                reorder = FFMAX(reorder, SEC(s->r[i].pk.v[j].pts - s->r[i].pk.v[j].dts));
    olist_t got = oracle_packets(out);
    if (got.n != n_want)
        fail_msg("%s: %zu video packets, want %zu", out, got.n, n_want);
    assert_int_equal(r->video_packets, (int64_t)n_want);
    assert_true(got.v[0].key);
    assert_true(want[0].key);
    /* The demuxer starts its timeline at the first frame at or after the
     * edit: a shift of less than a frame, the same for every packet. */
    cl_time_t shift = want[0].pts - (from + SEC(got.v[0].pts));
    assert_true(shift > -MS && shift < FRAME_US);
    cl_time_t covered_from = want[0].pts, covered_to = want[0].pts;
    for (size_t i = 0; i < got.n; i++) {
        cl_time_t pts = from + SEC(got.v[i].pts) + shift, dts = from + SEC(got.v[i].dts) + shift;
        if (llabs(pts - want[i].pts) > MS || llabs(dts - want[i].dts) > MS || got.v[i].key != want[i].key)
            fail_msg("%s: packet %zu at %" PRId64 "/%" PRId64 " us, want %" PRId64 "/%" PRId64, out, i,
                     pts - from, dts - from, want[i].pts - from, want[i].dts - from);
        if (i > 0 && !(got.v[i].dts > got.v[i - 1].dts))
            fail_msg("%s: dts does not increase at packet %zu", out, i);
        covered_from = FFMIN(covered_from, want[i].pts);
        covered_to = FFMAX(covered_to, want[i].pts + FRAME_US);
    }
    free(got.v);
    assert_true(llabs(r->first_keyframe - want[0].pts) <= MS);
    assert_true(llabs(r->covered_from - covered_from) <= MS);
    assert_true(llabs(r->covered_to - covered_to) <= MS);
    assert_int_equal(r->duration_us, r->covered_to - from);
    if (ends_at_to)
        assert_true(r->covered_to >= to && r->covered_to - to <= reorder + FRAME_US);
    /* Playback starts at `from`: at 0 when the footage covers it, else
     * after the gap; the edit skips the frames before it. */
    double start = probe_value(out, "v:0", "start_time");
    cl_time_t want_start = FFMAX(covered_from - from, 0);
    assert_true(llabs(SEC(start) - want_start) < FRAME_US);
    if (covered_from < from) {
        const opkt_t *k = NULL;
        for (size_t i = 0; i < s->n && !k; i++)
            for (size_t j = 0; j < s->r[i].pk.n && !k; j++)
                if (s->r[i].pk.v[j].key && llabs(wall_of(&s->r[i], s->r[i].pk.v[j].pts) - want[0].pts) <= MS)
                    k = &s->r[i].pk.v[j];
        assert_non_null(k);
        double timescale = 1.0 / probe_value(out, "v:0", "time_base");
        int64_t media = edit_media_time(out);
        int64_t expect = llround((double)(from - want[0].pts) / 1e6 * timescale +
                                 (isnan(k->dts) ? 0 : (k->pts - k->dts) * timescale));
        if (llabs(media - expect) > 2)
            fail_msg("%s: edit list media_time %" PRId64 ", want %" PRId64, out, media, expect);
    }
    assert_true(r->has_audio);
    assert_true(r->audio_packets > 0);
    assert_false(isnan(probe_value(out, "a:0", "sample_rate")));
    struct stat st;
    assert_int_equal(stat(out, &st), 0);
    assert_int_equal(r->bytes_written, st.st_size);
    assert_sha256(out, r->sha256);
    assert_no_part_files();
}

/* Bytes read at most 1.2 times the clip plus the largest GOP of s. */
static void assert_read_budget(const cl_clip_result_t *r, const set_t *s)
{
    int64_t gop = 0;
    for (size_t i = 0; i < s->n; i++) {
        const olist_t *l = &s->r[i].pk;
        int64_t last = -1;
        for (size_t j = 0; j < l->n; j++) {
            if (!l->v[j].key)
                continue;
            if (last >= 0)
                gop = FFMAX(gop, l->v[j].pos - last);
            last = l->v[j].pos;
        }
    }
    int64_t budget = r->bytes_written * 6 / 5 + gop;
    if (r->bytes_read > budget)
        fail_msg("read %" PRId64 " bytes for a clip of %" PRId64 " (budget %" PRId64 ", GOP %" PRId64 ")",
                 r->bytes_read, r->bytes_written, budget, gop);
}

/* Cuts [from, to) (seconds after base) from s[first..last] and checks the
 * clip against the oracle. */
static void cut_and_check(const set_t *s, size_t first, size_t last, double from_s, double to_s,
                          int hints, cl_clip_result_t *r)
{
    cl_clip_source_t src[3];
    cl_time_t from = base + SEC(from_s), to = base + SEC(to_s);
    size_t n = sources(s, first, last, hints, src);
    const char *out = fx("clip.mp4");
    unlink(out);
    int err = cl_clip_cut(src, n, from, to, out, r);
    if (err)
        fail_msg("cl_clip_cut: %d: %s", err, r->error);
    assert_string_equal(r->error, "");
    wpkt_t *want;
    size_t n_want = expected(s, first, last, from, to, &want);
    check_clip(out, r, s, from, to, want, n_want, to <= s->r[last].end);
    free(want);
}

static void test_clip_inside_one_file(void **state)
{
    (void)state;
    cl_clip_result_t r;
    cut_and_check(&set_a, 0, 2, 25.3, 33.7, 0, &r);
    assert_int_equal(r.parts[0].status, CL_CLIP_PART_UNUSED);
    assert_int_equal(r.parts[1].status, CL_CLIP_PART_COPIED);
    assert_int_equal(r.parts[2].status, CL_CLIP_PART_UNUSED);
    assert_int_equal(r.parts[0].bytes_read, 0);
    assert_read_budget(&r, &set_a);
    cl_clip_result_dispose(&r);
}

static void test_clip_starting_on_a_keyframe(void **state)
{
    (void)state;
    cl_clip_result_t r;
    cut_and_check(&set_a, 0, 2, 24.0, 30.0, 0, &r);
    assert_int_equal(r.first_keyframe, base + SEC(24.0));
    assert_int_equal(edit_media_time(fx("clip.mp4")), 0);
    cl_clip_result_dispose(&r);
}

static void test_clip_across_two_files(void **state)
{
    (void)state;
    cl_clip_result_t r;
    cut_and_check(&set_a, 0, 2, 13.1, 27.9, 0, &r);
    assert_int_equal(r.parts[0].status, CL_CLIP_PART_COPIED);
    assert_int_equal(r.parts[1].status, CL_CLIP_PART_COPIED);
    assert_int_equal(r.parts[2].status, CL_CLIP_PART_UNUSED);
    assert_int_equal(r.parts[1].covered_from, set_a.r[1].start);
    assert_int_equal(r.dropped_packets, 0);
    assert_read_budget(&r, &set_a);
    cl_clip_result_dispose(&r);
}

static void test_clip_across_three_files(void **state)
{
    (void)state;
    cl_clip_result_t r;
    cut_and_check(&set_a, 0, 2, 7.5, 52.5, 0, &r);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(r.parts[i].status, CL_CLIP_PART_COPIED);
    assert_int_equal(r.parts[1].covered_to, set_a.r[1].end);
    assert_read_budget(&r, &set_a);
    cl_clip_result_dispose(&r);
}

static void test_clip_bframes_keep_their_references(void **state)
{
    (void)state;
    cl_clip_result_t r;
    cut_and_check(&set_b, 0, 2, 17.3, 42.3, 0, &r);
    assert_read_budget(&r, &set_b);
    cl_clip_result_dispose(&r);
}

/* Matroska stores no dts: the clip must still equal the MP4 one. */
static void test_clip_matroska_bframes(void **state)
{
    (void)state;
    cl_clip_result_t r;
    cl_clip_source_t src[3];
    cl_time_t from = base + SEC(17.3), to = base + SEC(42.3);
    wpkt_t *want;
    size_t n_want = expected(&set_b, 0, 2, from, to, &want);
    assert_int_equal(cl_clip_cut(src, sources(&set_k, 0, 2, 0, src), from, to, fx("clip.mp4"), &r), 0);
    check_clip(fx("clip.mp4"), &r, &set_b, from, to, want, n_want, 1);
    assert_read_budget(&r, &set_k);
    free(want);
    cl_clip_result_dispose(&r);
}

static void test_clip_mpegts_with_index(void **state)
{
    (void)state;
    cl_clip_result_t r;
    cut_and_check(&set_ts, 0, 2, 15.3, 34.9, 1, &r);
    assert_read_budget(&r, &set_ts);
    cl_clip_result_dispose(&r);
}

static void test_clip_mpegts_searches_back_for_the_keyframe(void **state)
{
    (void)state;
    cl_clip_result_t r;
    cut_and_check(&set_ts, 0, 2, 31.1, 44.5, 0, &r);
    assert_int_equal(r.first_keyframe, base + SEC(30.0));
    cl_clip_result_dispose(&r);
}

static void test_clip_missing_file_leaves_a_gap(void **state)
{
    (void)state;
    set_t s = set_a;
    snprintf(s.r[1].path, sizeof(s.r[1].path), "%s", fx("gone.mp4"));
    cl_clip_result_t r;
    cut_and_check(&s, 0, 2, 15.5, 45.5, 0, &r);
    assert_int_equal(r.parts[0].status, CL_CLIP_PART_COPIED);
    assert_int_equal(r.parts[1].status, CL_CLIP_PART_MISSING);
    assert_int_equal(r.parts[2].status, CL_CLIP_PART_COPIED);
    /* The last frame of a0.mp4 is stored 21 ms short of its probed end. */
    assert_true(llabs(r.parts[0].covered_to - set_a.r[0].end) < FRAME_US);
    assert_int_equal(r.parts[2].covered_from, set_a.r[2].start);
    cl_clip_result_dispose(&r);
}

static void test_clip_window_starting_before_the_footage(void **state)
{
    (void)state;
    cl_clip_result_t r;
    cut_and_check(&set_a, 1, 2, 15.0, 25.0, 0, &r);
    assert_int_equal(r.first_keyframe, set_a.r[1].start);
    assert_int_equal(r.covered_from, set_a.r[1].start);
    cl_clip_result_dispose(&r);
}

static void test_clip_truncated_mpegts(void **state)
{
    (void)state;
    set_t s = set_ts;
    rec_t *cut = &s.r[1];
    snprintf(cut->path, sizeof(cut->path), "%s", fx("cut_t1.ts"));
    cut->pk = oracle_packets(cut->path);
    /* The end of a cut TS file may be part of a frame: the last one goes. */
    cut->limit = cut->pk.n - 1;
    cl_clip_result_t r;
    cut_and_check(&s, 0, 2, 15.3, 50.2, 1, &r);
    assert_int_equal(r.parts[1].status, CL_CLIP_PART_TRUNCATED);
    assert_non_null(strstr(r.parts[1].error, "cut short"));
    assert_int_equal(r.parts[2].status, CL_CLIP_PART_COPIED);
    free(cut->pk.v);
    cl_clip_result_dispose(&r);
}

/* An MP4 with its moov first, cut inside the mdat: up to the last whole frame. */
static void test_clip_truncated_mp4(void **state)
{
    (void)state;
    set_t s = set_a;
    rec_t *cut = &s.r[1];
    struct stat st;
    snprintf(cut->path, sizeof(cut->path), "%s", fx("cut_f1.mp4"));
    assert_int_equal(stat(cut->path, &st), 0);
    cut->pk = oracle_packets(fx("f1.mp4"));
    for (cut->limit = 0; cut->limit < cut->pk.n; cut->limit++)
        if (cut->pk.v[cut->limit].pos + cut->pk.v[cut->limit].size > st.st_size)
            break;
    assert_true(cut->limit > 0 && cut->limit < cut->pk.n);
    cl_clip_result_t r;
    cut_and_check(&s, 0, 2, 15.3, 50.2, 0, &r);
    assert_int_equal(r.parts[1].status, CL_CLIP_PART_TRUNCATED);
    assert_int_equal(r.parts[2].status, CL_CLIP_PART_COPIED);
    free(cut->pk.v);
    cl_clip_result_dispose(&r);
}

/* Recordings that overlap by a second: nothing twice, and the second one
 * resumes at its first keyframe after the first one ends. */
static void test_clip_overlapping_files_keep_one_copy(void **state)
{
    (void)state;
    set_t s = set_a;
    s.r[2].start = s.r[1].end - SEC(1);
    s.r[2].end = s.r[2].start + s.r[2].probe.duration_us;
    cl_clip_result_t r;
    cut_and_check(&s, 1, 2, 30.5, 45.5, 0, &r);
    assert_true(r.dropped_packets > 0);
    assert_int_equal(r.parts[1].covered_from, s.r[2].start + SEC(2));
    cl_clip_result_dispose(&r);
}

/* While the clip is being written, libav logs every packet at trace level:
 * at each of those moments the part file exists and the clip's name does
 * not. */
static const char *watched_out, *watched_part;
static int seen_writing, seen_final;

static void watch_names(void *avcl, int level, const char *fmt, va_list vl)
{
    (void)avcl;
    (void)level;
    (void)fmt;
    (void)vl;
    if (access(watched_part, F_OK) == 0)
        seen_writing++;
    if (access(watched_out, F_OK) == 0)
        seen_final++;
}

static void test_clip_final_name_appears_only_when_complete(void **state)
{
    (void)state;
    char part[600], host[256];
    cl_clip_source_t src[3];
    cl_clip_result_t r;
    size_t n = sources(&set_a, 0, 2, 0, src);
    watched_out = fx("watched.mp4");
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    snprintf(part, sizeof(part), "%s.part-%s-%d", watched_out, host, (int)getpid());
    watched_part = part;
    unlink(watched_out);
    av_log_set_callback(watch_names);
    av_log_set_level(AV_LOG_TRACE);
    int err = cl_clip_cut(src, n, base + SEC(13.1), base + SEC(27.9), watched_out, &r);
    av_log_set_level(AV_LOG_QUIET);
    av_log_set_callback(av_log_default_callback);
    assert_int_equal(err, 0);
    assert_true(seen_writing > 100);
    assert_int_equal(seen_final, 0);
    assert_int_equal(access(watched_out, F_OK), 0);
    assert_int_equal(access(part, F_OK), -1);
    cl_clip_result_dispose(&r);
}

/* A source that is there but cannot be read fails the cut midway: the
 * clip's name never appears, an older file under it stays as it was, and
 * no part file is left. */
static void assert_cut_fails(const char *bad_name, int want_err)
{
    set_t s = set_a;
    cl_clip_source_t src[3];
    cl_clip_result_t r;
    snprintf(s.r[1].path, sizeof(s.r[1].path), "%s", fx(bad_name));
    const char *out = fx("failed.mp4");
    unlink(out);
    int err = cl_clip_cut(src, sources(&s, 0, 2, 0, src), base + SEC(15.5), base + SEC(45.5), out, &r);
    assert_int_equal(err, want_err);
    assert_non_null(strstr(r.error, bad_name));
    assert_int_equal(r.parts[0].status, CL_CLIP_PART_COPIED);
    assert_true(r.parts[0].video_packets > 0);
    assert_int_equal(r.parts[1].status, CL_CLIP_PART_FAILED);
    assert_int_equal(access(out, F_OK), -1);
    assert_no_part_files();
    cl_clip_result_dispose(&r);

    assert_int_equal(cl_t_sh("printf 'an earlier clip' > '%s'", out), 0);
    assert_true(cl_clip_cut(src, 3, base + SEC(15.5), base + SEC(45.5), out, &r) < 0);
    assert_int_equal(cl_t_sh("test \"$(cat '%s')\" = 'an earlier clip'", out), 0);
    assert_no_part_files();
    unlink(out);
    cl_clip_result_dispose(&r);
}

static void test_clip_unreadable_source_fails_without_a_file(void **state)
{
    (void)state;
    assert_cut_fails("dir.mp4", -EIO);
    assert_cut_fails("text.mp4", -EIO);
}

static void test_clip_no_footage_in_the_window(void **state)
{
    (void)state;
    cl_clip_source_t src[3];
    cl_clip_result_t r;
    const char *out = fx("none.mp4");
    set_t s = set_a;
    snprintf(s.r[1].path, sizeof(s.r[1].path), "%s", fx("gone.mp4"));
    assert_int_equal(cl_clip_cut(src, sources(&s, 0, 2, 0, src), base + SEC(22), base + SEC(30), out, &r),
                     -ENODATA);
    assert_int_equal(r.parts[1].status, CL_CLIP_PART_MISSING);
    assert_int_equal(access(out, F_OK), -1);
    cl_clip_result_dispose(&r);
    assert_int_equal(cl_clip_cut(src, 3, base + SEC(90), base + SEC(99), out, &r), -ENODATA);
    assert_int_equal(r.parts[2].status, CL_CLIP_PART_UNUSED);
    assert_int_equal(access(out, F_OK), -1);
    assert_no_part_files();
    cl_clip_result_dispose(&r);
}

static void test_clip_rejects_an_empty_window(void **state)
{
    (void)state;
    cl_clip_source_t src[3];
    cl_clip_result_t r;
    size_t n = sources(&set_a, 0, 2, 0, src);
    assert_int_equal(cl_clip_cut(src, n, base + SEC(5), base + SEC(5), fx("x.mp4"), &r), -EINVAL);
    assert_string_not_equal(r.error, "");
    cl_clip_result_dispose(&r);
    assert_int_equal(cl_clip_cut(src, 0, base, base + SEC(5), fx("x.mp4"), &r), -EINVAL);
    cl_clip_result_dispose(&r);
}

/* The hash the caller stores: the helper agrees with sha256sum, and the
 * same window cut twice gives the same bytes. */
static void test_clip_sha256_matches_sha256sum(void **state)
{
    (void)state;
    char hex[65];
    cl_clip_source_t src[3];
    cl_clip_result_t r1, r2;
    size_t n = sources(&set_a, 0, 2, 0, src);
    assert_int_equal(cl_clip_sha256_file(set_a.r[0].path, hex), 0);
    assert_sha256(set_a.r[0].path, hex);
    assert_int_equal(cl_clip_sha256_file(fx("gone.mp4"), hex), -ENOENT);
    assert_int_equal(cl_clip_cut(src, n, base + SEC(3.3), base + SEC(9.9), fx("one.mp4"), &r1), 0);
    assert_int_equal(cl_clip_cut(src, n, base + SEC(3.3), base + SEC(9.9), fx("two.mp4"), &r2), 0);
    assert_string_equal(r1.sha256, r2.sha256);
    assert_int_equal(cl_clip_sha256_file(fx("two.mp4"), hex), 0);
    assert_string_equal(hex, r1.sha256);
    cl_clip_result_dispose(&r1);
    cl_clip_result_dispose(&r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_inside_one_file),
        cmocka_unit_test(test_clip_starting_on_a_keyframe),
        cmocka_unit_test(test_clip_across_two_files),
        cmocka_unit_test(test_clip_across_three_files),
        cmocka_unit_test(test_clip_bframes_keep_their_references),
        cmocka_unit_test(test_clip_matroska_bframes),
        cmocka_unit_test(test_clip_mpegts_with_index),
        cmocka_unit_test(test_clip_mpegts_searches_back_for_the_keyframe),
        cmocka_unit_test(test_clip_missing_file_leaves_a_gap),
        cmocka_unit_test(test_clip_window_starting_before_the_footage),
        cmocka_unit_test(test_clip_truncated_mpegts),
        cmocka_unit_test(test_clip_truncated_mp4),
        cmocka_unit_test(test_clip_overlapping_files_keep_one_copy),
        cmocka_unit_test(test_clip_final_name_appears_only_when_complete),
        cmocka_unit_test(test_clip_unreadable_source_fails_without_a_file),
        cmocka_unit_test(test_clip_no_footage_in_the_window),
        cmocka_unit_test(test_clip_rejects_an_empty_window),
        cmocka_unit_test(test_clip_sha256_matches_sha256sum),
    };
    return cmocka_run_group_tests_name("clip", tests, make_fixtures, remove_fixtures);
}
