/* libFuzzer harness for the request-target decoders (server/uri.c): the
 * input is a target "PATH?QUERY" as the server receives it. Checks what the
 * router relies on: decoded text is NUL-free UTF-8, a parsed query has
 * unique names and survives re-encoding, a matched path yields one argument
 * per "{}" and, re-encoded, matches the same route with the same arguments,
 * and no path matches two routes of one method. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* routes.c refers to the workers for /metrics; nothing here runs a worker. */
cl_worker_t *cl_workers;
int cl_workers_count;

#define CHECK(c)                                                                    \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "fuzz_uri: %s:%d: %s\n", __FILE__, __LINE__, #c);       \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* Percent-encodes every byte but the unreserved ones. */
static char *encode(h2o_mem_pool_t *pool, const char *s, size_t *len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = h2o_mem_alloc_pool(pool, 3 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    *len = (size_t)(o - out);
    return out;
}

static void check_text(const char *s)
{
    CHECK(s != NULL);
    CHECK(cl_utf8_valid((const unsigned char *)s, strlen(s)));
}

static void check_query(h2o_mem_pool_t *pool, const char *q, size_t len)
{
    cl_param_t *ps;
    size_t n;
    if (cl_query_parse(pool, q, len, &ps, &n) < 0)
        return;
    size_t amps = 0;
    for (size_t i = 0; i < len; i++)
        amps += q[i] == '&';
    CHECK(n <= amps + 1);
    /* Re-encode "k=v&..." and parse again: the same pairs in order. */
    size_t cap = 1, off = 0;
    for (size_t i = 0; i < n; i++) {
        check_text(ps[i].name);
        check_text(ps[i].value);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(ps[i].name, ps[j].name) != 0);
        cap += 3 * (strlen(ps[i].name) + strlen(ps[i].value)) + 2;
    }
    char *again = h2o_mem_alloc_pool(pool, cap);
    for (size_t i = 0; i < n; i++) {
        size_t kl, vl;
        char *k = encode(pool, ps[i].name, &kl), *v = encode(pool, ps[i].value, &vl);
        off += (size_t)sprintf(again + off, "%s%s=%s", i ? "&" : "", k, v);
    }
    cl_param_t *ps2;
    size_t n2;
    CHECK(cl_query_parse(pool, again, off, &ps2, &n2) == 0);
    CHECK(n2 == n);
    for (size_t i = 0; i < n; i++)
        CHECK(strcmp(ps[i].name, ps2[i].name) == 0 && strcmp(ps[i].value, ps2[i].value) == 0);
}

static int holes(const char *pattern)
{
    int n = 0;
    for (const char *p = pattern; (p = strstr(p, "{}")) != NULL; p += 2)
        n++;
    return n;
}

static void check_path(h2o_mem_pool_t *pool, const char *path, size_t len)
{
    for (size_t i = 0; i < cl_routes_count; i++) {
        const cl_route_t *r = &cl_routes[i];
        const char *args[CL_ROUTE_MAX_ARGS] = {0};
        int m = cl_route_match(pool, r->pattern, path, len, args);
        if (m <= 0)
            continue;
        int k = holes(r->pattern);
        for (int a = 0; a < k; a++) {
            check_text(args[a]);
            CHECK(args[a][0] != '\0');
        }
        /* Another route of the same method must not take this path too. */
        for (size_t j = i + 1; j < cl_routes_count; j++) {
            const char *other[CL_ROUTE_MAX_ARGS];
            if (strcmp(cl_routes[j].method, r->method) == 0)
                CHECK(cl_route_match(pool, cl_routes[j].pattern, path, len, other) <= 0);
        }
        /* Rebuild the path from the pattern with the arguments re-encoded. */
        size_t cap = strlen(r->pattern) + 1;
        for (int a = 0; a < k; a++)
            cap += 3 * strlen(args[a]);
        char *again = h2o_mem_alloc_pool(pool, cap), *o = again;
        int a = 0;
        for (const char *p = r->pattern; *p;) {
            if (p[0] == '{' && p[1] == '}') {
                size_t el;
                char *e = encode(pool, args[a++], &el);
                memcpy(o, e, el);
                o += el;
                p += 2;
            } else {
                *o++ = *p++;
            }
        }
        const char *args2[CL_ROUTE_MAX_ARGS] = {0};
        CHECK(cl_route_match(pool, r->pattern, again, (size_t)(o - again), args2) == 1);
        for (a = 0; a < k; a++)
            CHECK(strcmp(args[a], args2[a]) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    const char *s = (const char *)data;
    const char *q = memchr(s, '?', size);
    size_t plen = q ? (size_t)(q - s) : size;
    check_path(&pool, s, plen);
    if (q)
        check_query(&pool, q + 1, size - plen - 1);
    /* Decoding alone: never a NUL inside, never longer than the input. */
    char *d = cl_uri_decode(&pool, s, size, 1);
    if (d)
        CHECK(strlen(d) <= size && memchr(s, '\0', size) == NULL);
    h2o_mem_clear_pool(&pool);
    return 0;
}
