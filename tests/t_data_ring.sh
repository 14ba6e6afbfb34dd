#!/usr/bin/env bash
# The ring data tier (src/data_ring.c) against real Swift servers (four
# swift-object-servers, one device each in zones 1-4, a container server;
# rings from `cassafs ring`), driven through data.h by data_ring_io:
# put/get/range/del/list, placement as Swift's own swift-get-nodes says,
# quorum, a corrupt replica, an object server killed under a write and read
# workload (no failed read, no lost acknowledged write), a wiped device and
# `cassafs repair`, `cassafs status` per device.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ring/swift_cluster.sh"
need swift-object-server "apt-get install swift-object"
need swift-container-server "apt-get install swift-container"
need swift-get-nodes "apt-get install swift"
IO=$TESTBIN/data_ring_io
B=${DATA_RING_PORT:-26300}
S=$T_TMP/sc
trap 'swift_cluster_stop; cleanup' EXIT

check "the cluster starts" swift_cluster_start "$S" "$B" 4
U=$SC_URL
RING=$S/etc/object.ring.gz

# Placement is checked against Swift's own ring code: sc_nodes (one Python
# for many keys, what swift-get-nodes runs), itself checked against
# swift-get-nodes below; the copies are asked for with curl, not our code.
placed() { printf '%s\n' "$@" | sc_placed "$RING" 3; }
logkeys() { awk '{print $1}' "$1"; }
hashdir() { echo "$1" | sc_nodes "$RING" | awk '{print $2}'; }
datafiles() { find "$S"/obj*/ -path "*/$1/*" -name '*.data' 2>/dev/null; }
copies() { sc_copies "$RING"; } # < KEYS: "KEY N", N copies on all devices
# on_handoffs KEY: how many .data files of KEY are on devices that are not
# its primaries (Swift's ring code names them)
on_handoffs() {
	local l h devs
	l=$(echo "$1" | sc_nodes "$RING")
	h=$(awk '{print $2}' <<<"$l")
	devs=$(awk '{for (i = 3; i <= NF; i++) { split($i, a, "/"); print a[4] }}' <<<"$l" | paste -sd'|')
	datafiles "$h" | grep -cvE "/($devs)/objects/"
}
# first_primary KEY: the number N of the object server (device dN) that is
# its first primary
first_primary() {
	echo "$1" | sc_nodes "$RING" | awk '{split($3, a, "/"); print substr(a[4], 2)}'
}
# wait_lines FILE N: FILE has N lines (a workload acknowledged N objects);
# bounded: 60 s
wait_lines() {
	local i
	for i in $(seq 600); do
		[ "$(cat "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "$1: fewer than $2 lines after 60 s" >&2; return 1
}
# gets_nodes KEY: swift-get-nodes (Swift's tool) and sc_nodes name the same
# primaries and hash
gets_nodes() {
	local o a b
	o=$(swift-get-nodes "$RING" cassafs data "$1")
	a=$( { sed -nE 's/^Hash[[:space:]]+([0-9a-f]+).*/\1/p' <<<"$o"
		grep '^curl -g -I -XHEAD' <<<"$o" | grep -v Handoff |
			sed -E 's/^curl -g -I -XHEAD "([^"]*)".*/\1/'; } | tr '\n' ' ')
	b=$(echo "$1" | sc_nodes "$RING" | cut -d' ' -f2- | tr ' ' '\n' | tr '\n' ' ')
	[ "$a" = "$b" ] || { echo "swift-get-nodes: $a; sc_nodes: $b" >&2; return 1; }
}

check "prepare creates the container" "$IO" "$U" prepare
head -c 300000 /dev/urandom >"$T_TMP/f1"
check "put" "$IO" "$U" put obj/one "$T_TMP/f1"
"$IO" "$U" get obj/one >"$T_TMP/g1"
check "get returns the bytes put" cmp -s "$T_TMP/f1" "$T_TMP/g1"
"$IO" "$U" get obj/one 1000 5000 >"$T_TMP/g2"
check "a range get" cmp -s "$T_TMP/g2" <(tail -c +1001 "$T_TMP/f1" | head -c 5000)
"$IO" "$U" get obj/one 299990 100 >"$T_TMP/g3"
check "a range over the end stops at the end" test "$(stat -c %s "$T_TMP/g3")" = 10
"$IO" "$U" get obj/one 400000 100 >"$T_TMP/g4"
check "a range past the end reads nothing" test ! -s "$T_TMP/g4"
check "swift-get-nodes and sc_nodes agree on where it goes" gets_nodes obj/one
check "the primaries Swift's ring names hold it" placed obj/one
H=$(hashdir obj/one)
check "exactly three copies on disk" test "$(datafiles "$H" | wc -l)" = 3
printf 'x' >"$T_TMP/f2"
check "a key with %?#&=+ and slashes" "$IO" "$U" put 'odd/.key%?#&=+' "$T_TMP/f2"
check "swift-get-nodes and sc_nodes agree on it too" gets_nodes 'odd/.key%?#&=+'
check "the primaries Swift's ring names hold it" placed 'odd/.key%?#&=+'
check "it reads back" test "$("$IO" "$U" get 'odd/.key%?#&=+')" = x
expect_error "a key with a space is refused" "Invalid argument" "$IO" "$U" put 'has space' "$T_TMP/f2"
check "an empty object" "$IO" "$U" put obj/empty /dev/null
"$IO" "$U" get obj/empty >"$T_TMP/g5"; check "reads back empty" test $? = 0 -a ! -s "$T_TMP/g5"
"$IO" "$U" list >"$T_TMP/list"
check "list names every object with its size" grep -qx 'obj/one 300000' "$T_TMP/list"
check "list: three objects" test "$(wc -l <"$T_TMP/list")" = 3
check "list with a prefix" test "$("$IO" "$U" list obj/ | wc -l)" = 2
expect_error "a missing object is ENOENT" "No such file" "$IO" "$U" get obj/none
expect_error "a key too long" "Invalid argument" "$IO" "$U" put "$(printf 'k%.0s' $(seq 300))" "$T_TMP/f2"
expect_error "bad URL option" "unknown option 'bogus'" "$IO" "ring://$RING?bogus=1" list
expect_error "hashers out of range" "hashers=9: expected 0 to 4" "$IO" "ring://$RING?hashers=9" list
"$IO" "$U&hashers=0" get obj/one >"$T_TMP/g6"
check "a get hashing on the transfer thread (hashers=0) returns the bytes put" cmp -s "$T_TMP/f1" "$T_TMP/g6"
expect_error "relative ring path" "absolute path" "$IO" "ring://x/object.ring.gz" list
expect_error "missing ring file" "No such file" "$IO" "ring:///nonexistent/object.ring.gz" list
check "del" "$IO" "$U" del obj/one
expect_error "gone after del" "No such file" "$IO" "$U" get obj/one
check "del of a missing object is fine" "$IO" "$U" del obj/one
check "gone from the listing" test "$("$IO" "$U" list obj/ | wc -l)" = 1
check "tombstones on every device: the three primaries and the handoff (a delete reaches copies left on handoffs)" test "$(find "$S"/obj*/ -path "*/$H/*" -name '*.ts' | wc -l)" = 4

# ---- quorum: 2 of 3 replicas must answer ----
swift_obj_kill 1; swift_obj_kill 2
ok_q=0
for i in $(seq 10); do "$IO" "$U" put "q/two-down-$i" "$T_TMP/f2" && ok_q=$((ok_q + 1)); done
check "with two of four servers down every put still reaches a quorum (handoffs)" test $ok_q = 10
swift_obj_kill 3
expect_error "with one of four servers left a put fails" "Input/output error" "$IO" "$U" put q/three-down "$T_TMP/f2"
check "server 1 restarts" swift_obj_start 1
check "server 2 restarts" swift_obj_start 2
check "server 3 restarts" swift_obj_start 3
for i in $(seq 10); do
	check "q/two-down-$i reads back" test "$("$IO" "$U" get "q/two-down-$i")" = x
done
# a put while primaries were down left copies on handoffs: a delete must
# reach them, or a read that finds no copy on the primaries goes on to the
# handoffs and finds it again
k=$(for i in $(seq 10); do echo "q/two-down-$i"; done |
	while read -r x; do [ "$(on_handoffs "$x")" -gt 0 ] && { echo "$x"; break; }; done)
check "one of them has a copy on a handoff (${k:-none})" test -n "$k"
H=$(hashdir "${k:-q/two-down-1}")
check "del $k" "$IO" "$U" del "$k"
expect_error "$k is gone after the delete (no copy left on a handoff)" "No such file" "$IO" "$U" get "$k"
check "no copy of it left on any device" test "$(datafiles "$H" | wc -l)" = 0
QKEYS=$(for i in $(seq 10); do [ "q/two-down-$i" != "$k" ] && echo "q/two-down-$i"; done)
hand0=0
for x in $QKEYS; do hand0=$((hand0 + $(on_handoffs "$x"))); done
check "the others have copies on handoffs too ($hand0)" test "$hand0" -gt 0

# ---- a corrupt replica: reads go around it, repair replaces it ----
head -c 200000 /dev/urandom >"$T_TMP/f3"
"$IO" "$U" put obj/rot "$T_TMP/f3"
H=$(hashdir obj/rot)
f=$(datafiles "$H" | head -n 1)
printf 'ROT' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
bad=0
for i in $(seq 12); do "$IO" "$U" get obj/rot | cmp -s - "$T_TMP/f3" || bad=$((bad + 1)); done
check "12 reads with one corrupt replica all return the right bytes" test $bad = 0
out=$("$CASSAFS" repair --prefix obj/rot "$U" 2>"$T_TMP/rep.err"); rc=$?
check "repair exits 0 ($out)" test $rc = 0
check "repair restored one replica ($out)" grep -q '^repair: 1 objects, 2 good replicas found, 1 restored' <<<"$out"
good=0
for g in $(datafiles "$H"); do cmp -s "$g" "$T_TMP/f3" && good=$((good + 1)); done
check "after repair all three copies on disk are good" test "$good" = 3
out=$("$CASSAFS" repair "$U" 2>"$T_TMP/rep.err"); rc=$?
check "repair of everything exits 0 ($out)" test $rc = 0
check "objects written while two servers were down are on all three primaries after repair" \
	placed $QKEYS
check "repair brought handoff copies home and removed them ($out)" \
	grep -qE ' [1-9][0-9]* brought home from handoffs, [1-9][0-9]* handoff copies removed' <<<"$out"
hand=0
for x in $QKEYS; do hand=$((hand + $(on_handoffs "$x"))); done
check "no copy of them is left on a handoff ($hand)" test "$hand" = 0
check "… and exactly three copies of each" test -z "$(printf '%s\n' $QKEYS | copies | awk '$2 != 3')"
for x in $QKEYS; do "$IO" "$U" get "$x" >/dev/null || echo "$x" >>"$T_TMP/qbad"; done
check "they all read back" test ! -s "$T_TMP/qbad"
out=$("$CASSAFS" repair "$U" 2>/dev/null)
check "a second repair restores nothing ($out)" grep -q ' 0 restored, 0 placed on handoffs (0 replicas on devices that did not answer), 0 brought home from handoffs, 0 handoff copies removed' <<<"$out"

# ---- a delete that a device missed is not undone when the device returns ----
# newest wins: the delete's tombstone is newer than the copy the down
# device kept; repair puts the tombstone there instead of copying the old
# object back (the delete left a hint, as no listing names the object)
head -c 50000 /dev/urandom >"$T_TMP/f4"
check "put obj/del-down" "$IO" "$U" put obj/del-down "$T_TMP/f4"
H=$(hashdir obj/del-down)
n=$(first_primary obj/del-down)
swift_obj_kill "$n"
check "del obj/del-down with its first primary (server $n) down" "$IO" "$U" del obj/del-down
check "the listing no longer names it (the missed primary's listing update went straight to the container servers)" \
	test -z "$("$IO" "$U" list obj/del-down)"
check "server $n restarts" swift_obj_start "$n"
check "server $n still has the copy the delete missed" test "$(datafiles "$H" | wc -l)" = 1
out=$("$CASSAFS" repair "$U" 2>"$T_TMP/rep.err"); rc=$?
check "repair exits 0 ($out)" test $rc = 0
check "repair removed the deleted copy ($out)" grep -q ' 1 deleted copies removed (0 deletes still pending)' <<<"$out"
check "no copy of obj/del-down is left on any device" test "$(datafiles "$H" | wc -l)" = 0
bad=0
for i in $(seq 9); do "$IO" "$U" get obj/del-down >/dev/null 2>&1; [ $? = 0 ] && bad=$((bad + 1)); done
check "9 reads of obj/del-down: none finds it" test $bad = 0
out=$("$CASSAFS" repair "$U" 2>/dev/null)
check "a second repair has no delete left to propagate ($out)" grep -q ' 0 deleted copies removed (0 deletes still pending)' <<<"$out"
# the same while the container server is down too: the listing keeps the
# object (its updates wait in async_pending), repair sees the delete's
# tombstones newer than the copy and deletes instead of restoring
check "put obj/del-listed" "$IO" "$U" put obj/del-listed "$T_TMP/f4"
H=$(hashdir obj/del-listed)
n=$(first_primary obj/del-listed)
swift_cont_kill
swift_obj_kill "$n"
check "del obj/del-listed with server $n and the container server down" "$IO" "$U" del obj/del-listed
check "the container server restarts" swift_cont_start
check "server $n restarts" swift_obj_start "$n"
check "the listing still names obj/del-listed" grep -q '^obj/del-listed ' <("$IO" "$U" list obj/)
out=$("$CASSAFS" repair "$U" 2>"$T_TMP/rep.err"); rc=$?
check "repair exits 0 ($out; $(head -n 3 "$T_TMP/rep.err"))" test $rc = 0
check "repair removed the deleted copy instead of restoring it ($out)" grep -qE ' 0 restored.* 1 deleted copies removed' <<<"$out"
check "no copy of obj/del-listed is left on any device" test "$(datafiles "$H" | wc -l)" = 0
check "the listing no longer names it" test -z "$("$IO" "$U" list obj/del-listed)"
expect_error "obj/del-listed reads ENOENT" "No such file" "$IO" "$U" get obj/del-listed

# ---- kill an object server under a write and read workload ----
"$IO" "$U" workload 900 "$T_TMP/acked" "$T_TMP/stop1" >"$T_TMP/wl.out" 2>"$T_TMP/wl.err" &
wl=$!
check "the workload acknowledges objects" wait_lines "$T_TMP/acked" 12
swift_obj_kill 2
n=$(wc -l <"$T_TMP/acked")
check "… and goes on with a server killed" wait_lines "$T_TMP/acked" $((n + 24))
touch "$T_TMP/stop1"
wait $wl; rc=$?
check "workload with a server killed: no failed read or write ($(cat "$T_TMP/wl.out"); $(head -n 3 "$T_TMP/wl.err"))" test $rc = 0
check "the workload wrote objects" test "$(wc -l <"$T_TMP/acked")" -gt 20
check "every acknowledged object reads back (server still down)" "$IO" "$U" verify "$T_TMP/acked"
"$CASSAFS" status "$U" >"$T_TMP/st.txt"
check "status shows the killed server's device down" grep -qE '127.0.0.1:'$((B + 1))' +d2 .* down$' "$T_TMP/st.txt"
check "server 2 restarts" swift_obj_start 2
check "every acknowledged object reads back (server back, copies on handoffs)" "$IO" "$U" verify "$T_TMP/acked"
out=$("$CASSAFS" repair --keep-handoffs "$U" 2>"$T_TMP/rep.err"); rc=$?
check "repair --keep-handoffs after the outage exits 0 ($out)" test $rc = 0
check "repair restored the replicas the dead server missed" grep -qvE ' 0 restored' <<<"$out"
check "… from the handoffs' copies, which it leaves there" grep -qE ' [1-9][0-9]* brought home from handoffs, 0 handoff copies removed' <<<"$out"
out=$("$CASSAFS" repair "$U" 2>"$T_TMP/rep.err"); rc=$?
check "repair then exits 0 ($out)" test $rc = 0
check "… restores nothing and removes the handoff copies" grep -qE ' 0 restored, .* [1-9][0-9]* handoff copies removed' <<<"$out"

# ---- wipe a device ----
rm -rf "$S"/obj3/d3/*
check "every acknowledged object reads back with a device wiped" "$IO" "$U" verify "$T_TMP/acked"
out=$("$CASSAFS" repair "$U" 2>"$T_TMP/rep.err"); rc=$?
check "repair after the wipe exits 0 ($out)" test $rc = 0
check "repair restored replicas" grep -qvE ' 0 restored' <<<"$out"
check "after repair, every acknowledged object is on its three primaries (curl to what Swift's ring names)" \
	placed $(logkeys "$T_TMP/acked")
out=$("$CASSAFS" repair --quick "$U" 2>/dev/null)
check "repair --quick then finds nothing to do" grep -q ' 0 restored, 0 placed on handoffs' <<<"$out"

# ---- status ----
check "status (text)" "$CASSAFS" status "$U"
"$CASSAFS" status --json "$U" >"$T_TMP/st.json"
check "status --json lists four devices, all up" python3 -c '
import json,sys; s=json.load(open(sys.argv[1]))
d=s["devices"]; assert len(d)==4, d
assert all(x["state"]=="up" for x in d), d
assert sum(x["objects"] for x in d)==3*s["objects"], s
assert sum(x["partitions"] for x in d)==3*64, d
assert {x["zone"] for x in d}=={1,2,3,4}' "$T_TMP/st.json"

# ---- add a zone, rebalance, move under a workload ----
cp "$RING" "$T_TMP/old.ring.gz"
"$IO" "$U" workload 900 "$T_TMP/acked2" "$T_TMP/stop2" >"$T_TMP/wl2.out" 2>"$T_TMP/wl2.err" &
wl=$!
check "the workload acknowledges objects" wait_lines "$T_TMP/acked2" 12
check "a fifth object server starts" swift_obj_add 5
BLD=$S/etc/object.builder
"$CASSAFS" ring "$BLD" set_min_part_hours 1 >/dev/null
"$CASSAFS" ring "$BLD" pretend_min_part_hours_passed >/dev/null
check "zone 5 joins the ring" "$CASSAFS" ring "$BLD" add "r1z5-127.0.0.1:$((B + 4))/d5" 100
"$CASSAFS" ring "$BLD" rebalance --seed 2 >"$T_TMP/rebal.out"
moved=$(sed -nE 's/^Moved ([0-9]+) part-replicas.*/\1/p' "$T_TMP/rebal.out")
check "the builder moved part-replicas ($(cat "$T_TMP/rebal.out"))" test "${moved:-0}" -gt 0
sleep 2 # the workload has reloaded the ring (its file is checked once a second)
# A writer still on the old ring (a process that has not reloaded it yet,
# stretched out here) puts objects where the old ring says, after the move
# listed the objects: the move lists again once such puts are over
# (--settle, counted from the ring file's change) and moves them too.
U_OLD="ring://$T_TMP/old.ring.gz?container_ring=$S/etc/container.ring.gz&timeout=5"
"$IO" "$U_OLD" workload 900 "$T_TMP/acked3" "$T_TMP/stop3" >"$T_TMP/wl3.out" 2>"$T_TMP/wl3.err" &
wl3=$!
check "a writer on the old ring acknowledges objects" wait_lines "$T_TMP/acked3" 4
"$CASSAFS" move --settle 12 --old "$T_TMP/old.ring.gz" "$U" >"$T_TMP/move.out" 2>"$T_TMP/move.err" &
mv=$!
t_mv=$(date +%s%N)
n=$(wc -l <"$T_TMP/acked3")
check "… and goes on while the move runs" wait_lines "$T_TMP/acked3" $((n + 8))
left=$(( (t_mv + 2000000000 - $(date +%s%N)) / 1000000 ))
[ $left -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
touch "$T_TMP/stop3"
wait $wl3; rc=$?
check "the writer on the old ring: no failed read or write ($(cat "$T_TMP/wl3.out"); $(head -n 3 "$T_TMP/wl3.err"))" test $rc = 0
wait $mv; rc=$?
check "move exits 0 ($(tail -n 1 "$T_TMP/move.out"); $(grep -v "objects, " "$T_TMP/move.err" | head -n 3))" test $rc = 0
check "move listed the objects again after the settle time" grep -qE '^move: listing [2-9]: ' "$T_TMP/move.err"
check "move counts the part-replicas the builder reported ($moved)" grep -qx "move: the ring moved $moved part-replicas" "$T_TMP/move.out"
check "move copied replicas" grep -qE 'replicas copied \([0-9]+ already in place\), [1-9][0-9]* old copies removed' "$T_TMP/move.out"
n=$(wc -l <"$T_TMP/acked2")
check "the workload goes on after the move" wait_lines "$T_TMP/acked2" $((n + 12))
touch "$T_TMP/stop2"
wait $wl; rc=$?
check "workload during the rebalance and move: no failed read or write ($(cat "$T_TMP/wl2.out"); $(head -n 3 "$T_TMP/wl2.err"))" test $rc = 0
check "every object acknowledged before reads back after the move" "$IO" "$U" verify "$T_TMP/acked"
check "every object acknowledged during the move reads back" "$IO" "$U" verify "$T_TMP/acked2"
check "after the move, every object acknowledged during it is on the new ring's three primaries" \
	placed $(logkeys "$T_TMP/acked2")
logkeys "$T_TMP/acked2" | copies >"$T_TMP/copies2"
check "and nowhere else (old copies removed): $(awk '$2 != 3' "$T_TMP/copies2" | head -n 3)" \
	test -z "$(awk '$2 != 3' "$T_TMP/copies2")" -a -s "$T_TMP/copies2"
check "every object the old-ring writer acknowledged reads back" "$IO" "$U" verify "$T_TMP/acked3"
check "… and is on the new ring's three primaries, also those put after the move's first listing" \
	placed $(logkeys "$T_TMP/acked3")
logkeys "$T_TMP/acked3" | copies >"$T_TMP/copies3"
check "… and nowhere else: $(awk '$2 != 3' "$T_TMP/copies3" | head -n 3)" \
	test -z "$(awk '$2 != 3' "$T_TMP/copies3")" -a -s "$T_TMP/copies3"
out=$("$CASSAFS" status --json "$U")
check "status shows five devices, d5 holding objects" python3 -c '
import json,sys; s=json.loads(sys.argv[1]); d=s["devices"]
assert len(d)==5 and [x for x in d if x["device"]=="d5"][0]["objects"]>0, d' "$out"

# the data tier's conformance program (tests/data, from the data-tier
# work), when it is built, on this engine too
if [ -x "$TESTBIN/data_conformance" ]; then
	check "data_conformance on the ring tier" "$TESTBIN/data_conformance" "$U"
fi

swift_cluster_stop
finish
