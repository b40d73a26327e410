/* camledger-indexer end to end: real recordings made by the ffmpeg CLI, a
 * real PostgreSQL, the real binary. Keyframe times are checked against the
 * ffprobe oracle to 1 ms. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#define DB "cl_itest_indexer"
#define LAYOUT "{camera}/%Y-%m-%d/%H-%M-%S"
#define TZ "Asia/Ho_Chi_Minh"

/* 2026-11-21 21:40:00 in Asia/Ho_Chi_Minh (UTC+7) is 14:40:00Z. */
#define BASE_EPOCH 1795790400LL

static char *fixtures;   /* made once: the sources copied into each root */
static PGconn *conn;
static const char *conninfo;

typedef struct fixture {
    const char *name;      /* file under fixtures/ */
    const char *ffmpeg;    /* output options (NULL: made by a shell line) */
    const char *status;    /* expected status */
} fixture_t;

#define SRC_V "-f lavfi -i testsrc2=size=320x240:rate=25"
#define SRC_A "-f lavfi -i sine=frequency=440:sample_rate=48000"

static const fixture_t good[] = {
    {"h264.mp4", SRC_V " -t 20 -c:v libx264 -preset ultrafast -bf 0 -g 50", "ok"},
    {"bframes.mp4", SRC_V " -t 20 -c:v libx264 -preset veryfast -bf 3 -g 48", "ok"},
    {"hevc.mp4", SRC_V " -t 12 -c:v libx265 -preset ultrafast -x265-params log-level=none "
                 "-g 25 -tag:v hvc1", "ok"},
    {"video.mkv", SRC_V " -t 20 -c:v libx264 -preset veryfast -g 50", "ok"},
    {"audio.ts", SRC_V " " SRC_A " -t 20 -c:v libx264 -preset veryfast -g 50 -c:a aac -f mpegts",
     "ok"},
    {"frag.mp4", SRC_V " -t 20 -c:v libx264 -preset ultrafast -g 50 "
                 "-movflags frag_keyframe+empty_moov+default_base_moof", "ok"},
    {"ntsc.mp4", "-f lavfi -i testsrc2=size=320x240:rate=30000/1001 -t 20 -c:v libx264 "
                 "-preset ultrafast -g 30", "ok"},
    {"irregular.mp4", SRC_V " -t 20 -c:v libx264 -preset ultrafast -g 1000 -sc_threshold 0 "
                      "-force_key_frames 0,1.3,4.7,5.1,12", "ok"},
};

static const fixture_t broken[] = {
    {"cut.ts", NULL, "truncated"},
    {"cut.mkv", NULL, "truncated"},
    {"cutfrag.mp4", NULL, "truncated"},
    {"nomoov.mp4", NULL, "corrupt"},
    {"empty.mp4", NULL, "empty"},
    {"text.mp4", NULL, "not_video"},
};

#define N_GOOD (sizeof(good) / sizeof(good[0]))
#define N_BROKEN (sizeof(broken) / sizeof(broken[0]))

static int make_fixtures(void **state)
{
    (void)state;
    fixtures = cl_t_mkdtemp("fixtures");
    for (size_t i = 0; i < N_GOOD; i++)
        if (cl_t_sh("ffmpeg -nostdin -v error %s -y '%s/%s'", good[i].ffmpeg, fixtures,
                    good[i].name) != 0)
            return -1;
    const char *f = fixtures;
    /* A power loss cuts at any byte, not at a 188-byte TS packet boundary. */
    if (cl_t_sh("cd '%s' && head -c $(( $(stat -c %%s audio.ts) * 6 / 10 / 188 * 188 + 101 )) audio.ts > cut.ts && "
                "head -c $(( $(stat -c %%s video.mkv) * 6 / 10 )) video.mkv > cut.mkv && "
                "head -c $(( $(stat -c %%s frag.mp4) * 6 / 10 )) frag.mp4 > cutfrag.mp4 && "
                "head -c $(( $(stat -c %%s h264.mp4) * 6 / 10 )) h264.mp4 > nomoov.mp4 && "
                ": > empty.mp4 && echo 'not a video, just a note' > text.mp4", f) != 0)
        return -1;
    conninfo = cl_t_db_create(DB, &conn);
    return 0;
}

static int drop_fixtures(void **state)
{
    (void)state;
    cl_t_db_drop(DB, conn);
    cl_t_rmtree(fixtures);
    free(fixtures);
    return 0;
}

static void reset_db(void)
{
    cl_t_exec(conn, "TRUNCATE recordings, cameras, stations RESTART IDENTITY CASCADE");
}

/* Path of fixture i under root: camera camNN, one minute apart. */
static char *place(const char *root, int i, const char *name)
{
    time_t t = BASE_EPOCH + 7 * 3600 + 60 * i;  /* the local wall time, as UTC fields */
    struct tm tm;
    gmtime_r(&t, &tm);
    const char *ext = strrchr(name, '.');
    char *path;
    if (asprintf(&path, "%s/cam%02d/%04d-%02d-%02d/%02d-%02d-%02d%s", root, i % 3 + 1,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, ext) < 0)
        fail();
    return path;
}

static void copy_in(const char *root, int i, const char *name)
{
    char *dst = place(root, i, name);
    cl_t_mkparents(dst);
    assert_int_equal(cl_t_sh("cp '%s/%s' '%s'", fixtures, name, dst), 0);
    free(dst);
}

/* Fills root with every fixture (good first); returns how many. */
static int fill_root(const char *root)
{
    int i = 0;
    for (size_t k = 0; k < N_GOOD; k++)
        copy_in(root, i++, good[k].name);
    for (size_t k = 0; k < N_BROKEN; k++)
        copy_in(root, i++, broken[k].name);
    return i;
}

static int run_indexer(char **out, const char *root, const char *extra)
{
    return cl_t_index_once(out, conninfo, root, LAYOUT, TZ, extra);
}

static long summary_field(const char *out, const char *key)
{
    const char *line = strstr(out, "pass: ");
    assert_non_null(line);
    char pat[64];
    snprintf(pat, sizeof(pat), " %s=", key);
    const char *p = strstr(line, pat);
    if (!p && strncmp(line + 6, key, strlen(key)) == 0)
        p = line + 5;
    assert_non_null(p);
    return strtol(strchr(p, '=') + 1, NULL, 10);
}

/* Every column the indexer writes except when it wrote it, in path order. */
static char *snapshot(void)
{
    return cl_t_query1(conn,
        "SELECT md5(string_agg(concat_ws('|', c.code, c.registered, r.path, r.size, r.mtime,"
        " r.status, r.error, r.container, r.codec, r.width, r.height, r.fps, r.has_audio,"
        " r.start_time, r.end_time, r.time_source, r.keyframe_count, md5(r.keyframes),"
        " r.deleted_at IS NULL), E'\\n' ORDER BY r.path)) || ':' || count(*)"
        " FROM recordings r JOIN cameras c ON c.id = r.camera_id", NULL);
}

static void test_indexer_keyframes_match_oracle(void **state)
{
    (void)state;
    reset_db();
    char *root = cl_t_mkdtemp("root");
    int n = fill_root(root);
    char *out;
    assert_int_equal(run_indexer(&out, root, NULL), 0);
    printf("%s", out);
    assert_int_equal(summary_field(out, "seen"), n);
    assert_int_equal(summary_field(out, "indexed"), n);
    assert_int_equal(summary_field(out, "failed"), 3);
    free(out);

    for (size_t k = 0; k < N_GOOD; k++) {
        char *path = place(root, (int)k, good[k].name);
        double *kf, first;
        size_t nkf = cl_t_oracle_keyframes(path, &kf, &first);
        assert_true(nkf > 0);
        PGresult *r = cl_t_query(conn,
            "SELECT (extract(epoch FROM at) * 1000)::bigint FROM recording_keyframes"
            " WHERE path = $1 ORDER BY at", path, NULL);
        printf("%s: %zu keyframes (oracle %zu)\n", good[k].name, (size_t)PQntuples(r), nkf);
        assert_int_equal(PQntuples(r), (int)nkf);
        long long start_ms = (BASE_EPOCH + 60LL * (long long)k) * 1000;
        for (size_t j = 0; j < nkf; j++) {
            long long want = start_ms + llround((kf[j] - first) * 1000.0);
            long long got = strtoll(PQgetvalue(r, (int)j, 0), NULL, 10);
            if (llabs(got - want) > 1)
                fail_msg("%s keyframe %zu: %lld ms, oracle %lld ms", good[k].name, j, got, want);
        }
        PQclear(r);
        char startbuf[32];
        snprintf(startbuf, sizeof(startbuf), "%lld", BASE_EPOCH + 60LL * (long long)k);
        char nbuf[16];
        snprintf(nbuf, sizeof(nbuf), "%zu", nkf);
        char *st = cl_t_query1(conn,
            "SELECT concat_ws(',', status, time_source, keyframe_count = $3::int,"
            " length(keyframes) <= 4 * keyframe_count, start_time = to_timestamp($2::bigint),"
            " end_time > start_time) FROM recordings WHERE path = $1",
            path, startbuf, nbuf, NULL);
        assert_string_equal(st, "ok,name,t,t,t,t");
        free(st);
        free(kf);
        free(path);
    }

    for (size_t k = 0; k < N_BROKEN; k++) {
        char *path = place(root, (int)(N_GOOD + k), broken[k].name);
        char *st = cl_t_query1(conn, "SELECT status FROM recordings WHERE path = $1", path, NULL);
        assert_non_null(st);
        if (strcmp(st, broken[k].status) != 0)
            fail_msg("%s: status %s, expected %s", broken[k].name, st, broken[k].status);
        free(st);
        char *err = cl_t_query1(conn, "SELECT error FROM recordings WHERE path = $1", path, NULL);
        assert_non_null(err);
        assert_true(strlen(err) > 0);
        free(err);
        free(path);
    }

    /* Truncated files keep what was complete: a prefix of the whole file's
     * keyframes. */
    char *cut = place(root, (int)N_GOOD, "cut.ts");
    char *whole = place(root, 4, "audio.ts");
    char *prefix = cl_t_query1(conn,
        "SELECT bool_and(a.at = b.at - (b0.start_time - a0.start_time)) AND count(*) > 0"
        " FROM (SELECT at, row_number() OVER (ORDER BY at) n FROM recording_keyframes WHERE path = $1) a"
        " JOIN (SELECT at, row_number() OVER (ORDER BY at) n FROM recording_keyframes WHERE path = $2) b"
        " USING (n), recordings a0, recordings b0 WHERE a0.path = $1 AND b0.path = $2",
        cut, whole, NULL);
    assert_string_equal(prefix, "t");
    free(prefix);
    free(cut);
    free(whole);

    /* Unknown camera codes are kept, unregistered. */
    char *cams = cl_t_query1(conn,
        "SELECT string_agg(code || ':' || registered, ',' ORDER BY code) FROM cameras", NULL);
    assert_string_equal(cams, "cam01:false,cam02:false,cam03:false");
    free(cams);

    /* A second run reads nothing again and changes nothing. */
    char *before = snapshot();
    assert_int_equal(run_indexer(&out, root, NULL), 0);
    assert_int_equal(summary_field(out, "indexed"), 0);
    assert_int_equal(summary_field(out, "unchanged"), n);
    free(out);
    char *after = snapshot();
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* A file that vanished is marked deleted, never forgotten. */
    char *gone = place(root, 0, good[0].name);
    assert_int_equal(unlink(gone), 0);
    assert_int_equal(run_indexer(&out, root, NULL), 0);
    assert_int_equal(summary_field(out, "deleted"), 1);
    free(out);
    char *del = cl_t_query1(conn,
        "SELECT concat_ws(',', status, deleted_at IS NOT NULL, keyframe_count > 0,"
        " (SELECT count(*) FROM recording_keyframes WHERE path = $1) = keyframe_count)"
        " FROM recordings WHERE path = $1", gone, NULL);
    assert_string_equal(del, "deleted,t,t,t");
    free(del);
    /* And it comes back when the file does. */
    copy_in(root, 0, good[0].name);
    assert_int_equal(run_indexer(&out, root, NULL), 0);
    assert_int_equal(summary_field(out, "indexed"), 1);
    free(out);
    del = cl_t_query1(conn, "SELECT status || (deleted_at IS NULL) FROM recordings WHERE path = $1",
                      gone, NULL);
    assert_string_equal(del, "oktrue");
    free(del);
    free(gone);
    char *count = cl_t_query1(conn, "SELECT count(*) FROM recordings", NULL);
    char want[16];
    snprintf(want, sizeof(want), "%d", n);
    assert_string_equal(count, want);
    free(count);
    cl_t_rmtree(root);
    free(root);
}

/* A root with many recordings (hard links of the fixtures), so a pass takes
 * a while. */
static char *many_root(int copies)
{
    char *root = cl_t_mkdtemp("many");
    for (int i = 0; i < copies; i++) {
        const char *name = i % 2 ? "audio.ts" : "video.mkv";
        char *dst = place(root, i, name);
        cl_t_mkparents(dst);
        char src[4096];
        snprintf(src, sizeof(src), "%s/%s", fixtures, name);
        assert_int_equal(link(src, dst), 0);
        free(dst);
    }
    return root;
}

static void test_indexer_kill9_then_rerun_equals_clean_run(void **state)
{
    (void)state;
    const int files = 600;
    char *root = many_root(files);
    char *out;

    reset_db();
    assert_int_equal(run_indexer(&out, root, "--jobs 2"), 0);
    free(out);
    char *clean = snapshot();
    int partial_rounds = 0;

    for (int round = 0; round < 4; round++) {
        reset_db();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execl(cl_t_prog("CL_INDEXER"), "camledger-indexer", "--db", conninfo, "--root", root,
                  "--layout", LAYOUT, "--tz", TZ, "--once", "--stable-secs", "0", "--jobs", "1",
                  (char *)NULL);
            _exit(127);
        }
        /* Kill at different moments of the pass: before the first batch,
         * between batches, in the middle of one. */
        usleep(100000 + 300000 * round);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        char *partial = cl_t_query1(conn, "SELECT count(*) FROM recordings", NULL);
        long committed = strtol(partial, NULL, 10);
        printf("kill -9 after %d ms: %ld of %d rows committed%s\n", 100 + 300 * round, committed,
               files, WIFSIGNALED(st) ? "" : " (the pass had finished)");
        free(partial);
        if (WIFSIGNALED(st) && committed < files)
            partial_rounds++;
        assert_int_equal(run_indexer(&out, root, "--jobs 2"), 0);
        free(out);
        char *again = snapshot();
        assert_string_equal(again, clean);
        free(again);
    }
    /* At least one kill must have landed mid-pass for this to mean anything. */
    assert_true(partial_rounds > 0);
    free(clean);
    cl_t_rmtree(root);
    free(root);
}

static void test_indexer_two_at_once_equal_one(void **state)
{
    (void)state;
    char *root = many_root(300);
    char *out;
    reset_db();
    assert_int_equal(run_indexer(&out, root, NULL), 0);
    free(out);
    char *clean = snapshot();
    reset_db();
    assert_int_equal(cl_t_sh("set -e; for i in 1 2; do '%s' --db '%s' --root '%s' --layout '%s'"
                             " --tz " TZ " --once --stable-secs 0 --jobs 2 >/dev/null 2>&1 & done;"
                             " wait %%1; wait %%2",
                             cl_t_prog("CL_INDEXER"), conninfo, root, LAYOUT), 0);
    char *both = snapshot();
    assert_string_equal(both, clean);
    free(both);
    free(clean);
    cl_t_rmtree(root);
    free(root);
}

static void expect_failure(int want_rc, const char *want_msg, const char *args)
{
    char *out;
    int rc = cl_t_sh_capture(&out, "'%s' %s 2>&1", cl_t_prog("CL_INDEXER"), args);
    if (rc != want_rc || !strstr(out, want_msg))
        fail_msg("camledger-indexer %s: exit %d (want %d), output: %s (want '%s')", args, rc,
                 want_rc, out, want_msg);
    free(out);
}

static void test_indexer_bad_arguments(void **state)
{
    (void)state;
    char *root = cl_t_mkdtemp("args");
    char args[1024];
    expect_failure(2, "--root and --layout are required", "--once");
    snprintf(args, sizeof(args), "--root '%s' --once", root);
    expect_failure(2, "--root and --layout are required", args);
    expect_failure(2, "No such file or directory", "--root /nonexistent/dir --layout '{camera}/*' --once");
    expect_failure(2, "the filesystem root is not a recording root", "--root / --layout '{camera}/*' --once");
    snprintf(args, sizeof(args), "--root '%s' --layout '%%Y/%%m' --once", root);
    expect_failure(2, "--layout", args);
    snprintf(args, sizeof(args), "--root '%s' --layout '{camera}/%%Q' --once", root);
    expect_failure(2, "--layout", args);
    snprintf(args, sizeof(args), "--root '%s' --layout '{camera}/*' --tz Mars/Olympus --once", root);
    expect_failure(2, "Mars/Olympus", args);
    snprintf(args, sizeof(args), "--root '%s' --layout '{camera}/*' --jobs 0 --once", root);
    expect_failure(2, "--jobs takes a whole number", args);
    snprintf(args, sizeof(args), "--root '%s' --layout '{camera}/*' --stable-secs x --once", root);
    expect_failure(2, "--stable-secs takes a whole number", args);
    snprintf(args, sizeof(args), "--root '%s' --root '%s/sub' --layout '{camera}/*' --once", root, root);
    mkdir(strcat(strcpy((char[512]){0}, root), "/sub"), 0755);
    expect_failure(2, "overlaps", args);
    snprintf(args, sizeof(args), "--bogus --root '%s' --layout '{camera}/*' --once", root);
    expect_failure(2, "usage:", args);
    /* An unreachable database and a database without the schema. */
    snprintf(args, sizeof(args), "--db 'host=/nonexistent port=1' --root '%s' --layout '{camera}/*' --once", root);
    expect_failure(1, "database: connect failed", args);
    snprintf(args, sizeof(args), "--db 'dbname=postgres' --root '%s' --layout '{camera}/*' --once", root);
    expect_failure(1, "camledger-admin --db CONNINFO migrate", args);
    cl_t_rmtree(root);
    free(root);
}

static void test_indexer_time_sources(void **state)
{
    (void)state;
    reset_db();
    char *root = cl_t_mkdtemp("timesrc");
    assert_int_equal(cl_t_sh("mkdir -p '%s/camx' && cd '%s/camx' && "
        "ffmpeg -nostdin -v error " SRC_V " -t 10 -c:v libx264 -preset ultrafast -g 25 "
        "-metadata creation_time=2026-01-02T03:04:05Z -y created.mp4 && "
        "cp '%s/h264.mp4' plain.mp4 && touch -d '2026-01-02 10:00:00Z' plain.mp4",
        root, root, fixtures), 0);
    char *out;
    assert_int_equal(cl_t_sh_capture(&out, "'%s' --db '%s' --root '%s' --layout '{camera}/*' "
        "--once --stable-secs 0 2>&1", cl_t_prog("CL_INDEXER"), conninfo, root), 0);
    free(out);
    char *v = cl_t_query1(conn,
        "SELECT string_agg(concat_ws(',', substring(path from '[^/]*$'), time_source,"
        " to_char(start_time, 'YYYY-MM-DD HH24:MI:SS.MS'), to_char(end_time, 'HH24:MI:SS.MS')),"
        " ';' ORDER BY path) FROM recordings", NULL);
    /* plain.mp4 lasts 20 s and was last written at 10:00:00Z. */
    assert_string_equal(v, "created.mp4,creation_time,2026-01-02 03:04:05.000,03:04:15.000;"
                           "plain.mp4,mtime,2026-01-02 09:59:40.000,10:00:00.000");
    free(v);
    cl_t_rmtree(root);
    free(root);
}

static void test_indexer_growing_file_left_for_later(void **state)
{
    (void)state;
    reset_db();
    char *root = cl_t_mkdtemp("growing");
    copy_in(root, 0, "h264.mp4");
    char *out;
    assert_int_equal(cl_t_sh_capture(&out, "'%s' --db '%s' --root '%s' --layout '%s'"
        " --tz " TZ " --once --stable-secs 3600 2>&1", cl_t_prog("CL_INDEXER"), conninfo, root,
        LAYOUT), 0);
    assert_int_equal(summary_field(out, "growing"), 1);
    assert_int_equal(summary_field(out, "indexed"), 0);
    free(out);
    char *n = cl_t_query1(conn, "SELECT count(*) FROM recordings", NULL);
    assert_string_equal(n, "0");
    free(n);
    cl_t_rmtree(root);
    free(root);
}

static char *wait_for_on(PGconn *c, const char *sql, const char *param, const char *want, int secs)
{
    char *v = NULL;
    for (int i = 0; i < secs * 10; i++) {
        free(v);
        v = cl_t_query1(c, sql, param, NULL);
        if (v && strcmp(v, want) == 0)
            break;
        usleep(100000);
    }
    return v;
}

static char *wait_for(const char *sql, const char *param, const char *want, int secs)
{
    return wait_for_on(conn, sql, param, want, secs);
}

static void test_indexer_daemon_watches_and_stops_on_sigterm(void **state)
{
    (void)state;
    reset_db();
    char *root = cl_t_mkdtemp("daemon");
    copy_in(root, 0, "h264.mp4");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(cl_t_prog("CL_INDEXER"), "camledger-indexer", "--db", conninfo, "--root", root,
              "--layout", LAYOUT, "--tz", TZ, "--stable-secs", "0", "--rescan-secs", "3600",
              (char *)NULL);
        _exit(127);
    }
    char *v = wait_for("SELECT count(*) FROM recordings", NULL, "1", 30);
    assert_string_equal(v, "1");
    free(v);
    /* The watches are set up just after the pass has written its rows. */
    usleep(500000);
    /* A new recording is picked up through the directory watch, long before
     * the hourly rescan; a new camera directory too. */
    copy_in(root, 1, "video.mkv");
    copy_in(root, 3, "audio.ts");
    v = wait_for("SELECT count(*) FROM recordings", NULL, "3", 30);
    assert_string_equal(v, "3");
    free(v);
    char *gone = place(root, 1, "video.mkv");
    unlink(gone);
    v = wait_for("SELECT status FROM recordings WHERE path = $1", gone, "deleted", 30);
    assert_string_equal(v, "deleted");
    free(v);
    free(gone);
    kill(pid, SIGTERM);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    cl_t_rmtree(root);
    free(root);
}

/* What a daemon test leaves behind when it fails half way, for its teardown:
 * the daemon, a private PostgreSQL cluster, a connection holding a lock. */
static pid_t daemon_pid;
static char *private_pg;
static PGconn *locker;

/* The daemon on root, with --stable-secs, --rescan-secs and --jobs as
 * given; its stdout and stderr go to the file log. */
static pid_t start_daemon(const char *db, const char *root, const char *log, const char *stable,
                          const char *rescan, const char *jobs)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execl(cl_t_prog("CL_INDEXER"), "camledger-indexer", "--db", db, "--root", root,
              "--layout", LAYOUT, "--tz", TZ, "--stable-secs", stable, "--rescan-secs", rescan,
              "--jobs", jobs, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static char *read_text(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "r");
    FILE *m = open_memstream(&text, &len);
    assert_non_null(m);
    if (f) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            fwrite(buf, 1, n, m);
        fclose(f);
    }
    fclose(m);
    return text;
}

/* Fails, with the daemon's output, when it is no longer running. */
static void assert_daemon_alive(const char *log)
{
    int st = -1;
    if (daemon_pid > 0 && waitpid(daemon_pid, &st, WNOHANG) == 0)
        return;
    daemon_pid = 0;
    char *text = read_text(log);
    fail_msg("camledger-indexer is gone (wait status %d), output:\n%s", st, text);
}

/* Sends sig to the daemon and waits up to secs for it to exit; returns its
 * wait status. */
static int stop_daemon(int sig, int secs)
{
    int st;
    assert_true(daemon_pid > 0);
    kill(daemon_pid, sig);
    for (int i = 0; i < secs * 10; i++) {
        pid_t r = waitpid(daemon_pid, &st, WNOHANG);
        assert_true(r >= 0);
        if (r == daemon_pid) {
            daemon_pid = 0;
            return st;
        }
        usleep(100000);
    }
    fail_msg("camledger-indexer did not exit within %d s of signal %d", secs, sig);
    return -1;
}

static int count_in_file(const char *path, const char *needle)
{
    char *text = read_text(path);
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* Waits up to secs for the file to hold needle at least n times. */
static int wait_in_file(const char *path, const char *needle, int n, int secs)
{
    int got = 0;
    for (int i = 0; i < secs * 10 && (got = count_in_file(path, needle)) < n; i++)
        usleep(100000);
    return got;
}

/* ALTER DATABASE ... ALLOW_CONNECTIONS, which cannot name the current
 * database: run from the postgres one. */
static void allow_connections(int on)
{
    PGconn *admin = PQconnectdb("dbname=postgres");
    if (PQstatus(admin) != CONNECTION_OK)
        fail_msg("connect dbname=postgres: %s", PQerrorMessage(admin));
    cl_t_exec(admin, on ? "ALTER DATABASE " DB " ALLOW_CONNECTIONS true"
                        : "ALTER DATABASE " DB " ALLOW_CONNECTIONS false");
    PQfinish(admin);
}

static int cleanup_daemon(void **state)
{
    (void)state;
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, NULL, 0);
        daemon_pid = 0;
    }
    if (locker) {
        PQfinish(locker);
        locker = NULL;
        allow_connections(1);
    }
    if (private_pg) {
        cl_t_sh("bash '%s/scripts/pg.sh' stop '%s'", cl_t_prog("CL_SOURCE_ROOT"), private_pg);
        cl_t_rmtree(private_pg);
        free(private_pg);
        private_pg = NULL;
    }
    return 0;
}

/* Starts (or starts again) the private cluster of
 * test_indexer_daemon_survives_database_restart on port 5499, so the
 * shared one other tests use is left alone; returns its conninfo. */
static char *private_pg_start(void)
{
    char *out, *conninfo_private;
    int rc = cl_t_sh_capture(&out,
                             "CL_PGPORT=5499 CL_PG_FSYNC=off bash '%s/scripts/pg.sh' start '%s'",
                             cl_t_prog("CL_SOURCE_ROOT"), private_pg);
    if (rc != 0)
        fail_msg("scripts/pg.sh start %s exited %d: %s", private_pg, rc, out);
    char host[1024] = "", user[256] = "";
    const char *h = strstr(out, "PGHOST="), *u = strstr(out, "PGUSER=");
    if (!h || !u || sscanf(h, "PGHOST=%1023s", host) != 1 || sscanf(u, "PGUSER=%255s", user) != 1)
        fail_msg("scripts/pg.sh start printed no PGHOST/PGUSER: %s", out);
    free(out);
    if (asprintf(&conninfo_private, "host=%s port=5499 dbname=postgres user=%s", host, user) < 0)
        fail();
    return conninfo_private;
}

static PGconn *connect_or_fail(const char *db)
{
    PGconn *c = PQconnectdb(db);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", db, PQerrorMessage(c));
    return c;
}

/* The database goes away under a running daemon and comes back: the
 * recording that arrived meanwhile is indexed, the daemon keeps running and
 * stops cleanly. */
static void test_indexer_daemon_survives_database_restart(void **state)
{
    (void)state;
    private_pg = cl_t_mkdtemp("restart-pg");
    char *db = private_pg_start();
    assert_int_equal(cl_t_sh("'%s' --db '%s' migrate >/dev/null", cl_t_prog("CL_ADMIN"), db), 0);
    PGconn *pc = connect_or_fail(db);
    char *root = cl_t_mkdtemp("restart"), *log;
    assert_true(asprintf(&log, "%s.log", root) > 0);
    copy_in(root, 0, "h264.mp4");
    daemon_pid = start_daemon(db, root, log, "0", "1", "2");
    char *v = wait_for_on(pc, "SELECT count(*) FROM recordings", NULL, "1", 30);
    assert_string_equal(v, "1");
    free(v);
    PQfinish(pc);

    assert_int_equal(cl_t_sh("bash '%s/scripts/pg.sh' stop '%s'", cl_t_prog("CL_SOURCE_ROOT"),
                             private_pg), 0);
    copy_in(root, 1, "video.mkv");
    /* Long enough for the watch, a few rescans and the retry backoff. */
    sleep(3);
    assert_daemon_alive(log);
    free(private_pg_start());

    pc = connect_or_fail(db);
    v = wait_for_on(pc, "SELECT count(*) FILTER (WHERE status = 'ok') FROM recordings", NULL,
                    "2", 60);
    assert_string_equal(v, "2");
    free(v);
    PQfinish(pc);
    assert_daemon_alive(log);
    assert_true(count_in_file(log, "database: reconnected") >= 1);
    int st = stop_daemon(SIGTERM, 30);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char *text = read_text(log);
        fail_msg("camledger-indexer exited with wait status %d:\n%s", st, text);
    }
    unlink(log);
    free(log);
    free(db);
    cl_t_rmtree(root);
    free(root);
}

/* A pass that failed (the root was gone for a while) is not held against
 * the daemon once later passes succeed: SIGTERM still exits 0. */
static void test_indexer_daemon_exit_status_after_recovery(void **state)
{
    (void)state;
    reset_db();
    char *root = cl_t_mkdtemp("away"), *away, *log;
    assert_true(asprintf(&away, "%s.away", root) > 0);
    assert_true(asprintf(&log, "%s.log", root) > 0);
    copy_in(root, 0, "h264.mp4");
    daemon_pid = start_daemon(conninfo, root, log, "0", "1", "2");
    char *v = wait_for("SELECT count(*) FROM recordings", NULL, "1", 30);
    assert_string_equal(v, "1");
    free(v);
    assert_int_equal(rename(root, away), 0);
    assert_int_equal(wait_in_file(log, "cannot read the recording root", 1, 30), 1);
    assert_int_equal(rename(away, root), 0);
    int passes = count_in_file(log, "pass: seen=");
    assert_true(wait_in_file(log, "pass: seen=", passes + 1, 30) > passes);
    int st = stop_daemon(SIGTERM, 30);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    v = cl_t_query1(conn, "SELECT string_agg(status, ',') FROM recordings", NULL);
    assert_string_equal(v, "ok");
    free(v);
    unlink(log);
    free(log);
    free(away);
    cl_t_rmtree(root);
    free(root);
}

/* A recorder writing a file makes a write event every few milliseconds;
 * the file cannot be indexed before it has been still for --stable-secs, so
 * the writes must not cause a full pass each. */
static void test_indexer_daemon_writes_do_not_cause_passes(void **state)
{
    (void)state;
    reset_db();
    char *root = cl_t_mkdtemp("writes"), *log;
    assert_true(asprintf(&log, "%s.log", root) > 0);
    char *path = place(root, 0, ".mp4");
    cl_t_mkparents(path);
    daemon_pid = start_daemon(conninfo, root, log, "3600", "3600", "1");
    assert_int_equal(wait_in_file(log, "pass: seen=", 1, 30), 1);
    /* The watches are set up just after the summary line is written. */
    usleep(500000);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static char chunk[4096];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(fwrite(chunk, 1, sizeof(chunk), f), sizeof(chunk));
        fflush(f);
        usleep(200000);
    }
    fclose(f);
    sleep(2);
    /* The pass at start, and the one a second after the file appeared,
     * which finds it growing. */
    assert_int_equal(count_in_file(log, "pass: seen="), 2);
    assert_int_equal(count_in_file(log, "growing=1"), 1);
    int st = stop_daemon(SIGTERM, 30);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    unlink(log);
    free(log);
    free(path);
    cl_t_rmtree(root);
    free(root);
}

/* SIGTERM while a batch waits on a database that then goes away: the
 * probes still in flight are dropped with the batch (nothing half
 * written, nothing leaked: the sanitizer build checks), exit status 1. */
static void test_indexer_sigterm_while_database_goes_away(void **state)
{
    (void)state;
    reset_db();
    char *root = many_root(600), *log;
    assert_true(asprintf(&log, "%s.log", root) > 0);
    /* SHARE lets the daemon read recordings but holds up its first write. */
    locker = connect_or_fail(conninfo);
    cl_t_exec(locker, "BEGIN");
    cl_t_exec(locker, "LOCK TABLE recordings IN SHARE MODE");
    daemon_pid = start_daemon(conninfo, root, log, "0", "3600", "4");
    char *backend = NULL;
    for (int i = 0; i < 300 && !backend; i++) {
        backend = cl_t_query1(conn,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'camledger-indexer' AND wait_event_type = 'Lock'", NULL);
        if (!backend)
            usleep(100000);
    }
    assert_non_null(backend);
    /* Let the other probes finish while the batch waits. */
    usleep(500000);
    allow_connections(0);
    kill(daemon_pid, SIGTERM);
    char *t = cl_t_query1(conn, "SELECT pg_terminate_backend($1::int)", backend, NULL);
    assert_string_equal(t, "t");
    free(t);
    free(backend);
    int st = stop_daemon(SIGTERM, 30);
    char *text = read_text(log);
    /* A leak report does not change a non-zero exit status: look for it. */
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 1 || !strstr(text, " incomplete") ||
        strstr(text, "Sanitizer"))
        fail_msg("camledger-indexer: wait status %d, output:\n%s", st, text);
    free(text);
    PQfinish(locker);
    locker = NULL;
    allow_connections(1);
    char *n = cl_t_query1(conn, "SELECT count(*) FROM recordings", NULL);
    assert_string_equal(n, "0");
    free(n);
    unlink(log);
    free(log);
    cl_t_rmtree(root);
    free(root);
}

/* On a terminal the progress line is redrawn in place after "\r\033[K",
 * which erases only a line that did not wrap: it must stay narrower than
 * the terminal. script(1) gives the indexer a 40-column one. */
static void test_indexer_progress_line_fits_the_terminal(void **state)
{
    (void)state;
    reset_db();
    char *root = many_root(1200), *out;
    int rc = cl_t_sh_capture(&out,
                             "script -qfec \"stty cols 40; '%s' --db '%s' --root '%s' --layout '%s'"
                             " --tz " TZ " --once --stable-secs 0 --jobs 1\" /dev/null",
                             cl_t_prog("CL_INDEXER"), conninfo, root, LAYOUT);
    assert_int_equal(rc, 0);
    int drawn = 0;
    for (const char *p = strstr(out, "\r\033[K"); p; p = strstr(p, "\r\033[K")) {
        p += 4;
        size_t len = strcspn(p, "\r\n");
        if (strncmp(p, "pass: ", 6) == 0 || len == 0)
            continue;
        if (len > 39)
            fail_msg("progress line of %zu columns on a 40-column terminal: %.*s", len,
                     (int)len, p);
        drawn++;
    }
    assert_true(drawn > 0);
    free(out);
    cl_t_rmtree(root);
    free(root);
}

static void test_indexer_empty_root_marks_nothing_deleted(void **state)
{
    (void)state;
    reset_db();
    char *root = cl_t_mkdtemp("unmounted");
    copy_in(root, 0, "h264.mp4");
    copy_in(root, 1, "video.mkv");
    char *out;
    assert_int_equal(run_indexer(&out, root, NULL), 0);
    assert_int_equal(summary_field(out, "indexed"), 2);
    free(out);
    /* The disk "fails to mount": the mount point is there, empty. */
    assert_int_equal(cl_t_sh("rm -rf '%s'/cam*", root), 0);
    assert_int_equal(run_indexer(&out, root, NULL), 0);
    assert_int_equal(summary_field(out, "deleted"), 0);
    assert_non_null(strstr(out, "is the disk mounted?"));
    free(out);
    char *v = cl_t_query1(conn, "SELECT string_agg(status, ',') FROM recordings", NULL);
    assert_string_equal(v, "ok,ok");
    free(v);
    /* One file back: the other one is now really gone. */
    copy_in(root, 0, "h264.mp4");
    assert_int_equal(run_indexer(&out, root, NULL), 0);
    assert_int_equal(summary_field(out, "deleted"), 1);
    free(out);
    cl_t_rmtree(root);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indexer_keyframes_match_oracle),
        cmocka_unit_test(test_indexer_kill9_then_rerun_equals_clean_run),
        cmocka_unit_test(test_indexer_two_at_once_equal_one),
        cmocka_unit_test(test_indexer_bad_arguments),
        cmocka_unit_test(test_indexer_time_sources),
        cmocka_unit_test(test_indexer_growing_file_left_for_later),
        cmocka_unit_test(test_indexer_empty_root_marks_nothing_deleted),
        cmocka_unit_test(test_indexer_daemon_watches_and_stops_on_sigterm),
        cmocka_unit_test_teardown(test_indexer_daemon_survives_database_restart, cleanup_daemon),
        cmocka_unit_test_teardown(test_indexer_daemon_exit_status_after_recovery, cleanup_daemon),
        cmocka_unit_test_teardown(test_indexer_daemon_writes_do_not_cause_passes, cleanup_daemon),
        cmocka_unit_test_teardown(test_indexer_sigterm_while_database_goes_away, cleanup_daemon),
        cmocka_unit_test(test_indexer_progress_line_fits_the_terminal),
    };
    return cmocka_run_group_tests(tests, make_fixtures, drop_fixtures);
}
