/* Recording layouts: compiling a path pattern and matching paths against it. */
#include "layout.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A path component cannot be longer on Linux (NAME_MAX). */
#define COMP_MAX 255
#define EPOCH_DIGITS_MAX 12

enum tok_kind { TOK_LIT, TOK_STAR, TOK_ANY, TOK_FIELD };

enum field {
    F_YEAR, /* %Y */
    F_YEAR2, /* %y */
    F_MON,
    F_DAY,
    F_YDAY,
    F_HOUR,
    F_MIN,
    F_SEC,
    F_EPOCH,
    F_COUNT
};

struct tok {
    unsigned char kind;
    unsigned char arg; /* the literal byte, or an enum field */
};

struct comp {
    int camera;
    int ntok;
    struct tok toks[COMP_MAX];
};

struct cl_layout {
    int depth;
    int ext_in_pattern; /* the last component names the extension itself */
    int has_time;
    unsigned fields; /* bit per enum field present */
    char *zone; /* NULL: the system zone */
    struct comp *comps;
};

static const struct {
    char letter;
    unsigned char width; /* digits; %s takes 1..EPOCH_DIGITS_MAX */
    int min, max;
} field_info[F_COUNT] = {
    [F_YEAR] = {'Y', 4, 0, 9999},  [F_YEAR2] = {'y', 2, 0, 99}, [F_MON] = {'m', 2, 1, 12},
    [F_DAY] = {'d', 2, 1, 31},     [F_YDAY] = {'j', 3, 1, 366}, [F_HOUR] = {'H', 2, 0, 23},
    [F_MIN] = {'M', 2, 0, 59},     [F_SEC] = {'S', 2, 0, 59},   [F_EPOCH] = {'s', 0, 0, 0},
};

#define BIT(f) (1u << (f))

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int field_of(char c)
{
    for (int f = 0; f < F_COUNT; f++)
        if (field_info[f].letter == c)
            return f;
    return -1;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int compile_comp(const char *p, size_t len, int idx, struct comp *c, unsigned *fields,
                        char *err, size_t errlen)
{
    static const char camera[] = "{camera}";

    if (len == 0) {
        set_err(err, errlen, "empty component %d", idx + 1);
        return -EINVAL;
    }
    if (len > COMP_MAX) {
        set_err(err, errlen, "component %d is longer than %d bytes", idx + 1, COMP_MAX);
        return -EINVAL;
    }
    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
        set_err(err, errlen, "component %d is '.' or '..'", idx + 1);
        return -EINVAL;
    }
    if (len == sizeof(camera) - 1 && memcmp(p, camera, len) == 0) {
        c->camera = 1;
        return 0;
    }
    if (memmem(p, len, camera, sizeof(camera) - 1)) {
        set_err(err, errlen, "{camera} must be a whole component (component %d)", idx + 1);
        return -EINVAL;
    }

    for (size_t i = 0; i < len; i++) {
        struct tok *t = &c->toks[c->ntok++];
        if (p[i] == '*') {
            t->kind = TOK_STAR;
        } else if (p[i] == '?') {
            t->kind = TOK_ANY;
        } else if (p[i] != '%') {
            t->kind = TOK_LIT;
            t->arg = (unsigned char)p[i];
        } else if (i + 1 == len) {
            set_err(err, errlen, "trailing '%%' in component %d", idx + 1);
            return -EINVAL;
        } else if (p[++i] == '%') {
            t->kind = TOK_LIT;
            t->arg = '%';
        } else {
            int f = field_of(p[i]);
            if (f < 0) {
                set_err(err, errlen, "unknown field '%%%c' in component %d", p[i], idx + 1);
                return -EINVAL;
            }
            if (*fields & BIT(f)) {
                set_err(err, errlen, "duplicate field '%%%c'", p[i]);
                return -EINVAL;
            }
            if ((f == F_YEAR && (*fields & BIT(F_YEAR2))) ||
                (f == F_YEAR2 && (*fields & BIT(F_YEAR)))) {
                set_err(err, errlen, "duplicate field: both '%%Y' and '%%y'");
                return -EINVAL;
            }
            if ((f == F_YDAY && (*fields & (BIT(F_MON) | BIT(F_DAY)))) ||
                ((f == F_MON || f == F_DAY) && (*fields & BIT(F_YDAY)))) {
                set_err(err, errlen, "duplicate field: '%%j' with '%%m' or '%%d'");
                return -EINVAL;
            }
            *fields |= BIT(f);
            t->kind = TOK_FIELD;
            t->arg = (unsigned char)f;
        }
    }
    return 0;
}

cl_layout_t *cl_layout_new(const char *pattern, const char *zone, char *err, size_t errlen)
{
    set_err(err, errlen, "%s", "");
    if (!pattern || !*pattern) {
        set_err(err, errlen, "empty pattern");
        return NULL;
    }
    if (pattern[0] == '/') {
        set_err(err, errlen, "pattern must be relative to the root (leading '/')");
        return NULL;
    }
    if (zone && !*zone)
        zone = NULL;
    if (zone && !cl_tz_valid(zone)) {
        set_err(err, errlen, "unknown time zone '%s'", zone);
        return NULL;
    }

    cl_layout_t *l = calloc(1, sizeof(*l));
    if (!l)
        goto nomem;
    l->depth = 1;
    for (const char *p = pattern; *p; p++)
        l->depth += *p == '/';
    l->comps = calloc((size_t)l->depth, sizeof(*l->comps));
    if (!l->comps)
        goto nomem;
    if (zone && !(l->zone = strdup(zone)))
        goto nomem;

    const char *p = pattern;
    int cameras = 0;
    for (int i = 0; i < l->depth; i++) {
        const char *end = strchrnul(p, '/');
        if (compile_comp(p, (size_t)(end - p), i, &l->comps[i], &l->fields, err, errlen))
            goto fail;
        if (l->comps[i].camera && ++cameras > 1) {
            set_err(err, errlen, "{camera} appears more than once");
            goto fail;
        }
        if (i == l->depth - 1)
            l->ext_in_pattern = memchr(p, '.', (size_t)(end - p)) != NULL;
        p = *end ? end + 1 : end;
    }
    if (cameras == 0) {
        set_err(err, errlen, "pattern has no {camera} component");
        goto fail;
    }

    unsigned f = l->fields;
    l->has_time = (f & BIT(F_EPOCH)) ||
                  ((f & (BIT(F_YEAR) | BIT(F_YEAR2))) &&
                   ((f & BIT(F_MON) && f & BIT(F_DAY)) || (f & BIT(F_YDAY))) &&
                   (f & BIT(F_HOUR)) && (f & BIT(F_MIN)));
    return l;

nomem:
    set_err(err, errlen, "out of memory");
fail:
    cl_layout_free(l);
    return NULL;
}

void cl_layout_free(cl_layout_t *layout)
{
    if (!layout)
        return;
    free(layout->comps);
    free(layout->zone);
    free(layout);
}

int cl_layout_depth(const cl_layout_t *layout)
{
    return layout->depth;
}

int cl_layout_has_time(const cl_layout_t *layout)
{
    return layout->has_time;
}

struct matcher {
    const struct comp *c;
    const char *s;
    size_t n;
    int64_t *vals;
    /* One bit per (token, offset) already known not to match: keeps '*' and
     * '%s' backtracking polynomial. */
    uint8_t failed[(COMP_MAX + 1) * (COMP_MAX + 1) / 8 + 1];
};

static int read_digits(const char *s, size_t w, int64_t *out)
{
    int64_t v = 0;
    for (size_t i = 0; i < w; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int match_from(struct matcher *m, int ti, size_t si)
{
    const struct comp *c = m->c;
    if (ti == c->ntok)
        return si == m->n;

    size_t bit = (size_t)ti * (m->n + 1) + si;
    if (m->failed[bit / 8] & (1u << (bit % 8)))
        return 0;

    const struct tok *t = &c->toks[ti];
    size_t left = m->n - si;
    switch (t->kind) {
    case TOK_LIT:
        if (left > 0 && (unsigned char)m->s[si] == t->arg && match_from(m, ti + 1, si + 1))
            return 1;
        break;
    case TOK_ANY:
        if (left > 0 && match_from(m, ti + 1, si + 1))
            return 1;
        break;
    case TOK_STAR:
        for (size_t k = si; k <= m->n; k++)
            if (match_from(m, ti + 1, k))
                return 1;
        break;
    case TOK_FIELD: {
        int f = t->arg;
        size_t lo = field_info[f].width, hi = lo;
        if (f == F_EPOCH) {
            lo = 1;
            hi = EPOCH_DIGITS_MAX;
        }
        for (size_t w = hi < left ? hi : left; w >= lo && w > 0; w--) {
            int64_t v;
            if (!read_digits(m->s + si, w, &v))
                continue;
            if (f != F_EPOCH && (v < field_info[f].min || v > field_info[f].max))
                continue;
            m->vals[f] = v;
            if (match_from(m, ti + 1, si + w))
                return 1;
        }
        break;
    }
    }
    m->failed[bit / 8] |= (uint8_t)(1u << (bit % 8));
    return 0;
}

static int match_comp(const struct comp *c, const char *s, size_t n, int64_t *vals)
{
    struct matcher m;
    m.c = c;
    m.s = s;
    m.n = n;
    m.vals = vals;
    memset(m.failed, 0, ((size_t)c->ntok + 1) * (n + 1) / 8 + 1);
    return match_from(&m, 0, 0);
}

/* The start time from the matched fields: 0, or -ENOENT for a date that does
 * not exist. */
static int start_time(const cl_layout_t *l, const int64_t *vals, cl_time_t *out)
{
    unsigned f = l->fields;
    int year = f & BIT(F_YEAR) ? (int)vals[F_YEAR] : 2000 + (int)vals[F_YEAR2];
    int has_year = (f & (BIT(F_YEAR) | BIT(F_YEAR2))) != 0;

    if (has_year && (f & BIT(F_YDAY)) && vals[F_YDAY] > 365 + is_leap(year))
        return -ENOENT;
    if (has_year && (f & BIT(F_MON)) && (f & BIT(F_DAY)) &&
        vals[F_DAY] > days_in_month(year, (int)vals[F_MON]))
        return -ENOENT;

    *out = CL_TIME_NONE;
    if (f & BIT(F_EPOCH)) {
        *out = vals[F_EPOCH] * CL_USEC_PER_SEC;
        return 0;
    }
    if (!l->has_time)
        return 0;

    struct tm tm = {
        .tm_year = year - 1900,
        .tm_hour = (int)vals[F_HOUR],
        .tm_min = (int)vals[F_MIN],
        .tm_sec = f & BIT(F_SEC) ? (int)vals[F_SEC] : 0,
        .tm_isdst = -1,
    };
    if (f & BIT(F_YDAY)) {
        int yday = (int)vals[F_YDAY], mon = 1;
        while (yday > days_in_month(year, mon))
            yday -= days_in_month(year, mon++);
        tm.tm_mon = mon - 1;
        tm.tm_mday = yday;
    } else {
        tm.tm_mon = (int)vals[F_MON] - 1;
        tm.tm_mday = (int)vals[F_DAY];
    }
    int err = cl_time_from_local(&tm, l->zone, out);
    if (err == -EINVAL)
        return -ENOENT;
    return err;
}

int cl_layout_match(const cl_layout_t *layout, const char *relpath, cl_layout_match_t *out)
{
    if (!layout || !relpath || !out)
        return -EINVAL;
    if (relpath[0] == '/')
        return -ENOENT;

    int64_t vals[F_COUNT] = {0};
    cl_layout_match_t res = {.start = CL_TIME_NONE};
    const char *p = relpath;
    for (int i = 0; i < layout->depth; i++) {
        const char *end = strchrnul(p, '/');
        int last = i == layout->depth - 1;
        if (last != (*end == '\0'))
            return -ENOENT;
        size_t len = (size_t)(end - p);
        if (len == 0 || len > COMP_MAX)
            return -ENOENT;
        if (last && !layout->ext_in_pattern) {
            /* A leading dot starts a hidden name, not an extension. */
            const char *dot = memrchr(p, '.', len);
            if (dot && dot > p)
                len = (size_t)(dot - p);
        }

        const struct comp *c = &layout->comps[i];
        if (c->camera) {
            if (len > CL_CAMERA_CODE_MAX || (len == 1 && p[0] == '.') ||
                (len == 2 && p[0] == '.' && p[1] == '.'))
                return -ENOENT;
            memcpy(res.camera, p, len);
            res.camera[len] = '\0';
        } else if (!match_comp(c, p, len, vals)) {
            return -ENOENT;
        }
        p = end + 1;
    }

    int err = start_time(layout, vals, &res.start);
    if (err)
        return err;
    *out = res;
    return 0;
}
