#!/usr/bin/env bash
# cassafs bench MOUNTPOINT: runs every step on a real mount, prints the
# table with positive figures, leaves nothing behind; clear errors.
. "$(dirname "$0")/lib.sh"
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
"$CASSAFS" mkfs "$URL" >/dev/null || fail "mkfs"
mount_fs "$URL" "$MP" || fail "mount"
echo keep >"$MP/keep"
"$CASSAFS" bench --big 16M --small 64K --files 50 "$MP" >"$T_TMP/out" 2>&1
check "bench exit 0" test $? -eq 0
cat "$T_TMP/out"
check "bench names the mount type" grep -q "(fuse.cassafs): big file 16 MiB, 50 small files of 64 KiB" "$T_TMP/out"
for t in "write big file" "read big file" "write small files" "read small files" "stat files" "rename files" "unlink files" "create files"; do
	check "row '$t' with a positive figure" bash -c "awk -F'|' -v t='$t' '{gsub(/^ +| +\$/, \"\", \$2)} \$2==t && \$3+0 > 0 && \$5+0 > 0' '$T_TMP/out' | grep -q ."
done
check "nothing left behind" test "$(ls -A "$MP")" = keep
check "umount after bench" umount_fs "$MP"
check "fsck clean after bench" bash -c "'$CASSAFS' fsck '$URL' >/dev/null"
mount_fs "$URL" "$MP" -o ro || fail "mount ro"
expect_error "read-only mount" "cannot make .*Read-only file system" "$CASSAFS" bench "$MP"
umount_fs "$MP"
expect_error "bad size" "bad value '12Q' for --big" "$CASSAFS" bench --big 12Q "$MP"
expect_error "not a directory" "not a directory" "$CASSAFS" bench /etc/passwd
expect_error "missing" "No such file" "$CASSAFS" bench "$T_TMP/nowhere"
finish
