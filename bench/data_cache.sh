#!/usr/bin/env bash
# bench/data_cache.sh — the local read cache (-o cache_dir): sequential
# reads of one file through a mount, cache off and on, in one run.
#
#   bench/data_cache.sh [RUNS]     (default 3; SIZE_MB=256, TIER=swift|file)
#
# The file is written once.  Each run mounts three times in turn:
#   off     no cache: a read (the kernel's pages of the file dropped first)
#   cold    cache_dir emptied: the first read, which fills the cache
#   warm    the same mount read again: served from the cache
# and prints MiB/s per read and the object gets each read sent to the tier
# (the mount's data_gets_total), then the medians.  The cache directory is
# on the local disk (/tmp), whose pages the host may still hold: a warm
# read is a re-read soon after, not a cold local disk.  Run it inside a
# network namespace of your own:
#   ip netns exec NAME bench/data_cache.sh
set -u
cd "$(dirname "$0")/.." || exit 1
RUNS=${1:-3} SIZE_MB=${SIZE_MB:-256} TIER=${TIER:-swift}
CASSAFS=$PWD/build/cassafs
[ -x "$CASSAFS" ] || make -j2 >/dev/null || exit 1
W=$(mktemp -d /tmp/cassafs-bench-cache.XXXXXX)
MP=$W/mnt PORT=$((19000 + RANDOM % 1000))
mkdir -p "$MP"
stop() {
	mountpoint -q "$MP" && "$CASSAFS" umount "$MP"
	type swift_aio_stop >/dev/null 2>&1 && swift_aio_stop
	rm -rf "$W"
}
trap stop EXIT
STORE="lmdb://$W/store"
OPTS=()
if [ "$TIER" = swift ]; then
	. tests/swift_aio.sh
	swift_aio_start "$W/swift" "${SWIFT_BENCH_PORT:-16700}" || exit 1
	printf 'CASSAFS_DATA_USER=%s\nCASSAFS_DATA_KEY=%s\n' "$SWIFT_USER" "$SWIFT_KEY" >"$W/secrets"
	chmod 600 "$W/secrets"
	CASSAFS_DATA_SECRETS=$W/secrets "$CASSAFS" mkfs --data "swift://$SWIFT_HOSTPORT/bench" "$STORE" >/dev/null || exit 1
	OPTS=(data_secrets="$W/secrets")
else
	"$CASSAFS" mkfs --data "file://$W/objects" "$STORE" >/dev/null || exit 1
fi
opts() { local IFS=,; echo "${OPTS[*]}${OPTS[*]:+,}metrics=127.0.0.1:$PORT${1:+,}${1:-}"; }
gets() {
	curl -sf "http://127.0.0.1:$PORT/stats.json" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["counters"]["data_gets_total"])'
}
uncache() {
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$1"
}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# read_once NAME: one timed sequential read; appends MiB/s to $W/NAME and
# prints the line
read_once() {
	local t0 t1 g0 g1 mibs
	uncache "$MP/f"
	g0=$(gets); t0=$(now)
	dd if="$MP/f" of=/dev/null bs=1M status=none || exit 1
	t1=$(now); g1=$(gets)
	mibs=$(awk -v mb="$SIZE_MB" -v ns=$((t1 - t0)) 'BEGIN {printf "%.0f", mb / (ns / 1e9)}')
	echo "$mibs" >>"$W/$1"
	printf '  %-5s %6s MiB/s  %5d gets\n' "$1" "$mibs" $((g1 - g0))
}

"$CASSAFS" mount -o "$(opts)" "$STORE" "$MP" || exit 1
head -c $((SIZE_MB << 20)) /dev/urandom >"$MP/f" && sync || exit 1
"$CASSAFS" umount "$MP" || exit 1
echo "tier $TIER, file $SIZE_MB MiB, dd bs=1M, $RUNS runs"
for r in $(seq 1 "$RUNS"); do
	echo "run $r"
	"$CASSAFS" mount -o "$(opts)" "$STORE" "$MP" || exit 1
	read_once off
	"$CASSAFS" umount "$MP" || exit 1
	rm -rf "$W/cache"
	"$CASSAFS" mount -o "$(opts "cache_dir=$W/cache,cache_size=$((SIZE_MB + 64))M")" "$STORE" "$MP" || exit 1
	read_once cold
	read_once warm
	"$CASSAFS" umount "$MP" || exit 1
done
printf 'medians (MiB/s): off %s, cold %s, warm %s\n' \
	"$(median <"$W/off")" "$(median <"$W/cold")" "$(median <"$W/warm")"
