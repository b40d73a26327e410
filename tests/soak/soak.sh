#!/usr/bin/env bash
# Soak test: the server and the indexer under a steady mixed load for SECONDS
# while the recordings churn, PostgreSQL is restarted twice and the indexer is
# SIGKILLed twice; then the invariants are checked.
#
#   bash tests/soak/soak.sh [SECONDS]     (default 600; CI uses 120)
#
# Checks: (a) every 201 of POST /v1/requests is exactly one row (by id and by
# Idempotency-Key), and no row exists under a key never sent; (b) GET
# /v1/audit/verify says ok; (c) the live recordings equal a clean
# `camledger-indexer --once` pass on a fresh database; (d) no 5xx but 503,
# and 503 only while PostgreSQL is down (+10 s); (e) VmRSS of both daemons
# has no growth trend; (f) the database refused no statement of theirs;
# (g) no part file of a killed indexer is left in the exports.
# wrk drives the reads and the writes (request creation, approvals); the
# daemons connect as least-privilege logins (cl_soak_server, cl_soak_indexer).
# Environment: CL_PGPORT (5496), CL_SOAK_SLOPE_KB_MIN (threshold, 512),
# CL_SOAK_PG_RESTARTS and CL_SOAK_KILLS (2 each: how many PostgreSQL
# restarts and indexer SIGKILLs, spread evenly over the run).
# Everything is on loopback or Unix sockets; logs are in var/soak.
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
secs=${1:-600}
slope_max=${CL_SOAK_SLOPE_KB_MIN:-512}
pg_restarts=${CL_SOAK_PG_RESTARTS:-2}
kills=${CL_SOAK_KILLS:-2}
export CL_PGPORT=${CL_PGPORT:-5496}

[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null || exit 1
indexer=$top/build/indexer/camledger-indexer
admin=$top/build/server/camledger-admin
server=$top/build/server/camledger-server

work=$top/var/soak
pgdir=$top/var/soak-pg
rec=$work/rec
layout='{camera}/%Y-%m-%d/%H-%M-%S'
rm -rf "$work"
mkdir -p "$work" "$rec" "$work/exports"
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
now() { date +%s.%N | cut -c1-14; }

# ------------------------------------------------------------ cleanup
server_pid= indexer_pid= bg_pids=()
cleanup() {
    set +e
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$indexer_pid" ] && kill "$indexer_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    for p in "${bg_pids[@]}" $indexer_pid $server_pid; do wait "$p" 2>/dev/null; done
    bash scripts/pg.sh stop "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ database
eval "$(bash scripts/pg.sh start "$pgdir")" || exit 1
pglog_from=$(($(wc -l <"$pgdir/server.log") + 1))   # this run's part of the log
dropdb --if-exists --force cl_soak >/dev/null 2>&1
dropdb --if-exists --force cl_soak_ref >/dev/null 2>&1
createdb cl_soak && createdb cl_soak_ref || exit 1
export PGDATABASE=cl_soak
$admin --db "" migrate >"$work/migrate.log" 2>&1 || exit 1
PGDATABASE=cl_soak_ref $admin --db "" migrate >>"$work/migrate.log" 2>&1 || exit 1
$admin --db "" station add --code SOAK --name 'Công an phường Bến Nghé' >/dev/null || exit 1
admin_token=$($admin --db "" user add --name soak-admin --role admin --station SOAK | tail -n 1)
inv_token=$($admin --db "" user add --name soak-investigator --role investigator \
    --station SOAK | tail -n 1)
aud_token=$($admin --db "" user add --name soak-auditor --role auditor | tail -n 1)
inv_id=$(psql -XAtq -c "SELECT id FROM users WHERE name = 'soak-investigator'")
# The daemons run as they would in production: login roles in the
# least-privilege groups of sql/0005 and 0006, so that a write the grants
# forbid fails under load too (it would show as a 5xx or an indexer error).
bash scripts/pg.sh login cl_soak_server camledger_server || exit 1
bash scripts/pg.sh login cl_soak_indexer camledger_indexer || exit 1

# ------------------------------------------------------------ server
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$http_port
start_server() {
    "$server" --db "user=cl_soak_server" --listen "127.0.0.1:$http_port" --threads 2 2>>"$work/server.log" &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && return 0
        kill -0 "$server_pid" 2>/dev/null || { tail "$work/server.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "camledger-server did not answer /healthz" >&2
    exit 1
}
start_server
api() {  # api METHOD PATH TOKEN [BODY]
    curl -fsS -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
        ${4:+--data-binary "$4"} "$base$2"
}

# ------------------------------------------------------------ recordings
cams=(soak-cam-1 soak-cam-2 soak-cam-3 soak-cam-4)
day=2026-11-20
src=$top/var/soak-src
mkdir -p "$src"
if [ ! -s "$src/minute.mp4" ]; then
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -t 60 \
        -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p -y "$src/tmp.mp4" || exit 1
    mv "$src/tmp.mp4" "$src/minute.mp4"
fi
# Minute m of the day as a file name.
name_of() { printf '%s/%s/%02d-%02d-00.mp4' "$1" "$day" $(($2 / 60)) $(($2 % 60)); }
# Each camera starts with minutes 600..611 (10:00-10:11); the churn loop
# appends the next minute and removes the oldest.
for c in "${cams[@]}"; do
    mkdir -p "$rec/$c/$day"
    for m in $(seq 600 611); do ln "$src/minute.mp4" "$rec/$(name_of "$c" "$m")"; done
    api POST /v1/cameras "$admin_token" "{\"code\": \"$c\", \"name\": \"Soak $c\",
        \"station\": \"SOAK\", \"owner_kind\": \"police\", \"retention_days\": 30,
        \"lat\": 10.77, \"lon\": 106.70}" >/dev/null || exit 1
done
api POST /v1/cases "$inv_token" '{"number": "SOAK-2026-001",
    "title": "Soak: trộm xe máy", "station": "SOAK"}' >/dev/null || exit 1

# ------------------------------------------------------------ indexer
: >"$work/indexer.log"
# A killed indexer's claim is taken over, and its part files removed, once
# this lease has run out (the default is 300 s, longer than the CI run).
claim_secs=30
start_indexer() {
    "$indexer" --db "user=cl_soak_indexer" --root "$rec" --layout "$layout" --tz UTC --stable-secs 0 \
        --rescan-secs 5 --exports "$work/exports" --claim-secs "$claim_secs" >>"$work/indexer.log" 2>&1 &
    indexer_pid=$!
}
start_indexer
sleep 3
nrec=$(psql -XAtq -c "SELECT count(*) FROM recordings WHERE status = 'ok'")
log "indexed $nrec recordings; server on $base; running ${secs}s"

# ------------------------------------------------------------ load
t0=$(date +%s)
t_end=$((t0 + secs))
: >"$work/events.txt"         # time kind
echo "$(now) start" >>"$work/events.txt"

# wrk: GET footage and GET requests, in bounded chunks; Lua counts statuses.
cat >"$work/get.lua" <<EOF
local cams = {"soak-cam-1", "soak-cam-2", "soak-cam-3", "soak-cam-4"}
wrk.headers["Authorization"] = "Bearer $inv_token"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) s2 = 0; s4 = 0; s503 = 0; s5 = 0; sother = 0 end
request = function()
  local r = math.random(10)
  if r <= 7 then
    local m = 600 + math.random(0, 40)
    local path = string.format("/v1/cameras/%s/footage?from=$day" .. "T%02d:%02d:15Z&to=$day" .. "T%02d:%02d:15Z",
      cams[math.random(#cams)], math.floor(m / 60), m % 60, math.floor((m + 5) / 60), (m + 5) % 60)
    return wrk.format("GET", path)
  elseif r <= 9 then
    return wrk.format("GET", "/v1/requests?limit=20")
  end
  return wrk.format("GET", "/v1/cameras/" .. cams[math.random(#cams)])
end
response = function(status, headers, body)
  if status >= 200 and status < 300 then s2 = s2 + 1
  elseif status == 503 then s503 = s503 + 1
  elseif status >= 500 then s5 = s5 + 1
  elseif status >= 400 then s4 = s4 + 1
  else sother = sother + 1 end
end
done = function(summary, latency, requests)
  local t = {0, 0, 0, 0, 0}
  for _, th in ipairs(threads) do
    t[1] = t[1] + th:get("s2"); t[2] = t[2] + th:get("s4"); t[3] = t[3] + th:get("s503")
    t[4] = t[4] + th:get("s5"); t[5] = t[5] + th:get("sother")
  end
  io.write(string.format("STATUS 2xx=%d 4xx=%d 503=%d 5xx=%d other=%d sockerr=%d\n",
    t[1], t[2], t[3], t[4], t[5],
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
EOF
wrk_loop() {
    while [ "$(date +%s)" -lt "$t_end" ]; do
        local d=$((t_end - $(date +%s)))
        [ "$d" -gt 10 ] && d=10
        [ "$d" -ge 1 ] || break
        wrk -t 2 -c 16 -d "${d}s" --timeout 5s -s "$work/get.lua" "$base" >>"$work/wrk.log" 2>&1
    done
}
wrk_loop &
bg_pids+=($!)

# wrk also writes: POST /v1/requests with unique Idempotency-Keys, a
# failed attempt (5xx, or no answer) tried again with the same key, three
# attempts in all, and an approval of every third created request. One
# connection per thread, so each answer belongs to the request that thread
# sent last; each
# thread logs what it sent and what it was answered, for the checks (times
# in whole seconds: wrk's scripts have no finer clock). delay() paces each
# connection, so the write rate stays near what a busy province makes.
cat >"$work/post.lua" <<EOF
local dir, run = "$work", "$$"
local inv = {["Authorization"] = "Bearer $inv_token", ["Content-Type"] = "application/json"}
local adm = {["Authorization"] = "Bearer $admin_token", ["Content-Type"] = "application/json"}
local cams = {"soak-cam-1", "soak-cam-2", "soak-cam-3", "soak-cam-4"}
local n = 0
function setup(thread) thread:set("tid", n); n = n + 1 end
local function open(name)
  local f = assert(io.open(string.format("%s/%s.%d.txt", dir, name, tid), "a"))
  f:setvbuf("line")
  return f
end
function init(args)
  posts, sent, approvals = open("posts"), open("sent"), open("approvals")
  i, tries, key, body = 0, 0, nil, nil
  cur, answered, retry, approve_id, cur_id = nil, true, false, nil, nil
  -- wrk builds one request on thread 0 to check the script, never sent.
  checked = tid ~= 0
end
local function new_post()
  i = i + 1
  tries = 1
  key = string.format("soak-%s-%d-%d", run, tid, i)
  local m = 600 + math.random(0, 29)
  local t0 = string.format("$day" .. "T%02d:%02d:10Z", math.floor(m / 60), m % 60)
  local t1 = string.format("$day" .. "T%02d:%02d:40Z", math.floor(m / 60), m % 60)
  body = string.format('{"case":"SOAK-2026-001","camera":"%s","from":"%s","to":"%s","reason":"soak %d-%d"}',
    cams[math.random(#cams)], t0, t1, tid, i)
end
request = function()
  if not checked then
    checked = true
    return wrk.format("GET", "/healthz")
  end
  if cur == "post" and not answered then
    posts:write(string.format("%d %s 000 -\n", os.time(), key))
    retry = true
  elseif cur == "approve" and not answered then
    approvals:write(string.format("%d %s 000\n", os.time(), cur_id))
  end
  if cur == "post" and retry and tries < 3 then
    tries = tries + 1
  elseif approve_id then
    cur, answered, cur_id, approve_id = "approve", false, approve_id, nil
    return wrk.format("POST", "/v1/requests/" .. cur_id .. "/approve", adm, "{}")
  else
    new_post()
  end
  cur, answered, retry = "post", false, false
  sent:write(string.format("%d %s\n", os.time(), key))
  inv["Idempotency-Key"] = key
  return wrk.format("POST", "/v1/requests", inv, body)
end
response = function(status, headers, b)
  answered = true
  if cur == nil then return end
  if cur == "approve" then
    approvals:write(string.format("%d %s %d\n", os.time(), cur_id, status))
    return
  end
  local id = "-"
  if status == 201 then id = string.match(b, '^{.-"id":%s*(%d+)') or "?" end
  posts:write(string.format("%d %s %d %s\n", os.time(), key, status, id))
  retry = status >= 500
  if status == 201 and i % 3 == 0 then approve_id = id end
end
delay = function() return 25 end
EOF
rm -f "$work"/posts.*.txt "$work"/sent.*.txt "$work"/approvals.*.txt
wrk -t 2 -c 2 -d "${secs}s" --timeout 10s -s "$work/post.lua" "$base" >"$work/wrk-post.log" 2>&1 &
bg_pids+=($!)

# A probe: GET /v1/cases every 0.2 s, for the recovery times.
: >"$work/probe.txt"
probe_loop() {
    while [ "$(date +%s)" -lt "$t_end" ]; do
        st=$(curl -sS -m 2 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $aud_token" \
            "$base/v1/cases" 2>/dev/null)
        echo "$(now) ${st:-000}" >>"$work/probe.txt"
        sleep 0.2
    done
}
probe_loop &
bg_pids+=($!)

# Churn: every 3 s a new minute on one camera, the oldest minute of another gone.
churn_loop() {
    local next=612 k=0 c d oldest
    while [ "$(date +%s)" -lt "$t_end" ]; do
        c=${cams[$((k % 4))]}
        ln "$src/minute.mp4" "$rec/$(name_of "$c" "$next")" 2>/dev/null
        d=${cams[$(((k + 1) % 4))]}
        oldest=$(ls "$rec/$d/$day" | sort | head -n 1)
        [ "$(ls "$rec/$d/$day" | wc -l)" -gt 4 ] && rm -f "$rec/$d/$day/$oldest"
        k=$((k + 1))
        [ $((k % 4)) = 0 ] && next=$((next + 1))
        sleep 3
    done
}
churn_loop &
bg_pids+=($!)

# ------------------------------------------------------------ chaos + RSS
: >"$work/rss.txt"            # t server_kb indexer_kb indexer_life pg_life
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
gen=0
pg_done=0 idx_done=0
next_rss=$t0
while :; do
    t=$(date +%s)
    [ "$t" -ge "$t_end" ] && break
    el=$((t - t0))
    if [ "$t" -ge "$next_rss" ]; then
        echo "$el $(rss "$server_pid") $(rss "$indexer_pid") $gen $pg_done" >>"$work/rss.txt"
        next_rss=$((next_rss + 2))
    fi
    # PostgreSQL restarts at k/(R+1) of the run (1/3 and 2/3), down for 4 s.
    if [ "$pg_done" -lt "$pg_restarts" ] &&
        [ "$el" -ge $(((pg_done + 1) * secs / (pg_restarts + 1))) ]; then
        log "stopping PostgreSQL"
        echo "$(now) pg_stop" >>"$work/events.txt"
        bash scripts/pg.sh stop "$pgdir"
        sleep 4
        bash scripts/pg.sh start "$pgdir" >/dev/null
        echo "$(now) pg_start" >>"$work/events.txt"
        log "PostgreSQL started"
        pg_done=$((pg_done + 1))
    fi
    # Indexer SIGKILLs at (2k+1)/(2K+2) of the run (1/6 and 1/2), away
    # from the outages.
    if [ "$idx_done" -lt "$kills" ] &&
        [ "$el" -ge $(((2 * idx_done + 1) * secs / (2 * kills + 2))) ]; then
        log "SIGKILL indexer $indexer_pid"
        echo "$(now) indexer_kill" >>"$work/events.txt"
        kill -9 "$indexer_pid"
        wait "$indexer_pid" 2>/dev/null
        start_indexer
        gen=$((gen + 1))
        idx_done=$((idx_done + 1))
    fi
    sleep 0.5
done
echo "$(now) end" >>"$work/events.txt"
log "load over; waiting for the loops"
for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
bg_pids=()
# What the writing threads logged, one file each.
cat "$work"/posts.*.txt >"$work/posts.txt" 2>/dev/null
cat "$work"/sent.*.txt >"$work/sent.txt" 2>/dev/null
cat "$work"/approvals.*.txt >"$work/approvals.txt" 2>/dev/null
kill -0 "$server_pid" 2>/dev/null || log "camledger-server died"
kill -0 "$indexer_pid" 2>/dev/null || log "camledger-indexer died"

# ------------------------------------------------------------ checks
fail=0
check() {  # check NAME OK(0/1) DETAIL
    if [ "$2" = 1 ]; then echo "PASS  $1: $3"; else echo "FAIL  $1: $3"; fail=1; fi
}
echo
echo "== camledger soak, ${secs} s"

# (a) requests
awk '$3 == 201 { print $4, $2 }' "$work/posts.txt" | sort -u >"$work/created.txt"
ncreated=$(wc -l <"$work/created.txt")
psql -XAtq -F ' ' -c "SELECT id, idempotency_key FROM requests WHERE requester_id = $inv_id" \
    | sort >"$work/rows.txt"
missing=$(join -j1 <(sort -k1,1 "$work/created.txt") <(sort -k1,1 "$work/rows.txt") | wc -l)
# (The schema's keys make a duplicate id or key impossible; what can go
# wrong is a row nobody was answered for, or one under a key never sent.)
phantom=$(awk 'FILENAME == ARGV[1] { sent[$2] = 1; next } !($2 in sent)' "$work/sent.txt" "$work/rows.txt" | wc -l)
# A row whose key got no 201 is possible only if every attempt under that
# key went unanswered (the commit made, the answer lost in an outage); one
# whose key was answered otherwise (4xx) must not exist.
unanswered=$(awk 'FILENAME == ARGV[1] { got[$2] = 1; next } !($2 in got)' "$work/created.txt" "$work/rows.txt" | wc -l)
unexplained=$(awk 'FILENAME == ARGV[1] { got[$2] = 1; next }
                   FILENAME == ARGV[2] { if ($3 !~ /^(5|000)/) answered[$2] = 1; next }
                   !($2 in got) && ($2 in answered)' \
    "$work/created.txt" "$work/posts.txt" "$work/rows.txt" | wc -l)
# One row per key that ever got a 201, and the 201's id is that key's row.
keys_201=$(awk '{ print $2 }' "$work/created.txt" | sort -u | wc -l)
ids_per_key=$(awk '{ print $2 }' "$work/created.txt" | sort | uniq -d | wc -l)
mism=$(awk 'FILENAME == ARGV[1] { row[$2] = $1; next } !($2 in row) || row[$2] != $1' \
    "$work/rows.txt" "$work/created.txt" | wc -l)
check "(a) requests" $([ "$mism" = 0 ] && [ "$missing" = "$ncreated" ] && [ "$phantom" = 0 ] && [ "$unexplained" = 0 ] &&
    [ "$ids_per_key" = 0 ] && [ "$ncreated" -gt 0 ] && echo 1 || echo 0) \
    "$ncreated created (201), $keys_201 keys, matched rows $missing, mismatched $mism, keys with two ids $ids_per_key, rows under keys never sent $phantom, rows never answered 201 $unanswered ($unexplained answered otherwise)"

# (b) audit chain
verify=$(api GET /v1/audit/verify "$aud_token" 2>&1)
check "(b) audit verify" $(jq -e '.ok == true' <<<"$verify" >/dev/null 2>&1 && echo 1 || echo 0) \
    "$(jq -c . <<<"$verify" 2>/dev/null || echo "$verify")"

# (c) recordings against a clean pass. The daemon may still have a pass in
# hand: poll for up to 40 s.
rec_sql="SELECT count(*) || ' ' || md5(coalesce(string_agg(
    concat_ws('|', path, size, status, start_time, end_time, keyframe_count, md5(keyframes)),
    E'\n' ORDER BY path), '')) FROM recordings WHERE status <> 'deleted'"
PGDATABASE=cl_soak_ref "$indexer" --db "user=cl_soak_indexer" --root "$rec" --layout "$layout" --tz UTC --once \
    --stable-secs 0 >"$work/ref.log" 2>&1
ref=$(PGDATABASE=cl_soak_ref psql -XAtq -c "$rec_sql")
for _ in $(seq 1 40); do
    got=$(psql -XAtq -c "$rec_sql")
    [ "$got" = "$ref" ] && break
    sleep 1
done
check "(c) recordings" $([ "$got" = "$ref" ] && echo 1 || echo 0) \
    "daemon: $got, clean pass: $ref"

# (d) 5xx
wrk_sum() { grep '^STATUS' "$work/wrk.log" | tr ' =' '\n\n' | awk -v k="$1" 'p { s += $1; p = 0 } $1 == k { p = 1 } END { print s + 0 }'; }
w2=$(wrk_sum 2xx) w4=$(wrk_sum 4xx) w503=$(wrk_sum 503) w5=$(wrk_sum 5xx) wsock=$(wrk_sum sockerr)
p_by=$(awk '{ n[$3]++ } END { for (s in n) printf "%s:%d ", s, n[s] }' "$work/posts.txt")
a_by=$(awk '{ n[$3]++ } END { for (s in n) printf "%s:%d ", s, n[s] }' "$work/approvals.txt")
pr_by=$(awk '{ n[$2]++ } END { for (s in n) printf "%s:%d ", s, n[s] }' "$work/probe.txt")
c5=$(cat "$work/posts.txt" "$work/approvals.txt" | awk '$3 ~ /^5/ && $3 != 503' | wc -l)
c5=$((c5 + $(awk '$2 ~ /^5/ && $2 != 503' "$work/probe.txt" | wc -l)))
check "(d) no 5xx but 503" $([ "$w5" = 0 ] && [ "$c5" = 0 ] && echo 1 || echo 0) \
    "other 5xx: wrk reads $w5, wrk writes and the probe $c5"

# Recovery times: from each pg_start to the first 2xx of the probe.
recov=$(awk 'NR == FNR { if ($2 == "pg_start") st[++n] = $1; next }
             { t[++m] = $1; s[m] = $2 }
             END { for (i = 1; i <= n; i++) { r = "none"
                     for (j = 1; j <= m; j++) if (t[j] >= st[i] && s[j] ~ /^2/) { r = sprintf("%.2fs", t[j] - st[i]); break }
                     printf "%s ", r } }' "$work/events.txt" "$work/probe.txt")
# 503s outside the outages (+10 s grace after each start).
# (The writers log whole seconds: an outage starts at its stop's second.)
# The status is the probe's second field, the writers' third.
late503=$(awk 'FILENAME == ARGV[1] { if ($2 == "pg_stop") a[++n] = int($1); if ($2 == "pg_start") b[n] = $1 + 10; next }
               { st = FILENAME ~ /probe/ ? $2 : $3 }
               st == 503 { x = $1; ok = 0; for (i = 1; i <= n; i++) if (x >= a[i] && x <= b[i]) ok = 1; if (!ok) c++ }
               END { print c + 0 }' "$work/events.txt" "$work/posts.txt" "$work/approvals.txt" "$work/probe.txt")
check "(d) 503 only in the outages" $([ "$late503" = 0 ] && echo 1 || echo 0) \
    "$late503 answered 503 more than 10 s after PostgreSQL was back"

# (e) memory: the Theil-Sen slope of the samples (every 2 s), KB per
# minute: the median of the slopes between every two samples of one life of
# a daemon, so a passing spike (a clip being cut) does not read as a trend.
# The indexer's lives end at its SIGKILLs, the server's at each database
# restart; the first 20 s of each life are warm-up and left out. A leak
# under load shows as a slope; what each reconnection costs is reported as
# its own step (RSS 10 to 25 s after the start against the last sample
# before the stop), so that a step that repeats at every restart is seen
# too.
slope() {  # input: x y life
    awk '{ if (!($3 in t0)) t0[$3] = $1
           if ($1 - t0[$3] < 20) next
           k = $3; n[k]++; x[k, n[k]] = $1; y[k, n[k]] = $2 }
         END { for (k in n) for (i = 1; i <= n[k]; i++) for (j = i + 1; j <= n[k]; j++)
                   if (x[k, j] > x[k, i]) print (y[k, j] - y[k, i]) / (x[k, j] - x[k, i]) * 60 }' |
        sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print 0; exit }
            printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
srv_slope=$(awk '{ print $1, $2, $5 }' "$work/rss.txt" | slope)
steps=$(awk '{ t = $1; kb = $2; g = $5
              if (g == cur) { last[g] = kb; lt[g] = t } else { cur = g; first_t[g] = t }
              if (t - first_t[g] >= 10 && t - first_t[g] <= 25) { s[g] += kb; n[g]++ } }
         END { for (g = 1; g <= cur; g++) if (n[g] > 0)
                 printf "%+d ", s[g] / n[g] - last[g - 1] }' "$work/rss.txt")
idx_slope=$(awk '$3 > 0 { print $1, $3, $4 }' "$work/rss.txt" | slope)
mem_of() { awk -v c="$1" -v w="$2" 'NR == 1 { f = $c } { l = $c } END {
    printf (w == "f" ? "%.1f" : "%.1f"), (w == "f" ? f : l) / 1024 }' "$work/rss.txt"; }
flat=$(awk -v a="$srv_slope" -v b="$idx_slope" -v m="$slope_max" -v t="$secs" \
    'BEGIN { print (t < 60 || (a < m && b < m)) ? 1 : 0 }')
check "(e) memory flat" "$flat" \
    "server ${srv_slope} KB/min, indexer ${idx_slope} KB/min (threshold $slope_max)"

# (f) least privilege under load: PostgreSQL refused nothing the daemons
# sent: it logs each refusal by the grants as "permission denied", and the
# request life cycle's refusals of the other program's moves by their text.
pglog=$(tail -n "+$pglog_from" "$pgdir/server.log")
refusal='permission denied|only the indexer records|the indexer does not decide'
denied=$(grep -c -E "$refusal" <<<"$pglog")
check "(f) no statement refused" $([ "$denied" = 0 ] && echo 1 || echo 0) \
    "$denied refusals $(grep -m 3 -A 1 -E "$refusal" <<<"$pglog" | tr '\n' ' ')"

# (g) no part file of a killed indexer left in the exports: one no process
# holds the lock of, older than the lease plus the half lease between two
# looks plus 10 s, should have been removed by the running indexer.
leftover=0
for f in "$work"/exports/*.part-*; do
    [ -e "$f" ] || continue
    age=$(($(date +%s) - $(stat -c %Y "$f")))
    [ "$age" -gt $((claim_secs * 3 / 2 + 10)) ] || continue
    flock -n -E 99 "$f" true; [ $? = 99 ] || leftover=$((leftover + 1))
done
check "(g) no part files of killed indexers" $([ "$leftover" = 0 ] && echo 1 || echo 0) \
    "$leftover left in $work/exports"

# ------------------------------------------------------------ summary
echo
echo "requests served:  wrk GETs 2xx=$w2 4xx=$w4 503=$w503 other5xx=$w5 socket-errors=$wsock"
echo "                  POST /v1/requests attempts by status: $p_by"
echo "                  approvals by status: $a_by"
echo "                  probe GET /v1/cases by status: $pr_by"
echo "errors:           503 outside outages(+10 s grace): $late503"
echo "outages:          PostgreSQL restarts: $pg_restarts, recovery (pg start -> first 2xx): $recov"
echo "                  indexer SIGKILLs: $kills; exports cut: $(psql -XAtq -c "SELECT string_agg(status || ':' || n, ' ') FROM (SELECT status, count(*) n FROM requests GROUP BY status ORDER BY status) x")"
echo "recordings:       $(psql -XAtq -c "SELECT string_agg(status || ':' || n, ' ') FROM (SELECT status, count(*) n FROM recordings GROUP BY status ORDER BY status) x")"
echo "memory (VmRSS):   server start $(mem_of 2 f) MB end $(mem_of 2 l) MB slope ${srv_slope} KB/min;" \
    "indexer start $(mem_of 3 f) MB end $(mem_of 3 l) MB slope ${idx_slope} KB/min" \
    "($(wc -l <"$work/rss.txt") samples)"
echo "                  server RSS step at each database restart (KB): ${steps:-none}"
echo "logs:             $work"
if [ "$fail" = 0 ]; then echo "soak: all checks passed"; else echo "soak: FAILED"; fi
exit "$fail"
