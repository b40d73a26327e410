/* camledger-server end to end, cases and extraction requests: their life
 * cycle and idempotent creation. Part of itest_http_api (test_http_api.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_fixture.h"

static const char *const case_keys = "number,title,station,status,created_by,created_at,updated_at";


void test_http_cases(void **state)
{
    (void)state;
    const char *title = "Cướp giật tại ngã tư Nguyễn Thị Minh Khai";
    json_t *k = cl_fx_open_case(INV1, "VV-2026/001", title, NULL, "BT");
    cl_fx_expect_keys(k, case_keys);
    expect_str(k, "number", "VV-2026/001");
    expect_str(k, "title", title);
    expect_str(k, "status", "open");
    expect_str(k, "created_by", cl_fx_users[0].name);
    cl_fx_expect_time_format(cl_fx_str(k, "created_at"));
    expect_str(k, "created_at", cl_fx_db_time("SELECT cl_ts(created_at) FROM cases WHERE number = $1", "VV-2026/001"));
    expect_str(k, "updated_at", cl_fx_str(k, "created_at"));
    cl_fx_api_err(409, "case_exists", "POST", "/v1/cases", INV2,
            cl_fx_dump(json_pack("{s:s,s:s}", "number", "VV-2026/001", "title", "khác")));

    json_t *g = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), AUD, NULL);
    cl_fx_expect_keys(g, cl_fx_fmt("%s,requests", case_keys));
    expect_str(g, "title", title);
    json_t *rq = cl_fx_field(g, "requests");
    cl_fx_expect_keys(rq, "total,pending,approved,rejected,cancelled,fulfilled");
    expect_int(rq, "total", 0);
    cl_fx_api_err(404, "case_not_found", "GET", "/v1/cases/VV-9999", AUD, NULL);

    cl_fx_open_case(ADM1, "VV-2026/002", "Trộm xe máy trước chợ Bến Thành", "BT", "BT");
    cl_fx_open_case(ADM2, "HK-2026/001", "Mất cắp điện thoại ở Hồ Gươm", NULL, "HK");
    /* A number a CSV line has to quote. */
    cl_fx_open_case(INV3, "HK-2026/002, \"Cướp\"", "Vụ có dấu phẩy và \"ngoặc kép\"", NULL, "HK");
    g = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("HK-2026/002, \"Cướp\"")), INV3, NULL);
    expect_str(g, "number", "HK-2026/002, \"Cướp\"");
    expect_str(g, "title", "Vụ có dấu phẩy và \"ngoặc kép\"");

    /* Decomposed diacritics (e, U+0302, U+0303) stay as sent: no
     * normalisation on the way in or out; the raw body holds the bytes, not
     * escapes. */
    const char *nfd = "Nguye\xcc\x82\xcc\x83n Thi\xcc\xa3 Minh Khai";
    cl_fx_open_case(INV2, "VV-2026/NFD", nfd, NULL, "BT");
    cl_fx_answer_t raw = cl_fx_ask("GET", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/NFD")), AUD, NULL, NULL, 0);
    assert_int_equal(raw.status, 200);
    expect_str(raw.json, "title", nfd);
    expect_str(raw.json, "created_by", cl_fx_users[1].name);
    assert_non_null(strstr(raw.body, nfd));
    assert_non_null(strstr(raw.body, cl_fx_users[1].name));
    assert_null(strstr(raw.body, "\\u"));

    cl_fx_api_err(403, "other_station", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\",\"title\":\"x\",\"station\":\"HK\"}");
    cl_fx_api_err(400, "unknown_station", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\",\"title\":\"x\",\"station\":\"ZZ\"}");
    cl_fx_api_err(400, "missing_field", "POST", "/v1/cases", INV1, "{\"title\":\"x\"}");
    cl_fx_api_err(400, "missing_field", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\"}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\",\"title\":\"\"}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/cases", INV1, "{\"number\":\"X\\u0001\",\"title\":\"x\"}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/cases", INV1,
            cl_fx_dump(json_pack("{s:s,s:s}", "number", cl_fx_fmt("%065d", 1), "title", "x")));
    cl_fx_api_err(400, "unknown_field", "POST", "/v1/cases", INV1, "{\"number\":\"X-1\",\"title\":\"x\",\"status\":\"open\"}");
    cl_fx_api_err(404, "case_not_found", "GET", "/v1/cases/X-1", INV1, NULL);

    /* Changes: the title, the status there and back; a closed case is final. */
    json_t *p = cl_fx_api(200, "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), INV1,
                    "{\"title\":\"Cướp giật – cập nhật\"}");
    cl_fx_audit_n++;
    cl_fx_expect_keys(p, case_keys);
    expect_str(p, "title", "Cướp giật – cập nhật");
    expect_str(p, "status", "open");
    p = cl_fx_api(200, "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), ADM1, "{\"status\":\"solved\"}");
    cl_fx_audit_n++;
    expect_str(p, "status", "solved");
    expect_str(p, "title", "Cướp giật – cập nhật");
    p = cl_fx_api(200, "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), INV1,
            cl_fx_dump(json_pack("{s:s,s:s}", "status", "open", "title", title)));
    cl_fx_audit_n += 2;
    expect_str(p, "status", "open");
    expect_str(p, "title", title);
    cl_fx_api_err(400, "invalid_field", "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), INV1, "{\"status\":\"archived\"}");
    cl_fx_api_err(400, "invalid_body", "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), INV1, "{}");
    cl_fx_api_err(400, "unknown_field", "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), INV1, "{\"number\":\"Y\"}");
    cl_fx_api_err(403, "other_station", "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), ADM2, "{\"title\":\"x\"}");
    cl_fx_api_err(404, "case_not_found", "PATCH", "/v1/cases/X-1", INV1, "{\"title\":\"x\"}");
    p = cl_fx_api(200, "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/002")), ADM1, "{\"status\":\"closed\"}");
    cl_fx_audit_n++;
    expect_str(p, "status", "closed");
    cl_fx_api_err(409, "invalid_state", "PATCH", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/002")), ADM1, "{\"status\":\"open\"}");

    json_t *l = cl_fx_api(200, "GET", "/v1/cases?station=BT", INV2, NULL);
    cl_fx_expect_keys(l, "cases,total,limit,offset");
    expect_int(l, "total", 3);
    expect_str(json_array_get(cl_fx_field(l, "cases"), 0), "number", "VV-2026/NFD");
    expect_str(json_array_get(cl_fx_field(l, "cases"), 1), "number", "VV-2026/002");
    expect_str(json_array_get(cl_fx_field(l, "cases"), 2), "number", "VV-2026/001");
    cl_fx_expect_keys(json_array_get(cl_fx_field(l, "cases"), 2), case_keys);
    l = cl_fx_api(200, "GET", "/v1/cases?status=closed", INV2, NULL);
    expect_int(l, "total", 1);
    l = cl_fx_api(200, "GET", "/v1/cases?station=HK&limit=1", INV2, NULL);
    expect_int(l, "total", 2);
    assert_int_equal(json_array_size(cl_fx_field(l, "cases")), 1);
    expect_str(json_array_get(cl_fx_field(l, "cases"), 0), "number", "HK-2026/002, \"Cướp\"");
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/cases?status=bogus", INV2, NULL);
    cl_fx_api_err(400, "unknown_station", "GET", "/v1/cases?station=ZZ", INV2, NULL);
}

void test_http_requests_life_cycle(void **state)
{
    (void)state;
    const char *reason = "Trích xuất camera vụ cướp giật lúc 21:40";
    json_t *r1 = cl_fx_ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T21:40:05+07:00",
                             "2025-11-21T21:43:30+07:00", 205, reason, NULL);
    long long id1 = cl_fx_num_i(r1, "id");
    cl_fx_expect_keys(r1, cl_fx_fmt("%s,availability", cl_fx_request_keys));
    expect_str(r1, "from", "2025-11-21T14:40:05.000Z");
    expect_str(r1, "to", "2025-11-21T14:43:30.000Z");
    expect_str(r1, "requester", cl_fx_users[0].name);
    expect_null(r1, "decided_by");
    expect_null(r1, "decided_at");
    expect_null(r1, "decision_reason");
    cl_fx_expect_not_cut(r1);
    /* BT-001 keeps 45 days; the oldest footage needed starts at 14:40. */
    expect_str(r1, "overwrite_at", "2026-01-05T14:40:00.000Z");
    cl_fx_expect_time_format(cl_fx_str(r1, "created_at"));
    expect_str(r1, "created_at", cl_fx_db_time("SELECT cl_ts(created_at) FROM requests WHERE id = $1",
                                         cl_fx_fmt("%lld", id1)));
    json_t *av = cl_fx_field(r1, "availability");
    cl_fx_expect_keys(av, "coverage,segments,gaps,first_keyframe");
    expect_num(av, "coverage", 0.4146);
    expect_int(av, "segments", 2);
    static const cl_fx_span_t gaps[] = {{60000, 120000, "deleted"}, {120000, 180000, "no_recording"}};
    cl_fx_expect_spans(cl_fx_field(av, "gaps"), "reason", gaps, 2);
    expect_str(av, "first_keyframe", "2025-11-21T14:40:04.000Z");

    json_t *g = cl_fx_api(200, "GET", cl_fx_fmt("/v1/requests/%lld", id1), AUD, NULL);
    cl_fx_expect_keys(g, cl_fx_request_keys);
    const char *key;
    json_t *v;
    json_object_foreach(g, key, v)
        assert_true(json_equal(v, json_object_get(r1, key)));

    /* pending -> approved -> cancelled, and nothing after. */
    json_t *a = cl_fx_act(ADM1, id1, "approve", NULL, 200, NULL);
    expect_str(a, "decided_by", cl_fx_users[3].name);
    cl_fx_expect_time_format(cl_fx_str(a, "decided_at"));
    expect_null(a, "decision_reason");
    expect_str(a, "overwrite_at", "2026-01-05T14:40:00.000Z");
    cl_fx_expect_not_cut(a);
    cl_fx_act(ADM1, id1, "approve", NULL, 409, "invalid_state");
    cl_fx_act(ADM1, id1, "reject", "Không cần nữa", 409, "invalid_state");
    cl_fx_act(INV2, id1, "cancel", NULL, 403, "not_requester");
    a = cl_fx_act(INV1, id1, "cancel", "Đã có bản sao từ chủ nhà", 200, NULL);
    expect_str(a, "decided_by", cl_fx_users[3].name);
    expect_str(a, "decision_reason", "Đã có bản sao từ chủ nhà");
    expect_null(a, "overwrite_at");   /* nothing left to lose */
    cl_fx_act(ADM1, id1, "approve", NULL, 409, "invalid_state");
    cl_fx_act(ADM1, id1, "reject", "x", 409, "invalid_state");
    cl_fx_act(INV1, id1, "cancel", NULL, 409, "invalid_state");

    /* pending -> rejected (a reason is required), and nothing after. */
    json_t *r2 = cl_fx_ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:40:00Z", "2025-11-21T14:45:00Z",
                             300, "Xác minh đối tượng đi xe máy", NULL);
    long long id2 = cl_fx_num_i(r2, "id");
    expect_num(cl_fx_field(r2, "availability"), "coverage", 0.4);
    cl_fx_act(ADM1, id2, "reject", NULL, 400, "missing_field");
    cl_fx_api_err(400, "missing_field", "POST", cl_fx_fmt("/v1/requests/%lld/reject", id2), ADM1, "{}");
    cl_fx_act(ADM1, id2, "reject", "", 400, "missing_field");
    cl_fx_api_err(400, "unknown_field", "POST", cl_fx_fmt("/v1/requests/%lld/reject", id2), ADM1, "{\"why\":\"x\"}");
    cl_fx_api_err(400, "invalid_json", "POST", cl_fx_fmt("/v1/requests/%lld/reject", id2), ADM1, "{\"reason\":");
    a = cl_fx_act(ADM1, id2, "reject", "Không đủ căn cứ: cần lệnh của thủ trưởng", 200, NULL);
    expect_str(a, "decision_reason", "Không đủ căn cứ: cần lệnh của thủ trưởng");
    cl_fx_act(ADM1, id2, "approve", NULL, 409, "invalid_state");
    cl_fx_act(ADM1, id2, "reject", "lần nữa", 409, "invalid_state");
    cl_fx_act(INV1, id2, "cancel", NULL, 409, "invalid_state");

    /* pending -> cancelled, by the requester only. */
    json_t *r3 = cl_fx_ask_footage(INV2, "VV-2026/001", "CSV-001", "2025-11-21T21:00:00+07:00",
                             "2025-11-21T22:00:00+07:00", 3600, "Camera chợ Bến Thành", NULL);
    long long id3 = cl_fx_num_i(r3, "id");
    expect_num(cl_fx_field(r3, "availability"), "coverage", 0.0);
    static const cl_fx_span_t none[] = {{-2400000, 1200000, "no_recording"}};
    cl_fx_expect_spans(cl_fx_field(cl_fx_field(r3, "availability"), "gaps"), "reason", none, 1);
    cl_fx_act(INV1, id3, "cancel", NULL, 403, "not_requester");
    cl_fx_act(ADM1, id3, "cancel", NULL, 403, "forbidden");
    cl_fx_act(INV2, id3, "cancel", NULL, 200, NULL);
    cl_fx_act(ADM1, id3, "approve", NULL, 409, "invalid_state");

    /* Another station's admin may not decide. */
    json_t *r4 = cl_fx_ask_footage(INV1, "VV-2026/001", "BT-NEW", "2025-11-21T14:40:00Z", "2025-11-21T14:41:00Z",
                             60, "Camera mới tìm thấy", NULL);
    long long id4 = cl_fx_num_i(r4, "id");
    expect_num(cl_fx_field(r4, "availability"), "coverage", 1.0);
    cl_fx_act(ADM2, id4, "approve", NULL, 403, "other_station");
    cl_fx_act(ADM2, id4, "reject", "x", 403, "other_station");
    cl_fx_act(ADM1, id4, "approve", NULL, 200, NULL);
    json_t *r5 = cl_fx_ask_footage(INV3, "HK-2026/001", "HK-001", "2025-11-21T14:00:00Z", "2025-11-21T14:10:00Z",
                             600, "Điện thoại bị mất", NULL);
    cl_fx_act(ADM2, cl_fx_num_i(r5, "id"), "approve", "Đồng ý", 200, NULL);
    json_t *r6 = cl_fx_ask_footage(INV3, "HK-2026/002, \"Cướp\"", "HK-002", "2025-11-21T14:00:00Z",
                             "2025-11-21T14:10:00Z", 600, "Vụ có dấu phẩy", NULL);
    (void)r6;

    /* Refusals. */
    const char *ok_window = "\"from\":\"2025-11-21T14:40:00Z\",\"to\":\"2025-11-21T14:50:00Z\"";
    cl_fx_api_err(403, "other_station", "POST", "/v1/requests", INV3,
            cl_fx_fmt("{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",%s,\"reason\":\"x\"}", ok_window));
    cl_fx_api_err(400, "unknown_case", "POST", "/v1/requests", INV1,
            cl_fx_fmt("{\"case\":\"VV-0000\",\"camera\":\"BT-001\",%s,\"reason\":\"x\"}", ok_window));
    cl_fx_api_err(400, "unknown_camera", "POST", "/v1/requests", INV1,
            cl_fx_fmt("{\"case\":\"VV-2026/001\",\"camera\":\"XX-999\",%s,\"reason\":\"x\"}", ok_window));
    cl_fx_api_err(409, "case_not_open", "POST", "/v1/requests", INV1,
            cl_fx_fmt("{\"case\":\"VV-2026/002\",\"camera\":\"BT-001\",%s,\"reason\":\"x\"}", ok_window));
    cl_fx_api_err(400, "invalid_window", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:50:00Z\","
            "\"to\":\"2025-11-21T14:40:00Z\",\"reason\":\"x\"}");
    cl_fx_api_err(400, "invalid_time", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2026-02-30T14:50:00Z\","
            "\"to\":\"2026-03-01T14:40:00Z\",\"reason\":\"x\"}");
    cl_fx_api_err(400, "window_too_long", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-20T14:00:00Z\","
            "\"to\":\"2025-11-21T14:00:01Z\",\"reason\":\"x\"}");
    cl_fx_api_err(400, "missing_field", "POST", "/v1/requests", INV1,
            cl_fx_fmt("{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",%s}", ok_window));
    cl_fx_api_err(400, "missing_field", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:40:00Z\",\"reason\":\"x\"}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/requests", INV1,
            "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":1763736000,"
            "\"to\":\"2025-11-21T14:40:00Z\",\"reason\":\"x\"}");
    cl_fx_api_err(400, "invalid_field", "POST", "/v1/requests", INV1,
            cl_fx_dump(json_pack("{s:s,s:s,s:s,s:s,s:s}", "case", "VV-2026/001", "camera", "BT-001",
                        "from", "2025-11-21T14:40:00Z", "to", "2025-11-21T14:50:00Z", "reason",
                        cl_fx_fmt("%02001d", 7))));
    cl_fx_api_err(400, "unknown_field", "POST", "/v1/requests", INV1,
            cl_fx_fmt("{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",%s,\"reason\":\"x\",\"status\":\"approved\"}",
              ok_window));
    cl_fx_api_err(403, "forbidden", "POST", "/v1/requests", ADM1,
            cl_fx_fmt("{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",%s,\"reason\":\"x\"}", ok_window));
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/requests/abc", INV1, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/requests/99999999999999999999", INV1, NULL);
    cl_fx_api_err(404, "request_not_found", "GET", "/v1/requests/999999", INV1, NULL);
    cl_fx_act(ADM1, 999999, "approve", NULL, 404, "request_not_found");

    /* Lists and their filters, newest first. */
    json_t *l = cl_fx_api(200, "GET", cl_fx_fmt("/v1/requests?case=%s", cl_fx_enc("VV-2026/001")), AUD, NULL);
    cl_fx_expect_keys(l, "requests,total,limit,offset");
    expect_int(l, "total", 4);
    expect_int(json_array_get(cl_fx_field(l, "requests"), 0), "id", id4);
    expect_int(json_array_get(cl_fx_field(l, "requests"), 3), "id", id1);
    cl_fx_expect_keys(json_array_get(cl_fx_field(l, "requests"), 0), cl_fx_request_keys);
    l = cl_fx_api(200, "GET", "/v1/requests?status=approved", AUD, NULL);
    expect_int(l, "total", 2);
    l = cl_fx_api(200, "GET", cl_fx_fmt("/v1/requests?requester=%s", cl_fx_enc(cl_fx_users[2].name)), AUD, NULL);
    expect_int(l, "total", 2);
    expect_str(json_array_get(cl_fx_field(l, "requests"), 0), "requester", cl_fx_users[2].name);
    l = cl_fx_api(200, "GET", "/v1/requests?camera=BT-001&status=rejected", AUD, NULL);
    expect_int(l, "total", 1);
    expect_int(json_array_get(cl_fx_field(l, "requests"), 0), "id", id2);
    l = cl_fx_api(200, "GET", "/v1/requests?case=nope", AUD, NULL);
    expect_int(l, "total", 0);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/requests?status=bogus", AUD, NULL);

    /* The case counts its requests. */
    g = cl_fx_api(200, "GET", cl_fx_fmt("/v1/cases/%s", cl_fx_enc("VV-2026/001")), AUD, NULL);
    json_t *rq = cl_fx_field(g, "requests");
    expect_int(rq, "total", 4);
    expect_int(rq, "pending", 0);
    expect_int(rq, "approved", 1);
    expect_int(rq, "rejected", 1);
    expect_int(rq, "cancelled", 2);
    expect_int(rq, "fulfilled", 0);
}

void test_http_requests_idempotent(void **state)
{
    (void)state;
    const char *key = "phiếu-2025-11-21-001";
    json_t *first = cl_fx_ask_footage(INV1, "VV-2026/001", "BT-001", "2025-11-21T14:40:00Z", "2025-11-21T14:42:00Z",
                                120, "Yêu cầu có khóa", key);
    /* The same body again, even spelt differently: the same answer, one row. */
    const char *headers = cl_fx_fmt("Content-Type: application/json\r\nIdempotency-Key: %s\r\n", key);
    const char *again[] = {
        "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:40:00Z\","
        "\"to\":\"2025-11-21T14:42:00Z\",\"reason\":\"Yêu cầu có khóa\"}",
        "{ \"reason\" : \"Y\\u00eau c\\u1ea7u c\\u00f3 kh\\u00f3a\", \"to\":\"2025-11-21T14:42:00Z\","
        "\"from\":\"2025-11-21T14:40:00Z\",\"camera\":\"BT-001\",\"case\":\"VV-2026/001\" }",
    };
    for (size_t i = 0; i < 2; i++) {
        cl_fx_answer_t a = cl_fx_ask("POST", "/v1/requests", INV1, headers, again[i], strlen(again[i]));
        assert_int_equal(a.status, 201);
        assert_true(json_equal(a.json, first));
    }
    char *n = cl_t_query1(cl_fx_conn, "SELECT count(*) FROM requests WHERE idempotency_key = $1", key, NULL);
    assert_string_equal(n, "1");
    free(n);
    /* After a decision too: a retry answers as the first time. */
    cl_fx_act(ADM1, cl_fx_num_i(first, "id"), "approve", NULL, 200, NULL);
    cl_fx_answer_t a = cl_fx_ask("POST", "/v1/requests", INV1, headers, again[0], strlen(again[0]));
    assert_int_equal(a.status, 201);
    assert_true(json_equal(a.json, first));

    /* The same key for something else is a conflict; another user's key is
     * their own. */
    const char *other = "{\"case\":\"VV-2026/001\",\"camera\":\"BT-001\",\"from\":\"2025-11-21T14:40:00Z\","
                        "\"to\":\"2025-11-21T14:43:00Z\",\"reason\":\"Yêu cầu có khóa\"}";
    a = cl_fx_ask("POST", "/v1/requests", INV1, headers, other, strlen(other));
    assert_int_equal(a.status, 409);
    expect_str(cl_fx_field(a.json, "error"), "code", "idempotency_key_reused");
    json_t *second = cl_fx_ask_footage(INV2, "VV-2026/001", "BT-001", "2025-11-21T14:40:00Z", "2025-11-21T14:42:00Z",
                                 120, "Yêu cầu có khóa", key);
    assert_true(cl_fx_num_i(second, "id") != cl_fx_num_i(first, "id"));
    n = cl_t_query1(cl_fx_conn, "SELECT count(*) FROM requests WHERE idempotency_key = $1", key, NULL);
    assert_string_equal(n, "2");
    free(n);
    a = cl_fx_ask("POST", "/v1/requests", INV1, cl_fx_fmt("Content-Type: application/json\r\nIdempotency-Key: %0201d\r\n", 1),
            other, strlen(other));
    assert_int_equal(a.status, 400);
    expect_str(cl_fx_field(a.json, "error"), "code", "invalid_header");
    a = cl_fx_ask("POST", "/v1/requests", INV1, "Content-Type: application/json\r\nIdempotency-Key: \xff\xfe\r\n",
            other, strlen(other));
    assert_int_equal(a.status, 400);
}
