/* camledger-server end to end, what each role may do and what bad input
 * gets: never a 5xx, errors in their shape. Part of itest_http_api
 * (test_http_api.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_fixture.h"

/* ------------------------------------------------------------ roles */

typedef struct route_check {
    const char *method, *path, *body, *ctype;
    int inv, aud, adm;     /* the status each role gets */
} route_check_t;

void test_http_role_matrix(void **state)
{
    (void)state;
    /* Targets for the state changes, made by the investigator. */
    long long pa = cl_fx_num_i(cl_fx_ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:43:00Z",
                                     "2025-11-21T14:44:00Z", 60, "Ma trận: duyệt", NULL), "id");
    long long pb = cl_fx_num_i(cl_fx_ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:43:00Z",
                                     "2025-11-21T14:44:00Z", 60, "Ma trận: từ chối", NULL), "id");
    long long pc = cl_fx_num_i(cl_fx_ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:43:00Z",
                                     "2025-11-21T14:44:00Z", 60, "Ma trận: hủy", NULL), "id");
    const char *win = "from=2025-11-21T14:40:00Z&to=2025-11-21T14:45:00Z";
    const char *json = "application/json", *csv = "text/csv";
    const route_check_t routes[] = {
        {"GET", "/healthz", NULL, NULL, 200, 200, 200},
        {"GET", "/metrics", NULL, NULL, 200, 200, 200},
        {"POST", "/v1/cameras", "{\"code\":\"RM-%s\",\"name\":\"Ma trận\",\"station\":\"BT\",\"owner_kind\":\"police\"}",
         json, 403, 403, 201},
        {"GET", "/v1/cameras", NULL, NULL, 200, 200, 200},
        {"POST", "/v1/cameras/import", "code,name,station,owner_kind\nRM-CSV-%s,Camera nhập,BT,police\n", csv,
         403, 403, 201},
        {"GET", "/v1/cameras/BT-001", NULL, NULL, 200, 200, 200},
        {"PATCH", "/v1/cameras/BT-NEW", "{\"address\":\"Hẻm 12 Lê Lợi (%s)\"}", json, 403, 403, 200},
        {"GET", cl_fx_fmt("/v1/cameras/BT-001/footage?%s", win), NULL, NULL, 200, 200, 200},
        {"GET", cl_fx_fmt("/v1/cameras/BT-001/keyframes?%s", win), NULL, NULL, 200, 200, 200},
        {"POST", "/v1/cases", "{\"number\":\"RM-%s\",\"title\":\"Vụ thử phân quyền\",\"station\":\"BT\"}", json,
         201, 403, 201},
        {"GET", "/v1/cases", NULL, NULL, 200, 200, 200},
        {"GET", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), NULL, NULL, 200, 200, 200},
        {"PATCH", "/v1/cases/RM-inv", "{\"title\":\"Vụ thử phân quyền (%s)\"}", json, 200, 403, 200},
        {"POST", "/v1/requests", "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:40:00Z\","
         "\"to\":\"2025-11-21T14:41:00Z\",\"reason\":\"Ma trận %s\"}", json, 201, 403, 403},
        {"GET", "/v1/requests", NULL, NULL, 200, 200, 200},
        {"GET", cl_fx_fmt("/v1/requests/%lld", pa), NULL, NULL, 200, 200, 200},
        {"POST", cl_fx_fmt("/v1/requests/%lld/approve", pa), NULL, NULL, 403, 403, 200},
        {"POST", cl_fx_fmt("/v1/requests/%lld/reject", pb), "{\"reason\":\"Ma trận %s\"}", json, 403, 403, 200},
        {"POST", cl_fx_fmt("/v1/requests/%lld/cancel", pc), NULL, NULL, 200, 403, 403},
        {"GET", "/v1/audit/log", NULL, NULL, 403, 200, 200},
        {"GET", "/v1/audit/verify", NULL, NULL, 403, 200, 200},
        {"GET", "/v1/audit/extractions?group_by=station", NULL, NULL, 403, 200, 200},
    };
    static const char *const tags[] = {"none", "bad", "inv", "aud", "adm"};
    const char *tokens[] = {NULL, BAD_TOKEN, INV1, AUD, ADM1};
    size_t checked = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route_check_t *r = &routes[i];
        int public = strcmp(r->path, "/healthz") == 0 || strcmp(r->path, "/metrics") == 0;
        for (size_t t = 0; t < 5; t++) {
            int want = t < 2 ? (public ? 200 : 401) : t == 2 ? r->inv : t == 3 ? r->aud : r->adm;
            const char *body = r->body ? cl_fx_fmt(r->body, tags[t]) : NULL;
            cl_fx_answer_t a = cl_fx_ask(r->method, r->path, tokens[t], r->ctype ? cl_fx_fmt("Content-Type: %s\r\n", r->ctype) : NULL,
                             body, body ? strlen(body) : 0);
            if (a.status != want)
                fail_msg("%s %s as %s: expected %d, got %d: %s", r->method, r->path, tags[t], want, a.status,
                         a.body);
            if (want == 401)
                expect_str(cl_fx_field(a.json, "error"), "code", "unauthorized");
            if (want == 403)
                expect_str(cl_fx_field(a.json, "error"), "code", "forbidden");
            if (want < 300 && strcmp(r->method, "GET") != 0)
                cl_fx_audit_n++;
            if (want == 201 && strcmp(r->path, "/v1/cases") == 0)
                cl_fx_note_case(cl_fx_fmt("RM-%s", tags[t]), "BT");
            if (want == 201 && strcmp(r->path, "/v1/requests") == 0) {
                cl_fx_tally_t *tl = &cl_fx_tallies[cl_fx_n_tallies++];
                memset(tl, 0, sizeof(*tl));
                tl->id = cl_fx_num_i(a.json, "id");
                snprintf(tl->case_number, sizeof(tl->case_number), "VV-2026/001");
                snprintf(tl->station, sizeof(tl->station), "BT");
                snprintf(tl->camera, sizeof(tl->camera), "BT-001");
                snprintf(tl->month, sizeof(tl->month), "%.7s", cl_fx_str(a.json, "created_at"));
                tl->secs = 60;
            }
            checked++;
        }
    }
    assert_int_equal(checked, 110);
    cl_fx_tally_of(pa)->approved = 1;
    cl_fx_tally_of(pb)->rejected = 1;
    expect_str(cl_fx_api(200, "GET", cl_fx_fmt("/v1/requests/%lld", pc), INV1, NULL), "status", "cancelled");
    expect_str(cl_fx_api(200, "GET", "/v1/cameras/RM-adm", INV1, NULL), "name", "Ma trận");
    expect_str(cl_fx_api(200, "GET", "/v1/cameras/RM-CSV-adm", INV1, NULL), "name", "Camera nhập");
    cl_fx_api_err(404, "camera_not_found", "GET", "/v1/cameras/RM-inv", INV1, NULL);
    expect_str(cl_fx_api(200, "GET", "/v1/cases/RM-inv", INV1, NULL), "title", "Vụ thử phân quyền (adm)");

    /* Other ways of not being authenticated. */
    static const char *const bad_auth[] = {
        "Authorization: Basic dXNlcjpwYXNz\r\n", "Authorization: Bearer\r\n", "Authorization: Bearer \r\n",
        "Authorization: " BAD_TOKEN "\r\n",
    };
    /* Whatever was wrong, the same answer byte for byte, each one counted. */
    cl_fx_answer_t m0 = cl_fx_ask("GET", "/metrics", NULL, NULL, NULL, 0);
    long long failures = cl_fx_metric(m0.body, "camledger_auth_failures_total ");
    cl_fx_answer_t first = cl_fx_ask("GET", "/v1/cases", NULL, NULL, NULL, 0);
    assert_int_equal(first.status, 401);
    for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++) {
        cl_fx_answer_t a = cl_fx_ask("GET", "/v1/cases", NULL, bad_auth[i], NULL, 0);
        assert_int_equal(a.status, 401);
        assert_string_equal(a.body, first.body);
    }
    cl_fx_answer_t unknown = cl_fx_ask("GET", "/v1/cases", BAD_TOKEN, NULL, NULL, 0);
    assert_int_equal(unknown.status, 401);
    assert_string_equal(unknown.body, first.body);
    cl_fx_answer_t m1 = cl_fx_ask("GET", "/metrics", NULL, NULL, NULL, 0);
    assert_int_equal(cl_fx_metric(m1.body, "camledger_auth_failures_total "),
                     failures + 2 + (long long)(sizeof(bad_auth) / sizeof(bad_auth[0])));
    cl_fx_answer_t a = cl_fx_ask("GET", "/v1/cases", NULL, cl_fx_fmt("Authorization: bearer %s\r\n", AUD), NULL, 0);
    assert_int_equal(a.status, 200);
    a = cl_fx_ask("GET", "/v1/cases", cl_fx_fmt("%s%0300d", AUD, 0), NULL, NULL, 0);
    assert_int_equal(a.status, 401);
    char *www = NULL;
    cl_http_resp_t r;
    assert_int_equal(cl_http(cl_fx_port, "GET", "/v1/cases", NULL, NULL, NULL, 0, &r), 0);
    www = cl_http_header(&r, "www-authenticate");
    assert_string_equal(www, "Bearer realm=\"camledger\"");
    free(www);
    cl_http_resp_free(&r);

    /* A revoked token is refused; the others of the user still work. */
    char *out;
    cl_fx_run_ok("token add", cl_t_sh_capture(&out, "'%s' --db '%s' token add --user '%s'", cl_t_prog("CL_ADMIN"),
                                        cl_fx_conninfo, cl_fx_users[1].name));
    char *extra = cl_fx_fmt("%s", cl_fx_last_line(out));
    free(out);
    cl_fx_run_ok("token revoke", cl_t_sh("'%s' --db '%s' token revoke --token '%s' >/dev/null", cl_t_prog("CL_ADMIN"),
                                   cl_fx_conninfo, extra));
    cl_fx_api_err(401, "unauthorized", "GET", "/v1/cases", extra, NULL);
    cl_fx_api(200, "GET", "/v1/cases", INV2, NULL);
}

/* ------------------------------------------------------------ bad input */

/* Any answer but a 5xx, errors in their shape (ask checks both). */
static cl_fx_answer_t not_5xx(const char *method, const char *path, const char *token, const char *body)
{
    return cl_fx_ask(method, path, token, body ? "Content-Type: application/json\r\n" : NULL, body,
               body ? strlen(body) : 0);
}

void test_http_bad_input_is_4xx(void **state)
{
    (void)state;
    /* Malformed, mistyped, missing, unknown. */
    static const struct { const char *body, *code; } bodies[] = {
        {"{", "invalid_json"},
        {"{\"number\":\"X-2\",\"title\":\"x\"", "invalid_json"},
        {"[1]", "invalid_body"},
        {"\"text\"", "invalid_json"},
        {"{\"number\":\"a\",\"number\":\"b\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"a\\u0000b\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"\\ud800\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"\xff\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"\xc0\xaf\",\"title\":\"x\"}", "invalid_json"},
        {"{\"number\":\"X-2\",\"title\":\"x\",\"n\":1e400}", "invalid_json"},
        {"{\"number\":\"X-2\",\"title\":\"x\",\"n\":123456789012345678901234567890}", "invalid_json"},
        {"{\"number\":1,\"title\":\"x\"}", "invalid_field"},
        {"{\"number\":[\"X-2\"],\"title\":\"x\"}", "invalid_field"},
        {"{\"number\":\"X-2\",\"title\":{}}", "invalid_field"},
        {"{\"number\":\"X-2\",\"title\":true}", "invalid_field"},
        {"{\"number\":null,\"title\":\"x\"}", "missing_field"},
        {"{\"title\":\"x\"}", "missing_field"},
        {"{}", "missing_field"},
        {"{\"number\":\"X-2\",\"title\":\"x\",\"extra\":1}", "unknown_field"},
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        cl_fx_api_err(400, bodies[i].code, "POST", "/v1/cases", INV1, bodies[i].body);
    cl_fx_api_err(400, "missing_body", "POST", "/v1/cases", INV1, "");
    cl_fx_api_err(400, "missing_body", "POST", "/v1/cases", INV1, NULL);
    char *deep = cl_fx_keep(malloc(200002));
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\0';
    cl_fx_api_err(400, "invalid_json", "POST", "/v1/cases", INV1, deep);
    static const char *const camera_bodies[] = {
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"lat\":\"10.5\",\"lon\":\"106\"}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"lat\":1e308,\"lon\":1}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"retention_days\":\"30\"}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"retention_days\":0}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"owner_phone\":\"call me\"}",
        "{\"code\":\"\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\"}",
        "{\"code\":\"..\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\"}",
        "{\"code\":\"X-3\",\"name\":\"x\",\"station\":7,\"owner_kind\":\"police\"}",
    };
    for (size_t i = 0; i < sizeof(camera_bodies) / sizeof(camera_bodies[0]); i++)
        cl_fx_api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1, camera_bodies[i]);
    /* Too long for the camera code (128 characters), though short in bytes
     * for the error message to quote whole. */
    char *long_code = cl_fx_keep(malloc(3 * 400 + 1));
    long_code[0] = '\0';
    for (int i = 0; i < 400; i++)
        strcat(long_code, "ễ");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            cl_fx_dump(json_pack("{s:s,s:s,s:s,s:s}", "code", long_code, "name", "x", "station", "BT",
                        "owner_kind", "police")));
    /* Quoted back in a message longer than the message buffer: still valid
     * UTF-8 and still JSON. */
    json_t *e = cl_fx_api_err(404, "camera_not_found", "GET", cl_fx_fmt("/v1/cameras/%s", cl_fx_enc(long_code)), INV1, NULL);
    assert_true(strncmp(cl_fx_str(e, "message"), "camera ễễễ", strlen("camera ễễễ")) == 0);

    /* Bodies over the limits: the route's (1 MiB of JSON) and H2O's own
     * (the CSV limit), answered in the JSON error shape. */
    size_t big = 10u << 20;
    char *body = cl_fx_keep(malloc(big + 1));
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    body[big] = '\0';
    cl_fx_answer_t a = cl_fx_ask("POST", "/v1/cases", INV1, "Content-Type: application/json\r\n", body, big);
    assert_int_equal(a.status, 413);
    expect_str(cl_fx_field(a.json, "error"), "code", "body_too_large");
    a = cl_fx_ask("POST", "/v1/cases", INV1, "Content-Type: application/json\r\n", body, 2u << 20);
    assert_int_equal(a.status, 413);
    expect_str(cl_fx_field(a.json, "error"), "code", "body_too_large");
    expect_str(cl_fx_field(a.json, "error"), "message", "the body may be at most 1048576 bytes");
    a = cl_fx_ask("POST", "/v1/cameras/import", ADM1, "Content-Type: text/csv\r\n", body, 9u << 20);
    assert_int_equal(a.status, 413);
    expect_str(cl_fx_field(a.json, "error"), "code", "body_too_large");
    a = cl_fx_ask("POST", "/v1/cases", NULL, "Content-Type: application/json\r\n", body, big);
    assert_int_equal(a.status, 413);

    /* Not UTF-8, or not percent-encoded right, in the query or the path. */
    static const char *const queries[] = {
        "/v1/cameras?q=%FF", "/v1/cameras?q=\xff", "/v1/cameras?q=%C0%AF", "/v1/cameras?q=%ED%A0%80",
        "/v1/cameras?q=%F4%90%80%80", "/v1/cameras?q=%E1%BB", "/v1/cameras?q=%G1", "/v1/cameras?q=%",
        "/v1/cameras?q=%00", "/v1/cameras?%FF=1",
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
        cl_fx_api_err(400, "invalid_query", "GET", queries[i], INV1, NULL);
    static const char *const paths[] = {
        "/v1/cameras/%FF", "/v1/cameras/\xc3\x28", "/v1/cases/%C0%AF/x", "/v1/cases/%ED%A0%80",
        "/v1/requests/%00/approve", "/v1/cameras/%E1%BB/footage", "/v1/cameras/%zz",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        cl_fx_api_err(400, "invalid_path", "GET", paths[i], INV1, NULL);
    const char *bad_csv[] = {"co\xff" "de,name\nX,y\n", "code,name\nX,\xe1\xbb\n",
                             "code,Tên_camera_được_đặt_theo_địa_chỉ_nhà_ở_khu_phố_cổ_Hà_Nội\nX,y\n"};
    for (size_t i = 0; i < 3; i++) {
        a = cl_fx_ask("POST", "/v1/cameras/import", ADM1, "Content-Type: text/csv\r\n", bad_csv[i], strlen(bad_csv[i]));
        assert_int_equal(a.status, 400);
        expect_str(cl_fx_field(a.json, "error"), "code", "invalid_csv");
    }

    /* What SQL, LIKE and shells treat specially, in every string parameter:
     * never a 5xx, and where it is data, stored and found as given. */
    static const char *const nasty[] = {
        "'", "\"", ";", "%", "_", "\\", "' OR 1=1 --", "'; DROP TABLE cameras; --", "%' OR '1'='1",
        "\\'", "$1", "NULL", "); SELECT pg_sleep(5); --", "a\tb", "*/ /*", "ễ' --",
    };
    const char *win = "from=2025-11-21T14:40:00Z&to=2025-11-21T14:45:00Z";
    for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
        const char *v = nasty[i], *ev = cl_fx_enc(v);
        /* Query parameters. */
        static const char *const lists[] = {
            "/v1/cameras?station=%s", "/v1/cameras?registered=%s", "/v1/cameras?near=%s&radius_m=100",
            "/v1/cameras?near=21,105&radius_m=%s", "/v1/cameras?limit=%s", "/v1/cameras?offset=%s",
            "/v1/cases?station=%s", "/v1/cases?status=%s", "/v1/cases?limit=%s", "/v1/cases?offset=%s",
            "/v1/requests?status=%s", "/v1/requests?limit=%s", "/v1/requests?offset=%s",
            "/v1/cameras/BT-001/footage?from=%s&to=2025-11-21T14:45:00Z",
            "/v1/cameras/BT-001/footage?from=2025-11-21T14:40:00Z&to=%s",
            "/v1/cameras/BT-001/keyframes?from=%s&to=2025-11-21T14:45:00Z",
            "/v1/cameras/BT-001/keyframes?from=2025-11-21T14:40:00Z&to=%s",
            "/v1/audit/extractions?group_by=%s", "/v1/audit/extractions?group_by=case&from=%s",
            "/v1/audit/extractions?group_by=case&to=%s", "/v1/audit/log?after=%s", "/v1/audit/log?limit=%s",
        };
        for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
            a = not_5xx("GET", cl_fx_fmt(lists[k], ev), ADM1, NULL);
            assert_int_equal(a.status, 400);
        }
        cl_fx_api_err(400, "unknown_parameter", "GET", cl_fx_fmt("/v1/cameras?%s=1", ev), AUD, NULL);
        static const char *const lookups[] = {"/v1/requests?case=%s", "/v1/requests?camera=%s",
                                              "/v1/requests?requester=%s"};
        for (size_t k = 0; k < 3; k++)
            expect_int(cl_fx_api(200, "GET", cl_fx_fmt(lookups[k], ev), AUD, NULL), "total", 0);
        char *want = cl_t_query1(cl_fx_conn,
            "SELECT count(*) FROM cameras WHERE strpos(lower(code), lower($1)) > 0 "
            "OR strpos(lower(coalesce(name, '')), lower($1)) > 0 "
            "OR strpos(lower(coalesce(address, '')), lower($1)) > 0", v, NULL);
        expect_int(cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras?q=%s", ev), AUD, NULL), "total", atoll(want));
        free(want);

        /* Path segments. */
        cl_fx_api_err(404, "camera_not_found", "GET", cl_fx_fmt("/v1/cameras/%s", ev), AUD, NULL);
        cl_fx_api_err(404, "camera_not_found", "PATCH", cl_fx_fmt("/v1/cameras/%s", ev), ADM1, "{\"name\":\"x\"}");
        cl_fx_api_err(404, "camera_not_found", "GET", cl_fx_fmt("/v1/cameras/%s/footage?%s", ev, win), AUD, NULL);
        cl_fx_api_err(404, "camera_not_found", "GET", cl_fx_fmt("/v1/cameras/%s/keyframes?%s", ev, win), AUD, NULL);
        cl_fx_api_err(404, "case_not_found", "GET", cl_fx_fmt("/v1/cases/%s", ev), AUD, NULL);
        cl_fx_api_err(404, "case_not_found", "PATCH", cl_fx_fmt("/v1/cases/%s", ev), ADM1, "{\"title\":\"x\"}");
        cl_fx_api_err(400, "invalid_parameter", "GET", cl_fx_fmt("/v1/requests/%s", ev), AUD, NULL);
        cl_fx_api_err(400, "invalid_parameter", "POST", cl_fx_fmt("/v1/requests/%s/approve", ev), ADM1, NULL);
        cl_fx_api_err(400, "invalid_parameter", "POST", cl_fx_fmt("/v1/requests/%s/reject", ev), ADM1, "{\"reason\":\"x\"}");
        cl_fx_api_err(400, "invalid_parameter", "POST", cl_fx_fmt("/v1/requests/%s/cancel", ev), INV1, NULL);

        /* JSON fields: as data, kept and found byte for byte. */
        const char *code = cl_fx_fmt("SQL%s", v);
        /* A camera code is a directory name: no '/', no control character;
         * a case number only no control character. */
        int has_cntrl = strchr(v, '\t') != NULL;
        a = not_5xx("POST", "/v1/cameras", ADM1,
                    cl_fx_dump(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "code", code, "name", v, "station", "BT",
                                "owner_kind", "police", "owner_name", v, "address", v)));
        if (has_cntrl || strchr(v, '/')) {
            assert_int_equal(a.status, 400);
        } else {
            if (a.status != 201)
                fail_msg("register %s: %d %s", code, a.status, a.body);
            cl_fx_audit_n++;
            json_t *c = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras/%s", cl_fx_enc(code)), AUD, NULL);
            expect_str(c, "code", code);
            expect_str(c, "name", v);
            expect_str(c, "owner_name", v);
            expect_str(c, "address", v);
            json_t *p = cl_fx_api(200, "PATCH", cl_fx_fmt("/v1/cameras/%s", cl_fx_enc(code)), ADM1,
                            cl_fx_dump(json_pack("{s:s}", "address", cl_fx_fmt("%s%s", v, v))));
            cl_fx_audit_n++;
            expect_str(p, "address", cl_fx_fmt("%s%s", v, v));
        }
        static const char *const fields[] = {"station", "owner_kind", "owner_phone", "timezone"};
        for (size_t k = 0; k < 4; k++) {
            json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "code", "SQL-X", "name", "x", "station", "BT",
                                  "owner_kind", "police");
            json_object_set_new(o, fields[k], json_string(v));
            a = not_5xx("POST", "/v1/cameras", ADM1, cl_fx_dump(o));
            assert_int_equal(a.status, 400);
        }
        a = not_5xx("POST", "/v1/cases", INV1, cl_fx_dump(json_pack("{s:s,s:s}", "number", code, "title", v)));
        if (has_cntrl) {
            assert_int_equal(a.status, 400);
        } else {
            assert_int_equal(a.status, 201);
            cl_fx_audit_n++;
            cl_fx_note_case(code, "BT");
            expect_str(cl_fx_api(200, "GET", cl_fx_fmt("/v1/cases/%s", cl_fx_enc(code)), AUD, NULL), "title", v);
            json_t *p = cl_fx_api(200, "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc(code)), INV1,
                            cl_fx_dump(json_pack("{s:s}", "title", cl_fx_fmt("%s%s", v, v))));
            cl_fx_audit_n++;
            expect_str(p, "title", cl_fx_fmt("%s%s", v, v));
        }
        a = not_5xx("POST", "/v1/cases", INV1, cl_fx_dump(json_pack("{s:s,s:s,s:s}", "number", "SQL-Y", "title", "x",
                                                         "station", v)));
        assert_int_equal(a.status, 400);
        static const char *const req_fields[] = {"case", "camera", "from", "to"};
        for (size_t k = 0; k < 4; k++) {
            json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "case", "VV-2026/001", "camera", "BT-001",
                                  "from", "2025-11-21T14:40:00Z", "to", "2025-11-21T14:41:00Z", "reason", "x");
            json_object_set_new(o, req_fields[k], json_string(v));
            a = not_5xx("POST", "/v1/requests", INV1, cl_fx_dump(o));
            assert_int_equal(a.status, 400);
        }
        json_t *r = cl_fx_ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:40:00Z", "2025-11-21T14:41:00Z",
                                60, v, NULL);
        expect_str(cl_fx_api(200, "GET", cl_fx_fmt("/v1/requests/%lld", cl_fx_num_i(r, "id")), AUD, NULL), "reason", v);
        expect_str(cl_fx_act(ADM1, cl_fx_num_i(r, "id"), "reject", v, 200, NULL), "decision_reason", v);
        a = cl_fx_ask("POST", "/v1/requests", INV1, cl_fx_fmt("Content-Type: application/json\r\nIdempotency-Key: k%s\r\n",
                                                strchr(v, '\t') ? "tab" : v),
                "{}", 2);
        assert_int_equal(a.status, 400);
    }
    char *n = cl_t_query1(cl_fx_conn, "SELECT count(*) FROM cameras", NULL);
    assert_true(atoi(n) > 10);
    free(n);
}
