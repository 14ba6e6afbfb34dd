#!/usr/bin/env bash
# Distributed benchmark (issue 4): side by side in one run, on
#   cassafs    CassaFS on Redis (store) + ZooKeeper (coordination), both
#              started here on 127.0.0.1
#   glusterfs  a one-brick GlusterFS volume; glusterd and the brick run in a
#              private network namespace that has only a loopback interface
#              (glusterd's port 24007 is fixed), the FUSE clients are started
#              with nsenter --net so that their mounts are visible here
#   sshfs      sshfs over a private sshd on 127.0.0.1 (key authentication)
# Workloads: those of bench/run_core.sh (meta_bench's eight metadata rates,
# fio sequential write+read and random 4 KiB read/write), plus
#   two mounts at once  two mounts of the same filesystem, each running
#                       meta_bench in its own subdirectory at the same time
#   latency             create, lookup and getattr in µs per operation, on a
#                       separate mount with every kernel cache timeout at 0
# Every measurement is repeated R times, alternating the targets; medians.
#
# usage: bench/run_dist.sh [--quick] [--write-docs] [-n FILES] [-r REPEATS]
#            [--lat-files N] [--seq-mib M] [--rand-mib M] [--rand-secs S]
#            [--dir PARENT] [--targets cassafs,glusterfs,sshfs] [--no-loop]
# Environment: CASSAFS (default build/cassafs), CASSAFS_MOUNT_OPTS (-o for
# the CassaFS mounts), DISTBENCH_PORT (first of the 4 loopback ports: Redis,
# ZooKeeper, sshd, the latency mount's metrics; default 26190).
# The Markdown result goes to stdout, progress to stderr.  Needs root (FUSE
# and loop mounts, network namespaces, dropping the page cache) and the
# packages in .ci/packages.d/distbench.  Not part of `make test`.
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASSAFS=${CASSAFS:-$ROOT/build/cassafs}
CASSAFS_MOUNT_OPTS=${CASSAFS_MOUNT_OPTS:-}
PORT0=${DISTBENCH_PORT:-26190}
CMDLINE="bench/run_dist.sh${*:+ $*}"
ME=run_dist.sh

usage() {
	sed -n '/^# usage:/,/^# packages in/p' "$0" | sed 's/^# \{0,1\}//'
	cat <<'EOF'
  --quick       smoke-check sizes: 500 files, 300 for latency, 64 MiB
                sequential, 32 MiB random for 3 s, R=1
  --write-docs  also write the result into docs/benchmarks-distributed.md
  -n FILES      files for meta_bench, per mount (default 3000; run_core.sh
                uses 10000, which takes CassaFS on Redis + ZooKeeper and the
                others over an hour here with the two-mount runs)
  -r REPEATS    repetitions of every measurement (default 3)
  --lat-files N files for the latency pass (default 1000)
  --seq-mib M   sequential file size in MiB (default 1024)
  --rand-mib M  random-I/O file size in MiB (default 256)
  --rand-secs S seconds per random-I/O run (default 10)
  --dir PARENT  where the work directory is made (default /var/tmp)
  --no-loop     keep the data (Redis's AOF, the brick, sshd's directory)
                directly in PARENT instead of on a fresh ext4 in a loop device
  --targets L   comma-separated subset of cassafs,glusterfs,sshfs
EOF
}

USE_LOOP=1 QUICK=0 WRITE_DOCS=0 FILES='' R='' LAT_FILES='' SEQ_MIB='' RAND_MIB='' RAND_SECS='' PARENT=/var/tmp
TARGETS="cassafs,glusterfs,sshfs"
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--write-docs) WRITE_DOCS=1 ;;
	-n) FILES=${2:?-n needs a count}; shift ;;
	-r) R=${2:?-r needs a count}; shift ;;
	--lat-files) LAT_FILES=${2:?--lat-files needs a count}; shift ;;
	--seq-mib) SEQ_MIB=${2:?--seq-mib needs a size}; shift ;;
	--rand-mib) RAND_MIB=${2:?--rand-mib needs a size}; shift ;;
	--rand-secs) RAND_SECS=${2:?--rand-secs needs seconds}; shift ;;
	--dir) PARENT=${2:?--dir needs a directory}; shift ;;
	--targets) TARGETS=${2:?--targets needs a list}; shift ;;
	--no-loop) USE_LOOP=0 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "$ME: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	: "${FILES:=500}" "${R:=1}" "${LAT_FILES:=300}" "${SEQ_MIB:=64}" "${RAND_MIB:=32}" "${RAND_SECS:=3}"
else
	: "${FILES:=3000}" "${R:=3}" "${LAT_FILES:=1000}" "${SEQ_MIB:=1024}" "${RAND_MIB:=256}" "${RAND_SECS:=10}"
fi
for v in FILES R LAT_FILES SEQ_MIB RAND_MIB RAND_SECS PORT0; do
	case "${!v}" in ''|*[!0-9]*|0) echo "$ME: $v='${!v}' is not a positive integer" >&2; exit 2 ;; esac
done
REDIS_PORT=$PORT0 ZK_PORT=$((PORT0 + 1)) SSH_PORT=$((PORT0 + 2)) METRICS_PORT=$((PORT0 + 3))

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

for tool in fio mountpoint ip nsenter; do
	command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install the packages in .ci/packages.d/distbench)"
done
[ "$(id -u)" = 0 ] || die "needs root (FUSE and loop mounts, network namespaces)"
make -s -C "$ROOT/bench" >&2 || die "cannot build bench/meta_bench"
META_BENCH=$ROOT/build/bench/meta_bench

[ -d "$PARENT" ] || die "--dir $PARENT: not a directory"
BASE=$(mktemp -d "$PARENT/cassafs-distbench.XXXXXX") || die "cannot create a work directory in $PARENT"
chmod 755 "$BASE"
WORK=$BASE   # the loop filesystem, and why: setup_loop in bench/lib.sh

declare -A DIR DIR2 DIRL STATUS
ALL_TARGETS=(cassafs glusterfs sshfs)
NS=cassafs-distbench-$$     # GlusterFS's network namespace
GLD=$BASE/gluster           # glusterd's working and run directories
ZK_SCRIPT=
ZKD=$BASE/zk                # ZooKeeper's directory (moves to the loop filesystem)

wanted() { [[ ",$TARGETS," == *",$1,"* ]]; }

cleanup() {
	local rc=$? m pid exe
	# in parallel: 'cassafs umount' waits for each daemon to finish
	for m in cfs-a cfs-b cfs-lat; do unmount_quietly "$BASE/$m" "$CASSAFS" umount & done
	wait
	# a daemon still running after that is stopped by its id (ours: its
	# command line names our work directory and its binary is $CASSAFS)
	for pid in $(pgrep -f -- " $BASE/cfs-" 2>/dev/null); do
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
		[ "$exe" = "$(readlink -f "$CASSAFS")" ] || continue
		log "CassaFS daemon $pid still running after its unmount: stopping it"
		kill "$pid" 2>/dev/null
	done
	if ls "$BASE"/cfs-logs/*.log >/dev/null 2>&1 && grep -qE ' (error|warn(ing)?): ' "$BASE"/cfs-logs/*.log; then
		log "warnings and errors in the CassaFS daemons' logs (last 20):"
		grep -E ' (error|warn(ing)?): ' "$BASE"/cfs-logs/*.log | sed "s|^$BASE/cfs-logs/||" | tail -n 20 >&2
	fi
	for m in gl-a gl-b gl-lat ssh-a ssh-b ssh-lat; do unmount_quietly "$BASE/$m"; done
	gluster_stop "$WORK/gl-brick"
	kill_pidfile "$BASE/ssh/sshd.pid"
	kill_pidfile "$BASE/redis/redis.pid"
	if [ -n "$ZK_SCRIPT" ]; then "$ZK_SCRIPT" stop "$ZKD" >/dev/null 2>&1; else kill_pidfile "$ZKD/pid"; fi
	teardown_loop
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FS_NOTE="$(findmnt -no FSTYPE,SOURCE,OPTIONS -T "$BASE" | awk '{print $1" on "$2" ("$3")"}') (--no-loop)"
if [ "$USE_LOOP" = 1 ]; then
	setup_loop || die "cannot set up the loop filesystem (see above); use --no-loop"
fi
ZKD=$WORK/zk

# ------------------------------------------------------------------ servers
# Redis, configured from a file so the password is not on a command line;
# AOF with fsync once a second (docs/redis.md's recommended setting).
start_redis() {
	local d=$WORK/redis-data i
	command -v redis-server >/dev/null || { echo "redis-server not installed"; return 1; }
	port_free "$REDIS_PORT" || { echo "port 127.0.0.1:$REDIS_PORT is busy (set DISTBENCH_PORT)"; return 1; }
	port_free "$METRICS_PORT" || { echo "port 127.0.0.1:$METRICS_PORT is busy (set DISTBENCH_PORT)"; return 1; }
	mkdir -p "$BASE/redis" "$d"
	(umask 077; cat >"$BASE/redis/redis.conf" <<EOF
port $REDIS_PORT
bind 127.0.0.1
protected-mode yes
requirepass $REDIS_PASSWORD
dir $d
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
		[ "$(REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	echo "redis on 127.0.0.1:$REDIS_PORT not answering PING after 10 s: $(tail -n 3 "$BASE/redis/redis.log" 2>/dev/null)"
	return 1
}

# ZooKeeper: the project's tests/scripts/zk_server.sh when the tree has it,
# otherwise a minimal standalone server started the same way.
start_zk() {
	local i
	port_free "$ZK_PORT" || { echo "port 127.0.0.1:$ZK_PORT is busy (set DISTBENCH_PORT)"; return 1; }
	if [ -n "$ZK_SCRIPT" ]; then
		"$ZK_SCRIPT" start "$ZKD" "$ZK_PORT" 2>&1 && return 0
		return 1
	fi
	[ -f /usr/share/java/zookeeper.jar ] || { echo "zookeeper not installed"; return 1; }
	mkdir -p "$ZKD/data"
	cat >"$ZKD/zoo.cfg" <<EOF
tickTime=500
initLimit=20
syncLimit=10
dataDir=$ZKD/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
EOF
	nohup java -Xmx256m -XX:+UseSerialGC -Dzookeeper.admin.enableServer=false \
		-cp "$(ls /usr/share/java/*.jar | tr '\n' ':')" org.apache.zookeeper.server.quorum.QuorumPeerMain \
		"$ZKD/zoo.cfg" >"$ZKD/server.log" 2>&1 </dev/null &
	echo $! >"$ZKD/pid"
	for ((i = 0; i < 200; i++)); do
		if ( exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf srvr >&3 && timeout 3 cat <&3 ) 2>/dev/null | grep -q '^Mode:'; then
			return 0
		fi
		sleep 0.3
	done
	echo "ZooKeeper on 127.0.0.1:$ZK_PORT not serving after 60 s: $(tail -n 3 "$ZKD/server.log")"
	return 1
}

# -------------------------------------------------------------------- targets
CFS_URL="redis://127.0.0.1:$REDIS_PORT/0"
CFS_COORD="zk://127.0.0.1:$ZK_PORT/cassafs-bench"
LAT_OPTS="attr_timeout=0,entry_timeout=0,negative_timeout=0"

cfs_mount() {  # mountpoint [extra -o options] ; prints the error
	local m=$1 o=${2:-} err opts=()
	o=${CASSAFS_MOUNT_OPTS}${CASSAFS_MOUNT_OPTS:+${o:+,}}$o
	# each daemon logs to a file of its own, shown at the end if it has
	# warnings or errors (there is no syslog daemon here)
	o+=${o:+,}log_file=$BASE/cfs-logs/$(basename "$m").log
	opts=(-o "$o")
	mkdir -p "$m" "$BASE/cfs-logs"
	if ! err=$("$CASSAFS" mount --coord "$CFS_COORD" "${opts[@]}" "$CFS_URL" "$m" 2>&1); then
		echo "'cassafs mount --coord $CFS_COORD ${opts[*]}${opts[*]:+ }$CFS_URL' failed: $err"
		return 1
	fi
	wait_mounted "$m" 20 || { echo "'cassafs mount' returned but $m is not mounted after 20 s${err:+: $err}"; return 1; }
}

MKFS=(mkfs)
setup_cassafs() {
	local err
	if [ ! -x "$CASSAFS" ]; then STATUS[cassafs]="n/a: $CASSAFS not found (run make)"; return; fi
	REDIS_PASSWORD=$(secret)
	[ -x "$ROOT/tests/scripts/zk_server.sh" ] && ZK_SCRIPT=$ROOT/tests/scripts/zk_server.sh
	err=$(start_redis) || { STATUS[cassafs]="n/a: $(oneline "$err")"; return; }
	err=$(start_zk) || { STATUS[cassafs]="n/a: $(oneline "$err")"; return; }
	export CASSAFS_REDIS_PASSWORD=$REDIS_PASSWORD
	(umask 077; echo "bench:$(secret)" >"$BASE/zk.credentials")
	export CASSAFS_ZK_CREDENTIALS_FILE=$BASE/zk.credentials
	# mkfs takes --coord only if this build's mkfs knows it
	MKFS=(mkfs)
	"$CASSAFS" mkfs --help 2>&1 | grep -q -- '--coord' && MKFS=(mkfs --coord "$CFS_COORD")
	if ! err=$("$CASSAFS" "${MKFS[@]}" "$CFS_URL" 2>&1); then
		STATUS[cassafs]="n/a: 'cassafs ${MKFS[*]} $CFS_URL' failed: $(oneline "$err")"
		return
	fi
	err=$(cfs_mount "$BASE/cfs-a") || { STATUS[cassafs]="n/a: $(oneline "$err")"; return; }
	err=$(cfs_mount "$BASE/cfs-b") || { STATUS[cassafs]="n/a: second mount: $(oneline "$err")"; return; }
	# the latency mount serves metrics: the engine's own round-trip counts
	err=$(cfs_mount "$BASE/cfs-lat" "$LAT_OPTS,metrics=127.0.0.1:$METRICS_PORT") || { STATUS[cassafs]="n/a: latency mount: $(oneline "$err")"; return; }
	DIR[cassafs]=$BASE/cfs-a DIR2[cassafs]=$BASE/cfs-b DIRL[cassafs]=$BASE/cfs-lat STATUS[cassafs]=ok
}

gl_mount() {  # mountpoint [extra glusterfs options]
	local m=$1 err
	shift
	mkdir -p "$m"
	# the client's sockets live in the namespace, its mount out here
	if ! err=$(nsenter --net="/run/netns/$NS" glusterfs --volfile-server=127.0.0.1 --volfile-id=benchvol \
		-l "$GLD/log/client-$(basename "$m").log" --log-level=WARNING "$@" "$m" 2>&1); then
		echo "glusterfs client for $m failed: $err"
		return 1
	fi
	wait_mounted "$m" 20 || { echo "glusterfs client: $m not mounted after 20 s: $(tail -n 3 "$GLD/log/client-$(basename "$m").log")"; return 1; }
}

setup_glusterfs() {
	local err
	err=$(gluster_start "$WORK/gl-brick") || { STATUS[glusterfs]="n/a: $err"; return; }
	err=$(gl_mount "$BASE/gl-a") || { STATUS[glusterfs]="n/a: $(oneline "$err")"; return; }
	err=$(gl_mount "$BASE/gl-b") || { STATUS[glusterfs]="n/a: second client: $(oneline "$err")"; return; }
	err=$(gl_mount "$BASE/gl-lat" --attribute-timeout=0 --entry-timeout=0 --negative-timeout=0) ||
		{ STATUS[glusterfs]="n/a: latency client: $(oneline "$err")"; return; }
	DIR[glusterfs]=$BASE/gl-a DIR2[glusterfs]=$BASE/gl-b DIRL[glusterfs]=$BASE/gl-lat STATUS[glusterfs]=ok
}

SSH_OPTS=
ssh_mount() {  # mountpoint [extra -o options]
	local m=$1 err
	mkdir -p "$m"
	if ! err=$(timeout 30 sshfs -p "$SSH_PORT" -o "$SSH_OPTS${2:+,$2}" "$(id -un)@127.0.0.1:$WORK/ssh-src" "$m" 2>&1); then
		echo "sshfs $m failed: $err"
		return 1
	fi
	wait_mounted "$m" 20 || { echo "sshfs: $m not mounted after 20 s${err:+: $err}"; return 1; }
}

setup_sshfs() {
	local d=$BASE/ssh err i t
	for t in sshfs /usr/sbin/sshd ssh-keygen; do
		command -v "$t" >/dev/null || { STATUS[sshfs]="n/a: $t not installed (sshfs, openssh-server)"; return; }
	done
	port_free "$SSH_PORT" || { STATUS[sshfs]="n/a: port 127.0.0.1:$SSH_PORT is busy (set DISTBENCH_PORT)"; return; }
	mkdir -p "$d" /run/sshd "$WORK/ssh-src"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" || { STATUS[sshfs]="n/a: ssh-keygen failed"; return; }
	ssh-keygen -q -t ed25519 -N '' -f "$d/client_key" || { STATUS[sshfs]="n/a: ssh-keygen failed"; return; }
	cp "$d/client_key.pub" "$d/authorized_keys"
	cat >"$d/sshd_config" <<EOF
ListenAddress 127.0.0.1:$SSH_PORT
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
	if ! err=$(/usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" 2>&1); then
		STATUS[sshfs]="n/a: sshd failed: $(oneline "$err")"; return
	fi
	for ((i = 0; i < 50; i++)); do port_free "$SSH_PORT" || break; sleep 0.1; done
	SSH_OPTS="IdentityFile=$d/client_key,IdentitiesOnly=yes,BatchMode=yes,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR"
	err=$(ssh_mount "$BASE/ssh-a") || { STATUS[sshfs]="n/a: $(oneline "$err")"; return; }
	err=$(ssh_mount "$BASE/ssh-b") || { STATUS[sshfs]="n/a: second mount: $(oneline "$err")"; return; }
	err=$(ssh_mount "$BASE/ssh-lat" "$LAT_OPTS") || { STATUS[sshfs]="n/a: latency mount: $(oneline "$err")"; return; }
	DIR[sshfs]=$BASE/ssh-a DIR2[sshfs]=$BASE/ssh-b DIRL[sshfs]=$BASE/ssh-lat STATUS[sshfs]=ok
}

# The two mounts of a target must show one filesystem: a file written and
# closed through one is read whole through the other.
check_shared() {
	local t=$1 a=${DIR[$1]}/.shared-check.$$ b=${DIR2[$1]}/.shared-check.$$ i
	head -c 65536 /dev/urandom >"$a" || return 1
	for ((i = 0; i < 50; i++)); do
		cmp -s "$a" "$b" 2>/dev/null && { rm -f "$a"; return 0; }
		sleep 0.1
	done
	rm -f "$a"
	return 1
}

ACTIVE=()
for t in "${ALL_TARGETS[@]}"; do
	if wanted "$t"; then
		log "setting up $t"
		"setup_$t"
		if [ "${STATUS[$t]}" = ok ] && ! check_shared "$t"; then
			STATUS[$t]="n/a: a file written through ${DIR[$t]} was not read back whole through ${DIR2[$t]} within 5 s"
		fi
	else
		STATUS[$t]="n/a: not selected (--targets $TARGETS)"
	fi
	log "$t: ${STATUS[$t]}"
	[ "${STATUS[$t]}" = ok ] && ACTIVE+=("$t")
done
[ ${#ACTIVE[@]} -gt 0 ] || die "no target could be set up"

# --------------------------------------------------------------- measurement
log "base $BASE; files=$FILES lat-files=$LAT_FILES R=$R seq=${SEQ_MIB}MiB rand=${RAND_MIB}MiB/${RAND_SECS}s; drop caches: $DROP"

for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		log "meta_bench $t (run $r/$R)"
		run_meta "$t" "${DIR[$t]}" -n "$FILES"
	done
done

# Two mounts at once: each mount's meta_bench in its own subdirectory,
# started together.  The aggregate rate of a phase is both runs' operations
# over the longer of the two phase times (the phases need not line up
# exactly, so this is the conservative figure).
pair_run() {
	local t=$1 oa=$BASE/pair-a.out ob=$BASE/pair-b.out pa pb ra=0 rb=0 op na nb sa sb
	mkdir -p "${DIR[$t]}/pair-a" "${DIR2[$t]}/pair-b"
	timeout --kill-after=10 900 "$META_BENCH" -n "$FILES" "${DIR[$t]}/pair-a" >"$oa" 2>&1 & pa=$!
	timeout --kill-after=10 900 "$META_BENCH" -n "$FILES" "${DIR2[$t]}/pair-b" >"$ob" 2>&1 & pb=$!
	wait "$pa" || ra=$?
	wait "$pb" || rb=$?
	if [ "$ra" != 0 ] || [ "$rb" != 0 ]; then
		log "$t: two mounts at once failed: A (rc=$ra): $(oneline "$(tail -n 2 "$oa")") B (rc=$rb): $(oneline "$(tail -n 2 "$ob")")"
	else
		for op in "${META_OPS[@]}"; do
			na=$(meta_field "$(cat "$oa")" "$op" n) sa=$(meta_field "$(cat "$oa")" "$op" secs)
			nb=$(meta_field "$(cat "$ob")" "$op" n) sb=$(meta_field "$(cat "$ob")" "$op" secs)
			[ -n "$na" ] && [ -n "$nb" ] &&
				add "pair_$op" "$t" "$(awk -v a="$na" -v b="$nb" -v x="$sa" -v y="$sb" 'BEGIN { m = x > y ? x : y; if (m > 0) printf "%.1f", (a + b) / m }')"
		done
	fi
	rmdir "${DIR[$t]}/pair-a" "${DIR2[$t]}/pair-b" 2>/dev/null
	rm -f "$oa" "$ob"
}
for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		log "two mounts at once, meta_bench on each, $t (run $r/$R)"
		pair_run "$t"
	done
done

# Two mounts, one directory: meta_bench -w on both mounts in one shared
# directory (each run's names carry its pid), create then unlink, started
# together; the sum over the longer phase time, as above.  No hot spot on
# the parent means this sum approaches twice one mount's rate.
SAME_OPS=(create unlink)
same_run() {
	local t=$1 oa=$BASE/same-a.out ob=$BASE/same-b.out pa pb ra=0 rb=0 op na nb sa sb
	mkdir -p "${DIR[$t]}/same"
	timeout --kill-after=10 900 "$META_BENCH" -n "$FILES" -w same -o create,unlink "${DIR[$t]}" >"$oa" 2>&1 & pa=$!
	timeout --kill-after=10 900 "$META_BENCH" -n "$FILES" -w same -o create,unlink "${DIR2[$t]}" >"$ob" 2>&1 & pb=$!
	wait "$pa" || ra=$?
	wait "$pb" || rb=$?
	if [ "$ra" != 0 ] || [ "$rb" != 0 ]; then
		log "$t: two mounts in one directory failed: A (rc=$ra): $(oneline "$(tail -n 2 "$oa")") B (rc=$rb): $(oneline "$(tail -n 2 "$ob")")"
	else
		for op in "${SAME_OPS[@]}"; do
			na=$(meta_field "$(cat "$oa")" "$op" n) sa=$(meta_field "$(cat "$oa")" "$op" secs)
			nb=$(meta_field "$(cat "$ob")" "$op" n) sb=$(meta_field "$(cat "$ob")" "$op" secs)
			[ -n "$na" ] && [ -n "$nb" ] &&
				add "same_$op" "$t" "$(awk -v a="$na" -v b="$nb" -v x="$sa" -v y="$sb" 'BEGIN { m = x > y ? x : y; if (m > 0) printf "%.1f", (a + b) / m }')"
		done
	fi
	rmdir "${DIR[$t]}/same" 2>/dev/null
	rm -f "$oa" "$ob"
}
for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		log "two mounts in one directory, meta_bench -w on each, $t (run $r/$R)"
		same_run "$t"
	done
done

# Latency: µs per operation = the phase time over its count, on the mount
# whose kernel cache timeouts are all 0, so that every lookup and getattr
# goes to the filesystem (meta_bench's lookup is an O_PATH open, its
# getattr an fstat of one: see bench/meta_bench.c).
LAT_OPS=(create lookup getattr)
for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		log "latency pass ($LAT_FILES files), $t (run $r/$R)"
		if out=$(timeout --kill-after=10 900 "$META_BENCH" -n "$LAT_FILES" -o create,lookup,getattr "${DIRL[$t]}" 2>&1); then
			for op in "${LAT_OPS[@]}"; do
				n=$(meta_field "$out" "$op" n) s=$(meta_field "$out" "$op" secs)
				[ -n "$n" ] && add "lat_$op" "$t" "$(awk -v n="$n" -v s="$s" 'BEGIN { printf "%.1f", s / n * 1e6 }')"
			done
		else
			log "$t: latency meta_bench failed: $out"
		fi
	done
done

# Where CassaFS's latency goes: the engine's own round trips per phase
# (store_round_trips_total of the latency mount's /stats.json; all kernel
# requests of the phase: the create phase is LOOKUP + CREATE + FLUSH +
# RELEASE), and the requests its servers received per
# operation, from Redis's INFO commandstats and ZooKeeper's srvr counters,
# read by meta_bench's -x hook before and after each phase of one run over
# ACCT_N files on the latency mount, once they have settled (so that change
# notices handled by the other mounts are counted with the phase that
# caused them).  The getattr phase opens each file with O_PATH (a lookup)
# before its fstat, so getattr = that phase minus the lookup phase.  Most
# ZooKeeper traffic is asynchronous (notices read by the other mounts, in
# batches), so it is given per file over the whole run, not per phase.
# The hook leaves the work directory first: with attr_timeout=0 every
# process it starts there would cost CassaFS a GETATTR of it.
ACCT_N=300
declare -A ACCT
if [ "${STATUS[cassafs]}" = ok ]; then
	log "counting CassaFS's server requests per operation ($ACCT_N files)"
	cat >"$BASE/acct-hook.sh" <<EOF
rc() { REDISCLI_AUTH="\$CASSAFS_REDIS_PASSWORD" redis-cli -p $REDIS_PORT info commandstats |
	awk -F'[:=,]' '/^cmdstat_/ && \$1 != "cmdstat_info" { s += \$3 } END { print s + 0 }'; }
zc() { (exec 3<>/dev/tcp/127.0.0.1/$ZK_PORT && printf srvr >&3 && timeout 3 cat <&3) 2>/dev/null | awk '/^Received:/ { print \$2 }'; }
# wait (at most 30 s) until both counters settle: two seconds in a row
# with at most 3 more requests each (the idle sessions' pings)
r=\$(rc) z=\$(zc) quiet=0
for i in \$(seq 30); do
	sleep 1
	r2=\$(rc) z2=\$(zc)
	if [ \$((r2 - r)) -le 3 ] && [ \$((\${z2:-0} - \${z:-0})) -le 3 ]; then quiet=\$((quiet + 1)); else quiet=0; fi
	r=\$r2 z=\$z2
	[ \$quiet -ge 2 ] && break
done
rt=\$(curl -sf http://127.0.0.1:$METRICS_PORT/stats.json | jq '.counters.store_round_trips_total' 2>/dev/null)
echo "\$MB_PHASE \$r \${z:-?} \${rt:-?}" >>"$BASE/acct.log"
EOF
	rm -f "$BASE/acct.log"
	if out=$(timeout --kill-after=10 300 "$META_BENCH" -n "$ACCT_N" -o create,stat,open,lookup,getattr,rename,unlink,mkdir,rmdir \
		-x "cd / && exec bash $BASE/acct-hook.sh" "${DIRL[cassafs]}" 2>&1); then
		# acct.log: "phase redis zk roundtrips" lines: start, then
		# one per phase
		while read -r op v; do
			ACCT[$op]=$v
		done < <(awk -v n="$ACCT_N" '
			{ ph[NR] = $1; r[NR] = $2; z[NR] = $3; t[NR] = $4 }
			END {
				for (i = 2; i <= NR; i++) {
					dr[ph[i]] = (r[i] - r[i - 1]) / n
					dt[ph[i]] = (t[i] == "?" || t[i - 1] == "?") ? -1 : (t[i] - t[i - 1]) / n
				}
				if (("lookup" in dr) && ("getattr" in dr)) { dr["getattr"] -= dr["lookup"]; dt["getattr"] -= dt["lookup"] }
				for (p in dr) printf "%s %.1f\n", p, dr[p]
				for (p in dt) if (dt[p] >= 0) printf "rt_%s %.2f\n", p, dt[p]
				if (NR >= 2) printf "zk %s\n", (z[NR] == "?" || z[1] == "?") ? "?" : sprintf("%.1f", (z[NR] - z[1]) / n)
			}' "$BASE/acct.log")
		# and per FUSE request type, from the same mount's counters
		ACCT[per_request]=$(curl -sf "http://127.0.0.1:$METRICS_PORT/stats.json" |
			jq -r '[.ops | to_entries[] | select(.value.count > 0 and (.key | test("^(lookup|getattr|create|open|release|flush|unlink|rename|mkdir|rmdir|readdirplus|readdir|opendir|releasedir)$")))
				| "\(.key) \(.value.round_trips / .value.count * 100 | round / 100)"] | join(", ")' 2>/dev/null)
	else
		log "cassafs: accounting run failed: $out"
	fi
fi

for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		log "sequential write+read ${SEQ_MIB} MiB $t (run $r/$R)"
		fio_seq "$t" "${DIR[$t]}" "$SEQ_MIB"
	done
done

for t in "${ACTIVE[@]}"; do
	log "laying out the ${RAND_MIB} MiB random-I/O file on $t"
	fio_rand_layout "$t" "${DIR[$t]}" "$RAND_MIB"
done
for ((r = 1; r <= R; r++)); do
	for t in "${ACTIVE[@]}"; do
		log "random 4 KiB read, then write, ${RAND_SECS} s each, $t (run $r/$R)"
		fio_rand "$t" "${DIR[$t]}" "$RAND_MIB" "$RAND_SECS"
	done
done
for t in "${ACTIVE[@]}"; do rm -f "${DIR[$t]}/bench.rand"; done

# -------------------------------------------------------------------- report
# key | label | unit | target kind (x = at least N × GlusterFS, ge = at
# least N, le = at most N, - = none) | N
WORKLOADS=""
for op in "${META_OPS[@]}"; do
	u=ops/s; [ "$op" = readdir ] && u=entries/s
	l=$op; [ "$op" = open ] && l="open + close"
	WORKLOADS+="$op|$l|$u|x|3"$'\n'
done
for op in "${META_OPS[@]}"; do
	u=ops/s; [ "$op" = readdir ] && u=entries/s
	l=$op; [ "$op" = open ] && l="open + close"
	WORKLOADS+="pair_$op|two mounts at once: $l (sum)|$u|x|3"$'\n'
done
for op in "${SAME_OPS[@]}"; do
	WORKLOADS+="same_$op|two mounts, one directory: $op (sum)|ops/s|self|1.8"$'\n'
done
WORKLOADS+="lat_create|latency: create (open O_CREAT + close)|µs|le|285
lat_lookup|latency: lookup (open O_PATH + close)|µs|le|87
lat_getattr|latency: getattr (fstat)|µs|le|45
seqwrite|sequential write ${SEQ_MIB} MiB, bs 1M, end_fsync|MiB/s|ge|200
seqread|sequential read ${SEQ_MIB} MiB, bs 1M|MiB/s|ge|200
randread|random read 4 KiB, psync|IOPS|-|0
randwrite|random write 4 KiB, psync, no fsync|IOPS|-|0"

# verdict KIND N CASSAFS GLUSTER -> "target|met?" cells
verdict() {
	awk -v k="$1" -v n="$2" -v c="$3" -v g="$4" 'BEGIN {
		if (k == "-") { print "none|"; exit }
		if (k == "x") target = "≥ " n "× GlusterFS"
		else if (k == "self") target = "≥ " n "× one mount"
		else if (k == "ge") target = "≥ " n
		else target = "≤ " n " (half of JuiceFS on Redis)"
		if (c == "") { print target "|n/a (no CassaFS figure)"; exit }
		if (k == "x" || k == "self") {
			if (g == "") { print target "|n/a (no comparison figure)"; exit }
			need = n * g
		} else need = n
		if (k == "le") ok = (c + 0 <= need); else ok = (c + 0 >= need)
		rel = (k == "le") ? (ok ? "≤" : ">") : (ok ? "≥" : "<")
		printf "%s|%s: %s %s %s\n", target, ok ? "met" : "**missed**", fmtn(c), rel, fmtn(need)
	}
	function fmtn(x) { return (x < 100) ? sprintf("%.1f", x) : sprintf("%.0f", x) }' | commas
}

# " (built from commit X)" when CASSAFS is this tree's own build
cfs_build() {
	[ "$(readlink -f "$CASSAFS")" = "$ROOT/build/cassafs" ] || return 0
	local c
	c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || return 0
	git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || c+=" with local changes in src/"
	printf ' (built from commit %s)' "$c"
}

mount_desc() {  # target
	local t=$1
	case $t in
	cassafs)
		echo "- CassaFS $("$CASSAFS" --version 2>/dev/null | awk '{print $NF; exit}')$(cfs_build): \`cassafs ${MKFS[*]} $CFS_URL\`," \
			"three mounts of that one filesystem (\`cassafs mount --coord $CFS_COORD -o ${CASSAFS_MOUNT_OPTS:+$CASSAFS_MOUNT_OPTS,}log_file=LOG $CFS_URL MNT\`," \
			"the latency one with $LAT_OPTS added); Redis $(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-)" \
			"with \`appendonly yes\`, \`appendfsync everysec\`, password from \$CASSAFS_REDIS_PASSWORD; ZooKeeper" \
			"$(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null) standalone (tickTime 500 ms), digest credentials from" \
			"\$CASSAFS_ZK_CREDENTIALS_FILE. Mount: \`$(fuse_line "$BASE/cfs-a")\`. Kernel cache timeouts otherwise at CassaFS's defaults:"
		# the three timeout lines of the help, continuation lines joined
		"$CASSAFS" mount --help 2>&1 | awk '
			/^[[:space:]]*(attr|entry|negative)_timeout=/ { if (l != "") print l; sub(/^[[:space:]]*/, ""); l = $0; next }
			l != "" && /^[[:space:]]+[^[:space:]]/ && $1 !~ /=/ { sub(/^[[:space:]]*/, " "); l = l $0; next }
			l != "" { print l; l = "" }
			END { if (l != "") print l }' | sed -E 's/  +/ /g; s/^/  - /'
		;;
	glusterfs)
		echo "- GlusterFS $(glusterfs --version 2>/dev/null | awk '{print $2; exit}'): one volume, one brick (\`$(hostname):<loop ext4>/gl-brick/b\`)," \
			"glusterd and brick in network namespace $NS (loopback only), three FUSE clients started with \`nsenter --net\`;" \
			"volume options at their defaults (so the client's md-cache, io-cache, write-behind and read-ahead are on)." \
			"Mount: \`$(fuse_line "$BASE/gl-a")\`; kernel timeouts: glusterfs defaults (attribute and entry 1 s," \
			"negative 0); the latency client with \`--attribute-timeout=0 --entry-timeout=0 --negative-timeout=0\`."
		;;
	sshfs)
		echo "- sshfs $(sshfs --version 2>&1 | awk '/SSHFS version/ { print $3 }') over OpenSSH" \
			"$(dpkg-query -W -f '${Version}' openssh-server 2>/dev/null) on 127.0.0.1:$SSH_PORT (ed25519 key, sftp-server)," \
			"three mounts of one directory; sshfs defaults (its own directory/attribute cache on, kernel entry and attribute" \
			"timeouts 1 s); the latency mount with \`-o $LAT_OPTS\`. Mount: \`$(fuse_line "$BASE/ssh-a")\`."
		;;
	esac
}

report() {
	local key label unit kind n c g s ratio vt target mark t
	echo "### Distributed benchmark: CassaFS (Redis + ZooKeeper), GlusterFS, sshfs"
	echo
	echo "Command: \`$CMDLINE\`${CASSAFS_MOUNT_OPTS:+ with CASSAFS_MOUNT_OPTS=$CASSAFS_MOUNT_OPTS}  "
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC')  "
	machine_line
	echo "Data of all three (Redis's AOF, ZooKeeper's dataDir, the GlusterFS brick, sshd's directory): $FS_NOTE. Every server on 127.0.0.1" \
		"(GlusterFS's in a private network namespace), so no target pays for a real network.  "
	echo "Parameters: meta_bench over $(commas <<<"$FILES") files in one directory, one thread, per mount; latency pass over" \
		"$(commas <<<"$LAT_FILES") files; sequential file ${SEQ_MIB} MiB; random I/O on a ${RAND_MIB} MiB file for" \
		"${RAND_SECS} s per run (fio psync, iodepth 1); $R run(s) per measurement, targets alternating, medians shown.  "
	if [ "$DROP" = yes ]; then
		echo "Page cache: dropped (sync; echo 3 > /proc/sys/vm/drop_caches) between the sequential write and read and before each random read."
	else
		echo "Page cache: NOT dropped (not root): reads may come from memory."
	fi
	echo
	echo "- Metadata rates and I/O: one mount per target with its default cache settings (below), so \`stat\` and" \
		"\`open\` may be answered from the kernel's caches, and those rows compare cache policies as much as" \
		"filesystems: see the attribute and entry timeouts of each under Mounts."
	echo "- Two mounts at once: two mounts (clients) of the same filesystem, each running meta_bench in its own" \
		"subdirectory at the same time; the figure is both runs' operations over the longer of the two phase times."
	echo "- Two mounts, one directory: the same, but both runs create and then unlink their own names in one shared" \
		"directory (\`meta_bench -w\`); the target compares it with one mount's rate (no hot spot on the parent)."
	echo "- Latency: µs per operation (phase time / count) on a third mount with **attribute, entry and negative" \
		"timeouts 0**, so the kernel caches answer nothing: every name resolution is a FUSE LOOKUP and every" \
		"fstat a GETATTR (with default_permissions, a path walk also fetches the parent's attributes). lookup =" \
		"\`open(name, O_PATH)\` + close (no OPEN/RELEASE is sent), getattr = \`fstat\` of such a descriptor, create =" \
		"\`open(O_CREAT|O_EXCL)\` + close. The targets (create 285 µs, lookup 87 µs, getattr 45 µs) are half of JuiceFS's" \
		"published Redis results (570, 173, 87 µs), measured on its metadata engine without FUSE, so they are strict. User-space" \
		"caches (GlusterFS's md-cache, sshfs's cache) stay at their defaults."
	echo
	echo "Mounts:"
	echo
	for t in "${ALL_TARGETS[@]}"; do
		if [ "${STATUS[$t]}" = ok ]; then mount_desc "$t"; else echo "- $t: ${STATUS[$t]}"; fi
	done
	echo
	echo "| workload | unit | CassaFS | GlusterFS | sshfs | CassaFS/GlusterFS | target | met? |"
	echo "|---|---|---:|---:|---:|---:|---|---|"
	while IFS='|' read -r key label unit kind n; do
		[ -n "$key" ] || continue
		# shellcheck disable=SC2086  # the values are a space-separated list
		c=$(median ${VALS["$key|cassafs"]:-}); g=$(median ${VALS["$key|glusterfs"]:-}); s=$(median ${VALS["$key|sshfs"]:-})
		ratio=$(awk -v g="$g" -v c="$c" 'BEGIN { if (g != "" && c != "" && g > 0) printf "%.2f×", c / g; else print "—" }')
		if [ "$kind" = self ]; then
			# against CassaFS's own one-mount rate of the same operation
			# shellcheck disable=SC2086
			vt=$(verdict "$kind" "$n" "$c" "$(median ${VALS["${key#same_}|cassafs"]:-})")
		else
			vt=$(verdict "$kind" "$n" "$c" "$g")
		fi
		target=${vt%%|*} mark=${vt#*|}
		[ "${STATUS[cassafs]}" = ok ] || { [ "$kind" = - ] || mark="n/a (CassaFS not measured)"; }
		echo "| $label | $unit | $(fmt "$c") | $(fmt "$g") | $(fmt "$s") | $ratio | $target | $mark |"
	done <<<"$WORKLOADS"
	if [ -n "${ACCT[rt_create]:-}" ]; then
		echo
		echo "Store round trips counted by CassaFS's engine (latency mount, every kernel cache timeout 0, $ACCT_N files;" \
			"per file, all kernel requests of the phase): create ${ACCT[rt_create]} (LOOKUP + CREATE + FLUSH + RELEASE)," \
			"stat ${ACCT[rt_stat]:-?}, open + close ${ACCT[rt_open]:-?}, lookup ${ACCT[rt_lookup]:-?}," \
			"getattr ${ACCT[rt_getattr]:-?}, rename ${ACCT[rt_rename]:-?}, unlink ${ACCT[rt_unlink]:-?}," \
			"mkdir ${ACCT[rt_mkdir]:-?}, rmdir ${ACCT[rt_rmdir]:-?}.  Per FUSE request: ${ACCT[per_request]:-?}."
	fi
	if [ -n "${ACCT[getattr]:-}" ]; then
		echo
		echo "CassaFS's requests to its servers, from Redis's INFO commandstats and ZooKeeper's srvr counters read" \
			"(once settled) around each phase of a meta_bench run over $ACCT_N files on the latency mount: Redis" \
			"commands per create ${ACCT[create]}, per lookup ${ACCT[lookup]}, per getattr ${ACCT[getattr]}," \
			"per open + close ${ACCT[open]:-?}, per rename ${ACCT[rename]:-?}, per unlink ${ACCT[unlink]:-?}," \
			"per mkdir ${ACCT[mkdir]:-?}, per rmdir ${ACCT[rmdir]:-?};" \
			"ZooKeeper requests per file over the whole run (create + lookup + getattr, from all three mounts, mostly" \
			"change notices) ${ACCT[zk]:-?}."
	fi
	echo
	echo "<details><summary>all runs</summary>"
	echo
	while IFS='|' read -r key label unit kind n; do
		[ -n "$key" ] || continue
		local line="$key:"
		for t in "${ALL_TARGETS[@]}"; do line+=" $t=[${VALS["$key|$t"]:-}]"; done
		echo "    $line"
	done <<<"$WORKLOADS"
	echo
	echo "</details>"
}

RESULT=$(report)
echo "$RESULT"

if [ "$WRITE_DOCS" = 1 ]; then
	doc=$ROOT/docs/benchmarks-distributed.md
	mkdir -p "$ROOT/docs"
	[ -f "$doc" ] || printf '# CassaFS distributed benchmark\n\nWritten by `bench/run_dist.sh --write-docs`; re-run it to refresh the section below.\nThe packages it needs are in `.ci/packages.d/distbench`; it is not part of `make test`.\n' >"$doc"
	content=$(mktemp)
	printf '%s\n' "$RESULT" >"$content"
	replace_block "$doc" bench-dist "$content"
	rm -f "$content"
	echo "wrote $doc" >&2
fi
