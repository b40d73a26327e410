/* camledger-server end to end: the real binary over real HTTP, a real
 * PostgreSQL, and real recordings made with the ffmpeg CLI and indexed by
 * camledger-indexer. Bodies are parsed with jansson and checked field by
 * field; keyframe times are checked against the ffprobe oracle. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "http_client.h"
#include "testlib.h"

#define DB "cl_itest_http"
#define DB_BARE "cl_itest_http_bare"
#define LAYOUT "{camera}/%Y-%m-%d/%H-%M-%S"
#define TZ "Asia/Ho_Chi_Minh"
/* 2025-11-21 21:40:00 in Asia/Ho_Chi_Minh (UTC+7) is 14:40:00Z. */
#define BASE_EPOCH 1763736000LL
#define JSON_CT "application/json; charset=utf-8"

/* ------------------------------------------------------------ scratch memory */

/* Strings and JSON values made by the tests live until the group ends. */
static void **arena;
static size_t arena_n, arena_cap;
static json_t **jarena;
static size_t jarena_n, jarena_cap;

static void *keep(void *p)
{
    if (!p)
        return NULL;
    if (arena_n == arena_cap) {
        arena_cap = arena_cap ? arena_cap * 2 : 256;
        arena = realloc(arena, arena_cap * sizeof(*arena));
        assert_non_null(arena);
    }
    arena[arena_n++] = p;
    return p;
}

static json_t *keepj(json_t *j)
{
    if (!j)
        return NULL;
    if (jarena_n == jarena_cap) {
        jarena_cap = jarena_cap ? jarena_cap * 2 : 256;
        jarena = realloc(jarena, jarena_cap * sizeof(*jarena));
        assert_non_null(jarena);
    }
    jarena[jarena_n++] = j;
    return j;
}

static void arena_free(void)
{
    for (size_t i = 0; i < arena_n; i++)
        free(arena[i]);
    for (size_t i = 0; i < jarena_n; i++)
        json_decref(jarena[i]);
    free(arena);
    free(jarena);
    arena = NULL;
    jarena = NULL;
    arena_n = arena_cap = jarena_n = jarena_cap = 0;
}

static char *__attribute__((format(printf, 1, 2))) S(const char *fmt, ...)
{
    char *s;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        fail_msg("out of memory");
    va_end(ap);
    return keep(s);
}

/* Percent-encodes everything but RFC 3986's unreserved characters. */
static char *enc(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = keep(malloc(strlen(s) * 3 + 1)), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* A JSON value as compact text (the value is consumed). */
static char *J(json_t *v)
{
    assert_non_null(v);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    assert_non_null(s);
    return keep(s);
}

/* ------------------------------------------------------------ the setting */

static char *tmp;           /* scratch directory of the group */
static char *server_err;    /* the server's stderr */
static char *conninfo;
static PGconn *conn;
static pid_t server;
static int port;
static double *oracle;      /* keyframe times of the fixture, seconds from its first frame */
static size_t n_oracle;

typedef struct user {
    const char *name, *role, *station;
    char token[80];
} user_t;

static user_t users[] = {
    {"Nguyễn Thị Minh Khai", "investigator", "BT", ""},
    {"Trần Văn Bảy", "investigator", "BT", ""},
    {"Phạm Thu Hà", "investigator", "HK", ""},
    {"Lê Quang Huy", "admin", "BT", ""},
    {"Đỗ Mạnh Hùng", "admin", "HK", ""},
    {"Vũ Thị Kiểm Toán", "auditor", NULL, ""},
};
#define INV1 (users[0].token)
#define INV2 (users[1].token)
#define INV3 (users[2].token)
#define ADM1 (users[3].token)
#define ADM2 (users[4].token)
#define AUD (users[5].token)
#define BAD_TOKEN "0000000000000000000000000000000000000000000000000000000000000000"

/* Audit entries the API calls so far must have written. */
static int audit_n;

/* Requests made, for the extraction counts. */
typedef struct tally {
    long long id;
    char case_number[80], station[8], camera[160], month[8];
    double secs;
    int approved, rejected;
} tally_t;
static tally_t tallies[128];
static size_t n_tallies;

/* Case number to station, for the tally. */
typedef struct case_station {
    char number[80], station[8];
} case_station_t;
static case_station_t case_stations[64];
static size_t n_case_stations;

static void note_case(const char *number, const char *station)
{
    assert_true(n_case_stations < sizeof(case_stations) / sizeof(case_stations[0]));
    snprintf(case_stations[n_case_stations].number, sizeof(case_stations[0].number), "%s", number);
    snprintf(case_stations[n_case_stations].station, sizeof(case_stations[0].station), "%s", station);
    n_case_stations++;
}

static const char *station_of_case(const char *number)
{
    for (size_t i = 0; i < n_case_stations; i++)
        if (strcmp(case_stations[i].number, number) == 0)
            return case_stations[i].station;
    fail_msg("case %s was not opened by this test", number);
    return NULL;
}

/* ------------------------------------------------------------ HTTP */

typedef struct answer {
    int status;
    const char *ctype;     /* NULL when absent */
    const char *body;
    size_t len;
    json_t *json;          /* NULL when the body is not JSON */
} answer_t;

static answer_t send_to(int to_port, const char *method, const char *path, const char *token,
                        const char *headers, const char *body, size_t len)
{
    cl_http_resp_t r;
    int err = cl_http(to_port, method, path, token, headers, body, len, &r);
    if (err)
        fail_msg("%s %s: %s", method, path, strerror(-err));
    answer_t a = {0};
    a.status = r.status;
    a.ctype = keep(cl_http_header(&r, "content-type"));
    a.body = keep(r.body);
    a.len = r.body_len;
    r.body = NULL;
    cl_http_resp_free(&r);
    if (a.ctype && strncmp(a.ctype, "application/json", 16) == 0)
        a.json = keepj(json_loadb(a.body, a.len, 0, NULL));
    return a;
}

/* Every error is {"error": {"code": ..., "message": ...}} (an import's also
 * carries "lines"). */
static void check_error_shape(const answer_t *a, const char *what)
{
    if (!a->ctype || strcmp(a->ctype, JSON_CT) != 0 || !a->json)
        fail_msg("%s: status %d without a JSON body (%s): %.300s", what, a->status,
                 a->ctype ? a->ctype : "no content-type", a->body);
    json_t *e = json_object_get(a->json, "error");
    if (json_object_size(a->json) != 1 || !json_is_object(e) ||
        !json_is_string(json_object_get(e, "code")) || !json_is_string(json_object_get(e, "message")) ||
        json_string_length(json_object_get(e, "message")) == 0 ||
        json_object_size(e) != (json_object_get(e, "lines") ? 3u : 2u))
        fail_msg("%s: not the error shape: %.300s", what, a->body);
}

/* Sends to the server of the group; any answer below 500 unless want says
 * otherwise, and errors in their shape. */
static answer_t ask(const char *method, const char *path, const char *token, const char *headers,
                    const char *body, size_t len)
{
    answer_t a = send_to(port, method, path, token, headers, body, len);
    if (a.status >= 500 || a.status < 200)
        fail_msg("%s %s: status %d: %.500s", method, path, a.status, a.body);
    if (a.status >= 400)
        check_error_shape(&a, S("%s %s", method, path));
    return a;
}

/* A JSON request (body may be NULL) answered with status want; returns the
 * parsed body. */
static json_t *api(int want, const char *method, const char *path, const char *token, const char *body)
{
    answer_t a = ask(method, path, token, body ? "Content-Type: application/json\r\n" : NULL, body,
                     body ? strlen(body) : 0);
    if (a.status != want)
        fail_msg("%s %s: expected %d, got %d: %.800s", method, path, want, a.status, a.body);
    if (!a.ctype || strcmp(a.ctype, JSON_CT) != 0 || !a.json)
        fail_msg("%s %s: not a JSON answer (%s)", method, path, a.ctype ? a.ctype : "none");
    return a.json;
}

/* A request refused with status want and error code; returns the error. */
static json_t *api_err(int want, const char *code, const char *method, const char *path,
                       const char *token, const char *body)
{
    json_t *j = api(want, method, path, token, body);
    json_t *e = json_object_get(j, "error");
    if (strcmp(json_string_value(json_object_get(e, "code")), code) != 0)
        fail_msg("%s %s: expected error %s, got %s", method, path, code,
                 json_string_value(json_object_get(e, "code")));
    return e;
}

/* ------------------------------------------------------------ JSON checks */

static json_t *field(json_t *o, const char *key)
{
    if (!json_is_object(o))
        fail_msg("looking up %s in a non-object", key);
    json_t *v = json_object_get(o, key);
    if (!v)
        fail_msg("no field %s in %s", key, J(json_incref(o)));
    return v;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = field(o, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string in %s", key, J(json_incref(o)));
    return json_string_value(v);
}

static long long num_i(json_t *o, const char *key)
{
    json_t *v = field(o, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer in %s", key, J(json_incref(o)));
    return json_integer_value(v);
}

static double num(json_t *o, const char *key)
{
    json_t *v = field(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number in %s", key, J(json_incref(o)));
    return json_number_value(v);
}

#define expect_str(o, key, want) assert_string_equal(str((o), (key)), (want))
#define expect_int(o, key, want) assert_int_equal(num_i((o), (key)), (want))
#define expect_num(o, key, want) assert_true(num((o), (key)) == (want))
#define expect_null(o, key) assert_true(json_is_null(field((o), (key))))
#define expect_bool(o, key, want) assert_true(json_is_boolean(field((o), (key))) && \
                                              json_boolean_value(field((o), (key))) == (want))

/* The object has exactly these keys (comma-separated). */
static void expect_keys(json_t *o, const char *keys)
{
    size_t n = 0;
    char *copy = S("%s", keys), *save = NULL;
    for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        if (!json_object_get(o, k))
            fail_msg("missing key %s in %s", k, J(json_incref(o)));
        n++;
    }
    if (json_object_size(o) != n)
        fail_msg("expected exactly the keys %s in %s", keys, J(json_incref(o)));
}

/* RFC 3339 UTC with milliseconds: 2025-11-21T14:40:00.000Z. */
static void expect_time_format(const char *t)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    int ok = strlen(t) == sizeof(pat) - 1;
    for (size_t i = 0; ok && i < sizeof(pat) - 1; i++)
        ok = pat[i] == 'd' ? (t[i] >= '0' && t[i] <= '9') : t[i] == pat[i];
    if (!ok)
        fail_msg("not an RFC 3339 UTC time with milliseconds: %s", t);
}

/* The UTC text of BASE_EPOCH + ms. */
static char *at_ms(long long ms)
{
    time_t t = (time_t)(BASE_EPOCH + ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return S("%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

/* A timestamp column of one row, as the API writes it. */
static char *db_time(const char *sql, const char *param)
{
    char *v = cl_t_query1(conn, sql, param, NULL);
    assert_non_null(v);
    return keep(v);
}

/* ------------------------------------------------------------ group set-up */

static void run_ok(const char *what, int rc)
{
    if (rc != 0)
        fail_msg("%s exited %d", what, rc);
}

/* The last non-empty line of text, in place. */
static char *last_line(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

static char *add_user(const char *db, const user_t *u, char *token, size_t len)
{
    char *out;
    int rc = cl_t_sh_capture(&out, "'%s' --db '%s' user add --name '%s' --role %s %s%s",
                             cl_t_prog("CL_ADMIN"), db, u->name, u->role,
                             u->station ? "--station " : "", u->station ? u->station : "");
    if (rc != 0)
        fail_msg("user add %s exited %d", u->name, rc);
    const char *t = last_line(out);
    assert_int_equal(strlen(t), 64);
    snprintf(token, len, "%s", t);
    free(out);
    return token;
}

static void place_file(const char *root, const char *camera, const char *hms, const char *src)
{
    char *dst = S("%s/%s/2025-11-21/%s.mp4", root, camera, hms);
    cl_t_mkparents(dst);
    run_ok("cp", cl_t_sh("cp '%s' '%s'", src, dst));
}

static void run_indexer(const char *root)
{
    char *out;
    int rc = cl_t_sh_capture(&out, "'%s' --db '%s' --root '%s' --layout '%s' --tz " TZ
                             " --once --stable-secs 0 2>&1", cl_t_prog("CL_INDEXER"), conninfo, root, LAYOUT);
    if (rc != 0)
        fail_msg("camledger-indexer exited %d: %s", rc, out);
    free(out);
}

/* The sanitizer report in a server's stderr file (malloc'ed), or NULL. */
static char *sanitizer_report(const char *file)
{
    char *out;
    cl_t_sh_capture(&out, "cat '%s' 2>/dev/null", file);
    if (strstr(out, "ERROR: AddressSanitizer") || strstr(out, "runtime error:") ||
        strstr(out, "ERROR: LeakSanitizer"))
        return out;
    free(out);
    return NULL;
}

/* Fails when a sanitizer reported anything in the server's stderr. */
static void check_sanitizer_log(const char *file)
{
    char *report = sanitizer_report(file);
    if (report)
        fail_msg("the server's stderr holds a sanitizer report:\n%s", keep(report));
}

static int group_setup(void **state)
{
    (void)state;
    tmp = cl_t_mkdtemp("http");
    server_err = S("%s/server.err", tmp);
    conninfo = S("%s", cl_t_db_create(DB, &conn));
    const char *admin = cl_t_prog("CL_ADMIN");
    run_ok("station add", cl_t_sh("'%s' --db '%s' station add --code BT --name 'Công an phường Bến Thành' >/dev/null",
                                  admin, conninfo));
    run_ok("station add", cl_t_sh("'%s' --db '%s' station add --code HK --name 'Công an phường Hàng Trống' >/dev/null",
                                  admin, conninfo));
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
        add_user(conninfo, &users[i], users[i].token, sizeof(users[i].token));

    /* Camera BT-001: 21:40 and 21:41 (deleted below), nothing at 21:42,
     * 21:43, and at 21:44 a text file named .mp4 written until 21:45. BT-NEW
     * is found by the indexer before anyone registered it. */
    char *src = S("%s/src.mp4", tmp), *root = S("%s/root", tmp);
    run_ok("ffmpeg", cl_t_sh("ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -t 60 "
                             "-c:v libx264 -preset ultrafast -bf 0 -g 50 -sc_threshold 0 -y '%s'", src));
    double first;
    n_oracle = cl_t_oracle_keyframes(src, &oracle, &first);
    assert_int_equal(n_oracle, 30);
    for (size_t i = 0; i < n_oracle; i++)
        oracle[i] -= first;
    place_file(root, "BT-001", "21-40-00", src);
    place_file(root, "BT-001", "21-41-00", src);
    place_file(root, "BT-001", "21-43-00", src);
    place_file(root, "BT-NEW", "21-40-00", src);
    char *bad = S("%s/BT-001/2025-11-21/21-44-00.mp4", root);
    run_ok("corrupt file", cl_t_sh("echo 'not a video' > '%s' && touch -d @%lld '%s'", bad,
                                   BASE_EPOCH + 300, bad));
    run_indexer(root);
    run_ok("rm", cl_t_sh("rm '%s/BT-001/2025-11-21/21-41-00.mp4'", root));
    run_indexer(root);
    char *st = cl_t_query1(conn, "SELECT string_agg(status, ',' ORDER BY start_time) FROM recordings r "
                                 "JOIN cameras c ON c.id = r.camera_id WHERE c.code = $1", "BT-001", NULL);
    assert_string_equal(st, "ok,deleted,ok,not_video");
    free(st);

    server = cl_t_server_start(conninfo, S("--threads 2 2>>'%s'", server_err), &port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = server > 0 ? cl_t_server_stop(server) : 0;
    server = 0;
    char *report = sanitizer_report(server_err);
    cl_t_db_drop(DB, conn);
    cl_t_rmtree(tmp);
    free(tmp);
    free(oracle);
    arena_free();
    if (report) {
        print_error("the server's stderr holds a sanitizer report:\n%s\n", report);
        free(report);
        return -1;
    }
    if (rc != 0) {
        print_error("camledger-server exited %d on SIGTERM\n", rc);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ helpers on the API */

static const char *const camera_keys =
    "code,name,station,owner_kind,owner_name,owner_phone,lat,lon,address,retention_days,timezone,"
    "registered,created_at,updated_at";

static json_t *open_case(const char *token, const char *number, const char *title, const char *station,
                         const char *expect_station)
{
    json_t *body = json_pack("{s:s,s:s}", "number", number, "title", title);
    if (station)
        json_object_set_new(body, "station", json_string(station));
    json_t *k = api(201, "POST", "/v1/cases", token, J(body));
    expect_str(k, "station", expect_station);
    note_case(number, expect_station);
    audit_n++;
    return k;
}

/* With the outcome of the cut (sql/0004_extractions.sql): all null until an
 * indexer fulfils the request, and when the footage will be overwritten. */
static const char *const request_keys =
    "id,case,camera,from,to,reason,status,requester,created_at,updated_at,decided_by,decided_at,"
    "decision_reason,overwrite_at,fulfilled_at,coverage,clip,manifest_sha256,error";

static void expect_not_cut(json_t *r)
{
    expect_null(r, "fulfilled_at");
    expect_null(r, "coverage");
    expect_null(r, "clip");
    expect_null(r, "manifest_sha256");
    expect_null(r, "error");
}

/* Asks for footage; records the request in the tally. */
static json_t *ask_footage(const char *token, const char *number, const char *camera,
                           const char *from, const char *to, double secs, const char *reason,
                           const char *key)
{
    char *body = J(json_pack("{s:s,s:s,s:s,s:s,s:s}", "case", number, "camera", camera, "from", from,
                             "to", to, "reason", reason));
    answer_t a = ask("POST", "/v1/requests", token,
                     key ? S("Content-Type: application/json\r\nIdempotency-Key: %s\r\n", key)
                         : "Content-Type: application/json\r\n", body, strlen(body));
    if (a.status != 201)
        fail_msg("POST /v1/requests: %d: %s", a.status, a.body);
    json_t *r = a.json;
    if (!strpbrk(reason, "\"\\\t"))
        assert_non_null(strstr(a.body, reason));   /* byte for byte */
    expect_str(r, "status", "pending");
    expect_str(r, "reason", reason);
    expect_str(r, "case", number);
    expect_str(r, "camera", camera);
    tally_t *t = &tallies[n_tallies++];
    memset(t, 0, sizeof(*t));
    t->id = num_i(r, "id");
    snprintf(t->case_number, sizeof(t->case_number), "%s", number);
    snprintf(t->station, sizeof(t->station), "%s", station_of_case(number));
    snprintf(t->camera, sizeof(t->camera), "%s", camera);
    snprintf(t->month, sizeof(t->month), "%.7s", str(r, "created_at"));
    t->secs = secs;
    audit_n++;
    return r;
}

static tally_t *tally_of(long long id)
{
    for (size_t i = 0; i < n_tallies; i++)
        if (tallies[i].id == id)
            return &tallies[i];
    fail_msg("request %lld is not in the tally", id);
    return NULL;
}

/* approve, reject or cancel: 200 and the new status, or an error. */
static json_t *act(const char *token, long long id, const char *action, const char *reason, int want,
                   const char *code)
{
    const char *body = reason ? J(json_pack("{s:s}", "reason", reason)) : NULL;
    const char *path = S("/v1/requests/%lld/%s", id, action);
    if (want != 200)
        return api_err(want, code, "POST", path, token, body);
    json_t *r = api(200, "POST", path, token, body);
    expect_keys(r, request_keys);
    expect_int(r, "id", id);
    const char *st = strcmp(action, "approve") == 0 ? "approved"
                   : strcmp(action, "reject") == 0 ? "rejected" : "cancelled";
    expect_str(r, "status", st);
    tally_t *t = tally_of(id);
    t->approved |= strcmp(action, "approve") == 0;
    t->rejected |= strcmp(action, "reject") == 0;
    audit_n++;
    return r;
}

/* ------------------------------------------------------------ tests */

static void test_http_health_and_http2(void **state)
{
    (void)state;
    answer_t a = ask("GET", "/healthz", NULL, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.ctype, JSON_CT);
    assert_string_equal(a.body, "{\"status\":\"ok\"}");
    a = ask("GET", "/healthz", BAD_TOKEN, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    api_err(404, "not_found", "GET", "/v1/nothing", ADM1, NULL);
    api_err(404, "not_found", "GET", "/", NULL, NULL);
    api_err(405, "method_not_allowed", "DELETE", "/v1/cameras", ADM1, NULL);
    api_err(405, "method_not_allowed", "PUT", "/v1/cases/x", ADM1, NULL);
    api_err(400, "unknown_parameter", "GET", "/healthz?verbose=1", NULL, NULL);

    /* HTTP/2 without TLS (prior knowledge), with and without a token. */
    char *out;
    run_ok("curl", cl_t_sh_capture(&out, "curl --http2-prior-knowledge -s -w '\\n%%{http_version} %%{http_code}' "
                                   "http://127.0.0.1:%d/healthz", port));
    assert_string_equal(out, "{\"status\":\"ok\"}\n2 200");
    free(out);
    run_ok("curl", cl_t_sh_capture(&out, "curl --http2-prior-knowledge -s -w '\\n%%{http_version} %%{http_code}' "
                                   "-H 'Authorization: Bearer %s' http://127.0.0.1:%d/v1/cases?limit=1",
                                   AUD, port));
    assert_non_null(strstr(out, "\n2 200"));
    *strstr(out, "\n2 200") = '\0';
    json_t *j = keepj(json_loads(out, 0, NULL));
    expect_keys(j, "cases,total,limit,offset");
    expect_int(j, "limit", 1);
    free(out);
    run_ok("curl", cl_t_sh_capture(&out, "curl --http2-prior-knowledge -s -w '\\n%%{http_version} %%{http_code}' "
                                   "http://127.0.0.1:%d/v1/cases", port));
    assert_non_null(strstr(out, "\"unauthorized\""));
    assert_non_null(strstr(out, "\n2 401"));
    free(out);
}

static void test_http_cameras_register_get_patch(void **state)
{
    (void)state;
    const char *name = "Camera ngã tư Nguyễn Thị Minh Khai – Hai Bà Trưng";
    const char *address = "Số 1 Hai Bà Trưng, Phường Bến Nghé, Quận 1";
    const char *body = J(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:s,s:i,s:s}",
        "code", "BT-001", "name", name, "station", "BT", "owner_kind", "police",
        "owner_name", "Công an phường Bến Thành", "owner_phone", "+84 28 3829 7159",
        "lat", 10.7769, "lon", 106.7009, "address", address, "retention_days", 30,
        "timezone", "Asia/Ho_Chi_Minh"));

    /* The indexer made BT-001 unregistered: registering completes it. */
    answer_t raw = ask("POST", "/v1/cameras", ADM1, "Content-Type: application/json\r\n", body, strlen(body));
    assert_int_equal(raw.status, 201);
    assert_non_null(strstr(raw.body, name));   /* byte for byte, not \u escapes */
    json_t *c = raw.json;
    audit_n++;
    expect_keys(c, camera_keys);
    expect_str(c, "code", "BT-001");
    expect_str(c, "name", name);
    expect_str(c, "station", "BT");
    expect_str(c, "owner_kind", "police");
    expect_str(c, "owner_name", "Công an phường Bến Thành");
    expect_str(c, "owner_phone", "+84 28 3829 7159");
    expect_num(c, "lat", 10.7769);
    expect_num(c, "lon", 106.7009);
    expect_str(c, "address", address);
    expect_int(c, "retention_days", 30);
    expect_str(c, "timezone", "Asia/Ho_Chi_Minh");
    expect_bool(c, "registered", 1);
    expect_time_format(str(c, "created_at"));
    expect_str(c, "created_at", db_time("SELECT cl_ts(created_at) FROM cameras WHERE code = $1", "BT-001"));
    expect_str(c, "updated_at", db_time("SELECT cl_ts(updated_at) FROM cameras WHERE code = $1", "BT-001"));

    api_err(409, "camera_exists", "POST", "/v1/cameras", ADM1, body);

    /* One camera with its coverage: two files ok, one deleted, one broken. */
    json_t *g = api(200, "GET", "/v1/cameras/BT-001", INV1, NULL);
    expect_keys(g, S("%s,coverage", camera_keys));
    expect_str(g, "name", name);
    expect_str(g, "address", address);
    json_t *cov = field(g, "coverage");
    expect_keys(cov, "recordings,ok,truncated,deleted,broken,first,last,seconds");
    expect_int(cov, "recordings", 4);
    expect_int(cov, "ok", 2);
    expect_int(cov, "truncated", 0);
    expect_int(cov, "deleted", 1);
    expect_int(cov, "broken", 1);
    expect_str(cov, "first", "2025-11-21T14:40:00.000Z");
    expect_str(cov, "last", "2025-11-21T14:44:00.000Z");
    expect_num(cov, "seconds", 120.0);
    api_err(404, "camera_not_found", "GET", "/v1/cameras/NO-SUCH", INV1, NULL);

    /* PATCH changes what it names and nothing else. */
    json_t *p = api(200, "PATCH", "/v1/cameras/BT-001", ADM1,
                    "{\"owner_phone\":\"028 3829 7159\",\"retention_days\":45.0}");
    audit_n++;
    expect_keys(p, camera_keys);
    expect_str(p, "owner_phone", "028 3829 7159");
    expect_int(p, "retention_days", 45);
    expect_str(p, "name", name);
    expect_num(p, "lat", 10.7769);
    expect_str(p, "created_at", str(c, "created_at"));
    api_err(403, "other_station", "PATCH", "/v1/cameras/BT-001", ADM2, "{\"name\":\"x\"}");
    api_err(400, "invalid_field", "PATCH", "/v1/cameras/BT-001", ADM1, "{\"lat\":null}");
    api_err(400, "invalid_field", "PATCH", "/v1/cameras/BT-001", ADM1, "{\"lat\":10.5}");
    api_err(400, "invalid_body", "PATCH", "/v1/cameras/BT-001", ADM1, "{}");
    api_err(400, "incomplete", "PATCH", "/v1/cameras/BT-001", ADM1, "{\"owner_kind\":null}");
    api_err(400, "unknown_field", "PATCH", "/v1/cameras/BT-001", ADM1, "{\"code\":\"BT-002\"}");
    api_err(404, "camera_not_found", "PATCH", "/v1/cameras/NO-SUCH", ADM1, "{\"name\":\"x\"}");
    p = api(200, "PATCH", "/v1/cameras/BT-001", ADM1, "{\"lat\":null,\"lon\":null}");
    audit_n++;
    expect_null(p, "lat");
    expect_null(p, "lon");
    p = api(200, "PATCH", "/v1/cameras/BT-001", ADM1, "{\"lat\":10.7769,\"lon\":106.7009}");
    audit_n++;
    expect_num(p, "lat", 10.7769);

    /* Refusals of a registration. */
    api_err(403, "other_station", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"HK\",\"owner_kind\":\"police\"}");
    api_err(400, "unknown_station", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"ZZ\",\"owner_kind\":\"police\"}");
    api_err(400, "missing_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"station\":\"BT\",\"owner_kind\":\"police\"}");
    api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"ngân hàng\"}");
    api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"lat\":91,\"lon\":1}");
    api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"timezone\":\"Mars/Base\"}");
    api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"a/b\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\"}");
    api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"retention_days\":1.5}");
    api_err(400, "unknown_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"colour\":\"red\"}");
    api_err(404, "camera_not_found", "GET", "/v1/cameras/X1", ADM1, NULL);
}

/* Great-circle distance on the sphere the database uses. */
static double distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double r = M_PI / 180;
    double a = pow(sin((lat2 - lat1) * r / 2), 2) +
               cos(lat1 * r) * cos(lat2 * r) * pow(sin((lon2 - lon1) * r / 2), 2);
    return 2 * 6378168 * asin(fmin(1, sqrt(a)));
}

#define C_LAT 21.0285
#define C_LON 105.8542

static void test_http_cameras_list_and_radius(void **state)
{
    (void)state;
    static const struct { const char *code; double lat, lon; } hk[] = {
        {"HK-003", C_LAT + 0.005, C_LON},
        {"HK-001", C_LAT + 0.001, C_LON},
        {"HK-FAR", C_LAT + 0.1, C_LON},
        {"HK-002", C_LAT, C_LON + 0.002},
    };
    for (size_t i = 0; i < 4; i++) {
        json_t *c = api(201, "POST", "/v1/cameras", ADM2,
                        J(json_pack("{s:s,s:s,s:s,s:s,s:f,s:f}", "code", hk[i].code, "name",
                                    S("Camera Hồ Gươm %zu", i), "station", "HK", "owner_kind",
                                    "household", "lat", hk[i].lat, "lon", hk[i].lon)));
        audit_n++;
        expect_null(c, "owner_phone");
        expect_null(c, "retention_days");
    }
    /* A name full of what LIKE and SQL treat specially. */
    api(201, "POST", "/v1/cameras", ADM2,
        J(json_pack("{s:s,s:s,s:s,s:s}", "code", "HK-SQL", "name", "Giảm 50%_off \\ 'x'; --",
                    "station", "HK", "owner_kind", "business")));
    audit_n++;

    /* Nearest first, with the distance; the far one is outside. */
    json_t *l = api(200, "GET", S("/v1/cameras?near=%s&radius_m=600", enc(S("%.4f,%.4f", C_LAT, C_LON))),
                    INV3, NULL);
    expect_keys(l, "cameras,total,limit,offset");
    expect_int(l, "total", 3);
    json_t *cams = field(l, "cameras");
    assert_int_equal(json_array_size(cams), 3);
    static const int order[] = {1, 3, 0};
    for (size_t i = 0; i < 3; i++) {
        json_t *c = json_array_get(cams, i);
        expect_keys(c, S("%s,distance_m", camera_keys));
        expect_str(c, "code", hk[order[i]].code);
        double want = round(distance_m(C_LAT, C_LON, hk[order[i]].lat, hk[order[i]].lon) * 10) / 10;
        assert_true(fabs(num(c, "distance_m") - want) < 0.051);
    }
    assert_true(num(json_array_get(cams, 0), "distance_m") > 110 &&
                num(json_array_get(cams, 0), "distance_m") < 112);
    l = api(200, "GET", S("/v1/cameras?near=%.4f,%.4f&radius_m=150", C_LAT, C_LON), INV3, NULL);
    expect_int(l, "total", 1);
    expect_str(json_array_get(field(l, "cameras"), 0), "code", "HK-001");
    l = api(200, "GET", S("/v1/cameras?near=%.4f,%.4f&radius_m=20000", C_LAT, C_LON), INV3, NULL);
    expect_int(l, "total", 4);
    expect_str(json_array_get(field(l, "cameras"), 3), "code", "HK-FAR");
    api_err(400, "invalid_parameter", "GET", "/v1/cameras?near=21.0,105.8", INV3, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/cameras?radius_m=100", INV3, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/cameras?near=91,0&radius_m=100", INV3, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/cameras?near=21,105&radius_m=0", INV3, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/cameras?near=21,105&radius_m=100001", INV3, NULL);

    /* By station, paginated in code order; by registration; by text. */
    l = api(200, "GET", "/v1/cameras?station=HK&limit=2&offset=1", INV1, NULL);
    expect_int(l, "total", 5);
    expect_int(l, "limit", 2);
    expect_int(l, "offset", 1);
    cams = field(l, "cameras");
    assert_int_equal(json_array_size(cams), 2);
    expect_str(json_array_get(cams, 0), "code", "HK-002");
    expect_str(json_array_get(cams, 1), "code", "HK-003");
    expect_keys(json_array_get(cams, 0), camera_keys);
    expect_num(json_array_get(cams, 0), "lat", C_LAT);
    expect_num(json_array_get(cams, 0), "lon", C_LON + 0.002);
    expect_str(json_array_get(cams, 0), "owner_kind", "household");
    l = api(200, "GET", "/v1/cameras?registered=false", AUD, NULL);
    expect_int(l, "total", 1);
    expect_str(json_array_get(field(l, "cameras"), 0), "code", "BT-NEW");
    expect_bool(json_array_get(field(l, "cameras"), 0), "registered", 0);
    expect_null(json_array_get(field(l, "cameras"), 0), "station");
    l = api(200, "GET", S("/v1/cameras?q=%s", enc("CAMERA ngã tư")), AUD, NULL);
    expect_int(l, "total", 1);
    expect_str(json_array_get(field(l, "cameras"), 0), "code", "BT-001");
    l = api(200, "GET", S("/v1/cameras?q=%s", enc("Nguyễn Thị")), AUD, NULL);
    expect_int(l, "total", 1);
    expect_str(json_array_get(field(l, "cameras"), 0), "code", "BT-001");
    static const char *const literal[] = {"%", "_", "\\", "50%_", "'x'; --"};
    for (size_t i = 0; i < sizeof(literal) / sizeof(literal[0]); i++) {
        l = api(200, "GET", S("/v1/cameras?q=%s", enc(literal[i])), AUD, NULL);
        expect_int(l, "total", 1);
        expect_str(json_array_get(field(l, "cameras"), 0), "code", "HK-SQL");
    }
    l = api(200, "GET", S("/v1/cameras?q=%s", enc("' OR 1=1 --")), AUD, NULL);
    expect_int(l, "total", 0);
    api_err(400, "unknown_station", "GET", "/v1/cameras?station=ZZ", AUD, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/cameras?registered=yes", AUD, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/cameras?limit=0", AUD, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/cameras?limit=501", AUD, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/cameras?offset=-1", AUD, NULL);
    api_err(400, "unknown_parameter", "GET", "/v1/cameras?statoin=HK", AUD, NULL);
    api_err(400, "invalid_query", "GET", "/v1/cameras?station=HK&station=BT", AUD, NULL);
}

static void test_http_cameras_import_csv(void **state)
{
    (void)state;
    const char *csv_ct = "Content-Type: text/csv\r\n";
    const char *bad =
        "code,name,station,owner_kind,owner_name,address,lat,lon\n"
        "CSV-001,\"Camera \"\"Chợ Bến Thành\"\", cổng Nam\",BT,business,Nguyễn Văn A,\"Số 2, Lê Lợi\",10.7725,106.698\n"
        "CSV-002,Camera hẻm,BT,ngân hàng,,,,\n"
        "CSV-003,\"Camera nhiều\ndòng\",BT,household,,,,\n"
        "CSV-001,Trùng mã,BT,household,,,,\n"
        "CSV-004,Camera khác trạm,HK,police,,,,\n"
        "CSV-005,Camera lạc,BT,police,,,abc,1\n";
    answer_t a = ask("POST", "/v1/cameras/import", ADM1, csv_ct, bad, strlen(bad));
    assert_int_equal(a.status, 400);
    json_t *e = field(a.json, "error");
    expect_str(e, "code", "invalid_rows");
    expect_str(e, "message", "4 of 6 rows are invalid; nothing was imported");
    json_t *lines = field(e, "lines");
    assert_int_equal(json_array_size(lines), 4);
    static const struct { int line; const char *code; } want[] = {
        {3, "invalid_field"}, {6, "duplicate_code"}, {7, "other_station"}, {8, "invalid_field"},
    };
    for (size_t i = 0; i < 4; i++) {
        json_t *l = json_array_get(lines, i);
        expect_keys(l, "line,code,message");
        expect_int(l, "line", want[i].line);
        expect_str(l, "code", want[i].code);
    }
    expect_str(json_array_get(lines, 0), "message", "owner_kind: one of police, household, business, agency");
    expect_str(json_array_get(lines, 3), "message", "lat: must be a number");
    api_err(404, "camera_not_found", "GET", "/v1/cameras/CSV-001", ADM1, NULL);
    api_err(404, "camera_not_found", "GET", "/v1/cameras/CSV-003", ADM1, NULL);

    /* Malformed files: the whole file is refused with the line. */
    static const struct { const char *csv, *message; } malformed[] = {
        {"code,nme\nX,y\n", "line 1: unknown column 'nme'"},
        {"name,station\nX,BT\n", "line 1: the header has no 'code' column"},
        {"code,name,code\nX,y,z\n", "line 1: column 'code' appears twice"},
        {"code,name\nX,\"open\nY,z\n", "line 2: a quoted field is never closed"},
        {"code,name\nX,y\nY,z,w\n", "line 3: more fields than the header's 2 columns"},
        {"code,name\r\nX,y\r\n\r\nY\r\n", "line 4: 1 fields, the header has 2 columns"},
        {"code,name\nX,\"a\"b\n", "line 2: text after a closing quote"},
        {"code,name\nX,a\"b\n", "line 2: a quote inside an unquoted field"},
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        a = ask("POST", "/v1/cameras/import", ADM1, csv_ct, malformed[i].csv, strlen(malformed[i].csv));
        assert_int_equal(a.status, 400);
        e = field(a.json, "error");
        expect_str(e, "code", "invalid_csv");
        if (strncmp(str(e, "message"), malformed[i].message, strlen(malformed[i].message)) != 0)
            fail_msg("CSV %zu: expected '%s...', got '%s'", i, malformed[i].message, str(e, "message"));
    }
    a = ask("POST", "/v1/cameras/import", ADM1, csv_ct, "code,name\n", 10);
    assert_int_equal(a.status, 400);
    expect_str(field(a.json, "error"), "code", "empty_import");
    a = ask("POST", "/v1/cameras/import", ADM1, NULL, "code\nX\n", 7);
    assert_int_equal(a.status, 415);
    a = ask("POST", "/v1/cameras/import", ADM1, csv_ct, NULL, 0);
    assert_int_equal(a.status, 400);

    /* A good file: BOM, CRLF, blank lines, quotes, commas and a line break
     * inside fields; BT-NEW, found by the indexer, becomes registered. */
    const char *good =
        "\xef\xbb\xbf" "code,name,station,owner_kind,owner_name,owner_phone,lat,lon,address,retention_days,timezone\r\n"
        "CSV-001,\"Camera \"\"Chợ Bến Thành\"\", cổng Nam\",BT,business,\"Nguyễn Văn A\",0903 123 456,"
        "10.7725,106.698,\"Số 2, Lê Lợi\nPhường Bến Thành\",30,Asia/Ho_Chi_Minh\r\n"
        "\r\n"
        "BT-NEW,Camera mới tìm thấy,BT,household,,,,,,,\r\n"
        "\r\n";
    a = ask("POST", "/v1/cameras/import", ADM1, "Content-Type: text/csv; charset=utf-8\r\n", good, strlen(good));
    assert_int_equal(a.status, 201);
    expect_keys(a.json, "imported");
    expect_int(a.json, "imported", 2);
    audit_n += 2;
    json_t *c = api(200, "GET", "/v1/cameras/CSV-001", INV1, NULL);
    expect_str(c, "name", "Camera \"Chợ Bến Thành\", cổng Nam");
    expect_str(c, "owner_name", "Nguyễn Văn A");
    expect_str(c, "owner_phone", "0903 123 456");
    expect_num(c, "lat", 10.7725);
    expect_num(c, "lon", 106.698);
    expect_str(c, "address", "Số 2, Lê Lợi\nPhường Bến Thành");
    expect_int(c, "retention_days", 30);
    expect_str(c, "timezone", "Asia/Ho_Chi_Minh");
    expect_bool(c, "registered", 1);
    expect_int(field(c, "coverage"), "recordings", 0);
    c = api(200, "GET", "/v1/cameras/BT-NEW", INV1, NULL);
    expect_str(c, "name", "Camera mới tìm thấy");
    expect_str(c, "station", "BT");
    expect_str(c, "owner_kind", "household");
    expect_null(c, "owner_name");
    expect_null(c, "lat");
    expect_bool(c, "registered", 1);
    json_t *cov = field(c, "coverage");
    expect_int(cov, "recordings", 1);
    expect_int(cov, "ok", 1);
    expect_str(cov, "first", "2025-11-21T14:40:00.000Z");
    expect_str(cov, "last", "2025-11-21T14:41:00.000Z");
    char *n = cl_t_query1(conn, "SELECT count(*) FROM cameras WHERE code = $1", "BT-NEW", NULL);
    assert_string_equal(n, "1");
    free(n);

    /* Importing them again: both already registered. */
    a = ask("POST", "/v1/cameras/import", ADM1, csv_ct, good, strlen(good));
    assert_int_equal(a.status, 400);
    lines = field(field(a.json, "error"), "lines");
    assert_int_equal(json_array_size(lines), 2);
    expect_int(json_array_get(lines, 0), "line", 2);
    expect_str(json_array_get(lines, 0), "code", "camera_exists");
    expect_int(json_array_get(lines, 1), "line", 5);
}

/* Footage spans as [start, end, status or reason]. */
typedef struct span {
    long long start_ms, end_ms;
    const char *kind;
} span_t;

static void expect_spans(json_t *arr, const char *kind_key, const span_t *want, size_t n)
{
    if (json_array_size(arr) != n)
        fail_msg("expected %zu spans, got %s", n, J(json_incref(arr)));
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        expect_keys(s, S("start,end,%s", kind_key));
        expect_str(s, "start", at_ms(want[i].start_ms));
        expect_str(s, "end", at_ms(want[i].end_ms));
        expect_str(s, kind_key, want[i].kind);
    }
}

/* The oracle's last keyframe at or before t (ms from BASE_EPOCH) in a file
 * starting at file_ms. */
static long long keyframe_before(long long file_ms, long long t)
{
    long long best = -1;
    for (size_t i = 0; i < n_oracle; i++) {
        long long k = file_ms + llround(oracle[i] * 1000);
        if (k <= t)
            best = k;
    }
    assert_true(best >= 0);
    return best;
}

static void test_http_footage_segments_and_gaps(void **state)
{
    (void)state;
    /* 21:39:30 to 21:45:30 local: before, ok, deleted, missing, ok,
     * corrupt, after. */
    json_t *f = api(200, "GET", S("/v1/cameras/BT-001/footage?from=%s&to=%s",
                                  enc("2025-11-21T21:39:30+07:00"), enc("2025-11-21T21:45:30+07:00")),
                    INV1, NULL);
    expect_keys(f, "camera,from,to,segments,gaps,coverage,first_keyframe");
    expect_str(f, "camera", "BT-001");
    expect_str(f, "from", "2025-11-21T14:39:30.000Z");
    expect_str(f, "to", "2025-11-21T14:45:30.000Z");
    static const span_t seg1[] = {{0, 60000, "ok"}, {180000, 240000, "ok"}};
    expect_spans(field(f, "segments"), "status", seg1, 2);
    static const span_t gap1[] = {
        {-30000, 0, "no_recording"}, {60000, 120000, "deleted"}, {120000, 180000, "no_recording"},
        {240000, 300000, "corrupt"}, {300000, 330000, "no_recording"},
    };
    expect_spans(field(f, "gaps"), "reason", gap1, 5);
    expect_num(f, "coverage", 0.3333);
    expect_null(f, "first_keyframe");

    /* Starting inside the first file: the keyframe at or before from. The
     * '+' of the offset typed unencoded arrives as a space and still counts. */
    f = api(200, "GET", "/v1/cameras/BT-001/footage?from=2025-11-21T14:40:05Z&to=2025-11-21T21:43:30+07:00",
            INV1, NULL);
    static const span_t seg2[] = {{5000, 60000, "ok"}, {180000, 210000, "ok"}};
    expect_spans(field(f, "segments"), "status", seg2, 2);
    static const span_t gap2[] = {{60000, 120000, "deleted"}, {120000, 180000, "no_recording"}};
    expect_spans(field(f, "gaps"), "reason", gap2, 2);
    expect_num(f, "coverage", 0.4146);
    expect_str(f, "first_keyframe", at_ms(keyframe_before(0, 5000)));
    assert_string_equal(at_ms(keyframe_before(0, 5000)), "2025-11-21T14:40:04.000Z");

    /* Exactly on a keyframe, and near the end of the last good file. */
    f = api(200, "GET", S("/v1/cameras/BT-001/footage?from=%s&to=%s", at_ms(186000), at_ms(246000)),
            AUD, NULL);
    expect_str(f, "first_keyframe", at_ms(keyframe_before(180000, 186000)));
    assert_string_equal(str(f, "first_keyframe"), "2025-11-21T14:43:06.000Z");
    static const span_t gap3[] = {{240000, 246000, "corrupt"}};
    expect_spans(field(f, "gaps"), "reason", gap3, 1);
    expect_num(f, "coverage", 0.9);
    f = api(200, "GET", S("/v1/cameras/BT-001/footage?from=%s&to=%s", at_ms(239999), at_ms(240000)),
            AUD, NULL);
    expect_str(f, "first_keyframe", at_ms(keyframe_before(180000, 239999)));
    expect_num(f, "coverage", 1.0);

    /* Nothing recorded at all. */
    f = api(200, "GET", "/v1/cameras/HK-001/footage?from=2025-11-21T00:00:00Z&to=2025-11-21T01:00:00Z",
            AUD, NULL);
    expect_spans(field(f, "segments"), "status", NULL, 0);
    static const span_t gap4[] = {{-52800000, -49200000, "no_recording"}};
    expect_spans(field(f, "gaps"), "reason", gap4, 1);
    expect_num(f, "coverage", 0.0);
    expect_null(f, "first_keyframe");

    /* Bad windows. */
    const char *p = "/v1/cameras/BT-001/footage";
    api_err(400, "missing_parameter", "GET", S("%s?from=2025-11-21T14:40:00Z", p), INV1, NULL);
    api_err(400, "invalid_time", "GET", S("%s?from=2026-02-30T14:40:00Z&to=2026-03-01T00:00:00Z", p), INV1, NULL);
    api_err(400, "invalid_time", "GET", S("%s?from=2025-11-21T14:40:00&to=2025-11-21T14:50:00", p), INV1, NULL);
    api_err(400, "invalid_time", "GET", S("%s?from=yesterday&to=today", p), INV1, NULL);
    api_err(400, "invalid_time", "GET", S("%s?from=2025-11-21T25:00:00Z&to=2025-11-21T26:00:00Z", p), INV1, NULL);
    api_err(400, "invalid_window", "GET", S("%s?from=2025-11-21T14:50:00Z&to=2025-11-21T14:40:00Z", p), INV1, NULL);
    api_err(400, "invalid_window", "GET", S("%s?from=2025-11-21T14:40:00Z&to=2025-11-21T21:40:00%%2B07:00", p),
            INV1, NULL);
    api_err(400, "window_too_long", "GET", S("%s?from=2025-11-21T00:00:00Z&to=2025-11-22T00:00:01Z", p), INV1, NULL);
    api(200, "GET", S("%s?from=2025-11-21T00:00:00Z&to=2025-11-22T00:00:00Z", p), INV1, NULL);
    api_err(404, "camera_not_found", "GET",
            "/v1/cameras/NO-SUCH/footage?from=2025-11-21T14:40:00Z&to=2025-11-21T14:50:00Z", INV1, NULL);
    api_err(400, "unknown_parameter", "GET", S("%s?from=2025-11-21T14:40:00Z&to=2025-11-21T14:50:00Z&tz=1", p),
            INV1, NULL);
}

static void test_http_keyframes_exact(void **state)
{
    (void)state;
    /* 14:40:55 to 14:43:05: the end of the first file, none of the deleted
     * one, the start of the third. */
    long long from = 55000, to = 185000;
    json_t *k = api(200, "GET", S("/v1/cameras/BT-001/keyframes?from=%s&to=%s", at_ms(from), at_ms(to)),
                    INV2, NULL);
    expect_keys(k, "camera,from,to,keyframes");
    expect_str(k, "camera", "BT-001");
    expect_str(k, "from", at_ms(from));
    expect_str(k, "to", at_ms(to));
    json_t *list = field(k, "keyframes");
    size_t n = 0;
    static const long long files[] = {0, 180000};
    for (size_t f = 0; f < 2; f++) {
        for (size_t i = 0; i < n_oracle; i++) {
            long long t = files[f] + llround(oracle[i] * 1000);
            if (t < from || t >= to)
                continue;
            json_t *v = json_array_get(list, n++);
            if (!json_is_string(v) || strcmp(json_string_value(v), at_ms(t)) != 0)
                fail_msg("keyframe %zu: expected %s in %s", n - 1, at_ms(t), J(json_incref(list)));
        }
    }
    assert_int_equal(n, 5);
    assert_int_equal(json_array_size(list), n);
    assert_string_equal(json_string_value(json_array_get(list, 0)), "2025-11-21T14:40:56.000Z");
    assert_string_equal(json_string_value(json_array_get(list, 4)), "2025-11-21T14:43:04.000Z");

    /* The whole hour: every keyframe of both good files, in order. */
    k = api(200, "GET", "/v1/cameras/BT-001/keyframes?from=2025-11-21T14:00:00Z&to=2025-11-21T15:00:00Z",
            INV2, NULL);
    assert_int_equal(json_array_size(field(k, "keyframes")), 2 * n_oracle);
    k = api(200, "GET", "/v1/cameras/BT-001/keyframes?from=2025-11-21T14:41:00Z&to=2025-11-21T14:43:00Z",
            INV2, NULL);
    assert_int_equal(json_array_size(field(k, "keyframes")), 0);
    api_err(400, "window_too_long", "GET",
            "/v1/cameras/BT-001/keyframes?from=2025-11-20T00:00:00Z&to=2025-11-21T14:00:00Z", INV2, NULL);
    api_err(404, "camera_not_found", "GET",
            "/v1/cameras/nope/keyframes?from=2025-11-21T14:00:00Z&to=2025-11-21T15:00:00Z", INV2, NULL);
}

static const char *const case_keys = "number,title,station,status,created_by,created_at,updated_at";


static void test_http_cases(void **state)
{
    (void)state;
    const char *title = "Cướp giật tại ngã tư Nguyễn Thị Minh Khai";
    json_t *k = open_case(INV1, "VV-2026/001", title, NULL, "BT");
    expect_keys(k, case_keys);
    expect_str(k, "number", "VV-2026/001");
    expect_str(k, "title", title);
    expect_str(k, "status", "open");
    expect_str(k, "created_by", users[0].name);
    expect_time_format(str(k, "created_at"));
    expect_str(k, "created_at", db_time("SELECT cl_ts(created_at) FROM cases WHERE number = $1", "VV-2026/001"));
    expect_str(k, "updated_at", str(k, "created_at"));
    api_err(409, "case_exists", "POST", "/v1/cases", INV2,
            J(json_pack("{s:s,s:s}", "number", "VV-2026/001", "title", "khác")));

    json_t *g = api(200, "GET", S("/v1/cases/%s", enc("VV-2026/001")), AUD, NULL);
    expect_keys(g, S("%s,requests", case_keys));
    expect_str(g, "title", title);
    json_t *rq = field(g, "requests");
    expect_keys(rq, "total,pending,approved,rejected,cancelled,fulfilled");
    expect_int(rq, "total", 0);
    api_err(404, "case_not_found", "GET", "/v1/cases/VV-9999", AUD, NULL);

    open_case(ADM1, "VV-2026/002", "Trộm xe máy trước chợ Bến Thành", "BT", "BT");
    open_case(ADM2, "HK-2026/001", "Mất cắp điện thoại ở Hồ Gươm", NULL, "HK");
    /* A number a CSV line has to quote. */
    open_case(INV3, "HK-2026/002, \"Cướp\"", "Vụ có dấu phẩy và \"ngoặc kép\"", NULL, "HK");
    g = api(200, "GET", S("/v1/cases/%s", enc("HK-2026/002, \"Cướp\"")), INV3, NULL);
    expect_str(g, "number", "HK-2026/002, \"Cướp\"");
    expect_str(g, "title", "Vụ có dấu phẩy và \"ngoặc kép\"");

    /* Decomposed diacritics (e, U+0302, U+0303) stay as sent: no
     * normalisation on the way in or out; the raw body holds the bytes, not
     * escapes. */
    const char *nfd = "Nguye\xcc\x82\xcc\x83n Thi\xcc\xa3 Minh Khai";
    open_case(INV2, "VV-2026/NFD", nfd, NULL, "BT");
    answer_t raw = ask("GET", S("/v1/cases/%s", enc("VV-2026/NFD")), AUD, NULL, NULL, 0);
    assert_int_equal(raw.status, 200);
    expect_str(raw.json, "title", nfd);
    expect_str(raw.json, "created_by", users[1].name);
    assert_non_null(strstr(raw.body, nfd));
    assert_non_null(strstr(raw.body, users[1].name));
    assert_null(strstr(raw.body, "\\u"));

    api_err(403, "other_station", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\",\"title\":\"x\",\"station\":\"HK\"}");
    api_err(400, "unknown_station", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\",\"title\":\"x\",\"station\":\"ZZ\"}");
    api_err(400, "missing_field", "POST", "/v1/cases", INV1, "{\"title\":\"x\"}");
    api_err(400, "missing_field", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\"}");
    api_err(400, "invalid_field", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\",\"title\":\"\"}");
    api_err(400, "invalid_field", "POST", "/v1/cases", INV1, "{\"number\":\"X\\u0001\",\"title\":\"x\"}");
    api_err(400, "invalid_field", "POST", "/v1/cases", INV1,
            J(json_pack("{s:s,s:s}", "number", S("%065d", 1), "title", "x")));
    api_err(400, "unknown_field", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\",\"title\":\"x\",\"status\":\"open\"}");
    api_err(404, "case_not_found", "GET", "/v1/cases/X-1", INV1, NULL);

    /* Changes: the title, the status there and back; a closed case is final. */
    json_t *p = api(200, "PATCH", S("/v1/cases/%s", enc("VV-2026/001")), INV1,
                    "{\"title\":\"Cướp giật – cập nhật\"}");
    audit_n++;
    expect_keys(p, case_keys);
    expect_str(p, "title", "Cướp giật – cập nhật");
    expect_str(p, "status", "open");
    p = api(200, "PATCH", S("/v1/cases/%s", enc("VV-2026/001")), ADM1, "{\"status\":\"solved\"}");
    audit_n++;
    expect_str(p, "status", "solved");
    expect_str(p, "title", "Cướp giật – cập nhật");
    p = api(200, "PATCH", S("/v1/cases/%s", enc("VV-2026/001")), INV1,
            J(json_pack("{s:s,s:s}", "status", "open", "title", title)));
    audit_n += 2;
    expect_str(p, "status", "open");
    expect_str(p, "title", title);
    api_err(400, "invalid_field", "PATCH", S("/v1/cases/%s", enc("VV-2026/001")), INV1, "{\"status\":\"archived\"}");
    api_err(400, "invalid_body", "PATCH", S("/v1/cases/%s", enc("VV-2026/001")), INV1, "{}");
    api_err(400, "unknown_field", "PATCH", S("/v1/cases/%s", enc("VV-2026/001")), INV1, "{\"number\":\"Y\"}");
    api_err(403, "other_station", "PATCH", S("/v1/cases/%s", enc("VV-2026/001")), ADM2, "{\"title\":\"x\"}");
    api_err(404, "case_not_found", "PATCH", "/v1/cases/X-1", INV1, "{\"title\":\"x\"}");
    p = api(200, "PATCH", S("/v1/cases/%s", enc("VV-2026/002")), ADM1, "{\"status\":\"closed\"}");
    audit_n++;
    expect_str(p, "status", "closed");
    api_err(409, "invalid_state", "PATCH", S("/v1/cases/%s", enc("VV-2026/002")), ADM1, "{\"status\":\"open\"}");

    json_t *l = api(200, "GET", "/v1/cases?station=BT", INV2, NULL);
    expect_keys(l, "cases,total,limit,offset");
    expect_int(l, "total", 3);
    expect_str(json_array_get(field(l, "cases"), 0), "number", "VV-2026/NFD");
    expect_str(json_array_get(field(l, "cases"), 1), "number", "VV-2026/002");
    expect_str(json_array_get(field(l, "cases"), 2), "number", "VV-2026/001");
    expect_keys(json_array_get(field(l, "cases"), 2), case_keys);
    l = api(200, "GET", "/v1/cases?status=closed", INV2, NULL);
    expect_int(l, "total", 1);
    l = api(200, "GET", "/v1/cases?station=HK&limit=1", INV2, NULL);
    expect_int(l, "total", 2);
    assert_int_equal(json_array_size(field(l, "cases")), 1);
    expect_str(json_array_get(field(l, "cases"), 0), "number", "HK-2026/002, \"Cướp\"");
    api_err(400, "invalid_parameter", "GET", "/v1/cases?status=bogus", INV2, NULL);
    api_err(400, "unknown_station", "GET", "/v1/cases?station=ZZ", INV2, NULL);
}

static void test_http_requests_life_cycle(void **state)
{
    (void)state;
    const char *reason = "Trích xuất camera vụ cướp giật lúc 21:40";
    json_t *r1 = ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T21:40:05+07:00",
                             "2025-11-21T21:43:30+07:00", 205, reason, NULL);
    long long id1 = num_i(r1, "id");
    expect_keys(r1, S("%s,availability", request_keys));
    expect_str(r1, "from", "2025-11-21T14:40:05.000Z");
    expect_str(r1, "to", "2025-11-21T14:43:30.000Z");
    expect_str(r1, "requester", users[0].name);
    expect_null(r1, "decided_by");
    expect_null(r1, "decided_at");
    expect_null(r1, "decision_reason");
    expect_not_cut(r1);
    /* BT-001 keeps 45 days; the oldest footage needed starts at 14:40. */
    expect_str(r1, "overwrite_at", "2026-01-05T14:40:00.000Z");
    expect_time_format(str(r1, "created_at"));
    expect_str(r1, "created_at", db_time("SELECT cl_ts(created_at) FROM requests WHERE id = $1",
                                         S("%lld", id1)));
    json_t *av = field(r1, "availability");
    expect_keys(av, "coverage,segments,gaps,first_keyframe");
    expect_num(av, "coverage", 0.4146);
    expect_int(av, "segments", 2);
    static const span_t gaps[] = {{60000, 120000, "deleted"}, {120000, 180000, "no_recording"}};
    expect_spans(field(av, "gaps"), "reason", gaps, 2);
    expect_str(av, "first_keyframe", "2025-11-21T14:40:04.000Z");

    json_t *g = api(200, "GET", S("/v1/requests/%lld", id1), AUD, NULL);
    expect_keys(g, request_keys);
    const char *key;
    json_t *v;
    json_object_foreach(g, key, v)
        assert_true(json_equal(v, json_object_get(r1, key)));

    /* pending -> approved -> cancelled, and nothing after. */
    json_t *a = act(ADM1, id1, "approve", NULL, 200, NULL);
    expect_str(a, "decided_by", users[3].name);
    expect_time_format(str(a, "decided_at"));
    expect_null(a, "decision_reason");
    expect_str(a, "overwrite_at", "2026-01-05T14:40:00.000Z");
    expect_not_cut(a);
    act(ADM1, id1, "approve", NULL, 409, "invalid_state");
    act(ADM1, id1, "reject", "Không cần nữa", 409, "invalid_state");
    act(INV2, id1, "cancel", NULL, 403, "not_requester");
    a = act(INV1, id1, "cancel", "Đã có bản sao từ chủ nhà", 200, NULL);
    expect_str(a, "decided_by", users[3].name);
    expect_str(a, "decision_reason", "Đã có bản sao từ chủ nhà");
    expect_null(a, "overwrite_at");   /* nothing left to lose */
    act(ADM1, id1, "approve", NULL, 409, "invalid_state");
    act(ADM1, id1, "reject", "x", 409, "invalid_state");
    act(INV1, id1, "cancel", NULL, 409, "invalid_state");

    /* pending -> rejected (a reason is required), and nothing after. */
    json_t *r2 = ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:40:00Z", "2025-11-21T14:45:00Z",
                             300, "Xác minh đối tượng đi xe máy", NULL);
    long long id2 = num_i(r2, "id");
    expect_num(field(r2, "availability"), "coverage", 0.4);
    act(ADM1, id2, "reject", NULL, 400, "missing_field");
    api_err(400, "missing_field", "POST", S("/v1/requests/%lld/reject", id2), ADM1, "{}");
    act(ADM1, id2, "reject", "", 400, "missing_field");
    api_err(400, "unknown_field", "POST", S("/v1/requests/%lld/reject", id2), ADM1, "{\"why\":\"x\"}");
    api_err(400, "invalid_json", "POST", S("/v1/requests/%lld/reject", id2), ADM1, "{\"reason\":");
    a = act(ADM1, id2, "reject", "Không đủ căn cứ: cần lệnh của thủ trưởng", 200, NULL);
    expect_str(a, "decision_reason", "Không đủ căn cứ: cần lệnh của thủ trưởng");
    act(ADM1, id2, "approve", NULL, 409, "invalid_state");
    act(ADM1, id2, "reject", "lần nữa", 409, "invalid_state");
    act(INV1, id2, "cancel", NULL, 409, "invalid_state");

    /* pending -> cancelled, by the requester only. */
    json_t *r3 = ask_footage(INV2, "VV-2026/001", "CSV-001", "2025-11-21T21:00:00+07:00",
                             "2025-11-21T22:00:00+07:00", 3600, "Camera chợ Bến Thành", NULL);
    long long id3 = num_i(r3, "id");
    expect_num(field(r3, "availability"), "coverage", 0.0);
    static const span_t none[] = {{-2400000, 1200000, "no_recording"}};
    expect_spans(field(field(r3, "availability"), "gaps"), "reason", none, 1);
    act(INV1, id3, "cancel", NULL, 403, "not_requester");
    act(ADM1, id3, "cancel", NULL, 403, "forbidden");
    act(INV2, id3, "cancel", NULL, 200, NULL);
    act(ADM1, id3, "approve", NULL, 409, "invalid_state");

    /* Another station's admin may not decide. */
    json_t *r4 = ask_footage(INV1, "VV-2026/001", "BT-NEW", "2025-11-21T14:40:00Z", "2025-11-21T14:41:00Z",
                             60, "Camera mới tìm thấy", NULL);
    long long id4 = num_i(r4, "id");
    expect_num(field(r4, "availability"), "coverage", 1.0);
    act(ADM2, id4, "approve", NULL, 403, "other_station");
    act(ADM2, id4, "reject", "x", 403, "other_station");
    act(ADM1, id4, "approve", NULL, 200, NULL);
    json_t *r5 = ask_footage(INV3, "HK-2026/001", "HK-001", "2025-11-21T14:00:00Z", "2025-11-21T14:10:00Z",
                             600, "Điện thoại bị mất", NULL);
    act(ADM2, num_i(r5, "id"), "approve", "Đồng ý", 200, NULL);
    json_t *r6 = ask_footage(INV3, "HK-2026/002, \"Cướp\"", "HK-002", "2025-11-21T14:00:00Z",
                             "2025-11-21T14:10:00Z", 600, "Vụ có dấu phẩy", NULL);
    (void)r6;

    /* Refusals. */
    const char *ok_window = "\"from\":\"2025-11-21T14:40:00Z\",\"to\":\"2025-11-21T14:50:00Z\"";
    api_err(403, "other_station", "POST", "/v1/requests", INV3,
            S("{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",%s,\"reason\":\"x\"}", ok_window));
    api_err(400, "unknown_case", "POST", "/v1/requests", INV1,
            S("{\"case\":\"VV-0000\",\"camera\":\"BT-001\",%s,\"reason\":\"x\"}", ok_window));
    api_err(400, "unknown_camera", "POST", "/v1/requests", INV1,
            S("{\"case\":\"VV-2026/001\",\"camera\":\"XX-999\",%s,\"reason\":\"x\"}", ok_window));
    api_err(409, "case_not_open", "POST", "/v1/requests", INV1,
            S("{\"case\":\"VV-2026/002\",\"camera\":\"BT-001\",%s,\"reason\":\"x\"}", ok_window));
    api_err(400, "invalid_window", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:50:00Z\","
            "\"to\":\"2025-11-21T14:40:00Z\",\"reason\":\"x\"}");
    api_err(400, "invalid_time", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2026-02-30T14:50:00Z\","
            "\"to\":\"2026-03-01T14:40:00Z\",\"reason\":\"x\"}");
    api_err(400, "window_too_long", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-20T14:00:00Z\","
            "\"to\":\"2025-11-21T14:00:01Z\",\"reason\":\"x\"}");
    api_err(400, "missing_field", "POST", "/v1/requests", INV1,
            S("{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",%s}", ok_window));
    api_err(400, "missing_field", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:40:00Z\",\"reason\":\"x\"}");
    api_err(400, "invalid_field", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":1763736000,"
            "\"to\":\"2025-11-21T14:40:00Z\",\"reason\":\"x\"}");
    api_err(400, "invalid_field", "POST", "/v1/requests", INV1,
            J(json_pack("{s:s,s:s,s:s,s:s,s:s}", "case", "VV-2026/001", "camera", "BT-001",
                        "from", "2025-11-21T14:40:00Z", "to", "2025-11-21T14:50:00Z", "reason",
                        S("%02001d", 7))));
    api_err(400, "unknown_field", "POST", "/v1/requests", INV1,
            S("{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",%s,\"reason\":\"x\",\"status\":\"approved\"}",
              ok_window));
    api_err(403, "forbidden", "POST", "/v1/requests", ADM1,
            S("{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",%s,\"reason\":\"x\"}", ok_window));
    api_err(400, "invalid_parameter", "GET", "/v1/requests/abc", INV1, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/requests/99999999999999999999", INV1, NULL);
    api_err(404, "request_not_found", "GET", "/v1/requests/999999", INV1, NULL);
    act(ADM1, 999999, "approve", NULL, 404, "request_not_found");

    /* Lists and their filters, newest first. */
    json_t *l = api(200, "GET", S("/v1/requests?case=%s", enc("VV-2026/001")), AUD, NULL);
    expect_keys(l, "requests,total,limit,offset");
    expect_int(l, "total", 4);
    expect_int(json_array_get(field(l, "requests"), 0), "id", id4);
    expect_int(json_array_get(field(l, "requests"), 3), "id", id1);
    expect_keys(json_array_get(field(l, "requests"), 0), request_keys);
    l = api(200, "GET", "/v1/requests?status=approved", AUD, NULL);
    expect_int(l, "total", 2);
    l = api(200, "GET", S("/v1/requests?requester=%s", enc(users[2].name)), AUD, NULL);
    expect_int(l, "total", 2);
    expect_str(json_array_get(field(l, "requests"), 0), "requester", users[2].name);
    l = api(200, "GET", "/v1/requests?camera=BT-001&status=rejected", AUD, NULL);
    expect_int(l, "total", 1);
    expect_int(json_array_get(field(l, "requests"), 0), "id", id2);
    l = api(200, "GET", "/v1/requests?case=nope", AUD, NULL);
    expect_int(l, "total", 0);
    api_err(400, "invalid_parameter", "GET", "/v1/requests?status=bogus", AUD, NULL);

    /* The case counts its requests. */
    g = api(200, "GET", S("/v1/cases/%s", enc("VV-2026/001")), AUD, NULL);
    json_t *rq = field(g, "requests");
    expect_int(rq, "total", 4);
    expect_int(rq, "pending", 0);
    expect_int(rq, "approved", 1);
    expect_int(rq, "rejected", 1);
    expect_int(rq, "cancelled", 2);
    expect_int(rq, "fulfilled", 0);
}

static void test_http_requests_idempotent(void **state)
{
    (void)state;
    const char *key = "phiếu-2025-11-21-001";
    json_t *first = ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:40:00Z", "2025-11-21T14:42:00Z",
                                120, "Yêu cầu có khóa", key);
    /* The same body again, even spelt differently: the same answer, one row. */
    const char *headers = S("Content-Type: application/json\r\nIdempotency-Key: %s\r\n", key);
    const char *again[] = {
        "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:40:00Z\","
        "\"to\":\"2025-11-21T14:42:00Z\",\"reason\":\"Yêu cầu có khóa\"}",
        "{ \"reason\" : \"Y\\u00eau c\\u1ea7u c\\u00f3 kh\\u00f3a\", \"to\":\"2025-11-21T14:42:00Z\","
        "\"from\":\"2025-11-21T14:40:00Z\",\"camera\":\"BT-001\",\"case\":\"VV-2026/001\" }",
    };
    for (size_t i = 0; i < 2; i++) {
        answer_t a = ask("POST", "/v1/requests", INV1, headers, again[i], strlen(again[i]));
        assert_int_equal(a.status, 201);
        assert_true(json_equal(a.json, first));
    }
    char *n = cl_t_query1(conn, "SELECT count(*) FROM requests WHERE idempotency_key = $1", key, NULL);
    assert_string_equal(n, "1");
    free(n);
    /* After a decision too: a retry answers as the first time. */
    act(ADM1, num_i(first, "id"), "approve", NULL, 200, NULL);
    answer_t a = ask("POST", "/v1/requests", INV1, headers, again[0], strlen(again[0]));
    assert_int_equal(a.status, 201);
    assert_true(json_equal(a.json, first));

    /* The same key for something else is a conflict; another user's key is
     * their own. */
    const char *other = "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:40:00Z\","
                        "\"to\":\"2025-11-21T14:43:00Z\",\"reason\":\"Yêu cầu có khóa\"}";
    a = ask("POST", "/v1/requests", INV1, headers, other, strlen(other));
    assert_int_equal(a.status, 409);
    expect_str(field(a.json, "error"), "code", "idempotency_key_reused");
    json_t *second = ask_footage(INV2, "VV-2026/001", "BT-001", "2025-11-21T14:40:00Z", "2025-11-21T14:42:00Z",
                                 120, "Yêu cầu có khóa", key);
    assert_true(num_i(second, "id") != num_i(first, "id"));
    n = cl_t_query1(conn, "SELECT count(*) FROM requests WHERE idempotency_key = $1", key, NULL);
    assert_string_equal(n, "2");
    free(n);
    a = ask("POST", "/v1/requests", INV1, S("Content-Type: application/json\r\nIdempotency-Key: %0201d\r\n", 1),
            other, strlen(other));
    assert_int_equal(a.status, 400);
    expect_str(field(a.json, "error"), "code", "invalid_header");
    a = ask("POST", "/v1/requests", INV1, "Content-Type: application/json\r\nIdempotency-Key: \xff\xfe\r\n",
            other, strlen(other));
    assert_int_equal(a.status, 400);
}

/* ------------------------------------------------------------ roles */

typedef struct route_check {
    const char *method, *path, *body, *ctype;
    int inv, aud, adm;     /* the status each role gets */
} route_check_t;

static void test_http_role_matrix(void **state)
{
    (void)state;
    /* Targets for the state changes, made by the investigator. */
    long long pa = num_i(ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:43:00Z",
                                     "2025-11-21T14:44:00Z", 60, "Ma trận: duyệt", NULL), "id");
    long long pb = num_i(ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:43:00Z",
                                     "2025-11-21T14:44:00Z", 60, "Ma trận: từ chối", NULL), "id");
    long long pc = num_i(ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:43:00Z",
                                     "2025-11-21T14:44:00Z", 60, "Ma trận: hủy", NULL), "id");
    const char *win = "from=2025-11-21T14:40:00Z&to=2025-11-21T14:45:00Z";
    const char *json = "application/json", *csv = "text/csv";
    const route_check_t routes[] = {
        {"GET", "/healthz", NULL, NULL, 200, 200, 200},
        {"GET", "/metrics", NULL, NULL, 200, 200, 200},
        {"POST", "/v1/cameras", "{\"code\":\"RM-%s\",\"name\":\"Ma trận\",\"station\":\"BT\",\"owner_kind\":\"police\"}",
         json, 403, 403, 201},
        {"GET", "/v1/cameras", NULL, NULL, 200, 200, 200},
        {"POST", "/v1/cameras/import", "code,name,station,owner_kind\nRM-CSV-%s,Camera nhập,BT,police\n", csv,
         403, 403, 201},
        {"GET", "/v1/cameras/BT-001", NULL, NULL, 200, 200, 200},
        {"PATCH", "/v1/cameras/BT-NEW", "{\"address\":\"Hẻm 12 Lê Lợi (%s)\"}", json, 403, 403, 200},
        {"GET", S("/v1/cameras/BT-001/footage?%s", win), NULL, NULL, 200, 200, 200},
        {"GET", S("/v1/cameras/BT-001/keyframes?%s", win), NULL, NULL, 200, 200, 200},
        {"POST", "/v1/cases", "{\"number\":\"RM-%s\",\"title\":\"Vụ thử phân quyền\",\"station\":\"BT\"}", json,
         201, 403, 201},
        {"GET", "/v1/cases", NULL, NULL, 200, 200, 200},
        {"GET", S("/v1/cases/%s", enc("VV-2026/001")), NULL, NULL, 200, 200, 200},
        {"PATCH", "/v1/cases/RM-inv", "{\"title\":\"Vụ thử phân quyền (%s)\"}", json, 200, 403, 200},
        {"POST", "/v1/requests", "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:40:00Z\","
         "\"to\":\"2025-11-21T14:41:00Z\",\"reason\":\"Ma trận %s\"}", json, 201, 403, 403},
        {"GET", "/v1/requests", NULL, NULL, 200, 200, 200},
        {"GET", S("/v1/requests/%lld", pa), NULL, NULL, 200, 200, 200},
        {"POST", S("/v1/requests/%lld/approve", pa), NULL, NULL, 403, 403, 200},
        {"POST", S("/v1/requests/%lld/reject", pb), "{\"reason\":\"Ma trận %s\"}", json, 403, 403, 200},
        {"POST", S("/v1/requests/%lld/cancel", pc), NULL, NULL, 200, 403, 403},
        {"GET", "/v1/audit/log", NULL, NULL, 403, 200, 200},
        {"GET", "/v1/audit/verify", NULL, NULL, 403, 200, 200},
        {"GET", "/v1/audit/extractions?group_by=station", NULL, NULL, 403, 200, 200},
    };
    static const char *const tags[] = {"none", "bad", "inv", "aud", "adm"};
    const char *tokens[] = {NULL, BAD_TOKEN, INV1, AUD, ADM1};
    size_t checked = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route_check_t *r = &routes[i];
        int public = strcmp(r->path, "/healthz") == 0 || strcmp(r->path, "/metrics") == 0;
        for (size_t t = 0; t < 5; t++) {
            int want = t < 2 ? (public ? 200 : 401) : t == 2 ? r->inv : t == 3 ? r->aud : r->adm;
            const char *body = r->body ? S(r->body, tags[t]) : NULL;
            answer_t a = ask(r->method, r->path, tokens[t], r->ctype ? S("Content-Type: %s\r\n", r->ctype) : NULL,
                             body, body ? strlen(body) : 0);
            if (a.status != want)
                fail_msg("%s %s as %s: expected %d, got %d: %s", r->method, r->path, tags[t], want, a.status,
                         a.body);
            if (want == 401)
                expect_str(field(a.json, "error"), "code", "unauthorized");
            if (want == 403)
                expect_str(field(a.json, "error"), "code", "forbidden");
            if (want < 300 && strcmp(r->method, "GET") != 0)
                audit_n++;
            if (want == 201 && strcmp(r->path, "/v1/cases") == 0)
                note_case(S("RM-%s", tags[t]), "BT");
            if (want == 201 && strcmp(r->path, "/v1/requests") == 0) {
                tally_t *tl = &tallies[n_tallies++];
                memset(tl, 0, sizeof(*tl));
                tl->id = num_i(a.json, "id");
                snprintf(tl->case_number, sizeof(tl->case_number), "VV-2026/001");
                snprintf(tl->station, sizeof(tl->station), "BT");
                snprintf(tl->camera, sizeof(tl->camera), "BT-001");
                snprintf(tl->month, sizeof(tl->month), "%.7s", str(a.json, "created_at"));
                tl->secs = 60;
            }
            checked++;
        }
    }
    assert_int_equal(checked, 110);
    tally_of(pa)->approved = 1;
    tally_of(pb)->rejected = 1;
    expect_str(api(200, "GET", S("/v1/requests/%lld", pc), INV1, NULL), "status", "cancelled");
    expect_str(api(200, "GET", "/v1/cameras/RM-adm", INV1, NULL), "name", "Ma trận");
    expect_str(api(200, "GET", "/v1/cameras/RM-CSV-adm", INV1, NULL), "name", "Camera nhập");
    api_err(404, "camera_not_found", "GET", "/v1/cameras/RM-inv", INV1, NULL);
    expect_str(api(200, "GET", "/v1/cases/RM-inv", INV1, NULL), "title", "Vụ thử phân quyền (adm)");

    /* Other ways of not being authenticated. */
    static const char *const bad_auth[] = {
        "Authorization: Basic dXNlcjpwYXNz\r\n", "Authorization: Bearer\r\n", "Authorization: Bearer \r\n",
        "Authorization: " BAD_TOKEN "\r\n",
    };
    for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++) {
        answer_t a = ask("GET", "/v1/cases", NULL, bad_auth[i], NULL, 0);
        assert_int_equal(a.status, 401);
    }
    answer_t a = ask("GET", "/v1/cases", NULL, S("Authorization: bearer %s\r\n", AUD), NULL, 0);
    assert_int_equal(a.status, 200);
    a = ask("GET", "/v1/cases", S("%s%0300d", AUD, 0), NULL, NULL, 0);
    assert_int_equal(a.status, 401);
    char *www = NULL;
    cl_http_resp_t r;
    assert_int_equal(cl_http(port, "GET", "/v1/cases", NULL, NULL, NULL, 0, &r), 0);
    www = cl_http_header(&r, "www-authenticate");
    assert_string_equal(www, "Bearer realm=\"camledger\"");
    free(www);
    cl_http_resp_free(&r);

    /* A revoked token is refused; the others of the user still work. */
    char *out;
    run_ok("token add", cl_t_sh_capture(&out, "'%s' --db '%s' token add --user '%s'", cl_t_prog("CL_ADMIN"),
                                        conninfo, users[1].name));
    char *extra = S("%s", last_line(out));
    free(out);
    run_ok("token revoke", cl_t_sh("'%s' --db '%s' token revoke --token '%s' >/dev/null", cl_t_prog("CL_ADMIN"),
                                   conninfo, extra));
    api_err(401, "unauthorized", "GET", "/v1/cases", extra, NULL);
    api(200, "GET", "/v1/cases", INV2, NULL);
}

/* ------------------------------------------------------------ bad input */

/* Any answer but a 5xx, errors in their shape (ask checks both). */
static answer_t not_5xx(const char *method, const char *path, const char *token, const char *body)
{
    return ask(method, path, token, body ? "Content-Type: application/json\r\n" : NULL, body,
               body ? strlen(body) : 0);
}

static void test_http_bad_input_is_4xx(void **state)
{
    (void)state;
    /* Malformed, mistyped, missing, unknown. */
    static const struct { const char *body, *code; } bodies[] = {
        {"{", "invalid_json"},
        {"{\"number\":\"X-2\",\"title\":\"x\"", "invalid_json"},
        {"[1]", "invalid_body"},
        {"\"text\"", "invalid_json"},
        {"{\"number\":\"a\",\"number\":\"b\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"a\\u0000b\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"\\ud800\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"\xff\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"\xc0\xaf\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"X-2\",\"title\":\"x\",\"n\":1e400}", "invalid_json"},
        {"{\"number\":\"X-2\",\"title\":\"x\",\"n\":123456789012345678901234567890}", "invalid_json"},
        {"{\"number\":1,\"title\":\"x\"}", "invalid_field"},
        {"{\"number\":[\"X-2\"],\"title\":\"x\"}", "invalid_field"},
        {"{\"number\":\"X-2\",\"title\":{}}", "invalid_field"},
        {"{\"number\":\"X-2\",\"title\":true}", "invalid_field"},
        {"{\"number\":null,\"title\":\"x\"}", "missing_field"},
        {"{\"title\":\"x\"}", "missing_field"},
        {"{}", "missing_field"},
        {"{\"number\":\"X-2\",\"title\":\"x\",\"extra\":1}", "unknown_field"},
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        api_err(400, bodies[i].code, "POST", "/v1/cases", INV1, bodies[i].body);
    api_err(400, "missing_body", "POST", "/v1/cases", INV1, "");
    api_err(400, "missing_body", "POST", "/v1/cases", INV1, NULL);
    char *deep = keep(malloc(200002));
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\0';
    api_err(400, "invalid_json", "POST", "/v1/cases", INV1, deep);
    static const char *const camera_bodies[] = {
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"lat\":\"10.5\",\"lon\":\"106\"}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"lat\":1e308,\"lon\":1}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"retention_days\":\"30\"}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"retention_days\":0}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"owner_phone\":\"call me\"}",
        "{\"code\":\"\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\"}",
        "{\"code\":\"..\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\"}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":7,\"owner_kind\":\"police\"}",
    };
    for (size_t i = 0; i < sizeof(camera_bodies) / sizeof(camera_bodies[0]); i++)
        api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1, camera_bodies[i]);
    /* Too long for the camera code (128 characters), though short in bytes
     * for the error message to quote whole. */
    char *long_code = keep(malloc(3 * 400 + 1));
    long_code[0] = '\0';
    for (int i = 0; i < 400; i++)
        strcat(long_code, "ễ");
    api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            J(json_pack("{s:s,s:s,s:s,s:s}", "code", long_code, "name", "x", "station", "BT",
                        "owner_kind", "police")));
    /* Quoted back in a message longer than the message buffer: still valid
     * UTF-8 and still JSON. */
    json_t *e = api_err(404, "camera_not_found", "GET", S("/v1/cameras/%s", enc(long_code)), INV1, NULL);
    assert_true(strncmp(str(e, "message"), "camera ễễễ", strlen("camera ễễễ")) == 0);

    /* Bodies over the limits: the route's (1 MiB of JSON) and H2O's own
     * (the CSV limit), answered in the JSON error shape. */
    size_t big = 10u << 20;
    char *body = keep(malloc(big + 1));
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    body[big] = '\0';
    answer_t a = ask("POST", "/v1/cases", INV1, "Content-Type: application/json\r\n", body, big);
    assert_int_equal(a.status, 413);
    expect_str(field(a.json, "error"), "code", "body_too_large");
    a = ask("POST", "/v1/cases", INV1, "Content-Type: application/json\r\n", body, 2u << 20);
    assert_int_equal(a.status, 413);
    expect_str(field(a.json, "error"), "code", "body_too_large");
    expect_str(field(a.json, "error"), "message", "the body may be at most 1048576 bytes");
    a = ask("POST", "/v1/cameras/import", ADM1, "Content-Type: text/csv\r\n", body, 9u << 20);
    assert_int_equal(a.status, 413);
    expect_str(field(a.json, "error"), "code", "body_too_large");
    a = ask("POST", "/v1/cases", NULL, "Content-Type: application/json\r\n", body, big);
    assert_int_equal(a.status, 413);

    /* Not UTF-8, or not percent-encoded right, in the query or the path. */
    static const char *const queries[] = {
        "/v1/cameras?q=%FF", "/v1/cameras?q=\xff", "/v1/cameras?q=%C0%AF", "/v1/cameras?q=%ED%A0%80",
        "/v1/cameras?q=%F4%90%80%80", "/v1/cameras?q=%E1%BB", "/v1/cameras?q=%G1", "/v1/cameras?q=%",
        "/v1/cameras?q=%00", "/v1/cameras?%FF=1",
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
        api_err(400, "invalid_query", "GET", queries[i], INV1, NULL);
    static const char *const paths[] = {
        "/v1/cameras/%FF", "/v1/cameras/\xc3\x28", "/v1/cases/%C0%AF/x", "/v1/cases/%ED%A0%80",
        "/v1/requests/%00/approve", "/v1/cameras/%E1%BB/footage", "/v1/cameras/%zz",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        api_err(400, "invalid_path", "GET", paths[i], INV1, NULL);
    const char *bad_csv[] = {"co\xff" "de,name\nX,y\n", "code,name\nX,\xe1\xbb\n",
                             "code,Tên_camera_được_đặt_theo_địa_chỉ_nhà_ở_khu_phố_cổ_Hà_Nội\nX,y\n"};
    for (size_t i = 0; i < 3; i++) {
        a = ask("POST", "/v1/cameras/import", ADM1, "Content-Type: text/csv\r\n", bad_csv[i], strlen(bad_csv[i]));
        assert_int_equal(a.status, 400);
        expect_str(field(a.json, "error"), "code", "invalid_csv");
    }

    /* What SQL, LIKE and shells treat specially, in every string parameter:
     * never a 5xx, and where it is data, stored and found as given. */
    static const char *const nasty[] = {
        "'", "\"", ";", "%", "_", "\\", "' OR 1=1 --", "'; DROP TABLE cameras; --", "%' OR '1'='1",
        "\\'", "$1", "NULL", "); SELECT pg_sleep(5); --", "a\tb", "*/ /*", "ễ' --",
    };
    const char *win = "from=2025-11-21T14:40:00Z&to=2025-11-21T14:45:00Z";
    for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
        const char *v = nasty[i], *ev = enc(v);
        /* Query parameters. */
        static const char *const lists[] = {
            "/v1/cameras?station=%s", "/v1/cameras?registered=%s", "/v1/cameras?near=%s&radius_m=100",
            "/v1/cameras?near=21,105&radius_m=%s", "/v1/cameras?limit=%s", "/v1/cameras?offset=%s",
            "/v1/cases?station=%s", "/v1/cases?status=%s", "/v1/cases?limit=%s", "/v1/cases?offset=%s",
            "/v1/requests?status=%s", "/v1/requests?limit=%s", "/v1/requests?offset=%s",
            "/v1/cameras/BT-001/footage?from=%s&to=2025-11-21T14:45:00Z",
            "/v1/cameras/BT-001/footage?from=2025-11-21T14:40:00Z&to=%s",
            "/v1/cameras/BT-001/keyframes?from=%s&to=2025-11-21T14:45:00Z",
            "/v1/cameras/BT-001/keyframes?from=2025-11-21T14:40:00Z&to=%s",
            "/v1/audit/extractions?group_by=%s", "/v1/audit/extractions?group_by=case&from=%s",
            "/v1/audit/extractions?group_by=case&to=%s", "/v1/audit/log?after=%s", "/v1/audit/log?limit=%s",
        };
        for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
            a = not_5xx("GET", S(lists[k], ev), ADM1, NULL);
            assert_int_equal(a.status, 400);
        }
        api_err(400, "unknown_parameter", "GET", S("/v1/cameras?%s=1", ev), AUD, NULL);
        static const char *const lookups[] = {"/v1/requests?case=%s", "/v1/requests?camera=%s",
                                              "/v1/requests?requester=%s"};
        for (size_t k = 0; k < 3; k++)
            expect_int(api(200, "GET", S(lookups[k], ev), AUD, NULL), "total", 0);
        char *want = cl_t_query1(conn,
            "SELECT count(*) FROM cameras WHERE strpos(lower(code), lower($1)) > 0 "
            "OR strpos(lower(coalesce(name, '')), lower($1)) > 0 "
            "OR strpos(lower(coalesce(address, '')), lower($1)) > 0", v, NULL);
        expect_int(api(200, "GET", S("/v1/cameras?q=%s", ev), AUD, NULL), "total", atoll(want));
        free(want);

        /* Path segments. */
        api_err(404, "camera_not_found", "GET", S("/v1/cameras/%s", ev), AUD, NULL);
        api_err(404, "camera_not_found", "PATCH", S("/v1/cameras/%s", ev), ADM1, "{\"name\":\"x\"}");
        api_err(404, "camera_not_found", "GET", S("/v1/cameras/%s/footage?%s", ev, win), AUD, NULL);
        api_err(404, "camera_not_found", "GET", S("/v1/cameras/%s/keyframes?%s", ev, win), AUD, NULL);
        api_err(404, "case_not_found", "GET", S("/v1/cases/%s", ev), AUD, NULL);
        api_err(404, "case_not_found", "PATCH", S("/v1/cases/%s", ev), ADM1, "{\"title\":\"x\"}");
        api_err(400, "invalid_parameter", "GET", S("/v1/requests/%s", ev), AUD, NULL);
        api_err(400, "invalid_parameter", "POST", S("/v1/requests/%s/approve", ev), ADM1, NULL);
        api_err(400, "invalid_parameter", "POST", S("/v1/requests/%s/reject", ev), ADM1, "{\"reason\":\"x\"}");
        api_err(400, "invalid_parameter", "POST", S("/v1/requests/%s/cancel", ev), INV1, NULL);

        /* JSON fields: as data, kept and found byte for byte. */
        const char *code = S("SQL%s", v);
        /* A camera code is a directory name: no '/', no control character;
         * a case number only no control character. */
        int has_cntrl = strchr(v, '\t') != NULL;
        a = not_5xx("POST", "/v1/cameras", ADM1,
                    J(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "code", code, "name", v, "station", "BT",
                                "owner_kind", "police", "owner_name", v, "address", v)));
        if (has_cntrl || strchr(v, '/')) {
            assert_int_equal(a.status, 400);
        } else {
            if (a.status != 201)
                fail_msg("register %s: %d %s", code, a.status, a.body);
            audit_n++;
            json_t *c = api(200, "GET", S("/v1/cameras/%s", enc(code)), AUD, NULL);
            expect_str(c, "code", code);
            expect_str(c, "name", v);
            expect_str(c, "owner_name", v);
            expect_str(c, "address", v);
            json_t *p = api(200, "PATCH", S("/v1/cameras/%s", enc(code)), ADM1,
                            J(json_pack("{s:s}", "address", S("%s%s", v, v))));
            audit_n++;
            expect_str(p, "address", S("%s%s", v, v));
        }
        static const char *const fields[] = {"station", "owner_kind", "owner_phone", "timezone"};
        for (size_t k = 0; k < 4; k++) {
            json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "code", "SQL-X", "name", "x", "station", "BT",
                                  "owner_kind", "police");
            json_object_set_new(o, fields[k], json_string(v));
            a = not_5xx("POST", "/v1/cameras", ADM1, J(o));
            assert_int_equal(a.status, 400);
        }
        a = not_5xx("POST", "/v1/cases", INV1, J(json_pack("{s:s,s:s}", "number", code, "title", v)));
        if (has_cntrl) {
            assert_int_equal(a.status, 400);
        } else {
            assert_int_equal(a.status, 201);
            audit_n++;
            note_case(code, "BT");
            expect_str(api(200, "GET", S("/v1/cases/%s", enc(code)), AUD, NULL), "title", v);
            json_t *p = api(200, "PATCH", S("/v1/cases/%s", enc(code)), INV1,
                            J(json_pack("{s:s}", "title", S("%s%s", v, v))));
            audit_n++;
            expect_str(p, "title", S("%s%s", v, v));
        }
        a = not_5xx("POST", "/v1/cases", INV1, J(json_pack("{s:s,s:s,s:s}", "number", "SQL-Y", "title", "x",
                                                         "station", v)));
        assert_int_equal(a.status, 400);
        static const char *const req_fields[] = {"case", "camera", "from", "to"};
        for (size_t k = 0; k < 4; k++) {
            json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "case", "VV-2026/001", "camera", "BT-001",
                                  "from", "2025-11-21T14:40:00Z", "to", "2025-11-21T14:41:00Z", "reason", "x");
            json_object_set_new(o, req_fields[k], json_string(v));
            a = not_5xx("POST", "/v1/requests", INV1, J(o));
            assert_int_equal(a.status, 400);
        }
        json_t *r = ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:40:00Z", "2025-11-21T14:41:00Z",
                                60, v, NULL);
        expect_str(api(200, "GET", S("/v1/requests/%lld", num_i(r, "id")), AUD, NULL), "reason", v);
        expect_str(act(ADM1, num_i(r, "id"), "reject", v, 200, NULL), "decision_reason", v);
        a = ask("POST", "/v1/requests", INV1, S("Content-Type: application/json\r\nIdempotency-Key: k%s\r\n",
                                                strchr(v, '\t') ? "tab" : v),
                "{}", 2);
        assert_int_equal(a.status, 400);
    }
    char *n = cl_t_query1(conn, "SELECT count(*) FROM cameras", NULL);
    assert_true(atoi(n) > 10);
    free(n);
}

/* The large-query path of the database pool, reached from a token's first
 * use (the token lookup's answer starts the route's query). */
static void test_http_large_bodies_on_first_use_of_a_token(void **state)
{
    (void)state;
    /* Seconds are plenty; a stuck query must not hold the run for long. */
    cl_http_set_timeout(30);
    char *out;
    run_ok("token add", cl_t_sh_capture(&out, "'%s' --db '%s' token add --user '%s'", cl_t_prog("CL_ADMIN"),
                                        conninfo, users[0].name));
    char *fresh = S("%s", last_line(out));
    free(out);
    size_t len = 900000;
    char *body = keep(malloc(len + 1));
    int n = snprintf(body, len, "{\"number\":\"BIG-1\",\"title\":\"x\",\"padding\":\"");
    memset(body + n, 'a', len - (size_t)n - 2);
    memcpy(body + len - 2, "\"}", 3);
    api_err(400, "unknown_field", "POST", "/v1/cases", fresh, body);

    /* 2,500 rows of some 1.3 MB, the last one bad: the whole file is
     * checked, none kept. */
    run_ok("token add", cl_t_sh_capture(&out, "'%s' --db '%s' token add --user '%s'", cl_t_prog("CL_ADMIN"),
                                        conninfo, users[3].name));
    fresh = S("%s", last_line(out));
    free(out);
    char street[420];
    memset(street, 'x', sizeof(street) - 1);
    street[sizeof(street) - 1] = '\0';
    size_t cap = 2501 * 600, used = 0;
    char *csv = keep(malloc(cap));
    used += (size_t)snprintf(csv, cap, "code,name,station,owner_kind,address\n");
    for (int i = 0; i < 2500; i++)
        used += (size_t)snprintf(csv + used, cap - used, "BULK-%05d,Camera số %d phố Huế,BT,%s,"
                                 "\"Số %d, phố Huế, Hai Bà Trưng, Hà Nội, %s\"\n", i, i,
                                 i == 2499 ? "bogus" : "household", i, street);
    assert_true(used > 1000000);
    answer_t a = ask("POST", "/v1/cameras/import", fresh, "Content-Type: text/csv\r\n", csv, used);
    assert_int_equal(a.status, 400);
    json_t *e = field(a.json, "error");
    expect_str(e, "message", "1 of 2500 rows are invalid; nothing was imported");
    assert_int_equal(json_array_size(field(e, "lines")), 1);
    expect_int(json_array_get(field(e, "lines"), 0), "line", 2501);
    api_err(404, "camera_not_found", "GET", "/v1/cameras/BULK-0000", fresh, NULL);
}

static int default_timeout(void **state)
{
    (void)state;
    cl_http_set_timeout(0);
    return 0;
}

/* ------------------------------------------------------------ audit */

typedef struct group {
    char key[160];
    int requests, approved, rejected;
    double secs;
    char cameras[64][160];
    int n_cameras;
} group_t;

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const group_t *)a)->key, ((const group_t *)b)->key);
}

/* The tally grouped by by; returns the count; *total gets the totals. */
static size_t tally_groups(const char *by, group_t *g, group_t *total)
{
    size_t n = 0;
    memset(total, 0, sizeof(*total));
    for (size_t i = 0; i < n_tallies + 0; i++) {
        const tally_t *t = &tallies[i];
        for (int pass = 0; pass < 2; pass++) {
            group_t *x = NULL;
            if (pass == 0) {
                const char *key = strcmp(by, "case") == 0 ? t->case_number : strcmp(by, "station") == 0
                                  ? t->station : strcmp(by, "camera") == 0 ? t->camera : t->month;
                for (size_t k = 0; k < n && !x; k++)
                    if (strcmp(g[k].key, key) == 0)
                        x = &g[k];
                if (!x) {
                    x = &g[n++];
                    memset(x, 0, sizeof(*x));
                    snprintf(x->key, sizeof(x->key), "%s", key);
                }
            } else {
                x = total;
            }
            x->requests++;
            x->approved += t->approved;
            x->rejected += t->rejected;
            x->secs += t->approved ? t->secs : 0;
            int seen = 0;
            for (int c = 0; c < x->n_cameras; c++)
                seen |= strcmp(x->cameras[c], t->camera) == 0;
            if (!seen)
                snprintf(x->cameras[x->n_cameras++], sizeof(x->cameras[0]), "%s", t->camera);
        }
    }
    qsort(g, n, sizeof(*g), cmp_group);
    return n;
}

static void expect_counts(json_t *row, const group_t *g)
{
    expect_keys(row, "key,requests,approved,rejected,fulfilled,footage_seconds,cameras");
    expect_str(row, "key", g->key);
    expect_int(row, "requests", g->requests);
    expect_int(row, "approved", g->approved);
    expect_int(row, "rejected", g->rejected);
    expect_int(row, "fulfilled", 0);
    expect_num(row, "footage_seconds", g->secs);
    expect_int(row, "cameras", g->n_cameras);
}

static void csv_key(char *out, size_t n, const char *key)
{
    size_t o = 0;
    if (!strpbrk(key, ",\"\r\n")) {
        for (const char *p = key; *p && o + 1 < n; p++)
            out[o++] = *p;
        out[o] = '\0';
        return;
    }
    out[o++] = '"';
    for (const char *p = key; *p && o + 3 < n; p++) {
        if (*p == '"')
            out[o++] = '"';
        out[o++] = *p;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static void test_http_audit_extractions(void **state)
{
    (void)state;
    static group_t g[128];
    group_t total;
    static const char *const bys[] = {"case", "station", "camera", "month"};
    for (size_t b = 0; b < 4; b++) {
        size_t n = tally_groups(bys[b], g, &total);
        json_t *j = api(200, "GET", S("/v1/audit/extractions?group_by=%s", bys[b]), b % 2 ? ADM1 : AUD, NULL);
        expect_keys(j, "group_by,from,to,rows,totals");
        expect_str(j, "group_by", bys[b]);
        expect_null(j, "from");
        expect_null(j, "to");
        json_t *rows = field(j, "rows");
        if (json_array_size(rows) != n)
            fail_msg("group_by=%s: expected %zu rows, got %s", bys[b], n, J(json_incref(rows)));
        for (size_t i = 0; i < n; i++)
            expect_counts(json_array_get(rows, i), &g[i]);
        json_t *t = field(j, "totals");
        expect_keys(t, "requests,approved,rejected,fulfilled,footage_seconds,cameras");
        expect_int(t, "requests", total.requests);
        expect_int(t, "approved", total.approved);
        expect_int(t, "rejected", total.rejected);
        expect_num(t, "footage_seconds", total.secs);
        expect_int(t, "cameras", total.n_cameras);

        /* The same as CSV. */
        answer_t a = ask("GET", S("/v1/audit/extractions?group_by=%s", bys[b]), AUD, "Accept: text/csv\r\n",
                         NULL, 0);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.ctype, "text/csv; charset=utf-8");
        size_t cap = 64 + (n + 1) * 256, used = 0;
        char *want = keep(malloc(cap));
        used += (size_t)snprintf(want, cap, "key,requests,approved,rejected,fulfilled,footage_seconds,cameras\r\n");
        for (size_t i = 0; i <= n; i++) {
            const group_t *x = i < n ? &g[i] : &total;
            char key[400];
            csv_key(key, sizeof(key), i < n ? x->key : "total");
            used += (size_t)snprintf(want + used, cap - used, "%s,%d,%d,%d,0,%.3f,%d\r\n", key, x->requests,
                                     x->approved, x->rejected, x->secs, x->n_cameras);
        }
        assert_string_equal(a.body, want);
    }
    /* The tally is what it should be: the life cycle's approvals among it. */
    tally_groups("case", g, &total);
    assert_int_equal(total.requests, (int)n_tallies);
    assert_true(total.approved >= 5 && total.rejected >= 2);
    assert_non_null(strstr(J(json_incref(api(200, "GET", "/v1/audit/extractions?group_by=case", AUD, NULL))),
                           "\"key\":\"HK-2026/002, \\\"Cướp\\\"\""));

    /* A window of creation times: the future holds nothing. */
    json_t *j = api(200, "GET", "/v1/audit/extractions?group_by=camera&from=2099-01-01T00:00:00Z", AUD, NULL);
    assert_int_equal(json_array_size(field(j, "rows")), 0);
    expect_int(field(j, "totals"), "requests", 0);
    expect_num(field(j, "totals"), "footage_seconds", 0);
    expect_str(j, "from", "2099-01-01T00:00:00.000Z");
    j = api(200, "GET", "/v1/audit/extractions?group_by=camera&from=2000-01-01T00:00:00%2B07:00&to=2099-01-01T00:00:00Z",
            AUD, NULL);
    expect_int(field(j, "totals"), "requests", (long long)n_tallies);
    expect_str(j, "from", "1999-12-31T17:00:00.000Z");
    api_err(400, "invalid_parameter", "GET", "/v1/audit/extractions", AUD, NULL);
    api_err(400, "invalid_parameter", "GET", "/v1/audit/extractions?group_by=year", AUD, NULL);
    api_err(400, "invalid_window", "GET",
            "/v1/audit/extractions?group_by=case&from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z", AUD, NULL);
    api_err(400, "invalid_time", "GET", "/v1/audit/extractions?group_by=case&from=2026-02-30T00:00:00Z", AUD, NULL);
    answer_t a = ask("GET", "/v1/audit/extractions?group_by=year", AUD, "Accept: text/csv\r\n", NULL, 0);
    assert_int_equal(a.status, 400);
}

static void test_http_audit_log_and_chain(void **state)
{
    (void)state;
    json_t *v = api(200, "GET", "/v1/audit/verify", AUD, NULL);
    expect_keys(v, "ok,entries");
    expect_bool(v, "ok", 1);
    expect_int(v, "entries", audit_n);

    /* The whole log, page by page: a chain from zeros, ids rising. */
    json_t *all = keepj(json_array());
    long long after = 0;
    for (;;) {
        json_t *page = api(200, "GET", S("/v1/audit/log?after=%lld&limit=1000", after), ADM1, NULL);
        expect_keys(page, "entries,next_after");
        json_t *entries = field(page, "entries");
        if (json_array_size(entries) == 0) {
            expect_null(page, "next_after");
            break;
        }
        json_array_extend(all, entries);
        after = num_i(page, "next_after");
    }
    assert_int_equal(json_array_size(all), audit_n);
    const char *prev = "0000000000000000000000000000000000000000000000000000000000000000";
    long long last_id = 0;
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        expect_keys(e, "id,at,actor,action,object_type,object_id,data,prev_hash,hash");
        assert_true(num_i(e, "id") > last_id);
        last_id = num_i(e, "id");
        expect_time_format(str(e, "at"));
        expect_str(e, "prev_hash", prev);
        assert_int_equal(strlen(str(e, "hash")), 64);
        prev = str(e, "hash");
    }
    json_t *small = api(200, "GET", "/v1/audit/log?limit=2", AUD, NULL);
    assert_int_equal(json_array_size(field(small, "entries")), 2);
    expect_int(small, "next_after", num_i(json_array_get(all, 1), "id"));
    assert_true(json_equal(json_array_get(field(small, "entries"), 1), json_array_get(all, 1)));

    /* Who did what: the first entry registered BT-001; the case opened by
     * the investigator; every request decision is there. */
    json_t *first = json_array_get(all, 0);
    expect_str(first, "action", "camera.registered");
    expect_str(first, "object_type", "camera");
    expect_str(first, "object_id", "BT-001");
    expect_str(first, "actor", users[3].name);
    expect_str(field(first, "data"), "source", "api");
    int opened = 0, approved = 0, rejected = 0, created = 0, csv = 0;
    json_array_foreach(all, i, e) {
        const char *action = str(e, "action");
        if (strcmp(action, "case.opened") == 0 && strcmp(str(e, "object_id"), "VV-2026/001") == 0) {
            opened++;
            expect_str(e, "actor", users[0].name);
            expect_str(field(e, "data"), "title", "Cướp giật tại ngã tư Nguyễn Thị Minh Khai");
        }
        approved += strcmp(action, "request.approved") == 0;
        rejected += strcmp(action, "request.rejected") == 0;
        created += strcmp(action, "request.created") == 0;
        csv += strcmp(action, "camera.registered") == 0 && strcmp(str(field(e, "data"), "source"), "csv") == 0;
    }
    group_t *g = keep(calloc(128, sizeof(group_t))), total;
    tally_groups("case", g, &total);
    assert_int_equal(opened, 1);
    assert_int_equal(created, (int)n_tallies);
    assert_int_equal(approved, total.approved);
    assert_int_equal(rejected, total.rejected);
    assert_int_equal(csv, 3);
    json_t *rej = NULL;
    json_array_foreach(all, i, e)
        if (strcmp(str(e, "action"), "request.rejected") == 0 && !rej)
            rej = e;
    expect_str(field(rej, "data"), "reason", "Không đủ căn cứ: cần lệnh của thủ trưởng");
    expect_str(field(rej, "data"), "case", "VV-2026/001");

    /* The database refuses changes to the log. */
    static const char *const refused[] = {
        "UPDATE audit_log SET actor = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1",
        "TRUNCATE audit_log",
    };
    for (size_t k = 0; k < 3; k++) {
        PGresult *r = PQexec(conn, refused[k]);
        assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
        assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
        assert_non_null(strstr(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), "append-only"));
        PQclear(r);
    }
    v = api(200, "GET", "/v1/audit/verify", AUD, NULL);
    expect_bool(v, "ok", 1);

    /* A superuser goes around the trigger: verify names the entry. */
    long long victim = num_i(json_array_get(all, audit_n / 2), "id");
    char *vid = S("%lld", victim);
    char *saved = cl_t_query1(conn, "SELECT data::text FROM audit_log WHERE id = $1", vid, NULL);
    cl_t_exec(conn, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
    PQclear(cl_t_query(conn, "UPDATE audit_log SET data = data || '{\"forged\": true}' WHERE id = $1", vid, NULL));
    cl_t_exec(conn, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update");
    v = api(200, "GET", "/v1/audit/verify", ADM1, NULL);
    expect_keys(v, "ok,entries,first_bad,reason");
    expect_bool(v, "ok", 0);
    expect_int(v, "entries", audit_n);
    expect_int(v, "first_bad", victim);
    expect_str(v, "reason", "content does not match its hash");

    /* A rewritten hash breaks the link to the next entry instead. */
    cl_t_exec(conn, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
    PQclear(cl_t_query(conn, "UPDATE audit_log SET data = $2::jsonb WHERE id = $1", vid, saved, NULL));
    PQclear(cl_t_query(conn, "UPDATE audit_log SET hash = sha256(hash) WHERE id = $1", vid, NULL));
    cl_t_exec(conn, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update");
    v = api(200, "GET", "/v1/audit/verify", AUD, NULL);
    expect_bool(v, "ok", 0);
    expect_int(v, "first_bad", victim);
    expect_str(v, "reason", "content does not match its hash");

    /* Put back as it was: whole again. */
    cl_t_exec(conn, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
    PQclear(cl_t_query(conn, "UPDATE audit_log SET hash = decode($2, 'hex') WHERE id = $1", vid,
                       str(json_array_get(all, audit_n / 2), "hash"), NULL));
    cl_t_exec(conn, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update");
    free(saved);
    v = api(200, "GET", "/v1/audit/verify", AUD, NULL);
    expect_keys(v, "ok,entries");
    expect_bool(v, "ok", 1);
    expect_int(v, "entries", audit_n);
}

/* ------------------------------------------------------------ metrics */

/* The value on the line starting with line_start, or -1. */
static long long metric(const char *text, const char *line_start)
{
    size_t n = strlen(line_start);
    for (const char *p = text; p; p = strchr(p, '\n')) {
        p += *p == '\n';
        if (strncmp(p, line_start, n) == 0)
            return atoll(p + n);
    }
    return -1;
}

static void test_http_metrics(void **state)
{
    (void)state;
    answer_t a = ask("GET", "/metrics", NULL, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.ctype, "text/plain; version=0.0.4; charset=utf-8");
    static const char *const used[] = {
        "healthz\",status=\"200\"", "cameras.register\",status=\"201\"", "cameras.register\",status=\"400\"",
        "cameras.list\",status=\"200\"", "cameras.import\",status=\"201\"", "cameras.import\",status=\"415\"",
        "cameras.get\",status=\"404\"", "cameras.update\",status=\"200\"", "cameras.footage\",status=\"200\"",
        "cameras.keyframes\",status=\"200\"", "cases.create\",status=\"201\"", "cases.update\",status=\"409\"",
        "requests.create\",status=\"201\"", "requests.approve\",status=\"409\"", "requests.cancel\",status=\"403\"",
        "audit.verify\",status=\"200\"", "audit.extractions\",status=\"200\"", "audit.log\",status=\"200\"",
        "unmatched\",status=\"404\"", "unmatched\",status=\"405\"",
    };
    for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++) {
        const char *line = S("camledger_http_requests_total{route=\"%s} ", used[i]);
        if (metric(a.body, line) <= 0)
            fail_msg("no %s in\n%s", line, a.body);
    }
    const char *verify = "camledger_http_requests_total{route=\"audit.verify\",status=\"200\"} ";
    long long before = metric(a.body, verify);
    long long auth_before = metric(a.body, "camledger_auth_failures_total ");
    for (int i = 0; i < 3; i++)
        api(200, "GET", "/v1/audit/verify", AUD, NULL);
    api_err(401, "unauthorized", "GET", "/v1/audit/verify", BAD_TOKEN, NULL);
    a = ask("GET", "/metrics", NULL, NULL, NULL, 0);
    assert_int_equal(metric(a.body, verify), before + 3);
    assert_int_equal(metric(a.body, "camledger_auth_failures_total "), auth_before + 1);
    assert_int_equal(metric(a.body, "camledger_db_errors_total "), 0);
    assert_true(metric(a.body, "camledger_db_pool_connections{state=\"up\"} ") >= 1);
    assert_non_null(strstr(a.body, "camledger_http_request_duration_seconds_bucket{route=\"audit.verify\",le=\"+Inf\"}"));
}

/* ------------------------------------------------------------ start and stop */

static void test_http_server_refuses_to_start(void **state)
{
    (void)state;
    const char *prog = cl_t_prog("CL_SERVER");
    char *out;
    /* A database without the schema: exit 1, naming the command that fixes it. */
    PGconn *admin = PQconnectdb("dbname=postgres");
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS " DB_BARE " WITH (FORCE)"));
    PGresult *r = PQexec(admin, "CREATE DATABASE " DB_BARE);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    int rc = cl_t_sh_capture(&out, "'%s' --db 'dbname=" DB_BARE "' --listen 127.0.0.1:0 2>&1", prog);
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS " DB_BARE " WITH (FORCE)"));
    PQfinish(admin);
    assert_int_equal(rc, 1);
    if (!strstr(out, "camledger-admin") || !strstr(out, "migrate"))
        fail_msg("no hint to run camledger-admin ... migrate in: %s", out);
    if (strstr(out, "Sanitizer") || strstr(out, "runtime error:"))
        fail_msg("camledger-server on an unmigrated database: %s", out);
    free(out);
    /* An unreachable database: exit 1, at once. */
    rc = cl_t_sh_capture(&out, "'%s' --db 'host=/nonexistent port=1' --listen 127.0.0.1:0 2>&1", prog);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "database"));
    free(out);

    /* The port of a running server: exit 1, not a silent share of its
     * traffic (the workers' SO_REUSEPORT would allow it). */
    rc = cl_t_sh_capture(&out, "timeout 20 '%s' --db '%s' --listen 127.0.0.1:%d 2>&1", prog, conninfo, port);
    if (rc != 1 || !strstr(out, "in use"))
        fail_msg("a second server on port %d: exit %d, %s", port, rc, out);
    free(out);
    api(200, "GET", "/healthz", NULL, NULL);

    /* Bad arguments: exit 2 with a message, nothing started. */
    static const char *const bad[] = {
        "", "--db ''", "--listen 127.0.0.1", "--listen :8080", "--listen 127.0.0.1:1 --threads 0",
        "--listen 127.0.0.1:1 --threads x", "--listen 127.0.0.1:1 --pool 1000", "--listen 127.0.0.1:1 --bogus",
        "--listen 127.0.0.1:1 extra", "--listen 127.0.0.1:1 --max-window-hours 0",
        "--listen no.such.host.invalid:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = cl_t_sh_capture(&out, "'%s' %s 2>&1", prog, bad[i]);
        if (rc != 2 || strlen(out) == 0)
            fail_msg("camledger-server %s: exit %d, output '%s'", bad[i], rc, out);
        if (strstr(out, "AddressSanitizer") || strstr(out, "runtime error:"))
            fail_msg("camledger-server %s: %s", bad[i], out);
        free(out);
    }
    rc = cl_t_sh_capture(&out, "'%s' --help", prog);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "usage: camledger-server"));
    free(out);
}

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Leftovers of the outage test for its own clean-up when it fails. */
static char *outage_dir;
static pid_t outage_server;

static int outage_teardown(void **state)
{
    (void)state;
    if (outage_server > 0)
        cl_t_server_stop(outage_server);
    outage_server = 0;
    if (outage_dir) {
        cl_t_sh("CL_PGPORT=5498 bash '%s/scripts/pg.sh' stop '%s'", cl_t_prog("CL_SOURCE_ROOT"), outage_dir);
        cl_t_sh("rm -rf '%s'", outage_dir);
    }
    outage_dir = NULL;
    return 0;
}

static void test_http_database_outage(void **state)
{
    (void)state;
    const char *src = cl_t_prog("CL_SOURCE_ROOT");
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    outage_dir = S("%s/cl-outage-pg-%d", base, (int)getpid());
    char *out;
    int rc = cl_t_sh_capture(&out, "CL_PGPORT=5498 CL_PG_FSYNC=off bash '%s/scripts/pg.sh' start '%s'",
                             src, outage_dir);
    if (rc != 0)
        fail_msg("pg.sh start exited %d", rc);
    char host[512] = "", user[128] = "";
    const char *h = strstr(out, "PGHOST="), *u = strstr(out, "PGUSER=");
    assert_non_null(h);
    assert_non_null(u);
    sscanf(h, "PGHOST=%511s", host);
    sscanf(u, "PGUSER=%127s", user);
    free(out);
    const char *db2 = S("host=%s port=5498 user=%s dbname=cl_outage", host, user);
    PGconn *admin = PQconnectdb(S("host=%s port=5498 user=%s dbname=postgres", host, user));
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    PGresult *r = PQexec(admin, "CREATE DATABASE cl_outage");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(admin);
    run_ok("migrate", cl_t_sh("'%s' --db '%s' migrate >/dev/null", cl_t_prog("CL_ADMIN"), db2));
    run_ok("station add", cl_t_sh("'%s' --db '%s' station add --code BT --name 'Bến Thành' >/dev/null",
                                  cl_t_prog("CL_ADMIN"), db2));
    user_t u1 = {"Nguyễn Văn Trực", "investigator", "BT", ""};
    add_user(db2, &u1, u1.token, sizeof(u1.token));
    char *err = S("%s/outage-server.err", tmp);
    int p2;
    outage_server = cl_t_server_start(db2, S("--threads 2 --pool 2 2>>'%s'", err), &p2);
    answer_t a = send_to(p2, "GET", "/v1/cases", u1.token, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    const char *before = "{\"number\":\"OUT-1\",\"title\":\"Trước sự cố\"}";
    a = send_to(p2, "POST", "/v1/cases", u1.token, "Content-Type: application/json\r\n", before,
                strlen(before));
    assert_int_equal(a.status, 201);

    /* The database goes away: 503 at once, never a hang, never a 500. */
    run_ok("pg.sh stop", cl_t_sh("CL_PGPORT=5498 bash '%s/scripts/pg.sh' stop '%s'", src, outage_dir));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static const struct { const char *method, *path, *body; int auth; } during[] = {
        {"GET", "/healthz", NULL, 0},
        {"GET", "/v1/cases", NULL, 1},
        {"GET", "/v1/cases/OUT-1", NULL, 1},
        {"POST", "/v1/cases", "{\"number\":\"OUT-2\",\"title\":\"Trong sự cố\"}", 1},
        {"GET", "/v1/cameras", NULL, 1},
    };
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(during) / sizeof(during[0]); i++) {
            struct timespec t1;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            const char *b = during[i].body;
            a = send_to(p2, during[i].method, during[i].path, during[i].auth ? u1.token : NULL,
                        b ? "Content-Type: application/json\r\n" : NULL, b, b ? strlen(b) : 0);
            if (a.status != 503)
                fail_msg("%s %s during the outage: %d %s", during[i].method, during[i].path, a.status, a.body);
            check_error_shape(&a, "outage");
            expect_str(field(a.json, "error"), "code", "database_unavailable");
            assert_true(since(&t1) < 5);
        }
        /* A fresh token cannot be checked either: 503, not 401. */
        a = send_to(p2, "GET", "/v1/cases", BAD_TOKEN, NULL, NULL, 0);
        assert_int_equal(a.status, 503);
        usleep(300000);
    }
    /* The server is alive and says why; the pool gauge is published once a
     * second. */
    for (int i = 0; i < 50; i++) {
        a = send_to(p2, "GET", "/metrics", NULL, NULL, NULL, 0);
        assert_int_equal(a.status, 200);
        if (metric(a.body, "camledger_db_pool_connections{state=\"up\"} ") == 0)
            break;
        usleep(100000);
    }
    assert_true(metric(a.body, "camledger_db_errors_total ") >= 15);
    assert_int_equal(metric(a.body, "camledger_db_pool_connections{state=\"up\"} "), 0);

    /* It comes back: within seconds the same server answers again. */
    run_ok("pg.sh start", cl_t_sh("CL_PGPORT=5498 bash '%s/scripts/pg.sh' start '%s' >/dev/null", src, outage_dir));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status = 0;
    while (since(&t0) < 15) {
        a = send_to(p2, "GET", "/healthz", NULL, NULL, NULL, 0);
        status = a.status;
        if (status == 200)
            break;
        assert_int_equal(status, 503);
        usleep(100000);
    }
    assert_int_equal(status, 200);
    assert_true(since(&t0) < 10);
    a = send_to(p2, "GET", "/v1/cases/OUT-1", u1.token, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    expect_str(a.json, "title", "Trước sự cố");
    a = send_to(p2, "POST", "/v1/cases", u1.token, "Content-Type: application/json\r\n",
                "{\"number\":\"OUT-3\",\"title\":\"Sau sự cố\"}", strlen("{\"number\":\"OUT-3\",\"title\":\"Sau sự cố\"}"));
    assert_int_equal(a.status, 201);

    /* SIGTERM: a clean exit. */
    rc = cl_t_server_stop(outage_server);
    outage_server = 0;
    assert_int_equal(rc, 0);
    check_sanitizer_log(err);
    outage_teardown(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_health_and_http2),
        cmocka_unit_test(test_http_cameras_register_get_patch),
        cmocka_unit_test(test_http_cameras_list_and_radius),
        cmocka_unit_test(test_http_cameras_import_csv),
        cmocka_unit_test(test_http_footage_segments_and_gaps),
        cmocka_unit_test(test_http_keyframes_exact),
        cmocka_unit_test(test_http_cases),
        cmocka_unit_test(test_http_requests_life_cycle),
        cmocka_unit_test(test_http_requests_idempotent),
        cmocka_unit_test(test_http_role_matrix),
        cmocka_unit_test(test_http_bad_input_is_4xx),
        cmocka_unit_test_teardown(test_http_large_bodies_on_first_use_of_a_token, default_timeout),
        cmocka_unit_test(test_http_audit_extractions),
        cmocka_unit_test(test_http_audit_log_and_chain),
        cmocka_unit_test(test_http_metrics),
        cmocka_unit_test(test_http_server_refuses_to_start),
        cmocka_unit_test_teardown(test_http_database_outage, outage_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
