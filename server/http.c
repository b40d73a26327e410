/* Request handling shared by every route: matching, authentication and
 * roles, body checks, answering, and mapping database results to HTTP. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/mem.h>
#include <openssl/crypto.h>
#include <libavutil/sha.h>

#include "db.h"
#include "log.h"
#include "server.h"

static const char sql_auth[] = "SELECT user_id, role FROM cl_auth($1)";

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static void call_dispose(void *p)
{
    cl_call_t *call = p;
    cl_pg_cancel(call->q);
    call->q = NULL;
    call->req = NULL;
    call->worker->inflight--;
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

static void send_body(cl_call_t *call, int status, const char *ctype, const char *body, size_t len)
{
    h2o_req_t *req = call->req;
    if (!req)
        return;
    cl_metrics_record(call->route_index, status, now_ns() - call->start_ns);
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    if (status == 401)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"camledger\""));
    /* Sending may dispose the request at once: nothing of it is used after. */
    call->req = NULL;
    h2o_send_inline(req, body, len);
}

void cl_call_send_json(cl_call_t *call, int status, const char *json, size_t len)
{
    send_body(call, status, "application/json; charset=utf-8", json, len);
}

void cl_call_send_text(cl_call_t *call, int status, const char *ctype, const char *body, size_t len)
{
    send_body(call, status, ctype, body, len);
}

void cl_call_send_error(cl_call_t *call, int status, const char *code, const char *fmt, ...)
{
    char raw[1024], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* Messages quote what the client sent (a camera code, a CSV header) and
     * are cut to length: keep them valid UTF-8, or the JSON cannot be made. */
    size_t in = 0, out = 0, rawlen = strlen(raw);
    while (in < rawlen) {
        size_t n = cl_utf8_seq_len((const unsigned char *)raw + in, rawlen - in);
        if (n == 0) {
            if (out + 1 >= sizeof(msg))
                break;
            msg[out++] = '?';
            in++;
            continue;
        }
        if (out + n >= sizeof(msg))
            break;
        memcpy(msg + out, raw + in, n);
        out += n;
        in += n;
    }
    msg[out] = '\0';
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text)
        cl_call_send_json(call, status, text, strlen(text));
    else
        cl_call_send_json(call, 503, H2O_STRLIT("{\"error\":{\"code\":\"overloaded\",\"message\":\"out of memory\"}}"));
    free(text);
    json_decref(o);
}

void cl_call_send_db_error(cl_call_t *call, PGresult *res)
{
    if (!res) {
        cl_metrics_db_error();
        cl_call_send_error(call, 503, "database_unavailable",
                           "the database is unavailable; try again shortly");
        return;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    if (!state)
        state = "";
    if (strncmp(state, "CL", 2) == 0 && strlen(state) == 5) {
        cl_call_send_error(call, atoi(state + 2), detail ? detail : "error", "%s", msg ? msg : "");
        return;
    }
    /* The database refused a value: the input was bad (an invalid escape in
     * JSON, a number out of range...). Say what kind, never the SQL. */
    if (strncmp(state, "22", 2) == 0) {
        cl_call_send_error(call, 400, "invalid_value", "a value in the request is not acceptable");
        return;
    }
    /* A value the schema's own checks refused (NOT NULL, CHECK), or one too
     * big for an index or a field: still the input's fault. */
    if (strcmp(state, "23502") == 0 || strcmp(state, "23514") == 0 || strncmp(state, "54", 2) == 0) {
        cl_call_send_error(call, 400, "invalid_value", "a value in the request is not acceptable");
        return;
    }
    if (strncmp(state, "23", 2) == 0 || strcmp(state, CL_SQLSTATE_SERIALIZATION) == 0 ||
        strcmp(state, CL_SQLSTATE_DEADLOCK) == 0) {
        cl_call_send_error(call, 409, "conflict", "the change conflicts with another; retry");
        return;
    }
    if (strcmp(state, "57014") == 0) {
        /* statement_timeout: the database is there, the work was too big
         * for the time a request may take. */
        cl_metrics_db_error();
        cl_call_send_error(call, 503, "timeout", "the database took too long; try a smaller request");
        return;
    }
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 || strncmp(state, "53", 2) == 0) {
        cl_metrics_db_error();
        cl_call_send_error(call, 503, "database_unavailable",
                           "the database is unavailable; try again shortly");
        return;
    }
    cl_metrics_db_error();
    cl_error("%s: database error %s: %s", call->route->name, state, msg ? msg : "");
    cl_call_send_error(call, 500, "internal", "internal error");
}

static void on_query(void *data, PGresult *res);

typedef struct query_ctx {
    cl_call_t *call;
    void (*cb)(cl_call_t *call, PGresult *res);
} query_ctx_t;

void cl_call_query(cl_call_t *call, const char *sql, int nparams, const char *const *params,
                   void (*cb)(cl_call_t *call, PGresult *res))
{
    /* The call lives in the request's pool; the callback pointer rides in it. */
    query_ctx_t *ctx = h2o_mem_alloc_pool(&call->req->pool, sizeof(*ctx));
    ctx->call = call;
    ctx->cb = cb;
    if (cl_pg_query(call->worker->pg, sql, nparams, params, on_query, ctx, &call->q) < 0)
        cl_call_send_error(call, 503, "overloaded", "out of memory");
}

static void on_query(void *data, PGresult *res)
{
    query_ctx_t *ctx = data;
    ctx->call->q = NULL;
    ctx->cb(ctx->call, res);
}

static void on_sql_result(cl_call_t *call, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 2) {
        cl_call_send_db_error(call, res);
        return;
    }
    int status = atoi(PQgetvalue(res, 0, 0));
    cl_call_send_json(call, status, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
}

void cl_call_sql(cl_call_t *call, const char *sql, int nparams, const char *const *params)
{
    cl_call_query(call, sql, nparams, params, on_sql_result);
}

/* ------------------------------------------------------------ helpers */

const char *cl_call_param(const cl_call_t *call, const char *name)
{
    for (size_t i = 0; i < call->n_params; i++)
        if (strcmp(call->params[i].name, name) == 0)
            return call->params[i].value;
    return NULL;
}

const char *cl_call_header(cl_call_t *call, const char *name)
{
    const h2o_headers_t *hs = &call->req->headers;
    size_t nlen = strlen(name);
    for (size_t i = 0; i < hs->size; i++) {
        const h2o_header_t *h = &hs->entries[i];
        if (h->name->len == nlen && h2o_lcstris(h->name->base, nlen, name, nlen))
            return h2o_strdup(&call->req->pool, h->value.base, h->value.len).base;
    }
    return NULL;
}

int cl_call_json_body(cl_call_t *call)
{
    if (!call->body_text || call->body_len == 0) {
        cl_call_send_error(call, 400, "missing_body", "a JSON body is required");
        return -1;
    }
    if (call->body_len > call->worker->config->max_json_body) {
        cl_call_send_error(call, 413, "body_too_large", "the body may be at most %zu bytes",
                           call->worker->config->max_json_body);
        return -1;
    }
    json_error_t jerr;
    json_t *j = json_loadb(call->body_text, call->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        cl_call_send_error(call, 400, "invalid_json", "malformed JSON at line %d column %d: %s",
                           jerr.line, jerr.column, jerr.text);
        return -1;
    }
    int is_object = json_is_object(j);
    json_decref(j);
    if (!is_object) {
        cl_call_send_error(call, 400, "invalid_body", "the body must be a JSON object");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ dispatch */

static void authorised(cl_call_t *call)
{
    const cl_route_t *r = call->route;
    if (r->roles && !(r->roles & call->role)) {
        cl_call_send_error(call, 403, "forbidden", "your role may not do this");
        return;
    }
    snprintf(call->user_id_text, sizeof(call->user_id_text), "%d", call->user_id);
    r->fn(call);
}

static int role_bit(const char *role)
{
    if (strcmp(role, "investigator") == 0)
        return CL_ROLE_INVESTIGATOR;
    if (strcmp(role, "admin") == 0)
        return CL_ROLE_ADMIN;
    if (strcmp(role, "auditor") == 0)
        return CL_ROLE_AUDITOR;
    return 0;
}

static void unauthorised(cl_call_t *call)
{
    /* One answer whatever was wrong: no hint which part failed. */
    cl_metrics_auth_failure();
    cl_call_send_error(call, 401, "unauthorized", "a valid bearer token is required");
}

static void on_auth(cl_call_t *call, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cl_call_send_db_error(call, res);
        return;
    }
    if (PQntuples(res) != 1) {
        unauthorised(call);
        return;
    }
    call->user_id = atoi(PQgetvalue(res, 0, 0));
    call->role = role_bit(PQgetvalue(res, 0, 1));
    cl_auth_entry_t *e = &call->worker->auth[call->auth_slot];
    memcpy(e->sha256_hex, call->sha256_hex, sizeof(e->sha256_hex));
    e->user_id = call->user_id;
    e->role = call->role;
    e->expires_ns = now_ns() + (uint64_t)call->worker->config->auth_cache_secs * 1000000000ull;
    authorised(call);
}

static void authenticate(cl_call_t *call)
{
    const char *h = cl_call_header(call, "authorization");
    static const char prefix[] = "Bearer ";
    if (!h || strncasecmp(h, prefix, sizeof(prefix) - 1) != 0) {
        unauthorised(call);
        return;
    }
    const char *token = h + sizeof(prefix) - 1;
    size_t tlen = strlen(token);
    if (tlen == 0 || tlen > 256) {
        unauthorised(call);
        return;
    }
    uint8_t digest[32];
    struct AVSHA *sha = av_sha_alloc();
    if (!sha) {
        cl_call_send_error(call, 503, "overloaded", "out of memory");
        return;
    }
    av_sha_init(sha, 256);
    av_sha_update(sha, (const uint8_t *)token, tlen);
    av_sha_final(sha, digest);
    av_free(sha);
    for (int i = 0; i < 32; i++)
        snprintf(call->sha256_hex + 2 * i, 3, "%02x", digest[i]);

    /* 256 slots by the first byte of the hash; an entry is trusted for
     * auth_cache_secs, so a revoked token stops working within that time. */
    call->auth_slot = digest[0];
    cl_auth_entry_t *e = &call->worker->auth[call->auth_slot];
    if (e->expires_ns > now_ns() && CRYPTO_memcmp(e->sha256_hex, call->sha256_hex, 64) == 0) {
        call->user_id = e->user_id;
        call->role = e->role;
        authorised(call);
        return;
    }
    const char *params[1] = {call->sha256_hex};
    cl_call_query(call, sql_auth, 1, params, on_auth);
}

int cl_http_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    cl_worker_t *worker = H2O_STRUCT_FROM_MEMBER(cl_worker_t, ctx, req->conn->ctx);
    cl_call_t *call = h2o_mem_alloc_shared(&req->pool, sizeof(*call), call_dispose);
    memset(call, 0, sizeof(*call));
    call->req = req;
    call->worker = worker;
    call->start_ns = now_ns();
    call->route_index = -1;
    worker->inflight++;

    size_t path_len = req->path.len;
    const char *query = NULL;
    size_t query_len = 0;
    if (req->query_at != SIZE_MAX) {
        path_len = req->query_at;
        query = req->path.base + req->query_at + 1;
        query_len = req->path.len - req->query_at - 1;
    }
    int path_matched = 0;
    for (size_t i = 0; i < cl_routes_count; i++) {
        const cl_route_t *r = &cl_routes[i];
        int m = cl_route_match(&req->pool, r->pattern, req->path.base, path_len, call->args);
        if (m < 0) {
            cl_call_send_error(call, 400, "invalid_path", "the path is not valid percent-encoded UTF-8");
            return 0;
        }
        if (!m)
            continue;
        path_matched = 1;
        if (!h2o_memis(req->method.base, req->method.len, r->method, strlen(r->method)) &&
            !(strcmp(r->method, "GET") == 0 && h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))))
            continue;
        call->route = r;
        call->route_index = (int)i;
        break;
    }
    if (!call->route) {
        static const cl_route_t none = {"", "", 0, NULL, "unmatched"};
        call->route = &none;
        if (path_matched)
            cl_call_send_error(call, 405, "method_not_allowed", "this path does not take that method");
        else
            cl_call_send_error(call, 404, "not_found", "no such route");
        return 0;
    }
    if (query && cl_query_parse(&req->pool, query, query_len, &call->params, &call->n_params) < 0) {
        cl_call_send_error(call, 400, "invalid_query",
                           "the query string is malformed, not UTF-8, or repeats a parameter");
        return 0;
    }
    if (req->entity.base) {
        size_t limit = worker->config->max_csv_body > worker->config->max_json_body
                           ? worker->config->max_csv_body : worker->config->max_json_body;
        if (req->entity.len > limit) {
            cl_call_send_error(call, 413, "body_too_large", "the body may be at most %zu bytes", limit);
            return 0;
        }
        call->body_len = req->entity.len;
        char *copy = h2o_mem_alloc_pool(&req->pool, req->entity.len + 1);
        memcpy(copy, req->entity.base, req->entity.len);
        copy[req->entity.len] = '\0';
        call->body_text = copy;
    }
    if (!call->route->roles) {
        call->route->fn(call);
        return 0;
    }
    authenticate(call);
    return 0;
}

/* ------------------------------------------------------------ H2O's own errors */

/* H2O answers some requests before any handler sees them (a body over its
 * limit, a malformed request) with a text/plain body. This filter swaps that
 * body for the API's JSON error shape, so clients parse every error alike. */
typedef struct error_filter {
    h2o_filter_t super;
    size_t max_body;
} error_filter_t;

typedef struct error_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
} error_ostream_t;

static void error_ostream_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs,
                               size_t bufcnt, h2o_send_state_t state)
{
    error_ostream_t *o = (error_ostream_t *)self;
    (void)bufs;
    (void)bufcnt;
    if (state == H2O_SEND_STATE_FINAL)
        h2o_ostream_send_next(&o->super, req, &o->body, 1, state);
    else
        h2o_ostream_send_next(&o->super, req, NULL, 0, state);
}

static void on_setup_error_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    error_filter_t *f = (error_filter_t *)self;
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (req->res.status >= 400 && ct >= 0 &&
        h2o_memis(req->res.headers.entries[ct].value.base, req->res.headers.entries[ct].value.len,
                  H2O_STRLIT("text/plain; charset=utf-8"))) {
        char *json = h2o_mem_alloc_pool(&req->pool, 200);
        int len;
        if (req->res.status == 413)
            len = snprintf(json, 200, "{\"error\":{\"code\":\"body_too_large\",\"message\":"
                           "\"the body may be at most %zu bytes\"}}", f->max_body);
        else if (req->res.status == 400)
            len = snprintf(json, 200, "{\"error\":{\"code\":\"bad_request\",\"message\":"
                           "\"the HTTP request is malformed\"}}");
        else
            len = snprintf(json, 200, "{\"error\":{\"code\":\"http_error\",\"message\":"
                           "\"the HTTP layer refused the request (status %d)\"}}", req->res.status);
        req->res.headers.entries[ct].value = h2o_iovec_init(H2O_STRLIT("application/json; charset=utf-8"));
        req->res.content_length = (size_t)len;
        error_ostream_t *o = (error_ostream_t *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = error_ostream_send;
        o->body = h2o_iovec_init(json, (size_t)len);
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void cl_http_register_error_filter(h2o_pathconf_t *pathconf, size_t max_body)
{
    error_filter_t *f = (error_filter_t *)h2o_create_filter(pathconf, sizeof(*f));
    f->super.on_setup_ostream = on_setup_error_ostream;
    f->max_body = max_body;
}
