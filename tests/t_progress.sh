#!/usr/bin/env bash
# Progress of long commands (fsck, dump, load) goes to stderr when it is a
# terminal (run under script(1) here) and nowhere otherwise.
. "$(dirname "$0")/lib.sh"
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
command -v script >/dev/null || { fail "script(1) missing (util-linux)"; finish; exit; }
"$CASSAFS" mkfs "$URL" >/dev/null || fail "mkfs"
mount_fs "$URL" "$MP" || fail "mount"
mkdir "$MP/d"; for i in $(seq 200); do echo "$i" >"$MP/d/f$i"; done
umount_fs "$MP" || fail "umount"

# tty RESULT-FILE COMMAND: run COMMAND with a terminal as stdin/stdout/stderr
tty() { local out=$1; shift; script -qec "$*" /dev/null >"$out" 2>&1; }
tty "$T_TMP/fsck.tty" "'$CASSAFS' fsck '$URL'"
check "fsck on a terminal: progress" grep -q "fsck: done, inode [0-9]* of [0-9]*" "$T_TMP/fsck.tty"
check "fsck on a terminal: the report too" grep -q "0 problems" "$T_TMP/fsck.tty"
"$CASSAFS" fsck "$URL" >/dev/null 2>"$T_TMP/fsck.err"
check "fsck without a terminal: quiet" test ! -s "$T_TMP/fsck.err"
tty "$T_TMP/dump.tty" "'$CASSAFS' dump '$URL' >'$T_TMP/d'"
check "dump on a terminal: progress" grep -q "dumped 202 inodes, 201 entries" "$T_TMP/dump.tty"
tty "$T_TMP/load.tty" "'$CASSAFS' load 'lmdb://$T_TMP/copy' <'$T_TMP/d'"
check "load with stderr a terminal: progress" grep -q "loaded 202 inodes, 201 entries" "$T_TMP/load.tty"
"$CASSAFS" load "lmdb://$T_TMP/copy2" <"$T_TMP/d" 2>"$T_TMP/load.err"
check "load without a terminal: quiet" test ! -s "$T_TMP/load.err"
finish
