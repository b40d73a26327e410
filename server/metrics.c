/* Prometheus metrics: requests by route and status, a latency histogram,
 * database pool use and errors. Counters are atomics shared by every
 * worker thread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static const int statuses[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 500, 503};
#define N_STATUS (sizeof(statuses) / sizeof(statuses[0]))
#define STATUS_OTHER N_STATUS

static const double bounds_ms[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000};
#define N_BOUNDS (sizeof(bounds_ms) / sizeof(bounds_ms[0]))

typedef struct route_metrics {
    atomic_ullong by_status[N_STATUS + 1];
    atomic_ullong buckets[N_BOUNDS + 1];
    atomic_ullong sum_us;
} route_metrics_t;

static route_metrics_t *metrics;   /* cl_routes_count + 1: the last for unmatched */
static size_t n_metrics;
static atomic_ullong db_errors;
static atomic_ullong auth_failures;

void cl_metrics_init(size_t n_routes)
{
    n_metrics = n_routes + 1;
    metrics = calloc(n_metrics, sizeof(*metrics));
}

void cl_metrics_record(int route_index, int status, uint64_t elapsed_ns)
{
    if (!metrics)
        return;
    route_metrics_t *m = &metrics[route_index < 0 ? n_metrics - 1 : (size_t)route_index];
    size_t s = STATUS_OTHER;
    for (size_t i = 0; i < N_STATUS; i++)
        if (statuses[i] == status)
            s = i;
    atomic_fetch_add(&m->by_status[s], 1);
    double ms = (double)elapsed_ns / 1e6;
    size_t b = 0;
    while (b < N_BOUNDS && ms > bounds_ms[b])
        b++;
    atomic_fetch_add(&m->buckets[b], 1);
    atomic_fetch_add(&m->sum_us, elapsed_ns / 1000);
}

void cl_metrics_db_error(void)
{
    atomic_fetch_add(&db_errors, 1);
}

void cl_metrics_auth_failure(void)
{
    atomic_fetch_add(&auth_failures, 1);
}

typedef struct out {
    char *buf;
    size_t len, cap;
    int failed;
} out_t;

static void __attribute__((format(printf, 2, 3))) put(out_t *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n) * 2;
        char *nb = realloc(o->buf, cap);
        if (!nb) {
            o->failed = 1;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
}

char *cl_metrics_render(cl_worker_t *workers, int n_workers, size_t *len)
{
    out_t o = {malloc(8192), 0, 8192, 0};
    if (!o.buf)
        return NULL;
    put(&o, "# HELP camledger_http_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE camledger_http_requests_total counter\n");
    for (size_t r = 0; r < n_metrics; r++) {
        const char *name = r < cl_routes_count ? cl_routes[r].name : "unmatched";
        for (size_t s = 0; s <= N_STATUS; s++) {
            unsigned long long v = atomic_load(&metrics[r].by_status[s]);
            if (!v)
                continue;
            if (s < N_STATUS)
                put(&o, "camledger_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", name,
                    statuses[s], v);
            else
                put(&o, "camledger_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                    name, v);
        }
    }
    put(&o, "# HELP camledger_http_request_duration_seconds Time from request to answer.\n"
            "# TYPE camledger_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < n_metrics; r++) {
        const char *name = r < cl_routes_count ? cl_routes[r].name : "unmatched";
        unsigned long long cum = 0;
        for (size_t b = 0; b <= N_BOUNDS; b++) {
            cum += atomic_load(&metrics[r].buckets[b]);
            if (b < N_BOUNDS)
                put(&o, "camledger_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    name, bounds_ms[b] / 1000, cum);
            else
                put(&o, "camledger_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                    name, cum);
        }
        put(&o, "camledger_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", name,
            (double)atomic_load(&metrics[r].sum_us) / 1e6);
        put(&o, "camledger_http_request_duration_seconds_count{route=\"%s\"} %llu\n", name, cum);
    }
    int up = 0, busy = 0, queued = 0;
    for (int w = 0; w < n_workers; w++) {
        up += atomic_load(&workers[w].pool_up);
        busy += atomic_load(&workers[w].pool_busy);
        queued += atomic_load(&workers[w].pool_queued);
    }
    put(&o, "# HELP camledger_db_pool_connections Database connections up and in use.\n"
            "# TYPE camledger_db_pool_connections gauge\n"
            "camledger_db_pool_connections{state=\"up\"} %d\n"
            "camledger_db_pool_connections{state=\"busy\"} %d\n"
            "# HELP camledger_db_pool_queued Queries waiting for a connection.\n"
            "# TYPE camledger_db_pool_queued gauge\n"
            "camledger_db_pool_queued %d\n", up, busy, queued);
    put(&o, "# HELP camledger_db_errors_total Requests answered 5xx because of the database.\n"
            "# TYPE camledger_db_errors_total counter\n"
            "camledger_db_errors_total %llu\n"
            "# HELP camledger_auth_failures_total Requests refused for a missing or bad token.\n"
            "# TYPE camledger_auth_failures_total counter\n"
            "camledger_auth_failures_total %llu\n",
        atomic_load(&db_errors), atomic_load(&auth_failures));
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
