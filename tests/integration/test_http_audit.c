/* camledger-server end to end, the audit: extraction counts against the
 * tally of the tests before, the hash-chained log, and the metrics. Part of
 * itest_http_api (test_http_api.c), run last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_fixture.h"

/* ------------------------------------------------------------ audit */

typedef struct group {
    char key[160];
    int requests, approved, rejected;
    double secs;
    char cameras[64][160];
    int n_cameras;
} group_t;

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const group_t *)a)->key, ((const group_t *)b)->key);
}

/* The tally grouped by by; returns the count; *total gets the totals. */
static size_t tally_groups(const char *by, group_t *g, group_t *total)
{
    size_t n = 0;
    memset(total, 0, sizeof(*total));
    for (size_t i = 0; i < cl_fx_n_tallies + 0; i++) {
        const cl_fx_tally_t *t = &cl_fx_tallies[i];
        for (int pass = 0; pass < 2; pass++) {
            group_t *x = NULL;
            if (pass == 0) {
                const char *key = strcmp(by, "case") == 0 ? t->case_number : strcmp(by, "station") == 0
                                  ? t->station : strcmp(by, "camera") == 0 ? t->camera : t->month;
                for (size_t k = 0; k < n && !x; k++)
                    if (strcmp(g[k].key, key) == 0)
                        x = &g[k];
                if (!x) {
                    x = &g[n++];
                    memset(x, 0, sizeof(*x));
                    snprintf(x->key, sizeof(x->key), "%s", key);
                }
            } else {
                x = total;
            }
            x->requests++;
            x->approved += t->approved;
            x->rejected += t->rejected;
            x->secs += t->approved ? t->secs : 0;
            int seen = 0;
            for (int c = 0; c < x->n_cameras; c++)
                seen |= strcmp(x->cameras[c], t->camera) == 0;
            if (!seen)
                snprintf(x->cameras[x->n_cameras++], sizeof(x->cameras[0]), "%s", t->camera);
        }
    }
    qsort(g, n, sizeof(*g), cmp_group);
    return n;
}

static void expect_counts(json_t *row, const group_t *g)
{
    cl_fx_expect_keys(row, "key,requests,approved,rejected,fulfilled,footage_seconds,cameras");
    expect_str(row, "key", g->key);
    expect_int(row, "requests", g->requests);
    expect_int(row, "approved", g->approved);
    expect_int(row, "rejected", g->rejected);
    expect_int(row, "fulfilled", 0);
    expect_num(row, "footage_seconds", g->secs);
    expect_int(row, "cameras", g->n_cameras);
}

static void csv_key(char *out, size_t n, const char *key)
{
    size_t o = 0;
    if (!strpbrk(key, ",\"\r\n")) {
        for (const char *p = key; *p && o + 1 < n; p++)
            out[o++] = *p;
        out[o] = '\0';
        return;
    }
    out[o++] = '"';
    for (const char *p = key; *p && o + 3 < n; p++) {
        if (*p == '"')
            out[o++] = '"';
        out[o++] = *p;
    }
    out[o++] = '"';
    out[o] = '\0';
}

void test_http_audit_extractions(void **state)
{
    (void)state;
    static group_t g[128];
    group_t total;
    static const char *const bys[] = {"case", "station", "camera", "month"};
    for (size_t b = 0; b < 4; b++) {
        size_t n = tally_groups(bys[b], g, &total);
        json_t *j = cl_fx_api(200, "GET", cl_fx_fmt("/v1/audit/extractions?group_by=%s", bys[b]), b % 2 ? ADM1 : AUD, NULL);
        cl_fx_expect_keys(j, "group_by,from,to,rows,totals");
        expect_str(j, "group_by", bys[b]);
        expect_null(j, "from");
        expect_null(j, "to");
        json_t *rows = cl_fx_field(j, "rows");
        if (json_array_size(rows) != n)
            fail_msg("group_by=%s: expected %zu rows, got %s", bys[b], n, cl_fx_dump(json_incref(rows)));
        for (size_t i = 0; i < n; i++)
            expect_counts(json_array_get(rows, i), &g[i]);
        json_t *t = cl_fx_field(j, "totals");
        cl_fx_expect_keys(t, "requests,approved,rejected,fulfilled,footage_seconds,cameras");
        expect_int(t, "requests", total.requests);
        expect_int(t, "approved", total.approved);
        expect_int(t, "rejected", total.rejected);
        expect_num(t, "footage_seconds", total.secs);
        expect_int(t, "cameras", total.n_cameras);

        /* The same as CSV. */
        cl_fx_answer_t a = cl_fx_ask("GET", cl_fx_fmt("/v1/audit/extractions?group_by=%s", bys[b]), AUD, "Accept: text/csv\r\n",
                         NULL, 0);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.ctype, "text/csv; charset=utf-8");
        size_t cap = 64 + (n + 1) * 256, used = 0;
        char *want = cl_fx_keep(malloc(cap));
        used += (size_t)snprintf(want, cap, "key,requests,approved,rejected,fulfilled,footage_seconds,cameras\r\n");
        for (size_t i = 0; i <= n; i++) {
            const group_t *x = i < n ? &g[i] : &total;
            char key[400];
            csv_key(key, sizeof(key), i < n ? x->key : "total");
            used += (size_t)snprintf(want + used, cap - used, "%s,%d,%d,%d,0,%.3f,%d\r\n", key, x->requests,
                                     x->approved, x->rejected, x->secs, x->n_cameras);
        }
        assert_string_equal(a.body, want);
    }
    /* The tally is what it should be: the life cycle's approvals among it. */
    tally_groups("case", g, &total);
    assert_int_equal(total.requests, (int)cl_fx_n_tallies);
    assert_true(total.approved >= 5 && total.rejected >= 2);
    assert_non_null(strstr(cl_fx_dump(json_incref(cl_fx_api(200, "GET", "/v1/audit/extractions?group_by=case", AUD, NULL))),
                           "\"key\":\"HK-2026/002, \\\"Cướp\\\"\""));

    /* A window of creation times: the future holds nothing. */
    json_t *j = cl_fx_api(200, "GET", "/v1/audit/extractions?group_by=camera&from=2099-01-01T00:00:00Z", AUD, NULL);
    assert_int_equal(json_array_size(cl_fx_field(j, "rows")), 0);
    expect_int(cl_fx_field(j, "totals"), "requests", 0);
    expect_num(cl_fx_field(j, "totals"), "footage_seconds", 0);
    expect_str(j, "from", "2099-01-01T00:00:00.000Z");
    j = cl_fx_api(200, "GET", "/v1/audit/extractions?group_by=camera&from=2000-01-01T00:00:00%2B07:00&to=2099-01-01T00:00:00Z",
            AUD, NULL);
    expect_int(cl_fx_field(j, "totals"), "requests", (long long)cl_fx_n_tallies);
    expect_str(j, "from", "1999-12-31T17:00:00.000Z");
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/audit/extractions", AUD, NULL);
    cl_fx_api_err(400, "invalid_parameter", "GET", "/v1/audit/extractions?group_by=year", AUD, NULL);
    cl_fx_api_err(400, "invalid_window", "GET",
            "/v1/audit/extractions?group_by=case&from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z", AUD, NULL);
    cl_fx_api_err(400, "invalid_time", "GET", "/v1/audit/extractions?group_by=case&from=2026-02-30T00:00:00Z", AUD, NULL);
    cl_fx_answer_t a = cl_fx_ask("GET", "/v1/audit/extractions?group_by=year", AUD, "Accept: text/csv\r\n", NULL, 0);
    assert_int_equal(a.status, 400);
}

void test_http_audit_log_and_chain(void **state)
{
    (void)state;
    json_t *v = cl_fx_api(200, "GET", "/v1/audit/verify", AUD, NULL);
    cl_fx_expect_keys(v, "ok,entries");
    expect_bool(v, "ok", 1);
    expect_int(v, "entries", cl_fx_audit_n);

    /* The whole log, page by page: a chain from zeros, ids rising. */
    json_t *all = cl_fx_keepj(json_array());
    long long after = 0;
    for (;;) {
        json_t *page = cl_fx_api(200, "GET", cl_fx_fmt("/v1/audit/log?after=%lld&limit=1000", after), ADM1, NULL);
        cl_fx_expect_keys(page, "entries,next_after");
        json_t *entries = cl_fx_field(page, "entries");
        if (json_array_size(entries) == 0) {
            expect_null(page, "next_after");
            break;
        }
        json_array_extend(all, entries);
        after = cl_fx_num_i(page, "next_after");
    }
    assert_int_equal(json_array_size(all), cl_fx_audit_n);
    const char *prev = "0000000000000000000000000000000000000000000000000000000000000000";
    long long last_id = 0;
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        cl_fx_expect_keys(e, "id,at,actor,action,object_type,object_id,data,prev_hash,hash");
        assert_true(cl_fx_num_i(e, "id") > last_id);
        last_id = cl_fx_num_i(e, "id");
        cl_fx_expect_time_format(cl_fx_str(e, "at"));
        expect_str(e, "prev_hash", prev);
        assert_int_equal(strlen(cl_fx_str(e, "hash")), 64);
        prev = cl_fx_str(e, "hash");
    }
    json_t *small = cl_fx_api(200, "GET", "/v1/audit/log?limit=2", AUD, NULL);
    assert_int_equal(json_array_size(cl_fx_field(small, "entries")), 2);
    expect_int(small, "next_after", cl_fx_num_i(json_array_get(all, 1), "id"));
    assert_true(json_equal(json_array_get(cl_fx_field(small, "entries"), 1), json_array_get(all, 1)));

    /* Who did what: the first entry registered BT-001; the case opened by
     * the investigator; every request decision is there. */
    json_t *first = json_array_get(all, 0);
    expect_str(first, "action", "camera.registered");
    expect_str(first, "object_type", "camera");
    expect_str(first, "object_id", "BT-001");
    expect_str(first, "actor", cl_fx_users[3].name);
    expect_str(cl_fx_field(first, "data"), "source", "api");
    int opened = 0, approved = 0, rejected = 0, created = 0, csv = 0;
    json_array_foreach(all, i, e) {
        const char *action = cl_fx_str(e, "action");
        if (strcmp(action, "case.opened") == 0 && strcmp(cl_fx_str(e, "object_id"), "VV-2026/001") == 0) {
            opened++;
            expect_str(e, "actor", cl_fx_users[0].name);
            expect_str(cl_fx_field(e, "data"), "title", "Cướp giật tại ngã tư Nguyễn Thị Minh Khai");
        }
        approved += strcmp(action, "request.approved") == 0;
        rejected += strcmp(action, "request.rejected") == 0;
        created += strcmp(action, "request.created") == 0;
        csv += strcmp(action, "camera.registered") == 0 && strcmp(cl_fx_str(cl_fx_field(e, "data"), "source"), "csv") == 0;
    }
    group_t *g = cl_fx_keep(calloc(128, sizeof(group_t))), total;
    tally_groups("case", g, &total);
    assert_int_equal(opened, 1);
    assert_int_equal(created, (int)cl_fx_n_tallies);
    assert_int_equal(approved, total.approved);
    assert_int_equal(rejected, total.rejected);
    assert_int_equal(csv, 3);
    json_t *rej = NULL;
    json_array_foreach(all, i, e)
        if (strcmp(cl_fx_str(e, "action"), "request.rejected") == 0 && !rej)
            rej = e;
    expect_str(cl_fx_field(rej, "data"), "reason", "Không đủ căn cứ: cần lệnh của thủ trưởng");
    expect_str(cl_fx_field(rej, "data"), "case", "VV-2026/001");

    /* The database refuses changes to the log. */
    static const char *const refused[] = {
        "UPDATE audit_log SET actor = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1",
        "TRUNCATE audit_log",
    };
    for (size_t k = 0; k < 3; k++) {
        PGresult *r = PQexec(cl_fx_conn, refused[k]);
        assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
        assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
        assert_non_null(strstr(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), "append-only"));
        PQclear(r);
    }
    v = cl_fx_api(200, "GET", "/v1/audit/verify", AUD, NULL);
    expect_bool(v, "ok", 1);

    /* A superuser goes around the trigger: verify names the entry. */
    long long victim = cl_fx_num_i(json_array_get(all, cl_fx_audit_n / 2), "id");
    char *vid = cl_fx_fmt("%lld", victim);
    char *saved = cl_t_query1(cl_fx_conn, "SELECT data::text FROM audit_log WHERE id = $1", vid, NULL);
    cl_t_exec(cl_fx_conn, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
    PQclear(cl_t_query(cl_fx_conn, "UPDATE audit_log SET data = data || '{\"forged\": true}' WHERE id = $1", vid, NULL));
    cl_t_exec(cl_fx_conn, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update");
    v = cl_fx_api(200, "GET", "/v1/audit/verify", ADM1, NULL);
    cl_fx_expect_keys(v, "ok,entries,first_bad,reason");
    expect_bool(v, "ok", 0);
    expect_int(v, "entries", cl_fx_audit_n);
    expect_int(v, "first_bad", victim);
    expect_str(v, "reason", "content does not match its hash");

    /* A rewritten hash breaks the link to the next entry instead. */
    cl_t_exec(cl_fx_conn, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
    PQclear(cl_t_query(cl_fx_conn, "UPDATE audit_log SET data = $2::jsonb WHERE id = $1", vid, saved, NULL));
    PQclear(cl_t_query(cl_fx_conn, "UPDATE audit_log SET hash = sha256(hash) WHERE id = $1", vid, NULL));
    cl_t_exec(cl_fx_conn, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update");
    v = cl_fx_api(200, "GET", "/v1/audit/verify", AUD, NULL);
    expect_bool(v, "ok", 0);
    expect_int(v, "first_bad", victim);
    expect_str(v, "reason", "content does not match its hash");

    /* Put back as it was: whole again. */
    cl_t_exec(cl_fx_conn, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update");
    PQclear(cl_t_query(cl_fx_conn, "UPDATE audit_log SET hash = decode($2, 'hex') WHERE id = $1", vid,
                       cl_fx_str(json_array_get(all, cl_fx_audit_n / 2), "hash"), NULL));
    cl_t_exec(cl_fx_conn, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update");
    free(saved);
    v = cl_fx_api(200, "GET", "/v1/audit/verify", AUD, NULL);
    cl_fx_expect_keys(v, "ok,entries");
    expect_bool(v, "ok", 1);
    expect_int(v, "entries", cl_fx_audit_n);
}

/* ------------------------------------------------------------ metrics */

void test_http_metrics(void **state)
{
    (void)state;
    cl_fx_answer_t a = cl_fx_ask("GET", "/metrics", NULL, NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.ctype, "text/plain; version=0.0.4; charset=utf-8");
    static const char *const used[] = {
        "healthz\",status=\"200\"", "cameras.register\",status=\"201\"", "cameras.register\",status=\"400\"",
        "cameras.list\",status=\"200\"", "cameras.import\",status=\"201\"", "cameras.import\",status=\"415\"",
        "cameras.get\",status=\"404\"", "cameras.update\",status=\"200\"", "cameras.footage\",status=\"200\"",
        "cameras.keyframes\",status=\"200\"", "cases.create\",status=\"201\"", "cases.update\",status=\"409\"",
        "requests.create\",status=\"201\"", "requests.approve\",status=\"409\"", "requests.cancel\",status=\"403\"",
        "audit.verify\",status=\"200\"", "audit.extractions\",status=\"200\"", "audit.log\",status=\"200\"",
        "unmatched\",status=\"404\"", "unmatched\",status=\"405\"",
    };
    for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++) {
        const char *line = cl_fx_fmt("camledger_http_requests_total{route=\"%s} ", used[i]);
        if (cl_fx_metric(a.body, line) <= 0)
            fail_msg("no %s in\n%s", line, a.body);
    }
    const char *verify = "camledger_http_requests_total{route=\"audit.verify\",status=\"200\"} ";
    long long before = cl_fx_metric(a.body, verify);
    long long auth_before = cl_fx_metric(a.body, "camledger_auth_failures_total ");
    for (int i = 0; i < 3; i++)
        cl_fx_api(200, "GET", "/v1/audit/verify", AUD, NULL);
    cl_fx_api_err(401, "unauthorized", "GET", "/v1/audit/verify", BAD_TOKEN, NULL);
    a = cl_fx_ask("GET", "/metrics", NULL, NULL, NULL, 0);
    assert_int_equal(cl_fx_metric(a.body, verify), before + 3);
    assert_int_equal(cl_fx_metric(a.body, "camledger_auth_failures_total "), auth_before + 1);
    assert_int_equal(cl_fx_metric(a.body, "camledger_db_errors_total "), 0);
    assert_true(cl_fx_metric(a.body, "camledger_db_pool_connections{state=\"up\"} ") >= 1);
    assert_non_null(strstr(a.body, "camledger_http_request_duration_seconds_bucket{route=\"audit.verify\",le=\"+Inf\"}"));
}
