/* cl_csv_cameras (server/csv.c): the camera import file, RFC 4180 with a
 * header, turned into [{"line": N, "fields": {...}}, ...]. */
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "testlib.h"

/* Parses text; fails the test unless it is accepted. */
static json_t *parse_ok(const char *text, size_t len)
{
    char err[256] = "";
    json_t *rows = cl_csv_cameras(text, len, err, sizeof(err));
    if (!rows)
        fail_msg("refused: %s", err);
    assert_true(json_is_array(rows));
    return rows;
}

/* Parses text; fails the test unless it is refused with exactly message. */
static void parse_err(const char *text, size_t len, const char *message)
{
    char err[256] = "untouched";
    json_t *rows = cl_csv_cameras(text, len, err, sizeof(err));
    if (rows) {
        char *dump = json_dumps(rows, JSON_COMPACT);
        json_decref(rows);
        fail_msg("accepted: %s", dump);
    }
    assert_string_equal(err, message);
}

/* The JSON text of a value (reals to 15 digits), compared as text. */
static void expect_json(json_t *v, const char *want)
{
    char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

#define PARSE(s) parse_ok((s), sizeof(s) - 1)
#define REFUSE(s, m) parse_err((s), sizeof(s) - 1, (m))

static void test_csv_every_column_typed(void **state)
{
    (void)state;
    json_t *rows = PARSE(
        "code,name,station,owner_kind,owner_name,owner_phone,lat,lon,address,retention_days,timezone\n"
        "BT-001,Camera ngã tư,BT,police,Công an phường,+84 28 3829 7159,10.7769,106.7009,Số 1 Hai Bà Trưng,30,"
        "Asia/Ho_Chi_Minh\n"
        "BT-002,Camera hẻm,BT,household,,,-0.5,7,,0030,\n");
    assert_int_equal(json_array_size(rows), 2);
    expect_json(json_array_get(rows, 0),
        "{\"fields\":{\"address\":\"Số 1 Hai Bà Trưng\",\"code\":\"BT-001\",\"lat\":10.7769,\"lon\":106.7009,"
        "\"name\":\"Camera ngã tư\",\"owner_kind\":\"police\",\"owner_name\":\"Công an phường\","
        "\"owner_phone\":\"+84 28 3829 7159\",\"retention_days\":30,\"station\":\"BT\","
        "\"timezone\":\"Asia/Ho_Chi_Minh\"},\"line\":2}");
    /* Empty fields are absent; numbers stay numbers. */
    expect_json(json_array_get(rows, 1),
        "{\"fields\":{\"code\":\"BT-002\",\"lat\":-0.5,\"lon\":7,\"name\":\"Camera hẻm\","
        "\"owner_kind\":\"household\",\"retention_days\":30,\"station\":\"BT\"},\"line\":3}");
    json_decref(rows);
}

static void test_csv_numbers_only_in_numeric_columns(void **state)
{
    (void)state;
    json_t *rows = PARSE("code,lat,lon,retention_days,owner_phone\n"
                         "0123,abc,1e2,30.5,0903123456\n"
                         "X,\" 10\",10.0,1e400,1\n");
    /* Text that is not a number stays text, for the database to refuse with
     * the line; codes and phone numbers keep their leading zeros. */
    expect_json(json_object_get(json_array_get(rows, 0), "fields"),
                "{\"code\":\"0123\",\"lat\":\"abc\",\"lon\":100,\"owner_phone\":\"0903123456\","
                "\"retention_days\":30.5}");
    expect_json(json_object_get(json_array_get(rows, 1), "fields"),
                "{\"code\":\"X\",\"lat\":\" 10\",\"lon\":10.0,\"owner_phone\":\"1\",\"retention_days\":\"1e400\"}");
    json_decref(rows);
}

static void test_csv_quoted_fields(void **state)
{
    (void)state;
    json_t *rows = PARSE("code,name,address\n"
                         "A,\"Camera \"\"Chợ Bến Thành\"\", cổng Nam\",\"Số 2, Lê Lợi\nPhường Bến Thành\"\n"
                         "B,\"\",\"\"\"\"\n"
                         "\"C\",\"x,y\",\"a\r\nb\"\n"
                         "D,,\n");
    assert_int_equal(json_array_size(rows), 4);
    expect_json(json_array_get(rows, 0),
                "{\"fields\":{\"address\":\"Số 2, Lê Lợi\\nPhường Bến Thành\",\"code\":\"A\","
                "\"name\":\"Camera \\\"Chợ Bến Thành\\\", cổng Nam\"},\"line\":2}");
    /* The line break inside the first record moves the next ones down. */
    expect_json(json_array_get(rows, 1), "{\"fields\":{\"address\":\"\\\"\",\"code\":\"B\"},\"line\":4}");
    expect_json(json_array_get(rows, 2),
                "{\"fields\":{\"address\":\"a\\r\\nb\",\"code\":\"C\",\"name\":\"x,y\"},\"line\":5}");
    expect_json(json_array_get(rows, 3), "{\"fields\":{\"code\":\"D\"},\"line\":7}");
    json_decref(rows);
}

static void test_csv_crlf_bom_blank_lines(void **state)
{
    (void)state;
    json_t *rows = PARSE("\xef\xbb\xbf" "code,name\r\n"
                         "\r\n"
                         "A,Một\r\n"
                         "\r\n"
                         "\n"
                         "B,Hai\r\n"
                         "\r\n");
    expect_json(rows, "[{\"fields\":{\"code\":\"A\",\"name\":\"Một\"},\"line\":3},"
                      "{\"fields\":{\"code\":\"B\",\"name\":\"Hai\"},\"line\":6}]");
    json_decref(rows);
    /* No final line break; old Mac line ends. */
    rows = PARSE("code,name\rA,x\rB,y");
    expect_json(rows, "[{\"fields\":{\"code\":\"A\",\"name\":\"x\"},\"line\":2},"
                      "{\"fields\":{\"code\":\"B\",\"name\":\"y\"},\"line\":3}]");
    json_decref(rows);
    /* A header only: no rows (the database refuses an empty import). */
    rows = PARSE("code\n");
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    /* Columns in any order, and only some of them. */
    rows = PARSE("station,code\nBT,Z\n");
    expect_json(rows, "[{\"fields\":{\"code\":\"Z\",\"station\":\"BT\"},\"line\":2}]");
    json_decref(rows);
}

static void test_csv_header_errors(void **state)
{
    (void)state;
    REFUSE("", "the file is empty: the first line names the columns");
    REFUSE("\xef\xbb\xbf", "the file is empty: the first line names the columns");
    REFUSE("code,nme\nX,y\n",
           "line 1: unknown column 'nme'; columns are code, name, station, owner_kind, owner_name, "
           "owner_phone, lat, lon, address, retention_days, timezone");
    REFUSE("Code\nX\n",
           "line 1: unknown column 'Code'; columns are code, name, station, owner_kind, owner_name, "
           "owner_phone, lat, lon, address, retention_days, timezone");
    REFUSE("code,name,\nX,y,\n",
           "line 1: unknown column ''; columns are code, name, station, owner_kind, owner_name, "
           "owner_phone, lat, lon, address, retention_days, timezone");
    REFUSE("name,station\nX,BT\n", "line 1: the header has no 'code' column");
    REFUSE("code,name,code\nX,y,z\n", "line 1: column 'code' appears twice");
    REFUSE("\"code\nX\n", "line 1: a quoted field is never closed");
    /* A long name is cut at 64 bytes, never inside a character. */
    char err[256];
    const char *csv = "code,ễễễễễễễễễễễễễễễễễễễễễễễễễễễễ\nX,y\n";
    assert_null(cl_csv_cameras(csv, strlen(csv), err, sizeof(err)));
    const char *want = "line 1: unknown column 'ễễễễễễễễễễễễễễễễễễễễễ'; columns are";
    assert_true(strncmp(err, want, strlen(want)) == 0);
}

static void test_csv_record_errors_name_the_line(void **state)
{
    (void)state;
    REFUSE("code,name\nX,\"open\nY,z\n", "line 2: a quoted field is never closed");
    REFUSE("code,name\nA,b\nX,\"open\n", "line 3: a quoted field is never closed");
    REFUSE("code,name\nX,y\nY,z,w\n", "line 3: more fields than the header's 2 columns");
    REFUSE("code,name\r\nX,y\r\n\r\nY\r\n", "line 4: 1 fields, the header has 2 columns");
    REFUSE("code,name\nX,\"a\nb\"\nY\n", "line 4: 1 fields, the header has 2 columns");
    REFUSE("code,name\nX,\"a\"b\n", "line 2: text after a closing quote");
    REFUSE("code,name\nX,a\"b\n", "line 2: a quote inside an unquoted field");
    REFUSE("code,name\nX,\xff\n", "line 2: column name is not valid UTF-8");
    REFUSE("code,name\nX,\xe1\xbb\n", "line 2: column name is not valid UTF-8");
    REFUSE("code,name\nX,\"\xc0\xaf\"\n", "line 2: column name is not valid UTF-8");
}

static void test_csv_row_limit(void **state)
{
    (void)state;
    size_t cap = 16 + 10001 * 12, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text, cap, "code\n");
    for (int i = 0; i < 10000; i++)
        n += (size_t)snprintf(text + n, cap - n, "C%05d\n", i);
    json_t *rows = parse_ok(text, n);
    assert_int_equal(json_array_size(rows), 10000);
    expect_json(json_array_get(rows, 9999), "{\"fields\":{\"code\":\"C09999\"},\"line\":10001}");
    json_decref(rows);
    n += (size_t)snprintf(text + n, cap - n, "C10000\n");
    parse_err(text, n, "more than 10000 rows: split the file");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_every_column_typed),
        cmocka_unit_test(test_csv_numbers_only_in_numeric_columns),
        cmocka_unit_test(test_csv_quoted_fields),
        cmocka_unit_test(test_csv_crlf_bom_blank_lines),
        cmocka_unit_test(test_csv_header_errors),
        cmocka_unit_test(test_csv_record_errors_name_the_line),
        cmocka_unit_test(test_csv_row_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
