#!/usr/bin/env bash
# Compare CassaFS block sizes side by side: sequential write/read (1 MiB
# requests, 512 MiB) and random 4 KiB read/write (psync, 128 MiB file).
# Usage: bench/block_size.sh [SIZES...]   (default: 16K 64K 256K 1M)
set -euo pipefail
cd "$(dirname "$0")/.."
CASSAFS=${CASSAFS:-$PWD/build/cassafs}
sizes=("${@:-16K 64K 256K 1M}")
[ $# -gt 0 ] || sizes=(16K 64K 256K 1M)
tmp=$(mktemp -d /var/tmp/cassafs-bs.XXXXXX)
trap 'mountpoint -q "$tmp/mnt" && "$CASSAFS" umount "$tmp/mnt"; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/mnt"
fio_run() { # NAME RW BS SIZE [extra]
	fio --name="$1" --directory="$tmp/mnt" --filename=f --rw="$2" --bs="$3" \
		--size="$4" --ioengine=psync "${@:5}" --output-format=terse --terse-version=3 2>/dev/null
}
echo "| block size | seq write MiB/s | seq read MiB/s | rand read 4K IOPS | rand write 4K IOPS |"
echo "|---|---:|---:|---:|---:|"
for bs in "${sizes[@]}"; do
	rm -rf "$tmp/store"
	"$CASSAFS" mkfs --block-size "$bs" "lmdb://$tmp/store" >/dev/null
	"$CASSAFS" mount "lmdb://$tmp/store" "$tmp/mnt"
	w=$(fio_run sw write 1M 512M --end_fsync=1 | awk -F';' '{printf "%.0f", $48/1024}')
	echo 3 >/proc/sys/vm/drop_caches
	r=$(fio_run sr read 1M 512M | awk -F';' '{printf "%.0f", $7/1024}')
	rm -f "$tmp/mnt/f"
	fio_run prep write 1M 128M >/dev/null
	echo 3 >/proc/sys/vm/drop_caches
	rr=$(fio_run rr randread 4k 128M --time_based --runtime=10 | awk -F';' '{print $8}')
	rw=$(fio_run rw randwrite 4k 128M --time_based --runtime=10 | awk -F';' '{print $49}')
	echo "| $bs | $w | $r | $rr | $rw |"
	"$CASSAFS" umount "$tmp/mnt"
done
