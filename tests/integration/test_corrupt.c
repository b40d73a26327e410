/* cl_probe_file and cl_clip_cut on damaged recordings: one fixture of each
 * container the recorders write (made with the ffmpeg CLI), and a few
 * hundred copies of them damaged in C with a fixed-seed PRNG: bit flips,
 * zeroed ranges, truncations, duplicated and swapped 4 KiB blocks, and (MP4)
 * swapped top-level boxes. Every probe and cut runs in a forked child under
 * alarm(): a crash or hang fails the test, naming the file and its damage
 * (kind, seed, offset), which is all it takes to make the file again. */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "clip.h"
#include "probe.h"

#define FF "ffmpeg -nostdin -v error -y"
#define SRC "-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000" \
            " -t 8 -g 25 -c:a aac"
/* One thread: the same bytes on every machine, so a seed names the same damage. */
#define X264 "-c:v libx264 -threads 1 -preset ultrafast -bf 0"

/* Damaged copies per container: 60, or $CL_CORRUPT_VARIANTS (a longer hunt;
 * the damage of variant i is the same whatever the count). */
#define DEFAULT_VARIANTS 60
#define CLIPS 50             /* damaged files a clip is cut from */
#define PROBE_TIMEOUT 10     /* seconds, per file */
#define CLIP_TIMEOUT 20
#define BLOCK 4096
#define SEED INT64_C(0x636c6564676572) /* "cledger" */
#define BASE_TIME ((cl_time_t)1767225600 * CL_USEC_PER_SEC) /* 2026-01-01T00:00:00Z */

typedef struct fixture {
    const char *name;
    int mp4;
} fixture_t;

static const fixture_t fixtures[] = {
    {"plain.mp4", 1}, {"bframes.mp4", 1}, {"frag.mp4", 1}, {"mkv.mkv", 0}, {"ts.ts", 0},
};
#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))
static size_t VARIANTS = DEFAULT_VARIANTS;

/* Variants past the first 60 that a longer hunt (CL_CORRUPT_VARIANTS=2000)
 * found wrong, probed on every run: fixture, variant index. */
static const struct { size_t fixture, index; } found[] = {
    {2, 599},  /* frag.mp4, swapbox, moofs #2 and #16 swapped: OK, duration -40234 us */
    {3, 268},  /* mkv.mkv, dupblock at 626051: OK, keyframe 6 s listed twice */
    {3, 403},  /* mkv.mkv, dupblock at 705: OK, keyframe 0 listed twice */
    {4, 548},  /* ts.ts, dupblock at 31: TRUNCATED, keyframe 0 listed twice */
    {4, 498},  /* ts.ts, dupblock at 328858: TRUNCATED, keyframe 3 s listed twice */
};
#define N_FOUND (sizeof(found) / sizeof(found[0]))
static size_t n_files;
#define N_FILES n_files

typedef enum damage {
    D_BITFLIP, D_ZERO, D_TRUNCATE, D_DUPBLOCK, D_SWAPBLOCK, D_SWAPBOX,
} damage_t;

static const char *const damage_names[] = {
    "bitflip", "zero", "truncate", "dupblock", "swapblock", "swapbox",
};

/* A damaged file: what was done to which fixture, and what the probe said. */
typedef struct variant {
    char path[512];
    size_t fixture;
    damage_t kind;
    uint64_t seed;
    char what[160];          /* the damage: offsets and lengths */
    int probed;              /* the child reported a result */
    int rc;
    cl_rec_status_t status;
    int64_t duration_us;
    size_t n_keyframes;
    int ascending;
    size_t bad_at;           /* the first keyframe not after the one before */
    int64_t bad_prev, bad_kf;
    char error[256];
} variant_t;

static char *dir;
static variant_t *variants;

/* Failures are collected, then reported together. */
static char *failures;
static size_t n_failures;

static void add_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void add_failure(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL: %s\n", line);
    size_t old = failures ? strlen(failures) : 0;
    if (n_failures < 40) {
        assert_non_null(failures = realloc(failures, old + strlen(line) + 2));
        memcpy(failures + old, line, strlen(line));
        memcpy(failures + old + strlen(line), "\n", 2);
    }
    n_failures++;
}

static void check_failures(void)
{
    if (n_failures) {
        static char first[320];
        size_t n = n_failures;
        snprintf(first, sizeof(first), "%s", failures ? failures : "");
        free(failures);
        failures = NULL;
        n_failures = 0;
        fail_msg("%zu failure(s), each on a FAIL: line above; the first: %s", n, first);
    }
}

static const char *fx(const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: a fixed seed gives the same damage on every run. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static size_t rnd(uint64_t *s, size_t n)
{
    return n ? (size_t)(next_rand(s) % n) : 0;
}

/* An offset in [0, len): anywhere, or in the first or last 32 KiB, where
 * the headers and indexes (moov, Cues, PAT/PMT) are. */
static size_t pick_offset(uint64_t *s, size_t len)
{
    size_t hot = len < 32768 ? len : 32768;
    switch (rnd(s, 3)) {
    case 0: return rnd(s, len);
    case 1: return rnd(s, hot);
    default: return len - hot + rnd(s, hot);
    }
}

static uint64_t rb32(const unsigned char *b)
{
    return (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
}

static uint64_t rb64(const unsigned char *b)
{
    return rb32(b) << 32 | rb32(b + 4);
}

/* The top-level boxes of an MP4: offsets and sizes (size 1: 64-bit size
 * after the type; size 0: to the end of the file). Returns the count. */
static size_t mp4_boxes(const unsigned char *b, size_t len, size_t *off, size_t *size, size_t max)
{
    size_t n = 0, o = 0;
    while (o + 8 <= len && n < max) {
        uint64_t sz = rb32(b + o);
        if (sz == 1 && o + 16 <= len)
            sz = rb64(b + o + 8);
        else if (sz == 0)
            sz = len - o;
        if (sz < 8 || sz > len - o)
            break;
        off[n] = o;
        size[n++] = (size_t)sz;
        o += (size_t)sz;
    }
    return n;
}

/* Damages buf (len bytes, room for BLOCK more) in place; returns the new
 * length and describes the damage in what. */
static size_t damage(damage_t kind, uint64_t seed, unsigned char *buf, size_t len, char *what,
                     size_t what_len)
{
    uint64_t s = seed;
    switch (kind) {
    case D_BITFLIP: {
        size_t n = 1 + rnd(&s, 64), first = 0;
        /* Clustered around one offset, so a header gets several. */
        size_t at = pick_offset(&s, len), span = 1 + rnd(&s, 4096);
        for (size_t i = 0; i < n; i++) {
            size_t o = at + rnd(&s, span);
            if (o >= len)
                o = len - 1;
            if (i == 0)
                first = o;
            buf[o] ^= (unsigned char)(1u << rnd(&s, 8));
        }
        snprintf(what, what_len, "%zu bits in [%zu, %zu), first at %zu", n, at, at + span, first);
        return len;
    }
    case D_ZERO: {
        size_t o = pick_offset(&s, len), n = 1 + rnd(&s, (size_t)1 << (1 + rnd(&s, 14)));
        if (n > len - o)
            n = len - o;
        memset(buf + o, 0, n);
        snprintf(what, what_len, "%zu bytes zeroed at %zu", n, o);
        return len;
    }
    case D_TRUNCATE: {
        size_t o = rnd(&s, 2) ? rnd(&s, len) : pick_offset(&s, len);
        snprintf(what, what_len, "cut at %zu of %zu", o, len);
        return o;
    }
    case D_DUPBLOCK: {
        /* The block at o is written twice: the file grows by BLOCK. */
        size_t o = pick_offset(&s, len - BLOCK);
        memmove(buf + o + BLOCK, buf + o, len - o);
        snprintf(what, what_len, "4 KiB block at %zu repeated", o);
        return len + BLOCK;
    }
    case D_SWAPBLOCK: {
        size_t a = pick_offset(&s, len - BLOCK), b = pick_offset(&s, len - BLOCK);
        if (rnd(&s, 2)) { /* aligned, as a filesystem would misplace them */
            a &= ~(size_t)(BLOCK - 1);
            b &= ~(size_t)(BLOCK - 1);
        }
        if (a > b) {
            size_t t = a;
            a = b;
            b = t;
        }
        if (b - a < BLOCK)
            b = a + BLOCK <= len - BLOCK ? a + BLOCK : a; /* no overlap */
        unsigned char tmp[BLOCK];
        memcpy(tmp, buf + a, BLOCK);
        memcpy(buf + a, buf + b, BLOCK);
        memcpy(buf + b, tmp, BLOCK);
        snprintf(what, what_len, "4 KiB blocks at %zu and %zu swapped", a, b);
        return len;
    }
    case D_SWAPBOX: {
        enum { MAXBOX = 4096 };
        static size_t off[MAXBOX], size[MAXBOX];
        size_t n = mp4_boxes(buf, len, off, size, MAXBOX);
        assert_true(n >= 2);
        size_t i = rnd(&s, n), j = rnd(&s, n - 1);
        if (j >= i)
            j++;
        if (i > j) {
            size_t t = i;
            i = j;
            j = t;
        }
        /* [.. i .. mid .. j ..] -> [.. j .. mid .. i ..] */
        unsigned char *out = malloc(len);
        assert_non_null(out);
        size_t o = 0;
        memcpy(out, buf, off[i]);
        o = off[i];
        memcpy(out + o, buf + off[j], size[j]);
        o += size[j];
        size_t mid = off[j] - (off[i] + size[i]);
        memcpy(out + o, buf + off[i] + size[i], mid);
        o += mid;
        memcpy(out + o, buf + off[i], size[i]);
        o += size[i];
        memcpy(out + o, buf + off[j] + size[j], len - (off[j] + size[j]));
        char ti[5] = {0}, tj[5] = {0};
        memcpy(ti, buf + off[i] + 4, 4);
        memcpy(tj, buf + off[j] + 4, 4);
        memcpy(buf, out, len);
        free(out);
        snprintf(what, what_len, "boxes #%zu '%.4s' (%zu bytes at %zu) and #%zu '%.4s' (%zu bytes at %zu) of %zu swapped",
                 i, ti, size[i], off[i], j, tj, size[j], off[j], n);
        return len;
    }
    }
    return len;
}

static const char *describe(const variant_t *v)
{
    static char s[4][768];
    static int next;
    char *p = s[next++ % 4];
    snprintf(p, sizeof(s[0]), "%s (from %s; damage %s, seed 0x%016" PRIx64 ": %s)", v->path,
             fixtures[v->fixture].name, damage_names[v->kind], v->seed, v->what);
    return p;
}

/* Makes variant i of fixture f from its bytes. */
static void make_variant(variant_t *v, size_t f, size_t i, const unsigned char *orig, size_t len)
{
    size_t kinds = fixtures[f].mp4 ? 6 : 5;
    v->fixture = f;
    v->kind = (damage_t)(i % kinds);
    v->seed = (uint64_t)SEED ^ ((uint64_t)f << 32 | i);
    unsigned char *buf = malloc(len + BLOCK);
    assert_non_null(buf);
    memcpy(buf, orig, len);
    size_t n = damage(v->kind, v->seed, buf, len, v->what, sizeof(v->what));
    snprintf(v->path, sizeof(v->path), "%s/d%03zu_%s_%s", dir, i, damage_names[v->kind],
             fixtures[f].name);
    cl_t_write_file(v->path, buf, n);
    free(buf);
}

static int make_fixtures(void **state)
{
    (void)state;
    av_log_set_level(AV_LOG_QUIET);
    dir = cl_t_mkdtemp("corrupt");
    const char *nv = getenv("CL_CORRUPT_VARIANTS");
    if (nv && atoi(nv) > 0)
        VARIANTS = (size_t)atoi(nv);
    assert_non_null(variants = calloc(N_FIXTURES * VARIANTS + N_FOUND, sizeof(*variants)));
    double t0 = now();
    int rc = cl_t_sh(
        "cd '%s' && ("
        FF " " SRC " " X264 " plain.mp4 &"
        FF " " SRC " -c:v libx264 -threads 1 -preset veryfast -bf 3 bframes.mp4 &"
        FF " " SRC " " X264 " -movflags frag_keyframe+empty_moov+default_base_moof frag.mp4 &"
        FF " " SRC " " X264 " mkv.mkv &"
        FF " " SRC " " X264 " ts.ts &"
        "wait) && for f in plain.mp4 bframes.mp4 frag.mp4 mkv.mkv ts.ts; do"
        "  test -s $f || { echo \"fixture $f was not made\"; exit 1; }; done",
        dir);
    assert_int_equal(rc, 0);
    for (size_t f = 0; f < N_FIXTURES; f++) {
        cl_probe_result_t r;
        assert_int_equal(cl_probe_file(fx(fixtures[f].name), &r), 0);
        if (r.status != CL_REC_OK)
            fail_msg("%s: %s: %s", fixtures[f].name, cl_rec_status_name(r.status), r.error);
        cl_probe_result_dispose(&r);
        size_t len;
        unsigned char *orig = cl_t_read_file(fx(fixtures[f].name), &len);
        assert_true(len > 4 * BLOCK);
        for (size_t i = 0; i < VARIANTS; i++)
            make_variant(&variants[n_files++], f, i, orig, len);
        for (size_t k = 0; k < N_FOUND; k++)
            if (found[k].fixture == f && found[k].index >= VARIANTS)
                make_variant(&variants[n_files++], f, found[k].index, orig, len);
        free(orig);
    }
    printf("[ corrupt  ] %zu fixtures, %zu damaged files in %.1f s\n", N_FIXTURES, N_FILES,
           now() - t0);
    return 0;
}

static int remove_fixtures(void **state)
{
    (void)state;
    if (getenv("CL_KEEP_CORRUPT"))
        printf("[ corrupt  ] kept %s\n", dir);
    else
        cl_t_rmtree(dir);
    free(dir);
    free(variants);
    return 0;
}

/* Runs job(i, fd) for i in [0, n) in forked children, a few at a time, each
 * under alarm(timeout); the child writes at most PIPE_BUF bytes to fd. Then
 * done(i, wait status, what the child wrote, its length) in the parent. */
typedef void (*job_fn)(size_t i, int fd);
typedef void (*done_fn)(size_t i, int wstatus, const void *msg, size_t len);

static void run_children(size_t n, unsigned timeout, job_fn job, done_fn done)
{
    enum { SLOTS = 4 };
    struct { pid_t pid; int fd; size_t i; } slot[SLOTS];
    size_t running = 0, next = 0;
    fflush(stdout);
    fflush(stderr);
    while (next < n || running) {
        while (next < n && running < SLOTS) {
            int p[2];
            assert_int_equal(pipe(p), 0);
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                close(p[0]);
                signal(SIGALRM, SIG_DFL);
                alarm(timeout);
                job(next, p[1]);
                _exit(0);
            }
            close(p[1]);
            slot[running].pid = pid;
            slot[running].fd = p[0];
            slot[running].i = next++;
            running++;
        }
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        assert_true(pid > 0);
        size_t k = 0;
        while (k < running && slot[k].pid != pid)
            k++;
        if (k == running)
            continue; /* not one of ours */
        char msg[4096];
        ssize_t len = read(slot[k].fd, msg, sizeof(msg));
        close(slot[k].fd);
        done(slot[k].i, st, msg, len > 0 ? (size_t)len : 0);
        slot[k] = slot[--running];
    }
}

static const char *how_it_died(int st, unsigned timeout)
{
    static char s[64];
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        snprintf(s, sizeof(s), "hung (no result after %u s)", timeout);
    else if (WIFSIGNALED(st))
        snprintf(s, sizeof(s), "crashed (signal %d, %s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
        snprintf(s, sizeof(s), "died (exit %d; a sanitizer report is above)", WEXITSTATUS(st));
    else
        snprintf(s, sizeof(s), "wrote no result");
    return s;
}

/* ---- probing ---- */

typedef struct probe_msg {
    int rc;
    cl_rec_status_t status;
    int64_t duration_us;
    size_t n_keyframes;
    int ascending;
    size_t bad_at;
    int64_t bad_prev, bad_kf;
    char error[256];
} probe_msg_t;

static void probe_job(size_t i, int fd)
{
    cl_probe_result_t r;
    probe_msg_t m = {0};
    m.rc = cl_probe_file(variants[i].path, &r);
    m.status = r.status;
    m.duration_us = r.duration_us;
    m.n_keyframes = r.n_keyframes;
    m.ascending = 1;
    for (size_t k = 1; k < r.n_keyframes; k++)
        if (m.ascending && r.keyframes_us[k] <= r.keyframes_us[k - 1]) {
            m.ascending = 0;
            m.bad_at = k;
            m.bad_prev = r.keyframes_us[k - 1];
            m.bad_kf = r.keyframes_us[k];
        }
    snprintf(m.error, sizeof(m.error), "%s", r.error);
    cl_probe_result_dispose(&r);
    if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
        _exit(2);
}

static void probe_done(size_t i, int st, const void *msg, size_t len)
{
    variant_t *v = &variants[i];
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || len != sizeof(probe_msg_t)) {
        add_failure("cl_probe_file %s on %s", how_it_died(st, PROBE_TIMEOUT), describe(v));
        return;
    }
    const probe_msg_t *m = msg;
    v->probed = 1;
    v->rc = m->rc;
    v->status = m->status;
    v->duration_us = m->duration_us;
    v->n_keyframes = m->n_keyframes;
    v->ascending = m->ascending;
    v->bad_at = m->bad_at;
    v->bad_prev = m->bad_prev;
    v->bad_kf = m->bad_kf;
    snprintf(v->error, sizeof(v->error), "%s", m->error);
}

static int usable(const variant_t *v)
{
    return v->probed && v->rc == 0 && (v->status == CL_REC_OK || v->status == CL_REC_TRUNCATED);
}

static int probed_all;

static void probe_all(void)
{
    if (probed_all)
        return;
    probed_all = 1;
    double t0 = now();
    run_children(N_FILES, PROBE_TIMEOUT, probe_job, probe_done);
    printf("[ corrupt  ] probed %zu damaged files in %.1f s\n", N_FILES, now() - t0);
    for (size_t f = 0; f < N_FIXTURES; f++) {
        int count[CL_REC_DELETED + 2] = {0};
        for (size_t i = 0; i < N_FILES; i++) {
            const variant_t *v = &variants[i];
            if (v->fixture != f)
                continue;
            count[!v->probed ? CL_REC_DELETED + 1 : v->status <= CL_REC_DELETED ? v->status
                                                                                : CL_REC_DELETED + 1]++;
        }
        printf("[ corrupt  ] %-12s", fixtures[f].name);
        for (int s = 0; s <= CL_REC_DELETED; s++)
            if (count[s])
                printf(" %s=%d", cl_rec_status_name((cl_rec_status_t)s), count[s]);
        if (count[CL_REC_DELETED + 1])
            printf(" no-result=%d", count[CL_REC_DELETED + 1]);
        printf("\n");
    }
}

/* Every damaged file gets a status, from a probe that neither crashes nor
 * hangs (the children report that in probe_done). */
static void test_corrupt_probe_never_crashes_or_hangs(void **state)
{
    (void)state;
    probe_all();
    for (size_t i = 0; i < N_FILES; i++) {
        const variant_t *v = &variants[i];
        if (!v->probed)
            continue; /* already reported */
        if (v->rc != 0)
            add_failure("cl_probe_file returned %d on %s", v->rc, describe(v));
        else if (v->status > CL_REC_UNREADABLE)
            add_failure("cl_probe_file gave status %d on %s", (int)v->status, describe(v));
        else if (v->status != CL_REC_OK && v->error[0] == '\0')
            add_failure("cl_probe_file gave %s without an error on %s",
                        cl_rec_status_name(v->status), describe(v));
    }
    check_failures();
}

/* What the probe indexes of a damaged file is still an index: keyframes
 * ascending and a duration. */
static void test_corrupt_indexed_files_have_ascending_keyframes(void **state)
{
    (void)state;
    probe_all();
    for (size_t i = 0; i < N_FILES; i++) {
        const variant_t *v = &variants[i];
        if (!usable(v))
            continue;
        if (!v->ascending)
            add_failure("%s with keyframes not ascending (#%zu at %" PRId64 " us after %" PRId64
                        " us, of %zu) on %s",
                        cl_rec_status_name(v->status), v->bad_at, v->bad_kf, v->bad_prev,
                        v->n_keyframes, describe(v));
        if (v->duration_us < 0)
            add_failure("%s with duration %" PRId64 " us on %s", cl_rec_status_name(v->status),
                        v->duration_us, describe(v));
    }
    check_failures();
}

/* ---- cutting clips ---- */

static size_t clip_of[CLIPS];
static size_t n_clips;

typedef struct clip_msg {
    int rc;
    int probe_status;
    char error[256];
    char sha256[65];
    int64_t bytes_written;
} clip_msg_t;

static const char *clip_out(size_t k)
{
    static char p[512];
    snprintf(p, sizeof(p), "%s/clip%03zu.mp4", dir, k);
    return p;
}

static void clip_job(size_t k, int fd)
{
    const variant_t *v = &variants[clip_of[k]];
    clip_msg_t m = {0};
    cl_probe_result_t pr;
    cl_probe_file(v->path, &pr);
    m.probe_status = pr.status;
    cl_clip_source_t src = {
        .path = v->path,
        .start = BASE_TIME,
        .end = pr.duration_us >= 0 ? BASE_TIME + pr.duration_us : CL_TIME_NONE,
        .keyframes_us = pr.keyframes_us,
        .n_keyframes = pr.n_keyframes,
    };
    cl_clip_result_t res;
    m.rc = cl_clip_cut(&src, 1, BASE_TIME, BASE_TIME + 3 * CL_USEC_PER_SEC, clip_out(k), &res);
    snprintf(m.error, sizeof(m.error), "%s", res.error);
    memcpy(m.sha256, res.sha256, sizeof(m.sha256));
    m.sha256[64] = '\0';
    m.bytes_written = res.bytes_written;
    cl_clip_result_dispose(&res);
    cl_probe_result_dispose(&pr);
    if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
        _exit(2);
}

static size_t clips_ok, clips_failed;

/* A part file of out left in the directory. */
static int part_left(const char *out)
{
    const char *base = strrchr(out, '/') + 1;
    size_t n = strlen(base);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, base, n) == 0 && strncmp(e->d_name + n, ".part", 5) == 0)
            found = 1;
    closedir(d);
    return found;
}

static void clip_done(size_t k, int st, const void *msg, size_t len)
{
    const variant_t *v = &variants[clip_of[k]];
    const char *out = clip_out(k);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || len != sizeof(clip_msg_t)) {
        add_failure("cl_clip_cut %s on %s", how_it_died(st, CLIP_TIMEOUT), describe(v));
        return;
    }
    const clip_msg_t *m = msg;
    struct stat sb;
    int exists = stat(out, &sb) == 0;
    if (part_left(out))
        add_failure("cl_clip_cut (rc %d) left a part file of %s on %s", m->rc, out, describe(v));
    if (m->rc == 0) {
        clips_ok++;
        if (!exists)
            add_failure("cl_clip_cut succeeded without %s on %s", out, describe(v));
        if (strlen(m->sha256) != 64)
            add_failure("cl_clip_cut succeeded without a sha256 on %s", describe(v));
        if (exists && sb.st_size != m->bytes_written)
            add_failure("cl_clip_cut wrote %" PRId64 " bytes, the clip has %jd, on %s",
                        m->bytes_written, (intmax_t)sb.st_size, describe(v));
    } else {
        clips_failed++;
        if (m->error[0] == '\0')
            add_failure("cl_clip_cut failed (%d) without an error on %s", m->rc, describe(v));
        if (exists)
            add_failure("cl_clip_cut failed (%d: %s) but left %s on %s", m->rc, m->error, out,
                        describe(v));
    }
}

/* A clip of the first 3 s of a damaged file that probes OK or TRUNCATED is
 * either cut or refused with a reason and no file; never a crash or hang. */
static void test_corrupt_clip_succeeds_or_fails_cleanly(void **state)
{
    (void)state;
    probe_all();
    /* Up to CLIPS / N_FIXTURES per container, in variant order (so every
     * kind of damage), then whatever is left. */
    char *taken = calloc(N_FILES, 1);
    assert_non_null(taken);
    for (int pass = 0; pass < 2; pass++)
        for (size_t idx = 0; idx < N_FILES && n_clips < CLIPS; idx++) {
            size_t f = variants[idx].fixture, per = 0;
            if (taken[idx] || !usable(&variants[idx]))
                continue;
            for (size_t k = 0; k < n_clips; k++)
                per += variants[clip_of[k]].fixture == f;
            if (pass == 0 && per >= CLIPS / N_FIXTURES)
                continue;
            taken[idx] = 1;
            clip_of[n_clips++] = idx;
        }
    free(taken);
    assert_true(n_clips > 0);
    double t0 = now();
    run_children(n_clips, CLIP_TIMEOUT, clip_job, clip_done);
    printf("[ corrupt  ] cut %zu clips from damaged files in %.1f s: %zu cut, %zu refused\n",
           n_clips, now() - t0, clips_ok, clips_failed);
    check_failures();
}

/* The same damaged files through camledger-indexer itself (the sanitizer
 * build's, in that build) into a real database: one --once pass neither
 * crashes nor stops, every file gets one row with the status the probe
 * gave it, a reason for every bad one and the probe's keyframe count for
 * every usable one; a second pass reads none of them again. */
static void test_corrupt_indexer_stores_every_file(void **state)
{
    (void)state;
    probe_all();
    char root[600], link_path[700];
    snprintf(root, sizeof(root), "%s/root", dir);
    static char (*linked)[700];
    assert_non_null(linked = calloc(N_FILES, sizeof(*linked)));
    for (size_t i = 0; i < N_FILES; i++) {
        const char *name = fixtures[variants[i].fixture].name, *dot = strchr(name, '.');
        /* Camera: the fixture's name; start: 2026-01-01 00:00:00 + i s. */
        snprintf(link_path, sizeof(link_path), "%s/%.*s/20260101_%02zu%02zu%02zu%s", root,
                 (int)(dot - name), name, i / 3600, i / 60 % 60, i % 60, dot);
        cl_t_mkparents(link_path);
        if (link(variants[i].path, link_path) < 0)
            fail_msg("link %s %s: %s", variants[i].path, link_path, strerror(errno));
        memcpy(linked[i], link_path, sizeof(link_path));
    }
    PGconn *conn;
    const char *conninfo = cl_t_db_create("cl_itest_corrupt", &conn);
    char *out;
    double t0 = now();
    int rc = cl_t_index_once(&out, conninfo, root, "{camera}/%Y%m%d_%H%M%S", "UTC", NULL);
    printf("[ corrupt  ] indexed %zu damaged files in %.1f s\n", N_FILES, now() - t0);
    if (rc != 0 || strstr(out, "Sanitizer") || strstr(out, "runtime error"))
        fail_msg("camledger-indexer --once over the damaged files: exit %d\n%s", rc, out);
    char want[64];
    snprintf(want, sizeof(want), "pass: seen=%zu indexed=%zu ", N_FILES, N_FILES);
    if (!strstr(out, want))
        fail_msg("expected '%s' in: %s", want, out);
    free(out);
    char *n = cl_t_query1(conn, "SELECT count(*) FROM recordings", NULL);
    snprintf(want, sizeof(want), "%zu", N_FILES);
    assert_string_equal(n, want);
    free(n);
    size_t mismatches = 0;
    for (size_t i = 0; i < N_FILES; i++) {
        const variant_t *v = &variants[i];
        char *row = cl_t_query1(conn, "SELECT concat_ws(',', status, keyframe_count,"
                                " error IS NOT NULL AND error <> '') FROM recordings WHERE path = $1",
                                linked[i], NULL);
        char expect[96];
        if (!v->probed)
            snprintf(expect, sizeof(expect), "(no probe result)");
        else if (usable(v))
            snprintf(expect, sizeof(expect), "%s,%zu,%s", cl_rec_status_name(v->status), v->n_keyframes,
                     v->status == CL_REC_TRUNCATED ? "t" : "f");
        else
            snprintf(expect, sizeof(expect), "%s,0,t", cl_rec_status_name(v->status));
        if (!row || strcmp(row, expect) != 0) {
            if (mismatches++ < 10)
                add_failure("indexer stored %s for %s; the probe says %s (%s)", row ? row : "no row",
                            describe(v), expect, v->error);
        }
        free(row);
    }
    /* Nothing changed on disk: nothing is read again. */
    assert_int_equal(cl_t_index_once(&out, conninfo, root, "{camera}/%Y%m%d_%H%M%S", "UTC", NULL), 0);
    snprintf(want, sizeof(want), "pass: seen=%zu indexed=0 unchanged=%zu ", N_FILES, N_FILES);
    if (!strstr(out, want))
        add_failure("second pass: expected '%s' in: %s", want, out);
    free(out);
    cl_t_db_drop("cl_itest_corrupt", conn);
    free(linked);
    check_failures();
}

/* In the sanitizer build, undefined behaviour ends the child (and so fails
 * the test) rather than being printed and let go; $UBSAN_OPTIONS overrides. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "print_stacktrace=1:halt_on_error=1";
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corrupt_probe_never_crashes_or_hangs),
        cmocka_unit_test(test_corrupt_indexed_files_have_ascending_keyframes),
        cmocka_unit_test(test_corrupt_clip_succeeds_or_fails_cleanly),
        cmocka_unit_test(test_corrupt_indexer_stores_every_file),
    };
    return cmocka_run_group_tests(tests, make_fixtures, remove_fixtures);
}
