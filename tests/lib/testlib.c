#include "testlib.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *cl_t_mkdtemp(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *dir;
    if (!base || !*base)
        base = "/tmp";
    if (asprintf(&dir, "%s/cl-%s-XXXXXX", base, tag) < 0)
        fail_msg("out of memory");
    if (!mkdtemp(dir))
        fail_msg("mkdtemp %s: %s", dir, strerror(errno));
    return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void cl_t_rmtree(const char *dir)
{
    if (dir)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int wait_status(int st)
{
    if (st == -1)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int cl_t_sh(const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0)
        fail_msg("out of memory");
    va_end(ap);
    fflush(stdout);
    int st = system(cmd);
    free(cmd);
    return wait_status(st);
}

int cl_t_sh_capture(char **out, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0)
        fail_msg("out of memory");
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p)
        fail_msg("popen %s: %s", cmd, strerror(errno));
    free(cmd);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    if (!buf)
        fail_msg("out of memory");
    buf[len] = '\0';
    *out = buf;
    return wait_status(pclose(p));
}

int cl_t_index_once(char **out, const char *conninfo, const char *root, const char *layout,
                    const char *tz, const char *extra)
{
    return cl_t_sh_capture(out, "'%s' --db '%s' --root '%s' --layout '%s' --tz %s"
                           " --once --stable-secs 0 %s 2>&1", cl_t_prog("CL_INDEXER"), conninfo,
                           root, layout, tz, extra ? extra : "");
}

unsigned char *cl_t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)n + 16);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

void cl_t_write_file(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

void cl_t_mkparents(const char *path)
{
    char *copy = strdup(path);
    for (char *p = copy + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(copy, 0755);
            *p = '/';
        }
    }
    free(copy);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

size_t cl_t_oracle_keyframes(const char *file, double **kf, double *first_pts)
{
    char *out;
    int rc = cl_t_sh_capture(&out,
        "ffprobe -v error -select_streams v:0 -show_entries packet=pts_time,flags "
        "-of csv=p=0 '%s'", file);
    if (rc != 0)
        fail_msg("ffprobe %s exited %d", file, rc);
    size_t n = 0, cap = 64;
    double *v = malloc(cap * sizeof(*v));
    double first = 0;
    int have_first = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *comma = strchr(line, ',');
        if (!comma || strncmp(line, "N/A", 3) == 0)
            continue;
        double t = strtod(line, NULL);
        if (!have_first || t < first) {
            first = t;
            have_first = 1;
        }
        if (strchr(comma + 1, 'K')) {
            if (n == cap) {
                cap *= 2;
                v = realloc(v, cap * sizeof(*v));
            }
            v[n++] = t;
        }
    }
    free(out);
    qsort(v, n, sizeof(*v), cmp_double);
    *kf = v;
    *first_pts = first;
    return n;
}

const char *cl_t_prog(const char *env_name)
{
    const char *p = getenv(env_name);
    if (!p || !*p)
        fail_msg("%s is not set: run the tests through meson test", env_name);
    return p;
}

static char db_conninfo[512];

const char *cl_t_db_create(const char *name, PGconn **conn)
{
    PGconn *admin = PQconnectdb("dbname=postgres");
    if (PQstatus(admin) != CONNECTION_OK)
        fail_msg("PostgreSQL is not reachable through the libpq defaults "
                 "(PGHOST=%s): %s", getenv("PGHOST") ? getenv("PGHOST") : "",
                 PQerrorMessage(admin));
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    PQclear(PQexec(admin, sql));
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    PGresult *r = PQexec(admin, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
    snprintf(db_conninfo, sizeof(db_conninfo), "dbname=%s", name);
    int rc = cl_t_sh("'%s' --db '%s' migrate >/dev/null", cl_t_prog("CL_ADMIN"), db_conninfo);
    if (rc != 0)
        fail_msg("camledger-admin migrate exited %d", rc);
    *conn = PQconnectdb(db_conninfo);
    if (PQstatus(*conn) != CONNECTION_OK)
        fail_msg("connect %s: %s", db_conninfo, PQerrorMessage(*conn));
    return db_conninfo;
}

void cl_t_db_drop(const char *name, PGconn *conn)
{
    PQfinish(conn);
    PGconn *admin = PQconnectdb("dbname=postgres");
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    PQclear(PQexec(admin, sql));
    PQfinish(admin);
}

char *cl_t_user_token(const char *conninfo, const char *name, const char *role,
                      const char *station)
{
    char *out;
    int rc = cl_t_sh_capture(&out, "'%s' --db '%s' user add --name '%s' --role %s %s%s",
                             cl_t_prog("CL_ADMIN"), conninfo, name, role,
                             station ? "--station " : "", station ? station : "");
    if (rc != 0)
        fail_msg("camledger-admin user add %s exited %d", name, rc);
    size_t len = strlen(out);
    while (len > 0 && out[len - 1] == '\n')
        out[--len] = '\0';
    char *last = strrchr(out, '\n');
    char *tok = strdup(last ? last + 1 : out);
    free(out);
    assert_int_equal(strlen(tok), 64);
    return tok;
}

static PGresult *vquery(PGconn *conn, const char *sql, va_list ap)
{
    const char *params[16];
    int n = 0;
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL && n < 16)
        params[n++] = p;
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    return r;
}

PGresult *cl_t_query(PGconn *conn, const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PGresult *r = vquery(conn, sql, ap);
    va_end(ap);
    return r;
}

char *cl_t_query1(PGconn *conn, const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PGresult *r = vquery(conn, sql, ap);
    va_end(ap);
    char *v = NULL;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

void cl_t_exec(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
}
