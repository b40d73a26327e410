#!/bin/bash
# Builds the libFuzzer harnesses in tests/fuzz/ with clang (not meson) into
# var/fuzz/ and runs each for SECONDS_EACH seconds (default 60) on a copy of
# its seed corpus. Exits non-zero when a harness fails to build or any run
# finds a crash, leak, timeout or sanitizer report; the reproducer is left in
# var/fuzz/<name>/ (crash-*, leak-*, timeout-*, oom-*).
#
#   bash tests/fuzz/run.sh [SECONDS_EACH] [NAME...]
#
# The http harness talks to a real camledger-server: this script starts the
# sanitizer build (build-san/, set up when missing) on a database of its own,
# cl_fuzz, in the PostgreSQL the libpq environment points at, or in a private
# cluster under var/fuzz-pg when none answers. Afterwards the server must
# stop cleanly with no sanitizer report and the audit chain must verify.
#
# Environment: CC (default clang), FUZZ_FLAGS extra libFuzzer flags.
set -eu

secs=${1:-60}
case $secs in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS_EACH] [NAME...]" >&2; exit 2 ;;
esac
[ $# -gt 0 ] && shift
names=${*:-layout rfc3339 kfindex csv uri range http}

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cc=${CC:-clang}
out=var/fuzz
mkdir -p "$out"

cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -D_GNU_SOURCE -std=gnu11 -Wall -Wextra -Werror -Icommon -Iserver"
server_src="server/uri.c server/range.c server/routes.c server/http.c server/pg.c server/csv.c
            server/download.c server/metrics.c common/log.c common/timefmt.c"
server_pkgs="libh2o libuv openssl libpq jansson libavutil"

build() {
    name=$1; shift
    echo "fuzz: building $name" >&2
    # shellcheck disable=SC2086
    "$cc" $cflags -o "$out/fuzz_$name" "tests/fuzz/fuzz_$name.c" "$@"
}

build_one() {
    case $1 in
    layout) build layout common/layout.c common/timefmt.c -lpthread ;;
    rfc3339) build rfc3339 common/timefmt.c -lpthread ;;
    kfindex) build kfindex common/kfindex.c ;;
    range) build range server/range.c ;;
    # server.h pulls in h2o.h, uv.h and libpq-fe.h: their headers are needed
    # to compile csv.c, but it only calls jansson and libm.
    csv) build csv server/csv.c $(pkg-config --cflags $server_pkgs) \
             $(pkg-config --libs jansson) -lm ;;
    # shellcheck disable=SC2086
    uri|http) build "$1" $server_src $(pkg-config --cflags --libs $server_pkgs) -lm -lpthread ;;
    *) echo "fuzz: no harness $1" >&2; return 1 ;;
    esac
}

# ------------------------------------------------------------ the http harness's server
pgdir= server_pid= http_env=
http_stop() {
    set +e
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid"
        server_rc=$?
        server_pid=
    fi
    [ -n "$pgdir" ] && bash scripts/pg.sh stop "$pgdir" >/dev/null 2>&1
    pgdir=
    set -e
}
trap http_stop EXIT

http_start() {
    local work=$out/http
    mkdir -p "$work"
    if [ ! -x build-san/server/camledger-server ]; then
        [ -f build-san/build.ninja ] ||
            meson setup build-san -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
        ninja -C build-san >/dev/null
    fi
    if ! psql -XAtq -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
        pgdir=$root/var/fuzz-pg
        eval "$(CL_PG_FSYNC=off CL_PGPORT=${CL_PGPORT:-5497} bash scripts/pg.sh start "$pgdir")"
    fi
    dropdb --if-exists --force cl_fuzz >/dev/null 2>&1
    createdb cl_fuzz
    local admin=build-san/server/camledger-admin db="dbname=cl_fuzz"
    $admin --db "$db" migrate >"$work/setup.log" 2>&1
    $admin --db "$db" station add --code BT --name 'Công an phường Bến Thành' >>"$work/setup.log"
    $admin --db "$db" station add --code HK --name 'Công an phường Hàng Khay' >>"$work/setup.log"
    CL_FUZZ_TOKEN_ADM=$($admin --db "$db" user add --name fz-admin --role admin --station BT | tail -n 1)
    CL_FUZZ_TOKEN_INV=$($admin --db "$db" user add --name fz-inv --role investigator --station BT | tail -n 1)
    CL_FUZZ_TOKEN_AUD=$($admin --db "$db" user add --name fz-aud --role auditor | tail -n 1)
    # The server runs as it would in production, a login in camledger_server:
    # a statement its grants refuse answers 500, which the harness reports.
    PGDATABASE=cl_fuzz bash scripts/pg.sh login cl_fuzz_server camledger_server
    CL_FUZZ_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    export CL_FUZZ_TOKEN_ADM CL_FUZZ_TOKEN_INV CL_FUZZ_TOKEN_AUD CL_FUZZ_PORT
    ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$root/tests/lsan.supp \
        build-san/server/camledger-server --db "$db user=cl_fuzz_server" --listen "127.0.0.1:$CL_FUZZ_PORT" \
        --threads 2 >"$work/server.log" 2>&1 &
    server_pid=$!
    local base=http://127.0.0.1:$CL_FUZZ_PORT
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && break
        sleep 0.1
    done
    # Something for the routes to find: a camera, a case and a request.
    curl -fsS -o /dev/null -H "Authorization: Bearer $CL_FUZZ_TOKEN_ADM" -H 'Content-Type: application/json' \
        -d '{"code":"BT-001","name":"Chợ Bến Thành","station":"BT","owner_kind":"police"}' "$base/v1/cameras"
    curl -fsS -o /dev/null -H "Authorization: Bearer $CL_FUZZ_TOKEN_INV" -H 'Content-Type: application/json' \
        -d '{"number":"VV-2026/001","title":"Trộm xe máy","station":"BT"}' "$base/v1/cases"
    curl -fsS -o /dev/null -H "Authorization: Bearer $CL_FUZZ_TOKEN_INV" -H 'Content-Type: application/json' \
        -d '{"case":"VV-2026/001","camera":"BT-001","from":"2026-11-21T14:40:00Z","to":"2026-11-21T14:41:00Z","reason":"Xác minh"}' \
        "$base/v1/requests"
    http_env=$base
}

# After the http harness: the audit chain verifies, the server stops with
# status 0 and its log has no sanitizer report.
http_check() {
    local work=$out/http ok=1
    local verify
    verify=$(psql -XAtq -d cl_fuzz -c "SELECT body->>'ok' FROM cl_api_audit_verify()")
    [ "$verify" = true ] || { echo "fuzz: http: the audit chain does not verify" >&2; ok=0; }
    server_rc=0
    http_stop
    [ "$server_rc" = 0 ] || { echo "fuzz: http: camledger-server exited with $server_rc" >&2; ok=0; }
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$work/server.log"; then
        echo "fuzz: http: sanitizer report in $work/server.log" >&2
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$work/server.log" >&2 || true
        ok=0
    fi
    [ "$ok" = 1 ]
}

status=0 ok=0 bad=0
for name in $names; do
    if ! build_one "$name"; then
        status=1 bad=$((bad + 1))
        continue
    fi
    work="$out/$name"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp tests/fuzz/corpus/"$name"/* "$work/corpus/"
    if [ "$name" = http ]; then http_start; fi
    echo "fuzz: running $name for ${secs}s" >&2
    # shellcheck disable=SC2086
    if ! "$out/fuzz_$name" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
            -artifact_prefix="$work/" -print_final_stats=1 ${FUZZ_FLAGS:-} \
            "$work/corpus" >"$work/log" 2>&1 || { [ "$name" = http ] && ! http_check; }; then
        echo "fuzz: $name FAILED; see $work/log" >&2
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|fuzz_|artifact_prefix|Test unit written)' \
            "$work/log" >&2 || tail -n 20 "$work/log" >&2
        status=1 bad=$((bad + 1))
    else
        ok=$((ok + 1))
        grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' \
            "$work/log" >&2 || true
    fi
    if [ "$name" = http ]; then http_stop; fi
done
echo "fuzz: $ok harnesses clean, $bad failed" >&2
exit $status
