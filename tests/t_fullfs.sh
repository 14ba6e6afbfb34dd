#!/usr/bin/env bash
# A full disk: writes fail with ENOSPC ("No space left on device"), data
# written and fsync'ed before stays intact, the mount keeps working once
# space is freed, and fsck finds the filesystem clean.  The store lives on
# a 200 MiB tmpfs of the test's own.
. "$(dirname "$0")/lib.sh"
SMALL=$T_TMP/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=200m tmpfs "$SMALL" || { fail "tmpfs mount"; finish; exit; }
trap '"$CASSAFS" umount "$T_TMP/mnt" 2>/dev/null; umount -l "$SMALL" 2>/dev/null; cleanup' EXIT
URL="lmdb://$SMALL/store"
MP=$T_TMP/mnt
"$CASSAFS" mkfs "$URL" >/dev/null
check "mount" mount_fs "$URL" "$MP"
head -c $((8 << 20)) /dev/urandom >"$T_TMP/keep"
check "write a file before the disk fills" cp "$T_TMP/keep" "$MP/keep"
check "fsync it" sync "$MP/keep"
out=$(dd if=/dev/urandom of="$MP/fill" bs=1M count=400 conv=fsync 2>&1); rc=$?
check "filling the disk fails" test "$rc" -ne 0
check "with ENOSPC ($out)" grep -q "No space left on device" <<<"$out"
check "the earlier file is intact" cmp "$T_TMP/keep" "$MP/keep"
check "removing the big file works" rm -f "$MP/fill"
check "writing works again" cp "$T_TMP/keep" "$MP/keep2"
check "umount" umount_fs "$MP"
out=$("$CASSAFS" fsck "$URL" 2>&1)
check "fsck clean: $out" grep -q " 0 problems" <<<"$out"
check "remount" mount_fs "$URL" "$MP"
check "both files intact after remount" bash -c "cmp '$T_TMP/keep' '$MP/keep' && cmp '$T_TMP/keep' '$MP/keep2'"
check "umount after remount" umount_fs "$MP"
finish
