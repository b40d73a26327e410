/* Camera import CSV (RFC 4180): a header naming the columns, then one camera
 * per record. Quoted fields may hold commas, quotes ("") and line breaks. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define MAX_COLUMNS 16
#define MAX_ROWS 10000

static const char *const columns[] = {"code", "name", "station", "owner_kind", "owner_name",
                                      "owner_phone", "lat", "lon", "address", "retention_days",
                                      "timezone"};
#define N_COLUMNS (sizeof(columns) / sizeof(columns[0]))

static int numeric_column(const char *name)
{
    return strcmp(name, "lat") == 0 || strcmp(name, "lon") == 0 ||
           strcmp(name, "retention_days") == 0;
}

typedef struct reader {
    const char *s, *end;
    int line;           /* line of the next character */
    char *field;
    size_t field_len, field_cap;
} reader_t;

static int field_push(reader_t *r, char c)
{
    if (r->field_len + 1 >= r->field_cap) {
        size_t cap = r->field_cap ? r->field_cap * 2 : 64;
        char *nf = realloc(r->field, cap);
        if (!nf)
            return -ENOMEM;
        r->field = nf;
        r->field_cap = cap;
    }
    r->field[r->field_len++] = c;
    r->field[r->field_len] = '\0';
    return 0;
}

/* Reads one field into r->field. *end_of_record is set when the field ended
 * the record (a line break or the end of input). Returns 0 or -EINVAL with
 * the reason in err. */
static int read_field(reader_t *r, int *end_of_record, char *err, size_t errlen)
{
    r->field_len = 0;
    if (field_push(r, '\0') < 0)
        return -ENOMEM;
    r->field_len = 0;
    *end_of_record = 0;
    if (r->s < r->end && *r->s == '"') {
        int start = r->line;
        r->s++;
        for (;;) {
            if (r->s >= r->end) {
                snprintf(err, errlen, "line %d: a quoted field is never closed", start);
                return -EINVAL;
            }
            char c = *r->s++;
            if (c == '"') {
                if (r->s < r->end && *r->s == '"') {
                    r->s++;
                } else {
                    break;
                }
            } else if (c == '\n') {
                r->line++;
            }
            if (field_push(r, c) < 0)
                return -ENOMEM;
        }
        if (r->s < r->end && *r->s != ',' && *r->s != '\n' && *r->s != '\r') {
            snprintf(err, errlen, "line %d: text after a closing quote", r->line);
            return -EINVAL;
        }
    } else {
        while (r->s < r->end && *r->s != ',' && *r->s != '\n' && *r->s != '\r') {
            if (*r->s == '"') {
                snprintf(err, errlen, "line %d: a quote inside an unquoted field", r->line);
                return -EINVAL;
            }
            if (field_push(r, *r->s++) < 0)
                return -ENOMEM;
        }
    }
    if (r->s >= r->end) {
        *end_of_record = 1;
    } else if (*r->s == ',') {
        r->s++;
    } else {
        if (*r->s == '\r')
            r->s++;
        if (r->s < r->end && *r->s == '\n')
            r->s++;
        r->line++;
        *end_of_record = 1;
    }
    return 0;
}

/* How many bytes of s, at most max, end on a character boundary. */
static int utf8_prefix(const char *s, int max)
{
    int n = (int)strnlen(s, (size_t)max + 1);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

static json_t *value_of(const char *column, const char *text)
{
    if (numeric_column(column)) {
        char *end;
        errno = 0;
        double d = strtod(text, &end);
        if (end != text && *end == '\0' && errno == 0 && isfinite(d) &&
            strspn(text, "+-0123456789.eE") == strlen(text)) {
            if (d == trunc(d) && strchr(text, '.') == NULL && fabs(d) < 1e15)
                return json_integer((json_int_t)d);
            return json_real(d);
        }
    }
    return json_string(text);
}

json_t *cl_csv_cameras(const char *text, size_t len, char *err, size_t errlen)
{
    reader_t r = {text, text + len, 1, NULL, 0, 0};
    int col_index[MAX_COLUMNS];
    int ncols = 0, eor = 0;
    json_t *rows = json_array();
    if (errlen > 0)
        err[0] = '\0';
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        r.s += 3;
    if (!rows)
        goto oom;
    if (r.s == r.end) {
        snprintf(err, errlen, "the file is empty: the first line names the columns");
        goto fail;
    }

    do {
        if (read_field(&r, &eor, err, errlen) < 0)
            goto fail;
        if (ncols == MAX_COLUMNS) {
            snprintf(err, errlen, "line 1: more than %d columns", MAX_COLUMNS);
            goto fail;
        }
        int found = -1;
        for (size_t c = 0; c < N_COLUMNS; c++)
            if (strcmp(r.field, columns[c]) == 0)
                found = (int)c;
        if (found < 0) {
            snprintf(err, errlen, "line 1: unknown column '%.*s'; columns are code, name, station, "
                     "owner_kind, owner_name, owner_phone, lat, lon, address, retention_days, "
                     "timezone", utf8_prefix(r.field, 64), r.field);
            goto fail;
        }
        for (int k = 0; k < ncols; k++)
            if (col_index[k] == found) {
                snprintf(err, errlen, "line 1: column '%s' appears twice", columns[found]);
                goto fail;
            }
        col_index[ncols++] = found;
    } while (!eor);
    int has_code = 0;
    for (int k = 0; k < ncols; k++)
        has_code |= col_index[k] == 0;
    if (!has_code) {
        snprintf(err, errlen, "line 1: the header has no 'code' column");
        goto fail;
    }

    while (r.s < r.end) {
        int line = r.line;
        /* A blank line (including the final one) is not a record. */
        if (*r.s == '\n' || *r.s == '\r') {
            if (*r.s == '\r')
                r.s++;
            if (r.s < r.end && *r.s == '\n')
                r.s++;
            r.line++;
            continue;
        }
        if (json_array_size(rows) == MAX_ROWS) {
            snprintf(err, errlen, "more than %d rows: split the file", MAX_ROWS);
            goto fail;
        }
        json_t *fields = json_object();
        json_t *row = json_pack("{s:i,s:o}", "line", line, "fields", fields);
        if (!fields || !row || json_array_append_new(rows, row) < 0)
            goto oom;
        int k = 0;
        do {
            if (read_field(&r, &eor, err, errlen) < 0)
                goto fail;
            if (k >= ncols) {
                snprintf(err, errlen, "line %d: more fields than the header's %d columns", line, ncols);
                goto fail;
            }
            if (r.field_len > 0) {
                json_t *v = value_of(columns[col_index[k]], r.field);
                if (!v) {
                    snprintf(err, errlen, "line %d: column %s is not valid UTF-8", line,
                             columns[col_index[k]]);
                    goto fail;
                }
                json_object_set_new(fields, columns[col_index[k]], v);
            }
            k++;
        } while (!eor);
        if (k != ncols) {
            snprintf(err, errlen, "line %d: %d fields, the header has %d columns", line, k, ncols);
            goto fail;
        }
    }
    free(r.field);
    return rows;

oom:
    snprintf(err, errlen, "out of memory");
fail:
    if (errlen > 0 && err[0] == '\0')
        snprintf(err, errlen, "out of memory");
    free(r.field);
    json_decref(rows);
    return NULL;
}
