/* camledger-server over HTTPS: a certificate made by the openssl CLI at test
 * time, HTTP/1.1 and HTTP/2 (ALPN) answered with the same JSON, plain HTTP
 * refused on the TLS port, bad certificate options refused at start. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "testlib.h"

#define DB "cl_itest_tls"

static PGconn *conn;
static const char *conninfo;
static char *dir;
static char *token;

static int setup(void **state)
{
    (void)state;
    conninfo = cl_t_db_create(DB, &conn);
    dir = cl_t_mkdtemp("tls");
    if (cl_t_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s/key.pem' -out '%s/cert.pem'"
                " -days 2 -subj /CN=localhost 2>/dev/null && "
                "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s/other.pem' -out /dev/null"
                " -days 2 -subj /CN=other 2>/dev/null", dir, dir, dir) != 0)
        return -1;
    token = cl_t_user_token(conninfo, "Lê Thu Trang", "auditor", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cl_t_db_drop(DB, conn);
    cl_t_rmtree(dir);
    free(dir);
    free(token);
    return 0;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_tls_serves_https_and_http2(void **state)
{
    (void)state;
    int port = free_port();
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    char cert[4096], key[4096];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(cl_t_prog("CL_SERVER"), "camledger-server", "--db", conninfo, "--listen", listen,
              "--threads", "1", "--tls-cert", cert, "--tls-key", key, (char *)NULL);
        _exit(127);
    }
    char *out = NULL;
    for (int i = 0; i < 150; i++) {
        free(out);
        cl_t_sh_capture(&out, "curl -sk https://127.0.0.1:%d/healthz", port);
        if (strcmp(out, "{\"status\":\"ok\"}") == 0)
            break;
        usleep(100000);
    }
    assert_string_equal(out, "{\"status\":\"ok\"}");
    free(out);

    /* HTTP/2 by ALPN, with a token, the same JSON. */
    assert_int_equal(cl_t_sh_capture(&out, "curl -sk --http2 -H 'Authorization: Bearer %s'"
                     " -w ' %%{http_version} %%{http_code}' https://127.0.0.1:%d/v1/audit/verify",
                     token, port), 0);
    assert_string_equal(out, "{\"ok\": true, \"entries\": 0} 2 200");
    free(out);
    assert_int_equal(cl_t_sh_capture(&out, "curl -sk --http1.1 -w ' %%{http_version} %%{http_code}'"
                     " https://127.0.0.1:%d/v1/audit/verify", port), 0);
    assert_string_equal(out, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"a valid bearer token is required\"}} 1.1 401");
    free(out);

    /* Plain HTTP on the TLS port gets no answer. */
    cl_http_resp_t r;
    cl_http_set_timeout(5);
    int rc = cl_http(port, "GET", "/healthz", NULL, NULL, NULL, 0, &r);
    assert_true(rc != 0 || r.status == 0);
    cl_http_resp_free(&r);
    cl_http_set_timeout(60);

    kill(pid, SIGTERM);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_tls_bad_options_refused(void **state)
{
    (void)state;
    char *out;
    int rc = cl_t_sh_capture(&out, "'%s' --db '%s' --listen 127.0.0.1:1 --tls-cert '%s/cert.pem' 2>&1",
                             cl_t_prog("CL_SERVER"), conninfo, dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--tls-cert and --tls-key go together"));
    free(out);
    rc = cl_t_sh_capture(&out, "'%s' --db '%s' --listen 127.0.0.1:1 --tls-cert '%s/cert.pem'"
                         " --tls-key '%s/other.pem' 2>&1", cl_t_prog("CL_SERVER"), conninfo, dir, dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "not the PEM private key of the certificate"));
    free(out);
    rc = cl_t_sh_capture(&out, "'%s' --db '%s' --listen 127.0.0.1:1 --tls-cert /nonexistent.pem"
                         " --tls-key '%s/key.pem' 2>&1", cl_t_prog("CL_SERVER"), conninfo, dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "not a readable PEM certificate"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_serves_https_and_http2),
        cmocka_unit_test(test_tls_bad_options_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
