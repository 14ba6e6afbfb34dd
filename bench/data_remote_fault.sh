#!/usr/bin/env bash
# bench/data_remote_fault.sh CASSAFS... — what a reader of a mount sees
# when the data tier's proxy is down, for each cassafs binary given (e.g.
# a build before a change and after it), in one run on one private Swift
# all-in-one (tests/swift_aio.sh; run it in a network namespace of your
# own: ip netns exec NAME bench/data_remote_fault.sh OLD NEW).
#
# For each binary and each of swift:// and s3:// (timeout=4): mkfs, a
# 20 MiB file written through a mount, a new mount with -o debug (every
# FUSE request, timestamped), the proxy stopped, then `dd bs=1M` of the
# file and a second dd of 64 KiB further in; prints both times and the
# FUSE READ requests and data-tier errors, in seconds after the first dd
# started, so the calls made in turn can be seen.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/swift_aio.sh"
[ $# -ge 1 ] || { echo "usage: $0 CASSAFS..." >&2; exit 2; }
D=$(mktemp -d /tmp/cassafs-fault.XXXXXX)
trap 'swift_aio_stop; rm -rf "$D"' EXIT
swift_aio_start "$D/swift" "${SWIFT_BENCH_PORT:-16600}" || exit 1
printf 'CASSAFS_DATA_USER=%s\nCASSAFS_DATA_KEY=%s\n' "$SWIFT_USER" "$SWIFT_KEY" >"$D/sec"
chmod 600 "$D/sec"
head -c $((20 << 20)) /dev/urandom >"$D/big"
stamp() { while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N | cut -c1-14)" "$l"; done; }
mounted() { local i; for i in $(seq 100); do grep -q " $1 fuse" /proc/mounts && return 0; sleep 0.1; done; return 1; }
n=0
for bin in "$@"; do
	for e in swift s3; do
		n=$((n + 1))
		tier="$e://$SWIFT_HOSTPORT/fault$n?timeout=4" S=lmdb://$D/store$n MP=$D/mnt$n
		mkdir -p "$MP"
		CASSAFS_DATA_SECRETS=$D/sec "$bin" mkfs --data "$tier" "$S" >/dev/null || exit 1
		( "$bin" mount -f -o data_secrets="$D/sec" "$S" "$MP" >/dev/null 2>&1 ) &
		m=$!
		mounted "$MP" || exit 1
		cp "$D/big" "$MP/big" && sync
		fusermount3 -u "$MP"; wait $m
		( "$bin" mount -o debug -o data_secrets="$D/sec" "$S" "$MP" 2>&1 | stamp >"$D/dbg$n" ) &
		m=$!
		mounted "$MP" || exit 1
		swift_proxy_stop
		t0=$(date +%s.%N | cut -c1-14)
		dd if="$MP/big" of=/dev/null bs=1M 2>"$D/dd"
		dd if="$MP/big" of=/dev/null bs=64k skip=240 count=1 2>"$D/dd2"
		echo "$bin $e: dd of the file: $(tail -n1 "$D/dd"); then 64 KiB further: $(tail -n1 "$D/dd2")"
		swift_proxy_start || exit 1
		fusermount3 -u "$MP"; wait $m
		grep -E "opcode: READ|error: -|cassafs: .*://" "$D/dbg$n" |
			awk -v t0="$t0" '$1 >= t0 { printf "  %+6.2f s  %s\n", $1 - t0, substr($0, index($0, $2)) }' |
			cut -c1-200
	done
done
