#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# `oci-memguard doctor` (SPEC §7): every check and its verdict on fixture
# hosts; exit 1 only when protection cannot work or the hook is broken.

load helpers

doctor() { "$MEMGUARD_BIN" doctor --sysroot "$SYSROOT" "$@"; }

healthy_v2() {
	make_sysroot v2
	mk_cgroup /system.slice/x
	echo 0 >"$CGROOT/system.slice/memory.peak"
	: >"$CGROOT/memory.reclaim"
	mkdir -p "$SYSROOT/proc/sys/kernel"
	echo "6.12.9-amd64" >"$SYSROOT/proc/sys/kernel/osrelease"
	echo "Node 0, zone   Normal   10 10 10 10 10 10 10 10 10 10 10" >"$SYSROOT/proc/buddyinfo"
	mkdir -p "$SYSROOT/usr/share/containers/oci/hooks.d" "$SYSROOT/usr/local/bin"
	cp "$MEMGUARD_BIN" "$SYSROOT/usr/local/bin/oci-memguard"
	for s in prestart poststop; do
		jq -n --arg s "$s" '{version: "1.0.0", hook: {path: "/usr/local/bin/oci-memguard", args: ["oci-memguard", $s]}, when: {always: true}, stages: [$s]}' \
			>"$SYSROOT/usr/share/containers/oci/hooks.d/oci-memguard-$s.json"
	done
	policy 10.json '{"memory": {"min": "64M"}}'
}

status_of() { # status_of CHECK-NAME
	doctor --json | jq -r --arg n "$1" '[.checks[] | select(.name == $n) | .status] | join(",")'
}

@test "a healthy cgroup v2 host with the hook registered: all OK, exit 0" {
	healthy_v2
	run doctor
	assert_success
	assert_line --regexp '^OK +cgroup +cgroup v2 at /sys/fs/cgroup, memory controller available$'
	assert_line --regexp '^OK +memory_recursiveprot'
	assert_line --regexp '^OK +memory.reclaim '
	assert_line --regexp '^OK +memory.reclaim swappiness= +kernel 6.12.9-amd64 >= 6.11'
	assert_line --regexp '^OK +memory.peak'
	assert_line --regexp '^OK +fragmentation \(order 4\) +70 free blocks'
	assert_line --regexp '^OK +podman/cri-o hooks.d'
	assert_line --regexp '^OK +policies +1 valid file$'
	assert_line "doctor: all good"
}

@test "--json is an object with a verdict and name/status/finding/fix per check" {
	healthy_v2
	run doctor --json
	assert_success
	run jq -e '(.verdict == "ok") and (.checks | length > 10) and all(.checks[]; has("name") and has("status") and has("finding") and has("fix"))' <<<"$output"
	assert_success
}

@test "cgroup v1 host: FAIL (protection cannot work), exit 1" {
	make_sysroot v1
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL +cgroup +cgroup v1: the memory controller is on cgroup v1'
	assert_output --partial "fix: boot with systemd.unified_cgroup_hierarchy=1"
}

@test "hybrid host (memory on v1, hugetlb-only cgroup2): FAIL, exit 1" {
	make_sysroot hybrid
	run doctor --json
	assert_failure 1
	run jq -r '.verdict' <<<"$output"
	assert_output fail
}

@test "memory_recursiveprot off is a warning with the remount fix and the moby#50466 note" {
	healthy_v2
	sed -i 's/,memory_recursiveprot//' "$SYSROOT/proc/self/mountinfo"
	run doctor
	assert_success
	assert_line --regexp '^WARN +memory_recursiveprot +off'
	assert_output --partial "moby/moby#50466"
}

@test "no memory.reclaim and an old kernel: warnings" {
	healthy_v2
	rm "$CGROOT/memory.reclaim"
	echo "6.1.0-56-amd64" >"$SYSROOT/proc/sys/kernel/osrelease"
	run status_of memory.reclaim
	assert_output WARN
	run status_of "memory.reclaim swappiness="
	assert_output WARN
}

@test "no free order-4 block: fragmentation warning" {
	healthy_v2
	echo "Node 0, zone   Normal   10 10 10 10 0 0 0 0 0 0 0" >"$SYSROOT/proc/buddyinfo"
	run status_of "fragmentation (order 4)"
	assert_output WARN
}

@test "low MemAvailable: warning" {
	healthy_v2
	sed -i 's/^MemAvailable:.*/MemAvailable:   100000 kB/' "$SYSROOT/proc/meminfo"
	run status_of MemAvailable
	assert_output WARN
}

@test "memory not enabled under an engine's parent cgroup: warning naming it" {
	healthy_v2
	mk_cgroup /docker
	echo "pids" >"$CGROOT/docker/cgroup.subtree_control"
	run doctor
	assert_line --regexp '^WARN +memory along engine paths +memory controller not enabled for the children of: /docker'
}

@test "WSL2 is detected and the autoMemoryReclaim/Resource Saver advice given" {
	healthy_v2
	echo "5.15.153.1-microsoft-standard-WSL2" >"$SYSROOT/proc/sys/kernel/osrelease"
	run doctor
	assert_success
	assert_line --regexp '^WARN +WSL2 +WSL2 detected'
	assert_output --partial "microsoft/WSL#11066"
	assert_output --partial "cannot be read from inside Linux"
	rm "$SYSROOT/proc/sys/kernel/osrelease"
	mkdir -p "$SYSROOT/run/WSL"
	run status_of WSL2
	assert_output WARN
}

@test "systemd running is reported" {
	healthy_v2
	mkdir -p "$SYSROOT/run/systemd/system"
	run doctor
	assert_line --regexp '^OK +systemd +running'
}

@test "an invalid policy file: FAIL naming it, exit 1" {
	healthy_v2
	policy 20-bad.json '{"memroy": {}}'
	run doctor
	assert_failure 1
	assert_line --regexp "^FAIL +policies +.*20-bad.json:1:2: unknown key 'memroy'"
}

@test "a registered hook path that does not exist: FAIL, exit 1" {
	healthy_v2
	rm "$SYSROOT/usr/local/bin/oci-memguard"
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL +podman/cri-o hooks.d +.*names /usr/local/bin/oci-memguard, which does not exist'
}

@test "docker registration: runtime path checked, default-runtime noted" {
	healthy_v2
	mkdir -p "$SYSROOT/etc/docker"
	jq -n '{"runtimes": {"oci-memguard": {"path": "/usr/local/bin/oci-memguard"}}, "default-runtime": "oci-memguard"}' >"$SYSROOT/etc/docker/daemon.json"
	run doctor
	assert_line --regexp '^OK +docker runtime +daemon.json runtime oci-memguard -> /usr/local/bin/oci-memguard \(default-runtime'
	jq '.runtimes["oci-memguard"].path="/nowhere/oci-memguard-runtime"' "$SYSROOT/etc/docker/daemon.json" >"$BATS_TEST_TMPDIR/d" && mv "$BATS_TEST_TMPDIR/d" "$SYSROOT/etc/docker/daemon.json"
	run doctor
	assert_failure 1
}

@test "no engine registered yet is only a warning" {
	healthy_v2
	rm -r "$SYSROOT/usr/share/containers"
	run doctor
	assert_success
	assert_line --regexp '^WARN +engines +no engine has the hook registered yet'
}
