#!/usr/bin/env bash
# t_posix.sh — run the POSIX suite (build/tests/posix_suite) against a live
# CassaFS mount: mkfs a fresh embedded LMDB store, mount it with
# allow_other (cassafs mounts with default_permissions itself), run the
# suite in it, then the checks that need the mount itself (umount(8) then
# mount at once, remount ro/rw, file handles across remounts, setfacl /
# getfacl, xfs_io copy_range and fallocate), unmount, and check that fsck
# finds the store clean.
#
# Environment:
#   CASSAFS, TESTBIN        set by tests/run.sh (defaults: build/cassafs, build/tests)
#   POSIX_DIR=/some/dir     run the suite against that plain directory instead
#                           (no mkfs/mount/fsck) — to check the suite itself
#   POSIX_ARGS="..."        extra suite options, e.g. "--skip atime --entries 5000"
#   POSIX_MAX_FILE_SIZE=N   the filesystem's maximum file size: adds EFBIG checks
#   POSIX_MOUNT_OPTS=...    mount options (default: allow_other)
#   POSIX_TIMEOUT=SECONDS   limit for the suite run (default 900)
#
# Must run as root: the suite switches to other uids itself.  Prints one
# final line "RESULT <p> passed, <f> failed": the suite's counts plus one
# per step of this script (mkfs, mount, umount, fsck, ...).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$here/build/cassafs}
TESTBIN=${TESTBIN:-$here/build/tests}
SUITE=$TESTBIN/posix_suite
passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL t_posix: $*"; }
finish() {
	echo "RESULT $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# Adds the suite's RESULT counts to ours; its own RESULT line is renamed so
# that this script prints the only one.
run_suite() {
	local dir=$1 out rc line extra=()
	[ -n "${POSIX_MAX_FILE_SIZE:-}" ] && extra+=(--max-file-size "$POSIX_MAX_FILE_SIZE")
	# CassaFS has every fallocate mode FUSE passes on, and checks the
	# free space first (tmpfs lacks ZERO_RANGE; ext4 fills the disk
	# before it answers ENOSPC)
	[ -n "${cassafs_mode:-}" ] && extra+=(--fallocate-full)
	out=$(mktemp)
	# shellcheck disable=SC2086  # POSIX_ARGS is a list of options
	timeout --kill-after=10 "${POSIX_TIMEOUT:-900}" \
		"$SUITE" ${POSIX_ARGS:-} "${extra[@]}" "$dir" >"$out" 2>&1
	rc=$?
	sed 's/^RESULT /suite: /' "$out"
	line=$(grep -E '^RESULT [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	rm -f "$out"
	if [ -z "$line" ]; then
		fail "posix_suite on $dir ended without a RESULT line (exit $rc$([ "$rc" -eq 124 ] && echo ', timed out'))"
		return 1
	fi
	passed=$((passed + $(awk '{print $2}' <<<"$line")))
	failed=$((failed + $(awk '{print $4}' <<<"$line")))
	if [ "$rc" -ne 0 ] && [ "$(awk '{print $4}' <<<"$line")" -eq 0 ]; then
		fail "posix_suite on $dir exited $rc with no failed checks"
	fi
}

if [ "$(id -u)" -ne 0 ]; then
	fail "must run as root (the suite switches to uids 65534, 1000, 1001)"
	finish
fi
if [ ! -x "$SUITE" ]; then
	fail "$SUITE is missing: run make tests"
	finish
fi

# ---- plain-directory mode: check the suite on any filesystem ----
if [ -n "${POSIX_DIR:-}" ]; then
	if [ ! -d "$POSIX_DIR" ]; then
		fail "POSIX_DIR=$POSIX_DIR is not a directory"
		finish
	fi
	run_suite "$POSIX_DIR"
	finish
fi

# ---- CassaFS mode ----
cassafs_mode=1
work=$(mktemp -d /tmp/t_posix.XXXXXX)
chmod 0755 "$work" # other users reach the mount through it
store="lmdb://$work/store"
mnt=$work/mnt
mkdir -p "$mnt"

is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

cleanup() {
	if is_mounted "$mnt"; then
		"$CASSAFS" umount "$mnt" >/dev/null 2>&1 || fusermount3 -uz "$mnt" >/dev/null 2>&1 ||
			umount -l "$mnt" >/dev/null 2>&1
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ ! -x "$CASSAFS" ]; then
	fail "$CASSAFS is missing: run make"
	finish
fi

if "$CASSAFS" mkfs "$store" >"$work/mkfs.log" 2>&1; then
	ok "mkfs $store"
else
	fail "mkfs $store: $(tail -n 5 "$work/mkfs.log")"
	finish
fi

# The daemon runs in the foreground as our child, so that its exit status
# at unmount can be checked (a crash at unmount is a failure).
"$CASSAFS" mount -f -o "${POSIX_MOUNT_OPTS:-allow_other}" "$store" "$mnt" </dev/null >"$work/mount.log" 2>&1 &
daemon=$!
# Wait (bounded) until the kernel lists the mount.
for _ in $(seq 1 150); do
	is_mounted "$mnt" && break
	kill -0 "$daemon" 2>/dev/null || break
	sleep 0.2
done
if kill -0 "$daemon" 2>/dev/null; then
	ok "mount $store on $mnt"
else
	wait "$daemon"
	fail "mount $store on $mnt: daemon exited with status $?: $(tail -n 5 "$work/mount.log")"
	finish
fi
if is_mounted "$mnt"; then
	ok "$mnt is mounted"
else
	fail "$mnt not mounted 30 s after cassafs mount returned: $(tail -n 5 "$work/mount.log")"
	finish
fi
if grep -E " $mnt fuse" /proc/self/mounts | grep -q default_permissions; then
	ok "mount has default_permissions"
else
	fail "mount lacks default_permissions: $(grep " $mnt " /proc/self/mounts)"
fi

# The root may hold entries of its own (e.g. lost+found): compare listings.
before=$(ls -A "$mnt" 2>&1)
run_suite "$mnt"
after=$(ls -A "$mnt" 2>&1)
if [ "$before" != "$after" ]; then
	fail "suite left the mount root changed: before [$before] after [$(head -n 5 <<<"$after" | tr '\n' ' ')]"
else
	ok "mount root as before the suite"
fi

# ---- mount-level checks (after the suite, on the same store) ----
FHANDLE=$TESTBIN/posix_fhandle
mount_opts=${POSIX_MOUNT_OPTS:-allow_other}
wait_mounted() {
	for _ in $(seq 1 150); do
		is_mounted "$mnt" && return 0
		sleep 0.2
	done
	return 1
}
# Mount again, waiting for a daemon that is still exiting (bounded), so a
# failed check does not spoil the ones after it.
mount_again() {
	for _ in $(seq 1 30); do
		"$CASSAFS" mount -o "$mount_opts" "$store" "$mnt" >"$work/mount.log" 2>&1 &&
			wait_mounted && return 0
		sleep 1
	done
	return 1
}

mkdir -p "$mnt/mnt.d/a/b"
echo keep >"$mnt/mnt.d/keep"
# POSIX ACLs through setfacl/getfacl (package acl); checked again after
# the remounts below.
getfacl_dump() { (cd "$mnt/mnt.d" && getfacl -R -n acl 2>&1); }
mkdir "$mnt/mnt.d/acl"
echo a >"$mnt/mnt.d/acl/file"
if setfacl -m u:1000:rw,g:1001:r "$mnt/mnt.d/acl/file" 2>"$work/acl.log" &&
	setfacl -d -m u:1000:rwx,g::r-x,o::- "$mnt/mnt.d/acl" 2>>"$work/acl.log" &&
	touch "$mnt/mnt.d/acl/inherits" && mkdir "$mnt/mnt.d/acl/sub" &&
	getfacl_dump >"$work/acl.dump" &&
	grep -q '^user:1000:rw-$' "$work/acl.dump" && grep -q '^default:user:1000:rwx$' "$work/acl.dump" &&
	[ "$(getfacl -n "$mnt/mnt.d/acl/inherits" 2>/dev/null | grep -c '^user:1000:rwx')" = 1 ]; then
	ok "setfacl -m / -d -m, getfacl shows them, a new file inherits the default ACL"
else
	fail "setfacl/getfacl: $(cat "$work/acl.log") $(head -c 600 "$work/acl.dump" 2>/dev/null | tr '\n' ' ')"
fi
echo linked >"$mnt/mnt.d/orig"
ln "$mnt/mnt.d/orig" "$mnt/mnt.d/link"
echo gone >"$mnt/mnt.d/gone"
handles=ok
for h in keep orig a/b gone; do
	"$FHANDLE" save "$mnt/mnt.d/$h" "$work/fh.${h//\//_}" >>"$work/fh.log" 2>&1 || handles=bad
done
if [ "$handles" = ok ] && "$FHANDLE" open "$mnt" "$work/fh.keep" | grep -q '^ok .*data=keep$'; then
	ok "name_to_handle_at + open_by_handle_at on a live file"
else
	fail "file handles on a live file: $(tail -n 3 "$work/fh.log") $("$FHANDLE" open "$mnt" "$work/fh.keep" 2>&1)"
fi
rm "$mnt/mnt.d/orig" "$mnt/mnt.d/gone"

# umount(8) does not wait for the daemon: a mount right after it must wait
# for the old daemon to let the store go, not refuse.
rounds=0
for i in 1 2 3 4 5; do
	echo "round $i" >"$mnt/mnt.d/round"
	umount "$mnt" || { fail "umount(8) $mnt (round $i)"; break; }
	# the last round logs at debug level (copy_file_range check below)
	opts=$mount_opts
	[ "$i" = 5 ] && opts="$mount_opts,log_level=debug,log_file=$work/daemon.log"
	if "$CASSAFS" mount -o "$opts" "$store" "$mnt" >"$work/mount.log" 2>&1 && wait_mounted; then
		rounds=$((rounds + 1))
	else
		fail "cassafs mount right after umount(8) (round $i): $(tail -n 2 "$work/mount.log")"
		mount_again || { fail "cannot mount $store again: $(tail -n 2 "$work/mount.log")"; finish; }
	fi
done
[ "$rounds" -eq 5 ] && ok "5 × umount(8) then cassafs mount at once"
# ... while a live mount is still refused at once, naming its holder
mkdir -p "$work/mnt2"
t0=$(date +%s)
if "$CASSAFS" mount "$store" "$work/mnt2" >"$work/mount2.log" 2>&1; then
	fail "a second mount of $store was allowed"
	"$CASSAFS" umount "$work/mnt2" >/dev/null 2>&1
elif grep -q "already mounted by pid" "$work/mount2.log" && [ $(($(date +%s) - t0)) -lt 5 ]; then
	ok "a second mount of a live store is refused at once"
else
	fail "second mount: $(($(date +%s) - t0)) s, $(tail -n 2 "$work/mount2.log")"
fi
if [ "$(cat "$mnt/mnt.d/keep" 2>&1)" = keep ] && [ "$(cat "$mnt/mnt.d/round" 2>&1)" = "round 5" ]; then
	ok "data kept across the quick remounts"
else
	fail "after the quick remounts: keep [$(cat "$mnt/mnt.d/keep" 2>&1)] round [$(cat "$mnt/mnt.d/round" 2>&1)]"
fi

if [ "$(getfacl_dump)" = "$(cat "$work/acl.dump")" ]; then
	ok "ACLs kept across the remounts (getfacl -R the same)"
else
	fail "ACLs after the remounts differ: $(diff <(getfacl_dump) "$work/acl.dump" | head -n 8 | tr '\n' ' ')"
fi
(cd "$mnt/mnt.d" && setfacl -R -b acl && setfacl -R -k acl)
if getfacl_dump | grep -q ':1000:'; then
	fail "setfacl -R -b -k left entries: $(getfacl_dump | grep ':1000:' | head -n 3 | tr '\n' ' ')"
elif (cd "$mnt/mnt.d" && setfacl --restore="$work/acl.dump") && [ "$(getfacl_dump)" = "$(cat "$work/acl.dump")" ]; then
	ok "setfacl -b/-k removes every ACL, setfacl --restore brings them back exactly"
else
	fail "setfacl --restore: $(diff <(getfacl_dump) "$work/acl.dump" | head -n 8 | tr '\n' ' ')"
fi

# File handles after the remounts: the kernel no longer holds the inodes
# and asks the daemon for "." (and ".." to reconnect a directory).
got=$("$FHANDLE" open "$mnt" "$work/fh.keep" 2>&1)
if [[ $got == "ok "*"data=keep" ]]; then
	ok "file handle of a file after a remount"
else
	fail "file handle of mnt.d/keep after a remount: $got"
fi
got=$("$FHANDLE" open "$mnt" "$work/fh.orig" 2>&1)
if [[ $got == "ok "*"data=linked" ]]; then
	ok "file handle after a hard link (first name removed) and a remount"
else
	fail "file handle of mnt.d/orig (now only mnt.d/link) after a remount: $got"
fi
got=$("$FHANDLE" open "$mnt" "$work/fh.a_b" 2>&1)
if [[ $got == "ok "*"path=$mnt/mnt.d/a/b data=-" ]]; then
	ok "file handle of a directory after a remount, reconnected to its path"
else
	fail "file handle of directory mnt.d/a/b after a remount: $got"
fi
got=$("$FHANDLE" open "$mnt" "$work/fh.gone" 2>&1)
if [ "$got" = "error ESTALE" ]; then
	ok "file handle of a removed file: ESTALE"
else
	fail "file handle of removed mnt.d/gone after a remount: $got (want error ESTALE)"
fi

# remount,ro and back: writes get EROFS, then work again.  Through
# `cassafs mount -o remount,…`, the form mount.fuse3 runs for mount(8)
# (`cassafs URL MOUNTPOINT -o <current options>,remount`), and mount(8)
# itself when its helper finds this cassafs on the default PATH.
mount_flags() { awk -v m="$mnt" '$5 == m { f = $6 } END { print f }' /proc/self/mountinfo; }
check_ro() { # $1 = how it was remounted
	local e
	if [[ $(mount_flags) == ro,* ]] && ! e=$( { echo x >"$mnt/mnt.d/keep"; } 2>&1) &&
		[[ $e == *"Read-only file system"* ]] && ! touch "$mnt/mnt.d/new" 2>/dev/null &&
		[ "$(cat "$mnt/mnt.d/keep")" = keep ]; then
		ok "$1: ro, writes and creates fail with EROFS, reads work"
	else
		fail "$1: flags $(mount_flags), write: ${e:-succeeded}"
	fi
}
check_rw() {
	if [[ $(mount_flags) == rw,* ]] && echo keep >"$mnt/mnt.d/keep" && touch "$mnt/mnt.d/new" &&
		rm "$mnt/mnt.d/new"; then
		ok "$1: rw, writes work again"
	else
		fail "$1: flags $(mount_flags), writing failed"
	fi
}
if "$CASSAFS" mount -o remount,ro "$mnt" >"$work/remount.log" 2>&1; then
	check_ro "cassafs mount -o remount,ro MOUNTPOINT"
else
	fail "cassafs mount -o remount,ro $mnt: $(tail -n 2 "$work/remount.log")"
fi
if "$CASSAFS" mount -o remount,rw "$store" "$mnt" >"$work/remount.log" 2>&1; then
	check_rw "cassafs mount -o remount,rw URL MOUNTPOINT"
else
	fail "cassafs mount -o remount,rw $store $mnt: $(tail -n 2 "$work/remount.log")"
fi
if "$CASSAFS" "$store" "$mnt" -o "ro,nosuid,nodev,relatime,remount,user_id=0,group_id=0,default_permissions" >"$work/remount.log" 2>&1; then
	check_ro "as mount.fuse3 runs it (cassafs URL MOUNTPOINT -o …,remount)"
	if [[ $(mount_flags) == ro,nosuid,nodev,* ]]; then
		ok "remount keeps nosuid,nodev"
	else
		fail "remount changed the mount flags to $(mount_flags)"
	fi
else
	fail "cassafs URL MOUNTPOINT -o ...,remount: $(tail -n 2 "$work/remount.log")"
fi
"$CASSAFS" "$store" "$mnt" -o "rw,remount" >/dev/null 2>&1
check_rw "cassafs URL MOUNTPOINT -o rw,remount"
if "$CASSAFS" mount -o remount,attr_timeout=5 "$mnt" 2>"$work/remount.log"; then
	fail "remount accepted attr_timeout (fixed at mount time)"
elif grep -q "attr_timeout=5' cannot be changed" "$work/remount.log"; then
	ok "remount refuses options fixed at mount time, naming them"
else
	fail "remount,attr_timeout=5: $(cat "$work/remount.log")"
fi
# mount(8) itself: it runs mount.fuse3, which runs `cassafs` from the
# default PATH.  In a private mount namespace this cassafs is bound over
# /usr/local/bin; the superblock's read-only flag shows everywhere.
mkdir -p "$work/bin"
ln -sf "$CASSAFS" "$work/bin/cassafs"
mount8() { # ro|rw
	unshare -m sh -c 'mount --bind "$1" /usr/local/bin && mount -o "remount,$2" "$3"' \
		sh "$work/bin" "$1" "$mnt" >"$work/remount.log" 2>&1
}
e=
if mount8 ro && e=$( { echo x >"$mnt/mnt.d/keep"; } 2>&1); then
	fail "mount -o remount,ro (mount(8)): still writable; $(cat "$work/remount.log")"
elif [[ ${e:-} == *"Read-only file system"* ]]; then
	ok "mount -o remount,ro (mount(8) via mount.fuse3): writes fail with EROFS"
else
	fail "mount -o remount,ro (mount(8)): $(cat "$work/remount.log") ${e:-}"
fi
if mount8 rw && echo keep >"$mnt/mnt.d/keep"; then
	ok "mount -o remount,rw (mount(8) via mount.fuse3): writes work again"
else
	fail "mount -o remount,rw (mount(8)): $(cat "$work/remount.log")"
fi
rm -rf "$mnt/mnt.d"
# copy_file_range (cp, xfs_io copy_range) is served inside the daemon: the
# bytes go from store to store, not through FUSE twice.
head -c 3000000 /dev/urandom >"$work/rand"
cp "$work/rand" "$mnt/cp1"
if command -v xfs_io >/dev/null && xfs_io -f -c "copy_range $mnt/cp1" "$mnt/cp2" &&
	cmp -s "$work/rand" "$mnt/cp2" &&
	grep -q "copy_file_range: 3000000 bytes from inode" "$work/daemon.log"; then
	ok "xfs_io copy_range: exact copy, served in the store by the daemon"
else
	fail "copy_range cp1 → cp2: $(cmp "$work/rand" "$mnt/cp2" 2>&1) $(grep copy_file_range "$work/daemon.log" 2>&1 | tail -n 2)"
fi
rm -f "$mnt/cp1" "$mnt/cp2"

# fallocate through xfs_io (xfsprogs): allocated space is counted once, and
# a file preallocated past its end (KEEP_SIZE) stays for fsck to check.
if command -v xfs_io >/dev/null; then
	pre=$mnt/prealloc
	xfs_io -f -c "falloc 0 1m" "$pre" && b1=$(stat -c %b "$pre") &&
		xfs_io -c "pwrite -q 4096 2" -c fsync "$pre" && b2=$(stat -c %b "$pre")
	if [ "${b1:-0}" -ge 2048 ] && [ "${b1:-0}" = "${b2:-}" ]; then
		ok "xfs_io falloc 1m: st_blocks $b1, unchanged by a 2-byte write"
	else
		fail "xfs_io falloc 1m: st_blocks ${b1:-?}, after a 2-byte write ${b2:-?} (want >= 2048, unchanged)"
	fi
	xfs_io -c "fzero 65536 65536" -c "fpunch 131072 65536" -c "falloc -k 1m 1m" "$pre" &&
		b3=$(stat -c %b "$pre") && s3=$(stat -c %s "$pre")
	if [ "${s3:-}" = 1048576 ] && [ "${b3:-0}" -ge $((4096 - 128)) ] &&
		[ "$(xfs_io -c "pread -q -v 4096 2" "$pre" | head -n 1)" = "$(printf '00001000:  cd cd  ..')" ]; then
		ok "xfs_io fzero, fpunch, falloc -k past the end: size 1 MiB, st_blocks $b3"
	else
		fail "xfs_io fzero/fpunch/falloc -k: size ${s3:-?}, st_blocks ${b3:-?}, data $(xfs_io -c "pread -q -v 4096 2" "$pre" | head -n 1)"
	fi
else
	fail "xfs_io missing (package xfsprogs, .ci/packages.d/posix)"
fi

if "$CASSAFS" umount "$mnt" >"$work/umount.log" 2>&1; then
	ok "umount $mnt"
	for _ in $(seq 1 150); do
		is_mounted "$mnt" || break
		sleep 0.2
	done
	if is_mounted "$mnt"; then
		fail "$mnt still mounted 30 s after cassafs umount succeeded"
	else
		ok "$mnt unmounted"
	fi
	# cassafs umount waited for the daemon to exit: it must have exited 0
	if kill -0 "$daemon" 2>/dev/null; then
		fail "daemon $daemon still running after cassafs umount"
	elif wait "$daemon"; then
		ok "daemon exited 0 at unmount"
	else
		st=$?
		fail "daemon exited with status $st at unmount$([ "$st" -gt 128 ] && echo " (signal $((st - 128)))"): $(tail -n 5 "$work/mount.log")"
	fi
else
	fail "umount $mnt: $(tail -n 5 "$work/umount.log")"
fi
# Whatever went wrong above, fsck needs the store released.
is_mounted "$mnt" && fusermount3 -uz "$mnt" >/dev/null 2>&1
# The daemon may still be closing the store for a moment after the kernel
# dropped the mount (if the unmount failed): retry fsck, bounded.
fsck_rc=1
for _ in $(seq 1 10); do
	"$CASSAFS" fsck "$store" >"$work/fsck.log" 2>&1
	fsck_rc=$?
	[ "$fsck_rc" -eq 0 ] && break
	sleep 1
done
if [ "$fsck_rc" -eq 0 ]; then
	ok "fsck $store clean (exit 0)"
else
	fail "fsck $store exit $fsck_rc: $(tail -n 20 "$work/fsck.log")"
fi
finish
