/* camledger-server end to end: the real binary over real HTTP, a real
 * PostgreSQL, and real recordings made with the ffmpeg CLI and indexed by
 * camledger-indexer. Bodies are parsed with jansson and checked field by
 * field; keyframe times are checked against the ffprobe oracle.
 *
 * One walk through the API on one database and one server: each test builds
 * on what the ones before made (cameras, cases, requests), and the audit and
 * metrics tests count everything before them, so the order below is part of
 * the tests. The tests live by concern in test_http_cameras.c,
 * test_http_requests.c, test_http_input.c and test_http_audit.c; the
 * process-level tests, which need no such state, are itest_http_server. */
#include "http_fixture.h"

#define DB "cl_itest_http_api"

static int group_setup(void **state)
{
    (void)state;
    return cl_fx_setup(DB, 1);
}

static int group_teardown(void **state)
{
    (void)state;
    return cl_fx_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_health_and_http2),
        cmocka_unit_test(test_http_cameras_register_get_patch),
        cmocka_unit_test(test_http_cameras_list_and_radius),
        cmocka_unit_test(test_http_cameras_import_csv),
        cmocka_unit_test(test_http_footage_segments_and_gaps),
        cmocka_unit_test(test_http_keyframes_exact),
        cmocka_unit_test(test_http_cases),
        cmocka_unit_test(test_http_requests_life_cycle),
        cmocka_unit_test(test_http_requests_idempotent),
        cmocka_unit_test(test_http_role_matrix),
        cmocka_unit_test(test_http_bad_input_is_4xx),
        cmocka_unit_test(test_http_audit_extractions),
        cmocka_unit_test(test_http_audit_log_and_chain),
        cmocka_unit_test(test_http_metrics),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
