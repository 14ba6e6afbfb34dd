#!/usr/bin/env bash
# The long run of the randomized multi-mount checker (issue 7): 3 mounts of
# one Redis + ZooKeeper filesystem (tests/t_distcheck.sh part 1, with its
# servers and ports: Redis 6501, ZooKeeper 24181), 3 worker processes,
# 100,000 operations by default, a quiescent check every 1,000 operations
# per worker, then every daemon's exit status and fsck.
#
# usage: bench/distcheck.sh [-n OPS] [-s SEED] [-q ROUND] [-t SECONDS]
#                           [-x CLASSES] [--lmdb]
#   -x CLASSES  leave these operation classes out (comma list, see
#               `build/tests/distcheck -h`)
#   --lmdb      also the LMDB part (one mount, 3 processes)
# Prints the checker's report and "RESULT p passed, f failed"; exit status
# 0 only if everything passed.  Needs root (FUSE) and the test packages.
# Not part of `make test` (about 10-20 minutes on 2 cores).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ops=100000 seed= round=1000 secs=3600 excl= parts=redis
while [ $# -gt 0 ]; do
	case $1 in
	-n) ops=$2; shift ;;
	-s) seed=$2; shift ;;
	-q) round=$2; shift ;;
	-t) secs=$2; shift ;;
	-x) excl=$2; shift ;;
	--lmdb) parts="redis lmdb" ;;
	-h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/distcheck.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done
make -C "$ROOT" -s build/cassafs build/tests/distcheck || exit 2
start=$(date +%s)
DISTCHECK_OPS=$ops DISTCHECK_SECS=$secs DISTCHECK_ROUND=$round DISTCHECK_PARTS=$parts \
	DISTCHECK_SEED=$seed DISTCHECK_OPTS="-v${excl:+ -x $excl}" \
	"$ROOT/tests/t_distcheck.sh"
rc=$?
echo "bench/distcheck.sh: $(( $(date +%s) - start )) s in all, exit $rc"
exit $rc
