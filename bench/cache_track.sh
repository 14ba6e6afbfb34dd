#!/usr/bin/env bash
# What the server-kept client cache (Redis CLIENT TRACKING, docs/redis.md)
# buys a distributed mount: one standalone Redis and one ZooKeeper on
# 127.0.0.1, one mount at a time, meta_bench -o stat,lookup,getattr over N
# files (the files made untimed first), R runs per setting, medians:
#   off     tracking=off, kernel caches off (what every shared mount did before)
#   on      tracking on (the default), kernel caches off: every stat still
#           reaches the daemon, which answers cached values without a round trip
#   on+attr tracking on, attr_timeout=60: the kernel keeps attributes until
#           another mount's change drops them
# Prints ops/s per phase and the store round trips per request (/stats.json).
# usage: bench/cache_track.sh [-n FILES] [-r RUNS]   (ports PORT…PORT+2,
# default 26590; CASSAFS=… runs another build)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
PORT=${CACHE_TRACK_PORT:-26590}
N=2000 R=3
while [ $# -gt 0 ]; do
	case $1 in -n) N=$2; shift 2 ;; -r) R=$2; shift 2 ;; *) echo "usage: $0 [-n FILES] [-r RUNS]" >&2; exit 2 ;; esac
done
make -s -C "$ROOT/bench" >&2 || exit 1
MB=$ROOT/build/bench/meta_bench
ZKS=$ROOT/tests/scripts/zk_server.sh
D=$(mktemp -d /tmp/cassafs-ct.XXXXXX)
cleanup() {
	mountpoint -q "$D/m" && "$CASSAFS" umount "$D/m" >/dev/null 2>&1
	[ -s "$D/r/pid" ] && kill "$(cat "$D/r/pid")" 2>/dev/null
	"$ZKS" stop "$D/zk" >/dev/null 2>&1
	sleep 0.5
	rm -rf "$D"
}
trap cleanup EXIT
mkdir -p "$D/r" "$D/m"
printf 'port %s\nbind 127.0.0.1\nsave ""\nappendonly no\ndir %s\ndaemonize yes\npidfile %s/pid\nlogfile %s/log\n' \
	"$PORT" "$D/r" "$D/r" "$D/r" >"$D/r/redis.conf"
redis-server "$D/r/redis.conf" || exit 1
for _ in $(seq 50); do redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
"$ZKS" start "$D/zk" $((PORT + 2)) >/dev/null || { echo "ZooKeeper did not start" >&2; exit 1; }
printf 'cassafs:ct-%s\n' "$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$D/zk.cred"
export CASSAFS_ZK_CREDENTIALS_FILE=$D/zk.cred
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# one LABEL URL-OPTIONS MOUNT-OPTIONS: R runs, a fresh filesystem each
one() {
	local label=$1 uo=$2 mo=$3 url="redis://127.0.0.1:$PORT/0" mp=$((PORT + 1)) run
	[ -n "$uo" ] && url="$url?$uo"
	: >"$D/rates"
	for run in $(seq "$R"); do
		"$CASSAFS" mkfs --force "$url" >/dev/null || exit 1
		"$CASSAFS" mount --coord "zk://127.0.0.1:$((PORT + 2))/ct$run$label" \
			-o "$mo,metrics=127.0.0.1:$mp" "$url" "$D/m" 2>/dev/null || exit 1
		for _ in $(seq 100); do mountpoint -q "$D/m" && break; sleep 0.1; done
		"$MB" -n "$N" -o stat,lookup,getattr "$D/m" >"$D/out" || exit 1
		rt=$(curl -sf "http://127.0.0.1:$mp/stats.json" | python3 -c '
import json, sys
o = json.load(sys.stdin)["ops"]
print(" ".join("%.2f" % (o[k]["round_trips"] / o[k]["count"]) if o.get(k, {}).get("count") else "-" for k in ("lookup", "getattr")))')
		printf '%s %s %s %s\n' "$(awk '/op=stat /{sub("rate=","",$5); print $5}' "$D/out")" \
			"$(awk '/op=lookup /{sub("rate=","",$5); print $5}' "$D/out")" \
			"$(awk '/op=getattr /{sub("rate=","",$5); print $5}' "$D/out")" "$rt" >>"$D/rates"
		"$CASSAFS" umount "$D/m" >/dev/null
		sleep 0.5
	done
	printf '%-9s %-50s %10.0f %10.0f %10.0f   %s / %s\n' "$label" "$mo" \
		"$(awk '{print $1}' "$D/rates" | median)" "$(awk '{print $2}' "$D/rates" | median)" \
		"$(awk '{print $3}' "$D/rates" | median)" \
		"$(awk '{print $4}' "$D/rates" | median)" "$(awk '{print $5}' "$D/rates" | median)"
}
echo "meta_bench -n $N, $R runs, medians; $CASSAFS"
printf '%-9s %-50s %10s %10s %10s   %s\n' setting "mount options" "stat/s" "lookup/s" "getattr/s" "round trips per lookup / getattr"
ZERO=attr_timeout=0,entry_timeout=0,negative_timeout=0
one off tracking=off "$ZERO"
one on "" "$ZERO"
one on+attr "" attr_timeout=60,entry_timeout=0,negative_timeout=0
