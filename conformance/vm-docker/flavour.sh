# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # run.sh's variables: set here, used there
# The Docker flavour of the systemd VM, sourced by vm-systemd/run.sh (which
# defines here, vm, cache, sysc, packages, hook and the defaults this file
# overrides). A rootfs of its own (rootfs-bookworm-docker, its own stamp),
# so `make check-vm-systemd` keeps its small one.
docker_dir="$(cd "$here/../vm-docker" && pwd)"
src_tree="$(cd "$here/../.." && pwd)"
guest_test="$docker_dir/guest-test.sh"
# dockerd, containerd, the systemd guest and a 256M container fit; the
# hogs touch the guest's whole memory once, so less memory is less time.
guest_mem=768
# the image layers, two builds and a 400M page-cache file
disk_extra_mb=1400
unit_after="basic.target dbus.socket docker.service"
boot_timeout=1200
# docker.io from Debian's archive, apparmor (Debian's kernel has AppArmor on:
# without apparmor_parser dockerd refuses every container, "AppArmor enabled
# on system but the docker-default profile could not be loaded"; a Debian
# host has it installed), iproute2 (the veth checks), and what
# ./install.sh checks with dpkg-query before it builds (its BUILD_DEPS: with
# one missing it runs apt-get, and the guest has no network).
install_deps=$(sed -n 's/^BUILD_DEPS=(\(.*\))$/\1/p' "$src_tree/install.sh")
[[ -n "$install_deps" ]] || { echo "check-vm-docker: no BUILD_DEPS=(...) line in $src_tree/install.sh" >&2; exit 1; }
packages="$packages,docker.io,apparmor,iproute2,${install_deps// /,}"

# Kernel modules dockerd loads (overlay, bridge, veth, netfilter for its
# iptables rules): net/, overlayfs, veth and their library modules from the
# same Debian package as the kernel, indexed by the guest's own depmod.
docker_modules() { # docker_modules ROOT RELEASE PACKAGE
	local root="$1" release="$2" pkg="$3" dir="$sysc/docker-modules-$2" deb
	if [[ ! -s "$dir/modules.order" ]]; then
		deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
		[[ -n "$deb" ]] || { echo "check-vm-docker: no ${pkg}_*.deb in $cache" >&2; return 1; }
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp"
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" --wildcards \
			"./lib/modules/$release/kernel/net/*" "./lib/modules/$release/kernel/fs/overlayfs/*" \
			"./lib/modules/$release/kernel/drivers/net/veth.ko*" "./lib/modules/$release/kernel/lib/*" \
			"./lib/modules/$release/modules.order" "./lib/modules/$release/modules.builtin*"
		rm -rf "$dir"
		mv "$dir.tmp/lib/modules/$release" "$dir"
		rm -rf "$dir.tmp"
	fi
	mkdir -p "$root/lib/modules"
	cp -al "$dir" "$root/lib/modules/$release"
	chroot "$root" /sbin/depmod -a "$release"
}

flavour_payload() { # flavour_payload ROOT KDIR
	local root="$1" kdir="$2" f
	docker_modules "$root" "$(cat "$kdir/release")" "$(basename "$kdir")"
	# The source tree as a newcomer has it after `make` (mtimes kept, so the
	# guest's `make all` finds every program up to date and builds nothing).
	make -s -q -C "$src_tree" programs 2>/dev/null ||
		{ echo "check-vm-docker: the programs in $src_tree/build are not up to date (make programs)" >&2; exit 1; }
	mkdir -p "$root/opt/memguard/src"
	local built=(build/oci-memguard build/oci-memguard-runtime build/hooks.d build/.wrapper-paths)
	[[ -d "$src_tree/build/man" ]] && built+=(build/man)
	[[ -d "$src_tree/build/gen" ]] && built+=(build/gen)
	# objects and archives of the normal flavour, which the programs depend on
	[[ -d "$src_tree/build/normal" ]] && built+=(build/normal)
	(cd "$src_tree" && { git ls-files 2>/dev/null || find . -path ./build -prune -o -path ./.git -prune -o -type f -print; } |
		tar -c --files-from=- "${built[@]}") |
		tar -x -C "$root/opt/memguard/src"
	# the hook under test, when it is not this tree's own build
	if ! cmp -s "$hook" "$root/opt/memguard/src/build/oci-memguard"; then
		cp -p "$hook" "$root/opt/memguard/src/build/oci-memguard"
		touch "$root/opt/memguard/src/build/oci-memguard"
	fi
	# The image's rootfs (`docker import` in the guest: no registry there).
	mkdir -p "$root/opt/memguard/image"/{bin,proc,sys,dev,tmp,etc}
	install -m 0755 /bin/busybox "$root/opt/memguard/image/bin/busybox"
	for f in sh true sleep cat echo dd sync ls rm mkdir grep head wc awk sed; do
		ln -s busybox "$root/opt/memguard/image/bin/$f"
	done
	cp "$root/opt/memguard/rootfs/bin/memhog" "$root/opt/memguard/image/bin/memhog"
	mkdir -p "$root/opt/memguard/bin"
	gcc -static -O2 -Wall -Wextra -Werror -o "$root/opt/memguard/bin/fragment" "$docker_dir/fragment.c"
	install -m 0755 "$docker_dir/order-probe.sh" "$root/opt/memguard/bin/order-probe"
	install -m 0755 "$docker_dir/order-runtime.sh" "$root/opt/memguard/bin/order-runtime-after"
	install -m 0755 "$docker_dir/order-runtime.sh" "$root/opt/memguard/bin/order-runtime-first"
}
