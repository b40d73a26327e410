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
./build/camledger-admin --db "" migrate

rec=$top/var/demo/recordings
if [ ! -d "$rec" ]; then
    echo "recording sample footage under $rec ..."
    mkdir -p "$rec"
    src="-f lavfi -i testsrc2=size=640x360:rate=25"
    aud="-f lavfi -i sine=frequency=440:sample_rate=48000"
    x264="-c:v libx264 -preset veryfast -g 50"
    # Three junction cameras, one-minute files from 21:40 local time.
    for m in 40 41 42 43; do
        d=$rec/q1-nguyen-hue-01/2026-11-21; mkdir -p "$d"
        ffmpeg -nostdin -v error $src -t 60 $x264 -y "$d/21-$m-00.mp4"
        d=$rec/q1-le-loi-02/2026-11-21; mkdir -p "$d"
        ffmpeg -nostdin -v error $src $aud -t 60 $x264 -c:a aac -f mpegts -y "$d/21-$m-00.ts"
        d=$rec/q3-vo-van-tan-07/2026-11-21; mkdir -p "$d"
        ffmpeg -nostdin -v error $src -t 60 $x264 -y "$d/21-$m-00.mkv"
    done
    # A recording the NVR never finished, and one cut short by a power loss.
    f=$rec/q1-nguyen-hue-01/2026-11-21
    head -c 200000 "$f/21-43-00.mp4" > "$f/21-44-00.mp4"
    f=$rec/q1-le-loi-02/2026-11-21
    head -c $(( $(stat -c %s "$f/21-43-00.ts") / 2 )) "$f/21-43-00.ts" > "$f/21-44-00.ts"
fi

echo "indexing ..."
./build/camledger-indexer --db "" --root "$rec" --layout '{camera}/%Y-%m-%d/%H-%M-%S' \
    --tz Asia/Ho_Chi_Minh --once --stable-secs 0

query="SELECT c.code AS camera, c.registered, r.status, count(*) AS files,
       min(r.start_time) AS first, max(r.end_time) AS last,
       sum(r.keyframe_count) AS keyframes
  FROM recordings r JOIN cameras c ON c.id = r.camera_id
 GROUP BY 1, 2, 3 ORDER BY 1, 3"
echo
echo "$query;"
psql -P pager=off -c "$query"
query2="SELECT at FROM recording_keyframes
 WHERE camera_code = 'q1-nguyen-hue-01'
   AND at BETWEEN '2026-11-21 21:40:00+07' AND '2026-11-21 21:40:10+07' ORDER BY at"
echo "$query2;"
psql -P pager=off -c "$query2"

cat <<MSG
The database keeps running. To look around:
  $(bash scripts/pg.sh env "$pgdir") PGDATABASE=camledger
  psql
Keep the index up to date as a daemon (Ctrl-C stops it):
  ./build/camledger-indexer --db "" --root $rec --layout '{camera}/%Y-%m-%d/%H-%M-%S' --tz Asia/Ho_Chi_Minh
Stop the database:
  bash scripts/pg.sh stop $pgdir
MSG
