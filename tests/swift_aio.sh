# tests/swift_aio.sh — a private OpenStack Swift all-in-one on 127.0.0.1,
# to be sourced by tests and benches (Debian's swift-proxy, swift-object,
# swift-container, swift-account, memcached; .ci/packages.d/swift).
#
#   swift_aio_start DIR [BASE_PORT]   start it under DIR (ports BASE..BASE+4)
#   swift_aio_stop                    stop everything it started
#   swift_proxy_stop / swift_proxy_start   stop / restart the proxy alone
#   swift_server_stop / swift_server_start NAME   the same for the object,
#                                     container or account server
#   swift_flush_tokens                forget every TempAuth token (memcached)
#
# After swift_aio_start:
#   SWIFT_AUTH_URL  http://127.0.0.1:PORT/auth/v1.0 (TempAuth v1)
#   SWIFT_HOSTPORT  127.0.0.1:PORT of the proxy (also the S3 endpoint)
#   SWIFT_USER=test:tester SWIFT_KEY=testing (also the S3 access/secret key)
#
# One device per ring (one replica, one zone): the servers are real and the
# whole Swift request path (proxy, TempAuth, s3api, container listings) is
# exercised; placement is `cassafs ring`'s and t_ring_swift's business.
# Servers run in the foreground of background jobs (no swift-init, no
# systemd); their PIDs are ours to stop, and nothing else is touched.
# Swift always reads /etc/swift/swift.conf for its hash prefix/suffix: one
# with Debian's defaults is written only if none exists.

SWIFT_AIO_PIDS=()
declare -A SWIFT_SERVER_PID=()
SWIFT_PROXY_PID=
SWIFT_USER=test:tester
SWIFT_KEY=testing

swift_aio_start() {
	local dir=$1 base=${2:-16200}
	SWIFT_DIR=$dir
	SWIFT_BASE=$base
	local pobj=$base pcont=$((base + 1)) pacct=$((base + 2))
	local pproxy=$((base + 3)) pmc=$((base + 4))
	SWIFT_HOSTPORT=127.0.0.1:$pproxy
	SWIFT_AUTH_URL=http://$SWIFT_HOSTPORT/auth/v1.0
	local py=/usr/bin/python3
	for b in swift-proxy-server swift-object-server swift-container-server \
		 swift-account-server swift-ring-builder memcached; do
		command -v $b >/dev/null || {
			echo "swift_aio: $b is not installed (apt-get install swift" \
			     "swift-proxy swift-object swift-container swift-account" \
			     "memcached)" >&2
			return 1
		}
	done
	if [ ! -e /etc/swift/swift.conf ]; then
		mkdir -p /etc/swift &&
		printf '[swift-hash]\nswift_hash_path_suffix = changeme\nswift_hash_path_prefix = changeme\n' \
			>/etc/swift/swift.conf || return 1
	fi
	mkdir -p "$dir/etc" "$dir/srv/d1" "$dir/log" "$dir/run" || return 1
	local r
	for r in object:$pobj container:$pcont account:$pacct; do
		local name=${r%%:*} port=${r##*:}
		(cd "$dir/etc" &&
		 swift-ring-builder $name.builder create 6 1 1 >/dev/null &&
		 swift-ring-builder $name.builder add r1z1-127.0.0.1:$port/d1 100 >/dev/null &&
		 swift-ring-builder $name.builder rebalance >/dev/null) || {
			echo "swift_aio: cannot build the $name ring" >&2; return 1; }
		cat >"$dir/etc/$name-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = $(id -un)
swift_dir = $dir/etc
devices = $dir/srv
mount_check = false
log_level = WARNING
log_address = $dir/run/nolog

[pipeline:main]
pipeline = $name-server

[app:$name-server]
use = egg:swift#$name
EOF
	done
	cat >"$dir/etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $pproxy
workers = 0
user = $(id -un)
swift_dir = $dir/etc
log_level = WARNING
log_address = $dir/run/nolog

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
user_test_other = otherkey .admin
token_life = ${SWIFT_TOKEN_LIFE:-86400}

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
storage_domain = localhost

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$pmc

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
EOF
	memcached -l 127.0.0.1 -p $pmc -U 0 -m 32 -u "$(id -un)" \
		>"$dir/log/memcached.log" 2>&1 &
	SWIFT_AIO_PIDS+=($!)
	SWIFT_MC_PORT=$pmc
	local s
	for s in object container account; do
		swift_server_start $s
	done
	swift_proxy_start || return 1
	# ready: the proxy answers, TempAuth gives a token and the account
	# (account + container servers) answers a listing
	local t0=$SECONDS tok
	while [ $((SECONDS - t0)) -lt ${SWIFT_START_TIMEOUT:-180} ]; do
		tok=$(curl -s -m 5 -o /dev/null -D - -H "X-Auth-User: $SWIFT_USER" \
			-H "X-Auth-Key: $SWIFT_KEY" "$SWIFT_AUTH_URL" 2>/dev/null |
			tr -d '\r' | awk -F': ' 'tolower($1) == "x-auth-token" {print $2}')
		if [ -n "$tok" ] &&
		   curl -sf -m 5 -o /dev/null -H "X-Auth-Token: $tok" \
			"http://$SWIFT_HOSTPORT/v1/AUTH_test" 2>/dev/null; then
			SWIFT_READY_S=$((SECONDS - t0))
			return 0
		fi
		local p
		for p in "${SWIFT_AIO_PIDS[@]}" "${SWIFT_SERVER_PID[@]}" $SWIFT_PROXY_PID; do
			kill -0 "$p" 2>/dev/null || {
				echo "swift_aio: a server (pid $p) died; logs:" >&2
				tail -n 5 "$dir"/log/*.log >&2
				return 1
			}
		done
		sleep 1
	done
	echo "swift_aio: not ready after ${SWIFT_START_TIMEOUT:-180} s; logs:" >&2
	tail -n 5 "$dir"/log/*.log >&2
	return 1
}

swift_proxy_start() {
	swift-proxy-server "$SWIFT_DIR/etc/proxy-server.conf" \
		>>"$SWIFT_DIR/log/proxy.log" 2>&1 &
	SWIFT_PROXY_PID=$!
	local i
	for i in $(seq 1 1200); do
		curl -sf -m 2 -o /dev/null "http://$SWIFT_HOSTPORT/healthcheck" &&
			return 0
		kill -0 $SWIFT_PROXY_PID 2>/dev/null || break
		sleep 0.1
	done
	echo "swift_aio: the proxy did not start; log:" >&2
	tail -n 10 "$SWIFT_DIR/log/proxy.log" >&2
	return 1
}

swift_proxy_stop() {
	[ -n "$SWIFT_PROXY_PID" ] || return 0
	kill "$SWIFT_PROXY_PID" 2>/dev/null
	local i
	for i in $(seq 1 100); do
		kill -0 "$SWIFT_PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$SWIFT_PROXY_PID" 2>/dev/null
	wait "$SWIFT_PROXY_PID" 2>/dev/null
	SWIFT_PROXY_PID=
}

# swift_server_start NAME [wait]: with wait, until it answers HTTP
swift_server_start() {
	swift-$1-server "$SWIFT_DIR/etc/$1-server.conf" >>"$SWIFT_DIR/log/$1.log" 2>&1 &
	SWIFT_SERVER_PID[$1]=$!
	[ -n "${2:-}" ] || return 0
	local port i
	case $1 in object) port=$SWIFT_BASE ;; container) port=$((SWIFT_BASE + 1)) ;;
		account) port=$((SWIFT_BASE + 2)) ;; esac
	for i in $(seq 1 1200); do
		[ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null)" != 000 ] &&
			return 0
		kill -0 "${SWIFT_SERVER_PID[$1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "swift_aio: the $1 server did not start" >&2
	return 1
}

swift_server_stop() {
	local p=${SWIFT_SERVER_PID[$1]:-}
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null
	local i
	for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	unset "SWIFT_SERVER_PID[$1]"
}

swift_flush_tokens() {
	local reply
	exec 9<>"/dev/tcp/127.0.0.1/$SWIFT_MC_PORT" || return 1
	printf 'flush_all\r\n' >&9
	read -r -t 5 reply <&9
	exec 9>&-
	[ "${reply%$'\r'}" = OK ]
}

swift_aio_stop() {
	swift_proxy_stop
	local s
	for s in "${!SWIFT_SERVER_PID[@]}"; do swift_server_stop "$s"; done
	local p
	for p in "${SWIFT_AIO_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${SWIFT_AIO_PIDS[@]}"; do
		local i
		for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	SWIFT_AIO_PIDS=()
}
