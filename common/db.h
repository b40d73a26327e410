/* Database helpers shared by the daemons and camledger-admin: blocking
 * connection set-up, the schema version check and migrations. */
#ifndef CL_DB_H
#define CL_DB_H

#include <libpq-fe.h>

/* SQLSTATEs the callers act on. */
#define CL_SQLSTATE_DEADLOCK      "40P01"
#define CL_SQLSTATE_SERIALIZATION "40001"

/* Connects with a libpq connection string or URI ("" means libpq's own
 * defaults, as psql does), with application_name set to app. Returns the
 * connection or NULL after logging "database: connect failed: reason". */
PGconn *cl_db_connect(const char *conninfo, const char *app);

/* The schema version recorded in schema_migrations: >= 0, 0 when the table
 * does not exist, or -EIO after logging the error. */
int cl_db_schema_version(PGconn *conn);

/* The version this build needs (the number of embedded migrations). */
int cl_db_schema_required(void);

/* Checks that the schema is at least the version this build needs. On an
 * older one logs the command that upgrades it and returns -EPROTO. */
int cl_db_schema_check(PGconn *conn, const char *prog);

/* Applies the missing migrations in order, each in its own transaction under
 * an advisory lock, so two concurrent runs apply each once. *applied is set
 * to how many this call applied. Returns 0 or -EIO after logging. */
int cl_db_migrate(PGconn *conn, int *applied);

/* 1 when res failed with SQLSTATE state. */
int cl_db_result_is(const PGresult *res, const char *state);

/* The first line of the error on res (or conn when res is NULL), without the
 * "ERROR:" prefix and trailing newline, in a static thread-local buffer. */
const char *cl_db_error(const PGconn *conn, const PGresult *res);

#endif
