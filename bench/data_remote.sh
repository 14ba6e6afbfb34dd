#!/usr/bin/env bash
# bench/data_remote.sh — large objects through CassaFS's swift:// engine
# (data_put_batch / data_get_batch, via build/tests/data_probe) beside
# python3-swiftclient's `swift upload` / `swift download` (its default 10
# object threads), on the same private Swift all-in-one, in one run.
#
#   bench/data_remote.sh [RUNS]      (default 3; N=8 SIZE_MB=32 by default)
#
# Both sides move the same N objects of SIZE_MB MiB through the same proxy;
# CassaFS's figures are the transfer alone (its bytes are made before and
# checked after the timed call), swift's are the whole command; the
# "swift CLI − start" column takes out the median time of `swift --version`
# measured in the same run (its Python start), an upper bound of what the
# tool's transfers reach.  Prints a table of medians; run it inside a network namespace of your own:
#   ip netns add bench; ip netns exec bench ip link set lo up
#   ip netns exec bench bench/data_remote.sh
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/swift_aio.sh
RUNS=${1:-3} N=${N:-8} SIZE_MB=${SIZE_MB:-32}
PROBE=build/tests/data_probe
[ -x "$PROBE" ] || make -j2 tests >/dev/null || exit 1
command -v swift >/dev/null || { echo "apt-get install python3-swiftclient" >&2; exit 1; }
W=$(mktemp -d /tmp/cassafs-bench-remote.XXXXXX)
trap 'swift_aio_stop; rm -rf "$W"' EXIT
swift_aio_start "$W/swift" "${SWIFT_BENCH_PORT:-16600}" || exit 1
export CASSAFS_DATA_SECRETS=$W/secrets
printf 'CASSAFS_DATA_USER=%s\nCASSAFS_DATA_KEY=%s\n' "$SWIFT_USER" "$SWIFT_KEY" >"$W/secrets"
chmod 600 "$W/secrets"
SW=(swift -A "$SWIFT_AUTH_URL" -U "$SWIFT_USER" -K "$SWIFT_KEY")
mkdir -p "$W/up"
for i in $(seq 0 $((N - 1))); do
	head -c $((SIZE_MB << 20)) /dev/urandom >"$W/up/o$i"
done
MB=$((N * SIZE_MB))
mibs() { awk -v mb="$MB" -v ms="$1" 'BEGIN {printf "%.0f\n", mb / (ms / 1000)}'; }
now() { date +%s%N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
: >"$W/c_put"; : >"$W/c_get"; : >"$W/s_put"; : >"$W/s_get"; : >"$W/start"
: >"$W/s_put_ms"; : >"$W/s_get_ms"
for r in $(seq 1 "$RUNS"); do
	# CassaFS: one batch put, one batch get, in one process
	out=$(printf 'putn r%d/ %d %d\ngetn r%d/ %d %d\n' "$r" "$N" $((SIZE_MB << 20)) \
		"$r" "$N" $((SIZE_MB << 20)) | "$PROBE" --prepare "swift://$SWIFT_HOSTPORT/bench-c")
	if [ "$(grep -c '^xfer_ms=.* rc=0 ' <<<"$out")" -ne 2 ]; then echo "cassafs failed: $out" >&2; exit 1; fi
	mibs "$(sed -n 2p <<<"$out" | sed 's/.*xfer_ms=\([0-9]*\).*/\1/')" >>"$W/c_put"
	mibs "$(sed -n 3p <<<"$out" | sed 's/.*xfer_ms=\([0-9]*\).*/\1/')" >>"$W/c_get"
	# swift: upload the same amount, download it
	t0=$(now)
	(cd "$W/up" && "${SW[@]}" upload -q "bench-s$r" o*) || { echo "swift upload failed" >&2; exit 1; }
	ms=$((($(now) - t0) / 1000000)); echo $ms >>"$W/s_put_ms"
	mibs $ms >>"$W/s_put"
	rm -rf "$W/down"; mkdir -p "$W/down"
	t0=$(now)
	(cd "$W/down" && "${SW[@]}" download -q "bench-s$r") || { echo "swift download failed" >&2; exit 1; }
	ms=$((($(now) - t0) / 1000000)); echo $ms >>"$W/s_get_ms"
	mibs $ms >>"$W/s_get"
	t0=$(now); swift --version >/dev/null; echo $((($(now) - t0) / 1000000)) >>"$W/start"
	cmp -s "$W/up/o0" "$W/down/o0" || { echo "swift download differs" >&2; exit 1; }
	echo "run $r: cassafs put $(tail -n1 "$W/c_put") get $(tail -n1 "$W/c_get")," \
	     "swift upload $(tail -n1 "$W/s_put") download $(tail -n1 "$W/s_get") MiB/s"
done
cp=$(median <"$W/c_put") cg=$(median <"$W/c_get") sp=$(median <"$W/s_put") sg=$(median <"$W/s_get")
st=$(median <"$W/start")
spn=$(mibs $(( $(median <"$W/s_put_ms") - st ))) sgn=$(mibs $(( $(median <"$W/s_get_ms") - st )))
echo
echo "$N objects of $SIZE_MB MiB, $RUNS runs, medians (MiB/s); swift --version: $st ms"
echo "| | CassaFS swift:// | swift CLI | ratio | swift CLI − start | ratio |"
echo "|---|---:|---:|---:|---:|---:|"
awk -v c="$cp" -v s="$sp" -v n="$spn" 'BEGIN {printf "| put / upload | %d | %d | %.2f× | %d | %.2f× |\n", c, s, c / s, n, c / n}'
awk -v c="$cg" -v s="$sg" -v n="$sgn" 'BEGIN {printf "| get / download | %d | %d | %.2f× | %d | %.2f× |\n", c, s, c / s, n, c / n}'
