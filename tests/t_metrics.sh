#!/usr/bin/env bash
# -o metrics=: Prometheus text on /metrics (well-formed, counters that move
# with the work done, histograms consistent), /stats.json, the status page
# rendered by headless Chromium (shows the mount and its figures; a
# screenshot), `cassafs stats MOUNTPOINT`, loopback-only binding, clear
# errors, and the endpoint gone after unmount.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
PORT=9577
command -v curl >/dev/null || { fail "curl missing"; finish; exit; }
"$CASSAFS" mkfs "$URL" >/dev/null || fail "mkfs"
"$CASSAFS" mkfs "lmdb://$T_TMP/other" >/dev/null || fail "mkfs other"
mkdir -p "$MP" "$T_TMP/mnt2"

expect_error "bad metrics address" "metrics=nonsense: expected PORT or IPV4:PORT" "$CASSAFS" mount -o metrics=nonsense "$URL" "$MP"
check "mount with metrics" mount_fs "$URL" "$MP" -o metrics=127.0.0.1:$PORT
check "listens on 127.0.0.1:$PORT only" bash -c "ss -ltnH | awk '{print \$4}' | grep -qx '127.0.0.1:$PORT'"
expect_error "port in use: a second mount says so" "cannot listen on 127.0.0.1:$PORT" "$CASSAFS" mount -o metrics=$PORT "lmdb://$T_TMP/other" "$T_TMP/mnt2"

scrape() { curl -sf "http://127.0.0.1:$PORT/metrics"; }
value() { awk -v k="$1" '$1==k {print $2}' "$2"; }
scrape >"$T_TMP/m0" || fail "scrape /metrics"
# the work: 20 files of 10,000 bytes, a directory listing, stats
for i in $(seq 20); do head -c 10000 /dev/urandom >"$MP/f$i"; done
ls -l "$MP" >/dev/null; mkdir "$MP/d"; rmdir "$MP/d"
scrape >"$T_TMP/m1" || fail "scrape /metrics again"
check "content type is Prometheus text 0.0.4" bash -c "curl -sI http://127.0.0.1:$PORT/metrics | grep -qi '^content-type: text/plain; version=0.0.4'"
check "every line is a comment or NAME{LABELS} VALUE" bash -c "! grep -vE '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})? [0-9.e+-]+)\$' '$T_TMP/m1'"
w0=$(value cassafs_written_bytes_total "$T_TMP/m0"); w1=$(value cassafs_written_bytes_total "$T_TMP/m1")
check "written bytes counted exactly (+$((w1 - w0)))" test $((w1 - w0)) -eq 200000
c0=$(value 'cassafs_fuse_requests_total{op="create"}' "$T_TMP/m0"); c1=$(value 'cassafs_fuse_requests_total{op="create"}' "$T_TMP/m1")
check "create requests counted (+$((c1 - ${c0:-0})))" test $((c1 - ${c0:-0})) -eq 20
check "mkdir and rmdir counted" bash -c "grep -q 'cassafs_fuse_requests_total{op=\"mkdir\"} 1\$' '$T_TMP/m1' && grep -q 'cassafs_fuse_requests_total{op=\"rmdir\"} 1\$' '$T_TMP/m1'"
check "store write transactions grew" test "$(value cassafs_store_write_transactions_total "$T_TMP/m1")" -gt "$(value cassafs_store_write_transactions_total "$T_TMP/m0")"
check "inodes used gauge" test "$(value cassafs_inodes_used "$T_TMP/m1")" -eq 21
check "live mounts gauge" test "$(value cassafs_live_mounts "$T_TMP/m1")" -eq 1
check "histograms: buckets rise to +Inf = count, sum > 0" python3 - "$T_TMP/m1" <<'PY'
import re, sys
b, cnt, sm = {}, {}, {}
for line in open(sys.argv[1]):
    m = re.match(r'cassafs_fuse_request_duration_seconds_(bucket|sum|count)\{op="(\w+)"(?:,le="([^"]+)")?\} (\S+)', line)
    if not m: continue
    kind, op, le, v = m.groups()
    if kind == "bucket": b.setdefault(op, []).append((le, float(v)))
    elif kind == "count": cnt[op] = float(v)
    else: sm[op] = float(v)
bad = []
for op, bs in b.items():
    vals = [v for _, v in bs]
    if vals != sorted(vals): bad.append(op + ": buckets not cumulative")
    if bs[-1][0] != "+Inf" or bs[-1][1] != cnt.get(op): bad.append(op + ": +Inf != count")
    if sm.get(op, 0) <= 0: bad.append(op + ": sum not > 0")
if "create" not in b or "write" not in b: bad.append("no create/write histogram")
print("\n".join(bad)); sys.exit(1 if bad else 0)
PY

# /stats.json and cassafs stats
curl -sf "http://127.0.0.1:$PORT/stats.json" >"$T_TMP/s.json" || fail "GET /stats.json"
check "stats.json names the mount" python3 -c "
import json,sys; j=json.load(open('$T_TMP/s.json'))
sys.exit(not (j['mountpoint']=='$(realpath "$MP")' and j['ops']['create']['count']==20 and j['counters']['written_bytes_total']==200000))"
( sleep 0.5; for i in $(seq 40); do echo "$i" >"$MP/g$i"; done ) &
GPID=$!
"$CASSAFS" stats --interval 1.5 --count 1 "$MP" >"$T_TMP/stats.out" 2>&1
check "cassafs stats exit 0" test $? -eq 0
wait $GPID # never a bare wait: the mount daemons are children too
cat "$T_TMP/stats.out"
check "cassafs stats shows the creates of the interval" bash -c "awk '\$1==\"create\" && \$2+0 > 0 && \$NF >= 40' '$T_TMP/stats.out' | grep -q ."
check "cassafs stats shows data and store lines" bash -c "grep -q '^data ' '$T_TMP/stats.out' && grep -q '^store txns' '$T_TMP/stats.out'"
check "cassafs stats --json" bash -c "'$CASSAFS' stats --json '$MP' | python3 -c 'import json,sys; json.load(sys.stdin)'"
expect_error "stats of a directory that is no metrics mount" "no metrics endpoint" "$CASSAFS" stats "$T_TMP"
expect_error "stats with a bad interval" "bad interval" "$CASSAFS" stats --interval 0 "$MP"
check "404 for other paths" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nope")" = 404

# the status page in a real browser
CHROME=$(command -v chromium || command -v chromium-browser)
if [ -n "$CHROME" ]; then
	flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
	       --disable-background-networking --disable-component-update --disable-sync
	       --user-data-dir="$T_TMP/chrome" --virtual-time-budget=6000)
	timeout 90 "$CHROME" "${flags[@]}" --dump-dom "http://127.0.0.1:$PORT/" >"$T_TMP/dom.html" 2>"$T_TMP/chrome.log"
	check "chromium rendered the page" grep -q "updated .* (every 2 s)" "$T_TMP/dom.html"
	check "page shows the mount point" grep -q "CassaFS mount <span id=\"mp\">$(realpath "$MP")</span>" "$T_TMP/dom.html"
	check "page shows the filesystem and usage" bash -c "grep -q '<th>filesystem</th><td>lmdb://' '$T_TMP/dom.html' && grep -q '<th>inodes used</th><td>61</td>' '$T_TMP/dom.html'"
	check "page lists operations with counts and percentiles" grep -qE '<tr><td>create</td><td class="n">60</td><td class="n">[0-9.]+</td><td class="n">≤ [0-9.]+ (µs|ms)</td>' "$T_TMP/dom.html"
	check "page draws the bars (SVG)" grep -q '<rect x="110"' "$T_TMP/dom.html"
	check "page lists the live mount" grep -q "<td>$(realpath "$MP")</td>" "$T_TMP/dom.html"
	# under load, so that the rates and bars have something to show
	( for i in $(seq 3000); do echo "$i" >"$MP/load$((i % 50))"; cat "$MP/load$((i % 50))" >/dev/null; done ) &
	LPID=$!
	timeout 90 "$CHROME" "${flags[@]}" --window-size=1000,1250 --screenshot="$T_TMP/page.png" "http://127.0.0.1:$PORT/" >/dev/null 2>&1
	kill $LPID 2>/dev/null; wait $LPID 2>/dev/null
	check "screenshot taken" bash -c "[ \$(stat -c %s '$T_TMP/page.png') -gt 10000 ]"
	[ -n "${CASSAFS_SCREENSHOT:-}" ] && cp "$T_TMP/page.png" "$CASSAFS_SCREENSHOT"
else
	echo "(no chromium: status page not rendered)"
fi

# open handles and dirty bytes: a file held open with unflushed writes
# (python, so that no shell dup-and-close flushes it)
# The kernel sends RELEASE after close(2) returns, so the last earlier
# file's handle may still be counted for a moment: wait for it (≤ 5 s).
at_rest() {
	local i
	for i in $(seq 50); do
		scrape >"$T_TMP/m1b" && [ "$(value cassafs_open_handles "$T_TMP/m1b")" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
check "no open handles at rest" at_rest
python3 -c "
import os, sys, time
fd = os.open('$MP/held', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'buffered bytes'); open('$T_TMP/held.ready', 'w').close()
time.sleep(4); os.close(fd)" &
HP=$!
for _ in $(seq 50); do [ -e "$T_TMP/held.ready" ] && break; sleep 0.1; done
scrape >"$T_TMP/m2"
check "open handles while a file is open ($(value cassafs_open_handles "$T_TMP/m2"))" test "$(value cassafs_open_handles "$T_TMP/m2")" -ge 1
check "dirty bytes while its writes are buffered ($(value cassafs_dirty_bytes "$T_TMP/m2"))" test "$(value cassafs_dirty_bytes "$T_TMP/m2")" -ge 14
wait $HP
for _ in $(seq 50); do scrape >"$T_TMP/m3"; [ "$(value cassafs_open_handles "$T_TMP/m3")" = 0 ] && break; sleep 0.1; done
check "handles and dirty bytes back to 0 after close" test "$(value cassafs_open_handles "$T_TMP/m3") $(value cassafs_dirty_bytes "$T_TMP/m3")" = "0 0"

# a Redis store: round trips are counted and timed
RPORT=6498
if command -v redis-server >/dev/null; then
	redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--dir "$T_TMP" --pidfile "$T_TMP/redis.pid" --logfile "$T_TMP/redis.log"
	for _ in $(seq 100); do redis-cli -p $RPORT ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
	RURL="redis://127.0.0.1:$RPORT/0?name=metrics"
	mkdir -p "$T_TMP/rmnt" "$T_TMP/rcoord"
	"$CASSAFS" mkfs "$RURL" >/dev/null || fail "mkfs on Redis"
	check "mount Redis with metrics" mount_fs "$RURL" "$T_TMP/rmnt" --coord "local://$T_TMP/rcoord" -o metrics=127.0.0.1:$((PORT + 1))
	for i in $(seq 10); do echo "$i" >"$T_TMP/rmnt/r$i"; done
	curl -sf "http://127.0.0.1:$((PORT + 1))/metrics" >"$T_TMP/rm"
	rt=$(value cassafs_store_round_trips_total "$T_TMP/rm")
	check "Redis round trips counted ($rt)" test "${rt:-0}" -ge 10
	check "round-trip histogram count = counter" test "$(value cassafs_store_round_trip_seconds_count "$T_TMP/rm")" = "$rt"
	check "embedded store: no round trips" test "$(value cassafs_store_round_trips_total "$T_TMP/m1")" = 0
	check "embedded store: no coordinator session gauge" bash -c "! grep -q coordinator_session_state '$T_TMP/m1'"
	umount_fs "$T_TMP/rmnt" || fail "umount Redis"

	# two mounts with ZooKeeper: session state and change notices
	ZKS=$ROOT/tests/scripts/zk_server.sh ZPORT=22391
	if [ -f /usr/share/java/zookeeper.jar ] && "$ZKS" start "$T_TMP/zk" $ZPORT >/dev/null 2>&1; then
		ZURL="zk://127.0.0.1:$ZPORT/cassafs-metrics"
		export CASSAFS_ZK_AUTH=metrics:test-secret
		mkdir -p "$T_TMP/za" "$T_TMP/zb"
		check "mount A with zk" mount_fs "$RURL" "$T_TMP/za" --coord "$ZURL" -o metrics=127.0.0.1:$((PORT + 2))
		check "mount B with zk" mount_fs "$RURL" "$T_TMP/zb" --coord "$ZURL" -o metrics=127.0.0.1:$((PORT + 3))
		ls "$T_TMP/zb" >/dev/null; cat "$T_TMP/zb/r1" >/dev/null
		for i in $(seq 5); do mv "$T_TMP/za/r$i" "$T_TMP/za/moved$i"; done
		for _ in $(seq 50); do
			curl -sf "http://127.0.0.1:$((PORT + 3))/metrics" >"$T_TMP/zbm"
			[ "$(value cassafs_notices_received_total "$T_TMP/zbm")" -ge 5 ] 2>/dev/null && break
			sleep 0.1
		done
		curl -sf "http://127.0.0.1:$((PORT + 2))/metrics" >"$T_TMP/zam"
		check "A: session connected" test "$(value cassafs_coordinator_session_state "$T_TMP/zam")" = 1
		check "A: notices sent ($(value cassafs_notices_sent_total "$T_TMP/zam"))" test "$(value cassafs_notices_sent_total "$T_TMP/zam")" -ge 5
		check "B: notices received ($(value cassafs_notices_received_total "$T_TMP/zbm"))" test "$(value cassafs_notices_received_total "$T_TMP/zbm")" -ge 5
		check "B: session events counted" test "$(value cassafs_coordinator_session_events_total "$T_TMP/zbm")" -ge 1
		check "B: live mounts 2" test "$(value cassafs_live_mounts "$T_TMP/zbm")" = 2
		umount_fs "$T_TMP/za" || fail "umount A"
		umount_fs "$T_TMP/zb" || fail "umount B"
		"$ZKS" stop "$T_TMP/zk" >/dev/null 2>&1
	else
		echo "(no ZooKeeper: coordinator metrics not checked)"
	fi
	kill "$(cat "$T_TMP/redis.pid")" 2>/dev/null
fi

# this mount's address file: the one naming its port (other tests, e.g. a
# daemon killed by a crash test, may have left files of their own there)
af=$(grep -lx "127.0.0.1:$PORT" /run/cassafs/*.metrics /tmp/cassafs-$(id -u)/*.metrics 2>/dev/null | head -1)
check "address file names the endpoint" test -n "$af"
check "umount" umount_fs "$MP"
check "endpoint gone after unmount" bash -c "! curl -sf http://127.0.0.1:$PORT/metrics >/dev/null"
check "address file removed" test ! -e "$af"
finish
