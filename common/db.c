#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrations.h"

/* Any 64-bit constant of the project's own; "camledgr" in ASCII. */
#define MIGRATION_LOCK_KEY "7161077148424660082"

const char *cl_db_error(const PGconn *conn, const PGresult *res)
{
    static __thread char buf[512];
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg)
        msg = res ? PQresultErrorMessage(res) : "";
    if ((!msg || !*msg) && conn)
        msg = PQerrorMessage(conn);
    if (!msg || !*msg)
        msg = "unknown error";
    snprintf(buf, sizeof(buf), "%s", msg);
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return buf;
}

int cl_db_result_is(const PGresult *res, const char *state)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s && strcmp(s, state) == 0;
}

PGconn *cl_db_connect(const char *conninfo, const char *app)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo ? conninfo : "", app, "10", NULL};
    /* expand_dbname lets dbname carry a whole connection string or URI. */
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        cl_error("database: connect failed: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        cl_error("database: connect failed: %s", cl_db_error(conn, NULL));
        PQfinish(conn);
        return NULL;
    }
    PQclear(PQexec(conn, "SET TIME ZONE 'UTC'; SET client_min_messages = warning"));
    return conn;
}

int cl_db_schema_required(void)
{
    return cl_migrations_count;
}

int cl_db_schema_version(PGconn *conn)
{
    /* Two statements: a query naming a missing table fails to parse. */
    PGresult *res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cl_error("database: reading the schema version failed: %s", cl_db_error(conn, res));
        PQclear(res);
        return -EIO;
    }
    int exists = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!exists)
        return 0;
    res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cl_error("database: reading the schema version failed: %s", cl_db_error(conn, res));
        PQclear(res);
        return -EIO;
    }
    int v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

int cl_db_schema_check(PGconn *conn, const char *prog)
{
    int have = cl_db_schema_version(conn);
    if (have < 0)
        return have;
    int need = cl_db_schema_required();
    if (have < need) {
        cl_error("database: schema is at version %d, %s needs %d: "
                 "run 'camledger-admin --db CONNINFO migrate' first", have, prog, need);
        return -EPROTO;
    }
    return 0;
}

static int exec_ok(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        cl_error("migrate: %s failed: %s", what, cl_db_error(conn, res));
        PQclear(res);
        return -EIO;
    }
    PQclear(res);
    return 0;
}

static int apply_one(PGconn *conn, const cl_migration_t *m, int *applied)
{
    if (exec_ok(conn, "BEGIN", "BEGIN") < 0)
        return -EIO;
    if (exec_ok(conn, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", "lock") < 0)
        goto rollback;
    if (exec_ok(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version integer PRIMARY KEY,"
                      " name text NOT NULL,"
                      " applied_at timestamptz NOT NULL DEFAULT now())",
                "creating schema_migrations") < 0)
        goto rollback;

    char version[16];
    snprintf(version, sizeof(version), "%d", m->version);
    const char *params[2] = {version, m->name};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cl_error("migrate: %s: %s", m->name, cl_db_error(conn, res));
        PQclear(res);
        goto rollback;
    }
    int done = PQntuples(res) > 0;
    PQclear(res);
    if (done)
        return exec_ok(conn, "COMMIT", "COMMIT");

    res = PQexec(conn, m->sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        cl_error("migrate: %s failed: %s", m->name, cl_db_error(conn, res));
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        cl_error("migrate: %s: recording it failed: %s", m->name, cl_db_error(conn, res));
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    if (exec_ok(conn, "COMMIT", "COMMIT") < 0)
        return -EIO;
    cl_info("migrate: applied %s", m->name);
    (*applied)++;
    return 0;

rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -EIO;
}

int cl_db_migrate(PGconn *conn, int *applied)
{
    *applied = 0;
    for (int i = 0; i < cl_migrations_count; i++) {
        int err = apply_one(conn, &cl_migrations[i], applied);
        if (err)
            return err;
    }
    return 0;
}
