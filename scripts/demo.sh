#!/usr/bin/env bash
# The whole system with sample data, from a fresh Debian 12 machine:
# installs missing packages, builds, starts a private PostgreSQL under
# var/demo-pg, applies the migrations, records sample footage for a few
# cameras with the ffmpeg CLI, indexes it, and shows what was found.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

pgdir=$top/var/demo-pg
eval "$(bash scripts/pg.sh start "$pgdir")"
psql -qAtc "SELECT 1 FROM pg_database WHERE datname = 'camledger'" | grep -q 1 ||
    createdb camledger
export PGDATABASE=camledger
./build/server/camledger-admin --db "" migrate
# The daemons connect as least-privilege logins (docs/operations.md); the
# admin tool, which runs the migrations and issues tokens, as the owner.
bash scripts/pg.sh login camledger_srv camledger_server
bash scripts/pg.sh login camledger_idx camledger_indexer

rec=$top/var/demo/recordings
# The sample footage is from yesterday evening (21:40 in Vietnam), so it is
# in the past wherever and whenever the demo runs; kept across reruns.
mkdir -p "$top/var/demo"
[ -s "$top/var/demo/day" ] || TZ=Asia/Ho_Chi_Minh date -d yesterday +%Y-%m-%d > "$top/var/demo/day"
DAY=$(cat "$top/var/demo/day")
if [ ! -d "$rec" ]; then
    echo "recording sample footage under $rec ..."
    mkdir -p "$rec"
    src="-f lavfi -i testsrc2=size=640x360:rate=25"
    aud="-f lavfi -i sine=frequency=440:sample_rate=48000"
    x264="-c:v libx264 -preset veryfast -g 50"
    # Three junction cameras, one-minute files from 21:40 local time.
    for m in 40 41 42 43; do
        d=$rec/q1-nguyen-hue-01/$DAY; mkdir -p "$d"
        ffmpeg -nostdin -v error $src -t 60 $x264 -y "$d/21-$m-00.mp4"
        d=$rec/q1-le-loi-02/$DAY; mkdir -p "$d"
        ffmpeg -nostdin -v error $src $aud -t 60 $x264 -c:a aac -f mpegts -y "$d/21-$m-00.ts"
        d=$rec/q3-vo-van-tan-07/$DAY; mkdir -p "$d"
        ffmpeg -nostdin -v error $src -t 60 $x264 -y "$d/21-$m-00.mkv"
    done
    # A recording the NVR never finished, and one cut short by a power loss.
    f=$rec/q1-nguyen-hue-01/$DAY
    head -c 200000 "$f/21-43-00.mp4" > "$f/21-44-00.mp4"
    f=$rec/q1-le-loi-02/$DAY
    head -c $(( $(stat -c %s "$f/21-43-00.ts") / 2 )) "$f/21-43-00.ts" > "$f/21-44-00.ts"
    # A recorder closes each file when its minute ends.
    for f in "$rec"/*/$DAY/21-4?-00.*; do
        m=$(basename "$f" | cut -c4-5)
        touch -d "$DAY 21:$((10#$m + 1)):00 +07:00" "$f"
    done
fi

echo "indexing ..."
./build/indexer/camledger-indexer --db "user=camledger_idx" --root "$rec" --layout '{camera}/%Y-%m-%d/%H-%M-%S' \
    --tz Asia/Ho_Chi_Minh --once --stable-secs 0

query="SELECT c.code AS camera, c.registered, r.status, count(*) AS files,
       min(r.start_time) AS first, max(r.end_time) AS last,
       sum(r.keyframe_count) AS keyframes
  FROM recordings r JOIN cameras c ON c.id = r.camera_id
 GROUP BY 1, 2, 3 ORDER BY 1, 3"
echo
echo "$query;"
psql -P pager=off -c "$query"

# Users, one per role; a rerun issues fresh tokens to the same users.
admin=./build/server/camledger-admin
$admin --db "" station add --code Q1 --name "Công an Quận 1" 2>/dev/null || true
token() {  # token NAME ROLE [STATION]
    local st=()
    [ -n "${3:-}" ] && st=(--station "$3")
    { $admin --db "" user add --name "$1" --role "$2" "${st[@]}" 2>/dev/null ||
      $admin --db "" token add --user "$1"; } | tail -1
}
T_ADMIN=$(token "Trần Văn Bình" admin Q1)
T_INV=$(token "Nguyễn Thị Lan" investigator Q1)
T_AUD=$(token "Lê Minh Đức" auditor)

port=${CL_DEMO_PORT:-8080}
./build/server/camledger-server --db "user=camledger_srv" --listen 127.0.0.1:$port --threads 2 \
    > "$top/var/demo/server.log" 2>&1 &
server_pid=$!
./build/indexer/camledger-indexer --db "user=camledger_idx" --root "$rec" --layout '{camera}/%Y-%m-%d/%H-%M-%S' \
    --tz Asia/Ho_Chi_Minh --stable-secs 5 --exports "$top/var/demo/exports" \
    > "$top/var/demo/indexer.log" 2>&1 &
indexer_pid=$!
stop_all() {
    kill "$server_pid" "$indexer_pid" 2>/dev/null || true
    wait "$server_pid" "$indexer_pid" 2>/dev/null || true
    bash scripts/pg.sh stop "$pgdir"
}
trap stop_all EXIT
for i in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done
api="http://127.0.0.1:$port"
j='Content-Type: application/json'

# Admins register two of the cameras the indexer found (one by CSV); the
# third stays unregistered, as a camera nobody has filled in yet.
curl -s -H "Authorization: Bearer $T_ADMIN" -H "$j" -X POST "$api/v1/cameras" -d '{
  "code": "q1-nguyen-hue-01", "name": "Ngã tư Nguyễn Huệ - Lê Thánh Tôn", "station": "Q1",
  "owner_kind": "police", "lat": 10.7745, "lon": 106.7035, "retention_days": 30,
  "timezone": "Asia/Ho_Chi_Minh"}' >/dev/null
printf 'code,name,station,owner_kind,owner_name,owner_phone,lat,lon,address,retention_days\nq3-vo-van-tan-07,Cửa hàng Võ Văn Tần,Q1,business,Phạm Thu Hà,0903 123 456,10.7769,106.6903,"45 Võ Văn Tần, Quận 3",14\n' |
    curl -s -H "Authorization: Bearer $T_ADMIN" -H 'Content-Type: text/csv' \
        -X POST "$api/v1/cameras/import" --data-binary @- >/dev/null
curl -s -H "Authorization: Bearer $T_INV" -H "$j" -X POST "$api/v1/cases" \
    -d '{"number": "123/2026/Q1", "title": "Cướp giật điện thoại trên đường Nguyễn Huệ"}' >/dev/null
# Two requests: one approved (the indexer cuts it), one still pending.
ask() {  # ask CAMERA FROM TO KEY
    curl -s -H "Authorization: Bearer $T_INV" -H "$j" -H "Idempotency-Key: $4" -X POST "$api/v1/requests" \
        -d "{\"case\": \"123/2026/Q1\", \"camera\": \"$1\", \"from\": \"${DAY}T$2+07:00\",
             \"to\": \"${DAY}T$3+07:00\", \"reason\": \"Xác định nghi phạm\"}" |
        sed -n 's/^{"id": \([0-9]*\).*/\1/p'
}
first=$(ask q1-nguyen-hue-01 21:41:30 21:43:30 demo-1)
ask q3-vo-van-tan-07 21:40:00 21:42:00 demo-2 >/dev/null
[ -n "$first" ] && curl -s -H "Authorization: Bearer $T_ADMIN" -X POST "$api/v1/requests/$first/approve" >/dev/null

cat <<MSG

camledger is running: PostgreSQL ($pgdir), camledger-server on $api,
camledger-indexer watching $rec.

Tokens (shown once):
  admin         Trần Văn Bình   $T_ADMIN
  investigator  Nguyễn Thị Lan  $T_INV
  auditor       Lê Minh Đức     $T_AUD

Investigators: what footage exists, and ask for it
  curl -s -H "Authorization: Bearer $T_INV" '$api/v1/cameras?near=10.775,106.70&radius_m=2000'
  curl -s -H "Authorization: Bearer $T_INV" '$api/v1/cameras/q1-nguyen-hue-01/footage?from=${DAY}T21:40:00%2B07:00&to=${DAY}T21:46:00%2B07:00'
  curl -s -H "Authorization: Bearer $T_INV" -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' \\
       -X POST $api/v1/requests -d '{"case": "123/2026/Q1", "camera": "q1-nguyen-hue-01",
       "from": "${DAY}T21:41:30+07:00", "to": "${DAY}T21:43:30+07:00", "reason": "Xác định nghi phạm"}'

Station admins: cameras and approvals
  curl -s -H "Authorization: Bearer $T_ADMIN" '$api/v1/cameras?registered=false'
  curl -s -H "Authorization: Bearer $T_ADMIN" '$api/v1/requests?status=pending'
  curl -s -H "Authorization: Bearer $T_ADMIN" -X POST $api/v1/requests/1/approve

Cut clips (the indexer cuts approved requests into var/demo/exports):
  curl -s -H "Authorization: Bearer $T_INV" $api/v1/requests/${first:-1}
  curl -s -H "Authorization: Bearer $T_INV" -o clip.mp4 $api/v1/requests/${first:-1}/clip
  curl -s -H "Authorization: Bearer $T_INV" $api/v1/requests/${first:-1}/manifest

Requests whose footage the recorders will overwrite first (at risk):
  curl -s -H "Authorization: Bearer $T_ADMIN" '$api/v1/requests?at_risk=true'
MSG
risk=$(curl -s -H "Authorization: Bearer $T_ADMIN" "$api/v1/requests?at_risk=true")
printf '%s' "$risk" | python3 -c 'import json, sys
for r in json.load(sys.stdin)["requests"]:
    print("  #%s %-18s %s..%s  %-8s overwritten at %s" % (r["id"], r["camera"], r["from"], r["to"], r["status"], r["overwrite_at"]))' 2>/dev/null || echo "  $risk"
cat <<MSG

Auditors: extractions per case, and the tamper-evident log
  curl -s -H "Authorization: Bearer $T_AUD" '$api/v1/audit/extractions?group_by=case'
  curl -s -H "Authorization: Bearer $T_AUD" -H 'Accept: text/csv' '$api/v1/audit/extractions?group_by=month'
  curl -s -H "Authorization: Bearer $T_AUD" $api/v1/audit/verify

SQL: $(bash scripts/pg.sh env "$pgdir" | sed 's/PGDATABASE=postgres/PGDATABASE=camledger/'); psql
Logs: var/demo/server.log, var/demo/indexer.log
MSG
if [ "${1:-}" = "--check" ]; then
    # Used to check the demo itself: answer one request per user group, then stop.
    curl -sf -H "Authorization: Bearer $T_INV" "$api/v1/cameras/q1-nguyen-hue-01/footage?from=${DAY}T21:40:00%2B07:00&to=${DAY}T21:46:00%2B07:00"
    echo
    curl -sf -H "Authorization: Bearer $T_ADMIN" "$api/v1/cameras?registered=false"
    echo
    curl -sf -H "Authorization: Bearer $T_AUD" "$api/v1/audit/verify"
    echo
    exit 0
fi
echo "Press Ctrl-C to stop everything."
wait "$server_pid"
