#!/usr/bin/env bash
# atime through a real mount: relatime (the default), noatime and
# strictatime decide whether a read (or a listing) updates atime.  FUSE
# leaves atime to the filesystem, so the mount option must reach the vfs.
# Attributes are not cached (attr_timeout=0) so stat shows the store.
. "$(dirname "$0")/lib.sh"
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
"$CASSAFS" mkfs "$URL" >/dev/null || { fail mkfs; finish; exit; }
check "mount" mount_fs "$URL" "$MP"
echo old >"$MP/f1"; echo recent >"$MP/f2"; mkdir "$MP/d"; touch "$MP/d/x"
check "umount" umount_fs "$MP"
OLD=946684800 # 2000-01-01
# try MODE WANT_F1 WANT_F2 WANT_DIR: on a fresh mount (nothing in the
# page cache) f1's atime is older than its mtime: read it once; f2 is read
# twice 1.1 s apart with O_DIRECT (past the page cache), its atime newer
# than mtime and ctime at the second read; d's atime is old: list it once.
# y = the (second) read updated atime.
try() {
	local mode=$1 now a1 a2 a2b ad
	check "mount -o ${mode:-(default)}" mount_fs "$URL" "$MP" -o "attr_timeout=0${mode:+,$mode}"
	now=$(date +%s)
	touch -m -d @$((OLD + 100)) "$MP/f1"; touch -a -d @$OLD "$MP/f1"
	touch -a -d @$OLD "$MP/d"
	cat "$MP/f1" >/dev/null; ls "$MP/d" >/dev/null
	dd if="$MP/f2" of=/dev/null iflag=direct bs=4096 status=none
	a2=$(stat -c %X "$MP/f2")
	sleep 1.1
	dd if="$MP/f2" of=/dev/null iflag=direct bs=4096 status=none
	a2b=$(stat -c %X "$MP/f2")
	a1=$(stat -c %X "$MP/f1"); ad=$(stat -c %X "$MP/d")
	upd() { [ "$1" -ge "$now" ] && echo y || echo n; }
	local u2; u2=$([ "$a2b" -gt "$a2" ] && echo y || echo n)
	check "${mode:-default}: read of a file with atime < mtime updates atime: want $2, got $(upd "$a1")" [ "$(upd "$a1")" = "$2" ]
	check "${mode:-default}: a second read 1 s later updates atime: want $3, got $u2" [ "$u2" = "$3" ]
	check "${mode:-default}: listing a directory updates its atime: want $4, got $(upd "$ad")" [ "$(upd "$ad")" = "$4" ]
	check "umount (${mode:-default})" umount_fs "$MP"
}
try "" y n y
try relatime y n y
try noatime n n n
try strictatime y y y
try atime y n y
finish
