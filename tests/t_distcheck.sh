#!/usr/bin/env bash
# t_distcheck.sh — a short run of the randomized multi-mount checker
# (build/tests/distcheck, issue 7):
#   1. Redis + ZooKeeper: one filesystem mounted three times by three
#      daemons (-f, in the background, so their exit status is known),
#      3 workers, DISTCHECK_OPS operations (default 2400) spread over the mounts
#   2. LMDB: one mount, 3 worker processes through it
# Each part: the checker finds no divergence, every daemon exits 0 at
# `cassafs umount`, fsck is clean afterwards.
# Environment (bench/distcheck.sh uses these for the long run):
#   DISTCHECK_OPS=N      operations per part (2400)
#   DISTCHECK_SECS=S     the checker's time limit per part (100)
#   DISTCHECK_ROUND=N    operations per worker between quiescent checks (200)
#   DISTCHECK_PARTS      "redis lmdb" (default), or one of them
#   DISTCHECK_SEED=N     the seed (default: a new one, printed)
#   DISTCHECK_OPTS       more checker options, e.g. "-x openunlink" to leave
#                        out a class known to fail (docs/distributed.md)
#   DISTCHECK_MOUNT_OPTS mount options of the Redis part's mounts, e.g.
#                        "attr_timeout=60" (attributes cached in the kernel,
#                        dropped by the store's invalidations)
# Ports (this script only): Redis 6501, ZooKeeper 24181.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
DC=$TESTBIN/distcheck
ZKS=$PWD/tests/scripts/zk_server.sh
D=$T_TMP
RPORT=6501 ZPORT=24181
OPS=${DISTCHECK_OPS:-2400} SECS=${DISTCHECK_SECS:-100} ROUND=${DISTCHECK_ROUND:-200}
PARTS=${DISTCHECK_PARTS:-redis lmdb}
# shellcheck disable=SC2206
XOPTS=(${DISTCHECK_OPTS:-} ${DISTCHECK_SEED:+-s $DISTCHECK_SEED})

need redis-server "apt-get install redis-server"
need java "apt-get install zookeeper default-jre-headless"
[ -x "$DC" ] || { echo "FAIL: $DC not built"; echo "RESULT 0 passed, 1 failed"; exit 1; }

t_cleanup() {
	local mp
	for mp in "${T_MOUNTS[@]}"; do
		grep -q " $mp fuse" /proc/mounts && { timeout 20 "$CASSAFS" umount "$mp" >/dev/null 2>&1 || umount -l "$mp" 2>/dev/null; }
	done
	T_MOUNTS=()
	redis_kill "$D/redis"
	"$ZKS" stop "$D/zk" >/dev/null 2>&1
	[ -n "${DIST_KEEP:-}" ] && mkdir -p "$DIST_KEEP" && cp -r "$D"/*.err "$D"/*.out "$DIST_KEEP/" 2>/dev/null
	cleanup
}
trap t_cleanup EXIT

# umount_all: unmount every mount; each daemon must exit 0 (lib.sh)
umount_all() {
	local mp
	for mp in "${!T_DAEMON[@]}"; do
		check "daemon of $mp exits 0 at unmount" umount_fs "$mp"
	done
}
# run_check NAME ARGS...: the checker; its output is kept in $D/NAME.out
run_check() {
	local name=$1; shift
	timeout $((SECS + 120)) "$DC" "$@" >"$D/$name.out" 2>&1; local rc=$?
	grep '^distcheck: round ' "$D/$name.out" | tail -n 2   # progress with -v
	grep -v '^distcheck: round ' "$D/$name.out" | head -n 60
	if [ "$rc" -eq 0 ]; then ok; else fail "$name: distcheck exit $rc (above: the first divergence and how to rerun it)"; fi
}

umask 077
ZPW="zkpw-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf 'cassafs:%s\n' "$ZPW" >"$D/zk.cred"
export CASSAFS_ZK_CREDENTIALS_FILE=$D/zk.cred
unset CASSAFS_ZK_AUTH CASSAFS_REDIS_PASSWORD
umask 022

if grep -qw redis <<<"$PARTS"; then
echo "== 1. Redis + ZooKeeper, 3 mounts"
redis_start $RPORT "$D/redis" || { fail "redis-server on $RPORT"; finish; exit 1; }
"$ZKS" start "$D/zk" $ZPORT || { fail "ZooKeeper on $ZPORT"; finish; exit 1; }
STORE="redis://127.0.0.1:$RPORT/0?timeout=5&connect_timeout=1"
COORD="zk://127.0.0.1:$ZPORT/cfs?session_timeout=4000"
check "mkfs $STORE" "$CASSAFS" mkfs "$STORE"
up=1
for m in A B C; do
	mount_fs "$STORE" "$D/m$m" --coord "$COORD" ${DISTCHECK_MOUNT_OPTS:+-o "$DISTCHECK_MOUNT_OPTS"} || { fail "mount $m"; up=0; }
done
if [ $up = 1 ]; then
	run_check redis -n "$OPS" -w 3 -q "$ROUND" -t "$SECS" "${XOPTS[@]}" "$D/mA" "$D/mB" "$D/mC"
fi
umount_all
out=$(timeout 120 "$CASSAFS" fsck --coord "$COORD" "$STORE" 2>&1); rc=$?
echo "$out" | tail -n 3
check "fsck clean after the Redis run (exit $rc)" [ "$rc" -eq 0 ]
fi

if grep -qw lmdb <<<"$PARTS"; then
echo "== 2. LMDB, one mount, 3 worker processes"
LSTORE="lmdb://$D/lmdb"
check "mkfs $LSTORE" "$CASSAFS" mkfs "$LSTORE"
if mount_fs "$LSTORE" "$D/mL"; then
	run_check lmdb -n "$OPS" -w 3 -q "$ROUND" -t "$SECS" "${XOPTS[@]}" "$D/mL"
else
	fail "mount $LSTORE"
fi
umount_all
out=$(timeout 120 "$CASSAFS" fsck "$LSTORE" 2>&1); rc=$?
echo "$out" | tail -n 3
check "fsck clean after the LMDB run (exit $rc)" [ "$rc" -eq 0 ]
fi

finish
