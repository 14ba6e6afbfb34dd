#!/usr/bin/env bash
# The local read cache (-o cache_dir=DIR,cache_size=BYTES) through real
# mounts of a file:// tier, counting the gets sent to the tier with the
# mount's /stats.json (data_gets_total):
#  - a file read twice (the kernel's page cache dropped in between) sends
#    no get the second time, and the bytes are right;
#  - a copy damaged from outside (one byte flipped, same length) is
#    detected, dropped and the object read again from the tier: right
#    bytes, one get, and a good copy takes its place;
#  - after a remount the cache still serves the file (index rebuilt);
#  - reading more than cache_size keeps the directory under the bound;
#  - a cache_dir on a small tmpfs that fills: reads stay right, the mount
#    logs that it stopped filling, and no read fails;
#  - refused with a clear message (on the terminal of a detached mount
#    too): cache_dir on the store tier, cache_size without cache_dir, two
#    mounts on one cache_dir.
# With SWIFT=1 (or when swift-proxy-server is installed) the first check
# runs on a swift:// tier too (tests/swift_aio.sh), and then mkfs --force
# of that filesystem: refused without the tier's credentials (nothing
# changed), and with them the old filesystem's objects are deleted from
# the container.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
need python3 "to read /stats.json and drop the page cache of a file"
OBJ=$T_TMP/objects
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
CD=$T_TMP/cache
PORT=$((17000 + RANDOM % 2000))
SMALL=$T_TMP/small

cleanup_small() { mountpoint -q "$SMALL" && umount "$SMALL"; }
trap 'exec 2>/dev/null; cleanup_small; type swift_aio_stop >/dev/null 2>&1 && swift_aio_stop; cleanup' EXIT

stat_of() { # PORT NAME: a counter (or a top-level gauge) of /stats.json
	curl -sf "http://127.0.0.1:$1/stats.json" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(j["counters"].get(sys.argv[1], j.get(sys.argv[1], 0)))' "$2"
}
gets() { stat_of "$PORT" data_gets_total; }
uncache() { # drop the kernel's cached pages of a file
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$1"
}
copies() { find "$1" -type f ! -name '.*' | wc -l; }
copy_bytes() { find "$1" -type f ! -name '.*' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

expect_error "cache_size needs cache_dir" "cache_size= needs cache_dir" \
	"$CASSAFS" mount -o cache_size=10M "$URL" "$MP"
check "mkfs --data file://" "$CASSAFS" mkfs --data "file://$OBJ" "$URL"
check "mkfs store tier" "$CASSAFS" mkfs "lmdb://$T_TMP/plain"
mkdir -p "$MP"
expect_error "the store tier refuses a read cache" "cache_dir: the store tier" \
	"$CASSAFS" mount -f -o "cache_dir=$T_TMP/nocache" "lmdb://$T_TMP/plain" "$MP"
# detached, the reason still reaches the terminal (it used to say "out of
# memory" for any failure to open the data tier)
expect_error "the store tier refuses a read cache (detached mount)" "cache_dir: the store tier" \
	"$CASSAFS" mount -o "cache_dir=$T_TMP/nocache" "lmdb://$T_TMP/plain" "$MP"

mount_fs "$URL" "$MP" -o "cache_dir=$CD,cache_size=32M,metrics=127.0.0.1:$PORT" || { finish; exit; }
head -c $((16 << 20)) /dev/urandom >"$T_TMP/a"
cp "$T_TMP/a" "$MP/a" && sync
uncache "$MP/a"
g0=$(gets)
check "first read is right" cmp "$T_TMP/a" "$MP/a"
g1=$(gets)
# each object once, however many reads (and read-ahead threads) ask for it
check "the first read got each of the 4 objects once ($((g1 - g0)) gets)" test $((g1 - g0)) -eq 4
check "4 copies in the cache ($(copies "$CD"))" test "$(copies "$CD")" -eq 4
uncache "$MP/a"
h0=$(stat_of $PORT read_cache_hits_total)
check "second read is right" cmp "$T_TMP/a" "$MP/a"
g2=$(gets)
h1=$(stat_of $PORT read_cache_hits_total)
check "the second read sent no get to the tier ($((g2 - g1)))" test $((g2 - g1)) -eq 0
check "and was served by the cache ($((h1 - h0)) hits)" test $((h1 - h0)) -gt 0

# a second mount may not share the directory
check "mkfs a second filesystem" "$CASSAFS" mkfs --data "file://$T_TMP/objects2" "lmdb://$T_TMP/store2"
mkdir -p "$T_TMP/mnt2"
expect_error "one mount per cache_dir" "in use by another mount" \
	"$CASSAFS" mount -f -o "cache_dir=$CD" "lmdb://$T_TMP/store2" "$T_TMP/mnt2"

# damage one copy in the middle of its data: same length, other bytes
victim=$(find "$CD" -type f ! -name '.*' | head -n 1)
size=$(stat -c %s "$victim")
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
at = int(sys.argv[2]) // 2
b = os.pread(fd, 1, at)
os.pwrite(fd, bytes([b[0] ^ 0xff]), at)
os.close(fd)' "$victim" "$size"
check "the damaged copy kept its length" test "$(stat -c %s "$victim")" -eq "$size"
uncache "$MP/a"
d0=$(stat_of $PORT read_cache_dropped_total)
g2=$(gets)
check "read with a damaged copy is right" cmp "$T_TMP/a" "$MP/a"
g3=$(gets)
d1=$(stat_of $PORT read_cache_dropped_total)
check "the damaged copy was dropped ($((d1 - d0)))" test $((d1 - d0)) -eq 1
check "and its object read again from the tier, once ($((g3 - g2)) gets)" test $((g3 - g2)) -eq 1
check "a good copy took its place (4 copies)" test "$(copies "$CD")" -eq 4
uncache "$MP/a"
check "read after the repair is right" cmp "$T_TMP/a" "$MP/a"
check "and served from the cache" test "$(gets)" -eq "$g3"

# across a remount
check "umount" umount_fs "$MP"
mount_fs "$URL" "$MP" -o "cache_dir=$CD,cache_size=32M,metrics=127.0.0.1:$PORT" || { finish; exit; }
g0=$(gets)
check "read after remount is right" cmp "$T_TMP/a" "$MP/a"
check "and sent no get to the tier ($(($(gets) - g0)))" test "$(gets)" -eq "$g0"

# the bound: 40 MiB read through a 32 MiB cache
head -c $((40 << 20)) /dev/urandom >"$T_TMP/b"
cp "$T_TMP/b" "$MP/b" && sync
uncache "$MP/b"
check "40 MiB file reads right" cmp "$T_TMP/b" "$MP/b"
cb=$(copy_bytes "$CD")
check "the cache holds at most 32 MiB ($cb bytes)" test "$cb" -le $((32 << 20))
check "du agrees ($(du -sb "$CD" | cut -f1))" test "$(du -sb "$CD" | cut -f1)" -le $((32 << 20))
check "read_cache_bytes under the bound" test "$(stat_of $PORT read_cache_bytes)" -le $((32 << 20))
check "copies of the newest reads are kept ($(copies "$CD"))" test "$(copies "$CD")" -ge 6
uncache "$MP/b"
check "40 MiB file reads right again" cmp "$T_TMP/b" "$MP/b"
check "umount" umount_fs "$MP"

# sizes: a large bound is taken as given (the bound, not the free space,
# is what the cache keeps to); one past 2^64 bytes is refused
if mount_fs "$URL" "$MP" -o "cache_dir=$CD,cache_size=64G"; then
	ok
	check "cache_size=64G is a bound of 68719476736 bytes" \
		grep -q "read cache $CD: .* of 68719476736 bytes" "$T_TMP/daemon-$T_NDAEMON.err"
	check "umount" umount_fs "$MP"
else
	fail "mount with cache_size=64G"
fi
expect_error "cache_size past 2^64 bytes is refused" "cache_size" \
	"$CASSAFS" mount -o "cache_dir=$CD,cache_size=17179869184G" "$URL" "$MP"

# a cache directory that fills: 6 MiB of tmpfs, a 64 MiB bound
mkdir -p "$SMALL"
if mount -t tmpfs -o size=6m tmpfs "$SMALL"; then
	mount_fs "$URL" "$MP" -o "cache_dir=$SMALL/c,cache_size=64M,metrics=127.0.0.1:$PORT" || { finish; exit; }
	err=$T_TMP/daemon-$T_NDAEMON.err
	uncache "$MP/b"
	check "reads with a full cache_dir are right" cmp "$T_TMP/b" "$MP/b"
	uncache "$MP/b"
	check "and again" cmp "$T_TMP/b" "$MP/b"
	check "the mount said it stopped filling" grep -q "cannot write a copy (No space left on device): not filling" "$err"
	check "no temporary file left" test "$(find "$SMALL/c" -name '.tmp.*' | wc -l)" -eq 0
	check "umount" umount_fs "$MP"
	cleanup_small
else
	fail "cannot mount a tmpfs for the full-directory check"
fi

# on a swift:// tier, when Swift is here
if [ "${SWIFT:-}" = 1 ] || command -v swift-proxy-server >/dev/null; then
	. "$HERE/swift_aio.sh"
	if swift_aio_start "$T_TMP/swift" "${SWIFT_TEST_PORT:-16500}"; then
		printf 'CASSAFS_DATA_USER=%s\nCASSAFS_DATA_KEY=%s\n' "$SWIFT_USER" "$SWIFT_KEY" >"$T_TMP/secrets"
		chmod 600 "$T_TMP/secrets"
		SURL="lmdb://$T_TMP/sstore"
		check "mkfs --data swift://" env CASSAFS_DATA_SECRETS="$T_TMP/secrets" \
			"$CASSAFS" mkfs --data "swift://$SWIFT_HOSTPORT/cache_t" "$SURL"
		mount_fs "$SURL" "$MP" -o "data_secrets=$T_TMP/secrets,cache_dir=$T_TMP/scache,cache_size=64M,metrics=127.0.0.1:$PORT" || { finish; exit; }
		cp "$T_TMP/a" "$MP/a" && sync
		uncache "$MP/a"
		check "swift: first read is right" cmp "$T_TMP/a" "$MP/a"
		g1=$(gets)
		uncache "$MP/a"
		check "swift: second read is right" cmp "$T_TMP/a" "$MP/a"
		check "swift: and sent no get ($(($(gets) - g1)))" test "$(gets)" -eq "$g1"
		check "swift: umount" umount_fs "$MP"
		# mkfs --force deletes the old filesystem's objects from the
		# tier; without credentials for it, it refuses and changes nothing
		suuid() { CASSAFS_DATA_SECRETS="$T_TMP/secrets" "$CASSAFS" status --json "$SURL" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])'; }
		old=$(suuid)
		listed() { # objects of filesystem $1 in the container
			local h tok url
			h=$(curl -si -H "X-Auth-User: $SWIFT_USER" -H "X-Auth-Key: $SWIFT_KEY" "$SWIFT_AUTH_URL" | tr -d '\r')
			tok=$(sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p' <<<"$h"); url=$(sed -n 's/^[Xx]-[Ss]torage-[Uu]rl: //p' <<<"$h")
			curl -sf -H "X-Auth-Token: $tok" "$url/cache_t?prefix=$1/" | grep -c .
		}
		n=$(listed "$old")
		check "swift: the filesystem has objects ($n)" test "$n" -ge 4
		expect_error "swift: mkfs --force without the tier's credentials refuses" "cannot open swift://.*--keep-data" \
			env -u CASSAFS_DATA_SECRETS "$CASSAFS" mkfs --force "$SURL"
		check "swift: and changed nothing" test "$(suuid)" = "$old"
		out=$(CASSAFS_DATA_SECRETS="$T_TMP/secrets" "$CASSAFS" mkfs --force --data "swift://$SWIFT_HOSTPORT/cache_t" "$SURL"); rc=$?
		check "swift: mkfs --force ($out)" test "$rc" -eq 0
		check "swift: it deleted the old objects" grep -q "deleted $n objects of the old filesystem $old" <<<"$out"
		for _ in $(seq 50); do [ "$(listed "$old")" -eq 0 ] && break; sleep 0.1; done
		check "swift: none of them is left ($(listed "$old"))" test "$(listed "$old")" -eq 0
	else
		fail "Swift all-in-one did not start"
	fi
fi
finish
