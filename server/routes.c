/* The HTTP API: one small function per route, turning the request into a
 * call of the SQL function that does the work (sql/0003_api.sql). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

void cl_call_send_text(cl_call_t *call, int status, const char *ctype, const char *body, size_t len);

/* Refuses query parameters the route does not know, so a typo is an error,
 * not a silently ignored filter. allowed is NULL-terminated. */
static int only_params(cl_call_t *call, const char *const *allowed)
{
    for (size_t i = 0; i < call->n_params; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, call->params[i].name) == 0;
        if (!ok) {
            cl_call_send_error(call, 400, "unknown_parameter", "%s: unknown query parameter",
                               call->params[i].name);
            return -1;
        }
    }
    return 0;
}

static const char *const no_params[] = {NULL};

static void on_health(cl_call_t *call, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cl_call_send_db_error(call, res);
        return;
    }
    cl_call_send_json(call, 200, H2O_STRLIT("{\"status\":\"ok\"}"));
}

static void route_healthz(cl_call_t *call)
{
    if (only_params(call, no_params) < 0)
        return;
    cl_call_query(call, "SELECT 1", 0, NULL, on_health);
}

static void route_metrics(cl_call_t *call)
{
    size_t len;
    char *text = cl_metrics_render(cl_workers, cl_workers_count, &len);
    if (!text) {
        cl_call_send_error(call, 503, "overloaded", "out of memory");
        return;
    }
    cl_call_send_text(call, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static void route_camera_register(cl_call_t *call)
{
    if (only_params(call, no_params) < 0 || cl_call_json_body(call) < 0)
        return;
    const char *p[] = {call->user_id_text, call->body_text};
    cl_call_sql(call, "SELECT * FROM cl_api_camera_register($1, $2::jsonb)", 2, p);
}

static void route_camera_import(cl_call_t *call)
{
    if (only_params(call, no_params) < 0)
        return;
    const char *ctype = cl_call_header(call, "content-type");
    if (!ctype || strncasecmp(ctype, "text/csv", 8) != 0) {
        cl_call_send_error(call, 415, "unsupported_media_type", "send the cameras as Content-Type: text/csv");
        return;
    }
    if (!call->body_text || call->body_len == 0) {
        cl_call_send_error(call, 400, "missing_body", "a CSV body is required");
        return;
    }
    if (call->body_len > call->worker->config->max_csv_body) {
        cl_call_send_error(call, 413, "body_too_large", "the body may be at most %zu bytes",
                           call->worker->config->max_csv_body);
        return;
    }
    char err[256];
    json_t *rows = cl_csv_cameras(call->body_text, call->body_len, err, sizeof(err));
    if (!rows) {
        cl_call_send_error(call, 400, "invalid_csv", "%s", err);
        return;
    }
    char *text = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    if (!text) {
        cl_call_send_error(call, 503, "overloaded", "out of memory");
        return;
    }
    const char *p[] = {call->user_id_text, text};
    cl_call_sql(call, "SELECT * FROM cl_api_camera_import($1, $2::jsonb)", 2, p);
    free(text);
}

static void route_camera_list(cl_call_t *call)
{
    static const char *const allowed[] = {"station", "q", "registered", "near", "radius_m",
                                          "limit", "offset", NULL};
    if (only_params(call, allowed) < 0)
        return;
    const char *p[] = {cl_call_param(call, "station"), cl_call_param(call, "q"),
                       cl_call_param(call, "registered"), cl_call_param(call, "near"),
                       cl_call_param(call, "radius_m"), cl_call_param(call, "limit"),
                       cl_call_param(call, "offset")};
    cl_call_sql(call, "SELECT * FROM cl_api_camera_list($1, $2, $3, $4, $5, $6, $7)", 7, p);
}

static void route_camera_get(cl_call_t *call)
{
    if (only_params(call, no_params) < 0)
        return;
    const char *p[] = {call->args[0]};
    cl_call_sql(call, "SELECT * FROM cl_api_camera_get($1)", 1, p);
}

static void route_camera_update(cl_call_t *call)
{
    if (only_params(call, no_params) < 0 || cl_call_json_body(call) < 0)
        return;
    const char *p[] = {call->user_id_text, call->args[0], call->body_text};
    cl_call_sql(call, "SELECT * FROM cl_api_camera_update($1, $2, $3::jsonb)", 3, p);
}

static void window_route(cl_call_t *call, const char *sql)
{
    static const char *const allowed[] = {"from", "to", NULL};
    if (only_params(call, allowed) < 0)
        return;
    char max[24];
    snprintf(max, sizeof(max), "%lld", (long long)call->worker->config->max_window_secs);
    const char *p[] = {call->args[0], cl_call_param(call, "from"), cl_call_param(call, "to"), max};
    cl_call_sql(call, sql, 4, p);
}

static void route_footage(cl_call_t *call)
{
    window_route(call, "SELECT * FROM cl_api_footage($1, $2, $3, $4)");
}

static void route_keyframes(cl_call_t *call)
{
    window_route(call, "SELECT * FROM cl_api_keyframes($1, $2, $3, $4)");
}

static void route_case_create(cl_call_t *call)
{
    if (only_params(call, no_params) < 0 || cl_call_json_body(call) < 0)
        return;
    const char *p[] = {call->user_id_text, call->body_text};
    cl_call_sql(call, "SELECT * FROM cl_api_case_create($1, $2::jsonb)", 2, p);
}

static void route_case_list(cl_call_t *call)
{
    static const char *const allowed[] = {"station", "status", "limit", "offset", NULL};
    if (only_params(call, allowed) < 0)
        return;
    const char *p[] = {cl_call_param(call, "station"), cl_call_param(call, "status"),
                       cl_call_param(call, "limit"), cl_call_param(call, "offset")};
    cl_call_sql(call, "SELECT * FROM cl_api_case_list($1, $2, $3, $4)", 4, p);
}

static void route_case_get(cl_call_t *call)
{
    if (only_params(call, no_params) < 0)
        return;
    const char *p[] = {call->args[0]};
    cl_call_sql(call, "SELECT * FROM cl_api_case_get($1)", 1, p);
}

static void route_case_update(cl_call_t *call)
{
    if (only_params(call, no_params) < 0 || cl_call_json_body(call) < 0)
        return;
    const char *p[] = {call->user_id_text, call->args[0], call->body_text};
    cl_call_sql(call, "SELECT * FROM cl_api_case_update($1, $2, $3::jsonb)", 3, p);
}

static void route_request_create(cl_call_t *call)
{
    if (only_params(call, no_params) < 0 || cl_call_json_body(call) < 0)
        return;
    const char *key = cl_call_header(call, "idempotency-key");
    if (key && (strlen(key) == 0 || strlen(key) > 200)) {
        cl_call_send_error(call, 400, "invalid_header", "Idempotency-Key: 1 to 200 characters");
        return;
    }
    char max[24];
    snprintf(max, sizeof(max), "%lld", (long long)call->worker->config->max_window_secs);
    const char *p[] = {call->user_id_text, call->body_text, key, max};
    cl_call_sql(call, "SELECT * FROM cl_api_request_create($1, $2::jsonb, $3, $4)", 4, p);
}

static void route_request_list(cl_call_t *call)
{
    static const char *const allowed[] = {"case", "camera", "status", "requester", "limit",
                                          "offset", "at_risk", NULL};
    if (only_params(call, allowed) < 0)
        return;
    const char *p[] = {cl_call_param(call, "case"), cl_call_param(call, "camera"),
                       cl_call_param(call, "status"), cl_call_param(call, "requester"),
                       cl_call_param(call, "at_risk"), cl_call_param(call, "limit"),
                       cl_call_param(call, "offset")};
    cl_call_sql(call, "SELECT * FROM cl_api_request_list($1, $2, $3, $4, $5, $6, $7)", 7, p);
}

static void route_request_get(cl_call_t *call)
{
    if (only_params(call, no_params) < 0)
        return;
    const char *p[] = {call->args[0]};
    cl_call_sql(call, "SELECT * FROM cl_api_request_get($1)", 1, p);
}

static void request_act(cl_call_t *call, const char *action)
{
    if (only_params(call, no_params) < 0)
        return;
    /* The body is optional here: {"reason": "..."}. */
    if (call->body_text && call->body_len > 0 && cl_call_json_body(call) < 0)
        return;
    const char *p[] = {call->user_id_text, call->args[0], action,
                       call->body_len > 0 ? call->body_text : NULL};
    cl_call_sql(call, "SELECT * FROM cl_api_request_act($1, $2, $3, $4::jsonb)", 4, p);
}

void cl_route_download(cl_call_t *call, const char *kind);

static void route_request_clip(cl_call_t *call)
{
    if (only_params(call, no_params) == 0)
        cl_route_download(call, "clip");
}

static void route_request_manifest(cl_call_t *call)
{
    if (only_params(call, no_params) == 0)
        cl_route_download(call, "manifest");
}

static void route_request_approve(cl_call_t *call) { request_act(call, "approve"); }
static void route_request_reject(cl_call_t *call) { request_act(call, "reject"); }
static void route_request_cancel(cl_call_t *call) { request_act(call, "cancel"); }

static void route_audit_log(cl_call_t *call)
{
    static const char *const allowed[] = {"after", "limit", NULL};
    if (only_params(call, allowed) < 0)
        return;
    const char *p[] = {cl_call_param(call, "after"), cl_call_param(call, "limit")};
    cl_call_sql(call, "SELECT * FROM cl_api_audit_log($1, $2)", 2, p);
}

static void route_audit_verify(cl_call_t *call)
{
    if (only_params(call, no_params) < 0)
        return;
    cl_call_sql(call, "SELECT * FROM cl_api_audit_verify()", 0, NULL);
}

/* CSV rendering of the extraction counts: a header, one line per group,
 * a last line with the totals under the key "total". */
typedef struct strbuf {
    char *buf;
    size_t len, cap;
    int failed;
} strbuf_t;

static void sb_add(strbuf_t *sb, const char *s, size_t n)
{
    if (sb->failed)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = (sb->len + n + 1) * 2;
        char *nb = realloc(sb->buf, cap);
        if (!nb) {
            sb->failed = 1;
            return;
        }
        sb->buf = nb;
        sb->cap = cap;
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
}

static void csv_field(strbuf_t *sb, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        sb_add(sb, s, strlen(s));
        return;
    }
    sb_add(sb, "\"", 1);
    for (; *s; s++) {
        if (*s == '"')
            sb_add(sb, "\"\"", 2);
        else
            sb_add(sb, s, 1);
    }
    sb_add(sb, "\"", 1);
}

static void csv_row(strbuf_t *sb, const char *key, json_t *row)
{
    static const char *const cols[] = {"requests", "approved", "rejected", "fulfilled",
                                       "footage_seconds", "cameras"};
    csv_field(sb, key);
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        char num[64];
        json_t *v = json_object_get(row, cols[i]);
        if (json_is_integer(v))
            snprintf(num, sizeof(num), ",%lld", (long long)json_integer_value(v));
        else
            snprintf(num, sizeof(num), ",%.3f", json_number_value(v));
        sb_add(sb, num, strlen(num));
    }
    sb_add(sb, "\r\n", 2);
}

static void on_extractions(cl_call_t *call, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cl_call_send_db_error(call, res);
        return;
    }
    const char *accept = cl_call_header(call, "accept");
    if (!accept || !strstr(accept, "text/csv")) {
        cl_call_send_json(call, atoi(PQgetvalue(res, 0, 0)), PQgetvalue(res, 0, 1),
                          (size_t)PQgetlength(res, 0, 1));
        return;
    }
    json_t *j = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    if (!j) {
        cl_call_send_error(call, 503, "overloaded", "out of memory");
        return;
    }
    strbuf_t sb = {0};
    static const char header[] = "key,requests,approved,rejected,fulfilled,footage_seconds,cameras\r\n";
    sb_add(&sb, header, sizeof(header) - 1);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(j, "rows"), i, row) {
        json_t *key = json_object_get(row, "key");
        csv_row(&sb, json_is_string(key) ? json_string_value(key) : "", row);
    }
    csv_row(&sb, "total", json_object_get(j, "totals"));
    json_decref(j);
    if (sb.failed)
        cl_call_send_error(call, 503, "overloaded", "out of memory");
    else
        cl_call_send_text(call, 200, "text/csv; charset=utf-8", sb.buf, sb.len);
    free(sb.buf);
}

static void route_audit_extractions(cl_call_t *call)
{
    static const char *const allowed[] = {"group_by", "from", "to", NULL};
    if (only_params(call, allowed) < 0)
        return;
    const char *p[] = {cl_call_param(call, "group_by"), cl_call_param(call, "from"),
                       cl_call_param(call, "to")};
    cl_call_query(call, "SELECT * FROM cl_api_audit_extractions($1, $2, $3)", 3, p, on_extractions);
}

#define INV CL_ROLE_INVESTIGATOR
#define ADM CL_ROLE_ADMIN
#define AUD CL_ROLE_AUDITOR
#define ANY CL_ROLE_ANY

const cl_route_t cl_routes[] = {
    {"GET", "/healthz", 0, route_healthz, "healthz"},
    {"GET", "/metrics", 0, route_metrics, "metrics"},
    {"POST", "/v1/cameras", ADM, route_camera_register, "cameras.register"},
    {"GET", "/v1/cameras", ANY, route_camera_list, "cameras.list"},
    {"POST", "/v1/cameras/import", ADM, route_camera_import, "cameras.import"},
    {"GET", "/v1/cameras/{}", ANY, route_camera_get, "cameras.get"},
    {"PATCH", "/v1/cameras/{}", ADM, route_camera_update, "cameras.update"},
    {"GET", "/v1/cameras/{}/footage", ANY, route_footage, "cameras.footage"},
    {"GET", "/v1/cameras/{}/keyframes", ANY, route_keyframes, "cameras.keyframes"},
    {"POST", "/v1/cases", INV | ADM, route_case_create, "cases.create"},
    {"GET", "/v1/cases", ANY, route_case_list, "cases.list"},
    {"GET", "/v1/cases/{}", ANY, route_case_get, "cases.get"},
    {"PATCH", "/v1/cases/{}", INV | ADM, route_case_update, "cases.update"},
    {"POST", "/v1/requests", INV, route_request_create, "requests.create"},
    {"GET", "/v1/requests", ANY, route_request_list, "requests.list"},
    {"GET", "/v1/requests/{}", ANY, route_request_get, "requests.get"},
    {"POST", "/v1/requests/{}/approve", ADM, route_request_approve, "requests.approve"},
    {"POST", "/v1/requests/{}/reject", ADM, route_request_reject, "requests.reject"},
    {"POST", "/v1/requests/{}/cancel", INV, route_request_cancel, "requests.cancel"},
    {"GET", "/v1/requests/{}/clip", INV | ADM, route_request_clip, "requests.clip"},
    {"GET", "/v1/requests/{}/manifest", INV | ADM, route_request_manifest, "requests.manifest"},
    {"GET", "/v1/audit/log", AUD | ADM, route_audit_log, "audit.log"},
    {"GET", "/v1/audit/verify", AUD | ADM, route_audit_verify, "audit.verify"},
    {"GET", "/v1/audit/extractions", AUD | ADM, route_audit_extractions, "audit.extractions"},
};

const size_t cl_routes_count = sizeof(cl_routes) / sizeof(cl_routes[0]);
