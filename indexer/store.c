#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "kfindex.h"
#include "log.h"

struct cl_store {
    char *conninfo;
    PGconn *conn;
    int retry_secs;
    volatile sig_atomic_t *stop;
};

#define TS_FROM_US(n) "timestamptz 'epoch' + $" #n "::bigint * interval '1 microsecond'"

static const char sql_upsert_camera[] =
    "INSERT INTO cameras (code) VALUES ($1) ON CONFLICT (code) DO NOTHING";

static const char sql_upsert_recording[] =
    "INSERT INTO recordings AS r (camera_id, path, size, mtime, status, error, container,"
    " codec, width, height, fps, has_audio, start_time, end_time, time_source,"
    " keyframe_count, keyframes, bytes_read, indexed_at, deleted_at)"
    " SELECT c.id, $2, $3, " TS_FROM_US(4) ", $5, $6, $7, $8, $9, $10, $11, $12, "
    TS_FROM_US(13) ", " TS_FROM_US(14) ", $15, $16, $17, $18, now(), NULL"
    " FROM cameras c WHERE c.code = $1"
    " ON CONFLICT (camera_id, path) DO UPDATE SET"
    " size = EXCLUDED.size, mtime = EXCLUDED.mtime, status = EXCLUDED.status,"
    " error = EXCLUDED.error, container = EXCLUDED.container, codec = EXCLUDED.codec,"
    " width = EXCLUDED.width, height = EXCLUDED.height, fps = EXCLUDED.fps,"
    " has_audio = EXCLUDED.has_audio, start_time = EXCLUDED.start_time,"
    " end_time = EXCLUDED.end_time, time_source = EXCLUDED.time_source,"
    " keyframe_count = EXCLUDED.keyframe_count, keyframes = EXCLUDED.keyframes,"
    " bytes_read = EXCLUDED.bytes_read, indexed_at = now(), deleted_at = NULL";

static const char sql_load_known[] =
    "SELECT id, path, size, (extract(epoch FROM mtime) * 1000000)::bigint,"
    " status = 'deleted'"
    " FROM recordings"
    " WHERE path COLLATE \"C\" >= $1 AND path COLLATE \"C\" < $2"
    " ORDER BY path COLLATE \"C\"";

static const char sql_mark_deleted[] =
    "UPDATE recordings SET status = 'deleted', deleted_at = now()"
    " WHERE id = ANY($1::bigint[]) AND status <> 'deleted'";

/* Sleeps ms, or less when *stop becomes non-zero (a signal cuts the sleep
 * short). */
static void sleep_ms(long ms, volatile sig_atomic_t *stop)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !(stop && *stop))
        ;
}

static PGconn *connect_quiet(const char *conninfo)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo, "camledger-indexer", "10", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn && PQstatus(conn) == CONNECTION_OK) {
        PQclear(PQexec(conn, "SET TIME ZONE 'UTC'"));
        return conn;
    }
    PQfinish(conn);
    return NULL;
}

/* Makes sure there is a working connection, reconnecting with backoff. */
static int reconnect(cl_store_t *store)
{
    if (store->conn && PQstatus(store->conn) == CONNECTION_OK)
        return 0;
    PQfinish(store->conn);
    store->conn = NULL;
    cl_warn("database: connection lost, reconnecting");
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long backoff = 200;
    for (;;) {
        store->conn = connect_quiet(store->conninfo);
        if (store->conn) {
            cl_info("database: reconnected");
            return 0;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((store->stop && *store->stop) ||
            (store->retry_secs >= 0 && now.tv_sec - start.tv_sec >= store->retry_secs)) {
            cl_error("database: still unreachable, giving up");
            return -ECONNRESET;
        }
        sleep_ms(backoff, store->stop);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
}

/* After a failed call: 1 when it is worth running again (connection
 * restored, deadlock, serialization failure), 0 when not. */
static int should_retry(cl_store_t *store, const PGresult *res, int *attempt)
{
    if (++*attempt > 20)
        return 0;
    if (PQstatus(store->conn) != CONNECTION_OK)
        return reconnect(store) == 0;
    if (cl_db_result_is(res, CL_SQLSTATE_DEADLOCK) || cl_db_result_is(res, CL_SQLSTATE_SERIALIZATION)) {
        sleep_ms(10L * *attempt, store->stop);
        return 1;
    }
    return 0;
}

cl_store_t *cl_store_new(const char *conninfo, int retry_secs, volatile sig_atomic_t *stop)
{
    cl_store_t *store = calloc(1, sizeof(*store));
    if (!store)
        return NULL;
    store->conninfo = strdup(conninfo ? conninfo : "");
    store->retry_secs = retry_secs;
    store->stop = stop;
    store->conn = cl_db_connect(store->conninfo, "camledger-indexer");
    if (!store->conninfo || !store->conn || cl_db_schema_check(store->conn, "camledger-indexer") < 0) {
        cl_store_free(store);
        return NULL;
    }
    return store;
}

void cl_store_free(cl_store_t *store)
{
    if (!store)
        return;
    PQfinish(store->conn);
    free(store->conninfo);
    free(store);
}

void cl_store_known_free(cl_known_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rows[i].path);
    free(rows);
}

int cl_store_load_known(cl_store_t *store, const char *prefix, cl_known_t **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    /* Every path below prefix sorts between prefix and prefix with its last
     * byte ('/') raised by one. */
    size_t len = strlen(prefix);
    char *upper = strdup(prefix);
    if (!upper)
        return -ENOMEM;
    if (len > 0)
        upper[len - 1]++;
    const char *params[2] = {prefix, upper};
    PGresult *res;
    int attempt = 0;
    for (;;) {
        res = PQexecParams(store->conn, sql_load_known, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
            break;
        if (!should_retry(store, res, &attempt)) {
            cl_error("database: loading recordings under %s failed: %s",
                     prefix, cl_db_error(store->conn, res));
            PQclear(res);
            free(upper);
            return -ECONNRESET;
        }
        PQclear(res);
    }
    free(upper);
    size_t count = (size_t)PQntuples(res);
    cl_known_t *v = count ? calloc(count, sizeof(*v)) : NULL;
    if (count && !v) {
        PQclear(res);
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        v[i].id = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
        v[i].path = strdup(PQgetvalue(res, (int)i, 1));
        v[i].size = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10);
        v[i].mtime = strtoll(PQgetvalue(res, (int)i, 3), NULL, 10);
        v[i].deleted = PQgetvalue(res, (int)i, 4)[0] == 't';
        if (!v[i].path) {
            PQclear(res);
            cl_store_known_free(v, i);
            return -ENOMEM;
        }
    }
    PQclear(res);
    *rows = v;
    *n = count;
    return 0;
}

static int cmp_recording(const void *a, const void *b)
{
    const cl_recording_t *x = a, *y = b;
    int c = strcmp(x->camera, y->camera);
    return c ? c : strcmp(x->path, y->path);
}

/* Text values of one row's parameters. */
typedef struct row_params {
    char size[24], mtime[24], width[16], height[16], fps[32], start[24], end[24];
    char kfcount[16], bytes_read[24];
    uint8_t *keyframes;
    size_t keyframes_len;
    const char *values[18];
    int lengths[18];
    int formats[18];
} row_params_t;

static int row_params_init(row_params_t *p, const cl_recording_t *rec)
{
    const cl_probe_result_t *pr = &rec->probe;
    int has_media = pr->status == CL_REC_OK || pr->status == CL_REC_TRUNCATED;
    memset(p, 0, sizeof(*p));
    snprintf(p->size, sizeof(p->size), "%" PRId64, rec->size);
    snprintf(p->mtime, sizeof(p->mtime), "%" PRId64, rec->mtime);
    snprintf(p->width, sizeof(p->width), "%d", pr->width);
    snprintf(p->height, sizeof(p->height), "%d", pr->height);
    if (pr->fps_den > 0)
        snprintf(p->fps, sizeof(p->fps), "%.4f", (double)pr->fps_num / pr->fps_den);
    snprintf(p->start, sizeof(p->start), "%" PRId64, rec->start);
    snprintf(p->end, sizeof(p->end), "%" PRId64, rec->end);
    snprintf(p->kfcount, sizeof(p->kfcount), "%zu", pr->n_keyframes);
    snprintf(p->bytes_read, sizeof(p->bytes_read), "%" PRId64, pr->bytes_read);

    if (pr->n_keyframes > 0) {
        int64_t *ms = malloc(pr->n_keyframes * sizeof(*ms));
        if (!ms)
            return -ENOMEM;
        for (size_t i = 0; i < pr->n_keyframes; i++)
            ms[i] = (pr->keyframes_us[i] + 500) / 1000;
        int err = cl_kfindex_encode(ms, pr->n_keyframes, &p->keyframes, &p->keyframes_len);
        free(ms);
        if (err)
            return err;
    }

    const char **v = p->values;
    v[0] = rec->camera;
    v[1] = rec->path;
    v[2] = p->size;
    v[3] = p->mtime;
    v[4] = cl_rec_status_name(pr->status);
    v[5] = pr->error[0] ? pr->error : NULL;
    v[6] = pr->container[0] ? pr->container : NULL;
    v[7] = has_media && pr->codec[0] ? pr->codec : NULL;
    v[8] = has_media && pr->width > 0 ? p->width : NULL;
    v[9] = has_media && pr->height > 0 ? p->height : NULL;
    v[10] = has_media && pr->fps_den > 0 ? p->fps : NULL;
    v[11] = has_media ? (pr->has_audio ? "true" : "false") : NULL;
    v[12] = rec->start != CL_TIME_NONE ? p->start : NULL;
    v[13] = rec->end != CL_TIME_NONE ? p->end : NULL;
    v[14] = rec->time_source;
    v[15] = p->kfcount;
    v[16] = (const char *)p->keyframes;
    v[17] = p->bytes_read;
    p->lengths[16] = (int)p->keyframes_len;
    p->formats[16] = 1;
    return 0;
}

/* Sends the rows [from, to) and their cameras as one pipeline (one implicit
 * transaction) and reads the answers. Returns 0, or -EIO with *bad set to
 * the index of the first refused row (or -1 when the failure was not a row's)
 * and *res_out holding the failed result for the caller to inspect. */
static int write_pipeline(cl_store_t *store, cl_recording_t *recs, size_t from, size_t to,
                          ssize_t *bad, PGresult **res_out)
{
    PGconn *conn = store->conn;
    *bad = -1;
    *res_out = NULL;
    if (!PQenterPipelineMode(conn))
        return -EIO;
    size_t nq = 0;
    ssize_t *owner = malloc((2 * (to - from) + 1) * sizeof(*owner));
    int err = 0;
    if (!owner) {
        PQexitPipelineMode(conn);
        return -ENOMEM;
    }
    for (size_t i = from; i < to; i++) {
        if (i == from || strcmp(recs[i].camera, recs[i - 1].camera) != 0) {
            const char *code = recs[i].camera;
            if (!PQsendQueryParams(conn, sql_upsert_camera, 1, NULL, &code, NULL, NULL, 0))
                goto send_failed;
            owner[nq++] = -1;
        }
        row_params_t p;
        if ((err = row_params_init(&p, &recs[i])) < 0) {
            free(p.keyframes);
            goto send_failed;
        }
        int ok = PQsendQueryParams(conn, sql_upsert_recording, 18, NULL, p.values,
                                   p.lengths, p.formats, 0);
        free(p.keyframes);
        if (!ok)
            goto send_failed;
        owner[nq++] = (ssize_t)i;
    }
    if (!PQpipelineSync(conn))
        goto send_failed;

    for (size_t q = 0; q < nq; q++) {
        PGresult *res = PQgetResult(conn);
        if (!res)
            break;
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_ABORTED &&
            !*res_out) {
            *bad = owner[q];
            *res_out = res;
            err = -EIO;
        } else {
            PQclear(res);
        }
        while ((res = PQgetResult(conn)) != NULL)
            PQclear(res);
    }
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        PQclear(res);
        if (st == PGRES_PIPELINE_SYNC)
            break;
        if (st == PGRES_FATAL_ERROR && !err)
            err = -EIO;
    }
    if (PQstatus(conn) != CONNECTION_OK && !err)
        err = -EIO;
    free(owner);
    PQexitPipelineMode(conn);
    return err;

send_failed:
    free(owner);
    /* What was queued must not be committed, and a sync would commit it (a
     * pipeline's implicit transaction ends with a commit at the sync). Drop
     * the connection instead, which rolls it back; the next call
     * reconnects. */
    PQfinish(conn);
    store->conn = NULL;
    return err ? err : -EIO;
}

static int write_range(cl_store_t *store, cl_recording_t *recs, size_t from, size_t to,
                       ssize_t *bad, PGresult **failed_res)
{
    int attempt = 0;
    for (;;) {
        int err = write_pipeline(store, recs, from, to, bad, failed_res);
        if (err != -EIO)
            return err;
        if (!should_retry(store, *failed_res, &attempt))
            return err;
        PQclear(*failed_res);
        *failed_res = NULL;
    }
}

int cl_store_write(cl_store_t *store, cl_recording_t *recs, size_t n, size_t *failed)
{
    *failed = 0;
    if (n == 0)
        return 0;
    qsort(recs, n, sizeof(*recs), cmp_recording);
    ssize_t bad;
    PGresult *res = NULL;
    int err = write_range(store, recs, 0, n, &bad, &res);
    if (err != -EIO || PQstatus(store->conn) != CONNECTION_OK) {
        PQclear(res);
        return err == -EIO ? -ECONNRESET : err;
    }
    /* One row was refused: write them one by one so only it is left out. */
    PQclear(res);
    for (size_t i = 0; i < n; i++) {
        err = write_range(store, recs, i, i + 1, &bad, &res);
        if (err == -EIO && PQstatus(store->conn) == CONNECTION_OK) {
            cl_error("%s: not recorded: the database refused it: %s",
                     recs[i].path, cl_db_error(store->conn, res));
            (*failed)++;
        } else if (err) {
            PQclear(res);
            return err == -EIO ? -ECONNRESET : err;
        }
        PQclear(res);
        res = NULL;
    }
    return 0;
}

int cl_store_mark_deleted(cl_store_t *store, const int64_t *ids, size_t n, size_t *marked)
{
    *marked = 0;
    if (n == 0)
        return 0;
    size_t cap = n * 21 + 3, len = 0;
    char *arr = malloc(cap);
    if (!arr)
        return -ENOMEM;
    arr[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(arr + len, cap - len, "%s%" PRId64, i ? "," : "", ids[i]);
    arr[len++] = '}';
    arr[len] = '\0';
    const char *params[1] = {arr};
    int attempt = 0;
    for (;;) {
        PGresult *res = PQexecParams(store->conn, sql_mark_deleted, 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            *marked = strtoul(PQcmdTuples(res), NULL, 10);
            PQclear(res);
            free(arr);
            return 0;
        }
        if (!should_retry(store, res, &attempt)) {
            cl_error("database: marking %zu recordings deleted failed: %s", n,
                     cl_db_error(store->conn, res));
            PQclear(res);
            free(arr);
            return -ECONNRESET;
        }
        PQclear(res);
    }
}

int cl_store_exec(cl_store_t *store, const char *what, const char *sql, int nparams,
                  const char *const *params, PGresult **res)
{
    int attempt = 0;
    *res = NULL;
    for (;;) {
        PGresult *r = PQexecParams(store->conn, sql, nparams, NULL, params, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            *res = r;
            return 0;
        }
        if (!should_retry(store, r, &attempt)) {
            int lost = PQstatus(store->conn) != CONNECTION_OK;
            cl_error("database: %s failed: %s", what, cl_db_error(store->conn, r));
            PQclear(r);
            return lost ? -ECONNRESET : -EIO;
        }
        PQclear(r);
    }
}
