#!/usr/bin/env bash
# cassafs dump / load: a tree with hard links, symlinks, xattrs, sparse
# files, devices, odd names (every byte but / and NUL, 255 long) goes
# LMDB → Redis → LMDB; after each step the tree on a real mount is listed
# (inode numbers, attributes with ns times, xattrs, targets, SHA-256) and
# compared with the original, fsck is clean, and the two dumps are equal
# line for line after the header.  Then: refusals (non-empty, mounted,
# cut, garbage, block size), a consistent dump of a filesystem mounted and
# written to, bounded memory, and progress only when asked or on a tty.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIST="python3 $ROOT/tests/scripts/tree_list.py"
RPORT=6497
command -v redis-server >/dev/null || { fail "redis-server missing"; finish; exit; }
mkdir -p "$T_TMP/redis"
cat >"$T_TMP/redis/redis.conf" <<CONF
port $RPORT
bind 127.0.0.1
save ""
appendonly no
dir $T_TMP/redis
daemonize yes
pidfile $T_TMP/redis/pid
logfile $T_TMP/redis/log
CONF
redis-server "$T_TMP/redis/redis.conf" || fail "start redis-server"
for _ in $(seq 100); do redis-cli -p $RPORT ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
stop_redis() { [ -s "$T_TMP/redis/pid" ] && kill "$(cat "$T_TMP/redis/pid")" 2>/dev/null; }
trap 'stop_redis; cleanup' EXIT

A="lmdb://$T_TMP/a"
R="redis://127.0.0.1:$RPORT/0?name=dumptest"
C="lmdb://$T_TMP/c"
RCOORD="local://$T_TMP/rcoord"
MP=$T_TMP/mnt
mkdir -p "$MP" "$T_TMP/rcoord"

# --- the tree ---
"$CASSAFS" mkfs "$A" >/dev/null || fail "mkfs A"
mount_fs "$A" "$MP" || fail "mount A"
(
	set -e
	cd "$MP"
	mkdir -p dir/sub/deeper empty-dir
	head -c 300000 /dev/urandom >dir/file          # several 64K blocks
	ln dir/file dir/sub/hardlink                    # three names, one inode
	ln dir/file top-hardlink
	ln -s ../file dir/sub/rel-link
	ln -s /etc/passwd abs-link
	ln -s "$(printf 'x%.0s' $(seq 4000))" long-target-link
	ln -s does/not/exist dangling
	: >empty-file
	truncate -s 100M sparse                         # holes, a block in the middle, a tail
	printf middle | dd of=sparse bs=1 seek=50000000 conv=notrunc status=none
	printf tail >>sparse
	printf 'zeros then data' | dd of=zeros-inside bs=1 seek=200000 status=none
	mkfifo fifo
	mknod chardev c 1 3
	mknod blockdev b 7 99
	echo odd >"$(printf 'name with spaces, \\backslash, %% and \001\002\037\177 ctl')"
	echo nl >"$(printf 'new\nline')"
	echo bytes >"$(printf '\xff\xfe\x80 not utf-8')"
	echo utf >"$(printf 'caf\xc3\xa9 \xe2\x98\x83')"
	echo long >"$(printf 'L%.0s' $(seq 255))"
	mkdir "$(printf 'd%.0s' $(seq 255))"
	setfattr -n user.text -v hello dir/file
	setfattr -n user.empty dir/file
	setfattr -n user.binary -v 0x00ff00fe0a dir
	setfattr -n user.big -v "$(head -c 3000 /dev/urandom | base64 -w0)" empty-file
	setfattr -n trusted.root-only -v secret top-hardlink
	chmod 4755 empty-file; chmod 1777 empty-dir; chmod 2750 dir/sub; chmod 0 dir/sub/deeper
	chown 1234:5678 dir/file; chown -h 42:43 abs-link
	touch -h -d '2001-02-03 04:05:06.123456789' abs-link
	touch -d '1999-12-31 23:59:59.987654321' sparse
	touch -a -d '2010-01-01 00:00:00.5' zeros-inside
)
check "tree built" test $? -eq 0
sync "$MP/dir/file" "$MP/sparse"
$LIST --hash "$MP" >"$T_TMP/list.a" || fail "list A"
$LIST --atime "$MP" >"$T_TMP/stat.a"           # atimes after the reads
umount_fs "$MP" || fail "umount A"
check "tree listing has every name" test "$(wc -l <"$T_TMP/list.a")" -eq 24

# compare LISTING-NAME STEP: list the mount now and compare with A
compare_tree() {
	$LIST --atime "$MP" >"$T_TMP/stat.$1"
	if diff "$T_TMP/stat.a" "$T_TMP/stat.$1" >"$T_TMP/diff.$1"; then ok; else
		fail "$2: attributes differ:"; head -20 "$T_TMP/diff.$1" >&2; fi
	$LIST --hash "$MP" >"$T_TMP/list.$1"
	if diff "$T_TMP/list.a" "$T_TMP/list.$1" >"$T_TMP/diff.$1"; then ok; else
		fail "$2: tree differs:"; head -20 "$T_TMP/diff.$1" >&2; fi
}

# --- LMDB → Redis ---
"$CASSAFS" dump "$A" >"$T_TMP/d1" 2>"$T_TMP/d1.err"
check "dump A" test $? -eq 0
check "dump quiet when stderr is no terminal" test ! -s "$T_TMP/d1.err"
check "dump ends with its end record" bash -c "tail -n1 '$T_TMP/d1' | grep -q '\"t\":\"end\"'"
"$CASSAFS" mkfs "$R" >/dev/null || fail "mkfs R"
"$CASSAFS" load --coord "$RCOORD" "$R" <"$T_TMP/d1"
check "load into Redis" test $? -eq 0
check "fsck Redis copy" "$CASSAFS" fsck --coord "$RCOORD" "$R"
mount_fs "$R" "$MP" --coord "$RCOORD" || fail "mount R"
compare_tree r "LMDB → Redis"
umount_fs "$MP" || fail "umount R"

# --- Redis → LMDB (load makes the filesystem itself) ---
"$CASSAFS" dump "$R" >"$T_TMP/d2" || fail "dump R"
check "the two dumps are equal after the header" cmp <(tail -n +2 "$T_TMP/d1") <(tail -n +2 "$T_TMP/d2")
"$CASSAFS" load "$C" <"$T_TMP/d2" >"$T_TMP/load.out" 2>&1
check "load into a new LMDB store" test $? -eq 0
check "fsck LMDB copy" "$CASSAFS" fsck "$C"
check "status counts match" bash -c "[ \"\$('$CASSAFS' status '$A' | grep used)\" = \"\$('$CASSAFS' status '$C' | grep used)\" ]"
mount_fs "$C" "$MP" || fail "mount C"
compare_tree c "Redis → LMDB"
check "hard link: one inode, three names" test "$(stat -c %h "$MP/top-hardlink")" -eq 3
check "a read-back byte of the sparse file" test "$(dd if="$MP/sparse" bs=1 skip=50000000 count=6 status=none)" = middle
check "new files get fresh inode numbers" bash -c "touch '$MP/new' && [ \$(stat -c %i '$MP/new') -gt \$(awk '{print \$2}' '$T_TMP/list.a' | sed 's/ino=//' | sort -n | tail -1) ]"

# --- refusals ---
expect_error "load into a mounted filesystem" "is mounted" "$CASSAFS" load "$C" <"$T_TMP/d1"
umount_fs "$MP" || fail "umount C"
expect_error "load into a non-empty filesystem" "is not empty \([0-9]+ inodes\).*mkfs --force" "$CASSAFS" load "$C" <"$T_TMP/d1"
"$CASSAFS" mkfs --force "$C" >/dev/null
expect_error "load of a cut dump" "without its end record" "$CASSAFS" load "$C" < <(head -n -1 "$T_TMP/d1")
"$CASSAFS" mkfs --force "$C" >/dev/null
expect_error "load of a dump with a line cut" "line [0-9]+: not a dump record" "$CASSAFS" load "$C" < <(head -c 20000 "$T_TMP/d1")
expect_error "load of something else" "line 1 is not a cassafs dump header" "$CASSAFS" load "lmdb://$T_TMP/x" < /etc/passwd
expect_error "load of nothing" "empty" "$CASSAFS" load "lmdb://$T_TMP/x" </dev/null
sed '1s/"version":1/"version":99/' "$T_TMP/d1" >"$T_TMP/d99"
expect_error "load of a future version" "version 99; this cassafs reads version 1" "$CASSAFS" load "lmdb://$T_TMP/x" <"$T_TMP/d99"
"$CASSAFS" mkfs --block-size 128K "lmdb://$T_TMP/bs" >/dev/null
expect_error "block size mismatch" "block size 65536 but .* has 131072.*--block-size 65536" "$CASSAFS" load "lmdb://$T_TMP/bs" <"$T_TMP/d1"
expect_error "dump of a missing store" "mkfs" "$CASSAFS" dump "lmdb://$T_TMP/none"
expect_error "dump usage" "usage" "$CASSAFS" dump

# --- a dump of a filesystem mounted and being written is one state ---
"$CASSAFS" mkfs --force "$C" >/dev/null
mount_fs "$A" "$MP" || fail "mount A for the live dump"
( for i in $(seq 400); do mkdir "$MP/live$i" && echo "$i" >"$MP/live$i/f" && mv "$MP/live$i/f" "$MP/live$i/g" && ln "$MP/live$i/g" "$MP/live$i/h"; done ) &
W=$!
sleep 0.3
"$CASSAFS" dump "$A" >"$T_TMP/live" || fail "dump while mounted"
wait $W
umount_fs "$MP" || fail "umount A after the live dump"
"$CASSAFS" load "$C" <"$T_TMP/live" || fail "load the live dump"
check "the live dump is consistent (fsck clean)" "$CASSAFS" fsck "$C"

# On Redis the read transaction is optimistic: the dump either validates
# (one state) or fails and leaves out its end record, so load refuses it.
mount_fs "$R" "$MP" --coord "$RCOORD" || fail "mount R for the live dump"
( for i in $(seq 300); do mkdir "$MP/rlive$i" && echo "$i" >"$MP/rlive$i/f" && mv "$MP/rlive$i/f" "$MP/rlive$i/g"; done ) &
W=$!
sleep 0.3
"$CASSAFS" dump "$R" >"$T_TMP/rlive" 2>"$T_TMP/rlive.err"; rc=$?
wait $W
umount_fs "$MP" || fail "umount R after the live dump"
echo "live dump of Redis: exit $rc $(cat "$T_TMP/rlive.err")"
if [ $rc -eq 0 ]; then
	"$CASSAFS" load "lmdb://$T_TMP/rlive-copy" <"$T_TMP/rlive" || fail "load the live Redis dump"
	check "the live Redis dump is consistent (fsck clean)" "$CASSAFS" fsck "lmdb://$T_TMP/rlive-copy"
else
	check "a failed live dump says why" grep -q "changed while it was being dumped" "$T_TMP/rlive.err"
	expect_error "and load refuses it" "without its end record" "$CASSAFS" load "lmdb://$T_TMP/rlive-copy" <"$T_TMP/rlive"
fi

# --- bounded memory: a 96 MiB file does not make dump or load grow ---
# (on Redis: an LMDB store is memory-mapped, and the pages a dump reads
# count in its RSS although they are the page cache's)
RB="redis://127.0.0.1:$RPORT/0?name=big"
RB2="redis://127.0.0.1:$RPORT/0?name=big2"
"$CASSAFS" mkfs "$RB" >/dev/null || fail "mkfs RB"
mount_fs "$RB" "$MP" --coord "$RCOORD" || fail "mount RB for the big file"
head -c $((96 << 20)) /dev/urandom >"$MP/big"
umount_fs "$MP"
rss=$(python3 -c "
import resource, subprocess, sys
with open('$T_TMP/big.dump', 'wb') as out:
    rc = subprocess.run(['$CASSAFS', 'dump', '$RB'], stdout=out).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if rc == 0 else -1)")
echo "dump of a 96 MiB file: max RSS $rss KiB"
check "dump's memory bounded (max RSS $rss KiB < 32 MiB)" test "$rss" -gt 0 -a "$rss" -lt 32768
rss=$(python3 -c "
import resource, subprocess, sys
with open('$T_TMP/big.dump', 'rb') as f:
    rc = subprocess.run(['$CASSAFS', 'load', '--coord', '$RCOORD', '$RB2'], stdin=f).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if rc == 0 else -1)")
echo "load of a 96 MiB file: max RSS $rss KiB"
check "load's memory bounded (max RSS $rss KiB < 64 MiB)" test "$rss" -gt 0 -a "$rss" -lt 65536
mount_fs "$RB2" "$MP" --coord "$RCOORD" || fail "mount RB2"
check "big file loaded whole" test "$(sha256sum <"$MP/big")" = "$(sha256sum < <("$CASSAFS" dump "$RB" | python3 -c "
import sys, json, base64
out = sys.stdout.buffer; pos = 0
for line in sys.stdin:
    r = json.loads(line)
    if r['t'] == 'data':
        out.write(bytes(r['off'] - pos)); d = base64.b64decode(r['data_b64']); out.write(d); pos = r['off'] + len(d)
    elif r['t'] == 'inode' and r['ino'] != 1: size = r['size']
out.write(bytes(size - pos))"))"
umount_fs "$MP"
rm -f "$T_TMP/big.dump"

# --- progress: asked for, or on a terminal ---
"$CASSAFS" dump --progress "$A" 2>"$T_TMP/p.err" >/dev/null
check "--progress reports on stderr" grep -q "dumped [0-9]* inodes, [0-9]* entries" "$T_TMP/p.err"
if command -v script >/dev/null; then
	script -qec "'$CASSAFS' dump '$A' >/dev/null" /dev/null >"$T_TMP/tty.out" 2>&1
	check "progress when stderr is a terminal" grep -q "dumped [0-9]* inodes" "$T_TMP/tty.out"
	script -qec "'$CASSAFS' dump '$A'" /dev/null >"$T_TMP/tty2.out" 2>&1
	check "dump refuses a terminal as stdout" grep -q "stdout is a terminal" "$T_TMP/tty2.out"
fi
finish
