/* A pool of non-blocking libpq connections driven by one libuv loop.
 *
 * Queries are queued and run on the first idle connection; the callback gets
 * the result (owned by the pool: do not PQclear it; it is valid during the
 * callback) or NULL when the database is unavailable. A connection that
 * breaks, or whose connection attempt gets no answer within 5 s, is
 * re-established in the background with backoff; while none is up, queries
 * fail at once instead of waiting. One pool per loop; not thread-safe. */
#ifndef CL_PG_H
#define CL_PG_H

#include <libpq-fe.h>
#include <uv.h>

typedef struct cl_pg_pool cl_pg_pool_t;
typedef struct cl_pg_query cl_pg_query_t;

/* res is NULL when the database is unavailable (connection lost, none up). */
typedef void (*cl_pg_cb)(void *data, PGresult *res);

/* Creates a pool of size connections to conninfo and starts connecting.
 * NULL on out of memory. */
cl_pg_pool_t *cl_pg_pool_new(uv_loop_t *loop, const char *conninfo, int size);

/* Closes every connection; queued queries get NULL. done runs when all
 * handles are closed (after which the pool is freed). */
void cl_pg_pool_close(cl_pg_pool_t *pool, void (*done)(void *), void *data);

/* Queues sql with nparams text parameters (NULL for SQL NULL); the values
 * are copied. Returns 0, after which cb is called exactly once (at once,
 * before this returns, when the database is known to be down), or -ENOMEM
 * (cb is never called). *handle is set to what cl_pg_cancel takes while the
 * query is pending, NULL when cb already ran; the caller clears its copy in
 * cb. */
int cl_pg_query(cl_pg_pool_t *pool, const char *sql, int nparams, const char *const *params,
                cl_pg_cb cb, void *data, cl_pg_query_t **handle);

/* The caller lost interest (the client went away): cb will not be called. */
void cl_pg_cancel(cl_pg_query_t *q);

/* Connections up and connections running a query, for metrics. */
void cl_pg_pool_stats(const cl_pg_pool_t *pool, int *up, int *busy, int *queued);

/* 1 when at least one connection is up. */
int cl_pg_pool_available(const cl_pg_pool_t *pool);

#endif
