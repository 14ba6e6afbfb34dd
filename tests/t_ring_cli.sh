#!/usr/bin/env bash
# `cassafs ring` from an operator's side: normal use, and bad input (device
# strings, duplicates, part power, replicas, too many devices, empty rings,
# truncated or corrupt builder and ring files).  Each must give a clear
# message and Swift's exit codes (0 ok, 1 warning, 2 error), never a crash.
set -u
C=${CASSAFS:-$PWD/build/cassafs}
T=$(mktemp -d /tmp/t_ring_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect RC PATTERN CMD…: exit code RC and PATTERN (grep -E) in the output
expect() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "'$*' exited $rc, want $want: $out"
	elif [ -n "$pat" ] && ! grep -qE -- "$pat" <<<"$out"; then
		bad "'$*' output lacks /$pat/: $out"
	else
		ok
	fi
}
sum() { md5sum "$1" 2>/dev/null | cut -d' ' -f1; }

# ---- usage and create ----
expect 2 "usage" "$C" ring
expect 0 "usage" "$C" ring --help
expect 2 "part power '33' is invalid" "$C" ring x.builder create 33 3 1
expect 2 "part power '-1' is invalid" "$C" ring x.builder create -1 3 1
expect 2 "part power 'ten' is invalid" "$C" ring x.builder create ten 3 1
expect 2 "replica count '0.5' is invalid" "$C" ring x.builder create 10 0.5 1
expect 2 "replica count '0' is invalid" "$C" ring x.builder create 10 0 1
expect 2 "replica count 'nan' is invalid" "$C" ring x.builder create 10 nan 1
expect 2 "min_part_hours '256' is invalid" "$C" ring x.builder create 10 3 256
expect 2 "usage" "$C" ring x.builder create 10 3
expect 2 "create it first" "$C" ring x.builder show
expect 2 "unknown verb" "$C" ring x.builder frobnicate
expect 0 "" "$C" ring x.builder create 0 1 0
expect 0 "" "$C" ring x.builder create 32 1 0
"$C" ring x.builder add r1z1-10.0.0.1:6200/sdb 1 >/dev/null
expect 2 "part power 32 cannot be rebalanced" "$C" ring x.builder rebalance
expect 0 "" "$C" ring r.builder create 8 3 1
[ -n "$(ls backups/*.r.builder 2>/dev/null)" ] && ok || bad "create kept no backup"

# ---- empty ring ----
expect 2 "no devices with weight" "$C" ring r.builder rebalance
expect 2 "empty" "$C" ring r.builder validate
expect 2 "not been rebalanced" "$C" ring r.builder write_ring
expect 0 "0 devices" "$C" ring r.builder show

# ---- device strings ----
before=$(sum r.builder)
for d in "r1z1-10.0.0.1/sdb" "r1z1-10.0.0.1:6200" "r1-10.0.0.1:6200/sdb" \
	 "r1z1-:6200/sdb" "r1z1-10.0.0.1:99999/sdb" "r1z1-10.0.0.1:0/sdb" \
	 "rXz1-10.0.0.1:6200/sdb" "r1z1_10.0.0.1:6200/sdb" "" \
	 "r1z1-10.0.0.1:6200/" "r1z1-10.0.0.1:6200/_meta" "r1z1-[::1:6200/sdb" \
	 "r1z1-10.0.0.1:6200R10.0.0.2/sdb" "r99999999999z1-10.0.0.1:6200/sdb" \
	 "r1z1-10.0.0.1:6200/sdb/x" "$(printf 'r1z1-10.0.0.1:6200/\xff\xfe')"; do
	expect 2 "invalid device string" "$C" ring r.builder add "$d" 100
done
for w in -1 abc "" inf nan 1e999; do
	expect 2 "invalid weight" "$C" ring r.builder add r1z1-10.0.0.1:6200/sdb "$w"
done
expect 2 "usage" "$C" ring r.builder add r1z1-10.0.0.1:6200/sdb
[ "$(sum r.builder)" = "$before" ] && ok || bad "rejected adds changed the builder"

expect 0 "got id 0" "$C" ring r.builder add r1z1-10.0.0.1:6200/sdb 100
expect 0 "got id 1" "$C" ring r.builder add r1z2-[fe80::1]:6200R[fe80::2]:6300/sdb_meta\ data 100
expect 2 "already exists as id 0" "$C" ring r.builder add r1z1-10.0.0.1:6200/sdb 50
expect 0 "got id 2" "$C" ring r.builder add z3-10.0.0.3:6200/sdc 100
# fewer devices than replicas
expect 0 "" "$C" ring r.builder remove d2
expect 2 "more replicas \(3\) than devices" "$C" ring r.builder rebalance
expect 0 "got id 3" "$C" ring r.builder add r1z3-10.0.0.3:6200/sdd 100 r1z4-10.0.0.4:6200/sdb 100

# ---- search values, weights, settings ----
expect 2 "matched 0 devices" "$C" ring r.builder remove d42
expect 2 "invalid search value" "$C" ring r.builder remove "dx"
expect 2 "matched 5 devices; add --yes" "$C" ring r.builder set_weight r1 50
expect 0 "weight set to 50" "$C" ring r.builder set_weight r1z1 50
expect 2 "invalid weight" "$C" ring r.builder set_weight d0 -3
expect 2 "invalid overload" "$C" ring r.builder set_overload abc
expect 2 "invalid overload" "$C" ring r.builder set_overload -1
expect 0 "10.00%" "$C" ring r.builder set_overload 10%
expect 2 "an integer from 0 to 255" "$C" ring r.builder set_min_part_hours 300
expect 0 "now set to 2" "$C" ring r.builder set_min_part_hours 2
expect 2 "invalid seed" "$C" ring r.builder rebalance --seed abc
expect 2 "usage" "$C" ring r.builder rebalance --bogus

# ---- rebalance, show, dispersion, validate, write_ring ----
expect 0 "Reassigned 768 \(300.00%\) partitions" "$C" ring r.builder rebalance --seed 3
expect 1 "min_part_hours: 2 hours" \
	"$C" ring r.builder rebalance --seed 3
expect 0 "256 partitions, 3.000000 replicas, 1 regions, 4 zones, 4 devices" \
	"$C" ring r.builder show
expect 0 "fe80::1.*meta data" "$C" ring r.builder show
expect 0 "Dispersion is 0.000000.*Overload is 10.00%" "$C" ring r.builder dispersion
expect 0 "r1z1-10.0.0.1/d0" "$C" ring r.builder dispersion --verbose
expect 0 "" "$C" ring r.builder validate
expect 0 "" "$C" ring r.builder write_ring
[ -s r.ring.gz ] && [ -n "$(ls backups/*.r.ring.gz 2>/dev/null)" ] && ok ||
	bad "write_ring made no ring file or backup"
expect 0 "is up-to-date" "$C" ring r.builder show
expect 0 "Primary ids" "$C" ring lookup r.ring.gz AUTH_test c o --suffix changeme
expect 0 "256 partitions" "$C" ring info r.ring.gz

# lookup against Swift's own vector (ring a: part power 10, suffix changeme)
"$C" ring a.builder create 10 3 1 >/dev/null
"$C" ring a.builder add r1z1-10.0.0.1:6200/sdb 100 r1z2-10.0.0.2:6200/sdb 100 \
	r1z3-10.0.0.3:6200/sdb 100 r1z4-10.0.0.4:6200/sdb 100 >/dev/null
"$C" ring a.builder rebalance --seed 1 >/dev/null
expect 0 "Partition	461" "$C" ring lookup a.ring.gz AUTH_test c o --prefix "" --suffix changeme
expect 0 "Hash     	7363996f2cfb95eaa18df19ccc31aece" \
	"$C" ring lookup a.ring.gz AUTH_test c o --prefix "" --suffix changeme
expect 0 "Partition	818" "$C" ring lookup a.ring.gz AUTH_ünicode c☃ o/with/slashes --prefix "" --suffix changeme
expect 0 "Handoff ids	[0-9]+$" "$C" ring lookup a.ring.gz AUTH_test --suffix changeme
expect 2 "usage" "$C" ring lookup a.ring.gz
expect 2 "usage" "$C" ring lookup a.ring.gz a c o extra --suffix x

# ---- more than 65,534 devices ----
/usr/bin/python3 - <<'PY'
import zlib
head = ("CASSAFS-RING-BUILDER 1\npart_power 4\nreplicas 1\nmin_part_hours 1\n"
        "overload 0\nversion 1\nlast_part_moves_epoch 0\ndevs_changed 1\n"
        "last_balance -1\nlast_dispersion -1\ndevs 65534\n")
lines = ["dev %d %d 1 =10.0.0.1 6200 =10.0.0.1 6200 =d%d 1 0 =\n" % (i, i, i)
         for i in range(65534)]
body = (head + "".join(lines) + "table 0 0\n").encode()
open("big.builder", "wb").write(body + zlib.crc32(body).to_bytes(4, "little"))
PY
expect 2 "too many devices: a ring holds at most 65534" \
	"$C" ring big.builder add r1z1-10.9.9.9:6200/sdz 1
expect 0 "65534 devices" "$C" ring big.builder show

# ---- truncated and corrupt files ----
cp r.builder t.builder
for n in 0 10 100 200 400 $(( $(stat -c %s r.builder) - 1 )); do
	head -c "$n" r.builder >t.builder
	expect 2 "cannot load builder t.builder" "$C" ring t.builder show
done
cp r.builder t.builder
printf '\x55' | dd of=t.builder bs=1 seek=300 conv=notrunc status=none
expect 2 "truncated or corrupt" "$C" ring t.builder show
echo "hello" >t.builder
expect 2 "not a CassaFS ring builder file" "$C" ring t.builder rebalance
for n in 0 5 20 60 $(( $(stat -c %s r.ring.gz) - 1 )); do
	head -c "$n" r.ring.gz >t.ring.gz
	expect 2 "cannot load ring t.ring.gz" "$C" ring lookup t.ring.gz a --suffix x
	expect 2 "cannot load ring t.ring.gz" "$C" ring info t.ring.gz
done
cp r.ring.gz t.ring.gz
printf '\xff\xff\xff\xff' | dd of=t.ring.gz bs=1 seek=40 conv=notrunc status=none
expect 2 "cannot load ring t.ring.gz" "$C" ring info t.ring.gz
expect 2 "No such file" "$C" ring info /nonexistent.ring.gz

echo "RESULT $pass passed, $fail failed"
[ "$fail" -eq 0 ]
