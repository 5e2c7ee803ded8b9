#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The cgroup comes from /proc/<pid>/cgroup at start stages, with
# linux.cgroupsPath as the fallback; the cgroup2 mount from mountinfo.

load helpers

setup() {
	make_sysroot v2
	policy 50-all.json '{"memory": {"min": "64M"}}'
}

@test "the cgroup comes from /proc/<pid>/cgroup, not from cgroupsPath" {
	mk_cgroup /real/place
	mk_proc 4001 /real/place
	make_bundle c1 /somewhere/else
	state_for c1 4001
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /real/place memory.min)" 67108864
	run log_field '.cgroup'
	assert_output /real/place
}

@test "crun's 'container' sub-cgroup seen in /proc/<pid>/cgroup is the leaf; the scope is an ancestor" {
	mk_cgroup /machine.slice/libpod-c1.scope/container
	mk_proc 4001 /machine.slice/libpod-c1.scope/container
	make_bundle c1 machine.slice:libpod:c1
	state_for c1 4001
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /machine.slice/libpod-c1.scope/container memory.min)" 67108864
	assert_equal "$(cg_value /machine.slice/libpod-c1.scope memory.min)" 67108864
	assert_equal "$(cg_value /machine.slice memory.min)" 67108864
}

@test "fallback: absolute cgroupsPath (cgroupfs driver)" {
	mk_cgroup /docker/c1
	make_bundle c1 /docker/c1
	state_for c1 none '.status="creating"'
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /docker/c1 memory.min)" 67108864
	assert_equal "$(cg_value /docker memory.min)" 67108864
}

@test "fallback: relative cgroupsPath is rooted at / (crun's rule)" {
	mk_cgroup /rel/c1
	make_bundle c1 rel/c1
	state_for c1 none '.status="creating"'
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /rel/c1 memory.min)" 67108864
}

@test "fallback: systemd slice:prefix:name expands like runc (system.slice/docker-ID.scope)" {
	mk_cgroup /system.slice/docker-c1.scope
	make_bundle c1 system.slice:docker:c1
	state_for c1 none '.status="creating"'
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /system.slice/docker-c1.scope memory.min)" 67108864
	assert_equal "$(cg_value /system.slice memory.min)" 67108864
}

@test "fallback: nested slices expand (a-b.slice -> /a.slice/a-b.slice) and crun's sub-cgroup is found" {
	mk_cgroup /kubepods.slice/kubepods-burstable.slice/cri-containerd-c1.scope/container
	make_bundle c1 kubepods-burstable.slice:cri-containerd:c1
	state_for c1 none '.status="creating"'
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /kubepods.slice/kubepods-burstable.slice/cri-containerd-c1.scope/container memory.min)" 67108864
	assert_equal "$(cg_value /kubepods.slice memory.min)" 67108864
}

@test "fallback: empty cgroupsPath means /<id>" {
	mk_cgroup /c1
	make_bundle c1 ""
	state_for c1 none '.status="creating"'
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /c1 memory.min)" 67108864
}

@test "the cgroup2 mount point comes from mountinfo, wherever it is (escaped spaces too)" {
	mkdir -p "$SYSROOT/mnt/my cg"
	echo '30 1 0:40 / /mnt/my\040cg rw,relatime - cgroup2 cgroup2 rw' >"$SYSROOT/proc/self/mountinfo"
	CGROOT="$SYSROOT/mnt/my cg"
	echo "memory pids" >"$CGROOT/cgroup.controllers"
	mk_cgroup /x/c1
	mk_proc 4001 /x/c1
	make_bundle c1 /x/c1
	state_for c1 4001
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /x/c1 memory.min)" 67108864
	run log_field '.recursiveprot'
	assert_output false
}

@test "a symlink inside the cgroup tree is never followed" {
	mkdir -p "$BATS_TEST_TMPDIR/outside"
	echo 0 >"$BATS_TEST_TMPDIR/outside/memory.min"
	mk_cgroup /x
	ln -s "$BATS_TEST_TMPDIR/outside" "$CGROOT/x/evil"
	mk_proc 4001 /x/evil
	make_bundle c1 /x/evil
	state_for c1 4001
	hook_run prestart
	assert_success
	assert_equal "$(cat "$BATS_TEST_TMPDIR/outside/memory.min")" 0
}

@test "a bad cgroup path read from /proc/<pid>/cgroup is named as such, not blamed on linux.cgroupsPath" {
	# A path with ".." in the kernel's answer (a fake procfs, or a hostile
	# sysroot) used to be reported as "linux.cgroupsPath is not valid",
	# sending the operator to a config.json that was fine.
	mk_cgroup /docker/c1
	mk_proc 4001 /docker/../c1
	make_bundle c1 /docker/c1
	state_for c1 4001
	local before
	before="$(host_snapshot)"
	hook_run prestart
	assert_success
	assert_equal "$(host_snapshot)" "$before"
	[[ "$stderr" == *"/proc/4001/cgroup: cgroup path '/docker/../c1' is not a valid cgroup path"* ]] || fail "stderr: $stderr"
	[[ "$stderr" != *"linux.cgroupsPath"* ]] || fail "stderr blames linux.cgroupsPath: $stderr"
	run log_field '.errors | join(" ")'
	assert_output --partial "/proc/4001/cgroup: cgroup path '/docker/../c1' is not a valid cgroup path"
	refute_output --partial "linux.cgroupsPath"
}
