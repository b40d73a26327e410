#!/bin/sh
# Builds the libFuzzer harnesses in tests/fuzz/ with clang (not meson) into
# var/fuzz/ and runs each for SECONDS_EACH seconds (default 60) on a copy of
# its seed corpus. Exits non-zero when a harness fails to build or any run
# finds a crash, leak, timeout or sanitizer report; the reproducer is left in
# var/fuzz/<name>/ (crash-*, leak-*, timeout-*, oom-*).
#
# Environment: CC (default clang), FUZZ_FLAGS extra libFuzzer flags.
set -eu

secs=${1:-60}
case $secs in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS_EACH]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cc=${CC:-clang}
out=var/fuzz
mkdir -p "$out"

cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -D_GNU_SOURCE -std=gnu11 -Wall -Wextra -Icommon -Iserver"

build() {
    name=$1; shift
    echo "fuzz: building $name" >&2
    # shellcheck disable=SC2086
    "$cc" $cflags -o "$out/fuzz_$name" "tests/fuzz/fuzz_$name.c" "$@"
}

build layout common/layout.c common/timefmt.c -lpthread
build rfc3339 common/timefmt.c -lpthread
build kfindex common/kfindex.c
# server.h pulls in h2o.h, uv.h and libpq-fe.h: their headers are needed to
# compile csv.c, but it only calls jansson and libm.
build csv server/csv.c \
    $(pkg-config --cflags libh2o libuv openssl libpq jansson) \
    $(pkg-config --libs jansson) -lm

status=0 ok=0 bad=0
for name in layout rfc3339 kfindex csv; do
    work="$out/$name"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp tests/fuzz/corpus/"$name"/* "$work/corpus/"
    echo "fuzz: running $name for ${secs}s" >&2
    if ! "$out/fuzz_$name" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
            -artifact_prefix="$work/" -print_final_stats=1 ${FUZZ_FLAGS:-} \
            "$work/corpus" >"$work/log" 2>&1; then
        echo "fuzz: $name FAILED; see $work/log" >&2
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' \
            "$work/log" >&2 || tail -n 20 "$work/log" >&2
        status=1 bad=$((bad + 1))
    else
        ok=$((ok + 1))
        grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' \
            "$work/log" >&2 || true
    fi
done
echo "fuzz: $ok harnesses clean, $bad failed" >&2
exit $status
