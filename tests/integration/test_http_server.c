/* camledger-server end to end, the process: the large-query path of the
 * database pool, refusals to start, and a database outage on a cluster of
 * its own. A database and a server of its own (no recordings). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_fixture.h"

#define DB "cl_itest_http_server"
#define DB_BARE "cl_itest_http_bare"

/* The large-query path of the database pool, reached from a token's first
 * use (the token lookup's answer starts the route's query). */
static void test_http_large_bodies_on_first_use_of_a_token(void **state)
{
    (void)state;
    /* Seconds are plenty; a stuck query must not hold the run for long. */
    cl_http_set_timeout(30);
    char *out;
    cl_fx_run_ok("token add", cl_t_sh_capture(&out, "'%s' --db '%s' token add --user '%s'", cl_t_prog("CL_ADMIN"),
                                        cl_fx_conninfo, cl_fx_users[0].name));
    char *fresh = cl_fx_fmt("%s", cl_fx_last_line(out));
    free(out);
    size_t len = 900000;
    char *body = cl_fx_keep(malloc(len + 1));
    int n = snprintf(body, len, "{\"number\":\"BIG-1\",\"title\":\"x\",\"padding\":\"");
    memset(body + n, 'a', len - (size_t)n - 2);
    memcpy(body + len - 2, "\"}", 3);
    cl_fx_api_err(400, "unknown_field", "POST", "/v1/cases", fresh, body);

    /* 2,500 rows of some 1.3 MB, the last one bad: the whole file is
     * checked, none kept. */
    cl_fx_run_ok("token add", cl_t_sh_capture(&out, "'%s' --db '%s' token add --user '%s'", cl_t_prog("CL_ADMIN"),
                                        cl_fx_conninfo, cl_fx_users[3].name));
    fresh = cl_fx_fmt("%s", cl_fx_last_line(out));
    free(out);
    char street[420];
    memset(street, 'x', sizeof(street) - 1);
    street[sizeof(street) - 1] = '\0';
    size_t cap = 2501 * 600, used = 0;
    char *csv = cl_fx_keep(malloc(cap));
    used += (size_t)snprintf(csv, cap, "code,name,station,owner_kind,address\n");
    for (int i = 0; i < 2500; i++)
        used += (size_t)snprintf(csv + used, cap - used, "BULK-%05d,Camera số %d phố Huế,BT,%s,"
                                 "\"Số %d, phố Huế, Hai Bà Trưng, Hà Nội, %s\"\n", i, i,
                                 i == 2499 ? "bogus" : "household", i, street);
    assert_true(used > 1000000);
    cl_fx_answer_t a = cl_fx_ask("POST", "/v1/cameras/import", fresh, "Content-Type: text/csv\r\n", csv, used);
    assert_int_equal(a.status, 400);
    json_t *e = cl_fx_field(a.json, "error");
    expect_str(e, "message", "1 of 2500 rows are invalid; nothing was imported");
    assert_int_equal(json_array_size(cl_fx_field(e, "lines")), 1);
    expect_int(json_array_get(cl_fx_field(e, "lines"), 0), "line", 2501);
    cl_fx_api_err(404, "camera_not_found", "GET", "/v1/cameras/BULK-0000", fresh, NULL);
}

static int default_timeout(void **state)
{
    (void)state;
    cl_http_set_timeout(0);
    return 0;
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
    rc = cl_t_sh_capture(&out, "timeout 20 '%s' --db '%s' --listen 127.0.0.1:%d 2>&1", prog, cl_fx_conninfo, cl_fx_port);
    if (rc != 1 || !strstr(out, "in use"))
        fail_msg("a second server on port %d: exit %d, %s", cl_fx_port, rc, out);
    free(out);
    cl_fx_api(200, "GET", "/healthz", NULL, NULL);

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
    outage_dir = cl_fx_fmt("%s/cl-outage-pg-%d", base, (int)getpid());
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
    const char *db2 = cl_fx_fmt("host=%s port=5498 user=%s dbname=cl_outage", host, user);
    PGconn *admin = PQconnectdb(cl_fx_fmt("host=%s port=5498 user=%s dbname=postgres", host, user));
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    PGresult *r = PQexec(admin, "CREATE DATABASE cl_outage");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(admin);
    cl_fx_run_ok("migrate", cl_t_sh("'%s' --db '%s' migrate >/dev/null", cl_t_prog("CL_ADMIN"), db2));
    cl_fx_run_ok("station add", cl_t_sh("'%s' --db '%s' station add --code BT --name 'Bến Thành' >/dev/null",
                                  cl_t_prog("CL_ADMIN"), db2));
    cl_fx_user_t u1 = {"Nguyễn Văn Trực", "investigator", "BT", ""};
    cl_fx_add_user(db2, &u1, u1.token, sizeof(u1.token));
    char *err = cl_fx_fmt("%s/outage-server.err", cl_fx_tmp);
    int p2;
    outage_server = cl_t_server_start(db2, cl_fx_fmt("--threads 2 --pool 2 2>>'%s'", err), &p2);
    cl_fx_answer_t a = cl_fx_send_to(p2, "GET", "/v1/cases", u1.token, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    const char *before = "{\"number\":\"OUT-1\",\"title\":\"Trước sự cố\"}";
    a = cl_fx_send_to(p2, "POST", "/v1/cases", u1.token, "Content-Type: application/json\r\n", before,
                strlen(before));
    assert_int_equal(a.status, 201);

    /* The database goes away: 503 at once, never a hang, never a 500. */
    cl_fx_run_ok("pg.sh stop", cl_t_sh("CL_PGPORT=5498 bash '%s/scripts/pg.sh' stop '%s'", src, outage_dir));
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
            a = cl_fx_send_to(p2, during[i].method, during[i].path, during[i].auth ? u1.token : NULL,
                        b ? "Content-Type: application/json\r\n" : NULL, b, b ? strlen(b) : 0);
            if (a.status != 503)
                fail_msg("%s %s during the outage: %d %s", during[i].method, during[i].path, a.status, a.body);
            cl_fx_check_error_shape(&a, "outage");
            expect_str(cl_fx_field(a.json, "error"), "code", "database_unavailable");
            assert_true(since(&t1) < 5);
        }
        /* A fresh token cannot be checked either: 503, not 401. */
        a = cl_fx_send_to(p2, "GET", "/v1/cases", BAD_TOKEN, NULL, NULL, 0);
        assert_int_equal(a.status, 503);
        usleep(300000);
    }
    /* The server is alive and says why; the pool gauge is published once a
     * second. */
    for (int i = 0; i < 50; i++) {
        a = cl_fx_send_to(p2, "GET", "/metrics", NULL, NULL, NULL, 0);
        assert_int_equal(a.status, 200);
        if (cl_fx_metric(a.body, "camledger_db_pool_connections{state=\"up\"} ") == 0)
            break;
        usleep(100000);
    }
    assert_true(cl_fx_metric(a.body, "camledger_db_errors_total ") >= 15);
    assert_int_equal(cl_fx_metric(a.body, "camledger_db_pool_connections{state=\"up\"} "), 0);

    /* It comes back: within seconds the same server answers again. */
    cl_fx_run_ok("pg.sh start", cl_t_sh("CL_PGPORT=5498 bash '%s/scripts/pg.sh' start '%s' >/dev/null", src, outage_dir));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status = 0;
    while (since(&t0) < 15) {
        a = cl_fx_send_to(p2, "GET", "/healthz", NULL, NULL, NULL, 0);
        status = a.status;
        if (status == 200)
            break;
        assert_int_equal(status, 503);
        usleep(100000);
    }
    assert_int_equal(status, 200);
    assert_true(since(&t0) < 10);
    a = cl_fx_send_to(p2, "GET", "/v1/cases/OUT-1", u1.token, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    expect_str(a.json, "title", "Trước sự cố");
    a = cl_fx_send_to(p2, "POST", "/v1/cases", u1.token, "Content-Type: application/json\r\n",
                "{\"number\":\"OUT-3\",\"title\":\"Sau sự cố\"}", strlen("{\"number\":\"OUT-3\",\"title\":\"Sau sự cố\"}"));
    assert_int_equal(a.status, 201);

    /* SIGTERM: a clean exit. */
    rc = cl_t_server_stop(outage_server);
    outage_server = 0;
    assert_int_equal(rc, 0);
    cl_fx_check_sanitizer_log(err);
    outage_teardown(NULL);
}

static int group_setup(void **state)
{
    (void)state;
    return cl_fx_setup(DB, 0);
}

static int group_teardown(void **state)
{
    (void)state;
    return cl_fx_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_http_large_bodies_on_first_use_of_a_token, default_timeout),
        cmocka_unit_test(test_http_server_refuses_to_start),
        cmocka_unit_test_teardown(test_http_database_outage, outage_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
