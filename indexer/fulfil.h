/* Fulfilling approved extraction requests on this storage node: claim one
 * (several indexers share the work through the database), cut its window
 * from the recordings into an MP4 with a JSON manifest beside it, and record
 * the outcome with the hashes. Runs on the loop thread, one request at a
 * time. */
#ifndef CL_FULFIL_H
#define CL_FULFIL_H

#include <signal.h>
#include <stddef.h>

#include "store.h"

typedef struct cl_fulfil_config {
    cl_store_t *store;
    char **roots;             /* canonical, without a trailing '/' */
    size_t n_roots;
    const char *exports;      /* directory for clips and manifests */
    const char *node;         /* who claims: "host:pid" */
    int lease_secs;           /* a claim not finished by then may be taken over */
    int max_attempts;         /* failed cuts before the request is failed */
    volatile sig_atomic_t *stop;
} cl_fulfil_config_t;

typedef struct cl_fulfil_stats {
    size_t fulfilled, partial, unavailable, retried, failed;
} cl_fulfil_stats_t;

/* Claims and fulfils requests until none is left to claim (or *stop).
 * Returns 0, or -ECONNRESET when the database went away. */
int cl_fulfil_all(const cl_fulfil_config_t *cfg, cl_fulfil_stats_t *stats);

#endif
