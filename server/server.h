/* camledger-server internals: workers (one libuv loop, H2O context and
 * database pool per thread), the per-request call state, and the pieces the
 * route handlers share. */
#ifndef CL_SERVER_H
#define CL_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o.h>
#include <jansson.h>
#include <uv.h>

#include "pg.h"
#include "uri.h"

/* Roles, as a bit set for route tables. */
enum {
    CL_ROLE_INVESTIGATOR = 1,
    CL_ROLE_ADMIN = 2,
    CL_ROLE_AUDITOR = 4,
    CL_ROLE_ANY = 7,
};

typedef struct cl_server_config {
    const char *conninfo;
    int pool_size;            /* database connections per worker */
    size_t max_json_body;     /* bytes */
    size_t max_csv_body;      /* bytes */
    int64_t max_window_secs;  /* longest footage window */
    int auth_cache_secs;      /* how long a token lookup is trusted */
} cl_server_config_t;

typedef struct cl_auth_entry {
    char sha256_hex[65];
    uint8_t auth_slot;        /* the token cache's slot: the hash's first byte */
    int user_id;
    int role;
    char name[201];
    uint64_t expires_ns;
} cl_auth_entry_t;

#define CL_AUTH_CACHE_SLOTS 256

typedef struct cl_worker {
    int index;
    const cl_server_config_t *config;
    uv_loop_t loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    uv_tcp_t listener;
    int listening;
    cl_pg_pool_t *pg;
    uv_async_t stop;
    uv_timer_t tick;
    int stopping;
    int inflight;
    uint64_t stop_deadline_ns;
    cl_auth_entry_t auth[CL_AUTH_CACHE_SLOTS];
    /* Published for /metrics, read by any worker. */
    atomic_int pool_up, pool_busy, pool_queued;
} cl_worker_t;

typedef struct cl_route cl_route_t;
typedef struct cl_call cl_call_t;

/* A route handler starts the work for an authorised call: it answers or
 * starts a query whose result answers. */
typedef void (*cl_route_fn)(cl_call_t *call);

struct cl_route {
    const char *method;
    const char *pattern;      /* "/v1/cameras/{}/footage": {} is one segment */
    int roles;                /* 0: no token needed */
    cl_route_fn fn;
    const char *name;         /* for metrics */
};

/* Per-request state, allocated from the request's pool with a dispose
 * callback: when the client goes away the pending query is cancelled. */
struct cl_call {
    h2o_req_t *req;           /* NULL once the request is gone */
    cl_worker_t *worker;
    const cl_route_t *route;
    int route_index;
    cl_pg_query_t *q;
    uint64_t start_ns;
    char sha256_hex[65];
    uint8_t auth_slot;        /* the token cache's slot: the hash's first byte */
    int user_id;
    int role;
    char user_id_text[16];
    const char *args[CL_ROUTE_MAX_ARGS]; /* path segments matched by {} (decoded) */
    cl_param_t *params;       /* query string (decoded) */
    size_t n_params;
    const char *body_text;    /* NUL-terminated copy of the body, or NULL */
    size_t body_len;
};

/* The routes, in routes.c. */
extern const cl_route_t cl_routes[];
extern const size_t cl_routes_count;

/* Entry point for every request (http.c). */
int cl_http_on_req(h2o_handler_t *self, h2o_req_t *req);
/* Makes the error answers H2O gives by itself (413 over max_body, 400 for a
 * malformed request) use the JSON error shape. Register it on every path
 * configuration, the host's fallback path included. */
void cl_http_register_error_filter(h2o_pathconf_t *pathconf, size_t max_body);

/* Answers with a JSON body (copied) and the status. */
void cl_call_send_json(cl_call_t *call, int status, const char *json, size_t len);
/* Answers {"error": {"code": code, "message": message}}. */
void cl_call_send_error(cl_call_t *call, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Runs sql (which yields one row: status integer, body jsonb) and answers
 * with it; SQL errors are mapped to HTTP errors. */
void cl_call_sql(cl_call_t *call, const char *sql, int nparams, const char *const *params);
/* Runs sql and hands the raw result to cb (res NULL: database unavailable).
 * The call is still live inside cb. */
void cl_call_query(cl_call_t *call, const char *sql, int nparams, const char *const *params,
                   void (*cb)(cl_call_t *call, PGresult *res));
/* Maps a failed result to an HTTP error answer. */
void cl_call_send_db_error(cl_call_t *call, PGresult *res);

/* The value of query parameter name, or NULL. */
const char *cl_call_param(const cl_call_t *call, const char *name);
/* The request header named name (lower case), or NULL; copied, NUL-terminated. */
const char *cl_call_header(cl_call_t *call, const char *name);
/* Checks the body: present, within the limit, valid UTF-8 JSON object for
 * JSON routes. Answers the error and returns -1 when it is not. */
int cl_call_json_body(cl_call_t *call);

/* Metrics (metrics.c). */
void cl_metrics_init(size_t n_routes);
void cl_metrics_record(int route_index, int status, uint64_t elapsed_ns);
void cl_metrics_db_error(void);
void cl_metrics_auth_failure(void);
/* Renders the Prometheus text format into a malloc'ed buffer. */
char *cl_metrics_render(cl_worker_t *workers, int n_workers, size_t *len);
extern cl_worker_t *cl_workers;
extern int cl_workers_count;

/* CSV (csv.c): parses a camera import body into
 * [{"line": N, "fields": {...}}, ...]. Returns NULL with a message in err on
 * a malformed file. */
json_t *cl_csv_cameras(const char *text, size_t len, char *err, size_t errlen);

#endif
