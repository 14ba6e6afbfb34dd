#!/usr/bin/env bash
# Redis Cluster failover with nodes that do not answer: the engine must
# not hold its lock across connection attempts.  3 masters on 127.0.0.1
# (ports 6531-6533, bus 6541-6543): the filesystem's master is killed and
# the other two are stopped (SIGSTOP: they accept connections but never
# answer), then 8 threads of one client each try an operation.  Finding
# the master takes one round of timeouts (about 2 s with timeout=1); each
# thread must fail within about that, not wait for the others' rounds one
# after the other (8 x 2 s).  Then the nodes run again and work goes on.
. "$(dirname "$0")/lib.sh"
PORTS="6531 6532 6533"
D=$T_TMP
P=$TESTBIN/store_probe
stop_all() { for p in $PORTS; do [ -s "$D/r$p/pid" ] && { kill -CONT "$(cat "$D/r$p/pid")"; kill -9 "$(cat "$D/r$p/pid")"; } 2>/dev/null; done; }
trap 'stop_all; cleanup' EXIT
for p in $PORTS; do
	mkdir -p "$D/r$p"
	redis-server --port "$p" --bind 127.0.0.1 --dir "$D/r$p" --daemonize yes \
		--pidfile "$D/r$p/pid" --logfile "$D/r$p/log" --save '' --appendonly no \
		--cluster-enabled yes --cluster-port $((p + 10)) --cluster-config-file nodes.conf \
		--cluster-node-timeout 2000 || fail "start node $p"
done
for _ in $(seq 50); do
	n=0; for p in $PORTS; do redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && n=$((n + 1)); done
	[ $n -eq 3 ] && break; sleep 0.1
done
out=$(redis-cli --cluster create 127.0.0.1:6531 127.0.0.1:6532 127.0.0.1:6533 --cluster-yes 2>&1)
check "cluster create" grep -q "All 16384 slots covered" <<<"$out"
for _ in $(seq 100); do
	n=0; for p in $PORTS; do redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' && n=$((n + 1)); done
	[ $n -eq 3 ] && break; sleep 0.2
done
URL="redis-cluster://127.0.0.1:6531,127.0.0.1:6532,127.0.0.1:6533/stall?timeout=1&connect_timeout=1"
slot=$(redis-cli -p 6531 cluster keyslot "{cfs:stall}")
master=$(redis-cli -p 6531 cluster nodes | awk -v s="$slot" '/master/ { for (i = 9; i <= NF; i++) { split($i, r, "-"); if (s >= r[1] && s <= (r[2] == "" ? r[1] : r[2])) { split($2, a, "[:@]"); print a[2] } } }')
check "the master of slot $slot is known ($master)" test -n "$master"

coproc PROBE { exec "$P" "$URL" stall 8; }
read -r -t 20 line <&"${PROBE[0]}"
check "the client works before the failure ($line)" [ "$line" = ready ]
kill -9 "$(cat "$D/r$master/pid")"; rm -f "$D/r$master/pid"
for p in $PORTS; do [ "$p" != "$master" ] && kill -STOP "$(cat "$D/r$p/pid")"; done
echo go >&"${PROBE[1]}"
res=$(timeout 60 cat <&"${PROBE[0]}")
echo "$res" | tr '\n' ' '; echo
max=$(awk '/^max/ {print $2}' <<<"$res")
check "every operation fails (no master answers)" [ "$(grep -cv -e '^0 ' -e '^max' <<<"$res")" -eq 8 ]
check "the slowest of 8 threads waited ${max:-?} ms (< 6000: one round of timeouts, not one per thread)" [ "${max:-999999}" -lt 6000 ]
for p in $PORTS; do [ "$p" != "$master" ] && kill -CONT "$(cat "$D/r$p/pid")"; done
finish
