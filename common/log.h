/* Logging: one line per event, "prog: LEVEL: object: what failed: reason",
 * to stderr (journald picks it up). Thread-safe. */
#ifndef CL_LOG_H
#define CL_LOG_H

typedef enum cl_log_level {
    CL_LOG_ERROR = 0,
    CL_LOG_WARN,
    CL_LOG_INFO,
    CL_LOG_DEBUG,
} cl_log_level_t;

/* Sets the program name shown on each line and the most verbose level
 * printed (default CL_LOG_INFO). */
void cl_log_init(const char *prog, cl_log_level_t level);
void cl_log(cl_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Called before a line is written and after, so a progress line on a
 * terminal can be cleared and redrawn around it. NULL to unset. */
void cl_log_set_hooks(void (*before)(void), void (*after)(void));

#define cl_error(...) cl_log(CL_LOG_ERROR, __VA_ARGS__)
#define cl_warn(...)  cl_log(CL_LOG_WARN, __VA_ARGS__)
#define cl_info(...)  cl_log(CL_LOG_INFO, __VA_ARGS__)
#define cl_debug(...) cl_log(CL_LOG_DEBUG, __VA_ARGS__)

#endif
