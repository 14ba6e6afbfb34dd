#!/usr/bin/env bash
# Smoke test of the benchmark tools in bench/ (the benchmark itself is not
# part of `make test`): meta_bench on a plain temporary directory must list
# every file it made, report a positive rate for every operation and clean
# up after itself; bad arguments must fail with a message; run_core.sh in a
# tiny configuration on the plain target alone must produce the full table.
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# all COND…: true when every bracketed test in the string holds
all() { eval "$1"; }

TMP=$(mktemp -d /tmp/t_bench_smoke.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

if ! make -s -C bench >"$TMP/make.log" 2>&1; then
	bad "make -C bench: $(tail -n 5 "$TMP/make.log")"
	echo "RESULT $pass passed, $fail failed"
	exit 1
fi
MB=build/bench/meta_bench

# --- a full run over 300 files
mkdir "$TMP/d"
out=$("$MB" -n 300 "$TMP/d" 2>"$TMP/err"); rc=$?
check "meta_bench exits 0 (stderr: $(head -c 200 "$TMP/err"))" [ "$rc" -eq 0 ]
ops=$(awk '{ sub("op=", "", $2); printf "%s ", $2 }' <<<"$out")
check "one line per operation in order (got: $ops)" [ "$ops" = "create stat open readdir rename unlink mkdir rmdir " ]
for op in create stat open rename unlink mkdir rmdir; do
	n=$(awk -v op="$op" '$2 == "op=" op { sub("n=", "", $3); print $3 }' <<<"$out")
	check "$op counted 300 operations (n=$n)" [ "$n" = 300 ]
done
rd=$(awk '$2 == "op=readdir" { sub("n=", "", $3); print $3 }' <<<"$out")
check "readdir listed whole passes of 300 entries (n=$rd)" all '[ -n "$rd" ] && [ "$rd" -ge 300 ] && [ $((rd % 300)) -eq 0 ]'
positive=$(awk '{ sub("rate=", "", $5); if ($5 + 0 > 0) c++ } END { print c + 0 }' <<<"$out")
check "all 8 rates are positive ($positive)" [ "$positive" = 8 ]
units=$(awk '{ sub("unit=", "", $6); printf "%s ", $6 }' <<<"$out")
check "units (got: $units)" [ "$units" = "ops/s ops/s ops/s entries/s ops/s ops/s ops/s ops/s " ]
check "the work directory is removed afterwards" [ -z "$(ls -A "$TMP/d")" ]

# --- -k -o create leaves exactly the files behind (rss_check.sh relies on it)
"$MB" -k -o create -n 250 "$TMP/d" >/dev/null 2>&1
kept=$(find "$TMP/d" -mindepth 2 -type f | wc -l)
check "-k -o create keeps 250 files (found $kept)" [ "$kept" = 250 ]
rm -rf "${TMP:?}/d/"*

# --- lookup and getattr run only when named; a relative DIR works too
mkdir -p "$TMP/r"
out=$(cd "$TMP" && "$OLDPWD/$MB" -n 120 -o lookup,getattr r 2>"$TMP/err"); rc=$?
ops=$(awk '{ sub("op=", "", $2); sub("n=", "", $3); printf "%s:%s ", $2, $3 }' <<<"$out")
check "-o lookup,getattr on a relative DIR: exit 0, both timed over 120 (rc=$rc, $ops$(head -c 200 "$TMP/err"))" \
	all '[ "$rc" -eq 0 ] && [ "$ops" = "lookup:120 getattr:120 " ]'
check "and its work directory is removed" [ -z "$(ls -A "$TMP/r")" ]

# --- -x runs its command before the first phase and after each one
mkdir -p "$TMP/x"
"$MB" -n 20 -o create,lookup -x "echo \$MB_PHASE >>'$TMP/phases'" "$TMP/x" >/dev/null 2>"$TMP/err"; rc=$?
phases=$(tr '\n' ' ' <"$TMP/phases" 2>/dev/null)
check "-x hook: start create lookup (rc=$rc, got: $phases$(head -c 200 "$TMP/err"))" \
	all '[ "$rc" -eq 0 ] && [ "$phases" = "start create lookup " ]'
err=$("$MB" -n 5 -x false "$TMP/x" 2>&1); rc=$?
check "-x hook that fails stops the run with a message (rc=$rc: $err)" all '[ "$rc" -eq 1 ] && grep -q "failed after phase start" <<<"$err"'
rm -rf "${TMP:?}/x"

# --- bad arguments fail with a message and leave nothing behind
mkdir -p "$TMP/e"
err=$("$MB" -n 10 "$TMP/missing" 2>&1); rc=$?
check "missing directory: exit 1 naming it (rc=$rc: $err)" all '[ "$rc" -eq 1 ] && grep -q "$TMP/missing" <<<"$err"'
err=$("$MB" -o create,bogus "$TMP/e" 2>&1); rc=$?
check "unknown operation: exit 2 naming it (rc=$rc: $err)" all '[ "$rc" -eq 2 ] && grep -q "bogus" <<<"$err"'
err=$("$MB" -n 0 "$TMP/e" 2>&1); rc=$?
check "-n 0 rejected (rc=$rc: $err)" [ "$rc" -eq 2 ]
check "nothing created on bad arguments" [ -z "$(ls -A "$TMP/e")" ]

# --- run_core.sh end to end, plain target only, tiny sizes
if command -v fio >/dev/null; then
	table=$(bench/run_core.sh --no-loop --dir "$TMP" --targets plain -n 200 -r 1 \
		--seq-mib 8 --rand-mib 8 --rand-secs 1 2>"$TMP/core.err"); rc=$?
	check "run_core.sh exits 0 (rc=$rc; $(tail -n 2 "$TMP/core.err" | tr '\n' ' '))" [ "$rc" -eq 0 ]
	rows=$(grep -c '^| [a-z]' <<<"$table")
	check "table has the header and 12 workload rows ($rows)" [ "$rows" = 13 ]
	missing=$(awk -F'|' '/^\| (create|stat|open|readdir|rename|unlink|mkdir|rmdir|sequential|random)/ && $4 !~ /[0-9]/' <<<"$table")
	check "every plain cell holds a number${missing:+ (missing: $missing)}" [ -z "$missing" ]
	check "CassaFS and bindfs are reported as not selected" grep -q 'bindfs: n/a: not selected' <<<"$table"
	check "run_core.sh leaves no work directory" [ -z "$(find "$TMP" -maxdepth 1 -name 'cassafs-bench.*')" ]
else
	bad "fio is not installed (apt-get install fio; see .ci/packages.d/bench)"
fi

# --- run_dist.sh (the distributed benchmark needs servers and root, so
# only its argument handling here)
out=$(bench/run_dist.sh --help 2>&1); rc=$?
check "run_dist.sh --help exits 0 and lists --quick (rc=$rc)" all '[ "$rc" -eq 0 ] && grep -q -- "--quick" <<<"$out"'
err=$(bench/run_dist.sh --bogus 2>&1); rc=$?
check "run_dist.sh rejects an unknown argument (rc=$rc: $err)" all '[ "$rc" -eq 2 ] && grep -q -- "--bogus" <<<"$err"'
err=$(bench/run_dist.sh -n 0 2>&1); rc=$?
check "run_dist.sh rejects -n 0 (rc=$rc: $err)" [ "$rc" -eq 2 ]

# --- data_dist.sh and data_swift_mount.sh: argument handling; data_dist.sh
# also end to end on CassaFS alone (Redis + ZooKeeper on 127.0.0.1, tiny
# sizes; GlusterFS and Swift take too long to start for a smoke test)
for b in data_dist data_swift_mount; do
	out=$(bench/$b.sh --help 2>&1); rc=$?
	check "$b.sh --help exits 0 and lists --quick (rc=$rc)" all '[ "$rc" -eq 0 ] && grep -q -- "--quick" <<<"$out"'
	err=$(bench/$b.sh --bogus 2>&1); rc=$?
	check "$b.sh rejects an unknown argument (rc=$rc: $err)" all '[ "$rc" -eq 2 ] && grep -q -- "--bogus" <<<"$err"'
	err=$(bench/$b.sh -r 0 2>&1); rc=$?
	check "$b.sh rejects -r 0 (rc=$rc: $err)" [ "$rc" -eq 2 ]
done
if [ "$(id -u)" = 0 ] && [ -x build/cassafs ] && command -v fio redis-server >/dev/null &&
   [ -f /usr/share/java/zookeeper.jar ]; then
	table=$(DATADIST_PORT=${DATADIST_PORT:-26390} timeout 120 bench/data_dist.sh --no-gluster --dir "$TMP" -r 1 \
		--seq-mib 8 --rand-mib 4 --rand-secs 1 --redis-mib 16 --big-mib 16 2>"$TMP/dd.err"); rc=$?
	check "data_dist.sh --no-gluster exits 0 (rc=$rc; $(tail -n 2 "$TMP/dd.err" | tr '\n' ' '))" [ "$rc" -eq 0 ]
	missing=$(awk -F'|' '/^\| (sequential|random)/ && $4 !~ /[0-9]/' <<<"$table")
	rows=$(grep -c '^| \(sequential\|random\)' <<<"$table")
	check "data_dist.sh: 4 workload rows, each with a CassaFS figure ($rows${missing:+; missing: $missing})" \
		all '[ "$rows" = 4 ] && [ -z "$missing" ]'
	check "data_dist.sh: the Redis growth and RSS lines" \
		all 'grep -q "MiB per GiB" <<<"$table" && grep -q "peak [0-9]* MiB" <<<"$table"'
	check "data_dist.sh leaves no work directory, mount or server" \
		all '[ -z "$(find "$TMP" -maxdepth 1 -name "cassafs-datadist.*")" ] && ! grep -q cassafs-datadist /proc/mounts'
else
	echo "skip data_dist.sh end to end (needs root, build/cassafs, fio, redis-server, zookeeper)"
fi

echo "RESULT $pass passed, $fail failed"
[ "$fail" -eq 0 ]
