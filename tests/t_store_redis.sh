#!/usr/bin/env bash
# The Redis engine against real servers on 127.0.0.1 (ports 6471 and
# 6481-6486, cluster bus 6491-6496):
#   1. a standalone redis-server with a password: the store conformance
#      suite, two clients of one store (store_shared), password handling (wrong / missing / file / environment, never
#      on a command line), a hung server and a killed server (-EIO in
#      bounded time, recovery after restart, nothing committed lost);
#   2. a Redis Cluster of 3 masters + 3 replicas: the conformance suite, a
#      manual failover (the client follows MOVED) and a killed master (its
#      replica takes over and work continues).
set -u
TESTBIN=${TESTBIN:-$(cd "$(dirname "$0")/.." && pwd)/build/tests}
SPORT=6471
CPORTS="6481 6482 6483 6484 6485 6486"
dir=$(mktemp -d /tmp/cassafs-redis.XXXXXX)
PASS=pw$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export REDISCLI_AUTH=$PASS # redis-cli reads it: no -a on command lines
unset CASSAFS_REDIS_PASSWORD
passed=0 failed=0

cleanup() {
	for m in "$dir"/mnt*; do
		mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
	done
	for f in "$dir"/*/pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	[ -n "${probe_pid:-}" ] && kill "$probe_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND…
	local d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
rcli() { local p=$1; shift; redis-cli --no-auth-warning -p "$p" "$@" 2>&1; }

# Run the conformance suite against a URL and add its counts.
suite() {
	local url=$1 out line p f rc
	echo "== store_conformance $url"
	out=$(CASSAFS_REDIS_PASSWORD=$PASS timeout 300 "$TESTBIN/store_conformance" "$url" 2>&1)
	rc=$?
	echo "$out" | grep -v '^RESULT'
	line=$(grep -E '^RESULT' <<<"$out" | tail -n1)
	if [ -z "$line" ]; then bad "conformance suite on $url died (rc $rc)"; return; fi
	p=$(awk '{print $2}' <<<"$line") f=$(awk '{print $4}' <<<"$line")
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p)) failed=$((failed + f))
	echo "   conformance on $url: $p passed, $f failed"
}

# Two clients of one store (store_shared): what one commits the other's
# transactions must not miss, whatever the engine caches.
shared() {
	local url=$1 out line p f rc
	echo "== store_shared $url"
	out=$(CASSAFS_REDIS_PASSWORD=$PASS timeout 120 "$TESTBIN/store_shared" "$url" 2>&1)
	rc=$?
	echo "$out" | grep -v '^RESULT'
	line=$(grep -E '^RESULT' <<<"$out" | tail -n1)
	if [ -z "$line" ]; then bad "store_shared on $url died (rc $rc)"; return; fi
	p=$(awk '{print $2}' <<<"$line") f=$(awk '{print $4}' <<<"$line")
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p)) failed=$((failed + f))
}

# Config in a file, so the password is not in the server's argv either.
write_conf() { # write_conf PORT EXTRA-LINES
	local p=$1 d=$dir/$1
	mkdir -p "$d"
	cat >"$d/redis.conf" <<EOF
port $p
bind 127.0.0.1
protected-mode yes
requirepass $PASS
masterauth $PASS
appendonly yes
appendfsync everysec
save ""
dir $d
daemonize yes
pidfile $d/pid
logfile $d/log
$2
EOF
}
start() { # start PORT: start and wait until it answers
	redis-server "$dir/$1/redis.conf" || return 1
	for _ in $(seq 100); do
		[ "$(rcli "$1" ping)" = PONG ] && return 0
		sleep 0.1
	done
	echo "redis on port $1 did not start:"; tail -n 20 "$dir/$1/log"
	return 1
}
kill9() { kill -9 "$(cat "$dir/$1/pid")"; rm -f "$dir/$1/pid"; }

# Analyse a store_probe loop log: lines "T_MS RC DUR_MS VALUE".
max_dur() { awk 'BEGIN{m=0} $3>m{m=$3} END{print m}' "$1"; }
count_rc() { awk -v a="$2" -v b="$3" -v rc="$4" '$1>=a && $1<b && $2==rc' "$1" | wc -l; }
count_not_ok() { awk -v a="$2" -v b="$3" '$1>=a && $1<b && $2!=0' "$1" | wc -l; }
last_rc() { tail -n1 "$1" | awk '{print $2}'; }

# The whole filesystem on a Redis URL: mkfs, mount (local coordinator),
# file work, unmount, fsck, remount and read back.
fs_smoke() { # fs_smoke URL TAG
	local url=$1 tag=$2 mnt=$dir/mnt-$2 out sum1 sum2
	CASSAFS=${CASSAFS:-$(dirname "$TESTBIN")/cassafs}
	if [ ! -e /dev/fuse ]; then echo "   (no /dev/fuse: filesystem smoke test on $tag not run)"; return; fi
	mkdir -p "$mnt" "$dir/coord-$tag"
	out=$("$CASSAFS" mkfs --force "$url" 2>&1)
	check "$tag: mkfs ($out)" [ $? -eq 0 ]
	smoke_mount "$url" "$mnt" "$tag"
	check "$tag: mount ($(tail -n 3 "$dir/daemon-$tag.err"))" mountpoint -q "$mnt"
	mountpoint -q "$mnt" || return
	head -c 3000000 /dev/urandom >"$dir/data-$tag"
	sum1=$(md5sum <"$dir/data-$tag")
	(cd "$mnt" && mkdir -p d/e && cp "$dir/data-$tag" d/e/data && mv d/e/data d/data &&
		for i in $(seq 200); do echo "$i" >"d/e/f$i"; done && ln -s data d/link)
	check "$tag: file work" [ $? -eq 0 ]
	check "$tag: 200 entries listed" [ "$(ls "$mnt/d/e" | wc -l)" -eq 200 ]
	check "$tag: data read back" [ "$(md5sum <"$mnt/d/link")" = "$sum1" ]
	smoke_umount "$mnt" "$tag"
	out=$(timeout 120 "$CASSAFS" fsck --coord "local://$dir/coord-$tag" "$url" 2>&1)
	check "$tag: fsck clean ($out)" [ $? -eq 0 ]
	smoke_mount "$url" "$mnt" "$tag"
	sum2=$(md5sum <"$mnt/d/data" 2>/dev/null)
	check "$tag: data intact after remount" [ "$sum2" = "$sum1" ]
	smoke_umount "$mnt" "$tag"
}
# The daemon runs in the foreground as our child (its exit status at
# unmount is checked: a crash there is a failure).
smoke_mount() { # URL MOUNTPOINT TAG
	"$CASSAFS" mount -f --coord "local://$dir/coord-$3" "$1" "$2" </dev/null >"$dir/daemon-$3.err" 2>&1 &
	smoke_pid=$!
	for _ in $(seq 150); do
		mountpoint -q "$2" && break
		kill -0 "$smoke_pid" 2>/dev/null || break
		sleep 0.2
	done
}
smoke_umount() { # MOUNTPOINT TAG
	local st
	"$CASSAFS" umount "$1"
	for _ in $(seq 50); do mountpoint -q "$1" || break; sleep 0.2; done
	wait "$smoke_pid"; st=$?
	check "$2: daemon exited 0 at unmount (status $st)" [ "$st" -eq 0 ]
}

############################################################ standalone
echo "### standalone redis on 127.0.0.1:$SPORT"
write_conf $SPORT ""
# the restart after kill -9 keeps the durable setting
echo "appendfsync always" >>"$dir/$SPORT/redis.conf"
if ! start $SPORT; then
	bad "start redis-server"
	echo "RESULT $passed passed, $failed failed"
	exit 1
fi
URL="redis://127.0.0.1:$SPORT/2?name=conf"
suite "$URL"
shared "redis://127.0.0.1:$SPORT/3?name=shared"

P="$TESTBIN/store_probe"
PURL="redis://127.0.0.1:$SPORT/1?name=probe&timeout=2&connect_timeout=1"

out=$(CASSAFS_REDIS_PASSWORD=wrong-$PASS "$P" "$PURL" open 2>&1); rc=$?
echo "   wrong password: rc=$rc: $out"
check "wrong password: non-zero exit" [ $rc -ne 0 ]
check "wrong password: message names server and cause" \
	grep -q "127.0.0.1:$SPORT refused the password" <<<"$out"
CASSAFS=${CASSAFS:-$(dirname "$TESTBIN")/cassafs}
if [ -x "$CASSAFS" ]; then
	out=$(CASSAFS_REDIS_PASSWORD=wrong "$CASSAFS" mkfs "redis://127.0.0.1:$SPORT/7?name=pw" 2>&1); rc=$?
	echo "   cassafs mkfs, wrong password: rc=$rc: $out"
	check "cassafs mkfs with a wrong password: exit $rc, clear message" \
		bash -c "[ $rc -ne 0 ] && grep -q 'refused the password' <<<'$out'"
fi
out=$("$P" "$PURL" open 2>&1); rc=$?
echo "   no password: rc=$rc: $out"
check "no password: non-zero exit" [ $rc -ne 0 ]
check "no password: message says a password is needed" grep -q "requires a password" <<<"$out"
printf '%s\n' "$PASS" >"$dir/pw" && chmod 600 "$dir/pw"
out=$("$P" "$PURL&password_file=$dir/pw" open 2>&1); rc=$?
check "password_file= works ($out)" [ $rc -eq 0 ]
out=$(CASSAFS_REDIS_PASSWORD=$PASS "$P" "$PURL" open 2>&1); rc=$?
check "CASSAFS_REDIS_PASSWORD works ($out)" [ $rc -eq 0 ]
out=$("$P" "redis://:$PASS@127.0.0.1:$SPORT/1?name=probe" open 2>&1); rc=$?
check "password in the URL works" [ $rc -eq 0 ]
check "the store's URL hides the password ($out)" bash -c "! grep -q -- '$PASS' <<<'$out' && grep -q '\*\*\*' <<<'$out'"
out=$("$P" "redis://127.0.0.1:$SPORT/1?name=probe&password_file=$dir/nope" open 2>&1); rc=$?
check "missing password file: clear error ($out)" \
	bash -c "[ $rc -ne 0 ] && grep -q 'password file $dir/nope' <<<'$out'"
out=$(CASSAFS_REDIS_PASSWORD=$PASS "$P" "redis://127.0.0.1:1/1?name=probe&connect_timeout=1" open 2>&1); rc=$?
check "no server: clear error ($out)" bash -c "[ $rc -ne 0 ] && grep -q 'cannot connect to redis at 127.0.0.1:1' <<<'$out'"

# Failure timeline (seconds): 2 SIGSTOP (hung server) · 8 SIGCONT ·
# 10 kill -9 · 14 restart · 20 end.  A stopped server still completes TCP
# connects (the kernel's backlog), so only the timeouts can save us there.
# appendfsync always: with everysec Redis may postpone its AOF write for
# up to 2 s while an fsync is running and still answer the client, so even
# a kill -9 of the server (no power cut) can lose acknowledged commits.
out=$(rcli $SPORT config set appendfsync always)
check "appendfsync always ($out)" [ "$out" = OK ]
echo "== failure timeline against 127.0.0.1:$SPORT (timeout=2s)"
"$P" "$PURL&password_file=$dir/pw" loop 20 >"$dir/loop1" 2>"$dir/loop1.err" &
probe_pid=$!
sleep 1
check "password not visible in ps" bash -c "! ps -eo args | grep -v grep | grep -q -- '$PASS'"
sleep 1
spid=$(cat "$dir/$SPORT/pid")
kill -STOP "$spid"; sleep 6; kill -CONT "$spid"
sleep 2
kill9 $SPORT
sleep 4
start $SPORT || bad "restart redis-server"
wait "$probe_pid"; probe_pid=
awk '{print "   " $0}' "$dir/loop1" | awk 'NR%10==1 || $3>500 || $2!=0' | head -n 60
md=$(max_dur "$dir/loop1")
echo "   longest operation: ${md} ms"
check "every operation ends within 2 timeouts + slack (${md} ms <= 5500)" [ "$md" -le 5500 ]
check "ops before the trouble succeed" [ "$(count_not_ok "$dir/loop1" 0 1800)" -eq 0 ]
n=$(count_rc "$dir/loop1" 2000 8000 -5)
check "hung server: -EIO ($n times)" [ "$n" -ge 1 ]
n=$(count_rc "$dir/loop1" 10200 13800 -5)
check "dead server: -EIO ($n times)" [ "$n" -ge 1 ]
check "no other errors than -EIO" [ "$(awk '$2!=0 && $2!=-5' "$dir/loop1" | wc -l)" -eq 0 ]
check "recovered after restart" [ "$(count_not_ok "$dir/loop1" 16500 99999)" -eq 0 ]
check "last operation ok" [ "$(last_rc "$dir/loop1")" = 0 ]
# committed increments survive kill -9 of the server (AOF): the first value
# written after the restart continues from the last one before the kill
# (+1 for an increment whose outcome the client could not know)
# (the kill is the first failure after 9 s of the probe's own clock)
before=$(awk '$1>=9000 && $2!=0 {exit} $2==0 {v=$4} END{print v+0}' "$dir/loop1")
after=$(awk '$1>=9000 && $2!=0 {down=1} down && $2==0 {print $4; exit}' "$dir/loop1")
echo "   last value before kill: $before, first after restart: ${after:-none}"
check "nothing committed was lost" bash -c "[ -n '$after' ] && [ '$after' -ge $((before + 1)) ] && [ '$after' -le $((before + 2)) ]"

# A full Redis (maxmemory, noeviction) must give -ENOSPC, not -EIO.
used=$(rcli $SPORT info memory | awk -F: '/^used_memory:/ {print $2+0}')
rcli $SPORT config set maxmemory $((used + 8 * 1048576)) >/dev/null
rcli $SPORT config set maxmemory-policy noeviction >/dev/null
out=$(CASSAFS_REDIS_PASSWORD=$PASS "$P" "redis://127.0.0.1:$SPORT/4?name=full" fill 2>&1)
echo "   fill up to maxmemory: $out"
check "full Redis: -ENOSPC" [ "$(tail -n1 <<<"$out")" = -28 ]
rcli $SPORT config set maxmemory 0 >/dev/null
rcli $SPORT -n 4 flushdb >/dev/null

fs_smoke "redis://127.0.0.1:$SPORT/6?name=fs&password_file=$dir/pw" standalone-fs

############################################################ cluster
echo "### redis cluster: 3 masters + 3 replicas on 127.0.0.1:${CPORTS// /,}"
for p in $CPORTS; do
	write_conf "$p" "cluster-enabled yes
cluster-port $((p + 10))
cluster-config-file nodes.conf
cluster-node-timeout 2000
cluster-replica-validity-factor 0"
	start "$p" || bad "start cluster node $p"
done
seeds=""
for p in $CPORTS; do seeds="$seeds 127.0.0.1:$p"; done
out=$(redis-cli --no-auth-warning --cluster create $seeds --cluster-replicas 1 --cluster-yes 2>&1)
check "cluster create" grep -q "All 16384 slots covered" <<<"$out"
# ready = every node says ok and three replicas have their link up
ready=0
for _ in $(seq 150); do
	okn=0 up=0
	for p in $CPORTS; do
		rcli "$p" cluster info | grep -q 'cluster_state:ok' && okn=$((okn + 1))
		rcli "$p" info replication | grep -q 'master_link_status:up' && up=$((up + 1))
	done
	if [ $okn -eq 6 ] && [ $up -eq 3 ]; then ready=1; break; fi
	sleep 0.2
done
check "cluster ready (6 nodes ok, 3 replicas linked)" [ $ready -eq 1 ]

suite "redis-cluster://127.0.0.1:6481,127.0.0.1:6485/conf"
shared "redis-cluster://127.0.0.1:6481,127.0.0.1:6485/shared"

# one seed only: the mount passes the URL as fsname= inside -o, where a
# comma would split it (cli/fuse_ll do not escape it yet)
fs_smoke "redis-cluster://127.0.0.1:6482/fs?password_file=$dir/pw" cluster-fs

# master of the probe filesystem's slot, and its replica
CURL="redis-cluster://127.0.0.1:6481,127.0.0.1:6482,127.0.0.1:6483/probe?timeout=2&connect_timeout=1&password_file=$dir/pw"
slot=$(rcli 6481 cluster keyslot '{cfs:probe}')
master_port() { # master_port ASK-PORT [SLOT]
	rcli "$1" cluster nodes | awk -v s="${2:-$slot}" '$3 ~ /master/ && $3 !~ /fail/ {
		for (i = 9; i <= NF; i++) { n = split($i, r, "-"); lo = r[1]; hi = n > 1 ? r[2] : r[1];
			if (s + 0 >= lo + 0 && s + 0 <= hi + 0) { split($2, a, "@"); n = split(a[1], b, ":"); print b[n] } } }'
}
replica_port() { # replica_port ASK-PORT MASTER-PORT
	local id
	id=$(rcli "$1" cluster nodes | awk -v p="127.0.0.1:$2@" 'index($2, p) == 1 {print $1}')
	rcli "$1" cluster nodes | awk -v id="$id" '$4 == id && $3 ~ /slave/ {split($2, a, "@"); n = split(a[1], b, ":"); print b[n]}'
}
m1=$(master_port 6481)
r1=$(replica_port 6481 "$m1")
echo "   slot $slot of {cfs:probe}: master $m1, replica $r1"
check "found master and replica of the slot" [ -n "$m1" ] && [ -n "$r1" ]

node_id() { rcli 6481 cluster nodes | awk -v p="127.0.0.1:$1@" 'index($2, p) == 1 {print $1}'; }

echo "== slot migration under load (ASK, then MOVED)"
MURL="redis-cluster://127.0.0.1:6482/mig?timeout=2&connect_timeout=1&password_file=$dir/pw"
mslot=$(rcli 6481 cluster keyslot '{cfs:mig}')
src=$(master_port 6481 "$mslot")
dst=""
for p in $CPORTS; do
	if [ "$p" != "$src" ] && rcli "$p" role | head -n1 | grep -q master; then dst=$p; break; fi
done
echo "   slot $mslot of {cfs:mig}: moving from $src to $dst"
"$P" "$MURL" open >/dev/null 2>&1
"$P" "$MURL" loop 6 >"$dir/loopm" 2>"$dir/loopm.err" &
probe_pid=$!
sleep 1.5
rcli "$dst" cluster setslot "$mslot" importing "$(node_id "$src")" >/dev/null
rcli "$src" cluster setslot "$mslot" migrating "$(node_id "$dst")" >/dev/null
# move the marker only: a new client's open must follow ASK to find it
out=$(rcli "$src" migrate 127.0.0.1 "$dst" "" 0 5000 AUTH "$PASS" KEYS '{cfs:mig}:meta')
check "MIGRATE the marker key ($out)" [ "$out" = OK ]
out=$("$P" "$MURL" open 2>&1); rc=$?
check "open during migration follows ASK ($out)" [ $rc -eq 0 ]
sleep 1
keys=$(rcli "$src" cluster getkeysinslot "$mslot" 1000)
# shellcheck disable=SC2086
[ -n "$keys" ] && rcli "$src" migrate 127.0.0.1 "$dst" "" 0 5000 AUTH "$PASS" KEYS $keys >/dev/null
for p in $CPORTS; do rcli "$p" cluster setslot "$mslot" node "$(node_id "$dst")" >/dev/null; done
wait "$probe_pid"; probe_pid=
awk '$2!=0 {print "   " $0}' "$dir/loopm" | head -n 10
cat "$dir/loopm.err"
check "slot now served by $dst" [ "$(master_port "$dst" "$mslot")" = "$dst" ]
echo "   migration: slowest operation $(awk 'BEGIN {m = 0} $3 > m {m = $3} END {print m}' "$dir/loopm") ms (retried while the slot answers TRYAGAIN/ASK)"
check "work continued through the migration" [ "$(count_not_ok "$dir/loopm" 0 99999)" -le 3 ]
check "migration: ops at the end succeed" [ "$(count_not_ok "$dir/loopm" 4500 99999)" -eq 0 ]
check "the client followed the migrated slot" grep -q "slot $mslot .*$dst" "$dir/loopm.err"
v1=$(awk '$2==0 {v=$4} END{print v+0}' "$dir/loopm")
v2=$(CASSAFS_REDIS_PASSWORD=$PASS "$P" "${MURL%%\?*}" get 2>&1)
check "counter intact after migration ($v1 = $v2)" [ "$v1" = "$v2" ]

echo "== manual failover (old master stays up and answers MOVED)"
"$P" "$CURL" loop 9 >"$dir/loop2" 2>"$dir/loop2.err" &
probe_pid=$!
sleep 3
out=$(rcli "$r1" cluster failover)
echo "   CLUSTER FAILOVER on $r1: $out"
wait "$probe_pid"; probe_pid=
m2=$(master_port "$r1")
echo "   master of slot $slot now: $m2"
awk '$2!=0 || $3>500 {print "   " $0}' "$dir/loop2" | head -n 20
check "manual failover happened ($m1 -> $m2)" [ "$m2" = "$r1" ]
check "work continued through the manual failover" \
	[ "$(count_not_ok "$dir/loop2" 0 99999)" -le 3 ]
check "ops after the manual failover succeed" [ "$(count_not_ok "$dir/loop2" 6000 99999)" -eq 0 ]
check "manual failover: last operation ok" [ "$(last_rc "$dir/loop2")" = 0 ]
cat "$dir/loop2.err"
check "the client followed the slot to the new master" grep -q "slot $slot .*$r1" "$dir/loop2.err"

echo "== kill -9 of the master $m2 (its replica $m1 must take over)"
ask=6481; [ "$m2" = 6481 ] && ask=6482
"$P" "$CURL" loop 25 >"$dir/loop3" 2>"$dir/loop3.err" &
probe_pid=$!
sleep 3
before=$(awk '$2==0 {v=$4} END{print v+0}' "$dir/loop3")
kill9 "$m2"
sleep 1
wait "$probe_pid"; probe_pid=
m3=$(master_port "$ask")
echo "   master of slot $slot now: $m3"
awk '$2!=0 || $3>500 {print "   " $0}' "$dir/loop3" | awk 'NR<=15'
md=$(max_dur "$dir/loop3")
first_ok=$(awk '$1>3000 && $2!=0 {bad=1} bad && $2==0 {print $1; exit}' "$dir/loop3")
echo "   longest operation ${md} ms; first success after the errors at ${first_ok:-never} ms"
check "replica promoted ($m2 -> $m3)" [ -n "$m3" ] && [ "$m3" != "$m2" ]
check "ops before the kill succeed" [ "$(count_not_ok "$dir/loop3" 0 2800)" -eq 0 ]
check "every operation ends in bounded time (${md} ms <= 8000)" [ "$md" -le 8000 ]
check "work continues after failover" [ "$(count_not_ok "$dir/loop3" 20000 99999)" -eq 0 ]
check "failover: last operation ok" [ "$(last_rc "$dir/loop3")" = 0 ]
after=$(awk '$1>3500 && $2==0 {v=$4} END{print v+0}' "$dir/loop3")
check "counter kept counting across failover ($before -> $after)" [ "$after" -gt "$before" ]

echo "RESULT $passed passed, $failed failed"
[ "$failed" -eq 0 ]
