/* Percent-decoding, query strings and route patterns (uri.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "uri.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *cl_uri_decode(h2o_mem_pool_t *pool, const char *src, size_t len, int plus_is_space)
{
    char *out = h2o_mem_alloc_pool(pool, len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return NULL;
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            c = (char)(hi * 16 + lo);
            i += 2;
            if (c == '\0')
                return NULL;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '\0') {
            return NULL;
        }
        *o++ = c;
    }
    *o = '\0';
    return out;
}

size_t cl_utf8_seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return c ? 1 : 0;
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) { n = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 4; cp = c & 0x07; }
    else return 0;
    if (n > len)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int cl_utf8_valid(const unsigned char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if ((n = cl_utf8_seq_len(s + i, len - i)) == 0)
            return 0;
    return 1;
}

int cl_query_parse(h2o_mem_pool_t *pool, const char *q, size_t len, cl_param_t **params,
                   size_t *n_params)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += q[i] == '&';
    cl_param_t *ps = h2o_mem_alloc_pool(pool, n * sizeof(*ps));
    size_t count = 0, start = 0;
    *params = ps;
    *n_params = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && q[i] != '&')
            continue;
        if (i > start) {
            const char *eq = memchr(q + start, '=', i - start);
            size_t klen = eq ? (size_t)(eq - (q + start)) : i - start;
            char *k = cl_uri_decode(pool, q + start, klen, 1);
            char *v = eq ? cl_uri_decode(pool, eq + 1, (size_t)(q + i - eq - 1), 1)
                         : cl_uri_decode(pool, "", 0, 1);
            if (!k || !v || !cl_utf8_valid((unsigned char *)k, strlen(k)) ||
                !cl_utf8_valid((unsigned char *)v, strlen(v)))
                return -EINVAL;
            for (size_t p = 0; p < count; p++)
                if (strcmp(ps[p].name, k) == 0)
                    return -EEXIST;
            ps[count].name = k;
            ps[count].value = v;
            *n_params = ++count;
        }
        start = i + 1;
    }
    return 0;
}

int cl_route_match(h2o_mem_pool_t *pool, const char *pattern, const char *path, size_t len,
                   const char *args[CL_ROUTE_MAX_ARGS])
{
    int nargs = 0;
    const char *p = pattern;
    size_t i = 0;
    while (*p) {
        if (*p != '/' || i >= len || path[i] != '/')
            return 0;
        p++;
        i++;
        const char *pe = strchr(p, '/');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        const char *se = memchr(path + i, '/', len - i);
        size_t slen = se ? (size_t)(se - (path + i)) : len - i;
        if (plen == 2 && p[0] == '{' && p[1] == '}') {
            if (slen == 0 || nargs >= CL_ROUTE_MAX_ARGS)
                return 0;
            char *arg = cl_uri_decode(pool, path + i, slen, 0);
            if (!arg || !cl_utf8_valid((unsigned char *)arg, strlen(arg)))
                return -1;
            args[nargs++] = arg;
        } else if (plen != slen || memcmp(p, path + i, slen) != 0) {
            return 0;
        }
        p += plen;
        i += slen;
    }
    return i == len;
}
