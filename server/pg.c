#include "pg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_IDLE, CONN_BUSY };

#define CONNECT_TIMEOUT_S 5
#define STR_(x) #x
#define STR(x) STR_(x)

struct cl_pg_query {
    cl_pg_query_t *next;
    cl_pg_cb cb;
    void *data;
    int cancelled;
    int nparams;
    const char *sql;
    const char **params;
};

typedef struct conn {
    cl_pg_pool_t *pool;
    PGconn *pg;
    uv_poll_t *poll;
    int fd;
    int events;
    enum conn_state state;
    cl_pg_query_t *q;
    PGresult *result;
    uv_timer_t retry;
    uint64_t backoff_ms;
} conn_t;

struct cl_pg_pool {
    uv_loop_t *loop;
    char *conninfo;
    int size;
    conn_t *conns;
    cl_pg_query_t *head, *tail;
    int queued;
    int closing;
    int open_handles;
    void (*closed)(void *);
    void *closed_data;
    int warned_down;
    uint64_t last_retry_ms;
};

static void conn_connect(conn_t *c);
static void conn_broken(conn_t *c);
static void on_poll(uv_poll_t *h, int status, int events);
static void dispatch(cl_pg_pool_t *pool);

static void deliver(cl_pg_query_t *q, PGresult *res)
{
    if (!q->cancelled)
        q->cb(q->data, res);
    free(q);
}

static int pool_up(const cl_pg_pool_t *pool)
{
    for (int i = 0; i < pool->size; i++)
        if (pool->conns[i].state == CONN_IDLE || pool->conns[i].state == CONN_BUSY)
            return 1;
    return 0;
}

int cl_pg_pool_available(const cl_pg_pool_t *pool)
{
    return pool_up(pool);
}

void cl_pg_pool_stats(const cl_pg_pool_t *pool, int *up, int *busy, int *queued)
{
    *up = *busy = 0;
    for (int i = 0; i < pool->size; i++) {
        *up += pool->conns[i].state == CONN_IDLE || pool->conns[i].state == CONN_BUSY;
        *busy += pool->conns[i].state == CONN_BUSY;
    }
    *queued = pool->queued;
}

static void fail_queued(cl_pg_pool_t *pool)
{
    while (pool->head) {
        cl_pg_query_t *q = pool->head;
        pool->head = q->next;
        pool->queued--;
        deliver(q, NULL);
    }
    pool->tail = NULL;
}

static void on_handle_closed(uv_handle_t *h)
{
    cl_pg_pool_t *pool = h->data;
    if (h->type == UV_POLL)
        free(h);
    if (--pool->open_handles == 0 && pool->closing) {
        void (*done)(void *) = pool->closed;
        void *data = pool->closed_data;
        free(pool->conns);
        free(pool->conninfo);
        free(pool);
        if (done)
            done(data);
    }
}

static void close_poll(conn_t *c)
{
    if (c->poll) {
        c->poll->data = c->pool;
        uv_close((uv_handle_t *)c->poll, on_handle_closed);
        c->poll = NULL;
    }
    c->fd = -1;
    c->events = 0;
}

/* Watches the connection's socket for events; the socket may change while
 * connecting, so the poll handle follows it. */
static int watch(conn_t *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return -1;
    if (c->poll && fd != c->fd)
        close_poll(c);
    if (!c->poll) {
        c->poll = malloc(sizeof(*c->poll));
        if (!c->poll || uv_poll_init(c->pool->loop, c->poll, fd) < 0) {
            free(c->poll);
            c->poll = NULL;
            return -1;
        }
        c->pool->open_handles++;
        c->poll->data = c;
        c->fd = fd;
        c->events = 0;
    }
    if (events != c->events) {
        if (uv_poll_start(c->poll, events, on_poll) < 0)
            return -1;
        c->events = events;
    }
    return 0;
}

/* The retry timer either brings a down connection back or, while
 * connecting, gives up on an attempt that takes too long: libpq leaves
 * connect_timeout to the caller in non-blocking mode, and a peer that drops
 * packets would otherwise hold the connection in CONN_CONNECTING for the
 * kernel's minutes. */
static void on_retry(uv_timer_t *t)
{
    conn_t *c = t->data;
    if (c->state == CONN_CONNECTING) {
        cl_debug("database: connecting: no answer in %d s", CONNECT_TIMEOUT_S);
        conn_broken(c);
        return;
    }
    conn_connect(c);
}

/* The connection broke or never came up: the query in hand fails, and a
 * reconnect is scheduled with backoff. */
static void conn_broken(conn_t *c)
{
    cl_pg_pool_t *pool = c->pool;
    int was_up = c->state == CONN_IDLE || c->state == CONN_BUSY;
    if (was_up)
        cl_warn("database: connection lost: %s", c->pg ? PQerrorMessage(c->pg) : "");
    close_poll(c);
    PQfinish(c->pg);
    c->pg = NULL;
    c->state = CONN_DOWN;
    PQclear(c->result);
    c->result = NULL;
    if (c->q) {
        cl_pg_query_t *q = c->q;
        c->q = NULL;
        deliver(q, NULL);
    }
    if (!pool_up(pool)) {
        if (!pool->warned_down++)
            cl_error("database: unavailable; answering 503 until it is back");
        fail_queued(pool);
    }
    if (pool->closing)
        return;
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 250;
    if (c->backoff_ms > 2000)
        c->backoff_ms = 2000;
    uv_timer_start(&c->retry, on_retry, c->backoff_ms, 0);
}

static void send_next(conn_t *c)
{
    cl_pg_pool_t *pool = c->pool;
    while (pool->head && c->state == CONN_IDLE) {
        cl_pg_query_t *q = pool->head;
        pool->head = q->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->queued--;
        if (q->cancelled) {
            free(q);
            continue;
        }
        if (!PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, q->params, NULL, NULL, 0)) {
            c->q = q;
            c->state = CONN_BUSY;
            conn_broken(c);
            return;
        }
        c->q = q;
        c->state = CONN_BUSY;
        int flushed = PQflush(c->pg);
        if (flushed < 0 || watch(c, flushed ? UV_READABLE | UV_WRITABLE : UV_READABLE) < 0)
            conn_broken(c);
        return;
    }
}

static void dispatch(cl_pg_pool_t *pool)
{
    for (int i = 0; i < pool->size && pool->head; i++)
        if (pool->conns[i].state == CONN_IDLE)
            send_next(&pool->conns[i]);
}

static void connect_step(conn_t *c)
{
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    /* Moving on to the next host or address, libpq closes its socket and
     * opens another, usually under the same descriptor number, which the
     * kernel has dropped from epoll. libpq 15 happens to wait for a
     * different event first on a new socket, so watch() would re-register
     * anyway; restart the watch at every step rather than rely on that. */
    if (c->poll && c->events && (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING)) {
        uv_poll_stop(c->poll);
        c->events = 0;
    }
    switch (st) {
    case PGRES_POLLING_READING:
        if (watch(c, UV_READABLE) < 0)
            conn_broken(c);
        return;
    case PGRES_POLLING_WRITING:
        if (watch(c, UV_WRITABLE) < 0)
            conn_broken(c);
        return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) != 0 || watch(c, UV_READABLE) < 0) {
            conn_broken(c);
            return;
        }
        if (c->pool->warned_down && !pool_up(c->pool))
            cl_info("database: available again");
        c->pool->warned_down = 0;
        c->state = CONN_IDLE;
        c->backoff_ms = 0;
        uv_timer_stop(&c->retry);
        send_next(c);
        if (c->state == CONN_IDLE)
            dispatch(c->pool);
        return;
    default:
        conn_broken(c);
        return;
    }
}

static void conn_connect(conn_t *c)
{
    static const char *keys[] = {"dbname", "application_name", "options", "connect_timeout", NULL};
    const char *vals[] = {c->pool->conninfo, "camledger-server",
                          "-c statement_timeout=15000 -c TimeZone=UTC", STR(CONNECT_TIMEOUT_S), NULL};
    if (c->pool->closing)
        return;
    c->pg = PQconnectStartParams(keys, vals, 1);
    c->state = CONN_CONNECTING;
    uv_timer_start(&c->retry, on_retry, CONNECT_TIMEOUT_S * 1000, 0);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_broken(c);
        return;
    }
    connect_step(c);
}

/* Reads what arrived; when the query's last result is in, hands it over. */
static void read_results(conn_t *c)
{
    if (!PQconsumeInput(c->pg)) {
        conn_broken(c);
        return;
    }
    if (c->state != CONN_BUSY) {
        /* Idle: a notice, or the server closing the connection. */
        if (PQstatus(c->pg) != CONNECTION_OK)
            conn_broken(c);
        return;
    }
    while (!PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            cl_pg_query_t *q = c->q;
            PGresult *res = c->result;
            c->q = NULL;
            c->result = NULL;
            c->state = CONN_IDLE;
            deliver(q, res);
            PQclear(res);
            /* The callback may have queued a query that went out on this
             * connection (still flushing, so watching for writable too) or
             * broke it: then it is not ours to re-arm. */
            if (c->state != CONN_IDLE)
                return;
            if (watch(c, UV_READABLE) < 0) {
                conn_broken(c);
                return;
            }
            send_next(c);
            return;
        }
        PQclear(c->result);
        c->result = r;
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    conn_t *c = h->data;
    if (status < 0) {
        conn_broken(c);
        return;
    }
    if (c->state == CONN_CONNECTING) {
        connect_step(c);
        return;
    }
    if (events & UV_WRITABLE) {
        int flushed = PQflush(c->pg);
        if (flushed < 0) {
            conn_broken(c);
            return;
        }
        if (flushed == 0 && watch(c, UV_READABLE) < 0) {
            conn_broken(c);
            return;
        }
    }
    if (events & UV_READABLE)
        read_results(c);
}

cl_pg_pool_t *cl_pg_pool_new(uv_loop_t *loop, const char *conninfo, int size)
{
    cl_pg_pool_t *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pool->loop = loop;
    pool->size = size;
    pool->conninfo = strdup(conninfo ? conninfo : "");
    pool->conns = calloc((size_t)size, sizeof(*pool->conns));
    if (!pool->conninfo || !pool->conns) {
        free(pool->conninfo);
        free(pool->conns);
        free(pool);
        return NULL;
    }
    for (int i = 0; i < size; i++) {
        conn_t *c = &pool->conns[i];
        c->pool = pool;
        c->fd = -1;
        uv_timer_init(loop, &c->retry);
        c->retry.data = c;
        pool->open_handles++;
        conn_connect(c);
    }
    return pool;
}

void cl_pg_pool_close(cl_pg_pool_t *pool, void (*done)(void *), void *data)
{
    pool->closing = 1;
    pool->closed = done;
    pool->closed_data = data;
    fail_queued(pool);
    for (int i = 0; i < pool->size; i++) {
        conn_t *c = &pool->conns[i];
        close_poll(c);
        PQfinish(c->pg);
        c->pg = NULL;
        if (c->q) {
            cl_pg_query_t *q = c->q;
            c->q = NULL;
            deliver(q, NULL);
        }
        PQclear(c->result);
        c->result = NULL;
        c->state = CONN_DOWN;
        c->retry.data = pool;
        uv_close((uv_handle_t *)&c->retry, on_handle_closed);
    }
}

static int pool_connecting(const cl_pg_pool_t *pool)
{
    for (int i = 0; i < pool->size; i++)
        if (pool->conns[i].state == CONN_CONNECTING)
            return 1;
    return 0;
}

/* Starts one waiting connection now, at most every 100 ms. */
static void retry_now(cl_pg_pool_t *pool)
{
    uint64_t now = uv_now(pool->loop);
    if (pool_connecting(pool) || now - pool->last_retry_ms < 100)
        return;
    pool->last_retry_ms = now;
    for (int i = 0; i < pool->size; i++) {
        if (pool->conns[i].state == CONN_DOWN) {
            conn_connect(&pool->conns[i]);
            return;
        }
    }
}

int cl_pg_query(cl_pg_pool_t *pool, const char *sql, int nparams, const char *const *params,
                cl_pg_cb cb, void *data, cl_pg_query_t **handle)
{
    *handle = NULL;
    size_t sql_len = strlen(sql) + 1, total = sizeof(cl_pg_query_t) + sizeof(char *) * (size_t)nparams + sql_len;
    for (int i = 0; i < nparams; i++)
        total += params[i] ? strlen(params[i]) + 1 : 0;
    cl_pg_query_t *q = malloc(total);
    if (!q)
        return -ENOMEM;
    memset(q, 0, sizeof(*q));
    q->cb = cb;
    q->data = data;
    q->nparams = nparams;
    q->params = (const char **)(q + 1);
    char *p = (char *)(q->params + nparams);
    memcpy(p, sql, sql_len);
    q->sql = p;
    p += sql_len;
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) {
            q->params[i] = NULL;
            continue;
        }
        size_t len = strlen(params[i]) + 1;
        memcpy(p, params[i], len);
        q->params[i] = p;
        p += len;
    }
    /* While the first connections are being made, queue. Once the database
     * is known to be down, a query tries one connection at once instead of
     * waiting for the backoff (so every worker recovers with its first
     * request after the database is back) and waits only while that attempt
     * is under way; when it fails, as it does at once for a refused or
     * missing socket, the answer is 503. */
    if (!pool->closing && !pool_up(pool) && pool->warned_down)
        retry_now(pool);
    if (pool->closing || (!pool_up(pool) && pool->warned_down && !pool_connecting(pool))) {
        deliver(q, NULL);
        return 0;
    }
    if (pool->tail)
        pool->tail->next = q;
    else
        pool->head = q;
    pool->tail = q;
    pool->queued++;
    *handle = q;
    dispatch(pool);
    return 0;
}

void cl_pg_cancel(cl_pg_query_t *q)
{
    if (q)
        q->cancelled = 1;
}
