#!/usr/bin/env bash
# Data tier benchmark (issue 9): sequential write and read, random 4 KiB write,
# side by side in one run, on
#   passthrough  libfuse's passthrough_ll (built from
#                /usr/share/doc/libfuse3-dev/examples) over a plain
#                directory: the FUSE ceiling on this machine
#   store        CassaFS, embedded LMDB store, contents in the `store` tier
#   file         CassaFS, embedded LMDB store, contents in a file:// tier
#   blocks       (with --blocks BIN) a CassaFS binary of format 1, whose
#                blocks live in the store's BLOCK rows (before the tier)
# fio psync, iodepth 1: sequential write bs=1M with end_fsync, random
# 4 KiB write (time-based) with an fsync at the end.  Each measurement R
# times, targets alternating; the table shows medians and the ratio to
# passthrough_ll.  Short by default (the machine is shared).
#
# usage: bench/data_tier.sh [--write-docs] [-r R] [--seq-mib M]
#            [--rand-mib M] [--rand-secs S] [--blocks BIN] [--dir PARENT]
set -u
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
CMDLINE="bench/data_tier.sh${*:+ $*}"
WRITE_DOCS=0 R=3 SEQ_MIB=256 RAND_MIB=64 RAND_SECS=8 BLOCKS= PARENT=/var/tmp
while [ $# -gt 0 ]; do
	case "$1" in
	--write-docs) WRITE_DOCS=1 ;;
	-r) R=${2:?}; shift ;;
	--seq-mib) SEQ_MIB=${2:?}; shift ;;
	--rand-mib) RAND_MIB=${2:?}; shift ;;
	--rand-secs) RAND_SECS=${2:?}; shift ;;
	--blocks) BLOCKS=${2:?}; shift ;;
	--dir) PARENT=${2:?}; shift ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "data_tier.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
ME=data_tier.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
command -v fio >/dev/null || die "fio not found"
BASE=$(mktemp -d "$PARENT/cassafs-databench.XXXXXX") || die "no work directory"
declare -A VALS MP
TARGETS=(passthrough store file)
[ -n "$BLOCKS" ] && TARGETS+=(blocks)

# pid of the daemon serving mount point $1 (from its pid file)
daemon_of() {
	local f
	for f in /run/cassafs/*.pid /tmp/cassafs-$(id -u)/*.pid; do
		[ -f "$f" ] && [ "$(sed -n 2p "$f")" = "$1" ] && { sed -n 1p "$f"; return; }
	done
}
# A process that entered another mount namespace meanwhile (ip netns exec,
# unshare: other sessions on this machine) keeps a copy of these mounts,
# so an unmount here does not end the daemons: they are stopped by pid.
cleanup() {
	local rc=$? t pid
	for t in store file blocks; do
		[ -n "${DPID[$t]:-}" ] || continue
		umount -l "$BASE/$t-mnt" 2>/dev/null
		kill "${DPID[$t]}" 2>/dev/null
	done
	[ -n "${PTPID:-}" ] && { umount -l "$BASE/pt-mnt" 2>/dev/null; kill "$PTPID" 2>/dev/null; }
	sleep 1
	rm -rf "$BASE"
	exit "$rc"
}
declare -A DPID
trap cleanup EXIT
trap 'exit 130' INT TERM

PT=$BASE/passthrough_ll
cc -O2 -o "$PT" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c \
	$(pkg-config --cflags --libs fuse3) 2>"$BASE/cc.err" ||
	die "cannot build passthrough_ll: $(tail -3 "$BASE/cc.err")"
mkdir -p "$BASE/pt-src" "$BASE/pt-mnt"
"$PT" -f -o source="$BASE/pt-src",default_permissions "$BASE/pt-mnt" &
PTPID=$!
wait_mounted "$BASE/pt-mnt" 10 || die "passthrough_ll did not mount"
MP[passthrough]=$BASE/pt-mnt

mount_cassafs() { # target binary data-url
	local t=$1 bin=$2 data=$3
	mkdir -p "$BASE/$t-mnt"
	if [ -n "$data" ]; then
		"$bin" mkfs --data "$data" "lmdb://$BASE/$t-store" >/dev/null
	else
		"$bin" mkfs "lmdb://$BASE/$t-store" >/dev/null
	fi || die "$t: mkfs failed"
	"$bin" mount "lmdb://$BASE/$t-store" "$BASE/$t-mnt" || die "$t: mount failed"
	wait_mounted "$BASE/$t-mnt" 10 || die "$t: not mounted"
	DPID[$t]=$(daemon_of "$BASE/$t-mnt")
	MP[$t]=$BASE/$t-mnt
}
mount_cassafs store "$CASSAFS" store
mount_cassafs file "$CASSAFS" "file://$BASE/file-objects"
[ -n "$BLOCKS" ] && mount_cassafs blocks "$BLOCKS" ""

for t in "${TARGETS[@]}"; do
	fio_rand_layout "$t" "${MP[$t]}" "$RAND_MIB"
done
for ((i = 1; i <= R; i++)); do
	for t in "${TARGETS[@]}"; do
		log "round $i: $t"
		f=${MP[$t]}/bench.seq
		v=$(run_fio "$t" 48 seqwrite --filename="$f" --rw=write --bs=1M \
			--size="${SEQ_MIB}M" --end_fsync=1) &&
			add seqwrite "$t" "$(awk -v k="$v" 'BEGIN { printf "%.1f", k / 1024 }')"
		drop_caches
		v=$(run_fio "$t" 7 seqread --filename="$f" --rw=read --bs=128k \
			--size="${SEQ_MIB}M") &&
			add seqread "$t" "$(awk -v k="$v" 'BEGIN { printf "%.1f", k / 1024 }')"
		rm -f "$f"
		v=$(run_fio "$t" 49 randwrite --filename="${MP[$t]}/bench.rand" \
			--rw=randwrite --bs=4k --size="${RAND_MIB}M" --time_based \
			--runtime="$RAND_SECS" --end_fsync=1) && add randwrite "$t" "$v"
	done
done
objs=$(find "$BASE/file-objects" -type f | wc -l)

table() {
	printf '| workload |'
	for t in "${TARGETS[@]}"; do printf ' %s |' "$t"; done
	for t in "${TARGETS[@]:1}"; do printf ' %s / passthrough |' "$t"; done
	printf '\n|---|'
	for _ in "${TARGETS[@]}" "${TARGETS[@]:1}"; do printf -- '---:|'; done
	printf '\n'
	for w in seqwrite seqread randwrite; do
		case $w in seqwrite) printf '| seq write MiB/s |' ;; seqread) printf '| seq read MiB/s (128k, cold) |' ;; randwrite) printf '| rand write 4K IOPS |' ;; esac
		local base m
		# shellcheck disable=SC2086
		base=$(median ${VALS["$w|passthrough"]:-})
		for t in "${TARGETS[@]}"; do
			# shellcheck disable=SC2086
			m=$(median ${VALS["$w|$t"]:-})
			printf ' %s |' "$(fmt "${m:-0}")"
		done
		for t in "${TARGETS[@]:1}"; do
			# shellcheck disable=SC2086
			m=$(median ${VALS["$w|$t"]:-})
			printf ' %s |' "$(awk -v a="${m:-0}" -v b="${base:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
		done
		printf '\n'
	done
}
out=$(
	echo "Command: \`$CMDLINE\` ($(date -u +%Y-%m-%d), $(nproc) cores shared)."
	echo
	echo "fio psync iodepth 1; sequential write ${SEQ_MIB} MiB bs=1M end_fsync, then read bs=128k after dropping caches;"
	echo "random 4 KiB write on a ${RAND_MIB} MiB file for ${RAND_SECS} s with a final fsync;"
	echo "medians of $R runs, targets alternating. Raw values:"
	echo
	table
	echo
	for w in seqwrite seqread randwrite; do
		for t in "${TARGETS[@]}"; do echo "- $w $t: ${VALS["$w|$t"]:-}"; done
	done
	echo "- objects left in the file tier after the run: $objs"
)
printf '%s\n' "$out"
[ "$WRITE_DOCS" = 1 ] && write_docs "$ROOT" bench-data-tier "$out"
exit 0
