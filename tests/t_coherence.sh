#!/usr/bin/env bash
# t_coherence.sh — what several mounts of one filesystem show each other
# (issue 7): one Redis store and one ZooKeeper coordinator on 127.0.0.1,
# three daemons (tests/lib.sh mount_fs: each one's exit status is checked
# at unmount), and
#   1. readdir on one mount while another churns the same directory: no
#      name listed twice
#   2. three mounts rename their own file onto one name at once: the name
#      opens on every mount right after (ESTALE → a fresh lookup, never
#      ENOENT for a name that exists)
#   3. a file open on mount B, unlinked on mount A: B keeps writing and
#      reading it; it is reclaimed at B's last close, or when B's session
#      dies, and fsck is clean
#   then 40 F_SETLKW waiters on one mount: it still answers other requests
#   4. mkfs --force refuses a store that is mounted, without --coord
# CASSAFS_BIN_UNDER_TEST may name another binary (to show a test fails on
# an older build).  Ports (this script only): Redis 6601, ZooKeeper 25181.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
TOOL=$TESTBIN/dist_tool
ZKS=$PWD/tests/scripts/zk_server.sh
D=$T_TMP
RPORT=6601 ZPORT=25181

need redis-server "apt-get install redis-server"
need java "apt-get install zookeeper default-jre-headless"
[ -x "$TOOL" ] || { echo "FAIL: $TOOL not built"; echo "RESULT 0 passed, 1 failed"; exit 1; }


t_cleanup() {
	redis_kill "$D/redis"
	"$ZKS" stop "$D/zk" >/dev/null 2>&1
	[ -n "${DIST_KEEP:-}" ] && mkdir -p "$DIST_KEEP" && cp "$D"/*.err "$DIST_KEEP/" 2>/dev/null
	T_MOUNTS=()
	cleanup
}
trap t_cleanup EXIT
[ -n "${CASSAFS_BIN_UNDER_TEST:-}" ] && CASSAFS=$CASSAFS_BIN_UNDER_TEST

umask 077
printf 'cassafs:zkpw-%s\n' "$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$D/zk.cred"
export CASSAFS_ZK_CREDENTIALS_FILE=$D/zk.cred
unset CASSAFS_ZK_AUTH CASSAFS_REDIS_PASSWORD
redis_start $RPORT "$D/redis" || { fail "redis-server on $RPORT"; finish; exit 1; }
"$ZKS" start "$D/zk" $ZPORT || { fail "ZooKeeper on $ZPORT"; finish; exit 1; }

STORE="redis://127.0.0.1:$RPORT/0?timeout=2&connect_timeout=1"
COORD="zk://127.0.0.1:$ZPORT/coh?session_timeout=2000"
A=$D/mA B=$D/mB C=$D/mC
check "mkfs" "$CASSAFS" mkfs "$STORE"
for m in A B C; do
	check "mount $m" mount_fs "$STORE" "${!m}" --coord "$COORD"
done

############################################################ 1. readdir
echo "== 1. readdir on A while B creates and unlinks names in the directory"
mkdir "$A/big"
(cd "$A/big" && seq -f 'entry-%05g' 2000 | xargs touch)
( i=0; while [ $i -lt 100000 ] && [ ! -e "$D/stop-churn" ]; do
	: >"$B/big/churn-$i"; rm -f "$B/big/churn-$((i - 5))"; i=$((i + 1))
  done ) &
churn=$!
dups=0 short=0
for round in $(seq 15); do
	ls -f "$A/big" >"$D/listing" 2>"$D/ls.err" || short=$((short + 1))
	d=$(sort "$D/listing" | uniq -d | wc -l)
	dups=$((dups + d))
	n=$(grep -c '^entry-' "$D/listing")
	[ "$n" -eq 2000 ] || { short=$((short + 1)); echo "round $round: $n of 2000 stable names listed"; }
done
touch "$D/stop-churn"; wait $churn
echo "15 listings: $dups names listed twice, $short listings incomplete or failed"
check "no name listed twice in a changing directory" [ "$dups" -eq 0 ]
check "every stable name listed" [ "$short" -eq 0 ]
rm -rf "$A/big"

############################################################ 2. ESTALE
echo "== 2. three mounts rename their own file onto one name at once"
mkdir "$A/onto"
out=$(timeout 300 "$TOOL" onto 60 "$A/onto" "$B/onto" "$C/onto" 2>&1); rc=$?
echo "$out" | tail -n 8
check "the name opens on every mount after concurrent renames onto it" [ $rc -eq 0 ]
rm -rf "$A/onto"

############################################################ 3. open, unlinked elsewhere
echo "== 3. a file open on B, unlinked on A"
fails=0
for i in $(seq 10); do
	timeout 60 "$TOOL" unlink_open "$B/uo$i" "$A/uo$i" 300000 >/dev/null 2>"$D/uo.err" ||
		{ fails=$((fails + 1)); cat "$D/uo.err"; }
done
check "B writes and reads its open file after A unlinks it (10 of 10)" [ $fails -eq 0 ]
check "the unlinked files are gone from every mount" [ -z "$(ls "$A" "$C" | grep '^uo')" ]
# a name cached on B, unlinked on A while C holds the file open: B never
# shows that name with a link count of 0 (ESTALE → a fresh lookup)
mkdir "$A/sn"
out=$(timeout 120 "$TOOL" stale_nlink "$A/sn" "$B/sn" "$C/sn" 100 2>&1); rc=$?
echo "$out" | tail -n 4
check "a stale name never shows an unlinked file (nlink 0)" [ $rc -eq 0 ]
rm -rf "$A/sn"

# held open on B while B's daemon dies: the inode lives until B's session
# expires, then a live mount reclaims it
exec 7<>"$B/held"
echo "payload" >&7
rm "$A/held"
st=$("$CASSAFS" status --coord "$COORD" "$STORE" 2>&1)
grep -E "open after unlink|orphan" <<<"$st" || true
kill -9 "$(daemon_pid "$B")"; forget_daemon "$B"
exec 7>&-
fusermount3 -uz "$B"
reclaimed=0
for _ in $(seq 40); do
	if "$CASSAFS" status --coord "$COORD" "$STORE" 2>&1 | grep -qE '^orphans +0'; then reclaimed=1; break; fi
	sleep 0.5
done
check "an inode held only by a dead mount is reclaimed after its session expires" [ $reclaimed -eq 1 ]
check "remount B" mount_fs "$STORE" "$B" --coord "$COORD"

############################################################ lock waiters
echo "== 40 F_SETLKW waiters on B: B still answers, every waiter gets the lock"
echo data >"$A/lockf"
"$TOOL" hold "$A/lockf" fcntl W 8 >"$D/hold.out" &
holder=$!
for _ in $(seq 100); do grep -q locked "$D/hold.out" && break; sleep 0.1; done
waiters=()
for i in $(seq 40); do
	timeout 60 "$TOOL" wait "$B/lockf" fcntl >"$D/w$i.out" 2>&1 &
	waiters+=($!)
done
sleep 2
t0=$(date +%s%N)
timeout 10 ls "$B" >/dev/null && timeout 10 cat "$B/lockf" >/dev/null
rc=$?
el=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "ls + cat on B with 40 waiters: rc $rc in $el ms"
check "B answers while 40 lock waiters block" [ $rc -eq 0 ]
wait $holder
got=0
for w in "${waiters[@]}"; do wait "$w" && got=$((got + 1)); done
echo "$got of 40 waiters got the lock"
check "every waiter got the lock in turn" [ $got -eq 40 ]

############################################################ 4. mkfs --force
echo "== 4. mkfs --force on a mounted store"
echo precious >"$A/precious"
expect_error "mkfs --force refuses a mounted store (no --coord given)" "mounted|in use" \
	"$CASSAFS" mkfs --force "$STORE"
check "the data survived" grep -q precious "$C/precious"

############################################################ unmount
for m in A B C; do
	check "daemon of $m exits 0 at unmount" umount_fs "${!m}"
done
out=$("$CASSAFS" fsck --coord "$COORD" "$STORE" 2>&1); rc=$?
echo "$out" | tail -n 3
check "fsck clean after the run" [ $rc -eq 0 ]
finish
