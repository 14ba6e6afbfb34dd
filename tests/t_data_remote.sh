#!/usr/bin/env bash
# The remote data engines (swift://, s3://) against a real Swift
# all-in-one on 127.0.0.1 (tests/swift_aio.sh: proxy with TempAuth and
# s3api, object, container and account servers, memcached), started once:
#  - data_conformance (tests/data/) on swift://, s3:// path style and
#    s3:// virtual-hosted style;
#  - wrong credentials → EACCES with a message naming the cause; missing or
#    badly protected secrets, malformed URLs, unknown options, a port
#    nobody listens on → a clear error;
#  - faults, in one process that lives through them (tests/data_remote/
#    data_probe): proxy stopped → EIO within the URL's timeout= bound,
#    also for a whole batch; proxy back → the next call succeeds; object
#    server stopped (the proxy answers 503) → EIO after retries, back →
#    success; every TempAuth token forgotten → the next call re-authenticates
#    and succeeds.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/swift_aio.sh"
trap 'exec 2>/dev/null; probe_stop; swift_aio_stop; cleanup' EXIT
need swift-proxy-server "apt-get install swift-proxy (see .ci/packages.d/data_remote)"
need memcached "apt-get install memcached"
need curl "apt-get install curl"

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

TMO=4
for url in "swift://$HP/faults?timeout=$TMO" "s3://$HP/faults3?timeout=$TMO"; do
	e=${url%%:*}
	if ! probe_start "$url"; then fail "$e: probe did not open: $PLINE"; continue; fi
	p put k1 300000 1; expect "$e: put" 0
	p putn b/ 8 200000; expect "$e: batch put" 0
	swift_proxy_stop
	p get k1 0 300000 1
	expect "$e: get, proxy stopped → EIO within ${TMO}s + 1s" -5 $((TMO * 1000 + 1000)) $((TMO * 1000 / 2))
	echo "  $e: proxy stopped: get → EIO after $PMS ms (timeout=$TMO)"
	p put k2 1000 2
	expect "$e: put, proxy stopped → EIO" -5 $((TMO * 1000 + 1000))
	p getn b/ 8 200000
	expect "$e: batch get of 8, proxy stopped → EIO within the bound" -5 $((TMO * 1000 + 1000))
	echo "  $e: proxy stopped: batch of 8 gets → EIO after $PMS ms"
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
grep -q . "$T_TMP/probe.err" && { echo "--- the engines' messages during the faults:"; sort "$T_TMP/probe.err" | uniq -c | sort -rn | head -n 8; }

finish
