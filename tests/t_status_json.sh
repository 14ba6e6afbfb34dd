#!/usr/bin/env bash
# `cassafs status --json`: valid JSON (python3's parser) carrying the same
# facts as the text status, unmounted and mounted, and clear errors.
. "$(dirname "$0")/lib.sh"
URL="lmdb://$T_TMP/store"
MP=$T_TMP/mnt
"$CASSAFS" mkfs --block-size 128K "$URL" >/dev/null || fail "mkfs"

# compare JSON with the text form: fields the test names
compare() { # WHAT: checks $T_TMP/s.json against $T_TMP/s.txt
	python3 - "$T_TMP/s.json" "$T_TMP/s.txt" "$1" <<'PY'
import json, sys, re, time
j = json.load(open(sys.argv[1])); txt = open(sys.argv[2]).read(); what = sys.argv[3]
t = {}
for line in txt.splitlines():
    k, v = line[:13].strip(), line[13:]
    t.setdefault(k, []).append(v)
bad = []
def eq(a, b, name):
    if a != b: bad.append(f"{name}: json {a!r} text {b!r}")
eq(j["status_version"], 1, "status_version")
eq(j["filesystem"], t["filesystem"][0], "filesystem")
eq(j["uuid"], t["uuid"][0], "uuid")
eq(str(j["format"]), t["format"][0], "format")
eq(str(j["block_size"]), t["block size"][0], "block size")
eq(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j["created"])), t["created"][0], "created")
eq(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(j["created"])), j["created_utc"], "created_utc")
eq(str(j["inodes_used"]), t["inodes used"][0], "inodes")
eq(f'{j["bytes_used"]} ({j["blocks_used"]} blocks)', t["bytes used"][0], "bytes")
eq(j["bytes_used"], j["blocks_used"] * j["block_size"], "bytes = blocks * block size")
if j["mounted"]:
    got = [f'host {m["host"]} pid {m["pid"]} at {m["mountpoint"]} since '
           f'{time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m["since"]))} (cassafs {m["version"]})'
           for m in j["mounts"]]
    eq(got, t["mounted"], "mounts")
else:
    eq(t["mounted"], ["no"], "mounted")
    eq(j["mounts"], [], "mounts list")
if what == "mounted" and not j["mounted"]: bad.append("not shown as mounted")
if what == "unmounted" and j["mounted"]: bad.append("shown as mounted")
print("\n".join(bad)); sys.exit(1 if bad else 0)
PY
}
"$CASSAFS" status --json "$URL" >"$T_TMP/s.json"; check "status --json exit 0" test $? -eq 0
"$CASSAFS" status "$URL" >"$T_TMP/s.txt"
check "unmounted: JSON matches the text status" compare unmounted
check "status --help mentions --json" bash -c "'$CASSAFS' status --help | grep -q -- --json"

mount_fs "$URL" "$MP" || fail "mount"
head -c 300000 /dev/urandom >"$MP/f"; mkdir "$MP/d"; sync "$MP/f"
"$CASSAFS" status --json "$URL" >"$T_TMP/s.json"
"$CASSAFS" status "$URL" >"$T_TMP/s.txt"
check "mounted: JSON matches the text status" compare mounted
check "mounted: our pid and mountpoint" python3 -c "
import json,sys; j=json.load(open('$T_TMP/s.json')); m=j['mounts'][0]
sys.exit(not (m['mountpoint']=='$(realpath "$MP")' and m['pid']==int('$(daemon_pid "$MP")') and j['inodes_used']==3 and j['blocks_used']==3))"
umount_fs "$MP" || fail "umount"

expect_error "missing store" "mkfs" "$CASSAFS" status --json "lmdb://$T_TMP/none"
out=$("$CASSAFS" status --json "lmdb://$T_TMP/none" 2>/dev/null)
check "nothing on stdout on error" test -z "$out"
expect_error "bad option" "usage" "$CASSAFS" status --jsn "$URL"
finish
