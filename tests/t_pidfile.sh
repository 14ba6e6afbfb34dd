#!/usr/bin/env bash
# Where a non-root daemon keeps its pid file (for `cassafs umount` to wait
# on): $XDG_RUNTIME_DIR/cassafs, else /run/user/UID/cassafs, else
# /tmp/cassafs-UID, and only in a real directory the user owns with mode
# 0700 — never through a symlink planted in world-writable /tmp.
# Runs as nobody (uid 65534) in a private mount namespace, where /dev/fuse is a
# bind of a 0666 copy of the device node (the machine's stays 0600).
if [ -z "${T_PIDFILE_NS:-}" ]; then
	exec unshare --mount --propagation private env T_PIDFILE_NS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
	fail "not in a private mount namespace (unshare failed?)"; finish; exit
fi
U=65534 # nobody: there on every Debian system
UNAME=$(getent passwd $U | cut -d: -f1)
if [ -z "$UNAME" ]; then echo "no user $U: skipped"; finish; exit; fi
chmod 0755 "$T_TMP"
mknod "$T_TMP/fuse" c 10 229 && chmod 0666 "$T_TMP/fuse" && mount --bind "$T_TMP/fuse" /dev/fuse
trap 'umount /dev/fuse 2>/dev/null; [ -L /tmp/cassafs-$U ] && rm -f /tmp/cassafs-$U; cleanup' EXIT
D=$T_TMP/u
mkdir -p "$D/mnt" "$D/xdg"
chown -R $U:$U "$D"; chmod 0700 "$D/xdg"
as_user() { setpriv --reuid=$U --regid=$U --init-groups "$@"; }
URL="lmdb://$D/store"
check "mkfs as uid $U" as_user "$CASSAFS" mkfs "$URL"

echo "== XDG_RUNTIME_DIR"
check "mount as uid $U" as_user env XDG_RUNTIME_DIR="$D/xdg" "$CASSAFS" mount -o "log_file=$D/log1" "$URL" "$D/mnt"
T_MOUNTS+=("$D/mnt")
pf=$(ls "$D"/xdg/cassafs/*.pid 2>/dev/null | head -1)
check "the pid file is in \$XDG_RUNTIME_DIR/cassafs ($pf)" test -n "$pf"
pid=$(sed -n 1p "$pf" 2>/dev/null)
check "it names the daemon" kill -0 "${pid:-0}"
check "its directory is the user's, mode 700" [ "$(stat -c '%u %a' "$D/xdg/cassafs" 2>/dev/null)" = "$U 700" ]
check "umount as uid $U" as_user env XDG_RUNTIME_DIR="$D/xdg" "$CASSAFS" umount "$D/mnt"
check "umount waited for the daemon" bash -c "! kill -0 ${pid:-0} 2>/dev/null"
check "the pid file is gone" bash -c "! ls '$D'/xdg/cassafs/*.pid >/dev/null 2>&1"

echo "== no XDG_RUNTIME_DIR, no /run/user/$U: /tmp/cassafs-$U, never through a symlink"
rmdir /tmp/cassafs-$U 2>/dev/null # left empty by an old cassafs
if [ -e /run/user/$U ] || [ -e /tmp/cassafs-$U ] || [ -L /tmp/cassafs-$U ]; then
	echo "/run/user/$U or /tmp/cassafs-$U exists: skipped"
else
	mkdir -p "$T_TMP/attacker"; chmod 1777 "$T_TMP/attacker"
	ln -s "$T_TMP/attacker" /tmp/cassafs-$U
	check "mount as uid $U" as_user env -u XDG_RUNTIME_DIR "$CASSAFS" mount -o "log_file=$D/log2" "$URL" "$D/mnt"
	check "the mount works" as_user bash -c "echo hi >'$D/mnt/f' && grep -qx hi '$D/mnt/f'"
	check "nothing written through the symlink /tmp/cassafs-$U" [ -z "$(ls -A "$T_TMP/attacker")" ]
	check "the log says why there is no pid file" grep -q "no pid file .*symlink" "$D/log2"
	check "umount as uid $U" as_user env -u XDG_RUNTIME_DIR "$CASSAFS" umount "$D/mnt"
	rm -f /tmp/cassafs-$U
	check "mount as uid $U (no symlink)" as_user env -u XDG_RUNTIME_DIR "$CASSAFS" mount -o "log_file=$D/log3" "$URL" "$D/mnt"
	check "/tmp/cassafs-$U made as the user's own directory, mode 700" [ "$(stat -c '%F %u %a' /tmp/cassafs-$U 2>/dev/null)" = "directory $U 700" ]
	check "the pid file is there" bash -c "ls /tmp/cassafs-$U/*.pid >/dev/null"
	check "umount as uid $U" as_user env -u XDG_RUNTIME_DIR "$CASSAFS" umount "$D/mnt"
	rmdir /tmp/cassafs-$U 2>/dev/null
fi
finish
