#!/usr/bin/env bash
# Crash test: kill -9 the daemon at random instants under a write-heavy
# load; each time fsck must find the filesystem clean and, after a new
# mount, every fsync'ed byte must be there.  ROUNDS (default 12).
# CRASH_TIER=file keeps the contents in a file:// data tier (t_crash_file).
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-12}
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
J=$T_TMP/journal
DATA=store
[ "${CRASH_TIER:-}" = file ] && DATA="file://$T_TMP/objects"
"$CASSAFS" mkfs --data "$DATA" "$URL" >/dev/null || { fail mkfs; finish; exit; }
: >"$J"
for round in $(seq 1 "$ROUNDS"); do
	mount_fs "$URL" "$MP" || { fail "round $round: mount"; break; }
	pid=$(daemon_pid "$MP")
	"$TESTBIN/crash_load" run "$MP" "$J" "$round" 2>/dev/null &
	load=$!
	# 0.2 .. 2.0 s of load, then kill -9 the daemon mid-flight
	sleep "$(awk -v r=$RANDOM 'BEGIN{printf "%.2f", 0.2 + (r % 180) / 100}')"
	kill -9 "$pid"
	wait "$load" 2>/dev/null
	umount -l "$MP" 2>/dev/null || fusermount3 -uz "$MP"
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	forget_daemon "$MP"
	out=$("$CASSAFS" fsck "$URL" 2>&1); rc=$?
	if [ "$rc" -eq 0 ]; then ok; else fail "round $round: fsck exit $rc: $out"; fi
	mount_fs "$URL" "$MP" || { fail "round $round: remount"; break; }
	res=$("$TESTBIN/crash_load" check "$MP" "$J" 2>&1)
	if grep -q "RESULT [0-9]* passed, 0 failed" <<<"$res"; then ok; else fail "round $round: $(grep -E 'FAIL|RESULT' <<<"$res" | head -5)"; fi
	umount_fs "$MP" || fail "round $round: umount"
	echo "round $round: $(grep checked <<<"$res"), fsck: $(tail -1 <<<"$out")"
done
# After the last remount the orphans of the crashes must be gone.
out=$("$CASSAFS" fsck "$URL" 2>&1)
check "no orphans left after remounts" grep -q "0 problems" <<<"$out"
if grep -q "unlinked-but-open" <<<"$out"; then fail "orphans survived a mount: $out"; else ok; fi
# Objects a kill left between upload and commit: gc (nothing mounted)
# deletes them, and then fsck finds every object referenced.
gcout=$("$CASSAFS" gc "$URL" 2>&1)
check "gc after the crashes: $gcout" grep -q "without references deleted" <<<"$gcout"
out=$("$CASSAFS" fsck "$URL" 2>&1)
if grep -q "without references" <<<"$out"; then fail "objects left unreferenced after gc: $out"; else ok; fi
check "fsck clean after gc" grep -q " 0 problems" <<<"$out"
finish
