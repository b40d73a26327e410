/* A minimal HTTP/1.1 client for the tests (one request per connection,
 * Connection: close), and starting/stopping camledger-server. */
#ifndef CL_HTTP_CLIENT_H
#define CL_HTTP_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

typedef struct cl_http_resp {
    int status;          /* 0 when no answer came */
    char *head;          /* status line and headers, NUL-terminated */
    char *body;          /* NUL-terminated (the body may hold NULs: use body_len) */
    size_t body_len;
} cl_http_resp_t;

/* Sends one request to 127.0.0.1:port. extra_headers is "Name: value\r\n"...
 * or NULL; token adds "Authorization: Bearer token" when non-NULL. Returns 0
 * or a negative errno (connection refused, timeout). */
int cl_http(int port, const char *method, const char *path, const char *token,
            const char *extra_headers, const char *body, size_t body_len, cl_http_resp_t *out);

/* A request with an optional JSON body that must be answered with status
 * want (the test fails otherwise, showing the answer); returns the parsed
 * answer, NULL when it is not JSON. */
json_t *cl_http_json(int port, int want, const char *method, const char *path, const char *token,
                     const char *body);

/* How long cl_http waits for the server (default 60 s; 0 restores it). */
void cl_http_set_timeout(int secs);

/* The value of header name (case-insensitive) in a malloc'ed string, or NULL. */
char *cl_http_header(const cl_http_resp_t *r, const char *name);

void cl_http_resp_free(cl_http_resp_t *r);

/* Starts camledger-server (CL_SERVER) on a free loopback port with the given
 * conninfo and extra arguments, waits until /healthz answers 200, and
 * returns its pid; *port receives the port. Fails the test on error. */
pid_t cl_t_server_start(const char *conninfo, const char *extra_args, int *port);

/* SIGTERM, then waits; returns the exit status (128+signal if killed). */
int cl_t_server_stop(pid_t pid);

#endif
