#!/usr/bin/env bash
# t_posix.sh — run the POSIX suite (build/tests/posix_suite) against a live
# CassaFS mount: mkfs a fresh embedded LMDB store, mount it with
# allow_other (cassafs mounts with default_permissions itself), run the
# suite in it, unmount, and check that fsck finds the store clean.
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
