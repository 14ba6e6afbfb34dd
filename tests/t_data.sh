#!/usr/bin/env bash
# The data tier through a real mount, on a file:///DIR tier (where objects
# can be counted and damaged from outside) and on the default store tier:
# contents round-trip; a sequential write becomes few large objects and
# random 4 KiB writes no large upload; overwrites, truncates and unlinks
# free their objects (background gc); copy_file_range shares objects;
# status, gc and fsck see the tier; credentials in a data URL are refused.
. "$(dirname "$0")/lib.sh"
need python3 "to write at random offsets"
URL="lmdb://$T_TMP/store"
OBJ=$T_TMP/objects
MP=$T_TMP/mnt
nobj() { find "$OBJ" -type f ! -name '.tmp.*' | wc -l; }
# the background gc runs every 2 s: wait until the object count is $1
wait_objs() {
	local i
	for i in $(seq 50); do [ "$(nobj)" -eq "$1" ] && return 0; sleep 0.2; done
	echo "objects: $(nobj), want $1" >&2; return 1
}

expect_error "credentials in the data URL are refused" "secrets" \
	"$CASSAFS" mkfs --data "s3://key:secret@127.0.0.1:9/bucket" "lmdb://$T_TMP/bad"
expect_error "an unknown tier is refused" "unknown data tier" \
	"$CASSAFS" mkfs --data "nfs://x/y" "lmdb://$T_TMP/bad2"
check "mkfs --data file://" "$CASSAFS" mkfs --data "file://$OBJ" "$URL"
check "mkfs made the fan-out" test -d "$OBJ/ff"
out=$("$CASSAFS" status "$URL")
check "status names the tier" grep -q "data tier    file://$OBJ: 0 objects, 0 bytes" <<<"$out"
out=$("$CASSAFS" status --json "$URL")
check "status --json names the tier" python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert d['data_tier']=='file://$OBJ' and d['data_objects']==0 and d['format']==2" "$out"

mount_fs "$URL" "$MP" || { finish; exit; }
# sequential: 40 MiB in one go becomes ceil(40/4) objects of 4 MiB
head -c $((40 << 20)) /dev/urandom >"$T_TMP/seq"
cp "$T_TMP/seq" "$MP/seq" && sync
check "sequential file reads back" cmp "$T_TMP/seq" "$MP/seq"
check "40 MiB written sequentially = 10 objects" wait_objs 10
big=$(find "$OBJ" -type f -size +4000k | wc -l)
check "they are 4 MiB objects ($big)" test "$big" -eq 10

# random 4 KiB writes: one flush packs them into one small object
python3 - "$MP/seq" "$T_TMP/seq" <<'EOF'
import os, random, sys
random.seed(7)
fs, ref = [os.open(p, os.O_RDWR) for p in sys.argv[1:3]]
for i in range(200):
    off = random.randrange(0, 40 << 20, 4096)
    buf = os.urandom(4096)
    for f in (fs, ref):
        os.pwrite(f, buf, off)
os.fsync(fs)
EOF
check "after 200 random 4 KiB writes the file is right" cmp "$T_TMP/seq" "$MP/seq"
n=$(nobj)
check "200 random 4 KiB writes added one object ($n)" test "$n" -eq 11
small=$(find "$OBJ" -type f -size -1000k | wc -l)
check "and it is small (800 KiB)" test "$small" -eq 1
# a fresh mount reads the same bytes (nothing only in caches)
umount_fs "$MP" || fail "umount"
mount_fs "$URL" "$MP" || { finish; exit; }
check "after remount the file is right" cmp "$T_TMP/seq" "$MP/seq"

# truncate frees the objects past the end, extends read zeros
truncate -s $((6 << 20)) "$MP/seq"
truncate -s $((8 << 20)) "$MP/seq"
head -c $((6 << 20)) "$T_TMP/seq" >"$T_TMP/t"; truncate -s $((8 << 20)) "$T_TMP/t"
check "truncated and extended file is right" cmp "$T_TMP/t" "$MP/seq"
check "truncate freed the objects past the end (2 + the packed one)" wait_objs 3

# copy_file_range shares objects: no new object
python3 - "$MP/seq" "$MP/copy" <<'EOF'
import os, sys
a = os.open(sys.argv[1], os.O_RDONLY); b = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
n, left = 0, os.fstat(a).st_size
while left:
    k = os.copy_file_range(a, b, left)
    assert k > 0
    left -= k
os.close(b)
EOF
check "the copy reads the same" cmp "$MP/seq" "$MP/copy"
check "copy_file_range made no object" test "$(nobj)" -eq 3
# overwrite the original: the copy keeps the old bytes
head -c $((8 << 20)) /dev/zero | tr '\0' 'z' >"$T_TMP/z"
dd if="$T_TMP/z" of="$MP/seq" conv=notrunc status=none && sync
check "overwritten original" cmp "$T_TMP/z" "$MP/seq"
check "the copy still has the old bytes" cmp "$T_TMP/t" "$MP/copy"
rm -f "$MP/copy" "$MP/seq"
check "unlinking both frees every object" wait_objs 0

# sparse and fallocate: holes, allocation, punch
python3 - "$MP/sp" <<'EOF'
import os, sys
f = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(f, b"end", (100 << 20) - 3)
os.posix_fallocate(f, 1 << 20, 1 << 20)
st = os.fstat(f)
assert st.st_size == 100 << 20, st.st_size
assert st.st_blocks * 512 >= 1 << 20, st.st_blocks
assert os.pread(f, 3, (100 << 20) - 3) == b"end"
assert os.pread(f, 4096, 1 << 20) == bytes(4096)
os.close(f)
EOF
check "sparse file with an allocated range" test $? -eq 0
umount_fs "$MP" || fail "umount"

# gc and fsck against the tier
out=$("$CASSAFS" fsck "$URL"); rc=$?
check "fsck clean ($out)" test "$rc" -eq 0
# a leaked object, where the file engine puts key UUID/00000000deadbeef
uuid=$(sed -n 's/^uuid *//p' <<<"$("$CASSAFS" status "$URL")")
sub=$(python3 -c '
import sys
h = 2166136261
for c in sys.argv[1].encode():
    h = ((h ^ c) * 16777619) & 0xffffffff
print("%02x" % ((h ^ (h >> 16)) % 256))' "$uuid/00000000deadbeef")
echo leaked >"$OBJ/$sub/$uuid+00000000deadbeef"
out=$("$CASSAFS" gc --dry-run "$URL")
check "gc --dry-run counts a leaked object ($out)" grep -q "1 objects (7 bytes) without references would be deleted" <<<"$out"
check "dry run deleted nothing" test "$(nobj)" -eq 2
out=$("$CASSAFS" gc "$URL")
check "gc deletes it ($out)" grep -q "1 objects (7 bytes) without references deleted" <<<"$out"
n=$(nobj); check "one object left ($n)" test "$n" -eq 1
# a referenced object that vanished is a problem fsck reports
find "$OBJ" -type f -delete
out=$("$CASSAFS" fsck "$URL"); rc=$?
check "fsck exit 4 for a missing object" test "$rc" -eq 4
check "fsck names it ($out)" grep -q "referenced objects are missing" <<<"$out"

# the default tier: store (objects in the LMDB store), same behaviour
URL2="lmdb://$T_TMP/store2"
check "mkfs (default tier)" "$CASSAFS" mkfs "$URL2"
check "status: store tier" grep -q "data tier    store:" <<<"$("$CASSAFS" status "$URL2")"
mount_fs "$URL2" "$MP" || { finish; exit; }
cp "$T_TMP/t" "$MP/f" && sync
check "store tier: file reads back" cmp "$T_TMP/t" "$MP/f"
umount_fs "$MP" || fail "umount"
check "store tier: objects counted" grep -q "store: 2 objects, 6291456 bytes" <<<"$("$CASSAFS" status "$URL2")"
out=$("$CASSAFS" fsck "$URL2"); rc=$?
check "store tier: fsck clean ($out)" test "$rc" -eq 0

# migrate-data: a format-1 filesystem (blocks in the store) moved into a
# file:// tier, sparse and preallocated files included
URL3="lmdb://$T_TMP/store3"
OBJ3=$T_TMP/objects3
check "mkfs --data blocks (format 1)" "$CASSAFS" mkfs --data blocks "$URL3"
check "status: format 1" grep -q "^format       1" <<<"$("$CASSAFS" status "$URL3")"
mount_fs "$URL3" "$MP" || { finish; exit; }
cp "$T_TMP/t" "$MP/f"
python3 -c '
import os, sys
f = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(f, b"tail", (50 << 20) - 4)
os.posix_fallocate(f, 1 << 20, 1 << 20)
os.close(f)' "$MP/sp"
mkdir "$MP/d" && echo small >"$MP/d/s"
st_before=$(stat -c '%s %b' "$MP/sp")
expect_error "migrate-data refuses a mounted filesystem" "mounted" \
	"$CASSAFS" migrate-data --data "file://$OBJ3" "$URL3"
umount_fs "$MP" || fail "umount"
out=$("$CASSAFS" migrate-data --data "file://$OBJ3" "$URL3"); rc=$?
check "migrate-data ($out)" test "$rc" -eq 0
check "it says what it moved" grep -q "format 2 now" <<<"$out"
check "status: format 2 in the tier" grep -q "data tier    file://$OBJ3" <<<"$("$CASSAFS" status "$URL3")"
out=$("$CASSAFS" fsck "$URL3"); rc=$?
check "fsck clean after migrate-data ($out)" test "$rc" -eq 0
expect_error "a second migrate-data says it is done" "already" \
	"$CASSAFS" migrate-data "$URL3"
mount_fs "$URL3" "$MP" || { finish; exit; }
check "migrated file reads back" cmp "$T_TMP/t" "$MP/f"
check "migrated small file" grep -qx small "$MP/d/s"
check "migrated sparse file: size and blocks kept ($st_before)" test "$(stat -c '%s %b' "$MP/sp")" = "$st_before"
check "migrated sparse file: tail" test "$(tail -c 4 "$MP/sp")" = tail
umount_fs "$MP" || fail "umount"
# gc while a mount is live: a leak below the mounts' upload fence goes,
# an unreferenced object above it (it could be an upload about to be
# committed) stays until gc runs with no mount live
OBJ5=$T_TMP/objects5
URL5="lmdb://$T_TMP/store5"
check "mkfs --data file:// (online gc)" "$CASSAFS" mkfs --data "file://$OBJ5" "$URL5"
mount_fs "$URL5" "$MP" || { finish; exit; }
head -c $((5 << 20)) /dev/urandom >"$T_TMP/g5"
cp "$T_TMP/g5" "$MP/g" && sync
uuid5=$("$CASSAFS" status --json "$URL5" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
fake() { # ID: an object of this filesystem that nothing refers to
	local hh
	hh=$(python3 -c 'import sys
h = 2166136261
for c in sys.argv[1].encode():
    h = ((h ^ c) * 16777619) & 0xffffffff
print("%02x" % ((h ^ (h >> 16)) % 256))' "$uuid5/$1")
	echo leaked >"$OBJ5/$hh/$uuid5+$1"
}
fake 0000000000000000
fake ffffffffffffff00
sleep 6 # the mount record (with the floor) is refreshed every 5 s
out=$("$CASSAFS" gc "$URL5"); rc=$?
check "gc with a live mount ($out)" test "$rc" -eq 0
check "it deleted the leak below the fence" grep -q "1 objects (7 bytes) without references deleted" <<<"$out"
check "and left the one above it" grep -q "1 objects (7 bytes) without references left: a live mount may still commit them" <<<"$out"
check "the leak is gone" test "$(find "$OBJ5" -name "$uuid5+0000000000000000" | wc -l)" -eq 0
check "the fenced object is there" test "$(find "$OBJ5" -name "$uuid5+ffffffffffffff00" | wc -l)" -eq 1
check "the file reads back" cmp "$T_TMP/g5" "$MP/g"
umount_fs "$MP" || fail "umount"
out=$("$CASSAFS" gc "$URL5"); rc=$?
check "gc with no mount live deletes it ($out)" grep -q "1 objects (7 bytes) without references deleted" <<<"$out"
out=$("$CASSAFS" fsck "$URL5"); rc=$?
check "fsck clean after online gc ($out)" test "$rc" -eq 0
mount_fs "$URL5" "$MP" || { finish; exit; }
check "the file reads back after remount" cmp "$T_TMP/g5" "$MP/g"
umount_fs "$MP" || fail "umount"

# mkfs --force on a filesystem whose tier is remote (file://): the old
# filesystem's objects are deleted first, not left in the tier for ever;
# --keep-data leaves them (t_data_cache: a tier that cannot be opened
# refuses)
OBJ4=$T_TMP/objects4
URL4="lmdb://$T_TMP/store4"
check "mkfs --data file:// (to be replaced)" "$CASSAFS" mkfs --data "file://$OBJ4" "$URL4"
mount_fs "$URL4" "$MP" || { finish; exit; }
head -c $((9 << 20)) /dev/urandom >"$MP/f1"
echo small >"$MP/f2"
umount_fs "$MP" || fail "umount"
n4=$(find "$OBJ4" -type f ! -name '.tmp.*' | wc -l)
check "the old filesystem has objects ($n4)" test "$n4" -ge 3
# an object uploaded but never committed (a crash before the commit):
# only the listing knows it
uuid4=$("$CASSAFS" status --json "$URL4" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
leak=$(find "$OBJ4" -type f ! -name '.tmp.*' | head -n 1)
hh=$(python3 -c 'import sys
h = 2166136261
for c in sys.argv[1].encode():
    h = ((h ^ c) * 16777619) & 0xffffffff
print("%02x" % ((h ^ (h >> 16)) % 256))' "$uuid4/00000000ffffff00")
cp "$leak" "$OBJ4/$hh/${uuid4}+00000000ffffff00"
out=$("$CASSAFS" mkfs --force --data "file://$OBJ4" "$URL4"); rc=$?
check "mkfs --force ($out)" test "$rc" -eq 0
check "it says it deleted the old objects" grep -q "deleted $((n4 + 1)) objects of the old filesystem $uuid4" <<<"$out"
check "no object of the old filesystem is left" test "$(find "$OBJ4" -type f -name "$uuid4*" | wc -l)" -eq 0
out=$("$CASSAFS" fsck "$URL4"); rc=$?
check "the new filesystem is clean ($out)" test "$rc" -eq 0
mount_fs "$URL4" "$MP" || { finish; exit; }
echo new >"$MP/n"
umount_fs "$MP" || fail "umount"
n5=$(find "$OBJ4" -type f ! -name '.tmp.*' | wc -l)
out=$("$CASSAFS" mkfs --force --keep-data --data "file://$OBJ4" "$URL4" 2>&1); rc=$?
check "mkfs --force --keep-data ($out)" test "$rc" -eq 0
check "it says the objects stay" grep -q "keep-data: the objects of .* stay in file://$OBJ4" <<<"$out"
check "they stay ($n5)" test "$(find "$OBJ4" -type f ! -name '.tmp.*' | wc -l)" -eq "$n5"
expect_error "--keep-data without --force" "goes with --force" "$CASSAFS" mkfs --keep-data "$URL4"
finish
