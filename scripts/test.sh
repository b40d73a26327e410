#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs missing
# packages, builds twice (plain, and with AddressSanitizer and
# UndefinedBehaviorSanitizer), starts a private PostgreSQL under var/, runs
# every unit and integration test in both builds, the libFuzzer harnesses
# briefly and the soak for two minutes, and stops the database.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
bash scripts/deps.sh

build() {  # build DIR [meson options]
    local d=$1; shift
    [ -f "$d/build.ninja" ] || meson setup "$d" "$@" >/dev/null
    ninja -C "$d" >/dev/null
}
build build
build build-san -Db_sanitize=address,undefined -Db_lundef=false

# A cluster of this run's own, so two runs on one machine do not collide.
pgdir=$top/var/test-pg.$$
eval "$(CL_PG_FSYNC=off bash scripts/pg.sh start "$pgdir")"
trap 'bash scripts/pg.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# ffmpeg and the test programs write their scratch files here.
export TMPDIR=$top/var/tmp
mkdir -p "$TMPDIR"
chmod 1777 "$top/var/tmp"

passed=0 failed=0 status=0
for d in build build-san; do
    echo "== meson test -C $d"
    if meson test -C "$d" --print-errorlogs --num-processes 2 "$@"; then :; else status=1; fi
    log=$d/meson-logs/testlog.json
    if [ -f "$log" ]; then
        p=$(grep -c '"result": "OK"' "$log" || true)
        f=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
        passed=$((passed + p)) failed=$((failed + f))
    fi
done
# The libFuzzer harnesses for the project's own parsers, briefly; the long
# runs are `bash tests/fuzz/run.sh SECONDS`.
echo "== fuzz (${CL_FUZZ_SECS:-10} s each)"
if bash tests/fuzz/run.sh "${CL_FUZZ_SECS:-10}" 2> "$top/var/fuzz.log"; then :; else status=1; fi
grep -E '^fuzz:' "$top/var/fuzz.log" || true
fz=$(sed -n 's/^fuzz: \([0-9]*\) harnesses clean, \([0-9]*\) failed$/\1 \2/p' "$top/var/fuzz.log")
if [ -n "$fz" ]; then
    passed=$((passed + ${fz% *})) failed=$((failed + ${fz#* }))
else
    failed=$((failed + 1))
fi
# The soak, short: indexer daemon and server under load for 120 s while
# PostgreSQL restarts and the indexer is SIGKILLed (the recorded runs are
# `bash tests/soak/soak.sh 600`). It runs its own cluster under var/. In
# two minutes the indexer's lives between kills are 40 and 60 s, where its
# allocator's wobble (about 300 KB as clips are cut) can read as a few
# hundred KB/min: the short run holds a leak to 1 MB/min, the recorded
# 10-minute run to the soak's default 512 KB/min.
echo "== soak (${CL_SOAK_SECS:-120} s)"
if CL_SOAK_SLOPE_KB_MIN=${CL_SOAK_SLOPE_KB_MIN:-1024} \
        bash tests/soak/soak.sh "${CL_SOAK_SECS:-120}" >"$top/var/soak.log" 2>&1; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)) status=1
fi
sed -n '/^== camledger soak/,$p' "$top/var/soak.log"
grep -q '^== camledger soak' "$top/var/soak.log" || tail -n 20 "$top/var/soak.log"
echo "$passed passed, $failed failed"
exit $status
