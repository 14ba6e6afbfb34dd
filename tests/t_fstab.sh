#!/usr/bin/env bash
# mount(8) and /etc/fstab: `make install` puts cassafs and mount.cassafs
# where mount(8) finds them, and both fstab types work:
#   cassafs       mount(8) runs /sbin/mount.cassafs URL MP -o OPTS
#   fuse.cassafs  (what /proc/mounts shows) mount(8) runs mount.fuse3, which
#                 runs `cassafs URL MP -o OPTS,dev,suid` from the default PATH
# The test installs into a scratch DESTDIR and, in a private mount
# namespace of its own, lays that over /usr/local/bin and /sbin (read-only
# overlays): the machine's own directories are never written.
if [ -z "${T_FSTAB_NS:-}" ]; then
	exec unshare --mount --propagation private env T_FSTAB_NS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
	fail "not in a private mount namespace (unshare failed?): not touching /usr/sbin"
	finish; exit
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(dirname "$CASSAFS")
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
mkdir -p "$MP"
"$CASSAFS" mkfs "$URL" >/dev/null || { fail mkfs; finish; exit; }

# make install into DESTDIR (never rebuilding: -o treats the binary as old)
check "make install" make -s -C "$ROOT" B="$B" -o "$B/cassafs" DESTDIR="$T_TMP/root" install
check "installs /usr/local/bin/cassafs" test -x "$T_TMP/root/usr/local/bin/cassafs"
check "installs /sbin/mount.cassafs" test -x "$T_TMP/root/sbin/mount.cassafs"

# In this namespace only, /usr/local/bin and /usr/sbin are read-only
# overlays: the installed files over the machine's own.  (Never bind a
# system directory below $T_TMP: the cleanup's rm -rf would go through it.)
mount -t overlay cassafs-t_fstab -o "lowerdir=$T_TMP/root/usr/local/bin:/usr/local/bin" /usr/local/bin
mount -t overlay cassafs-t_fstab -o "lowerdir=$T_TMP/root/sbin:/usr/sbin" /usr/sbin
trap 'umount /usr/sbin /usr/local/bin 2>/dev/null; cleanup' EXIT
check "mount.cassafs is in /sbin" test -x /sbin/mount.cassafs
unset CASSAFS # the helpers must find the installed cassafs themselves
INSTALLED=/usr/local/bin/cassafs

is_mounted() { grep -q " $1 fuse.cassafs " /proc/mounts; }
# try_type DESCRIPTION COMMAND...: the mount(8) command must mount MP, the
# mount must work, and cassafs umount must end it (waiting for the daemon)
try_type() {
	local d=$1 out; shift
	local rc
	out=$("$@" 2>&1); rc=$?
	if [ $rc -ne 0 ]; then fail "$d: exit status $rc: $out"; return; fi
	T_MOUNTS+=("$MP")
	check "$d: mounted as fuse.cassafs" is_mounted "$MP"
	check "$d: the mount works" bash -c "echo '$d' >'$MP/f' && grep -qx '$d' '$MP/f'"
	check "$d: options reached the kernel" grep -q " $MP fuse.cassafs .*noatime" /proc/mounts
	check "$d: umount" "$INSTALLED" umount "$MP"
	check "$d: unmounted" bash -c "! grep -q ' $MP ' /proc/mounts"
}

try_type "mount -t fuse.cassafs" mount -t fuse.cassafs "$URL" "$MP" -o noatime,_netdev,nofail
try_type "mount -t cassafs" mount -t cassafs "$URL" "$MP" -o defaults,noatime,_netdev
cat >"$T_TMP/fstab" <<EOT
$URL $MP fuse.cassafs noatime,_netdev,nofail,x-systemd.requires=network-online.target 0 0
EOT
try_type "fstab line of type fuse.cassafs" mount -T "$T_TMP/fstab" "$MP"
sed -i 's/ fuse.cassafs / cassafs /' "$T_TMP/fstab"
try_type "fstab line of type cassafs" mount -T "$T_TMP/fstab" "$MP"
out=$(mount -t fuse.cassafs "$URL" "$MP" -o frob 2>&1)
check "a bad option through mount.fuse3 is named ($out)" grep -q "unknown mount option 'frob'" <<<"$out"
check "and nothing is mounted" bash -c "! grep -q ' $MP ' /proc/mounts"
finish
