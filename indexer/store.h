/* The indexer's side of PostgreSQL: what is already known under a root, and
 * writing recordings in batched transactions. Used from the loop thread only.
 *
 * Every call that talks to the database survives a database that goes away:
 * it reconnects with backoff until the database answers again, or gives up
 * and returns -ECONNRESET once the retry_secs given to cl_store_new have
 * passed or *stop has become non-zero. Nothing is half written: a batch is
 * one transaction. */
#ifndef CL_STORE_H
#define CL_STORE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "probe.h"
#include "timefmt.h"

typedef struct cl_store cl_store_t;

/* A file already in the index. */
typedef struct cl_known {
    char *path;
    int64_t id;
    int64_t size;
    cl_time_t mtime;
    int deleted;
    int seen; /* set by the scanner */
} cl_known_t;

/* A row to write: one recording file and what the probe found. */
typedef struct cl_recording {
    char *path;
    char camera[129];
    int64_t size;
    cl_time_t mtime;
    cl_time_t start, end;       /* CL_TIME_NONE when unknown */
    const char *time_source;    /* "name", "creation_time", "mtime" or NULL */
    cl_probe_result_t probe;
} cl_recording_t;

/* Connects and checks the schema. retry_secs bounds how long a lost
 * connection is retried (< 0: for ever, until *stop). NULL after logging. */
cl_store_t *cl_store_new(const char *conninfo, int retry_secs, volatile sig_atomic_t *stop);
void cl_store_free(cl_store_t *store);

/* Loads the recordings whose path starts with prefix (a root with its
 * trailing '/'), sorted by path in byte order. *rows is malloc'ed; free with
 * cl_store_known_free. */
int cl_store_load_known(cl_store_t *store, const char *prefix, cl_known_t **rows, size_t *n);
void cl_store_known_free(cl_known_t *rows, size_t n);

/* Writes recs (reordered by path) in one transaction: unknown camera codes
 * get an unregistered camera row, each recording is inserted or replaces the
 * row of the same camera and path. A row the database refuses is logged and
 * left out (*failed counts them); the others are written. */
int cl_store_write(cl_store_t *store, cl_recording_t *recs, size_t n, size_t *failed);

/* Marks the recordings ids as deleted (now gone from disk) unless they are
 * already; *marked counts the rows changed. */
int cl_store_mark_deleted(cl_store_t *store, const int64_t *ids, size_t n, size_t *marked);

/* Runs one statement with text parameters (NULL for SQL NULL) and returns
 * its result in *res (the caller PQclears it), retrying through a lost
 * connection like every call here. Returns 0, -EIO when the database
 * refused the statement (the error is logged with what), or -ECONNRESET. */
int cl_store_exec(cl_store_t *store, const char *what, const char *sql, int nparams,
                  const char *const *params, PGresult **res);

#endif
