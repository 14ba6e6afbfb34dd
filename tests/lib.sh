# tests/lib.sh — helpers shared by the tests/t_*.sh scripts.
# Each script sources this, calls ok/fail per assertion and ends with
# `finish`, which prints "RESULT p passed, f failed".
: "${CASSAFS:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/cassafs}"
: "${TESTBIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/tests}"
T_PASS=0 T_FAIL=0
T_TMP=$(mktemp -d /tmp/cassafs-test.XXXXXX)
T_MOUNTS=()

ok() { T_PASS=$((T_PASS + 1)); }
fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL: $*" >&2; }
# check DESCRIPTION COMMAND... : the command must succeed
check() { local d=$1; shift; if "$@"; then ok; else fail "$d"; fi; }

# expect_error DESCRIPTION PATTERN COMMAND...: non-zero exit below 128
# (no crash) and stderr matching PATTERN (grep -E, case-insensitive).
expect_error() {
	local d=$1 pat=$2; shift 2
	local out rc
	out=$("$@" 2>&1 >/dev/null); rc=$?
	if [ "$rc" -eq 0 ]; then fail "$d: exited 0 (output: $out)"; return; fi
	if [ "$rc" -ge 128 ]; then fail "$d: crashed with status $rc (output: $out)"; return; fi
	if ! grep -qiE -- "$pat" <<<"$out"; then fail "$d: message '$out' lacks /$pat/"; return; fi
	ok
}

# mount_fs URL MOUNTPOINT [OPTIONS...]: mount and remember for cleanup.
# The daemon runs in the foreground (-f) as a child of this shell, so that
# umount_fs can check how it ended: a daemon that crashes at unmount (or
# exits non-zero) is a failure.  Its stderr goes to $T_TMP/daemon-N.err.
# So a test must never run a bare `wait` (it would wait for the daemons):
# wait for the pids it means.
declare -A T_DAEMON=()
T_NDAEMON=0
mount_fs() {
	local url=$1 mp=$2 pid err i; shift 2
	mkdir -p "$mp"
	mp=$(realpath "$mp")
	T_NDAEMON=$((T_NDAEMON + 1)); err=$T_TMP/daemon-$T_NDAEMON.err
	"$CASSAFS" mount -f "$@" "$url" "$mp" </dev/null >"$err" 2>&1 &
	pid=$!
	# mounted once the kernel lists it and the daemon wrote its pid file
	for i in $(seq 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"; echo "mount $url on $mp: daemon exited with status $? before mounting: $(tail -n 3 "$err")" >&2
			return 1
		fi
		if grep -q " $mp fuse" /proc/mounts && [ -n "$(pid_file_pid "$mp")" ]; then
			T_DAEMON[$mp]=$pid; T_MOUNTS+=("$mp"); return 0
		fi
		sleep 0.1
	done
	echo "mount $url on $mp: not mounted after 30 s" >&2
	kill "$pid" 2>/dev/null; wait "$pid"
	return 1
}

# umount_fs MOUNTPOINT: cassafs umount, then the daemon (if mount_fs started
# it) must have exited with status 0.
umount_fs() {
	local mp rc st pid
	mp=$(realpath -m "$1")
	"$CASSAFS" umount "$mp"; rc=$?
	pid=${T_DAEMON[$mp]:-}
	[ -n "$pid" ] || return $rc
	unset "T_DAEMON[$mp]"
	if [ $rc -ne 0 ] && kill -0 "$pid" 2>/dev/null; then
		echo "umount $mp failed (status $rc); daemon $pid still running" >&2
		T_DAEMON[$mp]=$pid
		return 1
	fi
	wait "$pid"; st=$?
	if [ $st -ne 0 ]; then
		echo "daemon $pid of $mp exited with status $st at unmount$([ $st -gt 128 ] && echo " (signal $((st - 128)))")" >&2
		return 1
	fi
	return $rc
}

# forget_daemon MOUNTPOINT: the test killed this daemon on purpose.
forget_daemon() {
	local mp pid
	mp=$(realpath -m "$1")
	pid=${T_DAEMON[$mp]:-}
	[ -n "$pid" ] || return 0
	unset "T_DAEMON[$mp]"
	wait "$pid" 2>/dev/null
	return 0
}

pid_file_pid() { # MOUNTPOINT -> pid recorded in its daemon's pid file
	local f
	for f in /run/cassafs/*.pid "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"/cassafs/*.pid /tmp/cassafs-$(id -u)/*.pid; do
		[ -f "$f" ] || continue
		if [ "$(sed -n 2p "$f")" = "$(realpath -m "$1")" ]; then sed -n 1p "$f"; return; fi
	done
}

daemon_pid() { # MOUNTPOINT -> pid of its daemon
	local mp
	mp=$(realpath -m "$1")
	if [ -n "${T_DAEMON[$mp]:-}" ]; then echo "${T_DAEMON[$mp]}"; else pid_file_pid "$mp"; fi
}

# need COMMAND HINT: stop the test (one failure) when COMMAND is missing
need() { command -v "$1" >/dev/null || { echo "FAIL: $1 missing ($2)"; echo "RESULT 0 passed, 1 failed"; exit 1; }; }

# redis_start PORT DIR [EXTRA CONFIG LINES]: a private Redis on 127.0.0.1
# (AOF, appendfsync always), answering when this returns 0.  A password, if
# any, goes in the config lines, never on a command line.
redis_start() {
	local p=$1 d=$2
	mkdir -p "$d"
	printf 'port %s\nbind 127.0.0.1\nsave ""\nappendonly yes\nappendfsync always\ndir %s\ndaemonize yes\npidfile %s/pid\nlogfile %s/log\n%s\n' \
		"$p" "$d" "$d" "$d" "${3:-}" >"$d/redis.conf"
	redis-server "$d/redis.conf" || return 1
	for _ in $(seq 50); do
		[ -s "$d/pid" ] && redis-cli -p "$p" ping 2>/dev/null | grep -qE 'PONG|NOAUTH' && return 0
		sleep 0.1
	done
	return 1
}
redis_kill() { [ -s "$1/pid" ] && kill -9 "$(cat "$1/pid")" 2>/dev/null; rm -f "$1/pid"; }

cleanup() {
	local mp
	for mp in "${T_MOUNTS[@]}"; do
		if mountpoint -q "$mp" 2>/dev/null || grep -q " $mp " /proc/mounts; then
			"$CASSAFS" umount "$mp" >/dev/null 2>&1 || umount -l "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null
		fi
	done
	rm -rf "$T_TMP"
}
trap cleanup EXIT

finish() {
	# every daemon still mounted must unmount cleanly and exit 0
	local mp
	for mp in "${!T_DAEMON[@]}"; do
		check "daemon of $mp exits 0 at unmount" umount_fs "$mp"
	done
	echo "RESULT $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}

# dist_servers DIR RPORT ZPORT: a ZooKeeper credential of its own for this
# run ($CASSAFS_ZK_CREDENTIALS_FILE, no other secrets from the caller's
# environment), a private Redis (DIR/redis) and ZooKeeper (DIR/zk); on
# failure the test ends.  The caller's EXIT trap stops both.
dist_servers() {
	local d=$1 rp=$2 zp=$3
	umask 077
	printf 'cassafs:zkpw-%s\n' "$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$d/zk.cred"
	export CASSAFS_ZK_CREDENTIALS_FILE=$d/zk.cred
	unset CASSAFS_ZK_AUTH CASSAFS_REDIS_PASSWORD
	umask 022
	redis_start "$rp" "$d/redis" || { fail "redis-server on $rp"; finish; exit 1; }
	"$PWD/tests/scripts/zk_server.sh" start "$d/zk" "$zp" ||
		{ fail "ZooKeeper on $zp"; finish; exit 1; }
}

# unmount_fsck COORD STORE MOUNTPOINT…: each daemon exits 0 at unmount,
# then fsck of the filesystem is clean.
unmount_fsck() {
	local coord=$1 store=$2 mp out rc
	shift 2
	for mp in "$@"; do
		check "daemon of $mp exits 0 at unmount" umount_fs "$mp"
	done
	out=$("$CASSAFS" fsck --coord "$coord" "$store" 2>&1); rc=$?
	echo "$out" | tail -n 3
	check "fsck clean after the run" [ $rc -eq 0 ]
}
