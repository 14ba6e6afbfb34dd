# shellcheck shell=bash
# Shared by the bench/ scripts (sourced, not run).

# replace_block FILE TAG CONTENTFILE: replace the lines between
# "<!-- BEGIN TAG -->" and "<!-- END TAG -->" in FILE with CONTENTFILE,
# or append such a block if FILE has none, so that each script owns one
# section of docs/benchmarks.md and re-running it refreshes only that.
replace_block() {
	local f=$1 tag=$2 content=$3 tmp
	tmp=$(mktemp)
	if grep -q "^<!-- BEGIN $tag -->\$" "$f"; then
		awk -v tag="$tag" -v cf="$content" '
			$0 == "<!-- BEGIN " tag " -->" { print; while ((getline l < cf) > 0) print l; skip = 1; next }
			$0 == "<!-- END " tag " -->" { skip = 0 }
			!skip { print }' "$f" >"$tmp"
	else
		{ cat "$f"; printf '\n<!-- BEGIN %s -->\n' "$tag"; cat "$content"; printf '<!-- END %s -->\n' "$tag"; } >"$tmp"
	fi
	cat "$tmp" >"$f"
	rm -f "$tmp"
}

# write_docs ROOT TAG TEXT: put TEXT into docs/benchmarks.md (created if
# missing) and into README.md too if README.md already has the TAG markers.
write_docs() {
	local root=$1 tag=$2 text=$3 doc content
	doc=$root/docs/benchmarks.md
	mkdir -p "$root/docs"
	[ -f "$doc" ] || printf '# CassaFS benchmarks\n\nWritten by the scripts in bench/ with `--write-docs`; re-run them to refresh a section.\n' >"$doc"
	content=$(mktemp)
	printf '%s\n' "$text" >"$content"
	replace_block "$doc" "$tag" "$content"
	echo "wrote $doc" >&2
	if [ -f "$root/README.md" ] && grep -q "^<!-- BEGIN $tag -->\$" "$root/README.md"; then
		replace_block "$root/README.md" "$tag" "$content"
		echo "updated README.md" >&2
	fi
	rm -f "$content"
}

# ------------------------------------------------------------------------
# Measurement helpers shared by run_core.sh and run_dist.sh.  The sourcing
# script sets ME (its name, for messages) and BASE (its work directory)
# before calling them; VALS collects "workload|target" -> values.

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "${ME:-bench}: $*" >&2; exit 1; }

is_mounted() { mountpoint -q "$1" 2>/dev/null; }

wait_mounted() {  # dir seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		is_mounted "$1" && return 0
		sleep 0.1
	done
	return 1
}

# unmount_quietly DIR [CMD...]: CMD (e.g. "cassafs umount") first if given,
# then umount, then a lazy umount, so that cleanup never stops half-way.
unmount_quietly() {
	local d=$1
	shift
	is_mounted "$d" || return 0
	local out
	if [ $# -gt 0 ]; then
		out=$(timeout 60 "$@" "$d" 2>&1) && return 0
		log "'$* $d' failed: $(tr '\n' ' ' <<<"$out")"
		is_mounted "$d" || return 0
	fi
	umount "$d" 2>/dev/null || umount -l "$d"
}

# stop_fuse MOUNTPOINT PID: unmount, then wait for the daemon PID to end.
# A process that made a mount namespace meanwhile (ip netns exec, unshare:
# other sessions on this machine) holds a copy of the mount, and then the
# daemon is never told to finish ('cassafs umount' would wait for it in
# vain): after 5 s it is stopped by its pid (SIGTERM: it finishes its work
# and exits), after 30 s more killed.
stop_fuse() {
	local m=$1 pid=$2 i
	umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	[ -n "$pid" ] || return 0
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill "$pid" 2>/dev/null
	for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	log "daemon $pid of $m still running 35 s after its unmount: killing it"
	kill -9 "$pid" 2>/dev/null
	return 1
}

# The root filesystem here is ext4 without a journal, where ext4 avoids
# reusing an inode for 60-300 s after it was freed (fs/ext4/ialloc.c,
# recently_deleted()): after one round of 10,000 unlinks the next round's
# creates scan past them all and drop from ~40,000/s to ~2,000/s on plain
# and bindfs alike.  So by default every target's data lives on a fresh,
# default-formatted (journaled) ext4 in a loop device with direct I/O (no
# second page cache for the image file), which also keeps the runs
# independent of whatever else the machine's disk holds.
# setup_loop: sets WORK=$BASE/fs and LOOPDEV; FS_NOTE describes it.
LOOPDEV=
setup_loop() {
	local img=$BASE/scratch.img err
	truncate -s 16G "$img" || return 1
	err=$(mkfs.ext4 -q -F "$img" 2>&1) || { log "mkfs.ext4 $img: $err"; return 1; }
	LOOPDEV=$(losetup --direct-io=on -f --show "$img" 2>&1) || { log "losetup: $LOOPDEV"; LOOPDEV=; return 1; }
	mkdir -p "$BASE/fs"
	err=$(mount "$LOOPDEV" "$BASE/fs" 2>&1) || { log "mount $LOOPDEV: $err"; return 1; }
	# shellcheck disable=SC2034  # WORK and FS_NOTE are for the sourcing script
	WORK=$BASE/fs
	# shellcheck disable=SC2034
	FS_NOTE="a fresh ext4 (mkfs.ext4 defaults, journaled) on $LOOPDEV, a 16 GiB sparse image in $(dirname "$BASE") opened with --direct-io=on"
}

# teardown_loop: unmount it, free the device, and remove BASE unless a
# mount is still inside (never rm -rf through a mount).
teardown_loop() {
	unmount_quietly "$BASE/fs"
	[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV"
	LOOPDEV=
	if ! grep -q " $BASE/" /proc/mounts; then
		rm -rf "$BASE"
	else
		echo "${ME:-bench}: $BASE still has a mount; left in place" >&2
	fi
}

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
# Bounded by RAND_SECS + 900 s, so a hung FUSE daemon costs one
# measurement, not the run.
run_fio() {
	local t=$1 field=$2 name=$3 out rc line
	shift 3
	out=$(timeout --kill-after=10 "$((${RAND_SECS:-0} + 900))" fio --name="$name" "${FIO_COMMON[@]}" "$@" 2>&1)
	rc=$?
	line=$(grep '^3;' <<<"$out" | tail -n 1)
	if [ $rc -ne 0 ] || [ -z "$line" ] || [ "$(cut -d';' -f5 <<<"$line")" != 0 ]; then
		log "$t: fio $name failed (rc=$rc): $(grep -v '^3;' <<<"$out" | tail -n 3 | tr '\n' ' ')"
		return 1
	fi
	cut -d';' -f"$field" <<<"$line"
}

# fio_seq TARGET DIR MIB: sequential write (bs 1M, end_fsync) then read
# after dropping the page cache; adds seqwrite/seqread in MiB/s.
fio_seq() {
	local t=$1 f=$2/bench.seq mib=$3 v
	if v=$(run_fio "$t" 48 seqwrite --filename="$f" --rw=write --bs=1M --size="${mib}M" --end_fsync=1); then
		add seqwrite "$t" "$(awk -v k="$v" 'BEGIN { printf "%.1f", k / 1024 }')"
		drop_caches
		if v=$(run_fio "$t" 7 seqread --filename="$f" --rw=read --bs=1M --size="${mib}M"); then
			add seqread "$t" "$(awk -v k="$v" 'BEGIN { printf "%.1f", k / 1024 }')"
		fi
	fi
	rm -f "$f"
}

# fio_rand_layout TARGET DIR MIB, then fio_rand TARGET DIR MIB SECS (any
# number of times): random 4 KiB read then write, psync; adds
# randread/randwrite in IOPS.
fio_rand_layout() {
	run_fio "$1" 48 layout --filename="$2/bench.rand" --rw=write --bs=1M \
		--size="$3M" --end_fsync=1 >/dev/null || log "$1: layout failed"
}
fio_rand() {
	local t=$1 f=$2/bench.rand mib=$3 secs=$4 v
	[ -f "$f" ] || return 0
	drop_caches
	v=$(run_fio "$t" 8 randread --filename="$f" --rw=randread --bs=4k --size="${mib}M" \
		--time_based --runtime="$secs") && add randread "$t" "$v"
	v=$(run_fio "$t" 49 randwrite --filename="$f" --rw=randwrite --bs=4k --size="${mib}M" \
		--time_based --runtime="$secs") && add randwrite "$t" "$v"
}

META_OPS=(create stat open readdir rename unlink mkdir rmdir)

# meta_field OUTPUT OP FIELD: FIELD (n, secs, rate) of meta_bench's line
# for OP, or nothing.
meta_field() {
	awk -v op="$2" -v f="$3" '$2 == "op=" op {
		for (i = 3; i <= NF; i++) if (index($i, f "=") == 1) { print substr($i, length(f) + 2); exit } }' <<<"$1"
}

# run_meta TARGET DIR [meta_bench args…]: one meta_bench run (bounded);
# adds the rate of every op it printed under its name.
run_meta() {
	local t=$1 d=$2 out op v
	shift 2
	if out=$(timeout --kill-after=10 900 "$META_BENCH" "$@" "$d" 2>&1); then
		for op in "${META_OPS[@]}"; do
			v=$(meta_field "$out" "$op" rate)
			[ -n "$v" ] && add "$op" "$t" "$v"
		done
	else
		log "$t: meta_bench failed: $out"
		return 1
	fi
}

median() {  # values… -> median, or empty
	printf '%s\n' "$@" | grep . | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

fmt() {  # number -> thousands-separated integer, or the decimal for small values
	awk -v x="$1" 'BEGIN {
		if (x == "") { print "—"; exit }
		if (x < 100) { printf "%.1f\n", x; exit }
		s = sprintf("%.0f", x); o = ""
		while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
		print s o }'
}

# commas: a filter putting thousands separators into the integers of 4+
# digits of its input.
commas() { sed -E ':a; s/([0-9])([0-9]{3})([^0-9]|$)/\1,\2\3/; ta'; }

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

machine_line() {
	local host_cpu mem
	host_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
	echo "Machine: $(nproc) CPUs ($host_cpu), $mem RAM, kernel $(uname -r), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")$(damon_note)  "
}

fuse_line() { awk -v m="$1" '$2 == m { print $3" "$4 }' /proc/mounts; }

# ---- helpers of the benches that start their own servers ----

# kill_pidfile FILE: stop the process whose id FILE holds (TERM, then KILL
# after 5 s); only processes the bench started have their ids there.
kill_pidfile() {
	local pid i
	[ -s "$1" ] || return 0
	pid=$(cat "$1")
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
oneline() { tr '\n' ' ' <<<"$1" | sed 's/ *$//' | cut -c1-400; }
secret() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | cut -c1-24; }
# daemon_of MOUNTPOINT: pid of the CassaFS daemon serving it (its pid file)
daemon_of() {
	local f
	for f in /run/cassafs/*.pid; do
		[ -f "$f" ] && [ "$(sed -n 2p "$f")" = "$1" ] && { sed -n 1p "$f"; return; }
	done
}

# ---- a one-brick GlusterFS volume "benchvol": glusterd in the network
# namespace $NS (its port 24007 is fixed), its files under $GLD ----

# nsenter --net, not "ip netns exec": that also makes a new mount
# namespace, a private copy of every mount there is at the time, and a FUSE
# filesystem still mounted in such a copy does not end when it is unmounted
# here (its daemon keeps running while glusterd lives).
INNS() { nsenter --net="/run/netns/$NS" "$@"; }
G() { INNS gluster --glusterd-sock="$GLD/run/glusterd.socket" --mode=script "$@"; }

# gluster_start BRICKDIR: make $NS, start glusterd and the volume with its
# brick in BRICKDIR/b; on failure print the reason and return 1.
gluster_start() {
	local brick=$1 host addr err i
	command -v glusterd >/dev/null || { echo "glusterd not installed (glusterfs-server)"; return 1; }
	# glusterd refuses localhost as a brick host; the machine's name must
	# resolve to a loopback address so that, inside the namespace (which
	# has only lo), it reaches glusterd and the brick and nothing else
	host=$(hostname)
	addr=$(getent hosts "$host" | awk '{ print $1; exit }')
	case "$addr" in
	127.*) ;;
	*) echo "the hostname '$host' resolves to '${addr:-nothing}', not a 127.x address; add it to /etc/hosts"; return 1 ;;
	esac
	err=$(ip netns add "$NS" 2>&1 && INNS ip link set lo up 2>&1) ||
		{ echo "cannot make network namespace $NS: $(oneline "$err")"; return 1; }
	mkdir -p "$GLD/wd" "$GLD/run" "$GLD/log" "$brick"
	cp -r /var/lib/glusterd/groups /var/lib/glusterd/hooks "$GLD/wd/" 2>/dev/null
	cat >"$GLD/glusterd.vol" <<VOL
volume management
    type mgmt/glusterd
    option working-directory $GLD/wd
    option run-directory $GLD/run
    option glusterd-sockfile $GLD/run/glusterd.socket
    option transport-type socket
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
    option max-port 60999
end-volume
VOL
	err=$(INNS glusterd -f "$GLD/glusterd.vol" -p "$GLD/run/glusterd.pid" \
		-l "$GLD/log/glusterd.log" --log-level WARNING 2>&1) ||
		{ echo "glusterd failed: $(oneline "$err")"; return 1; }
	for ((i = 0; i < 100; i++)); do G volume list >/dev/null 2>&1 && break; sleep 0.2; done
	if ! err=$(G volume create benchvol "$host:$brick/b" force 2>&1) ||
	   ! err=$(G volume start benchvol 2>&1); then
		echo "gluster volume create/start failed: $(oneline "$err")"; return 1
	fi
}

# gluster_stop BRICKDIR: stop everything in $NS (all of it started by the
# bench: glusterd, the brick, any client left) and remove the namespace;
# the brick's socket and log are in glusterd's fixed places: removed too.
gluster_stop() {
	local pid socks=()
	if [ -e "/run/netns/$NS" ]; then
		for pid in $(ip netns pids "$NS" 2>/dev/null); do
			mapfile -t -O "${#socks[@]}" socks < <(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n '/^-S$/{n;p}')
			kill "$pid" 2>/dev/null
		done
		sleep 1
		for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$NS" 2>/dev/null
		for pid in "${socks[@]}"; do case $pid in /var/run/gluster/*.socket|/run/gluster/*.socket) rm -f "$pid" ;; esac; done
		rm -f "/var/log/glusterfs/bricks/$(sed 's|^/||; s|/|-|g' <<<"$1/b").log"
	fi
	rm -rf "/etc/netns/$NS"
}
