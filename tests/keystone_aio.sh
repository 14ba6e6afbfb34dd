# tests/keystone_aio.sh — a private Keystone (Debian's python3-keystone)
# on 127.0.0.1 and a second Swift proxy that takes its tokens
# (python3-keystonemiddleware: authtoken + keystoneauth), for tests that
# source tests/swift_aio.sh first and started it:
#
#   keystone_start DIR PORT PROXY_PORT
#
# Keystone: SQLite database, fernet tokens, bootstrapped admin, a project
# "demo" with user "demo" (password "demopass", role member) and, unless
# KEYSTONE_NO_CATALOG is set, an object-store endpoint in the catalog
# pointing at the second proxy.  Sets KEYSTONE_URL (…/v3) and
# SWIFT_KS_HOSTPORT.  keystone_stop stops both.

KEYSTONE_PID=
SWIFT_KS_PID=

keystone_start() {
	local dir=$1 port=$2 pport=$3 py=/usr/bin/python3
	KEYSTONE_URL=http://127.0.0.1:$port/v3
	SWIFT_KS_HOSTPORT=127.0.0.1:$pport
	$py -c 'import keystone, keystonemiddleware' 2>/dev/null || {
		echo "keystone_aio: apt-get install python3-keystone python3-keystonemiddleware" >&2
		return 1
	}
	mkdir -p "$dir/fernet" "$dir/cred" "$dir/log" || return 1
	cat >"$dir/keystone.conf" <<EOF
[DEFAULT]
log_file = $dir/log/keystone.log
use_stderr = false
[database]
connection = sqlite:///$dir/keystone.db?timeout=30
[token]
provider = fernet
[fernet_tokens]
key_repository = $dir/fernet
[fernet_receipts]
key_repository = $dir/fernet
[credential]
key_repository = $dir/cred
[cache]
enabled = false
EOF
	local km="keystone-manage --config-file $dir/keystone.conf"
	# Everything is set up before the server starts: this Keystone on
	# SQLite kept its database locked after a REST write (a role grant,
	# a new service) and the next write failed ("database is locked").
	{ $km db_sync && $km fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" &&
	  $km credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" &&
	  $km bootstrap --bootstrap-password adminpass --bootstrap-region-id RegionOne \
		--bootstrap-public-url "$KEYSTONE_URL" &&
	  $km bootstrap --bootstrap-username demo --bootstrap-password demopass \
		--bootstrap-project-name demo --bootstrap-role-name member; } \
		>"$dir/log/manage.log" 2>&1 || {
		echo "keystone_aio: keystone-manage failed:" >&2; tail -n 5 "$dir/log/manage.log" >&2; return 1; }
	# the object-store endpoint, in the catalog's tables (no REST call
	# for the reason above; keystone-manage has no command for it)
	KEYSTONE_DEMO_PROJECT_ID=$($py - "$dir/keystone.db" "$SWIFT_KS_HOSTPORT" "${KEYSTONE_NO_CATALOG:-}" <<'PY'
import sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1])
if not sys.argv[3]:
    svc = uuid.uuid4().hex
    db.execute("insert into service (id, type, enabled, extra) values (?, 'object-store', 1, '{\"name\": \"swift\"}')", (svc,))
    db.execute("insert into endpoint (id, interface, service_id, url, extra, enabled, region_id) values (?, 'public', ?, ?, '{}', 1, 'RegionOne')",
               (uuid.uuid4().hex, svc, "http://" + sys.argv[2] + "/v1/AUTH_%(project_id)s"))
    db.commit()
print(db.execute("select id from project where name = 'demo'").fetchone()[0])
PY
) || { echo "keystone_aio: cannot register the endpoint" >&2; return 1; }
	OS_KEYSTONE_CONFIG_FILES=$dir/keystone.conf \
		keystone-wsgi-public --host 127.0.0.1 --port "$port" >"$dir/log/wsgi.log" 2>&1 &
	KEYSTONE_PID=$!
	local i
	for i in $(seq 1 600); do
		curl -sf -m 2 -o /dev/null "$KEYSTONE_URL" && break
		kill -0 $KEYSTONE_PID 2>/dev/null || { echo "keystone_aio: keystone died:" >&2; tail -n 5 "$dir/log/wsgi.log" >&2; return 1; }
		sleep 0.2
	done
	# the second proxy: same rings and servers, Keystone instead of TempAuth
	sed -e "s/^bind_port = .*/bind_port = $pport/" \
	    -e "s/^pipeline = .*/pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats authtoken keystoneauth copy proxy-logging proxy-server/" \
	    "$SWIFT_DIR/etc/proxy-server.conf" >"$dir/proxy-ks.conf"
	cat >>"$dir/proxy-ks.conf" <<EOF

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
username = admin
password = adminpass
project_name = admin
user_domain_id = default
project_domain_id = default
memcached_servers = 127.0.0.1:$SWIFT_MC_PORT
delay_auth_decision = False
interface = public

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
EOF
	swift-proxy-server "$dir/proxy-ks.conf" >"$dir/log/proxy-ks.log" 2>&1 &
	SWIFT_KS_PID=$!
	for i in $(seq 1 1200); do
		curl -sf -m 2 -o /dev/null "http://$SWIFT_KS_HOSTPORT/healthcheck" && return 0
		kill -0 $SWIFT_KS_PID 2>/dev/null || break
		sleep 0.1
	done
	echo "keystone_aio: the Keystone proxy did not start:" >&2
	tail -n 5 "$dir/log/proxy-ks.log" >&2
	return 1
}

# ks_token USER PASSWORD PROJECT: a project-scoped token on stdout
ks_token() {
	curl -s -m 30 -D - -o /dev/null -H 'Content-Type: application/json' \
		-d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$1\",\"domain\":{\"id\":\"default\"},\"password\":\"$2\"}}},\"scope\":{\"project\":{\"name\":\"$3\",\"domain\":{\"id\":\"default\"}}}}}" \
		"$KEYSTONE_URL/auth/tokens" | tr -d '\r' |
		awk -F': ' 'tolower($1) == "x-subject-token" {print $2; f=1} END {exit !f}'
}

keystone_stop() {
	local p
	for p in $SWIFT_KS_PID $KEYSTONE_PID; do
		kill "$p" 2>/dev/null
		local i
		for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	SWIFT_KS_PID= KEYSTONE_PID=
}
