#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# cgroup v1 or hybrid hosts: protection is skipped with one clear line; the
# record is still kept so poststop can report and the build guard works.

load helpers

@test "hybrid (memory on v1, cgroup2 at /sys/fs/cgroup/unified with hugetlb only) skips protection with one clear line" {
	make_sysroot hybrid
	policy 50-all.json '{"memory": {"min": "64M"}}'
	mkdir -p "$SYSROOT/sys/fs/cgroup/memory/memguard-test/c1"
	MK_PROC_V1=1 mk_proc 4001 /memguard-test/c1
	make_bundle c1 /memguard-test/c1
	state_for c1 4001
	hook_run prestart
	assert_success
	run log_field '.cgroup_mode'
	assert_output hybrid
	run log_field '.skipped | join(" ")'
	assert_output --partial "cgroup hybrid: the memory controller is not on cgroup v2; memory protection skipped"
	run log_field '.actions | length'
	assert_output 0
	run log_field '.cgroup'
	assert_output /memguard-test/c1
	assert_file_exists "$STATE_DIR/containers/c1.json"
	rm -rf "$SYSROOT/sys/fs/cgroup/memory/memguard-test/c1" "$SYSROOT/proc/4001"
	state_for c1 none
	hook_run poststop
	assert_success
	assert_file_not_exists "$STATE_DIR/containers/c1.json"
}

@test "pure cgroup v1 host: skip line names v1" {
	make_sysroot v1
	policy 50-all.json '{"memory": {"min": "64M"}}'
	mkdir -p "$SYSROOT/sys/fs/cgroup/memory/x/c1"
	MK_PROC_V1=1 mk_proc 4001 /x/c1
	make_bundle c1 /x/c1
	state_for c1 4001
	hook_run prestart
	assert_success
	run log_field '.cgroup_mode'
	assert_output v1
	run log_field '.skipped[0]'
	assert_output --partial "cgroup v1"
}
