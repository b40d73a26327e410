/* camledger-indexer: keeps PostgreSQL's index of the recordings on this
 * storage node up to date. See docs/indexer.md. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <libavutil/log.h>

#include "log.h"
#include "fulfil.h"
#include "pass.h"

static const char usage[] =
    "usage: camledger-indexer --db CONNINFO --root DIR [--root DIR ...]\n"
    "                         --layout PATTERN [--tz ZONE] [--once] [--jobs N]\n"
    "                         [--stable-secs N] [--rescan-secs N] [--verbose]\n"
    "                         [--exports DIR [--claim-secs N] [--max-attempts N]]\n"
    "  --db CONNINFO     libpq connection string or URI; empty: libpq's defaults\n"
    "  --root DIR        a recording root (repeatable)\n"
    "  --layout PATTERN  path below a root, e.g. {camera}/%Y-%m-%d/%H-%M-%S\n"
    "  --tz ZONE         IANA zone of the times in names (default: system zone)\n"
    "  --once            one full pass, a summary line, then exit\n"
    "  --jobs N          files probed at once (default: number of CPUs)\n"
    "  --stable-secs N   leave files changed within N seconds for later (default 60)\n"
    "  --rescan-secs N   full rescan period as a daemon (default 300)\n"
    "  --exports DIR     also cut the approved extraction requests of cameras\n"
    "                    recorded under the roots, into DIR\n"
    "  --claim-secs N    a claimed request not finished by then is taken over (default 300)\n"
    "  --max-attempts N  failed cuts before a request is failed (default 5)\n";

typedef struct watch {
    char *dir;
    uv_fs_event_t *handle;
} watch_t;

typedef struct indexer {
    uv_loop_t *loop;
    cl_pass_config_t pass_cfg;
    int once;
    int rescan_secs;
    int exit_code;
    int fulfil_on;
    cl_fulfil_config_t fulfil;
    uv_timer_t fulfil_timer;
    cl_pass_t *running;
    uint64_t dirty_ms;     /* a change seen while a pass ran wants the next
                              one this soon (ms); 0 when none was seen */
    uv_timer_t next_pass;
    uv_timer_t progress;
    uv_async_t wake;
    watch_t *watches;
    size_t n_watches;
    int watch_warned;
    int tty;
} indexer_t;

static volatile sig_atomic_t stop_requested;
static uv_async_t *signal_wake;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (signal_wake)
        uv_async_send(signal_wake);
}

static void progress_clear(void)
{
    fputs("\r\033[K", stderr);
}

static void progress_draw(uv_timer_t *t)
{
    indexer_t *ix = t->data;
    if (!ix->running)
        return;
    cl_pass_stats_t s = cl_pass_stats(ix->running);
    double el = s.seconds;
    double rate = el > 0 ? (double)s.bytes_done / el : 0;
    double eta = rate > 0 ? (double)(s.bytes_todo - s.bytes_done) / rate : 0;
    char line[256];
    snprintf(line, sizeof(line), "%zu/%zu files, %.1f/%.1f MB, %.1f MB/s, %.1f files/s, ETA %.0f s",
             s.done, s.todo, (double)s.bytes_done / 1e6, (double)s.bytes_todo / 1e6,
             rate / 1e6, el > 0 ? (double)s.done / el : 0, eta);
    /* A line that wraps is not erased by the next "\r\033[K": keep it
     * within the terminal's width. */
    struct winsize ws;
    int width = (int)sizeof(line);
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
        width = ws.ws_col - 1;
    fprintf(stderr, "\r\033[K%.*s", width, line);
}

static void start_pass(indexer_t *ix);

static void on_next_pass(uv_timer_t *t)
{
    start_pass(t->data);
}

static void schedule_pass(indexer_t *ix, uint64_t delay_ms)
{
    uint64_t due = uv_timer_get_due_in(&ix->next_pass);
    if (uv_is_active((uv_handle_t *)&ix->next_pass) && due <= delay_ms)
        return;
    uv_timer_start(&ix->next_pass, on_next_pass, delay_ms, 0);
}

/* A name that appeared, vanished or moved gets a pass a second later. A
 * write only says a file is still growing, which no pass can index before
 * it has been still for --stable-secs: that pass waits as long, so files
 * written all day do not cause a full pass every second. */
static void on_fs_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    indexer_t *ix = h->data;
    uint64_t delay = 1000, stable_ms = (uint64_t)ix->pass_cfg.stable_secs * 1000 + 100;
    (void)name;
    if (status < 0)
        return;
    if (!(events & UV_RENAME) && stable_ms > delay)
        delay = stable_ms;
    if (ix->running) {
        if (!ix->dirty_ms || delay < ix->dirty_ms)
            ix->dirty_ms = delay;
    } else {
        schedule_pass(ix, delay);
    }
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keeps one inotify watch per directory the last walk found: new ones are
 * added, vanished ones closed. */
static void update_watches(indexer_t *ix, char *const *dirs_in, size_t n)
{
    char **dirs = malloc((n + 1) * sizeof(*dirs));
    if (!dirs)
        return;
    memcpy(dirs, dirs_in, n * sizeof(*dirs));
    qsort(dirs, n, sizeof(*dirs), cmp_str);
    watch_t *next = calloc(n + 1, sizeof(*next));
    if (!next) {
        free(dirs);
        return;
    }
    size_t o = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(dirs[i], dirs[i - 1]) == 0)
            continue;
        while (o < ix->n_watches && strcmp(ix->watches[o].dir, dirs[i]) < 0) {
            uv_close((uv_handle_t *)ix->watches[o].handle, free_handle);
            free(ix->watches[o].dir);
            o++;
        }
        if (o < ix->n_watches && strcmp(ix->watches[o].dir, dirs[i]) == 0) {
            next[k++] = ix->watches[o++];
            continue;
        }
        uv_fs_event_t *h = malloc(sizeof(*h));
        char *dir = strdup(dirs[i]);
        if (!h || !dir || uv_fs_event_init(ix->loop, h) < 0) {
            free(h);
            free(dir);
            continue;
        }
        h->data = ix;
        int err = uv_fs_event_start(h, on_fs_event, dir, 0);
        if (err) {
            if (!ix->watch_warned++)
                cl_warn("%s: cannot watch directory: %s; relying on the periodic rescan",
                        dir, uv_strerror(err));
            uv_close((uv_handle_t *)h, free_handle);
            free(dir);
            continue;
        }
        next[k].dir = dir;
        next[k].handle = h;
        k++;
    }
    for (; o < ix->n_watches; o++) {
        uv_close((uv_handle_t *)ix->watches[o].handle, free_handle);
        free(ix->watches[o].dir);
    }
    free(ix->watches);
    free(dirs);
    ix->watches = next;
    ix->n_watches = k;
}

static void shutdown_loop(indexer_t *ix)
{
    for (size_t i = 0; i < ix->n_watches; i++) {
        uv_close((uv_handle_t *)ix->watches[i].handle, free_handle);
        free(ix->watches[i].dir);
    }
    free(ix->watches);
    ix->watches = NULL;
    ix->n_watches = 0;
    /* Before the close: a signal must not wake a closing handle. */
    signal_wake = NULL;
    uv_close((uv_handle_t *)&ix->next_pass, NULL);
    uv_close((uv_handle_t *)&ix->progress, NULL);
    uv_close((uv_handle_t *)&ix->fulfil_timer, NULL);
    uv_close((uv_handle_t *)&ix->wake, NULL);
}

/* Cuts every approved request this node can, one summary line if any. */
static int run_fulfil(indexer_t *ix)
{
    cl_fulfil_stats_t fs;
    int err = cl_fulfil_all(&ix->fulfil, &fs);
    if (fs.fulfilled + fs.partial + fs.unavailable + fs.retried + fs.failed > 0 || err) {
        printf("fulfil: fulfilled=%zu partial=%zu unavailable=%zu retried=%zu failed=%zu%s\n",
               fs.fulfilled, fs.partial, fs.unavailable, fs.retried, fs.failed,
               err ? " incomplete" : "");
        fflush(stdout);
    }
    return err;
}

static void on_fulfil_timer(uv_timer_t *t)
{
    indexer_t *ix = t->data;
    if (!ix->running && !stop_requested)
        run_fulfil(ix);
}

static void pass_done(cl_pass_t *pass, int err, const cl_pass_stats_t *s)
{
    indexer_t *ix = cl_pass_data(pass);
    uv_timer_stop(&ix->progress);
    if (ix->tty)
        progress_clear();
    printf("pass: seen=%zu indexed=%zu unchanged=%zu deleted=%zu failed=%zu growing=%zu "
           "skipped=%zu keyframes=%llu bytes_read=%lld seconds=%.3f%s\n",
           s->seen, s->indexed, s->unchanged, s->deleted, s->failed, s->growing, s->skipped,
           (unsigned long long)s->keyframes, (long long)s->bytes_read, s->seconds,
           err ? " incomplete" : "");
    fflush(stdout);
    /* A daemon's exit status tells about its last pass, not one that failed
     * hours before while the database was away. */
    ix->exit_code = err ? 1 : 0;
    if (!err && ix->fulfil_on && !stop_requested && run_fulfil(ix) < 0)
        ix->exit_code = 1;
    if (ix->once || stop_requested) {
        shutdown_loop(ix);
        return;
    }
    size_t n;
    char *const *dirs = cl_pass_dirs(pass, &n);
    update_watches(ix, dirs, n);

    uint64_t delay = (uint64_t)ix->rescan_secs * 1000;
    if (s->next_stable != CL_TIME_NONE) {
        cl_time_t wait_us = s->next_stable - cl_time_now();
        uint64_t ms = wait_us > 0 ? (uint64_t)(wait_us / 1000) + 100 : 100;
        if (ms < delay)
            delay = ms;
    }
    if (ix->dirty_ms && delay > ix->dirty_ms)
        delay = ix->dirty_ms;
    if (err && delay > 5000)
        delay = 5000;
    ix->dirty_ms = 0;
    uv_timer_start(&ix->next_pass, on_next_pass, delay, 0);
}

static void start_pass(indexer_t *ix)
{
    if (ix->running)
        return;
    if (stop_requested) {
        if (!uv_is_closing((uv_handle_t *)&ix->wake))
            shutdown_loop(ix);
        return;
    }
    uv_timer_stop(&ix->next_pass);
    ix->dirty_ms = 0;
    int err = cl_pass_start_tracked(&ix->pass_cfg, pass_done, ix, &ix->running);
    if (err) {
        cl_error("pass: could not start: %s", err == -ECONNRESET ? "database unavailable" :
                 strerror(-err));
        ix->exit_code = 1;
        if (ix->once) {
            shutdown_loop(ix);
            return;
        }
        uv_timer_start(&ix->next_pass, on_next_pass, 5000, 0);
        return;
    }
    if (ix->tty && ix->running)
        uv_timer_start(&ix->progress, progress_draw, 500, 500);
}

static void on_wake(uv_async_t *a)
{
    indexer_t *ix = a->data;
    if (stop_requested && !ix->running && !uv_is_closing((uv_handle_t *)&ix->wake)) {
        cl_info("stopping");
        shutdown_loop(ix);
    }
}

static int parse_int(const char *opt, const char *s, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "camledger-indexer: %s takes a whole number from %d to %d, not '%s'\n",
                opt, min, max, s);
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

static int add_root(char ***roots, size_t *n, const char *arg)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(arg, real) || stat(real, &st) < 0) {
        fprintf(stderr, "camledger-indexer: --root %s: %s\n", arg, strerror(errno));
        return -EINVAL;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "camledger-indexer: --root %s: not a directory\n", arg);
        return -EINVAL;
    }
    if (strcmp(real, "/") == 0) {
        fprintf(stderr, "camledger-indexer: --root %s: the filesystem root is not a recording root\n", arg);
        return -EINVAL;
    }
    size_t len = strlen(real);
    for (size_t i = 0; i < *n; i++) {
        size_t ol = strlen((*roots)[i]);
        size_t m = len < ol ? len : ol;
        if (strncmp(real, (*roots)[i], m) == 0 &&
            (len == ol || (len > ol ? real[ol] == '/' : (*roots)[i][len] == '/'))) {
            fprintf(stderr, "camledger-indexer: --root %s overlaps --root %s\n", real, (*roots)[i]);
            return -EINVAL;
        }
    }
    char **nv = realloc(*roots, (*n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    *roots = nv;
    if (!(nv[*n] = strdup(real)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"root", required_argument, NULL, 'r'},
        {"layout", required_argument, NULL, 'l'},
        {"tz", required_argument, NULL, 'z'},
        {"once", no_argument, NULL, 'o'},
        {"jobs", required_argument, NULL, 'j'},
        {"stable-secs", required_argument, NULL, 's'},
        {"rescan-secs", required_argument, NULL, 'R'},
        {"exports", required_argument, NULL, 'e'},
        {"claim-secs", required_argument, NULL, 'C'},
        {"max-attempts", required_argument, NULL, 'A'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conninfo = "", *layout_arg = NULL, *tz = NULL;
    char **roots = NULL;
    size_t n_roots = 0;
    int once = 0, verbose = 0, stable_secs = 60, rescan_secs = 300;
    int claim_secs = 300, max_attempts = 5;
    const char *exports_arg = NULL;
    char exports[PATH_MAX], node[300];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int jobs = ncpu > 0 ? (int)ncpu : 1;
    int c, rc = 2;
    cl_layout_t *layout = NULL;
    cl_store_t *store = NULL;

    cl_log_init("camledger-indexer", CL_LOG_INFO);
    while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
        switch (c) {
        case 'd': conninfo = optarg; break;
        case 'r': if (add_root(&roots, &n_roots, optarg) < 0) goto out; break;
        case 'l': layout_arg = optarg; break;
        case 'z': tz = optarg; break;
        case 'o': once = 1; break;
        case 'j': if (parse_int("--jobs", optarg, 1, 256, &jobs) < 0) goto out; break;
        case 's': if (parse_int("--stable-secs", optarg, 0, 86400, &stable_secs) < 0) goto out; break;
        case 'R': if (parse_int("--rescan-secs", optarg, 1, 86400, &rescan_secs) < 0) goto out; break;
        case 'e': exports_arg = optarg; break;
        case 'C': if (parse_int("--claim-secs", optarg, 1, 86400, &claim_secs) < 0) goto out; break;
        case 'A': if (parse_int("--max-attempts", optarg, 1, 100, &max_attempts) < 0) goto out; break;
        case 'v': verbose = 1; break;
        case 'h': fputs(usage, stdout); rc = 0; goto out;
        default: fputs(usage, stderr); goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "camledger-indexer: unexpected argument '%s'\n%s", argv[optind], usage);
        goto out;
    }
    if (n_roots == 0 || !layout_arg) {
        fprintf(stderr, "camledger-indexer: --root and --layout are required\n%s", usage);
        goto out;
    }
    char err[256];
    layout = cl_layout_new(layout_arg, tz, err, sizeof(err));
    if (!layout) {
        fprintf(stderr, "camledger-indexer: --layout/--tz: %s\n", err);
        goto out;
    }
    if (verbose)
        cl_log_init("camledger-indexer", CL_LOG_DEBUG);
    av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_QUIET);

    /* libuv sizes its thread pool once, from the environment. */
    char pool[16];
    snprintf(pool, sizeof(pool), "%d", jobs);
    setenv("UV_THREADPOOL_SIZE", pool, 1);

    if (exports_arg) {
        struct stat est;
        if (mkdir(exports_arg, 0750) < 0 && errno != EEXIST) {
            fprintf(stderr, "camledger-indexer: --exports %s: %s\n", exports_arg, strerror(errno));
            goto out;
        }
        if (!realpath(exports_arg, exports) || stat(exports, &est) < 0 || !S_ISDIR(est.st_mode)) {
            fprintf(stderr, "camledger-indexer: --exports %s: not a directory\n", exports_arg);
            goto out;
        }
        char host[256] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(node, sizeof(node), "%s:%ld", host, (long)getpid());
    }

    rc = 1;
    store = cl_store_new(conninfo, once ? 60 : -1, &stop_requested);
    if (!store)
        goto out;

    indexer_t ix = {0};
    ix.loop = uv_default_loop();
    ix.once = once;
    ix.rescan_secs = rescan_secs;
    ix.tty = isatty(STDERR_FILENO);
    ix.pass_cfg = (cl_pass_config_t){
        .loop = ix.loop, .store = store, .layout = layout, .roots = roots,
        .n_roots = n_roots, .jobs = jobs, .stable_secs = stable_secs, .stop = &stop_requested,
    };
    uv_timer_init(ix.loop, &ix.next_pass);
    ix.next_pass.data = &ix;
    uv_timer_init(ix.loop, &ix.progress);
    uv_timer_init(ix.loop, &ix.fulfil_timer);
    ix.fulfil_timer.data = &ix;
    if (exports_arg) {
        ix.fulfil_on = 1;
        ix.fulfil = (cl_fulfil_config_t){
            .store = store, .roots = roots, .n_roots = n_roots, .exports = exports, .node = node,
            .lease_secs = claim_secs, .max_attempts = max_attempts, .stop = &stop_requested,
        };
        /* Requests are approved at any time: look for them between passes. */
        if (!once)
            uv_timer_start(&ix.fulfil_timer, on_fulfil_timer, 10000, 10000);
    }
    ix.progress.data = &ix;
    uv_async_init(ix.loop, &ix.wake, on_wake);
    ix.wake.data = &ix;
    signal_wake = &ix.wake;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ix.tty)
        cl_log_set_hooks(progress_clear, NULL);

    start_pass(&ix);
    uv_run(ix.loop, UV_RUN_DEFAULT);
    uv_loop_close(ix.loop);
    rc = ix.exit_code;

out:
    cl_store_free(store);
    cl_layout_free(layout);
    for (size_t i = 0; i < n_roots; i++)
        free(roots[i]);
    free(roots);
    return rc;
}
