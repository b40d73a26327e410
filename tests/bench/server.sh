#!/usr/bin/env bash
# Server benchmark: camledger-server under wrk against pgbench running the
# same SQL straight on the database, side by side in one invocation, then the
# server's memory (VmRSS every second) over a longer wrk run.
#
#   bash tests/bench/server.sh [SECS] [MEM_SECS]    (defaults 20 and 60)
#
# SECS is the length of each measured run; CL_BENCH_ROUNDS (2) runs of each
# side are made, alternating, and averaged. MEM_SECS is the memory run.
# Environment: CL_BENCH_CONNS (64), CL_BENCH_THREADS (server --threads, 2),
# CL_BENCH_POOL (server --pool, empty: the server's default), CL_BENCH_CAMERAS
# (synthetic cameras with 24 h of one-minute recordings each, 50),
# CL_BENCH_HTTP_PORT (18497), CL_PGPORT (5497).
#
# Figures are ratios measured side by side: the machine is shared and noisy,
# and wrk, the server and PostgreSQL share its cores, as pgbench and
# PostgreSQL do in the reference runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
secs=${1:-20}
mem_secs=${2:-60}
rounds=${CL_BENCH_ROUNDS:-2}
conns=${CL_BENCH_CONNS:-64}
threads=${CL_BENCH_THREADS:-2}
pool=${CL_BENCH_POOL:-}
ncam=${CL_BENCH_CAMERAS:-50}
http_port=${CL_BENCH_HTTP_PORT:-18497}
export CL_PGPORT=${CL_PGPORT:-5497}

bash scripts/deps.sh
if ! command -v wrk >/dev/null; then
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
indexer=$top/build/indexer/camledger-indexer
admin=$top/build/server/camledger-admin
server=$top/build/server/camledger-server

work=$top/var/bench-srv
mkdir -p "$work"
pgdir=$top/var/bench-srv-pg
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    bash scripts/pg.sh stop "$pgdir"
}
eval "$(bash scripts/pg.sh start "$pgdir")"
trap cleanup EXIT
dropdb --if-exists --force cl_bench_srv >/dev/null 2>&1 || true
createdb cl_bench_srv
export PGDATABASE=cl_bench_srv
$admin --db "" migrate >/dev/null

# ------------------------------------------------------------ the data
$admin --db "" station add --code BENCH --name 'Công an phường Bến Thành' >/dev/null
admin_token=$($admin --db "" user add --name bench-admin --role admin --station BENCH | tail -n 1)
inv_token=$($admin --db "" user add --name bench-investigator --role investigator \
    --station BENCH | tail -n 1)
inv_id=$(psql -XAtq -c "SELECT id FROM users WHERE name = 'bench-investigator'")

base=http://127.0.0.1:$http_port
# The server listens with SO_REUSEPORT: a leftover listener on the port would
# silently take a share of the connections.
if [ -n "$(ss -Hltn "sport = :$http_port")" ]; then
    echo "port $http_port is in use; set CL_BENCH_HTTP_PORT" >&2
    exit 1
fi
start_server() {
    "$server" --db "" --listen "127.0.0.1:$http_port" --threads "$threads" \
        ${pool:+--pool "$pool"} 2>>"$work/server.log" &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && return 0
        kill -0 "$server_pid" 2>/dev/null || { tail "$work/server.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "camledger-server did not answer /healthz" >&2
    exit 1
}
: >"$work/server.log"
start_server

api() {  # api METHOD PATH TOKEN [BODY]: prints the body; fails on a non-2xx answer
    curl -fsS -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
        ${4:+--data-binary "$4"} "$base$2"
}

# A camera with real recordings: three 60 s 320x240 H.264 files, indexed.
api POST /v1/cameras "$admin_token" '{"code": "bench-real", "name": "Ngã tư Bến Thành",
    "station": "BENCH", "owner_kind": "police", "retention_days": 30,
    "lat": 10.7725, "lon": 106.698}' >/dev/null
rec=$work/recordings
src=$work/src
mkdir -p "$src"
if [ ! -s "$src/minute.mp4" ]; then
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -t 60 \
        -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p -y "$src/tmp.mp4"
    mv "$src/tmp.mp4" "$src/minute.mp4"
fi
rm -rf "$rec"
mkdir -p "$rec/bench-real/2026-11-20"
for t in 10-00-00 10-01-00 10-03-00; do
    cp "$src/minute.mp4" "$rec/bench-real/2026-11-20/$t.mp4"
done
"$indexer" --db "" --root "$rec" --layout '{camera}/%Y-%m-%d/%H-%M-%S' --tz UTC --once \
    --stable-secs 0 >/dev/null
real=$(api GET '/v1/cameras/bench-real/footage?from=2026-11-20T10:00:00Z&to=2026-11-20T10:05:00Z' \
    "$inv_token")
[ "$(jq '.segments | length' <<<"$real")" = 3 ] ||
    { echo "footage of the indexed camera is not 3 segments: $real" >&2; exit 1; }

# Synthetic cameras: 24 h of one-minute recordings each, a keyframe every 2 s
# (30 per recording, the compact index '\x00d00fd00f...'), with a missing
# minute now and then, some corrupt and some deleted by retention, so the
# footage query builds segments and every kind of gap.
psql -Xq -v ON_ERROR_STOP=1 -v ncam="$ncam" <<'SQL'
INSERT INTO cameras (code, name, station_id, owner_kind, retention_days, registered)
SELECT 'bench-cam-' || c, 'Bench camera ' || c, (SELECT id FROM stations WHERE code = 'BENCH'),
       'household', 30, true
  FROM generate_series(1, :ncam) c;
INSERT INTO recordings (camera_id, path, size, mtime, status, deleted_at, container, codec,
                        width, height, fps, has_audio, start_time, end_time, time_source,
                        keyframe_count, keyframes)
SELECT cam.id, cam.code || '/2026-11-20/' || to_char(t AT TIME ZONE 'UTC', 'HH24-MI-SS') || '.mp4',
       7500000, t + interval '1 minute', s.status,
       CASE WHEN s.status = 'deleted' THEN t + interval '30 days' END,
       'mp4', 'h264', 1920, 1080, 25, false,
       t, t + interval '1 minute', 'name',
       CASE WHEN s.status = 'corrupt' THEN 0 ELSE 30 END,
       CASE WHEN s.status = 'corrupt' THEN NULL
            ELSE decode('00' || repeat('d00f', 29), 'hex') END
  FROM cameras cam,
       generate_series(0, 1439) m,
       LATERAL (SELECT timestamptz '2026-11-20 00:00:00+00' + m * interval '1 minute' AS t) tt,
       LATERAL (SELECT CASE WHEN (m + cam.id) % 43 = 0 THEN 'corrupt'
                            WHEN (m + cam.id) % 37 < 2 THEN 'deleted'
                            ELSE 'ok' END AS status) s
 WHERE cam.code LIKE 'bench-cam-%' AND (m + 3 * cam.id) % 29 <> 0;
ANALYZE;
SQL
nrec=$(psql -XAtq -c "SELECT count(*) FROM recordings")

api POST /v1/cases "$inv_token" '{"number": "BENCH-2026-001",
    "title": "Trộm xe máy trước chợ Bến Thành", "station": "BENCH"}' >/dev/null

# Four windows of one hour, on four cameras, starting 30 s into a good
# recording (so first_keyframe decodes an index); wrk picks one at random per
# request, pgbench one of four scripts.
nwin=4
win_code=() win_from=() win_to=()
for i in $(seq 0 $((nwin - 1))); do
    code=bench-cam-$((1 + (7 * i) % ncam))
    from=$(psql -XAtq -v code="$code" -v after="2026-11-20 $((3 + 5 * i)):40:00+00" <<'SQL'
SELECT to_char(min(r.start_time) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI')
  FROM recordings r JOIN cameras c ON c.id = r.camera_id
 WHERE c.code = :'code' AND r.status = 'ok' AND r.start_time >= :'after'
SQL
)
    win_code+=("$code")
    win_from+=("$from:30Z")
    win_to+=("$(date -u -d "$from:30Z + 1 hour" +%Y-%m-%dT%H:%M:%SZ)")
done
body_of() {  # body_of I: the JSON of a POST /v1/requests for window I
    printf '{"case":"BENCH-2026-001","camera":"%s","from":"%s","to":"%s","reason":"bench"}' \
        "${win_code[$1]}" "${win_from[$1]}" "${win_to[$1]}"
}
check=$(api GET "/v1/cameras/${win_code[0]}/footage?from=${win_from[0]}&to=${win_to[0]}" \
    "$inv_token")
nseg=$(jq '.segments | length' <<<"$check")
ngap=$(jq '.gaps | length' <<<"$check")
if [ "$nseg" -le 50 ] || [ "$ngap" = 0 ] || [ "$(jq -r .first_keyframe <<<"$check")" = null ]; then
    echo "unexpected footage answer: $check" >&2
    exit 1
fi
api POST /v1/requests "$inv_token" "$(body_of 0)" | jq -e '.status == "pending"' >/dev/null

# ------------------------------------------------------------ the load
{
    echo 'local paths = {'
    for i in $(seq 0 $((nwin - 1))); do
        echo "  \"/v1/cameras/${win_code[$i]}/footage?from=${win_from[$i]}&to=${win_to[$i]}\","
    done
    echo '}'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $inv_token\""
    echo 'request = function() return wrk.format("GET", paths[math.random(#paths)]) end'
} >"$work/footage.lua"
{
    echo 'local bodies = {'
    for i in $(seq 0 $((nwin - 1))); do
        echo "  '$(body_of "$i")',"
    done
    echo '}'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $inv_token\""
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo 'request = function()'
    echo '  return wrk.format("POST", "/v1/requests", nil, bodies[math.random(#bodies)])'
    echo 'end'
} >"$work/request.lua"
# The memory run: both routes, alternating at random.
{
    echo 'local paths = {'
    for i in $(seq 0 $((nwin - 1))); do
        echo "  \"/v1/cameras/${win_code[$i]}/footage?from=${win_from[$i]}&to=${win_to[$i]}\","
    done
    echo '}'
    echo 'local bodies = {'
    for i in $(seq 0 $((nwin - 1))); do
        echo "  '$(body_of "$i")',"
    done
    echo '}'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $inv_token\""
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo 'request = function()'
    echo '  if math.random(2) == 1 then return wrk.format("GET", paths[math.random(#paths)]) end'
    echo '  return wrk.format("POST", "/v1/requests", nil, bodies[math.random(#bodies)])'
    echo 'end'
} >"$work/mixed.lua"

# The same SQL the server sends (routes.c), with pgbench variables.
pg_defs=(-D "uid=$inv_id")
foot_scripts=() req_scripts=()
for i in $(seq 0 $((nwin - 1))); do
    pg_defs+=(-D "code$i=${win_code[$i]}" -D "from$i=${win_from[$i]}" -D "to$i=${win_to[$i]}"
              -D "body$i=$(body_of "$i")")
    echo "SELECT * FROM cl_api_footage(:code$i, :from$i, :to$i, 86400);" >"$work/footage$i.sql"
    echo "SELECT * FROM cl_api_request_create(:uid, :body$i::jsonb, NULL, 86400);" \
        >"$work/request$i.sql"
    foot_scripts+=(-f "$work/footage$i.sql")
    req_scripts+=(-f "$work/request$i.sql")
done

to_ms() {  # wrk's 1.23ms / 456.78us / 1.02s to milliseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000;
        else if (v ~ /s$/) n *= 1000
        printf "%.2f", n }'
}
run_wrk() {  # run_wrk SCRIPT SECS: sets rps, p50, p99, errors
    local out
    out=$(wrk -t 2 -c "$conns" -d "${2}s" --timeout 10s --latency -s "$1" "$base" 2>&1)
    echo "$out" >>"$work/wrk.log"
    rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    errors=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$out")
    local sock
    sock=$(sed -n 's/^ *Socket errors: *\(.*\)/\1/p' <<<"$out")
    errors=${errors:-0}
    [ -z "$sock" ] || echo "wrk: socket errors: $sock" >&2
    [ -n "$rps" ] || { echo "$out" >&2; exit 1; }
}
run_pgbench() {  # run_pgbench SECS SCRIPT...: sets tps, lat
    local s=$1 out
    shift
    out=$(pgbench -n -M prepared -c "$conns" -j 2 -T "$s" "${pg_defs[@]}" "$@" 2>&1)
    echo "$out" >>"$work/pgbench.log"
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$tps" ] || { echo "$out" >&2; exit 1; }
    [ "${failed:-0}" = 0 ] || echo "pgbench: $failed failed transactions" >&2
}
: >"$work/wrk.log"
: >"$work/pgbench.log"

rows=()
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (a > b ? a : b) }'; }
bench() {  # bench NAME WRK_SCRIPT PGBENCH_SCRIPTS...
    local name=$1 lua=$2 r
    local s_rps=0 s_p50=0 s_p99=0 s_err=0 p_tps=0 p_lat=0
    shift 2
    run_wrk "$lua" 3                        # warm-up: plans cached, pools full
    run_pgbench 3 "$@"
    # Rounds in the order server, pgbench, pgbench, server, ...: the load
    # other tenants put on the machine drifts, and both sides see it alike.
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then run_wrk "$lua" "$secs"; run_pgbench "$secs" "$@"
        else run_pgbench "$secs" "$@"; run_wrk "$lua" "$secs"; fi
        s_rps=$(add "$s_rps" "$rps") s_p50=$(add "$s_p50" "$p50") s_p99=$(max "$s_p99" "$p99")
        s_err=$((s_err + errors)) p_tps=$(add "$p_tps" "$tps") p_lat=$(add "$p_lat" "$lat")
    done
    rows+=("$(awk -v n="$rounds" -v name="$name" -v s="$s_rps" -v p="$p_tps" -v p50="$s_p50" \
        -v p99="$s_p99" -v lat="$p_lat" -v err="$s_err" 'BEGIN {
        printf "%-16s %10.0f %10.0f %7.0f%% %9.1f %9.1f %9.1f %7d", name, s / n, p / n,
            100 * s / p, p50 / n, p99, lat / n, err }')")
}
bench "GET footage" "$work/footage.lua" "${foot_scripts[@]}"
bench "POST requests" "$work/request.lua" "${req_scripts[@]}"

# ------------------------------------------------------------ memory
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$server_pid/status"; }
: >"$work/rss.txt"
wrk -t 2 -c "$conns" -d "${mem_secs}s" --timeout 10s -s "$work/mixed.lua" "$base" \
    >"$work/wrk-mem.log" 2>&1 &
wrk_pid=$!
t=0
while kill -0 "$wrk_pid" 2>/dev/null; do
    echo "$t $(rss_kb)" >>"$work/rss.txt"
    sleep 1
    t=$((t + 1))
done
wait "$wrk_pid"
mem_rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$work/wrk-mem.log")
mem_err=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$work/wrk-mem.log")
mem=$(awk '{ n++; x = $1; y = $2; sx += x; sy += y; sxx += x * x; sxy += x * y
             if (n == 1) first = y; last = y; if (y > max) max = y }
           END { d = n * sxx - sx * sx; slope = d > 0 ? (n * sxy - sx * sy) / d * 60 : 0
                 printf "%d %d %d %.0f %d", first, last, max, slope, n }' "$work/rss.txt")
read -r rss_start rss_end rss_max slope nsamples <<<"$mem"
# Flat: the fitted trend stays under 256 KB a minute (a leak of 100 bytes a
# request shows as megabytes a minute at these rates). Runs under 30 s are
# too short to tell a trend from the allocator settling.
flat=$(awk -v s="$slope" -v t="$mem_secs" 'BEGIN {
    print t < 30 ? "run too short to judge" : (s < 256 && s > -256) ? "yes" : "no" }')

# ------------------------------------------------------------ report
echo
echo "camledger-server --threads $threads${pool:+ --pool $pool} vs pgbench -M prepared -j 2," \
    "$conns connections, $rounds x $secs s each"
echo "data: $nrec recordings ($ncam cameras x 24 h of 1-minute files + 3 indexed), 1-hour windows ($nseg segments, $ngap gaps)"
printf '%-16s %10s %10s %8s %9s %9s %9s %7s\n' route "server r/s" "pgbench" ratio \
    "p50 ms" "p99 ms" "pg avg ms" non-2xx
printf '%s\n' "${rows[@]}"
echo "(r/s and tps: mean of the rounds; p50: mean; p99: the worst round; logs in $work)"
echo
printf 'memory (VmRSS, %d samples over %d s of mixed load at %.0f req/s, non-2xx %s):\n' \
    "$nsamples" "$mem_secs" "$mem_rps" "${mem_err:-0}"
printf '  start %.1f MB, end %.1f MB, max %.1f MB, slope %s KB/min, flat: %s\n' \
    "$(awk -v k="$rss_start" 'BEGIN { print k / 1024 }')" \
    "$(awk -v k="$rss_end" 'BEGIN { print k / 1024 }')" \
    "$(awk -v k="$rss_max" 'BEGIN { print k / 1024 }')" "$slope" "$flat"
