#!/usr/bin/env bash
# Runs every test program (build/tests/unit_*) and every test script
# (tests/t_*.sh), adds up their "RESULT p passed, f failed" lines and ends
# with one line "N passed, N failed".  A program that dies without a RESULT
# line counts as one failure.  TESTS="t_posix unit_meta" runs a subset.
set -u
cd "$(dirname "$0")/.."
export CASSAFS=$PWD/build/cassafs TESTBIN=$PWD/build/tests
passed=0 failed=0
list=()
for f in build/tests/unit_* tests/t_*.sh; do
	[ -e "$f" ] || continue
	case "$f" in *.d) continue ;; esac
	name=$(basename "$f" .sh)
	if [ -n "${TESTS:-}" ] && ! grep -qw -- "$name" <<<"$TESTS"; then continue; fi
	list+=("$f")
done
# A daemon that crashes is a failure even where its test cannot see its
# exit status (a detached mount, one started by mount(8)): the kernel logs
# every segfault, and a test during which a cassafs process logged one
# fails.  Where the kernel log cannot be read, this check is skipped.
# The kernel's ring buffer drops old lines, so crashes are told apart by
# their timestamps (seconds since boot), not counted.
crash_lines() { dmesg 2>/dev/null | grep -E 'cassafs[^:]*\[[0-9]+\]: segfault|traps: cassafs'; }
last_crash() { crash_lines | tail -n 1 | sed -E 's/^\[ *([0-9.]+)\].*/\1/'; }
crashes_since() { crash_lines | awk -v t="${1:-0}" '{ s = $0; sub(/^\[ */, "", s); sub(/\].*/, "", s); if (s + 0 > t + 0) print }'; }
dmesg >/dev/null 2>&1 && can_dmesg=1 || can_dmesg=0
for f in "${list[@]}"; do
	name=$(basename "$f" .sh)
	log=build/test-logs/$name.log
	mkdir -p build/test-logs
	start=$(date +%s)
	[ $can_dmesg = 1 ] && c0=$(last_crash)
	timeout --kill-after=10 "${TEST_TIMEOUT:-1200}" "$f" >"$log" 2>&1
	rc=$?
	line=$(grep -E '^RESULT [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=$(awk '{print $2}' <<<"$line"); fl=$(awk '{print $4}' <<<"$line")
		if [ "$rc" -ne 0 ] && [ "$fl" -eq 0 ]; then fl=1; fi
	else
		p=0 fl=1
	fi
	if [ $can_dmesg = 1 ] && [ -n "$(crashes_since "$c0")" ]; then
		echo "FAIL: a cassafs process crashed during $name (kernel log):" >>"$log"
		crashes_since "$c0" | tail -n 5 >>"$log"
		fl=$((fl + 1))
	fi
	passed=$((passed + p)) failed=$((failed + fl))
	printf '%-28s %5d passed %3d failed  (%ds)\n' "$name" "$p" "$fl" $(( $(date +%s) - start ))
	if [ "$fl" -ne 0 ]; then
		echo "---- $log (last 30 lines) ----"
		grep -E '^(FAIL|not ok)' "$log" | head -n 20
		tail -n 30 "$log"
		echo "----"
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
