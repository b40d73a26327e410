/* The setting of the camledger-server integration tests (itest_http_*): a
 * database of the group's own with two stations and six users, optionally
 * recordings made with the ffmpeg CLI and indexed by camledger-indexer, and
 * the real server over real HTTP; helpers to ask it and to check its JSON
 * field by field. Strings and JSON values the helpers return live until
 * cl_fx_teardown (the scratch arena); every helper fails the test on error. */
#ifndef CL_HTTP_FIXTURE_H
#define CL_HTTP_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "http_client.h"
#include "testlib.h"

#define LAYOUT "{camera}/%Y-%m-%d/%H-%M-%S"
#define TZ "Asia/Ho_Chi_Minh"
/* 2025-11-21 21:40:00 in Asia/Ho_Chi_Minh (UTC+7) is 14:40:00Z. */
#define BASE_EPOCH 1763736000LL
#define JSON_CT "application/json; charset=utf-8"

/* ------------------------------------------------------------ scratch memory */

/* Keeps p (malloc'ed) or j (a reference) until the teardown; returns it. */
void *cl_fx_keep(void *p);
json_t *cl_fx_keepj(json_t *j);
/* printf into the arena. */
char *cl_fx_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Percent-encodes everything but RFC 3986's unreserved characters. */
char *cl_fx_enc(const char *s);
/* A JSON value as compact text (the value is consumed). */
char *cl_fx_dump(json_t *v);

/* ------------------------------------------------------------ the setting */

typedef struct cl_fx_user {
    const char *name, *role, *station;
    char token[80];
} cl_fx_user_t;

#define CL_FX_N_USERS 6
extern char *cl_fx_tmp;           /* scratch directory of the group */
extern char *cl_fx_conninfo;
extern PGconn *cl_fx_conn;
extern int cl_fx_port;            /* the server of the group */
extern double *cl_fx_oracle;      /* keyframe times of the fixture, seconds from its first frame */
extern size_t cl_fx_n_oracle;
extern cl_fx_user_t cl_fx_users[CL_FX_N_USERS];
#define INV1 (cl_fx_users[0].token)
#define INV2 (cl_fx_users[1].token)
#define INV3 (cl_fx_users[2].token)
#define ADM1 (cl_fx_users[3].token)
#define ADM2 (cl_fx_users[4].token)
#define AUD (cl_fx_users[5].token)
#define BAD_TOKEN "0000000000000000000000000000000000000000000000000000000000000000"

/* Audit entries the API calls so far must have written. */
extern int cl_fx_audit_n;

/* Requests made, for the extraction counts. */
typedef struct cl_fx_tally {
    long long id;
    char case_number[80], station[8], camera[160], month[8];
    double secs;
    int approved, rejected;
} cl_fx_tally_t;
extern cl_fx_tally_t cl_fx_tallies[128];
extern size_t cl_fx_n_tallies;

/* Notes the station of a case opened by the test, for the tally. */
void cl_fx_note_case(const char *number, const char *station);

/* Creates database db (stations BT and HK, the users with their tokens),
 * with_recordings the indexed recordings of cameras BT-001 and BT-NEW and
 * the oracle, and starts the server. Returns 0 (a group set-up). */
int cl_fx_setup(const char *db, int with_recordings);
/* Stops the server, drops the database, frees the arena; -1 when the server
 * did not exit cleanly or its stderr holds a sanitizer report. */
int cl_fx_teardown(void);

void cl_fx_run_ok(const char *what, int rc);
/* The last non-empty line of text, in place. */
char *cl_fx_last_line(char *text);
/* Adds user u to database db with camledger-admin; its token goes to token. */
char *cl_fx_add_user(const char *db, const cl_fx_user_t *u, char *token, size_t len);
/* Fails when a sanitizer reported anything in the server's stderr file. */
void cl_fx_check_sanitizer_log(const char *file);

/* ------------------------------------------------------------ HTTP */

typedef struct cl_fx_answer {
    int status;
    const char *ctype;     /* NULL when absent */
    const char *body;
    size_t len;
    json_t *json;          /* NULL when the body is not JSON */
} cl_fx_answer_t;

cl_fx_answer_t cl_fx_send_to(int to_port, const char *method, const char *path, const char *token,
                             const char *headers, const char *body, size_t len);
/* Every error is {"error": {"code": ..., "message": ...}} (an import's also
 * carries "lines"). */
void cl_fx_check_error_shape(const cl_fx_answer_t *a, const char *what);
/* Sends to the server of the group; any answer below 500, and errors in
 * their shape. */
cl_fx_answer_t cl_fx_ask(const char *method, const char *path, const char *token, const char *headers,
                         const char *body, size_t len);
/* A JSON request (body may be NULL) answered with status want; returns the
 * parsed body. */
json_t *cl_fx_api(int want, const char *method, const char *path, const char *token, const char *body);
/* A request refused with status want and error code; returns the error. */
json_t *cl_fx_api_err(int want, const char *code, const char *method, const char *path,
                      const char *token, const char *body);

/* ------------------------------------------------------------ JSON checks */

json_t *cl_fx_field(json_t *o, const char *key);
const char *cl_fx_str(json_t *o, const char *key);
long long cl_fx_num_i(json_t *o, const char *key);
double cl_fx_num(json_t *o, const char *key);

#define expect_str(o, key, want) assert_string_equal(cl_fx_str((o), (key)), (want))
#define expect_int(o, key, want) assert_int_equal(cl_fx_num_i((o), (key)), (want))
#define expect_num(o, key, want) assert_true(cl_fx_num((o), (key)) == (want))
#define expect_null(o, key) assert_true(json_is_null(cl_fx_field((o), (key))))
#define expect_bool(o, key, want) assert_true(json_is_boolean(cl_fx_field((o), (key))) && \
                                              json_boolean_value(cl_fx_field((o), (key))) == (want))

/* The object has exactly these keys (comma-separated). */
void cl_fx_expect_keys(json_t *o, const char *keys);
/* RFC 3339 UTC with milliseconds: 2025-11-21T14:40:00.000Z. */
void cl_fx_expect_time_format(const char *t);
/* The UTC text of BASE_EPOCH + ms. */
char *cl_fx_at_ms(long long ms);
/* A timestamp column of one row, as the API writes it. */
char *cl_fx_db_time(const char *sql, const char *param);

/* Footage spans as [start, end, status or reason]. */
typedef struct cl_fx_span {
    long long start_ms, end_ms;
    const char *kind;
} cl_fx_span_t;
void cl_fx_expect_spans(json_t *arr, const char *kind_key, const cl_fx_span_t *want, size_t n);

/* The value on the line of a metrics text starting with line_start, or -1. */
long long cl_fx_metric(const char *text, const char *line_start);

/* ------------------------------------------------------------ helpers on the API */

extern const char *const cl_fx_camera_keys;
/* With the outcome of the cut (sql/0004_extractions.sql). */
extern const char *const cl_fx_request_keys;

/* Opens a case (201) in the expected station; counts it for the audit. */
json_t *cl_fx_open_case(const char *token, const char *number, const char *title, const char *station,
                        const char *expect_station);
/* All the outcome of the cut null. */
void cl_fx_expect_not_cut(json_t *r);
/* Asks for footage (201); records the request in the tally. */
json_t *cl_fx_ask_footage(const char *token, const char *number, const char *camera,
                          const char *from, const char *to, double secs, const char *reason,
                          const char *key);
cl_fx_tally_t *cl_fx_tally_of(long long id);
/* approve, reject or cancel: 200 and the new status, or an error. */
json_t *cl_fx_act(const char *token, long long id, const char *action, const char *reason, int want,
                  const char *code);

/* ------------------------------------------------------------ itest_http_api */

/* The walk through the API shares one database and one server, in this
 * order: every test builds on what the ones before made (cameras, cases,
 * requests), and the audit and metrics tests count all of it. */
void test_http_health_and_http2(void **state);
void test_http_cameras_register_get_patch(void **state);
void test_http_cameras_list_and_radius(void **state);
void test_http_cameras_import_csv(void **state);
void test_http_footage_segments_and_gaps(void **state);
void test_http_keyframes_exact(void **state);
void test_http_cases(void **state);
void test_http_requests_life_cycle(void **state);
void test_http_requests_idempotent(void **state);
void test_http_role_matrix(void **state);
void test_http_bad_input_is_4xx(void **state);
void test_http_audit_extractions(void **state);
void test_http_audit_log_and_chain(void **state);
void test_http_metrics(void **state);

#endif
