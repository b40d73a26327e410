/* The setting of the camledger-server integration tests: see http_fixture.h. */
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

#include "http_fixture.h"

/* ------------------------------------------------------------ scratch memory */

/* Strings and JSON values made by the tests live until the group ends. */
static void **arena;
static size_t arena_n, arena_cap;
static json_t **jarena;
static size_t jarena_n, jarena_cap;

void *cl_fx_keep(void *p)
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

json_t *cl_fx_keepj(json_t *j)
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

char *cl_fx_fmt(const char *fmt, ...)
{
    char *s;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        fail_msg("out of memory");
    va_end(ap);
    return cl_fx_keep(s);
}

/* Percent-encodes everything but RFC 3986's unreserved characters. */
char *cl_fx_enc(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = cl_fx_keep(malloc(strlen(s) * 3 + 1)), *o = out;
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
char *cl_fx_dump(json_t *v)
{
    assert_non_null(v);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    assert_non_null(s);
    return cl_fx_keep(s);
}

/* ------------------------------------------------------------ the setting */

char *cl_fx_tmp;           /* scratch directory of the group */
static const char *db_name;  /* the database of the group */
static char *server_err;    /* the server's stderr */
char *cl_fx_conninfo;
PGconn *cl_fx_conn;
static pid_t server;
int cl_fx_port;
double *cl_fx_oracle;      /* keyframe times of the fixture, seconds from its first frame */
size_t cl_fx_n_oracle;

cl_fx_user_t cl_fx_users[CL_FX_N_USERS] = {
    {"Nguyễn Thị Minh Khai", "investigator", "BT", ""},
    {"Trần Văn Bảy", "investigator", "BT", ""},
    {"Phạm Thu Hà", "investigator", "HK", ""},
    {"Lê Quang Huy", "admin", "BT", ""},
    {"Đỗ Mạnh Hùng", "admin", "HK", ""},
    {"Vũ Thị Kiểm Toán", "auditor", NULL, ""},
};
/* Audit entries the API calls so far must have written. */
int cl_fx_audit_n;

cl_fx_tally_t cl_fx_tallies[128];
size_t cl_fx_n_tallies;

/* Case number to station, for the tally. */
typedef struct case_station {
    char number[80], station[8];
} case_station_t;
static case_station_t case_stations[64];
static size_t n_case_stations;

void cl_fx_note_case(const char *number, const char *station)
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

cl_fx_answer_t cl_fx_send_to(int to_port, const char *method, const char *path, const char *token,
                        const char *headers, const char *body, size_t len)
{
    cl_http_resp_t r;
    int err = cl_http(to_port, method, path, token, headers, body, len, &r);
    if (err)
        fail_msg("%s %s: %s", method, path, strerror(-err));
    cl_fx_answer_t a = {0};
    a.status = r.status;
    a.ctype = cl_fx_keep(cl_http_header(&r, "content-type"));
    a.body = cl_fx_keep(r.body);
    a.len = r.body_len;
    r.body = NULL;
    cl_http_resp_free(&r);
    if (a.ctype && strncmp(a.ctype, "application/json", 16) == 0)
        a.json = cl_fx_keepj(json_loadb(a.body, a.len, 0, NULL));
    return a;
}

/* Every error is {"error": {"code": ..., "message": ...}} (an import's also
 * carries "lines"). */
void cl_fx_check_error_shape(const cl_fx_answer_t *a, const char *what)
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
cl_fx_answer_t cl_fx_ask(const char *method, const char *path, const char *token, const char *headers,
                    const char *body, size_t len)
{
    cl_fx_answer_t a = cl_fx_send_to(cl_fx_port, method, path, token, headers, body, len);
    if (a.status >= 500 || a.status < 200)
        fail_msg("%s %s: status %d: %.500s", method, path, a.status, a.body);
    if (a.status >= 400)
        cl_fx_check_error_shape(&a, cl_fx_fmt("%s %s", method, path));
    return a;
}

/* A JSON request (body may be NULL) answered with status want; returns the
 * parsed body. */
json_t *cl_fx_api(int want, const char *method, const char *path, const char *token, const char *body)
{
    cl_fx_answer_t a = cl_fx_ask(method, path, token, body ? "Content-Type: application/json\r\n" : NULL, body,
                     body ? strlen(body) : 0);
    if (a.status != want)
        fail_msg("%s %s: expected %d, got %d: %.800s", method, path, want, a.status, a.body);
    if (!a.ctype || strcmp(a.ctype, JSON_CT) != 0 || !a.json)
        fail_msg("%s %s: not a JSON answer (%s)", method, path, a.ctype ? a.ctype : "none");
    return a.json;
}

/* A request refused with status want and error code; returns the error. */
json_t *cl_fx_api_err(int want, const char *code, const char *method, const char *path,
                       const char *token, const char *body)
{
    json_t *j = cl_fx_api(want, method, path, token, body);
    json_t *e = json_object_get(j, "error");
    if (strcmp(json_string_value(json_object_get(e, "code")), code) != 0)
        fail_msg("%s %s: expected error %s, got %s", method, path, code,
                 json_string_value(json_object_get(e, "code")));
    return e;
}

/* ------------------------------------------------------------ JSON checks */

json_t *cl_fx_field(json_t *o, const char *key)
{
    if (!json_is_object(o))
        fail_msg("looking up %s in a non-object", key);
    json_t *v = json_object_get(o, key);
    if (!v)
        fail_msg("no field %s in %s", key, cl_fx_dump(json_incref(o)));
    return v;
}

const char *cl_fx_str(json_t *o, const char *key)
{
    json_t *v = cl_fx_field(o, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string in %s", key, cl_fx_dump(json_incref(o)));
    return json_string_value(v);
}

long long cl_fx_num_i(json_t *o, const char *key)
{
    json_t *v = cl_fx_field(o, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer in %s", key, cl_fx_dump(json_incref(o)));
    return json_integer_value(v);
}

double cl_fx_num(json_t *o, const char *key)
{
    json_t *v = cl_fx_field(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number in %s", key, cl_fx_dump(json_incref(o)));
    return json_number_value(v);
}

/* The object has exactly these keys (comma-separated). */
void cl_fx_expect_keys(json_t *o, const char *keys)
{
    size_t n = 0;
    char *copy = cl_fx_fmt("%s", keys), *save = NULL;
    for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        if (!json_object_get(o, k))
            fail_msg("missing key %s in %s", k, cl_fx_dump(json_incref(o)));
        n++;
    }
    if (json_object_size(o) != n)
        fail_msg("expected exactly the keys %s in %s", keys, cl_fx_dump(json_incref(o)));
}

/* RFC 3339 UTC with milliseconds: 2025-11-21T14:40:00.000Z. */
void cl_fx_expect_time_format(const char *t)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    int ok = strlen(t) == sizeof(pat) - 1;
    for (size_t i = 0; ok && i < sizeof(pat) - 1; i++)
        ok = pat[i] == 'd' ? (t[i] >= '0' && t[i] <= '9') : t[i] == pat[i];
    if (!ok)
        fail_msg("not an RFC 3339 UTC time with milliseconds: %s", t);
}

/* The UTC text of BASE_EPOCH + ms. */
char *cl_fx_at_ms(long long ms)
{
    time_t t = (time_t)(BASE_EPOCH + ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return cl_fx_fmt("%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

/* A timestamp column of one row, as the API writes it. */
char *cl_fx_db_time(const char *sql, const char *param)
{
    char *v = cl_t_query1(cl_fx_conn, sql, param, NULL);
    assert_non_null(v);
    return cl_fx_keep(v);
}

/* ------------------------------------------------------------ group set-up */

void cl_fx_run_ok(const char *what, int rc)
{
    if (rc != 0)
        fail_msg("%s exited %d", what, rc);
}

/* The last non-empty line of text, in place. */
char *cl_fx_last_line(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

char *cl_fx_add_user(const char *db, const cl_fx_user_t *u, char *token, size_t len)
{
    char *out;
    int rc = cl_t_sh_capture(&out, "'%s' --db '%s' user add --name '%s' --role %s %s%s",
                             cl_t_prog("CL_ADMIN"), db, u->name, u->role,
                             u->station ? "--station " : "", u->station ? u->station : "");
    if (rc != 0)
        fail_msg("user add %s exited %d", u->name, rc);
    const char *t = cl_fx_last_line(out);
    assert_int_equal(strlen(t), 64);
    snprintf(token, len, "%s", t);
    free(out);
    return token;
}

static void place_file(const char *root, const char *camera, const char *hms, const char *src)
{
    char *dst = cl_fx_fmt("%s/%s/2025-11-21/%s.mp4", root, camera, hms);
    cl_t_mkparents(dst);
    cl_fx_run_ok("cp", cl_t_sh("cp '%s' '%s'", src, dst));
}

static void run_indexer(const char *root)
{
    char *out;
    int rc = cl_t_sh_capture(&out, "'%s' --db '%s' --root '%s' --layout '%s' --tz " TZ
                             " --once --stable-secs 0 2>&1", cl_t_prog("CL_INDEXER"), cl_fx_conninfo, root, LAYOUT);
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
void cl_fx_check_sanitizer_log(const char *file)
{
    char *report = sanitizer_report(file);
    if (report)
        fail_msg("the server's stderr holds a sanitizer report:\n%s", cl_fx_keep(report));
}

static void make_recordings(void);

int cl_fx_setup(const char *db, int with_recordings)
{
    db_name = db;
    cl_fx_tmp = cl_t_mkdtemp("http");
    server_err = cl_fx_fmt("%s/server.err", cl_fx_tmp);
    cl_fx_conninfo = cl_fx_fmt("%s", cl_t_db_create(db, &cl_fx_conn));
    const char *admin = cl_t_prog("CL_ADMIN");
    cl_fx_run_ok("station add", cl_t_sh("'%s' --db '%s' station add --code BT --name 'Công an phường Bến Thành' >/dev/null",
                                  admin, cl_fx_conninfo));
    cl_fx_run_ok("station add", cl_t_sh("'%s' --db '%s' station add --code HK --name 'Công an phường Hàng Trống' >/dev/null",
                                  admin, cl_fx_conninfo));
    for (size_t i = 0; i < sizeof(cl_fx_users) / sizeof(cl_fx_users[0]); i++)
        cl_fx_add_user(cl_fx_conninfo, &cl_fx_users[i], cl_fx_users[i].token, sizeof(cl_fx_users[i].token));
    if (with_recordings)
        make_recordings();
    server = cl_t_server_start(cl_fx_conninfo, cl_fx_fmt("--threads 2 2>>'%s'", server_err), &cl_fx_port);
    return 0;
}

static void make_recordings(void)
{
    /* Camera BT-001: 21:40 and 21:41 (deleted below), nothing at 21:42,
     * 21:43, and at 21:44 a text file named .mp4 written until 21:45. BT-NEW
     * is found by the indexer before anyone registered it. */
    char *src = cl_fx_fmt("%s/src.mp4", cl_fx_tmp), *root = cl_fx_fmt("%s/root", cl_fx_tmp);
    cl_fx_run_ok("ffmpeg", cl_t_sh("ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -t 60 "
                             "-c:v libx264 -preset ultrafast -bf 0 -g 50 -sc_threshold 0 -y '%s'", src));
    double first;
    cl_fx_n_oracle = cl_t_oracle_keyframes(src, &cl_fx_oracle, &first);
    assert_int_equal(cl_fx_n_oracle, 30);
    for (size_t i = 0; i < cl_fx_n_oracle; i++)
        cl_fx_oracle[i] -= first;
    place_file(root, "BT-001", "21-40-00", src);
    place_file(root, "BT-001", "21-41-00", src);
    place_file(root, "BT-001", "21-43-00", src);
    place_file(root, "BT-NEW", "21-40-00", src);
    char *bad = cl_fx_fmt("%s/BT-001/2025-11-21/21-44-00.mp4", root);
    cl_fx_run_ok("corrupt file", cl_t_sh("echo 'not a video' > '%s' && touch -d @%lld '%s'", bad,
                                   BASE_EPOCH + 300, bad));
    run_indexer(root);
    cl_fx_run_ok("rm", cl_t_sh("rm '%s/BT-001/2025-11-21/21-41-00.mp4'", root));
    run_indexer(root);
    char *st = cl_t_query1(cl_fx_conn, "SELECT string_agg(status, ',' ORDER BY start_time) FROM recordings r "
                                 "JOIN cameras c ON c.id = r.camera_id WHERE c.code = $1", "BT-001", NULL);
    assert_string_equal(st, "ok,deleted,ok,not_video");
    free(st);
}

int cl_fx_teardown(void)
{
    int rc = server > 0 ? cl_t_server_stop(server) : 0;
    server = 0;
    char *report = sanitizer_report(server_err);
    cl_t_db_drop(db_name, cl_fx_conn);
    cl_t_rmtree(cl_fx_tmp);
    free(cl_fx_tmp);
    free(cl_fx_oracle);
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

const char *const cl_fx_camera_keys =
    "code,name,station,owner_kind,owner_name,owner_phone,lat,lon,address,retention_days,timezone,"
    "registered,created_at,updated_at";

json_t *cl_fx_open_case(const char *token, const char *number, const char *title, const char *station,
                         const char *expect_station)
{
    json_t *body = json_pack("{s:s,s:s}", "number", number, "title", title);
    if (station)
        json_object_set_new(body, "station", json_string(station));
    json_t *k = cl_fx_api(201, "POST", "/v1/cases", token, cl_fx_dump(body));
    expect_str(k, "station", expect_station);
    cl_fx_note_case(number, expect_station);
    cl_fx_audit_n++;
    return k;
}

/* With the outcome of the cut (sql/0004_extractions.sql): all null until an
 * indexer fulfils the request, and when the footage will be overwritten. */
const char *const cl_fx_request_keys =
    "id,case,camera,from,to,reason,status,requester,created_at,updated_at,decided_by,decided_at,"
    "decision_reason,overwrite_at,fulfilled_at,coverage,clip,manifest_sha256,error";

void cl_fx_expect_not_cut(json_t *r)
{
    expect_null(r, "fulfilled_at");
    expect_null(r, "coverage");
    expect_null(r, "clip");
    expect_null(r, "manifest_sha256");
    expect_null(r, "error");
}

/* Asks for footage; records the request in the tally. */
json_t *cl_fx_ask_footage(const char *token, const char *number, const char *camera,
                           const char *from, const char *to, double secs, const char *reason,
                           const char *key)
{
    char *body = cl_fx_dump(json_pack("{s:s,s:s,s:s,s:s,s:s}", "case", number, "camera", camera, "from", from,
                             "to", to, "reason", reason));
    cl_fx_answer_t a = cl_fx_ask("POST", "/v1/requests", token,
                     key ? cl_fx_fmt("Content-Type: application/json\r\nIdempotency-Key: %s\r\n", key)
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
    cl_fx_tally_t *t = &cl_fx_tallies[cl_fx_n_tallies++];
    memset(t, 0, sizeof(*t));
    t->id = cl_fx_num_i(r, "id");
    snprintf(t->case_number, sizeof(t->case_number), "%s", number);
    snprintf(t->station, sizeof(t->station), "%s", station_of_case(number));
    snprintf(t->camera, sizeof(t->camera), "%s", camera);
    snprintf(t->month, sizeof(t->month), "%.7s", cl_fx_str(r, "created_at"));
    t->secs = secs;
    cl_fx_audit_n++;
    return r;
}

cl_fx_tally_t *cl_fx_tally_of(long long id)
{
    for (size_t i = 0; i < cl_fx_n_tallies; i++)
        if (cl_fx_tallies[i].id == id)
            return &cl_fx_tallies[i];
    fail_msg("request %lld is not in the tally", id);
    return NULL;
}

/* approve, reject or cancel: 200 and the new status, or an error. */
json_t *cl_fx_act(const char *token, long long id, const char *action, const char *reason, int want,
                   const char *code)
{
    const char *body = reason ? cl_fx_dump(json_pack("{s:s}", "reason", reason)) : NULL;
    const char *path = cl_fx_fmt("/v1/requests/%lld/%s", id, action);
    if (want != 200)
        return cl_fx_api_err(want, code, "POST", path, token, body);
    json_t *r = cl_fx_api(200, "POST", path, token, body);
    cl_fx_expect_keys(r, cl_fx_request_keys);
    expect_int(r, "id", id);
    const char *st = strcmp(action, "approve") == 0 ? "approved"
                   : strcmp(action, "reject") == 0 ? "rejected" : "cancelled";
    expect_str(r, "status", st);
    cl_fx_tally_t *t = cl_fx_tally_of(id);
    t->approved |= strcmp(action, "approve") == 0;
    t->rejected |= strcmp(action, "reject") == 0;
    cl_fx_audit_n++;
    return r;
}

void cl_fx_expect_spans(json_t *arr, const char *kind_key, const cl_fx_span_t *want, size_t n)
{
    if (json_array_size(arr) != n)
        fail_msg("expected %zu spans, got %s", n, cl_fx_dump(json_incref(arr)));
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        cl_fx_expect_keys(s, cl_fx_fmt("start,end,%s", kind_key));
        expect_str(s, "start", cl_fx_at_ms(want[i].start_ms));
        expect_str(s, "end", cl_fx_at_ms(want[i].end_ms));
        expect_str(s, kind_key, want[i].kind);
    }
}

/* The value on the line starting with line_start, or -1. */
long long cl_fx_metric(const char *text, const char *line_start)
{
    size_t n = strlen(line_start);
    for (const char *p = text; p; p = strchr(p, '\n')) {
        p += *p == '\n';
        if (strncmp(p, line_start, n) == 0)
            return atoll(p + n);
    }
    return -1;
}
