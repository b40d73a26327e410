/* Helpers shared by the integration and end-to-end tests: temporary
 * directories, running programs, making fixtures with the ffmpeg CLI,
 * reading the ffprobe oracle, and private databases. */
#ifndef CL_TESTLIB_H
#define CL_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <libpq-fe.h>

/* A fresh directory under $TMPDIR (or /tmp), removed by cl_t_rmtree. The
 * returned string is malloc'ed. */
char *cl_t_mkdtemp(const char *tag);
void cl_t_rmtree(const char *dir);

/* Runs a shell command line built printf-style; returns its exit status
 * (or 128+signal). Output goes to the test's stdout/stderr. */
int cl_t_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Like cl_t_sh, but captures stdout into a malloc'ed string (*out). */
int cl_t_sh_capture(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One `camledger-indexer --once --stable-secs 0` pass of root (layout, tz)
 * with extra arguments (may be NULL); stdout and stderr into *out. */
int cl_t_index_once(char **out, const char *conninfo, const char *root, const char *layout,
                    const char *tz, const char *extra);

/* The whole file at path in a malloc'ed buffer (16 spare bytes after it);
 * fails the test when it cannot be read or is empty. */
unsigned char *cl_t_read_file(const char *path, size_t *len);
/* Writes buf to path; fails the test on error. */
void cl_t_write_file(const char *path, const unsigned char *buf, size_t len);

/* Makes the directories of path's parent, like mkdir -p. */
void cl_t_mkparents(const char *path);

/* The ffprobe oracle: keyframe pts times (seconds) of the first video stream,
 * in presentation order, and the smallest pts of any video packet (the first
 * frame). Returns the count; *kf is malloc'ed. Fails the test on error. */
size_t cl_t_oracle_keyframes(const char *file, double **kf, double *first_pts);

/* The path of a built program from the environment (CL_INDEXER, CL_ADMIN). */
const char *cl_t_prog(const char *env_name);

/* A database of its own for one test: created from the libpq defaults,
 * migrated with camledger-admin, and dropped by cl_t_db_drop. Returns the
 * conninfo string (static storage) and an open connection in *conn. */
const char *cl_t_db_create(const char *name, PGconn **conn);
void cl_t_db_drop(const char *name, PGconn *conn);

/* Adds a user with camledger-admin (station may be NULL) and returns the
 * token it printed on its last line (malloc'ed, 64 hex digits); fails the
 * test otherwise. */
char *cl_t_user_token(const char *conninfo, const char *name, const char *role,
                      const char *station);

/* Runs a query and returns the first column of the first row as a
 * malloc'ed string (NULL for SQL NULL or no row). Fails the test on error. */
char *cl_t_query1(PGconn *conn, const char *sql, ...);
/* Runs a statement; fails the test on error. */
void cl_t_exec(PGconn *conn, const char *sql);
/* Runs a query with text parameters (NULL-terminated), returns the result;
 * fails the test on error. */
PGresult *cl_t_query(PGconn *conn, const char *sql, ...);

#endif
