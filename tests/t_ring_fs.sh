#!/usr/bin/env bash
# The ring data tier end to end through FUSE (issue 10, "How it is
# checked"): a distributed filesystem (Redis store, ZooKeeper coordinator,
# both on 127.0.0.1) made with `cassafs mkfs --data ring://…/object.ring.gz`
# on four real swift-object-servers (zones 1-4) and a container server,
# mounted twice by two daemons; a write and read workload on both mounts
# (files written and fsync'ed on one, read and checked on the other), and
#   1. an object server killed under it: no read fails, no acknowledged
#      write is lost; `cassafs repair` then puts every object's R replicas
#      where the ring says;
#   2. a zone added, rebalance, write_ring, `cassafs move` under it: every
#      file readable throughout, replicas where the new ring says, the
#      builder's moved count;
#   3. fsck and gc on the ring tier, with objects a put left behind when it
#      failed quorum.
# Ports (this script only): object servers 26500-26504, container server
# 26520, Redis 6431, ZooKeeper 23281.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
. tests/ring/swift_cluster.sh
need swift-object-server "apt-get install swift-object"
need swift-container-server "apt-get install swift-container"
need swift-get-nodes "apt-get install swift"
need redis-server "apt-get install redis-server"
need java "apt-get install zookeeper default-jre-headless"
IO=$TESTBIN/data_ring_io
WL="python3 tests/ring/fs_workload.py"
ZKS=$PWD/tests/scripts/zk_server.sh
B=${RING_FS_PORT:-26500}
RPORT=6431 ZPORT=23281
D=$T_TMP
S=$D/sc
t_cleanup() {
	local mp
	for mp in "${T_MOUNTS[@]}"; do
		grep -q " $mp fuse" /proc/mounts && { timeout 20 "$CASSAFS" umount "$mp" >/dev/null 2>&1 || umount -l "$mp" 2>/dev/null; }
	done
	T_MOUNTS=()
	redis_kill "$D/redis"
	"$ZKS" stop "$D/zk" >/dev/null 2>&1
	swift_cluster_stop
	cleanup
}
trap t_cleanup EXIT

check "the Swift servers start" swift_cluster_start "$S" "$B" 4
U=$SC_URL
RING=$S/etc/object.ring.gz
redis_start $RPORT "$D/redis" || { fail "redis-server on $RPORT"; finish; exit 1; }
"$ZKS" start "$D/zk" $ZPORT || { fail "ZooKeeper on $ZPORT"; finish; exit 1; }
STORE="redis://127.0.0.1:$RPORT/0?timeout=2&connect_timeout=1"
COORD="zk://127.0.0.1:$ZPORT/cfs?session_timeout=4000"
MA=$D/mA MB=$D/mB
# ZooKeeper credentials: in a mode-600 file, never on a command line
(umask 077; printf 'cassafs:zkpw-%s\n' "$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$D/zk.cred")
export CASSAFS_ZK_CREDENTIALS_FILE=$D/zk.cred
unset CASSAFS_ZK_AUTH CASSAFS_REDIS_PASSWORD

keys() { "$IO" "$U" list | awk '{print $1}' | sort; }
copies() { sc_copies "$RING" <"$1"; } # KEYFILE: "KEY N", N copies on all devices
# workload_start TAG SECS: two workers, A→B and B→A, until $D/stop-TAG
workload_start() {
	rm -f "$D/stop-$1"
	mkdir -p "$MA/$1.a" "$MA/$1.b"
	$WL run "$MA/$1.a" "$MB/$1.a" "$D/$1.a.log" "$D/stop-$1" "$2" >"$D/$1.a.out" 2>"$D/$1.a.err" &
	wa=$!
	$WL run "$MB/$1.b" "$MA/$1.b" "$D/$1.b.log" "$D/stop-$1" "$2" >"$D/$1.b.out" 2>"$D/$1.b.err" &
	wb=$!
}
# workload_stop TAG: both workers exit 0 (no failed write, read or check)
workload_stop() {
	local ra rb
	touch "$D/stop-$1"
	wait $wa; ra=$?
	wait $wb; rb=$?
	check "$1: A writes, B reads: no failure ($(cat "$D/$1.a.out"); $(head -n 3 "$D/$1.a.err"))" test $ra = 0
	check "$1: B writes, A reads: no failure ($(cat "$D/$1.b.out"); $(head -n 3 "$D/$1.b.err"))" test $rb = 0
}
# wait_writes TAG N: each worker has acknowledged N files (bounded: 60 s)
wait_writes() {
	local i
	for i in $(seq 300); do
		[ "$(cat "$D/$1.a.log" 2>/dev/null | wc -l)" -ge "$2" ] &&
			[ "$(cat "$D/$1.b.log" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
		sleep 0.2
	done
	echo "$1: fewer than $2 files written by a worker" >&2; return 1
}
# wait_more TAG K: each worker acknowledges K more files from now
wait_more() {
	local a b i
	a=$(cat "$D/$1.a.log" 2>/dev/null | wc -l) b=$(cat "$D/$1.b.log" 2>/dev/null | wc -l)
	for i in $(seq 300); do
		[ "$(cat "$D/$1.a.log" 2>/dev/null | wc -l)" -ge $((a + $2)) ] &&
			[ "$(cat "$D/$1.b.log" 2>/dev/null | wc -l)" -ge $((b + $2)) ] && return 0
		sleep 0.2
	done
	echo "$1: a worker did not write $2 more files in 60 s" >&2; return 1
}
# reloaded LOG N: the daemon logged loading the object ring with N devices
reloaded() {
	local i
	for i in $(seq 150); do
		grep -q "reloaded .*object.ring.gz ($2 devices" "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "$1: no reload of a ring with $2 devices in 30 s" >&2; return 1
}
verify_all() { # on both mounts: every file acknowledged so far
	local t m
	for m in "$MA" "$MB"; do
		for t in "$@"; do
			$WL verify "$m/$t.a" "$D/$t.a.log" >/dev/null || return 1
			$WL verify "$m/$t.b" "$D/$t.b.log" >/dev/null || return 1
		done
	done
}

check "mkfs --data ring://" "$CASSAFS" mkfs --data "$U" "$STORE"
check "status names the ring tier" grep -q "data tier    ring://" <<<"$("$CASSAFS" status --coord "$COORD" "$STORE")"
check "mount A" mount_fs "$STORE" "$MA" --coord "$COORD" -o "log_file=$D/logA"
check "mount B" mount_fs "$STORE" "$MB" --coord "$COORD" -o "log_file=$D/logB"
[ "$(daemon_pid "$MA")" != "$(daemon_pid "$MB")" ] && ok || fail "two daemons expected"

# ---- 1. an object server killed under the workload ----
workload_start kill 120
check "kill: files written and read across the mounts" wait_writes kill 3
check "object server 2 killed" swift_obj_kill 2
n0=$(cat "$D/kill.a.log" "$D/kill.b.log" | wc -l)
check "kill: the workload goes on with the server down" wait_writes kill $(( n0 / 2 + 4 ))
workload_stop kill
check "every acknowledged file reads back on both mounts, server still down" verify_all kill
"$CASSAFS" status "$U" >"$D/st.txt"
check "status shows the killed server's device down" grep -qE '127.0.0.1:'$((B + 1))' +d2 .* down$' "$D/st.txt"
check "object server 2 restarts" swift_obj_start 2
t_back=$(date +%s%N)
out=$("$CASSAFS" repair "$U" 2>"$D/rep.err"); rc=$?
check "repair after the outage exits 0 ($out)" test $rc = 0
check "repair restored the replicas the dead server missed ($out)" grep -qvE ' 0 restored' <<<"$out"
out=$("$CASSAFS" repair --quick "$U" 2>/dev/null)
check "then every object has three good replicas on its primaries ($out)" grep -q ' 0 restored, 0 placed on handoffs' <<<"$out"
keys >"$D/keys.kill"
check "every object is on its three primaries (Swift's ring code, curl)" sc_placed "$RING" 3 <"$D/keys.kill"
check "every file reads back after repair" verify_all kill

# ---- 2. a zone added, rebalance, move under the workload ----
# A daemon skips a device that failed for 10 s (SUPPRESS_S in data_ring.c)
# and puts to a handoff instead: files written then would be on handoffs
# until a repair, not where the ring says.  Phase 2 starts once that time
# has passed since server 2 came back (mostly already: repair took longer).
left=$(( (t_back + 10500000000 - $(date +%s%N)) / 1000000 ))
[ $left -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
keys >"$D/keys.before"
cp "$RING" "$D/old.ring.gz"
workload_start move 240
check "move: files written and read across the mounts" wait_writes move 3
check "a fifth object server starts" swift_obj_add 5
BLD=$S/etc/object.builder
"$CASSAFS" ring "$BLD" set_min_part_hours 1 >/dev/null
"$CASSAFS" ring "$BLD" pretend_min_part_hours_passed >/dev/null
check "zone 5 joins the ring" "$CASSAFS" ring "$BLD" add "r1z5-127.0.0.1:$((B + 4))/d5" 100
"$CASSAFS" ring "$BLD" rebalance --seed 2 >"$D/rebal.out"
check "write_ring" "$CASSAFS" ring "$BLD" write_ring
moved=$(sed -nE 's/^Moved ([0-9]+) part-replicas.*/\1/p' "$D/rebal.out")
check "the builder moved part-replicas ($(cat "$D/rebal.out"))" test "${moved:-0}" -gt 0
# the daemons reload the ring when its file changes (checked once a
# second); a file acknowledged after that went through the new ring, so
# no put with the old one is still in flight: move's second listing (after
# --settle seconds from the ring's change; by default the longest a put can
# take, 21 s with this URL) need not wait long
check "mount A loaded the new ring" reloaded "$D/logA" 5
check "mount B loaded the new ring" reloaded "$D/logB" 5
check "move: the workload goes on with the new ring" wait_more move 1
"$CASSAFS" move --settle 3 --old "$D/old.ring.gz" "$U" >"$D/move.out" 2>"$D/move.err"; rc=$?
check "move exits 0 ($(tail -n 1 "$D/move.out"); $(grep -v "objects, " "$D/move.err" | head -n 3))" test $rc = 0
check "move counts the part-replicas the builder reported ($moved)" grep -qx "move: the ring moved $moved part-replicas" "$D/move.out"
check "move copied replicas and removed old copies" grep -qE 'replicas copied \([0-9]+ already in place\), [1-9][0-9]* old copies removed' "$D/move.out"
check "move: the workload goes on after the move" wait_more move 2
workload_stop move
check "every file acknowledged before and during the move reads back on both mounts" verify_all kill move
keys >"$D/keys.after"
check "after the move every object is on the new ring's three primaries" sc_placed "$RING" 3 <"$D/keys.after"
comm -13 "$D/keys.before" "$D/keys.after" >"$D/keys.new"
# RING_FS_KEEP=DIR keeps the placement, listings and daemon logs for a post-mortem
if [ -n "${RING_FS_KEEP:-}" ]; then
	mkdir -p "$RING_FS_KEEP"
	find "$S"/obj*/ -name '*.data' -printf '%p %TT\n' >"$RING_FS_KEEP/datafiles"
	sc_nodes "$RING" <"$D/keys.after" >"$RING_FS_KEEP/nodes.new"
	sc_nodes "$D/old.ring.gz" <"$D/keys.after" >"$RING_FS_KEEP/nodes.old"
	cp "$D"/keys.* "$D"/move.* "$D"/logA "$D"/logB "$RING_FS_KEEP/"; ls -l --time-style=+%T "$RING" >"$RING_FS_KEEP/ringtime"
fi
check "the workload made new objects during the move ($(wc -l <"$D/keys.new"))" test -s "$D/keys.new"
copies "$D/keys.new" >"$D/copies.new"
check "objects made during the move are nowhere else (old copies removed): $(awk '$2 != 3' "$D/copies.new" | head -n 3)" \
	test -z "$(awk '$2 != 3' "$D/copies.new")"
out=$("$CASSAFS" status --json "$U")
check "status shows five devices, d5 holding objects" python3 -c '
import json,sys; s=json.loads(sys.argv[1]); d=s["devices"]
assert len(d)==5 and [x for x in d if x["device"]=="d5"][0]["objects"]>0, d' "$out"

# ---- 3. fsck and gc on the ring tier ----
check "unmount A" umount_fs "$MA"
check "unmount B" umount_fs "$MB"
out=$("$CASSAFS" fsck --coord "$COORD" "$STORE" 2>&1); rc=$?
check "fsck clean ($out)" test "$rc" -eq 0
out=$("$CASSAFS" gc --coord "$COORD" --dry-run "$STORE" 2>&1)
check "gc finds nothing to delete ($out)" grep -q "; 0 objects (0 bytes) without references would be deleted" <<<"$out"
# a put that fails quorum (one of five servers up) leaves a copy behind, in
# the key form the layout uses (UUID/16 hex digits), referenced by nothing
uuid=$(sed -n 's/^uuid *//p' <<<"$("$CASSAFS" status --coord "$COORD" "$STORE")")
printf 'leaked' >"$D/leak"
for n in 2 3 4 5; do swift_obj_kill $n; done
expect_error "with one of five servers up a put fails quorum" "Input/output error" \
	"$IO" "$U" put "$uuid/00000000deadbeef" "$D/leak"
for n in 2 3 4 5; do check "object server $n restarts" swift_obj_start $n; done
echo "$uuid/00000000deadbeef" >"$D/keys.leak"
check "the failed put left a copy on disk" test "$(copies "$D/keys.leak" | awk '{print $2}')" -ge 1
out=$("$CASSAFS" gc --coord "$COORD" --dry-run "$STORE" 2>&1)
check "gc --dry-run counts the left object ($out)" grep -q "; 1 objects (6 bytes) without references would be deleted" <<<"$out"
out=$("$CASSAFS" gc --coord "$COORD" "$STORE" 2>&1)
check "gc deletes it ($out)" grep -q "; 1 objects (6 bytes) without references deleted" <<<"$out"
expect_error "the left object is gone" "No such file" "$IO" "$U" get "$uuid/00000000deadbeef"
out=$("$CASSAFS" fsck --coord "$COORD" "$STORE" 2>&1); rc=$?
check "fsck still clean after gc ($out)" test "$rc" -eq 0
check "mount A again" mount_fs "$STORE" "$MA" --coord "$COORD" -o "log_file=$D/logA2"
check "every file reads back on a fresh mount after gc" $WL verify "$MA/kill.a" "$D/kill.a.log"
check "… and the move phase's too" $WL verify "$MA/move.b" "$D/move.b.log"
# a referenced object lost on every device is what fsck reports
check "unmount A again" umount_fs "$MA"
k=$(tail -n 1 "$D/keys.after")
check "an object deleted from the tier" "$IO" "$U" del "$k"
out=$("$CASSAFS" fsck --coord "$COORD" "$STORE" 2>&1); rc=$?
check "fsck exit 4 for the missing object ($rc)" test "$rc" -eq 4
check "fsck names it ($out)" grep -q "referenced objects are missing" <<<"$out"
finish
