#include "pass.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Rows written per transaction: large enough that the commit cost is spread,
 * small enough that a crash or SIGTERM loses little work. */
#define BATCH_ROWS 256

typedef struct probe_job {
    uv_work_t work;
    cl_pass_t *pass;
    cl_recording_t rec;
} probe_job_t;

struct cl_pass {
    cl_pass_config_t cfg;
    cl_pass_done_cb done;
    void *data;
    cl_scan_t scan;
    size_t *todo;            /* indexes into scan.files */
    size_t n_todo, next_todo;
    int64_t *vanished;       /* recording ids gone from disk */
    size_t n_vanished;
    cl_recording_t batch[BATCH_ROWS];
    size_t n_batch;
    int in_flight;
    int err;
    cl_pass_t **running;
    uint64_t started_ns;
    cl_pass_stats_t stats;
};

void *cl_pass_data(const cl_pass_t *pass) { return pass->data; }
cl_pass_stats_t cl_pass_stats(const cl_pass_t *pass)
{
    cl_pass_stats_t s = pass->stats;
    s.seconds = (double)(uv_hrtime() - pass->started_ns) / 1e9;
    return s;
}

char *const *cl_pass_dirs(const cl_pass_t *pass, size_t *n)
{
    *n = pass->scan.n_dirs;
    return pass->scan.dirs;
}

static void recording_dispose(cl_recording_t *rec)
{
    free(rec->path);
    cl_probe_result_dispose(&rec->probe);
}

/* Wall-clock start and end, first source that exists: the name, the
 * container's creation_time, the mtime minus the duration. */
static void place_in_time(cl_recording_t *rec, cl_time_t name_time)
{
    const cl_probe_result_t *p = &rec->probe;
    int has_media = p->status == CL_REC_OK || p->status == CL_REC_TRUNCATED;
    rec->start = rec->end = CL_TIME_NONE;
    rec->time_source = NULL;
    if (name_time != CL_TIME_NONE) {
        rec->start = name_time;
        rec->time_source = "name";
    } else if (has_media && p->creation_time != CL_TIME_NONE) {
        rec->start = p->creation_time;
        rec->time_source = "creation_time";
    } else if (has_media && p->duration_us >= 0) {
        rec->start = rec->mtime - p->duration_us;
        rec->time_source = "mtime";
    }
    if (rec->start == CL_TIME_NONE)
        return;
    if (has_media && p->duration_us >= 0)
        rec->end = rec->start + p->duration_us;
    else if (!has_media && rec->mtime > rec->start)
        /* A broken file still tells which span it was meant to cover: the
         * recorder wrote it from its start until its last modification. */
        rec->end = rec->mtime;
}

static int flush(cl_pass_t *pass)
{
    if (pass->n_batch == 0)
        return 0;
    size_t refused = 0;
    int err = cl_store_write(pass->cfg.store, pass->batch, pass->n_batch, &refused);
    if (err == 0) {
        for (size_t i = 0; i < pass->n_batch; i++) {
            const cl_probe_result_t *p = &pass->batch[i].probe;
            if (p->status != CL_REC_OK && p->status != CL_REC_TRUNCATED)
                pass->stats.failed++;
            pass->stats.keyframes += p->n_keyframes;
        }
        pass->stats.indexed += pass->n_batch - refused;
        pass->stats.failed += refused;
    }
    for (size_t i = 0; i < pass->n_batch; i++)
        recording_dispose(&pass->batch[i]);
    pass->n_batch = 0;
    return err;
}

static void finish(cl_pass_t *pass)
{
    if (!pass->err)
        pass->err = flush(pass);
    /* What a failed pass still holds is not written. */
    for (size_t i = 0; i < pass->n_batch; i++)
        recording_dispose(&pass->batch[i]);
    pass->n_batch = 0;
    if (!pass->err && pass->n_vanished > 0)
        pass->err = cl_store_mark_deleted(pass->cfg.store, pass->vanished, pass->n_vanished,
                                          &pass->stats.deleted);
    pass->stats.seconds = (double)(uv_hrtime() - pass->started_ns) / 1e9;
    if (pass->running)
        *pass->running = NULL;
    pass->done(pass, pass->err, &pass->stats);
    cl_scan_dispose(&pass->scan);
    free(pass->todo);
    free(pass->vanished);
    free(pass);
}

static void probe_work(uv_work_t *w)
{
    probe_job_t *job = w->data;
    cl_probe_file(job->rec.path, &job->rec.probe);
}

static void dispatch(cl_pass_t *pass);

static void probe_after(uv_work_t *w, int status)
{
    probe_job_t *job = w->data;
    cl_pass_t *pass = job->pass;
    pass->in_flight--;
    pass->stats.done++;
    pass->stats.bytes_done += job->rec.size;
    if (status == 0)
        pass->stats.bytes_read += job->rec.probe.bytes_read;
    /* Once the pass has failed nothing more is written (finish does not
     * flush): a probe still in flight then is dropped, not batched. */
    if (status == 0 && !pass->err) {
        place_in_time(&job->rec, job->rec.start);
        pass->batch[pass->n_batch++] = job->rec;
        if (pass->n_batch == BATCH_ROWS)
            pass->err = flush(pass);
    } else {
        recording_dispose(&job->rec);
    }
    free(job);
    dispatch(pass);
}

static void dispatch(cl_pass_t *pass)
{
    int stopping = pass->err || (pass->cfg.stop && *pass->cfg.stop);
    while (!stopping && pass->next_todo < pass->n_todo && pass->in_flight < pass->cfg.jobs) {
        const cl_scan_file_t *f = &pass->scan.files[pass->todo[pass->next_todo++]];
        probe_job_t *job = calloc(1, sizeof(*job));
        if (!job || !(job->rec.path = strdup(f->path))) {
            free(job);
            pass->err = -ENOMEM;
            break;
        }
        job->pass = pass;
        job->work.data = job;
        memcpy(job->rec.camera, f->camera, sizeof(job->rec.camera));
        job->rec.size = f->size;
        job->rec.mtime = f->mtime;
        /* The name time travels in start until the probe is back. */
        job->rec.start = f->name_time;
        int err = uv_queue_work(pass->cfg.loop, &job->work, probe_work, probe_after);
        if (err) {
            recording_dispose(&job->rec);
            free(job);
            pass->err = err;
            break;
        }
        pass->in_flight++;
    }
    if (pass->in_flight == 0)
        finish(pass);
}

/* Compares the walk with what the database knows under one root. */
static int classify(cl_pass_t *pass, const char *root, cl_known_t *known, size_t n_known,
                    size_t first, size_t last)
{
    cl_time_t now = cl_time_now();
    cl_time_t stable_us = (cl_time_t)pass->cfg.stable_secs * CL_USEC_PER_SEC;
    size_t k = 0;
    for (size_t i = first; i < last; i++) {
        const cl_scan_file_t *f = &pass->scan.files[i];
        while (k < n_known && strcmp(known[k].path, f->path) < 0)
            k++;
        cl_known_t *kn = (k < n_known && strcmp(known[k].path, f->path) == 0) ? &known[k] : NULL;
        if (kn)
            kn->seen = 1;
        pass->stats.seen++;
        if (kn && !kn->deleted && kn->size == f->size && kn->mtime == f->mtime) {
            pass->stats.unchanged++;
            continue;
        }
        if (stable_us > 0 && now - f->mtime < stable_us) {
            pass->stats.growing++;
            cl_time_t when = f->mtime + stable_us;
            if (pass->stats.next_stable == CL_TIME_NONE || when < pass->stats.next_stable)
                pass->stats.next_stable = when;
            continue;
        }
        pass->todo[pass->n_todo++] = i;
        pass->stats.todo++;
        pass->stats.bytes_todo += f->size;
    }
    /* A root that walks empty while the index holds live recordings under
     * it is far more likely an unmounted disk than a recorder that deleted
     * everything at once: say so and mark nothing. */
    if (first == last) {
        size_t live = 0;
        for (size_t j = 0; j < n_known; j++)
            live += !known[j].deleted;
        if (live > 0) {
            cl_warn("%s: no recordings found but %zu are indexed there: is the disk mounted? "
                    "Not marking them deleted", root, live);
            return 0;
        }
    }
    for (size_t j = 0; j < n_known; j++) {
        if (known[j].seen || known[j].deleted || cl_scan_in_failed_dir(&pass->scan, known[j].path))
            continue;
        int64_t *nv = realloc(pass->vanished, (pass->n_vanished + 1) * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        pass->vanished = nv;
        pass->vanished[pass->n_vanished++] = known[j].id;
    }
    return 0;
}

int cl_pass_start(const cl_pass_config_t *cfg, cl_pass_done_cb done, void *data)
{
    return cl_pass_start_tracked(cfg, done, data, NULL);
}

int cl_pass_start_tracked(const cl_pass_config_t *cfg, cl_pass_done_cb done, void *data,
                          cl_pass_t **running)
{
    cl_pass_t *pass = calloc(1, sizeof(*pass));
    if (!pass)
        return -ENOMEM;
    pass->running = running;
    pass->cfg = *cfg;
    pass->done = done;
    pass->data = data;
    pass->started_ns = uv_hrtime();
    pass->stats.next_stable = CL_TIME_NONE;
    int err = 0;

    size_t *root_end = calloc(cfg->n_roots + 1, sizeof(*root_end));
    if (!root_end) {
        free(pass);
        return -ENOMEM;
    }
    for (size_t r = 0; r < cfg->n_roots; r++) {
        err = cl_scan_root(cfg->roots[r], cfg->layout, &pass->scan);
        if (err) {
            cl_error("%s: cannot read the recording root: %s", cfg->roots[r],
                     err == -ENOMEM ? "out of memory" : strerror(-err));
            goto fail;
        }
        root_end[r] = pass->scan.n_files;
    }
    pass->stats.skipped = pass->scan.skipped;
    /* Each root's files are contiguous in the walk; sort within each. */
    size_t begin = 0;
    for (size_t r = 0; r < cfg->n_roots; r++) {
        cl_scan_t part = pass->scan;
        part.files += begin;
        part.n_files = root_end[r] - begin;
        cl_scan_sort(&part);
        begin = root_end[r];
    }
    pass->todo = malloc((pass->scan.n_files + 1) * sizeof(*pass->todo));
    if (!pass->todo) {
        err = -ENOMEM;
        goto fail;
    }
    begin = 0;
    for (size_t r = 0; r < cfg->n_roots; r++) {
        char *prefix;
        if (asprintf(&prefix, "%s/", cfg->roots[r]) < 0) {
            err = -ENOMEM;
            goto fail;
        }
        cl_known_t *known;
        size_t n_known;
        err = cl_store_load_known(cfg->store, prefix, &known, &n_known);
        free(prefix);
        if (err)
            goto fail;
        err = classify(pass, cfg->roots[r], known, n_known, begin, root_end[r]);
        cl_store_known_free(known, n_known);
        if (err)
            goto fail;
        begin = root_end[r];
    }
    free(root_end);
    if (running)
        *running = pass;
    dispatch(pass);
    return 0;

fail:
    free(root_end);
    cl_scan_dispose(&pass->scan);
    free(pass->todo);
    free(pass->vanished);
    free(pass);
    return err;
}
