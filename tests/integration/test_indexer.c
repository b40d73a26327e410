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
    return cl_t_sh_capture(out, "'%s' --db '%s' --root '%s' --layout '%s' --tz " TZ
                           " --once --stable-secs 0 %s 2>&1", cl_t_prog("CL_INDEXER"), conninfo,
                           root, LAYOUT, extra ? extra : "");
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

static char *wait_for(const char *sql, const char *param, const char *want, int secs)
{
    char *v = NULL;
    for (int i = 0; i < secs * 10; i++) {
        free(v);
        v = cl_t_query1(conn, sql, param, NULL);
        if (v && strcmp(v, want) == 0)
            break;
        usleep(100000);
    }
    return v;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indexer_keyframes_match_oracle),
        cmocka_unit_test(test_indexer_kill9_then_rerun_equals_clean_run),
        cmocka_unit_test(test_indexer_two_at_once_equal_one),
        cmocka_unit_test(test_indexer_bad_arguments),
        cmocka_unit_test(test_indexer_time_sources),
        cmocka_unit_test(test_indexer_growing_file_left_for_later),
        cmocka_unit_test(test_indexer_daemon_watches_and_stops_on_sigterm),
    };
    return cmocka_run_group_tests(tests, make_fixtures, drop_fixtures);
}
