#!/usr/bin/env bash
# Swift itself is the oracle for `cassafs ring` (needs Debian's swift and
# python3-swift, run with /usr/bin/python3):
#  - Swift's Ring class loads our ring files and gives the same primaries and
#    handoffs as our lookup, for every partition of small rings, a sample of
#    large ones and many keys (non-ASCII too), with explicit hash prefixes;
#  - our loader reads rings written by swift-ring-builder and agrees with
#    Swift's lookups;
#  - our balance and dispersion equal Swift's RingBuilder code on the same
#    table, for our rings and Swift's;
#  - quality on the reference scenarios a, b, c, e (Swift run side by side,
#    seed 1): balance and dispersion no worse than Swift's, scenario c moves
#    no more part-replicas than Swift and never two replicas of a partition,
#    min_part_hours blocks a second move, zero-weight and removed devices
#    end with no partitions.
set -u
C=${CASSAFS:-$PWD/build/cassafs}
TB=${TESTBIN:-$PWD/build/tests}
HERE=$(cd "$(dirname "$0")" && pwd)
ORACLE_PY="$HERE/ring/swift_oracle.py"
DUMP=$TB/ring_oracle_dump
T=$(mktemp -d /tmp/t_ring_swift.XXXXXX)
trap '[ -n "${ORC_PID:-}" ] && kill "$ORC_PID" 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$1"; then ok; else bad "$2 [$1]"; fi; }
finish() { echo "RESULT $pass passed, $fail failed"; exit $((fail > 0)); }

if ! /usr/bin/python3 -c 'import swift.common.ring' 2>/dev/null ||
   ! command -v swift-ring-builder >/dev/null; then
	bad "Swift is not installed: apt-get install swift python3-swift"
	finish
fi
# Swift's servers and tools read the hash secrets from swift.conf; the
# oracle passes them explicitly, but keep a Debian-default file in place.
if [ ! -e /etc/swift/swift.conf ] && [ -w /etc ]; then
	mkdir -p /etc/swift
	printf '[swift-hash]\nswift_hash_path_suffix = changeme\nswift_hash_path_prefix =\n' \
		>/etc/swift/swift.conf
fi
cd "$T" || exit 1
# One long-lived Python with Swift loaded answers every oracle question:
# "$ORACLE cmd args >file" becomes a request line; the reply is ok/error.
coproc ORC { /usr/bin/python3 "$ORACLE_PY" serve 2>oracle.err; }
ORACLE=oracle
oracle() {
	local reply
	printf '%q ' "$T/oracle.out" "$@" >&"${ORC[1]}"
	printf '\n' >&"${ORC[1]}"
	read -r reply <&"${ORC[0]}" || reply=error
	cat "$T/oracle.out"
	[ "$reply" = ok ]
}

devs_b() {
	for R in 1 2 3; do for Z in 1 2 3; do for S in 1 2 3 4; do
		for D in sdb:100 sdc:100 sdd:200 sde:200; do
			echo "r${R}z${Z}-10.$R.$Z.$S:6200/${D%%:*} ${D##*:}"
		done
	done; done; done
}
devs_c() {
	for R in 1 2 3; do for D in sdb:100 sdc:100 sdd:200 sde:200; do
		echo "r${R}z1-10.$R.1.5:6200/${D%%:*} ${D##*:}"
	done; done
}
devs_a() { for Z in 1 2 3 4; do echo "r1z$Z-10.0.0.$Z:6200/sdb 100"; done; }
devs_e() {
	echo "r1z1-10.0.0.1:6200/sdb 100"; echo "r1z2-10.0.0.2:6200/sdb 100"
	echo "r1z3-10.0.0.3:6200/sdb 100"; echo "r1z3-10.0.0.4:6200/sdb 100"
}
devs_f() { for Z in 1 2 3 4 5; do echo "r1z$Z-10.0.0.$Z:6200/sdb$Z $((Z * 50))"; done; }

# build NAME TOOL PART_POWER REPLICAS DEVFN [OVERLOAD]: create + add + rebalance
build() {
	local name=$1 tool=$2 pp=$3 reps=$4 fn=$5 ov=${6:-}
	if [ "$tool" = ours ]; then
		"$C" ring "$name.builder" create "$pp" "$reps" 1 >/dev/null &&
		"$C" ring "$name.builder" add $($fn) >/dev/null &&
		{ [ -z "$ov" ] || "$C" ring "$name.builder" set_overload "$ov" >/dev/null; }
		"$C" ring "$name.builder" rebalance --seed 1 >"$name.out" 2>&1
	else
		swift-ring-builder "$name.builder" create "$pp" "$reps" 1 >/dev/null &&
		swift-ring-builder "$name.builder" add $($fn) >/dev/null &&
		{ [ -z "$ov" ] || swift-ring-builder "$name.builder" set_overload "$ov" >/dev/null; }
		swift-ring-builder "$name.builder" rebalance --seed 1 >"$name.out" 2>&1
	fi
}

# ---- key list: ASCII, slashes in objects, non-ASCII in every component ----
{
	echo "/AUTH_test"; echo "/AUTH_test/c"; echo "/AUTH_test/c/o"
	echo "/AUTH_ünicode/c☃/o/with/slashes"
	echo "/AUTH_日本/コンテナ/オブジェクト"; echo "/AUTH_x/😀/ö b/ä"
	for i in $(seq 0 199); do
		echo "/AUTH_acct$((i % 7))/cont$((i % 13))/obj$i"
	done
	for i in $(seq 0 19); do echo "/AUTH_é$i/Ωc$i"; done
} >keys.txt

# compare_lookup NAME NSAMPLE: every/some partitions and all keys
compare_lookup() {
	local name=$1 n=$2
	$ORACLE parts "$name.ring.gz" "$n" 7 >"$name.sw.parts" 2>"$name.err" ||
		{ bad "$name: Swift cannot load the ring: $(tail -1 oracle.err)"; return; }
	cut -d'|' -f1 "$name.sw.parts" >"$name.partlist"
	"$DUMP" parts "$name.ring.gz" "$name.partlist" >"$name.our.parts"
	check "cmp -s $name.sw.parts $name.our.parts" \
		"$name: primaries/handoffs of $(wc -l <"$name.partlist") partitions differ from Swift's"
	for pre in "" "pre"; do
		$ORACLE keys "$name.ring.gz" "$pre" changeme keys.txt >"$name.sw.keys" &&
		"$DUMP" keys "$name.ring.gz" "$pre" changeme keys.txt >"$name.our.keys"
		check "cmp -s $name.sw.keys $name.our.keys" \
			"$name: key lookups (prefix '$pre') differ from Swift's"
	done
}

# metric NAME balance|dispersion: ours (cassafs ring info) and Swift's code
compare_metrics() {
	local name=$1
	$ORACLE metrics "$name.ring.gz" >"$name.sw.metrics"
	local ob od sb sd
	ob=$("$C" ring info "$name.ring.gz" | awk '/^balance/ {print $2}')
	od=$("$C" ring info "$name.ring.gz" | awk '/^Dispersion is/ {sub(",", "", $3); print $3}')
	sb=$(awk '/^balance/ {print $2}' "$name.sw.metrics")
	sd=$(awk '/^dispersion/ {print $2}' "$name.sw.metrics")
	check "[ -n '$ob' ] && [ '$ob' = '$sb' ]" "$name: balance ours '$ob', Swift's code '$sb'"
	check "[ -n '$od' ] && [ '$od' = '$sd' ]" "$name: dispersion ours '$od', Swift's code '$sd'"
}

# ---- 1. our rings, loaded by Swift ----
build a ours 10 3 devs_a
build b ours 16 3 devs_b
build e0 ours 10 3 devs_e
build e1 ours 10 3 devs_e 0.5
build f ours 8 3.5 devs_f
# a ring with a hole in its device list (removed device)
build h ours 8 3 devs_f
"$C" ring h.builder remove d2 >/dev/null
"$C" ring h.builder pretend_min_part_hours_passed
"$C" ring h.builder rebalance --seed 2 >/dev/null
for r in a e0 e1 f h; do compare_lookup "$r" 0; compare_metrics "$r"; done
compare_lookup b 300
compare_metrics b
# part power 18: handoff walks step by parts/65536 = 4 and wrap differently
build p18 ours 18 3 devs_b
compare_lookup p18 100
check "! cut -d'|' -f3,4 h.our.parts | tr ',|' '\\n\\n' | grep -qx 2" \
	"h: removed device d2 still holds partitions"

# swift-ring-builder rebuilds a builder from our ring files and validates it
for r in a f h; do
	mkdir -p "wb_$r" && cp "$r.ring.gz" "wb_$r/x.ring.gz"
	(cd "wb_$r" && swift-ring-builder x.ring.gz write_builder >wb.out 2>&1 &&
	 swift-ring-builder x.builder validate >>wb.out 2>&1)
	check "[ $? -eq 0 ]" "$r: swift-ring-builder write_builder/validate on our ring: $(tail -3 "wb_$r/wb.out")"
done

# ---- 2. Swift's rings, loaded by us ----
for s in a e0 f; do
	case $s in a) build sw_a swift 10 3 devs_a ;; e0) build sw_e0 swift 10 3 devs_e ;;
		f) build sw_f swift 8 3.5 devs_f ;; esac
	compare_lookup "sw_$s" 0
	compare_metrics "sw_$s"
done
build sw_b swift 16 3 devs_b
build sw_e1 swift 10 3 devs_e 0.5
compare_lookup sw_b 300
compare_metrics sw_b

# ---- 3. quality against Swift, same scenarios, seed 1 ----
# le X Y: X <= Y + 1e-9
le() { [ -n "$1" ] && [ -n "$2" ] && awk -v x="$1" -v y="$2" 'BEGIN {exit !(x <= y + 1e-9)}'; }
for s in a b e0 e1; do
	$ORACLE metrics "$s.ring.gz" >"$s.m"
	$ORACLE metrics "sw_$s.ring.gz" >"sw_$s.m"
	for m in balance dispersion; do
		o=$(awk -v m=$m '$1 == m {print $2}' "$s.m")
		w=$(awk -v m=$m '$1 == m {print $2}' "sw_$s.m")
		check "le '$o' '$w'" "scenario $s: our $m $o is worse than Swift's $w"
	done
done

# scenario c: add a fifth server per region; min_part_hours first blocks it
cp b.ring.gz b_before.ring.gz
"$C" ring b.builder add $(devs_c) >/dev/null
"$C" ring b.builder rebalance --seed 1 >c_lock.out 2>&1
check "[ $? -eq 1 ]" "scenario c: rebalance within min_part_hours should exit 1"
check "grep -q 'min_part_hours' c_lock.out" "scenario c: no min_part_hours message"
check "cmp -s b.ring.gz b_before.ring.gz" "scenario c: blocked rebalance changed the ring"
"$C" ring b.builder pretend_min_part_hours_passed
"$C" ring b.builder rebalance --seed 1 >c.out 2>&1
check "[ $? -eq 0 ]" "scenario c: rebalance failed: $(cat c.out)"
$ORACLE moved b_before.ring.gz b.ring.gz >c.moved
"$C" ring b.builder rebalance --seed 1 >c2.out 2>&1
check "[ $? -eq 1 ]" "scenario c: an immediate second rebalance should be blocked"
cp sw_b.ring.gz sw_b_before.ring.gz
swift-ring-builder sw_b.builder add $(devs_c) >/dev/null
swift-ring-builder sw_b.builder pretend_min_part_hours_passed >/dev/null
swift-ring-builder sw_b.builder rebalance --seed 1 >sw_c.out 2>&1
$ORACLE moved sw_b_before.ring.gz sw_b.ring.gz >sw_c.moved
om=$(awk '$1 == "moved" {print $2}' c.moved)
sm=$(awk '$1 == "moved" {print $2}' sw_c.moved)
check "[ -n '$om' ] && [ '$om' -le '$sm' ] && [ '$om' -le 15123 ]" \
	"scenario c: we moved $om part-replicas, Swift $sm (reference 15123)"
check "[ \"\$(awk '\$1 == \"max_per_part\" {print \$2}' c.moved)\" = 1 ]" \
	"scenario c: two replicas of one partition moved in one rebalance"
cp b.ring.gz c.ring.gz
cp sw_b.ring.gz sw_c.ring.gz
compare_lookup c 300
$ORACLE metrics c.ring.gz >c.m
$ORACLE metrics sw_c.ring.gz >sw_c.m
for m in balance dispersion; do
	o=$(awk -v m=$m '$1 == m {print $2}' c.m)
	w=$(awk -v m=$m '$1 == m {print $2}' sw_c.m)
	check "le '$o' '$w'" "scenario c: our $m $o is worse than Swift's $w"
done

# extra topologies: unequal regions/zones and overloads, then a reweight
# plus a removal; quality no worse than Swift's, one replica per move
devs_g1() { printf '%s\n' "r1z1-10.0.0.1:6200/a 100" "r1z1-10.0.0.2:6200/a 100" \
	"r2z1-10.1.0.1:6200/a 300" "r2z2-10.1.0.2:6200/a 50"; }
devs_g4() { printf '%s\n' "r1z1-10.0.0.1:6200/a 100" "r1z2-10.0.0.2:6200/a 100" \
	"r1z3-10.0.0.3:6200/a 100" "r1z3-10.0.0.4:6200/b 40" "r1z2-10.0.0.2:6200/c 70"; }
devs_g5() { printf '%s\n' "r1z1-10.0.0.1:6200/a 100" "r1z1-10.0.0.1:6200/b 100" \
	"r1z2-10.0.0.2:6200/a 100" "r1z2-10.0.0.3:6200/a 20" \
	"r2z1-10.1.0.1:6200/a 500" "r2z1-10.1.0.2:6200/a 500"; }
quality() {
	local o=$1 s=$2 what=$3 m ov sv
	$ORACLE metrics "$o.ring.gz" >"$o.m"
	$ORACLE metrics "$s.ring.gz" >"$s.m"
	for m in balance dispersion; do
		ov=$(awk -v m=$m '$1 == m {print $2}' "$o.m")
		sv=$(awk -v m=$m '$1 == m {print $2}' "$s.m")
		check "le '$ov' '$sv'" "$what: our $m $ov is worse than Swift's $sv"
	done
}
for g in "g1 10 3 0.1" "g4 12 2.5 0" "g5 12 3 0.05"; do
	set -- $g
	build "$1" ours "$2" "$3" "devs_$1" "$4"
	build "sw_$1" swift "$2" "$3" "devs_$1" "$4"
	quality "$1" "sw_$1" "scenario $1"
	cp "$1.ring.gz" "$1.0.ring.gz"
	"$C" ring "$1.builder" set_weight d1 300 >/dev/null
	"$C" ring "$1.builder" remove d3 >/dev/null
	"$C" ring "$1.builder" pretend_min_part_hours_passed
	"$C" ring "$1.builder" rebalance --seed 1 >/dev/null 2>&1
	swift-ring-builder "sw_$1.builder" set_weight d1 300 >/dev/null
	swift-ring-builder "sw_$1.builder" remove d3 >/dev/null
	swift-ring-builder "sw_$1.builder" pretend_min_part_hours_passed >/dev/null
	swift-ring-builder "sw_$1.builder" rebalance --seed 1 >/dev/null 2>&1
	quality "$1" "sw_$1" "scenario $1 after reweight and removal"
	compare_lookup "$1" 0
	$ORACLE moved "$1.0.ring.gz" "$1.ring.gz" >"$1.moved"
	check "[ \"\$(awk '\$1 == \"max_per_part\" {print \$2}' $1.moved)\" -le 1 ]" \
		"scenario $1: two replicas of one partition moved in one rebalance"
done

# ---- 4. draining: zero weight and removal ----
"$C" ring b.builder set_weight d5 0 >/dev/null
"$C" ring b.builder remove d7 >/dev/null
"$C" ring b.builder pretend_min_part_hours_passed
"$C" ring b.builder rebalance --seed 3 >drain.out 2>&1
rc=$?
check "[ $rc -le 1 ]" "drain rebalance failed: $(cat drain.out)"
cp b.ring.gz d.ring.gz
$ORACLE moved c.ring.gz d.ring.gz >d.moved
check "[ \"\$(awk '\$1 == \"max_per_part\" {print \$2}' d.moved)\" = 1 ]" \
	"drain: two replicas of one partition moved in one rebalance"
parts5=$("$C" ring b.builder show | awk '$1 == 5 && $2 == 1 {print $8}')
check "[ '$parts5' = 0 ]" "drain: zero-weight d5 still has '$parts5' partitions"
check "! \"$C\" ring b.builder show | awk '\$1 == 7 && \$2 == 1' | grep -q ." \
	"drain: removed d7 is still listed"
compare_lookup d 300
check "! cut -d'|' -f3 d.our.parts | tr , '\\n' | grep -qx '5\\|7'" \
	"drain: d5 or d7 is still a primary in the ring"

finish
