#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The systemd VM flavour (`make check-vm-systemd`): a Debian
# bookworm rootfs with systemd as PID 1 on a virtio disk under qemu (TCG),
# the Debian kernel of conformance/vm, runc --systemd-cgroup, the hook in
# config.json. Proves that system.slice is protected through systemd and
# stays so across daemon-reload, and is given back. One TAP line per check,
# the tables, a summary; exits non-zero on any failure.
#
# Environment:
#   MEMGUARD_BIN        the hook (default build/oci-memguard, the default build:
#                       its built-in D-Bus client talks to systemd)
#   MEMGUARD_VM_CACHE   cache (default ${XDG_CACHE_HOME:-/var/cache}/oci-memguard-vm);
#                       the rootfs is kept in its systemd/ directory
#   MEMGUARD_VM_MIRROR  Debian archive for debootstrap (default: from the
#                       host's apt sources; none there is an error)
#   MEMGUARD_VM_CASES   comma-separated case names (default: every case)
#   MEMGUARD_VM_TIMEOUT seconds before the boot counts as hung (default 600)
#   MEMGUARD_VM_KEEP    a directory to keep the console log in
#   MEMGUARD_VM_FLAVOUR systemd (default), or docker: conformance/vm-docker/run.sh
#                       sets it; flavour.sh there adds packages, files and cases
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vm="$here/../vm"
hook="${MEMGUARD_BIN:-$here/../../build/oci-memguard}"
cache="${MEMGUARD_VM_CACHE:-${XDG_CACHE_HOME:-/var/cache}/oci-memguard-vm}"
sysc="$cache/systemd"
suite="bookworm"
# What the guest needs besides minbase: systemd as init, dbus for runc's
# systemd driver, udev for the disk and console devices, runc, kmod
# (insmod), strace (the seccomp case lists the hook's syscalls).
packages="systemd,systemd-sysv,dbus,udev,runc,kmod,strace,procps"
t_suite=$(date +%s)
# What a flavour may change (conformance/vm-docker/flavour.sh): its name in
# the TAP lines, extra packages (a rootfs of its own), the cases, memory,
# the unit's ordering, extra files on the disk (flavour_payload ROOT KDIR).
flavour="${MEMGUARD_VM_FLAVOUR:-systemd}"
guest_test="$here/guest-test.sh"
guest_mem=1024
disk_extra_mb=700
unit_after="basic.target dbus.socket"
boot_timeout=600
flavour_payload() { :; }
case "$flavour" in
systemd) ;;
docker)
	# shellcheck source=conformance/vm-docker/flavour.sh
	. "$here/../vm-docker/flavour.sh"
	;;
*) echo "check-vm-systemd: unknown MEMGUARD_VM_FLAVOUR '$flavour' (systemd, docker)" >&2; exit 2 ;;
esac

missing=()
for tool in qemu-system-x86_64:qemu-system-x86 debootstrap:debootstrap mkfs.ext4:e2fsprogs cpio:cpio gcc:gcc \
	dpkg-deb:dpkg apt-get:apt flock:util-linux; do
	command -v "${tool%%:*}" >/dev/null || missing+=("${tool%%:*} (package ${tool#*:})")
done
if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
	missing+=("a static /bin/busybox (package busybox-static)")
fi
if ((${#missing[@]})); then
	printf 'check-vm-systemd: missing %s\n' "${missing[@]}" >&2
	echo "check-vm-systemd: apt-get install --no-install-recommends qemu-system-x86 debootstrap e2fsprogs cpio busybox-static" >&2
	exit 1
fi
[[ $(id -u) -eq 0 ]] || { echo "check-vm-systemd: debootstrap and mkfs need root" >&2; exit 1; }
[[ -x "$hook" ]] || { echo "check-vm-systemd: the hook '$hook' is not built (make)" >&2; exit 1; }
# a hook from before the built-in D-Bus client (hook/dbus.c) cannot pass
grep -q SetUnitProperties "$hook" ||
	{ echo "check-vm-systemd: '$hook' cannot talk to systemd (older than hook/dbus.c?)" >&2; exit 1; }
hook="$(cd "$(dirname "$hook")" && pwd)/$(basename "$hook")"

# The Debian archive debootstrap fetches from: MEMGUARD_VM_MIRROR, else the
# host's own apt sources (one-line "deb [opts] URI SUITE..." in
# /etc/apt/sources.list and sources.list.d/*.list, deb822 "URIs:"/"Suites:"
# stanzas in sources.list.d/*.sources): the first URI that serves $suite,
# else the first that serves a main suite (no "-security"/"-updates"), as any
# Debian archive carries every release. None: say so and stop.
apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f "$f" ]] || continue
		sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\)[[:space:]]\{1,\}\([^[:space:]]*\).*/\2 \3/p' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f "$f" ]] || continue
		# one "URI SUITE" line per pair of a deb stanza that is not disabled
		awk 'function flush() { if (deb && enabled) for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j]
			deb = 0; enabled = 1; nu = ns = 0 }
		BEGIN { enabled = 1 }
		/^[[:space:]]*$/ { flush(); next }
		/^#/ { next }
		tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
		tolower($1) == "uris:" { for (i = 2; i <= NF; i++) u[++nu] = $i }
		tolower($1) == "suites:" { for (i = 2; i <= NF; i++) s[++ns] = $i }
		tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
		END { flush() }' "$f"
	done
}
mirror() {
	if [[ -n "${MEMGUARD_VM_MIRROR:-}" ]]; then
		echo "$MEMGUARD_VM_MIRROR"
		return
	fi
	local sources uri
	sources=$(apt_sources)
	uri=$(awk -v want="$suite" '$2 == want { print $1; exit }' <<<"$sources")
	[[ -n "$uri" ]] || uri=$(awk '$2 !~ /-/ { print $1; exit }' <<<"$sources")
	if [[ -z "$uri" ]]; then
		echo "check-vm-systemd: no Debian archive for debootstrap in this host's apt sources" \
			"(/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources);" \
			"set MEMGUARD_VM_MIRROR to the URL of one" >&2
		return 1
	fi
	echo "$uri"
}

# ---- the rootfs, cached: debootstrap once, then made bootable -----------
rootfs="$sysc/rootfs-$suite"
[[ "$flavour" == systemd ]] || rootfs="$sysc/rootfs-$suite-$flavour"
stamp="$suite $packages v1"
mkdir -p "$sysc"
exec 9>"$sysc/.lock"
flock 9
if [[ "$(cat "$rootfs/.memguard-rootfs" 2>/dev/null)" != "$stamp" ]]; then
	tmp="$rootfs.tmp.$$"
	rm -rf "$tmp"
	t=$(date +%s)
	m=$(mirror) || exit 1
	echo "# debootstrap $suite from $m (cached in $rootfs afterwards)"
	debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$m" >"$sysc/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$sysc/debootstrap.log" >&2; rm -rf "$tmp"; exit 1; }
	echo memguard-vm >"$tmp/etc/hostname"
	# A fixed machine id: an empty one means "first boot" to systemd.
	echo 6d656d67756172642d766d2d73797364 >"$tmp/etc/machine-id"
	# Nothing on the console but the kernel, systemd's errors and the suite;
	# nothing running that the suite did not start.
	for u in serial-getty@ttyS0.service getty@tty1.service console-getty.service apt-daily.timer \
		apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer systemd-tmpfiles-clean.timer dpkg-db-backup.timer \
		systemd-timesyncd.service; do
		ln -sf /dev/null "$tmp/etc/systemd/system/$u"
	done
	apt-get clean -o Dir="$tmp" >/dev/null 2>&1 || true
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
	echo "$stamp" >"$tmp/.memguard-rootfs"
	rm -rf "$rootfs"
	mv "$tmp" "$rootfs"
	echo "# rootfs built in $(($(date +%s) - t))s ($(du -sh "$rootfs" | cut -f1))"
fi

# ---- kernel and modules ---------------------------------------------------
kdir="$("$vm/fetch-kernel.sh")"
release="$(cat "$kdir/release")"
pkg="$(basename "$kdir")"
mods="$sysc/modules-$release"
# The virtio disk: virtio_blk behind virtio_pci, all modules in Debian's
# kernel; ext4 and zram come from fetch-kernel.sh's set.
virtio=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk)
if [[ ! -s "$mods/order" ]]; then
	deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
	[[ -n "$deb" ]] || { echo "check-vm-systemd: no ${pkg}_*.deb in $cache" >&2; exit 1; }
	x="$(mktemp -d)"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$x" --wildcards "./lib/modules/$release/kernel/drivers/virtio/*" \
		"./lib/modules/$release/kernel/drivers/block/virtio_blk.ko*"
	rm -rf "$mods.tmp"
	mkdir -p "$mods.tmp"
	for m in "${virtio[@]}"; do
		f=$(find "$x" -name "$m.ko*" | head -n 1)
		[[ -n "$f" ]] || { echo "check-vm-systemd: $m is not a module of $pkg" >&2; rm -rf "$x"; exit 1; }
		case "$f" in
		*.ko) cp "$f" "$mods.tmp/$m.ko" ;;
		*.ko.xz) xz -dc "$f" >"$mods.tmp/$m.ko" ;;
		*.ko.zst) zstd -qdc "$f" >"$mods.tmp/$m.ko" ;;
		esac
		echo "$m.ko" >>"$mods.tmp/order"
	done
	rm -rf "$x" "$mods"
	mv "$mods.tmp" "$mods"
fi
flock -u 9

work="$(mktemp -d "$sysc/run.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "# kernel $release from $kdir"
echo "# hook $hook"

# ---- initramfs: busybox, the disk modules, switch_root --------------------
t=$(date +%s)
ird="$work/initramfs"
mkdir -p "$ird"/{bin,proc,sys,dev,newroot,modules}
install -m 0755 /bin/busybox "$ird/bin/busybox"
install -m 0755 "$here/initramfs-init.sh" "$ird/init"
cp "$mods"/*.ko "$ird/modules/"
cp "$mods/order" "$ird/modules/order"
while read -r m; do
	case "$m" in zram.ko | zsmalloc.ko) continue ;; esac
	cp "$kdir/modules/$m" "$ird/modules/"
	echo "$m" >>"$ird/modules/order"
done <"$kdir/modules/order"
(cd "$ird" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$work/initrd.gz"

# ---- the disk: the cached rootfs (hard links) plus this run's files -------
root="$work/root"
cp -al "$rootfs" "$root"
install -D -m 0755 "$hook" "$root/usr/local/bin/oci-memguard"
install -D -m 0755 "$guest_test" "$root/opt/memguard/guest-test.sh"
mkdir -p "$root/opt/memguard/modules" "$root/opt/memguard/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp "$kdir/modules/zram.ko" "$kdir/modules/zsmalloc.ko" "$root/opt/memguard/modules/"
install -m 0755 /bin/busybox "$root/opt/memguard/rootfs/bin/busybox"
for applet in sh true sleep cat; do ln -s busybox "$root/opt/memguard/rootfs/bin/$applet"; done
gcc -static -O2 -Wall -Wextra -Werror -o "$root/opt/memguard/rootfs/bin/memhog" "$vm/memhog.c"
flavour_payload "$root" "$kdir"
cat >"$root/etc/systemd/system/memguard-test.service" <<EOF
[Unit]
Description=oci-memguard systemd VM suite
Wants=dbus.socket
After=$unit_after

[Service]
Type=oneshot
ExecStart=/bin/bash /opt/memguard/guest-test.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TimeoutStartSec=infinity
SuccessAction=poweroff-force
FailureAction=poweroff-force
EOF
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -s ../memguard-test.service "$root/etc/systemd/system/multi-user.target.wants/memguard-test.service"
size_mb=$(($(du -sm "$root" | cut -f1) + disk_extra_mb))
mkfs.ext4 -q -F -L memguard -E root_owner=0:0 -d "$root" "$work/disk.img" "${size_mb}M"
rm -rf "$root"
echo "# initramfs and ${size_mb}M ext4 disk built in $(($(date +%s) - t))s"

# ---- boot -----------------------------------------------------------------
extra=""
[[ -n "${MEMGUARD_VM_CASES:-}" ]] && extra="memguard.cases=$MEMGUARD_VM_CASES"
console="$work/console.log"
t0=$(date +%s)
# One qemu at a time on this machine, whichever VM suite runs it (the lock
# conformance/vm/run.sh takes too): two TCG guests on 2 cores skew timings.
flock "$kdir/.qemu.lock" timeout "${MEMGUARD_VM_TIMEOUT:-$boot_timeout}" qemu-system-x86_64 \
	-M pc -accel tcg,thread=multi -cpu max -m "$guest_mem" -smp 2 \
	-nographic -no-reboot -nic none -kernel "$kdir/vmlinux" -initrd "$work/initrd.gz" \
	-drive "file=$work/disk.img,format=raw,if=virtio" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 transparent_hugepage=never systemd.show_status=false $extra" \
	</dev/null >"$console" 2>&1 || true
boot_secs=$(($(date +%s) - t0))
[[ -n "${MEMGUARD_VM_KEEP:-}" ]] && { mkdir -p "$MEMGUARD_VM_KEEP"; cp "$console" "$MEMGUARD_VM_KEEP/console-$flavour.log"; }
echo "# qemu: boot, cases and power-off in ${boot_secs}s"

n=0 failed=0
declare -A result=()
variants=()
grep -ao 'MG:.*' "$console" | tr -d '\r' >"$work/mg.txt" || true
if ! grep -qx 'MG:begin' "$work/mg.txt" || ! grep -qx 'MG:done' "$work/mg.txt"; then
	n=$((n + 1)) failed=$((failed + 1))
	echo "not ok $n - the guest booted systemd, ran the cases and powered off (no MG:begin/MG:done; last console lines follow)"
	tail -n 40 "$console" | tr -d '\r' | sed 's/^/#   /'
fi
while IFS= read -r line; do
	case "$line" in
	MG:ok\ -*) n=$((n + 1)); echo "ok $n - [$flavour] ${line#MG:ok - }" ;;
	MG:not\ ok\ -*) n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - [$flavour] ${line#MG:not ok - }" ;;
	MG:result\ *)
		read -r _ v lo fin <<<"$line"
		result[$v]="$lo / $fin"
		variants+=("$v")
		;;
	MG:begin | MG:done) ;;
	MG:*) echo "# ${line#MG:}" ;;
	esac
done <"$work/mg.txt"
if ((${#variants[@]})); then
	echo "#"
	echo "# Container in system.slice (256M touched, policy min=128M), reclaim from the cgroup2 root in 64M steps:"
	echo "# memory.current in MiB, lowest / final"
	for v in "${variants[@]}"; do printf '#   %-10s %s\n' "$v" "${result[$v]}"; done
fi
echo "1..$n"
echo "# $((n - failed)) passed, $failed failed; $flavour VM suite in $(($(date +%s) - t_suite))s"
((failed == 0 && n > 0))
