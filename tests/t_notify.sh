#!/usr/bin/env bash
# systemd integration without systemd as PID 1: $NOTIFY_SOCKET points at a
# datagram socket this test reads.  READY=1 must come only once the mount
# answers (its root is the FUSE root, inode 1), STOPPING=1 at unmount;
# both in the foreground (-f, as cassafs@.service runs it) and detached.
# Also checks the unit template and that mount.cassafs passes -t through.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
mkdir -p "$MP"
"$CASSAFS" mkfs "$URL" >/dev/null || fail "mkfs"

# listen SOCKET LOG: start the listener, wait until its socket is bound
listen() {
	rm -f "$1" "$1.bound"
	python3 "$ROOT/tests/scripts/notify_listen.py" "$1" "$MP" 30 >"$2" 2>&1 &
	LPID=$!
	for _ in $(seq 100); do [ -e "$1.bound" ] && return 0; sleep 0.05; done
	fail "notify listener did not start"
}

# foreground, as the unit runs it
SOCK=$T_TMP/notify.sock
listen "$SOCK" "$T_TMP/fg.log"
NOTIFY_SOCKET=$SOCK "$CASSAFS" mount -f -o log_file="$T_TMP/fg.daemon" "$URL" "$MP" &
DPID=$!
T_MOUNTS+=("$MP")
for _ in $(seq 100); do grep -q "READY" "$T_TMP/fg.log" && break; sleep 0.1; done
check "foreground: READY=1 after the mount answers" grep -q "READY live" "$T_TMP/fg.log"
check "foreground: MAINPID is the daemon" grep -q "MAINPID=$DPID" "$T_TMP/fg.log"
check "foreground: STATUS names the mount" grep -q "STATUS=mounted .* at $MP" "$T_TMP/fg.log"
echo data >"$MP/f" || fail "write on the mount"
if grep -q "STOPPING" "$T_TMP/fg.log"; then fail "STOPPING=1 before unmount"; else ok; fi
check "foreground: umount" "$CASSAFS" umount "$MP"
wait "$DPID"; check "foreground daemon exit status 0" test $? -eq 0
wait "$LPID"
check "foreground: STOPPING=1 at unmount" grep -q "STOPPING seen" "$T_TMP/fg.log"
check "foreground: READY before STOPPING" bash -c "grep -n 'READY=1' '$T_TMP/fg.log' | head -1 | cut -d: -f1 | { read r; s=\$(grep -n 'STOPPING=1' '$T_TMP/fg.log' | cut -d: -f1); [ \"\$r\" -lt \"\$s\" ]; }"
cat "$T_TMP/fg.log"

# detached (the daemon is a child of the command)
listen "$SOCK" "$T_TMP/bg.log"
check "detached mount" env NOTIFY_SOCKET="$SOCK" "$CASSAFS" mount "$URL" "$MP"
for _ in $(seq 100); do grep -q "READY" "$T_TMP/bg.log" && break; sleep 0.1; done
check "detached: READY=1 after the mount answers" grep -q "READY live" "$T_TMP/bg.log"
check "detached: data intact" grep -qx data "$MP/f"
check "detached: umount" "$CASSAFS" umount "$MP"
wait "$LPID"
check "detached: STOPPING=1 at unmount" grep -q "STOPPING seen" "$T_TMP/bg.log"

# a failed mount says nothing to systemd (no READY=1)
listen "$SOCK" "$T_TMP/fail.log"
NOTIFY_SOCKET=$SOCK "$CASSAFS" mount -f "lmdb://$T_TMP/none" "$MP" 2>/dev/null
check "failed mount exits non-zero" test $? -ne 0
kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null
if grep -q "READY=1" "$T_TMP/fail.log"; then fail "READY=1 from a failed mount"; else ok; fi

# the unit template
U=$ROOT/tools/cassafs@.service
check "unit is Type=notify" grep -qx "Type=notify" "$U"
check "unit waits for the network" grep -qx "After=network-online.target" "$U"
check "unit runs the daemon in the foreground" grep -q "^ExecStart=/usr/bin/cassafs mount -f " "$U"
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T_TMP/units"
	sed "s|/usr/bin/cassafs|$CASSAFS|" "$U" >"$T_TMP/units/cassafs@.service"
	out=$(systemd-analyze verify "$T_TMP/units/cassafs@demo.service" 2>&1)
	if grep -qiE "unknown|invalid|error" <<<"$(grep -v -e 'ConditionPathExists' -e 'not executable' <<<"$out")"; then
		fail "systemd-analyze verify: $out"
	else ok; fi
fi

# mount(8) hands type helpers "-t fuse.cassafs": accepted
check "mount.cassafs accepts -t" env CASSAFS="$CASSAFS" "$ROOT/tools/mount.cassafs" "$URL" "$MP" -o rw -t fuse.cassafs
check "helper mounted" grep -q " $MP fuse.cassafs " /proc/mounts
"$CASSAFS" umount "$MP" || fail "umount after helper mount"
finish
