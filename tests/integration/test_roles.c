/* The role table of docs/api.md against a real server. The table is read
 * from the document, one row per route, and must list exactly the routes of
 * cl_routes; then every route is asked by every kind of caller (no token, an
 * unknown token, the investigator who made the request, another investigator
 * of the same station, the admin of that station, the admin of another
 * station, an auditor) and must answer what the row's cell says. So the
 * document and the server cannot drift apart unnoticed.
 *
 * The fixture is real: recordings made by the ffmpeg CLI and indexed by
 * camledger-indexer, a request cut by camledger-indexer --exports (so the
 * clip and manifest routes answer 200 where allowed), and a fresh pending
 * request per state change and caller (so "allowed" yields the route's
 * success status, never a 409 left by an earlier caller). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http_client.h"
#include "server.h"
#include "testlib.h"

#define DB "cl_itest_roles"
#define LAYOUT "{camera}/%Y-%m-%d/%H-%M-%S"
#define TZ "Asia/Ho_Chi_Minh"
#define DAY "2026-11-21"

/* The fixture: station HK holds the camera, the case and the requests;
 * station BD is the other station. */
#define STATION "HK"
#define OTHER_STATION "BD"
#define CAMERA "HK-001"
#define CASE_HK "HS-2026-017"
#define CASE_BD "HS-2026-018"
/* 21:40:00 to 21:41:00 local; '+' is written %2B in a query. */
#define WINDOW "from=" DAY "T21:40:00%2B07:00&to=" DAY "T21:41:00%2B07:00"

/* The server library reads these for /metrics; main.c defines them in the
 * real server. Weak, so a definition moved into the library wins. */
__attribute__((weak)) cl_worker_t *cl_workers;
__attribute__((weak)) int cl_workers_count;

/* ------------------------------------------------------------ the table */

enum { COL_INV, COL_ADM, COL_AUD, COL_NONE, N_COLS };
enum { CELL_YES, CELL_401, CELL_403, CELL_REQUESTER, CELL_STATION };

static const char *const col_names[N_COLS] = {"investigator", "admin", "auditor", "no token"};

typedef struct doc_row {
    int line;
    char method[8];
    char path[160];     /* as written: /v1/cameras/{code} */
    char tmpl[160];     /* as in cl_routes: /v1/cameras/{} */
    int cell[N_COLS];
} doc_row_t;

#define MAX_ROWS 64
static doc_row_t rows[MAX_ROWS];
static size_t n_rows;

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* "{code}" -> "{}" for the path parameters the API uses; any other name is
 * a typo in the document. */
static void normalise(const doc_row_t *row, char *out, size_t outlen)
{
    static const char *const names[] = {"code", "number", "id"};
    size_t o = 0;
    for (const char *p = row->path; *p; p++) {
        if (o + 3 >= outlen)
            fail_msg("docs/api.md:%d: path too long", row->line);
        if (*p != '{') {
            out[o++] = *p;
            continue;
        }
        const char *close = strchr(p, '}');
        size_t n = close ? (size_t)(close - p - 1) : 0;
        int known = 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            known |= n == strlen(names[i]) && strncmp(p + 1, names[i], n) == 0;
        if (!known)
            fail_msg("docs/api.md:%d: %s: unknown path parameter", row->line, row->path);
        out[o++] = '{';
        out[o++] = '}';
        p = close;
    }
    out[o] = '\0';
}

/* The route cell: "`METHOD /path`". */
static void parse_route(doc_row_t *row, const char *cell)
{
    size_t n = strlen(cell);
    const char *sp = strchr(cell, ' ');
    if (n < 4 || cell[0] != '`' || cell[n - 1] != '`' || !sp || sp[1] != '/')
        fail_msg("docs/api.md:%d: the route cell is not `METHOD /path`: %s", row->line, cell);
    size_t mlen = (size_t)(sp - cell - 1);
    if (mlen == 0 || mlen >= sizeof(row->method) ||
        strspn(cell + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != mlen)
        fail_msg("docs/api.md:%d: not a method: %s", row->line, cell);
    memcpy(row->method, cell + 1, mlen);
    row->method[mlen] = '\0';
    size_t plen = (size_t)(cell + n - 1 - (sp + 1));
    if (plen >= sizeof(row->path) || memchr(sp + 1, ' ', plen) || memchr(sp + 1, '`', plen))
        fail_msg("docs/api.md:%d: not one path: %s", row->line, cell);
    memcpy(row->path, sp + 1, plen);
    row->path[plen] = '\0';
    normalise(row, row->tmpl, sizeof(row->tmpl));
}

/* A cell's word; requester and station only make sense in the column of the
 * role they narrow. */
static int parse_cell(const doc_row_t *row, int col, const char *word)
{
    if (strcmp(word, "yes") == 0)
        return CELL_YES;
    if (strcmp(word, "401") == 0)
        return CELL_401;
    if (strcmp(word, "403") == 0)
        return CELL_403;
    if (strcmp(word, "requester") == 0 && col == COL_INV)
        return CELL_REQUESTER;
    if (strcmp(word, "station") == 0 && col == COL_ADM)
        return CELL_STATION;
    fail_msg("docs/api.md:%d: %s %s: unknown cell '%s' in column %s", row->line, row->method,
             row->path, word, col_names[col]);
    return -1;
}

/* One table line: "| `GET /x` | yes | 403 | yes | 401 |". */
static void parse_row(char *line, int lineno)
{
    if (n_rows == MAX_ROWS)
        fail_msg("docs/api.md:%d: more than %d rows", lineno, MAX_ROWS);
    doc_row_t *row = &rows[n_rows++];
    memset(row, 0, sizeof(*row));
    row->line = lineno;
    size_t len = strlen(line);
    if (len < 2 || line[len - 1] != '|')
        fail_msg("docs/api.md:%d: a row must end with '|'", lineno);
    line[len - 1] = '\0';
    char *cells[N_COLS + 1];
    int n = 0;
    for (char *c = line + 1; c; n++) {
        if (n == N_COLS + 1)
            fail_msg("docs/api.md:%d: more than %d cells", lineno, N_COLS + 1);
        char *bar = strchr(c, '|');
        if (bar)
            *bar = '\0';
        cells[n] = trim(c);
        c = bar ? bar + 1 : NULL;
    }
    if (n != N_COLS + 1)
        fail_msg("docs/api.md:%d: %d cells, want %d", lineno, n, N_COLS + 1);
    parse_route(row, cells[0]);
    for (int col = 0; col < N_COLS; col++)
        row->cell[col] = parse_cell(row, col, cells[col + 1]);
}

static const doc_row_t *row_for(const char *method, const char *tmpl)
{
    for (size_t i = 0; i < n_rows; i++)
        if (strcmp(rows[i].method, method) == 0 && strcmp(rows[i].tmpl, tmpl) == 0)
            return &rows[i];
    return NULL;
}

/* The rows must be exactly the route table: each row a route of cl_routes,
 * each route in one row. */
static void check_rows_are_routes(void)
{
    for (size_t i = 0; i < n_rows; i++) {
        size_t routes = 0, same = 0;
        for (size_t k = 0; k < cl_routes_count; k++)
            routes += strcmp(cl_routes[k].method, rows[i].method) == 0 &&
                      strcmp(cl_routes[k].pattern, rows[i].tmpl) == 0;
        for (size_t k = 0; k < n_rows; k++)
            same += strcmp(rows[k].method, rows[i].method) == 0 &&
                    strcmp(rows[k].tmpl, rows[i].tmpl) == 0;
        if (routes != 1)
            fail_msg("docs/api.md:%d: %s %s is not a route of the server", rows[i].line,
                     rows[i].method, rows[i].path);
        if (same != 1)
            fail_msg("docs/api.md:%d: %s %s has %zu rows", rows[i].line, rows[i].method,
                     rows[i].path, same);
    }
    for (size_t k = 0; k < cl_routes_count; k++)
        if (!row_for(cl_routes[k].method, cl_routes[k].pattern))
            fail_msg("route %s %s (%s) has no row in the role table of docs/api.md",
                     cl_routes[k].method, cl_routes[k].pattern, cl_routes[k].name);
    assert_int_equal(n_rows, cl_routes_count);
}

/* Reads the table under "## Authentication and roles" once: the header
 * line, the separator, then the rows up to the first line that is not one. */
static void load_table(void)
{
    static int loaded;
    if (loaded)
        return;
    const char *root = getenv("CL_SOURCE_ROOT");
    if (!root || !*root)
        fail_msg("CL_SOURCE_ROOT is not set: run the tests through meson test");
    char path[4096];
    snprintf(path, sizeof(path), "%s/docs/api.md", root);
    size_t len;
    char *text = (char *)cl_t_read_file(path, &len);
    text[len] = '\0';
    n_rows = 0;   /* a failed earlier read may have left some */
    enum { BEFORE, HEADER, ROWS, DONE } state = BEFORE;
    int in_section = 0, lineno = 0;
    for (char *l = text; l && state != DONE; ) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        char *t = trim(l);
        l = nl ? nl + 1 : NULL;
        if (strncmp(t, "## ", 3) == 0) {
            in_section = strcmp(t, "## Authentication and roles") == 0;
            continue;
        }
        if (!in_section)
            continue;
        if (state == BEFORE && strncmp(t, "| route |", 9) == 0) {
            if (strcmp(t, "| route | investigator | admin | auditor | no token |") != 0)
                fail_msg("docs/api.md:%d: the columns are not route, investigator, admin, "
                         "auditor, no token: %s", lineno, t);
            state = HEADER;
        } else if (state == HEADER) {
            if (strncmp(t, "|---", 4) != 0)
                fail_msg("docs/api.md:%d: no separator line under the header", lineno);
            state = ROWS;
        } else if (state == ROWS) {
            if (t[0] == '|')
                parse_row(t, lineno);
            else
                state = DONE;
        }
    }
    free(text);
    if (n_rows == 0)
        fail_msg("docs/api.md: no role table under \"## Authentication and roles\"");
    check_rows_are_routes();
    loaded = 1;
}

static void test_roles_table_lists_every_route_once(void **state)
{
    (void)state;
    load_table();
}

/* ------------------------------------------------------------ the callers */

enum { C_NONE, C_BAD, C_INV1, C_INV2, C_ADM_A, C_ADM_B, C_AUD, N_CALLERS };

typedef struct caller {
    const char *tag;        /* in messages, and in the names the caller makes */
    int col;                /* the table's column for the caller */
    const char *station;    /* the caller's station; NULL: none */
    int requester;          /* made the requests the {id} targets name */
    const char *home_case;  /* a case of the caller's own station */
    char *token;            /* NULL: no Authorization header */
} caller_t;

/* Well-formed (64 hex digits) but issued to nobody. */
static char bad_token[] = "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592";

static caller_t callers[N_CALLERS] = {
    [C_NONE] = {"none", COL_NONE, NULL, 0, CASE_HK, NULL},
    [C_BAD] = {"bad-token", COL_NONE, NULL, 0, CASE_HK, bad_token},
    [C_INV1] = {"inv1", COL_INV, STATION, 1, CASE_HK, NULL},
    [C_INV2] = {"inv2", COL_INV, STATION, 0, CASE_HK, NULL},
    [C_ADM_A] = {"admin-hk", COL_ADM, STATION, 0, CASE_HK, NULL},
    [C_ADM_B] = {"admin-bd", COL_ADM, OTHER_STATION, 0, CASE_BD, NULL},
    [C_AUD] = {"auditor", COL_AUD, NULL, 0, CASE_HK, NULL},
};

/* ------------------------------------------------------------ the targets */

/* Which request {id} names: the cut one, or, for each state change, a
 * pending one kept for this caller alone (all made by investigator 1). */
enum { ID_NONE, ID_CUT, ID_APPROVE, ID_REJECT, ID_CANCEL, N_POOLS };

/* What each route is asked, per caller. In path and body, {camera}, {case}
 * (the caller's home case), {id}, {tag} and {station} (the caller's own, or
 * HK) are replaced. */
typedef struct target {
    const char *method, *tmpl;  /* the route, as in cl_routes */
    const char *path, *ctype, *body;
    int pool;
    int ok;                     /* the route's success status */
    const char *refusal;        /* error code of a requester or station cell's 403 */
} target_t;

#define JSON "application/json"
#define CSV "text/csv"
#define REQ_BODY "{\"case\":\"" CASE_HK "\",\"camera\":\"" CAMERA "\"," \
                 "\"from\":\"" DAY "T21:40:00+07:00\",\"to\":\"" DAY "T21:40:20+07:00\"," \
                 "\"reason\":\"Phân quyền {tag}\"}"

static const target_t targets[] = {
    {"GET", "/healthz", "/healthz", NULL, NULL, ID_NONE, 200, NULL},
    {"GET", "/metrics", "/metrics", NULL, NULL, ID_NONE, 200, NULL},
    {"POST", "/v1/cameras", "/v1/cameras", JSON,
     "{\"code\":\"RL-{tag}\",\"name\":\"Cổng trường {tag}\",\"station\":\"" STATION "\","
     "\"owner_kind\":\"agency\"}", ID_NONE, 201, "other_station"},
    {"GET", "/v1/cameras", "/v1/cameras", NULL, NULL, ID_NONE, 200, NULL},
    {"POST", "/v1/cameras/import", "/v1/cameras/import", CSV,
     "code,name,station,owner_kind\r\nRL-CSV-{tag},Cửa hàng {tag},{station},business\r\n",
     ID_NONE, 201, NULL},
    {"GET", "/v1/cameras/{}", "/v1/cameras/{camera}", NULL, NULL, ID_NONE, 200, NULL},
    {"PATCH", "/v1/cameras/{}", "/v1/cameras/{camera}", JSON,
     "{\"address\":\"Hàng Bài, Hoàn Kiếm ({tag})\"}", ID_NONE, 200, "other_station"},
    {"GET", "/v1/cameras/{}/footage", "/v1/cameras/{camera}/footage?" WINDOW, NULL, NULL,
     ID_NONE, 200, NULL},
    {"GET", "/v1/cameras/{}/keyframes", "/v1/cameras/{camera}/keyframes?" WINDOW, NULL, NULL,
     ID_NONE, 200, NULL},
    {"POST", "/v1/cases", "/v1/cases", JSON,
     "{\"number\":\"RL-{tag}\",\"title\":\"Vụ thử phân quyền {tag}\"}", ID_NONE, 201, NULL},
    {"GET", "/v1/cases", "/v1/cases", NULL, NULL, ID_NONE, 200, NULL},
    {"GET", "/v1/cases/{}", "/v1/cases/{case}", NULL, NULL, ID_NONE, 200, NULL},
    {"PATCH", "/v1/cases/{}", "/v1/cases/{case}", JSON, "{\"title\":\"Trộm xe máy ({tag})\"}",
     ID_NONE, 200, NULL},
    {"POST", "/v1/requests", "/v1/requests", JSON, REQ_BODY, ID_NONE, 201, NULL},
    {"GET", "/v1/requests", "/v1/requests", NULL, NULL, ID_NONE, 200, NULL},
    {"GET", "/v1/requests/{}", "/v1/requests/{id}", NULL, NULL, ID_CUT, 200, NULL},
    {"POST", "/v1/requests/{}/approve", "/v1/requests/{id}/approve", NULL, NULL, ID_APPROVE,
     200, "other_station"},
    {"POST", "/v1/requests/{}/reject", "/v1/requests/{id}/reject", JSON,
     "{\"reason\":\"Không đủ căn cứ ({tag})\"}", ID_REJECT, 200, "other_station"},
    {"POST", "/v1/requests/{}/cancel", "/v1/requests/{id}/cancel", NULL, NULL, ID_CANCEL, 200,
     "not_requester"},
    {"GET", "/v1/requests/{}/clip", "/v1/requests/{id}/clip", NULL, NULL, ID_CUT, 200,
     "forbidden"},
    {"GET", "/v1/requests/{}/manifest", "/v1/requests/{id}/manifest", NULL, NULL, ID_CUT, 200,
     "forbidden"},
    {"GET", "/v1/audit/log", "/v1/audit/log", NULL, NULL, ID_NONE, 200, NULL},
    {"GET", "/v1/audit/verify", "/v1/audit/verify", NULL, NULL, ID_NONE, 200, NULL},
    {"GET", "/v1/audit/extractions", "/v1/audit/extractions?group_by=station", NULL, NULL,
     ID_NONE, 200, NULL},
};
#define N_TARGETS (sizeof(targets) / sizeof(targets[0]))

static const target_t *target_for(const char *method, const char *tmpl)
{
    for (size_t i = 0; i < N_TARGETS; i++)
        if (strcmp(targets[i].method, method) == 0 && strcmp(targets[i].tmpl, tmpl) == 0)
            return &targets[i];
    fail_msg("route %s %s: the test has no target for it", method, tmpl);
    return NULL;
}

/* ------------------------------------------------------------ the fixture */

static PGconn *conn;
static const char *conninfo;
static char *work, *root, *exports;
static pid_t server;
static int port;
static long long pools[N_POOLS][N_CALLERS];

static json_t *api(int want, const char *method, const char *path, const char *token, const char *body)
{
    return cl_http_json(port, want, method, path, token, body);
}

static int index_root(const char *extra, char **out)
{
    return cl_t_index_once(out, conninfo, root, LAYOUT, TZ, extra);
}

/* Two short, small recordings back to back: enough for footage, keyframes
 * and a clip, quick to make and to cut. */
static void record(void)
{
    const char *enc = "-f lavfi -i testsrc2=size=320x240:rate=25 -c:v libx264 -preset ultrafast "
                      "-bf 0 -g 25";
    if (cl_t_sh("set -e; d='%s/" CAMERA "/" DAY "'; mkdir -p \"$d\" && cd \"$d\" && "
                "ffmpeg -nostdin -v error %s -t 10 -y 21-40-00.mp4 && "
                "ffmpeg -nostdin -v error %s -t 10 -y 21-40-10.mp4", root, enc, enc) != 0)
        fail_msg("ffmpeg could not make the recordings");
    char *out;
    if (index_root(NULL, &out) != 0)
        fail_msg("camledger-indexer --once failed: %s", out);
    free(out);
}

static void add_station(const char *code, const char *name)
{
    if (cl_t_sh("'%s' --db '%s' station add --code %s --name '%s' >/dev/null",
                cl_t_prog("CL_ADMIN"), conninfo, code, name) != 0)
        fail_msg("camledger-admin station add %s failed", code);
}

/* A pending request by investigator 1 for the fixture's case. */
static long long make_request(const char *tag)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"case\":\"" CASE_HK "\",\"camera\":\"" CAMERA "\","
             "\"from\":\"" DAY "T21:40:02+07:00\",\"to\":\"" DAY "T21:40:08+07:00\","
             "\"reason\":\"Xác định nghi phạm (%s)\"}", tag);
    json_t *j = api(201, "POST", "/v1/requests", callers[C_INV1].token, body);
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    assert_true(id > 0);
    return id;
}

/* Investigator 1's request, approved by the station's admin and cut by the
 * indexer: what the clip and manifest routes serve. */
static void cut_request(void)
{
    long long id = make_request("cut");
    char path[64];
    snprintf(path, sizeof(path), "/v1/requests/%lld/approve", id);
    json_decref(api(200, "POST", path, callers[C_ADM_A].token, NULL));
    char *out, extra[4200];
    snprintf(extra, sizeof(extra), "--exports '%s'", exports);
    if (index_root(extra, &out) != 0 || !strstr(out, "fulfil: fulfilled=1 "))
        fail_msg("camledger-indexer --exports did not cut the request: %s", out);
    free(out);
    for (int k = 0; k < N_CALLERS; k++)
        pools[ID_CUT][k] = id;
}

static int setup(void **state)
{
    (void)state;
    conninfo = cl_t_db_create(DB, &conn);
    work = cl_t_mkdtemp("roles");
    if (asprintf(&root, "%s/rec", work) < 0 || asprintf(&exports, "%s/exports", work) < 0)
        return -1;
    record();
    add_station(STATION, "Công an phường Hàng Trống");
    add_station(OTHER_STATION, "Công an phường Điện Biên");
    callers[C_INV1].token = cl_t_user_token(conninfo, "Nguyễn Thị Lan", "investigator", STATION);
    callers[C_INV2].token = cl_t_user_token(conninfo, "Phạm Quốc Huy", "investigator", STATION);
    callers[C_ADM_A].token = cl_t_user_token(conninfo, "Trần Văn Bình", "admin", STATION);
    callers[C_ADM_B].token = cl_t_user_token(conninfo, "Đỗ Thu Hà", "admin",
                                             OTHER_STATION);
    callers[C_AUD].token = cl_t_user_token(conninfo, "Lê Minh Đức", "auditor", NULL);
    server = cl_t_server_start(conninfo, "--threads 2", &port);

    json_decref(api(201, "POST", "/v1/cameras", callers[C_ADM_A].token,
        "{\"code\":\"" CAMERA "\",\"name\":\"Ngã tư Hàng Bài - Tràng Tiền\",\"station\":\""
        STATION "\",\"owner_kind\":\"police\",\"retention_days\":30}"));
    json_decref(api(201, "POST", "/v1/cases", callers[C_INV1].token,
        "{\"number\":\"" CASE_HK "\",\"title\":\"Cướp giật điện thoại\"}"));
    json_decref(api(201, "POST", "/v1/cases", callers[C_ADM_B].token,
        "{\"number\":\"" CASE_BD "\",\"title\":\"Trộm xe đạp\"}"));
    cut_request();
    for (int p = ID_APPROVE; p < N_POOLS; p++)
        for (int k = 0; k < N_CALLERS; k++)
            pools[p][k] = make_request(callers[k].tag);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = server > 0 ? cl_t_server_stop(server) : 0;
    if (conn)
        cl_t_db_drop(DB, conn);
    cl_t_rmtree(work);
    for (int k = 0; k < N_CALLERS; k++)
        if (callers[k].token != bad_token)
            free(callers[k].token);
    free(root);
    free(exports);
    free(work);
    return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ the walk */

static int is_name(const char *s, size_t n, const char *name)
{
    return n == strlen(name) && strncmp(s, name, n) == 0;
}

/* tmpl with its {name} placeholders filled for caller k (malloc'ed). */
static char *expand(const char *tmpl, int k, const target_t *t)
{
    const caller_t *c = &callers[k];
    size_t cap = strlen(tmpl) + 256, o = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (const char *p = tmpl; *p; p++) {
        size_t n = *p == '{' ? strspn(p + 1, "abcdefghijklmnopqrstuvwxyz") : 0;
        if (n == 0 || p[n + 1] != '}') {
            /* Not a placeholder: a JSON object's brace, or plain text. */
            out[o++] = *p;
            continue;
        }
        char id[24];
        snprintf(id, sizeof(id), "%lld", pools[t->pool][k]);
        const char *v = is_name(p + 1, n, "camera") ? CAMERA
                      : is_name(p + 1, n, "case") ? c->home_case
                      : is_name(p + 1, n, "station") ? (c->station ? c->station : STATION)
                      : is_name(p + 1, n, "tag") ? c->tag
                      : is_name(p + 1, n, "id") && t->pool != ID_NONE ? id : NULL;
        if (!v)
            fail_msg("%s %s: no value for {%.*s}", t->method, t->tmpl, (int)n, p + 1);
        o += (size_t)snprintf(out + o, cap - o, "%s", v);
        if (o >= cap)
            fail_msg("%s %s: {%.*s} is too long", t->method, t->tmpl, (int)n, p + 1);
        p += n + 1;
    }
    out[o] = '\0';
    return out;
}

typedef struct expect {
    int status;
    const char *code;    /* error.code of a refusal */
} expect_t;

/* What the table's cell says caller k gets, the doc's station rule applied. */
static expect_t expected(const doc_row_t *row, const target_t *t, int k)
{
    const caller_t *c = &callers[k];
    expect_t refused = {403, t->refusal};
    switch (row->cell[c->col]) {
    case CELL_401:
        return (expect_t){401, "unauthorized"};
    case CELL_403:
        return (expect_t){403, "forbidden"};
    case CELL_REQUESTER:
        if (!c->requester)
            return refused;
        break;
    case CELL_STATION:
        /* The camera and the requests are station HK's; an admin without
         * a station is not limited. */
        if (c->station && strcmp(c->station, STATION) != 0)
            return refused;
        break;
    }
    return (expect_t){t->ok, NULL};
}

/* error.code of an answer (malloc'ed), or NULL. */
static char *error_code(const cl_http_resp_t *r)
{
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    char *out = code ? strdup(code) : NULL;
    json_decref(j);
    return out;
}

static void check(const doc_row_t *row, const target_t *t, int k)
{
    const caller_t *c = &callers[k];
    expect_t want = expected(row, t, k);
    if (want.status == 403 && !want.code)
        fail_msg("%s %s: the test names no error code for a %s cell's 403", t->method, t->tmpl,
                 row->cell[c->col] == CELL_REQUESTER ? "requester" : "station");
    char *path = expand(t->path, k, t);
    char *body = t->body ? expand(t->body, k, t) : NULL;
    char headers[64] = "";
    if (t->ctype)
        snprintf(headers, sizeof(headers), "Content-Type: %s\r\n", t->ctype);
    cl_http_resp_t r;
    int rc = cl_http(port, t->method, path, c->token, t->ctype ? headers : NULL, body,
                     body ? strlen(body) : 0, &r);
    if (rc != 0)
        fail_msg("%s %s as %s: no answer (%d)", t->method, path, c->tag, rc);
    char *code = r.status >= 400 ? error_code(&r) : NULL;
    if (r.status != want.status || (want.code && (!code || strcmp(code, want.code) != 0)))
        fail_msg("docs/api.md:%d: %s %s as %s (%s column): expected %d%s%s, got %d: %.300s",
                 row->line, t->method, path, c->tag, col_names[c->col], want.status,
                 want.code ? " " : "", want.code ? want.code : "", r.status, r.body);
    free(code);
    cl_http_resp_free(&r);
    free(body);
    free(path);
}

static void test_roles_every_route_every_caller(void **state)
{
    (void)state;
    load_table();
    size_t checks = 0;
    for (size_t i = 0; i < cl_routes_count; i++) {
        const doc_row_t *row = row_for(cl_routes[i].method, cl_routes[i].pattern);
        if (!row)
            fail_msg("route %s %s has no row in docs/api.md", cl_routes[i].method,
                     cl_routes[i].pattern);
        const target_t *t = target_for(cl_routes[i].method, cl_routes[i].pattern);
        for (int k = 0; k < N_CALLERS; k++) {
            check(row, t, k);
            checks++;
        }
    }
    assert_int_equal(checks, cl_routes_count * N_CALLERS);
}

/* No route reads a file path from the request: the download routes take a
 * request id and serve the file the database names for it. Whatever a path
 * segment, a query or a Range header says, no other file is read. */
static void test_roles_downloads_take_only_an_id(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "/v1/requests/..%2F..%2F..%2Fetc%2Fpasswd/clip",
        "/v1/requests/%2Fetc%2Fpasswd/manifest",
        "/v1/requests/{cut}%2F..%2F..%2F..%2Fetc%2Fpasswd/clip",
        "/v1/requests/{cut}%00/manifest",
        "/v1/requests/-1/clip",
        "/v1/requests/99999999999999999999/clip",
        "/v1/requests/{cut}/clip?path=/etc/passwd",
        "/v1/requests/{cut}/clip/../../../../etc/passwd",
        "/v1/requests/{cut}/..%2F..%2Fmanifest",
    };
    char cut[24];
    snprintf(cut, sizeof(cut), "%lld", pools[ID_CUT][C_INV1]);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char path[256];
        const char *hole = strstr(paths[i], "{cut}");
        if (hole)
            snprintf(path, sizeof(path), "%.*s%s%s", (int)(hole - paths[i]), paths[i], cut, hole + 5);
        else
            snprintf(path, sizeof(path), "%s", paths[i]);
        cl_http_resp_t r;
        assert_int_equal(cl_http(port, "GET", path, callers[C_INV1].token, NULL, NULL, 0, &r), 0);
        char *code = error_code(&r);
        if ((r.status != 400 && r.status != 404) || !code || memmem(r.body, r.body_len, "root:", 5))
            fail_msg("GET %s: expected a 400 or 404 error, got %d: %.200s", path, r.status, r.body);
        free(code);
        cl_http_resp_free(&r);
    }
    /* A Range header is bytes of the request's own file, nothing else. */
    char path[64];
    snprintf(path, sizeof(path), "/v1/requests/%s/manifest", cut);
    cl_http_resp_t r;
    assert_int_equal(cl_http(port, "GET", path, callers[C_INV1].token,
                             "Range: bytes=0-99, /etc/passwd\r\n", NULL, 0, &r), 0);
    assert_true(r.status == 200 || r.status == 416);
    assert_null(memmem(r.body, r.body_len, "root:", 5));
    cl_http_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles_table_lists_every_route_once),
        cmocka_unit_test_setup_teardown(test_roles_every_route_every_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles_downloads_take_only_an_id, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
