/* docs/openapi.yaml against the server: the documented operations are
 * exactly the route table (method, path, roles), and a real camledger-server
 * answers every documented operation from the route itself, with the
 * documented success fields, the documented query parameters, tokens and
 * roles, while undocumented paths and methods are refused by the router.
 * The document is read by openapi_doc.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <jansson.h>

#include "http_client.h"
#include "openapi_doc.h"
#include "server.h"
#include "testlib.h"

#define DB "cl_itest_openapi"

/* The server library reads these for /metrics; main.c defines them in the
 * real server. Weak, so a definition moved into the library wins. */
__attribute__((weak)) cl_worker_t *cl_workers;
__attribute__((weak)) int cl_workers_count;

static int popcount3(int bits)
{
    return (bits & 1) + ((bits >> 1) & 1) + ((bits >> 2) & 1);
}

/* ------------------------------------------------------------ the server */

static PGconn *conn;
static int port;
static pid_t server_pid;
static char tok_admin[128], tok_inv[128], tok_aud[128];
static char request_ids[3][24];   /* for approve, reject, cancel */

#define CASE_NUMBER "HS-1/2026"
#define CASE_PATH "HS-1%2F2026"
#define CAMERA "CAM-A"
/* 2026-11-21 21:40 to 22:10 in Asia/Ho_Chi_Minh; '+' written %2B. */
#define Q_FROM "2026-11-21T21:40:00%2B07:00"
#define Q_TO "2026-11-21T22:10:00%2B07:00"

static const char *token_for(int role)
{
    switch (role) {
    case CL_ROLE_ADMIN: return tok_admin;
    case CL_ROLE_INVESTIGATOR: return tok_inv;
    case CL_ROLE_AUDITOR: return tok_aud;
    default: return NULL;
    }
}

/* The token to try a documented operation with: admin when admitted, else
 * investigator, else auditor; none for public routes. */
static const char *doc_token(const cl_doc_op_t *op)
{
    if (op->roles & CL_ROLE_ADMIN)
        return tok_admin;
    if (op->roles & CL_ROLE_INVESTIGATOR)
        return tok_inv;
    if (op->roles & CL_ROLE_AUDITOR)
        return tok_aud;
    return NULL;
}

static void http(const char *method, const char *path, const char *token, const char *headers,
                 const char *body, cl_http_resp_t *r)
{
    int rc = cl_http(port, method, path, token, headers, body, body ? strlen(body) : 0, r);
    if (rc != 0)
        fail_msg("%s %s: no answer (%d)", method, path, rc);
}

static json_t *body_json(const cl_http_resp_t *r)
{
    json_error_t err;
    return json_loadb(r->body, r->body_len, 0, &err);
}

/* error.code of an error answer (malloc'ed), or NULL. */
static char *error_code(const cl_http_resp_t *r)
{
    json_t *j = body_json(r);
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    char *out = c ? strdup(c) : NULL;
    json_decref(j);
    return out;
}

static void assert_error(const char *what, const cl_http_resp_t *r, int status, const char *code)
{
    char *got = error_code(r);
    if (r->status != status || !got || strcmp(got, code) != 0)
        fail_msg("%s: expected %d %s, got %d %s", what, status, code, r->status, r->body);
    free(got);
}

/* The router's own refusals: an unknown path or a method the path does not take. */
static int router_refused(const cl_http_resp_t *r)
{
    if (r->status == 405)
        return 1;
    char *code = error_code(r);
    int refused = r->status == 404 && code && strcmp(code, "not_found") == 0;
    free(code);
    return refused;
}

static char *last_line(char *out)
{
    size_t len = strlen(out);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    char *nl = strrchr(out, '\n');
    return nl ? nl + 1 : out;
}

static void add_user(const char *conninfo, const char *name, const char *role,
                     const char *station, char *token, size_t toklen)
{
    char *out = NULL;
    int rc = cl_t_sh_capture(&out, "'%s' --db '%s' user add --name %s --role %s%s%s",
                             cl_t_prog("CL_ADMIN"), conninfo, name, role,
                             station ? " --station " : "", station ? station : "");
    if (rc != 0)
        fail_msg("camledger-admin user add %s exited %d", name, rc);
    const char *t = last_line(out);
    if (strlen(t) != 64 || strspn(t, "0123456789abcdef") != 64)
        fail_msg("user add %s: the last line is not a token: '%s'", name, t);
    snprintf(token, toklen, "%s", t);
    free(out);
}

static void create(const char *path, const char *token, const char *body, char *id_out)
{
    cl_http_resp_t r;
    http("POST", path, token, NULL, body, &r);
    if (r.status != 201)
        fail_msg("fixture POST %s: %d %s", path, r.status, r.body);
    if (id_out) {
        json_t *j = body_json(&r);
        json_t *id = json_object_get(j, "id");
        assert_true(json_is_integer(id));
        snprintf(id_out, 24, "%lld", (long long)json_integer_value(id));
        json_decref(j);
    }
    cl_http_resp_free(&r);
}

static int start_server(void **state)
{
    (void)state;
    const char *conninfo = cl_t_db_create(DB, &conn);
    if (cl_t_sh("'%s' --db '%s' station add --code ST1 --name 'Công an phường Hàng Trống' "
                ">/dev/null", cl_t_prog("CL_ADMIN"), conninfo) != 0)
        fail_msg("camledger-admin station add failed");
    add_user(conninfo, "oa-admin", "admin", "ST1", tok_admin, sizeof(tok_admin));
    add_user(conninfo, "oa-inv", "investigator", "ST1", tok_inv, sizeof(tok_inv));
    add_user(conninfo, "oa-aud", "auditor", NULL, tok_aud, sizeof(tok_aud));
    server_pid = cl_t_server_start(conninfo, "--threads 2", &port);

    create("/v1/cameras", tok_admin,
           "{\"code\":\"" CAMERA "\",\"name\":\"Ngã tư Hàng Bài - Tràng Tiền\",\"station\":\"ST1\","
           "\"owner_kind\":\"police\",\"lat\":21.0245,\"lon\":105.853}", NULL);
    create("/v1/cases", tok_inv,
           "{\"number\":\"" CASE_NUMBER "\",\"title\":\"Trộm xe máy trước số 12 Tràng Tiền\"}", NULL);
    for (int i = 0; i < 3; i++)
        create("/v1/requests", tok_inv,
               "{\"case\":\"" CASE_NUMBER "\",\"camera\":\"" CAMERA "\","
               "\"from\":\"2026-11-21T21:40:00+07:00\",\"to\":\"2026-11-21T22:10:00+07:00\","
               "\"reason\":\"Xác định xe máy rời hiện trường\"}", request_ids[i]);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    int rc = server_pid > 0 ? cl_t_server_stop(server_pid) : 0;
    if (conn)
        cl_t_db_drop(DB, conn);
    cl_doc_free();
    return rc == 0 ? 0 : -1;
}

/* The concrete path for a documented one: each {name} replaced by the
 * value for that name. */
typedef struct path_values {
    const char *code, *number, *id;
} path_values_t;

static void fill_path(const cl_doc_op_t *op, const path_values_t *pv, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = op->path; *p && o + 1 < outlen; p++) {
        if (*p != '{') {
            out[o++] = *p;
            continue;
        }
        const char *close = strchr(p, '}');
        size_t n = (size_t)(close - p - 1);
        const char *v = n == 4 && strncmp(p + 1, "code", 4) == 0 ? pv->code
                      : n == 6 && strncmp(p + 1, "number", 6) == 0 ? pv->number
                      : n == 2 && strncmp(p + 1, "id", 2) == 0 ? pv->id : NULL;
        if (!v)
            fail_msg("%s %s: the test has no value for path parameter %.*s", op->method,
                     op->path, (int)n, p + 1);
        o += (size_t)snprintf(out + o, outlen - o, "%s", v);
        p = close;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

/* The fixtures' camera and case, and fixture request 'request'. */
static path_values_t real_values(int request)
{
    path_values_t pv = {CAMERA, CASE_PATH, request_ids[request]};
    return pv;
}

/* One request per documented operation that the route should carry out. */
typedef struct probe {
    const char *method, *path;   /* as documented */
    int request;                 /* which fixture request {id} names */
    const char *query, *headers, *body;
    int status;
} probe_t;

static const probe_t probes[] = {
    {"GET", "/healthz", 0, NULL, NULL, NULL, 200},
    {"GET", "/metrics", 0, NULL, NULL, NULL, 200},
    {"POST", "/v1/cameras", 0, NULL, NULL,
     "{\"code\":\"CAM-B\",\"name\":\"Cổng chợ Hàng Da\",\"station\":\"ST1\","
     "\"owner_kind\":\"business\",\"owner_name\":\"Trần Văn Bình\",\"owner_phone\":\"+84 912 345 678\","
     "\"lat\":21.0333,\"lon\":105.846,\"address\":\"Hàng Da, Hoàn Kiếm\",\"retention_days\":30,"
     "\"timezone\":\"Asia/Ho_Chi_Minh\"}", 201},
    {"GET", "/v1/cameras", 0, NULL, NULL, NULL, 200},
    {"POST", "/v1/cameras/import", 0, NULL, "Content-Type: text/csv\r\n",
     "code,name,station,owner_kind,lat,lon\r\nCAM-C,Cửa hàng Minh Anh,ST1,household,21.03,105.85\r\n",
     201},
    {"GET", "/v1/cameras/{code}", 0, NULL, NULL, NULL, 200},
    {"PATCH", "/v1/cameras/{code}", 0, NULL, NULL, "{\"address\":\"Hàng Bài, Hoàn Kiếm\"}", 200},
    {"GET", "/v1/cameras/{code}/footage", 0, "from=" Q_FROM "&to=" Q_TO, NULL, NULL, 200},
    {"GET", "/v1/cameras/{code}/keyframes", 0, "from=" Q_FROM "&to=" Q_TO, NULL, NULL, 200},
    {"POST", "/v1/cases", 0, NULL, NULL,
     "{\"number\":\"HS-2/2026\",\"title\":\"Va chạm giao thông\"}", 201},
    {"GET", "/v1/cases", 0, NULL, NULL, NULL, 200},
    {"GET", "/v1/cases/{number}", 0, NULL, NULL, NULL, 200},
    {"PATCH", "/v1/cases/{number}", 0, NULL, NULL, "{\"title\":\"Trộm xe máy, Tràng Tiền\"}", 200},
    {"POST", "/v1/requests", 0, NULL, NULL,
     "{\"case\":\"" CASE_NUMBER "\",\"camera\":\"" CAMERA "\",\"from\":\"2026-11-21T14:40:00Z\","
     "\"to\":\"2026-11-21T15:10:00Z\",\"reason\":\"Đối chiếu biển số\"}", 201},
    {"GET", "/v1/requests", 0, NULL, NULL, NULL, 200},
    {"GET", "/v1/requests/{id}", 0, NULL, NULL, NULL, 200},
    {"POST", "/v1/requests/{id}/approve", 0, NULL, NULL, NULL, 200},
    {"POST", "/v1/requests/{id}/reject", 1, NULL, NULL, "{\"reason\":\"Không đủ căn cứ\"}", 200},
    {"POST", "/v1/requests/{id}/cancel", 2, NULL, NULL, "{\"reason\":\"Đã có hình ảnh khác\"}", 200},
    /* Nothing is cut in this test: the route answers that itself. */
    {"GET", "/v1/requests/{id}/clip", 0, NULL, NULL, NULL, 409},
    {"GET", "/v1/requests/{id}/manifest", 0, NULL, NULL, NULL, 409},
    {"GET", "/v1/audit/log", 0, NULL, NULL, NULL, 200},
    {"GET", "/v1/audit/verify", 0, NULL, NULL, NULL, 200},
    {"GET", "/v1/audit/extractions", 0, "group_by=case", NULL, NULL, 200},
};
#define N_PROBES (sizeof(probes) / sizeof(probes[0]))

static const probe_t *probe_for(const cl_doc_op_t *op)
{
    for (size_t i = 0; i < N_PROBES; i++)
        if (strcmp(probes[i].method, op->method) == 0 && strcmp(probes[i].path, op->path) == 0)
            return &probes[i];
    fail_msg("%s %s is documented but the test has no probe for it", op->method, op->path);
    return NULL;
}

/* Checks that every field the success schema requires is in the answer,
 * following allOf. */
static void assert_required_fields(const cl_doc_op_t *op, const char *schema_name, json_t *answer)
{
    const cl_doc_schema_t *s = cl_doc_schema_find(schema_name);
    if (!s)
        fail_msg("%s %s: schema %s is not under components/schemas", op->method, op->path,
                 schema_name);
    char fields[1024];
    snprintf(fields, sizeof(fields), "%s", s->required);
    char *save = NULL;
    for (char *f = strtok_r(fields, ",", &save); f; f = strtok_r(NULL, ",", &save))
        if (!json_object_get(answer, f))
            fail_msg("%s %s: the answer lacks '%s', required by schema %s", op->method, op->path,
                     f, schema_name);
    for (size_t i = 0; i < s->n_all_of; i++)
        assert_required_fields(op, s->all_of[i], answer);
}

/* ------------------------------------------------------------ tests */

static void test_openapi_lists_every_route_once(void **state)
{
    (void)state;
    cl_doc_load();
    assert_int_equal(cl_doc_n_ops, cl_routes_count);
    for (size_t i = 0; i < cl_routes_count; i++) {
        const cl_doc_op_t *op = cl_doc_find(cl_routes[i].method, cl_routes[i].pattern);
        if (!op)
            fail_msg("route %s %s (%s) is not in docs/openapi.yaml", cl_routes[i].method,
                     cl_routes[i].pattern, cl_routes[i].name);
        assert_string_equal(op->route_name, cl_routes[i].name);
    }
    for (size_t i = 0; i < cl_doc_n_ops; i++) {
        int routes = 0, docs = 0;
        for (size_t k = 0; k < cl_routes_count; k++)
            routes += strcmp(cl_routes[k].method, cl_doc_ops[i].method) == 0 &&
                      strcmp(cl_routes[k].pattern, cl_doc_ops[i].tmpl) == 0;
        for (size_t k = 0; k < cl_doc_n_ops; k++)
            docs += strcmp(cl_doc_ops[k].method, cl_doc_ops[i].method) == 0 && strcmp(cl_doc_ops[k].tmpl, cl_doc_ops[i].tmpl) == 0;
        if (routes != 1 || docs != 1)
            fail_msg("docs/openapi.yaml:%d: %s %s is in the document %d times and the route table "
                     "%d times", cl_doc_ops[i].line, cl_doc_ops[i].method, cl_doc_ops[i].path, docs, routes);
        assert_string_not_equal(cl_doc_ops[i].method, "HEAD");
    }
}

static void test_openapi_roles_match_route_table(void **state)
{
    (void)state;
    cl_doc_load();
    for (size_t i = 0; i < cl_routes_count; i++) {
        const cl_doc_op_t *op = cl_doc_find(cl_routes[i].method, cl_routes[i].pattern);
        assert_non_null(op);
        if (op->n_roles_lines != 1)
            fail_msg("docs/openapi.yaml:%d: %s %s has %d x-roles lines", op->line, op->method,
                     op->path, op->n_roles_lines);
        if (op->roles != cl_routes[i].roles)
            fail_msg("docs/openapi.yaml:%d: %s %s: x-roles is %d, the route table says %d",
                     op->line, op->method, op->path, op->roles, cl_routes[i].roles);
    }
}

static void test_openapi_every_operation_is_answered(void **state)
{
    (void)state;
    cl_doc_load();
    size_t answered = 0;
    for (size_t i = 0; i < cl_doc_n_ops; i++) {
        const cl_doc_op_t *op = &cl_doc_ops[i];
        const probe_t *p = probe_for(op);
        path_values_t pv = real_values(p->request);
        char path[512], full[1024];
        fill_path(op, &pv, path, sizeof(path));
        snprintf(full, sizeof(full), "%s%s%s", path, p->query ? "?" : "", p->query ? p->query : "");
        cl_http_resp_t r;
        http(op->method, full, doc_token(op), p->headers, p->body, &r);
        if (router_refused(&r) || r.status != p->status)
            fail_msg("%s %s: expected %d from the route, got %d %s", op->method, full, p->status,
                     r.status, r.body);
        if (p->status == 409) {
            char what[1200];
            snprintf(what, sizeof(what), "%s %s", op->method, full);
            assert_error(what, &r, 409, "not_fulfilled");
            cl_http_resp_free(&r);
            answered++;
            continue;
        }
        assert_string_equal(op->success, p->status == 201 ? "201" : "200");
        if (op->success_schema[0]) {
            json_t *j = body_json(&r);
            if (!json_is_object(j))
                fail_msg("%s %s: not a JSON object: %s", op->method, full, r.body);
            assert_required_fields(op, op->success_schema, j);
            json_decref(j);
        }
        cl_http_resp_free(&r);
        answered++;
    }
    assert_int_equal(answered, cl_routes_count);
}

static void test_openapi_placeholder_paths_reach_the_route(void **state)
{
    (void)state;
    cl_doc_load();
    static const path_values_t missing = {"no-such-camera", "NO-SUCH-CASE", "987654321"};
    size_t tried = 0;
    for (size_t i = 0; i < cl_doc_n_ops; i++) {
        const cl_doc_op_t *op = &cl_doc_ops[i];
        const char *last = strrchr(op->path, '{');
        if (!last)
            continue;
        const char *code = strncmp(last, "{code}", 6) == 0 ? "camera_not_found"
                         : strncmp(last, "{number}", 8) == 0 ? "case_not_found" : "request_not_found";
        char path[512], full[1024];
        fill_path(op, &missing, path, sizeof(path));
        /* The window is checked before the camera: give a valid one. */
        snprintf(full, sizeof(full), "%s%s", path,
                 op->n_query ? "?from=" Q_FROM "&to=" Q_TO : "");
        cl_http_resp_t r;
        http(op->method, full, doc_token(op), NULL, strcmp(op->method, "GET") ? "{}" : NULL, &r);
        char what[1200];
        snprintf(what, sizeof(what), "%s %s", op->method, full);
        assert_false(router_refused(&r));
        assert_error(what, &r, 404, code);
        cl_http_resp_free(&r);
        tried++;
    }
    assert_int_equal(tried, 12);
}

/* A value the fixtures make valid for each documented query parameter. */
static const char *sample_value(const cl_doc_op_t *op, const char *name)
{
    static const struct { const char *name, *value; } values[] = {
        {"station", "ST1"}, {"q", "cam"}, {"registered", "true"}, {"near", "21.0285,105.8542"},
        {"radius_m", "50000"}, {"limit", "10"}, {"offset", "0"}, {"from", Q_FROM},
        {"to", Q_TO}, {"case", CASE_PATH}, {"camera", CAMERA}, {"requester", "oa-inv"},
        {"after", "0"}, {"group_by", "month"}, {"at_risk", "true"},
    };
    if (strcmp(name, "status") == 0)
        return strcmp(op->path, "/v1/cases") == 0 ? "open" : "pending";
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (strcmp(values[i].name, name) == 0)
            return values[i].value;
    fail_msg("%s %s: the test has no value for query parameter %s", op->method, op->path, name);
    return NULL;
}

static void test_openapi_documented_query_parameters_are_accepted(void **state)
{
    (void)state;
    cl_doc_load();
    size_t with_params = 0;
    for (size_t i = 0; i < cl_doc_n_ops; i++) {
        const cl_doc_op_t *op = &cl_doc_ops[i];
        char path[512], full[2048];
        path_values_t pv = real_values(0);
        fill_path(op, &pv, path, sizeof(path));
        cl_http_resp_t r;
        if (op->n_query) {
            size_t o = (size_t)snprintf(full, sizeof(full), "%s", path);
            for (size_t q = 0; q < op->n_query; q++)
                o += (size_t)snprintf(full + o, sizeof(full) - o, "%c%s=%s", q ? '&' : '?',
                                      op->query[q], sample_value(op, op->query[q]));
            http(op->method, full, doc_token(op), NULL, NULL, &r);
            if (r.status != 200)
                fail_msg("%s %s with every documented parameter: %d %s", op->method, full,
                         r.status, r.body);
            cl_http_resp_free(&r);
            with_params++;
        }
        /* And one the document does not name. /metrics ignores its query. */
        snprintf(full, sizeof(full), "%s?undocumented=1", path);
        http(op->method, full, doc_token(op), NULL, NULL, &r);
        if (strcmp(op->path, "/metrics") == 0)
            assert_int_equal(r.status, 200);
        else
            assert_error(full, &r, 400, "unknown_parameter");
        cl_http_resp_free(&r);
    }
    assert_int_equal(with_params, 7);
}

static void test_openapi_token_required_unless_public(void **state)
{
    (void)state;
    cl_doc_load();
    size_t public_ops = 0;
    for (size_t i = 0; i < cl_doc_n_ops; i++) {
        const cl_doc_op_t *op = &cl_doc_ops[i];
        char path[512];
        path_values_t pv = real_values(0);
        fill_path(op, &pv, path, sizeof(path));
        cl_http_resp_t r;
        http(op->method, path, NULL, NULL, NULL, &r);
        if (op->roles == 0) {
            assert_int_equal(r.status, 200);
            public_ops++;
            cl_http_resp_free(&r);
            continue;
        }
        assert_error(path, &r, 401, "unauthorized");
        char *www = cl_http_header(&r, "WWW-Authenticate");
        assert_non_null(www);
        assert_string_equal(www, "Bearer realm=\"camledger\"");
        free(www);
        cl_http_resp_free(&r);
        http(op->method, path, "0000000000000000000000000000000000000000000000000000000000000000",
             NULL, NULL, &r);
        assert_error(path, &r, 401, "unauthorized");
        cl_http_resp_free(&r);
    }
    assert_int_equal(public_ops, 2);
}

static void test_openapi_roles_outside_x_roles_are_forbidden(void **state)
{
    (void)state;
    cl_doc_load();
    size_t refused = 0, expected = 0;
    for (size_t i = 0; i < cl_routes_count; i++)
        if (cl_routes[i].roles)
            expected += (size_t)(3 - popcount3(cl_routes[i].roles));
    for (size_t i = 0; i < cl_doc_n_ops; i++) {
        const cl_doc_op_t *op = &cl_doc_ops[i];
        if (op->roles == 0)
            continue;
        char path[512];
        path_values_t pv = real_values(0);
        fill_path(op, &pv, path, sizeof(path));
        for (int bit = 1; bit <= CL_ROLE_AUDITOR; bit <<= 1) {
            if (op->roles & bit)
                continue;
            cl_http_resp_t r;
            http(op->method, path, token_for(bit), NULL, NULL, &r);
            char what[1024];
            snprintf(what, sizeof(what), "%.7s %.512s as role %d", op->method, path, bit);
            assert_error(what, &r, 403, "forbidden");
            cl_http_resp_free(&r);
            refused++;
        }
    }
    assert_int_equal(refused, expected);
    assert_int_equal(refused, 21);
}

static void test_openapi_undocumented_paths_and_methods_are_refused(void **state)
{
    (void)state;
    cl_doc_load();
    static const struct { const char *method, *path; int status; } cases[] = {
        {"GET", "/", 404},
        {"GET", "/v1", 404},
        {"GET", "/v1/nothing", 404},
        {"GET", "/v1/cameras/", 404},
        {"GET", "/v1/cameras/CAM-A/footage/extra", 404},
        {"GET", "/v1/audit", 404},
        {"GET", "/healthz/", 404},
        {"GET", "/V1/cameras", 404},
        {"DELETE", "/v1/cameras/CAM-A", 405},
        {"PUT", "/v1/cases", 405},
        {"GET", "/v1/requests/1/approve", 405},
        {"POST", "/healthz", 405},
        {"DELETE", "/v1/requests/1", 405},
        {"PATCH", "/v1/requests/1", 405},
        {"POST", "/v1/audit/verify", 405},
        {"OPTIONS", "/v1/cameras", 405},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int path_documented = 0, op_documented = 0;
        for (size_t k = 0; k < cl_doc_n_ops; k++) {
            if (!cl_doc_template_matches(cl_doc_ops[k].tmpl, cases[i].path))
                continue;
            path_documented = 1;
            op_documented |= strcmp(cl_doc_ops[k].method, cases[i].method) == 0;
        }
        assert_false(op_documented);
        assert_int_equal(path_documented, cases[i].status == 405);
        cl_http_resp_t r;
        http(cases[i].method, cases[i].path, tok_admin, NULL, NULL, &r);
        char what[300];
        snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
        assert_error(what, &r, cases[i].status,
                     cases[i].status == 404 ? "not_found" : "method_not_allowed");
        cl_http_resp_free(&r);
    }
}

static void test_openapi_head_answers_documented_gets(void **state)
{
    (void)state;
    cl_doc_load();
    size_t gets = 0;
    for (size_t i = 0; i < cl_doc_n_ops; i++) {
        const cl_doc_op_t *op = &cl_doc_ops[i];
        if (strcmp(op->method, "GET") != 0)
            continue;
        const probe_t *p = probe_for(op);
        path_values_t pv = real_values(p->request);
        char path[512], full[1024];
        fill_path(op, &pv, path, sizeof(path));
        snprintf(full, sizeof(full), "%s%s%s", path, p->query ? "?" : "", p->query ? p->query : "");
        cl_http_resp_t r;
        http("HEAD", full, doc_token(op), NULL, NULL, &r);
        if (r.status != p->status)
            fail_msg("HEAD %s: %d, expected %d", full, r.status, p->status);
        assert_int_equal(r.body_len, 0);
        cl_http_resp_free(&r);
        gets++;
    }
    assert_int_equal(gets, 15);
}

static void test_openapi_extractions_csv_variant(void **state)
{
    (void)state;
    cl_doc_load();
    const cl_doc_op_t *op = cl_doc_find("GET", "/v1/audit/extractions");
    assert_non_null(op);
    cl_http_resp_t r;
    http("GET", "/v1/audit/extractions?group_by=station", tok_aud, "Accept: text/csv\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    char *ctype = cl_http_header(&r, "Content-Type");
    assert_non_null(ctype);
    assert_string_equal(ctype, "text/csv; charset=utf-8");
    free(ctype);
    static const char header[] = "key,requests,approved,rejected,fulfilled,footage_seconds,cameras\r\n";
    assert_true(r.body_len > sizeof(header));
    assert_memory_equal(r.body, header, sizeof(header) - 1);
    /* One station (ST1) and the totals; the last line ends with CRLF. */
    const char *row = r.body + sizeof(header) - 1;
    assert_memory_equal(row, "ST1,", 4);
    const char *total = strstr(row, "\r\ntotal,");
    assert_non_null(total);
    assert_string_equal(r.body + r.body_len - 2, "\r\n");
    assert_ptr_equal(strstr(total + 2, "\r\n"), r.body + r.body_len - 2);
    cl_http_resp_free(&r);

    /* An error stays JSON. */
    http("GET", "/v1/audit/extractions?group_by=week", tok_aud, "Accept: text/csv\r\n", NULL, &r);
    assert_error("extractions group_by=week", &r, 400, "invalid_parameter");
    cl_http_resp_free(&r);
}

static void test_openapi_idempotency_key_replays(void **state)
{
    (void)state;
    cl_doc_load();
    const cl_doc_op_t *op = cl_doc_find("POST", "/v1/requests");
    assert_non_null(op);
    static const char body[] =
        "{\"case\":\"" CASE_NUMBER "\",\"camera\":\"" CAMERA "\",\"from\":\"2026-11-21T14:50:00Z\","
        "\"to\":\"2026-11-21T14:55:00Z\",\"reason\":\"Bổ sung\"}";
    static const char headers[] = "Idempotency-Key: openapi-replay-1\r\n";
    cl_http_resp_t first, again, other;
    http("POST", "/v1/requests", tok_inv, headers, body, &first);
    assert_int_equal(first.status, 201);
    http("POST", "/v1/requests", tok_inv, headers, body, &again);
    assert_int_equal(again.status, 201);
    assert_int_equal(again.body_len, first.body_len);
    assert_memory_equal(again.body, first.body, first.body_len);
    http("POST", "/v1/requests", tok_inv, headers,
         "{\"case\":\"" CASE_NUMBER "\",\"camera\":\"" CAMERA "\",\"from\":\"2026-11-21T14:50:00Z\","
         "\"to\":\"2026-11-21T14:56:00Z\",\"reason\":\"Bổ sung\"}", &other);
    assert_error("different body, same key", &other, 409, "idempotency_key_reused");
    cl_http_resp_free(&first);
    cl_http_resp_free(&again);
    cl_http_resp_free(&other);

    http("POST", "/v1/requests", tok_inv, "Idempotency-Key: \r\n", body, &other);
    assert_error("empty key", &other, 400, "invalid_header");
    cl_http_resp_free(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openapi_lists_every_route_once),
        cmocka_unit_test(test_openapi_roles_match_route_table),
        cmocka_unit_test(test_openapi_every_operation_is_answered),
        cmocka_unit_test(test_openapi_placeholder_paths_reach_the_route),
        cmocka_unit_test(test_openapi_documented_query_parameters_are_accepted),
        cmocka_unit_test(test_openapi_token_required_unless_public),
        cmocka_unit_test(test_openapi_roles_outside_x_roles_are_forbidden),
        cmocka_unit_test(test_openapi_undocumented_paths_and_methods_are_refused),
        cmocka_unit_test(test_openapi_head_answers_documented_gets),
        cmocka_unit_test(test_openapi_extractions_csv_variant),
        cmocka_unit_test(test_openapi_idempotency_key_replays),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
