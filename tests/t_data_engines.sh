#!/usr/bin/env bash
# The data-tier conformance program (tests/data/data_conformance.c) against
# every engine that runs here without a server: store (in a scratch LMDB
# store) and file:///DIR.  More URLs (swift://, s3://, ring://, started by
# their own tests) can be given in DATA_URLS, separated by spaces.
set -u
TESTBIN=${TESTBIN:-$(cd "$(dirname "$0")/.." && pwd)/build/tests}
dir=$(mktemp -d /tmp/cassafs-data.XXXXXX)
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0
run() {
	echo "== $*"
	out=$("$TESTBIN/data_conformance" "$@" 2>&1)
	rc=$?
	echo "$out" | grep -v '^RESULT'
	line=$(grep -E '^RESULT' <<<"$out" | tail -n1)
	if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
	p=$(awk '{print $2}' <<<"$line") f=$(awk '{print $4}' <<<"$line")
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p)) failed=$((failed + f))
}
run store "lmdb://$dir/meta"
run "file://$dir/objects"
# the file engine leaves no temporary file behind, and makes its fan-out
if [ "$(find "$dir/objects" -name '.tmp.*' | wc -l)" -eq 0 ] &&
   [ "$(find "$dir/objects" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 256 ]; then
	passed=$((passed + 1))
else
	echo "FAIL: file engine left temporary files or lacks its fan-out"; failed=$((failed + 1))
fi
# a temporary file a crash left is removed by prepare, never listed
mkdir -p "$dir/o2/00"; echo torn >"$dir/o2/00/.tmp.x.1.1"
run "file://$dir/o2"
if [ ! -e "$dir/o2/00/.tmp.x.1.1" ]; then passed=$((passed + 1)); else
	echo "FAIL: prepare kept a crash's temporary file"; failed=$((failed + 1)); fi
for u in ${DATA_URLS:-}; do run "$u"; done
echo "RESULT $passed passed, $failed failed"
