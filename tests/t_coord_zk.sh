#!/usr/bin/env bash
# t_coord_zk.sh — the ZooKeeper coordinator against real servers on
# 127.0.0.1: one standalone server (ports 22181) for the functional tests
# and a fault test (kill -9 + restart), then a 3-node ensemble (22191-22193,
# quorum 22201-22203, election 22211-22213) whose leader is killed mid-work.
# Sessions are 3 s so that killed clients vanish quickly.
set -u
cd "$(dirname "$0")/.."
TESTBIN=${TESTBIN:-$PWD/build/tests}
ZKS=$PWD/tests/scripts/zk_server.sh
export ZK_SERVER_SH=$ZKS
BIN=$TESTBIN/coord_zk_test
tmp=$(mktemp -d /tmp/t_coord_zk.XXXXXX)
passed=0 failed=0
cleanup() {
	"$ZKS" stop "$tmp/single" >/dev/null 2>&1
	"$ZKS" stop "$tmp/ens" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

add() { # LOGFILE RC
	local line p f
	line=$(grep -E '^RESULT [0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
	if [ -z "$line" ]; then
		failed=$((failed + 1)); echo "FAIL $1: no RESULT line (rc $2)"; return
	fi
	p=$(awk '{print $2}' <<<"$line"); f=$(awk '{print $4}' <<<"$line")
	[ "$2" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p)) failed=$((failed + f))
}

if ! command -v java >/dev/null || [ ! -f /usr/share/java/zookeeper.jar ]; then
	echo "FAIL: ZooKeeper not installed (apt-get install zookeeper default-jre-headless)"
	echo "RESULT 0 passed, 1 failed"; exit 1
fi
if [ ! -x "$BIN" ]; then
	echo "FAIL: $BIN not built"; echo "RESULT 0 passed, 1 failed"; exit 1
fi

# Credentials live in a file (mode 600), never on a command line.
umask 077
printf 'cassafs:%s\n' "pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$tmp/zk.cred"
export CASSAFS_ZK_CREDENTIALS_FILE=$tmp/zk.cred
unset CASSAFS_ZK_AUTH

mkdir -p "$tmp/single"
if ! "$ZKS" start "$tmp/single" 22181; then
	cat "$tmp/single/server.log"; echo "RESULT 0 passed, 1 failed"; exit 1
fi
URL="zk://127.0.0.1:22181/cassafs-test/t?session_timeout=3000&op_timeout=4000"

echo "== functional"
timeout 300 "$BIN" "$URL" all >"$tmp/all.log" 2>&1; rc=$?
cat "$tmp/all.log"; add "$tmp/all.log" $rc

echo "== server killed and restarted"
export ZK_STOP_CMD="$ZKS kill $tmp/single"
export ZK_START_CMD="$ZKS restart $tmp/single"
timeout 300 "$BIN" "$URL" outage >"$tmp/outage.log" 2>&1; rc=$?
cat "$tmp/outage.log"; add "$tmp/outage.log" $rc
"$ZKS" stop "$tmp/single"

echo "== 3-node ensemble, leader killed"
mkdir -p "$tmp/ens"
if "$ZKS" ensemble "$tmp/ens" 22190; then
	leader=$("$ZKS" leader "$tmp/ens")
	echo "leader is node $leader"
	export ZK_KILL_LEADER_CMD="$ZKS kill $tmp/ens $leader"
	EURL="zk://127.0.0.1:22191,127.0.0.1:22192,127.0.0.1:22193/cassafs-test?session_timeout=4000&op_timeout=10000"
	timeout 300 "$BIN" "$EURL" ensemble >"$tmp/ens.log" 2>&1; rc=$?
	cat "$tmp/ens.log"; add "$tmp/ens.log" $rc
	echo "new leader: node $("$ZKS" leader "$tmp/ens")"
else
	for n in 1 2 3; do tail -20 "$tmp/ens/n$n/server.log"; done
	failed=$((failed + 1))
fi
# the password must not leak into any output or server log
pw=$(cut -d: -f2- "$tmp/zk.cred")
if grep -rqF -- "$pw" "$tmp"/*.log "$tmp"/single/server.log "$tmp"/ens/n*/server.log 2>/dev/null; then
	echo "FAIL: the ZooKeeper password appears in a log"; failed=$((failed + 1))
else
	passed=$((passed + 1))
fi
echo "RESULT $passed passed, $failed failed"
[ "$failed" -eq 0 ]
