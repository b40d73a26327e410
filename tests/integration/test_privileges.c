/* Least privilege: camledger-server and camledger-indexer run as login roles
 * in the camledger_server and camledger_indexer groups (sql/0005). The
 * whole path works under them, and what each must not do is refused by the
 * database itself (SQLSTATE 42501). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http_client.h"
#include "testlib.h"

#define DB "cl_itest_privileges"
#define DAY "2026-11-21"

static PGconn *conn;
static const char *conninfo;
static char server_db[256], indexer_db[256];
static char *work;

static int setup(void **state)
{
    (void)state;
    conninfo = cl_t_db_create(DB, &conn);
    cl_t_exec(conn, "DO $$ BEGIN"
                    " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cl_t_server') THEN"
                    "  CREATE ROLE cl_t_server LOGIN IN ROLE camledger_server; END IF;"
                    " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cl_t_indexer') THEN"
                    "  CREATE ROLE cl_t_indexer LOGIN IN ROLE camledger_indexer; END IF;"
                    " END $$");
    snprintf(server_db, sizeof(server_db), "dbname=" DB " user=cl_t_server");
    snprintf(indexer_db, sizeof(indexer_db), "dbname=" DB " user=cl_t_indexer");
    work = cl_t_mkdtemp("privileges");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cl_t_db_drop(DB, conn);
    cl_t_rmtree(work);
    free(work);
    return 0;
}

/* Runs sql as the given login and expects the database to refuse it. */
static void refused(PGconn *as, const char *who, const char *sql)
{
    PGresult *r = PQexec(as, sql);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!state || strcmp(state, "42501") != 0)
        fail_msg("%s: %s: expected 42501 (insufficient privilege), got %s %s", who, sql,
                 state ? state : "success", PQresultErrorMessage(r));
    PQclear(r);
}

static PGconn *login(const char *info)
{
    PGconn *c = PQconnectdb(info);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("%s: %s", info, PQerrorMessage(c));
    return c;
}

static void test_privileges_forbidden_statements_are_refused(void **state)
{
    (void)state;
    PGconn *srv = login(server_db), *idx = login(indexer_db);
    const char *both[] = {
        "CREATE TABLE evil (x int)",
        "DROP TABLE recordings",
        "ALTER TABLE cameras ADD COLUMN evil int",
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
        "DELETE FROM recordings",
        "DELETE FROM requests",
        "DELETE FROM cameras",
        "UPDATE users SET role = 'admin'",
        "INSERT INTO tokens (user_id, sha256) VALUES (1, '\\x00')",
        "UPDATE schema_migrations SET version = 0",
    };
    for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
        refused(srv, "camledger_server", both[i]);
        refused(idx, "camledger_indexer", both[i]);
    }
    /* The indexer: nothing on cases, nothing on requests but the claim and
     * the outcome, never who asked for what. */
    refused(idx, "camledger_indexer", "INSERT INTO cases (number, title, station_id, created_by) VALUES ('x', 'x', 1, 1)");
    refused(idx, "camledger_indexer", "UPDATE cases SET title = 'x'");
    refused(idx, "camledger_indexer", "UPDATE requests SET reason = 'x'");
    refused(idx, "camledger_indexer", "UPDATE requests SET from_time = now()");
    refused(idx, "camledger_indexer", "UPDATE requests SET requester_id = 1");
    refused(idx, "camledger_indexer", "INSERT INTO requests (case_id, camera_id, from_time, to_time, reason, requester_id) VALUES (1, 1, now(), now() + interval '1 s', 'x', 1)");
    refused(idx, "camledger_indexer", "UPDATE cameras SET registered = true");
    refused(idx, "camledger_indexer", "SELECT * FROM tokens");
    /* The server never writes recordings: that is the indexer's. */
    refused(srv, "camledger_server", "INSERT INTO recordings (camera_id, path, size, mtime, status) VALUES (1, '/x', 0, now(), 'ok')");
    refused(srv, "camledger_server", "UPDATE recordings SET status = 'ok'");
    PQfinish(srv);
    PQfinish(idx);
}

static void test_privileges_whole_path_runs_under_the_roles(void **state)
{
    (void)state;
    assert_int_equal(cl_t_sh("set -e; d='%s/rec/cam1/" DAY "'; mkdir -p \"$d\" && "
                             "ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 "
                             "-t 20 -c:v libx264 -preset ultrafast -g 50 -y \"$d/21-40-00.mp4\"", work), 0);
    char *out;
    const char *indexer_cmd = "'%s' --db '%s' --root '%s/rec' --layout '{camera}/%%Y-%%m-%%d/%%H-%%M-%%S'"
                              " --tz Asia/Ho_Chi_Minh --once --stable-secs 0 --exports '%s/exports' 2>&1";
    assert_int_equal(cl_t_sh_capture(&out, indexer_cmd, cl_t_prog("CL_INDEXER"), indexer_db, work, work), 0);
    assert_non_null(strstr(out, "indexed=1"));
    free(out);

    assert_int_equal(cl_t_sh("'%s' --db '%s' station add --code Q1 --name 'Công an Quận 1' >/dev/null",
                             cl_t_prog("CL_ADMIN"), conninfo), 0);
    char *adm = cl_t_user_token(conninfo, "Võ Thị Sáu", "admin", "Q1");
    char *inv = cl_t_user_token(conninfo, "Đặng Văn Lâm", "investigator", "Q1");
    char *aud = cl_t_user_token(conninfo, "Hồ Xuân Hương", "auditor", NULL);
    int port;
    pid_t server = cl_t_server_start(server_db, "--threads 1", &port);
    json_decref(cl_http_json(port, 201, "POST", "/v1/cameras", adm,
        "{\"code\": \"cam1\", \"name\": \"Cổng trường\", \"station\": \"Q1\", \"owner_kind\": \"agency\","
        " \"retention_days\": 7}"));
    json_decref(cl_http_json(port, 201, "POST", "/v1/cases", inv, "{\"number\": \"Q1-7\", \"title\": \"Mất cắp\"}"));
    json_t *r = cl_http_json(port, 201, "POST", "/v1/requests", inv,
        "{\"case\": \"Q1-7\", \"camera\": \"cam1\", \"from\": \"" DAY "T21:40:02+07:00\","
        " \"to\": \"" DAY "T21:40:12+07:00\", \"reason\": \"Đối chiếu\"}");
    long long id = json_integer_value(json_object_get(r, "id"));
    json_decref(r);
    char path[64];
    snprintf(path, sizeof(path), "/v1/requests/%lld/approve", id);
    json_decref(cl_http_json(port, 200, "POST", path, adm, NULL));

    assert_int_equal(cl_t_sh_capture(&out, indexer_cmd, cl_t_prog("CL_INDEXER"), indexer_db, work, work), 0);
    assert_non_null(strstr(out, "fulfil: fulfilled=1"));
    free(out);
    snprintf(path, sizeof(path), "/v1/requests/%lld", id);
    r = cl_http_json(port, 200, "GET", path, inv, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "fulfilled");
    json_decref(r);
    snprintf(path, sizeof(path), "/v1/requests/%lld/clip", id);
    cl_http_resp_t resp;
    assert_int_equal(cl_http(port, "GET", path, inv, NULL, NULL, 0, &resp), 0);
    assert_int_equal(resp.status, 200);
    cl_http_resp_free(&resp);
    r = cl_http_json(port, 200, "GET", "/v1/audit/verify", aud, NULL);
    assert_true(json_is_true(json_object_get(r, "ok")));
    /* camera.registered, case.opened, request.created, .approved, .fulfilled,
     * .downloaded: written by two roles, one chain. */
    assert_int_equal(json_integer_value(json_object_get(r, "entries")), 6);
    json_decref(r);
    assert_int_equal(cl_t_server_stop(server), 0);
    free(adm);
    free(inv);
    free(aud);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_privileges_forbidden_statements_are_refused),
        cmocka_unit_test(test_privileges_whole_path_runs_under_the_roles),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
