#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The cgroup v2 VM suite (`make check-vm`): boots a real Debian kernel with a
# pure cgroup v2 hierarchy under qemu (TCG: CI has no KVM), once with and
# once without memory_recursiveprot, and runs containers through runc with
# the hook in config.json. Prints one TAP line per check, the tables, and a
# summary; exits non-zero on any failure.
#
# Environment:
#   MEMGUARD_BIN        the hook to test (default: build/oci-memguard)
#   MEMGUARD_VM_CACHE   kernel cache (default ${XDG_CACHE_HOME:-/var/cache}/oci-memguard-vm)
#   MEMGUARD_VM_BOOTS   "recursiveprot no-recursiveprot" (default: both)
#   MEMGUARD_VM_CASES   comma-separated case names (default: every case)
#   MEMGUARD_VM_TIMEOUT seconds per boot before it counts as hung (default 720:
#                       the cases take ~400 s of guest time under TCG on a busy
#                       2-core machine since the build-limit and budget cases;
#                       a hung guest still fails within the CI's time)
#   MEMGUARD_VM_KEEP    a directory to keep the initramfs and console logs in
#
# Installs nothing: `make test-deps` installs qemu-system-x86, cpio,
# busybox-static and runc. The kernel comes from the Debian mirror through
# apt-get download (fetch-kernel.sh), cached per machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
hook="${MEMGUARD_BIN:-$here/../../build/oci-memguard}"
t_suite=$(date +%s)

missing=()
for tool in qemu-system-x86_64:qemu-system-x86 cpio:cpio runc:runc gcc:gcc apt-get:apt dpkg-deb:dpkg flock:util-linux; do
	command -v "${tool%%:*}" >/dev/null || missing+=("${tool%%:*} (package ${tool#*:})")
done
# busybox-static: the guest has no libc, so busybox must be the static one.
if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
	missing+=("a static /bin/busybox (package busybox-static)")
fi
if ((${#missing[@]})); then
	printf 'check-vm: missing %s\n' "${missing[@]}" >&2
	echo "check-vm: 'make test-deps' installs them (apt-get install --no-install-recommends qemu-system-x86 cpio busybox-static runc)" >&2
	exit 1
fi
[[ -x "$hook" ]] || { echo "check-vm: the hook binary '$hook' is not built (make, or set MEMGUARD_BIN)" >&2; exit 1; }
hook="$(cd "$(dirname "$hook")" && pwd)/$(basename "$hook")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
kdir="$("$here/fetch-kernel.sh")"
echo "# kernel $(cat "$kdir/release") from $kdir"
echo "# hook $hook"
t=$(date +%s)
"$here/mkinitramfs.sh" "$kdir" "$hook" "$work/initrd.gz"
echo "# initramfs $(du -h "$work/initrd.gz" | cut -f1) built in $(($(date +%s) - t))s"

n=0 failed=0
declare -A result=() boot_secs=()
variants=()
boot() { # boot LABEL EXTRA-CMDLINE
	local label="$1" t0 line console="$work/console-$1.log"
	t0=$(date +%s)
	# One qemu at a time on the machine (the lock lives in the shared
	# kernel cache): two TCG guests on 2 cores slow each other enough to
	# skew the timed tables.
	flock "$kdir/.qemu.lock" timeout "${MEMGUARD_VM_TIMEOUT:-720}" qemu-system-x86_64 \
		-M pc -accel tcg,thread=multi -cpu max -m 1024 -smp 2 \
		-nographic -no-reboot -nic none -kernel "$kdir/vmlinux" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet loglevel=3 transparent_hugepage=never $2" \
		</dev/null >"$console" 2>&1 || true
	boot_secs[$label]=$(($(date +%s) - t0))
	echo "# boot [$label]: ${boot_secs[$label]}s"
	# Firmware text may precede a marker on the same console line.
	grep -ao 'MG:.*' "$console" | tr -d '\r' >"$work/mg-$label.txt" || true
	if ! grep -qx 'MG:begin' "$work/mg-$label.txt" || ! grep -qx 'MG:done' "$work/mg-$label.txt"; then
		n=$((n + 1)) failed=$((failed + 1))
		echo "not ok $n - [$label] the guest ran the cases and powered off (no MG:begin/MG:done; last console lines follow)"
		tail -n 40 "$console" | tr -d '\r' | sed 's/^/#   /'
	fi
	while IFS= read -r line; do
		case "$line" in
		MG:ok\ -*) n=$((n + 1)); echo "ok $n - [$label] ${line#MG:ok - }" ;;
		MG:not\ ok\ -*) n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - [$label] ${line#MG:not ok - }" ;;
		MG:result\ *)
			read -r _ v lo fin secs <<<"$line"
			result[$label,$v]="$lo / $fin (${secs}s)"
			[[ " ${variants[*]} " == *" $v "* ]] || variants+=("$v")
			;;
		MG:begin | MG:done) ;;
		MG:*) echo "# ${line#MG:}" ;;
		esac
	done <"$work/mg-$label.txt"
	if [[ -n "${MEMGUARD_VM_KEEP:-}" ]]; then
		mkdir -p "$MEMGUARD_VM_KEEP"
		cp "$console" "$work/initrd.gz" "$MEMGUARD_VM_KEEP/"
	fi
}

extra=""
[[ -n "${MEMGUARD_VM_CASES:-}" ]] && extra="memguard.cases=$MEMGUARD_VM_CASES"
boots=()
for b in ${MEMGUARD_VM_BOOTS:-recursiveprot no-recursiveprot}; do
	case "$b" in
	recursiveprot) boot recursiveprot "memguard.recursiveprot=1 $extra" ;;
	no-recursiveprot) boot no-recursiveprot "memguard.recursiveprot=0 $extra" ;;
	*) echo "check-vm: unknown boot '$b' (recursiveprot, no-recursiveprot)" >&2; exit 2 ;;
	esac
	boots+=("$b")
done

if ((${#variants[@]})); then
	echo "#"
	echo "# Protected container (256M touched, policy min=128M) under a 380M neighbour in a shared 400M:"
	echo "# memory.current in MiB, lowest / at the end (seconds of pressure; unprotected runs stop below 64M)"
	printf '#   %-16s' "variant"
	printf '%-20s' "${boots[@]}"
	echo
	for v in "${variants[@]}"; do
		printf '#   %-16s' "$v"
		for b in "${boots[@]}"; do printf '%-20s' "${result[$b,$v]:--}"; done
		echo
	done
	printf '#   %-16s' "boot time"
	for b in "${boots[@]}"; do printf '%-20s' "${boot_secs[$b]}s"; done
	echo
fi
echo "1..$n"
echo "# $((n - failed)) passed, $failed failed; VM suite ${#boots[@]} boots in $(($(date +%s) - t_suite))s"
((failed == 0 && n > 0))
