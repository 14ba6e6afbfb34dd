#!/usr/bin/env bash
# Fuzz the ring-file and builder-file parsers with libFuzzer (clang 14,
# -fsanitize=fuzzer,address,undefined) for a bounded time, seeded with real
# files written by `cassafs ring`.  Passes when no input crashes, leaks or
# trips a sanitizer.  RING_FUZZ_SECONDS overrides the 30 s budget.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
C=${CASSAFS:-$ROOT/build/cassafs}
SECS=${RING_FUZZ_SECONDS:-30}
T=$(mktemp -d /tmp/t_ring_fuzz.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
finish() { echo "RESULT $pass passed, $fail failed"; exit $((fail > 0)); }

CLANG=$(command -v clang-14 || command -v clang || true)
if [ -z "$CLANG" ]; then
	bad "clang is not installed: apt-get install clang libclang-rt-14-dev"
	finish
fi
cd "$T" || exit 1
# shellcheck disable=SC2046
if ! "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -I"$ROOT/src" \
	$(pkg-config --cflags libcrypto zlib) \
	"$ROOT/tests/ring/fuzz/ring_fuzz.c" "$ROOT/src/ring.c" \
	"$ROOT/src/ring_file.c" "$ROOT/src/ring_builder.c" \
	$(pkg-config --libs libcrypto zlib) -o ring_fuzz 2>build.log; then
	bad "cannot build the fuzz target: $(tail -5 build.log)"
	finish
fi
ok

# seed corpus: real builder and ring files, one byte selecting the parser
mkdir corpus
"$C" ring s.builder create 4 2.5 1 >/dev/null
"$C" ring s.builder add r1z1-10.0.0.1:6200/sdb 100 r1z2-10.0.0.2:6200/sdb_m 50 \
	r2z1-[::1]:6200R[::2]:6300/sdc 100 >/dev/null
{ printf '\x01'; cat s.builder; } >corpus/builder0
"$C" ring s.builder rebalance --seed 1 >/dev/null
{ printf '\x01'; cat s.builder; } >corpus/builder1
{ printf '\x00'; cat s.ring.gz; } >corpus/ring1
{ printf '\x00'; gzip -dc s.ring.gz; } >corpus/ring_raw

./ring_fuzz -max_total_time="$SECS" -timeout=10 -rss_limit_mb=1024 \
	-max_len=16384 -print_final_stats=1 corpus >fuzz.log 2>&1
rc=$?
runs=$(awk '/stat::number_of_executed_units/ {print $2}' fuzz.log)
if [ "$rc" -eq 0 ]; then ok; else
	bad "fuzzer found a crash (rc $rc):"; grep -A25 "ERROR\|runtime error" fuzz.log | head -40 >&2
fi
if [ -n "$runs" ] && [ "$runs" -gt 1000 ]; then ok; else
	bad "fuzzer ran only '$runs' inputs"; tail -5 fuzz.log >&2
fi
echo "fuzzed $runs inputs in ${SECS}s"
finish
