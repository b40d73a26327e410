/* Walking a recording root: every regular file whose path fits the layout,
 * with its size and mtime, and every directory (for watches). Synchronous;
 * called from the loop thread. */
#ifndef CL_SCAN_H
#define CL_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "timefmt.h"

typedef struct cl_scan_file {
    char *path;                     /* absolute */
    char camera[CL_CAMERA_CODE_MAX + 1];
    cl_time_t name_time;            /* from the layout, or CL_TIME_NONE */
    int64_t size;
    cl_time_t mtime;
} cl_scan_file_t;

typedef struct cl_scan {
    cl_scan_file_t *files;          /* sorted by path, byte order */
    size_t n_files, cap_files;
    char **dirs;                    /* every directory walked, root included */
    size_t n_dirs, cap_dirs;
    char **failed_dirs;             /* directories that could not be read */
    size_t n_failed_dirs, cap_failed_dirs;
    size_t skipped;                 /* files that do not fit the layout */
} cl_scan_t;

/* Walks root (an absolute, canonical path without a trailing '/') and
 * appends to scan. Unreadable directories are logged and listed in
 * failed_dirs; names that are hidden (leading '.') or not valid UTF-8 are
 * passed over. Returns 0, -ENOMEM, or the negative errno of opening root. */
int cl_scan_root(const char *root, const cl_layout_t *layout, cl_scan_t *scan);

/* Sorts scan->files by path; call once after the last cl_scan_root. */
void cl_scan_sort(cl_scan_t *scan);

/* 1 when path lies in a directory that could not be read, so its absence
 * from the walk says nothing. */
int cl_scan_in_failed_dir(const cl_scan_t *scan, const char *path);

void cl_scan_dispose(cl_scan_t *scan);

#endif
