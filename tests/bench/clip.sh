#!/usr/bin/env bash
# Clip cutter benchmark: cl_clip_cut (build/indexer/clip_bench) against
# `ffmpeg -ss FROM -to TO -i FILE -c copy` (the concat demuxer for windows
# across files) on the same windows, in one invocation, over a ten-minute
# 720p recording split into one-minute files (MP4 as recorded, and the same
# packets remuxed to MPEG-TS).
#
#   bash tests/bench/clip.sh [REPEAT]   (default 5; the best run of each counts)
#
# For cl_clip_cut it also prints the bytes read from the recordings against
# the budget 1.2 x clip size + one GOP. Figures are measured side by side:
# the machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
repeat=${1:-5}
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build indexer/clip_bench >/dev/null
bench=$top/build/indexer/clip_bench

work=$top/var/bench/clip
mkdir -p "$work/mp4" "$work/ts" "$work/out"
# 25 fps, a keyframe every 2 s, 2 Mbit/s video, 64 kbit/s AAC, cut by the
# segment muxer into ten consecutive one-minute files.
if [ ! -s "$work/mp4/09.mp4" ]; then
    echo "making a ten-minute 720p recording in one-minute files (once) ..." >&2
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=1280x720:rate=25 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 600 \
        -c:v libx264 -preset ultrafast -g 50 -b:v 2M -pix_fmt yuv420p -c:a aac -b:a 64k \
        -f segment -segment_time 60 -reset_timestamps 1 -y "$work/mp4/%02d.mp4"
fi
for i in $(seq -f %02g 0 9); do
    [ -s "$work/ts/$i.ts" ] || ffmpeg -nostdin -v error -i "$work/mp4/$i.mp4" -c copy \
        -f mpegts -y "$work/ts/$i.ts"
done
cat "$work"/mp4/*.mp4 "$work"/ts/*.ts >/dev/null   # everyone reads from the page cache

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.4f", ns / 1e9 }'; }

# The largest GOP of a file in bytes: from one video keyframe to the next.
gop_bytes() {
    ffprobe -v error -select_streams v:0 -show_entries packet=pos,flags -of csv=p=0 "$1" |
        awk -F, '$2 ~ /K/ { if (last != "" && $1 - last > max) max = $1 - last; last = $1 }
                 END { print max + 0 }'
}

# label from_s to_s (seconds from the start of file 00; the files are 60 s)
windows=(
    "5s-in-one-file 301.1 306.1"
    "30s-in-one-file 125.3 155.3"
    "30s-across-2-files 170.7 200.7"
    "2min-across-3-files 150.5 270.5"
    "9min-across-10-files 30.5 570.5"
)

printf '\n%-21s %-4s %5s %9s %10s %8s %8s %8s %9s %8s %7s %7s %4s\n' window fmt files "ffmpeg s" \
    "cl_clip s" "of it" speedup "w/o sha" "read MB" "clip MB" "GOP MB" "budget" ok
printf '%-21s %-4s %5s %9s %10s %8s %8s %8s %9s %8s %7s %7s %4s\n' "" "" "" "" "" sha256 "" "" "" "" "" used ""
for ext in mp4 ts; do
    gop=$(gop_bytes "$work/$ext/02.$ext")
    for w in "${windows[@]}"; do
        read -r label from to <<<"$w"
        i0=$(awk -v t="$from" 'BEGIN { printf "%d", t / 60 }')
        i1=$(awk -v t="$to" 'BEGIN { printf "%d", (t - 0.001) / 60 }')
        files=()
        list=$work/out/list.txt
        : >"$list"
        for i in $(seq "$i0" "$i1"); do
            f=$work/$ext/$(printf %02d "$i").$ext
            files+=("$f")
            echo "file '$f'" >>"$list"
        done
        rel_from=$(awk -v t="$from" -v i="$i0" 'BEGIN { printf "%.3f", t - 60 * i }')
        rel_to=$(awk -v t="$to" -v i="$i0" 'BEGIN { printf "%.3f", t - 60 * i }')
        base=$(date -u -d "@$((1795000000 + 60 * i0))" +%Y-%m-%dT%H:%M:%SZ)

        best_ff=
        for _ in $(seq "$repeat"); do
            t0=$(now)
            if [ "${#files[@]}" -eq 1 ]; then
                ffmpeg -nostdin -v error -ss "$rel_from" -to "$rel_to" -i "${files[0]}" -c copy \
                    -movflags +faststart -y "$work/out/ffmpeg.mp4"
            else
                ffmpeg -nostdin -v error -f concat -safe 0 -ss "$rel_from" -to "$rel_to" -i "$list" \
                    -c copy -movflags +faststart -y "$work/out/ffmpeg.mp4"
            fi
            t=$(( $(now) - t0 ))
            [ -z "$best_ff" ] || [ "$t" -lt "$best_ff" ] && best_ff=$t
        done

        best_cl=
        sha_s=
        for _ in $(seq "$repeat"); do
            out=$("$bench" "$base" "$rel_from" "$rel_to" "$work/out/clip.mp4" "${files[@]}")
            t=$(sed -n 's/^seconds=\([0-9.]*\).*/\1/p' <<<"$out")
            h=$(sed -n 's/.*sha_seconds=\([0-9.]*\).*/\1/p' <<<"$out")
            if [ -z "$best_cl" ] || awk -v a="$t" -v b="$best_cl" 'BEGIN { exit !(a < b) }'; then
                best_cl=$t
                best_out=$out
            fi
            if [ -z "$sha_s" ] || awk -v a="$h" -v b="$sha_s" 'BEGIN { exit !(a < b) }'; then
                sha_s=$h
            fi
        done
        read_b=$(sed -n 's/.*bytes_read=\([0-9]*\).*/\1/p' <<<"$best_out")
        clip_b=$(sed -n 's/.*clip_bytes=\([0-9]*\).*/\1/p' <<<"$best_out")
        awk -v label="$label" -v ext="$ext" -v n="${#files[@]}" -v ff="$(secs "$best_ff")" \
            -v cl="$best_cl" -v sha="$sha_s" -v rd="$read_b" -v cb="$clip_b" -v gop="$gop" 'BEGIN {
                budget = 1.2 * cb + gop
                nosha = cl > sha ? sprintf("%.1fx", ff / (cl - sha)) : "-"
                printf "%-21s %-4s %5d %9.3f %10.3f %8.3f %7.1fx %8s %9.2f %8.2f %7.2f %6.0f%% %4s\n",
                    label, ext, n, ff, cl, sha, ff / cl, nosha, rd / 1e6, cb / 1e6,
                    gop / 1e6, 100 * rd / budget, rd <= budget ? "yes" : "NO"
            }'
    done
done
echo
cat <<'EOF'
ffmpeg s: the whole ffmpeg process (it neither syncs nor hashes). cl_clip s: the
cl_clip_cut call in clip_bench, which also fsyncs the clip and computes its SHA-256
with av_sha ("of it sha256": the best time to hash the clip again from the page cache;
"w/o sha": the speed-up without it). Both write faststart MP4s. read MB: bytes cl_clip_cut read
from the recordings; budget used: read / (1.2 x clip + largest GOP), which must stay
at or under 100%. MPEG-TS clips are cut with the keyframes the index would pass.
EOF
