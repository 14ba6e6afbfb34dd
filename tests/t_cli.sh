#!/usr/bin/env bash
# The command line: help and version, mkfs/mount/umount/status/fsck, bad
# input of every kind (clear message, non-zero exit, never a crash), the
# second-mount refusal naming the holder, fstab mounting, logging, data
# integrity across a remount, and the daemon's memory while writing 1 GiB.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
mkdir -p "$MP"

check "--version" bash -c "'$CASSAFS' --version | grep -q '^cassafs [0-9]'"
for c in mkfs mount umount status fsck; do
	check "$c --help" bash -c "'$CASSAFS' $c --help | grep -q usage"
done
expect_error "no command" "usage" "$CASSAFS"
expect_error "unknown command" "unknown command" "$CASSAFS" frobnicate

# mkfs
expect_error "bad block size" "block size" "$CASSAFS" mkfs --block-size 3000 "$URL"
expect_error "huge block size" "block size" "$CASSAFS" mkfs --block-size 16M "$URL"
check "mkfs" bash -c "'$CASSAFS' mkfs --block-size 128K '$URL' | grep -q 'block size 131072'"
expect_error "mkfs over an existing filesystem" "already holds a filesystem" "$CASSAFS" mkfs "$URL"
check "mkfs makes missing parent directories" bash -c "'$CASSAFS' mkfs 'lmdb://$T_TMP/a/b/c' >/dev/null && test -f '$T_TMP/a/b/c/data.mdb'"
check "mkfs --force" bash -c "'$CASSAFS' mkfs --force '$URL' >/dev/null"
check "status" bash -c "'$CASSAFS' status '$URL' | grep -q 'block size   65536'"

# URLs and stores
expect_error "not a URL" "not a store URL" "$CASSAFS" status /some/path
expect_error "unknown scheme" "unknown store scheme" "$CASSAFS" status "ftp://x/y"
expect_error "relative lmdb path" "three slashes" "$CASSAFS" status "lmdb://relative/path"
expect_error "unknown URL option" "unknown option" "$CASSAFS" status "$URL?bogus=1"
expect_error "missing store" "mkfs" "$CASSAFS" status "lmdb://$T_TMP/nothing-here"
expect_error "mount missing store" "mkfs" "$CASSAFS" mount "lmdb://$T_TMP/nothing-here" "$MP"
mkdir -p "$T_TMP/empty"
expect_error "empty directory as store" "mkfs" "$CASSAFS" fsck "lmdb://$T_TMP/empty"
: >"$T_TMP/afile"
expect_error "store path is a file" "not a directory" "$CASSAFS" status "lmdb://$T_TMP/afile"

# corrupt and foreign stores
mkdir -p "$T_TMP/corrupt"; head -c 65536 /dev/urandom >"$T_TMP/corrupt/data.mdb"
expect_error "corrupt store" "corrupt|not an LMDB" "$CASSAFS" status "lmdb://$T_TMP/corrupt"
expect_error "corrupt store mount" "corrupt|not an LMDB" "$CASSAFS" mount "lmdb://$T_TMP/corrupt" "$MP"
mkdir -p "$T_TMP/foreign"
# key = family 0 | row 0 | "sb": a superblock column with foreign bytes
printf 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 0000000000000000007362\n 6e6f7420636173736166732073757065726e6c6f636b20617420616c6c212121212121212121212121212121212121212121212121212121\nDATA=END\n' | mdb_load "$T_TMP/foreign"
expect_error "foreign superblock" "not CassaFS" "$CASSAFS" status "lmdb://$T_TMP/foreign"
mkdir -p "$T_TMP/other"
printf 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b6579\n 76616c7565\nDATA=END\n' | mdb_load "$T_TMP/other"
expect_error "LMDB without a filesystem" "holds no CassaFS" "$CASSAFS" status "lmdb://$T_TMP/other"

# mount arguments
expect_error "mountpoint missing" "No such file" "$CASSAFS" mount "$URL" "$T_TMP/nowhere"
expect_error "mountpoint is a file" "not a directory" "$CASSAFS" mount "$URL" "$T_TMP/afile"
expect_error "unknown mount option" "unknown mount option 'frob'" "$CASSAFS" mount -o frob "$URL" "$MP"
expect_error "bad option value" "bad value" "$CASSAFS" mount -o attr_timeout=-3 "$URL" "$MP"
expect_error "mount without arguments" "usage" "$CASSAFS" mount "$URL"

# mount, second mount, busy mountpoint, status
check "mount" mount_fs "$URL" "$MP" -o log_file="$T_TMP/log",log_level=debug
pid=$(daemon_pid "$MP")
check "status names the mount" bash -c "'$CASSAFS' status '$URL' | grep -q 'pid $pid .*at $MP'"
mkdir -p "$T_TMP/mnt2"
expect_error "second mount" "already mounted by pid $pid" "$CASSAFS" mount "$URL" "$T_TMP/mnt2"
mkfs_other="lmdb://$T_TMP/store2"; "$CASSAFS" mkfs "$mkfs_other" >/dev/null
expect_error "busy mountpoint" "busy" "$CASSAFS" mount "$mkfs_other" "$MP"
expect_error "fsck --repair while mounted" "unmount it" "$CASSAFS" fsck --repair "$URL"
expect_error "mkfs --force while mounted" "mounted" "$CASSAFS" mkfs --force "$URL"
check "log file written" grep -q "mounted $URL" "$T_TMP/log"
long=$(printf 'n%.0s' $(seq 256))
expect_error "name too long" "too long" touch "$MP/$long"
check "255-byte name" touch "$MP/${long:1}"

# data integrity across a remount, and bounded memory for 1 GiB
head -c $((64 << 20)) /dev/urandom >"$T_TMP/rand"
check "copy in" cp "$T_TMP/rand" "$MP/rand"
dd if=/dev/urandom of="$MP/big" bs=1M count=1024 status=none
hwm=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)
echo "daemon peak RSS after writing 1 GiB: $((hwm / 1024)) MiB"
check "daemon RSS bounded (${hwm} kB < 400 MiB)" test "$hwm" -lt $((400 * 1024))
check "umount" umount_fs "$MP"
check "daemon gone after umount" bash -c "! kill -0 $pid 2>/dev/null"
check "status after umount" bash -c "'$CASSAFS' status '$URL' | grep -q 'mounted      no'"
check "fsck clean" "$CASSAFS" fsck "$URL"
check "remount" mount_fs "$URL" "$MP"
check "data intact after remount" cmp "$T_TMP/rand" "$MP/rand"
check "big file size" test "$(stat -c %s "$MP/big")" -eq $((1 << 30))
check "umount after remount" umount_fs "$MP"

# read-only mount and the fstab helper
check "mount ro" mount_fs "$URL" "$MP" -o ro
expect_error "write on ro mount" "read-only" touch "$MP/x"
check "umount ro" umount_fs "$MP"
check "mount.cassafs helper" env CASSAFS="$CASSAFS" "$ROOT/tools/mount.cassafs" "$URL" "$MP" -o rw,noatime,_netdev
check "helper mounted" grep -q " $MP fuse.cassafs " /proc/mounts
"$CASSAFS" umount "$MP"
if [ -x /sbin/mount.cassafs ]; then
	check "mount -t cassafs (fstab)" mount -t cassafs "$URL" "$MP" -o defaults
	check "mounted through mount(8)" grep -q " $MP fuse.cassafs " /proc/mounts
	"$CASSAFS" umount "$MP"
fi
finish
