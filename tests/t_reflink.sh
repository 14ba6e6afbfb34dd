#!/usr/bin/env bash
# Cheap copies (issue 12 item 6): on a format-2 filesystem copy_file_range
# shares the source's objects instead of copying bytes.  Through real
# mounts, on the embedded `store` tier and on a file:// tier: a large file
# copied with `cp --reflink=auto` and with `xfs_io copy_range` (whole, and
# at unaligned offsets) adds no object and no byte to the tier (a copying
# implementation adds the file's size); contents are equal; a write into
# either side, a truncate and an unlink of one leave the others intact
# (copy on write); the background gc and `cassafs gc` (mounted and not)
# never delete a shared object; fsck is clean at the end.
. "$(dirname "$0")/lib.sh"
need python3 "to write at offsets and read status --json"
need xfs_io "xfs_io copy_range (xfsprogs)"
MP=$T_TMP/mnt
SIZE=$(((48 << 20) + 12345)) # three chunks and a bit, not block-aligned

# counts URL -> "objects bytes" of the tier (status --json)
counts() {
	"$CASSAFS" status --json "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["data_objects"], d["data_bytes"])'
}
# same_file A B OFF_A OFF_B LEN: bytes [OFF_A, +LEN) of A equal [OFF_B, +LEN) of B
same_range() {
	python3 - "$@" <<'EOF'
import sys
a, b, oa, ob, n = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
with open(a, "rb") as fa, open(b, "rb") as fb:
    fa.seek(oa); fb.seek(ob)
    while n:
        k = min(n, 1 << 20)
        x, y = fa.read(k), fb.read(k)
        if x != y or len(x) != k:
            sys.exit("differ near %d" % (oa))
        n -= k; oa += k
EOF
}
# pwrite_both FILE REF OFF LEN: the same random bytes into FILE and REF, fsync'ed
pwrite_both() {
	python3 - "$@" <<'EOF'
import os, sys
f, r = (os.open(p, os.O_RDWR) for p in sys.argv[1:3])
off, n = int(sys.argv[3]), int(sys.argv[4])
buf = os.urandom(n)
for x in (f, r):
    assert os.pwrite(x, buf, off) == n
os.fsync(f)
EOF
}
# wait_bytes URL BYTES: the background gc brings data_bytes to BYTES
wait_bytes() {
	local i c
	for i in $(seq 60); do
		c=$(counts "$1"); [ "${c#* }" = "$2" ] && return 0; sleep 0.25
	done
	echo "data_bytes ${c#* }, want $2" >&2; return 1
}

run_tier() { # NAME DATA_URL ("" = the default store tier)
	local name=$1 data=$2 url="lmdb://$T_TMP/store-$1" obj=
	local o0 b0 o1 b1 c n
	case "$data" in file://*) obj=${data#file://} ;; esac
	nobj() { find "$obj" -type f ! -name '.tmp.*' | wc -l; }
	if [ -n "$data" ]; then
		check "$name: mkfs" "$CASSAFS" mkfs --data "$data" "$url"
	else
		check "$name: mkfs" "$CASSAFS" mkfs "$url"
	fi
	mount_fs "$url" "$MP" || return 1
	head -c "$SIZE" /dev/urandom >"$T_TMP/ref0"
	cp "$T_TMP/ref0" "$MP/src" && sync "$MP/src"
	read -r o0 b0 <<<"$(counts "$url")"
	check "$name: the source is in the tier ($o0 objects, $b0 bytes)" test "$b0" -ge "$SIZE"
	[ -n "$obj" ] && check "$name: tier holds $o0 objects" test "$(nobj)" -eq "$o0"

	# cp --reflink=auto (FICLONE does not reach FUSE: cp goes on with
	# copy_file_range) and xfs_io copy_range, whole and unaligned
	check "$name: cp --reflink=auto" cp --reflink=auto "$MP/src" "$MP/cp1"
	check "$name: xfs_io copy_range" xfs_io -f -c "copy_range -s 0 -d 0 -l $SIZE $MP/src" "$MP/cp2"
	check "$name: xfs_io copy_range at unaligned offsets" \
		xfs_io -f -c "copy_range -s 4097 -d 1000001 -l $((SIZE - 4097)) $MP/src" "$MP/cp3"
	sync "$MP/cp1" "$MP/cp2" "$MP/cp3"
	read -r o1 b1 <<<"$(counts "$url")"
	check "$name: three copies added no object ($o0 -> $o1)" test "$o1" -eq "$o0"
	check "$name: three copies added no byte ($b0 -> $b1)" test "$b1" -eq "$b0"
	[ -n "$obj" ] && check "$name: no new file in the tier" test "$(nobj)" -eq "$o0"
	check "$name: cp copy equal" cmp "$T_TMP/ref0" "$MP/cp1"
	check "$name: copy_range copy equal" cmp "$T_TMP/ref0" "$MP/cp2"
	check "$name: unaligned copy: size" test "$(stat -c %s "$MP/cp3")" -eq $((1000001 + SIZE - 4097))
	check "$name: unaligned copy: the range" same_range "$T_TMP/ref0" "$MP/cp3" 4097 1000001 $((SIZE - 4097))
	check "$name: unaligned copy: zeros before it" same_range /dev/zero "$MP/cp3" 0 0 1000001

	# copy on write: into the source (1 MiB across a chunk edge, 4 KiB
	# near the start: one flush, one object), then into a copy
	cp "$T_TMP/ref0" "$T_TMP/src"
	cp "$T_TMP/ref0" "$T_TMP/cp1"
	pwrite_both "$MP/src" "$T_TMP/src" $(((16 << 20) - 4000)) $((1 << 20))
	pwrite_both "$MP/src" "$T_TMP/src" 3 4096
	check "$name: source written" cmp "$T_TMP/src" "$MP/src"
	check "$name: cp copy unchanged by writes into the source" cmp "$T_TMP/ref0" "$MP/cp1"
	check "$name: copy_range copy unchanged" cmp "$T_TMP/ref0" "$MP/cp2"
	pwrite_both "$MP/cp1" "$T_TMP/cp1" $((5 << 20)) 65536
	check "$name: copy written" cmp "$T_TMP/cp1" "$MP/cp1"
	check "$name: source unchanged by a write into the copy" cmp "$T_TMP/src" "$MP/src"
	read -r o1 b1 <<<"$(counts "$url")"
	check "$name: the writes added only their bytes ($b0 -> $b1)" \
		test "$b1" -eq $((b0 + (1 << 20) + 4096 + 65536))

	# truncate one: the others keep their bytes
	truncate -s $((10 << 20)) "$MP/cp2"
	check "$name: truncated copy" same_range "$T_TMP/ref0" "$MP/cp2" 0 0 $((10 << 20))
	check "$name: truncated copy: size" test "$(stat -c %s "$MP/cp2")" -eq $((10 << 20))
	check "$name: source intact after truncating a copy" cmp "$T_TMP/src" "$MP/src"
	check "$name: other copy intact" cmp "$T_TMP/cp1" "$MP/cp1"
	truncate -s 5000000 "$MP/src"
	check "$name: copies intact after truncating the source" cmp "$T_TMP/cp1" "$MP/cp1"
	check "$name: unaligned copy intact" same_range "$T_TMP/ref0" "$MP/cp3" 4097 1000001 $((SIZE - 4097))
	truncate -s 5000000 "$T_TMP/src"

	# unlink the source: the background gc frees exactly what only it
	# held (its 1 MiB + 4 KiB object) and not one shared object
	rm "$MP/src"
	check "$name: background gc freed only the source's own object" \
		wait_bytes "$url" $((b1 - (1 << 20) - 4096))
	sleep 2.5 # another gc pass
	read -r o1 b1 <<<"$(counts "$url")"
	[ -n "$obj" ] && check "$name: the tier holds exactly the referenced objects" test "$(nobj)" -eq "$o1"
	out=$("$CASSAFS" gc "$url"); rc=$?
	check "$name: cassafs gc while mounted ($out)" test "$rc" -eq 0
	check "$name: it deleted nothing referenced" grep -q "$o1 objects ($b1 bytes) referenced" <<<"$out"
	umount_fs "$MP" || fail "$name: umount"
	out=$("$CASSAFS" gc "$url"); rc=$?
	check "$name: cassafs gc unmounted ($out)" test "$rc" -eq 0
	check "$name: no object without references" grep -q "0 objects (0 bytes) without references deleted; $o1 objects ($b1 bytes) referenced" <<<"$out"
	[ -n "$obj" ] && check "$name: the tier still holds $o1 objects" test "$(nobj)" -eq "$o1"
	out=$("$CASSAFS" fsck "$url"); rc=$?
	check "$name: fsck clean with shared objects ($out)" test "$rc" -eq 0

	# a fresh mount (no cache) reads every copy right
	mount_fs "$url" "$MP" || return 1
	check "$name: after gc and remount: written copy" cmp "$T_TMP/cp1" "$MP/cp1"
	check "$name: after gc and remount: truncated copy" same_range "$T_TMP/ref0" "$MP/cp2" 0 0 $((10 << 20))
	check "$name: after gc and remount: unaligned copy" same_range "$T_TMP/ref0" "$MP/cp3" 4097 1000001 $((SIZE - 4097))
	# unlink the rest: every object goes
	rm "$MP/cp1" "$MP/cp2"
	check "$name: unaligned copy intact after unlinking the others" same_range "$T_TMP/ref0" "$MP/cp3" 4097 1000001 $((SIZE - 4097))
	rm "$MP/cp3"
	check "$name: the last unlink frees every object" wait_bytes "$url" 0
	c=$(counts "$url"); check "$name: no object referenced ($c)" test "$c" = "0 0"
	[ -n "$obj" ] && { for _ in $(seq 20); do [ "$(nobj)" -eq 0 ] && break; sleep 0.25; done
		check "$name: the tier is empty" test "$(nobj)" -eq 0; }
	umount_fs "$MP" || fail "$name: umount"
	out=$("$CASSAFS" fsck "$url"); rc=$?
	check "$name: fsck clean at the end ($out)" test "$rc" -eq 0
}

run_tier store ""
run_tier file "file://$T_TMP/objects"
finish
