#!/usr/bin/env bash
# rm -rf of a 100,000-entry directory works in one pass: readdir offsets
# must stay valid while rm unlinks what it has read (a positional offset
# makes rm skip entries and fail with "Directory not empty").  ENTRIES
# overrides the count.
. "$(dirname "$0")/lib.sh"
N=${ENTRIES:-100000}
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
"$CASSAFS" mkfs "$URL" >/dev/null
check "mount" mount_fs "$URL" "$MP"
mkdir "$MP/big"
(cd "$MP/big" && seq -f 'entry-with-a-longish-name-%06g' 1 "$N" | xargs touch)
check "all $N entries listed" test "$(ls -U "$MP/big" | wc -l)" -eq "$N"
check "rm -rf in one pass" rm -rf "$MP/big"
check "directory gone" test ! -e "$MP/big"
check "root link count back to 2" test "$(stat -c %h "$MP")" -eq 2
check "umount" umount_fs "$MP"
out=$("$CASSAFS" fsck "$URL" 2>&1)
check "fsck clean: $out" grep -q "^1 inodes .* 0 problems" <<<"$out"
finish
