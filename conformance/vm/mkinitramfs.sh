#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mkinitramfs.sh KERNEL_DIR HOOK_BIN OUT: the VM suite's initramfs.
#   /init, /test.sh          guest-init.sh, guest-test.sh (the cases; they
#                            write the runc bundles and the policy in the guest)
#   /bin/busybox             busybox-static: the guest's whole userland
#   /usr/sbin/runc           the host's runc, with its ldd libraries
#   /usr/bin/oci-memguard    HOOK_BIN (default $MEMGUARD_BIN), with its ldd
#                            libraries when it is not static
#   /modules                 zram and ext4 with their dependencies (fetch-kernel.sh)
#   /bundles/rootfs          the containers' root: busybox and memhog
# Files in the guest are packed directly: 9p would need nine modules and
# starts big programs slowly (TESTBED).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[[ $# -eq 3 ]] || { echo "usage: mkinitramfs.sh KERNEL_DIR HOOK_BIN OUT" >&2; exit 2; }
kdir="$1" hook="${2:-${MEMGUARD_BIN:-}}" out="$3"
[[ -x "$hook" ]] || { echo "mkinitramfs: hook binary '$hook' is not executable" >&2; exit 1; }
runc="$(command -v runc || true)"
[[ -x "$runc" ]] || { echo "mkinitramfs: runc not found (apt-get install runc)" >&2; exit 1; }
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

copy_bin() { # copy_bin SRC DEST-in-guest: the program and its shared libraries
	install -D -m 0755 "$1" "$stage$2"
	local lib
	for lib in $(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+' | sort -u); do
		[[ -e "$stage$lib" ]] || install -D -m 0755 "$lib" "$stage$lib"
	done
}

mkdir -p "$stage"/{bin,sbin,proc,sys,dev,run,tmp,etc,mnt,modules,var/log,bundles/rootfs/bin}
install -m 0755 /bin/busybox "$stage/bin/busybox"
install -m 0755 "$here/guest-init.sh" "$stage/init"
install -m 0644 "$here/guest-test.sh" "$stage/test.sh"
install -m 0644 "$here"/case-*.sh "$stage/"
cp "$kdir"/modules/*.ko "$kdir/modules/order" "$stage/modules/"
copy_bin "$runc" /usr/sbin/runc
copy_bin "$hook" /usr/bin/oci-memguard

# The containers' rootfs. memhog is static so the rootfs needs no libc.
install -m 0755 /bin/busybox "$stage/bundles/rootfs/bin/busybox"
for applet in sh true sleep cat; do
	ln -s busybox "$stage/bundles/rootfs/bin/$applet"
done
gcc -static -O2 -Wall -Wextra -Werror -o "$stage/bundles/rootfs/bin/memhog" "$here/memhog.c"
mkdir -p "$stage/bundles/rootfs"/{proc,sys,dev,tmp,etc}

(cd "$stage" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
