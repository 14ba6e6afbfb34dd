#!/usr/bin/env bash
# The remote data engines (swift://, s3://) against a real Swift
# all-in-one on 127.0.0.1 (tests/swift_aio.sh: proxy with TempAuth and
# s3api, object, container and account servers, memcached), started once:
#  - data_conformance (tests/data/) on swift://, s3:// path style and
#    s3:// virtual-hosted style;
#  - connections: a batch of 32 with conns=3 keeps at most 3 (+1 auth)
#    connections open and closes none (keep-alive, reuse across calls);
#  - wrong credentials → EACCES with a message naming the cause; missing or
#    badly protected secrets, malformed URLs, unknown options, a port
#    nobody listens on → a clear error;
#  - faults, in one process that lives through them (tests/data_remote/
#    data_probe): proxy stopped → EIO within the URL's timeout= bound
#    (after retries); then, the server down, the next calls (a put, a
#    batch) fail at once; timeout later a batch retries for the whole bound
#    again; proxy back → the next call succeeds; object
#    server stopped (the proxy answers 503) → EIO after retries, back →
#    success; every TempAuth token forgotten → the next call re-authenticates
#    and succeeds;
#  - a real mount on each tier (mkfs --data, -o data_secrets=): files
#    round-trip across a remount, status counts the objects, fsck is
#    clean, unlink frees the objects (gc); with the proxy stopped a read
#    gives EIO within one timeout (not one per call the layout and the
#    kernel make in turn), the next read at once, and the mount serves
#    the file once the proxy is back;
#  - TLS (tls=1): a second proxy serving HTTPS with a certificate from a
#    throwaway CA made by the test; swift:// and s3:// with cafile= of that
#    CA put, read, list and delete (and the objects are there, seen through
#    the plain proxy); another CA, or none (the system's), fails at open
#    with EIO at once (no retries) saying the certificate is not trusted;
#    cafile= without tls=1, or a missing cafile, is a clear error;
#  - Keystone v3 (tests/keystone_aio.sh: a real Keystone and a second proxy
#    with authtoken + keystoneauth): conformance with the storage URL from
#    the catalog, a wrong password → EACCES, and the fallback storage URL
#    (proxy + AUTH_<project id>) when the catalog has no such endpoint.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/swift_aio.sh"
. "$HERE/keystone_aio.sh"
trap 'exec 2>/dev/null; probe_stop; keystone_stop; swift_aio_stop; cleanup' EXIT
need swift-proxy-server "apt-get install swift-proxy (see .ci/packages.d/data_remote)"
need memcached "apt-get install memcached"
need curl "apt-get install curl"
need openssl "apt-get install openssl"
need ss "apt-get install iproute2"

PROBE=$TESTBIN/data_probe
CONF=$TESTBIN/data_conformance
BASE=${SWIFT_TEST_PORT:-16400}
t_start=$SECONDS
if ! swift_aio_start "$T_TMP/swift" "$BASE"; then
	fail "Swift all-in-one did not start"
	finish
	exit 1
fi
echo "Swift all-in-one ready in $((SECONDS - t_start)) s (TempAuth user $SWIFT_USER)"
HP=$SWIFT_HOSTPORT
SECRETS=$T_TMP/secrets
printf '# test credentials\nCASSAFS_DATA_USER = %s\nCASSAFS_DATA_KEY=%s\n' \
	"$SWIFT_USER" "$SWIFT_KEY" >"$SECRETS"
chmod 600 "$SECRETS"
export CASSAFS_DATA_SECRETS=$SECRETS
unset CASSAFS_DATA_USER CASSAFS_DATA_KEY AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

SW0=(swift -A "$SWIFT_AUTH_URL" -U "$SWIFT_USER" -K "$SWIFT_KEY")

# ---- conformance ----
conformance() {
	local out rc line p f
	out=$(timeout 600 "$CONF" "$1" 2>&1); rc=$?
	line=$(grep -E '^RESULT' <<<"$out" | tail -n1)
	p=$(awk '{print $2}' <<<"$line"); f=$(awk '{print $4}' <<<"$line")
	echo "conformance $1: ${line:-no RESULT line (exit $rc)}"
	if [ -z "$line" ] || [ "$rc" -ne 0 ] || [ "${f:-1}" -ne 0 ]; then
		grep -E '^FAIL' <<<"$out" | head -n 20 >&2
		fail "data_conformance $1 (exit $rc)"
	else
		ok
	fi
}
conformance "swift://$HP/conf-swift"
conformance "s3://$HP/conf-s3path"
conformance "s3://localhost:$((BASE + 3))/conf-s3virt?style=virtual"
# virtual-hosted style really named the bucket in the host: it exists
check "s3 style=virtual made bucket conf-s3virt" \
	eval 'swift -A "$SWIFT_AUTH_URL" -U "$SWIFT_USER" -K "$SWIFT_KEY" stat conf-s3virt >/dev/null'

# ---- errors at open ----
# open_error DESC URL RC PATTERN [ENV...]: data_probe's open fails with RC
open_error() {
	local d=$1 url=$2 want=$3 pat=$4 out; shift 4
	out=$(env "$@" "$PROBE" "$url" </dev/null 2>&1)
	local rc=$(sed -n 's/^open rc=\(-*[0-9]*\).*/\1/p' <<<"$out" | head -n1)
	if [ "$rc" != "$want" ]; then fail "$d: open rc '$rc', want $want ($out)"; return; fi
	if ! grep -qiE -- "$pat" <<<"$out"; then fail "$d: message '$out' lacks /$pat/"; return; fi
	echo "  $d: $(sed -n 's/^open rc=[^:]*: //p' <<<"$out")"
	ok
}
BADKEY=$T_TMP/bad
printf 'CASSAFS_DATA_USER=%s\nCASSAFS_DATA_KEY=wrong\n' "$SWIFT_USER" >"$BADKEY"; chmod 600 "$BADKEY"
NOUSER=$T_TMP/nouser
printf 'CASSAFS_DATA_USER=nobody:nobody\nCASSAFS_DATA_KEY=x\n' >"$NOUSER"; chmod 600 "$NOUSER"
OPEN=$T_TMP/open
cp "$SECRETS" "$OPEN"; chmod 644 "$OPEN"
open_error "swift, wrong key" "swift://$HP/c" -13 "refused user 'test:tester'.*CASSAFS_DATA_KEY" CASSAFS_DATA_SECRETS="$BADKEY"
open_error "s3, wrong secret" "s3://$HP/c" -13 "SignatureDoesNotMatch" CASSAFS_DATA_SECRETS="$BADKEY"
# (s3api over TempAuth cannot tell an unknown user from a wrong secret)
open_error "s3, unknown access key" "s3://$HP/c" -13 "refused access key 'nobody:nobody' \((InvalidAccessKeyId|SignatureDoesNotMatch)" CASSAFS_DATA_SECRETS="$NOUSER"
open_error "swift, secrets file readable by others" "swift://$HP/c" -13 "chmod 600" CASSAFS_DATA_SECRETS="$OPEN"
open_error "swift, missing secrets file" "swift://$HP/c" -2 "No such file" CASSAFS_DATA_SECRETS="$T_TMP/none"
open_error "swift, no credentials at all" "swift://$HP/c" -22 "no CASSAFS_DATA_USER in the environment" -u CASSAFS_DATA_SECRETS
open_error "s3, no credentials at all" "s3://$HP/c" -22 "no CASSAFS_DATA_USER" -u CASSAFS_DATA_SECRETS
open_error "swift, credentials from the environment" "swift://$HP/c" -13 "refused" \
	-u CASSAFS_DATA_SECRETS CASSAFS_DATA_USER="$SWIFT_USER" CASSAFS_DATA_KEY=wrong
open_error "swift, no container in the URL" "swift://$HP" -22 "expected SCHEME://HOST"
open_error "swift, unknown option" "swift://$HP/c?tiemout=3" -22 "unknown option 'tiemout'"
open_error "swift, bad timeout" "swift://$HP/c?timeout=0" -22 "timeout=0"
open_error "swift, unknown auth" "swift://$HP/c?auth=v9" -22 "expected tempauth or keystone"
open_error "swift, auth URL that is not TempAuth" "swift://$HP/c?auth_url=http://$HP/healthcheck" -5 "without X-Auth-Token"
open_error "s3, bad style" "s3://$HP/c?style=dns" -22 "expected path or virtual"
open_error "s3, bucket not a host name" "s3://$HP/Bad_Bucket?style=virtual" -22 "cannot be a host"
open_error "credentials in the URL" "s3://a:b@$HP/c" -22 "do not belong in the data URL"
# nobody listens there: EIO once the bound has passed, saying why
t0=$(date +%s%N)
open_error "swift, nothing listening" "swift://127.0.0.1:$((BASE + 9))/c?timeout=2" -5 "connect.*gave up after [0-9]+ tries"
t_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "  nothing listening: EIO after $t_ms ms (timeout=2)"
check "nothing listening: EIO within 2 s + 1 s (took $t_ms ms)" [ "$t_ms" -le 3000 ]

# ---- TLS: the proxy's own HTTPS, a CA of our own ----
if swift_tls_start $((BASE + 5)); then
	THP=$SWIFT_TLS_HOSTPORT CA=$SWIFT_TLS_CA
	for url in "swift://$THP/tls-swift?tls=1&cafile=$CA" "s3://$THP/tls-s3?tls=1&cafile=$CA"; do
		e=${url%%:*}
		out=$(printf 'put t1 300000 7\nget t1 0 300000 7\nget t1 1000 5000 7\nlist t\ndel t1\nlist t\n' |
			"$PROBE" --prepare "$url" 2>&1)
		echo "  $e over TLS: $(tr '\n' ' ' <<<"$out")"
		check "$e tls=1 cafile=: open, put, get, list, del all succeed" \
			eval '[[ $out == "open rc=0"* ]] && [ "$(grep -o "rc=[-0-9]*" <<<"$out" | sort | uniq -c | tr -s " ")" = " 7 rc=0" ]'
		check "$e tls=1: list saw the object, then none" \
			eval '[ "$(grep -o "count=[0-9]*" <<<"$out" | tr "\n" " ")" = "count=1 count=0 " ]'
	done
	# what went over TLS is really in the store: seen through the plain proxy
	printf 'put seen 1000 3\n' | "$PROBE" "swift://$THP/tls-swift?tls=1&cafile=$CA" >/dev/null 2>&1
	check "swift tls=1: the object is in the container (plain proxy)" \
		eval '"${SW0[@]}" list tls-swift | grep -qx seen'
	t0=$(date +%s%N)
	open_error "swift tls=1, another CA" "swift://$THP/c?tls=1&timeout=4&cafile=$SWIFT_TLS_OTHER_CA" -5 "certificate.*not trusted.*cafile="
	t_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	check "swift tls=1, another CA: fails at once, no retries ($t_ms ms)" [ "$t_ms" -lt 2000 ]
	open_error "s3 tls=1, another CA" "s3://$THP/c?tls=1&cafile=$SWIFT_TLS_OTHER_CA" -5 "certificate.*not trusted"
	open_error "swift tls=1, the system's CAs" "swift://$THP/c?tls=1" -5 "certificate.*not trusted"
	open_error "s3 tls=1, the system's CAs" "s3://$THP/c?tls=1" -5 "certificate.*not trusted"
	open_error "swift, cafile= without tls=1" "swift://$THP/c?cafile=$CA" -22 "cafile= is for tls=1"
	open_error "s3, cafile= that is missing" "s3://$THP/c?tls=1&cafile=$T_TMP/no.pem" -2 "cafile=.*No such file"
	open_error "swift tls=1 to the plain proxy" "swift://$HP/c?tls=1&timeout=2&cafile=$CA" -5 "SSL|TLS|wrong version"
else
	fail "the TLS proxy did not start"
fi

# ---- faults, one process living through them ----
probe_start() {
	coproc PROBE_P { "$PROBE" --prepare "$1" 2>>"$T_TMP/probe.err"; }
	read -r -t 60 PLINE <&"${PROBE_P[0]}" || PLINE="no answer"
	[ "${PLINE%% *}" = open ] && [[ $PLINE == "open rc=0"* ]]
}
probe_stop() {
	[ -n "${PROBE_P_PID:-}" ] || return 0
	local fd=${PROBE_P[1]:-}
	[ -n "$fd" ] && exec {fd}>&-
	wait "$PROBE_P_PID" 2>/dev/null
	PROBE_P_PID=
}
# p CMD: run one command, PLINE is its answer, PRC its rc, PMS its ms
p() {
	echo "$*" >&"${PROBE_P[1]}"
	read -r -t 300 PLINE <&"${PROBE_P[0]}" || PLINE="rc=none ms=0"
	PRC=$(sed -n 's/.*rc=\([-0-9a-z]*\).*/\1/p' <<<"$PLINE")
	PMS=$(sed -n 's/.*ms=\([0-9]*\).*/\1/p' <<<"$PLINE")
}
# expect DESC RC [MAX_MS [MIN_MS]]
expect() {
	local d=$1 rc=$2 max=${3:-} min=${4:-0}
	if [ "$PRC" != "$rc" ]; then fail "$d: rc $PRC, want $rc ($PLINE)"; return; fi
	if [ -n "$max" ] && [ "$PMS" -gt "$max" ]; then fail "$d: took $PMS ms > $max"; return; fi
	if [ "$PMS" -lt "$min" ]; then fail "$d: took $PMS ms < $min (no retries?)"; return; fi
	ok
}

# ---- connections: bounded, kept alive, reused ----
# est: established connections to the proxy now; tw: the closed ones (this
# side closed first) still in TIME-WAIT, by address pair: those of
# earlier tests expire meanwhile, so closes are counted as pairs new
# since the first listing (a count difference went to -1 once)
est() { ss -Htn state established "( dport = :$((BASE + 3)) )" | wc -l; }
tw() { ss -Htn state time-wait "( dport = :$((BASE + 3)) )" | awk '{print $3, $4}' | sort; }
for url in "swift://$HP/conns?conns=3" "s3://$HP/conns3?conns=3"; do
	e=${url%%:*}
	if ! probe_start "$url"; then fail "$e: probe did not open: $PLINE"; continue; fi
	tw >"$T_TMP/tw0"
	echo 0 >"$T_TMP/maxest"; rm -f "$T_TMP/stop-sampling"
	( m=0; for i in $(seq 1500); do n=$(est); [ "$n" -gt "$m" ] && m=$n && echo "$m" >"$T_TMP/maxest"
	  [ -e "$T_TMP/stop-sampling" ] && break; sleep 0.01; done ) &
	sampler=$!
	p putn c/ 32 262144; expect "$e: batch put of 32, conns=3" 0
	p getn c/ 32 262144; expect "$e: batch get of 32, conns=3" 0
	p getn c/ 32 262144; expect "$e: again" 0
	touch "$T_TMP/stop-sampling"; wait "$sampler"
	m=$(cat "$T_TMP/maxest") closed=$(tw | comm -13 "$T_TMP/tw0" - | wc -l)
	echo "  $e: 96 requests with conns=3: at most $m connections at once, $closed closed"
	# conns=3 data connections (+1 kept from the authentication for swift)
	check "$e: connections bounded by conns=3 (+1 auth): saw $m" test "$m" -ge 1 -a "$m" -le 4
	check "$e: connections kept alive: $closed closed during 96 requests" [ "$closed" -eq 0 ]
	probe_stop
done

TMO=4
for url in "swift://$HP/faults?timeout=$TMO" "s3://$HP/faults3?timeout=$TMO"; do
	e=${url%%:*}
	if ! probe_start "$url"; then fail "$e: probe did not open: $PLINE"; continue; fi
	p put k1 300000 1; expect "$e: put" 0
	# dot segments in a key are sent as they are (libcurl squashes them
	# unless told not to): the store lists the very key
	p put "d/./x/../y" 1000 5; expect "$e: put d/./x/../y" 0
	p get "d/./x/../y" 0 1000 5; expect "$e: get d/./x/../y" 0
	c=${url#*//*/}; c=${c%%\?*}
	keys=$(swift -A "$SWIFT_AUTH_URL" -U "$SWIFT_USER" -K "$SWIFT_KEY" list --prefix d/ "$c" 2>&1)
	check "$e: the key is stored as d/./x/../y (listing: $keys)" [ "$keys" = "d/./x/../y" ]
	p del "d/./x/../y"; expect "$e: del d/./x/../y" 0
	p putn b/ 8 200000; expect "$e: batch put" 0
	swift_proxy_stop
	p get k1 0 300000 1
	expect "$e: get, proxy stopped → EIO within ${TMO}s + 1s" -5 $((TMO * 1000 + 1000)) $((TMO * 1000 / 2))
	echo "  $e: proxy stopped: get → EIO after $PMS ms (timeout=$TMO)"
	# the server is down now: the next calls make one try each
	p put k2 1000 2
	expect "$e: put, proxy still stopped → EIO at once (down: no retries)" -5 500
	p getn b/ 8 200000
	expect "$e: batch get of 8, proxy still stopped → EIO at once" -5 500
	echo "  $e: proxy still stopped: put, batch of 8 gets → EIO after $PMS ms"
	# once timeout has passed, a call retries for the whole bound again;
	# so does a batch, as one
	sleep $((TMO + 1))
	p getn b/ 8 200000
	expect "$e: batch get of 8, down for longer than timeout → EIO within the bound, after retries" -5 $((TMO * 1000 + 1000)) $((TMO * 1000 / 2))
	echo "  $e: proxy stopped $((TMO + 1)) s later: batch of 8 gets → EIO after $PMS ms"
	swift_proxy_start || fail "proxy did not come back"
	p get k1 0 300000 1; expect "$e: proxy back → the next get succeeds" 0
	p getn b/ 8 200000; expect "$e: proxy back → batch get" 0
	# 5xx: the object server is down, the proxy answers 503
	swift_server_stop object
	p get k1 0 300000 1
	expect "$e: object server stopped (503) → EIO after retries" -5 $((TMO * 1000 + 1000)) $((TMO * 1000 / 2))
	echo "  $e: object server stopped: get → EIO after $PMS ms"
	swift_server_start object wait || fail "object server did not come back"
	p get k1 0 300000 1; expect "$e: object server back → get succeeds" 0
	if [ "$e" = swift ]; then
		# the token the engine holds is forgotten: 401, new token, success
		check "memcached flushed" swift_flush_tokens
		p get k1 0 300000 1; expect "swift: tokens forgotten → re-auth, get succeeds" 0
		p put k3 1000 3; expect "swift: put after re-auth" 0
	fi
	p del k1; expect "$e: del" 0
	p list b/; expect "$e: list" 0
	[[ $PLINE == count=8* ]] && ok || fail "$e: list b/ after the faults: $PLINE"
	probe_stop
done
# ---- a mount on each remote tier ----
# nobj CONTAINER: objects in it, as Swift's listing says
nobj() { "${SW[@]}" list "$1" 2>/dev/null | wc -l; }
wait_nobj() { # CONTAINER N
	local i
	for i in $(seq 100); do [ "$(nobj "$1")" -eq "$2" ] && return 0; sleep 0.2; done
	echo "objects in $1: $(nobj "$1"), want $2" >&2; return 1
}
SW=(swift -A "$SWIFT_AUTH_URL" -U "$SWIFT_USER" -K "$SWIFT_KEY")
head -c $((20 << 20)) /dev/urandom >"$T_TMP/big"
for tier in "swift://$HP/fs-swift?timeout=$TMO" "s3://$HP/fs-s3?timeout=$TMO"; do
	e=${tier%%:*} cont=fs-$e
	STORE="lmdb://$T_TMP/store-$e" MP=$T_TMP/mnt-$e
	check "$e: mkfs --data $tier" "$CASSAFS" mkfs --data "$tier" "$STORE"
	out=$("$CASSAFS" status "$STORE" 2>&1)
	check "$e: status names the tier without secrets" grep -q "data tier *${tier%%\?*}" <<<"$out"
	mount_fs "$STORE" "$MP" -o "data_secrets=$SECRETS" || { fail "$e: mount"; continue; }
	cp "$T_TMP/big" "$MP/big" && echo small >"$MP/small" && mkdir "$MP/d" &&
		printf 'x%.0s' $(seq 5000) >"$MP/d/f" && sync
	check "$e: files read back" cmp "$T_TMP/big" "$MP/big"
	n=$(nobj "$cont")
	check "$e: the container holds the objects ($n)" [ "$n" -ge 5 ]
	umount_fs "$MP" || fail "$e: umount"
	mount_fs "$STORE" "$MP" -o "data_secrets=$SECRETS" || { fail "$e: remount"; continue; }
	check "$e: after a remount: big" cmp "$T_TMP/big" "$MP/big"
	check "$e: after a remount: small" grep -qx small "$MP/small"
	check "$e: after a remount: d/f" [ "$(wc -c <"$MP/d/f")" -eq 5000 ]
	# the store is down: a read not in the page cache gives EIO in the bound
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	swift_proxy_stop
	t0=$(date +%s%N)
	dd if="$MP/big" of=/dev/null bs=1M 2>"$T_TMP/dd.err"; rc=$?
	t_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "  $e mount: proxy stopped: read → exit $rc after $t_ms ms ($(tail -n1 "$T_TMP/dd.err"))"
	check "$e mount: proxy stopped → read fails with EIO" grep -q "Input/output error" "$T_TMP/dd.err"
	check "$e mount: ... within the timeout + 1 s ($t_ms ms)" [ "$t_ms" -le $((TMO * 1000 + 1000)) ]
	# the server stays down: the next read fails fast (one try, no retries).
	# It reads where the failed read started: the cmp after the remount
	# left the file's last pieces in the mount's read-ahead buffers
	# (objects never change, so those are answered without the tier).
	t0=$(date +%s%N)
	dd if="$MP/big" of=/dev/null bs=64k skip=0 count=1 2>/dev/null; rc=$?
	t_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "  $e mount: proxy still stopped: another read → exit $rc after $t_ms ms"
	check "$e mount: still down → the next read fails within 1 s ($t_ms ms)" [ "$rc" -ne 0 -a "$t_ms" -le 1000 ]
	swift_proxy_start || fail "proxy did not come back"
	check "$e mount: proxy back → the file reads back" cmp "$T_TMP/big" "$MP/big"
	out=$("$CASSAFS" status "$STORE" 2>&1)
	check "$e: status counts objects" grep -qE "data tier .*: [1-9][0-9]* objects" <<<"$out"
	rm -f "$MP/big" "$MP/small" "$MP/d/f" && sync
	check "$e: unlink frees the objects (gc)" wait_nobj "$cont" 0
	umount_fs "$MP" || fail "$e: umount"
	out=$("$CASSAFS" fsck "$STORE" 2>&1); rc=$?
	check "$e: fsck clean ($(tail -n1 <<<"$out"))" [ $rc -eq 0 ]
done

# ---- Keystone v3 ----
t_start=$SECONDS
if keystone_start "$T_TMP/keystone" $((BASE + 10)) $((BASE + 11)); then
	echo "Keystone and its proxy ready in $((SECONDS - t_start)) s"
	KS=$T_TMP/ks.secrets
	printf 'CASSAFS_DATA_USER=demo\nCASSAFS_DATA_KEY=demopass\nCASSAFS_DATA_PROJECT=demo\n' >"$KS"
	chmod 600 "$KS"
	KSURL="swift://$SWIFT_KS_HOSTPORT/conf-ks?auth=keystone&auth_url=$KEYSTONE_URL"
	CASSAFS_DATA_SECRETS=$KS conformance "$KSURL"
	KSBAD=$T_TMP/ks.bad
	printf 'CASSAFS_DATA_USER=demo\nCASSAFS_DATA_KEY=wrong\nCASSAFS_DATA_PROJECT=demo\n' >"$KSBAD"
	chmod 600 "$KSBAD"
	open_error "keystone, wrong password" "$KSURL" -13 "Keystone at .* refused user 'demo' of project 'demo'" CASSAFS_DATA_SECRETS="$KSBAD"
	open_error "keystone, no project" "$KSURL" -22 "no CASSAFS_DATA_PROJECT" CASSAFS_DATA_SECRETS="$SECRETS"
	# no internal endpoint in the catalog: the proxy of the URL, AUTH_<project>
	out=$(printf 'put fb 5000 9\nget fb 0 5000 9\n' |
		CASSAFS_DATA_SECRETS=$KS "$PROBE" --prepare "$KSURL&interface=internal" 2>&1)
	if [ "$(grep -c '^rc=0' <<<"$out")" -eq 2 ] &&
	   curl -sf -o /dev/null -H "X-Auth-Token: $(ks_token demo demopass demo)" \
		"http://$SWIFT_KS_HOSTPORT/v1/AUTH_$KEYSTONE_DEMO_PROJECT_ID/conf-ks/fb"; then
		ok
	else
		fail "keystone without a catalog endpoint: $out"
	fi
else
	fail "Keystone did not start (python3-keystone python3-keystonemiddleware)"
fi

grep -q . "$T_TMP/probe.err" && { echo "--- the engines' messages during the faults:"; sort "$T_TMP/probe.err" | uniq -c | sort -rn | head -n 8; }

finish
