#!/usr/bin/env bash
# No hot spot on a shared directory (issue 8): two real mounts of one
# filesystem (Redis 6437, ZooKeeper 23287, metrics 23288-23289) make and
# remove subdirectories of one directory at the same time, and move
# subdirectories between two directories.  The parent's link count and
# times change by commutative updates in the store, so
#   - the final link counts are right (2 + subdirectories) on both mounts,
#   - the parents' mtime and ctime moved forward,
#   - rmdir of a non-empty directory still fails with ENOTEMPTY,
#   - cassafs fsck finds nothing wrong,
#   - the store write conflicts both daemons counted (/stats.json) during
#     the concurrent mkdirs and rmdirs stay far below the number of operations
#     (before: every mkdir rewrote the parent, and the two mounts' mkdirs
#     conflicted on it).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
ZKS=$PWD/tests/scripts/zk_server.sh
D=$T_TMP
RPORT=6437 ZPORT=23287 MA=23288 MB=23289
N=150 # subdirectories per mount

need redis-server "apt-get install redis-server"
need java "apt-get install zookeeper default-jre-headless"
need curl "apt-get install curl"
need python3 "apt-get install python3"

t_cleanup() {
	local mp
	for mp in "${T_MOUNTS[@]}"; do
		grep -q " $mp fuse" /proc/mounts && { timeout 20 "$CASSAFS" umount "$mp" >/dev/null 2>&1 || umount -l "$mp" 2>/dev/null; }
	done
	T_MOUNTS=()
	redis_kill "$D/redis"
	"$ZKS" stop "$D/zk" >/dev/null 2>&1
	cleanup
}
trap t_cleanup EXIT

umask 077
printf 'cassafs:dh-%s\n' "$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$D/zk.cred"
export CASSAFS_ZK_CREDENTIALS_FILE=$D/zk.cred
unset CASSAFS_ZK_AUTH CASSAFS_REDIS_PASSWORD
redis_start $RPORT "$D/redis" || { fail "redis-server on $RPORT"; finish; exit 1; }
"$ZKS" start "$D/zk" $ZPORT >/dev/null || { fail "ZooKeeper on $ZPORT"; finish; exit 1; }
STORE="redis://127.0.0.1:$RPORT/0"
COORD="zk://127.0.0.1:$ZPORT/dirhot"
A=$D/mA B=$D/mB
check "mkfs" "$CASSAFS" mkfs "$STORE"
# A and B work with the kernel's attribute cache (a getattr of a parent
# that the other mount keeps changing would be a read-only check that
# fails: a conflict too, but not on the parent's write); C, with every
# kernel cache off, reads the results.
C=$D/mC
check "mount A" mount_fs "$STORE" "$A" --coord "$COORD" -o "attr_timeout=60,metrics=127.0.0.1:$MA,log_file=$D/logA"
check "mount B" mount_fs "$STORE" "$B" --coord "$COORD" -o "attr_timeout=60,metrics=127.0.0.1:$MB,log_file=$D/logB"
check "mount C" mount_fs "$STORE" "$C" --coord "$COORD" -o "attr_timeout=0,entry_timeout=0,negative_timeout=0,log_file=$D/logC"

conflicts() { # both daemons' store write conflicts so far (a build
	# without that counter: all its conflicts)
	local p n=0 c
	for p in $MA $MB; do
		c=$(curl -sf "http://127.0.0.1:$p/stats.json" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(c.get("store_write_conflicts_total", c["store_conflicts_total"]))') || c=999999
		n=$((n + c))
	done
	echo $n
}
# at the same time: A runs "$1 a…" and B "$1 b…" over indexes $2..$3 in $4
both() {
	local op=$1 from=$2 to=$3 dir=$4 pa pb ra rb
	(cd "$A/$dir" && for i in $(seq "$from" "$to"); do $op "a$i" || exit 1; done) & pa=$!
	(cd "$B/$dir" && for i in $(seq "$from" "$to"); do $op "b$i" || exit 1; done) & pb=$!
	wait $pa; ra=$?
	wait $pb; rb=$?
	[ $ra -eq 0 ] && [ $rb -eq 0 ]
}
links() { stat -c %h "$1"; }
mtime() { stat -c '%.9Y' "$1"; }

mkdir "$A/s" "$A/t"
m0=$(mtime "$A/s")
sleep 1.1
c0=$(conflicts)
check "mkdir on both mounts at once in one directory" both mkdir 1 $N s
c1=$(conflicts)
echo "write conflicts during $((2 * N)) concurrent mkdirs: $((c1 - c0))"
want=$((2 + 2 * N))
l=$(links "$C/s"); [ "$l" = $want ] && ok || fail "link count after mkdirs: $l, want $want"
[ "$(find "$C/s" -mindepth 1 -maxdepth 1 -type d | wc -l)" = $((2 * N)) ] && ok || fail "entries after mkdirs"
m1=$(mtime "$C/s")
awk -v a="$m0" -v b="$m1" 'BEGIN { exit !(b > a) }' && ok || fail "mtime of the parent did not move: $m0 -> $m1"
c=$(stat -c '%.9Z' "$C/s")
awk -v a="$m0" -v b="$c" 'BEGIN { exit !(b > a) }' && ok || fail "ctime of the parent did not move: $m0 -> $c"
[ $((c1 - c0)) -lt $((2 * N / 10)) ] && ok || fail "$((c1 - c0)) store write conflicts for $((2 * N)) mkdirs in one directory (hot spot on the parent)"

# rmdir of a non-empty directory
mkdir "$A/s/a1/x"
expect_error "rmdir of a non-empty directory" "not empty" rmdir "$B/s/a1"
rmdir "$B/s/a1/x"

half=$((N / 2))
c0=$(conflicts)
check "rmdir on both mounts at once in one directory" both rmdir 1 $half s
c1=$(conflicts)
echo "write conflicts during $((2 * half)) concurrent rmdirs: $((c1 - c0))"
[ $((c1 - c0)) -lt $((2 * half / 10)) ] && ok || fail "$((c1 - c0)) store write conflicts for $((2 * half)) rmdirs in one directory"
want=$((2 + 2 * (N - half)))
l=$(links "$C/s"); [ "$l" = $want ] && ok || fail "link count after rmdirs: $l, want $want"

# mkdir and rmdir mixed, both mounts, then directories moved across
both mkdir $((N + 1)) $((N + 20)) s &
pm=$!
check "rmdir while the other mounts mkdir" both rmdir $((half + 1)) $((half + 20)) s
wait $pm || fail "mkdir beside rmdir"
mv_to_t() { mv "$1" "../t/$1"; }
check "directories moved to another parent from both mounts" both mv_to_t $((half + 21)) $((half + 30)) s
want=$((2 + 2 * (N - half - 20 + 20 - 10)))
l=$(links "$C/s"); [ "$l" = $want ] && ok || fail "link count of the source parent after renames: $l, want $want"
l=$(links "$C/t"); [ "$l" = 22 ] && ok || fail "link count of the target parent after renames: $l, want 22"
[ "$(links "$C")" = 4 ] && ok || fail "root link count: $(links "$C"), want 4"

check "unmount A" umount_fs "$A"
check "unmount B" umount_fs "$B"
check "unmount C" umount_fs "$C"
out=$("$CASSAFS" fsck --coord "$COORD" "$STORE" 2>&1); rc=$?
[ $rc -eq 0 ] && ok || fail "fsck after concurrent mkdir/rmdir/rename (status $rc): $out"
finish
