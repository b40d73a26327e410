/* libFuzzer harness that sends each input as one HTTP request to a running
 * camledger-server (the sanitizer build, started by tests/fuzz/run.sh on a
 * database of its own), so every route's path parameters, query string and
 * JSON or CSV body go through the real router, decoders and SQL functions.
 *
 * An input is text:
 *   line 1  a route name of the route table ("requests.create"); another
 *           word is hashed onto a route
 *   line 2  the caller: none, bad (an unknown token), inv, adm or aud
 *   line 3  the path's {} arguments, separated by TABs
 *   line 4  the query string (no query when empty)
 *   rest    the body (Content-Type text/csv for cameras.import, else JSON)
 *
 * The answer must be: not a 5xx (the database is up, so even 503 is a
 * finding), an error body of the documented shape for 4xx, and no error
 * message carrying SQL, PostgreSQL's wording, a function name or a file path
 * that the request did not itself contain (the list is `leaks` below; a
 * JSON syntax error's "line 1 column 33" is the client's to see). A dead server, a hang or a bad answer aborts. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

cl_worker_t *cl_workers;
int cl_workers_count;

/* picohttpparser, as built into libh2o (its header is not installed). */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status,
                       const char **msg, size_t *msg_len, struct phr_header *headers,
                       size_t *num_headers, size_t last_len);
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

static int port;

/* The server's coverage is not the harness's: libFuzzer's extra counters
 * make each new kind of answer (route, status, error code) count as new
 * coverage, so inputs that reach new behaviour are kept in the corpus. */
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t answer_kinds[1 << 12];
static const char *tokens[5];
static const char *const callers[5] = {"none", "bad", "inv", "adm", "aud"};

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }

/* Bytes outside keep are sent percent-encoded; '%' itself is kept so that
 * malformed escapes reach the decoder. */
static void put_encoded(buf_t *b, const char *s, size_t n, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            (c && strchr(keep, c))) {
            put(b, &s[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            put(b, e, 3);
        }
    }
}

static size_t hash(const char *s, size_t n)
{
    size_t h = 5381;
    for (size_t i = 0; i < n; i++)
        h = h * 33 + (unsigned char)s[i];
    return h;
}

/* The next line of [*s, end): returns its start and length, advances *s. */
static const char *line(const char **s, const char *end, size_t *len)
{
    const char *start = *s, *nl = memchr(start, '\n', (size_t)(end - start));
    *len = (size_t)((nl ? nl : end) - start);
    *s = nl ? nl + 1 : end;
    return start;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *p = getenv("CL_FUZZ_PORT");
    tokens[1] = "clk_0000000000000000000000000000000000000000000000000000000000000000";
    tokens[2] = getenv("CL_FUZZ_TOKEN_INV");
    tokens[3] = getenv("CL_FUZZ_TOKEN_ADM");
    tokens[4] = getenv("CL_FUZZ_TOKEN_AUD");
    if (!p || !tokens[2] || !tokens[3] || !tokens[4]) {
        fprintf(stderr, "fuzz_http: run by tests/fuzz/run.sh, which sets CL_FUZZ_PORT and "
                        "CL_FUZZ_TOKEN_INV/ADM/AUD\n");
        exit(2);
    }
    port = atoi(p);
    return 0;
}

/* Sends req and reads the whole answer (Connection: close) into resp. */
static int exchange(const buf_t *req, buf_t *resp)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* libFuzzer's timer (SIGALRM, for -timeout) interrupts system calls:
     * each one here carries on after EINTR. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (e == EINTR) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            socklen_t len = sizeof(e);
            while (poll(&pfd, 1, 10000) < 0 && errno == EINTR)
                ;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
                e = errno;
        }
        if (e != 0) {
            close(fd);
            return -e;
        }
    }
    int rc = 0;
    for (size_t off = 0; off < req->len;) {
        ssize_t n = send(fd, req->p + off, req->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            /* The server may answer (413, 400) and close before reading
             * the whole body: read what it said. */
            break;
        }
        off += (size_t)n;
    }
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, 10000);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        char chunk[16384];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        put(resp, chunk, (size_t)n);
    }
    close(fd);
    return rc;
}

static void fail(const buf_t *req, const buf_t *resp, const char *why)
{
    fprintf(stderr, "fuzz_http: %s\n--- request (%zu bytes)\n%.*s\n--- answer (%zu bytes)\n%.*s\n",
            why, req->len, (int)(req->len < 4096 ? req->len : 4096), req->p, resp->len,
            (int)(resp->len < 4096 ? resp->len : 4096), resp->p ? resp->p : "");
    abort();
}

/* Words that would mean the database's or the program's insides showed. */
static const char *const leaks[] = {
    "SELECT", "INSERT", "UPDATE ", "PL/pgSQL", "ERROR:", "SQLSTATE", "cl_api_", "cl_audit",
    "jsonb", "pg_", "syntax error", "relation \"", "column \"", "function ", "/var/", "/tmp/",
    "/work/", "/home/", "/usr/", "/etc/", "/srv/", "/mnt/", "/root/", "CONTEXT",
    "permission denied", "violates", "duplicate key", "invalid input syntax", "out of range for type",
};

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Whether the request itself carried the n bytes at text: in the input as
 * given, or as the server decodes it (%XX, '+'). A message may quote what
 * the client sent. */
static int sent(const char *input, size_t isize, const char *text, size_t n)
{
    if (memmem(input, isize, text, n))
        return 1;
    char *dec = malloc(isize + 1);
    if (!dec)
        abort();
    size_t o = 0;
    for (size_t i = 0; i < isize; i++) {
        int hi, lo;
        if (input[i] == '%' && i + 2 < isize && (hi = hexval(input[i + 1])) >= 0 &&
            (lo = hexval(input[i + 2])) >= 0) {
            dec[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dec[o++] = input[i] == '+' ? ' ' : input[i];
        }
    }
    int found = memmem(dec, o, text, n) != NULL;
    free(dec);
    return found;
}

static void check_answer(const cl_route_t *r, const buf_t *req, buf_t *resp, const char *input,
                         size_t isize)
{
    int minor, status;
    const char *msg;
    size_t msg_len, nh = 64;
    struct phr_header hs[64];
    int hl = phr_parse_response(resp->p, resp->len, &minor, &status, &msg, &msg_len, hs, &nh, 0);
    if (hl <= 0)
        fail(req, resp, "no parsable HTTP answer");
    if (status >= 500)
        fail(req, resp, "a 5xx answer");
    char *body = resp->p + hl;
    size_t blen = resp->len - (size_t)hl;
    const char *ctype = "";
    size_t ctype_len = 0;
    for (size_t i = 0; i < nh; i++) {
        if (hs[i].name_len == 17 && strncasecmp(hs[i].name, "transfer-encoding", 17) == 0) {
            struct phr_chunked_decoder dec = {0};
            if (phr_decode_chunked(&dec, body, &blen) < 0)
                fail(req, resp, "a broken chunked body");
        }
        if (hs[i].name_len == 12 && strncasecmp(hs[i].name, "content-type", 12) == 0) {
            ctype = hs[i].value;
            ctype_len = hs[i].value_len;
        }
    }
    int is_json = ctype_len >= 16 && strncmp(ctype, "application/json", 16) == 0;
    if (status >= 400 && !is_json)
        fail(req, resp, "an error answer that is not JSON");
    size_t kind = hash(r->name, strlen(r->name)) * 31 + (size_t)status;
    if (!is_json) {
        answer_kinds[kind % sizeof(answer_kinds)]++;
        return;
    }
    json_error_t jerr;
    json_t *j = json_loadb(body, blen, 0, &jerr);
    if (!j)
        fail(req, resp, "a JSON answer that does not parse");
    if (status >= 400) {
        json_t *e = json_object_get(j, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *message = json_string_value(json_object_get(e, "message"));
        if (!json_is_object(j) || json_object_size(j) != 1 || !code || !message || !*code)
            fail(req, resp, "an error body not shaped {\"error\": {\"code\", \"message\"}}");
        kind = kind * 31 + hash(code, strlen(code));
        /* A word the client sent may be quoted and followed by the
         * message's own punctuation ("camera ERROR: no such camera"): what
         * counts as sent is the word without its trailing punctuation. */
        for (size_t i = 0; i < sizeof(leaks) / sizeof(leaks[0]); i++) {
            size_t n = strlen(leaks[i]);
            while (n > 1 && !isalnum((unsigned char)leaks[i][n - 1]))
                n--;
            if (strstr(message, leaks[i]) && !sent(input, isize, leaks[i], n))
                fail(req, resp, "an error message that shows SQL or a path");
        }
        /* A source location, "file.c:123". */
        for (const char *p = strstr(message, ".c:"); p; p = strstr(p + 1, ".c:"))
            if (p > message && (isalnum((unsigned char)p[-1]) || p[-1] == '_') && p[3] >= '0' &&
                p[3] <= '9' && !sent(input, isize, p, 4))
                fail(req, resp, "an error message that shows a source location");
    }
    answer_kinds[kind % sizeof(answer_kinds)]++;
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *end = s + size;
    size_t rl, cl, al, ql;
    const char *rname = line(&s, end, &rl), *caller = line(&s, end, &cl);
    const char *args = line(&s, end, &al), *query = line(&s, end, &ql);
    const char *body = s;
    size_t blen = (size_t)(end - s);

    const cl_route_t *r = NULL;
    for (size_t i = 0; i < cl_routes_count && !r; i++)
        if (strlen(cl_routes[i].name) == rl && memcmp(cl_routes[i].name, rname, rl) == 0)
            r = &cl_routes[i];
    if (!r)
        r = &cl_routes[hash(rname, rl) % cl_routes_count];
    size_t who = hash(caller, cl) % 5;
    for (size_t i = 0; i < 5; i++)
        if (strlen(callers[i]) == cl && memcmp(callers[i], caller, cl) == 0)
            who = i;

    buf_t req = {0}, resp = {0};
    puts_(&req, r->method);
    puts_(&req, " ");
    const char *a = args, *aend = args + al;
    for (const char *p = r->pattern; *p;) {
        if (p[0] == '{' && p[1] == '}') {
            const char *tab = memchr(a, '\t', (size_t)(aend - a));
            const char *ae = tab ? tab : aend;
            put_encoded(&req, a, (size_t)(ae - a), "-._~!$&'()*+,;=:@%");
            a = tab ? tab + 1 : aend;
            p += 2;
        } else {
            put(&req, p++, 1);
        }
    }
    if (ql) {
        puts_(&req, "?");
        put_encoded(&req, query, ql, "!\"$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
    }
    puts_(&req, " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n");
    if (tokens[who]) {
        puts_(&req, "Authorization: Bearer ");
        puts_(&req, tokens[who]);
        puts_(&req, "\r\n");
    }
    if (blen) {
        char h[128];
        snprintf(h, sizeof(h), "Content-Type: %s\r\nContent-Length: %zu\r\n",
                 strcmp(r->name, "cameras.import") == 0 ? "text/csv" : "application/json", blen);
        puts_(&req, h);
    }
    puts_(&req, "\r\n");
    put(&req, body, blen);

    int rc = exchange(&req, &resp);
    if (rc == -ECONNREFUSED || rc == -ECONNRESET)
        fail(&req, &resp, "the server is gone");
    if (rc == -ETIMEDOUT)
        fail(&req, &resp, "no answer within 10 s");
    if (rc < 0)
        fail(&req, &resp, strerror(-rc));
    check_answer(r, &req, &resp, (const char *)data, size);
    free(req.p);
    free(resp.p);
    return 0;
}
