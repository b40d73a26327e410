#!/usr/bin/env bash
# Indexer benchmark: camledger-indexer --once against the ffprobe oracle per
# file and against cat of the same files, on a corpus of ten-minute 720p
# recordings, in one invocation; then re-index throughput against pgbench
# running the same upsert directly.
#
#   bash tests/bench/indexer.sh [FILES_PER_CONTAINER]   (default 50)
#
# Figures are ratios measured side by side: the machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
n=${1:-50}
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
indexer=$top/build/indexer/camledger-indexer
admin=$top/build/server/camledger-admin

pgdir=$top/var/bench-pg
eval "$(bash scripts/pg.sh start "$pgdir")"
trap 'bash scripts/pg.sh stop "$pgdir"' EXIT
dropdb --if-exists --force cl_bench >/dev/null 2>&1 || true
createdb cl_bench
export PGDATABASE=cl_bench
$admin --db "" migrate >/dev/null

work=$top/var/bench
src=$work/src
mkdir -p "$src"
# One ten-minute 720p H.264 recording (25 fps, a keyframe every 2 s, 2 Mbit/s),
# remuxed without re-encoding into MKV and MPEG-TS.
if [ ! -s "$src/ten.mp4" ]; then
    echo "making a ten-minute 720p recording (once) ..." >&2
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=1280x720:rate=25 -t 600 \
        -c:v libx264 -preset ultrafast -g 50 -b:v 2M -pix_fmt yuv420p -y "$src/tmp.mp4"
    mv "$src/tmp.mp4" "$src/ten.mp4"
fi
[ -s "$src/ten.mkv" ] || ffmpeg -nostdin -v error -i "$src/ten.mp4" -c copy -y "$src/ten.mkv"
[ -s "$src/ten.ts" ] || ffmpeg -nostdin -v error -i "$src/ten.mp4" -c copy -f mpegts -y "$src/ten.ts"

# N recordings per container: hard links, so each is its own path but the
# corpus costs no disk. Every reader below sees the same page cache.
corpus=$work/corpus
rm -rf "$corpus"
for ext in mp4 mkv ts; do
    for i in $(seq 1 "$n"); do
        d=$corpus/$ext/cam$(printf %02d $((i % 10)))/2026-11-21
        mkdir -p "$d"
        ln "$src/ten.$ext" "$d/$(printf '%02d-%02d-00' $((i / 60)) $((i % 60))).$ext"
    done
done
cat "$src"/ten.* > /dev/null   # warm the cache for everyone

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }

printf '\n%-5s %7s %12s %12s %12s %9s %9s %10s %12s\n' container files "indexer s" "ffprobe s" \
    "cat s" speedup "vs cat" "read %" "peak RSS MB"
for ext in mp4 mkv ts; do
    files=$(find "$corpus/$ext" -type f | sort)
    bytes=$(( $(stat -c %s "$src/ten.$ext") * n ))

    t0=$(now)
    out=$(/usr/bin/time -f 'maxrss=%M' "$indexer" --db "" --root "$corpus/$ext" \
        --layout '{camera}/%Y-%m-%d/%H-%M-%S' --tz Asia/Ho_Chi_Minh --once --stable-secs 0 \
        --jobs 1 2>&1)
    t1=$(now)
    ix_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    read_bytes=$(sed -n 's/.*bytes_read=\([0-9]*\).*/\1/p' <<<"$out")
    rss_kb=$(sed -n 's/^maxrss=\([0-9]*\)/\1/p' <<<"$out")
    indexed=$(sed -n 's/.* indexed=\([0-9]*\).*/\1/p' <<<"$out")
    [ "$indexed" = "$n" ] || { echo "indexer indexed $indexed of $n: $out" >&2; exit 1; }

    t0=$(now)
    for f in $files; do
        ffprobe -v error -select_streams v:0 -show_entries packet=pts_time,flags -of csv=p=0 "$f" \
            | grep -c K >/dev/null
    done
    t1=$(now)
    ff_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')

    t0=$(now)
    for f in $files; do cat "$f"; done > /dev/null
    t1=$(now)
    cat_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')

    printf '%-5s %7d %12s %12s %12s %8sx %8sx %10s %12s\n' "$ext" "$n" "$ix_s" "$ff_s" "$cat_s" \
        "$(ratio "$ff_s" "$ix_s")" "$(ratio "$cat_s" "$ix_s")" \
        "$(awk -v r="$read_bytes" -v b="$bytes" 'BEGIN { printf "%.3f", 100 * r / b }')" \
        "$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
done

# Re-index throughput: many short recordings already known, every one
# changed (touched), so each pass rewrites every row.
short=$work/short
rows=${CL_BENCH_ROWS:-5000}
if [ ! -s "$src/short.mp4" ]; then
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -t 10 \
        -c:v libx264 -preset ultrafast -g 50 -y "$src/short.mp4"
fi
rm -rf "$short"
for i in $(seq 1 "$rows"); do
    d=$short/cam$(printf %03d $((i % 100)))/2026-11-21
    [ -d "$d" ] || mkdir -p "$d"
    ln "$src/short.mp4" "$d/$(printf '%02d-%02d-%02d' $((i / 3600)) $((i / 60 % 60)) $((i % 60))).mp4"
done
"$indexer" --db "" --root "$short" --layout '{camera}/%Y-%m-%d/%H-%M-%S' --once \
    --stable-secs 0 >/dev/null
touch -d '1 minute ago' "$src/short.mp4"   # one inode: every path changed
out=$("$indexer" --db "" --root "$short" --layout '{camera}/%Y-%m-%d/%H-%M-%S' --once \
    --stable-secs 0)
secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
indexed=$(sed -n 's/.* indexed=\([0-9]*\).*/\1/p' <<<"$out")
[ "$indexed" = "$rows" ] || { echo "re-index wrote $indexed of $rows: $out" >&2; exit 1; }

# The reference: pgbench sending the same upsert straight to the database,
# 256 rows per transaction as the indexer batches them, one client.
{
    echo 'BEGIN;'
    for i in $(seq 1 256); do
        echo "\\set n$i random(1, $rows)"
        echo "INSERT INTO recordings AS r (camera_id, path, size, mtime, status, keyframe_count, keyframes, start_time, end_time, time_source) SELECT c.id, 'bench/' || :n$i, 1000, now(), 'ok', 5, '\\x00d00fd00fd00fd00f'::bytea, now(), now() + interval '10 s', 'name' FROM cameras c WHERE c.code = 'cam001' ON CONFLICT (camera_id, path) DO UPDATE SET size = EXCLUDED.size, mtime = EXCLUDED.mtime, status = EXCLUDED.status, keyframes = EXCLUDED.keyframes, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, indexed_at = now(), deleted_at = NULL;"
    done
    echo 'COMMIT;'
} > "$work/upsert.sql"
pg_tps=$(pgbench -n -M prepared -c 1 -T 5 -f "$work/upsert.sql" 2>/dev/null |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p')
printf '\nre-index: %d known recordings changed, rewritten in %s s: %.0f recordings/s\n' "$rows" \
    "$secs" "$(awk -v r="$rows" -v s="$secs" 'BEGIN { print r / s }')"
printf 'pgbench, the same upsert, 256 rows a transaction: %.0f rows/s\n' \
    "$(awk -v t="$pg_tps" 'BEGIN { print t * 256 }')"
