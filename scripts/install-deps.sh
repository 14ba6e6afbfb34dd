#!/usr/bin/env bash
# Installs every Debian 12 package CassaFS needs to build, run, test and
# benchmark: the union of .ci/packages.d/*.  Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (apt-get needs it)" >&2
	exit 1
fi
mapfile -t pkgs < <(cat .ci/packages.d/* | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
# A fresh machine may have no package lists yet.
if ! apt-cache show "${pkgs[0]}" >/dev/null 2>&1 || [ -n "${CASSAFS_APT_UPDATE:-}" ]; then
	apt_get update -q
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt_get install -y -q "${missing[@]}" || {
		apt_get update -q && apt_get install -y -q "${missing[@]}"
	}
fi
# FUSE needs its device; containers sometimes lack the node.
[ -e /dev/fuse ] || mknod -m 0666 /dev/fuse c 10 229 || true
