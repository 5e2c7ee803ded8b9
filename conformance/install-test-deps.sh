#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs what `make check` needs on a fresh Debian 12 machine, only what is
# missing. Debian's packages only; nothing else is downloaded (the VM suite
# fetches its kernel package with apt-get itself).
set -euo pipefail

pkgs=(
	# build
	gcc make pkg-config libyajl-dev libseccomp-dev scdoc man-db
	# test runners and checkers
	bats bats-support bats-assert bats-file jq valgrind cppcheck shellcheck strace
	# libFuzzer harnesses (fuzz/)
	clang libclang-rt-14-dev
	# real runtimes (conformance/runtime-*.bats)
	runc crun
	# the cgroup v2 VM suites (conformance/vm; conformance/vm-systemd builds a
	# Debian rootfs with debootstrap from the configured apt mirror)
	qemu-system-x86 cpio busybox-static xz-utils debootstrap e2fsprogs
	# engines driven by conformance/engine-*.bats and install.bats
	podman conmon containernetworking-plugins containerd docker.io buildah skopeo umoci
	uidmap fuse-overlayfs slirp4netns iptables
	# examples/kubernetes/daemonset.yaml is validated with python3's yaml
	python3-yaml
	# `report` with a real logrotate run between hook runs (conformance/report.bats)
	logrotate
	# the real monitoring stack the metrics file is scraped by (conformance/monitoring.bats)
	prometheus prometheus-node-exporter
)
if [[ -n "${MEMGUARD_EXTRA_TEST_PKGS:-}" ]]; then
	# shellcheck disable=SC2206
	pkgs+=(${MEMGUARD_EXTRA_TEST_PKGS})
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "test dependencies: all present"
	exit 0
fi
echo "test dependencies: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "install-test-deps: need root to apt-get install: ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test dependencies: installed"
