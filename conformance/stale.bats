#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Every run prunes stale records (container gone without poststop)
# and gives back what they held.

load helpers

setup() {
	make_sysroot v2
	policy 50-all.json '{"memory": {"min": "64M"}}'
}

@test "a container gone without poststop is pruned by the next run, and its protection given back" {
	start_container dead 4001 /memguard/dead
	assert_equal "$(cg_value /memguard memory.min)" 67108864
	# the runtime died: cgroup removed, process gone, no poststop
	rm -rf "${CGROOT:?}/memguard/dead" "$SYSROOT/proc/4001"
	start_container alive 4002 /memguard/alive
	assert_equal "$(cg_value /memguard memory.min)" 67108864
	assert_file_not_exists "$STATE_DIR/containers/dead.json"
	run log_field '.skipped | join(" ")'
	assert_output --partial "stale record of container dead"
}

@test "a record whose pid was reused by another process (other start time) is stale once its cgroup is gone" {
	start_container old 4001 /memguard/old
	rm -rf "${CGROOT:?}/memguard/old"
	mk_proc 4001 /elsewhere 999999   # same pid, new process
	start_container new 4002 /memguard/new
	assert_file_not_exists "$STATE_DIR/containers/old.json"
	assert_equal "$(cg_value /memguard memory.min)" 67108864
}

@test "a record whose cgroup is gone but whose process lives on is kept" {
	start_container c1 4001 /memguard/c1
	rm -rf "${CGROOT:?}/memguard/c1"
	start_container c2 4002 /memguard/c2
	assert_file_exists "$STATE_DIR/containers/c1.json"
}

@test "poststop of another container prunes too" {
	start_container dead 4001 /memguard/dead
	start_container c2 4002 /memguard/c2
	rm -rf "${CGROOT:?}/memguard/dead" "$SYSROOT/proc/4001"
	stop_container c2 /memguard/c2 4002
	assert_file_not_exists "$STATE_DIR/containers/dead.json"
	assert_equal "$(cg_value /memguard memory.min)" 0
}

@test "a corrupt record is moved aside and reported; what it held is given back" {
	start_container c1 4001 /memguard/c1
	echo '{"id": "c1", "cgro' >"$STATE_DIR/containers/c1.json"
	start_container c2 4002 /memguard/c2
	assert_file_exists "$STATE_DIR/containers/c1.json.corrupt"
	run log_field '.errors | join(" ")'
	assert_output --partial "record containers/c1.json is corrupt"
	assert_equal "$(cg_value /memguard memory.min)" 67108864
}
