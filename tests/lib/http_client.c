#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

static int timeout_secs = 60;

void cl_http_set_timeout(int secs)
{
    timeout_secs = secs > 0 ? secs : 60;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends the body, but stops as soon as the server answers: it may refuse a
 * large body (413) after the headers and close without reading the rest. */
static int send_body(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        struct pollfd p = {fd, POLLIN | POLLOUT, 0};
        int n = poll(&p, 1, timeout_secs * 1000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? -ETIMEDOUT : -errno;
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            return 0;
        ssize_t sent = send(fd, buf, len > 65536 ? 65536 : len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        buf += sent;
        len -= (size_t)sent;
    }
    return 0;
}

int cl_http(int port, const char *method, const char *path, const char *token,
            const char *extra_headers, const char *body, size_t body_len, cl_http_resp_t *out)
{
    memset(out, 0, sizeof(*out));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    struct timeval tv = {timeout_secs, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    char *head;
    int hl = asprintf(&head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                      "%s%s%s%s" "Content-Length: %zu\r\n\r\n",
                      method, path, port, token ? "Authorization: Bearer " : "",
                      token ? token : "", token ? "\r\n" : "", extra_headers ? extra_headers : "",
                      body ? body_len : 0);
    if (hl < 0) {
        close(fd);
        return -ENOMEM;
    }
    int err = send_all(fd, head, (size_t)hl);
    free(head);
    if (!err && body && body_len)
        err = send_body(fd, body, body_len);
    /* The server may answer (413) before reading a large body: read anyway. */
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (cap - len < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) {
        free(buf);
        return err ? err : -EPROTO;
    }
    size_t head_len = (size_t)(sep - buf) + 2;
    out->head = strndup(buf, head_len);
    out->body_len = len - head_len - 2;
    out->body = malloc(out->body_len + 1);
    memcpy(out->body, sep + 4, out->body_len);
    out->body[out->body_len] = '\0';
    free(buf);
    return 0;
}

json_t *cl_http_json(int port, int want, const char *method, const char *path, const char *token,
                     const char *body)
{
    cl_http_resp_t r;
    assert_int_equal(cl_http(port, method, path, token,
                             body ? "Content-Type: application/json\r\n" : NULL, body,
                             body ? strlen(body) : 0, &r), 0);
    if (r.status != want)
        fail_msg("%s %s: %d (want %d): %s", method, path, r.status, want, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    cl_http_resp_free(&r);
    return j;
}

char *cl_http_header(const cl_http_resp_t *r, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *line = r->head ? strstr(r->head, "\r\n") : NULL; line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, nlen) == 0 && l[nlen] == ':') {
            const char *v = l + nlen + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            return strndup(v, e ? (size_t)(e - v) : strlen(v));
        }
    }
    return NULL;
}

void cl_http_resp_free(cl_http_resp_t *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        fail_msg("no free port: %s", strerror(errno));
    close(fd);
    return ntohs(sa.sin_port);
}

pid_t cl_t_server_start(const char *conninfo, const char *extra_args, int *port)
{
    *port = free_port();
    char *cmd;
    if (asprintf(&cmd, "exec '%s' --db '%s' --listen 127.0.0.1:%d %s", cl_t_prog("CL_SERVER"),
                 conninfo, *port, extra_args ? extra_args : "") < 0)
        fail_msg("out of memory");
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    for (int i = 0; i < 300; i++) {
        cl_http_resp_t r;
        if (cl_http(*port, "GET", "/healthz", NULL, NULL, NULL, 0, &r) == 0) {
            int st = r.status;
            cl_http_resp_free(&r);
            if (st == 200)
                return pid;
        }
        int wst;
        if (waitpid(pid, &wst, WNOHANG) == pid)
            fail_msg("camledger-server exited at start (status %d)", wst);
        usleep(50000);
    }
    kill(pid, SIGKILL);
    fail_msg("camledger-server did not answer /healthz within 15 s");
    return -1;
}

int cl_t_server_stop(pid_t pid)
{
    int st;
    kill(pid, SIGTERM);
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
