/* One indexing pass over every root: walk, compare with what the database
 * knows, probe new and changed files on the libuv thread pool, write them in
 * batched transactions, mark vanished files deleted. Runs on the loop
 * thread; the callback fires once when the pass is over. */
#ifndef CL_PASS_H
#define CL_PASS_H

#include <signal.h>
#include <stdint.h>
#include <uv.h>

#include "layout.h"
#include "scan.h"
#include "store.h"

typedef struct cl_pass_stats {
    size_t seen;        /* files that fit the layout */
    size_t indexed;     /* written to the database this pass */
    size_t unchanged;   /* same size and mtime as indexed before */
    size_t deleted;     /* newly marked deleted */
    size_t failed;      /* indexed with a status other than ok or truncated, or refused */
    size_t growing;     /* changed within --stable-secs: left for later */
    size_t skipped;     /* files that do not fit the layout */
    uint64_t keyframes; /* keyframes written */
    int64_t bytes_read; /* bytes the probes read */
    int64_t bytes_todo; /* size of the files to probe */
    int64_t bytes_done; /* size of the files probed */
    size_t todo;        /* files to probe */
    size_t done;        /* files probed */
    double seconds;
    cl_time_t next_stable; /* when the earliest growing file becomes stable, or CL_TIME_NONE */
} cl_pass_stats_t;

typedef struct cl_pass cl_pass_t;
typedef void (*cl_pass_done_cb)(cl_pass_t *pass, int err, const cl_pass_stats_t *stats);

typedef struct cl_pass_config {
    uv_loop_t *loop;
    cl_store_t *store;
    const cl_layout_t *layout;
    char **roots;            /* canonical absolute paths */
    size_t n_roots;
    int jobs;                /* probes in flight */
    int stable_secs;
    volatile sig_atomic_t *stop;
} cl_pass_config_t;

/* Starts a pass. Returns 0 and later calls done exactly once, or a negative
 * errno (done is then never called). The pass frees itself after done
 * returns. */
int cl_pass_start(const cl_pass_config_t *cfg, cl_pass_done_cb done, void *data);

/* The same, and *running points at the pass while it runs and is set to
 * NULL just before done is called. */
int cl_pass_start_tracked(const cl_pass_config_t *cfg, cl_pass_done_cb done, void *data,
                          cl_pass_t **running);

void *cl_pass_data(const cl_pass_t *pass);
/* Live figures for a progress line (seconds so far included). */
cl_pass_stats_t cl_pass_stats(const cl_pass_t *pass);
/* The directories the walk found (valid until done returns). */
char *const *cl_pass_dirs(const cl_pass_t *pass, size_t *n);

#endif
