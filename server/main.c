/* camledger-server: the HTTP/JSON API over libuv and H2O, with libpq in
 * non-blocking mode. One worker thread per --threads, each with its own
 * loop, listener (SO_REUSEPORT), H2O context and database pool. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "db.h"
#include "log.h"
#include "server.h"

static const char usage[] =
    "usage: camledger-server --db CONNINFO --listen HOST:PORT [--threads N]\n"
    "                        [--pool N] [--max-window-hours N] [--max-body-bytes N]\n"
    "                        [--max-csv-bytes N] [--auth-cache-secs N]\n"
    "                        [--tls-cert FILE --tls-key FILE]\n"
    "  --db CONNINFO         libpq connection string or URI; empty: libpq's defaults\n"
    "  --listen HOST:PORT    address to serve HTTP/1.1 and HTTP/2 on ([::1]:8080 for IPv6)\n"
    "  --threads N           worker threads, each with its own loop (default: CPUs)\n"
    "  --pool N              database connections per thread (default 8)\n"
    "  --max-window-hours N  longest footage window a query may ask for (default 24)\n"
    "  --max-body-bytes N    largest JSON body (default 1048576)\n"
    "  --max-csv-bytes N     largest CSV import (default 8388608)\n"
    "  --auth-cache-secs N   how long a token lookup is reused (default 5)\n"
    "  --tls-cert FILE       serve HTTPS (HTTP/2 by ALPN) with this PEM certificate chain\n"
    "  --tls-key FILE        and this PEM private key\n";

cl_worker_t *cl_workers;
int cl_workers_count;

static h2o_globalconf_t h2o_config;

static void on_accept(uv_stream_t *listener, int status)
{
    cl_worker_t *w = listener->data;
    if (status != 0 || w->stopping)
        return;
    uv_tcp_t *conn = h2o_mem_alloc(sizeof(*conn));
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(&w->accept, sock);
}

static int open_listener(cl_worker_t *w, const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    int err = uv_tcp_init(&w->loop, &w->listener);
    if (!err && (err = uv_tcp_open(&w->listener, fd)) != 0)
        close(fd);
    if (!err)
        err = uv_listen((uv_stream_t *)&w->listener, 1024, on_accept);
    if (err)
        return err;
    w->listener.data = w;
    w->listening = 1;
    return 0;
}

/* The workers share the port through SO_REUSEPORT, which would as well let
 * a second camledger-server (on another database, say) share it without a
 * word. Binding once without it first finds anyone already listening. */
static int check_port_free(const struct addrinfo *ai)
{
    int one = 1, err = 0;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        err = -errno;
    close(fd);
    return err;
}

static void on_tick(uv_timer_t *t)
{
    cl_worker_t *w = t->data;
    if (w->pg) {
        int up, busy, queued;
        cl_pg_pool_stats(w->pg, &up, &busy, &queued);
        atomic_store(&w->pool_up, up);
        atomic_store(&w->pool_busy, busy);
        atomic_store(&w->pool_queued, queued);
    }
    if (!w->stopping)
        return;
    /* Draining: stop once every request in flight has been answered, or at
     * the deadline. */
    if (w->inflight > 0 && uv_hrtime() < w->stop_deadline_ns)
        return;
    uv_timer_stop(t);
    if (w->inflight > 0)
        cl_warn("worker %d: %d requests still in flight at shutdown", w->index, w->inflight);
    cl_pg_pool_t *pg = w->pg;
    w->pg = NULL;
    cl_pg_pool_close(pg, NULL, NULL);
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->stop, NULL);
    uv_stop(&w->loop);
}

static void on_stop(uv_async_t *a)
{
    cl_worker_t *w = a->data;
    if (w->stopping)
        return;
    w->stopping = 1;
    w->stop_deadline_ns = uv_hrtime() + 10ull * 1000000000ull;
    if (w->listening) {
        uv_close((uv_handle_t *)&w->listener, NULL);
        w->listening = 0;
    }
    h2o_context_request_shutdown(&w->ctx);
    uv_timer_start(&w->tick, on_tick, 0, 20);
}

static void *worker_main(void *arg)
{
    cl_worker_t *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "camledger-server: %s takes a whole number from %ld to %ld, not '%s'\n",
                opt, min, max, s);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static struct addrinfo *resolve_listen(const char *arg)
{
    char host[256];
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || strlen(colon + 1) == 0) {
        fprintf(stderr, "camledger-server: --listen takes HOST:PORT, not '%s'\n", arg);
        return NULL;
    }
    size_t hlen = (size_t)(colon - arg);
    if (arg[0] == '[' && hlen >= 2 && arg[hlen - 1] == ']') {
        arg++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host)) {
        fprintf(stderr, "camledger-server: --listen: host name too long\n");
        return NULL;
    }
    memcpy(host, arg, hlen);
    host[hlen] = '\0';
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int err = getaddrinfo(host, colon + 1, &hints, &res);
    if (err) {
        fprintf(stderr, "camledger-server: --listen %s: %s\n", arg, gai_strerror(err));
        return NULL;
    }
    return res;
}

/* TLS through H2O: HTTP/2 is offered by ALPN, TLS 1.2 at the least. NULL
 * after saying why. */
static SSL_CTX *tls_context(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        fprintf(stderr, "camledger-server: TLS: cannot create a context\n");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        fprintf(stderr, "camledger-server: --tls-cert %s: not a readable PEM certificate\n", cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "camledger-server: --tls-key %s: not the PEM private key of the certificate\n", key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'},
        {"pool", required_argument, NULL, 'p'},
        {"max-window-hours", required_argument, NULL, 'w'},
        {"max-body-bytes", required_argument, NULL, 'b'},
        {"max-csv-bytes", required_argument, NULL, 'c'},
        {"auth-cache-secs", required_argument, NULL, 'a'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cl_server_config_t cfg = {
        .conninfo = "", .pool_size = 8, .max_json_body = 1 << 20, .max_csv_body = 8 << 20,
        .max_window_secs = 24 * 3600, .auth_cache_secs = 5,
    };
    const char *listen_arg = NULL, *tls_cert = NULL, *tls_key = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN), v;
    int threads = ncpu > 0 ? (int)ncpu : 1;
    int c;

    cl_log_init("camledger-server", CL_LOG_INFO);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': cfg.conninfo = optarg; break;
        case 'l': listen_arg = optarg; break;
        case 't': if (parse_long("--threads", optarg, 1, 64, &v) < 0) return 2; threads = (int)v; break;
        case 'p': if (parse_long("--pool", optarg, 1, 100, &v) < 0) return 2; cfg.pool_size = (int)v; break;
        case 'w': if (parse_long("--max-window-hours", optarg, 1, 24 * 366, &v) < 0) return 2;
                  cfg.max_window_secs = v * 3600; break;
        case 'b': if (parse_long("--max-body-bytes", optarg, 1024, 64 << 20, &v) < 0) return 2;
                  cfg.max_json_body = (size_t)v; break;
        case 'c': if (parse_long("--max-csv-bytes", optarg, 1024, 64 << 20, &v) < 0) return 2;
                  cfg.max_csv_body = (size_t)v; break;
        case 'a': if (parse_long("--auth-cache-secs", optarg, 0, 3600, &v) < 0) return 2;
                  cfg.auth_cache_secs = (int)v; break;
        case 'C': tls_cert = optarg; break;
        case 'K': tls_key = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!tls_cert != !tls_key) {
        fprintf(stderr, "camledger-server: --tls-cert and --tls-key go together\n");
        return 2;
    }
    SSL_CTX *ssl_ctx = NULL;
    if (tls_cert && !(ssl_ctx = tls_context(tls_cert, tls_key)))
        return 2;
    if (optind < argc) {
        fprintf(stderr, "camledger-server: unexpected argument '%s'\n%s", argv[optind], usage);
        return 2;
    }
    if (!listen_arg) {
        fprintf(stderr, "camledger-server: --listen is required\n%s", usage);
        return 2;
    }
    struct addrinfo *ai = resolve_listen(listen_arg);
    if (!ai)
        return 2;
    int port_err = check_port_free(ai);
    if (port_err) {
        cl_error("listen %s: %s", listen_arg, strerror(-port_err));
        freeaddrinfo(ai);
        return 1;
    }

    PGconn *check = cl_db_connect(cfg.conninfo, "camledger-server");
    if (!check) {
        freeaddrinfo(ai);
        return 1;
    }
    int schema = cl_db_schema_check(check, "camledger-server");
    PQfinish(check);
    if (schema < 0) {
        freeaddrinfo(ai);
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    h2o_config_init(&h2o_config);
    h2o_config.server_name = h2o_iovec_init(H2O_STRLIT("camledger"));
    /* Bodies up to this size are read; the routes' own limits answer 413
     * in JSON below it. */
    h2o_config.max_request_entity_size = (cfg.max_csv_body > cfg.max_json_body ? cfg.max_csv_body
                                                                                : cfg.max_json_body) + 4096;
    h2o_config.http1.req_timeout = 15000;
    h2o_config.http2.idle_timeout = 30000;
    h2o_hostconf_t *host = h2o_config_register_host(&h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = cl_http_on_req;
    /* Errors H2O sends before routing (a body over its limit) take the
     * fallback path's filters. */
    cl_http_register_error_filter(path, h2o_config.max_request_entity_size);
    cl_http_register_error_filter(&host->fallback_path, h2o_config.max_request_entity_size);
    cl_metrics_init(cl_routes_count);

    cl_workers = calloc((size_t)threads, sizeof(*cl_workers));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    if (!cl_workers || !tids) {
        cl_error("out of memory");
        return 1;
    }
    cl_workers_count = threads;
    int rc = 0;
    for (int i = 0; i < threads; i++) {
        cl_worker_t *w = &cl_workers[i];
        w->index = i;
        w->config = &cfg;
        uv_loop_init(&w->loop);
        h2o_context_init(&w->ctx, &w->loop, &h2o_config);
        w->accept.ctx = &w->ctx;
        w->accept.hosts = h2o_config.hosts;
        w->accept.ssl_ctx = ssl_ctx;
        int err = open_listener(w, ai);
        if (err) {
            cl_error("listen %s: %s", listen_arg, uv_strerror(err));
            rc = 1;
            break;
        }
        w->pg = cl_pg_pool_new(&w->loop, cfg.conninfo, cfg.pool_size);
        uv_async_init(&w->loop, &w->stop, on_stop);
        w->stop.data = w;
        uv_timer_init(&w->loop, &w->tick);
        w->tick.data = w;
        uv_timer_start(&w->tick, on_tick, 1000, 1000);
    }
    freeaddrinfo(ai);
    if (rc)
        return rc;
    for (int i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, worker_main, &cl_workers[i]);
    cl_info("listening on %s with %d thread%s", listen_arg, threads, threads == 1 ? "" : "s");

    int sig = 0;
    sigwait(&stop_signals, &sig);
    cl_info("stopping on %s: finishing requests in flight", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    for (int i = 0; i < threads; i++)
        uv_async_send(&cl_workers[i].stop);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    cl_info("stopped");
    free(tids);
    return 0;
}
