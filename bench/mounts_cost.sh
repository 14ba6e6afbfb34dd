#!/usr/bin/env bash
# What other live mounts cost one mount's metadata work (issue 8: the
# rename/unlink drop on three mounts).  One Redis and one ZooKeeper on
# loopback (ports PORT, PORT+1; default 26290), one filesystem; meta_bench
# runs on mount A alone, then with mounts B and C of the same filesystem
# live and idle, alternating, R times; for each run the rates and the CPU
# seconds used meanwhile by the ZooKeeper server, by A's daemon and by B's
# and C's daemons.
# With -s instead: meta_bench -w (create, unlink) on A and B at once in one
# shared directory, then on A alone, with the store conflicts each daemon
# counted (its /stats.json): a hot spot on the parent shows as conflicts.
# usage: bench/mounts_cost.sh [-s] [-n FILES] [-r REPEATS] [-o OPS]
# Needs root (FUSE), redis-server, ZooKeeper (Debian zookeeper), build/.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
PORT=${MOUNTS_COST_PORT:-26290}
N=1000 R=2 OPS=create,rename,unlink,mkdir,rmdir SAME=0
while [ $# -gt 0 ]; do
	case "$1" in
	-n) N=$2; shift ;;
	-r) R=$2; shift ;;
	-o) OPS=$2; shift ;;
	-s) SAME=1 ;;
	*) echo "usage: $0 [-n FILES] [-r REPEATS] [-o OPS]" >&2; exit 2 ;;
	esac
	shift
done
make -s -C "$ROOT/bench" >&2 || exit 1
MB=$ROOT/build/bench/meta_bench
ZKS=$ROOT/tests/scripts/zk_server.sh
D=$(mktemp -d /tmp/cassafs-mcost.XXXXXX)
cleanup() {
	for m in A B C; do mountpoint -q "$D/m$m" && "$CASSAFS" umount "$D/m$m" >/dev/null 2>&1; done
	[ -s "$D/redis/pid" ] && kill "$(cat "$D/redis/pid")" 2>/dev/null
	"$ZKS" stop "$D/zk" >/dev/null 2>&1
	sleep 0.5
	rm -rf "$D"
}
trap cleanup EXIT
mkdir -p "$D/redis"
printf 'port %s\nbind 127.0.0.1\nsave ""\nappendonly yes\ndir %s\ndaemonize yes\npidfile %s/pid\nlogfile %s/log\n' \
	"$PORT" "$D/redis" "$D/redis" "$D/redis" >"$D/redis/redis.conf"
redis-server "$D/redis/redis.conf" || exit 1
for _ in $(seq 50); do redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
"$ZKS" start "$D/zk" $((PORT + 1)) >/dev/null || { echo "ZooKeeper did not start" >&2; exit 1; }
printf 'cassafs:mc-%s\n' "$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$D/zk.cred"
export CASSAFS_ZK_CREDENTIALS_FILE=$D/zk.cred
STORE="redis://127.0.0.1:$PORT/0"
COORD="zk://127.0.0.1:$((PORT + 1))/mcost"
"$CASSAFS" mkfs "$STORE" >/dev/null || exit 1
MPORT=$((PORT + 2)) # metrics of A, B: MPORT, MPORT+1
mnt() { local mp=$MPORT; [ "$1" = B ] && mp=$((MPORT + 1)); [ "$1" = C ] && mp=$((MPORT + 2))
	mkdir -p "$D/m$1"; "$CASSAFS" mount --coord "$COORD" -o log_file="$D/$1.log,metrics=127.0.0.1:$mp" "$STORE" "$D/m$1" || exit 1
	for _ in $(seq 100); do mountpoint -q "$D/m$1" && return; sleep 0.1; done; echo "m$1 not mounted" >&2; exit 1; }
# CPU seconds (user + system) of a process
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
dpid() { # the daemon's pid, from the pid file that names its mountpoint
	local f
	for f in /run/cassafs/*.pid /tmp/cassafs-"$(id -u)"/*.pid; do
		[ -f "$f" ] && [ "$(sed -n 2p "$f")" = "$D/m$1" ] && { sed -n 1p "$f"; return; }
	done
}
mnt A
ZP=$(cat "$(find "$D/zk" -name pid | head -1)")
PA=$(dpid A)
# ZooKeeper's packet counters: "received sent"
zkp() { "$ZKS" cmd $((PORT + 1)) srvr | awk '/^Received:/ { r = $2 } /^Sent:/ { s = $2 } END { print r + 0, s + 0 }'; }
run() { # label
	local z0 a0 b0=0 c0=0 out z1 a1 b1=0 c1=0 p0 p1
	read -r -a p0 <<<"$(zkp)"
	local w0 w1
	w0=$(awk '/^wchar/ { print $2 }' "/proc/$ZP/io")
	z0=$(cpu "$ZP") a0=$(cpu "$PA")
	[ -n "${PB:-}" ] && b0=$(cpu "$PB") c0=$(cpu "$PC")
	out=$("$MB" -n "$N" -o "$OPS" "$D/mA" | awk '{ split($2, o, "="); split($5, r, "="); printf "%s %.0f  ", o[2], r[2] }')
	z1=$(cpu "$ZP") a1=$(cpu "$PA")
	[ -n "${PB:-}" ] && b1=$(cpu "$PB") c1=$(cpu "$PC")
	read -r -a p1 <<<"$(zkp)"
	w1=$(awk '/^wchar/ { print $2 }' "/proc/$ZP/io")
	printf '%-16s notices sent by A %s, ' "$1" "$(curl -sf "http://127.0.0.1:$MPORT/stats.json" | jq '.counters.notices_sent_total')"
	printf '%s| CPU s: ZooKeeper %.2f, A %.2f, B+C %.2f | ZooKeeper packets in %d, out %d, %.1f MB written\n' "$out" \
		"$(echo "$z1 - $z0" | bc)" "$(echo "$a1 - $a0" | bc)" "$(echo "$b1 - $b0 + $c1 - $c0" | bc)" \
		$((p1[0] - p0[0])) $((p1[1] - p0[1])) "$(echo "($w1 - $w0) / 1000000" | bc -l)"
}
conflicts() { curl -sf "http://127.0.0.1:$1/stats.json" | jq '.counters.store_conflicts_total'; }
if [ "$SAME" = 1 ]; then
	mnt B
	mkdir -p "$D/mA/same"
	echo "meta_bench -n $N -w same -o create,unlink: A and B at once in one directory, then A alone (ops/s)"
	for ((i = 1; i <= R; i++)); do
		ca=$(conflicts $MPORT) cb=$(conflicts $((MPORT + 1)))
		"$MB" -n "$N" -w same -o create,unlink "$D/mA" >"$D/a.out" & pa=$!
		"$MB" -n "$N" -w same -o create,unlink "$D/mB" >"$D/b.out" & pb=$!
		wait $pa; wait $pb
		ca2=$(conflicts $MPORT) cb2=$(conflicts $((MPORT + 1)))
		sum=$(cat "$D/a.out" "$D/b.out" | awk '{ split($2, o, "="); split($3, n, "="); split($4, t, "=");
			c[o[2]] += n[2]; if (t[2] > m[o[2]]) m[o[2]] = t[2] }
			END { for (op in c) printf "%s %.0f  ", op, c[op] / m[op] }')
		echo "A + B at once    $sum| conflicts: A $((ca2 - ca)), B $((cb2 - cb))"
		echo "  A's round trips per request so far: $(curl -sf "http://127.0.0.1:$MPORT/stats.json" |
			jq -r '[.ops | to_entries[] | select(.value.count > 0 and .value.round_trips > 0) | "\(.key) \(.value.round_trips / .value.count * 100 | round / 100)"] | join(", ")')"
		ca=$(conflicts $MPORT)
		one=$("$MB" -n "$N" -w same -o create,unlink "$D/mA" | awk '{ split($2, o, "="); split($5, r, "="); printf "%s %.0f  ", o[2], r[2] }')
		echo "A alone          $one| conflicts: A $(( $(conflicts $MPORT) - ca ))"
	done
	exit 0
fi
echo "meta_bench -n $N -o $OPS on mount A (ops/s)"
for ((i = 1; i <= R; i++)); do
	PB= PC=
	run "A alone"
	mnt B; mnt C; PB=$(dpid B) PC=$(dpid C)
	sleep 1
	run "A + B, C idle"
	"$CASSAFS" umount "$D/mB" >/dev/null; "$CASSAFS" umount "$D/mC" >/dev/null
	sleep 1
done
