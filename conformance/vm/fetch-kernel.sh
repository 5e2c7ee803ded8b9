#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fetch-kernel.sh [PACKAGE]: a Debian kernel for the cgroup v2 VM suite,
# cached per machine (never in git). Prints the directory holding
#   vmlinux        the uncompressed kernel (boots through PVH, ~2x faster
#                  than the bzImage under TCG)
#   modules/*.ko   zram (swap: reclaim needs somewhere to push anonymous
#                  memory, or protection is invisible) and ext4 (the build
#                  guard's page-cache filesystem), with every module they
#                  depend on; modules/order lists them in load order
#   release        the kernel release (uname -r)
#
# PACKAGE defaults to what linux-image-amd64 depends on (Debian 12: the
# current linux-image-6.1.0-N-amd64). Cache: $MEMGUARD_VM_CACHE, else
# ${XDG_CACHE_HOME:-/var/cache}/oci-memguard-vm.
#
# Only apt-get talks to the network (the Debian mirror). Nothing is installed
# into the host's /boot: the package is unpacked with dpkg-deb -x.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MEMGUARD_VM_CACHE:-${XDG_CACHE_HOME:-/var/cache}/oci-memguard-vm}"
# Modules the guest loads; their dependencies are added from modules.dep.
# crc32c_generic is not in ext4's modules.dep (ext4 asks the crypto API for
# "crc32c" at mount time, which modprobe would satisfy) but the guest has no
# modprobe, so it is named here.
wanted=(zram crc32c_generic ext4)

kernel_package() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}

pkg="${1:-}"
if [[ -z "$pkg" ]]; then
	pkg=$(kernel_package)
	if [[ -z "$pkg" ]]; then
		apt-get update -qq >&2 || true
		pkg=$(kernel_package)
	fi
fi
[[ -n "$pkg" ]] || {
	echo "fetch-kernel: cannot name the kernel package ('apt-cache depends linux-image-amd64' lists no linux-image-*-amd64)" >&2
	exit 1
}

out="$cache/$pkg"
if [[ -s "$out/vmlinux" && -s "$out/modules/order" && -s "$out/release" ]]; then
	echo "$out"
	exit 0
fi
for tool in apt-get dpkg-deb busybox; do
	command -v "$tool" >/dev/null || { echo "fetch-kernel: $tool is missing" >&2; exit 1; }
done
mkdir -p "$cache"
cd "$cache"
deb=$(find . -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
if [[ -z "$deb" ]]; then
	# A stale package list names a version the mirror no longer has.
	apt-get download "$pkg" >&2 || { apt-get update -qq >&2 && apt-get download "$pkg" >&2; }
	deb=$(find . -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
	[[ -n "$deb" ]] || { echo "fetch-kernel: apt-get download $pkg left no .deb in $cache" >&2; exit 1; }
fi

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/x" "$tmp/modules"
dpkg-deb -x "$deb" "$tmp/x"
kver=$(find "$tmp/x/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n 1)
[[ -n "$kver" ]] || { echo "fetch-kernel: $deb has no lib/modules/<release>" >&2; exit 1; }
"$here/extract-vmlinux.sh" "$tmp/x/boot/vmlinuz-$kver" "$tmp/vmlinux"

# The package carries no modules.dep (depmod runs at install time); the
# host has no kmod, busybox's depmod does the job.
kroot="$tmp/x/lib/modules/$kver"
busybox depmod -b "$tmp/x" "$kver"
declare -A path_of=() loaded=()
while IFS=: read -r mod _; do
	name="${mod##*/}"
	name="${name%%.ko*}"
	path_of[${name//-/_}]="$mod"
done <"$kroot/modules.dep"

add_module() { # add_module NAME: its dependencies first, then itself
	local name="${1//-/_}" rel dep deps
	[[ -n "${loaded[$name]:-}" ]] && return 0
	rel="${path_of[$name]:-}"
	if [[ -z "$rel" ]]; then
		# built into this kernel: nothing to load
		grep -q "/${1}.ko\$\|/${name}.ko\$" "$kroot/modules.builtin" && return 0
		echo "fetch-kernel: module $1 is neither in $pkg nor built in" >&2
		return 1
	fi
	loaded[$name]=1
	deps=$(sed -n "s|^${rel}:||p" "$kroot/modules.dep")
	for dep in $deps; do
		dep="${dep##*/}"
		add_module "${dep%%.ko*}"
	done
	case "$rel" in
	*.ko) cp "$kroot/$rel" "$tmp/modules/$name.ko" ;;
	*.ko.xz) xz -dc "$kroot/$rel" >"$tmp/modules/$name.ko" ;;
	*.ko.zst) zstd -qdc "$kroot/$rel" >"$tmp/modules/$name.ko" ;;
	*) echo "fetch-kernel: cannot unpack $rel" >&2; return 1 ;;
	esac
	echo "$name.ko" >>"$tmp/modules/order"
}
for m in "${wanted[@]}"; do
	add_module "$m"
done
echo "$kver" >"$tmp/release"
rm -rf "$tmp/x" "$out"
mv "$tmp" "$out"
echo "$out"
