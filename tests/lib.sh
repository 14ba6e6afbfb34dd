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

# mount_fs URL MOUNTPOINT [OPTIONS...]: mount and remember for cleanup
mount_fs() {
	local url=$1 mp=$2; shift 2
	mkdir -p "$mp"
	"$CASSAFS" mount "$@" "$url" "$mp" || return 1
	T_MOUNTS+=("$mp")
}

daemon_pid() { # MOUNTPOINT -> pid of its daemon
	local f
	for f in /run/cassafs/*.pid /tmp/cassafs-$(id -u)/*.pid; do
		[ -f "$f" ] || continue
		if [ "$(sed -n 2p "$f")" = "$(realpath -m "$1")" ]; then sed -n 1p "$f"; return; fi
	done
}

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
	echo "RESULT $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}
