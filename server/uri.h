/* Decoding what a request's target carries: percent-encoded path segments
 * and the query string, both required to be UTF-8. Pure functions over an
 * H2O memory pool, so the fuzz harness runs them as the server does. */
#ifndef CL_URI_H
#define CL_URI_H

#include <stddef.h>

#include <h2o/memory.h>

typedef struct cl_param {
    const char *name;
    const char *value;
} cl_param_t;

#define CL_ROUTE_MAX_ARGS 4

/* The length of the valid UTF-8 sequence at s, or 0 when the bytes there are
 * not one (overlong, surrogate, beyond U+10FFFF, cut short, or NUL). */
size_t cl_utf8_seq_len(const unsigned char *s, size_t len);
int cl_utf8_valid(const unsigned char *s, size_t len);

/* Percent-decodes src (plus_is_space for query strings) into the pool.
 * NULL for a malformed escape or an encoded NUL byte. */
char *cl_uri_decode(h2o_mem_pool_t *pool, const char *src, size_t len, int plus_is_space);

/* Splits q (without the '?') into decoded name/value pairs. -EINVAL for a
 * malformed escape or text that is not UTF-8, -EEXIST for a name given
 * twice; empty pairs ("a=1&&b=2") are skipped. */
int cl_query_parse(h2o_mem_pool_t *pool, const char *q, size_t len, cl_param_t **params,
                   size_t *n_params);

/* Matches path (len bytes, no query) against pattern, where "{}" stands for
 * one non-empty segment; each such segment is decoded into args. 1: match,
 * 0: no match, -1: a {} segment that is not valid percent-encoded UTF-8. */
int cl_route_match(h2o_mem_pool_t *pool, const char *pattern, const char *path, size_t len,
                   const char *args[CL_ROUTE_MAX_ARGS]);

#endif
