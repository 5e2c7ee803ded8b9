#!/bin/busybox sh
# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0-or-later
# /init of the systemd VM flavour's initramfs: load the virtio disk and ext4
# modules (the Debian kernel has them as modules), mount /dev/vda and hand
# the machine to systemd on it. Anything that goes wrong is printed as an
# "MG:not ok" line and the machine powers off, so the host never waits for
# its timeout to learn about it.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo
fail() {
	echo "MG:begin"
	echo "MG:not ok - [initramfs] $*"
	echo "MG:done"
	poweroff -f
}
while read -r m; do
	insmod "/modules/$m" || fail "insmod $m"
done </modules/order
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -b /dev/vda ] || fail "no /dev/vda after 10 s (virtio_blk loaded: $(grep -c virtio_blk /proc/modules))"
mkdir -p /newroot
mount -t ext4 -o rw,relatime /dev/vda /newroot || fail "mount /dev/vda"
umount /proc /sys
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /lib/systemd/systemd
