#!/usr/bin/env bash
# The Debian package: build it from a copy of the tree with
# dpkg-buildpackage, check it with lintian (no error, no warning), install
# it, check every file and the man pages (every subcommand and option of
# `cassafs CMD --help` is described), mount from an fstab file with both
# types (cassafs and fuse.cassafs), then purge it and put back what
# `make install` had put where the package goes.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for tool in dpkg-buildpackage dh lintian; do
	command -v $tool >/dev/null || { fail "$tool missing (.ci/packages.d/deb)"; finish; exit; }
done
# make install (what the README's commands use) into a staging root
make -s -C "$ROOT" install DESTDIR="$T_TMP/inst" PREFIX=/opt/cfs >"$T_TMP/inst.log" 2>&1
check "make install DESTDIR=" test $? -eq 0
check "make install: helpers run the installed binary" grep -qx 'BINDIR=/opt/cfs/bin' "$T_TMP/inst/sbin/mount.cassafs"
check "make install: mount.fuse.cassafs" test "$(readlink "$T_TMP/inst/sbin/mount.fuse.cassafs")" = mount.cassafs
check "make install: the unit runs the installed binary" grep -q '^ExecStart=/opt/cfs/bin/cassafs mount -f ' "$T_TMP/inst/etc/systemd/system/cassafs@.service"
check "make install: /etc/cassafs 0700" test "$(stat -c %a "$T_TMP/inst/etc/cassafs")" = 700
check "make install: man pages" test -f "$T_TMP/inst/opt/cfs/share/man/man8/cassafs.8" -a -f "$T_TMP/inst/opt/cfs/share/man/man8/mount.cassafs.8"

W=$T_TMP/pkg/cassafs
mkdir -p "$W"
tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . | tar -C "$W" -xf -
VER=$(cd "$W" && dpkg-parsechangelog -S Version)
ARCH=$(dpkg --print-architecture)
DEB=$T_TMP/pkg/cassafs_${VER}_${ARCH}.deb
(cd "$W" && dpkg-buildpackage -us -uc -b -j2) >"$T_TMP/build.log" 2>&1
check "dpkg-buildpackage -us -uc -b" test $? -eq 0
check "package file cassafs_${VER}_${ARCH}.deb" test -f "$DEB"
[ -f "$DEB" ] || { tail -40 "$T_TMP/build.log"; finish; exit; }
lintian --pedantic "$T_TMP/pkg/cassafs_${VER}_${ARCH}.changes" >"$T_TMP/lintian.log" 2>&1
cat "$T_TMP/lintian.log"
if grep -qE '^(E|W):' "$T_TMP/lintian.log"; then fail "lintian: $(grep -E '^(E|W):' "$T_TMP/lintian.log")"; else ok; fi
contents=$(dpkg -c "$DEB")
for f in ./usr/bin/cassafs ./usr/sbin/mount.cassafs ./usr/sbin/mount.fuse.cassafs \
	 ./usr/share/man/man8/cassafs.8.gz ./usr/share/man/man8/mount.cassafs.8.gz \
	 ./lib/systemd/system/cassafs@.service; do
	check "package holds $f" grep -q " $f\( \|$\)" <<<"$contents"
done
check "/etc/cassafs is 0700" grep -q '^drwx------ root/root .* ./etc/cassafs/$' <<<"$contents"

# Install (apt-get waits for the dpkg lock other jobs may hold).  Files
# that `make install` put where the package goes are kept aside.
was_installed=$(dpkg-query -W -f='${Status}' cassafs 2>/dev/null | grep -c 'install ok installed')
mkdir -p "$T_TMP/aside"
for f in /usr/sbin/mount.cassafs /usr/sbin/mount.fuse.cassafs; do
	if [ -e "$f" ] || [ -L "$f" ]; then dpkg -S "$f" >/dev/null 2>&1 || cp -a "$f" "$T_TMP/aside/"; fi
done
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$DEB" >"$T_TMP/install.log" 2>&1
check "package installs" test $? -eq 0 || cat "$T_TMP/install.log"
check "installed /usr/bin/cassafs runs" bash -c "/usr/bin/cassafs --version | grep -qx 'cassafs $VER'"
check "/etc/cassafs mode 0700" test "$(stat -c %a /etc/cassafs)" = 700
# -a: a `make install` page under /usr/local comes first in man's path
check "man cassafs" bash -c "man -aw cassafs | grep -qx /usr/share/man/man8/cassafs.8.gz"
check "man mount.cassafs" bash -c "man -aw mount.cassafs | grep -qx /usr/share/man/man8/mount.cassafs.8.gz"
check "man page renders without warnings" bash -c "! man --warnings -l /usr/share/man/man8/cassafs.8.gz 2>&1 >/dev/null | grep ."
# every subcommand and every option of its --help is in cassafs(8)
page=$(MANWIDTH=200 man -l /usr/share/man/man8/cassafs.8.gz 2>/dev/null)
cmds=$(/usr/bin/cassafs --help | awk '/^commands:/{c=1;next} c&&/^  [a-z]/{print $1} /^$/{if(c)c=0}')
[ -n "$cmds" ] || fail "no commands in cassafs --help"
for c in $cmds; do
	grep -q "^   $c\$" <<<"$page" && ok || fail "cassafs(8) has no section for '$c'"
	opts=$(/usr/bin/cassafs "$c" --help 2>&1 | grep -oE -- '--[a-z][a-z-]+|^ +[a-z_]+=' | sed 's/^ *//; s/=$//' | sort -u)
	for o in $opts; do
		grep -qF -- "$o" <<<"$page" && ok || fail "cassafs(8) lacks '$o' of 'cassafs $c --help'"
	done
done
ring_verbs=$(/usr/bin/cassafs ring --help 2>&1 | awk '/^verbs:/{v=1;next} v&&/^  [a-z_]+/{print $1} /^$/{if(v)v=0}')
[ -n "$ring_verbs" ] || fail "no verbs in cassafs ring --help"
for v in $ring_verbs; do
	grep -qE "ring BUILDER $v( |\$)" <<<"$page" && ok || fail "cassafs(8) lacks 'ring $v'"
done

# fstab, both types, through mount(8) and the packaged helpers
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
mkdir -p "$MP"
/usr/bin/cassafs mkfs "$URL" >/dev/null || fail "mkfs"
for type in cassafs fuse.cassafs; do
	printf '%s %s %s rw,noatime,_netdev,log_file=%s 0 0\n' "$URL" "$MP" "$type" "$T_TMP/log" >"$T_TMP/fstab"
	check "mount from fstab, type $type" mount -T "$T_TMP/fstab" "$MP"
	check "type $type: mounted" grep -q " $MP fuse.cassafs " /proc/mounts
	T_MOUNTS+=("$MP")
	echo "$type" >"$MP/$type" || fail "write on the $type mount"
	check "type $type: umount" /usr/bin/cassafs umount "$MP"
done
check "both files there" bash -c "/usr/bin/cassafs fsck '$URL' >/dev/null"

if [ "$was_installed" = 0 ]; then
	apt-get -o DPkg::Lock::Timeout=600 purge -y -q cassafs >"$T_TMP/purge.log" 2>&1
	check "package purges" test $? -eq 0
	check "purge removed /usr/bin/cassafs" test ! -e /usr/bin/cassafs
	cp -a "$T_TMP/aside/." /usr/sbin/ 2>/dev/null
	[ -n "$(ls -A "$T_TMP/aside")" ] && install -d -m 0700 /etc/cassafs
fi
finish
