#!/bin/busybox sh
# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0-or-later
# /init of the VM suite's initramfs: a pure cgroup v2 host in a few lines,
# then /test.sh, then power off. Everything the host needs to read is printed
# on the serial console with the "MG:" prefix.
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run /tmp /var/log
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp

# memguard.recursiveprot=0|1 on the kernel command line picks the mount
# option: the suite runs once with and once without it.
opts=nsdelegate
grep -q 'memguard.recursiveprot=1' /proc/cmdline && opts=nsdelegate,memory_recursiveprot
mount -t cgroup2 -o "$opts" cgroup2 /sys/fs/cgroup
echo "+memory +pids" >/sys/fs/cgroup/cgroup.subtree_control

# zram swap: reclaim needs somewhere to push anonymous memory, or protection
# is invisible.
while read -r m; do
	case "$m" in
	zram.ko) insmod "/modules/$m" num_devices=2 ;;
	*) insmod "/modules/$m" ;;
	esac
done </modules/order
echo 1G >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0

echo "MG:boot $(uname -r) cgroup2 options: $(grep ' - cgroup2 ' /proc/self/mountinfo | sed 's/.* - cgroup2 [^ ]* //')"
# memguard.cases=a,b on the command line runs only those cases (development)
cases=$(sed -n 's/.*memguard.cases=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
[ -n "$cases" ] && export CASES="$cases"
sh /test.sh
echo "MG:done"
sync
poweroff -f
