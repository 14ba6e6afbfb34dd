#!/usr/bin/env bash
# Daemon memory check (issue 2, item 5): mounts CassaFS on a fresh embedded
# LMDB store, writes one large file with dd, then creates many files in one
# directory, and samples VmRSS and VmHWM of the daemon (found by its
# mountpoint in /proc/*/cmdline) every second.  Prints the peak per phase;
# a daemon whose memory is bounded shows about the same peak for 2 GiB as
# for 10 GiB, and for 100,000 files as for 1,000,000.
#
# usage: bench/rss_check.sh [--quick] [--write-docs] [--size-gib G] [-n FILES]
#            [--dir PARENT] [--bindfs]
#   --quick       2 GiB and 100,000 files instead of 10 GiB and 1,000,000
#   --write-docs  also write the result into docs/benchmarks.md
#   --size-gib G  size of the large file in GiB
#   -n FILES      number of files to create
#   --dir PARENT  where the work directory is made (default /var/tmp)
#   --bindfs      measure a bindfs mirror instead (checks this script itself;
#                 never written to the docs)
# Environment: CASSAFS (default build/cassafs), CASSAFS_MOUNT_OPTS.
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
CASSAFS_MOUNT_OPTS=${CASSAFS_MOUNT_OPTS:-}
CMDLINE="bench/rss_check.sh${*:+ $*}"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

QUICK=0 WRITE_DOCS=0 SIZE_GIB= FILES= PARENT=/var/tmp TARGET=cassafs
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--write-docs) WRITE_DOCS=1 ;;
	--size-gib) SIZE_GIB=${2:?--size-gib needs a size}; shift ;;
	-n) FILES=${2:?-n needs a count}; shift ;;
	--dir) PARENT=${2:?--dir needs a directory}; shift ;;
	--bindfs) TARGET=bindfs ;;
	-h|--help) sed -n '9,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "rss_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then : "${SIZE_GIB:=2}" "${FILES:=100000}"; else : "${SIZE_GIB:=10}" "${FILES:=1000000}"; fi
for v in SIZE_GIB FILES; do
	case "${!v}" in ''|*[!0-9]*|0) echo "rss_check.sh: $v='${!v}' is not a positive integer" >&2; exit 2 ;; esac
done

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "rss_check.sh: $*" >&2; exit 1; }

make -s -C "$ROOT/bench" >&2 || die "cannot build bench/meta_bench"
[ -d "$PARENT" ] || die "--dir $PARENT: not a directory"
BASE=$(mktemp -d "$PARENT/cassafs-rss.XXXXXX") || die "cannot create a work directory in $PARENT"
MNT=$BASE/mnt
SAMPLER=
mkdir -p "$MNT"

cleanup() {
	local rc=$?
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
	if mountpoint -q "$MNT"; then
		if [ "$TARGET" = cassafs ]; then
			timeout 60 "$CASSAFS" umount "$MNT" >/dev/null 2>&1 || umount "$MNT" 2>/dev/null || umount -l "$MNT"
		else
			umount "$MNT" 2>/dev/null || umount -l "$MNT"
		fi
	fi
	if ! grep -q " $BASE/" /proc/mounts; then rm -rf "$BASE"; else echo "rss_check.sh: $BASE still has a mount; left in place" >&2; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$TARGET" = cassafs ]; then
	[ -x "$CASSAFS" ] || die "$CASSAFS not found (run make)"
	url="lmdb://$BASE/store"
	err=$("$CASSAFS" mkfs "$url" 2>&1) || die "'$CASSAFS mkfs $url' failed: $err"
	opts=()
	[ -n "$CASSAFS_MOUNT_OPTS" ] && opts=(-o "$CASSAFS_MOUNT_OPTS")
	err=$("$CASSAFS" mount "${opts[@]}" "$url" "$MNT" 2>&1) || die "'$CASSAFS mount ${opts[*]} $url $MNT' failed: $err"
	exe_name=$(basename "$CASSAFS")
else
	mkdir -p "$BASE/src"
	err=$(bindfs "$BASE/src" "$MNT" 2>&1) || die "bindfs $BASE/src $MNT failed: $err"
	exe_name=bindfs
fi
for ((i = 0; i < 150; i++)); do mountpoint -q "$MNT" && break; sleep 0.1; done
mountpoint -q "$MNT" || die "$MNT is not mounted 15 s after '$TARGET' mount returned"

# The daemon is the process with the mountpoint as one of its arguments
# (the mount command itself has exited by now, and no workload has started);
# if several match, the one running the expected executable wins.
find_daemon() {
	local d p first=
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		[ "$p" = $$ ] && continue
		tr '\0' '\n' <"$d/cmdline" 2>/dev/null | grep -qxF "$MNT" || continue
		if [ "$(basename "$(readlink "$d/exe" 2>/dev/null)")" = "$exe_name" ]; then
			echo "$p"
			return 0
		fi
		: "${first:=$p}"
	done
	[ -n "$first" ] && echo "$first"
}
PID=$(find_daemon)
[ -n "$PID" ] || die "no process has $MNT in its command line (is the $TARGET daemon running?)"
log "$TARGET daemon: pid $PID, $(readlink "/proc/$PID/exe"), $(tr '\0' ' ' <"/proc/$PID/cmdline")"

# The sampler appends "seconds phase VmRSS VmHWM RssAnon RssFile" (KiB)
# once a second; the phase is whatever the main script last wrote to
# $BASE/phase.  RssAnon (heap, stacks) is what must stay bounded; RssFile
# counts pages of mapped files, such as LMDB's memory map, that are
# resident: page cache the kernel can reclaim, yet part of VmRSS.
SAMPLES=$BASE/samples
echo mount >"$BASE/phase"
(
	t0=$(date +%s)
	while [ -r "/proc/$PID/status" ]; do
		read -r rss hwm anon file < <(awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 }
			/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } END { print r, h, a, f }' "/proc/$PID/status")
		[ -n "$rss" ] && echo "$(($(date +%s) - t0)) $(cat "$BASE/phase") $rss $hwm $anon $file" >>"$SAMPLES"
		sleep 1
	done
) &
SAMPLER=$!
sleep 1.2

# Write: a 64 MiB chunk of random bytes repeated, so that a store that
# skips zero blocks still has to keep every byte, without the CPU cost of
# reading 10 GiB from /dev/urandom.
echo write >"$BASE/phase"
head -c 64M /dev/urandom >"$BASE/chunk"
log "writing ${SIZE_GIB} GiB with dd"
t=$(date +%s.%N)
for ((i = 0; i < SIZE_GIB * 16; i++)); do cat "$BASE/chunk"; done |
	dd of="$MNT/big" bs=1M iflag=fullblock conv=fsync status=none || die "dd to $MNT/big failed"
WRITE_SECS=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
size=$(stat -c %s "$MNT/big")
[ "$size" = $((SIZE_GIB * 1024 * 1024 * 1024)) ] || die "$MNT/big has $size bytes, expected $SIZE_GIB GiB"
rm -f "$BASE/chunk"
sleep 2   # let a sample land after the write
echo remove >"$BASE/phase"
rm -f "$MNT/big" || die "cannot remove $MNT/big"
sleep 2

echo create >"$BASE/phase"
log "creating $FILES files in one directory"
t=$(date +%s.%N)
out=$("$ROOT/build/bench/meta_bench" -k -o create -n "$FILES" "$MNT" 2>&1) || die "meta_bench failed: $out"
CREATE_SECS=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
CREATE_RATE=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^rate=/) { sub("rate=", "", $i); printf "%.0f", $i } }' <<<"$out")
sleep 2
echo idle >"$BASE/phase"
sleep 3
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
SAMPLER=

[ -s "$SAMPLES" ] || die "no samples of /proc/$PID/status were taken"
commas() { sed -E ':a; s/([0-9])([0-9]{3})([^0-9]|$)/\1,\2\3/; ta' <<<"$1"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
peak() {  # phase [column: 3 VmRSS, 5 RssAnon, 6 RssFile]
	awk -v ph="$1" -v c="${2:-3}" '$2 == ph && $c > m { m = $c } END { print m + 0 }' "$SAMPLES"
}
row() {  # phase what time
	echo "| $1 | $2 | $3 | $(mib "$(peak "$1")") MiB | $(mib "$(peak "$1" 5)") MiB | $(mib "$(peak "$1" 6)") MiB |"
}
HWM=$(awk '{ h = $4 } END { print h + 0 }' "$SAMPLES")
LAST=$(awk '{ r = $3 } END { print r + 0 }' "$SAMPLES")
ANON=$(awk '$5 > m { m = $5 } END { print m + 0 }' "$SAMPLES")
NSAMPLES=$(wc -l <"$SAMPLES")

if [ "$TARGET" = cassafs ]; then
	label="CassaFS $("$CASSAFS" --version 2>/dev/null | awk '{print $NF; exit}') (\`cassafs mount${CASSAFS_MOUNT_OPTS:+ -o $CASSAFS_MOUNT_OPTS}\`, embedded LMDB store)"
else
	label="bindfs $(bindfs --version 2>/dev/null | awk '{print $2; exit}') (script self-check, not CassaFS)"
fi
RESULT=$(
	echo "### Daemon memory while writing ${SIZE_GIB} GiB and creating $(commas "$FILES") files"
	echo
	echo "Command: \`$CMDLINE\`  "
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC')  "
	echo "Machine: $(nproc) CPUs, $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)  "
	echo "Daemon: $label, pid $PID; VmRSS/VmHWM from /proc/PID/status, sampled every second ($NSAMPLES samples)."
	echo
	echo "| phase | what | time | peak VmRSS | peak RssAnon | peak RssFile |"
	echo "|---|---|---:|---:|---:|---:|"
	row mount "idle after mount" ""
	row write "dd bs=1M conv=fsync of ${SIZE_GIB} GiB into one file" \
		"${WRITE_SECS} s ($(awk -v g="$SIZE_GIB" -v s="$WRITE_SECS" 'BEGIN { printf "%.0f", g * 1024 / s }') MiB/s)"
	row remove "rm of that file" ""
	row create "$(commas "$FILES") empty files in one directory (meta_bench -o create)" \
		"${CREATE_SECS} s ($(commas "$CREATE_RATE") files/s)"
	row idle "after the creates" ""
	echo
	echo "Peak RssAnon (heap and stacks, what must stay bounded): **$(mib "$ANON") MiB**." \
		"Peak VmRSS (VmHWM): $(mib "$HWM") MiB; VmRSS at the end: $(mib "$LAST") MiB." \
		"RssFile is resident pages of mapped files (LMDB's memory map): page cache the kernel can reclaim, but counted in VmRSS."
)
echo "$RESULT"

if [ "$WRITE_DOCS" = 1 ]; then
	if [ "$TARGET" = cassafs ]; then
		write_docs "$ROOT" bench-rss "$RESULT"
	else
		log "--bindfs: not writing the docs (this mode only checks the script)"
	fi
fi
