#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static const char *log_prog = "camledger";
static cl_log_level_t log_level = CL_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*hook_before)(void);
static void (*hook_after)(void);

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void cl_log_init(const char *prog, cl_log_level_t level)
{
    log_prog = prog;
    log_level = level;
}

void cl_log_set_hooks(void (*before)(void), void (*after)(void))
{
    pthread_mutex_lock(&log_lock);
    hook_before = before;
    hook_after = after;
    pthread_mutex_unlock(&log_lock);
}

void cl_log(cl_log_level_t level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_lock);
    if (hook_before)
        hook_before();
    fprintf(stderr, "%s: %s: ", log_prog, level_names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    if (hook_after)
        hook_after();
    pthread_mutex_unlock(&log_lock);
    va_end(ap);
}
