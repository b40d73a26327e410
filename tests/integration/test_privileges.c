/* Least privilege: camledger-server and camledger-indexer run as login roles
 * in the camledger_server and camledger_indexer groups (sql/0005, narrowed
 * to columns by sql/0006). The whole path works under them, every kind of
 * write each program makes included, and what each must not do is refused
 * by the database itself (SQLSTATE 42501). */
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
        "CREATE TABLE public.evil (x int)",
        "CREATE TEMP TABLE evil (x int)",
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
    /* A camera found on disk is a bare code: registering it is the admins'. */
    refused(idx, "camledger_indexer", "INSERT INTO cameras (code, registered) VALUES ('x', true)");
    refused(idx, "camledger_indexer", "INSERT INTO cameras (code, station_id) VALUES ('x', 1)");
    refused(idx, "camledger_indexer", "INSERT INTO cameras (code, name) VALUES ('x', 'x')");
    /* The server never writes recordings: that is the indexer's. */
    refused(srv, "camledger_server", "INSERT INTO recordings (camera_id, path, size, mtime, status) VALUES (1, '/x', 0, now(), 'ok')");
    refused(srv, "camledger_server", "UPDATE recordings SET status = 'ok'");
    /* Nor an extraction's outcome: the clip, its hash, the claim are the
     * indexer's, which cut and hashed it. */
    static const char *outcome[] = {
        "clip_path = '/etc/passwd'",
        "clip_sha256 = repeat('0', 64)",
        "clip_size = 1",
        "clip_duration_ms = 1",
        "manifest_path = '/etc/shadow'",
        "manifest_sha256 = repeat('0', 64)",
        "manifest_size = 1",
        "claimed_by = 'x'",
        "claimed_until = now()",
        "fulfilled_at = now()",
        "coverage = 1",
        "attempts = 0",
        "next_attempt_at = now()",
        "last_error = NULL",
        /* ... and what was asked, by whom, cannot change afterwards. */
        "requester_id = 1",
        "case_id = 1",
        "camera_id = 1",
        "from_time = now()",
        "to_time = now()",
        "reason = 'x'",
        "idempotency_key = 'x'",
        "created_at = now()",
    };
    char sql[256];
    for (size_t i = 0; i < sizeof(outcome) / sizeof(outcome[0]); i++) {
        snprintf(sql, sizeof(sql), "UPDATE requests SET %s", outcome[i]);
        refused(srv, "camledger_server", sql);
    }
    refused(srv, "camledger_server", "INSERT INTO requests (case_id, camera_id, from_time, to_time, reason, requester_id, clip_path) VALUES (1, 1, now(), now() + interval '1 s', 'x', 1, '/etc/passwd')");
    refused(srv, "camledger_server", "INSERT INTO requests (case_id, camera_id, from_time, to_time, reason, requester_id, status) VALUES (1, 1, now(), now() + interval '1 s', 'x', 1, 'fulfilled')");
    refused(srv, "camledger_server", "INSERT INTO requests (case_id, camera_id, from_time, to_time, reason, requester_id, decided_by) VALUES (1, 1, now(), now() + interval '1 s', 'x', 1, 1)");
    /* A case keeps its station and who opened it; a camera its code. */
    refused(srv, "camledger_server", "UPDATE cases SET station_id = 1");
    refused(srv, "camledger_server", "UPDATE cases SET created_by = 1");
    refused(srv, "camledger_server", "UPDATE cases SET number = 'x'");
    refused(srv, "camledger_server", "UPDATE cameras SET code = 'x'");
    refused(srv, "camledger_server", "UPDATE cameras SET created_at = now()");
    PQfinish(srv);
    PQfinish(idx);
}

/* A request the investigator makes (body) and the admin approves; its id. */
static long long approved_request(int port, const char *inv, const char *adm, const char *body)
{
    json_t *r = cl_http_json(port, 201, "POST", "/v1/requests", inv, body);
    long long id = json_integer_value(json_object_get(r, "id"));
    json_decref(r);
    char path[64];
    snprintf(path, sizeof(path), "/v1/requests/%lld/approve", id);
    json_decref(cl_http_json(port, 200, "POST", path, adm, NULL));
    return id;
}

static void test_privileges_whole_path_runs_under_the_roles(void **state)
{
    (void)state;
    /* cam1 and cam2 record; cam2 is found on disk before it is registered. */
    assert_int_equal(cl_t_sh("set -e; for c in cam1 cam2; do d='%s/rec/'$c'/" DAY "'; mkdir -p \"$d\" && "
                             "ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 "
                             "-t 20 -c:v libx264 -preset ultrafast -g 50 -y \"$d/21-40-00.mp4\"; done",
                             work), 0);
    char *out;
    const char *indexer_cmd = "'%s' --db '%s' --root '%s/rec' --layout '{camera}/%%Y-%%m-%%d/%%H-%%M-%%S'"
                              " --tz Asia/Ho_Chi_Minh --once --stable-secs 0 --exports '%s/exports' 2>&1";
    assert_int_equal(cl_t_sh_capture(&out, indexer_cmd, cl_t_prog("CL_INDEXER"), indexer_db, work, work), 0);
    assert_non_null(strstr(out, "indexed=2"));
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
    json_decref(cl_http_json(port, 200, "PATCH", "/v1/cameras/cam1", adm,
        "{\"address\": \"12 Lý Tự Trọng\", \"lat\": 10.776, \"lon\": 106.700}"));
    static const char csv[] = "code,name,station,owner_kind,owner_name\n"
                              "cam2,Tiệm vàng Kim Thành,Q1,business,Lê Thị Hoa\n"
                              "cam3,Nhà dân hẻm 5,Q1,household,Phạm Văn Tư\n";
    cl_http_resp_t resp;
    assert_int_equal(cl_http(port, "POST", "/v1/cameras/import", adm, "Content-Type: text/csv\r\n",
                             csv, strlen(csv), &resp), 0);
    json_t *imported = json_loads(resp.body, 0, NULL);
    if (resp.status != 201 || json_integer_value(json_object_get(imported, "imported")) != 2)
        fail_msg("CSV import under camledger_server: %d %s", resp.status, resp.body);
    json_decref(imported);
    cl_http_resp_free(&resp);
    json_decref(cl_http_json(port, 200, "PATCH", "/v1/cases/Q1-7", inv, "{\"title\": \"Mất cắp xe máy\"}"));
    /* Another case, solved then reopened; a request on it rejected, another
     * cancelled by its requester, one retried with its Idempotency-Key. */
    json_decref(cl_http_json(port, 201, "POST", "/v1/cases", inv, "{\"number\": \"Q1-8\", \"title\": \"Va chạm\"}"));
    json_decref(cl_http_json(port, 200, "PATCH", "/v1/cases/Q1-8", adm, "{\"status\": \"solved\"}"));
    json_decref(cl_http_json(port, 200, "PATCH", "/v1/cases/Q1-8", adm, "{\"status\": \"open\"}"));
    static const char other[] = "{\"case\": \"Q1-8\", \"camera\": \"cam1\", \"from\": \"" DAY "T21:40:00+07:00\","
                                " \"to\": \"" DAY "T21:40:05+07:00\", \"reason\": \"Xác minh\"}";
    long long ids[3];
    for (int i = 0; i < 3; i++) {
        int again = i == 2 ? 2 : 1;
        for (int k = 0; k < again; k++) {
            assert_int_equal(cl_http(port, "POST", "/v1/requests", inv,
                                     i == 2 ? "Content-Type: application/json\r\nIdempotency-Key: priv-1\r\n"
                                            : "Content-Type: application/json\r\n",
                                     other, strlen(other), &resp), 0);
            if (resp.status != 201)
                fail_msg("POST /v1/requests under camledger_server: %d %s", resp.status, resp.body);
            json_t *j = json_loads(resp.body, 0, NULL);
            long long got = json_integer_value(json_object_get(j, "id"));
            if (k == 0)
                ids[i] = got;
            else
                assert_int_equal(got, ids[i]);
            json_decref(j);
            cl_http_resp_free(&resp);
        }
    }
    /* The indexer does not decide: a pending request cannot be approved,
     * rejected or cancelled by it, though it may write requests.status. */
    PGconn *srv = login(server_db), *idx = login(indexer_db);
    static const char *decisions[] = {"approved", "rejected", "cancelled"};
    char sql[160];
    for (size_t i = 0; i < 3; i++) {
        snprintf(sql, sizeof(sql), "UPDATE requests SET status = '%s' WHERE id = %lld", decisions[i], ids[0]);
        refused(idx, "camledger_indexer", sql);
    }
    char path[64];
    snprintf(path, sizeof(path), "/v1/requests/%lld/reject", ids[0]);
    json_decref(cl_http_json(port, 200, "POST", path, adm, "{\"reason\": \"Ngoài phạm vi vụ việc\"}"));
    snprintf(path, sizeof(path), "/v1/requests/%lld/cancel", ids[1]);
    json_decref(cl_http_json(port, 200, "POST", path, inv, NULL));
    snprintf(path, sizeof(path), "/v1/requests/%lld/cancel", ids[2]);
    json_decref(cl_http_json(port, 200, "POST", path, inv, NULL));
    /* An approved request its requester cancels before it is cut. */
    long long withdrawn = approved_request(port, inv, adm, other);
    snprintf(path, sizeof(path), "/v1/requests/%lld/cancel", withdrawn);
    json_decref(cl_http_json(port, 200, "POST", path, inv, NULL));
    long long id = approved_request(port, inv, adm,
        "{\"case\": \"Q1-7\", \"camera\": \"cam1\", \"from\": \"" DAY "T21:40:02+07:00\","
        " \"to\": \"" DAY "T21:40:12+07:00\", \"reason\": \"Đối chiếu\"}");
    /* One whose recording has gone bad on disk since it was indexed (same
     * size and time, other bytes): its cut fails, and with one attempt
     * allowed the indexer records it failed. */
    long long broken = approved_request(port, inv, adm,
        "{\"case\": \"Q1-8\", \"camera\": \"cam2\", \"from\": \"" DAY "T21:40:02+07:00\","
        " \"to\": \"" DAY "T21:40:12+07:00\", \"reason\": \"Đối chiếu\"}");
    json_t *r;
    assert_int_equal(cl_t_sh("set -e; f='%s/rec/cam2/" DAY "/21-40-00.mp4'; "
                             "head -c $(stat -c %%s \"$f\") /dev/zero > \"$f.bad\" && touch -r \"$f\" \"$f.bad\" && "
                             "mv \"$f.bad\" \"$f\"", work), 0);
    /* The server does not record outcomes: only the indexer, which cut the
     * clip, may call an approved request fulfilled (or anything else that
     * ends it but a cancel); nor may the indexer cancel it. */
    static const char *outcomes[] = {"fulfilled", "partial", "unavailable", "failed"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(sql, sizeof(sql), "UPDATE requests SET status = '%s' WHERE id = %lld", outcomes[i], id);
        refused(srv, "camledger_server", sql);
    }
    snprintf(sql, sizeof(sql), "UPDATE requests SET status = 'cancelled' WHERE id = %lld", id);
    refused(idx, "camledger_indexer", sql);
    PQfinish(srv);
    PQfinish(idx);

    char once_more[600];
    snprintf(once_more, sizeof(once_more), "%s --max-attempts 1", indexer_cmd);
    assert_int_equal(cl_t_sh_capture(&out, once_more, cl_t_prog("CL_INDEXER"), indexer_db, work, work), 0);
    if (!strstr(out, "fulfil: fulfilled=1 ") || !strstr(out, " failed=1"))
        fail_msg("indexer under camledger_indexer: %s", out);
    free(out);
    snprintf(path, sizeof(path), "/v1/requests/%lld", broken);
    r = cl_http_json(port, 200, "GET", path, inv, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "failed");
    json_decref(r);
    snprintf(path, sizeof(path), "/v1/requests/%lld", id);
    r = cl_http_json(port, 200, "GET", path, inv, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "fulfilled");
    json_decref(r);
    snprintf(path, sizeof(path), "/v1/requests/%lld/clip", id);
    assert_int_equal(cl_http(port, "GET", path, inv, NULL, NULL, 0, &resp), 0);
    assert_int_equal(resp.status, 200);
    cl_http_resp_free(&resp);
    /* Every write above, by two roles, in one chain: the retried request
     * (same Idempotency-Key) is not written twice. */
    static const char *actions[] = {
        "camera.registered", "case.opened", "camera.updated", "camera.registered",
        "camera.registered", "case.updated", "case.opened", "case.solved", "case.reopened",
        "request.created", "request.created", "request.created", "request.rejected",
        "request.cancelled", "request.cancelled",
        "request.created", "request.approved", "request.cancelled",   /* withdrawn */
        "request.created", "request.approved",                        /* cut */
        "request.created", "request.approved",                        /* broken */
        "request.fulfilled", "request.failed", "request.downloaded",
    };
    const size_t n_actions = sizeof(actions) / sizeof(actions[0]);
    r = cl_http_json(port, 200, "GET", "/v1/audit/log", aud, NULL);
    json_t *entries = json_object_get(r, "entries");
    if (json_array_size(entries) != n_actions)
        fail_msg("audit log: %zu entries, expected %zu", json_array_size(entries), n_actions);
    for (size_t i = 0; i < n_actions; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(entries, i), "action")),
                            actions[i]);
    json_decref(r);
    r = cl_http_json(port, 200, "GET", "/v1/audit/verify", aud, NULL);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "entries")), (long long)n_actions);
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
