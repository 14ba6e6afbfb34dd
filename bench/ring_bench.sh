#!/usr/bin/env bash
# Ring builder benchmark: create + add + rebalance with the 144 devices of
# scenario b (3 regions x 3 zones x 4 servers x 4 disks, weights 100/200),
# part power 16, 18 and 20, `cassafs ring` and Swift's swift-ring-builder
# side by side in one run.  Wall time and peak RSS come from /usr/bin/time -v
# around the whole create+add+rebalance sequence; the figure is the median
# of RUNS runs (default 3; Swift 1 run unless SWIFT_RUNS is set).
#
#   bench/ring_bench.sh                  # prints a markdown table
#   PARTS="16 18" RUNS=5 bench/ring_bench.sh
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
C=${CASSAFS:-$ROOT/build/cassafs}
PARTS=${PARTS:-16 18 20}
RUNS=${RUNS:-3}
SWIFT_RUNS=${SWIFT_RUNS:-1}
T=$(mktemp -d /tmp/ring_bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$C" ] || { echo "build cassafs first (make)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "install time (GNU /usr/bin/time)" >&2; exit 2; }
have_swift=1
command -v swift-ring-builder >/dev/null || have_swift=0

devs_b() {
	for R in 1 2 3; do for Z in 1 2 3; do for S in 1 2 3 4; do
		for D in sdb:100 sdc:100 sdd:200 sde:200; do
			echo "r${R}z${Z}-10.$R.$Z.$S:6200/${D%%:*} ${D##*:}"
		done
	done; done; done
}
DEVS=$(devs_b | tr '\n' ' ')

# one TOOL PP: prints "wall_seconds peak_kb"
one() {
	local tool=$1 pp=$2 d
	d=$(mktemp -d "$T/run.XXXXXX")
	/usr/bin/time -v -o "$d/time" bash -c "
		cd '$d' &&
		$tool b.builder create $pp 3 1 >/dev/null &&
		$tool b.builder add $DEVS >/dev/null &&
		$tool b.builder rebalance --seed 1 >rebalance.out
		[ \$? -le 1 ]" || { echo "run failed: $tool $pp" >&2; cat "$d/rebalance.out" >&2; }
	awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":");
			s = (n == 3) ? t[1] * 3600 + t[2] * 60 + t[3] : t[1] * 60 + t[2]}
		/Maximum resident set size/ {kb = $2}
		END {printf "%.3f %d\n", s, kb}' "$d/time"
	rm -rf "$d"
}

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

printf '| part power | partitions x replicas | cassafs ring wall | cassafs ring peak RSS | swift-ring-builder wall | swift-ring-builder peak RSS | speed-up |\n'
printf '|---|---|---|---|---|---|---|\n'
for pp in $PARTS; do
	ow=() om=() sw=() sm=()
	for _ in $(seq "$RUNS"); do
		read -r w m < <(one "$C ring" "$pp"); ow+=("$w"); om+=("$m")
	done
	if [ "$have_swift" = 1 ]; then
		for _ in $(seq "$SWIFT_RUNS"); do
			read -r w m < <(one swift-ring-builder "$pp"); sw+=("$w"); sm+=("$m")
		done
	fi
	o_w=$(printf '%s\n' "${ow[@]}" | median)
	o_m=$(printf '%s\n' "${om[@]}" | median)
	if [ "$have_swift" = 1 ]; then
		s_w=$(printf '%s\n' "${sw[@]}" | median)
		s_m=$(printf '%s\n' "${sm[@]}" | median)
		ratio=$(awk -v a="$s_w" -v b="$o_w" 'BEGIN {printf "%.0fx", a / b}')
		s_w="${s_w} s"; s_m="$((s_m / 1024)) MB"
	else
		s_w="n/a"; s_m="n/a"; ratio="n/a"
	fi
	printf '| %s | %s | %s s | %s MB | %s | %s | %s |\n' "$pp" \
		"$(( (1 << pp) * 3 ))" "$o_w" "$((o_m / 1024))" "$s_w" "$s_m" "$ratio"
done
