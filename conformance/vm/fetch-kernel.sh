#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fetch-kernel.sh [PACKAGE]: a Debian kernel for the cgroup v2 VM suite,
# cached per machine (never in git). Prints the directory holding `vmlinux`,
# `modules/` (zram swap; ext4 for the build guard's page-cache filesystem,
# in load order in modules/order) and `release`.
#
# Only apt-get talks to the network (the Debian mirror). Nothing is installed
# into the host's /boot: the package is unpacked with dpkg-deb -x.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MEMGUARD_VM_CACHE:-/var/cache/oci-memguard-vm}"
pkg="${1:-}"
if [[ -z "$pkg" ]]; then
	# linux-image-amd64 depends on the current 6.1 ABI's package
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
	if [[ -z "$pkg" ]]; then
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
	fi
fi
[[ -n "$pkg" ]] || { echo "fetch-kernel: cannot find the kernel package (apt-cache depends linux-image-amd64)" >&2; exit 1; }

out="$cache/$pkg"
modules=(mm/zsmalloc drivers/block/zram/zram lib/crc16 crypto/crc32c_generic fs/mbcache fs/jbd2/jbd2 fs/ext4/ext4)
if [[ -s "$out/vmlinux" && -s "$out/modules/ext4.ko" && -s "$out/modules/order" && -s "$out/release" ]]; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"
cd "$cache"
deb=$(find . -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
if [[ -z "$deb" ]]; then
	apt-get download "$pkg" >&2 2>/dev/null || { apt-get update -qq >&2 && apt-get download "$pkg" >&2; }
	deb=$(find . -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp/x" "$out.tmp/modules"
dpkg-deb -x "$deb" "$out.tmp/x"
kver=$(find "$out.tmp/x/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n 1)
"$here/extract-vmlinux.sh" "$out.tmp/x/boot/vmlinuz-$kver" "$out.tmp/vmlinux"
for m in "${modules[@]}"; do
	src="$out.tmp/x/lib/modules/$kver/kernel/$m.ko"
	if [[ -f "$src" ]]; then
		cp "$src" "$out.tmp/modules/"
	elif [[ -f "$src.xz" ]]; then
		xz -dc "$src.xz" >"$out.tmp/modules/$(basename "$m").ko"
	elif [[ -f "$src.zst" ]]; then
		zstd -qdc "$src.zst" >"$out.tmp/modules/$(basename "$m").ko"
	else
		continue
	fi
	echo "$(basename "$m").ko" >>"$out.tmp/modules/order"
done
echo "$kver" >"$out.tmp/release"
rm -rf "$out.tmp/x" "$out"
mv "$out.tmp" "$out"
echo "$out"
