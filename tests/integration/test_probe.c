/* cl_probe_file against the ffprobe oracle, on fixtures made with the ffmpeg
 * CLI: every container the recorders write, cut and broken files. */
#include "testlib.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "probe.h"

#define SRC "-f lavfi -i testsrc2=size=320x240:rate=25"
#define SINE "-f lavfi -i sine=frequency=440:sample_rate=48000"
#define X264 "-c:v libx264 -preset ultrafast -g 50"
#define FF "ffmpeg -nostdin -v error -y"

static char *dir;

static const char *fx(const char *name)
{
    static __thread char path[4][512];
    static __thread int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    return p;
}

static uint32_t rb32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void wb64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* wide.mp4: plain.mp4 with its 8-byte free box and the mdat header merged
 * into one mdat header with a 64-bit size, as ffmpeg rewrites an mdat over
 * 4 GiB; no offset moves. shortbox.mp4: frag.mp4 with a last box whose
 * 64-bit size (12) is smaller than its own 16-byte header. */
static void make_box_fixtures(void)
{
    size_t len, off = 0;
    unsigned char *b = cl_t_read_file(fx("plain.mp4"), &len);
    while (off + 16 <= len && !(memcmp(b + off + 4, "free", 4) == 0 && rb32(b + off) == 8 &&
                                memcmp(b + off + 12, "mdat", 4) == 0))
        off += rb32(b + off) >= 8 ? rb32(b + off) : len;
    if (off + 16 > len)
        fail_msg("plain.mp4: no 8-byte free box before the mdat");
    uint64_t mdat = rb32(b + off + 8);
    memcpy(b + off, "\0\0\0\1mdat", 8);
    wb64(b + off + 8, mdat + 8);
    cl_t_write_file(fx("wide.mp4"), b, len);
    free(b);

    b = cl_t_read_file(fx("frag.mp4"), &len);
    memcpy(b + len, "\0\0\0\1moof", 8);
    wb64(b + len + 8, 12);
    cl_t_write_file(fx("shortbox.mp4"), b, len + 16);
    free(b);
}

static int make_fixtures(void **state)
{
    (void)state;
    av_log_set_level(AV_LOG_QUIET);
    dir = cl_t_mkdtemp("probe");
    int rc = cl_t_sh(
        "cd '%s' && ("
        FF " " SRC " -t 30 " X264 " -bf 0 plain.mp4 &"
        FF " " SRC " -t 30 -c:v libx264 -preset veryfast -bf 3 -g 50 bframes.mp4 &"
        FF " " SRC " -t 20 -c:v libx265 -preset ultrafast -x265-params log-level=error:keyint=50"
        "   -tag:v hvc1 hevc.mp4 &"
        FF " " SRC " " SINE " -t 30 " X264 " -c:a aac"
        "   -metadata creation_time=2026-01-02T03:04:05.250000Z mkv.mkv &"
        FF " " SRC " " SINE " -t 30 " X264 " -c:a aac ts.ts &"
        FF " " SRC " -t 30 " X264 " -movflags frag_keyframe+empty_moov+default_base_moof frag.mp4 &"
        FF " -f lavfi -i testsrc2=size=320x240:rate=30000/1001 -t 30 " X264 " ntsc.mp4 &"
        FF " " SRC " -t 20 -c:v libx264 -preset ultrafast -g 1000 -sc_threshold 0"
        "   -force_key_frames 0,1.3,4.7,5.1,12 irregular.mp4 &"
        FF " " SRC " -t 10 " X264 " -metadata creation_time=2026-01-02T03:04:05.250000Z ctime.mp4 &"
        FF " " SINE " -t 5 -c:a aac audio.mp4 &"
        "wait) && "
        FF " -i bframes.mp4 -c copy bframes.mkv && " FF " -i bframes.mp4 -c copy bframes.ts && "
        FF " -i hevc.mp4 -c copy -movflags frag_keyframe+empty_moov+default_base_moof"
        "   hevc_frag.mp4 && "
        /* Written to a pipe: no Cues, a Segment of unknown size. */
        FF " -i mkv.mkv -c copy -f matroska - > live.mkv && "
        "perl -0777 -pe 's/DURATION/XURATION/g' mkv.mkv > notag.mkv && "
        "for f in ts.ts mkv.mkv frag.mp4 plain.mp4 live.mkv; do"
        "  head -c $(( $(stat -c %%s $f) * 6 / 10 )) $f > cut_$f; done && "
        ": > empty.mp4 && printf 'camera 12 notes\\nnot a video\\n' > text.mp4 && "
        "head -c 300000 /dev/urandom > garbage.ts && "
        "{ head -c 4096 mkv.mkv; head -c 300000 /dev/urandom; } > garbage.mkv && "
        "{ head -c 40 plain.mp4; head -c 300000 /dev/urandom; } > garbage.mp4 && "
        "for f in plain bframes hevc frag ntsc irregular ctime audio; do"
        "  test -s $f.mp4 || { echo \"fixture $f.mp4 was not made\"; exit 1; }; done && "
        "test -s mkv.mkv && test -s ts.ts",
        dir);
    assert_int_equal(rc, 0);
    make_box_fixtures();
    return 0;
}

static int remove_fixtures(void **state)
{
    (void)state;
    cl_t_rmtree(dir);
    free(dir);
    return 0;
}

static int64_t to_us(double seconds)
{
    return (int64_t)(seconds * 1e6 + (seconds >= 0 ? 0.5 : -0.5));
}

static int64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* ffprobe's end of the last video frame minus its first pts, in us. */
static int64_t oracle_duration_us(const char *file)
{
    char *out, *save = NULL;
    int rc = cl_t_sh_capture(&out,
        "ffprobe -v error -select_streams v:0 -show_entries packet=pts_time,duration_time "
        "-of csv=p=0 '%s'", file);
    assert_int_equal(rc, 0);
    double first = 0, end = 0;
    int seen = 0;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *comma = strchr(l, ',');
        if (!comma || strncmp(l, "N/A", 3) == 0)
            continue;
        double pts = strtod(l, NULL), dur = strtod(comma + 1, NULL);
        if (!seen || pts < first)
            first = pts;
        if (!seen || pts + dur > end)
            end = pts + dur;
        seen = 1;
    }
    free(out);
    assert_true(seen);
    return to_us(end - first);
}

static void probe_ok(const char *file, cl_probe_result_t *r)
{
    assert_int_equal(cl_probe_file(file, r), 0);
    if (r->status != CL_REC_OK)
        fail_msg("%s: %s: %s", file, cl_rec_status_name(r->status), r->error);
    assert_string_equal(r->error, "");
}

/* Keyframe offsets from the probe against the oracle's of `full`: all of
 * them, or (prefix) the first r->n_keyframes. */
static void assert_keyframes(const char *full, const cl_probe_result_t *r, int prefix)
{
    double *kf, first;
    size_t n = cl_t_oracle_keyframes(full, &kf, &first);
    if (prefix) {
        assert_true(r->n_keyframes >= 1);
        assert_true(r->n_keyframes <= n);
    } else {
        assert_int_equal(r->n_keyframes, n);
    }
    for (size_t i = 0; i < r->n_keyframes; i++) {
        int64_t want = to_us(kf[i] - first);
        if (llabs(r->keyframes_us[i] - want) > 1000)
            fail_msg("%s: keyframe %zu at %" PRId64 " us, oracle %" PRId64 " us", full, i,
                     r->keyframes_us[i], want);
    }
    free(kf);
}

static void assert_matches_oracle(const char *file, const cl_probe_result_t *r)
{
    assert_keyframes(file, r, 0);
    assert_true(llabs(r->duration_us - oracle_duration_us(file)) <= 1000);
}

static void assert_video(const cl_probe_result_t *r, const char *container, const char *codec,
                         int fps_num, int fps_den)
{
    assert_string_equal(r->container, container);
    assert_string_equal(r->codec, codec);
    assert_int_equal(r->width, 320);
    assert_int_equal(r->height, 240);
    assert_int_equal(r->fps_num, fps_num);
    assert_int_equal(r->fps_den, fps_den);
}

static void test_probe_mp4_reads_the_index_only(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("plain.mp4");
    probe_ok(f, &r);
    assert_video(&r, "mp4", "h264", 25, 1);
    assert_false(r.has_audio);
    assert_int_equal(r.creation_time, CL_TIME_NONE);
    assert_matches_oracle(f, &r);
    assert_int_equal(r.keyframes_us[0], 0);
    assert_true(r.bytes_read < file_size(f) / 50);
    cl_probe_result_dispose(&r);
}

static void test_probe_mp4_bframes_match_pts(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("bframes.mp4");
    probe_ok(f, &r);
    assert_video(&r, "mp4", "h264", 25, 1);
    assert_matches_oracle(f, &r);
    assert_true(r.bytes_read < file_size(f) / 50);
    cl_probe_result_dispose(&r);
}

/* x265 makes open GOPs: its keyframes carry a larger pts - dts than the
 * first frame, so each needs its own composition offset (ctts, trun). */
static void test_probe_hevc_open_gop_mp4(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("hevc.mp4");
    probe_ok(f, &r);
    assert_video(&r, "mp4", "hevc", 25, 1);
    assert_matches_oracle(f, &r);
    cl_probe_result_dispose(&r);
}

static void test_probe_hevc_open_gop_fragmented_mp4(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("hevc_frag.mp4");
    probe_ok(f, &r);
    assert_video(&r, "mp4", "hevc", 25, 1);
    assert_matches_oracle(f, &r);
    cl_probe_result_dispose(&r);
}

static void test_probe_mkv_reads_cues(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("mkv.mkv");
    probe_ok(f, &r);
    assert_video(&r, "matroska", "h264", 25, 1);
    assert_true(r.has_audio);
    assert_matches_oracle(f, &r);
    assert_true(r.bytes_read < file_size(f) / 50);
    cl_time_t want;
    assert_int_equal(cl_time_parse_rfc3339("2026-01-02T03:04:05.250Z", &want), 0);
    assert_int_equal(r.creation_time, want);
    cl_probe_result_dispose(&r);
}

static void test_probe_mkv_bframes(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("bframes.mkv");
    probe_ok(f, &r);
    assert_video(&r, "matroska", "h264", 25, 1);
    assert_matches_oracle(f, &r);
    cl_probe_result_dispose(&r);
}

static void test_probe_mkv_without_cues_reads_packets(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("live.mkv");
    probe_ok(f, &r);
    assert_video(&r, "matroska", "h264", 25, 1);
    assert_matches_oracle(f, &r);
    assert_true(r.bytes_read < file_size(f) * 11 / 10);
    cl_probe_result_dispose(&r);
}

/* Without the DURATION tag, the end comes from the last GOP. */
static void test_probe_mkv_without_duration_tag(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("notag.mkv");
    probe_ok(f, &r);
    assert_matches_oracle(f, &r);
    assert_true(r.bytes_read < file_size(f) / 4);
    cl_probe_result_dispose(&r);
}

static void test_probe_ts_reads_packets(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("ts.ts");
    probe_ok(f, &r);
    assert_video(&r, "mpegts", "h264", 25, 1);
    assert_true(r.has_audio);
    assert_matches_oracle(f, &r);
    cl_probe_result_dispose(&r);
}

static void test_probe_ts_bframes(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("bframes.ts");
    probe_ok(f, &r);
    assert_video(&r, "mpegts", "h264", 25, 1);
    assert_matches_oracle(f, &r);
    cl_probe_result_dispose(&r);
}

static void test_probe_fragmented_mp4(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("frag.mp4");
    probe_ok(f, &r);
    assert_video(&r, "mp4", "h264", 25, 1);
    assert_matches_oracle(f, &r);
    assert_true(r.bytes_read < file_size(f) / 10);
    cl_probe_result_dispose(&r);
}

static void test_probe_ntsc_rate(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("ntsc.mp4");
    probe_ok(f, &r);
    assert_video(&r, "mp4", "h264", 30000, 1001);
    assert_matches_oracle(f, &r);
    cl_probe_result_dispose(&r);
}

static void test_probe_irregular_keyframes(void **state)
{
    (void)state;
    static const int64_t want[] = {0, 1320000, 4720000, 5120000, 12000000};
    cl_probe_result_t r;
    const char *f = fx("irregular.mp4");
    probe_ok(f, &r);
    assert_matches_oracle(f, &r);
    assert_int_equal(r.n_keyframes, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(r.keyframes_us[i], want[i]);
    cl_probe_result_dispose(&r);
}

static void assert_truncated(const char *cut, const char *full)
{
    cl_probe_result_t r;
    assert_int_equal(cl_probe_file(fx(cut), &r), 0);
    if (r.status != CL_REC_TRUNCATED)
        fail_msg("%s: %s: %s", cut, cl_rec_status_name(r.status), r.error);
    assert_non_null(strstr(r.error, "cut short"));
    assert_non_null(strstr(r.error, "last complete keyframe"));
    assert_keyframes(fx(full), &r, 1);
    assert_true(r.n_keyframes < 15);
    assert_true(r.duration_us > r.keyframes_us[r.n_keyframes - 1]);
    assert_true(r.duration_us < 30 * CL_USEC_PER_SEC);
    cl_probe_result_dispose(&r);
}

static void test_probe_truncated_ts(void **state)
{
    (void)state;
    assert_truncated("cut_ts.ts", "ts.ts");
}

static void test_probe_truncated_mkv(void **state)
{
    (void)state;
    assert_truncated("cut_mkv.mkv", "mkv.mkv");
}

static void test_probe_truncated_live_mkv(void **state)
{
    (void)state;
    assert_truncated("cut_live.mkv", "live.mkv");
}

static void test_probe_truncated_fragmented_mp4(void **state)
{
    (void)state;
    assert_truncated("cut_frag.mp4", "frag.mp4");
}

/* The walk over the top-level boxes reads a 64-bit box size where it is:
 * after the type. */
static void test_probe_mp4_with_64bit_box_size(void **state)
{
    (void)state;
    cl_probe_result_t r;
    const char *f = fx("wide.mp4");
    probe_ok(f, &r);
    assert_video(&r, "mp4", "h264", 25, 1);
    assert_matches_oracle(f, &r);
    assert_true(r.bytes_read < file_size(f) / 50);
    cl_probe_result_dispose(&r);
}

/* A box smaller than its own header ends the walk instead of being read as
 * a moof (which read past the end of the box). */
static void test_probe_mp4_box_smaller_than_its_header(void **state)
{
    (void)state;
    cl_probe_result_t r, whole;
    probe_ok(fx("frag.mp4"), &whole);
    probe_ok(fx("shortbox.mp4"), &r);
    assert_int_equal(r.n_keyframes, whole.n_keyframes);
    assert_memory_equal(r.keyframes_us, whole.keyframes_us, r.n_keyframes * sizeof(int64_t));
    assert_int_equal(r.duration_us, whole.duration_us);
    cl_probe_result_dispose(&r);
    cl_probe_result_dispose(&whole);
}

static void test_probe_mp4_without_moov_is_corrupt(void **state)
{
    (void)state;
    cl_probe_result_t r;
    assert_int_equal(cl_probe_file(fx("cut_plain.mp4"), &r), 0);
    assert_int_equal(r.status, CL_REC_CORRUPT);
    assert_non_null(strstr(r.error, "moov"));
    assert_int_equal(r.n_keyframes, 0);
    assert_null(r.keyframes_us);
    cl_probe_result_dispose(&r);
}

static void test_probe_empty_file(void **state)
{
    (void)state;
    cl_probe_result_t r;
    assert_int_equal(cl_probe_file(fx("empty.mp4"), &r), 0);
    assert_int_equal(r.status, CL_REC_EMPTY);
    assert_int_equal(r.bytes_read, 0);
    assert_int_equal(r.duration_us, -1);
    cl_probe_result_dispose(&r);
}

static void test_probe_text_file_is_not_video(void **state)
{
    (void)state;
    cl_probe_result_t r;
    assert_int_equal(cl_probe_file(fx("text.mp4"), &r), 0);
    assert_int_equal(r.status, CL_REC_NOT_VIDEO);
    assert_string_equal(r.error, "not a media container");
    cl_probe_result_dispose(&r);
}

static void test_probe_audio_only_is_not_video(void **state)
{
    (void)state;
    cl_probe_result_t r;
    assert_int_equal(cl_probe_file(fx("audio.mp4"), &r), 0);
    assert_int_equal(r.status, CL_REC_NOT_VIDEO);
    assert_non_null(strstr(r.error, "no video stream"));
    assert_true(r.has_audio);
    cl_probe_result_dispose(&r);
}

/* MP4 keeps whole seconds (mvhd); the fraction is Matroska's only. */
static void test_probe_creation_time(void **state)
{
    (void)state;
    cl_probe_result_t r;
    cl_time_t want;
    probe_ok(fx("ctime.mp4"), &r);
    assert_int_equal(cl_time_parse_rfc3339("2026-01-02T03:04:05Z", &want), 0);
    assert_int_equal(r.creation_time, want);
    assert_int_equal(r.n_keyframes, 5);
    cl_probe_result_dispose(&r);
}

static void test_probe_unreadable(void **state)
{
    (void)state;
    cl_probe_result_t r;
    assert_int_equal(cl_probe_file(dir, &r), 0);
    assert_int_equal(r.status, CL_REC_UNREADABLE);
    cl_probe_result_dispose(&r);
    assert_int_equal(cl_probe_file(fx("missing.mp4"), &r), 0);
    assert_int_equal(r.status, CL_REC_UNREADABLE);
    assert_non_null(strstr(r.error, "No such file"));
    cl_probe_result_dispose(&r);
    /* Permission denied: as root the probe runs in a child that has become
     * nobody, since root reads any file. */
    const char *f = fx("locked.mp4");
    assert_int_equal(cl_t_sh("cp '%s' '%s' && chmod 000 '%s'", fx("plain.mp4"), f, f), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        cl_probe_result_t child;
        cl_probe_file(f, &child);
        int ok = child.status == CL_REC_UNREADABLE && strstr(child.error, "Permission denied");
        _exit(ok ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_probe_garbage_never_passes(void **state)
{
    (void)state;
    static const char *const names[] = {"garbage.ts", "garbage.mkv", "garbage.mp4"};
    for (size_t i = 0; i < 3; i++) {
        cl_probe_result_t r;
        assert_int_equal(cl_probe_file(fx(names[i]), &r), 0);
        if (r.status == CL_REC_OK)
            fail_msg("%s: indexed garbage (%zu keyframes)", names[i], r.n_keyframes);
        assert_true(r.error[0] != '\0');
        cl_probe_result_dispose(&r);
    }
}

static const char *const all_files[] = {
    "plain.mp4", "bframes.mp4", "hevc.mp4", "mkv.mkv", "ts.ts", "frag.mp4", "cut_ts.ts",
    "cut_mkv.mkv", "cut_frag.mp4", "cut_plain.mp4", "text.mp4", "audio.mp4", "garbage.mkv",
    "live.mkv", "notag.mkv", "bframes.ts",
};
#define N_FILES (sizeof(all_files) / sizeof(all_files[0]))
#define N_THREADS 4

static cl_probe_result_t serial[N_FILES];

static int same_result(const cl_probe_result_t *a, const cl_probe_result_t *b)
{
    return a->status == b->status && strcmp(a->error, b->error) == 0 &&
           a->n_keyframes == b->n_keyframes && a->duration_us == b->duration_us &&
           a->bytes_read == b->bytes_read &&
           (a->n_keyframes == 0 ||
            memcmp(a->keyframes_us, b->keyframes_us, a->n_keyframes * sizeof(int64_t)) == 0);
}

static void *probe_all(void *arg)
{
    uintptr_t mismatches = 0;
    for (size_t k = 0; k < N_FILES; k++) {
        size_t i = (k + (uintptr_t)arg) % N_FILES;
        cl_probe_result_t r;
        if (cl_probe_file(fx(all_files[i]), &r) != 0 || !same_result(&r, &serial[i]))
            mismatches++;
        cl_probe_result_dispose(&r);
    }
    return (void *)mismatches;
}

static void test_probe_concurrent_probes_agree(void **state)
{
    (void)state;
    pthread_t t[N_THREADS];
    for (size_t i = 0; i < N_FILES; i++)
        assert_int_equal(cl_probe_file(fx(all_files[i]), &serial[i]), 0);
    for (uintptr_t i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, probe_all, (void *)i), 0);
    uintptr_t mismatches = 0;
    for (size_t i = 0; i < N_THREADS; i++) {
        void *ret;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        mismatches += (uintptr_t)ret;
    }
    for (size_t i = 0; i < N_FILES; i++)
        cl_probe_result_dispose(&serial[i]);
    assert_int_equal(mismatches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_mp4_reads_the_index_only),
        cmocka_unit_test(test_probe_mp4_bframes_match_pts),
        cmocka_unit_test(test_probe_hevc_open_gop_mp4),
        cmocka_unit_test(test_probe_hevc_open_gop_fragmented_mp4),
        cmocka_unit_test(test_probe_mkv_reads_cues),
        cmocka_unit_test(test_probe_mkv_bframes),
        cmocka_unit_test(test_probe_mkv_without_cues_reads_packets),
        cmocka_unit_test(test_probe_mkv_without_duration_tag),
        cmocka_unit_test(test_probe_ts_reads_packets),
        cmocka_unit_test(test_probe_ts_bframes),
        cmocka_unit_test(test_probe_fragmented_mp4),
        cmocka_unit_test(test_probe_ntsc_rate),
        cmocka_unit_test(test_probe_irregular_keyframes),
        cmocka_unit_test(test_probe_truncated_ts),
        cmocka_unit_test(test_probe_truncated_mkv),
        cmocka_unit_test(test_probe_truncated_live_mkv),
        cmocka_unit_test(test_probe_truncated_fragmented_mp4),
        cmocka_unit_test(test_probe_mp4_with_64bit_box_size),
        cmocka_unit_test(test_probe_mp4_box_smaller_than_its_header),
        cmocka_unit_test(test_probe_mp4_without_moov_is_corrupt),
        cmocka_unit_test(test_probe_empty_file),
        cmocka_unit_test(test_probe_text_file_is_not_video),
        cmocka_unit_test(test_probe_audio_only_is_not_video),
        cmocka_unit_test(test_probe_creation_time),
        cmocka_unit_test(test_probe_unreadable),
        cmocka_unit_test(test_probe_garbage_never_passes),
        cmocka_unit_test(test_probe_concurrent_probes_agree),
    };
    return cmocka_run_group_tests_name("probe", tests, make_fixtures, remove_fixtures);
}
