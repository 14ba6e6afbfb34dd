#!/usr/bin/env bash
# fsync on the Redis engine, against a real master + replica on loopback
# (ports 6521, 6522): fsync, fdatasync and writes through O_SYNC return
# only once the replica holds the data (WAIT), which the test makes
# visible by stopping the replica (SIGSTOP) for a second; and `cassafs
# status` and mount warn when the master's appendfsync is not 'always'
# (or when CONFIG cannot tell).
. "$(dirname "$0")/lib.sh"
MPORT=6521 RPORT=6522
D=$T_TMP
for p in $MPORT $RPORT; do mkdir -p "$D/r$p"; done
redis_start() { # PORT EXTRA-ARGS...
	local p=$1; shift
	redis-server --port "$p" --bind 127.0.0.1 --dir "$D/r$p" --daemonize yes \
		--pidfile "$D/r$p/pid" --logfile "$D/r$p/log" --save '' \
		--appendonly yes --enable-debug-command local "$@" || return 1
	for _ in $(seq 50); do redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
	return 1
}
redis_stop() { [ -s "$D/r$1/pid" ] && { kill -CONT "$(cat "$D/r$1/pid")"; kill -9 "$(cat "$D/r$1/pid")"; } 2>/dev/null; rm -f "$D/r$1/pid"; }
trap 'for mp in "${T_MOUNTS[@]}"; do "$CASSAFS" umount "$mp" >/dev/null 2>&1; done; redis_stop $MPORT; redis_stop $RPORT; cleanup' EXIT
ms() { date +%s%3N; }
digest() { timeout 5 redis-cli -p "$1" DEBUG DIGEST; }

check "master starts (appendfsync always)" redis_start $MPORT --appendfsync always
check "replica starts" redis_start $RPORT --replicaof 127.0.0.1 $MPORT
for _ in $(seq 100); do
	redis-cli -p $MPORT info replication | grep -q '^connected_slaves:1' &&
		redis-cli -p $RPORT info replication | grep -q 'master_link_status:up' && break
	sleep 0.1
done
check "replica attached" bash -c "redis-cli -p $MPORT info replication | grep -q '^connected_slaves:1'"
URL="redis://127.0.0.1:$MPORT/0?timeout=5"
COORD="local://$D/coord"
mkdir -p "$D/coord"
check "mkfs" "$CASSAFS" mkfs "$URL"
out=$("$CASSAFS" status --coord "$COORD" "$URL" 2>&1)
check "no durability warning with appendfsync always ($out)" bash -c "! grep -qi 'durability' <<<'$out'"
check "mount" mount_fs "$URL" "$T_TMP/mnt" --coord "$COORD"
MP=$(realpath "$T_TMP/mnt")
head -c 300000 /dev/urandom >"$D/data"
RPID=$(cat "$D/r$RPORT/pid")

# stopped_sync NAME COMMAND...: run COMMAND (it must write and sync) while
# the replica is stopped for 1 s; it must end only after the replica runs
# again, and the replica must then hold exactly the master's data.
stopped_sync() {
	local name=$1; shift
	local t0 tcont tdone rc
	kill -STOP "$RPID"
	t0=$(ms)
	( "$@"; echo "$? $(ms)" >"$D/done" ) &
	local job=$!
	sleep 1
	tcont=$(ms)
	read -r rc tdone <<<"$( [ -s "$D/done" ] && cat "$D/done" || echo "- -")"
	kill -CONT "$RPID"
	wait "$job"
	read -r rc tdone <"$D/done"; rm -f "$D/done"
	check "$name succeeds" [ "$rc" -eq 0 ]
	echo "$name: returned $((tdone - t0)) ms after it started; the replica ran again after $((tcont - t0)) ms"
	check "$name returns only after the replica has the data ($((tdone - t0)) ms >= $((tcont - t0)) ms)" [ "$tdone" -ge "$tcont" ]
	local dm dr
	dm=$(digest $MPORT); dr=$(digest $RPORT)
	check "$name: right after it returned the replica holds the master's data" [ "${dm:-none}" = "${dr:-other}" ]
}
stopped_sync "write + fsync (dd conv=fsync)" dd if="$D/data" of="$MP/f1" bs=64k conv=fsync status=none
stopped_sync "write + fdatasync (dd conv=fdatasync)" dd if="$D/data" of="$MP/f2" bs=64k conv=fdatasync status=none
stopped_sync "write through O_SYNC (dd oflag=sync)" dd if="$D/data" of="$MP/f3" bs=64k count=1 oflag=sync status=none
check "data intact" bash -c "cmp '$D/data' '$MP/f1' && cmp '$D/data' '$MP/f2'"

# a replica that does not answer in time: fsync reports the failure
kill -STOP "$RPID"
out=$(timeout 30 dd if="$D/data" of="$MP/f4" bs=64k conv=fsync status=none 2>&1); rc=$?
kill -CONT "$RPID"
check "fsync fails (EIO) when the replica does not acknowledge in time (rc $rc: $out)" bash -c "[ $rc -ne 0 ] && grep -qi 'input/output' <<<'$out'"
check "umount" umount_fs "$MP"

# appendfsync everysec: status and mount warn
redis-cli -p $MPORT config set appendfsync everysec >/dev/null
out=$("$CASSAFS" status --coord "$COORD" "$URL" 2>&1)
check "status warns about appendfsync everysec" grep -q "durability   warning: the server's appendfsync is 'everysec'" <<<"$out"
out=$("$CASSAFS" mount --coord "$COORD" "$URL" "$MP" 2>&1)
T_MOUNTS+=("$MP")
check "mount warns about appendfsync everysec ($out)" grep -q "warning: .*appendfsync is 'everysec'" <<<"$out"
"$CASSAFS" umount "$MP"
# CONFIG renamed away: the warning says the setting cannot be read
redis_stop $RPORT; redis_stop $MPORT
rm -rf "$D/r$MPORT"; mkdir -p "$D/r$MPORT"
printf 'rename-command CONFIG ""\n' >"$D/noconfig.conf"
check "master without CONFIG starts" bash -c "redis-server '$D/noconfig.conf' --port $MPORT --bind 127.0.0.1 --dir '$D/r$MPORT' --daemonize yes --pidfile '$D/r$MPORT/pid' --save '' --appendonly yes && sleep 0.5"
check "mkfs (no CONFIG)" "$CASSAFS" mkfs "$URL"
out=$("$CASSAFS" status --coord "$COORD" "$URL" 2>&1)
check "status says appendfsync cannot be read ($out)" grep -q "durability   warning: cannot read the server's appendfsync" <<<"$out"
finish
