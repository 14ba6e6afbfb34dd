#!/usr/bin/env bash
# Store round trips per FUSE request, counted by CassaFS's engine, on one
# standalone Redis and on a Redis Cluster of 3 masters (issue 8's target:
# the same counts on both).  Each: mkfs, one mount with a ZooKeeper
# coordinator and every kernel cache timeout 0 (so every name resolution is
# a LOOKUP and every fstat a GETATTR), meta_bench over N files, then the
# mount's /stats.json: round trips / requests per operation.
# usage: bench/round_trips.sh [-n FILES]   (ports PORT…PORT+6, default 26490)
# Needs root (FUSE), redis-server, redis-cli, ZooKeeper, jq, curl, build/.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
PORT=${ROUND_TRIPS_PORT:-26490}
N=300
[ "${1:-}" = -n ] && N=$2
make -s -C "$ROOT/bench" >&2 || exit 1
MB=$ROOT/build/bench/meta_bench
ZKS=$ROOT/tests/scripts/zk_server.sh
D=$(mktemp -d /tmp/cassafs-rt.XXXXXX)
cleanup() {
	mountpoint -q "$D/m" && "$CASSAFS" umount "$D/m" >/dev/null 2>&1
	for f in "$D"/r*/pid; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	"$ZKS" stop "$D/zk" >/dev/null 2>&1
	sleep 0.5
	rm -rf "$D"
}
trap cleanup EXIT
start_redis() { # port [extra config]
	local d=$D/r$1
	mkdir -p "$d"
	printf 'port %s\nbind 127.0.0.1\nsave ""\nappendonly no\ndir %s\ndaemonize yes\npidfile %s/pid\nlogfile %s/log\n%s\n' \
		"$1" "$d" "$d" "$d" "${2:-}" >"$d/redis.conf"
	redis-server "$d/redis.conf" || exit 1
	for _ in $(seq 50); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return; sleep 0.1; done
	echo "redis on $1 did not start" >&2; exit 1
}
"$ZKS" start "$D/zk" $((PORT + 6)) >/dev/null || { echo "ZooKeeper did not start" >&2; exit 1; }
printf 'cassafs:rt-%s\n' "$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$D/zk.cred"
export CASSAFS_ZK_CREDENTIALS_FILE=$D/zk.cred
start_redis "$PORT"
for i in 1 2 3; do start_redis $((PORT + i)) "cluster-enabled yes
cluster-port $((PORT + i + 10))
cluster-config-file nodes.conf
cluster-node-timeout 2000"; done
redis-cli --cluster create 127.0.0.1:$((PORT + 1)) 127.0.0.1:$((PORT + 2)) 127.0.0.1:$((PORT + 3)) \
	--cluster-yes >/dev/null 2>&1 || { echo "cluster create failed" >&2; exit 1; }
for _ in $(seq 100); do redis-cli -p $((PORT + 1)) cluster info | grep -q 'cluster_state:ok' && break; sleep 0.2; done
measure() { # label url coord-path
	local m=$D/m mp=$((PORT + 5))
	local url=$2${RT_URL_OPTS:+$([ "${2#*\?}" != "$2" ] && echo '&' || echo '?')$RT_URL_OPTS}
	"$CASSAFS" mkfs "$url" >/dev/null || exit 1
	mkdir -p "$m"
	"$CASSAFS" mount --coord "zk://127.0.0.1:$((PORT + 6))/$3" \
		-o attr_timeout=0,entry_timeout=0,negative_timeout=0,metrics=127.0.0.1:$mp,log_file=$D/$3.log "$url" "$m" 2>/dev/null || exit 1
	for _ in $(seq 100); do mountpoint -q "$m" && break; sleep 0.1; done
	"$MB" -n "$N" -o create,stat,open,readdir,lookup,getattr,rename,unlink,mkdir,rmdir \
		-x "curl -sf http://127.0.0.1:$mp/stats.json >$D/$3-\$MB_PHASE.json" "$m" >/dev/null || exit 1
	printf '%-28s %s\n' "$1" "$(curl -sf "http://127.0.0.1:$mp/stats.json" |
		jq -r '[.ops | to_entries[] | select(.value.count > 0 and (.key | test("^(lookup|getattr|create|open|release|readdir|readdirplus|unlink|rename|mkdir|rmdir)$")))
			| "\(.key) \(.value.round_trips / .value.count * 100 | round / 100)"] | join(", ")')"
	python3 - "$D/$3" <<'PY'
import json, sys
base = sys.argv[1]
def ops(phase):
    return json.load(open("%s-%s.json" % (base, phase)))["ops"]
order = ["start", "create", "stat", "open", "lookup", "getattr"]
out = []
for prev, ph in zip(order, order[1:]):
    a, b = ops(prev), ops(ph)
    cells = []
    for op in ("lookup", "getattr", "create", "open", "release"):
        n = b.get(op, {}).get("count", 0) - a.get(op, {}).get("count", 0)
        if n:
            rt = b[op]["round_trips"] - a.get(op, {}).get("round_trips", 0)
            cells.append("%s %.2f" % (op, rt / n))
    out.append("%s phase: %s" % (ph, ", ".join(cells)))
print("    by phase: " + "; ".join(out))
PY
	"$CASSAFS" umount "$m" >/dev/null
	sleep 0.5
}
echo "store round trips per FUSE request (meta_bench -n $N, kernel cache timeouts 0)"
measure "Redis (one server)" "redis://127.0.0.1:$PORT/0" rt1
measure "Redis Cluster (3 masters)" "redis-cluster://127.0.0.1:$((PORT + 1))/rtfs" rt2
