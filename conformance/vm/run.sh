#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The cgroup v2 VM suite (`make check-vm`): boots a real Debian kernel with a
# pure cgroup v2 hierarchy under qemu (TCG: no KVM on CI), once with and once
# without memory_recursiveprot, and runs containers through runc with the
# hook in config.json. Prints one TAP line per case plus the tables; exits
# non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
hook="${MEMGUARD_BIN:-$here/../../build/oci-memguard}"
for tool in qemu-system-x86_64 cpio runc jq gcc; do
	command -v "$tool" >/dev/null || { echo "check-vm: $tool is missing (make test-deps installs it)" >&2; exit 1; }
done
if ! /bin/busybox --list >/dev/null 2>&1; then
	echo "check-vm: busybox-static is missing" >&2
	exit 1
fi
[[ -x "$hook" ]] || { echo "check-vm: hook binary $hook not built" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
kdir="$("$here/fetch-kernel.sh")"
echo "# kernel $(cat "$kdir/release") from $kdir"
t0=$(date +%s)
"$here/mkinitramfs.sh" "$kdir" "$hook" "$work/initrd.gz"
echo "# initramfs $(du -h "$work/initrd.gz" | cut -f1) in $(( $(date +%s) - t0 ))s"

n=0 failed=0
boot() { # boot LABEL EXTRA-CMDLINE
	local label="$1" t
	t=$(date +%s)
	timeout 300 qemu-system-x86_64 -M pc -accel tcg,thread=multi -cpu max -m 1024 -smp 2 \
		-nographic -no-reboot -nic none -kernel "$kdir/vmlinux" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet loglevel=3 transparent_hugepage=never $2" \
		</dev/null >"$work/console-$label.log" 2>&1 || true
	echo "# boot [$label]: $(( $(date +%s) - t ))s"
	if ! grep -q '^MG:done' "$work/console-$label.log"; then
		n=$((n + 1)); failed=$((failed + 1))
		echo "not ok $n - [$label] the guest did not finish; console:"
		tail -n 40 "$work/console-$label.log" | sed 's/^/#   /'
		return
	fi
	local line
	while IFS= read -r line; do
		line="${line%$'\r'}"
		case "$line" in
		MG:ok\ -*) n=$((n + 1)); echo "ok $n - [$label] ${line#MG:ok - }" ;;
		MG:not\ ok\ -*) n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - [$label] ${line#MG:not ok - }" ;;
		MG:*) echo "# ${line#MG:}" ;;
		esac
	done < <(grep -a '^MG:' "$work/console-$label.log")
}

# MEMGUARD_VM_CASES=case1,case2 runs only those (development); MEMGUARD_VM_BOOTS
# picks the boots (default both).
extra=""
[[ -n "${MEMGUARD_VM_CASES:-}" ]] && extra="memguard.cases=$MEMGUARD_VM_CASES"
for b in ${MEMGUARD_VM_BOOTS:-recursiveprot no-recursiveprot}; do
	case "$b" in
	recursiveprot) boot recursiveprot "memguard.recursiveprot=1 $extra" ;;
	no-recursiveprot) boot no-recursiveprot "memguard.recursiveprot=0 $extra" ;;
	*) echo "check-vm: unknown boot '$b'" >&2; exit 2 ;;
	esac
done
echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
echo "# VM suite: $(( $(date +%s) - t0 ))s"
((failed == 0))
