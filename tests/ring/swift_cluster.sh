# tests/ring/swift_cluster.sh — real Swift storage servers for the ring data
# tier, sourced by tests (and bench/): several swift-object-server processes
# on 127.0.0.1, one device each in its own zone (directories, mount_check =
# false), one swift-container-server holding three container devices, and
# the object and container rings built with `cassafs ring`.
#
#   swift_cluster_start DIR BASEPORT [NOBJ]   object servers BASEPORT..,
#        container server BASEPORT+20; rings in DIR/etc; sets SC_URL
#   swift_obj_kill N / swift_obj_start N      stop / start object server N
#   swift_cont_kill / swift_cont_start        stop / start the container server
#   swift_obj_add N                           a new object server N (device
#        dN, port BASEPORT+N-1) not yet in the ring
#   swift_cluster_stop                        every server started here
#
# Swift's servers read the hash path secrets from /etc/swift/swift.conf;
# one is written (Debian's defaults) only if none exists.
SC_PIDS=()
declare -A SC_OBJ_PID=()

sc_conf() { # KIND PORT DEVICES_DIR FILE
	cat >"$4" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
devices = $3
mount_check = false
workers = 0
swift_dir = $SC_DIR/etc
log_level = WARNING
log_name = sc-$1-$2
disable_fallocate = true
[pipeline:main]
pipeline = $1-server
[app:$1-server]
use = egg:swift#$1
CONF
}

sc_wait() { # PORT DEVICE [PATH]: the server answers for its device
	local i code p=${3:-/cassafs-probe/probe/probe}
	for i in $(seq 150); do
		code=$(curl -s -o /dev/null -w '%{http_code}' -I \
			"http://127.0.0.1:$1/$2/0$p" 2>/dev/null)
		case "$code" in 404|204|200) return 0 ;; esac
		sleep 0.2
	done
	echo "server on port $1 did not answer for $2" >&2
	return 1
}

swift_obj_start() {
	local n=$1 port=$((SC_BASE + $1 - 1))
	mkdir -p "$SC_DIR/obj$n/d$n"
	swift-object-server "$SC_DIR/obj$n.conf" >>"$SC_DIR/obj$n.log" 2>&1 &
	SC_OBJ_PID[$n]=$!
	SC_PIDS+=($!)
	sc_wait "$port" "d$n"
}

swift_obj_add() {
	sc_conf object $((SC_BASE + $1 - 1)) "$SC_DIR/obj$1" "$SC_DIR/obj$1.conf"
	swift_obj_start "$1"
}

swift_obj_kill() {
	local p=${SC_OBJ_PID[$1]:-}
	[ -n "$p" ] || return 1
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	unset "SC_OBJ_PID[$1]"
	return 0
}

swift_cont_kill() {
	[ -n "${SC_CONT_PID:-}" ] || return 1
	kill -9 "$SC_CONT_PID" 2>/dev/null
	wait "$SC_CONT_PID" 2>/dev/null
	SC_CONT_PID=
}

swift_cont_start() {
	swift-container-server "$SC_DIR/cont.conf" >>"$SC_DIR/cont.log" 2>&1 &
	SC_CONT_PID=$!
	SC_PIDS+=($!)
	sc_wait $((SC_BASE + 20)) c1
}

swift_cluster_start() {
	SC_DIR=$1 SC_BASE=$2 SC_NOBJ=${3:-4}
	local n c cport=$(($2 + 20))
	mkdir -p "$SC_DIR/etc"
	if [ ! -e /etc/swift/swift.conf ]; then
		mkdir -p /etc/swift
		printf '[swift-hash]\nswift_hash_path_suffix = changeme\nswift_hash_path_prefix = changeme\n' \
			>/etc/swift/swift.conf
	fi
	"$CASSAFS" ring "$SC_DIR/etc/object.builder" create 6 3 0 >/dev/null || return 1
	for n in $(seq "$SC_NOBJ"); do
		"$CASSAFS" ring "$SC_DIR/etc/object.builder" add \
			"r1z$n-127.0.0.1:$((SC_BASE + n - 1))/d$n" 100 >/dev/null || return 1
		sc_conf object $((SC_BASE + n - 1)) "$SC_DIR/obj$n" "$SC_DIR/obj$n.conf"
	done
	"$CASSAFS" ring "$SC_DIR/etc/object.builder" rebalance --seed 1 >/dev/null
	[ -s "$SC_DIR/etc/object.ring.gz" ] || return 1
	"$CASSAFS" ring "$SC_DIR/etc/container.builder" create 4 3 0 >/dev/null || return 1
	for c in 1 2 3; do
		mkdir -p "$SC_DIR/cont/c$c"
		"$CASSAFS" ring "$SC_DIR/etc/container.builder" add \
			"r1z$c-127.0.0.1:$cport/c$c" 100 >/dev/null || return 1
	done
	"$CASSAFS" ring "$SC_DIR/etc/container.builder" rebalance --seed 1 >/dev/null
	[ -s "$SC_DIR/etc/container.ring.gz" ] || return 1
	sc_conf container "$cport" "$SC_DIR/cont" "$SC_DIR/cont.conf"
	swift-container-server "$SC_DIR/cont.conf" >>"$SC_DIR/cont.log" 2>&1 &
	SC_CONT_PID=$!
	SC_PIDS+=($!)
	for n in $(seq "$SC_NOBJ"); do
		# started together, waited for together: Python starts slowly
		mkdir -p "$SC_DIR/obj$n/d$n"
		swift-object-server "$SC_DIR/obj$n.conf" >>"$SC_DIR/obj$n.log" 2>&1 &
		SC_OBJ_PID[$n]=$!
		SC_PIDS+=($!)
	done
	for n in $(seq "$SC_NOBJ"); do
		sc_wait $((SC_BASE + n - 1)) "d$n" || return 1
	done
	sc_wait "$cport" c1 || return 1
	SC_URL="ring://$SC_DIR/etc/object.ring.gz?timeout=5"
}

swift_cluster_stop() {
	local p
	for p in "${SC_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${SC_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	SC_PIDS=()
}

# sc_nodes RING < KEYS: "KEY HASH URL..." per key, the primaries as Swift's
# own ring code places them (tests/ring/swift_nodes.py: what swift-get-nodes
# runs, one Python for all keys)
sc_nodes() { /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/swift_nodes.py" "$1"; }

# sc_placed RING NREPLICAS < KEYS: every key's NREPLICAS primaries have the
# object (HEAD 200 from curl, not our code: one curl for all the URLs);
# names each miss on stderr; 0 only if all do (and a key was given)
sc_placed() {
	local ring=$1 nrep=$2 cfg
	cfg=$(mktemp /tmp/sc_placed.XXXXXX) || return 1
	sc_nodes "$ring" | awk -v r="$nrep" -v cfg="$cfg" '
		{ if (NF - 2 != r) { print $1 ": " NF - 2 " primaries" > "/dev/stderr"; bad++ }
		  for (i = 3; i <= NF; i++) printf "url = \"%s\"\noutput = \"/dev/null\"\n", $i > cfg; n++ }
		END { exit (n == 0 || bad) }' || { rm -f "$cfg"; return 1; }
	curl -s -I --path-as-is -K "$cfg" -w '%{http_code} %{url}\n' |
		awk '$1 != 200 { print $2 " answers " $1 > "/dev/stderr"; bad++ }
		     { n++ } END { exit (n == 0 || bad) }'
	local rc=$?
	rm -f "$cfg"
	return $rc
}

# sc_copies RING < KEYS: "KEY N" per key, N the .data files for it on all
# object devices of the cluster (primaries, handoffs, anywhere)
sc_copies() {
	local ring=$1 f
	f=$(mktemp /tmp/sc_copies.XXXXXX) || return 1
	find "$SC_DIR"/obj*/ -name '*.data' | awk -F/ '{print $(NF-1)}' | sort | uniq -c |
		awk '{print $2, $1}' >"$f"
	sc_nodes "$ring" | awk -v f="$f" '
		BEGIN { while ((getline l < f) > 0) { split(l, a, " "); n[a[1]] = a[2] } }
		{ print $1, n[$2] + 0 }'
	rm -f "$f"
}
