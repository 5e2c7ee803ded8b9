#!/bin/busybox sh
# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0-or-later
# /init of the VM suite's initramfs: a pure cgroup v2 host in a few lines,
# then /test.sh, then power off. Everything the host reads is printed on the
# serial console as lines starting "MG:", between "MG:begin" and "MG:done".
#
# Kernel command line:
#   memguard.recursiveprot=0|1   mount cgroup2 without/with memory_recursiveprot
#   memguard.cases=a,b           run only these cases (development)
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run /tmp /var/log
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# SeaBIOS leaves "Booting from ROM.." without a newline on the console.
echo

opts=nsdelegate
grep -q 'memguard.recursiveprot=1' /proc/cmdline && opts=nsdelegate,memory_recursiveprot
mount -t cgroup2 -o "$opts" cgroup2 /sys/fs/cgroup
echo "+memory +pids" >/sys/fs/cgroup/cgroup.subtree_control

# zram swap: reclaim needs somewhere to push anonymous memory, or protection
# is invisible (without swap, anon memory cannot be reclaimed at all).
while read -r m; do
	case "$m" in
	zram.ko) insmod "/modules/$m" num_devices=2 ;; # zram1: the build guard's page-cache filesystem
	*) insmod "/modules/$m" ;;
	esac
done </modules/order
echo 1G >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0

echo "MG:begin"
echo "MG:boot kernel $(uname -r); cgroup2 super options: $(sed -n 's/.* - cgroup2 [^ ]* //p' /proc/self/mountinfo); swap $(awk '/SwapTotal/ {print int($2/1024)}' /proc/meminfo)M zram; THP $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
cases=$(sed -n 's/.*memguard\.cases=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
[ -n "$cases" ] && export CASES="$cases"
RECURSIVEPROT=0
grep -q 'memguard.recursiveprot=1' /proc/cmdline && RECURSIVEPROT=1
export RECURSIVEPROT
# A case that stops the script (an arithmetic error on a missing figure)
# must not pass as "the cases after it had nothing to say".
sh /test.sh || echo "MG:not ok - the guest's test script stopped early (exit $?): the cases after the last one shown did not run"
echo "MG:done"
sync
poweroff -f
