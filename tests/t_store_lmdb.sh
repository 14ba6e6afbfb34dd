#!/usr/bin/env bash
# The store conformance suite against the LMDB engine, in a scratch
# directory (every sync mode).
set -u
TESTBIN=${TESTBIN:-$(cd "$(dirname "$0")/.." && pwd)/build/tests}
dir=$(mktemp -d /tmp/cassafs-lmdb.XXXXXX)
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0
for q in "" "?sync=commit" "?sync=batch&commit_ms=20"; do
	echo "== lmdb://$dir/s$q"
	out=$("$TESTBIN/store_conformance" "lmdb://$dir/s$q" 2>&1)
	rc=$?
	echo "$out" | grep -v '^RESULT'
	line=$(grep -E '^RESULT' <<<"$out" | tail -n1)
	if [ -z "$line" ]; then failed=$((failed + 1)); continue; fi
	p=$(awk '{print $2}' <<<"$line") f=$(awk '{print $4}' <<<"$line")
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p)) failed=$((failed + f))
done
echo "RESULT $passed passed, $failed failed"
