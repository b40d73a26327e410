/* Downloads of a fulfilled request's clip and manifest: the path comes from
 * the database only, the file is read with libuv's thread-pool file I/O so
 * the loop never blocks on the disk, and byte ranges (206) let players
 * seek. Every download is an audit entry naming the bytes asked for. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "range.h"
#include "server.h"

#define CHUNK (256 * 1024)

void cl_call_send_text(cl_call_t *call, int status, const char *ctype, const char *body, size_t len);

typedef struct download {
    h2o_generator_t gen;
    cl_call_t *call;          /* NULL once the request is gone */
    h2o_req_t *req;
    uv_fs_t fs;
    uv_file fd;
    int busy;                 /* a file operation is pending */
    int started;              /* the response has started */
    int status;
    int64_t size, pos, end;   /* the file's size; next byte; one past the last */
    char etag[70];
    char content_range[96];
    const char *ctype;
    char filename[64];
    char buf[CHUNK];
} download_t;

static void download_free(download_t *d)
{
    if (d->fd >= 0) {
        uv_fs_t close_req;
        /* Synchronous close of a regular file does not touch the disk. */
        uv_fs_close(NULL, &close_req, d->fd, NULL);
        uv_fs_req_cleanup(&close_req);
    }
    free(d);
}

/* The request died: whatever is pending finishes, then frees. */
static void on_request_gone(void *p)
{
    download_t *d = *(download_t **)p;
    d->call = NULL;
    d->req = NULL;
    if (!d->busy)
        download_free(d);
}

static void read_next(download_t *d);

static void on_read(uv_fs_t *fs)
{
    download_t *d = fs->data;
    ssize_t n = fs->result;
    uv_fs_req_cleanup(fs);
    d->busy = 0;
    if (!d->req) {
        download_free(d);
        return;
    }
    if (n <= 0) {
        /* The file shrank under us: end the response short; the client sees
         * fewer bytes than Content-Length and knows it failed. */
        cl_error("download: read failed at byte %" PRId64 ": %s", d->pos,
                 n < 0 ? uv_strerror((int)n) : "unexpected end of file");
        h2o_send(d->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    d->pos += n;
    h2o_iovec_t iov = h2o_iovec_init(d->buf, (size_t)n);
    h2o_send(d->req, &iov, 1, d->pos >= d->end ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void read_next(download_t *d)
{
    int64_t want = d->end - d->pos;
    if (want > CHUNK)
        want = CHUNK;
    uv_buf_t b = uv_buf_init(d->buf, (unsigned)want);
    d->fs.data = d;
    d->busy = 1;
    int err = uv_fs_read(&d->call->worker->loop, &d->fs, d->fd, &b, 1, d->pos, on_read);
    if (err) {
        d->busy = 0;
        h2o_send(d->req, NULL, 0, H2O_SEND_STATE_ERROR);
    }
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    download_t *d = H2O_STRUCT_FROM_MEMBER(download_t, gen, gen);
    if (d->req && d->pos < d->end)
        read_next(d);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)gen;
    (void)req;
}

static void start_response(download_t *d)
{
    h2o_req_t *req = d->req;
    cl_call_t *call = d->call;
    h2o_mem_pool_t *pool = &req->pool;
    req->res.status = d->status;
    req->res.reason = d->status == 206 ? "Partial Content" : "OK";
    req->res.content_length = (size_t)(d->end - d->pos);
    h2o_add_header(pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, d->ctype, strlen(d->ctype));
    h2o_add_header(pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, d->etag, strlen(d->etag));
    h2o_add_header(pool, &req->res.headers, H2O_TOKEN_ACCEPT_RANGES, NULL, H2O_STRLIT("bytes"));
    h2o_add_header(pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("private, no-store"));
    char *disp = h2o_mem_alloc_pool(pool, 128);
    snprintf(disp, 128, "attachment; filename=\"%s\"", d->filename);
    h2o_add_header(pool, &req->res.headers, H2O_TOKEN_CONTENT_DISPOSITION, NULL, disp, strlen(disp));
    if (d->status == 206)
        h2o_add_header(pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, NULL, d->content_range,
                       strlen(d->content_range));
    cl_metrics_record(call->route_index, d->status, uv_hrtime() - call->start_ns);
    call->req = NULL;  /* answered: the call's send helpers must not run again */
    d->started = 1;
    h2o_start_response(req, &d->gen);
    if (d->pos >= d->end || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    read_next(d);
}

static void on_stat(uv_fs_t *fs)
{
    download_t *d = fs->data;
    int64_t result = fs->result;
    int64_t size = (int64_t)fs->statbuf.st_size;
    uv_fs_req_cleanup(fs);
    d->busy = 0;
    if (!d->req) {
        download_free(d);
        return;
    }
    if (result < 0 || size != d->size) {
        /* The evidence on disk is not what was recorded: refuse to serve it. */
        cl_error("download: %s: size on disk %" PRId64 ", recorded %" PRId64, d->filename, size, d->size);
        cl_call_send_error(d->call, 500, "file_mismatch",
                           "the stored file does not match its record; an administrator must check it");
        return;
    }
    start_response(d);
}

static void on_open(uv_fs_t *fs)
{
    download_t *d = fs->data;
    int64_t result = fs->result;
    uv_fs_req_cleanup(fs);
    d->busy = 0;
    if (!d->req) {
        if (result >= 0)
            d->fd = (uv_file)result;
        download_free(d);
        return;
    }
    if (result < 0) {
        cl_error("download: %s: open failed: %s", d->filename, uv_strerror((int)result));
        cl_call_send_error(d->call, result == UV_ENOENT ? 404 : 500,
                           result == UV_ENOENT ? "file_missing" : "internal",
                           result == UV_ENOENT ? "the file is no longer in the exports directory"
                                               : "the file cannot be read");
        return;
    }
    d->fd = (uv_file)result;
    d->fs.data = d;
    d->busy = 1;
    if (uv_fs_fstat(&d->call->worker->loop, &d->fs, d->fd, on_stat) < 0) {
        d->busy = 0;
        cl_call_send_error(d->call, 500, "internal", "the file cannot be read");
    }
}

typedef struct file_ctx {
    const char *kind;
} file_ctx_t;

static void on_file(cl_call_t *call, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cl_call_send_db_error(call, res);
        return;
    }
    json_t *j = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    const char *path = json_string_value(json_object_get(j, "path"));
    const char *sha = json_string_value(json_object_get(j, "sha256"));
    json_t *size_j = json_object_get(j, "size");
    if (!path || !sha || !json_is_integer(size_j)) {
        json_decref(j);
        cl_call_send_error(call, 500, "internal", "the request's file is not recorded");
        return;
    }
    download_t *d = calloc(1, sizeof(*d));
    if (!d) {
        json_decref(j);
        cl_call_send_error(call, 503, "overloaded", "out of memory");
        return;
    }
    d->fd = -1;
    d->call = call;
    d->req = call->req;
    d->gen.proceed = on_proceed;
    d->gen.stop = on_stop;
    d->size = json_integer_value(size_j);
    d->pos = 0;
    d->end = d->size;
    d->status = 200;
    int is_clip = strstr(path, ".mp4") != NULL && strcmp(call->route->name, "requests.clip") == 0;
    d->ctype = is_clip ? "video/mp4" : "application/json; charset=utf-8";
    snprintf(d->etag, sizeof(d->etag), "\"%s\"", sha);
    const char *base = strrchr(path, '/');
    snprintf(d->filename, sizeof(d->filename), "%s", base ? base + 1 : path);
    download_t **holder = h2o_mem_alloc_shared(&call->req->pool, sizeof(*holder), on_request_gone);
    *holder = d;

    const char *inm = cl_call_header(call, "if-none-match");
    if (inm && strcmp(inm, d->etag) == 0) {
        json_decref(j);
        cl_call_send_text(call, 304, d->ctype, "", 0);
        return;
    }
    const char *range = cl_call_header(call, "range");
    if (range) {
        int64_t a, b;
        int r = cl_range_parse(range, d->size, &a, &b);
        if (r < 0) {
            char cr[64];
            snprintf(cr, sizeof(cr), "bytes */%" PRId64, d->size);
            h2o_add_header(&call->req->pool, &call->req->res.headers, H2O_TOKEN_CONTENT_RANGE, NULL,
                           h2o_strdup(&call->req->pool, cr, SIZE_MAX).base, strlen(cr));
            json_decref(j);
            cl_call_send_error(call, 416, "range_not_satisfiable", "the file has %" PRId64 " bytes",
                               d->size);
            return;
        }
        if (r == 1) {
            d->pos = a;
            d->end = b;
            d->status = 206;
            snprintf(d->content_range, sizeof(d->content_range), "bytes %" PRId64 "-%" PRId64 "/%" PRId64,
                     a, b - 1, d->size);
        }
    }
    d->fs.data = d;
    d->busy = 1;
    int err = uv_fs_open(&call->worker->loop, &d->fs, path, O_RDONLY | O_CLOEXEC, 0, on_open);
    json_decref(j);
    if (err) {
        d->busy = 0;
        cl_call_send_error(call, 500, "internal", "the file cannot be read");
    }
}

/* kind: "clip" or "manifest". The Range header is audited as asked. */
void cl_route_download(cl_call_t *call, const char *kind)
{
    const char *range = cl_call_header(call, "range");
    const char *p[] = {call->user_id_text, call->args[0], kind, range};
    cl_call_query(call, "SELECT * FROM cl_api_request_file($1, $2, $3, $4)", 4, p, on_file);
}
