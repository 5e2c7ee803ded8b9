#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mkinitramfs.sh KERNEL_DIR HOOK_BIN OUT: the VM suite's initramfs — busybox,
# runc and the hook (each with its ldd libraries), the zram modules, a
# busybox+memhog rootfs for the containers, their runc bundles (made here
# with `runc spec` and jq), the policy, /init and /test.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
kdir="$1" hook="$2" out="$3"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

copy_bin() { # copy_bin SRC DEST-in-guest: the program and its shared libraries
	install -D -m 0755 "$1" "$stage$2"
	local lib
	for lib in $(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+' | sort -u); do
		[[ -e "$stage$lib" ]] || install -D -m 0755 "$lib" "$stage$lib"
	done
}

mkdir -p "$stage"/{bin,sbin,proc,sys,dev,run,tmp,etc,modules,var/log,bundles/rootfs/bin}
install -m 0755 /bin/busybox "$stage/bin/busybox"
install -m 0755 "$here/guest-init.sh" "$stage/init"
install -m 0644 "$here/guest-test.sh" "$stage/test.sh"
cp "$kdir"/modules/*.ko "$kdir/modules/order" "$stage/modules/"
copy_bin "$(command -v runc)" /usr/sbin/runc
copy_bin "$hook" /usr/bin/oci-memguard

# the containers' rootfs
install -m 0755 /bin/busybox "$stage/bundles/rootfs/bin/busybox"
ln -s busybox "$stage/bundles/rootfs/bin/sh"
gcc -static -O2 -o "$stage/bundles/rootfs/bin/memhog" "$here/memhog.c"
mkdir -p "$stage/bundles/rootfs"/{proc,sys,dev,tmp,etc}

# the policy: 128M memory.min for the protected containers only
install -d "$stage/etc/oci-memguard/policy.d"
printf '%s\n' '{"description": "VM suite: protect a-hook", "match": {"cgroups": ["/memguard/ci/a-*"]}, "memory": {"min": "128M"}}' \
	>"$stage/etc/oci-memguard/policy.d/50-vm.json"
chmod 0644 "$stage/etc/oci-memguard/policy.d/50-vm.json"

spec="$stage/spec.json"
(cd "$stage" && runc spec && mv config.json spec.json)
bundle() { # bundle ID CGROUP HOOKED(0|1) ARGS-JSON
	mkdir -p "$stage/bundles/$1"
	jq --arg cg "$2" --argjson hooked "$3" --argjson args "$4" '
		.process.terminal = false
		| .process.args = $args
		| .root = {path: "/bundles/rootfs", readonly: false}
		| .linux.cgroupsPath = $cg
		| del(.linux.resources)
		| if $hooked == 1 then .hooks = {
			prestart: [{path: "/usr/bin/oci-memguard", args: ["oci-memguard", "prestart"], timeout: 30}],
			poststop: [{path: "/usr/bin/oci-memguard", args: ["oci-memguard", "poststop"], timeout: 30}]
		  } else . end' "$spec" >"$stage/bundles/$1/config.json"
}
for name in hook nohook leafonly; do
	hooked=0
	[[ "$name" == hook ]] && hooked=1
	bundle "a-$name" "/memguard/ci/a-$name" "$hooked" '["/bin/memhog", "256"]'
	bundle "b-$name" "/memguard/batch/b-$name" 0 '["/bin/memhog", "380", "active"]'
done
# the build guard case: a build step (annotation) that sleeps while checked
bundle build1 /memguard/build/build1 1 '["/bin/sh", "-c", "sleep 30"]'
jq '.annotations = {"oci-memguard.build": "true"}' "$stage/bundles/build1/config.json" >"$stage/bundles/build1/c.json"
mv "$stage/bundles/build1/c.json" "$stage/bundles/build1/config.json"
rm -f "$spec"

(cd "$stage" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$out"
