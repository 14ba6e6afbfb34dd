#!/usr/bin/env bash
# The mount daemon as an operator meets it: SIGHUP reopens the log file
# (logrotate moves it away first) and does nothing else; SIGTERM unmounts
# cleanly (exit 0).
. "$(dirname "$0")/lib.sh"
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
LOG=$T_TMP/log
"$CASSAFS" mkfs "$URL" >/dev/null || { fail mkfs; finish; exit; }

# wait_for SECONDS COMMAND...: bounded poll until COMMAND succeeds
wait_for() { local n=$(($1 * 10)); shift; while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done; return 1; }

echo "== SIGHUP reopens the log file"
check "mount with a log file" mount_fs "$URL" "$MP" -o "log_file=$LOG"
pid=$(daemon_pid "$MP")
check "log written" grep -q "mounted $URL" "$LOG"
mv "$LOG" "$LOG.1"
kill -HUP "$pid"
check "a new log file appears after SIGHUP" wait_for 5 test -s "$LOG"
check "the new log says it was reopened" grep -q "reopened" "$LOG"
check "the daemon is still running" kill -0 "$pid"
check "the mount still works after SIGHUP" bash -c "echo hup >'$MP/f' && grep -qx hup '$MP/f'"
kill -HUP "$pid"; kill -HUP "$pid"
check "still mounted after three SIGHUPs" grep -q " $MP fuse" /proc/mounts
check "umount after SIGHUP (daemon exits 0)" umount_fs "$MP"
check "later messages go to the new log" grep -q "unmounted $URL" "$LOG"
check "nothing after the move went to the old log" bash -c "! grep -q unmounted '$LOG.1'"

echo "== SIGTERM unmounts cleanly"
check "mount" mount_fs "$URL" "$MP"
pid=$(daemon_pid "$MP")
kill -TERM "$pid"
check "the daemon ends after SIGTERM" wait_for 30 bash -c "! kill -0 $pid 2>/dev/null"
wait "$pid"; st=$?
check "the daemon exits 0 after SIGTERM (status $st)" [ "$st" -eq 0 ]
forget_daemon "$MP"
check "not mounted after SIGTERM" bash -c "! grep -q ' $MP fuse' /proc/mounts"
check "data written before is intact" bash -c "'$CASSAFS' fsck '$URL' >/dev/null"
finish
