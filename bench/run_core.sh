#!/usr/bin/env bash
# Core benchmark (issue 2, item 9): the same workloads, side by side in one
# run, on
#   plain    a plain directory on the local disk (ext4 here)
#   bindfs   a bindfs mirror of a plain directory (FUSE overhead only)
#   cassafs  CassaFS on the embedded LMDB store
# Workloads: meta_bench (create, stat, open, readdir, rename, unlink, mkdir,
# rmdir over N files in one thread), a sequential write (fio, bs=1M,
# end_fsync=1) and read of one file, random 4 KiB read and write (fio,
# psync, iodepth 1).  Every measurement is repeated R times, alternating the
# targets, and the table shows the medians.
#
# usage: bench/run_core.sh [--quick] [--write-docs] [-n FILES] [-r REPEATS]
#            [--seq-mib M] [--rand-mib M] [--rand-secs S] [--dir PARENT]
#            [--targets plain,bindfs,cassafs] [--no-loop]
# Environment: CASSAFS (default build/cassafs), CASSAFS_MOUNT_OPTS (-o for
# cassafs mount), BINDFS_OPTS (extra bindfs arguments).
# The Markdown result goes to stdout, progress to stderr.  Needs root (FUSE
# mounts, dropping the page cache), fio and bindfs.
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
CASSAFS_MOUNT_OPTS=${CASSAFS_MOUNT_OPTS:-}
BINDFS_OPTS=${BINDFS_OPTS:-}
CMDLINE="bench/run_core.sh${*:+ $*}"

usage() {
	sed -n '13,19p' "$0" | sed 's/^# \{0,1\}//'
	cat <<'EOF'
  --quick       smoke-check sizes: 2,000 files, 256 MiB sequential, 5 s random, R=1
  --write-docs  also write the result into docs/benchmarks.md (and between
                <!-- BEGIN bench-core --> / <!-- END bench-core --> in README.md
                if those markers are there)
  -n FILES      files for meta_bench (default 10000)
  -r REPEATS    repetitions of every measurement (default 3)
  --seq-mib M   sequential file size in MiB (default 1024)
  --rand-mib M  random-I/O file size in MiB (default 256)
  --rand-secs S seconds per random-I/O run (default 25)
  --dir PARENT  where the work directory is made (default /var/tmp)
  --no-loop     put the targets' data directly in PARENT instead of on a fresh
                journaled ext4 in a loop device (why: docs/benchmarks.md)
  --targets L   comma-separated subset of plain,bindfs,cassafs
EOF
}

USE_LOOP=1 QUICK=0 WRITE_DOCS=0 FILES= R= SEQ_MIB= RAND_MIB= RAND_SECS= PARENT=/var/tmp
TARGETS="plain,bindfs,cassafs"
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--write-docs) WRITE_DOCS=1 ;;
	-n) FILES=${2:?-n needs a count}; shift ;;
	-r) R=${2:?-r needs a count}; shift ;;
	--seq-mib) SEQ_MIB=${2:?--seq-mib needs a size}; shift ;;
	--rand-mib) RAND_MIB=${2:?--rand-mib needs a size}; shift ;;
	--rand-secs) RAND_SECS=${2:?--rand-secs needs seconds}; shift ;;
	--dir) PARENT=${2:?--dir needs a directory}; shift ;;
	--targets) TARGETS=${2:?--targets needs a list}; shift ;;
	--no-loop) USE_LOOP=0 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run_core.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	: "${FILES:=2000}" "${R:=1}" "${SEQ_MIB:=256}" "${RAND_MIB:=256}" "${RAND_SECS:=5}"
else
	: "${FILES:=10000}" "${R:=3}" "${SEQ_MIB:=1024}" "${RAND_MIB:=256}" "${RAND_SECS:=25}"
fi
for v in FILES R SEQ_MIB RAND_MIB RAND_SECS; do
	case "${!v}" in ''|*[!0-9]*|0) echo "run_core.sh: $v='${!v}' is not a positive integer" >&2; exit 2 ;; esac
done

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "run_core.sh: $*" >&2; exit 1; }

for tool in fio bindfs mountpoint; do
	command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install the packages in .ci/packages.d/bench)"
done
make -s -C "$ROOT/bench" >&2 || die "cannot build bench/meta_bench"
META_BENCH=$ROOT/build/bench/meta_bench

[ -d "$PARENT" ] || die "--dir $PARENT: not a directory"
BASE=$(mktemp -d "$PARENT/cassafs-bench.XXXXXX") || die "cannot create a work directory in $PARENT"
WORK=$BASE LOOPDEV=

# The root filesystem here is ext4 without a journal, where ext4 avoids
# reusing an inode for 60-300 s after it was freed (fs/ext4/ialloc.c,
# recently_deleted()): after one round of 10,000 unlinks the next round's
# creates scan past them all and drop from ~40,000/s to ~2,000/s on plain
# and bindfs alike.  So by default all three targets live on a fresh,
# default-formatted (journaled) ext4 in a loop device with direct I/O (no
# second page cache for the image file), which also keeps the runs
# independent of whatever else the machine's disk holds.
setup_loop() {
	local img=$BASE/scratch.img err
	truncate -s 16G "$img" || return 1
	err=$(mkfs.ext4 -q -F "$img" 2>&1) || { log "mkfs.ext4 $img: $err"; return 1; }
	LOOPDEV=$(losetup --direct-io=on -f --show "$img" 2>&1) || { log "losetup: $LOOPDEV"; LOOPDEV=; return 1; }
	mkdir -p "$BASE/fs"
	err=$(mount "$LOOPDEV" "$BASE/fs" 2>&1) || { log "mount $LOOPDEV: $err"; return 1; }
	WORK=$BASE/fs
}
# ---------------------------------------------------------------- targets
declare -A DIR STATUS
ALL_TARGETS=(plain bindfs cassafs)

is_mounted() { mountpoint -q "$1" 2>/dev/null; }

cleanup() {
	local rc=$?
	if is_mounted "$BASE/cfs-mnt"; then
		timeout 60 "$CASSAFS" umount "$BASE/cfs-mnt" >/dev/null 2>&1 || umount "$BASE/cfs-mnt" 2>/dev/null || umount -l "$BASE/cfs-mnt"
	fi
	if is_mounted "$BASE/bind-mnt"; then
		umount "$BASE/bind-mnt" 2>/dev/null || umount -l "$BASE/bind-mnt"
	fi
	if is_mounted "$BASE/fs"; then
		umount "$BASE/fs" 2>/dev/null || umount -l "$BASE/fs"
	fi
	[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV"
	# never rm -rf through a mount that is still there
	if ! grep -q " $BASE/" /proc/mounts; then
		rm -rf "$BASE"
	else
		echo "run_core.sh: $BASE still has a mount; left in place" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FS_NOTE="$(findmnt -no FSTYPE,SOURCE,OPTIONS -T "$BASE" | awk '{print $1" on "$2" ("$3")"}') (--no-loop)"
if [ "$USE_LOOP" = 1 ]; then
	if setup_loop; then
		FS_NOTE="a fresh ext4 (mkfs.ext4 defaults, journaled) on $LOOPDEV, a 16 GiB sparse image in $PARENT opened with --direct-io=on"
	else
		die "cannot set up the loop filesystem (see above); run as root or use --no-loop"
	fi
fi


wanted() { [[ ",$TARGETS," == *",$1,"* ]]; }

wait_mounted() {  # dir seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		is_mounted "$1" && return 0
		sleep 0.1
	done
	return 1
}

setup_plain() {
	mkdir -p "$WORK/plain"
	DIR[plain]=$WORK/plain STATUS[plain]=ok
}

setup_bindfs() {
	mkdir -p "$WORK/bind-src" "$BASE/bind-mnt"
	local err
	# shellcheck disable=SC2086  # BINDFS_OPTS is a list of arguments
	if err=$(bindfs $BINDFS_OPTS "$WORK/bind-src" "$BASE/bind-mnt" 2>&1) && wait_mounted "$BASE/bind-mnt" 10; then
		DIR[bindfs]=$BASE/bind-mnt STATUS[bindfs]=ok
	else
		STATUS[bindfs]="n/a: bindfs failed: ${err:-not mounted after 10 s}"
	fi
}

setup_cassafs() {
	mkdir -p "$BASE/cfs-mnt"
	local url="lmdb://$WORK/cfs-store" err opts=()
	[ -n "$CASSAFS_MOUNT_OPTS" ] && opts=(-o "$CASSAFS_MOUNT_OPTS")
	if [ ! -x "$CASSAFS" ]; then
		STATUS[cassafs]="n/a: $CASSAFS not found (run make)"
	elif ! err=$("$CASSAFS" mkfs "$url" 2>&1); then
		STATUS[cassafs]="n/a: '$CASSAFS mkfs $url' failed: $err"
	elif ! err=$("$CASSAFS" mount "${opts[@]}" "$url" "$BASE/cfs-mnt" 2>&1); then
		STATUS[cassafs]="n/a: '$CASSAFS mount ${opts[*]} $url' failed: $err"
	elif ! wait_mounted "$BASE/cfs-mnt" 15; then
		STATUS[cassafs]="n/a: '$CASSAFS mount' returned but $BASE/cfs-mnt is not mounted after 15 s${err:+: $err}"
	else
		DIR[cassafs]=$BASE/cfs-mnt STATUS[cassafs]=ok
	fi
}

ACTIVE=()
for t in "${ALL_TARGETS[@]}"; do
	if wanted "$t"; then
		"setup_$t"
	else
		STATUS[$t]="n/a: not selected (--targets $TARGETS)"
	fi
	log "$t: ${STATUS[$t]}"
	[ "${STATUS[$t]}" = ok ] && ACTIVE+=("$t")
done
[ ${#ACTIVE[@]} -gt 0 ] || die "no target could be set up"

# ----------------------------------------------------------- measurement
declare -A VALS   # "workload|target" -> space-separated values
add() { VALS["$1|$2"]+="${VALS["$1|$2"]:+ }$3"; }

DROP=no
if [ -w /proc/sys/vm/drop_caches ]; then DROP=yes; fi
drop_caches() {
	sync
	[ "$DROP" = yes ] && echo 3 >/proc/sys/vm/drop_caches
	return 0
}

FIO_COMMON=(--ioengine=psync --iodepth=1 --fallocate=none --output-format=terse --terse-version=3)

# run_fio target field name args… ; prints one number (terse-v3 field) or
# nothing on failure.  Field 7/8 = read KiB/s / IOPS, 48/49 = write.
run_fio() {
	local t=$1 field=$2 name=$3 out rc
	shift 3
	# bounded, so that a hung FUSE daemon costs one measurement, not the run
	out=$(timeout --kill-after=10 "$((RAND_SECS + 900))" fio --name="$name" "${FIO_COMMON[@]}" "$@" 2>&1)
	rc=$?
	local line
	line=$(grep '^3;' <<<"$out" | tail -n 1)
	if [ $rc -ne 0 ] || [ -z "$line" ] || [ "$(cut -d';' -f5 <<<"$line")" != 0 ]; then
		log "$t: fio $name failed (rc=$rc): $(grep -v '^3;' <<<"$out" | tail -n 3 | tr '\n' ' ')"
		return 1
	fi
	cut -d';' -f"$field" <<<"$line"
}

META_OPS=(create stat open readdir rename unlink mkdir rmdir)

log "base $BASE; files=$FILES R=$R seq=${SEQ_MIB}MiB rand=${RAND_MIB}MiB/${RAND_SECS}s; drop caches: $DROP"

for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		log "meta_bench $t (run $r/$R)"
		if out=$(timeout --kill-after=10 900 "$META_BENCH" -n "$FILES" "${DIR[$t]}" 2>&1); then
			for op in "${META_OPS[@]}"; do
				v=$(awk -v op="$op" '$2 == "op=" op { sub("rate=", "", $5); print $5 }' <<<"$out")
				[ -n "$v" ] && add "$op" "$t" "$v"
			done
		else
			log "$t: meta_bench failed: $out"
		fi
	done
done

for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		f=${DIR[$t]}/bench.seq
		log "sequential write+read ${SEQ_MIB} MiB $t (run $r/$R)"
		if v=$(run_fio "$t" 48 seqwrite --filename="$f" --rw=write --bs=1M --size="${SEQ_MIB}M" --end_fsync=1); then
			add seqwrite "$t" "$(awk -v k="$v" 'BEGIN { printf "%.1f", k / 1024 }')"
			drop_caches
			if v=$(run_fio "$t" 7 seqread --filename="$f" --rw=read --bs=1M --size="${SEQ_MIB}M"); then
				add seqread "$t" "$(awk -v k="$v" 'BEGIN { printf "%.1f", k / 1024 }')"
			fi
		fi
		rm -f "$f"
	done
done

for t in "${ACTIVE[@]}"; do
	log "laying out the ${RAND_MIB} MiB random-I/O file on $t"
	run_fio "$t" 48 layout --filename="${DIR[$t]}/bench.rand" --rw=write --bs=1M \
		--size="${RAND_MIB}M" --end_fsync=1 >/dev/null || log "$t: layout failed"
done
for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		f=${DIR[$t]}/bench.rand
		[ -f "$f" ] || continue
		log "random 4 KiB read, then write, ${RAND_SECS} s each, $t (run $r/$R)"
		drop_caches
		v=$(run_fio "$t" 8 randread --filename="$f" --rw=randread --bs=4k --size="${RAND_MIB}M" \
			--time_based --runtime="$RAND_SECS") && add randread "$t" "$v"
		v=$(run_fio "$t" 49 randwrite --filename="$f" --rw=randwrite --bs=4k --size="${RAND_MIB}M" \
			--time_based --runtime="$RAND_SECS") && add randwrite "$t" "$v"
	done
done
for t in "${ACTIVE[@]}"; do rm -f "${DIR[$t]}/bench.rand"; done

# --------------------------------------------------------------- report
median() {  # values… -> median, or empty
	printf '%s\n' "$@" | grep . | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# workload | label | unit | min ratio to bindfs | absolute minimum (0 = none)
WORKLOADS="create|create|ops/s|1.5|7000
stat|stat|ops/s|1.5|40000
open|open + close|ops/s|1.5|0
readdir|readdir|entries/s|1.5|0
rename|rename|ops/s|1.5|0
unlink|unlink|ops/s|1.5|8600
mkdir|mkdir|ops/s|1.5|0
rmdir|rmdir|ops/s|1.5|0
seqwrite|sequential write ${SEQ_MIB} MiB, bs 1M, end_fsync|MiB/s|4|300
seqread|sequential read ${SEQ_MIB} MiB, bs 1M|MiB/s|1|0
randread|random read 4 KiB, psync|IOPS|1|0
randwrite|random write 4 KiB, psync, no fsync|IOPS|0|0"

fmt() {  # number -> thousands-separated integer, or the decimal for small values
	awk -v x="$1" 'BEGIN {
		if (x == "") { print "—"; exit }
		if (x < 100) { printf "%.1f\n", x; exit }
		s = sprintf("%.0f", x); o = ""
		while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
		print s o }'
}

# This VM runs DAMON with a "pageout" scheme that evicts page cache left
# idle for a while; say so, since it makes cold reads part of the numbers.
damon_note() {
	local k s
	for k in /sys/kernel/mm/damon/admin/kdamonds/*; do
		[ "$(cat "$k/state" 2>/dev/null)" = on ] || continue
		for s in "$k"/contexts/*/schemes/*; do
			[ -r "$s/action" ] || continue
			printf '; DAMON is on (scheme action %s, min age %s aggregation intervals)' \
				"$(cat "$s/action")" "$(cat "$s/access_pattern/age/min" 2>/dev/null)"
			return
		done
	done
}

fuse_line() { awk -v m="$1" '$2 == m { print $3" "$4 }' /proc/mounts; }

cassafs_timeouts() {
	"$CASSAFS" mount --help 2>&1 | grep -iE 'timeout|cache|max_threads|max_dirty' | sed 's/^[[:space:]]*//' | head -n 8
}

report() {
	local date_utc host_cpu mem
	date_utc=$(date -u '+%Y-%m-%d %H:%M UTC')
	host_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
	echo "### Core benchmark: plain directory, bindfs, CassaFS"
	echo
	echo "Command: \`$CMDLINE\`${CASSAFS_MOUNT_OPTS:+ with CASSAFS_MOUNT_OPTS=$CASSAFS_MOUNT_OPTS}${BINDFS_OPTS:+ with BINDFS_OPTS=\"$BINDFS_OPTS\"}  "
	echo "Date: $date_utc  "
	echo "Machine: $(nproc) CPUs ($host_cpu), $mem RAM, kernel $(uname -r), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")$(damon_note)  "
	echo "Filesystem under all three targets (the plain directory, bindfs's source, CassaFS's LMDB store): $FS_NOTE  "
	echo "Parameters: meta_bench over $(fmt "$FILES") files in one directory, one thread; sequential file ${SEQ_MIB} MiB;" \
		"random I/O on a ${RAND_MIB} MiB file for ${RAND_SECS} s per run (fio psync, iodepth 1); $R run(s) per" \
		"measurement, targets alternating, medians shown.  "
	if [ "$DROP" = yes ]; then
		echo "Page cache: dropped (sync; echo 3 > /proc/sys/vm/drop_caches) between the sequential write and read and before each random read."
	else
		echo "Page cache: NOT dropped (not root): reads may come from memory."
	fi
	echo
	echo "Mounts:"
	echo
	if [ "${STATUS[plain]}" = ok ]; then echo "- plain: a directory on that filesystem."; else echo "- plain: ${STATUS[plain]}"; fi
	if [ "${STATUS[bindfs]}" = ok ]; then
		echo "- bindfs $(bindfs --version 2>/dev/null | awk '{print $2; exit}') ($(ldd "$(command -v bindfs)" | grep -o 'libfuse[^ ]*' | head -n 1))," \
			"arguments: ${BINDFS_OPTS:-none beyond source and mountpoint}; mount: \`$(fuse_line "$BASE/bind-mnt")\`." \
			"In force (libfuse 2 high-level defaults, which bindfs keeps unless mirroring): entry_timeout=1 s," \
			"attr_timeout=1 s, negative_timeout=0; single-threaded (bindfs passes -s); no big_writes, so the kernel" \
			"sends 4 KiB WRITE requests; no writeback cache."
	else
		echo "- bindfs: ${STATUS[bindfs]}"
	fi
	if [ "${STATUS[cassafs]}" = ok ]; then
		echo "- CassaFS $("$CASSAFS" --version 2>/dev/null | awk '{print $NF; exit}'), \`cassafs mount${CASSAFS_MOUNT_OPTS:+ -o $CASSAFS_MOUNT_OPTS}\`;" \
			"mount: \`$(fuse_line "$BASE/cfs-mnt")\`. Cache settings from \`cassafs mount --help\`:"
		cassafs_timeouts | sed 's/^/  - /'
	else
		echo "- CassaFS: $(tr '\n' ' ' <<<"${STATUS[cassafs]}" | sed 's/ *$//')"
	fi
	echo
	echo "| workload | unit | plain | bindfs | CassaFS | CassaFS/bindfs | target (issue 2) | met? |"
	echo "|---|---|---:|---:|---:|---:|---|---|"
	local key label unit minr absmin p b c ratio target mark
	while IFS='|' read -r key label unit minr absmin; do
		# shellcheck disable=SC2086  # the values are a space-separated list
		p=$(median ${VALS["$key|plain"]:-}); b=$(median ${VALS["$key|bindfs"]:-}); c=$(median ${VALS["$key|cassafs"]:-})
		ratio=$(awk -v b="$b" -v c="$c" 'BEGIN { if (b != "" && c != "" && b > 0) printf "%.2f×", c / b; else print "—" }')
		target=$(awk -v r="$minr" -v a="$absmin" 'BEGIN {
			t = ""; if (r > 0) t = "≥ " (r == 1 ? "" : r "× ") "bindfs"
			if (a > 0) t = t ", ≥ " a
			print (t == "" ? "none" : t) }')
		mark=$(awk -v r="$minr" -v a="$absmin" -v b="$b" -v c="$c" 'BEGIN {
			if (r == 0 && a == 0) { print ""; exit }
			if (c == "") { print "n/a"; exit }
			need = 0
			if (r > 0 && b != "") need = r * b
			if (a > need) need = a
			if (r > 0 && b == "" && a == 0) { print "n/a"; exit }
			if (c + 0 >= need) print "met"
			else printf "**missed** by %.0f%% (needs %.0f)\n", (1 - c / need) * 100, need }' |
			sed -E ':a; s/([0-9])([0-9]{3})([^0-9]|$)/\1,\2\3/; ta')
		target=$(sed -E 's/([0-9])([0-9]{3})$/\1,\2/' <<<"$target")
		echo "| $label | $unit | $(fmt "$p") | $(fmt "$b") | $(fmt "$c") | $ratio | $target | $mark |"
	done <<<"$WORKLOADS"
	echo
	echo "<details><summary>all runs</summary>"
	echo
	while IFS='|' read -r key label unit minr absmin; do
		local line="$key:"
		for t in "${ALL_TARGETS[@]}"; do
			line+=" $t=[${VALS["$key|$t"]:-}]"
		done
		echo "    $line"
	done <<<"$WORKLOADS"
	echo
	echo "</details>"
}

RESULT=$(report)
echo "$RESULT"

if [ "$WRITE_DOCS" = 1 ]; then
	write_docs "$ROOT" bench-core "$RESULT"
fi
