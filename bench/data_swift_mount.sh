#!/usr/bin/env bash
# Swift tier through a mount (issue 9, target 2): on one private Swift
# all-in-one (tests/swift_aio.sh: proxy, TempAuth, object, container and
# account servers on 127.0.0.1), in one run, side by side,
#   cassafs  a CassaFS mount (embedded LMDB metadata) whose file data is in
#            the swift:// tier: `dd bs=1M conv=fsync` of a SIZE_MIB MiB file
#            into it; then unmount, mount again, drop the page cache and
#            `dd bs=1M` it back to /dev/null
#   swift    python3-swiftclient on the same file: `swift upload` (one
#            object, the CLI's defaults), drop the page cache, `swift
#            download -o -` to /dev/null
# Each R times, alternating; medians.  The swift CLI's figures are the whole
# command, and again without its start-up (the median time of `swift
# --version` in the same run), the stricter comparison: the target (CassaFS
# ≥ 0.8× the CLI) is judged against that one.
#
# usage: bench/data_swift_mount.sh [--quick] [--write-docs] [-r R]
#            [--size-mib M] [--dir PARENT]
# Environment: CASSAFS (default build/cassafs), SWIFT_BENCH_PORT (first of
# Swift's five ports, default 26410).  Needs root (FUSE, drop_caches) and
# .ci/packages.d/data_remote (swift servers, memcached, python3-swiftclient).
# Run it in a network namespace of your own:
#   nsenter --net=/run/netns/NS bench/data_swift_mount.sh --quick
set -u
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
CMDLINE="bench/data_swift_mount.sh${*:+ $*}"
ME=data_swift_mount.sh
QUICK=0 WRITE_DOCS=0 R='' SIZE_MIB='' PARENT=/var/tmp
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--write-docs) WRITE_DOCS=1 ;;
	-r) R=${2:?-r needs a count}; shift ;;
	--size-mib) SIZE_MIB=${2:?--size-mib needs a size}; shift ;;
	--dir) PARENT=${2:?--dir needs a directory}; shift ;;
	-h|--help)
		sed -n '2,/^#   nsenter/p' "$0" | sed 's/^# \{0,1\}//'
		echo "  --quick: R=3, 128 MiB; default: R=3, 512 MiB"
		exit 0 ;;
	*) echo "$ME: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then : "${R:=3}" "${SIZE_MIB:=128}"; else : "${R:=3}" "${SIZE_MIB:=512}"; fi
for v in R SIZE_MIB; do
	case "${!v}" in ''|*[!0-9]*|0) echo "$ME: $v='${!v}' is not a positive integer" >&2; exit 2 ;; esac
done
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
# shellcheck source=tests/swift_aio.sh
. "$ROOT/tests/swift_aio.sh"
command -v swift >/dev/null || die "swift (python3-swiftclient) not found"
[ "$(id -u)" = 0 ] || die "needs root (FUSE, drop_caches)"
[ -x "$CASSAFS" ] || die "$CASSAFS not found (run make)"
W=$(mktemp -d "$PARENT/cassafs-swiftmount.XXXXXX") || die "no work directory in $PARENT"
MNT=$W/mnt STORE=lmdb://$W/store

cleanup() {
	local rc=$? pid
	stop_fuse "$MNT" "$(daemon_of "$MNT")"
	swift_aio_stop
	if ! grep -q " $W/" /proc/mounts; then rm -rf "$W"; else echo "$ME: $W still has a mount; left in place" >&2; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting the Swift all-in-one"
swift_aio_start "$W/swift" "${SWIFT_BENCH_PORT:-26410}" >"$W/aio.log" 2>&1 || die "Swift all-in-one: $(tail -n 5 "$W/aio.log")"
SECRETS=$W/secrets
(umask 077; printf 'CASSAFS_DATA_USER=%s\nCASSAFS_DATA_KEY=%s\n' "$SWIFT_USER" "$SWIFT_KEY" >"$SECRETS")
export CASSAFS_DATA_SECRETS=$SECRETS
SW=(swift -A "$SWIFT_AUTH_URL" -U "$SWIFT_USER" -K "$SWIFT_KEY")
TIER=swift://$SWIFT_HOSTPORT/fs-bench
err=$("$CASSAFS" mkfs --data "$TIER" "$STORE" 2>&1) || die "mkfs --data $TIER: $err"
mount_it() {
	mkdir -p "$MNT"
	"$CASSAFS" mount -o "data_secrets=$SECRETS,log_file=$W/cfs.log" "$STORE" "$MNT" >/dev/null 2>&1 &&
		wait_mounted "$MNT" 20
}
mount_it || die "mount: $(tail -n 3 "$W/cfs.log" 2>/dev/null)"
log "making the ${SIZE_MIB} MiB source file"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$W/src" || die "cannot write $W/src"
SUM=$(md5sum <"$W/src" | cut -d' ' -f1)

now() { date +%s%N; }
rate() { awk -v m="$SIZE_MIB" -v ns="$1" 'BEGIN { printf "%.1f", m / (ns / 1e9) }'; }
timed() {  # command… : prints ns, or nothing if it failed
	local t0 rc
	t0=$(now)
	"$@" >/dev/null 2>>"$W/err.log"; rc=$?
	[ $rc -eq 0 ] && echo $(($(now) - t0))
}
declare -a SW_START=()
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= R; r++)); do
	cat "$W/src" >/dev/null   # the source in the page cache for both writers
	log "cassafs: write ${SIZE_MIB} MiB (run $r/$R)"
	ns=$(timed dd if="$W/src" of="$MNT/f" bs=1M conv=fsync) && add write cassafs "$(rate "$ns")"
	stop_fuse "$MNT" "$(daemon_of "$MNT")" || die "umount failed"
	mount_it || die "remount failed"
	drop_caches
	log "cassafs: read (run $r/$R)"
	ns=$(timed dd if="$MNT/f" of=/dev/null bs=1M) && add read cassafs "$(rate "$ns")"
	[ "$(md5sum <"$MNT/f" | cut -d' ' -f1)" = "$SUM" ] || die "the file read back through the mount differs"
	rm -f "$MNT/f"
	cat "$W/src" >/dev/null
	log "swift: upload ${SIZE_MIB} MiB (run $r/$R)"
	ns=$(cd "$W" && timed "${SW[@]}" upload -q --object-name f "bench-$r" src) && add write swift "$(rate "$ns")" && add write_ns swift "$ns"
	drop_caches
	log "swift: download (run $r/$R)"
	ns=$(timed "${SW[@]}" download -q "bench-$r" f -o -) && add read swift "$(rate "$ns")" && add read_ns swift "$ns"
	[ "$("${SW[@]}" download "bench-$r" f -o - 2>/dev/null | md5sum | cut -d' ' -f1)" = "$SUM" ] || die "swift download differs"
	"${SW[@]}" delete -q "bench-$r" >/dev/null 2>&1
	ns=$(timed swift --version) && SW_START+=("$ns")
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
OBJS=$("${SW[@]}" list fs-bench 2>/dev/null | wc -l)

report() {
	local st w c s sn
	st=$(median "${SW_START[@]}")
	echo "### Swift tier through a mount beside the swift CLI"
	echo
	echo "Command: \`$CMDLINE\` (run as \`nsenter --net=/run/netns/NS $CMDLINE\`)  "
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average before/after: $LOAD0 / $LOAD1 (shared machine)  "
	machine_line
	echo "One Swift $(dpkg-query -W -f '${Version}' swift 2>/dev/null) all-in-one (tests/swift_aio.sh: TempAuth, one device per ring," \
		"one replica, $(findmnt -no FSTYPE -T "$W") under $W) on 127.0.0.1.  CassaFS (commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)):" \
		"\`cassafs mkfs --data swift://HOST:PORT/fs-bench lmdb://DIR\`, mounted with \`-o data_secrets=FILE\`; write = \`dd bs=1M conv=fsync\`" \
		"of a ${SIZE_MIB} MiB random file (in the page cache) into the mount, read = \`dd bs=1M\` to /dev/null after a remount and" \
		"\`echo 3 > drop_caches\`.  swift CLI $(swift --version 2>/dev/null | awk '{print $NF}'): \`swift upload --object-name f C src\` (one" \
		"object), then drop_caches and \`swift download C f -o -\` to /dev/null.  $R runs, alternating, medians; median \`swift --version\`:" \
		"$(awk -v n="$st" 'BEGIN { printf "%.0f", n / 1e6 }') ms.  Objects of the tier after the run: $OBJS."
	echo
	echo "| | CassaFS mount | swift CLI | ratio | swift CLI − start | ratio | target | met? |"
	echo "|---|---:|---:|---:|---:|---:|---|---|"
	for w in write read; do
		# shellcheck disable=SC2086
		c=$(median ${VALS["$w|cassafs"]:-}); s=$(median ${VALS["$w|swift"]:-})
		# shellcheck disable=SC2086
		sn=$(awk -v m="$SIZE_MIB" -v ns="$(median ${VALS["${w}_ns|swift"]:-})" -v st="$st" \
			'BEGIN { if (ns != "" && ns - st > 0) printf "%.1f", m / ((ns - st) / 1e9) }')
		awk -v w="$w" -v c="$c" -v s="$s" -v n="$sn" 'BEGIN {
			lab = (w == "write") ? "write / upload, MiB/s" : "read / download, MiB/s"
			if (c == "" || s == "" || n == "") { printf "| %s | %s | %s | — | %s | — | ≥ 0.8× | n/a |\n", lab, c, s, n; exit }
			printf "| %s | %.1f | %.1f | %.2f× | %.1f | %.2f× | ≥ 0.8× | %s |\n", lab, c, s, c / s, n, c / n, (c / n >= 0.8) ? "met" : "**missed**" }'
	done
	echo
	echo "<details><summary>all runs</summary>"
	echo
	for w in write read; do echo "    $w: cassafs=[${VALS["$w|cassafs"]:-}] swift=[${VALS["$w|swift"]:-}]"; done
	echo "    swift --version ns: [${SW_START[*]}]"
	echo
	echo "</details>"
}
RESULT=$(report)
echo "$RESULT"
if [ "$WRITE_DOCS" = 1 ]; then
	content=$(mktemp)
	printf '%s\n' "$RESULT" >"$content"
	replace_block "$ROOT/docs/benchmarks-distributed.md" bench-data-swift-mount "$content"
	rm -f "$content"
	echo "wrote docs/benchmarks-distributed.md" >&2
fi
for w in write read; do
	for t in cassafs swift; do [ -n "${VALS["$w|$t"]:-}" ] || die "no $w figure for $t (see errors: $(tail -n 3 "$W/err.log" 2>/dev/null))"; done
done
exit 0
