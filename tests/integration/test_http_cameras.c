/* camledger-server end to end, cameras: registration, the list and the
 * radius search, the CSV import, footage with its gaps and keyframes checked
 * against the ffprobe oracle. Part of itest_http_api (test_http_api.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_fixture.h"

/* ------------------------------------------------------------ tests */

void test_http_health_and_http2(void **state)
{
    (void)state;
    cl_fx_answer_t a = cl_fx_ask("GET", "/healthz", NULL, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.ctype, JSON_CT);
    assert_string_equal(a.body, "{\"status\":\"ok\"}");
    a = cl_fx_ask("GET", "/healthz", BAD_TOKEN, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    cl_fx_api_err(404, "not_found", "GET", "/v1/nothing", ADM1, NULL);
    cl_fx_api_err(404, "not_found", "GET", "/", NULL, NULL);
    cl_fx_api_err(405, "method_not_allowed", "DELETE", "/v1/cameras", ADM1, NULL);
    cl_fx_api_err(405, "method_not_allowed", "PUT", "/v1/cases/x", ADM1, NULL);
    cl_fx_api_err(400, "unknown_parameter", "GET", "/healthz?verbose=1", NULL, NULL);

    /* HTTP/2 without TLS (prior knowledge), with and without a token. */
    char *out;
    cl_fx_run_ok("curl", cl_t_sh_capture(&out, "curl --http2-prior-knowledge -s -w '\\n%%{http_version} %%{http_code}' "
                                   "http://127.0.0.1:%d/healthz", cl_fx_port));
    assert_string_equal(out, "{\"status\":\"ok\"}\n2 200");
    free(out);
    cl_fx_run_ok("curl", cl_t_sh_capture(&out, "curl --http2-prior-knowledge -s -w '\\n%%{http_version} %%{http_code}' "
                                   "-H 'Authorization: Bearer %s' http://127.0.0.1:%d/v1/cases?limit=1",
                                   AUD, cl_fx_port));
    assert_non_null(strstr(out, "\n2 200"));
    *strstr(out, "\n2 200") = '\0';
    json_t *j = cl_fx_keepj(json_loads(out, 0, NULL));
    cl_fx_expect_keys(j, "cases,total,limit,offset");
    expect_int(j, "limit", 1);
    free(out);
    cl_fx_run_ok("curl", cl_t_sh_capture(&out, "curl --http2-prior-knowledge -s -w '\\n%%{http_version} %%{http_code}' "
                                   "http://127.0.0.1:%d/v1/cases", cl_fx_port));
    assert_non_null(strstr(out, "\"unauthorized\""));
    assert_non_null(strstr(out, "\n2 401"));
    free(out);
}

void test_http_cameras_register_get_patch(void **state)
{
    (void)state;
    const char *name = "Camera ngã tư Nguyễn Thị Minh Khai – Hai Bà Trưng";
    const char *address = "Số 1 Hai Bà Trưng, Phường Bến Nghé, Quận 1";
    const char *body = cl_fx_dump(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:s,s:i,s:s}",
        "code", "BT-001", "name", name, "station", "BT", "owner_kind", "police",
        "owner_name", "Công an phường Bến Thành", "owner_phone", "+84 28 3829 7159",
        "lat", 10.7769, "lon", 106.7009, "address", address, "retention_days", 30,
        "timezone", "Asia/Ho_Chi_Minh"));

    /* The indexer made BT-001 unregistered: registering completes it. */
    cl_fx_answer_t raw = cl_fx_ask("POST", "/v1/cameras", ADM1, "Content-Type: application/json\r\n", body, strlen(body));
    assert_int_equal(raw.status, 201);
    assert_non_null(strstr(raw.body, name));   /* byte for byte, not \u escapes */
    json_t *c = raw.json;
    cl_fx_audit_n++;
    cl_fx_expect_keys(c, cl_fx_camera_keys);
    expect_str(c, "code", "BT-001");
    expect_str(c, "name", name);
    expect_str(c, "station", "BT");
    expect_str(c, "owner_kind", "police");
    expect_str(c, "owner_name", "Công an phường Bến Thành");
    expect_str(c, "owner_phone", "+84 28 3829 7159");
    expect_num(c, "lat", 10.7769);
    expect_num(c, "lon", 106.7009);
    expect_str(c, "address", address);
    expect_int(c, "retention_days", 30);
    expect_str(c, "timezone", "Asia/Ho_Chi_Minh");
    expect_bool(c, "registered", 1);
    cl_fx_expect_time_format(cl_fx_str(c, "created_at"));
    expect_str(c, "created_at", cl_fx_db_time("SELECT cl_ts(created_at) FROM cameras WHERE code = $1", "BT-001"));
    expect_str(c, "updated_at", cl_fx_db_time("SELECT cl_ts(updated_at) FROM cameras WHERE code = $1", "BT-001"));

    cl_fx_api_err(409, "camera_exists", "POST", "/v1/cameras", ADM1, body);

    /* One camera with its coverage: two files ok, one deleted, one broken. */
    json_t *g = cl_fx_api(200, "GET", "/v1/cameras/BT-001", INV1, NULL);
    cl_fx_expect_keys(g, cl_fx_fmt("%s,coverage", cl_fx_camera_keys));
    expect_str(g, "name", name);
    expect_str(g, "address", address);
    json_t *cov = cl_fx_field(g, "coverage");
    cl_fx_expect_keys(cov, "recordings,ok,truncated,deleted,broken,first,last,seconds");
    expect_int(cov, "recordings", 4);
    expect_int(cov, "ok", 2);
    expect_int(cov, "truncated", 0);
    expect_int(cov, "deleted", 1);
    expect_int(cov, "broken", 1);
    expect_str(cov, "first", "2025-11-21T14:40:00.000Z");
    expect_str(cov, "last", "2025-11-21T14:44:00.000Z");
    expect_num(cov, "seconds", 120.0);
    cl_fx_api_err(404, "camera_not_found", "GET", "/v1/cameras/NO-SUCH", INV1, NULL);

    /* PATCH changes what it names and nothing else. */
    json_t *p = cl_fx_api(200, "PATCH", "/v1/cameras/BT-001", ADM1,
                    "{\"owner_phone\":\"028 3829 7159\",\"retention_days\":45.0}");
    cl_fx_audit_n++;
    cl_fx_expect_keys(p, cl_fx_camera_keys);
    expect_str(p, "owner_phone", "028 3829 7159");
    expect_int(p, "retention_days", 45);
    expect_str(p, "name", name);
    expect_num(p, "lat", 10.7769);
    expect_str(p, "created_at", cl_fx_str(c, "created_at"));
    cl_fx_api_err(403, "other_station", "PATCH", "/v1/cameras/BT-001", ADM2, "{\"name\":\"x\"}");
    cl_fx_api_err(400, "invalid_field", "PATCH", "/v1/cameras/BT-001", ADM1, "{\"lat\":null}");
    cl_fx_api_err(400, "invalid_field", "PATCH", "/v1/cameras/BT-001", ADM1, "{\"lat\":10.5}");
    cl_fx_api_err(400, "invalid_body", "PATCH", "/v1/cameras/BT-001", ADM1, "{}");
    cl_fx_api_err(400, "incomplete", "PATCH", "/v1/cameras/BT-001", ADM1, "{\"owner_kind\":null}");
    cl_fx_api_err(400, "unknown_field", "PATCH", "/v1/cameras/BT-001", ADM1, "{\"code\":\"BT-002\"}");
    cl_fx_api_err(404, "camera_not_found", "PATCH", "/v1/cameras/NO-SUCH", ADM1, "{\"name\":\"x\"}");
    p = cl_fx_api(200, "PATCH", "/v1/cameras/BT-001", ADM1, "{\"lat\":null,\"lon\":null}");
    cl_fx_audit_n++;
    expect_null(p, "lat");
    expect_null(p, "lon");
    p = cl_fx_api(200, "PATCH", "/v1/cameras/BT-001", ADM1, "{\"lat\":10.7769,\"lon\":106.7009}");
    cl_fx_audit_n++;
    expect_num(p, "lat", 10.7769);

    /* Refusals of a registration. */
    cl_fx_api_err(403, "other_station", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"HK\",\"owner_kind\":\"police\"}");
    cl_fx_api_err(400, "unknown_station", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"ZZ\",\"owner_kind\":\"police\"}");
    cl_fx_api_err(400, "missing_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"station\":\"BT\",\"owner_kind\":\"police\"}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"ngân hàng\"}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"lat\":91,\"lon\":1}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"timezone\":\"Mars/Base\"}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"a/b\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\"}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"retention_days\":1.5}");
    cl_fx_api_err(400, "unknown_field", "POST", "/v1/cameras", ADM1,
            "{\"code\":\"X1\",\"name\":\"x\",\"station\":\"BT\",\"owner_kind\":\"police\",\"colour\":\"red\"}");
    cl_fx_api_err(404, "camera_not_found", "GET", "/v1/cameras/X1", ADM1, NULL);
}

/* Great-circle distance on the sphere the database uses. */
static double distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double r = M_PI / 180;
    double a = pow(sin((lat2 - lat1) * r / 2), 2) +
               cos(lat1 * r) * cos(lat2 * r) * pow(sin((lon2 - lon1) * r / 2), 2);
    return 2 * 6378168 * asin(fmin(1, sqrt(a)));
}

#define C_LAT 21.0285
#define C_LON 105.8542

void test_http_cameras_list_and_radius(void **state)
{
    (void)state;
    static const struct { const char *code; double lat, lon; } hk[] = {
        {"HK-003", C_LAT + 0.005, C_LON},
        {"HK-001", C_LAT + 0.001, C_LON},
        {"HK-FAR", C_LAT + 0.1, C_LON},
        {"HK-002", C_LAT, C_LON + 0.002},
    };
    for (size_t i = 0; i < 4; i++) {
        json_t *c = cl_fx_api(201, "POST", "/v1/cameras", ADM2,
                        cl_fx_dump(json_pack("{s:s,s:s,s:s,s:s,s:f,s:f}", "code", hk[i].code, "name",
                                    cl_fx_fmt("Camera Hồ Gươm %zu", i), "station", "HK", "owner_kind",
                                    "household", "lat", hk[i].lat, "lon", hk[i].lon)));
        cl_fx_audit_n++;
        expect_null(c, "owner_phone");
        expect_null(c, "retention_days");
    }
    /* A name full of what LIKE and SQL treat specially. */
    cl_fx_api(201, "POST", "/v1/cameras", ADM2,
        cl_fx_dump(json_pack("{s:s,s:s,s:s,s:s}", "code", "HK-SQL", "name", "Giảm 50%_off \\ 'x'; --",
                    "station", "HK", "owner_kind", "business")));
    cl_fx_audit_n++;

    /* Nearest first, with the distance; the far one is outside. */
    json_t *l = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras?near=%s&radius_m=600", cl_fx_enc(cl_fx_fmt("%.4f,%.4f", C_LAT, C_LON))),
                    INV3, NULL);
    cl_fx_expect_keys(l, "cameras,total,limit,offset");
    expect_int(l, "total", 3);
    json_t *cams = cl_fx_field(l, "cameras");
    assert_int_equal(json_array_size(cams), 3);
    static const int order[] = {1, 3, 0};
    for (size_t i = 0; i < 3; i++) {
        json_t *c = json_array_get(cams, i);
        cl_fx_expect_keys(c, cl_fx_fmt("%s,distance_m", cl_fx_camera_keys));
        expect_str(c, "code", hk[order[i]].code);
        double want = round(distance_m(C_LAT, C_LON, hk[order[i]].lat, hk[order[i]].lon) * 10) / 10;
        assert_true(fabs(cl_fx_num(c, "distance_m") - want) < 0.051);
    }
    assert_true(cl_fx_num(json_array_get(cams, 0), "distance_m") > 110 &&
                cl_fx_num(json_array_get(cams, 0), "distance_m") < 112);
    l = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras?near=%.4f,%.4f&radius_m=150", C_LAT, C_LON), INV3, NULL);
    expect_int(l, "total", 1);
    expect_str(json_array_get(cl_fx_field(l, "cameras"), 0), "code", "HK-001");
    l = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras?near=%.4f,%.4f&radius_m=20000", C_LAT, C_LON), INV3, NULL);
    expect_int(l, "total", 4);
    expect_str(json_array_get(cl_fx_field(l, "cameras"), 3), "code", "HK-FAR");
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cameras?near=21.0,105.8", INV3, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cameras?radius_m=100", INV3, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cameras?near=91,0&radius_m=100", INV3, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cameras?near=21,105&radius_m=0", INV3, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cameras?near=21,105&radius_m=100001", INV3, NULL);

    /* By station, paginated in code order; by registration; by text. */
    l = cl_fx_api(200, "GET", "/v1/cameras?station=HK&limit=2&offset=1", INV1, NULL);
    expect_int(l, "total", 5);
    expect_int(l, "limit", 2);
    expect_int(l, "offset", 1);
    cams = cl_fx_field(l, "cameras");
    assert_int_equal(json_array_size(cams), 2);
    expect_str(json_array_get(cams, 0), "code", "HK-002");
    expect_str(json_array_get(cams, 1), "code", "HK-003");
    cl_fx_expect_keys(json_array_get(cams, 0), cl_fx_camera_keys);
    expect_num(json_array_get(cams, 0), "lat", C_LAT);
    expect_num(json_array_get(cams, 0), "lon", C_LON + 0.002);
    expect_str(json_array_get(cams, 0), "owner_kind", "household");
    l = cl_fx_api(200, "GET", "/v1/cameras?registered=false", AUD, NULL);
    expect_int(l, "total", 1);
    expect_str(json_array_get(cl_fx_field(l, "cameras"), 0), "code", "BT-NEW");
    expect_bool(json_array_get(cl_fx_field(l, "cameras"), 0), "registered", 0);
    expect_null(json_array_get(cl_fx_field(l, "cameras"), 0), "station");
    l = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras?q=%s", cl_fx_enc("CAMERA ngã tư")), AUD, NULL);
    expect_int(l, "total", 1);
    expect_str(json_array_get(cl_fx_field(l, "cameras"), 0), "code", "BT-001");
    l = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras?q=%s", cl_fx_enc("Nguyễn Thị")), AUD, NULL);
    expect_int(l, "total", 1);
    expect_str(json_array_get(cl_fx_field(l, "cameras"), 0), "code", "BT-001");
    static const char *const literal[] = {"%", "_", "\\", "50%_", "'x'; --"};
    for (size_t i = 0; i < sizeof(literal) / sizeof(literal[0]); i++) {
        l = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras?q=%s", cl_fx_enc(literal[i])), AUD, NULL);
        expect_int(l, "total", 1);
        expect_str(json_array_get(cl_fx_field(l, "cameras"), 0), "code", "HK-SQL");
    }
    l = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras?q=%s", cl_fx_enc("' OR 1=1 --")), AUD, NULL);
    expect_int(l, "total", 0);
    cl_fx_api_err(400, "unknown_station", "GET", "/v1/cameras?station=ZZ", AUD, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cameras?registered=yes", AUD, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cameras?limit=0", AUD, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cameras?limit=501", AUD, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cameras?offset=-1", AUD, NULL);
    cl_fx_api_err(400, "unknown_parameter", "GET", "/v1/cameras?statoin=HK", AUD, NULL);
    cl_fx_api_err(400, "invalid_query", "GET", "/v1/cameras?station=HK&station=BT", AUD, NULL);
}

void test_http_cameras_import_csv(void **state)
{
    (void)state;
    const char *csv_ct = "Content-Type: text/csv\r\n";
    const char *bad =
        "code,name,station,owner_kind,owner_name,address,lat,lon\n"
        "CSV-001,\"Camera \"\"Chợ Bến Thành\"\", cổng Nam\",BT,business,Nguyễn Văn A,\"Số 2, Lê Lợi\",10.7725,106.698\n"
        "CSV-002,Camera hẻm,BT,ngân hàng,,,,\n"
        "CSV-003,\"Camera nhiều\ndòng\",BT,household,,,,\n"
        "CSV-001,Trùng mã,BT,household,,,,\n"
        "CSV-004,Camera khác trạm,HK,police,,,,\n"
        "CSV-005,Camera lạc,BT,police,,,abc,1\n";
    cl_fx_answer_t a = cl_fx_ask("POST", "/v1/cameras/import", ADM1, csv_ct, bad, strlen(bad));
    assert_int_equal(a.status, 400);
    json_t *e = cl_fx_field(a.json, "error");
    expect_str(e, "code", "invalid_rows");
    expect_str(e, "message", "4 of 6 rows are invalid; nothing was imported");
    json_t *lines = cl_fx_field(e, "lines");
    assert_int_equal(json_array_size(lines), 4);
    static const struct { int line; const char *code; } want[] = {
        {3, "invalid_field"}, {6, "duplicate_code"}, {7, "other_station"}, {8, "invalid_field"},
    };
    for (size_t i = 0; i < 4; i++) {
        json_t *l = json_array_get(lines, i);
        cl_fx_expect_keys(l, "line,code,message");
        expect_int(l, "line", want[i].line);
        expect_str(l, "code", want[i].code);
    }
    expect_str(json_array_get(lines, 0), "message", "owner_kind: one of police, household, business, agency");
    expect_str(json_array_get(lines, 3), "message", "lat: must be a number");
    cl_fx_api_err(404, "camera_not_found", "GET", "/v1/cameras/CSV-001", ADM1, NULL);
    cl_fx_api_err(404, "camera_not_found", "GET", "/v1/cameras/CSV-003", ADM1, NULL);

    /* Malformed files: the whole file is refused with the line. */
    static const struct { const char *csv, *message; } malformed[] = {
        {"code,nme\nX,y\n", "line 1: unknown column 'nme'"},
        {"name,station\nX,BT\n", "line 1: the header has no 'code' column"},
        {"code,name,code\nX,y,z\n", "line 1: column 'code' appears twice"},
        {"code,name\nX,\"open\nY,z\n", "line 2: a quoted field is never closed"},
        {"code,name\nX,y\nY,z,w\n", "line 3: more fields than the header's 2 columns"},
        {"code,name\r\nX,y\r\n\r\nY\r\n", "line 4: 1 fields, the header has 2 columns"},
        {"code,name\nX,\"a\"b\n", "line 2: text after a closing quote"},
        {"code,name\nX,a\"b\n", "line 2: a quote inside an unquoted field"},
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        a = cl_fx_ask("POST", "/v1/cameras/import", ADM1, csv_ct, malformed[i].csv, strlen(malformed[i].csv));
        assert_int_equal(a.status, 400);
        e = cl_fx_field(a.json, "error");
        expect_str(e, "code", "invalid_csv");
        if (strncmp(cl_fx_str(e, "message"), malformed[i].message, strlen(malformed[i].message)) != 0)
            fail_msg("CSV %zu: expected '%s...', got '%s'", i, malformed[i].message, cl_fx_str(e, "message"));
    }
    a = cl_fx_ask("POST", "/v1/cameras/import", ADM1, csv_ct, "code,name\n", 10);
    assert_int_equal(a.status, 400);
    expect_str(cl_fx_field(a.json, "error"), "code", "empty_import");
    a = cl_fx_ask("POST", "/v1/cameras/import", ADM1, NULL, "code\nX\n", 7);
    assert_int_equal(a.status, 415);
    a = cl_fx_ask("POST", "/v1/cameras/import", ADM1, csv_ct, NULL, 0);
    assert_int_equal(a.status, 400);

    /* A good file: BOM, CRLF, blank lines, quotes, commas and a line break
     * inside fields; BT-NEW, found by the indexer, becomes registered. */
    const char *good =
        "\xef\xbb\xbf" "code,name,station,owner_kind,owner_name,owner_phone,lat,lon,address,retention_days,timezone\r\n"
        "CSV-001,\"Camera \"\"Chợ Bến Thành\"\", cổng Nam\",BT,business,\"Nguyễn Văn A\",0903 123 456,"
        "10.7725,106.698,\"Số 2, Lê Lợi\nPhường Bến Thành\",30,Asia/Ho_Chi_Minh\r\n"
        "\r\n"
        "BT-NEW,Camera mới tìm thấy,BT,household,,,,,,,\r\n"
        "\r\n";
    a = cl_fx_ask("POST", "/v1/cameras/import", ADM1, "Content-Type: text/csv; charset=utf-8\r\n", good, strlen(good));
    assert_int_equal(a.status, 201);
    cl_fx_expect_keys(a.json, "imported");
    expect_int(a.json, "imported", 2);
    cl_fx_audit_n += 2;
    json_t *c = cl_fx_api(200, "GET", "/v1/cameras/CSV-001", INV1, NULL);
    expect_str(c, "name", "Camera \"Chợ Bến Thành\", cổng Nam");
    expect_str(c, "owner_name", "Nguyễn Văn A");
    expect_str(c, "owner_phone", "0903 123 456");
    expect_num(c, "lat", 10.7725);
    expect_num(c, "lon", 106.698);
    expect_str(c, "address", "Số 2, Lê Lợi\nPhường Bến Thành");
    expect_int(c, "retention_days", 30);
    expect_str(c, "timezone", "Asia/Ho_Chi_Minh");
    expect_bool(c, "registered", 1);
    expect_int(cl_fx_field(c, "coverage"), "recordings", 0);
    c = cl_fx_api(200, "GET", "/v1/cameras/BT-NEW", INV1, NULL);
    expect_str(c, "name", "Camera mới tìm thấy");
    expect_str(c, "station", "BT");
    expect_str(c, "owner_kind", "household");
    expect_null(c, "owner_name");
    expect_null(c, "lat");
    expect_bool(c, "registered", 1);
    json_t *cov = cl_fx_field(c, "coverage");
    expect_int(cov, "recordings", 1);
    expect_int(cov, "ok", 1);
    expect_str(cov, "first", "2025-11-21T14:40:00.000Z");
    expect_str(cov, "last", "2025-11-21T14:41:00.000Z");
    char *n = cl_t_query1(cl_fx_conn, "SELECT count(*) FROM cameras WHERE code = $1", "BT-NEW", NULL);
    assert_string_equal(n, "1");
    free(n);

    /* Importing them again: both already registered. */
    a = cl_fx_ask("POST", "/v1/cameras/import", ADM1, csv_ct, good, strlen(good));
    assert_int_equal(a.status, 400);
    lines = cl_fx_field(cl_fx_field(a.json, "error"), "lines");
    assert_int_equal(json_array_size(lines), 2);
    expect_int(json_array_get(lines, 0), "line", 2);
    expect_str(json_array_get(lines, 0), "code", "camera_exists");
    expect_int(json_array_get(lines, 1), "line", 5);
}


/* The oracle's last keyframe at or before t (ms from BASE_EPOCH) in a file
 * starting at file_ms. */
static long long keyframe_before(long long file_ms, long long t)
{
    long long best = -1;
    for (size_t i = 0; i < cl_fx_n_oracle; i++) {
        long long k = file_ms + llround(cl_fx_oracle[i] * 1000);
        if (k <= t)
            best = k;
    }
    assert_true(best >= 0);
    return best;
}

void test_http_footage_segments_and_gaps(void **state)
{
    (void)state;
    /* 21:39:30 to 21:45:30 local: before, ok, deleted, missing, ok,
     * corrupt, after. */
    json_t *f = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras/BT-001/footage?from=%s&to=%s",
                                  cl_fx_enc("2025-11-21T21:39:30+07:00"), cl_fx_enc("2025-11-21T21:45:30+07:00")),
                    INV1, NULL);
    cl_fx_expect_keys(f, "camera,from,to,segments,gaps,coverage,first_keyframe");
    expect_str(f, "camera", "BT-001");
    expect_str(f, "from", "2025-11-21T14:39:30.000Z");
    expect_str(f, "to", "2025-11-21T14:45:30.000Z");
    static const cl_fx_span_t seg1[] = {{0, 60000, "ok"}, {180000, 240000, "ok"}};
    cl_fx_expect_spans(cl_fx_field(f, "segments"), "status", seg1, 2);
    static const cl_fx_span_t gap1[] = {
        {-30000, 0, "no_recording"}, {60000, 120000, "deleted"}, {120000, 180000, "no_recording"},
        {240000, 300000, "corrupt"}, {300000, 330000, "no_recording"},
    };
    cl_fx_expect_spans(cl_fx_field(f, "gaps"), "reason", gap1, 5);
    expect_num(f, "coverage", 0.3333);
    expect_null(f, "first_keyframe");

    /* Starting inside the first file: the keyframe at or before from. The
     * '+' of the offset typed unencoded arrives as a space and still counts. */
    f = cl_fx_api(200, "GET", "/v1/cameras/BT-001/footage?from=2025-11-21T14:40:05Z&to=2025-11-21T21:43:30+07:00",
            INV1, NULL);
    static const cl_fx_span_t seg2[] = {{5000, 60000, "ok"}, {180000, 210000, "ok"}};
    cl_fx_expect_spans(cl_fx_field(f, "segments"), "status", seg2, 2);
    static const cl_fx_span_t gap2[] = {{60000, 120000, "deleted"}, {120000, 180000, "no_recording"}};
    cl_fx_expect_spans(cl_fx_field(f, "gaps"), "reason", gap2, 2);
    expect_num(f, "coverage", 0.4146);
    expect_str(f, "first_keyframe", cl_fx_at_ms(keyframe_before(0, 5000)));
    assert_string_equal(cl_fx_at_ms(keyframe_before(0, 5000)), "2025-11-21T14:40:04.000Z");

    /* Exactly on a keyframe, and near the end of the last good file. */
    f = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras/BT-001/footage?from=%s&to=%s", cl_fx_at_ms(186000), cl_fx_at_ms(246000)),
            AUD, NULL);
    expect_str(f, "first_keyframe", cl_fx_at_ms(keyframe_before(180000, 186000)));
    assert_string_equal(cl_fx_str(f, "first_keyframe"), "2025-11-21T14:43:06.000Z");
    static const cl_fx_span_t gap3[] = {{240000, 246000, "corrupt"}};
    cl_fx_expect_spans(cl_fx_field(f, "gaps"), "reason", gap3, 1);
    expect_num(f, "coverage", 0.9);
    f = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras/BT-001/footage?from=%s&to=%s", cl_fx_at_ms(239999), cl_fx_at_ms(240000)),
            AUD, NULL);
    expect_str(f, "first_keyframe", cl_fx_at_ms(keyframe_before(180000, 239999)));
    expect_num(f, "coverage", 1.0);

    /* Nothing recorded at all. */
    f = cl_fx_api(200, "GET", "/v1/cameras/HK-001/footage?from=2025-11-21T00:00:00Z&to=2025-11-21T01:00:00Z",
            AUD, NULL);
    cl_fx_expect_spans(cl_fx_field(f, "segments"), "status", NULL, 0);
    static const cl_fx_span_t gap4[] = {{-52800000, -49200000, "no_recording"}};
    cl_fx_expect_spans(cl_fx_field(f, "gaps"), "reason", gap4, 1);
    expect_num(f, "coverage", 0.0);
    expect_null(f, "first_keyframe");

    /* Bad windows. */
    const char *p = "/v1/cameras/BT-001/footage";
    cl_fx_api_err(400, "missing_parameter", "GET", cl_fx_fmt("%s?from=2025-11-21T14:40:00Z", p), INV1, NULL);
    cl_fx_api_err(400, "invalid_time", "GET", cl_fx_fmt("%s?from=2026-02-30T14:40:00Z&to=2026-03-01T00:00:00Z", p), INV1, NULL);
    cl_fx_api_err(400, "invalid_time", "GET", cl_fx_fmt("%s?from=2025-11-21T14:40:00&to=2025-11-21T14:50:00", p), INV1, NULL);
    cl_fx_api_err(400, "invalid_time", "GET", cl_fx_fmt("%s?from=yesterday&to=today", p), INV1, NULL);
    cl_fx_api_err(400, "invalid_time", "GET", cl_fx_fmt("%s?from=2025-11-21T25:00:00Z&to=2025-11-21T26:00:00Z", p), INV1, NULL);
    cl_fx_api_err(400, "invalid_window", "GET", cl_fx_fmt("%s?from=2025-11-21T14:50:00Z&to=2025-11-21T14:40:00Z", p), INV1, NULL);
    cl_fx_api_err(400, "invalid_window", "GET", cl_fx_fmt("%s?from=2025-11-21T14:40:00Z&to=2025-11-21T21:40:00%%2B07:00", p),
            INV1, NULL);
    cl_fx_api_err(400, "window_too_long", "GET", cl_fx_fmt("%s?from=2025-11-21T00:00:00Z&to=2025-11-22T00:00:01Z", p), INV1, NULL);
    cl_fx_api(200, "GET", cl_fx_fmt("%s?from=2025-11-21T00:00:00Z&to=2025-11-22T00:00:00Z", p), INV1, NULL);
    cl_fx_api_err(404, "camera_not_found", "GET",
            "/v1/cameras/NO-SUCH/footage?from=2025-11-21T14:40:00Z&to=2025-11-21T14:50:00Z", INV1, NULL);
    cl_fx_api_err(400, "unknown_parameter", "GET", cl_fx_fmt("%s?from=2025-11-21T14:40:00Z&to=2025-11-21T14:50:00Z&tz=1", p),
            INV1, NULL);
}

void test_http_keyframes_exact(void **state)
{
    (void)state;
    /* 14:40:55 to 14:43:05: the end of the first file, none of the deleted
     * one, the start of the third. */
    long long from = 55000, to = 185000;
    json_t *k = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cameras/BT-001/keyframes?from=%s&to=%s", cl_fx_at_ms(from), cl_fx_at_ms(to)),
                    INV2, NULL);
    cl_fx_expect_keys(k, "camera,from,to,keyframes");
    expect_str(k, "camera", "BT-001");
    expect_str(k, "from", cl_fx_at_ms(from));
    expect_str(k, "to", cl_fx_at_ms(to));
    json_t *list = cl_fx_field(k, "keyframes");
    size_t n = 0;
    static const long long files[] = {0, 180000};
    for (size_t f = 0; f < 2; f++) {
        for (size_t i = 0; i < cl_fx_n_oracle; i++) {
            long long t = files[f] + llround(cl_fx_oracle[i] * 1000);
            if (t < from || t >= to)
                continue;
            json_t *v = json_array_get(list, n++);
            if (!json_is_string(v) || strcmp(json_string_value(v), cl_fx_at_ms(t)) != 0)
                fail_msg("keyframe %zu: expected %s in %s", n - 1, cl_fx_at_ms(t), cl_fx_dump(json_incref(list)));
        }
    }
    assert_int_equal(n, 5);
    assert_int_equal(json_array_size(list), n);
    assert_string_equal(json_string_value(json_array_get(list, 0)), "2025-11-21T14:40:56.000Z");
    assert_string_equal(json_string_value(json_array_get(list, 4)), "2025-11-21T14:43:04.000Z");

    /* The whole hour: every keyframe of both good files, in order. */
    k = cl_fx_api(200, "GET", "/v1/cameras/BT-001/keyframes?from=2025-11-21T14:00:00Z&to=2025-11-21T15:00:00Z",
            INV2, NULL);
    assert_int_equal(json_array_size(cl_fx_field(k, "keyframes")), 2 * cl_fx_n_oracle);
    k = cl_fx_api(200, "GET", "/v1/cameras/BT-001/keyframes?from=2025-11-21T14:41:00Z&to=2025-11-21T14:43:00Z",
            INV2, NULL);
    assert_int_equal(json_array_size(cl_fx_field(k, "keyframes")), 0);
    cl_fx_api_err(400, "window_too_long", "GET",
            "/v1/cameras/BT-001/keyframes?from=2025-11-20T00:00:00Z&to=2025-11-21T14:00:00Z", INV2, NULL);
    cl_fx_api_err(404, "camera_not_found", "GET",
            "/v1/cameras/nope/keyframes?from=2025-11-21T14:00:00Z&to=2025-11-21T15:00:00Z", INV2, NULL);
}
