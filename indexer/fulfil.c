#include "fulfil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clip.h"
#include "log.h"
#include "part.h"

static const char sql_claim[] =
    "SELECT id, camera_code, (extract(epoch FROM from_time) * 1000000)::bigint,"
    " (extract(epoch FROM to_time) * 1000000)::bigint, case_number, attempts"
    " FROM cl_claim_request($1, $2::integer, $3::text[])";

static const char sql_sources[] =
    "SELECT path, status, (extract(epoch FROM start_time) * 1000000)::bigint,"
    " (extract(epoch FROM end_time) * 1000000)::bigint"
    " FROM cl_request_sources($1::bigint)";

static const char sql_footage[] =
    "SELECT cl_footage(camera_id, from_time, to_time) FROM requests WHERE id = $1::bigint";

static const char sql_fulfil[] =
    "SELECT cl_fulfil_request($1::bigint, $2, $3, $4, $5, $6::bigint, $7::bigint, $8, $9,"
    " $10::bigint, $11::numeric)";

static const char sql_failed[] =
    "SELECT cl_request_attempt_failed($1::bigint, $2, $3, $4::integer)";

typedef struct job {
    char id[24];
    char camera[129];
    char case_number[65];
    cl_time_t from, to;
} job_t;

static char *ts(cl_time_t t, char buf[CL_TIME_RFC3339_LEN])
{
    cl_time_format_rfc3339(t, buf, CL_TIME_RFC3339_LEN);
    return buf;
}

/* A Postgres text[] literal of the roots, each with its trailing '/'. */
static char *prefixes_literal(const cl_fulfil_config_t *cfg)
{
    size_t len = 3;
    for (size_t i = 0; i < cfg->n_roots; i++)
        len += 2 * strlen(cfg->roots[i]) + 5;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < cfg->n_roots; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *c = cfg->roots[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '/';
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return s;
}

/* Writes text to path through a synced temporary file and a rename. */
static int write_atomically(const char *path, const char *text, size_t len)
{
    char *tmp = cl_part_path(path);
    if (!tmp)
        return -ENOMEM;
    int fd = cl_part_lock(tmp);
    int err = 0;
    if (fd < 0) {
        free(tmp);
        return fd;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = -errno;
            break;
        }
        off += (size_t)n;
    }
    if (!err && fsync(fd) < 0)
        err = -errno;
    /* Renamed or removed while the lock is held (see part.h). */
    if (!err && rename(tmp, path) < 0)
        err = -errno;
    if (err)
        unlink(tmp);
    if (close(fd) < 0 && !err)
        err = -errno;
    free(tmp);
    return err;
}

static json_t *gap(cl_time_t from, cl_time_t to, const char *reason)
{
    char a[CL_TIME_RFC3339_LEN], b[CL_TIME_RFC3339_LEN];
    return json_pack("{s:s,s:s,s:s}", "start", ts(from, a), "end", ts(to, b), "reason", reason);
}

/* Seconds of [from, to) that gaps do not cover. Gaps may overlap. */
static double covered_seconds(json_t *gaps, cl_time_t from, cl_time_t to)
{
    /* The window in 1 ms cells would be heavy for 24 h; merge intervals. */
    size_t n = json_array_size(gaps);
    cl_time_t (*iv)[2] = calloc(n + 1, sizeof(*iv));
    size_t k = 0;
    for (size_t i = 0; i < n && iv; i++) {
        json_t *g = json_array_get(gaps, i);
        cl_time_t a, b;
        if (cl_time_parse_rfc3339(json_string_value(json_object_get(g, "start")), &a) == 0 &&
            cl_time_parse_rfc3339(json_string_value(json_object_get(g, "end")), &b) == 0) {
            iv[k][0] = a < from ? from : a;
            iv[k][1] = b > to ? to : b;
            if (iv[k][1] > iv[k][0])
                k++;
        }
    }
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && iv[j - 1][0] > iv[j][0]; j--) {
            cl_time_t t0 = iv[j][0], t1 = iv[j][1];
            iv[j][0] = iv[j - 1][0];
            iv[j][1] = iv[j - 1][1];
            iv[j - 1][0] = t0;
            iv[j - 1][1] = t1;
        }
    cl_time_t missing = 0, end = from;
    for (size_t i = 0; i < k; i++) {
        cl_time_t a = iv[i][0] > end ? iv[i][0] : end;
        if (iv[i][1] > a) {
            missing += iv[i][1] - a;
            end = iv[i][1];
        }
    }
    free(iv);
    return (double)(to - from - missing) / 1e6;
}

/* If p starts with dir + '/', the length of that prefix, else 0. */
static size_t under(const char *p, const char *dir)
{
    size_t n = strlen(dir);
    return n && strncmp(p, dir, n) == 0 && p[n] == '/' ? n + 1 : 0;
}

/* The reason a cut failed as the API shows it (GET /v1/requests/{id}, the
 * audit log): every file under a recording root or the exports directory
 * named by its file name alone (a part file by the name it was bound for),
 * so that no caller learns the storage node's paths; the log keeps the
 * full text for operators. A path runs to the ": " that ends it in the
 * cutter's messages, or to the end, where a long one may have been cut. */
static void public_reason(const char *error, const cl_fulfil_config_t *cfg, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = error; *p && o + 1 < size;) {
        size_t skip = under(p, cfg->exports);
        for (size_t i = 0; i < cfg->n_roots && !skip; i++)
            skip = under(p, cfg->roots[i]);
        if (!skip) {
            out[o++] = *p++;
            continue;
        }
        const char *end = strstr(p, ": ");
        if (!end)
            end = p + strlen(p);
        const char *name = p + skip;
        for (const char *q = name; q < end; q++)
            if (*q == '/')
                name = q + 1;
        const char *part = strstr(name, ".part-");
        const char *stop = part && part < end ? part : end;
        for (; name < stop && o + 1 < size; name++)
            out[o++] = *name;
        p = end;
    }
    out[o] = '\0';
}

static int record_failure(const cl_fulfil_config_t *cfg, const job_t *job, const char *error,
                          const char *shown, cl_fulfil_stats_t *stats)
{
    char max[16];
    snprintf(max, sizeof(max), "%d", cfg->max_attempts);
    const char *p[] = {job->id, cfg->node, shown, max};
    PGresult *res;
    int err = cl_store_exec(cfg->store, "recording a failed cut", sql_failed, 4, p, &res);
    if (err)
        return err;
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "failed") == 0) {
        stats->failed++;
        cl_error("request %s: failed for good: %s", job->id, error);
    } else if (strcmp(outcome, "retry") == 0) {
        stats->retried++;
        cl_warn("request %s: cut failed, will retry: %s", job->id, error);
    }
    PQclear(res);
    return 0;
}

static int fulfil_one(const cl_fulfil_config_t *cfg, const job_t *job, cl_fulfil_stats_t *stats)
{
    PGresult *src_res = NULL, *foot_res = NULL;
    const char *p1[] = {job->id};
    int err = cl_store_exec(cfg->store, "reading a request's recordings", sql_sources, 1, p1, &src_res);
    if (!err)
        err = cl_store_exec(cfg->store, "reading a request's footage", sql_footage, 1, p1, &foot_res);
    if (err) {
        PQclear(src_res);
        return err;
    }
    int nrows = PQntuples(src_res);
    cl_clip_source_t *src = calloc((size_t)nrows + 1, sizeof(*src));
    size_t n = 0;
    for (int i = 0; i < nrows && src; i++) {
        const char *st = PQgetvalue(src_res, i, 1);
        if (strcmp(st, "ok") != 0 && strcmp(st, "truncated") != 0)
            continue;
        src[n].path = PQgetvalue(src_res, i, 0);
        src[n].start = strtoll(PQgetvalue(src_res, i, 2), NULL, 10);
        src[n].end = strtoll(PQgetvalue(src_res, i, 3), NULL, 10);
        n++;
    }
    json_t *footage = json_loads(PQgetvalue(foot_res, 0, 0), 0, NULL);
    json_t *gaps = json_deep_copy(json_object_get(footage, "gaps"));
    json_decref(footage);
    PQclear(foot_res);
    if (!src || !gaps) {
        free(src);
        json_decref(gaps);
        PQclear(src_res);
        return -ENOMEM;
    }

    char *clip_path = NULL, *manifest_path = NULL;
    if (asprintf(&clip_path, "%s/request-%s.mp4", cfg->exports, job->id) < 0 ||
        asprintf(&manifest_path, "%s/request-%s.manifest.json", cfg->exports, job->id) < 0) {
        err = -ENOMEM;
        goto out;
    }

    cl_clip_result_t res;
    memset(&res, 0, sizeof(res));
    int cut = n > 0 ? cl_clip_cut(src, n, job->from, job->to, clip_path, &res) : -ENODATA;
    if (cut < 0 && cut != -ENODATA) {
        const char *why = res.error[0] ? res.error : strerror(-cut);
        char shown[sizeof(res.error)];
        public_reason(why, cfg, shown, sizeof(shown));
        err = record_failure(cfg, job, why, shown, stats);
        cl_clip_result_dispose(&res);
        goto out;
    }

    /* The manifest: what was asked, what was used, what is missing. */
    char a[CL_TIME_RFC3339_LEN], b[CL_TIME_RFC3339_LEN], now[CL_TIME_RFC3339_LEN];
    json_t *sources = json_array();
    for (size_t i = 0; i < n && cut == 0 && i < res.n_parts; i++) {
        const cl_clip_part_t *part = &res.parts[i];
        if (part->status == CL_CLIP_PART_UNUSED)
            continue;
        if (part->status == CL_CLIP_PART_MISSING || part->status == CL_CLIP_PART_INCOMPATIBLE) {
            json_array_append_new(gaps, gap(src[i].start < job->from ? job->from : src[i].start,
                                            src[i].end > job->to ? job->to : src[i].end,
                                            part->status == CL_CLIP_PART_MISSING ? "missing"
                                                                                 : "incompatible"));
            continue;
        }
        char sha[65] = "";
        if (cl_clip_sha256_file(src[i].path, sha) < 0)
            snprintf(sha, sizeof(sha), "unreadable");
        json_array_append_new(sources, json_pack("{s:s,s:s,s:s,s:s,s:s}",
            "path", src[i].path, "start", ts(src[i].start, a), "end", ts(src[i].end, b),
            "sha256", sha, "status", cl_clip_part_status_name(part->status)));
    }
    double covered = cut == 0 ? covered_seconds(gaps, job->from, job->to) : 0;
    double window = (double)(job->to - job->from) / 1e6;
    double coverage = window > 0 ? covered / window : 0;
    if (coverage < 0)
        coverage = 0;
    const char *status = cut == -ENODATA || covered <= 0 ? "unavailable"
                         : json_array_size(gaps) > 0 ? "partial" : "fulfilled";
    if (strcmp(status, "unavailable") == 0 && cut == 0) {
        unlink(clip_path);
        cut = -ENODATA;
    }
    json_t *clip = cut == 0
        ? json_pack("{s:s,s:s,s:I,s:I,s:s}", "file", strrchr(clip_path, '/') + 1,
                    "sha256", res.sha256, "size", (json_int_t)res.bytes_written,
                    "duration_ms", (json_int_t)(res.duration_us / 1000),
                    "first_keyframe", ts(res.first_keyframe, a))
        : json_null();
    json_t *manifest = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:o,s:o,s:o,s:s,s:f,s:s,s:s}",
        "request", job->id, "case", job->case_number, "camera", job->camera,
        "requested", "from", ts(job->from, a), "to", ts(job->to, b),
        "sources", sources, "gaps", gaps, "clip", clip, "status", status,
        "coverage", coverage, "node", cfg->node, "created_at", ts(cl_time_now(), now));
    gaps = NULL;
    char *text = manifest ? json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(manifest);
    char msha[65] = "", csize[24], dur[24], msize[24], cov[16];
    if (!text) {
        err = -ENOMEM;
    } else {
        size_t tlen = strlen(text);
        err = write_atomically(manifest_path, text, tlen);
        snprintf(msize, sizeof(msize), "%zu", tlen);
        free(text);
        if (!err)
            err = cl_clip_sha256_file(manifest_path, msha);
    }
    if (err) {
        char why[256];
        snprintf(why, sizeof(why), "writing the manifest failed: %s", strerror(-err));
        cl_clip_result_dispose(&res);
        err = record_failure(cfg, job, why, why, stats);
        goto out;
    }
    snprintf(csize, sizeof(csize), "%" PRId64, res.bytes_written);
    snprintf(dur, sizeof(dur), "%" PRId64, res.duration_us / 1000);
    snprintf(cov, sizeof(cov), "%.4f", coverage);
    const char *p2[] = {job->id, cfg->node, status, cut == 0 ? clip_path : NULL,
                        cut == 0 ? res.sha256 : NULL, cut == 0 ? csize : NULL,
                        cut == 0 ? dur : NULL, manifest_path, msha, msize, cov};
    PGresult *done;
    err = cl_store_exec(cfg->store, "recording a fulfilled request", sql_fulfil, 11, p2, &done);
    cl_clip_result_dispose(&res);
    if (!err) {
        int kept = PQgetvalue(done, 0, 0)[0] == 't';
        PQclear(done);
        if (!kept) {
            cl_warn("request %s: the claim was lost before the cut was recorded", job->id);
        } else {
            cl_info("request %s: %s (coverage %.4f)", job->id, status, coverage);
            if (strcmp(status, "fulfilled") == 0)
                stats->fulfilled++;
            else if (strcmp(status, "partial") == 0)
                stats->partial++;
            else
                stats->unavailable++;
        }
    }
out:
    json_decref(gaps);
    free(clip_path);
    free(manifest_path);
    free(src);
    PQclear(src_res);
    return err;
}

/* Removes what an indexer killed mid-cut left: never served (downloads
 * take the name the database holds), but it takes disk space. A part file
 * is taken once it is older than the claim's lease (its writer, were it
 * alive, has lost the claim) and no one holds its lock; looked for every
 * half lease, also while a long queue of cuts keeps this loop going. */
static void sweep_parts(const cl_fulfil_config_t *cfg)
{
    static time_t last;
    time_t now = time(NULL), every = cfg->lease_secs > 1 ? cfg->lease_secs / 2 : 1;
    if (last && now - last < every)
        return;
    last = now;
    int swept = cl_part_sweep(cfg->exports, cfg->lease_secs);
    if (swept > 0)
        cl_info("%s: removed %d part files left by stopped indexers", cfg->exports, swept);
}

int cl_fulfil_all(const cl_fulfil_config_t *cfg, cl_fulfil_stats_t *stats)
{
    memset(stats, 0, sizeof(*stats));
    if (mkdir(cfg->exports, 0750) < 0 && errno != EEXIST) {
        cl_error("%s: cannot create the exports directory: %s", cfg->exports, strerror(errno));
        return -errno;
    }
    char *prefixes = prefixes_literal(cfg);
    char lease[16];
    snprintf(lease, sizeof(lease), "%d", cfg->lease_secs);
    if (!prefixes)
        return -ENOMEM;
    int err = 0;
    while (!err && !(cfg->stop && *cfg->stop)) {
        sweep_parts(cfg);
        const char *p[] = {cfg->node, lease, prefixes};
        PGresult *res;
        err = cl_store_exec(cfg->store, "claiming a request", sql_claim, 3, p, &res);
        if (err)
            break;
        if (PQntuples(res) == 0) {
            PQclear(res);
            break;
        }
        job_t job;
        snprintf(job.id, sizeof(job.id), "%s", PQgetvalue(res, 0, 0));
        snprintf(job.camera, sizeof(job.camera), "%s", PQgetvalue(res, 0, 1));
        job.from = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        job.to = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        snprintf(job.case_number, sizeof(job.case_number), "%s", PQgetvalue(res, 0, 4));
        PQclear(res);
        cl_info("request %s: cutting %s for case %s", job.id, job.camera, job.case_number);
        err = fulfil_one(cfg, &job, stats);
    }
    free(prefixes);
    return err;
}
