/* Fulfilling extraction requests end to end: recordings made by the ffmpeg
 * CLI, requests made and approved over HTTP, clips cut by camledger-indexer
 * --exports, downloaded over HTTP and checked with ffprobe and sha256sum. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "http_client.h"
#include "testlib.h"

#define DB "cl_itest_extract"
#define LAYOUT "{camera}/%Y-%m-%d/%H-%M-%S"
#define TZ "Asia/Ho_Chi_Minh"
#define DAY "2026-11-21"

static PGconn *conn;
static const char *conninfo;
static char *root, *exports, *work;
static char *t_adm, *t_inv, *t_inv2, *t_aud;
static pid_t server;
static int port;

static json_t *api(int want, const char *method, const char *path, const char *token, const char *body)
{
    return cl_http_json(port, want, method, path, token, body);
}

static int index_root(const char *extra, char **out)
{
    return cl_t_index_once(out, conninfo, root, LAYOUT, TZ, extra);
}

static int setup(void **state)
{
    (void)state;
    conninfo = cl_t_db_create(DB, &conn);
    work = cl_t_mkdtemp("extract");
    if (asprintf(&root, "%s/rec", work) < 0 || asprintf(&exports, "%s/exports", work) < 0)
        return -1;
    /* cam1: three consecutive minutes from one encode (no B-frames, so a
     * packet's order is its time), a minute missing, one more minute, a
     * minute that will be deleted, and an MPEG-TS cut short. */
    const char *v = "-f lavfi -i testsrc2=size=320x240:rate=25 "
                    "-f lavfi -i sine=frequency=440:sample_rate=48000";
    const char *enc = "-c:v libx264 -preset ultrafast -bf 0 -g 50 -c:a aac";
    if (cl_t_sh("set -e; d='%s/cam1/" DAY "'; mkdir -p \"$d\" && cd \"$d\" && "
                "ffmpeg -nostdin -v error %s -t 180 %s -f segment -segment_time 60 "
                "-reset_timestamps 1 seg%%d.mp4 && mv seg0.mp4 21-40-00.mp4 && "
                "mv seg1.mp4 21-41-00.mp4 && mv seg2.mp4 21-42-00.mp4 && "
                "ffmpeg -nostdin -v error %s -t 60 %s -y 21-44-00.mp4 && "
                "ffmpeg -nostdin -v error %s -t 60 %s -y 21-46-00.mp4 && "
                "ffmpeg -nostdin -v error %s -t 60 %s -f mpegts -y full.ts && "
                "head -c $(( $(stat -c %%s full.ts) / 2 / 188 * 188 + 101 )) full.ts > 21-47-00.ts && "
                "mv full.ts ../../full-ts.keep",
                root, v, enc, v, enc, v, enc, v, enc) != 0)
        return -1;
    char *out;
    if (index_root(NULL, &out) != 0)
        return -1;
    free(out);
    char *gone;
    if (asprintf(&gone, "%s/cam1/" DAY "/21-46-00.mp4", root) < 0 || unlink(gone) < 0)
        return -1;
    free(gone);
    if (index_root(NULL, &out) != 0)
        return -1;
    free(out);

    if (cl_t_sh("'%s' --db '%s' station add --code Q1 --name 'Công an Quận 1' >/dev/null",
                cl_t_prog("CL_ADMIN"), conninfo) != 0)
        return -1;
    t_adm = cl_t_user_token(conninfo, "Trần Văn Bình", "admin", "Q1");
    t_inv = cl_t_user_token(conninfo, "Nguyễn Thị Lan", "investigator", "Q1");
    t_inv2 = cl_t_user_token(conninfo, "Phạm Quốc Huy", "investigator", "Q1");
    t_aud = cl_t_user_token(conninfo, "Lê Minh Đức", "auditor", NULL);
    server = cl_t_server_start(conninfo, "--threads 2", &port);
    json_decref(api(201, "POST", "/v1/cameras", t_adm,
        "{\"code\": \"cam1\", \"name\": \"Ngã tư Nguyễn Huệ\", \"station\": \"Q1\","
        " \"owner_kind\": \"police\", \"retention_days\": 30}"));
    json_decref(api(201, "POST", "/v1/cases", t_inv,
        "{\"number\": \"VA-2026/017\", \"title\": \"Cướp giật điện thoại\"}"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(cl_t_server_stop(server), 0);
    cl_t_db_drop(DB, conn);
    cl_t_rmtree(work);
    return 0;
}

static long long make_request(const char *camera, const char *from, const char *to)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"case\": \"VA-2026/017\", \"camera\": \"%s\", \"from\": \"" DAY
             "T%s+07:00\", \"to\": \"" DAY "T%s+07:00\", \"reason\": \"Xác định nghi phạm\"}",
             camera, from, to);
    json_t *j = api(201, "POST", "/v1/requests", t_inv, body);
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

static void approve(long long id)
{
    char path[64];
    snprintf(path, sizeof(path), "/v1/requests/%lld/approve", id);
    json_decref(api(200, "POST", path, t_adm, NULL));
}

static json_t *get_request(long long id)
{
    char path[64];
    snprintf(path, sizeof(path), "/v1/requests/%lld", id);
    return api(200, "GET", path, t_inv, NULL);
}

static long fulfil_field(const char *out, const char *key)
{
    const char *line = strstr(out, "fulfil: ");
    if (!line)
        fail_msg("no fulfil line in: %s", out);
    char pat[32];
    snprintf(pat, sizeof(pat), "%s=", key);
    const char *p = strstr(line, pat);
    assert_non_null(p);
    return strtol(p + strlen(pat), NULL, 10);
}

/* Downloads the request's clip to a file and returns its path. */
static char *download(long long id, const char *file, const char *token, int want)
{
    char path[64];
    snprintf(path, sizeof(path), "/v1/requests/%lld/%s", id, file);
    cl_http_resp_t r;
    assert_int_equal(cl_http(port, "GET", path, token, NULL, NULL, 0, &r), 0);
    if (r.status != want)
        fail_msg("GET %s: %d (want %d): %s", path, r.status, want, r.body);
    char *dst = NULL;
    if (want == 200) {
        if (asprintf(&dst, "%s/dl-%lld-%s", work, id, file) < 0)
            fail();
        FILE *f = fopen(dst, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(r.body, 1, r.body_len, f), r.body_len);
        fclose(f);
    }
    cl_http_resp_free(&r);
    return dst;
}

static char *sha256sum(const char *file)
{
    char *out;
    assert_int_equal(cl_t_sh_capture(&out, "sha256sum '%s' | cut -c1-64", file), 0);
    out[64] = '\0';
    return out;
}

static double probe_value(const char *file, const char *entries)
{
    char *out;
    assert_int_equal(cl_t_sh_capture(&out, "ffprobe -v error -show_entries %s -of csv=p=0 '%s'",
                                     entries, file), 0);
    double v = strtod(out, NULL);
    free(out);
    return v;
}

/* Video packets of the clip: count, whether the first is a keyframe, and
 * whether decode times strictly increase and presentation times are unique. */
static void clip_packets(const char *file, int *count, int *first_key, int *monotonic)
{
    char *out;
    assert_int_equal(cl_t_sh_capture(&out, "ffprobe -v error -select_streams v:0 -show_entries "
                                     "packet=dts_time,pts_time,flags -of csv=p=0 '%s'", file), 0);
    *count = 0;
    *first_key = 0;
    *monotonic = 1;
    double last_dts = -1e18;
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        double pts, dts;
        char flags[8] = "";
        if (sscanf(l, "%lf,%lf,%7s", &pts, &dts, flags) != 3)
            continue;
        if (*count == 0)
            *first_key = strchr(flags, 'K') != NULL;
        if (dts <= last_dts)
            *monotonic = 0;
        last_dts = dts;
        (*count)++;
    }
    free(out);
}

/* Source video packets whose wall time lies in [from, to): what the clip
 * must hold. Sources start at 21:40 + minute, one packet per 40 ms. */
static int expected_packets(double from_s, double to_s)
{
    int n = 0;
    for (int k = 0; k < 25 * 600; k++) {
        double t = k * 0.04;
        if (t >= from_s - 1e-6 && t < to_s - 1e-6)
            n++;
    }
    return n;
}

static void test_extract_windows(void **state)
{
    (void)state;
    /* Times are local (+07:00); cam1 covers 21:40-21:43, 21:44-21:45, and
     * 21:47-21:47:30 (cut short); 21:46 was deleted. */
    long long a = make_request("cam1", "21:40:10", "21:40:50");   /* inside one file */
    long long b = make_request("cam1", "21:40:31", "21:41:30");   /* across two */
    long long c = make_request("cam1", "21:40:30", "21:42:30");   /* across three */
    long long d = make_request("cam1", "21:42:30", "21:44:30");   /* across a gap */
    long long e = make_request("cam1", "21:46:10", "21:46:50");   /* deleted footage */
    long long f = make_request("cam1", "21:47:03", "21:47:20");   /* a truncated file */

    /* Before the cut: when the footage will be overwritten, most urgent first. */
    json_t *ra = get_request(a);
    assert_string_equal(json_string_value(json_object_get(ra, "overwrite_at")), "2026-12-21T14:40:00.000Z");
    json_decref(ra);
    json_t *risk = api(200, "GET", "/v1/requests?at_risk=true", t_adm, NULL);
    json_t *list = json_object_get(risk, "requests");
    assert_int_equal(json_array_size(list), 6);
    long long order[6];
    for (size_t i = 0; i < 6; i++)
        order[i] = json_integer_value(json_object_get(json_array_get(list, i), "id"));
    long long want_order[6] = {a, b, c, d, f, e};
    assert_memory_equal(order, want_order, sizeof(order));
    assert_true(json_is_null(json_object_get(json_array_get(list, 5), "overwrite_at")));
    json_decref(risk);

    long long all[6] = {a, b, c, d, e, f};
    for (int i = 0; i < 6; i++)
        approve(all[i]);
    char *out;
    char extra[1024];
    snprintf(extra, sizeof(extra), "--exports '%s'", exports);
    assert_int_equal(index_root(extra, &out), 0);
    printf("%s", out);
    assert_int_equal(fulfil_field(out, "fulfilled"), 4);
    assert_int_equal(fulfil_field(out, "partial"), 1);
    assert_int_equal(fulfil_field(out, "unavailable"), 1);
    free(out);

    struct { long long id; const char *status; double from_s, to_s; } w[] = {
        {a, "fulfilled", 10, 50}, {b, "fulfilled", 31, 90}, {c, "fulfilled", 30, 150},
        {d, "partial", 150, 270}, {f, "fulfilled", 423, 440},
    };
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        json_t *r = get_request(w[i].id);
        assert_string_equal(json_string_value(json_object_get(r, "status")), w[i].status);
        const char *sha = json_string_value(json_object_get(json_object_get(r, "clip"), "sha256"));
        assert_non_null(sha);
        char *file = download(w[i].id, "clip", t_inv, 200);
        char *got = sha256sum(file);
        assert_string_equal(got, sha);
        char *on_disk;
        if (asprintf(&on_disk, "%s/request-%lld.mp4", exports, w[i].id) < 0)
            fail();
        char *disk_sha = sha256sum(on_disk);
        assert_string_equal(disk_sha, sha);
        free(disk_sha);
        free(on_disk);
        free(got);

        /* The clip starts on a keyframe, plays from `from`, covers to `to`,
         * holds every source packet of the window once, in order. */
        int count, first_key, monotonic;
        clip_packets(file, &count, &first_key, &monotonic);
        assert_true(first_key);
        assert_true(monotonic);
        double start = probe_value(file, "format=start_time");
        assert_true(fabs(start) <= 0.040);
        char *audio;
        assert_int_equal(cl_t_sh_capture(&audio, "ffprobe -v error -select_streams a "
                                         "-show_entries stream=codec_name -of csv=p=0 '%s'", file), 0);
        assert_string_equal(audio, "aac\n");
        free(audio);
        if (strcmp(w[i].status, "fulfilled") == 0) {
            double dur = probe_value(file, "format=duration");
            if (fabs(dur - (w[i].to_s - w[i].from_s)) > 0.040 + 0.025)
                fail_msg("request %lld: clip plays %.3f s, window %.3f s", w[i].id, dur,
                         w[i].to_s - w[i].from_s);
            /* From the keyframe at or before `from` (keyframes every 2 s). */
            double kf = floor(w[i].from_s / 2.0) * 2.0;
            int want = expected_packets(kf, w[i].to_s);
            if (count != want)
                fail_msg("request %lld: %d video packets in the clip, %d in the sources", w[i].id,
                         count, want);
        }
        free(file);
        json_decref(r);
    }

    /* The gap is in the manifest, with its reason. */
    char *mf = download(d, "manifest", t_inv, 200);
    json_t *m = json_load_file(mf, 0, NULL);
    assert_non_null(m);
    json_t *gaps = json_object_get(m, "gaps");
    assert_int_equal(json_array_size(gaps), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(gaps, 0), "start")), DAY "T14:43:00.000Z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(gaps, 0), "end")), DAY "T14:44:00.000Z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(gaps, 0), "reason")), "no_recording");
    assert_int_equal(json_array_size(json_object_get(m, "sources")), 2);
    json_t *rd = get_request(d);
    char *msha = sha256sum(mf);
    assert_string_equal(msha, json_string_value(json_object_get(rd, "manifest_sha256")));
    free(msha);
    json_decref(rd);
    json_decref(m);
    free(mf);

    /* Deleted footage: no clip, a manifest that says why. */
    json_t *re = get_request(e);
    assert_string_equal(json_string_value(json_object_get(re, "status")), "unavailable");
    assert_true(json_is_null(json_object_get(re, "clip")));
    json_decref(re);
    assert_null(download(e, "clip", t_inv, 404));
    mf = download(e, "manifest", t_inv, 200);
    m = json_load_file(mf, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(m, "gaps"), 0), "reason")), "deleted");
    assert_true(json_is_null(json_object_get(m, "clip")));
    json_decref(m);
    free(mf);

    /* Byte ranges: exactly those bytes. */
    char path[64];
    snprintf(path, sizeof(path), "/v1/requests/%lld/clip", c);
    cl_http_resp_t r;
    assert_int_equal(cl_http(port, "GET", path, t_inv, "Range: bytes=100-1099\r\n", NULL, 0, &r), 0);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.body_len, 1000);
    char *cr = cl_http_header(&r, "content-range");
    char *ctype = cl_http_header(&r, "content-type");
    assert_string_equal(ctype, "video/mp4");
    json_t *rc = get_request(c);
    char want_cr[64];
    snprintf(want_cr, sizeof(want_cr), "bytes 100-1099/%lld",
             (long long)json_integer_value(json_object_get(json_object_get(rc, "clip"), "size")));
    assert_string_equal(cr, want_cr);
    char *etag = cl_http_header(&r, "etag");
    char want_etag[80];
    snprintf(want_etag, sizeof(want_etag), "\"%s\"",
             json_string_value(json_object_get(json_object_get(rc, "clip"), "sha256")));
    assert_string_equal(etag, want_etag);
    char *on_disk;
    if (asprintf(&on_disk, "%s/request-%lld.mp4", exports, c) < 0)
        fail();
    FILE *fp = fopen(on_disk, "rb");
    char disk[1000];
    fseek(fp, 100, SEEK_SET);
    assert_int_equal(fread(disk, 1, 1000, fp), 1000);
    fclose(fp);
    assert_memory_equal(r.body, disk, 1000);
    free(cr);
    free(ctype);
    free(etag);
    free(on_disk);
    json_decref(rc);
    cl_http_resp_free(&r);
    assert_int_equal(cl_http(port, "GET", path, t_inv, "Range: bytes=999999999-\r\n", NULL, 0, &r), 0);
    assert_int_equal(r.status, 416);
    cl_http_resp_free(&r);

    /* Who may download: the requester and the station's admins. */
    assert_null(download(c, "clip", t_inv2, 403));
    assert_null(download(c, "clip", t_aud, 403));
    assert_null(download(c, "clip", NULL, 401));
    free(download(c, "clip", t_adm, 200));

    /* The audit log: one outcome per request with the clip's hash, every
     * download with its bytes; and the chain verifies. */
    char *n = cl_t_query1(conn, "SELECT count(*) FROM audit_log WHERE action IN "
                          "('request.fulfilled', 'request.partial', 'request.unavailable')", NULL);
    assert_string_equal(n, "6");
    free(n);
    n = cl_t_query1(conn, "SELECT count(*) FROM audit_log a JOIN requests r ON r.id::text = a.object_id"
                    " WHERE a.action IN ('request.fulfilled', 'request.partial')"
                    " AND a.data ->> 'clip_sha256' = r.clip_sha256", NULL);
    assert_string_equal(n, "5");
    free(n);
    n = cl_t_query1(conn, "SELECT count(*) FROM audit_log WHERE action = 'request.downloaded'"
                    " AND data ->> 'bytes' = 'bytes=100-1099'", NULL);
    assert_string_equal(n, "1");
    free(n);
    json_t *v = api(200, "GET", "/v1/audit/verify", t_aud, NULL);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_decref(v);
}

static void test_extract_two_indexers_cut_each_once(void **state)
{
    (void)state;
    long long ids[8];
    for (int i = 0; i < 8; i++) {
        char from[16], to[16];
        snprintf(from, sizeof(from), "21:4%d:%02d", i % 3, 5 + i);
        snprintf(to, sizeof(to), "21:4%d:%02d", i % 3, 25 + i);
        ids[i] = make_request("cam1", from, to);
        approve(ids[i]);
    }
    char *out;
    assert_int_equal(cl_t_sh_capture(&out, "for i in 1 2; do '%s' --db '%s' --root '%s' --layout '%s'"
                     " --tz " TZ " --once --stable-secs 0 --exports '%s' 2>/dev/null & done; wait",
                     cl_t_prog("CL_INDEXER"), conninfo, root, LAYOUT, exports), 0);
    long total = 0;
    for (const char *p = out; (p = strstr(p, "fulfilled=")) != NULL; p++)
        total += strtol(p + 10, NULL, 10);
    assert_int_equal(total, 8);
    free(out);
    for (int i = 0; i < 8; i++) {
        char id[24];
        snprintf(id, sizeof(id), "%lld", ids[i]);
        char *n = cl_t_query1(conn, "SELECT count(*) FROM audit_log WHERE object_id = $1"
                              " AND action = 'request.fulfilled'", id, NULL);
        assert_string_equal(n, "1");
        free(n);
    }
}

/* A file name "request-ID.mp4.part-PID" in exports: the cut is under way. */
static int part_file_exists(long long id)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "request-%lld.mp4.part-", id);
    DIR *dir = opendir(exports);
    int found = 0;
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL)
        found |= strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    if (dir)
        closedir(dir);
    return found;
}

/* N in the indexer's "removed N part files" line, 0 without one. */
static int removed_parts(const char *out)
{
    const char *at = strstr(out, ": removed ");
    return at ? atoi(at + 10) : 0;
}

static void test_extract_kill9_mid_cut_is_taken_over(void **state)
{
    (void)state;
    /* A camera with big recordings, so a cut takes long enough to kill. */
    assert_int_equal(cl_t_sh("set -e; d='%s/cambig/" DAY "'; mkdir -p \"$d\" && "
                             "ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=1280x720:rate=25 "
                             "-t 40 -c:v mpeg4 -q:v 1 -g 50 -y \"$d/21-40-00.mp4\"", root), 0);
    char *out;
    assert_int_equal(index_root(NULL, &out), 0);
    free(out);
    int killed_mid_cut = 0;
    for (int attempt = 0; attempt < 3 && !killed_mid_cut; attempt++) {
        long long id = make_request("cambig", "21:40:01", "21:40:39");
        approve(id);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execl(cl_t_prog("CL_INDEXER"), "camledger-indexer", "--db", conninfo, "--root", root,
                  "--layout", LAYOUT, "--tz", TZ, "--once", "--stable-secs", "0", "--exports",
                  exports, "--claim-secs", "2", (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 20000 && !part_file_exists(id); i++)
            usleep(500);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        char final[4096];
        snprintf(final, sizeof(final), "%s/request-%lld.mp4", exports, id);
        char sid[24];
        snprintf(sid, sizeof(sid), "%lld", id);
        char *st = cl_t_query1(conn, "SELECT status FROM requests WHERE id = $1", sid, NULL);
        if (strcmp(st, "approved") != 0) {
            /* The cut had finished before the kill: try again. */
            free(st);
            continue;
        }
        free(st);
        killed_mid_cut = 1;
        /* No half clip under the final name. */
        struct stat sb;
        assert_int_equal(stat(final, &sb), -1);
        /* The dead claim holds until its lease runs out, then is taken over. */
        char extra[1024];
        snprintf(extra, sizeof(extra), "--exports '%s' --claim-secs 2", exports);
        /* Part files: the killed indexer's is removed by a later one (once
         * it is older than the lease), and so is another stale one; one a
         * live process holds the lock of, and one just written, are kept. */
        char stale[4500], held[4500], fresh[4500];
        snprintf(stale, sizeof(stale), "%s/request-%lld.mp4.part-otherhost-1", exports, id);
        snprintf(held, sizeof(held), "%s/request-%lld.manifest.json.part-livehost-2", exports, id);
        snprintf(fresh, sizeof(fresh), "%s/request-%lld.mp4.part-newhost-3", exports, id);
        cl_t_write_file(stale, (const unsigned char *)"x", 1);
        cl_t_write_file(held, (const unsigned char *)"x", 1);
        struct timespec old[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
        assert_int_equal(utimensat(AT_FDCWD, stale, old, 0), 0);
        assert_int_equal(utimensat(AT_FDCWD, held, old, 0), 0);
        int held_fd = open(held, O_RDONLY | O_CLOEXEC);
        assert_true(held_fd >= 0);
        assert_int_equal(flock(held_fd, LOCK_EX), 0);
        assert_int_equal(index_root(extra, &out), 0);
        assert_null(strstr(out, "fulfil: "));
        int swept = removed_parts(out);
        free(out);
        sleep(3);
        cl_t_write_file(fresh, (const unsigned char *)"x", 1);
        assert_int_equal(index_root(extra, &out), 0);
        assert_int_equal(fulfil_field(out, "fulfilled"), 1);
        swept += removed_parts(out);
        free(out);
        assert_int_equal(swept, 2);  /* the stale one and the killed indexer's */
        struct stat gone;
        assert_int_equal(stat(stale, &gone), -1);
        assert_int_equal(stat(held, &gone), 0);
        assert_int_equal(stat(fresh, &gone), 0);
        close(held_fd);
        assert_int_equal(unlink(held), 0);
        assert_int_equal(unlink(fresh), 0);
        assert_false(part_file_exists(id));
        st = cl_t_query1(conn, "SELECT status || ' ' || clip_sha256 FROM requests WHERE id = $1", sid, NULL);
        char *sha = sha256sum(final);
        char want[128];
        snprintf(want, sizeof(want), "fulfilled %s", sha);
        assert_string_equal(st, want);
        free(sha);
        free(st);
    }
    assert_true(killed_mid_cut);
}

static void test_extract_failed_cuts_retry_then_fail(void **state)
{
    (void)state;
    /* A recording the index holds as ok, whose bytes were since replaced by
     * garbage of the same size and mtime (a failing disk): the cut fails. */
    assert_int_equal(cl_t_sh("set -e; d='%s/camfail/" DAY "'; mkdir -p \"$d\" && "
                             "ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 "
                             "-t 20 -c:v libx264 -preset ultrafast -g 50 -y \"$d/21-40-00.mp4\"", root), 0);
    char *out;
    assert_int_equal(index_root(NULL, &out), 0);
    free(out);
    assert_int_equal(cl_t_sh("set -e; f='%s/camfail/" DAY "/21-40-00.mp4'; cp -p \"$f\" \"$f.orig\" && "
                             "head -c $(stat -c %%s \"$f\") /dev/urandom > \"$f\" && touch -r \"$f.orig\" \"$f\" && "
                             "mv \"$f.orig\" '%s/camfail.orig'", root, work), 0);
    long long id = make_request("camfail", "21:40:02", "21:40:12");
    approve(id);
    char sid[24];
    snprintf(sid, sizeof(sid), "%lld", id);
    char extra[1024];
    snprintf(extra, sizeof(extra), "--exports '%s' --max-attempts 2", exports);

    /* First failure: kept approved, with the reason, retried later. */
    assert_int_equal(index_root(extra, &out), 0);
    assert_int_equal(fulfil_field(out, "retried"), 1);
    free(out);
    char *v = cl_t_query1(conn, "SELECT concat_ws(',', status, attempts, last_error IS NOT NULL,"
                          " next_attempt_at > now() + interval '20 seconds', claimed_by IS NULL)"
                          " FROM requests WHERE id = $1", sid, NULL);
    assert_string_equal(v, "approved,1,t,t,t");
    free(v);
    /* Not before the backoff has passed. */
    assert_int_equal(index_root(extra, &out), 0);
    assert_null(strstr(out, "fulfil: "));
    free(out);
    free(cl_t_query1(conn, "UPDATE requests SET next_attempt_at = now() WHERE id = $1 RETURNING id",
                     sid, NULL));
    /* The second failure is the last allowed: failed, with the reason. */
    assert_int_equal(index_root(extra, &out), 0);
    assert_int_equal(fulfil_field(out, "failed"), 1);
    json_t *r = get_request(id);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "failed");
    /* The reason names the recording by its file name: the storage node's
     * paths are for its log, not for the API. */
    const char *why = json_string_value(json_object_get(r, "error"));
    if (!why || strncmp(why, "21-40-00.mp4: ", 14) != 0 || strlen(why) <= 14 || strchr(why, '/'))
        fail_msg("error of a failed request: %s", why ? why : "(none)");
    json_decref(r);
    char *logged = cl_t_query1(conn, "SELECT count(*) FROM audit_log WHERE object_id = $1"
                               " AND data ->> 'error' LIKE '%/%'", sid, NULL);
    assert_string_equal(logged, "0");
    free(logged);
    char full[4096];
    snprintf(full, sizeof(full), "%s/camfail/" DAY "/21-40-00.mp4: ", root);
    if (!strstr(out, full))
        fail_msg("the indexer's log should name the recording's path %s in: %s", full, out);
    char *n = cl_t_query1(conn, "SELECT count(*) FROM audit_log WHERE object_id = $1"
                          " AND action = 'request.failed' AND data ->> 'attempts' = '2'", sid, NULL);
    assert_string_equal(n, "1");
    free(n);
    free(out);
    char final[4096];
    snprintf(final, sizeof(final), "%s/request-%lld.mp4", exports, id);
    struct stat sb;
    assert_int_equal(stat(final, &sb), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract_windows),
        cmocka_unit_test(test_extract_two_indexers_cut_each_once),
        cmocka_unit_test(test_extract_kill9_mid_cut_is_taken_over),
        cmocka_unit_test(test_extract_failed_cuts_retry_then_fail),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
