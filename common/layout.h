/* Recording layouts: how a path below a recording root names a camera and the
 * wall-clock start of the recording.
 *
 * A pattern is '/'-separated components, matched one to one against the
 * path's components:
 *   {camera}  a whole component: the camera code (required, exactly once)
 *   %Y %m %d  year (4 digits), month, day (2 digits)
 *   %H %M %S  hour, minute, second (2 digits)
 *   %y        year in the century (2 digits, 2000-2099)
 *   %j        day of the year (3 digits)
 *   %s        seconds since the epoch (1 to 12 digits; UTC, zone ignored)
 *   %%        a literal '%'
 *   *         any run of characters within the component (possibly empty)
 *   ?         any one character
 * Any other character matches itself. The last component is matched against
 * the file name without its extension (".mp4", ".mkv", ...) unless the
 * pattern's last component itself contains a '.'.
 *
 * The extension is from the last '.' on; a leading '.' (hidden name) is not
 * one, and a name without a '.' has none. Each field appears at most once
 * (%Y with %y, or %j with %m or %d, counts as twice).
 *
 * The name gives a start time when the pattern holds a full date and hour and
 * minute (%Y or %y, %m and %d or %j; %H; %M; %S defaults to 0), or %s; the
 * time is read in the layout's zone. %s wins over the other fields, which are
 * then only checked for range. A date that does not exist does not match,
 * even when the pattern gives no time. */
#ifndef CL_LAYOUT_H
#define CL_LAYOUT_H

#include <stddef.h>

#include "timefmt.h"

typedef struct cl_layout cl_layout_t;

#define CL_CAMERA_CODE_MAX 128

typedef struct cl_layout_match {
    char camera[CL_CAMERA_CODE_MAX + 1];
    cl_time_t start; /* CL_TIME_NONE when the pattern gives no time */
} cl_layout_match_t;

/* Compiles pattern; times are read in zone (NULL or "" for the system zone).
 * Returns NULL with a one-line reason in err (always NUL-terminated) on a
 * bad pattern or unknown zone. */
cl_layout_t *cl_layout_new(const char *pattern, const char *zone, char *err, size_t errlen);
void cl_layout_free(cl_layout_t *layout);

/* Number of path components a matching path has. */
int cl_layout_depth(const cl_layout_t *layout);

/* 1 when the pattern yields a start time. */
int cl_layout_has_time(const cl_layout_t *layout);

/* Matches relpath ("cam01/2026-11-21/21-40-00.mp4", relative to a root, no
 * leading '/'). Returns 0 and fills out; -ENOENT when the path does not fit
 * the pattern (wrong depth, literal or field mismatch, empty or over-long
 * camera code, a date that does not exist). Thread-safe. */
int cl_layout_match(const cl_layout_t *layout, const char *relpath, cl_layout_match_t *out);

#endif
