#!/usr/bin/env bash
# The ring data tier against Swift's own proxy, on the same object servers,
# side by side in one run: four swift-object-servers (one device each,
# zones 1-4, 3 replicas), a container server, an account server, memcached
# and swift-proxy-server (TempAuth), all on 127.0.0.1 (run it in a network
# namespace of your own).  Each round writes NOBJ objects of SIZE bytes,
# BATCH at a time through data.h (data_put_batch / data_get_batch, the way
# the layout calls the tier), reads them back and deletes them, through
# ring:// (CassaFS straight to the object servers) and swift:// (through
# the proxy); then the ring engine again with one object server killed
# (read failover).  Figures: MiB/s, median of RUNS rounds.
#
#   ip netns exec NS bench/ring_data.sh          # markdown table
#   NOBJ=32 SIZE=4194304 BATCH=4 RUNS=3 ...
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
IO=$ROOT/build/tests/data_ring_io
NOBJ=${NOBJ:-32} SIZE=${SIZE:-4194304} BATCH=${BATCH:-4} RUNS=${RUNS:-3}
BASE=${BASE:-27200}
[ -x "$IO" ] || { echo "build the tests first (make tests)" >&2; exit 2; }
. "$ROOT/tests/ring/swift_cluster.sh"
T=$(mktemp -d /tmp/ring_data_bench.XXXXXX)
trap 'swift_cluster_stop; rm -rf "$T"' EXIT
swift_cluster_start "$T/sc" "$BASE" 4 || { echo "cluster did not start" >&2; exit 1; }
E=$T/sc/etc
pacc=$((BASE + 21)) pproxy=$((BASE + 22)) pmc=$((BASE + 23))
"$CASSAFS" ring "$E/account.builder" create 4 1 0 >/dev/null
"$CASSAFS" ring "$E/account.builder" add "r1z1-127.0.0.1:$pacc/a1" 100 >/dev/null
"$CASSAFS" ring "$E/account.builder" rebalance >/dev/null
mkdir -p "$T/sc/acc/a1"
sc_conf account "$pacc" "$T/sc/acc" "$T/sc/acc.conf"
swift-account-server "$T/sc/acc.conf" >>"$T/sc/acc.log" 2>&1 &
SC_PIDS+=($!)
memcached -l 127.0.0.1 -p "$pmc" -U 0 -m 32 -u "$(id -un)" >/dev/null 2>&1 &
SC_PIDS+=($!)
cat >"$E/proxy.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $pproxy
workers = 0
swift_dir = $E
log_level = WARNING
[pipeline:main]
pipeline = catch_errors cache tempauth proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
user_bench_tester = testing .admin
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$pmc
[filter:catch_errors]
use = egg:swift#catch_errors
CONF
swift-proxy-server "$E/proxy.conf" >>"$T/sc/proxy.log" 2>&1 &
SC_PIDS+=($!)
sc_wait "$pacc" a1 /probe || exit 1
for i in $(seq 100); do
	curl -s -o /dev/null -H 'X-Auth-User: bench:tester' -H 'X-Auth-Key: testing' \
		"http://127.0.0.1:$pproxy/auth/v1.0" && break
	sleep 0.2
done
export CASSAFS_DATA_USER=bench:tester CASSAFS_DATA_KEY=testing
RING_URL=$SC_URL
RING_NV_URL="$SC_URL&verify=0"
RING_H0_URL="$SC_URL&hashers=0"
SWIFT_URL="swift://127.0.0.1:$pproxy/bench"
"$IO" "$RING_URL" prepare && "$IO" "$SWIFT_URL" prepare || { echo "prepare failed" >&2; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A W R
for run in $(seq "$RUNS"); do
	for eng in ring ringh0 ringnv swift; do
		url=$RING_URL; [ $eng = swift ] && url=$SWIFT_URL; [ $eng = ringnv ] && url=$RING_NV_URL
		[ $eng = ringh0 ] && url=$RING_H0_URL
		out=$("$IO" "$url" bench "$NOBJ" "$SIZE" "$BATCH" "$eng$run") || echo "$eng run $run: $out" >&2
		W[$eng]+="$(awk '{print $2}' <<<"$out") "
		R[$eng]+="$(awk '{print $4}' <<<"$out") "
	done
done
swift_obj_kill 2
for run in $(seq "$RUNS"); do
	out=$("$IO" "$RING_URL" bench "$NOBJ" "$SIZE" "$BATCH" "fail$run" 2>/dev/null) || echo "failover run $run: $out" >&2
	W[fail]+="$(awk '{print $2}' <<<"$out") "
	R[fail]+="$(awk '{print $4}' <<<"$out") "
done
m() { tr ' ' '\n' <<<"$1" | grep . | median; }
rw=$(m "${W[ring]}") rr=$(m "${R[ring]}") sw=$(m "${W[swift]}") sr=$(m "${R[swift]}")
fw=$(m "${W[fail]}") fr=$(m "${R[fail]}") nw=$(m "${W[ringnv]}") nr=$(m "${R[ringnv]}")
hw=$(m "${W[ringh0]}") hr=$(m "${R[ringh0]}")
echo "| engine | write MiB/s | read MiB/s |"
echo "|---|---:|---:|"
echo "| ring:// (straight to the object servers; MD5 of every read checked, by hasher threads) | $rw | $rr |"
echo "| ring://…&hashers=0 (MD5 checked on the transfer thread, as before) | $hw | $hr |"
echo "| ring://…&verify=0 (reads not checked, as the proxy does not) | $nw | $nr |"
echo "| swift:// (through swift-proxy-server) | $sw | $sr |"
echo "| ring:// with one of four object servers killed | $fw | $fr |"
awk -v a="$rw" -v b="$sw" -v c="$rr" -v d="$sr" -v e="$fr" -v f="$nr" -v g="$hr" 'BEGIN {
	printf "\nring/swift: write %.2fx, read %.2fx (hashers=0: %.2fx, verify=0: %.2fx); read with a server killed / healthy: %.2fx\n", a/b, c/d, g/d, f/d, e/c }'
echo "($NOBJ objects of $SIZE bytes, $BATCH per batch, median of $RUNS runs; $(nproc) cores)"
