#!/usr/bin/env bash
# Data tier, distributed (issue 9, targets 1 and 3): side by side in one run,
#   cassafs    CassaFS with its metadata on Redis + ZooKeeper (both started
#              here on 127.0.0.1) and its file data in a file:// tier
#   glusterfs  a one-brick GlusterFS volume: glusterd and the brick in a
#              private network namespace with only a loopback interface
#              (glusterd's port 24007 is fixed), the FUSE client started
#              with nsenter --net so that its mount is visible here
# Both keep their data (objects, brick) on the same local filesystem.
# Workloads (fio psync, iodepth 1), each R times, targets alternating:
#   seq write   SEQ_MIB MiB, bs 1M, end_fsync
#   seq read    the same file, bs 1M, after a remount and dropping the
#               page cache (sync; echo 3 > /proc/sys/vm/drop_caches)
#   rand read   4 KiB on a RAND_MIB MiB file for RAND_SECS s, after a
#               remount and dropping the page cache
#   rand write  4 KiB on that file for RAND_SECS s, end_fsync
# and on CassaFS alone:
#   Redis growth  INFO memory used_memory before and after writing
#                 REDIS_MIB MiB (in MiB of Redis per GiB of file data)
#   daemon RSS    VmRSS of the mount's daemon sampled every 0.5 s while
#                 writing one BIG_MIB MiB file (capped by the free space)
# Prints a Markdown table of medians with the ratios to GlusterFS and the
# verdict per target of issue 9.
#
# usage: bench/data_dist.sh [--quick] [--write-docs] [-r R] [--seq-mib M]
#            [--rand-mib M] [--rand-secs S] [--redis-mib M] [--big-mib M]
#            [--dir PARENT] [--no-gluster]
# Environment: CASSAFS (default build/cassafs), DATADIST_PORT (Redis; ZooKeeper
# is the next port; default 26390).  Needs root (FUSE, network namespaces,
# drop_caches) and the packages of .ci/packages.d/distbench.  Run it in a
# network namespace of your own, e.g.
#   nsenter --net=/run/netns/NS bench/data_dist.sh --quick
set -u
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
CMDLINE="bench/data_dist.sh${*:+ $*}"
ME=data_dist.sh
PORT0=${DATADIST_PORT:-26390}

QUICK=0 WRITE_DOCS=0 R='' SEQ_MIB='' RAND_MIB='' RAND_SECS='' REDIS_MIB='' BIG_MIB='' PARENT=/var/tmp GLUSTER=1
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--write-docs) WRITE_DOCS=1 ;;
	-r) R=${2:?-r needs a count}; shift ;;
	--seq-mib) SEQ_MIB=${2:?--seq-mib needs a size}; shift ;;
	--rand-mib) RAND_MIB=${2:?--rand-mib needs a size}; shift ;;
	--rand-secs) RAND_SECS=${2:?--rand-secs needs seconds}; shift ;;
	--redis-mib) REDIS_MIB=${2:?--redis-mib needs a size}; shift ;;
	--big-mib) BIG_MIB=${2:?--big-mib needs a size}; shift ;;
	--dir) PARENT=${2:?--dir needs a directory}; shift ;;
	--no-gluster) GLUSTER=0 ;;
	-h|--help)
		sed -n '2,/^# network namespace/p' "$0" | sed 's/^# \{0,1\}//'
		echo "  --quick: R=3, 64 MiB sequential, 32 MiB random for 3 s, 256 MiB for Redis, 512 MiB big file"
		echo "  default: R=3, 1024 MiB sequential, 256 MiB random for 10 s, 1024 MiB for Redis, 4096 MiB big file"
		exit 0 ;;
	*) echo "$ME: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	: "${R:=3}" "${SEQ_MIB:=64}" "${RAND_MIB:=32}" "${RAND_SECS:=3}" "${REDIS_MIB:=256}" "${BIG_MIB:=512}"
else
	: "${R:=3}" "${SEQ_MIB:=1024}" "${RAND_MIB:=256}" "${RAND_SECS:=10}" "${REDIS_MIB:=1024}" "${BIG_MIB:=4096}"
fi
for v in R SEQ_MIB RAND_MIB RAND_SECS REDIS_MIB BIG_MIB PORT0; do
	case "${!v}" in ''|*[!0-9]*|0) echo "$ME: $v='${!v}' is not a positive integer" >&2; exit 2 ;; esac
done
REDIS_PORT=$PORT0 ZK_PORT=$((PORT0 + 1))

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
for tool in fio mountpoint ip nsenter redis-server redis-cli; do
	command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install the packages in .ci/packages.d/distbench)"
done
[ "$(id -u)" = 0 ] || die "needs root (FUSE, network namespaces, drop_caches)"
[ -x "$CASSAFS" ] || die "$CASSAFS not found (run make)"
[ -d "$PARENT" ] || die "--dir $PARENT: not a directory"
BASE=$(mktemp -d "$PARENT/cassafs-datadist.XXXXXX") || die "cannot create a work directory in $PARENT"
chmod 755 "$BASE"
NS=cassafs-datadist-$$
GLD=$BASE/gluster
ZK_SCRIPT=$ROOT/tests/scripts/zk_server.sh
CFS=$BASE/cfs GL=$BASE/gl
declare -A DIR STATUS

cleanup() {
	local rc=$?
	stop_fuse "$CFS" "$(daemon_of "$CFS")"
	[ -e "/run/netns/$NS" ] && stop_fuse "$GL" "$(gl_client)"
	gluster_stop "$BASE/gl-brick"
	kill_pidfile "$BASE/redis/redis.pid"
	[ -d "$BASE/zk" ] && "$ZK_SCRIPT" stop "$BASE/zk" >/dev/null 2>&1
	if ! grep -q " $BASE/" /proc/mounts; then rm -rf "$BASE"; else echo "$ME: $BASE still has a mount; left in place" >&2; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RC() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -p "$REDIS_PORT" "$@"; }

# ------------------------------------------------------------------ CassaFS
start_redis() {
	local i
	port_free "$REDIS_PORT" || { echo "port 127.0.0.1:$REDIS_PORT is busy (set DATADIST_PORT)"; return 1; }
	mkdir -p "$BASE/redis/data"
	(umask 077; cat >"$BASE/redis/redis.conf" <<EOF
port $REDIS_PORT
bind 127.0.0.1
protected-mode yes
requirepass $REDIS_PASSWORD
dir $BASE/redis/data
appendonly yes
appendfsync everysec
save ""
daemonize yes
pidfile $BASE/redis/redis.pid
logfile $BASE/redis/redis.log
EOF
)
	redis-server "$BASE/redis/redis.conf" >/dev/null 2>&1 || { echo "redis-server failed: $(tail -n 3 "$BASE/redis/redis.log" 2>/dev/null)"; return 1; }
	for ((i = 0; i < 100; i++)); do
		[ "$(RC ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	echo "redis on 127.0.0.1:$REDIS_PORT not answering PING after 10 s"
	return 1
}

CFS_URL="redis://127.0.0.1:$REDIS_PORT/0"
CFS_COORD="zk://127.0.0.1:$ZK_PORT/cassafs-datadist"
cfs_mount() {
	local err
	mkdir -p "$CFS"
	err=$("$CASSAFS" mount --coord "$CFS_COORD" -o "log_file=$BASE/cfs.log" "$CFS_URL" "$CFS" 2>&1) ||
		{ echo "cassafs mount failed: $err"; return 1; }
	wait_mounted "$CFS" 20 || { echo "$CFS not mounted after 20 s"; return 1; }
}
cfs_umount() { stop_fuse "$CFS" "$(daemon_of "$CFS")"; }

setup_cassafs() {
	local err
	REDIS_PASSWORD=$(secret)
	err=$(start_redis) || { STATUS[cassafs]="n/a: $(oneline "$err")"; return; }
	port_free "$ZK_PORT" || { STATUS[cassafs]="n/a: port $ZK_PORT busy"; return; }
	err=$("$ZK_SCRIPT" start "$BASE/zk" "$ZK_PORT" 2>&1) || { STATUS[cassafs]="n/a: ZooKeeper: $(oneline "$err")"; return; }
	export CASSAFS_REDIS_PASSWORD=$REDIS_PASSWORD
	(umask 077; echo "bench:$(secret)" >"$BASE/zk.credentials")
	export CASSAFS_ZK_CREDENTIALS_FILE=$BASE/zk.credentials
	err=$("$CASSAFS" mkfs --data "file://$BASE/objects" "$CFS_URL" 2>&1) ||
		{ STATUS[cassafs]="n/a: mkfs: $(oneline "$err")"; return; }
	err=$(cfs_mount) || { STATUS[cassafs]="n/a: $(oneline "$err")"; return; }
	DIR[cassafs]=$CFS STATUS[cassafs]=ok
}

# ---------------------------------------------------------------- GlusterFS
# nsenter --net, not "ip netns exec" (that makes a mount namespace too, in
# which a FUSE mount outlives its unmount here)
gl_mount() {
	local err
	mkdir -p "$GL"
	err=$(INNS glusterfs --volfile-server=127.0.0.1 --volfile-id=benchvol \
		-l "$GLD/log/client.log" --log-level=WARNING "$GL" 2>&1) || { echo "glusterfs client failed: $err"; return 1; }
	wait_mounted "$GL" 20 || { echo "glusterfs: $GL not mounted after 20 s: $(tail -n 3 "$GLD/log/client.log")"; return 1; }
}
gl_client() {  # pid of the GlusterFS client serving $GL
	local pid
	for pid in $(ip netns pids "$NS" 2>/dev/null); do
		tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | tail -n 1 | grep -qxF "$GL" && { echo "$pid"; return; }
	done
}
gl_umount() { stop_fuse "$GL" "$(gl_client)"; }

setup_glusterfs() {
	local err
	err=$(gluster_start "$BASE/gl-brick") || { STATUS[glusterfs]="n/a: $err"; return; }
	err=$(gl_mount) || { STATUS[glusterfs]="n/a: $(oneline "$err")"; return; }
	DIR[glusterfs]=$GL STATUS[glusterfs]=ok
}

# Redis commands CassaFS sent (INFO commandstats, INFO itself left out):
# taken around each CassaFS run, per MiB (sequential) or per 4 KiB
# operation (random; IOPS × seconds) in the report
rcmds() { RC info commandstats 2>/dev/null | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" { s += $3 } END { print s + 0 }'; }
# fio_counted WORKLOAD TARGET PER FIELD NAME ARGS…: run_fio, its figure in
# FIO_V (not in a subshell: the counts go into VALS as cmds_WORKLOAD)
fio_counted() {
	local w=$1 t=$2 per=$3 c0 v
	shift 3
	FIO_V=
	[ "$t" = cassafs ] && c0=$(rcmds)
	v=$(run_fio "$t" "$@") || return 1
	[ "$t" = cassafs ] && add "cmds_$w" "$t" "$(awk -v a="$c0" -v b="$(rcmds)" -v p="$per" -v v="$v" 'BEGIN {
		n = (p == "ops") ? v * '"$RAND_SECS"' : p; if (n > 0) printf "%.2f", (b - a) / n }')"
	FIO_V=$v
}

remount() {  # target: a fresh client (no cache of its own) and no page cache
	case $1 in
	cassafs) cfs_umount && cfs_mount >/dev/null ;;
	glusterfs) gl_umount && gl_mount >/dev/null ;;
	esac || log "$1: remount failed"
	drop_caches
}

TARGETS=(cassafs)
[ "$GLUSTER" = 1 ] && TARGETS+=(glusterfs) || STATUS[glusterfs]="n/a: --no-gluster"
ACTIVE=()
for t in "${TARGETS[@]}"; do
	log "setting up $t"
	"setup_$t"
	log "$t: ${STATUS[$t]}"
	[ "${STATUS[$t]}" = ok ] && ACTIVE+=("$t")
done
[ "${STATUS[cassafs]}" = ok ] || die "CassaFS: ${STATUS[cassafs]}"

# ---------------------------------------------------------------- measuring
log "base $BASE; R=$R seq=${SEQ_MIB}MiB rand=${RAND_MIB}MiB/${RAND_SECS}s redis=${REDIS_MIB}MiB big=${BIG_MIB}MiB; load: $(cut -d' ' -f1-3 /proc/loadavg)"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
mibs() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		f=${DIR[$t]}/bench.seq
		log "$t: sequential write ${SEQ_MIB} MiB (run $r/$R)"
		fio_counted seqwrite "$t" "$SEQ_MIB" 48 seqwrite --filename="$f" --rw=write --bs=1M --size="${SEQ_MIB}M" --end_fsync=1 &&
			add seqwrite "$t" "$(mibs "$FIO_V")"
		remount "$t"
		log "$t: sequential read (run $r/$R)"
		fio_counted seqread "$t" "$SEQ_MIB" 7 seqread --filename="$f" --rw=read --bs=1M --size="${SEQ_MIB}M" &&
			add seqread "$t" "$(mibs "$FIO_V")"
		rm -f "$f"
	done
done
for t in "${ACTIVE[@]}"; do
	log "$t: laying out the ${RAND_MIB} MiB random-I/O file"
	fio_rand_layout "$t" "${DIR[$t]}" "$RAND_MIB"
done
for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		f=${DIR[$t]}/bench.rand
		remount "$t"
		log "$t: random 4 KiB read, then write, ${RAND_SECS} s each (run $r/$R)"
		fio_counted randread "$t" ops 8 randread --filename="$f" --rw=randread --bs=4k --size="${RAND_MIB}M" \
			--time_based --runtime="$RAND_SECS" && add randread "$t" "$FIO_V"
		fio_counted randwrite "$t" ops 49 randwrite --filename="$f" --rw=randwrite --bs=4k --size="${RAND_MIB}M" \
			--time_based --runtime="$RAND_SECS" --end_fsync=1 && add randwrite "$t" "$FIO_V"
	done
done
for t in "${ACTIVE[@]}"; do rm -f "${DIR[$t]}/bench.rand"; done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# Redis growth per GiB written: used_memory once the deletions above have
# settled, then after writing REDIS_MIB MiB in one file (and its fsync)
used_mem() { RC info memory 2>/dev/null | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }
sync; sleep 2
M0=$(used_mem) K0=$(RC dbsize 2>/dev/null)
log "cassafs: writing ${REDIS_MIB} MiB for the Redis growth (used_memory $M0)"
v=$(run_fio cassafs 48 redisgrowth --filename="$CFS/bench.redis" --rw=write --bs=1M --size="${REDIS_MIB}M" --end_fsync=1)
sync; sleep 2
M1=$(used_mem) K1=$(RC dbsize 2>/dev/null)
REDIS_GROWTH=$(awk -v a="$M0" -v b="$M1" -v m="$REDIS_MIB" 'BEGIN { if (a == "" || b == "") exit; printf "%.3f", (b - a) / 1048576 / (m / 1024) }')
rm -f "$CFS/bench.redis"

# Daemon RSS while writing one big file: no more than the free space
# less 2 GiB
free_mib=$(df -Pm "$BASE" | awk 'NR == 2 { print $4 }')
[ "$BIG_MIB" -gt $((free_mib - 2048)) ] && BIG_MIB=$((free_mib - 2048))
RSS_MAX='' RSS_HALF='' RSS_END='' BIG_RATE=''
if [ "$BIG_MIB" -gt 0 ]; then
	CPID=$(daemon_of "$CFS")
	rss() { awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$CPID/status" 2>/dev/null; }
	RSS0=$(rss)
	log "cassafs: writing a ${BIG_MIB} MiB file, sampling daemon $CPID's RSS (now ${RSS0} MiB)"
	( while kill -0 "$CPID" 2>/dev/null; do rss; sleep 0.5; done ) >"$BASE/rss.log" &
	SAMPLER=$!
	v=$(run_fio cassafs 48 big --filename="$CFS/bench.big" --rw=write --bs=1M --size="${BIG_MIB}M" --end_fsync=1) &&
		BIG_RATE=$(mibs "$v")
	kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null
	RSS_MAX=$(sort -n "$BASE/rss.log" | tail -n 1)
	n=$(wc -l <"$BASE/rss.log")
	RSS_HALF=$(sed -n "$(( (n + 1) / 2 ))p" "$BASE/rss.log")
	RSS_END=$(tail -n 1 "$BASE/rss.log")
	RSS_N=$n
	rm -f "$CFS/bench.big"
fi

# -------------------------------------------------------------------- report
verdict() {  # c g factor -> "ratio|target|verdict"
	awk -v c="$1" -v g="$2" -v n="$3" 'BEGIN {
		if (c == "" || g == "" || g <= 0) { print "—|≥ " n "× GlusterFS|n/a"; exit }
		r = c / g
		printf "%.2f×|≥ %s× GlusterFS|%s\n", r, n, (r >= n) ? "met" : "**missed**" }'
}
report() {
	local w label n c g vt
	echo "### Data tier, distributed: CassaFS (Redis + ZooKeeper, file:// tier) beside GlusterFS"
	echo
	echo "Command: \`$CMDLINE\` (run as \`nsenter --net=/run/netns/NS $CMDLINE\`)  "
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average before/after the side-by-side part: $LOAD0 / $LOAD1 (shared machine)  "
	machine_line
	echo "Data of both on $(findmnt -no FSTYPE,SOURCE -T "$BASE" | tr -s ' ' ' ') ($BASE): CassaFS's objects (\`file://\`), Redis's AOF" \
		"(appendfsync everysec) and ZooKeeper's dataDir; GlusterFS's brick.  GlusterFS $(glusterfs --version 2>/dev/null | awk '{print $2; exit}')," \
		"one brick, volume options at their defaults (write-behind, read-ahead, io-cache on), glusterd in a private network namespace." \
		"CassaFS $("$CASSAFS" --version 2>/dev/null | awk '{print $NF; exit}') (commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null))," \
		"\`cassafs mkfs --data file://DIR redis://…\`, \`cassafs mount --coord zk://…\` with default options.  "
	echo "fio psync, iodepth 1; $R runs per workload, targets alternating, medians. Before each read pass: unmount and mount" \
		"again, \`sync; echo 3 > /proc/sys/vm/drop_caches\`."
	echo
	echo "| workload | unit | CassaFS | GlusterFS | CassaFS/GlusterFS | target | met? |"
	echo "|---|---|---:|---:|---:|---|---|"
	while IFS='|' read -r w label n; do
		# shellcheck disable=SC2086
		c=$(median ${VALS["$w|cassafs"]:-}); g=$(median ${VALS["$w|glusterfs"]:-})
		vt=$(verdict "$c" "$g" "$n")
		echo "| $label | $( [[ $w == seq* ]] && echo MiB/s || echo IOPS) | $(fmt "$c") | $(fmt "$g") | ${vt//|/ | } |"
	done <<EOF
seqwrite|sequential write ${SEQ_MIB} MiB, bs 1M, end_fsync|1.2
seqread|sequential read ${SEQ_MIB} MiB, bs 1M, cold|1.2
randread|random read 4 KiB, ${RAND_MIB} MiB file, ${RAND_SECS} s, cold|1.0
randwrite|random write 4 KiB, ${RAND_MIB} MiB file, ${RAND_SECS} s, end_fsync|1.0
EOF
	echo
	# shellcheck disable=SC2086
	echo "Redis commands CassaFS sent (INFO commandstats around each run, medians): sequential write" \
		"$(median ${VALS[cmds_seqwrite|cassafs]:-}) per MiB, sequential read $(median ${VALS[cmds_seqread|cassafs]:-}) per MiB," \
		"random read $(median ${VALS[cmds_randread|cassafs]:-}) and random write $(median ${VALS[cmds_randwrite|cassafs]:-}) per 4 KiB operation."
	echo
	if [ -n "$REDIS_GROWTH" ]; then
		echo "Redis growth: used_memory $(commas <<<"$M0") → $(commas <<<"$M1") bytes (keys $K0 → $K1) writing one ${REDIS_MIB} MiB file" \
			"= **$REDIS_GROWTH MiB per GiB** of file data; target ≤ 1 MiB per GiB:" \
			"$(awk -v x="$REDIS_GROWTH" 'BEGIN { print (x <= 1) ? "met" : "**missed**" }')."
	else
		echo "Redis growth: not measured (INFO memory failed)."
	fi
	echo
	if [ -n "$RSS_MAX" ]; then
		echo "Daemon RSS writing one ${BIG_MIB} MiB file (fio bs 1M, end_fsync, ${BIG_RATE:-?} MiB/s): ${RSS0} MiB before," \
			"${RSS_HALF} MiB half-way, ${RSS_END} MiB at the end, **peak ${RSS_MAX} MiB** ($RSS_N samples, every 0.5 s)."
	fi
	echo
	echo "<details><summary>all runs</summary>"
	echo
	for w in seqwrite seqread randread randwrite; do
		echo "    $w: cassafs=[${VALS["$w|cassafs"]:-}] glusterfs=[${VALS["$w|glusterfs"]:-}]"
	done
	echo
	echo "</details>"
}
RESULT=$(report)
echo "$RESULT"
if [ "$WRITE_DOCS" = 1 ]; then
	content=$(mktemp)
	printf '%s\n' "$RESULT" >"$content"
	replace_block "$ROOT/docs/benchmarks-distributed.md" bench-data-dist "$content"
	rm -f "$content"
	echo "wrote docs/benchmarks-distributed.md" >&2
fi
# a failed measurement fails the run (after the report and the cleanup)
for w in seqwrite seqread randread randwrite; do
	for t in "${ACTIVE[@]}"; do [ -n "${VALS["$w|$t"]:-}" ] || die "no $w figure for $t"; done
done
[ -n "$REDIS_GROWTH" ] || die "no Redis growth figure"
exit 0
